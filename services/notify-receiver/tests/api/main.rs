//! Integration tests: the real receiver on port 0, the real RabbitMQ, per-test exchange and queue
//! names (see `helpers`).

// Test support code: a setup step that fails must fail the test, loudly and at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod certificate_mode;
mod command_line;
mod helpers;
mod notify;
mod operations;
mod proxy;
mod resilience;
mod sandbox;
mod vectors;
