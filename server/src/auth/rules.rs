//! Access rules, labreg's addition to registry:2's all-or-nothing htpasswd.
//! They live in a `labreg.access` config section that registry:2 ignores:
//!
//! ```yaml
//! labreg:
//!   access:
//!     - users: [alice]                 # names, "*" (any signed-in user) or "anonymous"
//!       repositories: ["team/*"]       # "*" matches any run of characters, "/" included
//!       actions: [pull, push]          # pull, push, delete
//!     - users: [anonymous]
//!       repositories: ["public/*"]
//!       actions: [pull]
//! ```
//!
//! Grants add up, and signed-in users also get what `anonymous` is granted;
//! nothing is allowed that no rule grants. Without the
//! section, every signed-in user may do everything, as in registry:2.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pull,
    Push,
    Delete,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub users: Vec<String>,
    pub repositories: Vec<String>,
    pub actions: Vec<Action>,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User(String),
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn user_matches(entry: &str, who: &Principal) -> bool {
    match who {
        Principal::Anonymous => entry == "anonymous",
        // A signed-in user may do at least what anyone may.
        Principal::User(u) => entry == "*" || entry == "anonymous" || entry == u,
    }
}

/// Whether `who` may do `action` on repository `name` under `rules`.
pub fn allowed(rules: &[Rule], who: &Principal, name: &str, action: Action) -> bool {
    rules.iter().any(|r| {
        r.actions.contains(&action)
            && r.users.iter().any(|u| user_matches(u, who))
            && r.repositories.iter().any(|p| glob_match(p, name))
    })
}

/// Whether `who` may do everything everywhere: a rule grants pull, push and
/// delete on `*`.
pub fn is_admin(rules: &[Rule], who: &Principal) -> bool {
    rules.iter().any(|r| {
        [Action::Pull, Action::Push, Action::Delete]
            .iter()
            .all(|a| r.actions.contains(a))
            && r.repositories.iter().any(|p| p == "*")
            && r.users.iter().any(|u| user_matches(u, who))
    })
}

/// Whether `who` may pull anything at all (for the catalog and `/v2/`).
pub fn may_pull_something(rules: &[Rule], who: &Principal) -> bool {
    rules
        .iter()
        .any(|r| r.actions.contains(&Action::Pull) && r.users.iter().any(|u| user_matches(u, who)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (p, n, want) in [
            ("*", "a/b", true),
            ("team/*", "team/a", true),
            ("team/*", "team/a/b", true),
            ("team/*", "team", false),
            ("team/*", "teams/a", false),
            ("a*c", "abbc", true),
            ("a*c", "abbd", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*/app", "x/y/app", true),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} ~ {n}");
        }
    }

    #[test]
    fn grants_add_up() {
        let rules = vec![
            Rule {
                users: vec!["alice".into()],
                repositories: vec!["team/*".into()],
                actions: vec![Action::Pull],
            },
            Rule {
                users: vec!["*".into()],
                repositories: vec!["shared/*".into()],
                actions: vec![Action::Pull, Action::Push],
            },
            Rule {
                users: vec!["anonymous".into()],
                repositories: vec!["public/*".into()],
                actions: vec![Action::Pull],
            },
        ];
        let alice = Principal::User("alice".into());
        let bob = Principal::User("bob".into());
        assert!(allowed(&rules, &alice, "team/x", Action::Pull));
        assert!(!allowed(&rules, &alice, "team/x", Action::Push));
        assert!(!allowed(&rules, &bob, "team/x", Action::Pull));
        assert!(allowed(&rules, &bob, "shared/x", Action::Push));
        assert!(
            allowed(&rules, &alice, "public/x", Action::Pull),
            "what anyone may, users may"
        );
        assert!(allowed(
            &rules,
            &Principal::Anonymous,
            "public/x",
            Action::Pull
        ));
        assert!(!allowed(
            &rules,
            &Principal::Anonymous,
            "shared/x",
            Action::Pull
        ));
        assert!(may_pull_something(&rules, &Principal::Anonymous));
    }
}
