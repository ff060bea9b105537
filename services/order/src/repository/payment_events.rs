//! `payment_events`: every event and signed answer applied to an order, stored once.

use chrono::{DateTime, Utc};
use common::money::Money;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::RepoError;
use crate::schema::payment_events;

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub event_id: uuid::Uuid,
    pub order_id: i64,
    pub kind: &'a str,
    pub trade_no: &'a str,
    pub trade_status: &'a str,
    pub total_amount: Money,
    pub params: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

/// Stores an event once: `false` when its `event_id` is already stored (a duplicate).
pub async fn insert_event(
    conn: &mut AsyncPgConnection,
    event: NewEvent<'_>,
) -> Result<bool, RepoError> {
    Ok(!insert_events(conn, std::slice::from_ref(&event))
        .await?
        .is_empty())
}

/// [`insert_event`] for many events in one statement: the `event_id`s stored now (the others
/// were stored before: duplicates). The ids must be distinct.
pub async fn insert_events(
    conn: &mut AsyncPgConnection,
    events: &[NewEvent<'_>],
) -> Result<Vec<uuid::Uuid>, RepoError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<_> = events
        .iter()
        .map(|event| {
            (
                payment_events::event_id.eq(event.event_id),
                payment_events::order_id.eq(event.order_id),
                payment_events::kind.eq(event.kind),
                payment_events::trade_no.eq(event.trade_no),
                payment_events::trade_status.eq(event.trade_status),
                payment_events::total_amount.eq(event.total_amount.decimal()),
                payment_events::params.eq(&event.params),
                payment_events::received_at.eq(event.received_at),
            )
        })
        .collect();
    Ok(diesel::insert_into(payment_events::table)
        .values(&rows)
        .on_conflict(payment_events::event_id)
        .do_nothing()
        .returning(payment_events::event_id)
        .get_results(conn)
        .await?)
}

/// How many events are stored for an order (tests and audits).
pub async fn event_count(conn: &mut AsyncPgConnection, order_id: i64) -> Result<i64, RepoError> {
    Ok(payment_events::table
        .filter(payment_events::order_id.eq(order_id))
        .count()
        .get_result(conn)
        .await?)
}
