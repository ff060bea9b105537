//! The catalog: the demo courses, list and detail.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_demo_courses_are_listed_with_exact_prices() {
    let app = spawn_app().await;

    let response = app.get("/api/v1/courses", None).await;

    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    let prices: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|course| course["price"].as_str().unwrap())
        .collect();
    assert_eq!(prices, ["99.90", "199.00", "299.50"]);
    assert_eq!(body["items"][0]["id"], 1);
}

#[tokio::test]
async fn seeding_twice_adds_nothing() {
    let app = spawn_app().await;

    let added = order::db::seed_demo_courses(&app.state.pool).await.unwrap();

    assert_eq!(added, 0);
}

#[tokio::test]
async fn one_course_and_a_missing_one() {
    let app = spawn_app().await;

    let found = app.get("/api/v1/courses/2", None).await;
    let missing = app.get("/api/v1/courses/999", None).await;
    let garbage = app.get("/api/v1/courses/abc", None).await;

    assert_eq!(found.status().as_u16(), 200);
    let course: Value = found.json().await.unwrap();
    assert_eq!(course["price"], "199.00");
    assert_eq!(missing.status().as_u16(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], 0);
    assert_eq!(garbage.status().as_u16(), 404);
}

#[tokio::test]
async fn inactive_courses_are_not_listed() {
    let app = spawn_app().await;
    let retired = app.add_course("Retired", "10.00", false).await;

    let body: Value = app.get("/api/v1/courses", None).await.json().await.unwrap();

    assert!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|course| course["id"] != retired)
    );
}
