//! Configuration from environment variables, validated once at start-up.
//!
//! Read through [`common::config::Env`], so every error names the variable; tests build settings
//! from a map. [`HELP`] is printed by `order --help` (clap's `after_help`): keep it in step with
//! [`Settings::from_env`] and the README's configuration table.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use common::amqp::Topology;
use common::auth::{JwtIssuer, JwtVerifier};
use common::config::{ConfigError, Env, ExposeSecret, SecretString, format_duration};
use lapin::uri::{AMQPScheme, AMQPUri};

pub const DEFAULT_BIND_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8080);
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/order";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_PAYMENT_GATEWAY_URL: &str = "http://127.0.0.1:50051";
/// Signing a pay link is local to the gateway; queries and refunds go to Alipay and back.
pub const DEFAULT_GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 connections to the gateway, used in turn. One is enough on the 2-core bench machine
/// (4 measured no faster); more may help a gateway with cores to spare.
pub const DEFAULT_GATEWAY_CONNECTIONS: usize = 1;
/// Alipay's own default for a page-pay cashier is much longer; half an hour keeps course seats
/// and prices honest without rushing a buyer.
pub const DEFAULT_ORDER_TTL: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_SUCCESS_QUERY_INTERVAL: Duration = Duration::from_secs(5);
/// Enough unacked events to keep the database busy, few enough that a crash redelivers little.
pub const DEFAULT_PREFETCH: u16 = 32;
/// Two HTTP workers on two cores; the pool serves them plus the consumer and the sweeper.
pub const DEFAULT_POOL_SIZE: usize = 16;
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How old a pending refund must be before the sweeper settles it with QueryRefund.
pub const DEFAULT_REFUND_SETTLE_AFTER: Duration = Duration::from_secs(60);
/// When an unpaid order is asked about after its creation: early enough that a lost
/// notification costs the buyer a minute, spaced so that an abandoned cashier costs a few
/// queries. The last step repeats until the order expires.
pub const DEFAULT_SYNC_SCHEDULE: &str = "1m,3m,10m";
/// How long an event that came before its payment waits: as long as Alipay itself retries a
/// notification (4m, 10m, 10m, 1h, 2h, 6h, 15h: about 25 h).
pub const DEFAULT_EARLY_EVENT_PATIENCE: Duration = Duration::from_secs(25 * 3600);
/// How often the depth of the dead-letter queue is read into the metrics.
pub const DEFAULT_DEAD_LETTER_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Printed after clap's usage by `order --help`.
pub const HELP: &str = "\
ENVIRONMENT (an empty value counts as unset; durations are written 500ms, 15s, 30m, 1h):
  BIND_ADDR               host:port of the HTTP server                    [default: 0.0.0.0:8080]
  DATABASE_URL            PostgreSQL URL (no TLS)   [default: postgres://postgres@127.0.0.1:5432/order]
  DATABASE_POOL_SIZE      connections in the pool                                   [default: 16]
  AMQP_URL                RabbitMQ URL, amqp://   [default: amqp://guest:guest@127.0.0.1:5672/%2f]
  AMQP_PREFIX             prefix of every exchange and queue name (tests, shared brokers)
                                                                                  [default: none]
  AMQP_PREFETCH           unacknowledged events the consumer holds at once (1-1000)  [default: 32]
  PAYMENT_GATEWAY_URL     the payment-gateway's gRPC URL           [default: http://127.0.0.1:50051]
  PAYMENT_GATEWAY_TIMEOUT bound on connecting to the gateway and on each call       [default: 5s]
  PAYMENT_GATEWAY_CONNECTIONS  HTTP/2 connections to the gateway, used in turn (1-64) [default: 1]
  JWT_SECRET              HS256 secret (at least 32 bytes)         [set exactly one of JWT_SECRET,
  JWT_PUBLIC_KEY          RS256 public key (PEM)                     JWT_PUBLIC_KEY,
  JWT_PUBLIC_KEY_FILE     ... or a file holding it                   JWT_PUBLIC_KEY_FILE]
  ORDER_TTL               how long an unpaid order (and its Alipay trade) stays open [default: 30m]
  EXPIRY_SWEEP_INTERVAL   how often expired orders are closed; 0s turns the sweeper off
                                                                                   [default: 30s]
  REFUND_SETTLE_AFTER     pending refunds older than this are settled by the sweeper [default: 1m]
  SYNC_SCHEDULE           when the sweeper asks Alipay (QueryTrade) about an unpaid order, after
                          its creation; the last step repeats until expiry; off: only at expiry
                                                                             [default: 1m,3m,10m]
  EARLY_EVENT_PATIENCE    how long an event that came before its payment waits, then it is
                          dead-lettered (early_event_expired)                       [default: 25h]
  DEAD_LETTER_POLL_INTERVAL  how often the dead-letter queue's depth is read into /metrics
                                                                                   [default: 30s]
  SUCCESS_QUERY_INTERVAL  the return page asks Alipay about one order at most this often
                                                                                    [default: 5s]
  ALIPAY_APP_ID           our app id; events for any other app are dead-lettered       [required]
  SEED_DEMO_DATA          on/off: put the three demo courses into an empty catalog   [default: on]
  STOREFRONT              on/off: serve the demo pages at / and a dev login that mints tokens for
                          anyone (needs JWT_SECRET); local runs only               [default: off]
  HTTP_WORKERS            HTTP worker threads                           [default: number of CPUs]
  SHUTDOWN_TIMEOUT        on SIGTERM, how long in-flight requests may take          [default: 30s]
  RUST_LOG                log filter (JSON logs on stdout)                        [default: info]
  RECONCILE_AT            Beijing time of day of the daily reconciliation of yesterday's bill
                          (HH:MM), or off; replicas run it once                   [default: 10:00]
  BILL_DOWNLOAD_TIMEOUT   bound on downloading one bill                             [default: 60s]
  BILL_DOWNLOAD_ATTEMPTS  attempts at a bill download, each with a fresh link (1-10) [default: 3]
  BILL_MAX_ZIP_BYTES      largest bill zip accepted (e.g. 64MiB)                 [default: 64MiB]
  BILL_MAX_CSV_BYTES      largest CSV in it once decompressed (zip bombs)       [default: 512MiB]
  ALIPAY_SELLER_ID        our PID (2088...): a bill of any other account is refused
                                                                           [default: not checked]

COMMANDS:
  order reconcile --date YYYY-MM-DD [--json]   reconcile one day now and print the differences
  order dead-letters list [--json]             the dead-letter queue with each letter's reason
  order dead-letters replay --id ID... | --all  put dead letters back (idempotent)
  order token --user-id N [--admin] [--ttl 1h]  a JWT signed with JWT_SECRET (local use)

ROUTES:
  POST /order/pay/                  create an order and its Alipay pay link (JWT)
  GET  /order/success/              the return page's status check
  GET  /api/v1/courses[/{id}]       the catalog
  GET  /api/v1/orders[/{no}]        my orders (JWT); POST /api/v1/orders/{no}/cancel, /pay-link
  POST /api/v1/orders/{no}/refunds  refund (admin JWT); GET lists; POST /api/v1/refunds/{no}/retry
  GET  /api/v1/reconciliations[/{date}]  reconciliation runs and differences (admin JWT)
  GET  /api/v1/openapi.json         the OpenAPI document
  GET  /healthz  /readyz  /metrics
";

/// How tokens are checked.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 with a shared secret; `order token` can mint with it.
    Secret(SecretString),
    /// RS256 with a public key (the issuer lives elsewhere).
    PublicKey(String),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::Secret(_) => f.write_str("JwtKey::Secret([REDACTED])"),
            JwtKey::PublicKey(_) => f.write_str("JwtKey::PublicKey(..)"),
        }
    }
}

