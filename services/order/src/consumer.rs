//! The payment-event consumer: `order.*` from the work queue, applied exactly once, acked only
//! after the commit.
//!
//! - Manual acks and a prefetch window: up to `prefetch` deliveries are worked on at once.
//! - A delivery that can never be applied (unparseable, another app's, unknown order, amount
//!   mismatch) is copied to the dead-letter exchange with the reason, then acked.
//! - **An outage is not a failure of the message.** While the database cannot be reached, a
//!   delivery is held (neither acked nor handed back, so RabbitMQ's delivery count does not move)
//!   and tried again with a growing pause; as every delivery in the prefetch window is then held,
//!   the consumer takes no new ones until the database answers, and `/readyz` says not ready. No
//!   outage, however long, spends a delivery limit.
//! - An event that came before what it follows (a refund before its payment) is stored in the
//!   early-event inbox ([`crate::inbox`]) and acked; it applies when the payment does.
//! - Other passing failures (a database error that is not an outage) are handed back after a
//!   backoff; the quorum queue's `x-delivery-limit` dead-letters a message that never succeeds.
//! - On shutdown the stream stops taking deliveries, the ones in hand are finished (acked or
//!   handed back), then the channel closes and RabbitMQ requeues whatever was prefetched.
//! - A lost connection is re-established with backoff; `/readyz` says not ready meanwhile.
//! - Beside the stream, on the same connection: the inbox's retries and the dead-letter depth
//!   monitor ([`crate::dead_letters`]).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use chrono::Utc;
use common::amqp::{Topology, dead_letter, header_text};
use common::config::{ExposeSecret, SecretString};
use common::events::{
    DeadLetterReason, DeathCause, EventKind, PaymentEventV2, REQUEST_ID_HEADER,
    SYNC_REQUEST_ROUTING_KEY, SyncRequestV1,
};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, error, info, warn};

use self::acks::AckWindow;
use crate::orders::count_payment;
use crate::payments::{self, Outcome};
use crate::repository::RepoError;
use crate::state::SharedState;

mod acks;

/// Longest wait before a failing delivery is handed back.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest pause between two tries of a delivery held through a database outage: a held delivery
/// costs one refused connection attempt per try, and the database's return is noticed within it
/// (the first held delivery that gets through wakes all the others at once).
const MAX_HOLD_PAUSE: Duration = Duration::from_secs(1);
/// First wait before reconnecting; doubles up to [`MAX_RECONNECT_BACKOFF`].
const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// Batches applied at once. One: every delivery that arrives while a batch is at the database
/// joins the next batch, so batches follow the load (22–32 deliveries at full rate on two cores,
/// against 11–13 with two workers, which split the backlog between them). Per notification that
/// took the order service from 64–71 to 42–48 µs of CPU and PostgreSQL from 104–116 to 66–78, and
/// notifications from 4,085–4,440/s to 4,677–5,333/s; event → paid p99 at that rate rose from
/// 31–65 ms to 64–237 ms, within the 250 ms the design allows (docs/capacity.md). Two workers
/// overlap one batch's commit with the next batch's statements, which only pays where a commit
/// is slow. The ack window (`acks`) does not depend on this number.
const BATCH_WORKERS: usize = 1;
const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(5);
/// Past this many doublings every schedule below is at its maximum.
const DOUBLINGS: u32 = 10;

/// How the consumer is set up.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub amqp_url: SecretString,
    pub topology: Topology,
    pub prefetch: u16,
    /// How often the dead-letter queue's depth is read into the metrics.
    pub dead_letter_poll_interval: Duration,
}

