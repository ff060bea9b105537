//! alipay-sandbox: an offline Alipay that speaks the real `gateway.do` protocol.
//!
//! Used by the local run, `docker compose up`, and as a dev-dependency by the other services'
//! tests, which start one in-process on port 0 (see the README's "Library API").
//!
//! Modules:
//! - [`cli`]: the command line, whose generated `--help` lists every variable;
//! - [`settings`]: configuration from the environment or built in code;
//! - [`startup`]: [`Application`] (build, run, spawn) and [`RunningSandbox`];
//! - `gateway`: `/gateway.do` — request authentication, the server APIs, page/wap pay;
//! - [`signing`]: everything the sandbox signs, as pure functions (checked against the vectors);
//! - `trade`: trades and Alipay's rules for them, in memory;
//! - `notify`: asynchronous notifications on Alipay's retry schedule;
//! - [`faults`]: fault injection;
//! - `bill`: bill download URLs and the zipped GBK CSV bills;
//! - `test_api`: `/sandbox/*`;
//! - `html`, `actions`, `state`, `metrics`, `error`: pages, cashier actions, shared state,
//!   counters, and the one HTTP error type.

mod actions;
mod bill;
pub mod cli;
mod error;
pub mod faults;
mod gateway;
mod html;
mod metrics;
mod notify;
pub mod pki;
pub mod settings;
pub mod signing;
pub mod startup;
mod state;
mod test_api;
mod trade;
mod v3;

#[cfg(test)]
mod fidelity;

pub use faults::Faults;
pub use notify::SCHEDULE_SECS;
pub use settings::{AppRegistration, Settings};
pub use startup::{Application, RunningSandbox, StartupError};
