//! Health, readiness, metrics, the OpenAPI document, request ids, and the command line.

use std::process::Command;

use common::auth::JwtVerifier;
use serde_json::Value;

use crate::helpers::{JWT_SECRET, TestConfig, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_and_readyz_answer_when_the_database_and_the_broker_do() {
    let app = spawn_app().await;

    let health = app.get("/healthz", None).await;
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "checks": {"database": true, "broker": true}})
    );
    let body: Value = health.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_says_not_ready_without_the_consumer() {
    let app = spawn_app().await;
    app.state.set_consumer_ready(false);

    let ready = app.get("/readyz", None).await;

    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["checks"]["broker"], false);
}

#[tokio::test]
async fn metrics_are_exported() {
    let app = spawn_app().await;
    app.order("u1", &[1], "99.90").await;

    let text = app.metrics().await;

    assert!(
        text.contains("order_orders_created_total{outcome=\"pay_link\"} 1"),
        "{text}"
    );
    assert!(text.contains("order_consumer_connected 1"), "{text}");
}

#[tokio::test]
async fn the_request_id_is_echoed_or_made() {
    let app = spawn_app().await;

    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    let made = app.get("/healthz", None).await;

    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    assert!(!made.headers()["x-request-id"].is_empty());
}

/// Every route `startup.rs` registers, the storefront's demo pages apart (`STOREFRONT=on`).
const REGISTERED_ROUTES: &[(&str, &str)] = &[
    ("/order/pay/", "post"),
    ("/order/success/", "get"),
    ("/api/v1/courses", "get"),
    ("/api/v1/courses/{id}", "get"),
    ("/api/v1/orders", "get"),
    ("/api/v1/orders/{out_trade_no}", "get"),
    ("/api/v1/orders/{out_trade_no}/pay-link", "post"),
    ("/api/v1/orders/{out_trade_no}/cancel", "post"),
    ("/api/v1/orders/{out_trade_no}/refunds", "get"),
    ("/api/v1/orders/{out_trade_no}/refunds", "post"),
    ("/api/v1/refunds/{out_request_no}/retry", "post"),
    ("/api/v1/reconciliations", "get"),
    ("/api/v1/reconciliations/{date}", "get"),
    ("/api/v1/openapi.json", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
];

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;

    let response = app.get("/api/v1/openapi.json", None).await;

    assert_eq!(response.status().as_u16(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    documented.sort();
    let mut registered: Vec<(String, String)> = REGISTERED_ROUTES
        .iter()
        .map(|(path, method)| ((*path).to_owned(), (*method).to_owned()))
        .collect();
    registered.sort();
    assert_eq!(
        documented, registered,
        "documented routes vs registered routes"
    );
    for (path, method) in &documented {
        // Every documented route is served: the router answers neither 405 nor "no such route".
        let concrete = path
            .replace("{id}", "1")
            .replace("{out_trade_no}", "X1")
            .replace("{out_request_no}", "R1")
            .replace("{date}", "2026-01-01");
        let request = match method.as_str() {
            "get" => app.client.get(app.url(&concrete)),
            _ => app.client.post(app.url(&concrete)),
        };
        let response = request.send().await.unwrap();
        assert_ne!(response.status().as_u16(), 405, "{method} {path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("no such route"), "{method} {path}: {body}");
    }
}

#[test]
fn order_token_prints_a_token_the_service_accepts() {
    let output = Command::new(env!("CARGO_BIN_EXE_order"))
        .args(["token", "--user-id", "7", "--admin", "--ttl", "10m"])
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let claims = JwtVerifier::hs256(JWT_SECRET.as_bytes())
        .unwrap()
        .verify(token.trim())
        .unwrap();
    assert_eq!(claims.sub, "7");
    assert!(claims.is_admin());
    assert!(claims.exp - claims.iat.unwrap() <= 600);
}

#[test]
fn order_token_without_a_secret_names_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_order"))
        .args(["token", "--user-id", "7"])
        .env_remove("JWT_SECRET")
        .env_remove("JWT_PUBLIC_KEY")
        .env_remove("JWT_PUBLIC_KEY_FILE")
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("JWT_SECRET"));
}

#[test]
fn help_lists_every_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_order"))
        .arg("--help")
        .output()
        .unwrap();

    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in [
        "DATABASE_URL",
        "AMQP_URL",
        "PAYMENT_GATEWAY_URL",
        "JWT_SECRET",
        "ORDER_TTL",
        "ALIPAY_APP_ID",
        "token",
    ] {
        assert!(help.contains(variable), "{variable} missing from:\n{help}");
    }
}

#[test]
fn bad_configuration_stops_the_start_naming_the_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_order"))
        .env("JWT_SECRET", JWT_SECRET)
        .env("ALIPAY_APP_ID", "2021000000000001")
        .env("ORDER_TTL", "forever")
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("ORDER_TTL"));
}

#[tokio::test]
async fn shutdown_stops_the_server_the_consumer_and_the_sweeper() {
    let mut app = spawn_app().await;
    let server = app.server.take().unwrap();

    app.shutdown.cancel();

    let stopped = tokio::time::timeout(std::time::Duration::from_secs(15), server)
        .await
        .expect("stopped in time");
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
    assert!(!app.state.consumer_is_ready());
}

#[tokio::test]
async fn the_storefront_is_served_only_when_switched_on() {
    let off = spawn_app().await;
    let on = spawn_app_with(TestConfig {
        storefront: true,
        ..TestConfig::default()
    })
    .await;

    let hidden = off.get("/", None).await;
    let page = on.get("/", None).await;
    let login: Value = on
        .client
        .post(on.url("/dev/token"))
        .json(&serde_json::json!({"user_id": 7}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(hidden.status().as_u16(), 404);
    assert_eq!(page.status().as_u16(), 200);
    let token = login["data"]["token"].as_str().unwrap();
    let orders = on.get("/api/v1/orders", Some(token)).await;
    assert_eq!(orders.status().as_u16(), 200);
}

#[tokio::test]
async fn replicas_starting_together_apply_the_migrations_once_without_failing() {
    // Arrange: an empty database of this test's own.
    let database = test_support::TestDatabase::create("order_test_migrate").await;

    // Act: four "replicas" migrate at the same moment.
    let attempts = (0..4).map(|_| order::db::run_migrations(database.url()));
    let results = futures_util::future::join_all(attempts).await;

    // Assert
    for result in results {
        assert!(result.is_ok(), "{result:?}");
    }
}
