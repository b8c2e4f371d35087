//! Content discovery: the catalog of repositories and the tags of one, both
//! sorted and paginated with `n` and `last`.

use async_trait::async_trait;
use futures_util::TryStreamExt;

use super::change::Context;
use super::names::RepoName;
use super::service::{ListingService, Visible};
use super::{Registry, RegistryError, Result, paths};
use crate::storage::StorageError;

/// One page of a sorted listing, and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<String>,
    pub more: bool,
}

/// One page of `items` (in order) after `last`, at most `n` long.
pub(crate) fn paginate(
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
}

#[async_trait]
impl ListingService for Registry {
    async fn tags(
        &self,
        _: &Context,
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

    /// A page of the catalog, keeping only what `visible` allows. The
    /// repositories are read in catalog order and only up to the page's end.
    async fn catalog(
        &self,
        _: &Context,
        last: Option<&str>,
        n: Option<usize>,
        visible: Visible<'_>,
    ) -> Result<Page> {
        let mut page = Page {
            items: Vec::new(),
            more: false,
        };
        let mut repos = self.repositories();
        while let Some(repo) = repos.try_next().await? {
            if last.is_some_and(|last| !path_less(last, &repo)) || !visible(&repo) {
                continue;
            }
            if n.is_some_and(|n| page.items.len() >= n) {
                page.more = true;
                break;
            }
            page.items.push(repo.to_string());
        }
        Ok(page)
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
