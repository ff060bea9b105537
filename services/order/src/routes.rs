//! HTTP: the original frontend's routes (`/order/pay/`, `/order/success/`), the REST API under
//! `/api/v1`, health, readiness, metrics, and the request-id middleware. Handlers parse the
//! request into domain types, call `orders`/`refunds`, and shape the answer; nothing else.

use std::future::{Ready, ready};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use common::auth::Claims;
use common::health::HealthReport;
use common::http::{Code, Envelope};
use common::money::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{CourseList, OrderStatus, OutRequestNo, OutTradeNo, PayType};
use crate::error::ApiError;
use crate::openapi::{Amount, Failure, Health, PayLink};
use crate::orders::{self, Created, PayOrder};
use crate::refunds::{self, RefundOrder};
use crate::repository::{self, Course, Order, OrderLine, Refund};
use crate::state::AppState;

pub use common::web::{CurrentRequestId, request_id_middleware};

/// The verified claims of the caller's JWT (`Bearer`, `jwt` or `JWT` scheme); 401 otherwise.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = request.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal("no application state".into())));
        };
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        ready(
            state
                .verifier
                .verify_authorization(header)
                .map(Authenticated)
                .map_err(ApiError::from),
        )
    }
}

/// Largest JSON body any route accepts.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// JSON bodies (for extractors other than [`JsonBody`]) that do not parse are 400s in our
/// envelope, in the words of [`parse_json`].
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .error_handler(|error, _| {
            let message = match error {
                actix_web::error::JsonPayloadError::Deserialize(error) => {
                    json_error_message(error.to_string().as_str(), error.classify(), None)
                }
                actix_web::error::JsonPayloadError::ContentType => {
                    "send the body as JSON, with Content-Type: application/json".to_owned()
                }
                actix_web::error::JsonPayloadError::Overflow { .. }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
                    return ApiError::BodyTooLarge.into();
                }
                other => format!("the body could not be read: {other}"),
            };
            ApiError::BadRequest(message).into()
        })
}

/// The payload limit of bodies read as bytes ([`BodyBytes`], so [`JsonBody`] and refunds).
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_JSON_BODY)
}

/// A JSON body whose 400 names the field that is wrong (`course_list[1]: …`) and says what is
/// wrong in the API's words, never in the parser's (`untagged enum …`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let not_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<actix_web::mime::Mime>().ok())
            .is_some_and(|mime| {
                mime.subtype() != actix_web::mime::JSON
                    && mime.suffix() != Some(actix_web::mime::JSON)
            });
        let body = BodyBytes::from_request(request, payload);
        Box::pin(async move {
            if not_json {
                return Err(ApiError::BadRequest(
                    "send the body as JSON, with Content-Type: application/json".into(),
                ));
            }
            let BodyBytes(bytes) = body.await?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// A body's bytes, at most [`MAX_JSON_BODY`]. Over that it is a 413 in the API's envelope, where
/// actix's own `web::Bytes` answers in plain text.
#[derive(Debug)]
pub struct BodyBytes(pub web::Bytes);

impl FromRequest for BodyBytes {
    type Error = ApiError;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            bytes.await.map(BodyBytes).map_err(|error| {
                match error.as_response_error().status_code() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge,
                    _ => ApiError::BadRequest("the body could not be read".to_owned()),
                }
            })
        })
    }
}

/// Parses a JSON body; the error names the field and what is wrong with it.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        ApiError::BadRequest(json_error_message(
            &inner.to_string(),
            inner.classify(),
            Some(&path),
        ))
    })?;
    // Trailing characters after the value are a syntax error, not something to ignore.
    deserializer.end().map_err(|error| {
        ApiError::BadRequest(json_error_message(
            &error.to_string(),
            error.classify(),
            None,
        ))
    })?;
    Ok(parsed)
}

