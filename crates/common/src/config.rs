//! Typed configuration from environment variables, validated once at start-up.
//!
//! Every service is configured 12-factor style. Reading goes through [`Env`] rather than
//! `std::env::var` so that:
//! - every failure is a [`ConfigError`] naming the variable and saying what is wrong with it;
//! - the default sits at the call site, next to the `--help` text that documents it;
//! - tests read from a map ([`Env::from_pairs`]): edition 2024 makes `std::env::set_var` unsafe,
//!   and this workspace forbids `unsafe`.
//!
//! A variable that is set but empty counts as unset, because `FOO=` in a compose file or a
//! `.env` usually means "no value" rather than "the empty string".
//!
//! Secrets come back as [`SecretString`], whose `Debug` prints `[REDACTED]`, so a settings struct
//! can derive `Debug` and be logged at start-up without leaking keys.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use secrecy::{ExposeSecret, SecretString};

/// A variable that is missing or does not parse, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {variable}: {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            problem: problem.into(),
        }
    }
}

/// Where variables are read from: the process environment, or a fixed map in tests.
#[derive(Debug, Clone)]
pub struct Env {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Process,
    Map(BTreeMap<String, String>),
}

impl Env {
    /// Reads the process environment at each lookup.
    pub fn from_process() -> Self {
        Self {
            source: Source::Process,
        }
    }

    /// Reads only the given pairs; for tests and for layering a file over defaults.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            source: Source::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The raw text of a variable; `None` when unset or empty.
    pub fn text(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let value = match &self.source {
            Source::Process => match std::env::var(name) {
                Ok(value) => Some(value),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(ConfigError::new(name, "is not valid UTF-8"));
                }
            },
            Source::Map(map) => map.get(name).cloned(),
        };
        Ok(value.filter(|v| !v.is_empty()))
    }

    /// A variable that must be set, parsed with [`FromStr`].
    pub fn required<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional(name)?
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// A variable that may be absent, parsed with [`FromStr`] when present.
    pub fn optional<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.optional_with(name, str::parse::<T>)
    }

    /// A variable with a default used when it is absent; a present but bad value is an error,
    /// never silently replaced by the default.
    pub fn or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// A variable parsed by a custom function; the function's error becomes the problem text.
    pub fn optional_with<T, E, F>(&self, name: &str, parse: F) -> Result<Option<T>, ConfigError>
    where
        E: fmt::Display,
        F: FnOnce(&str) -> Result<T, E>,
    {
        match self.text(name)? {
            None => Ok(None),
            Some(text) => parse(text.trim())
                .map(Some)
                .map_err(|error| ConfigError::new(name, format!("{text:?} is invalid: {error}"))),
        }
    }

    /// A duration such as `30m`, `1h`, `15s`, `500ms` (see [`parse_duration`]).
    pub fn duration_or(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        Ok(self.optional_with(name, parse_duration)?.unwrap_or(default))
    }

    /// A listening address such as `0.0.0.0:8080` (see [`parse_socket_addr`]).
    pub fn socket_addr_or(
        &self,
        name: &str,
        default: SocketAddr,
    ) -> Result<SocketAddr, ConfigError> {
        Ok(self
            .optional_with(name, parse_socket_addr)?
            .unwrap_or(default))
    }

    /// A required identifier (an app id, say): trimmed, then printable ASCII without spaces.
    pub fn identifier(&self, name: &str) -> Result<String, ConfigError> {
        let text: String = self.required(name)?;
        let text = text.trim().to_owned();
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                name,
                "must be printable ASCII without spaces",
            ));
        }
        Ok(text)
    }

    /// A number of worker threads: at least 1, by default one per CPU.
    pub fn workers_or_cpus(&self, name: &str) -> Result<usize, ConfigError> {
        let default = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = self.or(name, default)?;
        if workers == 0 {
            return Err(ConfigError::new(name, "must be at least 1"));
        }
        Ok(workers)
    }

    /// A switch: `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0` (case-insensitive).
    pub fn flag_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        Ok(self.optional_with(name, parse_flag)?.unwrap_or(default))
    }

    /// A secret that must be set.
    pub fn secret(&self, name: &str) -> Result<SecretString, ConfigError> {
        self.secret_optional(name)?
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// A secret that may be absent.
    pub fn secret_optional(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        Ok(self.text(name)?.map(SecretString::from))
    }

    /// A secret given either inline in `NAME` or as a path in `NAME_FILE` (the Docker/Kubernetes
    /// secrets convention). Setting both is an error rather than a silent precedence rule.
    pub fn secret_or_file(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        Ok(self.text_or_file(name)?.map(SecretString::from))
    }

    /// Like [`Env::secret_or_file`] for values that are not secret, such as a public key.
    pub fn text_or_file(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let file_variable = format!("{name}_FILE");
        match (self.text(name)?, self.text(&file_variable)?) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                name,
                format!("both {name} and {file_variable} are set; set only one"),
            )),
            (Some(inline), None) => Ok(Some(inline)),
            (None, Some(path)) => read_value_file(&file_variable, Path::new(&path)).map(Some),
            (None, None) => Ok(None),
        }
    }
}

