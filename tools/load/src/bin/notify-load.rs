//! Load for notify-receiver's notification endpoint: N keep-alive HTTP/1.1 connections,
//! pre-signed notification bodies, bounded in time and count, and a report of notifications/s
//! and latency percentiles.
//!
//! ```text
//! cargo run --release -p load --bin notify-load -- \
//!     --url http://127.0.0.1:8081/alipay/notify --connections 64 --duration 10s \
//!     --prefix bench. --amqp-url amqp://guest:guest@127.0.0.1:5672/%2f
//! ```
//!
//! With `--prefix P`, the whole RabbitMQ topology is declared under `P` before the run (start the
//! receiver with `AMQP_EXCHANGE=Ppayments`, so its events are routable to a queue) and deleted
//! after it. Bodies are signed with the alipay crate's TEST-ONLY "Alipay" key by default, so the
//! receiver must be configured with the matching public key (see its README).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alipay::form;
use alipay::keys::PrivateKey;
use alipay::sign::{self, SignType};
use clap::Parser;
use common::amqp::Topology;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use lapin::{Connection, ConnectionProperties};
use load::args::{RunArgs, Target, at_least_one, loopback_target, warmup_duration};
use load::http::HttpWorker;
use load::{AnyError, DEFAULT_AMQP_URL, driver};

/// notify-load: drives a notify-receiver with pre-signed notifications and reports throughput
/// and latency.
#[derive(Debug, Parser)]
#[command(name = "notify-load")]
struct Options {
    /// Target (loopback only).
    #[arg(
        long = "url",
        value_name = "URL",
        default_value = "http://127.0.0.1:8081/alipay/notify",
        value_parser = loopback_target
    )]
    target: Target,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    connections: usize,
    #[command(flatten)]
    run: RunArgs,
    /// Run before measuring, not counted (at most 30s).
    #[arg(long, default_value = "1s", value_parser = warmup_duration)]
    warmup: Duration,
    /// Stop after this many requests in all.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Distinct notifications (notify_ids) signed up front.
    #[arg(long, default_value_t = 2_000, value_parser = at_least_one)]
    distinct: usize,
    /// app_id in the notifications.
    #[arg(long, default_value = "2021000000000001")]
    app_id: String,
    /// Private key that signs them (by default the alipay crate's TEST-ONLY "Alipay" key).
    #[arg(long, default_value_os_t = test_only_alipay_key())]
    key: PathBuf,
    /// RSA2 or RSA.
    #[arg(long, default_value = "RSA2", value_parser = sign_type)]
    sign_type: SignType,
    /// Declare the topology under this prefix before, delete it after.
    #[arg(long)]
    prefix: Option<String>,
    /// RabbitMQ for --prefix.
    #[arg(long, default_value = DEFAULT_AMQP_URL)]
    amqp_url: String,
}

fn test_only_alipay_key() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/alipay/tests/vectors/keys/alipay_private_pkcs8.pem")
}

fn sign_type(text: &str) -> Result<SignType, String> {
    text.parse().map_err(|error| format!("{error}"))
}

fn main() -> Result<(), AnyError> {
    let options = Options::parse();
    options.run.runtime()?.block_on(run(options))
}

fn signed_bodies(options: &Options) -> Result<Vec<Bytes>, AnyError> {
    let key = PrivateKey::from_text(&std::fs::read_to_string(&options.key)?)?;
    let run = uuid::Uuid::now_v7().simple().to_string();
    (0..options.distinct)
        .map(|index| {
            let notify_id = format!("load-{run}-{index}");
            let out_trade_no = format!("L{}{index:08}", &run[..12]);
            let fields: Vec<(&str, &str)> = vec![
                ("gmt_create", "2024-05-16 17:06:39"),
                ("charset", "utf-8"),
                ("gmt_payment", "2024-05-16 17:06:45"),
                ("notify_time", "2024-05-16 17:06:46"),
                ("subject", "课程：Rust 入门"),
                ("buyer_id", "2088102177846875"),
                ("invoice_amount", "88.88"),
                ("version", "1.0"),
                ("notify_id", &notify_id),
                (
                    "fund_bill_list",
                    r#"[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]"#,
                ),
                ("notify_type", "trade_status_sync"),
                ("out_trade_no", &out_trade_no),
                ("total_amount", "88.88"),
                ("trade_status", "TRADE_SUCCESS"),
                ("trade_no", "2024051622001400000000000001"),
                ("auth_app_id", &options.app_id),
                ("receipt_amount", "88.88"),
                ("point_amount", "0.00"),
                ("app_id", &options.app_id),
                ("buyer_pay_amount", "88.88"),
                ("seller_id", "2088102177846880"),
            ];
            let content = sign::notification_content(fields.iter().copied());
            let signature = sign::sign(&key, options.sign_type, &content)?;
            let mut all = fields;
            all.push(("sign_type", options.sign_type.as_str()));
            all.push(("sign", &signature));
            Ok(Bytes::from(form::encode(all)))
        })
        .collect()
}

async fn declare(options: &Options) -> Result<Option<(Connection, Topology)>, AnyError> {
    let Some(prefix) = &options.prefix else {
        return Ok(None);
    };
    let connection =
        Connection::connect(&options.amqp_url, ConnectionProperties::default()).await?;
    let topology = Topology::with_prefix(prefix);
    topology
        .declare_all(&connection.create_channel().await?)
        .await?;
    println!(
        "declared the topology under {prefix:?} (receiver: AMQP_EXCHANGE={})",
        topology.exchange
    );
    Ok(Some((connection, topology)))
}

async fn run(options: Options) -> Result<(), AnyError> {
    let bodies = Arc::new(signed_bodies(&options)?);
    let declared = declare(&options).await?;

    let template = Request::post(options.target.path())
        .header(HOST, options.target.authority())
        .header(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Full::new(Bytes::new()))?;
    let window = options.run.window(options.warmup);
    let tally = driver::run(
        options.connections,
        window,
        options.max_requests,
        |connection| {
            // Each connection starts at its own place in the bodies, then goes round them.
            let mut index = connection * bodies.len() / options.connections;
            let (bodies, template) = (bodies.clone(), template.clone());
            let make_request = move || {
                let mut request = template.clone();
                *request.body_mut() = Full::new(bodies[index % bodies.len()].clone());
                index += 1;
                request
            };
            HttpWorker::connect(options.target.address, make_request, |status, body| {
                status == StatusCode::OK && body.as_ref() == b"success"
            })
        },
    )
    .await;

    let seconds = window.measured().as_secs_f64().max(f64::EPSILON);
    let succeeded = tally.latencies.count();
    println!(
        "connections={} duration={:.1}s warmup={:?} distinct_bodies={} threads={}",
        options.connections,
        seconds,
        options.warmup,
        bodies.len(),
        options.run.threads
    );
    println!(
        "success: {succeeded} ({:.0} notifications/s)",
        succeeded as f64 / seconds
    );
    println!("{}", tally.latencies.line());
    println!(
        "non-success answers by status: {:?}; broken connections: {}; connect errors: {}",
        tally.failures_by_code(),
        tally.broken,
        tally.connect_errors
    );

    if let Some((connection, topology)) = declared {
        let channel = connection.create_channel().await?;
        let queue = channel
            .queue_declare(
                topology.queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await?;
        println!("messages in {}: {}", topology.queue, queue.message_count());
        topology.delete_all(&channel).await?;
        connection.close(200, "load done".into()).await?;
        println!("deleted the topology under {:?}", topology.exchange);
    }
    Ok(())
}
