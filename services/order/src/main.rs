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
    /// The dead-letter queue: events that could not be applied, with their reasons. Reads
    /// AMQP_URL and AMQP_PREFIX.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
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

#[derive(Debug, Subcommand)]
enum DeadLetterAction {
    /// List every dead letter (left in place): id, routing key, order, reason.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put dead letters back on the payments exchange (after fixing what made them fail).
    /// Idempotent: an event applied before is a no-op.
    Replay {
        /// The id (event id) of a letter to replay; repeat for several.
        #[arg(
            long = "id",
            value_name = "ID",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        ids: Vec<String>,
        /// Replay every letter.
        #[arg(long)]
        all: bool,
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
        Some(Command::DeadLetters { action }) => dead_letters(action).await,
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

async fn dead_letters(action: DeadLetterAction) -> ExitCode {
    match run_dead_letters(action).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("order dead-letters: {problem}");
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

async fn run_dead_letters(action: DeadLetterAction) -> Result<(), String> {
    use common::config::ExposeSecret as _;
    use order::dead_letters::{self, Selection};

    let (amqp_url, prefix) =
        Settings::amqp_from_env(&Env::from_process()).map_err(|e| e.to_string())?;
    let topology = common::amqp::Topology::with_prefix(&prefix);
    let connection = lapin::Connection::connect(
        amqp_url.expose_secret(),
        lapin::ConnectionProperties::default(),
    )
    .await
    .map_err(|e| format!("connecting to RabbitMQ (AMQP_URL): {e}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("opening a channel: {e}"))?;
    let result = match action {
        DeadLetterAction::List { json } => {
            let letters = dead_letters::browse(&channel, &topology)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                for letter in &letters {
                    println!(
                        "{}",
                        serde_json::to_string(letter).map_err(|e| e.to_string())?
                    );
                }
            } else {
                print!("{}", dead_letters::table(&letters));
                println!(
                    "{} dead letter(s) in {}",
                    letters.len(),
                    topology.dead_queue
                );
            }
            Ok(())
        }
        DeadLetterAction::Replay { ids, all } => {
            let publisher = connection
                .create_channel()
                .await
                .map_err(|e| format!("opening a channel: {e}"))?;
            publisher
                .confirm_select(lapin::options::ConfirmSelectOptions::default())
                .await
                .map_err(|e| format!("enabling confirms: {e}"))?;
            let selection = if all {
                Selection::All
            } else {
                Selection::Ids(ids.clone())
            };
            let replayed = dead_letters::replay(&channel, &publisher, &topology, &selection)
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", dead_letters::table(&replayed));
            println!(
                "{} dead letter(s) replayed to {}",
                replayed.len(),
                topology.exchange
            );
            let missing: Vec<&String> = ids
                .iter()
                .filter(|id| !replayed.iter().any(|letter| &letter.id == *id))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("no dead letter has the id {missing:?}"))
            }
        }
    };
    let _ = connection.close(200, "done".into()).await;
    result
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
