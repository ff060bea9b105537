//! Load generator for the notification endpoint: N keep-alive HTTP/1.1 connections (one task
//! each, like wrk), pre-signed notification bodies, bounded in time and count, and a report of
//! notifications/s and latency percentiles.
//!
//! Only loopback targets are accepted: this is for measuring a receiver on the same machine.
//!
//! ```text
//! cargo run --release -p notify-receiver --example load -- \
//!     --url http://127.0.0.1:8081/alipay/notify --connections 64 --duration 10s \
//!     --prefix bench. --amqp-url amqp://guest:guest@127.0.0.1:5672/%2f
//! ```
//!
//! With `--prefix P`, the whole RabbitMQ topology is declared under `P` before the run (start the
//! receiver with `AMQP_EXCHANGE=Ppayments`, so its events are routable to a queue) and deleted
//! after it. Bodies are signed with the alipay crate's TEST-ONLY "Alipay" key by default, so the
//! receiver must be configured with the matching public key (see the README).

use std::error::Error;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alipay::form;
use alipay::keys::PrivateKey;
use alipay::sign::{self, SignType};
use common::amqp::Topology;
use common::config::parse_duration;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use lapin::{Connection, ConnectionProperties};
use tokio::net::TcpStream;

type AnyError = Box<dyn Error + Send + Sync>;

