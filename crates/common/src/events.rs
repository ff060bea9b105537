//! The payment event: the versioned contract between notify-receiver (publisher) and order
//! (consumer), as described in `DESIGN.md` ("Events: RabbitMQ").
//!
//! The receiver only knows that Alipay signed a notification; the consumer checks the rest (the
//! order exists, the amount and `app_id` match). So the event carries the parsed fields the
//! consumer needs, and `params`, every field Alipay sent, verbatim, for audit.
//!
//! The type is versioned (`PaymentEventV2`, message type `order.paid.v2`): a breaking change means
//! a `V3` published alongside, never an edit to this shape. Adding an optional field is fine;
//! consumers ignore fields they do not know. Version 2 speaks the domain (typed numbers, `Money`,
//! instants in UTC); version 1 carried Alipay's Beijing-time text and is still read, converted on
//! read in [`v1`], for one release (the rolling upgrade in the README's events section).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::{Uuid, uuid};

use crate::money::Money;
use crate::numbers::{OutRequestNo, OutTradeNo};

pub mod v1;

pub use crate::telemetry::REQUEST_ID_HEADER;

/// The payload version [`PaymentEventV2`] writes.
pub const EVENT_VERSION: u32 = 2;
/// The payload version of [`SyncRequestV1`].
pub const SYNC_REQUEST_VERSION: u32 = 1;

/// AMQP header holding why a message was dead-lettered (set by the consumer that gave up on it):
/// a [`DeadLetterReason`] as text.
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
    pub out_trade_no: OutTradeNo,
    /// Why, in words (for the log).
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

impl SyncRequestV1 {
    pub fn new(out_trade_no: OutTradeNo, reason: impl Into<String>) -> Self {
        Self {
            version: SYNC_REQUEST_VERSION,
            out_trade_no,
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

    /// The routing key on the `payments` exchange (the same for every payload version).
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
            EventKind::Paid => "order.paid.v2",
            EventKind::Closed => "order.closed.v2",
            EventKind::Refunded => "order.refunded.v2",
        }
    }

    /// The word stored with the event (`payment_events.kind`): `paid`, `closed`, `refunded`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Paid => "paid",
            EventKind::Closed => "closed",
            EventKind::Refunded => "refunded",
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
}

/// Version 2 of the payment event payload (JSON): what notify-receiver publishes, built once from
/// the verified, typed notification (so the refund-or-payment decision is made in one place, the
/// `alipay` crate's `TradeNotification::kind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEventV2 {
    /// Always [`EVENT_VERSION`].
    pub version: u32,
    /// See [`event_id_for`]; also the AMQP `message_id`.
    pub event_id: Uuid,
    pub kind: EventKind,
    pub out_trade_no: OutTradeNo,
    /// The payment provider's number of the trade.
    pub trade_no: String,
    /// The provider's status word (`TRADE_SUCCESS`…), kept because the event id and the stored
    /// event record are made from it; decisions read `kind`.
    pub trade_status: String,
    pub total_amount: Money,
    #[serde(default)]
    pub receipt_amount: Option<Money>,
    /// On a refund: the cumulative amount refunded on the trade.
    #[serde(default)]
    pub refund_fee: Option<Money>,
    /// On a refund: our number of the refund request.
    #[serde(default)]
    pub out_request_no: Option<OutRequestNo>,
    /// When the buyer paid.
    #[serde(default)]
    pub paid_at: Option<DateTime<Utc>>,
    /// On a refund: when the money went back.
    #[serde(default)]
    pub refunded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub buyer_id: Option<String>,
    #[serde(default)]
    pub buyer_open_id: Option<String>,
    #[serde(default)]
    pub seller_id: Option<String>,
    pub app_id: String,
    pub notify_id: String,
    /// When the provider sent the notification.
    #[serde(default)]
    pub notified_at: Option<DateTime<Utc>>,
    /// When the receiver accepted the notification.
    pub received_at: DateTime<Utc>,
    /// Every field Alipay sent, verbatim, including `sign` and `sign_type`, for audit.
    pub params: BTreeMap<String, String>,
}

