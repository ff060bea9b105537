//! Money: yuan with exactly two decimal places, as the services and Alipay both understand it.
//!
//! Two types, because two rules exist:
//! - [`Money`]: any non-negative amount with at most two decimals (an order total may be zero);
//! - [`Amount`]: what Alipay accepts in `total_amount`/`refund_amount`, `0.01..=100000000.00`.
//!
//! Both are `rust_decimal::Decimal` inside, always rescaled to two places, and cross every wire as
//! a string such as `"88.88"`. Floats never enter: text is parsed digit by digit.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a text is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("an amount is required, got an empty text")]
    Empty,
    #[error(
        "{0:?} is not an amount: use digits with an optional '.' and at most two decimals, e.g. \"88.88\""
    )]
    Malformed(String),
    #[error("{0:?} has more than two decimal places; amounts are in yuan with two decimals")]
    TooManyDecimals(String),
    #[error("{0:?} is negative; amounts cannot be negative")]
    Negative(String),
    #[error("{0} is outside the range Alipay accepts (0.01 to 100000000.00)")]
    OutOfAlipayRange(Money),
    #[error("{0:?} is too large to be an amount of money")]
    TooLarge(String),
}

/// The largest amount Alipay accepts in one trade, in yuan.
const ALIPAY_MAX: Decimal = Decimal::from_parts(1_410_065_408, 2, 0, false, 2); // 100_000_000.00
/// The smallest amount Alipay accepts, one fen.
const ALIPAY_MIN: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
/// Upper bound for any [`Money`], so that sums of many lines cannot overflow a `NUMERIC(12,2)`.
const MONEY_MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2); // 9_999_999_999.99

/// A non-negative amount of yuan with exactly two decimal places.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// Builds from a decimal, refusing negatives and more than two decimals.
    pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative(value.to_string()));
        }
        let normalized = value.normalize();
        if normalized.scale() > 2 {
            return Err(MoneyError::TooManyDecimals(value.to_string()));
        }
        if normalized > MONEY_MAX {
            return Err(MoneyError::TooLarge(value.to_string()));
        }
        let mut exact = normalized.abs();
        exact.rescale(2);
        Ok(Money(exact))
    }

    /// The amount in fen (hundredths of a yuan).
    pub fn fen(&self) -> i64 {
        // Bounded by MONEY_MAX, so the mantissa always fits an i64.
        i64::try_from(self.0.mantissa()).unwrap_or(i64::MAX)
    }

    /// Builds from a count of fen.
    pub fn from_fen(fen: u64) -> Result<Self, MoneyError> {
        Self::from_decimal(Decimal::from_i128_with_scale(i128::from(fen), 2))
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Adds two amounts; `None` on overflow past the money bound.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        Money::from_decimal(self.0.checked_add(other.0)?).ok()
    }

    /// Subtracts; `None` when the result would be negative.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        let result = self.0.checked_sub(other.0)?;
        if result.is_sign_negative() && !result.is_zero() {
            return None;
        }
        Money::from_decimal(result).ok()
    }

    /// This amount as one Alipay accepts, or why not.
    pub fn to_alipay(self) -> Result<Amount, MoneyError> {
        Amount::try_from(self)
    }

    /// Parses an amount as it stands in a JSON document: a string (`"88.88"`) or a number
    /// (`88.88`), both read from their text with the one rule of [`FromStr`]: digits, at most
    /// two decimals, no sign, no exponent. A number is never converted through a float, so
    /// `598.3999999999999999` is refused rather than rounded to 598.40, and `598.400` is refused
    /// as a number exactly as `"598.400"` is as a string.
    pub fn from_json_literal(literal: &str) -> Result<Self, MoneyError> {
        let literal = literal.trim();
        if literal.starts_with('"') {
            let text: String = serde_json::from_str(literal)
                .map_err(|_| MoneyError::Malformed(literal.to_owned()))?;
            text.parse()
        } else {
            literal.parse()
        }
    }
}

/// `#[serde(deserialize_with = "...")]` helpers for JSON bodies, where an amount may be a string
/// or a JSON number and must be read exactly (see [`Money::from_json_literal`]). They need
/// `serde_json` as the deserializer: the number's text is taken through `RawValue`.
pub mod json_exact {
    use serde::{Deserialize, Deserializer};
    use serde_json::value::RawValue;

