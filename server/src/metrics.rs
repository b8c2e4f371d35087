//! Request metrics in the Prometheus text format, served on `http.debug.addr`
//! at `http.debug.prometheus.path` when enabled. Counted with plain atomics
//! in fixed tables (method × status code), so that counting a request takes
//! no lock and no allocation; no metrics framework is needed for this
//! handful.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// The methods counted by name; any other is counted as `other`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "other",
];
/// Status codes 100 to 599, one counter each.
const CODES: usize = 500;

pub struct Metrics {
    /// [method][code - 100] → count
    requests: Vec<AtomicU64>,
    /// method → (sum of nanoseconds, count)
    durations: [(AtomicU64, AtomicU64); METHODS.len()],
    in_flight: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..METHODS.len() * CODES)
                .map(|_| AtomicU64::new(0))
                .collect(),
            durations: Default::default(),
            in_flight: AtomicI64::new(0),
        }
    }
}

fn method_index(method: &str) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

impl Metrics {
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finished(&self, method: &str, status: u16, took: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let m = method_index(method);
        let code = usize::from(status).clamp(100, 100 + CODES - 1) - 100;
        self.requests[m * CODES + code].fetch_add(1, Ordering::Relaxed);
        let (sum, count) = &self.durations[m];
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        sum.fetch_add(nanos, Ordering::Relaxed);
        count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP labreg_http_requests_total HTTP requests answered, by method and status code.\n");
        out.push_str("# TYPE labreg_http_requests_total counter\n");
        for (m, name) in METHODS.iter().enumerate() {
            for code in 0..CODES {
                let n = self.requests[m * CODES + code].load(Ordering::Relaxed);
                if n > 0 {
                    let s = code + 100;
                    let _ = writeln!(
                        out,
                        "labreg_http_requests_total{{method=\"{name}\",code=\"{s}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP labreg_http_request_duration_seconds Time to answer HTTP requests, by method.\n");
        out.push_str("# TYPE labreg_http_request_duration_seconds summary\n");
        for (name, (sum, count)) in METHODS.iter().zip(&self.durations) {
            let count = count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let sum = sum.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "labreg_http_request_duration_seconds_sum{{method=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "labreg_http_request_duration_seconds_count{{method=\"{name}\"}} {count}"
            );
        }
        out.push_str("# HELP labreg_http_requests_in_flight HTTP requests being answered now.\n");
        out.push_str("# TYPE labreg_http_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "labreg_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.started();
        m.finished("GET", 200, Duration::from_millis(5));
        m.started();
        let text = m.render();
        assert!(
            text.contains("labreg_http_requests_total{method=\"GET\",code=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("labreg_http_request_duration_seconds_count{method=\"GET\"} 1"));
        assert!(text.contains("labreg_http_requests_in_flight 1"));
        assert!(!text.contains("HEAD"), "{text}");
    }

    #[test]
    fn counts_each_method_and_code_apart() {
        let m = Metrics::default();
        for (method, code) in [
            ("GET", 404),
            ("GET", 200),
            ("PATCH", 202),
            ("PROPFIND", 405),
        ] {
            m.started();
            m.finished(method, code, Duration::from_millis(1500));
        }
        let text = m.render();
        for line in [
            "labreg_http_requests_total{method=\"GET\",code=\"200\"} 1",
            "labreg_http_requests_total{method=\"GET\",code=\"404\"} 1",
            "labreg_http_requests_total{method=\"PATCH\",code=\"202\"} 1",
            "labreg_http_requests_total{method=\"other\",code=\"405\"} 1",
            "labreg_http_request_duration_seconds_sum{method=\"GET\"} 3",
            "labreg_http_requests_in_flight 0",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
