//! The storage driver suite, written once and run against every driver
//! (filesystem and S3), in the spirit of distribution's testsuites: what the
//! registry layer relies on, checked through the trait alone.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use labreg::storage::{StorageDriver, StorageError};

async fn read(d: &dyn StorageDriver, p: &str, off: u64, len: Option<u64>) -> Vec<u8> {
    read_as(d, false, p, off, len).await
}

/// Reads through `sealed_reader` when `sealed`, through `reader` otherwise.
async fn read_as(
    d: &dyn StorageDriver,
    sealed: bool,
    p: &str,
    off: u64,
    len: Option<u64>,
) -> Vec<u8> {
    let s = if sealed {
        d.sealed_reader(p, off, len).await
    } else {
        d.reader(p, off, len).await
    };
    let chunks: Vec<Bytes> = s.unwrap().try_collect().await.unwrap();
    chunks.concat()
}

/// Writes `data` at `p` through `put_content`, which must succeed.
async fn put(d: &dyn StorageDriver, p: &str, data: &'static [u8]) {
    d.put_content(p, Bytes::from_static(data)).await.unwrap();
}

fn not_found<T>(r: Result<T, StorageError>) -> bool {
    matches!(r, Err(StorageError::NotFound(_)))
}

/// Deterministic bytes that differ at every offset.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[1] ^ seed)
        .collect()
}

async fn write_in(d: &dyn StorageDriver, p: &str, append: bool, data: &[u8], piece: usize) -> u64 {
    let mut w = d.writer(p, append).await.unwrap();
    for c in data.chunks(piece) {
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
    }
    let size = w.size();
    w.commit().await.unwrap();
    size
}

pub async fn content_stat_list(d: Arc<dyn StorageDriver>) {
    let d = &*d;
    assert!(not_found(d.get_content("/suite/missing").await));
    assert!(not_found(d.stat("/suite/missing").await));
    assert!(not_found(d.list("/suite/nothing").await));
    put(d, "/suite/a/b/c", b"hello").await;
    put(d, "/suite/a/b/c", b"bye").await;
    put(d, "/suite/a/bc", b"x").await;
    d.put_content("/suite/a/empty", Bytes::new()).await.unwrap();
    assert_eq!(&d.get_content("/suite/a/b/c").await.unwrap()[..], b"bye");
    assert_eq!(d.get_content("/suite/a/empty").await.unwrap().len(), 0);
    let f = d.stat("/suite/a/b/c").await.unwrap();
    assert!(!f.is_dir && f.size == 3, "{f:?}");
    let age = std::time::SystemTime::now()
        .duration_since(f.modified)
        .unwrap_or_default();
    assert!(age.as_secs() < 120, "modified time is now-ish: {f:?}");
    assert!(d.stat("/suite/a/b").await.unwrap().is_dir);
    assert_eq!(d.list("/suite/a").await.unwrap(), ["b", "bc", "empty"]);
    assert_eq!(d.list("/suite/a/b").await.unwrap(), ["c"]);
    assert!(d.get_content("/suite/../etc/passwd").await.is_err());
    assert!(d.put_content("relative", Bytes::new()).await.is_err());
}

pub async fn reader_ranges(d: Arc<dyn StorageDriver>) {
    let d = &*d;
    let data = pattern(100_000, 1);
    d.put_content("/suite/r/file", Bytes::from(data.clone()))
        .await
        .unwrap();
    for sealed in [false, true] {
        let read = |off, len| read_as(d, sealed, "/suite/r/file", off, len);
        assert_eq!(read(0, None).await, data);
        assert_eq!(read(10, Some(20)).await, &data[10..30]);
        assert_eq!(read(99_990, None).await, &data[99_990..]);
        assert_eq!(read(99_990, Some(50)).await, &data[99_990..]);
        assert!(read(100_000, None).await.is_empty());
        assert!(read(100_007, None).await.is_empty());
        assert!(read(5, Some(0)).await.is_empty());
    }
    assert!(not_found(d.reader("/suite/r/missing", 0, None).await));
    assert!(not_found(
        d.sealed_reader("/suite/r/missing", 0, None).await
    ));
}

pub async fn writers_append_cancel(d: Arc<dyn StorageDriver>) {
    let d = &*d;
    let p = "/suite/w/_uploads/x/data";
    // An upload starts as an empty file, then PATCH sessions append.
    d.writer(p, false).await.unwrap().commit().await.unwrap();
    assert_eq!(d.stat(p).await.unwrap().size, 0);
    let a = pattern(3000, 2);
    let b = pattern(5000, 3);
    assert_eq!(write_in(d, p, true, &a, 700).await, 3000);
    assert_eq!(d.stat(p).await.unwrap().size, 3000);
    let mut w = d.writer(p, true).await.unwrap();
    assert_eq!(w.size(), 3000);
    w.write(Bytes::from(pattern(4000, 9))).await.unwrap();
    w.cancel().await.unwrap();
    assert_eq!(
        d.stat(p).await.unwrap().size,
        3000,
        "cancel leaves the file as it was"
    );
    assert_eq!(write_in(d, p, true, &b, 999).await, 8000);
    let whole = [a.clone(), b.clone()].concat();
    assert_eq!(read(d, p, 0, None).await, whole);
    assert_eq!(read(d, p, 2990, Some(20)).await, &whole[2990..3010]);
    assert_eq!(read(d, p, 3000, None).await, b);
    assert_eq!(&d.get_content(p).await.unwrap()[..], &whole[..]);
    assert_eq!(d.list("/suite/w/_uploads/x").await.unwrap(), ["data"]);
    // A writer that does not append replaces the file.
    assert_eq!(write_in(d, p, false, b"new", 2).await, 3);
    assert_eq!(read(d, p, 0, None).await, b"new");
    // Move the appended file into place, over an existing destination.
    assert_eq!(write_in(d, p, true, &a, 1000).await, 3003);
    put(d, "/suite/w/blob/data", b"old").await;
    d.move_file(p, "/suite/w/blob/data").await.unwrap();
    assert!(not_found(d.stat(p).await));
    assert_eq!(
        read(d, "/suite/w/blob/data", 0, None).await,
        [b"new".as_ref(), &a].concat()
    );
}

