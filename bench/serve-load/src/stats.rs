//! What one run measured, merged across clients, and how it is printed.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// One client's (or the merged) record of its requests.
pub struct Record {
    /// Latencies of successful requests, in microseconds.
    pub latency_us: Histogram<u64>,
    pub ok: u64,
    /// Failures by cause: an HTTP status ("503"), or "connect", "io",
    /// "timeout", "bad_body" (a 200 without an `outputs` member).
    pub errors: BTreeMap<String, u64>,
}

impl Record {
    pub fn new() -> Self {
        // 1 us to 60 s at 3 significant digits: enough for sub-millisecond
        // p50s and multi-second overload tails alike.
        let latency_us =
            Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
        Record {
            latency_us,
            ok: 0,
            errors: BTreeMap::new(),
        }
    }

    pub fn success(&mut self, latency: Duration) {
        self.ok += 1;
        let us = (latency.as_micros() as u64).clamp(1, 60_000_000);
        self.latency_us.saturating_record(us);
    }

    pub fn error(&mut self, cause: impl Into<String>) {
        *self.errors.entry(cause.into()).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Record) {
        self.ok += other.ok;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share bounds");
        for (cause, n) in &other.errors {
            *self.errors.entry(cause.clone()).or_insert(0) += n;
        }
    }
}

pub struct Summary<'a> {
    pub record: &'a Record,
    pub elapsed: Duration,
    pub concurrency: usize,
    pub batch: usize,
    pub rate: Option<f64>,
    /// The generator's own CPU time (user + system) during the measurement.
    pub cpu: Option<Duration>,
}

impl Summary<'_> {
    fn ms(&self, quantile: f64) -> f64 {
        if self.record.ok == 0 {
            return f64::NAN;
        }
        self.record.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn max_ms(&self) -> f64 {
        if self.record.ok == 0 {
            return f64::NAN;
        }
        self.record.latency_us.max() as f64 / 1000.0
    }

    fn requests_per_s(&self) -> f64 {
        self.record.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn error_count(&self) -> u64 {
        self.record.errors.values().sum()
    }

    fn cpu_percent(&self) -> Option<f64> {
        self.cpu
            .map(|c| 100.0 * c.as_secs_f64() / self.elapsed.as_secs_f64())
    }

    pub fn json(&self) -> serde_json::Value {
        let num = |v: f64| {
            if v.is_finite() {
                serde_json::json!(v)
            } else {
                serde_json::Value::Null
            }
        };
        serde_json::json!({
            "concurrency": self.concurrency,
            "batch": self.batch,
            "rate": self.rate,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "ok": self.record.ok,
            "errors": self.error_count(),
            "errors_by_cause": self.record.errors,
            "requests_per_s": num(self.requests_per_s()),
            "samples_per_s": num(self.requests_per_s() * self.batch as f64),
            "latency_ms": {
                "mean": num(if self.record.ok == 0 { f64::NAN } else { self.record.latency_us.mean() / 1000.0 }),
                "p50": num(self.ms(0.50)),
                "p90": num(self.ms(0.90)),
                "p99": num(self.ms(0.99)),
                "max": num(self.max_ms()),
            },
            "generator_cpu_percent": self.cpu_percent().map(num),
        })
    }

    pub fn text(&self) -> String {
        let mut out = format!(
            "{} clients{}, {:.1} s: {} ok, {} errors\n\
             throughput: {:.0} requests/s, {:.0} samples/s\n\
             latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}\n",
            self.concurrency,
            self.rate
                .map(|r| format!(" at {r} requests/s"))
                .unwrap_or_default(),
            self.elapsed.as_secs_f64(),
            self.record.ok,
            self.error_count(),
            self.requests_per_s(),
            self.requests_per_s() * self.batch as f64,
            self.ms(0.50),
            self.ms(0.90),
            self.ms(0.99),
            self.max_ms(),
        );
        for (cause, n) in &self.record.errors {
            out += &format!("  errors {cause}: {n}\n");
        }
        if let Some(p) = self.cpu_percent() {
            out += &format!("generator CPU: {p:.0}% of one core\n");
        }
        out
    }
}

/// This process's user + system CPU time, from /proc (Linux); `None`
/// elsewhere, which only drops the generator-CPU line.
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}
