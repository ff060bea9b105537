//! Configuration from environment variables, validated once at start-up.
//!
//! [`SettingsArgs`] declares every variable for clap (name, default, parser, help), so
//! `notify-receiver --help` is generated from it; [`SettingsArgs::resolve`] checks what spans
//! several variables and loads the keys. Every error names the variable. Tests build settings
//! from pairs with [`Settings::from_env`] and [`Env::from_pairs`], through the same parser.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use alipay::cert::{AlipayCertificates, RootBundle};
use alipay::keys::PublicKey;
use alipay::sign::SignType;
use alipay::time::{Clock, SystemClock};
use alipay::{AesKey, AlipayVerifier};
use common::amqp::Topology;
use common::config::{self, ConfigError, Env, ExposeSecret, SecretString, format_duration};
use lapin::uri::{AMQPScheme, AMQPUri};

pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Certificate mode: where a rotated Alipay certificate is asked for.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:50051";

/// Every variable the service reads, as clap parses it (each alone); flattened into
/// [`crate::cli::Cli`].
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// host:port the HTTP server listens on
    #[arg(long, help_heading = "Server", env = "BIND_ADDR", value_name = "HOST:PORT",
          default_value = "0.0.0.0:8081", value_parser = config::parse_socket_addr)]
    pub bind_addr: SocketAddr,
    /// Path of the notification endpoint
    #[arg(long, help_heading = "Server", env = "NOTIFY_PATH", value_name = "PATH",
          default_value = "/alipay/notify", value_parser = notify_path)]
    pub notify_path: String,
    /// HTTP worker threads [default: the number of CPUs]
    #[arg(long, help_heading = "Server", env = "HTTP_WORKERS", value_name = "N",
          value_parser = config::workers)]
    pub http_workers: Option<usize>,
    /// On SIGTERM, how long in-flight requests may take
    #[arg(long, help_heading = "Server", env = "SHUTDOWN_TIMEOUT", value_name = "DURATION",
          default_value = "30s", value_parser = config::duration)]
    pub shutdown_timeout: Duration,

    /// RabbitMQ URL, amqp:// (add ?heartbeat=10 to notice a dead peer sooner)
    #[arg(long, help_heading = "RabbitMQ", env = "AMQP_URL", value_name = "URL",
          default_value = DEFAULT_AMQP_URL, value_parser = amqp_url, hide_env_values = true)]
    pub amqp_url: SecretString,
    /// Exchange payment events are published to
    #[arg(long, help_heading = "RabbitMQ", env = "AMQP_EXCHANGE", value_name = "NAME",
          default_value = "payments", value_parser = exchange)]
    pub amqp_exchange: String,
    /// Confirm-mode channels shared by all requests (1-64); one already pipelines every publish
    #[arg(long, help_heading = "RabbitMQ", env = "AMQP_CHANNELS", value_name = "N",
          default_value = "1", value_parser = config::number_in(1usize..=64))]
    pub amqp_channels: usize,
    /// Longest wait for the broker's confirm before answering 503; shorter than Alipay's own
    /// HTTP timeout
    #[arg(long, help_heading = "RabbitMQ", env = "PUBLISH_CONFIRM_TIMEOUT", value_name = "DURATION",
          default_value = "3s", value_parser = config::positive_duration)]
    pub publish_confirm_timeout: Duration,

    /// Your app id; notifications for any other app get 400 [required]
    #[arg(long, help_heading = "Alipay", env = "ALIPAY_APP_ID", value_name = "APPID",
          value_parser = config::identifier)]
    pub alipay_app_id: Option<String>,
    /// Alipay's public key (PEM or bare base64, SPKI or PKCS#1) [required in public-key mode;
    /// set it or ALIPAY_PUBLIC_KEY_FILE]
    #[arg(
        long,
        help_heading = "Alipay",
        env = "ALIPAY_PUBLIC_KEY",
        value_name = "KEY"
    )]
    pub alipay_public_key: Option<String>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "Alipay",
        env = "ALIPAY_PUBLIC_KEY_FILE",
        value_name = "PATH"
    )]
    pub alipay_public_key_file: Option<PathBuf>,
    /// AES key (base64 as the console shows it); opens notifications sent with encrypt_type=AES
    /// [default: none]
    #[arg(long, help_heading = "Alipay", env = "ALIPAY_ENCRYPT_KEY", value_name = "KEY",
          value_parser = config::secret, hide_env_values = true)]
    pub alipay_encrypt_key: Option<SecretString>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "Alipay",
        env = "ALIPAY_ENCRYPT_KEY_FILE",
        value_name = "PATH"
    )]
    pub alipay_encrypt_key_file: Option<PathBuf>,
    /// RSA2 (SHA256withRSA) or RSA (SHA1withRSA, legacy)
    #[arg(long, help_heading = "Alipay", env = "ALIPAY_SIGN_TYPE", value_name = "TYPE",
          default_value = "RSA2", value_parser = config::trimmed_parse::<SignType>)]
    pub alipay_sign_type: SignType,
    /// When set, notifications must carry this seller_id (PID 2088...) [default: not checked]
    #[arg(long, help_heading = "Alipay", env = "ALIPAY_SELLER_ID", value_name = "PID",
          value_parser = config::trimmed)]
    pub alipay_seller_id: Option<String>,

    /// Alipay's public certificate (alipayCertPublicKey_RSA2.crt), PEM text; setting it (or its
    /// _FILE) turns certificate mode on, instead of ALIPAY_PUBLIC_KEY
    #[arg(
        long,
        help_heading = "Certificate mode (公钥证书)",
        env = "ALIPAY_PUBLIC_CERT",
        value_name = "PEM"
    )]
    pub alipay_public_cert: Option<String>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "Certificate mode (公钥证书)",
        env = "ALIPAY_PUBLIC_CERT_FILE",
        value_name = "PATH"
    )]
    pub alipay_public_cert_file: Option<PathBuf>,
    /// Alipay's root bundle (alipayRootCert.crt), PEM text: the only trust anchor for a rotated
    /// Alipay certificate [required in certificate mode]
    #[arg(
        long,
        help_heading = "Certificate mode (公钥证书)",
        env = "ALIPAY_ROOT_CERT",
        value_name = "PEM"
    )]
    pub alipay_root_cert: Option<String>,
    /// ... or a file holding it
    #[arg(
        long,
        help_heading = "Certificate mode (公钥证书)",
        env = "ALIPAY_ROOT_CERT_FILE",
        value_name = "PATH"
    )]
    pub alipay_root_cert_file: Option<PathBuf>,
    /// The payment-gateway, asked (GetAlipayCertificate) for a rotated certificate named by a
    /// notification's alipay_cert_sn; its answer is checked against ALIPAY_ROOT_CERT here
    #[arg(long, help_heading = "Certificate mode (公钥证书)", env = "PAYMENT_GATEWAY_URL",
          value_name = "URL", default_value = DEFAULT_GATEWAY_URL, value_parser = gateway_url)]
    pub payment_gateway_url: String,
    /// Bound on that call
    #[arg(long, help_heading = "Certificate mode (公钥证书)", env = "PAYMENT_GATEWAY_TIMEOUT",
          value_name = "DURATION", default_value = "5s", value_parser = config::duration)]
    pub payment_gateway_timeout: Duration,
}

