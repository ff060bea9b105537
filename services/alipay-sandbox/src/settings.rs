//! Typed configuration: from the environment for the binary, programmatic for tests.
//!
//! [`SettingsArgs`] declares every variable the sandbox reads for clap (name, default, parser,
//! help), so `alipay-sandbox --help` is generated from it; [`SettingsArgs::resolve`] checks what
//! spans several variables and loads (or generates) the keys. Each error names the variable
//! that is wrong.

use std::collections::HashSet;
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alipay::AesKey;
use alipay::cert::{CertError, CertificateFile};
use alipay::keys::{PrivateKey, PublicKey};
use alipay::time::{Clock, SystemClock};
use clap::ArgAction;
use common::config::{self, ConfigError, Env, ExposeSecret, SecretString};
use serde::Deserialize;

use crate::pki::{AlipayCertificate, PkiSettings};

/// Every variable the sandbox reads, as clap parses it (each alone); flattened into
/// [`crate::cli::Cli`].
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// host:port to listen on
    #[arg(long, help_heading = "Server", env = "BIND_ADDR", value_name = "HOST:PORT",
          default_value = "0.0.0.0:8090", value_parser = config::parse_socket_addr)]
    pub bind_addr: SocketAddr,
    /// Base URL the sandbox hands out (bill download links, test API redirects), e.g.
    /// http://alipay-sandbox:8090 [default: http://127.0.0.1:<port>]
    #[arg(long, help_heading = "Server", env = "SANDBOX_PUBLIC_URL", value_name = "URL",
          value_parser = parse_public_url)]
    pub sandbox_public_url: Option<String>,
    /// on/off: the /sandbox test API
    #[arg(long, help_heading = "Server", env = "SANDBOX_TEST_API", value_name = "ON/OFF",
          default_value = "on", value_parser = config::parse_flag, action = ArgAction::Set)]
    pub sandbox_test_api: bool,
    /// Factor on Alipay's notification retry schedule (1 = real: 4m, 10m, 10m, 1h, 2h, 6h, 15h;
    /// 0.001 runs the 25 h in 90 s)
    #[arg(long, help_heading = "Server", env = "SANDBOX_TIME_SCALE", value_name = "FACTOR",
          default_value = "1", value_parser = parse_time_scale)]
    pub sandbox_time_scale: f64,
    /// How long one notification attempt waits for the merchant's answer
    #[arg(long, help_heading = "Server", env = "SANDBOX_NOTIFY_TIMEOUT", value_name = "DURATION",
          default_value = "10s", value_parser = config::positive_duration)]
    pub sandbox_notify_timeout: Duration,
    /// How far a request's timestamp may be from the sandbox's clock before
    /// isv.invalid-timestamp
    #[arg(long, help_heading = "Server", env = "SANDBOX_TIMESTAMP_TOLERANCE",
          value_name = "DURATION", default_value = "30m", value_parser = config::duration)]
    pub sandbox_timestamp_tolerance: Duration,

    /// App id of the registered merchant app
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_APP_ID",
        value_name = "APPID"
    )]
    pub sandbox_app_id: Option<String>,
    /// That app's public key (PEM or bare base64), which verifies its requests
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_APP_PUBLIC_KEY",
        value_name = "KEY"
    )]
    pub sandbox_app_public_key: Option<String>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_APP_PUBLIC_KEY_FILE",
        value_name = "PATH"
    )]
    pub sandbox_app_public_key_file: Option<PathBuf>,
    /// That app's seller id (PID, 2088 + 12 digits) [default: derived from the app id]
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_SELLER_ID",
        value_name = "PID"
    )]
    pub sandbox_seller_id: Option<String>,
    /// Certificate mode for that app: its app certificate (PEM), whose key and SN its requests
    /// must use (needs SANDBOX_PKI_DIR)
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_APP_CERT",
        value_name = "PEM"
    )]
    pub sandbox_app_cert: Option<String>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_APP_CERT_FILE",
        value_name = "PATH"
    )]
    pub sandbox_app_cert_file: Option<PathBuf>,
    /// Content encryption for that app: its AES key (base64)
    #[arg(long, help_heading = "The merchant app", env = "SANDBOX_ENCRYPT_KEY", value_name = "KEY",
          value_parser = config::secret, hide_env_values = true)]
    pub sandbox_encrypt_key: Option<SecretString>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_ENCRYPT_KEY_FILE",
        value_name = "PATH"
    )]
    pub sandbox_encrypt_key_file: Option<PathBuf>,
    /// JSON list of more apps: [{"app_id","app_public_key" or "app_public_key_file","seller_id"
    /// (optional), "app_cert_file" and "encrypt_key" (optional)}]
    #[arg(
        long,
        help_heading = "The merchant app",
        env = "SANDBOX_APPS_FILE",
        value_name = "PATH"
    )]
    pub sandbox_apps_file: Option<PathBuf>,

    /// The sandbox's own ("Alipay's") private key, any PEM or base64 form
    #[arg(long, help_heading = "The sandbox's keys", env = "SANDBOX_ALIPAY_PRIVATE_KEY",
          value_name = "KEY", value_parser = config::secret, hide_env_values = true)]
    pub sandbox_alipay_private_key: Option<SecretString>,
    /// ... or a file holding it; when neither is set the key is read from
    /// SANDBOX_DATA_DIR/alipay_private_key.pem, or generated there at first start, with the
    /// public key written beside it as alipay_public_key.pem
    #[arg(
        long,
        help_heading = "The sandbox's keys",
        env = "SANDBOX_ALIPAY_PRIVATE_KEY_FILE",
        value_name = "PATH"
    )]
    pub sandbox_alipay_private_key_file: Option<PathBuf>,
    /// Where the generated key pair lives
    #[arg(
        long,
        help_heading = "The sandbox's keys",
        env = "SANDBOX_DATA_DIR",
        value_name = "DIR",
        default_value = "sandbox-data"
    )]
    pub sandbox_data_dir: PathBuf,
    /// Certificate mode: a folder holding the TEST-ONLY PKI the sandbox is given:
    /// alipayRootCert.crt (published), then alipayCertPublicKey_RSA2.crt +
    /// alipay_cert_private_key.pem (the current Alipay certificate) and rotate_1.crt +
    /// rotate_1_private_key.pem, rotate_2..., what each POST /sandbox/alipay-cert/rotate switches
    /// to [default: none]
    #[arg(
        long,
        help_heading = "The sandbox's keys",
        env = "SANDBOX_PKI_DIR",
        value_name = "DIR"
    )]
    pub sandbox_pki_dir: Option<PathBuf>,
}

