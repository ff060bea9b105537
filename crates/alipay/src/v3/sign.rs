//! The OpenAPI v3 signature rules as pure functions (no clock, no randomness, no I/O), so the
//! Node SDK's vectors can check them byte for byte.
//!
//! Requests (the merchant signs):
//! `auth_string = app_id=…[,app_cert_sn=…],nonce=…,timestamp=<ms>` and the string to sign is
//! `auth_string\nMETHOD\nrequest_target\nbody\n[app_auth_token\n]`, sent as
//! `Authorization: ALIPAY-SHA256withRSA <auth_string>,sign=<base64>`.
//!
//! Responses (Alipay signs): `alipay-timestamp\nalipay-nonce\nbody\n` over the exact received
//! text, in `alipay-signature`; in certificate mode `alipay-sn` names the key.
//!
//! Everything is SHA256withRSA: v3 has no SHA-1 variant.

use std::fmt::Write as _;

use crate::keys::{PrivateKey, PublicKey};
use crate::sign::{self, SignError, SignType, SignatureError};

/// The only scheme v3 defines.
pub const SCHEME: &str = "ALIPAY-SHA256withRSA";

/// Who signs one request, and when: the fields of the auth string.
///
/// `app_cert_sn` is data, not computed here: in certificate mode the caller passes the SN of its
/// app certificate (the certificate store computes it once), in public-key mode `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthParams<'a> {
    pub app_id: &'a str,
    pub app_cert_sn: Option<&'a str>,
    /// Unique per request; the SDKs send a UUID with dashes.
    pub nonce: &'a str,
    /// Milliseconds since the Unix epoch, as text (13 digits today).
    pub timestamp_ms: &'a str,
}

impl AuthParams<'_> {
    /// `app_id=…[,app_cert_sn=…],nonce=…,timestamp=…`, in this order (the SDK's).
    pub fn auth_string(&self) -> String {
        let mut out = String::with_capacity(96);
        out.push_str("app_id=");
        out.push_str(self.app_id);
        if let Some(sn) = self.app_cert_sn {
            out.push_str(",app_cert_sn=");
            out.push_str(sn);
        }
        out.push_str(",nonce=");
        out.push_str(self.nonce);
        out.push_str(",timestamp=");
        out.push_str(self.timestamp_ms);
        out
    }
}

/// The parts of an HTTP request that the signature covers, exactly as sent (or received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestParts<'a> {
    /// `GET`, `POST`, … in capitals.
    pub method: &'a str,
    /// Path and query exactly as on the wire (see [`request_target`]).
    pub request_target: &'a str,
    /// The exact body text; empty for GET and for a POST without body.
    pub body: &'a str,
    /// The `alipay-app-auth-token` header, when one is sent (a service provider acting for a
    /// merchant).
    pub app_auth_token: Option<&'a str>,
}

/// The request string to sign for `auth_string`.
pub fn request_content(auth_string: &str, parts: &RequestParts<'_>) -> String {
    let mut out = String::with_capacity(
        auth_string.len() + parts.method.len() + parts.request_target.len() + parts.body.len() + 80,
    );
    for piece in [auth_string, parts.method, parts.request_target, parts.body] {
        out.push_str(piece);
        out.push('\n');
    }
    if let Some(token) = parts.app_auth_token {
        out.push_str(token);
        out.push('\n');
    }
    out
}

/// A signed request: what was signed and the header that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAuthorization {
    pub auth_string: String,
    pub string_to_sign: String,
    pub sign: String,
    /// The whole `Authorization` header value.
    pub authorization: String,
}

/// Signs one request with the app key.
pub fn sign_request(
    key: &PrivateKey,
    params: &AuthParams<'_>,
    parts: &RequestParts<'_>,
) -> Result<SignedAuthorization, SignError> {
    let auth_string = params.auth_string();
    let string_to_sign = request_content(&auth_string, parts);
    let sign = sign::sign(key, SignType::Rsa2, &string_to_sign)?;
    let authorization = format!("{SCHEME} {auth_string},sign={sign}");
    Ok(SignedAuthorization {
        auth_string,
        string_to_sign,
        sign,
        authorization,
    })
}

/// Why an `Authorization` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    #[error("the Authorization header is missing")]
    Missing,
    #[error("the Authorization scheme is not {SCHEME}")]
    Scheme,
    #[error("the Authorization header carries no sign=")]
    NoSignature,
    #[error("the auth string has no {0}")]
    MissingField(&'static str),
    #[error("the auth string names {0} twice")]
    DuplicateField(String),
    #[error("the auth string is malformed near {0:?}")]
    Malformed(String),
}

