//! The RabbitMQ side: a few confirm-mode channels on one connection, shared by every HTTP worker,
//! and the supervisor task that (re)opens them.
//!
//! Handlers never connect and never open a channel. They take the next channel of the current
//! set from [`Publisher`] (lock-free, round robin), publish and await the broker's confirm; lapin
//! pipelines many publishes and their confirms on one channel, so concurrent requests do not wait
//! for each other. More than one channel lets RabbitMQ spread the work over its schedulers (each
//! channel is one Erlang process). While there is no channel, or the broker does not confirm in
//! time, a handler answers 503 and Alipay retries later.
//!
//! The supervisor owns the connection: it connects, declares the exchange, opens the channels in
//! confirm mode, installs them, then watches the connection (lapin's error events, a short status
//! poll, and a nudge from any handler whose publish failed). When the connection or any channel is
//! lost it uninstalls them (so `/readyz` turns not-ready at once) and reconnects with jittered
//! exponential backoff, for as long as the process runs.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use common::amqp::{self, PublishError, Topology, TopologyError};
use common::config::{ExposeSecret, SecretString};
use common::events::PaymentEventV2;
use futures_util::{Stream, StreamExt};
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties, ConnectionStatus, Event};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::NotifyError;
use crate::metrics::Metrics;

/// Upper bound on one connection attempt (TCP + AMQP handshake + declarations). A firewall that
/// drops packets would otherwise hold an attempt for the OS's TCP timeout (minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the supervisor looks at the connection even without an event: the cheap backstop for
/// a close that lapin reports only through the status.
const HEALTH_POLL: Duration = Duration::from_millis(250);
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A session that lived at least this long counts as healthy, and resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What handlers publish with. Cheap to clone; every clone sees the same current channel.
#[derive(Debug, Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The channels of the current connection, or `None` while (re)connecting. Swapped only by
    /// the supervisor, read on every request by every worker thread; an `ArcSwap` makes that read
    /// a few atomic operations instead of a lock the workers would contend on.
    live: ArcSwapOption<Live>,
    /// How many channels each connection opens.
    channel_count: usize,
    topology: Topology,
    confirm_timeout: Duration,
    /// A handler whose publish failed at the broker wakes the supervisor through this, so a dead
    /// connection is replaced now rather than at the next poll.
    trouble: Notify,
    connection_name: String,
    metrics: Metrics,
}

#[derive(Debug)]
struct Live {
    /// Never empty.
    channels: Vec<Channel>,
    /// Round-robin cursor over `channels`.
    next: AtomicUsize,
    connection: ConnectionStatus,
}

impl Live {
    fn channel(&self) -> &Channel {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        &self.channels[index]
    }
}

impl Publisher {
    /// `channel_count` is clamped to at least 1.
    pub fn new(
        topology: Topology,
        channel_count: usize,
        confirm_timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                live: ArcSwapOption::empty(),
                channel_count: channel_count.max(1),
                topology,
                confirm_timeout,
                trouble: Notify::new(),
                // Unique per process, so an operator (or a test) can find and close exactly this
                // replica's connection in RabbitMQ.
                connection_name: format!("notify-receiver {}", uuid::Uuid::now_v7()),
                metrics,
            }),
        }
    }

    /// Whether a publish could be confirmed now: connected, channels open, and RabbitMQ not
    /// blocking publishers (a memory or disk alarm).
    pub fn is_ready(&self) -> bool {
        self.shared.live.load().as_ref().is_some_and(|live| {
            live.connection.connected()
                && !live.connection.blocked()
                && live
                    .channels
                    .iter()
                    .all(|channel| channel.status().connected())
        })
    }

    /// The `connection_name` client property this process shows in RabbitMQ.
    pub fn connection_name(&self) -> &str {
        &self.shared.connection_name
    }

    /// Publishes `event` (persistent, mandatory) and waits for the broker's confirm, at most the
    /// configured timeout. `Ok` means RabbitMQ has taken responsibility for the message.
    pub async fn publish(
        &self,
        event: &PaymentEventV2,
        request_id: &str,
    ) -> Result<(), NotifyError> {
        let live = self.live()?;
        self.confirmed(amqp::publish_event(
            live.channel(),
            &self.shared.topology,
            event,
            Some(request_id),
        ))
        .await
    }

    /// Publishes a hint that an order should be asked about now (see
    /// [`common::events::SyncRequestV1`]), confirmed like an event.
    pub async fn publish_sync_request(
        &self,
        request: &common::events::SyncRequestV1,
        request_id: &str,
    ) -> Result<(), NotifyError> {
        let live = self.live()?;
        self.confirmed(amqp::publish_sync_request(
            live.channel(),
            &self.shared.topology,
            request,
            Some(request_id),
        ))
        .await
    }

    /// The channels in use now, or 503 when the broker is away.
    fn live(&self) -> Result<Arc<Live>, NotifyError> {
        self.shared
            .live
            .load_full()
            .ok_or(NotifyError::BrokerUnavailable)
    }

    /// Waits for a publish's confirm, at most the configured timeout; a broker error or a
    /// timeout tells the supervisor to look at the connection.
    async fn confirmed(
        &self,
        publish: impl Future<Output = Result<(), PublishError>>,
    ) -> Result<(), NotifyError> {
        let started = Instant::now();
        match tokio::time::timeout(self.shared.confirm_timeout, publish).await {
            Ok(Ok(())) => {
                self.shared.metrics.confirmed_after(started.elapsed());
                Ok(())
            }
            Ok(Err(error)) => {
                if matches!(error, PublishError::Broker { .. }) {
                    self.shared.trouble.notify_one();
                }
                Err(error.into())
            }
            Err(_elapsed) => {
                // Dropping the publish future is safe: lapin keeps the pending confirm, and a late
                // ack only means the event may arrive although we answered 503; Alipay's retry then
                // publishes the same event_id, which the consumer stores once.
                self.shared.trouble.notify_one();
                Err(NotifyError::ConfirmTimeout(self.shared.confirm_timeout))
            }
        }
    }

    fn install(&self, channels: Vec<Channel>, connection: ConnectionStatus) {
        let live = Live {
            channels,
            next: AtomicUsize::new(0),
            connection,
        };
        self.shared.live.store(Some(Arc::new(live)));
        self.shared.metrics.set_connected(true);
    }

    fn uninstall(&self) {
        self.shared.live.store(None);
        self.shared.metrics.set_connected(false);
    }
}

