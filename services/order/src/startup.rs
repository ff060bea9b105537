//! Wiring: settings → migrations, pool, gateway client, state → the HTTP server, the payment-event
//! consumer and the expiry sweeper, all stopped by one shutdown token.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use common::config::ExposeSecret;
use payment_proto::GatewayClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::consumer::{self, ConsumerConfig};
use crate::db::{self, DbSetupError};
use crate::expiry;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::routes;
use crate::settings::Settings;
use crate::state::{AppState, SharedState};

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
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("PAYMENT_GATEWAY_URL: {0}")]
    Gateway(#[from] tonic::transport::Error),
    #[error(transparent)]
    Config(#[from] common::config::ConfigError),
}

/// A built, running-on-spawn order service.
pub struct Application {
    port: u16,
    server: Server,
    state: SharedState,
    consumer: JoinHandle<()>,
    sweeper: Option<JoinHandle<()>>,
    /// The daily reconciliation (`RECONCILE_AT`), unless off.
    reconciler: Option<JoinHandle<()>>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `settings.bind_addr` and builds.
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

    /// Builds on a listener the caller bound (tests bind `127.0.0.1:0`). Applies the migrations
    /// and seeds the demo catalog first, so a service that answers has its schema.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let metrics = Metrics::new()?;
        let database_url = settings.database_url.expose_secret().to_owned();
        db::run_migrations(&database_url).await?;
        let pool = db::pool(&database_url, settings.database_pool_size)?;
        if settings.seed_demo_data {
            let seeded = db::seed_demo_courses(&pool).await?;
            if seeded > 0 {
                info!(seeded, "demo courses added to the empty catalog");
            }
        }
        let clients = (0..settings.payment_gateway_connections)
            .map(|_| {
                GatewayClient::connect(
                    &settings.payment_gateway_url,
                    settings.payment_gateway_timeout,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let state: SharedState = Arc::new(AppState::new(
            &settings,
            pool,
            Gateway::new(clients, metrics.clone()),
            metrics,
        )?);

        // Background loops run on the caller's runtime (lapin binds its connection to the runtime
        // it is opened on, and this one lives as long as the process), started before the HTTP
        // workers exist.
        let consumer = tokio::spawn(consumer::run(
            state.clone(),
            ConsumerConfig {
                amqp_url: settings.amqp_url.clone(),
                topology: settings.topology(),
                prefetch: settings.amqp_prefetch,
                dead_letter_poll_interval: settings.dead_letter_poll_interval,
            },
            shutdown.clone(),
        ));
        let sweeper = settings
            .sweep_interval
            .map(|interval| tokio::spawn(expiry::run(state.clone(), interval, shutdown.clone())));
        let reconciler = settings.reconcile.at.map(|at| {
            tokio::spawn(crate::reconcile::schedule(
                state.clone(),
                settings.reconcile.clone(),
                at,
                shutdown.clone(),
            ))
        });

        let storefront = if settings.storefront {
            Some(crate::storefront::Storefront::new(settings.jwt.issuer()?))
        } else {
            None
        };
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(routes::json_config())
                .app_data(routes::query_config())
                .app_data(routes::payload_config())
                .wrap(from_fn(routes::request_id_middleware))
                // The original frontend's routes, unchanged.
                .route("/order/pay/", web::post().to(routes::pay))
                .route("/order/success/", web::get().to(routes::success))
                .service(
                    web::scope("/api/v1")
                        .route("/courses", web::get().to(routes::list_courses))
                        .route("/courses/{id}", web::get().to(routes::get_course))
                        .route("/orders", web::get().to(routes::list_orders))
                        .route("/orders/{out_trade_no}", web::get().to(routes::get_order))
                        .route(
                            "/orders/{out_trade_no}/pay-link",
                            web::post().to(routes::pay_link),
                        )
                        .route(
                            "/orders/{out_trade_no}/cancel",
                            web::post().to(routes::cancel_order),
                        )
                        .route(
                            "/orders/{out_trade_no}/refunds",
                            web::post().to(routes::create_refund),
                        )
                        .route(
                            "/orders/{out_trade_no}/refunds",
                            web::get().to(routes::list_refunds),
                        )
                        .route(
                            "/refunds/{out_request_no}/retry",
                            web::post().to(routes::retry_refund),
                        )
                        .route(
                            "/reconciliations",
                            web::get().to(crate::reconcile::http::list),
                        )
                        .route(
                            "/reconciliations/{date}",
                            web::get().to(crate::reconcile::http::get),
                        )
                        .route("/openapi.json", web::get().to(routes::openapi)),
                )
                .route("/healthz", web::get().to(routes::healthz))
                .route("/readyz", web::get().to(routes::readyz))
                .route("/metrics", web::get().to(routes::metrics))
                // The demo pages at `/` (and a dev login), only when STOREFRONT=on.
                .configure(|config| {
                    if let Some(storefront) = &storefront {
                        storefront.clone().configure(config);
                    }
                })
                .default_service(web::to(routes::no_such_route))
        })
        .workers(settings.http_workers)
        .shutdown_timeout(settings.shutdown_timeout.as_secs().max(1))
        // Our own token instead of actix's signal handlers: one shutdown signal per process.
        .shutdown_signal(shutdown.clone().cancelled_owned())
        .listen(listener)
        .map_err(StartupError::Server)?
        .run();

        Ok(Self {
            port,
            server,
            state,
            consumer,
            sweeper,
            reconciler,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (tests drive the sweeper and read the pool through it).
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// Serves until the shutdown token fires; then the HTTP server drains its requests, the
    /// consumer finishes the deliveries it holds, and the sweeper its pass.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // The server also stops on a fatal error: take the background loops down with it.
        self.shutdown.cancel();
        info!("HTTP server stopped; waiting for the consumer and the sweeper");
        if let Err(error) = self.consumer.await {
            tracing::error!(%error, "the consumer task failed");
        }
        if let Some(sweeper) = self.sweeper
            && let Err(error) = sweeper.await
        {
            tracing::error!(%error, "the sweeper task failed");
        }
        if let Some(reconciler) = self.reconciler
            && let Err(error) = reconciler.await
        {
            tracing::error!(%error, "the reconciliation task failed");
        }
        served
    }
}
