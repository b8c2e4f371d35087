//! `labctl image push`: an image from an OCI layout into a registry, with
//! `verify push`'s client (labreg-oci with verify's trust, Basic login, the
//! streamed upload and its diagnoses): blobs the registry lacks, then the
//! manifest by tag, checking the digest the registry answers.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;

use crate::commands::verify::client::Client;
use crate::commands::verify::diagnose::Diagnosis;
use crate::commands::verify::target::{self, Target};
use crate::commands::verify::tls::Trust;
use crate::commands::verify::upload::{self, Open};
use crate::commands::verify::{Login, access, password};
use crate::image::layout::{self, Blob};
use crate::lab::LabPath;

/// The repository `image push` uses without a reference.
pub const LAB_REPOSITORY: &str = "labctl/labreg";

#[derive(clap::Args)]
pub struct PushArgs {
    /// REGISTRY[:PORT]/REPOSITORY[:TAG]. Default: the lab's registry,
    /// labctl/labreg, tagged as in the layout (its version).
    #[arg(value_name = "REF")]
    pub reference: Option<String>,
    /// The OCI image layout to push (from `labctl image build --output`).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Which image of the layout, by its ref name, when it holds several.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// For the lab's registry (REF's host is lab.yaml's, or no REF), the
    /// defaults are a lab user allowed to push and the lab's CA.
    #[command(flatten)]
    pub login: Login,
}

/// `REGISTRY[:PORT]/REPOSITORY[:TAG]` split into its three parts.
pub fn parse_reference(text: &str) -> anyhow::Result<(String, String, Option<String>)> {
    let help = "expected REGISTRY[:PORT]/REPOSITORY[:TAG], e.g. reg.lan:5000/labctl/labreg:0.1.0";
    anyhow::ensure!(
        !text.contains("://") && !text.contains('@'),
        "{text:?}: give the reference without a scheme or digest ({help}; --insecure for plain HTTP)"
    );
    let (registry, rest) = text
        .split_once('/')
        .with_context(|| format!("{text:?} names no registry: {help}"))?;
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((r, t)) => (r, Some(t.to_string())),
        None => (rest, None),
    };
    let name_ok = !repo.is_empty()
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    anyhow::ensure!(
        name_ok,
        "{text:?}: {repo:?} is not a repository name (lowercase letters, digits, '.', '_', '-', separated by '/'): {help}"
    );
    if let Some(t) = &tag {
        let ok = (1..=128).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        anyhow::ensure!(ok, "{text:?}: {t:?} is not a tag: {help}");
    }
    Ok((registry.to_string(), repo.to_string(), tag))
}

/// The lab's registry when no REF is given; REF's registry otherwise, with
/// the lab's CA and users when run in a lab.
fn target(args: &PushArgs, registry: Option<&str>, lab: &LabPath) -> anyhow::Result<Target> {
    let creds = password(&args.login)?;
    let Some(registry) = registry else {
        return target::from_lab(lab, args.login.insecure, creds, args.login.ca.clone())
            .context("cannot find the lab's registry (or give REF)");
    };
    // Inside a lab that loads, any address gets the lab's CA and users
    // unless --ca or --user say otherwise, as `verify push --registry` does.
    if lab.file.is_file() && lab.load().is_ok() {
        return target::from_args_in_lab(
            registry,
            args.login.insecure,
            creds,
            args.login.ca.clone(),
            lab,
        );
    }
    target::from_args(registry, args.login.insecure, creds, args.login.ca.clone())
}

pub fn run(args: PushArgs, lab: &LabPath) -> anyhow::Result<ExitCode> {
    let image = layout::open(&args.from, args.tag.as_deref())?;
    let (registry, repo, tag) = match &args.reference {
        Some(r) => {
            let (reg, repo, tag) = parse_reference(r)?;
            (Some(reg), repo, tag)
        }
        None => (None, LAB_REPOSITORY.to_string(), None),
    };
    let tag = tag.or(image.tag.clone()).with_context(|| {
        format!(
            "the image in {} has no ref name: give the tag in REF (REGISTRY/REPOSITORY:TAG)",
            args.from.display()
        )
    })?;
    let t = target(&args, registry.as_deref(), lab)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let shown = format!("{}/{repo}:{tag}", crate::trust::address(&t.host, t.port));
    let (digest, lines) = rt
        .block_on(push(&t, &repo, &tag, &image))
        .map_err(|d| explain(&shown, d))?;
    println!("pushed {shown}");
    for l in lines {
        println!("  {l}");
    }
    println!("  manifest  {digest}");
    println!(
        "lab.yaml:   registry.image: {shown}   (or pinned: {}/{repo}@{digest})",
        crate::trust::address(&t.host, t.port)
    );
    Ok(ExitCode::SUCCESS)
}