/// Runs until `shutdown` fires, reconnecting whenever the connection is lost.
pub async fn run(state: SharedState, config: ConsumerConfig, shutdown: CancellationToken) {
    let mut delays = doubling(RECONNECT_BACKOFF, MAX_RECONNECT_BACKOFF);
    while !shutdown.is_cancelled() {
        match consume(&state, &config, &shutdown).await {
            Ok(()) => break,
            Err(problem) => {
                state.set_consumer_ready(false);
                let backoff = delays.next().unwrap_or(MAX_RECONNECT_BACKOFF);
                warn!(%problem, retry_in_ms = backoff.as_millis() as u64, "payment-event consumer down; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
    state.set_consumer_ready(false);
    info!("payment-event consumer stopped");
}

/// One connection's life: `Ok` after a clean shutdown, `Err` when the connection failed.
async fn consume(
    state: &SharedState,
    config: &ConsumerConfig,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let connection = Connection::connect(
        config.amqp_url.expose_secret(),
        ConnectionProperties::default(),
    )
    .await
    .map_err(|e| format!("connecting to RabbitMQ: {e}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("opening a channel: {e}"))?;
    config
        .topology
        .declare_all(&channel)
        .await
        .map_err(|e| format!("declaring the topology: {e}"))?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| format!("setting the prefetch: {e}"))?;
    // Dead letters are published (with confirms) on a channel of their own, so a publishing
    // problem cannot close the channel the deliveries must be acked on.
    let dead_letters = connection
        .create_channel()
        .await
        .map_err(|e| format!("opening the dead-letter channel: {e}"))?;
    dead_letters
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| format!("enabling confirms: {e}"))?;
    let consumer = channel
        .basic_consume(
            config.topology.queue.as_str().into(),
            format!("order-{}", uuid::Uuid::now_v7()).into(),
            BasicConsumeOptions {
                // Acked by hand, after the commit.
                no_ack: false,
                // Replicas compete on the queue.
                exclusive: false,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("consuming from {}: {e}", config.topology.queue))?;
    state.set_consumer_ready(true);
    info!(queue = %config.topology.queue, prefetch = config.prefetch, "consuming payment events");

    // The inbox and the dead-letter monitor live as long as this connection.
    let siblings = shutdown.child_token();
    let inbox = tokio::spawn(crate::inbox::run(
        state.clone(),
        config.topology.clone(),
        dead_letters.clone(),
        siblings.clone(),
    ));
    let monitor_channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("opening the dead-letter monitor's channel: {e}"))?;
    let monitor = tokio::spawn(crate::dead_letters::monitor(
        state.clone(),
        monitor_channel,
        config.topology.clone(),
        config.dead_letter_poll_interval,
        siblings.clone(),
    ));

    let failed = std::sync::Mutex::new(None::<String>);
    let acks = AckWindow::default();
    // Whatever is already waiting is taken as one batch (up to the prefetch window), so a burst
    // costs one commit per batch; a lone event is a batch of one and waits for nothing.
    consumer
        .take_until(shutdown.cancelled())
        .ready_chunks(usize::from(config.prefetch))
        .for_each_concurrent(BATCH_WORKERS, |deliveries| {
            let mut batch = Vec::with_capacity(deliveries.len());
            for delivery in deliveries {
                match delivery {
                    Ok(delivery) => batch.push(delivery),
                    Err(error) => {
                        if let Ok(mut failed) = failed.lock() {
                            failed.get_or_insert_with(|| error.to_string());
                        }
                    }
                }
            }
            // Registered here, as the batch is taken, so in delivery order (see `acks`).
            acks.register(batch.iter().map(|delivery| delivery.delivery_tag));
            let context = Context {
                state,
                topology: &config.topology,
                dead_letters: &dead_letters,
                acks: &acks,
                shutdown,
            };
            async move { handle_batch(context, batch).await }
        })
        .await;
    state.set_consumer_ready(false);
    siblings.cancel();
    let _ = inbox.await;
    let _ = monitor.await;
    if shutdown.is_cancelled() {
        // Closing the channel hands any prefetched, unstarted deliveries back to the queue.
        let _ = channel.close(200, "shutting down".into()).await;
        let _ = connection.close(200, "shutting down".into()).await;
        return Ok(());
    }
    let cause = failed
        .lock()
        .ok()
        .and_then(|mut failed| failed.take())
        .unwrap_or_else(|| "the consumer was cancelled by the broker".to_owned());
    Err(cause)
}

/// What to do with a delivery.
enum Verdict {
    Ack,
    DeadLetter(DeadLetterReason),
    /// The database cannot be reached: keep the delivery and try again (see the module doc).
    Hold(String),
    Requeue(String),
}

/// What the handling of a batch needs from the connection's life.
#[derive(Clone, Copy)]
struct Context<'a> {
    state: &'a SharedState,
    topology: &'a Topology,
    dead_letters: &'a Channel,
    acks: &'a AckWindow,
    shutdown: &'a CancellationToken,
}

impl Context<'_> {
    /// [`handle`], then the ack window learns the delivery is settled.
    async fn handle_alone(self, delivery: Delivery) {
        let tag = delivery.delivery_tag;
        let span = event_span(&delivery);
        handle(
            self.state,
            self.topology,
            self.dead_letters,
            delivery,
            self.shutdown,
        )
        .instrument(span)
        .await;
        self.acks.settled(tag).await;
    }
}

/// Applies a batch of deliveries: the payment events in one transaction, acked once it commits
/// (one multiple ack for the lot, see [`acks`]). If the transaction fails, each delivery goes its
/// own way ([`handle`]), so one bad event or an outage is dealt with exactly as if it had come
/// alone.
async fn handle_batch(context: Context<'_>, deliveries: Vec<Delivery>) {
    let state = context.state;
    let mut events = Vec::with_capacity(deliveries.len());
    let mut others = Vec::new();
    for delivery in deliveries {
        match batchable(state, &delivery) {
            Some(event) => events.push((delivery, event)),
            None => others.push(delivery),
        }
    }
    // Rows are locked in one order by every batch, so two batches that share orders wait for
    // each other instead of deadlocking. The sort is stable: one order's events keep their order.
    events.sort_by(|(_, a), (_, b)| a.out_trade_no.cmp(&b.out_trade_no));
    let alone = futures_util::future::join_all(
        others
            .into_iter()
            .map(|delivery| context.handle_alone(delivery)),
    );
    let together = async {
        if events.len() < 2 {
            // Nothing to amortise: the single-event path is the same work with less bookkeeping.
            futures_util::future::join_all(
                events
                    .into_iter()
                    .map(|(delivery, _)| context.handle_alone(delivery)),
            )
            .await;
            return;
        }
        let started = std::time::Instant::now();
        match apply_together(state, &events).await {
            Ok(results) => {
                state.metrics.batch_applied(events.len(), started.elapsed());
                let mut committed = Vec::with_capacity(events.len());
                for ((delivery, event), applied) in events.into_iter().zip(results) {
                    let span = event_span(&delivery);
                    let verdict = span.in_scope(|| judge(state, &event, Ok(applied)));
                    if let Verdict::Ack = verdict {
                        committed.push((delivery.delivery_tag, delivery.acker.clone()));
                        continue;
                    }
                    finish(
                        state,
                        context.topology,
                        context.dead_letters,
                        &delivery,
                        Some(event.kind),
                        verdict,
                        context.shutdown,
                    )
                    .instrument(span)
                    .await;
                    context.acks.settled(delivery.delivery_tag).await;
                }
                context.acks.committed(committed).await;
            }
            Err(error) => {
                info!(%error, events = events.len(), "batch not applied; applying its events one by one");
                futures_util::future::join_all(
                    events
                        .into_iter()
                        .map(|(delivery, _)| context.handle_alone(delivery)),
                )
                .await;
            }
        }
    };
    futures_util::future::join(alone, together).await;
}

/// The payment event of a delivery that may join a batch; `None` for anything that needs its own
/// handling (a sync request, an unparseable body, another app's event: [`decide`] says what).
fn batchable(state: &SharedState, delivery: &Delivery) -> Option<PaymentEventV2> {
    if delivery.routing_key.as_str() == SYNC_REQUEST_ROUTING_KEY {
        return None;
    }
    PaymentEventV2::from_json(&delivery.data)
        .ok()
        .filter(|event| event.app_id == state.app_id)
}

/// Applies the events in order, in one transaction; an early event is parked in the same one.
/// A batch of payments only takes [`payments::apply_payments_in`]'s bulk statements.
async fn apply_together(
    state: &SharedState,
    events: &[(Delivery, PaymentEventV2)],
) -> Result<Vec<Result<Outcome, payments::Rejection>>, String> {
    let mut conn = state
        .pool
        .get()
        .await
        .map_err(|error| format!("database: {error}"))?;
    let now = Utc::now();
    if events
        .iter()
        .all(|(_, event)| event.kind == EventKind::Paid)
    {
        // The common case, a burst of payments: a handful of statements for the whole batch.
        let facts: Vec<_> = events
            .iter()
            .map(|(_, event)| payments::Facts::from_event(event))
            .collect();
        return conn
            .transaction::<_, RepoError, _>(async |conn| {
                payments::apply_payments_in(conn, &facts, now).await
            })
            .await
            .map_err(|error| format!("database: {error}"));
    }
    conn.transaction::<_, RepoError, _>(async |conn| {
        let mut results = Vec::with_capacity(events.len());
        for (delivery, event) in events {
            let applied = payments::apply_event_in(conn, event, now).await?;
            if let Ok(Outcome::NotYetPaid) = applied {
                park(state, conn, delivery, event, now).await?;
            }
            results.push(applied);
        }
        Ok(results)
    })
    .await
    .map_err(|error| format!("database: {error}"))
}

/// Keeps an event that came before its payment in the inbox.
async fn park(
    state: &SharedState,
    conn: &mut AsyncPgConnection,
    delivery: &Delivery,
    event: &PaymentEventV2,
    now: chrono::DateTime<Utc>,
) -> Result<bool, RepoError> {
    let request_id = header_text(&delivery.properties, REQUEST_ID_HEADER);
    let early = crate::inbox::Early {
        event,
        routing_key: delivery.routing_key.as_str(),
        body: &delivery.data,
        request_id: request_id.as_deref(),
        reason: "a refund for an order not yet known to be paid",
    };
    crate::inbox::park(conn, early, now, state.early_event_patience).await
}

fn event_span(delivery: &Delivery) -> tracing::Span {
    let request_id = header_text(&delivery.properties, REQUEST_ID_HEADER).unwrap_or_default();
    tracing::info_span!("event", request_id = %request_id, routing_key = %delivery.routing_key)
}

/// Decides about one delivery on its own, holding it through a database outage, then acts.
async fn handle(
    state: &SharedState,
    topology: &Topology,
    dead_letters: &Channel,
    delivery: Delivery,
    shutdown: &CancellationToken,
) {
    let mut holds = 0u32;
    let (kind, verdict) = loop {
        let (kind, verdict) = decide(state, &delivery).await;
        let Verdict::Hold(cause) = verdict else {
            break (kind, verdict);
        };
        if holds == 0 {
            state.metrics.held_delivery(1);
            warn!(%cause, "database unavailable: holding the event until it answers");
        }
        holds = holds.saturating_add(1);
        let pause = hold_pause(holds);
        let stopped = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(pause) => false,
            _ = state.database_back.notified() => false,
        };
        if stopped {
            // Handing it back is the one way out during an outage; it happens once per shutdown,
            // not once per failed try.
            state.metrics.held_delivery(-1);
            let kind = kind.map_or("unknown", EventKind::routing_key);
            nack(&delivery, state, kind).await;
            return;
        }
    };
    if holds > 0 {
        // The database answers again: the other held deliveries need not wait out their pause.
        state.database_back.notify_waiters();
        state.metrics.held_delivery(-1);
        info!(tries = holds + 1, "database back: held event processed");
    }
    finish(
        state,
        topology,
        dead_letters,
        &delivery,
        kind,
        verdict,
        shutdown,
    )
    .await;
}

/// Acts on a verdict: ack, dead-letter (then ack), or hand back.
async fn finish(
    state: &SharedState,
    topology: &Topology,
    dead_letters: &Channel,
    delivery: &Delivery,
    kind: Option<EventKind>,
    verdict: Verdict,
    shutdown: &CancellationToken,
) {
    let kind = kind.map_or("unknown", EventKind::routing_key);
    match verdict {
        Verdict::Ack => {
            if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                // The broker redelivers it; applying it again is a no-op.
                warn!(%error, "ack failed");
            }
        }
        Verdict::DeadLetter(reason) => {
            match dead_letter(
                dead_letters,
                topology,
                delivery.routing_key.as_str(),
                &delivery.data,
                &delivery.properties,
                &reason,
            )
            .await
            {
                Ok(()) => {
                    state.metrics.event(kind, "dead_lettered");
                    state.metrics.dead_lettered(reason.cause.label());
                    error!(%reason, "event dead-lettered");
                    if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                        warn!(%error, "ack after dead-lettering failed");
                    }
                }
                Err(error) => {
                    warn!(%error, %reason, "dead-lettering failed; requeueing");
                    requeue(delivery, shutdown, state, kind).await;
                }
            }
        }
        // Only ever the result of the loop in `handle`.
        Verdict::Hold(cause) => {
            warn!(%cause, "event not applied; requeueing");
            requeue(delivery, shutdown, state, kind).await;
        }
        Verdict::Requeue(cause) => {
            warn!(%cause, "event not applied; requeueing after a backoff");
            requeue(delivery, shutdown, state, kind).await;
        }
    }
}

