//! OpenAPI v3: `/v3/alipay/...`, JSON in and out, the merchant's signature in the
//! `Authorization` header, ours in `alipay-timestamp` / `alipay-nonce` / `alipay-signature`.
//!
//! The same trades and rules as `/gateway.do`: a v3 request is authenticated here, then turned
//! into the gateway's [`Authenticated`] request and answered by the same server API code; the
//! answer node becomes a v3 body (success: the business fields, HTTP 200; refusal: HTTP 4xx/5xx
//! with `{"code","message"}`, where `code` is the v2 `sub_code` spelling, so clients of both
//! protocols see the same codes).
//!
//! Authentication, in order; each failure is HTTP 401, **unsigned** (like `/gateway.do`, Alipay
//! does not sign for a caller it has not authenticated):
//! 1. the header parses (`ALIPAY-SHA256withRSA …,sign=…`): `isv.missing-signature` otherwise;
//! 2. the app is registered: `isv.invalid-app-id`;
//! 3. `timestamp` is within the tolerance of the sandbox's clock (`SANDBOX_TIMESTAMP_TOLERANCE`,
//!    30 min by default, shared with v2's `timestamp`): `isv.invalid-timestamp`;
//! 4. the signature verifies with the app public key over the request as received (method,
//!    raw path and query, exact body, `alipay-app-auth-token`): `isv.invalid-signature`;
//! 5. the nonce was not seen before for this app within the replay window:
//!    `isv.repeated-request`. The window is the timestamp tolerance: a nonce is remembered until
//!    its request's timestamp leaves the tolerance, after which step 3 refuses the replay anyway,
//!    so memory stays bounded. Only authenticated nonces are remembered (a forger cannot burn
//!    a merchant's nonces). Alipay documents no window of its own (see the vectors' README).
//!
//! Faults: the server-API faults of `PUT /sandbox/faults` apply here exactly as on v2
//! (`fail_5xx`: 503 without processing; `timeout_ms`: processed, then answered late); a
//! tampered signature is tested through a proxy, as on v2.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use actix_web::{HttpRequest, HttpResponse, web};
use alipay::sign::SignType;
use alipay::v3::sign::{self as v3sign, RequestParts};
use serde_json::{Map, Value};

use crate::gateway::api;
use crate::gateway::biz::Biz;
use crate::gateway::request::{Authenticated, Method, Refusal};
use crate::signing::Node;
use crate::state::{Sandbox, lock};

/// Nonces prune themselves only when the table grows past this, so a quiet sandbox does no
/// work and a busy one prunes rarely.
const PRUNE_AT: usize = 4096;

/// Nonces seen per app, with the instant (ms) after which they may be forgotten. Shared by every
/// HTTP worker of one sandbox.
#[derive(Debug, Default)]
pub struct NonceStore {
    seen: Mutex<HashMap<(String, String), i64>>,
}

impl NonceStore {
    /// Records `nonce`; `false` if it was already recorded and is still within its window.
    fn first_use(&self, app_id: &str, nonce: &str, forget_after_ms: i64, now_ms: i64) -> bool {
        let mut seen = lock(&self.seen);
        if seen.len() >= PRUNE_AT {
            seen.retain(|_, until| *until >= now_ms);
        }
        let key = (app_id.to_owned(), nonce.to_owned());
        match seen.get(&key) {
            Some(until) if *until >= now_ms => false,
            _ => {
                seen.insert(key, forget_after_ms);
                true
            }
        }
    }
}

/// Registers `/v3/{path}` (GET and POST). The [`NonceStore`] must be in the app data.
pub fn routes(config: &mut web::ServiceConfig) {
    config.service(
        web::resource("/v3/{path:.*}")
            .route(web::get().to(handle))
            .route(web::post().to(handle)),
    );
}

/// The server API behind a v3 path.
fn method_for(path: &str) -> Option<Method> {
    Some(match path {
        "/v3/alipay/trade/query" => Method::TradeQuery,
        "/v3/alipay/trade/close" => Method::TradeClose,
        "/v3/alipay/trade/refund" => Method::TradeRefund,
        "/v3/alipay/trade/fastpay/refund/query" => Method::RefundQuery,
        "/v3/alipay/data/dataservice/bill/downloadurl/query" => Method::BillDownloadUrl,
        _ => return None,
    })
}

