//! The storage driver: a small, path-based interface in the spirit of
//! distribution's `storagedriver.StorageDriver`. Everything above it (the
//! registry layer) speaks only in paths like
//! `/docker/registry/v2/blobs/sha256/ab/abcd.../data` and ignores which driver
//! runs. Paths are absolute, `/`-separated, and never contain `..`.

pub mod fs;
pub mod s3;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

/// A stream of bytes read from, or to be written to, a driver.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The files of a walk, as they are found.
pub type FileStream<'a> = Pin<Box<dyn Stream<Item = Result<FileInfo>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("path not found: {0}")]
    NotFound(String),
    #[error("invalid path: {0}")]
    InvalidPath(String),
    #[error("storage is full: {0}")]
    Full(String),
    /// The storage cannot serve now (S3 unreachable, bucket missing,
    /// credentials refused); the message names the cause and the fix.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    pub fn io(path: &str, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound(path.to_string()),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                StorageError::Full(path.to_string())
            }
            _ => StorageError::Io {
                path: path.to_string(),
                source,
            },
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound(_))
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// What `stat` knows about a path.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub path: String,
    pub size: u64,
    pub modified: SystemTime,
    pub is_dir: bool,
}

/// An appending writer to one path. Bytes written are not guaranteed durable
/// until `commit`; `cancel` removes what this writer appended.
#[async_trait]
pub trait FileWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Total size of the file: what existed before plus what was written.
    fn size(&self) -> u64;
    /// Makes everything written durable.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Ends the writer with what it wrote in the file, read back by any
    /// reader and counted in its size, but not necessarily durable: a crash
    /// may lose it until [`StorageDriver::sync`] or a later `commit` on the
    /// same file. (An upload's PATCH: its bytes only become a blob after a
    /// digest check, which a crash's loss fails.)
    async fn close(self: Box<Self>) -> Result<()> {
        self.commit().await
    }
    /// Drops what this writer appended, leaving the file as it was before.
    async fn cancel(self: Box<Self>) -> Result<()>;
}

#[async_trait]
pub trait StorageDriver: Send + Sync + 'static {
    /// A short name for logs: "filesystem", "s3".
    fn name(&self) -> &'static str;
    /// The same storage, with every call done on the calling thread and
    /// complete when first polled (the filesystem), for a caller on a
    /// blocking thread that chains several small reads: one trip through
    /// the blocking pool instead of one per read. None when calls wait on
    /// the network (S3). Never to be used on an async worker thread.
    fn in_place(&self) -> Option<Arc<dyn StorageDriver>> {
        None
    }
    /// The whole content of a small file.
    async fn get_content(&self, path: &str) -> Result<Bytes>;
    /// Replaces a file's content atomically: readers see the old or the new
    /// content, never a part; the new content is durable when this returns.
    async fn put_content(&self, path: &str, content: Bytes) -> Result<()>;
    /// Reads from `offset`, at most `len` bytes when given.
    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream>;
    /// Reads a sealed file as `reader` does: a file that is only ever
    /// replaced whole (renamed over) or deleted, never written or truncated
    /// in place, as blob data is. A driver may map such a file instead of
    /// copying its bytes (the filesystem does); a decorator must pass it on.
    async fn sealed_reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        self.reader(path, offset, len).await
    }
    /// Opens a writer that appends to `path` (created if missing) when
    /// `append`, or truncates it otherwise.
    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>>;
    async fn stat(&self, path: &str) -> Result<FileInfo>;
    /// The names (not paths) of a directory's direct children, sorted.
    async fn list(&self, path: &str) -> Result<Vec<String>>;
    /// Makes durable what writers ended with `close` left in a file. No
    /// default: a decorator must pass it on, or a filesystem's bytes would
    /// stay in the page cache.
    async fn sync(&self, path: &str) -> Result<()>;
    /// Whether a writer's file appears only when the writer commits, whole,
    /// and a cancelled writer leaves the file as it was (S3: one PUT, or a
    /// multipart upload completed at commit), so that a blob can be written
    /// at its own path and committed once its digest is checked. No
    /// default: a decorator must pass it on.
    fn writes_whole(&self) -> bool;
    /// Moves a file, replacing the destination atomically.
    async fn move_file(&self, from: &str, to: &str) -> Result<()>;
    /// Deletes a file or a whole directory tree. Missing paths are NotFound.
    async fn delete(&self, path: &str) -> Result<()>;
    /// Where the file lives on this machine's disk, for a driver that keeps
    /// files there: what is written to that file through the operating
    /// system is what the driver stores.
    fn local_path(&self, _path: &str) -> Option<std::path::PathBuf> {
        None
    }
    /// A URL clients may fetch the file from directly, if the driver has one.
    async fn redirect_url(&self, _path: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Every file under a directory, recursively, with its size and time,
    /// as a stream in path order (component by component): files are
    /// yielded as they are listed, never gathered first. A missing directory
    /// is empty.
    fn walk<'a>(&'a self, path: &str) -> FileStream<'a> {
        walk_by_listing(self, path.to_string())
    }
    /// Checks at start that the storage answers, with a message naming the
    /// cause when it does not.
    async fn check_reachable(&self) -> Result<()> {
        Ok(())
    }
}

/// The names in a directory; a missing one is empty.
async fn list_or_empty<D: StorageDriver + ?Sized>(d: &D, path: &str) -> Result<Vec<String>> {
    match d.list(path).await {
        Ok(names) => Ok(names),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// A walk made of `list` and `stat`, depth first over sorted listings: it
/// holds only the listings of the directories on the way down.
pub fn walk_by_listing<D: StorageDriver + ?Sized>(d: &D, root: String) -> FileStream<'_> {
    /// A directory being walked and the names in it not yet visited.
    struct Frame {
        dir: String,
        names: std::vec::IntoIter<String>,
    }
    let start: Option<Vec<Frame>> = None;
    Box::pin(futures_util::stream::try_unfold(start, move |frames| {
        let root = root.clone();
        async move {
            let mut frames = match frames {
                Some(frames) => frames,
                None => vec![Frame {
                    names: list_or_empty(d, &root).await?.into_iter(),
                    dir: root,
                }],
            };
            while let Some(top) = frames.last_mut() {
                let Some(name) = top.names.next() else {
                    frames.pop();
                    continue;
                };
                let child = format!("{}/{name}", top.dir);
                match d.stat(&child).await {
                    Ok(info) if info.is_dir => frames.push(Frame {
                        names: list_or_empty(d, &child).await?.into_iter(),
                        dir: child,
                    }),
                    Ok(info) => return Ok(Some((info, Some(frames)))),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(None)
        }
    }))
}

/// Checks that a driver path is absolute and has no empty, `.` or `..`
/// components, so no driver can be steered outside its root.
pub fn check_path(path: &str) -> Result<()> {
    let ok = path.starts_with('/')
        && path.len() > 1
        && path[1..]
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidPath(path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn paths_are_checked() {
        assert!(check_path("/docker/registry/v2/blobs").is_ok());
        for bad in [
            "", "/", "relative", "/a//b", "/a/../b", "/a/./b", "/a/b/", "/a\0b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
    }
}
