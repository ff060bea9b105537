//! The one thin I/O layer: signed POSTs to the gateway, verified responses back.
//!
//! One `reqwest::Client` per `AlipayClient` (cloning shares it), so connections are reused.
//! Errors separate what a caller must treat differently: our own bad input, the network (safe to
//! retry reads), a response that did not verify (never trusted), and Alipay's verified refusals.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::cert::TrustedCertificate;
use crate::request::{
    ApiRequest, BillDownloadUrlQuery, Gateway, RefundQuery, RequestError, RequestSigner,
    TradeClose, TradeQuery, TradeRefund,
};
use crate::response::{
    self, AlipayError, BillDownloadUrl, RefundQueryResult, ResponseError, ResponseOutcome, SubCode,
    TradeCloseResult, TradeQueryResult, TradeRefundResult, VerifiedResponse,
};
use crate::verifier::AlipayVerifier;

/// Everything needed to talk to one Alipay app.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// Signs requests (and, in certificate mode, adds the SNs; with AES, encrypts).
    pub signer: RequestSigner,
    /// Checks Alipay's signatures: its public key, or its trusted certificates.
    pub verifier: AlipayVerifier,
    pub gateway: Gateway,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// Why a server API call did not produce a typed answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Our input was refused before anything was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] RequestError),
    /// The network, a timeout, or an HTTP error status from the gateway. The outcome is unknown.
    #[error("alipay could not be reached: {0}")]
    Unavailable(String),
    /// A response that failed verification or extraction: never acted upon.
    #[error("alipay's response could not be trusted: {0}")]
    Untrusted(#[from] ResponseError),
    /// A verified business refusal.
    #[error(transparent)]
    Alipay(#[from] AlipayError),
}

impl From<ResponseOutcome> for ClientError {
    fn from(outcome: ResponseOutcome) -> Self {
        match outcome {
            ResponseOutcome::Business(error) => ClientError::Alipay(error),
            ResponseOutcome::Untrusted(error) => ClientError::Untrusted(error),
        }
    }
}

impl ClientError {
    /// Whether repeating the same call may succeed: the network, or Alipay's "result unknown".
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Unavailable(_) => true,
            ClientError::Alipay(error) => error.is_unknown_outcome(),
            ClientError::InvalidRequest(_) | ClientError::Untrusted(_) => false,
        }
    }
}

/// An async client for the server APIs.
#[derive(Debug, Clone)]
pub struct AlipayClient {
    config: AlipayConfig,
    http: reqwest::Client,
    /// One certificate download at a time: a burst of responses naming a new `alipay_cert_sn`
    /// makes one download, and the rest find the certificate trusted when they get the lock.
    rotation: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// What `alipay.trade.query` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeLookup {
    Found(Box<TradeQueryResult>, String),
    /// `ACQ.TRADE_NOT_EXIST`: an answer, not a failure (page pay creates the trade only when the
    /// buyer opens the cashier).
    NotExist,
}

impl TradeLookup {
    /// A query's answer as a lookup: `ACQ.TRADE_NOT_EXIST` is an answer ("not started"), not a
    /// failure. The one reading of that code, for v2 and v3 alike.
    pub(crate) fn from_answer(
        answer: Result<(TradeQueryResult, String), ClientError>,
    ) -> Result<Self, ClientError> {
        match answer {
            Ok((result, body)) => Ok(TradeLookup::Found(Box::new(result), body)),
            Err(ClientError::Alipay(error)) if error.sub_code == SubCode::TradeNotExist => {
                Ok(TradeLookup::NotExist)
            }
            Err(other) => Err(other),
        }
    }
}

/// A close's answer: `Ok(None)` when the trade never existed (nothing to close), for v2 and v3.
pub(crate) fn close_answer(
    answer: Result<(TradeCloseResult, String), ClientError>,
) -> Result<Option<TradeCloseResult>, ClientError> {
    match answer {
        Ok((result, _)) => Ok(Some(result)),
        Err(ClientError::Alipay(error)) if error.sub_code == SubCode::TradeNotExist => Ok(None),
        Err(other) => Err(other),
    }
}

