//! The `PaymentGateway` RPCs: parse the request into the alipay crate's types (our input's
//! errors are `INVALID_ARGUMENT` naming the field), sign, call, and type the verified answer.
//!
//! Every RPC goes through `GatewayService::handle`, which gives it a span carrying the caller's
//! request id (so every log line of the call has it), echoes the id in the response metadata,
//! maps the error to a status in one place, logs the cause and counts the outcome.
//!
//! Pay links are signed on the [`SigningPool`] (dedicated threads, arrival order); server API
//! calls sign on the tokio worker that runs them, since they wait on the network anyway.
//!
//! Retries (bounded, exponential backoff, only for "network, timeout, 5xx" and Alipay's
//! "outcome unknown"): `QueryTrade`, `QueryRefund` and `GetBillDownloadUrl` are reads; `Refund`
//! is retried because every attempt carries the caller's same `out_request_no`, which Alipay
//! deduplicates (a repeat is answered `fund_change = N`, never a second refund). `CloseTrade` is
//! not retried: a retry after a close that took effect would be answered
//! `ACQ.TRADE_STATUS_ERROR`, turning a success into a refusal; the caller can query instead.

use std::future::Future;
use std::time::{Duration, Instant};

use alipay::client::{AlipayClient, ClientError, TradeLookup};
use alipay::form::quote_plus;
use alipay::money::Amount;
use alipay::request::{
    ApiRequest, BillDownloadUrlQuery, Gateway, OutRequestNo, OutTradeNo, PagePay, RefundQuery,
    RequestSigner, Subject, TimeExpire, TradeClose, TradeQuery, TradeRef, TradeRefund, WapPay,
};
use alipay::response::ResponseError;
use common::telemetry::RequestId;
use payment_proto::v1::payment_gateway_server::PaymentGateway;
use payment_proto::v1::{
    CloseTradeRequest, CloseTradeResponse, CreatePagePayRequest, CreateWapPayRequest,
    GetAlipayCertificateRequest, GetAlipayCertificateResponse, GetBillDownloadUrlRequest,
    GetBillDownloadUrlResponse, PayLinkResponse, QueryRefundRequest, QueryRefundResponse,
    QueryTradeRequest, QueryTradeResponse, RefundRequest, RefundResponse, TradeStatus,
};
use payment_proto::{REQUEST_ID_METADATA, request_id};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};
use tracing::{Instrument, debug, error, info, warn};

use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::server_api::ServerApi;
use crate::settings::{RetryPolicy, Settings};
use crate::signing::{PayRequest, SigningPool};

/// The gRPC service. Cheap to clone: the HTTP client, the key and the metrics are shared.
#[derive(Debug, Clone)]
pub struct GatewayService {
    client: AlipayClient,
    /// The server calls, in the protocol `ALIPAY_API_VERSION` chose.
    server: ServerApi,
    /// Where pay links point (the browser's way to Alipay).
    gateway: Gateway,
    notify_url: Option<String>,
    return_url: Option<String>,
    pay_expiry: Option<Duration>,
    retry: RetryPolicy,
    metrics: Metrics,
    /// Pay links are signed here, off the tokio workers, in arrival order.
    signing: SigningPool,
}

/// Whether a call may be repeated after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Never,
}

impl GatewayService {
    pub fn new(
        settings: &Settings,
        metrics: Metrics,
        signing: SigningPool,
    ) -> Result<Self, ClientError> {
        let client = AlipayClient::new(settings.alipay_config())?;
        Ok(GatewayService {
            server: ServerApi::new(settings, &client)?,
            client,
            gateway: settings.pay_link_gateway().clone(),
            notify_url: settings.notify_url.clone(),
            return_url: settings.return_url.clone(),
            pay_expiry: settings.pay_expiry,
            retry: settings.retry,
            metrics,
            signing,
        })
    }

    fn signer(&self) -> &RequestSigner {
        &self.client.config().signer
    }

