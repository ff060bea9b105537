//! Money as Alipay understands it: yuan with exactly two decimal places ([`Money`]), and
//! [`Amount`], the `0.01..=100000000.00` Alipay accepts in one trade.
//!
//! The types live in the `domain` crate, which the services share with this SDK; they are
//! re-exported here so that the SDK's own paths stay `alipay::money::Money`.

pub use domain::money::*;
