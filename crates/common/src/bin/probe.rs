//! `probe URL`: exits 0 when `GET URL` answers 2xx within two seconds, 1 otherwise.
//!
//! The runtime images are distroless (no shell, no curl), so container health checks run this
//! instead. Plain `http://host:port/path` only: it probes the service's own loopback port.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

/// probe: exits 0 when `GET URL` answers 2xx within two seconds, 1 otherwise (a container
/// health check for images without a shell or curl).
#[derive(Debug, clap::Parser)]
#[command(name = "probe", version)]
struct Cli {
    /// The URL to check: plain http://HOST:PORT/PATH.
    url: String,
}

fn main() -> ExitCode {
    let Cli { url } = <Cli as clap::Parser>::parse();
    match probe(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("probe {url}: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn probe(url: &str) -> Result<(), String> {
    let (authority, path) = split_url(url)?;
    let address = authority
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {authority}: {error}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|error| format!("cannot connect: {error}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|error| format!("cannot set timeouts: {error}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|error| format!("cannot send: {error}"))?;
    // The status line fits in the first read; the body does not matter.
    let mut head = [0_u8; 64];
    let read = stream
        .read(&mut head)
        .map_err(|error| format!("no answer: {error}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status.starts_with('2') && status.len() == 3 {
        Ok(())
    } else {
        Err(format!(
            "answered {:?}",
            status_line.lines().next().unwrap_or("")
        ))
    }
}

/// `http://host:port/path` → (`host:port`, `/path`).
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are supported".to_owned())?;
    Ok(match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0_u8; 512];
            let _ = stream.read(&mut request);
            stream.write_all(answer.as_bytes()).unwrap();
        });
        format!("http://127.0.0.1:{port}/healthz")
    }

    #[test]
    fn a_2xx_answer_is_healthy() {
        let url = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(probe(&url), Ok(()));
    }

    #[test]
    fn a_5xx_answer_is_not() {
        let url = serve_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        assert!(probe(&url).unwrap_err().contains("503"));
    }

    #[test]
    fn nothing_listening_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(probe(&format!("http://127.0.0.1:{port}/")).is_err());
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(split_url("http://a:1/x/y"), Ok(("a:1", "/x/y")));
        assert_eq!(split_url("http://a:1"), Ok(("a:1", "/")));
        assert!(split_url("https://a:1/").is_err());
    }
}
