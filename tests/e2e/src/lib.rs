//! The end-to-end harness: the whole system in one test process, every service on port 0,
//! talking over the real wire (HTTP, gRPC, AMQP, PostgreSQL) exactly as in production:
//!
//! ```text
//! test ──HTTP──▶ order ──gRPC──▶ payment-gateway ──HTTP──▶ alipay-sandbox
//!                  ▲                                           │ signed notification
//!                  └──AMQP── RabbitMQ ◀──confirmed── notify-receiver ◀┘
//! ```
//!
//! Each [`System`] has its own database (dropped at the end) and its own RabbitMQ names (a
//! `t-<uuid>.` prefix, deleted at the end), so systems run in parallel. The order service runs
//! on a runtime of its own, so a test can kill it abruptly ([`System::kill_order`]: its tasks
//! and sockets vanish mid-stream, as in a crash) and start a fresh instance.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness: failing loudly is the point

use std::time::Duration;

use common::auth::JwtIssuer;
use common::config::Env;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use test_support::Patience;
use test_support::services::{OrderProcess, browser, local_listener};
use test_support::stack::{Stack, StackConfig};

pub use test_support::keys::{APP_ID, CERT_APP_ID, CERT_SELLER_ID, SELLER_ID};

const JWT_SECRET: &str = "e2e-tests-secret-of-at-least-32-bytes!!";
/// How long [`eventually`] waits before failing a test.
const PATIENCE: Patience = Patience::new(Duration::from_secs(30), Duration::from_millis(25));

/// Knobs a test may turn.
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// `0s` turns the order service's own sweep off.
    pub sweep_interval: &'static str,
    /// 1 = Alipay's real retry schedule (4 min, 10 min, ...); 0.001 retries within a second.
    pub sandbox_time_scale: f64,
    /// More environment variables for the order service, over the harness's own.
    pub order_env: Vec<(&'static str, String)>,
    /// The protocol of the gateway's server calls (`ALIPAY_API_VERSION`).
    pub api_version: payment_gateway::ApiVersion,
    /// Certificate mode (公钥证书) with AES content encryption on every part, on the alipay
    /// crate's TEST-ONLY PKI (app [`CERT_APP_ID`]).
    pub certificate_mode: bool,
}

impl Default for SystemConfig {
    fn default() -> Self {
        Self {
            sweep_interval: "0s",
            sandbox_time_scale: 0.001,
            order_env: Vec::new(),
            api_version: payment_gateway::ApiVersion::V2,
            certificate_mode: false,
        }
    }
}

#[derive(Debug)]
pub struct System {
    pub http: reqwest::Client,
    order: Option<OrderProcess>,
    order_settings: order::Settings,
    /// Sandbox, gateway, receiver, database and RabbitMQ names: dropped last, after the order
    /// service stopped.
    pub stack: Stack,
}

/// The list in a paginated answer.
fn items(body: &Value) -> Option<&Vec<Value>> {
    body["items"].as_array()
}

/// Polls `condition` every 25 ms until it holds; fails the test after 30 s.
pub async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    test_support::eventually(what, PATIENCE, condition).await;
}

impl System {
    pub async fn start() -> Self {
        Self::start_with(SystemConfig::default()).await
    }

    pub async fn start_with(config: SystemConfig) -> Self {
        // The order service's port first: the gateway hands its return URL to Alipay.
        let order_listener = local_listener();
        let order_port = order_listener.local_addr().unwrap().port();
        let stack = Stack::start(
            "e2e",
            StackConfig {
                certificate_mode: config.certificate_mode,
                sandbox_time_scale: config.sandbox_time_scale,
                api_version: config.api_version,
                receiver: true,
                return_url: format!("http://127.0.0.1:{order_port}/pay/success"),
                ..StackConfig::default()
            },
        )
        .await;

        let mut order_env = stack.order_env(JWT_SECRET);
        order_env.extend([
            ("ORDER_TTL", "15m".to_owned()),
            ("EXPIRY_SWEEP_INTERVAL", config.sweep_interval.to_owned()),
            ("SUCCESS_QUERY_INTERVAL", "1s".to_owned()),
            ("SEED_DEMO_DATA", "on".to_owned()),
        ]);
        order_env.extend(config.order_env.iter().cloned());
        let order_settings = order::Settings::from_env(&Env::from_pairs(order_env)).unwrap();
        let order = OrderProcess::start(order_settings.clone(), order_listener).await;

        Self {
            http: browser(),
            order: Some(order),
            order_settings,
            stack,
        }
    }

