//! The pages a browser sees: the cashier, Alipay's error page, and result pages.
//!
//! Plain HTML forms, no JavaScript, UTF-8. Every value is escaped. Elements carry ids
//! (`subject`, `total_amount`, `out_trade_no`, `trade_no`, `sub_code`, `string_to_sign`, `back`)
//! so tests and scripts can read them without parsing prose.
//!
//! Every page says what happened in Chinese and in English: the buyers of a course shop are not
//! all Chinese readers, and a page that only says 交易已关闭 leaves them stuck. Pages after which
//! the buyer has nothing left to do here link back to the merchant when the trade names one.

use alipay::request::escape_html;
use alipay::time::format_beijing;

use crate::gateway::request::Refusal;
use crate::trade::Trade;

const TITLE: &str = "支付宝 - 网上支付 安全快速！";

// Narrow screens: the order and trade numbers are long unbroken strings, so they may break
// anywhere, the definition list stacks below 480px, and nothing is wider than the screen.
const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:sans-serif;background:#f5f5f5;margin:0}\
main{max-width:560px;margin:40px auto;background:#fff;padding:24px 32px;border-top:4px solid #1677ff;overflow-wrap:anywhere}\
h1{font-size:20px;color:#1677ff}h1 .en{display:block;font-size:16px;font-weight:normal}\
p.en{color:#555}dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:8px 16px}\
dt{color:#666}dd{margin:0;min-width:0;word-break:break-all}.amount{font-size:24px;color:#f60}\
form{display:inline-block;margin:16px 16px 0 0}button{font-size:16px;padding:8px 24px}\
.pay{background:#1677ff;color:#fff;border:0}a.back{display:inline-block;margin-top:16px;color:#1677ff}\
pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;padding:8px}.note{color:#999;font-size:12px}\
@media (max-width:480px){main{margin:0;padding:16px}dl{grid-template-columns:minmax(0,1fr);gap:2px}\
dd{margin-bottom:8px}form{display:block;margin:12px 0 0}button{width:100%}}";

/// The page around a body. The empty icon stops browsers asking for `/favicon.ico`, a 404 in
/// every buyer's (and the browser test's) console.
fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{TITLE}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n\
         <p class=\"note\">alipay-sandbox：离线模拟的支付宝，不会产生真实扣款。 \
         An offline stand-in for Alipay. No real money moves.</p>\n\
         </main>\n</body>\n</html>\n"
    )
}

/// A text in Chinese and in English.
#[derive(Debug, Clone, Copy)]
pub struct Bilingual {
    pub zh: &'static str,
    pub en: &'static str,
}

const fn says(zh: &'static str, en: &'static str) -> Bilingual {
    Bilingual { zh, en }
}

/// `<h1 id="result">中文<span class="en">English</span></h1>`: the English on a line of its own.
fn heading(id: &str, text: Bilingual) -> String {
    format!(
        "<h1 id=\"{id}\">{zh}<span class=\"en\" lang=\"en\">{en}</span></h1>",
        zh = escape_html(text.zh),
        en = escape_html(text.en),
    )
}

fn paragraphs(text: Bilingual) -> String {
    format!(
        "<p>{zh}</p>\n<p class=\"en\" lang=\"en\">{en}</p>",
        zh = escape_html(text.zh),
        en = escape_html(text.en),
    )
}

/// The way back to the merchant, or a sentence saying there is none.
fn back_link(back: Option<&str>) -> String {
    match back {
        Some(url) => format!(
            "<p><a class=\"back\" id=\"back\" href=\"{url}\">返回商户 Back to the merchant</a></p>",
            url = escape_html(url),
        ),
        None => "<p class=\"en\">您可以关闭此页面，回到商户网站。 \
                 You can close this page and go back to the merchant's site.</p>"
            .to_owned(),
    }
}

/// The origin (`scheme://host[:port]`) of a merchant's URL, for a link back to its site. Only
/// http(s): a `javascript:` or `data:` URL is never made into a link.
pub fn merchant_origin(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
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

/// What a refusal means to the buyer: a heading for refusals about the trade itself (the buyer
/// can do nothing about them but go back), `None` for the request's own faults (the merchant's
/// developer must fix the request: Alipay's "debug error" page).
fn trade_refusal_heading(sub_code: &str) -> Option<Bilingual> {
    Some(match sub_code {
        "ACQ.TRADE_HAS_SUCCESS" => says("该订单已支付", "This order has already been paid"),
        "ACQ.TRADE_HAS_CLOSE" => says(
            "交易已关闭",
            "This order is closed: it was cancelled or it expired",
        ),
        "ACQ.TRADE_HAS_FINISHED" => says("交易已完结", "This order is finished"),
        "ACQ.CONTEXT_INCONSISTENT" => says(
            "交易信息被篡改",
            "This order's details differ from when it was first opened",
        ),
        _ => return None,
    })
}

/// The English for a refusal's `sub_msg` (which stays in Chinese, as Alipay sends it).
fn refusal_in_english(shown_code: &str) -> &'static str {
    match shown_code {
        "ACQ.TRADE_HAS_SUCCESS" => "The trade has already been paid; there is nothing more to pay.",
        "ACQ.TRADE_HAS_CLOSE" => "The trade is closed and can no longer be paid.",
        "ACQ.TRADE_HAS_FINISHED" => "The trade is finished.",
        "ACQ.CONTEXT_INCONSISTENT" => {
            "The amount or subject differs from the first request for this order number."
        }
        "ACQ.INVALID_PARAMETER" | "invalid-parameter" => "A parameter of the request is invalid.",
        "invalid-signature" => "The request's signature does not verify with the app's key.",
        "missing-signature"
        | "missing-signature-type"
        | "missing-app-id"
        | "missing-method"
        | "missing-timestamp"
        | "missing-version" => "The request lacks a required parameter.",
        "invalid-app-id" => "No app is registered with this app_id.",
        "invalid-timestamp" => "The request's timestamp is malformed or too far from now.",
        "invalid-charset" => "The request's charset is not supported.",
        "invalid-signature-type" => "The request's sign_type is not supported.",
        "invalid-method" => "The request's method is unknown.",
        "invalid-format" => "The request's format is not JSON.",
        "suspected-attack" => "The request was refused as suspicious.",
        _ => "The payment request was refused.",
    }
}

/// Alipay's error page for a refused page/wap pay request. The code is shown without its
/// `isv.` prefix, as Alipay shows it; a bad signature shows the gateway's string-to-sign.
/// `back` is the merchant's site, when the request was authenticated and named one.
pub fn error_page(refusal: &Refusal, back: Option<&str>) -> String {
    let shown_code = refusal
        .sub_code
        .strip_prefix("isv.")
        .unwrap_or(&refusal.sub_code);
    let detail = refusal
        .detail
        .as_deref()
        .map(|detail| format!("\n<pre id=\"string_to_sign\">{}</pre>", escape_html(detail)))
        .unwrap_or_default();
    let intro = match trade_refusal_heading(shown_code) {
        Some(text) => heading("result", text),
        None => format!(
            "<h1>{TITLE}</h1>\n{}",
            paragraphs(says(
                "调试错误，请回到请求来源地，重新发起请求。",
                "Debugging error: go back to where the request came from and send it again.",
            ))
        ),
    };
    page(&format!(
        "{intro}\n<p>错误代码 Error code <code id=\"sub_code\">{code}</code></p>\n\
         <p>错误原因 Reason: <span id=\"sub_msg\">{msg}</span></p>\n\
         <p class=\"en\" lang=\"en\" id=\"sub_msg_en\">{english}</p>{detail}\n{back}",
        code = escape_html(shown_code),
        msg = escape_html(&refusal.sub_msg),
        english = escape_html(refusal_in_english(shown_code)),
        back = back_link(back),
    ))
}

/// Where a result page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Paid, and the merchant gave no `return_url` to go back to.
    Paid,
    /// The buyer came back to a trade paid before.
    AlreadyPaid,
    /// The buyer pressed Cancel.
    Cancelled,
    /// Closed (cancelled earlier, or closed by the merchant).
    Closed,
    /// Closed because the time to pay ran out.
    Expired,
    /// Any other reason the trade cannot be paid.
    CannotPay,
}

impl Finished {
    fn heading(self) -> Bilingual {
        match self {
            Finished::Paid => says("支付成功", "Payment successful"),
            Finished::AlreadyPaid => says("该订单已支付", "This order has already been paid"),
            Finished::Cancelled => says("交易已关闭", "Payment cancelled"),
            Finished::Closed => says("交易已关闭", "This order is closed"),
            Finished::Expired => says("交易已超时关闭", "This order has expired"),
            Finished::CannotPay => says("无法付款", "This order cannot be paid"),
        }
    }

    fn message(self) -> Bilingual {
        match self {
            Finished::Paid => says(
                "付款成功，商户未提供 return_url。",
                "Paid. The merchant gave no return_url to send you back to.",
            ),
            Finished::AlreadyPaid => says(
                "这笔订单已经付过款，无需再次付款。",
                "There is nothing more to pay: the merchant has your payment.",
            ),
            Finished::Cancelled => says(
                "您已取消付款，交易已关闭。",
                "You cancelled the payment; the trade is closed and nothing was paid.",
            ),
            Finished::Closed => says(
                "交易已经关闭，无法付款。",
                "The trade was closed and can no longer be paid. Order again at the merchant.",
            ),
            Finished::Expired => says(
                "付款期限已过，交易已超时关闭。",
                "The time to pay ran out and the trade was closed. Order again at the merchant.",
            ),
            Finished::CannotPay => says(
                "该交易无法付款。",
                "This trade cannot be paid. Go back to the merchant.",
            ),
        }
    }
}

/// A page after an action: paid without a return URL, cancelled, closed, expired, already paid.
/// `back` is the merchant's site, when the trade names one.
pub fn result_page(finished: Finished, trade: &Trade, back: Option<&str>) -> String {
    page(&format!(
        "{heading}\n{message}\n<dl>\n\
         <dt>商户订单号 Order number</dt><dd id=\"out_trade_no\">{out_trade_no}</dd>\n\
         <dt>支付宝交易号 Trade number</dt><dd id=\"trade_no\">{trade_no}</dd>\n\
         <dt>交易状态 Status</dt><dd id=\"trade_status\">{status}</dd>\n</dl>\n{back}",
        heading = heading("result", finished.heading()),
        message = paragraphs(finished.message()),
        out_trade_no = escape_html(&trade.out_trade_no),
        trade_no = escape_html(&trade.trade_no),
        status = trade.status.as_str(),
        back = back_link(back),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merchant_origin_keeps_scheme_host_and_port_of_http_urls_only() {
        assert_eq!(
            merchant_origin("http://127.0.0.1:18080/pay/success?x=1").as_deref(),
            Some("http://127.0.0.1:18080")
        );
        assert_eq!(
            merchant_origin("https://shop.example.com/a/b").as_deref(),
            Some("https://shop.example.com")
        );
        assert_eq!(merchant_origin("javascript:alert(1)"), None);
        assert_eq!(merchant_origin("data:text/html,x"), None);
        assert_eq!(merchant_origin("/relative"), None);
    }

    #[test]
    fn every_result_page_says_it_in_chinese_and_english() {
        for finished in [
            Finished::Paid,
            Finished::AlreadyPaid,
            Finished::Cancelled,
            Finished::Closed,
            Finished::Expired,
            Finished::CannotPay,
        ] {
            for text in [finished.heading(), finished.message()] {
                assert!(!text.zh.is_ascii(), "{finished:?}: {}", text.zh);
                assert!(text.en.is_ascii(), "{finished:?}: {}", text.en);
            }
        }
    }
}