    use super::Money;

    /// A required amount.
    pub fn money<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Money::from_json_literal(raw.get()).map_err(serde::de::Error::custom)
    }

    /// An optional amount: absent or `null` is `None`.
    pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Money>, D::Error> {
        let raw = Option::<Box<RawValue>>::deserialize(deserializer)?;
        match raw {
            None => Ok(None),
            Some(raw) if raw.get().trim() == "null" => Ok(None),
            Some(raw) => Money::from_json_literal(raw.get())
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        if let Some(rest) = text.strip_prefix('-') {
            if is_plain_decimal(rest) {
                return Err(MoneyError::Negative(text.to_owned()));
            }
            return Err(MoneyError::Malformed(text.to_owned()));
        }
        if !is_plain_decimal(text) {
            return Err(MoneyError::Malformed(text.to_owned()));
        }
        if let Some((_, decimals)) = text.split_once('.')
            && decimals.len() > 2
        {
            return Err(MoneyError::TooManyDecimals(text.to_owned()));
        }
        let value =
            Decimal::from_str_exact(text).map_err(|_| MoneyError::TooLarge(text.to_owned()))?;
        Money::from_decimal(value)
    }
}

/// `digits` or `digits.digits`: no sign, no exponent, no spaces, no leading or trailing dot.
fn is_plain_decimal(text: &str) -> bool {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(all_digits)
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl Money {
    /// The exact sum of `amounts`; `None` if it passes the money bound.
    pub fn sum<I: IntoIterator<Item = Money>>(amounts: I) -> Option<Money> {
        amounts
            .into_iter()
            .try_fold(Money::ZERO, Money::checked_add)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Accepts a string (`"88.88"`, the contract) or a whole JSON number. A JSON number with a
    /// fraction is refused here, because a generic deserializer hands it over as an `f64` and
    /// its exact text is gone; JSON bodies that allow such numbers read them with
    /// [`json_exact`] instead.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MoneyVisitor)
    }
}

struct MoneyVisitor;

impl serde::de::Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount in yuan as a string with at most two decimals, e.g. \"88.88\"")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Money, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, whole: u64) -> Result<Money, E> {
        Money::from_decimal(Decimal::from(whole)).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, whole: i64) -> Result<Money, E> {
        Money::from_decimal(Decimal::from(whole)).map_err(E::custom)
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Money, E> {
        Err(E::custom(
            "an amount with decimals must be a string such as \"88.88\", so that it is read exactly",
        ))
    }
}

/// An amount Alipay accepts: `0.01..=100000000.00` yuan, two decimals.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Money);

impl Amount {
    pub fn money(&self) -> Money {
        self.0
    }

    pub fn decimal(&self) -> Decimal {
        self.0.decimal()
    }
}

impl TryFrom<Money> for Amount {
    type Error = MoneyError;

    fn try_from(money: Money) -> Result<Self, Self::Error> {
        if money.decimal() < ALIPAY_MIN || money.decimal() > ALIPAY_MAX {
            return Err(MoneyError::OutOfAlipayRange(money));
        }
        Ok(Amount(money))
    }
}

impl From<Amount> for Money {
    fn from(amount: Amount) -> Self {
        amount.0
    }
}

