//! Trying hard to lose data: many concurrent clients, a disk that fills up,
//! and SIGKILL at random moments during pushes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use common::images::{self, try_push_blob as push_blob, try_put_manifest as put_manifest};
use common::process::Process;
use common::{TestRegistry, client, digest};
use rand::Rng;
use reqwest::StatusCode;

/// An image manifest's bytes over a config and layers (digest, size).
fn manifest(config: &str, config_len: usize, layers: &[(String, usize)]) -> Vec<u8> {
    let layers: Vec<(&str, usize)> = layers.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    serde_json::to_vec(&images::manifest((config, config_len), &layers)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_clients_share_layers_and_overwrite_tags() {
    let reg = Arc::new(TestRegistry::start("").await);
    let base_layers: Vec<Vec<u8>> = (0..2u8).map(|i| vec![i; 512 * 1024]).collect();
    let mut tasks = Vec::new();
    for i in 0..64usize {
        let (reg, base_layers) = (reg.clone(), base_layers.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let repo = if i % 2 == 0 {
                "shared/app".to_string()
            } else {
                format!("team{}/app", i % 4)
            };
            let mut layers = Vec::new();
            for l in base_layers
                .iter()
                .chain([&format!("unique {i}").into_bytes()])
            {
                layers.push((push_blob(&c, &reg.url, &repo, l).await?, l.len()));
            }
            let config = format!("{{\"client\":{i}}}");
            let cd = push_blob(&c, &reg.url, &repo, config.as_bytes()).await?;
            let m = manifest(&cd, config.len(), &layers);
            let d = put_manifest(&c, &reg.url, &repo, "latest", &m).await?;
            put_manifest(&c, &reg.url, &repo, &format!("client{i}"), &m).await?;
            Ok::<_, String>((repo, d))
        }));
    }
    let mut pushed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in tasks {
        let (repo, d) = t.await.unwrap().expect("every push succeeds");
        pushed.entry(repo).or_default().insert(d);
    }
    let c = client();
    for (repo, digests) in &pushed {
        let resp = common::send(c.head(format!("{}/v2/{repo}/manifests/latest", reg.url))).await;
        let current = resp.headers()["docker-content-digest"].to_str().unwrap();
        assert!(
            digests.contains(current),
            "{repo}:latest points at a manifest pushed to it"
        );
    }
    assert_eq!(common::store::verify(&reg.root), Vec::<String>::new());
}

