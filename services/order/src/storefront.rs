//! The demo storefront for local runs (`STOREFRONT=on`): the pages in `storefront/` (plain HTML
//! and JavaScript, compiled into the binary, no build step) and a dev login that mints tokens.
//!
//! The dev login hands any visitor a token for any user id, so it exists only with the storefront
//! and only with an HS256 secret; production runs with `STOREFRONT=off` (README "Going live").

use std::time::Duration;

use actix_web::http::header::{CACHE_CONTROL, ContentType};
use actix_web::{HttpResponse, web};
use common::auth::JwtIssuer;
use common::http::Envelope;
use serde::{Deserialize, Serialize};

/// How long a dev-login token lasts.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

const INDEX_HTML: &str = include_str!("../storefront/index.html");
const ORDERS_HTML: &str = include_str!("../storefront/orders.html");
const SUCCESS_HTML: &str = include_str!("../storefront/success.html");
const APP_JS: &str = include_str!("../storefront/app.js");
const STYLE_CSS: &str = include_str!("../storefront/style.css");

/// What the storefront's routes need: the issuer behind the dev login.
#[derive(Debug, Clone)]
pub struct Storefront {
    issuer: JwtIssuer,
}

impl Storefront {
    pub fn new(issuer: JwtIssuer) -> Self {
        Self { issuer }
    }

    /// Adds the pages, their assets and `POST /dev/token` to an app.
    pub fn configure(self, config: &mut web::ServiceConfig) {
        config
            .app_data(web::Data::new(self))
            .route("/", web::get().to(|| page(INDEX_HTML)))
            .route("/orders", web::get().to(|| page(ORDERS_HTML)))
            // Alipay's return_url: the page reads the return parameters itself.
            .route("/pay/success", web::get().to(|| page(SUCCESS_HTML)))
            .route(
                "/static/app.js",
                web::get().to(|| asset(APP_JS, "text/javascript")),
            )
            .route(
                "/static/style.css",
                web::get().to(|| asset(STYLE_CSS, "text/css")),
            )
            .route("/dev/token", web::post().to(dev_token));
    }
}

async fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(html)
}

async fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(format!("{content_type}; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[derive(Debug, Deserialize)]
struct DevLogin {
    user_id: u64,
}

#[derive(Debug, Serialize)]
struct DevToken {
    token: String,
}

/// `POST /dev/token {"user_id": 7}` → `{"code":1,"msg":"ok","data":{"token":"…"}}`.
async fn dev_token(storefront: web::Data<Storefront>, login: web::Json<DevLogin>) -> HttpResponse {
    if login.user_id == 0 {
        return HttpResponse::BadRequest().json(Envelope::failure("user_id must be at least 1"));
    }
    match storefront
        .issuer
        .issue_for(&login.user_id.to_string(), false, DEV_TOKEN_TTL)
    {
        Ok(token) => HttpResponse::Ok().json(Envelope::ok(DevToken { token })),
        Err(error) => {
            tracing::error!(%error, "minting a dev token failed");
            HttpResponse::InternalServerError().json(Envelope::failure("could not mint a token"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, test};
    use common::auth::JwtVerifier;

    const SECRET: &[u8] = b"test-only-secret-0123456789abcdef0123";

    fn storefront() -> Storefront {
        Storefront::new(JwtIssuer::hs256(SECRET).unwrap())
    }

    #[actix_web::test]
    async fn the_pages_and_assets_are_served() {
        let app =
            test::init_service(App::new().configure(|config| storefront().configure(config))).await;
        for (path, needle) in [
            ("/", "Buy now"),
            ("/orders", "My orders"),
            ("/pay/success", "out_trade_no"),
            ("/static/app.js", "/dev/token"),
            ("/static/style.css", "--accent"),
        ] {
            let response =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert!(response.status().is_success(), "{path}");
            let body = test::read_body(response).await;
            assert!(
                String::from_utf8_lossy(&body).contains(needle),
                "{path} lacks {needle}"
            );
        }
    }

    #[actix_web::test]
    async fn the_dev_login_mints_a_token_the_verifier_accepts() {
        let app =
            test::init_service(App::new().configure(|config| storefront().configure(config))).await;
        let request = test::TestRequest::post()
            .uri("/dev/token")
            .set_json(serde_json::json!({"user_id": 7}))
            .to_request();
        let reply: serde_json::Value = test::call_and_read_body_json(&app, request).await;
        let token = reply["data"]["token"].as_str().unwrap();
        let claims = JwtVerifier::hs256(SECRET).unwrap().verify(token).unwrap();
        assert_eq!(claims.sub, "7");
        assert!(!claims.is_admin());
    }

    #[actix_web::test]
    async fn the_dev_login_refuses_user_zero_and_malformed_bodies() {
        let app =
            test::init_service(App::new().configure(|config| storefront().configure(config))).await;
        for body in [r#"{"user_id":0}"#, r#"{"user_id":"x"}"#, "not json"] {
            let request = test::TestRequest::post()
                .uri("/dev/token")
                .insert_header(ContentType::json())
                .set_payload(body)
                .to_request();
            let response = test::call_service(&app, request).await;
            assert!(response.status().is_client_error(), "{body}");
        }
    }
}
