//! The server APIs: `alipay.trade.query`, `.close`, `.refund`, `.fastpay.refund.query` and
//! `alipay.data.dataservice.bill.downloadurl.query`. Each returns the node to sign; the node
//! builders are pure so the vectors can check their exact text.

use alipay::money::Money;
use alipay::time::format_beijing;
use serde_json::json;

use crate::bill;
use crate::gateway::request::{Authenticated, Method, Refusal};
use crate::signing::Node;
use crate::state::Sandbox;
use crate::trade::{Refund, RefundRequest, Trade, TradeRefusal};

/// Runs a server API; the `Err` refusal is answered as a signed failure node.
pub fn handle(sandbox: &Sandbox, request: &Authenticated) -> Result<Node, Refusal> {
    match request.method {
        Method::TradeQuery => query(sandbox, request),
        Method::TradeClose => close(sandbox, request),
        Method::TradeRefund => refund(sandbox, request),
        Method::RefundQuery => refund_query(sandbox, request),
        Method::BillDownloadUrl => bill::download_url(sandbox, request),
        Method::CertDownload => cert_download(sandbox, request),
        // Page-jump methods never reach here: the gateway answers them with HTML.
        Method::PagePay | Method::WapPay => Err(Refusal::invalid(
            "isv.invalid-method",
            "页面跳转类接口不能以服务端方式调用",
        )),
    }
}

/// `alipay.open.app.alipaycert.download`: `alipay_cert_content` is the base64 of the
/// certificate file's PEM, as Alipay hands it out.
fn cert_download(sandbox: &Sandbox, request: &Authenticated) -> Result<Node, Refusal> {
    use base64::Engine;
    let sn = request.biz.required("alipay_cert_sn")?;
    let certificate = sandbox
        .pki
        .as_ref()
        .and_then(|pki| pki.issued(&sn))
        .ok_or_else(|| Refusal::business("CERT_NOT_EXIST", "证书不存在"))?;
    let content =
        base64::engine::general_purpose::STANDARD.encode(certificate.file.to_pem().as_bytes());
    Ok(Node::success().field("alipay_cert_content", content))
}

fn query(sandbox: &Sandbox, request: &Authenticated) -> Result<Node, Refusal> {
    let (out_trade_no, trade_no) = request.biz.trade_ref()?;
    let app_id = &request.app.app_id;
    Ok(sandbox.with_book(|book, _, _| {
        match book
            .find(app_id, out_trade_no.as_deref(), trade_no.as_deref())
            .and_then(|id| book.get(id))
        {
            Some(trade) => query_node(trade),
            None => trade_not_exist_node(out_trade_no.as_deref()),
        }
    }))
}

/// `alipay.trade.query` for a trade that exists.
pub fn query_node(trade: &Trade) -> Node {
    let paid = trade.paid_amount();
    let mut node = Node::success()
        .field("out_trade_no", trade.out_trade_no.as_str())
        .field("trade_no", trade.trade_no.as_str())
        .field("trade_status", trade.status.as_str())
        .field("total_amount", trade.total_amount.to_string())
        .field("buyer_pay_amount", paid.to_string())
        .field("invoice_amount", paid.to_string())
        .field("receipt_amount", paid.to_string())
        .field("point_amount", Money::ZERO.to_string());
    if let Some(buyer) = &trade.buyer {
        node = node
            .field("buyer_logon_id", buyer.logon_id.as_str())
            .field("buyer_user_id", buyer.user_id.as_str())
            .field("buyer_user_type", "PRIVATE");
    }
    if let Some(paid_at) = trade.gmt_payment {
        node = node.field("send_pay_date", format_beijing(paid_at)).field(
            "fund_bill_list",
            json!([{"amount": paid.to_string(), "fund_channel": "ALIPAYACCOUNT"}]),
        );
    }
    node
}

/// `ACQ.TRADE_NOT_EXIST` with the zero amounts Alipay adds.
pub fn trade_not_exist_node(out_trade_no: Option<&str>) -> Node {
    let refusal = TradeRefusal::NotExist;
    Node::status(
        "40004",
        "Business Failed",
        Some(refusal.sub_code()),
        Some(refusal.sub_msg()),
    )
    .field_opt("out_trade_no", out_trade_no)
    .field("buyer_pay_amount", "0.00")
    .field("invoice_amount", "0.00")
    .field("point_amount", "0.00")
    .field("receipt_amount", "0.00")
}

fn close(sandbox: &Sandbox, request: &Authenticated) -> Result<Node, Refusal> {
    let (out_trade_no, trade_no) = request.biz.trade_ref()?;
    let app_id = &request.app.app_id;
    sandbox.with_book(|book, now, pending| {
        let id = book
            .find(app_id, out_trade_no.as_deref(), trade_no.as_deref())
            .ok_or(TradeRefusal::NotExist)?;
        book.close(id, now, pending)?;
        let trade = book.get(id).ok_or(TradeRefusal::NotExist)?;
        Ok(close_node(trade))
    })
}

