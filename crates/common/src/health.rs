//! The one body every service answers `/healthz` and `/readyz` with, so that probes, dashboards
//! and people read the same thing everywhere:
//!
//! ```json
//! {"status":"ok"}                                                      // /healthz: alive
//! {"status":"ready","checks":{"database":true,"broker":true}}          // /readyz: 200
//! {"status":"not ready","checks":{"database":false,"broker":true}}     // /readyz: 503
//! ```
//!
//! `checks` names each dependency the service needs to do its work right now; a service with
//! none (the sandbox) sends an empty object.

use std::collections::BTreeMap;

use serde::Serialize;

/// The `Content-Type` of a health body.
pub const CONTENT_TYPE: &str = "application/json";

/// A `/healthz` or `/readyz` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// `ok` (alive), `ready` or `not ready`.
    pub status: &'static str,
    /// Each dependency and whether it answers; absent from `/healthz`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<BTreeMap<&'static str, bool>>,
}

impl HealthReport {
    /// `/healthz`: the process is up and serving.
    pub fn alive() -> Self {
        Self {
            status: "ok",
            checks: None,
        }
    }

    /// `/readyz`: ready when every check passes.
    pub fn readiness<I: IntoIterator<Item = (&'static str, bool)>>(checks: I) -> Self {
        let checks: BTreeMap<_, _> = checks.into_iter().collect();
        let ready = checks.values().all(|passed| *passed);
        Self {
            status: if ready { "ready" } else { "not ready" },
            checks: Some(checks),
        }
    }

    /// Whether this answers 200 (alive or ready) rather than 503.
    pub fn is_healthy(&self) -> bool {
        self.status != "not ready"
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        // A struct of strings and booleans always serializes.
        serde_json::to_string(self)
            .unwrap_or_else(|_| format!("{{\"status\":\"{}\"}}", self.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes() {
        assert_eq!(HealthReport::alive().to_json(), r#"{"status":"ok"}"#);
        let ready = HealthReport::readiness([("database", true), ("broker", true)]);
        assert!(ready.is_healthy());
        assert_eq!(
            ready.to_json(),
            r#"{"status":"ready","checks":{"broker":true,"database":true}}"#
        );
        let not_ready = HealthReport::readiness([("database", false), ("broker", true)]);
        assert!(!not_ready.is_healthy());
        assert_eq!(
            not_ready.to_json(),
            r#"{"status":"not ready","checks":{"broker":true,"database":false}}"#
        );
        assert_eq!(
            HealthReport::readiness([]).to_json(),
            r#"{"status":"ready","checks":{}}"#
        );
    }
}
