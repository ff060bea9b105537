//! The v3 signer (nonce, clock, optional `app_cert_sn`) and the thin async client.
//!
//! Its typed calls return [`ClientError`] and the v2 result types, so a caller switches protocol
//! without a second error mapping: [`V3Error`] (the detailed v3 failure) converts into
//! [`ClientError`] in one place, `From<V3Error> for ClientError`.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::{ClientError, TradeLookup, describe};
use crate::keys::PrivateKey;
use crate::request::{
    BillDownloadUrlQuery, Gateway, RefundQuery, RequestError, TradeClose, TradeQuery, TradeRefund,
};
use crate::response::{
    AlipayError, BillDownloadUrl, RefundQueryResult, ResponseError, SubCode, TradeCloseResult,
    TradeRefundResult,
};
use crate::sign::{SignError, SignatureError};
use crate::time::{Clock, SystemClock};
use crate::v3::api::{HttpMethod, V3Api, V3Request};
use crate::v3::sign::{
    self, AlipayKeys, AuthParams, RequestParts, ResponseHeaders, ResponseVerifyError,
    SignedAuthorization,
};

/// Signs v3 requests for one app.
#[derive(Clone)]
pub struct V3Signer {
    app_id: String,
    key: PrivateKey,
    /// Certificate mode: the SN of the app certificate, computed once by whoever loaded it.
    app_cert_sn: Option<String>,
    clock: Arc<dyn Clock>,
    random: SystemRandom,
}

impl std::fmt::Debug for V3Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V3Signer")
            .field("app_id", &self.app_id)
            .field("app_cert_sn", &self.app_cert_sn)
            .field("key", &self.key)
            .finish()
    }
}

/// A signed request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedV3Request {
    pub method: HttpMethod,
    pub request_target: String,
    pub body: String,
    pub authorization: SignedAuthorization,
    /// `alipay-request-id`: 32 hex digits, for Alipay's support to find the call.
    pub request_id: String,
}

impl V3Signer {
    pub fn new(app_id: impl Into<String>, key: PrivateKey) -> Self {
        V3Signer {
            app_id: app_id.into(),
            key,
            app_cert_sn: None,
            clock: Arc::new(SystemClock),
            random: SystemRandom::new(),
        }
    }

    /// Certificate mode: `app_cert_sn` goes into every auth string.
    pub fn with_app_cert_sn(mut self, sn: impl Into<String>) -> Self {
        self.app_cert_sn = Some(sn.into());
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Signs one request with a fresh nonce and the clock's time.
    pub fn sign(
        &self,
        request: &V3Request,
        app_auth_token: Option<&str>,
    ) -> Result<SignedV3Request, SignError> {
        let mut random = [0u8; 32];
        self.random.fill(&mut random).map_err(|_| SignError)?;
        let nonce = uuid_v4(&random[..16]);
        let request_id = hex(&random[16..]);
        let timestamp = self.clock.now().timestamp_millis().to_string();
        let request_target = sign::request_target(
            request.path,
            request.query.iter().map(|(k, v)| (*k, v.as_str())),
        );
        let authorization = sign::sign_request(
            &self.key,
            &AuthParams {
                app_id: &self.app_id,
                app_cert_sn: self.app_cert_sn.as_deref(),
                nonce: &nonce,
                timestamp_ms: &timestamp,
            },
            &RequestParts {
                method: request.method.as_str(),
                request_target: &request_target,
                body: &request.body,
                app_auth_token,
            },
        )?;
        Ok(SignedV3Request {
            method: request.method,
            request_target,
            body: request.body.clone(),
            authorization,
            request_id,
        })
    }
}

/// A UUID (version 4, RFC 9562 layout) from 16 random bytes: what the SDKs send as nonce.
fn uuid_v4(bytes: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    out
}

/// Everything needed to talk v3 to one Alipay app.
#[derive(Debug, Clone)]
pub struct V3Config {
    pub signer: V3Signer,
    /// Public-key mode: a [`crate::PublicKey`]; certificate mode: the certificate store.
    pub alipay_keys: Arc<dyn AlipayKeys>,
    /// `https://openapi.alipay.com` (no trailing slash); see [`base_url`].
    pub base_url: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// `alipay-app-auth-token` for a service provider calling on a merchant's behalf.
    pub app_auth_token: Option<String>,
    /// Certificate mode: the SN of Alipay's root bundle, sent as `alipay-root-cert-sn` (not
    /// signed; Alipay uses it to choose which certificate to sign with).
    pub alipay_root_cert_sn: Option<String>,
    /// Certificate mode: the v2 client whose [`AlipayClient::alipay_certificate`] downloads a
    /// certificate Alipay rotated to and trusts it only once it chains to the root bundle. An
    /// answer naming an unknown `alipay-sn` is verified again after that, with the same store
    /// (`alipay_keys`); without it (or when the certificate fails its checks) the answer stays
    /// unverifiable.
    pub rotation: Option<crate::client::AlipayClient>,
}

/// The v3 base URL of a v2 gateway: the same host, without `/gateway.do`.
pub fn base_url(gateway: &Gateway) -> String {
    let url = gateway.url();
    url.strip_suffix("/gateway.do")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_owned()
}

/// Why a v3 call did not produce a verified answer, in detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V3Error {
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] RequestError),
    /// Network, timeout, or HTTP 5xx: the outcome is unknown.
    #[error("alipay could not be reached: {0}")]
    Unavailable(String),
    /// A 4xx refusal without a valid signature: readable, never acted upon.
    #[error("alipay refused without a valid signature (HTTP {status}, code {code:?}): {reason}")]
    UnsignedRefusal {
        status: u16,
        code: Option<String>,
        reason: ResponseVerifyError,
    },
    /// A 2xx answer that does not verify.
    #[error("alipay's response does not verify: {reason}")]
    Untrusted {
        reason: ResponseVerifyError,
        status: u16,
        body: String,
    },
    /// A verified answer whose body is not what the API defines.
    #[error("alipay's verified response could not be parsed: {0}")]
    Parse(String),
    /// A verified refusal: HTTP 4xx with `{code,message}`.
    #[error("alipay answered HTTP {status} {code}: {message}")]
    Alipay {
        status: u16,
        code: String,
        message: String,
    },
}

