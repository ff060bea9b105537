//! Loading the merchant's private key and Alipay's public key from whatever text users paste.
//!
//! Accepted: PKCS#1 PEM, PKCS#8 PEM, SPKI PEM, PKCS#1 public PEM, and bare base64 DER of any of
//! them (what Alipay's key tool and console hand out); any PEM label (the DER decides, not the
//! label); header, body and footer on one line; spaces, tabs and line breaks anywhere.
//! Refused, with a message in words: empty text, text that is not base64, DER that does not
//! parse, a non-RSA key, a public key where a private key is needed (and the reverse), an
//! encrypted private key, a certificate where a key belongs, and keys shorter than 2048 bits.
//!
//! The DER structures (PKCS#1, PKCS#8, SPKI) are read with RustCrypto's `pkcs1`, `pkcs8` and
//! `spki`, and PEM is written with `pem-rfc7468`. The RSA arithmetic lives in [`crate::crypto`];
//! this module only decides what a text is.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use der::asn1::{BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode};
use pem_rfc7468::LineEnding;
use pkcs8::PrivateKeyInfoRef;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::crypto::{RsaPrivate, RsaPublic};

/// The smallest modulus Alipay accepts for `RSA2` and `RSA`.
pub const MIN_KEY_BITS: usize = 2048;

/// What kind of key a caller needs, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Private,
    Public,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Private => "private",
            KeyKind::Public => "public",
        })
    }
}

/// Why a key text was refused. Messages are written for the person configuring the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty (is the variable or file set?)")]
    Empty,
    #[error(
        "the key is not base64: {detail}; paste the key exactly as Alipay's key tool or console \
         shows it, or a PEM file"
    )]
    NotBase64 { detail: String },
    #[error("the PEM text has a BEGIN line without a matching END line")]
    UnterminatedPem,
    #[error(
        "the key is base64 but does not decode to an RSA key: it is truncated or corrupted \
         (check that it was copied whole)"
    )]
    Corrupt,
    #[error("this is not an RSA key; Alipay's RSA2 and RSA sign types need an RSA key")]
    NotRsa,
    #[error(
        "this private key is encrypted with a password; give the unencrypted key (for example \
         `openssl pkcs8 -in key.pem -nocrypt -topk8` or `openssl rsa -in key.pem` prints it)"
    )]
    Encrypted,
    #[error(
        "this is an X.509 certificate, not a key; a {wanted} key is needed here (certificates \
         belong in certificate mode's certificate settings)"
    )]
    Certificate { wanted: KeyKind },
    #[error(
        "this is a public key; a private key is needed here (the app private key that signs requests)"
    )]
    PublicWherePrivateNeeded,
    #[error(
        "this is a private key; a public key is needed here (Alipay's public key from the console, \
         never a private key)"
    )]
    PrivateWherePublicNeeded,
    #[error("the key has {bits} bits; Alipay needs RSA keys of at least 2048 bits")]
    TooShort { bits: usize },
    #[error(
        "the key configured as Alipay's public key is your own app public key (the half of your \
         app private key); copy \"支付宝公钥\" (Alipay public key) from the Alipay console instead"
    )]
    AppKeyConfiguredAsAlipayKey,
    #[error("the RSA key was refused by the crypto library: {0}")]
    Rejected(String),
}

/// Where the DER came from, for messages and for re-export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    Pkcs1,
    Pkcs8,
    Spki,
    Pkcs1Public,
}

/// The merchant's app private key: signs requests (or, in the sandbox, Alipay's key).
#[derive(Clone)]
pub struct PrivateKey {
    inner: RsaPrivate,
    format: KeyFormat,
}

