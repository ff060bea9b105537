//! Health, readiness, metrics and request ids.

use common::amqp::header_text;
use common::events::REQUEST_ID_HEADER;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_are_served() {
    let app = spawn_ready_app(TestConfig::default()).await;

    let health = app.get("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        ready.text().await.unwrap(),
        r#"{"status":"ready","checks":{"broker":true}}"#
    );

    let body = signed_body(&paid_fields("n-metrics", "O_metrics"));
    assert_eq!(app.post_notification(body).await.status().as_u16(), 200);
    let metrics = app.get("/metrics").await;
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    for expected in [
        "notify_notifications_total{outcome=\"published\",reason=\"order.paid\"} 1",
        "notify_publish_confirm_seconds_count 1",
        "notify_amqp_connected 1",
        "notify_amqp_reconnects_total 0",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_generated_or_kept_and_reach_the_message() {
    let app = spawn_ready_app(TestConfig::default()).await;

    // None sent: one is generated (a UUID v7) and travels to the message.
    let response = app
        .post_notification(signed_body(&paid_fields("n-rid-1", "O_rid_1")))
        .await;
    let generated = response.headers()[REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&generated).unwrap().get_version_num(),
        7
    );
    let message = app.next_message().await.unwrap();
    assert_eq!(
        header_text(&message.properties, REQUEST_ID_HEADER),
        Some(generated)
    );

    // An unsafe one (a space could forge log lines) is replaced, not echoed.
    let body = signed_body(&paid_fields("n-rid-2", "O_rid_2"));
    let response = app.post_raw(FORM, body.into_bytes(), Some("evil id")).await;
    let replaced = response.headers()[REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(replaced, "evil id");
    let message = app.next_message().await.unwrap();
    assert_eq!(
        header_text(&message.properties, REQUEST_ID_HEADER),
        Some(replaced)
    );

    // Rejections carry one too, so the log line of a refused notification can be found.
    let rejected = app
        .post_raw(FORM, b"a=1".to_vec(), Some("trace-me-42"))
        .await;
    assert_eq!(rejected.status().as_u16(), 400);
    assert_eq!(rejected.headers()[REQUEST_ID_HEADER], "trace-me-42");
}
