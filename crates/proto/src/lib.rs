//! The gRPC contract of the payment gateway (`proto/payment/v1/gateway.proto`).
//!
//! - [`v1`]: the generated messages, the `PaymentGateway` server trait
//!   (`v1::payment_gateway_server`) and raw client (`v1::payment_gateway_client`).
//! - [`GatewayClient`]: what callers use: a lazily connecting client with timeouts that puts the
//!   request id into every call's metadata.
//! - [`status`]: Alipay's refusal ([`v1::AlipayErrorDetail`]) in and out of `tonic::Status`
//!   details, and the request id from metadata on the server side.
//! - Conversions at the boundary: [`v1::TradeStatus`] and Alipay's status names, instants and
//!   `google.protobuf.Timestamp` ([`timestamp`], [`instant`]), amounts and `Money`.
//! - [`FILE_DESCRIPTOR_SET`] for gRPC server reflection (grpcurl works without the .proto).

mod client;
mod convert;
pub mod status;

pub use client::GatewayClient;
pub use convert::{instant, timestamp};
pub use status::{REQUEST_ID_METADATA, alipay_error_detail, request_id};

/// Generated from `payment.v1`.
pub mod v1 {
    tonic::include_proto!("payment.v1");
}

/// The encoded `FileDescriptorSet` of `payment.v1` (with imports and comments), for
/// `tonic_reflection::server::Builder::register_encoded_file_descriptor_set`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/payment_v1_descriptor.bin"));
