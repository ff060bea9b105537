//! Healing a difference: ask Alipay (`QueryTrade` / `QueryRefund`, signed answers) and apply only
//! what the answer says, through the paths events and the sweeper use (`payments::apply_payment`,
//! `refunds::settle`). A bill line alone never changes an order; amounts are never changed, and
//! nothing is ever un-paid: those differences are left for a person.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::compare::{Difference, Kind};
use crate::orders::count_payment;
use crate::payments::{self, Facts, Outcome};
use crate::refunds;
use crate::repository;
use crate::state::AppState;

/// What healing came to: whether our books now agree with Alipay's signed answer, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healing {
    pub healed: bool,
    pub resolution: String,
}

fn healed(resolution: impl Into<String>) -> Healing {
    Healing {
        healed: true,
        resolution: resolution.into(),
    }
}

fn not_healed(resolution: impl Into<String>) -> Healing {
    Healing {
        healed: false,
        resolution: resolution.into(),
    }
}

/// Heals one difference of the day `[start, end)`.
pub async fn heal(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
    day: (DateTime<Utc>, DateTime<Utc>),
) -> Healing {
    let result = match difference.kind {
        Kind::MissingHere | Kind::StatusDiffers => apply_paid(state, request_id, difference).await,
        Kind::AmountDiffers => explain_amount(state, request_id, difference).await,
        Kind::MissingAtAlipay => confirm_paid(state, request_id, difference, day).await,
        Kind::RefundMissingHere => settle_refund(state, request_id, difference).await,
        Kind::RefundMissingAtAlipay | Kind::RefundDiffers => {
            confirm_refund(state, request_id, difference).await
        }
    };
    result.unwrap_or_else(|problem| {
        warn!(kind = difference.kind.as_str(), out_trade_no = %difference.out_trade_no, %problem, "healing failed");
        not_healed(problem)
    })
}

/// Alipay's signed answer about the difference's trade.
async fn signed_trade(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
) -> Result<payment_proto::v1::QueryTradeResponse, String> {
    state
        .gateway
        .query_trade(request_id, &difference.out_trade_no)
        .await
        .map_err(|e| format!("QueryTrade failed: {e}"))
}

/// Alipay's signed answer about the difference's refund.
async fn signed_refund(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
) -> Result<payment_proto::v1::QueryRefundResponse, String> {
    state
        .gateway
        .query_refund(
            request_id,
            &difference.out_trade_no,
            &difference.out_request_no,
        )
        .await
        .map_err(|e| format!("QueryRefund failed: {e}"))
}

/// Paid at Alipay, not (or not any more) here: a signed TRADE_SUCCESS is applied exactly as a
/// payment event (a cancelled or timed-out order becomes paid with `needs_refund`).
async fn apply_paid(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
) -> Result<Healing, String> {
    let answer = signed_trade(state, request_id, difference).await?;
    let now = Utc::now();
    let Some(facts) = Facts::from_paid_query(&answer, now) else {
        return Ok(not_healed(format!(
            "QueryTrade does not say paid (exists: {}, trade_status: {}): left as is",
            answer.exists, answer.trade_status
        )));
    };
    let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
    match payments::apply_payment(&mut conn, &facts, now)
        .await
        .map_err(|e| e.to_string())?
    {
        Ok(outcome @ (Outcome::Paid | Outcome::LatePaid)) => {
            count_payment(state, outcome, "reconcile");
            info!(out_trade_no = %difference.out_trade_no, ?outcome, "reconciliation: paid per QueryTrade");
            Ok(healed(match outcome {
                Outcome::LatePaid => "paid per QueryTrade (a late payment: flagged needs_refund)",
                _ => "paid per QueryTrade",
            }))
        }
        Ok(Outcome::Unchanged | Outcome::Duplicate) => {
            Ok(healed("already paid here (per QueryTrade)"))
        }
        Ok(Outcome::Closed | Outcome::Refunded(_) | Outcome::NotYetPaid) => {
            Ok(not_healed("QueryTrade's answer changed nothing"))
        }
        Err(rejection) => Ok(not_healed(format!(
            "QueryTrade says paid {} but it cannot be applied: {rejection}",
            facts.total_amount
        ))),
    }
}

/// The amounts differ: never changed automatically. Alipay's signed amount is recorded.
async fn explain_amount(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
) -> Result<Healing, String> {
    let answer = signed_trade(state, request_id, difference).await?;
    Ok(not_healed(format!(
        "QueryTrade says total_amount {}; amounts are never changed automatically: check the order",
        if answer.exists {
            answer.total_amount.as_str()
        } else {
            "(no such trade)"
        }
    )))
}

