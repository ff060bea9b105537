//! `biz_content`: a JSON object in a string, read field by field with Alipay's rules.
//!
//! SDKs differ in how they write it (raw UTF-8 or `\uXXXX`, any key order, amounts as strings
//! or, in tutorials, as JSON numbers); all of those are accepted.

use std::collections::HashMap;

use alipay::money::{Amount, Money};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::gateway::request::Refusal;

/// The parsed object, and each field's JSON text: amounts are read from their text, since a
/// `Value` would already have turned a number such as `0.1` into a float.
#[derive(Debug, Clone, Default)]
pub struct Biz(Map<String, Value>, HashMap<String, Box<RawValue>>);

impl Biz {
    /// Parses `biz_content`; absent or not a JSON object is `isv.invalid-parameter`.
    pub fn parse(text: Option<&str>) -> Result<Self, Refusal> {
        let text = text
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| Refusal::invalid("isv.invalid-parameter", "参数biz_content不能为空"))?;
        match (
            serde_json::from_str::<Value>(text),
            serde_json::from_str::<HashMap<String, Box<RawValue>>>(text),
        ) {
            (Ok(Value::Object(map)), Ok(literals)) => Ok(Biz(map, literals)),
            _ => Err(Refusal::invalid(
                "isv.invalid-parameter",
                "参数biz_content无效，必须是JSON对象格式的字符串",
            )),
        }
    }

    /// A string field; an empty string counts as absent, any other JSON type is refused.
    pub fn text(&self, key: &str) -> Result<Option<String>, Refusal> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Refusal::invalid_parameter(format_args!(
                "{key} 必须是字符串"
            ))),
        }
    }

    pub fn required(&self, key: &str) -> Result<String, Refusal> {
        self.text(key)?
            .ok_or_else(|| Refusal::invalid_parameter(format_args!("缺少必选参数 {key}")))
    }

    /// A string field of at most `max` characters.
    pub fn text_max(&self, key: &str, max: usize) -> Result<Option<String>, Refusal> {
        let value = self.text(key)?;
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(Refusal::invalid_parameter(format_args!(
                "{key} 长度不能超过 {max}"
            )));
        }
        Ok(value)
    }

    /// A merchant number (`out_trade_no`, `out_request_no`): 1–64 letters, digits or underscores.
    pub fn merchant_no(&self, key: &str) -> Result<Option<String>, Refusal> {
        let value = self.text(key)?;
        let valid =
            |v: &String| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if value.as_ref().is_some_and(|v| !valid(v)) {
            return Err(Refusal::invalid_parameter(format_args!(
                "{key} 只能包含字母、数字、下划线，且不超过64位"
            )));
        }
        Ok(value)
    }

    /// An amount in yuan, as a string or a JSON number, within Alipay's range.
    pub fn amount(&self, key: &str) -> Result<Option<Amount>, Refusal> {
        let money = match self.0.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(text)) => text.parse::<Money>(),
            Some(Value::Number(_)) => self
                .1
                .get(key)
                .map_or(Err(alipay::MoneyError::Empty), |literal| {
                    Money::from_json_literal(literal.get())
                }),
            Some(_) => return Err(Refusal::invalid_parameter(format_args!("{key} 必须是金额"))),
        };
        money
            .and_then(Money::to_alipay)
            .map(Some)
            .map_err(|error| Refusal::invalid_parameter(format_args!("{key} 金额无效：{error}")))
    }

    /// `out_trade_no` and/or `trade_no`; at least one.
    pub fn trade_ref(&self) -> Result<(Option<String>, Option<String>), Refusal> {
        let out_trade_no = self.merchant_no("out_trade_no")?;
        let trade_no = self.text_max("trade_no", 64)?;
        if out_trade_no.is_none() && trade_no.is_none() {
            return Err(Refusal::invalid_parameter(
                "out_trade_no 和 trade_no 不能同时为空",
            ));
        }
        Ok((out_trade_no, trade_no))
    }

    /// Whether `query_options` (a JSON array of strings) contains `option`.
    pub fn has_query_option(&self, option: &str) -> bool {
        match self.0.get("query_options") {
            Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(option)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_as_strings_or_numbers() {
        let biz = Biz::parse(Some(
            r#"{"a":"88.8","b":598.4,"c":5,"d":"0.00","e":"1.234","f":true}"#,
        ))
        .unwrap();
        assert_eq!(biz.amount("a").unwrap().unwrap().to_string(), "88.80");
        assert_eq!(biz.amount("b").unwrap().unwrap().to_string(), "598.40");
        assert_eq!(biz.amount("c").unwrap().unwrap().to_string(), "5.00");
        for bad in ["d", "e", "f"] {
            assert_eq!(
                biz.amount(bad).unwrap_err().sub_code,
                "ACQ.INVALID_PARAMETER",
                "{bad}"
            );
        }
        assert_eq!(biz.amount("missing").unwrap(), None);
    }

    #[test]
    fn biz_content_must_be_an_object() {
        for bad in [None, Some(""), Some("[1]"), Some("{"), Some("\"x\"")] {
            assert_eq!(
                Biz::parse(bad).unwrap_err().sub_code,
                "isv.invalid-parameter",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn trade_references() {
        let biz = Biz::parse(Some(r#"{"refund_amount":"1.00"}"#)).unwrap();
        assert!(biz.trade_ref().is_err());
        let biz = Biz::parse(Some(r#"{"out_trade_no":"a-b"}"#)).unwrap();
        assert!(biz.trade_ref().is_err());
    }
}
