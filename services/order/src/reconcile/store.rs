//! The reconciliation tables: one run per bill date (claimed by compare-and-set, so replicas run
//! a day once), and its differences (upserted, so a rerun changes nothing it found before).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Integer, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use super::compare::Difference;
use crate::repository::RepoError;
use crate::schema::{reconciliation_differences, reconciliation_runs};

/// A run as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[schema(as = ReconciliationRun)]
#[diesel(table_name = reconciliation_runs)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct Run {
    #[serde(skip)]
    #[schema(ignore)]
    pub id: i64,
    pub bill_date: NaiveDate,
    #[schema(schema_with = crate::openapi::run_status)]
    pub status: String,
    /// Why the run failed.
    pub reason: Option<String>,
    #[schema(examples("schedule", "cli"))]
    pub trigger: String,
    pub attempts: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub bill_payments: i32,
    pub bill_refunds: i32,
    pub orders_compared: i32,
    pub differences: i32,
    pub healed: i32,
}

/// A stored difference.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = reconciliation_differences)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct StoredDifference {
    #[schema(schema_with = crate::openapi::difference_kind)]
    pub kind: String,
    pub out_trade_no: String,
    pub out_request_no: String,
    pub trade_no: Option<String>,
    pub ours_amount: Option<String>,
    pub alipay_amount: Option<String>,
    pub ours_status: Option<String>,
    pub alipay_status: Option<String>,
    pub healed: bool,
    pub resolution: Option<String>,
    pub found_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Takes the day's run: inserts it as `running`, or takes over the existing row when it failed,
/// when its lease lapsed (the process that ran it died), or — with `rerun` — when it succeeded.
/// `None`: someone else holds it (or it is done and `rerun` is off).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    date: NaiveDate,
    trigger: &str,
    rerun: bool,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Option<i64>, RepoError> {
    let claimed: Option<ClaimedId> = diesel::sql_query(
        "INSERT INTO reconciliation_runs (bill_date, status, trigger, started_at, lease_until)
         VALUES ($1, 'running', $2, $3, $4)
         ON CONFLICT (bill_date) DO UPDATE
            SET status = 'running', reason = NULL, trigger = EXCLUDED.trigger,
                attempts = reconciliation_runs.attempts + 1, started_at = EXCLUDED.started_at,
                finished_at = NULL, lease_until = EXCLUDED.lease_until
          WHERE reconciliation_runs.status = 'failed'
             OR (reconciliation_runs.status = 'running' AND reconciliation_runs.lease_until < $3)
             OR (reconciliation_runs.status = 'ok' AND $5)
         RETURNING id",
    )
    .bind::<Date, _>(date)
    .bind::<Text, _>(trigger)
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(lease_until)
    .bind::<Bool, _>(rerun)
    .get_result(conn)
    .await
    .optional()?;
    Ok(claimed.map(|row| row.id))
}

/// Extends a running run's lease (a long healing pass must not look abandoned).
pub async fn renew_lease(
    conn: &mut AsyncPgConnection,
    run_id: i64,
    lease_until: DateTime<Utc>,
) -> Result<(), RepoError> {
    diesel::update(
        reconciliation_runs::table
            .find(run_id)
            .filter(reconciliation_runs::status.eq("running")),
    )
    .set(reconciliation_runs::lease_until.eq(lease_until))
    .execute(conn)
    .await?;
    Ok(())
}

/// What the run read, for its row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub bill_payments: i32,
    pub bill_refunds: i32,
    pub orders_compared: i32,
}

/// Marks the run ok; its difference counts are recounted from the table (every attempt's).
pub async fn finish_ok(
    conn: &mut AsyncPgConnection,
    run_id: i64,
    counts: Counts,
    now: DateTime<Utc>,
) -> Result<Run, RepoError> {
    diesel::sql_query(
        "UPDATE reconciliation_runs r
            SET status = 'ok', reason = NULL, finished_at = $2, lease_until = $2,
                bill_payments = $3, bill_refunds = $4, orders_compared = $5,
                differences = (SELECT count(*) FROM reconciliation_differences d WHERE d.run_id = r.id),
                healed = (SELECT count(*) FROM reconciliation_differences d WHERE d.run_id = r.id AND d.healed)
          WHERE id = $1",
    )
    .bind::<BigInt, _>(run_id)
    .bind::<Timestamptz, _>(now)
    .bind::<Integer, _>(counts.bill_payments)
    .bind::<Integer, _>(counts.bill_refunds)
    .bind::<Integer, _>(counts.orders_compared)
    .execute(conn)
    .await?;
    run_by_id(conn, run_id).await
}

