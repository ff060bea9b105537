use std::time::Duration;

use alipay::notify::{self, PayReturn, TradeNotification};
use alipay::request::{OutTradeNo, Subject, TimeExpire, WapPay};
use alipay::sign::SignType;
use alipay::time::FixedClock;

use crate::helpers::{NotifyEndpoint, Options, element, query_of, spawn, spawn_with};

#[tokio::test]
async fn page_pay_then_pay_redirects_with_a_signed_return_and_retries_the_notification_until_success()
 {
    // Arrange: a merchant that fails twice, then acknowledges.
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(500, "error"), (200, "fail"), (200, "success")]);
    let request = app.page_pay("ORDER_1", "88.88", Some(&endpoint.url));

    // Act: the buyer opens the cashier and pays.
    let cashier = app.open_cashier(&request).await;
    let trade_no = element(&cashier, "trade_no");
    let paid = app.press_pay(&trade_no).await;

    // Assert: the cashier showed the order, escaped.
    assert_eq!(element(&cashier, "out_trade_no"), "ORDER_1");
    assert_eq!(element(&cashier, "total_amount"), "88.88");
    assert_eq!(
        element(&cashier, "subject"),
        "Rust 课程 &lt;进阶&gt; &quot;实战&quot;"
    );
    assert!(
        !cashier.contains("<script"),
        "the cashier works without JavaScript"
    );
    assert!(cashier.contains(&format!("action=\"/cashier/{trade_no}/pay\"")));
    assert!(cashier.contains(&format!("action=\"/cashier/{trade_no}/cancel\"")));

    // The browser goes to return_url with parameters that verify with the sandbox's key.
    assert_eq!(paid.status(), 302);
    let location = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:9/alipay/return?"),
        "{location}"
    );
    let verified = notify::verify(
        query_of(&location).as_bytes(),
        &app.alipay_public_key,
        SignType::Rsa2,
    )
    .unwrap();
    let returned = PayReturn::from_verified(&verified).unwrap();
    assert_eq!(returned.method, "alipay.trade.page.pay.return");
    assert_eq!(returned.out_trade_no, "ORDER_1");
    assert_eq!(returned.trade_no, trade_no);
    assert_eq!(returned.total_amount.to_string(), "88.88");
    assert_eq!(
        returned.seller_id.as_deref(),
        Some(crate::helpers::SELLER_ID)
    );
    for field in [
        "charset",
        "auth_app_id",
        "version",
        "sign_type",
        "timestamp",
    ] {
        assert!(verified.get(field).is_some(), "return lacks {field}");
    }

    // Exactly three attempts reach the endpoint, each signed, with one notify_id.
    let record = app.notification_state("ORDER_1", 0, "acknowledged").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let received = endpoint.wait_for(3).await;
    assert_eq!(received.len(), 3, "no attempt after success");
    let mut notify_ids = Vec::new();
    for attempt in &received {
        let verified = notify::verify(
            attempt.body.as_bytes(),
            &app.alipay_public_key,
            SignType::Rsa2,
        )
        .unwrap();
        let notification = TradeNotification::from_verified(&verified).unwrap();
        assert_eq!(notification.trade_status, alipay::TradeStatus::TradeSuccess);
        assert_eq!(notification.trade_no, trade_no);
        assert_eq!(notification.total_amount.to_string(), "88.88");
        for field in [
            "notify_time",
            "notify_type",
            "app_id",
            "auth_app_id",
            "charset",
            "version",
            "sign_type",
            "buyer_id",
            "buyer_logon_id",
            "seller_id",
            "seller_email",
            "receipt_amount",
            "invoice_amount",
            "buyer_pay_amount",
            "point_amount",
            "subject",
            "gmt_create",
            "gmt_payment",
            "fund_bill_list",
        ] {
            assert!(verified.get(field).is_some(), "notification lacks {field}");
        }
        notify_ids.push(notification.notify_id);
    }
    notify_ids.dedup();
    assert_eq!(notify_ids.len(), 1, "notify_id is constant across retries");
    // The test API shows every attempt with what the merchant answered.
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["http_status"], 500);
    assert_eq!(attempts[1]["response_body"], "fail");
    assert_eq!(attempts[2]["acknowledged"], true);
    // The gaps follow Alipay's schedule (4m, 10m) scaled by 0.0001: 24 ms, then 60 ms.
    let first_gap = received[1].at - received[0].at;
    let second_gap = received[2].at - received[1].at;
    assert!(first_gap >= Duration::from_millis(20), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(55), "{second_gap:?}");
    app.sandbox.stop().await.unwrap();
}

