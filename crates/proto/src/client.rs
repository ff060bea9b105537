//! The client callers use: a lazy channel with timeouts, and the request id on every call.

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, TimeoutExpired};

use crate::status::REQUEST_ID_METADATA;
use crate::v1::payment_gateway_client::PaymentGatewayClient;
use crate::v1::{
    CloseTradeRequest, CloseTradeResponse, CreatePagePayRequest, CreateWapPayRequest,
    GetAlipayCertificateRequest, GetAlipayCertificateResponse, GetBillDownloadUrlRequest,
    GetBillDownloadUrlResponse, PayLinkResponse, QueryRefundRequest, QueryRefundResponse,
    QueryTradeRequest, QueryTradeResponse, RefundRequest, RefundResponse,
};

/// A `PaymentGateway` client. Cheap to clone; clones share one HTTP/2 connection.
///
/// Errors are the gateway's statuses (see the `.proto`), plus, from the client side:
/// `UNAVAILABLE` when the gateway cannot be reached, `DEADLINE_EXCEEDED` when the request
/// timeout passed (the outcome is then unknown: a refund may have happened, so retry with the
/// same `out_request_no`), and `INVALID_ARGUMENT` for a request id that cannot be metadata.
#[derive(Debug, Clone)]
pub struct GatewayClient {
    inner: PaymentGatewayClient<Channel>,
}

macro_rules! rpc {
    ($(#[$doc:meta])* $name:ident($request:ty) -> $response:ty) => {
        $(#[$doc])*
        pub async fn $name(&self, request_id: &str, request: $request) -> Result<$response, Status> {
            let request = with_request_id(request_id, request)?;
            // The generated client needs `&mut self`; cloning it is a handle copy, so concurrent
            // calls through one `GatewayClient` multiplex on the same connection.
            self.inner
                .clone()
                .$name(request)
                .await
                .map(tonic::Response::into_inner)
                .map_err(normalize)
        }
    };
}

impl GatewayClient {
    /// A client for `url` (such as `http://127.0.0.1:50051`) that connects on first use, so a
    /// service can start before the gateway does. `timeout` bounds both connecting and each call.
    /// Must be called inside a tokio runtime.
    pub fn connect(url: &str, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let endpoint = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(timeout)
            .timeout(timeout);
        Ok(Self::from_channel(endpoint.connect_lazy()))
    }

    /// Wraps an existing channel (e.g. one with custom TLS or load balancing).
    pub fn from_channel(channel: Channel) -> Self {
        Self {
            inner: PaymentGatewayClient::new(channel),
        }
    }

    rpc!(
        /// A signed desktop pay link (`alipay.trade.page.pay`).
        create_page_pay(CreatePagePayRequest) -> PayLinkResponse
    );
    rpc!(
        /// A signed mobile pay link (`alipay.trade.wap.pay`).
        create_wap_pay(CreateWapPayRequest) -> PayLinkResponse
    );
    rpc!(
        /// The trade as Alipay knows it; `exists == false` when Alipay has none.
        query_trade(QueryTradeRequest) -> QueryTradeResponse
    );
    rpc!(
        /// Closes an unpaid trade; closing a missing one succeeds with `existed == false`.
        close_trade(CloseTradeRequest) -> CloseTradeResponse
    );
    rpc!(
        /// Refunds; reuse `out_request_no` when retrying.
        refund(RefundRequest) -> RefundResponse
    );
    rpc!(
        /// One refund's state.
        query_refund(QueryRefundRequest) -> QueryRefundResponse
    );
    rpc!(
        /// Where to download a bill.
        get_bill_download_url(GetBillDownloadUrlRequest) -> GetBillDownloadUrlResponse
    );
    rpc!(
        /// Certificate mode: Alipay's certificate with this SN (check its chain yourself).
        get_alipay_certificate(GetAlipayCertificateRequest) -> GetAlipayCertificateResponse
    );
}

fn with_request_id<T>(request_id: &str, message: T) -> Result<tonic::Request<T>, Status> {
    let value = MetadataValue::try_from(request_id)
        .map_err(|_| Status::invalid_argument("the request id is not a valid metadata value"))?;
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(REQUEST_ID_METADATA, value);
    Ok(request)
}

/// tonic reports its own client-side timeout as `CANCELLED "Timeout expired"`; gRPC's code for a
/// passed deadline is `DEADLINE_EXCEEDED`, which callers can match on without reading messages.
fn normalize(status: Status) -> Status {
    if status.code() == Code::Cancelled && status.message() == TimeoutExpired(()).to_string() {
        return Status::deadline_exceeded("the payment gateway did not answer in time");
    }
    status
}
