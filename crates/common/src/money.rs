//! Money lives in the `alipay` crate, because Alipay's amount rules are protocol rules and that crate
//! must stand alone; services reach it through `common::money` so they depend on one place.

pub use alipay::money::*;
