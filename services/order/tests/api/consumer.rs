//! The payment-event consumer: exactly-once application, dead letters with reasons, late
//! payments, closes and refunds, and redelivery while the database is down.

use chrono::Utc;
use common::amqp::header_text;
use common::events::DEATH_REASON_HEADER;
use diesel_async::RunQueryDsl;
use order::domain::OrderStatus;
use order::payments::{self, Facts, Outcome};
use serde_json::Value;

use crate::helpers::{APP_ID, event_from, paid_event, paid_params, spawn_app};

#[tokio::test]
async fn a_paid_event_marks_the_order_paid() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;

    app.publish(&paid_event(&number, "99.90", "n-1")).await;

    let order = app.wait_for_status(&number, OrderStatus::Paid).await;
    assert_eq!(
        order.trade_no.as_deref(),
        Some("2026112622001400000000000001")
    );
    // gmt_payment 2026-11-26 09:01:00 Beijing time.
    assert_eq!(
        order.pay_time.unwrap().to_rfc3339(),
        "2026-11-26T01:01:00+00:00"
    );
    assert!(!order.needs_refund);
    app.wait_until("the event is counted", || async {
        app.metrics()
            .await
            .contains("order_events_total{kind=\"order.paid\",outcome=\"applied\"} 1")
    })
    .await;
    assert!(
        app.metrics()
            .await
            .contains("order_event_to_paid_seconds_count 1")
    );
}

#[tokio::test]
async fn the_same_event_ten_times_is_one_transition() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let event = paid_event(&number, "99.90", "n-1");

    for _ in 0..10 {
        app.publish(&event).await;
    }

    app.wait_until("all ten are consumed", || async {
        let text = app.metrics().await;
        text.contains("order_events_total{kind=\"order.paid\",outcome=\"duplicate\"} 9")
    })
    .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("order_events_total{kind=\"order.paid\",outcome=\"applied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("order_orders_paid_total{source=\"event\"} 1"),
        "{metrics}"
    );
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Paid);
    assert_eq!(app.event_count(&number).await, 1);
}

#[tokio::test]
async fn the_same_event_to_two_consumers_at_once_is_one_transition() {
    let app = spawn_app().await;
    let replica = app.spawn_replica().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let event = paid_event(&number, "99.90", "n-1");

    // Two copies at once: with two consumers on the queue, each tends to take one.
    tokio::join!(app.publish(&event), app.publish(&event));

    app.wait_until("both copies are consumed", || async {
        let ours = app.metrics().await;
        let theirs = replica.state.metrics.render();
        let count = |text: &str, outcome: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "order_events_total{{kind=\"order.paid\",outcome=\"{outcome}\"}}"
                    ))
                })
                .and_then(|l| l.rsplit(' ').next()?.parse::<u32>().ok())
                .unwrap_or(0)
        };
        count(&ours, "applied") + count(&theirs, "applied") == 1
            && count(&ours, "duplicate") + count(&theirs, "duplicate") == 1
    })
    .await;
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Paid);
    assert_eq!(app.event_count(&number).await, 1);
    replica.shutdown.cancel();
    let _ = replica.server.await;
}

#[tokio::test]
async fn a_v1_event_from_a_receiver_not_yet_upgraded_still_applies() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    // Exactly what the previous receiver published: Alipay's Beijing-time text, no typed fields.
    let v1 = serde_json::json!({
        "version": 1,
        "event_id": "0190c3a4-5b6c-5d7e-8f90-a1b2c3d4e5f6",
        "kind": "paid",
        "out_trade_no": number,
        "trade_no": "2026112622001400000000000009",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "99.90",
        "app_id": APP_ID,
        "gmt_payment": "2026-11-26 09:01:00",
        "notify_id": "n-v1",
        "notify_time": "2026-11-26 09:01:01",
        "received_at": "2026-11-26T01:01:02Z",
        "params": {"trade_status": "TRADE_SUCCESS"}
    });

    app.publish_raw("order.paid", &serde_json::to_vec(&v1).unwrap())
        .await;

    let order = app.wait_for_status(&number, OrderStatus::Paid).await;
    assert_eq!(
        order.pay_time.unwrap().to_rfc3339(),
        "2026-11-26T01:01:00+00:00"
    );
}

