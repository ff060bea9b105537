//! Configuration from environment variables, validated once at start-up.
//!
//! Every variable is read through [`common::config::Env`], so an error names the variable and
//! says what is wrong with its value; tests build settings from a map instead of the process
//! environment. [`HELP`] is what `notify-receiver --help` prints; keep it in step with
//! [`Settings::from_env`] and the README's configuration table.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use alipay::cert::{AlipayCertificates, RootBundle};
use alipay::keys::PublicKey;
use alipay::sign::SignType;
use alipay::time::{Clock, SystemClock};
use alipay::{AesKey, AlipayVerifier};
use common::amqp::Topology;
use common::config::{ConfigError, Env, ExposeSecret, SecretString, format_duration};
use lapin::uri::{AMQPScheme, AMQPUri};

pub const DEFAULT_BIND_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8081);
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_NOTIFY_PATH: &str = "/alipay/notify";
pub const DEFAULT_EXCHANGE: &str = "payments";
/// Long enough for a loaded broker's fsync, short enough that Alipay's own HTTP timeout (a few
/// seconds) does not cut the request first and leave it guessing.
pub const DEFAULT_PUBLISH_CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// One channel already pipelines every publish; more only help a broker with cores to spare
/// (measured on the 2-core machine: no difference between 1, 2 and 4).
pub const DEFAULT_AMQP_CHANNELS: usize = 1;
/// Certificate mode: where a rotated Alipay certificate is asked for.
pub const DEFAULT_GATEWAY_URL: &str = "http://127.0.0.1:50051";
pub const DEFAULT_GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);

