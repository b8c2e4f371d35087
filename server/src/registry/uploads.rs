//! Blob uploads: a directory per upload under the repository's `_uploads`,
//! appended to by PATCH requests and turned into a blob by the final PUT only
//! after its digest is verified, with one atomic move.
//!
//! The upload's state lives in the storage (the data file's size is the
//! offset), so any process on the same storage can continue it. The running
//! SHA-256 state is kept in memory as an optimisation only: it is used when
//! its offset matches the stored size, and rebuilt from the stored bytes
//! otherwise (after a restart, or when another replica appended).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};

use super::change::{Change, ChangeAction, Context};
use super::digest::{Algorithm, Hasher};
use super::names::RepoName;
use super::service::UploadService;
use super::{Digest, Registry, RegistryError, Result, paths};
use crate::storage::{ByteStream, FileWriter};

struct HashState {
    offset: u64,
    hasher: Hasher,
}

type Slot = Arc<tokio::sync::Mutex<Option<HashState>>>;

/// One lock per upload in progress: requests on the same upload run one at a
/// time, so appends cannot interleave.
#[derive(Default)]
pub(super) struct Uploads {
    slots: Mutex<HashMap<String, Slot>>,
}

impl Uploads {
    fn slot(&self, id: &str) -> Slot {
        let mut slots = self.slots.lock().expect("upload table poisoned");
        slots.entry(id.to_string()).or_default().clone()
    }

    fn forget(&self, id: &str) {
        self.slots.lock().expect("upload table poisoned").remove(id);
    }
}

/// Where an upload stands.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: String,
    /// Bytes received so far.
    pub offset: u64,
}

/// The byte range a chunked PATCH or PUT says it carries (Content-Range).
#[derive(Debug, Clone, Copy)]
pub struct ChunkRange {
    pub start: u64,
    pub end_inclusive: u64,
}

fn new_upload_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

fn check_id(id: &str) -> Result<()> {
    match uuid::Uuid::try_parse(id) {
        Ok(u) if u.hyphenated().to_string() == id => Ok(()),
        _ => Err(RegistryError::UploadUnknown),
    }
}

#[async_trait]
impl UploadService for Registry {
    async fn start_upload(&self, _: &Context, name: &RepoName) -> Result<UploadStatus> {
        self.check_writable()?;
        let id = new_upload_id();
        self.create_upload(name, &id).await?;
        Ok(UploadStatus { id, offset: 0 })
    }

    async fn upload_status(&self, _: &Context, name: &RepoName, id: &str) -> Result<UploadStatus> {
        let offset = self.upload_size(name, id).await?;
        Ok(UploadStatus {
            id: id.to_string(),
            offset,
        })
    }

    /// Appends a chunk (PATCH). With a range, it must start where the upload
    /// ends (else RangeInvalid) and carry exactly the bytes it announces.
    async fn append_upload(
        &self,
        _: &Context,
        name: &RepoName,
        id: &str,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        self.check_writable()?;
        let slot = self.uploads.slot(id);
        let mut state = slot.lock().await;
        let size = self.upload_size(name, id).await?;
        check_start(range, size)?;
        let data = paths::upload_data(name, id);
        let offset = self
            .append_locked(&data, size, &mut state, range, body, Ending::Close)
            .await?;
        Ok(UploadStatus {
            id: id.to_string(),
            offset,
        })
    }

    /// Completes an upload (PUT): appends the last chunk if any, verifies the
    /// digest, and moves the data into the blob store. On a digest mismatch
    /// the upload is removed, as distribution does.
    async fn finish_upload(
        &self,
        cx: &Context,
        name: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: Option<ByteStream>,
    ) -> Result<Change> {
        let size = self.finish(name, id, digest, range, body, true).await?;
        Ok(Change::new(cx, ChangeAction::BlobPush, name, digest).size(size))
    }

    /// A monolithic upload (POST with `?digest=`).
    async fn put_blob(
        &self,
        cx: &Context,
        name: &RepoName,
        digest: &Digest,
        body: ByteStream,
    ) -> Result<Change> {
        self.check_writable()?;
        let size = match self.receive_direct(0, digest, None, body).await? {
            Received::Direct(size, computed, content) => {
                if &computed != digest {
                    return Err(mismatch(digest, computed));
                }
                self.store_blob(name, digest, content).await?;
                size
            }
            Received::Stream(body) => {
                // Already found too big to take directly: through an upload.
                let upload = self.start_upload(cx, name).await?;
                let result = self
                    .finish(name, &upload.id, digest, None, Some(body), false)
                    .await;
                if result.is_err() {
                    self.remove(&paths::upload_dir(name, &upload.id)).await?;
                    self.uploads.forget(&upload.id);
                }
                result?
            }
        };
        Ok(Change::new(cx, ChangeAction::BlobPush, name, digest).size(size))
    }

