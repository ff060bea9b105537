//! Just enough DER to tell RSA key encodings apart before handing them to the crypto backend.
//!
//! The backend's own errors say "invalid encoding" for everything; a user who pasted a public key
//! where a private key belongs deserves to be told exactly that. So the loader first reads the
//! outer structure here, decides what the text is, and only then parses it for real.

/// What a DER blob looks like from the outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyShape {
    /// `RSAPrivateKey` (PKCS#1): `SEQUENCE { INTEGER 0, INTEGER n, ... }`.
    Pkcs1Private { modulus_bits: usize },
    /// `PrivateKeyInfo` (PKCS#8) around an RSA key.
    Pkcs8Private { modulus_bits: usize },
    /// `RSAPublicKey` (PKCS#1): `SEQUENCE { INTEGER n, INTEGER e }`.
    Pkcs1Public { modulus_bits: usize, pkcs1: Vec<u8> },
    /// `SubjectPublicKeyInfo` (X.509) around an RSA key; `pkcs1` is the inner `RSAPublicKey`.
    SpkiPublic { modulus_bits: usize, pkcs1: Vec<u8> },
    /// A well-formed PKCS#8 or SPKI structure for an algorithm other than RSA.
    NotRsa { private: bool },
}

/// OID 1.2.840.113549.1.1.1 (rsaEncryption), content bytes only.
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// One TLV element.
struct Element<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and the rest.
fn read(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, tail) = rest.split_at(count);
        rest = tail;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((Element { tag, content }, rest))
}

/// Reads exactly one element that fills `input` entirely.
fn read_whole(input: &[u8]) -> Option<Element<'_>> {
    match read(input)? {
        (element, []) => Some(element),
        _ => None,
    }
}

/// Bit length of a positive DER INTEGER's content.
fn integer_bits(content: &[u8]) -> usize {
    let significant: &[u8] = {
        let start = content
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(content.len());
        &content[start..]
    };
    match significant.first() {
        Some(&top) => (significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

/// Elements of a SEQUENCE's content, in order.
fn children(mut content: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut items = Vec::new();
    while !content.is_empty() {
        let (element, rest) = read(content)?;
        items.push(element);
        content = rest;
    }
    Some(items)
}

/// Classifies `der`, or `None` when it is not a DER structure we recognise at all.
pub(crate) fn classify(der: &[u8]) -> Option<KeyShape> {
    let outer = read_whole(der)?;
    if outer.tag != TAG_SEQUENCE {
        return None;
    }
    let items = children(outer.content)?;
    match items.as_slice() {
        // RSAPublicKey: exactly two INTEGERs.
        [n, e] if n.tag == TAG_INTEGER && e.tag == TAG_INTEGER => Some(KeyShape::Pkcs1Public {
            modulus_bits: integer_bits(n.content),
            pkcs1: der.to_vec(),
        }),
        // SubjectPublicKeyInfo: AlgorithmIdentifier, BIT STRING.
        [algorithm, key] if algorithm.tag == TAG_SEQUENCE && key.tag == TAG_BIT_STRING => {
            if !is_rsa_algorithm(algorithm.content)? {
                return Some(KeyShape::NotRsa { private: false });
            }
            // A BIT STRING starts with the count of unused bits, 0 for DER keys.
            let (&0, inner) = key.content.split_first()? else {
                return None;
            };
            match classify(inner)? {
                KeyShape::Pkcs1Public {
                    modulus_bits,
                    pkcs1,
                } => Some(KeyShape::SpkiPublic {
                    modulus_bits,
                    pkcs1,
                }),
                _ => None,
            }
        }
        // PrivateKeyInfo: INTEGER version, AlgorithmIdentifier, OCTET STRING, [attributes].
        [version, algorithm, key, ..]
            if version.tag == TAG_INTEGER
                && algorithm.tag == TAG_SEQUENCE
                && key.tag == TAG_OCTET_STRING =>
        {
            if !is_rsa_algorithm(algorithm.content)? {
                return Some(KeyShape::NotRsa { private: true });
            }
            match classify(key.content)? {
                KeyShape::Pkcs1Private { modulus_bits } => {
                    Some(KeyShape::Pkcs8Private { modulus_bits })
                }
                _ => None,
            }
        }
        // RSAPrivateKey: version, n, e, d, p, q, dp, dq, qinv (9 INTEGERs, more for multi-prime).
        [version, n, rest @ ..]
            if version.tag == TAG_INTEGER
                && n.tag == TAG_INTEGER
                && rest.len() >= 7
                && rest.iter().take(7).all(|item| item.tag == TAG_INTEGER) =>
        {
            Some(KeyShape::Pkcs1Private {
                modulus_bits: integer_bits(n.content),
            })
        }
        _ => None,
    }
}

/// Whether an AlgorithmIdentifier's content names rsaEncryption. `None` when malformed.
fn is_rsa_algorithm(content: &[u8]) -> Option<bool> {
    let (oid, _) = read(content)?;
    if oid.tag != TAG_OID {
        return None;
    }
    Some(oid.content == RSA_ENCRYPTION_OID)
}

/// Wraps a PKCS#1 `RSAPublicKey` into a `SubjectPublicKeyInfo`, the form Alipay's console shows.
pub(crate) fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption, NULL }
    let mut algorithm = vec![TAG_OID, RSA_ENCRYPTION_OID.len() as u8];
    algorithm.extend_from_slice(RSA_ENCRYPTION_OID);
    algorithm.extend_from_slice(&[0x05, 0x00]);
    let algorithm = tlv(TAG_SEQUENCE, &algorithm);
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let bits = tlv(TAG_BIT_STRING, &bits);
    tlv(TAG_SEQUENCE, &[algorithm, bits].concat())
}

/// Extracts the PKCS#1 `RSAPrivateKey` from a PKCS#8 `PrivateKeyInfo` (the key tool's "non-Java"
/// form is exactly that inner structure).
pub(crate) fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let outer = read_whole(pkcs8)?;
    let items = children(outer.content)?;
    let key = items.get(2)?;
    (key.tag == TAG_OCTET_STRING).then(|| key.content.to_vec())
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_key() {
        assert_eq!(classify(b""), None);
        assert_eq!(classify(b"\x30\x05\x02\x01"), None);
        assert_eq!(classify(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn integer_bits_ignores_the_sign_byte() {
        assert_eq!(integer_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(integer_bits(&[0x01]), 1);
    }
}
