//! The alipay crate's TEST-ONLY vectors: key pairs (instant to load, unlike generating), the
//! certificate-mode PKI, the AES key, and the app ids the tests register them under.

use std::path::PathBuf;

use alipay::AesKey;
use alipay::keys::PrivateKey;
use alipay_sandbox::AppRegistration;
use alipay_sandbox::pki::{AlipayCertificate, PkiSettings};
use payment_gateway::settings::CertificateTexts;

/// Our app at the sandbox in public-key mode.
pub const APP_ID: &str = "2021000000000001";
pub const SELLER_ID: &str = "2088102177846880";
/// The app of the certificate-mode PKI (its app certificate names it).
pub const CERT_APP_ID: &str = "2021004100000001";
pub const CERT_SELLER_ID: &str = "2088000000000001";

/// The app certificate, Alipay's current certificate and the root bundle, under [`vectors_dir`].
pub const APP_CERT: &str = "certs/appCertPublicKey_2021004100000001.crt";
pub const ALIPAY_CERT: &str = "certs/alipayCertPublicKey_RSA2.crt";
pub const ROOT_CERT: &str = "certs/alipayRootCert.crt";

/// `crates/alipay/tests/vectors`.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../alipay/tests/vectors")
}

/// A vector's path as text (for `…_FILE` variables).
pub fn vector_path(relative: &str) -> String {
    vectors_dir().join(relative).display().to_string()
}

pub fn vector_text(relative: &str) -> String {
    let path = vectors_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A private key from `keys/` (e.g. `app_private_pkcs8.pem`).
pub fn private_key(file: &str) -> PrivateKey {
    PrivateKey::from_text(&vector_text(&format!("keys/{file}"))).unwrap()
}

/// Our app's private key (public-key mode).
pub fn app_key() -> PrivateKey {
    private_key("app_private_pkcs8.pem")
}

/// "Alipay's" private key: the sandbox signs with it (public-key mode).
pub fn alipay_key() -> PrivateKey {
    private_key("alipay_private_pkcs8.pem")
}

/// A key of the certificate-mode PKI (`keys/pki_<name>_private.pem`: `app`, `alipay`, …).
pub fn pki_key(name: &str) -> PrivateKey {
    private_key(&format!("pki_{name}_private.pem"))
}

pub fn aes_key() -> AesKey {
    AesKey::from_base64(&vector_text("keys/aes_128_key.b64")).unwrap()
}

/// [`CERT_APP_ID`] as the sandbox knows it: its app certificate, and AES when `aes` is given.
pub fn cert_app_registration(aes: Option<AesKey>) -> AppRegistration {
    let app = AppRegistration::new(CERT_APP_ID, pki_key("app").public_key(), CERT_SELLER_ID)
        .with_certificate(&vector_text(APP_CERT))
        .unwrap();
    match aes {
        Some(key) => app.with_encrypt_key(key),
        None => app,
    }
}

/// Alipay's PKI for the sandbox: the root bundle and its certificates in rotation order, the
/// current one first, then each `(certificate file, pki key name)` of `next`.
pub fn alipay_pki(next: &[(&str, &str)]) -> PkiSettings {
    let mut certificates =
        vec![AlipayCertificate::new(&vector_text(ALIPAY_CERT), pki_key("alipay")).unwrap()];
    for (file, key) in next {
        certificates.push(AlipayCertificate::new(&vector_text(file), pki_key(key)).unwrap());
    }
    PkiSettings {
        root_bundle_pem: vector_text(ROOT_CERT),
        certificates,
    }
}

/// The three certificate files a merchant configures in certificate mode.
pub fn certificate_texts() -> CertificateTexts {
    CertificateTexts {
        app_cert: vector_text(APP_CERT),
        alipay_cert: vector_text(ALIPAY_CERT),
        root_cert: vector_text(ROOT_CERT),
    }
}
