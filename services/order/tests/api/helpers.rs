//! Spawns the real order service on port 0 with everything it talks to:
//! - a PostgreSQL database of its own (`order_test_<uuid>`), dropped when the test ends;
//! - RabbitMQ names under a `t-<uuid>.` prefix, deleted when the test ends;
//! - an alipay-sandbox and a payment-gateway pointed at it, both in-process on port 0.
//!
//! Clean-up runs in `Drop`, so it happens even when the test panicked.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use alipay::keys::{PrivateKey, PublicKey};
use alipay_sandbox::{AppRegistration, RunningSandbox};
use chrono::Utc;
use common::amqp::{Topology, publish_event};
use common::auth::JwtIssuer;
use common::config::Env;
use common::events::PaymentEventV1;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lapin::message::Delivery;
use lapin::options::{
    BasicGetOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::{Channel, Connection, ConnectionProperties};
use order::domain::OrderStatus;
use order::repository::{self, Order};
use order::state::SharedState;
use order::{Application, Settings};
use payment_gateway::RunningGateway;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const APP_ID: &str = "2021000000000001";
pub const SELLER_ID: &str = "2088102177846880";
pub const JWT_SECRET: &str = "order-tests-secret-of-at-least-32-bytes";

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The server that hosts the per-test databases (trust auth on loopback).
pub fn postgres_base() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/alipay/tests/vectors/keys")
}

/// The merchant's key pair (TEST-ONLY, from the alipay crate's vectors).
pub fn app_keys() -> &'static (PrivateKey, PublicKey) {
    static KEYS: OnceLock<(PrivateKey, PublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let private = std::fs::read_to_string(vectors_dir().join("app_private_pkcs8.pem")).unwrap();
        let public = std::fs::read_to_string(vectors_dir().join("app_public.pem")).unwrap();
        (
            PrivateKey::from_text(&private).unwrap(),
            PublicKey::from_text(&public).unwrap(),
        )
    })
}

/// "Alipay's" private key (TEST-ONLY): the sandbox signs with it.
pub fn alipay_key() -> PrivateKey {
    let text = std::fs::read_to_string(vectors_dir().join("alipay_private_pkcs8.pem")).unwrap();
    PrivateKey::from_text(&text).unwrap()
}

