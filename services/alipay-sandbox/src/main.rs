//! The alipay-sandbox binary: telemetry, settings, build, run until SIGTERM/Ctrl-C.

use alipay_sandbox::settings::HELP;
use alipay_sandbox::{Application, Settings};
use clap::Parser;

/// alipay-sandbox: an offline Alipay (gateway.do, the cashier, signed notifications, server
/// APIs and a test API) for local runs and tests. Never put it in front of real money.
///
/// It takes no arguments: it is configured by the environment variables listed below.
#[derive(Debug, Parser)]
#[command(name = "alipay-sandbox", version, after_help = HELP)]
struct Cli {}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // --help, --version, and a clear refusal (exit 2) of anything else, before anything starts
    // or any key is written.
    let Cli {} = Cli::parse();
    common::telemetry::init();
    let shutdown = common::shutdown::shutdown_signal();
    let application = match Settings::from_env() {
        Ok(settings) => Application::build(settings, shutdown).await,
        Err(problem) => Err(problem.into()),
    };
    let application = match application {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(%error, "alipay sandbox cannot start");
            eprintln!("alipay-sandbox: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match application.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "alipay sandbox failed");
            std::process::ExitCode::FAILURE
        }
    }
}
