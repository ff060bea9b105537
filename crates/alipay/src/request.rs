//! Building and signing requests: the common parameters, `biz_content`, and the typed builders.
//!
//! Page and wap pay never reach Alipay from the server: they become a signed GET URL or an
//! auto-submitting POST form for the browser. The server APIs become a signed form body that
//! [`crate::client::AlipayClient`] posts.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::aes::AesKey;
use crate::cert::CertSns;
use crate::form;
use crate::keys::PrivateKey;
use crate::money::Amount;
use crate::response::{
    BillDownloadUrl, RefundQueryResult, TradeCloseResult, TradeQueryResult, TradeRefundResult,
};
use crate::sign::{self, SignError, SignType};
use crate::time::{self, Clock, SystemClock};

/// Alipay's production gateway.
pub const PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
/// Alipay's current sandbox gateway (the old `openapi.alipaydev.com` host is dead).
pub const SANDBOX_GATEWAY: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gateway {
    Production,
    Sandbox,
    /// Any URL, such as this project's own alipay-sandbox service.
    Custom(String),
}

impl Gateway {
    pub fn url(&self) -> &str {
        match self {
            Gateway::Production => PRODUCTION_GATEWAY,
            Gateway::Sandbox => SANDBOX_GATEWAY,
            Gateway::Custom(url) => url,
        }
    }
}

/// A gateway setting that is neither a known name nor an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a gateway: use \"production\", \"sandbox\" or an http(s) URL ending in /gateway.do"
)]
pub struct InvalidGateway(pub String);

impl FromStr for Gateway {
    type Err = InvalidGateway;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "production" => Ok(Gateway::Production),
            "sandbox" => Ok(Gateway::Sandbox),
            url if (url.starts_with("http://") || url.starts_with("https://"))
                && !url.contains(['?', '#', ' ']) =>
            {
                Ok(Gateway::Custom(url.to_owned()))
            }
            other => Err(InvalidGateway(other.to_owned())),
        }
    }
}

