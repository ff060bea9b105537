//! Comparing one day's bill with the orders database: what Alipay lists against what we hold,
//! both ways. Reads only; the differences are stored and healed by the caller.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use common::money::Money;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::bill::Bill;
use crate::domain::{OrderStatus, RefundStatus};
use crate::repository::RepoError;
use crate::schema::{orders, refunds};

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Paid at Alipay; here the order is unpaid, or there is no such order.
    MissingHere,
    /// Paid at Alipay; here the order was cancelled or timed out.
    StatusDiffers,
    /// Paid here (that day), but not in Alipay's bill.
    MissingAtAlipay,
    /// The bill's order amount is not the order's total.
    AmountDiffers,
    /// Refunded at Alipay; here the refund is unknown, pending or failed.
    RefundMissingHere,
    /// Refunded here (that day), but not in Alipay's bill.
    RefundMissingAtAlipay,
    /// The same refund with another amount.
    RefundDiffers,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::MissingHere,
        Kind::StatusDiffers,
        Kind::MissingAtAlipay,
        Kind::AmountDiffers,
        Kind::RefundMissingHere,
        Kind::RefundMissingAtAlipay,
        Kind::RefundDiffers,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MissingHere => "missing_here",
            Kind::StatusDiffers => "status_differs",
            Kind::MissingAtAlipay => "missing_at_alipay",
            Kind::AmountDiffers => "amount_differs",
            Kind::RefundMissingHere => "refund_missing_here",
            Kind::RefundMissingAtAlipay => "refund_missing_at_alipay",
            Kind::RefundDiffers => "refund_differs",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One difference, with both sides' values as text (`None`: that side has nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: Kind,
    pub out_trade_no: String,
    /// Empty for payment-level differences.
    pub out_request_no: String,
    pub trade_no: Option<String>,
    pub ours_amount: Option<String>,
    pub alipay_amount: Option<String>,
    pub ours_status: Option<String>,
    pub alipay_status: Option<String>,
}

/// What the comparison read and found.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    pub differences: Vec<Difference>,
    /// Orders read from our side (in the bill, or paid that day).
    pub orders_compared: usize,
}

#[derive(Debug, Clone, Queryable)]
struct OurOrder {
    out_trade_no: String,
    total_amount: Decimal,
    status: i16,
    trade_no: Option<String>,
    pay_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Queryable)]
struct OurRefund {
    out_request_no: String,
    amount: Decimal,
    status: i16,
    updated_at: DateTime<Utc>,
    out_trade_no: String,
}

fn status_name(code: i16) -> String {
    OrderStatus::from_code(code).map_or_else(|| format!("status {code}"), |s| s.to_string())
}

fn refund_status_name(code: i16) -> &'static str {
    match RefundStatus::from_code(code) {
        Some(RefundStatus::Pending) => "pending",
        Some(RefundStatus::Succeeded) => "succeeded",
        Some(RefundStatus::Failed) => "failed",
        None => "unknown",
    }
}

fn text(amount: Decimal) -> String {
    Money::from_decimal(amount).map_or_else(|_| amount.to_string(), |m| m.to_string())
}

