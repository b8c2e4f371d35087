//! The steps in order: reach the registry, log in, push the generated
//! image, find it in the catalog and tag list, pull it back, delete it.
//! Each step is timed and reported; the first failure stops the run. Ctrl-C
//! cancels the open upload session (and the pushed image) before exiting.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;

use super::client::Client;
use super::diagnose::Diagnosis;
use super::image::{self, Layer};
use super::report::{Report, Reporter, Status, Step};
use super::target::{REPOSITORY, Target};
use super::tls::Trust;
use super::upload::{self, Open};
use super::{access, listing, pull, size};

/// The one tag every run pushes: where deletes are disabled, the next run
/// replaces the test image instead of adding another.
pub const TAG: &str = "latest";

pub struct Options {
    pub size: u64,
    pub keep: bool,
    /// No text while running (JSON, or a caller that prints the report).
    pub json: bool,
    /// Print the report as JSON at the end (else the caller does).
    pub print_json: bool,
}

/// How a run ended.
pub struct Outcome {
    pub report: super::report::Report,
    pub interrupted: bool,
}

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        match (self.report.passed, self.interrupted) {
            (_, true) => ExitCode::from(130),
            (true, _) => ExitCode::SUCCESS,
            (false, _) => ExitCode::FAILURE,
        }
    }
}

/// How a step that did not fail ended.
pub enum Note {
    Ok(String),
    Warn(String, Diagnosis),
    Skip(String),
}

/// What an interrupted run must clean up.
#[derive(Default)]
struct Pushed {
    manifest: Option<String>,
}

struct Run<'a> {
    c: Client,
    t: &'a Target,
    rep: Reporter,
    open: Open,
    pushed: Pushed,
    opts: &'a Options,
    tag: String,
}

impl Run<'_> {
    /// Records one step that began at `started`; `None` when it failed.
    fn record<T>(
        &mut self,
        name: &'static str,
        started: Instant,
        r: Result<(T, Note), Diagnosis>,
    ) -> Option<T> {
        let millis = started.elapsed().as_millis().try_into().unwrap_or(u64::MAX);
        let (value, status, detail, diagnosis) = match r {
            Ok((v, Note::Ok(d))) => (Some(v), Status::Ok, d, None),
            Ok((v, Note::Warn(d, w))) => (Some(v), Status::Warn, d, Some(w)),
            Ok((v, Note::Skip(d))) => (Some(v), Status::Skip, d, None),
            Err(diag) => (None, Status::Fail, diag.kind.to_string(), Some(diag)),
        };
        self.rep.push(Step {
            step: name,
            status,
            millis,
            detail,
            diagnosis,
        });
        value
    }

    fn bar(&self, len: u64, msg: &'static str) -> Option<ProgressBar> {
        if self.opts.json || !std::io::stderr().is_terminal() {
            return None;
        }
        let style = ProgressStyle::with_template(
            "  {msg:<20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .ok()?
        .progress_chars("=> ");
        Some(ProgressBar::new(len).with_style(style).with_message(msg))
    }
}