/// Why a request could not be built. Each names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("out_trade_no must be 1 to 64 letters, digits or underscores, got {0:?}")]
    OutTradeNo(String),
    #[error("out_request_no must be 1 to 64 letters, digits or underscores, got {0:?}")]
    OutRequestNo(String),
    #[error("subject must be 1 to 256 characters without '/', '=' or '&', got {0:?}")]
    Subject(String),
    #[error("time_expire must be a Beijing time yyyy-MM-dd HH:mm:ss, got {0:?}")]
    TimeExpireFormat(String),
    #[error("time_expire {0} is not in the future")]
    TimeExpireInPast(String),
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{0} must be an http(s) URL without Alipay parameter names in it")]
    Url(&'static str),
    #[error("a query needs out_trade_no or trade_no")]
    MissingTradeReference,
    #[error("bill_date must be yyyy-MM-dd or yyyy-MM, got {0:?}")]
    BillDate(String),
    #[error("biz_content could not be serialized: {0}")]
    BizContent(String),
    #[error(transparent)]
    Sign(#[from] SignError),
}

pub use domain::numbers::{InvalidNumber, OutRequestNo, OutTradeNo};

impl From<InvalidNumber> for RequestError {
    fn from(error: InvalidNumber) -> Self {
        match error {
            InvalidNumber::OutTradeNo(text) => RequestError::OutTradeNo(text),
            InvalidNumber::OutRequestNo(text) => RequestError::OutRequestNo(text),
        }
    }
}

/// The order title shown on the cashier: 1–256 characters, no `/`, `=` or `&` (Alipay refuses
/// them as "special characters").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    pub fn parse(text: &str) -> Result<Self, RequestError> {
        let length = text.chars().count();
        if text.trim().is_empty() || length > MAX_SUBJECT_CHARS || text.contains(['/', '=', '&']) {
            return Err(RequestError::Subject(text.to_owned()));
        }
        Ok(Subject(text.to_owned()))
    }

    /// Makes any text a subject Alipay accepts, for text a merchant does not control (a course
    /// name from a catalog, say): `/`, `=` and `&` become their full-width forms `／`, `＝`
    /// and `＆`, which read the same on the cashier; control characters become spaces; the
    /// result is trimmed and cut to 256 characters. Only text with nothing printable in it is
    /// refused.
    pub fn for_cashier(text: &str) -> Result<Self, RequestError> {
        let cleaned: String = text
            .chars()
            .map(|c| match c {
                '/' => '／',
                '=' => '＝',
                '&' => '＆',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        let cut: String = cleaned.trim().chars().take(MAX_SUBJECT_CHARS).collect();
        Subject::parse(cut.trim_end()).map_err(|_| RequestError::Subject(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest subject Alipay accepts, in characters.
const MAX_SUBJECT_CHARS: usize = 256;

/// An absolute deadline for paying, in Beijing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeExpire(DateTime<Utc>);

impl TimeExpire {
    /// Parses `yyyy-MM-dd HH:mm:ss` (Beijing time).
    pub fn parse(text: &str) -> Result<Self, RequestError> {
        let naive = NaiveDateTime::parse_from_str(text, time::FORMAT)
            .ok()
            .filter(|_| text.len() == 19)
            .ok_or_else(|| RequestError::TimeExpireFormat(text.to_owned()))?;
        let instant = time::beijing()
            .from_local_datetime(&naive)
            .single()
            .ok_or_else(|| RequestError::TimeExpireFormat(text.to_owned()))?;
        Ok(TimeExpire(instant.with_timezone(&Utc)))
    }

    /// The deadline at an instant, truncated to whole seconds.
    pub fn at(instant: DateTime<Utc>) -> Self {
        TimeExpire(
            instant - chrono::Duration::nanoseconds(i64::from(instant.timestamp_subsec_nanos())),
        )
    }

    pub fn instant(&self) -> DateTime<Utc> {
        self.0
    }
}

impl fmt::Display for TimeExpire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&time::format_beijing(self.0))
    }
}

fn check_url(url: &str, field: &'static str) -> Result<(), RequestError> {
    // Alipay refuses values that contain its own key names ("isv.suspected-attack"), and an
    // unsigned query on the return URL would break the return's verification.
    let looks_like_url = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 256
        && !url.contains(['?', ' ', '#']);
    if looks_like_url {
        Ok(())
    } else {
        Err(RequestError::Url(field))
    }
}

/// A request to one Alipay method.
pub trait ApiRequest {
    /// The method name, e.g. `alipay.trade.query`.
    const METHOD: &'static str;
    /// The typed business content of the method's response node.
    type Response: DeserializeOwned;
    /// The `biz_content` JSON.
    fn biz_content(&self) -> Result<String, RequestError>;
    /// Top-level parameters beside `biz_content` (`notify_url`, `return_url`).
    fn top_level(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Whether `biz_content` is AES-encrypted when the app has content encryption on. Server
    /// APIs are; the pay links are not (see [`PagePay`]).
    const ENCRYPTED_WHEN_CONFIGURED: bool = true;
}

fn to_json<T: Serialize>(value: &T) -> Result<String, RequestError> {
    serde_json::to_string(value).map_err(|e| RequestError::BizContent(e.to_string()))
}

/// Signs requests for one app: holds the app id, the private key, the sign type and the clock.
#[derive(Clone)]
pub struct RequestSigner {
    app_id: String,
    key: PrivateKey,
    sign_type: SignType,
    clock: Arc<dyn Clock>,
    /// Certificate mode: `app_cert_sn` and `alipay_root_cert_sn`, signed into every request.
    cert_sns: Option<CertSns>,
    /// Content encryption: the app's AES key (`encrypt_type=AES`).
    aes: Option<AesKey>,
}

impl fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigner")
            .field("app_id", &self.app_id)
            .field("sign_type", &self.sign_type)
            .field("key", &self.key)
            .field("cert_sns", &self.cert_sns)
            .field("aes", &self.aes)
            .finish()
    }
}

impl RequestSigner {
    pub fn new(app_id: impl Into<String>, key: PrivateKey, sign_type: SignType) -> Self {
        RequestSigner {
            app_id: app_id.into(),
            key,
            sign_type,
            clock: Arc::new(SystemClock),
            cert_sns: None,
            aes: None,
        }
    }

    /// Certificate mode: every request carries (and signs) these two SNs.
    pub fn with_cert_sns(mut self, sns: CertSns) -> Self {
        self.cert_sns = Some(sns);
        self
    }

    /// Content encryption: server API `biz_content` is AES-encrypted before signing.
    pub fn with_encryption(mut self, key: AesKey) -> Self {
        self.aes = Some(key);
        self
    }

    pub fn cert_sns(&self) -> Option<&CertSns> {
        self.cert_sns.as_ref()
    }

    pub fn aes_key(&self) -> Option<&AesKey> {
        self.aes.as_ref()
    }

    /// Replaces the clock (tests, vectors).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn sign_type(&self) -> SignType {
        self.sign_type
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Signs a complete parameter set as given (no parameter is added). `sign` is ignored if
    /// present; empty values are dropped, since they are neither signed nor sent.
    pub fn sign_params(
        &self,
        params: BTreeMap<String, String>,
    ) -> Result<SignedRequest, SignError> {
        let mut params = params;
        params.remove("sign");
        params.retain(|_, value| !value.is_empty());
        let string_to_sign =
            sign::request_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sign = sign::sign(&self.key, self.sign_type, &string_to_sign)?;
        Ok(SignedRequest {
            params,
            string_to_sign,
            sign,
        })
    }

    /// The common parameters of §2 for `method`, timestamped now.
    fn common_params(&self, method: &str) -> BTreeMap<String, String> {
        let mut params = BTreeMap::from([
            ("app_id".to_owned(), self.app_id.clone()),
            ("method".to_owned(), method.to_owned()),
            ("format".to_owned(), "JSON".to_owned()),
            ("charset".to_owned(), "utf-8".to_owned()),
            ("sign_type".to_owned(), self.sign_type.as_str().to_owned()),
            (
                "timestamp".to_owned(),
                time::format_beijing(self.clock.now()),
            ),
            ("version".to_owned(), "1.0".to_owned()),
        ]);
        if let Some(sns) = &self.cert_sns {
            params.insert("app_cert_sn".to_owned(), sns.app_cert_sn.clone());
            params.insert(
                "alipay_root_cert_sn".to_owned(),
                sns.alipay_root_cert_sn.clone(),
            );
        }
        params
    }

    /// Builds and signs a typed request.
    pub fn sign_request<R: ApiRequest>(&self, request: &R) -> Result<SignedRequest, RequestError> {
        self.build(
            R::METHOD,
            request.biz_content()?,
            request.top_level(),
            R::ENCRYPTED_WHEN_CONFIGURED,
        )
    }

    /// Builds and signs any server API method from its `biz_content` text and extra top-level
    /// parameters (encrypted first when the app has content encryption on).
    pub fn sign_method(
        &self,
        method: &str,
        biz_content: String,
        top_level: Vec<(&'static str, String)>,
    ) -> Result<SignedRequest, RequestError> {
        self.build(method, biz_content, top_level, true)
    }

    /// Encrypt, then sign: with AES on, `biz_content` becomes base64(AES(JSON)) and
    /// `encrypt_type=AES` joins the signed parameters, so the signature covers the ciphertext.
    fn build(
        &self,
        method: &str,
        biz_content: String,
        top_level: Vec<(&'static str, String)>,
        encrypt: bool,
    ) -> Result<SignedRequest, RequestError> {
        let mut params = self.common_params(method);
        let biz_content = match (&self.aes, encrypt) {
            (Some(aes), true) => {
                params.insert("encrypt_type".to_owned(), "AES".to_owned());
                aes.encrypt(&biz_content)
                    .map_err(|e| RequestError::BizContent(e.to_string()))?
            }
            (Some(_), false) | (None, _) => biz_content,
        };
        params.insert("biz_content".to_owned(), biz_content);
        for (key, value) in top_level {
            params.insert(key.to_owned(), value);
        }
        Ok(self.sign_params(params)?)
    }

    /// A page-pay request checked against this signer's clock (a `time_expire` in the past would
    /// give the buyer a cashier that can never be paid).
    pub fn page_pay(&self, request: &PagePay) -> Result<SignedRequest, RequestError> {
        self.check_expiry(request.time_expire)?;
        self.sign_request(request)
    }

    /// A wap-pay request, checked like [`Self::page_pay`].
    pub fn wap_pay(&self, request: &WapPay) -> Result<SignedRequest, RequestError> {
        self.check_expiry(request.page.time_expire)?;
        self.sign_request(request)
    }

    fn check_expiry(&self, time_expire: Option<TimeExpire>) -> Result<(), RequestError> {
        match time_expire {
            Some(deadline) if deadline.instant() <= self.clock.now() => {
                Err(RequestError::TimeExpireInPast(deadline.to_string()))
            }
            _ => Ok(()),
        }
    }
}

/// A signed request: its parameters (without `sign`), the exact string that was signed, and
/// the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    params: BTreeMap<String, String>,
    string_to_sign: String,
    sign: String,
}

impl SignedRequest {
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    pub fn string_to_sign(&self) -> &str {
        &self.string_to_sign
    }

    pub fn sign(&self) -> &str {
        &self.sign
    }

    /// The form-encoded parameters: sorted, values `quote_plus`ed, `sign` last. This is the
    /// query of the GET URL and the body of server API calls.
    pub fn encoded(&self) -> String {
        let sorted = self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        form::encode(sorted.chain([("sign", self.sign.as_str())]))
    }

    /// The signed GET URL for the browser.
    pub fn url(&self, gateway: &Gateway) -> String {
        format!("{}?{}", gateway.url(), self.encoded())
    }

    /// An HTML form that posts every parameter to the gateway as soon as the page loads, for
    /// amounts of `biz_content` too long for a URL. `accept-charset` keeps a GBK host page from
    /// re-encoding a Chinese subject, which would break the signature.
    pub fn form_html(&self, gateway: &Gateway) -> String {
        let mut html = format!(
            "<form name=\"punchout_form\" method=\"post\" action=\"{}\" accept-charset=\"utf-8\">\n",
            escape_html(gateway.url())
        );
        let sorted = self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (name, value) in sorted.chain([("sign", self.sign.as_str())]) {
            html.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape_html(name),
                escape_html(value)
            ));
        }
        html.push_str(
            "<input type=\"submit\" value=\"立即支付\" style=\"display:none\">\n</form>\n",
        );
        html.push_str("<script>document.forms[0].submit();</script>");
        html
    }
}

