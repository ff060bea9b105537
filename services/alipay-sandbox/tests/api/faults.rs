//! Every fault of `PUT /sandbox/faults`, observed from the merchant's side.

use std::time::{Duration, Instant};

use alipay::client::ClientError;
use alipay::notify::{self, VerifyError};
use alipay::request::{OutRequestNo, OutTradeNo, TradeQuery, TradeRef, TradeRefund};
use alipay::sign::SignType;
use serde_json::json;

use crate::helpers::{NotifyEndpoint, spawn};

fn notify_id(body: &str) -> String {
    alipay::form::decode(body.as_bytes())
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "notify_id")
        .unwrap()
        .1
}

fn out_trade_no(body: &str) -> String {
    alipay::form::decode(body.as_bytes())
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "out_trade_no")
        .unwrap()
        .1
}

#[tokio::test]
async fn drop_loses_the_next_notification_entirely() {
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    app.put_faults(json!({"notify": {"drop": 1}})).await;

    app.paid_trade("F_1", "1.00", Some(&endpoint.url)).await;
    app.paid_trade("F_2", "1.00", Some(&endpoint.url)).await;

    let dropped = app.notification_state("F_1", 0, "dropped").await;
    assert_eq!(dropped["attempts"].as_array().unwrap().len(), 0);
    app.notification_state("F_2", 0, "acknowledged").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let bodies = endpoint.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(out_trade_no(&bodies[0]), "F_2");
}

#[tokio::test]
async fn repeat_sends_the_same_notification_n_times() {
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    app.put_faults(json!({"notify": {"repeat": 3}})).await;

    app.paid_trade("F_3", "1.00", Some(&endpoint.url)).await;

    let received = endpoint.wait_for(3).await;
    app.notification_state("F_3", 0, "acknowledged").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(endpoint.count(), 3);
    let ids: Vec<String> = received.iter().map(|r| notify_id(&r.body)).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    for copy in &received {
        notify::verify(copy.body.as_bytes(), &app.alipay_public_key, SignType::Rsa2).unwrap();
    }
}

#[tokio::test]
async fn delay_makes_the_notification_late() {
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    app.put_faults(json!({"notify": {"delay_ms": 300}})).await;
    let started = Instant::now();

    app.paid_trade("F_4", "1.00", Some(&endpoint.url)).await;

    let received = endpoint.wait_for(1).await;
    assert!(received[0].at - started >= Duration::from_millis(300));
    let record = app.notification_state("F_4", 0, "acknowledged").await;
    assert!(record["attempts"][0]["sent_after_ms"].as_u64().unwrap() >= 300);
}

#[tokio::test]
async fn tamper_sign_sends_a_signature_that_does_not_verify_and_keeps_retrying() {
    let app = spawn().await;
    // The merchant does what it should: refuses what does not verify.
    let endpoint = NotifyEndpoint::start(vec![(400, "fail")]);
    app.put_faults(json!({"notify": {"tamper_sign": true}}))
        .await;

    app.paid_trade("F_5", "1.00", Some(&endpoint.url)).await;

    let received = endpoint.wait_for(2).await;
    for attempt in &received[..2] {
        let refused = notify::verify(
            attempt.body.as_bytes(),
            &app.alipay_public_key,
            SignType::Rsa2,
        );
        assert!(
            matches!(refused, Err(VerifyError::Mismatch { .. })),
            "{refused:?}"
        );
    }
    let record = &app.trade("F_5").await["notifications"][0];
    assert_eq!(record["attempts"][0]["sign_tampered"], true);
    assert_eq!(record["attempts"][0]["acknowledged"], false);
}

#[tokio::test]
async fn html_escaped_fund_bill_list_arrives_mangled() {
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    app.put_faults(json!({"notify": {"html_escape_fund_bill_list": true}}))
        .await;

    app.paid_trade("F_6", "1.00", Some(&endpoint.url)).await;

    let received = endpoint.wait_for(1).await;
    let body = &received[0].body;
    let fund_bill_list = alipay::form::decode(body.as_bytes())
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "fund_bill_list")
        .unwrap()
        .1;
    assert_eq!(
        fund_bill_list,
        "[{&quot;amount&quot;:&quot;1.00&quot;,&quot;fundChannel&quot;:&quot;ALIPAYACCOUNT&quot;}]"
    );
    let refused = notify::verify(body.as_bytes(), &app.alipay_public_key, SignType::Rsa2);
    assert!(matches!(refused, Err(VerifyError::Mismatch { .. })));
}

