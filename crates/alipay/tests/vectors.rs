//! Every vector in `tests/vectors/` (made by an independent implementation, python-alipay-sdk;
//! TEST-ONLY keys): strings-to-sign and signatures byte for byte, URLs parameter for parameter,
//! and every accept/reject verdict.

// Helpers outside #[test] functions fail loudly on bad fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alipay::form;
use alipay::keys::{KeyError, PrivateKey, PublicKey};
use alipay::notify::{self, PayReturn, TradeNotification};
use alipay::request::{Gateway, RequestSigner};
use alipay::response;
use alipay::sign::{self, SignType};
use alipay::time::FixedClock;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The vector folder: `ALIPAY_VECTORS_DIR` when set (any folder of the same format, checked
/// without copying it into the crate), else the crate's own copy.
fn vectors_dir() -> PathBuf {
    match std::env::var_os(VECTORS_DIR_VARIABLE) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors"),
    }
}

const VECTORS_DIR_VARIABLE: &str = "ALIPAY_VECTORS_DIR";

fn cases(file: &str) -> Vec<Value> {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let document: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["test_only_keys"], true);
    let cases = document["cases"].as_array().unwrap().clone();
    assert!(!cases.is_empty(), "{file} has no cases");
    cases
}

fn read_key(relative: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(relative)).unwrap()
}

fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("{}: {field} is not a string", case["name"]))
}

