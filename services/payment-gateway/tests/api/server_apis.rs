//! QueryTrade, CloseTrade, Refund, QueryRefund, GetBillDownloadUrl against the sandbox: the
//! answers, the "no such trade" answers, and Alipay's business refusals.

use payment_proto::alipay_error_detail;
use payment_proto::v1::{
    CloseTradeRequest, GetBillDownloadUrlRequest, QueryRefundRequest, QueryTradeRequest,
    RefundRequest, TradeStatus,
};
use tonic::Code;

use crate::helpers::*;

fn query(out_trade_no: &str) -> QueryTradeRequest {
    QueryTradeRequest {
        out_trade_no: out_trade_no.into(),
        trade_no: String::new(),
    }
}

fn refund(out_trade_no: &str, amount: &str, out_request_no: &str) -> RefundRequest {
    RefundRequest {
        out_trade_no: out_trade_no.into(),
        refund_amount: amount.into(),
        out_request_no: out_request_no.into(),
        refund_reason: Some("课程退款".into()),
        ..RefundRequest::default()
    }
}

fn assert_refused(status: &tonic::Status, sub_code: &str) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let detail = alipay_error_detail(status).expect("an AlipayErrorDetail");
    assert_eq!(detail.sub_code, sub_code, "{detail:?}");
    assert!(!detail.code.is_empty());
}

#[tokio::test]
async fn an_unknown_trade_is_an_answer_not_an_error() {
    let app = spawn().await;

    let answer = app
        .client
        .query_trade(REQUEST_ID, query("NEVER_OPENED_1"))
        .await
        .unwrap();

    assert!(!answer.exists);
    assert_eq!(answer.out_trade_no, "NEVER_OPENED_1");
    assert_eq!(answer.trade_status(), TradeStatus::Unspecified);

    // A link signed but never opened is still unknown to Alipay.
    let signed_only = order_no("SIGNED");
    app.client
        .create_page_pay(REQUEST_ID, page_pay(&signed_only, "1.00"))
        .await
        .unwrap();
    let answer = app
        .client
        .query_trade(REQUEST_ID, query(&signed_only))
        .await
        .unwrap();
    assert!(!answer.exists);
}

