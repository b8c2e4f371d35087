//! `registry.retention` in lab.yaml: labreg's retention policies, rendered
//! into the registry's config.yml as `labreg.retention` (see labreg's
//! README, Retention). Durations are checked with labreg's own parser.

use super::decode::Decoder;
use super::lab_decode::{check, strings};
use super::model::{Retention, RetentionPolicy};
use super::node::Node;

pub const RETENTION_KEYS: &[&str] = &["schedule", "grace", "policies"];
pub const POLICY_KEYS: &[&str] = &[
    "repositories",
    "keepLatest",
    "keepTags",
    "deleteTagsOlderThan",
    "deleteUntaggedOlderThan",
];

fn duration(d: &mut Decoder, n: &Node, p: &str) -> Option<String> {
    let s = d.nonempty(n, p)?;
    let r = labreg::config::parse_duration(&s).map(|_| ()).map_err(|e| {
        (
            format!("{p}: {e}"),
            "write a duration such as 30d, 12h or 90m".to_string(),
        )
    });
    check(d, n, r).then_some(s)
}

pub(super) fn retention(d: &mut Decoder, n: &Node, p: &str) -> Option<Retention> {
    let m = d.map(n, p, RETENTION_KEYS)?;
    let schedule = m.opt(d, "schedule", duration);
    let grace = m.opt(d, "grace", duration);
    let policies = m.req(
        d,
        "policies",
        "[{repositories: [\"ci/*\"], keepLatest: 10}]",
        |d, n, p| {
            let items = d.seq(n, p)?;
            let mut out = Vec::new();
            for (i, it) in items.iter().enumerate() {
                if let Some(policy) = policy(d, it, &format!("{p}[{i}]")) {
                    out.push(policy);
                }
            }
            Some(out)
        },
    )?;
    Some(Retention {
        schedule,
        grace,
        policies,
    })
}

fn policy(d: &mut Decoder, n: &Node, p: &str) -> Option<RetentionPolicy> {
    let m = d.map(n, p, POLICY_KEYS)?;
    let repositories = m.req(d, "repositories", "[\"ci/*\"]", |d, n, p| {
        Some(strings(d, n, p))
    });
    let keep_latest = m.opt(d, "keepLatest", |d, n, p| d.int_in(n, p, 0, 1_000_000));
    let keep_tags = m
        .opt(d, "keepTags", |d, n, p| Some(strings(d, n, p)))
        .unwrap_or_default();
    let delete_tags_older_than = m.opt(d, "deleteTagsOlderThan", duration);
    let delete_untagged_older_than = m.opt(d, "deleteUntaggedOlderThan", duration);
    let deleting = [
        "keepLatest",
        "deleteTagsOlderThan",
        "deleteUntaggedOlderThan",
    ];
    if deleting.iter().all(|k| m.get(k).is_none()) {
        d.report(
            n.pos,
            format!("{p} deletes nothing"),
            Some("give it keepLatest, deleteTagsOlderThan or deleteUntaggedOlderThan".into()),
        );
        return None;
    }
    Some(RetentionPolicy {
        repositories: repositories?,
        keep_latest: keep_latest.map(|k| k as u64),
        keep_tags,
        delete_tags_older_than,
        delete_untagged_older_than,
    })
}
