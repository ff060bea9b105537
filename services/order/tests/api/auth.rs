//! Authentication: the three schemes, and missing, expired, forged tokens.

use std::time::Duration;

use common::auth::{Claims, JwtIssuer};
use serde_json::Value;

use crate::helpers::{JWT_SECRET, spawn_app};

async fn status_with(app: &crate::helpers::TestApp, authorization: Option<&str>) -> (u16, Value) {
    let mut request = app.client.get(app.url("/api/v1/orders"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn bearer_jwt_and_upper_case_jwt_are_accepted() {
    let app = spawn_app().await;
    let token = app.token("42", false);

    for scheme in ["Bearer", "jwt", "JWT"] {
        let (status, _) = status_with(&app, Some(&format!("{scheme} {token}"))).await;
        assert_eq!(status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_missing_token_is_401_json() {
    let app = spawn_app().await;

    let (status, body) = status_with(&app, None).await;

    assert_eq!(status, 401);
    assert_eq!(body["code"], 0);
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .contains("authentication required")
    );
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let app = spawn_app().await;
    let mut claims = Claims::new("42", None, Duration::from_secs(60));
    claims.iat -= 3600;
    claims.exp = claims.iat + 60;
    let expired = JwtIssuer::hs256(JWT_SECRET.as_bytes())
        .unwrap()
        .issue(&claims)
        .unwrap();

    let (status, body) = status_with(&app, Some(&format!("Bearer {expired}"))).await;

    assert_eq!(status, 401);
    assert!(body["msg"].as_str().unwrap().contains("expired"), "{body}");
}

#[tokio::test]
async fn a_forged_token_is_401() {
    let app = spawn_app().await;
    let forged = JwtIssuer::hs256(b"someone-else's-secret-of-32-bytes-or-more")
        .unwrap()
        .issue_for("42", true, Duration::from_secs(60))
        .unwrap();

    let (status, body) = status_with(&app, Some(&format!("jwt {forged}"))).await;
    let (garbage, _) = status_with(&app, Some("jwt not.a.token")).await;
    let (scheme, _) = status_with(&app, Some("Basic dXNlcjpwYXNz")).await;

    assert_eq!(status, 401);
    assert!(
        body["msg"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    assert_eq!(garbage, 401);
    assert_eq!(scheme, 401);
}

#[tokio::test]
async fn pay_needs_a_token() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/order/pay/"))
        .json(&serde_json::json!({"subject": "x", "total_amount": "99.90", "pay_type": 1, "course_list": [1]}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(app.order_count().await, 0);
}