async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
    nonces: web::Data<NonceStore>,
) -> HttpResponse {
    let method = method_for(request.path());
    let label = method.map_or("v3.unknown", |m| m.name());
    let plan = lock(&sandbox.faults).plan_api_call();
    if plan.fail_5xx {
        tracing::info!(method = label, "fault: answering 503 (v3)");
        sandbox.metrics.gateway_request(label, "503");
        return HttpResponse::ServiceUnavailable()
            .content_type("text/html; charset=utf-8")
            .body("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>");
    }
    let response = match authenticate(&request, &body, &sandbox, &nonces) {
        Err(refusal) => {
            tracing::info!(method = label, sub_code = %refusal.sub_code, "v3 request refused");
            sandbox.metrics.gateway_request(label, &refusal.sub_code);
            error_response(401, &refusal.sub_code, &refusal.sub_msg)
        }
        Ok(app) => {
            let app_id = app.app_id.clone();
            let node = answer(&sandbox, &request, &body, app, method);
            sandbox
                .metrics
                .gateway_request(label, node.sub_code().unwrap_or(node.code()));
            signed_response(&sandbox, &node, &app_id)
        }
    };
    if !plan.delay.is_zero() {
        // Processed already: the caller times out on a call that took effect.
        tracing::info!(
            delay_ms = plan.delay.as_millis() as u64,
            "fault: answering late (v3)"
        );
        tokio::time::sleep(plan.delay).await;
    }
    response
}

/// Steps 1–5 of the module documentation; the registered app on success.
fn authenticate(
    request: &HttpRequest,
    body: &[u8],
    sandbox: &Sandbox,
    nonces: &NonceStore,
) -> Result<crate::settings::AppRegistration, Refusal> {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let auth = v3sign::parse_authorization(header).map_err(|error| {
        Refusal::missing(
            "isv.missing-signature",
            format!("Authorization 无效：{error}"),
        )
    })?;
    let app = sandbox
        .app(auth.app_id)
        .cloned()
        .ok_or_else(|| Refusal::invalid("isv.invalid-app-id", "无效的AppID参数"))?;
    let now_ms = sandbox.now().timestamp_millis();
    let tolerance_ms = i64::try_from(sandbox.timestamp_tolerance.as_millis()).unwrap_or(i64::MAX);
    let timestamp: i64 = auth
        .timestamp_ms
        .parse()
        .map_err(|_| Refusal::invalid("isv.invalid-timestamp", "非法的时间戳参数"))?;
    if timestamp.abs_diff(now_ms) > tolerance_ms.unsigned_abs() {
        return Err(Refusal::invalid(
            "isv.invalid-timestamp",
            "时间戳与支付宝服务器时间相差过大",
        ));
    }
    let body = std::str::from_utf8(body)
        .map_err(|_| Refusal::invalid("isv.invalid-signature", "请求体不是UTF-8"))?;
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.path(), |pq| pq.as_str());
    let parts = RequestParts {
        method: request.method().as_str(),
        request_target: target,
        body,
        app_auth_token: request
            .headers()
            .get("alipay-app-auth-token")
            .and_then(|v| v.to_str().ok()),
    };
    // A certificate-mode app must name its app certificate's SN in the auth string, as on v2.
    v3sign::verify_request(
        &app.app_public_key,
        &auth,
        &parts,
        app.app_cert_sn.as_deref(),
    )
    .map_err(|error| match error {
        v3sign::RequestVerifyError::AppCertSn { .. } => Refusal::invalid(
            "isv.invalid-app-cert-sn",
            format!("应用公钥证书序列号无效：{error}"),
        ),
        v3sign::RequestVerifyError::Signature(_) => {
            let mut refusal = Refusal::invalid("isv.invalid-signature", "验签出错");
            refusal.sub_msg = format!(
                "验签出错（{error}），建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{}",
                v3sign::request_content(auth.auth_string, &parts)
            );
            refusal
        }
    })?;
    if !nonces.first_use(
        &app.app_id,
        auth.nonce,
        timestamp.saturating_add(tolerance_ms),
        now_ms,
    ) {
        return Err(Refusal::invalid(
            "isv.repeated-request",
            "重复的请求：nonce 已使用过",
        ));
    }
    Ok(app)
}

