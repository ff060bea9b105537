//! Properties over arbitrary input: sign-then-verify holds for any Unicode parameters, any changed
//! byte is rejected, and no parser panics on any input.

// Helpers outside #[test] functions fail loudly on bad fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use alipay::form;
use alipay::keys::{PrivateKey, PublicKey};
use alipay::money::Money;
use alipay::notify;
use alipay::request::{Gateway, RequestSigner};
use alipay::response;
use alipay::sign::{self, SignType};
use alipay::time::FixedClock;
use proptest::collection::btree_map;
use proptest::prelude::*;

/// One key for the whole run: generating RSA keys per case would dominate the test time.
fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate().unwrap())
}

fn param_name() -> impl Strategy<Value = String> {
    "[a-z][a-z_]{0,15}".prop_filter("not a signature field", |k| k != "sign" && k != "sign_type")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn signed_notifications_verify_and_any_changed_value_fails(
        params in btree_map(param_name(), "\\PC{1,24}", 1..8),
        victim in any::<prop::sample::Index>(),
        replacement in "\\PC{1,8}",
    ) {
        let content = sign::notification_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let signature = sign::sign(key(), SignType::Rsa2, &content).unwrap();
        let mut pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.push(("sign", &signature));
        pairs.push(("sign_type", "RSA2"));
        let body = form::encode(pairs.clone());
        let verified = notify::verify(body.as_bytes(), &key().public_key(), SignType::Rsa2).unwrap();
        prop_assert_eq!(verified.string_to_verify(), content.as_str());

        let (name, original) = params.iter().nth(victim.index(params.len())).unwrap();
        prop_assume!(replacement != *original);
        let tampered: Vec<(&str, &str)> = pairs
            .iter()
            .map(|&(k, v)| if k == name { (k, replacement.as_str()) } else { (k, v) })
            .collect();
        let tampered_body = form::encode(tampered);
        prop_assert!(notify::verify(tampered_body.as_bytes(), &key().public_key(), SignType::Rsa2).is_err());
    }

    #[test]
    fn any_flipped_bit_of_a_signed_message_is_rejected(message in "\\PC{1,64}", position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let signature = sign::sign(key(), SignType::Rsa2, &message).unwrap();
        let mut bytes = message.into_bytes();
        let at = position.index(bytes.len());
        bytes[at] ^= 1 << bit;
        prop_assert!(sign::verify(&key().public_key(), SignType::Rsa2, &bytes, &signature).is_err());
    }

    #[test]
    fn signed_request_urls_round_trip_through_the_form_decoder(
        params in btree_map(param_name(), "\\PC{1,24}", 1..8),
    ) {
        let clock = FixedClock::at_beijing("2024-01-02 03:04:05").unwrap();
        let signer = RequestSigner::new("2021000000000001", key().clone(), SignType::Rsa2).with_clock(Arc::new(clock));
        let signed = signer.sign_params(params.clone().into_iter().collect()).unwrap();
        let url = signed.url(&Gateway::Sandbox);
        let decoded = form::decode(url.split_once('?').unwrap().1.as_bytes()).unwrap();
        let signature = decoded.iter().find(|(k, _)| k == "sign").unwrap().1.clone();
        let content = sign::request_content(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        prop_assert_eq!(&content, signed.string_to_sign());
        prop_assert!(sign::verify(&key().public_key(), SignType::Rsa2, content.as_bytes(), &signature).is_ok());
    }

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), text in "\\PC{0,256}") {
        let _ = form::decode(&bytes);
        let _ = notify::verify(&bytes, &key().public_key(), SignType::Rsa2);
        let _ = response::extract_node(&text, "alipay.trade.query");
        let _ = response::verify_response(&text, "alipay.trade.query", &key().public_key(), SignType::Rsa2);
        let _ = PublicKey::from_text(&text);
        let _ = PrivateKey::from_text(&text);
        let _ = text.parse::<Money>();
        let _ = alipay::time::parse_beijing(&text);
        if let Ok(as_text) = std::str::from_utf8(&bytes) {
            let _ = response::extract_node(as_text, "alipay.trade.query");
            let _ = PublicKey::from_text(as_text);
        }
    }

    #[test]
    fn json_shaped_noise_never_panics_the_response_scanner(
        body in r#"\{("[a-z_]{1,12}"\s?:\s?(\{[^\x00]{0,40}\}|"[^"]{0,10}"|[0-9]{1,4}),?){0,4}\}"#,
    ) {
        let _ = response::extract_node(&body, "alipay.trade.query");
        let _ = response::verify_response(&body, "alipay.trade.query", &key().public_key(), SignType::Rsa2);
    }

    #[test]
    fn money_text_round_trips(fen in 0u64..10_000_000_000) {
        let money = Money::from_fen(fen).unwrap();
        let text = money.to_string();
        prop_assert_eq!(text.parse::<Money>().unwrap(), money);
        prop_assert_eq!(money.fen() as u64, fen);
    }
}

#[test]
fn der_fragments_never_panic_the_key_loader() {
    // Every prefix of a real key, base64-encoded: truncations at every byte boundary.
    use base64::Engine;
    let der = key().to_pkcs1_der();
    for cut in 0..der.len() {
        let text = base64::engine::general_purpose::STANDARD.encode(&der[..cut]);
        assert!(
            PrivateKey::from_text(&text).is_err(),
            "prefix of {cut} bytes accepted"
        );
    }
}
