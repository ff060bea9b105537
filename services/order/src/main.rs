//! The composition root: parse the command line, then either mint a token or run the server.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::config::{Env, parse_duration};
use order::settings::HELP;
use order::{Application, Settings};
use tracing::{error, info};

/// Each request allocates many small strings (JSON, SQL binds, gRPC messages); mimalloc keeps
/// the allocator off the profile, as in notify-receiver.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// order: course catalog, orders and Alipay pay links, payment events, expiry and refunds.
///
/// With no command it runs the server (HTTP, the payment-event consumer and the expiry sweeper).
/// It is configured by environment variables, listed below.
#[derive(Debug, Parser)]
#[command(name = "order", version, after_help = HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a JWT signed with JWT_SECRET, for local use.
    Token {
        /// The user id (the token's `sub`).
        #[arg(long)]
        user_id: String,
        /// Give the token the admin role (refunds).
        #[arg(long)]
        admin: bool,
        /// How long the token is valid, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: Duration,
    },
    /// Reconcile one day against Alipay's trade bill now and print the differences (configured
    /// by the same environment as the server). Exit status 0: all agree or healed; 3: some
    /// differences remain; 1: the run failed.
    Reconcile {
        /// The Beijing day, YYYY-MM-DD (Alipay has a day's bill from the next morning).
        #[arg(long)]
        date: chrono::NaiveDate,
        /// Print the run and its differences as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token {
            user_id,
            admin,
            ttl,
        }) => token(&user_id, admin, ttl),
        Some(Command::Reconcile { date, json }) => reconcile(date, json).await,
        None => serve().await,
    }
}

fn token(user_id: &str, admin: bool, ttl: Duration) -> ExitCode {
    let issued = Settings::jwt_from_env(&Env::from_process())
        .and_then(|key| key.issuer())
        .map_err(|e| e.to_string())
        .and_then(|issuer| {
            issuer
                .issue_for(user_id, admin, ttl)
                .map_err(|e| e.to_string())
        });
    match issued {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("order token: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn reconcile(date: chrono::NaiveDate, json: bool) -> ExitCode {
    // Logs would mix with the table on stdout: only problems, on stderr.
    match Settings::from_env(&Env::from_process()) {
        Ok(settings) => order::reconcile::cli::reconcile(&settings, date, json).await,
        Err(problem) => {
            eprintln!("order reconcile: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> ExitCode {
    common::telemetry::init();
    let settings = match Settings::from_env(&Env::from_process()) {
        Ok(settings) => settings,
        Err(problem) => {
            error!(variable = %problem.variable, %problem, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    info!(settings = %settings.summary(), reconcile = %settings.reconcile.summary(), "starting order");
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
