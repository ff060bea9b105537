//! The payment-gateway as this service uses it: typed calls, errors sorted by what the caller
//! should do, and a metric for every failure.

use payment_proto::v1::{
    CloseTradeRequest, CloseTradeResponse, CreatePagePayRequest, GetBillDownloadUrlRequest,
    GetBillDownloadUrlResponse, PayLinkResponse, QueryRefundRequest, QueryRefundResponse,
    QueryTradeRequest, QueryTradeResponse, RefundRequest, RefundResponse,
};
use payment_proto::{GatewayClient, alipay_error_detail};
use tonic::{Code, Status};

use crate::metrics::Metrics;

/// A failed gateway call, sorted by what it means for us.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Not reached, timed out, or Alipay unavailable: the outcome is unknown; safe to retry.
    #[error("the payment gateway is unavailable: {0}")]
    Unavailable(String),
    /// Alipay refused (a business rule), with its `sub_code`.
    #[error("alipay refused: {sub_code} {message}")]
    Refused { sub_code: String, message: String },
    /// Anything else: our request was wrong, or the answer did not verify. Not retried.
    #[error("the payment gateway failed ({code:?}): {message}")]
    Failed { code: Code, message: String },
}

impl GatewayError {
    pub fn sub_code(&self) -> Option<&str> {
        match self {
            GatewayError::Refused { sub_code, .. } => Some(sub_code),
            GatewayError::Unavailable(_) | GatewayError::Failed { .. } => None,
        }
    }

    fn from_status(status: Status) -> Self {
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Unknown => GatewayError::Unavailable(status.message().to_owned()),
            Code::FailedPrecondition => match alipay_error_detail(&status) {
                Some(detail) => GatewayError::Refused {
                    sub_code: if detail.sub_code.is_empty() {
                        detail.code
                    } else {
                        detail.sub_code
                    },
                    message: detail.sub_msg,
                },
                None => GatewayError::Failed {
                    code: status.code(),
                    message: status.message().to_owned(),
                },
            },
            Code::Ok
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Internal
            | Code::DataLoss
            | Code::Unauthenticated => GatewayError::Failed {
                code: status.code(),
                message: status.message().to_owned(),
            },
        }
    }
}

/// The gateway clients with metrics. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// One HTTP/2 connection each, used in turn (`PAYMENT_GATEWAY_CONNECTIONS`); each connection
    /// multiplexes every concurrent call.
    clients: std::sync::Arc<[GatewayClient]>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    metrics: Metrics,
}

macro_rules! call {
    ($self:ident, $rpc:ident, $request_id:expr, $request:expr) => {
        match $self.client().$rpc($request_id, $request).await {
            Ok(response) => Ok(response),
            Err(status) => {
                $self.metrics.gateway_error(stringify!($rpc), status.code());
                tracing::warn!(rpc = stringify!($rpc), code = ?status.code(), message = status.message(), "gateway call failed");
                Err(GatewayError::from_status(status))
            }
        }
    };
}

impl Gateway {
    /// `clients` must not be empty.
    pub fn new(clients: Vec<GatewayClient>, metrics: Metrics) -> Self {
        Self {
            clients: clients.into(),
            next: std::sync::Arc::default(),
            metrics,
        }
    }

    fn client(&self) -> &GatewayClient {
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.clients[turn % self.clients.len()]
    }

    pub async fn create_page_pay(
        &self,
        request_id: &str,
        request: CreatePagePayRequest,
    ) -> Result<PayLinkResponse, GatewayError> {
        call!(self, create_page_pay, request_id, request)
    }

    pub async fn query_trade(
        &self,
        request_id: &str,
        out_trade_no: &str,
    ) -> Result<QueryTradeResponse, GatewayError> {
        let request = QueryTradeRequest {
            out_trade_no: out_trade_no.to_owned(),
            trade_no: String::new(),
        };
        call!(self, query_trade, request_id, request)
    }

    pub async fn close_trade(
        &self,
        request_id: &str,
        out_trade_no: &str,
    ) -> Result<CloseTradeResponse, GatewayError> {
        let request = CloseTradeRequest {
            out_trade_no: out_trade_no.to_owned(),
            trade_no: String::new(),
        };
        call!(self, close_trade, request_id, request)
    }

    pub async fn refund(
        &self,
        request_id: &str,
        request: RefundRequest,
    ) -> Result<RefundResponse, GatewayError> {
        call!(self, refund, request_id, request)
    }

    pub async fn query_refund(
        &self,
        request_id: &str,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> Result<QueryRefundResponse, GatewayError> {
        let request = QueryRefundRequest {
            out_trade_no: out_trade_no.to_owned(),
            trade_no: String::new(),
            out_request_no: out_request_no.to_owned(),
        };
        call!(self, query_refund, request_id, request)
    }

    /// The download URL of the trade bill (业务明细) of one day, `yyyy-MM-dd`.
    pub async fn bill_download_url(
        &self,
        request_id: &str,
        bill_date: &str,
    ) -> Result<GetBillDownloadUrlResponse, GatewayError> {
        let request = GetBillDownloadUrlRequest {
            bill_type: "trade".to_owned(),
            bill_date: bill_date.to_owned(),
        };
        call!(self, get_bill_download_url, request_id, request)
    }
}
