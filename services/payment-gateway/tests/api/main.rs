//! Integration tests: the real gateway on port 0 against an in-process alipay-sandbox on port 0,
//! called through `payment_proto::GatewayClient` (see `helpers`).

// Test support code: a setup step that fails must fail the test, loudly and at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The protocol of the gateway's server calls in this binary; `tests/api_v3` runs the server
/// API and resilience tests again with v3.
pub const API_VERSION: payment_gateway::ApiVersion = payment_gateway::ApiVersion::V2;

mod bad_input;
mod certificate_mode;
mod command_line;
mod helpers;
mod operations;
mod pay_links;
mod resilience;
mod server_apis;
