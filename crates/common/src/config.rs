//! Typed configuration from environment variables, validated once at start-up.
//!
//! Each service declares its variables as a `clap` derive struct whose fields carry
//! `#[arg(long, env = "NAME", default_value = …, value_parser = …)]`, so `--help` is generated
//! and lists every variable with its default. This module adds what clap does not do by itself:
//!
//! - [`Env`]: where the variables come from. The binary reads the process environment
//!   ([`parse_command_line`]); tests pass pairs ([`Env::from_pairs`], [`parse_from_pairs`]),
//!   because edition 2024 makes `std::env::set_var` unsafe and this workspace forbids `unsafe`.
//!   Both go through the same clap parser: a pair becomes the `--long` option whose `env` it
//!   names, and the process environment is ignored.
//! - A variable that is set but empty counts as unset, because `FOO=` in a compose file or a
//!   `.env` usually means "no value"; clap alone would hand the empty string to the parser.
//! - Every failure is a [`ConfigError`] naming the variable (clap's own message names the option,
//!   which is not what an operator setting variables typed).
//! - [`text_or_file`] / [`secret_or_file`]: a value given in `NAME` or as a path in `NAME_FILE`.
//!
//! Secrets are [`SecretString`], whose `Debug` prints `[REDACTED]`, so a settings struct can
//! derive `Debug` and be logged at start-up without leaking keys. Their arguments set
//! `hide_env_values`, and a secret that fails to parse is not quoted in the error.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgMatches, Args, Command, FromArgMatches, Parser};

pub use humantime::{format_duration, parse_duration};
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

/// Where variables are read from: the process environment, or a fixed list in tests.
#[derive(Debug, Clone)]
pub struct Env {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Process,
    /// The last value given for a name wins, as in a shell.
    Pairs(BTreeMap<String, String>),
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self {
            source: Source::Process,
        }
    }

    /// Only the given pairs (the process environment is not read).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            source: Source::Pairs(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// Parses the arguments `A` declares from these variables, with no command line. Names that
    /// no argument reads are ignored, as other variables of an environment are.
    pub fn parse<A: Args>(&self) -> Result<A, ConfigError> {
        let mut command = A::augment_args(Command::new("settings").no_binary_name(true));
        // Built, so errors can be matched with its arguments (see `config_error`).
        command.build();
        let (mut prepared, args) = match &self.source {
            Source::Process => (without_empty_variables(command.clone()), Vec::new()),
            Source::Pairs(pairs) => pairs_as_options(&command, pairs)?,
        };
        let matches = prepared
            .try_get_matches_from_mut(args)
            .map_err(|error| config_error(&command, &error))?;
        from_matches(&matches, &command)
    }
}

/// Parses `A` from environment-style pairs through the same parser and validation as the
/// binary: each `(NAME, value)` becomes the option whose `env` is `NAME`.
pub fn parse_from_pairs<A, I, K, V>(pairs: I) -> Result<A, ConfigError>
where
    A: Args,
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    Env::from_pairs(pairs).parse()
}

/// Parses the binary's command line and the process environment. `--help`, `--version` and
/// command-line mistakes end the process as clap does (exit 0 or 2); a variable (or its option)
/// whose value does not parse comes back as a [`ConfigError`] naming the variable, for the
/// caller to report like any other configuration problem.
pub fn parse_command_line<P: Parser>() -> Result<P, ConfigError> {
    let mut command = P::command();
    command.build();
    let mut prepared = without_empty_variables(command.clone());
    let matches = match prepared.try_get_matches_from_mut(std::env::args_os()) {
        Ok(matches) => matches,
        Err(error) if is_value_error(&error) => return Err(config_error(&command, &error)),
        Err(error) => error.exit(),
    };
    match P::from_arg_matches(&matches) {
        Ok(parsed) => Ok(parsed),
        Err(error) => error.format(&mut prepared).exit(),
    }
}

/// The text of `--help` as the README shows it: the long help, without the values the
/// variables happen to have where it is rendered.
pub fn reference_help(command: Command) -> String {
    // A fixed width, so the text does not depend on the terminal it is rendered in.
    let mut command = command
        .term_width(100)
        .mut_args(|arg| arg.hide_env_values(true));
    command.render_long_help().to_string()
}

fn from_matches<A: FromArgMatches>(
    matches: &ArgMatches,
    command: &Command,
) -> Result<A, ConfigError> {
    A::from_arg_matches(matches).map_err(|error| config_error(command, &error))
}