fn read_value_file(variable: &str, path: &Path) -> Result<String, ConfigError> {
    let content = std::fs::read_to_string(path).map_err(|error| {
        ConfigError::new(variable, format!("cannot read {}: {error}", path.display()))
    })?;
    // Editors and `echo` add a final newline that is not part of a secret such as an HMAC key.
    let content = content.trim_end_matches(['\n', '\r']);
    if content.is_empty() {
        return Err(ConfigError::new(
            variable,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(content.to_owned())
}

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}; expected a number with a unit, such as 500ms, 15s, 30m, 1h, 2d or 1h30m")]
pub struct DurationError(String);

/// Parses durations written as one or more `<integer><unit>` parts: `500ms`, `15s`, `30m`,
/// `1h`, `2d`, or `1h30m`. A bare number is refused because its unit would be a guess.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError("empty duration".into()));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(DurationError(format!(
                "{rest:?} does not start with a number"
            )));
        }
        let (digits, after) = rest.split_at(digits_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let number: u64 = digits
            .parse()
            .map_err(|_| DurationError(format!("{digits} is too large")))?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(DurationError(format!("{digits} has no unit"))),
            other => return Err(DurationError(format!("unknown unit {other:?}"))),
        };
        let part = number
            .checked_mul(millis_per_unit)
            .map(Duration::from_millis)
            .ok_or_else(|| DurationError(format!("{digits}{unit} is too large")))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| DurationError(format!("{text} is too large")))?;
        rest = next;
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it (`1h30m`, `500ms`, `0s`), for `--help`
/// texts and logs. Sub-millisecond precision is dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}

/// Parses a listening address: `IP:port` (`0.0.0.0:8080`, `[::]:50051`), `localhost:port`
/// (loopback), or `:port` (all IPv4 interfaces). Host names other than `localhost` are refused:
/// resolving them would be a blocking DNS lookup with an answer that can change.
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = SocketAddr::from_str(text) {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err("expected host:port, such as 0.0.0.0:8080".to_owned());
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number (0-65535)"))?;
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => {
            return Err(format!(
                "{other:?} is not an IP address; use an IP such as 0.0.0.0, [::] or 127.0.0.1"
            ));
        }
    };
    Ok(SocketAddr::new(ip, port))
}

