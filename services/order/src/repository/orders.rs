//! `orders` and their `order_lines`: creating an order with its lines, reading, locking and the
//! compare-and-set status changes.

use chrono::{DateTime, Utc};
use common::money::Money;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde::Serialize;

use super::{RepoError, money};
use crate::domain::OrderStatus;
use crate::schema::{courses, order_lines, orders};

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

/// An order to open: its row, and the courses it is for (distinct, in the order the buyer listed
/// them).
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub out_trade_no: String,
    pub user_id: String,
    pub total_amount: Money,
    pub pay_type: i16,
    pub status: OrderStatus,
    pub pay_time: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub course_ids: Vec<i64>,
}

/// An order inserted with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub id: i64,
    /// The title the order was given (from the catalog).
    pub subject: String,
}

/// Why the database refused to open an order: the first course rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoSuchCourse(i64),
    NotForSale(i64),
    /// The listed courses cost this together, not the order's total.
    TotalMismatch(Money),
}

/// What `open_orders()` answers for one order: its place in the batch (1-based), then the new
/// order's id and subject, or the first rule it breaks.
type OpenedRecord = (
    i32,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<Decimal>,
);

/// Inserts each order with one line per course, in one statement (one round trip, one
/// transaction), but only those whose courses all exist and are for sale and add up to the
/// order's total: the rules are checked there, in `open_orders()`, and nowhere else. The answer
/// has one entry per order, in the same order. An order that breaks a rule is refused and the
/// others are opened; an error (a duplicate order number) fails them all.
pub async fn open_orders(
    conn: &mut AsyncPgConnection,
    orders: &[&NewOrder],
) -> Result<Vec<Result<Opened, Refusal>>, RepoError> {
    let lines = orders.iter().map(|order| order.course_ids.len()).sum();
    let mut line_orders = Vec::with_capacity(lines);
    let mut line_courses = Vec::with_capacity(lines);
    for (place, order) in (1..).zip(orders) {
        line_orders.extend(std::iter::repeat_n(place, order.course_ids.len()));
        line_courses.extend_from_slice(&order.course_ids);
    }
    let statement = OpenOrders {
        out_trade_nos: orders.iter().map(|o| o.out_trade_no.as_str()).collect(),
        user_ids: orders.iter().map(|o| o.user_id.as_str()).collect(),
        totals: orders.iter().map(|o| o.total_amount.decimal()).collect(),
        pay_types: orders.iter().map(|o| o.pay_type).collect(),
        statuses: orders.iter().map(|o| o.status.code()).collect(),
        pay_times: orders.iter().map(|o| o.pay_time).collect(),
        expires_at: orders.iter().map(|o| o.expires_at).collect(),
        nows: orders.iter().map(|o| o.now).collect(),
        line_orders,
        line_courses,
    };
    let records: Vec<OpenedRecord> = statement.load(conn).await?;
    let corrupt = |problem: String| RepoError::Corrupt {
        table: "courses",
        id: 0,
        problem,
    };
    if records.len() != orders.len() {
        return Err(corrupt(format!(
            "open_orders() answered {} rows for {} orders",
            records.len(),
            orders.len()
        )));
    }
    records
        .into_iter()
        .zip(1..)
        .map(|(record, place)| match record {
            (at, ..) if at != place => Err(corrupt(format!(
                "open_orders() answered for order {at} in place of order {place}"
            ))),
            (_, Some(id), Some(subject), _, _, _) => Ok(Ok(Opened { id, subject })),
            (_, _, _, Some(course), _, _) => Ok(Err(Refusal::NoSuchCourse(course))),
            (_, _, _, _, Some(course), _) => Ok(Err(Refusal::NotForSale(course))),
            (_, _, _, _, _, Some(total)) => Ok(Err(Refusal::TotalMismatch(
                Money::from_decimal(total).map_err(|error| corrupt(error.to_string()))?,
            ))),
            (_, _, _, None, None, None) => Err(corrupt(
                "open_orders() returned neither an order nor a reason".to_owned(),
            )),
        })
        .collect()
}

/// [`open_orders`]' statement: the batch as parallel arrays, so that one SQL text (prepared once
/// per connection) serves every batch size.
struct OpenOrders<'a> {
    out_trade_nos: Vec<&'a str>,
    user_ids: Vec<&'a str>,
    totals: Vec<Decimal>,
    pay_types: Vec<i16>,
    statuses: Vec<i16>,
    pay_times: Vec<Option<DateTime<Utc>>>,
    expires_at: Vec<DateTime<Utc>>,
    nows: Vec<DateTime<Utc>>,
    line_orders: Vec<i32>,
    line_courses: Vec<i64>,
}

