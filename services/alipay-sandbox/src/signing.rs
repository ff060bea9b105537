//! Everything the sandbox signs, as pure functions of their inputs, so that the vectors can feed
//! them fixed values (key, clock, ids) and compare the output byte for byte.
//!
//! - [`Node`]: a response node in Alipay's layout — `code`, `msg`, `sub_code`, `sub_msg` first,
//!   then the business fields in key order, compact, raw UTF-8, `/` unescaped — and
//!   [`AlipaySigner::response_body`], which signs the exact node text it emits.
//! - [`TradeNotice`]: an asynchronous notification's fields in the order Alipay sends them;
//!   [`PayReturn`]: the fields of the return redirect. Both are signed under the notification
//!   rule (every field except `sign` and `sign_type`) by [`AlipaySigner::sign_form`].

use std::fmt::Write as _;

use alipay::AesKey;
use alipay::form;
use alipay::keys::{PrivateKey, PublicKey};
use alipay::money::Money;
use alipay::notify::TradeStatus;
use alipay::sign::{self, SignError, SignType};
use serde_json::Value;

/// Signs with the sandbox's ("Alipay's") private key.
#[derive(Debug, Clone)]
pub struct AlipaySigner {
    key: PrivateKey,
}

impl AlipaySigner {
    pub fn new(key: PrivateKey) -> Self {
        AlipaySigner { key }
    }

    /// The public half merchants configure as "Alipay's public key".
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Signs form fields under the notification rule and appends `sign` last. The pairs keep
    /// their order; `sign_type` should be among them (it is sent, never signed).
    pub fn sign_form(
        &self,
        pairs: Vec<(String, String)>,
        sign_type: SignType,
    ) -> Result<SignedForm, SignError> {
        let content =
            sign::notification_content(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let signature = sign::sign(&self.key, sign_type, &content)?;
        let mut pairs = pairs;
        pairs.push(("sign".to_owned(), signature));
        Ok(SignedForm {
            pairs,
            string_to_sign: content,
        })
    }

    /// `{"<node_key>":<node>,"sign":"<signature over node>"}`.
    pub fn response_body(
        &self,
        node_key: &str,
        node: &str,
        sign_type: SignType,
    ) -> Result<String, SignError> {
        self.response_body_with(node_key, node, sign_type, None, None)
    }

    /// The same in certificate mode (`"alipay_cert_sn"` between the node and `sign`, unsigned)
    /// and/or encrypted (the node becomes a JSON string of its base64 ciphertext, and the
    /// signature covers that string's text, quotes included).
    pub fn response_body_with(
        &self,
        node_key: &str,
        node: &str,
        sign_type: SignType,
        alipay_cert_sn: Option<&str>,
        encrypt: Option<&AesKey>,
    ) -> Result<String, SignError> {
        let sealed;
        let node = match encrypt {
            Some(key) => {
                sealed = json_string(&key.encrypt(node).map_err(|_| SignError)?);
                sealed.as_str()
            }
            None => node,
        };
        let signature = sign::sign(&self.key, sign_type, node)?;
        let cert_sn = alipay_cert_sn
            .map(|sn| format!(",\"alipay_cert_sn\":{}", json_string(sn)))
            .unwrap_or_default();
        Ok(format!(
            "{{{}:{node}{cert_sn},\"sign\":{}}}",
            json_string(node_key),
            json_string(&signature)
        ))
    }

    /// The signature alone, for comparisons with vectors.
    pub fn sign_text(&self, content: &str, sign_type: SignType) -> Result<String, SignError> {
        sign::sign(&self.key, sign_type, content)
    }
}

/// `{"<node_key>":<node>}`: what Alipay sends for gateway errors on requests it did not
/// authenticate.
pub fn unsigned_body(node_key: &str, node: &str) -> String {
    format!("{{{}:{node}}}", json_string(node_key))
}

/// Signed form fields in sending order, `sign` last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedForm {
    pairs: Vec<(String, String)>,
    string_to_sign: String,
}

impl SignedForm {
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    pub fn sign(&self) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == "sign")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// `application/x-www-form-urlencoded` in the pairs' order, values `quote_plus`ed (what
    /// Alipay's bodies and redirects look like).
    pub fn encoded(&self) -> String {
        form::encode(self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Replaces one field's value after signing (fault injection: what a mangling proxy does).
    pub fn replace(&mut self, name: &str, value: String) {
        if let Some(pair) = self.pairs.iter_mut().find(|(k, _)| k == name) {
            pair.1 = value;
        }
    }
}

/// A response node: status fields first, then business fields in key order.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    code: String,
    msg: String,
    sub_code: Option<String>,
    sub_msg: Option<String>,
    fields: Vec<(String, Value)>,
}