impl FromStr for Amount {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Amount::try_from(text.parse::<Money>()?)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Amount::try_from(Money::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_with_two_places() {
        assert_eq!("88.88".parse::<Money>().unwrap().to_string(), "88.88");
        assert_eq!("99.9".parse::<Money>().unwrap().to_string(), "99.90");
        assert_eq!("5".parse::<Money>().unwrap().to_string(), "5.00");
        assert_eq!("0".parse::<Money>().unwrap(), Money::ZERO);
        assert_eq!("1.50".parse::<Money>().unwrap().fen(), 150);
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert_eq!("".parse::<Money>(), Err(MoneyError::Empty));
        for bad in [
            "abc", "1e3", " 1", "1 ", "+1", ".5", "5.", "1,00", "NaN", "0x10", "1.2.3",
        ] {
            assert!(
                matches!(bad.parse::<Money>(), Err(MoneyError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "1.001".parse::<Money>(),
            Err(MoneyError::TooManyDecimals(_))
        ));
        assert!(matches!(
            "-1.00".parse::<Money>(),
            Err(MoneyError::Negative(_))
        ));
        assert!(matches!(
            "99999999999999999999999".parse::<Money>(),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn alipay_range_is_one_fen_to_a_hundred_million() {
        assert!("0.01".parse::<Amount>().is_ok());
        assert!("100000000.00".parse::<Amount>().is_ok());
        assert!(matches!(
            "0.00".parse::<Amount>(),
            Err(MoneyError::OutOfAlipayRange(_))
        ));
        assert!(matches!(
            "100000000.01".parse::<Amount>(),
            Err(MoneyError::OutOfAlipayRange(_))
        ));
    }

    #[test]
    fn json_strings_and_whole_numbers_deserialize_fractions_are_refused() {
        let from_text: Money = serde_json::from_str("\"299.50\"").unwrap();
        let from_integer: Money = serde_json::from_str("199").unwrap();
        assert_eq!(from_text.to_string(), "299.50");
        assert_eq!(from_integer.to_string(), "199.00");
        // A generic deserializer only has the f64: refused, never rounded.
        assert!(serde_json::from_str::<Money>("299.5").is_err());
        assert!(serde_json::from_str::<Money>("-3").is_err());
        assert_eq!(serde_json::to_string(&from_text).unwrap(), "\"299.50\"");
    }

    #[test]
    fn json_literals_are_read_exactly_with_one_rule_for_numbers_and_strings() {
        for (literal, expected) in [
            ("598.4", "598.40"),
            ("\"598.4\"", "598.40"),
            ("598.40", "598.40"),
            ("\"598.40\"", "598.40"),
            ("0", "0.00"),
            ("199", "199.00"),
            (" 99.9 ", "99.90"),
        ] {
            assert_eq!(
                Money::from_json_literal(literal).unwrap().to_string(),
                expected,
                "{literal}"
            );
        }
        // Each of these was once accepted through an f64 (and charged 598.40 / 99.90).
        for literal in [
            "598.3999999999999999",
            "598.4000000000000001",
            "99.899999999999999",
            "0.30000000000000004",
            "598.400",
            "\"598.400\"",
            "5.984e2",
            "\"5.984e2\"",
            "1E2",
            "-1",
            "\"-1.00\"",
            "-0.0",
            "null",
            "true",
            "\"\"",
            "[1]",
        ] {
            assert!(Money::from_json_literal(literal).is_err(), "{literal}");
        }
    }

    #[test]
    fn json_exact_helpers_take_the_literal_text() {
        #[derive(Debug, Deserialize)]
        struct Body {
            #[serde(deserialize_with = "json_exact::money")]
            total: Money,
            #[serde(default, deserialize_with = "json_exact::option")]
            refund: Option<Money>,
        }
        let body: Body = serde_json::from_str(r#"{"total": 598.4, "refund": "1.5"}"#).unwrap();
        assert_eq!(
            (body.total.to_string(), body.refund),
            ("598.40".into(), Some("1.50".parse().unwrap()))
        );
        let body: Body = serde_json::from_str(r#"{"total": "0.01", "refund": null}"#).unwrap();
        assert_eq!(body.refund, None);
        let body: Body = serde_json::from_str(r#"{"total": 1}"#).unwrap();
        assert_eq!(body.refund, None);
        let error = serde_json::from_str::<Body>(r#"{"total": 598.3999999999999999}"#).unwrap_err();
        assert!(
            error.to_string().contains("more than two decimal places"),
            "{error}"
        );
    }

    #[test]
    fn sums_exactly() {
        let lines = ["99.90", "199.00", "299.50"].map(|t| t.parse::<Money>().unwrap());
        assert_eq!(Money::sum(lines).unwrap().to_string(), "598.40");
        let a: Money = "1.00".parse().unwrap();
        assert_eq!(a.checked_sub("2.00".parse().unwrap()), None);
    }
}