/// A merchant app the sandbox knows: requests from `app_id` must verify with `app_public_key`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppRegistration {
    pub app_id: String,
    pub app_public_key: PublicKey,
    /// The merchant's PID (`2088…`), echoed as `seller_id` in returns and notifications.
    pub seller_id: String,
    /// Certificate mode: the SN of the app certificate its requests must name
    /// (`app_cert_sn`); its key is `app_public_key`. Responses, returns and notifications to
    /// such an app are signed with the current Alipay certificate and carry `alipay_cert_sn`.
    pub app_cert_sn: Option<String>,
    /// Content encryption: the app's AES key (requests with `encrypt_type=AES` are opened with
    /// it, and their answers encrypted).
    pub encrypt_key: Option<AesKey>,
}

impl AppRegistration {
    pub fn new(
        app_id: impl Into<String>,
        app_public_key: PublicKey,
        seller_id: impl Into<String>,
    ) -> Self {
        AppRegistration {
            app_id: app_id.into(),
            app_public_key,
            seller_id: seller_id.into(),
            app_cert_sn: None,
            encrypt_key: None,
        }
    }

    /// An app in certificate mode, registered with its app certificate (PEM): its requests must
    /// carry the certificate's SN and verify with the key inside it.
    pub fn with_certificate(mut self, app_cert_pem: &str) -> Result<Self, CertError> {
        let file = CertificateFile::from_pem(app_cert_pem)?;
        self.app_public_key = file.leaf().public_key()?;
        self.app_cert_sn = Some(file.sn().to_owned());
        Ok(self)
    }

