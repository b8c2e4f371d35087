//! Delivery to one endpoint: the oldest queued envelope is POSTed until the
//! endpoint takes it (a 2xx or 3xx answer, as registry:2 counts it), then
//! the next. registry:2's retry rule: after `threshold` failures in a row,
//! each further try waits until `backoff` has passed since the last failure;
//! nothing is ever given up, so order holds. Header values (an
//! Authorization token) are never logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::Endpoint;
use super::envelope::MEDIA_TYPE;

/// A running delivery task.
pub struct Handle {
    stopping: Arc<AtomicBool>,
    busy: Arc<Mutex<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Handle {
    /// Waits for a delivery in flight, then stops the task.
    pub async fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _idle = self.busy.lock().await;
        self.task.abort();
    }
}

fn client() -> std::io::Result<reqwest::Client> {
    let tls = crate::trust::Anchors::system()
        .client_config()
        .map_err(std::io::Error::other)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "labreg/",
            env!("CARGO_PKG_VERSION"),
            " (notifications)"
        ))
        .build()
        .map_err(std::io::Error::other)
}

pub fn spawn(endpoint: Arc<Endpoint>) -> std::io::Result<Handle> {
    let http = client()?;
    let stopping = Arc::new(AtomicBool::new(false));
    let busy = Arc::new(Mutex::new(()));
    let task = tokio::spawn(run(endpoint, http, stopping.clone(), busy.clone()));
    Ok(Handle {
        stopping,
        busy,
        task,
    })
}

/// registry:2's breaker: how long to wait before the next try.
fn wait_before_try(
    failures: u32,
    last_failure: Option<Instant>,
    threshold: u32,
    backoff: Duration,
) -> Duration {
    match last_failure {
        Some(at) if failures >= threshold => backoff.saturating_sub(at.elapsed()),
        _ => Duration::ZERO,
    }
}

async fn run(
    e: Arc<Endpoint>,
    http: reqwest::Client,
    stopping: Arc<AtomicBool>,
    busy: Arc<Mutex<()>>,
) {
    let s = &e.settings;
    let (mut failures, mut last_failure) = (0u32, None::<Instant>);
    loop {
        let Some((seq, path)) = e.queue.front() else {
            e.queue.ready.notified().await;
            continue;
        };
        let wait = wait_before_try(failures, last_failure, s.threshold, s.backoff);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let _guard = busy.lock().await;
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let body = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(err) => {
                tracing::error!(endpoint = %s.name, file = %path.display(), error = %err, "queued event unreadable: skipped");
                let _ = e.queue.pop(seq);
                continue;
            }
        };
        let sent = http
            .post(s.url.clone())
            .headers(s.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
            .timeout(s.timeout)
            .body(body)
            .send()
            .await;
        let failure = match sent {
            Ok(r) if (200..400).contains(&r.status().as_u16()) => None,
            Ok(r) => Some(format!("answered {}", r.status())),
            Err(err) => Some(err.without_url().to_string()),
        };
        match failure {
            None => {
                e.sent.fetch_add(1, Ordering::Relaxed);
                failures = 0;
                last_failure = None;
                if let Err(err) = e.queue.pop(seq) {
                    tracing::error!(endpoint = %s.name, error = %err, "cannot remove a delivered event from the queue");
                }
            }
            Some(why) => {
                e.failed.fetch_add(1, Ordering::Relaxed);
                failures = failures.saturating_add(1);
                last_failure = Some(Instant::now());
                tracing::warn!(
                    endpoint = %s.name,
                    failures,
                    pending = e.queue.len(),
                    "notification not delivered ({why}); retrying{}",
                    if failures >= s.threshold { format!(" every {:?}", s.backoff) } else { String::new() }
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_only_after_threshold_failures() {
        let b = Duration::from_secs(5);
        assert_eq!(
            wait_before_try(2, Some(Instant::now()), 3, b),
            Duration::ZERO
        );
        assert!(wait_before_try(3, Some(Instant::now()), 3, b) > Duration::from_secs(4));
        assert_eq!(wait_before_try(0, None, 3, b), Duration::ZERO);
    }
}