    /// Runs one RPC: span with the request id, error mapping, logging, metrics.
    async fn handle<Req, Resp, F, Fut>(
        &self,
        rpc: &'static str,
        request: Request<Req>,
        call: F,
    ) -> Result<Response<Resp>, Status>
    where
        F: FnOnce(Req) -> Fut,
        Fut: Future<Output = Result<Resp, GatewayError>>,
    {
        let started = Instant::now();
        let id = RequestId::from_header_or_generate(request_id(request.metadata()));
        let span = tracing::info_span!("rpc", rpc, request_id = %id);
        let result = call(request.into_inner()).instrument(span.clone()).await;
        let elapsed = started.elapsed();
        // A `RequestId` is visible ASCII, so it is always a valid metadata value.
        let id_value = MetadataValue::try_from(id.as_str()).ok();
        span.in_scope(|| match result {
            Ok(message) => {
                self.metrics.rpc(rpc, Code::Ok, elapsed);
                debug!(elapsed_us = elapsed.as_micros() as u64, "answered");
                let mut response = Response::new(message);
                if let Some(value) = id_value {
                    response.metadata_mut().insert(REQUEST_ID_METADATA, value);
                }
                Ok(response)
            }
            Err(problem) => {
                let code = problem.code();
                self.metrics.rpc(rpc, code, elapsed);
                log_failure(&problem);
                let mut status = Status::from(problem);
                if let Some(value) = id_value {
                    status.metadata_mut().insert(REQUEST_ID_METADATA, value);
                }
                Err(status)
            }
        })
    }

