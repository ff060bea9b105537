//! Compatibility: version 1 of the payment event, read and converted to [`PaymentEventV2`].
//!
//! Receivers of the previous release publish v1 until they are upgraded (the README's events
//! section: order first, then notify-receiver). This module, and with it the only reading of
//! Alipay's Beijing-time text outside the `alipay` crate, is removed one release after every
//! receiver publishes v2.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{EVENT_VERSION, EventError, EventKind, PaymentEventV2};
use crate::money::Money;
use crate::numbers::{OutRequestNo, OutTradeNo};

/// The payload version this module reads.
pub const VERSION: u32 = 1;

/// Version 1 of the payment event payload, as the previous receivers wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentEventV1 {
    pub version: u32,
    pub event_id: Uuid,
    pub kind: EventKind,
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: String,
    pub total_amount: Money,
    #[serde(default)]
    pub receipt_amount: Option<Money>,
    #[serde(default)]
    pub refund_fee: Option<Money>,
    /// The refund request number (`out_request_no`), on refund notifications.
    #[serde(default)]
    pub out_biz_no: Option<String>,
    #[serde(default)]
    pub gmt_refund: Option<String>,
    #[serde(default)]
    pub buyer_id: Option<String>,
    #[serde(default)]
    pub buyer_open_id: Option<String>,
    #[serde(default)]
    pub seller_id: Option<String>,
    pub app_id: String,
    /// Beijing time as Alipay wrote it (`yyyy-MM-dd HH:mm:ss`).
    #[serde(default)]
    pub gmt_payment: Option<String>,
    pub notify_id: String,
    #[serde(default)]
    pub notify_time: Option<String>,
    pub received_at: DateTime<Utc>,
    pub params: BTreeMap<String, String>,
}

/// Alipay's `yyyy-MM-dd HH:mm:ss[.fff]` in Beijing time. Unreadable text is `None`, as the v1
/// consumer treated it (a payment time then falls back to when the event was received).
fn beijing_text(text: Option<&str>) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text?, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(
        naive
            .and_local_timezone(domain::beijing::OFFSET)
            .single()?
            .with_timezone(&Utc),
    )
}

impl TryFrom<PaymentEventV1> for PaymentEventV2 {
    type Error = EventError;

    fn try_from(v1: PaymentEventV1) -> Result<Self, Self::Error> {
        let out_trade_no = OutTradeNo::parse(&v1.out_trade_no)
            .map_err(|error| EventError::Malformed(error.to_string()))?;
        let out_request_no = v1
            .out_biz_no
            .as_deref()
            .map(OutRequestNo::parse)
            .transpose()
            .map_err(|error| EventError::Malformed(error.to_string()))?;
        Ok(PaymentEventV2 {
            version: EVENT_VERSION,
            event_id: v1.event_id,
            kind: v1.kind,
            out_trade_no,
            trade_no: v1.trade_no,
            trade_status: v1.trade_status,
            total_amount: v1.total_amount,
            receipt_amount: v1.receipt_amount,
            refund_fee: v1.refund_fee,
            out_request_no,
            paid_at: beijing_text(v1.gmt_payment.as_deref()),
            refunded_at: beijing_text(v1.gmt_refund.as_deref()),
            buyer_id: v1.buyer_id,
            buyer_open_id: v1.buyer_open_id,
            seller_id: v1.seller_id,
            app_id: v1.app_id,
            notify_id: v1.notify_id,
            notified_at: beijing_text(v1.notify_time.as_deref()),
            received_at: v1.received_at,
            params: v1.params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refund event exactly as a v1 receiver published it.
    const V1_REFUND: &str = r#"{"version":1,"event_id":"3b7e3e4e-5d1a-5b6e-9d0e-0c1f2a3b4c5d","kind":"refunded",
        "out_trade_no":"20240101000001","trade_no":"2024010122001400000000000001",
        "trade_status":"TRADE_SUCCESS","total_amount":"88.88","receipt_amount":"88.88",
        "refund_fee":"10.00","out_biz_no":"R1","gmt_refund":"2024-01-02 08:00:00.123",
        "buyer_id":"2088102177846875","buyer_open_id":null,"seller_id":"2088102177846880",
        "app_id":"2021000000000001","gmt_payment":"2024-01-01 12:00:05",
        "notify_id":"2024010100222120005123456789","notify_time":"2024-01-01 12:00:06",
        "received_at":"2024-01-01T04:00:07Z","params":{"sign":"c2lnbg=="}}"#;

    #[test]
    fn a_v1_event_reads_as_v2_with_beijing_text_made_instants() {
        let event = PaymentEventV2::from_json(V1_REFUND.as_bytes()).unwrap();
        assert_eq!(event.version, 2);
        assert_eq!(event.kind, EventKind::Refunded);
        assert_eq!(event.out_trade_no.as_str(), "20240101000001");
        assert_eq!(
            event.out_request_no.as_ref().map(OutRequestNo::as_str),
            Some("R1")
        );
        assert_eq!(
            event.refund_fee.map(|fee| fee.to_string()),
            Some("10.00".into())
        );
        let utc = |text: &str| Some(text.parse::<DateTime<Utc>>().unwrap());
        assert_eq!(event.paid_at, utc("2024-01-01T04:00:05Z"));
        assert_eq!(event.refunded_at, utc("2024-01-02T00:00:00.123Z"));
        assert_eq!(event.notified_at, utc("2024-01-01T04:00:06Z"));
        assert_eq!(event.params["sign"], "c2lnbg==");
    }

    #[test]
    fn unreadable_times_are_absent_and_bad_numbers_refused() {
        let mut value: serde_json::Value = serde_json::from_str(V1_REFUND).unwrap();
        value["gmt_payment"] = "yesterday".into();
        let event = PaymentEventV2::from_json(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(event.paid_at, None);
        value["out_trade_no"] = "O-1".into();
        assert!(matches!(
            PaymentEventV2::from_json(&serde_json::to_vec(&value).unwrap()),
            Err(EventError::Malformed(_))
        ));
    }
}
