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

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alipay::keys::{PrivateKey, PublicKey};
use alipay_sandbox::{AppRegistration, RunningSandbox};
use common::amqp::Topology;
use common::auth::JwtIssuer;
use common::config::Env;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lapin::{Connection, ConnectionProperties};
use payment_gateway::RunningGateway;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const APP_ID: &str = "2021000000000001";
pub const SELLER_ID: &str = "2088102177846880";
/// The app of the TEST-ONLY certificate-mode PKI in the alipay crate's vectors.
pub const CERT_APP_ID: &str = "2021004100000001";
pub const CERT_SELLER_ID: &str = "2088000000000001";
const JWT_SECRET: &str = "e2e-tests-secret-of-at-least-32-bytes!!";
/// How long [`System::eventually`] waits before failing a test.
const PATIENCE: Duration = Duration::from_secs(30);

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn postgres_base() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn keys_dir() -> PathBuf {
    vectors_dir().join("keys")
}

/// The alipay crate's TEST-ONLY vectors (keys, the certificate-mode PKI, AES keys).
fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/alipay/tests/vectors")
}

fn vector_text(relative: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(relative)).unwrap()
}

/// A TEST-ONLY key from the alipay crate's vectors.
fn private_key(file: &str) -> PrivateKey {
    PrivateKey::from_text(&std::fs::read_to_string(keys_dir().join(file)).unwrap()).unwrap()
}

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

/// One order-service instance on a runtime of its own.
struct OrderInstance {
    address: String,
    state: order::state::SharedState,
    shutdown: CancellationToken,
    /// Fired to kill the instance: its runtime is dropped without waiting for anything.
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OrderInstance {
    async fn start(settings: order::Settings, listener: TcpListener) -> Self {
        let shutdown = CancellationToken::new();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let application =
                    order::Application::build_with_listener(settings, listener, token)
                        .await
                        .unwrap();
                let address = format!("http://127.0.0.1:{}", application.port());
                let _ = ready_tx.send((address, application.state()));
                tokio::select! {
                    _ = application.run_until_stopped() => {}
                    _ = kill_rx => {}
                }
            });
            // After a kill: every task (the consumer mid-delivery, its AMQP and database
            // connections) is dropped where it stands.
            runtime.shutdown_background();
        });
        let (address, state) = ready_rx.await.expect("the order service did not start");
        let instance = Self {
            address,
            state,
            shutdown,
            kill: Some(kill_tx),
            thread: Some(thread),
        };
        eventually("the order service's consumer is attached", || async {
            instance.state.consumer_is_ready()
        })
        .await;
        instance
    }

    fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        // Also releases actix's worker threads, which live outside the killed runtime.
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub struct System {
    pub id: String,
    /// Our app at Alipay: [`APP_ID`], or [`CERT_APP_ID`] in certificate mode.
    pub app_id: &'static str,
    pub seller_id: &'static str,
    pub http: reqwest::Client,
    pub sandbox: RunningSandbox,
    pub topology: Topology,
    database: String,
    pub database_url: String,
    gateway: Option<RunningGateway>,
    notify_shutdown: CancellationToken,
    notify_server: Option<JoinHandle<std::io::Result<()>>>,
    pub notify_url: String,
    order: Option<OrderInstance>,
    order_settings: order::Settings,
    /// Set by [`System::shut_down`]; otherwise `Drop` cleans up.
    cleaned: bool,
}

impl std::fmt::Debug for System {
    // The services' handles have no Debug; the names say which system this is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("id", &self.id)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// The list in a paginated answer.
fn items(body: &Value) -> Option<&Vec<Value>> {
    body["items"].as_array()
}

/// Polls `condition` every 25 ms until it holds; fails the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

impl System {
    pub async fn start() -> Self {
        Self::start_with(SystemConfig::default()).await
    }

