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
}
