//! `labctl diff --against git`: the objects render would write against
//! the objects apps/ holds. Nothing is written and no cluster is asked.

use std::path::Path;

use serde_json::Value;

use super::{Entry, ObjKey, compare};
use crate::render::{RenderError, check, output};

/// The objects of every YAML file under `apps`.
pub fn committed(apps: &Path) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    for (rel, path) in output::existing(apps)? {
        if !(rel.ends_with(".yaml") || rel.ends_with(".yml")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| RenderError::Io {
            action: "cannot read",
            path: path.clone(),
            source,
        })?;
        out.extend(check::objects(&rel, &text)?);
    }
    Ok(out)
}

/// Pairs `old` and `new` objects by identity: every new object in its
/// order, then the old ones no longer there.
pub fn pair(old: Vec<Value>, new: Vec<Value>) -> Vec<Entry> {
    let mut old: Vec<(ObjKey, Value)> = old.into_iter().map(|o| (ObjKey::of(&o), o)).collect();
    let mut out = Vec::new();
    for obj in new {
        let key = ObjKey::of(&obj);
        let before = old
            .iter()
            .position(|(k, _)| k.same(&key))
            .map(|i| old.remove(i).1);
        out.push(compare("git", key, before.as_ref(), Some(&obj)));
    }
    for (key, obj) in old {
        out.push(compare("git", key, Some(&obj), None));
    }
    out
}
