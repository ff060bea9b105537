//! `POST /order/pay/`: the original frontend's contract, and every way it can be refused.

use chrono::Utc;
use diesel_async::RunQueryDsl as _;
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
    assert!(link.starts_with(&app.stack.sandbox.gateway_url()), "{link}");
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
        (
            body(json!("88.00"), json!([1])),
            "total_amount 88.00 does not match the courses' total 99.90",
        ),
        (body(json!("199.80"), json!([1, 1])), "twice"),
        (body(json!("0.00"), json!([])), "at least one"),
        (
            json!({"subject": "x", "total_amount": "99.90", "pay_type": 1}),
            "course_list",
        ),
        (body(json!("99.999"), json!([1])), "decimal"),
        (body(json!("-99.90"), json!([1])), "negative"),
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
    let trade = app.stack.sandbox_api.trade(number).await.unwrap_err();
    assert_eq!(trade.status, 404);
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

/// Sends `POST /order/pay/` with a body written byte for byte (a `json!` number would already
/// have gone through an f64).
async fn pay_raw(app: &crate::helpers::TestApp, token: &str, body: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/order/pay/"))
        .header("authorization", format!("jwt {token}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn json_number_totals_are_read_from_their_text_with_the_string_rule() {
    let app = spawn_app().await;
    let token = app.token("u1", false);
    // The demo catalog: 1 = 99.90, 2 = 199.00, 3 = 299.50 (598.40 together).
    let refused = [
        ("598.3999999999999999", "[1,2,3]"),
        ("598.4000000000000001", "[1,2,3]"),
        ("99.899999999999999", "[1]"),
        ("598.400", "[1,2,3]"),
        ("\"598.400\"", "[1,2,3]"),
        ("5.984e2", "[1,2,3]"),
        ("-99.90", "[1]"),
        ("100000000.01", "[1]"),
    ];
    for (total, courses) in refused {
        let (status, envelope) = pay_raw(
            &app,
            &token,
            &format!(
                r#"{{"subject":"x","total_amount":{total},"pay_type":1,"course_list":{courses}}}"#
            ),
        )
        .await;
        assert_eq!(status, 400, "{total}: {envelope}");
        let message = envelope["msg"].as_str().unwrap();
        assert!(message.starts_with("total_amount"), "{total}: {message}");
        assert!(
            !message.contains("untagged") && !message.contains("Wire"),
            "{message}"
        );
    }
    assert_eq!(app.order_count().await, 0);

    for total in ["598.4", "598.40", "\"598.40\"", "\"598.4\""] {
        let (status, envelope) = pay_raw(
            &app,
            &token,
            &format!(
                r#"{{"subject":"x","total_amount":{total},"pay_type":1,"course_list":[1,2,3]}}"#
            ),
        )
        .await;
        assert_eq!(status, 201, "{total}: {envelope}");
    }
    assert_eq!(app.order_count().await, 4);
}

#[tokio::test]
async fn bad_bodies_are_explained_in_the_api_words() {
    let app = spawn_app().await;
    let token = app.token("u1", false);

    let cases = [
        (
            r#"{"total_amount":"99.90","pay_type":1,"course_list":[1,"x"]}"#,
            "course_list[1]",
        ),
        (
            r#"{"total_amount":"99.90","pay_type":1}"#,
            "missing field `course_list`",
        ),
        (
            r#"{"total_amount":"99.90","pay_type":1,"course_list":[1]} trailing"#,
            "not valid JSON",
        ),
        ("{not json", "not valid JSON"),
        ("[]", "the body must be a JSON object"),
        (r#""99.90""#, "the body must be a JSON object"),
        (
            r#"{"total_amount":null,"pay_type":1,"course_list":[1]}"#,
            "total_amount",
        ),
    ];
    for (body, expected) in cases {
        let (status, envelope) = pay_raw(&app, &token, body).await;
        assert_eq!(status, 400, "{body}");
        let message = envelope["msg"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let form = app
        .client
        .post(app.url("/order/pay/"))
        .header("authorization", format!("jwt {token}"))
        .form(&[("total_amount", "99.90")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 400);
    let envelope: Value = form.json().await.unwrap();
    assert!(
        envelope["msg"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{envelope}"
    );
    assert_eq!(app.order_count().await, 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_as_too_large_and_opens_nothing() {
    let app = spawn_app().await;
    let token = app.token("u1", false);
    // Valid JSON, padded past the 64 KiB limit with whitespace.
    let body = format!(
        r#"{{"total_amount":"99.90","pay_type":1,"course_list":[1]{}}}"#,
        " ".repeat(65 * 1024)
    );
    let (status, envelope) = pay_raw(&app, &token, &body).await;
    assert_eq!(status, 413, "{envelope}");
    assert_eq!(envelope["code"], 0);
    assert_eq!(
        envelope["msg"],
        "the body is larger than the 64 KiB allowed"
    );
    assert_eq!(app.order_count().await, 0);
}

#[tokio::test]
async fn a_course_of_any_name_can_be_bought_and_the_subject_comes_from_the_catalog() {
    let app = spawn_app().await;
    let token = app.token("u1", false);
    let c_plus_plus = app.add_course("C/C++ 入门", "10.00", true).await;
    let r_and_d = app.add_course("R&D = 101", "20.00", true).await;

    let response = app
        .pay(
            &token,
            json!({"subject": "anything a buyer types", "total_amount": "30.00", "pay_type": 1,
                   "course_list": [c_plus_plus, r_and_d]}),
        )
        .await;

    assert_eq!(response.status().as_u16(), 201);
    let envelope: Value = response.json().await.unwrap();
    app.open_cashier(envelope["data"].as_str().unwrap()).await;
    let orders: Value = app
        .get("/api/v1/orders", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let number = orders["items"][0]["out_trade_no"].as_str().unwrap();
    assert_eq!(orders["items"][0]["subject"], "C/C++ 入门 (+1 more)");
    let trade = app.sandbox_trade(number).await;
    assert_eq!(trade["subject"], "C／C++ 入门 (+1 more)");
    let order: Value = app
        .get(&format!("/api/v1/orders/{number}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["lines"][0]["title"], "C/C++ 入门");
    assert_eq!(order["lines"][1]["title"], "R&D = 101");
}

#[tokio::test]
async fn an_unpaid_order_can_be_paid_again_from_a_fresh_link() {
    let app = spawn_app().await;
    let token = app.token("u1", false);
    let (number, _first_link) = app.order("u1", &[1], "99.90").await;

    let again = app
        .post(
            &format!("/api/v1/orders/{number}/pay-link"),
            Some(&token),
            None,
        )
        .await;
    let stranger = app
        .post(
            &format!("/api/v1/orders/{number}/pay-link"),
            Some(&app.token("u2", false)),
            None,
        )
        .await;

    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(stranger.status().as_u16(), 404);
    let envelope: Value = again.json().await.unwrap();
    assert_eq!(envelope["code"], 1);
    let link = envelope["data"].as_str().unwrap();
    app.open_cashier(link).await;
    app.buyer_pays(&number).await;
    // The return page's query applies the payment (no notification in this harness).
    app.get(&format!("/order/success/?out_trade_no={number}"), None)
        .await;
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Paid);

    let paid = app
        .post(
            &format!("/api/v1/orders/{number}/pay-link"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(paid.status().as_u16(), 409);
    let envelope: Value = paid.json().await.unwrap();
    assert!(
        envelope["msg"].as_str().unwrap().contains("paid"),
        "{envelope}"
    );
}

#[tokio::test]
async fn an_expired_order_gets_no_new_link() {
    let app = spawn_app().await;
    let token = app.token("u1", false);
    let (number, _) = app.order("u1", &[1], "99.90").await;
    app.expire(&number).await;

    let response = app
        .post(
            &format!("/api/v1/orders/{number}/pay-link"),
            Some(&token),
            None,
        )
        .await;

    assert_eq!(response.status().as_u16(), 409);
}

#[tokio::test]
async fn a_link_signed_ahead_is_handed_out_only_with_the_subject_the_order_was_given() {
    let app = spawn_app().await;
    let token = app.token("u1", false);
    let course = app.add_course("Payments in Rust", "10.00", true).await;
    let signed = |when: &str| format!("order_pay_links_signed_total{{when=\"{when}\"}} 1");

    // The first order of a course teaches its name; the second is signed while it is opened.
    let (first, _) = app.order("u1", &[course], "10.00").await;
    let (second, second_link) = app.order("u1", &[course], "10.00").await;
    let metrics = app.metrics().await;
    assert!(metrics.contains(&signed("after")), "{metrics}");
    assert!(metrics.contains(&signed("ahead")), "{metrics}");
    app.open_cashier(&second_link).await;
    assert_eq!(
        app.sandbox_trade(&second).await["subject"],
        "Payments in Rust"
    );
    assert_eq!(app.order_row(&first).await.subject, "Payments in Rust");

    // Renamed in the catalog: the link signed ahead under the old name is not the one handed out.
    let mut conn = app.conn().await;
    diesel::sql_query("UPDATE courses SET name = 'Payments in Rust, 2nd ed.' WHERE id = $1")
        .bind::<diesel::sql_types::BigInt, _>(course)
        .execute(&mut conn)
        .await
        .unwrap();
    let (third, third_link) = app.order("u1", &[course], "10.00").await;
    assert!(app.metrics().await.contains(&signed("again")));
    app.open_cashier(&third_link).await;
    assert_eq!(
        app.sandbox_trade(&third).await["subject"],
        "Payments in Rust, 2nd ed."
    );
    assert_eq!(
        app.order_row(&third).await.subject,
        "Payments in Rust, 2nd ed."
    );

    // A refused order gets no link, even one signed ahead, and nothing is stored.
    let before = app.order_count().await;
    let response = app.pay(&token, body(json!("9.00"), json!([course]))).await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(app.order_count().await, before);
    assert!(app.metrics().await.contains(&signed("ahead")));
}
