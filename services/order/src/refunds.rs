//! Refunds (admins only): the request number is committed before Alipay is asked, every retry
//! reuses it, and an unknown outcome (timeout, gateway down) is settled later by `QueryRefund`.

use chrono::Utc;
use common::auth::Claims;
use common::money::Money;
use diesel_async::AsyncConnection as _;
use payment_proto::v1::RefundRequest;
use tonic::Code;
use tracing::{info, warn};

use crate::domain::{OrderStatus, OutRequestNo, OutTradeNo, RefundStatus, random_bits};
use crate::error::ApiError;
use crate::gateway::GatewayError;
use crate::repository::{self, Order, Refund, RepoError};
use crate::state::AppState;

/// A refund request's body, validated.
#[derive(Debug, Clone)]
pub struct RefundOrder {
    /// `None`: everything not yet refunded.
    pub amount: Option<Money>,
    pub reason: Option<String>,
}

/// Starts a refund of a paid order and asks Alipay for it.
pub async fn create(
    state: &AppState,
    claims: &Claims,
    request_id: &str,
    out_trade_no: &OutTradeNo,
    request: RefundOrder,
) -> Result<(Order, Refund), ApiError> {
    require_admin(claims)?;
    let mut conn = state.pool.get().await?;
    let now = Utc::now();
    let requested_by = claims.sub.clone();
    let decided = conn
        .transaction::<Result<(Order, Refund), ApiError>, RepoError, _>(async |conn| {
            let Some(order) = repository::lock_order(conn, out_trade_no.as_str()).await? else {
                return Ok(Err(ApiError::NotFound("order")));
            };
            if !order.status.was_paid() {
                return Ok(Err(ApiError::Conflict(format!(
                    "only paid orders can be refunded; this one is {}",
                    order.status
                ))));
            }
            if let Some(pending) = repository::pending_refund(conn, order.id).await? {
                return Ok(Err(ApiError::Conflict(format!(
                    "refund {} is still pending; retry it with POST /api/v1/refunds/{}/retry",
                    pending.out_request_no, pending.out_request_no
                ))));
            }
            let refunded = repository::succeeded_refund_total(conn, order.id)
                .await?
                .max(order.refunded_amount);
            let Some(available) = order.total_amount.checked_sub(refunded) else {
                return Ok(Err(ApiError::Conflict(
                    "the order is fully refunded".into(),
                )));
            };
            let amount = request.amount.unwrap_or(available);
            if amount.is_zero() {
                return Ok(Err(ApiError::Conflict(
                    "nothing is left to refund on this order".into(),
                )));
            }
            if amount > available {
                return Ok(Err(ApiError::BadRequest(format!(
                    "amount {amount} is more than the {available} left to refund"
                ))));
            }
            let number = OutRequestNo::generate(now, random_bits());
            let refund = repository::insert_refund(
                conn,
                order.id,
                number.as_str(),
                amount,
                request.reason.as_deref(),
                &requested_by,
                now,
            )
            .await?;
            Ok(Ok((order, refund)))
        })
        .await??;
    drop(conn);
    let (order, refund) = decided;
    info!(out_trade_no = %order.out_trade_no, out_request_no = %refund.out_request_no, amount = %refund.amount, "refund recorded, asking alipay");
    let refund = send(state, request_id, &order, refund).await?;
    let order = reload(state, &order.out_trade_no).await?;
    Ok((order, refund))
}

/// `POST /api/v1/refunds/{no}/retry`: settles a pending refund, asking `QueryRefund` first and
/// sending the same request again (same `out_request_no`) if Alipay never received it.
pub async fn retry(
    state: &AppState,
    claims: &Claims,
    request_id: &str,
    out_request_no: &OutRequestNo,
) -> Result<(Order, Refund), ApiError> {
    require_admin(claims)?;
    let (order, refund) = {
        let mut conn = state.pool.get().await?;
        let refund = repository::find_refund(&mut conn, out_request_no.as_str())
            .await?
            .ok_or(ApiError::NotFound("refund"))?;
        let order = repository::find_order_by_id(&mut conn, refund.order_id)
            .await?
            .ok_or(ApiError::NotFound("order"))?;
        (order, refund)
    };
    let refund = settle(state, request_id, &order, refund).await?;
    let order = reload(state, &order.out_trade_no).await?;
    Ok((order, refund))
}