    async fn cancel_upload(&self, _: &Context, name: &RepoName, id: &str) -> Result<()> {
        self.check_writable()?;
        let slot = self.uploads.slot(id);
        let _state = slot.lock().await;
        self.upload_size(name, id).await?;
        self.remove(&paths::upload_dir(name, id)).await?;
        self.uploads.forget(id);
        Ok(())
    }
}

impl Registry {
    /// [`UploadService::finish_upload`], to the blob's size; with `direct`,
    /// a last body is first offered to [`Registry::receive_direct`] (a
    /// caller that already did so passes `false`).
    async fn finish(
        &self,
        name: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: Option<ByteStream>,
        direct: bool,
    ) -> Result<u64> {
        self.check_writable()?;
        let slot = self.uploads.slot(id);
        let mut state = slot.lock().await;
        let size = self.upload_size(name, id).await?;
        let (data, algorithm) = (paths::upload_data(name, id), digest.algorithm());
        let (size, computed, content) = match body {
            Some(body) => {
                check_start(range, size)?;
                let received = match direct {
                    true => self.receive_direct(size, digest, range, body).await?,
                    false => Received::Stream(body),
                };
                match received {
                    Received::Direct(size, computed, content) => (size, computed, content),
                    Received::Stream(body) => {
                        let end = Ending::Commit;
                        let size = self
                            .append_locked(&data, size, &mut state, range, body, end)
                            .await?;
                        let computed = self.computed(&data, size, &mut state, algorithm);
                        (size, computed.await?, Content::Upload(id))
                    }
                }
            }
            None => {
                // The PATCHes' bytes, durable before they can be a blob.
                self.driver.sync(&data).await?;
                let computed = self.computed(&data, size, &mut state, algorithm);
                (size, computed.await?, Content::Upload(id))
            }
        };
        if &computed != digest {
            self.remove(&paths::upload_dir(name, id)).await?;
            self.uploads.forget(id);
            return Err(mismatch(digest, computed));
        }
        self.seal(name, id, digest, content).await?;
        Ok(size)
    }

