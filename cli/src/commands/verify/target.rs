//! Which registry to verify, as whom, trusting what: `--registry`,
//! `--user`, `--ca` when given, else the lab's registry host, one of its
//! users (one allowed to push) with the password from secrets/, and the
//! lab's CA (certs/ca.crt).

use std::fmt;
use std::path::PathBuf;

use anyhow::Context;

use crate::identity;
use crate::lab::LabPath;
use crate::manifest::Lab;
use crate::manifest::model::{Action, Registry, Tls};
use crate::store::Store;
use crate::trust;

/// The repository verify pushes to.
pub const REPOSITORY: &str = "labctl/verify";

pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.user)
    }
}

pub struct Target {
    pub base: reqwest::Url,
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub creds: Option<Credentials>,
    pub ca_file: Option<PathBuf>,
    /// The `labctl certs` trust commands, when verifying a lab.
    pub trust_commands: Option<String>,
    /// Where the credentials came from, for messages.
    pub creds_origin: String,
}

/// Parses `--registry`: `HOST[:PORT]`, `https://HOST[:PORT]` or `http://...`.
pub fn parse_registry(text: &str, insecure: bool) -> Result<(bool, String, u16), String> {
    let help = "expected HOST[:PORT], https://HOST[:PORT] or, with --insecure, http://HOST[:PORT]";
    let full = if text.contains("://") {
        text.to_string()
    } else {
        format!("{}://{text}", if insecure { "http" } else { "https" })
    };
    let url = reqwest::Url::parse(&full)
        .map_err(|e| format!("--registry {text:?} is not a registry address ({e}): {help}"))?;
    let tls = match url.scheme() {
        "https" if insecure => {
            return Err(format!(
                "--registry {text:?} says https but --insecure asks for plain HTTP: drop one of them"
            ));
        }
        "https" => true,
        "http" => false,
        other => {
            return Err(format!(
                "--registry {text:?}: unknown scheme {other:?}: {help}"
            ));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("--registry {text:?} has no host: {help}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "--registry {text:?} holds credentials: pass the user with --user and the password on stdin with --password-stdin"
        ));
    }
    if (url.path() != "/" && !url.path().is_empty()) || url.query().is_some() {
        return Err(format!(
            "--registry {text:?} has a path: give only the registry's address ({help})"
        ));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    Ok((tls, host.to_string(), port))
}

fn base(tls: bool, host: &str, port: u16) -> reqwest::Url {
    let scheme = if tls { "https" } else { "http" };
    reqwest::Url::parse(&format!("{scheme}://{host}:{port}/")).expect("valid URL")
}

/// The target given on the command line.
pub fn from_args(
    registry: &str,
    insecure: bool,
    creds: Option<Credentials>,
    ca: Option<PathBuf>,
) -> anyhow::Result<Target> {
    let (tls, host, port) = parse_registry(registry, insecure).map_err(anyhow::Error::msg)?;
    let creds_origin = match &creds {
        Some(c) => format!("--user {}", c.user),
        None => "none given (--user)".into(),
    };
    Ok(Target {
        base: base(tls, &host, port),
        host,
        port,
        tls,
        creds,
        ca_file: ca,
        trust_commands: None,
        creds_origin,
    })
}

/// The user verify logs in as: the first one allowed to push.
fn pusher(reg: &Registry) -> Option<&String> {
    reg.users.keys().find(|u| {
        reg.access.is_empty()
            || reg.access.iter().any(|r| {
                r.users.contains(u)
                    && r.actions.contains(&Action::Push)
                    && r.repositories.iter().any(|g| glob(g, REPOSITORY))
            })
    })
}

/// `*` matches any run of characters (slashes too); nothing else is special.
pub fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

/// The lab user verify logs in as (one allowed to push), with the
/// password from secrets/, and where it came from (for messages).
pub fn lab_user(
    reg: &Registry,
    store: &Store,
    ids: &identity::Identities,
) -> anyhow::Result<(Credentials, String)> {
    let Some(user) = pusher(reg) else {
        anyhow::bail!(
            "no user in lab.yaml may push to {REPOSITORY}\n  help: add an access rule with actions [push] for it, or pass --user and --password-stdin"
        )
    };
    let secret = &reg.users[user].password.name;
    let password = store
        .get_text(secret, ids)
        .with_context(|| format!("cannot read the password of registry user {user}"))?;
    let origin = format!("{user} (lab.yaml, secret {secret})");
    let creds = Credentials {
        user: user.clone(),
        password,
    };
    Ok((creds, origin))
}

/// The lab's CA and a lab user, for any address of the lab's registry:
/// `--ca` and `--user` win; else certs/ca.crt (when `use_ca`) and a lab
/// user allowed to push, with the password from secrets/.
struct LabAccess {
    creds: Option<Credentials>,
    creds_origin: String,
    ca_file: Option<PathBuf>,
}

fn lab_access(
    lab: &LabPath,
    parsed: &Lab,
    creds: Option<Credentials>,
    ca: Option<PathBuf>,
    use_ca: bool,
) -> anyhow::Result<LabAccess> {
    let reg = &parsed.registry;
    let lab_ca = lab.root.join("certs/ca.crt");
    let ca_file = ca.or_else(|| (use_ca && lab_ca.is_file()).then_some(lab_ca));
    let (creds, creds_origin) = match creds {
        Some(c) => {
            let o = format!("--user {}", c.user);
            (Some(c), o)
        }
        None if reg.users.is_empty() => (None, "lab.yaml has no registry.users".into()),
        None => {
            let store = Store::new(&lab.root, &parsed.secrets.recipients)?;
            let (c, origin) = lab_user(reg, &store, &store.identities()?)?;
            (Some(c), origin)
        }
    };
    Ok(LabAccess {
        creds,
        creds_origin,
        ca_file,
    })
}

/// `--registry` given inside a lab: that address, with the lab's CA and
/// users unless `--ca` or `--user` say otherwise.
pub fn from_args_in_lab(
    registry: &str,
    insecure: bool,
    creds: Option<Credentials>,
    ca: Option<PathBuf>,
    lab: &LabPath,
) -> anyhow::Result<Target> {
    let parsed = lab.load()?;
    let (tls, host, port) = parse_registry(registry, insecure).map_err(anyhow::Error::msg)?;
    let a = lab_access(lab, &parsed, creds, ca, tls)?;
    Ok(Target {
        base: base(tls, &host, port),
        host,
        port,
        tls,
        creds: a.creds,
        ca_file: a.ca_file,
        trust_commands: None,
        creds_origin: a.creds_origin,
    })
}

/// The lab's registry.
pub fn from_lab(
    lab: &LabPath,
    insecure: bool,
    creds: Option<Credentials>,
    ca: Option<PathBuf>,
) -> anyhow::Result<Target> {
    let parsed = lab.load()?;
    let reg = &parsed.registry;
    let tls = reg.expose.tls != Tls::None && !insecure;
    let port = reg.expose.node_port.unwrap_or(if tls { 443 } else { 80 });
    let lab_ca = lab.root.join("certs/ca.crt");
    let has_lab_ca = reg.expose.tls == Tls::SelfSigned && lab_ca.is_file();
    let trust_commands = has_lab_ca.then(|| {
        trust::instructions(
            &trust::address(&reg.host, port),
            &parsed.metadata.name,
            &lab_ca,
        )
    });
    let a = lab_access(lab, &parsed, creds, ca, has_lab_ca)?;
    Ok(Target {
        base: base(tls, &reg.host, port),
        host: reg.host.clone(),
        port,
        tls,
        creds: a.creds,
        ca_file: a.ca_file,
        trust_commands,
        creds_origin: a.creds_origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_addresses() {
        for (input, insecure, tls, host, port) in [
            ("reg.lan:5000", false, true, "reg.lan", 5000),
            ("reg.lan", false, true, "reg.lan", 443),
            ("reg.lan", true, false, "reg.lan", 80),
            ("http://10.0.0.5:30500/", false, false, "10.0.0.5", 30500),
        ] {
            assert_eq!(
                parse_registry(input, insecure),
                Ok((tls, host.into(), port))
            );
        }
        for (input, insecure, says) in [
            ("not a url", false, "not a registry address"),
            ("ftp://x", false, "unknown scheme"),
            ("https://x", true, "--insecure"),
            ("https://u:p@x", false, "--password-stdin"),
            ("https://x/v2/", false, "path"),
        ] {
            assert!(parse_registry(input, insecure).unwrap_err().contains(says));
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*", "labctl/verify"));
        assert!(glob("labctl/*", "labctl/verify"));
        assert!(!glob("team/*", "labctl/verify"));
        assert!(glob("labctl/verify", "labctl/verify"));
        assert!(glob("*/verify", "labctl/verify"));
    }
}
