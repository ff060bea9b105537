//! The payment event: the versioned contract between notify-receiver (publisher) and order
//! (consumer), as described in `DESIGN.md` ("Events: RabbitMQ").
//!
//! The receiver only knows that Alipay signed a notification; the consumer checks the rest (the
//! order exists, the amount and `app_id` match). So the event carries the parsed fields the
//! consumer needs, and `params`, every field Alipay sent, verbatim, for audit.
//!
//! The type is versioned (`PaymentEventV1`, message type `order.paid.v1`): a breaking change means
//! a `V2` published alongside, never an edit to this shape. Adding an optional field is fine;
//! consumers ignore fields they do not know.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::{Uuid, uuid};

use crate::money::{Money, MoneyError};

pub use crate::telemetry::REQUEST_ID_HEADER;

/// The payload version this type reads and writes.
pub const EVENT_VERSION: u32 = 1;

/// AMQP header holding why a message was dead-lettered (set by the consumer that gave up on it).
pub const DEATH_REASON_HEADER: &str = "x-death-reason";

/// `content_type` of every event message.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Namespace of [`event_id_for`]. Fixed forever: changing it would give a re-sent notification a
/// new id, and the consumer's unique `event_id` would no longer catch the duplicate.
pub const EVENT_ID_NAMESPACE: Uuid = uuid!("6f1d7c52-8a3e-4b8e-9c55-2f0b7e4a91d3");

/// The deterministic id of the event for one notification: UUID v5 over
/// `"{notify_id}:{trade_status}"` in [`EVENT_ID_NAMESPACE`].
///
/// Alipay re-sends a notification (same `notify_id`) until it reads `success`, and several
/// receivers may each handle a copy; all of them publish the same id, so the consumer stores the
/// event once. The status is part of the name because one trade yields distinct notifications
/// (paid, then refunded or closed), each of which must be applied.
pub fn event_id_for(notify_id: &str, trade_status: &str) -> Uuid {
    Uuid::new_v5(
        &EVENT_ID_NAMESPACE,
        format!("{notify_id}:{trade_status}").as_bytes(),
    )
}

/// Routing key of a [`SyncRequestV1`]. It matches the work queue's `order.*` binding, so the
/// order service receives it on the same queue as the payment events.
pub const SYNC_REQUEST_ROUTING_KEY: &str = "order.sync";
/// Message type of a [`SyncRequestV1`].
pub const SYNC_REQUEST_TYPE: &str = "order.sync.v1";

/// "Ask Alipay about this order now": notify-receiver sends it when a notification for one of our
/// orders could not be verified. It is a hint, never a fact: the order service only moves the
/// order's next `QueryTrade` forward, and the signed answer decides. A forged notification can
/// therefore cost one query of an unpaid order, nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequestV1 {
    pub version: u32,
    pub out_trade_no: String,
    /// Why, in words (for the log).
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

impl SyncRequestV1 {
    pub fn new(out_trade_no: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            version: EVENT_VERSION,
            out_trade_no: out_trade_no.into(),
            reason: reason.into(),
            received_at: Utc::now(),
        }
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// What happened to the trade; decides the routing key and the message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Paid,
    Closed,
    Refunded,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [EventKind::Paid, EventKind::Closed, EventKind::Refunded];

    /// The routing key on the `payments` exchange.
    pub fn routing_key(self) -> &'static str {
        match self {
            EventKind::Paid => "order.paid",
            EventKind::Closed => "order.closed",
            EventKind::Refunded => "order.refunded",
        }
    }

    /// The AMQP `type` property: routing key plus payload version.
    pub fn message_type(self) -> &'static str {
        match self {
            EventKind::Paid => "order.paid.v1",
            EventKind::Closed => "order.closed.v1",
            EventKind::Refunded => "order.refunded.v1",
        }
    }

    pub fn from_routing_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.routing_key() == key)
    }

    pub fn from_message_type(message_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.message_type() == message_type)
    }

    /// Classifies a notification. A refund notification is recognised by its refund fields
    /// first, because its `trade_status` is TRADE_SUCCESS (partial) or TRADE_CLOSED (full) and
    /// would otherwise be read as "paid" or "closed". `None` means no event (WAIT_BUYER_PAY, or a
    /// status Alipay may add later).
    pub fn for_notification(trade_status: &str, has_refund_fields: bool) -> Option<Self> {
        if has_refund_fields {
            return Some(EventKind::Refunded);
        }
        match trade_status {
            "TRADE_SUCCESS" | "TRADE_FINISHED" => Some(EventKind::Paid),
            "TRADE_CLOSED" => Some(EventKind::Closed),
            _ => None,
        }
    }
}

