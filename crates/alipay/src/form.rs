//! `application/x-www-form-urlencoded`, both ways, exactly as the protocol needs it.
//!
//! Decoding happens **once**, on the raw bytes: `+` is a space, `%XX` one byte (either hex case),
//! and the result must be UTF-8. A value that is itself URL-encoded (`passback_params`) stays
//! encoded once. A repeated name is refused, because a verifier and a business layer that read
//! different copies of one name are how forgeries get through.
//!
//! Encoding follows Python's `quote_plus` (what the vectors and python-alipay-sdk use): every byte
//! except `A-Z a-z 0-9 _ . - ~` becomes `%XX` with uppercase hex, and a space becomes `+`.
//!
//! The bytes are turned over by `percent-encoding`; `form_urlencoded` (WHATWG's rules) is not
//! used because its rules differ from the protocol's on exactly the points above:
//! - its serializer keeps `*` and escapes `~`, where `quote_plus` escapes `*` and keeps `~`, so a
//!   pay link or body it wrote would differ from the vectors and from python-alipay-sdk's;
//! - its parser passes a `%` that starts no escape through as it is and replaces invalid UTF-8
//!   with U+FFFD, where this module refuses both: a signature checked over a guessed decoding
//!   is a signature over text nobody sent.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};

/// Why a form body or query string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form is empty")]
    Empty,
    #[error("broken percent-encoding in {name:?}: '%' must be followed by two hex digits")]
    BadPercentEncoding { name: String },
    #[error("the value of {name:?} is not valid UTF-8 after decoding (charset must be utf-8)")]
    NotUtf8 { name: String },
    #[error("the parameter {name:?} occurs more than once")]
    DuplicateName { name: String },
    #[error("a parameter has an empty name")]
    EmptyName,
}

/// Decoded `(name, value)` pairs in the order received.
pub type FormPairs = Vec<(String, String)>;

/// Decodes a raw form body or query string exactly once.
pub fn decode(raw: &[u8]) -> Result<FormPairs, FormError> {
    if raw.is_empty() {
        return Err(FormError::Empty);
    }
    let mut pairs: FormPairs = Vec::with_capacity(raw.iter().filter(|&&b| b == b'&').count() + 1);
    for piece in raw.split(|&b| b == b'&') {
        // `a=1&&b=2` and a trailing `&` carry no parameter; browsers and Alipay never send them,
        // and skipping them changes nothing that is signed.
        if piece.is_empty() {
            continue;
        }
        let (raw_name, raw_value) = match piece.iter().position(|&b| b == b'=') {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, &b""[..]),
        };
        let name = decode_component(raw_name, "")?;
        if name.is_empty() {
            return Err(FormError::EmptyName);
        }
        let value = decode_component(raw_value, &name)?;
        pairs.push((name, value));
    }
    if pairs.is_empty() {
        return Err(FormError::Empty);
    }
    // Repeated names, found by sorting borrowed names: no hashing and no copies on the hot path
    // (every notification passes here), and O(n log n) however many parameters a body carries.
    let mut names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(FormError::DuplicateName {
            name: twice[0].to_owned(),
        });
    }
    Ok(pairs)
}

fn decode_component(raw: &[u8], name: &str) -> Result<String, FormError> {
    let label = |decoded: &[u8]| {
        if name.is_empty() {
            String::from_utf8_lossy(decoded).into_owned()
        } else {
            name.to_owned()
        }
    };
    // Most values have nothing to decode: one UTF-8 check and one copy.
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| FormError::NotUtf8 { name: label(raw) });
    }
    if !every_percent_starts_an_escape(raw) {
        return Err(FormError::BadPercentEncoding { name: label(raw) });
    }
    // `+` is a space, and `%2B` a plus: split on the `+`s first, then decode each piece.
    let mut bytes = Vec::with_capacity(raw.len());
    for (index, piece) in raw.split(|&b| b == b'+').enumerate() {
        if index > 0 {
            bytes.push(b' ');
        }
        bytes.extend(percent_decode(piece));
    }
    String::from_utf8(bytes).map_err(|error| FormError::NotUtf8 {
        name: label(error.as_bytes()),
    })
}

/// Whether each `%` is followed by two hex digits (`percent_decode` would pass it through).
fn every_percent_starts_an_escape(raw: &[u8]) -> bool {
    raw.iter()
        .enumerate()
        .filter(|&(_, &byte)| byte == b'%')
        .all(|(at, _)| {
            raw.get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        })
}

/// What `quote_plus` leaves as it is besides letters and digits (a space is handled apart).
const QUOTE_PLUS: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// Percent-encodes a value the way Python's `quote_plus` does.
pub fn quote_plus(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    // The encoder yields each escaped byte as its own `%XX` piece, so a space is exactly "%20".
    for piece in utf8_percent_encode(value, QUOTE_PLUS) {
        out.push_str(if piece == "%20" { "+" } else { piece });
    }
    out
}

/// Encodes pairs as `name=value&...`, names verbatim (Alipay's are ASCII), values `quote_plus`ed.
pub fn encode<'a, I>(pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&quote_plus(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once() {
        let pairs = decode(b"a=1+2&b=%E6%B5%8B&c=x%253Dy&d=%2b&e").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "测".into()),
                ("c".into(), "x%3Dy".into()),
                ("d".into(), "+".into()),
                ("e".into(), "".into()),
            ]
        );
    }

    #[test]
    fn refuses_broken_input() {
        assert_eq!(decode(b""), Err(FormError::Empty));
        assert!(matches!(
            decode(b"a=%zz"),
            Err(FormError::BadPercentEncoding { .. })
        ));
        assert!(matches!(
            decode(b"a=%4"),
            Err(FormError::BadPercentEncoding { .. })
        ));
        assert!(matches!(
            decode(b"a=1%+2"),
            Err(FormError::BadPercentEncoding { .. })
        ));
        assert!(matches!(decode(b"a=%ff"), Err(FormError::NotUtf8 { .. })));
        assert!(matches!(
            decode(b"a=1&a=2"),
            Err(FormError::DuplicateName { .. })
        ));
        assert_eq!(decode(b"=1"), Err(FormError::EmptyName));
    }

    #[test]
    fn encodes_like_quote_plus() {
        assert_eq!(quote_plus("a b/c+d=é~*"), "a+b%2Fc%2Bd%3D%C3%A9~%2A");
        assert_eq!(quote_plus("  %20"), "++%2520");
        assert_eq!(encode([("x", "1 2"), ("y", "&")]), "x=1+2&y=%26");
    }
}