/// Escapes text for an HTML attribute or element.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// `alipay.trade.page.pay`: PC website payment (`FAST_INSTANT_TRADE_PAY`).
#[derive(Debug, Clone)]
pub struct PagePay {
    pub out_trade_no: OutTradeNo,
    pub total_amount: Amount,
    pub subject: Subject,
    pub body: Option<String>,
    pub time_expire: Option<TimeExpire>,
    /// Returned verbatim in the notification; Alipay wants it URL-encoded by the merchant.
    pub passback_params: Option<String>,
    pub notify_url: Option<String>,
    pub return_url: Option<String>,
}

impl PagePay {
    pub fn new(out_trade_no: OutTradeNo, total_amount: Amount, subject: Subject) -> Self {
        PagePay {
            out_trade_no,
            total_amount,
            subject,
            body: None,
            time_expire: None,
            passback_params: None,
            notify_url: None,
            return_url: None,
        }
    }

    fn checked_urls(&self) -> Result<Vec<(&'static str, String)>, RequestError> {
        let mut top = Vec::new();
        if let Some(url) = &self.notify_url {
            check_url(url, "notify_url")?;
            top.push(("notify_url", url.clone()));
        }
        if let Some(url) = &self.return_url {
            check_url(url, "return_url")?;
            top.push(("return_url", url.clone()));
        }
        Ok(top)
    }

