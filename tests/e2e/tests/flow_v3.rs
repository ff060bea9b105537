//! The whole payment flow with the gateway's server calls in OpenAPI v3
//! (`ALIPAY_API_VERSION=v3`): order → pay link (v2, the browser's) → pay → the order service's
//! QueryTrade, CloseTrade and Refund all reach the sandbox over v3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::{System, SystemConfig, eventually};
use payment_gateway::ApiVersion;
use serde_json::json;

const BUYER: &str = "43";

fn v3() -> SystemConfig {
    SystemConfig {
        sweep_interval: "200ms",
        api_version: ApiVersion::V3,
        ..SystemConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_found_by_a_v3_query_and_refunded_over_v3() {
    // Arrange: the notification is lost, so only QueryTrade (v3) can tell the order service.
    let system = System::start_with(v3()).await;
    let out_trade_no = system.buy(BUYER).await;
    system.faults(json!({"notify": {"drop": 1}})).await;

    // Act: the buyer pays; the browser's return visit makes the order service ask Alipay.
    let return_url = system.pay(&out_trade_no).await;
    let query = return_url.split_once('?').map(|(_, q)| q).unwrap();
    let reply: serde_json::Value = system
        .http
        .get(system.order_url(&format!("/order/success/?{query}")))
        .header("authorization", format!("jwt {}", system.token(BUYER)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["code"], 1, "{reply}");
    assert_eq!(system.status_of(BUYER, &out_trade_no).await, 1);

    // Act: an admin refunds part of it (Refund over v3).
    assert_eq!(system.refund(&out_trade_no, "1.00").await, 201);

    // Assert: Alipay's books show the refund.
    eventually("the sandbox recorded the refund", || async {
        system.trade(&out_trade_no).await["refunded_amount"] == "1.00"
    })
    .await;
    system.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_is_closed_over_v3_at_expiry() {
    let system = System::start_with(v3()).await;
    let out_trade_no = system.buy(BUYER).await;

    // The sweep queries (v3), finds it unpaid, and closes it (v3).
    system.expire_now(&out_trade_no).await;
    eventually("the order timed out", || async {
        system.status_of(BUYER, &out_trade_no).await == 3
    })
    .await;

    let trade = system.trade(&out_trade_no).await;
    assert_eq!(trade["status"], "TRADE_CLOSED", "{trade}");
    system.shut_down().await;
}
