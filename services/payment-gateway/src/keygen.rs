//! `payment-gateway keygen --out DIR`: a new 2048-bit app key pair in every format Alipay's own
//! key tool (支付宝开放平台密钥工具) writes, so nobody needs that Windows/macOS tool.
//!
//! | file | content | use |
//! |---|---|---|
//! | `app_private_key_pkcs1.pem` | PEM, label `RSA PRIVATE KEY` | `ALIPAY_APP_PRIVATE_KEY_FILE` (any of the four works) |
//! | `app_private_key_pkcs8.pem` | PEM, label `PRIVATE KEY` | Java SDKs, OpenSSL tools |
//! | `app_private_key_pkcs1.txt` | bare base64 of PKCS#1 | the key tool's "非 JAVA 适用" private key |
//! | `app_private_key_pkcs8.txt` | bare base64 of PKCS#8 | the key tool's "JAVA 适用" private key |
//! | `app_public_key.pem` | `BEGIN PUBLIC KEY` (SPKI) | for tools (e.g. the alipay-sandbox's `SANDBOX_APP_PUBLIC_KEY_FILE`) |
//! | `app_public_key.txt` | bare base64 of SPKI | what the Alipay console wants pasted as "应用公钥" |
//!
//! Every file is created with mode 0600 and never overwrites: if any of them exists, nothing is
//! written. A directory that has to be created gets mode 0700. With `--keep-existing` (for
//! scripts and compose's one-shot key service), a complete pair already in the directory is kept
//! and reported instead, after checking that its halves match.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use alipay::keys::{KeyError, PrivateKey, PublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Why no key pair was written.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    #[error("{0} already exists; keygen never overwrites a key (choose another --out)")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("generating the key: {0}")]
    Key(#[from] KeyError),
    #[error(
        "{dir} holds part of a key pair ({missing} is missing); remove it or choose another --out"
    )]
    Incomplete { dir: PathBuf, missing: String },
    #[error("the existing {file} does not load: {source}")]
    ExistingUnreadable {
        file: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("the existing private and public key files in {0} are not halves of one pair")]
    ExistingMismatch(PathBuf),
}

/// The files a pair consists of, in the order they are written.
pub const FILE_NAMES: [&str; 6] = [
    "app_private_key_pkcs1.pem",
    "app_private_key_pkcs8.pem",
    "app_private_key_pkcs1.txt",
    "app_private_key_pkcs8.txt",
    "app_public_key.pem",
    "app_public_key.txt",
];

/// What was written.
#[derive(Debug, Clone)]
pub struct KeyPairFiles {
    pub files: Vec<PathBuf>,
    /// The bare base64 SPKI public key, to paste into the Alipay console.
    pub public_key_base64: String,
    /// The public key's short fingerprint, as the gateway logs it at start-up.
    pub fingerprint: String,
}

/// Generates a key pair and writes it into `dir`.
pub fn generate(dir: &Path) -> Result<KeyPairFiles, KeygenError> {
    write(dir, &PrivateKey::generate()?)
}

/// Writes `key` into `dir` in every format (all or nothing if a file exists already).
pub fn write(dir: &Path, key: &PrivateKey) -> Result<KeyPairFiles, KeygenError> {
    let public = key.public_key();
    let pkcs1 = key.to_pkcs1_der();
    let pkcs8 = key.to_pkcs8_der()?;
    let contents = [
        ("app_private_key_pkcs1.pem", key.to_pkcs1_pem()),
        ("app_private_key_pkcs8.pem", key.to_pkcs8_pem()?),
        (
            "app_private_key_pkcs1.txt",
            format!("{}\n", STANDARD.encode(&pkcs1)),
        ),
        (
            "app_private_key_pkcs8.txt",
            format!("{}\n", STANDARD.encode(&pkcs8)),
        ),
        ("app_public_key.pem", public.to_pem()),
        ("app_public_key.txt", format!("{}\n", public.to_base64())),
    ];

    if !dir.exists() {
        let mut builder = DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|source| KeygenError::Io {
            path: dir.to_owned(),
            source,
        })?;
    }
    let paths: Vec<PathBuf> = contents.iter().map(|(name, _)| dir.join(name)).collect();
    if let Some(existing) = paths.iter().find(|path| path.exists()) {
        return Err(KeygenError::Exists(existing.clone()));
    }
    for (path, (_, content)) in paths.iter().zip(&contents) {
        write_new(path, content)?;
    }
    Ok(KeyPairFiles {
        files: paths,
        public_key_base64: public.to_base64(),
        fingerprint: public.fingerprint(),
    })
}

/// The complete pair already in `dir`, checked (`None` when none of its files exists); an error
/// for a partial pair or halves that do not match.
pub fn existing(dir: &Path) -> Result<Option<KeyPairFiles>, KeygenError> {
    let paths: Vec<PathBuf> = FILE_NAMES.iter().map(|name| dir.join(name)).collect();
    let missing: Vec<&PathBuf> = paths.iter().filter(|path| !path.exists()).collect();
    if missing.len() == paths.len() {
        return Ok(None);
    }
    if let Some(first) = missing.first() {
        return Err(KeygenError::Incomplete {
            dir: dir.to_owned(),
            missing: first.display().to_string(),
        });
    }
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|source| KeygenError::Io {
            path: path.clone(),
            source,
        })
    };
    let unreadable = |path: &PathBuf| {
        let path = path.clone();
        move |source| KeygenError::ExistingUnreadable { file: path, source }
    };
    let private = PrivateKey::from_text(&read(&paths[1])?).map_err(unreadable(&paths[1]))?;
    let public = PublicKey::from_text(&read(&paths[5])?).map_err(unreadable(&paths[5]))?;
    if private.public_key() != public {
        return Err(KeygenError::ExistingMismatch(dir.to_owned()));
    }
    Ok(Some(KeyPairFiles {
        files: paths,
        public_key_base64: public.to_base64(),
        fingerprint: public.fingerprint(),
    }))
}

