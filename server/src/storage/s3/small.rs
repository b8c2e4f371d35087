//! The small reads behind `get_content` and `stat` (each shared by the
//! concurrent reads of one path, see `coalesce`): a link or a manifest in
//! one request when it is a plain object.

use std::time::SystemTime;

use bytes::Bytes;
use futures_util::TryStreamExt;

use super::client::Object;
use super::{S3Driver, segment_prefix};
use crate::storage::{ByteStream, FileInfo, Result, StorageDriver, StorageError};

impl S3Driver {
    /// A small file's whole content: one GET for a plain object (links,
    /// manifests; it was a HEAD then a GET); a missing or empty one may be
    /// segments (an upload in progress).
    pub(super) async fn content(&self, path: &str) -> Result<Bytes> {
        let key = self.client.key(path)?;
        let collect = |stream: ByteStream| async move {
            let chunks: Vec<Bytes> = stream
                .try_collect()
                .await
                .map_err(|e| StorageError::io(path, e))?;
            Ok::<_, StorageError>(Bytes::from(chunks.concat()))
        };
        match self.client.get_range(&key, path, 0, None).await {
            Ok(stream) => {
                let b = collect(stream).await?;
                if !b.is_empty() {
                    return Ok(b);
                }
            }
            Err(e) if e.is_not_found() => {
                // No plain object: the file is its segments, or nothing.
                let (mut segs, _) = self.client.list(&segment_prefix(&key), false, path).await?;
                if segs.is_empty() {
                    return Err(StorageError::NotFound(path.to_string()));
                }
                segs.sort_by(|a, b| a.key.cmp(&b.key));
                return collect(self.read_objects(segs, path, 0, None)).await;
            }
            Err(e) => return Err(e),
        }
        collect(self.reader(path, 0, None).await?).await
    }

    pub(super) async fn stat_now(&self, path: &str) -> Result<FileInfo> {
        let key = self.client.key(path)?;
        let base = self.client.head(&key, path).await?;
        if let Some(o) = &base
            && o.size > 0
        {
            return Ok(FileInfo {
                path: path.to_string(),
                size: o.size,
                modified: o.modified,
                is_dir: false,
            });
        }
        let (segs, _) = self.client.list(&segment_prefix(&key), false, path).await?;
        if base.is_some() || !segs.is_empty() {
            let all: Vec<&Object> = base.iter().chain(segs.iter()).collect();
            return Ok(FileInfo {
                path: path.to_string(),
                size: all.iter().map(|o| o.size).sum(),
                modified: newest(all.iter().copied()),
                is_dir: false,
            });
        }
        let (objects, prefixes) = self
            .client
            .list(&self.client.dir_prefix(path)?, true, path)
            .await?;
        if objects.is_empty() && prefixes.is_empty() {
            return Err(StorageError::NotFound(path.to_string()));
        }
        Ok(FileInfo {
            path: path.to_string(),
            size: 0,
            modified: newest(objects.iter()),
            is_dir: true,
        })
    }
}

/// The latest modification time of `objects` (the epoch for none).
fn newest<'a>(objects: impl Iterator<Item = &'a Object>) -> SystemTime {
    objects
        .map(|o| o.modified)
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
