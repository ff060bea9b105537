//! Money as Alipay understands it: yuan with exactly two decimal places.
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

    /// Parses the JSON-number form of an amount exactly. A JSON number reaches Rust as an `f64`;
    /// its shortest round-trip text (what `{}` prints) is the text the sender wrote whenever that
    /// text had at most 15 significant digits, so parsing that text keeps the value exact and
    /// still refuses a third decimal.
    pub fn from_json_number(number: f64) -> Result<Self, MoneyError> {
        if !number.is_finite() {
            return Err(MoneyError::Malformed(number.to_string()));
        }
        format!("{number}").parse()
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
    /// Accepts a string (`"88.88"`, the contract) or a JSON number (`88.88`, what browsers send
    /// when a page does arithmetic), both parsed exactly.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Text(String),
            Integer(u64),
            Number(f64),
        }
        match Wire::deserialize(deserializer)? {
            Wire::Text(text) => text.parse(),
            Wire::Integer(whole) => Money::from_decimal(Decimal::from(whole)),
            Wire::Number(number) => Money::from_json_number(number),
        }
        .map_err(serde::de::Error::custom)
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
    fn json_accepts_strings_and_exact_numbers() {
        let from_text: Money = serde_json::from_str("\"299.50\"").unwrap();
        let from_number: Money = serde_json::from_str("299.5").unwrap();
        let from_integer: Money = serde_json::from_str("199").unwrap();
        assert_eq!(from_text, from_number);
        assert_eq!(from_integer.to_string(), "199.00");
        assert!(serde_json::from_str::<Money>("0.1234").is_err());
        assert!(serde_json::from_str::<Money>("-3").is_err());
        assert_eq!(serde_json::to_string(&from_text).unwrap(), "\"299.50\"");
        // 0.1 + 0.2 computed in a browser is not an amount.
        assert!(serde_json::from_str::<Money>("0.30000000000000004").is_err());
    }

    #[test]
    fn sums_exactly() {
        let lines = ["99.90", "199.00", "299.50"].map(|t| t.parse::<Money>().unwrap());
        assert_eq!(Money::sum(lines).unwrap().to_string(), "598.40");
        let a: Money = "1.00".parse().unwrap();
        assert_eq!(a.checked_sub("2.00".parse().unwrap()), None);
    }
}
