//! Domain types: what a raw string or integer becomes at the edge (STYLE.md 5).
//!
//! Every enum here is matched exhaustively elsewhere, so a new status cannot compile until each
//! place that acts on statuses has decided what to do with it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An order's status; the codes are the original frontend's (DESIGN.md), stored as SMALLINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// 0: waiting for the buyer.
    Unpaid,
    /// 1: paid (possibly late: see `needs_refund`).
    Paid,
    /// 2: cancelled by the buyer (or never sent to Alipay because the gateway was down).
    Cancelled,
    /// 3: closed at expiry, or closed by Alipay.
    TimedOut,
    /// 4: paid, then part of it refunded.
    PartiallyRefunded,
    /// 5: paid, then refunded in full.
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Unpaid,
        OrderStatus::Paid,
        OrderStatus::Cancelled,
        OrderStatus::TimedOut,
        OrderStatus::PartiallyRefunded,
        OrderStatus::Refunded,
    ];

    pub fn code(self) -> i16 {
        match self {
            OrderStatus::Unpaid => 0,
            OrderStatus::Paid => 1,
            OrderStatus::Cancelled => 2,
            OrderStatus::TimedOut => 3,
            OrderStatus::PartiallyRefunded => 4,
            OrderStatus::Refunded => 5,
        }
    }

    pub fn from_code(code: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Unpaid => "unpaid",
            OrderStatus::Paid => "paid",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::TimedOut => "timed_out",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// Whether money was received for the order (refunded orders were paid too).
    pub fn was_paid(self) -> bool {
        match self {
            OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded => true,
            OrderStatus::Unpaid | OrderStatus::Cancelled | OrderStatus::TimedOut => false,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refund's state, stored as SMALLINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// 0: recorded, sent or about to be; Alipay's answer not (yet) known.
    Pending,
    /// 1: Alipay refunded it.
    Succeeded,
    /// 2: Alipay refused it; no money moved.
    Failed,
}

impl RefundStatus {
    pub fn code(self) -> i16 {
        match self {
            RefundStatus::Pending => 0,
            RefundStatus::Succeeded => 1,
            RefundStatus::Failed => 2,
        }
    }

    pub fn from_code(code: i16) -> Option<Self> {
        [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.code() == code)
    }
}

/// `pay_type` of `POST /order/pay/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayType {
    Alipay,
    /// Known to the original frontend, not supported here: refused with a clear 400.
    WeChat,
}

impl PayType {
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(PayType::Alipay),
            2 => Some(PayType::WeChat),
            _ => None,
        }
    }

    pub fn code(self) -> i16 {
        match self {
            PayType::Alipay => 1,
            PayType::WeChat => 2,
        }
    }
}

/// The merchant's numbers live in the `domain` crate, with their one rule; this service makes
/// new ones with a random UUID's bits.
pub use common::numbers::{OutRequestNo, OutTradeNo};

/// 128 fresh random bits for a new merchant number.
pub fn random_bits() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}

/// The courses of one order: non-empty, no duplicates, positive ids, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseList(Vec<i64>);

/// Most courses one order may hold; bounds the query a request can cause.
pub const MAX_COURSES_PER_ORDER: usize = 100;

impl CourseList {
    pub fn parse(ids: &[i64]) -> Result<Self, String> {
        if ids.is_empty() {
            return Err("course_list must name at least one course".into());
        }
        if ids.len() > MAX_COURSES_PER_ORDER {
            return Err(format!(
                "course_list may name at most {MAX_COURSES_PER_ORDER} courses"
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        for &id in ids {
            if id <= 0 {
                return Err(format!("course id {id} is not valid"));
            }
            if !seen.insert(id) {
                return Err(format!("course {id} is listed twice"));
            }
        }
        Ok(Self(ids.to_vec()))
    }

    pub fn ids(&self) -> &[i64] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_and_match_the_design() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_code(status.code()), Some(status));
        }
        assert_eq!(OrderStatus::Unpaid.code(), 0);
        assert_eq!(OrderStatus::Paid.code(), 1);
        assert_eq!(OrderStatus::Cancelled.code(), 2);
        assert_eq!(OrderStatus::TimedOut.code(), 3);
        assert_eq!(OrderStatus::from_code(6), None);
        for status in [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ] {
            assert_eq!(RefundStatus::from_code(status.code()), Some(status));
        }
    }

    #[test]
    fn generated_numbers_are_valid_and_distinct() {
        let now = chrono::Utc::now();
        let a = OutTradeNo::generate(now, random_bits());
        let b = OutTradeNo::generate(now, random_bits());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(a.as_str().parse::<OutTradeNo>().unwrap(), a);
        let r = OutRequestNo::generate(now, random_bits());
        assert_eq!(r.as_str().parse::<OutRequestNo>().unwrap(), r);
    }

    #[test]
    fn bad_numbers_are_refused() {
        for bad in ["", "a-b", "a b", "é", &"x".repeat(65)] {
            assert!(bad.parse::<OutTradeNo>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn course_lists() {
        assert!(CourseList::parse(&[]).is_err());
        assert!(CourseList::parse(&[1, 1]).unwrap_err().contains("twice"));
        assert!(CourseList::parse(&[0]).is_err());
        assert_eq!(CourseList::parse(&[3, 1]).unwrap().ids(), &[3, 1]);
    }
}
