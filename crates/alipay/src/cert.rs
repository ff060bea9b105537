//! Public-key certificate mode (公钥证书模式): the three certificate files, their SNs, and the
//! chain check that decides whether a certificate of Alipay's may be trusted.
//!
//! - [`CertificateFile`] is one file as the console hands it out (a leaf, then its chain), read
//!   from PEM whatever its line ends and blank lines; X.509 parsing is RustCrypto's `x509-cert`.
//! - [`Certificate::sn`] is Alipay's SN: MD5 of the issuer DN (RFC 2253, as Java's
//!   `X500Principal.getName()` writes it) followed by the decimal serial.
//! - [`RootBundle`] is `alipayRootCert.crt`; its SN joins the SNs of the RSA-family roots only.
//! - [`verify_chain`] is the Java SDK's `isTrusted`: the file's certificates form one chain whose
//!   top is signed by a certificate of the bundle, every link verifies, and every certificate is
//!   valid at the given instant.
//! - [`AlipayCertificates`] holds the Alipay certificates trusted so far, by SN, so responses
//!   and notifications pick their key by `alipay_cert_sn` with one map lookup; a certificate
//!   enters it only through [`AlipayCertificates::trust`], which runs every check.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use aws_lc_rs::signature::{self as lc, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use x509_cert::Certificate as X509;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::name::Name;

use crate::keys::{KeyError, PrivateKey, PublicKey};

/// OID prefix of the RSA signature family (sha1WithRSA `.5`, sha256WithRSA `.11`, PSS `.10`, …):
/// only roots signed this way count in `alipay_root_cert_sn`.
const RSA_SIGNATURE_FAMILY: &str = "1.2.840.113549.1.1.";

/// Why a certificate text was refused. Written for the person configuring the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the certificate file is empty (is the variable or file set?)")]
    Empty,
    #[error(
        "no \"-----BEGIN CERTIFICATE-----\" block found; give the .crt file exactly as the Alipay \
         console hands it out"
    )]
    NoCertificate,
    #[error("certificate {index} is not valid base64 PEM: {detail}")]
    NotBase64 { index: usize, detail: String },
    #[error("certificate {index} does not parse as X.509 (truncated or corrupted?): {detail}")]
    NotX509 { index: usize, detail: String },
    #[error(
        "certificate {index} has a name this library cannot write the way Alipay hashes it \
         ({detail}); Alipay's certificates never do"
    )]
    UnsupportedName { index: usize, detail: String },
    #[error("the certificate's key is not usable for RSA2: {0}")]
    Key(KeyError),
    #[error(
        "this is the app certificate (appCertPublicKey_<appid>.crt, subject {subject}); Alipay's \
         public certificate (alipayCertPublicKey_RSA2.crt) is needed here"
    )]
    AppCertWhereAlipayCertNeeded { subject: String },
    #[error(
        "this is Alipay's public certificate (subject {subject}); the app certificate \
         (appCertPublicKey_<appid>.crt) is needed here"
    )]
    AlipayCertWhereAppCertNeeded { subject: String },
    #[error(
        "this is a root certificate (subject {subject}, self-signed); the root bundle \
         (alipayRootCert.crt) belongs in ALIPAY_ROOT_CERT, and a leaf certificate is needed here"
    )]
    RootWhereLeafNeeded { subject: String },
    #[error(
        "the app private key does not match the app certificate (certificate {sn}): the \
         certificate was issued for another key; download the certificate made from this key's \
         CSR, or configure the key that made it"
    )]
    KeyDoesNotMatchAppCert { sn: String },
    #[error(
        "the root bundle holds no RSA-signed root, so alipay_root_cert_sn would be empty; give \
         alipayRootCert.crt exactly as the console hands it out"
    )]
    NoRsaRoot,
    #[error("{0}")]
    Chain(#[from] ChainError),
    #[error(
        "the certificate is for {subject}, not for Alipay ({expected}); a certificate offered \
         as Alipay's must name Alipay"
    )]
    NotForAlipay { subject: String, expected: String },
}

