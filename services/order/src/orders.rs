//! Orders: creating one with its pay link, the return page's check, cancelling, and closing at
//! expiry. Handlers and the sweeper call these; the HTTP shapes live in `routes`.

use chrono::Utc;
use common::auth::Claims;
use common::money::Money;
use diesel_async::AsyncConnection as _;
use payment_proto::v1::{CreatePagePayRequest, TradeStatus};
use tracing::{info, warn};

use crate::domain::{CourseList, OrderStatus, OutTradeNo, PayType, random_bits};
use crate::error::ApiError;
use crate::gateway::GatewayError;
use crate::payments::{self, Facts, Outcome};
use crate::repository::{self, NewOrder, Opened, Order, Refusal, RepoError};
use crate::state::AppState;

/// A validated `POST /order/pay/` body. There is no subject: the order is named after its
/// courses (see `open_orders` in the migrations), so no buyer can write on Alipay's cashier.
#[derive(Debug, Clone)]
pub struct PayOrder {
    pub total_amount: Money,
    pub pay_type: PayType,
    pub courses: CourseList,
}

/// What the buyer gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Go pay here.
    PayLink { out_trade_no: String, url: String },
    /// A zero total: paid at once, no Alipay round trip.
    PaidAtOnce { out_trade_no: String },
}

/// Creates the order and its lines (one statement, which also checks the courses and the total,
/// shared with the other orders waiting at that moment: `opener`) and asks the gateway for the
/// pay link: while the order is opened when its subject can be told in advance (`subjects`),
/// after it otherwise.
///
/// If the gateway cannot be reached the order row stays, for audit, but is marked cancelled at
/// once: no link was handed out, so no one can pay it, and nothing looks paid or payable.
pub async fn create(
    state: &AppState,
    claims: &Claims,
    request_id: &str,
    order: PayOrder,
) -> Result<Created, ApiError> {
    match order.pay_type {
        PayType::Alipay => {}
        PayType::WeChat => {
            return Err(ApiError::BadRequest(
                "pay_type 2 (WeChat Pay) is not supported; use 1 (Alipay)".into(),
            ));
        }
    }
    let now = Utc::now();
    let out_trade_no = OutTradeNo::generate(now, random_bits());
    let expires_at = now + state.order_ttl;
    let zero = order.total_amount.is_zero();
    let (status, pay_time) = if zero {
        (OrderStatus::Paid, Some(now))
    } else {
        (OrderStatus::Unpaid, None)
    };
    let new_order = NewOrder {
        out_trade_no: out_trade_no.to_string(),
        user_id: claims.sub.clone(),
        total_amount: order.total_amount,
        pay_type: order.pay_type.code(),
        status,
        pay_time,
        expires_at,
        now,
        course_ids: order.courses.ids().to_vec(),
    };
    let link_for = |subject: String| {
        let request =
            CreatePagePayRequest::for_order(&out_trade_no, order.total_amount, subject, expires_at);
        state.gateway.create_page_pay(request_id, request)
    };

    // Where the subject can be told in advance, the link is signed while the order is opened:
    // the wait for the database's commit and the wait for a signing thread overlap instead of
    // adding up. Nothing signed ahead is handed out unless the order was opened with that very
    // subject; a refused order's link is dropped.
    let predicted = (!zero)
        .then(|| state.subjects.predict(order.courses.ids()))
        .flatten();
    let (opened, signed_ahead) = match predicted {
        Some(subject) => {
            let (opened, link) =
                tokio::join!(state.opener.open(new_order), link_for(subject.clone()));
            (opened, Some((subject, link)))
        }
        None => (state.opener.open(new_order).await, None),
    };
    let Opened { id, subject } = opened?.map_err(|refusal| refused(&order, refusal))?;

    if zero {
        state.metrics.order_created("paid_at_once");
        state.metrics.order_paid("zero_total");
        info!(%out_trade_no, user_id = %claims.sub, "free order paid at once");
        return Ok(Created::PaidAtOnce {
            out_trade_no: out_trade_no.to_string(),
        });
    }

    state.subjects.learn(order.courses.ids(), &subject);
    let link = match signed_ahead {
        Some((predicted, link)) if predicted == subject => {
            state.metrics.pay_link_signed("ahead");
            link
        }
        Some(_) => {
            state.metrics.pay_link_signed("again");
            link_for(subject).await
        }
        None => {
            state.metrics.pay_link_signed("after");
            link_for(subject).await
        }
    };
    match link {
        Ok(link) => {
            state.metrics.order_created("pay_link");
            info!(%out_trade_no, user_id = %claims.sub, total_amount = %order.total_amount, "order created");
            Ok(Created::PayLink {
                out_trade_no: out_trade_no.to_string(),
                url: link.url,
            })
        }
        Err(error) => {
            state.metrics.order_created("gateway_failed");
            abandon(state, id, &out_trade_no).await;
            Err(error.into())
        }
    }
}