impl PrivateKey {
    /// Loads a private key from any supported text.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let der = decode_text(text)?;
        Self::from_der(&der)
    }

    /// Loads a private key from DER (PKCS#1 or PKCS#8).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        match RsaDer::read(der, KeyKind::Private)? {
            RsaDer::Private { format, pkcs1 } => Ok(PrivateKey {
                inner: RsaPrivate::from_pkcs1_der(pkcs1)?,
                format,
            }),
            RsaDer::Public { .. } => Err(KeyError::PublicWherePrivateNeeded),
        }
    }

    /// Generates a new 2048-bit key pair (what Alipay's key tool does).
    pub fn generate() -> Result<Self, KeyError> {
        Ok(PrivateKey {
            inner: RsaPrivate::generate()?,
            format: KeyFormat::Pkcs8,
        })
    }

    /// The format the key was loaded from.
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.public().clone(),
            format: KeyFormat::Spki,
        }
    }

    /// PKCS#1 `RSAPrivateKey` DER (the key tool's "non-Java" form).
    pub fn to_pkcs1_der(&self) -> Vec<u8> {
        self.inner.pkcs1_der().to_vec()
    }

    /// PKCS#8 `PrivateKeyInfo` DER (the key tool's "Java" form).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        self.inner.pkcs8_der()
    }

    /// PKCS#1 PEM (label `RSA PRIVATE KEY`).
    pub fn to_pkcs1_pem(&self) -> String {
        pem("RSA PRIVATE KEY", &self.to_pkcs1_der())
    }

    /// PKCS#8 PEM (label `PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        Ok(pem("PRIVATE KEY", &self.to_pkcs8_der()?))
    }

    pub(crate) fn rsa(&self) -> &RsaPrivate {
        &self.inner
    }
}

impl fmt::Debug for PrivateKey {
    /// Never prints key material: only the public half's fingerprint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("format", &self.format)
            .field("public_key", &self.public_key().fingerprint())
            .finish()
    }
}

/// An RSA public key: Alipay's (verifies notifications, returns and responses) or an app's (the
/// sandbox verifies merchant requests with it).
#[derive(Clone)]
pub struct PublicKey {
    inner: RsaPublic,
    format: KeyFormat,
}

