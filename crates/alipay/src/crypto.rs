//! The RSA backend, kept behind this one small module.
//!
//! aws-lc-rs signs SHA256withRSA at OpenSSL's speed (≈6,500/s on 2 cores here, against ≈1,100/s
//! for the pure-Rust `rsa` crate) and verifies ≈100,000/s, so it carries `RSA2`, the sign type
//! every new Alipay app uses. It can verify but not sign SHA1withRSA, so the legacy `RSA` sign
//! type signs through the `rsa` crate (constant-time since 0.10); speed does not matter there.
//! All three produce byte-identical PKCS#1 v1.5 signatures, which the vectors check.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    RSA_PKCS1_2048_8192_SHA256, RsaKeyPair,
};
use der::Decode;
use pkcs8::PrivateKeyInfoRef;
use rsa::pkcs1::DecodeRsaPrivateKey;

use crate::keys::KeyError;
use crate::sign::SignType;

/// A loaded private key. Cloning shares the parsed key.
#[derive(Clone)]
pub(crate) struct RsaPrivate {
    key_pair: Arc<RsaKeyPair>,
    pkcs1_der: Arc<[u8]>,
    /// The public half, parsed once.
    public: RsaPublic,
    /// The `rsa` crate's form of the same key, built only if a SHA1withRSA signature is ever
    /// asked for: most deployments never use it.
    legacy: Arc<std::sync::OnceLock<Result<rsa::PrivateKey, String>>>,
}

impl RsaPrivate {
    pub(crate) fn from_pkcs1_der(pkcs1_der: &[u8]) -> Result<Self, KeyError> {
        let key_pair =
            RsaKeyPair::from_der(pkcs1_der).map_err(|e| KeyError::Rejected(e.to_string()))?;
        Self::from_key_pair(key_pair, pkcs1_der.into())
    }

    fn from_key_pair(key_pair: RsaKeyPair, pkcs1_der: Arc<[u8]>) -> Result<Self, KeyError> {
        // aws-lc-rs hands out the public half as PKCS#1 RSAPublicKey DER.
        let public = RsaPublic::from_pkcs1_der(key_pair.public_key().as_ref())?;
        Ok(RsaPrivate {
            key_pair: Arc::new(key_pair),
            pkcs1_der,
            public,
            legacy: Arc::default(),
        })
    }

    pub(crate) fn generate() -> Result<Self, KeyError> {
        let key_pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| KeyError::Rejected("key generation failed".into()))?;
        let pkcs8 = key_pair
            .as_der()
            .map_err(|_| KeyError::Rejected("key serialization failed".into()))?;
        // aws-lc-rs writes PKCS#8; the PKCS#1 key is its inner OCTET STRING.
        let info = PrivateKeyInfoRef::from_der(pkcs8.as_ref()).map_err(|_| KeyError::Corrupt)?;
        Self::from_key_pair(key_pair, info.private_key.as_bytes().into())
    }

    pub(crate) fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1_der
    }

    pub(crate) fn pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        self.key_pair
            .as_der()
            .map(|der| der.as_ref().to_vec())
            .map_err(|_| KeyError::Rejected("key serialization failed".into()))
    }

    pub(crate) fn public(&self) -> &RsaPublic {
        &self.public
    }

    /// PKCS#1 v1.5 signature of `message` with the digest of `sign_type`.
    pub(crate) fn sign(&self, sign_type: SignType, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match sign_type {
            SignType::Rsa2 => {
                let mut signature = vec![0u8; self.key_pair.public_modulus_len()];
                self.key_pair
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &SystemRandom::new(),
                        message,
                        &mut signature,
                    )
                    .map_err(|_| SignError)?;
                Ok(signature)
            }
            SignType::Rsa => {
                let legacy = self.legacy.get_or_init(|| {
                    rsa::PrivateKey::from_pkcs1_der(&self.pkcs1_der).map_err(|e| e.to_string())
                });
                let key = legacy.as_ref().map_err(|_| SignError)?;
                key.pkcs1v15_sign::<sha1::Sha1>(message)
                    .map_err(|_| SignError)
            }
        }
    }
}

/// Signing failed inside the crypto library (it does not say why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the RSA signature could not be computed")]
pub struct SignError;

/// A loaded public key, parsed once per algorithm so verification does no parsing.
#[derive(Clone)]
pub(crate) struct RsaPublic {
    pkcs1_der: Arc<[u8]>,
    sha256: Arc<ParsedPublicKey>,
    sha1: Arc<ParsedPublicKey>,
}

impl RsaPublic {
    pub(crate) fn from_pkcs1_der(pkcs1_der: &[u8]) -> Result<Self, KeyError> {
        let parse = |algorithm| {
            ParsedPublicKey::new(algorithm, pkcs1_der)
                .map(Arc::new)
                .map_err(|e| KeyError::Rejected(e.to_string()))
        };
        Ok(RsaPublic {
            pkcs1_der: pkcs1_der.into(),
            sha256: parse(&RSA_PKCS1_2048_8192_SHA256)?,
            sha1: parse(&RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY)?,
        })
    }

    pub(crate) fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1_der
    }

    /// Whether `signature` is a PKCS#1 v1.5 signature of `message` under `sign_type`'s digest.
    pub(crate) fn verify(&self, sign_type: SignType, message: &[u8], signature: &[u8]) -> bool {
        let key = match sign_type {
            SignType::Rsa2 => &self.sha256,
            SignType::Rsa => &self.sha1,
        };
        key.verify_sig(message, signature).is_ok()
    }
}
