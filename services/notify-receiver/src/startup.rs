//! Wiring: settings → state → HTTP server and the RabbitMQ supervisor; and the shutdown order.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::metrics::Metrics;
use crate::notification::Verifier;
use crate::publisher::{self, Publisher};
use crate::rotation::CertificateSource;
use crate::routes::{self, AppState};
use crate::settings::Settings;
use payment_proto::GatewayClient;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("binding {addr} (BIND_ADDR): {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the HTTP server: {0}")]
    Server(#[source] std::io::Error),
    #[error("registering metrics: {0}")]
    Metrics(#[from] common::metrics::prometheus::Error),
    #[error("PAYMENT_GATEWAY_URL: {0}")]
    Gateway(#[source] tonic::transport::Error),
}

/// A built, not yet running, notify-receiver.
pub struct Application {
    port: u16,
    server: Server,
    publisher: Publisher,
    supervisor: JoinHandle<()>,
    /// Stops the supervisor; cancelled only after the HTTP server has drained, so in-flight
    /// requests still have their channel to be confirmed on.
    stop_supervisor: CancellationToken,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // actix's `Server` has no Debug; the port and the publisher say what matters.
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `settings.bind_addr` (port 0 picks a free port; see [`Application::port`]) and builds.
    /// `shutdown` is the process's one stop signal: when it fires, the server stops accepting,
    /// finishes the requests in flight, and then the RabbitMQ connection is closed.
    pub async fn build(
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let listener =
            TcpListener::bind(settings.bind_addr).map_err(|source| StartupError::Bind {
                addr: settings.bind_addr,
                source,
            })?;
        Self::build_with_listener(settings, listener, shutdown).await
    }

    /// Builds on a listener the caller bound (tests bind `127.0.0.1:0`).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let metrics = Metrics::new()?;
        let publisher = Publisher::new(
            settings.topology(),
            settings.amqp_channels,
            settings.publish_confirm_timeout,
            metrics.clone(),
        );

        // Spawned on the caller's runtime, before the HTTP workers exist: lapin binds the
        // connection to the runtime it is opened on, and this one lives as long as the process.
        let stop_supervisor = CancellationToken::new();
        let supervisor = tokio::spawn(publisher::supervise(
            publisher.clone(),
            settings.amqp_url.clone(),
            stop_supervisor.clone(),
        ));

        // Connects lazily, on this (the process's) runtime: only a rotation ever uses it.
        let certificates = match settings.alipay.certificates() {
            Some(store) => Some(CertificateSource::new(
                GatewayClient::connect(&settings.gateway_url, settings.gateway_timeout)
                    .map_err(StartupError::Gateway)?,
                store.clone(),
            )),
            None => None,
        };
        let state = web::Data::new(AppState {
            verifier: Verifier::new(
                settings.alipay.clone(),
                settings.sign_type,
                settings.app_id.clone(),
                settings.seller_id.clone(),
            )
            .with_encryption(settings.encrypt_key.clone()),
            certificates,
            publisher: publisher.clone(),
            metrics,
        });
        let notify_path = settings.notify_path.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(from_fn(routes::request_id_middleware))
                .service(web::resource(notify_path.as_str()).route(web::post().to(routes::notify)))
                .route("/healthz", web::get().to(routes::healthz))
                .route("/readyz", web::get().to(routes::readyz))
                .route("/metrics", web::get().to(routes::metrics))
        })
        .workers(settings.http_workers)
        .shutdown_timeout(settings.shutdown_timeout.as_secs().max(1))
        // Our own token instead of actix's signal handlers: one shutdown signal per process.
        .shutdown_signal(shutdown.cancelled_owned())
        .listen(listener)
        .map_err(StartupError::Server)?
        .run();

        Ok(Self {
            port,
            server,
            publisher,
            supervisor,
            stop_supervisor,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The publishing side, e.g. to ask whether it is ready.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Serves until the shutdown token fires, then drains: HTTP first, RabbitMQ last.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        info!("HTTP server stopped; closing the RabbitMQ connection");
        self.stop_supervisor.cancel();
        if let Err(error) = self.supervisor.await {
            tracing::error!(%error, "the RabbitMQ supervisor task failed");
        }
        served
    }
}