#[tokio::test]
async fn the_same_order_reopens_the_same_trade_but_a_changed_or_paid_one_is_refused() {
    let app = spawn().await;
    let first = app
        .open_cashier(&app.page_pay("ORDER_2", "10.00", None))
        .await;
    let again = app
        .open_cashier(&app.page_pay("ORDER_2", "10.00", None))
        .await;
    assert_eq!(element(&first, "trade_no"), element(&again, "trade_no"));

    let changed = app
        .open_cashier(&app.page_pay("ORDER_2", "10.01", None))
        .await;
    assert_eq!(element(&changed, "sub_code"), "ACQ.CONTEXT_INCONSISTENT");

    assert_eq!(
        app.press_pay(&element(&first, "trade_no")).await.status(),
        302
    );
    let after_paying = app
        .open_cashier(&app.page_pay("ORDER_2", "10.00", None))
        .await;
    assert_eq!(element(&after_paying, "sub_code"), "ACQ.TRADE_HAS_SUCCESS");
    let pay_twice = app.press_pay(&element(&first, "trade_no")).await;
    assert_eq!(pay_twice.status(), 200);
    assert_eq!(
        element(&pay_twice.text().await.unwrap(), "trade_status"),
        "TRADE_SUCCESS"
    );
}

#[tokio::test]
async fn paying_after_time_expire_shows_the_expired_page_and_closes_the_trade() {
    let clock = FixedClock::at_beijing("2024-05-16 14:00:00").unwrap();
    let app = spawn_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let mut request = alipay::request::PagePay::new(
        OutTradeNo::parse("ORDER_3").unwrap(),
        "1.00".parse().unwrap(),
        Subject::parse("expiring").unwrap(),
    );
    request.time_expire = Some(TimeExpire::parse("2024-05-16 14:01:00").unwrap());
    let signed = app.signer.page_pay(&request).unwrap();
    let cashier = app.open_cashier(&signed).await;
    assert_eq!(element(&cashier, "deadline"), "2024-05-16 14:01:00");

    clock.advance(chrono::Duration::minutes(2));
    let paid = app.press_pay(&element(&cashier, "trade_no")).await;

    assert_eq!(paid.status(), 200);
    let page = paid.text().await.unwrap();
    assert!(page.contains("交易已超时关闭"), "{page}");
    assert_eq!(element(&page, "trade_status"), "TRADE_CLOSED");
    assert_eq!(app.trade("ORDER_3").await["status"], "TRADE_CLOSED");
}

#[tokio::test]
async fn page_pay_is_accepted_as_a_post_form_split_between_query_and_body() {
    // The Java SDK's form: common parameters in the action URL, biz_content in the body.
    let app = spawn().await;
    let signed = app.page_pay("ORDER_4", "5.00", None);
    let query: Vec<(&str, &str)> = signed
        .params()
        .iter()
        .filter(|(k, _)| *k != "biz_content")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("sign", signed.sign())])
        .collect();
    let url = format!(
        "{}?{}",
        app.sandbox.gateway_url(),
        alipay::form::encode(query)
    );
    let body = alipay::form::encode([("biz_content", signed.params()["biz_content"].as_str())]);
    let response = app
        .http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let page = response.text().await.unwrap();
    assert_eq!(element(&page, "out_trade_no"), "ORDER_4");
}

