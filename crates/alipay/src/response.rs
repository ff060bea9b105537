//! Synchronous gateway responses: extract the signed node exactly as received, verify, parse.
//!
//! The signature covers the raw text of `<method>_response` (or `error_response`), from its `{`
//! to the matching `}`, found by a scan that understands JSON strings and escapes. Nothing is
//! re-serialized: one changed space breaks the signature. A document in which the node key
//! occurs twice is refused, since a verifier and a parser that read different copies are how
//! forged responses get through. A verified node whose `code` is not `10000` is a genuine
//! business answer, typed as [`AlipayError`].

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::aes::{AesError, AesKey};
use crate::keys::PublicKey;
use crate::money::Money;
use crate::notify::TradeStatus;
use crate::sign::{self, SignType, SignatureError};
use crate::verifier::{AlipayVerifier, Candidates};

/// Why a response could not be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("the response is not a JSON object")]
    NotJson,
    #[error("the response has neither {node:?} nor \"error_response\"")]
    MissingNode { node: String },
    #[error("the response contains {node:?} more than once")]
    DuplicateNode { node: String },
    #[error("the response node is not a complete JSON object")]
    UnterminatedNode,
    #[error(
        "the response carries no signature (code {code:?}, sub_code {sub_code:?}); it cannot be trusted"
    )]
    Unsigned {
        code: Option<String>,
        sub_code: Option<String>,
    },
    #[error("the response signature is invalid ({reason}); signed content was {content:?}")]
    BadSignature {
        reason: SignatureError,
        content: String,
    },
    #[error("the verified response node could not be parsed: {0}")]
    Parse(String),
    #[error(
        "alipay_cert_sn {sn:?} names no trusted Alipay certificate; it must be downloaded and \
         checked against the root bundle before this response can be verified"
    )]
    UnknownCertSn { sn: String },
    #[error(
        "the Alipay certificate {sn:?} named by the response failed its checks, so the response \
         cannot be verified: {reason}"
    )]
    UntrustedCertificate { sn: String, reason: String },
    #[error(
        "the response is encrypted (encrypt_type=AES) but no AES key is configured \
         (ALIPAY_ENCRYPT_KEY)"
    )]
    EncryptedWithoutKey,
    #[error("the verified response could not be decrypted: {0}")]
    Decrypt(AesError),
}

/// A node located in a raw response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedNode<'a> {
    /// The node key that was found (`<method>_response` or `error_response`).
    pub key: &'a str,
    /// The exact text of the node's value.
    pub content: &'a str,
}

/// The node key for a method: `alipay.trade.query` → `alipay_trade_query_response`.
pub fn node_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Finds the exact raw text of the node for `method` (or of `error_response`).
pub fn extract_node<'a>(raw: &'a str, method: &str) -> Result<ExtractedNode<'a>, ResponseError> {
    let members = top_level_members(raw)?;
    let wanted = node_key(method);
    for key in [wanted.as_str(), "error_response"] {
        let mut found = members.iter().filter(|(name, _)| *name == key);
        if let Some(&(name, content)) = found.next() {
            if found.next().is_some() {
                return Err(ResponseError::DuplicateNode {
                    node: key.to_owned(),
                });
            }
            return Ok(ExtractedNode { key: name, content });
        }
    }
    Err(ResponseError::MissingNode { node: wanted })
}

/// Splits a JSON object into its top-level members, keeping each value's exact raw text. Keys
/// are compared as raw text: Alipay's keys never contain escapes, and a key that does is not ours.
fn top_level_members(raw: &str) -> Result<Vec<(&str, &str)>, ResponseError> {
    let bytes = raw.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return Err(ResponseError::NotJson);
    }
    at += 1;
    let mut members = Vec::new();
    loop {
        at = skip_whitespace(bytes, at);
        match bytes.get(at) {
            Some(b'}') => break,
            Some(b'"') => {}
            _ => return Err(ResponseError::NotJson),
        }
        let key_end = string_end(bytes, at).ok_or(ResponseError::NotJson)?;
        let key = &raw[at + 1..key_end];
        at = skip_whitespace(bytes, key_end + 1);
        if bytes.get(at) != Some(&b':') {
            return Err(ResponseError::NotJson);
        }
        at = skip_whitespace(bytes, at + 1);
        let value_end = value_end(bytes, at).ok_or(ResponseError::UnterminatedNode)?;
        members.push((key, &raw[at..value_end]));
        at = skip_whitespace(bytes, value_end);
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => break,
            _ => return Err(ResponseError::NotJson),
        }
    }
    Ok(members)
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// Index of the `"` that closes the string opening at `start`: a quote closes only when preceded
/// by an even number of backslashes.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut escaped = false;
    for (offset, &byte) in bytes.get(start + 1..)?.iter().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(start + 1 + offset),
            _ => {}
        }
    }
    None
}

