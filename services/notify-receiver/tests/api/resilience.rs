//! Surviving the broker: unreachable, cut off, closed by RabbitMQ, slow to confirm, refusing,
//! unroutable; and a graceful shutdown that finishes what is in flight.

use std::time::Duration;

use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};

use crate::helpers::*;
use crate::proxy::Proxy;

async fn assert_fail(response: reqwest::Response, status: u16) {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.text().await.unwrap(), "fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_unreachable_answers_503_and_readiness_says_so() {
    let app = spawn_app(TestConfig {
        amqp_url: Some(format!(
            "amqp://guest:guest@127.0.0.1:{}/%2f",
            closed_port()
        )),
        ..TestConfig::default()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(app.get("/readyz").await.status().as_u16(), 503);
    assert_eq!(
        app.get("/healthz").await.status().as_u16(),
        200,
        "alive, only not ready"
    );
    let response = app
        .post_notification(signed_body(&paid_fields("n-down", "O_down")))
        .await;
    assert_fail(response, 503).await;

    app.assert_queue_empty().await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "notify_notifications_total{outcome=\"unavailable\",reason=\"broker_unavailable\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("notify_amqp_connected 0"), "{metrics}");
    assert!(
        !metrics.contains("notify_amqp_connect_failures_total 0"),
        "failures are counted:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_severed_connection_answers_503_then_success_once_reconnected() {
    let proxy = Proxy::start().await;
    let app = spawn_ready_app(TestConfig {
        amqp_url: Some(proxy.amqp_url()),
        // Several channels, so the whole set is shown to be replaced.
        amqp_channels: 3,
        ..TestConfig::default()
    })
    .await;
    let body = signed_body(&paid_fields("n-sever", "O_sever"));
    assert_eq!(
        app.post_notification(body.clone()).await.status().as_u16(),
        200
    );
    assert!(app.next_message().await.is_some());

    // The broker "crashes" and stays away.
    proxy.set_refusing(true);
    proxy.sever();
    app.wait_ready(false).await;
    assert_fail(app.post_notification(body.clone()).await, 503).await;
    app.assert_queue_empty().await;

    // It comes back: the receiver reconnects by itself.
    proxy.set_refusing(false);
    app.wait_ready(true).await;
    let response = app.post_notification(body).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "success");
    assert!(app.next_message().await.is_some());
    assert!(
        app.metrics()
            .await
            .contains("notify_amqp_reconnects_total 1")
    );
}

/// RabbitMQ itself closes the connection (what a broker restart or an operator does): only this
/// receiver's connection, found by its unique name, so parallel tests are not disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_by_rabbitmq_is_replaced() {
    let app = spawn_ready_app(TestConfig::default()).await;
    let name = app.publisher.connection_name().to_owned();

    let pid = connection_pid(&name).await;
    let closed = rabbitmqctl(&[
        "close_connection",
        &pid,
        "closed by the notify-receiver test",
    ])
    .await;
    assert!(
        closed.status.success(),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );

    // Reconnected by itself (counted), and publishing again.
    for _ in 0..100 {
        if app
            .metrics()
            .await
            .contains("notify_amqp_reconnects_total 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.wait_ready(true).await;
    assert!(
        app.metrics()
            .await
            .contains("notify_amqp_reconnects_total 1")
    );
    let response = app
        .post_notification(signed_body(&paid_fields("n-closed-conn", "O_1")))
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(app.next_message().await.is_some());
}

/// The Erlang pid of the connection named `name`, as `rabbitmqctl close_connection` wants it.
async fn connection_pid(name: &str) -> String {
    for _ in 0..20 {
        // RabbitMQ 3.10 has no `user_provided_name` column (and its JSON output renders pids in a
        // form `close_connection` refuses), so read the table: `<pid>\t<client properties>`,
        // where the properties hold our unique `connection_name`.
        let listed = rabbitmqctl(&[
            "list_connections",
            "pid",
            "client_properties",
            "--no-table-headers",
            "-q",
        ])
        .await;
        let table = String::from_utf8_lossy(&listed.stdout).into_owned();
        let found = table
            .lines()
            .find(|line| line.contains(name))
            .and_then(|line| line.split('\t').next())
            .map(|pid| pid.trim().to_owned());
        if let Some(pid) = found {
            return pid;
        }
        // A new connection is listed after a short delay.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("connection {name:?} not listed by rabbitmqctl");
}

async fn rabbitmqctl(arguments: &[&str]) -> std::process::Output {
    let arguments: Vec<String> = arguments.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new("rabbitmqctl")
            .args(&arguments)
            .output()
            .expect("rabbitmqctl must be installed beside RabbitMQ")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_confirm_within_the_timeout_answers_503() {
    let proxy = Proxy::start().await;
    let app = spawn_ready_app(TestConfig {
        amqp_url: Some(proxy.amqp_url()),
        confirm_timeout: "300ms".into(),
        ..TestConfig::default()
    })
    .await;
    let body = signed_body(&paid_fields("n-slow", "O_slow"));

    proxy.set_paused(true);
    let started = std::time::Instant::now();
    assert_fail(app.post_notification(body.clone()).await, 503).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    proxy.set_paused(false);

    // Alipay retries; this time the confirm comes. The retry carries the same event_id, so the
    // copy the broker did keep from the first attempt is a duplicate the consumer drops.
    let response = app.post_notification(body).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        app.metrics()
            .await
            .contains("reason=\"confirm_timeout\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_from_the_broker_answers_503() {
    let app = spawn_ready_app(TestConfig::default()).await;
    // A bound queue that refuses every message: RabbitMQ then nacks the publish.
    let refusing = format!("{}refusing", app.topology.exchange);
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongInt(0));
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    app.channel
        .queue_declare(
            refusing.as_str().into(),
            QueueDeclareOptions::default(),
            arguments,
        )
        .await
        .unwrap();
    app.topology.delete_also(refusing.clone());
    app.channel
        .queue_bind(
            refusing.as_str().into(),
            app.topology.exchange.as_str().into(),
            "order.*".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    assert_fail(
        app.post_notification(signed_body(&paid_fields("n-nack", "O_nack")))
            .await,
        503,
    )
    .await;
    assert!(
        app.metrics()
            .await
            .contains("notify_notifications_total{outcome=\"unavailable\",reason=\"nacked\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_event_answers_503() {
    // Only the exchange exists: the order service has not declared its queue yet.
    let app = spawn_ready_app(TestConfig {
        declare_queue: false,
        ..TestConfig::default()
    })
    .await;

    assert_fail(
        app.post_notification(signed_body(&paid_fields("n-unroutable", "O_1")))
            .await,
        503,
    )
    .await;
    assert!(app.metrics().await.contains("reason=\"unroutable\"} 1"));
    // The channel survives a returned message.
    assert!(app.publisher.is_ready());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_requests_in_flight() {
    let proxy = Proxy::start().await;
    let mut app = spawn_ready_app(TestConfig {
        amqp_url: Some(proxy.amqp_url()),
        confirm_timeout: "10s".into(),
        ..TestConfig::default()
    })
    .await;
    let body = signed_body(&paid_fields("n-drain", "O_drain"));

    // A request waits for its confirm (held back by the proxy) when the shutdown signal fires.
    proxy.set_paused(true);
    let in_flight = {
        let (client, url) = (
            app.client.clone(),
            format!("{}{}", app.address, app.notify_path),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", FORM)
                .body(body)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New connections are no longer accepted...
    let fresh = reqwest::Client::new();
    assert!(
        fresh
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .is_err()
    );
    // ...but the one in flight completes with `success` once the broker confirms.
    proxy.set_paused(false);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.unwrap(), "success");
    assert!(app.next_message().await.is_some());

    let server = app.server.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        !app.publisher.is_ready(),
        "the RabbitMQ connection is closed last"
    );
}
