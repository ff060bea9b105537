//! The payment domain that the services and the Alipay SDK share: pure types, no I/O.
//!
//! - [`money`]: yuan with exactly two decimals ([`Money`], and [`Amount`] in the range a payment
//!   may have);
//! - [`numbers`]: the merchant's numbers for a trade ([`OutTradeNo`]) and for one refund request
//!   ([`OutRequestNo`]), with their one alphabet rule;
//! - [`beijing`]: the merchant's calendar (China Standard Time), for days such as a bill's.
//!
//! `alipay` re-exports these (its users keep writing `alipay::money::Money`), and `common`
//! re-exports them for the services, so the order service needs no Alipay SDK to speak of money
//! or order numbers.

pub mod beijing;
pub mod money;
pub mod numbers;

pub use money::{Amount, Money, MoneyError};
pub use numbers::{InvalidNumber, OutRequestNo, OutTradeNo};
