//! `/metrics` in Prometheus' text format: requests by route and status (with `unroutable`,
//! `panicked` and `unparsed` for what no route answered), a latency histogram
//! by route, the model being served, model reloads and their failures, and connections (open
//! now and accepted in all: many open and few requests is what slow clients look like).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The counters, behind one lock (a few increments per request).
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Counted outside the lock: they change once per connection, not per request.
    connections_open: Arc<AtomicU64>,
    connections_total: AtomicU64,
}

/// An open connection, counted until dropped.
pub struct OpenConnection(Arc<AtomicU64>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    model_id: String,
    reloads: u64,
    reload_failures: u64,
    /// With `--registry`: the entry `current` named when last read.
    registry_promoted: Option<String>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Counters for a server that starts with model `model_id`.
    pub fn new(model_id: &str) -> Metrics {
        let metrics = Metrics::default();
        metrics.lock().model_id = model_id.to_string();
        metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters: still worth reporting.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One request answered.
    pub fn observe(&self, route: &'static str, status: u16, elapsed: Duration) {
        let mut inner = self.lock();
        *inner.requests.entry((route, status)).or_default() += 1;
        let histogram = inner.latency.entry(route).or_default();
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// A request answered before any route saw it (by hyper's parser): counted by status,
    /// with no latency.
    pub fn refused(&self, route: &'static str, status: u16) {
        *self.lock().requests.entry((route, status)).or_default() += 1;
    }

    /// A connection was accepted; it counts as open until the guard is dropped.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self.connections_open.clone())
    }

    /// A new model is being served.
    pub fn reloaded(&self, model_id: &str) {
        let mut inner = self.lock();
        inner.reloads += 1;
        inner.model_id = model_id.to_string();
    }

    /// The registry's `current` names entry `entry` (read just now).
    pub fn registry_promoted(&self, entry: &str) {
        self.lock().registry_promoted = Some(entry.to_string());
    }

    /// A replacement model was refused.
    pub fn reload_failed(&self) {
        self.lock().reload_failures += 1;
    }

    /// The text `/metrics` answers.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        // A metric's two comment lines; writing to a String cannot fail.
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "cinerec_requests_total",
            "counter",
            "Requests answered, by route and status.",
        );
        for ((route, status), count) in &inner.requests {
            let _ = writeln!(
                out,
                "cinerec_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        family(
            &mut out,
            "cinerec_request_duration_seconds",
            "histogram",
            "Time to answer, by route.",
        );
        for (route, histogram) in &inner.latency {
            let name = "cinerec_request_duration_seconds";
            for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}\n\
                 {name}_sum{{route=\"{route}\"}} {sum}\n\
                 {name}_count{{route=\"{route}\"}} {count}",
                count = histogram.count,
                sum = histogram.sum,
            );
        }
        family(
            &mut out,
            "cinerec_model_info",
            "gauge",
            "The model being served.",
        );
        let _ = writeln!(
            out,
            "cinerec_model_info{{model_id=\"{}\"}} 1",
            inner.model_id
        );
        if let Some(promoted) = &inner.registry_promoted {
            // An entry's id is its model's: what is served is the entry of that id.
            let serving = &inner.model_id;
            let entries = [
                (
                    "cinerec_registry_entry_info",
                    "The registry entry being served.",
                    serving,
                ),
                (
                    "cinerec_registry_promoted_info",
                    "The entry the registry's pointer named when last read.",
                    promoted,
                ),
            ];
            for (name, help, entry) in entries {
                family(&mut out, name, "gauge", help);
                let _ = writeln!(out, "{name}{{entry=\"{entry}\"}} 1");
            }
            family(
                &mut out,
                "cinerec_registry_serving_promoted",
                "gauge",
                "1 when the entry served is the one promoted, else 0.",
            );
            let _ = writeln!(
                out,
                "cinerec_registry_serving_promoted {}",
                u8::from(serving == promoted)
            );
        }
        let single = [
            (
                "cinerec_model_reloads_total",
                "counter",
                "Models swapped in after start.",
                inner.reloads,
            ),
            (
                "cinerec_model_reload_failures_total",
                "counter",
                "Replacement models refused.",
                inner.reload_failures,
            ),
            (
                "cinerec_connections_open",
                "gauge",
                "Client connections open now.",
                self.connections_open.load(Ordering::Relaxed),
            ),
            (
                "cinerec_connections_total",
                "counter",
                "Client connections accepted.",
                self.connections_total.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in single {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_into_every_bucket_at_or_above_their_latency() {
        let metrics = Metrics::new("abc");
        metrics.observe("/healthz", 200, Duration::from_micros(300));
        metrics.observe("/healthz", 200, Duration::from_millis(20));
        metrics.observe("/healthz", 404, Duration::from_secs(9));
        metrics.refused("unparsed", 431);
        let text = metrics.render();
        assert!(text.contains(r#"cinerec_requests_total{route="/healthz",status="200"} 2"#));
        assert!(text.contains(r#"cinerec_requests_total{route="/healthz",status="404"} 1"#));
        assert!(text.contains(r#"cinerec_requests_total{route="unparsed",status="431"} 1"#));
        assert!(!text.contains(r#"duration_seconds_count{route="unparsed"}"#));
        assert!(text.contains(
            r#"cinerec_request_duration_seconds_bucket{route="/healthz",le="0.00025"} 0"#
        ));
        assert!(text.contains(
            r#"cinerec_request_duration_seconds_bucket{route="/healthz",le="0.0005"} 1"#
        ));
        assert!(text
            .contains(r#"cinerec_request_duration_seconds_bucket{route="/healthz",le="0.025"} 2"#));
        assert!(text
            .contains(r#"cinerec_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 3"#));
        assert!(text.contains(r#"cinerec_model_info{model_id="abc"} 1"#));
        metrics.reloaded("def");
        metrics.reload_failed();
        let text = metrics.render();
        assert!(text.contains(r#"cinerec_model_info{model_id="def"} 1"#));
        assert!(text.contains("cinerec_model_reloads_total 1"));
        assert!(text.contains("cinerec_model_reload_failures_total 1"));
        let open = metrics.connection_opened();
        drop(metrics.connection_opened());
        let text = metrics.render();
        assert!(text.contains("cinerec_connections_open 1\n"), "{text}");
        assert!(text.contains("cinerec_connections_total 2\n"), "{text}");
        drop(open);
        assert!(metrics.render().contains("cinerec_connections_open 0\n"));
        assert!(
            !metrics.render().contains("cinerec_registry"),
            "only with --registry"
        );
    }

    #[test]
    fn the_registry_gauges_say_whether_the_promoted_entry_is_served() {
        let metrics = Metrics::new("aaaa");
        let has = |lines: &[&str]| {
            let text = metrics.render();
            for line in lines {
                assert!(
                    text.contains(&format!("{line}\n")),
                    "{line} missing:\n{text}"
                );
            }
        };
        metrics.registry_promoted("aaaa");
        has(&[
            "cinerec_registry_entry_info{entry=\"aaaa\"} 1",
            "cinerec_registry_promoted_info{entry=\"aaaa\"} 1",
            "cinerec_registry_serving_promoted 1",
        ]);
        metrics.registry_promoted("bbbb");
        has(&[
            "cinerec_registry_promoted_info{entry=\"bbbb\"} 1",
            "cinerec_registry_serving_promoted 0",
        ]);
        metrics.reloaded("bbbb");
        has(&[
            "cinerec_registry_entry_info{entry=\"bbbb\"} 1",
            "cinerec_registry_serving_promoted 1",
        ]);
    }
}