/// Why a certificate file does not chain to the root bundle (the Java SDK's `isTrusted` rule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the file holds more than one self-signed certificate")]
    SeveralSelfSigned,
    #[error(
        "the certificates in the file do not form one chain (certificate {index}, subject \
         {subject}, is not linked to the others)"
    )]
    NotOneChain { index: usize, subject: String },
    #[error(
        "certificate {index} (subject {subject}) is not valid at {at}: it is valid from \
         {not_before} to {not_after}{hint}"
    )]
    NotValidAt {
        index: usize,
        subject: String,
        at: DateTime<Utc>,
        not_before: DateTime<Utc>,
        not_after: DateTime<Utc>,
        hint: &'static str,
    },
    #[error(
        "the chain does not lead to the root bundle: its top certificate is issued by {issuer}, \
         which is not a root in alipayRootCert.crt (missing intermediate, or a foreign CA)"
    )]
    IssuerNotInBundle { issuer: String },
    #[error(
        "the signature of certificate {index} (subject {subject}) does not verify with its \
         issuer's key: the certificate is forged or corrupted"
    )]
    BadSignature { index: usize, subject: String },
    #[error(
        "certificate {index} is signed with algorithm {oid}, which this library does not verify"
    )]
    UnsupportedAlgorithm { index: usize, oid: String },
}

/// One parsed X.509 certificate with what Alipay's protocol needs of it precomputed.
#[derive(Clone)]
pub struct Certificate {
    x509: Arc<X509>,
    der: Arc<[u8]>,
    issuer: String,
    subject: String,
    serial_decimal: String,
    sn: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    signature_oid: ObjectIdentifier,
}

impl Certificate {
    /// Parses one DER certificate (`index` counts from 1, for messages).
    fn from_der(der: &[u8], index: usize) -> Result<Self, CertError> {
        let x509 = X509::from_der(der).map_err(|e| CertError::NotX509 {
            index,
            detail: e.to_string(),
        })?;
        let tbs = x509.tbs_certificate();
        let name = |name: &Name| {
            rfc2253(name).map_err(|detail| CertError::UnsupportedName { index, detail })
        };
        let issuer = name(tbs.issuer())?;
        let subject = name(tbs.subject())?;
        let serial_decimal = decimal(tbs.serial_number().as_bytes());
        let sn = sn_of(&issuer, &serial_decimal);
        let time = |t: x509_cert::time::Time| {
            let seconds = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
            DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let validity = tbs.validity();
        Ok(Certificate {
            not_before: time(validity.not_before),
            not_after: time(validity.not_after),
            signature_oid: x509.signature_algorithm().oid,
            x509: Arc::new(x509),
            der: der.into(),
            issuer,
            subject,
            serial_decimal,
            sn,
        })
    }

    /// The issuer DN as Alipay hashes it (RFC 2253, `CN` first, no spaces).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject DN, written the same way.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The serial number in decimal.
    pub fn serial_decimal(&self) -> &str {
        &self.serial_decimal
    }

    /// Alipay's SN: lowercase hex MD5 of issuer + decimal serial.
    pub fn sn(&self) -> &str {
        &self.sn
    }

    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// The signature algorithm OID, dotted.
    pub fn signature_algorithm(&self) -> String {
        self.signature_oid.to_string()
    }

    /// The DER encoding, as read.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn is_self_signed(&self) -> bool {
        self.issuer == self.subject
    }