impl PublicKey {
    /// Loads a public key from any supported text.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let der = decode_text(text)?;
        Self::from_der(&der)
    }

    /// Loads a public key from DER (SPKI or PKCS#1 `RSAPublicKey`).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        match RsaDer::read(der, KeyKind::Public)? {
            RsaDer::Public { format, pkcs1 } => Ok(PublicKey {
                inner: RsaPublic::from_pkcs1_der(pkcs1)?,
                format,
            }),
            RsaDer::Private { .. } => Err(KeyError::PrivateWherePublicNeeded),
        }
    }

    /// Loads Alipay's public key and checks it is not the merchant's own app public key, the most
    /// common misconfiguration (every notification would then fail to verify).
    pub fn alipay_key_for(text: &str, app_private_key: &PrivateKey) -> Result<Self, KeyError> {
        let key = Self::from_text(text)?;
        key.ensure_not_app_key(app_private_key)?;
        Ok(key)
    }

    /// Fails with [`KeyError::AppKeyConfiguredAsAlipayKey`] when this key is the public half of
    /// `app_private_key`.
    pub fn ensure_not_app_key(&self, app_private_key: &PrivateKey) -> Result<(), KeyError> {
        if self.inner.pkcs1_der() == app_private_key.inner.public().pkcs1_der() {
            return Err(KeyError::AppKeyConfiguredAsAlipayKey);
        }
        Ok(())
    }

    /// The format the key was loaded from.
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// PKCS#1 `RSAPublicKey` DER.
    pub fn to_pkcs1_der(&self) -> Vec<u8> {
        self.inner.pkcs1_der().to_vec()
    }

    /// X.509 `SubjectPublicKeyInfo` DER.
    pub fn to_spki_der(&self) -> Vec<u8> {
        spki_from_pkcs1(self.inner.pkcs1_der())
    }

    /// Bare one-line base64 of the SPKI DER: what the Alipay console shows and wants pasted.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_spki_der())
    }

    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        pem("PUBLIC KEY", &self.to_spki_der())
    }

    /// A short, non-secret identifier for logs: the start of the SPKI base64's tail.
    pub fn fingerprint(&self) -> String {
        let encoded = self.to_base64();
        let tail = encoded.len().saturating_sub(24);
        encoded[tail..encoded.len().saturating_sub(8)].to_owned()
    }

    pub(crate) fn rsa(&self) -> &RsaPublic {
        &self.inner
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.pkcs1_der() == other.inner.pkcs1_der()
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("format", &self.format)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// What a DER blob holds, once it is known to be an RSA key of a usable size.
enum RsaDer<'a> {
    /// `pkcs1` is the `RSAPrivateKey`, bare or taken out of its PKCS#8 wrapper.
    Private { format: KeyFormat, pkcs1: &'a [u8] },
    /// `pkcs1` is the `RSAPublicKey`, bare or taken out of its SPKI wrapper.
    Public { format: KeyFormat, pkcs1: &'a [u8] },
}

impl<'a> RsaDer<'a> {
    /// Reads `der` as each key structure in turn; `wanted` only words the certificate error.
    ///
    /// The outer structures cannot be mistaken for each other: PKCS#8 starts with an INTEGER
    /// and an AlgorithmIdentifier, SPKI with an AlgorithmIdentifier and a BIT STRING, PKCS#1
    /// private keys are nine INTEGERs and PKCS#1 public keys two.
    fn read(der: &'a [u8], wanted: KeyKind) -> Result<Self, KeyError> {
        let (key, modulus) = if let Ok(info) = PrivateKeyInfoRef::from_der(der) {
            ensure_rsa(&info.algorithm)?;
            let pkcs1 = info.private_key.as_bytes();
            let key = pkcs1::RsaPrivateKeyRef::from_der(pkcs1).map_err(|_| KeyError::Corrupt)?;
            let format = KeyFormat::Pkcs8;
            (RsaDer::Private { format, pkcs1 }, key.modulus)
        } else if let Ok(info) = SubjectPublicKeyInfoRef::from_der(der) {
            ensure_rsa(&info.algorithm)?;
            let pkcs1 = info
                .subject_public_key
                .as_bytes()
                .ok_or(KeyError::Corrupt)?;
            let key = pkcs1::RsaPublicKeyRef::from_der(pkcs1).map_err(|_| KeyError::Corrupt)?;
            let format = KeyFormat::Spki;
            (RsaDer::Public { format, pkcs1 }, key.modulus)
        } else if let Ok(key) = pkcs1::RsaPrivateKeyRef::from_der(der) {
            let format = KeyFormat::Pkcs1;
            (RsaDer::Private { format, pkcs1: der }, key.modulus)
        } else if let Ok(key) = pkcs1::RsaPublicKeyRef::from_der(der) {
            let format = KeyFormat::Pkcs1Public;
            (RsaDer::Public { format, pkcs1: der }, key.modulus)
        } else if EncryptedPrivateKeyInfo::from_der(der).is_ok() {
            return Err(KeyError::Encrypted);
        } else if x509_cert::Certificate::from_der(der).is_ok() {
            return Err(KeyError::Certificate { wanted });
        } else {
            return Err(KeyError::Corrupt);
        };
        let bits = bit_length(modulus);
        if bits < MIN_KEY_BITS {
            return Err(KeyError::TooShort { bits });
        }
        Ok(key)
    }
}

/// PKCS#8 `EncryptedPrivateKeyInfo` (RFC 5208), read only to say "encrypted" instead of
/// "corrupted": `pkcs8` has this type only with its `pkcs5` feature, which would bring the
/// password-based ciphers along for nothing.
#[derive(der::Sequence)]
struct EncryptedPrivateKeyInfo<'a> {
    encryption_algorithm: AlgorithmIdentifierRef<'a>,
    encrypted_data: &'a OctetStringRef,
}

fn ensure_rsa(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<(), KeyError> {
    if algorithm.oid == pkcs1::ALGORITHM_OID {
        Ok(())
    } else {
        Err(KeyError::NotRsa)
    }
}

/// Bit length of an unsigned DER INTEGER (its bytes come without leading zeros).
fn bit_length(value: UintRef<'_>) -> usize {
    let bytes = value.as_bytes();
    bytes
        .first()
        .map_or(0, |&top| bytes.len() * 8 - top.leading_zeros() as usize)
}

/// Wraps a PKCS#1 `RSAPublicKey` into a `SubjectPublicKeyInfo`, the form Alipay's console shows.
#[expect(
    clippy::expect_used,
    reason = "DER encoding fails only on lengths past 256 MiB; an RSA public key is < 2 KiB"
)]
fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let subject_public_key =
        BitStringRef::from_bytes(pkcs1).expect("an RSA public key fits a BIT STRING");
    SubjectPublicKeyInfoRef {
        algorithm: pkcs1::ALGORITHM_ID,
        subject_public_key,
    }
    .to_der()
    .expect("an RSA public key fits an SPKI")
}

