//! Load generator for `POST /order/pay/`: N keep-alive HTTP/1.1 connections (one task each, like
//! wrk), every request a real order (HTTP → transaction → gRPC signing), bounded in time, with
//! a report of orders/s and latency percentiles.
//!
//! With `--events N` it then measures event to paid: it publishes `order.paid` events (as
//! notify-receiver would) for N of the orders just created, at `--event-rate` per second, waits
//! until the service has applied them, and reads the service's `order_event_to_paid_seconds`
//! histogram.
//!
//! Only loopback targets are accepted: this is for measuring a service on the same machine.
//!
//! ```text
//! cargo run --release -p order --example order-load -- --url http://127.0.0.1:18080 \
//!     --token "$(order token --user-id bench)" --connections 32 --duration 10s
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::amqp::{Topology, publish_event};
use common::config::parse_duration;
use common::events::{EVENT_VERSION, EventKind, PaymentEventV2, event_id_for};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use lapin::options::ConfirmSelectOptions;
use lapin::{Connection, ConnectionProperties};
use tokio::net::TcpStream;

type AnyError = Box<dyn Error + Send + Sync>;

const HELP: &str = "\
load: drives the order service's POST /order/pay/ and reports orders/s and latency.

  --url URL          the service's base URL (loopback only)       [default: http://127.0.0.1:8080]
  --token JWT        the buyer's token (`order token --user-id bench`)              [required]
  --connections N    concurrent keep-alive connections                          [default: 32]
  --duration D       measured run time, at most 120s                            [default: 10s]
  --warmup D         run before measuring, not counted                          [default: 2s]
  --threads N        client runtime threads                                      [default: 1]
  --courses IDS      course ids of each order, comma-separated                  [default: 1,2]
  --total AMOUNT     their total                                            [default: 298.90]
  --events N         afterwards, publish N order.paid events and measure event to paid
                                                                                  [default: 0]
  --event-rate N     events published per second                               [default: 500]
  --prefix P         the service's AMQP_PREFIX                                  [default: none]
  --app-id ID        app_id in the events (the service's ALIPAY_APP_ID)
                                                                   [default: 2021000000000001]
  --amqp-url URL     RabbitMQ            [default: amqp://guest:guest@127.0.0.1:5672/%2f]
  --delete-topology  only delete the exchanges and queues under --prefix, then exit
";

#[derive(Debug, Clone)]
struct Options {
    base: String,
    address: SocketAddr,
    token: String,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    threads: usize,
    courses: Vec<i64>,
    total: String,
    events: usize,
    event_rate: u32,
    prefix: String,
    app_id: String,
    amqp_url: String,
    delete_topology: bool,
}

fn parse_options() -> Result<Options, AnyError> {
    let mut options = Options {
        base: "http://127.0.0.1:8080".into(),
        address: SocketAddr::from(([127, 0, 0, 1], 8080)),
        token: String::new(),
        connections: 32,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        threads: 1,
        courses: vec![1, 2],
        total: "298.90".into(),
        events: 0,
        event_rate: 500,
        prefix: String::new(),
        app_id: "2021000000000001".into(),
        amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        delete_topology: false,
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        if flag == "--help" || flag == "-h" {
            print!("{HELP}");
            std::process::exit(0);
        }
        if flag == "--delete-topology" {
            options.delete_topology = true;
            continue;
        }
        let value = arguments
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => options.base = value.trim_end_matches('/').to_owned(),
            "--token" => options.token = value,
            "--connections" => options.connections = value.parse()?,
            "--duration" => options.duration = parse_duration(&value)?,
            "--warmup" => options.warmup = parse_duration(&value)?,
            "--threads" => options.threads = value.parse()?,
            "--courses" => {
                options.courses = value
                    .split(',')
                    .map(|id| id.trim().parse())
                    .collect::<Result<_, _>>()?
            }
            "--total" => options.total = value,
            "--events" => options.events = value.parse()?,
            "--event-rate" => options.event_rate = value.parse()?,
            "--prefix" => options.prefix = value,
            "--app-id" => options.app_id = value,
            "--amqp-url" => options.amqp_url = value,
            other => return Err(format!("unknown option {other}; see --help").into()),
        }
    }
    if options.token.is_empty() && !options.delete_topology {
        return Err("--token is required (see --help)".into());
    }
    if options.connections == 0 || options.threads == 0 || options.event_rate == 0 {
        return Err("--connections, --threads and --event-rate must be at least 1".into());
    }
    if options.duration > Duration::from_secs(120) || options.warmup > Duration::from_secs(30) {
        return Err("--duration is at most 120s and --warmup at most 30s".into());
    }
    let url: Uri = options.base.parse()?;
    let host = url.host().ok_or("--url needs a host")?;
    let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        other => other
            .parse()
            .map_err(|_| format!("--url host {host} is not an IP address"))?,
    };
    if !ip.is_loopback() {
        return Err(format!("--url must point at this machine (loopback), not {ip}").into());
    }
    options.address = SocketAddr::new(ip, url.port_u16().unwrap_or(80));
    Ok(options)
}

