//! N workers issuing requests back to back (each waits for its answer before the next, as wrk
//! does per connection), bounded in time and in count; only requests sent after the warm-up are
//! measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::AnyError;
use crate::report::Latencies;

/// When measuring starts and when the run stops.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub measure_from: Instant,
    pub stop_at: Instant,
}

impl Window {
    pub fn starting_in(warmup: Duration, duration: Duration) -> Self {
        let measure_from = Instant::now() + warmup;
        Self {
            measure_from,
            stop_at: measure_from + duration,
        }
    }

    /// How long was measured: up to now, or to the stop if the run lasted that long.
    pub fn measured(&self) -> Duration {
        Instant::now()
            .min(self.stop_at)
            .saturating_duration_since(self.measure_from)
    }
}

/// What became of one request.
#[derive(Debug)]
pub enum Answer {
    /// What the tool counts as done: measured.
    Success,
    /// An answer, but not a success: an HTTP status, or a gRPC code, and what it said.
    Failure { code: u16, detail: String },
    /// The connection broke: the worker stops.
    Broken,
}

/// One connection (or caller) of a run.
pub trait Worker: Send + 'static {
    fn call(&mut self) -> impl Future<Output = Answer> + Send;
}

/// What a run (or one worker) saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Measured successes.
    pub latencies: Latencies,
    /// Measured failures by code.
    pub failures: BTreeMap<u16, u64>,
    /// The first failure's detail.
    pub first_failure: Option<String>,
    /// Connections that broke.
    pub broken: u64,
    /// Workers that never connected.
    pub connect_errors: u64,
}

impl Tally {
    /// Failures by code, as `[(code, count), …]`.
    pub fn failures_by_code(&self) -> Vec<(u16, u64)> {
        self.failures.iter().map(|(&code, &n)| (code, n)).collect()
    }

    pub fn failure_count(&self) -> u64 {
        self.failures.values().sum()
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.merge(&other.latencies);
        for (code, count) in other.failures {
            *self.failures.entry(code).or_default() += count;
        }
        self.first_failure = self.first_failure.take().or(other.first_failure);
        self.broken += other.broken;
        self.connect_errors += other.connect_errors;
    }
}

/// Runs `workers` workers, made by `connect(index)`, until `window.stop_at` or until
/// `max_requests` were issued in all, and sums what they saw. A worker that cannot connect is
/// reported on stderr and counted.
pub async fn run<W, F, Fut>(workers: usize, window: Window, max_requests: u64, connect: F) -> Tally
where
    W: Worker,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<W, AnyError>> + Send + 'static,
{
    let issued = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|index| {
            let connecting = connect(index);
            let issued = issued.clone();
            tokio::spawn(async move {
                let worker = connecting.await?;
                Ok::<_, AnyError>(work(worker, window, &issued, max_requests).await)
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok(Ok(tally)) => total.merge(tally),
            Ok(Err(error)) => {
                total.connect_errors += 1;
                eprintln!("a connection failed: {error}");
            }
            Err(error) => {
                total.connect_errors += 1;
                eprintln!("a worker failed: {error}");
            }
        }
    }
    total
}

async fn work<W: Worker>(
    mut worker: W,
    window: Window,
    issued: &AtomicU64,
    max_requests: u64,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        if Instant::now() >= window.stop_at
            || issued.fetch_add(1, Ordering::Relaxed) >= max_requests
        {
            return tally;
        }
        let sent = Instant::now();
        let answer = worker.call().await;
        let elapsed = sent.elapsed();
        match answer {
            Answer::Broken => {
                tally.broken += 1;
                return tally;
            }
            _ if sent < window.measure_from => {}
            Answer::Success => tally.latencies.record(elapsed),
            Answer::Failure { code, detail } => {
                *tally.failures.entry(code).or_default() += 1;
                tally.first_failure.get_or_insert(detail);
            }
        }
    }
}
