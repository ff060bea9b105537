//! `GET /order/success/`: the return page's check, with QueryTrade for unpaid orders.

use order::domain::OrderStatus;
use serde_json::Value;

use crate::helpers::{TestConfig, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_unpaid_order_says_so() {
    let app = spawn_app().await;
    let (number, _link) = app.order("u1", &[1], "99.90").await;

    let response = app
        .get(&format!("/order/success/?out_trade_no={number}"), None)
        .await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 0);
    assert_eq!(body["data"]["status"], 0);
}

#[tokio::test]
async fn a_payment_the_event_has_not_brought_yet_is_found_by_query_trade() {
    let app = spawn_app().await;
    let (number, link) = app.order("u1", &[2], "199.00").await;
    app.open_cashier(&link).await;
    let paid = app.buyer_pays(&number).await;
    // The browser comes back with Alipay's return parameters (not trusted: only read).
    let redirect = paid["redirect_url"].as_str().unwrap();
    let query = redirect.split_once('?').unwrap().1;

    let response = app.get(&format!("/order/success/?{query}"), None).await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 1, "{body}");
    assert_eq!(body["msg"], "paid");
    let order = app.order_row(&number).await;
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(
        order.trade_no.as_deref(),
        paid["trade"]["trade_no"].as_str()
    );
    assert!(order.pay_time.is_some());
    assert_eq!(app.event_count(&number).await, 1, "stored like an event");
    assert!(
        app.metrics()
            .await
            .contains("order_orders_paid_total{source=\"query\"} 1")
    );
}

#[tokio::test]
async fn alipay_is_asked_at_most_once_per_interval() {
    let app = spawn_app_with(TestConfig {
        success_query_interval: "1h".into(),
        ..TestConfig::default()
    })
    .await;
    let (number, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;

    let first: Value = app
        .get(&format!("/order/success/?out_trade_no={number}"), None)
        .await
        .json()
        .await
        .unwrap();
    app.buyer_pays(&number).await;
    let second: Value = app
        .get(&format!("/order/success/?out_trade_no={number}"), None)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(first["code"], 0);
    // Paid at Alipay, but the second visit came within the interval: no second query.
    assert_eq!(second["code"], 0);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Unpaid);
}

#[tokio::test]
async fn unknown_and_missing_numbers() {
    let app = spawn_app().await;

    let unknown = app.get("/order/success/?out_trade_no=NOPE123", None).await;
    let invalid = app.get("/order/success/?out_trade_no=a-b", None).await;
    let missing = app.get("/order/success/", None).await;

    assert_eq!(unknown.status().as_u16(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], 0);
    assert_eq!(invalid.status().as_u16(), 404);
    assert_eq!(missing.status().as_u16(), 400);
}

#[tokio::test]
async fn a_trade_closed_on_the_cashier_cancels_the_order_at_once() {
    let app = spawn_app().await;
    let (number, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;
    app.stack.sandbox_api.close(&number).await.unwrap();

    let response = app
        .get(&format!("/order/success/?out_trade_no={number}"), None)
        .await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 0, "{body}");
    assert_eq!(body["msg"], "the order was cancelled");
    assert_eq!(body["data"]["status"], 2);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Cancelled);
}
