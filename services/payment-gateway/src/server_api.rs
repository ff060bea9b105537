//! The protocol of the gateway's server calls (`ALIPAY_API_VERSION`): v2 (`gateway.do`, signed
//! form, signed response node) or v3 (`/v3/...`, signed headers, JSON). Both answer with the
//! alipay crate's [`ClientError`] and result types, so the RPCs, their error mapping and the
//! gRPC contract do not depend on the choice. Pay links are always v2: `alipay.trade.page.pay`
//! has no v3 form.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use alipay::client::{AlipayClient, ClientError, TradeLookup};
use alipay::request::{BillDownloadUrlQuery, RefundQuery, TradeClose, TradeQuery, TradeRefund};
use alipay::response::{BillDownloadUrl, RefundQueryResult, TradeCloseResult, TradeRefundResult};
use alipay::v3::{V3Client, V3Config, V3Signer, client::base_url};

use crate::settings::Settings;

/// Which Alipay protocol the server calls speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersion {
    /// `gateway.do`: what every Alipay app supports.
    #[default]
    V2,
    /// OpenAPI v3.
    V3,
}

impl ApiVersion {
    pub fn as_str(&self) -> &'static str {
        match self {
            ApiVersion::V2 => "v2",
            ApiVersion::V3 => "v3",
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `ALIPAY_API_VERSION` that is neither `v2` nor `v3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an API version: use v2 (gateway.do) or v3 (OpenAPI v3)")]
pub struct InvalidApiVersion(pub String);

impl FromStr for ApiVersion {
    type Err = InvalidApiVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "v2" => Ok(ApiVersion::V2),
            "v3" => Ok(ApiVersion::V3),
            _ => Err(InvalidApiVersion(text.to_owned())),
        }
    }
}

/// The server-call client of the configured protocol.
#[derive(Debug, Clone)]
/// Both boxed: each client is a few hundred bytes, and the gateway holds one.
pub enum ServerApi {
    V2(Box<AlipayClient>),
    V3(Box<V3Client>),
}

impl ServerApi {
    /// The v2 client is built anyway (pay links need its signer); v3 adds its own client on the
    /// same key, Alipay public key and gateway host.
    pub fn new(settings: &Settings, v2: &AlipayClient) -> Result<Self, ClientError> {
        tracing::info!(api_version = %settings.api_version, "alipay server calls");
        Ok(match settings.api_version {
            ApiVersion::V2 => ServerApi::V2(Box::new(v2.clone())),
            ApiVersion::V3 => {
                let mut signer =
                    V3Signer::new(settings.app_id.clone(), settings.app_private_key.clone())
                        .with_clock(Arc::clone(v2.config().signer.clock()));
                if let Some(sns) = &settings.cert_sns {
                    signer = signer.with_app_cert_sn(sns.app_cert_sn.clone());
                }
                ServerApi::V3(Box::new(V3Client::new(V3Config {
                    signer,
                    // The same store as v2's: certificates trusted on rotation count here too.
                    alipay_keys: Arc::new(settings.alipay.clone()),
                    base_url: base_url(&settings.gateway),
                    timeout: settings.http_timeout,
                    connect_timeout: settings.connect_timeout,
                    app_auth_token: None,
                    alipay_root_cert_sn: settings
                        .cert_sns
                        .as_ref()
                        .map(|sns| sns.alipay_root_cert_sn.clone()),
                    // Rotation downloads go through v2's method, into the same store.
                    rotation: settings.cert_sns.as_ref().map(|_| v2.clone()),
                })?))
            }
        })
    }

    pub async fn query(&self, request: &TradeQuery) -> Result<TradeLookup, ClientError> {
        match self {
            ServerApi::V2(client) => client.query(request).await,
            ServerApi::V3(client) => client.query(request).await,
        }
    }

    pub async fn close(
        &self,
        request: &TradeClose,
    ) -> Result<Option<TradeCloseResult>, ClientError> {
        match self {
            ServerApi::V2(client) => client.close(request).await,
            ServerApi::V3(client) => client.close(request).await,
        }
    }

    pub async fn refund(
        &self,
        request: &TradeRefund,
    ) -> Result<(TradeRefundResult, String), ClientError> {
        match self {
            ServerApi::V2(client) => client.refund(request).await,
            ServerApi::V3(client) => client.refund(request).await,
        }
    }

    pub async fn refund_query(
        &self,
        request: &RefundQuery,
    ) -> Result<(RefundQueryResult, String), ClientError> {
        match self {
            ServerApi::V2(client) => client.refund_query(request).await,
            ServerApi::V3(client) => client.refund_query(request).await,
        }
    }

    pub async fn bill_download_url(
        &self,
        request: &BillDownloadUrlQuery,
    ) -> Result<BillDownloadUrl, ClientError> {
        match self {
            ServerApi::V2(client) => client.bill_download_url(request).await,
            ServerApi::V3(client) => client.bill_download_url(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use common::config::Env;

    const APP_PRIVATE: &str =
        include_str!("../../../crates/alipay/tests/vectors/keys/app_private_pkcs1.pem");
    const ALIPAY_PUBLIC: &str =
        include_str!("../../../crates/alipay/tests/vectors/keys/alipay_public.pem");

    fn from_env(extra: &[(&'static str, &'static str)]) -> Result<Settings, String> {
        let mut pairs = vec![
            ("ALIPAY_APP_ID", "2021000000000001"),
            ("ALIPAY_APP_PRIVATE_KEY", APP_PRIVATE),
            ("ALIPAY_PUBLIC_KEY", ALIPAY_PUBLIC),
        ];
        pairs.extend_from_slice(extra);
        Settings::from_env(&Env::from_pairs(pairs)).map_err(|e| e.to_string())
    }

    #[test]
    fn alipay_api_version_is_read_and_checked() {
        assert_eq!(from_env(&[]).unwrap().api_version, ApiVersion::V2);
        let v3 = from_env(&[("ALIPAY_API_VERSION", "v3")]).unwrap();
        assert_eq!(v3.api_version, ApiVersion::V3);
        let bogus = from_env(&[("ALIPAY_API_VERSION", "v4")]).unwrap_err();
        assert!(bogus.contains("ALIPAY_API_VERSION"), "{bogus}");
        let sha1 =
            from_env(&[("ALIPAY_API_VERSION", "v3"), ("ALIPAY_SIGN_TYPE", "RSA")]).unwrap_err();
        assert!(sha1.contains("RSA2"), "{sha1}");
    }

    #[test]
    fn versions_parse_loosely_and_refuse_the_rest() {
        assert_eq!("v3".parse(), Ok(ApiVersion::V3));
        assert_eq!(" V2 ".parse(), Ok(ApiVersion::V2));
        assert!("3".parse::<ApiVersion>().is_err());
        assert_eq!(ApiVersion::default(), ApiVersion::V2);
    }
}
