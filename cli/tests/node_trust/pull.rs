//! containerd and skopeo pull from labreg through what the node-trust
//! DaemonSet wrote, before and after the CA rotates and the host changes.

use std::path::Path;

use crate::common::containerd::Containerd;
use crate::lab::{ADMIN, kubelet_volume, labreg, mirroring_lab, node_port, push, sync, under};

/// The same kind of image twice: under its own name and under the mirror's
/// prefix for docker.io; their digests.
fn push_own_and_mirrored(t: &Path, cert_dir: &Path, addr: &str) -> (String, String) {
    let own = push(
        &t.join("i1"),
        cert_dir,
        "own",
        &format!("docker://{addr}/demo/app:1"),
    );
    let mirrored = format!("docker://{addr}/docker.io/library/app:1");
    let hub = push(&t.join("i2"), cert_dir, "mirrored", &mirrored);
    (own, hub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_pulls_through_the_files_node_trust_wrote() {
    let (p1, lab) = mirroring_lab("containerd");
    let t = lab.dir.path();
    let host = t.join("node");
    let certs_d = host.join("etc/containerd/certs.d");
    // Someone else's file in the same folder: never touched.
    let foreign = certs_d.join("other.example:5000/hosts.toml");
    std::fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    std::fs::write(&foreign, "server = \"https://other.example:5000\"\n").unwrap();

    // First run: every file of the ConfigMap, byte for byte.
    let vol = t.join("volume");
    let files = kubelet_volume(&lab, &vol, 1);
    let s = sync(&lab, &vol, &host);
    assert_eq!(s.code, 0, "{}", s.stdout);
    let addr = format!("127.0.0.1:{p1}");
    let ca = std::fs::read_to_string(lab.root().join("certs/ca.crt")).unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    for (path, contents) in &files {
        assert_eq!(
            &std::fs::read_to_string(under(&host, path)).unwrap(),
            contents
        );
        assert!(
            s.stdout.contains(&format!("wrote    {path}")),
            "{}",
            s.stdout
        );
    }
    assert_eq!(
        std::fs::read_to_string(certs_d.join(&addr).join("ca.crt")).unwrap(),
        ca
    );

    // labreg over TLS with htpasswd, and images in it.
    let reg = labreg(&lab, p1).await;
    let cert_dir = certs_d.join(&addr);
    let (own, hub) = push_own_and_mirrored(t, &cert_dir, &addr);

    let ctrd = Containerd::start();
    let creds = format!("admin:{ADMIN}");
    // Through what node-trust wrote.
    let image = format!("{addr}/demo/app:1");
    let (ok, out) = ctrd.pull(&certs_d, &creds, &image);
    assert!(ok, "{out}\n{}", ctrd.log());
    assert_eq!(ctrd.image_digest(&image), own);
    // docker.io through the mirror entry (this machine has no internet:
    // only labreg can answer).
    let image = "docker.io/library/app:1";
    let (ok, out) = ctrd.pull(&certs_d, &creds, image);
    assert!(ok, "{out}\n{}", ctrd.log());
    assert_eq!(ctrd.image_digest(image), hub);

    // The CA rotates and labreg gets the new certificate (it reloads it):
    // the nodes' old ca.crt no longer verifies it, the classic failure.
    lab.cmd().args(["certs", "--new-ca"]).assert().success();
    let cert = std::fs::read(lab.root().join("certs/127.0.0.1.crt")).unwrap();
    let key = lab.get_secret("certs/127.0.0.1.key").stdout;
    std::fs::write(reg.dir.path().join("tls.key"), key).unwrap();
    std::fs::write(reg.dir.path().join("tls.crt"), cert).unwrap();
    let image = format!("{addr}/demo/app:1");
    let mut refused = String::new();
    for _ in 0..100 {
        let (ok, out) = ctrd.pull(&certs_d, &creds, &image);
        if !ok {
            refused = out;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        refused.contains("x509") || refused.contains("certificate"),
        "{refused}"
    );

    // The ConfigMap changes, node-trust updates ca.crt and nothing else,
    // and the pull works again.
    crate::common::render::render(&lab);
    let files2 = kubelet_volume(&lab, &vol, 2);
    let s = sync(&lab, &vol, &host);
    assert_eq!(s.code, 0, "{}", s.stdout);
    let new_ca = std::fs::read_to_string(lab.root().join("certs/ca.crt")).unwrap();
    assert_ne!(new_ca, ca);
    let ca_path = format!("/etc/containerd/certs.d/{addr}/ca.crt");
    assert_eq!(
        s.stdout.trim(),
        format!("updated  {ca_path}"),
        "only the CA changes"
    );
    assert_eq!(
        std::fs::read_to_string(under(&host, &ca_path)).unwrap(),
        new_ca
    );
    assert_eq!(files2.len(), 3);
    let (ok, out) = ctrd.pull(&certs_d, &creds, &image);
    assert!(ok, "{out}\n{}", ctrd.log());
    drop(reg);

    // The registry moves to another port: the old host's files and the
    // folder labctl made for them go, the new host's come.
    let p2 = node_port();
    let yaml = std::fs::read_to_string(lab.root().join("lab.yaml")).unwrap();
    std::fs::write(
        lab.root().join("lab.yaml"),
        yaml.replace(&format!("nodePort: {p1}"), &format!("nodePort: {p2}")),
    )
    .unwrap();
    crate::common::render::render(&lab);
    kubelet_volume(&lab, &vol, 3);
    let s = sync(&lab, &vol, &host);
    assert_eq!(s.code, 0, "{}", s.stdout);
    let addr2 = format!("127.0.0.1:{p2}");
    assert!(!certs_d.join(&addr).exists(), "{}", s.stdout);
    for f in ["hosts.toml", "ca.crt"] {
        assert!(
            s.stdout
                .contains(&format!("removed  /etc/containerd/certs.d/{addr}/{f}")),
            "{}",
            s.stdout
        );
        assert!(certs_d.join(&addr2).join(f).is_file());
    }
    assert!(
        s.stdout
            .contains("updated  /etc/containerd/certs.d/docker.io/hosts.toml")
    );
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "server = \"https://other.example:5000\"\n"
    );

    // containerd pulls from the new registry (the new CA) through them.
    let _reg2 = labreg(&lab, p2).await;
    let cert_dir = certs_d.join(&addr2);
    let digest = push(
        &t.join("i3"),
        &cert_dir,
        "after",
        &format!("docker://{addr2}/demo/app:2"),
    );
    let image = format!("{addr2}/demo/app:2");
    let (ok, out) = ctrd.pull(&certs_d, &creds, &image);
    assert!(ok, "{out}\n{}", ctrd.log());
    assert_eq!(ctrd.image_digest(&image), digest);

    // A second sync changes nothing.
    let s = sync(&lab, &vol, &host);
    assert_eq!((s.code, s.stdout.trim()), (0, "in sync: 3 files unchanged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_reads_the_cri_o_drop_in() {
    let (port, lab) = mirroring_lab("cri-o");
    let t = lab.dir.path();
    let host = t.join("node");
    let vol = t.join("volume");
    let files = kubelet_volume(&lab, &vol, 1);
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let addr = format!("127.0.0.1:{port}");
    let conf = "/etc/containers/registries.conf.d/50-labctl-nodelab.conf";
    assert_eq!(
        paths,
        [
            conf.to_string(),
            format!("/etc/containers/certs.d/{addr}/ca.crt")
        ]
    );
    let s = sync(&lab, &vol, &host);
    assert_eq!(s.code, 0, "{}", s.stdout);
    assert!(s.stdout.contains("systemctl reload crio"), "{}", s.stdout);

    let _reg = labreg(&lab, port).await;
    let cert_dir = host.join(format!("etc/containers/certs.d/{addr}"));
    let (own, hub) = push_own_and_mirrored(t, &cert_dir, &addr);
    // Credentials by registry, as CRI-O gets them from the kubelet.
    let auth = t.join("auth.json");
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN}"));
    std::fs::write(
        &auth,
        format!("{{\"auths\":{{\"{addr}\":{{\"auth\":\"{token}\"}}}}}}"),
    )
    .unwrap();
    let inspect = |image: &str| {
        crate::up_support::skopeo(&[
            "inspect",
            "--registries-conf",
            &crate::lab::under(&host, conf).display().to_string(),
            "--cert-dir",
            &cert_dir.display().to_string(),
            "--authfile",
            &auth.display().to_string(),
            "--no-tags",
            "--format",
            "{{.Digest}}",
            image,
        ])
        .trim()
        .to_string()
    };
    assert_eq!(inspect(&format!("docker://{addr}/demo/app:1")), own);
    // docker.io through the drop-in's mirror (no internet here).
    assert_eq!(inspect("docker://docker.io/library/app:1"), hub);
}
