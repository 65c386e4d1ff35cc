//! Prometheus metrics in the text exposition format, kept by hand: a few
//! counters and histograms behind one mutex are about 100 lines, where the
//! `prometheus-client` crate would add a dependency (and compile time) for
//! the same text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Request latency buckets, in seconds (100 us to 1 s).
const LATENCY_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];
/// Batch-size buckets, in samples.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

#[derive(Clone, Default)]
struct Histogram {
    /// Observations at most each bucket's bound (not yet cumulative).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len()];
        }
        if let Some(i) = bounds.iter().position(|&b| value <= b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, model: &str, bounds: &[f64]) {
        let mut cumulative = 0;
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "{name}_bucket{{model=\"{model}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{model=\"{model}\",le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{model=\"{model}\"}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{model=\"{model}\"}} {}", self.count);
    }
}

#[derive(Default)]
struct State {
    /// Requests by (model, HTTP status); the model is `""` for server routes.
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    batch_size: BTreeMap<String, Histogram>,
    /// Samples waiting in each model's queue.
    queue_depth: BTreeMap<String, i64>,
    reloads: BTreeMap<(String, bool), u64>,
}

#[derive(Default)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic elsewhere while holding the lock leaves counters that are
        // still valid numbers; keep serving them.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// One inference request answered with `code` after `seconds`.
    pub fn request(&self, model: &str, code: u16, seconds: f64) {
        self.with(|s| {
            *s.requests.entry((model.to_string(), code)).or_default() += 1;
            s.latency
                .entry(model.to_string())
                .or_default()
                .observe(&LATENCY_BUCKETS, seconds);
        });
    }

    pub fn batch(&self, model: &str, samples: usize) {
        self.with(|s| {
            s.batch_size
                .entry(model.to_string())
                .or_default()
                .observe(&BATCH_BUCKETS, samples as f64)
        });
    }

    pub fn queue_change(&self, model: &str, delta: i64) {
        self.with(|s| *s.queue_depth.entry(model.to_string()).or_default() += delta);
    }

    pub fn reload(&self, model: &str, ok: bool) {
        self.with(|s| *s.reloads.entry((model.to_string(), ok)).or_default() += 1);
    }

    pub fn render(&self) -> String {
        self.with(|s| {
            let mut out = String::new();
            out.push_str("# HELP nnspec_requests_total Inference requests by model and HTTP status.\n# TYPE nnspec_requests_total counter\n");
            for ((model, code), n) in &s.requests {
                let _ = writeln!(
                    out,
                    "nnspec_requests_total{{model=\"{model}\",code=\"{code}\"}} {n}"
                );
            }
            out.push_str("# HELP nnspec_request_errors_total Inference requests answered with an error status.\n# TYPE nnspec_request_errors_total counter\n");
            for ((model, code), n) in s.requests.iter().filter(|((_, c), _)| *c >= 400) {
                let _ = writeln!(
                    out,
                    "nnspec_request_errors_total{{model=\"{model}\",code=\"{code}\"}} {n}"
                );
            }
            out.push_str("# HELP nnspec_request_duration_seconds Inference request latency.\n# TYPE nnspec_request_duration_seconds histogram\n");
            for (model, h) in &s.latency {
                h.render(&mut out, "nnspec_request_duration_seconds", model, &LATENCY_BUCKETS);
            }
            out.push_str("# HELP nnspec_batch_size Samples per forward pass.\n# TYPE nnspec_batch_size histogram\n");
            for (model, h) in &s.batch_size {
                h.render(&mut out, "nnspec_batch_size", model, &BATCH_BUCKETS);
            }
            out.push_str("# HELP nnspec_queue_depth Samples waiting for a batch.\n# TYPE nnspec_queue_depth gauge\n");
            for (model, n) in &s.queue_depth {
                let _ = writeln!(out, "nnspec_queue_depth{{model=\"{model}\"}} {n}");
            }
            out.push_str("# HELP nnspec_reloads_total Checkpoint reloads by outcome.\n# TYPE nnspec_reloads_total counter\n");
            for ((model, ok), n) in &s.reloads {
                let outcome = if *ok { "ok" } else { "error" };
                let _ = writeln!(
                    out,
                    "nnspec_reloads_total{{model=\"{model}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            out
        })
    }
}
