//! The binary: `--help`, configuration errors that stop the start, `keygen`, and a graceful stop
//! on SIGTERM. Plus the same start-up checks through the library API.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use payment_gateway::{Application, Settings, StartupError};
use payment_proto::GatewayClient;

use crate::helpers::*;
use tokio_util::sync::CancellationToken;

const BINARY: &str = env!("CARGO_BIN_EXE_payment-gateway");

fn key_path(file: &str) -> String {
    test_support::keys::vector_path(&format!("keys/{file}"))
}

/// The binary with only the given environment (plus PATH-free basics).
fn gateway(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command.env_clear().envs(env.iter().copied());
    command
}

#[test]
fn help_lists_every_variable_and_the_keygen_command() {
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "keygen",
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
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
    let keygen_help = Command::new(BINARY)
        .args(["keygen", "--help"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(keygen_help.stdout)
            .unwrap()
            .contains("--out")
    );
    let unknown = Command::new(BINARY).arg("serve-please").output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn a_malformed_key_stops_the_start_naming_the_variable() {
    let truncated = key_text("app_private_pkcs8.b64")[..400].to_owned();
    let alipay_key = key_path("alipay_public.pem");
    let output = gateway(&[
        ("ALIPAY_APP_ID", APP_ID),
        ("ALIPAY_APP_PRIVATE_KEY", &truncated),
        ("ALIPAY_PUBLIC_KEY_FILE", &alipay_key),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("METRICS_ADDR", "off"),
    ])
    .output()
    .unwrap();

    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("ALIPAY_APP_PRIVATE_KEY"), "{log}");
    assert!(log.contains("is not a usable private key"), "{log}");
    assert!(
        !log.contains(&truncated[40..100]),
        "the key must not be logged: {log}"
    );
}

#[test]
fn our_own_public_key_as_alipays_stops_the_start_and_says_so() {
    let app_private = key_path("app_private_pkcs1.pem");
    let app_public = key_path("app_public.pem");
    let output = gateway(&[
        ("ALIPAY_APP_ID", APP_ID),
        ("ALIPAY_APP_PRIVATE_KEY_FILE", &app_private),
        ("ALIPAY_PUBLIC_KEY_FILE", &app_public),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("METRICS_ADDR", "off"),
    ])
    .output()
    .unwrap();

    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("ALIPAY_PUBLIC_KEY"), "{log}");
    assert!(log.contains("your own app public key"), "{log}");
}

#[tokio::test]
async fn the_library_refuses_our_own_public_key_as_alipays_too() {
    let own = app_key();
    let settings = Settings::new(
        APP_ID,
        own.clone(),
        own.public_key(),
        "http://127.0.0.1:9/gateway.do",
    );

    let error =
        Application::build_with_listener(settings, local_listener(), CancellationToken::new())
            .await
            .unwrap_err();

    assert!(matches!(error, StartupError::Settings(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("ALIPAY_PUBLIC_KEY"), "{message}");
    assert!(message.contains("your own app public key"), "{message}");
}

#[test]
fn keygen_writes_a_usable_key_pair_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alipay-keys");

    let output = Command::new(BINARY)
        .args(["keygen", "--out"])
        .arg(&out)
        .output()
        .unwrap();

    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let public = std::fs::read_to_string(out.join("app_public_key.txt")).unwrap();
    assert!(
        printed.contains(public.trim()),
        "the public key to paste: {printed}"
    );
    let private_text = std::fs::read_to_string(out.join("app_private_key_pkcs8.txt")).unwrap();
    assert!(
        !printed.contains(private_text.trim()),
        "never print the private key"
    );
    // The written key configures a gateway.
    let private_file = out.join("app_private_key_pkcs1.pem").display().to_string();
    let alipay_file = key_path("alipay_public.b64");
    let settings = Settings::from_env(&common::config::Env::from_pairs([
        ("ALIPAY_APP_ID", APP_ID),
        ("ALIPAY_APP_PRIVATE_KEY_FILE", private_file.as_str()),
        ("ALIPAY_PUBLIC_KEY_FILE", alipay_file.as_str()),
    ]))
    .unwrap();
    assert_eq!(
        settings.app_private_key.public_key(),
        alipay::keys::PublicKey::from_text(&public).unwrap()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(out.clone()), 0o700);
        for entry in std::fs::read_dir(&out).unwrap() {
            assert_eq!(mode(entry.unwrap().path()), 0o600);
        }
    }

    let again = Command::new(BINARY)
        .args(["keygen", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(out.join("app_public_key.txt")).unwrap(),
        public,
        "nothing was overwritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_and_stops_gracefully_on_sigterm() {
    let sandbox = sandbox().await;
    let app_private = key_path("app_private_pkcs8.b64");
    let alipay_public = key_path("alipay_public.pem");
    let gateway_url = sandbox.gateway_url();
    let mut child = gateway(&[
        ("ALIPAY_APP_ID", APP_ID),
        ("ALIPAY_APP_PRIVATE_KEY_FILE", &app_private),
        ("ALIPAY_PUBLIC_KEY_FILE", &alipay_public),
        ("ALIPAY_GATEWAY", &gateway_url),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
    ])
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let (lines, receive) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = |wanted: &str| -> String {
        loop {
            let line = receive
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no log line with {wanted:?}"));
            if line.contains(wanted) {
                return line;
            }
        }
    };

    let listening: serde_json::Value = serde_json::from_str(&next_line("\"listening\"")).unwrap();
    let port = listening["port"].as_u64().unwrap();
    let client =
        GatewayClient::connect(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
            .unwrap();
    let link = client
        .create_page_pay(REQUEST_ID, page_pay("BINARY_1", "1.00"))
        .await
        .unwrap();
    assert!(link.url.starts_with(&gateway_url));
    let answer = client
        .query_trade(
            REQUEST_ID,
            payment_proto::v1::QueryTradeRequest {
                out_trade_no: "BINARY_1".into(),
                trade_no: String::new(),
            },
        )
        .await
        .unwrap();
    assert!(!answer.exists);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    next_line("\"stopped\"");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn keygen_keep_existing_keeps_a_pair_and_writes_one_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let keygen = || {
        Command::new(BINARY)
            .args(["keygen", "--keep-existing", "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };

    let first = keygen();
    assert!(first.status.success(), "{first:?}");
    let public = std::fs::read_to_string(out.join("app_public_key.txt")).unwrap();

    // Run again (a script's every start): kept, not replaced, and still a success.
    let second = keygen();
    assert!(second.status.success(), "{second:?}");
    let printed = String::from_utf8(second.stdout).unwrap();
    assert!(printed.contains("Kept"), "{printed}");
    assert!(printed.contains(public.trim()));
    assert_eq!(
        std::fs::read_to_string(out.join("app_public_key.txt")).unwrap(),
        public
    );

    // Half a pair is not a pair to keep.
    std::fs::remove_file(out.join("app_private_key_pkcs8.pem")).unwrap();
    let partial = keygen();
    assert!(!partial.status.success());
    assert!(String::from_utf8_lossy(&partial.stderr).contains("part of a key pair"));
}
