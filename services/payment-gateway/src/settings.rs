//! Configuration: from environment variables (validated once at start-up, errors naming the
//! variable) or built in code ([`Settings::new`] and the `with_*` methods, for tests and for the
//! order service's tests, which run a gateway in-process).
//!
//! [`SettingsArgs`] declares every variable for clap (name, default, parser, help), so
//! `payment-gateway --help` is generated from it; [`SettingsArgs::resolve`] checks what spans
//! several variables and loads the keys.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use alipay::cert::{AlipayCertificates, CertError, CertSns, RootBundle};
use alipay::keys::{PrivateKey, PublicKey};
use alipay::request::{Gateway, RequestSigner};
use alipay::sign::SignType;
use alipay::time::{Clock, SystemClock};
use alipay::{AesKey, AlipayConfig, AlipayVerifier, KeyError};
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use common::config::{self, ConfigError, Env, ExposeSecret, SecretString, format_duration};

use crate::server_api::ApiVersion;

pub const DEFAULT_BIND_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 50051);
pub const DEFAULT_METRICS_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9090);
/// `ALIPAY_GATEWAY` when unset: the project's own alipay-sandbox on its default port, so a local
/// run never reaches a real Alipay by accident (production must be asked for by name).
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:8090/gateway.do";
/// Alipay usually answers in well under a second; past this the outcome is unknown anyway, and
/// the order service's own deadline (its `PAYMENT_GATEWAY_TIMEOUT`) must cover retries too.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts per idempotent call, the first included.
pub const DEFAULT_RETRY_ATTEMPTS: u32 = 3;
/// First backoff; each later one doubles, up to [`MAX_RETRY_BACKOFF`].
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(2);
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

const CERT_MODE: &str = "Certificate mode (公钥证书)";

/// Every variable the gateway reads, as clap parses it (each alone); flattened into
/// [`crate::cli::Cli`]. The defaults written here are the constants above (a test checks).
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// Your app id (APPID), e.g. 2021000000000001 [required]
    #[arg(long, help_heading = "App", env = "ALIPAY_APP_ID", value_name = "APPID",
          value_parser = app_id)]
    pub alipay_app_id: Option<String>,
    /// The app private key that signs requests: PKCS#1 or PKCS#8, PEM or bare base64 (as
    /// `payment-gateway keygen` or Alipay's key tool writes it) [required: set it or its _FILE]
    #[arg(long, help_heading = "App", env = "ALIPAY_APP_PRIVATE_KEY", value_name = "KEY",
          value_parser = config::secret, hide_env_values = true)]
    pub alipay_app_private_key: Option<SecretString>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "App",
        env = "ALIPAY_APP_PRIVATE_KEY_FILE",
        value_name = "PATH"
    )]
    pub alipay_app_private_key_file: Option<PathBuf>,
    /// Alipay's public key ("支付宝公钥" in the console, NOT your app public key): SPKI or
    /// PKCS#1, PEM or bare base64 [required in public-key mode: set it or its _FILE]
    #[arg(
        long,
        help_heading = "App",
        env = "ALIPAY_PUBLIC_KEY",
        value_name = "KEY"
    )]
    pub alipay_public_key: Option<String>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "App",
        env = "ALIPAY_PUBLIC_KEY_FILE",
        value_name = "PATH"
    )]
    pub alipay_public_key_file: Option<PathBuf>,
    /// AES key for content encryption (接口内容加密), base64 as the console shows it; setting
    /// it turns encrypt_type=AES on for every server call [default: none]
    #[arg(long, help_heading = "App", env = "ALIPAY_ENCRYPT_KEY", value_name = "KEY",
          value_parser = config::secret, hide_env_values = true)]
    pub alipay_encrypt_key: Option<SecretString>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "App",
        env = "ALIPAY_ENCRYPT_KEY_FILE",
        value_name = "PATH"
    )]
    pub alipay_encrypt_key_file: Option<PathBuf>,
    /// RSA2 (SHA256withRSA) or RSA (SHA1withRSA, legacy)
    #[arg(long, help_heading = "App", env = "ALIPAY_SIGN_TYPE", value_name = "TYPE",
          default_value = "RSA2", value_parser = config::trimmed_parse::<SignType>)]
    pub alipay_sign_type: SignType,

    /// The app certificate (appCertPublicKey_<APPID>.crt), PEM text; setting it (or its _FILE)
    /// turns certificate mode on, and then the next two replace ALIPAY_PUBLIC_KEY
    /// [default: none]
    #[arg(long, help_heading = CERT_MODE, env = "ALIPAY_APP_CERT", value_name = "PEM")]
    pub alipay_app_cert: Option<String>,
    /// ... or a file holding it
    #[arg(long, help_heading = CERT_MODE, env = "ALIPAY_APP_CERT_FILE", value_name = "PATH")]
    pub alipay_app_cert_file: Option<PathBuf>,
    /// Alipay's public certificate (alipayCertPublicKey_RSA2.crt), PEM text [required in
    /// certificate mode]
    #[arg(long, help_heading = CERT_MODE, env = "ALIPAY_PUBLIC_CERT", value_name = "PEM")]
    pub alipay_public_cert: Option<String>,
    /// ... or a file holding it
    #[arg(long, help_heading = CERT_MODE, env = "ALIPAY_PUBLIC_CERT_FILE", value_name = "PATH")]
    pub alipay_public_cert_file: Option<PathBuf>,
    /// Alipay's root bundle (alipayRootCert.crt), PEM text; it alone decides which rotated
    /// Alipay certificate is trusted [required in certificate mode]
    #[arg(long, help_heading = CERT_MODE, env = "ALIPAY_ROOT_CERT", value_name = "PEM")]
    pub alipay_root_cert: Option<String>,
    /// ... or a file holding it
    #[arg(long, help_heading = CERT_MODE, env = "ALIPAY_ROOT_CERT_FILE", value_name = "PATH")]
    pub alipay_root_cert_file: Option<PathBuf>,

    /// production (https://openapi.alipay.com/gateway.do), sandbox (Alipay's hosted sandbox,
    /// https://openapi-sandbox.dl.alipaydev.com/gateway.do), or an http(s) URL ending in
    /// /gateway.do; the default is the local alipay-sandbox service
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_GATEWAY", value_name = "GATEWAY",
          default_value = DEFAULT_GATEWAY_URL, value_parser = config::trimmed_parse::<Gateway>)]
    pub alipay_gateway: Gateway,
    /// The gateway.do that pay links (followed by the buyer's browser) point at, when the
    /// browser reaches Alipay by another address than this service (e.g. localhost vs a compose
    /// service name); same forms as ALIPAY_GATEWAY [default: ALIPAY_GATEWAY]
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_PAY_LINK_GATEWAY",
          value_name = "GATEWAY", value_parser = config::trimmed_parse::<Gateway>)]
    pub alipay_pay_link_gateway: Option<Gateway>,
    /// Protocol of the server calls (query, close, refund, refund query, bill URL): v2
    /// (gateway.do) or v3 (OpenAPI v3, /v3/... on the same host; needs ALIPAY_SIGN_TYPE=RSA2);
    /// pay links are always v2
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_API_VERSION", value_name = "VERSION",
          default_value = "v2", value_parser = config::trimmed_parse::<ApiVersion>)]
    pub alipay_api_version: ApiVersion,
    /// Default notify_url of pay links (a call may override it) [default: none]
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_NOTIFY_URL", value_name = "URL",
          value_parser = pay_url)]
    pub alipay_notify_url: Option<String>,
    /// Default return_url of pay links (a call may override it) [default: none]
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_RETURN_URL", value_name = "URL",
          value_parser = pay_url)]
    pub alipay_return_url: Option<String>,
    /// Pay links without a time_expire expire this long after signing [default: none, Alipay's
    /// own (15 days)]
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_PAY_EXPIRY", value_name = "DURATION",
          value_parser = pay_expiry)]
    pub alipay_pay_expiry: Option<Duration>,
    /// Longest wait for one Alipay call, connecting included
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_HTTP_TIMEOUT",
          value_name = "DURATION", default_value = "5s", value_parser = config::positive_duration)]
    pub alipay_http_timeout: Duration,
    /// Longest wait to connect to Alipay
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_CONNECT_TIMEOUT",
          value_name = "DURATION", default_value = "2s", value_parser = config::positive_duration)]
    pub alipay_connect_timeout: Duration,
    /// Attempts (first included, 1-10) for calls safe to repeat: queries, refund queries, bill
    /// URLs, and refunds (same out_request_no)
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_RETRY_ATTEMPTS", value_name = "N",
          default_value = "3", value_parser = retry_attempts)]
    pub alipay_retry_attempts: u32,
    /// Wait before the first retry; doubles each time, at most 2s
    #[arg(long, help_heading = "Alipay calls", env = "ALIPAY_RETRY_BACKOFF",
          value_name = "DURATION", default_value = "100ms", value_parser = retry_backoff)]
    pub alipay_retry_backoff: Duration,

    /// host:port of the gRPC server
    #[arg(long, help_heading = "Server", env = "BIND_ADDR", value_name = "HOST:PORT",
          default_value = "0.0.0.0:50051", value_parser = config::parse_socket_addr)]
    pub bind_addr: SocketAddr,
    /// host:port of /healthz, /readyz and /metrics, or off
    #[arg(long, help_heading = "Server", env = "METRICS_ADDR", value_name = "HOST:PORT",
          default_value = "0.0.0.0:9090", value_parser = metrics_addr)]
    pub metrics_addr: MetricsAddr,
    /// On SIGTERM, how long in-flight calls may take to finish
    #[arg(long, help_heading = "Server", env = "SHUTDOWN_TIMEOUT", value_name = "DURATION",
          default_value = "30s", value_parser = config::duration)]
    pub shutdown_timeout: Duration,
    /// Threads that sign pay links, fed in arrival order (1-256) [default: the number of CPUs]
    #[arg(long, help_heading = "Server", env = "SIGNING_THREADS", value_name = "N",
          value_parser = config::number_in(1usize..=256))]
    pub signing_threads: Option<usize>,
}

