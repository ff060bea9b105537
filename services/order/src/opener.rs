//! New orders reach the database in batches. A writer task (one by default; `ORDER_WRITERS`)
//! takes every order that is waiting (up to [`MAX_BATCH`]) and opens them all with one statement:
//! one round trip, one statement start-up and one commit shared by the batch. Nothing waits for a
//! batch to fill: an order that arrives when a writer is idle goes at once, alone. Batches form
//! only when orders arrive faster than the database commits them, which is when sharing those
//! costs matters (PostgreSQL's CPU per pay link fell by about half at full load;
//! docs/capacity.md). More writers mean smaller batches: worth it only where a commit is slow
//! enough that one writer's batches would fill up.
//!
//! Why not a batching crate: the whole mechanism is tokio's own `recv_many` on a shared queue and
//! a oneshot answer per order. `batched`, the one made for this, waits out a time window for each
//! batch and keeps its queue in a static (one per process, so not one per test's service), and
//! this design avoids both.

use std::sync::Arc;

use diesel_async::AsyncPgConnection;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::db::PgPool;
use crate::metrics::Metrics;
use crate::repository::{self, NewOrder, Opened, Refusal, RepoError};

/// Most orders one statement opens. Bounds the statement's size and the time an order can wait
/// behind others; 64 orders of a few courses each take a few milliseconds.
pub const MAX_BATCH: usize = 64;

/// Orders that may wait for a writer before `open` itself waits: backpressure on the HTTP
/// workers rather than an unbounded queue.
const QUEUE_CAPACITY: usize = 1024;

/// Why an order could not be opened (a refusal under the course rules is not an error).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("taking a connection from the pool: {0}")]
    Pool(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("the order writers have stopped")]
    Stopped,
}

type Answer = Result<Result<Opened, Refusal>, OpenError>;

struct Job {
    order: NewOrder,
    answer: oneshot::Sender<Answer>,
}

/// The queue in front of the writers. Cheap to share; the writers stop once it is dropped and
/// the orders already queued are opened.
#[derive(Debug)]
pub struct Opener {
    queue: mpsc::Sender<Job>,
}

impl Opener {
    /// Starts `writers` writer tasks on the current runtime, each using one pooled connection
    /// while it opens a batch.
    pub fn start(pool: PgPool, writers: usize, metrics: Metrics) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..writers.max(1) {
            tokio::spawn(write(pool.clone(), jobs.clone(), metrics.clone()));
        }
        Self { queue }
    }

    /// Opens one order (in whatever batch it joins) and answers for it alone.
    pub async fn open(&self, order: NewOrder) -> Answer {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Job { order, answer })
            .await
            .map_err(|_| OpenError::Stopped)?;
        answered.await.map_err(|_| OpenError::Stopped)?
    }
}

/// One writer: take whatever is waiting, open it, answer, again.
async fn write(pool: PgPool, jobs: Arc<Mutex<mpsc::Receiver<Job>>>, metrics: Metrics) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // Holding the lock while waiting is the point: the idle writer that holds it takes the
        // next order at once, and the others queue behind it for the ones after.
        let received = jobs.lock().await.recv_many(&mut batch, MAX_BATCH).await;
        if received == 0 {
            return; // every sender is gone and the queue is empty
        }
        metrics.orders_opened_together(batch.len());
        match pool.get().await {
            Ok(mut conn) => open_batch(&mut conn, &mut batch).await,
            Err(error) => {
                let problem = error.to_string();
                for job in batch.drain(..) {
                    let _ = job.answer.send(Err(OpenError::Pool(problem.clone())));
                }
            }
        }
    }
}

/// Opens the batch and answers each order. If the statement fails, no order of the batch was
/// inserted (it is one transaction), and each is then opened alone on the same connection, so
/// that only an order at fault gets the error.
async fn open_batch(conn: &mut AsyncPgConnection, batch: &mut Vec<Job>) {
    let orders: Vec<&NewOrder> = batch.iter().map(|job| &job.order).collect();
    match repository::open_orders(conn, &orders).await {
        Ok(results) => {
            for (job, result) in batch.drain(..).zip(results) {
                // An order whose requester has gone stays opened; it expires unpaid.
                let _ = job.answer.send(Ok(result));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(job) = batch.pop() {
                let _ = job.answer.send(Err(error.into()));
            }
        }
        Err(_) => {
            for job in batch.drain(..) {
                let alone = repository::open_orders(conn, &[&job.order])
                    .await
                    .map(|mut results| results.remove(0));
                let _ = job.answer.send(alone.map_err(OpenError::from));
            }
        }
    }
}
