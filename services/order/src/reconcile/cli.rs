//! `order reconcile --date YYYY-MM-DD`: one day's reconciliation, run now in this process (no
//! HTTP server, no consumer), printed as a table (or JSON).

use std::process::ExitCode;
use std::sync::Arc;

use chrono::NaiveDate;
use common::config::ExposeSecret;
use payment_proto::GatewayClient;

use super::{RunError, run_day};
use crate::db;
use crate::gateway::Gateway;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::startup::StartupError;
use crate::state::{AppState, SharedState};

/// What the service's state would be, for a one-off command: migrations applied, a small pool,
/// the gateway client.
pub async fn state(settings: &Settings) -> Result<SharedState, StartupError> {
    let metrics = Metrics::new()?;
    let database_url = settings.database_url.expose_secret().to_owned();
    db::run_migrations(&database_url).await?;
    let pool = db::pool(&database_url, settings.database_pool_size.min(4))?;
    let client = GatewayClient::connect(
        &settings.payment_gateway_url,
        settings.payment_gateway_timeout,
    )?;
    Ok(Arc::new(AppState::new(
        settings,
        pool,
        Gateway::new(vec![client], metrics.clone()),
        metrics,
    )?))
}

/// Runs the day and prints it. Exit status: 0 the run is ok and nothing is left unhealed,
/// 1 the run failed or could not start, 3 ok but differences remain for a person.
pub async fn reconcile(settings: &Settings, date: NaiveDate, json: bool) -> ExitCode {
    let state = match state(settings).await {
        Ok(state) => state,
        Err(problem) => {
            eprintln!("order reconcile: {problem}");
            return ExitCode::FAILURE;
        }
    };
    match run_day(&state, &settings.reconcile, date, "cli", true).await {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(error) => eprintln!("order reconcile: {error}"),
                }
            } else {
                print!("{}", super::render_table(&report));
            }
            if report.run.status != "ok" {
                ExitCode::FAILURE
            } else if report.run.healed < report.run.differences {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error @ (RunError::NotOver(_) | RunError::Busy { .. } | RunError::Database(_))) => {
            eprintln!("order reconcile: {error}");
            ExitCode::FAILURE
        }
    }
}
