//! The one error type of the gRPC service, and its mapping to `tonic::Status` (in one place:
//! `From<GatewayError> for Status`).
//!
//! | error | code | why |
//! |---|---|---|
//! | our caller's input | `INVALID_ARGUMENT` | the message names the field |
//! | Alipay's verified refusal | `FAILED_PRECONDITION` + `AlipayErrorDetail` | a business answer |
//! | Alipay's unsigned refusal (bad app id, our signature refused) | `FAILED_PRECONDITION` + detail | a refusal can only stop a call, never confirm one, so its text is safe to pass on |
//! | network, timeout, HTTP 5xx, Alipay's "outcome unknown" (`20000`, `ACQ.SYSTEM_ERROR`) | `UNAVAILABLE` | safe to retry (a refund with the same `out_request_no`) |
//! | a response that does not verify or parse, or names a rotated Alipay certificate that fails its checks | `DATA_LOSS` | never trusted, never acted upon |
//! | `GetAlipayCertificate` while the gateway is in public-key mode | `FAILED_PRECONDITION` | a configuration mismatch between the services |
//! | a bug on our side | `INTERNAL` | the cause is logged, not sent |

use alipay::client::ClientError;
use alipay::request::{InvalidNumber, RequestError};
use alipay::response::{AlipayError, ResponseError};
use payment_proto::v1::AlipayErrorDetail;
use tonic::{Code, Status};

/// Why an RPC failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{field}: {problem}")]
    InvalidArgument {
        field: &'static str,
        problem: String,
    },
    #[error("alipay refused: {0}")]
    Refused(AlipayError),
    #[error("alipay refused without signing (code {code}, sub_code {sub_code})")]
    UnsignedRefusal { code: String, sub_code: String },
    #[error("alipay could not be reached: {0}")]
    Unavailable(String),
    #[error("alipay's outcome is unknown: {0}")]
    UnknownOutcome(AlipayError),
    #[error("alipay's response cannot be trusted: {0}")]
    Untrusted(ResponseError),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the gateway is in public-key mode: it holds no Alipay certificates")]
    NotCertificateMode,
}

impl GatewayError {
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        GatewayError::InvalidArgument {
            field,
            problem: problem.into(),
        }
    }

    /// The gRPC code this error is answered with.
    pub fn code(&self) -> Code {
        match self {
            GatewayError::InvalidArgument { .. } => Code::InvalidArgument,
            GatewayError::Refused(_) | GatewayError::UnsignedRefusal { .. } => {
                Code::FailedPrecondition
            }
            GatewayError::Unavailable(_) | GatewayError::UnknownOutcome(_) => Code::Unavailable,
            GatewayError::Untrusted(_) => Code::DataLoss,
            GatewayError::Internal(_) => Code::Internal,
            GatewayError::NotCertificateMode => Code::FailedPrecondition,
        }
    }
}

impl From<RequestError> for GatewayError {
    /// The alipay crate's builders check the rest of our input; each error names its field.
    fn from(error: RequestError) -> Self {
        let field = match &error {
            RequestError::OutTradeNo(_) => "out_trade_no",
            RequestError::OutRequestNo(_) => "out_request_no",
            RequestError::Subject(_) => "subject",
            RequestError::TimeExpireFormat(_) | RequestError::TimeExpireInPast(_) => "time_expire",
            RequestError::TooLong { field, .. } => field,
            RequestError::Url(field) => field,
            RequestError::MissingTradeReference => "out_trade_no",
            RequestError::BillDate(_) => "bill_date",
            RequestError::BizContent(_) | RequestError::Sign(_) => {
                return GatewayError::Internal(error.to_string());
            }
        };
        GatewayError::invalid(field, error.to_string())
    }
}

/// A merchant number refused at the edge reads as the request builder's refusal of it.
impl From<InvalidNumber> for GatewayError {
    fn from(error: InvalidNumber) -> Self {
        RequestError::from(error).into()
    }
}

impl From<ClientError> for GatewayError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::InvalidRequest(error) => error.into(),
            ClientError::Unavailable(reason) => GatewayError::Unavailable(reason),
            ClientError::Untrusted(ResponseError::Unsigned { code, sub_code }) => {
                GatewayError::UnsignedRefusal {
                    code: code.unwrap_or_default(),
                    sub_code: sub_code.unwrap_or_default(),
                }
            }
            ClientError::Untrusted(error) => GatewayError::Untrusted(error),
            ClientError::Alipay(error) if error.is_unknown_outcome() => {
                GatewayError::UnknownOutcome(error)
            }
            ClientError::Alipay(error) => GatewayError::Refused(error),
        }
    }
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::InvalidArgument { field, problem } => {
                Status::invalid_argument(format!("{field}: {problem}"))
            }
            GatewayError::Refused(error) => AlipayErrorDetail {
                code: error.code,
                msg: error.msg,
                sub_code: error.sub_code_text,
                sub_msg: error.sub_msg,
            }
            .into_status(),
            GatewayError::UnsignedRefusal { code, sub_code } => AlipayErrorDetail {
                code,
                msg: "unsigned refusal".into(),
                sub_code,
                sub_msg: "alipay refused the request before authenticating it (check the app id \
                          and that the app public key is uploaded)"
                    .into(),
            }
            .into_status(),
            GatewayError::Unavailable(reason) => {
                Status::unavailable(format!("alipay could not be reached: {reason}"))
            }
            GatewayError::UnknownOutcome(error) => Status::unavailable(format!(
                "alipay's outcome is unknown ({} {}); retry, or query",
                error.code, error.sub_code_text
            )),
            // The content that failed is logged by the caller of this conversion, not sent.
            GatewayError::Untrusted(error) => Status::data_loss(format!(
                "alipay's response cannot be trusted: {}",
                untrusted_reason(&error)
            )),
            GatewayError::Internal(_) => Status::internal("internal error (see the gateway's log)"),
            GatewayError::NotCertificateMode => Status::failed_precondition(
                "the gateway is in public-key mode (ALIPAY_APP_CERT is not set), so it holds no \
                 Alipay certificates",
            ),
        }
    }
}

