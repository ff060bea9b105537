//! Tests that stop shared infrastructure (the local RabbitMQ). `scripts/test.sh` runs this binary
//! on its own, after every other test, one test at a time; each test brings the broker back even
//! when it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use e2e::{System, eventually};

/// Stops the RabbitMQ application on this node; starts it again when dropped (even on panic).
struct BrokerOutage;

impl BrokerOutage {
    fn begin() -> Self {
        rabbitmqctl("stop_app");
        Self
    }

    fn end(self) {
        // Drop does the work.
    }
}

impl Drop for BrokerOutage {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
        rabbitmqctl("await_startup");
    }
}

fn rabbitmqctl(command: &str) {
    let status = Command::new("rabbitmqctl")
        .args(["-q", command])
        .status()
        .expect("rabbitmqctl must be installed for this test");
    assert!(status.success(), "rabbitmqctl {command} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_or_doubled_when_rabbitmq_restarts_and_the_order_service_dies() {
    // Arrange: twelve buyers with an unpaid order each.
    let mut system = System::start().await;
    let mut orders = Vec::new();
    for buyer in 1..=12 {
        let buyer = buyer.to_string();
        let out_trade_no = system.buy(&buyer).await;
        orders.push((buyer, out_trade_no));
    }

    // Act 1: four payments in calm weather.
    for (_, out_trade_no) in &orders[0..4] {
        system.pay(out_trade_no).await;
    }

    // Act 2: RabbitMQ goes away while four more are paid. The receiver cannot publish, so it
    // answers 503 and Alipay (the sandbox, on a fast clock) keeps retrying.
    let outage = BrokerOutage::begin();
    for (_, out_trade_no) in &orders[4..8] {
        system.pay(out_trade_no).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (buyer, out_trade_no) in &orders[4..8] {
        assert_eq!(system.status_of(buyer, out_trade_no).await, 0);
    }
    outage.end();

    // Act 3: the last four are paid and the order service is killed while their events flow,
    // then a new instance starts on the same queue and database.
    for (_, out_trade_no) in &orders[8..12] {
        system.pay(out_trade_no).await;
    }
    system.kill_order();
    system.restart_order().await;

    // Assert: every order is paid, each by exactly one recorded transition, nothing dead.
    for (buyer, out_trade_no) in &orders {
        system.wait_until_paid(buyer, out_trade_no).await;
    }
    for (_, out_trade_no) in &orders {
        assert_eq!(
            system.payment_events(out_trade_no).await,
            1,
            "order {out_trade_no} was applied more than once"
        );
    }
    eventually("every notification was finally acknowledged", || async {
        let mut all = true;
        for (_, out_trade_no) in &orders {
            let trade = system.trade(out_trade_no).await;
            all &= trade["notifications"]
                .as_array()
                .is_some_and(|list| list.iter().all(|n| n["state"] == "acknowledged"));
        }
        all
    })
    .await;
    assert_eq!(system.dead_letters().await, 0);
    system.shut_down().await;
}

/// Stops the local PostgreSQL server; starts it again when dropped (even on panic) and waits
/// until it answers.
struct DatabaseOutage;

impl DatabaseOutage {
    fn begin() -> Self {
        pg_ctlcluster("stop");
        Self
    }
}

impl Drop for DatabaseOutage {
    fn drop(&mut self) {
        pg_ctlcluster("start");
        for _ in 0..120 {
            let ready = Command::new("pg_isready")
                .args(["-h", "127.0.0.1", "-q"])
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// `pg_ctlcluster <version> main <action>`, for the one cluster this machine runs.
fn pg_ctlcluster(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("PostgreSQL's configuration must be in /etc/postgresql for this test")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .max()
        .expect("a PostgreSQL cluster");
    // No systemd here: act on the cluster directly. `stop` is a fast shutdown by default: every
    // session is ended at once, as in a crash of the server.
    let status = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .status()
        .expect("pg_ctlcluster must be installed for this test");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// Our side of an order, as the admin API shows it: (status, refunded amount).
async fn our_record(system: &System, out_trade_no: &str) -> Option<(i64, String)> {
    let body: serde_json::Value = system
        .http
        .get(system.order_url(&format!("/api/v1/orders/{out_trade_no}")))
        .header("authorization", format!("Bearer {}", system.admin_token()))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some((
        body["status"].as_i64()?,
        body["refunded_amount"].as_str()?.to_owned(),
    ))
}

/// What our record must be, given Alipay's (the sandbox's) record of the trade.
fn expected_from(trade: &serde_json::Value) -> (i64, String) {
    let refunded = trade["refunded_amount"]
        .as_str()
        .unwrap_or("0.00")
        .to_owned();
    let status = match (trade["status"].as_str(), refunded.as_str()) {
        (Some("TRADE_SUCCESS"), "0.00") => 1,
        (Some("TRADE_SUCCESS"), _) => 4,
        (Some("TRADE_CLOSED"), "0.00") => 2,
        (Some("TRADE_CLOSED"), _) => 5,
        _ => 0,
    };
    (status, refunded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_every_order_converges_to_alipays_record() {
    // Arrange: sixteen buyers; every notification is sent three times and out of order; the
    // sweeper (active sync) runs on a scaled schedule.
    let mut system = System::start_with(e2e::SystemConfig {
        sweep_interval: "500ms",
        order_env: vec![("SYNC_SCHEDULE", "3s,6s".into())],
        ..e2e::SystemConfig::default()
    })
    .await;
    system
        .faults(serde_json::json!({"notify": {"repeat": 3, "out_of_order": true}}))
        .await;
    let mut orders = Vec::new();
    for buyer in 1..=16 {
        let buyer = buyer.to_string();
        let out_trade_no = system.buy(&buyer).await;
        orders.push((buyer, out_trade_no));
    }

    // Act 1: four payments, two of them partly refunded, in calm weather.
    for (_, out_trade_no) in &orders[0..4] {
        system.pay(out_trade_no).await;
    }
    for (buyer, out_trade_no) in &orders[0..2] {
        system.wait_until_paid(buyer, out_trade_no).await;
        assert_eq!(system.refund(out_trade_no, "10.00").await, 201);
    }

    // Act 2: RabbitMQ restarts while four more are paid.
    let outage = BrokerOutage::begin();
    for (_, out_trade_no) in &orders[4..8] {
        system.pay(out_trade_no).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    outage.end();

    // Act 3: four more are paid and the order service is killed while their events flow.
    for (_, out_trade_no) in &orders[8..12] {
        system.pay(out_trade_no).await;
    }
    system.kill_order();
    system.restart_order().await;

    // Act 4: PostgreSQL is down for longer than the old consumer's 45 s window while the last
    // four are paid (and notified, and published, and delivered), and a buyer who orders then
    // is told to try again, with nothing half-made.
    let (course, price) = system.courses().await.remove(0);
    let outage = DatabaseOutage::begin();
    for (_, out_trade_no) in &orders[12..16] {
        system.pay(out_trade_no).await;
    }
    let (status, body) = system.request_pay_link("17", course, &price).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], 0, "{body}");
    tokio::time::sleep(Duration::from_secs(45)).await;
    drop(outage);
    // The order writers reconnect by themselves: the next buyer gets a link.
    let (status, body) = system.request_pay_link("17", course, &price).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        system
            .count("SELECT count(*) AS n FROM orders WHERE user_id = '17'")
            .await,
        1,
        "the order refused during the outage left nothing behind"
    );

    // Assert: every order equals Alipay's record of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (_, out_trade_no) in &orders {
        loop {
            let trade = system.trade(out_trade_no).await;
            let expected = expected_from(&trade);
            let ours = our_record(&system, out_trade_no).await;
            if ours.as_ref() == Some(&expected) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {out_trade_no}: ours {ours:?}, Alipay's {expected:?} ({trade})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // No transition twice: one payment and at most one refund notification applied per order
    // (the refund's own answer settled the refund first; its notification then changes nothing
    // but is stored once).
    let paid_twice = system
        .count(
            "SELECT count(*) AS n FROM (SELECT order_id FROM payment_events \
             WHERE kind = 'paid' GROUP BY order_id HAVING count(*) > 1) AS doubled",
        )
        .await;
    assert_eq!(paid_twice, 0, "an order was paid by two notifications");
    assert_eq!(
        system.count("SELECT count(*) AS n FROM early_events").await,
        0,
        "an event is still waiting"
    );
    assert_eq!(system.dead_letters().await, 0);
    // And the day's bill agrees with us to the fen.
    let numbers: Vec<String> = orders.iter().map(|(_, n)| n.clone()).collect();
    let report = system.reconcile_as_yesterday(&numbers).await;
    assert_eq!(report.run.status, "ok", "{:?}", report.run.reason);
    assert_eq!(report.run.bill_payments, 16);
    assert_eq!(report.run.bill_refunds, 2);
    assert_eq!(report.run.differences, 0, "{:?}", report.items);
    system.shut_down().await;
}
