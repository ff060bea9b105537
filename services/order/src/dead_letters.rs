//! The dead-letter queue, made visible and replayable.
//!
//! A letter lands there two ways: the consumer gives up on an event that can never apply (our
//! [`DEATH_REASON_HEADER`] says why: `unknown_order: …`, `amount_mismatch: …`,
//! `early_event_expired: …`), or RabbitMQ moves a message that hit the quorum queue's delivery
//! limit (its `x-death` headers say `delivery_limit`). Both are read here the same way:
//!
//! - [`monitor`] reads the queue every `DEAD_LETTER_POLL_INTERVAL` into the gauge
//!   `order_dead_letters{reason}`, whoever dead-lettered the letters;
//! - [`browse`] lists them (`order dead-letters list`), and [`replay`] puts chosen ones back on
//!   the payments exchange with their original routing key and event id (`order dead-letters
//!   replay --id …|--all`). Replaying is idempotent: an event applied before is a no-op.
//!
//! Reading takes each letter with `basic.get` without acking it and hands them all back at the
//! end (`nack`, requeue), so reading never loses one; a replayed letter is acked only after the
//! broker confirmed its republication.

use std::collections::BTreeMap;
use std::time::Duration;

use common::amqp::{Topology, header_text, republish};
use common::events::{DEATH_REASON_HEADER, DeadLetterReason};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Channel};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::state::SharedState;

/// Most letters read in one pass; a queue deeper than this is counted by its depth, and the
/// reasons of the first ones.
pub const MAX_BROWSE: usize = 10_000;

/// One dead letter as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The event id (`message_id`), the handle for `replay --id`.
    pub id: String,
    pub routing_key: String,
    /// The reason's short form, as in the metric: `unknown_order`, `broker:delivery_limit`, …
    pub reason: String,
    /// The whole reason, in words.
    pub detail: String,
    pub out_trade_no: Option<String>,
    /// How many times it was dead-lettered (RabbitMQ's `x-death` count), when known.
    pub deaths: Option<i64>,
}

impl DeadLetter {
    fn from_delivery(delivery: &Delivery) -> Self {
        let properties = &delivery.properties;
        let (reason, detail) = match header_text(properties, DEATH_REASON_HEADER) {
            Some(text) => {
                let reason = DeadLetterReason::from_header(&text);
                (reason.cause.label().to_owned(), text)
            }
            None => {
                let broker = broker_reason(properties).unwrap_or_else(|| "unknown".to_owned());
                (
                    format!("broker:{broker}"),
                    format!("dead-lettered by RabbitMQ ({broker})"),
                )
            }
        };
        let out_trade_no = serde_json::from_slice::<serde_json::Value>(&delivery.data)
            .ok()
            .and_then(|body| body.get("out_trade_no")?.as_str().map(str::to_owned));
        Self {
            id: properties
                .message_id()
                .as_ref()
                .map_or_else(|| "-".to_owned(), |id| id.as_str().to_owned()),
            routing_key: delivery.routing_key.as_str().to_owned(),
            reason,
            detail,
            out_trade_no,
            deaths: death_count(properties),
        }
    }
}

/// RabbitMQ's reason: `x-first-death-reason`, else the newest `x-death` entry's `reason`.
fn broker_reason(properties: &BasicProperties) -> Option<String> {
    header_text(properties, "x-first-death-reason").or_else(|| {
        let entry = first_death(properties)?;
        match entry.inner().get("reason")? {
            AMQPValue::LongString(reason) => {
                Some(String::from_utf8_lossy(reason.as_bytes()).into_owned())
            }
            AMQPValue::ShortString(reason) => Some(reason.as_str().to_owned()),
            _ => None,
        }
    })
}

