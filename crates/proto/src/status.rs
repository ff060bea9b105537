//! What travels beside the messages: Alipay's refusal in `FAILED_PRECONDITION` details, and the
//! request id in metadata.
//!
//! The detail is the plain prost encoding of [`AlipayErrorDetail`] in `Status::details` (not a
//! `google.rpc.Status` of `Any`s): one known type, read by our own client, so the wrapping would
//! add nothing but a dependency.

use prost::Message as _;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use crate::v1::AlipayErrorDetail;

/// Metadata key of the request id; the same name as the HTTP header and AMQP header
/// (`common::telemetry::REQUEST_ID_HEADER`), so the id keeps one name across every hop.
pub const REQUEST_ID_METADATA: &str = "x-request-id";

impl AlipayErrorDetail {
    /// `FAILED_PRECONDITION` carrying this detail; the message says what Alipay said.
    pub fn into_status(self) -> Status {
        let message = if self.sub_code.is_empty() {
            format!("alipay refused: {} {}", self.code, self.msg)
        } else {
            format!("alipay refused: {} {}", self.sub_code, self.sub_msg)
        };
        Status::with_details(
            Code::FailedPrecondition,
            message,
            self.encode_to_vec().into(),
        )
    }
}

/// Alipay's refusal inside a status, when the status is a `FAILED_PRECONDITION` that carries one.
pub fn alipay_error_detail(status: &Status) -> Option<AlipayErrorDetail> {
    if status.code() != Code::FailedPrecondition || status.details().is_empty() {
        return None;
    }
    AlipayErrorDetail::decode(status.details()).ok()
}

/// The caller's request id (server side), if it sent one as ASCII.
pub fn request_id(metadata: &MetadataMap) -> Option<&str> {
    metadata.get(REQUEST_ID_METADATA)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail() -> AlipayErrorDetail {
        AlipayErrorDetail {
            code: "40004".into(),
            msg: "Business Failed".into(),
            sub_code: "ACQ.TRADE_HAS_SUCCESS".into(),
            sub_msg: "交易已被支付".into(),
        }
    }

    #[test]
    fn detail_round_trips_through_a_status() {
        let status = detail().into_status();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(
            status.message().contains("ACQ.TRADE_HAS_SUCCESS"),
            "{}",
            status.message()
        );
        assert_eq!(alipay_error_detail(&status), Some(detail()));
    }

    #[test]
    fn message_falls_back_to_the_code_without_a_sub_code() {
        let status = AlipayErrorDetail {
            code: "20000".into(),
            msg: "Service Currently Unavailable".into(),
            ..AlipayErrorDetail::default()
        }
        .into_status();
        assert!(status.message().contains("20000"), "{}", status.message());
    }

    #[test]
    fn other_statuses_carry_no_detail() {
        assert_eq!(
            alipay_error_detail(&Status::failed_precondition("no details")),
            None
        );
        let wrong_code =
            Status::with_details(Code::Unavailable, "x", detail().encode_to_vec().into());
        assert_eq!(alipay_error_detail(&wrong_code), None);
    }

    #[test]
    fn request_id_is_read_from_metadata() {
        let mut metadata = MetadataMap::new();
        assert_eq!(request_id(&metadata), None);
        metadata.insert(REQUEST_ID_METADATA, "req-1".parse().unwrap());
        assert_eq!(request_id(&metadata), Some("req-1"));
    }
}
