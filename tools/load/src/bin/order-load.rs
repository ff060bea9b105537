//! Load for the order service's `POST /order/pay/`: N keep-alive HTTP/1.1 connections, every
//! request a real order (HTTP → transaction → gRPC signing), bounded in time, with a report of
//! orders/s and latency percentiles.
//!
//! With `--events N` it then measures event to paid: it publishes `order.paid` events (as
//! notify-receiver would) for N of the orders just created, at `--event-rate` per second, waits
//! until the service has applied them, and reads the service's `order_event_to_paid_seconds`
//! histogram.
//!
//! ```text
//! cargo run --release -p load --bin order-load -- --url http://127.0.0.1:18080 \
//!     --token "$(order token --user-id bench)" --connections 32 --duration 10s
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use common::amqp::{Topology, publish_event};
use common::events::{EVENT_VERSION, EventKind, PaymentEventV2, event_id_for};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use lapin::options::ConfirmSelectOptions;
use lapin::{Connection, ConnectionProperties};
use load::args::{RunArgs, Target, at_least_one, loopback_target, warmup_duration};
use load::http::{HttpWorker, get};
use load::{AnyError, DEFAULT_AMQP_URL, driver};

/// order-load: drives the order service's POST /order/pay/ and reports orders/s and latency.
#[derive(Debug, Parser)]
#[command(name = "order-load")]
struct Options {
    /// The service's base URL (loopback only).
    #[arg(long = "url", value_name = "URL", default_value = "http://127.0.0.1:8080", value_parser = loopback_target)]
    target: Target,
    /// The buyer's token (`order token --user-id bench`).
    #[arg(long, required_unless_present = "delete_topology")]
    token: Option<String>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    connections: usize,
    #[command(flatten)]
    run: RunArgs,
    /// Run before measuring, not counted (at most 30s).
    #[arg(long, default_value = "2s", value_parser = warmup_duration)]
    warmup: Duration,
    /// Course ids of each order, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    courses: Vec<i64>,
    /// Their total.
    #[arg(long, default_value = "298.90")]
    total: String,
    /// Afterwards, publish N order.paid events and measure event to paid.
    #[arg(long, default_value_t = 0)]
    events: usize,
    /// Events published per second.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    event_rate: u32,
    /// The service's AMQP_PREFIX.
    #[arg(long, default_value = "")]
    prefix: String,
    /// app_id in the events (the service's ALIPAY_APP_ID).
    #[arg(long, default_value = "2021000000000001")]
    app_id: String,
    /// RabbitMQ.
    #[arg(long, default_value = DEFAULT_AMQP_URL)]
    amqp_url: String,
    /// Only delete the exchanges and queues under --prefix, then exit.
    #[arg(long, requires = "prefix")]
    delete_topology: bool,
}

impl Options {
    fn token(&self) -> &str {
        self.token.as_deref().unwrap_or_default()
    }
}

fn main() -> Result<(), AnyError> {
    let options = Options::parse();
    options.run.runtime()?.block_on(async {
        if options.delete_topology {
            return delete_topology(&options).await;
        }
        load(&options).await?;
        if options.events > 0 {
            event_to_paid(&options).await?;
        }
        Ok(())
    })
}

async fn delete_topology(options: &Options) -> Result<(), AnyError> {
    let connection =
        Connection::connect(&options.amqp_url, ConnectionProperties::default()).await?;
    Topology::with_prefix(&options.prefix)
        .delete_all(&connection.create_channel().await?)
        .await?;
    let _ = connection.close(200, "cleanup".into()).await;
    Ok(())
}

async fn load(options: &Options) -> Result<(), AnyError> {
    let body = Bytes::from(serde_json::to_vec(&serde_json::json!({
        "subject": "load test",
        "total_amount": options.total,
        "pay_type": 1,
        "course_list": options.courses,
    }))?);
    let request = Request::post("/order/pay/")
        .header(HOST, options.target.address.to_string())
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("jwt {}", options.token()))
        .body(Full::new(body))?;
    let window = options.run.window(options.warmup);
    let tally = driver::run(options.connections, window, u64::MAX, |_| {
        let request = request.clone();
        HttpWorker::connect(
            options.target.address,
            move || request.clone(),
            |status, _| status == StatusCode::CREATED,
        )
    })
    .await;
    let seconds = window.measured().as_secs_f64().max(f64::EPSILON);
    let created = tally.latencies.count();
    println!(
        "POST /order/pay/: connections={} duration={seconds:.1}s warmup={:?} threads={}",
        options.connections, options.warmup, options.run.threads
    );
    println!(
        "orders created: {created} ({:.0} orders/s)",
        created as f64 / seconds
    );
    println!("{}", tally.latencies.line());
    println!(
        "non-201 answers by status: {:?}; broken connections: {}; connect errors: {}",
        tally.failures_by_code(),
        tally.broken,
        tally.connect_errors
    );
    Ok(())
}

/// GET with the token, as JSON.
async fn get_json(options: &Options, path: &str) -> Result<serde_json::Value, AnyError> {
    let authorization = format!("Bearer {}", options.token());
    let body = get(options.target.address, path, Some(&authorization)).await?;
    Ok(serde_json::from_slice(&body)?)
}

async fn metrics(options: &Options) -> Result<String, AnyError> {
    let body = get(options.target.address, "/metrics", None).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// `histogram_quantile` over the cumulative buckets, as Prometheus computes it (the service's
/// own histogram, not ours: the latency is measured inside the service).
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

async fn event_to_paid(options: &Options) -> Result<(), AnyError> {
    let applied_before = metric(
        &metrics(options).await?,
        "order_event_to_paid_seconds_count",
    );

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
        text = metrics(options).await?;
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
