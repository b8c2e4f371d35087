//! `labctl diff` against a fake API server that speaks the Kubernetes wire
//! protocol (testkit/src/cli/fake_kube/; no real API server can run here),
//! and `labctl diff --against git`.
//!
//! One lab serves every case: the nodeport lab of the render tests, plus a
//! template override that also renders a plain Secret, so that Secret
//! masking is exercised end to end.

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use common::TempLab;
use common::fake_kube::{self, Cluster, Shared, TOKEN};
use common::render::{lab, nodeport_self_signed, render};
use serde_json::{Value, json};

const SECRET_VALUE: &str = "s3cr3t-token-v2";

fn shared_lab() -> &'static TempLab {
    static LAB: OnceLock<TempLab> = OnceLock::new();
    LAB.get_or_init(|| {
        // Without nodes: its ConfigMap holds the lab's CA, made anew by
        // each run, which the snapshots here cannot hold.
        let manifest = nodeport_self_signed();
        let lab = lab(manifest.split("nodes:\n").next().unwrap());
        let builtin = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../templates/registry/namespace.yaml.tera"),
        )
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
        let t = lab.root().join("templates/registry");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(
            t.join("namespace.yaml.tera"),
            format!(
                "{builtin}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: api-token\n  namespace: registry\n  labels:\n    labctl.io/lab: {{{{ lab.name }}}}\ntype: Opaque\ndata:\n  token: {b64}\n  user: YWRtaW4=\n"
            ),
        )
        .unwrap();
        render(&lab);
        lab
    })
}

/// A fake cluster; `seeded` fills it with what render wrote, as live.
fn cluster(seeded: bool) -> Shared {
    let c: Shared = Arc::new(Mutex::new(Cluster::default()));
    if seeded {
        fake_kube::seed_from(&c, &shared_lab().root().join("apps"));
    }
    c
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn diff(c: &Shared, token: &str, extra: &[&str]) -> Run {
    let url = fake_kube::serve(c.clone());
    run_with(&url, token, extra)
}

fn run_with(url: &str, token: &str, extra: &[&str]) -> Run {
    let kc = fake_kube::kubeconfig(shared_lab().dir.path(), url, token);
    let mut args = vec!["--kubeconfig", kc.to_str().unwrap()];
    args.extend(extra);
    run(&args, None)
}

/// `labctl diff ARGS`, with KUBECONFIG set to `kubeconfig` if given.
fn run(args: &[&str], kubeconfig: Option<&std::path::Path>) -> Run {
    let mut cmd = shared_lab().cmd();
    cmd.env_remove("NO_COLOR").env_remove("KUBECONFIG");
    if let Some(kc) = kubeconfig {
        cmd.env("KUBECONFIG", kc);
    }
    let out = cmd.arg("diff").args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// What a run printed on stdout, after its exit status, for a snapshot.
fn shown(run: &Run) -> String {
    format!("exit {}\n{}", run.code, fake_kube::redact(&run.stdout))
}

fn assert_no_secret(run: &Run) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(SECRET_VALUE);
    for needle in [SECRET_VALUE, b64.as_str(), "b2xkLXRva2Vu"] {
        assert!(
            !run.stdout.contains(needle),
            "{needle} shown:\n{}",
            run.stdout
        );
    }
}

fn set(c: &Shared, key: &str, pointer: &str, v: Value) {
    let mut c = c.lock().unwrap();
    let obj = c.objects.get_mut(key).unwrap_or_else(|| panic!("no {key}"));
    *obj.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = v;
}

#[test]
fn empty_cluster_is_all_additions() {
    let c = cluster(false);
    let run = diff(&c, TOKEN, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_no_secret(&run);
    insta::assert_snapshot!(shown(&run));
    assert!(
        !c.lock()
            .unwrap()
            .requests
            .iter()
            .any(|r| r.starts_with("PATCH") && !r.contains("dryRun=All")),
        "every apply is a dry run"
    );
}

#[test]
fn identical_cluster_prints_only_the_summary() {
    let c = cluster(true);
    let run = diff(&c, TOKEN, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    insta::assert_snapshot!(run.stdout, @"render against the cluster: 0 added, 0 changed, 0 deleted, 12 unchanged");
    let reqs = c.lock().unwrap().requests.clone();
    assert!(
        reqs.iter().any(|r| r
            .starts_with("PATCH /apis/apps/v1/namespaces/registry/deployments/registry?")
            && r.contains("dryRun=All")
            && r.contains("fieldManager=labctl")),
        "{reqs:#?}"
    );
    assert!(
        reqs.iter()
            .any(|r| r.contains("labelSelector=labctl.io%2Flab%3Dtestlab")
                || r.contains("labelSelector=labctl.io/lab=testlab")),
        "{reqs:#?}"
    );
}

#[test]
fn one_changed_field_and_a_server_default() {
    let c = cluster(true);
    set(
        &c,
        "apps/deployments/registry/registry",
        "/spec/replicas",
        json!(3),
    );
    // Defaulted by the server, absent from render: not a change.
    let live = c.lock().unwrap().objects["apps/deployments/registry/registry"].clone();
    assert_eq!(live["spec"]["progressDeadlineSeconds"], 600);
    let run = diff(&c, TOKEN, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        !run.stdout.contains("-  progressDeadlineSeconds"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("clusterIP"), "{}", run.stdout);
    insta::assert_snapshot!(shown(&run));
}

#[test]
fn changed_secret_value_is_masked() {
    let c = cluster(true);
    let old = base64::engine::general_purpose::STANDARD.encode("old-token");
    set(&c, "/secrets/registry/api-token", "/data/token", json!(old));
    let run = diff(&c, TOKEN, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_no_secret(&run);
    insta::assert_snapshot!(shown(&run));
}

#[test]
fn resealed_secret_with_the_same_fingerprint_is_no_change() {
    let c = cluster(true);
    set(
        &c,
        "bitnami.com/sealedsecrets/registry/registry-htpasswd",
        "/spec/encryptedData/htpasswd",
        json!("AgBother-ciphertext-sealed-by-an-earlier-render"),
    );
    let run = diff(&c, TOKEN, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn object_no_longer_rendered_is_a_deletion() {
    let c = cluster(true);
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "old-bucket-job", "namespace": "registry",
            "labels": {"labctl.io/lab": "testlab", "app.kubernetes.io/managed-by": "labctl"}},
        "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
            "containers": [{"name": "mc", "image": "minio/mc"}]}}}});
    let owned = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "made-by-controller", "namespace": "registry",
            "labels": {"labctl.io/lab": "testlab"},
            "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "name": "x", "uid": "u"}]},
        "data": {"k": "eA=="}});
    let other = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "another-lab", "namespace": "registry", "labels": {"labctl.io/lab": "otherlab"}}});
    {
        let mut g = c.lock().unwrap();
        for o in [job, owned, other] {
            g.objects
                .insert(fake_kube::key_of(&o), fake_kube::as_live(o));
        }
    }
    let run = diff(&c, TOKEN, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!(shown(&run));
}

