//! Every server API through the project's own `alipay::AlipayClient` pointed at the sandbox:
//! this also proves the client and the sandbox agree on signing, extraction and verification.

use alipay::client::{ClientError, TradeLookup};
use alipay::notify::{self, NotificationKind, TradeNotification};
use alipay::request::{
    BillDownloadUrlQuery, OutRequestNo, OutTradeNo, RefundQuery, TradeClose, TradeQuery, TradeRef,
    TradeRefund,
};
use alipay::response::{ResponseError, SubCode};
use alipay::sign::SignType;
use alipay::time::FixedClock;
use std::io::Read;

use crate::helpers::{NotifyEndpoint, Options, element, spawn, spawn_with};

fn by_out(no: &str) -> TradeRef {
    TradeRef::out_trade_no(OutTradeNo::parse(no).unwrap())
}

fn refund(no: &str, amount: &str, request_no: &str) -> TradeRefund {
    TradeRefund {
        trade: by_out(no),
        refund_amount: amount.parse().unwrap(),
        out_request_no: OutRequestNo::parse(request_no).unwrap(),
        refund_reason: Some("课程退款".to_owned()),
    }
}

fn business(error: ClientError) -> SubCode {
    match error {
        ClientError::Alipay(error) => error.sub_code,
        other => panic!("expected a verified business error, got {other:?}"),
    }
}

#[tokio::test]
async fn query_sees_nothing_before_the_cashier_then_waiting_then_paid() {
    let app = spawn().await;
    let client = app.client();
    let query = TradeQuery {
        trade: by_out("Q_1"),
    };
    assert_eq!(client.query(&query).await.unwrap(), TradeLookup::NotExist);

    let cashier = app.open_cashier(&app.page_pay("Q_1", "66.60", None)).await;
    let TradeLookup::Found(waiting, _) = client.query(&query).await.unwrap() else {
        panic!("not found")
    };
    assert_eq!(
        waiting.trade_status,
        Some(alipay::TradeStatus::WaitBuyerPay)
    );
    assert_eq!(waiting.total_amount.unwrap().to_string(), "66.60");
    assert_eq!(
        waiting.trade_no.as_deref(),
        Some(element(&cashier, "trade_no").as_str())
    );

    app.press_pay(&element(&cashier, "trade_no")).await;
    let TradeLookup::Found(paid, node) = client.query(&query).await.unwrap() else {
        panic!("not found")
    };
    assert_eq!(paid.trade_status, Some(alipay::TradeStatus::TradeSuccess));
    assert_eq!(paid.receipt_amount.unwrap().to_string(), "66.60");
    assert!(paid.buyer_user_id.unwrap().starts_with("2088"));
    assert!(paid.send_pay_date.is_some());
    assert!(
        node.contains(
            "\"fund_bill_list\":[{\"amount\":\"66.60\",\"fund_channel\":\"ALIPAYACCOUNT\"}]"
        ),
        "{node}"
    );

    // By trade_no too; another app's number is not found.
    let by_trade_no = TradeQuery {
        trade: TradeRef::trade_no(paid.trade_no.clone().unwrap()),
    };
    assert!(matches!(
        client.query(&by_trade_no).await.unwrap(),
        TradeLookup::Found(..)
    ));
    let unknown = TradeQuery {
        trade: TradeRef::trade_no("2024051622001000000000000000"),
    };
    assert_eq!(client.query(&unknown).await.unwrap(), TradeLookup::NotExist);
}