    pub async fn start_with(config: SystemConfig) -> Self {
        common::telemetry::init();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("t-{id}.");

        // PostgreSQL: a database of our own.
        let database = format!("e2e_{id}");
        let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", postgres_base()))
            .await
            .expect("PostgreSQL must be running for these tests");
        diesel::sql_query(format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        let database_url = format!("{}/{database}", postgres_base());

        let (app_id, seller_id) = if config.certificate_mode {
            (CERT_APP_ID, CERT_SELLER_ID)
        } else {
            (APP_ID, SELLER_ID)
        };
        let pki_key = |name: &str| private_key(&format!("pki_{name}_private.pem"));
        let aes = alipay::AesKey::from_base64(&vector_text("keys/aes_128_key.b64")).unwrap();

        // Alipay, played by the sandbox, which knows our app's public key (and, in certificate
        // mode, its certificate, Alipay's PKI and the AES key).
        let app_key = if config.certificate_mode {
            pki_key("app")
        } else {
            private_key("app_private_pkcs8.pem")
        };
        let mut registration = AppRegistration::new(app_id, app_key.public_key(), seller_id);
        let mut sandbox_settings =
            alipay_sandbox::Settings::new(private_key("alipay_private_pkcs8.pem"))
                .with_time_scale(config.sandbox_time_scale);
        if config.certificate_mode {
            registration = registration
                .with_certificate(&vector_text("certs/appCertPublicKey_2021004100000001.crt"))
                .unwrap()
                .with_encrypt_key(aes.clone());
            sandbox_settings = sandbox_settings.with_pki(alipay_sandbox::pki::PkiSettings {
                root_bundle_pem: vector_text("certs/alipayRootCert.crt"),
                certificates: vec![
                    alipay_sandbox::pki::AlipayCertificate::new(
                        &vector_text("certs/alipayCertPublicKey_RSA2.crt"),
                        pki_key("alipay"),
                    )
                    .unwrap(),
                    alipay_sandbox::pki::AlipayCertificate::new(
                        &vector_text("certs/alipayCertPublicKey_RSA2_rotated.crt"),
                        pki_key("alipay_rotated"),
                    )
                    .unwrap(),
                ],
            });
        }
        let sandbox = alipay_sandbox::Application::build_with_listener(
            sandbox_settings.with_app(registration),
            TcpListener::bind("127.0.0.1:0").unwrap(),
            CancellationToken::new(),
        )
        .await
        .unwrap()
        .spawn();
        let alipay_public_key: PublicKey = sandbox.alipay_public_key().clone();

        // The receiver's port first: the gateway hands its URL to Alipay.
        let notify_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let notify_port = notify_listener.local_addr().unwrap().port();
        let notify_url = format!("http://127.0.0.1:{notify_port}/alipay/notify");

        // The order service's port first: the gateway hands its return URL to Alipay.
        let order_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let order_port = order_listener.local_addr().unwrap().port();

        let mut gateway_settings = payment_gateway::Settings::new(
            app_id,
            app_key,
            alipay_public_key.clone(),
            sandbox.gateway_url(),
        )
        .with_notify_url(notify_url.clone())
        .with_return_url(format!("http://127.0.0.1:{order_port}/pay/success"))
        .with_api_version(config.api_version);
        if config.certificate_mode {
            gateway_settings = gateway_settings
                .with_certificates(&payment_gateway::settings::CertificateTexts {
                    app_cert: vector_text("certs/appCertPublicKey_2021004100000001.crt"),
                    alipay_cert: vector_text("certs/alipayCertPublicKey_RSA2.crt"),
                    root_cert: vector_text("certs/alipayRootCert.crt"),
                })
                .unwrap()
                .with_encrypt_key(aes);
        }
        let gateway = payment_gateway::Application::build_with_listener(
            gateway_settings,
            TcpListener::bind("127.0.0.1:0").unwrap(),
            CancellationToken::new(),
        )
        .await
        .unwrap()
        .spawn();

        // notify-receiver, publishing under our prefix. In certificate mode it holds Alipay's
        // certificate and the root bundle, and asks the gateway for a rotated certificate.
        let mut notify_env = vec![
            ("BIND_ADDR", "127.0.0.1:0".to_owned()),
            ("AMQP_URL", amqp_url()),
            ("AMQP_EXCHANGE", format!("{prefix}payments")),
            ("ALIPAY_APP_ID", app_id.to_owned()),
            ("ALIPAY_SELLER_ID", seller_id.to_owned()),
            ("HTTP_WORKERS", "2".to_owned()),
            ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
        ];
        if config.certificate_mode {
            let path = |relative: &str| vectors_dir().join(relative).display().to_string();
            notify_env.extend([
                (
                    "ALIPAY_PUBLIC_CERT_FILE",
                    path("certs/alipayCertPublicKey_RSA2.crt"),
                ),
                ("ALIPAY_ROOT_CERT_FILE", path("certs/alipayRootCert.crt")),
                ("PAYMENT_GATEWAY_URL", gateway.url()),
            ]);
        } else {
            notify_env.push(("ALIPAY_PUBLIC_KEY", alipay_public_key.to_pem()));
        }
        let notify_settings =
            notify_receiver::Settings::from_env(&Env::from_pairs(notify_env)).unwrap();
        let notify_shutdown = CancellationToken::new();
        let notify = notify_receiver::Application::build_with_listener(
            notify_settings,
            notify_listener,
            notify_shutdown.clone(),
        )
        .await
        .unwrap();
        let notify_server = tokio::spawn(notify.run_until_stopped());

        let mut order_env = vec![
            ("BIND_ADDR", "127.0.0.1:0".to_owned()),
            ("DATABASE_URL", database_url.clone()),
            ("DATABASE_POOL_SIZE", "8".to_owned()),
            ("AMQP_URL", amqp_url()),
            ("AMQP_PREFIX", prefix.clone()),
            ("PAYMENT_GATEWAY_URL", gateway.url()),
            ("JWT_SECRET", JWT_SECRET.to_owned()),
            ("ALIPAY_APP_ID", app_id.to_owned()),
            ("ORDER_TTL", "15m".to_owned()),
            ("EXPIRY_SWEEP_INTERVAL", config.sweep_interval.to_owned()),
            ("SUCCESS_QUERY_INTERVAL", "1s".to_owned()),
            ("SEED_DEMO_DATA", "on".to_owned()),
            ("HTTP_WORKERS", "2".to_owned()),
            ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
            // A scheduled reconciliation would call the sandbox's server APIs in the middle of
            // tests that count them (faults such as `api.fail_5xx`).
            ("RECONCILE_AT", "off".to_owned()),
        ];
        order_env.extend(config.order_env.iter().cloned());
        let order_settings = order::Settings::from_env(&Env::from_pairs(order_env)).unwrap();
        let order = OrderInstance::start(order_settings.clone(), order_listener).await;

        Self {
            topology: Topology::with_prefix(&prefix),
            id,
            app_id,
            seller_id,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            sandbox,
            database,
            database_url,
            gateway: Some(gateway),
            notify_shutdown,
            notify_server: Some(notify_server),
            notify_url,
            order: Some(order),
            order_settings,
            cleaned: false,
        }
    }

    fn order(&self) -> &OrderInstance {
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        self.order = Some(OrderInstance::start(self.order_settings.clone(), listener).await);
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
            let response = self
                .http
                .post(format!(
                    "{}/sandbox/trades/{out_trade_no}/backdate",
                    self.sandbox.base_url()
                ))
                .json(&json!({"seconds": 86_400}))
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "backdating {out_trade_no}");
        }
        let mut connection = AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap();
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
            seller_id: Some(self.seller_id.to_owned()),
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

