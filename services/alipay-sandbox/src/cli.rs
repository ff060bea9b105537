//! The command line: no arguments of its own; `alipay-sandbox --help` lists the environment
//! variables of [`SettingsArgs`] (each also an option), and is the README's configuration
//! reference.

use clap::Parser;

use crate::settings::SettingsArgs;

/// alipay-sandbox: an offline Alipay (gateway.do, the cashier, signed notifications, server APIs
/// and a test API) for local runs and tests. Never put it in front of real money.
///
/// It is configured by the environment variables below (an empty one counts as unset; durations
/// are written 500ms, 10s, 30m). Logs are filtered by RUST_LOG (default: info).
#[derive(Debug, Parser)]
#[command(name = "alipay-sandbox", version)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
}
