//! Storage usage: per repository, the bytes its manifests reference, shared
//! with others or held by it alone, tag and manifest counts, last push; and
//! deduplicated totals. `labreg du` and `GET /labreg/v1/usage` read it,
//! Prometheus gauges show the totals, and the catalog is served from its
//! list of repositories.
//!
//! The index lives in memory. It is built from the store when labreg starts
//! (one walk of blobs and links, each manifest parsed once) and on demand,
//! and kept up to date by the changes the API makes: it is an
//! [`EventSink`] behind the events decorator. The sink only queues; one
//! task applies changes in order (reading a pushed manifest to learn what
//! it references), and answers reports through the same queue, so a report
//! sees every change made before it was asked. Changes queued while a
//! rebuild walks the store are applied after it: each is idempotent, so one
//! the walk already saw changes nothing. Garbage collection and retention
//! tell the index what they removed. Changes another replica makes on a
//! shared bucket, and content the mirror caches, are seen at the next
//! rebuild.

pub mod http;
mod state;

use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use futures_util::TryStreamExt;
use tokio::sync::{mpsc, oneshot};

use state::{RepoKey, State, key};
pub use state::{RepoReport, Totals, UsageReport};

use crate::events::EventSink;
use crate::registry::paths::Entry;
use crate::registry::{Change, ChangeAction, Digest, Page, Registry, Result};

enum Msg {
    Change(Box<Change>),
    /// Blobs garbage collection deleted.
    Forget(Vec<Digest>),
    Report(oneshot::Sender<Arc<Snapshot>>),
    Rebuild(oneshot::Sender<Result<()>>),
}

/// A report and its JSON, made once per state of the index: between
/// changes, every request gets the same one.
pub struct Snapshot {
    pub report: UsageReport,
    json: std::sync::OnceLock<bytes::Bytes>,
}

impl Snapshot {
    fn new(report: UsageReport) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            report,
            json: std::sync::OnceLock::new(),
        })
    }

    /// The report as JSON, serialized on first use.
    pub fn json(&self) -> bytes::Bytes {
        self.json
            .get_or_init(|| serde_json::to_vec(&self.report).unwrap_or_default().into())
            .clone()
    }
}

pub struct UsageIndex {
    tx: mpsc::UnboundedSender<Msg>,
    /// The repositories, in catalog order; None until the first build.
    catalog: Arc<RwLock<Option<BTreeSet<RepoKey>>>>,
}

/// Builds the index from the store: one walk of the blobs, one of the
/// links, each manifest read once.
pub async fn scan(registry: &Registry) -> Result<(State, BTreeSet<RepoKey>)> {
    let mut s = State::default();
    let mut blobs = registry.stored_blobs();
    while let Some(b) = blobs.try_next().await? {
        s.add_blob(&b.digest, b.size);
    }
    drop(blobs);
    let mut revisions = Vec::new();
    let mut links = registry.stored_links();
    while let Some(link) = links.try_next().await? {
        match link.entry {
            Entry::RevisionLink { repo, digest } => revisions.push((repo, digest, link.modified)),
            Entry::TagCurrent { repo, tag } => s.set_tag(&repo, &tag, Some(link.modified)),
            _ => {}
        }
    }
    drop(links);
    for (repo, d, at) in revisions {
        learn(registry, &mut s, &d).await?;
        s.add_revision(&repo, &d, Some(at));
    }
    let repos: BTreeSet<RepoKey> = registry
        .repositories()
        .map_ok(|r| key(&r))
        .try_collect()
        .await?;
    for r in &repos {
        s.repo(&r.join("/"));
    }
    Ok((s, repos))
}

/// Reads what a manifest references, once per digest.
async fn learn(registry: &Registry, s: &mut State, d: &Digest) -> Result<()> {
    if s.knows_manifest(d) {
        return Ok(());
    }
    if let Some((m, size)) = registry.parsed_manifest(d).await? {
        s.learn_manifest(d, &m.blobs);
        s.add_blob(d, size);
    }
    Ok(())
}

/// A report straight from the store, for `labreg du`.
pub async fn report_from_store(registry: &Registry) -> Result<UsageReport> {
    Ok(scan(registry).await?.0.report())
}

impl UsageIndex {
    /// Starts the index on `registry`: built in the background, then kept
    /// up to date.
    pub fn start(registry: Arc<Registry>) -> Arc<UsageIndex> {
        let (tx, rx) = mpsc::unbounded_channel();
        let catalog = Arc::new(RwLock::new(None));
        tokio::spawn(worker(registry, rx, catalog.clone()));
        Arc::new(UsageIndex { tx, catalog })
    }

