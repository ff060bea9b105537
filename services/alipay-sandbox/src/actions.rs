//! What the buyer does at the cashier (pay, cancel), shared by the cashier's forms and the test
//! API's `/pay` and `/close`.

use alipay::time::format_beijing;

use crate::error::Error;
use crate::signing::{PayReturn, append_query};
use crate::state::Sandbox;
use crate::trade::{Product, Trade, TradeId};

/// The trade after the action, and where the browser goes next (if anywhere).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub trade: Trade,
    pub redirect_url: Option<String>,
}

/// The buyer pays: the trade becomes `TRADE_SUCCESS`, the notification is queued, and the
/// browser is sent to `return_url` with the signed return parameters.
pub(crate) fn pay(
    sandbox: &Sandbox,
    id: TradeId,
    buyer_id: Option<String>,
) -> Result<Outcome, Error> {
    let trade = sandbox.with_book(|book, now, pending| {
        book.pay(id, buyer_id, now, pending)?;
        book.get(id)
            .cloned()
            .ok_or(Error::NotFound("no such trade".to_owned()))
    })?;
    let redirect_url = match &trade.return_url {
        Some(return_url) => Some(append_query(return_url, &signed_return(sandbox, &trade)?)),
        None => None,
    };
    tracing::info!(out_trade_no = %trade.out_trade_no, trade_no = %trade.trade_no, "trade paid");
    Ok(Outcome {
        trade,
        redirect_url,
    })
}

/// The form-encoded, signed return parameters for a paid trade.
fn signed_return(sandbox: &Sandbox, trade: &Trade) -> Result<String, Error> {
    let fields = PayReturn {
        charset: trade.charset.clone(),
        out_trade_no: trade.out_trade_no.clone(),
        method: trade.product.return_method().to_owned(),
        total_amount: trade.total_amount.money(),
        trade_no: trade.trade_no.clone(),
        auth_app_id: trade.app_id.clone(),
        version: "1.0".to_owned(),
        app_id: trade.app_id.clone(),
        sign_type: trade.sign_type,
        seller_id: trade.seller_id.clone(),
        timestamp: format_beijing(sandbox.now()),
    };
    let (signer, alipay_cert_sn) = sandbox.signer_for(&trade.app_id);
    let mut pairs = fields.pairs();
    if let Some(sn) = alipay_cert_sn {
        pairs.push(("alipay_cert_sn".to_owned(), sn));
    }
    let form = signer
        .sign_form(pairs, trade.sign_type)
        .map_err(|error| Error::Internal(format!("signing the return failed: {error}")))?;
    Ok(form.encoded())
}

/// The buyer cancels: the unpaid trade closes; a wap buyer goes to `quit_url`. (A page-pay
/// buyer's way back is [`cashier_cancel_return`]; `redirect_url` stays `None` for page pay so the
/// test API's `/close` answers as documented.)
pub(crate) fn cancel(sandbox: &Sandbox, id: TradeId) -> Result<Outcome, Error> {
    let trade = sandbox.with_book(|book, now, pending| {
        book.close(id, now, pending)?;
        book.get(id)
            .cloned()
            .ok_or(Error::NotFound("no such trade".to_owned()))
    })?;
    let redirect_url = match trade.product {
        Product::WapPay => trade.quit_url.clone(),
        Product::PagePay => None,
    };
    tracing::info!(out_trade_no = %trade.out_trade_no, "trade closed at the cashier");
    Ok(Outcome {
        trade,
        redirect_url,
    })
}

/// Where the cashier's Cancel button sends a page-pay buyer once the trade is closed: the
/// merchant's `return_url` with only `out_trade_no` appended, so the merchant's return page can
/// ask its own server what became of the order (the server asks Alipay, whose signed query answer
/// says `TRADE_CLOSED`). Without it the buyer was left on "交易已关闭" with no way back.
///
/// Unsigned on purpose: the merchant never trusts return parameters (anyone can type them into a
/// browser), so signing them would suggest a trust that must not exist. `None` for wap pay
/// (`quit_url` is its way back, see [`cancel`]) and when the trade has no `return_url`.
pub(crate) fn cashier_cancel_return(trade: &Trade) -> Option<String> {
    match trade.product {
        Product::PagePay => trade.return_url.as_deref().map(|return_url| {
            append_query(
                return_url,
                &alipay::form::encode([("out_trade_no", trade.out_trade_no.as_str())]),
            )
        }),
        Product::WapPay => None,
    }
}
