//! Certificate mode (公钥证书模式) on Alipay's side: the root bundle the sandbox publishes, the
//! Alipay certificates it signs with, and rotation.
//!
//! The sandbox is *given* its test PKI (TEST-ONLY certificates and their keys: the vectors'
//! `certs/` and `keys/pki_*`, or any other): a root bundle, and a list of Alipay certificates
//! with their private keys. The first is current; each rotation (the test API's
//! `POST /sandbox/alipay-cert/rotate`) makes the next one current, so tests watch a rotation
//! happen mid-run. A certificate becomes downloadable (`alipay.open.app.alipaycert.download`)
//! once it has been current. A list may hold a certificate that does not chain (a forgery), to
//! test that merchants refuse it.

use std::sync::Mutex;

use alipay::cert::{CertError, CertificateFile, RootBundle};
use alipay::keys::PrivateKey;

use crate::signing::AlipaySigner;
use crate::state::lock;

/// One Alipay certificate and the key that signs under it.
#[derive(Debug, Clone)]
pub struct AlipayCertificate {
    pub file: CertificateFile,
    pub key: PrivateKey,
}

impl AlipayCertificate {
    /// From the certificate file's PEM and its private key; refuses a key that is not the
    /// certificate's.
    pub fn new(pem: &str, key: PrivateKey) -> Result<Self, CertError> {
        let file = CertificateFile::from_pem(pem)?;
        if file.leaf().public_key()? != key.public_key() {
            return Err(CertError::KeyDoesNotMatchAppCert {
                sn: file.sn().to_owned(),
            });
        }
        Ok(AlipayCertificate { file, key })
    }

    pub fn sn(&self) -> &str {
        self.file.sn()
    }
}

/// What the sandbox is given: the root bundle, and the Alipay certificates in rotation order.
#[derive(Debug, Clone)]
pub struct PkiSettings {
    pub root_bundle_pem: String,
    pub certificates: Vec<AlipayCertificate>,
}

/// The PKI at run time.
#[derive(Debug)]
pub struct Pki {
    root_bundle_pem: String,
    root_sn: String,
    certificates: Vec<AlipayCertificate>,
    /// Index of the current certificate; only grows.
    current: Mutex<usize>,
}

/// A rotation that cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no further Alipay certificate was given to rotate to ({0} in all)")]
pub struct NothingToRotateTo(pub usize);

impl Pki {
    pub fn new(settings: PkiSettings) -> Result<Self, CertError> {
        let root = RootBundle::from_pem(&settings.root_bundle_pem)?;
        if settings.certificates.is_empty() {
            return Err(CertError::NoCertificate);
        }
        Ok(Pki {
            root_sn: root.sn().to_owned(),
            root_bundle_pem: settings.root_bundle_pem,
            certificates: settings.certificates,
            current: Mutex::new(0),
        })
    }

    pub fn root_bundle_pem(&self) -> &str {
        &self.root_bundle_pem
    }

    /// `alipay_root_cert_sn` that requests must carry.
    pub fn root_sn(&self) -> &str {
        &self.root_sn
    }

    /// The current certificate.
    pub fn current(&self) -> AlipayCertificate {
        let index = *lock(&self.current);
        self.certificates[index.min(self.certificates.len() - 1)].clone()
    }

    /// The signer and SN of the current certificate.
    pub fn signer(&self) -> (AlipaySigner, String) {
        let current = self.current();
        (
            AlipaySigner::new(current.key.clone()),
            current.sn().to_owned(),
        )
    }

    /// Makes the next certificate current; returns (previous SN, new SN).
    pub fn rotate(&self) -> Result<(String, String), NothingToRotateTo> {
        let mut index = lock(&self.current);
        if *index + 1 >= self.certificates.len() {
            return Err(NothingToRotateTo(self.certificates.len()));
        }
        let previous = self.certificates[*index].sn().to_owned();
        *index += 1;
        Ok((previous, self.certificates[*index].sn().to_owned()))
    }

    /// A certificate that has been current, by SN (what the download API hands out).
    pub fn issued(&self, sn: &str) -> Option<AlipayCertificate> {
        let index = *lock(&self.current);
        self.certificates[..=index.min(self.certificates.len() - 1)]
            .iter()
            .find(|c| c.sn() == sn)
            .cloned()
    }
}
