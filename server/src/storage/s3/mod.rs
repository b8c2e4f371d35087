//! The S3 driver, with distribution's object layout: the driver path
//! `/docker/registry/v2/blobs/...` is the key
//! `<rootdirectory>docker/registry/v2/blobs/...` (no leading slash), so a
//! bucket written by registry:2 is served as it is.
//!
//! Files are plain objects, except files appended to in several sessions,
//! which are segments (see `writer`). A file is one or the other, never both
//! with different content: an append to a non-empty plain object first
//! copies it (server-side) into segment 1 and then removes it.
//!
//! Client crate: rusty-s3 signs (SigV4, presigned) and parses; the HTTP is
//! the reqwest labreg already depends on. It is small, maintained, and lets
//! labreg send exactly the requests it needs (UploadPartCopy included) with
//! no second HTTP stack or async runtime.

mod client;
mod coalesce;
mod compose;
mod multipart;
mod small;
mod writer;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use rusty_s3::S3Action;
use rusty_s3::actions::GetObject;

use super::{ByteStream, FileInfo, FileStream, FileWriter, Result, StorageDriver, StorageError};
use crate::config::s3::S3Settings;
pub use client::render_metrics;
use client::{Client, Object};
use writer::S3Writer;

/// How long a redirect URL handed to a client stays valid.
pub const REDIRECT_TTL: Duration = Duration::from_secs(20 * 60);

#[derive(Clone)]
pub struct S3Driver {
    client: Arc<Client>,
    /// Concurrent reads of one small file share a request (`coalesce`).
    contents: coalesce::Reads<Bytes>,
    stats: coalesce::Reads<FileInfo>,
    read_parts: ReadParts,
}

/// How a sealed file (a blob) is downloaded: in ranges of `size` bytes, up
/// to `ahead` of them requested at once. One GET streams from one place in
/// the S3 server, which reads, checks and sends a block at a time; several
/// keep it busy on all its cores and disks while labreg sends the first
/// range on (the way S3's own clients download large objects). On Garage on
/// loopback, 8 interleaved pulls of 512 MiB: one GET 388 MB/s (median), 8
/// MiB × 4 at once 408, 16 MiB × 2 418, 16 MiB × 4 448, 32 MiB × 4 448.
/// The ranges not being read wait in their connections' buffers (the
/// kernel's), so labreg's memory does not grow with `ahead`.
#[derive(Clone, Copy, Debug)]
pub struct ReadParts {
    pub size: u64,
    pub ahead: usize,
}

impl Default for ReadParts {
    fn default() -> ReadParts {
        ReadParts {
            size: 16 << 20,
            ahead: 4,
        }
    }
}

/// Where the segments of the file `key` live.
fn segment_prefix(key: &str) -> String {
    match key.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.seg/"),
        None => format!(".{key}.seg/"),
    }
}

fn segment_key(key: &str, n: u64) -> String {
    format!("{}{n:010}", segment_prefix(key))
}

fn segment_number(key: &str) -> u64 {
    key.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A name in a listing: hidden names (segments of a file) fold into the
/// file they belong to; other dot names are not content.
fn visible_name(name: &str) -> Option<&str> {
    match name.strip_prefix('.') {
        Some(rest) => rest.strip_suffix(".seg"),
        None => Some(name),
    }
}

impl S3Driver {
    pub fn new(settings: &S3Settings) -> std::result::Result<S3Driver, String> {
        Ok(S3Driver {
            client: Arc::new(Client::new(settings)?),
            contents: Default::default(),
            stats: Default::default(),
            read_parts: ReadParts::default(),
        })
    }

    /// The same driver, downloading sealed files in `parts` (tests use
    /// small ones to cross many range edges).
    pub fn with_read_parts(mut self, parts: ReadParts) -> S3Driver {
        self.read_parts = ReadParts {
            size: parts.size.max(1),
            ahead: parts.ahead.max(1),
        };
        self
    }

    /// The address clients are redirected to for blob downloads.
    pub fn endpoint(&self) -> &str {
        &self.client.endpoint
    }

    /// The plain object at `key`, if any, and the file's segments.
    async fn pieces(&self, key: &str, path: &str) -> Result<(Option<Object>, Vec<Object>)> {
        let base = self.client.head(key, path).await?;
        let (mut segs, _) = self.client.list(&segment_prefix(key), false, path).await?;
        segs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((base, segs))
    }

    /// The objects whose concatenation is the file; NotFound when none.
    async fn file_objects(&self, key: &str, path: &str) -> Result<Vec<Object>> {
        let (base, segs) = self.pieces(key, path).await?;
        if base.is_none() && segs.is_empty() {
            return Err(StorageError::NotFound(path.to_string()));
        }
        Ok(base.into_iter().chain(segs).collect())
    }

    /// `read` of `path`, shared with the reads of it made meanwhile.
    async fn coalesced<V: Clone + Send + 'static>(
        &self,
        reads: &coalesce::Reads<V>,
        path: &str,
        read: fn(S3Driver, String) -> coalesce::Request<V>,
    ) -> Result<V> {
        let (me, p) = (self.clone(), path.to_string());
        reads.read(path, move || read(me.clone(), p.clone())).await
    }

    /// Reads `len` bytes (or the rest) from `offset` across several objects.
    fn read_objects(
        &self,
        objects: Vec<Object>,
        path: &str,
        offset: u64,
        len: Option<u64>,
    ) -> ByteStream {
        let mut plan = Vec::new();
        let mut pos = 0u64;
        let end = len.map(|l| offset + l);
        for o in objects {
            let (start, stop) = (pos, pos + o.size);
            pos = stop;
            let from = offset.max(start);
            let to = end.map_or(stop, |e| e.min(stop));
            if from < to {
                plan.push((o.key, from - start, to - from));
            }
        }
        self.fetch(plan, path, 1)
    }

    /// GETs the ranges of `plan` (key, start, length) and yields their
    /// bytes in order, with up to `ahead` requests open at once: the later
    /// ones are sent before the first is read out, and wait in their
    /// connections' buffers.
    fn fetch(&self, plan: Vec<(String, u64, u64)>, path: &str, ahead: usize) -> ByteStream {
        let client = self.client.clone();
        let path = path.to_string();
        Box::pin(
            futures_util::stream::iter(plan)
                .map(move |(key, start, n)| {
                    let client = client.clone();
                    let path = path.clone();
                    async move {
                        client
                            .get_range(&key, &path, start, Some(n))
                            .await
                            .map_err(std::io::Error::other)
                    }
                })
                .buffered(ahead)
                .try_flatten(),
        )
    }
}