/// Everything the service reads from its environment, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind_addr: SocketAddr,
    /// Carries the broker password, hence secret.
    pub amqp_url: SecretString,
    pub exchange: String,
    pub amqp_channels: usize,
    pub app_id: String,
    /// Alipay's public key, or (certificate mode) its trusted certificates.
    pub alipay: AlipayVerifier,
    /// Certificate mode: where rotated certificates are fetched from.
    pub gateway_url: String,
    pub gateway_timeout: Duration,
    /// Opens `encrypt_type=AES` notifications.
    pub encrypt_key: Option<AesKey>,
    pub sign_type: SignType,
    pub seller_id: Option<String>,
    pub notify_path: String,
    pub publish_confirm_timeout: Duration,
    pub http_workers: usize,
    pub shutdown_timeout: Duration,
}

impl SettingsArgs {
    /// Checks what spans several variables and loads the keys; the first problem found is
    /// returned.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let app_id = self
            .alipay_app_id
            .ok_or_else(|| ConfigError::new("ALIPAY_APP_ID", "is required but not set"))?;
        let public_cert = config::text_or_file(
            "ALIPAY_PUBLIC_CERT",
            self.alipay_public_cert,
            self.alipay_public_cert_file,
        )?;
        let public_key = config::text_or_file(
            "ALIPAY_PUBLIC_KEY",
            self.alipay_public_key,
            self.alipay_public_key_file,
        )?;
        let root_cert = config::text_or_file(
            "ALIPAY_ROOT_CERT",
            self.alipay_root_cert,
            self.alipay_root_cert_file,
        )?;
        let alipay = match public_cert {
            Some(cert_text) => {
                if public_key.is_some() {
                    return Err(ConfigError::new(
                        "ALIPAY_PUBLIC_KEY",
                        "is for public-key mode; ALIPAY_PUBLIC_CERT is set (certificate mode), \
                         which replaces it (unset one of the two)",
                    ));
                }
                let root_text = root_cert.ok_or_else(|| {
                    ConfigError::new(
                        "ALIPAY_ROOT_CERT",
                        "is required in certificate mode (ALIPAY_PUBLIC_CERT is set); set it, \
                         or ALIPAY_ROOT_CERT_FILE",
                    )
                })?;
                let root = RootBundle::from_pem(&root_text)
                    .map_err(|error| ConfigError::new("ALIPAY_ROOT_CERT", error.to_string()))?;
                let certificates =
                    AlipayCertificates::new(&cert_text, root, None, SystemClock.now()).map_err(
                        |error| ConfigError::new("ALIPAY_PUBLIC_CERT", error.to_string()),
                    )?;
                AlipayVerifier::Certificates(certificates)
            }
            None => {
                if root_cert.is_some() {
                    return Err(ConfigError::new(
                        "ALIPAY_ROOT_CERT",
                        "is set but ALIPAY_PUBLIC_CERT is not: certificate mode needs both",
                    ));
                }
                let key_text = public_key.ok_or_else(|| {
                    ConfigError::new(
                        "ALIPAY_PUBLIC_KEY",
                        "is required but not set (set it, or ALIPAY_PUBLIC_KEY_FILE; or \
                         ALIPAY_PUBLIC_CERT for certificate mode)",
                    )
                })?;
                let key = PublicKey::from_text(&key_text).map_err(|error| {
                    // The error text describes the key's shape, never its bytes.
                    ConfigError::new(
                        "ALIPAY_PUBLIC_KEY",
                        format!("is not a usable public key: {error}"),
                    )
                })?;
                AlipayVerifier::PublicKey(key)
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

        Ok(Settings {
            bind_addr: self.bind_addr,
            amqp_url: self.amqp_url,
            exchange: self.amqp_exchange,
            amqp_channels: self.amqp_channels,
            app_id,
            alipay,
            gateway_url: self.payment_gateway_url,
            gateway_timeout: self.payment_gateway_timeout,
            encrypt_key,
            sign_type: self.alipay_sign_type,
            seller_id: self.alipay_seller_id,
            notify_path: self.notify_path,
            publish_confirm_timeout: self.publish_confirm_timeout,
            http_workers: self.http_workers.unwrap_or_else(config::cpus),
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

impl Settings {
    /// Reads and validates every variable; the first problem found is returned.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.parse::<SettingsArgs>()?.resolve()
    }

    /// The publisher's view of the topology: the `payments` exchange (or its override).
    pub fn topology(&self) -> Topology {
        Topology {
            exchange: self.exchange.clone(),
            ..Topology::default()
        }
    }

    /// One line for the start-up log; no secret in it.
    pub fn summary(&self) -> String {
        format!(
            "bind_addr={} exchange={} amqp_channels={} app_id={} sign_type={} seller_id={} \
             notify_path={} publish_confirm_timeout={} http_workers={} alipay={} encryption={}",
            self.bind_addr,
            self.exchange,
            self.amqp_channels,
            self.app_id,
            self.sign_type,
            self.seller_id.as_deref().unwrap_or("(not checked)"),
            self.notify_path,
            format_duration(self.publish_confirm_timeout),
            self.http_workers,
            match &self.alipay {
                AlipayVerifier::PublicKey(key) => format!("public_key:{}", key.fingerprint()),
                AlipayVerifier::Certificates(store) => format!(
                    "certificates:alipay_root_cert_sn={},alipay_cert_sn={},gateway={}",
                    store.root().sn(),
                    store.sns().join("+"),
                    self.gateway_url
                ),
            },
            self.encrypt_key
                .as_ref()
                .map_or_else(|| "off".to_owned(), |key| format!("AES-{}", key.bits())),
        )
    }
}

fn amqp_url(url: &str) -> Result<SecretString, &'static str> {
    // The parser's message may quote the URL, password included, so it is not passed on.
    let parsed = AMQPUri::from_str(url)
        .map_err(|_| "is not an AMQP URL such as amqp://user:pass@host:5672/%2f")?;
    match parsed.scheme {
        AMQPScheme::AMQP => Ok(SecretString::from(url)),
        // The workspace builds lapin without a TLS stack (no OpenSSL or second rustls provider).
        AMQPScheme::AMQPS => {
            Err("amqps:// is not supported by this build; use amqp:// (terminate TLS in a sidecar)")
        }
    }
}

fn exchange(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.len() > 255 {
        return Err("is longer than 255 bytes");
    }
    Ok(name.to_owned())
}

fn gateway_url(url: &str) -> Result<String, &'static str> {
    let url = url.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_owned())
    } else {
        Err("must be an http(s) URL such as http://payment-gateway:50051")
    }
}