impl JwtKey {
    pub fn verifier(&self) -> Result<JwtVerifier, ConfigError> {
        match self {
            JwtKey::Secret(secret) => JwtVerifier::hs256(secret.expose_secret().as_bytes())
                .map_err(|e| ConfigError::new("JWT_SECRET", e.to_string())),
            JwtKey::PublicKey(pem) => JwtVerifier::rs256_pem(pem.as_bytes())
                .map_err(|e| ConfigError::new("JWT_PUBLIC_KEY", e.to_string())),
        }
    }

    /// The issuer for `order token`; only with a shared secret.
    pub fn issuer(&self) -> Result<JwtIssuer, ConfigError> {
        match self {
            JwtKey::Secret(secret) => JwtIssuer::hs256(secret.expose_secret().as_bytes())
                .map_err(|e| ConfigError::new("JWT_SECRET", e.to_string())),
            JwtKey::PublicKey(_) => Err(ConfigError::new(
                "JWT_SECRET",
                "is required to mint tokens (with JWT_PUBLIC_KEY the issuer holds the private key)",
            )),
        }
    }
}

/// Everything the service reads from its environment, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind_addr: SocketAddr,
    /// Carries the database password, hence secret.
    pub database_url: SecretString,
    pub database_pool_size: usize,
    /// Carries the broker password, hence secret.
    pub amqp_url: SecretString,
    pub amqp_prefix: String,
    pub amqp_prefetch: u16,
    pub payment_gateway_url: String,
    pub payment_gateway_timeout: Duration,
    pub payment_gateway_connections: usize,
    pub jwt: JwtKey,
    pub order_ttl: Duration,
    /// `None`: the sweeper does not run.
    pub sweep_interval: Option<Duration>,
    pub refund_settle_after: Duration,
    /// Delays after creation at which unpaid orders are queried; empty: only at expiry.
    pub sync_schedule: Vec<Duration>,
    pub early_event_patience: Duration,
    pub dead_letter_poll_interval: Duration,
    pub success_query_interval: Duration,
    pub app_id: String,
    pub seed_demo_data: bool,
    /// Serve the demo storefront and its dev login (local runs only).
    pub storefront: bool,
    pub http_workers: usize,
    pub shutdown_timeout: Duration,
    /// The daily reconciliation against Alipay's bill.
    pub reconcile: crate::reconcile::ReconcileSettings,
}

