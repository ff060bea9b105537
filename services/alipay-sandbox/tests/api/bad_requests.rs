//! Requests Alipay refuses, answered the way Alipay answers them: unsigned before the caller is
//! authenticated, signed after; JSON for server APIs, an error page for page pay.

use std::collections::BTreeMap;
use std::sync::Arc;

use alipay::form;
use alipay::request::{RequestSigner, SignedRequest, TradeQuery, TradeRef};
use alipay::response::{self, ResponseError};
use alipay::sign::{self, SignType};
use alipay::time::{FixedClock, format_beijing};
use serde_json::Value;

use crate::helpers::{APP_ID, TestApp, alipay_key, app_key, element, spawn};

fn query() -> TradeQuery {
    TradeQuery {
        trade: TradeRef::trade_no("2024051622001000000000000001"),
    }
}

fn node(body: &str, key: &str) -> Value {
    let document: Value = serde_json::from_str(body).unwrap();
    document[key].clone()
}

fn unsigned(body: &str) -> bool {
    serde_json::from_str::<Value>(body)
        .unwrap()
        .get("sign")
        .is_none()
}

/// Encodes a request's parameters with its signature.
fn encoded(params: &BTreeMap<String, String>, sign: Option<&str>) -> String {
    let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    form::encode(pairs.chain(sign.map(|s| ("sign", s))))
}

fn signed_query(app: &TestApp) -> SignedRequest {
    app.signer.sign_request(&query()).unwrap()
}

#[tokio::test]
async fn a_bad_signature_is_refused_unsigned_with_the_gateways_string_to_sign() {
    let app = spawn().await;
    let wrong_key = RequestSigner::new(APP_ID, alipay_key(), SignType::Rsa2);
    let request = wrong_key.sign_request(&query()).unwrap();

    let body = app.post_gateway(request.encoded()).await;

    assert!(unsigned(&body), "{body}");
    let answer = node(&body, "alipay_trade_query_response");
    assert_eq!(answer["code"], "40002");
    assert_eq!(answer["msg"], "Invalid Arguments");
    assert_eq!(answer["sub_code"], "isv.invalid-signature");
    let escaped = alipay::request::escape_html(request.string_to_sign());
    assert!(
        answer["sub_msg"].as_str().unwrap().ends_with(&escaped),
        "{body}"
    );
    let refused = response::verify_response(
        &body,
        "alipay.trade.query",
        &app.alipay_public_key,
        SignType::Rsa2,
    );
    assert!(matches!(refused, Err(ResponseError::Unsigned { .. })));
}

