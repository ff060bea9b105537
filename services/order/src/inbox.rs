//! Early events: payment events that came before what they follow (a refund before its payment:
//! Alipay does not promise order) wait in the `early_events` table instead of being requeued until
//! RabbitMQ's delivery limit dead-letters them.
//!
//! - The consumer stores such an event ([`park`]) and acks it: the row and the decision are in
//!   the database before the ack, so nothing is lost, and a redelivery is a no-op (the event id
//!   is the key).
//! - A payment marks its order's waiting events due at once ([`nudge`], in the payment's own
//!   transaction); otherwise they are retried with a growing delay (1 s, 2 s, 4 s … at most
//!   [`MAX_RETRY_DELAY`]).
//! - An event still waiting after `EARLY_EVENT_PATIENCE` (Alipay's 25 h of retries by default) is
//!   dead-lettered with the reason `early_event_expired`, for a human: `order dead-letters list`
//!   shows it, and `replay` puts it back once its payment is in.
//! - Every replica runs [`run`]; each row is taken with `FOR UPDATE SKIP LOCKED`, so a waiting event
//!   is worked on by one replica at a time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::amqp::{Topology, dead_letter, event_properties};
use common::events::{DeadLetterReason, DeathCause, PaymentEventV2};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};
use lapin::Channel;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::orders::count_payment;
use crate::payments::{self, Outcome};
use crate::repository::RepoError;
use crate::schema::early_events;
use crate::state::SharedState;

/// How often each replica looks for due events. Cheap (an index range scan that is empty most of
/// the time), and the delay a nudged event waits after its payment.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// The longest wait between two tries of one event.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);
/// Events looked at per pass.
const BATCH: i64 = 100;

/// An event to keep until it can apply.
#[derive(Debug, Clone)]
pub struct Early<'a> {
    pub event: &'a PaymentEventV2,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub request_id: Option<&'a str>,
    pub reason: &'a str,
}

