//! The gateway's pay link, input, server API, resilience and operations tests of `tests/api`, run again with
//! `ALIPAY_API_VERSION=v3` against the sandbox's OpenAPI v3 endpoints (all seven RPCs, every
//! error mapping; pay links stay v2 whatever the setting), plus what only v3 has (`v3_only`): the sandbox refusing a bad signature, a stale
//! timestamp, a reused nonce and an unknown app, and the payment flow over v3.

// Test support code: a setup step that fails must fail the test, loudly and at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Read by the shared helpers: every gateway these tests start speaks v3.
pub const API_VERSION: payment_gateway::ApiVersion = payment_gateway::ApiVersion::V3;

// Shared with `tests/api`; some helpers serve only tests that run there.
#[path = "../api/bad_input.rs"]
mod bad_input;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/pay_links.rs"]
mod pay_links;
#[path = "../api/resilience.rs"]
mod resilience;
#[path = "../api/server_apis.rs"]
mod server_apis;
// Its log-capture test sets a thread-local subscriber: run it as the project does, one process
// per test (`cargo nextest`); under plain `cargo test`'s shared process it can catch a line
// without its span while other tests run beside it (seen only in this binary).
#[path = "../api/operations.rs"]
mod operations;
mod v3_only;
