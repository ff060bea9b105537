//! The whole path of one payment with every service real: order → gateway → sandbox (the buyer
//! pays) → notification → notify-receiver → RabbitMQ → the consumer → paid.

use order::domain::OrderStatus;
use serde_json::Value;

use crate::helpers::{TestConfig, spawn_app_with};

#[tokio::test]
async fn a_payment_travels_from_the_cashier_to_a_paid_order() {
    let app = spawn_app_with(TestConfig {
        notify_receiver: true,
        ..TestConfig::default()
    })
    .await;
    let (number, link) = app.order("u1", &[3], "299.50").await;
    app.open_cashier(&link).await;

    let paid = app.buyer_pays(&number).await;

    let order = app.wait_for_status(&number, OrderStatus::Paid).await;
    assert_eq!(
        order.trade_no.as_deref(),
        paid["trade"]["trade_no"].as_str()
    );
    assert!(
        app.metrics()
            .await
            .contains("order_orders_paid_total{source=\"event\"} 1")
    );
    // Alipay was told `success` by the receiver: no retries pending.
    app.wait_until("the notification is acknowledged", || async {
        let trade = app.sandbox_trade(&number).await;
        trade["notifications"][0]["state"] == "acknowledged"
    })
    .await;
    let page: Value = app
        .get(&format!("/order/success/?out_trade_no={number}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["code"], 1);
}

#[tokio::test]
async fn a_refund_notification_comes_back_as_an_event_and_changes_nothing_twice() {
    let app = spawn_app_with(TestConfig {
        notify_receiver: true,
        ..TestConfig::default()
    })
    .await;
    let (number, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&number).await;
    app.wait_for_status(&number, OrderStatus::Paid).await;

    let response = app
        .post(
            &format!("/api/v1/orders/{number}/refunds"),
            Some(&app.token("admin", true)),
            Some(serde_json::json!({"amount": "9.90"})),
        )
        .await;

    assert_eq!(response.status().as_u16(), 201);
    app.wait_until("the refund event is applied", || async {
        app.metrics()
            .await
            .contains("order_events_total{kind=\"order.refunded\",outcome=\"applied\"} 1")
    })
    .await;
    let order = app.order_row(&number).await;
    assert_eq!(order.status, OrderStatus::PartiallyRefunded);
    assert_eq!(order.refunded_amount.to_string(), "9.90");
    assert_eq!(app.event_count(&number).await, 2);
}
