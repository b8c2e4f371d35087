//! Retention policies as written in `labreg.retention`, and resolved once at
//! start into [`Policies`] (durations parsed, patterns checked, each error
//! naming its key):
//!
//! ```yaml
//! labreg:
//!   retention:
//!     schedule: 24h                   # labreg serve runs it this often (absent: on demand only)
//!     grace: 1h                       # the garbage collection after it: same grace as garbage-collect
//!     policies:                       # the first whose repositories match applies
//!       - repositories: ["ci/*"]      # "*" matches any run of characters, "/" included
//!         keep_latest: 10             # the 10 most recently pushed tags
//!         keep_tags: [latest, semver, "release-*"]
//!         delete_tags_older_than: 30d
//!         delete_untagged_older_than: 7d
//! ```
//!
//! A tag is deleted only when its policy has `keep_latest` or
//! `delete_tags_older_than` and no rule keeps it: not among the
//! `keep_latest` newest, matching no `keep_tags` pattern, and (when set)
//! pushed longer ago than `delete_tags_older_than`. `keep_tags` patterns
//! are globs (`*` any run of characters) or the word `semver`
//! (`[v]MAJOR.MINOR.PATCH[-pre][+build]`); no regular expressions.

use std::time::Duration;

use serde::Deserialize;

use crate::auth::glob_match;
use crate::config::{ConfigError, parse_duration};

/// `labreg.retention` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub schedule: Option<String>,
    pub grace: Option<String>,
    pub policies: Vec<PolicyConfig>,
}

/// One entry of `labreg.retention.policies`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub repositories: Vec<String>,
    pub keep_latest: Option<usize>,
    pub keep_tags: Vec<String>,
    pub delete_tags_older_than: Option<String>,
    pub delete_untagged_older_than: Option<String>,
}

/// The policies, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    /// How often `labreg serve` applies them; None: only `labreg retention`.
    pub schedule: Option<Duration>,
    /// The garbage collection's grace, and the age under which no manifest
    /// is deleted (a push in progress links children before its index).
    pub grace: Duration,
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its position in the list, for reports.
    pub index: usize,
    pub repositories: Vec<String>,
    pub keep_latest: Option<usize>,
    pub keep_tags: Vec<TagPattern>,
    pub delete_tags_older_than: Option<Duration>,
    pub delete_untagged_older_than: Option<Duration>,
}

/// A `keep_tags` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagPattern {
    Semver,
    Glob(String),
}

impl TagPattern {
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagPattern::Semver => is_semver(tag),
            TagPattern::Glob(g) => glob_match(g, tag),
        }
    }
}

impl std::fmt::Display for TagPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagPattern::Semver => f.write_str("semver"),
            TagPattern::Glob(g) => f.write_str(g),
        }
    }
}

/// `[v]MAJOR.MINOR.PATCH` with an optional `-pre` and `+build` (tags cannot
/// hold `+`, so docker users write `_` or nothing; both are accepted).
pub fn is_semver(tag: &str) -> bool {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let core_end = t.find(['-', '+', '_']).unwrap_or(t.len());
    let (core, rest) = t.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    let numbers = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        });
    numbers && (rest.is_empty() || rest.len() > 1)
}

impl Policy {
    /// Whether this policy's patterns name `repo`.
    pub fn applies_to(&self, repo: &str) -> bool {
        self.repositories.iter().any(|p| glob_match(p, repo))
    }

    /// Whether any rule of the policy can delete a tag.
    pub fn deletes_tags(&self) -> bool {
        self.keep_latest.is_some() || self.delete_tags_older_than.is_some()
    }
}

