//! My orders: the list (paginated), one order (the owner only), cancel.

use order::domain::OrderStatus;
use serde_json::Value;

use crate::helpers::{paid_event, spawn_app};

#[tokio::test]
async fn my_orders_are_listed_newest_first_a_page_at_a_time() {
    let app = spawn_app().await;
    let (first, _) = app.order("u1", &[1], "99.90").await;
    let (second, _) = app.order("u1", &[2], "199.00").await;
    let (third, _) = app.order("u1", &[3], "299.50").await;
    app.order("someone-else", &[1], "99.90").await;
    let token = app.token("u1", false);

    let page1: Value = app
        .get("/api/v1/orders?per_page=2", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    let page2: Value = app
        .get("/api/v1/orders?per_page=2&page=2", Some(&token))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(page1["total"], 3);
    let numbers = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["out_trade_no"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(numbers(&page1), [third, second]);
    assert_eq!(numbers(&page2), [first]);
    assert_eq!(page1["items"][0]["total_amount"], "299.50");
    assert_eq!(page1["items"][0]["status_name"], "unpaid");
}

#[tokio::test]
async fn bad_paging_is_400() {
    let app = spawn_app().await;
    let token = app.token("u1", false);

    for query in ["page=0", "per_page=0", "per_page=101", "page=abc"] {
        let response = app
            .get(&format!("/api/v1/orders?{query}"), Some(&token))
            .await;
        assert_eq!(response.status().as_u16(), 400, "{query}");
    }
}

#[tokio::test]
async fn one_order_with_its_lines_for_its_owner_only() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1, 3], "399.40").await;

    let mine = app
        .get(
            &format!("/api/v1/orders/{number}"),
            Some(&app.token("u1", false)),
        )
        .await;
    let theirs = app
        .get(
            &format!("/api/v1/orders/{number}"),
            Some(&app.token("u2", false)),
        )
        .await;
    let missing = app
        .get("/api/v1/orders/NOSUCH", Some(&app.token("u1", false)))
        .await;

    assert_eq!(mine.status().as_u16(), 200);
    let order: Value = mine.json().await.unwrap();
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
    assert_eq!(order["lines"][0]["price"], "99.90");
    assert_eq!(order["lines"][1]["real_price"], "299.50");
    assert_eq!(theirs.status().as_u16(), 404);
    let body: Value = theirs.json().await.unwrap();
    assert_eq!(body["code"], 0);
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn cancelling_an_unpaid_order_closes_its_trade() {
    let app = spawn_app().await;
    let (number, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;

    let response = app
        .post(
            &format!("/api/v1/orders/{number}/cancel"),
            Some(&app.token("u1", false)),
            None,
        )
        .await;

    assert_eq!(response.status().as_u16(), 200);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["status"], 2);
    assert_eq!(app.sandbox_trade(&number).await["status"], "TRADE_CLOSED");
}

#[tokio::test]
async fn only_the_owner_cancels_and_only_unpaid_orders() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;

    let theirs = app
        .post(
            &format!("/api/v1/orders/{number}/cancel"),
            Some(&app.token("u2", false)),
            None,
        )
        .await;
    app.publish(&paid_event(&number, "99.90", "n-1")).await;
    app.wait_for_status(&number, OrderStatus::Paid).await;
    let paid = app
        .post(
            &format!("/api/v1/orders/{number}/cancel"),
            Some(&app.token("u1", false)),
            None,
        )
        .await;

    assert_eq!(theirs.status().as_u16(), 404);
    assert_eq!(paid.status().as_u16(), 409);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn cancelling_an_order_paid_at_alipay_makes_it_paid() {
    let app = spawn_app().await;
    let (number, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&number).await;

    let response = app
        .post(
            &format!("/api/v1/orders/{number}/cancel"),
            Some(&app.token("u1", false)),
            None,
        )
        .await;

    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Paid);
}

#[tokio::test]
async fn the_database_refuses_order_and_refund_numbers_outside_alipays_alphabet() {
    use diesel_async::RunQueryDsl as _;
    let app = spawn_app().await;
    let mut conn = app.conn().await;
    let open = |number: &str| {
        format!(
            "SELECT open_order('{number}', 'u', 99.90, 1::smallint, 0::smallint, NULL,
                              now() + interval '1 hour', now(), ARRAY[1]::bigint[])"
        )
    };
    let refund = |number: &str| {
        format!(
            "INSERT INTO refunds (order_id, out_request_no, amount, status, requested_by)
             SELECT id, '{number}', 1.00, 1, 'test' FROM orders LIMIT 1"
        )
    };
    let longest = "A".repeat(64);
    for good in ["T_2026_abcXYZ09", longest.as_str()] {
        diesel::sql_query(open(good))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{good:?} is a valid order number: {error}"));
        diesel::sql_query(refund(good))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{good:?} is a valid refund number: {error}"));
    }
    let too_long = "A".repeat(65);
    for bad in ["", "T-1", "T 1", "订单1", "T1\n", too_long.as_str()] {
        let error = diesel::sql_query(open(bad))
            .execute(&mut conn)
            .await
            .expect_err(&format!("{bad:?} is not an order number"));
        assert!(
            error.to_string().contains("orders_out_trade_no_check"),
            "{bad:?}: {error}"
        );
        let error = diesel::sql_query(refund(bad))
            .execute(&mut conn)
            .await
            .expect_err(&format!("{bad:?} is not a refund number"));
        assert!(
            error.to_string().contains("refunds_out_request_no_check"),
            "{bad:?}: {error}"
        );
    }
}
