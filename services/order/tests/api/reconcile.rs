//! Reconciliation against Alipay's bill: a day with a lost payment event, a lost refund, a
//! doctored amount and an order Alipay never saw; a second run; bad bills; the CLI; the API.
//!
//! Alipay (and the sandbox) has no bill for today, so each test makes its trades now and moves
//! them a day back (`POST /sandbox/trades/{no}/backdate`), then reconciles yesterday (Beijing).

use std::io::{Cursor, Write};
use std::process::Command;

use chrono::{NaiveDate, Utc};
use diesel_async::RunQueryDsl;
use order::domain::OrderStatus;
use order::reconcile::{ReconcileSettings, Report, beijing_day, beijing_today, run_day};
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, SELLER_ID, TestApp, TestConfig, spawn_app, spawn_app_with};

const DAY: i64 = 86_400;

fn yesterday() -> NaiveDate {
    beijing_today(Utc::now()).pred_opt().unwrap()
}

fn settings(app: &TestApp) -> ReconcileSettings {
    ReconcileSettings {
        seller_id: Some(SELLER_ID.to_owned()),
        ..app.settings.reconcile.clone()
    }
}

async fn reconcile(app: &TestApp) -> Report {
    run_day(&app.state, &settings(app), yesterday(), "test", true)
        .await
        .unwrap()
}

/// An order paid at the sandbox and seen paid here (the return page asks QueryTrade).
async fn paid_order(app: &TestApp, total_course: i64, total: &str) -> String {
    let (number, link) = app.order("u1", &[total_course], total).await;
    app.open_cashier(&link).await;
    app.buyer_pays(&number).await;
    let body: Value = app
        .get(&format!("/order/success/?out_trade_no={number}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["code"], 1, "{body}");
    number
}

async fn backdate(app: &TestApp, number: &str) {
    app.stack.sandbox_api.backdate(number, DAY).await.unwrap();
}

async fn replace_bill(app: &TestApp, bytes: Option<Vec<u8>>) {
    match bytes {
        Some(bytes) => app.stack.sandbox_api.set_bill_file(bytes).await,
        None => app.stack.sandbox_api.clear_bill_file().await,
    }
    .unwrap();
}

/// Every order's row, to show that nothing changed.
async fn all_orders(app: &TestApp) -> Vec<(String, i16, String, String, Option<String>)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        out_trade_no: String,
        #[diesel(sql_type = diesel::sql_types::SmallInt)]
        status: i16,
        #[diesel(sql_type = diesel::sql_types::Text)]
        total: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        refunded: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        refunds: Option<String>,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT o.out_trade_no, o.status, o.total_amount::text AS total,
                o.refunded_amount::text AS refunded,
                (SELECT string_agg(r.out_request_no || ':' || r.status, ',' ORDER BY r.id)
                   FROM refunds r WHERE r.order_id = o.id) AS refunds
           FROM orders o ORDER BY o.id",
    )
    .load(&mut app.conn().await)
    .await
    .unwrap();
    rows.into_iter()
        .map(|r| (r.out_trade_no, r.status, r.total, r.refunded, r.refunds))
        .collect()
}

fn found(report: &Report) -> Vec<(String, String, bool)> {
    report
        .items
        .iter()
        .map(|d| (d.kind.clone(), d.out_trade_no.clone(), d.healed))
        .collect()
}

/// The lost pieces of one day, made at the sandbox and here.
struct Day {
    fine: String,
    lost_payment: String,
    lost_refund: String,
    out_request_no: String,
    doctored: String,
    never_at_alipay: String,
    paid_late: String,
    refunded_here_only: String,
}

