//! The sandbox over real HTTP on port 0: one test binary, one module per area.

// Test helpers outside `#[test]` functions panic on purpose: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_requests;
mod command_line;
mod faults;
mod helpers;
mod page_pay;
mod server_apis;
mod test_api;
mod v3;
mod vectors;
