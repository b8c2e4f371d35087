//! Webhook notifications as registry:2 sends them (`notifications.endpoints`):
//! every change and pull becomes registry:2's event JSON, filtered per
//! endpoint (`ignoredmediatypes`, `ignore`), queued on local disk per
//! endpoint ([`queue`]) and delivered in order with registry:2's retry rule
//! ([`deliver`]).
//!
//! A request's task only builds the event and hands it to a bounded channel
//! (never waiting); a writer thread puts it into each endpoint's queue. When
//! the channel or a queue is full the event is dropped for that endpoint,
//! logged and counted: a push never waits for a receiver.

pub mod config;
mod deliver;
pub mod envelope;
pub mod queue;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;

use config::EndpointSettings;
pub use config::NotifySettings;
use envelope::Source;
use queue::Queue;

use crate::events::{EventSink, Pull};
use crate::registry::Change;

/// Events waiting for the writer thread; beyond this they are dropped.
const CHANNEL: usize = 4096;

/// One endpoint: its settings, queue and counters.
pub struct Endpoint {
    pub settings: EndpointSettings,
    pub queue: Queue,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Endpoint {
    fn wants(&self, event: &Value) -> bool {
        let s = &self.settings;
        let action = event["action"].as_str().unwrap_or("");
        let media_type = event["target"]["mediaType"].as_str().unwrap_or("");
        !s.ignored_actions.iter().any(|a| a == action)
            && !s.ignored_media_types.iter().any(|m| m == media_type)
    }

    fn drop_one(&self, why: &str) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        // The first and then every 1000th, so a dead endpoint cannot flood the log.
        if n == 1 || n.is_multiple_of(1000) {
            tracing::warn!(
                endpoint = %self.settings.name,
                dropped_total = n,
                "notification event dropped: {why}"
            );
        }
    }
}

/// A Prometheus series: name, type, help, and its value for an endpoint.
type Metric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Endpoint) -> u64,
);

/// The notifier: an [`EventSink`] that sends to every endpoint.
pub struct Notifier {
    endpoints: Vec<Arc<Endpoint>>,
    source: Source,
    include_references: bool,
    tx: Mutex<Option<SyncSender<Arc<Value>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    deliverers: Mutex<Vec<deliver::Handle>>,
}

impl Notifier {
    /// Opens each endpoint's queue (what a previous run left is sent
    /// first), starts the writer thread and, on the current runtime, one
    /// delivery task per endpoint.
    pub fn start(settings: &NotifySettings, port: u16) -> std::io::Result<Arc<Notifier>> {
        let mut endpoints = Vec::new();
        for e in &settings.endpoints {
            let dir = settings.queue_dir.join(sanitize(&e.name));
            let queue = Queue::open(&dir, settings.max_pending).map_err(|err| {
                std::io::Error::new(
                    err.kind(),
                    format!("notification queue {}: {err}", dir.display()),
                )
            })?;
            tracing::info!(
                endpoint = %e.name,
                url = %redacted(&e.url),
                queue = %dir.display(),
                pending = queue.len(),
                "sending registry events"
            );
            endpoints.push(Arc::new(Endpoint {
                settings: e.clone(),
                queue,
                sent: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }));
        }
        let (tx, rx) = sync_channel::<Arc<Value>>(CHANNEL);
        let for_writer = endpoints.clone();
        let writer = std::thread::Builder::new()
            .name("labreg-notify".into())
            .spawn(move || {
                for event in rx {
                    let body = envelope::envelope(&event);
                    for e in for_writer.iter().filter(|e| e.wants(&event)) {
                        match e.queue.push(&body) {
                            Ok(true) => {}
                            Ok(false) => e.drop_one(
                                "the endpoint's queue is full (labreg.notifications.maxpending)",
                            ),
                            Err(err) => e.drop_one(&format!("cannot write the queue: {err}")),
                        }
                    }
                }
            })?;
        let deliverers = endpoints
            .iter()
            .map(|e| deliver::spawn(e.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Notifier {
            endpoints,
            source: Source::here(port),
            include_references: settings.include_references,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            deliverers: Mutex::new(deliverers),
        }))
    }

    fn send(&self, event: Value) {
        if !self.endpoints.iter().any(|e| e.wants(&event)) {
            return;
        }
        let tx = self.tx.lock().expect("notifier poisoned").clone();
        let Some(tx) = tx else { return };
        match tx.try_send(Arc::new(event)) {
            Ok(()) => {}
            Err(TrySendError::Full(event)) => self
                .endpoints
                .iter()
                .filter(|e| e.wants(&event))
                .for_each(|e| e.drop_one("too many events waiting to be written")),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// At shutdown: every event handed over is written to its queue, and
    /// a delivery in flight finishes (so it is not sent twice); what is
    /// still queued is sent by the next start.
    pub async fn close(&self) {
        self.tx.lock().expect("notifier poisoned").take();
        let writer = self.writer.lock().expect("notifier poisoned").take();
        if let Some(w) = writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        let handles = std::mem::take(&mut *self.deliverers.lock().expect("notifier poisoned"));
        for h in handles {
            h.stop().await;
        }
    }

    /// Prometheus counters per endpoint.
    pub fn render(&self, out: &mut String) {
        let metrics: [Metric; 4] = [
            (
                "labreg_notifications_sent_total",
                "counter",
                "Events the endpoint accepted.",
                |e| e.sent.load(Ordering::Relaxed),
            ),
            (
                "labreg_notifications_failed_total",
                "counter",
                "Deliveries that failed (each retry counts).",
                |e| e.failed.load(Ordering::Relaxed),
            ),
            (
                "labreg_notifications_dropped_total",
                "counter",
                "Events dropped because a queue was full or could not be written.",
                |e| e.dropped.load(Ordering::Relaxed),
            ),
            (
                "labreg_notifications_pending",
                "gauge",
                "Events queued for the endpoint.",
                |e| e.queue.len() as u64,
            ),
        ];
        for (name, kind, help, value) in metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for e in &self.endpoints {
                let _ = writeln!(
                    out,
                    "{name}{{endpoint=\"{}\"}} {}",
                    e.settings.name.replace(['"', '\\', '\n'], "_"),
                    value(e)
                );
            }
        }
    }
}

impl EventSink for Notifier {
    fn record(&self, change: &Change) {
        self.send(envelope::from_change(
            change,
            &self.source,
            self.include_references,
        ));
    }

    fn pulled(&self, pull: &Pull) {
        self.send(envelope::from_pull(
            pull,
            &self.source,
            self.include_references,
        ));
    }
}

/// An endpoint's name as a folder name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A URL without its password or query (either may hold a token).
fn redacted(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}
