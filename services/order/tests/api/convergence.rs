//! Convergence with Alipay's books when a message is early, lost or dead: the early-event inbox,
//! the dead-letter queue (metric, list, replay, the CLI) and active sync.

use std::process::Command;
use std::time::Duration;

use order::dead_letters::{self, Selection};
use order::domain::OrderStatus;
use serde_json::Value;

use crate::helpers::{
    TestApp, TestConfig, amqp_url, event_from, paid_event, paid_params, spawn_app, spawn_app_with,
};

/// A refund notification for `number` (cumulative `fee`), as notify-receiver publishes it.
fn refund_event(
    number: &str,
    fee: &str,
    out_biz_no: &str,
    notify_id: &str,
) -> common::events::PaymentEventV2 {
    let mut params = paid_params(number, "99.90", notify_id);
    params.insert("refund_fee".into(), fee.into());
    params.insert("gmt_refund".into(), "2026-11-26 10:00:00.123".into());
    params.insert("out_biz_no".into(), out_biz_no.into());
    event_from(params)
}

async fn waiting_events(app: &TestApp) -> i64 {
    order::inbox::waiting(&mut app.conn().await).await.unwrap()
}

async fn dead_letter_count(app: &TestApp) -> usize {
    dead_letters::browse(&app.channel, &app.stack.topology)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_refund_that_comes_seconds_before_its_payment_waits_and_then_applies() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;

    app.publish(&refund_event(&number, "10.00", "R1", "n-refund"))
        .await;
    app.wait_until("the refund waits in the inbox", || async {
        waiting_events(&app).await == 1
    })
    .await;
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Unpaid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.publish(&paid_event(&number, "99.90", "n-paid")).await;

    let order = app
        .wait_for_status(&number, OrderStatus::PartiallyRefunded)
        .await;
    assert_eq!(order.refunded_amount.to_string(), "10.00");
    assert_eq!(waiting_events(&app).await, 0);
    assert_eq!(dead_letter_count(&app).await, 0);
    assert_eq!(app.event_count(&number).await, 2);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("order_events_total{kind=\"order.refunded\",outcome=\"waiting\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_refund_minutes_early_waits_through_several_retries_scaled() {
    // Minutes scaled to seconds: the retries (1 s, 2 s, 4 s …) come and go before the payment.
    let app = spawn_app_with(TestConfig {
        env: vec![("EARLY_EVENT_PATIENCE", "60s".into())],
        ..TestConfig::default()
    })
    .await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    app.publish(&refund_event(&number, "99.90", "R1", "n-refund"))
        .await;
    app.wait_until("the refund waits", || async {
        waiting_events(&app).await == 1
    })
    .await;

    tokio::time::sleep(Duration::from_secs(8)).await;
    let attempts: i32 = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        order::schema::early_events::table
            .select(order::schema::early_events::attempts)
            .first(&mut app.conn().await)
            .await
            .unwrap()
    };
    assert!(attempts >= 2, "retried {attempts} times");
    app.publish(&paid_event(&number, "99.90", "n-paid")).await;

    let order = app.wait_for_status(&number, OrderStatus::Refunded).await;
    assert_eq!(order.refunded_amount.to_string(), "99.90");
    assert_eq!(waiting_events(&app).await, 0);
}

#[tokio::test]
async fn an_event_that_waits_past_its_patience_is_dead_lettered_then_replayed() {
    let app = spawn_app_with(TestConfig {
        env: vec![("EARLY_EVENT_PATIENCE", "2s".into())],
        ..TestConfig::default()
    })
    .await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let refund = refund_event(&number, "10.00", "R1", "n-refund");
    app.publish(&refund).await;

    // Surfaced for a human: in the dead-letter queue with its reason, and in the metric.
    app.wait_until("the refund is dead-lettered", || async {
        dead_letter_count(&app).await == 1
    })
    .await;
    let letters = dead_letters::browse(&app.channel, &app.stack.topology)
        .await
        .unwrap();
    assert_eq!(letters[0].reason, "early_event_expired");
    assert_eq!(letters[0].id, refund.event_id.to_string());
    assert_eq!(letters[0].out_trade_no.as_deref(), Some(number.as_str()));
    assert_eq!(waiting_events(&app).await, 0);
    app.wait_until("the metric shows it", || async {
        app.metrics()
            .await
            .contains("order_dead_letters{reason=\"early_event_expired\"} 1")
    })
    .await;

    // The payment finally arrives; an operator replays the refund (twice: idempotent).
    app.publish(&paid_event(&number, "99.90", "n-paid")).await;
    app.wait_for_status(&number, OrderStatus::Paid).await;
    let replayed = dead_letters::replay(
        &app.channel,
        &app.channel,
        &app.stack.topology,
        &Selection::Ids(vec![refund.event_id.to_string()]),
    )
    .await
    .unwrap();
    assert_eq!(replayed.len(), 1);
    app.publish(&refund).await;

    let order = app
        .wait_for_status(&number, OrderStatus::PartiallyRefunded)
        .await;
    assert_eq!(order.refunded_amount.to_string(), "10.00");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.event_count(&number).await, 2);
    assert_eq!(dead_letter_count(&app).await, 0);
}

