//! The composition root: parse the command line, then either mint a token or run the server.

use std::process::ExitCode;
use std::time::Duration;

use common::config::ConfigError;
use order::Application;
use order::cli::{Cli, Command, DeadLetterAction};
use order::settings::{AmqpArgs, JwtArgs, SettingsArgs};
use tracing::{error, info};

/// Each request allocates many small strings (JSON, SQL binds, gRPC messages); mimalloc keeps
/// the allocator off the profile, as in notify-receiver.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match common::config::parse_command_line::<Cli>() {
        Ok(cli) => cli,
        Err(problem) => return invalid_configuration(&problem),
    };
    let settings = cli.settings;
    match cli.command {
        Some(Command::Token {
            user_id,
            admin,
            ttl,
        }) => token(settings.jwt, &user_id, admin, ttl),
        Some(Command::DeadLetters { action }) => dead_letters(settings.amqp, action).await,
        Some(Command::Reconcile { date, json }) => reconcile(settings, date, json).await,
        None => serve(settings).await,
    }
}

/// Logged like every start-up failure (JSON on stdout), naming the variable.
fn invalid_configuration(problem: &ConfigError) -> ExitCode {
    common::telemetry::init();
    error!(variable = %problem.variable, %problem, "invalid configuration");
    ExitCode::FAILURE
}

fn token(jwt: JwtArgs, user_id: &str, admin: bool, ttl: Duration) -> ExitCode {
    let issued = jwt
        .resolve()
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

async fn dead_letters(amqp: AmqpArgs, action: DeadLetterAction) -> ExitCode {
    match run_dead_letters(amqp, action).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("order dead-letters: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn reconcile(settings: SettingsArgs, date: chrono::NaiveDate, json: bool) -> ExitCode {
    // Logs would mix with the table on stdout: only problems, on stderr.
    match settings.resolve() {
        Ok(settings) => order::reconcile::cli::reconcile(&settings, date, json).await,
        Err(problem) => {
            eprintln!("order reconcile: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run_dead_letters(amqp: AmqpArgs, action: DeadLetterAction) -> Result<(), String> {
    use common::config::ExposeSecret as _;
    use order::dead_letters::{self, Selection};

    let topology = common::amqp::Topology::with_prefix(amqp.prefix());
    let connection = lapin::Connection::connect(
        amqp.amqp_url.expose_secret(),
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

async fn serve(settings: SettingsArgs) -> ExitCode {
    let settings = match settings.resolve() {
        Ok(settings) => settings,
        Err(problem) => return invalid_configuration(&problem),
    };
    common::telemetry::init();
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
