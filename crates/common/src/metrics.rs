//! Prometheus text exposition for each service's `/metrics` route.
//!
//! Each service builds its own `prometheus::Registry` (not the global default one), so tests that
//! start several services in one process do not collide on metric names; this module only turns
//! a registry into the response body.

use prometheus::{Registry, TextEncoder};

pub use prometheus;

/// `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The registry's metrics in the Prometheus text format.
///
/// A family that fails to encode (only possible with inconsistent hand-built metrics) is logged
/// and skipped, so one bad metric does not blank the whole scrape.
pub fn render(registry: &Registry) -> String {
    let encoder = TextEncoder::new();
    let mut out = String::new();
    for family in registry.gather() {
        let mut one = String::new();
        match encoder.encode_utf8(std::slice::from_ref(&family), &mut one) {
            Ok(()) => out.push_str(&one),
            Err(error) => {
                tracing::warn!(%error, metric = family.name(), "metric family did not encode");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{IntCounterVec, Opts};

    #[test]
    fn renders_registered_metrics() {
        let registry = Registry::new();
        let published = IntCounterVec::new(
            Opts::new(
                "events_published_total",
                "Payment events confirmed by the broker",
            ),
            &["kind"],
        )
        .unwrap();
        registry.register(Box::new(published.clone())).unwrap();
        published.with_label_values(&["paid"]).inc_by(3);

        let text = render(&registry);
        assert!(
            text.contains("# HELP events_published_total Payment events confirmed by the broker"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE events_published_total counter"),
            "{text}"
        );
        assert!(
            text.contains("events_published_total{kind=\"paid\"} 3"),
            "{text}"
        );
        assert!(CONTENT_TYPE.starts_with("text/plain"));
    }

    #[test]
    fn an_empty_registry_renders_empty() {
        assert_eq!(render(&Registry::new()), "");
    }
}