fn parse_flag(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err("expected on/off, true/false, yes/no or 1/0".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_trimmed_and_must_be_printable_without_spaces() {
        let env = Env::from_pairs([("ID", " 2021000000000001 "), ("BAD", "20 21")]);
        assert_eq!(env.identifier("ID").unwrap(), "2021000000000001");
        let bad = env.identifier("BAD").unwrap_err();
        assert_eq!(bad.variable, "BAD");
        assert!(bad.to_string().contains("without spaces"), "{bad}");
        assert_eq!(env.identifier("MISSING").unwrap_err().variable, "MISSING");
    }

    #[test]
    fn worker_counts_default_to_the_cpus_and_refuse_zero() {
        let env = Env::from_pairs([("THREE", "3"), ("ZERO", "0")]);
        assert_eq!(env.workers_or_cpus("THREE").unwrap(), 3);
        assert!(env.workers_or_cpus("UNSET").unwrap() >= 1);
        let zero = env.workers_or_cpus("ZERO").unwrap_err();
        assert_eq!(zero.variable, "ZERO");
        assert!(zero.to_string().contains("at least 1"), "{zero}");
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(30 * 60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_without_a_known_unit_are_refused() {
        for bad in [
            "",
            "30",
            "m",
            "1.5h",
            "-1s",
            "10 m",
            "3w",
            "1h 30m",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let error = parse_duration("30").unwrap_err().to_string();
        assert!(error.contains("no unit"), "{error}");
        assert!(
            error.contains("30m"),
            "the message shows an example: {error}"
        );
    }

    #[test]
    fn formatted_durations_parse_back() {
        for text in [
            "0s",
            "500ms",
            "15s",
            "30m",
            "1h",
            "1h30m",
            "2d",
            "1d2h3m4s5ms",
        ] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(format_duration(duration), text);
        }
    }

    #[test]
    fn socket_addresses() {
        assert_eq!(
            parse_socket_addr("0.0.0.0:8080").unwrap().to_string(),
            "0.0.0.0:8080"
        );
        assert_eq!(
            parse_socket_addr("[::]:50051").unwrap().to_string(),
            "[::]:50051"
        );
        assert_eq!(
            parse_socket_addr("localhost:0").unwrap().to_string(),
            "127.0.0.1:0"
        );
        assert_eq!(
            parse_socket_addr(":8081").unwrap().to_string(),
            "0.0.0.0:8081"
        );
        assert!(parse_socket_addr("8080").is_err());
        assert!(parse_socket_addr("0.0.0.0:http").is_err());
        assert!(parse_socket_addr("0.0.0.0:70000").is_err());
        assert!(parse_socket_addr("example.com:80").is_err());
    }

    #[test]
    fn errors_name_the_variable() {
        let env = Env::from_pairs([
            ("ORDER_TTL", "thirty minutes"),
            ("BIND_ADDR", "nowhere"),
            ("AMQP_DELIVERY_LIMIT", "ten"),
            ("SANDBOX_TEST_API", "maybe"),
        ]);

        let error = env
            .duration_or("ORDER_TTL", Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(error.variable, "ORDER_TTL");
        assert!(error.to_string().contains("ORDER_TTL"), "{error}");
        assert!(error.problem.contains("thirty minutes"), "{error}");

        let default_addr = SocketAddr::from(([0, 0, 0, 0], 8080));
        let error = env.socket_addr_or("BIND_ADDR", default_addr).unwrap_err();
        assert_eq!(error.variable, "BIND_ADDR");

        let error = env.or::<u16>("AMQP_DELIVERY_LIMIT", 10).unwrap_err();
        assert_eq!(error.variable, "AMQP_DELIVERY_LIMIT");

        let error = env.flag_or("SANDBOX_TEST_API", true).unwrap_err();
        assert_eq!(error.variable, "SANDBOX_TEST_API");

        let error = env.required::<String>("DATABASE_URL").unwrap_err();
        assert_eq!(error.variable, "DATABASE_URL");
        assert!(error.problem.contains("required"), "{error}");
    }

    #[test]
    fn defaults_apply_only_when_unset_or_empty() {
        let env = Env::from_pairs([("ORDER_TTL", "15m"), ("BIND_ADDR", ""), ("FLAG", "OFF")]);
        assert_eq!(
            env.duration_or("ORDER_TTL", Duration::from_secs(1800)),
            Ok(Duration::from_secs(900))
        );
        let default_addr = SocketAddr::from(([0, 0, 0, 0], 8080));
        assert_eq!(
            env.socket_addr_or("BIND_ADDR", default_addr),
            Ok(default_addr)
        );
        assert_eq!(env.or::<u16>("AMQP_DELIVERY_LIMIT", 10), Ok(10));
        assert_eq!(env.flag_or("FLAG", true), Ok(false));
        assert_eq!(env.optional::<String>("NOPE"), Ok(None));
    }

    #[test]
    fn secrets_never_print() {
        let env = Env::from_pairs([("JWT_SECRET", "hunter2-hunter2")]);
        let secret = env.secret("JWT_SECRET").unwrap();
        assert_eq!(secret.expose_secret(), "hunter2-hunter2");
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(env.secret("OTHER").unwrap_err().variable, "OTHER");
    }

    #[test]
    fn secrets_can_come_from_a_file() {
        let dir = std::env::temp_dir().join(format!("common-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "s3cret\n").unwrap();
        let path_text = path.display().to_string();

        let from_file = Env::from_pairs([("ALIPAY_APP_PRIVATE_KEY_FILE", path_text.as_str())]);
        let secret = from_file
            .secret_or_file("ALIPAY_APP_PRIVATE_KEY")
            .unwrap()
            .unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");

        let both = Env::from_pairs([
            ("ALIPAY_APP_PRIVATE_KEY", "inline"),
            ("ALIPAY_APP_PRIVATE_KEY_FILE", path_text.as_str()),
        ]);
        let error = both.secret_or_file("ALIPAY_APP_PRIVATE_KEY").unwrap_err();
        assert!(error.problem.contains("only one"), "{error}");

        let missing = Env::from_pairs([("ALIPAY_PUBLIC_KEY_FILE", "/nonexistent/key.pem")]);
        let error = missing.text_or_file("ALIPAY_PUBLIC_KEY").unwrap_err();
        assert_eq!(error.variable, "ALIPAY_PUBLIC_KEY_FILE");
        assert!(error.problem.contains("/nonexistent/key.pem"), "{error}");

        let neither = Env::from_pairs::<[(&str, &str); 0], _, _>([]);
        assert!(neither.text_or_file("ALIPAY_PUBLIC_KEY").unwrap().is_none());

        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn process_environment_is_readable() {
        // PATH is set in every environment the tests run in; this checks the process source only.
        let env = Env::from_process();
        assert!(env.text("PATH").unwrap().is_some());
        assert_eq!(
            env.text("COMMON_CONFIG_SURELY_UNSET_VARIABLE").unwrap(),
            None
        );
    }
}