    /// Makes verified content the blob `digest` and links it into the
    /// repository.
    async fn store_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
        content: Content<'_>,
    ) -> Result<()> {
        let blob = paths::blob_data(digest);
        match content {
            Content::Written => {}
            // One atomic move, unless the blob is there already.
            Content::Upload(id) => {
                if !self.exists(&blob).await? {
                    let data = paths::upload_data(name, id);
                    self.driver.move_file(&data, &blob).await?
                }
            }
            // Written whole, atomically (a temporary file renamed, or one S3
            // PUT), after its digest was checked: the same bytes if the blob
            // was there, which one write costs less than looking (a HEAD and
            // two LISTs on S3).
            Content::Bytes(bytes) => self.driver.put_content(&blob, bytes).await?,
        }
        self.write_link(&paths::layer_link(name, digest), digest)
            .await?;
        Ok(())
    }

    /// Makes a verified upload the blob `digest` and removes the upload:
    /// the bytes are its data file's, or were never written there (`content`
    /// is a small body held in memory, or the blob written in place).
    async fn seal(
        &self,
        name: &RepoName,
        id: &str,
        digest: &Digest,
        content: Content<'_>,
    ) -> Result<()> {
        self.store_blob(name, digest, content).await?;
        self.remove(&paths::upload_dir(name, id)).await?;
        self.uploads.forget(id);
        Ok(())
    }

    /// Starts an upload whose bytes the caller writes straight to its data
    /// file (the mirror's fills): its id, and the file when the driver keeps
    /// it on this machine's disk (else the upload is dropped again and
    /// `None` returned: the caller stores through [`BlobService::put_blob`]).
    pub(crate) async fn start_local_fill(
        &self,
        name: &RepoName,
    ) -> Result<Option<(String, PathBuf)>> {
        let id = new_upload_id();
        let Some(path) = self.driver.local_path(&paths::upload_data(name, &id)) else {
            return Ok(None);
        };
        self.check_writable()?;
        self.create_upload(name, &id).await?;
        Ok(Some((id, path)))
    }

    /// An upload's folder: its start time and an empty data file.
    async fn create_upload(&self, name: &RepoName, id: &str) -> Result<()> {
        let started = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        self.driver
            .put_content(&paths::upload_started_at(name, id), Bytes::from(started))
            .await?;
        // A new id: nothing to truncate (a writer would look first).
        self.driver
            .put_content(&paths::upload_data(name, id), Bytes::new())
            .await?;
        Ok(())
    }

    /// Ends a fill started by [`Registry::start_local_fill`]: with the
    /// digest its writer verified, the upload becomes that blob; without,
    /// it is removed.
    pub(crate) async fn end_local_fill(
        &self,
        name: &RepoName,
        id: &str,
        verified: Option<&Digest>,
    ) -> Result<()> {
        let slot = self.uploads.slot(id);
        let _busy = slot.lock().await;
        match verified {
            Some(digest) => self.seal(name, id, digest, Content::Upload(id)).await,
            None => {
                self.remove(&paths::upload_dir(name, id)).await?;
                self.uploads.forget(id);
                Ok(())
            }
        }
    }

    async fn upload_size(&self, name: &RepoName, id: &str) -> Result<u64> {
        check_id(id)?;
        match self.driver.stat(&paths::upload_data(name, id)).await {
            Ok(info) => Ok(info.size),
            Err(e) if e.is_not_found() => Err(RegistryError::UploadUnknown),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends `body` to the upload's `data` file of `size` bytes, under
    /// the upload's lock (`state`): the new size.
    async fn append_locked(
        &self,
        data: &str,
        size: u64,
        state: &mut Option<HashState>,
        range: Option<ChunkRange>,
        mut body: ByteStream,
        ending: Ending,
    ) -> Result<u64> {
        // Keep hashing only when the state in memory matches the storage.
        let mut hasher = match state.take() {
            Some(s) if s.offset == size => Some(s.hasher),
            _ if size == 0 => Some(Hasher::new(Algorithm::Sha256)),
            _ => None,
        };
        let mut writer = self.driver.writer(data, true).await?;
        if let Err(e) = copy_into(&mut writer, &mut hasher, &mut body).await {
            writer.cancel().await?;
            return Err(e);
        }
        if let Err(e) = check_length(range, writer.size() - size) {
            writer.cancel().await?;
            return Err(e);
        }
        let offset = writer.size();
        match ending {
            Ending::Close => writer.close().await?,
            // The whole file, with what earlier PATCHes closed.
            Ending::Commit => writer.commit().await?,
        }
        *state = hasher.map(|hasher| HashState { offset, hasher });
        Ok(offset)
    }

    /// Removes uploads started more than `older_than` ago (by the time
    /// `startedat` was written); with `dry_run`, only lists them.
    pub async fn purge_uploads(&self, older_than: Duration, dry_run: bool) -> Result<Vec<String>> {
        let now = SystemTime::now();
        let mut purged = Vec::new();
        let mut names = self.directories_holding(&["_uploads"]);
        while let Some(name) = names.try_next().await? {
            for id in self.list_dir(&paths::uploads_dir(&name)).await? {
                let started = match self
                    .driver
                    .stat(&paths::upload_started_at(&name, &id))
                    .await
                {
                    Ok(info) => info.modified,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                };
                if now.duration_since(started).unwrap_or_default() < older_than {
                    continue;
                }
                if !dry_run {
                    let slot = self.uploads.slot(&id);
                    let _busy = slot.lock().await;
                    self.remove(&paths::upload_dir(&name, &id)).await?;
                    self.uploads.forget(&id);
                }
                purged.push(format!("{name}/{id}"));
            }
        }
        Ok(purged)
    }

    /// Receives a body without an upload file when it can: a small one
    /// (on S3 two requests instead of nineteen) is held whole in memory,
    /// and on a storage that writes whole a bigger one is written in place,
    /// both when it goes to an upload of `size` 0 (a monolithic push, or
    /// the PUT of a fresh upload). Otherwise the body is handed back, to go
    /// through the upload file.
    async fn receive_direct(
        &self,
        size: u64,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<Received> {
        if size > 0 {
            return Ok(Received::Stream(body));
        }
        Ok(match small_body(body).await? {
            Body::Whole(bytes) => {
                check_length(range, bytes.len() as u64)?;
                let computed = Digest::of(digest.algorithm(), &bytes);
                Received::Direct(bytes.len() as u64, computed, Content::Bytes(bytes))
            }
            Body::Stream(body) if self.driver.writes_whole() => {
                let (size, computed) = self.write_in_place(digest, range, body).await?;
                Received::Direct(size, computed, Content::Written)
            }
            Body::Stream(body) => Received::Stream(body),
        })
    }

    /// Writes a body at the blob's own path, for a driver whose files
    /// appear only when committed (`writes_whole`: S3): committed when it
    /// hashes to `digest` (and has the bytes `range` announced), cancelled
    /// otherwise, which leaves the path as it was. On S3 that saves the
    /// upload's object, the server-side copy of the whole blob and the
    /// delete, with their lookups. Its size and digest.
    async fn write_in_place(
        &self,
        digest: &Digest,
        range: Option<ChunkRange>,
        mut body: ByteStream,
    ) -> Result<(u64, Digest)> {
        let mut writer = self.driver.writer(&paths::blob_data(digest), false).await?;
        let mut hasher = Some(Hasher::new(digest.algorithm()));
        let copied = copy_into(&mut writer, &mut hasher, &mut body).await;
        let size = writer.size();
        let computed = match copied.and_then(|()| check_length(range, size)) {
            Ok(()) => hasher.map(Hasher::finish),
            Err(e) => {
                writer.cancel().await?;
                return Err(e);
            }
        };
        let computed = computed.expect("copy_into gives the hasher back when it succeeds");
        if &computed == digest {
            writer.commit().await?;
        } else {
            writer.cancel().await?;
        }
        Ok((size, computed))
    }

    /// The digest of the `size` bytes of an upload's `data` file: the
    /// running hash when it covers them, else read back from the storage.
    async fn computed(
        &self,
        data: &str,
        size: u64,
        state: &mut Option<HashState>,
        algorithm: Algorithm,
    ) -> Result<Digest> {
        match state.take() {
            Some(s) if s.offset == size && s.hasher.algorithm() == algorithm => {
                Ok(s.hasher.finish())
            }
            _ => self.hash_stored(data, algorithm).await,
        }
    }

    async fn hash_stored(&self, path: &str, algorithm: Algorithm) -> Result<Digest> {
        let mut hasher = Hasher::new(algorithm);
        let mut stream = self.driver.reader(path, 0, None).await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| crate::storage::StorageError::io(path, e))?;
            hasher.update(&chunk);
        }
        Ok(hasher.finish())
    }
}

