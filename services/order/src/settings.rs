//! Configuration from environment variables, validated once at start-up.
//!
//! [`SettingsArgs`] declares every variable for clap (name, default, parser, help), so
//! `order --help` is generated from it and lists them all; [`SettingsArgs::resolve`] then checks
//! what spans several variables. Every error names the variable. Tests build settings from pairs
//! with [`Settings::from_env`] and [`Env::from_pairs`], through the same parser.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::ArgAction;
use common::amqp::Topology;
use common::auth::{JwtIssuer, JwtVerifier};
use common::config::{self, ConfigError, Env, ExposeSecret, SecretString, format_duration};
use lapin::uri::{AMQPScheme, AMQPUri};

use crate::reconcile::{ReconcileArgs, ReconcileSettings};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/order";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const DEFAULT_PAYMENT_GATEWAY_URL: &str = "http://127.0.0.1:50051";

/// Every variable the service reads, as clap parses it (each alone); flattened into
/// [`crate::cli::Cli`].
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// host:port of the HTTP server
    #[arg(long, help_heading = "Server", env = "BIND_ADDR", value_name = "HOST:PORT", default_value = "0.0.0.0:8080",
          value_parser = config::parse_socket_addr)]
    pub bind_addr: SocketAddr,
    /// HTTP worker threads [default: the number of CPUs]
    #[arg(long, help_heading = "Server", env = "HTTP_WORKERS", value_name = "N", value_parser = config::workers)]
    pub http_workers: Option<usize>,
    /// On SIGTERM, how long in-flight requests may take
    #[arg(long, help_heading = "Server", env = "SHUTDOWN_TIMEOUT", value_name = "DURATION", default_value = "30s",
          value_parser = config::duration)]
    pub shutdown_timeout: Duration,
    /// Our app id; events for any other app are dead-lettered [required]
    #[arg(long, help_heading = "Server", env = "ALIPAY_APP_ID", value_name = "APPID", value_parser = config::identifier)]
    pub alipay_app_id: Option<String>,
    /// on/off: put the three demo courses into an empty catalog
    #[arg(long, help_heading = "Server", env = "SEED_DEMO_DATA", value_name = "ON/OFF", default_value = "on",
          value_parser = config::parse_flag, action = ArgAction::Set)]
    pub seed_demo_data: bool,
    /// on/off: serve the demo pages at / and a dev login that mints tokens for anyone (needs
    /// JWT_SECRET); local runs only
    #[arg(long, help_heading = "Server", env = "STOREFRONT", value_name = "ON/OFF", default_value = "off",
          value_parser = config::parse_flag, action = ArgAction::Set)]
    pub storefront: bool,

    /// PostgreSQL URL (no TLS)
    #[arg(long, help_heading = "Database", env = "DATABASE_URL", value_name = "URL", default_value = DEFAULT_DATABASE_URL,
          value_parser = database_url, hide_env_values = true)]
    pub database_url: SecretString,
    /// Connections in the pool
    #[arg(long, help_heading = "Database", env = "DATABASE_POOL_SIZE", value_name = "N", default_value = "16",
          value_parser = config::number_in(1usize..=1000))]
    pub database_pool_size: usize,
    /// Tasks that insert new orders, each a batch of whatever orders are waiting (1-64); each
    /// holds a pooled connection while it writes
    // 1: every order that arrives while a batch is being written joins the next one, so batches
    // grow with the load (3.5 orders at c16 on two cores, against 2.1 with two writers), and
    // PostgreSQL's CPU per pay link fell by a quarter to a third (docs/capacity.md). One writer
    // still opens 64 orders per commit, so it caps a replica only where a commit takes
    // milliseconds; raise it there.
    #[arg(long, help_heading = "Database", env = "ORDER_WRITERS", value_name = "N", default_value = "1",
          value_parser = config::number_in(1usize..=64))]
    pub order_writers: usize,

    #[command(flatten)]
    pub amqp: AmqpArgs,
    /// Unacknowledged events the consumer holds at once (1-1000); a burst is applied in batches
    /// of up to this many, one transaction each
    // 256: at 4,000 notifications/s on two cores, 32 let the consumer fall seconds behind (a
    // batch's fixed cost, paid 8× as often); 256 kept event → paid p99 near 100 ms
    // (docs/capacity.md).
    #[arg(long, help_heading = "RabbitMQ", env = "AMQP_PREFETCH", value_name = "N", default_value = "256",
          value_parser = config::number_in(1u16..=1000))]
    pub amqp_prefetch: u16,
    /// How often the dead-letter queue's depth is read into /metrics
    #[arg(long, help_heading = "RabbitMQ", env = "DEAD_LETTER_POLL_INTERVAL", value_name = "DURATION", default_value = "30s",
          value_parser = config::positive_duration)]
    pub dead_letter_poll_interval: Duration,
    /// How long an event that came before its payment waits, then it is dead-lettered
    /// (early_event_expired); as long as Alipay itself retries a notification
    #[arg(long, help_heading = "RabbitMQ", env = "EARLY_EVENT_PATIENCE", value_name = "DURATION", default_value = "25h",
          value_parser = config::duration)]
    pub early_event_patience: Duration,

    /// The payment-gateway's gRPC URL
    #[arg(long, help_heading = "Payment gateway", env = "PAYMENT_GATEWAY_URL", value_name = "URL",
          default_value = DEFAULT_PAYMENT_GATEWAY_URL, value_parser = http_url)]
    pub payment_gateway_url: String,
    /// Bound on connecting to the gateway and on each call
    #[arg(long, help_heading = "Payment gateway", env = "PAYMENT_GATEWAY_TIMEOUT", value_name = "DURATION", default_value = "5s",
          value_parser = config::positive_duration)]
    pub payment_gateway_timeout: Duration,
    /// HTTP/2 connections to the gateway, used in turn (1-64); one is enough on two cores
    #[arg(long, help_heading = "Payment gateway", env = "PAYMENT_GATEWAY_CONNECTIONS", value_name = "N", default_value = "1",
          value_parser = config::number_in(1usize..=64))]
    pub payment_gateway_connections: usize,

    #[command(flatten)]
    pub jwt: JwtArgs,

    /// How long an unpaid order (and its Alipay trade) stays open (1m-15d)
    #[arg(long, help_heading = "Orders", env = "ORDER_TTL", value_name = "DURATION", default_value = "30m",
          value_parser = order_ttl)]
    pub order_ttl: Duration,
    /// How often expired orders are closed; 0s turns the sweeper off
    #[arg(long, help_heading = "Orders", env = "EXPIRY_SWEEP_INTERVAL", value_name = "DURATION", default_value = "30s",
          value_parser = config::duration)]
    pub expiry_sweep_interval: Duration,
    /// When the sweeper asks Alipay (QueryTrade) about an unpaid order, after its creation; the
    /// last step repeats until expiry; off: only at expiry
    #[arg(long, help_heading = "Orders", env = "SYNC_SCHEDULE", value_name = "DURATIONS", default_value = "1m,3m,10m",
          value_parser = parse_sync_schedule)]
    pub sync_schedule: SyncSchedule,
    /// The return page asks Alipay about one order at most this often
    #[arg(long, help_heading = "Orders", env = "SUCCESS_QUERY_INTERVAL", value_name = "DURATION", default_value = "5s",
          value_parser = config::duration)]
    pub success_query_interval: Duration,
    /// Pending refunds older than this are settled by the sweeper (QueryRefund)
    #[arg(long, help_heading = "Orders", env = "REFUND_SETTLE_AFTER", value_name = "DURATION", default_value = "1m",
          value_parser = config::duration)]
    pub refund_settle_after: Duration,

    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

