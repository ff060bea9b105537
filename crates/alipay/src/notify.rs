//! Asynchronous notifications and synchronous returns: verify from the raw bytes, then type.
//!
//! Verification runs in named steps, each with its own error, so an operator can see *why* a
//! notification failed: decode the form once → `sign` present and strict base64 → `sign_type`
//! equal to the configured algorithm (the message must not choose it) → the string of every other
//! field (unknown ones included, `sign`/`sign_type` and empty values left out) → RSA verify. A
//! failed verification carries the exact string that was verified.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aes::{AesError, AesKey};
use crate::form::{self, FormError};
use crate::keys::PublicKey;
use crate::money::{Money, MoneyError};
use crate::request::{OutRequestNo, OutTradeNo};
use crate::sign::{self, SignType, SignatureError};
use crate::time;
use crate::verifier::{AlipayVerifier, Candidates};

/// Why a notification or return was not accepted as Alipay's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("decoding the form failed: {0}")]
    Form(#[from] FormError),
    #[error("the parameter \"sign\" is missing or empty")]
    MissingSign,
    #[error("\"sign\" is not strict base64 (was a '+' sent without percent-encoding?)")]
    SignNotBase64,
    #[error(
        "sign_type {received:?} differs from the configured {configured}; refusing to let the message choose the algorithm"
    )]
    SignTypeMismatch {
        configured: SignType,
        received: String,
    },
    #[error(
        "the signature does not match (wrong Alipay public key, or tampered data); verified string: {string_to_verify:?}"
    )]
    Mismatch { string_to_verify: String },
    #[error(
        "alipay_cert_sn {sn:?} names no trusted Alipay certificate (a rotation not yet fetched, \
         or a forgery)"
    )]
    UnknownCertSn { sn: String },
    #[error("the notification is encrypted (encrypt_type=AES) but no AES key is configured")]
    EncryptedWithoutKey,
    #[error("the verified notification could not be decrypted: {0}")]
    Decrypt(AesError),
}

impl VerifyError {
    /// A short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Form(_) => "malformed_form",
            VerifyError::MissingSign => "missing_sign",
            VerifyError::SignNotBase64 => "sign_not_base64",
            VerifyError::SignTypeMismatch { .. } => "sign_type_mismatch",
            VerifyError::Mismatch { .. } => "signature_mismatch",
            VerifyError::UnknownCertSn { .. } => "unknown_cert_sn",
            VerifyError::EncryptedWithoutKey => "encrypted_without_key",
            VerifyError::Decrypt(_) => "decrypt_failed",
        }
    }
}

/// Parameters whose signature verified, in the order received, every field kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedParams {
    pairs: Vec<(String, String)>,
    string_to_verify: String,
}

impl VerifiedParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Every field, `sign` and `sign_type` included, for audit.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.pairs.iter().cloned().collect()
    }

    /// The exact string the signature covers.
    pub fn string_to_verify(&self) -> &str {
        &self.string_to_verify
    }
}

/// Verifies a raw notification body (or return query string) with Alipay's public key.
pub fn verify(
    raw: &[u8],
    alipay_public_key: &PublicKey,
    sign_type: SignType,
) -> Result<VerifiedParams, VerifyError> {
    let pairs = form::decode(raw)?;
    verify_pairs(pairs, alipay_public_key, sign_type)
}

/// The same, for pairs already decoded exactly once.
pub fn verify_pairs(
    pairs: Vec<(String, String)>,
    alipay_public_key: &PublicKey,
    sign_type: SignType,
) -> Result<VerifiedParams, VerifyError> {
    let lookup = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let signature = lookup("sign")
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MissingSign)?;
    if let Some(received) = lookup("sign_type")
        && received != sign_type.as_str()
    {
        return Err(VerifyError::SignTypeMismatch {
            configured: sign_type,
            received: received.to_owned(),
        });
    }
    let string_to_verify =
        sign::notification_content(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    match sign::verify(
        alipay_public_key,
        sign_type,
        string_to_verify.as_bytes(),
        signature,
    ) {
        Ok(()) => Ok(VerifiedParams {
            pairs,
            string_to_verify,
        }),
        Err(SignatureError::Missing) => Err(VerifyError::MissingSign),
        Err(SignatureError::NotBase64) => Err(VerifyError::SignNotBase64),
        Err(SignatureError::Mismatch) => Err(VerifyError::Mismatch { string_to_verify }),
    }
}