#[tokio::test]
async fn wap_pay_returns_with_its_own_method_and_cancel_goes_to_quit_url_with_a_close_notification()
{
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    let wap = |out: &str| {
        let mut page = alipay::request::PagePay::new(
            OutTradeNo::parse(out).unwrap(),
            "3.00".parse().unwrap(),
            Subject::parse("wap").unwrap(),
        );
        page.notify_url = Some(endpoint.url.clone());
        page.return_url = Some("http://127.0.0.1:9/return".to_owned());
        WapPay {
            page,
            quit_url: Some("http://127.0.0.1:9/quit".to_owned()),
        }
    };
    let gateway = app.gateway();

    let paid_cashier = app
        .http
        .get(app.signer.wap_pay(&wap("WAP_1")).unwrap().url(&gateway))
        .send()
        .await
        .unwrap();
    let trade_no = element(&paid_cashier.text().await.unwrap(), "trade_no");
    let paid = app.press_pay(&trade_no).await;
    let location = paid.headers()["location"].to_str().unwrap().to_owned();
    let verified = notify::verify(
        query_of(&location).as_bytes(),
        &app.alipay_public_key,
        SignType::Rsa2,
    )
    .unwrap();
    assert_eq!(verified.get("method"), Some("alipay.trade.wap.pay.return"));

    let cancelled_cashier = app
        .http
        .get(app.signer.wap_pay(&wap("WAP_2")).unwrap().url(&gateway))
        .send()
        .await
        .unwrap();
    let trade_no = element(&cancelled_cashier.text().await.unwrap(), "trade_no");
    let cancelled = app
        .http
        .post(app.url(&format!("/cashier/{trade_no}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 302);
    assert_eq!(cancelled.headers()["location"], "http://127.0.0.1:9/quit");
    let closed = app.notification_state("WAP_2", 0, "acknowledged").await;
    assert_eq!(closed["trade_status"], "TRADE_CLOSED");
    assert_eq!(closed["kind"], "close");
    let body = closed["attempts"][0]["request_body"].as_str().unwrap();
    let verified = notify::verify(body.as_bytes(), &app.alipay_public_key, SignType::Rsa2).unwrap();
    assert!(verified.get("gmt_close").is_some());
    assert!(
        verified.get("receipt_amount").is_none(),
        "an unpaid close carries no paid amounts"
    );
}

#[tokio::test]
async fn a_page_pay_cancel_closes_the_trade_and_sends_the_buyer_back_with_only_the_order_number() {
    // Arrange: a cashier for an order with a return_url (the helper's) and a notify_url.
    let app = spawn().await;
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    let cashier = app
        .open_cashier(&app.page_pay("ORDER_5", "2.00", Some(&endpoint.url)))
        .await;
    let trade_no = element(&cashier, "trade_no");

    // Act: the buyer presses Cancel.
    let cancelled = app
        .http
        .post(app.url(&format!("/cashier/{trade_no}/cancel")))
        .send()
        .await
        .unwrap();

    // Assert: back to return_url with out_trade_no alone: nothing signed, nothing to trust.
    assert_eq!(cancelled.status(), 302);
    assert_eq!(
        cancelled.headers()["location"],
        "http://127.0.0.1:9/alipay/return?out_trade_no=ORDER_5"
    );
    assert_eq!(app.trade("ORDER_5").await["status"], "TRADE_CLOSED");
    // The cashier, opened again, shows the closed trade in both languages with the way back.
    let reopened = app
        .http
        .get(app.url(&format!("/cashier/{trade_no}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(element(&reopened, "trade_status"), "TRADE_CLOSED");
    assert!(reopened.contains("交易已关闭"), "{reopened}");
    assert!(reopened.contains("This order is closed"), "{reopened}");
    assert!(
        reopened.contains("id=\"back\" href=\"http://127.0.0.1:9\""),
        "{reopened}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(endpoint.count(), 0, "page pay does not notify TRADE_CLOSED");
    assert_eq!(
        app.trade("ORDER_5").await["notifications"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn a_page_pay_cancel_without_return_url_shows_the_closed_page_in_both_languages() {
    let app = spawn().await;
    let request = alipay::request::PagePay::new(
        OutTradeNo::parse("ORDER_6").unwrap(),
        "2.00".parse().unwrap(),
        Subject::parse("no return").unwrap(),
    );
    let cashier = app
        .open_cashier(&app.signer.page_pay(&request).unwrap())
        .await;
    let trade_no = element(&cashier, "trade_no");

    let cancelled = app
        .http
        .post(app.url(&format!("/cashier/{trade_no}/cancel")))
        .send()
        .await
        .unwrap();

    assert_eq!(cancelled.status(), 200);
    let page = cancelled.text().await.unwrap();
    assert_eq!(element(&page, "trade_status"), "TRADE_CLOSED");
    assert!(page.contains("您已取消付款"), "{page}");
    assert!(page.contains("Payment cancelled"), "{page}");
    assert!(
        !page.contains("id=\"back\""),
        "no merchant site is known to link to: {page}"
    );
}

#[tokio::test]
async fn a_paid_orders_pay_link_opened_again_says_so_in_both_languages_with_a_way_back() {
    let app = spawn().await;
    let request = app.page_pay("ORDER_7", "9.90", None);
    let trade_no = element(&app.open_cashier(&request).await, "trade_no");
    assert_eq!(app.press_pay(&trade_no).await.status(), 302);

    // The same pay link again (what a buyer's back button or bookmark does).
    let again = app.open_cashier(&request).await;
    assert_eq!(element(&again, "sub_code"), "ACQ.TRADE_HAS_SUCCESS");
    assert!(again.contains("该订单已支付"), "{again}");
    assert!(
        again.contains("This order has already been paid"),
        "{again}"
    );
    assert!(
        again.contains("id=\"back\" href=\"http://127.0.0.1:9\""),
        "{again}"
    );
    // So does the cashier's own URL.
    let cashier = app
        .http
        .get(app.url(&format!("/cashier/{trade_no}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        cashier.contains("This order has already been paid"),
        "{cashier}"
    );
    assert!(cashier.contains("id=\"back\""), "{cashier}");
}

#[tokio::test]
async fn a_forged_request_gets_the_bilingual_error_page_without_a_link_to_its_return_url() {
    let app = spawn().await;
    let good = app.page_pay("ORDER_8", "1.00", None);
    let wrong_key = alipay::request::RequestSigner::new(
        crate::helpers::APP_ID,
        crate::helpers::alipay_key(),
        SignType::Rsa2,
    );
    let forged = wrong_key.sign_params(good.params().clone()).unwrap();

    let page = app.open_cashier(&forged).await;

    assert_eq!(element(&page, "sub_code"), "invalid-signature");
    assert!(page.contains("调试错误"), "{page}");
    assert!(page.contains("Debugging error"), "{page}");
    assert!(
        !page.contains("id=\"back\""),
        "an unauthenticated return_url is no one's to link to: {page}"
    );
}
