//! Integration tests: the real order service on port 0, with a fresh PostgreSQL database per
//! test, per-test RabbitMQ names, and a real payment-gateway in front of the alipay-sandbox (see
//! `helpers`).

// Test support code: a setup step that fails must fail the test, loudly and at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod catalog;
mod consumer;
mod convergence;
mod end_to_end;
mod expiry;
mod helpers;
mod opener;
mod operations;
mod orders;
mod pay;
mod reconcile;
mod refunds;
mod success;
