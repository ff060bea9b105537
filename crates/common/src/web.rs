//! Request ids for the actix-web services (feature `actix`): the middleware that takes or makes
//! the `x-request-id` of each request and opens the span its log lines are written in, and the
//! extractor handlers use to pass the id on (gRPC metadata, AMQP headers).

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tracing::Instrument as _;

use crate::telemetry::{REQUEST_ID_HEADER, RequestId};

/// The request id of the current request, as set by [`request_id_middleware`].
#[derive(Debug, Clone)]
pub struct CurrentRequestId(pub RequestId);

impl FromRequest for CurrentRequestId {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Always present behind the middleware; a fresh id keeps a mis-wired route traceable.
        let id = request
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        ready(Ok(Self(id)))
    }
}

/// Takes the caller's `x-request-id` when it is safe to echo (or makes one), opens the span every
/// log line of the request is written in, and returns the id in the response.
pub async fn request_id_middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let incoming = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok());
    let id = RequestId::from_header_or_generate(incoming);
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.path()
    );
    let mut response = next.call(request).instrument(span).await?;
    // A RequestId is visible ASCII by construction, so this conversion does not fail.
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};

    async fn echo(id: CurrentRequestId) -> HttpResponse {
        HttpResponse::Ok().body(id.0.as_str().to_owned())
    }

    #[actix_web::test]
    async fn a_safe_incoming_id_is_kept_and_returned() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(request_id_middleware))
                .route("/", web::get().to(echo)),
        )
        .await;
        let request = test::TestRequest::get()
            .uri("/")
            .insert_header((REQUEST_ID_HEADER, "req-123"))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(
            response.headers().get(REQUEST_ID_HEADER).unwrap(),
            "req-123"
        );
        assert_eq!(test::read_body(response).await, "req-123");
    }

    #[actix_web::test]
    async fn an_unsafe_or_missing_id_is_replaced_by_a_fresh_one() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(request_id_middleware))
                .route("/", web::get().to(echo)),
        )
        .await;
        let request = test::TestRequest::get()
            .uri("/")
            .insert_header((REQUEST_ID_HEADER, "bad id\twith spaces"))
            .to_request();
        let response = test::call_service(&app, request).await;
        let returned = response.headers().get(REQUEST_ID_HEADER).unwrap().clone();
        assert_ne!(returned, "bad id\twith spaces");
        assert_eq!(test::read_body(response).await, returned.as_bytes());
    }
}