/// Marks an order whose link was never handed out as cancelled. A failure here is only logged:
/// the order is unpaid and unpayable, and the sweeper closes it at expiry anyway.
async fn abandon(state: &AppState, order_id: i64, out_trade_no: &OutTradeNo) {
    let result = async {
        let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
        repository::set_status(
            &mut conn,
            order_id,
            OrderStatus::Unpaid,
            OrderStatus::Cancelled,
            Utc::now(),
        )
        .await
        .map_err(|e| e.to_string())
    }
    .await;
    match result {
        Ok(_) => warn!(%out_trade_no, "no pay link: order cancelled"),
        Err(error) => {
            warn!(%out_trade_no, %error, "no pay link, and cancelling failed; the sweeper will close it")
        }
    }
}

/// The buyer's words for a rule the database found broken.
fn refused(order: &PayOrder, refusal: Refusal) -> ApiError {
    ApiError::BadRequest(match refusal {
        Refusal::NoSuchCourse(id) => format!("course {id} does not exist"),
        Refusal::NotForSale(id) => format!("course {id} is not for sale"),
        Refusal::TotalMismatch(sum) => format!(
            "total_amount {} does not match the courses' total {sum}",
            order.total_amount
        ),
    })
}

/// The return page: the order's status, after asking Alipay (at most once per
/// `success_query_interval`) if it is still unpaid. A signed TRADE_SUCCESS is applied exactly as
/// a payment event would be.
pub async fn check_paid(
    state: &AppState,
    request_id: &str,
    out_trade_no: &OutTradeNo,
) -> Result<Order, ApiError> {
    let mut conn = state.pool.get().await?;
    let order = repository::find_order(&mut conn, out_trade_no.as_str())
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    match order.status {
        OrderStatus::Unpaid => {}
        OrderStatus::Paid
        | OrderStatus::Cancelled
        | OrderStatus::TimedOut
        | OrderStatus::PartiallyRefunded
        | OrderStatus::Refunded => return Ok(order),
    }
    let now = Utc::now();
    let slot =
        repository::claim_query_slot(&mut conn, order.id, now - state.success_query_interval, now)
            .await?;
    if !slot {
        return Ok(order);
    }
    drop(conn);
    let answer = match state
        .gateway
        .query_trade(request_id, out_trade_no.as_str())
        .await
    {
        Ok(answer) => answer,
        // The page shows "not paid yet"; the event or a later visit settles it.
        Err(error) => {
            warn!(%out_trade_no, %error, "return page: QueryTrade failed");
            return Ok(order);
        }
    };
    if let Some(facts) = Facts::from_paid_query(&answer, Utc::now()) {
        apply_paid_query(state, &facts, "query").await?;
    } else if closed_before_payment(&answer) {
        // The buyer cancelled on the cashier (or the trade timed out there): the page can say so
        // now instead of at the sweep.
        cancel_closed_at_alipay(state, order.id, out_trade_no.as_str(), "return page").await?;
    }
    let mut conn = state.pool.get().await?;
    Ok(repository::find_order(&mut conn, out_trade_no.as_str())
        .await?
        .unwrap_or(order))
}

/// An unpaid order whose trade Alipay closed before any payment (a signed answer said so) is
/// cancelled: Alipay will never take money for that trade. Whether it was still unpaid.
pub(crate) async fn cancel_closed_at_alipay(
    state: &AppState,
    order_id: i64,
    out_trade_no: &str,
    source: &str,
) -> Result<bool, ApiError> {
    let mut conn = state.pool.get().await?;
    let cancelled = repository::set_status(
        &mut conn,
        order_id,
        OrderStatus::Unpaid,
        OrderStatus::Cancelled,
        Utc::now(),
    )
    .await?;
    if cancelled {
        info!(%out_trade_no, source, "closed at Alipay before payment: order cancelled");
    }
    Ok(cancelled)
}