pub async fn run(t: Target, opts: Options) -> anyhow::Result<Outcome> {
    let trust = Trust::new(t.ca_file.as_deref())?;
    let c = Client::new(&t, trust)?;
    let tag = TAG.to_string();
    let report = Report {
        registry: c.base.as_str().trim_end_matches('/').to_string(),
        repository: REPOSITORY.into(),
        tag: tag.clone(),
        layer_bytes: opts.size,
        steps: Vec::new(),
        passed: false,
        warnings: 0,
        interrupted: false,
        millis: 0,
    };
    let rep = Reporter::new(report, opts.json, opts.print_json);
    let mut r = Run {
        c,
        t: &t,
        rep,
        open: Open::default(),
        pushed: Pushed::default(),
        opts: &opts,
        tag,
    };
    let started = Instant::now();
    let interrupted = tokio::select! {
        _ = steps(&mut r) => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    if interrupted {
        r.rep.report.interrupted = true;
        if let Some(done) = upload::cancel(&r.c, &r.open).await {
            eprintln!("interrupted: {done}");
        }
        if let (Some(d), false) = (r.pushed.manifest.take(), opts.keep) {
            let _ = r.c.oci.delete_manifest(REPOSITORY, &d).await;
            eprintln!("interrupted: deleted the pushed manifest {d}");
        }
    }
    let report = r.rep.finish(started.elapsed());
    Ok(Outcome {
        report,
        interrupted,
    })
}

/// Every step; returns at the first failure.
async fn steps(r: &mut Run<'_>) -> Option<()> {
    let t = r.t;
    let now = Instant::now();
    let addrs = r.record("resolve", now, access::resolve(t).await)?;
    let now = Instant::now();
    let (stream, addr) = r.record("connect", now, access::connect(t, &addrs).await)?;
    let now = Instant::now();
    let res = if t.tls {
        access::tls(&r.c, stream, addr).await
    } else {
        drop(stream);
        let note = "plain HTTP (--insecure): passwords and images cross the network unencrypted";
        Ok(((), Note::Skip(note.into())))
    };
    r.record("tls", now, res)?;
    let now = Instant::now();
    let res = access::challenge(&r.c, addr, t.tls).await;
    let ch = r.record("auth challenge", now, res)?;
    let now = Instant::now();
    let res = if ch.needs_login {
        access::login(&mut r.c, t.creds.as_ref(), &t.creds_origin).await
    } else {
        let note = "the registry asks for no credentials";
        Ok(((), Note::Skip(note.into())))
    };
    r.record("login", now, res)?;
    let pushed = push(r).await?;
    check_lists(r).await?;
    pull_back(r, &pushed).await?;
    delete(r, &pushed).await;
    Some(())
}

struct Image {
    layer: Layer,
    config: Vec<u8>,
    manifest: Vec<u8>,
    digest: String,
}

async fn push(r: &mut Run<'_>) -> Option<Image> {
    let layer = Layer::new(r.opts.size);
    let (config, manifest) = image::config_and_manifest(&layer, &r.tag);
    let bar = r.bar(layer.len, "push layer");
    let now = Instant::now();
    let res = upload::push_blob(
        &r.c,
        &r.open,
        REPOSITORY,
        "layer",
        layer.chunks(),
        layer.len,
        &layer.digest,
        bar.clone(),
    )
    .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    r.record("push layer", now, res.map(|d| ((), Note::Ok(d))))?;
    let now = Instant::now();
    let chunks = std::iter::once(bytes::Bytes::from(config.clone()));
    let cd = image::digest(&config);
    let res = upload::push_blob(
        &r.c,
        &r.open,
        REPOSITORY,
        "config",
        chunks,
        config.len() as u64,
        &cd,
        None,
    )
    .await;
    r.record("push config", now, res.map(|d| ((), Note::Ok(d))))?;
    let now = Instant::now();
    let digest = image::digest(&manifest);
    let res = put_manifest(&r.c, &r.tag, &manifest, &digest).await;
    r.record("push manifest", now, res)?;
    r.pushed.manifest = Some(digest.clone());
    Some(Image {
        layer,
        config,
        manifest,
        digest,
    })
}

async fn put_manifest(
    c: &Client,
    tag: &str,
    manifest: &[u8],
    digest: &str,
) -> Result<((), Note), Diagnosis> {
    let put = upload::put_manifest(c, REPOSITORY, tag, image::MANIFEST_TYPE, manifest).await?;
    let stored = put.stored.as_str();
    if stored != digest {
        return Err(pull::mismatch(
            "the manifest the registry stored",
            stored,
            digest,
            0,
            0,
        ));
    }
    let at = put.location;
    let note = if at { "" } else { " (no Location header)" };
    Ok(((), Note::Ok(format!("{REPOSITORY}:{tag} = {digest}{note}"))))
}

async fn check_lists(r: &mut Run<'_>) -> Option<()> {
    let now = Instant::now();
    let res = match listing::catalog(&r.c).await {
        Ok(None) => Ok((
            (),
            Note::Skip("the registry does not offer its catalog".into()),
        )),
        Ok(Some(repos)) if repos.iter().any(|x| x == REPOSITORY) => Ok((
            (),
            Note::Ok(format!("lists {REPOSITORY} ({} in all)", repos.len())),
        )),
        Ok(Some(_)) => Err(pull::missing_after_push(&format!(
            "the repository {REPOSITORY} in the catalog"
        ))),
        Err(d) => Err(d),
    };
    r.record("catalog", now, res)?;
    let now = Instant::now();
    let tag = r.tag.clone();
    let res = match listing::tags(&r.c).await {
        Ok(tags) if tags.contains(&tag) => Ok(((), Note::Ok(format!("lists {tag}")))),
        Ok(_) => Err(pull::missing_after_push(&format!(
            "the tag {tag} in the tag list"
        ))),
        Err(d) => Err(d),
    };
    r.record("tags", now, res)
}

async fn pull_back(r: &mut Run<'_>, img: &Image) -> Option<()> {
    let now = Instant::now();
    let res = async {
        pull::manifest(&r.c, &r.tag, &img.manifest).await?;
        pull::manifest(&r.c, &img.digest, &img.manifest).await?;
        Ok(((), Note::Ok("by tag and by digest, digests match".into())))
    }
    .await;
    r.record("pull manifest", now, res)?;
    let bar = r.bar(img.layer.len, "pull layer");
    let started = Instant::now();
    let res = async {
        let cd = image::digest(&img.config);
        let config = pull::blob(&r.c, &cd, img.config.len() as u64, None).await?;
        let layer = pull::blob(&r.c, &img.layer.digest, img.layer.len, bar.clone()).await?;
        let secs = started.elapsed().as_secs_f64();
        let bytes = config.bytes + layer.bytes;
        let via = match layer.redirect.or(config.redirect) {
            Some(o) => format!("; redirected to {o}"),
            None => String::new(),
        };
        let d = format!(
            "2 blobs, digests match, {} at {}{via}",
            size::human(bytes),
            size::rate(bytes, secs)
        );
        Ok(((), Note::Ok(d)))
    }
    .await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    r.record("pull blobs", started, res)
}

async fn delete(r: &mut Run<'_>, img: &Image) {
    if r.opts.keep {
        let addr = r.c.base.host_str().unwrap_or("").to_string();
        let port = r.c.base.port_or_known_default().unwrap_or(443);
        let note = Note::Skip(format!(
            "kept (--keep): {addr}:{port}/{REPOSITORY}:{}",
            r.tag
        ));
        r.record("delete", Instant::now(), Ok(((), note)));
        return;
    }
    let c = &r.c;
    let now = Instant::now();
    let res = async {
        let deleted = c.oci.delete_manifest(REPOSITORY, &img.digest).await;
        match deleted.as_ref().map_err(|e| (e, e.status())) {
            Ok(()) => {}
            Err((e, None)) => return Err(c.failed("the manifest DELETE", e)),
            Err((_, Some(StatusCode::METHOD_NOT_ALLOWED))) => {
                let d = Diagnosis::new(
                    "delete-disabled",
                    format!("the registry has deletes disabled, so the test image stays as {REPOSITORY}:{}; every run replaces that one tag, so test images do not pile up (the layers of earlier runs are unreferenced: `labreg garbage-collect --delete-untagged` frees them)", r.tag),
                    "nothing to fix unless you want to delete images: then set storage.delete.enabled: true (lab.yaml registry.delete: true)",
                );
                return Ok(((), Note::Warn(format!("405, deletes are disabled: {REPOSITORY}:{} stays, replaced by the next run", r.tag), d)));
            }
            Err((e, Some(_))) => {
                let d = c.failed("the manifest DELETE", e);
                return Ok(((), Note::Warn("the image could not be deleted".into(), d)));
            }
        }
        let mut blobs = 0;
        for d in [image::digest(&img.config), img.layer.digest.clone()] {
            if c.oci.delete_blob(REPOSITORY, &d).await.is_ok() {
                blobs += 1;
            }
        }
        Ok(((), Note::Ok(format!("manifest and {blobs} of 2 blobs deleted"))))
    }
    .await;
    if res.is_ok() {
        r.pushed.manifest = None;
    }
    r.record("delete", now, res);
}
