//! `labctl image build` and `labctl image push`: labreg's container image
//! without the internet (see `crate::image`), pushed into any registry (the
//! lab's own by default, with its CA and credentials, like `verify push`).

mod push;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::image::{self, Labels, Spec};
use crate::lab::LabPath;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Build labreg's image FROM scratch from static binaries, as an OCI image layout
    Build(BuildArgs),
    /// Push an image layout into a registry (default: the lab's)
    Push(push::PushArgs),
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// A static binary for /usr/local/bin; repeat for more. One must be
    /// named labreg (the entrypoint). Default: the labreg beside this
    /// labctl, and this labctl (for the node-trust DaemonSet).
    #[arg(long = "binary", value_name = "PATH")]
    pub binaries: Vec<PathBuf>,
    /// The image layout folder to write (new, empty, or a layout to replace).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// The CA bundle copied to /etc/ssl/certs/ca-certificates.crt.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/ssl/certs/ca-certificates.crt"
    )]
    pub ca_bundle: PathBuf,
    /// The org.opencontainers.image.version label and the layout's tag.
    /// Default: what `labreg --version` says.
    #[arg(long, value_name = "VERSION")]
    pub image_version: Option<String>,
    /// The org.opencontainers.image.revision label. Default: the commit of
    /// the git checkout labctl runs in, if any.
    #[arg(long, value_name = "COMMIT")]
    pub revision: Option<String>,
}

pub fn run(cmd: Command, lab: &LabPath) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Build(args) => build(args),
        Command::Push(args) => push::run(args, lab),
    }
}

fn default_binaries() -> anyhow::Result<Vec<PathBuf>> {
    let me = std::env::current_exe().context("cannot find labctl's own binary")?;
    let labreg = crate::atomic::parent(&me).join("labreg");
    anyhow::ensure!(
        labreg.is_file(),
        "no labreg beside {}\n  help: pass --binary PATH/labreg (a static build)",
        me.display()
    );
    Ok(vec![labreg, me])
}

/// The version `labreg --version` prints (`labreg 0.1.0` → `0.1.0`).
fn labreg_version(binaries: &[PathBuf]) -> anyhow::Result<String> {
    let labreg = binaries
        .iter()
        .find(|b| image::rootfs::file_name(b) == "labreg")
        .context("no binary named labreg")?;
    let help = "help: pass --image-version VERSION";
    let out = std::process::Command::new(labreg)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version\n  {help}", labreg.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().nth(1) {
        Some(v) if out.status.success() => Ok(v.to_string()),
        _ => anyhow::bail!(
            "{} --version printed {:?}, not `labreg VERSION`\n  {help}",
            labreg.display(),
            text.trim()
        ),
    }
}

fn git_revision() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !rev.is_empty()).then_some(rev)
}

fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let binaries = if args.binaries.is_empty() {
        default_binaries()?
    } else {
        args.binaries
    };
    for b in &binaries {
        anyhow::ensure!(b.is_file(), "--binary {}: no such file", b.display());
    }
    // Checked before running one of them for its version.
    for b in &binaries {
        image::elf::static_arch(b)?;
    }
    let version = match args.image_version {
        Some(v) => v,
        None => labreg_version(&binaries)?,
    };
    let spec = Spec {
        binaries,
        ca_bundle: args.ca_bundle,
        labels: Labels {
            version: version.clone(),
            revision: args.revision.or_else(git_revision),
        },
        epoch: image::epoch_from_env()?,
        tag: version.clone(),
    };
    let built = image::build(&spec, &args.output)?;
    let out = args.output.display();
    println!("built labreg {version} ({}) in {out}", built.arch);
    println!("  manifest  {}", built.digest);
    println!(
        "  layer     {:.1} MiB gzip ({:.1} MiB tar): {}",
        built.layer_bytes as f64 / 1048576.0,
        built.tar_bytes as f64 / 1048576.0,
        spec.binaries
            .iter()
            .map(|b| format!("/usr/local/bin/{}", image::rootfs::file_name(b)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match &spec.labels.revision {
        Some(r) => println!("  revision  {r}"),
        None => println!("  revision  none (not in a git checkout; --revision COMMIT sets it)"),
    }
    println!(
        "push it:    labctl image push --from {out}   (the lab's registry, as labctl/labreg:{version})"
    );
    Ok(ExitCode::SUCCESS)
}
