//! The `probe` health-check binary answers `--help` and `--version`, and refuses what it does not
//! understand, before it tries any network.

// Test code: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_probe");

#[test]
fn help_version_and_bad_arguments() {
    let help = Command::new(BINARY).arg("--help").output().unwrap();
    let version = Command::new(BINARY).arg("--version").output().unwrap();
    let nothing = Command::new(BINARY).output().unwrap();
    let unknown = Command::new(BINARY)
        .args(["--frobnicate", "http://127.0.0.1:1/"])
        .output()
        .unwrap();

    assert!(help.status.success());
    assert!(
        String::from_utf8(help.stdout)
            .unwrap()
            .contains("Usage: probe")
    );
    assert!(version.status.success());
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .starts_with("probe ")
    );
    assert_eq!(nothing.status.code(), Some(2));
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn a_closed_port_fails_with_exit_1() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);

    let output = Command::new(BINARY)
        .arg(format!("http://127.0.0.1:{port}/readyz"))
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
}