/// `serde_json`'s message, reworded for a client: syntax errors keep their position (that is
/// where to look), data errors lose it and gain the field's name instead.
fn json_error_message(
    message: &str,
    category: serde_json::error::Category,
    path: Option<&str>,
) -> String {
    use serde_json::error::Category;
    match category {
        Category::Syntax | Category::Eof | Category::Io => {
            format!("the body is not valid JSON: {message}")
        }
        Category::Data => {
            let message = message
                .rsplit_once(" at line ")
                .map_or(message, |(message, _)| message);
            match path {
                Some(path) if path != "." => format!("{path}: {message}"),
                // An array, a string or a number where the body's object belongs: serde says
                // "invalid length 0, expected struct PayBody with 4 elements", which names our
                // type and not the mistake.
                _ if message.contains("expected struct") => {
                    "the body must be a JSON object".to_owned()
                }
                _ => message.to_owned(),
            }
        }
    }
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|error, _| ApiError::BadRequest(format!("invalid query: {error}")).into())
}

// ---- the original frontend's routes ----

/// `POST /order/pay/`, as the original frontend sends it. Its `subject` is accepted and
/// ignored: the order is named after its courses, so that no buyer can write on Alipay's
/// cashier.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PayRequest)]
pub struct PayBody {
    /// Accepted for the original frontend and ignored: the order is named after its courses.
    #[serde(default, rename = "subject")]
    #[schema(value_type = Option<String>)]
    pub _subject: serde::de::IgnoredAny,
    /// A string ("99.90") or a JSON number, read exactly from its text (never through a float),
    /// with one rule for both: at most two decimals, no sign, no exponent.
    #[serde(deserialize_with = "common::money::json_exact::money")]
    #[schema(schema_with = crate::openapi::amount_or_number)]
    pub total_amount: Money,
    #[schema(schema_with = crate::openapi::pay_type)]
    pub pay_type: i64,
    #[schema(schema_with = crate::openapi::course_list)]
    pub course_list: Vec<i64>,
}

#[utoipa::path(
    post,
    path = "/order/pay/",
    summary = "Create an order and its Alipay pay link (the original frontend's contract)",
    security(("jwt" = [])),
    request_body = PayBody,
    responses(
        (status = 201, description = "the pay link", body = PayLink),
        (status = 400, description = "invalid body (the message names the field), unknown or inactive course, wrong total, WeChat Pay", body = Failure),
        (status = 401, description = "missing, expired or forged token", body = Failure),
        (status = 413, description = "the body is larger than 64 KiB", body = Failure),
        (status = 503, description = "the payment gateway is unavailable (the order is kept, cancelled)", body = Failure),
    )
)]
#[tracing::instrument(name = "pay", skip_all, fields(user_id = %auth.0.sub))]
pub async fn pay(
    state: web::Data<AppState>,
    auth: Authenticated,
    request_id: CurrentRequestId,
    body: JsonBody<PayBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let pay_type = PayType::from_code(body.pay_type).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "pay_type {} is unknown; use 1 (Alipay)",
            body.pay_type
        ))
    })?;
    // Zero is a free order (paid at once); anything else must be a sum Alipay accepts.
    if !body.total_amount.is_zero() {
        body.total_amount
            .to_alipay()
            .map_err(|error| ApiError::BadRequest(format!("total_amount: {error}")))?;
    }
    let order = PayOrder {
        total_amount: body.total_amount,
        pay_type,
        courses: CourseList::parse(&body.course_list).map_err(ApiError::BadRequest)?,
    };
    match orders::create(&state, &auth.0, request_id.0.as_str(), order).await? {
        Created::PayLink { url, .. } => Ok(HttpResponse::Created().json(Envelope::ok(url))),
        Created::PaidAtOnce { out_trade_no } => {
            Ok(HttpResponse::Created().json(Envelope::ok_with_message(
                format!("/order/success/?out_trade_no={out_trade_no}"),
                "paid",
            )))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct SuccessQuery {
    pub out_trade_no: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentStateData)]
pub struct PaymentState {
    pub out_trade_no: String,
    pub status: i16,
    pub status_name: &'static str,
}

/// `GET /order/success/?out_trade_no=…[&Alipay's return parameters]`. The return parameters are
/// not trusted (a browser can forge them); the order is paid only by an event or a signed
/// `QueryTrade` answer, which this asks for when the order is still unpaid.
#[utoipa::path(
    get,
    path = "/order/success/",
    summary = "The return page's check: is the order paid? Asks Alipay if it is still unpaid",
    params(("out_trade_no" = String, Query)),
    responses(
        (status = 200, description = "code 1 when paid, 0 otherwise", body = crate::openapi::PaymentState),
        (status = 400, description = "no out_trade_no", body = Failure),
        (status = 404, description = "no such order", body = Failure),
    )
)]
#[tracing::instrument(name = "success", skip_all)]
pub async fn success(
    state: web::Data<AppState>,
    request_id: CurrentRequestId,
    query: web::Query<SuccessQuery>,
) -> Result<HttpResponse, ApiError> {
    let number = query
        .out_trade_no
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("out_trade_no is required".into()))?;
    let number: OutTradeNo = number.parse().map_err(|_| ApiError::NotFound("order"))?;
    let order = orders::check_paid(&state, request_id.0.as_str(), &number).await?;
    let data = PaymentState {
        out_trade_no: order.out_trade_no.clone(),
        status: order.status.code(),
        status_name: order.status.name(),
    };
    let (code, msg) = match order.status {
        OrderStatus::Paid | OrderStatus::PartiallyRefunded | OrderStatus::Refunded => {
            (Code::Success, "paid")
        }
        OrderStatus::Unpaid => (Code::Failure, "the order is not paid yet"),
        OrderStatus::Cancelled => (Code::Failure, "the order was cancelled"),
        OrderStatus::TimedOut => (Code::Failure, "the order timed out"),
    };
    Ok(HttpResponse::Ok().json(Envelope {
        code,
        msg: msg.to_owned(),
        data: Some(data),
    }))
}

