//! A typed client for the sandbox's test API (`/sandbox/...`, documented in
//! `services/alipay-sandbox/README.md`): what a buyer does at the cashier, faults, backdating,
//! bills and certificates, without a URL built by hand in any test.
//!
//! Every call answers `Ok` for the documented `200` and [`TestApiError`] (status and body) for
//! anything else, so a test can `unwrap()` the happy path or assert on a refusal. Trades come back
//! as the documented JSON, which tests read field by field.

use std::fmt;

use alipay_sandbox::RunningSandbox;
use reqwest::{Method, RequestBuilder};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct SandboxApi {
    http: reqwest::Client,
    base_url: String,
    /// `?app_id=`: narrows a trade lookup when several apps used the same `out_trade_no`.
    app_id: Option<String>,
}

/// An answer other than `200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestApiError {
    pub status: u16,
    pub body: String,
}

impl TestApiError {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl fmt::Display for TestApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the sandbox answered {}: {}", self.status, self.body)
    }
}

impl std::error::Error for TestApiError {}

/// `GET /sandbox/alipay-cert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlipayCert {
    pub pem: String,
    /// The `x-alipay-cert-sn` header.
    pub sn: String,
}

/// `POST /sandbox/alipay-cert/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rotation {
    pub previous_alipay_cert_sn: String,
    pub alipay_cert_sn: String,
}

impl SandboxApi {
    /// The test API of the sandbox at `base_url` (no trailing slash).
    pub fn new(base_url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            app_id: None,
        }
    }

    pub fn of(sandbox: &RunningSandbox) -> Self {
        Self::new(sandbox.base_url())
    }

    /// Trade calls name this app (`?app_id=`).
    pub fn for_app(mut self, app_id: &str) -> Self {
        self.app_id = Some(app_id.to_owned());
        self
    }

    /// `GET /sandbox/trades/{out_trade_no}`: the trade with every notification attempt.
    pub async fn trade(&self, out_trade_no: &str) -> Result<Value, TestApiError> {
        json_of(self.trade_request(Method::GET, out_trade_no, "")).await
    }

    /// `POST /sandbox/trades/{no}/pay`: the buyer pays (what the cashier's Pay button does).
    /// Answers `{"redirect_url": …, "trade": …}`.
    pub async fn pay(&self, out_trade_no: &str) -> Result<Value, TestApiError> {
        json_of(self.trade_request(Method::POST, out_trade_no, "/pay")).await
    }

    /// [`SandboxApi::pay`] as the buyer `buyer_id` (`2088` and 12 digits).
    pub async fn pay_as(&self, out_trade_no: &str, buyer_id: &str) -> Result<Value, TestApiError> {
        json_of(
            self.trade_request(Method::POST, out_trade_no, "/pay")
                .json(&json!({ "buyer_id": buyer_id })),
        )
        .await
    }

    /// `POST /sandbox/trades/{no}/close`: the buyer cancels at the cashier.
    pub async fn close(&self, out_trade_no: &str) -> Result<Value, TestApiError> {
        json_of(self.trade_request(Method::POST, out_trade_no, "/close")).await
    }

    /// `POST /sandbox/trades/{no}/backdate`: moves every time of the trade `seconds` back.
    pub async fn backdate(&self, out_trade_no: &str, seconds: i64) -> Result<Value, TestApiError> {
        json_of(
            self.trade_request(Method::POST, out_trade_no, "/backdate")
                .json(&json!({ "seconds": seconds })),
        )
        .await
    }

    /// `GET /sandbox/faults`: what is in force, counts as left.
    pub async fn faults(&self) -> Result<Value, TestApiError> {
        json_of(self.request(Method::GET, "/faults")).await
    }

    /// `PUT /sandbox/faults`: replaces the fault configuration (`alipay_sandbox::Faults` or JSON).
    pub async fn set_faults(&self, faults: &impl serde::Serialize) -> Result<Value, TestApiError> {
        json_of(self.request(Method::PUT, "/faults").json(faults)).await
    }

    /// `DELETE /sandbox/faults`.
    pub async fn clear_faults(&self) -> Result<Value, TestApiError> {
        json_of(self.request(Method::DELETE, "/faults")).await
    }

    /// `PUT /sandbox/bill-file`: every bill download serves `bytes` instead of the bill.
    pub async fn set_bill_file(
        &self,
        bytes: impl Into<reqwest::Body>,
    ) -> Result<Value, TestApiError> {
        json_of(self.request(Method::PUT, "/bill-file").body(bytes)).await
    }

    /// `DELETE /sandbox/bill-file`: real bills again.
    pub async fn clear_bill_file(&self) -> Result<Value, TestApiError> {
        json_of(self.request(Method::DELETE, "/bill-file")).await
    }

    /// `GET /sandbox/alipay-public-key`: the PEM merchants configure as Alipay's public key.
    pub async fn alipay_public_key(&self) -> Result<String, TestApiError> {
        text_of(self.request(Method::GET, "/alipay-public-key")).await
    }

    /// `GET /sandbox/alipay-root-cert` (certificate mode).
    pub async fn alipay_root_cert(&self) -> Result<String, TestApiError> {
        text_of(self.request(Method::GET, "/alipay-root-cert")).await
    }

    /// `GET /sandbox/alipay-cert` (certificate mode): the current certificate and its SN.
    pub async fn alipay_cert(&self) -> Result<AlipayCert, TestApiError> {
        let response = send(self.request(Method::GET, "/alipay-cert")).await?;
        let sn = response
            .headers()
            .get("x-alipay-cert-sn")
            .and_then(|sn| sn.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(AlipayCert {
            pem: response.text().await.unwrap(),
            sn,
        })
    }

    /// `POST /sandbox/alipay-cert/rotate` (certificate mode): Alipay signs with its next
    /// certificate from now on.
    pub async fn rotate_alipay_cert(&self) -> Result<Rotation, TestApiError> {
        json_of(self.request(Method::POST, "/alipay-cert/rotate")).await
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/sandbox{path}", self.base_url))
    }

    fn trade_request(&self, method: Method, out_trade_no: &str, action: &str) -> RequestBuilder {
        let query = match &self.app_id {
            Some(app_id) => format!("?app_id={app_id}"),
            None => String::new(),
        };
        self.request(method, &format!("/trades/{out_trade_no}{action}{query}"))
    }
}

async fn send(request: RequestBuilder) -> Result<reqwest::Response, TestApiError> {
    let response = request
        .send()
        .await
        .expect("the sandbox's test API must answer");
    if response.status().as_u16() == 200 {
        return Ok(response);
    }
    Err(TestApiError {
        status: response.status().as_u16(),
        body: response.text().await.unwrap_or_default(),
    })
}

async fn json_of<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, TestApiError> {
    Ok(send(request).await?.json().await.unwrap())
}

async fn text_of(request: RequestBuilder) -> Result<String, TestApiError> {
    Ok(send(request).await?.text().await.unwrap())
}