/// `METRICS_ADDR`: where the HTTP side listens, or `None` (`off`) for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

/// Everything the gateway needs. Keys never print: `PrivateKey`'s `Debug` shows only the public
/// half's fingerprint.
#[derive(Debug, Clone)]
pub struct Settings {
    pub app_id: String,
    pub app_private_key: PrivateKey,
    /// How Alipay's answers are verified: its public key, or (certificate mode) its trusted
    /// certificates, a store shared by every clone of these settings, so a certificate trusted
    /// on rotation is seen by every call and by `GetAlipayCertificate`.
    pub alipay: AlipayVerifier,
    /// Certificate mode: the SNs every request carries.
    pub cert_sns: Option<CertSns>,
    /// Content encryption (`encrypt_type=AES`) of server calls.
    pub encrypt_key: Option<AesKey>,
    pub gateway: Gateway,
    /// Where the pay links the browser follows point, when it differs from `gateway` (a
    /// compose network: the gateway reaches `alipay-sandbox:8090`, the browser `localhost:8090`).
    pub pay_link_gateway: Option<Gateway>,
    pub sign_type: SignType,
    /// The protocol of the server calls; pay links are v2 whatever this says.
    pub api_version: ApiVersion,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    /// Added to "now" for pay links that carry no `time_expire`; `None` leaves it to Alipay.
    pub pay_expiry: Option<Duration>,
    pub http_timeout: Duration,
    pub connect_timeout: Duration,
    pub retry: RetryPolicy,
    /// Only read by `main`, which binds it; [`crate::Application::build`] takes listeners.
    pub bind_addr: SocketAddr,
    /// `None`: no HTTP side (`METRICS_ADDR=off`).
    pub metrics_addr: Option<SocketAddr>,
    pub shutdown_timeout: Duration,
    /// Threads that sign pay links (one FIFO queue in front of them).
    pub signing_threads: usize,
}