#[tokio::test]
async fn a_signature_made_with_the_other_algorithm_is_named() {
    let app = spawn().await;
    let request = signed_query(&app);
    let sha1 = sign::sign(&app_key(), SignType::Rsa, request.string_to_sign()).unwrap();
    let body = app
        .post_gateway(encoded(request.params(), Some(&sha1)))
        .await;
    let answer = node(&body, "alipay_trade_query_response");
    assert_eq!(answer["sub_code"], "isv.invalid-signature");
    assert!(
        answer["sub_msg"]
            .as_str()
            .unwrap()
            .contains("sign值与sign_type参数指定的签名类型不一致"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_app_is_refused_unsigned() {
    let app = spawn().await;
    let stranger = RequestSigner::new("2021000000000999", app_key(), SignType::Rsa2);
    let body = app
        .post_gateway(stranger.sign_request(&query()).unwrap().encoded())
        .await;
    assert!(unsigned(&body));
    let answer = node(&body, "alipay_trade_query_response");
    assert_eq!(answer["code"], "40002");
    assert_eq!(answer["sub_code"], "isv.invalid-app-id");
}

#[tokio::test]
async fn invalid_biz_content_is_refused_signed() {
    let app = spawn().await;
    let request = app
        .signer
        .sign_method("alipay.trade.query", "{not json".to_owned(), Vec::new())
        .unwrap();
    let body = app.post_gateway(request.encoded()).await;
    let verified = response::verify_response(
        &body,
        "alipay.trade.query",
        &app.alipay_public_key,
        SignType::Rsa2,
    )
    .unwrap();
    assert_eq!(verified.status.code, "40002");
    assert_eq!(
        verified.status.sub_code.as_deref(),
        Some("isv.invalid-parameter")
    );

    let no_reference = app
        .signer
        .sign_method("alipay.trade.query", "{}".to_owned(), Vec::new())
        .unwrap();
    let body = app.post_gateway(no_reference.encoded()).await;
    let verified = response::verify_response(
        &body,
        "alipay.trade.query",
        &app.alipay_public_key,
        SignType::Rsa2,
    )
    .unwrap();
    assert_eq!(verified.status.code, "40004");
    assert_eq!(
        verified.status.sub_code.as_deref(),
        Some("ACQ.INVALID_PARAMETER")
    );
}

#[tokio::test]
async fn an_old_or_malformed_timestamp_is_refused() {
    let app = spawn().await;
    let two_hours_ago = chrono::Utc::now() - chrono::Duration::hours(2);
    let stale = app
        .signer
        .clone()
        .with_clock(Arc::new(FixedClock::new(two_hours_ago)));
    let body = app
        .post_gateway(stale.sign_request(&query()).unwrap().encoded())
        .await;
    assert_eq!(
        node(&body, "alipay_trade_query_response")["sub_code"],
        "isv.invalid-timestamp"
    );

    let mut params = signed_query(&app).params().clone();
    params.insert(
        "timestamp".into(),
        format_beijing(chrono::Utc::now()).replace(' ', "T"),
    );
    let resigned = app.signer.sign_params(params).unwrap();
    let body = app.post_gateway(resigned.encoded()).await;
    assert_eq!(
        node(&body, "alipay_trade_query_response")["sub_code"],
        "isv.invalid-timestamp"
    );
}

#[tokio::test]
async fn missing_or_broken_common_parameters_get_alipays_codes() {
    let app = spawn().await;
    let request = signed_query(&app);

    let body = app.post_gateway(encoded(request.params(), None)).await;
    let answer = node(&body, "alipay_trade_query_response");
    assert_eq!(
        (answer["code"].as_str(), answer["sub_code"].as_str()),
        (Some("40001"), Some("isv.missing-signature"))
    );

    let mut params = request.params().clone();
    params.remove("method");
    let body = app
        .post_gateway(encoded(&params, Some(request.sign())))
        .await;
    assert_eq!(
        node(&body, "error_response")["sub_code"],
        "isv.missing-method"
    );

    let body = app
        .post_gateway(format!("{}&method=alipay.trade.close", request.encoded()))
        .await;
    assert_eq!(
        node(&body, "error_response")["sub_code"],
        "isv.suspected-attack"
    );

    let mut params = request.params().clone();
    params.insert("charset".into(), "GBK".into());
    let body = app
        .post_gateway(app.signer.sign_params(params).unwrap().encoded())
        .await;
    assert_eq!(
        node(&body, "alipay_trade_query_response")["sub_code"],
        "isv.invalid-charset"
    );

    let mut params = request.params().clone();
    params.insert("sign_type".into(), "MD5".into());
    let body = app
        .post_gateway(encoded(&params, Some(request.sign())))
        .await;
    assert_eq!(
        node(&body, "alipay_trade_query_response")["sub_code"],
        "isv.invalid-signature-type"
    );

    let body = app
        .post_gateway(format!("{}&sign=%2B%2B", encoded(request.params(), None)))
        .await;
    assert_eq!(
        node(&body, "alipay_trade_query_response")["sub_code"],
        "isv.invalid-signature"
    );
}

#[tokio::test]
async fn page_pay_refusals_show_alipays_error_page() {
    let app = spawn().await;
    let good = app.page_pay("P_1", "1.00", None);

    let wrong_key = RequestSigner::new(APP_ID, alipay_key(), SignType::Rsa2);
    let forged = wrong_key.sign_params(good.params().clone()).unwrap();
    let page = app.open_cashier(&forged).await;
    assert_eq!(element(&page, "sub_code"), "invalid-signature");
    assert!(page.contains("调试错误，请回到请求来源地，重新发起请求。"));
    assert_eq!(
        element(&page, "string_to_sign"),
        alipay::request::escape_html(forged.string_to_sign())
    );

    let stranger = RequestSigner::new("2021000000000999", app_key(), SignType::Rsa2);
    let mut params = good.params().clone();
    params.insert("app_id".into(), stranger.app_id().to_owned());
    let page = app
        .open_cashier(&stranger.sign_params(params).unwrap())
        .await;
    assert_eq!(element(&page, "sub_code"), "invalid-app-id");

    let mut params = good.params().clone();
    params.insert(
        "biz_content".into(),
        r#"{"out_trade_no":"P_1","total_amount":"1.00","subject":"x"}"#.into(),
    );
    let page = app
        .open_cashier(&app.signer.sign_params(params).unwrap())
        .await;
    assert_eq!(element(&page, "sub_code"), "ACQ.INVALID_PARAMETER");
    assert!(element(&page, "sub_msg").contains("product_code"));

    let mut params = good.params().clone();
    params.insert("biz_content".into(), r#"{"out_trade_no":"P_1","total_amount":"0.00","subject":"x","product_code":"FAST_INSTANT_TRADE_PAY"}"#.into());
    let page = app
        .open_cashier(&app.signer.sign_params(params).unwrap())
        .await;
    assert!(element(&page, "sub_msg").contains("total_amount"));
}