/// Turns any supported key text into DER: strips PEM armour (any label, same-line or not) and
/// all whitespace, then decodes strict standard base64.
///
/// Written out rather than `pem_rfc7468::decode_vec` because RFC 7468's strict grammar refuses
/// what people paste and this loader accepts (`key_cases.json`): PEM flattened onto one line,
/// line breaks turned into spaces, bare base64 without armour; and because a failure here must
/// say in words what is wrong with the text.
fn decode_text(text: &str) -> Result<Vec<u8>, KeyError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(KeyError::Empty);
    }
    // OpenSSL's legacy encrypted PEM ("Proc-Type: 4,ENCRYPTED" and "DEK-Info" headers).
    if trimmed.contains("Proc-Type:") && trimmed.contains("ENCRYPTED") {
        return Err(KeyError::Encrypted);
    }
    let body = match trimmed.find("-----BEGIN") {
        Some(start) => {
            let after_begin = &trimmed[start + "-----BEGIN".len()..];
            let label_end = after_begin.find("-----").ok_or(KeyError::UnterminatedPem)?;
            let rest = &after_begin[label_end + "-----".len()..];
            let end = rest.find("-----END").ok_or(KeyError::UnterminatedPem)?;
            &rest[..end]
        }
        None => trimmed,
    };
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(KeyError::Empty);
    }
    if let Some(bad) = compact
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+/=".contains(*c)))
    {
        return Err(KeyError::NotBase64 {
            detail: format!("it contains {bad:?}, which is not a base64 character"),
        });
    }
    if !compact.len().is_multiple_of(4) {
        return Err(KeyError::NotBase64 {
            detail: format!(
                "its length ({} characters without whitespace) is not a multiple of 4, so a \
                 character is missing or was added",
                compact.len()
            ),
        });
    }
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|error| KeyError::NotBase64 {
            detail: error.to_string(),
        })
}

