//! OpenAPI v3 at `/v3/...`: the alipay crate's `V3Client` against the sandbox (signed answers
//! that verify, the same trades as `gateway.do`), and the request forms the Node SDK sends: a
//! GET whose query needs `URLSearchParams` encoding, an `alipay-app-auth-token`, an unknown path.

use std::sync::Arc;
use std::time::Duration;

use alipay::client::{ClientError, TradeLookup};
use alipay::request::{OutTradeNo, TradeQuery, TradeRef};
use alipay::v3::api::{HttpMethod, V3Api, V3Request};
use alipay::v3::sign::{self, ResponseHeaders};
use alipay::v3::{V3Client, V3Config, V3Error, V3Signer};
use serde_json::json;

use crate::helpers::*;

fn client(app: &TestApp, app_auth_token: Option<&str>) -> V3Client {
    V3Client::new(V3Config {
        signer: V3Signer::new(APP_ID, app_key()),
        alipay_keys: Arc::new(app.alipay_public_key.clone()),
        base_url: app.sandbox.base_url().to_owned(),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        app_auth_token: app_auth_token.map(str::to_owned),
        alipay_root_cert_sn: None,
        rotation: None,
    })
    .unwrap()
}

fn query(no: &str) -> TradeQuery {
    TradeQuery {
        trade: TradeRef::out_trade_no(OutTradeNo::parse(no).unwrap()),
    }
}

#[tokio::test]
async fn v3_sees_the_trades_of_gateway_do_and_its_answers_verify() {
    let app = spawn().await;
    let trade_no = app.paid_trade("V3_PAID_1", "66.60", None).await;
    let v3 = client(&app, None);

    let TradeLookup::Found(trade, body) = v3.query(&query("V3_PAID_1")).await.unwrap() else {
        panic!("the paid trade was not found over v3");
    };
    assert_eq!(trade.trade_no.as_deref(), Some(trade_no.as_str()));
    assert_eq!(trade.total_amount.unwrap().to_string(), "66.60");
    assert!(!body.contains("\"code\""), "{body}");

    assert_eq!(
        v3.query(&query("V3_NEVER_1")).await.unwrap(),
        TradeLookup::NotExist
    );
}

#[tokio::test]
async fn a_get_with_an_encoded_query_and_an_app_auth_token_verifies() {
    let app = spawn().await;
    app.paid_trade("V3_GET_1", "1.00", None).await;
    let v3 = client(&app, Some("202506BB779c0aedf25a3f2fe79224728711b4"));
    // A value that needs every kind of URLSearchParams escape, signed as sent.
    let request = V3Request {
        method: HttpMethod::Get,
        path: "/v3/alipay/trade/query",
        query: vec![
            ("out_trade_no", "V3_GET_1".into()),
            ("query_options", "课程 订单/2025+Q2~".into()),
        ],
        body: String::new(),
    };
    let answer = v3.execute(&request).await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("\"trade_status\":\"TRADE_SUCCESS\""));
}

#[tokio::test]
async fn an_unknown_path_is_a_signed_refusal_and_faults_apply() {
    let app = spawn().await;
    let v3 = client(&app, None);
    let unknown = V3Request {
        method: HttpMethod::Post,
        path: "/v3/alipay/open/app/ping",
        query: Vec::new(),
        body: "{}".into(),
    };
    assert!(matches!(
        v3.execute(&unknown).await,
        Err(V3Error::Alipay { status: 400, ref code, .. }) if code == "isv.invalid-method"
    ));

    app.put_faults(json!({"api": {"fail_5xx": 1}})).await;
    assert!(matches!(
        v3.query(&query("V3_FAULT_1")).await,
        Err(ClientError::Unavailable(ref reason)) if reason.contains("503")
    ));
    assert_eq!(
        v3.query(&query("V3_FAULT_1")).await.unwrap(),
        TradeLookup::NotExist,
        "the fault was used up"
    );
}

#[tokio::test]
async fn answers_are_signed_over_the_exact_body_and_headers() {
    let app = spawn().await;
    let signed = V3Signer::new(APP_ID, app_key())
        .sign(&query("V3_RAW_1").v3_request().unwrap(), None)
        .unwrap();
    let response = app
        .http
        .post(app.url(&signed.request_target))
        .header("authorization", &signed.authorization.authorization)
        .header("content-type", "application/json")
        .body(signed.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap());
    let received = ResponseHeaders {
        timestamp: header("alipay-timestamp"),
        nonce: header("alipay-nonce"),
        signature: header("alipay-signature"),
        alipay_sn: None,
    };
    sign::verify_response(&app.alipay_public_key, &received, &body).unwrap();
    // One byte more and it no longer verifies.
    assert!(sign::verify_response(&app.alipay_public_key, &received, &format!("{body} ")).is_err());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"],
        "ACQ.TRADE_NOT_EXIST"
    );
}
