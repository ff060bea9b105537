//! Spawns the real order service on port 0 over a [`Stack`] (test-support): its own database
//! (`order_test_<uuid>`) and RabbitMQ names (`t-<uuid>.`), both removed when the test ends, and an
//! alipay-sandbox and a payment-gateway (and, when asked, a notify-receiver) in-process on port 0.
//! What is here is the order service's own: its settings, its API and its database.
//!
//! Clean-up runs in `Drop`, so it happens even when the test panicked.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use common::amqp::publish_event;
use common::auth::JwtIssuer;
use common::config::Env;
use common::events::PaymentEventV2;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use lapin::message::Delivery;
use lapin::options::BasicGetOptions;
use lapin::{Channel, Connection};
use order::Settings;
use order::domain::OrderStatus;
use order::repository::{self, Order};
use order::state::SharedState;
use payment_gateway::RetryPolicy;
use serde_json::{Value, json};
use test_support::services::{RunningOrder, browser};
use test_support::stack::{Stack, StackConfig};
use test_support::{Patience, broker, eventually, eventually_ok};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use test_support::env::amqp_url;
pub use test_support::keys::{APP_ID, SELLER_ID};
pub use test_support::services::closed_port;

pub const JWT_SECRET: &str = "order-tests-secret-of-at-least-32-bytes";

/// How long a test waits for something the service does in the background.
const PATIENCE: Patience = Patience::new(Duration::from_secs(15), Duration::from_millis(20));

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
    pub settings: Settings,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
    /// The test's own confirm-mode channel, for publishing events and reading dead letters.
    pub channel: Channel,
    _connection: Connection,
    /// Sandbox, gateway, receiver, database and names; last, so it goes after the service.
    pub stack: Stack,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestConfig::default()).await
}

pub async fn spawn_app_with(config: TestConfig) -> TestApp {
    let stack = Stack::start(
        "order_test",
        StackConfig {
            receiver: config.notify_receiver,
            gateway_http_timeout: Some(config.gateway_http_timeout),
            gateway_retry: Some(RetryPolicy {
                attempts: config.gateway_attempts,
                backoff: Duration::from_millis(20),
            }),
            ..StackConfig::default()
        },
    )
    .await;
    let connection = broker::connect().await;
    let channel = broker::confirm_channel(&connection).await;
    stack.topology.declare_all(&channel).await.unwrap();

    let mut env = stack.order_env(JWT_SECRET);
    env.extend([
        ("AMQP_PREFETCH", config.prefetch.to_string()),
        ("PAYMENT_GATEWAY_TIMEOUT", config.gateway_timeout.clone()),
        (
            "SUCCESS_QUERY_INTERVAL",
            config.success_query_interval.clone(),
        ),
        ("REFUND_SETTLE_AFTER", "0s".to_owned()),
        (
            "STOREFRONT",
            if config.storefront { "on" } else { "off" }.to_owned(),
        ),
        // Read often, so tests see the dead-letter metric soon.
        ("DEAD_LETTER_POLL_INTERVAL", "200ms".to_owned()),
    ]);
    if let Some(gateway_url) = &config.gateway_url {
        env.push(("PAYMENT_GATEWAY_URL", gateway_url.clone()));
    }
    env.extend(config.env.iter().cloned());
    let settings = Settings::from_env(&Env::from_pairs(env)).unwrap();
    let service = RunningOrder::start(settings.clone()).await;

    TestApp {
        address: service.address,
        client: browser(),
        state: service.state,
        settings,
        shutdown: service.shutdown,
        server: Some(service.server),
        channel,
        _connection: connection,
        stack,
    }
}

/// A second instance of the same service (same database, same queue): a replica.
pub type Replica = RunningOrder;

impl TestApp {
    pub async fn spawn_replica(&self) -> Replica {
        RunningOrder::start(self.settings.clone()).await
    }

    /// Polls `condition` every 20 ms until it holds, failing the test after 15 s.
    pub async fn wait_until<F, Fut>(&self, what: &str, condition: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        eventually(what, PATIENCE, condition).await;
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
        self.stack.sandbox_api.pay(out_trade_no).await.unwrap()
    }

    /// The trade as the sandbox sees it.
    pub async fn sandbox_trade(&self, out_trade_no: &str) -> Value {
        self.stack.sandbox_api.trade(out_trade_no).await.unwrap()
    }

    pub async fn sandbox_faults(&self, faults: Option<Value>) {
        match faults {
            Some(faults) => self.stack.sandbox_api.set_faults(&faults).await,
            None => self.stack.sandbox_api.clear_faults().await,
        }
        .unwrap();
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        self.stack.database.connect().await
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
    pub async fn publish(&self, event: &PaymentEventV2) {
        publish_event(
            &self.channel,
            &self.stack.topology,
            event,
            Some("test-request"),
        )
        .await
        .unwrap();
    }

    /// Publishes raw bytes to the exchange (for unparseable events).
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                self.stack.topology.exchange.as_str().into(),
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
        let queue = &self.stack.topology.dead_queue;
        let patience = Patience::new(Duration::from_secs(15), Duration::from_millis(50));
        eventually_ok("a dead letter arrives", patience, || async {
            self.channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap()
                .map(|message| message.delivery)
                .ok_or("the dead-letter queue is empty")
        })
        .await
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
pub fn paid_event(out_trade_no: &str, total: &str, notify_id: &str) -> PaymentEventV2 {
    event_from(paid_params(out_trade_no, total, notify_id))
}

/// The event notify-receiver publishes for a notification with these fields: they are signed as
/// Alipay signs them (`sign` and `sign_type` replaced) and read by the receiver's own code, so a
/// test event is exactly what production would publish.
pub fn event_from(params: BTreeMap<String, String>) -> PaymentEventV2 {
    use alipay::sign::{self, SignType};
    use notify_receiver::notification::{Decision, Verifier};

    let key = test_support::keys::alipay_key();
    let mut fields: Vec<(&str, &str)> = params
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "sign" | "sign_type"))
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let signature = sign::sign(
        &key,
        SignType::Rsa2,
        &sign::notification_content(fields.iter().copied()),
    )
    .unwrap();
    fields.push(("sign_type", "RSA2"));
    fields.push(("sign", &signature));
    let body = alipay::form::encode(fields);
    let app_id = params.get("app_id").cloned().unwrap_or_default();
    let receiver = Verifier::new(key.public_key(), SignType::Rsa2, app_id, None);
    match receiver.decide(body.as_bytes(), Utc::now()).unwrap() {
        Decision::Publish(event) => *event,
        other => panic!("no event for {params:?}: {other:?}"),
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
