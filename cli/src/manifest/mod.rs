//! `lab.yaml`: reading, decoding with defaults, and validation.
//!
//! Positions come from serde-saphyr: `node.rs` turns a document into a tree
//! of `Spanned` nodes, `lab_decode.rs` walks that tree into the typed model
//! of `model.rs` and records every problem with its line and column.

pub mod cert_checks;
pub mod checks;
pub mod decode;
pub mod lab_decode;
pub mod mirrors;
pub mod model;
pub mod node;
pub mod nodes;
pub mod notifications;
mod registry_decode;
mod retention_decode;

use std::fmt;
use std::path::{Path, PathBuf};

pub use decode::Problem;
pub use model::Lab;
use node::{Pos, Value};

/// A manifest that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid", path.display())]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// Problems of one file, printed as `FILE:LINE:COL: error: ...` lines.
pub struct Report<'a> {
    pub path: &'a Path,
    pub problems: &'a [Problem],
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.problems {
            writeln!(f, "{}:{}: error: {}", self.path.display(), p.pos, p.message)?;
            if let Some(help) = &p.help {
                writeln!(f, "  help: {help}")?;
            }
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, ManifestError> {
    std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses and decodes `src`. Returns the lab when it could be built and
/// every problem found, sorted by position.
pub fn decode(src: &str) -> (Option<Lab>, Vec<Problem>) {
    let (lab, problems, _) = decode_with_refs(src);
    (lab, problems)
}

/// `decode`, plus every secret reference that could be read, also when
/// other parts of the manifest have problems.
pub fn decode_with_refs(src: &str) -> (Option<Lab>, Vec<Problem>, Vec<model::SecretRef>) {
    let start = Pos { line: 1, column: 1 };
    let root = match node::parse(src) {
        Ok(Some(root)) if root.value != Value::Null => root,
        Ok(_) => {
            let help = "run `labctl init` for a starter, or begin with apiVersion: labctl/v1alpha1 and kind: Lab";
            return (
                None,
                vec![Problem {
                    pos: start,
                    message: "the manifest is empty".into(),
                    help: Some(help.into()),
                }],
                Vec::new(),
            );
        }
        Err(e) => {
            let help = "fix the YAML syntax here; indentation must use spaces and be consistent";
            return (
                None,
                vec![Problem {
                    pos: e.pos,
                    message: format!("YAML syntax error: {}", e.message),
                    help: Some(help.into()),
                }],
                Vec::new(),
            );
        }
    };
    let mut d = decode::Decoder::default();
    let lab = lab_decode::lab(&mut d, &root);
    let mut problems = d.problems;
    problems.sort();
    problems.dedup();
    let lab = if problems.is_empty() { lab } else { None };
    (lab, problems, d.secret_refs)
}

/// Problems with the secrets a lab refers to: each `secret:NAME` needs
/// `secrets/NAME.age` under `root`.
pub fn missing_secrets(refs: &[model::SecretRef], root: &Path) -> Vec<Problem> {
    let mut out: Vec<Problem> = refs
        .iter()
        .filter(|r| !crate::store::secret_path(root, &r.name).is_file())
        .map(|r| Problem {
            pos: r.pos,
            message: format!(
                "secret \"{}\" does not exist (no secrets/{}.age)",
                r.name, r.name
            ),
            help: Some(format!(
                "create it with `labctl secrets set {} --generate` (or pipe your value: `printf %s VALUE | labctl secrets set {}`)",
                r.name, r.name
            )),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Reads, decodes and fully validates a manifest: its structure, the
/// secrets it refers to and, when it is sound enough to know the host,
/// the certificates, in one pass (a secret reference is checked even when
/// another key has a problem).
pub fn validate(path: &Path, root: &Path) -> Result<(Option<Lab>, Vec<Problem>), ManifestError> {
    let src = read(path)?;
    let (lab, mut problems, refs) = decode_with_refs(&src);
    problems.extend(missing_secrets(&refs, root));
    if let Some(lab) = &lab {
        problems.extend(cert_checks::problems(lab, &src, root));
    }
    problems.sort();
    Ok((lab, problems))
}

/// Reads and decodes a manifest; any problem is an error.
pub fn load(path: &Path) -> Result<Lab, ManifestError> {
    let src = read(path)?;
    match decode(&src) {
        (Some(lab), _) => Ok(lab),
        (None, problems) => Err(ManifestError::Invalid {
            path: path.to_path_buf(),
            problems,
        }),
    }
}

/// Reads only `secrets` from a manifest, so the secret commands work while
/// other parts of lab.yaml are still being written.
pub fn load_secrets(path: &Path) -> Result<model::Secrets, ManifestError> {
    let src = read(path)?;
    let invalid = |problems| ManifestError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let root = match node::parse(&src) {
        Ok(Some(root)) => root,
        _ => return Err(invalid(decode(&src).1)),
    };
    let mut d = decode::Decoder::default();
    let secrets = match &root.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.value == Value::Str("secrets".into()))
            .and_then(|(_, v)| lab_decode::secrets(&mut d, v, "secrets")),
        _ => None,
    };
    match secrets {
        Some(s) if d.problems.is_empty() => Ok(s),
        _ if d.problems.is_empty() => Err(invalid(vec![Problem {
            pos: root.pos,
            message: "missing required key \"secrets\" in the manifest".into(),
            help: Some("add secrets: {recipients: [age1...]}".into()),
        }])),
        _ => Err(invalid(d.problems)),
    }
}