/// A signed answer saying the trade was closed and never paid (a trade closed after a full
/// refund has a payment date, and is not this).
pub(crate) fn closed_before_payment(answer: &payment_proto::v1::QueryTradeResponse) -> bool {
    answer.exists
        && TradeStatus::try_from(answer.trade_status) == Ok(TradeStatus::TradeClosed)
        && answer.send_pay_date.is_none()
}

/// A fresh pay link for an unpaid, unexpired order of the caller's, with the order's own
/// number, amount, subject and deadline (Alipay accepts them again while the trade is open).
pub async fn pay_link(
    state: &AppState,
    claims: &Claims,
    request_id: &str,
    out_trade_no: &OutTradeNo,
) -> Result<String, ApiError> {
    let order = owned_order(state, claims, out_trade_no).await?;
    match order.status {
        OrderStatus::Unpaid => {}
        status @ (OrderStatus::Paid
        | OrderStatus::Cancelled
        | OrderStatus::TimedOut
        | OrderStatus::PartiallyRefunded
        | OrderStatus::Refunded) => {
            return Err(ApiError::Conflict(format!(
                "only unpaid orders can be paid; this one is {status}"
            )));
        }
    }
    if order.expires_at <= Utc::now() {
        return Err(ApiError::Conflict(
            "the order has expired; please place a new one".into(),
        ));
    }
    let request = CreatePagePayRequest::for_order(
        out_trade_no,
        order.total_amount,
        order.subject.clone(),
        order.expires_at,
    );
    let link = state.gateway.create_page_pay(request_id, request).await?;
    info!(%out_trade_no, "pay link handed out again");
    Ok(link.url)
}

/// Applies a paid `QueryTrade` answer and counts it.
pub(crate) async fn apply_paid_query(
    state: &AppState,
    facts: &Facts,
    source: &str,
) -> Result<(), ApiError> {
    let mut conn = state.pool.get().await?;
    match payments::apply_payment(&mut conn, facts, Utc::now()).await? {
        Ok(outcome) => {
            count_payment(state, outcome, source);
            info!(out_trade_no = %facts.out_trade_no, ?outcome, source, "paid per QueryTrade");
            Ok(())
        }
        Err(rejection) => {
            warn!(out_trade_no = %facts.out_trade_no, %rejection, "QueryTrade answer not applied");
            Ok(())
        }
    }
}

/// Counts a payment outcome in the metrics.
pub fn count_payment(state: &AppState, outcome: Outcome, source: &str) {
    match outcome {
        Outcome::Paid => state.metrics.order_paid(source),
        Outcome::LatePaid => {
            state.metrics.order_paid(source);
            state.metrics.late_payment();
        }
        Outcome::Closed
        | Outcome::Refunded(_)
        | Outcome::Unchanged
        | Outcome::Duplicate
        | Outcome::NotYetPaid => {}
    }
}

/// What closing an unpaid order came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Closed at Alipay (or never opened there) and given the target status.
    Closed,
    /// Alipay says it was paid: applied as paid instead.
    Paid,
    /// Not unpaid any more (someone else got there first).
    NotUnpaid(OrderStatus),
    /// Another sweeper holds the order.
    Skipped,
    /// The gateway failed or refused; left unpaid for a later attempt.
    GatewayFailed(String),
}

enum Locked {
    Done(CloseOutcome),
    PaidPerQuery(Box<Facts>),
}