/// Why one connection attempt failed.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("connecting timed out after {CONNECT_TIMEOUT:?}")]
    Timeout,
    #[error("connecting: {0}")]
    Connect(#[source] lapin::Error),
    #[error("opening a channel: {0}")]
    Channel(#[source] lapin::Error),
    #[error("enabling publisher confirms: {0}")]
    Confirms(#[source] lapin::Error),
    #[error("{0}: {cause}", cause = .0.source)]
    Topology(#[source] TopologyError),
}

/// One connection and its channels, plus the connection's event stream.
struct Session {
    connection: Connection,
    /// Never empty.
    channels: Vec<Channel>,
    events: Pin<Box<dyn Stream<Item = Event> + Send>>,
    opened_at: Instant,
}

enum SessionEnd {
    Stopped,
    Lost(String),
}

impl Session {
    async fn open(url: &str, publisher: &Publisher) -> Result<Self, ConnectError> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::open_unbounded(url, publisher))
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    async fn open_unbounded(url: &str, publisher: &Publisher) -> Result<Self, ConnectError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(publisher.shared.connection_name.as_str().into());
        // lapin binds the connection's I/O to the runtime current here: the supervisor's, which
        // outlives every HTTP worker.
        let connection = Connection::connect(url, properties)
            .await
            .map_err(ConnectError::Connect)?;
        // Subscribed before anything else can fail, so no error event is missed.
        let events = Box::pin(connection.events_listener());
        let mut channels = Vec::with_capacity(publisher.shared.channel_count);
        for _ in 0..publisher.shared.channel_count {
            let channel = connection
                .create_channel()
                .await
                .map_err(ConnectError::Channel)?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(ConnectError::Confirms)?;
            channels.push(channel);
        }
        // Declared on a channel of its own: a declaration refused by the broker (arguments that
        // differ from an existing exchange) closes the channel it was made on.
        let declaring = connection
            .create_channel()
            .await
            .map_err(ConnectError::Channel)?;
        publisher
            .shared
            .topology
            .declare_publisher_side(&declaring)
            .await
            .map_err(ConnectError::Topology)?;
        // Best effort: the connection stays usable either way.
        let _ = declaring.close(200, "declared".into()).await;
        Ok(Self {
            connection,
            channels,
            events,
            opened_at: Instant::now(),
        })
    }

    /// Returns when the connection or channel is gone, or when asked to stop.
    async fn watch(&mut self, trouble: &Notify, stop: &CancellationToken) -> SessionEnd {
        let mut poll = tokio::time::interval(HEALTH_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return SessionEnd::Stopped,
                event = self.events.next() => match event {
                    Some(Event::Error(error)) => return SessionEnd::Lost(error.to_string()),
                    None => return SessionEnd::Lost("the connection's event stream ended".into()),
                    Some(Event::ConnectionBlocked(reason)) => {
                        warn!(%reason, "RabbitMQ blocks publishing (resource alarm); not ready");
                    }
                    Some(Event::ConnectionUnblocked) => info!("RabbitMQ unblocked publishing"),
                    // Connected, flow control, and whatever later lapin versions add.
                    Some(_) => {}
                },
                () = trouble.notified() => {
                    if let Some(why) = self.broken() {
                        return SessionEnd::Lost(why);
                    }
                }
                _ = poll.tick() => {
                    if let Some(why) = self.broken() {
                        return SessionEnd::Lost(why);
                    }
                }
            }
        }
    }

    fn broken(&self) -> Option<String> {
        if !self.connection.status().connected() {
            Some("the connection is no longer open".into())
        } else if !self
            .channels
            .iter()
            .all(|channel| channel.status().connected())
        {
            Some("a channel was closed".into())
        } else {
            None
        }
    }

    /// Closes politely when possible (the broker then logs a clean close, not an abrupt one).
    async fn close(self, reason: &str) {
        if self.connection.status().connected() {
            let close = self.connection.close(200, reason.into());
            match tokio::time::timeout(CLOSE_TIMEOUT, close).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "closing the RabbitMQ connection failed"),
                Err(_) => warn!("closing the RabbitMQ connection timed out"),
            }
        }
    }
}

