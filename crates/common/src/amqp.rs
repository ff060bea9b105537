//! The RabbitMQ topology of `DESIGN.md`, as data, with the one declaration both sides call.
//!
//! notify-receiver calls [`Topology::declare_publisher_side`] (it only needs the exchange); the
//! order service calls [`Topology::declare_all`]. Because both go through this code, both declare
//! with identical arguments: RabbitMQ refuses (PRECONDITION_FAILED, closing the channel) a
//! re-declaration whose arguments differ, so a second hand-written copy would break start-up.
//!
//! ```text
//! payments (topic) --order.*--> order-service.payments (quorum, delivery-limit)
//!                                     | dead-letter
//!                                     v
//! payments.dlx (topic) --#--> order-service.payments.dead (quorum)
//! ```
//!
//! Publishing goes through [`publish_event`] (confirmed, mandatory, persistent) and giving up on
//! a message through [`dead_letter`] (copies it to the dead-letter exchange with
//! [`DEATH_REASON_HEADER`]), so the message contract lives here too.

use lapin::options::{
    BasicPublishOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, ExchangeKind};

use crate::events::{
    CONTENT_TYPE_JSON, DEATH_REASON_HEADER, DeadLetterReason, PaymentEventV2, REQUEST_ID_HEADER,
    SYNC_REQUEST_ROUTING_KEY, SYNC_REQUEST_TYPE, SyncRequestV1,
};

/// Default bound on redeliveries of a message that keeps failing before RabbitMQ dead-letters it.
pub const DEFAULT_DELIVERY_LIMIT: u16 = 10;

/// AMQP `delivery_mode` for messages written to disk by the broker.
const PERSISTENT: u8 = 2;

/// Names and limits of the payment event topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Where notify-receiver publishes payment events.
    pub exchange: String,
    /// The order service's work queue; its consumers compete on it.
    pub queue: String,
    /// Binding of `queue` to `exchange`: every `order.<kind>` event.
    pub binding_key: String,
    /// Where messages go when they cannot be processed.
    pub dlx: String,
    /// Holds dead letters until a human looks at them.
    pub dead_queue: String,
    /// Binding of `dead_queue` to `dlx`: everything.
    pub dead_binding_key: String,
    /// Quorum-queue `x-delivery-limit`.
    pub delivery_limit: u16,
}

impl Default for Topology {
    fn default() -> Self {
        Self::with_prefix("")
    }
}

/// Why declaring or deleting the topology failed, naming the entity.
#[derive(Debug, thiserror::Error)]
#[error("{action} {entity:?}")]
pub struct TopologyError {
    pub action: &'static str,
    pub entity: String,
    #[source]
    pub source: lapin::Error,
}

