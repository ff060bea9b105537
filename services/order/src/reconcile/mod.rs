//! Daily reconciliation against Alipay's trade bill.
//!
//! A run for one Beijing day: claim the day's run row (compare-and-set, so replicas run it
//! once) → `GetBillDownloadUrl` → download the zip to a temporary file within limits, with
//! retries on fresh links → read the detail list as a stream, by column name ([`bill`]) →
//! compare it with the orders database both ways ([`compare`]) → store each difference
//! ([`store`]) → heal what a signed `QueryTrade` / `QueryRefund` answer allows ([`heal`]) →
//! mark the run ok. Any problem with the bill fails the run with its reason before anything is
//! compared, so a bad bill changes nothing. [`schedule`] runs yesterday's reconciliation every
//! day at `RECONCILE_AT`; `order reconcile --date` and `GET /api/v1/reconciliations` are the
//! operator's doors.

pub mod bill;
pub mod cli;
pub mod compare;
pub mod heal;
pub mod http;
pub mod store;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use common::beijing;
use common::config::format_duration;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::bill::{Bill, BillError, Expected, Limits};
use self::store::{Counts, Run, StoredDifference};
use crate::gateway::GatewayError;
use crate::repository::RepoError;
use crate::state::AppState;

pub const DEFAULT_RECONCILE_AT: NaiveTime = match NaiveTime::from_hms_opt(10, 0, 0) {
    Some(at) => at,
    None => NaiveTime::MIN,
};
pub const DEFAULT_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_DOWNLOAD_ATTEMPTS: u32 = 3;
/// How long a claimed run may take before another replica may take it over.
const LEASE: chrono::Duration = chrono::Duration::minutes(30);
/// The longest wait between two attempts at downloading a bill.
const MAX_DOWNLOAD_RETRY_DELAY: Duration = Duration::from_secs(32);
/// After a failed scheduled run (e.g. the bill is not ready yet), try again this much later.
const RETRY_AFTER: Duration = Duration::from_secs(30 * 60);

/// The reconciliation settings (`RECONCILE_AT`, `BILL_*`, `ALIPAY_SELLER_ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// Beijing time of day of the scheduled run; `None`: no schedule.
    pub at: Option<NaiveTime>,
    pub limits: Limits,
    pub download_timeout: Duration,
    pub download_attempts: u32,
    /// Our PID (2088…): a bill for any other account is refused. `None`: not checked.
    pub seller_id: Option<String>,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            at: Some(DEFAULT_RECONCILE_AT),
            limits: Limits::default(),
            download_timeout: DEFAULT_DOWNLOAD_TIMEOUT,
            download_attempts: DEFAULT_DOWNLOAD_ATTEMPTS,
            seller_id: None,
        }
    }
}

/// `123`, `64KiB`, `64MiB`, `1GiB`.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .into_iter()
        .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|d| (d, factor)))
        .unwrap_or((text, 1));
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?} is not a size such as 64MiB, 512KiB or 1048576"))
}

/// The reconciliation's variables, as clap parses them; flattened into the service's settings.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Reconciliation")]
pub struct ReconcileArgs {
    /// Beijing time of day of the daily reconciliation of yesterday's bill (HH:MM), or off;
    /// replicas run it once
    #[arg(long, env = "RECONCILE_AT", value_name = "HH:MM", default_value = "10:00",
          value_parser = parse_reconcile_at)]
    pub reconcile_at: DailyAt,
    /// Bound on downloading one bill
    #[arg(long, env = "BILL_DOWNLOAD_TIMEOUT", value_name = "DURATION", default_value = "60s",
          value_parser = common::config::positive_duration)]
    pub bill_download_timeout: Duration,
    /// Attempts at a bill download, each with a fresh link (1-10)
    #[arg(long, env = "BILL_DOWNLOAD_ATTEMPTS", value_name = "N", default_value = "3",
          value_parser = common::config::number_in(1u32..=10))]
    pub bill_download_attempts: u32,
    /// Largest bill zip accepted (e.g. 64MiB)
    #[arg(long, env = "BILL_MAX_ZIP_BYTES", value_name = "SIZE", default_value = "64MiB",
          value_parser = parse_bytes)]
    pub bill_max_zip_bytes: u64,
    /// Largest CSV in it once decompressed (zip bombs)
    #[arg(long, env = "BILL_MAX_CSV_BYTES", value_name = "SIZE", default_value = "512MiB",
          value_parser = parse_bytes)]
    pub bill_max_csv_bytes: u64,
    /// Our PID (2088...): a bill of any other account is refused [default: not checked]
    #[arg(long, env = "ALIPAY_SELLER_ID", value_name = "PID", value_parser = parse_seller_id)]
    pub alipay_seller_id: Option<String>,
}

