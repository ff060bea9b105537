//! Spawning a sandbox on port 0, a merchant that talks to it, and a notify endpoint that
//! answers as told. Keys are the vectors' TEST-ONLY keys (test-support).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use alipay::client::{AlipayClient, AlipayConfig};
use alipay::keys::{PrivateKey, PublicKey};
use alipay::request::{Gateway, OutTradeNo, PagePay, RequestSigner, SignedRequest, Subject};
use alipay::sign::SignType;
use alipay::time::{Clock, FixedClock, SystemClock};
use alipay_sandbox::{AppRegistration, Application, RunningSandbox, Settings};
use serde_json::Value;
use test_support::keys::private_key;
use test_support::services::local_listener;
use test_support::{Patience, SandboxApi, eventually_ok};
use tokio_util::sync::CancellationToken;

pub const APP_ID: &str = "2021971696296258";
pub const SELLER_ID: &str = "2088847604270121";

pub fn app_key() -> PrivateKey {
    private_key("app_private_pkcs1.pem")
}

pub fn alipay_key() -> PrivateKey {
    private_key("alipay_private_pkcs1.pem")
}

/// A sandbox and a merchant registered with it.
pub struct TestApp {
    pub sandbox: RunningSandbox,
    /// A browser: never follows redirects, so tests see where they point.
    pub http: reqwest::Client,
    /// The test API (`/sandbox/...`).
    pub api: SandboxApi,
    pub signer: RequestSigner,
    pub alipay_public_key: PublicKey,
}

/// Options for [`spawn`].
pub struct Options {
    pub time_scale: f64,
    pub clock: Option<FixedClock>,
    pub test_api: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            time_scale: 0.0001,
            clock: None,
            test_api: true,
        }
    }
}

pub async fn spawn() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(options: Options) -> TestApp {
    let clock: Arc<dyn Clock> = match &options.clock {
        Some(fixed) => Arc::new(fixed.clone()),
        None => Arc::new(SystemClock),
    };
    let settings = Settings::new(alipay_key())
        .with_app(AppRegistration::new(
            APP_ID,
            app_key().public_key(),
            SELLER_ID,
        ))
        .with_time_scale(options.time_scale)
        .with_clock(Arc::clone(&clock))
        .with_notify_timeout(Duration::from_secs(2))
        .with_test_api(options.test_api);
    let application =
        Application::build_with_listener(settings, local_listener(), CancellationToken::new())
            .await
            .unwrap();
    let alipay_public_key = application.alipay_public_key().clone();
    let sandbox = application.spawn();
    let signer =
        RequestSigner::new(APP_ID, app_key(), SignType::Rsa2).with_clock(Arc::clone(&clock));
    TestApp {
        api: SandboxApi::of(&sandbox),
        sandbox,
        http: test_support::services::browser(),
        signer,
        alipay_public_key,
    }
}