/// `command` without the environment values clap captured that are empty, so those arguments
/// fall back to their defaults.
fn without_empty_variables(command: Command) -> Command {
    command.mut_args(|arg| {
        let empty = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.is_empty());
        if empty { arg.env(None) } else { arg }
    })
}

/// `--long=value` for each pair naming an argument's `env`, and the command with the process
/// environment clap captured taken out, so nothing but the pairs is read.
fn pairs_as_options(
    command: &Command,
    pairs: &BTreeMap<String, String>,
) -> Result<(Command, Vec<OsString>), ConfigError> {
    let mut args = Vec::new();
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        let Some(arg) = command
            .get_arguments()
            .find(|arg| arg.get_env() == Some(OsStr::new(name)))
        else {
            continue;
        };
        let long = arg.get_long().ok_or_else(|| {
            ConfigError::new(name, "has no --option, so it cannot be given as a pair")
        })?;
        args.push(OsString::from(format!("--{long}={value}")));
    }
    let command = command.clone().mut_args(|arg| arg.env(None));
    Ok((command, args))
}

fn is_value_error(error: &clap::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::InvalidUtf8
    )
}

/// The clap error as a [`ConfigError`] naming the variable of the argument it is about.
/// `command` must be built (an argument's `Display`, which clap's errors quote, needs it).
fn config_error(command: &Command, error: &clap::Error) -> ConfigError {
    let rendered = || {
        error
            .render()
            .to_string()
            .trim_start_matches("error: ")
            .trim_end()
            .to_owned()
    };
    let arg = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(invalid)) => command
            .get_arguments()
            .find(|arg| arg.to_string() == *invalid),
        _ => None,
    };
    let Some(arg) = arg else {
        return ConfigError::new(command.get_name(), rendered());
    };
    let variable = arg.get_env().map_or_else(
        || arg.to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let reason = std::error::Error::source(error).map_or_else(rendered, ToString::to_string);
    let problem = match (error.kind(), error.get(ContextKind::InvalidValue)) {
        (ErrorKind::InvalidUtf8, _) => "is not valid UTF-8".to_owned(),
        // A secret (a key, a URL with a password) is described, never quoted: its parser's
        // message is the whole problem ("is not a PostgreSQL URL…").
        _ if arg.is_hide_env_values_set() => reason,
        (_, Some(ContextValue::String(value))) => format!("{value:?} is invalid: {reason}"),
        _ => reason,
    };
    ConfigError::new(variable, problem)
}

/// A value given either inline in `name` or as a path in `name_FILE` (the Docker/Kubernetes
/// secrets convention). Setting both is an error rather than a silent precedence rule.
pub fn text_or_file(
    name: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<String>, ConfigError> {
    let file_variable = format!("{name}_FILE");
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            name,
            format!("both {name} and {file_variable} are set; set only one"),
        )),
        (Some(inline), None) => Ok(Some(inline)),
        (None, Some(path)) => read_value_file(&file_variable, &path).map(Some),
        (None, None) => Ok(None),
    }
}

/// [`text_or_file`] for a secret.
pub fn secret_or_file(
    name: &str,
    inline: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<Option<SecretString>, ConfigError> {
    let inline = inline.map(|secret| secret.expose_secret().to_owned());
    Ok(text_or_file(name, inline, file)?.map(SecretString::from))
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

// Value parsers for `#[arg(value_parser = …)]`. Their error text follows the quoted value in a
// `ConfigError` ("\"0\" is invalid: must be at least 1").

/// A secret, as clap stores it.
pub fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text))
}

/// A value read by its `FromStr`, trimmed first.
pub fn trimmed_parse<T: FromStr>(text: &str) -> Result<T, T::Err> {
    text.trim().parse()
}

/// A text without surrounding blanks (a stray space in a `.env` is not part of a name).
pub fn trimmed(text: &str) -> Result<String, std::convert::Infallible> {
    Ok(text.trim().to_owned())
}

/// An identifier (an app id, say): trimmed, then printable ASCII without spaces.
pub fn identifier(text: &str) -> Result<String, &'static str> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces");
    }
    Ok(text.to_owned())
}

/// A duration as humantime reads it, with an example in the error: humantime's own message
/// ("expected number at 0") does not say what a duration looks like.
pub fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .map_err(|error| format!("{error}; expected a duration such as 500ms, 15s, 30m or 1h"))
}

/// A duration longer than zero (see [`duration`]).
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let duration = duration(text)?;
    if duration.is_zero() {
        return Err("must be longer than 0s".to_owned());
    }
    Ok(duration)
}

