//! The merchant requests of `page_pay.json` (made by python-alipay-sdk, timestamps in the past)
//! are accepted by the sandbox's verification, with its clock set to each case's timestamp.

use alipay::time::{FixedClock, parse_beijing};
use serde_json::Value;

use crate::helpers::{Options, element, spawn_with};

#[tokio::test]
async fn every_page_pay_vector_opens_the_cashier() {
    let text = test_support::keys::vector_text("page_pay.json");
    let document: Value = serde_json::from_str(&text).unwrap();
    let cases = document["cases"].as_array().unwrap();
    let clock = FixedClock::at_beijing("2024-05-16 14:00:13").unwrap();
    let app = spawn_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;

    for case in cases {
        let name = case["name"].as_str().unwrap();
        clock.set(parse_beijing(case["input"]["timestamp"].as_str().unwrap()).unwrap());
        let url = case["url"].as_str().unwrap();
        let query = url.split_once('?').unwrap().1;
        // As the browser would send it: GET with the vector's exact query...
        let get = app
            .http
            .get(format!("{}?{query}", app.sandbox.gateway_url()))
            .send()
            .await
            .unwrap();
        let page = get.text().await.unwrap();
        assert!(!page.contains("id=\"sub_code\""), "{name} refused: {page}");
        assert_eq!(
            element(&page, "out_trade_no"),
            case["input"]["out_trade_no"].as_str().unwrap(),
            "{name}"
        );
        // ...and as an auto-submitted POST form.
        let post = app
            .http
            .post(app.sandbox.gateway_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query.to_owned())
            .send()
            .await
            .unwrap();
        let page = post.text().await.unwrap();
        assert!(
            !page.contains("id=\"sub_code\""),
            "{name} refused as POST: {page}"
        );
    }
    // The float amount of the tutorial case was read exactly.
    let trade = app.trade("ce47569d2c66272a481e7a0f25c237ce").await;
    assert_eq!(trade["total_amount"], "598.40");
    assert_eq!(
        app.trade("ORD_7711954528622882").await["status"],
        "WAIT_BUYER_PAY",
        "RSA (SHA1) request"
    );

    // A day later the same signed URLs are refused as stale.
    clock.advance(chrono::Duration::days(1));
    let url = cases[0]["url"].as_str().unwrap();
    let stale = app
        .http
        .get(format!(
            "{}?{}",
            app.sandbox.gateway_url(),
            url.split_once('?').unwrap().1
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        element(&stale.text().await.unwrap(), "sub_code"),
        "invalid-timestamp"
    );
}