// ---- /api/v1 ----

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Courses)]
pub struct CoursesView {
    pub items: Vec<Course>,
}

#[utoipa::path(
    get,
    path = "/api/v1/courses",
    summary = "Courses for sale",
    responses((status = 200, description = "the catalog", body = CoursesView))
)]
pub async fn list_courses(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let items = repository::active_courses(&mut conn).await?;
    Ok(HttpResponse::Ok().json(CoursesView { items }))
}

#[utoipa::path(
    get,
    path = "/api/v1/courses/{id}",
    summary = "One course",
    params(("id" = String, Path, description = "The course id")),
    responses(
        (status = 200, description = "the course", body = Course),
        (status = 404, description = "no such course", body = Failure),
    )
)]
pub async fn get_course(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("course"))?;
    let mut conn = state.pool.get().await?;
    let course = repository::find_course(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound("course"))?;
    Ok(HttpResponse::Ok().json(course))
}

/// An order as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderView {
    pub out_trade_no: String,
    /// 0 unpaid, 1 paid, 2 cancelled, 3 timed out, 4 partially refunded, 5 refunded.
    #[schema(schema_with = crate::openapi::order_status)]
    pub status: i16,
    #[schema(schema_with = crate::openapi::order_status_name)]
    pub status_name: &'static str,
    pub subject: String,
    #[schema(value_type = Amount)]
    pub total_amount: Money,
    #[schema(value_type = Amount)]
    pub refunded_amount: Money,
    /// Paid after it had timed out or been cancelled: someone must refund it.
    pub needs_refund: bool,
    pub trade_no: Option<String>,
    pub pay_time: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Only on GET of one order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<OrderLine>>,
}

