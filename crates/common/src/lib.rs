//! What every payment service shares, so that the contracts of `DESIGN.md` are written once.
//!
//! - [`money`]: the amount types, and [`numbers`] the merchant's order and refund numbers, both
//!   re-exported from the `domain` crate (never written twice; no Alipay SDK needed for them).
//! - [`config`]: typed environment variables whose errors name the variable; secrets that never print.
//! - [`telemetry`]: JSON logs and the request id that travels HTTP → gRPC → AMQP.
//! - [`shutdown`]: the one cancellation token per process, fired by SIGTERM or Ctrl-C.
//! - [`events`]: the versioned payment event published by notify-receiver and consumed by order.
//! - [`amqp`]: the RabbitMQ topology both sides declare, and confirmed publishing.
//! - [`http`]: the `{"code","msg","data"}` envelope the original frontend expects.
//! - [`auth`]: JWT claims, verification with a pinned algorithm, and token issuing.
//! - [`metrics`]: Prometheus text exposition for `/metrics`.
//! - [`health`]: the one body of every service's `/healthz` and `/readyz`.
//! - `web` (feature `actix`): the request-id middleware and extractor of the actix-web services.

pub mod amqp;
pub mod auth;
pub mod config;
pub mod events;
pub mod health;
pub mod http;
pub mod metrics;
pub mod money;
pub mod numbers;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "actix")]
pub mod web;

/// The merchant's calendar (China Standard Time), from the `domain` crate: the days of a bill.
pub use domain::beijing;
