//! Alipay's trade status names ⇄ the proto enum. The gateway reads Alipay's text; the order service
//! matches on the enum; both need the same table.

use crate::v1::TradeStatus;

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
    fn only_success_and_finished_are_paid() {
        assert!(TradeStatus::TradeSuccess.is_paid());
        assert!(TradeStatus::TradeFinished.is_paid());
        assert!(!TradeStatus::WaitBuyerPay.is_paid());
        assert!(!TradeStatus::TradeClosed.is_paid());
        assert!(!TradeStatus::Unspecified.is_paid());
    }
}
