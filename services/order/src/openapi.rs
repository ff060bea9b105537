//! The OpenAPI 3.1 document of the whole HTTP API, served at `/api/v1/openapi.json`. Written by
//! hand (the API is small and stable); `tests/api/openapi.rs` checks that every route the
//! server answers is in it.

use serde_json::{Value, json};

/// Every path of the document with its methods, for the test that compares it with the routes.
pub const PATHS: &[(&str, &str)] = &[
    ("/order/pay/", "post"),
    ("/order/success/", "get"),
    ("/api/v1/courses", "get"),
    ("/api/v1/courses/{id}", "get"),
    ("/api/v1/orders", "get"),
    ("/api/v1/orders/{out_trade_no}", "get"),
    ("/api/v1/orders/{out_trade_no}/pay-link", "post"),
    ("/api/v1/orders/{out_trade_no}/cancel", "post"),
    ("/api/v1/orders/{out_trade_no}/refunds", "get"),
    ("/api/v1/orders/{out_trade_no}/refunds", "post"),
    ("/api/v1/refunds/{out_request_no}/retry", "post"),
    ("/api/v1/reconciliations", "get"),
    ("/api/v1/reconciliations/{date}", "get"),
    ("/api/v1/openapi.json", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
];

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Failure"}}}})
}

fn ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
}