impl Topology {
    /// The default names with `prefix` prepended to each exchange and queue name (not to the
    /// binding keys, which match routing keys). Tests use `t-<uuid>.` to stay isolated. Names are
    /// AMQP short strings: keep each under 255 bytes, or lapin panics when declaring.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            exchange: format!("{prefix}payments"),
            queue: format!("{prefix}order-service.payments"),
            binding_key: "order.*".to_owned(),
            dlx: format!("{prefix}payments.dlx"),
            dead_queue: format!("{prefix}order-service.payments.dead"),
            dead_binding_key: "#".to_owned(),
            delivery_limit: DEFAULT_DELIVERY_LIMIT,
        }
    }

    pub fn with_delivery_limit(mut self, delivery_limit: u16) -> Self {
        self.delivery_limit = delivery_limit;
        self
    }

    /// Declares what a publisher needs: the `payments` exchange.
    pub async fn declare_publisher_side(&self, channel: &Channel) -> Result<(), TopologyError> {
        declare_exchange(channel, &self.exchange).await
    }

    /// Declares everything: both exchanges, both queues and their bindings. Idempotent.
    pub async fn declare_all(&self, channel: &Channel) -> Result<(), TopologyError> {
        self.declare_publisher_side(channel).await?;
        // The dead-letter side first, so the work queue never exists without somewhere to
        // dead-letter to.
        declare_exchange(channel, &self.dlx).await?;
        declare_queue(channel, &self.dead_queue, quorum_arguments()).await?;
        bind(channel, &self.dead_queue, &self.dlx, &self.dead_binding_key).await?;
        declare_queue(channel, &self.queue, self.work_queue_arguments()).await?;
        bind(channel, &self.queue, &self.exchange, &self.binding_key).await
    }

    /// Deletes the queues and exchanges (with any messages in them): for test clean-up.
    pub async fn delete_all(&self, channel: &Channel) -> Result<(), TopologyError> {
        for queue in [&self.queue, &self.dead_queue] {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map_err(|source| TopologyError {
                    action: "deleting queue",
                    entity: queue.clone(),
                    source,
                })?;
        }
        for exchange in [&self.exchange, &self.dlx] {
            channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await
                .map_err(|source| TopologyError {
                    action: "deleting exchange",
                    entity: exchange.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// The work queue's arguments.
    pub fn work_queue_arguments(&self) -> FieldTable {
        let mut arguments = quorum_arguments();
        // A message the consumer rejects goes to the DLX instead of being dropped.
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.dlx.as_str().into()),
        );
        // A message that keeps failing (crash loop, poison payload) is dead-lettered after this
        // many returns instead of being redelivered forever.
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(i32::from(self.delivery_limit)),
        );
        // `x-dead-letter-strategy` stays at RabbitMQ's default (at-most-once): at-least-once would
        // also require `overflow=reject-publish`, and the dead queue is for diagnosis, not replay.
        arguments
    }
}

fn quorum_arguments() -> FieldTable {
    let mut arguments = FieldTable::default();
    // Quorum queues are replicated (Raft) and support `x-delivery-limit`; a payment event must
    // survive the loss of a broker node.
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    arguments
}

async fn declare_exchange(channel: &Channel, name: &str) -> Result<(), TopologyError> {
    let options = ExchangeDeclareOptions {
        // Survives a broker restart; publishers must never find it missing.
        durable: true,
        // Stays when the last queue unbinds, e.g. while the order service is redeployed.
        auto_delete: false,
        // Not internal: publishers (and `dead_letter`) publish to it directly.
        internal: false,
        ..ExchangeDeclareOptions::default()
    };
    channel
        // Topic, so consumers bind by pattern (`order.*`) and new event kinds need no new exchange.
        .exchange_declare(
            name.into(),
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(|source| TopologyError {
            action: "declaring exchange",
            entity: name.to_owned(),
            source,
        })
}

async fn declare_queue(
    channel: &Channel,
    name: &str,
    arguments: FieldTable,
) -> Result<(), TopologyError> {
    let options = QueueDeclareOptions {
        // Quorum queues must be durable; the messages are payments.
        durable: true,
        // Shared by every order replica, so not tied to one connection.
        exclusive: false,
        // Kept while no consumer is connected, so events wait for the order service.
        auto_delete: false,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(name.into(), options, arguments)
        .await
        .map(drop)
        .map_err(|source| TopologyError {
            action: "declaring queue",
            entity: name.to_owned(),
            source,
        })
}

async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), TopologyError> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| TopologyError {
            action: "binding queue",
            entity: format!("{queue} to {exchange} with {key}"),
            source,
        })
}

/// Why a message was not safely handed to the broker. Every variant means "not published": the
/// caller must not acknowledge upstream (notify-receiver answers `fail` with 503).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("encoding the message: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("publishing to {exchange:?}")]
    Broker {
        exchange: String,
        #[source]
        source: lapin::Error,
    },
    #[error("the broker refused (nack) the message to {exchange:?}")]
    Nacked { exchange: String },
    #[error("no queue is bound to {exchange:?} for routing key {routing_key:?}")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
    #[error("publisher confirms are not enabled on this channel; call confirm_select first")]
    ConfirmsNotEnabled,
}

