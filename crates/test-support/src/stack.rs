//! What the order service talks to, wired the same way for the order service's tests and the
//! end-to-end tests: Alipay (the sandbox), the payment-gateway in front of it and, when asked,
//! a notify-receiver the sandbox notifies, which publishes to this stack's own exchange; plus a
//! database and RabbitMQ names of the stack's own, removed when it is dropped.
//!
//! ```text
//! order ──gRPC──▶ payment-gateway ──HTTP──▶ alipay-sandbox
//!   ▲                                            │ signed notification
//!   └──AMQP── RabbitMQ ◀──confirmed── notify-receiver ◀┘
//! ```

use std::time::Duration;

use alipay_sandbox::{AppRegistration, RunningSandbox};
use payment_gateway::{ApiVersion, RetryPolicy, RunningGateway};

use crate::keys::{self, APP_ID, CERT_APP_ID, CERT_SELLER_ID, SELLER_ID};
use crate::sandbox_api::SandboxApi;
use crate::services::{
    RunningReceiver, local_listener, order_env, receiver_env, spawn_gateway, spawn_sandbox,
};
use crate::{TestDatabase, TestTopology};

/// Where notifications go when no receiver runs: a port nothing listens on (discard).
const NOWHERE_NOTIFY_URL: &str = "http://127.0.0.1:9/alipay/notify";

/// How the stack is set up.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Certificate mode (公钥证书) with AES content encryption on every part, on the alipay
    /// crate's TEST-ONLY PKI (app [`CERT_APP_ID`]); otherwise public-key mode (app [`APP_ID`]).
    pub certificate_mode: bool,
    /// The sandbox's clock for notification retries: 1 = Alipay's schedule (4 min, 10 min, …).
    pub sandbox_time_scale: f64,
    /// The protocol of the gateway's server calls (`ALIPAY_API_VERSION`).
    pub api_version: ApiVersion,
    /// Run a notify-receiver and give its URL to the gateway as `notify_url`.
    pub receiver: bool,
    /// The gateway's `return_url` (where the buyer's browser goes after paying).
    pub return_url: String,
    /// The gateway's whole-call timeout towards the sandbox (its default otherwise).
    pub gateway_http_timeout: Option<Duration>,
    /// The gateway's retries of idempotent calls (its default otherwise).
    pub gateway_retry: Option<RetryPolicy>,
}

impl Default for StackConfig {
    fn default() -> Self {
        Self {
            certificate_mode: false,
            sandbox_time_scale: 1.0,
            api_version: ApiVersion::V2,
            receiver: false,
            return_url: "http://127.0.0.1:9/order/success/".to_owned(),
            gateway_http_timeout: None,
            gateway_retry: None,
        }
    }
}

/// The running stack. Services stop, and the names and database go, when it is dropped.
#[derive(Debug)]
pub struct Stack {
    /// Our app at Alipay: [`APP_ID`], or [`CERT_APP_ID`] in certificate mode.
    pub app_id: &'static str,
    pub seller_id: &'static str,
    pub sandbox: RunningSandbox,
    pub sandbox_api: SandboxApi,
    /// `None` once [`Stack::stop`] stopped it.
    pub gateway: Option<RunningGateway>,
    pub receiver: Option<RunningReceiver>,
    /// What the gateway hands Alipay as `notify_url`.
    pub notify_url: String,
    // Last, so they are removed after the services above stopped.
    pub topology: TestTopology,
    pub database: TestDatabase,
}