/// How idempotent calls are retried: bounded attempts, exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub attempts: u32,
    pub backoff: Duration,
}

impl RetryPolicy {
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        backoff: Duration::ZERO,
    };

    /// The waits before each retry, in order: `backoff`, doubling up to [`MAX_RETRY_BACKOFF`],
    /// one fewer than the attempts (none when retries are off).
    pub fn delays(&self) -> ExponentialBackoff {
        ExponentialBuilder::new()
            .with_min_delay(self.backoff)
            .with_factor(2.0)
            .with_max_delay(MAX_RETRY_BACKOFF)
            .with_max_times(self.attempts.saturating_sub(1) as usize)
            .build()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_RETRY_ATTEMPTS,
            backoff: DEFAULT_RETRY_BACKOFF,
        }
    }
}

impl Settings {
    /// Settings for one app with every default: RSA2, no default notify/return URL, 5 s HTTP
    /// timeout, 3 attempts for idempotent calls. `gateway_url` is the full URL of `gateway.do`
    /// (e.g. an in-process sandbox's `gateway_url()`), or `production` / `sandbox`.
    ///
    /// The keys are checked against each other by [`crate::Application::build`].
    pub fn new(
        app_id: impl Into<String>,
        app_private_key: PrivateKey,
        alipay_public_key: PublicKey,
        gateway_url: impl Into<String>,
    ) -> Self {
        let gateway_url = gateway_url.into();
        let gateway = gateway_url.parse().unwrap_or(Gateway::Custom(gateway_url));
        Settings {
            app_id: app_id.into(),
            app_private_key,
            alipay: AlipayVerifier::PublicKey(alipay_public_key),
            cert_sns: None,
            encrypt_key: None,
            gateway,
            pay_link_gateway: None,
            sign_type: SignType::Rsa2,
            api_version: ApiVersion::V2,
            notify_url: None,
            return_url: None,
            pay_expiry: None,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            bind_addr: DEFAULT_BIND_ADDR,
            metrics_addr: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            signing_threads: default_signing_threads(),
        }
    }

    /// Certificate mode from the three PEM texts (app certificate, Alipay's certificate, root
    /// bundle), each checked now: see [`CertificateTexts::load`].
    pub fn with_certificates(mut self, texts: &CertificateTexts) -> Result<Self, SettingsError> {
        let (sns, certificates) = texts
            .load(&self.app_private_key, SystemClock.now())
            .map_err(|(variable, error)| SettingsError::Certificate { variable, error })?;
        self.cert_sns = Some(sns);
        self.alipay = AlipayVerifier::Certificates(certificates);
        Ok(self)
    }

    /// Content encryption of server calls with this AES key.
    pub fn with_encrypt_key(mut self, key: AesKey) -> Self {
        self.encrypt_key = Some(key);
        self
    }

    /// The default `notify_url` of pay links.
    pub fn with_notify_url(mut self, url: impl Into<String>) -> Self {
        self.notify_url = Some(url.into());
        self
    }

    /// The default `return_url` of pay links.
    pub fn with_return_url(mut self, url: impl Into<String>) -> Self {
        self.return_url = Some(url.into());
        self
    }

    /// The `gateway.do` that pay links point at, when the browser reaches Alipay by another
    /// address than this service does (`production`, `sandbox` or a URL, like `gateway_url`).
    pub fn with_pay_link_gateway(mut self, gateway_url: impl Into<String>) -> Self {
        let gateway_url = gateway_url.into();
        self.pay_link_gateway = Some(gateway_url.parse().unwrap_or(Gateway::Custom(gateway_url)));
        self
    }

    /// The gateway pay links point at.
    pub fn pay_link_gateway(&self) -> &Gateway {
        self.pay_link_gateway.as_ref().unwrap_or(&self.gateway)
    }

    /// The protocol of the server calls.
    pub fn with_api_version(mut self, api_version: ApiVersion) -> Self {
        self.api_version = api_version;
        self
    }

    pub fn with_sign_type(mut self, sign_type: SignType) -> Self {
        self.sign_type = sign_type;
        self
    }

    /// The whole-call and the connect timeout of Alipay calls.
    pub fn with_http_timeouts(mut self, timeout: Duration, connect_timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self.connect_timeout = connect_timeout;
        self
    }

