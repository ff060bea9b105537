//! The service's Prometheus metrics, in a registry of its own (several applications can run in
//! one test process without colliding on names).

use std::time::Duration;

use common::metrics::prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every metric the order service exports. Cheap to clone (the collectors are shared handles).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Orders created, by outcome: `pay_link`, `paid_at_once` (zero total), `gateway_unavailable`.
    orders_created: IntCounterVec,
    /// Orders that became paid, by `source`: event, query (return page), sweeper, zero_total.
    orders_paid: IntCounterVec,
    /// Payments applied to an order that had timed out or was cancelled (need a refund).
    late_payments: IntCounter,
    /// From notify-receiver accepting the notification to the order being paid here.
    event_to_paid: Histogram,
    /// Consumed events by `kind` and `outcome` (applied, duplicate, dead_lettered, requeued).
    events: IntCounterVec,
    /// Payment events applied per transaction: how much a burst is amortised.
    batch_size: Histogram,
    /// How long a batch's transaction took, from taking a connection to the commit: what a
    /// delivery waits behind while the one batch ahead of it is at the database.
    batch_seconds: Histogram,
    /// Orders opened by one statement: how much a burst of pay links is amortised.
    open_batch_size: Histogram,
    /// Pay links by when they were signed: `ahead` (while the order was opened), `again` (the
    /// subject signed ahead was not the order's), `after` (its subject could not be told).
    pay_links_signed: IntCounterVec,
    /// Events dead-lettered, by `reason`.
    dead_lettered: IntCounterVec,
    /// Failed gateway calls, by `rpc` and gRPC `code`.
    gateway_errors: IntCounterVec,
    /// Orders closed by the expiry sweeper.
    orders_expired: IntCounter,
    /// Refunds by outcome: succeeded, failed, pending.
    refunds: IntCounterVec,
    /// 1 while the consumer holds an open channel on the work queue.
    consumer_connected: IntGauge,
    held_deliveries: IntGauge,
    dead_letters: IntGaugeVec,
    sync_queries: IntCounterVec,
    /// Reconciliation runs by outcome (ok, failed).
    reconciliation_runs: IntCounterVec,
    /// Differences found by reconciliation, by kind (each run counts what it found).
    reconciliation_differences: IntCounterVec,
    /// Differences healed by a signed answer, by kind.
    reconciliation_healed: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, common::metrics::prometheus::Error> {
        let registry = Registry::new();
        let orders_created = IntCounterVec::new(
            Opts::new("order_orders_created_total", "Orders created, by outcome"),
            &["outcome"],
        )?;
        let orders_paid = IntCounterVec::new(
            Opts::new(
                "order_orders_paid_total",
                "Orders that became paid, by source",
            ),
            &["source"],
        )?;
        let late_payments = IntCounter::new(
            "order_late_payments_total",
            "Payments for orders that had timed out or were cancelled (flagged for refund)",
        )?;
        let event_to_paid = Histogram::with_opts(
            HistogramOpts::new(
                "order_event_to_paid_seconds",
                "From the notification's acceptance by notify-receiver to the order being paid",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0,
            ]),
        )?;
        let events = IntCounterVec::new(
            Opts::new(
                "order_events_total",
                "Payment events consumed, by kind and outcome",
            ),
            &["kind", "outcome"],
        )?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "order_consumer_batch_size",
                "Payment events applied in one transaction by the consumer",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )?;
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "order_consumer_batch_seconds",
                "Time the consumer spent applying one batch, from taking a connection to the commit",
            )
            .buckets(vec![
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        let open_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "order_open_batch_size",
                "New orders opened together by one statement",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )?;
        let pay_links_signed = IntCounterVec::new(
            Opts::new(
                "order_pay_links_signed_total",
                "Pay links of new orders, by when they were signed: ahead, again or after",
            ),
            &["when"],
        )?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "order_events_dead_lettered_total",
                "Events dead-lettered, by reason",
            ),
            &["reason"],
        )?;
        let gateway_errors = IntCounterVec::new(
            Opts::new(
                "order_gateway_errors_total",
                "Failed payment-gateway calls, by rpc and gRPC code",
            ),
            &["rpc", "code"],
        )?;
        let orders_expired = IntCounter::new(
            "order_orders_expired_total",
            "Unpaid orders closed at expiry",
        )?;
        let refunds = IntCounterVec::new(
            Opts::new("order_refunds_total", "Refund attempts, by outcome"),
            &["outcome"],
        )?;
        let consumer_connected = IntGauge::new(
            "order_consumer_connected",
            "1 while the payment-event consumer is attached to its queue",
        )?;
        let held_deliveries = IntGauge::new(
            "order_consumer_held_events",
            "events held (not handed back) while the database cannot be reached",
        )?;
        let dead_letters = IntGaugeVec::new(
            Opts::new(
                "order_dead_letters",
                "messages in the dead-letter queue, by reason (broker:delivery_limit when \
                 RabbitMQ dead-lettered it), as last read",
            ),
            &["reason"],
        )?;
        let sync_queries = IntCounterVec::new(
            Opts::new(
                "order_sync_queries_total",
                "QueryTrade asked about unpaid orders on the sync schedule, by what it found",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(held_deliveries.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(sync_queries.clone()))?;
        registry.register(Box::new(orders_created.clone()))?;
        registry.register(Box::new(orders_paid.clone()))?;
        registry.register(Box::new(late_payments.clone()))?;
        registry.register(Box::new(event_to_paid.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(batch_seconds.clone()))?;
        registry.register(Box::new(open_batch_size.clone()))?;
        registry.register(Box::new(pay_links_signed.clone()))?;
        registry.register(Box::new(dead_lettered.clone()))?;
        registry.register(Box::new(gateway_errors.clone()))?;
        registry.register(Box::new(orders_expired.clone()))?;
        registry.register(Box::new(refunds.clone()))?;
        registry.register(Box::new(consumer_connected.clone()))?;
        let reconciliation_runs = IntCounterVec::new(
            Opts::new(
                "order_reconciliation_runs_total",
                "Reconciliation runs against Alipay's bill, by outcome",
            ),
            &["outcome"],
        )?;
        let reconciliation_differences = IntCounterVec::new(
            Opts::new(
                "order_reconciliation_differences_total",
                "Differences between Alipay's bill and the orders, by kind",
            ),
            &["kind"],
        )?;
        let reconciliation_healed = IntCounterVec::new(
            Opts::new(
                "order_reconciliation_healed_total",
                "Reconciliation differences healed by a signed query answer, by kind",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(reconciliation_runs.clone()))?;
        registry.register(Box::new(reconciliation_differences.clone()))?;
        registry.register(Box::new(reconciliation_healed.clone()))?;
        Ok(Self {
            registry,
            orders_created,
            orders_paid,
            late_payments,
            event_to_paid,
            events,
            batch_size,
            batch_seconds,
            open_batch_size,
            pay_links_signed,
            dead_lettered,
            gateway_errors,
            orders_expired,
            refunds,
            consumer_connected,
            held_deliveries,
            dead_letters,
            sync_queries,
            reconciliation_runs,
            reconciliation_differences,
            reconciliation_healed,
        })
    }

    pub fn order_created(&self, outcome: &str) {
        self.orders_created.with_label_values(&[outcome]).inc();
    }

    pub fn order_paid(&self, source: &str) {
        self.orders_paid.with_label_values(&[source]).inc();
    }

    pub fn late_payment(&self) {
        self.late_payments.inc();
    }

    pub fn event_to_paid(&self, elapsed: Duration) {
        self.event_to_paid.observe(elapsed.as_secs_f64());
    }

    pub fn event(&self, kind: &str, outcome: &str) {
        self.events.with_label_values(&[kind, outcome]).inc();
    }

    pub fn batch_applied(&self, events: usize, took: Duration) {
        self.batch_size.observe(events as f64);
        self.batch_seconds.observe(took.as_secs_f64());
    }

    pub fn pay_link_signed(&self, when: &str) {
        self.pay_links_signed.with_label_values(&[when]).inc();
    }

    pub fn orders_opened_together(&self, orders: usize) {
        self.open_batch_size.observe(orders as f64);
    }

    pub fn dead_lettered(&self, reason: &str) {
        self.dead_lettered.with_label_values(&[reason]).inc();
    }

    pub fn gateway_error(&self, rpc: &str, code: tonic::Code) {
        self.gateway_errors
            .with_label_values(&[rpc, &format!("{code:?}")])
            .inc();
    }

    pub fn order_expired(&self) {
        self.orders_expired.inc();
    }

    pub fn refund(&self, outcome: &str) {
        self.refunds.with_label_values(&[outcome]).inc();
    }

    /// One more (`1`) or one fewer (`-1`) event held through a database outage.
    pub fn held_delivery(&self, change: i64) {
        self.held_deliveries.add(change);
    }

    /// The dead-letter queue as last read: how many letters for each reason.
    pub fn set_dead_letters<'a, I: IntoIterator<Item = (&'a str, i64)>>(&self, by_reason: I) {
        self.dead_letters.reset();
        for (reason, count) in by_reason {
            self.dead_letters.with_label_values(&[reason]).set(count);
        }
    }

    pub fn sync_query(&self, outcome: &str) {
        self.sync_queries.with_label_values(&[outcome]).inc();
    }

    pub fn set_consumer_connected(&self, connected: bool) {
        self.consumer_connected.set(i64::from(connected));
    }

    pub fn reconciliation_run(&self, outcome: &str) {
        self.reconciliation_runs.with_label_values(&[outcome]).inc();
    }

    pub fn reconciliation_difference(&self, kind: &str) {
        self.reconciliation_differences
            .with_label_values(&[kind])
            .inc();
    }

    pub fn reconciliation_healed(&self, kind: &str) {
        self.reconciliation_healed.with_label_values(&[kind]).inc();
    }

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
        metrics.order_created("pay_link");
        metrics.order_paid("event");
        metrics.late_payment();
        metrics.event_to_paid(Duration::from_millis(3));
        metrics.event("paid", "applied");
        metrics.dead_lettered("unknown_order");
        metrics.gateway_error("create_page_pay", tonic::Code::Unavailable);
        metrics.order_expired();
        metrics.refund("succeeded");
        metrics.set_consumer_connected(true);
        let text = metrics.render();
        for expected in [
            "order_orders_created_total{outcome=\"pay_link\"} 1",
            "order_orders_paid_total{source=\"event\"} 1",
            "order_late_payments_total 1",
            "order_event_to_paid_seconds_bucket{le=\"0.005\"} 1",
            "order_events_total{kind=\"paid\",outcome=\"applied\"} 1",
            "order_events_dead_lettered_total{reason=\"unknown_order\"} 1",
            "order_gateway_errors_total{code=\"Unavailable\",rpc=\"create_page_pay\"} 1",
            "order_orders_expired_total 1",
            "order_refunds_total{outcome=\"succeeded\"} 1",
            "order_consumer_connected 1",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
    }
}
