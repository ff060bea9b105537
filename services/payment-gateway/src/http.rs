//! The small HTTP side beside gRPC (`METRICS_ADDR`): `/healthz`, `/readyz`, `/metrics`.
//!
//! A plain HTTP/1.1 server on hyper: three GET routes do not need a framework, and tonic already
//! brings hyper in.
//!
//! `/readyz` answers 200 while the gRPC server accepts calls, 503 once shutdown began. It does
//! not call Alipay: an Alipay outage must not take every gateway replica out of the load
//! balancer, since callers get a precise `UNAVAILABLE` (safe to retry) from a live gateway.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::health::HealthReport;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::metrics::Metrics;

/// What the routes read.
#[derive(Debug, Clone)]
pub struct OpsState {
    pub metrics: Metrics,
    /// True from start-up until shutdown begins; shared with the gRPC health reporter's owner.
    pub ready: Arc<AtomicBool>,
}

/// Serves until `shutdown` fires, then lets open connections finish their current request.
pub async fn serve(listener: TcpListener, state: OpsState, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    warn!(%error, "metrics listener: accept failed");
                    continue;
                }
            },
        };
        let state = state.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let response = route(&state, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}

fn route<B>(state: &OpsState, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET");
    }
    match request.uri().path() {
        "/healthz" => health(&HealthReport::alive()),
        // `serving`: the gRPC server accepts calls (false once shutdown began).
        "/readyz" => health(&HealthReport::readiness([(
            "serving",
            state.ready.load(Ordering::Relaxed),
        )])),
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(state.metrics.render())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(common::metrics::CONTENT_TYPE),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// 200 or 503 with the report as its body: the shape every service shares.
fn health(report: &HealthReport) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(report.to_json())));
    if !report.is_healthy() {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(common::health::CONTENT_TYPE),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
