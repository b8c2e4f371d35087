//! The filesystem driver, byte-compatible with distribution's: a driver path
//! `/docker/registry/v2/...` is the file `<rootdirectory>/docker/registry/v2/...`.
//!
//! Durability: content replaced with `put_content` goes to a temporary file in
//! the same directory, is fsynced, renamed over the target, and the directory
//! is fsynced; directories created on the way are fsynced into their parents.
//! A crash at any moment leaves the old or the new file, never a part.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::future::{self, Either};
use futures_util::stream;

use super::{ByteStream, FileInfo, FileWriter, Result, StorageDriver, StorageError, check_path};

/// Bytes buffered by a writer before they go to the file in one system call.
const WRITE_BUFFER: usize = 512 << 10;
/// A chunk at least this big, with nothing buffered before it, is written
/// as it is: the upload path's batches (128–512 KiB) are not copied again.
const DIRECT_WRITE: usize = 128 << 10;
/// Read size when streaming a file out: one blocking-pool hop per MiB.
const READ_CHUNK: usize = 1 << 20;
/// Size of the windows a sealed file (blob data) is mapped in when
/// streamed out: two at most are mapped at a time per stream.
const MAP_WINDOW: u64 = 4 << 20;
/// A writer asks the kernel to start writing its bytes to the disk every
/// this many bytes, instead of leaving all of them dirty for the fsync of
/// the commit.
const WRITEBACK_WINDOW: u64 = 8 << 20;

pub struct FilesystemDriver {
    root: PathBuf,
    /// Runs each operation on the calling thread instead of the blocking
    /// pool: the driver `in_place` hands out, for callers that are already
    /// on a blocking thread.
    in_place: bool,
}

impl FilesystemDriver {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FilesystemDriver {
            root: root.into(),
            in_place: false,
        }
    }

    /// Runs `f`, a piece of blocking file I/O on `path`: on the blocking
    /// pool, or right here for the in-place driver.
    async fn run<T: Send + 'static>(
        &self,
        path: &str,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T> {
        if self.in_place {
            f().map_err(|e| StorageError::io(path, e))
        } else {
            blocking(path, f).await
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full(&self, path: &str) -> Result<PathBuf> {
        check_path(path)?;
        Ok(self.root.join(&path[1..]))
    }
}

async fn blocking<T: Send + 'static>(
    path: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| StorageError::io(path, e)),
        Err(join) => Err(StorageError::io(path, io::Error::other(join))),
    }
}

/// Reads up to `READ_CHUNK` bytes of at most `left` (fewer only at the end
/// of the file) into a fresh buffer, without zeroing it first. It reads at
/// the file's cursor, which the stream keeps at the piece's position.
fn read_chunk(file: &File, _pos: u64, left: u64) -> io::Result<Bytes> {
    let n = left.min(READ_CHUNK as u64);
    let mut buf = Vec::with_capacity(n as usize);
    file.take(n).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

/// Maps up to `MAP_WINDOW` bytes of a sealed file from `pos`, of at most
/// `left`, with its pages read in now (on the blocking pool): the bytes are
/// sent to the socket from the page cache, with no copy into a buffer first.
fn map_window(file: &File, pos: u64, left: u64) -> io::Result<Bytes> {
    let n = left.min(MAP_WINDOW);
    if n == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: a mapping is only made of a sealed file (`sealed_reader`), one
    // that is replaced by a rename or deleted but never written or truncated
    // in place, and only within the length it had when opened: its bytes
    // stay there, unchanged, as long as the mapping lives.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .offset(pos)
            .len(n as usize)
            .populate()
            .map(file)?
    };
    Ok(Bytes::from_owner(map))
}

/// The next piece of a file being streamed out: `(file, pos, left)` to at
/// most `left` bytes from `pos`; `read_chunk` or `map_window`.
type Fill = fn(&File, u64, u64) -> io::Result<Bytes>;

