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