/// Paid here but absent from the bill: Alipay's signed answer says whether the payment is real
/// (then only the bill lacks it, e.g. it fell on the neighbouring day). Never un-paid here.
async fn confirm_paid(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Healing, String> {
    let answer = signed_trade(state, request_id, difference).await?;
    match Facts::from_paid_query(&answer, Utc::now()) {
        Some(facts) => {
            let same_day = start <= facts.paid_at && facts.paid_at < end;
            Ok(healed(if same_day {
                format!(
                    "QueryTrade confirms the payment ({}, {}); only the bill lacks it",
                    facts.trade_status, facts.total_amount
                )
            } else {
                format!(
                    "QueryTrade confirms the payment ({}) on {}: another day's bill",
                    facts.trade_status,
                    facts
                        .paid_at
                        .with_timezone(&common::beijing::OFFSET)
                        .format("%Y-%m-%d %H:%M:%S")
                )
            }))
        }
        None if !answer.exists => Ok(not_healed(
            "Alipay has no such trade (QueryTrade: ACQ.TRADE_NOT_EXIST): never paid at Alipay; check the order",
        )),
        None => Ok(not_healed(format!(
            "QueryTrade says the trade is not paid (trade_status {}): check the order",
            answer.trade_status
        ))),
    }
}

/// Refunded at Alipay, not here: after a signed REFUND_SUCCESS the refund is settled through
/// `refunds::settle`, recording it first when we never knew its number.
async fn settle_refund(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
) -> Result<Healing, String> {
    if difference.out_request_no.is_empty() {
        return Ok(not_healed(
            "the bill names no refund request number: QueryRefund cannot ask about it",
        ));
    }
    let answer = signed_refund(state, request_id, difference).await?;
    if !(answer.exists && answer.refund_status == "REFUND_SUCCESS") {
        return Ok(not_healed(format!(
            "QueryRefund does not confirm the refund (exists: {}, status {:?})",
            answer.exists, answer.refund_status
        )));
    }
    let Some(Ok(amount)) = answer.amount() else {
        return Ok(not_healed("QueryRefund gave no refund amount"));
    };
    let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
    let Some(order) = repository::find_order(&mut conn, &difference.out_trade_no)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(not_healed("no such order here"));
    };
    let refund = match repository::find_refund(&mut conn, &difference.out_request_no)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(refund) if refund.order_id != order.id => {
            return Ok(not_healed(
                "the refund number belongs to another order here",
            ));
        }
        Some(refund) => refund,
        None => {
            // A refund made at Alipay without us (the merchant console): recorded as pending
            // under Alipay's number, then settled like any other.
            match repository::insert_refund(
                &mut conn,
                order.id,
                &difference.out_request_no,
                amount,
                Some("found by reconciliation"),
                "reconciliation",
                Utc::now(),
            )
            .await
            {
                Ok(refund) => refund,
                Err(error) => {
                    return Ok(not_healed(format!(
                        "recording the refund failed (another refund pending?): {error}"
                    )));
                }
            }
        }
    };
    drop(conn);
    let number = refund.out_request_no.clone();
    match refunds::settle(state, request_id, &order, refund).await {
        Ok(settled) => match settled.status {
            crate::domain::RefundStatus::Succeeded => {
                info!(out_request_no = %number, "reconciliation: refund settled per QueryRefund");
                Ok(healed(format!(
                    "refund {amount} settled per QueryRefund (REFUND_SUCCESS)"
                )))
            }
            crate::domain::RefundStatus::Failed => Ok(not_healed(
                "our refund is marked failed, but Alipay says REFUND_SUCCESS: check it",
            )),
            crate::domain::RefundStatus::Pending => {
                Ok(not_healed("the refund is still pending after QueryRefund"))
            }
        },
        Err(error) => Ok(not_healed(format!("settling the refund failed: {error}"))),
    }
}

/// A refund here but not in the bill, or with another amount: QueryRefund's answer recorded.
async fn confirm_refund(
    state: &AppState,
    request_id: &str,
    difference: &Difference,
) -> Result<Healing, String> {
    let answer = signed_refund(state, request_id, difference).await?;
    let success = answer.exists && answer.refund_status == "REFUND_SUCCESS";
    let amount = answer.refund_amount.unwrap_or_default();
    match difference.kind {
        Kind::RefundMissingAtAlipay
            if success && Some(&amount) == difference.ours_amount.as_ref() =>
        {
            Ok(healed(format!(
                "QueryRefund confirms the refund of {amount}: another day's bill"
            )))
        }
        Kind::RefundMissingAtAlipay if success => Ok(not_healed(format!(
            "QueryRefund says {amount} was refunded: check the refund"
        ))),
        Kind::RefundMissingAtAlipay => Ok(not_healed(
            "Alipay does not confirm this refund (QueryRefund): check it",
        )),
        Kind::MissingHere
        | Kind::StatusDiffers
        | Kind::MissingAtAlipay
        | Kind::AmountDiffers
        | Kind::RefundMissingHere
        | Kind::RefundDiffers => Ok(not_healed(format!(
            "QueryRefund says {} ({amount}); refund amounts are never changed automatically",
            if success {
                "REFUND_SUCCESS"
            } else {
                "not refunded"
            }
        ))),
    }
}
