//! HTTP: the notification endpoint, health, readiness, metrics, and the request-id middleware.

use actix_web::http::header::{self, ContentType, HeaderValue};
use actix_web::web::{self, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use common::events::EventKind;
use common::health::HealthReport;
use common::numbers::OutTradeNo;
use common::telemetry::RequestId;
use futures_util::StreamExt;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::error::{MAX_BODY_BYTES, NotifyError};
use crate::metrics::Metrics;
use crate::notification::{Decision, Verifier};
use crate::publisher::Publisher;
use crate::rotation::CertificateSource;

/// The only body that stops Alipay's retries: exactly these 7 bytes.
pub const SUCCESS_BODY: &str = "success";

/// What every handler shares (one per application, cloned into each worker as `web::Data`).
#[derive(Debug)]
pub struct AppState {
    pub verifier: Verifier,
    /// Certificate mode: fetches a rotated certificate a notification names.
    pub certificates: Option<CertificateSource>,
    pub publisher: Publisher,
    pub metrics: Metrics,
}

pub use common::web::{CurrentRequestId, request_id_middleware};

/// What happened to a notification that was answered `success`.
enum Handled {
    Published {
        kind: EventKind,
        event_id: Uuid,
        out_trade_no: OutTradeNo,
        notify_id: String,
    },
    Acknowledged {
        out_trade_no: OutTradeNo,
        notify_id: String,
    },
}

/// `POST <NOTIFY_PATH>`: verify, decide, publish with confirm, and only then `success`.
#[tracing::instrument(name = "notification", skip_all, fields(request_id = %request_id.0))]
pub async fn notify(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    request_id: CurrentRequestId,
) -> Result<HttpResponse, NotifyError> {
    match handle(&request, payload, &state, &request_id.0).await {
        Ok(Handled::Published {
            kind,
            event_id,
            out_trade_no,
            notify_id,
        }) => {
            state.metrics.notification("published", kind.routing_key());
            info!(%out_trade_no, %notify_id, %event_id, routing_key = kind.routing_key(), "notification published");
            Ok(success())
        }
        Ok(Handled::Acknowledged {
            out_trade_no,
            notify_id,
        }) => {
            state.metrics.notification("acknowledged", "wait_buyer_pay");
            info!(%out_trade_no, %notify_id, "WAIT_BUYER_PAY acknowledged, nothing published");
            Ok(success())
        }
        Err(failure) => {
            let (outcome, reason) = (failure.outcome(), failure.reason());
            state.metrics.notification(outcome, reason);
            match &failure {
                // The verified string is what an operator compares with Alipay's; it is the
                // notification's own data, never key material.
                NotifyError::Verify(alipay::VerifyError::Mismatch { string_to_verify }) => {
                    warn!(outcome, reason, string_to_verify = %truncated(string_to_verify), "notification rejected");
                }
                _ if outcome == "rejected" => {
                    warn!(outcome, reason, error = %failure, "notification rejected")
                }
                _ => {
                    error!(outcome, reason, error = %failure, "notification not published; answered fail")
                }
            }
            Err(failure)
        }
    }
}

async fn handle(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    request_id: &RequestId,
) -> Result<Handled, NotifyError> {
    check_content_type(request.headers().get(header::CONTENT_TYPE))?;
    let body = read_body(request, payload).await?;
    let decision = match (
        state.verifier.decide(&body, Utc::now()),
        &state.certificates,
    ) {
        (Err(NotifyError::Verify(alipay::VerifyError::UnknownCertSn { sn })), Some(source)) => {
            // Alipay rotated its certificate: fetch it, check it against our own root bundle,
            // then verify again (with that certificate only).
            source.ensure(&sn, request_id.as_str()).await?;
            state.verifier.decide(&body, Utc::now())
        }
        (decision, _) => decision,
    };
    let decision = match decision {
        Ok(decision) => decision,
        Err(failure) => {
            if let NotifyError::Verify(_) = failure {
                ask_for_a_query(&body, state, request_id).await;
            }
            return Err(failure);
        }
    };
    match decision {
        Decision::Acknowledge {
            notify_id,
            out_trade_no,
        } => Ok(Handled::Acknowledged {
            out_trade_no,
            notify_id,
        }),
        Decision::Publish(event) => {
            state.publisher.publish(&event, request_id.as_str()).await?;
            Ok(Handled::Published {
                kind: event.kind,
                event_id: event.event_id,
                out_trade_no: event.out_trade_no,
                notify_id: event.notify_id,
            })
        }
    }
}

/// A notification that names one of our orders but does not verify may be a real one damaged on
/// the way (or a forgery): either way the order service should ask Alipay about that order now
/// rather than at its next scheduled query. Only a hint is sent (never the unverified fields), and
/// only for a well-formed order number of our app; failing to send it changes nothing.
async fn ask_for_a_query(body: &[u8], state: &AppState, request_id: &RequestId) {
    let Ok(pairs) = alipay::form::decode(body) else {
        return;
    };
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key.as_str() == name)
            .map(|(_, value)| value.as_str())
    };
    let Some(Ok(out_trade_no)) = field("out_trade_no").map(OutTradeNo::parse) else {
        return;
    };
    if field("app_id") != Some(state.verifier.app_id()) {
        return;
    }
    let request =
        common::events::SyncRequestV1::new(out_trade_no.clone(), "unverifiable notification");
    match state
        .publisher
        .publish_sync_request(&request, request_id.as_str())
        .await
    {
        Ok(()) => {
            info!(%out_trade_no, "unverifiable notification: asked the order service to query the order")
        }
        Err(error) => {
            warn!(%out_trade_no, %error, "unverifiable notification: could not ask for a query")
        }
    }
}

