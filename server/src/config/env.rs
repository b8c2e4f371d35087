//! `REGISTRY_*` environment overrides, by distribution's rule: the name after
//! `REGISTRY_` is split on `_`, each part descends one level (matched without
//! regard to case), and the value is parsed as YAML. Parents are applied
//! before children (`REGISTRY_AUTH=htpasswd` before
//! `REGISTRY_AUTH_HTPASSWD_PATH`), as sorting the names does.

use serde_json::{Map, Value};

/// The driver-like sections that accept a bare string (`storage: filesystem`,
/// `auth: htpasswd`) meaning a one-key map with empty parameters.
pub const SELECTOR_SECTIONS: [&str; 2] = ["storage", "auth"];

/// One override that was applied, for the start-up log.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub var: String,
    pub path: String,
}

/// Rewrites `storage: x` and `auth: x` into maps, and empty driver
/// parameters (`filesystem:` with nothing after it) into empty maps.
pub fn normalize(root: &mut Value) {
    let Some(obj) = root.as_object_mut() else {
        return;
    };
    for section in SELECTOR_SECTIONS {
        match obj.get_mut(section) {
            Some(Value::String(s)) => {
                let mut m = Map::new();
                m.insert(std::mem::take(s), Value::Object(Map::new()));
                obj.insert(section.to_string(), Value::Object(m));
            }
            Some(Value::Object(m)) => {
                for v in m.values_mut() {
                    if v.is_null() {
                        *v = Value::Object(Map::new());
                    }
                }
            }
            _ => {}
        }
    }
}

fn parse_value(raw: &str) -> Value {
    if raw.is_empty() {
        return Value::String(String::new());
    }
    serde_saphyr::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// Applies every `REGISTRY_*` variable of `vars` onto the config tree.
pub fn apply(root: &mut Value, vars: impl IntoIterator<Item = (String, String)>) -> Vec<Applied> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("REGISTRY_") && k.len() > "REGISTRY_".len())
        .filter(|(k, _)| k != "REGISTRY_VERSION")
        .collect();
    vars.sort();
    let mut applied = Vec::new();
    for (var, raw) in vars {
        let parts: Vec<&str> = var["REGISTRY_".len()..].split('_').collect();
        if parts.iter().any(|p| p.is_empty()) {
            continue;
        }
        let path = set(root, &parts, parse_value(&raw));
        normalize(root);
        applied.push(Applied { var, path });
    }
    applied
}

/// Sets the value at `parts`, creating maps on the way; returns the dotted
/// path it was written to, in the config's own spelling.
fn set(root: &mut Value, parts: &[&str], value: Value) -> String {
    let mut node = root;
    let mut path = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let obj = node.as_object_mut().expect("made an object above");
        let key = obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case(part))
            .cloned()
            .unwrap_or_else(|| part.to_ascii_lowercase());
        path.push(key.clone());
        if i == parts.len() - 1 {
            // `REGISTRY_STORAGE=filesystem` over a full filesystem section
            // selects that section rather than dropping its parameters.
            let keep = match (obj.get(&key), &value) {
                (Some(Value::Object(m)), Value::String(s)) => {
                    m.get(s).cloned().map(|p| (s.clone(), p))
                }
                _ => None,
            };
            match keep {
                Some((s, params)) => {
                    let mut m = Map::new();
                    m.insert(s, params);
                    obj.insert(key, Value::Object(m));
                }
                None => {
                    obj.insert(key, value);
                }
            }
            break;
        }
        node = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
    }
    path.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn seed_001_variables() {
        let mut root = json!({"version": "0.1", "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}}});
        let applied = apply(
            &mut root,
            vars(&[
                ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
                ("REGISTRY_AUTH_HTPASSWD_REALM", "Registry Realm"),
                ("REGISTRY_AUTH", "htpasswd"),
                ("REGISTRY_HTTP_TLS_CERTIFICATE", "/certs/registry-cert.crt"),
                ("REGISTRY_HTTP_TLS_KEY", "/certs/registry-cert.key"),
                ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
                ("HOME", "/root"),
            ]),
        );
        assert_eq!(applied.len(), 6);
        assert_eq!(
            root,
            json!({
                "version": "0.1",
                "storage": {"filesystem": {"rootdirectory": "/var/lib/registry"}, "delete": {"enabled": true}},
                "auth": {"htpasswd": {"path": "/auth/htpasswd", "realm": "Registry Realm"}},
                "http": {"tls": {"certificate": "/certs/registry-cert.crt", "key": "/certs/registry-cert.key"}}
            })
        );
    }

    #[test]
    fn case_insensitive_match_and_selector_keeps_params() {
        let mut root =
            json!({"storage": {"filesystem": {"rootdirectory": "/a"}, "s3": {"bucket": "b"}}});
        apply(
            &mut root,
            vars(&[("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/b")]),
        );
        assert_eq!(root["storage"]["filesystem"]["rootdirectory"], "/b");
        apply(&mut root, vars(&[("REGISTRY_STORAGE", "filesystem")]));
        assert_eq!(
            root["storage"],
            json!({"filesystem": {"rootdirectory": "/b"}})
        );
    }

    #[test]
    fn normalizes_bare_strings_and_nulls() {
        let mut root = json!({"storage": "filesystem", "auth": {"htpasswd": null}});
        normalize(&mut root);
        assert_eq!(
            root,
            json!({"storage": {"filesystem": {}}, "auth": {"htpasswd": {}}})
        );
    }

    #[test]
    fn yaml_values() {
        let mut root = json!({});
        apply(
            &mut root,
            vars(&[
                (
                    "REGISTRY_HTTP_HEADERS",
                    "{X-Content-Type-Options: [nosniff]}",
                ),
                ("REGISTRY_LOG_LEVEL", "debug"),
            ]),
        );
        assert_eq!(
            root["http"]["headers"]["X-Content-Type-Options"],
            json!(["nosniff"])
        );
        assert_eq!(root["log"]["level"], "debug");
    }
}
