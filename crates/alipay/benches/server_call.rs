//! CPU of one server call, v2 against OpenAPI v3, in the same run: sign the request (with its
//! encoding) and verify and type the response, for `alipay.trade.query` with the same trade.
//!
//! `cargo bench -p alipay --bench server_call`. Besides criterion's two timings, the run ends
//! with an interleaved measurement (v2 and v3 alternating, so both see the same machine load)
//! and prints `v3/v2 CPU ratio`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alipay::keys::{PrivateKey, PublicKey};
use alipay::request::{OutTradeNo, RequestSigner, TradeQuery, TradeRef};
use alipay::response::{self, TradeQueryResult};
use alipay::sign::{self, SignType};
use alipay::time::FixedClock;
use alipay::v3::V3Signer;
use alipay::v3::api::V3Api;
use alipay::v3::sign::{self as v3sign, ResponseHeaders};
use criterion::{Criterion, criterion_group, criterion_main};

/// The business fields of a paid trade, as both protocols carry them.
const TRADE: &str = r#""buyer_logon_id":"lgh***@sandbox.com","buyer_pay_amount":"88.88","buyer_user_id":"2088102177846875","invoice_amount":"88.88","out_trade_no":"ORDER_1","point_amount":"0.00","receipt_amount":"88.88","send_pay_date":"2024-01-02 03:05:10","total_amount":"88.88","trade_no":"2024010222001400000000000001","trade_status":"TRADE_SUCCESS""#;

struct Fixture {
    v2_signer: RequestSigner,
    v3_signer: V3Signer,
    alipay_public: PublicKey,
    query: TradeQuery,
    v2_response: String,
    v3_body: String,
    v3_timestamp: String,
    v3_nonce: String,
    v3_signature: String,
}

fn fixture() -> Fixture {
    let app = PrivateKey::generate().unwrap();
    let alipay = PrivateKey::generate().unwrap();
    let clock = Arc::new(FixedClock::at_beijing("2024-01-02 03:04:05").unwrap());
    let node = format!(r#"{{"code":"10000","msg":"Success",{TRADE}}}"#);
    let v2_sign = sign::sign(&alipay, SignType::Rsa2, &node).unwrap();
    let v3_body = format!("{{{TRADE}}}");
    let (v3_timestamp, v3_nonce) = (
        "1704135845000".to_owned(),
        "06e63eb1-b2b9-4b69-92cb-5e4bbff83e8c".to_owned(),
    );
    let v3_signature = v3sign::sign_response(&alipay, &v3_timestamp, &v3_nonce, &v3_body).unwrap();
    Fixture {
        v2_signer: RequestSigner::new("2021000000000001", app.clone(), SignType::Rsa2)
            .with_clock(clock.clone()),
        v3_signer: V3Signer::new("2021000000000001", app).with_clock(clock),
        alipay_public: alipay.public_key(),
        query: TradeQuery {
            trade: TradeRef::out_trade_no(OutTradeNo::parse("ORDER_1").unwrap()),
        },
        v2_response: format!(r#"{{"alipay_trade_query_response":{node},"sign":"{v2_sign}"}}"#),
        v3_body,
        v3_timestamp,
        v3_nonce,
        v3_signature,
    }
}

fn v2_call(f: &Fixture) -> TradeQueryResult {
    let signed = f.v2_signer.sign_request(&f.query).unwrap();
    black_box(signed.encoded());
    response::verify_response(
        &f.v2_response,
        "alipay.trade.query",
        &f.alipay_public,
        SignType::Rsa2,
    )
    .unwrap()
    .into_result()
    .unwrap()
}

fn v3_call(f: &Fixture) -> TradeQueryResult {
    let signed = f
        .v3_signer
        .sign(&f.query.v3_request().unwrap(), None)
        .unwrap();
    black_box(signed);
    v3sign::verify_response(
        &f.alipay_public,
        &ResponseHeaders {
            timestamp: Some(&f.v3_timestamp),
            nonce: Some(&f.v3_nonce),
            signature: Some(&f.v3_signature),
            alipay_sn: None,
        },
        &f.v3_body,
    )
    .unwrap();
    serde_json::from_str(&f.v3_body).unwrap()
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    assert_eq!(v2_call(&f), v3_call(&f), "both calls read the same trade");

    let mut group = c.benchmark_group("server call (sign request + verify response)");
    group.bench_function("v2 alipay.trade.query", |b| {
        b.iter(|| black_box(v2_call(&f)))
    });
    group.bench_function("v3 /v3/alipay/trade/query", |b| {
        b.iter(|| black_box(v3_call(&f)))
    });
    group.finish();

    // Interleaved, so a busy neighbour slows both alike; which one goes first alternates, so
    // neither always runs on caches the other warmed.
    let rounds: u32 = 2000;
    let (mut v2, mut v3) = (Duration::ZERO, Duration::ZERO);
    let time = |call: fn(&Fixture) -> TradeQueryResult, total: &mut Duration| {
        let started = Instant::now();
        black_box(call(&f));
        *total += started.elapsed();
    };
    for round in 0..rounds {
        if round % 2 == 0 {
            time(v2_call, &mut v2);
            time(v3_call, &mut v3);
        } else {
            time(v3_call, &mut v3);
            time(v2_call, &mut v2);
        }
    }
    eprintln!(
        "interleaved over {rounds} calls each: v2 {:.1} us, v3 {:.1} us, v3/v2 CPU ratio {:.3}",
        v2.as_secs_f64() * 1e6 / f64::from(rounds),
        v3.as_secs_f64() * 1e6 / f64::from(rounds),
        v3.as_secs_f64() / v2.as_secs_f64()
    );
}

criterion_group! {
    name = server_call;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(30);
    targets = benches
}
criterion_main!(server_call);