/// How one test's service is set up.
#[derive(Debug, Clone)]
pub struct TestConfig {
    /// Point the service at this gateway URL instead of the in-process one (e.g. a closed port).
    pub gateway_url: Option<String>,
    pub gateway_timeout: String,
    /// The gateway's HTTP timeout towards the sandbox.
    pub gateway_http_timeout: Duration,
    /// The gateway's attempts for idempotent calls.
    pub gateway_attempts: u32,
    pub success_query_interval: String,
    pub prefetch: u16,
    /// Run a notify-receiver too and point the gateway's `notify_url` at it, so the sandbox's
    /// notifications travel the real path to the consumer.
    pub notify_receiver: bool,
    /// `STOREFRONT=on`.
    pub storefront: bool,
    /// More environment variables for the service, over the defaults above.
    pub env: Vec<(&'static str, String)>,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            gateway_url: None,
            gateway_timeout: "5s".into(),
            gateway_http_timeout: Duration::from_secs(5),
            gateway_attempts: 3,
            success_query_interval: "5s".into(),
            prefetch: 8,
            notify_receiver: false,
            storefront: false,
            env: Vec::new(),
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: SharedState,
    pub topology: Topology,
    pub database: String,
    pub database_url: String,
    pub sandbox: RunningSandbox,
    /// Kept so the gateway runs as long as the test.
    _gateway: RunningGateway,
    pub settings: Settings,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
    /// notify-receiver's stop token and task, when it runs.
    _receiver: Option<(String, CancellationToken, JoinHandle<std::io::Result<()>>)>,
    /// The test's own confirm-mode channel, for publishing events and reading dead letters.
    pub channel: Channel,
    _connection: Connection,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

pub async fn spawn_app_with(config: TestConfig) -> TestApp {
    common::telemetry::init();
    let id = uuid::Uuid::new_v4().simple().to_string();

    // The database.
    let database = format!("order_test_{id}");
    let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", postgres_base()))
        .await
        .expect("PostgreSQL must be running for these tests");
    diesel::sql_query(format!("CREATE DATABASE \"{database}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let database_url = format!("{}/{database}", postgres_base());

    // Alipay and the gateway.
    let (app_private, app_public) = app_keys().clone();
    let sandbox = alipay_sandbox::Application::build_with_listener(
        alipay_sandbox::Settings::new(alipay_key())
            .with_app(AppRegistration::new(APP_ID, app_public, SELLER_ID)),
        TcpListener::bind("127.0.0.1:0").unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .spawn();
    // RabbitMQ.
    let topology = Topology::with_prefix(&format!("t-{id}."));
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ must be running for these tests");
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    topology.declare_all(&channel).await.unwrap();

    // notify-receiver, when asked for: it verifies the sandbox's notifications with "Alipay's"
    // public key and publishes them to this test's exchange.
    let receiver = if config.notify_receiver {
        let settings = notify_receiver::Settings::from_env(&Env::from_pairs([
            ("BIND_ADDR", "127.0.0.1:0".to_owned()),
            ("AMQP_URL", amqp_url()),
            ("AMQP_EXCHANGE", topology.exchange.clone()),
            ("ALIPAY_APP_ID", APP_ID.to_owned()),
            (
                "ALIPAY_PUBLIC_KEY_FILE",
                vectors_dir()
                    .join("alipay_public.pem")
                    .display()
                    .to_string(),
            ),
            ("HTTP_WORKERS", "1".to_owned()),
        ]))
        .unwrap();
        let shutdown = CancellationToken::new();
        let receiver = notify_receiver::Application::build(settings, shutdown.clone())
            .await
            .unwrap();
        let url = format!("http://127.0.0.1:{}/alipay/notify", receiver.port());
        let task = tokio::spawn(receiver.run_until_stopped());
        Some((url, shutdown, task))
    } else {
        None
    };
    let notify_url = receiver.as_ref().map_or_else(
        || "http://127.0.0.1:9/alipay/notify".to_owned(),
        |r| r.0.clone(),
    );

    let gateway = payment_gateway::Application::build_with_listener(
        payment_gateway::Settings::new(
            APP_ID,
            app_private,
            sandbox.alipay_public_key().clone(),
            sandbox.gateway_url(),
        )
        .with_notify_url(notify_url)
        .with_return_url("http://127.0.0.1:9/order/success/")
        .with_http_timeouts(config.gateway_http_timeout, Duration::from_secs(2))
        .with_retry(payment_gateway::settings::RetryPolicy {
            attempts: config.gateway_attempts,
            backoff: Duration::from_millis(20),
        }),
        TcpListener::bind("127.0.0.1:0").unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .spawn();

    let gateway_url = config.gateway_url.clone().unwrap_or_else(|| gateway.url());
    let mut env = vec![
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.clone()),
        ("DATABASE_POOL_SIZE", "8".to_owned()),
        ("AMQP_URL", amqp_url()),
        ("AMQP_PREFIX", format!("t-{id}.")),
        ("AMQP_PREFETCH", config.prefetch.to_string()),
        ("PAYMENT_GATEWAY_URL", gateway_url),
        ("PAYMENT_GATEWAY_TIMEOUT", config.gateway_timeout.clone()),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("ALIPAY_APP_ID", APP_ID.to_owned()),
        // Tests drive the sweeper by hand (`sweep_once`).
        ("EXPIRY_SWEEP_INTERVAL", "0s".to_owned()),
        (
            "SUCCESS_QUERY_INTERVAL",
            config.success_query_interval.clone(),
        ),
        ("REFUND_SETTLE_AFTER", "0s".to_owned()),
        ("HTTP_WORKERS", "2".to_owned()),
        ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
        // Tests reconcile by hand (`reconcile::run_day`).
        ("RECONCILE_AT", "off".to_owned()),
        (
            "STOREFRONT",
            if config.storefront { "on" } else { "off" }.to_owned(),
        ),
        // Read often, so tests see the dead-letter metric soon.
        ("DEAD_LETTER_POLL_INTERVAL", "200ms".to_owned()),
    ];
    env.extend(config.env.iter().cloned());
    let settings = Settings::from_env(&Env::from_pairs(env)).unwrap();

    let shutdown = CancellationToken::new();
    let application = Application::build(settings.clone(), shutdown.clone())
        .await
        .unwrap();
    let port = application.port();
    let state = application.state();
    let server = tokio::spawn(application.run_until_stopped());

    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        topology,
        database,
        database_url,
        sandbox,
        _gateway: gateway,
        settings,
        shutdown,
        server: Some(server),
        channel,
        _receiver: receiver,
        _connection: connection,
    };
    app.wait_until("the consumer is attached", || async {
        app.state.consumer_is_ready()
    })
    .await;
    app
}

/// A second instance of the same service (same database, same queue): a replica.
pub struct Replica {
    pub state: SharedState,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn spawn_replica(&self) -> Replica {
        let shutdown = CancellationToken::new();
        let application = Application::build(self.settings.clone(), shutdown.clone())
            .await
            .unwrap();
        let state = application.state();
        let server = tokio::spawn(application.run_until_stopped());
        let replica = Replica {
            state,
            shutdown,
            server,
        };
        self.wait_until("the replica's consumer is attached", || async {
            replica.state.consumer_is_ready()
        })
        .await;
        replica
    }

    /// Polls `condition` every 20 ms until it holds, failing the test after 15 s.
    pub async fn wait_until<F, Fut>(&self, what: &str, condition: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            if condition().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting until {what}");
    }

    pub fn token(&self, user_id: &str, admin: bool) -> String {
        JwtIssuer::hs256(JWT_SECRET.as_bytes())
            .unwrap()
            .issue_for(user_id, admin, Duration::from_secs(3600))
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send().await.unwrap()
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// `POST /order/pay/` with the original frontend's scheme (`jwt <token>`).
    pub async fn pay(&self, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/order/pay/"))
            .header("authorization", format!("jwt {token}"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Orders the courses for `user` and returns the new order's number and pay link.
    pub async fn order(&self, user: &str, courses: &[i64], total: &str) -> (String, String) {
        let token = self.token(user, false);
        let response = self
            .pay(
                &token,
                json!({"subject": "课程", "total_amount": total, "pay_type": 1, "course_list": courses}),
            )
            .await;
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 1, "{body}");
        let link = body["data"].as_str().unwrap().to_owned();
        let orders: Value = self
            .get("/api/v1/orders?per_page=1", Some(&token))
            .await
            .json()
            .await
            .unwrap();
        let number = orders["items"][0]["out_trade_no"]
            .as_str()
            .unwrap()
            .to_owned();
        (number, link)
    }

    /// What a buyer's browser does with the pay link: opens Alipay's cashier (the sandbox creates
    /// the trade then).
    pub async fn open_cashier(&self, link: &str) {
        let response = self.client.get(link).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// The buyer pays at the cashier.
    pub async fn buyer_pays(&self, out_trade_no: &str) -> Value {
        let response = self
            .client
            .post(format!(
                "{}/sandbox/trades/{out_trade_no}/pay",
                self.sandbox.base_url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "{}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    /// The trade as the sandbox sees it.
    pub async fn sandbox_trade(&self, out_trade_no: &str) -> Value {
        self.client
            .get(format!(
                "{}/sandbox/trades/{out_trade_no}",
                self.sandbox.base_url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sandbox_faults(&self, faults: Option<Value>) {
        let url = format!("{}/sandbox/faults", self.sandbox.base_url());
        let request = match faults {
            Some(faults) => self.client.put(url).json(&faults),
            None => self.client.delete(url),
        };
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap()
    }

    pub async fn order_row(&self, out_trade_no: &str) -> Order {
        repository::find_order(&mut self.conn().await, out_trade_no)
            .await
            .unwrap()
            .expect("the order exists")
    }

    pub async fn order_count(&self) -> i64 {
        use diesel::QueryDsl as _;
        order::schema::orders::table
            .count()
            .get_result(&mut self.conn().await)
            .await
            .unwrap()
    }

    pub async fn wait_for_status(&self, out_trade_no: &str, status: OrderStatus) -> Order {
        self.wait_until(&format!("{out_trade_no} is {status}"), || async {
            self.order_row(out_trade_no).await.status == status
        })
        .await;
        self.order_row(out_trade_no).await
    }

    pub async fn event_count(&self, out_trade_no: &str) -> i64 {
        let order = self.order_row(out_trade_no).await;
        repository::event_count(&mut self.conn().await, order.id)
            .await
            .unwrap()
    }

    /// Moves an order's expiry into the past.
    pub async fn expire(&self, out_trade_no: &str) {
        diesel::sql_query(
            "UPDATE orders SET expires_at = now() - interval '1 minute' WHERE out_trade_no = $1",
        )
        .bind::<diesel::sql_types::Text, _>(out_trade_no)
        .execute(&mut self.conn().await)
        .await
        .unwrap();
    }

    /// Adds a course to the catalog.
    pub async fn add_course(&self, name: &str, price: &str, active: bool) -> i64 {
        repository::insert_course(&mut self.conn().await, name, price.parse().unwrap(), active)
            .await
            .unwrap()
            .id
    }

    /// Publishes an event as notify-receiver would.
    pub async fn publish(&self, event: &PaymentEventV1) {
        publish_event(&self.channel, &self.topology, event, Some("test-request"))
            .await
            .unwrap();
    }

    /// Publishes raw bytes to the exchange (for unparseable events).
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                self.topology.exchange.as_str().into(),
                routing_key.into(),
                lapin::options::BasicPublishOptions::default(),
                body,
                lapin::BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// The next dead letter, waiting up to 15 s for one.
    pub async fn next_dead_letter(&self) -> Delivery {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while tokio::time::Instant::now() < deadline {
            if let Some(message) = self
                .channel
                .basic_get(
                    self.topology.dead_queue.as_str().into(),
                    BasicGetOptions { no_ack: true },
                )
                .await
                .unwrap()
            {
                return message.delivery;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no dead letter arrived");
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics", None).await.text().await.unwrap()
    }
}

/// A notification's fields as Alipay sends them (a payment of `total` for `out_trade_no`).
pub fn paid_params(out_trade_no: &str, total: &str, notify_id: &str) -> BTreeMap<String, String> {
    [
        ("gmt_create", "2026-11-26 09:00:00"),
        ("charset", "utf-8"),
        ("gmt_payment", "2026-11-26 09:01:00"),
        ("notify_time", "2026-11-26 09:01:01"),
        ("subject", "课程"),
        ("buyer_id", "2088102177846875"),
        ("notify_id", notify_id),
        ("notify_type", "trade_status_sync"),
        ("out_trade_no", out_trade_no),
        ("total_amount", total),
        ("receipt_amount", total),
        ("trade_status", "TRADE_SUCCESS"),
        ("trade_no", "2026112622001400000000000001"),
        ("app_id", APP_ID),
        ("seller_id", SELLER_ID),
        ("sign_type", "RSA2"),
        ("sign", "c2lnbmF0dXJl"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The event notify-receiver publishes for [`paid_params`].
pub fn paid_event(out_trade_no: &str, total: &str, notify_id: &str) -> PaymentEventV1 {
    PaymentEventV1::from_notification(paid_params(out_trade_no, total, notify_id), Utc::now())
        .unwrap()
}

/// An event built from any fields.
pub fn event_from(params: BTreeMap<String, String>) -> PaymentEventV1 {
    PaymentEventV1::from_notification(params, Utc::now()).unwrap()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some((_, shutdown, task)) = self._receiver.take() {
            shutdown.cancel();
            task.abort();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        let topology = self.topology.clone();
        let database = self.database.clone();
        // Drop cannot await, and the test's runtime may be shutting down: clean up on a thread
        // with a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                delete_topology(&topology).await;
                if let Ok(mut admin) =
                    AsyncPgConnection::establish(&format!("{}/postgres", postgres_base())).await
                {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                    ))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

async fn delete_topology(topology: &Topology) {
    let Ok(connection) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await
    else {
        return;
    };
    for queue in [&topology.queue, &topology.dead_queue] {
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

/// A TCP port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// A connection to the server's `postgres` database, for administrative statements.
pub async fn admin_connection() -> AsyncPgConnection {
    AsyncPgConnection::establish(&format!("{}/postgres", postgres_base()))
        .await
        .unwrap()
}