#[tokio::test]
async fn the_dead_letter_metric_counts_what_the_broker_dead_lettered_too() {
    let app = spawn_app().await;
    // As RabbitMQ leaves a message that hit the delivery limit: no reason of ours, x-death's.
    let mut headers = lapin::types::FieldTable::default();
    headers.insert(
        "x-first-death-reason".into(),
        lapin::types::AMQPValue::LongString("delivery_limit".into()),
    );
    app.channel
        .basic_publish(
            app.stack.topology.dlx.as_str().into(),
            "order.paid".into(),
            lapin::options::BasicPublishOptions::default(),
            b"{}",
            lapin::BasicProperties::default()
                .with_message_id("broker-death-1".into())
                .with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    app.publish(&paid_event("NO_SUCH_ORDER", "1.00", "n-x"))
        .await;

    app.wait_until("both reasons are counted", || async {
        let metrics = app.metrics().await;
        metrics.contains("order_dead_letters{reason=\"broker:delivery_limit\"} 1")
            && metrics.contains("order_dead_letters{reason=\"unknown_order\"} 1")
    })
    .await;
    // Reading never takes a letter away.
    assert_eq!(dead_letter_count(&app).await, 2);
}

/// Runs `order dead-letters …` against the test's broker names.
fn order_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_order"))
        .arg("dead-letters")
        .args(args)
        .env_clear()
        .env("AMQP_URL", amqp_url())
        .env("AMQP_PREFIX", &app.settings.amqp_prefix)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_cli_lists_and_replays_dead_letters() {
    let app = spawn_app_with(TestConfig {
        env: vec![("EARLY_EVENT_PATIENCE", "1s".into())],
        ..TestConfig::default()
    })
    .await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let refund = refund_event(&number, "10.00", "R1", "n-refund");
    app.publish(&refund).await;
    app.wait_until("the refund is dead-lettered", || async {
        dead_letter_count(&app).await == 1
    })
    .await;

    let list = order_cli(&app, &["list"]);
    let json = order_cli(&app, &["list", "--json"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let table = String::from_utf8(list.stdout).unwrap();
    assert!(table.contains(&refund.event_id.to_string()), "{table}");
    assert!(table.contains("early_event_expired"), "{table}");
    assert!(table.contains(&number), "{table}");
    assert!(table.contains("1 dead letter(s)"), "{table}");
    let line: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(line["reason"], "early_event_expired");

    let unknown = order_cli(&app, &["replay", "--id", "no-such-id"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-id"));
    let neither = order_cli(&app, &["replay"]);
    assert_eq!(neither.status.code(), Some(2));

    app.publish(&paid_event(&number, "99.90", "n-paid")).await;
    app.wait_for_status(&number, OrderStatus::Paid).await;
    let replay = order_cli(&app, &["replay", "--all"]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(String::from_utf8_lossy(&replay.stdout).contains("1 dead letter(s) replayed"));
    app.wait_for_status(&number, OrderStatus::PartiallyRefunded)
        .await;
    assert_eq!(dead_letter_count(&app).await, 0);
}

#[tokio::test]
async fn a_lost_notification_is_found_by_the_sync_schedule_not_before_it_is_due() {
    let app = spawn_app_with(TestConfig {
        env: vec![("SYNC_SCHEDULE", "2s,4s".into())],
        ..TestConfig::default()
    })
    .await;
    let (paid, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;
    // Paid at Alipay; the notification goes nowhere (this harness has no receiver).
    app.buyer_pays(&paid).await;
    let (abandoned, link) = app.order("u2", &[2], "199.00").await;
    app.open_cashier(&link).await;

    let early = order::sync::sync_once(&app.state, "test").await.unwrap();
    assert_eq!(early.asked, 0, "nothing is due in the first 2 s");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let first = order::sync::sync_once(&app.state, "test").await.unwrap();
    let again = order::sync::sync_once(&app.state, "test").await.unwrap();

    assert_eq!((first.asked, first.paid), (2, 1));
    assert_eq!(again.asked, 0, "the next step is not due yet");
    assert_eq!(app.order_row(&paid).await.status, OrderStatus::Paid);
    assert_eq!(app.order_row(&abandoned).await.status, OrderStatus::Unpaid);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("order_sync_queries_total{outcome=\"paid\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("order_sync_queries_total{outcome=\"waiting\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("order_orders_paid_total{source=\"sync\"} 1"),
        "{metrics}"
    );

    // The buyer gives up on the cashier: the next step sees the closed trade.
    app.stack.sandbox_api.close(&abandoned).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = order::sync::sync_once(&app.state, "test").await.unwrap();
    assert_eq!((second.asked, second.closed), (1, 1));
    assert_eq!(
        app.order_row(&abandoned).await.status,
        OrderStatus::Cancelled
    );
}

#[tokio::test]
async fn two_replicas_never_ask_about_one_order_for_the_same_step() {
    let app = spawn_app_with(TestConfig {
        env: vec![("SYNC_SCHEDULE", "1s,1h".into())],
        ..TestConfig::default()
    })
    .await;
    let replica = app.spawn_replica().await;
    for user in 0..6 {
        app.order(&format!("u{user}"), &[1], "99.90").await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (one, two) = tokio::join!(
        order::sync::sync_once(&app.state, "a"),
        order::sync::sync_once(&replica.state, "b")
    );

    assert_eq!(one.unwrap().asked + two.unwrap().asked, 6);
    replica.shutdown.cancel();
}

#[tokio::test]
async fn a_sync_pass_takes_the_batch_most_overdue_first_across_first_and_later_steps() {
    use diesel::{ExpressionMethods as _, QueryDsl as _};
    use diesel_async::RunQueryDsl as _;
    let app = spawn_app_with(TestConfig {
        env: vec![("SYNC_SCHEDULE", "1m,3m".into())],
        ..TestConfig::default()
    })
    .await;
    // 150 unpaid orders made 10 minutes ago, never asked about (due 9 minutes ago), and every
    // other one asked before, with its next question due 1 to 75 s ago: 150 due in all.
    diesel::sql_query(
        "SELECT open_order('S' || lpad(g::text, 9, '0'), 'u', 99.90, 1::smallint, 0::smallint,
                          NULL, now() + interval '1 hour', now() - interval '10 minutes',
                          ARRAY[1]::bigint[])
           FROM generate_series(1, 150) AS g",
    )
    .execute(&mut app.conn().await)
    .await
    .unwrap();
    diesel::sql_query(
        "UPDATE orders SET sync_step = 1,
                next_sync_at = now() - (right(out_trade_no, 3)::int / 2) * interval '1 second'
          WHERE right(out_trade_no, 3)::int % 2 = 0",
    )
    .execute(&mut app.conn().await)
    .await
    .unwrap();

    let first = order::sync::sync_once(&app.state, "test").await.unwrap();
    // The never-asked ones were due first (9 minutes ago): all 75 are in the first pass, with
    // the 25 most overdue of the others.
    let not_asked_yet: i64 = {
        use diesel::dsl::count_star;
        use order::schema::orders;
        orders::table
            .filter(orders::sync_step.eq(0))
            .select(count_star())
            .first(&mut app.conn().await)
            .await
            .unwrap()
    };
    let second = order::sync::sync_once(&app.state, "test").await.unwrap();
    let third = order::sync::sync_once(&app.state, "test").await.unwrap();

    assert_eq!(first.asked, order::sync::BATCH as usize);
    assert_eq!(not_asked_yet, 0);
    assert_eq!(second.asked, 50);
    assert_eq!(third.asked, 0, "every order's next step is minutes away");
}