impl Settings {
    /// Reads only what `order token` needs: the JWT key.
    pub fn jwt_from_env(env: &Env) -> Result<JwtKey, ConfigError> {
        let secret = env.secret_optional("JWT_SECRET")?;
        let public_key = env.text_or_file("JWT_PUBLIC_KEY")?;
        let key = match (secret, public_key) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    "both JWT_SECRET and JWT_PUBLIC_KEY are set; set only one",
                ));
            }
            (Some(secret), None) => JwtKey::Secret(secret),
            (None, Some(pem)) => JwtKey::PublicKey(pem),
            (None, None) => {
                return Err(ConfigError::new(
                    "JWT_SECRET",
                    "is required but not set (or set JWT_PUBLIC_KEY / JWT_PUBLIC_KEY_FILE)",
                ));
            }
        };
        key.verifier()?;
        Ok(key)
    }

    /// Reads only what `order dead-letters` needs: the broker's URL and the names' prefix.
    pub fn amqp_from_env(env: &Env) -> Result<(SecretString, String), ConfigError> {
        let amqp_url = env
            .secret_optional("AMQP_URL")?
            .unwrap_or_else(|| SecretString::from(DEFAULT_AMQP_URL));
        validate_amqp_url(amqp_url.expose_secret())?;
        let amqp_prefix = env.or("AMQP_PREFIX", String::new())?;
        if amqp_prefix.len() > 200 || !amqp_prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "AMQP_PREFIX",
                "must be printable ASCII, at most 200 bytes",
            ));
        }
        Ok((amqp_url, amqp_prefix))
    }

    /// Reads and validates every variable; the first problem found is returned.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let bind_addr = env.socket_addr_or("BIND_ADDR", DEFAULT_BIND_ADDR)?;

        let database_url = env
            .secret_optional("DATABASE_URL")?
            .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
        let url = database_url.expose_secret();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            // The value may hold a password, so it is not quoted.
            return Err(ConfigError::new(
                "DATABASE_URL",
                "is not a PostgreSQL URL such as postgres://user:pass@host:5432/order",
            ));
        }
        let database_pool_size = env.or("DATABASE_POOL_SIZE", DEFAULT_POOL_SIZE)?;
        if !(1..=1000).contains(&database_pool_size) {
            return Err(ConfigError::new(
                "DATABASE_POOL_SIZE",
                "must be between 1 and 1000",
            ));
        }

        let (amqp_url, amqp_prefix) = Self::amqp_from_env(env)?;
        let amqp_prefetch = env.or("AMQP_PREFETCH", DEFAULT_PREFETCH)?;
        if !(1..=1000).contains(&amqp_prefetch) {
            return Err(ConfigError::new(
                "AMQP_PREFETCH",
                "must be between 1 and 1000",
            ));
        }

        let payment_gateway_url = env.or(
            "PAYMENT_GATEWAY_URL",
            DEFAULT_PAYMENT_GATEWAY_URL.to_owned(),
        )?;
        if !(payment_gateway_url.starts_with("http://")
            || payment_gateway_url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "PAYMENT_GATEWAY_URL",
                format!("{payment_gateway_url:?} must start with http:// or https://"),
            ));
        }
        let payment_gateway_timeout =
            env.duration_or("PAYMENT_GATEWAY_TIMEOUT", DEFAULT_GATEWAY_TIMEOUT)?;
        if payment_gateway_timeout.is_zero() {
            return Err(ConfigError::new(
                "PAYMENT_GATEWAY_TIMEOUT",
                "must be longer than 0s",
            ));
        }

        let payment_gateway_connections =
            env.or("PAYMENT_GATEWAY_CONNECTIONS", DEFAULT_GATEWAY_CONNECTIONS)?;
        if !(1..=64).contains(&payment_gateway_connections) {
            return Err(ConfigError::new(
                "PAYMENT_GATEWAY_CONNECTIONS",
                "must be between 1 and 64",
            ));
        }

        let jwt = Self::jwt_from_env(env)?;

        let order_ttl = env.duration_or("ORDER_TTL", DEFAULT_ORDER_TTL)?;
        // Alipay's time_expire has one-minute precision in places and a 15-day ceiling.
        if order_ttl < Duration::from_secs(60) || order_ttl > Duration::from_secs(15 * 86_400) {
            return Err(ConfigError::new("ORDER_TTL", "must be between 1m and 15d"));
        }
        let sweep_interval = env.duration_or("EXPIRY_SWEEP_INTERVAL", DEFAULT_SWEEP_INTERVAL)?;
        let sweep_interval = (!sweep_interval.is_zero()).then_some(sweep_interval);
        let refund_settle_after =
            env.duration_or("REFUND_SETTLE_AFTER", DEFAULT_REFUND_SETTLE_AFTER)?;
        let success_query_interval =
            env.duration_or("SUCCESS_QUERY_INTERVAL", DEFAULT_SUCCESS_QUERY_INTERVAL)?;
        let sync_schedule =
            parse_sync_schedule(&env.or("SYNC_SCHEDULE", DEFAULT_SYNC_SCHEDULE.to_owned())?)?;
        let early_event_patience =
            env.duration_or("EARLY_EVENT_PATIENCE", DEFAULT_EARLY_EVENT_PATIENCE)?;
        let dead_letter_poll_interval = env.duration_or(
            "DEAD_LETTER_POLL_INTERVAL",
            DEFAULT_DEAD_LETTER_POLL_INTERVAL,
        )?;
        if dead_letter_poll_interval.is_zero() {
            return Err(ConfigError::new(
                "DEAD_LETTER_POLL_INTERVAL",
                "must be longer than 0s",
            ));
        }

        let app_id = env.identifier("ALIPAY_APP_ID")?;
        let seed_demo_data = env.flag_or("SEED_DEMO_DATA", true)?;
        let storefront = env.flag_or("STOREFRONT", false)?;
        if storefront && let JwtKey::PublicKey(_) = jwt {
            return Err(ConfigError::new(
                "STOREFRONT",
                "needs JWT_SECRET: its dev login mints HS256 tokens",
            ));
        }

        let http_workers = env.workers_or_cpus("HTTP_WORKERS")?;
        let shutdown_timeout = env.duration_or("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT)?;

        Ok(Self {
            bind_addr,
            database_url,
            database_pool_size,
            amqp_url,
            amqp_prefix,
            amqp_prefetch,
            payment_gateway_url,
            payment_gateway_timeout,
            payment_gateway_connections,
            jwt,
            order_ttl,
            sweep_interval,
            refund_settle_after,
            sync_schedule,
            early_event_patience,
            dead_letter_poll_interval,
            success_query_interval,
            app_id,
            seed_demo_data,
            storefront,
            http_workers,
            shutdown_timeout,
            reconcile: crate::reconcile::ReconcileSettings::from_env(env)?,
        })
    }

    /// The RabbitMQ names, under `AMQP_PREFIX`.
    pub fn topology(&self) -> Topology {
        Topology::with_prefix(&self.amqp_prefix)
    }

    /// One line for the start-up log; no secret in it.
    pub fn summary(&self) -> String {
        format!(
            "bind_addr={} pool={} amqp_prefix={:?} prefetch={} gateway={} gateway_timeout={} \
             jwt={} order_ttl={} sweep_interval={} app_id={} seed_demo_data={} storefront={} \
             http_workers={}",
            self.bind_addr,
            self.database_pool_size,
            self.amqp_prefix,
            self.amqp_prefetch,
            self.payment_gateway_url,
            format_duration(self.payment_gateway_timeout),
            match self.jwt {
                JwtKey::Secret(_) => "HS256",
                JwtKey::PublicKey(_) => "RS256",
            },
            format_duration(self.order_ttl),
            self.sweep_interval
                .map_or_else(|| "off".to_owned(), format_duration),
            self.app_id,
            self.seed_demo_data,
            self.storefront,
            self.http_workers,
        )
    }
}

