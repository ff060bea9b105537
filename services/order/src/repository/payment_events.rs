//! `payment_events`: every event and signed answer applied to an order, stored once.

use chrono::{DateTime, Utc};
use common::money::Money;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

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
    pub params: &'a serde_json::Value,
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
    let statement = InsertEvents {
        event_ids: events.iter().map(|e| e.event_id).collect(),
        order_ids: events.iter().map(|e| e.order_id).collect(),
        kinds: events.iter().map(|e| e.kind).collect(),
        trade_nos: events.iter().map(|e| e.trade_no).collect(),
        trade_statuses: events.iter().map(|e| e.trade_status).collect(),
        total_amounts: events.iter().map(|e| e.total_amount.decimal()).collect(),
        params: events.iter().map(|e| e.params).collect(),
        received_at: events.iter().map(|e| e.received_at).collect(),
    };
    Ok(statement.load(conn).await?)
}

/// [`insert_events`]' statement: the events as parallel arrays, so that one SQL text serves
/// every batch size (diesel's multi-row `VALUES` is a new text, parsed and planned anew, for
/// each).
struct InsertEvents<'a> {
    event_ids: Vec<uuid::Uuid>,
    order_ids: Vec<i64>,
    kinds: Vec<&'a str>,
    trade_nos: Vec<&'a str>,
    trade_statuses: Vec<&'a str>,
    total_amounts: Vec<Decimal>,
    params: Vec<&'a serde_json::Value>,
    received_at: Vec<DateTime<Utc>>,
}

impl QueryFragment<Pg> for InsertEvents<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Jsonb, Numeric, Text, Timestamptz, Uuid};
        out.push_sql(
            "INSERT INTO payment_events (event_id, order_id, kind, trade_no, trade_status, \
             total_amount, params, received_at) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(&self.event_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.order_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.kinds)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.trade_nos)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.trade_statuses)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Numeric>, _>(&self.total_amounts)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Jsonb>, _>(&self.params)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.received_at)?;
        out.push_sql(") ON CONFLICT (event_id) DO NOTHING RETURNING event_id");
        Ok(())
    }
}

super::prepared_statement!(InsertEvents, diesel::sql_types::Uuid);

/// How many events are stored for an order (tests and audits).
pub async fn event_count(conn: &mut AsyncPgConnection, order_id: i64) -> Result<i64, RepoError> {
    Ok(payment_events::table
        .filter(payment_events::order_id.eq(order_id))
        .count()
        .get_result(conn)
        .await?)
}
