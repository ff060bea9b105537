//! AES content encryption (`encrypt_type=AES`, 接口内容加密).
//!
//! Alipay's scheme, as every official SDK implements it: the console's key is base64 (16 bytes
//! for AES-128, the console's default, or 32 for AES-256); AES-CBC with an IV of 16 zero bytes
//! and PKCS#7 padding; the plaintext is the UTF-8 JSON text and the ciphertext travels as
//! standard base64. The zero IV makes it deterministic, which is Alipay's design, not ours: it
//! hides content from intermediaries, while the RSA signature (over the ciphertext) carries
//! authenticity. aws-lc-rs (already the RSA backend) does the cipher.

use std::fmt;

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why an AES key text was refused, or a ciphertext could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AesError {
    #[error("the AES key is empty (is the variable or file set?)")]
    EmptyKey,
    #[error(
        "the AES key is not base64; paste the key exactly as the Alipay console shows it \
         (接口内容加密方式, e.g. 24 characters ending in ==)"
    )]
    KeyNotBase64,
    #[error(
        "the AES key decodes to {0} bytes; Alipay's keys are 16 bytes (AES-128, 24 base64 \
         characters) or 32 bytes (AES-256)"
    )]
    KeyLength(usize),
    #[error("the encrypted content is not base64")]
    CiphertextNotBase64,
    #[error(
        "the encrypted content does not decrypt with the configured AES key (wrong key, or the \
         content was changed)"
    )]
    Decrypt,
    #[error("the decrypted content is not UTF-8 (wrong AES key?)")]
    NotUtf8,
    #[error("the AES cipher failed")]
    Cipher,
}

/// The app's AES key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey {
    bytes: Vec<u8>,
}

impl AesKey {
    /// Loads the key from the console's base64 text (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, AesError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err(AesError::EmptyKey);
        }
        let bytes = STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| AesError::KeyNotBase64)?;
        match bytes.len() {
            16 | 32 => Ok(AesKey { bytes }),
            other => Err(AesError::KeyLength(other)),
        }
    }

    /// Key size in bits.
    pub fn bits(&self) -> usize {
        self.bytes.len() * 8
    }

    fn unbound(&self) -> Result<UnboundCipherKey, AesError> {
        let algorithm = if self.bytes.len() == 16 {
            &AES_128
        } else {
            &AES_256
        };
        UnboundCipherKey::new(algorithm, &self.bytes).map_err(|_| AesError::Cipher)
    }

    /// base64(AES-CBC(zero IV, PKCS#7, UTF-8 `plaintext`)).
    pub fn encrypt(&self, plaintext: &str) -> Result<String, AesError> {
        let key =
            PaddedBlockEncryptingKey::cbc_pkcs7(self.unbound()?).map_err(|_| AesError::Cipher)?;
        let mut buffer = plaintext.as_bytes().to_vec();
        key.less_safe_encrypt(
            &mut buffer,
            EncryptionContext::Iv128(FixedLength::from([0u8; 16])),
        )
        .map_err(|_| AesError::Cipher)?;
        Ok(STANDARD.encode(buffer))
    }

    /// The UTF-8 text inside a base64 ciphertext.
    pub fn decrypt(&self, ciphertext_base64: &str) -> Result<String, AesError> {
        let mut buffer = STANDARD
            .decode(ciphertext_base64.trim().as_bytes())
            .map_err(|_| AesError::CiphertextNotBase64)?;
        let key =
            PaddedBlockDecryptingKey::cbc_pkcs7(self.unbound()?).map_err(|_| AesError::Cipher)?;
        let plain = key
            .decrypt(
                &mut buffer,
                DecryptionContext::Iv128(FixedLength::from([0u8; 16])),
            )
            .map_err(|_| AesError::Decrypt)?;
        String::from_utf8(plain.to_vec()).map_err(|_| AesError::NotUtf8)
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AesKey(AES-{}, redacted)", self.bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_keys() {
        let key = AesKey::from_base64("LLMLeQdrBQgRinXO9E0M+Q==\n").unwrap();
        let sealed = key.encrypt("{\"a\":\"测试\"}").unwrap();
        assert_eq!(key.decrypt(&sealed).unwrap(), "{\"a\":\"测试\"}");
        assert_eq!(AesKey::from_base64("").unwrap_err(), AesError::EmptyKey);
        assert_eq!(
            AesKey::from_base64("AAAA").unwrap_err(),
            AesError::KeyLength(3)
        );
        assert_eq!(
            AesKey::from_base64("!!").unwrap_err(),
            AesError::KeyNotBase64
        );
        assert!(!format!("{key:?}").contains("LLML"));
    }
}