/// A parsed `Authorization` header. `auth_string` is the text as received: it is verified as
/// text, never rebuilt from the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization<'a> {
    pub auth_string: &'a str,
    pub sign: &'a str,
    pub app_id: &'a str,
    pub app_cert_sn: Option<&'a str>,
    pub nonce: &'a str,
    pub timestamp_ms: &'a str,
}

/// Reads `ALIPAY-SHA256withRSA <auth_string>,sign=<base64>`: the signature is what follows the
/// **last** `,sign=` (base64 never contains a comma), the rest is the auth string.
pub fn parse_authorization(header: &str) -> Result<ParsedAuthorization<'_>, AuthorizationError> {
    let rest = header
        .strip_prefix(SCHEME)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or(AuthorizationError::Scheme)?;
    let (auth_string, sign) = rest
        .rsplit_once(",sign=")
        .ok_or(AuthorizationError::NoSignature)?;
    let (mut app_id, mut app_cert_sn, mut nonce, mut timestamp) = (None, None, None, None);
    for field in auth_string.split(',') {
        let (name, value) = field
            .split_once('=')
            .ok_or_else(|| AuthorizationError::Malformed(field.to_owned()))?;
        let slot = match name {
            "app_id" => &mut app_id,
            "app_cert_sn" => &mut app_cert_sn,
            "nonce" => &mut nonce,
            "timestamp" => &mut timestamp,
            // Fields the SDKs may add later are signed like the rest; they change nothing here.
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(AuthorizationError::DuplicateField(name.to_owned()));
        }
    }
    Ok(ParsedAuthorization {
        auth_string,
        sign,
        app_id: app_id.ok_or(AuthorizationError::MissingField("app_id"))?,
        app_cert_sn,
        nonce: nonce.ok_or(AuthorizationError::MissingField("nonce"))?,
        timestamp_ms: timestamp.ok_or(AuthorizationError::MissingField("timestamp"))?,
    })
}

/// Why a request's signature was refused (Alipay's side; the sandbox uses it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestVerifyError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("app_cert_sn {got:?} is not the SN of the app certificate ({expected})")]
    AppCertSn {
        expected: String,
        got: Option<String>,
    },
}

/// Verifies a received request with the app public key (certificate mode: the key of the app
/// certificate, whose SN `expected_app_cert_sn` must be the one the header names).
pub fn verify_request(
    app_public_key: &PublicKey,
    header: &ParsedAuthorization<'_>,
    parts: &RequestParts<'_>,
    expected_app_cert_sn: Option<&str>,
) -> Result<(), RequestVerifyError> {
    let content = request_content(header.auth_string, parts);
    sign::verify(
        app_public_key,
        SignType::Rsa2,
        content.as_bytes(),
        header.sign,
    )?;
    if let Some(expected) = expected_app_cert_sn
        && header.app_cert_sn != Some(expected)
    {
        return Err(RequestVerifyError::AppCertSn {
            expected: expected.to_owned(),
            got: header.app_cert_sn.map(str::to_owned),
        });
    }
    Ok(())
}

/// The response string to verify: `timestamp\nnonce\nbody\n`.
pub fn response_content(timestamp: &str, nonce: &str, body: &str) -> String {
    let mut out = String::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    for piece in [timestamp, nonce, body] {
        out.push_str(piece);
        out.push('\n');
    }
    out
}

/// Signs a response body (what Alipay, here the sandbox, does).
pub fn sign_response(
    key: &PrivateKey,
    timestamp: &str,
    nonce: &str,
    body: &str,
) -> Result<String, SignError> {
    sign::sign(
        key,
        SignType::Rsa2,
        &response_content(timestamp, nonce, body),
    )
}

/// The response headers that verification reads, as received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseHeaders<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    /// Certificate mode: the SN of the Alipay certificate whose key signed.
    pub alipay_sn: Option<&'a str>,
}

/// "The public key for this `alipay-sn`": public-key mode answers its one key whatever the SN;
/// certificate mode answers the key of a trusted (already chain-checked) certificate with that
/// SN, or `None`. The certificate store of certificate mode implements this.
pub trait AlipayKeys: Send + Sync + std::fmt::Debug {
    fn key_for(&self, alipay_sn: Option<&str>) -> Option<PublicKey>;
}

/// Either mode, as configured: the one public key, or in certificate mode the trusted
/// certificate named by `alipay-sn`. An answer without `alipay-sn` is checked with the only
/// trusted certificate, and is unverifiable when several are trusted (the safe side: no guess
/// between keys). A certificate not trusted yet is unverifiable too: v3 answers do not yet
/// trigger the rotation download that v2 answers do.
impl AlipayKeys for crate::verifier::AlipayVerifier {
    fn key_for(&self, alipay_sn: Option<&str>) -> Option<PublicKey> {
        match self.candidates(alipay_sn.filter(|sn| !sn.is_empty())) {
            Ok(crate::verifier::Candidates::One(key)) => Some(key),
            Ok(crate::verifier::Candidates::Any(keys)) if keys.len() == 1 => {
                keys.into_iter().next()
            }
            Ok(crate::verifier::Candidates::Any(_)) | Err(_) => None,
        }
    }
}

