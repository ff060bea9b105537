//! The alipay-sandbox binary: telemetry, settings, build, run until SIGTERM/Ctrl-C.

use alipay_sandbox::settings::HELP;
use alipay_sandbox::{Application, Settings};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::args()
        .skip(1)
        .any(|arg| arg == "--help" || arg == "-h")
    {
        print!("{HELP}");
        return std::process::ExitCode::SUCCESS;
    }
    common::telemetry::init();
    let application = Settings::from_env()
        .map_err(alipay_sandbox::StartupError::from)
        .and_then(Application::bind);
    let application = match application {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(%error, "alipay sandbox cannot start");
            eprintln!("alipay-sandbox: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shutdown = common::shutdown::shutdown_signal();
    match application
        .with_shutdown(shutdown)
        .run_until_stopped()
        .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "alipay sandbox failed");
            std::process::ExitCode::FAILURE
        }
    }
}