    fn content(
        &self,
        product_code: &'static str,
        quit_url: Option<&str>,
    ) -> Result<String, RequestError> {
        #[derive(Serialize)]
        struct Biz<'a> {
            out_trade_no: &'a OutTradeNo,
            total_amount: String,
            subject: &'a Subject,
            product_code: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            body: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            time_expire: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            passback_params: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            quit_url: Option<&'a str>,
        }
        if self
            .body
            .as_ref()
            .is_some_and(|body| body.chars().count() > 128)
        {
            return Err(RequestError::TooLong {
                field: "body",
                max: 128,
            });
        }
        if self.passback_params.as_ref().is_some_and(|p| p.len() > 512) {
            return Err(RequestError::TooLong {
                field: "passback_params",
                max: 512,
            });
        }
        self.checked_urls()?;
        to_json(&Biz {
            out_trade_no: &self.out_trade_no,
            total_amount: self.total_amount.to_string(),
            subject: &self.subject,
            product_code,
            body: self.body.as_deref(),
            time_expire: self.time_expire.map(|t| t.to_string()),
            passback_params: self.passback_params.as_deref(),
            quit_url,
        })
    }
}

impl ApiRequest for PagePay {
    const METHOD: &'static str = "alipay.trade.page.pay";
    type Response = ();
    /// A pay link is read by the buyer's own browser and shown on the cashier: encrypting it
    /// hides nothing from the one party who sees it, and Alipay documents content encryption
    /// for server APIs. (The crate signs an encrypted page pay the same way when asked, see
    /// the `v2_page_pay_aes128_get` vector.)
    const ENCRYPTED_WHEN_CONFIGURED: bool = false;