#[tokio::test]
async fn out_of_order_sends_the_later_notification_first() {
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    app.put_faults(json!({"notify": {"out_of_order": true}}))
        .await;

    app.paid_trade("F_7", "10.00", Some(&endpoint.url)).await;
    app.notification_state("F_7", 0, "held").await;
    let refund = TradeRefund {
        trade: TradeRef::out_trade_no(OutTradeNo::parse("F_7").unwrap()),
        refund_amount: "10.00".parse().unwrap(),
        out_request_no: OutRequestNo::parse("RF_7").unwrap(),
        refund_reason: None,
    };
    app.client().refund(&refund).await.unwrap();

    let received = endpoint.wait_for(2).await;
    let statuses: Vec<String> = received
        .iter()
        .map(|r| {
            alipay::form::decode(r.body.as_bytes())
                .unwrap()
                .into_iter()
                .find(|(k, _)| k == "trade_status")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(
        statuses,
        ["TRADE_CLOSED", "TRADE_SUCCESS"],
        "the refund (closing) notification came first"
    );
    assert!(received[0].body.contains("out_biz_no=RF_7"));
}

#[tokio::test]
async fn clearing_out_of_order_releases_a_held_notification() {
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    app.put_faults(json!({"notify": {"out_of_order": true}}))
        .await;
    app.paid_trade("F_8", "1.00", Some(&endpoint.url)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(endpoint.count(), 0);

    app.api.clear_faults().await.unwrap();

    endpoint.wait_for(1).await;
    app.notification_state("F_8", 0, "acknowledged").await;
}

#[tokio::test]
async fn api_fail_5xx_answers_the_next_calls_with_503_unprocessed() {
    let app = spawn().await;
    let client = app.client();
    app.paid_trade("F_9", "10.00", None).await;
    app.put_faults(json!({"api": {"fail_5xx": 2}})).await;
    let refund = TradeRefund {
        trade: TradeRef::out_trade_no(OutTradeNo::parse("F_9").unwrap()),
        refund_amount: "1.00".parse().unwrap(),
        out_request_no: OutRequestNo::parse("RF_9").unwrap(),
        refund_reason: None,
    };

    for _ in 0..2 {
        let error = client.refund(&refund).await.unwrap_err();
        assert!(
            matches!(error, ClientError::Unavailable(ref m) if m.contains("503")),
            "{error:?}"
        );
    }
    assert_eq!(
        app.trade("F_9").await["refunds"].as_array().unwrap().len(),
        0,
        "503s were not processed"
    );
    let (done, _) = client.refund(&refund).await.unwrap();
    assert!(done.fund_changed());

    let faults = app.api.faults().await.unwrap();
    assert_eq!(faults["api"]["fail_5xx"], 0);
}

#[tokio::test]
async fn api_timeout_processes_the_call_and_answers_too_late() {
    let app = spawn().await;
    app.paid_trade("F_10", "10.00", None).await;
    app.put_faults(json!({"api": {"timeout_ms": 600}})).await;
    let refund = TradeRefund {
        trade: TradeRef::out_trade_no(OutTradeNo::parse("F_10").unwrap()),
        refund_amount: "2.00".parse().unwrap(),
        out_request_no: OutRequestNo::parse("RF_10").unwrap(),
        refund_reason: None,
    };

    let error = app
        .client_with_timeout(Duration::from_millis(200))
        .refund(&refund)
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error:?}");
    assert!(
        matches!(error, ClientError::Unavailable(ref m) if m.contains("timed out")),
        "{error:?}"
    );
    // The refund took effect: a retry with the same out_request_no moves no money.
    app.api.clear_faults().await.unwrap();
    let (retry, _) = app.client().refund(&refund).await.unwrap();
    assert_eq!(retry.fund_change.as_deref(), Some("N"));
    let query = TradeQuery {
        trade: TradeRef::out_trade_no(OutTradeNo::parse("F_10").unwrap()),
    };
    assert!(matches!(
        app.client().query(&query).await.unwrap(),
        alipay::TradeLookup::Found(..)
    ));
}

#[tokio::test]
async fn page_pay_is_never_failed_by_api_faults_and_bad_fault_bodies_are_refused() {
    let app = spawn().await;
    app.put_faults(json!({"api": {"fail_5xx": 5}})).await;
    let cashier = app.open_cashier(&app.page_pay("F_11", "1.00", None)).await;
    assert!(cashier.contains("F_11"));

    for bad in [
        json!({"notify": {"dorp": 1}}),
        json!({"api": {"timeout_ms": 10_000_000}}),
        json!([1]),
    ] {
        let response = app.api.set_faults(&bad).await.unwrap_err();
        assert_eq!(response.status, 400, "{bad}");
    }
}