/// A short reason without the response's content.
fn untrusted_reason(error: &ResponseError) -> String {
    match error {
        ResponseError::BadSignature { reason, .. } => format!("signature invalid ({reason})"),
        ResponseError::NotJson
        | ResponseError::MissingNode { .. }
        | ResponseError::DuplicateNode { .. }
        | ResponseError::UnterminatedNode
        | ResponseError::Unsigned { .. }
        | ResponseError::Parse(_)
        | ResponseError::UnknownCertSn { .. }
        | ResponseError::UntrustedCertificate { .. }
        | ResponseError::EncryptedWithoutKey => error.to_string(),
        // The AES error names no content.
        ResponseError::Decrypt(_) => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay::response::{Status as AlipayStatus, SubCode};
    use alipay::sign::SignatureError;

    fn refusal(code: &str, sub_code: &str) -> AlipayError {
        AlipayError::from_status(AlipayStatus {
            code: code.into(),
            msg: "Business Failed".into(),
            sub_code: Some(sub_code.into()),
            sub_msg: Some("交易状态不合法".into()),
        })
    }

    #[test]
    fn each_kind_has_its_code() {
        let cases = [
            (
                GatewayError::from(RequestError::OutTradeNo("a-b".into())),
                Code::InvalidArgument,
            ),
            (
                ClientError::Alipay(refusal("40004", "ACQ.TRADE_STATUS_ERROR")).into(),
                Code::FailedPrecondition,
            ),
            (
                ClientError::Alipay(refusal("20000", "isp.unknow-error")).into(),
                Code::Unavailable,
            ),
            (
                ClientError::Unavailable("timed out".into()).into(),
                Code::Unavailable,
            ),
            (
                ClientError::Untrusted(ResponseError::BadSignature {
                    reason: SignatureError::Mismatch,
                    content: "{}".into(),
                })
                .into(),
                Code::DataLoss,
            ),
            (
                ClientError::Untrusted(ResponseError::Unsigned {
                    code: Some("40002".into()),
                    sub_code: Some("isv.invalid-signature".into()),
                })
                .into(),
                Code::FailedPrecondition,
            ),
            (
                GatewayError::from(RequestError::BizContent("x".into())),
                Code::Internal,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
            assert_eq!(Status::from(error).code(), code);
        }
    }

    #[test]
    fn refusals_carry_alipays_sub_code() {
        let status = Status::from(GatewayError::from(ClientError::Alipay(refusal(
            "40004",
            "ACQ.TRADE_STATUS_ERROR",
        ))));
        let detail = payment_proto::alipay_error_detail(&status).unwrap();
        assert_eq!(detail.code, "40004");
        assert_eq!(detail.sub_code, "ACQ.TRADE_STATUS_ERROR");
        assert_eq!(detail.sub_msg, "交易状态不合法");
        assert_eq!(
            refusal("40004", "ACQ.TRADE_STATUS_ERROR").sub_code,
            SubCode::TradeStatusError
        );
    }

    #[test]
    fn field_errors_name_the_field() {
        for (error, field) in [
            (RequestError::Subject("a/b".into()), "subject"),
            (RequestError::TimeExpireInPast("x".into()), "time_expire"),
            (RequestError::Url("notify_url"), "notify_url"),
            (
                RequestError::TooLong {
                    field: "body",
                    max: 128,
                },
                "body",
            ),
            (RequestError::BillDate("x".into()), "bill_date"),
            (RequestError::OutRequestNo("x y".into()), "out_request_no"),
        ] {
            let status = Status::from(GatewayError::from(error));
            assert!(status.message().starts_with(field), "{}", status.message());
        }
    }

    #[test]
    fn untrusted_content_is_not_sent() {
        let status = Status::from(GatewayError::Untrusted(ResponseError::BadSignature {
            reason: SignatureError::Mismatch,
            content: "{\"buyer_logon_id\":\"secret\"}".into(),
        }));
        assert!(!status.message().contains("secret"), "{}", status.message());
    }
}