    fn order(&self) -> &OrderProcess {
        self.order
            .as_ref()
            .expect("the order service is not running")
    }

    pub fn order_url(&self, path: &str) -> String {
        format!("{}{path}", self.order().address)
    }

    /// Kills the order service abruptly (see the module docs).
    pub fn kill_order(&mut self) {
        if let Some(instance) = self.order.take() {
            instance.kill();
        }
    }

    /// Starts a fresh order-service instance on the same database and queue.
    pub async fn restart_order(&mut self) {
        self.kill_order();
        let listener = local_listener();
        self.order = Some(OrderProcess::start(self.order_settings.clone(), listener).await);
    }

    pub fn token(&self, user_id: &str) -> String {
        JwtIssuer::hs256(JWT_SECRET.as_bytes())
            .unwrap()
            .issue_for(user_id, false, Duration::from_secs(3600))
            .unwrap()
    }

    /// Moves the whole day into yesterday on both sides (the sandbox's trades with their
    /// payments and refunds, and our payment and refund times), then reconciles yesterday's bill
    /// as the scheduler would. Alipay has no bill for today, hence the move.
    pub async fn reconcile_as_yesterday(
        &self,
        out_trade_nos: &[String],
    ) -> order::reconcile::Report {
        for out_trade_no in out_trade_nos {
            self.stack
                .sandbox_api
                .backdate(out_trade_no, 86_400)
                .await
                .unwrap_or_else(|error| panic!("backdating {out_trade_no}: {error}"));
        }
        let mut connection = self.stack.database.connect().await;
        for sql in [
            "UPDATE orders SET pay_time = pay_time - interval '1 day' WHERE pay_time IS NOT NULL",
            "UPDATE refunds SET created_at = created_at - interval '1 day', \
             updated_at = updated_at - interval '1 day'",
        ] {
            diesel::sql_query(sql)
                .execute(&mut connection)
                .await
                .unwrap();
        }
        let yesterday = order::reconcile::beijing_today(chrono::Utc::now())
            .pred_opt()
            .unwrap();
        let settings = order::reconcile::ReconcileSettings {
            seller_id: Some(self.stack.seller_id.to_owned()),
            ..self.order_settings.reconcile.clone()
        };
        order::reconcile::run_day(&self.order().state, &settings, yesterday, "test", true)
            .await
            .unwrap()
    }

    /// A token with the admin role (refunds).
    pub fn admin_token(&self) -> String {
        JwtIssuer::hs256(JWT_SECRET.as_bytes())
            .unwrap()
            .issue_for("admin", true, Duration::from_secs(3600))
            .unwrap()
    }

