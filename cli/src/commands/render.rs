//! `labctl render`: writes the lab's Kubernetes objects, SealedSecrets and
//! Argo CD Applications into `git.path` (default apps/). `--check` writes
//! nothing and exits 1 when apps/ is not what render would write.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::identity;
use crate::lab::LabPath;
use crate::render::{self, Inputs, output};
use crate::sealing;
use crate::store::Store;

#[derive(clap::Args)]
pub struct Args {
    /// Write nothing; exit 1 and list the differences when apps/ is not current.
    #[arg(long)]
    pub check: bool,
    /// The sealed-secrets controller's certificate (default certs/sealing.crt).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
}

/// What render would write, computed in memory; nothing is written.
pub struct Rendered {
    pub lab: crate::manifest::Lab,
    /// `git.path`, relative to the lab's root.
    pub apps_rel: String,
    pub apps: PathBuf,
    pub plan: render::Plan,
    pub store: Store,
}

/// Renders the lab in memory with the sealing certificate `cert` (default
/// certs/sealing.crt).
pub fn rendered(lab: &LabPath, cert: Option<&std::path::Path>) -> anyhow::Result<Rendered> {
    let parsed = lab.load()?;
    let store = Store::new(&lab.root, &parsed.secrets.recipients)?;
    let ids = identity::find()?;
    let cert_path = cert.map_or_else(|| lab.root.join(sealing::CERT_FILE), |c| c.to_path_buf());
    let cert = sealing::load(&cert_path)?;
    let apps_rel = render::apps_dir(&parsed);
    let apps = lab.root.join(&apps_rel);
    let plan = render::plan(&Inputs {
        lab: &parsed,
        root: &lab.root,
        apps: &apps,
        store: &store,
        ids: &ids,
        cert: &cert,
    })?;
    Ok(Rendered {
        lab: parsed,
        apps_rel,
        apps,
        plan,
        store,
    })
}

pub fn run(args: Args, lab: &LabPath) -> anyhow::Result<ExitCode> {
    let Rendered {
        apps_rel,
        apps,
        plan,
        store,
        ..
    } = rendered(lab, args.cert.as_deref())?;

    if args.check {
        let d = output::diff(&apps, &plan.files)?;
        if d.is_empty() && plan.store_writes.is_empty() {
            eprintln!("{apps_rel}/ is current ({} files)", d.unchanged);
            return Ok(ExitCode::SUCCESS);
        }
        for (what, list) in [
            ("added", &d.added),
            ("changed", &d.changed),
            ("removed", &d.removed),
        ] {
            for f in list {
                println!("{what}: {apps_rel}/{f}");
            }
        }
        for w in &plan.store_writes {
            println!("to store: secrets/{}.age ({})", w.name, w.why);
        }
        eprintln!("{apps_rel}/ is not current\n  help: run `labctl render` and commit the result");
        return Ok(ExitCode::FAILURE);
    }

    keep(&store, &plan.store_writes)?;
    let d = output::write(&apps, &plan.files)?;
    eprintln!(
        "rendered {} files into {}: {} added, {} changed, {} removed",
        plan.files.len(),
        apps.display(),
        d.added.len(),
        d.changed.len(),
        d.removed.len()
    );
    if !d.is_empty() {
        eprintln!(
            "next: review with `git diff {apps_rel}`, then commit and push; Argo CD syncs it"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Stores the values render generated (age-encrypted in secrets/).
pub fn keep(store: &Store, writes: &[render::StoreWrite]) -> anyhow::Result<()> {
    for w in writes {
        let path = store
            .set(&w.name, &w.value)
            .with_context(|| format!("cannot keep secret {}", w.name))?;
        eprintln!("stored {} ({})", path.display(), w.why);
    }
    Ok(())
}