/// `1m,3m,10m`: growing delays after creation, each longer than the one before; `off` (or
/// empty) turns active sync off.
fn parse_sync_schedule(text: &str) -> Result<Vec<Duration>, ConfigError> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("off") {
        return Ok(Vec::new());
    }
    let mut steps = Vec::new();
    for part in text.split(',') {
        let step = common::config::parse_duration(part.trim())
            .map_err(|e| ConfigError::new("SYNC_SCHEDULE", format!("{:?}: {e}", part.trim())))?;
        if step.is_zero() || steps.last().is_some_and(|last| step <= *last) {
            return Err(ConfigError::new(
                "SYNC_SCHEDULE",
                "must be growing delays after creation, such as 1m,3m,10m (or off)",
            ));
        }
        steps.push(step);
    }
    Ok(steps)
}

fn validate_amqp_url(url: &str) -> Result<(), ConfigError> {
    let parsed = AMQPUri::from_str(url).map_err(|_| {
        ConfigError::new(
            "AMQP_URL",
            "is not an AMQP URL such as amqp://user:pass@host:5672/%2f",
        )
    })?;
    match parsed.scheme {
        AMQPScheme::AMQP => Ok(()),
        AMQPScheme::AMQPS => Err(ConfigError::new(
            "AMQP_URL",
            "amqps:// is not supported by this build; use amqp://",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("JWT_SECRET", SECRET),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_apply() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(settings.bind_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(settings.database_url.expose_secret(), DEFAULT_DATABASE_URL);
        assert_eq!(settings.order_ttl, Duration::from_secs(1800));
        assert_eq!(settings.sweep_interval, Some(Duration::from_secs(30)));
        assert_eq!(settings.amqp_prefetch, 32);
        assert!(settings.seed_demo_data);
        assert!(!settings.storefront);
        assert_eq!(settings.topology(), Topology::default());
    }

    #[test]
    fn every_variable_is_read() {
        let settings = Settings::from_env(&env(&[
            ("BIND_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", "postgres://u:p@db/x"),
            ("DATABASE_POOL_SIZE", "4"),
            ("AMQP_URL", "amqp://u:p@mq:5672/%2f"),
            ("AMQP_PREFIX", "t-1."),
            ("AMQP_PREFETCH", "5"),
            ("PAYMENT_GATEWAY_URL", "http://gw:50051"),
            ("PAYMENT_GATEWAY_TIMEOUT", "2s"),
            ("PAYMENT_GATEWAY_CONNECTIONS", "2"),
            ("ORDER_TTL", "15m"),
            ("EXPIRY_SWEEP_INTERVAL", "0s"),
            ("REFUND_SETTLE_AFTER", "10s"),
            ("SUCCESS_QUERY_INTERVAL", "1s"),
            ("SEED_DEMO_DATA", "off"),
            ("STOREFRONT", "on"),
            ("HTTP_WORKERS", "3"),
            ("SHUTDOWN_TIMEOUT", "5s"),
        ]))
        .unwrap();
        assert_eq!(settings.database_pool_size, 4);
        assert_eq!(settings.topology().queue, "t-1.order-service.payments");
        assert_eq!(settings.amqp_prefetch, 5);
        assert_eq!(settings.payment_gateway_url, "http://gw:50051");
        assert_eq!(settings.payment_gateway_timeout, Duration::from_secs(2));
        assert_eq!(settings.payment_gateway_connections, 2);
        assert_eq!(settings.order_ttl, Duration::from_secs(900));
        assert_eq!(settings.sweep_interval, None);
        assert_eq!(settings.refund_settle_after, Duration::from_secs(10));
        assert_eq!(settings.success_query_interval, Duration::from_secs(1));
        assert!(!settings.seed_demo_data);
        assert!(settings.storefront);
        assert_eq!(settings.http_workers, 3);
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("BIND_ADDR", "x")], "BIND_ADDR"),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (&[("DATABASE_POOL_SIZE", "0")], "DATABASE_POOL_SIZE"),
            (&[("AMQP_URL", "http://x")], "AMQP_URL"),
            (&[("AMQP_PREFETCH", "0")], "AMQP_PREFETCH"),
            (&[("AMQP_PREFIX", "a b")], "AMQP_PREFIX"),
            (
                &[("PAYMENT_GATEWAY_URL", "gw:50051")],
                "PAYMENT_GATEWAY_URL",
            ),
            (
                &[("PAYMENT_GATEWAY_TIMEOUT", "5")],
                "PAYMENT_GATEWAY_TIMEOUT",
            ),
            (&[("ORDER_TTL", "10s")], "ORDER_TTL"),
            (&[("ORDER_TTL", "30")], "ORDER_TTL"),
            (&[("EXPIRY_SWEEP_INTERVAL", "x")], "EXPIRY_SWEEP_INTERVAL"),
            (&[("SEED_DEMO_DATA", "maybe")], "SEED_DEMO_DATA"),
            (&[("STOREFRONT", "maybe")], "STOREFRONT"),
            (&[("HTTP_WORKERS", "0")], "HTTP_WORKERS"),
            (&[("JWT_SECRET", "short")], "JWT_SECRET"),
            (&[("JWT_PUBLIC_KEY", "not a pem")], "JWT_SECRET"),
        ];
        for (extra, variable) in cases {
            let error = Settings::from_env(&env(extra)).unwrap_err();
            assert_eq!(&error.variable, variable, "{extra:?}: {error}");
        }
        let missing = Settings::from_env(&Env::from_pairs([("JWT_SECRET", SECRET)])).unwrap_err();
        assert_eq!(missing.variable, "ALIPAY_APP_ID");
        let no_jwt = Settings::from_env(&Env::from_pairs([("ALIPAY_APP_ID", "1")])).unwrap_err();
        assert_eq!(no_jwt.variable, "JWT_SECRET");
    }

    #[test]
    fn the_storefront_needs_a_shared_secret() {
        let pem = include_str!("../../../crates/common/tests/fixtures/jwt-test-rs256-public.pem");
        let error = Settings::from_env(&Env::from_pairs([
            ("ALIPAY_APP_ID", "1"),
            ("JWT_PUBLIC_KEY", pem),
            ("STOREFRONT", "on"),
        ]))
        .unwrap_err();
        assert_eq!(error.variable, "STOREFRONT");
    }

    #[test]
    fn secrets_never_print() {
        let settings =
            Settings::from_env(&env(&[("DATABASE_URL", "postgres://u:hunter2@db/x")])).unwrap();
        let shown = format!("{settings:?} {}", settings.summary());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn help_lists_every_variable() {
        for variable in [
            "BIND_ADDR",
            "DATABASE_URL",
            "DATABASE_POOL_SIZE",
            "AMQP_URL",
            "AMQP_PREFIX",
            "AMQP_PREFETCH",
            "PAYMENT_GATEWAY_URL",
            "PAYMENT_GATEWAY_TIMEOUT",
            "PAYMENT_GATEWAY_CONNECTIONS",
            "JWT_SECRET",
            "JWT_PUBLIC_KEY",
            "JWT_PUBLIC_KEY_FILE",
            "ORDER_TTL",
            "EXPIRY_SWEEP_INTERVAL",
            "REFUND_SETTLE_AFTER",
            "SUCCESS_QUERY_INTERVAL",
            "ALIPAY_APP_ID",
            "SEED_DEMO_DATA",
            "STOREFRONT",
            "HTTP_WORKERS",
            "SHUTDOWN_TIMEOUT",
            "RUST_LOG",
            "RECONCILE_AT",
            "BILL_DOWNLOAD_TIMEOUT",
            "BILL_DOWNLOAD_ATTEMPTS",
            "BILL_MAX_ZIP_BYTES",
            "BILL_MAX_CSV_BYTES",
            "ALIPAY_SELLER_ID",
        ] {
            assert!(HELP.contains(variable), "{variable}");
        }
    }
}