/// Version 1 of the payment event payload (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEventV1 {
    /// Always [`EVENT_VERSION`]; checked by [`PaymentEventV1::from_json`].
    pub version: u32,
    /// See [`event_id_for`]; also the AMQP `message_id`.
    pub event_id: Uuid,
    pub kind: EventKind,
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: String,
    pub total_amount: Money,
    #[serde(default)]
    pub receipt_amount: Option<Money>,
    /// Cumulative refunded amount, on refund notifications.
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
    /// Beijing time as Alipay wrote it (`yyyy-MM-dd HH:mm:ss`), kept as text.
    #[serde(default)]
    pub gmt_payment: Option<String>,
    pub notify_id: String,
    #[serde(default)]
    pub notify_time: Option<String>,
    /// When the receiver accepted the notification.
    pub received_at: DateTime<Utc>,
    /// Every field Alipay sent, verbatim, including `sign` and `sign_type`, for audit.
    pub params: BTreeMap<String, String>,
}

/// Why notification fields or a message body do not make an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("notification field {0} is missing")]
    MissingField(&'static str),
    #[error("notification field {field} is not an amount: {source}")]
    InvalidAmount {
        field: &'static str,
        #[source]
        source: MoneyError,
    },
    #[error("trade status {0:?} does not produce an event")]
    NoEventForStatus(String),
    #[error("event version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u32),
    #[error("event body is not valid JSON for a payment event: {0}")]
    Malformed(String),
}

impl PaymentEventV1 {
    /// Builds the event from a notification's parameters, already verified by the caller.
    ///
    /// Fails on a missing required field or an unparseable amount, and with
    /// [`EventError::NoEventForStatus`] for a notification that changes nothing (WAIT_BUYER_PAY):
    /// the receiver answers `success` to that one without publishing.
    pub fn from_notification(
        params: BTreeMap<String, String>,
        received_at: DateTime<Utc>,
    ) -> Result<Self, EventError> {
        let field = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        let required = |name: &'static str| field(name).ok_or(EventError::MissingField(name));
        let amount = |name: &'static str| -> Result<Option<Money>, EventError> {
            field(name)
                .map(|text| {
                    text.parse::<Money>()
                        .map_err(|source| EventError::InvalidAmount {
                            field: name,
                            source,
                        })
                })
                .transpose()
        };

        let trade_status = required("trade_status")?;
        let refund_fee = amount("refund_fee")?;
        let gmt_refund = field("gmt_refund");
        let out_biz_no = field("out_biz_no");
        // A zero `refund_fee` is sent on some payment notifications; only a positive one marks
        // a refund (the same rule as `alipay::notify::TradeNotification::kind`).
        let has_refund_fields = refund_fee.is_some_and(|fee| !fee.is_zero())
            || gmt_refund.is_some()
            || out_biz_no.is_some();
        let kind = EventKind::for_notification(&trade_status, has_refund_fields)
            .ok_or_else(|| EventError::NoEventForStatus(trade_status.clone()))?;
        let notify_id = required("notify_id")?;

