//! The sweeper. Each pass first runs active sync ([`crate::sync`]: unpaid orders due on their
//! query schedule), then expiry: unpaid orders past `expires_at` are asked about (`QueryTrade`), then
//! closed (`CloseTrade`, status 3) unless Alipay says they were paid. It also settles refunds
//! left pending by an unknown outcome.
//!
//! Several replicas may run it at once: each order is locked with `FOR UPDATE SKIP LOCKED` for
//! the whole query-close-update, so two sweepers never work on the same order and a payment
//! event for it waits for the lock and then sees the final status.

use std::time::Duration;

use chrono::Utc;
use common::telemetry::RequestId;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, info, warn};

use crate::domain::OrderStatus;
use crate::error::ApiError;
use crate::orders::{self, CloseOutcome};
use crate::refunds;
use crate::repository;
use crate::state::SharedState;

/// Orders looked at per pass.
const BATCH: i64 = 100;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Closed and marked timed out.
    pub closed: usize,
    /// Found paid at Alipay and marked paid.
    pub paid: usize,
    /// Held by another sweeper, or no longer unpaid.
    pub skipped: usize,
    /// Left for the next pass because the gateway failed.
    pub failed: usize,
    /// Pending refunds settled (succeeded or failed).
    pub refunds_settled: usize,
}

/// Runs a pass every `interval` until `shutdown`; a pass in progress finishes first.
pub async fn run(state: SharedState, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let request_id = RequestId::generate();
        let span = tracing::info_span!("sweep", request_id = %request_id);
        match crate::sync::sync_once(&state, request_id.as_str())
            .instrument(span.clone())
            .await
        {
            Ok(report) if report != crate::sync::SyncReport::default() => {
                info!(?report, "sync sweep")
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "sync sweep failed"),
        }
        match sweep_once(&state, request_id.as_str())
            .instrument(span)
            .await
        {
            Ok(report) if report != SweepReport::default() => info!(?report, "expiry sweep"),
            Ok(_) => {}
            Err(error) => warn!(%error, "expiry sweep failed"),
        }
    }
    info!("expiry sweeper stopped");
}

/// One pass over expired orders and stale pending refunds.
pub async fn sweep_once(state: &SharedState, request_id: &str) -> Result<SweepReport, ApiError> {
    let mut report = SweepReport::default();
    let now = Utc::now();
    let ids = {
        let mut conn = state.pool.get().await?;
        repository::expired_unpaid_ids(&mut conn, now, BATCH).await?
    };
    for id in ids {
        match orders::close_unpaid(state, request_id, id, OrderStatus::TimedOut, true).await? {
            CloseOutcome::Closed => {
                state.metrics.order_expired();
                report.closed += 1;
            }
            CloseOutcome::Paid => report.paid += 1,
            CloseOutcome::Skipped | CloseOutcome::NotUnpaid(_) => report.skipped += 1,
            CloseOutcome::GatewayFailed(cause) => {
                warn!(order_id = id, %cause, "could not close an expired order; next pass retries");
                report.failed += 1;
            }
        }
    }

    let stale = {
        let mut conn = state.pool.get().await?;
        repository::stale_pending_refunds(&mut conn, now - state.refund_settle_after, BATCH).await?
    };
    for refund in stale {
        let order = {
            let mut conn = state.pool.get().await?;
            let Some(order) = repository::find_order_by_id(&mut conn, refund.order_id).await?
            else {
                continue;
            };
            order
        };
        let number = refund.out_request_no.clone();
        match refunds::settle(state, request_id, &order, refund).await {
            Ok(settled) => {
                if settled.status != crate::domain::RefundStatus::Pending {
                    report.refunds_settled += 1;
                }
            }
            Err(error) => {
                warn!(out_request_no = %number, %error, "could not settle a pending refund")
            }
        }
    }
    Ok(report)
}
