//! The merchant's order and refund numbers, from the `domain` crate (see [`crate::money`]).

pub use domain::numbers::*;