    fn biz_content(&self) -> Result<String, RequestError> {
        self.content("FAST_INSTANT_TRADE_PAY", None)
    }

    fn top_level(&self) -> Vec<(&'static str, String)> {
        self.checked_urls().unwrap_or_default()
    }
}

/// `alipay.trade.wap.pay`: mobile website payment (`QUICK_WAP_WAY`).
#[derive(Debug, Clone)]
pub struct WapPay {
    pub page: PagePay,
    /// Where the buyer goes on quitting the cashier.
    pub quit_url: Option<String>,
}

impl ApiRequest for WapPay {
    const METHOD: &'static str = "alipay.trade.wap.pay";
    type Response = ();
    const ENCRYPTED_WHEN_CONFIGURED: bool = false;

    fn biz_content(&self) -> Result<String, RequestError> {
        if let Some(url) = &self.quit_url {
            check_url(url, "quit_url")?;
        }
        self.page.content("QUICK_WAP_WAY", self.quit_url.as_deref())
    }

    fn top_level(&self) -> Vec<(&'static str, String)> {
        self.page.top_level()
    }
}

/// Which trade a server API is about. Alipay prefers `trade_no` when both are given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<OutTradeNo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
}

impl TradeRef {
    pub fn out_trade_no(out_trade_no: OutTradeNo) -> Self {
        TradeRef {
            out_trade_no: Some(out_trade_no),
            trade_no: None,
        }
    }

    pub fn trade_no(trade_no: impl Into<String>) -> Self {
        TradeRef {
            out_trade_no: None,
            trade_no: Some(trade_no.into()),
        }
    }

    fn check(&self) -> Result<(), RequestError> {
        let has_trade_no = self.trade_no.as_ref().is_some_and(|t| !t.is_empty());
        if self.out_trade_no.is_none() && !has_trade_no {
            return Err(RequestError::MissingTradeReference);
        }
        if self.trade_no.as_ref().is_some_and(|t| t.len() > 64) {
            return Err(RequestError::TooLong {
                field: "trade_no",
                max: 64,
            });
        }
        Ok(())
    }
}

/// `alipay.trade.query`.
#[derive(Debug, Clone)]
pub struct TradeQuery {
    pub trade: TradeRef,
}

impl ApiRequest for TradeQuery {
    const METHOD: &'static str = "alipay.trade.query";
    type Response = TradeQueryResult;

    fn biz_content(&self) -> Result<String, RequestError> {
        self.trade.check()?;
        to_json(&self.trade)
    }
}

