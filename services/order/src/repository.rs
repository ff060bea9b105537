//! Database access: read models (`Queryable + Selectable`), insert models, and one function per
//! query, each taking the connection (so callers choose the transaction). No business decisions
//! here; `payments`, `orders` and `refunds` make them.

use chrono::{DateTime, Utc};
use common::money::Money;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::{OrderStatus, RefundStatus};
use crate::schema::{courses, order_lines, orders, payment_events, refunds};

/// A query failed, or a row holds what the schema should have prevented.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("row {table}#{id} is inconsistent: {problem}")]
    Corrupt {
        table: &'static str,
        id: i64,
        problem: String,
    },
}

impl RepoError {
    /// Whether the database could not be reached (or went away mid-statement), as opposed to a
    /// statement it refused: the first passes by itself, so work that meets it waits and retries.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            RepoError::Query(
                Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
                | Error::DatabaseError(DatabaseErrorKind::Unknown, _)
                | Error::BrokenTransactionManager,
            ) => true,
            RepoError::Query(_) | RepoError::Corrupt { .. } => false,
        }
    }
}

fn money(table: &'static str, id: i64, value: Decimal) -> Result<Money, RepoError> {
    Money::from_decimal(value).map_err(|e| RepoError::Corrupt {
        table,
        id,
        problem: e.to_string(),
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = courses)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct CourseRow {
    id: i64,
    name: String,
    price: Decimal,
    active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Course {
    pub id: i64,
    pub name: String,
    pub price: Money,
    pub active: bool,
}

impl TryFrom<CourseRow> for Course {
    type Error = RepoError;
    fn try_from(row: CourseRow) -> Result<Self, RepoError> {
        Ok(Course {
            price: money("courses", row.id, row.price)?,
            id: row.id,
            name: row.name,
            active: row.active,
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct OrderRow {
    id: i64,
    out_trade_no: String,
    user_id: String,
    subject: String,
    total_amount: Decimal,
    status: i16,
    trade_no: Option<String>,
    pay_time: Option<DateTime<Utc>>,
    refunded_amount: Decimal,
    needs_refund: bool,
    expires_at: DateTime<Utc>,
    last_queried_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// An order as the rest of the service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub out_trade_no: String,
    pub user_id: String,
    pub subject: String,
    pub total_amount: Money,
    pub status: OrderStatus,
    pub trade_no: Option<String>,
    pub pay_time: Option<DateTime<Utc>>,
    pub refunded_amount: Money,
    pub needs_refund: bool,
    pub expires_at: DateTime<Utc>,
    pub last_queried_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<OrderRow> for Order {
    type Error = RepoError;
    fn try_from(row: OrderRow) -> Result<Self, RepoError> {
        let status = OrderStatus::from_code(row.status).ok_or_else(|| RepoError::Corrupt {
            table: "orders",
            id: row.id,
            problem: format!("unknown status {}", row.status),
        })?;
        Ok(Order {
            total_amount: money("orders", row.id, row.total_amount)?,
            refunded_amount: money("orders", row.id, row.refunded_amount)?,
            id: row.id,
            out_trade_no: row.out_trade_no,
            user_id: row.user_id,
            subject: row.subject,
            status,
            trade_no: row.trade_no,
            pay_time: row.pay_time,
            needs_refund: row.needs_refund,
            expires_at: row.expires_at,
            last_queried_at: row.last_queried_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn orders_from(rows: Vec<OrderRow>) -> Result<Vec<Order>, RepoError> {
    rows.into_iter().map(Order::try_from).collect()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_lines)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct LineRow {
    id: i64,
    course_id: i64,
    price: Decimal,
    real_price: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    pub course_id: i64,
    /// The course's name in the catalog, so that a page can say what was bought.
    pub title: String,
    pub price: Money,
    pub real_price: Money,
}

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

// ---- courses ----

/// Active courses, by id.
pub async fn active_courses(conn: &mut AsyncPgConnection) -> Result<Vec<Course>, RepoError> {
    courses::table
        .filter(courses::active.eq(true))
        .order(courses::id)
        .select(CourseRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Course::try_from)
        .collect()
}

pub async fn find_course(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<Course>, RepoError> {
    courses::table
        .find(id)
        .select(CourseRow::as_select())
        .first(conn)
        .await
        .optional()?
        .map(Course::try_from)
        .transpose()
}

/// The courses among `ids` that exist (active or not).
pub async fn courses_by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[i64],
) -> Result<Vec<Course>, RepoError> {
    courses::table
        .filter(courses::id.eq_any(ids))
        .select(CourseRow::as_select())
        .load(conn)
        .await?
        .into_iter()
        .map(Course::try_from)
        .collect()
}

/// Adds a course (operators and tests; the HTTP API has no catalog editing yet).
pub async fn insert_course(
    conn: &mut AsyncPgConnection,
    name: &str,
    price: Money,
    active: bool,
) -> Result<Course, RepoError> {
    diesel::insert_into(courses::table)
        .values((
            courses::name.eq(name),
            courses::price.eq(price.decimal()),
            courses::active.eq(active),
        ))
        .returning(CourseRow::as_returning())
        .get_result(conn)
        .await?
        .try_into()
}

// ---- orders ----

#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub out_trade_no: &'a str,
    pub user_id: &'a str,
    pub total_amount: Money,
    pub pay_type: i16,
    pub status: OrderStatus,
    pub pay_time: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

diesel::define_sql_function! {
    /// `migrations/2026-12-04-…/up.sql`: inserts the order and its lines if the courses and the
    /// total check out, naming it after its courses; the subject, or NULL.
    #[allow(clippy::too_many_arguments)]
    fn place_order(
        out_trade_no: diesel::sql_types::Text,
        user_id: diesel::sql_types::Text,
        total: diesel::sql_types::Numeric,
        pay_type: diesel::sql_types::SmallInt,
        status: diesel::sql_types::SmallInt,
        pay_time: diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        expires_at: diesel::sql_types::Timestamptz,
        now: diesel::sql_types::Timestamptz,
        course_ids: diesel::sql_types::Array<diesel::sql_types::BigInt>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// Inserts the order and one line per course in one call (one round trip, one transaction),
/// but only if every course in `course_ids` exists and is active and their prices add up to
/// `order.total_amount`. Returns the subject the order was given (from the catalog), or `None`
/// when nothing was inserted; [`courses_by_ids`] tells why.
pub async fn insert_order_if_valid(
    conn: &mut AsyncPgConnection,
    order: NewOrder<'_>,
    course_ids: &[i64],
) -> Result<Option<String>, RepoError> {
    // Built with the query builder (not `sql_query`), so diesel-async caches the prepared
    // statement per connection.
    Ok(diesel::select(place_order(
        order.out_trade_no,
        order.user_id,
        order.total_amount.decimal(),
        order.pay_type,
        order.status.code(),
        order.pay_time,
        order.expires_at,
        order.now,
        course_ids,
    ))
    .get_result(conn)
    .await?)
}

/// A read order row, or none, as the domain type.
fn one_order(row: QueryResult<OrderRow>) -> Result<Option<Order>, RepoError> {
    row.optional()?.map(Order::try_from).transpose()
}

pub async fn find_order(
    conn: &mut AsyncPgConnection,
    out_trade_no: &str,
) -> Result<Option<Order>, RepoError> {
    let by_number = orders::table.filter(orders::out_trade_no.eq(out_trade_no));
    one_order(by_number.select(OrderRow::as_select()).first(conn).await)
}

/// The order, locked until the transaction ends (call inside one).
pub async fn lock_order(
    conn: &mut AsyncPgConnection,
    out_trade_no: &str,
) -> Result<Option<Order>, RepoError> {
    let by_number = orders::table.filter(orders::out_trade_no.eq(out_trade_no));
    one_order(
        by_number
            .select(OrderRow::as_select())
            .for_update()
            .first(conn)
            .await,
    )
}

pub async fn find_order_by_id(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<Order>, RepoError> {
    one_order(
        orders::table
            .find(id)
            .select(OrderRow::as_select())
            .first(conn)
            .await,
    )
}

/// The order by id, locked until the transaction ends.
pub async fn lock_order_by_id(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<Order>, RepoError> {
    one_order(
        orders::table
            .find(id)
            .select(OrderRow::as_select())
            .for_update()
            .first(conn)
            .await,
    )
}

/// The order if no one else holds its lock; `Ok(None)` when missing or locked.
pub async fn try_lock_order(
    conn: &mut AsyncPgConnection,
    id: i64,
) -> Result<Option<Order>, RepoError> {
    one_order(
        orders::table
            .find(id)
            .select(OrderRow::as_select())
            .for_update()
            .skip_locked()
            .first(conn)
            .await,
    )
}

pub async fn order_lines(
    conn: &mut AsyncPgConnection,
    order_id: i64,
) -> Result<Vec<OrderLine>, RepoError> {
    order_lines::table
        .inner_join(courses::table)
        .filter(order_lines::order_id.eq(order_id))
        .order(order_lines::id)
        .select((LineRow::as_select(), courses::name))
        .load::<(LineRow, String)>(conn)
        .await?
        .into_iter()
        .map(|(row, title)| {
            Ok(OrderLine {
                course_id: row.course_id,
                title,
                price: money("order_lines", row.id, row.price)?,
                real_price: money("order_lines", row.id, row.real_price)?,
            })
        })
        .collect()
}

/// One page of a user's orders, newest first, and how many they have.
pub async fn user_orders(
    conn: &mut AsyncPgConnection,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Order>, i64), RepoError> {
    let rows = orders::table
        .filter(orders::user_id.eq(user_id))
        .order(orders::id.desc())
        .limit(limit)
        .offset(offset)
        .select(OrderRow::as_select())
        .load(conn)
        .await?;
    let total: i64 = orders::table
        .filter(orders::user_id.eq(user_id))
        .count()
        .get_result(conn)
        .await?;
    Ok((orders_from(rows)?, total))
}

/// Compare-and-set of the status alone; `true` when the order was in `from`.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    id: i64,
    from: OrderStatus,
    to: OrderStatus,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    let updated = diesel::update(orders::table)
        .filter(orders::id.eq(id).and(orders::status.eq(from.code())))
        .set((orders::status.eq(to.code()), orders::updated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Compare-and-set to paid; `needs_refund` for a payment that came after the order closed.
pub async fn set_paid(
    conn: &mut AsyncPgConnection,
    id: i64,
    from: OrderStatus,
    trade_no: &str,
    pay_time: DateTime<Utc>,
    needs_refund: bool,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    let updated = diesel::update(orders::table)
        .filter(orders::id.eq(id).and(orders::status.eq(from.code())))
        .set((
            orders::status.eq(OrderStatus::Paid.code()),
            orders::trade_no.eq(trade_no),
            orders::pay_time.eq(pay_time),
            orders::needs_refund.eq(needs_refund),
            orders::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Records the cumulative refunded amount and the status it implies (call with the order
/// locked). The amount only grows: notifications and answers may arrive out of order.
pub async fn set_refunded(
    conn: &mut AsyncPgConnection,
    order: &Order,
    cumulative: Money,
    now: DateTime<Utc>,
) -> Result<Order, RepoError> {
    let refunded = cumulative.max(order.refunded_amount);
    let status = if refunded >= order.total_amount {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartiallyRefunded
    };
    let row: OrderRow = diesel::update(orders::table.find(order.id))
        .set((
            orders::refunded_amount.eq(refunded.decimal()),
            orders::status.eq(status.code()),
            // A late payment refunded in full no longer needs attention.
            orders::needs_refund.eq(order.needs_refund && status != OrderStatus::Refunded),
            orders::updated_at.eq(now),
        ))
        .returning(OrderRow::as_returning())
        .get_result(conn)
        .await?;
    row.try_into()
}

/// Takes the return page's query slot: `true` (and the slot) when the order is unpaid and was
/// not queried since `not_after`.
pub async fn claim_query_slot(
    conn: &mut AsyncPgConnection,
    id: i64,
    not_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    let updated = diesel::update(orders::table)
        .filter(
            orders::id
                .eq(id)
                .and(orders::status.eq(OrderStatus::Unpaid.code()))
                .and(
                    orders::last_queried_at
                        .is_null()
                        .or(orders::last_queried_at.lt(not_after)),
                ),
        )
        .set(orders::last_queried_at.eq(now))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Ids of unpaid orders past their expiry, oldest first (the sweeper then locks each one).
/// Makes an unpaid order's next sync query due now; whether there was such an order.
pub async fn sync_now(
    conn: &mut AsyncPgConnection,
    out_trade_no: &str,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    let moved = diesel::update(
        orders::table.filter(
            orders::out_trade_no
                .eq(out_trade_no)
                .and(orders::status.eq(OrderStatus::Unpaid.code())),
        ),
    )
    .set(orders::next_sync_at.eq(now))
    .execute(conn)
    .await?;
    Ok(moved == 1)
}

/// Moves an order to its next sync step (`next_sync_at` NULL: no more steps).
pub async fn set_next_sync(
    conn: &mut AsyncPgConnection,
    id: i64,
    step: i16,
    next: Option<DateTime<Utc>>,
) -> Result<(), RepoError> {
    diesel::update(orders::table.find(id))
        .set((orders::sync_step.eq(step), orders::next_sync_at.eq(next)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn expired_unpaid_ids(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, RepoError> {
    Ok(orders::table
        .filter(
            orders::status
                .eq(OrderStatus::Unpaid.code())
                .and(orders::expires_at.lt(now)),
        )
        .order(orders::expires_at)
        .limit(limit)
        .select(orders::id)
        .load(conn)
        .await?)
}

// ---- payment events ----

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
    let inserted = diesel::insert_into(payment_events::table)
        .values((
            payment_events::event_id.eq(event.event_id),
            payment_events::order_id.eq(event.order_id),
            payment_events::kind.eq(event.kind),
            payment_events::trade_no.eq(event.trade_no),
            payment_events::trade_status.eq(event.trade_status),
            payment_events::total_amount.eq(event.total_amount.decimal()),
            payment_events::params.eq(event.params),
            payment_events::received_at.eq(event.received_at),
        ))
        .on_conflict(payment_events::event_id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// How many events are stored for an order (tests and audits).
pub async fn event_count(conn: &mut AsyncPgConnection, order_id: i64) -> Result<i64, RepoError> {
    Ok(payment_events::table
        .filter(payment_events::order_id.eq(order_id))
        .count()
        .get_result(conn)
        .await?)
}

// ---- refunds ----

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

/// `SELECT 1`, for `/readyz`.
pub async fn ping(conn: &mut AsyncPgConnection) -> Result<(), RepoError> {
    diesel::sql_query("SELECT 1").execute(conn).await?;
    Ok(())
}
