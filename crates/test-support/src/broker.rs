//! RabbitMQ names of one test's own: every exchange and queue under a `t-<uuid>.` prefix (Svix's
//! queue prefixes), deleted when the guard is dropped, so tests run in parallel on one broker.

use std::ops::Deref;
use std::sync::Mutex;

use common::amqp::Topology;
use lapin::options::{ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Channel, Connection, ConnectionProperties};

use crate::env::amqp_url;

/// The payment topology under a fresh `t-<uuid>.` prefix. Dereferences to the [`Topology`].
#[derive(Debug)]
pub struct TestTopology {
    prefix: String,
    topology: Topology,
    /// Queues a test declared itself (its own bindings), deleted with the rest.
    extra_queues: Mutex<Vec<String>>,
}

impl TestTopology {
    /// Fresh names; nothing is declared yet.
    pub fn new() -> Self {
        let prefix = format!("t-{}.", uuid::Uuid::new_v4().simple());
        Self {
            topology: Topology::with_prefix(&prefix),
            prefix,
            extra_queues: Mutex::new(Vec::new()),
        }
    }

    /// `t-<uuid>.`: the services' `AMQP_PREFIX`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Deletes `queue` too when the guard is dropped.
    pub fn delete_also(&self, queue: impl Into<String>) {
        self.extra_queues.lock().unwrap().push(queue.into());
    }
}

impl Default for TestTopology {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for TestTopology {
    type Target = Topology;

    fn deref(&self) -> &Topology {
        &self.topology
    }
}

/// A connection to the test broker.
pub async fn connect() -> Connection {
    Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ must be running for these tests")
}

/// A channel in publisher-confirm mode, as the services publish.
pub async fn confirm_channel(connection: &Connection) -> Channel {
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
}

impl Drop for TestTopology {
    fn drop(&mut self) {
        let topology = self.topology.clone();
        let extra_queues =
            std::mem::take(&mut *self.extra_queues.lock().unwrap_or_else(|e| e.into_inner()));
        crate::block_on_own_runtime(delete(topology, extra_queues));
    }
}

/// Deletes every queue and exchange, each on a fresh channel (a failed deletion closes its
/// channel), ignoring ones that do not exist.
async fn delete(topology: Topology, extra_queues: Vec<String>) {
    let Ok(connection) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await
    else {
        return;
    };
    let queues = [topology.queue.clone(), topology.dead_queue.clone()]
        .into_iter()
        .chain(extra_queues);
    for queue in queues {
        if let Ok(channel) = connection.create_channel().await {
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
    for exchange in [&topology.exchange, &topology.dlx] {
        if let Ok(channel) = connection.create_channel().await {
            let _ = channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
    let _ = connection.close(200, "test cleanup".into()).await;
}
