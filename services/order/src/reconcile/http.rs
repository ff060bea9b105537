//! `GET /api/v1/reconciliations[/{date}]` (admins): the runs, and one day's differences.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Report, store};
use crate::error::ApiError;
use crate::openapi::Failure;
use crate::routes::Authenticated;
use crate::state::AppState;

/// Runs listed at most (about three months of days).
const LISTED_RUNS: i64 = 100;

fn require_admin(auth: &Authenticated) -> Result<(), ApiError> {
    if auth.0.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Reconciliation runs, the newest day first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reconciliations {
    pub items: Vec<store::Run>,
}

/// `{"items":[run…]}`, the newest day first.
#[utoipa::path(
    get,
    path = "/api/v1/reconciliations",
    summary = "Reconciliation runs against Alipay's daily bill, newest day first (admin)",
    security(("jwt" = [])),
    responses(
        (status = 200, description = "the runs", body = Reconciliations),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 403, description = "not an admin", body = Failure),
    )
)]
#[tracing::instrument(name = "list_reconciliations", skip_all, fields(user_id = %auth.0.sub))]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    require_admin(&auth)?;
    let mut conn = state.pool.get().await?;
    let runs = store::recent_runs(&mut conn, LISTED_RUNS).await?;
    Ok(HttpResponse::Ok().json(Reconciliations { items: runs }))
}

/// One day's run with its differences in `items`.
#[utoipa::path(
    get,
    path = "/api/v1/reconciliations/{date}",
    summary = "One day's reconciliation run and its differences (admin)",
    security(("jwt" = [])),
    params(("date" = String, Path, description = "The Beijing day, yyyy-MM-dd")),
    responses(
        (status = 200, description = "the run and its differences", body = Report),
        (status = 400, description = "not a date", body = Failure),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 403, description = "not an admin", body = Failure),
        (status = 404, description = "no run for that day", body = Failure),
    )
)]
#[tracing::instrument(name = "get_reconciliation", skip_all, fields(user_id = %auth.0.sub))]
pub async fn get(
    state: web::Data<AppState>,
    auth: Authenticated,
    date: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&auth)?;
    let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| {
        ApiError::BadRequest(format!("{:?} is not a date such as 2026-12-04", *date))
    })?;
    let mut conn = state.pool.get().await?;
    let run = store::run_by_date(&mut conn, date)
        .await?
        .ok_or(ApiError::NotFound("reconciliation"))?;
    let items = store::differences(&mut conn, run.id).await?;
    Ok(HttpResponse::Ok().json(Report { run, items }))
}
