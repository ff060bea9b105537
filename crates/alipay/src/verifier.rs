//! Which key checks Alipay's signatures: the one public key of public-key mode, or, in
//! certificate mode, the key of the trusted certificate a message names by `alipay_cert_sn`.

use crate::cert::AlipayCertificates;
use crate::keys::PublicKey;

/// How Alipay's signatures are verified.
#[derive(Debug, Clone)]
pub enum AlipayVerifier {
    /// Public-key mode (普通公钥): `ALIPAY_PUBLIC_KEY`.
    PublicKey(PublicKey),
    /// Certificate mode (公钥证书): the Alipay certificates trusted so far, by SN.
    Certificates(AlipayCertificates),
}

/// The keys a message may be checked with.
#[derive(Debug, Clone)]
pub enum Candidates {
    /// The key named by the message (or the only key of public-key mode).
    One(PublicKey),
    /// The message names no certificate: any trusted Alipay certificate may have signed it.
    Any(Vec<PublicKey>),
}

/// A message named a certificate that is not trusted (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "alipay_cert_sn {sn:?} names no trusted Alipay certificate (Alipay rotated its certificate, \
     or the message is forged)"
)]
pub struct UnknownCertSn {
    pub sn: String,
}

impl AlipayVerifier {
    /// The keys for a message carrying `alipay_cert_sn` = `sn` (if any). Public-key mode ignores
    /// the SN: its one key is the only one Alipay uses for the app.
    pub fn candidates(&self, sn: Option<&str>) -> Result<Candidates, UnknownCertSn> {
        match (self, sn) {
            (AlipayVerifier::PublicKey(key), _) => Ok(Candidates::One(key.clone())),
            (AlipayVerifier::Certificates(store), Some(sn)) if !sn.is_empty() => store
                .key(sn)
                .map(Candidates::One)
                .ok_or_else(|| UnknownCertSn { sn: sn.to_owned() }),
            (AlipayVerifier::Certificates(store), _) => Ok(Candidates::Any(
                store.keys().into_iter().map(|(_, key)| key).collect(),
            )),
        }
    }

    /// The certificate store, in certificate mode.
    pub fn certificates(&self) -> Option<&AlipayCertificates> {
        match self {
            AlipayVerifier::PublicKey(_) => None,
            AlipayVerifier::Certificates(store) => Some(store),
        }
    }
}

impl Candidates {
    /// Whether any candidate key accepts.
    pub fn any(&self, mut accepts: impl FnMut(&PublicKey) -> bool) -> bool {
        match self {
            Candidates::One(key) => accepts(key),
            Candidates::Any(keys) => keys.iter().any(accepts),
        }
    }
}

impl From<PublicKey> for AlipayVerifier {
    fn from(key: PublicKey) -> Self {
        AlipayVerifier::PublicKey(key)
    }
}