const HELP: &str = "\
load: drives a notify-receiver with pre-signed notifications and reports throughput and latency.

  --url URL            target (loopback only)        [default: http://127.0.0.1:8081/alipay/notify]
  --connections N      concurrent keep-alive connections                     [default: 64]
  --duration D         measured run time, at most 120s                       [default: 10s]
  --warmup D           run before measuring, not counted                     [default: 1s]
  --max-requests N     stop after this many requests in all                  [default: 2000000]
  --threads N          client runtime threads                                [default: 1]
  --distinct N         distinct notifications (notify_ids) signed up front   [default: 2000]
  --app-id ID          app_id in the notifications         [default: 2021000000000001]
  --key PATH           private key that signs them  [default: the alipay crate's TEST-ONLY key]
  --sign-type T        RSA2 or RSA                                           [default: RSA2]
  --prefix P           declare the topology under P before, delete it after   [default: none]
  --amqp-url URL       RabbitMQ for --prefix        [default: amqp://guest:guest@127.0.0.1:5672/%2f]
";

#[derive(Debug)]
struct Options {
    url: Uri,
    address: SocketAddr,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    max_requests: u64,
    threads: usize,
    distinct: usize,
    app_id: String,
    key: PathBuf,
    sign_type: SignType,
    prefix: Option<String>,
    amqp_url: String,
}

fn parse_options() -> Result<Options, AnyError> {
    let mut options = Options {
        url: Uri::from_static("http://127.0.0.1:8081/alipay/notify"),
        address: SocketAddr::from(([127, 0, 0, 1], 8081)),
        connections: 64,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        max_requests: 2_000_000,
        threads: 1,
        distinct: 2_000,
        app_id: "2021000000000001".into(),
        key: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/alipay/tests/vectors/keys/alipay_private_pkcs8.pem"),
        sign_type: SignType::Rsa2,
        prefix: None,
        amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        if flag == "--help" || flag == "-h" {
            print!("{HELP}");
            std::process::exit(0);
        }
        let value = arguments
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => options.url = value.parse()?,
            "--connections" => options.connections = value.parse()?,
            "--duration" => options.duration = parse_duration(&value)?,
            "--warmup" => options.warmup = parse_duration(&value)?,
            "--max-requests" => options.max_requests = value.parse()?,
            "--threads" => options.threads = value.parse()?,
            "--distinct" => options.distinct = value.parse()?,
            "--app-id" => options.app_id = value,
            "--key" => options.key = PathBuf::from(value),
            "--sign-type" => options.sign_type = value.parse()?,
            "--prefix" => options.prefix = Some(value),
            "--amqp-url" => options.amqp_url = value,
            other => return Err(format!("unknown option {other}; see --help").into()),
        }
    }
    if options.connections == 0 || options.distinct == 0 || options.threads == 0 {
        return Err("--connections, --distinct and --threads must be at least 1".into());
    }
    if options.duration > Duration::from_secs(120) || options.warmup > Duration::from_secs(30) {
        return Err("--duration is at most 120s and --warmup at most 30s".into());
    }
    let host = options.url.host().ok_or("--url needs a host")?;
    let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        other => other
            .parse()
            .map_err(|_| format!("--url host {host} is not an IP address"))?,
    };
    if !ip.is_loopback() {
        return Err(format!("--url must point at this machine (loopback), not {ip}").into());
    }
    options.address = SocketAddr::new(ip, options.url.port_u16().unwrap_or(80));
    Ok(options)
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

/// What one connection saw.
#[derive(Debug, Default)]
struct Tally {
    /// Microseconds, measured requests answered `success` only.
    latencies: Vec<u32>,
    failures_by_status: Vec<(u16, u64)>,
    errors: u64,
}

impl Tally {
    fn failed(&mut self, status: u16) {
        match self
            .failures_by_status
            .iter_mut()
            .find(|(s, _)| *s == status)
        {
            Some((_, count)) => *count += 1,
            None => self.failures_by_status.push((status, 1)),
        }
    }
}

async fn drive(
    options: Arc<Options>,
    bodies: Arc<Vec<Bytes>>,
    start: usize,
    issued: Arc<AtomicU64>,
    measure_from: Instant,
    stop_at: Instant,
) -> Result<Tally, AnyError> {
    let stream = TcpStream::connect(options.address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let host = options
        .url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let path = options
        .url
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let mut tally = Tally::default();
    let mut index = start;
    loop {
        let now = Instant::now();
        if now >= stop_at || issued.fetch_add(1, Ordering::Relaxed) >= options.max_requests {
            return Ok(tally);
        }
        let body = bodies[index % bodies.len()].clone();
        index += 1;
        let request = Request::post(path.as_str())
            .header(HOST, host.as_str())
            .header(
                CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Full::new(body))?;
        if sender.ready().await.is_err() {
            tally.errors += 1;
            return Ok(tally);
        }
        let sent = Instant::now();
        let outcome = async {
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, AnyError>((status, body))
        }
        .await;
        let elapsed = sent.elapsed();
        if sent < measure_from {
            continue;
        }
        match outcome {
            Ok((200, body)) if body.as_ref() == b"success" => {
                tally
                    .latencies
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
            }
            Ok((status, _)) => tally.failed(status),
            Err(_) => {
                tally.errors += 1;
                return Ok(tally);
            }
        }
    }
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * fraction).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
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
    let options = Arc::new(options);
    let bodies = Arc::new(signed_bodies(&options)?);
    let declared = declare(&options).await?;

    let issued = Arc::new(AtomicU64::new(0));
    let begin = Instant::now();
    let measure_from = begin + options.warmup;
    let stop_at = measure_from + options.duration;
    let tasks: Vec<_> = (0..options.connections)
        .map(|n| {
            let start = n * bodies.len() / options.connections;
            tokio::spawn(drive(
                options.clone(),
                bodies.clone(),
                start,
                issued.clone(),
                measure_from,
                stop_at,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures: Vec<(u16, u64)> = Vec::new();
    let (mut errors, mut connect_errors) = (0, 0);
    for task in tasks {
        match task.await? {
            Ok(tally) => {
                latencies.extend(tally.latencies);
                errors += tally.errors;
                for (status, count) in tally.failures_by_status {
                    match failures.iter_mut().find(|(s, _)| *s == status) {
                        Some((_, total)) => *total += count,
                        None => failures.push((status, count)),
                    }
                }
            }
            Err(error) => {
                connect_errors += 1;
                eprintln!("a connection failed: {error}");
            }
        }
    }
    let measured = Instant::now()
        .min(stop_at)
        .saturating_duration_since(measure_from);
    latencies.sort_unstable();

    let seconds = measured.as_secs_f64().max(f64::EPSILON);
    println!(
        "connections={} duration={:.1}s warmup={:?} distinct_bodies={} threads={}",
        options.connections,
        seconds,
        options.warmup,
        bodies.len(),
        options.threads
    );
    println!(
        "success: {} ({:.0} notifications/s)",
        latencies.len(),
        latencies.len() as f64 / seconds
    );
    println!(
        "latency ms: p50={:.2} p90={:.2} p99={:.2} p99.9={:.2} max={:.2}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&latencies, 1.0)
    );
    println!(
        "non-success answers by status: {failures:?}; broken connections: {errors}; connect errors: {connect_errors}"
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

fn main() -> Result<(), AnyError> {
    let options = parse_options()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}