#[tokio::test]
async fn close_closes_only_waiting_trades() {
    let app = spawn().await;
    let client = app.client();
    assert_eq!(
        client
            .close(&TradeClose {
                trade: by_out("C_0")
            })
            .await
            .unwrap(),
        None,
        "never opened"
    );

    app.open_cashier(&app.page_pay("C_1", "1.00", None)).await;
    let closed = client
        .close(&TradeClose {
            trade: by_out("C_1"),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.out_trade_no.as_deref(), Some("C_1"));
    assert_eq!(app.trade("C_1").await["status"], "TRADE_CLOSED");
    let again = client
        .close(&TradeClose {
            trade: by_out("C_1"),
        })
        .await
        .unwrap_err();
    assert_eq!(business(again), SubCode::TradeStatusError);

    app.paid_trade("C_2", "1.00", None).await;
    let paid = client
        .close(&TradeClose {
            trade: by_out("C_2"),
        })
        .await
        .unwrap_err();
    assert_eq!(business(paid), SubCode::TradeStatusError);
}

#[tokio::test]
async fn refunds_are_partial_idempotent_bounded_notified_and_a_full_one_closes_the_trade() {
    let app = spawn().await;
    let client = app.client();
    let endpoint = NotifyEndpoint::start(vec![(200, "success")]);
    let waiting = client
        .refund(&refund("R_0", "1.00", "RF_0"))
        .await
        .unwrap_err();
    assert_eq!(business(waiting), SubCode::TradeNotExist);
    app.paid_trade("R_1", "100.00", Some(&endpoint.url)).await;

    let (first, _) = client
        .refund(&refund("R_1", "30.00", "RF_1"))
        .await
        .unwrap();
    assert!(first.fund_changed());
    assert_eq!(first.refund_fee.unwrap().to_string(), "30.00");

    let (repeat, _) = client
        .refund(&refund("R_1", "30.00", "RF_1"))
        .await
        .unwrap();
    assert_eq!(
        repeat.fund_change.as_deref(),
        Some("N"),
        "a repeat moves no money"
    );
    assert_eq!(repeat.refund_fee.unwrap().to_string(), "30.00");

    let discordant = client
        .refund(&refund("R_1", "31.00", "RF_1"))
        .await
        .unwrap_err();
    assert_eq!(business(discordant), SubCode::DiscordantRepeatRequest);
    let too_much = client
        .refund(&refund("R_1", "70.01", "RF_2"))
        .await
        .unwrap_err();
    assert_eq!(business(too_much), SubCode::RefundAmountTooLarge);

    let (rest, _) = client
        .refund(&refund("R_1", "70.00", "RF_2"))
        .await
        .unwrap();
    assert_eq!(rest.refund_fee.unwrap().to_string(), "100.00");
    assert_eq!(app.trade("R_1").await["status"], "TRADE_CLOSED");
    let after_close = client
        .refund(&refund("R_1", "1.00", "RF_3"))
        .await
        .unwrap_err();
    assert_eq!(business(after_close), SubCode::TradeStatusError);
    let (late_retry, _) = client
        .refund(&refund("R_1", "70.00", "RF_2"))
        .await
        .unwrap();
    assert_eq!(
        late_retry.fund_change.as_deref(),
        Some("N"),
        "a retry after the full refund still succeeds"
    );

    // One payment and two refund notifications, each verifiable.
    let received = endpoint.wait_for(3).await;
    let notifications: Vec<TradeNotification> = received
        .iter()
        .map(|r| {
            let verified =
                notify::verify(r.body.as_bytes(), &app.alipay_public_key, SignType::Rsa2).unwrap();
            TradeNotification::from_verified(&verified).unwrap()
        })
        .collect();
    let refunds: Vec<&TradeNotification> = notifications
        .iter()
        .filter(|n| n.kind() == NotificationKind::Refunded)
        .collect();
    assert_eq!(refunds.len(), 2);
    let partial = refunds
        .iter()
        .find(|n| n.out_biz_no.as_ref().map(OutRequestNo::as_str) == Some("RF_1"))
        .unwrap();
    assert_eq!(partial.trade_status, alipay::TradeStatus::TradeSuccess);
    assert_eq!(partial.refund_fee.unwrap().to_string(), "30.00");
    let gmt_refund = &partial.params["gmt_refund"];
    assert_eq!(gmt_refund.len(), 23, "milliseconds: {gmt_refund}");
    let full = refunds
        .iter()
        .find(|n| n.out_biz_no.as_ref().map(OutRequestNo::as_str) == Some("RF_2"))
        .unwrap();
    assert_eq!(full.trade_status, alipay::TradeStatus::TradeClosed);
    assert_eq!(
        full.refund_fee.unwrap().to_string(),
        "100.00",
        "refund_fee is cumulative"
    );
}

#[tokio::test]
async fn a_refund_without_out_request_no_must_be_the_whole_amount() {
    let app = spawn().await;
    app.paid_trade("R_2", "10.00", None).await;
    let biz = |amount: &str| serde_json::json!({"out_trade_no": "R_2", "refund_amount": amount});
    let partial = app
        .client()
        .call("alipay.trade.refund", &biz("1.00"))
        .await
        .unwrap();
    assert_eq!(
        partial.status.sub_code.as_deref(),
        Some("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    );
    let whole = app
        .client()
        .call("alipay.trade.refund", &biz("10.00"))
        .await
        .unwrap();
    assert_eq!(whole.status.code, "10000");
}

#[tokio::test]
async fn refund_query_finds_refunds_by_request_number() {
    let app = spawn().await;
    let client = app.client();
    app.paid_trade("RQ_1", "20.00", None).await;
    client
        .refund(&refund("RQ_1", "5.00", "RF_A"))
        .await
        .unwrap();

    let query = |no: &str| RefundQuery {
        trade: by_out("RQ_1"),
        out_request_no: OutRequestNo::parse(no).unwrap(),
    };
    let (found, _) = client.refund_query(&query("RF_A")).await.unwrap();
    assert!(found.succeeded());
    assert_eq!(found.refund_amount.unwrap().to_string(), "5.00");
    assert_eq!(found.total_amount.unwrap().to_string(), "20.00");
    let (missing, _) = client.refund_query(&query("RF_B")).await.unwrap();
    assert!(
        !missing.succeeded(),
        "an unknown refund has no refund_status"
    );
    let no_trade = RefundQuery {
        trade: by_out("RQ_2"),
        out_request_no: OutRequestNo::parse("RF_A").unwrap(),
    };
    assert_eq!(
        business(client.refund_query(&no_trade).await.unwrap_err()),
        SubCode::TradeNotExist
    );
}

#[tokio::test]
async fn bills_are_real_gbk_zips_for_past_days_and_do_not_exist_for_today() {
    let clock = FixedClock::at_beijing("2024-05-15 10:00:00").unwrap();
    let app = spawn_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let client = app.client();
    app.paid_trade("B_1", "88.88", None).await;
    client
        .refund(&refund("B_1", "8.88", "RF_B1"))
        .await
        .unwrap();
    let bill = |date: &str| BillDownloadUrlQuery {
        bill_type: "trade".to_owned(),
        bill_date: date.to_owned(),
    };

    let today = client
        .bill_download_url(&bill("2024-05-15"))
        .await
        .unwrap_err();
    assert_eq!(business(today), SubCode::BillNotExist);

    clock.advance(chrono::Duration::days(1));
    let url = client
        .bill_download_url(&bill("2024-05-15"))
        .await
        .unwrap()
        .bill_download_url;
    assert!(
        url.starts_with(&format!(
            "{}/downloadBillFile.resource?",
            app.sandbox.base_url()
        )),
        "{url}"
    );
    let zip_bytes = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes.to_vec())).unwrap();
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    let detail_name = names
        .iter()
        .find(|n| n.ends_with("_业务明细.csv"))
        .unwrap()
        .clone();
    assert!(
        names.iter().any(|n| n.ends_with("_业务明细(汇总).csv")),
        "{names:?}"
    );
    let mut gbk = Vec::new();
    archive
        .by_name(&detail_name)
        .unwrap()
        .read_to_end(&mut gbk)
        .unwrap();
    let (text, _, had_errors) = encoding_rs::GBK.decode(&gbk);
    assert!(!had_errors);
    assert!(text.starts_with("#支付宝业务明细查询\r\n"), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        rows[0].starts_with("支付宝交易号,商户订单号,业务类型"),
        "header: {}",
        rows[0]
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("B_1\t,交易\t") && r.contains("88.88\t")),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("B_1\t,退款\t") && r.contains("-8.88\t") && r.contains("RF_B1")),
        "{text}"
    );
    assert!(text.contains("#交易合计：1笔，商家实收共88.88元"), "{text}");
    assert!(
        text.contains("#退款合计：1笔，商家实收退款共-8.88元"),
        "{text}"
    );

    // A past day with no trades has an (empty) bill; the link expires after 30 s.
    let empty = client.bill_download_url(&bill("2024-05-01")).await.unwrap();
    assert!(empty.bill_download_url.contains("bizDates=20240501"));
    let monthly = client.bill_download_url(&bill("2024-04")).await.unwrap();
    assert!(monthly.bill_download_url.contains("bizDates=202404"));
    clock.advance(chrono::Duration::seconds(31));
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_balance_bill_lists_income_and_expense() {
    let clock = FixedClock::at_beijing("2024-05-15 10:00:00").unwrap();
    let app = spawn_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    app.paid_trade("B_2", "10.00", None).await;
    clock.advance(chrono::Duration::days(1));
    let url = app
        .client()
        .bill_download_url(&BillDownloadUrlQuery {
            bill_type: "signcustomer".into(),
            bill_date: "2024-05-15".into(),
        })
        .await
        .unwrap()
        .bill_download_url;
    let zip_bytes = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes.to_vec())).unwrap();
    let name = archive
        .file_names()
        .find(|n| n.ends_with("_账务明细.csv"))
        .unwrap()
        .to_owned();
    let mut gbk = Vec::new();
    archive
        .by_name(&name)
        .unwrap()
        .read_to_end(&mut gbk)
        .unwrap();
    let (text, _, _) = encoding_rs::GBK.decode(&gbk);
    assert!(
        text.contains("B_2\t") && text.contains("在线支付"),
        "{text}"
    );
    assert!(text.contains("#收入合计：1笔，共10.00元"), "{text}");
}

