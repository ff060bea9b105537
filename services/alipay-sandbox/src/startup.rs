//! Building and running the server: [`Application`] for the binary and for tests, and
//! [`RunningSandbox`], the handle of one spawned in a test.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use alipay::keys::PublicKey;
use common::config::ConfigError;
use common::telemetry::{REQUEST_ID_HEADER, RequestId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::bill::{self, BillStore};
use crate::faults::Faults;
use crate::gateway;
use crate::gateway::pages;
use crate::metrics::Metrics;
use crate::notify::{Command, Dispatcher, NotifierHandle};
use crate::pki::Pki;
use crate::settings::Settings;
use crate::signing::AlipaySigner;
use crate::state::Sandbox;
use crate::test_api;
use crate::trade::TradeBook;

/// Largest request body accepted (a page-pay form with a long `biz_content` fits easily).
const MAX_BODY_BYTES: usize = 1 << 20;
/// How long in-flight requests get to finish on shutdown.
const SHUTDOWN_GRACE_SECS: u64 = 10;
/// How often unpaid trades past their deadline are closed (they are also closed whenever
/// touched, so this only matters for wap pay's `TRADE_CLOSED` notification).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("cannot build the notification HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot register metrics: {0}")]
    Metrics(String),
    #[error("the sandbox's PKI is unusable: {0}")]
    Pki(#[from] alipay::CertError),
}

/// A built, not yet running sandbox.
pub struct Application {
    port: u16,
    base_url: String,
    alipay_public_key: PublicKey,
    server: Server,
    sandbox: Arc<Sandbox>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// A child of the caller's token: the caller's stops everything, and stopping this sandbox
    /// alone (a test's `stop`) leaves the caller's token alone.
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `settings.bind_addr` and builds. `shutdown` is the process's one stop signal.
    pub async fn build(
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(settings.bind_addr)?;
        Self::build_with_listener(settings, listener, shutdown).await
    }

    /// Builds on the caller's listener (tests bind `127.0.0.1:0`). Nothing runs until
    /// [`Self::run_until_stopped`] or [`Self::spawn`].
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        settings.validate()?;
        let address = listener.local_addr()?;
        let port = address.port();
        let base_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| local_url(address));
        let signer = AlipaySigner::new(settings.alipay_private_key.clone());
        let alipay_public_key = signer.public_key();
        let http = reqwest::Client::builder()
            // Alipay does not follow redirects from a notify_url.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| StartupError::HttpClient(error.to_string()))?;
        let metrics = Metrics::new().map_err(|error| StartupError::Metrics(error.to_string()))?;
        let (notifier, commands) = NotifierHandle::new();
        let sandbox = Arc::new(Sandbox {
            apps: settings
                .apps
                .iter()
                .map(|app| (app.app_id.clone(), app.clone()))
                .collect::<HashMap<_, _>>(),
            signer,
            pki: settings.pki.clone().map(Pki::new).transpose()?,
            clock: Arc::clone(&settings.clock),
            time_scale: settings.time_scale,
            notify_timeout: settings.notify_timeout,
            timestamp_tolerance: settings.timestamp_tolerance,
            public_url: base_url.clone(),
            trades: Mutex::new(TradeBook::default()),
            faults: Mutex::new(Faults::default()),
            bills: Mutex::new(BillStore::default()),
            notifier,
            http,
            metrics,
        });
        if sandbox.apps.is_empty() {
            tracing::warn!("no app registered: every request will get isv.invalid-app-id");
        }
        let shutdown = shutdown.child_token();
        let data = web::Data::from(Arc::clone(&sandbox));
        let test_api = settings.test_api;
        // OpenAPI v3's replay guard: one nonce table for every worker of this sandbox.
        let v3_nonces = web::Data::new(crate::v3::NonceStore::default());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(v3_nonces.clone())
                .configure(crate::v3::routes)
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .wrap(from_fn(request_context))
                .route("/gateway.do", web::get().to(gateway::gateway))
                .route("/gateway.do", web::post().to(gateway::gateway))
                .route("/cashier/{trade_no}", web::get().to(pages::cashier))
                .route(
                    "/cashier/{trade_no}/pay",
                    web::post().to(pages::cashier_pay),
                )
                .route(
                    "/cashier/{trade_no}/cancel",
                    web::post().to(pages::cashier_cancel),
                )
                .route("/downloadBillFile.resource", web::get().to(bill::download))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics_text))
                .configure(|config| {
                    if test_api {
                        config.service(web::scope("/sandbox").configure(test_api::routes));
                    }
                })
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_signal(shutdown.clone().cancelled_owned())
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .run();
        tracing::info!(%address, %base_url, apps = sandbox.apps.len(), test_api, "alipay sandbox built");
        Ok(Application {
            port,
            base_url,
            alipay_public_key,
            server,
            sandbox,
            commands,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `SANDBOX_PUBLIC_URL`, or `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `<base_url>/gateway.do`: what `alipay::Gateway::Custom` wants.
    pub fn gateway_url(&self) -> String {
        format!("{}/gateway.do", self.base_url)
    }

    /// The key merchants verify notifications, returns and responses with.
    pub fn alipay_public_key(&self) -> &PublicKey {
        &self.alipay_public_key
    }

    /// Serves until the shutdown token is cancelled, letting in-flight requests finish. Must run
    /// on a tokio runtime that lives as long as the sandbox: notifications are sent from it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            sandbox,
            commands,
            shutdown,
            ..
        } = self;
        let dispatcher =
            tokio::spawn(Dispatcher::new(commands, Arc::clone(&sandbox), shutdown.clone()).run());
        let sweeper = tokio::spawn(sweep(sandbox, shutdown.clone()));
        let result = server.await;
        shutdown.cancel();
        let _ = dispatcher.await;
        let _ = sweeper.await;
        tracing::info!("alipay sandbox stopped");
        result
    }

    /// Runs in the background on the current runtime (tests).
    pub fn spawn(self) -> RunningSandbox {
        let port = self.port;
        let base_url = self.base_url.clone();
        let alipay_public_key = self.alipay_public_key.clone();
        let shutdown = self.shutdown.clone();
        let task = Some(tokio::spawn(self.run_until_stopped()));
        RunningSandbox {
            port,
            base_url,
            alipay_public_key,
            shutdown,
            task,
        }
    }
}

/// A sandbox running in the background.
#[derive(Debug)]
pub struct RunningSandbox {
    port: u16,
    base_url: String,
    alipay_public_key: PublicKey,
    shutdown: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSandbox {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn gateway_url(&self) -> String {
        format!("{}/gateway.do", self.base_url)
    }

    pub fn alipay_public_key(&self) -> &PublicKey {
        &self.alipay_public_key
    }

    /// Stops gracefully and waits until it has.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        // A test that forgets `stop()` must not leave a server running in its runtime.
        self.shutdown.cancel();
    }
}

/// `http://<the listener's address>`, with loopback for a wildcard bind.
fn local_url(address: SocketAddr) -> String {
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    format!("http://{}", SocketAddr::new(ip, address.port()))
}

async fn sweep(sandbox: Arc<Sandbox>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            _ = ticks.tick() => sandbox.with_book(|_, _, _| ()),
            () = shutdown.cancelled() => break,
        }
    }
}

/// Request id in, request id out, and one span per request for the logs.
async fn request_context(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    let id = RequestId::from_header_or_generate(
        request.headers().get(&header).and_then(|v| v.to_str().ok()),
    );
    let span = tracing::info_span!("http", request_id = %id, method = %request.method(), path = %request.path());
    let mut response = next.call(request).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(header, value);
    }
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    Ok(response)
}

/// `/healthz`, in the shape every service shares.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(common::health::CONTENT_TYPE)
        .body(common::health::HealthReport::alive().to_json())
}

/// `/readyz`: the sandbox needs nothing outside itself, so serving is being ready.
async fn readyz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(common::health::CONTENT_TYPE)
        .body(common::health::HealthReport::readiness([]).to_json())
}

async fn metrics_text(sandbox: web::Data<Sandbox>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(common::metrics::CONTENT_TYPE)
        .body(sandbox.metrics.render())
}
