//! The composition root: parse the command line, then either `keygen`, or telemetry, settings,
//! bind, build, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use common::config::Env;
use payment_gateway::settings::ENVIRONMENT_HELP;
use payment_gateway::{Application, Settings, keygen};
use tracing::{error, info};

/// Signing a pay link allocates a few dozen small strings (parameters, encodings, the form);
/// mimalloc keeps that off the RSA's critical path under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The gRPC service that alone holds the merchant key: signs Alipay pay links and calls Alipay's
/// server APIs. Without a subcommand it runs the server, configured by environment variables.
#[derive(Debug, Parser)]
#[command(name = "payment-gateway", version, after_help = ENVIRONMENT_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Keygen { out, keep_existing }) => {
            let kept = if keep_existing {
                keygen::existing(&out)
            } else {
                Ok(None)
            };
            let result = match kept {
                Ok(Some(files)) => Ok(keygen::report_kept(&files)),
                Ok(None) => keygen::generate(&out).map(|files| keygen::report(&files)),
                Err(problem) => Err(problem),
            };
            match result {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(problem) => {
                    eprintln!("payment-gateway keygen: {problem}");
                    ExitCode::FAILURE
                }
            }
        }
        None => serve(),
    }
}

#[tokio::main]
async fn serve() -> ExitCode {
    common::telemetry::init();
    let settings = match Settings::from_env(&Env::from_process()) {
        Ok(settings) => settings,
        Err(problem) => {
            error!(variable = %problem.variable, %problem, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    info!(settings = %settings.summary(), "starting payment-gateway");

    let shutdown = common::shutdown::shutdown_signal();
    let application = match Application::build(settings, shutdown).await {
        Ok(application) => application,
        Err(problem) => {
            error!(%problem, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    info!(
        port = application.port(),
        metrics_port = application.metrics_port(),
        "listening"
    );
    match application.run_until_stopped().await {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            error!(%problem, "the server failed");
            ExitCode::FAILURE
        }
    }
}
