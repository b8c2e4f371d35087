//! A blob fill that clients read while it is stored. The upstream's bytes
//! are written once, to the spool file, and hashed as they are written; every
//! client of the fill reads the file as it grows, through the fill's own
//! open file (so the file may be moved into the store under them). The last
//! byte is held back from readers until the digest is verified, so a blob
//! whose bytes do not match its digest never reaches a client whole: its
//! readers get an error (the connection is cut) instead.
//!
//! On a local filesystem store the spool file is an ordinary upload in the
//! repository's `_uploads` folder, and storing the verified blob is the
//! upload's atomic move: no second copy (a fill cut by a crash is an upload
//! that upload purging removes). Elsewhere (S3) the spool is a temp file,
//! and the verified bytes are uploaded from it.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::{Bytes, BytesMut};
use futures_util::stream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::registry::Digest;
use crate::registry::digest::{Algorithm, Hasher};
use crate::storage::ByteStream;

/// Upstream bytes gathered before they are written and hashed in one go on
/// the blocking pool, while the next batch arrives.
const BATCH: usize = 512 << 10;
/// The most a reader reads from the file at once.
const READ: u64 = 1 << 20;
/// The last batches kept in memory: readers that keep up take them from
/// there without a read (or a copy); others read the file.
const RECENT: usize = 8;

/// How far a fill is.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Waiting for the upstream's answer.
    Starting,
    /// This many bytes are in the spool file.
    Writing(u64),
    /// Verified: every byte may be read (it may still be being stored).
    Done(u64),
    /// Another fill stored it first: read it from the store.
    Stored,
    /// The fill failed: (upstream status, upstream URL, answer).
    Failed(Option<u16>, String, String),
}

/// One fill's spool file and progress.
pub struct Spool {
    /// Set by the fill once the upstream answered.
    file: OnceLock<SpoolFile>,
    progress: watch::Sender<Progress>,
    /// The last batches written, by offset.
    recent: Mutex<VecDeque<(u64, Bytes)>>,
    /// The blob's size, as the upstream announced it.
    pub size: OnceLock<u64>,
}

struct SpoolFile {
    file: Arc<File>,
    /// A temp file, removed when the fill and its readers are done; `None`
    /// for an upload in the store, which the fill moves or removes itself.
    temp: Option<PathBuf>,
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if let Some(p) = &self.temp {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Spool {
    pub fn new() -> Arc<Spool> {
        let (progress, _) = watch::channel(Progress::Starting);
        Arc::new(Spool {
            file: OnceLock::new(),
            progress,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            size: OnceLock::new(),
        })
    }

    /// Gives the spool its file: `path` (an upload's data file, already
    /// created), or a new temp file when `path` is `None`.
    pub async fn open(&self, path: Option<PathBuf>) -> io::Result<()> {
        let (path, temp) = match path {
            Some(p) => (p, false),
            None => (
                std::env::temp_dir().join(format!(
                    "labreg-mirror-fill-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4()
                )),
                true,
            ),
        };
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(temp)
            .truncate(temp)
            .open(&path)
            .await?
            .into_std()
            .await;
        let file = SpoolFile {
            file: Arc::new(file),
            temp: temp.then_some(path),
        };
        self.file
            .set(file)
            .map_err(|_| io::Error::other("the spool file was opened twice"))
    }

    fn file(&self) -> io::Result<Arc<File>> {
        match self.file.get() {
            Some(f) => Ok(f.file.clone()),
            None => Err(io::Error::other("the mirror's fill has no spool file")),
        }
    }

    /// Up to `want` bytes from `pos` if they are in a recent batch.
    fn recent(&self, pos: u64, want: usize) -> Option<Bytes> {
        let recent = self.recent.lock().expect("spool batches poisoned");
        let (at, b) = recent
            .iter()
            .find(|(at, b)| *at <= pos && pos < at + b.len() as u64)?;
        let from = (pos - at) as usize;
        Some(b.slice(from..b.len().min(from + want)))
    }

    fn remember(&self, at: u64, batch: Bytes) {
        let mut recent = self.recent.lock().expect("spool batches poisoned");
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back((at, batch));
    }

    /// Makes what was written durable.
    pub async fn sync(&self) -> io::Result<()> {
        let file = self.file()?;
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(io::Error::other)?
    }

    pub fn set(&self, p: Progress) {
        self.progress.send_replace(p);
    }

    /// Whether the bytes were verified (readers may read them all).
    pub fn verified(&self) -> bool {
        matches!(*self.progress.borrow(), Progress::Done(_))
    }

    /// Waits until the upstream answered (or the fill failed).
    pub async fn started(&self) -> Progress {
        let mut rx = self.progress.subscribe();
        let p = rx
            .wait_for(|p| !matches!(p, Progress::Starting))
            .await
            .map(|p| p.clone());
        p.unwrap_or(Progress::Failed(
            None,
            String::new(),
            "the fill ended".into(),
        ))
    }

    /// Writes the upstream's bytes into the spool, hashing them with
    /// `algorithm`.
    pub fn writer(self: &Arc<Spool>, algorithm: Algorithm) -> SpoolWriter {
        SpoolWriter {
            spool: self.clone(),
            buf: BytesMut::with_capacity(BATCH + (64 << 10)),
            written: 0,
            hasher: Some(Hasher::new(algorithm)),
            writing: None,
            hashing: None,
        }
    }

    /// `len` bytes from `offset` of the spool, whatever its state.
    pub fn read_all(self: &Arc<Spool>, offset: u64, len: u64) -> ByteStream {
        self.stream(offset, len, true)
    }

    /// `len` bytes from `offset`, as they arrive and are verified.
    pub fn reader(self: &Arc<Spool>, offset: u64, len: u64) -> ByteStream {
        self.stream(offset, len, false)
    }

    fn stream(self: &Arc<Spool>, offset: u64, len: u64, all: bool) -> ByteStream {
        let cursor = Cursor {
            rx: self.progress.subscribe(),
            spool: self.clone(),
            pos: offset,
            end: offset.saturating_add(len),
            all,
        };
        Box::pin(stream::try_unfold(cursor, |mut c| async move {
            if c.pos >= c.end {
                return Ok(None);
            }
            let readable = c.readable().await?;
            let want = (readable.min(c.end) - c.pos).min(READ) as usize;
            if want == 0 {
                return Err(io::Error::other(
                    "the upstream sent fewer bytes than announced",
                ));
            }
            if let Some(b) = c.spool.recent(c.pos, want) {
                c.pos += b.len() as u64;
                return Ok(Some((b, c)));
            }
            let (file, pos) = (c.spool.file()?, c.pos);
            let buf = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; want];
                file.read_exact_at(&mut buf, pos).map(|()| buf)
            })
            .await
            .map_err(io::Error::other)??;
            c.pos += want as u64;
            Ok(Some((Bytes::from(buf), c)))
        }))
    }
}

