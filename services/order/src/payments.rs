//! Applying what Alipay says happened (paid, closed, refunded) to an order, exactly once.
//!
//! The same functions serve the consumer (`order.*` events), the return page and the sweeper
//! (a signed `QueryTrade` answer): each locks the order row, checks the amount, stores the event
//! under its unique `event_id` (a duplicate stops there), and compare-and-sets the status, all in
//! one transaction. Whoever commits first wins; everyone else finds the event stored or the status
//! moved, and changes nothing.

use chrono::{DateTime, Utc};
use common::events::{DeadLetterReason, DeathCause, EventKind, PaymentEventV2};
use common::money::Money;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use payment_proto::v1::{QueryTradeResponse, TradeStatus};
use uuid::Uuid;

use crate::domain::{OrderStatus, OutRequestNo, RefundStatus};
use crate::repository::{self, NewEvent, Order, RepoError};

/// Namespace of the ids given to signed `QueryTrade` answers, stored like events.
const QUERY_EVENT_NAMESPACE: Uuid = uuid::uuid!("0b8f8f3e-2d55-4c1e-9a0e-6a3c0f7d9b41");

/// Where facts come from: a payment event of some kind, or a signed `QueryTrade` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactSource {
    Event(EventKind),
    Query,
}

impl FactSource {
    /// The word stored in `payment_events.kind`: `paid`, `closed`, `refunded` or `query`.
    pub fn as_str(self) -> &'static str {
        match self {
            FactSource::Event(kind) => kind.as_str(),
            FactSource::Query => "query",
        }
    }
}

/// What Alipay said about one trade, from an event or a query.
#[derive(Debug, Clone)]
pub struct Facts {
    pub event_id: Uuid,
    pub kind: FactSource,
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: String,
    pub total_amount: Money,
    /// When the buyer paid (Alipay's `gmt_payment` / `send_pay_date`).
    pub paid_at: DateTime<Utc>,
    /// Every field, for `payment_events.params`.
    pub params: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

impl Facts {
    pub fn from_event(event: &PaymentEventV2) -> Self {
        Self {
            event_id: event.event_id,
            kind: FactSource::Event(event.kind),
            out_trade_no: event.out_trade_no.to_string(),
            trade_no: event.trade_no.clone(),
            trade_status: event.trade_status.clone(),
            total_amount: event.total_amount,
            paid_at: event.paid_at.unwrap_or(event.received_at),
            params: serde_json::to_value(&event.params).unwrap_or(serde_json::Value::Null),
            received_at: event.received_at,
        }
    }

    /// A signed `QueryTrade` answer that says the trade is paid; `None` for any other answer or
    /// one whose amount is not a valid amount.
    pub fn from_paid_query(answer: &QueryTradeResponse, now: DateTime<Utc>) -> Option<Self> {
        let status = TradeStatus::try_from(answer.trade_status).ok()?;
        if !answer.exists || !status.is_paid() {
            return None;
        }
        let total_amount = answer.total().ok()?;
        let trade_status = status.alipay_name()?.to_owned();
        let paid_at = answer.paid_at().unwrap_or(now);
        let params = serde_json::from_str(&answer.raw_json)
            .unwrap_or_else(|_| serde_json::Value::String(answer.raw_json.clone()));
        Some(Self {
            event_id: Uuid::new_v5(
                &QUERY_EVENT_NAMESPACE,
                format!("{}:{trade_status}", answer.trade_no).as_bytes(),
            ),
            kind: FactSource::Query,
            out_trade_no: answer.out_trade_no.clone(),
            trade_no: answer.trade_no.clone(),
            trade_status,
            total_amount,
            paid_at,
            params,
            received_at: now,
        })
    }

    fn new_event(&self, order_id: i64) -> NewEvent<'_> {
        NewEvent {
            event_id: self.event_id,
            order_id,
            kind: self.kind.as_str(),
            trade_no: &self.trade_no,
            trade_status: &self.trade_status,
            total_amount: self.total_amount,
            params: &self.params,
            received_at: self.received_at,
        }
    }
}