/// 250 ms, 500 ms, then [`MAX_HOLD_PAUSE`]: quick to resume after a blip, gentle on a database
/// that is starting up.
pub fn hold_pause(tries: u32) -> Duration {
    step(Duration::from_millis(125), MAX_HOLD_PAUSE, tries)
}

/// Waits (less on shutdown), then hands the delivery back to the queue.
async fn requeue(
    delivery: &Delivery,
    shutdown: &CancellationToken,
    state: &SharedState,
    kind: &str,
) {
    let backoff = backoff_for(delivery_count(delivery));
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(backoff) => {}
    }
    nack(delivery, state, kind).await;
}

/// Hands the delivery back to the queue now.
async fn nack(delivery: &Delivery, state: &SharedState, kind: &str) {
    state.metrics.event(kind, "requeued");
    let options = BasicNackOptions {
        multiple: false,
        requeue: true,
    };
    if let Err(error) = delivery.acker.nack(options).await {
        warn!(%error, "nack failed; the broker requeues it when the channel closes");
    }
}

/// RabbitMQ's count of earlier deliveries of this message (quorum queues set it).
fn delivery_count(delivery: &Delivery) -> u32 {
    let Some(headers) = delivery.properties.headers().as_ref() else {
        return u32::from(delivery.redelivered);
    };
    match headers.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(u32::MAX),
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::ShortInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::ShortUInt(n)) => u32::from(*n),
        _ => u32::from(delivery.redelivered),
    }
}