    /// How idempotent calls are retried ([`RetryPolicy::NONE`] to never retry).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            attempts: retry.attempts.max(1),
            ..retry
        };
        self
    }

    /// Pay links without a `time_expire` expire this long after signing.
    pub fn with_pay_expiry(mut self, expiry: Duration) -> Self {
        self.pay_expiry = Some(expiry);
        self
    }

    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Threads that sign pay links (at least 1).
    pub fn with_signing_threads(mut self, threads: usize) -> Self {
        self.signing_threads = threads.max(1);
        self
    }

    /// Reads and validates every variable; the first problem found is returned, naming its
    /// variable. Key problems are described in words, never by quoting the key.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.parse::<SettingsArgs>()?.resolve()
    }

    /// Checks what [`Settings::new`] cannot: the keys against each other, the URLs.
    pub fn validate(&self) -> Result<(), SettingsError> {
        match &self.alipay {
            AlipayVerifier::PublicKey(key) => key
                .ensure_not_app_key(&self.app_private_key)
                .map_err(SettingsError::AlipayKeyIsAppKey)?,
            // Checked when the certificates were loaded.
            AlipayVerifier::Certificates(_) => {}
        }
        for (name, url) in [
            ("notify_url", &self.notify_url),
            ("return_url", &self.return_url),
        ] {
            if let Some(url) = url
                && !is_pay_url(url)
            {
                return Err(SettingsError::Url {
                    name,
                    url: url.clone(),
                });
            }
        }
        for gateway in [&self.gateway, self.pay_link_gateway()] {
            if !is_gateway_url(gateway.url()) {
                return Err(SettingsError::Gateway(gateway.url().to_owned()));
            }
        }
        Ok(())
    }

    /// The alipay client's view.
    pub fn alipay_config(&self) -> AlipayConfig {
        let mut signer = RequestSigner::new(
            self.app_id.clone(),
            self.app_private_key.clone(),
            self.sign_type,
        );
        if let Some(sns) = &self.cert_sns {
            signer = signer.with_cert_sns(sns.clone());
        }
        if let Some(key) = &self.encrypt_key {
            signer = signer.with_encryption(key.clone());
        }
        AlipayConfig {
            signer,
            verifier: self.alipay.clone(),
            gateway: self.gateway.clone(),
            timeout: self.http_timeout,
            connect_timeout: self.connect_timeout,
        }
    }

    /// One line for the start-up log: fingerprints, never keys.
    pub fn summary(&self) -> String {
        format!(
            "app_id={} gateway={} pay_link_gateway={} sign_type={} notify_url={} return_url={} pay_expiry={} \
             http_timeout={} connect_timeout={} retry_attempts={} retry_backoff={} \
             signing_threads={} app_public_key={} alipay={} encryption={}",
            self.app_id,
            self.gateway.url(),
            self.pay_link_gateway().url(),
            self.sign_type,
            self.notify_url.as_deref().unwrap_or("(none)"),
            self.return_url.as_deref().unwrap_or("(none)"),
            self.pay_expiry.map_or_else(
                || "(alipay's)".to_owned(),
                |d| format_duration(d).to_string()
            ),
            format_duration(self.http_timeout),
            format_duration(self.connect_timeout),
            self.retry.attempts,
            format_duration(self.retry.backoff),
            self.signing_threads,
            self.app_private_key.public_key().fingerprint(),
            match &self.alipay {
                AlipayVerifier::PublicKey(key) => format!("public_key:{}", key.fingerprint()),
                AlipayVerifier::Certificates(store) => format!(
                    "certificates:app_cert_sn={},alipay_root_cert_sn={},alipay_cert_sn={}",
                    self.cert_sns
                        .as_ref()
                        .map_or("", |s| s.app_cert_sn.as_str()),
                    store.root().sn(),
                    store.sns().join("+")
                ),
            },
            self.encrypt_key
                .as_ref()
                .map_or_else(|| "off".to_owned(), |key| format!("AES-{}", key.bits())),
        )
    }
}

impl SettingsArgs {
    /// Checks what spans several variables and loads the keys; the first problem found is
    /// returned, naming its variable. Key problems are described in words, never by quoting
    /// the key.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let app_id = self
            .alipay_app_id
            .ok_or_else(|| ConfigError::new("ALIPAY_APP_ID", "is required but not set"))?;

        let private_text = config::secret_or_file(
            "ALIPAY_APP_PRIVATE_KEY",
            self.alipay_app_private_key,
            self.alipay_app_private_key_file,
        )?
        .ok_or_else(|| {
            ConfigError::new(
                "ALIPAY_APP_PRIVATE_KEY",
                "is required but not set (set it, or ALIPAY_APP_PRIVATE_KEY_FILE)",
            )
        })?;
        let app_private_key =
            PrivateKey::from_text(private_text.expose_secret()).map_err(|error| {
                ConfigError::new(
                    "ALIPAY_APP_PRIVATE_KEY",
                    format!("is not a usable private key: {error}"),
                )
            })?;

        let app_cert = config::text_or_file(
            "ALIPAY_APP_CERT",
            self.alipay_app_cert,
            self.alipay_app_cert_file,
        )?;
        let public_key = config::text_or_file(
            "ALIPAY_PUBLIC_KEY",
            self.alipay_public_key,
            self.alipay_public_key_file,
        )?;
        let alipay_cert = config::text_or_file(
            "ALIPAY_PUBLIC_CERT",
            self.alipay_public_cert,
            self.alipay_public_cert_file,
        )?;
        let root_cert = config::text_or_file(
            "ALIPAY_ROOT_CERT",
            self.alipay_root_cert,
            self.alipay_root_cert_file,
        )?;
        let (alipay, cert_sns) = match app_cert {
            Some(app_cert) => {
                if public_key.is_some() {
                    return Err(ConfigError::new(
                        "ALIPAY_PUBLIC_KEY",
                        "is for public-key mode; ALIPAY_APP_CERT is set, so this is \
                         certificate mode, where Alipay's key comes from ALIPAY_PUBLIC_CERT \
                         (unset one of the two)",
                    ));
                }
                let required = |name: &str, text: Option<String>| {
                    text.ok_or_else(|| {
                        ConfigError::new(
                            name,
                            format!(
                                "is required in certificate mode (ALIPAY_APP_CERT is set); set \
                                 it, or {name}_FILE"
                            ),
                        )
                    })
                };
                let texts = CertificateTexts {
                    app_cert,
                    alipay_cert: required("ALIPAY_PUBLIC_CERT", alipay_cert)?,
                    root_cert: required("ALIPAY_ROOT_CERT", root_cert)?,
                };
                let (sns, certificates) = texts
                    .load(&app_private_key, SystemClock.now())
                    .map_err(|(variable, error)| ConfigError::new(variable, error.to_string()))?;
                (AlipayVerifier::Certificates(certificates), Some(sns))
            }
            None => {
                for (name, text) in [
                    ("ALIPAY_PUBLIC_CERT", &alipay_cert),
                    ("ALIPAY_ROOT_CERT", &root_cert),
                ] {
                    if text.is_some() {
                        return Err(ConfigError::new(
                            name,
                            "is set but ALIPAY_APP_CERT is not: certificate mode needs all \
                             three certificates (set ALIPAY_APP_CERT, or unset this one)",
                        ));
                    }
                }
                let public_text = public_key.ok_or_else(|| {
                    ConfigError::new(
                        "ALIPAY_PUBLIC_KEY",
                        "is required but not set (set it, or ALIPAY_PUBLIC_KEY_FILE; or set \
                         ALIPAY_APP_CERT for certificate mode)",
                    )
                })?;
                let key =
                    PublicKey::alipay_key_for(&public_text, &app_private_key).map_err(|error| {
                        let problem = match error {
                            KeyError::AppKeyConfiguredAsAlipayKey => error.to_string(),
                            other => format!("is not a usable public key: {other}"),
                        };
                        ConfigError::new("ALIPAY_PUBLIC_KEY", problem)
                    })?;
                (AlipayVerifier::PublicKey(key), None)
            }
        };
        let encrypt_key = config::secret_or_file(
            "ALIPAY_ENCRYPT_KEY",
            self.alipay_encrypt_key,
            self.alipay_encrypt_key_file,
        )?
        .map(|text| {
            AesKey::from_base64(text.expose_secret())
                .map_err(|error| ConfigError::new("ALIPAY_ENCRYPT_KEY", error.to_string()))
        })
        .transpose()?;

