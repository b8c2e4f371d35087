//! `labbench --mirror`: one big layer pulled through a mirror. The upstream
//! is a labreg (release build) on loopback holding the layer, open to
//! anyone (registry:2's proxy does not log in to a Basic-auth upstream
//! here: it answers 500 "authentication required"); in
//! front of it, labreg with `labreg.mirrors` and Debian's docker-registry
//! (registry:2's code) with `proxy:`, each started fresh in every run (the
//! peers interleaved run by run). Figures: the layer pulled from the
//! upstream directly (a local pull: labreg serving its own storage), the
//! first pull through each mirror (uncached: fetched, verified, stored),
//! and the second (cached).

use anyhow::Context;
use bytes::Bytes;

use crate::Samples;
use crate::peers::{self, Peer};
use crate::work::Client;

pub const METRICS: &[(&str, &str, bool)] = &[
    (
        "direct",
        "pull the layer from the upstream directly (MB/s)",
        true,
    ),
    (
        "first",
        "first pull through the mirror, uncached (MB/s)",
        true,
    ),
    (
        "cached",
        "second pull through the mirror, cached (MB/s)",
        true,
    ),
    ("first_vs_direct", "  first pull / direct pull (%)", true),
    (
        "cached_vs_direct",
        "  cached pull / direct (local) pull (%)",
        true,
    ),
];

/// One run: a fresh upstream with the layer, then each mirror in front of it.
pub async fn run(
    args: &crate::Args,
    htpasswd: &std::path::Path,
    auth: &str,
    (data, d): (&Bytes, &str),
    out: &mut Samples,
) -> anyhow::Result<()> {
    let mb_s = |d: std::time::Duration| data.len() as f64 / 1e6 / d.as_secs_f64();
    let dir = tempfile::tempdir_in(&args.work)?;
    let upstream =
        peers::start_with(Peer::Labreg, &args.labreg, dir.path(), None, auth, None, "").await?;
    let up = Client::new(&upstream.base, auth);
    up.push_monolithic("library/big", data.clone(), d).await?;
    for peer in [Peer::Labreg, Peer::Distribution] {
        let name = peer.name();
        let mut put =
            |k: &'static str, v: f64| out.entry(k).or_default().entry(name).or_default().push(v);
        // The direct pull right before each mirror's, so both see the
        // machine in the same state.
        let direct = mb_s(up.pull("library/big", d, data.len()).await?);
        put("direct", direct);
        let (extra, repo) = match peer {
            Peer::Labreg => (
                format!(
                    "labreg:\n  mirrors:\n    - prefix: docker.io/\n      url: {}\n",
                    upstream.base
                ),
                "docker.io/library/big",
            ),
            Peer::Distribution => (
                format!("proxy:\n  remoteurl: {}\n", upstream.base),
                "library/big",
            ),
        };
        let reg = peers::start_with(
            peer,
            &args.labreg,
            dir.path(),
            Some(htpasswd),
            auth,
            None,
            &extra,
        )
        .await?;
        let c = Client::new(&reg.base, auth);
        let first = mb_s(
            c.pull(repo, d, data.len())
                .await
                .with_context(|| format!("{name}: the first pull"))?,
        );
        let cached = mb_s(
            c.pull(repo, d, data.len())
                .await
                .with_context(|| format!("{name}: the second pull"))?,
        );
        put("first", first);
        put("cached", cached);
        put("first_vs_direct", 100.0 * first / direct);
        put("cached_vs_direct", 100.0 * cached / direct);
        reg.stop().await;
    }
    upstream.stop().await;
    Ok(())
}