    /// Whether the certificate is valid at `at` (notBefore ≤ at ≤ notAfter).
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    /// The RSA public key inside (2048 bits at least, like every key this crate loads).
    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        let spki = self
            .x509
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| CertError::NotX509 {
                index: 1,
                detail: e.to_string(),
            })?;
        PublicKey::from_der(&spki).map_err(CertError::Key)
    }

    /// Whether this looks like an app certificate: Alipay issues those with the merchant's
    /// partner id (`2088…`) as the subject's CN, and its own with its company name.
    pub fn looks_like_app_certificate(&self) -> bool {
        let cn = self
            .subject
            .split(',')
            .find_map(|part| part.strip_prefix("CN="))
            .unwrap_or("");
        cn.starts_with("2088") && cn.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    }

    /// PEM text of this one certificate.
    pub fn to_pem(&self) -> String {
        let encoded = STANDARD.encode(&self.der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// Verifies that `issuer`'s key signed this certificate.
    fn signed_by(&self, issuer: &Certificate, index: usize) -> Result<(), ChainError> {
        let unsupported = || ChainError::UnsupportedAlgorithm {
            index,
            oid: self.signature_oid.to_string(),
        };
        let spki = issuer.x509.tbs_certificate().subject_public_key_info();
        let key_bytes = spki.subject_public_key.raw_bytes();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .map(|oid| oid.to_string());
        let algorithm: &'static dyn VerificationAlgorithm =
            match (self.signature_oid.to_string().as_str(), curve.as_deref()) {
                ("1.2.840.113549.1.1.5", _) => &lc::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                ("1.2.840.113549.1.1.11", _) => &lc::RSA_PKCS1_2048_8192_SHA256,
                ("1.2.840.113549.1.1.12", _) => &lc::RSA_PKCS1_2048_8192_SHA384,
                ("1.2.840.113549.1.1.13", _) => &lc::RSA_PKCS1_2048_8192_SHA512,
                ("1.2.840.10045.4.3.2", Some(P256)) => &lc::ECDSA_P256_SHA256_ASN1,
                ("1.2.840.10045.4.3.3", Some(P256)) => &lc::ECDSA_P256_SHA384_ASN1,
                ("1.2.840.10045.4.3.2", Some(P384)) => &lc::ECDSA_P384_SHA256_ASN1,
                ("1.2.840.10045.4.3.3", Some(P384)) => &lc::ECDSA_P384_SHA384_ASN1,
                _ => return Err(unsupported()),
            };
        let tbs = self
            .x509
            .tbs_certificate()
            .to_der()
            .map_err(|_| unsupported())?;
        let signature = self.x509.signature().raw_bytes();
        UnparsedPublicKey::new(algorithm, key_bytes)
            .verify(&tbs, signature)
            .map_err(|_| ChainError::BadSignature {
                index,
                subject: self.subject.clone(),
            })
    }
}

const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("sn", &self.sn)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// A certificate file: the leaf first, then whatever chain the console put after it.
#[derive(Debug, Clone)]
pub struct CertificateFile {
    certificates: Vec<Certificate>,
}

impl CertificateFile {
    /// Reads every `CERTIFICATE` block of a PEM text (CRLF or LF, blank lines or not).
    pub fn from_pem(text: &str) -> Result<Self, CertError> {
        if text.trim().is_empty() {
            return Err(CertError::Empty);
        }
        let mut certificates = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(BEGIN) {
            let body_and_more = &rest[start + BEGIN.len()..];
            let index = certificates.len() + 1;
            let end = body_and_more
                .find(END)
                .ok_or_else(|| CertError::NotBase64 {
                    index,
                    detail: "no END CERTIFICATE line".into(),
                })?;
            let body: String = body_and_more[..end]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|e| CertError::NotBase64 {
                    index,
                    detail: e.to_string(),
                })?;
            certificates.push(Certificate::from_der(&der, index)?);
            rest = &body_and_more[end + END.len()..];
        }
        if certificates.is_empty() {
            return Err(CertError::NoCertificate);
        }
        Ok(CertificateFile { certificates })
    }

    /// The first certificate: the one the file is about.
    pub fn leaf(&self) -> &Certificate {
        // `from_pem` refuses files without a certificate, so the first one exists.
        &self.certificates[0]
    }

    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// SN of the leaf (`app_cert_sn`, `alipay_cert_sn`).
    pub fn sn(&self) -> &str {
        self.leaf().sn()
    }

    /// The whole file as PEM (what `alipay.open.app.alipaycert.download` hands out, base64ed).
    pub fn to_pem(&self) -> String {
        self.certificates
            .iter()
            .map(Certificate::to_pem)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Alipay's root bundle, `alipayRootCert.crt`.
#[derive(Debug, Clone)]
pub struct RootBundle {
    roots: Vec<Certificate>,
    sn: String,
}

impl RootBundle {
    /// Reads the bundle and computes its SN; a bundle without any RSA-signed root is refused,
    /// since every request would then carry an empty `alipay_root_cert_sn`.
    pub fn from_pem(text: &str) -> Result<Self, CertError> {
        let file = CertificateFile::from_pem(text)?;
        let sn = file
            .certificates
            .iter()
            .filter(|c| c.signature_algorithm().starts_with(RSA_SIGNATURE_FAMILY))
            .map(|c| c.sn().to_owned())
            .collect::<Vec<_>>()
            .join("_");
        if sn.is_empty() {
            return Err(CertError::NoRsaRoot);
        }
        Ok(RootBundle {
            roots: file.certificates,
            sn,
        })
    }

    /// `alipay_root_cert_sn`.
    pub fn sn(&self) -> &str {
        &self.sn
    }

    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }
}

/// Checks that `file` chains to `bundle` and that every certificate in it is valid at `at`
/// (the Java SDK's `AntCertificationUtil.isTrusted`; no revocation, like every Alipay SDK).
pub fn verify_chain(
    file: &CertificateFile,
    bundle: &RootBundle,
    at: DateTime<Utc>,
) -> Result<(), ChainError> {
    let certs = &file.certificates;
    if certs.iter().filter(|c| c.is_self_signed()).count() > 1 {
        return Err(ChainError::SeveralSelfSigned);
    }
    // Order the file from its top down, starting from the first certificate: go up while some
    // other certificate is the current top's issuer, then down while one was issued by the
    // current bottom.
    let mut order: Vec<usize> = vec![0];
    loop {
        let top = &certs[order[0]];
        if top.is_self_signed() {
            break;
        }
        match (0..certs.len()).find(|&i| !order.contains(&i) && certs[i].subject == top.issuer) {
            Some(i) => order.insert(0, i),
            None => break,
        }
    }
    loop {
        let bottom = &certs[order[order.len() - 1]];
        match (0..certs.len()).find(|&i| {
            !order.contains(&i) && certs[i].issuer == bottom.subject && !certs[i].is_self_signed()
        }) {
            Some(i) => order.push(i),
            None => break,
        }
    }
    if let Some(stray) = (0..certs.len()).find(|i| !order.contains(i)) {
        return Err(ChainError::NotOneChain {
            index: stray + 1,
            subject: certs[stray].subject.clone(),
        });
    }
    let check_time = |index: usize| {
        let cert = &certs[index];
        if cert.is_valid_at(at) {
            Ok(())
        } else {
            Err(ChainError::NotValidAt {
                index: index + 1,
                subject: cert.subject.clone(),
                at,
                not_before: cert.not_before,
                not_after: cert.not_after,
                hint: if at > cert.not_after {
                    " (expired)"
                } else {
                    " (not yet valid)"
                },
            })
        }
    };
    let top_index = order[0];
    let top = &certs[top_index];
    check_time(top_index)?;
    let candidates: Vec<&Certificate> = bundle
        .roots
        .iter()
        .filter(|root| root.subject == top.issuer)
        .collect();
    if candidates.is_empty() {
        return Err(ChainError::IssuerNotInBundle {
            issuer: top.issuer.clone(),
        });
    }
    // Two roots may share a subject (a re-issued root); any one of them may have signed.
    let mut last_error = None;
    let mut verified = false;
    for root in candidates {
        match top.signed_by(root, top_index + 1) {
            Ok(()) => {
                verified = true;
                break;
            }
            Err(error) => last_error = Some(error),
        }
    }
    if !verified {
        return Err(last_error.unwrap_or(ChainError::IssuerNotInBundle {
            issuer: top.issuer.clone(),
        }));
    }
    for pair in order.windows(2) {
        let (issuer, index) = (pair[0], pair[1]);
        check_time(index)?;
        certs[index].signed_by(&certs[issuer], index + 1)?;
    }
    Ok(())
}

/// The app's side of certificate mode: the two SNs every request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSns {
    pub app_cert_sn: String,
    pub alipay_root_cert_sn: String,
}

