//! The endpoint's contract: what is published, what is refused, and what Alipay reads back.

use alipay::keys::PrivateKey;
use alipay::sign::SignType;
use common::amqp::header_text;
use common::events::{EventKind, PaymentEventV2, REQUEST_ID_HEADER, event_id_for};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_notification_is_published_once_with_its_routing_key_payload_and_headers() {
    // Arrange
    let app = spawn_ready_app(TestConfig::default()).await;
    let fields = paid_fields("n-valid-1", "O_valid_1");
    let body = signed_body(&fields);

    // Act
    let response = app
        .post_raw(FORM, body.into_bytes(), Some("req-abc-123"))
        .await;

    // Assert: Alipay reads exactly `success`, as text.
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.headers()[REQUEST_ID_HEADER], "req-abc-123");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"success");

    let message = app.next_message().await.expect("one message published");
    assert_eq!(message.routing_key.as_str(), "order.paid");
    assert_eq!(message.exchange.as_str(), app.topology.exchange);
    let properties = &message.properties;
    let expected_id = event_id_for("n-valid-1", "TRADE_SUCCESS");
    assert_eq!(
        properties.content_type().as_ref().map(|c| c.as_str()),
        Some("application/json")
    );
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(
        properties.message_id().as_ref().map(|m| m.to_string()),
        Some(expected_id.to_string())
    );
    assert_eq!(
        properties.kind().as_ref().map(|k| k.as_str()),
        Some("order.paid.v2")
    );
    assert_eq!(
        header_text(properties, REQUEST_ID_HEADER).as_deref(),
        Some("req-abc-123")
    );

    let event = PaymentEventV2::from_json(&message.data).unwrap();
    assert_eq!(event.version, 2);
    assert_eq!(event.event_id, expected_id);
    assert_eq!(event.kind, EventKind::Paid);
    assert_eq!(event.out_trade_no.as_str(), "O_valid_1");
    assert_eq!(event.trade_no, "2024051622001400000000000001");
    assert_eq!(event.trade_status, "TRADE_SUCCESS");
    assert_eq!(event.total_amount.to_string(), "88.88");
    assert_eq!(event.app_id, APP_ID);
    assert_eq!(event.seller_id.as_deref(), Some(SELLER_ID));
    assert_eq!(event.buyer_id.as_deref(), Some("2088102177846875"));
    // Alipay's Beijing wall-clock text becomes an instant.
    assert_eq!(
        event.paid_at.map(|at| at.to_rfc3339()),
        Some("2024-05-16T09:06:45+00:00".into())
    );
    // Every field Alipay sent, verbatim, sign and sign_type included.
    assert_eq!(event.params.len(), fields.len() + 2);
    for (name, value) in &fields {
        assert_eq!(event.params.get(name), Some(value), "{name}");
    }
    assert_eq!(event.params["sign_type"], "RSA2");
    assert!(!event.params["sign"].is_empty());
    assert_eq!(
        event.params["passback_params"], "merchantBizType%3d3C%26x%3dy+z",
        "decoded once"
    );

    app.assert_queue_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_notification_twice_yields_the_same_event_id() {
    let app = spawn_ready_app(TestConfig::default()).await;
    let body = signed_body(&paid_fields("n-dup-1", "O_dup_1"));

    for _ in 0..2 {
        let response = app.post_notification(body.clone()).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.text().await.unwrap(), "success");
    }

    let first = app.next_message().await.unwrap();
    let second = app.next_message().await.unwrap();
    let (first_event, second_event) = (
        PaymentEventV2::from_json(&first.data).unwrap(),
        PaymentEventV2::from_json(&second.data).unwrap(),
    );
    assert_eq!(first_event.event_id, second_event.event_id);
    assert_eq!(
        first.properties.message_id(),
        second.properties.message_id()
    );
    // Each request gets its own request id.
    assert_ne!(
        header_text(&first.properties, REQUEST_ID_HEADER),
        header_text(&second.properties, REQUEST_ID_HEADER)
    );
    app.assert_queue_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_notifications_are_rejected_and_nothing_is_published() {
    let app = spawn_ready_app(TestConfig::default()).await;
    let body = signed_body(&paid_fields("n-tamper-1", "O_tamper_1"));
    let signature = body.rsplit_once("&sign=").unwrap().1;
    let mut flipped = signature.to_owned();
    let replacement = if flipped.starts_with('A') { "B" } else { "A" };
    flipped.replace_range(0..1, replacement);
    let foreign_but_signed = signed_body(&with(
        paid_fields("n-tamper-2", "O_tamper_2"),
        "app_id",
        "2021999999999999",
    ));

    let cases = [
        (
            "amount",
            body.replace("total_amount=88.88", "total_amount=0.01"),
            "signature_mismatch",
        ),
        (
            "sign",
            body.replace(signature, &flipped),
            "signature_mismatch",
        ),
        (
            "sign_type",
            body.replace("sign_type=RSA2", "sign_type=RSA"),
            "sign_type_mismatch",
        ),
        (
            "app_id after signing",
            body.replace(&format!("app_id={APP_ID}&"), "app_id=2021999999999999&"),
            "signature_mismatch",
        ),
        (
            "app_id of another app",
            foreign_but_signed,
            "foreign_app_id",
        ),
        (
            "sign removed",
            body.split("&sign=").next().unwrap().to_owned(),
            "missing_sign",
        ),
    ];
    for (what, tampered, reason) in cases {
        assert_ne!(tampered, body, "{what}: the test must change the body");
        let response = app.post_notification(tampered).await;
        assert_eq!(response.status().as_u16(), 400, "{what}");
        assert_eq!(response.text().await.unwrap(), "fail", "{what}");
        let metrics = app.metrics().await;
        assert!(
            metrics.contains(&format!(
                "notify_notifications_total{{outcome=\"rejected\",reason=\"{reason}\"}}"
            )),
            "{what}: {reason} not counted in\n{metrics}"
        );
    }
    app.assert_queue_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_refund_notifications_take_their_routing_keys() {
    let app = spawn_ready_app(TestConfig::default()).await;
    let closed = with(
        paid_fields("n-closed", "O_closed"),
        "trade_status",
        "TRADE_CLOSED",
    );
    let finished = with(
        paid_fields("n-finished", "O_finished"),
        "trade_status",
        "TRADE_FINISHED",
    );
    let partial_refund = [
        ("out_biz_no", "R_1"),
        ("refund_fee", "10.00"),
        ("gmt_refund", "2024-05-18 14:04:13.027"),
    ]
    .into_iter()
    .fold(paid_fields("n-refund", "O_refund"), |fields, (k, v)| {
        with(fields, k, v)
    });
    let full_refund = with(
        with(
            paid_fields("n-refund-full", "O_refund"),
            "trade_status",
            "TRADE_CLOSED",
        ),
        "refund_fee",
        "88.88",
    );

    for (fields, routing_key, message_type) in [
        (closed, "order.closed", "order.closed.v2"),
        (finished, "order.paid", "order.paid.v2"),
        (partial_refund, "order.refunded", "order.refunded.v2"),
        (full_refund, "order.refunded", "order.refunded.v2"),
    ] {
        let response = app.post_notification(signed_body(&fields)).await;
        assert_eq!(response.status().as_u16(), 200, "{routing_key}");
        let message = app.next_message().await.expect(routing_key);
        assert_eq!(message.routing_key.as_str(), routing_key);
        assert_eq!(
            message.properties.kind().as_ref().map(|k| k.as_str()),
            Some(message_type)
        );
        let event = PaymentEventV2::from_json(&message.data).unwrap();
        assert_eq!(event.kind.routing_key(), routing_key);
    }
    app.assert_queue_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_buyer_pay_is_acknowledged_and_nothing_is_published() {
    let app = spawn_ready_app(TestConfig::default()).await;
    let fields = with(
        paid_fields("n-wait", "O_wait"),
        "trade_status",
        "WAIT_BUYER_PAY",
    );

    let response = app.post_notification(signed_body(&fields)).await;

    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "success");
    app.assert_queue_empty().await;
    assert!(app.metrics().await.contains(
        "notify_notifications_total{outcome=\"acknowledged\",reason=\"wait_buyer_pay\"} 1"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_seller_is_rejected_when_a_seller_is_configured() {
    let app = spawn_ready_app(TestConfig {
        seller_id: Some(SELLER_ID.into()),
        ..TestConfig::default()
    })
    .await;
    let ours = signed_body(&paid_fields("n-seller-1", "O_seller_1"));
    let theirs = signed_body(&with(
        paid_fields("n-seller-2", "O_seller_2"),
        "seller_id",
        "2088000000000009",
    ));

    assert_eq!(app.post_notification(ours).await.status().as_u16(), 200);
    assert!(app.next_message().await.is_some());
    let response = app.post_notification(theirs).await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(response.text().await.unwrap(), "fail");
    app.assert_queue_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_rejected_with_400() {
    let app = spawn_ready_app(TestConfig::default()).await;
    let valid = signed_body(&paid_fields("n-malformed", "O_malformed"));
    let missing_notify_id: Vec<_> = paid_fields("x", "O_malformed")
        .into_iter()
        .filter(|(k, _)| k != "notify_id")
        .collect();
    let mut not_utf8 = b"subject=%FF%FE&".to_vec();
    not_utf8.extend_from_slice(valid.as_bytes());
    let mut too_large = valid.clone().into_bytes();
    too_large.extend_from_slice(format!("&padding={}", "a".repeat(64 * 1024)).as_bytes());

    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        ("over 64 KiB", FORM, too_large, "body_too_large"),
        (
            "text/plain",
            "text/plain",
            valid.clone().into_bytes(),
            "unsupported_content_type",
        ),
        (
            "json",
            "application/json",
            b"{\"sign\":\"x\"}".to_vec(),
            "unsupported_content_type",
        ),
        (
            "gbk charset",
            "application/x-www-form-urlencoded; charset=gbk",
            valid.clone().into_bytes(),
            "unsupported_content_type",
        ),
        (
            "broken percent-encoding",
            FORM,
            format!("{valid}&x=%G1").into_bytes(),
            "malformed_form",
        ),
        (
            "truncated percent-encoding",
            FORM,
            format!("{valid}&x=%4").into_bytes(),
            "malformed_form",
        ),
        ("not UTF-8", FORM, not_utf8, "malformed_form"),
        ("empty", FORM, Vec::new(), "malformed_form"),
        (
            "duplicate field",
            FORM,
            format!("{valid}&total_amount=0.01").into_bytes(),
            "malformed_form",
        ),
        (
            "missing notify_id",
            FORM,
            signed_body(&missing_notify_id).into_bytes(),
            "missing_field",
        ),
        (
            "binary",
            FORM,
            vec![0, 159, 146, 150, b'=', b'&', 0xff],
            "malformed_form",
        ),
    ];
    for (what, content_type, body, reason) in cases {
        let response = app.post_raw(content_type, body, None).await;
        assert_eq!(response.status().as_u16(), 400, "{what}");
        assert_eq!(response.text().await.unwrap(), "fail", "{what}");
        let metrics = app.metrics().await;
        assert!(
            metrics.contains(&format!("outcome=\"rejected\",reason=\"{reason}\"")),
            "{what}: {reason} not counted in\n{metrics}"
        );
    }
    app.assert_queue_empty().await;
    // Still serving after all that.
    assert_eq!(app.post_notification(valid).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notify_path_is_configurable_and_only_takes_post() {
    let app = spawn_ready_app(TestConfig {
        notify_path: Some("/hooks/alipay".into()),
        ..TestConfig::default()
    })
    .await;
    let body = signed_body(&paid_fields("n-path", "O_path"));

    let elsewhere = app
        .client
        .post(format!("{}/alipay/notify", app.address))
        .header("content-type", FORM)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status().as_u16(), 404);
    assert_eq!(app.get("/hooks/alipay").await.status().as_u16(), 405);
    assert_eq!(app.post_notification(body).await.status().as_u16(), 200);
    assert!(app.next_message().await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_rsa_notifications_verify_when_configured_for_rsa() {
    let app = spawn_ready_app(TestConfig {
        sign_type: "RSA".into(),
        ..TestConfig::default()
    })
    .await;
    let fields = paid_fields("n-rsa", "O_rsa");
    let key: &PrivateKey = alipay_private_key();

    let rsa = app
        .post_notification(signed_body_with(key, SignType::Rsa, &fields))
        .await;
    assert_eq!(rsa.status().as_u16(), 200);
    // An RSA2 signature is refused: the configuration, not the message, picks the algorithm.
    let rsa2 = app
        .post_notification(signed_body_with(key, SignType::Rsa2, &fields))
        .await;
    assert_eq!(rsa2.status().as_u16(), 400);
    assert!(app.next_message().await.is_some());
    app.assert_queue_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_for_our_order_that_does_not_verify_asks_for_a_query_and_nothing_more() {
    let app = spawn_ready_app(TestConfig::default()).await;
    let body = signed_body(&paid_fields("n-hint-1", "O_hint_1"));
    let damaged = body.replace("total_amount=88.88", "total_amount=0.01");
    let foreign = damaged.replace(&format!("app_id={APP_ID}&"), "app_id=2021999999999999&");
    let malformed = damaged.replace("out_trade_no=O_hint_1", "out_trade_no=O%2Fhint");

    for tampered in [damaged, foreign, malformed] {
        let response = app.post_notification(tampered).await;
        assert_eq!(response.status().as_u16(), 400);
    }

    // One hint, for the well-formed order number of our own app; no payment event.
    let hint = app.next_message().await.expect("a sync request");
    assert_eq!(
        hint.routing_key.as_str(),
        common::events::SYNC_REQUEST_ROUTING_KEY
    );
    let request = common::events::SyncRequestV1::from_json(&hint.data).unwrap();
    assert_eq!(request.out_trade_no.as_str(), "O_hint_1");
    assert!(app.next_message().await.is_none());
}
