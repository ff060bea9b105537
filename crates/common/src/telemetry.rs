//! Structured JSON logs and the request id that ties one payment's log lines together.
//!
//! A payment crosses three services (HTTP → gRPC metadata → AMQP headers); the same
//! [`RequestId`] is carried in [`REQUEST_ID_HEADER`] on each hop so one search finds every line.

use std::fmt;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// Header (HTTP), metadata key (gRPC) and AMQP header name carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id accepted from a caller; longer values are replaced, not truncated, so a
/// client cannot flood logs through this header.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Installs the global JSON subscriber, filtered by `RUST_LOG` (default `info`).
///
/// Idempotent: the first call installs it and returns `true`; later calls (other tests in the
/// same process, or a library that initialised tracing first) do nothing and return `false`.
pub fn init() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let mut first = false;
    INSTALLED.get_or_init(|| {
        first = install();
        first
    });
    first
}

fn install() -> bool {
    let rust_log_set = std::env::var_os(EnvFilter::DEFAULT_ENV).is_some();
    let (filter, invalid) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, None),
        Err(error) => (
            EnvFilter::new("info"),
            rust_log_set.then(|| error.to_string()),
        ),
    };
    let installed = tracing_subscriber::fmt()
        .json()
        // Fields at the top level, so log queries read `out_trade_no`, not `fields.out_trade_no`.
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        // A log line that cannot be written (stdout closed, say) is dropped. Otherwise the crate
        // reports it with `eprintln!`, which panics when stderr is closed too, and a panic in
        // the task that logs the shutdown signal would leave the process deaf to SIGTERM.
        .log_internal_errors(false)
        .try_init()
        .is_ok();
    if let Some(error) = invalid {
        // Said after install so the warning itself is visible in the JSON stream.
        tracing::warn!(%error, "RUST_LOG is invalid, logging at info");
    }
    installed
}

/// A request id: visible ASCII, 1 to [`MAX_REQUEST_ID_LEN`] bytes.
///
/// Ids arriving from outside are checked before they reach headers and logs, because a control
/// character would break an HTTP/gRPC header and forge log lines.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh id: a UUID v7, so ids sort by creation time.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// Accepts a caller's id if it is safe to echo; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let acceptable = !text.is_empty()
            && text.len() <= MAX_REQUEST_ID_LEN
            && text.bytes().all(|b| b.is_ascii_graphic());
        acceptable.then(|| Self(text.to_owned()))
    }

    /// The caller's id when present and valid, else a new one.
    pub fn from_header_or_generate(value: Option<&str>) -> Self {
        value.and_then(Self::parse).unwrap_or_else(Self::generate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

impl AsRef<str> for RequestId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_is_idempotent() {
        // Whether this first call installs depends on which test ran first in this process.
        init();
        assert!(!init(), "a second call must not install again");
        tracing::info!(out_trade_no = "T1", "telemetry works after init");
    }

    #[test]
    fn generated_ids_are_uuid_v7() {
        let id = RequestId::generate();
        let parsed = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        assert_ne!(RequestId::generate(), id);
    }

    #[test]
    fn incoming_ids_are_kept_when_safe() {
        let kept = RequestId::from_header_or_generate(Some("abc-123"));
        assert_eq!(kept.as_str(), "abc-123");

        for unsafe_id in [
            "",
            "has space",
            "new\nline",
            "é",
            &"x".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            let replaced = RequestId::from_header_or_generate(Some(unsafe_id));
            assert_ne!(replaced.as_str(), unsafe_id);
            assert!(uuid::Uuid::parse_str(replaced.as_str()).is_ok());
        }
        assert!(RequestId::parse(&"x".repeat(MAX_REQUEST_ID_LEN)).is_some());
        assert!(uuid::Uuid::parse_str(RequestId::from_header_or_generate(None).as_str()).is_ok());
    }
}
