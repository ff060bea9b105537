//! Loading the merchant's private key and Alipay's public key from whatever text users paste.
//!
//! Accepted: PKCS#1 PEM, PKCS#8 PEM, SPKI PEM, PKCS#1 public PEM, and bare base64 DER of any of
//! them (what Alipay's key tool and console hand out); any PEM label (the DER decides, not the
//! label); header, body and footer on one line; spaces, tabs and line breaks anywhere.
//! Refused, with a message in words: empty text, text that is not base64, DER that does not
//! parse, a non-RSA key, a public key where a private key is needed (and the reverse), and keys
//! shorter than 2048 bits.
//!
//! The RSA arithmetic lives in [`crate::crypto`]; this module only decides what a text is.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::crypto::{RsaPrivate, RsaPublic};
use crate::der::{self, KeyShape};

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
        let (bits, format, pkcs1) = match der::classify(der).ok_or(KeyError::Corrupt)? {
            KeyShape::Pkcs1Private { modulus_bits } => {
                (modulus_bits, KeyFormat::Pkcs1, der.to_vec())
            }
            KeyShape::Pkcs8Private { modulus_bits } => (
                modulus_bits,
                KeyFormat::Pkcs8,
                der::pkcs1_from_pkcs8(der).ok_or(KeyError::Corrupt)?,
            ),
            KeyShape::Pkcs1Public { .. } | KeyShape::SpkiPublic { .. } => {
                return Err(KeyError::PublicWherePrivateNeeded);
            }
            KeyShape::NotRsa { .. } => return Err(KeyError::NotRsa),
        };
        if bits < MIN_KEY_BITS {
            return Err(KeyError::TooShort { bits });
        }
        let inner = RsaPrivate::from_pkcs1_der(&pkcs1)?;
        Ok(PrivateKey { inner, format })
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
        let (bits, format, pkcs1) = match der::classify(der).ok_or(KeyError::Corrupt)? {
            KeyShape::SpkiPublic {
                modulus_bits,
                pkcs1,
            } => (modulus_bits, KeyFormat::Spki, pkcs1),
            KeyShape::Pkcs1Public {
                modulus_bits,
                pkcs1,
            } => (modulus_bits, KeyFormat::Pkcs1Public, pkcs1),
            KeyShape::Pkcs1Private { .. } | KeyShape::Pkcs8Private { .. } => {
                return Err(KeyError::PrivateWherePublicNeeded);
            }
            KeyShape::NotRsa { .. } => return Err(KeyError::NotRsa),
        };
        if bits < MIN_KEY_BITS {
            return Err(KeyError::TooShort { bits });
        }
        Ok(PublicKey {
            inner: RsaPublic::from_pkcs1_der(&pkcs1)?,
            format,
        })
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
        der::spki_from_pkcs1(self.inner.pkcs1_der())
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

/// Turns any supported key text into DER: strips PEM armour (any label, same-line or not) and
/// all whitespace, then decodes strict standard base64.
fn decode_text(text: &str) -> Result<Vec<u8>, KeyError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(KeyError::Empty);
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

/// PEM armour with 64-column lines.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
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
    fn debug_output_holds_no_key_material() {
        let key = PrivateKey::generate().unwrap();
        let printed = format!("{key:?}");
        let body = STANDARD.encode(key.to_pkcs1_der());
        assert!(!printed.contains(&body[40..80]));
    }
}
