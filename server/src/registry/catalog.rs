//! Content discovery: the catalog of repositories and the tags of one, both
//! sorted and paginated with `n` and `last`.

use super::names::RepoName;
use super::{Registry, RegistryError, Result, paths};
use crate::storage::StorageError;

/// One page of a sorted listing, and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<String>,
    pub more: bool,
}

fn paginate(
    items: Vec<String>,
    last: Option<&str>,
    n: Option<usize>,
    less: impl Fn(&str, &str) -> bool,
) -> Page {
    let mut rest: Vec<String> = match last {
        Some(last) => items.into_iter().filter(|i| less(last, i)).collect(),
        None => items,
    };
    let more = n.is_some_and(|n| rest.len() > n);
    if let Some(n) = n {
        rest.truncate(n);
    }
    Page { items: rest, more }
}

/// Repository order: component by component, as distribution sorts them, so
/// that `a/b` comes right after `a` and before `a-b`.
fn path_less(a: &str, b: &str) -> bool {
    a.split('/').lt(b.split('/'))
}

impl Registry {
    /// The names in a directory; an absent directory is empty.
    pub(super) async fn list_dir(
        &self,
        path: &str,
    ) -> std::result::Result<Vec<String>, StorageError> {
        match self.driver.list(path).await {
            Ok(v) => Ok(v),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    pub async fn tags(
        &self,
        name: &RepoName,
        last: Option<&str>,
        n: Option<usize>,
    ) -> Result<Page> {
        if !self.repository_exists(name).await? {
            return Err(RegistryError::NameUnknown(name.to_string()));
        }
        // A tag directory without its current link (a delete or a first
        // write interrupted) is not a tag.
        let mut tags = Vec::new();
        for tag in self.list_dir(&paths::tags_dir(name)).await? {
            if self.exists(&paths::tag_current_link(name, &tag)).await? {
                tags.push(tag);
            }
        }
        Ok(paginate(tags, last, n, |a, b| a < b))
    }

    /// Every repository name, sorted. A repository is a directory that holds
    /// `_layers` or `_manifests`; other `_` directories are not descended.
    pub async fn repositories(&self) -> Result<Vec<String>> {
        self.directories_holding(&["_layers", "_manifests"]).await
    }

    /// Every directory under `repositories/` that holds one of `markers`,
    /// as a repository name, sorted.
    pub(super) async fn directories_holding(&self, markers: &[&str]) -> Result<Vec<String>> {
        let root = paths::repositories_root();
        let mut found = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(rel) = stack.pop() {
            let dir = if rel.is_empty() {
                root.clone()
            } else {
                paths::repository(&rel)
            };
            let entries = self.list_dir(&dir).await?;
            if !rel.is_empty() && entries.iter().any(|e| markers.contains(&e.as_str())) {
                found.push(rel.clone());
            }
            for e in entries.iter().rev().filter(|e| !e.starts_with('_')) {
                stack.push(if rel.is_empty() {
                    e.clone()
                } else {
                    format!("{rel}/{e}")
                });
            }
        }
        found.sort_by(|a, b| a.split('/').cmp(b.split('/')));
        Ok(found)
    }

    /// A page of the catalog, keeping only what `visible` allows.
    pub async fn catalog(
        &self,
        last: Option<&str>,
        n: Option<usize>,
        visible: impl Fn(&str) -> bool,
    ) -> Result<Page> {
        let repos = self
            .repositories()
            .await?
            .into_iter()
            .filter(|r| visible(r))
            .collect();
        Ok(paginate(repos, last, n, path_less))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let p = paginate(items.clone(), None, Some(2), |a, b| a < b);
        assert_eq!(
            p,
            Page {
                items: vec!["a".into(), "b".into()],
                more: true
            }
        );
        let p = paginate(items.clone(), Some("b"), Some(2), |a, b| a < b);
        assert_eq!(
            p,
            Page {
                items: vec!["c".into(), "d".into()],
                more: false
            }
        );
        let p = paginate(items.clone(), Some("d"), None, |a, b| a < b);
        assert!(p.items.is_empty() && !p.more);
        let p = paginate(items, None, Some(0), |a, b| a < b);
        assert!(p.items.is_empty() && p.more);
    }

    #[test]
    fn repository_order() {
        assert!(path_less("a", "a/b"));
        assert!(path_less("a/b", "a-b"));
        assert!(!path_less("a-b", "a/b"));
    }
}