/// `RECONCILE_AT`: a Beijing time of day, or `None` for no schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyAt(pub Option<NaiveTime>);

fn parse_reconcile_at(text: &str) -> Result<DailyAt, &'static str> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(DailyAt(None));
    }
    NaiveTime::parse_from_str(text, "%H:%M")
        .map(|at| DailyAt(Some(at)))
        .map_err(|_| "is not a Beijing time of day such as 10:00, or off")
}

fn parse_seller_id(text: &str) -> Result<String, &'static str> {
    let seller_id = text.trim();
    if seller_id.len() == 16
        && seller_id.starts_with("2088")
        && seller_id.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(seller_id.to_owned())
    } else {
        Err("must be 2088 followed by 12 digits (the PID)")
    }
}

impl ReconcileArgs {
    pub fn resolve(self) -> ReconcileSettings {
        ReconcileSettings {
            at: self.reconcile_at.0,
            limits: Limits {
                max_zip_bytes: self.bill_max_zip_bytes,
                max_csv_bytes: self.bill_max_csv_bytes,
                ..Limits::default()
            },
            download_timeout: self.bill_download_timeout,
            download_attempts: self.bill_download_attempts,
            seller_id: self.alipay_seller_id,
        }
    }
}

impl ReconcileSettings {
    /// For the start-up log line.
    pub fn summary(&self) -> String {
        format!(
            "reconcile_at={} bill_timeout={} bill_attempts={} bill_max_zip={} bill_max_csv={} seller_id={}",
            self.at
                .map_or_else(|| "off".to_owned(), |at| at.format("%H:%M").to_string()),
            format_duration(self.download_timeout),
            self.download_attempts,
            self.limits.max_zip_bytes,
            self.limits.max_csv_bytes,
            self.seller_id.as_deref().unwrap_or("unchecked"),
        )
    }
}

/// A run with its differences, as the API and the CLI show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Reconciliation)]
pub struct Report {
    #[serde(flatten)]
    pub run: Run,
    pub items: Vec<StoredDifference>,
}

/// Why no run happened at all (a run that happened and failed is a [`Report`] with status
/// `failed`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the bill of {0} does not exist before that day is over in Beijing")]
    NotOver(NaiveDate),
    #[error("the reconciliation of {date} is {status} (another replica has it, or it is done)")]
    Busy { date: NaiveDate, status: String },
    #[error("the database: {0}")]
    Database(String),
}

impl From<RepoError> for RunError {
    fn from(error: RepoError) -> Self {
        RunError::Database(error.to_string())
    }
}

/// `[start, end)` of a Beijing calendar day (the day of a bill).
pub fn beijing_day(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    beijing::day(date)
}

/// Today in Beijing.
pub fn beijing_today(now: DateTime<Utc>) -> NaiveDate {
    beijing::date_of(now)
}

