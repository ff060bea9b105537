//! order: the course catalog, orders and their Alipay pay links, the payment-event consumer,
//! expiry, and refunds.
//!
//! Modules, from the edge inwards:
//! - [`cli`]: the command line, whose generated `--help` lists every variable;
//! - [`settings`]: environment variables, validated at start-up;
//! - [`startup`]: [`Application`] wires the HTTP server, the consumer and the sweeper to one
//!   shutdown token;
//! - [`routes`]: HTTP handlers (the original frontend's `/order/pay/` and `/order/success/`, the
//!   REST API under `/api/v1`, health, metrics), the JWT extractor and request ids;
//! - [`openapi`]: the OpenAPI document; [`storefront`]: the demo pages (`STOREFRONT=on`);
//! - [`error`]: the one HTTP error enum, mapped to status codes and the envelope in one place;
//! - [`orders`], [`refunds`]: the use cases behind the handlers;
//! - [`payments`]: applying paid/closed/refunded facts exactly once (events and queries alike);
//! - [`consumer`]: the RabbitMQ consumer of payment events, patient with a database outage;
//! - [`inbox`]: events that came before their payment, kept until they can apply;
//! - [`dead_letters`]: the dead-letter queue's depth in the metrics, `order dead-letters`;
//! - [`sync`]: unpaid orders asked about on a growing schedule (a lost notification);
//! - [`expiry`]: the sweeper that runs sync, closes expired orders and settles pending refunds;
//! - [`reconcile`]: the daily reconciliation against Alipay's trade bill (CLI, schedule, API);
//! - [`gateway`]: the payment-gateway client, with errors sorted by what to do about them;
//! - [`domain`]: statuses and numbers as types; [`repository`] and [`schema`]: the database;
//!   [`db`]: the pool, the embedded migrations, the demo catalog;
//! - [`state`], [`metrics`]: what everything shares.

pub mod cli;
pub mod consumer;
pub mod db;
pub mod dead_letters;
pub mod domain;
pub mod error;
pub mod expiry;
pub mod gateway;
pub mod inbox;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod payments;
pub mod reconcile;
pub mod refunds;
pub mod repository;
pub mod routes;
pub mod schema;
pub mod settings;
pub mod startup;
pub mod state;
pub mod storefront;
pub mod sync;

pub use error::ApiError;
pub use settings::Settings;
pub use startup::{Application, StartupError};
