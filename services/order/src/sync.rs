//! Active sync: unpaid orders are asked about (`QueryTrade`) on a growing schedule after their
//! creation (`SYNC_SCHEDULE`, 1 min, 3 min, 10 min, then every 10 min until expiry by default),
//! so a lost notification pays the order within minutes without the buyer coming back. Only a
//! signed answer changes anything: a paid trade is applied exactly as a payment event, a trade
//! closed without payment cancels the order.
//!
//! Each pass claims at most [`BATCH`] due orders with `FOR UPDATE SKIP LOCKED` and moves their
//! `next_sync_at` to the next step in the same transaction, before any query is made: several
//! replicas never ask about one order for the same step, and a replica that dies after the claim
//! costs that order one step, not a stuck order.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Interval, SmallInt, Text, Timestamptz};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use payment_proto::v1::TradeStatus;
use tracing::{info, warn};

use crate::error::ApiError;
use crate::orders;
use crate::payments::Facts;
use crate::repository::{self, RepoError};
use crate::state::SharedState;

/// Orders asked about per pass, per replica.
pub const BATCH: i64 = 100;

/// What one pass found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub asked: usize,
    pub paid: usize,
    pub closed: usize,
    pub failed: usize,
}

#[derive(Debug, QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    out_trade_no: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = SmallInt)]
    sync_step: i16,
}

/// When the query after `done` queries is due: `created_at + schedule[done]`, and past the end
/// of the schedule its last delay again and again (with 1m,3m,10m: 1m, 3m, 10m, 20m, 30m …).
pub fn due_after(
    created_at: DateTime<Utc>,
    done: usize,
    schedule: &[chrono::Duration],
) -> Option<DateTime<Utc>> {
    let last = *schedule.last()?;
    let offset = match schedule.get(done) {
        Some(step) => *step,
        None => last * i32::try_from(done + 2 - schedule.len()).unwrap_or(i32::MAX),
    };
    created_at.checked_add_signed(offset)
}

/// Claims the due orders and moves each to its next step; returns what to ask about.
async fn claim(
    conn: &mut diesel_async::AsyncPgConnection,
    schedule: &[chrono::Duration],
    now: DateTime<Utc>,
) -> Result<Vec<Due>, RepoError> {
    let Some(first) = schedule.first().copied() else {
        return Ok(Vec::new());
    };
    let first = first.to_std().unwrap_or_default();
    conn.transaction::<Vec<Due>, RepoError, _>(async |conn| {
        // Each branch walks its own partial index (orders_sync_first, orders_sync_next) and
        // stops at the batch, so a pass reads ~2 × BATCH rows however many orders are unpaid;
        // the outer query locks them and checks again what it locked.
        let due: Vec<Due> = sql_query(
            "WITH candidates AS ( \
               (SELECT id, created_at + $2 AS due_at FROM orders \
                 WHERE status = 0 AND next_sync_at IS NULL \
                   AND created_at <= $1 - $2 AND expires_at > $1 \
                 ORDER BY created_at LIMIT $3) \
               UNION ALL \
               (SELECT id, next_sync_at AS due_at FROM orders \
                 WHERE status = 0 AND next_sync_at IS NOT NULL \
                   AND next_sync_at <= $1 AND expires_at > $1 \
                 ORDER BY next_sync_at LIMIT $3)) \
             SELECT o.id, o.out_trade_no, o.created_at, o.sync_step \
               FROM (SELECT id, due_at FROM candidates ORDER BY due_at LIMIT $3) AS due \
               JOIN orders AS o ON o.id = due.id \
              WHERE o.status = 0 AND o.expires_at > $1 \
                AND COALESCE(o.next_sync_at, o.created_at + $2) <= $1 \
              ORDER BY due.due_at \
                FOR UPDATE OF o SKIP LOCKED",
        )
        .bind::<Timestamptz, _>(now)
        .bind::<Interval, _>(diesel::data_types::PgInterval::from_microseconds(
            i64::try_from(first.as_micros()).unwrap_or(i64::MAX),
        ))
        .bind::<BigInt, _>(BATCH)
        .load(conn)
        .await?;
        for order in &due {
            let done = usize::try_from(order.sync_step).unwrap_or(0) + 1;
            let next =
                due_after(order.created_at, done, schedule).map(|next| next.max(now + schedule[0]));
            repository::set_next_sync(conn, order.id, order.sync_step.saturating_add(1), next)
                .await?;
        }
        Ok(due)
    })
    .await
}

/// One pass: claim the due unpaid orders, ask Alipay about each, apply what a signed answer says.
pub async fn sync_once(state: &SharedState, request_id: &str) -> Result<SyncReport, ApiError> {
    let mut report = SyncReport::default();
    let due = {
        let mut conn = state.pool.get().await?;
        claim(&mut conn, &state.sync_schedule, Utc::now()).await?
    };
    for order in due {
        report.asked += 1;
        let answer = match state
            .gateway
            .query_trade(request_id, &order.out_trade_no)
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                state.metrics.sync_query("failed");
                warn!(out_trade_no = %order.out_trade_no, %error, "sync: QueryTrade failed; the next step asks again");
                report.failed += 1;
                continue;
            }
        };
        if let Some(facts) = Facts::from_paid_query(&answer, Utc::now()) {
            orders::apply_paid_query(state, &facts, "sync").await?;
            state.metrics.sync_query("paid");
            info!(out_trade_no = %order.out_trade_no, step = order.sync_step + 1, "sync: paid at Alipay, applied");
            report.paid += 1;
        } else if orders::closed_before_payment(&answer) {
            orders::cancel_closed_at_alipay(state, order.id, &order.out_trade_no, "sync").await?;
            state.metrics.sync_query("closed");
            report.closed += 1;
        } else {
            let outcome = match TradeStatus::try_from(answer.trade_status) {
                _ if !answer.exists => "not_started",
                Ok(TradeStatus::WaitBuyerPay) => "waiting",
                Ok(_) | Err(_) => "other",
            };
            state.metrics.sync_query(outcome);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_grows_then_repeats_its_last_step() {
        let created = DateTime::<Utc>::UNIX_EPOCH;
        let schedule = [1, 3, 10].map(chrono::Duration::minutes);
        let minutes = |done| (due_after(created, done, &schedule).unwrap() - created).num_minutes();
        assert_eq!([0, 1, 2, 3, 4].map(minutes), [1, 3, 10, 20, 30]);
        assert_eq!(due_after(created, 0, &[]), None);
    }
}