impl AlipayClient {
    pub fn new(config: AlipayConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Unavailable(format!("http client: {e}")))?;
        Ok(AlipayClient {
            config,
            http,
            rotation: std::sync::Arc::default(),
        })
    }

    pub fn config(&self) -> &AlipayConfig {
        &self.config
    }

    /// Signs, posts and verifies any typed request; returns the verified response, whatever its
    /// code.
    pub async fn execute_verified<R: ApiRequest>(
        &self,
        request: &R,
    ) -> Result<VerifiedResponse, ClientError> {
        let signed = self.config.signer.sign_request(request)?;
        self.post(R::METHOD, signed.encoded()).await
    }

    /// Signs, posts, verifies and types a request; a non-`10000` code is [`ClientError::Alipay`].
    pub async fn execute<R: ApiRequest>(
        &self,
        request: &R,
    ) -> Result<(R::Response, String), ClientError> {
        let verified = self.execute_verified(request).await?;
        let node = verified.node.clone();
        Ok((verified.into_result::<R::Response>()?, node))
    }

    /// Any other method: `biz_content` as JSON; the verified response node comes back.
    pub async fn call(
        &self,
        method: &str,
        biz_content: &serde_json::Value,
    ) -> Result<VerifiedResponse, ClientError> {
        let signed = self
            .config
            .signer
            .sign_method(method, biz_content.to_string(), Vec::new())?;
        self.post(method, signed.encoded()).await
    }

    async fn post(&self, method: &str, body: String) -> Result<VerifiedResponse, ClientError> {
        let raw = self.send(method, body).await?;
        let sign_type = self.config.signer.sign_type();
        let aes = self.config.signer.aes_key();
        match response::verify_response_in(&raw, method, &self.config.verifier, sign_type, aes) {
            Err(ResponseError::UnknownCertSn { sn }) => {
                // Alipay rotated its certificate: fetch the new one, check it, then verify
                // with it (and only it).
                self.alipay_certificate(&sn).await?;
                Ok(response::verify_response_in(
                    &raw,
                    method,
                    &self.config.verifier,
                    sign_type,
                    aes,
                )?)
            }
            other => Ok(other?),
        }
    }

    /// Posts a signed body and returns the raw answer.
    async fn send(&self, method: &str, body: String) -> Result<String, ClientError> {
        let started = std::time::Instant::now();
        let response = self
            .http
            .post(self.config.gateway.url())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::Unavailable(describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClientError::Unavailable(format!(
                "gateway answered HTTP {status}"
            )));
        }
        let raw = response
            .text()
            .await
            .map_err(|e| ClientError::Unavailable(describe(&e)))?;
        tracing::debug!(
            method,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "alipay call answered"
        );
        Ok(raw)
    }

    /// The trusted Alipay certificate with this SN: from the cache, or downloaded with
    /// `alipay.open.app.alipaycert.download` and trusted only after it chains to the configured
    /// root bundle, is valid now and names Alipay. A certificate that fails any check is never
    /// stored or used: the error is [`ResponseError::UntrustedCertificate`] (never trusted).
    ///
    /// The download's own response is not signature-checked (it may be signed by the very
    /// certificate being fetched); the certificate is trusted through its chain to the root
    /// bundle alone, which is what makes it safe to take from any channel.
    pub async fn alipay_certificate(&self, sn: &str) -> Result<TrustedCertificate, ClientError> {
        let Some(store) = self.config.verifier.certificates() else {
            return Err(ClientError::Untrusted(ResponseError::UnknownCertSn {
                sn: sn.to_owned(),
            }));
        };
        if let Some(known) = store.certificate(sn) {
            return Ok(known);
        }
        let _one_at_a_time = self.rotation.lock().await;
        if let Some(known) = store.certificate(sn) {
            return Ok(known);
        }
        const METHOD: &str = "alipay.open.app.alipaycert.download";
        let biz = serde_json::json!({ "alipay_cert_sn": sn }).to_string();
        let signed = self.config.signer.sign_method(METHOD, biz, Vec::new())?;
        let raw = self.send(METHOD, signed.encoded()).await?;
        let untrusted = |reason: String| {
            tracing::warn!(alipay_cert_sn = sn, %reason, "refused a downloaded alipay certificate");
            ClientError::Untrusted(ResponseError::UntrustedCertificate {
                sn: sn.to_owned(),
                reason,
            })
        };
        let node = response::extract_node(&raw, METHOD)?;
        let content: serde_json::Value = if node.content.starts_with('"') {
            let aes = self
                .config
                .signer
                .aes_key()
                .ok_or(ResponseError::EncryptedWithoutKey)?;
            let ciphertext: String = serde_json::from_str(node.content)
                .map_err(|e| ResponseError::Parse(e.to_string()))?;
            let plain = aes.decrypt(&ciphertext).map_err(ResponseError::Decrypt)?;
            serde_json::from_str(&plain).map_err(|e| ResponseError::Parse(e.to_string()))?
        } else {
            serde_json::from_str(node.content).map_err(|e| ResponseError::Parse(e.to_string()))?
        };
        if content["code"] != "10000" {
            return Err(untrusted(format!(
                "the download was refused: code {}, sub_code {}",
                content["code"], content["sub_code"]
            )));
        }
        let encoded = content["alipay_cert_content"]
            .as_str()
            .ok_or_else(|| untrusted("the download carries no alipay_cert_content".into()))?;
        let pem = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| untrusted("alipay_cert_content is not base64 of a PEM text".into()))?;
        let now = self.config.signer.clock().now();
        let trusted = store
            .trust(&pem, now)
            .map_err(|error| untrusted(error.to_string()))?;
        if trusted.sn != sn {
            return Err(untrusted(format!(
                "the downloaded certificate has SN {}, not the one asked for",
                trusted.sn
            )));
        }
        tracing::info!(alipay_cert_sn = sn, "trusted a rotated alipay certificate");
        Ok(trusted)
    }

    /// `alipay.trade.query`.
    pub async fn query(&self, request: &TradeQuery) -> Result<TradeLookup, ClientError> {
        TradeLookup::from_answer(self.execute(request).await)
    }

    /// `alipay.trade.close`; `Ok(None)` when the trade never existed (nothing to close).
    pub async fn close(
        &self,
        request: &TradeClose,
    ) -> Result<Option<TradeCloseResult>, ClientError> {
        close_answer(self.execute(request).await)
    }

    /// `alipay.trade.refund`.
    pub async fn refund(
        &self,
        request: &TradeRefund,
    ) -> Result<(TradeRefundResult, String), ClientError> {
        self.execute(request).await
    }

    /// `alipay.trade.fastpay.refund.query`.
    pub async fn refund_query(
        &self,
        request: &RefundQuery,
    ) -> Result<(RefundQueryResult, String), ClientError> {
        self.execute(request).await
    }

    /// `alipay.data.dataservice.bill.downloadurl.query`.
    pub async fn bill_download_url(
        &self,
        request: &BillDownloadUrlQuery,
    ) -> Result<BillDownloadUrl, ClientError> {
        Ok(self.execute(request).await?.0)
    }
}

/// A transport failure in words (shared with the v3 client).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        format!("connection failed: {error}")
    } else {
        error.to_string()
    }
}