impl CertSns {
    /// Loads the app certificate for `app_key` and the root bundle, checking that the app
    /// certificate is one (not Alipay's, not a root), that it certifies `app_key`, and that it
    /// chains to the bundle and is valid `at`.
    pub fn load(
        app_cert_pem: &str,
        root_bundle: &RootBundle,
        app_key: &PrivateKey,
        at: DateTime<Utc>,
    ) -> Result<Self, CertError> {
        let file = CertificateFile::from_pem(app_cert_pem)?;
        let leaf = file.leaf();
        if leaf.is_self_signed() {
            return Err(CertError::RootWhereLeafNeeded {
                subject: leaf.subject.clone(),
            });
        }
        let key = leaf.public_key()?;
        if key != app_key.public_key() {
            if !leaf.looks_like_app_certificate() {
                return Err(CertError::AlipayCertWhereAppCertNeeded {
                    subject: leaf.subject.clone(),
                });
            }
            return Err(CertError::KeyDoesNotMatchAppCert {
                sn: leaf.sn.clone(),
            });
        }
        verify_chain(&file, root_bundle, at)?;
        Ok(CertSns {
            app_cert_sn: leaf.sn.clone(),
            alipay_root_cert_sn: root_bundle.sn.clone(),
        })
    }
}

/// A trusted Alipay certificate: its SN and key, ready to verify.
#[derive(Debug, Clone)]
pub struct TrustedCertificate {
    pub sn: String,
    pub key: PublicKey,
    pub file: CertificateFile,
}