/// Verifies a raw notification in either mode.
///
/// Certificate mode: a body carrying `alipay_cert_sn` is checked with that trusted certificate
/// (an SN not trusted yet is [`VerifyError::UnknownCertSn`], so the caller can fetch and check
/// it); without one, any trusted Alipay certificate may have signed. The field is an ordinary,
/// signed field (Java's `rsaCertCheckV1`); if that fails, one retry leaves it out (the open point
/// of the vectors: smartwalle/alipay's form). Accepting that form is safe: the field only chooses
/// among keys already trusted, and every other field is still covered by the signature.
pub fn verify_in(
    raw: &[u8],
    verifier: &AlipayVerifier,
    sign_type: SignType,
) -> Result<VerifiedParams, VerifyError> {
    let pairs = form::decode(raw)?;
    let sn = pairs
        .iter()
        .find(|(k, _)| k == "alipay_cert_sn")
        .map(|(_, v)| v.clone());
    let candidates = verifier
        .candidates(sn.as_deref())
        .map_err(|unknown| VerifyError::UnknownCertSn { sn: unknown.sn })?;
    let cert_mode = verifier.certificates().is_some();
    verify_pairs_with(pairs, &candidates, sign_type, cert_mode && sn.is_some())
}

fn verify_pairs_with(
    pairs: Vec<(String, String)>,
    candidates: &Candidates,
    sign_type: SignType,
    retry_without_cert_sn: bool,
) -> Result<VerifiedParams, VerifyError> {
    let lookup = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let signature = lookup("sign")
        .filter(|s| !s.is_empty())
        .ok_or(VerifyError::MissingSign)?;
    if let Some(received) = lookup("sign_type")
        && received != sign_type.as_str()
    {
        return Err(VerifyError::SignTypeMismatch {
            configured: sign_type,
            received: received.to_owned(),
        });
    }
    fn as_str((k, v): &(String, String)) -> (&str, &str) {
        (k.as_str(), v.as_str())
    }
    let string_to_verify = sign::notification_content(pairs.iter().map(as_str));
    let mut attempts = vec![string_to_verify.clone()];
    if retry_without_cert_sn {
        attempts.push(sign::notification_content(
            pairs
                .iter()
                .filter(|(k, _)| k != "alipay_cert_sn")
                .map(as_str),
        ));
    }
    for attempt in attempts {
        let mut failure = None;
        let ok = candidates.any(|key| {
            match sign::verify(key, sign_type, attempt.as_bytes(), signature) {
                Ok(()) => true,
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        });
        if ok {
            return Ok(VerifiedParams {
                pairs,
                string_to_verify: attempt,
            });
        }
        match failure {
            Some(SignatureError::Missing) => return Err(VerifyError::MissingSign),
            Some(SignatureError::NotBase64) => return Err(VerifyError::SignNotBase64),
            Some(SignatureError::Mismatch) | None => {}
        }
    }
    Err(VerifyError::Mismatch { string_to_verify })
}

impl VerifiedParams {
    /// Opens an encrypted notification after its signature verified (over the ciphertext):
    /// when it carries `encrypt_type=AES`, `biz_content` is replaced by its plaintext, and the
    /// plaintext's top-level fields that the form lacks are added, so the typed readers find
    /// them. A notification without `encrypt_type` is returned unchanged.
    pub fn decrypt(mut self, aes: Option<&AesKey>) -> Result<Self, VerifyError> {
        if self.get("encrypt_type") != Some("AES") {
            return Ok(self);
        }
        let aes = aes.ok_or(VerifyError::EncryptedWithoutKey)?;
        let Some(position) = self.pairs.iter().position(|(k, _)| k == "biz_content") else {
            return Ok(self);
        };
        let plain = aes
            .decrypt(&self.pairs[position].1)
            .map_err(VerifyError::Decrypt)?;
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(&plain) {
            for (name, value) in fields {
                let text = match value {
                    serde_json::Value::String(text) => text,
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                if self.get(&name).is_none() {
                    self.pairs.push((name, text));
                }
            }
        }
        self.pairs[position].1 = plain;
        Ok(self)
    }
}

/// Alipay's trade statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    /// Created, waiting for the buyer.
    WaitBuyerPay,
    /// Closed unpaid, or fully refunded.
    TradeClosed,
    /// Paid; refundable.
    TradeSuccess,
    /// Paid; no longer refundable.
    TradeFinished,
}

impl TradeStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TradeStatus::WaitBuyerPay => "WAIT_BUYER_PAY",
            TradeStatus::TradeClosed => "TRADE_CLOSED",
            TradeStatus::TradeSuccess => "TRADE_SUCCESS",
            TradeStatus::TradeFinished => "TRADE_FINISHED",
        }
    }

    /// Whether the buyer has paid.
    pub fn is_paid(&self) -> bool {
        match self {
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => true,
            TradeStatus::WaitBuyerPay | TradeStatus::TradeClosed => false,
        }
    }
}