/// Reconciles one day. `trigger` says who asked (`schedule`, `cli`); `rerun` lets a day that
/// was reconciled successfully be run again (the scheduler never does).
pub async fn run_day(
    state: &AppState,
    settings: &ReconcileSettings,
    date: NaiveDate,
    trigger: &str,
    rerun: bool,
) -> Result<Report, RunError> {
    let now = Utc::now();
    if date >= beijing_today(now) {
        return Err(RunError::NotOver(date));
    }
    let request_id = format!("reconcile-{date}-{}", uuid::Uuid::now_v7().simple());
    let mut conn = state
        .pool
        .get()
        .await
        .map_err(|e| RunError::Database(e.to_string()))?;
    let Some(run_id) = store::claim(&mut conn, date, trigger, rerun, now, now + LEASE).await?
    else {
        let status = store::run_by_date(&mut conn, date)
            .await?
            .map_or_else(|| "taken".to_owned(), |run| run.status);
        return Err(RunError::Busy { date, status });
    };
    drop(conn);
    info!(%date, trigger, run_id, "reconciliation started");

    let day = beijing_day(date);
    let outcome = match fetch_bill(state, settings, date, &request_id).await {
        Ok(bill) => compare_and_heal(state, run_id, &bill, day, &request_id)
            .await
            .map_err(|e| format!("the database failed while comparing: {e}")),
        Err(error) => Err(error.to_string()),
    };
    let mut conn = state
        .pool
        .get()
        .await
        .map_err(|e| RunError::Database(e.to_string()))?;
    let run = match outcome {
        Ok(counts) => {
            let run = store::finish_ok(&mut conn, run_id, counts, Utc::now()).await?;
            state.metrics.reconciliation_run("ok");
            info!(%date, differences = run.differences, healed = run.healed, "reconciliation finished");
            run
        }
        Err(reason) => {
            let run = store::finish_failed(&mut conn, run_id, &reason, Utc::now()).await?;
            state.metrics.reconciliation_run("failed");
            warn!(%date, %reason, "reconciliation failed");
            run
        }
    };
    let items = store::differences(&mut conn, run_id).await?;
    Ok(Report { run, items })
}

/// URL, download (retried with a fresh URL: links live 30 s), then the streaming read on a
/// blocking thread.
async fn fetch_bill(
    state: &AppState,
    settings: &ReconcileSettings,
    date: NaiveDate,
    request_id: &str,
) -> Result<Bill, BillError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| BillError::Download(e.to_string()))?;
    let date_text = date.format("%Y-%m-%d").to_string();
    let mut delays = download_retry_delays();
    let mut attempt = 0;
    let file = loop {
        attempt += 1;
        let last = attempt >= settings.download_attempts;
        let url = match state
            .gateway
            .bill_download_url(request_id, &date_text)
            .await
        {
            Ok(answer) => answer.bill_download_url,
            Err(GatewayError::Refused { sub_code, message })
                if sub_code.to_ascii_lowercase().contains("bill_not_exist") =>
            {
                return Err(BillError::NotReady(format!("{sub_code} {message}")));
            }
            Err(error @ GatewayError::Unavailable(_)) if !last => {
                warn!(attempt, %error, "bill URL: gateway unavailable; retrying");
                tokio::time::sleep(delays.next().unwrap_or(MAX_DOWNLOAD_RETRY_DELAY)).await;
                continue;
            }
            Err(error) => return Err(BillError::Url(error.to_string())),
        };
        match bill::download(&client, &url, &settings.limits, settings.download_timeout).await {
            Ok(file) => break file,
            Err(BillError::Download(problem)) if !last => {
                warn!(attempt, %problem, "bill download failed; retrying with a fresh link");
                tokio::time::sleep(delays.next().unwrap_or(MAX_DOWNLOAD_RETRY_DELAY)).await;
            }
            Err(error) => return Err(error),
        }
    };
    let limits = settings.limits;
    let expected = Expected {
        date,
        seller_id: settings.seller_id.clone(),
    };
    tokio::task::spawn_blocking(move || {
        bill::read_bill(std::io::BufReader::new(file), &limits, &expected)
    })
    .await
    .map_err(|e| BillError::Io(e.to_string()))?
}

/// The waits between attempts at a bill: 1s, 2s, 4s … up to [`MAX_DOWNLOAD_RETRY_DELAY`]
/// (backon's exponential schedule; the attempts themselves are bounded by the caller).
fn download_retry_delays() -> backon::ExponentialBackoff {
    use backon::BackoffBuilder as _;
    backon::ExponentialBuilder::new()
        .with_min_delay(Duration::from_secs(1))
        .with_factor(2.0)
        .with_max_delay(MAX_DOWNLOAD_RETRY_DELAY)
        .without_max_times()
        .build()
}