/// The Alipay certificates trusted so far, by SN, and what a new one must satisfy to join them:
/// chain to `root`, be valid now, and name the same subject as the configured certificate (so a
/// CA-signed certificate of somebody else, the app's own included, is never taken for Alipay's).
///
/// Shared by every request of a service; reads (one per response) take a read lock on a small
/// map, writes happen once per Alipay rotation.
#[derive(Debug, Clone)]
pub struct AlipayCertificates {
    root: Arc<RootBundle>,
    alipay_subject: String,
    trusted: Arc<RwLock<HashMap<String, TrustedCertificate>>>,
}

impl AlipayCertificates {
    /// Starts from the configured Alipay certificate, checked the same way as any rotated one.
    /// `app_key`, when known, lets the check say "this is the app certificate" outright.
    pub fn new(
        alipay_cert_pem: &str,
        root: RootBundle,
        app_key: Option<&PrivateKey>,
        at: DateTime<Utc>,
    ) -> Result<Self, CertError> {
        let file = CertificateFile::from_pem(alipay_cert_pem)?;
        let leaf = file.leaf();
        if leaf.is_self_signed() {
            return Err(CertError::RootWhereLeafNeeded {
                subject: leaf.subject.clone(),
            });
        }
        let key = leaf.public_key()?;
        let is_app_key = app_key.is_some_and(|app| app.public_key() == key);
        if is_app_key || leaf.looks_like_app_certificate() {
            return Err(CertError::AppCertWhereAlipayCertNeeded {
                subject: leaf.subject.clone(),
            });
        }
        verify_chain(&file, &root, at)?;
        let store = AlipayCertificates {
            root: Arc::new(root),
            alipay_subject: leaf.subject.clone(),
            trusted: Arc::default(),
        };
        store.insert(TrustedCertificate {
            sn: leaf.sn.clone(),
            key,
            file,
        });
        Ok(store)
    }

    /// Trusts a further certificate of Alipay's (a rotation), after every check: it parses, is
    /// not self-signed, names Alipay's subject, chains to the root bundle and is valid `at`.
    /// Returns the trusted certificate; nothing is stored when any check fails.
    pub fn trust(&self, pem: &str, at: DateTime<Utc>) -> Result<TrustedCertificate, CertError> {
        let file = CertificateFile::from_pem(pem)?;
        let leaf = file.leaf();
        if leaf.is_self_signed() {
            return Err(CertError::RootWhereLeafNeeded {
                subject: leaf.subject.clone(),
            });
        }
        if leaf.subject != self.alipay_subject {
            return Err(CertError::NotForAlipay {
                subject: leaf.subject.clone(),
                expected: self.alipay_subject.clone(),
            });
        }
        verify_chain(&file, &self.root, at)?;
        let trusted = TrustedCertificate {
            sn: leaf.sn.clone(),
            key: leaf.public_key()?,
            file,
        };
        self.insert(trusted.clone());
        Ok(trusted)
    }

    fn insert(&self, certificate: TrustedCertificate) {
        let mut map = match self.trusted.write() {
            Ok(map) => map,
            // A panic while holding the lock cannot leave the map half-written (one insert).
            Err(poisoned) => poisoned.into_inner(),
        };
        map.insert(certificate.sn.clone(), certificate);
    }