/// Reconnect delays: exponential with jitter, so N replicas do not reconnect in lockstep after a
/// restart; each in [step/2, step) for steps of 100ms doubling up to 5s. backon's jitter adds up
/// to one more step, so its steps are half those.
fn reconnect_delays() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(BACKOFF_FIRST / 2)
        .with_factor(2.0)
        .with_max_delay(BACKOFF_MAX / 2)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Keeps `publisher` supplied with live channels until `stop` is cancelled, then closes the
/// connection. Runs as one task for the life of the process.
pub async fn supervise(publisher: Publisher, url: SecretString, stop: CancellationToken) {
    let mut backoff = reconnect_delays();
    let mut connected_before = false;
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = Session::open(url.expose_secret(), &publisher) => attempt,
        };
        let mut session = match attempt {
            Ok(session) => session,
            Err(error) => {
                publisher.shared.metrics.connect_failed();
                let delay = backoff.next().unwrap_or(BACKOFF_MAX);
                warn!(%error, retry_in_ms = delay.as_millis() as u64, "cannot connect to RabbitMQ");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        if connected_before {
            publisher.shared.metrics.reconnected();
            info!(exchange = %publisher.shared.topology.exchange, "reconnected to RabbitMQ");
        } else {
            info!(exchange = %publisher.shared.topology.exchange, "connected to RabbitMQ");
        }
        connected_before = true;
        publisher.install(
            session.channels.clone(),
            session.connection.status().clone(),
        );

        let end = session.watch(&publisher.shared.trouble, &stop).await;
        publisher.uninstall();
        match end {
            SessionEnd::Stopped => {
                session.close("notify-receiver shutting down").await;
                info!("disconnected from RabbitMQ");
                return;
            }
            SessionEnd::Lost(why) => {
                warn!(reason = %why, "lost the RabbitMQ connection; reconnecting");
                let lived = session.opened_at.elapsed();
                // A half-broken connection (say, only the channel closed) is closed rather than
                // left to linger beside the new one.
                session.close("replacing a broken channel").await;
                if lived >= STABLE_SESSION {
                    backoff = reconnect_delays();
                } else {
                    // A connection that dies right after opening must not make this a hot loop.
                    let delay = backoff.next().unwrap_or(BACKOFF_MAX);
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_maximum() {
        let mut backoff = reconnect_delays();
        let first = backoff.next().unwrap();
        assert!(
            first >= BACKOFF_FIRST / 2 && first < BACKOFF_FIRST,
            "{first:?}"
        );
        for _ in 0..20 {
            let delay = backoff.next().unwrap();
            assert!(delay < BACKOFF_MAX, "{delay:?}");
        }
        assert!(backoff.next().unwrap() >= BACKOFF_MAX / 2);
        let mut backoff = reconnect_delays();
        assert!(backoff.next().unwrap() < BACKOFF_FIRST);
    }

    #[test]
    fn jitter_spreads_replicas() {
        let firsts: std::collections::HashSet<Duration> = (0..20)
            .map(|_| reconnect_delays().next().unwrap())
            .collect();
        assert!(firsts.len() > 1, "{firsts:?}");
    }
}
