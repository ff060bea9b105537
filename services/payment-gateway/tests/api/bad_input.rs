//! Every field of our callers' input is checked before anything is signed: INVALID_ARGUMENT
//! with the field's name first in the message, and nothing sent to Alipay.

use payment_proto::v1::{
    CloseTradeRequest, CreatePagePayRequest, CreateWapPayRequest, GetBillDownloadUrlRequest,
    QueryRefundRequest, QueryTradeRequest, RefundRequest,
};
use tonic::{Code, Status};

use crate::helpers::*;

fn assert_invalid(result: Result<impl std::fmt::Debug, Status>, field: &str, case: &str) {
    let status = result.expect_err(case);
    assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
    assert!(
        status.message().starts_with(&format!("{field}:")),
        "{case}: message should name {field}: {:?}",
        status.message()
    );
}

#[tokio::test]
async fn page_pay_fields_are_validated() {
    let app = spawn().await;
    let good = || page_pay("GOOD_1", "88.88");
    let past =
        payment_proto::timestamp(chrono::DateTime::from_timestamp(1_577_808_000, 0).unwrap());
    // Timestamps no instant stands for: nanoseconds outside 0..10⁹, seconds past chrono's range.
    let invalid = |seconds: i64, nanos: i32| Some(prost_types::Timestamp { seconds, nanos });
    let cases: Vec<(&str, CreatePagePayRequest)> = vec![
        (
            "out_trade_no",
            CreatePagePayRequest {
                out_trade_no: String::new(),
                ..good()
            },
        ),
        (
            "out_trade_no",
            CreatePagePayRequest {
                out_trade_no: "ORDER-1".into(),
                ..good()
            },
        ),
        (
            "out_trade_no",
            CreatePagePayRequest {
                out_trade_no: "订单1".into(),
                ..good()
            },
        ),
        (
            "out_trade_no",
            CreatePagePayRequest {
                out_trade_no: "A".repeat(65),
                ..good()
            },
        ),
        (
            "total_amount",
            CreatePagePayRequest {
                total_amount: String::new(),
                ..good()
            },
        ),
        (
            "total_amount",
            CreatePagePayRequest {
                total_amount: "0.00".into(),
                ..good()
            },
        ),
        (
            "total_amount",
            CreatePagePayRequest {
                total_amount: "-1.00".into(),
                ..good()
            },
        ),
        (
            "total_amount",
            CreatePagePayRequest {
                total_amount: "1.001".into(),
                ..good()
            },
        ),
        (
            "total_amount",
            CreatePagePayRequest {
                total_amount: "1e2".into(),
                ..good()
            },
        ),
        (
            "total_amount",
            CreatePagePayRequest {
                total_amount: " 1.00".into(),
                ..good()
            },
        ),
        (
            "total_amount",
            CreatePagePayRequest {
                total_amount: "100000000.01".into(),
                ..good()
            },
        ),
        (
            "subject",
            CreatePagePayRequest {
                subject: String::new(),
                ..good()
            },
        ),
        (
            "subject",
            CreatePagePayRequest {
                subject: "   ".into(),
                ..good()
            },
        ),
        (
            "time_expire",
            CreatePagePayRequest {
                time_expire: invalid(1_900_000_000, -1),
                ..good()
            },
        ),
        (
            "time_expire",
            CreatePagePayRequest {
                time_expire: invalid(1_900_000_000, 1_000_000_000),
                ..good()
            },
        ),
        (
            "time_expire",
            CreatePagePayRequest {
                time_expire: Some(past),
                ..good()
            },
        ),
        (
            "body",
            CreatePagePayRequest {
                body: Some("x".repeat(129)),
                ..good()
            },
        ),
        (
            "passback_params",
            CreatePagePayRequest {
                passback_params: Some("x".repeat(513)),
                ..good()
            },
        ),
        (
            "notify_url",
            CreatePagePayRequest {
                notify_url: Some("ftp://x/notify".into()),
                ..good()
            },
        ),
        (
            "notify_url",
            CreatePagePayRequest {
                notify_url: Some("https://x/n?a=1".into()),
                ..good()
            },
        ),
        (
            "return_url",
            CreatePagePayRequest {
                return_url: Some("/relative".into()),
                ..good()
            },
        ),
    ];
    for (field, request) in cases {
        let case = format!("{request:?}");
        assert_invalid(
            app.client.create_page_pay(REQUEST_ID, request).await,
            field,
            &case,
        );
    }
    // Nothing was signed for any of them.
    assert!(
        !app.metrics().await.contains("gateway_signatures_total{"),
        "no signature may be made for refused input"
    );
    // The good one still works.
    app.client
        .create_page_pay(REQUEST_ID, good())
        .await
        .unwrap();
}