/// Creates `path` (mode 0600 from the first byte, so no moment exists where others can read it)
/// and writes `content`; fails if it exists.
fn write_new(path: &Path, content: &str) -> Result<(), KeygenError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let io = |source| KeygenError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeygenError::Exists(path.to_owned())
        } else {
            io(source)
        }
    })?;
    file.write_all(content.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// What `keygen` prints: where the files are and the public key to paste.
pub fn report(files: &KeyPairFiles) -> String {
    let mut out = String::from("Wrote a new RSA2 (2048-bit) app key pair:\n");
    for file in &files.files {
        out.push_str(&format!("  {}\n", file.display()));
    }
    out.push_str(
        "\nKeep the private key files secret (mode 0600). Configure the gateway with\n  \
         ALIPAY_APP_PRIVATE_KEY_FILE=<one of the app_private_key_* files>\n\n\
         Paste this app public key (应用公钥) into the Alipay console, under your app's\n\
         接口加签方式 (public-key mode), then copy the Alipay public key (支付宝公钥) it shows into\n\
         ALIPAY_PUBLIC_KEY or ALIPAY_PUBLIC_KEY_FILE:\n\n",
    );
    out.push_str(&files.public_key_base64);
    out.push_str(&format!("\n\n(fingerprint {})\n", files.fingerprint));
    out
}

/// What `keygen --keep-existing` prints when it kept a pair.
pub fn report_kept(files: &KeyPairFiles) -> String {
    let dir = files
        .files
        .first()
        .and_then(|file| file.parent())
        .map_or_else(String::new, |dir| dir.display().to_string());
    format!(
        "Kept the existing app key pair in {dir} (nothing written). Its public key (应用公钥):\n\n{}\n\n(fingerprint {})\n",
        files.public_key_base64, files.fingerprint
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay::keys::KeyFormat;

    const KEY: &str =
        include_str!("../../../crates/alipay/tests/vectors/keys/app_private_pkcs1.pem");

    #[test]
    fn writes_every_format_and_each_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("keys");
        let key = PrivateKey::from_text(KEY).unwrap();
        let files = write(&out, &key).unwrap();
        assert_eq!(files.files.len(), 6);
        for name in [
            "app_private_key_pkcs1.pem",
            "app_private_key_pkcs8.pem",
            "app_private_key_pkcs1.txt",
            "app_private_key_pkcs8.txt",
        ] {
            let text = std::fs::read_to_string(out.join(name)).unwrap();
            let loaded = PrivateKey::from_text(&text).unwrap();
            assert_eq!(loaded.public_key(), key.public_key(), "{name}");
        }
        for name in ["app_public_key.pem", "app_public_key.txt"] {
            let text = std::fs::read_to_string(out.join(name)).unwrap();
            assert_eq!(PublicKey::from_text(&text).unwrap(), key.public_key());
        }
        // Each file holds the structure its name says, PEM-armoured or bare base64.
        for (name, format, armoured) in [
            ("app_private_key_pkcs1.pem", KeyFormat::Pkcs1, true),
            ("app_private_key_pkcs8.pem", KeyFormat::Pkcs8, true),
            ("app_private_key_pkcs1.txt", KeyFormat::Pkcs1, false),
            ("app_private_key_pkcs8.txt", KeyFormat::Pkcs8, false),
        ] {
            let text = std::fs::read_to_string(out.join(name)).unwrap();
            assert_eq!(
                PrivateKey::from_text(&text).unwrap().format(),
                format,
                "{name}"
            );
            assert_eq!(text.starts_with("-----BEGIN "), armoured, "{name}");
        }
        assert!(report(&files).contains(&key.public_key().to_base64()));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_a_new_directory_too() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new");
        let files = write(&out, &PrivateKey::from_text(KEY).unwrap()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), 0o700);
        for file in &files.files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn an_existing_pair_is_found_checked_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(existing(dir.path()).unwrap().is_none());
        let key = PrivateKey::from_text(KEY).unwrap();
        write(dir.path(), &key).unwrap();
        let found = existing(dir.path()).unwrap().unwrap();
        assert_eq!(found.public_key_base64, key.public_key().to_base64());

        std::fs::remove_file(dir.path().join("app_private_key_pkcs1.txt")).unwrap();
        assert!(matches!(
            existing(dir.path()),
            Err(KeygenError::Incomplete { .. })
        ));

        let other = tempfile::tempdir().unwrap();
        write(other.path(), &key).unwrap();
        std::fs::write(
            other.path().join("app_public_key.txt"),
            PrivateKey::generate().unwrap().public_key().to_base64(),
        )
        .unwrap();
        assert!(matches!(
            existing(other.path()),
            Err(KeygenError::ExistingMismatch(_))
        ));
    }

    #[test]
    fn never_overwrites_and_writes_nothing_then() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app_public_key.txt"), "mine").unwrap();
        let error = write(dir.path(), &PrivateKey::from_text(KEY).unwrap()).unwrap_err();
        assert!(matches!(error, KeygenError::Exists(_)), "{error}");
        assert!(!dir.path().join("app_private_key_pkcs1.pem").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("app_public_key.txt")).unwrap(),
            "mine"
        );
    }
}
