//! Every case of `tests/vectors/v3.json` (captured from the official Node SDK, npm alipay-sdk
//! 4.14.0; TEST-ONLY keys): auth strings, strings to sign, signatures and Authorization headers
//! byte for byte, in key and certificate mode, with and without app_auth_token; every
//! accept/reject verdict for requests (Alipay's side) and responses (ours).
//!
//! Certificate mode is exercised with its SNs as data: the app certificate's SN is passed through
//! to the signer, and responses are verified through an `alipay-sn` → key lookup built from the
//! SNs `cert.json` lists for the two Alipay certificates (the certificate store of certificate
//! mode computes the same SNs from the files and will provide the lookup).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use alipay::keys::{PrivateKey, PublicKey};
use alipay::v3::sign::{
    self, AlipayKeys, AuthParams, AuthorizationError, KeysBySn, RequestParts, RequestVerifyError,
    ResponseHeaders, ResponseVerifyError,
};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("ALIPAY_VECTORS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors"),
    }
}

fn cases(kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(vectors_dir().join("v3.json")).unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(document["test_only_keys"], true);
    let cases: Vec<Value> = document["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["kind"] == kind)
        .cloned()
        .collect();
    assert!(!cases.is_empty());
    cases
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(vectors_dir().join(relative)).unwrap()
}

fn private_key(relative: &str) -> PrivateKey {
    PrivateKey::from_text(&read(relative)).unwrap()
}

fn public_key(relative: &str) -> PublicKey {
    PublicKey::from_text(&read(relative)).unwrap()
}

fn text<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field]
        .as_str()
        .unwrap_or_else(|| panic!("{}: {field} is not a string", case["name"]))
}

/// Certificate file → (SN, public key of the certificate), from `cert.json` (`sn_app_cert`,
/// `sn_alipay_cert`, `sn_alipay_cert_rotated`) and `certs/certs.json` (which key each holds).
fn certificate(file: &str) -> (&'static str, PublicKey) {
    match file {
        "certs/appCertPublicKey_2021004100000001.crt" => (
            "7db319eb17de042c3cc035e87122e887",
            public_key("keys/pki_app_public.pem"),
        ),
        "certs/alipayCertPublicKey_RSA2.crt" => (
            "db26c67ab0e79e89873ed3858de64122",
            public_key("keys/pki_alipay_public.pem"),
        ),
        "certs/alipayCertPublicKey_RSA2_rotated.crt" => (
            "0808ec596080c5cf66bf4339a6986a94",
            public_key("keys/pki_alipay_rotated_public.pem"),
        ),
        other => panic!("no certificate table entry for {other}"),
    }
}

fn parts(case: &Value) -> RequestParts<'_> {
    RequestParts {
        method: text(case, "http_method"),
        request_target: text(case, "request_target"),
        body: text(case, "body"),
        app_auth_token: case["headers"]["alipay-app-auth-token"].as_str(),
    }
}

#[test]
fn valid_requests_sign_byte_for_byte() {
    let mut seen = 0;
    for case in cases("request")
        .iter()
        .filter(|case| case["expect"] == "valid")
    {
        let name = text(case, "name");
        let key = private_key(text(case, "app_private_key_file"));
        let params = AuthParams {
            app_id: text(case, "app_id"),
            app_cert_sn: case["app_cert_sn"].as_str(),
            nonce: text(case, "nonce"),
            timestamp_ms: text(case, "timestamp"),
        };
        let signed = sign::sign_request(&key, &params, &parts(case)).unwrap();
        assert_eq!(signed.auth_string, text(case, "auth_string"), "{name}");
        assert_eq!(
            signed.string_to_sign,
            text(case, "string_to_sign"),
            "{name}"
        );
        assert_eq!(signed.sign, text(case, "sign"), "{name}");
        assert_eq!(signed.authorization, text(case, "authorization"), "{name}");
        assert_eq!(
            signed.authorization,
            text(&case["headers"], "authorization"),
            "{name}"
        );
        seen += 1;
    }
    assert_eq!(seen, 7);
}

#[test]
fn get_request_targets_are_built_as_the_sdk_sends_them() {
    for case in cases("request").iter().filter(|case| {
        case["expect"] == "valid"
            && case["http_method"] == "GET"
            && case["input"]["query"].is_object()
    }) {
        // Vectors hold the query as an object; serde_json keeps keys sorted, which is the order
        // the SDK sent in these cases (checked by the equality itself).
        let query = case["input"]["query"].as_object().unwrap();
        let target = sign::request_target(
            text(&case["input"], "path"),
            query.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())),
        );
        assert_eq!(target, text(case, "request_target"), "{}", case["name"]);
    }
}