/// `alipay.trade.close` succeeded.
pub fn close_node(trade: &Trade) -> Node {
    Node::success()
        .field("out_trade_no", trade.out_trade_no.as_str())
        .field("trade_no", trade.trade_no.as_str())
}

fn refund(sandbox: &Sandbox, request: &Authenticated) -> Result<Node, Refusal> {
    let biz = &request.biz;
    let (out_trade_no, trade_no) = biz.trade_ref()?;
    let amount = biz
        .amount("refund_amount")?
        .ok_or_else(|| Refusal::invalid_parameter("缺少必选参数 refund_amount"))?;
    let refund_request = RefundRequest {
        out_request_no: biz.merchant_no("out_request_no")?,
        amount,
        reason: biz.text_max("refund_reason", 256)?,
    };
    let app_id = &request.app.app_id;
    Ok(sandbox.with_book(|book, now, pending| {
        let Some(id) = book.find(app_id, out_trade_no.as_deref(), trade_no.as_deref()) else {
            return refund_failed_node(
                TradeRefusal::NotExist,
                out_trade_no.as_deref(),
                Money::ZERO,
            );
        };
        match book.refund(id, refund_request, now, pending) {
            Ok(outcome) => match book.get(id) {
                Some(trade) => refund_node(trade, &outcome.refund, outcome.fund_change),
                None => {
                    refund_failed_node(TradeRefusal::NotExist, out_trade_no.as_deref(), Money::ZERO)
                }
            },
            Err(refusal) => {
                let trade = book.get(id);
                let refunded = trade.map(Trade::refunded).unwrap_or(Money::ZERO);
                refund_failed_node(refusal, trade.map(|t| t.out_trade_no.as_str()), refunded)
            }
        }
    }))
}

/// `alipay.trade.refund` succeeded (or repeated: `fund_change` N).
pub fn refund_node(trade: &Trade, refund: &Refund, fund_change: bool) -> Node {
    let mut node = Node::success()
        .field("out_trade_no", trade.out_trade_no.as_str())
        .field("trade_no", trade.trade_no.as_str())
        .field("fund_change", if fund_change { "Y" } else { "N" })
        .field("refund_fee", trade.refunded().to_string())
        .field("send_back_fee", refund.amount.to_string())
        .field("gmt_refund_pay", format_beijing(refund.gmt_refund));
    if let Some(buyer) = &trade.buyer {
        node = node
            .field("buyer_logon_id", buyer.logon_id.as_str())
            .field("buyer_user_id", buyer.user_id.as_str());
    }
    node
}

/// A refused refund, with the fields Alipay adds to it.
pub fn refund_failed_node(
    refusal: TradeRefusal,
    out_trade_no: Option<&str>,
    refunded: Money,
) -> Node {
    Node::status(
        "40004",
        "Business Failed",
        Some(refusal.sub_code()),
        Some(refusal.sub_msg()),
    )
    .field_opt("out_trade_no", out_trade_no)
    .field("refund_fee", refunded.to_string())
    .field("send_back_fee", "0.00")
}

fn refund_query(sandbox: &Sandbox, request: &Authenticated) -> Result<Node, Refusal> {
    let biz = &request.biz;
    let (out_trade_no, trade_no) = biz.trade_ref()?;
    let out_request_no = biz
        .merchant_no("out_request_no")?
        .ok_or_else(|| Refusal::invalid_parameter("缺少必选参数 out_request_no"))?;
    let with_date = biz.has_query_option("gmt_refund_pay");
    let app_id = &request.app.app_id;
    sandbox.with_book(|book, _, _| {
        let id = book
            .find(app_id, out_trade_no.as_deref(), trade_no.as_deref())
            .ok_or(TradeRefusal::NotExist)?;
        let trade = book.get(id).ok_or(TradeRefusal::NotExist)?;
        let refund = trade
            .refunds
            .iter()
            .find(|r| r.out_request_no == out_request_no);
        Ok(refund_query_node(trade, &out_request_no, refund, with_date))
    })
}

/// `alipay.trade.fastpay.refund.query`: without `refund_status` when no such refund exists
/// ("not received or failed"), as Alipay answers.
pub fn refund_query_node(
    trade: &Trade,
    out_request_no: &str,
    refund: Option<&Refund>,
    with_date: bool,
) -> Node {
    let node = Node::success()
        .field("out_trade_no", trade.out_trade_no.as_str())
        .field("trade_no", trade.trade_no.as_str())
        .field("out_request_no", out_request_no)
        .field("total_amount", trade.total_amount.to_string());
    match refund {
        None => node,
        Some(refund) => node
            .field("refund_amount", refund.amount.to_string())
            .field("refund_status", "REFUND_SUCCESS")
            .field_opt("refund_reason", refund.reason.as_deref())
            .field_opt(
                "gmt_refund_pay",
                with_date.then(|| format_beijing(refund.gmt_refund)),
            ),
    }
}
