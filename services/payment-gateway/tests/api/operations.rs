//! grpc.health.v1, reflection, /healthz /readyz /metrics, request ids, graceful shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use payment_gateway::RetryPolicy;
use payment_proto::REQUEST_ID_METADATA;
use payment_proto::v1::payment_gateway_client::PaymentGatewayClient;
use payment_proto::v1::{QueryTradeRequest, TradeStatus};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::helpers::*;

async fn channel(app: &TestApp) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(app.gateway.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn grpc_health_reports_serving() {
    let app = spawn().await;
    let mut health = HealthClient::new(channel(&app).await);

    for service in ["", "payment.v1.PaymentGateway"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "nope.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_the_services_and_describes_the_gateway() {
    let app = spawn().await;
    let mut reflection = ServerReflectionClient::new(channel(&app).await);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "payment.v1.PaymentGateway".into(),
            )),
        },
    ];

    let mut answers = reflection
        .server_reflection_info(futures_util::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "payment.v1.PaymentGateway",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected the file descriptor");
    };
    let file = <prost_types::FileDescriptorProto as prost::Message>::decode(
        files.file_descriptor_proto[0].as_slice(),
    )
    .unwrap();
    assert_eq!(file.package(), "payment.v1");
    assert_eq!(file.service[0].method.len(), 8);
}

#[tokio::test]
async fn reflection_answers_the_v1alpha_protocol_too() {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as V1Alpha;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as Ask;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as Answer;
    let app = spawn().await;
    let mut reflection = V1Alpha::new(channel(&app).await);
    let requests = vec![
        tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(Ask::ListServices(String::new())),
        },
        tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(Ask::FileContainingSymbol(
                "payment.v1.PaymentGateway".into(),
            )),
        },
    ];

    let mut answers = reflection
        .server_reflection_info(futures_util::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let Some(Answer::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "payment.v1.PaymentGateway"),
        "{list:?}"
    );
    let Some(Answer::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected the file descriptor");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served_over_http() {
    let app = spawn().await;
    let paid = app.paid_trade("6.66").await;
    app.client
        .query_trade(
            REQUEST_ID,
            QueryTradeRequest {
                out_trade_no: paid,
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();

    let health = app.ops("/healthz").await;
    assert_eq!(health.status().as_u16(), 200);
    let ready = app.ops("/readyz").await;
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        ready.text().await.unwrap(),
        r#"{"status":"ready","checks":{"serving":true}}"#
    );
    assert_eq!(app.ops("/nope").await.status().as_u16(), 404);

    let metrics = app.ops("/metrics").await;
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    for expected in [
        "gateway_signatures_total{method=\"alipay.trade.page.pay\"} 1",
        "gateway_signatures_total{method=\"alipay.trade.query\"} 1",
        "gateway_rpcs_total{code=\"OK\",rpc=\"CreatePagePay\"} 1",
        "gateway_rpcs_total{code=\"OK\",rpc=\"QueryTrade\"} 1",
        "gateway_alipay_calls_total{method=\"alipay.trade.query\",outcome=\"ok\"} 1",
        "gateway_alipay_call_duration_seconds_count{method=\"alipay.trade.query\",outcome=\"ok\"} 1",
        "gateway_rpc_duration_seconds_count{rpc=\"CreatePagePay\"} 1",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

#[tokio::test]
async fn the_request_id_is_echoed_generated_and_kept_on_errors() {
    let app = spawn().await;
    let mut raw = PaymentGatewayClient::connect(app.gateway.url())
        .await
        .unwrap();

    let mut request = tonic::Request::new(page_pay("RID_1", "1.00"));
    request
        .metadata_mut()
        .insert(REQUEST_ID_METADATA, "order-req-42".parse().unwrap());
    let response = raw.create_page_pay(request).await.unwrap();
    assert_eq!(
        response.metadata().get(REQUEST_ID_METADATA).unwrap(),
        "order-req-42"
    );

    // None sent: one is generated (a UUID v7).
    let response = raw
        .create_page_pay(tonic::Request::new(page_pay("RID_2", "1.00")))
        .await
        .unwrap();
    let generated = response
        .metadata()
        .get(REQUEST_ID_METADATA)
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(generated.len(), 36, "{generated}");

    // An unsafe one is replaced, and errors carry the id too.
    let mut request = tonic::Request::new(page_pay("bad-no", "1.00"));
    request
        .metadata_mut()
        .insert(REQUEST_ID_METADATA, "order-req-43".parse().unwrap());
    let status = raw.create_page_pay(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.metadata().get(REQUEST_ID_METADATA).unwrap(),
        "order-req-43"
    );
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: the gateway and the sandbox run on the test's thread, where the subscriber is set.
#[tokio::test(flavor = "current_thread")]
async fn every_log_line_of_a_call_carries_the_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_with(|s| {
        s.with_retry(RetryPolicy {
            attempts: 2,
            backoff: Duration::from_millis(1),
        })
    })
    .await;
    app.set_faults(serde_json::json!({"api": {"fail_5xx": 1}}))
        .await;
    captured.0.lock().unwrap().clear();

    let answer = app
        .client
        .query_trade(
            "trace-me-7",
            QueryTradeRequest {
                out_trade_no: "LOGGED_1".into(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(!answer.exists);
    assert_eq!(answer.trade_status(), TradeStatus::Unspecified);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let gateway_lines: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.contains("\"target\":\"payment_gateway") || line.contains("\"target\":\"alipay::")
        })
        .collect();
    assert!(
        gateway_lines.iter().any(|l| l.contains("retrying")),
        "the retry is logged:\n{text}"
    );
    assert!(gateway_lines.len() >= 3, "{text}");
    for line in gateway_lines {
        assert!(line.contains("\"request_id\":\"trace-me-7\""), "{line}");
    }
}

#[tokio::test]
async fn shutdown_lets_a_call_in_flight_finish() {
    let app = spawn_behind_proxy(ProxyMode::Hold, |s| s).await;
    let proxy = app.proxy.as_ref().unwrap();
    let client = app.client.clone();
    let in_flight = tokio::spawn(async move {
        client
            .query_trade(
                REQUEST_ID,
                QueryTradeRequest {
                    out_trade_no: "IN_FLIGHT_1".into(),
                    trade_no: String::new(),
                },
            )
            .await
    });
    proxy.arrived.notified().await;

    // Stop while the call waits for "Alipay"; readiness drops at once.
    let TestApp {
        gateway,
        http,
        metrics_url,
        proxy,
        sandbox,
        ..
    } = app;
    let stopping = tokio::spawn(gateway.stop());
    let mut not_ready = false;
    for _ in 0..500 {
        match http.get(format!("{metrics_url}/readyz")).send().await {
            Ok(response) if response.status().as_u16() == 503 => {
                not_ready = true;
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(_) => break,
        }
    }
    assert!(not_ready, "/readyz must say 503 while draining");
    proxy.as_ref().unwrap().release();

    let answer = in_flight.await.unwrap().unwrap();
    assert!(!answer.exists);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the gateway stops once the call finished")
        .unwrap();
    drop(sandbox);
}
