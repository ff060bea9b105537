//! The command line: no arguments of its own; `notify-receiver --help` lists the environment
//! variables of [`SettingsArgs`] (each also an option), and is the README's configuration
//! reference.

use clap::Parser;

use crate::settings::SettingsArgs;

/// notify-receiver: verifies Alipay's asynchronous notifications and publishes them to RabbitMQ,
/// answering `success` only once the broker has confirmed.
///
/// It is configured by the environment variables below (an empty one counts as unset; durations
/// are written 500ms, 3s, 1m). Logs are JSON on stdout, filtered by RUST_LOG (default: info).
#[derive(Debug, Parser)]
#[command(name = "notify-receiver", version, after_help = ROUTES)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
}

const ROUTES: &str = "\
Routes:
  POST <NOTIFY_PATH>   Alipay's notification (application/x-www-form-urlencoded, UTF-8, <= 64 KiB)
                       200 success | 400 fail (not Alipay's / not ours) | 503 fail (retry later)
  GET  /healthz        200 while the process runs
  GET  /readyz         200 when connected to RabbitMQ, else 503
  GET  /metrics        Prometheus metrics";
