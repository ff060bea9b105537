//! The one HTTP error type of the sandbox's own routes (test API, cashier, bill download),
//! mapped to the wire in one place.
//!
//! Alipay's own refusals on `/gateway.do` are not HTTP errors: Alipay answers them with HTTP 200
//! and a JSON node or an HTML page, built in `gateway`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::trade::TradeRefusal;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Several trades match; the caller must say which app.
    #[error("{0}")]
    Ambiguous(String),
    /// Alipay's rules refuse the action (e.g. paying a closed trade).
    #[error("{0}")]
    Refused(TradeRefusal),
    /// A bug or a broken key; details are logged, not sent.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Body<'a> {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_code: Option<&'a str>,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Ambiguous(_) | Error::Refused(_) => StatusCode::CONFLICT,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Error::Internal(cause) = self {
            tracing::error!(%cause, "request failed");
        }
        let sub_code = match self {
            Error::Refused(refusal) => Some(refusal.sub_code()),
            Error::NotFound(_)
            | Error::BadRequest(_)
            | Error::Ambiguous(_)
            | Error::Internal(_) => None,
        };
        let error = match self {
            Error::Refused(refusal) => format!("{refusal} ({})", refusal.sub_msg()),
            other => other.to_string(),
        };
        HttpResponse::build(self.status_code()).json(Body { error, sub_code })
    }
}

impl From<TradeRefusal> for Error {
    fn from(refusal: TradeRefusal) -> Self {
        match refusal {
            TradeRefusal::NotExist => Error::NotFound("no such trade".to_owned()),
            other => Error::Refused(other),
        }
    }
}