/// A tmpfs of a fixed size, unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(mib: usize) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs");
        assert!(
            ok.success(),
            "mounting a small tmpfs needs root (the tests run as root in CI)"
        );
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_pushes_cleanly_and_recovers() {
    let disk = SmallDisk::new(32);
    let root = disk.0.path().join("registry");
    let reg = TestRegistry::start_on(&root, "").await;
    let c = client();
    let before = vec![9u8; 1 << 20];
    let kept = push_blob(&c, &reg.url, "disk/app", &before).await.unwrap();
    // Leave about 1 MiB free.
    let filler = disk.0.path().join("filler");
    let free = {
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(disk.0.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(&filler, vec![0u8; (free - (1 << 20)) as usize]).unwrap();

    let big: Vec<u8> = (0..6u32 << 20).map(|i| (i % 241) as u8).collect();
    let d = digest(&big);
    let resp = common::send(
        c.post(format!("{}/v2/disk/app/blobs/uploads/?digest={d}", reg.url))
            .body(big.clone()),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("storage is full"),
        "{body}"
    );
    // A chunked upload that hits the limit keeps a clean offset.
    let resp = common::send(c.post(format!("{}/v2/disk/app/blobs/uploads/", reg.url))).await;
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    // The whole blob as one chunk, sent twice (refused, then accepted).
    let patch_all = || {
        common::send(
            c.patch(format!("{}{loc}", reg.url))
                .header("content-range", format!("0-{}", big.len() - 1))
                .body(big.clone()),
        )
    };
    let resp = patch_all().await;
    assert_eq!(resp.status(), StatusCode::INSUFFICIENT_STORAGE);
    let resp = common::send(c.get(format!("{}{loc}", reg.url))).await;
    assert_eq!(
        resp.headers()["range"],
        "0-0",
        "the refused chunk was rolled back"
    );
    // What was stored before is intact.
    let got = common::body_of(c.get(format!("{}/v2/disk/app/blobs/{kept}", reg.url))).await;
    assert_eq!(digest(&got), kept);
    assert_eq!(common::store::verify(&root), Vec::<String>::new());
    // Space freed: the same push succeeds, chunked continues from its offset.
    std::fs::remove_file(&filler).unwrap();
    let resp = patch_all().await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = common::send(c.put(format!("{}{loc}?digest={d}", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        push_blob(&c, &reg.url, "disk/other", &big).await.unwrap(),
        d
    );
    assert_eq!(common::store::verify(&root), Vec::<String>::new());
    reg.stop().await;
}

/// One push operation of the crash workload, and what it acknowledged.
#[derive(Debug, Default)]
struct Acked {
    blobs: Vec<(String, String)>,
    manifests: Vec<(String, String)>,
}

async fn workload(base: String, seed: u64, acked: Arc<tokio::sync::Mutex<Acked>>) {
    let c = client();
    let mut i = 0u64;
    loop {
        i += 1;
        let n = seed * 1000 + i;
        let repo = format!("crash/r{}", n % 3);
        let data: Vec<u8> = (0..(64 * 1024 + (n % 7) * 100_000))
            .map(|k| ((k + n) % 253) as u8)
            .collect();
        let d = digest(&data);
        let ok = match n % 4 {
            // monolithic
            0 => push_blob(&c, &base, &repo, &data).await.is_ok(),
            // chunked
            1 => {
                let Ok(resp) = c
                    .post(format!("{base}/v2/{repo}/blobs/uploads/"))
                    .send()
                    .await
                else {
                    return;
                };
                let Some(loc) = resp
                    .headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap().to_string())
                else {
                    return;
                };
                let half = data.len() / 2;
                let p1 = c
                    .patch(format!("{base}{loc}"))
                    .header("content-range", format!("0-{}", half - 1))
                    .body(data[..half].to_vec())
                    .send()
                    .await;
                let Ok(p1) = p1 else { return };
                let loc = p1
                    .headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap().to_string())
                    .unwrap_or(loc);
                let put = c
                    .put(format!("{base}{loc}?digest={d}"))
                    .body(data[half..].to_vec())
                    .send()
                    .await;
                matches!(put, Ok(r) if r.status() == StatusCode::CREATED)
            }
            // mount from another repository, else upload
            2 => {
                let from = format!("crash/r{}", (n + 1) % 3);
                push_blob(&c, &base, &from, &data).await.is_ok()
                    && matches!(c.post(format!("{base}/v2/{repo}/blobs/uploads/?mount={d}&from={from}")).send().await, Ok(r) if r.status() == StatusCode::CREATED)
            }
            // a manifest over a config and a layer
            _ => {
                let config = format!("{{\"n\":{n}}}");
                let Ok(cd) = push_blob(&c, &base, &repo, config.as_bytes()).await else {
                    return;
                };
                let Ok(ld) = push_blob(&c, &base, &repo, &data).await else {
                    return;
                };
                acked
                    .lock()
                    .await
                    .blobs
                    .extend([(repo.clone(), cd.clone()), (repo.clone(), ld.clone())]);
                let m = manifest(&cd, config.len(), &[(ld, data.len())]);
                match put_manifest(&c, &base, &repo, &format!("t{}", n % 5), &m).await {
                    Ok(md) => {
                        acked.lock().await.manifests.push((repo.clone(), md));
                        continue;
                    }
                    Err(_) => return,
                }
            }
        };
        if !ok {
            return;
        }
        acked.lock().await.blobs.push((repo, d));
    }
}

/// SIGKILL at random moments during mixed pushes, 100 times: everything
/// acknowledged is there and verifies, nothing half-written is visible, and
/// pushes work again after each restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_hundred_kills_during_pushes_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let envs = [
        (
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY",
            data.display().to_string(),
        ),
        ("REGISTRY_LOG_ACCESSLOG_DISABLED", "true".to_string()),
    ];
    let acked = Arc::new(tokio::sync::Mutex::new(Acked::default()));
    let mut rng = rand::rng();
    for kill in 0..100u64 {
        let mut reg = Process::serve(None, &envs, dir.path()).await;
        let base = format!("http://{}", reg.host);
        let workers: Vec<_> = (0..4)
            .map(|w| tokio::spawn(workload(base.clone(), kill * 10 + w, acked.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(10..250))).await;
        reg.child.start_kill().unwrap();
        reg.child.wait().await.unwrap();
        for w in workers {
            let _ = w.await;
        }
    }
    let reg = Process::serve(None, &envs, dir.path()).await;
    let base = format!("http://{}", reg.host);
    let c = client();
    let acked = acked.lock().await;
    assert!(
        acked.blobs.len() > 100,
        "the workload made progress: {} blobs",
        acked.blobs.len()
    );
    for (repo, d) in &acked.blobs {
        let body = common::send(c.get(format!("{base}/v2/{repo}/blobs/{d}"))).await;
        assert_eq!(
            body.status(),
            StatusCode::OK,
            "{repo}@{d} acknowledged, then lost"
        );
        assert_eq!(&digest(&body.bytes().await.unwrap()), d);
    }
    for (repo, d) in &acked.manifests {
        let resp = common::send(c.get(format!("{base}/v2/{repo}/manifests/{d}"))).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "manifest {repo}@{d} acknowledged, then lost"
        );
    }
    assert_eq!(
        common::store::verify(&data),
        Vec::<String>::new(),
        "nothing half-written is visible"
    );
    // And labreg's own checker agrees.
    let config = dir.path().join("check.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            data.display()
        ),
    )
    .unwrap();
    let (code, out, err) = common::process::run_labreg(&["check", config.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "labreg check found damage:\n{out}\n{err}");
    // Retried pushes succeed.
    assert!(
        push_blob(&c, &base, "crash/after", b"after the storm")
            .await
            .is_ok()
    );
    eprintln!(
        "{} blobs and {} manifests acknowledged across 100 kills",
        acked.blobs.len(),
        acked.manifests.len()
    );
}
