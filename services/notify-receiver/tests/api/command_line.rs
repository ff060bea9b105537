//! The binary: `--help`, `--version`, and unknown arguments refused before it starts.

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_notify-receiver");

#[test]
fn help_version_and_unknown_arguments() {
    let help = Command::new(BINARY).arg("--help").output().unwrap();
    let version = Command::new(BINARY).arg("--version").output().unwrap();
    let unknown = Command::new(BINARY).arg("serve-please").output().unwrap();

    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("Usage: notify-receiver"), "{help}");
    assert!(help.contains("ALIPAY_PUBLIC_KEY_FILE"), "{help}");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("notify-receiver {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8(unknown.stderr)
            .unwrap()
            .contains("serve-please")
    );
}
