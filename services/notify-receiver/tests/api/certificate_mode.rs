//! Certificate mode through the real services: the sandbox plays Alipay (TEST-ONLY PKI from the
//! alipay crate's vectors), the real payment-gateway signs and queries, the real receiver
//! verifies notifications and publishes to RabbitMQ. Alipay rotates its certificate in the
//! middle of a stream of payments: every notification and every answer must still verify, and
//! every payment must reach the queue. A forged certificate offered the same way is refused.

use std::collections::BTreeSet;
use std::time::Duration;

use alipay_sandbox::RunningSandbox;
use common::events::PaymentEventV2;
use payment_gateway::{RetryPolicy, RunningGateway};
use payment_proto::GatewayClient;
use payment_proto::v1::{CreatePagePayRequest, QueryTradeRequest, TradeStatus};
use serde_json::Value;
use test_support::keys::{
    ALIPAY_CERT, CERT_APP_ID, CERT_SELLER_ID, ROOT_CERT, aes_key, alipay_pki,
    cert_app_registration, certificate_texts, pki_key, vector_path,
};
use test_support::{Patience, SandboxApi, eventually_ok};

use crate::helpers::*;

struct Stack {
    _sandbox: RunningSandbox,
    sandbox_api: SandboxApi,
    gateway: RunningGateway,
    client: GatewayClient,
    receiver: TestApp,
    http: reqwest::Client,
}

/// Sandbox (certificate mode, AES) → gateway (certificate mode, AES) and receiver (certificate
/// mode, asking that gateway for rotated certificates).
async fn stack(next: (&str, &str)) -> Stack {
    let sandbox = test_support::services::spawn_sandbox(
        alipay_sandbox::Settings::new(alipay_private_key().clone())
            .with_app(cert_app_registration(Some(aes_key())))
            .with_pki(alipay_pki(&[next]))
            .with_time_scale(0.0001)
            .with_notify_timeout(Duration::from_secs(5)),
    )
    .await;

    let gateway_settings = payment_gateway::Settings::new(
        CERT_APP_ID,
        pki_key("app"),
        alipay_private_key().public_key(),
        sandbox.gateway_url(),
    )
    .with_certificates(&certificate_texts())
    .unwrap()
    .with_encrypt_key(aes_key())
    .with_retry(RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(10),
    });
    let gateway = test_support::services::spawn_gateway(gateway_settings).await;
    let client = GatewayClient::connect(&gateway.url(), Duration::from_secs(10)).unwrap();

    // The receiver holds only Alipay's certificate and the root bundle, no key of ours.
    let receiver = spawn_ready_app(TestConfig {
        app_id: CERT_APP_ID.into(),
        seller_id: Some(CERT_SELLER_ID.into()),
        extra_env: vec![
            ("ALIPAY_PUBLIC_CERT_FILE".into(), vector_path(ALIPAY_CERT)),
            ("ALIPAY_ROOT_CERT_FILE".into(), vector_path(ROOT_CERT)),
            ("PAYMENT_GATEWAY_URL".into(), gateway.url()),
        ],
        ..TestConfig::default()
    })
    .await;
    Stack {
        sandbox_api: SandboxApi::of(&sandbox),
        _sandbox: sandbox,
        gateway,
        client,
        receiver,
        http: test_support::services::browser(),
    }
}

impl Stack {
    /// Signs a pay link through the gateway, opens the cashier, and pays.
    async fn pay(&self, out_trade_no: &str, amount: &str) {
        let link = self
            .client
            .create_page_pay(
                "cert-test",
                CreatePagePayRequest {
                    out_trade_no: out_trade_no.into(),
                    total_amount: amount.into(),
                    subject: "Rust 课程".into(),
                    notify_url: Some(format!(
                        "{}{}",
                        self.receiver.address, self.receiver.notify_path
                    )),
                    ..CreatePagePayRequest::default()
                },
            )
            .await
            .unwrap();
        assert!(link.url.contains("app_cert_sn="));
        let cashier = self.http.get(&link.url).send().await.unwrap();
        assert_eq!(cashier.status().as_u16(), 200);
        self.sandbox_api.pay(out_trade_no).await.unwrap();
    }