/// The broker: all `order dead-letters` needs.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "RabbitMQ")]
pub struct AmqpArgs {
    /// RabbitMQ URL, amqp://
    #[arg(long, env = "AMQP_URL", value_name = "URL", default_value = DEFAULT_AMQP_URL,
          value_parser = amqp_url, hide_env_values = true)]
    pub amqp_url: SecretString,
    /// Prefix of every exchange and queue name (tests, shared brokers) [default: none]
    #[arg(long, env = "AMQP_PREFIX", value_name = "PREFIX", value_parser = amqp_prefix)]
    pub amqp_prefix: Option<String>,
}

impl AmqpArgs {
    /// The prefix of the RabbitMQ names (empty: none).
    pub fn prefix(&self) -> &str {
        self.amqp_prefix.as_deref().unwrap_or_default()
    }
}

/// How tokens are checked: all `order token` needs. Exactly one of the three is set.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Tokens (set exactly one)")]
pub struct JwtArgs {
    /// HS256 secret (at least 32 bytes); `order token` mints with it
    #[arg(long, env = "JWT_SECRET", value_name = "SECRET", value_parser = config::secret,
          hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,
    /// RS256 public key (PEM); the issuer lives elsewhere
    #[arg(long, env = "JWT_PUBLIC_KEY", value_name = "PEM")]
    pub jwt_public_key: Option<String>,
    /// ... or a file holding it
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE", value_name = "PATH")]
    pub jwt_public_key_file: Option<PathBuf>,
}

/// Delays after creation at which unpaid orders are queried, growing; empty: only at expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSchedule(pub Vec<Duration>);

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
    pub order_writers: usize,
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
    pub reconcile: ReconcileSettings,
}