impl QueryFragment<Pg> for OpenOrders<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{
            Array, BigInt, Integer, Nullable, Numeric, SmallInt, Text, Timestamptz,
        };
        out.push_sql(
            "SELECT request, order_id, subject, missing_course, inactive_course, courses_total \
             FROM open_orders(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.out_trade_nos)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.user_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Numeric>, _>(&self.totals)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SmallInt>, _>(&self.pay_types)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SmallInt>, _>(&self.statuses)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(&self.pay_times)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.expires_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.nows)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.line_orders)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.line_courses)?;
        out.push_sql(") ORDER BY request");
        Ok(())
    }
}

super::prepared_statement!(
    OpenOrders,
    (
        diesel::sql_types::Integer,
        diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        diesel::sql_types::Nullable<diesel::sql_types::Text>,
        diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        diesel::sql_types::Nullable<diesel::sql_types::Numeric>,
    )
);

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

/// The orders with these numbers, locked until the transaction ends, in `out_trade_no` order
/// (every batch locks in that one order, so two batches sharing orders wait, never deadlock).
/// Numbers with no order are simply absent.
pub async fn lock_orders(
    conn: &mut AsyncPgConnection,
    out_trade_nos: &[&str],
) -> Result<Vec<Order>, RepoError> {
    orders_from(
        orders::table
            .filter(orders::out_trade_no.eq_any(out_trade_nos))
            .order(orders::out_trade_no)
            .select(OrderRow::as_select())
            .for_update()
            .load(conn)
            .await?,
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

/// One order's move to paid, for [`set_paid_many`].
#[derive(Debug, Clone)]
pub struct PaidTransition<'a> {
    pub id: i64,
    pub from: OrderStatus,
    pub trade_no: &'a str,
    pub pay_time: DateTime<Utc>,
    pub needs_refund: bool,
}

/// [`set_paid`] for many orders in one statement (call with the orders locked): the ids whose
/// compare-and-set took effect. Diesel's DSL has no `UPDATE … FROM unnest(…)`, hence the SQL.
/// It borrows the connection shared, so that it can be pipelined with another statement.
pub async fn set_paid_many(
    mut conn: &AsyncPgConnection,
    transitions: &[PaidTransition<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, RepoError> {
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let statement = SetPaidMany {
        paid: OrderStatus::Paid.code(),
        now,
        ids: transitions.iter().map(|t| t.id).collect(),
        from: transitions.iter().map(|t| t.from.code()).collect(),
        trade_nos: transitions.iter().map(|t| t.trade_no).collect(),
        pay_times: transitions.iter().map(|t| t.pay_time).collect(),
        needs_refund: transitions.iter().map(|t| t.needs_refund).collect(),
    };
    Ok(statement.load(&mut conn).await?)
}

/// [`set_paid_many`]'s statement: the transitions as parallel arrays.
struct SetPaidMany<'a> {
    paid: i16,
    now: DateTime<Utc>,
    ids: Vec<i64>,
    from: Vec<i16>,
    trade_nos: Vec<&'a str>,
    pay_times: Vec<DateTime<Utc>>,
    needs_refund: Vec<bool>,
}

impl QueryFragment<Pg> for SetPaidMany<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Bool, SmallInt, Text, Timestamptz};
        out.push_sql("UPDATE orders AS o SET status = ");
        out.push_bind_param::<SmallInt, _>(&self.paid)?;
        out.push_sql(
            ", trade_no = t.trade_no, pay_time = t.pay_time, needs_refund = t.needs_refund, \
             updated_at = ",
        );
        out.push_bind_param::<Timestamptz, _>(&self.now)?;
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&self.ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<SmallInt>, _>(&self.from)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.trade_nos)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamptz>, _>(&self.pay_times)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bool>, _>(&self.needs_refund)?;
        out.push_sql(
            ") AS t (id, from_status, trade_no, pay_time, needs_refund) \
             WHERE o.id = t.id AND o.status = t.from_status \
             RETURNING o.id",
        );
        Ok(())
    }
}

super::prepared_statement!(SetPaidMany, diesel::sql_types::BigInt);

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