/// A whole number within `range` (trimmed first); the error says the range.
pub fn number_in<T>(
    range: RangeInclusive<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + std::fmt::Display + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    move |text: &str| {
        let number: T = text.trim().parse().map_err(|error| format!("{error}"))?;
        if !range.contains(&number) {
            return Err(format!(
                "must be between {} and {}",
                range.start(),
                range.end()
            ));
        }
        Ok(number)
    }
}

/// A number of worker threads: at least 1.
pub fn workers(text: &str) -> Result<usize, String> {
    let workers: usize = text.trim().parse().map_err(|error| format!("{error}"))?;
    if workers == 0 {
        return Err("must be at least 1".to_owned());
    }
    Ok(workers)
}

/// The default number of worker threads: one per CPU.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
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

/// A switch: `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0` (case-insensitive). A `bool`
/// field using it needs `action = ArgAction::Set` (clap's default for `bool` is a bare flag).
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err("expected on/off, true/false, yes/no or 1/0".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few variables of each kind, as a service declares them.
    #[derive(Debug, clap::Args)]
    struct Sample {
        #[arg(long, env = "ORDER_TTL", default_value = "30m", value_parser = duration)]
        order_ttl: Duration,
        #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0:8080", value_parser = parse_socket_addr)]
        bind_addr: SocketAddr,
        #[arg(long, env = "AMQP_PREFETCH", default_value = "32", value_parser = number_in(1u16..=1000))]
        amqp_prefetch: u16,
        #[arg(long, env = "SANDBOX_TEST_API", default_value = "on", value_parser = parse_flag, action = clap::ArgAction::Set)]
        test_api: bool,
        #[arg(long, env = "HTTP_WORKERS", value_parser = workers)]
        http_workers: Option<usize>,
        #[arg(long, env = "ALIPAY_APP_ID", value_parser = identifier)]
        app_id: Option<String>,
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = secret_url)]
        database_url: Option<SecretString>,
        #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = secret)]
        jwt_secret: Option<SecretString>,
    }

    fn secret_url(text: &str) -> Result<SecretString, &'static str> {
        if text.starts_with("postgres://") {
            Ok(SecretString::from(text))
        } else {
            Err("is not a PostgreSQL URL")
        }
    }

    fn sample(pairs: &[(&str, &str)]) -> Result<Sample, ConfigError> {
        parse_from_pairs(pairs.iter().copied())
    }

    #[test]
    fn defaults_apply_only_when_unset_or_empty() {
        let parsed = sample(&[
            ("ORDER_TTL", "15m"),
            ("BIND_ADDR", ""),
            ("SANDBOX_TEST_API", "OFF"),
        ])
        .unwrap();
        assert_eq!(parsed.order_ttl, Duration::from_secs(900));
        assert_eq!(parsed.bind_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(parsed.amqp_prefetch, 32);
        assert!(!parsed.test_api);
        assert_eq!(parsed.app_id, None);
        assert_eq!(parsed.http_workers, None);
    }

    #[test]
    fn errors_name_the_variable() {
        let cases = [
            ("ORDER_TTL", "thirty minutes"),
            ("ORDER_TTL", "30"),
            ("BIND_ADDR", "nowhere"),
            ("AMQP_PREFETCH", "ten"),
            ("AMQP_PREFETCH", "0"),
            ("SANDBOX_TEST_API", "maybe"),
            ("HTTP_WORKERS", "0"),
            ("ALIPAY_APP_ID", "20 21"),
        ];
        for (variable, value) in cases {
            let error = sample(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}: {error}");
            assert!(error.to_string().contains(variable), "{error}");
            assert!(
                error.problem.contains(value),
                "the value is quoted: {error}"
            );
        }
        let unit = sample(&[("ORDER_TTL", "30")]).unwrap_err();
        assert!(unit.problem.contains("such as 500ms"), "{unit}");
        let range = sample(&[("AMQP_PREFETCH", "1001")]).unwrap_err();
        assert!(range.problem.contains("between 1 and 1000"), "{range}");
        let zero = sample(&[("HTTP_WORKERS", "0")]).unwrap_err();
        assert!(zero.problem.contains("at least 1"), "{zero}");
        let spaces = sample(&[("ALIPAY_APP_ID", "20 21")]).unwrap_err();
        assert!(spaces.problem.contains("without spaces"), "{spaces}");
    }

    #[test]
    fn identifiers_and_numbers_are_trimmed() {
        let parsed = sample(&[
            ("ALIPAY_APP_ID", " 2021000000000001 "),
            ("AMQP_PREFETCH", " 5 "),
        ])
        .unwrap();
        assert_eq!(parsed.app_id.as_deref(), Some("2021000000000001"));
        assert_eq!(parsed.amqp_prefetch, 5);
    }

    #[test]
    fn secrets_never_print_nor_reach_errors() {
        let parsed = sample(&[("JWT_SECRET", "hunter2-hunter2")]).unwrap();
        let secret = parsed.jwt_secret.as_ref().unwrap();
        assert_eq!(secret.expose_secret(), "hunter2-hunter2");
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("hunter2"), "{shown}");

        let error = sample(&[("DATABASE_URL", "mysql://u:hunter2@db/x")]).unwrap_err();
        assert_eq!(error.variable, "DATABASE_URL");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.problem.contains("not a PostgreSQL URL"), "{error}");
    }

    #[test]
    fn the_last_pair_wins_and_unknown_names_are_ignored() {
        let parsed =
            sample(&[("ORDER_TTL", "1h"), ("NOT_OURS", "x"), ("ORDER_TTL", "2h")]).unwrap();
        assert_eq!(parsed.order_ttl, Duration::from_secs(7200));
    }

    #[test]
    fn the_process_environment_does_not_leak_into_pairs() {
        // PATH is set wherever tests run; an argument reading it must not see it from pairs.
        #[derive(Debug, clap::Args)]
        struct ReadsPath {
            #[arg(long, env = "PATH")]
            path: Option<String>,
        }
        let from_pairs: ReadsPath = parse_from_pairs::<_, [(&str, &str); 0], _, _>([]).unwrap();
        assert_eq!(from_pairs.path, None);
        let from_process: ReadsPath = Env::from_process().parse().unwrap();
        assert!(from_process.path.is_some());
    }

    /// Run in a child process of this test binary, with `ORDER_TTL=` and `BIND_ADDR=` set:
    /// tests cannot set variables in their own process (`unsafe` is forbidden).
    const EMPTY_CHILD: &str = "COMMON_CONFIG_EMPTY_VARIABLES_CHILD";

    #[test]
    fn an_empty_process_variable_counts_as_unset() {
        if std::env::var_os(EMPTY_CHILD).is_some() {
            // clap alone hands the empty value to the parser, which refuses it…
            let raw = Sample::augment_args(Command::new("t").no_binary_name(true))
                .try_get_matches_from(Vec::<String>::new());
            assert!(raw.is_err(), "clap now treats empty values as unset");
            // …so the empty values are taken out first, and the defaults apply.
            let parsed: Sample = Env::from_process().parse().unwrap();
            assert_eq!(parsed.order_ttl, Duration::from_secs(1800));
            assert_eq!(parsed.bind_addr.to_string(), "0.0.0.0:8080");
            return;
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "config::tests::an_empty_process_variable_counts_as_unset",
            ])
            .env(EMPTY_CHILD, "1")
            .env("ORDER_TTL", "")
            .env("BIND_ADDR", "")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
    }

    #[test]
    fn documented_durations_read_as_written() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(30 * 60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
        // A bare number is refused because its unit would be a guess.
        for bad in ["", "30", "m", "-1s", "thirty minutes"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            positive_duration("0s"),
            Err("must be longer than 0s".to_owned())
        );
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
    fn secrets_can_come_from_a_file() {
        let dir = std::env::temp_dir().join(format!("common-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "s3cret\n").unwrap();

        let secret = secret_or_file("ALIPAY_APP_PRIVATE_KEY", None, Some(path.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(secret.expose_secret(), "s3cret");

        let error = secret_or_file(
            "ALIPAY_APP_PRIVATE_KEY",
            Some(SecretString::from("inline")),
            Some(path.clone()),
        )
        .unwrap_err();
        assert_eq!(error.variable, "ALIPAY_APP_PRIVATE_KEY");
        assert!(error.problem.contains("only one"), "{error}");

        let missing = PathBuf::from("/nonexistent/key.pem");
        let error = text_or_file("ALIPAY_PUBLIC_KEY", None, Some(missing)).unwrap_err();
        assert_eq!(error.variable, "ALIPAY_PUBLIC_KEY_FILE");
        assert!(error.problem.contains("/nonexistent/key.pem"), "{error}");

        assert!(
            text_or_file("ALIPAY_PUBLIC_KEY", None, None)
                .unwrap()
                .is_none()
        );

        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_reference_help_lists_variables_without_their_values() {
        let help = reference_help(Sample::augment_args(Command::new("sample")));
        assert!(help.contains("[env: ORDER_TTL]"), "{help}");
        assert!(help.contains("[default: 30m]"), "{help}");
        assert!(!help.contains("[env: PATH="), "{help}");
    }
}