/// 100 ms, 200 ms, 400 ms … up to [`MAX_BACKOFF`].
pub fn backoff_for(delivery_count: u32) -> Duration {
    step(Duration::from_millis(100), MAX_BACKOFF, delivery_count)
}

/// `first`, doubling each time up to `max`, without end: backon's exponential schedule. No
/// jitter: the broker spreads redeliveries already, and a step is chosen by a count, not a clock.
fn doubling(first: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(first)
        .with_factor(2.0)
        .with_max_delay(max)
        .without_max_times()
        .build()
}

/// Step `n` (from 0) of [`doubling`]; counts come from the broker, so they are capped before
/// walking the schedule.
fn step(first: Duration, max: Duration, n: u32) -> Duration {
    let n = usize::try_from(n.min(DOUBLINGS)).unwrap_or_default();
    doubling(first, max).nth(n).unwrap_or(max)
}

async fn decide(state: &SharedState, delivery: &Delivery) -> (Option<EventKind>, Verdict) {
    if delivery.routing_key.as_str() == SYNC_REQUEST_ROUTING_KEY {
        return (None, sync_request(state, delivery).await);
    }
    // Version 2, or version 1 from a receiver not yet upgraded (converted on read).
    let event = match PaymentEventV2::from_json(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            return (
                EventKind::from_routing_key(delivery.routing_key.as_str()),
                Verdict::DeadLetter(DeadLetterReason::new(
                    DeathCause::Unparseable,
                    error.to_string(),
                )),
            );
        }
    };
    let kind = Some(event.kind);
    if event.app_id != state.app_id {
        return (
            kind,
            Verdict::DeadLetter(DeadLetterReason::new(
                DeathCause::WrongAppId,
                format!("the event is for app {:?}", event.app_id),
            )),
        );
    }
    let mut conn = match state.pool.get().await {
        Ok(conn) => conn,
        Err(error) => return (kind, Verdict::Hold(format!("database: {error}"))),
    };
    let now = Utc::now();
    let mut applied = payments::apply_event(&mut conn, &event, now).await;
    if let Ok(Ok(Outcome::NotYetPaid)) = applied
        && let Err(error) = park(state, &mut conn, delivery, &event, now).await
    {
        applied = Err(error);
    }
    (kind, judge(state, &event, applied))
}

