//! The steps before any push: resolve, connect, TLS, the anonymous `/v2/`
//! (does the registry ask for credentials?) and the login.

use reqwest::StatusCode;

use super::client::Client;
use super::diagnose::{self, Diagnosis, Transport};
use super::net;
use super::session::Note;
use super::target::{Credentials, REPOSITORY, Target};
use super::upload;

type Step<T> = Result<(T, Note), Diagnosis>;

pub async fn resolve(t: &Target) -> Step<Vec<std::net::SocketAddr>> {
    let p = diagnose::Peer {
        host: &t.host,
        port: t.port,
    };
    let addrs = net::resolve(&t.host, t.port)
        .await
        .map_err(|e| diagnose::dns(&p, &e.to_string()))?;
    let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    let note = Note::Ok(format!("{} → {}", t.host, ips.join(", ")));
    Ok((addrs, note))
}

pub async fn connect(
    t: &Target,
    addrs: &[std::net::SocketAddr],
) -> Step<(tokio::net::TcpStream, std::net::SocketAddr)> {
    let p = diagnose::Peer {
        host: &t.host,
        port: t.port,
    };
    match net::connect(addrs).await {
        Ok((s, a)) => Ok(((s, a), Note::Ok(a.to_string()))),
        Err((a, e)) => Err(match diagnose::classify(&e) {
            Transport::Refused => diagnose::refused(&p, &a.to_string()),
            Transport::Timeout => diagnose::timeout(&p),
            other => diagnose::transport(&p, other, None, &Default::default()),
        }),
    }
}

pub async fn tls(
    c: &Client,
    stream: tokio::net::TcpStream,
    addr: std::net::SocketAddr,
) -> Step<()> {
    c.trust.forget();
    match net::handshake(stream, &c.host, &c.trust).await {
        Ok(version) => {
            let cert = c.trust.last_cert();
            let about = cert.as_ref().map(|c| c.describe()).unwrap_or_default();
            let days = cert.as_ref().map(|c| c.days_left()).unwrap_or(i64::MAX);
            let detail = format!("{version}, {about}");
            if days < 14 {
                let d = Diagnosis::new(
                    "expires-soon",
                    format!("the certificate expires in {days} days"),
                    "renew it now: `labctl certs --renew` then render and sync (cert-manager renews by itself 30 days ahead: check it runs)",
                );
                return Ok(((), Note::Warn(detail, d)));
            }
            Ok(((), Note::Ok(detail)))
        }
        Err(Transport::Tls(rustls::Error::InvalidCertificate(e))) => {
            let err = rustls::Error::InvalidCertificate(e);
            let cert = c.trust.last_cert();
            Err(diagnose::tls(&c.peer(), &err, cert.as_ref(), &c.trust_help))
        }
        Err(other) => {
            if net::speaks_http(addr).await {
                return Err(diagnose::https_to_http(&c.peer()));
            }
            Err(diagnose::transport(&c.peer(), other, None, &c.trust_help))
        }
    }
}

/// What the anonymous `/v2/` showed.
pub struct Challenge {
    /// Credentials are needed to push.
    pub needs_login: bool,
}

pub async fn challenge(c: &Client, addr: std::net::SocketAddr, tls: bool) -> Step<Challenge> {
    let wrong_protocol = async || !tls && net::speaks_tls(addr, &c.host, &c.trust).await;
    let e = match c.oci.ping().await {
        Ok(()) => return anonymous(c).await,
        Err(e) => e,
    };
    match e.status() {
        None => {
            if wrong_protocol().await {
                return Err(diagnose::http_to_https(&c.peer()));
            }
            Err(c.failed("GET /v2/", &e))
        }
        Some(StatusCode::UNAUTHORIZED) => basic(challenge_of(&e)).map(|realm| {
            let note = Note::Ok(format!("401, asks for credentials ({realm})"));
            (Challenge { needs_login: true }, note)
        }),
        Some(StatusCode::BAD_REQUEST) if wrong_protocol().await => {
            Err(diagnose::http_to_https(&c.peer()))
        }
        Some(StatusCode::NOT_FOUND) => Err(Diagnosis::new(
            "not-a-registry",
            format!(
                "{}v2/ answered 404: something answers on this address, but not a registry",
                c.base
            ),
            "check the address, the ingress's host and path rules (path / with pathType Prefix), and that the Service points at the registry's port",
        )),
        Some(_) => Err(c.failed("GET /v2/", &e)),
    }
}

