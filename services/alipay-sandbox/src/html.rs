//! The pages a browser sees: the cashier, Alipay's error page, and result pages.
//!
//! Plain HTML forms, no JavaScript, UTF-8. Every value is escaped. Elements carry ids
//! (`subject`, `total_amount`, `out_trade_no`, `trade_no`, `sub_code`, `string_to_sign`) so tests
//! and scripts can read them without parsing prose.

use alipay::request::escape_html;
use alipay::time::format_beijing;

use crate::gateway::request::Refusal;
use crate::trade::Trade;

const TITLE: &str = "支付宝 - 网上支付 安全快速！";

const STYLE: &str = "body{font-family:sans-serif;background:#f5f5f5;margin:0}\
main{max-width:560px;margin:40px auto;background:#fff;padding:24px 32px;border-top:4px solid #1677ff}\
h1{font-size:20px;color:#1677ff}dl{display:grid;grid-template-columns:max-content 1fr;gap:8px 16px}\
dt{color:#666}dd{margin:0}.amount{font-size:24px;color:#f60}form{display:inline-block;margin:16px 16px 0 0}\
button{font-size:16px;padding:8px 24px}.pay{background:#1677ff;color:#fff;border:0}\
pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;padding:8px}.note{color:#999;font-size:12px}";

fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{TITLE}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n\
         <p class=\"note\">alipay-sandbox: an offline stand-in for Alipay. No real money moves.</p>\n\
         </main>\n</body>\n</html>\n"
    )
}

/// The cashier: what is being paid, and Pay / Cancel buttons that post plain forms.
pub fn cashier_page(trade: &Trade) -> String {
    let trade_no = escape_html(&trade.trade_no);
    let amount = escape_html(&trade.total_amount.to_string());
    let body = trade.body.as_deref().map(|b| {
        format!(
            "<dt>商品描述 Description</dt><dd id=\"body\">{}</dd>\n",
            escape_html(b)
        )
    });
    page(&format!(
        "<h1>支付宝收银台 Cashier</h1>\n<dl>\n\
         <dt>商品名称 Subject</dt><dd id=\"subject\">{subject}</dd>\n{body}\
         <dt>订单金额 Amount</dt><dd class=\"amount\">¥<span id=\"total_amount\">{amount}</span></dd>\n\
         <dt>商户订单号 Order number</dt><dd id=\"out_trade_no\">{out_trade_no}</dd>\n\
         <dt>支付宝交易号 Trade number</dt><dd id=\"trade_no\">{trade_no}</dd>\n\
         <dt>收款方 Seller</dt><dd id=\"seller_id\">{seller}</dd>\n\
         <dt>付款截止 Pay before</dt><dd id=\"deadline\">{deadline}</dd>\n</dl>\n\
         <form method=\"post\" action=\"/cashier/{trade_no}/pay\" accept-charset=\"utf-8\">\
         <button class=\"pay\" type=\"submit\">确认付款 Pay ¥{amount}</button></form>\n\
         <form method=\"post\" action=\"/cashier/{trade_no}/cancel\" accept-charset=\"utf-8\">\
         <button type=\"submit\">取消 Cancel</button></form>",
        subject = escape_html(&trade.subject),
        body = body.unwrap_or_default(),
        out_trade_no = escape_html(&trade.out_trade_no),
        seller = escape_html(&trade.seller_id),
        deadline = format_beijing(trade.deadline),
    ))
}

/// Alipay's error page for a refused page/wap pay request. The code is shown without its
/// `isv.` prefix, as Alipay shows it; a bad signature shows the gateway's string-to-sign.
pub fn error_page(refusal: &Refusal) -> String {
    let shown_code = refusal
        .sub_code
        .strip_prefix("isv.")
        .unwrap_or(&refusal.sub_code);
    let detail = refusal
        .detail
        .as_deref()
        .map(|detail| format!("\n<pre id=\"string_to_sign\">{}</pre>", escape_html(detail)))
        .unwrap_or_default();
    page(&format!(
        "<h1>{TITLE}</h1>\n<p>调试错误，请回到请求来源地，重新发起请求。</p>\n\
         <p>错误代码 <code id=\"sub_code\">{code}</code> 错误原因: <span id=\"sub_msg\">{msg}</span></p>{detail}",
        code = escape_html(shown_code),
        msg = escape_html(&refusal.sub_msg),
    ))
}

/// A page after an action: paid without a return URL, closed, expired, already paid.
pub fn result_page(heading: &str, message: &str, trade: &Trade) -> String {
    page(&format!(
        "<h1 id=\"result\">{heading}</h1>\n<p>{message}</p>\n<dl>\n\
         <dt>商户订单号 Order number</dt><dd id=\"out_trade_no\">{out_trade_no}</dd>\n\
         <dt>支付宝交易号 Trade number</dt><dd id=\"trade_no\">{trade_no}</dd>\n\
         <dt>交易状态 Status</dt><dd id=\"trade_status\">{status}</dd>\n</dl>",
        heading = escape_html(heading),
        message = escape_html(message),
        out_trade_no = escape_html(&trade.out_trade_no),
        trade_no = escape_html(&trade.trade_no),
        status = trade.status.as_str(),
    ))
}