/// Opens a sealed file to stream out at most `len` bytes from `offset`,
/// within the length it has now, in windows made by `map`; where the first
/// one cannot be made (a filesystem that cannot map files), the file is
/// read as `reader` does.
fn open_sealed(full: &Path, offset: u64, len: Option<u64>, map: Fill) -> io::Result<ByteStream> {
    let file = File::open(full)?;
    let size = file.metadata()?.len();
    let left = size.saturating_sub(offset).min(len.unwrap_or(u64::MAX));
    if let Ok(first) = map(&file, offset, left) {
        return Ok(stream_out(file, Ok(first), offset, left, map, MAP_WINDOW));
    }
    read_from(file, offset, left)
}

/// Streams `file` out by reading it, at most `left` bytes from `offset`;
/// the first piece is read now.
fn read_from(mut file: File, offset: u64, left: u64) -> io::Result<ByteStream> {
    if offset > 0 {
        file.seek(io::SeekFrom::Start(offset))?;
    }
    let first = read_chunk(&file, offset, left);
    Ok(stream_out(
        file,
        first,
        offset,
        left,
        read_chunk,
        READ_CHUNK as u64,
    ))
}

/// Streams a file out with one piece always in flight on the blocking pool:
/// the next one is read or mapped while the previous one goes to the
/// socket. `first` is the piece at `pos`, got when the file was opened; the
/// stream ends at the end of the file (a piece shorter than `step`) or
/// after `left` bytes.
fn stream_out(
    file: File,
    first: io::Result<Bytes>,
    pos: u64,
    left: u64,
    fill: Fill,
    step: u64,
) -> ByteStream {
    type Pending = tokio::task::JoinHandle<(File, io::Result<Bytes>)>;
    let start = move |file: File, pos: u64, left: u64| -> Pending {
        tokio::task::spawn_blocking(move || {
            let r = fill(&file, pos, left);
            (file, r)
        })
    };
    let ready = future::ready((file, first));
    let state: Option<(Either<_, Pending>, u64, u64)> = Some((Either::Left(ready), pos, left));
    Box::pin(stream::unfold(state, move |state| async move {
        let (next, pos, left) = state?;
        let (file, chunk) = match next {
            Either::Left(r) => r.await,
            Either::Right(h) => match h.await {
                Ok(r) => r,
                Err(join) => return Some((Err(io::Error::other(join)), None)),
            },
        };
        let chunk = match chunk {
            Ok(c) if c.is_empty() => return None,
            Ok(c) => c,
            Err(e) => return Some((Err(e), None)),
        };
        let (pos, left) = (pos + chunk.len() as u64, left - chunk.len() as u64);
        let more = (left > 0 && chunk.len() as u64 == step)
            .then(|| (Either::Right(start(file, pos, left)), pos, left));
        Some((Ok(chunk), more))
    }))
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing ancestors, fsyncing each new entry into its
/// parent so that the directory survives a crash.
fn create_dirs_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

fn temp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp-{:016x}", rand::random::<u64>()))
}

fn write_atomic(target: &Path, content: &[u8]) -> io::Result<()> {
    let dir = target.parent().expect("driver paths have a parent");
    create_dirs_durable(dir)?;
    let tmp = temp_name(target);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, target)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[async_trait]
impl StorageDriver for FilesystemDriver {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    /// A writer writes into the file itself, as it goes.
    fn writes_whole(&self) -> bool {
        false
    }

