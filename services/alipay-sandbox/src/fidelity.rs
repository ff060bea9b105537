//! Fidelity: fed a vector's Alipay key (TEST-ONLY), clock and fields, what the sandbox signs and
//! emits equals the vector byte for byte. The vectors were made by an independent implementation
//! (python-alipay-sdk); see `crates/alipay/tests/vectors/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alipay::keys::PrivateKey;
use alipay::money::Money;
use alipay::notify::TradeStatus;
use alipay::sign::SignType;
use alipay::time::parse_beijing;
use serde_json::Value;

use crate::gateway::api;
use crate::signing::{AlipaySigner, Node, PayReturn, RefundFields, TradeNotice};
use crate::trade::{Buyer, Product, Refund, Trade};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/alipay/tests/vectors")
}

fn cases(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(vectors().join(file)).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    document["cases"].as_array().unwrap().clone()
}

fn case(file: &str, name: &str) -> Value {
    cases(file).into_iter().find(|c| c["name"] == name).unwrap()
}

fn signer() -> AlipaySigner {
    let pem = std::fs::read_to_string(vectors().join("keys/alipay_private_pkcs1.pem")).unwrap();
    AlipaySigner::new(PrivateKey::from_text(&pem).unwrap())
}

fn sign_type(case: &Value) -> SignType {
    case["sign_type"].as_str().unwrap().parse().unwrap()
}

/// Rebuilds a notification from a vector's fields; `None` when it carries a field the sandbox
/// never sends (e.g. `buyer_open_id`), or a `notify_time` (set per attempt) is missing.
fn notice_from(
    params: &BTreeMap<String, String>,
    sign_type: SignType,
) -> Option<(TradeNotice, String)> {
    const KNOWN: &[&str] = &[
        "gmt_create",
        "charset",
        "seller_email",
        "subject",
        "body",
        "buyer_id",
        "invoice_amount",
        "notify_id",
        "fund_bill_list",
        "notify_type",
        "trade_status",
        "receipt_amount",
        "buyer_pay_amount",
        "app_id",
        "sign_type",
        "seller_id",
        "gmt_payment",
        "gmt_close",
        "notify_time",
        "version",
        "out_trade_no",
        "total_amount",
        "trade_no",
        "auth_app_id",
        "buyer_logon_id",
        "point_amount",
        "passback_params",
        "refund_fee",
        "gmt_refund",
        "out_biz_no",
        "sign",
    ];
    if params.keys().any(|k| !KNOWN.contains(&k.as_str())) {
        return None;
    }
    let text = |k: &str| params.get(k).cloned();
    let money = |k: &str| params.get(k).map(|v| v.parse::<Money>().unwrap());
    let refund = text("out_biz_no").map(|out_biz_no| RefundFields {
        out_biz_no,
        refund_fee: money("refund_fee").unwrap(),
        gmt_refund: text("gmt_refund").unwrap(),
    });
    let status: TradeStatus = params["trade_status"].parse().unwrap();
    let notice = TradeNotice {
        notify_id: text("notify_id")?,
        app_id: text("app_id")?,
        auth_app_id: text("auth_app_id")?,
        charset: text("charset")?,
        version: text("version")?,
        sign_type,
        trade_no: text("trade_no")?,
        out_trade_no: text("out_trade_no")?,
        trade_status: status,
        subject: text("subject")?,
        body: text("body"),
        buyer_id: text("buyer_id"),
        buyer_logon_id: text("buyer_logon_id"),
        seller_id: text("seller_id")?,
        seller_email: text("seller_email"),
        total_amount: money("total_amount")?,
        receipt_amount: money("receipt_amount"),
        invoice_amount: money("invoice_amount"),
        buyer_pay_amount: money("buyer_pay_amount"),
        point_amount: money("point_amount"),
        gmt_create: text("gmt_create")?,
        gmt_payment: text("gmt_payment"),
        gmt_close: text("gmt_close"),
        fund_bill_list: text("fund_bill_list"),
        passback_params: text("passback_params"),
        refund,
    };
    Some((notice, text("notify_time")?))
}