    /// Calls Alipay, repeating a call that is safe to repeat after a retryable failure, with
    /// bounded exponential backoff. Every attempt is re-signed (fresh `timestamp`) and counted.
    async fn call_alipay<T, F, Fut>(
        &self,
        method: &'static str,
        repeat: Repeat,
        mut call: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let mut delays = match repeat {
            Repeat::Safe => self.retry.delays(),
            Repeat::Never => RetryPolicy::NONE.delays(),
        };
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let result = call().await;
            let outcome = call_outcome(&result);
            if outcome != "invalid" {
                self.metrics.signed(method);
            }
            self.metrics.alipay_call(method, outcome, started.elapsed());
            let delay = match &result {
                Err(problem) if problem.is_retryable() => delays.next(),
                _ => None,
            };
            let (Some(delay), Err(problem)) = (delay, &result) else {
                return result;
            };
            warn!(
                method,
                attempt,
                error = %problem,
                retry_in_ms = delay.as_millis() as u64,
                "alipay call failed, retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Signs a page or wap pay request on the signing pool and answers with its URL and form.
    async fn pay_link(
        &self,
        request: PayRequest,
        out_trade_no: String,
    ) -> Result<PayLinkResponse, GatewayError> {
        let method = match &request {
            PayRequest::Page(_) => "alipay.trade.page.pay",
            PayRequest::Wap(_) => "alipay.trade.wap.pay",
        };
        let signed = self.signing.sign(request).await?;
        self.metrics.signed(method);
        Ok(PayLinkResponse {
            url: signed.url(&self.gateway),
            form_html: signed.form_html(&self.gateway),
            out_trade_no,
        })
    }

    fn page_pay(&self, input: PayInput) -> Result<PagePay, GatewayError> {
        let out_trade_no = parse_out_trade_no(&input.out_trade_no)?;
        let total_amount = parse_amount("total_amount", &input.total_amount)?;
        // Whatever the caller names the order, the cashier gets a subject Alipay accepts: this is
        // the one place where Alipay's character rules are applied to it.
        let subject = Subject::for_cashier(&input.subject)?;
        // The one place where the caller's instant becomes Alipay's Beijing-time text.
        let time_expire = match &input.time_expire {
            Some(deadline) => Some(TimeExpire::at(
                payment_proto::instant(deadline).ok_or_else(|| {
                    GatewayError::invalid("time_expire", "is not a valid timestamp")
                })?,
            )),
            None => self
                .pay_expiry
                .and_then(|expiry| chrono::Duration::from_std(expiry).ok())
                .map(|expiry| TimeExpire::at(self.signer().clock().now() + expiry)),
        };
        let mut pay = PagePay::new(out_trade_no, total_amount, subject);
        pay.body = input.body;
        pay.time_expire = time_expire;
        pay.passback_params = input.passback_params.as_deref().map(quote_plus);
        pay.notify_url = input.notify_url.or_else(|| self.notify_url.clone());
        pay.return_url = input.return_url.or_else(|| self.return_url.clone());
        Ok(pay)
    }
}

/// What page and wap pay requests share.
struct PayInput {
    out_trade_no: String,
    total_amount: String,
    subject: String,
    body: Option<String>,
    time_expire: Option<prost_types::Timestamp>,
    return_url: Option<String>,
    notify_url: Option<String>,
    passback_params: Option<String>,
}

/// Alipay's Beijing-time text as the instant the proto carries; text that does not read stays
/// in `raw_json` only.
fn beijing_instant(text: Option<&str>) -> Option<prost_types::Timestamp> {
    let instant = alipay::time::parse_beijing(text?).ok()?;
    Some(payment_proto::timestamp(instant))
}

fn parse_out_trade_no(text: &str) -> Result<OutTradeNo, GatewayError> {
    if text.is_empty() {
        return Err(GatewayError::invalid("out_trade_no", "is required"));
    }
    Ok(OutTradeNo::parse(text)?)
}

fn parse_amount(field: &'static str, text: &str) -> Result<Amount, GatewayError> {
    text.parse::<Amount>()
        .map_err(|error| GatewayError::invalid(field, error.to_string()))
}

fn parse_out_request_no(text: &str) -> Result<OutRequestNo, GatewayError> {
    if text.is_empty() {
        return Err(GatewayError::invalid(
            "out_request_no",
            "is required (it identifies the refund, so a retry never refunds twice)",
        ));
    }
    Ok(OutRequestNo::parse(text)?)
}

/// `out_trade_no` and/or `trade_no`; at least one.
fn trade_ref(out_trade_no: &str, trade_no: &str) -> Result<TradeRef, GatewayError> {
    if out_trade_no.is_empty() && trade_no.is_empty() {
        return Err(GatewayError::invalid(
            "out_trade_no",
            "out_trade_no or trade_no is required",
        ));
    }
    let valid_trade_no =
        trade_no.len() <= 64 && trade_no.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid_trade_no {
        return Err(GatewayError::invalid(
            "trade_no",
            format!("must be Alipay's trade number (up to 64 letters or digits), got {trade_no:?}"),
        ));
    }
    Ok(TradeRef {
        out_trade_no: (!out_trade_no.is_empty())
            .then(|| OutTradeNo::parse(out_trade_no))
            .transpose()?,
        trade_no: (!trade_no.is_empty()).then(|| trade_no.to_owned()),
    })
}

/// Checks a server API request's fields (the builder's own rules) before anything is signed or
/// sent, so refused input never counts as an Alipay call.
fn checked<R: ApiRequest>(request: R) -> Result<R, GatewayError> {
    request.biz_content()?;
    Ok(request)
}

/// The metrics label of one Alipay call's result.
fn call_outcome<T>(result: &Result<T, ClientError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(ClientError::Alipay(error)) if error.is_unknown_outcome() => "unknown_outcome",
        Err(ClientError::Alipay(_)) => "refused",
        Err(ClientError::Unavailable(_)) => "unavailable",
        Err(ClientError::Untrusted(_)) => "untrusted",
        Err(ClientError::InvalidRequest(_)) => "invalid",
    }
}

/// Logs a failed RPC at the level its cause deserves.
fn log_failure(problem: &GatewayError) {
    match problem {
        GatewayError::InvalidArgument { field, problem } => {
            info!(field, %problem, "refused: invalid argument");
        }
        GatewayError::Refused(refusal) => {
            info!(
                code = %refusal.code,
                sub_code = %refusal.sub_code_text,
                sub_msg = %refusal.sub_msg,
                "alipay refused"
            );
        }
        GatewayError::UnsignedRefusal { code, sub_code } => {
            warn!(%code, %sub_code, "alipay refused without signing (configuration?)");
        }
        GatewayError::Unavailable(reason) => warn!(%reason, "alipay unavailable"),
        GatewayError::UnknownOutcome(refusal) => {
            warn!(code = %refusal.code, sub_code = %refusal.sub_code_text, "alipay outcome unknown");
        }
        GatewayError::Untrusted(ResponseError::BadSignature { reason, content }) => {
            // The content is what Alipay (or whoever answered) sent: kept for the investigation.
            error!(%reason, %content, "alipay response signature does not verify; not trusted");
        }
        GatewayError::Untrusted(other) => {
            error!(error = %other, "alipay response unusable; not trusted");
        }
        GatewayError::Internal(cause) => error!(%cause, "internal error"),
        GatewayError::NotCertificateMode => {
            warn!("certificate asked for, but the gateway is in public-key mode");
        }
    }
}

fn money_text(money: Option<alipay::Money>) -> Option<String> {
    money.map(|m| m.to_string())
}

#[tonic::async_trait]
impl PaymentGateway for GatewayService {
    async fn create_page_pay(
        &self,
        request: Request<CreatePagePayRequest>,
    ) -> Result<Response<PayLinkResponse>, Status> {
        self.handle("CreatePagePay", request, |input| async move {
            let pay = self.page_pay(PayInput {
                out_trade_no: input.out_trade_no,
                total_amount: input.total_amount,
                subject: input.subject,
                body: input.body,
                time_expire: input.time_expire,
                return_url: input.return_url,
                notify_url: input.notify_url,
                passback_params: input.passback_params,
            })?;
            let out_trade_no = pay.out_trade_no.to_string();
            self.pay_link(PayRequest::Page(pay), out_trade_no).await
        })
        .await
    }