        let sign_type = self.alipay_sign_type;
        if cert_sns.is_some() && sign_type != SignType::Rsa2 {
            return Err(ConfigError::new(
                "ALIPAY_SIGN_TYPE",
                "must be RSA2 in certificate mode (Alipay's certificates are RSA2 only)",
            ));
        }
        let api_version = self.alipay_api_version;
        if api_version == ApiVersion::V3 && sign_type != SignType::Rsa2 {
            // v3 signs SHA256withRSA only; an app still on RSA (SHA-1) cannot use it.
            return Err(ConfigError::new(
                "ALIPAY_API_VERSION",
                "v3 needs ALIPAY_SIGN_TYPE=RSA2 (OpenAPI v3 has no SHA1withRSA)",
            ));
        }

        Ok(Settings {
            app_id,
            app_private_key,
            alipay,
            cert_sns,
            encrypt_key,
            gateway: self.alipay_gateway,
            pay_link_gateway: self.alipay_pay_link_gateway,
            sign_type,
            api_version,
            notify_url: self.alipay_notify_url,
            return_url: self.alipay_return_url,
            pay_expiry: self.alipay_pay_expiry,
            http_timeout: self.alipay_http_timeout,
            connect_timeout: self.alipay_connect_timeout,
            retry: RetryPolicy {
                attempts: self.alipay_retry_attempts,
                backoff: self.alipay_retry_backoff,
            },
            bind_addr: self.bind_addr,
            metrics_addr: self.metrics_addr.0,
            shutdown_timeout: self.shutdown_timeout,
            signing_threads: self.signing_threads.unwrap_or_else(default_signing_threads),
        })
    }
}

/// The three certificate files of certificate mode, as PEM text.
#[derive(Debug, Clone)]
pub struct CertificateTexts {
    /// `appCertPublicKey_<APPID>.crt` (`ALIPAY_APP_CERT`).
    pub app_cert: String,
    /// `alipayCertPublicKey_RSA2.crt` (`ALIPAY_PUBLIC_CERT`).
    pub alipay_cert: String,
    /// `alipayRootCert.crt` (`ALIPAY_ROOT_CERT`).
    pub root_cert: String,
}

impl CertificateTexts {
    /// Parses and checks all three at `now`: the root bundle has an RSA root; the app
    /// certificate is an app certificate for `app_key`, chains to the bundle and is valid; the
    /// Alipay certificate is Alipay's (not the app's), chains and is valid. The error names the
    /// variable whose file is wrong.
    pub fn load(
        &self,
        app_key: &PrivateKey,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(CertSns, AlipayCertificates), (&'static str, CertError)> {
        let root = RootBundle::from_pem(&self.root_cert).map_err(|e| ("ALIPAY_ROOT_CERT", e))?;
        let sns = CertSns::load(&self.app_cert, &root, app_key, now)
            .map_err(|e| ("ALIPAY_APP_CERT", e))?;
        let certificates = AlipayCertificates::new(&self.alipay_cert, root, Some(app_key), now)
            .map_err(|e| ("ALIPAY_PUBLIC_CERT", e))?;
        Ok((sns, certificates))
    }
}

/// One signing thread per core: signing is pure CPU.
pub fn default_signing_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// What [`Settings::validate`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("ALIPAY_PUBLIC_KEY: {0}")]
    AlipayKeyIsAppKey(KeyError),
    #[error(
        "default {name} {url:?} must be an http(s) URL of at most 256 characters without '?', '#' or spaces"
    )]
    Url { name: &'static str, url: String },
    #[error("ALIPAY_GATEWAY (or ALIPAY_PAY_LINK_GATEWAY) {0:?} must be an http(s) URL")]
    Gateway(String),
    #[error("{variable}: {error}")]
    Certificate {
        variable: &'static str,
        error: CertError,
    },
}

fn is_gateway_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && !url.contains(['?', '#', ' '])
}

/// Alipay's rule for `notify_url`/`return_url` (as the alipay crate checks them per request).
fn is_pay_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 256
        && !url.contains(['?', ' ', '#'])
}

fn app_id(text: &str) -> Result<String, &'static str> {
    let app_id = text.trim();
    if !(1..=32).contains(&app_id.len()) || !app_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be the app's numeric APPID, such as 2021000000000001");
    }
    Ok(app_id.to_owned())
}

fn pay_url(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if is_pay_url(text) {
        Ok(text.to_owned())
    } else {
        Err("must be an http(s) URL of at most 256 characters without '?', '#' or spaces")
    }
}

fn pay_expiry(text: &str) -> Result<Duration, String> {
    let expiry = config::duration(text)?;
    if expiry < Duration::from_secs(60) {
        return Err("must be at least 1m (Alipay's smallest timeout)".to_owned());
    }
    Ok(expiry)
}

fn retry_attempts(text: &str) -> Result<u32, String> {
    config::number_in(1u32..=10)(text).map_err(|_| "must be between 1 (no retry) and 10".to_owned())
}

fn retry_backoff(text: &str) -> Result<Duration, String> {
    let backoff = config::duration(text)?;
    if backoff > MAX_RETRY_BACKOFF {
        return Err("must be at most 2s (retries must fit in the caller's deadline)".to_owned());
    }
    Ok(backoff)
}

