//! Alipay OpenAPI v3: JSON over HTTPS, requests signed in the `Authorization` header, responses
//! signed in the `alipay-timestamp` / `alipay-nonce` / `alipay-signature` headers, errors as HTTP
//! statuses with a `{code,message}` body.
//!
//! - [`sign`]: the pure rules (auth string, strings to sign, header parsing, response
//!   verification with a caller-provided [`sign::AlipayKeys`] lookup by `alipay-sn`), checked
//!   against the official Node SDK's vectors;
//! - [`api`]: the server APIs the gateway uses, as v3 paths and bodies built from the same
//!   typed requests as v2 ([`crate::request::TradeQuery`], …);
//! - [`client`]: [`V3Signer`] (nonce, clock, optional `app_cert_sn`) and the async
//!   [`V3Client`], whose typed calls answer exactly like [`crate::AlipayClient`]'s.
//!
//! Trust: a response is used only when its signature verifies. A 4xx error body without a
//! valid signature is still reported (its `code`, as an unsigned refusal) but never acted upon
//! as an answer: an unsigned `TRADE_NOT_EXIST` does not mean "not exist". Alipay refuses
//! requests it could not authenticate (bad signature, unknown app) without signing, so those
//! must stay readable for the operator; a refusal can only stop a call, never confirm one.
//! 5xx answers are "unavailable" whatever they carry (the outcome is unknown).
//!
//! Page pay has no v3 form: pay links stay v2.

pub mod api;
pub mod client;
pub mod sign;

pub use client::{V3Client, V3Config, V3Error, V3Signer};
pub use sign::{AlipayKeys, KeysBySn};