#[test]
fn forbidden_kind_is_named_and_the_rest_compared() {
    let c = cluster(true);
    c.lock().unwrap().forbidden.push("applications".into());
    set(
        &c,
        "apps/deployments/registry/registry",
        "/spec/replicas",
        json!(4),
    );
    let run = diff(&c, TOKEN, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    insta::assert_snapshot!(shown(&run));
}

#[test]
fn expired_credentials_exit_2_and_say_so() {
    let c = cluster(true);
    let run = diff(&c, "expired-token", &[]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    insta::assert_snapshot!(fake_kube::redact(&run.stderr));
}

#[test]
fn unreachable_api_server_exits_2_and_says_so() {
    // Port 1 (tcpmux) has no listener on a test machine.
    let run = run_with("http://127.0.0.1:1", TOKEN, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("cannot reach the API server at http://127.0.0.1:1/"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("help: check that the cluster runs"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_output_parses() {
    let c = cluster(true);
    set(
        &c,
        "apps/deployments/registry/registry",
        "/spec/replicas",
        json!(2),
    );
    let run = diff(&c, TOKEN, &["--output", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["against"], "cluster");
    assert_eq!(v["summary"]["changed"], 1);
    assert_eq!(v["summary"]["unchanged"], 11);
    let changed: Vec<&Value> = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["change"] == "changed")
        .collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["kind"], "Deployment");
    assert_eq!(changed[0]["namespace"], "registry");
    assert!(
        changed[0]["diff"]
            .as_str()
            .unwrap()
            .contains("+  replicas: 1")
    );
}

#[test]
fn against_git_compares_with_apps_and_writes_nothing() {
    let lab = shared_lab();
    let git = |extra: &[&str]| {
        lab.cmd()
            .args(["diff", "--against", "git"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = git(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "render against apps/: 0 added, 0 changed, 0 deleted, 12 unchanged\n"
    );

    // A copy of the lab whose apps/ drifted: one edit, one stray file.
    let copy = TempLab::new("");
    common::run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(lab.root().join("."))
            .arg(copy.root()),
    );
    let svc = copy.root().join("apps/registry/service.yaml");
    let text = std::fs::read_to_string(&svc)
        .unwrap()
        .replace("nodePort: 30500", "nodePort: 30501");
    std::fs::write(&svc, text).unwrap();
    std::fs::write(
        copy.root().join("apps/registry/stray.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: registry\n",
    )
    .unwrap();
    let before = common::render::files(&copy.root().join("apps"));
    let out = copy
        .cmd()
        .args(["diff", "--against", "git"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(format!(
        "exit 1\n{}",
        fake_kube::redact(&String::from_utf8_lossy(&out.stdout))
    ));
    assert_eq!(
        common::render::files(&copy.root().join("apps")),
        before,
        "nothing written"
    );
}

#[test]
fn context_and_kubeconfig_choose_the_cluster_as_kubectl_does() {
    let c = cluster(true);
    let url = fake_kube::serve(c.clone());
    let kc = shared_lab().dir.path().join("kubeconfig-two-contexts");
    // The current context is a dead cluster; `--context fake` picks the fake.
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1
kind: Config
current-context: dead
clusters:
- {{name: dead, cluster: {{server: 'http://127.0.0.1:1'}}}}
- {{name: fake, cluster: {{server: '{url}'}}}}
users:
- {{name: u, user: {{token: {TOKEN}}}}}
contexts:
- {{name: dead, context: {{cluster: dead, user: u}}}}
- {{name: fake, context: {{cluster: fake, user: u}}}}
"
        ),
    )
    .unwrap();
    let ok = run(
        &["--kubeconfig", kc.to_str().unwrap(), "--context", "fake"],
        None,
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let ok = run(&["--context", "fake"], Some(&kc));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let dead = run(&[], Some(&kc));
    assert_eq!(dead.code, 2);
    assert!(
        dead.stderr
            .contains("cannot reach the API server at http://127.0.0.1:1/"),
        "{}",
        dead.stderr
    );
}
