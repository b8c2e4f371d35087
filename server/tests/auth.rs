//! htpasswd authentication and labreg's access rules, held on every
//! endpoint.

mod common;

use base64::Engine;
use common::tools::run;
use common::{TestRegistry, digest};
use reqwest::StatusCode;
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn basic(user: &str, pw: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

/// An htpasswd file made by Apache's own `htpasswd -B` (interop), cost 10.
async fn htpasswd_file(dir: &std::path::Path, users: &[(&str, &str)]) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    common::tools::htpasswd_file(&path, 10, users).await;
    path
}

/// The status of `GET /v2/` as `user` with `pw`.
async fn v2_as(reg: &TestRegistry, user: &str, pw: &str) -> StatusCode {
    Req::new(reg, Some((user, pw)))
        .status(reqwest::Method::GET, "/v2/")
        .await
}

struct Req<'a> {
    reg: &'a TestRegistry,
    auth: Option<String>,
}

impl Req<'_> {
    fn new<'r>(reg: &'r TestRegistry, user: Option<(&str, &str)>) -> Req<'r> {
        Req {
            reg,
            auth: user.map(|(u, p)| basic(u, p)),
        }
    }

    fn send(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = common::client().request(method, format!("{}{path}", self.reg.url));
        match &self.auth {
            Some(a) => rb.header("authorization", a),
            None => rb,
        }
    }

    async fn status(&self, method: reqwest::Method, path: &str) -> StatusCode {
        self.send(method, path).send().await.unwrap().status()
    }

    /// The status of `HEAD /v2/NAME/blobs/DIGEST`.
    async fn blob_status(&self, name: &str, digest: &str) -> StatusCode {
        let path = format!("/v2/{name}/blobs/{digest}");
        self.status(reqwest::Method::HEAD, &path).await
    }

    async fn push_image(&self, name: &str, tag: &str) -> (String, String) {
        let layer = format!("layer of {name}");
        let config = format!("{{\"name\":\"{name}\"}}");
        for data in [&layer, &config] {
            let resp = self
                .send(
                    reqwest::Method::POST,
                    &format!(
                        "/v2/{name}/blobs/uploads/?digest={}",
                        digest(data.as_bytes())
                    ),
                )
                .body(data.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED, "push to {name}");
        }
        let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config.as_bytes()), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer.as_bytes()), "size": layer.len()}]});
        let resp = self
            .send(reqwest::Method::PUT, &format!("/v2/{name}/manifests/{tag}"))
            .header("content-type", OCI_MANIFEST)
            .body(serde_json::to_vec(&m).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        (
            digest(layer.as_bytes()),
            resp.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_string(),
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn htpasswd_challenge_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd_file(dir.path(), &[("admin", "2secret")]).await;
    let reg = TestRegistry::start(&format!(
        "auth:\n  htpasswd:\n    realm: Registry Realm\n    path: {}\n",
        file.display()
    ))
    .await;
    let resp = common::send(common::client().get(format!("{}/v2/", reg.url))).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Basic realm=\"Registry Realm\""
    );
    assert_eq!(
        resp.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
    assert_eq!(v2_as(&reg, "admin", "2secret").await, StatusCode::OK);
    assert_eq!(
        v2_as(&reg, "admin", "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        v2_as(&reg, "nobody", "2secret").await,
        StatusCode::UNAUTHORIZED
    );
    // Without access rules, a signed-in user may do everything, anonymous nothing.
    Req::new(&reg, Some(("admin", "2secret")))
        .push_image("any/thing", "v1")
        .await;
    for path in [
        "/v2/_catalog",
        "/v2/any/thing/tags/list",
        "/v2/any/thing/manifests/v1",
    ] {
        assert_eq!(
            Req::new(&reg, None)
                .status(reqwest::Method::GET, path)
                .await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }

    // Malformed Authorization headers: 401 with the challenge, never a 5xx.
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let bad_headers: Vec<Vec<u8>> = vec![
        b"Basic".to_vec(),
        b"Basic !!!notbase64".to_vec(),
        format!("Basic {}", b64(b"no-colon")).into_bytes(),
        format!("Basic {}", b64(b"\xff\xfe:2secret")).into_bytes(),
        format!("Basic {}", b64(b"admin:\xff")).into_bytes(),
        b"Bearer abc.def.ghi".to_vec(),
        b"Digest username=\"admin\"".to_vec(),
        format!("Basic {}", "A".repeat(6000)).into_bytes(),
        b"\xffBasic".to_vec(),
    ];
    for h in bad_headers {
        let head = [
            b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ".to_vec(),
            h.clone(),
            b"\r\n\r\n".to_vec(),
        ]
        .concat();
        let (status, body) = common::raw_request(reg.addr, &head).await;
        assert_eq!(status, 401, "{}", String::from_utf8_lossy(&h));
        assert!(body.contains("UNAUTHORIZED"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn htpasswd_changes_apply_without_restart_and_broken_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd_file(dir.path(), &[("alice", "a")]).await;
    let alice_line = std::fs::read_to_string(&file).unwrap();
    // A broken line and a non-bcrypt one do not stop the others.
    std::fs::write(
        &file,
        format!("garbage line\nmd5user:$apr1$x$y\n{alice_line}"),
    )
    .unwrap();
    let reg = TestRegistry::start(&format!(
        "auth:\n  htpasswd:\n    realm: r\n    path: {}\n",
        file.display()
    ))
    .await;
    assert_eq!(v2_as(&reg, "alice", "a").await, StatusCode::OK);
    assert_eq!(v2_as(&reg, "bob", "b").await, StatusCode::UNAUTHORIZED);
    let bob = run("htpasswd", &["-Bbn", "-C", "10", "bob", "b"]).await;
    std::fs::write(&file, format!("{alice_line}{}\n", bob.trim())).unwrap();
    let mut ok = false;
    for _ in 0..60 {
        if v2_as(&reg, "bob", "b").await == StatusCode::OK {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "a user added to the file logs in without restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_rules_hold_on_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd_file(
        dir.path(),
        &[("admin", "pa"), ("alice", "pb"), ("carol", "pc")],
    )
    .await;
    let reg = TestRegistry::start(&format!(
        "  delete:\n    enabled: true\nauth:\n  htpasswd:\n    realm: r\n    path: {}\nlabreg:\n  access:\n    - users: [admin]\n      repositories: ['*']\n      actions: [pull, push, delete]\n    - users: [alice]\n      repositories: ['team/*']\n      actions: [pull]\n    - users: [carol]\n      repositories: ['team/*']\n      actions: [pull, push]\n    - users: [anonymous]\n      repositories: ['public/*']\n      actions: [pull]\n",
        file.display()
    ))
    .await;
    let admin = Req::new(&reg, Some(("admin", "pa")));
    let alice = Req::new(&reg, Some(("alice", "pb")));
    let carol = Req::new(&reg, Some(("carol", "pc")));
    let anon = Req::new(&reg, None);
    let (team_layer, team_m) = admin.push_image("team/app", "v1").await;
    let (other_layer, other_m) = admin.push_image("other/x", "v1").await;
    admin.push_image("public/base", "v1").await;
    use reqwest::Method as M;

    // alice: pull on team/*, nothing else.
    for (m, path, want) in [
        (
            M::GET,
            "/v2/team/app/manifests/v1".to_string(),
            StatusCode::OK,
        ),
        (
            M::HEAD,
            format!("/v2/team/app/manifests/{team_m}"),
            StatusCode::OK,
        ),
        (
            M::GET,
            format!("/v2/team/app/blobs/{team_layer}"),
            StatusCode::OK,
        ),
        (M::GET, "/v2/team/app/tags/list".into(), StatusCode::OK),
        (
            M::GET,
            format!("/v2/team/app/referrers/{team_m}"),
            StatusCode::OK,
        ),
        (
            M::PUT,
            "/v2/team/app/manifests/v2".into(),
            StatusCode::FORBIDDEN,
        ),
        (
            M::POST,
            "/v2/team/app/blobs/uploads/".into(),
            StatusCode::FORBIDDEN,
        ),
        (
            M::PATCH,
            "/v2/team/app/blobs/uploads/00000000-0000-4000-8000-000000000000".into(),
            StatusCode::FORBIDDEN,
        ),
        (
            M::DELETE,
            format!("/v2/team/app/manifests/{team_m}"),
            StatusCode::FORBIDDEN,
        ),
        (
            M::DELETE,
            format!("/v2/team/app/blobs/{team_layer}"),
            StatusCode::FORBIDDEN,
        ),
        (
            M::GET,
            "/v2/other/x/manifests/v1".into(),
            StatusCode::FORBIDDEN,
        ),
        (
            M::HEAD,
            format!("/v2/other/x/blobs/{other_layer}"),
            StatusCode::FORBIDDEN,
        ),
        (
            M::GET,
            "/v2/other/x/tags/list".into(),
            StatusCode::FORBIDDEN,
        ),
        (
            M::GET,
            format!("/v2/other/x/manifests/{other_m}"),
            StatusCode::FORBIDDEN,
        ),
        // A blob of other/x through a repository alice may read, which never had it.
        (
            M::GET,
            format!("/v2/team/app/blobs/{other_layer}"),
            StatusCode::NOT_FOUND,
        ),
        (
            M::GET,
            "/v2/public/base/manifests/v1".into(),
            StatusCode::OK,
        ),
    ] {
        assert_eq!(
            alice.status(m.clone(), &path).await,
            want,
            "alice {m} {path}"
        );
    }
    let resp = alice
        .send(M::PUT, "/v2/team/app/manifests/v2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.json::<Value>().await.unwrap()["errors"][0]["code"],
        "DENIED"
    );

    // The catalog lists only what each may pull.
    let catalog = |r: &Req<'_>| {
        let rb = r.send(M::GET, "/v2/_catalog");
        async move { rb.send().await.unwrap().json::<Value>().await.unwrap()["repositories"].clone() }
    };
    assert_eq!(catalog(&alice).await, json!(["public/base", "team/app"]));
    assert_eq!(
        catalog(&admin).await,
        json!(["other/x", "public/base", "team/app"])
    );
    assert_eq!(catalog(&anon).await, json!(["public/base"]));

    // carol may push to team/* but not read other/x: a mount from there
    // falls back to an upload instead of linking the blob.
    let mount = |to: &str, layer: &str, from: &str| {
        let path = format!("/v2/{to}/blobs/uploads/?mount={layer}&from={from}");
        let carol = &carol;
        async move { carol.status(M::POST, &path).await }
    };
    assert_eq!(
        mount("team/app", &other_layer, "other/x").await,
        StatusCode::ACCEPTED,
        "no mount from an unreadable repository"
    );
    assert_eq!(
        carol.blob_status("team/app", &other_layer).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        mount("team/new", &team_layer, "team/app").await,
        StatusCode::CREATED,
        "a mount within her rights works"
    );

    // Anonymous: public pulls only; /v2/ still asks for credentials.
    assert_eq!(
        anon.status(M::GET, "/v2/public/base/manifests/v1").await,
        StatusCode::OK
    );
    assert_eq!(anon.status(M::GET, "/v2/").await, StatusCode::UNAUTHORIZED);
    for (m, path) in [
        (M::GET, "/v2/team/app/manifests/v1".to_string()),
        (M::POST, "/v2/public/base/blobs/uploads/".into()),
        (M::OPTIONS, "/v2/team/app/tags/list".into()),
        (M::DELETE, "/v2/public/base/manifests/v1".into()),
    ] {
        let resp = anon.send(m.clone(), &path).send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous {m} {path}"
        );
        assert!(resp.headers().contains_key("www-authenticate"));
    }
}

/// Thirty-odd ways to read or write without the right: every endpoint and
/// method, anonymous and signed in, path tricks, a blob of another repository
/// through one that never had it, a mount from an unreadable repository.
/// None succeeds, and none returns the protected bytes.
#[tokio::test(flavor = "multi_thread")]
async fn no_way_in_without_the_right() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd_file(dir.path(), &[("admin", "pa"), ("alice", "pb")]).await;
    let reg = TestRegistry::start(&format!(
        "  delete:\n    enabled: true\nauth:\n  htpasswd:\n    realm: r\n    path: {}\nlabreg:\n  access:\n    - users: [admin]\n      repositories: ['*']\n      actions: [pull, push, delete]\n    - users: [alice]\n      repositories: ['team/*']\n      actions: [pull, push]\n",
        file.display()
    ))
    .await;
    let admin = Req::new(&reg, Some(("admin", "pa")));
    let (secret_layer, secret_m) = admin.push_image("other/x", "v1").await;
    admin.push_image("team/app", "v1").await;
    let alice = Req::new(&reg, Some(("alice", "pb")));
    let anon = Req::new(&reg, None);
    let wrong = Req::new(&reg, Some(("admin", "not-the-password")));
    let upload_id = "00000000-0000-4000-8000-000000000000";
    use reqwest::Method as M;
    let mut attempts: Vec<(&Req<'_>, M, String)> = Vec::new();
    for who in [&anon, &wrong] {
        for (m, path) in [
            (M::GET, "/v2/".to_string()),
            (M::GET, "/v2/_catalog".into()),
            (M::GET, "/v2/other/x/tags/list".into()),
            (M::GET, "/v2/other/x/manifests/v1".into()),
            (M::HEAD, "/v2/other/x/manifests/v1".into()),
            (M::GET, format!("/v2/other/x/blobs/{secret_layer}")),
            (M::HEAD, format!("/v2/other/x/blobs/{secret_layer}")),
            (M::GET, format!("/v2/other/x/referrers/{secret_m}")),
            (M::PUT, "/v2/other/x/manifests/v2".into()),
            (M::DELETE, format!("/v2/other/x/manifests/{secret_m}")),
            (M::POST, "/v2/other/x/blobs/uploads/".into()),
            (M::OPTIONS, "/v2/other/x/manifests/v1".into()),
        ] {
            attempts.push((who, m, path));
        }
    }
    for (m, path) in [
        (M::GET, "/v2/other/x/manifests/v1".to_string()),
        (M::HEAD, format!("/v2/other/x/manifests/{secret_m}")),
        (M::GET, format!("/v2/other/x/blobs/{secret_layer}")),
        (M::GET, "/v2/other/x/tags/list".into()),
        (M::GET, format!("/v2/other/x/referrers/{secret_m}")),
        (M::PUT, "/v2/other/x/manifests/v2".into()),
        (M::DELETE, format!("/v2/other/x/blobs/{secret_layer}")),
        (M::POST, "/v2/other/x/blobs/uploads/".into()),
        (M::GET, format!("/v2/other/x/blobs/uploads/{upload_id}")),
        (M::PATCH, format!("/v2/other/x/blobs/uploads/{upload_id}")),
        // A blob of other/x through a repository alice may read, which never had it.
        (M::GET, format!("/v2/team/app/blobs/{secret_layer}")),
        (M::HEAD, format!("/v2/team/app/blobs/{secret_layer}")),
        // A mount from a repository she may not read: no link is made.
        (
            M::POST,
            format!("/v2/team/app/blobs/uploads/?mount={secret_layer}&from=other/x"),
        ),
        // Deletes need the delete right even where she may push.
        (M::DELETE, "/v2/team/app/manifests/v1".into()),
    ] {
        attempts.push((&alice, m, path));
    }
    assert!(attempts.len() >= 30, "{} attempts", attempts.len());
    for (who, m, path) in &attempts {
        let resp = who.send(m.clone(), path).send().await.unwrap();
        let status = resp.status();
        let body = resp.bytes().await.unwrap();
        let mount = path.contains("mount=");
        let refused = status.is_client_error() || (mount && status == StatusCode::ACCEPTED);
        assert!(refused, "{m} {path}: {status}");
        assert!(
            !body.windows(16).any(|w| w == &b"layer of other/x"[..]),
            "{m} {path} leaked the blob"
        );
    }
    // Path tricks are refused as invalid names before anything is read.
    for path in [
        "/v2/team/app/../../other/x/manifests/v1",
        "/v2/team/..%2F..%2Fother/x/manifests/v1",
        "/v2/team%2F..%2Fother%2Fx/tags/list",
    ] {
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: {}\r\n\r\n",
            basic("alice", "pb")
        );
        let (status, body) = common::raw_request(reg.addr, head).await;
        assert_eq!(status, 400, "{path}: {body}");
    }
    // Nothing reached other/x's tags, and the mount made no link.
    assert_eq!(
        alice.blob_status("team/app", &secret_layer).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.status(M::GET, "/v2/other/x/manifests/v1").await,
        StatusCode::OK
    );
}