/// Settles a pending refund (no-op for a settled one): `QueryRefund`, then `Refund` again with
/// the same number if Alipay does not know it. Used by `retry` and the sweeper.
pub async fn settle(
    state: &AppState,
    request_id: &str,
    order: &Order,
    refund: Refund,
) -> Result<Refund, ApiError> {
    match refund.status {
        RefundStatus::Pending => {}
        RefundStatus::Succeeded | RefundStatus::Failed => return Ok(refund),
    }
    let answer = state
        .gateway
        .query_refund(request_id, &order.out_trade_no, &refund.out_request_no)
        .await
        .map_err(ApiError::from)?;
    if answer.exists && answer.refund_status == "REFUND_SUCCESS" {
        info!(out_request_no = %refund.out_request_no, "QueryRefund: the refund had succeeded");
        return record_success(state, order, refund, None).await;
    }
    // Alipay never received it (or it did not go through): the same number again is safe.
    send(state, request_id, order, refund).await
}

/// Calls `Refund` for a recorded refund and records the answer. An unknown outcome leaves it
/// pending (answered 202 by the handler); a refusal marks it failed.
async fn send(
    state: &AppState,
    request_id: &str,
    order: &Order,
    refund: Refund,
) -> Result<Refund, ApiError> {
    let request = RefundRequest {
        out_trade_no: order.out_trade_no.clone(),
        trade_no: String::new(),
        refund_amount: refund.amount.to_string(),
        out_request_no: refund.out_request_no.clone(),
        refund_reason: refund.reason.clone(),
    };
    match state.gateway.refund(request_id, request).await {
        Ok(answer) => {
            let cumulative = answer.refunded_total().ok();
            record_success(state, order, refund, cumulative).await
        }
        Err(GatewayError::Unavailable(cause)) => {
            state.metrics.refund("pending");
            warn!(out_request_no = %refund.out_request_no, %cause, "refund outcome unknown; left pending");
            Ok(refund)
        }
        Err(GatewayError::Failed {
            code: Code::DataLoss,
            message,
        }) => {
            // An answer that did not verify says nothing trustworthy either way.
            state.metrics.refund("pending");
            warn!(out_request_no = %refund.out_request_no, %message, "unverifiable refund answer; left pending");
            Ok(refund)
        }
        Err(error) => {
            state.metrics.refund("failed");
            let failure = error.sub_code().unwrap_or("gateway_error").to_owned();
            let mut conn = state.pool.get().await?;
            repository::settle_refund(
                &mut conn,
                refund.id,
                RefundStatus::Failed,
                Some(&failure),
                Utc::now(),
            )
            .await?;
            warn!(out_request_no = %refund.out_request_no, %error, "refund refused");
            Err(ApiError::from(error))
        }
    }
}

/// Marks the refund succeeded and the order (partially) refunded, in one transaction.
async fn record_success(
    state: &AppState,
    order: &Order,
    refund: Refund,
    cumulative: Option<Money>,
) -> Result<Refund, ApiError> {
    state.metrics.refund("succeeded");
    let mut conn = state.pool.get().await?;
    let now = Utc::now();
    let refund_id = refund.id;
    let out_trade_no = order.out_trade_no.clone();
    conn.transaction::<(), RepoError, _>(async |conn| {
        let Some(order) = repository::lock_order(conn, &out_trade_no).await? else {
            return Ok(());
        };
        repository::settle_refund(conn, refund_id, RefundStatus::Succeeded, None, now).await?;
        let ours = repository::succeeded_refund_total(conn, order.id).await?;
        let total = cumulative.map_or(ours, |fee| fee.max(ours));
        match order.status {
            OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded => {
                repository::set_refunded(conn, &order, total, now).await?;
            }
            OrderStatus::Unpaid | OrderStatus::Cancelled | OrderStatus::TimedOut => {}
        }
        Ok(())
    })
    .await?;
    info!(out_request_no = %refund.out_request_no, "refund succeeded");
    let mut conn = state.pool.get().await?;
    Ok(repository::find_refund(&mut conn, &refund.out_request_no)
        .await?
        .unwrap_or(refund))
}

/// The refunds of one order (admins).
pub async fn list(
    state: &AppState,
    claims: &Claims,
    out_trade_no: &OutTradeNo,
) -> Result<Vec<Refund>, ApiError> {
    require_admin(claims)?;
    let mut conn = state.pool.get().await?;
    let order = repository::find_order(&mut conn, out_trade_no.as_str())
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    Ok(repository::order_refunds(&mut conn, order.id).await?)
}

fn require_admin(claims: &Claims) -> Result<(), ApiError> {
    if claims.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

async fn reload(state: &AppState, out_trade_no: &str) -> Result<Order, ApiError> {
    let mut conn = state.pool.get().await?;
    repository::find_order(&mut conn, out_trade_no)
        .await?
        .ok_or(ApiError::NotFound("order"))
}