    async fn create_wap_pay(
        &self,
        request: Request<CreateWapPayRequest>,
    ) -> Result<Response<PayLinkResponse>, Status> {
        self.handle("CreateWapPay", request, |input| async move {
            let page = self.page_pay(PayInput {
                out_trade_no: input.out_trade_no,
                total_amount: input.total_amount,
                subject: input.subject,
                body: input.body,
                time_expire: input.time_expire,
                return_url: input.return_url,
                notify_url: input.notify_url,
                passback_params: input.passback_params,
            })?;
            let pay = WapPay {
                page,
                quit_url: input.quit_url,
            };
            let out_trade_no = pay.page.out_trade_no.to_string();
            self.pay_link(PayRequest::Wap(pay), out_trade_no).await
        })
        .await
    }

    async fn query_trade(
        &self,
        request: Request<QueryTradeRequest>,
    ) -> Result<Response<QueryTradeResponse>, Status> {
        self.handle("QueryTrade", request, |input| async move {
            let query = checked(TradeQuery {
                trade: trade_ref(&input.out_trade_no, &input.trade_no)?,
            })?;
            let lookup = self
                .call_alipay("alipay.trade.query", Repeat::Safe, || {
                    self.server.query(&query)
                })
                .await?;
            Ok(match lookup {
                TradeLookup::NotExist => QueryTradeResponse {
                    exists: false,
                    out_trade_no: input.out_trade_no,
                    trade_no: input.trade_no,
                    ..QueryTradeResponse::default()
                },
                TradeLookup::Found(trade, node) => QueryTradeResponse {
                    exists: true,
                    trade_status: trade
                        .trade_status
                        .and_then(|status| TradeStatus::from_alipay(status.as_str()))
                        .unwrap_or(TradeStatus::Unspecified)
                        .into(),
                    trade_no: trade.trade_no.unwrap_or_default(),
                    out_trade_no: trade.out_trade_no.unwrap_or(input.out_trade_no),
                    total_amount: money_text(trade.total_amount).unwrap_or_default(),
                    receipt_amount: money_text(trade.receipt_amount),
                    buyer_pay_amount: money_text(trade.buyer_pay_amount),
                    buyer_logon_id: trade.buyer_logon_id,
                    buyer_user_id: trade.buyer_user_id,
                    buyer_open_id: trade.buyer_open_id,
                    send_pay_date: beijing_instant(trade.send_pay_date.as_deref()),
                    raw_json: node,
                },
            })
        })
        .await
    }

    async fn close_trade(
        &self,
        request: Request<CloseTradeRequest>,
    ) -> Result<Response<CloseTradeResponse>, Status> {
        self.handle("CloseTrade", request, |input| async move {
            let close = checked(TradeClose {
                trade: trade_ref(&input.out_trade_no, &input.trade_no)?,
            })?;
            let closed = self
                .call_alipay("alipay.trade.close", Repeat::Never, || {
                    self.server.close(&close)
                })
                .await?;
            Ok(match closed {
                None => CloseTradeResponse {
                    existed: false,
                    trade_no: input.trade_no,
                    out_trade_no: input.out_trade_no,
                },
                Some(result) => CloseTradeResponse {
                    existed: true,
                    trade_no: result.trade_no.unwrap_or(input.trade_no),
                    out_trade_no: result.out_trade_no.unwrap_or(input.out_trade_no),
                },
            })
        })
        .await
    }

    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResponse>, Status> {
        self.handle("Refund", request, |input| async move {
            let trade = trade_ref(&input.out_trade_no, &input.trade_no)?;
            let refund_amount = parse_amount("refund_amount", &input.refund_amount)?;
            let out_request_no = parse_out_request_no(&input.out_request_no)?;
            let refund = checked(TradeRefund {
                trade,
                refund_amount,
                out_request_no,
                refund_reason: input.refund_reason,
            })?;
            // Every attempt carries the same out_request_no: Alipay refunds it at most once.
            let (result, node) = self
                .call_alipay("alipay.trade.refund", Repeat::Safe, || {
                    self.server.refund(&refund)
                })
                .await?;
            info!(
                out_request_no = refund.out_request_no.as_str(),
                fund_change = result.fund_changed(),
                "refund answered"
            );
            Ok(RefundResponse {
                fund_change: result.fund_changed(),
                refund_fee: money_text(result.refund_fee).unwrap_or_default(),
                trade_no: result.trade_no.unwrap_or(input.trade_no),
                out_trade_no: result.out_trade_no.unwrap_or(input.out_trade_no),
                gmt_refund_pay: beijing_instant(result.gmt_refund_pay.as_deref()),
                raw_json: node,
            })
        })
        .await
    }

