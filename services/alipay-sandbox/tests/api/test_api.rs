//! The `/sandbox` contract other services' tests rely on.

use alipay::keys::PublicKey;
use alipay::notify::{self, PayReturn};
use alipay::sign::SignType;
use alipay_sandbox::{Application, Settings};
use test_support::services::local_listener;

use crate::helpers::{NotifyEndpoint, Options, alipay_key, query_of, spawn, spawn_with};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn the_public_key_endpoint_serves_the_key_that_verifies() {
    let app = spawn().await;
    let pem = app.api.alipay_public_key().await.unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(PublicKey::from_text(&pem).unwrap(), app.alipay_public_key);
    assert_eq!(&app.alipay_public_key, app.sandbox.alipay_public_key());
}

#[tokio::test]
async fn pay_without_a_browser_returns_the_redirect_and_the_trade() {
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    app.open_cashier(&app.page_pay("T_1", "12.30", Some(&endpoint.url)))
        .await;

    let paid = app.api.pay_as("T_1", "2088000000000042").await.unwrap();

    let redirect = paid["redirect_url"].as_str().unwrap();
    let verified = notify::verify(
        query_of(redirect).as_bytes(),
        &app.alipay_public_key,
        SignType::Rsa2,
    )
    .unwrap();
    assert_eq!(
        PayReturn::from_verified(&verified).unwrap().out_trade_no,
        "T_1"
    );
    let trade = &paid["trade"];
    assert_eq!(trade["status"], "TRADE_SUCCESS");
    assert_eq!(trade["buyer_id"], "2088000000000042");
    assert_eq!(trade["total_amount"], "12.30");
    assert_eq!(trade["receipt_amount"], "12.30");
    assert_eq!(trade["method"], "alipay.trade.page.pay");
    assert!(
        trade["cashier_url"]
            .as_str()
            .unwrap()
            .ends_with(trade["trade_no"].as_str().unwrap())
    );

    let shown = app.notification_state("T_1", 0, "acknowledged").await;
    assert_eq!(shown["kind"], "payment");
    assert_eq!(shown["url"], endpoint.url);
    let attempt = &shown["attempts"][0];
    for field in [
        "number",
        "at",
        "sent_after_ms",
        "url",
        "request_body",
        "http_status",
        "response_body",
        "acknowledged",
    ] {
        assert!(
            attempt.get(field).is_some(),
            "attempt lacks {field}: {attempt}"
        );
    }
    assert_eq!(attempt["http_status"], 200);
    assert_eq!(attempt["response_body"], "success");

    // Paying twice, closing a paid trade, or an unknown trade are refused.
    let again = app.api.pay("T_1").await.unwrap_err();
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["sub_code"], "ACQ.TRADE_HAS_SUCCESS");
    let close = app.api.close("T_1").await.unwrap_err();
    assert_eq!(close.status, 409);
    let unknown = app.api.trade("NOPE").await.unwrap_err();
    assert_eq!(unknown.status, 404);
    let bad_buyer = app.api.pay_as("T_1", "42").await.unwrap_err();
    assert_eq!(bad_buyer.status, 400);
}

#[tokio::test]
async fn close_without_a_browser_closes_a_waiting_trade() {
    let app = spawn().await;
    app.open_cashier(&app.page_pay("T_2", "1.00", None)).await;
    let closed = app.api.close("T_2").await.unwrap();
    assert_eq!(closed["redirect_url"], serde_json::Value::Null);
    assert_eq!(closed["trade"]["status"], "TRADE_CLOSED");
    assert!(closed["trade"]["gmt_close"].is_string());
}

#[tokio::test]
async fn the_test_api_can_be_switched_off() {
    let app = spawn_with(Options {
        test_api: false,
        ..Options::default()
    })
    .await;
    let response = app.api.alipay_public_key().await.unwrap_err();
    assert_eq!(response.status, 404);
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn health_metrics_and_graceful_stop() {
    let app = spawn().await;
    app.open_cashier(&app.page_pay("T_3", "1.00", None)).await;
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        r#"{"status":"ready","checks":{}}"#
    );
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "sandbox_gateway_requests_total{answer=\"cashier\",method=\"alipay.trade.page.pay\"} 1"
        ),
        "{metrics}"
    );
    let id = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-1")
        .send()
        .await
        .unwrap();
    assert_eq!(id.headers()["x-request-id"], "abc-1");

    let url = app.url("/healthz");
    let http = app.http.clone();
    app.sandbox.stop().await.unwrap();
    assert!(http.get(url).send().await.is_err(), "stopped");
}

#[tokio::test]
async fn apps_are_checked_and_the_base_url_is_the_public_one() {
    let duplicate =
        alipay_sandbox::AppRegistration::with_derived_seller("2021", alipay_key().public_key());
    let settings = Settings::new(alipay_key())
        .with_app(duplicate.clone())
        .with_app(duplicate);
    let error =
        Application::build_with_listener(settings, local_listener(), CancellationToken::new())
            .await
            .unwrap_err();
    assert!(error.to_string().contains("twice"), "{error}");

    let settings = Settings::new(alipay_key()).with_public_url("http://alipay-sandbox:8090/");
    let app =
        Application::build_with_listener(settings, local_listener(), CancellationToken::new())
            .await
            .unwrap();
    assert_eq!(app.base_url(), "http://alipay-sandbox:8090");
    assert_eq!(app.gateway_url(), "http://alipay-sandbox:8090/gateway.do");
    assert!(app.port() > 0);
}
