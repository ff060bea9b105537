//! The one error type of the notification endpoint, and its mapping to HTTP.
//!
//! Alipay only reads the body: `success` stops its retries, anything else makes it retry for
//! about 25 hours. So every failure answers `fail`, and the status code tells operators (and
//! load balancers) which side is at fault: 400 for a notification that is not Alipay's or not
//! ours (retrying will not help, but retries are harmless; a rotated certificate that fails its
//! checks is one of these), 503 when the broker did not take it or a rotated certificate could
//! not be fetched yet (a retry will), 500 for a bug.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use alipay::notify::{FieldError, VerifyError};
use common::amqp::PublishError;

/// Body of every failed notification request.
pub const FAIL_BODY: &str = "fail";

/// Largest notification body accepted. Real ones are about 1–2 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a notification was not acknowledged with `success`.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("content type {0:?} is not application/x-www-form-urlencoded (charset utf-8)")]
    UnsupportedContentType(String),
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
    #[error("not a verifiable Alipay notification: {0}")]
    Verify(#[from] VerifyError),
    #[error("the verified notification is unusable: {0}")]
    Field(#[from] FieldError),
    #[error("the notification is for app_id {received:?}, not this app")]
    ForeignAppId { received: String },
    #[error("the notification's seller_id {received:?} is not the configured seller")]
    ForeignSellerId { received: Option<String> },
    #[error("not connected to RabbitMQ")]
    BrokerUnavailable,
    #[error("RabbitMQ did not confirm the event within {0:?}")]
    ConfirmTimeout(Duration),
    #[error("publishing the event failed: {0}")]
    Publish(#[from] PublishError),
    #[error(
        "the rotated Alipay certificate named by the notification could not be fetched from the \
         payment-gateway: {0}"
    )]
    CertificateUnavailable(String),
    #[error("the Alipay certificate {sn:?} named by the notification is not trusted: {reason}")]
    UntrustedCertificate { sn: String, reason: String },
}

impl NotifyError {
    /// A short, stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            NotifyError::UnsupportedContentType(_) => "unsupported_content_type",
            NotifyError::BodyTooLarge => "body_too_large",
            NotifyError::BodyRead(_) => "body_read",
            NotifyError::Verify(error) => error.reason(),
            NotifyError::Field(error) => match error {
                FieldError::Missing(_) => "missing_field",
                FieldError::Invalid { .. } => "invalid_field",
                FieldError::Amount { .. } => "invalid_amount",
            },
            NotifyError::ForeignAppId { .. } => "foreign_app_id",
            NotifyError::ForeignSellerId { .. } => "foreign_seller_id",
            NotifyError::BrokerUnavailable => "broker_unavailable",
            NotifyError::CertificateUnavailable(_) => "certificate_unavailable",
            NotifyError::UntrustedCertificate { .. } => "untrusted_certificate",
            NotifyError::ConfirmTimeout(_) => "confirm_timeout",
            NotifyError::Publish(error) => match error {
                PublishError::Encode(_) => "encode",
                PublishError::Broker { .. } => "broker_error",
                PublishError::Nacked { .. } => "nacked",
                PublishError::Unroutable { .. } => "unroutable",
                PublishError::ConfirmsNotEnabled => "confirms_not_enabled",
            },
        }
    }

    /// `rejected` (the request's fault), `unavailable` (ours, retry later) or `error` (a bug).
    pub fn outcome(&self) -> &'static str {
        let status = self.status_code();
        if status.is_client_error() {
            "rejected"
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            "unavailable"
        } else {
            "error"
        }
    }
}

impl ResponseError for NotifyError {
    fn status_code(&self) -> StatusCode {
        match self {
            NotifyError::UnsupportedContentType(_)
            | NotifyError::BodyTooLarge
            | NotifyError::BodyRead(_)
            | NotifyError::Verify(_)
            | NotifyError::Field(_)
            | NotifyError::ForeignAppId { .. }
            | NotifyError::ForeignSellerId { .. }
            | NotifyError::UntrustedCertificate { .. } => StatusCode::BAD_REQUEST,
            NotifyError::BrokerUnavailable
            | NotifyError::ConfirmTimeout(_)
            | NotifyError::CertificateUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            NotifyError::Publish(error) => match error {
                PublishError::Broker { .. }
                | PublishError::Nacked { .. }
                | PublishError::Unroutable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                // Both mean this build is wrong, not that the broker is busy.
                PublishError::Encode(_) | PublishError::ConfirmsNotEnabled => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
        }
    }

    /// The cause stays in the logs; Alipay (and anyone probing) only ever reads `fail`.
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header(ContentType::plaintext())
            .body(FAIL_BODY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay::form::FormError;

    #[test]
    fn client_faults_are_400_and_broker_faults_503() {
        let rejected = [
            NotifyError::UnsupportedContentType("text/plain".into()),
            NotifyError::BodyTooLarge,
            NotifyError::Verify(VerifyError::MissingSign),
            NotifyError::Verify(VerifyError::Form(FormError::BadPercentEncoding {
                name: "a".into(),
            })),
            NotifyError::Field(FieldError::Missing("notify_id")),
            NotifyError::ForeignAppId {
                received: "1".into(),
            },
        ];
        for error in rejected {
            assert_eq!(error.status_code(), StatusCode::BAD_REQUEST, "{error}");
            assert_eq!(error.outcome(), "rejected");
        }
        let unavailable = [
            NotifyError::BrokerUnavailable,
            NotifyError::ConfirmTimeout(Duration::from_secs(1)),
            NotifyError::Publish(PublishError::Nacked {
                exchange: "x".into(),
            }),
            NotifyError::Publish(PublishError::Unroutable {
                exchange: "x".into(),
                routing_key: "order.paid".into(),
            }),
        ];
        for error in unavailable {
            assert_eq!(
                error.status_code(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{error}"
            );
            assert_eq!(error.outcome(), "unavailable");
        }
    }

    #[test]
    fn the_body_is_fail_whatever_the_cause() {
        let response = NotifyError::Verify(VerifyError::SignNotBase64).error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        assert_eq!(&body[..], b"fail");
    }

    #[test]
    fn reasons_name_the_verification_step() {
        assert_eq!(
            NotifyError::Verify(VerifyError::MissingSign).reason(),
            "missing_sign"
        );
        assert_eq!(
            NotifyError::Verify(VerifyError::Mismatch {
                string_to_verify: String::new()
            })
            .reason(),
            "signature_mismatch"
        );
        assert_eq!(
            NotifyError::Field(FieldError::Missing("app_id")).reason(),
            "missing_field"
        );
        assert_eq!(
            NotifyError::ForeignSellerId { received: None }.reason(),
            "foreign_seller_id"
        );
    }
}