fn explain(what: &str, d: Diagnosis) -> anyhow::Error {
    let mut msg = format!("cannot push {what}: {}\n  fix: {}", d.cause, d.fix);
    if let Some(h) = d.help {
        msg.push_str(&format!("\n  help: {h}"));
    }
    anyhow::Error::msg(msg)
}

/// Pushes the image; its manifest digest as the registry stored it, and a
/// line per blob.
async fn push(
    t: &Target,
    repo: &str,
    tag: &str,
    image: &layout::Image,
) -> Result<(String, Vec<String>), Diagnosis> {
    let trust = Trust::new(t.ca_file.as_deref())
        .map_err(|e| Diagnosis::new("ca", e.to_string(), "pass a PEM CA certificate with --ca"))?;
    let mut c = Client::new(t, trust).map_err(|e| {
        Diagnosis::new(
            "client",
            e.to_string(),
            "check --ca and the registry address",
        )
    })?;
    if t.creds.is_some() {
        access::login(&mut c, t.creds.as_ref(), &t.creds_origin).await?;
    }
    let open = Open::default();
    let mut lines = Vec::new();
    for (i, blob) in image.blobs.iter().enumerate() {
        let name = if i == 0 { "config" } else { "layer" };
        let done = if exists(&c, repo, blob).await? {
            "already in the registry".to_string()
        } else {
            let d = upload::push_blob(
                &c,
                &open,
                repo,
                name,
                chunks(blob),
                blob.size,
                &blob.digest,
                None,
            )
            .await?;
            format!("uploaded: {d}")
        };
        lines.push(format!("{name:<9} {} {done}", blob.digest));
    }
    let put = upload::put_manifest(&c, repo, tag, &image.media_type, &image.manifest).await?;
    let stored = put.stored;
    if stored != image.digest {
        return Err(Diagnosis::new(
            "digest-mismatch",
            format!(
                "the registry stored the manifest as {stored}, but labctl sent {}",
                image.digest
            ),
            "a proxy in front of the registry rewrites request bodies: check it",
        ));
    }
    Ok((stored, lines))
}

/// Whether the registry already has the blob in `repo` (HEAD 200).
async fn exists(c: &Client, repo: &str, blob: &Blob) -> Result<bool, Diagnosis> {
    match c.oci.head_blob(repo, &blob.digest).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(c.failed("the blob HEAD", &e)),
    }
}

/// The blob's file in 1 MiB chunks; a read error ends the stream early, so
/// the registry refuses the digest.
fn chunks(blob: &Blob) -> impl Iterator<Item = Bytes> + Send + 'static {
    let mut file = std::fs::File::open(&blob.path).ok();
    std::iter::from_fn(move || {
        let f = file.as_mut()?;
        let mut buf = Vec::with_capacity(1 << 20);
        match f.by_ref().take(1 << 20).read_to_end(&mut buf) {
            Ok(n) if n > 0 => Some(Bytes::from(buf)),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = parse_reference("reg.lan:5000/labctl/labreg:0.1.0").unwrap();
        assert_eq!(
            r,
            (
                "reg.lan:5000".into(),
                "labctl/labreg".into(),
                Some("0.1.0".into())
            )
        );
        let r = parse_reference("127.0.0.1:5000/labreg").unwrap();
        assert_eq!(r, ("127.0.0.1:5000".into(), "labreg".into(), None));
        for bad in [
            "labreg",
            "https://reg/x:1",
            "reg/Upper:1",
            "reg/x:bad/tag",
            "reg/x@sha256:00",
            "reg//x",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }
}