/// Where a verified blob's bytes are.
enum Content<'a> {
    /// The data file of this upload.
    Upload(&'a str),
    /// Memory: a small body, read whole.
    Bytes(Bytes),
    /// At the blob's own path, written in place and committed.
    Written,
}

/// A body as [`Registry::receive_direct`] leaves it.
enum Received {
    /// Its size, digest, and where its bytes are now (not in an upload).
    Direct(u64, Digest, Content<'static>),
    /// Not received yet: for the upload file.
    Stream(ByteStream),
}

/// A body read as far as [`SMALL_BLOB`]: whole, when it
/// ended there, or a stream of what was read followed by the rest.
enum Body {
    Whole(Bytes),
    Stream(ByteStream),
}

/// The largest body kept in memory and stored in one write, instead of
/// through an upload file (config blobs, small layers): no writer to open,
/// no move; on S3 one PUT instead of a PUT, a copy and a delete, with
/// their HEADs and LISTs.
const SMALL_BLOB: usize = 128 << 10;

/// Reads `body` as far as [`SMALL_BLOB`].
async fn small_body(mut body: ByteStream) -> Result<Body> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut read = 0;
    while read <= SMALL_BLOB {
        match body.next().await {
            None if chunks.len() == 1 => return Ok(Body::Whole(chunks.remove(0))),
            None => return Ok(Body::Whole(Bytes::from(chunks.concat()))),
            Some(Ok(chunk)) => {
                read += chunk.len();
                chunks.push(chunk);
            }
            Some(Err(e)) => return Err(RegistryError::Body(e)),
        }
    }
    let read = futures_util::stream::iter(chunks.into_iter().map(Ok));
    Ok(Body::Stream(Box::pin(read.chain(body))))
}

/// A Content-Range must start where the upload ends.
fn check_start(range: Option<ChunkRange>, size: u64) -> Result<()> {
    match range {
        Some(r) if r.start != size || r.end_inclusive < r.start => {
            Err(RegistryError::RangeInvalid { size })
        }
        _ => Ok(()),
    }
}

/// A Content-Range must announce the bytes the body had.
fn check_length(range: Option<ChunkRange>, written: u64) -> Result<()> {
    match range {
        Some(r) if written != r.end_inclusive - r.start + 1 => {
            Err(RegistryError::UploadInvalid(format!(
                "Content-Range announced {} bytes but the body had {written}",
                r.end_inclusive - r.start + 1
            )))
        }
        _ => Ok(()),
    }
}

fn mismatch(expected: &Digest, actual: Digest) -> RegistryError {
    RegistryError::DigestMismatch {
        expected: expected.to_string(),
        actual,
    }
}

