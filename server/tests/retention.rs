//! Retention and storage usage on a real store made by the test: 2,000 tags
//! in 50 repositories, pushed over HTTP to labreg, aged by setting the link
//! files' times (the push times retention reads). The dry-run list equals
//! what is then deleted and what the policies say; kept tags pull with
//! their digests; `labreg check` finds the store sound; the bytes garbage
//! collection frees equal what `labreg du` said nothing but the deleted
//! content held; `du` totals equal the bytes under blobs/; the usage index
//! kept by pushes equals a walk of the store. A second test runs retention
//! while 16 clients push.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::images::{OCI_MANIFEST, pull_image, push_blob, push_image, put_manifest};
use common::process::run_own_labreg as run_labreg;
use common::suite::pattern;
use common::{TestRegistry, client, digest};
use futures_util::StreamExt;
use serde_json::{Value, json};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86400);

const POLICIES: &str = "labreg:
  retention:
    policies:
      - repositories: [\"old/*\"]
        delete_tags_older_than: 1d
      - repositories: [\"app/*\"]
        keep_latest: 10
        keep_tags: [latest, semver]
        delete_untagged_older_than: 7d
";

/// The tags of an app repository, oldest push first.
fn app_tags() -> Vec<String> {
    let mut tags = vec!["latest".to_string()];
    tags.extend((0..5).map(|i| format!("1.0.{i}")));
    tags.extend((6..40).map(|i| format!("b{i}")));
    tags
}

fn set_mtime(file: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(file).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn v2(root: &Path) -> PathBuf {
    root.join("docker/registry/v2")
}

/// Every link of the store written `ago`.
fn age_links(root: &Path, ago: Duration) {
    let mut all = Vec::new();
    files_under(&v2(root).join("repositories"), &mut all);
    all.iter().for_each(|f| set_mtime(f, ago));
}

fn age_tag(root: &Path, repo: &str, tag: &str, ago: Duration) {
    let link = v2(root).join(format!(
        "repositories/{repo}/_manifests/tags/{tag}/current/link"
    ));
    set_mtime(&link, ago);
}

fn age_revision(root: &Path, repo: &str, d: &str, ago: Duration) {
    let hex = d.strip_prefix("sha256:").unwrap();
    let link = v2(root).join(format!(
        "repositories/{repo}/_manifests/revisions/sha256/{hex}/link"
    ));
    set_mtime(&link, ago);
}

/// Bytes of every blob's data file: what the store holds.
fn blob_bytes(root: &Path) -> u64 {
    let mut all = Vec::new();
    files_under(&v2(root).join("blobs"), &mut all);
    all.iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "data"))
        .map(|f| f.metadata().unwrap().len())
        .sum()
}

/// A manifest's bytes as stored.
async fn manifest_bytes(url: &str, repo: &str, reference: &str) -> bytes::Bytes {
    let resp = client()
        .get(format!("{url}/v2/{repo}/manifests/{reference}"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    resp.bytes().await.unwrap()
}

/// A signature (an artifact whose subject is `subject`) pushed by digest.
async fn push_signature(url: &str, repo: &str, subject: &str, seed: u8) -> String {
    let body = manifest_bytes(url, repo, subject).await;
    let sig = pattern(300, seed);
    let sig_d = push_blob(url, repo, &sig).await;
    let empty = push_blob(url, repo, b"{}").await;
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": sig_d, "size": sig.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": body.len()},
    });
    let d = digest(&serde_json::to_vec(&m).unwrap());
    put_manifest(url, repo, &d, &m).await
}

struct Lab {
    reg: TestRegistry,
    config: PathBuf,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Lab {
    async fn start(extra: &str) -> Lab {
        common::process::own_labreg();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let yaml = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n{extra}",
            root.display()
        );
        let config = dir.path().join("config.yml");
        std::fs::write(&config, &yaml).unwrap();
        let reg = TestRegistry::start_yaml(&yaml, &root).await;
        Lab {
            reg,
            config,
            root,
            _dir: dir,
        }
    }

