//! `GET|POST /gateway.do`: Alipay's one entry point.
//!
//! - [`request`]: decoding once, authenticating (app, signature, timestamp, …), refusals;
//! - [`biz`]: reading `biz_content`;
//! - [`api`]: the server APIs, answered with signed JSON;
//! - [`pages`]: page and wap pay, answered with HTML (the cashier or Alipay's error page).
//!
//! Alipay answers every refusal with HTTP 200. Answers to requests it authenticated are signed:
//! `{"<method>_response":{…},"sign":"…"}` where the signature covers the exact node text sent.
//! Refusals before authentication are unsigned, in the method's node, or in `error_response`
//! when the method itself is missing or unknown.

pub mod api;
pub mod biz;
pub mod pages;
pub mod request;

use actix_web::{HttpRequest, HttpResponse, web};

use crate::signing::{Node, unsigned_body};
use crate::state::{Sandbox, lock};
use request::{Failure, Method};

/// The content type Alipay's gateway sends its JSON with.
const GATEWAY_CONTENT_TYPE: &str = "text/html;charset=utf-8";

pub async fn gateway(
    request: HttpRequest,
    body: web::Bytes,
    sandbox: web::Data<Sandbox>,
) -> HttpResponse {
    let pairs = match request::collect_params(request.query_string(), &body) {
        Ok(pairs) => pairs,
        Err(refusal) => {
            return answer_failure(
                &sandbox,
                Failure {
                    refusal,
                    method: None,
                    signed: None,
                },
                None,
                "",
            );
        }
    };
    let named_method = pairs
        .iter()
        .find(|(k, _)| k == "method")
        .and_then(|(_, v)| Method::parse(v));
    let app_id = pairs
        .iter()
        .find(|(k, _)| k == "app_id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let is_server_api = named_method.is_some_and(|m| m.page_jump().is_none());
    let plan = is_server_api.then(|| lock(&sandbox.faults).plan_api_call());
    if plan.is_some_and(|p| p.fail_5xx) {
        tracing::info!(
            method = named_method.map(|m| m.name()),
            "fault: answering 503"
        );
        sandbox
            .metrics
            .gateway_request(named_method.map_or("unknown", |m| m.name()), "503");
        return HttpResponse::ServiceUnavailable()
            .content_type("text/html; charset=utf-8")
            .body("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>");
    }
    let response = match request::authenticate(pairs, &sandbox) {
        Err(failure) => answer_failure(&sandbox, failure, named_method, &app_id),
        Ok(authenticated) => match authenticated.method.page_jump() {
            Some(product) => {
                let outcome = pages::page_pay(&sandbox, &authenticated, product);
                let answer = outcome
                    .as_ref()
                    .map_or_else(|r| r.sub_code.clone(), |_| "cashier".to_owned());
                sandbox
                    .metrics
                    .gateway_request(authenticated.method.name(), &answer);
                pages::render(outcome)
            }
            None => {
                let node = match api::handle(&sandbox, &authenticated) {
                    Ok(node) => node,
                    Err(refusal) => refusal.node(),
                };
                let encrypt = authenticated
                    .encrypt_key_for_answer()
                    .filter(|_| authenticated.encrypted);
                answer_node(
                    &sandbox,
                    authenticated.method,
                    &node,
                    Some(authenticated.sign_type),
                    &authenticated.app.app_id,
                    encrypt,
                )
            }
        },
    };
    if let Some(plan) = plan.filter(|p| !p.delay.is_zero()) {
        // Processed already: the caller times out on a call that took effect.
        tracing::info!(
            delay_ms = plan.delay.as_millis() as u64,
            "fault: answering late"
        );
        tokio::time::sleep(plan.delay).await;
    }
    response
}

fn answer_failure(
    sandbox: &Sandbox,
    failure: Failure,
    named_method: Option<Method>,
    app_id: &str,
) -> HttpResponse {
    tracing::info!(
        method = named_method.map(|m| m.name()),
        sub_code = %failure.refusal.sub_code,
        "gateway refused a request"
    );
    // A browser sent to page/wap pay sees Alipay's error page, not JSON.
    if let Some(method) = failure
        .method
        .or(named_method)
        .filter(|m| m.page_jump().is_some())
    {
        sandbox
            .metrics
            .gateway_request(method.name(), &failure.refusal.sub_code);
        return pages::render(Err(failure.refusal));
    }
    let node = failure.refusal.node();
    match failure.method {
        // A refusal is never encrypted: the gateway may not have been able to decrypt at all.
        Some(method) => answer_node(sandbox, method, &node, failure.signed, app_id, None),
        None => {
            sandbox
                .metrics
                .gateway_request("unknown", &failure.refusal.sub_code);
            json(unsigned_body("error_response", &node.to_json()))
        }
    }
}

/// The JSON answer: signed when the caller was authenticated (in certificate mode with the
/// current Alipay certificate, naming it), encrypted when the request was.
fn answer_node(
    sandbox: &Sandbox,
    method: Method,
    node: &Node,
    signed: Option<alipay::SignType>,
    app_id: &str,
    encrypt: Option<&alipay::AesKey>,
) -> HttpResponse {
    let node_key = alipay::response::node_key(method.name());
    let text = node.to_json();
    sandbox
        .metrics
        .gateway_request(method.name(), node.sub_code().unwrap_or(node.code()));
    let body = match signed {
        None => unsigned_body(&node_key, &text),
        Some(sign_type) => match signed_body(sandbox, app_id, &node_key, &text, sign_type, encrypt)
        {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "signing a response failed");
                return HttpResponse::InternalServerError().finish();
            }
        },
    };
    json(body)
}

/// Signs an answer for `app_id` with the key that signs for it now.
fn signed_body(
    sandbox: &Sandbox,
    app_id: &str,
    node_key: &str,
    text: &str,
    sign_type: alipay::SignType,
    encrypt: Option<&alipay::AesKey>,
) -> Result<String, alipay::sign::SignError> {
    let (signer, alipay_cert_sn) = sandbox.signer_for(app_id);
    signer.response_body_with(
        node_key,
        text,
        sign_type,
        alipay_cert_sn.as_deref(),
        encrypt,
    )
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(GATEWAY_CONTENT_TYPE)
        .body(body)
}