/// One past the end of the JSON value starting at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start).map(|end| end + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            while let Some(&byte) = bytes.get(at) {
                match byte {
                    b'"' => at = string_end(bytes, at)?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            None
        }
        _ => {
            let mut at = start;
            while bytes
                .get(at)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                at += 1;
            }
            (at > start).then_some(at)
        }
    }
}

/// The fields every response node has.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub sub_code: Option<String>,
    #[serde(default)]
    pub sub_msg: Option<String>,
}

/// A response whose signature verified: the exact node text and its parsed status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedResponse {
    /// The node text exactly as signed and received, for audit.
    pub node: String,
    /// Whether the node was `error_response` rather than the method's own.
    pub is_error_response: bool,
    pub status: Status,
}

impl VerifiedResponse {
    /// `Ok` with the typed node when `code` is `10000`, the business error otherwise.
    pub fn into_result<T: DeserializeOwned>(self) -> Result<T, ResponseOutcome> {
        if self.status.code != "10000" {
            return Err(ResponseOutcome::Business(AlipayError::from_status(
                self.status,
            )));
        }
        serde_json::from_str(&self.node)
            .map_err(|e| ResponseOutcome::Untrusted(ResponseError::Parse(e.to_string())))
    }
}

/// What can stop a verified response from becoming a typed result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseOutcome {
    #[error(transparent)]
    Business(AlipayError),
    #[error(transparent)]
    Untrusted(ResponseError),
}

/// Verifies a raw response for `method` with Alipay's public key (public-key mode, no
/// encryption).
pub fn verify_response(
    raw: &str,
    method: &str,
    alipay_public_key: &PublicKey,
    sign_type: SignType,
) -> Result<VerifiedResponse, ResponseError> {
    verify_response_with(
        raw,
        method,
        &Candidates::One(alipay_public_key.clone()),
        sign_type,
        None,
    )
}

/// Verifies a raw response in either mode, decrypting an encrypted node after its signature
/// verified.
///
/// In certificate mode the key is the trusted certificate named by the top-level
/// `alipay_cert_sn`; an SN not trusted yet is [`ResponseError::UnknownCertSn`] (never a fallback
/// to another key), which [`crate::client::AlipayClient`] answers by fetching and checking that
/// certificate.
pub fn verify_response_in(
    raw: &str,
    method: &str,
    verifier: &AlipayVerifier,
    sign_type: SignType,
    aes: Option<&AesKey>,
) -> Result<VerifiedResponse, ResponseError> {
    let sn = top_level_string(raw, "alipay_cert_sn")?;
    let candidates = verifier
        .candidates(sn.as_deref())
        .map_err(|unknown| ResponseError::UnknownCertSn { sn: unknown.sn })?;
    verify_response_with(raw, method, &candidates, sign_type, aes)
}

/// Verifies with the given candidate keys. An encrypted node (a JSON string, `encrypt_type=AES`)
/// is verified over its raw text **with** the quotes, then decrypted with `aes`.
pub fn verify_response_with(
    raw: &str,
    method: &str,
    candidates: &Candidates,
    sign_type: SignType,
    aes: Option<&AesKey>,
) -> Result<VerifiedResponse, ResponseError> {
    let node = extract_node(raw, method)?;
    let encrypted = node.content.starts_with('"');
    // A plain node's status is read before the signature, only to say what an unsigned
    // response claimed; nothing acts on it unless the signature verifies.
    let claimed: Option<Status> = if encrypted {
        None
    } else {
        Some(serde_json::from_str(node.content).map_err(|e| ResponseError::Parse(e.to_string()))?)
    };
    let signature = top_level_sign(raw)?;
    let Some(signature) = signature.filter(|s| !s.is_empty()) else {
        return Err(ResponseError::Unsigned {
            code: claimed.as_ref().map(|s| s.code.clone()),
            sub_code: claimed.and_then(|s| s.sub_code),
        });
    };
    let mut last = SignatureError::Mismatch;
    let verified =
        candidates.any(
            |key| match verify_node(key, sign_type, node.content, &signature) {
                Ok(()) => true,
                Err(reason) => {
                    last = reason;
                    false
                }
            },
        );
    if !verified {
        return Err(ResponseError::BadSignature {
            reason: last,
            content: node.content.to_owned(),
        });
    }
    let (text, status) = if encrypted {
        let aes = aes.ok_or(ResponseError::EncryptedWithoutKey)?;
        let ciphertext: String =
            serde_json::from_str(node.content).map_err(|e| ResponseError::Parse(e.to_string()))?;
        let plain = aes.decrypt(&ciphertext).map_err(ResponseError::Decrypt)?;
        let status: Status =
            serde_json::from_str(&plain).map_err(|e| ResponseError::Parse(e.to_string()))?;
        (plain, status)
    } else {
        let status = claimed.ok_or_else(|| ResponseError::Parse("no status".into()))?;
        (node.content.to_owned(), status)
    };
    Ok(VerifiedResponse {
        node: text,
        is_error_response: node.key == "error_response",
        status,
    })
}