/// Public-key mode: Alipay's one public key. `alipay-sn` is ignored since no certificate is
/// configured to compare it with; the signature decides.
impl AlipayKeys for PublicKey {
    fn key_for(&self, _alipay_sn: Option<&str>) -> Option<PublicKey> {
        Some(self.clone())
    }
}

/// Certificate mode with the keys given directly, by SN (tests, or a caller that checked the
/// certificates itself). A response without `alipay-sn` is refused: with several trusted keys,
/// guessing which one was meant would be trusting the sender.
#[derive(Debug, Clone, Default)]
pub struct KeysBySn(pub std::collections::HashMap<String, PublicKey>);

impl AlipayKeys for KeysBySn {
    fn key_for(&self, alipay_sn: Option<&str>) -> Option<PublicKey> {
        self.0.get(alipay_sn?).cloned()
    }
}

/// Why a response cannot be trusted, step by step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseVerifyError {
    #[error("the response carries no {0} header")]
    MissingHeader(&'static str),
    #[error("alipay-sn {0:?} is not a trusted Alipay certificate")]
    UnknownSn(Option<String>),
    #[error("the response signature is invalid ({0})")]
    Signature(#[from] SignatureError),
}

/// Verifies a response: headers present, a key for its `alipay-sn`, the signature over the
/// exact body text. The first failing step is the error.
pub fn verify_response(
    keys: &dyn AlipayKeys,
    headers: &ResponseHeaders<'_>,
    body: &str,
) -> Result<(), ResponseVerifyError> {
    let signature = headers
        .signature
        .filter(|s| !s.is_empty())
        .ok_or(ResponseVerifyError::MissingHeader("alipay-signature"))?;
    let timestamp = headers
        .timestamp
        .ok_or(ResponseVerifyError::MissingHeader("alipay-timestamp"))?;
    let nonce = headers
        .nonce
        .ok_or(ResponseVerifyError::MissingHeader("alipay-nonce"))?;
    let key = keys
        .key_for(headers.alipay_sn)
        .ok_or_else(|| ResponseVerifyError::UnknownSn(headers.alipay_sn.map(str::to_owned)))?;
    let content = response_content(timestamp, nonce, body);
    sign::verify(&key, SignType::Rsa2, content.as_bytes(), signature)?;
    Ok(())
}

/// `application/x-www-form-urlencoded` as the WHATWG `URLSearchParams` writes it (what the
/// Node SDK signs): `A-Z a-z 0-9 * - . _` raw, space `+`, every other UTF-8 byte `%XX`.
pub fn encode_query<'a, I>(pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut out = String::new();
    for (index, (name, value)) in pairs.into_iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        push_component(&mut out, name);
        out.push('=');
        push_component(&mut out, value);
    }
    out
}

fn push_component(out: &mut String, text: &str) {
    for &byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{other:02X}");
            }
        }
    }
}

/// `path` plus `?query` when there are parameters: the request target that is sent and signed.
pub fn request_target<'a, I>(path: &str, query: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let query = encode_query(query);
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_search_params_encoding() {
        assert_eq!(
            encode_query([("a", "课程 订单/2025+Q2"), ("b~", "*-._!")]),
            "a=%E8%AF%BE%E7%A8%8B+%E8%AE%A2%E5%8D%95%2F2025%2BQ2&b%7E=*-._%21"
        );
        assert_eq!(request_target("/v3/x", []), "/v3/x");
    }

    #[test]
    fn the_signature_is_after_the_last_sign() {
        let parsed = parse_authorization(
            "ALIPAY-SHA256withRSA app_id=1,nonce=n,timestamp=2,sign=abc,sign=def",
        )
        .unwrap();
        assert_eq!(parsed.sign, "def");
        assert_eq!(parsed.auth_string, "app_id=1,nonce=n,timestamp=2,sign=abc");
        assert_eq!(
            parse_authorization("Bearer x"),
            Err(AuthorizationError::Scheme)
        );
        assert_eq!(
            parse_authorization("ALIPAY-SHA256withRSA app_id=1,nonce=n,timestamp=2"),
            Err(AuthorizationError::NoSignature)
        );
        assert_eq!(
            parse_authorization("ALIPAY-SHA256withRSA app_id=1,app_id=2,nonce=n,sign=x"),
            Err(AuthorizationError::DuplicateField("app_id".into()))
        );
    }
}
