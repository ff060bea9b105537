//! Spawns the real receiver on port 0 against the real RabbitMQ, under per-test names.
//!
//! Every [`TestApp`] declares its own `t-<uuid>.` topology and deletes it when dropped (even when
//! the test panicked), so tests run in parallel without sharing a queue and leave nothing behind.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use alipay::form;
use alipay::keys::PrivateKey;
use alipay::sign::{self, SignType};
use common::amqp::Topology;
use common::config::Env;
use lapin::message::Delivery;
use lapin::options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Channel, Connection, ConnectionProperties};
use notify_receiver::publisher::Publisher;
use notify_receiver::{Application, Settings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const APP_ID: &str = "2021000000000001";
pub const SELLER_ID: &str = "2088102177846880";
pub const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The alipay crate's TEST-ONLY key pairs.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/alipay/tests/vectors")
}

/// "Alipay's" private key (TEST-ONLY, from the vectors): what signs our notifications.
pub fn alipay_private_key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let text =
            std::fs::read_to_string(vectors_dir().join("keys/alipay_private_pkcs8.pem")).unwrap();
        PrivateKey::from_text(&text).unwrap()
    })
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
    pub topology: Topology,
    pub client: reqwest::Client,
    /// The test's own channel, for reading what the receiver published.
    pub channel: Channel,
    pub publisher: Publisher,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
    pub notify_path: String,
    /// More queues to delete at the end (tests that add their own bindings).
    pub extra_queues: Vec<String>,
    connection: Connection,
}

pub async fn spawn_app(config: TestConfig) -> TestApp {
    common::telemetry::init();
    let topology = Topology::with_prefix(&format!("t-{}.", uuid::Uuid::now_v7()));
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ must be running for these tests");
    let channel = connection.create_channel().await.unwrap();
    if config.declare_queue {
        topology.declare_all(&channel).await.unwrap();
    } else {
        topology.declare_publisher_side(&channel).await.unwrap();
    }

    let key_path = vectors_dir()
        .join(&config.public_key_file)
        .display()
        .to_string();
    let notify_path = config
        .notify_path
        .clone()
        .unwrap_or_else(|| "/alipay/notify".into());
    let mut pairs = vec![
        ("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "AMQP_URL".to_owned(),
            config.amqp_url.clone().unwrap_or_else(amqp_url),
        ),
        ("AMQP_EXCHANGE".to_owned(), topology.exchange.clone()),
        ("ALIPAY_APP_ID".to_owned(), config.app_id.clone()),
        ("ALIPAY_SIGN_TYPE".to_owned(), config.sign_type.clone()),
        ("NOTIFY_PATH".to_owned(), notify_path.clone()),
        (
            "PUBLISH_CONFIRM_TIMEOUT".to_owned(),
            config.confirm_timeout.clone(),
        ),
        ("AMQP_CHANNELS".to_owned(), config.amqp_channels.to_string()),
        ("HTTP_WORKERS".to_owned(), "2".to_owned()),
        ("SHUTDOWN_TIMEOUT".to_owned(), "10s".to_owned()),
    ];
    let cert_mode = config
        .extra_env
        .iter()
        .any(|(name, _)| name.starts_with("ALIPAY_PUBLIC_CERT"));
    match &config.public_key_pem {
        _ if cert_mode => {}
        Some(pem) => pairs.push(("ALIPAY_PUBLIC_KEY".to_owned(), pem.clone())),
        None => pairs.push(("ALIPAY_PUBLIC_KEY_FILE".to_owned(), key_path)),
    }
    pairs.extend(config.extra_env.iter().cloned());
    if let Some(seller_id) = &config.seller_id {
        pairs.push(("ALIPAY_SELLER_ID".to_owned(), seller_id.clone()));
    }
    let settings = Settings::from_env(&Env::from_pairs(pairs)).unwrap();

    let shutdown = CancellationToken::new();
    let application = Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    let publisher = application.publisher().clone();
    let server = tokio::spawn(application.run_until_stopped());

    TestApp {
        address,
        topology,
        client: reqwest::Client::new(),
        channel,
        publisher,
        shutdown,
        server: Some(server),
        notify_path,
        extra_queues: Vec::new(),
        connection,
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
        for _ in 0..200 {
            let status = self.get("/readyz").await.status().as_u16();
            if (status == 200) == ready && self.publisher.is_ready() == ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the receiver did not become {}",
            if ready { "ready" } else { "not ready" }
        );
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
        let topology = self.topology.clone();
        let extra_queues = std::mem::take(&mut self.extra_queues);
        // Drop cannot await, and the test's runtime may be shutting down: clean up on a thread
        // with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(delete_topology(topology, extra_queues));
        });
        let _ = cleanup.join();
        // The test's connection closes when dropped.
        let _ = &self.connection;
    }
}

/// Deletes every queue and exchange of `topology` (and `extra_queues`), each on a fresh channel
/// if the previous deletion closed it, ignoring ones that do not exist.
async fn delete_topology(topology: Topology, extra_queues: Vec<String>) {
    let Ok(connection) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await
    else {
        return;
    };
    let queues = [topology.queue.clone(), topology.dead_queue.clone()]
        .into_iter()
        .chain(extra_queues);
    for queue in queues {
        if let Ok(channel) = connection.create_channel().await {
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
    for exchange in [&topology.exchange, &topology.dlx] {
        if let Ok(channel) = connection.create_channel().await {
            let _ = channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
    let _ = connection.close(200, "test cleanup".into()).await;
}

/// A TCP port nothing listens on: bound, read, and released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