pub async fn move_delete_walk(d: Arc<dyn StorageDriver>) {
    let d = &*d;
    put(d, "/suite/m/one", b"1").await;
    d.move_file("/suite/m/one", "/suite/m/sub/two")
        .await
        .unwrap();
    assert!(not_found(d.get_content("/suite/m/one").await));
    assert_eq!(&d.get_content("/suite/m/sub/two").await.unwrap()[..], b"1");
    assert!(not_found(d.move_file("/suite/m/none", "/suite/m/x").await));
    put(d, "/suite/m/sub/three", b"333").await;
    put(d, "/suite/m/subway", b"keep").await;
    let walked: Vec<_> = d.walk("/suite/m").try_collect().await.unwrap();
    let got: Vec<(String, u64)> = walked.iter().map(|f| (f.path.clone(), f.size)).collect();
    assert_eq!(
        got,
        [
            ("/suite/m/sub/three".to_string(), 3),
            ("/suite/m/sub/two".to_string(), 1),
            ("/suite/m/subway".to_string(), 4)
        ]
    );
    let nowhere: Vec<_> = d.walk("/suite/nowhere").try_collect().await.unwrap();
    assert!(nowhere.is_empty());
    d.delete("/suite/m/sub").await.unwrap();
    assert!(not_found(d.stat("/suite/m/sub/two").await));
    assert!(not_found(d.delete("/suite/m/sub").await));
    assert_eq!(
        &d.get_content("/suite/m/subway").await.unwrap()[..],
        b"keep",
        "a sibling with the same prefix stays"
    );
    d.delete("/suite/m/subway").await.unwrap();
    assert!(not_found(d.get_content("/suite/m/subway").await));
}

/// Files larger than a part: multipart writes, appends of full parts and
/// their server-side assembly.
pub async fn large_files(d: Arc<dyn StorageDriver>) {
    let d = &*d;
    let p = "/suite/big/_uploads/y/data";
    let a = pattern(12 << 20, 4);
    let b = pattern((6 << 20) + 17, 5);
    assert_eq!(write_in(d, p, true, &a, 1 << 20).await, a.len() as u64);
    assert_eq!(
        write_in(d, p, true, &b, 1 << 20).await,
        (a.len() + b.len()) as u64
    );
    assert_eq!(d.stat(p).await.unwrap().size, (a.len() + b.len()) as u64);
    // A writer cancelled after it sent parts (S3's multipart upload) leaves
    // the file as it was.
    let mut w = d.writer(p, true).await.unwrap();
    for piece in pattern(16 << 20, 6).chunks(1 << 20) {
        w.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    w.cancel().await.unwrap();
    assert_eq!(d.stat(p).await.unwrap().size, (a.len() + b.len()) as u64);
    d.move_file(p, "/suite/big/blob").await.unwrap();
    let back = read(d, "/suite/big/blob", 0, None).await;
    assert!(
        back == [a.clone(), b.clone()].concat(),
        "assembled bytes differ"
    );
    // Big reads, whole and from inside the file (S3 reads them in 8 MiB
    // ranges, the next one fetched while the current one is read; the
    // filesystem's sealed reads map 4 MiB windows).
    for sealed in [false, true] {
        let read = |off, len| read_as(d, sealed, "/suite/big/blob", off, len);
        assert!(read(0, None).await == back, "whole, sealed: {sealed}");
        let from = (1 << 20) + 3;
        assert!(read(from, None).await == back[from as usize..]);
        let len = (16 << 20) + 1;
        assert!(read(from, Some(len)).await == back[from as usize..][..len as usize]);
        let mid = (12 << 20) - 5;
        assert_eq!(
            read(mid, Some(10)).await,
            [&a[mid as usize..], &b[..5]].concat()
        );
        let window = (8 << 20) - 1;
        assert!(read(window, Some(2)).await == back[window as usize..][..2]);
    }
    d.delete("/suite/big").await.unwrap();
}

/// Every case, in order, on one driver.
pub async fn run_all(d: Arc<dyn StorageDriver>) {
    content_stat_list(d.clone()).await;
    reader_ranges(d.clone()).await;
    writers_append_cancel(d.clone()).await;
    move_delete_walk(d.clone()).await;
    large_files(d).await;
}
