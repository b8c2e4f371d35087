//! labreg as a pull-through cache, against real upstreams on loopback:
//! Debian's docker-registry with Apache htpasswd and TLS, a second labreg
//! behind a Bearer-token front (testkit/src/server/token_front.rs), and registry:2's
//! own `proxy:` mode side by side with labreg's.

mod common;

use std::path::Path;

use common::oci::{AMD64_AND_ARM64, make_layout};
use common::pki::Ca;
use common::process::run_labreg;
use common::token_front::TokenFront;
use common::tools::{
    Distribution, run, skopeo_copy, skopeo_copy_to_layout, skopeo_copy_with, try_skopeo_copy_with,
};
use common::{TestRegistry, client, digest};

const INDEX_ACCEPT: &str = "application/vnd.oci.image.index.v1+json";

/// `skopeo copy --all` of `src` into an OCI layout; the digest it stored.
async fn pull_all(host: &str, image: &str, out: &Path, tag: &str) -> String {
    let src = format!("docker://{host}/{image}");
    skopeo_copy_to_layout(&["--all", "--src-tls-verify=false"], &src, out, tag).await
}

/// `skopeo copy --all` of an OCI layout's tag to a plain-HTTP registry.
async fn push_all(layout: &Path, tag: &str, dest: &str) {
    let src = format!("oci:{}:{tag}", layout.display());
    run(
        "skopeo",
        &["copy", "--all", "--dest-tls-verify=false", &src, dest],
    )
    .await;
}

/// A plain labreg upstream holding a two-platform index as `name:tag`
/// (layout in `d/img`); the index's digest.
async fn upstream_with_index(
    d: &Path,
    name: &str,
    tag: &str,
    content: &str,
) -> (TestRegistry, String) {
    let upstream = TestRegistry::start("").await;
    let pushed = make_layout(&d.join("img"), tag, AMD64_AND_ARM64, content);
    let dest = format!("docker://{}/{name}:{tag}", upstream.host());
    push_all(&d.join("img"), tag, &dest).await;
    (upstream, pushed)
}

fn blob_file(root: &Path, d: &str) -> std::path::PathBuf {
    let hex = d.trim_start_matches("sha256:");
    root.join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ))
}

