//! containerd as a node pulls `docker.io/library/...` through labreg's
//! mirror. The upstream standing in for Docker Hub (no internet here) is
//! Debian's docker-registry on loopback with htpasswd and TLS from a CA
//! `openssl req` made; labreg serves TLS with the lab's certificate and
//! mirrors it under `docker.io/`. containerd reads either the hosts.toml
//! node-trust wrote from lab.yaml (`override_path`, the prefix in the
//! path) or the plain one of containerd's docs (labreg's root, and the
//! `?ns=docker.io` query alone selects the mirror).

use std::path::Path;

use crate::common::containerd::Containerd;
use crate::lab::{kubelet_volume, mirroring_lab, sync};
use crate::support::{DistOptions, Distribution, Labreg};

const HUB_USER: &str = "hub";
const HUB_PASSWORD: &str = "Hub-Upstream-Pw-52k";

/// Pushes a one-layer image to the upstream as `library/app:TAG` for each
/// tag; the manifest digest.
fn push_upstream(dir: &Path, certs: &Path, up: u16, tags: &[&str]) -> String {
    let img = crate::up_support::image(dir, "from the upstream");
    let creds = format!("{HUB_USER}:{HUB_PASSWORD}");
    let mut digest = String::new();
    for tag in tags {
        digest = crate::lab::skopeo_push(
            &img,
            &creds,
            certs,
            &dir.join(format!("digest-{tag}")),
            &format!("docker://127.0.0.1:{up}/library/app:{tag}"),
        );
    }
    digest
}

/// The upstream: Debian's docker-registry with htpasswd and TLS from an
/// openssl-made CA, in `dir/upstream` (its key in `tls.key`); the folder
/// of the CA, `certs/ca.crt`.
async fn tls_upstream(dir: &Path) -> (Distribution, std::path::PathBuf) {
    let up_dir = dir.join("upstream");
    let certs = up_dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let (crt, key) = (up_dir.join("tls.crt"), up_dir.join("tls.key"));
    crate::common::openssl::ca_and_leaf(&up_dir, &certs.join("ca.crt"), &crt, &key);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let up = Distribution::start(DistOptions {
        user: Some((HUB_USER, HUB_PASSWORD)),
        tls: Some((read(&crt), read(&key))),
        ..Default::default()
    })
    .await;
    (up, certs)
}

fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_pulls_docker_io_through_the_mirror() {
    let (port, lab) = mirroring_lab("containerd");
    let t = lab.dir.path();
    let addr = format!("127.0.0.1:{port}");

    let (up, certs) = tls_upstream(t).await;
    let ca = certs.join("ca.crt");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let pushed = push_upstream(&t.join("img"), &certs, up.port, &["1", "2"]);

    // labreg: the lab's certificate, docker.io/ mirroring the upstream
    // with its password in a file, as the rendered config mounts it.
    let cert = read(&lab.root().join("certs/127.0.0.1.crt"));
    let out = lab.get_secret("certs/127.0.0.1.key");
    let password_file = t.join("hub-password");
    std::fs::write(&password_file, HUB_PASSWORD).unwrap();
    let reg = Labreg::start_with(&DistOptions {
        tls: Some((cert, String::from_utf8(out.stdout).unwrap())),
        port: Some(port),
        labreg_extra: format!(
            "labreg:\n  mirrors:\n    - prefix: docker.io/\n      url: https://127.0.0.1:{}\n      username: {HUB_USER}\n      password_file: {}\n      ca: {}\n",
            up.port,
            password_file.display(),
            ca.display()
        ),
        ..Default::default()
    })
    .await;

    // The node's files, as the DaemonSet writes them from lab.yaml.
    let host = t.join("node");
    let vol = t.join("volume");
    kubelet_volume(&lab, &vol, 1);
    let s = sync(&lab, &vol, &host);
    assert_eq!(s.code, 0, "{}", s.stdout);
    let certs_d = host.join("etc/containerd/certs.d");
    let written = std::fs::read_to_string(certs_d.join("docker.io/hosts.toml")).unwrap();
    assert!(
        written.contains(&format!("[host.\"https://{addr}/v2/docker.io\"]")),
        "{written}"
    );

    let ctrd = Containerd::start();
    // Through node-trust's hosts.toml: /v2/docker.io/library/app/...?ns=docker.io
    let (ok, out) = ctrd.pull(&certs_d, "nobody:none", "docker.io/library/app:1");
    assert!(ok, "{out}\n{}", ctrd.log());
    assert_eq!(ctrd.image_digest("docker.io/library/app:1"), pushed);

    // Through containerd's documented form: labreg's root as the mirror,
    // so only `?ns=docker.io` tells labreg which upstream
    // (/v2/library/app/manifests/2?ns=docker.io).
    let plain = t.join("hosts-plain");
    std::fs::create_dir_all(plain.join("docker.io")).unwrap();
    std::fs::write(
        plain.join("docker.io/hosts.toml"),
        format!(
            "server = \"https://registry-1.docker.io\"\n\n[host.\"https://{addr}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"{}\"\n",
            lab.root().join("certs/ca.crt").display()
        ),
    )
    .unwrap();
    let (ok, out) = ctrd.pull(&plain, "nobody:none", "docker.io/library/app:2");
    assert!(ok, "{out}\n{}", ctrd.log());
    assert_eq!(ctrd.image_digest("docker.io/library/app:2"), pushed);

    // labreg's mirror served both (the real registry-1.docker.io is not
    // reachable from here), cached under docker.io/, nothing under a
    // local library/.
    let metrics = reg.mirror_metrics();
    let name = |n: &str| format!("{n}{{upstream=\"https://127.0.0.1:{}\"}}", up.port);
    assert!(
        counter(&metrics, &name("labreg_mirror_misses_total")) >= 2,
        "{metrics}"
    );
    assert!(
        counter(&metrics, &name("labreg_mirror_upstream_bytes_total")) > 0,
        "{metrics}"
    );
    assert_eq!(
        counter(&metrics, &name("labreg_mirror_upstream_errors_total")),
        0
    );
    let repos = reg.dir.path().join("data/docker/registry/v2/repositories");
    assert!(repos.join("docker.io/library/app/_manifests").is_dir());
    assert!(!repos.join("library").exists());
    up.stop().await;
}

