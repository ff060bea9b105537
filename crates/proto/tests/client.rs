//! `GatewayClient` against an in-process mock gateway on port 0.

// Helpers outside `#[test]` functions are not covered by clippy.toml's allow-*-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use payment_proto::v1::payment_gateway_server::{PaymentGateway, PaymentGatewayServer};
use payment_proto::v1::{
    AlipayErrorDetail, CloseTradeRequest, CloseTradeResponse, CreatePagePayRequest,
    CreateWapPayRequest, GetAlipayCertificateRequest, GetAlipayCertificateResponse,
    GetBillDownloadUrlRequest, GetBillDownloadUrlResponse, PayLinkResponse, QueryRefundRequest,
    QueryRefundResponse, QueryTradeRequest, QueryTradeResponse, RefundRequest, RefundResponse,
    TradeStatus,
};
use payment_proto::{FILE_DESCRIPTOR_SET, GatewayClient, alipay_error_detail, request_id};
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// Each call's RPC name and the request id it carried, in order.
type Seen = Arc<Mutex<Vec<(&'static str, Option<String>)>>>;

/// A gateway that records which request id each call carried.
#[derive(Debug, Default, Clone)]
struct MockGateway {
    seen: Seen,
}

impl MockGateway {
    fn record<T>(&self, rpc: &'static str, request: &Request<T>) {
        let id = request_id(request.metadata()).map(str::to_owned);
        self.seen.lock().unwrap().push((rpc, id));
    }

    fn refusal() -> AlipayErrorDetail {
        AlipayErrorDetail {
            code: "40004".into(),
            msg: "Business Failed".into(),
            sub_code: "ACQ.TRADE_HAS_FINISHED".into(),
            sub_msg: "交易已完结".into(),
        }
    }
}

#[tonic::async_trait]
impl PaymentGateway for MockGateway {
    async fn create_page_pay(
        &self,
        request: Request<CreatePagePayRequest>,
    ) -> Result<Response<PayLinkResponse>, Status> {
        self.record("create_page_pay", &request);
        let out_trade_no = request.into_inner().out_trade_no;
        Ok(Response::new(PayLinkResponse {
            url: format!("https://sandbox.example/gateway.do?out_trade_no={out_trade_no}"),
            form_html: "<form></form>".into(),
            out_trade_no,
        }))
    }

    async fn create_wap_pay(
        &self,
        request: Request<CreateWapPayRequest>,
    ) -> Result<Response<PayLinkResponse>, Status> {
        self.record("create_wap_pay", &request);
        Ok(Response::new(PayLinkResponse {
            out_trade_no: request.into_inner().out_trade_no,
            ..PayLinkResponse::default()
        }))
    }

    async fn query_trade(
        &self,
        request: Request<QueryTradeRequest>,
    ) -> Result<Response<QueryTradeResponse>, Status> {
        self.record("query_trade", &request);
        let mut response = QueryTradeResponse {
            exists: true,
            out_trade_no: request.into_inner().out_trade_no,
            total_amount: "88.88".into(),
            ..QueryTradeResponse::default()
        };
        response.set_trade_status(TradeStatus::TradeSuccess);
        Ok(Response::new(response))
    }

    async fn close_trade(
        &self,
        request: Request<CloseTradeRequest>,
    ) -> Result<Response<CloseTradeResponse>, Status> {
        self.record("close_trade", &request);
        Ok(Response::new(CloseTradeResponse::default()))
    }

    async fn refund(
        &self,
        request: Request<RefundRequest>,
    ) -> Result<Response<RefundResponse>, Status> {
        self.record("refund", &request);
        Err(Self::refusal().into_status())
    }

    async fn query_refund(
        &self,
        request: Request<QueryRefundRequest>,
    ) -> Result<Response<QueryRefundResponse>, Status> {
        self.record("query_refund", &request);
        Ok(Response::new(QueryRefundResponse::default()))
    }

    async fn get_bill_download_url(
        &self,
        request: Request<GetBillDownloadUrlRequest>,
    ) -> Result<Response<GetBillDownloadUrlResponse>, Status> {
        self.record("get_bill_download_url", &request);
        if request.get_ref().bill_date == "slow" {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Ok(Response::new(GetBillDownloadUrlResponse::default()))
    }

    async fn get_alipay_certificate(
        &self,
        request: Request<GetAlipayCertificateRequest>,
    ) -> Result<Response<GetAlipayCertificateResponse>, Status> {
        self.record("get_alipay_certificate", &request);
        Ok(Response::new(GetAlipayCertificateResponse::default()))
    }
}

/// Serves the mock on 127.0.0.1:0 and returns its address.
async fn spawn_mock(mock: MockGateway) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(PaymentGatewayServer::new(mock))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    addr
}

fn client_for(addr: SocketAddr, timeout: Duration) -> GatewayClient {
    GatewayClient::connect(&format!("http://{addr}"), timeout).unwrap()
}

#[tokio::test]
async fn every_call_carries_the_request_id() {
    // Arrange
    let mock = MockGateway::default();
    let client = client_for(spawn_mock(mock.clone()).await, Duration::from_secs(5));

    // Act
    let link = client
        .create_page_pay(
            "req-1",
            CreatePagePayRequest {
                out_trade_no: "T-1".into(),
                total_amount: "88.88".into(),
                subject: "course".into(),
                ..CreatePagePayRequest::default()
            },
        )
        .await
        .unwrap();
    client
        .create_wap_pay("req-2", CreateWapPayRequest::default())
        .await
        .unwrap();
    let trade = client
        .query_trade(
            "req-3",
            QueryTradeRequest {
                out_trade_no: "T-1".into(),
                ..QueryTradeRequest::default()
            },
        )
        .await
        .unwrap();
    client
        .close_trade("req-4", CloseTradeRequest::default())
        .await
        .unwrap();
    let _refused = client
        .refund("req-5", RefundRequest::default())
        .await
        .unwrap_err();
    client
        .query_refund("req-6", QueryRefundRequest::default())
        .await
        .unwrap();
    client
        .get_bill_download_url("req-7", GetBillDownloadUrlRequest::default())
        .await
        .unwrap();

    // Assert
    assert!(link.url.ends_with("out_trade_no=T-1"), "{}", link.url);
    assert!(trade.exists);
    assert_eq!(trade.trade_status(), TradeStatus::TradeSuccess);
    assert_eq!(trade.total_amount, "88.88");
    let seen = mock.seen.lock().unwrap().clone();
    let expected: Vec<(&str, Option<String>)> = [
        "create_page_pay",
        "create_wap_pay",
        "query_trade",
        "close_trade",
        "refund",
        "query_refund",
        "get_bill_download_url",
    ]
    .into_iter()
    .enumerate()
    .map(|(i, rpc)| (rpc, Some(format!("req-{}", i + 1))))
    .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn alipay_refusals_come_back_with_their_details() {
    let client = client_for(
        spawn_mock(MockGateway::default()).await,
        Duration::from_secs(5),
    );

    let status = client
        .refund(
            "req-1",
            RefundRequest {
                out_trade_no: "T-1".into(),
                refund_amount: "1.00".into(),
                out_request_no: "R-1".into(),
                ..RefundRequest::default()
            },
        )
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(alipay_error_detail(&status), Some(MockGateway::refusal()));
}

#[tokio::test]
async fn an_unusable_request_id_is_refused_before_any_call() {
    let mock = MockGateway::default();
    let client = client_for(spawn_mock(mock.clone()).await, Duration::from_secs(5));

    let status = client
        .query_trade("bad\nid", QueryTradeRequest::default())
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(mock.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn connecting_is_lazy_and_an_absent_gateway_is_unavailable() {
    // A port that was just free: nothing listens on it any more.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = client_for(addr, Duration::from_secs(2));

    let status = client
        .query_trade("req-1", QueryTradeRequest::default())
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn a_slow_gateway_is_a_deadline_exceeded() {
    let client = client_for(
        spawn_mock(MockGateway::default()).await,
        Duration::from_millis(300),
    );

    let status = client
        .get_bill_download_url(
            "req-1",
            GetBillDownloadUrlRequest {
                bill_type: "trade".into(),
                bill_date: "slow".into(),
            },
        )
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[test]
fn the_descriptor_set_describes_the_service_for_reflection() {
    let set = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let file = set
        .file
        .iter()
        .find(|f| f.package() == "payment.v1")
        .expect("payment.v1 is in the set");
    let service = &file.service[0];
    assert_eq!(service.name(), "PaymentGateway");
    let methods: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "CreatePagePay",
            "CreateWapPay",
            "QueryTrade",
            "CloseTrade",
            "Refund",
            "QueryRefund",
            "GetBillDownloadUrl",
            "GetAlipayCertificate"
        ]
    );
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("tonic-reflection accepts the set");
}

#[test]
fn the_metadata_key_is_the_shared_request_id_header() {
    assert_eq!(
        payment_proto::REQUEST_ID_METADATA,
        common::telemetry::REQUEST_ID_HEADER
    );
}