fn first_death(properties: &BasicProperties) -> Option<lapin::types::FieldTable> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get("x-death")? {
        AMQPValue::FieldArray(deaths) => match deaths.as_slice().first()? {
            AMQPValue::FieldTable(entry) => Some(entry.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn death_count(properties: &BasicProperties) -> Option<i64> {
    match first_death(properties)?.inner().get("count")? {
        AMQPValue::LongLongInt(count) => Some(*count),
        AMQPValue::LongInt(count) => Some(i64::from(*count)),
        _ => None,
    }
}

/// Why reading or replaying failed.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("reading {queue}: {source}")]
    Read {
        queue: String,
        #[source]
        source: lapin::Error,
    },
    #[error("republishing {id}: {source}")]
    Republish {
        id: String,
        #[source]
        source: common::amqp::PublishError,
    },
    #[error("acknowledging {id} after its replay: {source}")]
    Ack {
        id: String,
        #[source]
        source: lapin::Error,
    },
}

/// Takes up to `limit` letters without acking them; the caller hands them back or acks them.
async fn take(
    channel: &Channel,
    topology: &Topology,
    limit: usize,
) -> Result<Vec<Delivery>, DeadLetterError> {
    let mut taken = Vec::new();
    while taken.len() < limit {
        let got = channel
            .basic_get(
                topology.dead_queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(|source| DeadLetterError::Read {
                queue: topology.dead_queue.clone(),
                source,
            })?;
        match got {
            Some(message) => taken.push(message.delivery),
            None => break,
        }
    }
    Ok(taken)
}

/// Hands back every letter taken on this channel and not acked.
async fn hand_back(taken: &[Delivery]) {
    if let Some(last) = taken.last() {
        let options = BasicNackOptions {
            multiple: true,
            requeue: true,
        };
        if let Err(error) = last.acker.nack(options).await {
            // Closing the channel hands them back anyway.
            warn!(%error, "handing dead letters back failed");
        }
    }
}

/// Every letter in the queue (up to [`MAX_BROWSE`]), left in place.
pub async fn browse(
    channel: &Channel,
    topology: &Topology,
) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let taken = take(channel, topology, MAX_BROWSE).await?;
    let letters = taken.iter().map(DeadLetter::from_delivery).collect();
    hand_back(&taken).await;
    Ok(letters)
}

/// Which letters to put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    Ids(Vec<String>),
}

/// Puts the selected letters back on the payments exchange (`publisher` must be in confirm
/// mode); the others stay. Returns what was replayed.
pub async fn replay(
    channel: &Channel,
    publisher: &Channel,
    topology: &Topology,
    selection: &Selection,
) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let taken = take(channel, topology, MAX_BROWSE).await?;
    let mut replayed = Vec::new();
    let mut result = Ok(());
    for delivery in &taken {
        let letter = DeadLetter::from_delivery(delivery);
        let chosen = match selection {
            Selection::All => true,
            Selection::Ids(ids) => ids.contains(&letter.id),
        };
        if !chosen {
            continue;
        }
        if let Err(source) = republish(
            publisher,
            topology,
            delivery.routing_key.as_str(),
            &delivery.data,
            &delivery.properties,
        )
        .await
        {
            result = Err(DeadLetterError::Republish {
                id: letter.id.clone(),
                source,
            });
            break;
        }
        if let Err(source) = delivery.acker.ack(BasicAckOptions::default()).await {
            result = Err(DeadLetterError::Ack {
                id: letter.id.clone(),
                source,
            });
            break;
        }
        replayed.push(letter);
    }
    // What was not replayed goes back (acked ones are gone; a nack with `multiple` skips them).
    hand_back(&taken).await;
    result.map(|()| replayed)
}

/// Counts letters by reason.
pub fn by_reason(letters: &[DeadLetter]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for letter in letters {
        *counts.entry(letter.reason.clone()).or_insert(0) += 1;
    }
    counts
}

/// Reads the queue into `order_dead_letters{reason}` every `interval` until `stop` fires.
pub async fn monitor(
    state: SharedState,
    channel: Channel,
    topology: Topology,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match browse(&channel, &topology).await {
            Ok(letters) => {
                let counts = by_reason(&letters);
                state
                    .metrics
                    .set_dead_letters(counts.iter().map(|(reason, n)| (reason.as_str(), *n)));
            }
            Err(error) => warn!(%error, "could not read the dead-letter queue"),
        }
    }
}

/// The letters as a table for a terminal.
pub fn table(letters: &[DeadLetter]) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "ROUTING KEY".to_owned(),
        "ORDER".to_owned(),
        "REASON".to_owned(),
        "DETAIL".to_owned(),
    ]];
    for letter in letters {
        rows.push([
            letter.id.clone(),
            letter.routing_key.clone(),
            letter
                .out_trade_no
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            letter.reason.clone(),
            letter.detail.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (column, width) in widths.iter().enumerate() {
            let cell = &row[column];
            out.push_str(cell);
            out.push_str(&" ".repeat(width - cell.chars().count() + 2));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    out
}