/// `len` bytes of `key` from `offset`, in ranges of `part` bytes.
fn split(key: &str, offset: u64, len: u64, part: u64) -> Vec<(String, u64, u64)> {
    let end = offset + len;
    (offset..end)
        .step_by(part as usize)
        .map(|start| (key.to_string(), start, part.min(end - start)))
        .collect()
}

#[async_trait]
impl StorageDriver for S3Driver {
    fn name(&self) -> &'static str {
        "s3"
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        let read = |me: S3Driver, p: String| -> coalesce::Request<Bytes> {
            Box::pin(async move { me.content(&p).await })
        };
        self.coalesced(&self.contents, path, read).await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        let key = self.client.key(path)?;
        self.client.put(&key, path, content).await
    }

    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        let key = self.client.key(path)?;
        // A plain, non-empty object has no segments: read it directly.
        if let Some(o) = self.client.head(&key, path).await?
            && o.size > 0
        {
            return self.client.get_range(&key, path, offset, len).await;
        }
        let objects = self.file_objects(&key, path).await?;
        Ok(self.read_objects(objects, path, offset, len))
    }

    /// A blob's bytes, in ranges requested ahead (`ReadParts`); a file in
    /// segments reads as `reader` does.
    async fn sealed_reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        let key = self.client.key(path)?;
        match self.client.head(&key, path).await? {
            Some(o) if o.size > 0 => {
                let end = len.map_or(o.size, |l| offset.saturating_add(l).min(o.size));
                let len = end.saturating_sub(offset);
                let ReadParts { size, ahead } = self.read_parts;
                Ok(self.fetch(split(&key, offset, len, size), path, ahead))
            }
            _ => self.reader(path, offset, len).await,
        }
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let key = self.client.key(path)?;
        let (base, segs) = self.pieces(&key, path).await?;
        let c = self.client.clone();
        if !append {
            for s in &segs {
                c.delete_key(&s.key, path).await?;
            }
            return Ok(Box::new(S3Writer::new(c, path, key, 0)));
        }
        let base_size = base.as_ref().map_or(0, |b| b.size);
        if segs.is_empty() && base_size == 0 {
            // Appending to nothing: write the file as one plain object.
            return Ok(Box::new(S3Writer::new(c, path, key, 0)));
        }
        let mut size: u64 = segs.iter().map(|s| s.size).sum();
        let mut last = segs.last().map_or(0, |s| segment_number(&s.key));
        if base_size > 0 {
            // Turn the plain object into segment 1 (same bytes, so readers
            // see the same file at every step), then segments follow.
            let first = segment_key(&key, last + 1);
            compose::copy_whole(&c, &key, &first, base_size, path).await?;
            c.delete_key(&key, path).await?;
            size += base_size;
            last += 1;
        } else if base.is_some() {
            c.delete_key(&key, path).await?;
        }
        let mut w = S3Writer::new(c, path, segment_key(&key, last + 1), size);
        w.skip_empty = true;
        Ok(Box::new(w))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let read = |me: S3Driver, p: String| -> coalesce::Request<FileInfo> {
            Box::pin(async move { me.stat_now(&p).await })
        };
        self.coalesced(&self.stats, path, read).await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        let prefix = self.client.dir_prefix(path)?;
        let (objects, prefixes) = self.client.list(&prefix, true, path).await?;
        if objects.is_empty() && prefixes.is_empty() {
            return Err(StorageError::NotFound(path.to_string()));
        }
        let mut names: Vec<String> = objects
            .iter()
            .map(|o| &o.key[prefix.len()..])
            .chain(
                prefixes
                    .iter()
                    .map(|p| p[prefix.len()..].trim_end_matches('/')),
            )
            .filter_map(visible_name)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// A writer's object is one PUT or a multipart upload completed at
    /// commit (`writer.rs`).
    fn writes_whole(&self) -> bool {
        true
    }

    /// Every segment was complete, and so durable, when its writer ended.
    async fn sync(&self, _path: &str) -> Result<()> {
        Ok(())
    }

    async fn move_file(&self, from: &str, to: &str) -> Result<()> {
        let src = self.client.key(from)?;
        let dst = self.client.key(to)?;
        let objects = self.file_objects(&src, from).await?;
        compose::compose(&self.client, &objects, &dst, to).await?;
        for o in &objects {
            self.client.delete_key(&o.key, from).await?;
        }
        Ok(())
    }

    /// A directory (everything under it, its files' segments included,
    /// found by one listing), or else a file (its plain object and
    /// segments).
    async fn delete(&self, path: &str) -> Result<()> {
        let key = self.client.key(path)?;
        let (under, _) = self
            .client
            .list(&self.client.dir_prefix(path)?, false, path)
            .await?;
        let objects = if under.is_empty() {
            let (base, segs) = self.pieces(&key, path).await?;
            base.into_iter().chain(segs).collect()
        } else {
            under
        };
        let keys: Vec<String> = objects.into_iter().map(|o| o.key).collect();
        if keys.is_empty() {
            return Err(StorageError::NotFound(path.to_string()));
        }
        let client = self.client.clone();
        let p = path.to_string();
        futures_util::stream::iter(keys)
            .map(|k| {
                let client = client.clone();
                let p = p.clone();
                async move { client.delete_key(&k, &p).await }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        let key = self.client.key(path)?;
        let url =
            GetObject::new(&self.client.bucket, Some(&self.client.creds), &key).sign(REDIRECT_TTL);
        Ok(Some(url.to_string()))
    }

    /// One flat listing; segmented files (uploads in progress) show as their
    /// plain object only.
    /// One listing without a delimiter, page by page, in key order (which
    /// is path order); nothing is gathered beyond the page in hand.
    fn walk<'a>(&'a self, path: &str) -> FileStream<'a> {
        /// Where the listing stands: the next page's token, if any.
        enum Next {
            First,
            Token(String),
            Done,
        }
        let path = path.to_string();
        let start = (Next::First, VecDeque::<FileInfo>::new());
        Box::pin(futures_util::stream::try_unfold(
            start,
            move |(mut next, mut page)| {
                let path = path.clone();
                async move {
                    loop {
                        if let Some(f) = page.pop_front() {
                            return Ok(Some((f, (next, page))));
                        }
                        let token = match next {
                            Next::Done => return Ok(None),
                            Next::First => None,
                            Next::Token(t) => Some(t),
                        };
                        let prefix = self.client.dir_prefix(&path)?;
                        let listed = self
                            .client
                            .list_page(&prefix, false, token.as_deref(), &path)
                            .await?;
                        next = listed.next.map_or(Next::Done, Next::Token);
                        page.extend(
                            listed
                                .objects
                                .into_iter()
                                .filter(|o| {
                                    !o.key[prefix.len()..].split('/').any(|c| c.starts_with('.'))
                                })
                                .map(|o| FileInfo {
                                    path: self.client.path_of(&o.key),
                                    size: o.size,
                                    modified: o.modified,
                                    is_dir: false,
                                }),
                        );
                    }
                }
            },
        ))
    }

    async fn check_reachable(&self) -> Result<()> {
        let prefix = self.client.root.clone();
        self.client.list(&prefix, true, "/").await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        assert_eq!(segment_prefix("a/b/data"), "a/b/.data.seg/");
        assert_eq!(segment_key("data", 3), ".data.seg/0000000003");
        assert_eq!(segment_number("a/.data.seg/0000000012"), 12);
        assert_eq!(visible_name(".data.seg"), Some("data"));
        assert_eq!(visible_name(".tmp"), None);
        assert_eq!(visible_name("link"), Some("link"));
    }

    #[test]
    fn ranges_cover_the_read_once() {
        let starts = |v: Vec<(String, u64, u64)>| v.into_iter().map(|(_, s, n)| (s, n)).collect();
        let got: Vec<(u64, u64)> = starts(split("k", 5, 25, 10));
        assert_eq!(got, [(5, 10), (15, 10), (25, 5)]);
        let got: Vec<(u64, u64)> = starts(split("k", 0, 20, 10));
        assert_eq!(got, [(0, 10), (10, 10)]);
        let got: Vec<(u64, u64)> = starts(split("k", 3, 1, 10));
        assert_eq!(got, [(3, 1)]);
        assert!(split("k", 7, 0, 10).is_empty());
    }
}
