//! A blob fill that clients read while it is stored. The upstream's bytes
//! are appended to a spool file in the temp folder, which every client of
//! the fill reads as it grows, and handed to the registry's upload path,
//! which checks the digest before the blob becomes visible. The last byte
//! is held back from readers until that check passes, so a blob whose bytes
//! do not match its digest never reaches a client whole: its readers get an
//! error (the connection is cut) instead. Readers come and go without
//! touching the fill; the file goes when the fill and its last reader do.

use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::storage::ByteStream;

/// How far a fill is.
#[derive(Clone, Debug)]
pub enum Progress {
    /// Waiting for the upstream's answer.
    Starting,
    /// This many bytes are in the spool file.
    Writing(u64),
    /// Stored and verified: every byte may be read.
    Done(u64),
    /// Another fill stored it first: read it from the store.
    Stored,
    /// The fill failed: (upstream status, upstream URL, answer).
    Failed(Option<u16>, String, String),
}

/// One fill's spool file and progress.
pub struct Spool {
    path: PathBuf,
    progress: watch::Sender<Progress>,
}

impl Spool {
    pub async fn create() -> io::Result<(Arc<Spool>, tokio::fs::File)> {
        let path = std::env::temp_dir().join(format!(
            "labreg-mirror-fill-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        let file = tokio::fs::File::create(&path).await?;
        let (progress, _) = watch::channel(Progress::Starting);
        Ok((Arc::new(Spool { path, progress }), file))
    }

    pub fn set(&self, p: Progress) {
        self.progress.send_replace(p);
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

    /// `len` bytes from `offset`, as they arrive.
    pub fn reader(self: &Arc<Spool>, offset: u64, len: u64) -> ByteStream {
        struct St {
            spool: Arc<Spool>,
            rx: watch::Receiver<Progress>,
            file: Option<tokio::fs::File>,
            pos: u64,
            end: u64,
        }
        let st = St {
            rx: self.progress.subscribe(),
            spool: self.clone(),
            file: None,
            pos: offset,
            end: offset.saturating_add(len),
        };
        Box::pin(stream::try_unfold(st, |mut st| async move {
            if st.pos >= st.end {
                return Ok(None);
            }
            // What may be read now: all once verified, else all but the
            // last byte of the blob.
            let readable = loop {
                let p = st.rx.borrow_and_update().clone();
                match p {
                    Progress::Done(n) => break n,
                    Progress::Writing(n) if n.min(st.end.saturating_sub(1)) > st.pos => {
                        break n.min(st.end - 1);
                    }
                    Progress::Failed(_, up, answer) => {
                        return Err(io::Error::other(format!("the upstream {up} {answer}")));
                    }
                    Progress::Stored => {
                        return Err(io::Error::other("the blob was stored by another fill"));
                    }
                    _ => {}
                }
                if st.rx.changed().await.is_err() {
                    return Err(io::Error::other("the mirror's fill ended"));
                }
            };
            let want = (readable.min(st.end) - st.pos).min(1 << 20) as usize;
            if want == 0 {
                return Err(io::Error::other(
                    "the upstream sent fewer bytes than announced",
                ));
            }
            if st.file.is_none() {
                let mut f = tokio::fs::File::open(&st.spool.path).await?;
                f.seek(SeekFrom::Start(st.pos)).await?;
                st.file = Some(f);
            }
            let f = st.file.as_mut().expect("opened above");
            let mut buf = vec![0u8; want];
            f.read_exact(&mut buf).await?;
            st.pos += want as u64;
            Ok(Some((Bytes::from(buf), st)))
        }))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Appends a chunk to the spool file and publishes the new length.
pub async fn append(
    spool: &Spool,
    file: &mut tokio::fs::File,
    written: &mut u64,
    chunk: &[u8],
) -> io::Result<()> {
    file.write_all(chunk).await?;
    file.flush().await?;
    *written += chunk.len() as u64;
    spool.set(Progress::Writing(*written));
    Ok(())
}
