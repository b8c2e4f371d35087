//! The toolkit the manifest decoder is written with: read a node as a
//! string, a number, a mapping with known keys..., and record every problem
//! with its position instead of stopping at the first one.

use std::fmt;

use super::node::{Node, Pos, Value};

/// One thing wrong with the manifest: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Collects problems while a manifest is decoded.
#[derive(Default)]
pub struct Decoder {
    pub problems: Vec<Problem>,
    /// Every well-formed `secret:NAME` seen, also in a manifest with
    /// problems elsewhere, so validate checks them in the same pass.
    pub secret_refs: Vec<super::model::SecretRef>,
}

impl Decoder {
    pub fn report(
        &mut self,
        pos: Pos,
        message: impl Into<String>,
        help: impl Into<Option<String>>,
    ) {
        self.problems.push(Problem {
            pos,
            message: message.into(),
            help: help.into(),
        });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &str) {
        let help = match &node.value {
            Value::Int(_) | Value::Float(_) | Value::Bool(_) if expected == "a string" => Some(
                format!("quote the value to make it a string: {path}: \"...\""),
            ),
            Value::Str(s) if s.is_empty() => Some(format!("give {path} a value or remove the key")),
            _ => None,
        };
        self.report(
            node.pos,
            format!("{path} must be {expected}, found {}", node.value.kind()),
            help,
        );
    }

    /// A string (not a number or boolean that YAML typed for us).
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(node, path, "a string");
                None
            }
        }
    }

    /// A non-empty string.
    pub fn nonempty(&mut self, node: &Node, path: &str) -> Option<String> {
        let s = self.string(node, path)?;
        if s.trim().is_empty() {
            self.report(node.pos, format!("{path} must not be empty"), None);
            return None;
        }
        Some(s)
    }

    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s)
                if matches!(s.as_str(), "yes" | "no" | "on" | "off" | "True" | "False") =>
            {
                self.report(
                    node.pos,
                    format!("{path} must be true or false, found the string \"{s}\""),
                    Some(format!("write {path}: true or {path}: false")),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    /// An integer within `min..=max`.
    pub fn int_in(&mut self, node: &Node, path: &str, min: i64, max: i64) -> Option<i64> {
        match &node.value {
            Value::Int(i) if (min..=max).contains(i) => Some(*i),
            Value::Int(i) => {
                self.report(
                    node.pos,
                    format!("{path} is {i}, out of range"),
                    Some(format!("use a value from {min} to {max}")),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, &format!("an integer from {min} to {max}"));
                None
            }
        }
    }

    pub fn seq<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.wrong_type(node, path, "a list");
                None
            }
        }
    }

    /// A mapping whose keys are all in `known`. Unknown keys, non-string
    /// keys and repeated keys are reported; the known entries are returned.
    pub fn map<'a>(&mut self, node: &'a Node, path: &str, known: &[&str]) -> Option<Fields<'a>> {
        let entries = self.entries(node, path)?;
        let mut kept = Vec::new();
        for (key, k, v) in entries.entries {
            if known.contains(&key) {
                kept.push((key, k, v));
                continue;
            }
            let at = if path.is_empty() {
                "the top level".to_string()
            } else {
                path.to_string()
            };
            let help = match suggest(key, known) {
                Some(s) => format!("did you mean \"{s}\"?"),
                None => format!("the keys of {at} are: {}", known.join(", ")),
            };
            self.report(k.pos, format!("unknown key \"{key}\" in {at}"), Some(help));
        }
        Some(Fields {
            pos: node.pos,
            path: path.to_string(),
            entries: kept,
        })
    }

    /// A mapping with free-form string keys (user names, ...).
    pub fn entries<'a>(&mut self, node: &'a Node, path: &str) -> Option<Fields<'a>> {
        let Value::Map(pairs) = &node.value else {
            self.wrong_type(
                node,
                if path.is_empty() {
                    "the manifest"
                } else {
                    path
                },
                "a mapping",
            );
            return None;
        };
        let mut entries: Vec<(&'a str, &'a Node, &'a Node)> = Vec::new();
        for (k, v) in pairs {
            let Value::Str(key) = &k.value else {
                self.report(
                    k.pos,
                    format!("keys of {path} must be strings, found {}", k.value.kind()),
                    None,
                );
                continue;
            };
            if let Some((_, first, _)) = entries.iter().find(|(name, _, _)| name == key) {
                self.report(
                    k.pos,
                    format!("duplicate key \"{key}\" (first at {})", first.pos),
                    Some("keep only one of them".into()),
                );
                continue;
            }
            entries.push((key, k, v));
        }
        Some(Fields {
            pos: node.pos,
            path: path.to_string(),
            entries,
        })
    }
}

/// The entries of one mapping, read by key.
pub struct Fields<'a> {
    pub pos: Pos,
    pub path: String,
    pub entries: Vec<(&'a str, &'a Node, &'a Node)>,
}

impl<'a> Fields<'a> {
    /// The value of `key`, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _, v)| *k == key && v.value != Value::Null)
            .map(|(_, _, v)| *v)
    }

    /// Dotted path of a child key, for messages.
    pub fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Reads an optional key with `f`.
    pub fn opt<T>(
        &self,
        d: &mut Decoder,
        key: &str,
        f: impl FnOnce(&mut Decoder, &'a Node, &str) -> Option<T>,
    ) -> Option<T> {
        let node = self.get(key)?;
        f(d, node, &self.child(key))
    }

    /// Reads a required key with `f`; its absence is reported at the
    /// mapping, with `example` as the fix.
    pub fn req<T>(
        &self,
        d: &mut Decoder,
        key: &str,
        example: &str,
        f: impl FnOnce(&mut Decoder, &'a Node, &str) -> Option<T>,
    ) -> Option<T> {
        match self.get(key) {
            Some(node) => f(d, node, &self.child(key)),
            None => {
                let at = if self.path.is_empty() {
                    "the manifest".to_string()
                } else {
                    self.path.clone()
                };
                d.report(
                    self.pos,
                    format!("missing required key \"{key}\" in {at}"),
                    Some(format!("add {key}: {example}")),
                );
                None
            }
        }
    }
}

/// The closest known key, when it is close enough to be a typo.
pub fn suggest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (levenshtein(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["host", "namespace", "image", "replicas", "pullSecrets"];
        assert_eq!(suggest("hots", &known), Some("host"));
        assert_eq!(suggest("pullsecrets", &known), Some("pullSecrets"));
        assert_eq!(suggest("namepsace", &known), Some("namespace"));
        assert_eq!(suggest("colour", &known), None);
    }
}
