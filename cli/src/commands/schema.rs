//! `labctl schema`: the JSON Schema of lab.yaml, for editors
//! (`# yaml-language-server: $schema=lab.schema.json`).

use std::process::ExitCode;

use crate::manifest::Lab;

#[derive(clap::Args)]
pub struct Args {}

pub fn schema_json() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Lab);
    schema.insert(
        "$id".into(),
        "https://labctl.dev/schemas/lab-v1alpha1.json".into(),
    );
    schema.to_value()
}

pub fn run(_: Args) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&schema_json())?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::lab_decode::all_key_lists;

    /// The decoder's key lists and the schema's properties are the same.
    #[test]
    fn schema_matches_decoder() {
        let schema = schema_json();
        for (name, keys) in all_key_lists() {
            let obj = if name == "Lab" {
                &schema
            } else {
                &schema["$defs"][name]
            };
            let props = obj["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name} has no properties"));
            let mut got: Vec<&str> = props.keys().map(String::as_str).collect();
            let mut want = keys.to_vec();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{name}");
            assert_eq!(
                obj["additionalProperties"],
                serde_json::Value::Bool(false),
                "{name}"
            );
        }
    }

    /// Exactly the keys the decoder insists on are required in the schema;
    /// the ones it fills in carry their default.
    #[test]
    fn schema_required_keys_match_decoder() {
        let schema = schema_json();
        let required = |name: &str| -> Vec<String> {
            let obj = if name == "Lab" {
                &schema
            } else {
                &schema["$defs"][name]
            };
            let mut r: Vec<String> = obj["required"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            r.sort();
            r
        };
        let want: &[(&str, &[&str])] = &[
            (
                "Lab",
                &["apiVersion", "kind", "metadata", "registry", "secrets"],
            ),
            ("Metadata", &["name"]),
            ("Git", &["repoURL"]),
            ("Secrets", &["recipients"]),
            ("Registry", &["expose", "host"]),
            ("User", &["password"]),
            ("S3", &["accessKey", "bucket", "endpoint", "secretKey"]),
            ("PullSecret", &["namespace"]),
            ("AccessRule", &["actions", "users"]),
            ("Minio", &["bucket"]),
            ("Controller", &[]),
            ("Filesystem", &[]),
            ("Ingress", &[]),
            ("Expose", &[]),
        ];
        for (name, keys) in want {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            assert_eq!(required(name), keys, "{name}");
        }
        assert_eq!(
            schema["$defs"]["Registry"]["properties"]["image"]["default"],
            "labreg"
        );
        assert_eq!(
            schema["$defs"]["Filesystem"]["properties"]["size"]["default"],
            "10Gi"
        );
    }
}