/// What `notify-receiver --help` prints after clap's usage: every variable it reads.
pub const HELP: &str = "\
ENVIRONMENT (an empty value counts as unset):
  BIND_ADDR                 host:port the HTTP server listens on            [default: 0.0.0.0:8081]
  AMQP_URL                  RabbitMQ URL, amqp:// (add ?heartbeat=10 to notice a dead peer sooner)
                                                     [default: amqp://guest:guest@127.0.0.1:5672/%2f]
  AMQP_EXCHANGE             exchange payment events are published to       [default: payments]
  AMQP_CHANNELS             confirm-mode channels shared by all requests (1-64)     [default: 1]
  ALIPAY_APP_ID             your app id; notifications for any other app get 400      [required]
  ALIPAY_PUBLIC_KEY         Alipay's public key (PEM or bare base64, SPKI or PKCS#1)   [required,
  ALIPAY_PUBLIC_KEY_FILE      or a path to a file holding it; set exactly one of the two]
                                                        [in public-key mode]
  ALIPAY_PUBLIC_CERT        certificate mode (公钥证书): Alipay's public certificate
  ALIPAY_PUBLIC_CERT_FILE     (alipayCertPublicKey_RSA2.crt), PEM text or a file; setting it
                            turns certificate mode on, instead of ALIPAY_PUBLIC_KEY
  ALIPAY_ROOT_CERT          Alipay's root bundle (alipayRootCert.crt), PEM text or a file: the
  ALIPAY_ROOT_CERT_FILE       only trust anchor for a rotated Alipay certificate
                                                        [required in certificate mode]
  PAYMENT_GATEWAY_URL       certificate mode: the payment-gateway, asked (GetAlipayCertificate)
                            for a rotated certificate named by a notification's alipay_cert_sn;
                            its answer is checked against ALIPAY_ROOT_CERT here
                                                     [default: http://127.0.0.1:50051]
  PAYMENT_GATEWAY_TIMEOUT   bound on that call                                [default: 5s]
  ALIPAY_ENCRYPT_KEY        AES key (base64 as the console shows it), or a file; opens
  ALIPAY_ENCRYPT_KEY_FILE     notifications sent with encrypt_type=AES      [default: none]
  ALIPAY_SIGN_TYPE          RSA2 (SHA256withRSA) or RSA (SHA1withRSA, legacy) [default: RSA2]
  ALIPAY_SELLER_ID          when set, notifications must carry this seller_id (PID 2088...)
                                                                            [default: not checked]
  NOTIFY_PATH               path of the notification endpoint              [default: /alipay/notify]
  PUBLISH_CONFIRM_TIMEOUT   longest wait for the broker's confirm before answering 503
                                                                            [default: 3s]
  HTTP_WORKERS              HTTP worker threads                        [default: number of CPUs]
  SHUTDOWN_TIMEOUT          on SIGTERM, how long in-flight requests may take  [default: 30s]
  RUST_LOG                  log filter (JSON logs on stdout)               [default: info]

Durations are written like 500ms, 3s, 1m.

ROUTES:
  POST <NOTIFY_PATH>   Alipay's notification (application/x-www-form-urlencoded, UTF-8, <= 64 KiB)
                       200 success | 400 fail (not Alipay's / not ours) | 503 fail (retry later)
  GET  /healthz        200 while the process runs
  GET  /readyz         200 when connected to RabbitMQ, else 503
  GET  /metrics        Prometheus metrics
";

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

impl Settings {
    /// Reads and validates every variable; the first problem found is returned.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let bind_addr = env.socket_addr_or("BIND_ADDR", DEFAULT_BIND_ADDR)?;

        let amqp_url = env
            .secret_optional("AMQP_URL")?
            .unwrap_or_else(|| SecretString::from(DEFAULT_AMQP_URL));
        validate_amqp_url(amqp_url.expose_secret())?;

        let exchange = env.or("AMQP_EXCHANGE", DEFAULT_EXCHANGE.to_owned())?;
        if exchange.len() > 255 {
            return Err(ConfigError::new(
                "AMQP_EXCHANGE",
                "is longer than 255 bytes",
            ));
        }

        let amqp_channels = env.or("AMQP_CHANNELS", DEFAULT_AMQP_CHANNELS)?;
        if !(1..=64).contains(&amqp_channels) {
            return Err(ConfigError::new(
                "AMQP_CHANNELS",
                "must be between 1 and 64",
            ));
        }

        let app_id = env.identifier("ALIPAY_APP_ID")?;

        let alipay = match env.text_or_file("ALIPAY_PUBLIC_CERT")? {
            Some(cert_text) => {
                if env.text_or_file("ALIPAY_PUBLIC_KEY")?.is_some() {
                    return Err(ConfigError::new(
                        "ALIPAY_PUBLIC_KEY",
                        "is for public-key mode; ALIPAY_PUBLIC_CERT is set (certificate mode), \
                         which replaces it (unset one of the two)",
                    ));
                }
                let root_text = env.text_or_file("ALIPAY_ROOT_CERT")?.ok_or_else(|| {
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
                if env.text_or_file("ALIPAY_ROOT_CERT")?.is_some() {
                    return Err(ConfigError::new(
                        "ALIPAY_ROOT_CERT",
                        "is set but ALIPAY_PUBLIC_CERT is not: certificate mode needs both",
                    ));
                }
                let key_text = env.text_or_file("ALIPAY_PUBLIC_KEY")?.ok_or_else(|| {
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
        let gateway_url = env.or("PAYMENT_GATEWAY_URL", DEFAULT_GATEWAY_URL.to_owned())?;
        if !(gateway_url.starts_with("http://") || gateway_url.starts_with("https://")) {
            return Err(ConfigError::new(
                "PAYMENT_GATEWAY_URL",
                "must be an http(s) URL such as http://payment-gateway:50051",
            ));
        }
        let gateway_timeout =
            env.duration_or("PAYMENT_GATEWAY_TIMEOUT", DEFAULT_GATEWAY_TIMEOUT)?;
        let encrypt_key = match env.secret_or_file("ALIPAY_ENCRYPT_KEY")? {
            Some(text) => Some(
                AesKey::from_base64(text.expose_secret())
                    .map_err(|error| ConfigError::new("ALIPAY_ENCRYPT_KEY", error.to_string()))?,
            ),
            None => None,
        };

        let sign_type = env.or("ALIPAY_SIGN_TYPE", SignType::Rsa2)?;
        let seller_id = env
            .optional::<String>("ALIPAY_SELLER_ID")?
            .map(|s| s.trim().to_owned());

        let notify_path = env.or("NOTIFY_PATH", DEFAULT_NOTIFY_PATH.to_owned())?;
        validate_path(&notify_path)?;

        let publish_confirm_timeout =
            env.duration_or("PUBLISH_CONFIRM_TIMEOUT", DEFAULT_PUBLISH_CONFIRM_TIMEOUT)?;
        if publish_confirm_timeout.is_zero() {
            return Err(ConfigError::new(
                "PUBLISH_CONFIRM_TIMEOUT",
                "must be longer than 0s",
            ));
        }

        let http_workers = env.workers_or_cpus("HTTP_WORKERS")?;
        let shutdown_timeout = env.duration_or("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT)?;

        Ok(Self {
            bind_addr,
            amqp_url,
            exchange,
            amqp_channels,
            app_id,
            alipay,
            gateway_url,
            gateway_timeout,
            encrypt_key,
            sign_type,
            seller_id,
            notify_path,
            publish_confirm_timeout,
            http_workers,
            shutdown_timeout,
        })
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

fn validate_amqp_url(url: &str) -> Result<(), ConfigError> {
    let parsed = AMQPUri::from_str(url)
        // The parser's message may quote the URL, password included, so it is not passed on.
        .map_err(|_| {
            ConfigError::new(
                "AMQP_URL",
                "is not an AMQP URL such as amqp://user:pass@host:5672/%2f",
            )
        })?;
    match parsed.scheme {
        AMQPScheme::AMQP => Ok(()),
        // The workspace builds lapin without a TLS stack (no OpenSSL or second rustls provider).
        AMQPScheme::AMQPS => Err(ConfigError::new(
            "AMQP_URL",
            "amqps:// is not supported by this build; use amqp:// (terminate TLS in a sidecar)",
        )),
    }
}

fn validate_path(path: &str) -> Result<(), ConfigError> {
    let valid = path.starts_with('/')
        && path.len() > 1
        && !path.contains(['?', '#', '{', '}'])
        && path.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            "NOTIFY_PATH",
            format!("{path:?} must be a literal path such as /alipay/notify"),
        ))
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
            assert!(HELP.contains(variable), "{variable}");
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
