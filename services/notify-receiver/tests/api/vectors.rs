//! Every notification vector of the alipay crate (made by python-alipay-sdk, TEST-ONLY keys),
//! through the HTTP endpoint: valid ones answered `success` (and published unless WAIT_BUYER_PAY),
//! invalid ones `400 fail` with nothing published.

use std::collections::HashMap;

use alipay::form;
use common::events::{EventKind, PaymentEventV2};
use serde_json::Value;

use crate::helpers::*;

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(vectors_dir().join("notify.json")).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["test_only_keys"], true);
    document["cases"].as_array().unwrap().clone()
}

/// The app the case's notification is for (the receiver is configured with it); the decoded
/// body's `app_id`, or any id when the body does not decode.
fn app_id_of(body: &str) -> String {
    form::decode(body.as_bytes())
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "app_id")
                .map(|(_, v)| v)
        })
        .unwrap_or_else(|| APP_ID.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vector_is_accepted_or_rejected_as_listed() {
    let cases = cases();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    // One receiver per distinct configuration, shared by the cases that ask for the same one.
    let mut receivers: HashMap<(String, String, String), TestApp> = HashMap::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let body = case["body"].as_str().unwrap();
        // Arrange: a receiver configured as the case says (key file, sign type, app id).
        let configuration = (
            case["alipay_public_key_file"].as_str().unwrap().to_owned(),
            case["sign_type"].as_str().unwrap().to_owned(),
            app_id_of(body),
        );
        if !receivers.contains_key(&configuration) {
            let (public_key_file, sign_type, app_id) = configuration.clone();
            let config = TestConfig {
                app_id,
                public_key_file,
                sign_type,
                ..TestConfig::default()
            };
            receivers.insert(configuration.clone(), spawn_ready_app(config).await);
        }
        let app = &receivers[&configuration];

        // Act
        let response = app.post_notification(body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();

        // Assert
        match case["expect"].as_str().unwrap() {
            "valid" => {
                assert_eq!((status, text.as_str()), (200, "success"), "{name}");
                let params = case["params"].as_object().unwrap();
                let status_field = params["trade_status"].as_str().unwrap();
                match app.next_message().await {
                    None => assert_eq!(status_field, "WAIT_BUYER_PAY", "{name}: nothing published"),
                    Some(message) => {
                        let event = PaymentEventV2::from_json(&message.data).unwrap();
                        let refund =
                            params.contains_key("refund_fee") || params.contains_key("out_biz_no");
                        let expected = match (refund, status_field) {
                            (true, _) => EventKind::Refunded,
                            (false, "TRADE_CLOSED") => EventKind::Closed,
                            (false, _) => EventKind::Paid,
                        };
                        assert_eq!(
                            message.routing_key.as_str(),
                            expected.routing_key(),
                            "{name}"
                        );
                        assert_eq!(event.kind, expected, "{name}");
                        assert_eq!(event.params.len(), params.len(), "{name}: every field kept");
                        for (key, value) in params {
                            assert_eq!(
                                event.params.get(key).map(String::as_str),
                                value.as_str(),
                                "{name}: {key}"
                            );
                        }
                    }
                }
            }
            _ => assert_eq!((status, text.as_str()), (400, "fail"), "{name}"),
        }
        app.assert_queue_empty().await;
    }
}
