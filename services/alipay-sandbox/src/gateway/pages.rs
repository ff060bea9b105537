//! Page and wap pay: a verified request opens the cashier (creating the trade as
//! `WAIT_BUYER_PAY`), and the cashier's own forms pay or cancel it.

use std::ops::Deref;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use alipay::time::{beijing, parse_beijing};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use crate::actions;
use crate::error::Error;
use crate::gateway::request::{Authenticated, Refusal};
use crate::html::{self, Finished};
use crate::state::Sandbox;
use crate::trade::{PayOrder, Product, TimeoutExpress, Trade, TradeRefusal};

/// A refused page/wap pay request, and the merchant's site for the error page to link back to.
/// Derefs to the [`Refusal`] so the gateway reads `sub_code` from it as from any refusal.
/// (Boxed: a `Result` carrying it stays small.)
#[derive(Debug, Clone)]
pub struct PageRefusal {
    refusal: Box<Refusal>,
    back: Option<String>,
}

impl Deref for PageRefusal {
    type Target = Refusal;

    fn deref(&self) -> &Refusal {
        &self.refusal
    }
}

/// A refusal before authentication: no link back, since an unauthenticated request's
/// `return_url` could be anyone's (a link to it would be an open redirect).
impl From<Refusal> for PageRefusal {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal: Box::new(refusal),
            back: None,
        }
    }
}

/// Answers a verified page/wap pay request with the cashier or Alipay's error page.
pub fn page_pay(
    sandbox: &Sandbox,
    request: &Authenticated,
    product: Product,
) -> Result<Trade, PageRefusal> {
    // The request is authenticated, so its return_url is the merchant's own: safe to link to.
    let requested_site = request.param("return_url").and_then(html::merchant_origin);
    let order = read_order(request, product).map_err(|refusal| PageRefusal {
        refusal: Box::new(refusal),
        back: requested_site.clone(),
    })?;
    let (app_id, out_trade_no) = (order.app_id.clone(), order.out_trade_no.clone());
    let trade = sandbox
        .with_book(|book, now, pending| match book.open(order, now, pending) {
            Ok(id) => book.get(id).cloned().ok_or((TradeRefusal::NotExist, None)),
            // A paid or closed trade: back to the site that trade came from.
            Err(refusal) => Err((
                refusal,
                book.find(&app_id, Some(&out_trade_no), None)
                    .and_then(|id| book.get(id))
                    .and_then(merchant_site),
            )),
        })
        .map_err(|(refusal, site)| PageRefusal {
            refusal: Box::new(refusal.into()),
            back: site.or(requested_site),
        })?;
    tracing::info!(out_trade_no = %trade.out_trade_no, trade_no = %trade.trade_no, "cashier opened");
    Ok(trade)
}

/// The merchant's site for a link back from a finished trade: the origin of its `return_url`,
/// or of its `quit_url` (wap pay).
fn merchant_site(trade: &Trade) -> Option<String> {
    trade
        .return_url
        .as_deref()
        .and_then(html::merchant_origin)
        .or_else(|| trade.quit_url.as_deref().and_then(html::merchant_origin))
}

fn read_order(request: &Authenticated, product: Product) -> Result<PayOrder, Refusal> {
    let biz = &request.biz;
    let out_trade_no = biz
        .merchant_no("out_trade_no")?
        .ok_or_else(|| Refusal::invalid_parameter("缺少必选参数 out_trade_no"))?;
    let total_amount = biz
        .amount("total_amount")?
        .ok_or_else(|| Refusal::invalid_parameter("缺少必选参数 total_amount"))?;
    let subject = biz
        .text_max("subject", 256)?
        .ok_or_else(|| Refusal::invalid_parameter("缺少必选参数 subject"))?;
    let product_code = biz.required("product_code")?;
    if product_code != product.product_code() {
        return Err(Refusal::invalid_parameter(format_args!(
            "product_code 必须是 {}，收到 {product_code}",
            product.product_code()
        )));
    }
    let time_expire = biz
        .text("time_expire")?
        .map(|text| {
            parse_time_expire(&text).ok_or_else(|| {
                Refusal::invalid_parameter("time_expire 格式应为 yyyy-MM-dd HH:mm:ss")
            })
        })
        .transpose()?;
    let timeout_express = biz
        .text("timeout_express")?
        .map(|text| {
            TimeoutExpress::parse(&text).ok_or_else(|| {
                Refusal::invalid_parameter("timeout_express 取值范围 1m～15d，或 1c")
            })
        })
        .transpose()?;
    let quit_url = match product {
        Product::WapPay => biz.text_max("quit_url", 400)?,
        Product::PagePay => None,
    };
    Ok(PayOrder {
        app_id: request.app.app_id.clone(),
        seller_id: request.app.seller_id.clone(),
        product,
        sign_type: request.sign_type,
        charset: request.charset.clone(),
        out_trade_no,
        total_amount,
        subject,
        body: biz.text_max("body", 128)?,
        passback_params: biz.text_max("passback_params", 512)?,
        notify_url: request.param("notify_url").map(str::to_owned),
        return_url: request.param("return_url").map(str::to_owned),
        quit_url,
        time_expire,
        timeout_express,
    })
}