/// The AMQP properties of an event message: JSON, persistent, `message_id` = event id,
/// `type` = e.g. `order.paid.v2`, and the request id header when there is one.
pub fn event_properties(event: &PaymentEventV2, request_id: Option<&str>) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(request_id) = request_id {
        headers.insert(
            REQUEST_ID_HEADER.into(),
            AMQPValue::LongString(request_id.into()),
        );
    }
    BasicProperties::default()
        .with_content_type(CONTENT_TYPE_JSON.into())
        .with_delivery_mode(PERSISTENT)
        .with_message_id(event.event_id.to_string().into())
        .with_type(event.kind.message_type().into())
        .with_timestamp(u64::try_from(event.received_at.timestamp()).unwrap_or(0))
        .with_headers(headers)
}

/// Publishes an event to `topology.exchange` with its routing key and waits for the broker's
/// confirm. The channel must be in confirm mode (`channel.confirm_select(..)`, once per channel).
///
/// `mandatory` is set, so an event that no queue would receive (the order service has never
/// declared its queue) comes back as [`PublishError::Unroutable`] instead of vanishing. Bound the
/// wait with `tokio::time::timeout` if the caller has a deadline.
pub async fn publish_event(
    channel: &Channel,
    topology: &Topology,
    event: &PaymentEventV2,
    request_id: Option<&str>,
) -> Result<(), PublishError> {
    let body = event.to_json()?;
    publish_confirmed(
        channel,
        &topology.exchange,
        event.kind.routing_key(),
        &body,
        event_properties(event, request_id),
    )
    .await
}

/// Publishes a [`SyncRequestV1`] (routing key [`SYNC_REQUEST_ROUTING_KEY`]) and waits for the
/// broker's confirm, like [`publish_event`].
pub async fn publish_sync_request(
    channel: &Channel,
    topology: &Topology,
    request: &SyncRequestV1,
    request_id: Option<&str>,
) -> Result<(), PublishError> {
    let body = serde_json::to_vec(request).map_err(PublishError::from)?;
    let mut headers = FieldTable::default();
    if let Some(request_id) = request_id {
        headers.insert(
            REQUEST_ID_HEADER.into(),
            AMQPValue::LongString(request_id.into()),
        );
    }
    let properties = BasicProperties::default()
        .with_content_type(CONTENT_TYPE_JSON.into())
        .with_delivery_mode(PERSISTENT)
        .with_type(SYNC_REQUEST_TYPE.into())
        .with_headers(headers);
    publish_confirmed(
        channel,
        &topology.exchange,
        SYNC_REQUEST_ROUTING_KEY,
        &body,
        properties,
    )
    .await
}

/// Copies a message the consumer gives up on to the dead-letter exchange, with `reason` in
/// [`DEATH_REASON_HEADER`], and waits for the confirm. The caller then acks the original. Pass
/// the delivery's `routing_key`, `data` and `properties`.
///
/// A plain `nack(requeue=false)` would also dead-letter, but cannot carry a reason; the people
/// reading the dead queue need to know whether it was an unknown order or an amount mismatch.
pub async fn dead_letter(
    channel: &Channel,
    topology: &Topology,
    routing_key: &str,
    body: &[u8],
    properties: &BasicProperties,
    reason: &DeadLetterReason,
) -> Result<(), PublishError> {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        DEATH_REASON_HEADER.into(),
        AMQPValue::LongString(reason.to_string().into()),
    );
    let properties = properties.clone().with_headers(headers);
    publish_confirmed(channel, &topology.dlx, routing_key, body, properties).await
}

/// Headers that say where and why a message died: RabbitMQ's (`x-death`, `x-first-death-*`,
/// `x-last-death-*`, the quorum queue's `x-delivery-count`) and ours ([`DEATH_REASON_HEADER`]).
pub const DEATH_HEADERS: [&str; 8] = [
    DEATH_REASON_HEADER,
    "x-death",
    "x-first-death-reason",
    "x-first-death-queue",
    "x-first-death-exchange",
    "x-last-death-reason",
    "x-last-death-queue",
    "x-delivery-count",
];

