//! The composition root: parse the command line, then either `keygen`, or telemetry, settings,
//! bind, build, run.

use std::process::ExitCode;

use common::config::ConfigError;
use payment_gateway::cli::{Cli, Command};
use payment_gateway::settings::SettingsArgs;
use payment_gateway::{Application, keygen};
use tracing::{error, info};

/// Signing a pay link allocates a few dozen small strings (parameters, encodings, the form);
/// mimalloc keeps that off the RSA's critical path under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match common::config::parse_command_line::<Cli>() {
        Ok(cli) => cli,
        Err(problem) => return invalid_configuration(&problem),
    };
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
        None => serve(cli.settings),
    }
}

/// Logged like every start-up failure (JSON on stdout), naming the variable.
fn invalid_configuration(problem: &ConfigError) -> ExitCode {
    common::telemetry::init();
    error!(variable = %problem.variable, %problem, "invalid configuration");
    ExitCode::FAILURE
}

#[tokio::main]
async fn serve(settings: SettingsArgs) -> ExitCode {
    let settings = match settings.resolve() {
        Ok(settings) => settings,
        Err(problem) => return invalid_configuration(&problem),
    };
    common::telemetry::init();
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
