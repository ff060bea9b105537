//! Spawns an in-process alipay-sandbox and the real gateway in front of it, both on port 0
//! (test-support), and a typed client. Keys are the alipay crate's TEST-ONLY vectors.
//!
//! [`Proxy`] sits between the gateway and the sandbox when a test needs Alipay's answer changed
//! (a tampered signature) or held (a call in flight during shutdown).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alipay::keys::{PrivateKey, PublicKey};
use alipay_sandbox::{AppRegistration, RunningSandbox};
use payment_gateway::{RetryPolicy, RunningGateway, Settings};
use payment_proto::GatewayClient;
use payment_proto::v1::CreatePagePayRequest;
use serde_json::Value;
use test_support::SandboxApi;
use test_support::keys::{private_key, vector_text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

pub use test_support::keys::{APP_ID, SELLER_ID, alipay_key};
pub use test_support::services::local_listener;

pub const REQUEST_ID: &str = "test-request-1";

/// A TEST-ONLY key file of the alipay crate's vectors, as text.
pub fn key_text(file: &str) -> String {
    vector_text(&format!("keys/{file}"))
}

/// Our app's private key (TEST-ONLY), in PKCS#1.
pub fn app_key() -> PrivateKey {
    private_key("app_private_pkcs1.pem")
}

pub fn alipay_public_key() -> PublicKey {
    alipay_key().public_key()
}

pub async fn sandbox() -> RunningSandbox {
    test_support::services::spawn_sandbox(
        alipay_sandbox::Settings::new(alipay_key())
            .with_app(AppRegistration::new(
                APP_ID,
                app_key().public_key(),
                SELLER_ID,
            ))
            .with_time_scale(0.0001),
    )
    .await
}

/// Settings for the gateway against `gateway_url`, fast retries, short timeouts, in the
/// test binary's protocol (`crate::API_VERSION`: the v3 binary runs these same tests over v3).
pub fn settings(gateway_url: &str) -> Settings {
    Settings::new(APP_ID, app_key(), alipay_public_key(), gateway_url)
        .with_api_version(crate::API_VERSION)
        .with_notify_url("http://127.0.0.1:9/alipay/notify")
        .with_return_url("http://127.0.0.1:9/order/success/")
        .with_retry(RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(10),
        })
        .with_http_timeouts(Duration::from_secs(3), Duration::from_secs(1))
        .with_shutdown_timeout(Duration::from_secs(5))
}

pub struct TestApp {
    pub client: GatewayClient,
    /// A browser: never follows redirects.
    pub http: reqwest::Client,
    pub sandbox_api: SandboxApi,
    pub metrics_url: String,
    pub gateway: RunningGateway,
    pub sandbox: RunningSandbox,
    pub proxy: Option<Proxy>,
}

/// The gateway against a fresh sandbox with [`settings`].
pub async fn spawn() -> TestApp {
    spawn_with(|settings| settings).await
}

/// The gateway against a fresh sandbox, settings adjusted by `configure`.
pub async fn spawn_with(configure: impl FnOnce(Settings) -> Settings) -> TestApp {
    let sandbox = sandbox().await;
    let settings = configure(settings(&sandbox.gateway_url()));
    spawn_gateway(settings, sandbox, None).await
}

/// The gateway talking to the sandbox through a [`Proxy`] in `mode`.
pub async fn spawn_behind_proxy(
    mode: ProxyMode,
    configure: impl FnOnce(Settings) -> Settings,
) -> TestApp {
    let sandbox = sandbox().await;
    let proxy = Proxy::start(sandbox.gateway_url(), mode).await;
    let settings = configure(settings(&proxy.gateway_url()));
    spawn_gateway(settings, sandbox, Some(proxy)).await
}

pub async fn spawn_gateway(
    settings: Settings,
    sandbox: RunningSandbox,
    proxy: Option<Proxy>,
) -> TestApp {
    let (gateway, metrics_url) = test_support::services::spawn_gateway_with_metrics(settings).await;
    let client = GatewayClient::connect(&gateway.url(), Duration::from_secs(10)).unwrap();
    TestApp {
        client,
        http: test_support::services::browser(),
        sandbox_api: SandboxApi::of(&sandbox),
        metrics_url,
        gateway,
        sandbox,
        proxy,
    }
}

