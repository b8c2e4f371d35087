//! Server-side assembly of a file's objects into one object (`move_file`):
//! CopyObject for one object up to 5 GiB, a multipart copy (UploadPartCopy)
//! when every object but the last is at least 5 MiB, and otherwise (small
//! PATCH chunks) a streamed re-upload through a `chunksize` buffer.

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::Method;
use rusty_s3::S3Action;
use rusty_s3::actions::PutObject;

use super::super::{FileWriter, Result, StorageError};
use super::client::{Client, Object, SIGN_TTL};
use super::multipart::Multipart;
use super::writer::S3Writer;

/// The largest object CopyObject (and one UploadPartCopy) may copy.
const MAX_COPY: u64 = 5 << 30;
/// The smallest part S3 accepts, except for the last.
const MIN_PART: u64 = 5 << 20;

async fn copy_object(c: &Client, src: &str, dst: &str, path: &str) -> Result<()> {
    let mut action = PutObject::new(&c.bucket, Some(&c.creds), dst);
    let source = c.copy_source(src);
    action
        .headers_mut()
        .insert("x-amz-copy-source", source.clone());
    let url = action.sign(SIGN_TTL);
    let resp = c
        .send(
            Method::PUT,
            url,
            &[("x-amz-copy-source", source)],
            None,
            path,
        )
        .await?;
    c.ok_body(resp, path).await?;
    Ok(())
}

/// Copies one whole object, whatever its size.
pub(super) async fn copy_whole(
    c: &Client,
    src: &str,
    dst: &str,
    size: u64,
    path: &str,
) -> Result<()> {
    if size <= MAX_COPY {
        return copy_object(c, src, dst, path).await;
    }
    let one = Object {
        key: src.to_string(),
        size,
        modified: std::time::SystemTime::UNIX_EPOCH,
    };
    multipart_copy(c, &[&one], dst, path).await
}

/// The byte ranges (start, len) one object is copied in: equal parts of at
/// most 5 GiB, so that all stay far above the 5 MiB minimum.
fn copy_ranges(size: u64) -> Vec<(u64, u64)> {
    let parts = size.div_ceil(MAX_COPY).max(1);
    let part = size.div_ceil(parts);
    let mut out = Vec::new();
    let mut start = 0;
    while start < size {
        let len = part.min(size - start);
        out.push((start, len));
        start += len;
    }
    out
}

async fn multipart_copy(c: &Client, objects: &[&Object], dst: &str, path: &str) -> Result<()> {
    let mut upload = Multipart::start(c, dst, path).await?;
    for o in objects {
        for (start, len) in copy_ranges(o.size) {
            if let Err(e) = upload.copy(c, &o.key, start, len, path).await {
                let _ = upload.abort(c, path).await;
                return Err(e);
            }
        }
    }
    match upload.complete(c, path).await {
        Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn stream_copy(
    c: &std::sync::Arc<Client>,
    objects: &[&Object],
    dst: &str,
    path: &str,
) -> Result<()> {
    let mut w: Box<dyn FileWriter> = Box::new(S3Writer::new(c.clone(), path, dst.to_string(), 0));
    for o in objects {
        let mut body = c.get_range(&o.key, path, 0, Some(o.size)).await?;
        while let Some(chunk) = body.next().await {
            let chunk: Bytes = match chunk {
                Ok(b) => b,
                Err(e) => {
                    let _ = w.cancel().await;
                    return Err(StorageError::io(path, e));
                }
            };
            if let Err(e) = w.write(chunk).await {
                let _ = w.cancel().await;
                return Err(e);
            }
        }
    }
    w.commit().await
}

/// Writes the concatenation of `objects` to `dst`.
pub(super) async fn compose(
    c: &std::sync::Arc<Client>,
    objects: &[Object],
    dst: &str,
    path: &str,
) -> Result<()> {
    let parts: Vec<&Object> = objects.iter().filter(|o| o.size > 0).collect();
    match parts.as_slice() {
        [] => c.put(dst, path, Bytes::new()).await,
        [one] => copy_whole(c, &one.key, dst, one.size, path).await,
        [init @ .., _] if init.iter().all(|o| o.size >= MIN_PART) => {
            multipart_copy(c, &parts, dst, path).await
        }
        _ => stream_copy(c, &parts, dst, path).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_objects_copy_in_parts_of_at_most_5_gib() {
        assert_eq!(copy_ranges(10), [(0, 10)]);
        assert_eq!(copy_ranges(MAX_COPY), [(0, MAX_COPY)]);
        let r = copy_ranges(MAX_COPY + 1);
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|(_, l)| *l <= MAX_COPY && *l >= MIN_PART));
        let size = 12 * MAX_COPY + 7;
        let r = copy_ranges(size);
        assert_eq!(r.iter().map(|(_, l)| l).sum::<u64>(), size);
        assert!(r.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
        assert!(r.iter().all(|(_, l)| *l <= MAX_COPY));
    }
}
