//! Spawns the real receiver on port 0 against the real RabbitMQ, under per-test names.
//!
//! Every [`TestApp`] declares its own `t-<uuid>.` topology (test-support's [`TestTopology`]),
//! deleted when dropped (even when the test panicked), so tests run in parallel without sharing
//! a queue and leave nothing behind.

use std::sync::OnceLock;
use std::time::Duration;

use alipay::form;
use alipay::keys::PrivateKey;
use alipay::sign::{self, SignType};
use lapin::message::Delivery;
use lapin::options::BasicGetOptions;
use lapin::{Channel, Connection};
use notify_receiver::publisher::Publisher;
use test_support::services::{RunningReceiver, local_listener, receiver_env};
use test_support::{Patience, TestTopology, broker, eventually};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use test_support::env::amqp_url;
pub use test_support::keys::{APP_ID, SELLER_ID, vectors_dir};
pub use test_support::services::closed_port;

pub const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// "Alipay's" private key (TEST-ONLY, from the vectors): what signs our notifications.
pub fn alipay_private_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(test_support::keys::alipay_key)
}

/// A realistic TRADE_SUCCESS notification's fields (as in the protocol notes, §8.6).
pub fn paid_fields(notify_id: &str, out_trade_no: &str) -> Vec<(String, String)> {
    [
        ("gmt_create", "2024-05-16 17:06:39"),
        ("charset", "utf-8"),
        ("gmt_payment", "2024-05-16 17:06:45"),
        ("notify_time", "2024-05-16 17:06:46"),
        ("subject", "课程：Rust 入门 & 进阶"),
        ("buyer_id", "2088102177846875"),
        ("invoice_amount", "88.88"),
        ("version", "1.0"),
        ("notify_id", notify_id),
        (
            "fund_bill_list",
            r#"[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]"#,
        ),
        ("notify_type", "trade_status_sync"),
        ("out_trade_no", out_trade_no),
        ("total_amount", "88.88"),
        ("trade_status", "TRADE_SUCCESS"),
        ("trade_no", "2024051622001400000000000001"),
        ("auth_app_id", APP_ID),
        ("receipt_amount", "88.88"),
        ("point_amount", "0.00"),
        ("app_id", APP_ID),
        ("buyer_pay_amount", "88.88"),
        ("seller_id", SELLER_ID),
        ("passback_params", "merchantBizType%3d3C%26x%3dy+z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Sets (or adds) a field.
pub fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some(field) => field.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
    fields
}

/// Signs like Alipay (every field but sign/sign_type, RSA2) and encodes the POST body.
pub fn signed_body(fields: &[(String, String)]) -> String {
    signed_body_with(alipay_private_key(), SignType::Rsa2, fields)
}

pub fn signed_body_with(
    key: &PrivateKey,
    sign_type: SignType,
    fields: &[(String, String)],
) -> String {
    let pairs = || fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let content = sign::notification_content(pairs());
    let signature = sign::sign(key, sign_type, &content).unwrap();
    let mut all: Vec<(&str, &str)> = pairs().collect();
    all.push(("sign_type", sign_type.as_str()));
    all.push(("sign", &signature));
    form::encode(all)
}

/// How to configure one receiver.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// `None`: the real broker.
    pub amqp_url: Option<String>,
    pub app_id: String,
    pub seller_id: Option<String>,
    /// Relative to the vectors folder.
    pub public_key_file: String,
    /// Alipay's public key as text, instead of `public_key_file`.
    pub public_key_pem: Option<String>,
    pub sign_type: String,
    pub confirm_timeout: String,
    /// Declare the order service's queue too (else only the exchange: events are unroutable).
    pub declare_queue: bool,
    pub notify_path: Option<String>,
    pub amqp_channels: usize,
    /// More variables (certificate mode, AES); `ALIPAY_PUBLIC_CERT` here replaces the key.
    pub extra_env: Vec<(String, String)>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            amqp_url: None,
            app_id: APP_ID.into(),
            seller_id: None,
            public_key_file: "keys/alipay_public.pem".into(),
            public_key_pem: None,
            sign_type: "RSA2".into(),
            confirm_timeout: "3s".into(),
            declare_queue: true,
            notify_path: None,
            amqp_channels: 1,
            extra_env: Vec::new(),
        }
    }
}

pub struct TestApp {
    pub address: String,
    /// Removed when the test ends; `delete_also` adds queues a test declared itself.
    pub topology: TestTopology,
    pub client: reqwest::Client,
    /// The test's own channel, for reading what the receiver published.
    pub channel: Channel,
    pub publisher: Publisher,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
    pub notify_path: String,
    _connection: Connection,
}

