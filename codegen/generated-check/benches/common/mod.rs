//! What the benchmarks of generated code share: the CPU's name for the
//! header, and best-and-median timing.

use std::time::{Duration, Instant};

/// The CPU's model name, as /proc/cpuinfo gives it (empty elsewhere).
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default()
}

/// The fastest and the median of `reps` calls of `f`, after up to 200
/// calls of warm-up (other work on the machine only ever adds time, so
/// the fastest is the figure; the median shows the spread).
#[allow(dead_code)] // Not every benchmark times single calls.
pub fn time(reps: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..reps.min(200) {
        f();
    }
    let mut samples: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[0], samples[reps / 2])
}
