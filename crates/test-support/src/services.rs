//! Each of the four services started in-process on port 0 (the caller's listener: no "pick a
//! free port then sleep"), with what a test needs to talk to it and to stop it.

use std::net::TcpListener;

use alipay_sandbox::RunningSandbox;
use common::config::Env;
use payment_gateway::RunningGateway;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::wait::{Patience, eventually};

/// `127.0.0.1:0`.
pub fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A TCP port nothing listens on: bound, read, and released.
pub fn closed_port() -> u16 {
    let listener = local_listener();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// An HTTP client that never follows redirects, so tests see where they point (a browser that
/// shows each hop).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// alipay-sandbox on port 0.
pub async fn spawn_sandbox(settings: alipay_sandbox::Settings) -> RunningSandbox {
    alipay_sandbox::Application::build_with_listener(
        settings,
        local_listener(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .spawn()
}

/// payment-gateway on port 0, without the HTTP (metrics) side.
pub async fn spawn_gateway(settings: payment_gateway::Settings) -> RunningGateway {
    payment_gateway::Application::build_with_listener(
        settings,
        local_listener(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .spawn()
}

/// payment-gateway on port 0 with its HTTP side (metrics, health) on another; returns the
/// HTTP side's base URL too.
pub async fn spawn_gateway_with_metrics(
    mut settings: payment_gateway::Settings,
) -> (RunningGateway, String) {
    settings.metrics_addr = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let application = payment_gateway::Application::build_with_listener(
        settings,
        local_listener(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let metrics_url = format!("http://127.0.0.1:{}", application.metrics_port().unwrap());
    (application.spawn(), metrics_url)
}

/// notify-receiver's variables every test sets: port 0, the test broker, where it publishes
/// and for which app. Add the key (or certificates) and anything else.
pub fn receiver_env(exchange: &str, app_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("AMQP_URL", crate::env::amqp_url()),
        ("AMQP_EXCHANGE", exchange.to_owned()),
        ("ALIPAY_APP_ID", app_id.to_owned()),
        ("HTTP_WORKERS", "2".to_owned()),
        ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
    ]
}

/// A notify-receiver serving in the background. Stop it with `shutdown`.
#[derive(Debug)]
pub struct RunningReceiver {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub publisher: notify_receiver::publisher::Publisher,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<std::io::Result<()>>,
}

impl RunningReceiver {
    /// Starts notify-receiver configured by `env` (later pairs win) on `listener`.
    pub async fn start<K, V>(env: impl IntoIterator<Item = (K, V)>, listener: TcpListener) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let settings = notify_receiver::Settings::from_env(&Env::from_pairs(env)).unwrap();
        let shutdown = CancellationToken::new();
        let application =
            notify_receiver::Application::build_with_listener(settings, listener, shutdown.clone())
                .await
                .unwrap();
        let address = format!("http://127.0.0.1:{}", application.port());
        let publisher = application.publisher().clone();
        let server = tokio::spawn(application.run_until_stopped());
        Self {
            address,
            publisher,
            shutdown,
            server,
        }
    }
}

/// The order service's variables every test sets, for a service on port 0 against `database_url`,
/// the test broker under `amqp_prefix`, and the gateway at `gateway_url`. Later pairs win, so a
/// harness appends its own.
pub fn order_env(
    database_url: &str,
    amqp_prefix: &str,
    gateway_url: &str,
    jwt_secret: &str,
    app_id: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("DATABASE_POOL_SIZE", "8".to_owned()),
        ("AMQP_URL", crate::env::amqp_url()),
        ("AMQP_PREFIX", amqp_prefix.to_owned()),
        ("PAYMENT_GATEWAY_URL", gateway_url.to_owned()),
        ("JWT_SECRET", jwt_secret.to_owned()),
        ("ALIPAY_APP_ID", app_id.to_owned()),
        // Tests drive the sweeper by hand (`sweep_once`) unless they turn it on.
        ("EXPIRY_SWEEP_INTERVAL", "0s".to_owned()),
        ("HTTP_WORKERS", "2".to_owned()),
        ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
        // Tests reconcile by hand (`reconcile::run_day`): a scheduled run would call the
        // sandbox's server APIs in the middle of tests that count them (`api.fail_5xx`).
        ("RECONCILE_AT", "off".to_owned()),
    ]
}

/// How long the order service may take to attach its consumer.
const CONSUMER_PATIENCE: Patience = Patience::new(
    std::time::Duration::from_secs(30),
    std::time::Duration::from_millis(20),
);

/// An order service on the test's runtime, its consumer attached. Stop it with `shutdown`.
#[derive(Debug)]
pub struct RunningOrder {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub state: order::state::SharedState,
    pub shutdown: CancellationToken,
    pub server: JoinHandle<std::io::Result<()>>,
}

impl RunningOrder {
    /// Builds (migrations, demo data) and serves on `settings.bind_addr`.
    pub async fn start(settings: order::Settings) -> Self {
        let shutdown = CancellationToken::new();
        let application = order::Application::build(settings, shutdown.clone())
            .await
            .unwrap();
        let address = format!("http://127.0.0.1:{}", application.port());
        let state = application.state();
        let server = tokio::spawn(application.run_until_stopped());
        let order = Self {
            address,
            state,
            shutdown,
            server,
        };
        eventually(
            "the order service's consumer is attached",
            CONSUMER_PATIENCE,
            || async { order.state.consumer_is_ready() },
        )
        .await;
        order
    }
}

/// An order service on a runtime (and thread) of its own, so a test can kill it abruptly
/// ([`OrderProcess::kill`]: its tasks and sockets vanish mid-stream, as in a crash).
#[derive(Debug)]
pub struct OrderProcess {
    pub address: String,
    pub state: order::state::SharedState,
    shutdown: CancellationToken,
    /// Fired to kill the instance: its runtime is dropped without waiting for anything.
    kill: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OrderProcess {
    /// Builds on `listener` (bound by the caller, who may have handed its URL out already) and
    /// waits until the consumer is attached.
    pub async fn start(settings: order::Settings, listener: TcpListener) -> Self {
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
        let process = Self {
            address,
            state,
            shutdown,
            kill: Some(kill_tx),
            thread: Some(thread),
        };
        eventually(
            "the order service's consumer is attached",
            CONSUMER_PATIENCE,
            || async { process.state.consumer_is_ready() },
        )
        .await;
        process
    }

    /// Kills the service abruptly.
    pub fn kill(mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        // Also releases actix's worker threads, which live outside the killed runtime.
        self.shutdown.cancel();
        self.join();
    }

    /// Stops the service gracefully and waits until it has.
    pub fn stop(mut self) {
        self.shutdown.cancel();
        self.join();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