impl TestApp {
    pub fn gateway(&self) -> Gateway {
        Gateway::Custom(self.sandbox.gateway_url())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// The merchant's server-API client, pointed at the sandbox.
    pub fn client(&self) -> AlipayClient {
        self.client_with_timeout(Duration::from_secs(5))
    }

    pub fn client_with_timeout(&self, timeout: Duration) -> AlipayClient {
        AlipayClient::new(AlipayConfig {
            signer: self.signer.clone(),
            verifier: self.alipay_public_key.clone().into(),
            gateway: self.gateway(),
            timeout,
            connect_timeout: Duration::from_secs(2),
        })
        .unwrap()
    }

    /// A signed page-pay request.
    pub fn page_pay(
        &self,
        out_trade_no: &str,
        amount: &str,
        notify_url: Option<&str>,
    ) -> SignedRequest {
        let mut request = PagePay::new(
            OutTradeNo::parse(out_trade_no).unwrap(),
            amount.parse().unwrap(),
            Subject::parse("Rust 课程 <进阶> \"实战\"").unwrap(),
        );
        request.notify_url = notify_url.map(str::to_owned);
        request.return_url = Some("http://127.0.0.1:9/alipay/return".to_owned());
        self.signer.page_pay(&request).unwrap()
    }

    /// The buyer follows the pay link; returns the cashier page.
    pub async fn open_cashier(&self, request: &SignedRequest) -> String {
        let response = self
            .http
            .get(request.url(&self.gateway()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// The buyer presses Pay; returns the response (a 302 to return_url).
    pub async fn press_pay(&self, trade_no: &str) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/cashier/{trade_no}/pay")))
            .send()
            .await
            .unwrap()
    }

    /// Opens the cashier for a new trade and pays it; returns the trade number.
    pub async fn paid_trade(
        &self,
        out_trade_no: &str,
        amount: &str,
        notify_url: Option<&str>,
    ) -> String {
        let page = self
            .open_cashier(&self.page_pay(out_trade_no, amount, notify_url))
            .await;
        let trade_no = element(&page, "trade_no");
        assert_eq!(self.press_pay(&trade_no).await.status(), 302);
        trade_no
    }

    pub async fn trade(&self, out_trade_no: &str) -> Value {
        self.api
            .trade(out_trade_no)
            .await
            .unwrap_or_else(|error| panic!("trade {out_trade_no}: {error}"))
    }

    pub async fn put_faults(&self, faults: Value) {
        self.api.set_faults(&faults).await.unwrap();
    }

    /// Waits until the trade's notification `index` reaches `state`.
    pub async fn notification_state(&self, out_trade_no: &str, index: usize, state: &str) -> Value {
        let patience = Patience::new(Duration::from_secs(5), Duration::from_millis(10));
        let what = format!("notification {index} of {out_trade_no} is {state}");
        eventually_ok(&what, patience, || async {
            let trade = self.trade(out_trade_no).await;
            let notification = &trade["notifications"][index];
            if notification["state"] == state {
                Ok(notification.clone())
            } else {
                Err(notification.clone())
            }
        })
        .await
    }

    /// POSTs raw parameters to the gateway and returns the body text.
    pub async fn post_gateway(&self, body: String) -> String {
        let response = self
            .http
            .post(self.sandbox.gateway_url())
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

/// The text of the element with this id in one of the sandbox's pages.
pub fn element(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in {html}"))
        + marker.len();
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

/// The query part of a URL.
pub fn query_of(url: &str) -> &str {
    url.split_once('?').map(|(_, q)| q).unwrap_or("")
}

/// One request the notify endpoint received.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub at: Instant,
}

struct EndpointState {
    received: Arc<Mutex<Vec<Received>>>,
    answers: Vec<(u16, &'static str)>,
}

async fn answer(body: web::Bytes, state: web::Data<EndpointState>) -> HttpResponse {
    let mut log = state.received.lock().unwrap();
    log.push(Received {
        body: String::from_utf8(body.to_vec()).unwrap(),
        at: Instant::now(),
    });
    let (status, text) = state.answers[(log.len() - 1).min(state.answers.len() - 1)];
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body(text)
}

/// A merchant notify endpoint on port 0 that gives the listed answers in turn (the last one
/// from then on).
pub struct NotifyEndpoint {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl NotifyEndpoint {
    pub fn start(answers: Vec<(u16, &'static str)>) -> NotifyEndpoint {
        let listener = local_listener();
        let url = format!(
            "http://127.0.0.1:{}/alipay/notify",
            listener.local_addr().unwrap().port()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new(EndpointState {
            received: Arc::clone(&received),
            answers,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/alipay/notify", web::post().to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        NotifyEndpoint { url, received }
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn bodies(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// Waits until at least `count` requests arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let patience = Patience::new(Duration::from_secs(5), Duration::from_millis(5));
        let what = format!("{count} notifications arrived");
        eventually_ok(&what, patience, || async {
            match self.count() {
                arrived if arrived >= count => Ok(()),
                arrived => Err(format!("only {arrived}")),
            }
        })
        .await;
        self.received.lock().unwrap().clone()
    }
}
