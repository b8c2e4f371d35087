//! Request metrics in the Prometheus text format, served on `http.debug.addr`
//! at `http.debug.prometheus.path` when enabled. Counted with plain atomics
//! and one small map; no metrics framework is needed for this handful.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Metrics {
    /// (method, status) → count
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// method → (sum of seconds, count)
    durations: Mutex<BTreeMap<String, (f64, u64)>>,
    in_flight: AtomicI64,
}

impl Metrics {
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finished(&self, method: &str, status: u16, took: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        *self
            .requests
            .lock()
            .expect("metrics poisoned")
            .entry((method.to_string(), status))
            .or_default() += 1;
        let mut d = self.durations.lock().expect("metrics poisoned");
        let e = d.entry(method.to_string()).or_default();
        e.0 += took.as_secs_f64();
        e.1 += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP labreg_http_requests_total HTTP requests answered, by method and status code.\n");
        out.push_str("# TYPE labreg_http_requests_total counter\n");
        for ((m, s), n) in self.requests.lock().expect("metrics poisoned").iter() {
            let _ = writeln!(
                out,
                "labreg_http_requests_total{{method=\"{m}\",code=\"{s}\"}} {n}"
            );
        }
        out.push_str("# HELP labreg_http_request_duration_seconds Time to answer HTTP requests, by method.\n");
        out.push_str("# TYPE labreg_http_request_duration_seconds summary\n");
        for (m, (sum, count)) in self.durations.lock().expect("metrics poisoned").iter() {
            let _ = writeln!(
                out,
                "labreg_http_request_duration_seconds_sum{{method=\"{m}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "labreg_http_request_duration_seconds_count{{method=\"{m}\"}} {count}"
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
    }
}
