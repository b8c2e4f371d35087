//! Concurrent reads of one small object share a request, without ever
//! answering from the past: a read waits for a request that starts after
//! it arrived. While a GET of `tags/v1/current/link` is in flight, every
//! read of it that arrives joins the next GET, which starts when the
//! first returns; all of them get that GET's answer. So each answer is
//! what the storage held at some moment after the read was asked (what
//! this or another process wrote before is seen), and sixteen clients
//! asking for one tag cost two requests instead of sixteen.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::storage::{Result, StorageError};

type Waiters<V> = Vec<oneshot::Sender<Result<V>>>;

/// The reads of one kind (whole contents, or stats), by path.
pub struct Reads<V> {
    /// For each path with a request in flight, the reads waiting for the
    /// next one.
    next: Arc<Mutex<HashMap<String, Waiters<V>>>>,
}

impl<V> Clone for Reads<V> {
    fn clone(&self) -> Self {
        Reads {
            next: self.next.clone(),
        }
    }
}

impl<V> Default for Reads<V> {
    fn default() -> Self {
        Reads {
            next: Arc::default(),
        }
    }
}

pub type Request<V> = Pin<Box<dyn Future<Output = Result<V>> + Send>>;

impl<V: Clone + Send + 'static> Reads<V> {
    /// The answer of a `request` for `path` that starts after this call.
    pub async fn read(
        &self,
        path: &str,
        request: impl Fn() -> Request<V> + Send + 'static,
    ) -> Result<V> {
        let (tx, rx) = oneshot::channel();
        let first = {
            let mut next = self.next.lock().expect("coalesced reads poisoned");
            match next.get_mut(path) {
                Some(waiting) => {
                    waiting.push(tx);
                    false
                }
                None => {
                    next.insert(path.to_string(), vec![tx]);
                    true
                }
            }
        };
        if first {
            // On its own task: the requests go on for the others if this
            // caller goes away.
            tokio::spawn(serve(self.next.clone(), path.to_string(), request));
        }
        rx.await.unwrap_or_else(|_| {
            Err(StorageError::Unavailable(format!(
                "the read of {path} was interrupted (labreg is stopping)"
            )))
        })
    }
}

/// Sends requests for `path` while reads wait for one, each answer to the
/// reads that arrived before it started.
async fn serve<V: Clone>(
    next: Arc<Mutex<HashMap<String, Waiters<V>>>>,
    path: String,
    request: impl Fn() -> Request<V>,
) {
    loop {
        let waiting = {
            let mut next = next.lock().expect("coalesced reads poisoned");
            match next.get_mut(&path) {
                Some(w) if !w.is_empty() => std::mem::take(w),
                _ => {
                    next.remove(&path);
                    return;
                }
            }
        };
        let answer = request().await;
        for w in waiting {
            let _ = w.send(match &answer {
                Ok(v) => Ok(v.clone()),
                Err(e) => Err(shared(e)),
            });
        }
    }
}

/// The same error for another waiter (an I/O error keeps its kind and
/// message).
fn shared(e: &StorageError) -> StorageError {
    match e {
        StorageError::NotFound(p) => StorageError::NotFound(p.clone()),
        StorageError::InvalidPath(p) => StorageError::InvalidPath(p.clone()),
        StorageError::Full(p) => StorageError::Full(p.clone()),
        StorageError::Unavailable(m) => StorageError::Unavailable(m.clone()),
        StorageError::Io { path, source } => StorageError::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// A storage whose value is `value`, read in 50 ms, counting requests.
    fn slow_read(value: Arc<AtomicU32>, requests: Arc<AtomicU32>) -> impl Fn() -> Request<u32> {
        move || {
            let (value, requests) = (value.clone(), requests.clone());
            Box::pin(async move {
                requests.fetch_add(1, Ordering::SeqCst);
                let v = value.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(v)
            })
        }
    }

    #[tokio::test]
    async fn reads_in_flight_share_the_next_request_and_never_see_the_past() {
        let reads: Reads<u32> = Reads::default();
        let (value, requests) = (Arc::new(AtomicU32::new(1)), Arc::new(AtomicU32::new(0)));
        let first = {
            let (r, read) = (reads.clone(), slow_read(value.clone(), requests.clone()));
            tokio::spawn(async move { r.read("/tag", read).await.unwrap() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The value changes while the first request is in flight: the
        // reads asked now must see it, so they wait for the next request.
        value.store(2, Ordering::SeqCst);
        let later: Vec<_> = (0..8)
            .map(|_| {
                let (r, read) = (reads.clone(), slow_read(value.clone(), requests.clone()));
                tokio::spawn(async move { r.read("/tag", read).await.unwrap() })
            })
            .collect();
        assert_eq!(first.await.unwrap(), 1);
        for l in later {
            assert_eq!(l.await.unwrap(), 2);
        }
        assert_eq!(
            requests.load(Ordering::SeqCst),
            2,
            "nine reads, two requests"
        );
        assert!(
            reads.next.lock().unwrap().is_empty(),
            "nothing left waiting"
        );
        // Alone, a read makes its own request at once.
        let read = slow_read(value.clone(), requests.clone());
        assert_eq!(reads.read("/tag", read).await.unwrap(), 2);
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }
}
