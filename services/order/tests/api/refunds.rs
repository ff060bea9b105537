//! Refunds: admin only, full and partial, retries reuse the request number, an unknown outcome
//! is settled by QueryRefund.

use std::time::Duration;

use order::domain::OrderStatus;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestConfig, spawn_app, spawn_app_with};

/// An order paid through the sandbox (cashier, pay, return page).
async fn paid_order(app: &TestApp, courses: &[i64], total: &str) -> String {
    let (number, link) = app.order("u1", courses, total).await;
    app.open_cashier(&link).await;
    app.buyer_pays(&number).await;
    let body: Value = app
        .get(&format!("/order/success/?out_trade_no={number}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["code"], 1, "{body}");
    number
}

async fn refund(app: &TestApp, number: &str, body: Option<Value>) -> reqwest::Response {
    app.post(
        &format!("/api/v1/orders/{number}/refunds"),
        Some(&app.token("admin", true)),
        body,
    )
    .await
}

#[tokio::test]
async fn only_admins_refund() {
    let app = spawn_app().await;
    let number = paid_order(&app, &[1], "99.90").await;

    let response = app
        .post(
            &format!("/api/v1/orders/{number}/refunds"),
            Some(&app.token("u1", false)),
            None,
        )
        .await;
    let listing = app
        .get(
            &format!("/api/v1/orders/{number}/refunds"),
            Some(&app.token("u1", false)),
        )
        .await;

    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(listing.status().as_u16(), 403);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn a_full_refund() {
    let app = spawn_app().await;
    let number = paid_order(&app, &[1], "99.90").await;

    let response = refund(&app, &number, None).await;

    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["refund"]["status"], "succeeded");
    assert_eq!(body["refund"]["amount"], "99.90");
    assert_eq!(body["order"]["status"], 5);
    assert_eq!(body["order"]["refunded_amount"], "99.90");
    let trade = app.sandbox_trade(&number).await;
    assert_eq!(trade["refunded_amount"], "99.90");
    assert_eq!(trade["status"], "TRADE_CLOSED");

    let again = refund(&app, &number, None).await;
    assert_eq!(again.status().as_u16(), 409);
}

#[tokio::test]
async fn partial_refunds_then_the_rest() {
    let app = spawn_app().await;
    let number = paid_order(&app, &[1, 2], "298.90").await;

    let first = refund(
        &app,
        &number,
        Some(json!({"amount": "100.00", "reason": "one course"})),
    )
    .await;
    let too_much = refund(&app, &number, Some(json!({"amount": "198.91"}))).await;
    let rest = refund(&app, &number, Some(json!({"amount": "198.90"}))).await;

    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["order"]["status"], 4);
    assert_eq!(first["order"]["status_name"], "partially_refunded");
    assert_eq!(first["refund"]["reason"], "one course");
    assert_eq!(too_much.status().as_u16(), 400);
    assert_eq!(rest.status().as_u16(), 201);
    let rest: Value = rest.json().await.unwrap();
    assert_eq!(rest["order"]["status"], 5);
    assert_eq!(rest["order"]["refunded_amount"], "298.90");

    let listing: Value = app
        .get(
            &format!("/api/v1/orders/{number}/refunds"),
            Some(&app.token("admin", true)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["items"].as_array().unwrap().len(), 2);
    let trade = app.sandbox_trade(&number).await;
    assert_eq!(trade["refunds"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unpaid_orders_and_bad_bodies_are_refused() {
    let app = spawn_app().await;
    let (unpaid, _) = app.order("u1", &[1], "99.90").await;
    let paid = paid_order(&app, &[1], "99.90").await;

    let not_paid = refund(&app, &unpaid, None).await;
    let zero = refund(&app, &paid, Some(json!({"amount": "0.00"}))).await;
    let unknown_field = refund(&app, &paid, Some(json!({"amount": "1.00", "sum": 1}))).await;
    let missing = refund(&app, "NOSUCH", None).await;
    // Past the 64 KiB limit: a 413 in the API's envelope, not actix's plain-text one.
    let oversize = app
        .client
        .post(app.url(&format!("/api/v1/orders/{paid}/refunds")))
        .header("authorization", format!("jwt {}", app.token("admin", true)))
        .header("content-type", "application/json")
        .body(format!(r#"{{"amount":"1.00"{}}}"#, " ".repeat(65 * 1024)))
        .send()
        .await
        .unwrap();

    assert_eq!(not_paid.status().as_u16(), 409);
    assert_eq!(zero.status().as_u16(), 400);
    assert_eq!(unknown_field.status().as_u16(), 400);
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(oversize.status().as_u16(), 413);
    let envelope: Value = oversize.json().await.unwrap();
    assert_eq!(envelope["code"], 0);
    assert_eq!(
        envelope["msg"],
        "the body is larger than the 64 KiB allowed"
    );
    assert_eq!(app.order_row(&paid).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn a_refund_whose_outcome_is_unknown_is_settled_by_query_refund() {
    // The order service gives up after 1 s; the sandbox answers after 2 s, having refunded.
    let app = spawn_app_with(TestConfig {
        gateway_timeout: "1s".into(),
        ..TestConfig::default()
    })
    .await;
    let number = paid_order(&app, &[1], "99.90").await;
    app.sandbox_faults(Some(json!({"api": {"timeout_ms": 2000}})))
        .await;

    let response = refund(&app, &number, None).await;

    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["refund"]["status"], "pending");
    let out_request_no = body["refund"]["out_request_no"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(body["order"]["status"], 1);
    // Another refund must wait for this one.
    let second = refund(&app, &number, Some(json!({"amount": "1.00"}))).await;
    assert_eq!(second.status().as_u16(), 409);

    app.wait_until("the sandbox has refunded", || async {
        app.sandbox_trade(&number).await["refunds"]
            .as_array()
            .is_some_and(|r| r.len() == 1)
    })
    .await;
    app.sandbox_faults(None).await;
    let retried = app
        .post(
            &format!("/api/v1/refunds/{out_request_no}/retry"),
            Some(&app.token("admin", true)),
            None,
        )
        .await;

    assert_eq!(retried.status().as_u16(), 200);
    let body: Value = retried.json().await.unwrap();
    assert_eq!(body["refund"]["status"], "succeeded");
    assert_eq!(body["refund"]["out_request_no"], out_request_no.as_str());
    assert_eq!(body["order"]["status"], 5);
    let trade = app.sandbox_trade(&number).await;
    assert_eq!(
        trade["refunds"].as_array().unwrap().len(),
        1,
        "refunded once"
    );
}

#[tokio::test]
async fn a_refund_that_never_reached_alipay_is_resent_with_the_same_number() {
    let app = spawn_app_with(TestConfig {
        gateway_attempts: 1,
        ..TestConfig::default()
    })
    .await;
    let number = paid_order(&app, &[1], "99.90").await;
    app.sandbox_faults(Some(json!({"api": {"fail_5xx": 1}})))
        .await;

    let response = refund(&app, &number, Some(json!({"amount": "9.90"}))).await;

    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    let out_request_no = body["refund"]["out_request_no"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        app.sandbox_trade(&number).await["refunds"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The sweeper settles pending refunds: QueryRefund (unknown) → Refund again, same number.
    let report = order::expiry::sweep_once(&app.state, "test").await.unwrap();

    assert_eq!(report.refunds_settled, 1);
    let trade = app.sandbox_trade(&number).await;
    let refunds = trade["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["out_request_no"], out_request_no.as_str());
    let order = app.order_row(&number).await;
    assert_eq!(order.status, OrderStatus::PartiallyRefunded);
    assert_eq!(order.refunded_amount.to_string(), "9.90");
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn retrying_an_unknown_refund_is_404_and_a_settled_one_is_a_no_op() {
    let app = spawn_app().await;
    let number = paid_order(&app, &[1], "99.90").await;
    let done: Value = refund(&app, &number, Some(json!({"amount": "1.00"})))
        .await
        .json()
        .await
        .unwrap();
    let out_request_no = done["refund"]["out_request_no"].as_str().unwrap();
    let admin = app.token("admin", true);

    let unknown = app
        .post("/api/v1/refunds/RNOSUCH/retry", Some(&admin), None)
        .await;
    let settled = app
        .post(
            &format!("/api/v1/refunds/{out_request_no}/retry"),
            Some(&admin),
            None,
        )
        .await;

    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(settled.status().as_u16(), 200);
    assert_eq!(
        app.sandbox_trade(&number).await["refunds"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