/// Alipay's side: the verdict for a received request.
fn verify_request(case: &Value) -> Result<(), String> {
    let (key, expected_sn) = match case["app_cert_file"].as_str() {
        Some(file) => {
            let (sn, key) = certificate(file);
            (key, Some(sn))
        }
        None => (public_key(text(case, "app_public_key_file")), None),
    };
    let header = sign::parse_authorization(text(&case["headers"], "authorization"))
        .map_err(|e| e.to_string())?;
    assert_eq!(
        header.app_id,
        text(case, "app_id"),
        "{}: app id read from the header",
        case["name"]
    );
    sign::verify_request(&key, &header, &parts(case), expected_sn).map_err(|e| e.to_string())
}

#[test]
fn every_request_verdict_matches() {
    let all = cases("request");
    assert_eq!(all.len(), 21);
    for case in &all {
        let name = text(case, "name");
        let verdict = verify_request(case);
        match text(case, "expect") {
            "valid" => assert_eq!(verdict, Ok(()), "{name}"),
            "invalid" => assert!(verdict.is_err(), "{name} was accepted"),
            other => panic!("{name}: unknown expect {other}"),
        }
    }
}

#[test]
fn request_refusals_name_their_step() {
    let by_name = |name: &str| {
        cases("request")
            .into_iter()
            .find(|case| case["name"] == name)
            .unwrap()
    };
    let missing = by_name("v3_req_sign_field_missing");
    assert_eq!(
        sign::parse_authorization(text(&missing["headers"], "authorization")),
        Err(AuthorizationError::NoSignature)
    );
    let resigned = by_name("v3_req_cert_wrong_app_cert_sn_resigned");
    let (sn, key) = certificate(text(&resigned, "app_cert_file"));
    let header = sign::parse_authorization(text(&resigned["headers"], "authorization")).unwrap();
    assert!(matches!(
        sign::verify_request(&key, &header, &parts(&resigned), Some(sn)),
        Err(RequestVerifyError::AppCertSn { .. })
    ));
}

/// Our side: the verdict for a received response, with the keys the case configures.
fn response_keys(case: &Value) -> Box<dyn AlipayKeys> {
    match case["verifier_alipay_cert_files"].as_array() {
        Some(files) => Box::new(KeysBySn(
            files
                .iter()
                .map(|file| {
                    let (sn, key) = certificate(file.as_str().unwrap());
                    (sn.to_owned(), key)
                })
                .collect::<HashMap<_, _>>(),
        )),
        None => Box::new(public_key(text(case, "alipay_public_key_file"))),
    }
}

fn verify_response(case: &Value) -> Result<(), ResponseVerifyError> {
    let headers = &case["headers"];
    sign::verify_response(
        response_keys(case).as_ref(),
        &ResponseHeaders {
            timestamp: headers["alipay-timestamp"].as_str(),
            nonce: headers["alipay-nonce"].as_str(),
            signature: headers["alipay-signature"].as_str(),
            alipay_sn: headers["alipay-sn"].as_str(),
        },
        text(case, "body"),
    )
}

#[test]
fn every_response_verdict_matches() {
    let all = cases("response");
    assert_eq!(all.len(), 13);
    for case in &all {
        let name = text(case, "name");
        let verdict = verify_response(case);
        match text(case, "expect") {
            "valid" => {
                assert_eq!(verdict, Ok(()), "{name}");
                // The sandbox's signing path reproduces Alipay's signature byte for byte.
                let headers = &case["headers"];
                let content = sign::response_content(
                    text(headers, "alipay-timestamp"),
                    text(headers, "alipay-nonce"),
                    text(case, "body"),
                );
                assert_eq!(content, text(case, "string_to_verify"), "{name}");
                let signature = sign::sign_response(
                    &private_key(text(case, "signed_with_key_file")),
                    text(headers, "alipay-timestamp"),
                    text(headers, "alipay-nonce"),
                    text(case, "body"),
                )
                .unwrap();
                assert_eq!(signature, text(headers, "alipay-signature"), "{name}");
            }
            "invalid" => assert!(verdict.is_err(), "{name} was accepted"),
            other => panic!("{name}: unknown expect {other}"),
        }
    }
}

#[test]
fn response_refusals_name_their_step() {
    let verdict = |name: &str| {
        let case = cases("response")
            .into_iter()
            .find(|case| case["name"] == name)
            .unwrap();
        verify_response(&case)
    };
    assert_eq!(
        verdict("v3_resp_missing_signature"),
        Err(ResponseVerifyError::MissingHeader("alipay-signature"))
    );
    assert!(matches!(
        verdict("v3_resp_cert_unknown_sn"),
        Err(ResponseVerifyError::UnknownSn(Some(_)))
    ));
    assert!(matches!(
        verdict("v3_resp_cert_rotated_unknown"),
        Err(ResponseVerifyError::UnknownSn(Some(_)))
    ));
    assert!(matches!(
        verdict("v3_resp_cert_wrong_sn"),
        Err(ResponseVerifyError::Signature(_))
    ));
    assert!(matches!(
        verdict("v3_resp_body_reserialized"),
        Err(ResponseVerifyError::Signature(_))
    ));
}