/// Marks the run failed with `reason`; its earlier differences (if any) stay.
pub async fn finish_failed(
    conn: &mut AsyncPgConnection,
    run_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Run, RepoError> {
    diesel::update(reconciliation_runs::table.find(run_id))
        .set((
            reconciliation_runs::status.eq("failed"),
            reconciliation_runs::reason.eq(reason),
            reconciliation_runs::finished_at.eq(now),
            reconciliation_runs::lease_until.eq(now),
        ))
        .execute(conn)
        .await?;
    run_by_id(conn, run_id).await
}

/// Stores a difference, or refreshes the same one found by an earlier attempt. A difference
/// healed before stays healed with its resolution.
pub async fn upsert_difference(
    conn: &mut AsyncPgConnection,
    run_id: i64,
    difference: &Difference,
    now: DateTime<Utc>,
) -> Result<StoredDifference, RepoError> {
    use reconciliation_differences as d;
    Ok(diesel::insert_into(d::table)
        .values((
            d::run_id.eq(run_id),
            d::kind.eq(difference.kind.as_str()),
            d::out_trade_no.eq(&difference.out_trade_no),
            d::out_request_no.eq(&difference.out_request_no),
            d::trade_no.eq(&difference.trade_no),
            d::ours_amount.eq(&difference.ours_amount),
            d::alipay_amount.eq(&difference.alipay_amount),
            d::ours_status.eq(&difference.ours_status),
            d::alipay_status.eq(&difference.alipay_status),
            d::found_at.eq(now),
            d::updated_at.eq(now),
        ))
        .on_conflict((d::run_id, d::kind, d::out_trade_no, d::out_request_no))
        .do_update()
        .set(d::trade_no.eq(&difference.trade_no))
        .returning(StoredDifference::as_returning())
        .get_result(conn)
        .await?)
}

/// Records what healing did for one difference.
pub async fn set_resolution(
    conn: &mut AsyncPgConnection,
    run_id: i64,
    difference: &Difference,
    healed: bool,
    resolution: &str,
    now: DateTime<Utc>,
) -> Result<(), RepoError> {
    use reconciliation_differences as d;
    diesel::update(
        d::table
            .filter(d::run_id.eq(run_id))
            .filter(d::kind.eq(difference.kind.as_str()))
            .filter(d::out_trade_no.eq(&difference.out_trade_no))
            .filter(d::out_request_no.eq(&difference.out_request_no)),
    )
    .set((
        d::healed.eq(healed),
        d::resolution.eq(resolution),
        d::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn run_by_id(conn: &mut AsyncPgConnection, run_id: i64) -> Result<Run, RepoError> {
    Ok(reconciliation_runs::table
        .find(run_id)
        .select(Run::as_select())
        .first(conn)
        .await?)
}

pub async fn run_by_date(
    conn: &mut AsyncPgConnection,
    date: NaiveDate,
) -> Result<Option<Run>, RepoError> {
    Ok(reconciliation_runs::table
        .filter(reconciliation_runs::bill_date.eq(date))
        .select(Run::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The newest runs first.
pub async fn recent_runs(conn: &mut AsyncPgConnection, limit: i64) -> Result<Vec<Run>, RepoError> {
    Ok(reconciliation_runs::table
        .order(reconciliation_runs::bill_date.desc())
        .limit(limit)
        .select(Run::as_select())
        .load(conn)
        .await?)
}

pub async fn differences(
    conn: &mut AsyncPgConnection,
    run_id: i64,
) -> Result<Vec<StoredDifference>, RepoError> {
    use reconciliation_differences as d;
    Ok(d::table
        .filter(d::run_id.eq(run_id))
        .order((d::kind, d::out_trade_no, d::out_request_no))
        .select(StoredDifference::as_select())
        .load(conn)
        .await?)
}