    async fn rotate(&self) -> String {
        self.sandbox_api
            .rotate_alipay_cert()
            .await
            .unwrap()
            .alipay_cert_sn
    }

    /// Waits until the trade's notification got an answer (at most 10 s); returns it.
    async fn notification(&self, out_trade_no: &str) -> Value {
        let patience = Patience::new(Duration::from_secs(10), Duration::from_millis(50));
        let what = format!("a notification for {out_trade_no} was answered");
        eventually_ok(&what, patience, || async {
            let trade = self.sandbox_api.trade(out_trade_no).await.unwrap();
            let notification = &trade["notifications"][0];
            let answered = notification["attempts"]
                .as_array()
                .is_some_and(|attempts| !attempts.is_empty());
            if answered {
                Ok(notification.clone())
            } else {
                Err(notification.clone())
            }
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_in_the_middle_of_a_stream_loses_nothing() {
    let stack = stack((
        "certs/alipayCertPublicKey_RSA2_rotated.crt",
        "alipay_rotated",
    ))
    .await;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut paid = Vec::new();
    let mut new_sn = String::new();

    for i in 0..10 {
        if i == 5 {
            // Alipay rotates mid-stream: new key, new SN, for answers and notifications alike.
            new_sn = stack.rotate().await;
        }
        let out_trade_no = format!("ROT{i}_{run}");
        stack.pay(&out_trade_no, &format!("{}.00", i + 1)).await;
        let answer = stack
            .client
            .query_trade(
                "cert-test",
                QueryTradeRequest {
                    out_trade_no: out_trade_no.clone(),
                    trade_no: String::new(),
                },
            )
            .await
            .unwrap();
        assert_eq!(answer.trade_status(), TradeStatus::TradeSuccess);
        paid.push(out_trade_no);
    }

    // Every notification was accepted at its first attempt, the later ones under the new SN.
    let mut signed_with_new = 0;
    for out_trade_no in &paid {
        let notification = stack.notification(out_trade_no).await;
        let first = &notification["attempts"][0];
        assert_eq!(first["response_body"], "success", "{out_trade_no}: {first}");
        if first["request_body"]
            .as_str()
            .unwrap()
            .contains(&format!("alipay_cert_sn={new_sn}"))
        {
            signed_with_new += 1;
        }
    }
    assert_eq!(signed_with_new, 5);
    // Nothing lost: one order.paid event per payment in the queue.
    let mut events = BTreeSet::new();
    while let Some(message) = stack.receiver.next_message().await {
        let event: PaymentEventV2 = serde_json::from_slice(&message.data).unwrap();
        events.insert(event.out_trade_no.as_str().to_owned());
    }
    assert_eq!(events, paid.iter().cloned().collect::<BTreeSet<_>>());
    let metrics = stack.receiver.metrics().await;
    assert!(!metrics.contains("untrusted_certificate"), "{metrics}");
    drop(stack.gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_certificate_offered_through_rotation_is_refused_and_nothing_published() {
    let stack = stack((
        "certs/negative/alipayCertPublicKey_forged_signature.crt",
        "alipay_forged",
    ))
    .await;
    let forged_sn = stack.rotate().await;
    let out_trade_no = format!("FORGED_{}", uuid::Uuid::now_v7().simple());

    stack.pay(&out_trade_no, "9.99").await;

    let notification = stack.notification(&out_trade_no).await;
    let first = &notification["attempts"][0];
    assert!(
        first["request_body"]
            .as_str()
            .unwrap()
            .contains(&format!("alipay_cert_sn={forged_sn}"))
    );
    assert_eq!(first["http_status"], 400, "{first}");
    assert_eq!(first["response_body"], "fail");
    stack.receiver.assert_queue_empty().await;
    let metrics = stack.receiver.metrics().await;
    assert!(metrics.contains("untrusted_certificate"), "{metrics}");
    drop(stack.gateway);
}