/// Stores an early event (a no-op if it is stored already). Returns whether it is new.
pub async fn park(
    conn: &mut AsyncPgConnection,
    early: Early<'_>,
    now: DateTime<Utc>,
    patience: chrono::Duration,
) -> Result<bool, RepoError> {
    let inserted = diesel::insert_into(early_events::table)
        .values((
            early_events::event_id.eq(early.event.event_id),
            early_events::out_trade_no.eq(early.event.out_trade_no.as_str()),
            early_events::routing_key.eq(early.routing_key),
            early_events::body.eq(early.body),
            early_events::request_id.eq(early.request_id),
            early_events::reason.eq(early.reason),
            early_events::attempts.eq(0),
            early_events::first_seen_at.eq(now),
            early_events::next_attempt_at.eq(now + retry_delay(0)),
            early_events::give_up_at.eq(now + patience),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Makes the events waiting for `out_trade_no` due now (called when its payment is applied).
pub async fn nudge(
    conn: &mut AsyncPgConnection,
    out_trade_no: &str,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    diesel::update(early_events::table.filter(early_events::out_trade_no.eq(out_trade_no)))
        .set(early_events::next_attempt_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// [`nudge`] for many orders in one statement. It borrows the connection shared, so that it can
/// be pipelined with another statement.
pub async fn nudge_many(
    mut conn: &AsyncPgConnection,
    out_trade_nos: &[&str],
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    if out_trade_nos.is_empty() {
        return Ok(());
    }
    diesel::update(early_events::table.filter(early_events::out_trade_no.eq_any(out_trade_nos)))
        .set(early_events::next_attempt_at.eq(now))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// How many events are waiting now (for tests and the operator).
pub async fn waiting(conn: &mut AsyncPgConnection) -> Result<i64, RepoError> {
    Ok(early_events::table.count().get_result(conn).await?)
}

/// 1 s, 2 s, 4 s … up to [`MAX_RETRY_DELAY`].
pub fn retry_delay(attempts: i32) -> chrono::Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let delay = Duration::from_secs(1u64 << exponent).min(MAX_RETRY_DELAY);
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = early_events)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct Waiting {
    routing_key: String,
    body: Vec<u8>,
    request_id: Option<String>,
    attempts: i32,
    give_up_at: DateTime<Utc>,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboxReport {
    pub applied: usize,
    pub still_waiting: usize,
    pub dead_lettered: usize,
}

/// Retries due events every [`POLL_INTERVAL`] until `stop` fires. `dead_letters` is a
/// confirm-mode channel for events that waited too long or can never apply.
pub async fn run(
    state: SharedState,
    topology: Topology,
    dead_letters: Channel,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match retry_due(&state, &topology, &dead_letters).await {
            Ok(report) if report != InboxReport::default() => info!(?report, "early events"),
            Ok(_) => {}
            // The database is away: the events stay where they are, due, for the next pass.
            Err(error) => warn!(%error, "early events not retried"),
        }
    }
}

/// One pass over the due events.
pub async fn retry_due(
    state: &SharedState,
    topology: &Topology,
    dead_letters: &Channel,
) -> Result<InboxReport, String> {
    let mut report = InboxReport::default();
    let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
    let due: Vec<uuid::Uuid> = early_events::table
        .filter(early_events::next_attempt_at.le(Utc::now()))
        .order(early_events::next_attempt_at)
        .limit(BATCH)
        .select(early_events::event_id)
        .load(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    for event_id in due {
        let step = retry_one(state, topology, dead_letters, &mut conn, event_id).await;
        match step {
            Ok(Some(Step::Applied)) => report.applied += 1,
            Ok(Some(Step::Waiting)) => report.still_waiting += 1,
            Ok(Some(Step::DeadLettered)) => report.dead_lettered += 1,
            Ok(None) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(report)
}

enum Step {
    Applied,
    Waiting,
    DeadLettered,
}

/// Locks one event (skipping it if another replica holds it), tries it, and removes or
/// reschedules it, in one transaction. A dead letter is confirmed by the broker before the row is
/// deleted; should the commit then fail, the event is dead-lettered twice, and replaying either
/// copy is harmless.
async fn retry_one(
    state: &SharedState,
    topology: &Topology,
    dead_letters: &Channel,
    conn: &mut AsyncPgConnection,
    event_id: uuid::Uuid,
) -> Result<Option<Step>, String> {
    let patience_passed = |waiting: &Waiting| Utc::now() >= waiting.give_up_at;
    conn.transaction::<Option<Step>, TxError, _>(async |conn| {
        let Some(waiting) = early_events::table
            .find(event_id)
            .select(Waiting::as_select())
            .for_update()
            .skip_locked()
            .first(conn)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let now = Utc::now();
        let event = match PaymentEventV2::from_json(&waiting.body) {
            Ok(event) => event,
            Err(error) => {
                let reason = DeadLetterReason::new(DeathCause::Unparseable, error.to_string());
                dead_letter_row(topology, dead_letters, &waiting, None, &reason).await?;
                delete(conn, event_id).await?;
                return Ok(Some(Step::DeadLettered));
            }
        };
        match payments::apply_event(conn, &event, now).await? {
            Ok(Outcome::NotYetPaid) if patience_passed(&waiting) => {
                let reason = DeadLetterReason::new(
                    DeathCause::EarlyEventExpired,
                    format!(
                        "order {} was not paid within {} of this {} event",
                        event.out_trade_no,
                        humanize(state.early_event_patience),
                        event.kind.routing_key()
                    ),
                );
                dead_letter_row(topology, dead_letters, &waiting, Some(&event), &reason).await?;
                delete(conn, event_id).await?;
                state.metrics.event(event.kind.routing_key(), "dead_lettered");
                state.metrics.dead_lettered(reason.cause.label());
                error!(out_trade_no = %event.out_trade_no, event_id = %event.event_id, "early event waited too long: dead-lettered");
                Ok(Some(Step::DeadLettered))
            }
            Ok(Outcome::NotYetPaid) => {
                diesel::update(early_events::table.find(event_id))
                    .set((
                        early_events::attempts.eq(waiting.attempts + 1),
                        early_events::next_attempt_at
                            .eq(now + retry_delay(waiting.attempts + 1)),
                    ))
                    .execute(conn)
                    .await
                    .map_err(RepoError::from)?;
                Ok(Some(Step::Waiting))
            }
            Ok(outcome) => {
                delete(conn, event_id).await?;
                count_payment(state, outcome, "early_event");
                state.metrics.event(event.kind.routing_key(), "applied");
                info!(out_trade_no = %event.out_trade_no, event_id = %event.event_id, ?outcome, attempts = waiting.attempts, "early event applied");
                Ok(Some(Step::Applied))
            }
            Err(rejection) => {
                let reason = rejection.dead_letter_reason();
                dead_letter_row(topology, dead_letters, &waiting, Some(&event), &reason).await?;
                delete(conn, event_id).await?;
                state.metrics.event(event.kind.routing_key(), "dead_lettered");
                state.metrics.dead_lettered(reason.cause.label());
                error!(%reason, "early event can never apply: dead-lettered");
                Ok(Some(Step::DeadLettered))
            }
        }
    })
    .await
    .map_err(|error| error.to_string())
}

/// A failure inside [`retry_one`]'s transaction: either side rolls it back.
#[derive(Debug, thiserror::Error)]
enum TxError {
    #[error(transparent)]
    Database(#[from] RepoError),
    #[error("dead-lettering: {0}")]
    Broker(String),
}

impl From<diesel::result::Error> for TxError {
    fn from(error: diesel::result::Error) -> Self {
        TxError::Database(RepoError::from(error))
    }
}

async fn delete(conn: &mut AsyncPgConnection, event_id: uuid::Uuid) -> Result<(), TxError> {
    diesel::delete(early_events::table.find(event_id))
        .execute(conn)
        .await?;
    Ok(())
}

async fn dead_letter_row(
    topology: &Topology,
    channel: &Channel,
    waiting: &Waiting,
    event: Option<&PaymentEventV2>,
    reason: &DeadLetterReason,
) -> Result<(), TxError> {
    let properties = match event {
        Some(event) => event_properties(event, waiting.request_id.as_deref()),
        None => lapin::BasicProperties::default()
            .with_content_type(common::events::CONTENT_TYPE_JSON.into())
            .with_delivery_mode(2),
    };
    dead_letter(
        channel,
        topology,
        &waiting.routing_key,
        &waiting.body,
        &properties,
        reason,
    )
    .await
    .map_err(|error| TxError::Broker(error.to_string()))
}

/// `25h`, `90s`: for a reason a person reads.
fn humanize(duration: chrono::Duration) -> String {
    common::config::format_duration(duration.to_std().unwrap_or_default()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_grow_and_are_bounded() {
        assert_eq!(retry_delay(0), chrono::Duration::seconds(1));
        assert_eq!(retry_delay(3), chrono::Duration::seconds(8));
        assert_eq!(retry_delay(30), chrono::Duration::seconds(300));
    }
}
