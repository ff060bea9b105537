//! The service's Prometheus metrics, in a registry of its own (several applications can run in
//! one test process without colliding on names).

use std::time::Duration;

use common::metrics::prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Every metric the receiver exports. Cheap to clone (the collectors are shared handles).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Notifications by `outcome` (published, acknowledged, rejected, unavailable, error) and
    /// `reason` (the event kind when published, the failure's label otherwise).
    notifications: IntCounterVec,
    /// From `basic.publish` to the broker's ack, for confirmed events only.
    confirm_latency: Histogram,
    /// Connections re-established after one was lost.
    reconnects: IntCounter,
    /// Attempts to (re)connect that failed.
    connect_failures: IntCounter,
    /// 1 while a confirm-mode channel is available to publish on.
    connected: IntGauge,
}

impl Metrics {
    /// Builds and registers every metric. Fails only on a programming error (a duplicate or
    /// invalid name), which the start-up turns into an error rather than a panic.
    pub fn new() -> Result<Self, common::metrics::prometheus::Error> {
        let registry = Registry::new();
        let notifications = IntCounterVec::new(
            Opts::new(
                "notify_notifications_total",
                "Alipay notifications by outcome and reason",
            ),
            &["outcome", "reason"],
        )?;
        let confirm_latency = Histogram::with_opts(
            HistogramOpts::new(
                "notify_publish_confirm_seconds",
                "Time from publishing an event to the broker's confirm",
            )
            .buckets(vec![
                0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )?;
        let reconnects = IntCounter::new(
            "notify_amqp_reconnects_total",
            "RabbitMQ connections re-established after one was lost",
        )?;
        let connect_failures = IntCounter::new(
            "notify_amqp_connect_failures_total",
            "Attempts to connect to RabbitMQ that failed",
        )?;
        let connected = IntGauge::new(
            "notify_amqp_connected",
            "1 while a confirm-mode channel to RabbitMQ is open",
        )?;
        registry.register(Box::new(notifications.clone()))?;
        registry.register(Box::new(confirm_latency.clone()))?;
        registry.register(Box::new(reconnects.clone()))?;
        registry.register(Box::new(connect_failures.clone()))?;
        registry.register(Box::new(connected.clone()))?;
        Ok(Self {
            registry,
            notifications,
            confirm_latency,
            reconnects,
            connect_failures,
            connected,
        })
    }

    pub fn notification(&self, outcome: &str, reason: &str) {
        self.notifications
            .with_label_values(&[outcome, reason])
            .inc();
    }

    pub fn confirmed_after(&self, elapsed: Duration) {
        self.confirm_latency.observe(elapsed.as_secs_f64());
    }

    pub fn reconnected(&self) {
        self.reconnects.inc();
    }

    pub fn connect_failed(&self) {
        self.connect_failures.inc();
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.set(i64::from(connected));
    }

    /// The text exposition for `/metrics`.
    pub fn render(&self) -> String {
        common::metrics::render(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let metrics = Metrics::new().unwrap();
        metrics.notification("published", "paid");
        metrics.notification("rejected", "signature_mismatch");
        metrics.confirmed_after(Duration::from_millis(3));
        metrics.reconnected();
        metrics.connect_failed();
        metrics.set_connected(true);
        let text = metrics.render();
        for expected in [
            "notify_notifications_total{outcome=\"published\",reason=\"paid\"} 1",
            "notify_notifications_total{outcome=\"rejected\",reason=\"signature_mismatch\"} 1",
            "notify_publish_confirm_seconds_bucket{le=\"0.005\"} 1",
            "notify_amqp_reconnects_total 1",
            "notify_amqp_connect_failures_total 1",
            "notify_amqp_connected 1",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
    }
}