impl Node {
    /// `code` 10000, `msg` Success.
    pub fn success() -> Self {
        Self::status("10000", "Success", None, None)
    }

    /// Any status, e.g. `40004` / `Business Failed` / `ACQ.TRADE_NOT_EXIST` / `交易不存在`.
    pub fn status(code: &str, msg: &str, sub_code: Option<&str>, sub_msg: Option<&str>) -> Self {
        Node {
            code: code.to_owned(),
            msg: msg.to_owned(),
            sub_code: sub_code.map(str::to_owned),
            sub_msg: sub_msg.map(str::to_owned),
            fields: Vec::new(),
        }
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn sub_code(&self) -> Option<&str> {
        self.sub_code.as_deref()
    }

    /// Adds a business field (a later value for the same key replaces the earlier one).
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.retain(|(k, _)| k != key);
        self.fields.push((key.to_owned(), value.into()));
        self
    }

    /// Adds a field only when there is a value.
    pub fn field_opt(self, key: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(value) => self.field(key, value),
            None => self,
        }
    }

    /// The exact node text.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        let mut member = |out: &mut String, key: &str, value: &Value| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&json_string(key));
            out.push(':');
            write_value(out, value);
        };
        member(&mut out, "code", &Value::from(self.code.as_str()));
        member(&mut out, "msg", &Value::from(self.msg.as_str()));
        if let Some(sub_code) = &self.sub_code {
            member(&mut out, "sub_code", &Value::from(sub_code.as_str()));
        }
        if let Some(sub_msg) = &self.sub_msg {
            member(&mut out, "sub_msg", &Value::from(sub_msg.as_str()));
        }
        let mut fields: Vec<&(String, Value)> = self.fields.iter().collect();
        fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (key, value) in fields {
            member(&mut out, key, value);
        }
        out.push('}');
        out
    }
}

/// A JSON string literal: serde_json escapes `"`, `\` and control characters and leaves
/// non-ASCII and `/` as they are, which is what Alipay's nodes look like.
fn json_string(text: &str) -> String {
    Value::from(text).to_string()
}

/// Compact JSON with object keys sorted explicitly, so the output does not depend on whether
/// some crate in the build turned on serde_json's `preserve_order`.
fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(key));
                out.push(':');
                write_value(out, value);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// `fund_bill_list` as notifications carry it (camelCase `fundChannel`; the query API's node
/// uses `fund_channel` instead).
pub fn notify_fund_bill_list(amount: Money) -> String {
    format!("[{{\"amount\":\"{amount}\",\"fundChannel\":\"ALIPAYACCOUNT\"}}]")
}

/// The refund part of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFields {
    /// The refund's `out_request_no`.
    pub out_biz_no: String,
    /// Cumulative amount refunded on the trade.
    pub refund_fee: Money,
    /// `yyyy-MM-dd HH:mm:ss.SSS`.
    pub gmt_refund: String,
}

/// Every field of one asynchronous notification except `notify_time` (set per attempt) and
/// `sign`. Dates are already formatted, so vectors can be replayed exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeNotice {
    pub notify_id: String,
    pub app_id: String,
    pub auth_app_id: String,
    pub charset: String,
    pub version: String,
    pub sign_type: SignType,
    pub trade_no: String,
    pub out_trade_no: String,
    pub trade_status: TradeStatus,
    pub subject: String,
    pub body: Option<String>,
    pub buyer_id: Option<String>,
    pub buyer_logon_id: Option<String>,
    pub seller_id: String,
    pub seller_email: Option<String>,
    pub total_amount: Money,
    /// The paid amounts: absent until the buyer paid (Alipay leaves them out of
    /// `WAIT_BUYER_PAY` and unpaid `TRADE_CLOSED` notifications).
    pub receipt_amount: Option<Money>,
    pub invoice_amount: Option<Money>,
    pub buyer_pay_amount: Option<Money>,
    pub point_amount: Option<Money>,
    pub gmt_create: String,
    pub gmt_payment: Option<String>,
    pub gmt_close: Option<String>,
    pub fund_bill_list: Option<String>,
    pub passback_params: Option<String>,
    pub refund: Option<RefundFields>,
}