#[tokio::test]
async fn a_trade_is_queried_unpaid_then_paid() {
    let app = spawn().await;
    let out_trade_no = app.opened_trade("88.88").await;

    let unpaid = app
        .client
        .query_trade(REQUEST_ID, query(&out_trade_no))
        .await
        .unwrap();
    assert!(unpaid.exists);
    assert_eq!(unpaid.trade_status(), TradeStatus::WaitBuyerPay);
    assert_eq!(unpaid.total_amount, "88.88");
    assert_eq!(unpaid.buyer_user_id, None);

    app.sandbox_api
        .pay_as(&out_trade_no, "2088102177846875")
        .await
        .unwrap();
    let paid = app
        .client
        .query_trade(REQUEST_ID, query(&out_trade_no))
        .await
        .unwrap();

    assert!(paid.exists);
    assert_eq!(paid.trade_status(), TradeStatus::TradeSuccess);
    assert!(paid.trade_status().is_paid());
    assert_eq!(paid.out_trade_no, out_trade_no);
    assert_eq!(paid.trade_no.len(), 28, "{}", paid.trade_no);
    assert_eq!(paid.total_amount, "88.88");
    assert_eq!(paid.receipt_amount.as_deref(), Some("88.88"));
    assert_eq!(paid.buyer_pay_amount.as_deref(), Some("88.88"));
    assert_eq!(paid.buyer_user_id.as_deref(), Some("2088102177846875"));
    assert!(paid.buyer_logon_id.is_some());
    assert!(paid.send_pay_date.is_some());
    assert!(paid.raw_json.contains("\"trade_status\":\"TRADE_SUCCESS\""));

    // By Alipay's trade number alone, too.
    let by_trade_no = app
        .client
        .query_trade(
            REQUEST_ID,
            QueryTradeRequest {
                out_trade_no: String::new(),
                trade_no: paid.trade_no.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(by_trade_no.out_trade_no, out_trade_no);
}

#[tokio::test]
async fn closing_an_unpaid_trade_and_a_missing_one() {
    let app = spawn().await;
    let out_trade_no = app.opened_trade("9.90").await;

    let closed = app
        .client
        .close_trade(
            REQUEST_ID,
            CloseTradeRequest {
                out_trade_no: out_trade_no.clone(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(closed.existed);
    assert_eq!(closed.out_trade_no, out_trade_no);
    assert!(!closed.trade_no.is_empty());
    let after = app
        .client
        .query_trade(REQUEST_ID, query(&out_trade_no))
        .await
        .unwrap();
    assert_eq!(after.trade_status(), TradeStatus::TradeClosed);

    let missing = app
        .client
        .close_trade(
            REQUEST_ID,
            CloseTradeRequest {
                out_trade_no: "NEVER_OPENED_2".into(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(!missing.existed);
    assert_eq!(missing.out_trade_no, "NEVER_OPENED_2");
}

#[tokio::test]
async fn closing_a_paid_trade_is_refused_with_alipays_sub_code() {
    let app = spawn().await;
    let out_trade_no = app.paid_trade("20.00").await;

    let refused = app
        .client
        .close_trade(
            REQUEST_ID,
            CloseTradeRequest {
                out_trade_no,
                trade_no: String::new(),
            },
        )
        .await
        .unwrap_err();

    assert_refused(&refused, "ACQ.TRADE_STATUS_ERROR");
}

#[tokio::test]
async fn refunds_partial_then_repeated_then_queried() {
    let app = spawn().await;
    let out_trade_no = app.paid_trade("100.00").await;

    let first = app
        .client
        .refund(REQUEST_ID, refund(&out_trade_no, "30.00", "RF_1"))
        .await
        .unwrap();
    assert!(first.fund_change);
    assert_eq!(first.refund_fee, "30.00");
    assert_eq!(first.out_trade_no, out_trade_no);
    assert!(first.raw_json.contains("\"fund_change\":\"Y\""));

    // The same out_request_no again (a caller's retry): no second refund.
    let again = app
        .client
        .refund(REQUEST_ID, refund(&out_trade_no, "30.00", "RF_1"))
        .await
        .unwrap();
    assert!(!again.fund_change);
    assert_eq!(again.refund_fee, "30.00");

    let second = app
        .client
        .refund(REQUEST_ID, refund(&out_trade_no, "20.50", "RF_2"))
        .await
        .unwrap();
    assert!(second.fund_change);
    assert_eq!(second.refund_fee, "50.50");

    let queried = app
        .client
        .query_refund(
            REQUEST_ID,
            QueryRefundRequest {
                out_trade_no: out_trade_no.clone(),
                trade_no: String::new(),
                out_request_no: "RF_2".into(),
            },
        )
        .await
        .unwrap();
    assert!(queried.exists);
    assert_eq!(queried.refund_status, "REFUND_SUCCESS");
    assert_eq!(queried.refund_amount.as_deref(), Some("20.50"));
    assert_eq!(queried.total_amount.as_deref(), Some("100.00"));
    assert_eq!(queried.out_request_no, "RF_2");

    let unknown = app
        .client
        .query_refund(
            REQUEST_ID,
            QueryRefundRequest {
                out_trade_no: out_trade_no.clone(),
                trade_no: String::new(),
                out_request_no: "RF_NEVER".into(),
            },
        )
        .await
        .unwrap();
    assert!(!unknown.exists);
    assert_eq!(unknown.refund_status, "");

    let trade = app.sandbox_trade(&out_trade_no).await;
    assert_eq!(trade["refunds"].as_array().unwrap().len(), 2);
    assert_eq!(trade["refunded_amount"], "50.50");
}

#[tokio::test]
async fn refund_refusals_carry_alipays_sub_code() {
    let app = spawn().await;
    let paid = app.paid_trade("10.00").await;
    let unpaid = app.opened_trade("10.00").await;

    let too_much = app
        .client
        .refund(REQUEST_ID, refund(&paid, "10.01", "RF_BIG"))
        .await
        .unwrap_err();
    assert_refused(&too_much, "ACQ.REASON_TRADE_REFUND_FEE_ERR");

    app.client
        .refund(REQUEST_ID, refund(&paid, "1.00", "RF_ONE"))
        .await
        .unwrap();
    let discordant = app
        .client
        .refund(REQUEST_ID, refund(&paid, "2.00", "RF_ONE"))
        .await
        .unwrap_err();
    assert_refused(&discordant, "ACQ.DISCORDANT_REPEAT_REQUEST");

    let not_paid = app
        .client
        .refund(REQUEST_ID, refund(&unpaid, "1.00", "RF_UNPAID"))
        .await
        .unwrap_err();
    assert_refused(&not_paid, "ACQ.TRADE_STATUS_ERROR");

    let missing = app
        .client
        .refund(REQUEST_ID, refund("NEVER_OPENED_3", "1.00", "RF_X"))
        .await
        .unwrap_err();
    assert_refused(&missing, "ACQ.TRADE_NOT_EXIST");
}

#[tokio::test]
async fn bill_download_urls_and_a_bill_not_yet_available() {
    let app = spawn().await;

    let bill = app
        .client
        .get_bill_download_url(
            REQUEST_ID,
            GetBillDownloadUrlRequest {
                bill_type: "trade".into(),
                bill_date: "2024-05-15".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        bill.bill_download_url.starts_with(app.sandbox.base_url()),
        "{}",
        bill.bill_download_url
    );
    let download = app.http.get(&bill.bill_download_url).send().await.unwrap();
    assert_eq!(download.status().as_u16(), 200);
    assert!(download.bytes().await.unwrap().starts_with(b"PK"), "a zip");

    let monthly = app
        .client
        .get_bill_download_url(
            REQUEST_ID,
            GetBillDownloadUrlRequest {
                bill_type: "signcustomer".into(),
                bill_date: "2024-04".into(),
            },
        )
        .await
        .unwrap();
    assert!(!monthly.bill_download_url.is_empty());

    let today = alipay::time::format_beijing(chrono::Utc::now())[..10].to_owned();
    let not_yet = app
        .client
        .get_bill_download_url(
            REQUEST_ID,
            GetBillDownloadUrlRequest {
                bill_type: "trade".into(),
                bill_date: today,
            },
        )
        .await
        .unwrap_err();
    assert_refused(&not_yet, "isp.bill_not_exist");
}

#[tokio::test]
async fn an_unknown_app_is_refused_unsigned_and_reported_as_such() {
    // The sandbox, like Alipay, answers a request from an unregistered app without signing.
    let app = spawn_with(|mut s| {
        s.app_id = "2021000000009999".into();
        s
    })
    .await;

    let refused = app
        .client
        .query_trade(REQUEST_ID, query("ANY_1"))
        .await
        .unwrap_err();

    assert_refused(&refused, "isv.invalid-app-id");
    assert!(
        refused.message().contains("isv.invalid-app-id"),
        "{refused:?}"
    );
}
