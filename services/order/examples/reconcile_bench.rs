//! Reconciliation at scale: builds a bill of N payment lines (default 100,000; GBK CSV in a zip,
//! written as a stream to a temporary file) and N paid orders in a database of its own, then
//! times reading the bill and comparing it with the orders, the two steps a daily run spends
//! its time on (healing only touches the few differences). Ten orders are doctored so the
//! comparison has something to find.
//!
//! ```sh
//! cargo build --release -p order --example reconcile-bench
//! /usr/bin/time -v $CARGO_TARGET_DIR/release/examples/reconcile-bench 100000
//! ```
//!
//! Needs PostgreSQL (`TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432, trust);
//! the database `order_bench_<uuid>` is dropped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufWriter, Seek, Write};
use std::time::Instant;

use chrono::NaiveDate;
use clap::Parser;
use diesel_async::RunQueryDsl;
use order::reconcile::bill::{Expected, Limits, read_bill};
use order::reconcile::{beijing_day, compare};
use test_support::TestDatabase;

const SELLER_ID: &str = "2088102177846880";

/// reconcile-bench: times reading an N-line bill and comparing it with N paid orders.
#[derive(Debug, Parser)]
#[command(name = "reconcile-bench")]
struct Options {
    /// Payment lines in the bill (and paid orders in the database).
    #[arg(default_value_t = 100_000)]
    lines: usize,
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Writes the bill zip line by line (never the whole text in memory).
fn write_bill(lines: usize, date: NaiveDate) -> std::fs::File {
    let file = tempfile::tempfile().unwrap();
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    let compact = date.format("%Y%m%d");
    zip.start_file(format!("{SELLER_ID}_{compact}_业务明细.csv"), options)
        .unwrap();
    let day = date.format("%Y年%m月%d日");
    let next = date.succ_opt().unwrap().format("%Y年%m月%d日");
    let mut put = |text: &str| {
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        zip.write_all(&gbk).unwrap();
    };
    put(&format!(
        "#支付宝业务明细查询\r\n#账号：[{SELLER_ID}0156]\r\n#起始日期：[{day} 00:00:00]   终止日期：[{next} 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n"
    ));
    put(
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n",
    );
    let date_text = date.format("%Y-%m-%d");
    for i in 1..=lines {
        let at = format!(
            "{date_text} {:02}:{:02}:{:02}",
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60
        );
        put(&format!(
            "{date_text}2200140{i:014}\t,B{i:010}\t,交易\t,Rust 微服务 (+1 more)\t,{at}\t,{at}\t,\t,\t,\t,\t,sbx***@sandbox.com\t,99.90\t,99.90\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t\r\n"
        ));
    }
    put(
        "#-----------------------------------------业务明细列表结束------------------------------------\r\n",
    );
    put(&format!(
        "#交易合计：{lines}笔，商家实收共0.00元，商家优惠共0.00元\r\n#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元\r\n"
    ));
    let mut file = zip.finish().unwrap().into_inner().unwrap();
    file.rewind().unwrap();
    file
}

#[tokio::main]
async fn main() {
    let lines = Options::parse().lines;
    let database = TestDatabase::create("order_bench").await;
    order::db::run_migrations(database.url()).await.unwrap();
    let mut conn = database.connect().await;
    let date = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
    let (start, _) = beijing_day(date);

    let setup = Instant::now();
    diesel::sql_query(
        "INSERT INTO orders (out_trade_no, user_id, subject, total_amount, pay_type, status,
                             trade_no, pay_time, expires_at, created_at, updated_at)
         SELECT 'B' || lpad(i::text, 10, '0'), 'bench', 'Rust 微服务 (+1 more)',
                CASE WHEN i % 10000 = 0 THEN 88.80 ELSE 99.90 END, 1, 1,
                '2026-12-042200140' || lpad(i::text, 14, '0'),
                $1 + make_interval(secs => i % 86400), $1, $1, $1
           FROM generate_series(1, $2) AS i",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(start)
    .bind::<diesel::sql_types::Integer, _>(i32::try_from(lines).unwrap())
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE orders")
        .execute(&mut conn)
        .await
        .unwrap();
    let bill_file = write_bill(lines, date);
    let zip_bytes = bill_file.metadata().unwrap().len();
    eprintln!(
        "setup: {lines} orders and a {lines}-line bill ({zip_bytes} bytes zipped) in {:.1?}",
        setup.elapsed()
    );

    let began = Instant::now();
    let bill = tokio::task::spawn_blocking(move || {
        read_bill(
            std::io::BufReader::new(bill_file),
            &Limits::default(),
            &Expected {
                date,
                seller_id: Some(SELLER_ID.to_owned()),
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    let read = began.elapsed();
    let comparison = compare::compare(&mut conn, &bill, beijing_day(date))
        .await
        .unwrap();
    let total = began.elapsed();
    println!(
        "lines={lines} read_bill={:.3}s compare={:.3}s total={:.3}s differences={} orders_compared={} peak_rss={:.1}MiB",
        read.as_secs_f64(),
        (total - read).as_secs_f64(),
        total.as_secs_f64(),
        comparison.differences.len(),
        comparison.orders_compared,
        peak_rss_mib(),
    );
    // The database is dropped with its guard.
}