#[tokio::test]
async fn concurrent_applications_of_one_event_make_one_transition() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let facts = Facts::from_event(&paid_event(&number, "99.90", "n-1"));

    let mut tasks = Vec::new();
    for _ in 0..8 {
        let facts = facts.clone();
        let pool = app.state.pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.get().await.unwrap();
            payments::apply_payment(&mut conn, &facts, Utc::now())
                .await
                .unwrap()
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }

    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Paid).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Duplicate)
            .count(),
        7,
        "{outcomes:?}"
    );
    assert_eq!(app.event_count(&number).await, 1);
}

async fn dead_letter_reason(app: &crate::helpers::TestApp) -> String {
    let letter = app.next_dead_letter().await;
    header_text(&letter.properties, DEATH_REASON_HEADER).expect("a reason header")
}

#[tokio::test]
async fn an_event_for_an_unknown_order_is_dead_lettered_with_the_reason() {
    let app = spawn_app().await;

    app.publish(&paid_event("NOSUCHORDER", "99.90", "n-1"))
        .await;

    let reason = dead_letter_reason(&app).await;
    assert!(reason.starts_with("unknown_order"), "{reason}");
    assert!(
        app.metrics()
            .await
            .contains("order_events_dead_lettered_total{reason=\"unknown_order\"} 1")
    );
}

#[tokio::test]
async fn an_amount_mismatch_is_dead_lettered_and_the_order_stays_unpaid() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;

    app.publish(&paid_event(&number, "0.01", "n-1")).await;

    let reason = dead_letter_reason(&app).await;
    assert!(reason.starts_with("amount_mismatch"), "{reason}");
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Unpaid);
}

#[tokio::test]
async fn another_apps_event_is_dead_lettered() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let mut params = paid_params(&number, "99.90", "n-1");
    params.insert("app_id".into(), "2021999999999999".into());

    app.publish(&event_from(params)).await;

    let reason = dead_letter_reason(&app).await;
    assert!(reason.starts_with("wrong_app_id"), "{reason}");
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Unpaid);
}

#[tokio::test]
async fn an_unparseable_event_is_dead_lettered() {
    let app = spawn_app().await;

    app.publish_raw("order.paid", b"{\"version\":1,\"nonsense\":true}")
        .await;
    let first = dead_letter_reason(&app).await;
    app.publish_raw("order.paid", b"not json at all").await;
    let second = dead_letter_reason(&app).await;

    assert!(first.starts_with("unparseable"), "{first}");
    assert!(second.starts_with("unparseable"), "{second}");
}

#[tokio::test]
async fn a_payment_after_expiry_is_kept_paid_and_flagged_for_refund() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    app.expire(&number).await;
    let report = order::expiry::sweep_once(&app.state, "test").await.unwrap();
    assert_eq!(report.closed, 1);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::TimedOut);

    app.publish(&paid_event(&number, "99.90", "n-late")).await;

    let order = app.wait_for_status(&number, OrderStatus::Paid).await;
    assert!(order.needs_refund);
    let token = app.token("u1", false);
    let shown: Value = app
        .get(&format!("/api/v1/orders/{number}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], 1);
    assert_eq!(shown["needs_refund"], true);
    assert!(app.metrics().await.contains("order_late_payments_total 1"));
}

#[tokio::test]
async fn a_payment_after_cancellation_is_kept_and_flagged() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let token = app.token("u1", false);
    let cancelled = app
        .post(
            &format!("/api/v1/orders/{number}/cancel"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(cancelled.status().as_u16(), 200);

    app.publish(&paid_event(&number, "99.90", "n-late")).await;

    let order = app.wait_for_status(&number, OrderStatus::Paid).await;
    assert!(order.needs_refund);
}

#[tokio::test]
async fn a_closed_event_times_an_unpaid_order_out() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    let mut params = paid_params(&number, "99.90", "n-close");
    params.insert("trade_status".into(), "TRADE_CLOSED".into());

    app.publish(&event_from(params)).await;

    app.wait_for_status(&number, OrderStatus::TimedOut).await;
}

#[tokio::test]
async fn refund_events_move_the_order_to_partially_refunded_then_refunded() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    app.publish(&paid_event(&number, "99.90", "n-1")).await;
    app.wait_for_status(&number, OrderStatus::Paid).await;
    let refund = |fee: &str, out_biz_no: &str, notify_id: &str, status: &str| {
        let mut params = paid_params(&number, "99.90", notify_id);
        params.insert("refund_fee".into(), fee.into());
        params.insert("gmt_refund".into(), "2026-11-26 10:00:00.123".into());
        params.insert("out_biz_no".into(), out_biz_no.into());
        params.insert("trade_status".into(), status.into());
        event_from(params)
    };

    app.publish(&refund("10.00", "R1", "n-2", "TRADE_SUCCESS"))
        .await;
    let partial = app
        .wait_for_status(&number, OrderStatus::PartiallyRefunded)
        .await;
    app.publish(&refund("99.90", "R2", "n-3", "TRADE_CLOSED"))
        .await;
    let full = app.wait_for_status(&number, OrderStatus::Refunded).await;

    assert_eq!(partial.refunded_amount.to_string(), "10.00");
    assert_eq!(full.refunded_amount.to_string(), "99.90");
}