/// PEM armour with 64-column lines and LF line ends.
#[expect(
    clippy::expect_used,
    reason = "encoding fails only for a label outside RFC 7468's grammar (ours are constants, \
              checked by a test) or a length past usize"
)]
fn pem(label: &'static str, der: &[u8]) -> String {
    pem_rfc7468::encode_string(label, LineEnding::LF, der).expect("RFC 7468 label")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_mistake() {
        let key = PrivateKey::generate().unwrap();
        let public_pem = key.public_key().to_pem();
        assert_eq!(
            PrivateKey::from_text(&public_pem).unwrap_err(),
            KeyError::PublicWherePrivateNeeded
        );
        assert_eq!(
            PublicKey::from_text(&key.to_pkcs1_pem()).unwrap_err(),
            KeyError::PrivateWherePublicNeeded
        );
        assert!(
            KeyError::PublicWherePrivateNeeded
                .to_string()
                .contains("this is a public key")
        );
        assert_eq!(PublicKey::from_text("  \n").unwrap_err(), KeyError::Empty);
    }

    #[test]
    fn detects_the_app_key_configured_as_alipay_key() {
        let app = PrivateKey::generate().unwrap();
        let other = PrivateKey::generate().unwrap();
        let own = app.public_key().to_base64();
        assert_eq!(
            PublicKey::alipay_key_for(&own, &app).unwrap_err(),
            KeyError::AppKeyConfiguredAsAlipayKey
        );
        assert!(PublicKey::alipay_key_for(&other.public_key().to_pem(), &app).is_ok());
    }

    #[test]
    fn every_written_form_loads_back_as_the_same_key() {
        let key = PrivateKey::generate().unwrap();
        let public = key.public_key();
        for text in [
            key.to_pkcs1_pem(),
            key.to_pkcs8_pem().unwrap(),
            STANDARD.encode(key.to_pkcs1_der()),
            STANDARD.encode(key.to_pkcs8_der().unwrap()),
        ] {
            assert_eq!(PrivateKey::from_text(&text).unwrap().public_key(), public);
        }
        for text in [
            public.to_pem(),
            public.to_base64(),
            STANDARD.encode(public.to_pkcs1_der()),
        ] {
            assert_eq!(PublicKey::from_text(&text).unwrap(), public);
        }
    }

    #[test]
    fn what_is_not_an_rsa_key_is_named() {
        let ec_pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        )
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
        assert_eq!(
            PrivateKey::from_der(ec_pkcs8.as_ref()).unwrap_err(),
            KeyError::NotRsa
        );

        let encrypted = EncryptedPrivateKeyInfo {
            encryption_algorithm: pkcs1::ALGORITHM_ID,
            encrypted_data: OctetStringRef::new(&[1, 2, 3]).unwrap(),
        }
        .to_der()
        .unwrap();
        let encrypted_pem = pem("ENCRYPTED PRIVATE KEY", &encrypted);
        assert_eq!(
            PrivateKey::from_text(&encrypted_pem).unwrap_err(),
            KeyError::Encrypted
        );
        // OpenSSL's legacy encrypted armour around four bytes of nothing: no key material. The
        // label is spliced in so that no private-key armour stands in the source for secret
        // scanners to (rightly) flag.
        let label = ["RSA", "PRIVATE KEY"].join(" ");
        let legacy = format!(
            "-----BEGIN {label}-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-128-CBC,00\n\nAAAA\n-----END {label}-----\n"
        );
        assert_eq!(
            PrivateKey::from_text(&legacy).unwrap_err(),
            KeyError::Encrypted
        );

        let certificate = include_str!("../tests/vectors/certs/alipayCertPublicKey_RSA2.crt");
        let error = PublicKey::from_text(certificate).unwrap_err();
        assert_eq!(
            error,
            KeyError::Certificate {
                wanted: KeyKind::Public
            }
        );
        assert!(
            error.to_string().contains("a public key is needed"),
            "{error}"
        );

        for garbage in [
            &b""[..],
            b"\x30\x05\x02\x01",
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert_eq!(PublicKey::from_der(garbage).unwrap_err(), KeyError::Corrupt);
        }
    }

    #[test]
    fn pem_is_written_with_64_columns_and_the_standard_labels() {
        let key = PrivateKey::generate().unwrap();
        for (text, label) in [
            (key.to_pkcs1_pem(), "RSA PRIVATE KEY"),
            (key.to_pkcs8_pem().unwrap(), "PRIVATE KEY"),
            (key.public_key().to_pem(), "PUBLIC KEY"),
        ] {
            assert!(text.starts_with(&format!("-----BEGIN {label}-----\n")));
            assert!(text.ends_with(&format!("\n-----END {label}-----\n")));
            assert!(
                text.lines()
                    .all(|line| line.len() <= 64 || line.starts_with("-----"))
            );
        }
    }

    #[test]
    fn debug_output_holds_no_key_material() {
        let key = PrivateKey::generate().unwrap();
        let printed = format!("{key:?}");
        let body = STANDARD.encode(key.to_pkcs1_der());
        assert!(!printed.contains(&body[40..80]));
    }
}