#[test]
fn notifications_equal_the_vectors_byte_for_byte() {
    let signer = signer();
    let mut byte_equal = Vec::new();
    let mut checked = 0;
    for case in cases("notify.json")
        .into_iter()
        .filter(|c| c["expect"] == "valid")
    {
        let name = case["name"].as_str().unwrap().to_owned();
        let params: BTreeMap<String, String> =
            serde_json::from_value(case["params"].clone()).unwrap();
        let Some((notice, notify_time)) = notice_from(&params, sign_type(&case)) else {
            continue;
        };
        let form = signer
            .sign_form(notice.pairs(&notify_time), notice.sign_type)
            .unwrap();
        assert_eq!(
            form.string_to_sign(),
            case["string_to_verify"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(form.sign(), params["sign"], "{name}: signature");
        checked += 1;
        if form.encoded() == case["body"].as_str().unwrap() {
            byte_equal.push(name);
        }
    }
    assert!(
        checked >= 8,
        "only {checked} notification vectors were rebuilt"
    );
    // Cases that use Alipay's field order come out identical, body and all.
    for name in [
        "trade_success",
        "trade_closed",
        "wait_buyer_pay",
        "refund_notification",
        "chinese_subject_and_body",
        "passback_params_special",
        "rsa_sha1_signed",
        "max_amount",
    ] {
        assert!(
            byte_equal.iter().any(|n| n == name),
            "{name} body differs; equal: {byte_equal:?}"
        );
    }
}

#[test]
fn returns_equal_the_vectors_byte_for_byte() {
    let signer = signer();
    for name in ["valid_return", "valid_return_max_amount"] {
        let case = case("return.json", name);
        let params: BTreeMap<String, String> =
            serde_json::from_value(case["params"].clone()).unwrap();
        let fields = PayReturn {
            charset: params["charset"].clone(),
            out_trade_no: params["out_trade_no"].clone(),
            method: params["method"].clone(),
            total_amount: params["total_amount"].parse().unwrap(),
            trade_no: params["trade_no"].clone(),
            auth_app_id: params["auth_app_id"].clone(),
            version: params["version"].clone(),
            app_id: params["app_id"].clone(),
            sign_type: params["sign_type"].parse().unwrap(),
            seller_id: params["seller_id"].clone(),
            timestamp: params["timestamp"].clone(),
        };
        let form = signer.sign_form(fields.pairs(), fields.sign_type).unwrap();
        assert_eq!(
            form.string_to_sign(),
            case["string_to_verify"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(form.encoded(), case["query"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn response_signatures_equal_the_vectors() {
    let signer = signer();
    let mut checked = 0;
    for case in cases("response.json")
        .into_iter()
        .filter(|c| c["expect"] == "valid")
    {
        let name = case["name"].as_str().unwrap();
        let raw: Value = serde_json::from_str(case["raw"].as_str().unwrap()).unwrap();
        let content = case["signed_content"].as_str().unwrap();
        assert_eq!(
            signer.sign_text(content, sign_type(&case)).unwrap(),
            raw["sign"].as_str().unwrap(),
            "{name}"
        );
        checked += 1;
    }
    assert!(checked >= 8);
}

fn vector_trade(out_trade_no: &str, trade_no: &str, paid_at: &str) -> Trade {
    let created = parse_beijing("2024-05-19 13:58:00").unwrap();
    Trade {
        id: 1,
        app_id: "2021971696296258".into(),
        seller_id: "2088847604270121".into(),
        product: Product::PagePay,
        sign_type: SignType::Rsa2,
        charset: "utf-8".into(),
        out_trade_no: out_trade_no.into(),
        trade_no: trade_no.into(),
        total_amount: "88.88".parse().unwrap(),
        subject: "测试订单".into(),
        body: None,
        passback_params: None,
        notify_url: None,
        return_url: None,
        quit_url: None,
        time_expire: None,
        timeout_express: None,
        deadline: created + chrono::Duration::days(15),
        status: TradeStatus::TradeSuccess,
        gmt_create: created,
        gmt_payment: Some(parse_beijing(paid_at).unwrap()),
        gmt_close: None,
        expired: false,
        buyer: Some(Buyer {
            user_id: "2088671638240880".into(),
            logon_id: "lgh***@sandbox.com".into(),
        }),
        refunds: Vec::new(),
        notifications: Vec::new(),
    }
}

/// The node the sandbox builds, signed as the sandbox answers, equals the vector's raw body.
fn assert_answer_equals(node: &Node, case_name: &str) {
    let case = case("response.json", case_name);
    let method = case["method"].as_str().unwrap();
    let text = node.to_json();
    assert_eq!(
        text,
        case["signed_content"].as_str().unwrap(),
        "{case_name}: node text"
    );
    let body = signer()
        .response_body(&alipay::response::node_key(method), &text, SignType::Rsa2)
        .unwrap();
    assert_eq!(
        body,
        case["raw"].as_str().unwrap(),
        "{case_name}: whole body"
    );
}

#[test]
fn server_api_answers_equal_the_vectors_byte_for_byte() {
    let trade = vector_trade(
        "20240518020013503272",
        "2024051922001379292528042316",
        "2024-05-19 13:59:13",
    );
    assert_answer_equals(&api::query_node(&trade), "trade_query_success");
    assert_answer_equals(&api::close_node(&trade), "trade_close_success");
    assert_answer_equals(
        &api::trade_not_exist_node(Some("eae2060cf9c4c19f5496b2c94de8a13d")),
        "trade_not_exist",
    );

    let mut refunded = trade.clone();
    let refund = Refund {
        out_request_no: "R1".into(),
        amount: "10.00".parse().unwrap(),
        reason: None,
        gmt_refund: parse_beijing("2024-05-19 18:59:13").unwrap(),
    };
    refunded.refunds.push(refund.clone());
    assert_answer_equals(
        &api::refund_node(&refunded, &refund, true),
        "trade_refund_success",
    );

    let bill = case("response.json", "bill_downloadurl_success");
    let raw: Value = serde_json::from_str(bill["raw"].as_str().unwrap()).unwrap();
    let url = raw["alipay_data_dataservice_bill_downloadurl_query_response"]["bill_download_url"]
        .as_str()
        .unwrap();
    assert_answer_equals(
        &Node::success().field("bill_download_url", url),
        "bill_downloadurl_success",
    );
}
