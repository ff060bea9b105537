//! End to end: the alipay-sandbox plays Alipay, a buyer pays, the sandbox sends the signed
//! notification to the receiver, and the event lands in the order service's queue.

use std::time::Duration;

use alipay::request::{Gateway, OutTradeNo, PagePay, RequestSigner, Subject};
use alipay::sign::SignType;
use alipay_sandbox::{AppRegistration, Settings as SandboxSettings};
use common::events::{EventKind, PaymentEventV2};
use test_support::SandboxApi;
use test_support::keys::private_key;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_in_the_sandbox_reaches_the_queue_through_the_receiver() {
    // Arrange: the sandbox (TEST-ONLY "Alipay" key) knows our app (TEST-ONLY app key); the
    // receiver trusts the key the sandbox publishes, and checks our seller id.
    let app_key = private_key("app_private_pkcs8.pem");
    let settings = SandboxSettings::new(private_key("alipay_private_pkcs8.pem"))
        .with_app(AppRegistration::new(
            APP_ID,
            app_key.public_key(),
            SELLER_ID,
        ))
        .with_notify_timeout(Duration::from_secs(5));
    let sandbox = test_support::services::spawn_sandbox(settings).await;
    let sandbox_api = SandboxApi::of(&sandbox).for_app(APP_ID);
    let app = spawn_ready_app(TestConfig {
        public_key_pem: Some(sandbox.alipay_public_key().to_pem()),
        seller_id: Some(SELLER_ID.into()),
        ..TestConfig::default()
    })
    .await;

    // Act: the merchant opens the pay page (as the gateway would sign it), the buyer pays.
    let out_trade_no = format!("E2E{}", uuid::Uuid::now_v7().simple());
    let mut page_pay = PagePay::new(
        OutTradeNo::parse(&out_trade_no).unwrap(),
        "88.88".parse().unwrap(),
        Subject::parse("课程：Rust 入门").unwrap(),
    );
    page_pay.notify_url = Some(format!("{}{}", app.address, app.notify_path));
    let signed = RequestSigner::new(APP_ID, app_key, SignType::Rsa2)
        .page_pay(&page_pay)
        .unwrap();
    let cashier = app
        .client
        .get(signed.url(&Gateway::Custom(sandbox.gateway_url())))
        .send()
        .await
        .unwrap();
    assert!(
        cashier.status().is_success() || cashier.status().is_redirection(),
        "{}",
        cashier.status()
    );
    sandbox_api.pay(&out_trade_no).await.unwrap();

    // Assert: the event arrives (the sandbox notifies in the background)...
    let mut message = None;
    for _ in 0..100 {
        message = app.next_message().await;
        if message.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let message = message.expect("the sandbox's notification was published");
    assert_eq!(message.routing_key.as_str(), "order.paid");
    let event = PaymentEventV2::from_json(&message.data).unwrap();
    assert_eq!(event.kind, EventKind::Paid);
    assert_eq!(event.out_trade_no.as_str(), out_trade_no);
    assert_eq!(event.total_amount.to_string(), "88.88");
    assert_eq!(event.app_id, APP_ID);
    assert_eq!(event.seller_id.as_deref(), Some(SELLER_ID));
    assert!(matches!(
        event.trade_status.as_str(),
        "TRADE_SUCCESS" | "TRADE_FINISHED"
    ));

    // ...and the sandbox read `success`, so it will not retry.
    let mut acknowledged = false;
    for _ in 0..50 {
        let trade = sandbox_api.trade(&out_trade_no).await.unwrap();
        let notification = &trade["notifications"][0];
        if notification["state"] == "acknowledged" {
            let attempt = &notification["attempts"][0];
            assert_eq!(attempt["http_status"], 200);
            assert_eq!(attempt["response_body"], "success");
            acknowledged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(acknowledged, "the sandbox did not record `success`");
    app.assert_queue_empty().await;
    sandbox.stop().await.unwrap();
}