impl Policies {
    /// The policy that applies to `repo`: the first that matches.
    pub fn for_repo(&self, repo: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.applies_to(repo))
    }

    pub fn resolve(c: &RetentionConfig) -> Result<Policies, ConfigError> {
        const KEY: &str = "labreg.retention";
        let duration = |key: &str, v: &str| {
            parse_duration(v).map_err(|m| ConfigError::Invalid {
                key: key.to_string(),
                message: m,
            })
        };
        let schedule = c
            .schedule
            .as_deref()
            .map(|s| duration(&format!("{KEY}.schedule"), s))
            .transpose()?;
        if schedule.is_some_and(|s| s < Duration::from_secs(60)) {
            return Err(invalid(
                &format!("{KEY}.schedule"),
                "run it at most once a minute (e.g. 24h)",
            ));
        }
        let grace = match &c.grace {
            Some(g) => duration(&format!("{KEY}.grace"), g)?,
            None => Duration::from_secs(3600),
        };
        let mut policies = Vec::new();
        for (index, p) in c.policies.iter().enumerate() {
            let key = |field: &str| format!("{KEY}.policies[{index}].{field}");
            if p.repositories.is_empty() || p.repositories.iter().any(|r| r.is_empty()) {
                return Err(invalid(
                    &key("repositories"),
                    "name the repositories it applies to, e.g. [\"ci/*\"] or [\"*\"]",
                ));
            }
            let keep_tags = p
                .keep_tags
                .iter()
                .map(|t| match t.as_str() {
                    "" => Err(invalid(
                        &key("keep_tags"),
                        "an empty pattern matches nothing",
                    )),
                    "semver" => Ok(TagPattern::Semver),
                    g => Ok(TagPattern::Glob(g.to_string())),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let opt = |field: &str, v: &Option<String>| {
                v.as_deref().map(|v| duration(&key(field), v)).transpose()
            };
            let policy = Policy {
                index,
                repositories: p.repositories.clone(),
                keep_latest: p.keep_latest,
                keep_tags,
                delete_tags_older_than: opt("delete_tags_older_than", &p.delete_tags_older_than)?,
                delete_untagged_older_than: opt(
                    "delete_untagged_older_than",
                    &p.delete_untagged_older_than,
                )?,
            };
            if !policy.deletes_tags() && policy.delete_untagged_older_than.is_none() {
                return Err(invalid(
                    &key("repositories"),
                    "this policy deletes nothing: give it keep_latest, delete_tags_older_than or delete_untagged_older_than",
                ));
            }
            policies.push(policy);
        }
        Ok(Policies {
            schedule,
            grace,
            policies,
        })
    }
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn resolve(yaml: &str) -> Result<Policies, ConfigError> {
        let base = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\nlabreg:\n  retention:\n";
        let loaded = Config::from_yaml(&format!("{base}{yaml}"), Vec::new())?;
        Policies::resolve(&loaded.config.labreg.retention.unwrap_or_default())
    }

    fn key_of(e: ConfigError) -> String {
        match e {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("not a key error: {other}"),
        }
    }

    #[test]
    fn semver_tags() {
        for t in ["1.2.3", "v1.2.3", "0.10.0-rc.1", "1.0.0_build"] {
            assert!(is_semver(t), "{t}");
        }
        for t in ["latest", "1.2", "01.2.3", "1.2.3-", "v1.x.3", "sha-abc"] {
            assert!(!is_semver(t), "{t}");
        }
    }

    #[test]
    fn resolves_and_matches_first() {
        let p = resolve(
            "    schedule: 24h\n    policies:\n      - repositories: [\"ci/*\"]\n        keep_latest: 3\n        keep_tags: [latest, semver]\n      - repositories: [\"*\"]\n        delete_untagged_older_than: 7d\n",
        )
        .unwrap();
        assert_eq!(p.schedule, Some(Duration::from_secs(86400)));
        assert_eq!(p.grace, Duration::from_secs(3600));
        assert_eq!(p.for_repo("ci/app").unwrap().index, 0);
        assert_eq!(p.for_repo("team/app").unwrap().index, 1);
        assert!(p.for_repo("ci/app").unwrap().keep_tags[1].matches("v2.0.1"));
    }

    #[test]
    fn each_bad_value_names_its_key() {
        for (yaml, key) in [
            ("    schedule: daily\n", "labreg.retention.schedule"),
            ("    schedule: 1s\n", "labreg.retention.schedule"),
            ("    grace: soon\n", "labreg.retention.grace"),
            (
                "    policies:\n      - keep_latest: 3\n",
                "labreg.retention.policies[0].repositories",
            ),
            (
                "    policies:\n      - repositories: [a]\n        delete_tags_older_than: a month\n",
                "labreg.retention.policies[0].delete_tags_older_than",
            ),
            (
                "    policies:\n      - repositories: [a]\n        keep_latest: 1\n      - repositories: [b]\n        keep_tags: [latest]\n",
                "labreg.retention.policies[1].repositories",
            ),
        ] {
            assert_eq!(key_of(resolve(yaml).unwrap_err()), key, "{yaml}");
        }
        let typo = resolve("    policies:\n      - repositories: [a]\n        keep_last: 3\n");
        let msg = typo.unwrap_err().to_string();
        assert!(
            msg.contains("labreg.retention.policies[0]") && msg.contains("keep_last"),
            "{msg}"
        );
        let negative =
            resolve("    policies:\n      - repositories: [a]\n        keep_latest: -1\n");
        assert!(
            negative
                .unwrap_err()
                .to_string()
                .contains("labreg.retention.policies[0].keep_latest")
        );
    }
}