async fn make_a_day(app: &TestApp) -> Day {
    // Paid everywhere: no difference.
    let fine = paid_order(app, 1, "99.90").await;
    // Paid at Alipay; the notification went nowhere, nobody visited the return page.
    let (lost_payment, link) = app.order("u2", &[2], "199.00").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&lost_payment).await;
    // Refunded at Alipay, but the answer never came back: pending here.
    let lost_refund = paid_order(app, 3, "299.50").await;
    app.sandbox_faults(Some(json!({"api": {"timeout_ms": 2000}})))
        .await;
    let response = app
        .post(
            &format!("/api/v1/orders/{lost_refund}/refunds"),
            Some(&app.token("admin", true)),
            Some(json!({"amount": "100.00"})),
        )
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.unwrap();
    let out_request_no = body["refund"]["out_request_no"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_until("the sandbox has refunded", || async {
        app.sandbox_trade(&lost_refund).await["refunds"]
            .as_array()
            .is_some_and(|r| r.len() == 1)
    })
    .await;
    app.sandbox_faults(None).await;
    // Paid everywhere, then our amount doctored.
    let doctored = paid_order(app, 1, "99.90").await;
    // Paid at Alipay while cancelled here (the event lost, the cancel raced it).
    let (paid_late, link) = app.order("u5", &[1], "99.90").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&paid_late).await;
    diesel::sql_query("UPDATE orders SET status = 2 WHERE out_trade_no = $1")
        .bind::<diesel::sql_types::Text, _>(&paid_late)
        .execute(&mut app.conn().await)
        .await
        .unwrap();
    // Paid everywhere; a refund recorded here as succeeded yesterday that Alipay never made.
    let refunded_here_only = paid_order(app, 2, "199.00").await;
    for number in [
        &fine,
        &lost_payment,
        &lost_refund,
        &doctored,
        &paid_late,
        &refunded_here_only,
    ] {
        backdate(app, number).await;
    }
    diesel::sql_query(
        "INSERT INTO refunds (order_id, out_request_no, amount, status, requested_by, created_at, updated_at)
         SELECT id, 'RGHOST1', 1.00, 1, 'admin', $2, $2 FROM orders WHERE out_trade_no = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&refunded_here_only)
    .bind::<diesel::sql_types::Timestamptz, _>(
        beijing_day(yesterday()).0 + chrono::Duration::hours(13),
    )
    .execute(&mut app.conn().await)
    .await
    .unwrap();
    // Paid today (and its event lost): on today's bill, not yesterday's.
    let (today, link) = app.order("u4", &[2], "199.00").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&today).await;
    diesel::sql_query("UPDATE orders SET total_amount = 9.90 WHERE out_trade_no = $1")
        .bind::<diesel::sql_types::Text, _>(&doctored)
        .execute(&mut app.conn().await)
        .await
        .unwrap();
    // Paid here (yesterday), never seen by Alipay (the cashier was never opened).
    let (never_at_alipay, _) = app.order("u3", &[1], "99.90").await;
    diesel::sql_query(
        "UPDATE orders SET status = 1, trade_no = '2026000000000000000000000000', pay_time = $2
          WHERE out_trade_no = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&never_at_alipay)
    .bind::<diesel::sql_types::Timestamptz, _>(
        beijing_day(yesterday()).0 + chrono::Duration::hours(12),
    )
    .execute(&mut app.conn().await)
    .await
    .unwrap();
    Day {
        fine,
        lost_payment,
        lost_refund,
        out_request_no,
        doctored,
        never_at_alipay,
        paid_late,
        refunded_here_only,
    }
}