impl OrderView {
    pub fn new(order: Order, lines: Option<Vec<OrderLine>>) -> Self {
        Self {
            status: order.status.code(),
            status_name: order.status.name(),
            out_trade_no: order.out_trade_no,
            subject: order.subject,
            total_amount: order.total_amount,
            refunded_amount: order.refunded_amount,
            needs_refund: order.needs_refund,
            trade_no: order.trade_no,
            pay_time: order.pay_time,
            expires_at: order.expires_at,
            created_at: order.created_at,
            lines,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(minimum = 1, default = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub per_page: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrdersPage {
    pub items: Vec<OrderView>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

pub const MAX_PER_PAGE: i64 = 100;

#[utoipa::path(
    get,
    path = "/api/v1/orders",
    summary = "My orders, newest first",
    security(("jwt" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "a page", body = OrdersPage),
        (status = 400, description = "bad paging", body = Failure),
        (status = 401, description = "not authenticated", body = Failure),
    )
)]
pub async fn list_orders(
    state: web::Data<AppState>,
    auth: Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(20);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::BadRequest("page must be at least 1".into()));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::BadRequest(format!(
            "per_page must be between 1 and {MAX_PER_PAGE}"
        )));
    }
    let mut conn = state.pool.get().await?;
    let (orders, total) =
        repository::user_orders(&mut conn, &auth.0.sub, per_page, (page - 1) * per_page).await?;
    Ok(HttpResponse::Ok().json(OrdersPage {
        items: orders
            .into_iter()
            .map(|o| OrderView::new(o, None))
            .collect(),
        page,
        per_page,
        total,
    }))
}

fn order_number(text: &str) -> Result<OutTradeNo, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound("order"))
}

#[utoipa::path(
    get,
    path = "/api/v1/orders/{out_trade_no}",
    summary = "One of my orders, with its lines",
    security(("jwt" = [])),
    params(("out_trade_no" = String, Path, description = "The order's number")),
    responses(
        (status = 200, description = "the order", body = OrderView),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 404, description = "no such order, or not yours", body = Failure),
    )
)]
pub async fn get_order(
    state: web::Data<AppState>,
    auth: Authenticated,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = order_number(&number)?;
    let order = orders::owned_order(&state, &auth.0, &number).await?;
    let mut conn = state.pool.get().await?;
    let lines = repository::order_lines(&mut conn, order.id).await?;
    Ok(HttpResponse::Ok().json(OrderView::new(order, Some(lines))))
}

/// `POST /api/v1/orders/{out_trade_no}/pay-link`: a new pay link for the caller's unpaid,
/// unexpired order, so that a buyer who left the cashier can resume paying. Alipay takes the
/// same `out_trade_no` and amount again while the trade is open.
#[utoipa::path(
    post,
    path = "/api/v1/orders/{out_trade_no}/pay-link",
    summary = "A fresh pay link for an unpaid, unexpired order (resume paying)",
    security(("jwt" = [])),
    params(("out_trade_no" = String, Path, description = "The order's number")),
    responses(
        (status = 200, description = "the pay link", body = PayLink),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 404, description = "no such order, or not yours", body = Failure),
        (status = 409, description = "not unpaid, or expired", body = Failure),
        (status = 503, description = "the payment gateway is unavailable", body = Failure),
    )
)]
#[tracing::instrument(name = "pay_link", skip_all, fields(user_id = %auth.0.sub))]
pub async fn pay_link(
    state: web::Data<AppState>,
    auth: Authenticated,
    request_id: CurrentRequestId,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = order_number(&number)?;
    let url = orders::pay_link(&state, &auth.0, request_id.0.as_str(), &number).await?;
    Ok(HttpResponse::Ok().json(Envelope::ok(url)))
}

/// Any route that does not exist: 404 in the envelope, naming what was asked for.
pub async fn no_such_route(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoSuchRoute(format!(
        "{} {}",
        request.method(),
        request.path()
    )))
}