/// Runs the server API for an authenticated request; the answer node, success or refusal.
fn answer(
    sandbox: &Sandbox,
    request: &HttpRequest,
    body: &[u8],
    app: crate::settings::AppRegistration,
    method: Option<Method>,
) -> Node {
    let Some(method) = method else {
        return Refusal::invalid("isv.invalid-method", "不存在的方法名").node();
    };
    let biz_text = if request.method() == actix_web::http::Method::GET {
        query_as_json(request.query_string())
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    let biz = match Biz::parse(Some(&biz_text)) {
        Ok(biz) => biz,
        Err(refusal) => return refusal.node(),
    };
    let authenticated = Authenticated {
        app,
        method,
        sign_type: SignType::Rsa2,
        charset: "utf-8".to_owned(),
        params: BTreeMap::new(),
        biz,
        // v3 has no encrypt_type parameter; content encryption is not served over v3 here.
        encrypted: false,
    };
    api::handle(sandbox, &authenticated).unwrap_or_else(|refusal| refusal.node())
}

/// A GET's query parameters as the JSON object a POST would carry.
fn query_as_json(query: &str) -> String {
    let map: Map<String, Value> = alipay::form::decode(query.as_bytes())
        .map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        })
        .unwrap_or_default();
    Value::Object(map).to_string()
}

/// The HTTP status of a refusal node: the trade (or bill) not found 404, "unknown outcome" 500,
/// anything else 400.
fn status_of(node: &Node) -> u16 {
    let sub_code = node.sub_code().unwrap_or("");
    if node.code() == "20000" || sub_code.ends_with("SYSTEM_ERROR") {
        500
    } else if sub_code.ends_with("TRADE_NOT_EXIST") {
        404
    } else {
        400
    }
}

/// The node as a signed v3 response: for an app in certificate mode, signed with the current
/// Alipay certificate's key and naming it in `alipay-sn`, as on v2.
fn signed_response(sandbox: &Sandbox, node: &Node, app_id: &str) -> HttpResponse {
    let mut fields: Map<String, Value> = serde_json::from_str(&node.to_json()).unwrap_or_default();
    let (status, body) = if node.code() == "10000" {
        fields.remove("code");
        fields.remove("msg");
        (200, Value::Object(fields).to_string())
    } else {
        let message = fields
            .get("sub_msg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        (
            status_of(node),
            error_body(node.sub_code().unwrap_or(node.code()), message),
        )
    };
    let timestamp = sandbox.now().timestamp_millis().to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let content = v3sign::response_content(&timestamp, &nonce, &body);
    let (signer, alipay_sn) = sandbox.signer_for(app_id);
    let signature = match signer.sign_text(&content, SignType::Rsa2) {
        Ok(signature) => signature,
        Err(error) => {
            tracing::error!(%error, "signing a v3 response failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let mut response = HttpResponse::build(status_code(status));
    response
        .content_type("application/json; charset=utf-8")
        .insert_header(("alipay-trace-id", uuid::Uuid::new_v4().simple().to_string()))
        .insert_header(("alipay-timestamp", timestamp))
        .insert_header(("alipay-nonce", nonce))
        .insert_header(("alipay-signature", signature));
    if let Some(sn) = alipay_sn {
        response.insert_header(("alipay-sn", sn));
    }
    response.body(body)
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({"code": code, "message": message}).to_string()
}

/// An unsigned refusal (the caller was not authenticated).
fn error_response(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status_code(status))
        .content_type("application/json; charset=utf-8")
        .insert_header(("alipay-trace-id", uuid::Uuid::new_v4().simple().to_string()))
        .body(error_body(code, message))
}

fn status_code(status: u16) -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_refused_within_its_window_and_forgotten_after() {
        let store = NonceStore::default();
        assert!(store.first_use("a", "n1", 1_000, 0));
        assert!(!store.first_use("a", "n1", 1_000, 500));
        assert!(store.first_use("b", "n1", 1_000, 500), "nonces are per app");
        assert!(store.first_use("a", "n1", 3_000, 1_001), "window over");
    }

    #[test]
    fn paths_map_to_the_server_apis() {
        assert_eq!(
            method_for("/v3/alipay/trade/fastpay/refund/query"),
            Some(Method::RefundQuery)
        );
        assert_eq!(method_for("/v3/alipay/trade/page/pay"), None);
    }
}