impl V3Error {
    /// The v2-shaped refusal of a verified v3 error: `code` carries the HTTP status, `sub_code`
    /// v3's `code` (matched loosely, so `TRADE_NOT_EXIST` and `ACQ.TRADE_NOT_EXIST` agree).
    fn alipay_error(status: u16, code: String, message: String) -> AlipayError {
        AlipayError {
            sub_code: SubCode::parse(&code),
            sub_code_text: code,
            code: status.to_string(),
            msg: message.clone(),
            sub_msg: message,
        }
    }
}

/// The one mapping from v3 failures to the client boundary shared with v2.
impl From<V3Error> for ClientError {
    fn from(error: V3Error) -> Self {
        match error {
            V3Error::InvalidRequest(error) => ClientError::InvalidRequest(error),
            V3Error::Unavailable(reason) => ClientError::Unavailable(reason),
            V3Error::UnsignedRefusal { status, code, .. } => {
                ClientError::Untrusted(ResponseError::Unsigned {
                    code: Some(status.to_string()),
                    sub_code: code,
                })
            }
            V3Error::Untrusted { reason, body, .. } => {
                ClientError::Untrusted(ResponseError::BadSignature {
                    reason: match reason {
                        ResponseVerifyError::Signature(reason) => reason,
                        // No usable signature at all: reported as the signature missing; the
                        // precise step is in the v3 error, logged by the client.
                        ResponseVerifyError::MissingHeader(_)
                        | ResponseVerifyError::UnknownSn(_) => SignatureError::Missing,
                    },
                    content: body,
                })
            }
            V3Error::Parse(reason) => ClientError::Untrusted(ResponseError::Parse(reason)),
            V3Error::Alipay {
                status,
                code,
                message,
            } => ClientError::Alipay(V3Error::alipay_error(status, code, message)),
        }
    }
}

/// A verified 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedV3Response {
    pub status: u16,
    /// The exact body text that was verified.
    pub body: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// An async v3 client. Cloning shares the connection pool.
#[derive(Debug, Clone)]
pub struct V3Client {
    config: V3Config,
    http: reqwest::Client,
}

