//! Reading and authenticating a merchant's request to `/gateway.do`, as Alipay's gateway does.
//!
//! The query string and the form body are each decoded exactly once and merged (SDKs split the
//! parameters between them differently); a name sent twice is refused. Then, in order: method,
//! app id, charset, format, sign type, sign, timestamp, version, the signature under the
//! **request** rule (every parameter but `sign`, `sign_type` included), and `biz_content`.
//! Everything up to the signature is refused unsigned, since Alipay has not authenticated the
//! caller; later refusals are answered signed.

use std::collections::BTreeMap;
use std::fmt;

use alipay::form::{self, FormError};
use alipay::request::escape_html;
use alipay::sign::{self, SignType, SignatureError};
use alipay::time::parse_beijing;
use chrono::{DateTime, Utc};

use crate::gateway::biz::Biz;
use crate::settings::AppRegistration;
use crate::signing::Node;
use crate::state::Sandbox;
use crate::trade::{Product, TradeRefusal};

/// The methods the sandbox implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    PagePay,
    WapPay,
    TradeQuery,
    TradeClose,
    TradeRefund,
    RefundQuery,
    BillDownloadUrl,
    /// `alipay.open.app.alipaycert.download`: an Alipay certificate by SN (certificate mode).
    CertDownload,
}

impl Method {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "alipay.trade.page.pay" => Method::PagePay,
            "alipay.trade.wap.pay" => Method::WapPay,
            "alipay.trade.query" => Method::TradeQuery,
            "alipay.trade.close" => Method::TradeClose,
            "alipay.trade.refund" => Method::TradeRefund,
            "alipay.trade.fastpay.refund.query" => Method::RefundQuery,
            "alipay.data.dataservice.bill.downloadurl.query" => Method::BillDownloadUrl,
            "alipay.open.app.alipaycert.download" => Method::CertDownload,
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Method::PagePay => "alipay.trade.page.pay",
            Method::WapPay => "alipay.trade.wap.pay",
            Method::TradeQuery => "alipay.trade.query",
            Method::TradeClose => "alipay.trade.close",
            Method::TradeRefund => "alipay.trade.refund",
            Method::RefundQuery => "alipay.trade.fastpay.refund.query",
            Method::BillDownloadUrl => "alipay.data.dataservice.bill.downloadurl.query",
            Method::CertDownload => "alipay.open.app.alipaycert.download",
        }
    }

    /// The product of a page-jump method (answered with HTML for a browser), `None` for the
    /// server APIs (answered with signed JSON).
    pub fn page_jump(&self) -> Option<Product> {
        match self {
            Method::PagePay => Some(Product::PagePay),
            Method::WapPay => Some(Product::WapPay),
            Method::TradeQuery
            | Method::TradeClose
            | Method::TradeRefund
            | Method::RefundQuery
            | Method::BillDownloadUrl
            | Method::CertDownload => None,
        }
    }
}

/// Alipay's refusal: the status of the answer node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub msg: &'static str,
    pub sub_code: String,
    pub sub_msg: String,
    /// The gateway's own string-to-sign, shown after `sub_msg` on a bad signature (HTML-escaped
    /// in JSON, as Alipay does).
    pub detail: Option<String>,
}

impl Refusal {
    /// 40001 Missing Required Arguments.
    pub fn missing(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Self::new("40001", "Missing Required Arguments", sub_code, sub_msg)
    }

    /// 40002 Invalid Arguments.
    pub fn invalid(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Self::new("40002", "Invalid Arguments", sub_code, sub_msg)
    }

    /// 40004 Business Failed.
    pub fn business(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Self::new("40004", "Business Failed", sub_code, sub_msg)
    }

    /// `ACQ.INVALID_PARAMETER` for a business field that is missing or malformed.
    pub fn invalid_parameter(detail: impl fmt::Display) -> Self {
        Self::business("ACQ.INVALID_PARAMETER", format!("参数无效：{detail}"))
    }

    fn new(
        code: &'static str,
        msg: &'static str,
        sub_code: &str,
        sub_msg: impl Into<String>,
    ) -> Self {
        Refusal {
            code,
            msg,
            sub_code: sub_code.to_owned(),
            sub_msg: sub_msg.into(),
            detail: None,
        }
    }