/// Why a message body is not a payment event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event version {0} is not supported (this build reads versions 1 and 2)")]
    UnsupportedVersion(u32),
    #[error("event body is not valid JSON for a payment event: {0}")]
    Malformed(String),
}

impl PaymentEventV2 {
    /// The message body. (Every field is a string, number, UUID, date or string-keyed map, so
    /// this does not fail in practice; the `Result` is serde's.)
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Reads a message body of version 2, or of version 1 converted (see [`v1`]); refuses others.
    pub fn from_json(body: &[u8]) -> Result<Self, EventError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let malformed = |error: serde_json::Error| EventError::Malformed(error.to_string());
        let Versioned { version } = serde_json::from_slice(body).map_err(malformed)?;
        match version {
            EVENT_VERSION => serde_json::from_slice(body).map_err(malformed),
            v1::VERSION => serde_json::from_slice::<v1::PaymentEventV1>(body)
                .map_err(malformed)?
                .try_into(),
            other => Err(EventError::UnsupportedVersion(other)),
        }
    }
}

/// Why the consumer gave up on a message: what [`DEATH_REASON_HEADER`] holds, as
/// `<label>: <detail>` (`unknown_order: no order has out_trade_no "…"`). The label is what
/// metrics and operators group by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterReason {
    pub cause: DeathCause,
    /// In words, for a person.
    pub detail: String,
}

/// The kinds of [`DeadLetterReason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeathCause {
    /// The body is not a message this build reads.
    Unparseable,
    /// The event is for another app.
    WrongAppId,
    /// No order has the event's number.
    UnknownOrder,
    /// The event's amount is not the order's.
    AmountMismatch,
    /// A refund or close waited longer than Alipay's retries for its payment.
    EarlyEventExpired,
    /// A label this build does not know (an older or newer version wrote it, or a person): kept
    /// as written, so such a letter still reads.
    Other(String),
}

impl DeathCause {
    pub fn label(&self) -> &str {
        match self {
            DeathCause::Unparseable => "unparseable",
            DeathCause::WrongAppId => "wrong_app_id",
            DeathCause::UnknownOrder => "unknown_order",
            DeathCause::AmountMismatch => "amount_mismatch",
            DeathCause::EarlyEventExpired => "early_event_expired",
            DeathCause::Other(label) => label,
        }
    }

    fn from_label(label: &str) -> Self {
        [
            DeathCause::Unparseable,
            DeathCause::WrongAppId,
            DeathCause::UnknownOrder,
            DeathCause::AmountMismatch,
            DeathCause::EarlyEventExpired,
        ]
        .into_iter()
        .find(|cause| cause.label() == label)
        .unwrap_or_else(|| DeathCause::Other(label.to_owned()))
    }
}

impl DeadLetterReason {
    pub fn new(cause: DeathCause, detail: impl Into<String>) -> Self {
        Self {
            cause,
            detail: detail.into(),
        }
    }

    /// Reads [`DEATH_REASON_HEADER`]. The wire text is unchanged since version 1 of the
    /// consumer, so letters already in the queue read the same; text without a label (written
    /// by hand) is all label.
    pub fn from_header(text: &str) -> Self {
        match text.split_once(':') {
            Some((label, detail)) => Self::new(DeathCause::from_label(label.trim()), detail.trim()),
            None => Self::new(DeathCause::from_label(text.trim()), ""),
        }
    }
}

