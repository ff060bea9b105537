//! JWT authentication for the order service's HTTP API.
//!
//! The frontend sends `Authorization: jwt <token>` (the original Django backend's scheme), or
//! `JWT`/`Bearer`; [`token_from_authorization_header`] accepts all three. [`JwtVerifier`] pins one
//! algorithm (HS256 with a shared secret, or RS256 with a public key) and requires `exp`, so
//! neither `alg: none` nor an algorithm swap (HS256 signed with the RSA public key as secret)
//! gets through. [`JwtIssuer`] mints HS256 tokens for the `order token` command.
//!
//! The header is inspected before `jsonwebtoken` runs so that a token with an unsupported `alg`
//! (which that crate reports as a JSON error) gets the honest [`AuthError::WrongAlgorithm`].

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The `role` that grants admin rights (refunds, all orders).
pub const ADMIN_ROLE: &str = "admin";

/// Accepted clock skew between issuer and verifier, when not set otherwise. It applies to `exp`
/// (a token is accepted up to this long after it expired) and to `nbf` (up to this long before
/// it becomes valid).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);

/// Largest leeway accepted: more would keep expired tokens alive noticeably longer.
pub const MAX_LEEWAY: Duration = Duration::from_secs(30);

/// Shortest HS256 secret accepted: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_HS256_SECRET_LEN: usize = 32;

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id; orders store it as their owner.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issue time, seconds since the Unix epoch. Optional: identity providers often leave it
    /// out, and nothing here depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not valid before, seconds since the Unix epoch; checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Claims {
    /// Claims issued now, expiring after `ttl`.
    pub fn new(sub: impl Into<String>, role: Option<String>, ttl: Duration) -> Self {
        let iat = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        Self {
            sub: sub.into(),
            exp: iat.saturating_add(ttl),
            iat: Some(iat),
            nbf: None,
            role,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role.as_deref() == Some(ADMIN_ROLE)
    }
}

/// Why a request is not authenticated. The messages are safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: send `Authorization: Bearer <token>` or `jwt <token>`")]
    Missing,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYetValid,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token is signed with {found}, but only {expected} is accepted")]
    WrongAlgorithm {
        expected: &'static str,
        found: String,
    },
}

/// Why a verifier or issuer cannot be built, or a token cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtSetupError {
    #[error(
        "the HS256 secret is {len} bytes; use at least {MIN_HS256_SECRET_LEN} (e.g. `openssl rand -hex 32`)"
    )]
    SecretTooShort { len: usize },
    #[error("the RS256 public key is not a usable PEM: {0}")]
    InvalidPublicKey(String),
    #[error("a leeway of {0:?} is more than the 30s allowed")]
    LeewayTooLong(Duration),
    #[error("signing the token failed: {0}")]
    Sign(String),
}

/// Checks tokens with one pinned algorithm.
#[derive(Clone)]
pub struct JwtVerifier {
    pinned: Pinned,
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtVerifier {
    // The key stays out of Debug: for HS256 it is the shared secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.pinned.name())
            .field("leeway_secs", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Verifies HS256 tokens signed with `secret` (at least 32 bytes).
    pub fn hs256(secret: &[u8]) -> Result<Self, JwtSetupError> {
        check_secret(secret)?;
        Ok(Self::new(Pinned::Hs256, DecodingKey::from_secret(secret)))
    }

    /// Verifies RS256 tokens with a public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
    pub fn rs256_pem(public_key_pem: &[u8]) -> Result<Self, JwtSetupError> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)
            .map_err(|e| JwtSetupError::InvalidPublicKey(e.to_string()))?;
        Ok(Self::new(Pinned::Rs256, key))
    }

    fn new(pinned: Pinned, key: DecodingKey) -> Self {
        let mut validation = Validation::new(pinned.algorithm());
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // We issue no `aud`; with none configured, a token carrying one must not be refused.
        validation.validate_aud = false;
        validation.leeway = DEFAULT_LEEWAY.as_secs();
        Self {
            pinned,
            key,
            validation,
        }
    }

    /// Sets the accepted clock skew, at most [`MAX_LEEWAY`].
    pub fn with_leeway(mut self, leeway: Duration) -> Result<Self, JwtSetupError> {
        if leeway > MAX_LEEWAY {
            return Err(JwtSetupError::LeewayTooLong(leeway));
        }
        self.validation.leeway = leeway.as_secs();
        Ok(self)
    }

