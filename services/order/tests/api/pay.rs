//! `POST /order/pay/`: the original frontend's contract, and every way it can be refused.

use chrono::Utc;
use order::domain::OrderStatus;
use serde_json::{Value, json};

use crate::helpers::{TestConfig, closed_port, spawn_app, spawn_app_with};

fn body(total: Value, courses: Value) -> Value {
    json!({"subject": "Rust 课程", "total_amount": total, "pay_type": 1, "course_list": courses})
}

#[tokio::test]
async fn an_order_gets_a_signed_pay_link_and_is_stored_unpaid() {
    let app = spawn_app().await;
    let token = app.token("u1", false);

    let response = app.pay(&token, body(json!("298.90"), json!([1, 2]))).await;

    assert_eq!(response.status().as_u16(), 201);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["code"], 1);
    assert_eq!(envelope["msg"], "ok");
    let link = envelope["data"].as_str().unwrap();
    assert!(link.starts_with(&app.sandbox.gateway_url()), "{link}");
    assert!(link.contains("sign="), "{link}");
    assert!(link.contains("time_expire"), "{link}");

    let orders: Value = app
        .get("/api/v1/orders", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let number = orders["items"][0]["out_trade_no"].as_str().unwrap();
    let order = app.order_row(number).await;
    assert_eq!(order.status, OrderStatus::Unpaid);
    assert_eq!(order.user_id, "u1");
    assert_eq!(order.total_amount.to_string(), "298.90");
    assert_eq!(order.trade_no, None);
    let ttl = order.expires_at - order.created_at;
    assert_eq!(ttl.num_minutes(), 30);

    // The link really opens Alipay's cashier with the order's amount.
    app.open_cashier(link).await;
    let trade = app.sandbox_trade(number).await;
    assert_eq!(trade["total_amount"], "298.90");
    assert_eq!(trade["status"], "WAIT_BUYER_PAY");
}

#[tokio::test]
async fn a_total_sent_as_a_json_number_is_read_exactly() {
    let app = spawn_app().await;

    let response = app
        .pay(&app.token("u1", false), body(json!(99.9), json!([1])))
        .await;

    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn a_wrong_total_is_400_and_stores_nothing() {
    let app = spawn_app().await;

    let response = app
        .pay(
            &app.token("u1", false),
            body(json!("298.89"), json!([1, 2])),
        )
        .await;

    assert_eq!(response.status().as_u16(), 400);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["code"], 0);
    assert!(
        envelope["msg"].as_str().unwrap().contains("298.90"),
        "{envelope}"
    );
    assert_eq!(app.order_count().await, 0);
}

#[tokio::test]
async fn unknown_inactive_duplicate_and_missing_courses_are_400() {
    let app = spawn_app().await;
    let token = app.token("u1", false);
    let retired = app.add_course("Retired", "10.00", false).await;

    let cases = [
        (body(json!("99.90"), json!([999])), "does not exist"),
        (body(json!("10.00"), json!([retired])), "not for sale"),
        (body(json!("199.80"), json!([1, 1])), "twice"),
        (body(json!("0.00"), json!([])), "at least one"),
        (
            json!({"subject": "x", "total_amount": "99.90", "pay_type": 1}),
            "course_list",
        ),
        (body(json!("99.999"), json!([1])), "decimal"),
        (body(json!("-99.90"), json!([1])), "negative"),
        (
            json!({"subject": " ", "total_amount": "99.90", "pay_type": 1, "course_list": [1]}),
            "subject",
        ),
        (
            json!({"subject": "x", "total_amount": "99.90", "pay_type": 9, "course_list": [1]}),
            "pay_type",
        ),
    ];
    for (request, expected) in cases {
        let response = app.pay(&token, request.clone()).await;
        assert_eq!(response.status().as_u16(), 400, "{request}");
        let envelope: Value = response.json().await.unwrap();
        assert_eq!(envelope["code"], 0);
        assert!(
            envelope["msg"].as_str().unwrap().contains(expected),
            "{request}: {envelope}"
        );
    }
    let malformed = app
        .client
        .post(app.url("/order/pay/"))
        .header("authorization", format!("jwt {token}"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    assert_eq!(app.order_count().await, 0);
}

#[tokio::test]
async fn wechat_pay_is_refused_clearly() {
    let app = spawn_app().await;

    let response = app
        .pay(
            &app.token("u1", false),
            json!({"subject": "x", "total_amount": "99.90", "pay_type": 2, "course_list": [1]}),
        )
        .await;

    assert_eq!(response.status().as_u16(), 400);
    let envelope: Value = response.json().await.unwrap();
    assert!(
        envelope["msg"].as_str().unwrap().contains("not supported"),
        "{envelope}"
    );
    assert_eq!(app.order_count().await, 0);
}

#[tokio::test]
async fn a_zero_total_is_paid_at_once() {
    let app = spawn_app().await;
    let free = app.add_course("Free intro", "0.00", true).await;
    let token = app.token("u1", false);

    let response = app.pay(&token, body(json!("0.00"), json!([free]))).await;

    assert_eq!(response.status().as_u16(), 201);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["code"], 1);
    assert_eq!(envelope["msg"], "paid");
    let orders: Value = app
        .get("/api/v1/orders", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["items"][0]["status"], 1);
    let number = orders["items"][0]["out_trade_no"].as_str().unwrap();
    let order = app.order_row(number).await;
    assert!(order.pay_time.is_some());
    // No Alipay round trip: the sandbox never heard of it.
    let trade = app
        .client
        .get(format!(
            "{}/sandbox/trades/{number}",
            app.sandbox.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(trade.status().as_u16(), 404);
}

#[tokio::test]
async fn gateway_down_is_503_and_leaves_a_cancelled_order_not_a_payable_one() {
    let app = spawn_app_with(TestConfig {
        gateway_url: Some(format!("http://127.0.0.1:{}", closed_port())),
        gateway_timeout: "1s".into(),
        ..TestConfig::default()
    })
    .await;
    let token = app.token("u1", false);

    let response = app.pay(&token, body(json!("99.90"), json!([1]))).await;

    assert_eq!(response.status().as_u16(), 503);
    let envelope: Value = response.json().await.unwrap();
    assert_eq!(envelope["code"], 0);
    let orders: Value = app
        .get("/api/v1/orders", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["total"], 1);
    assert_eq!(orders["items"][0]["status"], 2, "{orders}");
    assert_eq!(orders["items"][0]["trade_no"], Value::Null);
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains("order_gateway_errors_total{code=\"Unavailable\",rpc=\"create_page_pay\"}"),
        "{metrics}"
    );
    assert!(
        Utc::now()
            > app
                .order_row(orders["items"][0]["out_trade_no"].as_str().unwrap())
                .await
                .created_at
    );
}
