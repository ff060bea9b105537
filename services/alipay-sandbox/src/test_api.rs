//! The test API under `/sandbox`: a contract other services' tests and scripts rely on
//! (shapes documented in the README).

use actix_web::{HttpResponse, web};
use alipay::notify::TradeStatus;
use alipay::time::format_beijing;
use serde::{Deserialize, Serialize};

use crate::actions::{self, Outcome};
use crate::error::Error;
use crate::faults::Faults;
use crate::state::{Sandbox, lock};
use crate::trade::{NotificationRecord, Trade, TradeId, format_millis};

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/alipay-public-key", web::get().to(public_key))
        .route("/alipay-root-cert", web::get().to(root_cert))
        .route("/alipay-cert", web::get().to(current_cert))
        .route("/alipay-cert/rotate", web::post().to(rotate_cert))
        .route("/trades/{out_trade_no}", web::get().to(show_trade))
        .route("/trades/{out_trade_no}/pay", web::post().to(pay))
        .route("/trades/{out_trade_no}/close", web::post().to(close))
        .route("/trades/{out_trade_no}/backdate", web::post().to(backdate))
        .route("/bill-file", web::put().to(set_bill_file))
        .route("/bill-file", web::delete().to(clear_bill_file))
        .route("/faults", web::get().to(show_faults))
        .route("/faults", web::put().to(set_faults))
        .route("/faults", web::delete().to(clear_faults));
}

/// `GET /sandbox/alipay-public-key`: the PEM merchants configure as Alipay's public key.
async fn public_key(sandbox: web::Data<Sandbox>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(sandbox.signer.public_key().to_pem())
}

/// `GET /sandbox/alipay-root-cert`: the root bundle merchants configure (`alipayRootCert.crt`).
async fn root_cert(sandbox: web::Data<Sandbox>) -> Result<HttpResponse, Error> {
    let pki = sandbox.pki.as_ref().ok_or_else(no_pki)?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(pki.root_bundle_pem().to_owned()))
}

/// `GET /sandbox/alipay-cert`: the current Alipay certificate file
/// (`alipayCertPublicKey_RSA2.crt`), its SN in the `x-alipay-cert-sn` header.
async fn current_cert(sandbox: web::Data<Sandbox>) -> Result<HttpResponse, Error> {
    let pki = sandbox.pki.as_ref().ok_or_else(no_pki)?;
    let current = pki.current();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("x-alipay-cert-sn", current.sn().to_owned()))
        .body(current.file.to_pem()))
}

/// What a rotation did.
#[derive(Debug, Serialize)]
struct Rotation {
    previous_alipay_cert_sn: String,
    alipay_cert_sn: String,
}

/// `POST /sandbox/alipay-cert/rotate`: Alipay rotates its certificate (new key, new SN); every
/// answer and notification from now on is signed with the next given certificate.
async fn rotate_cert(sandbox: web::Data<Sandbox>) -> Result<HttpResponse, Error> {
    let pki = sandbox.pki.as_ref().ok_or_else(no_pki)?;
    let (previous, current) = pki
        .rotate()
        .map_err(|error| Error::BadRequest(error.to_string()))?;
    tracing::info!(previous = %previous, current = %current, "alipay certificate rotated");
    Ok(HttpResponse::Ok().json(Rotation {
        previous_alipay_cert_sn: previous,
        alipay_cert_sn: current,
    }))
}

fn no_pki() -> Error {
    Error::NotFound("the sandbox was given no PKI (certificate mode is off)".to_owned())
}

/// A trade as JSON.
#[derive(Debug, Serialize)]
pub struct TradeView {
    pub app_id: String,
    pub seller_id: String,
    pub out_trade_no: String,
    pub trade_no: String,
    pub method: &'static str,
    pub product_code: &'static str,
    pub status: TradeStatus,
    pub subject: String,
    pub body: Option<String>,
    pub total_amount: String,
    pub receipt_amount: String,
    pub refunded_amount: String,
    pub buyer_id: Option<String>,
    pub buyer_logon_id: Option<String>,
    pub gmt_create: String,
    pub gmt_payment: Option<String>,
    pub gmt_close: Option<String>,
    pub expires_at: String,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
    pub quit_url: Option<String>,
    pub passback_params: Option<String>,
    pub cashier_url: String,
    pub refunds: Vec<RefundView>,
    pub notifications: Vec<NotificationRecord>,
}