/// What applying an event means for its delivery, with its metrics and log line. Called only
/// once the transaction that applied it committed.
fn judge(
    state: &SharedState,
    event: &PaymentEventV2,
    applied: Result<Result<Outcome, payments::Rejection>, RepoError>,
) -> Verdict {
    let label = event.kind.routing_key();
    match applied {
        Ok(Ok(Outcome::NotYetPaid)) => {
            state.metrics.event(label, "waiting");
            info!(out_trade_no = %event.out_trade_no, event_id = %event.event_id, "event came before its payment: waiting in the inbox");
            Verdict::Ack
        }
        Ok(Ok(outcome)) => {
            count_payment(state, outcome, "event");
            if let Outcome::Paid | Outcome::LatePaid = outcome {
                let elapsed = (Utc::now() - event.received_at)
                    .to_std()
                    .unwrap_or_default();
                state.metrics.event_to_paid(elapsed);
            }
            let outcome_label = match outcome {
                Outcome::Duplicate => "duplicate",
                Outcome::Unchanged => "unchanged",
                Outcome::Paid
                | Outcome::LatePaid
                | Outcome::Closed
                | Outcome::Refunded(_)
                | Outcome::NotYetPaid => "applied",
            };
            state.metrics.event(label, outcome_label);
            info!(out_trade_no = %event.out_trade_no, event_id = %event.event_id, ?outcome, "event applied");
            if outcome == Outcome::LatePaid {
                warn!(out_trade_no = %event.out_trade_no, "payment arrived after the order closed: paid and flagged for refund");
            }
            Verdict::Ack
        }
        Ok(Err(rejection)) => Verdict::DeadLetter(rejection.dead_letter_reason()),
        Err(error) => database_failure(error),
    }
}

