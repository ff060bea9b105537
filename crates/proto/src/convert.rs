//! The proto boundary: Alipay's trade status names ⇄ the proto enum (the gateway reads Alipay's
//! text; the order service matches on the enum; both need the same table), instants ⇄
//! `google.protobuf.Timestamp`, and the decimal-string amounts ⇄ [`Money`], so callers on either
//! side handle domain types only.

use chrono::{DateTime, Utc};
use domain::{Money, MoneyError, OutTradeNo};
use prost_types::Timestamp;

use crate::v1::{
    CreatePagePayRequest, QueryRefundResponse, QueryTradeResponse, RefundResponse, TradeStatus,
};

/// An instant as a protobuf `Timestamp`.
pub fn timestamp(instant: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: instant.timestamp(),
        // Below 10⁹ by chrono's own invariant (a leap second aside, which UTC instants never are).
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf `Timestamp` as an instant; `None` for one outside chrono's range or with invalid
/// nanoseconds, which a well-behaved peer never sends.
pub fn instant(timestamp: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

impl CreatePagePayRequest {
    /// A pay link request for one order; the gateway fills in its configured URLs.
    pub fn for_order(
        out_trade_no: &OutTradeNo,
        total_amount: Money,
        subject: String,
        expires_at: DateTime<Utc>,
    ) -> Self {
        CreatePagePayRequest {
            out_trade_no: out_trade_no.to_string(),
            total_amount: total_amount.to_string(),
            subject,
            time_expire: Some(timestamp(expires_at)),
            ..CreatePagePayRequest::default()
        }
    }
}

impl QueryTradeResponse {
    /// The trade's total.
    pub fn total(&self) -> Result<Money, MoneyError> {
        self.total_amount.parse()
    }

    /// When the buyer paid, if Alipay says so.
    pub fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.send_pay_date.as_ref().and_then(instant)
    }
}

impl RefundResponse {
    /// The cumulative amount refunded on the trade.
    pub fn refunded_total(&self) -> Result<Money, MoneyError> {
        self.refund_fee.parse()
    }
}

impl QueryRefundResponse {
    /// This refund's amount, when Alipay gave one.
    pub fn amount(&self) -> Option<Result<Money, MoneyError>> {
        self.refund_amount.as_deref().map(str::parse)
    }
}

impl TradeStatus {
    /// From Alipay's `trade_status` text; `None` for a name Alipay may add later.
    pub fn from_alipay(name: &str) -> Option<Self> {
        match name {
            "WAIT_BUYER_PAY" => Some(TradeStatus::WaitBuyerPay),
            "TRADE_CLOSED" => Some(TradeStatus::TradeClosed),
            "TRADE_SUCCESS" => Some(TradeStatus::TradeSuccess),
            "TRADE_FINISHED" => Some(TradeStatus::TradeFinished),
            _ => None,
        }
    }

    /// Alipay's name for the status; `None` for `Unspecified`.
    pub fn alipay_name(self) -> Option<&'static str> {
        match self {
            TradeStatus::Unspecified => None,
            TradeStatus::WaitBuyerPay => Some("WAIT_BUYER_PAY"),
            TradeStatus::TradeClosed => Some("TRADE_CLOSED"),
            TradeStatus::TradeSuccess => Some("TRADE_SUCCESS"),
            TradeStatus::TradeFinished => Some("TRADE_FINISHED"),
        }
    }

    /// Whether the buyer has paid (TRADE_SUCCESS or TRADE_FINISHED).
    pub fn is_paid(self) -> bool {
        match self {
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => true,
            TradeStatus::Unspecified | TradeStatus::WaitBuyerPay | TradeStatus::TradeClosed => {
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alipay_names_round_trip() {
        for status in [
            TradeStatus::WaitBuyerPay,
            TradeStatus::TradeClosed,
            TradeStatus::TradeSuccess,
            TradeStatus::TradeFinished,
        ] {
            let name = status.alipay_name().unwrap();
            assert_eq!(TradeStatus::from_alipay(name), Some(status));
            // The proto name is Alipay's name behind the enum prefix.
            assert_eq!(status.as_str_name(), format!("TRADE_STATUS_{name}"));
        }
        assert_eq!(TradeStatus::Unspecified.alipay_name(), None);
        assert_eq!(TradeStatus::from_alipay("TRADE_PENDING"), None);
    }

    #[test]
    fn instants_round_trip_through_timestamps() {
        let at = DateTime::from_timestamp(1_733_356_800, 123_000_000).unwrap();
        assert_eq!(
            timestamp(at),
            Timestamp {
                seconds: 1_733_356_800,
                nanos: 123_000_000
            }
        );
        assert_eq!(instant(&timestamp(at)), Some(at));
        for bad in [-1, 1_000_000_000] {
            let invalid = Timestamp {
                seconds: 0,
                nanos: bad,
            };
            assert_eq!(instant(&invalid), None, "{bad}");
        }
    }

    #[test]
    fn amounts_become_money_at_the_boundary() {
        let answer = QueryTradeResponse {
            total_amount: "88.80".into(),
            ..QueryTradeResponse::default()
        };
        assert_eq!(answer.total().unwrap().to_string(), "88.80");
        let refund = QueryRefundResponse::default();
        assert!(refund.amount().is_none());
        let garbage = RefundResponse {
            refund_fee: "1.001".into(),
            ..RefundResponse::default()
        };
        assert!(garbage.refunded_total().is_err());
        let request = CreatePagePayRequest::for_order(
            &OutTradeNo::parse("O_1").unwrap(),
            "5".parse().unwrap(),
            "Rust".into(),
            DateTime::from_timestamp(60, 0).unwrap(),
        );
        assert_eq!(request.total_amount, "5.00");
        assert_eq!(request.time_expire.map(|t| t.seconds), Some(60));
    }

    #[test]
    fn only_success_and_finished_are_paid() {
        assert!(TradeStatus::TradeSuccess.is_paid());
        assert!(TradeStatus::TradeFinished.is_paid());
        assert!(!TradeStatus::WaitBuyerPay.is_paid());
        assert!(!TradeStatus::TradeClosed.is_paid());
        assert!(!TradeStatus::Unspecified.is_paid());
    }
}
