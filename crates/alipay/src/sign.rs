//! The string-to-sign rules and the signature primitive.
//!
//! Two rules, never mixed:
//! - **requests** (what the merchant signs): every parameter except `sign`, **`sign_type`
//!   included**;
//! - **notifications and returns** (what Alipay signs): every parameter except `sign` **and**
//!   `sign_type`.
//!
//! Both then leave out empty values, sort by key in byte order, and join `key=value` with `&`
//! over the raw (decoded) values. The message is the UTF-8 bytes of that string; the signature is
//! PKCS#1 v1.5 (SHA-256 for `RSA2`, SHA-1 for `RSA`) in standard base64.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub use crate::crypto::SignError;
use crate::keys::{PrivateKey, PublicKey};

/// Alipay's `sign_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignType {
    /// SHA256withRSA, the one every new app uses.
    #[default]
    Rsa2,
    /// SHA1withRSA, legacy.
    Rsa,
}

impl SignType {
    pub fn as_str(&self) -> &'static str {
        match self {
            SignType::Rsa2 => "RSA2",
            SignType::Rsa => "RSA",
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `sign_type`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported sign_type {0:?}: use RSA2 (recommended) or RSA")]
pub struct UnsupportedSignType(pub String);

impl FromStr for SignType {
    type Err = UnsupportedSignType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "RSA2" => Ok(SignType::Rsa2),
            "RSA" => Ok(SignType::Rsa),
            other => Err(UnsupportedSignType(other.to_owned())),
        }
    }
}

/// Builds a string-to-sign from any `(key, value)` pairs: drops the `excluded` keys and empty
/// values, sorts by key bytes, joins raw `key=value` with `&`.
fn sign_content<'a, I>(pairs: I, excluded: &[&str]) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut kept: Vec<(&str, &str)> = pairs
        .into_iter()
        .filter(|(key, value)| !value.is_empty() && !excluded.contains(key))
        .collect();
    kept.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::with_capacity(kept.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (index, (key, value)) in kept.into_iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The request rule: everything but `sign`; `sign_type` stays.
pub fn request_content<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    sign_content(params, &["sign"])
}

/// The notification and return rule: everything but `sign` and `sign_type`.
pub fn notification_content<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    sign_content(params, &["sign", "sign_type"])
}

/// Signs `content` and returns standard base64.
pub fn sign(key: &PrivateKey, sign_type: SignType, content: &str) -> Result<String, SignError> {
    let signature = key.rsa().sign(sign_type, content.as_bytes())?;
    Ok(STANDARD.encode(signature))
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is empty")]
    Missing,
    #[error(
        "the signature is not strict base64 (a '+' sent without percent-encoding turns into a space)"
    )]
    NotBase64,
    #[error("the signature does not match the content (wrong key, or the content was changed)")]
    Mismatch,
}

/// Verifies a base64 signature over `content`.
pub fn verify(
    key: &PublicKey,
    sign_type: SignType,
    content: &[u8],
    signature_base64: &str,
) -> Result<(), SignatureError> {
    if signature_base64.is_empty() {
        return Err(SignatureError::Missing);
    }
    let signature = STANDARD
        .decode(signature_base64.as_bytes())
        .map_err(|_| SignatureError::NotBase64)?;
    if key.rsa().verify(sign_type, content, &signature) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_rule_keeps_sign_type_and_skips_empty() {
        let params = [
            ("b", "2"),
            ("sign", "x"),
            ("sign_type", "RSA2"),
            ("a", "1"),
            ("app_auth_token", ""),
        ];
        assert_eq!(request_content(params), "a=1&b=2&sign_type=RSA2");
        assert_eq!(notification_content(params), "a=1&b=2");
    }

    #[test]
    fn sorts_by_bytes_not_by_locale() {
        assert_eq!(
            request_content([("b", "1"), ("B", "2"), ("a_b", "3"), ("ab", "4")]),
            "B=2&a_b=3&ab=4&b=1"
        );
    }

    #[test]
    fn sign_then_verify_and_reject_changes() {
        let key = PrivateKey::generate().unwrap();
        for sign_type in [SignType::Rsa2, SignType::Rsa] {
            let signature = sign(&key, sign_type, "a=1&b=测试").unwrap();
            assert_eq!(signature.len(), 344);
            verify(
                &key.public_key(),
                sign_type,
                "a=1&b=测试".as_bytes(),
                &signature,
            )
            .unwrap();
            assert_eq!(
                verify(&key.public_key(), sign_type, b"a=1&b=x", &signature),
                Err(SignatureError::Mismatch)
            );
        }
        let rsa2 = sign(&key, SignType::Rsa2, "a=1").unwrap();
        assert_eq!(
            verify(&key.public_key(), SignType::Rsa, b"a=1", &rsa2),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &key.public_key(),
                SignType::Rsa2,
                b"a=1",
                &rsa2.replace('+', " ")
            ),
            if rsa2.contains('+') {
                Err(SignatureError::NotBase64)
            } else {
                Ok(())
            }
        );
    }
}