    /// An app with content encryption on.
    pub fn with_encrypt_key(mut self, key: AesKey) -> Self {
        self.encrypt_key = Some(key);
        self
    }

    /// An app whose seller id is derived from its app id (stable across restarts).
    pub fn with_derived_seller(app_id: impl Into<String>, app_public_key: PublicKey) -> Self {
        let app_id = app_id.into();
        let seller_id = derived_seller_id(&app_id);
        AppRegistration::new(app_id, app_public_key, seller_id)
    }
}

impl fmt::Debug for AppRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRegistration")
            .field("app_id", &self.app_id)
            .field("seller_id", &self.seller_id)
            .field("app_public_key", &self.app_public_key.fingerprint())
            .field("app_cert_sn", &self.app_cert_sn)
            .field("encrypt_key", &self.encrypt_key)
            .finish()
    }
}

/// `2088` and twelve digits taken from a hash of the app id, so a restart keeps the same PID.
pub fn derived_seller_id(app_id: &str) -> String {
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in app_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("2088{:012}", hash % 1_000_000_000_000)
}

/// The sandbox's configuration.
#[derive(Clone)]
pub struct Settings {
    pub bind_addr: SocketAddr,
    /// Base URL for links the sandbox hands out; `None` means `http://127.0.0.1:<port>`.
    pub public_url: Option<String>,
    pub apps: Vec<AppRegistration>,
    /// The key that signs notifications, returns and responses ("Alipay's" key).
    pub alipay_private_key: PrivateKey,
    /// Multiplies Alipay's retry schedule.
    pub time_scale: f64,
    /// Whether `/sandbox/*` is served.
    pub test_api: bool,
    pub notify_timeout: Duration,
    pub timestamp_tolerance: Duration,
    /// Where "now" comes from: timestamps, expiry, bills. Tests inject a `FixedClock`.
    pub clock: Arc<dyn Clock>,
    /// Certificate mode: the root bundle and the Alipay certificates (with keys) the sandbox
    /// signs with, in rotation order. `None`: no app may be in certificate mode.
    pub pki: Option<PkiSettings>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("bind_addr", &self.bind_addr)
            .field("public_url", &self.public_url)
            .field("apps", &self.apps)
            .field("alipay_private_key", &self.alipay_private_key)
            .field("time_scale", &self.time_scale)
            .field("test_api", &self.test_api)
            .field("notify_timeout", &self.notify_timeout)
            .field("timestamp_tolerance", &self.timestamp_tolerance)
            .field("clock", &self.clock)
            .field("pki", &self.pki.as_ref().map(|p| p.certificates.len()))
            .finish()
    }
}

const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(30 * 60);
/// File names inside `SANDBOX_DATA_DIR`.
pub const PRIVATE_KEY_FILE: &str = "alipay_private_key.pem";
pub const PUBLIC_KEY_FILE: &str = "alipay_public_key.pem";

impl Settings {
    /// Programmatic settings (tests, embedding): loopback on port 0, no apps, the real retry
    /// schedule, the test API on, the system clock. Chain the `with_*` methods to adjust.
    pub fn new(alipay_private_key: PrivateKey) -> Self {
        Settings {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            apps: Vec::new(),
            alipay_private_key,
            time_scale: 1.0,
            test_api: true,
            notify_timeout: DEFAULT_NOTIFY_TIMEOUT,
            timestamp_tolerance: DEFAULT_TIMESTAMP_TOLERANCE,
            clock: Arc::new(SystemClock),
            pki: None,
        }
    }

    /// Certificate mode: the given test PKI (root bundle, Alipay certificates in rotation
    /// order, each with its key).
    pub fn with_pki(mut self, pki: PkiSettings) -> Self {
        self.pki = Some(pki);
        self
    }

    /// [`Settings::new`] with a freshly generated Alipay key.
    pub fn with_generated_key() -> Result<Self, alipay::KeyError> {
        Ok(Self::new(PrivateKey::generate()?))
    }