/// A hint to ask Alipay about an order now: its next sync query becomes due. An order that is not
/// ours or not unpaid is ignored (a forged notification may name anything), never dead-lettered.
async fn sync_request(state: &SharedState, delivery: &Delivery) -> Verdict {
    let request = match SyncRequestV1::from_json(&delivery.data) {
        Ok(request) => request,
        Err(error) => {
            return Verdict::DeadLetter(DeadLetterReason::new(
                DeathCause::Unparseable,
                error.to_string(),
            ));
        }
    };
    let mut conn = match state.pool.get().await {
        Ok(conn) => conn,
        Err(error) => return Verdict::Hold(format!("database: {error}")),
    };
    match crate::repository::sync_now(&mut conn, request.out_trade_no.as_str(), Utc::now()).await {
        Ok(moved) => {
            let outcome = if moved { "applied" } else { "ignored" };
            state.metrics.event(SYNC_REQUEST_ROUTING_KEY, outcome);
            info!(out_trade_no = %request.out_trade_no, reason = %request.reason, moved, "sync requested");
            Verdict::Ack
        }
        Err(error) => database_failure(error),
    }
}

/// An outage (held) or some other database error (handed back, counted against the limit).
fn database_failure(error: RepoError) -> Verdict {
    if error.is_unavailable() {
        Verdict::Hold(format!("database: {error}"))
    } else {
        Verdict::Requeue(format!("database: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_pause_a_little_longer_each_time() {
        // backon multiplies in f32: whole milliseconds are what the schedules promise.
        assert_eq!(hold_pause(1).as_millis(), 250);
        assert_eq!(hold_pause(2).as_millis(), 500);
        assert_eq!(hold_pause(40), MAX_HOLD_PAUSE);
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(backoff_for(0).as_millis(), 100);
        assert_eq!(backoff_for(1).as_millis(), 200);
        assert_eq!(backoff_for(3).as_millis(), 800);
        assert_eq!(backoff_for(50), MAX_BACKOFF);
        assert_eq!(backoff_for(u32::MAX), MAX_BACKOFF);
    }
}
