//! When Alipay misbehaves: 5xx (retried for idempotent calls only), timeouts and refused
//! connections (UNAVAILABLE), a tampered response signature (DATA_LOSS), and a refund whose
//! outcome was unknown, retried safely with its same out_request_no.

use std::time::Duration;

use payment_gateway::RetryPolicy;
use payment_proto::v1::{CloseTradeRequest, QueryTradeRequest, RefundRequest, TradeStatus};
use serde_json::json;
use tonic::Code;

use crate::helpers::*;

fn query(out_trade_no: &str) -> QueryTradeRequest {
    QueryTradeRequest {
        out_trade_no: out_trade_no.into(),
        trade_no: String::new(),
    }
}

fn count(metrics: &str, line_start: &str) -> u64 {
    metrics
        .lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn reads_are_retried_through_5xx_within_the_bound() {
    let app = spawn().await; // 3 attempts
    let out_trade_no = app.paid_trade("8.00").await;

    app.set_faults(json!({"api": {"fail_5xx": 2}})).await;
    let answer = app
        .client
        .query_trade(REQUEST_ID, query(&out_trade_no))
        .await
        .unwrap();
    assert_eq!(answer.trade_status(), TradeStatus::TradeSuccess);

    let metrics = app.metrics().await;
    let calls = "gateway_alipay_calls_total{method=\"alipay.trade.query\"";
    assert_eq!(
        count(&metrics, &format!("{calls},outcome=\"unavailable\"}}")),
        2
    );
    assert_eq!(count(&metrics, &format!("{calls},outcome=\"ok\"}}")), 1);

    // More failures than attempts: UNAVAILABLE after exactly three.
    app.set_faults(json!({"api": {"fail_5xx": 5}})).await;
    let status = app
        .client
        .query_trade(REQUEST_ID, query(&out_trade_no))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("503"), "{status:?}");
    assert_eq!(
        app.faults().await["api"]["fail_5xx"],
        2,
        "three attempts were made"
    );
}

#[tokio::test]
async fn close_is_never_retried() {
    let app = spawn().await;
    let out_trade_no = app.opened_trade("8.00").await;

    app.set_faults(json!({"api": {"fail_5xx": 1}})).await;
    let status = app
        .client
        .close_trade(
            REQUEST_ID,
            CloseTradeRequest {
                out_trade_no: out_trade_no.clone(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(app.faults().await["api"]["fail_5xx"], 0, "one attempt only");
    assert_eq!(
        app.sandbox_trade(&out_trade_no).await["status"],
        "WAIT_BUYER_PAY"
    );
}

#[tokio::test]
async fn a_refund_is_retried_with_its_same_out_request_no() {
    let app = spawn().await;
    let out_trade_no = app.paid_trade("50.00").await;

    app.set_faults(json!({"api": {"fail_5xx": 1}})).await;
    let refunded = app
        .client
        .refund(
            REQUEST_ID,
            RefundRequest {
                out_trade_no: out_trade_no.clone(),
                refund_amount: "5.00".into(),
                out_request_no: "RF_RETRY".into(),
                ..RefundRequest::default()
            },
        )
        .await
        .unwrap();

    assert!(refunded.fund_change);
    assert_eq!(refunded.refund_fee, "5.00");
    let trade = app.sandbox_trade(&out_trade_no).await;
    assert_eq!(trade["refunds"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_unavailable_and_a_refund_retry_never_refunds_twice() {
    let app = spawn_with(|s| {
        s.with_http_timeouts(Duration::from_millis(300), Duration::from_millis(300))
            .with_retry(RetryPolicy::NONE)
    })
    .await;
    let out_trade_no = app.paid_trade("50.00").await;
    let refund = RefundRequest {
        out_trade_no: out_trade_no.clone(),
        refund_amount: "7.00".into(),
        out_request_no: "RF_TIMEOUT".into(),
        ..RefundRequest::default()
    };

    // Alipay processes the refund but answers too late.
    app.set_faults(json!({"api": {"timeout_ms": 1500}})).await;
    let status = app
        .client
        .refund(REQUEST_ID, refund.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("timed out"), "{status:?}");
    let status = app
        .client
        .query_trade(REQUEST_ID, query(&out_trade_no))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    // Alipay took the first one although its answer never came (the sandbox records it).
    let mut recorded = false;
    for _ in 0..200 {
        if app.sandbox_trade(&out_trade_no).await["refunds"]
            .as_array()
            .is_some_and(|refunds| refunds.len() == 1)
        {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(recorded, "the timed-out refund took effect");

    // The caller retries with the same out_request_no: answered, and no money moves twice.
    app.clear_faults().await;
    let retried = app.client.refund(REQUEST_ID, refund).await.unwrap();
    assert!(!retried.fund_change);
    assert_eq!(retried.refund_fee, "7.00");
    let trade = app.sandbox_trade(&out_trade_no).await;
    assert_eq!(trade["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(trade["refunded_amount"], "7.00");
}

#[tokio::test]
async fn an_unreachable_alipay_is_unavailable() {
    let closed_port = {
        let listener = local_listener();
        listener.local_addr().unwrap().port()
    };
    let app = spawn_with(|mut s| {
        s.gateway =
            alipay::request::Gateway::Custom(format!("http://127.0.0.1:{closed_port}/gateway.do"));
        s
    })
    .await;

    let status = app
        .client
        .query_trade(REQUEST_ID, query("ANY_2"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("connection"), "{status:?}");
    // Pay links need no network: they still work.
    app.client
        .create_page_pay(REQUEST_ID, page_pay("OFFLINE_1", "1.00"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tampered_response_signature_is_data_loss_and_not_retried() {
    let app = spawn_behind_proxy(ProxyMode::Tamper, |s| s).await;
    let proxy = app.proxy.as_ref().unwrap();

    // Even "no such trade" is not believed when its signature fails.
    let status = app
        .client
        .query_trade(REQUEST_ID, query("NEVER_OPENED_4"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::DataLoss, "{status:?}");
    assert!(status.message().contains("signature"), "{status:?}");
    assert_eq!(
        proxy.requests.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "an untrusted answer is not retried"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "gateway_alipay_calls_total{method=\"alipay.trade.query\",outcome=\"untrusted\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("gateway_rpcs_total{code=\"DATA_LOSS\",rpc=\"QueryTrade\"} 1"));
}

#[tokio::test]
async fn an_untampered_answer_through_the_same_proxy_verifies() {
    // The control for the test above: the proxy itself changes nothing else.
    let app = spawn_behind_proxy(ProxyMode::Hold, |s| s).await;
    let proxy = app.proxy.as_ref().unwrap();
    proxy.release();
    let answer = app
        .client
        .query_trade(REQUEST_ID, query("NEVER_OPENED_5"))
        .await
        .unwrap();
    assert!(!answer.exists);
}
