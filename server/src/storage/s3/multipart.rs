//! S3 multipart uploads: parts of at most `chunksize` bytes sent as they
//! fill, parts copied server-side from other objects (UploadPartCopy), and
//! the upload completed (the object appears whole, at once) or aborted
//! (nothing appears).

use bytes::Bytes;
use reqwest::Method;
use rusty_s3::S3Action;
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, UploadPart,
};

use super::super::{Result, StorageError};
use super::client::{Client, SIGN_TTL, etag_of};

/// S3's limit on parts per upload.
const MAX_PARTS: usize = 10_000;

pub(super) struct Multipart {
    pub key: String,
    pub id: String,
    pub etags: Vec<String>,
}

fn too_many(path: &str) -> StorageError {
    StorageError::io(
        path,
        std::io::Error::other(format!(
            "more than {MAX_PARTS} parts: raise storage.s3.chunksize"
        )),
    )
}

impl Multipart {
    pub async fn start(c: &Client, key: &str, path: &str) -> Result<Multipart> {
        let url = CreateMultipartUpload::new(&c.bucket, Some(&c.creds), key).sign(SIGN_TTL);
        let resp = c.send(Method::POST, url, &[], None, path).await?;
        let body = c.ok_body(resp, path).await?;
        let parsed = CreateMultipartUpload::parse_response(&body).map_err(|e| {
            StorageError::io(path, std::io::Error::other(format!("S3 answer: {e}")))
        })?;
        Ok(Multipart {
            key: key.to_string(),
            id: parsed.upload_id().to_string(),
            etags: Vec::new(),
        })
    }

    fn next_part(&self, path: &str) -> Result<u16> {
        if self.etags.len() >= MAX_PARTS {
            return Err(too_many(path));
        }
        Ok(self.etags.len() as u16 + 1)
    }

    pub async fn upload(&mut self, c: &Client, data: Bytes, path: &str) -> Result<()> {
        let n = self.next_part(path)?;
        let url = UploadPart::new(&c.bucket, Some(&c.creds), &self.key, n, &self.id).sign(SIGN_TTL);
        let resp = c.send(Method::PUT, url, &[], Some(data), path).await?;
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.etags.push(etag);
        Ok(())
    }

    /// Copies `start..start+len` of another object as the next part.
    pub async fn copy(
        &mut self,
        c: &Client,
        source: &str,
        start: u64,
        len: u64,
        path: &str,
    ) -> Result<()> {
        let n = self.next_part(path)?;
        let mut action = UploadPart::new(&c.bucket, Some(&c.creds), &self.key, n, &self.id);
        let src = c.copy_source(source);
        let range = format!("bytes={start}-{}", start + len - 1);
        action
            .headers_mut()
            .insert("x-amz-copy-source", src.clone());
        action
            .headers_mut()
            .insert("x-amz-copy-source-range", range.clone());
        let url = action.sign(SIGN_TTL);
        let headers = [
            ("x-amz-copy-source", src),
            ("x-amz-copy-source-range", range),
        ];
        let resp = c.send(Method::PUT, url, &headers, None, path).await?;
        let body = c.ok_body(resp, path).await?;
        self.etags.push(etag_of(&body).unwrap_or_default());
        Ok(())
    }

    pub async fn complete(self, c: &Client, path: &str) -> Result<()> {
        let action = CompleteMultipartUpload::new(
            &c.bucket,
            Some(&c.creds),
            &self.key,
            &self.id,
            self.etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGN_TTL);
        let body = action.body();
        let resp = c
            .send(Method::POST, url, &[], Some(Bytes::from(body)), path)
            .await?;
        c.ok_body(resp, path).await?;
        Ok(())
    }

    pub async fn abort(self, c: &Client, path: &str) -> Result<()> {
        let url = AbortMultipartUpload::new(&c.bucket, Some(&c.creds), &self.key, &self.id)
            .sign(SIGN_TTL);
        match c.send(Method::DELETE, url, &[], None, path).await {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }
}
