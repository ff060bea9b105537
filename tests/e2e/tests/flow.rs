//! A buyer's payment through the whole system, and the ways a notification can go wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::{System, SystemConfig, eventually};
use serde_json::json;

const BUYER: &str = "42";

/// Every delivery attempt of every notification the sandbox sent for a trade.
fn attempts(trade: &serde_json::Value) -> Vec<serde_json::Value> {
    trade["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|notification| {
            notification["attempts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// Attempts the merchant answered `success`.
fn acknowledged_copies(trade: &serde_json::Value) -> usize {
    attempts(trade)
        .iter()
        .filter(|attempt| attempt["acknowledged"] == true)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_becomes_paid_through_the_notification() {
    // Arrange
    let system = System::start().await;
    let out_trade_no = system.buy(BUYER).await;
    assert_eq!(system.status_of(BUYER, &out_trade_no).await, 0);

    // Act: the buyer pays; Alipay notifies; the receiver publishes; the consumer applies it.
    system.pay(&out_trade_no).await;

    // Assert
    system.wait_until_paid(BUYER, &out_trade_no).await;
    let order = system.order_of(BUYER, &out_trade_no).await;
    let trade = system.trade(&out_trade_no).await;
    assert_eq!(order["trade_no"], trade["trade_no"], "{order} vs {trade}");
    assert!(order["pay_time"].is_string(), "{order}");
    eventually("Alipay was answered `success`", || async {
        let trade = system.trade(&out_trade_no).await;
        acknowledged_copies(&trade) >= 1
    })
    .await;
    assert_eq!(system.payment_events(&out_trade_no).await, 1);
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_notification_is_recovered_from_the_return_page() {
    // Arrange: Alipay's notification never arrives.
    let system = System::start().await;
    let out_trade_no = system.buy(BUYER).await;
    system.faults(json!({"notify": {"drop": 1}})).await;

    // Act: the buyer pays and the browser comes back with the signed return parameters.
    let return_url = system.pay(&out_trade_no).await;
    let query = return_url.split_once('?').map(|(_, q)| q).unwrap();
    let reply: serde_json::Value = system
        .http
        .get(system.order_url(&format!("/order/success/?{query}")))
        .header("authorization", format!("jwt {}", system.token(BUYER)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Assert: the return page asked Alipay (QueryTrade) and the order is paid.
    assert_eq!(reply["code"], 1, "{reply}");
    assert_eq!(system.status_of(BUYER, &out_trade_no).await, 1);
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_notification_is_recovered_by_the_expiry_sweep() {
    // Arrange: a sweep every 200 ms, and no notification.
    let system = System::start_with(SystemConfig {
        sweep_interval: "200ms",
        ..SystemConfig::default()
    })
    .await;
    let out_trade_no = system.buy(BUYER).await;
    system.faults(json!({"notify": {"drop": 1}})).await;

    // Act: paid at Alipay, but nobody tells the order service.
    system.pay(&out_trade_no).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(system.status_of(BUYER, &out_trade_no).await, 0);

    // Assert: at expiry the sweep asks Alipay before closing, and finds it paid.
    system.expire_now(&out_trade_no).await;
    system.wait_until_paid(BUYER, &out_trade_no).await;
    let order = system.order_of(BUYER, &out_trade_no).await;
    assert_ne!(order["needs_refund"], true, "{order}");
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_is_closed_at_expiry() {
    // Arrange
    let system = System::start_with(SystemConfig {
        sweep_interval: "200ms",
        ..SystemConfig::default()
    })
    .await;
    let out_trade_no = system.buy(BUYER).await;

    // Act: nobody pays before the order's time runs out.
    system.expire_now(&out_trade_no).await;
    eventually("the order timed out", || async {
        system.status_of(BUYER, &out_trade_no).await == 3
    })
    .await;

    // Assert: the trade was closed at Alipay too, so a late payment cannot happen there.
    let trade = system.trade(&out_trade_no).await;
    assert_eq!(trade["status"], "TRADE_CLOSED", "{trade}");
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_sent_eight_times_pays_once() {
    // Arrange: every notification goes out eight times with the same notify_id.
    let system = System::start().await;
    let out_trade_no = system.buy(BUYER).await;
    system.faults(json!({"notify": {"repeat": 8}})).await;

    // Act
    system.pay(&out_trade_no).await;

    // Assert: all eight were answered `success`, one transition happened, one event stored.
    system.wait_until_paid(BUYER, &out_trade_no).await;
    eventually("all eight copies were acknowledged", || async {
        let trade = system.trade(&out_trade_no).await;
        acknowledged_copies(&trade) >= 8
    })
    .await;
    assert_eq!(system.payment_events(&out_trade_no).await, 1);
    assert_eq!(system.dead_letters().await, 0);
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_notification_never_pays() {
    // Arrange: notifications carry a signature of other content.
    let system = System::start().await;
    let out_trade_no = system.buy(BUYER).await;
    system
        .faults(json!({"notify": {"tamper_sign": true}}))
        .await;

    // Act
    system.pay(&out_trade_no).await;

    // Assert: the receiver refused it (Alipay saw `fail`), and the order is still unpaid.
    eventually("the forged notification was refused", || async {
        let trade = system.trade(&out_trade_no).await;
        attempts(&trade)
            .iter()
            .any(|attempt| attempt["http_status"] == 400)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(system.status_of(BUYER, &out_trade_no).await, 0);
    assert_eq!(system.payment_events(&out_trade_no).await, 0);
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_that_does_not_verify_makes_the_order_service_ask_alipay_at_once() {
    // Arrange: the sweeper runs; every notification arrives damaged (its signature fails).
    let system = System::start_with(SystemConfig {
        sweep_interval: "300ms",
        ..SystemConfig::default()
    })
    .await;
    let out_trade_no = system.buy(BUYER).await;
    system
        .faults(json!({"notify": {"tamper_sign": true}}))
        .await;

    // Act: the buyer pays; no notification can be trusted, and the order is minutes away from
    // its first scheduled query.
    system.pay(&out_trade_no).await;

    // Assert: the receiver's hint made the order service ask Alipay now; the signed answer paid
    // the order, once, and nothing was dead-lettered.
    system.wait_until_paid(BUYER, &out_trade_no).await;
    assert_eq!(system.payment_events(&out_trade_no).await, 1);
    assert_eq!(system.dead_letters().await, 0);
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_mode_with_aes_pays_refunds_and_survives_a_rotation_through_every_service() {
    // Arrange: every part in certificate mode with AES content encryption (TEST-ONLY PKI).
    let system = System::start_with(SystemConfig {
        certificate_mode: true,
        ..SystemConfig::default()
    })
    .await;
    let before = system.buy(BUYER).await;

    // Act 1: a payment notified and a refund answered under Alipay's first certificate.
    system.pay(&before).await;
    system.wait_until_paid(BUYER, &before).await;
    let refund = system.refund(&before, "10.00").await;

    // Act 2: Alipay rotates its certificate; the next payment's notification and every answer
    // carry the new SN, which the gateway downloads, checks against the root and trusts, and the
    // receiver gets from the gateway and checks against its own root.
    let after = system.buy("buyer-2").await;
    system.stack.sandbox_api.rotate_alipay_cert().await.unwrap();
    system.pay(&after).await;

    // Assert
    assert_eq!(refund, 201);
    system.wait_until_paid("buyer-2", &after).await;
    let order = system.order_of(BUYER, &before).await;
    assert_eq!(order["status"], 4, "{order}");
    assert_eq!(order["refunded_amount"], "10.00");
    for out_trade_no in [&before, &after] {
        let trade = system.trade(out_trade_no).await;
        assert!(
            attempts(&trade)
                .iter()
                .all(|attempt| attempt["http_status"] == 200),
            "every notification verified at once: {trade}"
        );
    }
    assert_eq!(system.payment_events(&after).await, 1);
    assert_eq!(system.dead_letters().await, 0);
    system.shut_down().await;
}
