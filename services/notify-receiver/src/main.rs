//! The composition root: telemetry, settings, build, run.

use std::process::ExitCode;

use notify_receiver::Application;
use notify_receiver::cli::Cli;
use tracing::{error, info};

/// Each notification allocates a few hundred small strings (decoded fields, the event, its JSON);
/// under load glibc's malloc took about a sixth of the process's CPU, mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // --help, --version, and a clear refusal (exit 2) of anything else.
    let settings =
        common::config::parse_command_line::<Cli>().and_then(|cli| cli.settings.resolve());

    common::telemetry::init();
    let settings = match settings {
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