#[tokio::test]
async fn events_wait_while_the_database_is_down_and_apply_when_it_is_back() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    // Take the database away: refuse new connections and end the existing ones.
    app.stack.database.refuse_connections().await;

    app.publish(&paid_event(&number, "99.90", "n-1")).await;
    app.wait_until("the event is held", || async {
        app.state
            .metrics
            .render()
            .contains("order_consumer_held_events 1")
    })
    .await;
    // Held, not handed back: RabbitMQ's delivery count (and so the delivery limit) does not move
    // however long the outage lasts. The old consumer had requeued it five times by now.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let metrics = app.state.metrics.render();
    assert!(!metrics.contains("outcome=\"requeued\""), "{metrics}");
    assert!(!metrics.contains("outcome=\"dead_lettered\""), "{metrics}");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 503);
    app.stack.database.allow_connections().await;

    let order = app.wait_for_status(&number, OrderStatus::Paid).await;
    assert_eq!(
        order.trade_no.as_deref(),
        Some("2026112622001400000000000001")
    );
    assert!(
        app.state
            .metrics
            .render()
            .contains("order_consumer_held_events 0")
    );
    let _ = APP_ID;
}

/// Reads one sample of the metrics text, 0 when absent.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_burst_of_events_is_applied_in_batches_with_the_same_outcomes_as_one_by_one() {
    let mut app = spawn_app().await;
    let (blocker, _) = app.order("u1", &[1], "99.90").await;
    let mut numbers = Vec::new();
    for i in 0..24 {
        let (number, _) = app.order(&format!("u{i}"), &[1], "99.90").await;
        numbers.push(number);
    }
    let (mismatched, _) = app.order("u-mismatch", &[1], "99.90").await;
    // Hold the blocker's row so the batch worker waits on it while the burst piles up in the
    // consumer's prefetch window; the burst is then taken as batches.
    let mut holder = app.conn().await;
    diesel::sql_query("BEGIN")
        .execute(&mut holder)
        .await
        .unwrap();
    diesel::sql_query(format!(
        "SELECT 1 FROM orders WHERE out_trade_no = '{blocker}' FOR UPDATE"
    ))
    .execute(&mut holder)
    .await
    .unwrap();
    app.publish(&paid_event(&blocker, "99.90", "n-blocker-1"))
        .await;
    app.publish(&paid_event(&blocker, "99.90", "n-blocker-2"))
        .await;

    for (i, number) in numbers.iter().enumerate() {
        app.publish(&paid_event(number, "99.90", &format!("n-{i}")))
            .await;
    }
    // In the same burst: a duplicate, an unknown order and a wrong amount.
    app.publish(&paid_event(&numbers[0], "99.90", "n-0")).await;
    app.publish(&paid_event("NOSUCHORDER", "99.90", "n-unknown"))
        .await;
    app.publish(&paid_event(&mismatched, "1.00", "n-mismatch"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    diesel::sql_query("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();

    for number in &numbers {
        app.wait_for_status(number, OrderStatus::Paid).await;
    }
    app.wait_for_status(&blocker, OrderStatus::Paid).await;
    app.wait_until("every event is consumed", || async {
        let metrics = app.metrics().await;
        sample(
            &metrics,
            "order_events_total{kind=\"order.paid\",outcome=\"applied\"}",
        ) == 25.0
            && sample(
                &metrics,
                "order_events_total{kind=\"order.paid\",outcome=\"duplicate\"}",
            ) == 1.0
            && sample(
                &metrics,
                "order_events_total{kind=\"order.paid\",outcome=\"unchanged\"}",
            ) == 1.0
            && sample(
                &metrics,
                "order_events_total{kind=\"order.paid\",outcome=\"dead_lettered\"}",
            ) == 2.0
    })
    .await;
    let metrics = app.metrics().await;
    let batches = sample(&metrics, "order_consumer_batch_size_count");
    let batched = sample(&metrics, "order_consumer_batch_size_sum");
    assert!(
        batches >= 1.0 && batched > batches,
        "some events were applied together: {batched} events in {batches} batches"
    );
    // Each batch's transaction is timed, once per batch.
    assert_eq!(
        sample(&metrics, "order_consumer_batch_seconds_count"),
        batches
    );
    assert!(sample(&metrics, "order_consumer_batch_seconds_sum") > 0.0);
    for number in &numbers {
        assert_eq!(app.event_count(number).await, 1, "{number}");
    }
    assert_eq!(app.order_row(&mismatched).await.status, OrderStatus::Unpaid);
    let mut reasons = vec![
        dead_letter_reason(&app).await,
        dead_letter_reason(&app).await,
    ];
    reasons.sort();
    assert!(reasons[0].starts_with("amount_mismatch"), "{reasons:?}");
    assert!(reasons[1].starts_with("unknown_order"), "{reasons:?}");

    // Every delivery was acked (batches with one multiple ack): once the consumer's channel is
    // closed, nothing unacked is handed back to the queue.
    let server = app.server.take().unwrap();
    app.shutdown.cancel();
    let _ = server.await;
    let queue = app
        .channel
        .queue_declare(
            app.stack.topology.queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(queue.message_count(), 0, "deliveries left unacked");
}

#[tokio::test]
async fn a_batch_of_payments_in_bulk_has_the_outcomes_of_one_by_one() {
    let app = spawn_app().await;
    let (fresh, _) = app.order("u1", &[1], "99.90").await;
    let (paid_twice, _) = app.order("u2", &[1], "99.90").await;
    let (timed_out, _) = app.order("u3", &[1], "99.90").await;
    let (paid_before, _) = app.order("u4", &[1], "99.90").await;
    let (mismatched, _) = app.order("u5", &[1], "99.90").await;
    diesel::sql_query("UPDATE orders SET status = $1 WHERE out_trade_no = $2")
        .bind::<diesel::sql_types::SmallInt, _>(OrderStatus::TimedOut.code())
        .bind::<diesel::sql_types::Text, _>(&timed_out)
        .execute(&mut app.conn().await)
        .await
        .unwrap();
    let earlier = Facts::from_event(&paid_event(&paid_before, "99.90", "n-before"));
    let mut conn = app.conn().await;
    payments::apply_payment(&mut conn, &earlier, Utc::now())
        .await
        .unwrap()
        .unwrap();

    let facts: Vec<Facts> = [
        (fresh.as_str(), "99.90", "n-fresh"),
        (fresh.as_str(), "99.90", "n-fresh"),
        (paid_twice.as_str(), "99.90", "n-twice-1"),
        (paid_twice.as_str(), "99.90", "n-twice-2"),
        (timed_out.as_str(), "99.90", "n-late"),
        (paid_before.as_str(), "99.90", "n-before"),
        (paid_before.as_str(), "99.90", "n-before-again"),
        (mismatched.as_str(), "1.00", "n-mismatch"),
        ("NOSUCHORDER", "99.90", "n-unknown"),
    ]
    .into_iter()
    .map(|(number, total, notify_id)| Facts::from_event(&paid_event(number, total, notify_id)))
    .collect();
    let apply = async |conn: &mut diesel_async::AsyncPgConnection| {
        use diesel_async::AsyncConnection as _;
        conn.transaction::<_, order::repository::RepoError, _>(async |conn| {
            payments::apply_payments_in(conn, &facts, Utc::now()).await
        })
        .await
        .unwrap()
    };

    let outcomes = apply(&mut conn).await;

    use payments::Rejection;
    assert_eq!(
        outcomes,
        vec![
            Ok(Outcome::Paid),
            Ok(Outcome::Duplicate),
            Ok(Outcome::Paid),
            Ok(Outcome::Unchanged),
            Ok(Outcome::LatePaid),
            Ok(Outcome::Duplicate),
            Ok(Outcome::Unchanged),
            Err(Rejection::AmountMismatch {
                expected: "99.90".parse().unwrap(),
                received: "1.00".parse().unwrap(),
            }),
            Err(Rejection::UnknownOrder("NOSUCHORDER".into())),
        ]
    );
    let late = app.order_row(&timed_out).await;
    assert_eq!(late.status, OrderStatus::Paid);
    assert!(late.needs_refund);
    assert!(!app.order_row(&fresh).await.needs_refund);
    assert_eq!(app.order_row(&mismatched).await.status, OrderStatus::Unpaid);
    assert_eq!(app.event_count(&fresh).await, 1);
    assert_eq!(app.event_count(&paid_twice).await, 2);
    assert_eq!(app.event_count(&paid_before).await, 2);

    // The same batch again changes nothing: every stored event is a duplicate.
    let again = apply(&mut conn).await;
    assert_eq!(
        again[..7]
            .iter()
            .filter(|o| **o == Ok(Outcome::Duplicate))
            .count(),
        7,
        "{again:?}"
    );
    assert_eq!(again[7..], outcomes[7..]);
}

#[tokio::test]
async fn the_batch_statements_are_prepared_once_per_connection_whatever_the_batch_size() {
    use diesel::QueryableByName;
    use order::repository::{self, NewEvent, PaidTransition};

    #[derive(QueryableByName)]
    struct Prepared {
        #[diesel(sql_type = diesel::sql_types::Text)]
        statement: String,
    }

    let app = spawn_app().await;
    let mut numbers = Vec::new();
    for user in 0..3 {
        numbers.push(app.order(&format!("u{user}"), &[1], "99.90").await.0);
    }
    let mut conn = app.conn().await;
    let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let orders = repository::lock_orders(&mut conn, &numbers).await.unwrap();
    let now = Utc::now();
    let params = serde_json::json!({ "trade_status": "TRADE_SUCCESS" });
    let event = |order: &repository::Order| NewEvent {
        event_id: uuid::Uuid::new_v4(),
        order_id: order.id,
        kind: "paid",
        trade_no: "2026112622001400000000000001",
        trade_status: "TRADE_SUCCESS",
        total_amount: order.total_amount,
        params: &params,
        received_at: now,
    };
    let paid = |order: &repository::Order| PaidTransition {
        id: order.id,
        from: OrderStatus::Unpaid,
        trade_no: "2026112622001400000000000001",
        pay_time: now,
        needs_refund: false,
    };

    // A batch of one, then a batch of two: one statement text each, prepared the first time.
    for batch in [&orders[..1], &orders[1..]] {
        let events: Vec<_> = batch.iter().map(event).collect();
        let stored = repository::insert_events(&mut conn, &events).await.unwrap();
        assert_eq!(stored.len(), batch.len());
        let again = repository::insert_events(&mut conn, &events).await.unwrap();
        assert!(again.is_empty(), "a stored event is a duplicate");
        let transitions: Vec<_> = batch.iter().map(paid).collect();
        let mut moved = repository::set_paid_many(&conn, &transitions, now)
            .await
            .unwrap();
        // RETURNING follows the join's order, not the arrays': compare as sets.
        moved.sort_unstable();
        let mut expected: Vec<i64> = batch.iter().map(|o| o.id).collect();
        expected.sort_unstable();
        assert_eq!(moved, expected);
    }

    let prepared: Vec<Prepared> = diesel::sql_query(
        "SELECT statement FROM pg_prepared_statements \
          WHERE statement LIKE 'INSERT INTO payment_events%' \
             OR statement LIKE 'UPDATE orders AS o%'",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        prepared.len(),
        2,
        "{:?}",
        prepared.iter().map(|p| &p.statement).collect::<Vec<_>>()
    );
    for number in numbers {
        assert_eq!(app.order_row(number).await.status, OrderStatus::Paid);
    }
}