/// Closes one unpaid order: asks Alipay first (a paid trade becomes paid, never closed), closes
/// the trade (`ACQ.TRADE_NOT_EXIST` is fine: the buyer never opened the cashier), then sets
/// `target`. The row stays locked meanwhile, so a payment event for it waits and then sees the
/// final status (a late payment is then flagged, not lost). `skip_locked`: for the sweeper, so
/// that several replicas never work on the same order.
pub async fn close_unpaid(
    state: &AppState,
    request_id: &str,
    order_id: i64,
    target: OrderStatus,
    skip_locked: bool,
) -> Result<CloseOutcome, ApiError> {
    let mut conn = state.pool.get().await?;
    let gateway = &state.gateway;
    let locked = conn
        .transaction::<Locked, RepoError, _>(async |conn| {
            let order = if skip_locked {
                repository::try_lock_order(conn, order_id).await?
            } else {
                repository::lock_order_by_id(conn, order_id).await?
            };
            let Some(order) = order else {
                return Ok(Locked::Done(CloseOutcome::Skipped));
            };
            match order.status {
                OrderStatus::Unpaid => {}
                other @ (OrderStatus::Paid
                | OrderStatus::Cancelled
                | OrderStatus::TimedOut
                | OrderStatus::PartiallyRefunded
                | OrderStatus::Refunded) => {
                    return Ok(Locked::Done(CloseOutcome::NotUnpaid(other)));
                }
            }
            let answer = match gateway.query_trade(request_id, &order.out_trade_no).await {
                Ok(answer) => answer,
                Err(error) => {
                    return Ok(Locked::Done(CloseOutcome::GatewayFailed(error.to_string())));
                }
            };
            if let Some(facts) = Facts::from_paid_query(&answer, Utc::now()) {
                return Ok(Locked::PaidPerQuery(Box::new(facts)));
            }
            let already_closed = answer.exists
                && TradeStatus::try_from(answer.trade_status) == Ok(TradeStatus::TradeClosed);
            if !already_closed {
                match gateway.close_trade(request_id, &order.out_trade_no).await {
                    Ok(_) => {}
                    Err(GatewayError::Refused { sub_code, .. })
                        if sub_code == "ACQ.TRADE_NOT_EXIST" => {}
                    Err(error) => {
                        return Ok(Locked::Done(CloseOutcome::GatewayFailed(error.to_string())));
                    }
                }
            }
            repository::set_status(conn, order.id, OrderStatus::Unpaid, target, Utc::now()).await?;
            Ok(Locked::Done(CloseOutcome::Closed))
        })
        .await?;
    drop(conn);
    match locked {
        Locked::Done(outcome) => Ok(outcome),
        Locked::PaidPerQuery(facts) => {
            apply_paid_query(state, &facts, "sweeper").await?;
            Ok(CloseOutcome::Paid)
        }
    }
}

/// `POST /api/v1/orders/{no}/cancel`: the owner cancels an unpaid order.
pub async fn cancel(
    state: &AppState,
    claims: &Claims,
    request_id: &str,
    out_trade_no: &OutTradeNo,
) -> Result<Order, ApiError> {
    let order = owned_order(state, claims, out_trade_no).await?;
    match close_unpaid(state, request_id, order.id, OrderStatus::Cancelled, false).await? {
        CloseOutcome::Closed => {
            info!(%out_trade_no, "order cancelled");
        }
        CloseOutcome::Paid => {
            return Err(ApiError::Conflict(
                "the order has been paid and cannot be cancelled".into(),
            ));
        }
        CloseOutcome::NotUnpaid(status) => {
            return Err(ApiError::Conflict(format!(
                "only unpaid orders can be cancelled; this one is {status}"
            )));
        }
        CloseOutcome::Skipped => {
            return Err(ApiError::Conflict("the order is busy; try again".into()));
        }
        CloseOutcome::GatewayFailed(cause) => {
            return Err(ApiError::GatewayUnavailable(GatewayError::Unavailable(
                cause,
            )));
        }
    }
    let mut conn = state.pool.get().await?;
    repository::find_order(&mut conn, out_trade_no.as_str())
        .await?
        .ok_or(ApiError::NotFound("order"))
}

/// The order if `claims` may see it (its owner, or an admin); anyone else gets 404, as if it
/// did not exist, so order numbers cannot be probed.
pub async fn owned_order(
    state: &AppState,
    claims: &Claims,
    out_trade_no: &OutTradeNo,
) -> Result<Order, ApiError> {
    let mut conn = state.pool.get().await?;
    let order = repository::find_order(&mut conn, out_trade_no.as_str())
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    if order.user_id == claims.sub || claims.is_admin() {
        Ok(order)
    } else {
        Err(ApiError::NotFound("order"))
    }
}
