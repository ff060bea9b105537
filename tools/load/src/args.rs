//! Command-line pieces the tools share (clap derive), each checked while parsing.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hyper::Uri;

use crate::driver::Window;

/// The longest measured run: a load loop must stop by itself.
pub const MAX_DURATION: Duration = Duration::from_secs(120);
pub const MAX_WARMUP: Duration = Duration::from_secs(30);

/// How long to measure and on how many client threads.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Measured run time, at most 120s.
    #[arg(long, default_value = "10s", value_parser = measured_duration)]
    pub duration: Duration,
    /// Client runtime threads (keep low: the client shares the machine with the service).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub threads: usize,
}

impl RunArgs {
    /// A multi-thread runtime with `--threads` workers.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.threads)
            .enable_all()
            .build()
    }

    /// Measuring starts after `warmup` from now and lasts `--duration`.
    pub fn window(&self, warmup: Duration) -> Window {
        Window::starting_in(warmup, self.duration)
    }
}

/// A duration of at most [`MAX_DURATION`].
pub fn measured_duration(text: &str) -> Result<Duration, String> {
    bounded_duration(text, MAX_DURATION)
}

/// A warm-up of at most [`MAX_WARMUP`].
pub fn warmup_duration(text: &str) -> Result<Duration, String> {
    bounded_duration(text, MAX_WARMUP)
}

fn bounded_duration(text: &str, max: Duration) -> Result<Duration, String> {
    let duration = common::config::parse_duration(text).map_err(|error| error.to_string())?;
    if duration > max {
        return Err(format!("at most {}s", max.as_secs()));
    }
    Ok(duration)
}

/// A count of at least 1 (connections, callers, threads).
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(error) => Err(error.to_string()),
    }
}

/// A URL on this machine, with the socket address to connect to.
#[derive(Debug, Clone)]
pub struct Target {
    pub uri: Uri,
    pub address: SocketAddr,
}

impl Target {
    /// `host:port`, for the `Host` header.
    pub fn authority(&self) -> String {
        self.uri
            .authority()
            .map_or_else(|| self.address.to_string(), |a| a.to_string())
    }

    /// Path and query, `/` when the URL has none.
    pub fn path(&self) -> String {
        self.uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.to_string())
    }
}

/// Parses a URL whose host is a loopback address (or `localhost`): these tools never send load
/// anywhere else.
pub fn loopback_target(text: &str) -> Result<Target, String> {
    let uri: Uri = text
        .trim_end_matches('/')
        .parse()
        .map_err(|error| format!("{error}"))?;
    let host = uri.host().ok_or("the URL needs a host")?;
    let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        other => other
            .parse()
            .map_err(|_| format!("host {host} is not an IP address"))?,
    };
    if !ip.is_loopback() {
        return Err(format!("must point at this machine (loopback), not {ip}"));
    }
    let address = SocketAddr::new(ip, uri.port_u16().unwrap_or(80));
    Ok(Target { uri, address })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        let target = loopback_target("http://localhost:8081/alipay/notify").unwrap();
        assert_eq!(target.address, SocketAddr::from(([127, 0, 0, 1], 8081)));
        assert_eq!(target.path(), "/alipay/notify");
        assert!(loopback_target("http://[::1]:8080").is_ok());
        let refused = loopback_target("http://10.0.0.1:8080").unwrap_err();
        assert!(refused.contains("loopback"), "{refused}");
        assert!(loopback_target("http://example.com").is_err());
    }

    #[test]
    fn runs_are_bounded() {
        assert!(measured_duration("120s").is_ok());
        assert!(measured_duration("121s").is_err());
        assert!(warmup_duration("31s").is_err());
        assert!(at_least_one("0").is_err());
    }
}