/// What applying the facts did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Unpaid → paid.
    Paid,
    /// Timed out or cancelled → paid, flagged for refund: the money is real and must not be lost.
    LatePaid,
    /// Unpaid → timed out (Alipay closed the trade).
    Closed,
    /// A refund recorded; the order's new status.
    Refunded(OrderStatus),
    /// Stored, but the order was already past this (e.g. paid before, by the return page).
    Unchanged,
    /// This `event_id` was stored before: nothing done.
    Duplicate,
    /// A refund for an order not (yet) known to be paid: nothing done; try again later.
    NotYetPaid,
}

/// Why the facts cannot be applied to any order: the consumer dead-letters these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no order has out_trade_no {0:?}")]
    UnknownOrder(String),
    #[error("the amount {received} differs from the order's {expected}")]
    AmountMismatch { expected: Money, received: Money },
    #[error("{0}")]
    Unparseable(String),
}

impl Rejection {
    pub fn cause(&self) -> DeathCause {
        match self {
            Rejection::UnknownOrder(_) => DeathCause::UnknownOrder,
            Rejection::AmountMismatch { .. } => DeathCause::AmountMismatch,
            Rejection::Unparseable(_) => DeathCause::Unparseable,
        }
    }

    /// What the dead-letter header says about it.
    pub fn dead_letter_reason(&self) -> DeadLetterReason {
        DeadLetterReason::new(self.cause(), self.to_string())
    }
}

/// The order these facts may apply to: it exists and its amount is the one Alipay names.
fn matching_order<'a>(order: Option<&'a Order>, facts: &Facts) -> Result<&'a Order, Rejection> {
    let order = order.ok_or_else(|| Rejection::UnknownOrder(facts.out_trade_no.clone()))?;
    if order.total_amount != facts.total_amount {
        return Err(Rejection::AmountMismatch {
            expected: order.total_amount,
            received: facts.total_amount,
        });
    }
    Ok(order)
}

/// What a payment does to an order in this status: `(late, outcome)` when it moves the order to
/// paid (late: it had closed, so the money must be refunded), `None` when it was paid already.
fn payment_move(status: OrderStatus) -> Option<(bool, Outcome)> {
    match status {
        OrderStatus::Unpaid => Some((false, Outcome::Paid)),
        OrderStatus::Cancelled | OrderStatus::TimedOut => Some((true, Outcome::LatePaid)),
        OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded => None,
    }
}

/// Applies one payment event of any kind in a transaction of its own: what the consumer and the
/// early-event inbox share.
pub async fn apply_event(
    conn: &mut AsyncPgConnection,
    event: &PaymentEventV2,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    conn.transaction::<_, RepoError, _>(async |conn| apply_event_in(conn, event, now).await)
        .await
}

/// [`apply_event`] inside the caller's transaction: the consumer applies a batch of events in
/// one transaction, so a burst of payments costs one commit (one WAL flush) instead of one each.
pub async fn apply_event_in(
    conn: &mut AsyncPgConnection,
    event: &PaymentEventV2,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    let facts = Facts::from_event(event);
    match event.kind {
        EventKind::Paid => apply_payment_in(conn, &facts, now).await,
        EventKind::Closed => apply_close_in(conn, &facts, now).await,
        EventKind::Refunded => match event.refund_fee {
            Some(refund_fee) => {
                let number = event.out_request_no.as_ref().map(OutRequestNo::as_str);
                apply_refund_in(conn, &facts, refund_fee, number, now).await
            }
            None => Ok(Err(Rejection::Unparseable(
                "a refund event without refund_fee".into(),
            ))),
        },
    }
}

/// Applies a payment (TRADE_SUCCESS / TRADE_FINISHED).
pub async fn apply_payment(
    conn: &mut AsyncPgConnection,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    conn.transaction::<_, RepoError, _>(async |conn| apply_payment_in(conn, facts, now).await)
        .await
}