async fn compare_and_heal(
    state: &AppState,
    run_id: i64,
    bill: &Bill,
    day: (DateTime<Utc>, DateTime<Utc>),
    request_id: &str,
) -> Result<Counts, RepoError> {
    let mut conn = state.pool.get().await.map_err(|e| RepoError::Corrupt {
        table: "pool",
        id: 0,
        problem: e.to_string(),
    })?;
    let comparison = compare::compare(&mut conn, bill, day).await?;
    for (index, difference) in comparison.differences.iter().enumerate() {
        if index > 0 && index % 100 == 0 {
            store::renew_lease(&mut conn, run_id, Utc::now() + LEASE).await?;
        }
        let stored = store::upsert_difference(&mut conn, run_id, difference, Utc::now()).await?;
        state
            .metrics
            .reconciliation_difference(difference.kind.as_str());
        if stored.healed {
            continue;
        }
        let healing = heal::heal(state, request_id, difference, day).await;
        if healing.healed {
            state
                .metrics
                .reconciliation_healed(difference.kind.as_str());
        }
        store::set_resolution(
            &mut conn,
            run_id,
            difference,
            healing.healed,
            &healing.resolution,
            Utc::now(),
        )
        .await?;
    }
    let clamp = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    Ok(Counts {
        bill_payments: clamp(bill.payments.len()),
        bill_refunds: clamp(bill.refunds.len()),
        orders_compared: clamp(comparison.orders_compared),
    })
}

/// Every day at `at` (Beijing), reconciles yesterday; a failed run (e.g. the bill is not ready)
/// is tried again every 30 minutes until it succeeds or the next day's turn comes. On start-up
/// after `at`, catches up on yesterday if it has no successful run. Several replicas may run
/// this: the run row's compare-and-set lets one of them work.
pub async fn schedule(
    state: std::sync::Arc<AppState>,
    settings: ReconcileSettings,
    at: NaiveTime,
    shutdown: CancellationToken,
) {
    loop {
        let now = Utc::now();
        let today = beijing_today(now);
        let (due_today, next_slot) = slots(now, at);
        let wake_at = if now < due_today {
            due_today
        } else {
            let yesterday = today.pred_opt().unwrap_or(today);
            match run_day(&state, &settings, yesterday, "schedule", false).await {
                Ok(report) if report.run.status == "ok" => next_slot,
                Ok(_) => (now + chrono::Duration::from_std(RETRY_AFTER).unwrap_or_default())
                    .min(next_slot),
                Err(RunError::Busy { status, .. }) if status == "ok" => next_slot,
                Err(error) => {
                    if !matches!(error, RunError::Busy { .. }) {
                        error!(%error, "scheduled reconciliation could not run");
                    }
                    (now + chrono::Duration::from_std(RETRY_AFTER).unwrap_or_default())
                        .min(next_slot)
                }
            }
        };
        let sleep = (wake_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(sleep.max(Duration::from_secs(1))) => {}
        }
    }
}

/// Today's run time (`at`, Beijing) and the next day's, as instants.
pub fn slots(now: DateTime<Utc>, at: NaiveTime) -> (DateTime<Utc>, DateTime<Utc>) {
    let offset =
        chrono::Duration::seconds(i64::from(chrono::Timelike::num_seconds_from_midnight(&at)));
    let due_today = beijing_day(beijing_today(now)).0 + offset;
    (due_today, due_today + chrono::Duration::days(1))
}