impl JwtArgs {
    /// The one key set, checked.
    pub fn resolve(self) -> Result<JwtKey, ConfigError> {
        let public_key = config::text_or_file(
            "JWT_PUBLIC_KEY",
            self.jwt_public_key,
            self.jwt_public_key_file,
        )?;
        let key = match (self.jwt_secret, public_key) {
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
}

impl SettingsArgs {
    /// Checks what spans several variables; the first problem found is returned.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let jwt = self.jwt.resolve()?;
        let app_id = self
            .alipay_app_id
            .ok_or_else(|| ConfigError::new("ALIPAY_APP_ID", "is required but not set"))?;
        if self.storefront
            && let JwtKey::PublicKey(_) = jwt
        {
            return Err(ConfigError::new(
                "STOREFRONT",
                "needs JWT_SECRET: its dev login mints HS256 tokens",
            ));
        }
        Ok(Settings {
            bind_addr: self.bind_addr,
            database_url: self.database_url,
            database_pool_size: self.database_pool_size,
            order_writers: self.order_writers,
            amqp_prefix: self.amqp.prefix().to_owned(),
            amqp_url: self.amqp.amqp_url,
            amqp_prefetch: self.amqp_prefetch,
            payment_gateway_url: self.payment_gateway_url,
            payment_gateway_timeout: self.payment_gateway_timeout,
            payment_gateway_connections: self.payment_gateway_connections,
            jwt,
            order_ttl: self.order_ttl,
            sweep_interval: (!self.expiry_sweep_interval.is_zero())
                .then_some(self.expiry_sweep_interval),
            refund_settle_after: self.refund_settle_after,
            sync_schedule: self.sync_schedule.0,
            early_event_patience: self.early_event_patience,
            dead_letter_poll_interval: self.dead_letter_poll_interval,
            success_query_interval: self.success_query_interval,
            app_id,
            seed_demo_data: self.seed_demo_data,
            storefront: self.storefront,
            http_workers: self.http_workers.unwrap_or_else(config::cpus),
            shutdown_timeout: self.shutdown_timeout,
            reconcile: self.reconcile.resolve(),
        })
    }
}

impl Settings {
    /// Reads and validates every variable; the first problem found is returned.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.parse::<SettingsArgs>()?.resolve()
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
                .map_or_else(|| "off".to_owned(), |d| format_duration(d).to_string()),
            self.app_id,
            self.seed_demo_data,
            self.storefront,
            self.http_workers,
        )
    }
}

fn database_url(url: &str) -> Result<SecretString, &'static str> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(SecretString::from(url))
    } else {
        // The value may hold a password, so it is not quoted.
        Err("is not a PostgreSQL URL such as postgres://user:pass@host:5432/order")
    }
}

fn http_url(url: &str) -> Result<String, &'static str> {
    let url = url.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_owned())
    } else {
        Err("must start with http:// or https://")
    }
}

fn amqp_prefix(prefix: &str) -> Result<String, &'static str> {
    let prefix = prefix.trim();
    if prefix.len() > 200 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII, at most 200 bytes");
    }
    Ok(prefix.to_owned())
}

/// Alipay's time_expire has one-minute precision in places and a 15-day ceiling.
fn order_ttl(text: &str) -> Result<Duration, String> {
    let ttl = config::duration(text)?;
    if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(15 * 86_400) {
        return Err("must be between 1m and 15d".to_owned());
    }
    Ok(ttl)
}

/// `1m,3m,10m`: growing delays after creation, each longer than the one before; `off` turns
/// active sync off.
fn parse_sync_schedule(text: &str) -> Result<SyncSchedule, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("off") {
        return Ok(SyncSchedule(Vec::new()));
    }
    let mut steps = Vec::new();
    for part in text.split(',') {
        let step = config::duration(part.trim()).map_err(|e| format!("{:?}: {e}", part.trim()))?;
        if step.is_zero() || steps.last().is_some_and(|last| step <= *last) {
            return Err(
                "must be growing delays after creation, such as 1m,3m,10m (or off)".to_owned(),
            );
        }
        steps.push(step);
    }
    Ok(SyncSchedule(steps))
}

fn amqp_url(url: &str) -> Result<SecretString, &'static str> {
    let parsed = AMQPUri::from_str(url)
        .map_err(|_| "is not an AMQP URL such as amqp://user:pass@host:5672/%2f")?;
    match parsed.scheme {
        AMQPScheme::AMQP => Ok(SecretString::from(url)),
        AMQPScheme::AMQPS => Err("amqps:// is not supported by this build; use amqp://"),
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
        assert_eq!(settings.amqp_prefetch, 256);
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
        use clap::CommandFactory as _;
        let help = common::config::reference_help(crate::cli::Cli::command());
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
            "SYNC_SCHEDULE",
            "EARLY_EVENT_PATIENCE",
            "DEAD_LETTER_POLL_INTERVAL",
        ] {
            assert!(help.contains(variable), "{variable}");
        }
    }
}
