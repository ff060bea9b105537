//! The command line: `keygen`, or (with no command) the server, configured by the environment
//! variables of [`SettingsArgs`] (each also an option). `payment-gateway --help` lists them all,
//! and is the README's configuration reference.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::SettingsArgs;

/// The gRPC service that alone holds the merchant key: signs Alipay pay links and calls Alipay's
/// server APIs.
///
/// Without a subcommand it runs the server, configured by the environment variables below (an
/// empty one counts as unset; durations are written 500ms, 5s, 1m). Logs are JSON on stdout,
/// filtered by RUST_LOG (default: info).
#[derive(Debug, Parser)]
#[command(name = "payment-gateway", version)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes a new app key pair (PKCS#1 and PKCS#8 PEM and bare base64, SPKI public key) with
    /// mode 0600 into DIR, and prints the public key to paste into the Alipay console.
    Keygen {
        /// Directory to write into (created with mode 0700 if missing); existing files are never
        /// overwritten.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// If DIR already holds a complete key pair, keep it (after checking its halves match)
        /// and succeed, instead of refusing; for scripts that run keygen at every start.
        #[arg(long)]
        keep_existing: bool,
    },
}