#[utoipa::path(
    post,
    path = "/api/v1/orders/{out_trade_no}/cancel",
    summary = "Cancel an unpaid order (closes the Alipay trade)",
    security(("jwt" = [])),
    params(("out_trade_no" = String, Path, description = "The order's number")),
    responses(
        (status = 200, description = "the cancelled order", body = OrderView),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 404, description = "no such order, or not yours", body = Failure),
        (status = 409, description = "not unpaid", body = Failure),
        (status = 503, description = "the payment gateway is unavailable", body = Failure),
    )
)]
#[tracing::instrument(name = "cancel", skip_all, fields(user_id = %auth.0.sub))]
pub async fn cancel_order(
    state: web::Data<AppState>,
    auth: Authenticated,
    request_id: CurrentRequestId,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = order_number(&number)?;
    let order = orders::cancel(&state, &auth.0, request_id.0.as_str(), &number).await?;
    Ok(HttpResponse::Ok().json(OrderView::new(order, None)))
}

/// A refund as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Refund)]
pub struct RefundView {
    pub out_request_no: String,
    #[schema(value_type = Amount)]
    pub amount: Money,
    /// pending, succeeded or failed.
    #[schema(schema_with = crate::openapi::refund_status)]
    pub status: crate::domain::RefundStatus,
    pub reason: Option<String>,
    /// Alipay's sub_code.
    pub failure: Option<String>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Refund> for RefundView {
    fn from(refund: Refund) -> Self {
        Self {
            out_request_no: refund.out_request_no,
            amount: refund.amount,
            status: refund.status,
            reason: refund.reason,
            failure: refund.failure,
            requested_by: refund.requested_by,
            created_at: refund.created_at,
            updated_at: refund.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResult {
    pub refund: RefundView,
    pub order: OrderView,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefundRequest)]
pub struct RefundBody {
    /// Omitted: everything not yet refunded. A string or a JSON number, read exactly.
    #[serde(default, deserialize_with = "common::money::json_exact::option")]
    #[schema(value_type = Option<Amount>)]
    pub amount: Option<Money>,
    #[schema(max_length = 256)]
    pub reason: Option<String>,
}

fn refund_response(order: Order, refund: Refund, created: bool) -> HttpResponse {
    let status = match refund.status {
        crate::domain::RefundStatus::Pending => StatusCode::ACCEPTED,
        crate::domain::RefundStatus::Succeeded if created => StatusCode::CREATED,
        crate::domain::RefundStatus::Succeeded | crate::domain::RefundStatus::Failed => {
            StatusCode::OK
        }
    };
    HttpResponse::build(status).json(RefundResult {
        refund: refund.into(),
        order: OrderView::new(order, None),
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/orders/{out_trade_no}/refunds",
    summary = "Refund all or part of a paid order (admin)",
    security(("jwt" = [])),
    params(("out_trade_no" = String, Path, description = "The order's number")),
    request_body(content = Option<RefundBody>, content_type = "application/json"),
    responses(
        (status = 201, description = "refunded", body = RefundResult),
        (status = 202, description = "outcome unknown: pending; retry it", body = RefundResult),
        (status = 400, description = "bad amount", body = Failure),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 403, description = "not an admin", body = Failure),
        (status = 404, description = "no such order", body = Failure),
        (status = 409, description = "not paid, nothing left, a refund pending, or Alipay refused", body = Failure),
        (status = 413, description = "the body is larger than 64 KiB", body = Failure),
    )
)]
#[tracing::instrument(name = "refund", skip_all, fields(user_id = %auth.0.sub))]
pub async fn create_refund(
    state: web::Data<AppState>,
    auth: Authenticated,
    request_id: CurrentRequestId,
    number: web::Path<String>,
    BodyBytes(body): BodyBytes,
) -> Result<HttpResponse, ApiError> {
    let number = order_number(&number)?;
    // An empty body means "refund the rest"; a body that does not parse is a 400, never that.
    let body: RefundBody = if body.iter().all(u8::is_ascii_whitespace) {
        RefundBody::default()
    } else {
        parse_json(&body)?
    };
    if let Some(amount) = body.amount
        && amount.is_zero()
    {
        return Err(ApiError::BadRequest("amount must be more than 0.00".into()));
    }
    let reason = match body.reason {
        Some(reason) if reason.chars().count() > 256 => {
            return Err(ApiError::BadRequest(
                "reason is longer than 256 characters".into(),
            ));
        }
        other => other.filter(|r| !r.trim().is_empty()),
    };
    let (order, refund) = refunds::create(
        &state,
        &auth.0,
        request_id.0.as_str(),
        &number,
        RefundOrder {
            amount: body.amount,
            reason,
        },
    )
    .await?;
    Ok(refund_response(order, refund, true))
}

/// An order's refunds.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Refunds)]
pub struct RefundsView {
    pub items: Vec<RefundView>,
}

#[utoipa::path(
    get,
    path = "/api/v1/orders/{out_trade_no}/refunds",
    summary = "The order's refunds (admin)",
    security(("jwt" = [])),
    params(("out_trade_no" = String, Path, description = "The order's number")),
    responses(
        (status = 200, description = "refunds", body = RefundsView),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 403, description = "not an admin", body = Failure),
        (status = 404, description = "no such order", body = Failure),
    )
)]
pub async fn list_refunds(
    state: web::Data<AppState>,
    auth: Authenticated,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = order_number(&number)?;
    let items = refunds::list(&state, &auth.0, &number)
        .await?
        .into_iter()
        .map(RefundView::from)
        .collect();
    Ok(HttpResponse::Ok().json(RefundsView { items }))
}

