//! Wiring: settings → the gRPC server (the gateway, `grpc.health.v1`, reflection) and the small
//! HTTP side; and the shutdown order.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use payment_proto::v1::payment_gateway_server::PaymentGatewayServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::http::{self, OpsState};
use crate::metrics::Metrics;
use crate::service::GatewayService;
use crate::settings::{Settings, SettingsError};
use crate::signing::SigningPool;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration: {0}")]
    Settings(#[from] SettingsError),
    #[error("binding {addr} ({variable}): {source}")]
    Bind {
        addr: SocketAddr,
        variable: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("preparing the listener: {0}")]
    Listener(#[source] std::io::Error),
    #[error("building the Alipay HTTP client: {0}")]
    HttpClient(#[source] alipay::ClientError),
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("starting the signing threads: {0}")]
    SigningThreads(#[source] std::io::Error),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Why the running gateway stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("building the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// A built gateway: listeners bound, keys checked, nothing served yet.
pub struct Application {
    port: u16,
    grpc_listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    service: GatewayService,
    metrics: Metrics,
    shutdown: CancellationToken,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `settings.bind_addr` (and `settings.metrics_addr`, when set) and builds.
    /// `shutdown` is the process's one stop signal.
    pub async fn build(
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let listener = bind(settings.bind_addr, "BIND_ADDR")?;
        Self::build_with_listener(settings, listener, shutdown).await
    }

    /// Checks the settings (a malformed key cannot get here; Alipay's public key must not be our
    /// own) and takes the gRPC listener the caller bound (port 0 in tests); the HTTP side binds
    /// `settings.metrics_addr` (port 0 reads back through [`Self::metrics_port`]). Stops when
    /// `shutdown` fires; [`RunningGateway::stop`] stops this gateway alone. Must be called
    /// inside a tokio runtime.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        settings.validate()?;
        let port = listener
            .local_addr()
            .map_err(StartupError::Listener)?
            .port();
        let metrics_listener = settings
            .metrics_addr
            .map(|addr| bind(addr, "METRICS_ADDR"))
            .transpose()?;
        let grpc_listener = into_tokio(listener)?;
        let metrics_listener = metrics_listener.map(into_tokio).transpose()?;
        reflection_services()?;
        let metrics = Metrics::new()?;
        let signing = SigningPool::start(settings.alipay_config().signer, settings.signing_threads)
            .map_err(StartupError::SigningThreads)?;
        let service = GatewayService::new(&settings, metrics.clone(), signing)
            .map_err(StartupError::HttpClient)?;
        Ok(Application {
            port,
            grpc_listener,
            metrics_listener,
            service,
            metrics,
            // A child, so that stopping this gateway alone (a test's `stop`) leaves the caller's
            // token, and whatever else it stops, alone.
            shutdown: shutdown.child_token(),
            shutdown_timeout: settings.shutdown_timeout,
        })
    }

    /// The gRPC port (the one bound, so port 0 reads back the real one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP side's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .map(|addr| addr.port())
    }

    /// Serves until the shutdown token fires; then reports NOT_SERVING (gRPC health and
    /// `/readyz`), stops accepting, and lets in-flight calls finish for up to the shutdown
    /// timeout.
    pub async fn run_until_stopped(self) -> Result<(), RunError> {
        let ready = Arc::new(AtomicBool::new(true));
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        health_reporter
            .set_serving::<PaymentGatewayServer<GatewayService>>()
            .await;
        let (reflection, reflection_v1alpha) = reflection_services()?;

        // The HTTP side outlives the gRPC drain, so `/readyz` can say 503 while calls finish.
        let ops_stop = CancellationToken::new();
        let ops = self.metrics_listener.map(|listener| {
            let state = OpsState {
                metrics: self.metrics.clone(),
                ready: ready.clone(),
            };
            tokio::spawn(http::serve(listener, state, ops_stop.clone()))
        });

        let shutdown = self.shutdown.clone();
        let draining = {
            let ready = ready.clone();
            let health_reporter = health_reporter.clone();
            async move {
                shutdown.cancelled().await;
                ready.store(false, Ordering::Relaxed);
                health_reporter
                    .set_not_serving::<PaymentGatewayServer<GatewayService>>()
                    .await;
                info!("shutdown requested; draining in-flight calls");
            }
        };
        let incoming = TcpIncoming::from(self.grpc_listener).with_nodelay(Some(true));
        let server = Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_v1alpha)
            .add_service(PaymentGatewayServer::new(self.service))
            .serve_with_incoming_shutdown(incoming, draining);

        let shutdown = self.shutdown.clone();
        let timeout = self.shutdown_timeout;
        let served = tokio::select! {
            served = server => served.map_err(RunError::from),
            () = async move {
                shutdown.cancelled().await;
                tokio::time::sleep(timeout).await;
            } => {
                warn!(timeout_ms = timeout.as_millis() as u64, "in-flight calls did not finish in time; stopping anyway");
                Ok(())
            }
        };
        ops_stop.cancel();
        if let Some(ops) = ops {
            let _ = ops.await;
        }
        served
    }

    /// Runs on the current tokio runtime; the handle stops it.
    pub fn spawn(self) -> RunningGateway {
        let port = self.port;
        let shutdown = self.shutdown.clone();
        let task = tokio::spawn(self.run_until_stopped());
        RunningGateway {
            port,
            shutdown,
            task: Some(task),
        }
    }
}

/// gRPC reflection for `payment.v1` and `grpc.health.v1` (grpcurl works without the .proto),
/// in both protocol versions: `v1`, and `v1alpha`, which older grpcurl and Python's
/// grpcio-reflection still ask for.
#[allow(clippy::type_complexity)]
fn reflection_services() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    tonic_reflection::server::Error,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(payment_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

fn bind(addr: SocketAddr, variable: &'static str) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).map_err(|source| StartupError::Bind {
        addr,
        variable,
        source,
    })
}

fn into_tokio(listener: TcpListener) -> Result<tokio::net::TcpListener, StartupError> {
    listener
        .set_nonblocking(true)
        .map_err(StartupError::Listener)?;
    tokio::net::TcpListener::from_std(listener).map_err(StartupError::Listener)
}

/// A gateway running in the background (tests, and the order service's tests). Dropping the
/// handle stops it too.
#[derive(Debug)]
pub struct RunningGateway {
    port: u16,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), RunError>>>,
}

impl RunningGateway {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}`, for `payment_proto::GatewayClient::connect`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops gracefully and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "the gateway stopped with an error"),
                Err(error) => warn!(%error, "the gateway task failed"),
            }
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
