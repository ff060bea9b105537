//! What only v3 has: the sandbox authenticating the `Authorization` header (a bad signature, a
//! stale timestamp, a reused nonce and an unknown app are refused with HTTP 401, unsigned), and
//! the gateway's whole server-side payment flow over v3.

use alipay::keys::PrivateKey;
use alipay::time::FixedClock;
use alipay::v3::V3Signer;
use alipay::v3::api::{HttpMethod, V3Request};
use alipay::v3::client::SignedV3Request;
use alipay::v3::sign::{self, ResponseHeaders};
use payment_proto::v1::{
    CloseTradeRequest, QueryRefundRequest, QueryTradeRequest, RefundRequest, TradeStatus,
};
use serde_json::Value;
use std::sync::Arc;

use crate::helpers::*;

fn query_request(out_trade_no: &str) -> V3Request {
    V3Request {
        method: HttpMethod::Post,
        path: "/v3/alipay/trade/query",
        query: Vec::new(),
        body: format!("{{\"out_trade_no\":\"{out_trade_no}\"}}"),
    }
}

/// What the sandbox answered: status, body, and whether its signature verified.
struct Answer {
    status: u16,
    body: Value,
    signed: bool,
    verified: bool,
}

async fn send(app: &TestApp, signed: &SignedV3Request, body: &str) -> Answer {
    let response = app
        .http
        .post(format!(
            "{}{}",
            app.sandbox.base_url(),
            signed.request_target
        ))
        .header("authorization", &signed.authorization.authorization)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap());
    let verified = sign::verify_response(
        app.sandbox.alipay_public_key(),
        &ResponseHeaders {
            timestamp: header("alipay-timestamp"),
            nonce: header("alipay-nonce"),
            signature: header("alipay-signature"),
            alipay_sn: header("alipay-sn"),
        },
        &text,
    )
    .is_ok();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap(),
        signed: header("alipay-signature").is_some(),
        verified,
    }
}

fn signer(key: PrivateKey, app_id: &str) -> V3Signer {
    V3Signer::new(app_id, key)
}

#[tokio::test]
async fn the_sandbox_answers_a_signed_request_and_refuses_its_replay() {
    let app = spawn().await;
    let request = query_request("NEVER_V3_1");
    let signed = signer(app_key(), APP_ID).sign(&request, None).unwrap();

    let first = send(&app, &signed, &request.body).await;
    assert_eq!(first.status, 404, "{}", first.body);
    assert!(
        first.verified,
        "a refusal to an authenticated caller is signed"
    );
    assert_eq!(first.body["code"], "ACQ.TRADE_NOT_EXIST");

    // The same request again, byte for byte: the nonce was used.
    let replay = send(&app, &signed, &request.body).await;
    assert_eq!(replay.status, 401);
    assert!(
        !replay.signed,
        "refusals before authentication are unsigned"
    );
    assert_eq!(replay.body["code"], "isv.repeated-request");
}

#[tokio::test]
async fn the_sandbox_refuses_a_bad_signature_a_stale_timestamp_and_an_unknown_app() {
    let app = spawn().await;
    let request = query_request("NEVER_V3_2");

    // The body changed after signing.
    let signed = signer(app_key(), APP_ID).sign(&request, None).unwrap();
    let changed = send(&app, &signed, &query_request("NEVER_V3_3").body).await;
    assert_eq!((changed.status, changed.signed), (401, false));
    assert_eq!(changed.body["code"], "isv.invalid-signature");

    // Signed by another key.
    let forged = signer(alipay_key(), APP_ID).sign(&request, None).unwrap();
    let forged = send(&app, &forged, &request.body).await;
    assert_eq!(forged.body["code"], "isv.invalid-signature");

    // 31 minutes old: outside the sandbox's 30-minute tolerance.
    let stale_clock = FixedClock::new(chrono::Utc::now() - chrono::Duration::minutes(31));
    let stale = signer(app_key(), APP_ID)
        .with_clock(Arc::new(stale_clock))
        .sign(&request, None)
        .unwrap();
    let stale = send(&app, &stale, &request.body).await;
    assert_eq!((stale.status, stale.signed), (401, false));
    assert_eq!(stale.body["code"], "isv.invalid-timestamp");

    let unknown = signer(app_key(), "2021000000009999")
        .sign(&request, None)
        .unwrap();
    let unknown = send(&app, &unknown, &request.body).await;
    assert_eq!((unknown.status, unknown.signed), (401, false));
    assert_eq!(unknown.body["code"], "isv.invalid-app-id");

    // No Authorization header at all.
    let bare = app
        .http
        .post(format!("{}/v3/alipay/trade/query", app.sandbox.base_url()))
        .body(request.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
}

#[tokio::test]
async fn the_payment_flow_runs_over_v3() {
    // Pay link (v2, the browser's) → the buyer pays → query, refund, refund query over v3; and
    // an unpaid trade closed over v3.
    let app = spawn().await;
    let out_trade_no = app.paid_trade("120.00").await;

    let paid = app
        .client
        .query_trade(
            REQUEST_ID,
            QueryTradeRequest {
                out_trade_no: out_trade_no.clone(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();
    assert_eq!(paid.trade_status(), TradeStatus::TradeSuccess);
    assert_eq!(paid.total_amount, "120.00");
    // The raw answer is the v3 body (no v2 node wrapper, no code/msg).
    assert!(!paid.raw_json.contains("\"code\""), "{}", paid.raw_json);

    let refund = app
        .client
        .refund(
            REQUEST_ID,
            RefundRequest {
                out_trade_no: out_trade_no.clone(),
                refund_amount: "20.00".into(),
                out_request_no: format!("{out_trade_no}_R1"),
                ..RefundRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(refund.fund_change);
    assert_eq!(refund.refund_fee, "20.00");

    let refunded = app
        .client
        .query_refund(
            REQUEST_ID,
            QueryRefundRequest {
                out_trade_no: out_trade_no.clone(),
                out_request_no: format!("{out_trade_no}_R1"),
                ..QueryRefundRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(refunded.exists);
    assert_eq!(refunded.refund_status, "REFUND_SUCCESS");
    assert_eq!(
        app.sandbox_trade(&out_trade_no).await["refunded_amount"],
        "20.00"
    );

    let unpaid = app.opened_trade("5.00").await;
    let closed = app
        .client
        .close_trade(
            REQUEST_ID,
            CloseTradeRequest {
                out_trade_no: unpaid.clone(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(closed.existed);
    assert_eq!(app.sandbox_trade(&unpaid).await["status"], "TRADE_CLOSED");

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "gateway_alipay_calls_total{method=\"alipay.trade.refund\",outcome=\"ok\"} 1"
        ),
        "{metrics}"
    );
}
