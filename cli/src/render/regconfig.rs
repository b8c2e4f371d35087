//! The registry's config.yml is checked with labreg's own loader, so what
//! render writes, labreg accepts: no unknown key, no invalid value.

use super::RenderError;

/// Checks the text of config.yml rendered from `template`.
pub fn validate(template: &str, text: &str) -> Result<(), RenderError> {
    let bad = |message: String| RenderError::RegistryConfig {
        template: template.to_string(),
        message,
    };
    match labreg::config::Config::from_yaml(text, Vec::<(String, String)>::new()) {
        Ok(loaded) if loaded.unknown_keys.is_empty() => Ok(()),
        Ok(loaded) => Err(bad(format!(
            "labreg does not know the key{} {}",
            if loaded.unknown_keys.len() == 1 {
                ""
            } else {
                "s"
            },
            loaded.unknown_keys.join(", ")
        ))),
        Err(e) => Err(bad(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labreg_checks_the_whole_file() {
        let ok = "version: 0.1\nstorage:\n  s3: {bucket: b, region: us-east-1, regionendpoint: 'http://minio:9000', accesskey: a, secretkey: s}\nhttp:\n  addr: :5000\n  tls: {certificate: /c, key: /k}\nauth:\n  htpasswd: {realm: r, path: /p}\n";
        validate("t", ok).unwrap();
        let bad_auth = "version: 0.1\nstorage:\n  filesystem: {rootdirectory: /x}\nauth:\n  htpasswd: {realm: r}\n";
        assert!(validate("t", bad_auth).is_err());
        let unknown =
            "version: 0.1\nstorage:\n  filesystem: {rootdirectory: /x}\nhttp:\n  adr: :5000\n";
        let err = validate("t", unknown).unwrap_err().to_string();
        assert!(err.contains("http.adr"), "{err}");
        let invalid =
            "version: 0.1\nstorage:\n  filesystem: {rootdirectory: /x}\nlog:\n  level: loud\n";
        let err = validate("t", invalid).unwrap_err().to_string();
        assert!(err.contains("log.level"), "{err}");
    }
}