    pub fn with_app(mut self, app: AppRegistration) -> Self {
        self.apps.push(app);
        self
    }

    pub fn with_time_scale(mut self, time_scale: f64) -> Self {
        self.time_scale = time_scale;
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_test_api(mut self, on: bool) -> Self {
        self.test_api = on;
        self
    }

    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    pub fn with_notify_timeout(mut self, timeout: Duration) -> Self {
        self.notify_timeout = timeout;
        self
    }

    pub fn with_timestamp_tolerance(mut self, tolerance: Duration) -> Self {
        self.timestamp_tolerance = tolerance;
        self
    }

    /// Reads the given variables (see [`SettingsArgs`]). May generate and write the key pair.
    pub fn from_env_source(env: &Env) -> Result<Self, ConfigError> {
        env.parse::<SettingsArgs>()?.resolve()
    }

    /// Checks what the programmatic constructor cannot: unique app ids, a usable time scale.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        parse_time_scale(&self.time_scale.to_string())
            .map_err(|problem| ConfigError::new("SANDBOX_TIME_SCALE", problem))?;
        let mut seen = HashSet::new();
        for app in &self.apps {
            if app.app_id.is_empty() {
                return Err(ConfigError::new("SANDBOX_APP_ID", "an app id is empty"));
            }
            if !seen.insert(app.app_id.as_str()) {
                return Err(ConfigError::new(
                    "SANDBOX_APPS_FILE",
                    format!("app id {} is registered twice", app.app_id),
                ));
            }
            if app.app_cert_sn.is_some() && self.pki.is_none() {
                return Err(ConfigError::new(
                    "SANDBOX_PKI_DIR",
                    format!(
                        "app {} is in certificate mode but the sandbox was given no PKI (set \
                         SANDBOX_PKI_DIR)",
                        app.app_id
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl SettingsArgs {
    /// Checks what spans several variables and loads the keys. May generate and write the key
    /// pair.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let apps = self.read_apps()?;
        let alipay_private_key = load_or_generate_key(
            config::secret_or_file(
                "SANDBOX_ALIPAY_PRIVATE_KEY",
                self.sandbox_alipay_private_key,
                self.sandbox_alipay_private_key_file,
            )?,
            &self.sandbox_data_dir,
        )?;
        let pki = self
            .sandbox_pki_dir
            .as_deref()
            .map(read_pki_dir)
            .transpose()?;
        let settings = Settings {
            bind_addr: self.bind_addr,
            public_url: self.sandbox_public_url,
            apps,
            alipay_private_key,
            time_scale: self.sandbox_time_scale,
            test_api: self.sandbox_test_api,
            notify_timeout: self.sandbox_notify_timeout,
            timestamp_tolerance: self.sandbox_timestamp_tolerance,
            clock: Arc::new(SystemClock),
            pki,
        };
        settings.validate()?;
        Ok(settings)
    }

    fn read_apps(&self) -> Result<Vec<AppRegistration>, ConfigError> {
        let mut apps = Vec::new();
        let key_text = config::text_or_file(
            "SANDBOX_APP_PUBLIC_KEY",
            self.sandbox_app_public_key.clone(),
            self.sandbox_app_public_key_file.clone(),
        )?;
        match (self.sandbox_app_id.clone(), key_text) {
            (Some(app_id), Some(key_text)) => {
                let key = PublicKey::from_text(&key_text).map_err(|error| {
                    ConfigError::new("SANDBOX_APP_PUBLIC_KEY", error.to_string())
                })?;
                let seller_id = self
                    .sandbox_seller_id
                    .clone()
                    .unwrap_or_else(|| derived_seller_id(&app_id));
                let mut app = AppRegistration::new(app_id, key, seller_id);
                let app_cert = config::text_or_file(
                    "SANDBOX_APP_CERT",
                    self.sandbox_app_cert.clone(),
                    self.sandbox_app_cert_file.clone(),
                )?;
                if let Some(pem) = app_cert {
                    app = app
                        .with_certificate(&pem)
                        .map_err(|error| ConfigError::new("SANDBOX_APP_CERT", error.to_string()))?;
                }
                let encrypt_key = config::secret_or_file(
                    "SANDBOX_ENCRYPT_KEY",
                    self.sandbox_encrypt_key.clone(),
                    self.sandbox_encrypt_key_file.clone(),
                )?;
                if let Some(text) = encrypt_key {
                    app = app.with_encrypt_key(AesKey::from_base64(text.expose_secret()).map_err(
                        |error| ConfigError::new("SANDBOX_ENCRYPT_KEY", error.to_string()),
                    )?);
                }
                apps.push(app);
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "SANDBOX_APP_PUBLIC_KEY",
                    "is required when SANDBOX_APP_ID is set (or set SANDBOX_APP_PUBLIC_KEY_FILE)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "SANDBOX_APP_ID",
                    "is required when SANDBOX_APP_PUBLIC_KEY is set",
                ));
            }
            (None, None) => {
                if self.sandbox_seller_id.is_some() {
                    return Err(ConfigError::new(
                        "SANDBOX_SELLER_ID",
                        "is set but SANDBOX_APP_ID is not",
                    ));
                }
            }
        }
        if let Some(path) = &self.sandbox_apps_file {
            apps.extend(read_apps_file(path)?);
        }
        let mut seen = HashSet::new();
        for app in &apps {
            if !seen.insert(app.app_id.clone()) {
                return Err(ConfigError::new(
                    "SANDBOX_APPS_FILE",
                    format!("app id {} is registered twice", app.app_id),
                ));
            }
        }
        Ok(apps)
    }
}

fn parse_public_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let looks_like_url = (text.starts_with("http://") || text.starts_with("https://"))
        && !text.contains(['?', '#', ' ']);
    if looks_like_url {
        Ok(text.trim_end_matches('/').to_owned())
    } else {
        Err(
            "expected an http(s) base URL without query, such as http://alipay-sandbox:8090"
                .to_owned(),
        )
    }
}

fn parse_time_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected a number such as 1, 0.01 or 0.001".to_owned())?;
    if !scale.is_finite() || scale < 0.0 {
        return Err("expected a finite number of at least 0".to_owned());
    }
    Ok(scale)
}

/// One entry of `SANDBOX_APPS_FILE`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    app_id: String,
    #[serde(default)]
    app_public_key: Option<String>,
    #[serde(default)]
    app_public_key_file: Option<PathBuf>,
    #[serde(default)]
    seller_id: Option<String>,
    /// Certificate mode: the app certificate (relative to the apps file).
    #[serde(default)]
    app_cert_file: Option<PathBuf>,
    /// Content encryption: the AES key, base64.
    #[serde(default)]
    encrypt_key: Option<String>,
}

fn read_apps_file(path: &Path) -> Result<Vec<AppRegistration>, ConfigError> {
    let variable = "SANDBOX_APPS_FILE";
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigError::new(variable, format!("cannot read {}: {error}", path.display()))
    })?;
    let entries: Vec<AppEntry> = serde_json::from_str(&text).map_err(|error| {
        ConfigError::new(
            variable,
            format!(
                "{} is not a JSON list of {{\"app_id\",\"app_public_key\" or \"app_public_key_file\",\"seller_id\"}}: {error}",
                path.display()
            ),
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    entries
        .into_iter()
        .map(|entry| {
            let key_text = match (entry.app_public_key, entry.app_public_key_file) {
                (Some(text), None) => text,
                (None, Some(file)) => {
                    // Relative paths are read next to the apps file, so the pair can move together.
                    let file = if file.is_absolute() {
                        file
                    } else {
                        base.join(file)
                    };
                    std::fs::read_to_string(&file).map_err(|error| {
                        ConfigError::new(
                            variable,
                            format!(
                                "app {}: cannot read {}: {error}",
                                entry.app_id,
                                file.display()
                            ),
                        )
                    })?
                }
                _ => {
                    return Err(ConfigError::new(
                        variable,
                        format!(
                            "app {}: give exactly one of app_public_key and app_public_key_file",
                            entry.app_id
                        ),
                    ));
                }
            };
            let key = PublicKey::from_text(&key_text).map_err(|error| {
                ConfigError::new(variable, format!("app {}: {error}", entry.app_id))
            })?;
            let seller_id = entry
                .seller_id
                .unwrap_or_else(|| derived_seller_id(&entry.app_id));
            let app_id = entry.app_id.clone();
            let fail =
                |problem: String| ConfigError::new(variable, format!("app {app_id}: {problem}"));
            let mut app = AppRegistration::new(entry.app_id, key, seller_id);
            if let Some(file) = entry.app_cert_file {
                let file = if file.is_absolute() {
                    file
                } else {
                    base.join(file)
                };
                let pem = std::fs::read_to_string(&file)
                    .map_err(|error| fail(format!("cannot read {}: {error}", file.display())))?;
                app = app
                    .with_certificate(&pem)
                    .map_err(|error| fail(error.to_string()))?;
            }
            if let Some(text) = entry.encrypt_key {
                app = app.with_encrypt_key(
                    AesKey::from_base64(&text).map_err(|error| fail(error.to_string()))?,
                );
            }
            Ok(app)
        })
        .collect()
}

/// `SANDBOX_PKI_DIR`: the root bundle, the current Alipay certificate and its key, then
/// `rotate_<n>.crt` + `rotate_<n>_private_key.pem` in order.
fn read_pki_dir(dir: &Path) -> Result<PkiSettings, ConfigError> {
    let variable = "SANDBOX_PKI_DIR";
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|error| {
            ConfigError::new(variable, format!("cannot read {}: {error}", path.display()))
        })
    };
    let certificate = |cert: &str, key: &str| -> Result<AlipayCertificate, ConfigError> {
        let private = PrivateKey::from_text(&read(key)?)
            .map_err(|error| ConfigError::new(variable, format!("{key}: {error}")))?;
        AlipayCertificate::new(&read(cert)?, private)
            .map_err(|error| ConfigError::new(variable, format!("{cert}: {error}")))
    };
    let mut certificates = vec![certificate(
        "alipayCertPublicKey_RSA2.crt",
        "alipay_cert_private_key.pem",
    )?];
    for n in 1.. {
        let cert = format!("rotate_{n}.crt");
        if !dir.join(&cert).exists() {
            break;
        }
        certificates.push(certificate(&cert, &format!("rotate_{n}_private_key.pem"))?);
    }
    Ok(PkiSettings {
        root_bundle_pem: read("alipayRootCert.crt")?,
        certificates,
    })
}

