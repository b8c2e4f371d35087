//! A real S3 server (Garage) for the tests: started once per test binary by
//! scripts/s3-server.sh on loopback, with a fresh data folder, and stopped
//! when the test process exits. Tests share its bucket, each under its own
//! root directory.

use std::sync::{Arc, OnceLock};

use labreg::config::s3::{Credentials, S3Settings};
use labreg::storage::StorageDriver;
use labreg::storage::s3::S3Driver;

#[derive(Debug, Clone)]
pub struct S3Env {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

static SERVER: OnceLock<S3Env> = OnceLock::new();

pub fn s3() -> &'static S3Env {
    SERVER.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/s3-server.sh");
        let dir = tempfile::Builder::new()
            .prefix("labreg-garage-")
            .tempdir()
            .unwrap()
            .keep();
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(&dir)
            .args(["--watch", &std::process::id().to_string()])
            .output()
            .expect("bash runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the S3 test server did not start ({stderr}): run scripts/setup.sh (it installs garage)"
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("s3-server.sh printed no {k}: {text}"))
                .to_string()
        };
        S3Env {
            endpoint: get("S3_ENDPOINT"),
            region: get("S3_REGION"),
            bucket: get("S3_BUCKET"),
            access_key: get("S3_ACCESS_KEY"),
            secret_key: get("S3_SECRET_KEY"),
        }
    })
}

/// A root directory no other test uses.
pub fn fresh_root() -> String {
    format!("/t-{}", uuid_like())
}

fn uuid_like() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl S3Env {
    /// The `storage.s3` section (indented under `storage:`) for `root`.
    pub fn yaml(&self, root: &str) -> String {
        format!(
            "  s3:\n    accesskey: {}\n    secretkey: {}\n    region: {}\n    regionendpoint: {}\n    bucket: {}\n    secure: false\n    v4auth: true\n    chunksize: 5242880\n    rootdirectory: {root}\n",
            self.access_key, self.secret_key, self.region, self.endpoint, self.bucket
        )
    }

    pub fn settings(&self, root: &str) -> S3Settings {
        let root = root.trim_matches('/');
        S3Settings {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: true,
            skip_verify: false,
            ca_bundle: None,
            chunk_size: 5 << 20,
            root: if root.is_empty() {
                String::new()
            } else {
                format!("{root}/")
            },
            credentials: Credentials {
                access_key: self.access_key.clone(),
                secret_key: self.secret_key.clone(),
                session_token: None,
            },
        }
    }

    pub fn driver(&self, root: &str) -> Arc<dyn StorageDriver> {
        Arc::new(S3Driver::new(&self.settings(root)).unwrap())
    }
}
