//! Money lives in the `domain` crate, which the Alipay SDK shares with the services; services
//! reach it through `common::money` so they depend on one place.

pub use domain::money::*;
