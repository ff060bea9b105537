//! Certificate mode and AES through the real gateway and the sandbox: requests carry both SNs,
//! answers are verified with the certificate they name and decrypted, a rotation mid-run is
//! followed (download, chain check, cache), and a forged certificate offered through rotation
//! is refused with DATA_LOSS, every time. TEST-ONLY PKI: the alipay crate's vectors.

use alipay::AesKey;
use payment_gateway::Settings;
use payment_proto::v1::{GetAlipayCertificateRequest, QueryTradeRequest, TradeStatus};
use test_support::keys::{
    CERT_APP_ID, aes_key, alipay_pki, cert_app_registration, certificate_texts, pki_key,
    vector_text,
};
use tonic::Code;

use crate::helpers::*;

/// A sandbox with one app in certificate mode (and AES when `aes`), Alipay's certificates in
/// rotation order: the current one, then `next`.
async fn cert_sandbox(
    next: &[(&str, &str)],
    aes: Option<AesKey>,
) -> alipay_sandbox::RunningSandbox {
    test_support::services::spawn_sandbox(
        alipay_sandbox::Settings::new(alipay_key())
            .with_app(cert_app_registration(aes))
            .with_pki(alipay_pki(next))
            .with_time_scale(0.0001),
    )
    .await
}

fn cert_settings(gateway_url: &str, aes: Option<AesKey>) -> Settings {
    // The public key given here is replaced by the certificates.
    let mut settings = settings(gateway_url);
    settings.app_id = CERT_APP_ID.into();
    settings.app_private_key = pki_key("app");
    let settings = settings.with_certificates(&certificate_texts()).unwrap();
    match aes {
        Some(key) => settings.with_encrypt_key(key),
        None => settings,
    }
}

async fn spawn_cert(next: &[(&str, &str)], aes: bool) -> TestApp {
    let aes = aes.then(aes_key);
    let sandbox = cert_sandbox(next, aes.clone()).await;
    let settings = cert_settings(&sandbox.gateway_url(), aes);
    spawn_gateway(settings, sandbox, None).await
}

fn query(out_trade_no: &str) -> QueryTradeRequest {
    QueryTradeRequest {
        out_trade_no: out_trade_no.into(),
        trade_no: String::new(),
    }
}

impl TestApp {
    async fn rotate(&self) -> String {
        self.sandbox_api
            .rotate_alipay_cert()
            .await
            .unwrap()
            .alipay_cert_sn
    }
}

#[tokio::test]
async fn pay_links_carry_both_sns_and_answers_verify_with_the_named_certificate() {
    let app = spawn_cert(&[], true).await;

    let out_trade_no = order_no("CERT");
    let link = app
        .client
        .create_page_pay(REQUEST_ID, page_pay(&out_trade_no, "88.88"))
        .await
        .unwrap();
    assert!(
        link.url
            .contains("app_cert_sn=7db319eb17de042c3cc035e87122e887"),
        "{}",
        link.url
    );
    assert!(link.url.contains(
        "alipay_root_cert_sn=a7df8120442a398a39acccca14e67eda_b1df98fc2374272b83023b69c26cd08c"
    ));
    // The pay link is not encrypted (see the alipay crate's PagePay), the server calls are.
    assert!(!link.url.contains("encrypt_type"));
    let paid = app.paid_trade("12.34").await;

    let answer = app
        .client
        .query_trade(REQUEST_ID, query(&paid))
        .await
        .unwrap();

    assert_eq!(answer.trade_status(), TradeStatus::TradeSuccess);
    assert_eq!(answer.total_amount, "12.34");
}

#[tokio::test]
async fn a_gateway_with_another_aes_key_is_refused_by_alipay_in_plain() {
    // The sandbox holds the vectors' AES-128 key; this gateway encrypts with the AES-256 one.
    let sandbox = cert_sandbox(&[], Some(aes_key())).await;
    let other = AesKey::from_base64(&vector_text("keys/aes_256_key.b64")).unwrap();
    let settings = cert_settings(&sandbox.gateway_url(), Some(other));
    let app = spawn_gateway(settings, sandbox, None).await;

    let refused = app
        .client
        .query_trade(REQUEST_ID, query("ANY_1"))
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let detail = payment_proto::alipay_error_detail(&refused).unwrap();
    assert_eq!(
        detail.sub_code,
        "isv.decryption-error-not-valid-encrypt-key"
    );
}

