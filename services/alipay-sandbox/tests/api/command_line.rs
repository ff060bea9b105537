//! The binary itself: `--help`, `--version`, unknown arguments (refused before anything starts or
//! any key is written), and SIGTERM honoured even when nobody reads its output.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_alipay-sandbox");

/// Runs the binary with `args` in an empty folder; its output and the files it left there.
fn run_in_empty_dir(args: &[&str]) -> (std::process::Output, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(args)
        .current_dir(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    let files = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (output, files)
}

#[test]
fn help_and_version_answer_and_start_nothing() {
    let (help, help_files) = run_in_empty_dir(&["--help"]);
    let (version, version_files) = run_in_empty_dir(&["--version"]);

    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("SANDBOX_APP_ID"), "{help}");
    assert!(help.contains("Usage: alipay-sandbox"), "{help}");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("alipay-sandbox {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(help_files.is_empty() && version_files.is_empty());
}

#[test]
fn unknown_arguments_are_refused_before_anything_is_written() {
    let (output, files) = run_in_empty_dir(&["--frobnicate"]);

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--frobnicate"), "{stderr}");
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn sigterm_stops_it_even_with_its_output_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BINARY)
        .current_dir(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("SANDBOX_DATA_DIR", dir.path().join("data"))
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads: every log line it writes from now on fails with a broken pipe.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let key = dir.path().join("data/alipay_public_key.pem");
    let started = Instant::now();
    while !key.exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(key.exists(), "the sandbox did not start");
    std::thread::sleep(Duration::from_millis(300));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        child.kill().unwrap();
    }
    let status = status.expect("SIGTERM was ignored");
    assert!(status.success(), "{status}");
}