pub fn document() -> Value {
    let bearer = json!([{"jwt": []}]);
    let no = path_param("out_trade_no", "The order's number");
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "order service",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Course catalog, orders and Alipay pay links, refunds. Authentication: \
                `Authorization: Bearer <JWT>` (also `jwt <JWT>` and `JWT <JWT>`, as the original \
                frontend sends); a 401 carries `WWW-Authenticate` challenges for both schemes. \
                Tokens need `sub` and `exp`; `iat` is optional; `nbf` is honoured; the clock skew \
                allowed on `exp` and `nbf` is 5 seconds. Errors are `{\"code\":0,\"msg\":\"…\"}`, \
                unknown routes included. Amounts are decimal \
                strings with two places (\"99.90\"). Order status: 0 unpaid, 1 paid, 2 cancelled, \
                3 timed out, 4 partially refunded, 5 refunded."
        },
        "components": {
            "securitySchemes": {"jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Amount": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$", "examples": ["99.90"]},
                "Failure": {"type": "object", "required": ["code", "msg"], "properties": {
                    "code": {"const": 0}, "msg": {"type": "string"}}},
                "PayRequest": {"type": "object", "required": ["total_amount", "pay_type", "course_list"], "properties": {
                    "subject": {"type": "string", "description": "accepted for the original frontend and ignored: the order is named after its courses"},
                    "total_amount": {"description": "the sum of the courses' prices, 0 (a free order) or 0.01 to 100000000.00; a string or a JSON number, read exactly from its text with one rule for both: digits, at most two decimals, no sign, no exponent", "oneOf": [{"$ref": "#/components/schemas/Amount"}, {"type": "number"}]},
                    "pay_type": {"type": "integer", "enum": [1, 2], "description": "1 Alipay; 2 WeChat Pay is refused with 400"},
                    "course_list": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "uniqueItems": true}}},
                "PayLink": {"type": "object", "properties": {
                    "code": {"const": 1}, "msg": {"type": "string", "description": "\"ok\", or \"paid\" for a zero total"},
                    "data": {"type": "string", "description": "the Alipay pay link (or, for a zero total, the success page)"}}},
                "PaymentState": {"type": "object", "properties": {
                    "code": {"enum": [0, 1], "description": "1 when paid"}, "msg": {"type": "string"},
                    "data": {"type": "object", "properties": {
                        "out_trade_no": {"type": "string"}, "status": {"type": "integer"}, "status_name": {"type": "string"}}}}},
                "Course": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"},
                    "price": {"$ref": "#/components/schemas/Amount"}, "active": {"type": "boolean"}}},
                "Courses": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Course"}}}},
                "OrderLine": {"type": "object", "properties": {
                    "course_id": {"type": "integer"}, "title": {"type": "string", "description": "the course's name"}, "price": {"$ref": "#/components/schemas/Amount"},
                    "real_price": {"$ref": "#/components/schemas/Amount"}}},
                "Order": {"type": "object", "properties": {
                    "out_trade_no": {"type": "string"},
                    "status": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]},
                    "status_name": {"type": "string", "enum": ["unpaid", "paid", "cancelled", "timed_out", "partially_refunded", "refunded"]},
                    "subject": {"type": "string"},
                    "total_amount": {"$ref": "#/components/schemas/Amount"},
                    "refunded_amount": {"$ref": "#/components/schemas/Amount"},
                    "needs_refund": {"type": "boolean", "description": "paid after it timed out or was cancelled; refund it"},
                    "trade_no": {"type": ["string", "null"]},
                    "pay_time": {"type": ["string", "null"], "format": "date-time"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"}, "description": "only on GET of one order"}}},
                "OrdersPage": {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}},
                    "page": {"type": "integer"}, "per_page": {"type": "integer"}, "total": {"type": "integer"}}},
                "RefundRequest": {"type": "object", "additionalProperties": false, "properties": {
                    "amount": {"$ref": "#/components/schemas/Amount", "description": "omitted: everything not yet refunded"},
                    "reason": {"type": "string", "maxLength": 256}}},
                "Refund": {"type": "object", "properties": {
                    "out_request_no": {"type": "string"}, "amount": {"$ref": "#/components/schemas/Amount"},
                    "status": {"type": "string", "enum": ["pending", "succeeded", "failed"]},
                    "reason": {"type": ["string", "null"]}, "failure": {"type": ["string", "null"], "description": "Alipay's sub_code"},
                    "requested_by": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
                "RefundResult": {"type": "object", "properties": {
                    "refund": {"$ref": "#/components/schemas/Refund"}, "order": {"$ref": "#/components/schemas/Order"}}},
                "Refunds": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Refund"}}}},
                "Health": {"type": "object", "required": ["status"], "description": "the same shape on every service", "properties": {
                    "status": {"enum": ["ok", "ready", "not ready"]},
                    "checks": {"type": "object", "additionalProperties": {"type": "boolean"}, "description": "each dependency and whether it answers (readyz only)"}}}
            }
        },
        "paths": {
            "/order/pay/": {"post": {
                "summary": "Create an order and its Alipay pay link (the original frontend's contract)",
                "security": bearer,
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PayRequest"}}}},
                "responses": {
                    "201": ok("the pay link", "PayLink"),
                    "400": error("invalid body (the message names the field), unknown or inactive course, wrong total, WeChat Pay"),
                    "401": error("missing, expired or forged token"),
                    "503": error("the payment gateway is unavailable (the order is kept, cancelled)")}}},
            "/order/success/": {"get": {
                "summary": "The return page's check: is the order paid? Asks Alipay if it is still unpaid",
                "parameters": [{"name": "out_trade_no", "in": "query", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": ok("code 1 when paid, 0 otherwise", "PaymentState"), "400": error("no out_trade_no"), "404": error("no such order")}}},
            "/api/v1/courses": {"get": {"summary": "Courses for sale", "responses": {"200": ok("the catalog", "Courses")}}},
            "/api/v1/courses/{id}": {"get": {"summary": "One course",
                "parameters": [path_param("id", "The course id")],
                "responses": {"200": ok("the course", "Course"), "404": error("no such course")}}},
            "/api/v1/orders": {"get": {"summary": "My orders, newest first", "security": bearer,
                "parameters": [
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}],
                "responses": {"200": ok("a page", "OrdersPage"), "400": error("bad paging"), "401": error("not authenticated")}}},
            "/api/v1/orders/{out_trade_no}": {"get": {"summary": "One of my orders, with its lines", "security": bearer,
                "parameters": [no.clone()],
                "responses": {"200": ok("the order", "Order"), "401": error("not authenticated"), "404": error("no such order, or not yours")}}},
            "/api/v1/orders/{out_trade_no}/pay-link": {"post": {"summary": "A fresh pay link for an unpaid, unexpired order (resume paying)", "security": bearer,
                "parameters": [no.clone()],
                "responses": {"200": ok("the pay link", "PayLink"), "401": error("not authenticated"),
                    "404": error("no such order, or not yours"), "409": error("not unpaid, or expired"), "503": error("the payment gateway is unavailable")}}},
            "/api/v1/orders/{out_trade_no}/cancel": {"post": {"summary": "Cancel an unpaid order (closes the Alipay trade)", "security": bearer,
                "parameters": [no.clone()],
                "responses": {"200": ok("the cancelled order", "Order"), "401": error("not authenticated"),
                    "404": error("no such order, or not yours"), "409": error("not unpaid"), "503": error("the payment gateway is unavailable")}}},
            "/api/v1/orders/{out_trade_no}/refunds": {
                "get": {"summary": "The order's refunds (admin)", "security": bearer, "parameters": [no.clone()],
                    "responses": {"200": ok("refunds", "Refunds"), "401": error("not authenticated"), "403": error("not an admin"), "404": error("no such order")}},
                "post": {"summary": "Refund all or part of a paid order (admin)", "security": bearer, "parameters": [no],
                    "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefundRequest"}}}},
                    "responses": {"201": ok("refunded", "RefundResult"), "202": ok("outcome unknown: pending; retry it", "RefundResult"),
                        "400": error("bad amount"), "401": error("not authenticated"), "403": error("not an admin"), "404": error("no such order"),
                        "409": error("not paid, nothing left, a refund pending, or Alipay refused")}}},
            "/api/v1/refunds/{out_request_no}/retry": {"post": {
                "summary": "Settle a pending refund: QueryRefund, then Refund again with the same out_request_no (admin)",
                "security": bearer, "parameters": [path_param("out_request_no", "The refund's number")],
                "responses": {"200": ok("settled", "RefundResult"), "202": ok("still pending", "RefundResult"),
                    "401": error("not authenticated"), "403": error("not an admin"), "404": error("no such refund"),
                    "409": error("Alipay refused"), "503": error("the payment gateway is unavailable")}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/healthz": {"get": {"summary": "Alive", "responses": {"200": ok("the process runs", "Health")}}},
            "/readyz": {"get": {"summary": "Ready: the database answers and the consumer is attached",
                "responses": {"200": ok("ready", "Health"), "503": ok("not ready", "Health")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition"}}}}
        }
    });
    add_reconciliations(&mut document, &bearer);
    document
}

/// The reconciliation routes and their schemas (apart: one `json!` of everything passes the
/// macro's recursion limit).
fn add_reconciliations(document: &mut Value, bearer: &Value) {
    let paths = json!({
            "/api/v1/reconciliations": {"get": {
                "summary": "Reconciliation runs against Alipay's daily bill, newest day first (admin)",
                "security": bearer,
                "responses": {"200": ok("the runs", "Reconciliations"), "401": error("not authenticated"),
                    "403": error("not an admin")}}},
            "/api/v1/reconciliations/{date}": {"get": {
                "summary": "One day's reconciliation run and its differences (admin)",
                "security": bearer, "parameters": [path_param("date", "The Beijing day, yyyy-MM-dd")],
                "responses": {"200": ok("the run and its differences", "Reconciliation"),
                    "400": error("not a date"), "401": error("not authenticated"), "403": error("not an admin"),
                    "404": error("no run for that day")}}}
    });
    let schemas = json!({
                "ReconciliationRun": {"type": "object", "properties": {
                    "bill_date": {"type": "string", "format": "date"},
                    "status": {"enum": ["running", "ok", "failed"]},
                    "reason": {"type": ["string", "null"], "description": "why the run failed"},
                    "trigger": {"type": "string", "examples": ["schedule", "cli"]},
                    "attempts": {"type": "integer"},
                    "started_at": {"type": "string", "format": "date-time"},
                    "finished_at": {"type": ["string", "null"], "format": "date-time"},
                    "bill_payments": {"type": "integer"}, "bill_refunds": {"type": "integer"},
                    "orders_compared": {"type": "integer"}, "differences": {"type": "integer"},
                    "healed": {"type": "integer"}}},
                "Reconciliations": {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/ReconciliationRun"}}}},
                "Reconciliation": {"allOf": [{"$ref": "#/components/schemas/ReconciliationRun"}, {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"type": "object", "properties": {
                        "kind": {"enum": ["missing_here", "status_differs", "missing_at_alipay", "amount_differs",
                            "refund_missing_here", "refund_missing_at_alipay", "refund_differs"]},
                        "out_trade_no": {"type": "string"}, "out_request_no": {"type": "string"},
                        "trade_no": {"type": ["string", "null"]},
                        "ours_amount": {"type": ["string", "null"]}, "alipay_amount": {"type": ["string", "null"]},
                        "ours_status": {"type": ["string", "null"]}, "alipay_status": {"type": ["string", "null"]},
                        "healed": {"type": "boolean"}, "resolution": {"type": ["string", "null"]},
                        "found_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"}}}}}}]}
    });
    for (section, extra) in [("paths", paths), ("schemas", schemas)] {
        let target = if section == "paths" {
            &mut document["paths"]
        } else {
            &mut document["components"]["schemas"]
        };
        if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
            target.extend(extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_path_is_documented() {
        let document = document();
        for (path, method) in PATHS {
            assert!(
                document["paths"][path][method].is_object(),
                "{method} {path} is missing"
            );
        }
        let documented: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(documented, PATHS.len());
    }
}
