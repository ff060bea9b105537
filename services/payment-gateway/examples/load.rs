//! Load generator for `CreatePagePay`: N concurrent callers over a few HTTP/2 connections, each
//! calling as fast as answers come back, for a fixed time; reports RPC/s and latency percentiles.
//!
//! ```text
//! cargo run --release -p payment-gateway --example load -- \
//!     --url http://127.0.0.1:50051 --callers 32 --duration 10s
//! ```
//!
//! Every call is a distinct order (its own `out_trade_no`) with a Chinese subject, so the gateway
//! does the real work: validate, build `biz_content`, RSA2-sign, encode the URL and the form.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use payment_proto::GatewayClient;
use payment_proto::v1::CreatePagePayRequest;
use tonic::transport::Endpoint;

type AnyError = Box<dyn Error + Send + Sync>;

/// Drives a payment gateway with CreatePagePay calls and reports throughput and latency.
#[derive(Debug, Parser)]
struct Options {
    /// The gateway's gRPC URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    url: String,
    /// Concurrent callers, each with one call in flight at a time.
    #[arg(long, default_value_t = 32)]
    callers: usize,
    /// HTTP/2 connections the callers share (round robin).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured run time (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = common::config::parse_duration)]
    duration: Duration,
    /// Run before measuring, not counted.
    #[arg(long, default_value = "2s", value_parser = common::config::parse_duration)]
    warmup: Duration,
    /// Client runtime threads (keep low: the client shares the machine with the gateway).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Per-call deadline.
    #[arg(long, default_value = "5s", value_parser = common::config::parse_duration)]
    timeout: Duration,
}

fn main() -> Result<(), AnyError> {
    let options = Options::parse();
    if options.callers == 0 || options.connections == 0 || options.threads == 0 {
        return Err("--callers, --connections and --threads must be at least 1".into());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()?
        .block_on(run(options))
}

/// One caller's measured calls.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn run(options: Options) -> Result<(), AnyError> {
    let mut clients = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let channel = Endpoint::from_shared(options.url.clone())?
            .timeout(options.timeout)
            .tcp_nodelay(true)
            .connect()
            .await?;
        clients.push(GatewayClient::from_channel(channel));
    }

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sequence = Arc::new(AtomicU64::new(0));
    let run_id = std::process::id();
    let mut callers = Vec::with_capacity(options.callers);
    for caller in 0..options.callers {
        let client = clients[caller % clients.len()].clone();
        let (measuring, stop, sequence) = (measuring.clone(), stop.clone(), sequence.clone());
        callers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let request = CreatePagePayRequest {
                    out_trade_no: format!("LOAD_{run_id}_{n}"),
                    total_amount: "88.88".into(),
                    subject: "Rust 入门到进阶 第 1 课".into(),
                    body: Some("load test".into()),
                    ..CreatePagePayRequest::default()
                };
                let started = Instant::now();
                let result = client.create_page_pay("load", request).await;
                let elapsed = started.elapsed();
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                match result {
                    Ok(_) => tally
                        .latencies_us
                        .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)),
                    Err(status) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| status.to_string());
                    }
                }
            }
            tally
        }));
    }

    tokio::time::sleep(options.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(options.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let measured = started.elapsed();
    stop.store(true, Ordering::Relaxed);

    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for caller in callers {
        let tally = caller.await?;
        latencies.extend(tally.latencies_us);
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[index]) / 1000.0
    };
    let rate = latencies.len() as f64 / measured.as_secs_f64();
    println!(
        "CreatePagePay: {} callers over {} connections, {:.1}s measured ({}s warm-up)",
        options.callers,
        options.connections,
        measured.as_secs_f64(),
        options.warmup.as_secs_f64()
    );
    println!("  ok calls      {}", latencies.len());
    println!("  errors        {errors}");
    println!("  rpc_per_sec   {rate:.0}");
    println!("  p50_ms        {:.2}", percentile(0.50));
    println!("  p90_ms        {:.2}", percentile(0.90));
    println!("  p99_ms        {:.2}", percentile(0.99));
    println!(
        "  max_ms        {:.2}",
        latencies.last().map_or(0.0, |&us| f64::from(us) / 1000.0)
    );
    if let Some(error) = first_error {
        println!("  first error   {error}");
    }
    Ok(())
}
