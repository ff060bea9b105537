//! notify-receiver: Alipay's asynchronous notifications in, confirmed payment events out.
//!
//! Modules, from the edge inwards:
//! - [`cli`]: the command line, whose generated `--help` lists every variable;
//! - [`settings`]: environment variables, validated at start-up;
//! - [`startup`]: [`Application`] wires the HTTP server and the RabbitMQ supervisor together and
//!   orders the shutdown;
//! - [`routes`]: the notification endpoint, `/healthz`, `/readyz`, `/metrics`, request ids;
//! - [`notification`]: the pure decision on a raw body (verify, check identity, classify);
//! - [`publisher`]: the shared confirm-mode channel and the supervisor that keeps it alive;
//! - [`error`]: the one error enum, mapped to `400/503 fail` in one place;
//! - [`metrics`]: the Prometheus registry.
//!
//! The receiver is stateless: every decision comes from the request and the configuration, and a
//! notification handled twice (Alipay's retries, or two replicas) publishes the same `event_id`,
//! which the order service stores once.

pub mod cli;
pub mod error;
pub mod metrics;
pub mod notification;
pub mod publisher;
pub mod rotation;
pub mod routes;
pub mod settings;
pub mod startup;

pub use error::NotifyError;
pub use settings::Settings;
pub use startup::{Application, StartupError};