/// How an append ends its writer. A PATCH only closes it: its bytes are
/// not durable when the client hears 202, as nothing is a blob before the
/// final PUT. The final PUT commits (or syncs the file), so a blob is
/// durable before it is moved into place. A crash in between can cost an
/// upload its unsynced tail; the client resuming from the size it is told
/// then sends it again, and a tail lost in any other way fails the digest
/// check. distribution fsyncs every PATCH; on a chunked push that wait
/// is per chunk.
#[derive(Clone, Copy)]
enum Ending {
    Close,
    Commit,
}

/// After a storage error, how much of the rest of a request body is read and
/// dropped so that the client gets the error answer instead of a reset
/// connection. Beyond this the connection is closed.
const DRAIN_LIMIT: u64 = 256 << 20;

/// Body bytes gathered before they are hashed and handed to the writer.
/// Hashing a batch runs on the blocking pool while the next one arrives, so
/// receiving, hashing and the driver's write overlap on separate cores. An
/// upload holds at most two batches (one filling, one hashed and written),
/// each allocated once at its full size so that the allocator reuses it.
const BATCH_MAX: usize = 512 << 10;
const BATCH_MIN: usize = 128 << 10;
/// What the batches of all uploads receiving at once should hold together:
/// up to 16 uploads get whole 512 KiB batches, more get smaller ones (64
/// get 128 KiB), so that memory stays flat as pushers are added instead of
/// growing by a MiB each.
const BATCH_BUDGET: usize = 16 << 20;

/// Request bodies being received into batches now.
static RECEIVING: AtomicUsize = AtomicUsize::new(0);

/// One body counted in [`RECEIVING`] while it lives.
struct Receiving;

impl Receiving {
    /// Counts a body in.
    fn start() -> Receiving {
        RECEIVING.fetch_add(1, Ordering::Relaxed);
        Receiving
    }

    /// The size of the next batch, for the bodies being received now: a
    /// long push started alone gets smaller batches as others start.
    fn batch(&self) -> usize {
        batch_size(RECEIVING.load(Ordering::Relaxed))
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        RECEIVING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The batch of each of `receiving` bodies: two per body within the
/// budget, in whole 64 KiB, between the bounds.
fn batch_size(receiving: usize) -> usize {
    let share = BATCH_BUDGET / (2 * receiving.max(1));
    (share & !((64 << 10) - 1)).clamp(BATCH_MIN, BATCH_MAX)
}

type Hashing = tokio::task::JoinHandle<Hasher>;

/// Waits for the batch being hashed, if any, and puts the hasher back.
async fn hashed(hasher: &mut Option<Hasher>, hashing: &mut Option<Hashing>) -> Result<()> {
    if let Some(h) = hashing.take() {
        let h = h.await.map_err(|e| {
            crate::storage::StorageError::io("upload hash", std::io::Error::other(e))
        })?;
        *hasher = Some(h);
    }
    Ok(())
}

/// Hashes `batch` and hands it to the writer. With `pooled`, the hashing
/// runs on the blocking pool while the next batch arrives (a push alone or
/// among few: its hashing, receiving and writing overlap on both cores);
/// otherwise here, inline (a tail, or a smaller batch of one of many
/// pushes, which keep both cores busy between them: a hop to the pool per
/// batch would only add threads and switches).
async fn hand_over(
    writer: &mut Box<dyn FileWriter>,
    hasher: &mut Option<Hasher>,
    hashing: &mut Option<Hashing>,
    batch: Bytes,
    pooled: bool,
) -> Result<()> {
    hashed(hasher, hashing).await?;
    if let Some(mut h) = hasher.take() {
        if pooled {
            let b = batch.clone();
            *hashing = Some(tokio::task::spawn_blocking(move || {
                h.update(&b);
                h
            }));
        } else {
            h.update(&batch);
            *hasher = Some(h);
        }
    }
    writer.write(batch).await?;
    Ok(())
}

/// A buffer for the next batch of `size` bytes: the oldest full batch
/// handed over, when the hasher and the writer have let go of it (the
/// filesystem's writer has, once the next batch was handed over), or a new
/// one. A push alone or among few (full batches) so allocates its two
/// batches once, not 512 KiB per batch: glibc takes allocations of that
/// size from fresh mappings whenever its adaptive threshold is low (after
/// a pull from mappings, which allocates no big buffers), and every fresh
/// page is a fault, on a VM a fault of the host too. `spent` keeps the full
/// batches handed over, the newest last; smaller batches (many pushes at
/// once) are not kept: an upload waiting for its client would hold a
/// second batch that the budget gives to the others.
fn refill(spent: &mut VecDeque<Bytes>, size: usize) -> BytesMut {
    while spent.len() > 1 {
        let oldest = spent.pop_front().expect("more than one");
        if let Ok(mut b) = oldest.try_into_mut()
            && b.capacity() == size
        {
            b.clear();
            return b;
        }
    }
    BytesMut::with_capacity(size)
}

async fn copy_into(
    writer: &mut Box<dyn FileWriter>,
    hasher: &mut Option<Hasher>,
    body: &mut ByteStream,
) -> Result<()> {
    let receiving = Receiving::start();
    let mut size = receiving.batch();
    let mut buf = BytesMut::with_capacity(size);
    let mut spent = VecDeque::new();
    let mut hashing = None;
    let mut result = Ok(());
    'body: while let Some(chunk) = body.next().await {
        let mut chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                result = Err(RegistryError::Body(e));
                break;
            }
        };
        // A chunk that completes the batch is cut where the batch ends, so
        // that a batch never grows past its allocation.
        while buf.len() + chunk.len() >= size {
            buf.extend_from_slice(&chunk.split_to(size - buf.len()));
            let batch = buf.split().freeze();
            let pooled = batch.len() == BATCH_MAX;
            if pooled {
                spent.push_back(batch.clone());
            } else {
                spent.clear();
            }
            result = hand_over(writer, hasher, &mut hashing, batch, pooled).await;
            if result.is_err() {
                drain(body).await;
                break 'body;
            }
            size = receiving.batch();
            buf = refill(&mut spent, size);
        }
        buf.extend_from_slice(&chunk);
    }
    if result.is_ok() && !buf.is_empty() {
        result = hand_over(writer, hasher, &mut hashing, buf.split().freeze(), false).await;
    }
    // The hasher comes back whatever happened; a failed upload drops it.
    hashed(hasher, &mut hashing).await?;
    result
}