/// Compares the bill of `[start, end)` (one Beijing day) with the database.
pub async fn compare(
    conn: &mut AsyncPgConnection,
    bill: &Bill,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Comparison, RepoError> {
    // Our side: every order the bill names, and every order we think was paid that day. Two
    // queries rather than one with OR, so each uses its index (out_trade_no, pay_time).
    let numbers: Vec<&str> = bill.payments.keys().map(String::as_str).collect();
    let columns = (
        orders::out_trade_no,
        orders::total_amount,
        orders::status,
        orders::trade_no,
        orders::pay_time,
    );
    let mut ours: Vec<OurOrder> = orders::table
        .filter(orders::out_trade_no.eq_any(&numbers))
        .select(columns)
        .load(conn)
        .await?;
    let paid_that_day: Vec<OurOrder> = orders::table
        .filter(orders::pay_time.ge(start))
        .filter(orders::pay_time.lt(end))
        .filter(orders::total_amount.gt(Decimal::ZERO))
        .filter(orders::out_trade_no.ne_all(&numbers))
        .select(columns)
        .load(conn)
        .await?;
    ours.extend(paid_that_day);
    let request_numbers: Vec<&str> = bill
        .refunds
        .iter()
        .map(|r| r.out_request_no.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    let refund_columns = (
        refunds::out_request_no,
        refunds::amount,
        refunds::status,
        refunds::updated_at,
        orders::out_trade_no,
    );
    let mut our_refunds: Vec<OurRefund> = refunds::table
        .inner_join(orders::table)
        .filter(refunds::out_request_no.eq_any(&request_numbers))
        .select(refund_columns)
        .load(conn)
        .await?;
    let settled_that_day: Vec<OurRefund> = refunds::table
        .inner_join(orders::table)
        .filter(refunds::status.eq(RefundStatus::Succeeded.code()))
        .filter(refunds::updated_at.ge(start))
        .filter(refunds::updated_at.lt(end))
        .filter(refunds::out_request_no.ne_all(&request_numbers))
        .select(refund_columns)
        .load(conn)
        .await?;
    our_refunds.extend(settled_that_day);

    let mut differences = Vec::new();
    let by_number: HashMap<&str, &OurOrder> =
        ours.iter().map(|o| (o.out_trade_no.as_str(), o)).collect();

    for (number, line) in &bill.payments {
        let alipay_amount = Some(line.amount.to_string());
        let difference = |kind, order: Option<&OurOrder>| Difference {
            kind,
            out_trade_no: number.clone(),
            out_request_no: String::new(),
            trade_no: Some(line.trade_no.clone()),
            ours_amount: order.map(|o| text(o.total_amount)),
            alipay_amount: alipay_amount.clone(),
            ours_status: order.map(|o| status_name(o.status)),
            alipay_status: Some("paid".to_owned()),
        };
        let Some(order) = by_number.get(number.as_str()).copied() else {
            differences.push(difference(Kind::MissingHere, None));
            continue;
        };
        if Money::from_decimal(order.total_amount).ok() != Some(line.amount) {
            differences.push(difference(Kind::AmountDiffers, Some(order)));
            continue;
        }
        match OrderStatus::from_code(order.status) {
            Some(OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded) => {}
            Some(OrderStatus::Unpaid) | None => {
                differences.push(difference(Kind::MissingHere, Some(order)));
            }
            Some(OrderStatus::Cancelled | OrderStatus::TimedOut) => {
                differences.push(difference(Kind::StatusDiffers, Some(order)));
            }
        }
    }
    for order in &ours {
        let paid_that_day = order.pay_time.is_some_and(|at| start <= at && at < end);
        let was_paid = OrderStatus::from_code(order.status).is_some_and(OrderStatus::was_paid);
        if paid_that_day
            && was_paid
            && order.total_amount > Decimal::ZERO
            && !bill.payments.contains_key(&order.out_trade_no)
        {
            differences.push(Difference {
                kind: Kind::MissingAtAlipay,
                out_trade_no: order.out_trade_no.clone(),
                out_request_no: String::new(),
                trade_no: order.trade_no.clone(),
                ours_amount: Some(text(order.total_amount)),
                alipay_amount: None,
                ours_status: Some(status_name(order.status)),
                alipay_status: None,
            });
        }
    }

    let refunds_by_number: HashMap<&str, &OurRefund> = our_refunds
        .iter()
        .map(|r| (r.out_request_no.as_str(), r))
        .collect();
    let mut in_bill: HashSet<&str> = HashSet::with_capacity(bill.refunds.len());
    for line in &bill.refunds {
        in_bill.insert(line.out_request_no.as_str());
        let ours = refunds_by_number
            .get(line.out_request_no.as_str())
            .copied()
            .filter(|_| !line.out_request_no.is_empty());
        let kind = match ours {
            None => Some(Kind::RefundMissingHere),
            Some(refund) if refund.status != RefundStatus::Succeeded.code() => {
                Some(Kind::RefundMissingHere)
            }
            Some(refund) if Money::from_decimal(refund.amount).ok() != Some(line.amount) => {
                Some(Kind::RefundDiffers)
            }
            Some(_) => None,
        };
        if let Some(kind) = kind {
            differences.push(Difference {
                kind,
                out_trade_no: line.out_trade_no.clone(),
                out_request_no: line.out_request_no.clone(),
                trade_no: Some(line.trade_no.clone()),
                ours_amount: ours.map(|r| text(r.amount)),
                alipay_amount: Some(line.amount.to_string()),
                ours_status: ours.map(|r| refund_status_name(r.status).to_owned()),
                alipay_status: Some("refunded".to_owned()),
            });
        }
    }
    for refund in &our_refunds {
        let settled_that_day = start <= refund.updated_at && refund.updated_at < end;
        if settled_that_day
            && refund.status == RefundStatus::Succeeded.code()
            && !in_bill.contains(refund.out_request_no.as_str())
        {
            differences.push(Difference {
                kind: Kind::RefundMissingAtAlipay,
                out_trade_no: refund.out_trade_no.clone(),
                out_request_no: refund.out_request_no.clone(),
                trade_no: None,
                ours_amount: Some(text(refund.amount)),
                alipay_amount: None,
                ours_status: Some(refund_status_name(refund.status).to_owned()),
                alipay_status: None,
            });
        }
    }
    differences.sort_by(|a, b| {
        (a.kind.as_str(), &a.out_trade_no, &a.out_request_no).cmp(&(
            b.kind.as_str(),
            &b.out_trade_no,
            &b.out_request_no,
        ))
    });
    Ok(Comparison {
        differences,
        orders_compared: ours.len(),
    })
}