impl TradeNotice {
    /// The fields in the order Alipay's notifications show them (the vectors' order), absent and
    /// empty values left out.
    pub fn pairs(&self, notify_time: &str) -> Vec<(String, String)> {
        let amount = |money: Option<Money>| money.map(|m| m.to_string());
        let mut pairs: Vec<(&str, Option<String>)> = vec![
            ("gmt_create", Some(self.gmt_create.clone())),
            ("charset", Some(self.charset.clone())),
            ("seller_email", self.seller_email.clone()),
            ("subject", Some(self.subject.clone())),
            ("buyer_id", self.buyer_id.clone()),
            ("invoice_amount", amount(self.invoice_amount)),
            ("notify_id", Some(self.notify_id.clone())),
            ("fund_bill_list", self.fund_bill_list.clone()),
            ("notify_type", Some("trade_status_sync".to_owned())),
            ("trade_status", Some(self.trade_status.as_str().to_owned())),
            ("receipt_amount", amount(self.receipt_amount)),
            ("buyer_pay_amount", amount(self.buyer_pay_amount)),
            ("app_id", Some(self.app_id.clone())),
            ("sign_type", Some(self.sign_type.as_str().to_owned())),
            ("seller_id", Some(self.seller_id.clone())),
            ("gmt_payment", self.gmt_payment.clone()),
            ("notify_time", Some(notify_time.to_owned())),
            ("version", Some(self.version.clone())),
            ("out_trade_no", Some(self.out_trade_no.clone())),
            ("total_amount", Some(self.total_amount.to_string())),
            ("trade_no", Some(self.trade_no.clone())),
            ("auth_app_id", Some(self.auth_app_id.clone())),
            ("buyer_logon_id", self.buyer_logon_id.clone()),
            ("gmt_close", self.gmt_close.clone()),
            ("point_amount", amount(self.point_amount)),
            ("body", self.body.clone()),
            ("passback_params", self.passback_params.clone()),
        ];
        if let Some(refund) = &self.refund {
            pairs.push(("refund_fee", Some(refund.refund_fee.to_string())));
            pairs.push(("gmt_refund", Some(refund.gmt_refund.clone())));
            pairs.push(("out_biz_no", Some(refund.out_biz_no.clone())));
        }
        pairs
            .into_iter()
            .filter_map(|(key, value)| value.filter(|v| !v.is_empty()).map(|v| (key.to_owned(), v)))
            .collect()
    }
}

/// The parameters of the browser's redirect to `return_url` after paying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayReturn {
    pub charset: String,
    pub out_trade_no: String,
    /// `alipay.trade.page.pay.return` or `alipay.trade.wap.pay.return`.
    pub method: String,
    pub total_amount: Money,
    pub trade_no: String,
    pub auth_app_id: String,
    pub version: String,
    pub app_id: String,
    pub sign_type: SignType,
    pub seller_id: String,
    /// Alipay's time of the redirect, `yyyy-MM-dd HH:mm:ss`.
    pub timestamp: String,
}

impl PayReturn {
    /// The fields in the order Alipay's redirects show them (the vectors' order).
    pub fn pairs(&self) -> Vec<(String, String)> {
        [
            ("charset", self.charset.clone()),
            ("out_trade_no", self.out_trade_no.clone()),
            ("method", self.method.clone()),
            ("total_amount", self.total_amount.to_string()),
            ("trade_no", self.trade_no.clone()),
            ("auth_app_id", self.auth_app_id.clone()),
            ("version", self.version.clone()),
            ("app_id", self.app_id.clone()),
            ("sign_type", self.sign_type.as_str().to_owned()),
            ("seller_id", self.seller_id.clone()),
            ("timestamp", self.timestamp.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// Appends a query to a URL that may already have one.
pub fn append_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_puts_status_first_then_sorted_fields() {
        let node = Node::status(
            "40004",
            "Business Failed",
            Some("ACQ.TRADE_NOT_EXIST"),
            Some("交易不存在"),
        )
        .field("out_trade_no", "a/b")
        .field("buyer_pay_amount", "0.00")
        .field(
            "fund_bill_list",
            serde_json::json!([{"fund_channel": "X", "amount": "1.00"}]),
        );
        assert_eq!(
            node.to_json(),
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在","buyer_pay_amount":"0.00","fund_bill_list":[{"amount":"1.00","fund_channel":"X"}],"out_trade_no":"a/b"}"#
        );
    }

    #[test]
    fn json_strings_escape_only_what_json_requires() {
        assert_eq!(json_string("测\"\\/}{"), r#""测\"\\/}{""#);
    }

    #[test]
    fn append_query_keeps_an_existing_query() {
        assert_eq!(append_query("http://a/b", "x=1"), "http://a/b?x=1");
        assert_eq!(append_query("http://a/b?y=2", "x=1"), "http://a/b?y=2&x=1");
    }
}
