//! CreatePagePay and CreateWapPay: signed links (no network call) that the sandbox accepts.

use alipay::form;
use payment_proto::v1::{CreatePagePayRequest, CreateWapPayRequest};

use crate::helpers::*;

/// The decoded query parameters of a pay link.
fn link_params(url: &str) -> Vec<(String, String)> {
    let (_, query) = url.split_once('?').unwrap();
    form::decode(query.as_bytes()).unwrap()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_page_pay_link_is_signed_and_opens_the_cashier() {
    let app = spawn().await;
    let out_trade_no = order_no("PAGE");

    let link = app
        .client
        .create_page_pay(
            REQUEST_ID,
            CreatePagePayRequest {
                body: Some("第 1 课到第 12 课".into()),
                passback_params: Some("coupon=A&user=7".into()),
                ..page_pay(&out_trade_no, "88.88")
            },
        )
        .await
        .unwrap();

    assert_eq!(link.out_trade_no, out_trade_no);
    assert!(
        link.url.starts_with(&app.sandbox.gateway_url()),
        "{}",
        link.url
    );
    let params = link_params(&link.url);
    assert_eq!(param(&params, "method"), Some("alipay.trade.page.pay"));
    assert_eq!(param(&params, "app_id"), Some(APP_ID));
    assert_eq!(param(&params, "sign_type"), Some("RSA2"));
    assert_eq!(param(&params, "charset"), Some("utf-8"));
    // The configured defaults, as no override was given.
    assert_eq!(
        param(&params, "notify_url"),
        Some("http://127.0.0.1:9/alipay/notify")
    );
    assert_eq!(
        param(&params, "return_url"),
        Some("http://127.0.0.1:9/order/success/")
    );
    let biz = param(&params, "biz_content").unwrap();
    assert!(biz.contains("\"total_amount\":\"88.88\""), "{biz}");
    assert!(biz.contains("FAST_INSTANT_TRADE_PAY"), "{biz}");
    assert!(param(&params, "sign").unwrap().len() > 300);
    // The form posts the same parameters to the same gateway.
    assert!(
        link.form_html
            .contains(&format!("action=\"{}\"", app.sandbox.gateway_url()))
    );
    assert!(link.form_html.contains("name=\"sign\""));

    // The sandbox (verifying with our public key) opens the cashier.
    let cashier = app.http.get(&link.url).send().await.unwrap();
    assert_eq!(cashier.status().as_u16(), 200);
    assert!(cashier.text().await.unwrap().contains(&out_trade_no));
    let trade = app.sandbox_trade(&out_trade_no).await;
    assert_eq!(trade["status"], "WAIT_BUYER_PAY");
    assert_eq!(trade["total_amount"], "88.88");
    assert_eq!(trade["subject"], "Rust 课程");
    assert_eq!(trade["product_code"], "FAST_INSTANT_TRADE_PAY");
    // URL-encoded by the gateway, as Alipay wants it, so it comes back intact.
    assert_eq!(trade["passback_params"], "coupon%3DA%26user%3D7");
}

#[tokio::test]
async fn the_posted_form_is_accepted_too() {
    let app = spawn().await;
    let out_trade_no = order_no("FORM");
    let link = app
        .client
        .create_page_pay(REQUEST_ID, page_pay(&out_trade_no, "1.00"))
        .await
        .unwrap();

    // What the browser's auto-submitting form posts: the same parameters as a form body.
    let (_, query) = link.url.split_once('?').unwrap();
    let posted = app
        .http
        .post(app.sandbox.gateway_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_owned())
        .send()
        .await
        .unwrap();

    assert_eq!(posted.status().as_u16(), 200);
    assert!(posted.text().await.unwrap().contains(&out_trade_no));
}

#[tokio::test]
async fn per_call_urls_and_expiry_override_the_defaults() {
    let app = spawn_with(|s| s.with_pay_expiry(std::time::Duration::from_secs(1800))).await;
    let deadline_at = chrono::Utc::now() + chrono::Duration::hours(2);
    // The caller sends an instant; Alipay gets it as Beijing-time text.
    let deadline = alipay::time::format_beijing(deadline_at);

    let with_defaults = app
        .client
        .create_page_pay(REQUEST_ID, page_pay(&order_no("EXP"), "5.00"))
        .await
        .unwrap();
    let overridden = app
        .client
        .create_page_pay(
            REQUEST_ID,
            CreatePagePayRequest {
                time_expire: Some(payment_proto::timestamp(deadline_at)),
                notify_url: Some("https://pay.example.com/hooks/alipay".into()),
                return_url: Some("https://shop.example.com/done".into()),
                ..page_pay(&order_no("EXP"), "5.00")
            },
        )
        .await
        .unwrap();

    let params = link_params(&with_defaults.url);
    let biz = param(&params, "biz_content").unwrap();
    assert!(
        biz.contains("\"time_expire\":\""),
        "the default expiry is set: {biz}"
    );
    let params = link_params(&overridden.url);
    assert!(
        param(&params, "biz_content")
            .unwrap()
            .contains(&format!("\"time_expire\":\"{deadline}\""))
    );
    assert_eq!(
        param(&params, "notify_url"),
        Some("https://pay.example.com/hooks/alipay")
    );
    assert_eq!(
        param(&params, "return_url"),
        Some("https://shop.example.com/done")
    );
}

#[tokio::test]
async fn a_wap_pay_link_uses_quick_wap_way_and_opens_the_cashier() {
    let app = spawn().await;
    let out_trade_no = order_no("WAP");

    let link = app
        .client
        .create_wap_pay(
            REQUEST_ID,
            CreateWapPayRequest {
                out_trade_no: out_trade_no.clone(),
                total_amount: "12.50".into(),
                subject: "手机支付".into(),
                quit_url: Some("https://shop.example.com/cart".into()),
                ..CreateWapPayRequest::default()
            },
        )
        .await
        .unwrap();

    let params = link_params(&link.url);
    assert_eq!(param(&params, "method"), Some("alipay.trade.wap.pay"));
    assert!(
        param(&params, "biz_content")
            .unwrap()
            .contains("QUICK_WAP_WAY")
    );
    let cashier = app.http.get(&link.url).send().await.unwrap();
    assert_eq!(cashier.status().as_u16(), 200);
    let trade = app.sandbox_trade(&out_trade_no).await;
    assert_eq!(trade["product_code"], "QUICK_WAP_WAY");
    assert_eq!(trade["quit_url"], "https://shop.example.com/cart");
}

#[tokio::test]
async fn legacy_rsa_links_verify_too() {
    let app = spawn_with(|s| s.with_sign_type(alipay::sign::SignType::Rsa)).await;
    let out_trade_no = order_no("RSA1");
    let link = app
        .client
        .create_page_pay(REQUEST_ID, page_pay(&out_trade_no, "3.00"))
        .await
        .unwrap();
    assert_eq!(param(&link_params(&link.url), "sign_type"), Some("RSA"));
    assert_eq!(
        app.http
            .get(&link.url)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        app.sandbox_trade(&out_trade_no).await["status"],
        "WAIT_BUYER_PAY"
    );
}

#[tokio::test]
async fn pay_links_can_point_at_another_address_than_server_calls() {
    // As in compose: the gateway calls `alipay-sandbox:8090`, the browser follows `localhost:8090`.
    let app = spawn_with(|s| s.with_pay_link_gateway("http://localhost:8090/gateway.do")).await;
    let link = app
        .client
        .create_page_pay(REQUEST_ID, page_pay(&order_no("LINK"), "2.00"))
        .await
        .unwrap();
    assert!(
        link.url.starts_with("http://localhost:8090/gateway.do?"),
        "{}",
        link.url
    );
    assert!(
        link.form_html
            .contains("action=\"http://localhost:8090/gateway.do\"")
    );
    // Server API calls still reach the sandbox at its own address.
    let answer = app
        .client
        .query_trade(
            REQUEST_ID,
            payment_proto::v1::QueryTradeRequest {
                out_trade_no: "LINK_NONE".into(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(!answer.exists);
}

#[tokio::test]
async fn any_course_name_becomes_a_subject_the_cashier_accepts() {
    let app = spawn().await;
    let out_trade_no = order_no("SUBJ");

    let link = app
        .client
        .create_page_pay(
            REQUEST_ID,
            CreatePagePayRequest {
                subject: "C/C++ 入门 & R&D = 101".into(),
                ..page_pay(&out_trade_no, "9.90")
            },
        )
        .await
        .unwrap();

    let cashier = app.http.get(&link.url).send().await.unwrap();
    assert_eq!(cashier.status().as_u16(), 200);
    let trade = app.sandbox_trade(&out_trade_no).await;
    assert_eq!(trade["subject"], "C／C++ 入门 ＆ R＆D ＝ 101");
}