/// One key against the node text, with the Java SDK's single `\/` retry.
fn verify_node(
    key: &PublicKey,
    sign_type: SignType,
    content: &str,
    signature: &str,
) -> Result<(), SignatureError> {
    match sign::verify(key, sign_type, content.as_bytes(), signature) {
        Ok(()) => Ok(()),
        // The official Java SDK retries once with `\/` unescaped: some gateways sign the
        // unescaped text and escape slashes afterwards.
        Err(SignatureError::Mismatch) if content.contains("\\/") => {
            let unescaped = content.replace("\\/", "/");
            sign::verify(key, sign_type, unescaped.as_bytes(), signature)
        }
        Err(other) => Err(other),
    }
}

/// A top-level string member (such as `alipay_cert_sn`), decoded; `None` when absent.
pub fn top_level_string(raw: &str, name: &str) -> Result<Option<String>, ResponseError> {
    let members = top_level_members(raw)?;
    let mut found = members.iter().filter(|(key, _)| *key == name);
    let Some((_, value)) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(ResponseError::DuplicateNode {
            node: name.to_owned(),
        });
    }
    Ok(serde_json::from_str::<Option<String>>(value).unwrap_or(None))
}

/// The decoded top-level `sign` string, if any.
fn top_level_sign(raw: &str) -> Result<Option<String>, ResponseError> {
    let members = top_level_members(raw)?;
    let mut signs = members.iter().filter(|(key, _)| *key == "sign");
    let Some((_, value)) = signs.next() else {
        return Ok(None);
    };
    if signs.next().is_some() {
        return Err(ResponseError::DuplicateNode {
            node: "sign".into(),
        });
    }
    match serde_json::from_str::<Option<String>>(value) {
        Ok(sign) => Ok(sign),
        Err(_) => Ok(None),
    }
}

/// Alipay's `sub_code`s that callers act on; the rest are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubCode {
    /// The trade does not exist (for page pay: the buyer never opened the cashier).
    TradeNotExist,
    /// Result unknown: query, or retry with the same request numbers.
    SystemError,
    /// The gateway could not verify our signature.
    InvalidSignature,
    InvalidAppId,
    InvalidParameter,
    /// The trade's status does not allow the operation (e.g. closing a paid trade).
    TradeStatusError,
    /// Refund larger than what is left.
    RefundAmountTooLarge,
    /// A refund without `out_request_no` must be for the whole amount.
    RefundAmountNotEqualTotal,
    /// Same `out_request_no` with different parameters.
    DiscordantRepeatRequest,
    /// The trade has finished and can no longer be refunded.
    TradeHasFinished,
    /// The bill for that date does not exist (yet).
    BillNotExist,
    Other(String),
}

impl SubCode {
    /// Matches loosely, as the reference advises: the same error appears with and without the
    /// `ACQ.` prefix, and bill errors in several spellings.
    pub fn parse(text: &str) -> Self {
        let bare = text.strip_prefix("ACQ.").unwrap_or(text);
        match bare {
            "TRADE_NOT_EXIST" => SubCode::TradeNotExist,
            "SYSTEM_ERROR" | "isp.unknow-error" | "aop.unknow-error" => SubCode::SystemError,
            "isv.invalid-signature" => SubCode::InvalidSignature,
            "isv.invalid-app-id" => SubCode::InvalidAppId,
            "INVALID_PARAMETER" | "isv.invalid-parameter" => SubCode::InvalidParameter,
            "TRADE_STATUS_ERROR" | "REASON_TRADE_STATUS_INVALID" => SubCode::TradeStatusError,
            "REASON_TRADE_REFUND_FEE_ERR" => SubCode::RefundAmountTooLarge,
            "REFUND_AMT_NOT_EQUAL_TOTAL" => SubCode::RefundAmountNotEqualTotal,
            "DISCORDANT_REPEAT_REQUEST" => SubCode::DiscordantRepeatRequest,
            "TRADE_HAS_FINISHED" => SubCode::TradeHasFinished,
            "isp.bill_not_exist" | "BILL_NOT_EXIST" => SubCode::BillNotExist,
            _ => SubCode::Other(text.to_owned()),
        }
    }
}

/// A genuine (verified) business refusal from Alipay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alipay answered code {code} ({msg}), sub_code {sub_code_text:?}: {sub_msg}")]
pub struct AlipayError {
    pub code: String,
    pub msg: String,
    pub sub_code: SubCode,
    pub sub_code_text: String,
    pub sub_msg: String,
}