#[derive(Debug, Serialize)]
pub struct RefundView {
    pub out_request_no: String,
    pub refund_amount: String,
    pub refund_reason: Option<String>,
    pub gmt_refund: String,
    pub refund_status: &'static str,
}

impl TradeView {
    fn new(trade: &Trade, public_url: &str) -> Self {
        TradeView {
            app_id: trade.app_id.clone(),
            seller_id: trade.seller_id.clone(),
            out_trade_no: trade.out_trade_no.clone(),
            trade_no: trade.trade_no.clone(),
            method: trade.product.method(),
            product_code: trade.product.product_code(),
            status: trade.status,
            subject: trade.subject.clone(),
            body: trade.body.clone(),
            total_amount: trade.total_amount.to_string(),
            receipt_amount: trade.paid_amount().to_string(),
            refunded_amount: trade.refunded().to_string(),
            buyer_id: trade.buyer.as_ref().map(|b| b.user_id.clone()),
            buyer_logon_id: trade.buyer.as_ref().map(|b| b.logon_id.clone()),
            gmt_create: format_beijing(trade.gmt_create),
            gmt_payment: trade.gmt_payment.map(format_beijing),
            gmt_close: trade.gmt_close.map(format_beijing),
            expires_at: format_beijing(trade.deadline),
            notify_url: trade.notify_url.clone(),
            return_url: trade.return_url.clone(),
            quit_url: trade.quit_url.clone(),
            passback_params: trade.passback_params.clone(),
            cashier_url: format!("{public_url}/cashier/{}", trade.trade_no),
            refunds: trade
                .refunds
                .iter()
                .map(|refund| RefundView {
                    out_request_no: refund.out_request_no.clone(),
                    refund_amount: refund.amount.to_string(),
                    refund_reason: refund.reason.clone(),
                    gmt_refund: format_millis(refund.gmt_refund),
                    refund_status: "REFUND_SUCCESS",
                })
                .collect(),
            notifications: trade.notifications.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct AppQuery {
    app_id: Option<String>,
}

/// The one trade with this `out_trade_no` (narrowed by `?app_id=` when several apps used it).
fn find(sandbox: &Sandbox, out_trade_no: &str, app_id: Option<&str>) -> Result<TradeId, Error> {
    sandbox.with_book(|book, _, _| {
        let ids: Vec<TradeId> = book
            .by_out_trade_no(out_trade_no)
            .into_iter()
            .filter(|id| app_id.is_none_or(|app| book.get(*id).is_some_and(|t| t.app_id == app)))
            .collect();
        match ids.as_slice() {
            [] => Err(Error::NotFound(format!(
                "no trade {out_trade_no}: it exists once the buyer opened the cashier (page/wap pay request)"
            ))),
            [id] => Ok(*id),
            _ => Err(Error::Ambiguous(format!("several apps have a trade {out_trade_no}; add ?app_id="))),
        }
    })
}

fn view(sandbox: &Sandbox, id: TradeId) -> Result<TradeView, Error> {
    sandbox
        .with_book(|book, _, _| {
            book.get(id)
                .map(|trade| TradeView::new(trade, &sandbox.public_url))
        })
        .ok_or_else(|| Error::NotFound("no such trade".to_owned()))
}

/// `GET /sandbox/trades/{out_trade_no}`.
async fn show_trade(
    path: web::Path<String>,
    query: web::Query<AppQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let id = find(&sandbox, &path, query.app_id.as_deref())?;
    Ok(HttpResponse::Ok().json(view(&sandbox, id)?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBody {
    buyer_id: Option<String>,
}

/// What `/pay` and `/close` answer.
#[derive(Debug, Serialize)]
struct ActionView {
    /// Where the browser would go next: the signed `return_url` redirect after paying, the
    /// `quit_url` after a wap cancel, or `null` (the buyer stays on Alipay's page).
    redirect_url: Option<String>,
    trade: TradeView,
}

fn action_view(sandbox: &Sandbox, outcome: Outcome) -> ActionView {
    ActionView {
        redirect_url: outcome.redirect_url,
        trade: TradeView::new(&outcome.trade, &sandbox.public_url),
    }
}

/// `POST /sandbox/trades/{out_trade_no}/pay` with an optional `{"buyer_id":"2088…"}`.
async fn pay(
    path: web::Path<String>,
    query: web::Query<AppQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let request: PayBody = if body.iter().all(u8::is_ascii_whitespace) {
        PayBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            Error::BadRequest(format!("body must be {{\"buyer_id\":\"2088…\"}}: {error}"))
        })?
    };
    if let Some(buyer_id) = &request.buyer_id {
        let valid = buyer_id.len() == 16
            && buyer_id.starts_with("2088")
            && buyer_id.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(Error::BadRequest(
                "buyer_id must be 2088 followed by 12 digits".to_owned(),
            ));
        }
    }
    let id = find(&sandbox, &path, query.app_id.as_deref())?;
    let outcome = actions::pay(&sandbox, id, request.buyer_id)?;
    Ok(HttpResponse::Ok().json(action_view(&sandbox, outcome)))
}

/// `POST /sandbox/trades/{out_trade_no}/close`: the buyer cancels at the cashier.
async fn close(
    path: web::Path<String>,
    query: web::Query<AppQuery>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let id = find(&sandbox, &path, query.app_id.as_deref())?;
    let outcome = actions::cancel(&sandbox, id)?;
    Ok(HttpResponse::Ok().json(action_view(&sandbox, outcome)))
}

/// `GET /sandbox/faults`: what is in force, counts as left.
async fn show_faults(sandbox: web::Data<Sandbox>) -> HttpResponse {
    HttpResponse::Ok().json(lock(&sandbox.faults).clone())
}

/// `PUT /sandbox/faults`: replaces the whole configuration (absent fields are off).
async fn set_faults(body: web::Bytes, sandbox: web::Data<Sandbox>) -> Result<HttpResponse, Error> {
    let faults: Faults = serde_json::from_slice(&body)
        .map_err(|error| Error::BadRequest(format!("invalid faults: {error}")))?;
    faults.validate().map_err(Error::BadRequest)?;
    let releases = !faults.notify.out_of_order;
    *lock(&sandbox.faults) = faults.clone();
    if releases {
        sandbox.notifier.release_held();
    }
    tracing::info!(?faults, "faults set");
    Ok(HttpResponse::Ok().json(faults))
}

/// `DELETE /sandbox/faults`: clears everything and sends a held-back notification.
async fn clear_faults(sandbox: web::Data<Sandbox>) -> HttpResponse {
    *lock(&sandbox.faults) = Faults::default();
    sandbox.notifier.release_held();
    tracing::info!("faults cleared");
    HttpResponse::Ok().json(Faults::default())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackdateBody {
    seconds: i64,
}

/// `POST /sandbox/trades/{out_trade_no}/backdate` with `{"seconds":86400}`: moves every time of
/// the trade (creation, payment, close, deadline, refunds) that far into the past, so a test can
/// make yesterday's trades and read yesterday's bill (Alipay has no bill for today).
async fn backdate(
    path: web::Path<String>,
    query: web::Query<AppQuery>,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let request: BackdateBody = serde_json::from_slice(&body)
        .map_err(|error| Error::BadRequest(format!("body must be {{\"seconds\":N}}: {error}")))?;
    if !(0..=400 * 86_400).contains(&request.seconds) {
        return Err(Error::BadRequest(
            "seconds must be between 0 and 400 days".to_owned(),
        ));
    }
    let id = find(&sandbox, &path, query.app_id.as_deref())?;
    let by = chrono::Duration::seconds(request.seconds);
    sandbox.with_book(|book, _, _| {
        if let Some(trade) = book.get_mut(id) {
            trade.gmt_create -= by;
            trade.deadline -= by;
            trade.time_expire = trade.time_expire.map(|at| at - by);
            trade.gmt_payment = trade.gmt_payment.map(|at| at - by);
            trade.gmt_close = trade.gmt_close.map(|at| at - by);
            for refund in &mut trade.refunds {
                refund.gmt_refund -= by;
            }
        }
    });
    tracing::info!(out_trade_no = %path, seconds = request.seconds, "trade backdated");
    Ok(HttpResponse::Ok().json(view(&sandbox, id)?))
}

/// `PUT /sandbox/bill-file`: every bill download serves the request body instead of the bill
/// (until `DELETE`).
async fn set_bill_file(body: web::Bytes, sandbox: web::Data<Sandbox>) -> HttpResponse {
    let length = body.len();
    lock(&sandbox.bills).replacement = Some(body.to_vec());
    tracing::info!(length, "bill downloads replaced");
    HttpResponse::Ok().json(serde_json::json!({ "bytes": length }))
}

/// `DELETE /sandbox/bill-file`: bill downloads serve the real bill again.
async fn clear_bill_file(sandbox: web::Data<Sandbox>) -> HttpResponse {
    lock(&sandbox.bills).replacement = None;
    HttpResponse::Ok().json(serde_json::json!({ "bytes": null }))
}
