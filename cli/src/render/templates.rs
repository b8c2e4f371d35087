//! The Tera templates: compiled into the binary from the repository's
//! top-level `templates/`, each replaceable by a file of the same name in
//! the lab's own `templates/` folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::RenderError;

macro_rules! embedded {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../templates/", $name)))),*]
    };
}

/// Every default template: (name, text).
pub const EMBEDDED: &[(&str, &str)] = embedded![
    "argocd/application.yaml.tera",
    "argocd/root.yaml.tera",
    "minio/bucket-job.yaml.tera",
    "minio/deployment.yaml.tera",
    "minio/namespace.yaml.tera",
    "minio/pvc.yaml.tera",
    "minio/service.yaml.tera",
    "node-trust/configmap.yaml.tera",
    "node-trust/daemonset.yaml.tera",
    "node-trust/namespace.yaml.tera",
    "registry/config.yml.tera",
    "registry/deployment.yaml.tera",
    "registry/ingress.yaml.tera",
    "registry/namespace.yaml.tera",
    "registry/pvc.yaml.tera",
    "registry/service.yaml.tera",
    "sealedsecret.yaml.tera",
];

/// The templates of one lab, ready to render.
pub struct Templates {
    tera: tera::Tera,
    /// Where each template came from, for messages.
    origin: HashMap<&'static str, String>,
}

/// `templates/NAME` under the lab's root, if the lab overrides it.
fn override_path(root: &Path, name: &str) -> PathBuf {
    root.join("templates").join(name)
}

impl Templates {
    /// The embedded templates, each replaced by the lab's own file when it has one.
    pub fn load(root: &Path) -> Result<Templates, RenderError> {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("q", quote);
        tera.register_filter("block", block);
        let mut origin = HashMap::new();
        for (name, text) in EMBEDDED {
            let path = override_path(root, name);
            let (text, from) = match std::fs::read_to_string(&path) {
                Ok(t) => (t, path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (text.to_string(), format!("templates/{name} (built in)"))
                }
                Err(e) => {
                    return Err(RenderError::Io {
                        action: "cannot read",
                        path,
                        source: e,
                    });
                }
            };
            tera.add_raw_template(name, &text)
                .map_err(|e| RenderError::Template {
                    template: from.clone(),
                    message: chain(&e),
                })?;
            origin.insert(*name, from);
        }
        Ok(Templates { tera, origin })
    }

    /// Where a template comes from: the lab's file or the built-in one.
    pub fn origin<'a>(&'a self, name: &'a str) -> &'a str {
        self.origin.get(name).map_or(name, |s| s.as_str())
    }

    /// Renders one template with `context`.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, RenderError> {
        let ctx =
            tera::Context::from_value(context.clone()).map_err(|e| RenderError::Template {
                template: self.origin(name).to_string(),
                message: chain(&e),
            })?;
        self.tera
            .render(name, &ctx)
            .map_err(|e| RenderError::Template {
                template: self.origin(name).to_string(),
                message: chain(&e),
            })
    }
}

/// Tera's error and its causes on one line each (the position of a syntax
/// error is in the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(&format!("\n    {c}"));
        cur = c.source();
    }
    out
}

/// `{{ x | q }}`: the value as a double-quoted YAML scalar (JSON string
/// syntax, which YAML 1.2 reads the same), so any text is safe to insert.
fn quote(
    value: &serde_json::Value,
    _: &HashMap<String, serde_json::Value>,
) -> tera::Result<serde_json::Value> {
    let s = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => return Err("q: the value is null".into()),
        other => other.to_string(),
    };
    Ok(serde_json::Value::String(serde_json::to_string(&s)?))
}

/// `{{ text | block(indent=4) }}`: the text as a YAML literal block
/// scalar (`|`), each line indented, so a file reads in the YAML as it
/// lands on disk. Text a block cannot hold exactly (a first line starting
/// with a space, trailing blank lines, tabs or carriage returns) is quoted
/// instead.
fn block(
    value: &serde_json::Value,
    args: &HashMap<String, serde_json::Value>,
) -> tera::Result<serde_json::Value> {
    let Some(s) = value.as_str() else {
        return Err("block: the value is not a string".into());
    };
    let indent = args.get("indent").and_then(|v| v.as_u64()).unwrap_or(4) as usize;
    let body = s.strip_suffix('\n').unwrap_or(s);
    let exact = !body.is_empty()
        && !body.starts_with([' ', '\n'])
        && !body.ends_with('\n')
        && !s.contains(['\r', '\t']);
    if !exact {
        return Ok(serde_json::Value::String(serde_json::to_string(s)?));
    }
    let mut out = String::from(if s.ends_with('\n') { "|" } else { "|-" });
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
    }
    Ok(serde_json::Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_under_templates_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let mut found = Vec::new();
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
        walk(&dir, &dir, &mut found);
        found.sort();
        let embedded: Vec<_> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(found, embedded);
    }

    #[test]
    fn block_reads_back_as_the_same_text() {
        let args: HashMap<String, serde_json::Value> =
            [("indent".to_string(), serde_json::json!(2))].into();
        for text in [
            "a\n\n  b = \"c\"\n",
            "no newline",
            " leading",
            "x\n\n",
            "t\tab\n",
        ] {
            let v = block(&serde_json::json!(text), &args).unwrap();
            let yaml = format!("k: {}\n", v.as_str().unwrap());
            let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(back["k"], text, "{yaml}");
        }
    }

    #[test]
    fn q_quotes_anything() {
        let v = quote(&serde_json::json!("a: \"b\"\n#c"), &HashMap::new()).unwrap();
        assert_eq!(v, serde_json::json!(r#""a: \"b\"\n#c""#));
    }
}
