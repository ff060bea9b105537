//! The topology against the real RabbitMQ (`AMQP_URL`, default the local guest account).
//!
//! Each test declares under its own `t-<uuid>.` prefix so runs in parallel never share a queue,
//! and deletes what it declared even when an assertion fails.

// Helpers outside `#[test]` functions are not covered by clippy.toml's allow-*-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::amqp::{PublishError, Topology, dead_letter, header_text, publish_event};
use common::events::{
    CONTENT_TYPE_JSON, DEATH_REASON_HEADER, DeadLetterReason, DeathCause, EVENT_VERSION, EventKind,
    PaymentEventV2, REQUEST_ID_HEADER, event_id_for,
};
use common::numbers::OutTradeNo;
use futures_util::FutureExt as _;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions, ConfirmSelectOptions};
use lapin::{Channel, Connection, ConnectionProperties};

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Runs `scenario` with a fresh connection and prefix, then deletes the topology whatever
/// happened, then re-raises the scenario's panic if it had one.
async fn with_topology<F, Fut>(scenario: F)
where
    F: FnOnce(Arc<Connection>, Topology) -> Fut,
    Fut: Future<Output = ()>,
{
    let connection = Arc::new(
        Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ must be running for this test"),
    );
    let cleanup = connection.create_channel().await.unwrap();
    let topology = Topology::with_prefix(&format!("t-{}.", uuid::Uuid::now_v7()));

    let outcome = AssertUnwindSafe(scenario(connection.clone(), topology.clone()))
        .catch_unwind()
        .await;

    topology.delete_all(&cleanup).await.unwrap();
    connection.close(200, "test done".into()).await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn confirmed_channel(connection: &Connection) -> Channel {
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    channel
}

fn paid_event(out_trade_no: &str) -> PaymentEventV2 {
    let params: BTreeMap<String, String> = [
        ("app_id", "2021000000000001"),
        ("out_trade_no", out_trade_no),
        ("trade_no", "2024010122001400000000000001"),
        ("trade_status", "TRADE_SUCCESS"),
        ("total_amount", "88.88"),
        ("notify_id", "notify-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    PaymentEventV2 {
        version: EVENT_VERSION,
        event_id: event_id_for("notify-1", "TRADE_SUCCESS"),
        kind: EventKind::Paid,
        out_trade_no: OutTradeNo::parse(out_trade_no).unwrap(),
        trade_no: "2024010122001400000000000001".into(),
        trade_status: "TRADE_SUCCESS".into(),
        total_amount: "88.88".parse().unwrap(),
        receipt_amount: None,
        refund_fee: None,
        out_request_no: None,
        paid_at: None,
        refunded_at: None,
        buyer_id: None,
        buyer_open_id: None,
        seller_id: None,
        app_id: "2021000000000001".into(),
        notify_id: "notify-1".into(),
        notified_at: None,
        received_at: Utc::now(),
        params,
    }
}

/// Polls `queue` until a message arrives or 5 s pass (dead-lettering is asynchronous).
async fn get_eventually(channel: &Channel, queue: &str) -> Option<lapin::message::Delivery> {
    get_within(channel, queue, 50).await
}

async fn get_within(
    channel: &Channel,
    queue: &str,
    tenths_of_seconds: u32,
) -> Option<lapin::message::Delivery> {
    for _ in 0..tenths_of_seconds {
        if let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap()
        {
            return Some(message.delivery);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn a_paid_event_published_to_the_exchange_reaches_the_queue() {
    with_topology(|connection, topology| async move {
        // Arrange
        let channel = confirmed_channel(&connection).await;
        topology.declare_all(&channel).await.unwrap();
        let event = paid_event("T_1");

        // Act
        publish_event(&channel, &topology, &event, Some("req-1"))
            .await
            .unwrap();

        // Assert
        let delivery = get_eventually(&channel, &topology.queue)
            .await
            .expect("a message");
        assert_eq!(delivery.routing_key.as_str(), "order.paid");
        assert_eq!(delivery.exchange.as_str(), topology.exchange);
        assert_eq!(PaymentEventV2::from_json(&delivery.data).unwrap(), event);
        let properties = &delivery.properties;
        assert_eq!(
            properties.content_type().as_ref().map(|s| s.as_str()),
            Some(CONTENT_TYPE_JSON)
        );
        assert_eq!(*properties.delivery_mode(), Some(2));
        assert_eq!(
            properties.message_id().as_ref().map(|s| s.to_string()),
            Some(event.event_id.to_string())
        );
        assert_eq!(
            properties.kind().as_ref().map(|s| s.as_str()),
            Some("order.paid.v2")
        );
        assert_eq!(
            header_text(properties, REQUEST_ID_HEADER).as_deref(),
            Some("req-1")
        );
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn every_event_kind_is_routed_and_other_keys_are_not() {
    with_topology(|connection, topology| async move {
        let channel = confirmed_channel(&connection).await;
        topology.declare_all(&channel).await.unwrap();

        for kind in EventKind::ALL {
            let mut event = paid_event("T_2");
            event.kind = kind;
            publish_event(&channel, &topology, &event, None)
                .await
                .unwrap();
            let delivery = get_eventually(&channel, &topology.queue)
                .await
                .expect("a message");
            assert_eq!(delivery.routing_key.as_str(), kind.routing_key());
            assert_eq!(header_text(&delivery.properties, REQUEST_ID_HEADER), None);
            delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn declaring_twice_from_both_sides_is_idempotent_but_a_different_limit_is_refused() {
    with_topology(|connection, topology| async move {
        let receiver_side = connection.create_channel().await.unwrap();
        let order_side = connection.create_channel().await.unwrap();
        topology
            .declare_publisher_side(&receiver_side)
            .await
            .unwrap();
        topology.declare_all(&order_side).await.unwrap();
        topology.declare_all(&order_side).await.unwrap();
        topology
            .declare_publisher_side(&receiver_side)
            .await
            .unwrap();

        // Why both services must share this code: RabbitMQ refuses a differing re-declaration.
        let drifted = topology.clone().with_delivery_limit(3);
        let error = drifted
            .declare_all(&connection.create_channel().await.unwrap())
            .await
            .unwrap_err();
        assert_eq!(error.entity, topology.queue, "{error}");
    })
    .await;
}

#[tokio::test]
async fn an_event_no_queue_would_receive_is_reported_unroutable() {
    with_topology(|connection, topology| async move {
        let channel = confirmed_channel(&connection).await;
        topology.declare_publisher_side(&channel).await.unwrap();

        let error = publish_event(&channel, &topology, &paid_event("T_3"), None)
            .await
            .unwrap_err();

        assert!(matches!(error, PublishError::Unroutable { .. }), "{error}");
    })
    .await;
}

#[tokio::test]
async fn publishing_without_confirms_is_refused_as_unsafe() {
    with_topology(|connection, topology| async move {
        let channel = connection.create_channel().await.unwrap();
        topology.declare_all(&channel).await.unwrap();

        let error = publish_event(&channel, &topology, &paid_event("T_4"), None)
            .await
            .unwrap_err();

        assert!(matches!(error, PublishError::ConfirmsNotEnabled), "{error}");
        assert!(
            get_within(&channel, &topology.queue, 3).await.is_none(),
            "nothing may be sent on a channel without confirms"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dead_lettered_message_carries_its_reason_and_headers() {
    with_topology(|connection, topology| async move {
        // Arrange
        let channel = confirmed_channel(&connection).await;
        topology.declare_all(&channel).await.unwrap();
        publish_event(&channel, &topology, &paid_event("T_5"), Some("req-5"))
            .await
            .unwrap();
        let delivery = get_eventually(&channel, &topology.queue)
            .await
            .expect("a message");

        // Act
        dead_letter(
            &channel,
            &topology,
            delivery.routing_key.as_str(),
            &delivery.data,
            &delivery.properties,
            &DeadLetterReason::new(DeathCause::UnknownOrder, "no order T_5"),
        )
        .await
        .unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();

        // Assert
        let dead = get_eventually(&channel, &topology.dead_queue)
            .await
            .expect("a dead letter");
        assert_eq!(
            header_text(&dead.properties, DEATH_REASON_HEADER).as_deref(),
            Some("unknown_order: no order T_5")
        );
        assert_eq!(
            header_text(&dead.properties, REQUEST_ID_HEADER).as_deref(),
            Some("req-5")
        );
        assert_eq!(dead.data, delivery.data);
        assert!(
            channel
                .basic_get(topology.queue.as_str().into(), BasicGetOptions::default())
                .await
                .unwrap()
                .is_none(),
            "the work queue is empty after the ack"
        );
        dead.ack(BasicAckOptions::default()).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_message_that_keeps_failing_reaches_the_dead_queue_after_the_delivery_limit() {
    with_topology(|connection, topology| async move {
        // Arrange
        let topology = topology.with_delivery_limit(2);
        let channel = confirmed_channel(&connection).await;
        topology.declare_all(&channel).await.unwrap();
        publish_event(&channel, &topology, &paid_event("T_6"), None)
            .await
            .unwrap();

        // Act: a consumer that fails every time and asks for redelivery.
        let mut deliveries = 0;
        while let Some(delivery) = get_within(&channel, &topology.queue, 10).await {
            deliveries += 1;
            assert!(
                deliveries <= 5,
                "the delivery limit did not stop redeliveries"
            );
            delivery
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await
                .unwrap();
        }

        // Assert
        let dead = get_eventually(&channel, &topology.dead_queue)
            .await
            .expect("a dead letter");
        assert_eq!(
            PaymentEventV2::from_json(&dead.data)
                .unwrap()
                .out_trade_no
                .as_str(),
            "T_6"
        );
        assert!(
            (2..=3).contains(&deliveries),
            "delivered {deliveries} times"
        );
        dead.ack(BasicAckOptions::default()).await.unwrap();
    })
    .await;
}