    /// The key of the trusted certificate with this SN, while that certificate is valid: one
    /// that expired since it was trusted is no longer used (the caller sees an unknown SN and
    /// fetches it again, and the fetch's checks refuse it).
    pub fn key(&self, sn: &str) -> Option<PublicKey> {
        let map = match self.trusted.read() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(sn)
            .filter(|c| c.file.leaf().is_valid_at(Utc::now()))
            .map(|c| c.key.clone())
    }

    /// The trusted certificate with this SN, while it is valid.
    pub fn certificate(&self, sn: &str) -> Option<TrustedCertificate> {
        let map = match self.trusted.read() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(sn)
            .filter(|c| c.file.leaf().is_valid_at(Utc::now()))
            .cloned()
    }

    /// Every trusted key of a certificate valid now (for a message that names none).
    pub fn keys(&self) -> Vec<(String, PublicKey)> {
        let map = match self.trusted.read() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Utc::now();
        map.values()
            .filter(|c| c.file.leaf().is_valid_at(now))
            .map(|c| (c.sn.clone(), c.key.clone()))
            .collect()
    }

    /// SNs trusted so far.
    pub fn sns(&self) -> Vec<String> {
        let mut sns: Vec<String> = self.keys().into_iter().map(|(sn, _)| sn).collect();
        sns.sort();
        sns
    }

    pub fn root(&self) -> &RootBundle {
        &self.root
    }
}

/// `lowercase_hex(MD5(issuer + serial))`.
fn sn_of(issuer: &str, serial_decimal: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(issuer.as_bytes());
    md5.update(serial_decimal.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A big-endian unsigned integer in decimal (the serial, however long).
fn decimal(bytes: &[u8]) -> String {
    let mut number: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    if number.is_empty() {
        return "0".to_owned();
    }
    let mut digits = Vec::new();
    while !number.is_empty() {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 10) as u8;
            remainder = value % 10;
        }
        digits.push(b'0' + remainder as u8);
        let leading = number.iter().take_while(|&&b| b == 0).count();
        number.drain(..leading);
    }
    digits.iter().rev().map(|&d| char::from(d)).collect()
}

/// A name the way Java's `X500Principal.getName()` writes it: the RDNs from the last in the DER
/// to the first, `TYPE=value`, joined with `,`. Only what Alipay's certificates use is written;
/// anything that would need RFC 2253 escaping or an OID-typed attribute is refused rather than
/// hashed differently from Alipay.
fn rfc2253(name: &Name) -> Result<String, String> {
    let mut parts = Vec::new();
    for rdn in name.iter_rdn() {
        let mut attributes = rdn.iter();
        let (Some(attribute), None) = (attributes.next(), attributes.next()) else {
            return Err("a multi-valued RDN".into());
        };
        let label = match attribute.oid.to_string().as_str() {
            "2.5.4.3" => "CN",
            "2.5.4.11" => "OU",
            "2.5.4.10" => "O",
            "2.5.4.6" => "C",
            "2.5.4.7" => "L",
            "2.5.4.8" => "ST",
            other => return Err(format!("attribute {other}")),
        };
        let value = attribute
            .value
            .decode_as::<DirectoryString>()
            .map_err(|e| format!("{label} is not a directory string: {e}"))?;
        let text = value.value().into_owned();
        let needs_escaping = text.starts_with(['#', ' '])
            || text.ends_with(' ')
            || text.contains([',', '+', '"', '\\', '<', '>', ';']);
        if needs_escaping {
            return Err(format!("{label}={text:?} needs escaping"));
        }
        parts.push(format!("{label}={text}"));
    }
    parts.reverse();
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_written_in_decimal() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0x00, 0xff]), "255");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        assert_eq!(
            decimal(&[
                0xca, 0x71, 0x9e, 0x14, 0xd1, 0x14, 0x33, 0x85, 0xcd, 0xd0, 0x0b, 0xf3, 0x96, 0xd6,
                0xe0, 0x7f
            ]),
            "269093990963554857975798074614429966463"
        );
    }

    #[test]
    fn empty_and_keyless_texts_say_so() {
        assert_eq!(
            CertificateFile::from_pem(" \n").unwrap_err(),
            CertError::Empty
        );
        assert_eq!(
            CertificateFile::from_pem("MIIB").unwrap_err(),
            CertError::NoCertificate
        );
    }
}
