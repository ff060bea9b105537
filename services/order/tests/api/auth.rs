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
    let issued = claims.iat.unwrap() - 3600;
    claims.iat = Some(issued);
    claims.exp = issued + 60;
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

#[tokio::test]
async fn a_401_names_the_schemes_the_clients_use() {
    let app = spawn_app().await;

    let missing = app
        .client
        .get(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap();
    let bad = app
        .client
        .get(app.url("/api/v1/orders"))
        .header("authorization", "jwt not.a.token")
        .send()
        .await
        .unwrap();

    let challenges = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        challenges(&missing),
        [r#"JWT realm="coursepay""#, r#"Bearer realm="coursepay""#]
    );
    assert_eq!(
        challenges(&bad),
        [
            r#"JWT realm="coursepay", error="invalid_token""#,
            r#"Bearer realm="coursepay", error="invalid_token""#
        ]
    );
}

#[tokio::test]
async fn a_token_not_valid_yet_is_401_and_one_without_iat_is_accepted() {
    let app = spawn_app().await;
    let issuer = JwtIssuer::hs256(JWT_SECRET.as_bytes()).unwrap();
    let mut early = Claims::new("42", None, Duration::from_secs(3600));
    early.nbf = Some(early.exp - 1800);
    let mut no_iat = Claims::new("42", None, Duration::from_secs(3600));
    no_iat.iat = None;

    let (early_status, early_body) = status_with(
        &app,
        Some(&format!("jwt {}", issuer.issue(&early).unwrap())),
    )
    .await;
    let (no_iat_status, _) = status_with(
        &app,
        Some(&format!("jwt {}", issuer.issue(&no_iat).unwrap())),
    )
    .await;

    assert_eq!(early_status, 401);
    assert!(
        early_body["msg"]
            .as_str()
            .unwrap()
            .contains("not valid yet"),
        "{early_body}"
    );
    assert_eq!(no_iat_status, 200);
}

#[tokio::test]
async fn a_token_that_is_not_base64_gets_a_message_in_the_api_words() {
    let app = spawn_app().await;

    let (status, body) = status_with(&app, Some("jwt eyJhbGciOiJIUzI1NiJ9.x.y")).await;

    assert_eq!(status, 401);
    let message = body["msg"].as_str().unwrap();
    assert!(
        !message.contains("Base64") && !message.contains("length"),
        "{message}"
    );
}

#[tokio::test]
async fn unknown_routes_answer_the_json_envelope() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let wrong_method = app
        .client
        .delete(app.url("/order/pay/"))
        .send()
        .await
        .unwrap();
    let wrong_method_status = wrong_method.status().as_u16();
    let wrong_method_body: Value = wrong_method.json().await.unwrap();

    assert_eq!(status, 404);
    assert_eq!(body["code"], 0);
    assert!(
        body["msg"].as_str().unwrap().contains("/no/such/route"),
        "{body}"
    );
    assert_eq!(wrong_method_status, 404);
    assert_eq!(wrong_method_body["code"], 0);
}