impl std::fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            f.write_str(self.cause.label())
        } else {
            write!(f, "{}: {}", self.cause.label(), self.detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn paid_event() -> PaymentEventV2 {
        let params: BTreeMap<String, String> = [
            ("out_trade_no", "20240101000001"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "88.88"),
            ("sign", "c2lnbg=="),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        PaymentEventV2 {
            version: EVENT_VERSION,
            event_id: event_id_for("2024010100222120005123456789", "TRADE_SUCCESS"),
            kind: EventKind::Paid,
            out_trade_no: OutTradeNo::parse("20240101000001").unwrap(),
            trade_no: "2024010122001400000000000001".into(),
            trade_status: "TRADE_SUCCESS".into(),
            total_amount: "88.88".parse().unwrap(),
            receipt_amount: Some("88.88".parse().unwrap()),
            refund_fee: None,
            out_request_no: None,
            paid_at: Some("2024-01-01T04:00:05Z".parse().unwrap()),
            refunded_at: None,
            buyer_id: Some("2088102177846875".into()),
            buyer_open_id: None,
            seller_id: Some("2088102177846880".into()),
            app_id: "2021000000000001".into(),
            notify_id: "2024010100222120005123456789".into(),
            notified_at: Some("2024-01-01T04:00:06Z".parse().unwrap()),
            received_at: "2024-01-01T04:00:07Z".parse().unwrap(),
            params,
        }
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
        assert_eq!(EventKind::Paid.message_type(), "order.paid.v2");
        assert_eq!(EventKind::Closed.message_type(), "order.closed.v2");
        assert_eq!(EventKind::Refunded.message_type(), "order.refunded.v2");
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
    fn json_round_trip_keeps_amounts_as_strings_and_instants_in_utc() {
        let event = paid_event();
        let body = event.to_json().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["total_amount"], "88.88");
        assert_eq!(value["kind"], "paid");
        assert_eq!(value["version"], 2);
        assert_eq!(value["out_trade_no"], "20240101000001");
        assert_eq!(value["paid_at"], "2024-01-01T04:00:05Z");
        assert_eq!(value["event_id"], event.event_id.to_string());
        assert_eq!(PaymentEventV2::from_json(&body).unwrap(), event);
    }

    #[test]
    fn other_versions_and_garbage_are_refused() {
        let mut value = serde_json::to_value(paid_event()).unwrap();
        value["version"] = 3.into();
        let body = serde_json::to_vec(&value).unwrap();
        assert_eq!(
            PaymentEventV2::from_json(&body),
            Err(EventError::UnsupportedVersion(3))
        );
        assert!(matches!(
            PaymentEventV2::from_json(b"not json"),
            Err(EventError::Malformed(_))
        ));
        assert!(matches!(
            PaymentEventV2::from_json(br#"{"version":2}"#),
            Err(EventError::Malformed(_))
        ));
        let mut bad_number = serde_json::to_value(paid_event()).unwrap();
        bad_number["out_trade_no"] = "O-1".into();
        assert!(matches!(
            PaymentEventV2::from_json(&serde_json::to_vec(&bad_number).unwrap()),
            Err(EventError::Malformed(_))
        ));
    }

    #[test]
    fn dead_letter_reasons_keep_their_wire_text() {
        let reason =
            DeadLetterReason::new(DeathCause::UnknownOrder, "no order has out_trade_no \"X\"");
        let text = reason.to_string();
        assert_eq!(text, "unknown_order: no order has out_trade_no \"X\"");
        assert_eq!(DeadLetterReason::from_header(&text), reason);
        // Written by an older consumer: the same text, the same reading.
        let old = DeadLetterReason::from_header(
            "amount_mismatch: the amount 1.00 differs from the order's 2.00",
        );
        assert_eq!(old.cause, DeathCause::AmountMismatch);
        assert_eq!(old.detail, "the amount 1.00 differs from the order's 2.00");
        // Unknown labels and label-less text read as they were written.
        let other = DeadLetterReason::from_header("poison: x");
        assert_eq!(other.cause.label(), "poison");
        assert_eq!(other.to_string(), "poison: x");
        let bare = DeadLetterReason::from_header("unknown order T-5");
        assert_eq!(bare.cause, DeathCause::Other("unknown order T-5".into()));
        assert_eq!(bare.to_string(), "unknown order T-5");
    }
}