impl fmt::Display for TradeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TradeStatus {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "WAIT_BUYER_PAY" => Ok(TradeStatus::WaitBuyerPay),
            "TRADE_CLOSED" => Ok(TradeStatus::TradeClosed),
            "TRADE_SUCCESS" => Ok(TradeStatus::TradeSuccess),
            "TRADE_FINISHED" => Ok(TradeStatus::TradeFinished),
            other => Err(FieldError::Invalid {
                field: "trade_status",
                value: other.to_owned(),
            }),
        }
    }
}

/// A verified notification that lacks a field or carries one that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the field {0:?} is missing")]
    Missing(&'static str),
    #[error("the field {field:?} has an invalid value {value:?}")]
    Invalid { field: &'static str, value: String },
    #[error("the field {field:?} is not an amount: {error}")]
    Amount {
        field: &'static str,
        error: MoneyError,
    },
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// The buyer paid (TRADE_SUCCESS / TRADE_FINISHED without refund fields).
    Paid,
    /// The trade closed unpaid (TRADE_CLOSED without refund fields).
    Closed,
    /// A refund (carries `out_biz_no`, `gmt_refund` or a positive `refund_fee`); after a full
    /// refund the status is TRADE_CLOSED, after a partial one TRADE_SUCCESS.
    Refunded,
    /// Still waiting for the buyer: nothing happened yet.
    Waiting,
}

/// A typed, verified trade notification. `params` keeps every field Alipay sent, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeNotification {
    pub notify_id: String,
    pub notify_type: Option<String>,
    pub notify_time: Option<DateTime<Utc>>,
    pub app_id: String,
    pub trade_no: String,
    pub out_trade_no: OutTradeNo,
    pub trade_status: TradeStatus,
    pub total_amount: Money,
    pub receipt_amount: Option<Money>,
    /// On a refund: the cumulative amount refunded on the trade.
    pub refund_fee: Option<Money>,
    /// On a refund: the merchant's number of the refund request (`out_request_no`).
    pub out_biz_no: Option<OutRequestNo>,
    pub gmt_payment: Option<DateTime<Utc>>,
    pub gmt_refund: Option<DateTime<Utc>>,
    pub buyer_id: Option<String>,
    pub buyer_open_id: Option<String>,
    pub seller_id: Option<String>,
    pub params: BTreeMap<String, String>,
}

impl TradeNotification {
    /// Types verified parameters.
    pub fn from_verified(verified: &VerifiedParams) -> Result<Self, FieldError> {
        let required = |name: &'static str| {
            verified
                .get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(FieldError::Missing(name))
        };
        let optional = |name: &str| {
            verified
                .get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let amount = |name: &'static str| -> Result<Option<Money>, FieldError> {
            optional(name)
                .map(|v| {
                    v.parse::<Money>()
                        .map_err(|error| FieldError::Amount { field: name, error })
                })
                .transpose()
        };
        let when = |name: &'static str| -> Result<Option<DateTime<Utc>>, FieldError> {
            optional(name)
                .map(|v| {
                    time::parse_beijing(&v).map_err(|_| FieldError::Invalid {
                        field: name,
                        value: v.clone(),
                    })
                })
                .transpose()
        };
        let invalid = |field: &'static str| {
            move |_| FieldError::Invalid {
                field,
                value: verified.get(field).unwrap_or_default().to_owned(),
            }
        };
        Ok(TradeNotification {
            notify_id: required("notify_id")?,
            notify_type: optional("notify_type"),
            notify_time: when("notify_time")?,
            app_id: required("app_id")?,
            trade_no: required("trade_no")?,
            out_trade_no: OutTradeNo::parse(&required("out_trade_no")?)
                .map_err(invalid("out_trade_no"))?,
            trade_status: required("trade_status")?.parse()?,
            total_amount: amount("total_amount")?.ok_or(FieldError::Missing("total_amount"))?,
            receipt_amount: amount("receipt_amount")?,
            refund_fee: amount("refund_fee")?,
            out_biz_no: optional("out_biz_no")
                .map(|text| OutRequestNo::parse(&text))
                .transpose()
                .map_err(invalid("out_biz_no"))?,
            gmt_payment: when("gmt_payment")?,
            gmt_refund: when("gmt_refund")?,
            buyer_id: optional("buyer_id"),
            buyer_open_id: optional("buyer_open_id"),
            seller_id: optional("seller_id"),
            params: verified.to_map(),
        })
    }

    /// Refund fields are checked first: a partial refund arrives as TRADE_SUCCESS.
    pub fn kind(&self) -> NotificationKind {
        let refunded = self.out_biz_no.is_some()
            || self.gmt_refund.is_some()
            || self.refund_fee.is_some_and(|fee| !fee.is_zero());
        if refunded {
            return NotificationKind::Refunded;
        }
        match self.trade_status {
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => NotificationKind::Paid,
            TradeStatus::TradeClosed => NotificationKind::Closed,
            TradeStatus::WaitBuyerPay => NotificationKind::Waiting,
        }
    }
}