impl Stack {
    /// Starts the stack; its database is named `<database_prefix>_<uuid>`.
    pub async fn start(database_prefix: &str, config: StackConfig) -> Self {
        common::telemetry::init();
        let database = TestDatabase::create(database_prefix).await;
        let topology = TestTopology::new();
        let (app_id, seller_id) = if config.certificate_mode {
            (CERT_APP_ID, CERT_SELLER_ID)
        } else {
            (APP_ID, SELLER_ID)
        };

        // Alipay, which knows our app's public key (and, in certificate mode, its certificate,
        // Alipay's PKI and the AES key).
        let mut sandbox_settings = alipay_sandbox::Settings::new(keys::alipay_key())
            .with_time_scale(config.sandbox_time_scale);
        let app_key = if config.certificate_mode {
            sandbox_settings = sandbox_settings
                .with_app(keys::cert_app_registration(Some(keys::aes_key())))
                .with_pki(keys::alipay_pki(&[(
                    "certs/alipayCertPublicKey_RSA2_rotated.crt",
                    "alipay_rotated",
                )]));
            keys::pki_key("app")
        } else {
            let key = keys::app_key();
            sandbox_settings = sandbox_settings.with_app(AppRegistration::new(
                APP_ID,
                key.public_key(),
                SELLER_ID,
            ));
            key
        };
        let sandbox = spawn_sandbox(sandbox_settings).await;
        let alipay_public_key = sandbox.alipay_public_key().clone();

        // The receiver's port first: the gateway hands its URL to Alipay.
        let receiver_listener = config.receiver.then(local_listener);
        let notify_url = receiver_listener.as_ref().map_or_else(
            || NOWHERE_NOTIFY_URL.to_owned(),
            |listener| {
                format!(
                    "http://127.0.0.1:{}/alipay/notify",
                    listener.local_addr().unwrap().port()
                )
            },
        );

        let mut gateway_settings = payment_gateway::Settings::new(
            app_id,
            app_key,
            alipay_public_key.clone(),
            sandbox.gateway_url(),
        )
        .with_notify_url(notify_url.clone())
        .with_return_url(config.return_url.clone())
        .with_api_version(config.api_version);
        if config.certificate_mode {
            gateway_settings = gateway_settings
                .with_certificates(&keys::certificate_texts())
                .unwrap()
                .with_encrypt_key(keys::aes_key());
        }
        if let Some(timeout) = config.gateway_http_timeout {
            gateway_settings = gateway_settings
                .with_http_timeouts(timeout, payment_gateway::settings::DEFAULT_CONNECT_TIMEOUT);
        }
        if let Some(retry) = config.gateway_retry {
            gateway_settings = gateway_settings.with_retry(retry);
        }
        let gateway = spawn_gateway(gateway_settings).await;

        // notify-receiver, publishing to this stack's exchange. In certificate mode it holds
        // Alipay's certificate and the root bundle, and asks the gateway for a rotated one.
        let receiver = match receiver_listener {
            Some(listener) => {
                let mut env = receiver_env(&topology.exchange, app_id);
                env.push(("ALIPAY_SELLER_ID", seller_id.to_owned()));
                if config.certificate_mode {
                    env.extend([
                        (
                            "ALIPAY_PUBLIC_CERT_FILE",
                            keys::vector_path(keys::ALIPAY_CERT),
                        ),
                        ("ALIPAY_ROOT_CERT_FILE", keys::vector_path(keys::ROOT_CERT)),
                        ("PAYMENT_GATEWAY_URL", gateway.url()),
                    ]);
                } else {
                    env.push(("ALIPAY_PUBLIC_KEY", alipay_public_key.to_pem()));
                }
                Some(RunningReceiver::start(env, listener).await)
            }
            None => None,
        };

        Self {
            app_id,
            seller_id,
            sandbox_api: SandboxApi::of(&sandbox),
            sandbox,
            gateway: Some(gateway),
            receiver,
            notify_url,
            topology,
            database,
        }
    }

    /// The gateway's gRPC URL.
    pub fn gateway_url(&self) -> String {
        self.gateway
            .as_ref()
            .expect("the gateway was stopped")
            .url()
    }

    /// The order service's variables for this stack (database, names, gateway, app); a harness
    /// appends its own.
    pub fn order_env(&self, jwt_secret: &str) -> Vec<(&'static str, String)> {
        order_env(
            self.database.url(),
            self.topology.prefix(),
            &self.gateway_url(),
            jwt_secret,
            self.app_id,
        )
    }

    /// Stops the receiver and the gateway gracefully and waits until they have.
    pub async fn stop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            receiver.shutdown.cancel();
            let _ = receiver.server.await;
        }
        if let Some(gateway) = self.gateway.take() {
            gateway.stop().await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            receiver.shutdown.cancel();
            receiver.server.abort();
        }
    }
}
