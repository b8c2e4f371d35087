//! The steps of `labctl up`: prepare (render, CA, runtime files), start
//! labreg, verify, report, serve.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use super::process::{self, State};
use super::runtime::{self, LocalFiles, RunDir};
use super::{Args, Report, state_dir, state_file};
use crate::commands::verify::Output;
use crate::commands::verify::session::{self, Options};
use crate::commands::verify::target::{self, Target};
use crate::commands::{certs, render as render_cmd};
use crate::identity;
use crate::lab::LabPath;
use crate::pki;
use crate::render::{self, templates::Templates};
use crate::store::Store;

/// Names the local certificate is valid for.
const LOCAL_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Everything ready before labreg starts.
struct Prepared {
    lab_name: String,
    rundir: RunDir,
    config: PathBuf,
    report: Report,
    creds: Option<target::Credentials>,
    creds_origin: String,
}

pub fn run(args: Args, given: &LabPath) -> anyhow::Result<ExitCode> {
    let file = std::path::absolute(&given.file).context("cannot find the lab's path")?;
    let lab = LabPath::new(&file);
    let state = state_file(&lab);
    if let Some(old) = process::read_state(&state) {
        if process::is_labreg(old.pid) {
            anyhow::bail!(
                "labreg of this lab is already running (pid {}, {}; log {})\n  help: use it as it is, or stop it with `labctl down` (or Ctrl-C where `labctl up` runs) and run `labctl up` again",
                old.pid,
                old.url,
                old.log.display()
            );
        }
        // A run that did not clean up (killed, or labreg died).
        runtime::remove(&old.runtime_dir)?;
        let _ = std::fs::remove_file(&state);
    }
    process::check_port(args.port, &lab.root, args.detach)?;
    let bin = process::binary()?;
    let p = prepare(&args, &lab, given)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let rundir = p.rundir.path.clone();
    let result = rt.block_on(serve(&args, &lab, &bin, p));
    if !matches!(&result, Ok(Served::Detached)) {
        runtime::remove(&rundir)?;
        let _ = std::fs::remove_file(&state);
        super::record::remove(&lab.file);
    }
    Ok(match result? {
        Served::Detached | Served::Stopped => ExitCode::SUCCESS,
        Served::Interrupted => ExitCode::from(130),
    })
}

