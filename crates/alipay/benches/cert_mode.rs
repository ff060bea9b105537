//! Certificate mode against public-key mode, in the same run, with the same RSA keys (the
//! vectors' TEST-ONLY certificate keys), so the difference is only what certificate mode adds:
//! two more signed parameters per request, and picking the key by `alipay_cert_sn` (one map
//! lookup under a read lock) per response and notification.
//!
//! `cargo bench -p alipay --bench cert_mode`; `scripts/bench-cert-ratio.sh` prints the ratios
//! from criterion's estimates.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alipay::cert::{AlipayCertificates, CertSns, RootBundle};
use alipay::form;
use alipay::keys::PrivateKey;
use alipay::notify;
use alipay::request::{OutTradeNo, PagePay, RequestSigner, Subject};
use alipay::response;
use alipay::sign::{self, SignType};
use alipay::time::{Clock, FixedClock, SystemClock};
use alipay::verifier::AlipayVerifier;
use criterion::{Criterion, criterion_group, criterion_main};

fn vector(relative: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors")
            .join(relative),
    )
    .unwrap()
}

fn page_pay() -> PagePay {
    let mut request = PagePay::new(
        OutTradeNo::parse("ORDER_1").unwrap(),
        "299.50".parse().unwrap(),
        Subject::parse("Python 全栈开发课程").unwrap(),
    );
    request.notify_url = Some("https://pay.example.com/alipay/notify".into());
    request.return_url = Some("https://shop.example.com/pay/success".into());
    request
}

/// A notification signed by `key`, naming `cert_sn` when given (as the sandbox sends them).
fn notification(key: &PrivateKey, cert_sn: Option<&str>) -> String {
    let mut fields = vec![
        ("gmt_create", "2024-01-02 03:05:00"),
        ("charset", "utf-8"),
        ("notify_time", "2024-01-02 03:05:11"),
        ("subject", "Python 全栈开发课程"),
        ("notify_id", "2024010200222030511000000000000001"),
        ("notify_type", "trade_status_sync"),
        ("out_trade_no", "ORDER_1"),
        ("total_amount", "299.50"),
        ("trade_status", "TRADE_SUCCESS"),
        ("trade_no", "2024010222001400000000000001"),
        ("app_id", "2021004100000001"),
        ("seller_id", "2088102100000002"),
    ];
    if let Some(sn) = cert_sn {
        fields.push(("alipay_cert_sn", sn));
    }
    let content = sign::notification_content(fields.iter().copied());
    let signature = sign::sign(key, SignType::Rsa2, &content).unwrap();
    fields.push(("sign_type", "RSA2"));
    fields.push(("sign", &signature));
    form::encode(fields)
}

/// A query response signed by `key`, naming `cert_sn` when given.
fn response_text(key: &PrivateKey, cert_sn: Option<&str>) -> String {
    let node = r#"{"code":"10000","msg":"Success","out_trade_no":"ORDER_1","trade_no":"2024010222001400000000000001","trade_status":"TRADE_SUCCESS","total_amount":"299.50"}"#;
    let signature = sign::sign(key, SignType::Rsa2, node).unwrap();
    let sn = cert_sn
        .map(|sn| format!(",\"alipay_cert_sn\":\"{sn}\""))
        .unwrap_or_default();
    format!("{{\"alipay_trade_query_response\":{node}{sn},\"sign\":\"{signature}\"}}")
}