#[tokio::test]
async fn an_unknown_method_gets_an_unsigned_error_response() {
    let app = spawn().await;
    let error = app
        .client()
        .call(
            "alipay.trade.cancel",
            &serde_json::json!({"out_trade_no": "X"}),
        )
        .await
        .unwrap_err();
    match error {
        ClientError::Untrusted(ResponseError::Unsigned { code, sub_code }) => {
            assert_eq!(code.as_deref(), Some("40002"));
            assert_eq!(sub_code.as_deref(), Some("isv.invalid-method"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn responses_are_served_on_get_too() {
    let app = spawn().await;
    let signed = app
        .signer
        .sign_request(&TradeQuery {
            trade: by_out("G_1"),
        })
        .unwrap();
    let body = app
        .http
        .get(signed.url(&app.gateway()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verified = alipay::response::verify_response(
        &body,
        "alipay.trade.query",
        &app.alipay_public_key,
        SignType::Rsa2,
    )
    .unwrap();
    assert_eq!(
        verified.status.sub_code.as_deref(),
        Some("ACQ.TRADE_NOT_EXIST")
    );
}

#[tokio::test]
async fn a_backdated_trade_is_on_its_new_days_bill_and_a_replaced_bill_file_is_served() {
    let clock = FixedClock::at_beijing("2024-05-16 10:00:00").unwrap();
    let app = spawn_with(Options {
        clock: Some(clock.clone()),
        ..Options::default()
    })
    .await;
    let client = app.client();
    app.paid_trade("D_1", "10.00", None).await;
    app.paid_trade("D_2", "20.00", None).await;
    client
        .refund(&refund("D_1", "1.00", "RF_D1"))
        .await
        .unwrap();

    let backdated = app.api.backdate("D_1", 86_400).await.unwrap();
    let bad = app.api.backdate("D_1", -1).await.unwrap_err();

    assert!(
        backdated["gmt_payment"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-15 10:00"),
        "{backdated}"
    );
    assert!(
        backdated["refunds"][0]["gmt_refund"]
            .as_str()
            .unwrap()
            .starts_with("2024-05-15"),
        "{backdated}"
    );
    assert_eq!(bad.status, 400);
    let download = |date: &'static str| {
        let client = app.client();
        let http = app.http.clone();
        async move {
            let url = client
                .bill_download_url(&BillDownloadUrlQuery {
                    bill_type: "trade".to_owned(),
                    bill_date: date.to_owned(),
                })
                .await
                .unwrap()
                .bill_download_url;
            http.get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec()
        }
    };
    let zip_bytes = download("2024-05-15").await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let name = archive
        .file_names()
        .find(|n| n.ends_with("_业务明细.csv"))
        .unwrap()
        .to_owned();
    let mut gbk = Vec::new();
    archive
        .by_name(&name)
        .unwrap()
        .read_to_end(&mut gbk)
        .unwrap();
    let (text, _, _) = encoding_rs::GBK.decode(&gbk);
    // Exactly that day's: D_1's payment and refund, not D_2 (paid on the 16th).
    assert!(text.contains("D_1\t,交易\t"), "{text}");
    assert!(text.contains("D_1\t,退款\t"), "{text}");
    assert!(!text.contains("D_2"), "{text}");

    app.api.set_bill_file("not a zip").await.unwrap();
    assert_eq!(download("2024-05-15").await, b"not a zip");
    app.api.clear_bill_file().await.unwrap();
    assert_eq!(&download("2024-05-15").await[..2], b"PK");
}
