//! What the load tools (`src/bin/*`) share, so each keeps only what it sends and what it reports
//! beyond latency:
//!
//! - [`args`]: the command-line pieces every tool takes (clap), and loopback-only targets;
//! - [`driver`]: N workers (a keep-alive connection or a caller each) issuing requests back to
//!   back, bounded in time and count, measured after a warm-up;
//! - [`http`]: the HTTP/1.1 worker (one connection per task, like wrk);
//! - [`report`]: latencies in an HDR histogram and the percentile line.
//!
//! Only loopback targets are accepted: these tools measure a service on the same machine.

pub mod args;
pub mod driver;
pub mod http;
pub mod report;

/// Errors of a measuring tool: reported, never handled.
pub type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// The local RabbitMQ's guest account.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