/// Uploads left in a repository of the store at `root`, once the fills
/// that answered their clients have had a few seconds to end.
async fn uploads_left(root: &Path, repo: &str) -> usize {
    let dir = root.join(format!("docker/registry/v2/repositories/{repo}/_uploads"));
    let count = || std::fs::read_dir(&dir).map_or(0, |d| d.count());
    for _ in 0..50 {
        if count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    count()
}

#[tokio::test(flavor = "multi_thread")]

async fn mirrors_docker_registry_with_htpasswd_and_tls_then_serves_stale() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The upstream: docker-registry, htpasswd by Apache's tool, TLS by a CA.
    let line = run("htpasswd", &["-Bbn", "hub", "hub-pw"]).await;
    std::fs::write(d.join("htpasswd"), line.trim()).unwrap();
    let ca = Ca::new("upstream CA");
    let (crt, key) = ca.server(&["127.0.0.1"]).write(d);
    std::fs::write(d.join("ca.pem"), ca.pem()).unwrap();
    let certs = ca.write_cert_dir(&d.join("certs"));
    let up = Distribution::start_with(
        &format!(
            "  filesystem: {{rootdirectory: {}}}\n",
            d.join("up").display()
        ),
        &format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            crt.display(),
            key.display()
        ),
        &format!(
            "auth:\n  htpasswd:\n    realm: hub\n    path: {}\n",
            d.join("htpasswd").display()
        ),
    )
    .await;
    let pushed = make_layout(&d.join("img"), "1.27", AMD64_AND_ARM64, "nginx");
    skopeo_copy_with(
        &[
            "--all",
            "--dest-creds",
            "hub:hub-pw",
            &format!("--dest-cert-dir={}", certs.display()),
        ],
        &format!("oci:{}:1.27", d.join("img").display()),
        &format!("docker://{}/library/nginx:1.27", up.host),
    )
    .await;
    // A second tag, never pulled through labreg.
    skopeo_copy_with(
        &[
            "--all",
            "--src-creds",
            "hub:hub-pw",
            "--dest-creds",
            "hub:hub-pw",
            &format!("--src-cert-dir={}", certs.display()),
            &format!("--dest-cert-dir={}", certs.display()),
        ],
        &format!("docker://{}/library/nginx:1.27", up.host),
        &format!("docker://{}/library/nginx:1.28", up.host),
    )
    .await;
    std::fs::write(d.join("hub-password"), "hub-pw\n").unwrap();
    let reg = TestRegistry::start(&format!(
        "labreg:\n  mirrors:\n    - prefix: docker.io/\n      url: https://{}\n      username: hub\n      password_file: {}\n      ca: {}\n      ttl: 0s\n",
        up.host,
        d.join("hub-password").display(),
        d.join("ca.pem").display()
    ))
    .await;
    let host = reg.host();

    // skopeo pulls the multi-arch index through labreg, `docker.io/nginx`
    // meaning `library/nginx` as on Docker Hub: identical digests.
    let got = pull_all(&host, "docker.io/nginx:1.27", &d.join("out1"), "1.27").await;
    assert_eq!(got, pushed);
    // containerd's mirror request: the upstream's own name and ?ns=.
    let r = common::send(
        client()
            .get(format!(
                "{}/v2/library/nginx/manifests/1.27?ns=docker.io",
                reg.url
            ))
            .header("accept", INDEX_ACCEPT),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], pushed.as_str());
    // The same with the prefix in the path too, as containerd asks when
    // hosts.toml has `override_path` (labctl node-trust's mirror entries).
    let r = client()
        .get(format!(
            "{}/v2/docker.io/library/nginx/manifests/1.27?ns=docker.io",
            reg.url
        ))
        .header("accept", INDEX_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], pushed.as_str());
    // The tag list is the upstream's (1.28 was never pulled here).
    let tags = |path: &'static str| {
        let url = format!("{}{path}", reg.url);
        async move {
            let v: serde_json::Value = client()
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["tags"].clone()
        }
    };
    assert_eq!(
        tags("/v2/docker.io/nginx/tags/list").await,
        serde_json::json!(["1.27", "1.28"])
    );
    assert_eq!(
        tags("/v2/docker.io/library/nginx/tags/list?n=1").await,
        serde_json::json!(["1.27"])
    );
    // Without ns, the same path is a local repository, which is empty.
    let r =
        common::send(client().get(format!("{}/v2/library/nginx/manifests/1.27", reg.url))).await;
    assert_eq!(r.status(), 404);

    // Mirrored repositories refuse pushes; others take them.
    let img = format!("oci:{}:1.27", d.join("img").display());
    let err = try_skopeo_copy_with(
        &["--dest-tls-verify=false"],
        &img,
        &format!("docker://{host}/docker.io/library/mine:1"),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("denied") && err.contains("read-only mirror"),
        "{err}"
    );
    skopeo_copy(&img, &format!("docker://{host}/team/app:1")).await;

    // Upstream gone: the cached tag (re-checked every time, ttl 0s) and
    // digest still pull; what was never cached fails naming the upstream.
    up.stop().await;
    let again = pull_all(
        &host,
        "docker.io/library/nginx:1.27",
        &d.join("out2"),
        "1.27",
    )
    .await;
    assert_eq!(again, pushed);
    let cached = format!("docker.io/library/nginx@{pushed}");
    let by_digest = pull_all(&host, &cached, &d.join("out3"), "x").await;
    assert_eq!(by_digest, pushed);
    // The tag list falls back to what is cached.
    assert_eq!(
        tags("/v2/docker.io/library/nginx/tags/list").await,
        serde_json::json!(["1.27"])
    );
    let r = client()
        .get(format!(
            "{}/v2/docker.io/library/redis/manifests/7",
            reg.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    assert!(
        body.contains(&format!("https://{}", up_host(&body))) && body.contains("unreachable"),
        "{body}"
    );
    reg.stop().await;
}

/// The upstream URL named in an error body (the port is the stopped one's).
fn up_host(body: &str) -> String {
    let start = body.find("https://").expect("an upstream URL") + "https://".len();
    body[start..]
        .split([' ', '"', '/'])
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_upstream_one_fetch_for_sixteen_clients_and_no_tampered_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The upstream: a second labreg, behind the token front.
    let (upstream, pushed) = upstream_with_index(d, "team/app", "v1", "app").await;
    let front = TokenFront::start(&upstream.url, "robot", "robot-pw").await;
    // 64 MiB in CI; `LABREG_TEST_MIRROR_MIB=256` runs the figure
    // (same code path).
    let mib: u32 = std::env::var("LABREG_TEST_MIRROR_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let big: Vec<u8> = (0..mib << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let big_digest = common::images::push_blob(&upstream.url, "team/app", &big).await;
    let small = vec![7u8; 1 << 20];
    let small_digest = common::images::push_blob(&upstream.url, "team/app", &small).await;

    std::fs::write(d.join("pw"), "robot-pw").unwrap();
    let reg = TestRegistry::start(&format!(
        "labreg:\n  mirrors:\n    - prefix: tok.example/\n      url: {}\n      username: robot\n      password_file: {}\n      allow: [\"team/*\"]\n",
        front.url,
        d.join("pw").display()
    ))
    .await;
    let got = pull_all(&reg.host(), "tok.example/team/app:v1", &d.join("out"), "v1").await;
    assert_eq!(got, pushed);
    // One token for the repository's scope, reused for every request.
    assert_eq!(front.counters.lock().unwrap().token_requests, 1);

    // A HEAD of the uncached blob is the upstream's answer: its size,
    // nothing fetched or stored.
    let url = format!("{}/v2/tok.example/team/app/blobs/{big_digest}", reg.url);
    let r = client().head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        big.len().to_string().as_str()
    );
    assert!(!blob_file(&reg.root, &big_digest).exists());
    assert!(
        !front
            .counters
            .lock()
            .unwrap()
            .blob_gets
            .contains_key(&big_digest)
    );
    // A client gets the first bytes while the fill still runs (the blob
    // is not stored yet), then goes away: the fill goes on.
    let mut first = client().get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let chunk = first.chunk().await.unwrap().expect("a first chunk");
    assert_eq!(&chunk[..], &big[..chunk.len()]);
    assert!(
        !blob_file(&reg.root, &big_digest).exists(),
        "streamed before stored"
    );
    drop(first);
    // 16 clients of the same blob: still one upstream GET (the fill the
    // first client started), identical bytes.
    let pulls = (0..16).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let r = common::send(client().get(&url)).await;
            assert_eq!(r.status(), 200);
            digest(&r.bytes().await.unwrap())
        })
    });
    for p in futures_util::future::join_all(pulls).await {
        assert_eq!(p.unwrap(), big_digest);
    }
    assert_eq!(front.counters.lock().unwrap().blob_gets[&big_digest], 1);

    // A tampering upstream: the bytes are refused, never stored or served.
    *front.tamper.lock().unwrap() = Some(small_digest.clone());
    let small_url = format!("{}/v2/tok.example/team/app/blobs/{small_digest}", reg.url);
    for _ in 0..2 {
        // Streamed while stored: the client gets all but the last byte, then
        // the connection is cut when the digest check fails; or, when the
        // check failed before the answer started, a 502 naming the upstream.
        // The cut can also come before the answer's head left labreg's
        // buffer: then the client sees the connection end with no answer.
        let r = match client().get(&small_url).send().await {
            Ok(r) => r,
            Err(e) => {
                assert!(e.is_request(), "{e:?}");
                assert!(!blob_file(&reg.root, &small_digest).exists());
                continue;
            }
        };
        match r.status().as_u16() {
            200 => assert!(r.bytes().await.is_err(), "a tampered blob served whole"),
            502 => {
                let text = r.text().await.unwrap();
                assert!(text.contains(&format!("not {small_digest}")), "{text}");
            }
            s => panic!("a tampered blob answered {s}"),
        }
        assert!(!blob_file(&reg.root, &small_digest).exists());
    }
    assert_eq!(front.counters.lock().unwrap().blob_gets[&small_digest], 2);
    // Fills write into an upload of the cached repository (no second copy
    // on a filesystem store); a refused or finished fill leaves none.
    assert_eq!(uploads_left(&reg.root, "tok.example/team/app").await, 0);
    *front.tamper.lock().unwrap() = None;
    let r = common::send(client().get(&small_url)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(digest(&r.bytes().await.unwrap()), small_digest);

    // Outside the allow list: refused with the reason.
    let r = common::send(client().get(format!("{}/v2/tok.example/other/x/manifests/v1", reg.url)))
        .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("allow list"));
    front.stop();
    reg.stop().await;
    upstream.stop().await;
}