        Ok(Self {
            version: EVENT_VERSION,
            event_id: event_id_for(&notify_id, &trade_status),
            kind,
            out_trade_no: required("out_trade_no")?,
            trade_no: required("trade_no")?,
            total_amount: amount("total_amount")?
                .ok_or(EventError::MissingField("total_amount"))?,
            receipt_amount: amount("receipt_amount")?,
            refund_fee,
            out_biz_no,
            gmt_refund,
            buyer_id: field("buyer_id"),
            buyer_open_id: field("buyer_open_id"),
            seller_id: field("seller_id"),
            app_id: required("app_id")?,
            gmt_payment: field("gmt_payment"),
            notify_time: field("notify_time"),
            trade_status,
            notify_id,
            received_at,
            params,
        })
    }

    /// The message body. (Every field is a string, number, UUID, date or string-keyed map, so
    /// this does not fail in practice; the `Result` is serde's.)
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads a message body, refusing versions other than 1.
    pub fn from_json(body: &[u8]) -> Result<Self, EventError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let Versioned { version } =
            serde_json::from_slice(body).map_err(|e| EventError::Malformed(e.to_string()))?;
        if version != EVENT_VERSION {
            return Err(EventError::UnsupportedVersion(version));
        }
        serde_json::from_slice(body).map_err(|e| EventError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paid_params() -> BTreeMap<String, String> {
        [
            ("app_id", "2021000000000001"),
            ("out_trade_no", "20240101000001"),
            ("trade_no", "2024010122001400000000000001"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "88.88"),
            ("receipt_amount", "88.88"),
            ("buyer_id", "2088102177846875"),
            ("seller_id", "2088102177846880"),
            ("gmt_payment", "2024-01-01 12:00:05"),
            ("notify_id", "2024010100222120005123456789"),
            ("notify_time", "2024-01-01 12:00:06"),
            ("notify_type", "trade_status_sync"),
            ("sign_type", "RSA2"),
            ("sign", "c2lnbg=="),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn event_id_is_deterministic() {
        let first = event_id_for("n-1", "TRADE_SUCCESS");
        assert_eq!(first, event_id_for("n-1", "TRADE_SUCCESS"));
        assert_eq!(first.get_version_num(), 5);
        assert_ne!(first, event_id_for("n-2", "TRADE_SUCCESS"));
        assert_ne!(first, event_id_for("n-1", "TRADE_CLOSED"));
        // Pinned: a change of namespace or name format would break deduplication of events already
        // stored by running consumers.
        assert_eq!(
            first,
            Uuid::new_v5(&EVENT_ID_NAMESPACE, b"n-1:TRADE_SUCCESS")
        );
        assert_eq!(
            EVENT_ID_NAMESPACE.to_string(),
            "6f1d7c52-8a3e-4b8e-9c55-2f0b7e4a91d3"
        );
    }

    #[test]
    fn kinds_name_their_routing_keys_and_types() {
        assert_eq!(EventKind::Paid.routing_key(), "order.paid");
        assert_eq!(EventKind::Closed.routing_key(), "order.closed");
        assert_eq!(EventKind::Refunded.routing_key(), "order.refunded");
        assert_eq!(EventKind::Paid.message_type(), "order.paid.v1");
        assert_eq!(EventKind::Closed.message_type(), "order.closed.v1");
        assert_eq!(EventKind::Refunded.message_type(), "order.refunded.v1");
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_routing_key(kind.routing_key()), Some(kind));
            assert_eq!(
                EventKind::from_message_type(kind.message_type()),
                Some(kind)
            );
        }
        assert_eq!(EventKind::from_routing_key("order.unknown"), None);
    }

    #[test]
    fn refund_fields_win_over_trade_status() {
        assert_eq!(
            EventKind::for_notification("TRADE_SUCCESS", true),
            Some(EventKind::Refunded)
        );
        assert_eq!(
            EventKind::for_notification("TRADE_CLOSED", true),
            Some(EventKind::Refunded)
        );
        assert_eq!(
            EventKind::for_notification("TRADE_SUCCESS", false),
            Some(EventKind::Paid)
        );
        assert_eq!(
            EventKind::for_notification("TRADE_FINISHED", false),
            Some(EventKind::Paid)
        );
        assert_eq!(
            EventKind::for_notification("TRADE_CLOSED", false),
            Some(EventKind::Closed)
        );
        assert_eq!(EventKind::for_notification("WAIT_BUYER_PAY", false), None);
    }

    #[test]
    fn a_paid_notification_becomes_an_event() {
        let received_at = Utc::now();
        let event = PaymentEventV1::from_notification(paid_params(), received_at).unwrap();
        assert_eq!(event.version, 1);
        assert_eq!(event.kind, EventKind::Paid);
        assert_eq!(
            event.event_id,
            event_id_for("2024010100222120005123456789", "TRADE_SUCCESS")
        );
        assert_eq!(event.total_amount.to_string(), "88.88");
        assert_eq!(
            event.receipt_amount.map(|m| m.to_string()),
            Some("88.88".into())
        );
        assert_eq!(event.refund_fee, None);
        assert_eq!(
            event.params.get("sign").map(String::as_str),
            Some("c2lnbg==")
        );
        assert_eq!(event.received_at, received_at);
    }

    #[test]
    fn a_refund_notification_becomes_a_refunded_event() {
        let mut params = paid_params();
        params.insert("refund_fee".into(), "10.00".into());
        params.insert("gmt_refund".into(), "2024-01-02 08:00:00.123".into());
        params.insert("out_biz_no".into(), "R1".into());
        let event = PaymentEventV1::from_notification(params, Utc::now()).unwrap();
        assert_eq!(event.kind, EventKind::Refunded);
        assert_eq!(
            event.refund_fee.map(|m| m.to_string()),
            Some("10.00".into())
        );
        assert_eq!(event.out_biz_no.as_deref(), Some("R1"));
    }

    #[test]
    fn a_zero_refund_fee_on_a_payment_is_not_a_refund() {
        let mut params = paid_params();
        params.insert("refund_fee".into(), "0.00".into());
        let event = PaymentEventV1::from_notification(params, Utc::now()).unwrap();
        assert_eq!(event.kind, EventKind::Paid);
    }

    #[test]
    fn unusable_notifications_say_why() {
        let mut waiting = paid_params();
        waiting.insert("trade_status".into(), "WAIT_BUYER_PAY".into());
        assert_eq!(
            PaymentEventV1::from_notification(waiting, Utc::now()),
            Err(EventError::NoEventForStatus("WAIT_BUYER_PAY".into()))
        );

        let mut no_trade_no = paid_params();
        no_trade_no.remove("trade_no");
        assert_eq!(
            PaymentEventV1::from_notification(no_trade_no, Utc::now()),
            Err(EventError::MissingField("trade_no"))
        );

        let mut bad_amount = paid_params();
        bad_amount.insert("total_amount".into(), "88.888".into());
        assert!(matches!(
            PaymentEventV1::from_notification(bad_amount, Utc::now()),
            Err(EventError::InvalidAmount {
                field: "total_amount",
                ..
            })
        ));
    }

    #[test]
    fn json_round_trip_keeps_amounts_as_strings() {
        let event = PaymentEventV1::from_notification(paid_params(), Utc::now()).unwrap();
        let body = event.to_json().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["total_amount"], "88.88");
        assert_eq!(value["kind"], "paid");
        assert_eq!(value["version"], 1);
        assert_eq!(value["event_id"], event.event_id.to_string());
        assert_eq!(PaymentEventV1::from_json(&body).unwrap(), event);
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        let event = PaymentEventV1::from_notification(paid_params(), Utc::now()).unwrap();
        let mut value = serde_json::to_value(&event).unwrap();
        value["version"] = 2.into();
        let body = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            PaymentEventV1::from_json(&body),
            Err(EventError::UnsupportedVersion(2))
        );
        assert!(matches!(
            PaymentEventV1::from_json(b"not json"),
            Err(EventError::Malformed(_))
        ));
        assert!(matches!(
            PaymentEventV1::from_json(br#"{"version":1}"#),
            Err(EventError::Malformed(_))
        ));
    }
}