    async fn query_refund(
        &self,
        request: Request<QueryRefundRequest>,
    ) -> Result<Response<QueryRefundResponse>, Status> {
        self.handle("QueryRefund", request, |input| async move {
            let query = checked(RefundQuery {
                trade: trade_ref(&input.out_trade_no, &input.trade_no)?,
                out_request_no: parse_out_request_no(&input.out_request_no)?,
            })?;
            let (result, node) = self
                .call_alipay("alipay.trade.fastpay.refund.query", Repeat::Safe, || {
                    self.server.refund_query(&query)
                })
                .await?;
            Ok(QueryRefundResponse {
                // Alipay answers an unknown out_request_no with 10000 and no refund fields.
                exists: result.refund_status.is_some() || result.refund_amount.is_some(),
                refund_status: result.refund_status.unwrap_or_default(),
                refund_amount: money_text(result.refund_amount),
                total_amount: money_text(result.total_amount),
                out_request_no: query.out_request_no.as_str().to_owned(),
                raw_json: node,
            })
        })
        .await
    }

    async fn get_bill_download_url(
        &self,
        request: Request<GetBillDownloadUrlRequest>,
    ) -> Result<Response<GetBillDownloadUrlResponse>, Status> {
        self.handle("GetBillDownloadUrl", request, |input| async move {
            if !matches!(input.bill_type.as_str(), "trade" | "signcustomer") {
                return Err(GatewayError::invalid(
                    "bill_type",
                    format!(
                        "must be \"trade\" or \"signcustomer\", got {:?}",
                        input.bill_type
                    ),
                ));
            }
            let query = checked(BillDownloadUrlQuery {
                bill_type: input.bill_type,
                bill_date: input.bill_date,
            })?;
            let bill = self
                .call_alipay(
                    "alipay.data.dataservice.bill.downloadurl.query",
                    Repeat::Safe,
                    || self.server.bill_download_url(&query),
                )
                .await?;
            Ok(GetBillDownloadUrlResponse {
                bill_download_url: bill.bill_download_url,
            })
        })
        .await
    }

    async fn get_alipay_certificate(
        &self,
        request: Request<GetAlipayCertificateRequest>,
    ) -> Result<Response<GetAlipayCertificateResponse>, Status> {
        self.handle("GetAlipayCertificate", request, |input| async move {
            let sn = input.alipay_cert_sn;
            let well_formed = sn.len() == 32
                && sn
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !well_formed {
                return Err(GatewayError::invalid(
                    "alipay_cert_sn",
                    format!("must be 32 lowercase hex digits, got {sn:?}"),
                ));
            }
            if self.client.config().verifier.certificates().is_none() {
                return Err(GatewayError::NotCertificateMode);
            }
            let certificate = self
                .call_alipay("alipay.open.app.alipaycert.download", Repeat::Safe, || {
                    self.client.alipay_certificate(&sn)
                })
                .await?;
            Ok(GetAlipayCertificateResponse {
                alipay_cert_sn: certificate.sn,
                certificate_pem: certificate.file.to_pem(),
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trade_needs_a_reference() {
        assert!(matches!(
            trade_ref("", ""),
            Err(GatewayError::InvalidArgument {
                field: "out_trade_no",
                ..
            })
        ));
        assert!(matches!(
            trade_ref("", "2024-1"),
            Err(GatewayError::InvalidArgument {
                field: "trade_no",
                ..
            })
        ));
        let both = trade_ref("O_1", "2024051622001").unwrap();
        assert_eq!(both.out_trade_no.unwrap().as_str(), "O_1");
        assert_eq!(both.trade_no.as_deref(), Some("2024051622001"));
    }

    #[test]
    fn amounts_are_alipays() {
        assert_eq!(
            parse_amount("total_amount", "88.8").unwrap().to_string(),
            "88.80"
        );
        for bad in [
            "",
            "0",
            "0.00",
            "-1",
            "1.001",
            "1e3",
            "100000000.01",
            "８８",
        ] {
            assert!(
                matches!(
                    parse_amount("total_amount", bad),
                    Err(GatewayError::InvalidArgument {
                        field: "total_amount",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