#[derive(Debug, Default)]
struct Tally {
    /// Microseconds, measured 201s only.
    latencies: Vec<u32>,
    failures_by_status: Vec<(u16, u64)>,
    errors: u64,
}

async fn drive(
    options: Arc<Options>,
    body: Bytes,
    issued: Arc<AtomicU64>,
    measure_from: Instant,
    stop_at: Instant,
) -> Result<Tally, AnyError> {
    let stream = TcpStream::connect(options.address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let host = options.address.to_string();
    let authorization = format!("jwt {}", options.token);
    let mut tally = Tally::default();
    loop {
        if Instant::now() >= stop_at {
            return Ok(tally);
        }
        issued.fetch_add(1, Ordering::Relaxed);
        let request = Request::post("/order/pay/")
            .header(HOST, host.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, authorization.as_str())
            .body(Full::new(body.clone()))?;
        if sender.ready().await.is_err() {
            tally.errors += 1;
            return Ok(tally);
        }
        let sent = Instant::now();
        let outcome = async {
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            Ok::<_, AnyError>(status)
        }
        .await;
        let elapsed = sent.elapsed();
        if sent < measure_from {
            continue;
        }
        match outcome {
            Ok(201) => tally
                .latencies
                .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)),
            Ok(status) => match tally
                .failures_by_status
                .iter_mut()
                .find(|(s, _)| *s == status)
            {
                Some((_, count)) => *count += 1,
                None => tally.failures_by_status.push((status, 1)),
            },
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

async fn load(options: &Arc<Options>) -> Result<(), AnyError> {
    let body = Bytes::from(serde_json::to_vec(&serde_json::json!({
        "subject": "load test",
        "total_amount": options.total,
        "pay_type": 1,
        "course_list": options.courses,
    }))?);
    let issued = Arc::new(AtomicU64::new(0));
    let measure_from = Instant::now() + options.warmup;
    let stop_at = measure_from + options.duration;
    let tasks: Vec<_> = (0..options.connections)
        .map(|_| {
            tokio::spawn(drive(
                options.clone(),
                body.clone(),
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
    let seconds = Instant::now()
        .min(stop_at)
        .saturating_duration_since(measure_from)
        .as_secs_f64()
        .max(f64::EPSILON);
    latencies.sort_unstable();
    println!(
        "POST /order/pay/: connections={} duration={seconds:.1}s warmup={:?} threads={}",
        options.connections, options.warmup, options.threads
    );
    println!(
        "orders created: {} ({:.0} orders/s)",
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
        "non-201 answers by status: {failures:?}; broken connections: {errors}; connect errors: {connect_errors}"
    );
    Ok(())
}

/// GET with the token, as JSON.
async fn get_json(options: &Options, path: &str) -> Result<serde_json::Value, AnyError> {
    let stream = TcpStream::connect(options.address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(HOST, options.address.to_string())
        .header(AUTHORIZATION, format!("Bearer {}", options.token))
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// `histogram_quantile` over the cumulative buckets, as Prometheus computes it.
fn histogram_quantile(text: &str, name: &str, quantile: f64) -> f64 {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (le, rest) = rest.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect();
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    let rank = quantile * total;
    let mut previous = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= rank {
            if le.is_infinite() {
                return previous.0;
            }
            let width = count - previous.1;
            let within = if width > 0.0 {
                (rank - previous.1) / width
            } else {
                1.0
            };
            return previous.0 + (le - previous.0) * within;
        }
        previous = (le, count);
    }
    f64::NAN
}

async fn event_to_paid(options: &Arc<Options>) -> Result<(), AnyError> {
    let metrics_before = get_json_text(options, "/metrics").await?;
    let applied_before = metric(&metrics_before, "order_event_to_paid_seconds_count");

    // Unpaid orders of this buyer, newest first.
    let mut orders = Vec::new();
    let mut page = 1;
    while orders.len() < options.events {
        let listing =
            get_json(options, &format!("/api/v1/orders?per_page=100&page={page}")).await?;
        let items = listing["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for item in items {
            if item["status"] == 0 && orders.len() < options.events {
                orders.push((
                    item["out_trade_no"].as_str().unwrap_or_default().to_owned(),
                    item["total_amount"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        page += 1;
    }
    let connection =
        Connection::connect(&options.amqp_url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let topology = Topology::with_prefix(&options.prefix);
    let gap = Duration::from_secs_f64(1.0 / f64::from(options.event_rate));
    let started = Instant::now();
    for (index, (out_trade_no, total)) in orders.iter().enumerate() {
        let notify_id = format!("load-{}-{index}", uuid::Uuid::now_v7().simple());
        let params: BTreeMap<String, String> = [
            ("app_id", options.app_id.as_str()),
            ("out_trade_no", out_trade_no),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", total),
            ("notify_id", &notify_id),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let now = chrono::Utc::now();
        // As notify-receiver publishes it (the consumer trusts the broker, not a signature).
        let event = PaymentEventV2 {
            version: EVENT_VERSION,
            event_id: event_id_for(&notify_id, "TRADE_SUCCESS"),
            kind: EventKind::Paid,
            out_trade_no: out_trade_no.parse()?,
            trade_no: "2026112622001400000000000001".into(),
            trade_status: "TRADE_SUCCESS".into(),
            total_amount: total.parse()?,
            receipt_amount: None,
            refund_fee: None,
            out_request_no: None,
            paid_at: Some(now),
            refunded_at: None,
            buyer_id: None,
            buyer_open_id: None,
            seller_id: None,
            app_id: options.app_id.clone(),
            notify_id,
            notified_at: Some(now),
            received_at: now,
            params,
        };
        publish_event(&channel, &topology, &event, None).await?;
        let due = started + gap * (index as u32 + 1);
        tokio::time::sleep_until(due.into()).await;
    }
    let expected = applied_before + orders.len() as f64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = get_json_text(options, "/metrics").await?;
        if metric(&text, "order_event_to_paid_seconds_count") >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let applied = metric(&text, "order_event_to_paid_seconds_count") - applied_before;
    println!(
        "event to paid: {applied:.0}/{} events applied at {}/s; p50≈{:.1} ms p99≈{:.1} ms (from the service's histogram, whole run)",
        orders.len(),
        options.event_rate,
        histogram_quantile(&text, "order_event_to_paid_seconds", 0.50) * 1000.0,
        histogram_quantile(&text, "order_event_to_paid_seconds", 0.99) * 1000.0
    );
    connection.close(200, "load done".into()).await?;
    Ok(())
}

async fn get_json_text(options: &Options, path: &str) -> Result<String, AnyError> {
    let stream = TcpStream::connect(options.address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(HOST, options.address.to_string())
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn main() -> Result<(), AnyError> {
    let options = Arc::new(parse_options()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if options.delete_topology {
            if options.prefix.is_empty() {
                return Err("--delete-topology needs --prefix".into());
            }
            let connection =
                Connection::connect(&options.amqp_url, ConnectionProperties::default()).await?;
            Topology::with_prefix(&options.prefix)
                .delete_all(&connection.create_channel().await?)
                .await?;
            let _ = connection.close(200, "cleanup".into()).await;
            return Ok(());
        }
        load(&options).await?;
        if options.events > 0 {
            event_to_paid(&options).await?;
        }
        Ok(())
    })
}