impl V3Client {
    pub fn new(config: V3Config) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Unavailable(format!("http client: {e}")))?;
        Ok(V3Client { config, http })
    }

    pub fn config(&self) -> &V3Config {
        &self.config
    }

    /// Signs, sends and verifies one request; a verified refusal is [`V3Error::Alipay`].
    pub async fn execute(&self, request: &V3Request) -> Result<VerifiedV3Response, V3Error> {
        let signed = self
            .config
            .signer
            .sign(request, self.config.app_auth_token.as_deref())
            .map_err(RequestError::Sign)?;
        let url = format!("{}{}", self.config.base_url, signed.request_target);
        let mut builder = match signed.method {
            HttpMethod::Get => self.http.get(&url),
            HttpMethod::Post => self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(signed.body),
        }
        .header(
            reqwest::header::AUTHORIZATION,
            signed.authorization.authorization,
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .header("alipay-request-id", signed.request_id);
        if let Some(token) = &self.config.app_auth_token {
            builder = builder.header("alipay-app-auth-token", token);
        }
        if let Some(sn) = &self.config.alipay_root_cert_sn {
            builder = builder.header("alipay-root-cert-sn", sn);
        }
        let started = std::time::Instant::now();
        let response = builder
            .send()
            .await
            .map_err(|e| V3Error::Unavailable(describe(&e)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| V3Error::Unavailable(describe(&e)))?;
        if status >= 500 {
            return Err(V3Error::Unavailable(format!(
                "alipay answered HTTP {status}"
            )));
        }
        tracing::debug!(
            path = request.path,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "alipay v3 call answered"
        );
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let body = String::from_utf8(bytes.to_vec());
        let verify = || match &body {
            Ok(body) => sign::verify_response(
                self.config.alipay_keys.as_ref(),
                &ResponseHeaders {
                    timestamp: header("alipay-timestamp"),
                    nonce: header("alipay-nonce"),
                    signature: header("alipay-signature"),
                    alipay_sn: header("alipay-sn"),
                },
                body,
            ),
            Err(_) => Err(ResponseVerifyError::Signature(SignatureError::Mismatch)),
        };
        let mut verified = verify();
        if let (Err(ResponseVerifyError::UnknownSn(Some(sn))), Some(rotation)) =
            (&verified, &self.config.rotation)
        {
            // Alipay rotated its certificate: fetch the new one, check it against the root
            // bundle, then verify again (a certificate that fails its checks is never used).
            match rotation.alipay_certificate(sn).await {
                Ok(_) => verified = verify(),
                Err(error) => {
                    tracing::warn!(alipay_sn = %sn, %error, "v3 answer names a certificate that could not be trusted");
                }
            }
        }
        let body = body.unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let is_error = !(200..300).contains(&status);
        match verified {
            Ok(()) if is_error => {
                let error: ErrorBody = serde_json::from_str(&body)
                    .map_err(|e| V3Error::Parse(format!("HTTP {status} error body: {e}")))?;
                Err(V3Error::Alipay {
                    status,
                    code: error.code,
                    message: error.message,
                })
            }
            Ok(()) => Ok(VerifiedV3Response { status, body }),
            // No signature at all on a refusal: Alipay's answer to a caller it could not
            // authenticate. A refusal carrying a signature that fails is a forgery or a
            // mangled answer, like any other (below).
            Err(reason @ ResponseVerifyError::MissingHeader("alipay-signature")) if is_error => {
                let code = serde_json::from_str::<ErrorBody>(&body)
                    .ok()
                    .map(|e| e.code);
                tracing::warn!(status, ?code, %reason, "alipay v3 refusal does not verify");
                Err(V3Error::UnsignedRefusal {
                    status,
                    code,
                    reason,
                })
            }
            Err(reason) => Err(V3Error::Untrusted {
                reason,
                status,
                body,
            }),
        }
    }

    /// Signs, sends, verifies and types one call.
    pub async fn call<R>(&self, request: &R) -> Result<(R::Response, String), ClientError>
    where
        R: V3Api,
        R::Response: DeserializeOwned,
    {
        let verified = self.execute(&request.v3_request()?).await?;
        let typed = serde_json::from_str(&verified.body)
            .map_err(|e| ClientError::Untrusted(ResponseError::Parse(e.to_string())))?;
        Ok((typed, verified.body))
    }

    /// `alipay.trade.query` (`POST /v3/alipay/trade/query`).
    pub async fn query(&self, request: &TradeQuery) -> Result<TradeLookup, ClientError> {
        TradeLookup::from_answer(self.call(request).await)
    }

    /// `alipay.trade.close`; `Ok(None)` when the trade never existed.
    pub async fn close(
        &self,
        request: &TradeClose,
    ) -> Result<Option<TradeCloseResult>, ClientError> {
        crate::client::close_answer(self.call(request).await)
    }

    /// `alipay.trade.refund`.
    pub async fn refund(
        &self,
        request: &TradeRefund,
    ) -> Result<(TradeRefundResult, String), ClientError> {
        self.call(request).await
    }

    /// `alipay.trade.fastpay.refund.query`.
    pub async fn refund_query(
        &self,
        request: &RefundQuery,
    ) -> Result<(RefundQueryResult, String), ClientError> {
        self.call(request).await
    }

    /// `alipay.data.dataservice.bill.downloadurl.query`.
    pub async fn bill_download_url(
        &self,
        request: &BillDownloadUrlQuery,
    ) -> Result<BillDownloadUrl, ClientError> {
        Ok(self.call(request).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_uuid_v4_and_base_urls_drop_gateway_do() {
        let id = uuid_v4(&[0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(base_url(&Gateway::Production), "https://openapi.alipay.com");
        assert_eq!(
            base_url(&Gateway::Custom("http://127.0.0.1:8090/gateway.do".into())),
            "http://127.0.0.1:8090"
        );
    }
}