/// Puts a dead letter back on the payments exchange, with its original routing key, body and
/// properties (so its `message_id`, the event id, is the same) but without the headers of its
/// death, confirmed. Replaying is safe: the consumer recognises an event it applied before.
pub async fn republish(
    channel: &Channel,
    topology: &Topology,
    routing_key: &str,
    body: &[u8],
    properties: &BasicProperties,
) -> Result<(), PublishError> {
    let mut headers = properties.headers().clone().unwrap_or_default();
    let kept: FieldTable = headers
        .inner()
        .iter()
        .filter(|(name, _)| !DEATH_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into();
    headers = kept;
    let properties = properties.clone().with_headers(headers);
    publish_confirmed(channel, &topology.exchange, routing_key, body, properties).await
}

async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    let broker = |source| PublishError::Broker {
        exchange: exchange.to_owned(),
        source,
    };
    // Checked before sending: a message published without confirms may or may not have reached
    // the broker, and the caller could not tell which.
    if !channel.status().confirm() {
        return Err(PublishError::ConfirmsNotEnabled);
    }
    let options = BasicPublishOptions {
        mandatory: true,
        immediate: false,
    };
    let confirmation = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            options,
            body,
            properties,
        )
        .await
        .map_err(broker)?
        .await
        .map_err(broker)?;
    match confirmation {
        // A returned (unroutable) message is still acked by the broker, so check for it first.
        Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => Err(PublishError::Unroutable {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
        }),
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Nack(None) => Err(PublishError::Nacked {
            exchange: exchange.to_owned(),
        }),
        Confirmation::NotRequested => Err(PublishError::ConfirmsNotEnabled),
    }
}

/// A header's value as text (request id, death reason), if present and textual.
pub fn header_text(properties: &BasicProperties, name: &str) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(value) => {
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_match_the_design() {
        let topology = Topology::default();
        assert_eq!(topology.exchange, "payments");
        assert_eq!(topology.queue, "order-service.payments");
        assert_eq!(topology.binding_key, "order.*");
        assert_eq!(topology.dlx, "payments.dlx");
        assert_eq!(topology.dead_queue, "order-service.payments.dead");
        assert_eq!(topology.dead_binding_key, "#");
        assert_eq!(topology.delivery_limit, 10);
    }

    #[test]
    fn prefix_applies_to_every_name_but_not_to_binding_keys() {
        let topology = Topology::with_prefix("t-1.").with_delivery_limit(3);
        assert_eq!(topology.exchange, "t-1.payments");
        assert_eq!(topology.queue, "t-1.order-service.payments");
        assert_eq!(topology.dlx, "t-1.payments.dlx");
        assert_eq!(topology.dead_queue, "t-1.order-service.payments.dead");
        assert_eq!(topology.binding_key, "order.*");
        assert_eq!(topology.delivery_limit, 3);
    }

    #[test]
    fn work_queue_is_quorum_with_dead_lettering_and_a_limit() {
        let arguments = Topology::with_prefix("p.").work_queue_arguments();
        let arguments = arguments.inner();
        assert_eq!(
            arguments.get("x-queue-type"),
            Some(&AMQPValue::LongString("quorum".into()))
        );
        assert_eq!(
            arguments.get("x-dead-letter-exchange"),
            Some(&AMQPValue::LongString("p.payments.dlx".into()))
        );
        assert_eq!(
            arguments.get("x-delivery-limit"),
            Some(&AMQPValue::LongInt(10))
        );
        assert!(!arguments.contains_key("x-dead-letter-strategy"));
    }

    #[test]
    fn headers_read_back_as_text() {
        let mut headers = FieldTable::default();
        headers.insert("a".into(), AMQPValue::LongString("one".into()));
        headers.insert("b".into(), AMQPValue::ShortString("two".into()));
        headers.insert("c".into(), AMQPValue::LongInt(3));
        let properties = BasicProperties::default().with_headers(headers);
        assert_eq!(header_text(&properties, "a").as_deref(), Some("one"));
        assert_eq!(header_text(&properties, "b").as_deref(), Some("two"));
        assert_eq!(header_text(&properties, "c"), None);
        assert_eq!(header_text(&properties, "d"), None);
        assert_eq!(header_text(&BasicProperties::default(), "a"), None);
    }
}
