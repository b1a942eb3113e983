//! A latency histogram with fixed buckets, updated with atomics so that recording never takes a
//! lock, and its rendering as cumulative `_bucket`, `_sum` and `_count` samples.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::text::{Encoder, Value, float};

/// Bucket bounds (seconds) for HTTP requests: the gateway answers most in well under a
/// millisecond, a large `/Bulk` in seconds.
pub const HTTP_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Bucket bounds (seconds) for plugin calls, which include the target's answer: up to the
/// longest sensible `timeout_ms`.
pub const PLUGIN_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// See the module docs.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds of the buckets, ascending (seconds); `+Inf` is implied.
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); one more than `bounds`, for `+Inf`.
    counts: Box<[AtomicU64]>,
    /// The sum of all observations, in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// An empty histogram with these bucket bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(self.bounds.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Writes the samples of this histogram as `{name}_bucket`, `{name}_sum` and
    /// `{name}_count`, each with `labels` (and `le` for the buckets).
    pub fn encode(&self, e: &mut Encoder, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = float(self.bounds.get(i).copied().unwrap_or(f64::INFINITY));
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &le));
            e.sample(&bucket, &with_le, Value::Int(cumulative));
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        e.sample(&format!("{name}_sum"), labels, Value::Float(sum));
        e.sample(&format!("{name}_count"), labels, Value::Int(cumulative));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_count_matches() {
        let h = Histogram::new(&[0.01, 0.1]);
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(10));
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(2));
        assert_eq!(h.count(), 4);
        let mut e = Encoder::default();
        h.encode(&mut e, "t_seconds", &[("c", "x")]);
        assert_eq!(
            e.finish(),
            "t_seconds_bucket{c=\"x\",le=\"0.01\"} 2\n\
             t_seconds_bucket{c=\"x\",le=\"0.1\"} 3\n\
             t_seconds_bucket{c=\"x\",le=\"+Inf\"} 4\n\
             t_seconds_sum{c=\"x\"} 2.065\n\
             t_seconds_count{c=\"x\"} 4\n"
        );
    }

    #[test]
    fn bucket_bounds_ascend() {
        for bounds in [HTTP_BUCKETS, PLUGIN_BUCKETS] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