fn notify_path(path: &str) -> Result<String, &'static str> {
    let path = path.trim();
    let valid = path.starts_with('/')
        && path.len() > 1
        && !path.contains(['?', '#', '{', '}'])
        && path.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(path.to_owned())
    } else {
        Err("must be a literal path such as /alipay/notify")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = include_str!("../../../crates/alipay/tests/vectors/keys/alipay_public.pem");

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_PUBLIC_KEY", KEY),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_apply() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(settings.bind_addr.to_string(), "0.0.0.0:8081");
        assert_eq!(settings.amqp_url.expose_secret(), DEFAULT_AMQP_URL);
        assert_eq!(settings.exchange, "payments");
        assert_eq!(settings.amqp_channels, 1);
        assert_eq!(settings.sign_type, SignType::Rsa2);
        assert_eq!(settings.seller_id, None);
        assert_eq!(settings.notify_path, "/alipay/notify");
        assert_eq!(settings.publish_confirm_timeout, Duration::from_secs(3));
        assert_eq!(settings.topology().exchange, "payments");
        assert_eq!(settings.topology().queue, Topology::default().queue);
    }

    #[test]
    fn every_variable_is_read() {
        let settings = Settings::from_env(&env(&[
            ("BIND_ADDR", "127.0.0.1:0"),
            ("AMQP_URL", "amqp://u:p@127.0.0.1:5673/vh"),
            ("AMQP_EXCHANGE", "t-1.payments"),
            ("AMQP_CHANNELS", "4"),
            ("ALIPAY_SIGN_TYPE", "RSA"),
            ("ALIPAY_SELLER_ID", "2088102177846880"),
            ("NOTIFY_PATH", "/hooks/alipay"),
            ("PUBLISH_CONFIRM_TIMEOUT", "250ms"),
            ("HTTP_WORKERS", "3"),
            ("SHUTDOWN_TIMEOUT", "5s"),
        ]))
        .unwrap();
        assert_eq!(settings.bind_addr.to_string(), "127.0.0.1:0");
        assert_eq!(settings.exchange, "t-1.payments");
        assert_eq!(settings.amqp_channels, 4);
        assert_eq!(settings.sign_type, SignType::Rsa);
        assert_eq!(settings.seller_id.as_deref(), Some("2088102177846880"));
        assert_eq!(settings.notify_path, "/hooks/alipay");
        assert_eq!(settings.publish_confirm_timeout, Duration::from_millis(250));
        assert_eq!(settings.http_workers, 3);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("BIND_ADDR", "somewhere")], "BIND_ADDR"),
            (&[("AMQP_URL", "http://x")], "AMQP_URL"),
            (&[("AMQP_URL", "amqps://u:p@host/%2f")], "AMQP_URL"),
            (&[("ALIPAY_SIGN_TYPE", "HMAC")], "ALIPAY_SIGN_TYPE"),
            (&[("ALIPAY_PUBLIC_KEY", "not a key")], "ALIPAY_PUBLIC_KEY"),
            (
                &[("ALIPAY_PUBLIC_KEY_FILE", "/nonexistent")],
                "ALIPAY_PUBLIC_KEY",
            ),
            (&[("NOTIFY_PATH", "alipay/notify")], "NOTIFY_PATH"),
            (&[("NOTIFY_PATH", "/a/{b}")], "NOTIFY_PATH"),
            (
                &[("PUBLISH_CONFIRM_TIMEOUT", "3")],
                "PUBLISH_CONFIRM_TIMEOUT",
            ),
            (
                &[("PUBLISH_CONFIRM_TIMEOUT", "0s")],
                "PUBLISH_CONFIRM_TIMEOUT",
            ),
            (&[("HTTP_WORKERS", "0")], "HTTP_WORKERS"),
            (&[("AMQP_CHANNELS", "0")], "AMQP_CHANNELS"),
            (&[("AMQP_CHANNELS", "65")], "AMQP_CHANNELS"),
            (&[("AMQP_EXCHANGE", &"x".repeat(256))], "AMQP_EXCHANGE"),
        ];
        for (extra, variable) in cases {
            let error = Settings::from_env(&env(extra)).unwrap_err();
            assert_eq!(&error.variable, variable, "{extra:?}: {error}");
        }
        let missing =
            Settings::from_env(&Env::from_pairs([("ALIPAY_PUBLIC_KEY", KEY)])).unwrap_err();
        assert_eq!(missing.variable, "ALIPAY_APP_ID");
        let no_key = Settings::from_env(&Env::from_pairs([("ALIPAY_APP_ID", "1")])).unwrap_err();
        assert_eq!(no_key.variable, "ALIPAY_PUBLIC_KEY");
    }

    #[test]
    fn the_amqp_password_never_prints() {
        let settings =
            Settings::from_env(&env(&[("AMQP_URL", "amqp://u:hunter2@127.0.0.1/%2f")])).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert!(!settings.summary().contains("hunter2"));
        let error = Settings::from_env(&env(&[("AMQP_URL", "amqp://u:hunter2@[bad")])).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn help_lists_every_variable() {
        use clap::CommandFactory as _;
        let help = common::config::reference_help(crate::cli::Cli::command());
        for variable in [
            "BIND_ADDR",
            "AMQP_URL",
            "AMQP_EXCHANGE",
            "AMQP_CHANNELS",
            "ALIPAY_APP_ID",
            "ALIPAY_PUBLIC_KEY",
            "ALIPAY_PUBLIC_KEY_FILE",
            "ALIPAY_SIGN_TYPE",
            "ALIPAY_SELLER_ID",
            "NOTIFY_PATH",
            "PUBLISH_CONFIRM_TIMEOUT",
            "HTTP_WORKERS",
            "SHUTDOWN_TIMEOUT",
            "RUST_LOG",
            "ALIPAY_PUBLIC_CERT",
            "ALIPAY_PUBLIC_CERT_FILE",
            "ALIPAY_ROOT_CERT",
            "ALIPAY_ROOT_CERT_FILE",
            "PAYMENT_GATEWAY_URL",
            "PAYMENT_GATEWAY_TIMEOUT",
            "ALIPAY_ENCRYPT_KEY",
            "ALIPAY_ENCRYPT_KEY_FILE",
        ] {
            assert!(help.contains(variable), "{variable}");
        }
    }

    const APP_CERT: &str = include_str!(
        "../../../crates/alipay/tests/vectors/certs/appCertPublicKey_2021004100000001.crt"
    );
    const ALIPAY_CERT: &str =
        include_str!("../../../crates/alipay/tests/vectors/certs/alipayCertPublicKey_RSA2.crt");
    const EXPIRED_CERT: &str = include_str!(
        "../../../crates/alipay/tests/vectors/certs/negative/alipayCertPublicKey_expired.crt"
    );
    const ROOT_CERT: &str =
        include_str!("../../../crates/alipay/tests/vectors/certs/alipayRootCert.crt");

    fn cert_env(extra: &[(&str, &str)]) -> Result<Settings, String> {
        let mut pairs = vec![
            ("ALIPAY_APP_ID", "2021004100000001"),
            ("ALIPAY_PUBLIC_CERT", ALIPAY_CERT),
            ("ALIPAY_ROOT_CERT", ROOT_CERT),
        ];
        for (name, value) in extra {
            pairs.retain(|(n, _)| n != name);
            pairs.push((name, value));
        }
        Settings::from_env(&Env::from_pairs(pairs)).map_err(|e| e.to_string())
    }

    #[test]
    fn certificate_mode_loads_and_names_every_mistake() {
        let settings = cert_env(&[]).unwrap();
        assert!(settings.alipay.certificates().is_some());
        assert_eq!(settings.gateway_url, DEFAULT_GATEWAY_URL);

        let app_cert = cert_env(&[("ALIPAY_PUBLIC_CERT", APP_CERT)]).unwrap_err();
        assert!(
            app_cert.contains("ALIPAY_PUBLIC_CERT")
                && app_cert.contains("this is the app certificate"),
            "{app_cert}"
        );
        let expired = cert_env(&[("ALIPAY_PUBLIC_CERT", EXPIRED_CERT)]).unwrap_err();
        assert!(expired.contains("expired"), "{expired}");
        let no_root = cert_env(&[("ALIPAY_ROOT_CERT", "")]).unwrap_err();
        assert!(no_root.contains("ALIPAY_ROOT_CERT"), "{no_root}");
        let both = cert_env(&[("ALIPAY_PUBLIC_KEY", KEY)]).unwrap_err();
        assert!(both.contains("ALIPAY_PUBLIC_KEY"), "{both}");
        let gateway = cert_env(&[("PAYMENT_GATEWAY_URL", "payment-gateway:50051")]).unwrap_err();
        assert!(gateway.contains("PAYMENT_GATEWAY_URL"), "{gateway}");
        let aes = cert_env(&[("ALIPAY_ENCRYPT_KEY", "not a key!")]).unwrap_err();
        assert!(aes.contains("ALIPAY_ENCRYPT_KEY"), "{aes}");
    }
}
