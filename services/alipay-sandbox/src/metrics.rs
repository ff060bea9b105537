//! Prometheus counters for `/metrics`, in a registry of their own so several sandboxes can run
//! in one test process.

use common::metrics::prometheus::{IntCounterVec, Opts, Registry};

#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    gateway_requests: IntCounterVec,
    notification_attempts: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, common::metrics::prometheus::Error> {
        let registry = Registry::new();
        let gateway_requests = IntCounterVec::new(
            Opts::new(
                "sandbox_gateway_requests_total",
                "Requests to /gateway.do by method and answer",
            ),
            &["method", "answer"],
        )?;
        let notification_attempts = IntCounterVec::new(
            Opts::new(
                "sandbox_notification_attempts_total",
                "Notification attempts by whether the merchant acknowledged",
            ),
            &["acknowledged"],
        )?;
        registry.register(Box::new(gateway_requests.clone()))?;
        registry.register(Box::new(notification_attempts.clone()))?;
        Ok(Metrics {
            registry,
            gateway_requests,
            notification_attempts,
        })
    }

    /// `method` is one of ours or `unknown`, never the caller's text, so labels stay bounded.
    pub fn gateway_request(&self, method: &str, answer: &str) {
        self.gateway_requests
            .with_label_values(&[method, answer])
            .inc();
    }

    pub fn notification_attempt(&self, acknowledged: bool) {
        let label = if acknowledged { "true" } else { "false" };
        self.notification_attempts.with_label_values(&[label]).inc();
    }

    pub fn render(&self) -> String {
        common::metrics::render(&self.registry)
    }
}
