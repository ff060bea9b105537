//! The composition root: telemetry, settings, build, run.

use std::process::ExitCode;

use common::config::Env;
use notify_receiver::settings::HELP;
use notify_receiver::{Application, Settings};
use tracing::{error, info};

/// Each notification allocates a few hundred small strings (decoded fields, the event, its JSON);
/// under load glibc's malloc took about a sixth of the process's CPU, mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("notify-receiver {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!(
                "notify-receiver: unknown argument {other:?}; it is configured by environment variables (see --help)"
            );
            return ExitCode::from(2);
        }
    }

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