/// `yyyy-MM-dd HH:mm:ss`, or the older `yyyy-MM-dd HH:mm`, Beijing time.
fn parse_time_expire(text: &str) -> Option<DateTime<Utc>> {
    if text.len() == 19 {
        return parse_beijing(text).ok();
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .ok()
        .filter(|_| text.len() == 16)?;
    beijing()
        .from_local_datetime(&naive)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

fn html(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Renders the outcome of a page/wap pay request: a [`PageRefusal`] from [`page_pay`], or a
/// plain [`Refusal`] of a request that failed authentication.
pub fn render<E: Into<PageRefusal>>(outcome: Result<Trade, E>) -> HttpResponse {
    match outcome.map_err(Into::into) {
        Ok(trade) => html(html::cashier_page(&trade)),
        Err(refused) => html(html::error_page(&refused.refusal, refused.back.as_deref())),
    }
}

fn find(sandbox: &Sandbox, trade_no: &str) -> Result<crate::trade::TradeId, Error> {
    sandbox
        .with_book(|book, _, _| book.by_trade_no(trade_no))
        .ok_or_else(|| Error::NotFound(format!("no trade {trade_no}")))
}

/// The page for a trade that can no longer be paid, with a link back to the merchant.
fn finished_page(trade: &Trade, refusal: TradeRefusal) -> HttpResponse {
    let finished = match refusal {
        TradeRefusal::AlreadyPaid => Finished::AlreadyPaid,
        TradeRefusal::Expired => Finished::Expired,
        TradeRefusal::Closed | TradeRefusal::StatusError => Finished::Closed,
        TradeRefusal::NotExist
        | TradeRefusal::ContextInconsistent
        | TradeRefusal::RefundTooLarge
        | TradeRefusal::DiscordantRepeat
        | TradeRefusal::RefundAmountNotEqualTotal
        | TradeRefusal::HasFinished => Finished::CannotPay,
    };
    html(html::result_page(
        finished,
        trade,
        merchant_site(trade).as_deref(),
    ))
}

/// `GET /cashier/{trade_no}`: the cashier again (e.g. after a reload).
pub async fn cashier(
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let id = find(&sandbox, &path)?;
    let trade = sandbox
        .with_book(|book, _, _| book.get(id).cloned())
        .ok_or_else(|| Error::NotFound(path.to_string()))?;
    Ok(match trade.status {
        alipay::TradeStatus::WaitBuyerPay => html(html::cashier_page(&trade)),
        alipay::TradeStatus::TradeSuccess | alipay::TradeStatus::TradeFinished => {
            finished_page(&trade, TradeRefusal::AlreadyPaid)
        }
        alipay::TradeStatus::TradeClosed if trade.expired => {
            finished_page(&trade, TradeRefusal::Expired)
        }
        alipay::TradeStatus::TradeClosed => finished_page(&trade, TradeRefusal::Closed),
    })
}

/// `POST /cashier/{trade_no}/pay`: pays, then redirects to the merchant's `return_url`.
pub async fn cashier_pay(
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let id = find(&sandbox, &path)?;
    match actions::pay(&sandbox, id, None) {
        Ok(outcome) => Ok(match outcome.redirect_url {
            Some(url) => HttpResponse::Found()
                .insert_header((header::LOCATION, url))
                .finish(),
            None => html(html::result_page(
                Finished::Paid,
                &outcome.trade,
                merchant_site(&outcome.trade).as_deref(),
            )),
        }),
        Err(Error::Refused(refusal)) => refused_page(&sandbox, id, refusal),
        Err(other) => Err(other),
    }
}

/// `POST /cashier/{trade_no}/cancel`: closes the unpaid trade, then sends the browser back to
/// the merchant: `quit_url` for wap pay, `return_url?out_trade_no=…` for page pay, or (with
/// neither) the closed page.
pub async fn cashier_cancel(
    path: web::Path<String>,
    sandbox: web::Data<Sandbox>,
) -> Result<HttpResponse, Error> {
    let id = find(&sandbox, &path)?;
    match actions::cancel(&sandbox, id) {
        Ok(outcome) => Ok(
            match outcome
                .redirect_url
                .or_else(|| actions::cashier_cancel_return(&outcome.trade))
            {
                Some(url) => HttpResponse::Found()
                    .insert_header((header::LOCATION, url))
                    .finish(),
                None => html(html::result_page(
                    Finished::Cancelled,
                    &outcome.trade,
                    merchant_site(&outcome.trade).as_deref(),
                )),
            },
        ),
        Err(Error::Refused(refusal)) => refused_page(&sandbox, id, refusal),
        Err(other) => Err(other),
    }
}

fn refused_page(
    sandbox: &Sandbox,
    id: crate::trade::TradeId,
    refusal: TradeRefusal,
) -> Result<HttpResponse, Error> {
    let trade = sandbox
        .with_book(|book, _, _| book.get(id).cloned())
        .ok_or_else(|| Error::NotFound("no such trade".to_owned()))?;
    Ok(finished_page(&trade, refusal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay::time::format_beijing;

    #[test]
    fn time_expire_in_both_documented_forms() {
        assert_eq!(
            format_beijing(parse_time_expire("2024-05-17 14:29:13").unwrap()),
            "2024-05-17 14:29:13"
        );
        assert_eq!(
            format_beijing(parse_time_expire("2016-12-31 10:05").unwrap()),
            "2016-12-31 10:05:00"
        );
        assert!(parse_time_expire("2016-12-31").is_none());
        assert!(parse_time_expire("2016-12-31T10:05:00").is_none());
    }
}
