//! Waiting for something that happens in the background (a consumer attaching, a notification
//! being acknowledged): poll, with a deadline, and fail saying what never happened.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

/// How long to wait and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    pub timeout: Duration,
    pub interval: Duration,
}

impl Patience {
    pub const fn new(timeout: Duration, interval: Duration) -> Self {
        Self { timeout, interval }
    }
}

impl Default for Patience {
    /// 15 s, looking every 20 ms: generous for a loaded 2-core machine, quick when all is well.
    fn default() -> Self {
        Self::new(Duration::from_secs(15), Duration::from_millis(20))
    }
}

/// Polls `condition` until it holds; panics after `patience.timeout` with
/// "timed out after …s waiting until {what}".
pub async fn eventually<F, Fut>(what: &str, patience: Patience, condition: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_ok(what, patience, || async {
        if condition().await {
            Ok(())
        } else {
            Err("not yet")
        }
    })
    .await;
}

/// Polls `probe` until it returns `Ok`, and returns that value; panics after
/// `patience.timeout` with what was awaited and the last `Err` seen (what the probe saw instead).
pub async fn eventually_ok<T, E, F, Fut>(what: &str, patience: Patience, probe: F) -> T
where
    E: Display,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    loop {
        let last = match probe().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        if started.elapsed() >= patience.timeout {
            panic!(
                "timed out after {:.1}s waiting until {what}; last seen: {last}",
                patience.timeout.as_secs_f64()
            );
        }
        tokio::time::sleep(patience.interval).await;
    }
}