/// A reader's place in a spool.
struct Cursor {
    spool: Arc<Spool>,
    rx: watch::Receiver<Progress>,
    pos: u64,
    end: u64,
    /// Read whatever the fill's state (the fill itself, storing its bytes).
    all: bool,
}

impl Cursor {
    /// Up to where the spool may be read now: all of it once verified, else
    /// all but the blob's last byte; waits for more when nothing is new.
    async fn readable(&mut self) -> io::Result<u64> {
        if self.all {
            return Ok(self.end);
        }
        loop {
            match self.rx.borrow_and_update().clone() {
                Progress::Done(n) => return Ok(n),
                Progress::Writing(n) if n.min(self.end.saturating_sub(1)) > self.pos => {
                    return Ok(n.min(self.end - 1));
                }
                Progress::Failed(_, up, answer) => {
                    return Err(io::Error::other(format!("the upstream {up} {answer}")));
                }
                Progress::Stored => {
                    return Err(io::Error::other("the blob was stored by another fill"));
                }
                _ => {}
            }
            if self.rx.changed().await.is_err() {
                return Err(io::Error::other("the mirror's fill ended"));
            }
        }
    }
}

/// Writes a fill's bytes into its spool in batches. Each batch is written
/// (readers learn of it then) and hashed on the blocking pool, the two at
/// once, while the next batch arrives.
pub struct SpoolWriter {
    spool: Arc<Spool>,
    buf: BytesMut,
    written: u64,
    hasher: Option<Hasher>,
    writing: Option<JoinHandle<io::Result<()>>>,
    hashing: Option<JoinHandle<Hasher>>,
}

impl SpoolWriter {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what is left and waits for it; the size and the digest of
    /// everything written.
    pub async fn finish(mut self) -> io::Result<(u64, Digest)> {
        self.flush().await?;
        self.wait().await?;
        let hasher = self.hasher.take().expect("the hasher is back after wait");
        Ok((self.written, hasher.finish()))
    }

    /// Waits for the batch in flight.
    async fn wait(&mut self) -> io::Result<()> {
        if let Some(w) = self.writing.take() {
            w.await.map_err(io::Error::other)??;
        }
        if let Some(h) = self.hashing.take() {
            self.hasher = Some(h.await.map_err(io::Error::other)?);
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.wait().await?;
        let batch = self.buf.split().freeze();
        self.buf.reserve(BATCH + (64 << 10));
        let (spool, file, at) = (self.spool.clone(), self.spool.file()?, self.written);
        self.written += batch.len() as u64;
        let b = batch.clone();
        self.writing = Some(tokio::task::spawn_blocking(move || {
            file.write_all_at(&b, at)?;
            spool.remember(at, b.clone());
            spool.set(Progress::Writing(at + b.len() as u64));
            Ok(())
        }));
        let mut hasher = self.hasher.take().expect("one batch in flight at a time");
        self.hashing = Some(tokio::task::spawn_blocking(move || {
            hasher.update(&batch);
            hasher
        }));
        Ok(())
    }
}