/// lab.yaml's `ca:` for a mirror whose upstream has a CA of its own (made
/// by openssl): `labctl up` runs labreg with it and skopeo pulls through
/// it. Without it the pull fails on the upstream's certificate; a file
/// that holds no certificate stops `up` before anything starts, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn up_mirrors_an_upstream_with_its_own_ca() {
    use crate::up_support::{demo_password, down, example_lab, labctl, run_both};
    let lab_dir = example_lab();
    let lab = lab_dir.path();
    let (up, certs) = tls_upstream(lab).await;
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let pushed = push_upstream(&lab.join("img"), &certs, up.port, &["1"]);
    // The upstream's password, stored as lab.yaml's secret: reference.
    let demo_key = lab.join("demo/age-identity.txt");
    let mut set = labctl(lab);
    set.env("LABCTL_AGE_KEY_FILE", &demo_key)
        .args(["secrets", "set", "mirrors/hub"]);
    let (code, _, err) = crate::common::run_stdin(&mut set, HUB_PASSWORD);
    assert_eq!(code, 0, "{err}");

    let yaml = read(&lab.join("lab.yaml"));
    let with_mirror = |ca: &str| {
        let entry = format!(
            "  mirrors:\n    - {{name: hub.test, url: \"https://127.0.0.1:{}\", username: {HUB_USER}, password: secret:mirrors/hub{ca}}}\n",
            up.port
        );
        let text = yaml.replacen("  replicas: 1\n", &format!("  replicas: 1\n{entry}"), 1);
        assert_ne!(text, yaml);
        std::fs::write(lab.join("lab.yaml"), text).unwrap();
    };
    let port = crate::common::free_port().to_string();
    let up_cmd = || {
        let mut c = labctl(lab);
        c.env("LABCTL_AGE_KEY_FILE", &demo_key)
            .args(["up", "--detach", "--port", &port]);
        c
    };
    let creds = format!("admin:{}", demo_password(lab));
    let cert_dir = lab.join(format!(".lab/certs.d/127.0.0.1:{port}"));
    let inspect = |cmd: &mut std::process::Command| {
        cmd.args(["inspect", "--creds", &creds, "--cert-dir"])
            .arg(&cert_dir)
            .arg(format!("docker://127.0.0.1:{port}/hub.test/library/app:1"))
            .output()
            .unwrap()
    };
    let manifest_answer = || {
        let out = crate::common::tool("curl")
            .args(["-s", "--cacert"])
            .arg(lab.join("certs/ca.crt"))
            .args(["-u", &creds])
            .arg(format!(
                "https://127.0.0.1:{port}/v2/hub.test/library/app/manifests/1"
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    // A key given as the CA: refused before labreg starts.
    with_mirror(", ca: upstream/tls.key");
    let out = up_cmd().output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("upstream/tls.key holds no PEM certificate")
            && err.contains("BEGIN CERTIFICATE"),
        "{err}"
    );
    assert!(!lab.join(".lab/up.json").exists());

    // No CA: labreg answers, naming the upstream's certificate.
    with_mirror("");
    run_both(&mut up_cmd());
    let out = inspect(&mut crate::common::tool("skopeo"));
    assert!(
        !out.status.success(),
        "pulled without trusting the upstream"
    );
    // skopeo shows the status only; the answer names the cause.
    let answer = manifest_answer();
    assert!(
        answer.contains(&format!("https://127.0.0.1:{}", up.port))
            && answer.contains("certificate"),
        "{answer}"
    );
    down(lab);

    // The upstream's CA, as openssl made it.
    with_mirror(", ca: upstream/certs/ca.crt");
    run_both(&mut up_cmd());
    let out = inspect(&mut crate::common::tool("skopeo"));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        manifest_answer()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"], pushed.as_str());
    down(lab);
}