#[tokio::test]
async fn a_day_with_lost_events_a_lost_refund_and_a_doctored_amount() {
    let app = spawn_app_with(TestConfig {
        gateway_timeout: "1s".into(),
        ..TestConfig::default()
    })
    .await;
    let day = make_a_day(&app).await;

    let report = reconcile(&app).await;

    assert_eq!(report.run.status, "ok", "{:?}", report.run.reason);
    assert_eq!(report.run.bill_payments, 6);
    assert_eq!(report.run.bill_refunds, 1);
    let mut expected = vec![
        ("status_differs".to_owned(), day.paid_late.clone(), true),
        (
            "refund_missing_at_alipay".to_owned(),
            day.refunded_here_only.clone(),
            false,
        ),
        ("amount_differs".to_owned(), day.doctored.clone(), false),
        (
            "missing_at_alipay".to_owned(),
            day.never_at_alipay.clone(),
            false,
        ),
        ("missing_here".to_owned(), day.lost_payment.clone(), true),
        (
            "refund_missing_here".to_owned(),
            day.lost_refund.clone(),
            true,
        ),
    ];
    expected.sort();
    let mut got = found(&report);
    got.sort();
    assert_eq!(got, expected, "{:#?}", report.items);
    assert!(!found(&report).iter().any(|(_, no, _)| no == &day.fine));
    // Exactly yesterday's trades: today's payment is not on the bill.
    assert_eq!(report.run.bill_payments, 6);
    assert_eq!((report.run.differences, report.run.healed), (6, 3));
    // Both sides' values are kept.
    let amount = report
        .items
        .iter()
        .find(|d| d.kind == "amount_differs")
        .unwrap();
    assert_eq!(amount.ours_amount.as_deref(), Some("9.90"));
    assert_eq!(amount.alipay_amount.as_deref(), Some("99.90"));
    assert!(
        amount.resolution.as_deref().unwrap().contains("99.90"),
        "{amount:?}"
    );
    let refund = report
        .items
        .iter()
        .find(|d| d.kind == "refund_missing_here")
        .unwrap();
    assert_eq!(refund.out_request_no, day.out_request_no);
    assert_eq!(refund.ours_status.as_deref(), Some("pending"));
    // Healed through the usual paths, from signed answers.
    assert_eq!(
        app.order_row(&day.lost_payment).await.status,
        OrderStatus::Paid
    );
    let refunded = app.order_row(&day.lost_refund).await;
    assert_eq!(refunded.status, OrderStatus::PartiallyRefunded);
    assert_eq!(refunded.refunded_amount.to_string(), "100.00");
    // Not healed: never changed by a bill.
    assert_eq!(
        app.order_row(&day.doctored).await.total_amount.to_string(),
        "9.90"
    );
    assert_eq!(
        app.order_row(&day.never_at_alipay).await.status,
        OrderStatus::Paid
    );
    let late = app.order_row(&day.paid_late).await;
    assert_eq!(late.status, OrderStatus::Paid);
    assert!(late.needs_refund);
    let metrics = app.metrics().await;
    for line in [
        "order_reconciliation_runs_total{outcome=\"ok\"} 1",
        "order_reconciliation_differences_total{kind=\"missing_here\"} 1",
        "order_reconciliation_healed_total{kind=\"refund_missing_here\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from {metrics}");
    }

    // A second run over the same day changes nothing.
    let before = all_orders(&app).await;
    let again = reconcile(&app).await;
    assert_eq!(again.run.status, "ok");
    assert_eq!(again.run.attempts, 2);
    assert_eq!(all_orders(&app).await, before);
    let strip = |report: &Report| {
        report
            .items
            .iter()
            .map(|d| {
                (
                    d.kind.clone(),
                    d.out_trade_no.clone(),
                    d.healed,
                    d.resolution.clone(),
                    d.found_at,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&again), strip(&report));
    assert_eq!((again.run.differences, again.run.healed), (6, 3));
}

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

/// A detail list of yesterday for `seller`, with this header line, optionally without its end.
fn detail(seller: &str, header: &str, end: bool) -> String {
    let date = yesterday();
    let next = date.succ_opt().unwrap();
    let mut text = format!(
        "#支付宝业务明细查询\r\n#账号：[{seller}0156]\r\n#起始日期：[{} 00:00:00]   终止日期：[{} 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n{header}\r\n",
        date.format("%Y年%m月%d日"),
        next.format("%Y年%m月%d日")
    );
    text.push_str("2026\t,X1\t,交易\t,课程\t,2026-01-01 00:00:00\t,2026-01-01 00:00:00\t,99.90\t,99.90\t,\t\r\n");
    if end {
        text.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    }
    text
}

const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,订单金额（元）,商家实收（元）,退款批次号/请求号";

#[tokio::test]
async fn bad_bills_fail_the_run_with_the_reason_and_change_nothing() {
    let app = spawn_app().await;
    // Something a good bill would heal: a payment whose event was lost.
    let (lost_payment, link) = app.order("u2", &[2], "199.00").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&lost_payment).await;
    backdate(&app, &lost_payment).await;
    let before = all_orders(&app).await;

    let good = zip_of(&[("b.csv", gbk(&detail(SELLER_ID, HEADER, true)))]);
    let bomb = zip_of(&[("b.csv", vec![b'0'; 8 << 20])]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not a zip",
            b"<html>503</html>".to_vec(),
            "not a readable zip",
        ),
        ("a zip bomb", bomb, "zip bomb"),
        (
            "an unknown layout",
            zip_of(&[(
                "b.csv",
                gbk(&detail(
                    SELLER_ID,
                    "支付宝交易号,商户订单号,业务类型,金额",
                    true,
                )),
            )]),
            "lacks the column(s) 订单金额（元）, 商家实收（元）, 退款批次号/请求号, 完成时间",
        ),
        (
            "a truncated zip",
            good[..good.len() - 30].to_vec(),
            "not a readable zip",
        ),
        (
            "a truncated list",
            zip_of(&[("b.csv", gbk(&detail(SELLER_ID, HEADER, false)))]),
            "truncated",
        ),
        (
            "another app's bill",
            zip_of(&[("b.csv", gbk(&detail("2088000000000009", HEADER, true)))]),
            "not ours",
        ),
    ];
    for (what, bytes, reason) in cases {
        replace_bill(&app, Some(bytes)).await;

        let report = reconcile(&app).await;

        assert_eq!(report.run.status, "failed", "{what}");
        let recorded = report.run.reason.clone().unwrap_or_default();
        assert!(recorded.contains(reason), "{what}: {recorded}");
        assert!(report.items.is_empty(), "{what}: {:?}", report.items);
        assert_eq!(all_orders(&app).await, before, "{what}");
    }
    let metrics = app.metrics().await;
    assert!(metrics.contains("order_reconciliation_runs_total{outcome=\"failed\"} 6"));

    // The real bill afterwards: the same day's run succeeds and heals.
    replace_bill(&app, None).await;
    let report = reconcile(&app).await;
    assert_eq!(report.run.status, "ok");
    assert_eq!(app.order_row(&lost_payment).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn today_has_no_bill_and_replicas_run_a_day_once() {
    let app = spawn_app().await;
    let today = beijing_today(Utc::now());
    let not_over = run_day(&app.state, &settings(&app), today, "test", true).await;
    assert!(not_over.is_err());

    // Two replicas' schedules at the same moment: one runs, the other is told it is taken.
    let replica = app.spawn_replica().await;
    let settings = settings(&app);
    let (a, b) = tokio::join!(
        run_day(&app.state, &settings, yesterday(), "schedule", false),
        run_day(&replica.state, &settings, yesterday(), "schedule", false),
    );
    let ran = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(ran, 1, "{a:?} {b:?}");
    // A scheduled run after a successful one does nothing.
    let later = run_day(&app.state, &settings, yesterday(), "schedule", false).await;
    assert!(later.is_err());
    replica.shutdown.cancel();
}

#[tokio::test]
async fn the_schedule_catches_up_on_yesterday_at_start_up() {
    let app = spawn_app().await;
    let (lost_payment, link) = app.order("u2", &[2], "199.00").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&lost_payment).await;
    backdate(&app, &lost_payment).await;

    // A replica whose RECONCILE_AT (00:00 Beijing) has passed today: it reconciles yesterday.
    let mut settings = app.settings.clone();
    settings.reconcile.at = Some(chrono::NaiveTime::MIN);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let application = order::Application::build(settings, shutdown.clone())
        .await
        .unwrap();
    let server = tokio::spawn(application.run_until_stopped());

    app.wait_until("the scheduled run healed the order", || async {
        app.order_row(&lost_payment).await.status == OrderStatus::Paid
    })
    .await;
    let mut conn = app.conn().await;
    let run = order::reconcile::store::run_by_date(&mut conn, yesterday())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (run.trigger.as_str(), run.status.as_str()),
        ("schedule", "ok")
    );
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_cli_prints_a_table() {
    let app = spawn_app().await;
    let (lost_payment, link) = app.order("u2", &[2], "199.00").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&lost_payment).await;
    backdate(&app, &lost_payment).await;

    // The command blocks; the in-process gateway and sandbox must keep serving meanwhile.
    let (database_url, gateway_url) = (
        app.stack.database.url().to_owned(),
        app.settings.payment_gateway_url.clone(),
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_order"))
            .args(["reconcile", "--date", &yesterday().to_string()])
            .env("JWT_SECRET", JWT_SECRET)
            .env("ALIPAY_APP_ID", crate::helpers::APP_ID)
            .env("ALIPAY_SELLER_ID", SELLER_ID)
            .env("DATABASE_URL", database_url)
            .env("PAYMENT_GATEWAY_URL", gateway_url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("reconciliation of {}: ok", yesterday())),
        "{stdout}"
    );
    assert!(stdout.contains("1 differences, 1 healed"), "{stdout}");
    let header = stdout
        .lines()
        .find(|line| line.starts_with("KIND"))
        .unwrap();
    assert!(
        header.contains("OUT_TRADE_NO") && header.contains("HEALED"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|line| line.contains(&lost_payment))
        .unwrap();
    assert!(row.starts_with("missing_here"), "{row}");
    assert!(row.contains("199.00 unpaid"), "{row}");
    assert!(row.contains("yes"), "{row}");
    assert_eq!(app.order_row(&lost_payment).await.status, OrderStatus::Paid);

    let bad = Command::new(env!("CARGO_BIN_EXE_order"))
        .args(["reconcile", "--date", "yesterday"])
        .env("JWT_SECRET", JWT_SECRET)
        .env("ALIPAY_APP_ID", crate::helpers::APP_ID)
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[tokio::test]
async fn the_admin_endpoint_shows_runs_and_differences() {
    let app = spawn_app().await;
    let (lost_payment, link) = app.order("u2", &[2], "199.00").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&lost_payment).await;
    backdate(&app, &lost_payment).await;
    reconcile(&app).await;
    let date = yesterday().to_string();

    let anonymous = app.get("/api/v1/reconciliations", None).await;
    let user = app
        .get("/api/v1/reconciliations", Some(&app.token("u1", false)))
        .await;
    let admin = app.token("root", true);
    let list: Value = app
        .get("/api/v1/reconciliations", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let one = app
        .get(&format!("/api/v1/reconciliations/{date}"), Some(&admin))
        .await;
    let user_one = app
        .get(
            &format!("/api/v1/reconciliations/{date}"),
            Some(&app.token("u1", false)),
        )
        .await;
    let missing = app
        .get("/api/v1/reconciliations/2020-01-01", Some(&admin))
        .await;
    let bad_date = app
        .get("/api/v1/reconciliations/yesterday", Some(&admin))
        .await;

    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(user.status().as_u16(), 403);
    assert_eq!(user_one.status().as_u16(), 403);
    assert_eq!(list["items"][0]["bill_date"], date);
    assert_eq!(list["items"][0]["status"], "ok");
    assert_eq!(one.status().as_u16(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!(one["differences"], 1);
    assert_eq!(one["items"][0]["kind"], "missing_here");
    assert_eq!(one["items"][0]["out_trade_no"], lost_payment);
    assert_eq!(one["items"][0]["alipay_amount"], "199.00");
    assert_eq!(one["items"][0]["ours_status"], "unpaid");
    assert_eq!(one["items"][0]["healed"], true);
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(bad_date.status().as_u16(), 400);
}