    /// Buys the first demo course as `user` (the original frontend's call) and opens the pay
    /// link as the browser would, so the sandbox has the trade. Returns the order number.
    pub async fn buy(&self, user: &str) -> String {
        let (course, price) = self.courses().await.remove(0);
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
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
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
        let response = self
            .http
            .post(format!(
                "{}/sandbox/trades/{out_trade_no}/pay",
                self.sandbox.base_url()
            ))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        let body: Value = response.json().await.unwrap();
        body["redirect_url"].as_str().unwrap_or_default().to_owned()
    }

    /// Sets the sandbox's faults (`PUT /sandbox/faults`).
    pub async fn faults(&self, faults: Value) {
        let response = self
            .http
            .put(format!("{}/sandbox/faults", self.sandbox.base_url()))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }

    /// The sandbox's view of the trade, with every notification attempt.
    pub async fn trade(&self, out_trade_no: &str) -> Value {
        self.http
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
        let mut connection = AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap();
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
        let mut connection = AsyncPgConnection::establish(&self.database_url)
            .await
            .unwrap();
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
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let queue = channel
            .queue_declare(
                self.topology.dead_queue.as_str().into(),
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
        self.notify_shutdown.cancel();
        if let Some(server) = self.notify_server.take() {
            let _ = server.await;
        }
        if let Some(gateway) = self.gateway.take() {
            gateway.stop().await;
        }
        clean_up(self.topology.clone(), self.database.clone()).await;
        self.cleaned = true;
    }
}

/// A test that panicked never reaches [`System::shut_down`]: clean up anyway, on a thread with
/// a runtime of its own (the test's runtime is unwinding).
impl Drop for System {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        if let Some(order) = self.order.take() {
            order.kill();
        }
        self.notify_shutdown.cancel();
        let (topology, database) = (self.topology.clone(), self.database.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(clean_up(topology, database));
            }
        })
        .join();
    }
}

async fn clean_up(topology: Topology, database: String) {
    if let Ok(connection) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await
        && let Ok(channel) = connection.create_channel().await
    {
        let _ = topology.delete_all(&channel).await;
        let _ = connection.close(200, "bye".into()).await;
    }
    if let Ok(mut admin) =
        AsyncPgConnection::establish(&format!("{}/postgres", postgres_base())).await
    {
        let _ = diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        ))
        .execute(&mut admin)
        .await;
    }
}