    /// An admin refunds `amount` of the order; returns the HTTP status (201 refunded, 202
    /// pending).
    pub async fn refund(&self, out_trade_no: &str, amount: &str) -> u16 {
        self.http
            .post(self.order_url(&format!("/api/v1/orders/{out_trade_no}/refunds")))
            .header("authorization", format!("Bearer {}", self.admin_token()))
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The demo catalog over HTTP: (id, price) of each course.
    pub async fn courses(&self) -> Vec<(i64, String)> {
        let body: Value = self
            .http
            .get(self.order_url("/api/v1/courses"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        items(&body)
            .unwrap_or_else(|| panic!("no courses in {body}"))
            .iter()
            .map(|course| {
                (
                    course["id"].as_i64().unwrap(),
                    course["price"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// `POST /order/pay/` for one course as `user`, as the original frontend sends it: the status
    /// and the JSON body, whatever they are.
    pub async fn request_pay_link(&self, user: &str, course: i64, price: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.order_url("/order/pay/"))
            .header("authorization", format!("jwt {}", self.token(user)))
            .json(&json!({
                "subject": "Rust 入门",
                "total_amount": price,
                "pay_type": 1,
                "course_list": [course],
            }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Buys the first demo course as `user` (the original frontend's call) and opens the pay
    /// link as the browser would, so the sandbox has the trade. Returns the order number.
    pub async fn buy(&self, user: &str) -> String {
        let (course, price) = self.courses().await.remove(0);
        let (status, body) = self.request_pay_link(user, course, &price).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["code"], 1, "{body}");
        let pay_link = body["data"].as_str().unwrap().to_owned();
        let cashier = self.http.get(&pay_link).send().await.unwrap();
        assert!(
            cashier.status().is_success(),
            "the sandbox refused the pay link: {}",
            cashier.text().await.unwrap()
        );
        // The order number is inside the signed biz_content; the order API says it plainly.
        let orders: Value = self
            .http
            .get(self.order_url("/api/v1/orders"))
            .header("authorization", format!("Bearer {}", self.token(user)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        items(&orders).unwrap_or_else(|| panic!("no orders in {orders}"))[0]["out_trade_no"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The buyer pays on the cashier (the sandbox's test API does what the Pay button does).
    /// Returns where the browser would be sent: the signed return URL.
    pub async fn pay(&self, out_trade_no: &str) -> String {
        let body = self.stack.sandbox_api.pay(out_trade_no).await.unwrap();
        body["redirect_url"].as_str().unwrap_or_default().to_owned()
    }

    /// Sets the sandbox's faults (`PUT /sandbox/faults`).
    pub async fn faults(&self, faults: Value) {
        self.stack.sandbox_api.set_faults(&faults).await.unwrap();
    }

    /// The sandbox's view of the trade, with every notification attempt.
    pub async fn trade(&self, out_trade_no: &str) -> Value {
        self.stack.sandbox_api.trade(out_trade_no).await.unwrap()
    }

    /// The order as its owner sees it (`GET /api/v1/orders/{no}`).
    pub async fn order_of(&self, user: &str, out_trade_no: &str) -> Value {
        let body: Value = self
            .http
            .get(self.order_url(&format!("/api/v1/orders/{out_trade_no}")))
            .header("authorization", format!("Bearer {}", self.token(user)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body
    }

    pub async fn status_of(&self, user: &str, out_trade_no: &str) -> i64 {
        self.order_of(user, out_trade_no).await["status"]
            .as_i64()
            .unwrap_or(-1)
    }

    pub async fn wait_until_paid(&self, user: &str, out_trade_no: &str) {
        eventually(&format!("order {out_trade_no} is paid"), || async {
            self.status_of(user, out_trade_no).await == 1
        })
        .await;
    }

    /// Moves the order's expiry into the past, as if its time-to-live had run out.
    pub async fn expire_now(&self, out_trade_no: &str) {
        let mut connection = self.stack.database.connect().await;
        diesel::sql_query(
            "UPDATE orders SET expires_at = now() - interval '1 second' WHERE out_trade_no = $1",
        )
        .bind::<diesel::sql_types::Text, _>(out_trade_no)
        .execute(&mut connection)
        .await
        .unwrap();
    }

    /// Runs one SQL query returning a single BIGINT against this system's database.
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut connection = self.stack.database.connect().await;
        diesel::sql_query(sql)
            .get_result::<Count>(&mut connection)
            .await
            .unwrap()
            .n
    }

    /// Payment events recorded for the order (each a state change; duplicates are not stored).
    pub async fn payment_events(&self, out_trade_no: &str) -> i64 {
        self.count(&format!(
            "SELECT count(*) AS n FROM payment_events e JOIN orders o ON o.id = e.order_id \
             WHERE o.out_trade_no = '{out_trade_no}'"
        ))
        .await
    }

    /// Messages waiting in the dead-letter queue.
    pub async fn dead_letters(&self) -> u32 {
        let connection = test_support::broker::connect().await;
        let channel = connection.create_channel().await.unwrap();
        let queue = channel
            .queue_declare(
                self.stack.topology.dead_queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        let _ = connection.close(200, "bye".into()).await;
        queue.message_count()
    }

    /// Stops everything and removes the database and the RabbitMQ names.
    pub async fn shut_down(mut self) {
        if let Some(order) = self.order.take() {
            order.stop();
        }
        self.stack.stop().await;
    }
}

/// A test that panicked never reaches [`System::shut_down`]: kill the order service; the stack
/// cleans up after itself.
impl Drop for System {
    fn drop(&mut self) {
        if let Some(order) = self.order.take() {
            order.kill();
        }
    }
}