fn load_or_generate_key(
    given: Option<SecretString>,
    data_dir: &Path,
) -> Result<PrivateKey, ConfigError> {
    let variable = "SANDBOX_ALIPAY_PRIVATE_KEY";
    if let Some(text) = given {
        return PrivateKey::from_text(text.expose_secret())
            .map_err(|error| ConfigError::new(variable, error.to_string()));
    }
    let dir_variable = "SANDBOX_DATA_DIR";
    let private_path = data_dir.join(PRIVATE_KEY_FILE);
    let public_path = data_dir.join(PUBLIC_KEY_FILE);
    let key = if private_path.exists() {
        let text = std::fs::read_to_string(&private_path).map_err(|error| {
            ConfigError::new(
                dir_variable,
                format!("cannot read {}: {error}", private_path.display()),
            )
        })?;
        PrivateKey::from_text(&text).map_err(|error| {
            ConfigError::new(dir_variable, format!("{}: {error}", private_path.display()))
        })?
    } else {
        std::fs::create_dir_all(data_dir).map_err(|error| {
            ConfigError::new(
                dir_variable,
                format!("cannot create {}: {error}", data_dir.display()),
            )
        })?;
        let key = PrivateKey::generate().map_err(|error| {
            ConfigError::new(variable, format!("generating a key failed: {error}"))
        })?;
        write_private(&private_path, &key.to_pkcs1_pem()).map_err(|error| {
            ConfigError::new(
                dir_variable,
                format!("cannot write {}: {error}", private_path.display()),
            )
        })?;
        tracing::info!(path = %private_path.display(), "generated the sandbox's alipay key pair");
        key
    };
    // Rewritten at every start so the public half always matches the private key in use.
    std::fs::write(&public_path, key.public_key().to_pem()).map_err(|error| {
        ConfigError::new(
            dir_variable,
            format!("cannot write {}: {error}", public_path.display()),
        )
    })?;
    Ok(key)
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seller_ids_are_pids_and_stable() {
        let id = derived_seller_id("2021000000000001");
        assert_eq!(id.len(), 16);
        assert!(id.starts_with("2088"));
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(id, derived_seller_id("2021000000000001"));
        assert_ne!(id, derived_seller_id("2021000000000002"));
    }

    #[test]
    fn certificate_mode_from_the_environment() {
        // The alipay crate's TEST-ONLY PKI, laid out as SANDBOX_PKI_DIR expects.
        let vectors =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/alipay/tests/vectors");
        let dir = tempfile::tempdir().unwrap();
        for (from, to) in [
            ("certs/alipayRootCert.crt", "alipayRootCert.crt"),
            (
                "certs/alipayCertPublicKey_RSA2.crt",
                "alipayCertPublicKey_RSA2.crt",
            ),
            ("keys/pki_alipay_private.pem", "alipay_cert_private_key.pem"),
            ("certs/alipayCertPublicKey_RSA2_rotated.crt", "rotate_1.crt"),
            (
                "keys/pki_alipay_rotated_private.pem",
                "rotate_1_private_key.pem",
            ),
        ] {
            std::fs::copy(vectors.join(from), dir.path().join(to)).unwrap();
        }
        let app_cert = vectors.join("certs/appCertPublicKey_2021004100000001.crt");
        let app_key = std::fs::read_to_string(vectors.join("keys/pki_app_public.pem")).unwrap();
        let data = tempfile::tempdir().unwrap();
        let env = |extra: &[(&str, String)]| {
            let mut pairs: Vec<(String, String)> = vec![
                ("SANDBOX_APP_ID".into(), "2021004100000001".into()),
                ("SANDBOX_APP_PUBLIC_KEY".into(), app_key.clone()),
                (
                    "SANDBOX_APP_CERT_FILE".into(),
                    app_cert.display().to_string(),
                ),
                (
                    "SANDBOX_ENCRYPT_KEY".into(),
                    "LLMLeQdrBQgRinXO9E0M+Q==".into(),
                ),
                ("SANDBOX_PKI_DIR".into(), dir.path().display().to_string()),
                ("SANDBOX_DATA_DIR".into(), data.path().display().to_string()),
            ];
            for (name, value) in extra {
                pairs.retain(|(n, _)| n != name);
                pairs.push(((*name).to_owned(), value.clone()));
            }
            Settings::from_env_source(&Env::from_pairs(pairs))
        };
        let settings = env(&[]).unwrap();
        assert_eq!(
            settings.apps[0].app_cert_sn.as_deref(),
            Some("7db319eb17de042c3cc035e87122e887")
        );
        assert!(settings.apps[0].encrypt_key.is_some());
        assert_eq!(settings.pki.as_ref().unwrap().certificates.len(), 2);

        // A certificate-mode app needs a PKI; a key that is not the certificate's is refused.
        let no_pki = env(&[("SANDBOX_PKI_DIR", String::new())]).unwrap_err();
        assert_eq!(no_pki.variable, "SANDBOX_PKI_DIR", "{no_pki}");
        std::fs::copy(
            vectors.join("keys/pki_alipay_rotated_private.pem"),
            dir.path().join("alipay_cert_private_key.pem"),
        )
        .unwrap();
        let wrong_key = env(&[]).unwrap_err();
        assert_eq!(wrong_key.variable, "SANDBOX_PKI_DIR", "{wrong_key}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().display().to_string();
        let cases = [
            ("SANDBOX_TIME_SCALE", "fast"),
            ("SANDBOX_TIME_SCALE", "-1"),
            ("SANDBOX_PUBLIC_URL", "alipay-sandbox:8090"),
            ("SANDBOX_TEST_API", "maybe"),
            ("BIND_ADDR", "nowhere"),
            ("SANDBOX_APP_ID", "2021"),
            ("SANDBOX_ALIPAY_PRIVATE_KEY", "not a key"),
        ];
        for (variable, value) in cases {
            let env = Env::from_pairs([(variable, value), ("SANDBOX_DATA_DIR", data.as_str())]);
            let error = Settings::from_env_source(&env).unwrap_err();
            let expected = if variable == "SANDBOX_APP_ID" {
                "SANDBOX_APP_PUBLIC_KEY"
            } else {
                variable
            };
            assert_eq!(error.variable, expected, "{variable}={value}: {error}");
        }
    }

    #[test]
    fn the_key_pair_is_generated_once_and_the_public_half_published() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let data_text = data.display().to_string();
        let env = Env::from_pairs([("SANDBOX_DATA_DIR", data_text.as_str())]);

        let first = Settings::from_env_source(&env).unwrap();
        let second = Settings::from_env_source(&env).unwrap();

        let public = first.alipay_private_key.public_key();
        assert_eq!(
            second.alipay_private_key.public_key(),
            public,
            "the generated key is reused"
        );
        let published = std::fs::read_to_string(data.join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(PublicKey::from_text(&published).unwrap(), public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join(PRIVATE_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(first.bind_addr.to_string(), "0.0.0.0:8090");
        assert!(first.test_api);
        assert!(first.apps.is_empty());
    }

    #[test]
    fn apps_come_from_variables_and_from_the_apps_file() {
        let dir = tempfile::tempdir().unwrap();
        let vectors =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/alipay/tests/vectors/keys");
        let app_public = std::fs::read_to_string(vectors.join("app_public.b64")).unwrap();
        let alipay_private =
            std::fs::read_to_string(vectors.join("alipay_private_pkcs8.pem")).unwrap();
        std::fs::copy(vectors.join("app_public.pem"), dir.path().join("other.pem")).unwrap();
        let apps_file = dir.path().join("apps.json");
        std::fs::write(
            &apps_file,
            r#"[{"app_id":"2021000000000002","app_public_key_file":"other.pem","seller_id":"2088000000000002"},
                {"app_id":"2021000000000003","app_public_key":"MIIB"}]"#,
        )
        .unwrap();
        let apps_text = apps_file.display().to_string();
        let base = [
            ("SANDBOX_APP_ID", "2021000000000001"),
            ("SANDBOX_APP_PUBLIC_KEY", app_public.as_str()),
            ("SANDBOX_ALIPAY_PRIVATE_KEY", alipay_private.as_str()),
            ("SANDBOX_TIME_SCALE", "0.001"),
            ("SANDBOX_TEST_API", "off"),
            ("SANDBOX_PUBLIC_URL", "http://alipay-sandbox:8090/"),
        ];

        let error = Settings::from_env_source(&Env::from_pairs(
            base.iter()
                .copied()
                .chain([("SANDBOX_APPS_FILE", apps_text.as_str())]),
        ))
        .unwrap_err();
        assert_eq!(error.variable, "SANDBOX_APPS_FILE");
        assert!(error.problem.contains("2021000000000003"), "{error}");

        std::fs::write(
            &apps_file,
            r#"[{"app_id":"2021000000000002","app_public_key_file":"other.pem","seller_id":"2088000000000002"}]"#,
        )
        .unwrap();
        let settings = Settings::from_env_source(&Env::from_pairs(
            base.iter()
                .copied()
                .chain([("SANDBOX_APPS_FILE", apps_text.as_str())]),
        ))
        .unwrap();
        assert_eq!(settings.apps.len(), 2);
        assert_eq!(
            settings.apps[0].seller_id,
            derived_seller_id("2021000000000001")
        );
        assert_eq!(settings.apps[1].seller_id, "2088000000000002");
        assert_eq!(settings.time_scale, 0.001);
        assert!(!settings.test_api);
        assert_eq!(
            settings.public_url.as_deref(),
            Some("http://alipay-sandbox:8090")
        );
    }
}
