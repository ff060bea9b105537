//! The composition root: telemetry, settings, build, run.

use std::process::ExitCode;

use clap::Parser;
use common::config::Env;
use notify_receiver::settings::HELP;
use notify_receiver::{Application, Settings};
use tracing::{error, info};

/// Each notification allocates a few hundred small strings (decoded fields, the event, its JSON);
/// under load glibc's malloc took about a sixth of the process's CPU, mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// notify-receiver: verifies Alipay's asynchronous notifications and publishes them to
/// RabbitMQ, answering `success` only once the broker has confirmed.
///
/// It takes no arguments: it is configured by the environment variables listed below.
#[derive(Debug, Parser)]
#[command(name = "notify-receiver", version, after_help = HELP)]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    // --help, --version, and a clear refusal (exit 2) of anything else.
    let Cli {} = Cli::parse();

    common::telemetry::init();
    let settings = match Settings::from_env(&Env::from_process()) {
        Ok(settings) => settings,
        Err(problem) => {
            error!(variable = %problem.variable, %problem, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    info!(settings = %settings.summary(), "starting notify-receiver");

    let shutdown = common::shutdown::shutdown_signal();
    let application = match Application::build(settings, shutdown).await {
        Ok(application) => application,
        Err(problem) => {
            error!(%problem, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    info!(port = application.port(), "listening");
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
