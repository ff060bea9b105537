//! The merchant's numbers: one for each trade, one for each refund request. Both follow one rule,
//! 1–64 ASCII letters, digits or underscores, which is Alipay's and which every service checks at
//! its edge by parsing into these types.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a text is not a merchant number; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNumber {
    #[error("out_trade_no must be 1 to 64 letters, digits or underscores, got {0:?}")]
    OutTradeNo(String),
    #[error("out_request_no must be 1 to 64 letters, digits or underscores, got {0:?}")]
    OutRequestNo(String),
}

/// The one alphabet and length rule of merchant numbers.
fn is_merchant_number(text: &str) -> bool {
    (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `prefix` + UTC `yyyyMMddHHmmss` (sorts by time, readable in Alipay's console) + the first 18
/// hex digits of `random` (72 bits: unguessable, so a number cannot be found by counting).
fn generated(prefix: &str, now: DateTime<Utc>, random: u128) -> String {
    let hex = format!("{random:032x}");
    format!("{prefix}{}{}", now.format("%Y%m%d%H%M%S"), &hex[..18])
}

/// The merchant's number for one trade (an order): 1–64 letters, digits or underscores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutTradeNo(#[serde(deserialize_with = "trade_no_text")] String);

impl OutTradeNo {
    pub fn parse(text: &str) -> Result<Self, InvalidNumber> {
        if is_merchant_number(text) {
            Ok(OutTradeNo(text.to_owned()))
        } else {
            Err(InvalidNumber::OutTradeNo(text.to_owned()))
        }
    }

    /// A fresh number; `random` comes from the caller (a UUID v4, say), so this stays pure.
    pub fn generate(now: DateTime<Utc>, random: u128) -> Self {
        OutTradeNo(generated("", now, random))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The merchant's number for one refund request (Alipay's `out_request_no`, sent back in a
/// refund notification as `out_biz_no`): same rule as [`OutTradeNo`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutRequestNo(#[serde(deserialize_with = "request_no_text")] String);

impl OutRequestNo {
    pub fn parse(text: &str) -> Result<Self, InvalidNumber> {
        if is_merchant_number(text) {
            Ok(OutRequestNo(text.to_owned()))
        } else {
            Err(InvalidNumber::OutRequestNo(text.to_owned()))
        }
    }

    /// `R` + a number made as [`OutTradeNo::generate`] makes one.
    pub fn generate(now: DateTime<Utc>, random: u128) -> Self {
        OutRequestNo(generated("R", now, random))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deserializing checks the rule, so a number read from a message is as valid as a parsed one.
fn trade_no_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    OutTradeNo::parse(&text)
        .map(|number| number.0)
        .map_err(serde::de::Error::custom)
}

fn request_no_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    OutRequestNo::parse(&text)
        .map(|number| number.0)
        .map_err(serde::de::Error::custom)
}

impl FromStr for OutTradeNo {
    type Err = InvalidNumber;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl FromStr for OutRequestNo {
    type Err = InvalidNumber;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for OutTradeNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for OutRequestNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_rule_is_letters_digits_and_underscores_up_to_64() {
        assert!(OutTradeNo::parse(&"a".repeat(64)).is_ok());
        assert!(OutRequestNo::parse("RF_1").is_ok());
        for bad in ["", "a-b", "a b", "é", "订单", &"x".repeat(65)] {
            assert_eq!(
                OutTradeNo::parse(bad),
                Err(InvalidNumber::OutTradeNo(bad.to_owned()))
            );
            assert_eq!(
                OutRequestNo::parse(bad),
                Err(InvalidNumber::OutRequestNo(bad.to_owned()))
            );
        }
        assert_eq!(
            InvalidNumber::OutTradeNo("a-b".into()).to_string(),
            "out_trade_no must be 1 to 64 letters, digits or underscores, got \"a-b\""
        );
    }

    #[test]
    fn generated_numbers_are_valid_and_carry_the_time() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 1, 2, 3).unwrap();
        let number = OutTradeNo::generate(now, 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(number.as_str(), "202612050102030123456789abcdef01");
        assert_eq!(number.as_str().parse::<OutTradeNo>().unwrap(), number);
        assert_ne!(
            OutTradeNo::generate(now, 1),
            OutTradeNo::generate(now, 2 << 60)
        );
        let refund = OutRequestNo::generate(now, u128::MAX);
        assert_eq!(refund.as_str().len(), 33);
        assert_eq!(refund.as_str().parse::<OutRequestNo>().unwrap(), refund);
    }

    #[test]
    fn json_is_the_plain_text_and_reading_checks_the_rule() {
        let number = OutTradeNo::parse("ORDER_1").unwrap();
        assert_eq!(serde_json::to_string(&number).unwrap(), "\"ORDER_1\"");
        assert_eq!(
            serde_json::from_str::<OutTradeNo>("\"ORDER_1\"").unwrap(),
            number
        );
        assert!(serde_json::from_str::<OutTradeNo>("\"O-1\"").is_err());
        assert!(serde_json::from_str::<OutRequestNo>("\"\"").is_err());
    }
}