async fn drain(body: &mut ByteStream) {
    let mut left = DRAIN_LIMIT;
    while let Some(Ok(chunk)) = body.next().await {
        match left.checked_sub(chunk.len() as u64) {
            Some(l) => left = l,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{BlobService, Options};
    use crate::storage::fs::FilesystemDriver;

    /// A registry on a fresh folder, repository a/b, an anonymous context.
    fn setup() -> (tempfile::TempDir, Registry, RepoName, Context) {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(
            Arc::new(FilesystemDriver::new(dir.path())),
            Options::default(),
        );
        let ab = RepoName::parse("a/b").unwrap();
        (
            dir,
            reg,
            ab,
            Context::new(crate::auth::Principal::Anonymous),
        )
    }

    #[tokio::test]
    async fn purging_removes_only_stale_uploads() {
        let (_dir, reg, ab, cx) = setup();
        let old = reg.start_upload(&cx, &ab).await.unwrap();
        let body: crate::storage::ByteStream =
            Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b"abc"))]));
        reg.append_upload(&cx, &ab, &old.id, None, body)
            .await
            .unwrap();
        assert_eq!(
            reg.purge_uploads(Duration::from_secs(3600), false)
                .await
                .unwrap(),
            Vec::<String>::new()
        );
        let listed = reg.purge_uploads(Duration::ZERO, true).await.unwrap();
        assert_eq!(listed, vec![format!("a/b/{}", old.id)]);
        assert!(
            reg.upload_status(&cx, &ab, &old.id).await.is_ok(),
            "a dry run removes nothing"
        );
        let purged = reg.purge_uploads(Duration::ZERO, false).await.unwrap();
        assert_eq!(purged.len(), 1);
        assert!(matches!(
            reg.upload_status(&cx, &ab, &old.id).await,
            Err(RegistryError::UploadUnknown)
        ));
    }

    #[test]
    fn batches_shrink_as_uploads_are_added() {
        assert_eq!(batch_size(0), BATCH_MAX);
        assert_eq!(batch_size(16), BATCH_MAX);
        assert_eq!(batch_size(17), 448 << 10);
        assert_eq!(batch_size(64), BATCH_MIN);
        assert_eq!(batch_size(10_000), BATCH_MIN);
        for n in 1..200 {
            let b = batch_size(n);
            assert!(b.is_multiple_of(64 << 10) && (BATCH_MIN..=BATCH_MAX).contains(&b));
            assert!(b <= batch_size(n - 1), "more uploads, smaller batches");
        }
    }

    /// 40 pushes received at once get batches under 512 KiB, hashed inline,
    /// with the chunk that fills a batch cut at its end: each stores exactly
    /// its own bytes under its digest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_pushes_at_once_store_their_own_bytes() {
        const PUSHES: usize = 40;
        let (dir, reg, ab, cx) = setup();
        let reg = Arc::new(reg);
        // Every body waits here before its first chunk, so all 40 are
        // counted as receiving when their batches are sized.
        let all_started = Arc::new(tokio::sync::Barrier::new(PUSHES));
        let pushes = (0..PUSHES).map(|n| {
            let (reg, ab, cx, all_started) =
                (reg.clone(), ab.clone(), cx.clone(), all_started.clone());
            tokio::spawn(async move {
                let data: Vec<u8> = (0..700_001 + n * 4099)
                    .map(|i| ((i * 31 + n * 7) % 253) as u8)
                    .collect();
                let d = Digest::sha256_of(&data);
                let chunks: Vec<std::io::Result<Bytes>> = data
                    .chunks(65_519)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                let body: crate::storage::ByteStream = Box::pin(
                    futures_util::stream::once(async move {
                        all_started.wait().await;
                        futures_util::stream::iter(chunks)
                    })
                    .flatten(),
                );
                assert!(batch_size(PUSHES) < BATCH_MAX);
                reg.put_blob(&cx, &ab, &d, body).await.unwrap();
                (d, data.len() as u64)
            })
        });
        for push in futures_util::future::join_all(pushes).await {
            let (d, len) = push.unwrap();
            assert_eq!(reg.blob_size(&cx, &ab, &d).await.unwrap(), len);
            let hex = d.hex();
            let stored = std::fs::read(dir.path().join(format!(
                "docker/registry/v2/blobs/sha256/{}/{hex}/data",
                &hex[..2]
            )))
            .unwrap();
            assert_eq!(Digest::sha256_of(&stored), d, "the bytes on disk");
        }
    }

    /// The unit tests' allocator: the system's, counting per thread the
    /// allocations of a batch's least size or more.
    struct CountingBig;

    thread_local! {
        static BIG_ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn count_big(size: usize) {
        if size >= BATCH_MIN {
            let _ = BIG_ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        }
    }

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl std::alloc::GlobalAlloc for CountingBig {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            count_big(layout.size());
            unsafe { std::alloc::System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(
            &self,
            ptr: *mut u8,
            layout: std::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            count_big(new_size);
            unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: CountingBig = CountingBig;

    /// A writer that only counts what it is handed, and lets go of it.
    struct Counted(u64);

    #[async_trait]
    impl FileWriter for Counted {
        async fn write(&mut self, chunk: Bytes) -> crate::storage::Result<()> {
            self.0 += chunk.len() as u64;
            Ok(())
        }
        fn size(&self) -> u64 {
            self.0
        }
        async fn commit(self: Box<Self>) -> crate::storage::Result<()> {
            Ok(())
        }
        async fn cancel(self: Box<Self>) -> crate::storage::Result<()> {
            Ok(())
        }
    }

    /// A body of ten batches is received into two buffers filled in turn
    /// (the one being hashed and written, the one filling), not ten, and
    /// hashes and counts to the whole.
    #[tokio::test]
    async fn an_upload_fills_its_batches_again() {
        let data: Vec<u8> = (0..10 * BATCH_MAX + 999)
            .map(|i| (i * 13 % 251) as u8)
            .collect();
        let chunks: Vec<std::io::Result<Bytes>> = data
            .chunks(65_521)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let mut body: ByteStream = Box::pin(futures_util::stream::iter(chunks));
        let mut writer: Box<dyn FileWriter> = Box::new(Counted(0));
        let mut hasher = Some(Hasher::new(Algorithm::Sha256));
        let before = BIG_ALLOCATIONS.with(|c| c.get());
        copy_into(&mut writer, &mut hasher, &mut body)
            .await
            .unwrap();
        let batches = BIG_ALLOCATIONS.with(|c| c.get()) - before;
        assert_eq!(writer.size(), data.len() as u64);
        assert_eq!(hasher.unwrap().finish(), Digest::sha256_of(&data));
        assert!(batches <= 2, "{batches} batches allocated");
    }

    /// A batch still held elsewhere is never filled again, nor one of
    /// another size than asked for (uploads were added meanwhile).
    #[test]
    fn refill_takes_back_only_what_is_free_and_fits() {
        let batch = |n: usize| Bytes::from(vec![7u8; n]);
        let held = batch(BATCH_MAX);
        let mut spent = VecDeque::from([held.clone(), batch(BATCH_MAX)]);
        let b = refill(&mut spent, BATCH_MAX);
        assert_ne!(b.as_ptr(), held.as_ptr(), "a batch still held");
        assert!(b.is_empty() && b.capacity() >= BATCH_MAX);
        assert_eq!(spent.len(), 1, "the newest batch stays");
        let mut spent = VecDeque::from([batch(BATCH_MAX), batch(BATCH_MAX)]);
        let b = refill(&mut spent, BATCH_MIN);
        assert_eq!(b.capacity(), BATCH_MIN, "a new, smaller batch");
    }

    /// Bodies of several batches, split at odd sizes and in two requests,
    /// hash (on the blocking pool) to the digest of the whole, and a wrong
    /// digest is still refused.
    #[tokio::test]
    async fn batched_hashing_matches_the_content() {
        let (_dir, reg, ab, cx) = setup();
        let data: Vec<u8> = (0..3 * BATCH_MAX + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let body = |part: &[u8]| -> crate::storage::ByteStream {
            let chunks: Vec<std::io::Result<Bytes>> = part
                .chunks(65_521)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Box::pin(futures_util::stream::iter(chunks))
        };
        let (first, second) = data.split_at(BATCH_MAX + 77);
        let up = reg.start_upload(&cx, &ab).await.unwrap();
        reg.append_upload(&cx, &ab, &up.id, None, body(first))
            .await
            .unwrap();
        let d = Digest::sha256_of(&data);
        reg.finish_upload(&cx, &ab, &up.id, &d, None, Some(body(second)))
            .await
            .unwrap();
        assert_eq!(
            reg.blob_size(&cx, &ab, &d).await.unwrap(),
            data.len() as u64
        );

        let up = reg.start_upload(&cx, &ab).await.unwrap();
        let wrong = Digest::sha256_of(b"something else");
        let refused = reg
            .finish_upload(&cx, &ab, &up.id, &wrong, None, Some(body(&data)))
            .await;
        assert!(refused.is_err(), "a wrong digest is refused");
    }

    /// Bodies around [`SMALL_BLOB`], in chunks of several sizes, pushed
    /// monolithically (POST with a digest) and as the final PUT of an
    /// upload: each stored byte for byte, whether it was held whole in
    /// memory or streamed through the upload file; a wrong digest stores
    /// nothing, and no upload is left behind.
    #[tokio::test]
    async fn bodies_small_and_not_are_stored_whole() {
        let (dir, reg, ab, cx) = setup();
        let body = |data: &[u8], chunk: usize| -> crate::storage::ByteStream {
            let chunks: Vec<std::io::Result<Bytes>> = data
                .chunks(chunk)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Box::pin(futures_util::stream::iter(chunks))
        };
        let stored = |d: &Digest| {
            let hex = d.hex();
            std::fs::read(dir.path().join(format!(
                "docker/registry/v2/blobs/sha256/{}/{hex}/data",
                &hex[..2]
            )))
        };
        let uploads = dir
            .path()
            .join("docker/registry/v2/repositories/a/b/_uploads");
        let sizes = [
            0,
            1,
            SMALL_BLOB - 1,
            SMALL_BLOB,
            SMALL_BLOB + 1,
            3 * SMALL_BLOB + 5,
        ];
        for (n, len) in sizes.into_iter().enumerate() {
            for chunk in [1 << 10, 50_000, SMALL_BLOB + 1] {
                for monolithic in [true, false] {
                    // Bytes of their own for each case, so that no blob
                    // is there already.
                    let seed = n + chunk + usize::from(monolithic);
                    let data: Vec<u8> = (0..len).map(|i| ((i * 13 + seed) % 251) as u8).collect();
                    let d = Digest::sha256_of(&data);
                    let wrong = Digest::sha256_of(b"not these bytes");
                    let push = |digest: &Digest| {
                        let (reg, ab, cx, digest) = (&reg, &ab, &cx, digest.clone());
                        let body = body(&data, chunk);
                        async move {
                            if monolithic {
                                return reg.put_blob(cx, ab, &digest, body).await;
                            }
                            let up = reg.start_upload(cx, ab).await.unwrap();
                            reg.finish_upload(cx, ab, &up.id, &digest, None, Some(body))
                                .await
                        }
                    };
                    let case = format!(
                        "{} bytes in chunks of {chunk}, monolithic {monolithic}",
                        data.len()
                    );
                    let refused = push(&wrong).await;
                    assert!(
                        matches!(refused, Err(RegistryError::DigestMismatch { ref actual, .. }) if *actual == d),
                        "{case}: {refused:?}"
                    );
                    assert!(stored(&wrong).is_err(), "{case}: nothing stored");
                    push(&d).await.unwrap();
                    assert_eq!(stored(&d).unwrap(), data, "{case}");
                    assert_eq!(
                        reg.blob_size(&cx, &ab, &d).await.unwrap(),
                        data.len() as u64
                    );
                    let left = std::fs::read_dir(&uploads).map_or(0, |d| d.count());
                    assert_eq!(left, 0, "{case}: no upload left");
                }
            }
        }
    }
}
