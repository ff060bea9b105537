//! What every handler, the consumer and the sweeper share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::auth::JwtVerifier;

use crate::db::PgPool;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::opener::Opener;
use crate::subjects::Subjects;

/// Shared state; one per application, behind an `Arc`.
pub struct AppState {
    pub pool: PgPool,
    /// Inserts new orders, in batches under load.
    pub opener: Opener,
    pub gateway: Gateway,
    /// The subjects new orders will be given, so that their links can be signed meanwhile.
    pub subjects: Subjects,
    pub verifier: JwtVerifier,
    pub metrics: Metrics,
    pub order_ttl: chrono::Duration,
    pub success_query_interval: chrono::Duration,
    pub refund_settle_after: chrono::Duration,
    /// Delays after creation at which unpaid orders are queried (`SYNC_SCHEDULE`); empty: off.
    pub sync_schedule: Vec<chrono::Duration>,
    /// How long an early event waits before it is dead-lettered.
    pub early_event_patience: chrono::Duration,
    /// Events for any other app are dead-lettered.
    pub app_id: String,
    /// Set by the consumer while it is attached to its queue; read by `/readyz`.
    pub consumer_ready: AtomicBool,
    /// Fired when a delivery held through a database outage gets through, so the others held
    /// with it retry at once.
    pub database_back: tokio::sync::Notify,
}

impl std::fmt::Debug for AppState {
    // The pool's connections have no Debug; its size says what matters.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("pool_size", &self.pool.status().max_size)
            .field("app_id", &self.app_id)
            .field("consumer_ready", &self.consumer_is_ready())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of one application (the server, or a one-off command such as `order
    /// reconcile`): the settings' durations as `chrono` ones, and the order writers started on
    /// the current runtime.
    pub fn new(
        settings: &crate::settings::Settings,
        pool: PgPool,
        gateway: Gateway,
        metrics: Metrics,
    ) -> Result<Self, common::config::ConfigError> {
        let to_chrono =
            |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Ok(Self {
            opener: Opener::start(pool.clone(), settings.order_writers, metrics.clone()),
            pool,
            gateway,
            subjects: Subjects::default(),
            verifier: settings.jwt.verifier()?,
            metrics,
            order_ttl: to_chrono(settings.order_ttl),
            success_query_interval: to_chrono(settings.success_query_interval),
            refund_settle_after: to_chrono(settings.refund_settle_after),
            sync_schedule: settings
                .sync_schedule
                .iter()
                .copied()
                .map(to_chrono)
                .collect(),
            early_event_patience: to_chrono(settings.early_event_patience),
            app_id: settings.app_id.clone(),
            consumer_ready: AtomicBool::new(false),
            database_back: tokio::sync::Notify::new(),
        })
    }

    pub fn consumer_is_ready(&self) -> bool {
        self.consumer_ready.load(Ordering::Relaxed)
    }

    pub fn set_consumer_ready(&self, ready: bool) {
        self.consumer_ready.store(ready, Ordering::Relaxed);
        self.metrics.set_consumer_connected(ready);
    }
}

pub type SharedState = Arc<AppState>;
