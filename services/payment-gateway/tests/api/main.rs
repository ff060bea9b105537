//! Integration tests: the real gateway on port 0 against an in-process alipay-sandbox on port 0,
//! called through `payment_proto::GatewayClient` (see `helpers`).

// Test support code: a setup step that fails must fail the test, loudly and at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod certificate_mode;
mod command_line;
mod helpers;
mod operations;
mod pay_links;
mod resilience;
mod server_apis;