/// `alipay.trade.close`: closes an unpaid trade.
#[derive(Debug, Clone)]
pub struct TradeClose {
    pub trade: TradeRef,
}

impl ApiRequest for TradeClose {
    const METHOD: &'static str = "alipay.trade.close";
    type Response = TradeCloseResult;

    fn biz_content(&self) -> Result<String, RequestError> {
        self.trade.check()?;
        to_json(&self.trade)
    }
}

/// `alipay.trade.refund`. `out_request_no` is required here: without it only one full refund is
/// possible, and a retry cannot be told apart from a second refund.
#[derive(Debug, Clone)]
pub struct TradeRefund {
    pub trade: TradeRef,
    pub refund_amount: Amount,
    pub out_request_no: OutRequestNo,
    pub refund_reason: Option<String>,
}

impl ApiRequest for TradeRefund {
    const METHOD: &'static str = "alipay.trade.refund";
    type Response = TradeRefundResult;

    fn biz_content(&self) -> Result<String, RequestError> {
        #[derive(Serialize)]
        struct Biz<'a> {
            #[serde(flatten)]
            trade: &'a TradeRef,
            refund_amount: String,
            out_request_no: &'a OutRequestNo,
            #[serde(skip_serializing_if = "Option::is_none")]
            refund_reason: Option<&'a str>,
        }
        self.trade.check()?;
        if self
            .refund_reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 256)
        {
            return Err(RequestError::TooLong {
                field: "refund_reason",
                max: 256,
            });
        }
        to_json(&Biz {
            trade: &self.trade,
            refund_amount: self.refund_amount.to_string(),
            out_request_no: &self.out_request_no,
            refund_reason: self.refund_reason.as_deref(),
        })
    }
}

/// `alipay.trade.fastpay.refund.query`.
#[derive(Debug, Clone)]
pub struct RefundQuery {
    pub trade: TradeRef,
    pub out_request_no: OutRequestNo,
}

impl ApiRequest for RefundQuery {
    const METHOD: &'static str = "alipay.trade.fastpay.refund.query";
    type Response = RefundQueryResult;

    fn biz_content(&self) -> Result<String, RequestError> {
        #[derive(Serialize)]
        struct Biz<'a> {
            #[serde(flatten)]
            trade: &'a TradeRef,
            out_request_no: &'a OutRequestNo,
        }
        self.trade.check()?;
        to_json(&Biz {
            trade: &self.trade,
            out_request_no: &self.out_request_no,
        })
    }
}

/// `alipay.data.dataservice.bill.downloadurl.query`.
#[derive(Debug, Clone)]
pub struct BillDownloadUrlQuery {
    /// `trade` or `signcustomer` (others exist for special contracts).
    pub bill_type: String,
    /// `yyyy-MM-dd` (daily) or `yyyy-MM` (monthly).
    pub bill_date: String,
}

impl ApiRequest for BillDownloadUrlQuery {
    const METHOD: &'static str = "alipay.data.dataservice.bill.downloadurl.query";
    type Response = BillDownloadUrl;

