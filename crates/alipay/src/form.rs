//! `application/x-www-form-urlencoded`, both ways, exactly as the protocol needs it.
//!
//! Decoding happens **once**, on the raw bytes: `+` is a space, `%XX` one byte (either hex case),
//! and the result must be UTF-8. A value that is itself URL-encoded (`passback_params`) stays
//! encoded once. A repeated name is refused, because a verifier and a business layer that read
//! different copies of one name are how forgeries get through.
//!
//! Encoding follows Python's `quote_plus` (what the vectors and python-alipay-sdk use): every byte
//! except `A-Z a-z 0-9 _ . - ~` becomes `%XX` with uppercase hex, and a space becomes `+`.

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
    let mut bytes = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        match raw[index] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = raw.get(index + 1).and_then(|&b| hex_value(b));
                let low = raw.get(index + 2).and_then(|&b| hex_value(b));
                match (high, low) {
                    (Some(high), Some(low)) => bytes.push(high << 4 | low),
                    _ => return Err(FormError::BadPercentEncoding { name: label(raw) }),
                }
                index += 2;
            }
            other => bytes.push(other),
        }
        index += 1;
    }
    String::from_utf8(bytes).map_err(|error| FormError::NotUtf8 {
        name: label(error.as_bytes()),
    })
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a value the way Python's `quote_plus` does.
pub fn quote_plus(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for &byte in value.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
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
        assert_eq!(encode([("x", "1 2"), ("y", "&")]), "x=1+2&y=%26");
    }
}