impl AlipayError {
    pub fn from_status(status: Status) -> Self {
        let sub_code_text = status.sub_code.unwrap_or_default();
        AlipayError {
            sub_code: SubCode::parse(&sub_code_text),
            sub_code_text,
            code: status.code,
            msg: status.msg,
            sub_msg: status.sub_msg.unwrap_or_default(),
        }
    }

    /// Whether the outcome of the call is unknown (`20000`, `ACQ.SYSTEM_ERROR`): safe to query,
    /// or to retry with the same request numbers.
    pub fn is_unknown_outcome(&self) -> bool {
        self.code == "20000" || self.sub_code == SubCode::SystemError
    }
}

/// `alipay.trade.query`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TradeQueryResult {
    pub trade_no: Option<String>,
    pub out_trade_no: Option<String>,
    pub trade_status: Option<TradeStatus>,
    pub total_amount: Option<Money>,
    pub receipt_amount: Option<Money>,
    pub buyer_pay_amount: Option<Money>,
    pub buyer_logon_id: Option<String>,
    pub buyer_user_id: Option<String>,
    pub buyer_open_id: Option<String>,
    pub send_pay_date: Option<String>,
}

/// `alipay.trade.close`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TradeCloseResult {
    pub trade_no: Option<String>,
    pub out_trade_no: Option<String>,
}

/// `alipay.trade.refund`'s business fields. `fund_change == "Y"` is the only proof of success;
/// otherwise ask `alipay.trade.fastpay.refund.query`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TradeRefundResult {
    pub trade_no: Option<String>,
    pub out_trade_no: Option<String>,
    pub buyer_logon_id: Option<String>,
    pub fund_change: Option<String>,
    /// Cumulative amount refunded on the trade.
    pub refund_fee: Option<Money>,
    pub gmt_refund_pay: Option<String>,
}

impl TradeRefundResult {
    pub fn fund_changed(&self) -> bool {
        self.fund_change.as_deref() == Some("Y")
    }
}

/// `alipay.trade.fastpay.refund.query`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RefundQueryResult {
    pub trade_no: Option<String>,
    pub out_trade_no: Option<String>,
    pub out_request_no: Option<String>,
    pub total_amount: Option<Money>,
    pub refund_amount: Option<Money>,
    /// `REFUND_SUCCESS`; absent means not received or failed.
    pub refund_status: Option<String>,
    pub gmt_refund_pay: Option<String>,
}

impl RefundQueryResult {
    pub fn succeeded(&self) -> bool {
        self.refund_status.as_deref() == Some("REFUND_SUCCESS")
    }
}

/// `alipay.data.dataservice.bill.downloadurl.query`'s business fields.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BillDownloadUrl {
    pub bill_download_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_exact_text_with_braces_and_escapes_in_strings() {
        let raw = r#"{"sign":"x","alipay_trade_query_response" : {"subject":"a}{\"b\\","n":{"m":[1,{}]}} ,"alipay_cert_sn":"c"}"#;
        let node = extract_node(raw, "alipay.trade.query").unwrap();
        assert_eq!(node.content, r#"{"subject":"a}{\"b\\","n":{"m":[1,{}]}}"#);
    }

    #[test]
    fn refuses_duplicate_or_missing_nodes() {
        let twice = r#"{"alipay_trade_query_response":{"code":"10000"},"alipay_trade_query_response":{"code":"10000"},"sign":"x"}"#;
        assert!(matches!(
            extract_node(twice, "alipay.trade.query"),
            Err(ResponseError::DuplicateNode { .. })
        ));
        assert!(matches!(
            extract_node("{}", "alipay.trade.query"),
            Err(ResponseError::MissingNode { .. })
        ));
        assert_eq!(extract_node("[]", "m"), Err(ResponseError::NotJson));
        assert_eq!(
            extract_node(r#"{"m_response":{"a":"#, "m"),
            Err(ResponseError::UnterminatedNode)
        );
    }

    #[test]
    fn falls_back_to_error_response() {
        let raw =
            r#"{"error_response":{"code":"40004","sub_code":"ACQ.TRADE_NOT_EXIST"},"sign":"x"}"#;
        assert_eq!(
            extract_node(raw, "alipay.trade.query").unwrap().key,
            "error_response"
        );
    }

    #[test]
    fn sub_codes_match_loosely() {
        assert_eq!(
            SubCode::parse("ACQ.TRADE_NOT_EXIST"),
            SubCode::TradeNotExist
        );
        assert_eq!(SubCode::parse("TRADE_NOT_EXIST"), SubCode::TradeNotExist);
        assert_eq!(
            SubCode::parse("isv.invalid-signature"),
            SubCode::InvalidSignature
        );
        assert_eq!(SubCode::parse("ACQ.X"), SubCode::Other("ACQ.X".into()));
    }
}
