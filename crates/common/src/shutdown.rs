//! One shutdown signal per process, passed down to every server and consumer.
//!
//! Kubernetes and `docker stop` send SIGTERM and wait; a developer presses Ctrl-C. Either must let
//! the HTTP server finish its requests, the gRPC server drain, and the RabbitMQ consumer finish
//! (and ack or requeue) the delivery it holds. Each of those gets a clone or a child of the one
//! token returned here and stops when it is cancelled.

use tokio_util::sync::CancellationToken;

/// Returns a token cancelled on the first SIGTERM or Ctrl-C (SIGINT).
///
/// The signal handlers are registered before this returns, so a signal arriving right after the
/// call is not missed; a background task then waits for them. Must be called inside a tokio
/// runtime, once per process (`main`). If the handlers cannot be registered, the failure is logged
/// and the token only fires when cancelled by hand: the process still runs, and stops the way it
/// would without graceful shutdown.
pub fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let fired = token.clone();
    match listen() {
        Ok(listener) => {
            tokio::spawn(async move {
                let signal = listener.await;
                // Cancel first: nothing that happens while logging may keep the process running.
                fired.cancel();
                tracing::info!(signal, "shutdown signal received, draining");
            });
        }
        Err(error) => {
            tracing::error!(%error, "cannot install shutdown signal handlers");
        }
    }
    token
}

#[cfg(unix)]
fn listen() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    // `signal()` registers immediately, unlike `tokio::signal::ctrl_c()`, which only registers
    // when first polled inside the spawned task.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        }
    })
}

#[cfg(not(unix))]
fn listen() -> std::io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "ctrl-c",
            // Without a working handler, never fire rather than shut down spuriously.
            Err(_) => std::future::pending().await,
        }
    })
}
