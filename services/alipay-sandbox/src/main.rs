//! The alipay-sandbox binary: telemetry, settings, build, run until SIGTERM/Ctrl-C.

use alipay_sandbox::Application;
use alipay_sandbox::cli::Cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // --help, --version, and a clear refusal (exit 2) of anything else, before anything starts
    // or any key is written.
    let cli = common::config::parse_command_line::<Cli>();
    common::telemetry::init();
    let shutdown = common::shutdown::shutdown_signal();
    let application = match cli
        .and_then(|cli| cli.settings.resolve())
        .map_err(alipay_sandbox::StartupError::from)
    {
        Ok(settings) => Application::build(settings, shutdown).await,
        Err(problem) => Err(problem),
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
