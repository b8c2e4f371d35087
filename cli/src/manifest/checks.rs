//! Checks of single values: names, hosts, quantities, URLs, secret names.
//! Each returns the problem and its fix, ready for a `Problem`.

use std::net::IpAddr;

/// What is wrong and how to fix it.
pub type Bad = (String, String);

fn bad(message: impl Into<String>, help: impl Into<String>) -> Result<(), Bad> {
    Err((message.into(), help.into()))
}

fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// A Kubernetes name of the DNS-1123 label kind (namespaces, the lab name).
pub fn dns_label(what: &str, s: &str) -> Result<(), Bad> {
    if is_label(s) {
        return Ok(());
    }
    bad(
        format!("{what} \"{s}\" is not a valid Kubernetes name"),
        format!(
            "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. \"{}\"",
            suggest_label(s)
        ),
    )
}

/// A Kubernetes name of the DNS-1123 subdomain kind (Secrets).
pub fn dns_subdomain(what: &str, s: &str) -> Result<(), Bad> {
    if s.len() <= 253 && s.split('.').all(is_label) {
        return Ok(());
    }
    bad(
        format!("{what} \"{s}\" is not a valid Kubernetes name"),
        format!(
            "use lowercase letters, digits, '-' and '.', e.g. \"{}\"",
            suggest_label(s)
        ),
    )
}

fn suggest_label(s: &str) -> String {
    let mut out: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    out = out.trim_matches('-').to_string();
    out.truncate(63);
    if out.is_empty() {
        "my-name".into()
    } else {
        out
    }
}

/// The registry's host: a DNS name or an IP address, nothing else.
pub fn host(s: &str) -> Result<(), Bad> {
    if let Some(rest) = s.split_once("://").map(|(_, r)| r) {
        return bad(
            format!("registry.host \"{s}\" contains a URL scheme"),
            format!("write only the name: host: {}", rest.trim_end_matches('/')),
        );
    }
    if s.contains('/') {
        return bad(
            format!("registry.host \"{s}\" contains a path"),
            "write only the name, e.g. host: registry.example.com".to_string(),
        );
    }
    if let Some((name, port)) = s.rsplit_once(':')
        && !s.contains("::")
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return bad(
            format!("registry.host \"{s}\" contains a port"),
            format!(
                "write host: {name}; the port comes from registry.expose (443 for an ingress, the nodePort otherwise)"
            ),
        );
    }
    if s.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let lower = s.to_ascii_lowercase();
    if lower != s && host(&lower).is_ok() {
        return bad(
            format!("registry.host \"{s}\" has uppercase letters"),
            format!("write host: {lower}"),
        );
    }
    let trimmed = s.strip_suffix('.').unwrap_or(s);
    if s.len() <= 253 && !trimmed.is_empty() && trimmed.split('.').all(is_label) {
        return Ok(());
    }
    bad(
        format!("registry.host \"{s}\" is not a valid host name"),
        "use a DNS name of letters, digits, '-' and '.' (e.g. registry.example.com) or an IP address".to_string(),
    )
}

/// A Kubernetes quantity for a volume size, such as `20Gi`.
/// An image reference (`NAME[:TAG]`, `HOST/NAME@DIGEST`); `short` lists
/// the short names the field also takes.
pub fn image(what: &str, s: &str, short: &str) -> Result<(), Bad> {
    if s.contains(char::is_whitespace) || s.contains("://") {
        return bad(
            format!("{what} \"{s}\" is not an image reference"),
            format!("use {short} or NAME[:TAG]"),
        );
    }
    Ok(())
}

pub fn size(what: &str, s: &str) -> Result<(), Bad> {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let num_ok = !num.is_empty()
        && !num.starts_with('.')
        && !num.ends_with('.')
        && num.matches('.').count() <= 1;
    let units = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
    ];
    if num_ok && units.contains(&unit) {
        if num.parse::<f64>().map(|n| n == 0.0).unwrap_or(false) {
            return bad(
                format!("{what} is zero"),
                "give the volume a size, e.g. 20Gi",
            );
        }
        return Ok(());
    }
    let unit_fix = match unit.trim().to_ascii_lowercase().as_str() {
        "kb" | "kib" | "k" => "Ki",
        "mb" | "mib" | "m" => "Mi",
        "gb" | "gib" | "g" => "Gi",
        "tb" | "tib" | "t" => "Ti",
        _ => "Gi",
    };
    let n = if num_ok { num } else { "20" };
    bad(
        format!("{what} \"{s}\" is not a Kubernetes quantity"),
        format!("write it without a space and with a Kubernetes unit, e.g. {n}{unit_fix}"),
    )
}