/// A unique merchant order number.
pub fn order_no(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn page_pay(out_trade_no: &str, amount: &str) -> CreatePagePayRequest {
    CreatePagePayRequest {
        out_trade_no: out_trade_no.into(),
        total_amount: amount.into(),
        subject: "Rust 课程".into(),
        ..CreatePagePayRequest::default()
    }
}

impl TestApp {
    /// A signed pay link that the buyer opened (the sandbox, like Alipay, creates the trade then).
    pub async fn opened_trade(&self, amount: &str) -> String {
        let out_trade_no = order_no("OPEN");
        let link = self
            .client
            .create_page_pay(REQUEST_ID, page_pay(&out_trade_no, amount))
            .await
            .unwrap();
        let cashier = self.http.get(&link.url).send().await.unwrap();
        assert_eq!(cashier.status().as_u16(), 200);
        let page = cashier.text().await.unwrap();
        assert!(page.contains(&out_trade_no), "not a cashier page: {page}");
        out_trade_no
    }

    /// A trade the buyer paid.
    pub async fn paid_trade(&self, amount: &str) -> String {
        let out_trade_no = self.opened_trade(amount).await;
        self.sandbox_api.pay(&out_trade_no).await.unwrap();
        out_trade_no
    }

    /// The sandbox's view of a trade.
    pub async fn sandbox_trade(&self, out_trade_no: &str) -> Value {
        self.sandbox_api.trade(out_trade_no).await.unwrap()
    }

    pub async fn set_faults(&self, faults: Value) {
        self.sandbox_api.set_faults(&faults).await.unwrap();
    }

    /// The faults in force, counts as left.
    pub async fn faults(&self) -> Value {
        self.sandbox_api.faults().await.unwrap()
    }

    pub async fn clear_faults(&self) {
        self.sandbox_api.clear_faults().await.unwrap();
    }

    pub async fn ops(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.metrics_url))
            .send()
            .await
            .unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.ops("/metrics").await.text().await.unwrap()
    }
}

/// What the proxy does with each gateway request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// Passes the answer on with one character of the signed node changed.
    Tamper,
    /// Waits for [`Proxy::release`] before forwarding.
    Hold,
}

/// A one-request-per-connection HTTP/1.1 proxy in front of the sandbox: `gateway.do` (v2) and
/// `/v3/...` alike (method, target, body and the headers that matter are passed on both ways).
pub struct Proxy {
    port: u16,
    /// Notified when a request arrived.
    pub arrived: Arc<Notify>,
    release: Arc<Notify>,
    pub requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: String, mode: ProxyMode) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let arrived = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let requests = Arc::new(AtomicUsize::new(0));
        let upstream_client = reqwest::Client::new();
        let task = {
            let (arrived, release, requests) = (arrived.clone(), release.clone(), requests.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((mut stream, _)) = listener.accept().await else {
                        return;
                    };
                    let (arrived, release, requests) =
                        (arrived.clone(), release.clone(), requests.clone());
                    let upstream = upstream.clone();
                    let upstream_client = upstream_client.clone();
                    tokio::spawn(async move {
                        let Some(request) = read_request(&mut stream).await else {
                            return;
                        };
                        requests.fetch_add(1, Ordering::SeqCst);
                        arrived.notify_one();
                        if mode == ProxyMode::Hold {
                            release.notified().await;
                        }
                        let base = upstream.strip_suffix("/gateway.do").unwrap_or(&upstream);
                        let method =
                            reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
                        let mut forward =
                            upstream_client.request(method, format!("{base}{}", request.target));
                        for (name, value) in &request.headers {
                            forward = forward.header(name, value);
                        }
                        let response = forward.body(request.body).send().await.unwrap();
                        let status = response.status();
                        let mut head = format!(
                            "HTTP/1.1 {} {}\r\n",
                            status.as_u16(),
                            status.canonical_reason().unwrap_or("")
                        );
                        for (name, value) in response.headers() {
                            let name = name.as_str();
                            if name == "content-type" || name.starts_with("alipay-") {
                                head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
                            }
                        }
                        let answer = response.text().await.unwrap();
                        let answer = match mode {
                            ProxyMode::Tamper => tamper(&answer),
                            ProxyMode::Hold => answer,
                        };
                        head.push_str(&format!(
                            "content-length: {}\r\nconnection: close\r\n\r\n",
                            answer.len()
                        ));
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(answer.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
            })
        };
        Proxy {
            port,
            arrived,
            release,
            requests,
            task,
        }
    }

    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}/gateway.do", self.port)
    }

    /// Lets held requests through.
    pub fn release(&self) {
        self.release.notify_waiters();
        self.release.notify_one();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Changes the first `"msg":"` value (v2) or `"message":"` value (a v3 error body) by one
/// character: still valid JSON, still carrying its signature, but no longer what Alipay signed.
pub fn tamper(answer: &str) -> String {
    for field in ["\"msg\":\"", "\"message\":\""] {
        if answer.contains(field) {
            return answer.replacen(field, &format!("{field}X"), 1);
        }
    }
    answer.replacen("\":\"", "\":\"X", 1)
}

/// One request as the proxy received it.
struct ProxiedRequest {
    method: String,
    /// Path and query exactly as received (v3 signs them as sent).
    target: String,
    /// Headers passed on: the ones either protocol reads.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request: request line, headers, then `content-length` bytes.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<ProxiedRequest> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (
        request_line.next()?.to_owned(),
        request_line.next()?.to_owned(),
    );
    let mut headers = Vec::new();
    let mut length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_owned());
        if name == "content-length" {
            length = value.parse().ok()?;
        } else if matches!(name.as_str(), "content-type" | "authorization" | "accept")
            || name.starts_with("alipay-")
        {
            headers.push((name, value));
        }
    }
    while buffer.len() < header_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    Some(ProxiedRequest {
        method,
        target,
        headers,
        body: buffer[header_end..header_end + length].to_vec(),
    })
}