/// Renders, makes the local certificate, writes the runtime files.
/// `given` is the lab as the user named it, for the commands printed.
fn prepare(args: &Args, lab: &LabPath, given: &LabPath) -> anyhow::Result<Prepared> {
    let parsed = lab.load()?;
    let name = parsed.metadata.name.clone();
    let (ids, note) = identity::find_or_demo(&lab.root, &parsed.secrets.recipients)?;
    if let Some(n) = &note {
        eprintln!("{n}");
    }
    let store = Store::new(&lab.root, &parsed.secrets.recipients)?;
    let t = Templates::load(&lab.root)?;
    let files = render::registry_files(&t, &parsed, &lab.root, &store, &ids)?;
    render_cmd::keep(&store, &files.store_writes)?;
    let ca = certs::lab_ca(&name, &lab.root, &store, false, Some(&ids))?;
    let sans: Vec<String> = LOCAL_SANS.iter().map(|s| s.to_string()).collect();
    let leaf = pki::issue_server(&ca.cert_pem, &ca.key_pem, &sans, 30)?;

    let addr = format!("127.0.0.1:{}", args.port);
    let dot_lab = state_dir(lab);
    let storage = dot_lab.join("registry");
    let log = dot_lab.join("log/labreg.log");
    let cert_dir = dot_lab.join("certs.d").join(&addr);
    for d in [&storage, &cert_dir, &dot_lab.join("log")] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let ca_file = lab.root.join("certs/ca.crt");
    crate::atomic::write(&cert_dir.join("ca.crt"), ca.cert_pem.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", cert_dir.display()))?;

    let rundir = RunDir::create(RunDir::path_for(&name, &lab.root)?)?;
    let chain = format!("{}\n{}", leaf.cert_pem.trim_end(), ca.cert_pem);
    let tls_crt = rundir.write("tls.crt", chain.as_bytes())?;
    let tls_key = rundir.write("tls.key", leaf.key_pem.as_bytes())?;
    let htpasswd = rundir.write("htpasswd", files.vals.htpasswd.as_bytes())?;
    for (key, password) in &files.vals.mirror_passwords {
        rundir.write(
            &format!("{}{key}", runtime::MIRROR_FILE),
            password.as_bytes(),
        )?;
    }
    for (file, pem) in &files.vals.mirror_cas {
        rundir.write(file, pem.as_bytes())?;
    }
    let local = LocalFiles {
        rundir: &rundir.path,
        addr: &addr,
        storage: &storage,
        tls_crt: &tls_crt,
        tls_key: &tls_key,
        htpasswd: &htpasswd,
    };
    let (config, config_changes) = runtime::local_config(&files.config, &local)?;
    let config = rundir.write("config.yml", config.as_bytes())?;

    let reg = &parsed.registry;
    let (creds, creds_origin) = if reg.users.is_empty() {
        (None, "lab.yaml has no registry.users".to_string())
    } else {
        let (c, o) = target::lab_user(reg, &store, &ids)?;
        (Some(c), o)
    };
    let user = creds.as_ref().map(|c| c.user.clone());
    let password_command = user.as_ref().map(|u| {
        let secret = &reg.users[u].password.name;
        let env = match &note {
            Some(_) => format!(
                "LABCTL_AGE_KEY_FILE={} ",
                given
                    .root
                    .join(identity::DEMO_FILE)
                    .strip_prefix(".")
                    .unwrap_or(&given.root.join(identity::DEMO_FILE))
                    .display()
            ),
            None => String::new(),
        };
        let f = match given.file.to_str() {
            Some("lab.yaml") => String::new(),
            _ => format!("-f {} ", given.file.display()),
        };
        format!("{env}{} {f}secrets get {secret}", super::me())
    });
    let login = user.as_ref().zip(password_command.as_ref()).map(|(u, p)| {
        format!(
            "{p} | skopeo login --cert-dir {} -u {u} --password-stdin {addr}",
            cert_dir.display()
        )
    });
    let report = Report {
        lab: name.clone(),
        url: format!("https://{addr}"),
        address: addr,
        ca: ca_file,
        cert_dir,
        user,
        password_command,
        login,
        storage,
        log,
        runtime_dir: rundir.path.clone(),
        pid: 0,
        detached: args.detach,
        config_changes,
        verify: None,
    };
    Ok(Prepared {
        lab_name: name,
        rundir,
        config,
        report,
        creds,
        creds_origin,
    })
}

enum Served {
    Detached,
    /// By Ctrl-C or SIGTERM while serving, or by `labctl down`.
    Stopped,
    /// Before labreg was verified.
    Interrupted,
}

async fn serve(args: &Args, lab: &LabPath, bin: &Path, p: Prepared) -> anyhow::Result<Served> {
    let Prepared {
        lab_name,
        config,
        mut report,
        creds,
        creds_origin,
        ..
    } = p;
    // From here on Ctrl-C and SIGTERM are ours: labreg is always stopped.
    let mut sigint = signal(SignalKind::interrupt()).context("cannot catch Ctrl-C")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
    let mut child = process::spawn(bin, &config, &report.log)?;
    report.pid = child.id().unwrap_or_default();
    let json = args.output == Output::Json;
    if !json {
        eprintln!(
            "==> labreg (pid {}) starting on {} for lab {}",
            report.pid, report.url, lab_name
        );
    }
    let ready = tokio::select! {
        r = process::wait_ready(&mut child, args.port, &report.log) => Some(r),
        _ = sigint.recv() => None,
        _ = sigterm.recv() => None,
    };
    match ready {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            let _ = process::stop_child(&mut child).await;
            return Err(e);
        }
        None => {
            process::stop_child(&mut child).await?;
            return Ok(Served::Interrupted);
        }
    }
    process::write_state(
        &state_file(lab),
        &State {
            pid: report.pid,
            labctl_pid: (!args.detach).then(std::process::id),
            url: report.url.clone(),
            runtime_dir: report.runtime_dir.clone(),
            log: report.log.clone(),
        },
    )?;
    super::record::write(&super::record::Record {
        lab: lab_name.clone(),
        file: lab.file.clone(),
        url: report.url.clone(),
        pid: report.pid,
    });

    let t = Target {
        base: reqwest::Url::parse(&format!("{}/", report.url)).expect("valid URL"),
        host: "127.0.0.1".into(),
        port: args.port,
        tls: true,
        creds,
        ca_file: Some(report.ca.clone()),
        trust_commands: None,
        creds_origin,
    };
    let opts = Options {
        size: 4 << 20,
        keep: false,
        json,
        print_json: false,
    };
    let outcome = tokio::select! {
        o = session::run(t, opts) => Some(o?),
        _ = sigterm.recv() => None,
    };
    let Some(outcome) = outcome.filter(|o| !o.interrupted) else {
        process::stop_child(&mut child).await?;
        return Ok(Served::Interrupted);
    };
    let passed = outcome.report.passed;
    report.verify = Some(outcome.report);
    if !passed {
        process::stop_child(&mut child).await?;
        anyhow::bail!(
            "verify push failed against the local labreg (see the steps above)\n  help: labreg's log is {}",
            report.log.display()
        );
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializable")
        );
    } else {
        report.print_text();
    }
    if args.detach {
        return Ok(Served::Detached);
    }
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
        status = child.wait() => {
            let status = status.context("cannot wait for labreg")?;
            anyhow::ensure!(
                status.success(),
                "labreg stopped on its own ({status}):\n{}\n  help: see its log, {}",
                process::log_tail(&report.log),
                report.log.display()
            );
            eprintln!("labreg stopped (labctl down)");
            return Ok(Served::Stopped);
        }
    }
    eprintln!("stopping labreg (pid {})", report.pid);
    process::stop_child(&mut child).await?;
    eprintln!("stopped; storage kept in {}", report.storage.display());
    Ok(Served::Stopped)
}
