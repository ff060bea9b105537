//! The shutdown token fires on SIGTERM. Its own test binary, because the signal goes to the whole
//! process.

use std::time::Duration;

use common::shutdown::shutdown_signal;

#[tokio::test]
async fn sigterm_cancels_the_token() {
    // Arrange
    let token = shutdown_signal();
    assert!(!token.is_cancelled());

    // Act: the handlers are registered when shutdown_signal returns, so no sleep is needed.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // Assert
    tokio::time::timeout(Duration::from_secs(5), token.cancelled())
        .await
        .expect("the token is cancelled after SIGTERM");
}