/// The CLI's table: a heading line, then one line per difference.
pub fn render_table(report: &Report) -> String {
    let run = &report.run;
    let mut out = format!(
        "reconciliation of {}: {}{} (attempt {}, by {})\nbill: {} payments, {} refunds; {} orders compared; {} differences, {} healed\n",
        run.bill_date,
        run.status,
        run.reason
            .as_deref()
            .map_or_else(String::new, |reason| format!(": {reason}")),
        run.attempts,
        run.trigger,
        run.bill_payments,
        run.bill_refunds,
        run.orders_compared,
        run.differences,
        run.healed,
    );
    if report.items.is_empty() {
        return out;
    }
    let headers = [
        "KIND",
        "OUT_TRADE_NO",
        "OUT_REQUEST_NO",
        "OURS",
        "ALIPAY",
        "HEALED",
        "RESOLUTION",
    ];
    let side = |amount: &Option<String>, status: &Option<String>| match (amount, status) {
        (Some(amount), Some(status)) => format!("{amount} {status}"),
        (Some(only), None) | (None, Some(only)) => only.clone(),
        (None, None) => "-".to_owned(),
    };
    let rows: Vec<[String; 7]> = report
        .items
        .iter()
        .map(|d| {
            [
                d.kind.clone(),
                d.out_trade_no.clone(),
                if d.out_request_no.is_empty() {
                    "-".to_owned()
                } else {
                    d.out_request_no.clone()
                },
                side(&d.ours_amount, &d.ours_status),
                side(&d.alipay_amount, &d.alipay_status),
                if d.healed { "yes" } else { "no" }.to_owned(),
                d.resolution.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = headers.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(widths[index] - cell.chars().count() + 2));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    out.push_str(&line(&headers.map(str::to_owned)));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use common::config::ConfigError;

    fn from_pairs(pairs: &[(&str, &str)]) -> Result<ReconcileSettings, ConfigError> {
        common::config::parse_from_pairs(pairs.iter().copied()).map(ReconcileArgs::resolve)
    }

    #[test]
    fn settings_defaults_and_errors() {
        let settings = from_pairs(&[("X", "y")]).unwrap();
        assert_eq!(settings, ReconcileSettings::default());
        let settings = from_pairs(&[
            ("RECONCILE_AT", "off"),
            ("BILL_MAX_ZIP_BYTES", "8MiB"),
            ("BILL_MAX_CSV_BYTES", "1024"),
            ("BILL_DOWNLOAD_TIMEOUT", "5s"),
            ("BILL_DOWNLOAD_ATTEMPTS", "2"),
            ("ALIPAY_SELLER_ID", "2088102177846880"),
        ])
        .unwrap();
        assert_eq!(settings.at, None);
        assert_eq!(settings.limits.max_zip_bytes, 8 << 20);
        assert_eq!(settings.limits.max_csv_bytes, 1024);
        assert_eq!(settings.download_attempts, 2);
        for (name, value) in [
            ("RECONCILE_AT", "25:00"),
            ("BILL_MAX_ZIP_BYTES", "lots"),
            ("BILL_MAX_CSV_BYTES", "0"),
            ("BILL_DOWNLOAD_TIMEOUT", "0s"),
            ("BILL_DOWNLOAD_ATTEMPTS", "0"),
            ("ALIPAY_SELLER_ID", "12345"),
        ] {
            let error = from_pairs(&[(name, value)]).unwrap_err();
            assert_eq!(error.variable, name, "{value}");
        }
    }

    #[test]
    fn download_retries_wait_longer_each_time_up_to_a_bound() {
        let seconds: Vec<u64> = download_retry_delays()
            .take(8)
            .map(|delay| delay.as_millis().div_ceil(1000) as u64)
            .collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 32, 32, 32]);
    }

    #[test]
    fn ten_in_beijing_is_two_utc() {
        let at = NaiveTime::from_hms_opt(10, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 0, 30, 0).unwrap(); // 08:30 in Beijing
        let (today, next) = slots(now, at);
        assert_eq!(today.to_rfc3339(), "2026-12-05T02:00:00+00:00");
        assert_eq!(next.to_rfc3339(), "2026-12-06T02:00:00+00:00");
        // Late in the Beijing day, today's slot is still that morning's.
        let late = Utc.with_ymd_and_hms(2026, 12, 5, 15, 59, 0).unwrap(); // 23:59 in Beijing
        assert_eq!(slots(late, at).0.to_rfc3339(), "2026-12-05T02:00:00+00:00");
    }

    #[test]
    fn a_beijing_day_starts_at_16_utc() {
        let (start, end) = beijing_day(NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
        assert_eq!(start.to_rfc3339(), "2026-12-03T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-04T16:00:00+00:00");
    }
}