/// The `WWW-Authenticate` of a 401, or "".
fn challenge_of(e: &labreg_oci::OciError) -> &str {
    e.answer()
        .and_then(|a| a.challenge.as_deref())
        .unwrap_or("")
}

/// The realm of a Basic challenge; other schemes are explained.
fn basic(header: &str) -> Result<String, Diagnosis> {
    let scheme = header.split_whitespace().next().unwrap_or("");
    if scheme.eq_ignore_ascii_case("basic") {
        return Ok(header.to_string());
    }
    if header.is_empty() {
        return Err(Diagnosis::new(
            "no-challenge",
            "the registry answers 401 without a WWW-Authenticate header, so docker and containerd cannot know how to log in",
            "a proxy in front of the registry strips the header, or it does its own authentication: let the registry's 401 through unchanged",
        ));
    }
    Err(Diagnosis::new(
        "unsupported-auth",
        format!(
            "the registry asks for {scheme} authentication ({header}); verify push speaks Basic only (htpasswd, as labreg and registry:2 with auth.htpasswd use)"
        ),
        "verify this registry with docker login and docker push, or switch it to htpasswd authentication",
    ))
}

/// `/v2/` answered 200 without credentials: may anyone push?
async fn anonymous(c: &Client) -> Step<Challenge> {
    match c.oci.start_upload(REPOSITORY).await {
        Ok(up) => {
            let open = upload::Open::default();
            open.set(Some(up));
            upload::cancel(c, &open).await;
            let d = Diagnosis::new(
                "anonymous-push",
                "the registry asks for no credentials: ANYONE who can reach it can push, overwrite and delete images",
                "turn on authentication (lab.yaml registry.users, rendered into the registry's htpasswd; registry:2: REGISTRY_AUTH=htpasswd), or keep it reachable only from a trusted network",
            );
            let note = Note::Warn("200 without credentials; anonymous push accepted".into(), d);
            Ok((Challenge { needs_login: false }, note))
        }
        Err(e) if e.status() == Some(StatusCode::UNAUTHORIZED) => {
            basic(challenge_of(&e))?;
            let note = Note::Ok("anonymous pull allowed; push asks for credentials".into());
            Ok((Challenge { needs_login: true }, note))
        }
        Err(e) => Err(c.failed("the anonymous upload start (POST)", &e)),
    }
}

pub async fn login(c: &mut Client, creds: Option<&Credentials>, origin: &str) -> Step<()> {
    let Some(creds) = creds else {
        return Err(Diagnosis::new(
            "no-credentials",
            format!("the registry asks for credentials but verify has none ({origin})"),
            "pass --user USER --password-stdin, or list the registry's users in lab.yaml (registry.users)",
        ));
    };
    c.login(creds);
    let e = match c.oci.ping().await {
        Ok(()) => return Ok(((), Note::Ok(format!("as {origin}")))),
        Err(e) => e,
    };
    match e.status() {
        Some(StatusCode::UNAUTHORIZED) => Err(Diagnosis::new(
            "wrong-credentials",
            format!(
                "the registry rejects the password of {origin}: its htpasswd holds another password for this user, or not the user at all"
            ),
            format!(
                "make them agree: after `labctl secrets set` run `labctl render` and sync so the registry's htpasswd Secret is rebuilt; outside a lab, check the file with `htpasswd -vB FILE {}`",
                creds.user
            ),
        )),
        _ => Err(c.failed("GET /v2/ with credentials", &e)),
    }
}