    fn in_place(&self) -> Option<Arc<dyn StorageDriver>> {
        Some(Arc::new(FilesystemDriver {
            root: self.root.clone(),
            in_place: true,
        }))
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        let full = self.full(path)?;
        self.run(path, move || {
            let mut f = File::open(&full)?;
            if f.metadata()?.is_dir() {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        let full = self.full(path)?;
        self.run(path, move || write_atomic(&full, &content)).await
    }

    async fn reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        let full = self.full(path)?;
        let left = len.unwrap_or(u64::MAX);
        self.run(path, move || read_from(File::open(&full)?, offset, left))
            .await
    }

    /// Maps the file in windows, within the length it has now; where the
    /// filesystem cannot map files, reads it as `reader` does.
    async fn sealed_reader(&self, path: &str, offset: u64, len: Option<u64>) -> Result<ByteStream> {
        let full = self.full(path)?;
        self.run(path, move || open_sealed(&full, offset, len, map_window))
            .await
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let full = self.full(path)?;
        let p = path.to_string();
        let full_path = full.clone();
        let (file, start) = self
            .run(path, move || {
                create_dirs_durable(full.parent().expect("driver paths have a parent"))?;
                let file = OpenOptions::new()
                    .create(true)
                    .append(append)
                    .write(true)
                    .truncate(!append)
                    .open(&full)?;
                let start = file.metadata()?.len();
                Ok((file, start))
            })
            .await?;
        Ok(Box::new(FsWriter {
            path: p,
            full: full_path,
            file: Some(file),
            pending: None,
            start,
            written: 0,
            buf: BytesMut::new(),
            handed: start,
            written_back: start - start % WRITEBACK_WINDOW,
        }))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let full = self.full(path)?;
        let p = path.to_string();
        self.run(path, move || {
            let md = fs::metadata(&full)?;
            Ok(FileInfo {
                path: p,
                size: md.len(),
                modified: md.modified()?,
                is_dir: md.is_dir(),
            })
        })
        .await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        let full = self.full(path)?;
        self.run(path, move || {
            let mut names = Vec::new();
            for entry in fs::read_dir(&full)? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                // Temporary files of an atomic write in progress (or of one a
                // crash interrupted) are not content.
                if !name.starts_with('.') {
                    names.push(name);
                }
            }
            names.sort();
            Ok(names)
        })
        .await
    }

    fn local_path(&self, path: &str) -> Option<PathBuf> {
        self.full(path).ok()
    }

    async fn sync(&self, path: &str) -> Result<()> {
        let full = self.full(path)?;
        self.run(path, move || File::open(&full)?.sync_data()).await
    }

    async fn move_file(&self, from: &str, to: &str) -> Result<()> {
        let src = self.full(from)?;
        let dst = self.full(to)?;
        self.run(from, move || {
            let dir = dst.parent().expect("driver paths have a parent");
            create_dirs_durable(dir)?;
            fs::rename(&src, &dst)?;
            fsync_dir(dir)
        })
        .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let full = self.full(path)?;
        self.run(path, move || {
            let md = fs::symlink_metadata(&full)?;
            if md.is_dir() {
                fs::remove_dir_all(&full)?;
            } else {
                fs::remove_file(&full)?;
            }
            if let Some(parent) = full.parent() {
                fsync_dir(parent)?;
            }
            Ok(())
        })
        .await
    }
}

/// A writer that overlaps disk writes with receiving: while one buffer is
/// written on the blocking pool, the next one fills (and is hashed by the
/// caller). At most two buffers exist per writer.
struct FsWriter {
    path: String,
    full: PathBuf,
    file: Option<File>,
    pending: Option<tokio::task::JoinHandle<(File, io::Result<()>)>>,
    start: u64,
    written: u64,
    buf: BytesMut,
    /// File offsets: the end of the bytes handed to the file so far, and
    /// the start of the window not yet handed to the disk (`writeback`).
    /// Windows are whole multiples of the file, whichever writer wrote
    /// their bytes: an upload sent in small PATCHes is written back as it
    /// grows too.
    handed: u64,
    written_back: u64,
}

/// Early writeback of what a writer wrote, windows `from..to` of the file
/// (whole `WRITEBACK_WINDOW`s): each is handed to the disk as soon as it is
/// written (`sync_file_range`, Linux), and the writer waits for the window
/// before it. The commit's fsync then finds almost nothing left to write,
/// dirty pages stay at about two windows per upload instead of the whole
/// layer (a 2 GiB push does not run into the kernel's dirty-page
/// throttling), and a disk slower than the network slows the client down
/// instead of filling memory. It makes nothing durable: the commit's fsync
/// does, and reports any error these calls would have seen.
fn writeback(file: &File, from: u64, to: u64) {
    let mut at = from;
    while at < to {
        sync_range(file, at, WRITEBACK_WINDOW, false);
        if let Some(before) = at.checked_sub(WRITEBACK_WINDOW) {
            sync_range(file, before, WRITEBACK_WINDOW, true);
        }
        at += WRITEBACK_WINDOW;
    }
}

#[cfg(target_os = "linux")]
fn sync_range(file: &File, offset: u64, len: u64, wait: bool) {
    use std::os::fd::AsRawFd;
    let flags = if wait {
        libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER
    } else {
        libc::SYNC_FILE_RANGE_WRITE
    };
    // SAFETY: the descriptor is open for the call (borrowed from `file`),
    // and the call only reads the numbers given.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, flags);
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_range(_: &File, _: u64, _: u64, _: bool) {}

impl FsWriter {
    /// Waits for the write in flight, if any, and takes the file back.
    async fn wait_pending(&mut self) -> Result<()> {
        if let Some(handle) = self.pending.take() {
            let (file, res) = handle
                .await
                .map_err(|e| StorageError::io(&self.path, io::Error::other(e)))?;
            self.file = Some(file);
            res.map_err(|e| StorageError::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Hands the buffer to `flush_bytes`.
    async fn flush_buf(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = self.buf.split().freeze();
        self.flush_bytes(data).await
    }

    /// Starts writing `data` on the blocking pool, after the previous write
    /// has finished.
    async fn flush_bytes(&mut self, data: Bytes) -> Result<()> {
        self.wait_pending().await?;
        let mut file = self.file.take().expect("writer used after commit");
        self.handed += data.len() as u64;
        let from = self.written_back;
        let windows = (self.handed - from) / WRITEBACK_WINDOW;
        self.written_back += windows * WRITEBACK_WINDOW;
        let to = self.written_back;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let r = file.write_all(&data);
            if r.is_ok() {
                writeback(&file, from, to);
            }
            (file, r)
        }));
        Ok(())
    }
}

#[async_trait]
impl FileWriter for FsWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.written += chunk.len() as u64;
        if self.buf.is_empty() && chunk.len() >= DIRECT_WRITE {
            // Already one big buffer (the upload path batches): written as
            // it is, without a copy.
            return self.flush_bytes(chunk).await;
        }
        self.buf.extend_from_slice(&chunk);
        if self.buf.len() >= WRITE_BUFFER {
            self.flush_buf().await?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.start + self.written
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.flush_buf().await?;
        self.wait_pending().await?;
        let file = self.file.take().expect("writer used after commit");
        blocking(&self.path, move || file.sync_data()).await
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        self.flush_buf().await?;
        self.wait_pending().await
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        // The write in flight may have failed (that may be why we cancel);
        // the truncation below undoes it either way.
        let _ = self.wait_pending().await;
        let file = match self.file.take() {
            Some(f) => f,
            None => OpenOptions::new()
                .write(true)
                .open(&self.full)
                .map_err(|e| StorageError::io(&self.path, e))?,
        };
        let start = self.start;
        blocking(&self.path, move || file.set_len(start)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn read_all(d: &FilesystemDriver, p: &str, off: u64, len: Option<u64>) -> Vec<u8> {
        let s = d.reader(p, off, len).await.unwrap();
        let chunks: Vec<Bytes> = s.try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn put_get_list_move_delete() {
        let dir = tempfile::tempdir().unwrap();
        let d = FilesystemDriver::new(dir.path());
        d.put_content("/a/b/c", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert_eq!(&d.get_content("/a/b/c").await.unwrap()[..], b"hello");
        d.put_content("/a/b/c", Bytes::from_static(b"bye"))
            .await
            .unwrap();
        assert_eq!(&d.get_content("/a/b/c").await.unwrap()[..], b"bye");
        assert_eq!(d.list("/a/b").await.unwrap(), vec!["c".to_string()]);
        assert_eq!(read_all(&d, "/a/b/c", 1, Some(1)).await, b"y");
        d.move_file("/a/b/c", "/x/y").await.unwrap();
        assert!(d.stat("/a/b/c").await.unwrap_err().is_not_found());
        assert_eq!(d.stat("/x/y").await.unwrap().size, 3);
        d.delete("/x").await.unwrap();
        assert!(d.get_content("/x/y").await.unwrap_err().is_not_found());
        assert!(d.get_content("/../etc/passwd").await.is_err());
    }

    /// The in-place twin sees what the driver wrote, and its calls are
    /// done when first polled (what `Registry::chained` relies on), with
    /// missing files still NotFound and paths still checked.
    #[tokio::test]
    async fn in_place_calls_complete_when_polled() {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir().unwrap();
        let d = FilesystemDriver::new(dir.path());
        d.put_content("/r/link", Bytes::from_static(b"sha256:ab"))
            .await
            .unwrap();
        let local = d.in_place().expect("the filesystem works in place");
        let got = local.get_content("/r/link").now_or_never().expect("ready");
        assert_eq!(&got.unwrap()[..], b"sha256:ab");
        let st = local.stat("/r/link").now_or_never().expect("ready");
        assert_eq!(st.unwrap().size, 9);
        let missing = local.stat("/r/none").now_or_never().expect("ready");
        assert!(missing.unwrap_err().is_not_found());
        let outside = local.get_content("/../x").now_or_never().expect("ready");
        assert!(matches!(outside, Err(StorageError::InvalidPath(_))));
    }

    /// A driver on `dir` whose `/u/data` holds `abc`, committed.
    async fn with_abc(dir: &Path) -> FilesystemDriver {
        let d = FilesystemDriver::new(dir);
        let mut w = d.writer("/u/data", true).await.unwrap();
        w.write(Bytes::from_static(b"abc")).await.unwrap();
        w.commit().await.unwrap();
        d
    }

    #[tokio::test]
    async fn writer_appends_and_cancel_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = with_abc(dir.path()).await;
        let mut w = d.writer("/u/data", true).await.unwrap();
        assert_eq!(w.size(), 3);
        w.write(Bytes::from(vec![7u8; WRITE_BUFFER + 10]))
            .await
            .unwrap();
        w.cancel().await.unwrap();
        assert_eq!(read_all(&d, "/u/data", 0, None).await, b"abc");
    }

    /// A writer that crosses several writeback windows, from an offset
    /// that is not a window's start, writes exactly its bytes; one that is
    /// cancelled after its windows went to the disk still rolls back.
    #[tokio::test]
    async fn writes_across_writeback_windows() {
        let dir = tempfile::tempdir().unwrap();
        let d = with_abc(dir.path()).await;
        let body: Vec<u8> = (0..(5 * WRITEBACK_WINDOW / 2) as usize)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut w = d.writer("/u/data", true).await.unwrap();
        for piece in body.chunks(300 << 10) {
            w.write(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        w.commit().await.unwrap();
        let got = read_all(&d, "/u/data", 0, None).await;
        assert_eq!(got.len(), 3 + body.len());
        assert!(got[..3] == *b"abc" && got[3..] == body[..]);
        let mut w = d.writer("/u/data", true).await.unwrap();
        for piece in body.chunks(WRITE_BUFFER) {
            w.write(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        w.cancel().await.unwrap();
        assert_eq!(d.stat("/u/data").await.unwrap().size, 3 + body.len() as u64);
        // Writers ended with `close` (PATCHes), each a piece smaller than
        // a window, starting inside one, then one `sync`.
        for piece in body.chunks(3 << 20) {
            let mut w = d.writer("/u/data", true).await.unwrap();
            w.write(Bytes::copy_from_slice(piece)).await.unwrap();
            w.close().await.unwrap();
        }
        d.sync("/u/data").await.unwrap();
        let got = read_all(&d, "/u/data", 0, None).await;
        assert_eq!(got.len(), 3 + 2 * body.len());
        assert!(got[3 + body.len()..] == body[..]);
    }

    /// A sealed file deleted, or replaced by a rename, while it is streamed
    /// out: the stream still gives the bytes it had when it was opened.
    #[tokio::test]
    async fn sealed_reads_outlive_delete_and_rename() {
        let dir = tempfile::tempdir().unwrap();
        let d = FilesystemDriver::new(dir.path());
        let data: Vec<u8> = (0..3 * MAP_WINDOW as usize + 77)
            .map(|i| (i % 251) as u8)
            .collect();
        for replace in [false, true] {
            d.put_content("/blob", Bytes::from(data.clone()))
                .await
                .unwrap();
            let mut s = d.sealed_reader("/blob", 3, None).await.unwrap();
            let first = s.try_next().await.unwrap().unwrap();
            if replace {
                d.put_content("/blob", Bytes::from_static(b"other"))
                    .await
                    .unwrap();
            } else {
                d.delete("/blob").await.unwrap();
            }
            let rest: Vec<Bytes> = s.try_collect().await.unwrap();
            assert!([vec![first], rest].concat().concat() == data[3..]);
        }
    }

    /// Where the filesystem cannot map the file, a sealed read reads it: the
    /// same bytes, from every offset and to every length.
    #[tokio::test]
    async fn sealed_reads_fall_back_to_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let data: Vec<u8> = (0..2 * READ_CHUNK + 5).map(|i| (i % 253) as u8).collect();
        fs::write(&path, &data).unwrap();
        let no_map: Fill = |_, _, _| Err(io::ErrorKind::Unsupported.into());
        let size = data.len() as u64;
        for (offset, len) in [
            (0, None),
            (7, Some(READ_CHUNK as u64 + 3)),
            (size - 1, Some(9)),
            (size, None),
        ] {
            let s = open_sealed(&path, offset, len, no_map).unwrap();
            let got: Vec<Bytes> = s.try_collect().await.unwrap();
            let end = len.map_or(size, |n| (offset + n).min(size));
            assert!(
                got.concat() == data[offset as usize..end as usize],
                "{offset} {len:?}"
            );
        }
    }

    /// Reads across several read-ahead chunks, from offsets inside a chunk
    /// and with lengths ending inside one, give exactly the file's bytes.
    #[tokio::test]
    async fn reads_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let d = FilesystemDriver::new(dir.path());
        let data: Vec<u8> = (0..2 * READ_CHUNK + 4099)
            .map(|i| (i % 253) as u8)
            .collect();
        d.put_content("/big", Bytes::from(data.clone()))
            .await
            .unwrap();
        assert_eq!(read_all(&d, "/big", 0, None).await, data);
        let (off, len) = (READ_CHUNK - 3, READ_CHUNK + 10);
        assert_eq!(
            read_all(&d, "/big", off as u64, Some(len as u64)).await,
            &data[off..off + len]
        );
        assert_eq!(
            read_all(&d, "/big", 5, Some(2 * READ_CHUNK as u64)).await,
            &data[5..5 + 2 * READ_CHUNK]
        );
        assert_eq!(read_all(&d, "/big", 7, None).await, &data[7..]);
        assert!(
            read_all(&d, "/big", data.len() as u64, None)
                .await
                .is_empty()
        );
        assert!(matches!(d.reader("/missing", 0, None).await, Err(e) if e.is_not_found()));
    }
}
