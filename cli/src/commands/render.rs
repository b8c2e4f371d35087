//! `labctl render`: writes the lab's Kubernetes objects, SealedSecrets and
//! Argo CD Applications into `git.path` (default apps/). `--check` writes
//! nothing and exits 1 when apps/ is not what render would write.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

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
    let ids = store.identities()?;
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
        lab: parsed,
        apps_rel,
        apps,
        plan,
        store,
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
    let argocd = parsed.git.is_some();
    if !argocd {
        let lab_file = lab_arg(lab);
        let origin = crate::git::origin_url(&lab.root)
            .map(|u| format!(" (this folder's origin is {u})"))
            .unwrap_or_default();
        eprintln!(
            "note: {apps_rel}/ holds no argocd/ apps and no root.yaml because lab.yaml has no git: section: Argo CD has nothing to sync\n  help: add to lab.yaml the repository Argo CD pulls{origin}:\n    git:\n      repoURL: https://github.com/me/homelab.git\n      revision: main\n      path: {apps_rel}\n  then run `labctl{lab_file} render` again"
        );
    }
    if !d.is_empty() {
        eprintln!("{}", next_step(&lab.root, &apps_rel, argocd));
    }
    Ok(ExitCode::SUCCESS)
}

/// ` -f FILE` when the lab is not ./lab.yaml, for commands printed.
fn lab_arg(lab: &LabPath) -> String {
    if lab.file == std::path::Path::new("lab.yaml") {
        String::new()
    } else {
        format!(" -f {}", lab.file.display())
    }
}

/// What to do with what render wrote, in the state the folder is in.
fn next_step(root: &std::path::Path, apps_rel: &str, argocd: bool) -> String {
    if crate::git::toplevel(root).is_none() {
        return "next: keep the lab in git: `git init -b main && git add -A && git commit -m \"my lab\"`, then push it where Argo CD can pull it".into();
    }
    let review = if crate::git::has_commit(root) {
        format!("review with `git status {apps_rel}` and `git diff {apps_rel}`, then ")
    } else {
        String::new()
    };
    let sync = if argocd {
        format!(
            "; Argo CD syncs it once it knows the root app (the first time: `kubectl apply -f {apps_rel}/root.yaml`)"
        )
    } else {
        String::new()
    };
    let push = crate::git::push_command(root);
    format!("next: {review}`git add -A && git commit -m render && {push}`{sync}")
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
