//! Certificate mode through the real services: the sandbox plays Alipay (TEST-ONLY PKI from the
//! alipay crate's vectors), the real payment-gateway signs and queries, the real receiver
//! verifies notifications and publishes to RabbitMQ. Alipay rotates its certificate in the
//! middle of a stream of payments: every notification and every answer must still verify, and
//! every payment must reach the queue. A forged certificate offered the same way is refused.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use alipay::AesKey;
use alipay::keys::PrivateKey;
use alipay_sandbox::pki::{AlipayCertificate, PkiSettings};
use alipay_sandbox::{AppRegistration, RunningSandbox};
use common::events::PaymentEventV1;
use payment_gateway::settings::CertificateTexts;
use payment_gateway::{RetryPolicy, RunningGateway};
use payment_proto::GatewayClient;
use payment_proto::v1::{CreatePagePayRequest, QueryTradeRequest, TradeStatus};
use serde_json::Value;

use crate::helpers::*;
use tokio_util::sync::CancellationToken;

const CERT_APP_ID: &str = "2021004100000001";
const CERT_SELLER_ID: &str = "2088000000000001";

fn vector(relative: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(relative)).unwrap()
}

fn vector_path(relative: &str) -> String {
    let path: PathBuf = vectors_dir().join(relative);
    path.display().to_string()
}

fn pki_key(name: &str) -> PrivateKey {
    PrivateKey::from_text(&vector(&format!("keys/pki_{name}_private.pem"))).unwrap()
}

struct Stack {
    sandbox: RunningSandbox,
    gateway: RunningGateway,
    client: GatewayClient,
    receiver: TestApp,
    http: reqwest::Client,
}

/// Sandbox (certificate mode, AES) → gateway (certificate mode, AES) and receiver (certificate
/// mode, asking that gateway for rotated certificates).
async fn stack(next: (&str, &str)) -> Stack {
    let aes = AesKey::from_base64(&vector("keys/aes_128_key.b64")).unwrap();
    let app = AppRegistration::new(CERT_APP_ID, pki_key("app").public_key(), CERT_SELLER_ID)
        .with_certificate(&vector("certs/appCertPublicKey_2021004100000001.crt"))
        .unwrap()
        .with_encrypt_key(aes.clone());
    let pki = PkiSettings {
        root_bundle_pem: vector("certs/alipayRootCert.crt"),
        certificates: vec![
            AlipayCertificate::new(
                &vector("certs/alipayCertPublicKey_RSA2.crt"),
                pki_key("alipay"),
            )
            .unwrap(),
            AlipayCertificate::new(&vector(next.0), pki_key(next.1)).unwrap(),
        ],
    };
    let sandbox_settings = alipay_sandbox::Settings::new(alipay_private_key().clone())
        .with_app(app)
        .with_pki(pki)
        .with_time_scale(0.0001)
        .with_notify_timeout(Duration::from_secs(5));
    let sandbox = alipay_sandbox::Application::build_with_listener(
        sandbox_settings,
        TcpListener::bind("127.0.0.1:0").unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .spawn();

    let texts = CertificateTexts {
        app_cert: vector("certs/appCertPublicKey_2021004100000001.crt"),
        alipay_cert: vector("certs/alipayCertPublicKey_RSA2.crt"),
        root_cert: vector("certs/alipayRootCert.crt"),
    };
    let gateway_settings = payment_gateway::Settings::new(
        CERT_APP_ID,
        pki_key("app"),
        alipay_private_key().public_key(),
        sandbox.gateway_url(),
    )
    .with_certificates(&texts)
    .unwrap()
    .with_encrypt_key(aes)
    .with_retry(RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(10),
    });
    let gateway = payment_gateway::Application::build_with_listener(
        gateway_settings,
        TcpListener::bind("127.0.0.1:0").unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .spawn();
    let client = GatewayClient::connect(&gateway.url(), Duration::from_secs(10)).unwrap();

    // The receiver holds only Alipay's certificate and the root bundle, no key of ours.
    let receiver = spawn_ready_app(TestConfig {
        app_id: CERT_APP_ID.into(),
        seller_id: Some(CERT_SELLER_ID.into()),
        extra_env: vec![
            (
                "ALIPAY_PUBLIC_CERT_FILE".into(),
                vector_path("certs/alipayCertPublicKey_RSA2.crt"),
            ),
            (
                "ALIPAY_ROOT_CERT_FILE".into(),
                vector_path("certs/alipayRootCert.crt"),
            ),
            ("PAYMENT_GATEWAY_URL".into(), gateway.url()),
        ],
        ..TestConfig::default()
    })
    .await;
    Stack {
        sandbox,
        gateway,
        client,
        receiver,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
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
        let paid = self
            .http
            .post(format!(
                "{}/sandbox/trades/{out_trade_no}/pay",
                self.sandbox.base_url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            paid.status().as_u16(),
            200,
            "{}",
            paid.text().await.unwrap()
        );
    }

    async fn rotate(&self) -> String {
        let answer: Value = self
            .http
            .post(format!(
                "{}/sandbox/alipay-cert/rotate",
                self.sandbox.base_url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["alipay_cert_sn"].as_str().unwrap().to_owned()
    }

    /// Waits until the trade's notification got an answer (at most 10 s); returns it.
    async fn notification(&self, out_trade_no: &str) -> Value {
        for _ in 0..200 {
            let trade: Value = self
                .http
                .get(format!(
                    "{}/sandbox/trades/{out_trade_no}",
                    self.sandbox.base_url()
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let notification = &trade["notifications"][0];
            let answered = notification["attempts"]
                .as_array()
                .is_some_and(|attempts| !attempts.is_empty());
            if answered {
                return notification.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no notification was sent for {out_trade_no}");
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
        let event: PaymentEventV1 = serde_json::from_slice(&message.data).unwrap();
        events.insert(event.out_trade_no);
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