    fn labreg_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json", self.config.to_str().unwrap()]);
        let (code, out, err) = run_labreg(&all, &[]);
        assert_eq!(code, 0, "labreg {args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    async fn usage(&self, query: &str) -> Value {
        let resp = client()
            .get(format!("{}/labreg/v1/usage{query}", self.reg.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }
}

/// What a usage report says, without the push times (the index records
/// when it saw a push; a walk reads the link times the test set).
fn sizes(report: &Value) -> Value {
    let mut r = report.clone();
    for repo in r["repositories"].as_array_mut().unwrap() {
        repo.as_object_mut().unwrap().remove("last_push");
    }
    r
}

/// (repository, tag or digest) of each deletion in a retention report.
fn deletions(report: &Value) -> BTreeSet<(String, String)> {
    let tags = report["tags"].as_array().unwrap().iter().map(|t| {
        (
            t["repository"].as_str().unwrap().to_string(),
            t["tag"].as_str().unwrap().to_string(),
        )
    });
    let manifests = report["manifests"].as_array().unwrap().iter().map(|m| {
        (
            m["repository"].as_str().unwrap().to_string(),
            m["digest"].as_str().unwrap().to_string(),
        )
    });
    tags.chain(manifests).collect()
}

/// One image per (repository, tag): a layer every repository shares, one
/// its tags share, and one of its own.
async fn push_all(url: &str, jobs: Vec<(String, String)>) -> Vec<(String, String, String)> {
    let shared = pattern(20_000, 250);
    futures_util::stream::iter(jobs)
        .map(|(repo, tag)| {
            let shared = shared.clone();
            async move {
                let seed = (repo.len() + repo.bytes().map(usize::from).sum::<usize>()) as u8;
                let per_repo = pattern(8_000, seed);
                let own = format!("{repo}:{tag}").into_bytes().repeat(40);
                let (d, _) = push_image(url, &repo, &tag, &[&shared, &per_repo, &own]).await;
                (repo, tag, d)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_on_2000_tags_in_50_repositories() {
    let lab = Lab::start(POLICIES).await;
    let url = lab.reg.url.clone();
    let mut jobs = Vec::new();
    for r in 0..10 {
        jobs.extend((0..40).map(|t| (format!("old/o{r}"), format!("t{t}"))));
    }
    for r in 0..40 {
        jobs.extend(app_tags().into_iter().map(|t| (format!("app/a{r}"), t)));
    }
    let pushed = push_all(&url, jobs).await;
    assert_eq!(pushed.len(), 2000);
    let digest_of = |repo: &str, tag: &str| {
        pushed
            .iter()
            .find(|(r, t, _)| r == repo && t == tag)
            .map(|(_, _, d)| d.clone())
            .unwrap()
    };
    // Referrers and untagged manifests in app/a0.
    let doomed = digest_of("app/a0", "b6");
    let kept = digest_of("app/a0", "b39");
    let sig_doomed = push_signature(&url, "app/a0", &doomed, 1).await;
    let sig_kept = push_signature(&url, "app/a0", &kept, 2).await;
    for (subject, sig) in [(&doomed, &sig_doomed), (&kept, &sig_kept)] {
        let hex = subject.strip_prefix("sha256:").unwrap();
        let body = manifest_bytes(&url, "app/a0", sig).await;
        let resp = client()
            .put(format!("{url}/v2/app/a0/manifests/sha256-{hex}.sig"))
            .header("content-type", OCI_MANIFEST)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let (untagged_old, _) = push_image(&url, "app/a0", "tmp-old", &[b"untagged old"]).await;
    let (untagged_new, _) = push_image(&url, "app/a0", "tmp-new", &[b"untagged new"]).await;
    for tmp in ["tmp-old", "tmp-new"] {
        let resp = client()
            .delete(format!("{url}/v2/app/a0/manifests/{tmp}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202);
    }

    // The index kept by those pushes equals a walk of the store.
    let walked = lab.labreg_json(&["du"]);
    assert_eq!(sizes(&lab.usage("").await), sizes(&walked));
    let totals = &walked["totals"];
    assert_eq!(
        totals["bytes_stored"],
        blob_bytes(&lab.root),
        "du == blobs/ on disk"
    );
    assert_eq!(totals["repositories"], 50);
    assert_eq!(totals["tags"], 2002);

    // Push times: every link three days old, then each app tag an hour
    // apart (b39 the newest), old/* tags two days, two untagged manifests.
    age_links(&lab.root, 3 * DAY);
    for r in 0..40 {
        for (i, t) in app_tags().iter().enumerate() {
            age_tag(
                &lab.root,
                &format!("app/a{r}"),
                t,
                2 * DAY + (40 - i as u32) * HOUR,
            );
        }
    }
    age_revision(&lab.root, "app/a0", &untagged_old, 8 * DAY);
    age_revision(&lab.root, "app/a0", &untagged_new, DAY);

    let mut want: BTreeSet<(String, String)> = BTreeSet::new();
    for (repo, tag, d) in &pushed {
        let deleted = repo.starts_with("old/")
            || (tag.starts_with('b') && tag[1..].parse::<u32>().unwrap() < 30);
        if deleted {
            want.insert((repo.clone(), tag.clone()));
            want.insert((repo.clone(), d.clone()));
        }
    }
    let doomed_hex = doomed.strip_prefix("sha256:").unwrap();
    want.insert(("app/a0".into(), sig_doomed.clone()));
    want.insert(("app/a0".into(), format!("sha256-{doomed_hex}.sig")));
    want.insert(("app/a0".into(), untagged_old.clone()));

    let dry = lab.labreg_json(&["retention", "--dry-run"]);
    assert_eq!(
        deletions(&dry),
        want,
        "the dry run lists what the policies say"
    );
    assert_eq!(dry["tags"].as_array().unwrap().len(), 400 + 40 * 24 + 1);
    assert_eq!(dry["tags_kept"], 2002 - (400 + 40 * 24 + 1));
    let why = |what: &str| {
        dry["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .chain(dry["tags"].as_array().unwrap())
            .find(|x| x["digest"] == what || x["tag"] == what)
            .map(|x| x["reason"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        why(&sig_doomed).contains(&format!("refers to {doomed}")),
        "{}",
        why(&sig_doomed)
    );
    assert!(
        why(&untagged_old).starts_with("untagged"),
        "{}",
        why(&untagged_old)
    );
    assert!(
        why("b29").contains("not among the 10 most recently pushed"),
        "{}",
        why("b29")
    );
    let before = lab.labreg_json(&["du"]);
    assert_eq!(
        before["totals"], walked["totals"],
        "a dry run changes nothing"
    );

    let done = lab.labreg_json(&["retention"]);
    assert_eq!(
        deletions(&done),
        want,
        "what is deleted is what the dry run listed"
    );
    assert!(done["skipped"].as_array().unwrap().is_empty());
    assert_eq!(
        done["gc"]["bytes_freed"], 0,
        "blobs pushed within the grace (1h) stay for the next collection"
    );

    // What nothing references now is what the deleted content alone held.
    let after = lab.labreg_json(&["du"]);
    let alone = after["totals"]["bytes_unreferenced"].as_u64().unwrap();
    let old_exclusive: u64 = before["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with("old/"))
        .map(|r| r["bytes_exclusive"].as_u64().unwrap())
        .sum();
    assert!(
        alone > old_exclusive && old_exclusive > 0,
        "{alone} {old_exclusive}"
    );
    for r in after["repositories"].as_array().unwrap() {
        if r["name"].as_str().unwrap().starts_with("old/") {
            assert_eq!(
                (r["tags"].as_u64(), r["bytes_referenced"].as_u64()),
                (Some(0), Some(0))
            );
        }
    }
    let (code, out, err) = run_labreg(
        &[
            "garbage-collect",
            "--grace",
            "0s",
            "--output",
            "json",
            lab.config.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let gc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        gc["bytes_freed"].as_u64(),
        Some(alone),
        "freed == what du said"
    );
    let last = lab.labreg_json(&["du"]);
    assert_eq!(last["totals"]["bytes_unreferenced"], 0);
    assert_eq!(last["totals"]["bytes_stored"], blob_bytes(&lab.root));
    assert_eq!(
        last["totals"]["bytes_stored"].as_u64().unwrap(),
        before["totals"]["bytes_stored"].as_u64().unwrap() - alone
    );

    // The server's index learns of another process's deletions on a rebuild.
    assert_eq!(sizes(&lab.usage("?rebuild=true").await), sizes(&last));

    let (code, out, err) = run_labreg(&["check", lab.config.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "check after retention: {out}{err}");
    for (repo, tag, d) in &pushed {
        if want.contains(&(repo.clone(), tag.clone())) {
            continue;
        }
        assert_eq!(
            &pull_image(&url, repo, tag).await.unwrap(),
            d,
            "{repo}:{tag}"
        );
    }
    assert_eq!(
        pull_image(&url, "app/a0", &sig_kept).await.unwrap(),
        sig_kept
    );
    assert_eq!(
        pull_image(&url, "app/a0", &untagged_new).await.unwrap(),
        untagged_new
    );
    assert!(pull_image(&url, "app/a0", "b6").await.is_err());
    assert!(pull_image(&url, "old/o3", "t39").await.is_err());
    lab.reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_while_16_clients_push() {
    let policies = "labreg:
  retention:
    policies:
      - repositories: [\"busy/*\"]
        delete_tags_older_than: 1d
        delete_untagged_older_than: 1d
";
    let lab = Lab::start(policies).await;
    let url = lab.reg.url.clone();
    let mut jobs = Vec::new();
    for r in 0..10 {
        jobs.extend((0..20).map(|t| (format!("busy/b{r}"), format!("old{t}"))));
    }
    let old = push_all(&url, jobs).await;
    age_links(&lab.root, 2 * DAY);

    // Retention runs over and over, as another process on the same store
    // would, while 16 clients push: half of them push again images the
    // policies are deleting (same digests), under new tags.
    let loaded = labreg::config::Config::load(Some(&lab.config)).unwrap();
    let resolved = loaded.config.retention().unwrap().unwrap();
    let driver = labreg::server::storage_driver(&loaded.config).unwrap();
    let registry = Arc::new(labreg::registry::Registry::new(driver, Default::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runner = {
        let (registry, stop) = (registry.clone(), stop.clone());
        tokio::spawn(async move {
            let mut runs = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || runs.is_empty() {
                let r = labreg::retention::run(&registry, &resolved, false, None)
                    .await
                    .expect("retention run");
                runs.push(r);
            }
            runs
        })
    };
    let pushers: Vec<_> = (0..16)
        .map(|p| {
            let (url, old) = (url.clone(), old.clone());
            tokio::spawn(async move {
                let shared = pattern(20_000, 250);
                let mut mine = Vec::new();
                for k in 0..12 {
                    let repo = format!("busy/b{}", (p + k) % 10);
                    let tag = format!("new-{p}-{k}");
                    let d = if p % 2 == 0 {
                        // The same image as an old tag of this repository.
                        let (_, old_tag, old_d) =
                            old.iter().find(|(r, _, _)| *r == repo).unwrap().clone();
                        let seed =
                            (repo.len() + repo.bytes().map(usize::from).sum::<usize>()) as u8;
                        let own = format!("{repo}:{old_tag}").into_bytes().repeat(40);
                        let (d, _) =
                            push_image(&url, &repo, &tag, &[&shared, &pattern(8_000, seed), &own])
                                .await;
                        assert_eq!(d, old_d, "the same bytes, the same digest");
                        d
                    } else {
                        let own = format!("{repo}:{tag}").into_bytes().repeat(40);
                        push_image(&url, &repo, &tag, &[&shared, &own]).await.0
                    };
                    mine.push((repo, tag, d));
                }
                mine
            })
        })
        .collect();
    let mut pushed = Vec::new();
    for p in pushers {
        pushed.extend(p.await.expect("every push succeeded"));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = runner.await.unwrap();
    assert_eq!(pushed.len(), 16 * 12);
    let deleted: usize = runs.iter().map(|r| r.tags.len()).sum();
    assert_eq!(
        deleted,
        200,
        "every old tag went, once ({} runs)",
        runs.len()
    );
    for r in &runs {
        assert!(
            r.tags.iter().all(|t| t.tag.starts_with("old")),
            "no new tag is deleted: {:?}",
            r.tags
        );
    }
    for (repo, tag, d) in &pushed {
        assert_eq!(
            &pull_image(&url, repo, tag).await.unwrap(),
            d,
            "{repo}:{tag}"
        );
    }
    let check = registry.check(&[]).await.unwrap();
    assert!(check.sound(), "{:?}", check.problems);
    lab.reg.stop().await;
}
