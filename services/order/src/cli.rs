//! The command line: with no command the server runs, configured by the environment variables
//! of [`SettingsArgs`] (each also an option); `order --help` lists them all, and is the README's
//! configuration reference.

use std::time::Duration;

use clap::{Parser, Subcommand};
use common::config::parse_duration;

use crate::settings::SettingsArgs;

/// order: course catalog, orders and Alipay pay links, payment events, expiry and refunds.
///
/// With no command it runs the server (HTTP, the payment-event consumer and the expiry sweeper),
/// configured by the environment variables below (an empty one counts as unset; durations are
/// written 500ms, 15s, 30m, 1h). Logs are JSON on stdout, filtered by RUST_LOG (default: info).
#[derive(Debug, Parser)]
#[command(name = "order", version, after_help = ROUTES)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

const ROUTES: &str = "\
Routes:
  POST /order/pay/                  create an order and its Alipay pay link (JWT)
  GET  /order/success/              the return page's status check
  GET  /api/v1/courses[/{id}]       the catalog
  GET  /api/v1/orders[/{no}]        my orders (JWT); POST /api/v1/orders/{no}/cancel, /pay-link
  POST /api/v1/orders/{no}/refunds  refund (admin JWT); GET lists; POST /api/v1/refunds/{no}/retry
  GET  /api/v1/reconciliations[/{date}]  reconciliation runs and differences (admin JWT)
  GET  /api/v1/openapi.json         the OpenAPI document
  GET  /healthz  /readyz  /metrics";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a JWT signed with JWT_SECRET, for local use.
    Token {
        /// The user id (the token's `sub`).
        #[arg(long)]
        user_id: String,
        /// Give the token the admin role (refunds).
        #[arg(long)]
        admin: bool,
        /// How long the token is valid, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: Duration,
    },
    /// The dead-letter queue: events that could not be applied, with their reasons. Reads
    /// AMQP_URL and AMQP_PREFIX.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
    /// Reconcile one day against Alipay's trade bill now and print the differences (configured
    /// by the same environment as the server). Exit status 0: all agree or healed; 3: some
    /// differences remain; 1: the run failed.
    Reconcile {
        /// The Beijing day, YYYY-MM-DD (Alipay has a day's bill from the next morning).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// Print the run and its differences as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterAction {
    /// List every dead letter (left in place): id, routing key, order, reason.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back on the payments exchange (after fixing what made them fail).
    /// Idempotent: an event applied before is a no-op.
    Replay {
        /// The id (event id) of a letter to replay; repeat for several.
        #[arg(
            long = "id",
            value_name = "ID",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        ids: Vec<String>,
        /// Replay every letter.
        #[arg(long)]
        all: bool,
    },
}