/// An http(s) URL with a host and an optional port.
pub fn http_url(what: &str, s: &str) -> Result<(), Bad> {
    let Some(rest) = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
    else {
        return bad(
            format!("{what} \"{s}\" is not an http(s) URL"),
            format!(
                "write it with its scheme, e.g. http://{}",
                s.trim_start_matches('/')
            ),
        );
    };
    let authority = rest.split('/').next().unwrap_or("");
    let (h, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !authority.ends_with(']') => (h, Some(p)),
        _ => (authority, None),
    };
    if h.is_empty() || h.contains(char::is_whitespace) {
        return bad(
            format!("{what} \"{s}\" has no host"),
            "e.g. http://minio.minio.svc:9000",
        );
    }
    if let Some(p) = port {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => {}
            _ => {
                return bad(
                    format!("{what} has port {p}, out of range"),
                    "use a port from 1 to 65535",
                );
            }
        }
    }
    Ok(())
}

/// The name of a secret: path segments of lowercase letters, digits, '.', '_'
/// and '-', separated by '/'.
pub fn secret_name(s: &str) -> Result<(), Bad> {
    let seg_ok = |g: &str| {
        !g.is_empty()
            && g != "."
            && g != ".."
            && g.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && g.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    };
    if !s.is_empty() && s.len() <= 200 && s.split('/').all(seg_ok) {
        return Ok(());
    }
    bad(
        format!("\"{s}\" is not a valid secret name"),
        "use lowercase letters, digits, '.', '_' and '-' in segments separated by '/', e.g. registry/admin",
    )
}

/// A registry user name (it goes into an htpasswd line).
pub fn user_name(s: &str) -> Result<(), Bad> {
    if !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Ok(());
    }
    bad(
        format!("user name \"{s}\" is not allowed"),
        "use letters, digits, '.', '_' and '-' (no ':' or spaces)",
    )
}

/// An age X25519 recipient.
pub fn recipient(s: &str) -> Result<(), Bad> {
    match s.parse::<age::x25519::Recipient>() {
        Ok(_) => Ok(()),
        Err(_) if s.starts_with("AGE-SECRET-KEY-") => bad(
            "this is an age secret key, not a recipient",
            "remove it from lab.yaml at once and put its public recipient (age-keygen -y) instead",
        ),
        Err(_) => bad(
            format!("\"{s}\" is not an age recipient"),
            "use the age1... line printed by `age-keygen -y KEYFILE` or `labctl init`",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(host("docker.registry.example.com").is_ok());
        assert!(host("10.0.0.5").is_ok());
        assert!(host("registry").is_ok());
        assert!(host("reg_istry.example.com").is_err());
        assert!(
            host("https://x.example.com")
                .unwrap_err()
                .1
                .contains("host: x.example.com")
        );
        assert!(host("x.example.com:5000").unwrap_err().0.contains("port"));
        assert!(
            host("X.Example.com")
                .unwrap_err()
                .1
                .contains("x.example.com")
        );
        assert!(host("-bad.example.com").is_err());
    }

    #[test]
    fn sizes() {
        for ok in ["20Gi", "1.5Ti", "500M", "1024"] {
            assert!(size("s", ok).is_ok(), "{ok}");
        }
        assert!(size("s", "20 GB").unwrap_err().1.contains("20Gi"));
        assert!(size("s", "20GB").unwrap_err().1.contains("20Gi"));
        assert!(size("s", "0Gi").is_err());
        assert!(size("s", "lots").is_err());
    }

    #[test]
    fn urls_and_names() {
        assert!(http_url("e", "http://minio.minio.svc:9000").is_ok());
        assert!(
            http_url("e", "http://minio:99999")
                .unwrap_err()
                .0
                .contains("out of range")
        );
        assert!(http_url("e", "minio:9000").is_err());
        assert!(secret_name("registry/admin").is_ok());
        assert!(secret_name("../etc/passwd").is_err());
        assert!(secret_name("a//b").is_err());
        assert!(secret_name("Admin").is_err());
        assert!(dns_label("n", "kube-system").is_ok());
        assert!(
            dns_label("n", "Kube_System")
                .unwrap_err()
                .1
                .contains("kube-system")
        );
    }
}