#[tokio::test]
async fn a_rotation_mid_run_is_followed_and_the_new_certificate_served() {
    let app = spawn_cert(
        &[(
            "certs/alipayCertPublicKey_RSA2_rotated.crt",
            "alipay_rotated",
        )],
        true,
    )
    .await;
    let before = app.paid_trade("1.00").await;
    app.client
        .query_trade(REQUEST_ID, query(&before))
        .await
        .unwrap();

    let new_sn = app.rotate().await;
    let after = app.paid_trade("2.00").await;

    // A burst of answers signed with the new certificate, which the gateway downloads once,
    // checks and then trusts.
    let queries = (0..8).map(|i| {
        let (out_trade_no, amount) = if i % 2 == 0 {
            (&before, "1.00")
        } else {
            (&after, "2.00")
        };
        let client = app.client.clone();
        async move {
            let answer = client
                .query_trade(REQUEST_ID, query(out_trade_no))
                .await
                .unwrap();
            assert_eq!(answer.total_amount, amount);
        }
    });
    futures_util::future::join_all(queries).await;
    let sandbox_metrics = app
        .http
        .get(format!("{}/metrics", app.sandbox.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let downloads: Vec<&str> = sandbox_metrics
        .lines()
        .filter(|l| l.contains("alipay.open.app.alipaycert.download"))
        .collect();
    assert_eq!(downloads.len(), 1, "{downloads:?}");
    assert!(downloads[0].ends_with(" 1"), "one download: {downloads:?}");
    let served = app
        .client
        .get_alipay_certificate(
            REQUEST_ID,
            GetAlipayCertificateRequest {
                alipay_cert_sn: new_sn.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(served.alipay_cert_sn, new_sn);
    let file = alipay::CertificateFile::from_pem(&served.certificate_pem).unwrap();
    assert_eq!(file.sn(), new_sn);
    // The RPC is counted as an Alipay call of that method (here answered from the cache).
    let metrics = app.metrics().await;
    assert!(metrics.contains("alipay.open.app.alipaycert.download"));
}

#[tokio::test]
async fn a_forged_certificate_offered_through_rotation_is_refused_every_time() {
    let app = spawn_cert(
        &[(
            "certs/negative/alipayCertPublicKey_forged_signature.crt",
            "alipay_forged",
        )],
        false,
    )
    .await;
    let paid = app.paid_trade("3.00").await;
    let forged_sn = app.rotate().await;

    for _ in 0..2 {
        let refused = app
            .client
            .query_trade(REQUEST_ID, query(&paid))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::DataLoss, "{refused:?}");
        assert!(
            refused.message().contains(&forged_sn),
            "{}",
            refused.message()
        );
    }
    let refused = app
        .client
        .get_alipay_certificate(
            REQUEST_ID,
            GetAlipayCertificateRequest {
                alipay_cert_sn: forged_sn,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::DataLoss);
}

#[tokio::test]
async fn the_certificate_rpc_is_refused_in_public_key_mode() {
    let app = spawn().await;
    let refused = app
        .client
        .get_alipay_certificate(
            REQUEST_ID,
            GetAlipayCertificateRequest {
                alipay_cert_sn: "0123456789abcdef0123456789abcdef".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let refused = app
        .client
        .get_alipay_certificate(
            REQUEST_ID,
            GetAlipayCertificateRequest {
                alipay_cert_sn: "../etc".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}

/// A gateway in certificate mode whose server calls go over OpenAPI v3 (no AES: v3 content
/// encryption is not served by the sandbox).
async fn spawn_cert_v3(next: &[(&str, &str)]) -> TestApp {
    let sandbox = cert_sandbox(next, None).await;
    let settings = cert_settings(&sandbox.gateway_url(), None)
        .with_api_version(payment_gateway::ApiVersion::V3);
    spawn_gateway(settings, sandbox, None).await
}

#[tokio::test]
async fn over_v3_answers_verify_with_the_named_certificate_through_a_rotation() {
    let app = spawn_cert_v3(&[(
        "certs/alipayCertPublicKey_RSA2_rotated.crt",
        "alipay_rotated",
    )])
    .await;
    let before = app.paid_trade("4.00").await;
    let first = app
        .client
        .query_trade(REQUEST_ID, query(&before))
        .await
        .unwrap();

    let new_sn = app.rotate().await;
    let after = app
        .client
        .query_trade(REQUEST_ID, query(&before))
        .await
        .unwrap();

    assert_eq!(first.total_amount, "4.00");
    assert_eq!(after.trade_status(), TradeStatus::TradeSuccess);
    // The v3 answer named the new certificate; the gateway downloaded, checked and now serves it.
    let served = app
        .client
        .get_alipay_certificate(
            REQUEST_ID,
            GetAlipayCertificateRequest {
                alipay_cert_sn: new_sn.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(served.alipay_cert_sn, new_sn);
}

#[tokio::test]
async fn over_v3_a_forged_certificate_offered_through_rotation_is_refused() {
    let app = spawn_cert_v3(&[(
        "certs/negative/alipayCertPublicKey_forged_signature.crt",
        "alipay_forged",
    )])
    .await;
    let paid = app.paid_trade("5.00").await;
    app.rotate().await;

    let refused = app
        .client
        .query_trade(REQUEST_ID, query(&paid))
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::DataLoss, "{refused:?}");
}

#[tokio::test]
async fn over_v3_a_request_without_the_app_certificate_sn_is_refused() {
    let app = spawn_cert_v3(&[]).await;
    // The app's own key, but no app_cert_sn in the auth string.
    let without_sn = alipay::v3::V3Client::new(alipay::v3::V3Config {
        signer: alipay::v3::V3Signer::new(CERT_APP_ID, pki_key("app")),
        alipay_keys: std::sync::Arc::new(pki_key("alipay").public_key()),
        base_url: app.sandbox.base_url().to_owned(),
        timeout: std::time::Duration::from_secs(5),
        connect_timeout: std::time::Duration::from_secs(2),
        app_auth_token: None,
        alipay_root_cert_sn: None,
        rotation: None,
    })
    .unwrap();
    let request = alipay::request::TradeQuery {
        trade: alipay::request::TradeRef::out_trade_no(
            alipay::request::OutTradeNo::parse("ANY_V3_1").unwrap(),
        ),
    };

    let refused = without_sn.query(&request).await.unwrap_err();

    assert!(
        format!("{refused:?}").contains("isv.invalid-app-cert-sn"),
        "{refused:?}"
    );
}