#[utoipa::path(
    post,
    path = "/api/v1/refunds/{out_request_no}/retry",
    summary = "Settle a pending refund: QueryRefund, then Refund again with the same out_request_no (admin)",
    security(("jwt" = [])),
    params(("out_request_no" = String, Path, description = "The refund's number")),
    responses(
        (status = 200, description = "settled", body = RefundResult),
        (status = 202, description = "still pending", body = RefundResult),
        (status = 401, description = "not authenticated", body = Failure),
        (status = 403, description = "not an admin", body = Failure),
        (status = 404, description = "no such refund", body = Failure),
        (status = 409, description = "Alipay refused", body = Failure),
        (status = 503, description = "the payment gateway is unavailable", body = Failure),
    )
)]
#[tracing::instrument(name = "refund_retry", skip_all, fields(user_id = %auth.0.sub))]
pub async fn retry_refund(
    state: web::Data<AppState>,
    auth: Authenticated,
    request_id: CurrentRequestId,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number: OutRequestNo = number.parse().map_err(|_| ApiError::NotFound("refund"))?;
    let (order, refund) = refunds::retry(&state, &auth.0, request_id.0.as_str(), &number).await?;
    Ok(refund_response(order, refund, false))
}

#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1"))
)]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

// ---- operations ----

#[utoipa::path(
    get,
    path = "/healthz",
    summary = "Alive",
    responses((status = 200, description = "the process runs", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    health_response(&HealthReport::alive())
}

/// 200 when the database answers and the consumer is attached to its queue; 503 otherwise.
#[utoipa::path(
    get,
    path = "/readyz",
    summary = "Ready: the database answers and the consumer is attached",
    responses(
        (status = 200, description = "ready", body = Health),
        (status = 503, description = "not ready", body = Health),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(Duration::from_secs(2), async {
        let mut conn = state.pool.get().await.ok()?;
        repository::ping(&mut conn).await.ok()
    })
    .await
    .ok()
    .flatten()
    .is_some();
    let broker = state.consumer_is_ready();
    health_response(&HealthReport::readiness([
        ("database", database),
        ("broker", broker),
    ]))
}

/// 200 or 503 with the report as its body: the shape every service shares.
fn health_response(report: &HealthReport) -> HttpResponse {
    let status = if report.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .content_type(common::health::CONTENT_TYPE)
        .body(report.to_json())
}

#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus metrics",
    responses((status = 200, description = "text exposition"))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(common::metrics::CONTENT_TYPE)
        .body(state.metrics.render())
}