fn spki_sha256(key: &PublicKey) -> String {
    Sha256::digest(key.to_spki_der())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_copy_matches_the_shared_vectors_when_present() {
    // The vectors are copied into the crate so it tests on its own; when the team's shared folder
    // sits beside the checkout, the copy must not have drifted from it.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors");
    if !shared.exists() || std::env::var_os(VECTORS_DIR_VARIABLE).is_some() {
        return;
    }
    for file in [
        "key_cases.json",
        "page_pay.json",
        "notify.json",
        "return.json",
        "response.json",
        "keys/keys.json",
        "v3.json",
        "keys/pki_app_private.pem",
        "keys/pki_app_public.pem",
        "keys/pki_alipay_private.pem",
        "keys/pki_alipay_public.pem",
        "keys/pki_alipay_rotated_private.pem",
        "keys/pki_alipay_rotated_public.pem",
    ] {
        assert_eq!(
            std::fs::read(shared.join(file)).unwrap(),
            std::fs::read(vectors_dir().join(file)).unwrap(),
            "{file} differs from ../shared/vectors"
        );
    }
}

#[test]
fn key_files_load_as_the_key_keys_json_names() {
    let keys: Value = serde_json::from_str(&read_key("keys/keys.json")).unwrap();
    let files = keys["files"].as_array().unwrap();
    assert_eq!(files.len(), 14);
    for file in files {
        let text = read_key(&format!("keys/{}", file["file"].as_str().unwrap()));
        let public = match file["kind"].as_str().unwrap() {
            "private" => PrivateKey::from_text(&text).unwrap().public_key(),
            _ => PublicKey::from_text(&text).unwrap(),
        };
        assert_eq!(
            spki_sha256(&public),
            file["spki_sha256"],
            "{}",
            file["file"]
        );
    }
}

#[test]
fn key_cases_are_accepted_or_rejected_as_listed() {
    let keys: Value = serde_json::from_str(&read_key("keys/keys.json")).unwrap();
    let fingerprint_of = |file: &str| {
        keys["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| format!("keys/{}", f["file"].as_str().unwrap()) == file)
            .unwrap()["spki_sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for case in cases("key_cases.json") {
        let name = text(&case, "name");
        let input = text(&case, "input");
        let loaded = match text(&case, "want") {
            "private" => PrivateKey::from_text(input).map(|key| key.public_key()),
            _ => PublicKey::from_text(input),
        };
        match (text(&case, "expect"), loaded) {
            ("accept", Ok(key)) => assert_eq!(
                spki_sha256(&key),
                fingerprint_of(text(&case, "same_as")),
                "{name}"
            ),
            ("reject", Err(error)) => {
                let expected_kind = match name {
                    "public_pem_where_private_wanted" | "public_b64_where_private_wanted" => {
                        Some(KeyError::PublicWherePrivateNeeded)
                    }
                    "private_pem_where_public_wanted" | "private_b64_where_public_wanted" => {
                        Some(KeyError::PrivateWherePublicNeeded)
                    }
                    "rsa_1024_private" | "rsa_1024_public" => {
                        Some(KeyError::TooShort { bits: 1024 })
                    }
                    "empty_string" => Some(KeyError::Empty),
                    _ => None,
                };
                if let Some(expected) = expected_kind {
                    assert_eq!(error, expected, "{name}");
                }
                match name {
                    "not_base64" | "not_base64_public" | "tutorial_corrupted_public_key" => {
                        assert!(
                            matches!(error, KeyError::NotBase64 { .. }),
                            "{name}: {error}"
                        )
                    }
                    "truncated_der" | "truncated_pem" => {
                        assert_eq!(error, KeyError::Corrupt, "{name}")
                    }
                    _ => {}
                }
            }
            (expect, outcome) => panic!("{name}: expected {expect}, got {outcome:?}"),
        }
    }
}

#[test]
fn page_pay_requests_sign_and_encode_byte_for_byte() {
    for case in cases("page_pay.json") {
        let name = text(&case, "name");
        let sign_type: SignType = text(&case, "sign_type").parse().unwrap();
        let key = PrivateKey::from_text(&read_key(text(&case, "app_private_key_file"))).unwrap();
        let params: BTreeMap<String, String> = case["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let clock = FixedClock::at_beijing(text(&case["input"], "timestamp")).unwrap();
        let signer = RequestSigner::new(text(&params_value(&case), "app_id"), key, sign_type)
            .with_clock(Arc::new(clock));
        let signed = signer.sign_params(params).unwrap();
        assert_eq!(
            signed.string_to_sign(),
            text(&case, "string_to_sign"),
            "{name}"
        );
        assert_eq!(signed.sign(), text(&case, "sign"), "{name}");
        let gateway = Gateway::Custom(text(&case["input"], "gateway").to_owned());
        assert_eq!(signed.url(&gateway), text(&case, "url"), "{name}");

        // And the URL verifies under the request rule with the app public key, as Alipay does.
        let app_public =
            PublicKey::from_text(&read_key(text(&case, "app_public_key_file"))).unwrap();
        assert_request_url_verifies(&signed.url(&gateway), &app_public, sign_type);
    }
}

fn params_value(case: &Value) -> Value {
    case["params"].clone()
}

/// What the gateway does with a merchant URL: decode once, take out `sign`, rebuild the string
/// with `sign_type` kept, verify with the app public key.
fn assert_request_url_verifies(url: &str, app_public: &PublicKey, sign_type: SignType) {
    let query = url.split_once('?').unwrap().1;
    let pairs = form::decode(query.as_bytes()).unwrap();
    let signature = pairs.iter().find(|(k, _)| k == "sign").unwrap().1.clone();
    let content = sign::request_content(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    sign::verify(app_public, sign_type, content.as_bytes(), &signature).unwrap();
}

#[test]
fn our_own_page_pay_urls_verify_under_the_request_rule() {
    use alipay::request::{OutTradeNo, PagePay, Subject, TimeExpire};
    let key = PrivateKey::from_text(&read_key("keys/app_private_pkcs8.pem")).unwrap();
    let app_public = PublicKey::from_text(&read_key("keys/app_public.pem")).unwrap();
    let clock = FixedClock::at_beijing("2024-05-16 14:00:13").unwrap();
    for sign_type in [SignType::Rsa2, SignType::Rsa] {
        let signer = RequestSigner::new("2021971696296258", key.clone(), sign_type)
            .with_clock(Arc::new(clock.clone()));
        let mut request = PagePay::new(
            OutTradeNo::parse("ORD_1").unwrap(),
            "0.01".parse().unwrap(),
            Subject::parse("Python 全栈 🦀 \"课程\" + 50% off").unwrap(),
        );
        request.time_expire = Some(TimeExpire::parse("2024-05-16 14:30:00").unwrap());
        request.notify_url = Some("http://127.0.0.1:8081/alipay/notify".into());
        request.return_url = Some("http://127.0.0.1:8080/pay/success".into());
        let signed = signer.page_pay(&request).unwrap();
        assert_request_url_verifies(&signed.url(&Gateway::Sandbox), &app_public, sign_type);
    }
}

#[test]
fn notifications_verify_or_fail_as_listed() {
    for case in cases("notify.json") {
        let name = text(&case, "name");
        let key = PublicKey::from_text(&read_key(text(&case, "alipay_public_key_file"))).unwrap();
        let sign_type: SignType = text(&case, "sign_type").parse().unwrap();
        let outcome = notify::verify(text(&case, "body").as_bytes(), &key, sign_type);
        match text(&case, "expect") {
            "valid" => {
                let verified = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    verified.string_to_verify(),
                    text(&case, "string_to_verify"),
                    "{name}"
                );
                let expected: Vec<(String, String)> = case["params"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                let mut got = verified.pairs().to_vec();
                let mut want = expected;
                got.sort();
                want.sort();
                assert_eq!(got, want, "{name}");
                let typed = TradeNotification::from_verified(&verified)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    typed.params.len(),
                    verified.pairs().len(),
                    "{name}: every field kept"
                );
            }
            _ => assert!(outcome.is_err(), "{name} should be rejected"),
        }
    }
}

#[test]
fn returns_verify_or_fail_as_listed() {
    for case in cases("return.json") {
        check_return_case(&case);
    }
}

/// One return vector: its verdict, its string-to-verify, and (when valid) the method it names,
/// taken from the vector's own parameters (page pay and wap pay return alike).
fn check_return_case(case: &Value) {
    let name = text(case, "name");
    let key = PublicKey::from_text(&read_key(text(case, "alipay_public_key_file"))).unwrap();
    let sign_type: SignType = text(case, "sign_type").parse().unwrap();
    let outcome = notify::verify(text(case, "query").as_bytes(), &key, sign_type);
    match text(case, "expect") {
        "valid" => {
            let verified = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                verified.string_to_verify(),
                text(case, "string_to_verify"),
                "{name}"
            );
            let typed = PayReturn::from_verified(&verified).unwrap();
            let expected_method = case["params"]["method"]
                .as_str()
                .or_else(|| verified.get("method"))
                .unwrap_or_else(|| panic!("{name}: no method"));
            assert_eq!(typed.method, expected_method, "{name}");
        }
        _ => assert!(outcome.is_err(), "{name} should be rejected"),
    }
}

#[test]
fn a_wap_pay_return_is_checked_against_its_own_method() {
    // The first valid return vector, re-signed (with the TEST-ONLY Alipay key) as the return of
    // a wap payment: the check must expect the method the vector names, not page pay's.
    let page = cases("return.json")
        .into_iter()
        .find(|case| case["expect"] == "valid")
        .unwrap();
    let mut params: BTreeMap<String, String> =
        serde_json::from_value(page["params"].clone()).unwrap();
    params.insert("method".into(), "alipay.trade.wap.pay.return".into());
    let sign_type: SignType = text(&page, "sign_type").parse().unwrap();
    let unsigned = params
        .iter()
        .filter(|(name, _)| name.as_str() != "sign" && name.as_str() != "sign_type");
    let content = sign::notification_content(unsigned.map(|(k, v)| (k.as_str(), v.as_str())));
    let alipay_private = PrivateKey::from_text(&read_key("keys/alipay_private_pkcs8.pem")).unwrap();
    params.insert(
        "sign".into(),
        sign::sign(&alipay_private, sign_type, &content).unwrap(),
    );
    let query = form::encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let wap = serde_json::json!({
        "name": "wap pay return (re-signed from a page pay vector)",
        "query": query,
        "alipay_public_key_file": page["alipay_public_key_file"],
        "sign_type": page["sign_type"],
        "expect": "valid",
        "string_to_verify": content,
        "params": params,
    });
    check_return_case(&wap);
}

#[test]
fn responses_verify_or_fail_as_listed() {
    for case in cases("response.json") {
        let name = text(&case, "name");
        let key = PublicKey::from_text(&read_key(text(&case, "alipay_public_key_file"))).unwrap();
        let sign_type: SignType = text(&case, "sign_type").parse().unwrap();
        let raw = text(&case, "raw");
        let method = text(&case, "method");
        let outcome = response::verify_response(raw, method, &key, sign_type);
        match text(&case, "expect") {
            "valid" => {
                let verified = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
                let signed_content = text(&case, "signed_content");
                // The node is kept exactly as received; for the `\/` retry the vector gives the
                // unescaped text that the signature covers.
                assert!(
                    verified.node == signed_content
                        || verified.node.replace("\\/", "/") == signed_content,
                    "{name}"
                );
                assert_eq!(verified.status.code, text(&case, "code"), "{name}");
                assert_eq!(
                    verified.status.sub_code.as_deref(),
                    case["sub_code"].as_str(),
                    "{name}"
                );
            }
            _ => assert!(outcome.is_err(), "{name} should be rejected"),
        }
    }
}