#[tokio::test]
async fn wap_pay_fields_are_validated() {
    let app = spawn().await;
    let good = || CreateWapPayRequest {
        out_trade_no: "WAP_GOOD".into(),
        total_amount: "1.00".into(),
        subject: "x".into(),
        ..CreateWapPayRequest::default()
    };
    let cases: Vec<(&str, CreateWapPayRequest)> = vec![
        (
            "out_trade_no",
            CreateWapPayRequest {
                out_trade_no: "a b".into(),
                ..good()
            },
        ),
        (
            "total_amount",
            CreateWapPayRequest {
                total_amount: "abc".into(),
                ..good()
            },
        ),
        (
            "subject",
            CreateWapPayRequest {
                subject: String::new(),
                ..good()
            },
        ),
        (
            "time_expire",
            CreateWapPayRequest {
                time_expire: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..good()
            },
        ),
        (
            "quit_url",
            CreateWapPayRequest {
                quit_url: Some("javascript:alert(1)".into()),
                ..good()
            },
        ),
    ];
    for (field, request) in cases {
        let case = format!("{request:?}");
        assert_invalid(
            app.client.create_wap_pay(REQUEST_ID, request).await,
            field,
            &case,
        );
    }
}

#[tokio::test]
async fn server_api_fields_are_validated() {
    let app = spawn().await;

    let no_reference = QueryTradeRequest::default();
    assert_invalid(
        app.client.query_trade(REQUEST_ID, no_reference).await,
        "out_trade_no",
        "query without reference",
    );
    let bad_no = QueryTradeRequest {
        out_trade_no: "no spaces".into(),
        trade_no: String::new(),
    };
    assert_invalid(
        app.client.query_trade(REQUEST_ID, bad_no).await,
        "out_trade_no",
        "query bad out_trade_no",
    );
    let bad_trade_no = QueryTradeRequest {
        out_trade_no: String::new(),
        trade_no: "2024-05".into(),
    };
    assert_invalid(
        app.client.query_trade(REQUEST_ID, bad_trade_no).await,
        "trade_no",
        "query bad trade_no",
    );
    assert_invalid(
        app.client
            .close_trade(REQUEST_ID, CloseTradeRequest::default())
            .await,
        "out_trade_no",
        "close without reference",
    );

    let good = || RefundRequest {
        out_trade_no: "R_1".into(),
        refund_amount: "1.00".into(),
        out_request_no: "RF_1".into(),
        ..RefundRequest::default()
    };
    let cases: Vec<(&str, RefundRequest)> = vec![
        (
            "out_trade_no",
            RefundRequest {
                out_trade_no: String::new(),
                ..good()
            },
        ),
        (
            "refund_amount",
            RefundRequest {
                refund_amount: String::new(),
                ..good()
            },
        ),
        (
            "refund_amount",
            RefundRequest {
                refund_amount: "0".into(),
                ..good()
            },
        ),
        (
            "refund_amount",
            RefundRequest {
                refund_amount: "1.234".into(),
                ..good()
            },
        ),
        (
            "out_request_no",
            RefundRequest {
                out_request_no: String::new(),
                ..good()
            },
        ),
        (
            "out_request_no",
            RefundRequest {
                out_request_no: "RF/1".into(),
                ..good()
            },
        ),
        (
            "refund_reason",
            RefundRequest {
                refund_reason: Some("因".repeat(257)),
                ..good()
            },
        ),
    ];
    for (field, request) in cases {
        let case = format!("{request:?}");
        assert_invalid(app.client.refund(REQUEST_ID, request).await, field, &case);
    }

    let no_request_no = QueryRefundRequest {
        out_trade_no: "R_1".into(),
        ..QueryRefundRequest::default()
    };
    assert_invalid(
        app.client.query_refund(REQUEST_ID, no_request_no).await,
        "out_request_no",
        "refund query",
    );

    for (field, bill_type, bill_date) in [
        ("bill_type", "", "2024-05-15"),
        ("bill_type", "everything", "2024-05-15"),
        ("bill_date", "trade", "2024/05/15"),
        ("bill_date", "trade", "2024-02-30"),
        ("bill_date", "trade", ""),
    ] {
        let request = GetBillDownloadUrlRequest {
            bill_type: bill_type.into(),
            bill_date: bill_date.into(),
        };
        assert_invalid(
            app.client.get_bill_download_url(REQUEST_ID, request).await,
            field,
            bill_date,
        );
    }

    // None of them reached Alipay.
    assert!(!app.metrics().await.contains("gateway_alipay_calls_total{"));
}