pub async fn spawn_app(config: TestConfig) -> TestApp {
    common::telemetry::init();
    let topology = TestTopology::new();
    let connection = broker::connect().await;
    let channel = connection.create_channel().await.unwrap();
    if config.declare_queue {
        topology.declare_all(&channel).await.unwrap();
    } else {
        topology.declare_publisher_side(&channel).await.unwrap();
    }

    let notify_path = config
        .notify_path
        .clone()
        .unwrap_or_else(|| "/alipay/notify".into());
    let mut pairs: Vec<(String, String)> = receiver_env(&topology.exchange, &config.app_id)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    pairs.extend([
        (
            "AMQP_URL".to_owned(),
            config.amqp_url.clone().unwrap_or_else(amqp_url),
        ),
        ("ALIPAY_SIGN_TYPE".to_owned(), config.sign_type.clone()),
        ("NOTIFY_PATH".to_owned(), notify_path.clone()),
        (
            "PUBLISH_CONFIRM_TIMEOUT".to_owned(),
            config.confirm_timeout.clone(),
        ),
        ("AMQP_CHANNELS".to_owned(), config.amqp_channels.to_string()),
        ("SHUTDOWN_TIMEOUT".to_owned(), "10s".to_owned()),
    ]);
    let cert_mode = config
        .extra_env
        .iter()
        .any(|(name, _)| name.starts_with("ALIPAY_PUBLIC_CERT"));
    match &config.public_key_pem {
        _ if cert_mode => {}
        Some(pem) => pairs.push(("ALIPAY_PUBLIC_KEY".to_owned(), pem.clone())),
        None => pairs.push((
            "ALIPAY_PUBLIC_KEY_FILE".to_owned(),
            test_support::keys::vector_path(&config.public_key_file),
        )),
    }
    pairs.extend(config.extra_env.iter().cloned());
    if let Some(seller_id) = &config.seller_id {
        pairs.push(("ALIPAY_SELLER_ID".to_owned(), seller_id.clone()));
    }
    let receiver = RunningReceiver::start(pairs, local_listener()).await;

    TestApp {
        address: receiver.address,
        topology,
        client: reqwest::Client::new(),
        channel,
        publisher: receiver.publisher,
        shutdown: receiver.shutdown,
        server: Some(receiver.server),
        notify_path,
        _connection: connection,
    }
}

/// A receiver that is connected and ready before the test starts.
pub async fn spawn_ready_app(config: TestConfig) -> TestApp {
    let app = spawn_app(config).await;
    app.wait_ready(true).await;
    app
}

impl TestApp {
    pub async fn post_notification(&self, body: impl Into<String>) -> reqwest::Response {
        self.post_raw(FORM, body.into().into_bytes(), None).await
    }

    pub async fn post_raw(
        &self,
        content_type: &str,
        body: Vec<u8>,
        request_id: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{}", self.address, self.notify_path))
            .header("content-type", content_type)
            .body(body);
        if let Some(id) = request_id {
            request = request.header("x-request-id", id);
        }
        request.send().await.expect("the receiver must answer")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// Polls `/readyz` (and the publisher) until it says `ready`, at most 10 s.
    pub async fn wait_ready(&self, ready: bool) {
        let what = if ready {
            "the receiver is ready"
        } else {
            "the receiver is not ready"
        };
        let patience = Patience::new(Duration::from_secs(10), Duration::from_millis(50));
        eventually(what, patience, || async {
            let status = self.get("/readyz").await.status().as_u16();
            (status == 200) == ready && self.publisher.is_ready() == ready
        })
        .await;
    }

    /// The next message in the order service's queue, if any. A confirmed publish is in the
    /// queue by the time the receiver answered, so no waiting is needed.
    pub async fn next_message(&self) -> Option<Delivery> {
        self.next_message_in(&self.topology.queue).await
    }

    pub async fn next_message_in(&self, queue: &str) -> Option<Delivery> {
        self.channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .map(|message| message.delivery)
    }

    /// No payment event was published. A sync hint (`order.sync`, sent for a notification that
    /// names one of our orders but does not verify) is not an event: it is drained and allowed.
    pub async fn assert_queue_empty(&self) {
        while let Some(message) = self.next_message().await {
            if message.routing_key.as_str() == common::events::SYNC_REQUEST_ROUTING_KEY {
                continue;
            }
            panic!(
                "expected no event, found {:?}",
                String::from_utf8_lossy(&message.data)
            );
        }
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
