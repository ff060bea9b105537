//! An Alipay open-platform library (`gateway.do`, public-key and certificate modes), usable on its own as an SDK.
//!
//! Modules, from the bottom up:
//! - [`money`]: yuan with exactly two decimals ([`Money`], and [`Amount`] in Alipay's range);
//! - [`keys`]: loading private and public RSA keys from every format users paste, with errors in
//!   words; [`crypto`](crate::keys) hides the RSA backend (aws-lc-rs) behind one small module;
//! - [`form`]: form decoding (exactly once) and `quote_plus` encoding;
//! - [`sign`]: the two string-to-sign rules (request; notification/return) and RSA2/RSA;
//! - [`time`]: Beijing-time timestamps from an injectable [`time::Clock`];
//! - [`request`]: common parameters, typed builders for page/wap pay and the server APIs;
//! - [`notify`]: verifying notifications and returns in named steps, then typing them;
//! - [`response`]: extracting the signed node of a gateway response exactly, verifying, typing;
//! - [`cert`]: certificate mode: certificate files, SNs, the root bundle, chain checks, and the
//!   store of trusted Alipay certificates; [`verifier`] picks the key a message is checked with;
//! - [`aes`]: AES content encryption (`encrypt_type=AES`);
//! - [`client`]: the async HTTP client for the server APIs, which also fetches and checks a
//!   rotated Alipay certificate.
//!
//! Everything but [`client`] is pure: no I/O, deterministic given the key and the clock.

mod crypto;

pub mod aes;
pub mod cert;
pub mod client;
pub mod form;
pub mod keys;
pub mod money;
pub mod notify;
pub mod request;
pub mod response;
pub mod sign;
pub mod time;
pub mod v3;
pub mod verifier;

pub use aes::{AesError, AesKey};
pub use cert::{AlipayCertificates, CertError, CertSns, CertificateFile, ChainError, RootBundle};
pub use client::{AlipayClient, AlipayConfig, ClientError, TradeLookup};
pub use keys::{KeyError, PrivateKey, PublicKey};
pub use money::{Amount, Money, MoneyError};
pub use notify::{NotificationKind, TradeNotification, TradeStatus, VerifyError};
pub use request::{
    Gateway, OutTradeNo, RequestError, RequestSigner, SignedRequest, Subject, TimeExpire,
};
pub use response::{AlipayError, SubCode};
pub use sign::SignType;
pub use verifier::AlipayVerifier;
