//! labctl: run a homelab the GitOps way.
//!
//! `main` parses the command line, runs one subcommand (each in its own
//! module under `commands/`), prints an error chain once and maps it to the
//! exit status: 0 success, 1 failure (including an invalid lab.yaml),
//! 2 wrong usage (from clap); `diff` has kubectl diff's own (0, 1, 2).

use labctl::{commands, lab, print_error};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "labctl", version, about = "Run a homelab the GitOps way")]
pub struct Cli {
    /// The lab manifest; its folder is the lab's root.
    #[arg(
        short = 'f',
        long = "lab",
        global = true,
        value_name = "PATH",
        default_value = "lab.yaml"
    )]
    pub lab: std::path::PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a starter lab.yaml, secrets/ and an age identity
    Init(commands::init::Args),
    /// Check lab.yaml and list every problem
    Validate(commands::validate::Args),
    /// Print the JSON Schema of lab.yaml
    Schema(commands::schema::Args),
    /// Manage the age-encrypted secrets in secrets/
    #[command(subcommand)]
    Secrets(commands::secrets::Command),
    /// Make or renew the registry's CA and TLS certificate
    Certs(commands::certs::Args),
    /// Print an htpasswd line (bcrypt) for a registry user
    Htpasswd(commands::htpasswd::Args),
    /// Write the lab's Kubernetes objects, SealedSecrets and Argo CD apps into apps/
    Render(commands::render::Args),
    /// Show how the cluster (or apps/) differs from what render produces
    Diff(commands::diff::Args),
    /// The sealed-secrets controller's key pair and certificate
    #[command(subcommand)]
    Sealing(commands::sealing::Command),
    /// Check the registry end to end and explain what fails
    #[command(subcommand)]
    Verify(commands::verify::Command),
    /// Run the lab's registry on this machine (TLS, htpasswd as rendered), verify it, serve
    Up(commands::up::Args),
    /// Stop the registry `labctl up --detach` left running
    Down(commands::down::Args),
    /// Build labreg's image offline (FROM scratch, OCI layout) and push it to a registry
    #[command(subcommand)]
    Image(commands::image::Command),
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let lab = lab::LabPath::new(&cli.lab);
    match cli.command {
        Command::Init(args) => commands::init::run(args, &cli.lab),
        Command::Validate(args) => commands::validate::run(args, &lab),
        Command::Schema(args) => commands::schema::run(args),
        Command::Secrets(cmd) => commands::secrets::run(cmd, &lab),
        Command::Certs(args) => commands::certs::run(args, &lab),
        Command::Htpasswd(args) => commands::htpasswd::run(args),
        Command::Render(args) => commands::render::run(args, &lab),
        Command::Diff(args) => commands::diff::run(args, &lab),
        Command::Sealing(cmd) => commands::sealing::run(cmd, &lab),
        Command::Verify(cmd) => commands::verify::run(cmd, &lab),
        Command::Up(args) => commands::up::run(args, &lab),
        Command::Down(args) => commands::down::run(args, &lab),
        Command::Image(cmd) => commands::image::run(cmd, &lab),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`labctl secrets list | head`) is not an error.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            print_error(&err);
            ExitCode::FAILURE
        }
    }
}