    /// The node of a JSON answer.
    pub fn node(&self) -> Node {
        let sub_msg = match &self.detail {
            Some(detail) => format!("{}{}", self.sub_msg, escape_html(detail)),
            None => self.sub_msg.clone(),
        };
        Node::status(self.code, self.msg, Some(&self.sub_code), Some(&sub_msg))
    }
}

impl From<TradeRefusal> for Refusal {
    fn from(refusal: TradeRefusal) -> Self {
        Refusal::business(refusal.sub_code(), refusal.sub_msg())
    }
}

/// A request Alipay refused, and how to answer it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub refusal: Refusal,
    /// The method, when known and valid: its node carries the answer (`error_response` otherwise).
    pub method: Option<Method>,
    /// `Some` when the caller was authenticated, so the answer is signed.
    pub signed: Option<SignType>,
}

/// A request whose app is known and whose signature verified.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub app: AppRegistration,
    pub method: Method,
    pub sign_type: SignType,
    pub charset: String,
    /// Every parameter but `sign`, decoded once.
    pub params: BTreeMap<String, String>,
    pub biz: Biz,
    /// The request came with `encrypt_type=AES`: its answer is encrypted too.
    pub encrypted: bool,
}

impl Authenticated {
    /// The app's AES key, for encrypting the answer.
    pub fn encrypt_key_for_answer(&self) -> Option<&alipay::AesKey> {
        self.app.encrypt_key.as_ref()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Decodes the query string and the body once each and merges them.
pub fn collect_params(query: &str, body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let mut pairs = Vec::new();
    for part in [query.as_bytes(), body] {
        if part.is_empty() {
            continue;
        }
        match form::decode(part) {
            Ok(decoded) => pairs.extend(decoded),
            Err(FormError::Empty) => {}
            Err(FormError::NotUtf8 { name }) => {
                return Err(Refusal::invalid(
                    "isv.invalid-charset",
                    format!(
                        "参数 {name} 不是合法的 UTF-8 编码，目前支持格式：GBK,UTF-8（沙箱仅支持 UTF-8）"
                    ),
                ));
            }
            Err(FormError::DuplicateName { name }) => return Err(suspected_attack(&name)),
            Err(error @ (FormError::BadPercentEncoding { .. } | FormError::EmptyName)) => {
                return Err(Refusal::invalid(
                    "isv.invalid-parameter",
                    format!("参数无法解码：{error}"),
                ));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &pairs {
        if !seen.insert(name.as_str()) {
            return Err(suspected_attack(name));
        }
    }
    Ok(pairs)
}

fn suspected_attack(name: &str) -> Refusal {
    Refusal::invalid(
        "isv.suspected-attack",
        format!("可疑的攻击请求：参数 {name} 重复出现"),
    )
}

/// Authenticates a request exactly as Alipay's gateway does.
pub fn authenticate(
    pairs: Vec<(String, String)>,
    sandbox: &Sandbox,
) -> Result<Authenticated, Failure> {
    let params: BTreeMap<String, String> = pairs.into_iter().collect();
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let unsigned = |method: Option<Method>| {
        move |refusal: Refusal| Failure {
            refusal,
            method,
            signed: None,
        }
    };

    let method = match get("method") {
        None => {
            return Err(unsigned(None)(Refusal::missing(
                "isv.missing-method",
                "缺少方法名参数",
            )));
        }
        Some(name) => Method::parse(name).ok_or_else(|| {
            unsigned(None)(Refusal::invalid("isv.invalid-method", "不存在的方法名"))
        })?,
    };
    let fail = unsigned(Some(method));

    let app_id = get("app_id")
        .ok_or_else(|| fail(Refusal::missing("isv.missing-app-id", "缺少AppID参数")))?;
    let app = sandbox
        .app(app_id)
        .ok_or_else(|| fail(Refusal::invalid("isv.invalid-app-id", "无效的AppID参数")))?
        .clone();

    let charset = get("charset").unwrap_or_default().to_owned();
    if !charset.eq_ignore_ascii_case("utf-8") {
        return Err(fail(Refusal::invalid(
            "isv.invalid-charset",
            "字符集错误，目前支持格式：GBK,UTF-8（沙箱仅支持 UTF-8，请传 charset=utf-8）",
        )));
    }
    if get("format").is_some_and(|format| !format.eq_ignore_ascii_case("json")) {
        return Err(fail(Refusal::invalid(
            "isv.invalid-format",
            "参数format无效，仅支持JSON",
        )));
    }
    let sign_type = match get("sign_type") {
        None => {
            return Err(fail(Refusal::missing(
                "isv.missing-signature-type",
                "缺少签名类型参数",
            )));
        }
        Some(text) => text.parse::<SignType>().map_err(|_| {
            fail(Refusal::invalid(
                "isv.invalid-signature-type",
                "无效的签名类型参数，目前支持RSA2和RSA",
            ))
        })?,
    };
    let signature = get("sign")
        .ok_or_else(|| fail(Refusal::missing("isv.missing-signature", "缺少签名参数")))?;
    let timestamp = get("timestamp")
        .ok_or_else(|| fail(Refusal::missing("isv.missing-timestamp", "缺少时间戳参数")))?;
    check_timestamp(timestamp, sandbox.now(), sandbox.timestamp_tolerance).map_err(&fail)?;
    match get("version") {
        None => {
            return Err(fail(Refusal::missing(
                "isv.missing-version",
                "缺少版本参数",
            )));
        }
        Some("1.0") => {}
        Some(_) => {
            return Err(fail(Refusal::invalid(
                "isv.invalid-parameter",
                "参数version无效，目前只支持1.0",
            )));
        }
    }

    check_cert_sns(&app, &params, sandbox).map_err(&fail)?;
    let encrypted = match get("encrypt_type") {
        None => false,
        Some("AES") if app.encrypt_key.is_some() => true,
        Some("AES") => {
            return Err(fail(Refusal::invalid(
                "isv.invalid-encrypt-type",
                "应用未设置接口内容加密方式（沙箱：注册应用时未给 AES 密钥）",
            )));
        }
        Some(_) => {
            return Err(fail(Refusal::invalid(
                "isv.invalid-encrypt-type",
                "无效的加密类型，目前只支持AES",
            )));
        }
    };

    let content = sign::request_content(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    verify_signature(&app, sign_type, &content, signature).map_err(&fail)?;

    let params: BTreeMap<String, String> =
        params.into_iter().filter(|(k, _)| k != "sign").collect();
    let authenticated_fail = |refusal| Failure {
        refusal,
        method: Some(method),
        signed: Some(sign_type),
    };
    // Encrypt-then-sign: the signature covered the ciphertext; now open it.
    let plain = match (encrypted, &app.encrypt_key, params.get("biz_content")) {
        (true, Some(key), Some(sealed)) => Some(key.decrypt(sealed).map_err(|_| {
            authenticated_fail(Refusal::invalid(
                "isv.decryption-error-not-valid-encrypt-key",
                "解密出错, 未知错误",
            ))
        })?),
        _ => None,
    };
    let biz = Biz::parse(
        plain
            .as_deref()
            .or(params.get("biz_content").map(String::as_str)),
    )
    .map_err(authenticated_fail)?;
    Ok(Authenticated {
        app,
        method,
        sign_type,
        charset,
        params,
        biz,
        encrypted,
    })
}

/// Certificate mode: the request must name the app certificate and the root bundle Alipay
/// knows, as Alipay's gateway demands (`isv.missing-app-cert-sn`, …).
fn check_cert_sns(
    app: &AppRegistration,
    params: &BTreeMap<String, String>,
    sandbox: &Sandbox,
) -> Result<(), Refusal> {
    let Some(expected_app_sn) = &app.app_cert_sn else {
        return Ok(());
    };
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    match get("app_cert_sn") {
        None => {
            return Err(Refusal::missing(
                "isv.missing-app-cert-sn",
                "缺少应用公钥证书序列号",
            ));
        }
        Some(sn) if sn != expected_app_sn => {
            return Err(Refusal::invalid(
                "isv.invalid-app-cert-sn",
                "应用公钥证书序列号不匹配",
            ));
        }
        Some(_) => {}
    }
    let root_sn = sandbox.pki.as_ref().map(|pki| pki.root_sn());
    match get("alipay_root_cert_sn") {
        None => Err(Refusal::missing(
            "isv.missing-alipay-root-cert-sn",
            "缺少支付宝根证书序列号",
        )),
        Some(sn) if Some(sn) != root_sn => Err(Refusal::invalid(
            "isv.invalid-alipay-root-cert-sn",
            "支付宝根证书序列号不匹配",
        )),
        Some(_) => Ok(()),
    }
}

fn check_timestamp(
    text: &str,
    now: DateTime<Utc>,
    tolerance: std::time::Duration,
) -> Result<(), Refusal> {
    let invalid = |why: &str| {
        Refusal::invalid(
            "isv.invalid-timestamp",
            format!("非法的时间戳参数：{why}（格式 yyyy-MM-dd HH:mm:ss，北京时间）"),
        )
    };
    let at = parse_beijing(text)
        .ok()
        .filter(|_| text.len() == 19)
        .ok_or_else(|| invalid("格式错误"))?;
    let tolerance = chrono::Duration::from_std(tolerance).unwrap_or(chrono::Duration::MAX);
    if (now - at).abs() > tolerance {
        return Err(invalid("与支付宝服务器时间相差过大"));
    }
    Ok(())
}

fn verify_signature(
    app: &AppRegistration,
    sign_type: SignType,
    content: &str,
    signature: &str,
) -> Result<(), Refusal> {
    match sign::verify(
        &app.app_public_key,
        sign_type,
        content.as_bytes(),
        signature,
    ) {
        Ok(()) => Ok(()),
        Err(SignatureError::Missing) => {
            Err(Refusal::missing("isv.missing-signature", "缺少签名参数"))
        }
        Err(SignatureError::NotBase64 | SignatureError::Mismatch) => {
            let other = match sign_type {
                SignType::Rsa2 => SignType::Rsa,
                SignType::Rsa => SignType::Rsa2,
            };
            // Alipay names the mix-up when the signature is valid under the other algorithm.
            let sub_msg = if sign::verify(&app.app_public_key, other, content.as_bytes(), signature)
                .is_ok()
            {
                format!(
                    "验签出错，sign值与sign_type参数指定的签名类型不一致：sign_type参数值为{sign_type}，您实际用的签名类型可能是{other}"
                )
            } else {
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为："
                    .to_owned()
            };
            let mut refusal = Refusal::invalid("isv.invalid-signature", sub_msg);
            refusal.detail = Some(content.to_owned());
            Err(refusal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_query_and_body_and_refuses_repeats() {
        let pairs = collect_params("a=1&b=%E6%B5%8B", b"c=x+y").unwrap();
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1].1, "测");
        assert_eq!(pairs[2].1, "x y");
        assert_eq!(
            collect_params("method=a", b"method=b")
                .unwrap_err()
                .sub_code,
            "isv.suspected-attack"
        );
        assert_eq!(
            collect_params("a=%ff", b"").unwrap_err().sub_code,
            "isv.invalid-charset"
        );
        assert!(collect_params("", b"").unwrap().is_empty());
    }

    #[test]
    fn timestamps_need_the_format_and_the_window() {
        let now = parse_beijing("2024-01-02 03:04:05").unwrap();
        let window = std::time::Duration::from_secs(1800);
        assert!(check_timestamp("2024-01-02 03:30:00", now, window).is_ok());
        assert!(check_timestamp("2024-01-02 02:30:00", now, window).is_err());
        assert!(check_timestamp("2024-01-02 03:04:05.1", now, window).is_err());
        assert!(check_timestamp("2024/01/02 03:04:05", now, window).is_err());
    }

    #[test]
    fn the_json_node_escapes_the_string_to_sign_like_alipay() {
        let mut refusal = Refusal::invalid("isv.invalid-signature", "验签出错：");
        refusal.detail = Some("a=1&b={\"x\":1}".into());
        let node = refusal.node().to_json();
        assert!(
            node.contains("验签出错：a=1&amp;b={&quot;x&quot;:1}"),
            "{node}"
        );
    }
}
