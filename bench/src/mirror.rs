//! `labbench --mirror`: one big layer pulled through a mirror. The upstream
//! is a labreg (the `--labreg` binary) on loopback holding the layer, open
//! to anyone (registry:2's proxy does not log in to a Basic-auth upstream
//! here: it answers 500 "authentication required"); in front of it, each
//! registry of the run with the bench user: labreg with `labreg.mirrors`,
//! distribution (registry:2, registry:3) with `proxy:`, each started fresh
//! in every round (the registries in turn). Figures: the layer pulled from
//! the upstream directly (a local pull: labreg serving its own storage),
//! right before each mirror's, the first pull through each mirror
//! (uncached: fetched, verified, stored), and the second (cached).

use std::path::Path;

use anyhow::{Context, bail};
use bytes::Bytes;

use crate::link;
use crate::peers::{self, Credentials, Kind, Peer, S3};
use crate::table::{Metrics, Samples, mb_s};
use crate::work::Client;

pub const METRICS: Metrics = &[
    (
        "direct",
        "pull the layer from the upstream directly, right before the mirror's pulls (MB/s)",
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

/// The repository the upstream's `library/big` is pulled as through
/// `peer`, and the config section that makes `peer` a mirror of `upstream`.
fn mirror_config(peer: &Peer, upstream: &str) -> anyhow::Result<(String, &'static str)> {
    match peer.kind {
        Kind::Labreg => Ok((
            format!("labreg:\n  mirrors:\n    - prefix: docker.io/\n      url: {upstream}\n"),
            "docker.io/library/big",
        )),
        Kind::Distribution => Ok((format!("proxy:\n  remoteurl: {upstream}\n"), "library/big")),
        Kind::Angos => bail!(
            "--mirror: {} is angos, which labbench does not configure as a mirror (leave it out with --only)",
            peer.name
        ),
    }
}

/// Fails, before any round, for a registry that cannot be a mirror here.
pub fn check(mirrors: &[Peer]) -> anyhow::Result<()> {
    mirrors
        .iter()
        .try_for_each(|p| mirror_config(p, "").map(drop))
}

/// Where the rounds run: the work folder, the bench user, the storage,
/// and the link to the upstream (`None`: loopback at full speed).
pub struct Setup<'a> {
    pub work: &'a Path,
    pub creds: &'a Credentials,
    pub s3: Option<&'a S3>,
    pub link_mbps: Option<f64>,
}

/// One round: a fresh upstream with the layer, then each of `mirrors` in
/// front of it, in turn.
pub async fn round(
    upstream: &Peer,
    mirrors: &[Peer],
    setup: &Setup<'_>,
    (data, d): &(Bytes, String),
    out: &mut Samples,
) -> anyhow::Result<()> {
    let Setup {
        work,
        creds,
        s3,
        link_mbps,
    } = *setup;
    let dir = tempfile::tempdir_in(work)?;
    let up = peers::start(upstream, dir.path(), None, s3).await?;
    Client::new(&up.base, "")
        .push_monolithic("library/big", data.clone(), d)
        .await?;
    // Pulls from the upstream, the mirrors' included, cross the link.
    let link = match link_mbps {
        Some(mbps) => Some(link::start(&up.base, mbps).await?),
        None => None,
    };
    let upstream_base = link.as_ref().map_or(up.base.as_str(), |l| l.base.as_str());
    let direct_client = Client::new(upstream_base, "");
    for peer in mirrors {
        eprintln!("  {}", peer.name);
        let mut put = |k: &'static str, v: f64| out.put(k, &peer.name, v);
        // The direct pull right before each mirror's, so both see the
        // machine in the same state.
        let t = direct_client.pull("library/big", d, data.len()).await?;
        let direct = mb_s(data.len(), t);
        let (extra, repo) = mirror_config(peer, upstream_base)?;
        let reg = peers::start_with(peer, dir.path(), Some(creds), s3, &extra).await?;
        let c = Client::new(&reg.base, &creds.header);
        let pull = async |which: &str| {
            c.pull(repo, d, data.len())
                .await
                .map(|t| mb_s(data.len(), t))
                .with_context(|| format!("{}: the {which} pull through the mirror", peer.name))
        };
        let first = pull("first").await?;
        let cached = pull("second").await?;
        put("direct", direct);
        put("first", first);
        put("cached", cached);
        put("first_vs_direct", 100.0 * first / direct);
        // Against a local pull only: across a link it says nothing.
        if link.is_none() {
            put("cached_vs_direct", 100.0 * cached / direct);
        }
        reg.stop().await;
    }
    drop(link);
    up.stop().await;
    Ok(())
}