/// A typed, verified return (`return_url` redirect). Not proof of payment: only a reason to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayReturn {
    pub method: String,
    pub app_id: String,
    pub out_trade_no: String,
    pub trade_no: String,
    pub total_amount: Money,
    pub seller_id: Option<String>,
    pub timestamp: Option<String>,
}

impl PayReturn {
    pub fn from_verified(verified: &VerifiedParams) -> Result<Self, FieldError> {
        let required = |name: &'static str| {
            verified
                .get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or(FieldError::Missing(name))
        };
        let total = required("total_amount")?;
        Ok(PayReturn {
            method: required("method")?,
            app_id: required("app_id")?,
            out_trade_no: required("out_trade_no")?,
            trade_no: required("trade_no")?,
            total_amount: total.parse().map_err(|error| FieldError::Amount {
                field: "total_amount",
                error,
            })?,
            seller_id: verified.get("seller_id").map(str::to_owned),
            timestamp: verified.get("timestamp").map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn signed_body(key: &PrivateKey, fields: &[(&str, &str)]) -> String {
        let content = sign::notification_content(fields.iter().copied());
        let signature = sign::sign(key, SignType::Rsa2, &content).unwrap();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("sign_type", "RSA2"));
        all.push(("sign", &signature));
        form::encode(all)
    }

    const FIELDS: &[(&str, &str)] = &[
        ("notify_id", "n1"),
        ("app_id", "2021"),
        ("trade_no", "T1"),
        ("out_trade_no", "O1"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "88.88"),
        ("gmt_payment", "2024-01-02 03:05:10"),
        ("subject", "测试 a+b&c=d"),
    ];

    #[test]
    fn verifies_and_types_a_notification() {
        let key = PrivateKey::generate().unwrap();
        let body = signed_body(&key, FIELDS);
        let verified = verify(body.as_bytes(), &key.public_key(), SignType::Rsa2).unwrap();
        let notification = TradeNotification::from_verified(&verified).unwrap();
        assert_eq!(notification.kind(), NotificationKind::Paid);
        assert_eq!(notification.total_amount.to_string(), "88.88");
        assert_eq!(notification.params["subject"], "测试 a+b&c=d");
    }

    #[test]
    fn each_step_names_its_failure() {
        let key = PrivateKey::generate().unwrap();
        let body = signed_body(&key, FIELDS);
        let public = key.public_key();
        let tampered = body.replace("88.88", "0.01");
        assert!(matches!(
            verify(tampered.as_bytes(), &public, SignType::Rsa2),
            Err(VerifyError::Mismatch { .. })
        ));
        let downgraded = body.replace("sign_type=RSA2", "sign_type=RSA");
        assert!(matches!(
            verify(downgraded.as_bytes(), &public, SignType::Rsa2),
            Err(VerifyError::SignTypeMismatch { .. })
        ));
        assert_eq!(
            verify(b"a=1", &public, SignType::Rsa2),
            Err(VerifyError::MissingSign)
        );
        assert_eq!(
            verify(b"a=1&sign=***", &public, SignType::Rsa2),
            Err(VerifyError::SignNotBase64)
        );
        assert!(matches!(
            verify(b"", &public, SignType::Rsa2),
            Err(VerifyError::Form(FormError::Empty))
        ));
    }

    #[test]
    fn refund_fields_decide_before_status() {
        let key = PrivateKey::generate().unwrap();
        let mut fields = FIELDS.to_vec();
        fields.push(("out_biz_no", "R1"));
        fields.push(("refund_fee", "10.00"));
        fields.push(("gmt_refund", "2024-05-18 14:04:13.027"));
        let body = signed_body(&key, &fields);
        let verified = verify(body.as_bytes(), &key.public_key(), SignType::Rsa2).unwrap();
        assert_eq!(
            TradeNotification::from_verified(&verified).unwrap().kind(),
            NotificationKind::Refunded
        );
    }
}
