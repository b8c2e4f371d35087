//! The certificate stage of `labctl validate`: with `tls: self-signed`,
//! the files `labctl certs` makes must be there and fit the lab (the
//! registry's certificate names `registry.host`, was issued by
//! certs/ca.crt, and has not expired), since render and every client need
//! them. Each problem points at `registry.expose.tls` (or `registry.host`).

use std::path::Path;

use super::decode::Problem;
use super::model::{Lab, Tls};
use super::node::{self, Node, Pos, Value};
use crate::pki;

/// The position of the value at `path` (keys from the root), if written.
fn pos_of(src: &str, path: &[&str]) -> Option<Pos> {
    let mut n: Node = node::parse(src).ok()??;
    for key in path {
        let Value::Map(entries) = n.value else {
            return None;
        };
        n = entries
            .into_iter()
            .find(|(k, _)| k.value == Value::Str((*key).into()))?
            .1;
    }
    Some(n.pos)
}

pub fn problems(lab: &Lab, src: &str, root: &Path) -> Vec<Problem> {
    let reg = &lab.registry;
    if reg.expose.tls != Tls::SelfSigned {
        return Vec::new();
    }
    let pos = pos_of(src, &["registry", "expose", "tls"])
        .or_else(|| pos_of(src, &["registry", "host"]))
        .unwrap_or(Pos { line: 1, column: 1 });
    let problem = |message: String, help: &str| Problem {
        pos,
        message,
        help: Some(help.into()),
    };
    let host = &reg.host;
    let rel = format!("certs/{}.crt", host.replace(':', "-"));
    let (Ok(cert), Ok(ca)) = (
        std::fs::read_to_string(root.join(&rel)),
        std::fs::read_to_string(root.join("certs/ca.crt")),
    ) else {
        return vec![problem(
            format!(
                "registry.expose.tls is self-signed, but {rel} or certs/ca.crt does not exist yet"
            ),
            "run `labctl certs` to make the lab's CA and the registry's certificate",
        )];
    };
    let (cert, ca) = match (pki::inspect(&rel, &cert), pki::inspect("certs/ca.crt", &ca)) {
        (Ok(c), Ok(a)) => (c, a),
        (Err(e), _) | (_, Err(e)) => {
            return vec![problem(
                e.to_string(),
                "restore certs/ from git, or run `labctl certs --renew`",
            )];
        }
    };
    let mut out = Vec::new();
    if !cert.sans.contains(host) {
        out.push(problem(
            format!(
                "{rel} does not name registry.host {host} (it names {})",
                cert.sans.join(", ")
            ),
            "run `labctl certs` to issue one for the host",
        ));
    }
    if cert.issuer_der != ca.subject_der {
        out.push(problem(
            format!("{rel} was not issued by certs/ca.crt"),
            "run `labctl certs --renew` to issue one from the lab's CA",
        ));
    }
    if cert.not_after < time::OffsetDateTime::now_utc() {
        out.push(problem(
            format!("{rel} expired on {}", cert.not_after.date()),
            "run `labctl certs --renew`",
        ));
    }
    out
}
