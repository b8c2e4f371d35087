//! Every rendered object is read back before anything is written: valid
//! YAML, a mapping with `apiVersion`, `kind` and `metadata.name`.

use serde_json::Value;

use super::RenderError;

/// The objects of one rendered template.
pub fn objects(template: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let bad = |message: String| RenderError::BadOutput {
        template: template.to_string(),
        message,
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| bad(format!("the output is not valid YAML: {e}")))?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if docs.is_empty() {
        return Err(bad("the output holds no object".into()));
    }
    for (i, doc) in docs.iter().enumerate() {
        let which = if docs.len() == 1 {
            "the object".to_string()
        } else {
            format!("object {} of {}", i + 1, docs.len())
        };
        let Some(map) = doc.as_object() else {
            return Err(bad(format!("{which} is not a mapping")));
        };
        for key in ["apiVersion", "kind"] {
            match map.get(key) {
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => return Err(bad(format!("{which} has a {key} that is not a string"))),
                None => return Err(bad(format!("{which} has no {key}"))),
            }
        }
        match doc.pointer("/metadata/name") {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => return Err(bad(format!("{which} has no metadata.name"))),
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_is_missing() {
        let ok = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n";
        assert_eq!(objects("t", ok).unwrap().len(), 1);
        let cases = [
            ("apiVersion: v1\nmetadata:\n  name: a\n", "has no kind"),
            ("kind: X\nmetadata:\n  name: a\n", "has no apiVersion"),
            ("apiVersion: v1\nkind: X\n", "has no metadata.name"),
            ("apiVersion: v1\nkind: [\n", "not valid YAML"),
            ("", "holds no object"),
            ("- a\n", "not a mapping"),
        ];
        for (text, want) in cases {
            let err = objects("t", text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
