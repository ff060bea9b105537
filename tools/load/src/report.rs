//! Latencies, recorded in an HDR histogram (microseconds, 3 significant figures: 0.1% at any
//! size, in constant memory however long the run), and the line every tool prints.

use std::time::Duration;

use hdrhistogram::Histogram;

/// One run's (or one worker's) latencies.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // 1 µs to 1 hour: anything a request can take.
        Self(
            Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|_| unreachable!("constant bounds are valid")),
        )
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `quantile` (0.5 = p50, 1.0 = max) in milliseconds; 0 when empty.
    pub fn ms(&self, quantile: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let micros = if quantile >= 1.0 {
            self.0.max()
        } else {
            self.0.value_at_quantile(quantile)
        };
        micros as f64 / 1000.0
    }

    /// `latency ms: p50=… p90=… p99=… p99.9=… max=…`.
    pub fn line(&self) -> String {
        format!(
            "latency ms: p50={:.2} p90={:.2} p99={:.2} p99.9={:.2} max={:.2}",
            self.ms(0.50),
            self.ms(0.90),
            self.ms(0.99),
            self.ms(0.999),
            self.ms(1.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let mut latencies = Latencies::default();
        for ms in 1..=100 {
            latencies.record(Duration::from_millis(ms));
        }
        let mut other = Latencies::default();
        other.record(Duration::from_millis(500));
        latencies.merge(&other);

        assert_eq!(latencies.count(), 101);
        assert!(
            (latencies.ms(0.5) - 51.0).abs() < 0.1,
            "{}",
            latencies.ms(0.5)
        );
        assert!((latencies.ms(0.99) - 100.0).abs() < 0.1);
        assert!((latencies.ms(1.0) - 500.0).abs() < 0.5);
        assert_eq!(Latencies::default().ms(0.99), 0.0);
    }
}
