//! The v3 forms of the server APIs: path, HTTP method, and body or query. The business fields
//! are v2's `biz_content` fields, so each request reuses its v2 builder (and its checks).

use crate::request::{
    ApiRequest, BillDownloadUrlQuery, RefundQuery, RequestError, TradeClose, TradeQuery,
    TradeRefund,
};

/// GET (parameters in the query) or POST (a JSON body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

/// What is sent for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Request {
    pub method: HttpMethod,
    pub path: &'static str,
    /// Query parameters in sending order (GET).
    pub query: Vec<(&'static str, String)>,
    /// The exact JSON body (POST), compact.
    pub body: String,
}

/// A request that has a v3 form. `R::Response` (v2's typed result) is also the v3 success
/// body's type: v3 answers with the same field names, without the node wrapper.
pub trait V3Api: ApiRequest {
    /// The v2 method name stays the label of metrics and logs.
    const PATH: &'static str;
    fn v3_request(&self) -> Result<V3Request, RequestError>;
}

fn post<R: ApiRequest>(request: &R, path: &'static str) -> Result<V3Request, RequestError> {
    Ok(V3Request {
        method: HttpMethod::Post,
        path,
        query: Vec::new(),
        body: request.biz_content()?,
    })
}

impl V3Api for TradeQuery {
    const PATH: &'static str = "/v3/alipay/trade/query";
    fn v3_request(&self) -> Result<V3Request, RequestError> {
        post(self, Self::PATH)
    }
}

impl V3Api for TradeClose {
    const PATH: &'static str = "/v3/alipay/trade/close";
    fn v3_request(&self) -> Result<V3Request, RequestError> {
        post(self, Self::PATH)
    }
}

impl V3Api for TradeRefund {
    const PATH: &'static str = "/v3/alipay/trade/refund";
    fn v3_request(&self) -> Result<V3Request, RequestError> {
        post(self, Self::PATH)
    }
}

impl V3Api for RefundQuery {
    const PATH: &'static str = "/v3/alipay/trade/fastpay/refund/query";
    fn v3_request(&self) -> Result<V3Request, RequestError> {
        post(self, Self::PATH)
    }
}

/// A GET with its two parameters in the query, as Alipay's v3 reference shows it.
impl V3Api for BillDownloadUrlQuery {
    const PATH: &'static str = "/v3/alipay/data/dataservice/bill/downloadurl/query";
    fn v3_request(&self) -> Result<V3Request, RequestError> {
        // The v2 builder holds the field rules; its JSON is not sent.
        self.biz_content()?;
        Ok(V3Request {
            method: HttpMethod::Get,
            path: Self::PATH,
            query: vec![
                ("bill_type", self.bill_type.clone()),
                ("bill_date", self.bill_date.clone()),
            ],
            body: String::new(),
        })
    }
}