    /// Verifies a token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let found = header_algorithm(token)?;
        let expected = self.pinned.name();
        if found != expected {
            return Err(AuthError::WrongAlgorithm { expected, found });
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|error| map_error(error, expected))?
            .claims;
        if claims.sub.is_empty() {
            return Err(AuthError::Malformed("the sub claim is empty".into()));
        }
        Ok(claims)
    }

    /// Verifies the token of an `Authorization` header value; `None` (no header) is
    /// [`AuthError::Missing`].
    pub fn verify_authorization(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let token = header
            .and_then(token_from_authorization_header)
            .ok_or(AuthError::Missing)?;
        self.verify(token)
    }
}

fn check_secret(secret: &[u8]) -> Result<(), JwtSetupError> {
    if secret.len() < MIN_HS256_SECRET_LEN {
        return Err(JwtSetupError::SecretTooShort { len: secret.len() });
    }
    Ok(())
}

/// The algorithms a verifier can be pinned to. Our own enum, so matches stay exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pinned {
    Hs256,
    Rs256,
}

impl Pinned {
    fn algorithm(self) -> Algorithm {
        match self {
            Pinned::Hs256 => Algorithm::HS256,
            Pinned::Rs256 => Algorithm::RS256,
        }
    }

    /// The `alg` header value.
    fn name(self) -> &'static str {
        match self {
            Pinned::Hs256 => "HS256",
            Pinned::Rs256 => "RS256",
        }
    }
}

/// The `alg` of the token's header, read without trusting anything else in it.
fn header_algorithm(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed("the header is not base64url".into()))?;
    let header: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("the header is not JSON".into()))?;
    header
        .get("alg")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| AuthError::Malformed("the header has no alg".into()))
}

fn map_error(error: jsonwebtoken::errors::Error, expected: &'static str) -> AuthError {
    match error.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => AuthError::WrongAlgorithm {
            expected,
            found: "another algorithm".into(),
        },
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::Malformed(format!("the {claim} claim is required"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::Malformed(format!("the {claim} claim is invalid"))
        }
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::Json(_) => AuthError::Malformed(
            "the claims are not a JSON object with sub (text) and exp (seconds)".into(),
        ),
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            AuthError::Malformed("a part of the token is not base64url-encoded JSON".into())
        }
        // A key the crypto backend rejects at use (a PEM that parsed but is no RSA key) cannot be
        // told apart from a token signed for another key; both mean "signature not verified".
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
        // The crate's kinds are non-exhaustive; whatever else it reports, the token was not
        // accepted, and its internals are not the client's business.
        _ => AuthError::Malformed("the token could not be read".into()),
    }
}

/// Mints HS256 tokens (the `order token` command and tests).
#[derive(Clone)]
pub struct JwtIssuer {
    key: EncodingKey,
}

impl fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("algorithm", &Pinned::Hs256.name())
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// Signs with `secret` (at least 32 bytes), the same secret [`JwtVerifier::hs256`] checks.
    pub fn hs256(secret: &[u8]) -> Result<Self, JwtSetupError> {
        check_secret(secret)?;
        Ok(Self {
            key: EncodingKey::from_secret(secret),
        })
    }

    /// Signs the given claims.
    pub fn issue(&self, claims: &Claims) -> Result<String, JwtSetupError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key)
            .map_err(|e| JwtSetupError::Sign(e.to_string()))
    }

    /// Signs a token for `user_id`, admin or not, valid for `ttl` from now.
    pub fn issue_for(
        &self,
        user_id: &str,
        admin: bool,
        ttl: Duration,
    ) -> Result<String, JwtSetupError> {
        let role = admin.then(|| ADMIN_ROLE.to_owned());
        self.issue(&Claims::new(user_id, role, ttl))
    }
}

