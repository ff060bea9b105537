//! Following Alipay's certificate rotations (certificate mode).
//!
//! The receiver cannot sign requests, so it cannot call `alipay.open.app.alipaycert.download`
//! itself. When a notification names an `alipay_cert_sn` it does not trust yet, it asks the
//! payment-gateway (`GetAlipayCertificate`) for that certificate, and trusts the answer only
//! after checking it **itself** against its own configured root bundle (validity, chain, and
//! Alipay's subject): the gateway is a delivery channel, the root bundle the only trust anchor.

use std::sync::Arc;

use alipay::cert::AlipayCertificates;
use alipay::time::{Clock, SystemClock};
use payment_proto::GatewayClient;
use payment_proto::v1::GetAlipayCertificateRequest;
use tonic::Code;
use tracing::{info, warn};

use crate::error::NotifyError;

/// Fetches and checks rotated Alipay certificates into the shared store.
#[derive(Debug, Clone)]
pub struct CertificateSource {
    gateway: GatewayClient,
    store: AlipayCertificates,
    /// One fetch at a time: a burst of notifications naming the new SN makes one call; the
    /// others find the certificate trusted once they get the lock.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

impl CertificateSource {
    pub fn new(gateway: GatewayClient, store: AlipayCertificates) -> Self {
        CertificateSource {
            gateway,
            store,
            fetching: Arc::default(),
        }
    }

    /// Makes the certificate with SN `sn` trusted, or says why it cannot be: the gateway
    /// unreachable is [`NotifyError::CertificateUnavailable`] (503, Alipay retries), a
    /// certificate that fails a check is [`NotifyError::UntrustedCertificate`] (never used).
    pub async fn ensure(&self, sn: &str, request_id: &str) -> Result<(), NotifyError> {
        if self.store.key(sn).is_some() {
            return Ok(());
        }
        let _one_at_a_time = self.fetching.lock().await;
        if self.store.key(sn).is_some() {
            return Ok(());
        }
        let untrusted = |reason: String| {
            warn!(alipay_cert_sn = sn, %reason, "refused a rotated alipay certificate");
            NotifyError::UntrustedCertificate {
                sn: sn.to_owned(),
                reason,
            }
        };
        let answer = self
            .gateway
            .get_alipay_certificate(
                request_id,
                GetAlipayCertificateRequest {
                    alipay_cert_sn: sn.to_owned(),
                },
            )
            .await
            .map_err(|status| match status.code() {
                Code::DataLoss | Code::InvalidArgument => {
                    untrusted(format!("the gateway refused it: {}", status.message()))
                }
                _ => NotifyError::CertificateUnavailable(format!(
                    "{:?}: {}",
                    status.code(),
                    status.message()
                )),
            })?;
        let trusted = self
            .store
            .trust(&answer.certificate_pem, SystemClock.now())
            .map_err(|error| untrusted(error.to_string()))?;
        if trusted.sn != sn {
            return Err(untrusted(format!(
                "the gateway answered with certificate {}",
                trusted.sn
            )));
        }
        info!(alipay_cert_sn = sn, "trusted a rotated alipay certificate");
        Ok(())
    }
}
