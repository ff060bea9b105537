//! The gateway's Prometheus metrics, in a registry of its own (several gateways can run in one
//! test process without colliding on names).

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Buckets from 0.5 ms (a pay link) to 10 s (a slow Alipay with retries).
const BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric the gateway exports. Cheap to clone (the collectors are shared handles).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// RPCs by `rpc` name and gRPC `code` (OK, INVALID_ARGUMENT, …).
    rpcs: IntCounterVec,
    rpc_latency: HistogramVec,
    /// Signatures made with the merchant key, by Alipay `method`: one per pay link and one per
    /// attempt of a server API call.
    signatures: IntCounterVec,
    /// Alipay server API calls (each attempt) by `method` and `outcome`.
    alipay_calls: IntCounterVec,
    alipay_latency: HistogramVec,
}

impl Metrics {
    /// Builds and registers every metric; fails only on a programming error (a bad name).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let rpcs = IntCounterVec::new(
            Opts::new("gateway_rpcs_total", "gRPC calls by RPC and status code"),
            &["rpc", "code"],
        )?;
        let rpc_latency = HistogramVec::new(
            HistogramOpts::new("gateway_rpc_duration_seconds", "gRPC call latency by RPC")
                .buckets(BUCKETS.to_vec()),
            &["rpc"],
        )?;
        let signatures = IntCounterVec::new(
            Opts::new(
                "gateway_signatures_total",
                "Signatures made with the merchant private key, by Alipay method",
            ),
            &["method"],
        )?;
        let alipay_calls = IntCounterVec::new(
            Opts::new(
                "gateway_alipay_calls_total",
                "Alipay server API calls (each attempt) by method and outcome \
                 (ok, refused, unknown_outcome, unavailable, untrusted, invalid)",
            ),
            &["method", "outcome"],
        )?;
        let alipay_latency = HistogramVec::new(
            HistogramOpts::new(
                "gateway_alipay_call_duration_seconds",
                "Alipay server API call latency (each attempt) by method and outcome",
            )
            .buckets(BUCKETS.to_vec()),
            &["method", "outcome"],
        )?;
        registry.register(Box::new(rpcs.clone()))?;
        registry.register(Box::new(rpc_latency.clone()))?;
        registry.register(Box::new(signatures.clone()))?;
        registry.register(Box::new(alipay_calls.clone()))?;
        registry.register(Box::new(alipay_latency.clone()))?;
        Ok(Metrics {
            registry,
            rpcs,
            rpc_latency,
            signatures,
            alipay_calls,
            alipay_latency,
        })
    }

    pub fn rpc(&self, rpc: &str, code: tonic::Code, elapsed: Duration) {
        self.rpcs.with_label_values(&[rpc, code_name(code)]).inc();
        self.rpc_latency
            .with_label_values(&[rpc])
            .observe(elapsed.as_secs_f64());
    }

    pub fn signed(&self, method: &str) {
        self.signatures.with_label_values(&[method]).inc();
    }

    pub fn alipay_call(&self, method: &str, outcome: &str, elapsed: Duration) {
        self.alipay_calls
            .with_label_values(&[method, outcome])
            .inc();
        self.alipay_latency
            .with_label_values(&[method, outcome])
            .observe(elapsed.as_secs_f64());
    }

    /// The text exposition for `/metrics`.
    pub fn render(&self) -> String {
        common::metrics::render(&self.registry)
    }
}

/// gRPC's canonical upper-case code names, as grpcurl and dashboards print them.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let metrics = Metrics::new().unwrap();
        metrics.rpc("CreatePagePay", tonic::Code::Ok, Duration::from_micros(700));
        metrics.signed("alipay.trade.page.pay");
        metrics.alipay_call(
            "alipay.trade.query",
            "unavailable",
            Duration::from_millis(3),
        );
        let text = metrics.render();
        for expected in [
            "gateway_rpcs_total{code=\"OK\",rpc=\"CreatePagePay\"} 1",
            "gateway_rpc_duration_seconds_bucket{rpc=\"CreatePagePay\",le=\"0.001\"} 1",
            "gateway_signatures_total{method=\"alipay.trade.page.pay\"} 1",
            "gateway_alipay_calls_total{method=\"alipay.trade.query\",outcome=\"unavailable\"} 1",
            "gateway_alipay_call_duration_seconds_count{method=\"alipay.trade.query\",outcome=\"unavailable\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
    }
}
