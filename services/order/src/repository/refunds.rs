//! `refunds`: our refund requests and what became of them.

use chrono::{DateTime, Utc};
use common::money::Money;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::{RepoError, money};
use crate::domain::RefundStatus;
use crate::schema::refunds;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct RefundRow {
    id: i64,
    order_id: i64,
    out_request_no: String,
    amount: Decimal,
    status: i16,
    reason: Option<String>,
    failure: Option<String>,
    requested_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: i64,
    pub order_id: i64,
    pub out_request_no: String,
    pub amount: Money,
    pub status: RefundStatus,
    pub reason: Option<String>,
    pub failure: Option<String>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<RefundRow> for Refund {
    type Error = RepoError;
    fn try_from(row: RefundRow) -> Result<Self, RepoError> {
        let status = RefundStatus::from_code(row.status).ok_or_else(|| RepoError::Corrupt {
            table: "refunds",
            id: row.id,
            problem: format!("unknown status {}", row.status),
        })?;
        Ok(Refund {
            amount: money("refunds", row.id, row.amount)?,
            id: row.id,
            order_id: row.order_id,
            out_request_no: row.out_request_no,
            status,
            reason: row.reason,
            failure: row.failure,
            requested_by: row.requested_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn refunds_from(rows: Vec<RefundRow>) -> Result<Vec<Refund>, RepoError> {
    rows.into_iter().map(Refund::try_from).collect()
}

pub async fn insert_refund(
    conn: &mut AsyncPgConnection,
    order_id: i64,
    out_request_no: &str,
    amount: Money,
    reason: Option<&str>,
    requested_by: &str,
    now: DateTime<Utc>,
) -> Result<Refund, RepoError> {
    diesel::insert_into(refunds::table)
        .values((
            refunds::order_id.eq(order_id),
            refunds::out_request_no.eq(out_request_no),
            refunds::amount.eq(amount.decimal()),
            refunds::status.eq(RefundStatus::Pending.code()),
            refunds::reason.eq(reason),
            refunds::requested_by.eq(requested_by),
            refunds::created_at.eq(now),
            refunds::updated_at.eq(now),
        ))
        .returning(RefundRow::as_returning())
        .get_result(conn)
        .await?
        .try_into()
}

pub async fn find_refund(
    conn: &mut AsyncPgConnection,
    out_request_no: &str,
) -> Result<Option<Refund>, RepoError> {
    refunds::table
        .filter(refunds::out_request_no.eq(out_request_no))
        .select(RefundRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Refund::try_from)
        .transpose()
}

pub async fn order_refunds(
    conn: &mut AsyncPgConnection,
    order_id: i64,
) -> Result<Vec<Refund>, RepoError> {
    refunds_from(
        refunds::table
            .filter(refunds::order_id.eq(order_id))
            .order(refunds::id)
            .select(RefundRow::as_select())
            .load(conn)
            .await?,
    )
}

/// The order's refund that is still pending, if any (at most one at a time).
pub async fn pending_refund(
    conn: &mut AsyncPgConnection,
    order_id: i64,
) -> Result<Option<Refund>, RepoError> {
    refunds::table
        .filter(
            refunds::order_id
                .eq(order_id)
                .and(refunds::status.eq(RefundStatus::Pending.code())),
        )
        .select(RefundRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Refund::try_from)
        .transpose()
}

/// The sum of the order's succeeded refunds.
pub async fn succeeded_refund_total(
    conn: &mut AsyncPgConnection,
    order_id: i64,
) -> Result<Money, RepoError> {
    let total: Option<Decimal> = refunds::table
        .filter(
            refunds::order_id
                .eq(order_id)
                .and(refunds::status.eq(RefundStatus::Succeeded.code())),
        )
        .select(diesel::dsl::sum(refunds::amount))
        .get_result(conn)
        .await?;
    money("refunds", order_id, total.unwrap_or_default())
}

/// Pending refunds created before `before`, oldest first (the sweeper settles them).
pub async fn stale_pending_refunds(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Refund>, RepoError> {
    refunds_from(
        refunds::table
            .filter(
                refunds::status
                    .eq(RefundStatus::Pending.code())
                    .and(refunds::created_at.lt(before)),
            )
            .order(refunds::created_at)
            .limit(limit)
            .select(RefundRow::as_select())
            .load(conn)
            .await?,
    )
}

/// Compare-and-set of a refund's status; `true` when it was pending.
pub async fn settle_refund(
    conn: &mut AsyncPgConnection,
    id: i64,
    to: RefundStatus,
    failure: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    let updated = diesel::update(refunds::table)
        .filter(
            refunds::id
                .eq(id)
                .and(refunds::status.eq(RefundStatus::Pending.code())),
        )
        .set((
            refunds::status.eq(to.code()),
            refunds::failure.eq(failure),
            refunds::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}