/// [`apply_payment`] inside the caller's transaction.
async fn apply_payment_in(
    conn: &mut AsyncPgConnection,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    let locked = repository::lock_order(conn, &facts.out_trade_no).await?;
    let order = match matching_order(locked.as_ref(), facts) {
        Ok(order) => order,
        Err(rejection) => return Ok(Err(rejection)),
    };
    if !repository::insert_event(conn, facts.new_event(order.id)).await? {
        return Ok(Ok(Outcome::Duplicate));
    }
    let Some((late, outcome)) = payment_move(order.status) else {
        return Ok(Ok(Outcome::Unchanged));
    };
    let changed = repository::set_paid(
        conn,
        order.id,
        order.status,
        &facts.trade_no,
        facts.paid_at,
        late,
        now,
    )
    .await?;
    // Events that came before this payment (a refund, say) may apply now: due at once.
    crate::inbox::nudge(conn, &facts.out_trade_no, now).await?;
    // The row is locked, so the compare-and-set cannot miss; checked all the same.
    Ok(Ok(if changed { outcome } else { Outcome::Unchanged }))
}

/// [`apply_payment`] for a batch of payments, inside the caller's transaction, with one
/// statement per step for the whole batch (lock the orders, store the events, move the orders,
/// wake their waiting events) instead of four per payment. The outcomes, one per fact in the
/// same order, are those of applying the facts one by one in that order: a fact repeated in the
/// batch is a duplicate, and a second payment of one order finds it paid.
pub async fn apply_payments_in(
    conn: &mut AsyncPgConnection,
    facts: &[Facts],
    now: DateTime<Utc>,
) -> Result<Vec<Result<Outcome, Rejection>>, RepoError> {
    use std::collections::{HashMap, HashSet};

    let mut numbers: Vec<&str> = facts.iter().map(|f| f.out_trade_no.as_str()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut orders: HashMap<String, Order> = repository::lock_orders(conn, &numbers)
        .await?
        .into_iter()
        .map(|order| (order.out_trade_no.clone(), order))
        .collect();

    // What each fact comes to before its event is stored; `None`: to be stored.
    let mut outcomes: Vec<Option<Result<Outcome, Rejection>>> = Vec::with_capacity(facts.len());
    let mut to_store = Vec::new();
    let mut seen = HashSet::new();
    for fact in facts {
        let decided = match matching_order(orders.get(&fact.out_trade_no), fact) {
            Err(rejection) => Some(Err(rejection)),
            Ok(_) if !seen.insert(fact.event_id) => Some(Ok(Outcome::Duplicate)),
            Ok(order) => {
                to_store.push(fact.new_event(order.id));
                None
            }
        };
        outcomes.push(decided);
    }
    let stored: HashSet<Uuid> = repository::insert_events(conn, &to_store)
        .await?
        .into_iter()
        .collect();
    drop(to_store);

    let mut transitions = Vec::new();
    let mut paid_numbers = Vec::new();
    for (fact, outcome) in facts.iter().zip(outcomes.iter_mut()) {
        if outcome.is_some() {
            continue;
        }
        if !stored.contains(&fact.event_id) {
            *outcome = Some(Ok(Outcome::Duplicate));
            continue;
        }
        let Some(order) = orders.get_mut(&fact.out_trade_no) else {
            continue;
        };
        let Some((late, moved)) = payment_move(order.status) else {
            *outcome = Some(Ok(Outcome::Unchanged));
            continue;
        };
        transitions.push(repository::PaidTransition {
            id: order.id,
            from: order.status,
            trade_no: &fact.trade_no,
            pay_time: fact.paid_at,
            needs_refund: late,
        });
        paid_numbers.push(fact.out_trade_no.as_str());
        // A later payment of the same order in this batch finds it paid, as it would one by one.
        order.status = OrderStatus::Paid;
        *outcome = Some(Ok(moved));
    }
    // Events that came before these payments (a refund, say) may apply now: due at once. The
    // two statements do not depend on each other's answers, so they go to the database together
    // (pipelined on the one connection), one round trip for both.
    let (changed, ()) = futures_util::try_join!(
        repository::set_paid_many(conn, &transitions, now),
        crate::inbox::nudge_many(conn, &paid_numbers, now),
    )?;
    let changed: HashSet<i64> = changed.into_iter().collect();

    Ok(facts
        .iter()
        .zip(outcomes)
        .map(|(fact, outcome)| match outcome {
            // The rows are locked, so the compare-and-set cannot miss; checked all the same.
            Some(Ok(Outcome::Paid | Outcome::LatePaid))
                if !orders
                    .get(&fact.out_trade_no)
                    .is_some_and(|order| changed.contains(&order.id)) =>
            {
                Ok(Outcome::Unchanged)
            }
            Some(outcome) => outcome,
            None => Ok(Outcome::Unchanged),
        })
        .collect())
}

/// Applies a close (TRADE_CLOSED without refund fields): an unpaid order times out.
pub async fn apply_close(
    conn: &mut AsyncPgConnection,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    conn.transaction::<_, RepoError, _>(async |conn| apply_close_in(conn, facts, now).await)
        .await
}

/// [`apply_close`] inside the caller's transaction.
async fn apply_close_in(
    conn: &mut AsyncPgConnection,
    facts: &Facts,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    let locked = repository::lock_order(conn, &facts.out_trade_no).await?;
    let order = match matching_order(locked.as_ref(), facts) {
        Ok(order) => order,
        Err(rejection) => return Ok(Err(rejection)),
    };
    if !repository::insert_event(conn, facts.new_event(order.id)).await? {
        return Ok(Ok(Outcome::Duplicate));
    }
    match order.status {
        OrderStatus::Unpaid => {
            let changed = repository::set_status(
                conn,
                order.id,
                OrderStatus::Unpaid,
                OrderStatus::TimedOut,
                now,
            )
            .await?;
            Ok(Ok(if changed {
                Outcome::Closed
            } else {
                Outcome::Unchanged
            }))
        }
        OrderStatus::Paid
        | OrderStatus::Cancelled
        | OrderStatus::TimedOut
        | OrderStatus::PartiallyRefunded
        | OrderStatus::Refunded => Ok(Ok(Outcome::Unchanged)),
    }
}

/// Applies a refund notification: `refund_fee` is the cumulative amount refunded and
/// `out_request_no` (Alipay's `out_biz_no`) names our refund request.
pub async fn apply_refund(
    conn: &mut AsyncPgConnection,
    facts: &Facts,
    refund_fee: Money,
    out_request_no: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    conn.transaction::<_, RepoError, _>(async |conn| {
        apply_refund_in(conn, facts, refund_fee, out_request_no, now).await
    })
    .await
}

/// [`apply_refund`] inside the caller's transaction.
async fn apply_refund_in(
    conn: &mut AsyncPgConnection,
    facts: &Facts,
    refund_fee: Money,
    out_request_no: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<Outcome, Rejection>, RepoError> {
    let Some(order) = repository::lock_order(conn, &facts.out_trade_no).await? else {
        return Ok(Err(Rejection::UnknownOrder(facts.out_trade_no.clone())));
    };
    if order.total_amount != facts.total_amount || refund_fee > order.total_amount {
        return Ok(Err(Rejection::AmountMismatch {
            expected: order.total_amount,
            received: facts.total_amount,
        }));
    }
    match order.status {
        OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded => {}
        // Alipay refunds only paid trades: the payment event is still on its way (events can
        // overtake each other). Nothing is stored, so the refund applies when redelivered.
        OrderStatus::Unpaid | OrderStatus::Cancelled | OrderStatus::TimedOut => {
            return Ok(Ok(Outcome::NotYetPaid));
        }
    }
    if !repository::insert_event(conn, facts.new_event(order.id)).await? {
        return Ok(Ok(Outcome::Duplicate));
    }
    if let Some(number) = out_request_no
        && let Some(refund) = repository::find_refund(conn, number).await?
        && refund.order_id == order.id
    {
        repository::settle_refund(conn, refund.id, RefundStatus::Succeeded, None, now).await?;
    }
    let updated = repository::set_refunded(conn, &order, refund_fee, now).await?;
    Ok(Ok(Outcome::Refunded(updated.status)))
}