    fn biz_content(&self) -> Result<String, RequestError> {
        let daily = chrono::NaiveDate::parse_from_str(&self.bill_date, "%Y-%m-%d").is_ok()
            && self.bill_date.len() == 10;
        let monthly = self.bill_date.len() == 7
            && chrono::NaiveDate::parse_from_str(&format!("{}-01", self.bill_date), "%Y-%m-%d")
                .is_ok();
        if !daily && !monthly {
            return Err(RequestError::BillDate(self.bill_date.clone()));
        }
        if self.bill_type.is_empty() || self.bill_type.len() > 20 {
            return Err(RequestError::TooLong {
                field: "bill_type",
                max: 20,
            });
        }
        to_json(&serde_json::json!({"bill_type": self.bill_type, "bill_date": self.bill_date}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::FixedClock;

    fn signer() -> RequestSigner {
        let clock = FixedClock::at_beijing("2024-01-02 03:04:05").unwrap();
        RequestSigner::new(
            "2021000000000001",
            PrivateKey::generate().unwrap(),
            SignType::Rsa2,
        )
        .with_clock(Arc::new(clock))
    }

    fn page_pay() -> PagePay {
        PagePay::new(
            OutTradeNo::parse("ORDER_1").unwrap(),
            "88.88".parse().unwrap(),
            Subject::parse("测试订单 Iphone6 16G").unwrap(),
        )
    }

    #[test]
    fn validates_merchant_inputs() {
        assert!(OutTradeNo::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "a-b", "订单", &"a".repeat(65), "a b"] {
            assert!(OutTradeNo::parse(bad).is_err(), "{bad}");
        }
        assert!(Subject::parse("Python 课程").is_ok());
        for bad in ["", "  ", "a/b", "a=b", "a&b"] {
            assert!(Subject::parse(bad).is_err(), "{bad}");
        }
        assert!(Subject::parse(&"课".repeat(257)).is_err());
    }

    #[test]
    fn any_text_can_be_made_a_subject_for_the_cashier() {
        let subject = |text: &str| Subject::for_cashier(text).map(|s| s.as_str().to_owned());
        assert_eq!(subject("C/C++ 入门").unwrap(), "C／C++ 入门");
        assert_eq!(subject("R&D 101").unwrap(), "R＆D 101");
        assert_eq!(subject("a=b\tc\n").unwrap(), "a＝b c");
        assert_eq!(subject(" Python 课程 ").unwrap(), "Python 课程");
        assert_eq!(subject(&"课".repeat(300)).unwrap(), "课".repeat(256));
        // Cutting never leaves a trailing space.
        assert_eq!(
            subject(&format!("{} x", "a".repeat(255))).unwrap(),
            "a".repeat(255)
        );
        for nothing in ["", "   ", "\n\t"] {
            assert!(Subject::for_cashier(nothing).is_err(), "{nothing:?}");
        }
        for text in ["C/C++", "a&b=c", "x\u{7}y"] {
            let made = Subject::for_cashier(text).unwrap();
            assert!(Subject::parse(made.as_str()).is_ok(), "{text:?}");
        }
        assert!(TimeExpire::parse("2024-01-02 03:04").is_err());
        assert_eq!(
            TimeExpire::parse("2024-01-02 03:04:05")
                .unwrap()
                .to_string(),
            "2024-01-02 03:04:05"
        );
        assert!("ftp://x".parse::<Gateway>().is_err());
    }

    #[test]
    fn page_pay_has_common_params_in_beijing_time() {
        let signed = signer().page_pay(&page_pay()).unwrap();
        let params = signed.params();
        assert_eq!(params["timestamp"], "2024-01-02 03:04:05");
        assert_eq!(params["method"], "alipay.trade.page.pay");
        assert_eq!(params["sign_type"], "RSA2");
        assert!(params["biz_content"].contains("\"total_amount\":\"88.88\""));
        assert!(params["biz_content"].contains("FAST_INSTANT_TRADE_PAY"));
        assert!(
            signed
                .url(&Gateway::Sandbox)
                .ends_with(&format!("&sign={}", form::quote_plus(signed.sign())))
        );
    }

    #[test]
    fn refuses_a_deadline_already_past() {
        let mut request = page_pay();
        request.time_expire = Some(TimeExpire::parse("2024-01-02 03:04:05").unwrap());
        assert!(matches!(
            signer().page_pay(&request),
            Err(RequestError::TimeExpireInPast(_))
        ));
        request.time_expire = Some(TimeExpire::parse("2024-01-02 03:19:05").unwrap());
        assert!(signer().page_pay(&request).is_ok());
    }

    #[test]
    fn form_escapes_values() {
        let mut request = page_pay();
        request.body = Some("<b>\"x\"</b>".into());
        let html = signer()
            .page_pay(&request)
            .unwrap()
            .form_html(&Gateway::Production);
        assert!(html.contains("&lt;b&gt;\\&quot;x\\&quot;&lt;/b&gt;"));
        assert!(!html.contains("<b>"));
    }
}