fn success() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType::plaintext())
        .body(SUCCESS_BODY)
}

/// Alipay posts `application/x-www-form-urlencoded`, with `charset=utf-8` when it names one; a
/// body in any other charset would not verify as the UTF-8 text Alipay signed.
fn check_content_type(value: Option<&HeaderValue>) -> Result<(), NotifyError> {
    let text = value
        .map(|v| v.to_str().unwrap_or("(not ASCII)"))
        .unwrap_or("(none)");
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let refused = || NotifyError::UnsupportedContentType(text.chars().take(100).collect());
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(refused());
    }
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("charset") {
            let charset = value.trim().trim_matches('"');
            if !(charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")) {
                return Err(refused());
            }
        }
    }
    Ok(())
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] before buffering it when the length is
/// announced, and as soon as it is exceeded when it is not.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
) -> Result<BytesMut, NotifyError> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(NotifyError::BodyTooLarge);
    }
    let mut body = BytesMut::with_capacity(announced.unwrap_or(4096).min(MAX_BODY_BYTES));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| NotifyError::BodyRead(error.to_string()))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(NotifyError::BodyTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn truncated(text: &str) -> &str {
    const LIMIT: usize = 2048;
    if text.len() <= LIMIT {
        return text;
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> HttpResponse {
    health_response(&HealthReport::alive())
}

/// `GET /readyz`: a notification could be published right now.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    health_response(&HealthReport::readiness([(
        "broker",
        state.publisher.is_ready(),
    )]))
}

/// 200 or 503 with the report as its body: the shape every service shares.
fn health_response(report: &HealthReport) -> HttpResponse {
    let mut response = if report.is_healthy() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header((header::CONTENT_TYPE, common::health::CONTENT_TYPE))
        .body(report.to_json())
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, common::metrics::CONTENT_TYPE))
        .body(state.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str) -> Result<(), NotifyError> {
        check_content_type(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn form_content_types_in_utf8_are_accepted() {
        for accepted in [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "Application/X-WWW-Form-Urlencoded;charset=UTF-8",
            "application/x-www-form-urlencoded; charset=\"utf-8\"",
            "application/x-www-form-urlencoded; foo",
        ] {
            assert!(check(accepted).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn other_content_types_and_charsets_are_refused() {
        for refused in [
            "",
            "text/plain",
            "application/json",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded; charset=gbk",
            "application/x-www-form-urlencodedx",
        ] {
            assert_eq!(
                check(refused).unwrap_err().reason(),
                "unsupported_content_type",
                "{refused}"
            );
        }
        assert!(check_content_type(None).is_err());
    }

    #[test]
    fn truncation_respects_characters() {
        let long = "支".repeat(1000);
        let cut = truncated(&long);
        assert!(cut.len() <= 2048 && cut.chars().all(|c| c == '支'));
        assert_eq!(truncated("short"), "short");
    }
}
