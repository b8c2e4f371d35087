//! The S3 writer. S3 has no append, so a file written in several sessions
//! (an upload's PATCH requests, possibly on different replicas) is stored as
//! *segments*: `dir/.name.seg/0000000001`, `…/0000000002`, … each one object
//! written by one writer. The file is their concatenation; its size is the
//! sum of theirs, found again by any process with one listing.
//!
//! A writer buffers at most `chunksize` bytes: past that it switches to a
//! multipart upload of its target object and sends each full part. `commit`
//! completes the upload, so the segment appears whole or not at all;
//! `cancel` aborts it, leaving the file as it was.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use super::super::{FileWriter, Result};
use super::client::Client;
use super::multipart::Multipart;

pub(super) struct S3Writer {
    pub client: Arc<Client>,
    pub path: String,
    /// The object this writer creates (the file itself, or its next segment).
    pub target: String,
    pub start: u64,
    pub written: u64,
    pub buf: BytesMut,
    pub upload: Option<Multipart>,
    /// An empty segment adds nothing: do not create it.
    pub skip_empty: bool,
}

impl S3Writer {
    pub fn new(client: Arc<Client>, path: &str, target: String, start: u64) -> S3Writer {
        S3Writer {
            client,
            path: path.to_string(),
            target,
            start,
            written: 0,
            buf: BytesMut::new(),
            upload: None,
            skip_empty: false,
        }
    }

    async fn send_full_parts(&mut self) -> Result<()> {
        let chunk = self.client.chunk_size;
        while self.buf.len() >= chunk {
            if self.upload.is_none() {
                self.upload = Some(Multipart::start(&self.client, &self.target, &self.path).await?);
            }
            let part = self.buf.split_to(chunk).freeze();
            let upload = self.upload.as_mut().expect("started above");
            upload.upload(&self.client, part, &self.path).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl FileWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.written += chunk.len() as u64;
        self.buf.extend_from_slice(&chunk);
        self.send_full_parts().await
    }

    fn size(&self) -> u64 {
        self.start + self.written
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let rest = self.buf.split().freeze();
        match self.upload.take() {
            Some(mut upload) => {
                if !rest.is_empty()
                    && let Err(e) = upload.upload(&self.client, rest, &self.path).await
                {
                    let _ = upload.abort(&self.client, &self.path).await;
                    return Err(e);
                }
                upload.complete(&self.client, &self.path).await
            }
            None if rest.is_empty() && self.skip_empty => Ok(()),
            None => self.client.put(&self.target, &self.path, rest).await,
        }
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        match self.upload.take() {
            Some(upload) => upload.abort(&self.client, &self.path).await,
            None => Ok(()),
        }
    }
}

/// A writer dropped without commit or cancel (its request was dropped when
/// the client went away) aborts its multipart upload, so no invisible parts
/// stay behind in the bucket.
impl Drop for S3Writer {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let client = self.client.clone();
            let path = std::mem::take(&mut self.path);
            rt.spawn(async move {
                if let Err(e) = upload.abort(&client, &path).await {
                    tracing::warn!(path, error = %e, "could not abort an abandoned multipart upload");
                }
            });
        }
    }
}
