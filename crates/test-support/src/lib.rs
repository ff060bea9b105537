//! What the services' integration tests (`services/*/tests`), the end-to-end tests (`tests/e2e`)
//! and the examples share, so each harness keeps only what is its own:
//!
//! - [`env`]: where the test PostgreSQL and RabbitMQ are (`TEST_POSTGRES_URL`, `AMQP_URL`);
//! - [`database`]: a fresh database per test, migrated by the service, dropped when the guard is;
//! - [`broker`]: per-test AMQP names (`t-<uuid>.`), deleted when the guard is dropped;
//! - [`wait`]: [`eventually`] with a deadline and a failure message that says what was awaited;
//! - [`keys`]: the alipay crate's TEST-ONLY keys, certificates and app ids;
//! - [`sandbox_api`]: a typed client for the sandbox's test API (`/sandbox/...`);
//! - [`services`]: each of the four services started in-process on port 0;
//! - [`stack`]: sandbox → gateway → notify-receiver wired as the order service sees them, the
//!   same for the order service's tests and the end-to-end tests.
//!
//! Clean-up runs in `Drop` (on a thread with a runtime of its own: the test's runtime may be
//! unwinding), so it happens even when a test panicked.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: failing loudly is the point

pub mod broker;
pub mod database;
pub mod env;
pub mod keys;
pub mod sandbox_api;
pub mod services;
pub mod stack;
pub mod wait;

pub use broker::TestTopology;
pub use database::TestDatabase;
pub use sandbox_api::{SandboxApi, TestApiError};
pub use wait::{Patience, eventually, eventually_ok};

/// Runs `cleanup` to completion on a thread with a runtime of its own: `Drop` cannot await, and
/// the test's runtime may be shutting down (a panicking test unwinds through it).
pub(crate) fn block_on_own_runtime<F>(cleanup: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(cleanup);
        }
    })
    .join();
}
