//! The one error type of the HTTP API, and its mapping to status codes and the
//! `{"code":0,"msg":…}` envelope, in one place. Causes are logged here; clients get a message
//! that is safe to show (never a database or gateway internal).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use common::auth::AuthError;
use common::http::Envelope;

use crate::db::DbSetupError;
use crate::gateway::GatewayError;
use crate::opener::OpenError;
use crate::repository::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(#[from] AuthError),
    #[error("this needs the admin role")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    /// A body over [`crate::routes::MAX_JSON_BODY`]: 413, so a client can tell it from a
    /// malformed one.
    #[error("the body is larger than the {} KiB allowed", crate::routes::MAX_JSON_BODY / 1024)]
    BodyTooLarge,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no such route: {0}")]
    NoSuchRoute(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the payment service is unavailable, please try again")]
    GatewayUnavailable(#[source] GatewayError),
    #[error("alipay refused: {0}")]
    GatewayRefused(String),
    #[error("the payment service failed")]
    Gateway(#[source] GatewayError),
    #[error("the database is unavailable, please try again")]
    DatabaseUnavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<RepoError> for ApiError {
    fn from(error: RepoError) -> Self {
        if error.is_unavailable() {
            ApiError::DatabaseUnavailable(error.to_string())
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<OpenError> for ApiError {
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::Pool(problem) => ApiError::DatabaseUnavailable(problem),
            OpenError::Repo(error) => error.into(),
            OpenError::Stopped => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        ApiError::DatabaseUnavailable(error.to_string())
    }
}

impl From<DbSetupError> for ApiError {
    fn from(error: DbSetupError) -> Self {
        ApiError::DatabaseUnavailable(error.to_string())
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Unavailable(_) => ApiError::GatewayUnavailable(error),
            GatewayError::Refused { ref sub_code, .. } => {
                ApiError::GatewayRefused(sub_code.clone())
            }
            GatewayError::Failed { .. } => ApiError::Gateway(error),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) | ApiError::NoSuchRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::GatewayRefused(_) => StatusCode::CONFLICT,
            ApiError::GatewayUnavailable(_) | ApiError::DatabaseUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Gateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::GatewayUnavailable(cause) | ApiError::Gateway(cause) => {
                tracing::error!(%status, error = %cause, "request failed at the payment gateway");
            }
            ApiError::DatabaseUnavailable(cause) | ApiError::Internal(cause) => {
                tracing::error!(%status, error = %cause, "request failed");
            }
            ApiError::Unauthorized(_)
            | ApiError::Forbidden
            | ApiError::BadRequest(_)
            | ApiError::BodyTooLarge
            | ApiError::NotFound(_)
            | ApiError::NoSuchRoute(_)
            | ApiError::Conflict(_)
            | ApiError::GatewayRefused(_) => {
                tracing::info!(%status, error = %self, "request refused");
            }
        }
        let mut response = HttpResponse::build(status);
        if let ApiError::Unauthorized(cause) = self {
            // One challenge per scheme the API takes: `jwt` (the original frontend's) first,
            // then `Bearer`. RFC 6750: `invalid_token` when a token was sent and failed.
            let (jwt, bearer) = match cause {
                AuthError::Missing => (r#"JWT realm="coursepay""#, r#"Bearer realm="coursepay""#),
                AuthError::Malformed(_)
                | AuthError::Expired
                | AuthError::NotYetValid
                | AuthError::BadSignature
                | AuthError::WrongAlgorithm { .. } => (
                    r#"JWT realm="coursepay", error="invalid_token""#,
                    r#"Bearer realm="coursepay", error="invalid_token""#,
                ),
            };
            response.append_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(jwt)));
            response.append_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(bearer)));
        }
        response.json(Envelope::failure(self.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            ApiError::Unauthorized(AuthError::Expired).status_code(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ApiError::BadRequest("x".into()).status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from(GatewayError::Unavailable("down".into())).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(GatewayError::Refused {
                sub_code: "ACQ.TRADE_STATUS_ERROR".into(),
                message: String::new()
            })
            .status_code(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::Internal("db".into()).to_string(),
            "internal error"
        );
    }
}
