//! From raw body to decision, with no I/O: what the receiver may conclude on its own.
//!
//! The receiver knows Alipay's public key and which app (and seller) it serves; it does not know
//! the orders. So it checks the signature (over the raw bytes, every field), `app_id` and the
//! optional `seller_id`, classifies the notification, and leaves the rest (the order exists, the
//! amount matches) to the order service, which reads the event.

use alipay::notify::{self, NotificationKind, TradeNotification};
use alipay::sign::SignType;
use alipay::{AesKey, AlipayVerifier};
use chrono::{DateTime, Utc};
use common::events::{EVENT_VERSION, EventKind, PaymentEventV2, event_id_for};
use common::numbers::OutTradeNo;

use crate::error::NotifyError;

/// What to do with a notification that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Publish this event, then answer `success`.
    Publish(Box<PaymentEventV2>),
    /// Nothing happened to the trade yet (WAIT_BUYER_PAY): answer `success`, publish nothing, so
    /// Alipay stops re-sending it.
    Acknowledge {
        notify_id: String,
        out_trade_no: OutTradeNo,
    },
}

impl Decision {
    /// The one translation of a verified notification into the event contract: what happened
    /// is the protocol crate's [`TradeNotification::kind`] (refund fields first, a positive
    /// `refund_fee` only), and every field the event carries is taken from the typed notification,
    /// so nothing is parsed twice.
    pub fn for_notification(notification: TradeNotification, received_at: DateTime<Utc>) -> Self {
        let kind = match notification.kind() {
            NotificationKind::Paid => EventKind::Paid,
            NotificationKind::Closed => EventKind::Closed,
            NotificationKind::Refunded => EventKind::Refunded,
            NotificationKind::Waiting => {
                return Decision::Acknowledge {
                    notify_id: notification.notify_id,
                    out_trade_no: notification.out_trade_no,
                };
            }
        };
        let trade_status = notification.trade_status.as_str();
        Decision::Publish(Box::new(PaymentEventV2 {
            version: EVENT_VERSION,
            event_id: event_id_for(&notification.notify_id, trade_status),
            kind,
            out_trade_no: notification.out_trade_no,
            trade_no: notification.trade_no,
            trade_status: trade_status.to_owned(),
            total_amount: notification.total_amount,
            receipt_amount: notification.receipt_amount,
            refund_fee: notification.refund_fee,
            out_request_no: notification.out_biz_no,
            paid_at: notification.gmt_payment,
            refunded_at: notification.gmt_refund,
            buyer_id: notification.buyer_id,
            buyer_open_id: notification.buyer_open_id,
            seller_id: notification.seller_id,
            app_id: notification.app_id,
            notify_id: notification.notify_id,
            notified_at: notification.notify_time,
            received_at,
            params: notification.params,
        }))
    }
}

/// Alipay's key plus the identity this receiver answers for.
#[derive(Debug, Clone)]
pub struct Verifier {
    alipay: AlipayVerifier,
    aes: Option<AesKey>,
    sign_type: SignType,
    app_id: String,
    seller_id: Option<String>,
}

impl Verifier {
    pub fn new(
        alipay: impl Into<AlipayVerifier>,
        sign_type: SignType,
        app_id: String,
        seller_id: Option<String>,
    ) -> Self {
        Self {
            alipay: alipay.into(),
            aes: None,
            sign_type,
            app_id,
            seller_id,
        }
    }

    /// Our app id: what a notification for us carries.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Opens `encrypt_type=AES` notifications with this key (after their signature verified).
    pub fn with_encryption(mut self, key: Option<AesKey>) -> Self {
        self.aes = key;
        self
    }

    /// How Alipay's signatures are checked (the certificate store, in certificate mode).
    pub fn alipay(&self) -> &AlipayVerifier {
        &self.alipay
    }