fn compare(c: &mut Criterion) {
    let app_key = PrivateKey::from_text(&vector("keys/pki_app_private.pem")).unwrap();
    let alipay_key = PrivateKey::from_text(&vector("keys/pki_alipay_private.pem")).unwrap();
    let root = RootBundle::from_pem(&vector("certs/alipayRootCert.crt")).unwrap();
    let now = SystemClock.now();
    let sns = CertSns::load(
        &vector("certs/appCertPublicKey_2021004100000001.crt"),
        &root,
        &app_key,
        now,
    )
    .unwrap();
    let store = AlipayCertificates::new(
        &vector("certs/alipayCertPublicKey_RSA2.crt"),
        root,
        Some(&app_key),
        now,
    )
    .unwrap();
    // A second trusted certificate, as after a rotation: the lookup must not care.
    store
        .trust(&vector("certs/alipayCertPublicKey_RSA2_rotated.crt"), now)
        .unwrap();
    let alipay_sn = store
        .sns()
        .into_iter()
        .find(|sn| store.key(sn).unwrap() == alipay_key.public_key())
        .unwrap();
    let key_mode = AlipayVerifier::PublicKey(alipay_key.public_key());
    let cert_mode = AlipayVerifier::Certificates(store);

    let clock = Arc::new(FixedClock::at_beijing("2024-01-02 03:04:05").unwrap());
    let key_signer = RequestSigner::new("2021004100000001", app_key.clone(), SignType::Rsa2)
        .with_clock(clock.clone());
    let cert_signer = key_signer.clone().with_cert_sns(sns);
    let request = page_pay();

    let mut group = c.benchmark_group("sign_page_pay");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("key_mode", |b| {
        b.iter(|| black_box(key_signer.page_pay(black_box(&request)).unwrap()))
    });
    group.bench_function("cert_mode", |b| {
        b.iter(|| black_box(cert_signer.page_pay(black_box(&request)).unwrap()))
    });
    group.finish();

    let plain_body = notification(&alipay_key, None);
    let cert_body = notification(&alipay_key, Some(&alipay_sn));
    let mut group = c.benchmark_group("verify_notification");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("key_mode", |b| {
        b.iter(|| {
            black_box(notify::verify_in(plain_body.as_bytes(), &key_mode, SignType::Rsa2).unwrap())
        })
    });
    group.bench_function("cert_mode", |b| {
        b.iter(|| {
            black_box(notify::verify_in(cert_body.as_bytes(), &cert_mode, SignType::Rsa2).unwrap())
        })
    });
    group.finish();

    let plain_response = response_text(&alipay_key, None);
    let cert_response = response_text(&alipay_key, Some(&alipay_sn));
    let mut group = c.benchmark_group("verify_response");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("key_mode", |b| {
        b.iter(|| {
            black_box(
                response::verify_response_in(
                    &plain_response,
                    "alipay.trade.query",
                    &key_mode,
                    SignType::Rsa2,
                    None,
                )
                .unwrap(),
            )
        })
    });
    group.bench_function("cert_mode", |b| {
        b.iter(|| {
            black_box(
                response::verify_response_in(
                    &cert_response,
                    "alipay.trade.query",
                    &cert_mode,
                    SignType::Rsa2,
                    None,
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

/// The same three comparisons, interleaved: each round times a batch in key mode and then the
/// same batch in certificate mode (alternating which goes first), so both see the same machine
/// load; the median of the per-round ratios is printed. On a shared machine this is the figure
/// to trust: criterion's separate measurements can be minutes apart, under different load.
fn interleaved(_: &mut Criterion) {
    let app_key = PrivateKey::from_text(&vector("keys/pki_app_private.pem")).unwrap();
    let alipay_key = PrivateKey::from_text(&vector("keys/pki_alipay_private.pem")).unwrap();
    let root = RootBundle::from_pem(&vector("certs/alipayRootCert.crt")).unwrap();
    let now = SystemClock.now();
    let app_cert = vector("certs/appCertPublicKey_2021004100000001.crt");
    let sns = CertSns::load(&app_cert, &root, &app_key, now).unwrap();
    let store = AlipayCertificates::new(
        &vector("certs/alipayCertPublicKey_RSA2.crt"),
        root,
        Some(&app_key),
        now,
    )
    .unwrap();
    store
        .trust(&vector("certs/alipayCertPublicKey_RSA2_rotated.crt"), now)
        .unwrap();
    let alipay_sn = store
        .sns()
        .into_iter()
        .find(|sn| store.key(sn).unwrap() == alipay_key.public_key())
        .unwrap();
    let key_mode = AlipayVerifier::PublicKey(alipay_key.public_key());
    let cert_mode = AlipayVerifier::Certificates(store);
    let clock = Arc::new(FixedClock::at_beijing("2024-01-02 03:04:05").unwrap());
    let key_signer =
        RequestSigner::new("2021004100000001", app_key, SignType::Rsa2).with_clock(clock);
    let cert_signer = key_signer.clone().with_cert_sns(sns);
    let request = page_pay();
    let plain_body = notification(&alipay_key, None);
    let cert_body = notification(&alipay_key, Some(&alipay_sn));
    let plain_response = response_text(&alipay_key, None);
    let cert_response = response_text(&alipay_key, Some(&alipay_sn));

    let compare_in_rounds = |name: &str, batch: u32, key: &dyn Fn(), cert: &dyn Fn()| {
        const ROUNDS: u32 = 60;
        let time = |work: &dyn Fn()| {
            let started = Instant::now();
            for _ in 0..batch {
                work();
            }
            started.elapsed()
        };
        let mut ratios = Vec::new();
        let (mut key_total, mut cert_total) = (Duration::ZERO, Duration::ZERO);
        for round in 0..ROUNDS {
            let (k, c) = if round % 2 == 0 {
                let k = time(key);
                (k, time(cert))
            } else {
                let c = time(cert);
                (time(key), c)
            };
            key_total += k;
            cert_total += c;
            ratios.push(c.as_secs_f64() / k.as_secs_f64());
        }
        ratios.sort_by(f64::total_cmp);
        let per_op = |total: Duration| total.as_secs_f64() * 1e6 / f64::from(ROUNDS * batch);
        let quartile = |q: usize| ratios[ratios.len() * q / 4];
        println!(
            "interleaved {name}: key {:.1} us, cert {:.1} us, median ratio cert/key {:.3} \
             (quartiles {:.3}-{:.3})",
            per_op(key_total),
            per_op(cert_total),
            quartile(2),
            quartile(1),
            quartile(3)
        );
    };
    compare_in_rounds(
        "sign_page_pay",
        20,
        &|| {
            black_box(key_signer.page_pay(&request).unwrap());
        },
        &|| {
            black_box(cert_signer.page_pay(&request).unwrap());
        },
    );
    compare_in_rounds(
        "verify_notification",
        300,
        &|| {
            black_box(notify::verify_in(plain_body.as_bytes(), &key_mode, SignType::Rsa2).unwrap());
        },
        &|| {
            black_box(notify::verify_in(cert_body.as_bytes(), &cert_mode, SignType::Rsa2).unwrap());
        },
    );
    // The same body in both modes (public-key mode verifies alipay_cert_sn as an ordinary
    // field): what the mode itself costs, without the 48 bytes the field adds to the message.
    compare_in_rounds(
        "verify_notification_same_body",
        300,
        &|| {
            black_box(notify::verify_in(cert_body.as_bytes(), &key_mode, SignType::Rsa2).unwrap());
        },
        &|| {
            black_box(notify::verify_in(cert_body.as_bytes(), &cert_mode, SignType::Rsa2).unwrap());
        },
    );
    let verify = |raw: &str, verifier: &AlipayVerifier| {
        black_box(
            response::verify_response_in(raw, "alipay.trade.query", verifier, SignType::Rsa2, None)
                .unwrap(),
        );
    };
    compare_in_rounds(
        "verify_response",
        300,
        &|| verify(&plain_response, &key_mode),
        &|| verify(&cert_response, &cert_mode),
    );
}

criterion_group!(benches, compare, interleaved);
criterion_main!(benches);