/// podman (its own storage in a temp dir, vfs) pulls a multi-arch index
/// through a labreg that serves TLS (trusted with `--cert-dir`) and mirrors
/// a plain labreg upstream under `docker.io/`: the index's digest, as
/// pushed, and the platform image podman picked, stored under its name.
#[tokio::test(flavor = "multi_thread")]
async fn podman_pulls_a_multi_arch_index_through_the_mirror() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let (upstream, pushed) = upstream_with_index(d, "library/nginx", "1.27", "podman").await;
    let ca = Ca::new("podman mirror CA");
    let (crt, key) = ca.server(&["127.0.0.1"]).write(d);
    let certs = ca.write_cert_dir(&d.join("certs"));
    let mirrors = format!(
        "labreg:\n  mirrors:\n    - prefix: docker.io/\n      url: {}\n",
        upstream.url
    );
    let reg = TestRegistry::start(&format!(
        "http:\n  tls:\n    certificate: {}\n    key: {}\n{mirrors}",
        crt.display(),
        key.display(),
    ))
    .await;
    let image = format!("{}/docker.io/nginx:1.27", reg.host());
    let (root, runroot) = (d.join("root"), d.join("run"));
    let iso = [
        "--root",
        root.to_str().unwrap(),
        "--runroot",
        runroot.to_str().unwrap(),
        "--storage-driver",
        "vfs",
    ];
    let podman = |args: &[&str]| {
        let all: Vec<String> = iso.iter().chain(args).map(|s| s.to_string()).collect();
        async move {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            run("podman", &refs).await
        }
    };
    let cert_dir = format!("--cert-dir={}", certs.display());
    podman(&["pull", "--quiet", "--arch", "arm64", &cert_dir, &image]).await;
    let got = podman(&["image", "inspect", "--format", "{{.Digest}}", &image]).await;
    assert_eq!(got.trim(), pushed);
    let arch = podman(&["image", "inspect", "--format", "{{.Architecture}}", &image]).await;
    assert_eq!(arch.trim(), "arm64");
    // The index and the arm64 image are cached under docker.io/library/nginx.
    let cached = reg.root.join(
        "docker/registry/v2/repositories/docker.io/library/nginx/_manifests/revisions/sha256",
    );
    assert!(
        cached.join(pushed.trim_start_matches("sha256:")).is_dir(),
        "{}",
        cached.display()
    );
    upstream.stop().await;

    // `labreg check`: the cached index whose amd64 image was never pulled
    // is sound; garbage collection keeps what was cached, and the cache
    // still serves it with the upstream gone.
    let config = d.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n{mirrors}",
            reg.root.display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (code, out, err) = run_labreg(&["check", config], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("sound:") && out.contains("references of mirrored manifests not pulled yet"),
        "{out}"
    );
    let (code, out, err) = run_labreg(&["garbage-collect", "--grace", "0s", config], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_labreg(&["check", config], &[]);
    assert_eq!(code, 0, "after gc: {out}{err}");
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("--cert-dir={}", certs.display()),
            "--override-arch",
            "arm64",
            &format!("docker://{}/docker.io/nginx:1.27", reg.host()),
        ],
    )
    .await;
    assert_eq!(digest(raw.as_bytes()), pushed);
    let out = d.join("after-gc");
    skopeo_copy_with(
        &[
            &format!("--src-cert-dir={}", certs.display()),
            "--override-arch",
            "arm64",
        ],
        &format!("docker://{}/docker.io/nginx:1.27", reg.host()),
        &format!("oci:{}:x", out.display()),
    )
    .await;
    reg.stop().await;
}