    /// The usage report, with every change made before the call applied.
    /// None when the index is not built (the store cannot be read).
    pub async fn report(&self) -> Option<Arc<Snapshot>> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Report(tx)).ok()?;
        rx.await.ok()
    }

    /// Walks the store again and replaces the index.
    pub async fn rebuild(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let gone = || crate::registry::RegistryError::Unsupported("usage index stopped".into());
        self.tx.send(Msg::Rebuild(tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Blobs deleted by garbage collection.
    pub fn forget_blobs(&self, blobs: &[String]) {
        let digests = blobs.iter().filter_map(|b| b.parse().ok()).collect();
        let _ = self.tx.send(Msg::Forget(digests));
    }

    /// A catalog page, as `ListingService::catalog` answers it; None until
    /// the index is built.
    pub fn catalog(
        &self,
        last: Option<&str>,
        n: Option<usize>,
        visible: &dyn Fn(&str) -> bool,
    ) -> Option<Page> {
        let guard = self.catalog.read().expect("catalog poisoned");
        let repos = guard.as_ref()?;
        let mut page = Page {
            items: Vec::new(),
            more: false,
        };
        let start = match last {
            Some(l) => std::ops::Bound::Excluded(key(l)),
            None => std::ops::Bound::Unbounded,
        };
        for k in repos.range((start, std::ops::Bound::Unbounded)) {
            let name = k.join("/");
            if !visible(&name) {
                continue;
            }
            if n.is_some_and(|n| page.items.len() >= n) {
                page.more = true;
                break;
            }
            page.items.push(name);
        }
        Some(page)
    }

    /// The totals as Prometheus gauges (appended to the metrics page).
    pub async fn render_gauges(&self, out: &mut String) {
        let Some(r) = self.report().await else {
            return;
        };
        let t = &r.report.totals;
        for (name, help, v) in [
            (
                "repositories",
                "Repositories in the store.",
                t.repositories as u64,
            ),
            ("tags", "Tags in the store.", t.tags as u64),
            (
                "manifests",
                "Manifest revisions linked to repositories.",
                t.manifests as u64,
            ),
            ("blobs", "Blobs in the store.", t.blobs as u64),
            (
                "stored_bytes",
                "Bytes of every blob in the store.",
                t.bytes_stored,
            ),
            (
                "referenced_bytes",
                "Bytes some manifest references, deduplicated.",
                t.bytes_referenced,
            ),
            (
                "unreferenced_bytes",
                "Bytes no manifest references (garbage collection frees them).",
                t.bytes_unreferenced,
            ),
        ] {
            let _ = writeln!(out, "# HELP labreg_storage_{name} {help}");
            let _ = writeln!(out, "# TYPE labreg_storage_{name} gauge");
            let _ = writeln!(out, "labreg_storage_{name} {v}");
        }
    }
}

/// Hands every change to two sinks: the usage index and another.
pub struct Tee(pub Arc<UsageIndex>, pub Arc<dyn EventSink>);

impl EventSink for Tee {
    fn record(&self, change: &Change) {
        self.0.record(change);
        self.1.record(change);
    }

    fn pulled(&self, pull: &crate::events::Pull) {
        self.0.pulled(pull);
        self.1.pulled(pull);
    }
}

impl EventSink for UsageIndex {
    fn record(&self, change: &Change) {
        if let Some(repos) = self.catalog.write().expect("catalog poisoned").as_mut() {
            repos.insert(key(&change.repository));
        }
        let _ = self.tx.send(Msg::Change(Box::new(change.clone())));
    }

    /// Reads change no usage.
    fn pulled(&self, _: &crate::events::Pull) {}
}

async fn build(registry: &Registry, catalog: &RwLock<Option<BTreeSet<RepoKey>>>) -> Result<State> {
    let started = std::time::Instant::now();
    let (s, repos) = scan(registry).await?;
    let mut c = catalog.write().expect("catalog poisoned");
    let merged = match c.take() {
        Some(old) => old.into_iter().chain(repos).collect(),
        None => repos,
    };
    tracing::info!(
        repositories = merged.len(),
        took_ms = started.elapsed().as_millis() as u64,
        "usage index built"
    );
    *c = Some(merged);
    Ok(s)
}

async fn worker(
    registry: Arc<Registry>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    catalog: Arc<RwLock<Option<BTreeSet<RepoKey>>>>,
) {
    let mut state = loop {
        match build(&registry, &catalog).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "usage index: cannot read the store; retrying in 30 s");
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    };
    let mut snapshot: Option<Arc<Snapshot>> = None;
    while let Some(msg) = rx.recv().await {
        if !matches!(msg, Msg::Report(_)) {
            snapshot = None;
        }
        match msg {
            Msg::Change(c) => {
                if let Err(e) = apply(&registry, &mut state, &c).await {
                    tracing::warn!(error = %e, change = %c.action, "usage index: change not applied; the next rebuild corrects it");
                }
            }
            Msg::Forget(blobs) => blobs.iter().for_each(|b| state.forget_blob(b)),
            Msg::Report(tx) => {
                let s = snapshot.get_or_insert_with(|| Snapshot::new(state.report()));
                let _ = tx.send(s.clone());
            }
            Msg::Rebuild(tx) => {
                let r = build(&registry, &catalog).await.map(|s| state = s);
                let _ = tx.send(r);
            }
        }
    }
}

async fn apply(registry: &Registry, s: &mut State, c: &Change) -> Result<()> {
    let repo = c.repository.as_str();
    s.repo(repo);
    let now = Some(SystemTime::now());
    match c.action {
        ChangeAction::BlobPush | ChangeAction::BlobMount => {
            if let Some(size) = c.size {
                s.add_blob(&c.digest, size);
            }
        }
        ChangeAction::BlobDelete => {}
        ChangeAction::ManifestPush => {
            if let Some(size) = c.size {
                s.add_blob(&c.digest, size);
            }
            learn(registry, s, &c.digest).await?;
            s.add_revision(repo, &c.digest, now);
            if let Some(t) = &c.tag {
                s.set_tag(repo, t, now);
            }
        }
        ChangeAction::ManifestDelete => s.remove_revision(repo, &c.digest),
        ChangeAction::TagDelete => {
            if let Some(t) = &c.tag {
                s.remove_tag(repo, t);
            }
        }
    }
    Ok(())
}
