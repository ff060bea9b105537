//! Page-pay link creation and notification verification, on one core and on all cores.
//!
//! `cargo bench -p alipay --bench signing`. The all-core groups run `available_parallelism()`
//! threads, each doing the same work, and report the total throughput; compare with
//! `openssl speed -multi $(nproc) rsa2048` from the same machine and run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alipay::keys::PrivateKey;
use alipay::notify;
use alipay::request::{Gateway, OutTradeNo, PagePay, RequestSigner, Subject};
use alipay::sign::{self, SignType};
use alipay::{form, time::FixedClock};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn signer(key: &PrivateKey) -> RequestSigner {
    let clock = FixedClock::at_beijing("2024-01-02 03:04:05").unwrap();
    RequestSigner::new("2021000000000001", key.clone(), SignType::Rsa2).with_clock(Arc::new(clock))
}

fn page_pay(n: u64) -> PagePay {
    let mut request = PagePay::new(
        OutTradeNo::parse(&format!("ORDER_{n}")).unwrap(),
        "299.50".parse().unwrap(),
        Subject::parse("Python 全栈开发课程").unwrap(),
    );
    request.notify_url = Some("https://pay.example.com/alipay/notify".into());
    request.return_url = Some("https://shop.example.com/pay/success".into());
    request
}

fn notification_body(key: &PrivateKey) -> String {
    let fields = [
        ("gmt_create", "2024-01-02 03:05:00"),
        ("charset", "utf-8"),
        ("gmt_payment", "2024-01-02 03:05:10"),
        ("notify_time", "2024-01-02 03:05:11"),
        ("subject", "Python 全栈开发课程"),
        ("buyer_id", "2088102100000001"),
        ("invoice_amount", "299.50"),
        ("version", "1.0"),
        ("notify_id", "2024010200222030511000000000000001"),
        (
            "fund_bill_list",
            "[{\"amount\":\"299.50\",\"fundChannel\":\"ALIPAYACCOUNT\"}]",
        ),
        ("notify_type", "trade_status_sync"),
        ("out_trade_no", "ORDER_1"),
        ("total_amount", "299.50"),
        ("trade_status", "TRADE_SUCCESS"),
        ("trade_no", "2024010222001400000000000001"),
        ("auth_app_id", "2021000000000001"),
        ("receipt_amount", "299.50"),
        ("point_amount", "0.00"),
        ("app_id", "2021000000000001"),
        ("buyer_pay_amount", "299.50"),
        ("seller_id", "2088102100000002"),
    ];
    let content = sign::notification_content(fields);
    let signature = sign::sign(key, SignType::Rsa2, &content).unwrap();
    let mut all = fields.to_vec();
    all.push(("sign_type", "RSA2"));
    all.push(("sign", &signature));
    form::encode(all)
}

/// Runs `work` on every core for `iterations` per thread and returns the total time.
fn on_all_cores(iterations: u64, work: impl Fn(u64) + Sync) -> Duration {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let work = &work;
            scope.spawn(move || {
                for i in 0..iterations {
                    work(thread as u64 * iterations + i);
                }
            });
        }
    });
    started.elapsed()
}

fn benches(c: &mut Criterion) {
    let key = PrivateKey::generate().unwrap();
    let signer = signer(&key);
    let public = key.public_key();
    let body = notification_body(&key);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;

    let mut single = c.benchmark_group("one core");
    single.throughput(Throughput::Elements(1));
    single.bench_function("page pay link", |b| {
        let mut n = 0;
        b.iter(|| {
            n += 1;
            black_box(
                signer
                    .page_pay(&page_pay(n))
                    .unwrap()
                    .url(&Gateway::Production),
            )
        })
    });
    single.bench_function("notification verify", |b| {
        b.iter(|| black_box(notify::verify(body.as_bytes(), &public, SignType::Rsa2).unwrap()))
    });
    single.finish();

    let mut all = c.benchmark_group(format!("all {threads} cores"));
    all.throughput(Throughput::Elements(threads));
    all.bench_function("page pay link", |b| {
        b.iter_custom(|iterations| {
            on_all_cores(iterations, |n| {
                black_box(
                    signer
                        .page_pay(&page_pay(n))
                        .unwrap()
                        .url(&Gateway::Production),
                );
            })
        })
    });
    all.bench_function("notification verify", |b| {
        b.iter_custom(|iterations| {
            on_all_cores(iterations, |_| {
                black_box(notify::verify(body.as_bytes(), &public, SignType::Rsa2).unwrap());
            })
        })
    });
    all.finish();
}

criterion_group! {
    name = signing;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(30);
    targets = benches
}
criterion_main!(signing);