fn metrics_addr(text: &str) -> Result<MetricsAddr, String> {
    if text.trim() == "off" {
        return Ok(MetricsAddr(None));
    }
    config::parse_socket_addr(text).map(|addr| MetricsAddr(Some(addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP_PRIVATE: &str =
        include_str!("../../../crates/alipay/tests/vectors/keys/app_private_pkcs1.pem");
    const APP_PUBLIC: &str =
        include_str!("../../../crates/alipay/tests/vectors/keys/app_public.pem");
    const ALIPAY_PUBLIC: &str =
        include_str!("../../../crates/alipay/tests/vectors/keys/alipay_public.pem");

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_APP_PRIVATE_KEY", APP_PRIVATE),
            ("ALIPAY_PUBLIC_KEY", ALIPAY_PUBLIC),
        ];
        for (name, value) in extra {
            pairs.retain(|(n, _)| n != name);
            pairs.push((name, value));
        }
        Env::from_pairs(pairs)
    }

    const PKI_APP_PRIVATE: &str =
        include_str!("../../../crates/alipay/tests/vectors/keys/pki_app_private.pem");
    const APP_CERT: &str = include_str!(
        "../../../crates/alipay/tests/vectors/certs/appCertPublicKey_2021004100000001.crt"
    );
    const ALIPAY_CERT: &str =
        include_str!("../../../crates/alipay/tests/vectors/certs/alipayCertPublicKey_RSA2.crt");
    const ROOT_CERT: &str =
        include_str!("../../../crates/alipay/tests/vectors/certs/alipayRootCert.crt");
    const AES_KEY: &str = include_str!("../../../crates/alipay/tests/vectors/keys/aes_128_key.b64");

    /// Certificate mode with the vectors' TEST-ONLY PKI, `extra` replacing or adding variables
    /// (an empty value unsets one).
    fn cert_env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("ALIPAY_APP_ID", "2021004100000001"),
            ("ALIPAY_APP_PRIVATE_KEY", PKI_APP_PRIVATE),
            ("ALIPAY_APP_CERT", APP_CERT),
            ("ALIPAY_PUBLIC_CERT", ALIPAY_CERT),
            ("ALIPAY_ROOT_CERT", ROOT_CERT),
        ];
        for (name, value) in extra {
            pairs.retain(|(n, _)| n != name);
            pairs.push((name, value));
        }
        Env::from_pairs(pairs)
    }

    fn cert_error(extra: &[(&str, &str)]) -> String {
        Settings::from_env(&cert_env(extra))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn certificate_mode_loads_and_names_every_mistake() {
        let settings = Settings::from_env(&cert_env(&[("ALIPAY_ENCRYPT_KEY", AES_KEY)])).unwrap();
        let sns = settings.cert_sns.clone().unwrap();
        assert_eq!(sns.app_cert_sn, "7db319eb17de042c3cc035e87122e887");
        assert!(settings.alipay.certificates().is_some());
        assert_eq!(settings.encrypt_key.as_ref().map(AesKey::bits), Some(128));
        let summary = settings.summary();
        assert!(
            summary.contains("AES-128") && !summary.contains("LLML"),
            "{summary}"
        );

        let swapped = cert_error(&[("ALIPAY_PUBLIC_CERT", APP_CERT)]);
        assert!(swapped.contains("ALIPAY_PUBLIC_CERT"), "{swapped}");
        assert!(swapped.contains("this is the app certificate"), "{swapped}");
        let reversed = cert_error(&[("ALIPAY_APP_CERT", ALIPAY_CERT)]);
        assert!(reversed.contains("ALIPAY_APP_CERT"), "{reversed}");
        assert!(
            reversed.contains("this is Alipay's public certificate"),
            "{reversed}"
        );
        let other_key = cert_error(&[("ALIPAY_APP_PRIVATE_KEY", APP_PRIVATE)]);
        assert!(
            other_key.contains("does not match the app certificate"),
            "{other_key}"
        );
        let both = cert_error(&[("ALIPAY_PUBLIC_KEY", ALIPAY_PUBLIC)]);
        assert!(both.contains("ALIPAY_PUBLIC_KEY"), "{both}");
        let no_root = cert_error(&[("ALIPAY_ROOT_CERT", "")]);
        assert!(no_root.contains("ALIPAY_ROOT_CERT"), "{no_root}");
        let rsa1 = cert_error(&[("ALIPAY_SIGN_TYPE", "RSA")]);
        assert!(rsa1.contains("ALIPAY_SIGN_TYPE"), "{rsa1}");
        let bad_aes = cert_error(&[("ALIPAY_ENCRYPT_KEY", "AAAA")]);
        assert!(bad_aes.contains("ALIPAY_ENCRYPT_KEY") && bad_aes.contains("16 bytes"));
        // Certificate variables without ALIPAY_APP_CERT are a half-done switch.
        let half = Settings::from_env(&env(&[("ALIPAY_ROOT_CERT", ROOT_CERT)]))
            .unwrap_err()
            .to_string();
        assert!(half.contains("ALIPAY_ROOT_CERT"), "{half}");
    }

    #[test]
    fn defaults_apply() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(settings.bind_addr.to_string(), "0.0.0.0:50051");
        assert_eq!(settings.metrics_addr, Some(DEFAULT_METRICS_ADDR));
        assert_eq!(settings.gateway.url(), DEFAULT_GATEWAY_URL);
        assert_eq!(settings.pay_link_gateway(), &settings.gateway);
        assert_eq!(settings.sign_type, SignType::Rsa2);
        assert_eq!(settings.notify_url, None);
        assert_eq!(settings.return_url, None);
        assert_eq!(settings.pay_expiry, None);
        assert_eq!(settings.http_timeout, DEFAULT_HTTP_TIMEOUT);
        assert_eq!(settings.retry, RetryPolicy::default());
        assert_eq!(settings.signing_threads, default_signing_threads());
        settings.validate().unwrap();
    }

    #[test]
    fn every_variable_is_read() {
        let settings = Settings::from_env(&env(&[
            ("ALIPAY_GATEWAY", "production"),
            (
                "ALIPAY_PAY_LINK_GATEWAY",
                "http://localhost:8090/gateway.do",
            ),
            ("ALIPAY_SIGN_TYPE", "RSA"),
            ("ALIPAY_NOTIFY_URL", "https://pay.example.com/alipay/notify"),
            (
                "ALIPAY_RETURN_URL",
                "https://shop.example.com/order/success/",
            ),
            ("ALIPAY_PAY_EXPIRY", "30m"),
            ("ALIPAY_HTTP_TIMEOUT", "800ms"),
            ("ALIPAY_CONNECT_TIMEOUT", "300ms"),
            ("ALIPAY_RETRY_ATTEMPTS", "1"),
            ("ALIPAY_RETRY_BACKOFF", "50ms"),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("METRICS_ADDR", "off"),
            ("SHUTDOWN_TIMEOUT", "5s"),
            ("SIGNING_THREADS", "3"),
        ]))
        .unwrap();
        assert_eq!(settings.gateway, Gateway::Production);
        assert_eq!(
            settings.pay_link_gateway().url(),
            "http://localhost:8090/gateway.do"
        );
        assert_eq!(settings.sign_type, SignType::Rsa);
        assert_eq!(
            settings.notify_url.as_deref(),
            Some("https://pay.example.com/alipay/notify")
        );
        assert_eq!(
            settings.return_url.as_deref(),
            Some("https://shop.example.com/order/success/")
        );
        assert_eq!(settings.pay_expiry, Some(Duration::from_secs(1800)));
        assert_eq!(settings.http_timeout, Duration::from_millis(800));
        assert_eq!(settings.connect_timeout, Duration::from_millis(300));
        assert_eq!(settings.retry.attempts, 1);
        assert_eq!(settings.retry.backoff, Duration::from_millis(50));
        assert_eq!(settings.bind_addr.to_string(), "127.0.0.1:0");
        assert_eq!(settings.metrics_addr, None);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(settings.signing_threads, 3);
        let sandbox = Settings::from_env(&env(&[("ALIPAY_GATEWAY", "sandbox")])).unwrap();
        assert_eq!(sandbox.gateway, Gateway::Sandbox);
        let url =
            Settings::from_env(&env(&[("ALIPAY_GATEWAY", "http://sbx:8090/gateway.do")])).unwrap();
        assert_eq!(url.gateway.url(), "http://sbx:8090/gateway.do");
    }

    #[test]
    fn keys_load_from_files_in_every_format() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/alipay/tests/vectors/keys");
        for private in [
            "app_private_pkcs1.pem",
            "app_private_pkcs8.pem",
            "app_private_pkcs1.b64",
            "app_private_pkcs8.b64",
        ] {
            for public in [
                "alipay_public.pem",
                "alipay_public.b64",
                "alipay_public_pkcs1.pem",
            ] {
                let private_path = dir.join(private).display().to_string();
                let public_path = dir.join(public).display().to_string();
                let settings = Settings::from_env(&Env::from_pairs([
                    ("ALIPAY_APP_ID", "2021000000000001"),
                    ("ALIPAY_APP_PRIVATE_KEY_FILE", private_path.as_str()),
                    ("ALIPAY_PUBLIC_KEY_FILE", public_path.as_str()),
                ]))
                .unwrap_or_else(|e| panic!("{private} + {public}: {e}"));
                assert_eq!(
                    settings.app_private_key.public_key(),
                    PublicKey::from_text(APP_PUBLIC).unwrap()
                );
            }
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("ALIPAY_APP_ID", "abc")], "ALIPAY_APP_ID"),
            (
                &[("ALIPAY_APP_PRIVATE_KEY", "not a key")],
                "ALIPAY_APP_PRIVATE_KEY",
            ),
            (
                &[("ALIPAY_APP_PRIVATE_KEY", ALIPAY_PUBLIC)],
                "ALIPAY_APP_PRIVATE_KEY",
            ),
            (
                &[("ALIPAY_APP_PRIVATE_KEY_FILE", "/nonexistent")],
                "ALIPAY_APP_PRIVATE_KEY",
            ),
            (&[("ALIPAY_PUBLIC_KEY", "MIIB")], "ALIPAY_PUBLIC_KEY"),
            (&[("ALIPAY_PUBLIC_KEY", APP_PRIVATE)], "ALIPAY_PUBLIC_KEY"),
            (
                &[("ALIPAY_GATEWAY", "openapi.alipay.com")],
                "ALIPAY_GATEWAY",
            ),
            (&[("ALIPAY_SIGN_TYPE", "HMAC")], "ALIPAY_SIGN_TYPE"),
            (&[("ALIPAY_NOTIFY_URL", "ftp://x")], "ALIPAY_NOTIFY_URL"),
            (
                &[("ALIPAY_RETURN_URL", "https://x/?a=1")],
                "ALIPAY_RETURN_URL",
            ),
            (&[("ALIPAY_PAY_EXPIRY", "10s")], "ALIPAY_PAY_EXPIRY"),
            (&[("ALIPAY_HTTP_TIMEOUT", "5")], "ALIPAY_HTTP_TIMEOUT"),
            (&[("ALIPAY_HTTP_TIMEOUT", "0s")], "ALIPAY_HTTP_TIMEOUT"),
            (
                &[("ALIPAY_CONNECT_TIMEOUT", "0ms")],
                "ALIPAY_CONNECT_TIMEOUT",
            ),
            (&[("ALIPAY_RETRY_ATTEMPTS", "0")], "ALIPAY_RETRY_ATTEMPTS"),
            (&[("ALIPAY_RETRY_ATTEMPTS", "11")], "ALIPAY_RETRY_ATTEMPTS"),
            (&[("ALIPAY_RETRY_BACKOFF", "3s")], "ALIPAY_RETRY_BACKOFF"),
            (&[("BIND_ADDR", "nowhere")], "BIND_ADDR"),
            (&[("METRICS_ADDR", "nowhere")], "METRICS_ADDR"),
            (&[("SHUTDOWN_TIMEOUT", "x")], "SHUTDOWN_TIMEOUT"),
            (&[("SIGNING_THREADS", "0")], "SIGNING_THREADS"),
        ];
        for (extra, variable) in cases {
            let error = Settings::from_env(&env(extra)).unwrap_err();
            assert_eq!(&error.variable, variable, "{extra:?}: {error}");
        }
        let missing = Settings::from_env(&Env::from_pairs([("ALIPAY_APP_ID", "1")])).unwrap_err();
        assert_eq!(missing.variable, "ALIPAY_APP_PRIVATE_KEY");
        let both = Settings::from_env(&env(&[("ALIPAY_PUBLIC_KEY_FILE", "/x")])).unwrap_err();
        assert_eq!(both.variable, "ALIPAY_PUBLIC_KEY");
    }

    #[test]
    fn our_own_public_key_as_alipay_key_is_named() {
        let error = Settings::from_env(&env(&[("ALIPAY_PUBLIC_KEY", APP_PUBLIC)])).unwrap_err();
        assert_eq!(error.variable, "ALIPAY_PUBLIC_KEY");
        assert!(
            error.to_string().contains("your own app public key"),
            "{error}"
        );
    }

    #[test]
    fn keys_never_reach_messages_or_debug_output() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        let body: String = APP_PRIVATE.lines().nth(3).unwrap().to_owned();
        assert!(!format!("{settings:?}").contains(&body));
        assert!(!settings.summary().contains(&body));
        // A private key pasted where the public one goes is described, not quoted.
        let error = Settings::from_env(&env(&[("ALIPAY_PUBLIC_KEY", APP_PRIVATE)])).unwrap_err();
        assert!(!error.to_string().contains(&body), "{error}");
        let broken = APP_PRIVATE.replace(&body, "");
        let error = Settings::from_env(&env(&[("ALIPAY_APP_PRIVATE_KEY", &broken)])).unwrap_err();
        assert!(
            !error
                .to_string()
                .contains(&APP_PRIVATE.lines().nth(4).unwrap()[..40]),
            "{error}"
        );
    }

    #[test]
    fn validate_catches_what_new_cannot() {
        let own = PrivateKey::from_text(APP_PRIVATE).unwrap();
        let settings = Settings::new(
            "1",
            own.clone(),
            own.public_key(),
            "http://127.0.0.1:1/gateway.do",
        );
        assert!(matches!(
            settings.validate(),
            Err(SettingsError::AlipayKeyIsAppKey(
                KeyError::AppKeyConfiguredAsAlipayKey
            ))
        ));
        let alipay = PublicKey::from_text(ALIPAY_PUBLIC).unwrap();
        let settings = Settings::new("1", own.clone(), alipay.clone(), "not a url");
        assert!(matches!(
            settings.validate(),
            Err(SettingsError::Gateway(_))
        ));
        let settings = Settings::new("1", own, alipay, "production").with_notify_url("x");
        assert_eq!(settings.gateway, Gateway::Production);
        assert!(matches!(
            settings.validate(),
            Err(SettingsError::Url { .. })
        ));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        // backon multiplies in f32: whole milliseconds are what the schedule promises.
        let millis = |policy: RetryPolicy| -> Vec<u128> {
            policy.delays().map(|delay| delay.as_millis()).collect()
        };
        let ms = Duration::from_millis;
        let short = RetryPolicy {
            attempts: 5,
            backoff: ms(100),
        };
        assert_eq!(millis(short), [100, 200, 400, 800], "one per retry");
        let long = RetryPolicy {
            attempts: 10,
            backoff: ms(300),
        };
        assert_eq!(
            millis(long),
            [300, 600, 1200, 2000, 2000, 2000, 2000, 2000, 2000],
            "capped at {MAX_RETRY_BACKOFF:?}"
        );
        assert_eq!(RetryPolicy::NONE.delays().next(), None);
    }

    #[test]
    fn the_documented_defaults_are_the_constants() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(settings.http_timeout, DEFAULT_HTTP_TIMEOUT);
        assert_eq!(settings.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(settings.retry.attempts, DEFAULT_RETRY_ATTEMPTS);
        assert_eq!(settings.retry.backoff, DEFAULT_RETRY_BACKOFF);
        assert_eq!(settings.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        assert_eq!(settings.bind_addr, DEFAULT_BIND_ADDR);
    }

    #[test]
    fn help_lists_every_variable() {
        use clap::CommandFactory as _;
        let help = common::config::reference_help(crate::cli::Cli::command());
        for variable in [
            "ALIPAY_APP_ID",
            "ALIPAY_APP_PRIVATE_KEY",
            "ALIPAY_APP_PRIVATE_KEY_FILE",
            "ALIPAY_PUBLIC_KEY",
            "ALIPAY_PUBLIC_KEY_FILE",
            "ALIPAY_GATEWAY",
            "ALIPAY_PAY_LINK_GATEWAY",
            "ALIPAY_SIGN_TYPE",
            "ALIPAY_API_VERSION",
            "ALIPAY_NOTIFY_URL",
            "ALIPAY_RETURN_URL",
            "ALIPAY_PAY_EXPIRY",
            "ALIPAY_HTTP_TIMEOUT",
            "ALIPAY_CONNECT_TIMEOUT",
            "ALIPAY_RETRY_ATTEMPTS",
            "ALIPAY_RETRY_BACKOFF",
            "BIND_ADDR",
            "METRICS_ADDR",
            "SHUTDOWN_TIMEOUT",
            "SIGNING_THREADS",
            "RUST_LOG",
            "ALIPAY_APP_CERT",
            "ALIPAY_APP_CERT_FILE",
            "ALIPAY_PUBLIC_CERT",
            "ALIPAY_PUBLIC_CERT_FILE",
            "ALIPAY_ROOT_CERT",
            "ALIPAY_ROOT_CERT_FILE",
            "ALIPAY_ENCRYPT_KEY",
            "ALIPAY_ENCRYPT_KEY_FILE",
        ] {
            assert!(help.contains(variable), "{variable}");
        }
    }
}