    /// Verifies `raw` (the exact request body) and decides. Never panics, whatever the bytes.
    ///
    /// In certificate mode a notification naming a certificate not trusted yet fails with
    /// `VerifyError::UnknownCertSn`; the caller may fetch and check that certificate, then
    /// decide again.
    pub fn decide(&self, raw: &[u8], received_at: DateTime<Utc>) -> Result<Decision, NotifyError> {
        let verified =
            notify::verify_in(raw, &self.alipay, self.sign_type)?.decrypt(self.aes.as_ref())?;
        let notification = TradeNotification::from_verified(&verified)?;

        // Checked only after the signature: before it, the fields are anyone's words.
        if notification.app_id != self.app_id {
            return Err(NotifyError::ForeignAppId {
                received: notification.app_id,
            });
        }
        if let Some(expected) = &self.seller_id
            && notification.seller_id.as_deref() != Some(expected.as_str())
        {
            return Err(NotifyError::ForeignSellerId {
                received: notification.seller_id,
            });
        }

        Ok(Decision::for_notification(notification, received_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay::form;
    use alipay::keys::PrivateKey;
    use alipay::sign;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    const APP_ID: &str = "2021000000000001";
    const SELLER_ID: &str = "2088102177846880";

    fn key() -> &'static PrivateKey {
        static KEY: OnceLock<PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| PrivateKey::generate().unwrap())
    }

    fn verifier(seller_id: Option<&str>) -> Verifier {
        Verifier::new(
            key().public_key(),
            SignType::Rsa2,
            APP_ID.into(),
            seller_id.map(Into::into),
        )
    }

    fn fields(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut fields = vec![
            ("notify_id", "n-1"),
            ("notify_time", "2024-01-01 12:00:06"),
            ("app_id", APP_ID),
            ("seller_id", SELLER_ID),
            ("trade_no", "2024010122001400000000000001"),
            ("out_trade_no", "O_1"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "88.88"),
        ];
        for (name, value) in extra {
            match fields.iter_mut().find(|(n, _)| n == name) {
                Some(field) => field.1 = value,
                None => fields.push((name, value)),
            }
        }
        fields
    }

    fn signed(fields: &[(&str, &str)]) -> String {
        let content = sign::notification_content(fields.iter().copied());
        let signature = sign::sign(key(), SignType::Rsa2, &content).unwrap();
        let mut all = fields.to_vec();
        all.push(("sign_type", "RSA2"));
        all.push(("sign", &signature));
        form::encode(all)
    }

    fn decide(verifier: &Verifier, body: &str) -> Result<Decision, NotifyError> {
        verifier.decide(body.as_bytes(), Utc::now())
    }

    #[test]
    fn statuses_map_to_kinds() {
        let cases = [
            (fields(&[]), EventKind::Paid),
            (
                fields(&[("trade_status", "TRADE_FINISHED")]),
                EventKind::Paid,
            ),
            (
                fields(&[("trade_status", "TRADE_CLOSED")]),
                EventKind::Closed,
            ),
            (
                fields(&[
                    ("out_biz_no", "R_1"),
                    ("refund_fee", "10.00"),
                    ("gmt_refund", "2024-05-18 14:04:13.027"),
                ]),
                EventKind::Refunded,
            ),
            (
                fields(&[("trade_status", "TRADE_CLOSED"), ("refund_fee", "88.88")]),
                EventKind::Refunded,
            ),
            // A zero refund_fee is not a refund (the protocol crate's rule wins over the event's).
            (fields(&[("refund_fee", "0.00")]), EventKind::Paid),
        ];
        for (fields, kind) in cases {
            match decide(&verifier(None), &signed(&fields)).unwrap() {
                Decision::Publish(event) => {
                    assert_eq!(event.kind, kind, "{fields:?}");
                    assert_eq!(event.params.len(), fields.len() + 2, "every field kept");
                }
                other => panic!("{fields:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_encrypted_notification_is_opened_after_its_signature_verified() {
        let aes = AesKey::from_base64("LLMLeQdrBQgRinXO9E0M+Q==").unwrap();
        let sealed = aes
            .encrypt(
                r#"{"trade_no":"2024010122001400000000000009","out_trade_no":"O_AES","trade_status":"TRADE_SUCCESS","total_amount":"66.60"}"#,
            )
            .unwrap();
        let fields = [
            ("notify_id", "n-aes"),
            ("notify_time", "2024-01-01 12:00:06"),
            ("app_id", APP_ID),
            ("encrypt_type", "AES"),
            ("biz_content", sealed.as_str()),
        ];
        let body = signed(&fields);

        // Without the key it cannot be used; with it, the event carries the plaintext fields.
        assert!(matches!(
            decide(&verifier(None), &body),
            Err(NotifyError::Verify(
                notify::VerifyError::EncryptedWithoutKey
            ))
        ));
        let with_key = verifier(None).with_encryption(Some(aes));
        match decide(&with_key, &body).unwrap() {
            Decision::Publish(event) => {
                assert_eq!(event.out_trade_no.as_str(), "O_AES");
                assert_eq!(event.total_amount.to_string(), "66.60");
            }
            other => panic!("{other:?}"),
        }
        // A changed ciphertext fails the signature before anything is decrypted.
        let tampered = body.replacen("biz_content=", "biz_content=A", 1);
        assert!(decide(&with_key, &tampered).is_err());
    }

    #[test]
    fn waiting_is_acknowledged_without_an_event() {
        let body = signed(&fields(&[("trade_status", "WAIT_BUYER_PAY")]));
        assert_eq!(
            decide(&verifier(None), &body).unwrap(),
            Decision::Acknowledge {
                notify_id: "n-1".into(),
                out_trade_no: OutTradeNo::parse("O_1").unwrap()
            }
        );
    }

    #[test]
    fn identity_is_checked_after_the_signature() {
        let foreign = signed(&fields(&[("app_id", "2021999999999999")]));
        assert_eq!(
            decide(&verifier(None), &foreign).unwrap_err().reason(),
            "foreign_app_id"
        );

        let body = signed(&fields(&[]));
        assert!(decide(&verifier(Some(SELLER_ID)), &body).is_ok());
        let error = decide(&verifier(Some("2088000000000000")), &body).unwrap_err();
        assert_eq!(error.reason(), "foreign_seller_id");
        let without: Vec<_> = fields(&[])
            .into_iter()
            .filter(|(n, _)| *n != "seller_id")
            .collect();
        let error = decide(&verifier(Some(SELLER_ID)), &signed(&without)).unwrap_err();
        assert_eq!(error.reason(), "foreign_seller_id");
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let without: Vec<_> = fields(&[])
            .into_iter()
            .filter(|(n, _)| *n != "notify_id")
            .collect();
        assert_eq!(
            decide(&verifier(None), &signed(&without))
                .unwrap_err()
                .reason(),
            "missing_field"
        );
        let bad_amount = signed(&fields(&[("total_amount", "12.345")]));
        assert_eq!(
            decide(&verifier(None), &bad_amount).unwrap_err().reason(),
            "invalid_amount"
        );
        let unknown_status = signed(&fields(&[("trade_status", "TRADE_PENDING")]));
        assert_eq!(
            decide(&verifier(None), &unknown_status)
                .unwrap_err()
                .reason(),
            "invalid_field"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic_and_never_publish(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            prop_assert!(verifier(None).decide(&raw, Utc::now()).is_err());
        }

        #[test]
        fn form_like_garbage_never_panics(body in "[a-z_=&%+0-9A-F]{0,300}") {
            prop_assert!(verifier(None).decide(body.as_bytes(), Utc::now()).is_err());
        }
    }
}
