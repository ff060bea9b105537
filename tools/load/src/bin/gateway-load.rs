//! Load for payment-gateway's `CreatePagePay`: N concurrent callers over a few HTTP/2
//! connections, each calling as fast as answers come back, for a fixed time; reports RPC/s and
//! latency percentiles.
//!
//! ```text
//! cargo run --release -p load --bin gateway-load -- \
//!     --url http://127.0.0.1:50051 --callers 32 --duration 10s
//! ```
//!
//! Every call is a distinct order (its own `out_trade_no`) with a Chinese subject, so the gateway
//! does the real work: validate, build `biz_content`, RSA2-sign, encode the URL and the form.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use load::args::{RunArgs, at_least_one, loopback_target, warmup_duration};
use load::driver::{self, Answer, Worker};
use load::{AnyError, args::Target};
use payment_proto::GatewayClient;
use payment_proto::v1::CreatePagePayRequest;
use tonic::transport::Endpoint;

/// gateway-load: drives a payment gateway with CreatePagePay calls and reports throughput and
/// latency.
#[derive(Debug, Parser)]
#[command(name = "gateway-load")]
struct Options {
    /// The gateway's gRPC URL (loopback only).
    #[arg(long = "url", value_name = "URL", default_value = "http://127.0.0.1:50051", value_parser = loopback_target)]
    target: Target,
    /// Concurrent callers, each with one call in flight at a time.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    callers: usize,
    /// HTTP/2 connections the callers share (round robin).
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    connections: usize,
    #[command(flatten)]
    run: RunArgs,
    /// Run before measuring, not counted (at most 30s).
    #[arg(long, default_value = "2s", value_parser = warmup_duration)]
    warmup: Duration,
    /// Per-call deadline.
    #[arg(long, default_value = "5s", value_parser = common::config::parse_duration)]
    timeout: Duration,
}

fn main() -> Result<(), AnyError> {
    let options = Options::parse();
    options.run.runtime()?.block_on(run(options))
}

/// One caller: its share of a connection, and the run's order counter.
#[derive(Debug)]
struct Caller {
    client: GatewayClient,
    sequence: Arc<AtomicU64>,
    run_id: u32,
}

impl Worker for Caller {
    async fn call(&mut self) -> Answer {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let request = CreatePagePayRequest {
            out_trade_no: format!("LOAD_{}_{n}", self.run_id),
            total_amount: "88.88".into(),
            subject: "Rust 入门到进阶 第 1 课".into(),
            body: Some("load test".into()),
            ..CreatePagePayRequest::default()
        };
        match self.client.create_page_pay("load", request).await {
            Ok(_) => Answer::Success,
            Err(status) => Answer::Failure {
                code: u16::try_from(i32::from(status.code())).unwrap_or(u16::MAX),
                detail: status.to_string(),
            },
        }
    }
}

async fn run(options: Options) -> Result<(), AnyError> {
    let mut clients = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let channel = Endpoint::from_shared(options.target.uri.to_string())?
            .timeout(options.timeout)
            .tcp_nodelay(true)
            .connect()
            .await?;
        clients.push(GatewayClient::from_channel(channel));
    }

    let sequence = Arc::new(AtomicU64::new(0));
    let window = options.run.window(options.warmup);
    let tally = driver::run(options.callers, window, u64::MAX, |caller| {
        let caller = Caller {
            client: clients[caller % clients.len()].clone(),
            sequence: sequence.clone(),
            run_id: std::process::id(),
        };
        async move { Ok(caller) }
    })
    .await;

    let measured = window.measured().as_secs_f64().max(f64::EPSILON);
    let latencies = &tally.latencies;
    println!(
        "CreatePagePay: {} callers over {} connections, {measured:.1}s measured ({}s warm-up)",
        options.callers,
        options.connections,
        options.warmup.as_secs_f64()
    );
    println!("  ok calls      {}", latencies.count());
    println!("  errors        {}", tally.failure_count());
    println!("  rpc_per_sec   {:.0}", latencies.count() as f64 / measured);
    println!("  p50_ms        {:.2}", latencies.ms(0.50));
    println!("  p90_ms        {:.2}", latencies.ms(0.90));
    println!("  p99_ms        {:.2}", latencies.ms(0.99));
    println!("  max_ms        {:.2}", latencies.ms(1.0));
    if let Some(error) = &tally.first_failure {
        println!("  first error   {error}");
    }
    Ok(())
}
