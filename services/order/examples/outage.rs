//! Measures how long the order service takes, once its database is back, to apply the payment
//! events that arrived while it was gone (issue: "time from PostgreSQL's return to every waiting
//! event applied, after a 10-minute outage with 1,000 payments waiting").
//!
//! It runs the real order service in-process against the local PostgreSQL and RabbitMQ, in a
//! database and under AMQP names of its own (so nothing else on the machine is disturbed): puts N
//! unpaid orders in, takes the database away (`ALLOW_CONNECTIONS false` and every session ended:
//! to the service it is a database that refuses connections), publishes N `order.paid` events as
//! notify-receiver would, waits for the outage's length, gives the database back, and reports
//! the time until the N-th order is paid, and how many letters were dead-lettered (must be 0).
//!
//! ```text
//! cargo run --release -p order --example order-outage -- --payments 1000 --outage 10m
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use common::amqp::{Topology, publish_event};
use common::config::{Env, parse_duration};
use common::events::{EVENT_VERSION, EventKind, PaymentEventV2, event_id_for};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use lapin::options::ConfirmSelectOptions;
use lapin::{Connection, ConnectionProperties};
use test_support::TestDatabase;
use test_support::services::{RunningOrder, order_env};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const APP_ID: &str = "2021000000000001";

/// order-outage: payments that wait through a database outage, and how fast they apply after.
#[derive(Debug, Parser)]
#[command(name = "order-outage")]
struct Options {
    /// Payments waiting for the database.
    #[arg(long, default_value_t = 1000)]
    payments: usize,
    /// How long the database stays away.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    outage: Duration,
    /// PostgreSQL, without a database name.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn paid_orders(database: &TestDatabase) -> Result<i64, AnyError> {
    Ok(
        diesel::sql_query("SELECT count(*) AS n FROM orders WHERE status = 1")
            .get_result::<Count>(&mut database.connect().await)
            .await?
            .n,
    )
}

/// A payment event as notify-receiver publishes it (no signature: the consumer trusts the broker).
fn paid_event(out_trade_no: &str, notify_id: &str) -> Result<PaymentEventV2, AnyError> {
    let params: BTreeMap<String, String> = [
        ("app_id", APP_ID),
        ("notify_id", notify_id),
        ("out_trade_no", out_trade_no),
        ("total_amount", "99.90"),
        ("trade_status", "TRADE_SUCCESS"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let now = Utc::now();
    Ok(PaymentEventV2 {
        version: EVENT_VERSION,
        event_id: event_id_for(notify_id, "TRADE_SUCCESS"),
        kind: EventKind::Paid,
        out_trade_no: out_trade_no.parse()?,
        trade_no: "2026120522001400000000000001".into(),
        trade_status: "TRADE_SUCCESS".into(),
        total_amount: "99.90".parse()?,
        receipt_amount: None,
        refund_fee: None,
        out_request_no: None,
        paid_at: Some(now),
        refunded_at: None,
        buyer_id: None,
        buyer_open_id: None,
        seller_id: Some("2088102177846880".into()),
        app_id: APP_ID.into(),
        notify_id: notify_id.into(),
        notified_at: Some(now),
        received_at: now,
        params,
    })
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let options = Options::parse();
    let id = std::process::id();
    let database = TestDatabase::create_on(&options.postgres, "order_outage").await;
    let prefix = format!("outage-{id}.");

    let mut env = order_env(
        database.url(),
        &prefix,
        // The consumer never calls the gateway.
        "http://127.0.0.1:9",
        "outage-bench-secret-of-at-least-32-bytes",
        APP_ID,
    );
    // Measured with the service's own pool size, workers and shutdown timeout.
    env.retain(|(name, _)| {
        !matches!(
            *name,
            "DATABASE_POOL_SIZE" | "HTTP_WORKERS" | "SHUTDOWN_TIMEOUT"
        )
    });
    env.extend([
        ("AMQP_URL", options.amqp_url.clone()),
        ("SEED_DEMO_DATA", "off".to_owned()),
        ("DEAD_LETTER_POLL_INTERVAL", "1s".to_owned()),
    ]);
    let service = RunningOrder::start(order::Settings::from_env(&Env::from_pairs(env))?).await;
    let state = &service.state;

    diesel::sql_query(format!(
        "INSERT INTO orders (out_trade_no, user_id, subject, total_amount, pay_type, status, \
         expires_at) SELECT 'OUTAGE_' || g, 'bench', 'bench', 99.90, 1, 0, now() + interval '1 day' \
         FROM generate_series(1, {}) AS g",
        options.payments
    ))
    .execute(&mut database.connect().await)
    .await?;

    // The database goes away.
    database.refuse_connections().await;
    let outage_began = Instant::now();

    // The payments arrive, as notify-receiver publishes them.
    let topology = Topology::with_prefix(&prefix);
    let amqp = Connection::connect(&options.amqp_url, ConnectionProperties::default()).await?;
    let channel = amqp.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    for n in 1..=options.payments {
        let event = paid_event(&format!("OUTAGE_{n}"), &format!("outage-{id}-{n}"))?;
        publish_event(&channel, &topology, &event, Some("outage-bench")).await?;
    }
    println!(
        "{} payments published during the outage; waiting {:?}",
        options.payments, options.outage
    );
    tokio::time::sleep(options.outage.saturating_sub(outage_began.elapsed())).await;
    let held = state.metrics.render();
    let held = held
        .lines()
        .find(|line| line.starts_with("order_consumer_held_events "))
        .unwrap_or("order_consumer_held_events ?")
        .to_owned();

    // The database is back: how long until every payment is applied?
    database.allow_connections().await;
    let back = Instant::now();
    let mut paid = 0;
    while back.elapsed() < Duration::from_secs(600) {
        paid = paid_orders(&database).await.unwrap_or(0);
        if paid >= i64::try_from(options.payments)? {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let applied_after = back.elapsed();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dead = order::dead_letters::browse(&channel, &topology)
        .await?
        .len();
    println!(
        "outage {:?}, {} payments waiting ({held} at the end of the outage); database back → all \
         {paid} paid in {:.2} s ({:.0} events/s); dead-lettered: {dead}",
        options.outage,
        options.payments,
        applied_after.as_secs_f64(),
        options.payments as f64 / applied_after.as_secs_f64().max(0.001),
    );

    service.shutdown.cancel();
    let _ = service.server.await;
    let _ = topology.delete_all(&channel).await;
    let _ = amqp.close(200, "done".into()).await;
    // The database is dropped with its guard.
    Ok(())
}