/// The token of an `Authorization` header value: `Bearer <t>`, `jwt <t>` or `JWT <t>` (scheme
/// case-insensitive). `None` for any other scheme or an empty token.
pub fn token_from_authorization_header(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt");
    let token = token.trim();
    (known && !token.is_empty() && !token.contains(char::is_whitespace)).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";
    const OTHER_SECRET: &[u8] = b"another-secret-of-at-least-32-bytes!";
    const RSA_PRIVATE: &str = include_str!("../tests/fixtures/jwt-test-rs256-private.pem");
    const RSA_PUBLIC: &str = include_str!("../tests/fixtures/jwt-test-rs256-public.pem");

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn sign(algorithm: Algorithm, claims: &serde_json::Value, key: &EncodingKey) -> String {
        jsonwebtoken::encode(&Header::new(algorithm), claims, key).unwrap()
    }

    fn hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
        sign(Algorithm::HS256, claims, &EncodingKey::from_secret(secret))
    }

    /// A token with any header, built by hand, as an attacker would.
    fn handmade(header: &serde_json::Value, claims: &serde_json::Value, signature: &str) -> String {
        let encode = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!("{}.{}.{signature}", encode(header), encode(claims))
    }

    #[test]
    fn issued_tokens_verify() {
        let issuer = JwtIssuer::hs256(SECRET).unwrap();
        let verifier = JwtVerifier::hs256(SECRET).unwrap();

        let token = issuer
            .issue_for("42", false, Duration::from_secs(3600))
            .unwrap();
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.sub, "42");
        assert!(!claims.is_admin());
        assert!(claims.exp >= now() + 3590 && claims.iat.is_some_and(|iat| iat <= now()));

        let admin = issuer
            .issue_for("1", true, Duration::from_secs(60))
            .unwrap();
        assert!(verifier.verify(&admin).unwrap().is_admin());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let token = hs256(
            &json!({"sub": "42", "iat": now() - 120, "exp": now() - 60}),
            SECRET,
        );
        assert_eq!(verifier.verify(&token), Err(AuthError::Expired));
    }

    #[test]
    fn leeway_is_bounded_and_applied() {
        let token = hs256(
            &json!({"sub": "42", "iat": now() - 20, "exp": now() - 10}),
            SECRET,
        );
        let strict = JwtVerifier::hs256(SECRET)
            .unwrap()
            .with_leeway(Duration::ZERO)
            .unwrap();
        assert_eq!(strict.verify(&token), Err(AuthError::Expired));
        let lenient = JwtVerifier::hs256(SECRET)
            .unwrap()
            .with_leeway(MAX_LEEWAY)
            .unwrap();
        assert_eq!(lenient.verify(&token).unwrap().sub, "42");
        assert_eq!(
            JwtVerifier::hs256(SECRET)
                .unwrap()
                .with_leeway(Duration::from_secs(31))
                .unwrap_err(),
            JwtSetupError::LeewayTooLong(Duration::from_secs(31))
        );
    }

    #[test]
    fn tokens_forged_with_another_secret_are_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let forged = JwtIssuer::hs256(OTHER_SECRET)
            .unwrap()
            .issue_for("1", true, Duration::from_secs(60))
            .unwrap();
        assert_eq!(verifier.verify(&forged), Err(AuthError::BadSignature));
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let token = JwtIssuer::hs256(SECRET)
            .unwrap()
            .issue_for("42", false, Duration::from_secs(60))
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let admin_claims = json!({"sub": "42", "iat": now(), "exp": now() + 60, "role": "admin"});
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&admin_claims).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(verifier.verify(&tampered), Err(AuthError::BadSignature));
    }

    #[test]
    fn alg_none_is_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let claims = json!({"sub": "1", "iat": now(), "exp": now() + 60, "role": "admin"});
        for alg in ["none", "None", "NONE"] {
            let token = handmade(&json!({"alg": alg, "typ": "JWT"}), &claims, "");
            assert_eq!(
                verifier.verify(&token),
                Err(AuthError::WrongAlgorithm {
                    expected: "HS256",
                    found: alg.into()
                })
            );
        }
    }

    #[test]
    fn another_algorithm_is_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let claims = json!({"sub": "1", "iat": now(), "exp": now() + 60});
        let hs512 = sign(Algorithm::HS512, &claims, &EncodingKey::from_secret(SECRET));
        assert_eq!(
            verifier.verify(&hs512),
            Err(AuthError::WrongAlgorithm {
                expected: "HS256",
                found: "HS512".into()
            })
        );
    }

    #[test]
    fn rs256_verifies_and_refuses_the_hs256_key_confusion() {
        let verifier = JwtVerifier::rs256_pem(RSA_PUBLIC.as_bytes()).unwrap();
        let claims = json!({"sub": "7", "iat": now(), "exp": now() + 60});

        let private = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
        let good = sign(Algorithm::RS256, &claims, &private);
        assert_eq!(verifier.verify(&good).unwrap().sub, "7");

        // The classic attack: HS256 keyed with the (public) RSA key's PEM text.
        let confused = sign(
            Algorithm::HS256,
            &claims,
            &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
        );
        assert_eq!(
            verifier.verify(&confused),
            Err(AuthError::WrongAlgorithm {
                expected: "RS256",
                found: "HS256".into()
            })
        );

        let parts: Vec<&str> = good.split('.').collect();
        let other_claims = json!({"sub": "8", "iat": now(), "exp": now() + 60});
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other_claims).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(verifier.verify(&tampered), Err(AuthError::BadSignature));

        assert!(matches!(
            JwtVerifier::rs256_pem(b"not a pem"),
            Err(JwtSetupError::InvalidPublicKey(_))
        ));
    }

    #[test]
    fn nbf_in_the_future_is_refused_within_the_leeway_accepted() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let early = hs256(
            &json!({"sub": "42", "nbf": now() + 120, "exp": now() + 600}),
            SECRET,
        );
        assert_eq!(verifier.verify(&early), Err(AuthError::NotYetValid));
        let skewed = hs256(
            &json!({"sub": "42", "nbf": now() + 2, "exp": now() + 600}),
            SECRET,
        );
        assert!(verifier.verify(&skewed).is_ok());
        let started = hs256(
            &json!({"sub": "42", "nbf": now() - 60, "exp": now() + 600}),
            SECRET,
        );
        assert_eq!(verifier.verify(&started).unwrap().nbf, Some(now() - 60));
    }

    #[test]
    fn iat_is_optional() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let token = hs256(&json!({"sub": "42", "exp": now() + 60}), SECRET);
        let claims = verifier.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.iat), ("42", None));
    }

    #[test]
    fn errors_speak_of_the_token_not_of_the_parser() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        for token in [
            format!("{header}.x.sig"),
            format!("{header}.e30x.sig"),
            format!("{header}.!!!.sig"),
            format!("{header}.{}.sig", URL_SAFE_NO_PAD.encode(b"[1,2]")),
        ] {
            let message = verifier.verify(&token).unwrap_err().to_string();
            for internal in [
                "Base64",
                "base64 error",
                "Invalid input length",
                "line 1",
                "Json",
            ] {
                assert!(!message.contains(internal), "{token}: {message}");
            }
        }
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let token = hs256(&json!({"sub": "42", "iat": now()}), SECRET);
        let error = verifier.verify(&token).unwrap_err();
        assert!(
            matches!(&error, AuthError::Malformed(m) if m.contains("exp")),
            "{error}"
        );
    }

    #[test]
    fn a_token_without_sub_or_with_an_empty_sub_is_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let no_sub = hs256(&json!({"iat": now(), "exp": now() + 60}), SECRET);
        assert!(matches!(
            verifier.verify(&no_sub),
            Err(AuthError::Malformed(_))
        ));
        let empty_sub = hs256(&json!({"sub": "", "iat": now(), "exp": now() + 60}), SECRET);
        assert!(matches!(
            verifier.verify(&empty_sub),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        for garbage in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig", "e30.e30.sig"] {
            assert!(
                matches!(verifier.verify(garbage), Err(AuthError::Malformed(_))),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            JwtVerifier::hs256(b"short").unwrap_err(),
            JwtSetupError::SecretTooShort { len: 5 }
        );
        assert!(JwtIssuer::hs256(b"short").is_err());
    }

    #[test]
    fn debug_hides_keys() {
        let shown = format!(
            "{:?} {:?}",
            JwtVerifier::hs256(SECRET).unwrap(),
            JwtIssuer::hs256(SECRET).unwrap()
        );
        assert!(!shown.contains("a-test-secret"), "{shown}");
        assert!(shown.contains("HS256"), "{shown}");
    }

    #[test]
    fn authorization_schemes() {
        assert_eq!(
            token_from_authorization_header("Bearer abc.def.ghi"),
            Some("abc.def.ghi")
        );
        assert_eq!(token_from_authorization_header("bearer abc"), Some("abc"));
        assert_eq!(token_from_authorization_header("jwt abc"), Some("abc"));
        assert_eq!(token_from_authorization_header("JWT abc"), Some("abc"));
        assert_eq!(token_from_authorization_header("Jwt   abc  "), Some("abc"));
        assert_eq!(token_from_authorization_header("Basic abc"), None);
        assert_eq!(token_from_authorization_header("Bearer"), None);
        assert_eq!(token_from_authorization_header("Bearer "), None);
        assert_eq!(token_from_authorization_header("abc"), None);
        assert_eq!(token_from_authorization_header("Bearer a b"), None);
    }

    #[test]
    fn authorization_header_verification() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let token = JwtIssuer::hs256(SECRET)
            .unwrap()
            .issue_for("42", false, Duration::from_secs(60))
            .unwrap();
        assert_eq!(verifier.verify_authorization(None), Err(AuthError::Missing));
        assert_eq!(
            verifier.verify_authorization(Some("Basic x")),
            Err(AuthError::Missing)
        );
        let header = format!("jwt {token}");
        assert_eq!(
            verifier.verify_authorization(Some(&header)).unwrap().sub,
            "42"
        );
    }
}
