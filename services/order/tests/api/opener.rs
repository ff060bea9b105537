//! New orders opened in batches (`order::opener`): orders that wait together share one
//! statement, each still gets its own answer, and an order at fault fails alone.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl as _;
use order::db::{self, PgConn};
use order::domain::OrderStatus;
use order::metrics::Metrics;
use order::opener::{OpenError, Opener};
use order::repository::{NewOrder, Opened, Refusal};

use crate::helpers::{TestApp, spawn_app};

fn new_order(number: &str, total: &str, course_ids: &[i64]) -> NewOrder {
    let now = Utc::now();
    let total_amount: common::money::Money = total.parse().unwrap();
    let paid_at_once = total_amount.is_zero();
    NewOrder {
        out_trade_no: number.to_owned(),
        user_id: "opener-test".to_owned(),
        total_amount,
        pay_type: 1,
        status: if paid_at_once {
            OrderStatus::Paid
        } else {
            OrderStatus::Unpaid
        },
        pay_time: paid_at_once.then_some(now),
        expires_at: now + chrono::Duration::minutes(30),
        now,
        course_ids: course_ids.to_vec(),
    }
}

/// A writer on a pool of one connection, and that connection, held: orders sent now queue up
/// behind it, and form one batch when the connection is handed back.
async fn held_writer(app: &TestApp) -> (Arc<Opener>, PgConn, db::PgPool) {
    let pool = db::pool(app.stack.database.url(), 1).unwrap();
    let held = pool.get().await.unwrap();
    let opener = Arc::new(Opener::start(pool.clone(), 1, Metrics::new().unwrap()));
    (opener, held, pool)
}

/// Sends every order at once, then lets the writer have its connection back once they all wait.
async fn open_together(
    opener: &Arc<Opener>,
    held: PgConn,
    orders: Vec<NewOrder>,
) -> Vec<Result<Result<Opened, Refusal>, OpenError>> {
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|order| {
            let opener = opener.clone();
            tokio::spawn(async move { opener.open(order).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(held);
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(app: &TestApp, sql: &str, numbers: &[&str]) -> i64 {
    let numbers: Vec<String> = numbers.iter().map(|n| (*n).to_owned()).collect();
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Array<Text>, _>(numbers)
        .get_result::<Count>(&mut app.conn().await)
        .await
        .unwrap()
        .n
}

#[tokio::test]
async fn orders_waiting_together_share_one_statement_and_each_gets_its_own_answer() {
    let app = spawn_app().await;
    let rust = app.add_course("Rust", "66.66", true).await;
    let go = app.add_course("Go", "22.22", true).await;
    let retired = app.add_course("Retired", "10.00", false).await;
    let (opener, held, pool) = held_writer(&app).await;

    let good = ["OPEN_A", "OPEN_B", "OPEN_C", "OPEN_D", "OPEN_E", "OPEN_F"];
    let mut orders: Vec<NewOrder> = good
        .iter()
        .map(|number| new_order(number, "88.88", &[rust, go]))
        .collect();
    orders.push(new_order("OPEN_MISSING", "66.66", &[rust, 999_999]));
    orders.push(new_order("OPEN_RETIRED", "76.66", &[rust, retired]));
    orders.push(new_order("OPEN_WRONG_TOTAL", "88.00", &[go, rust]));
    orders.push(new_order("OPEN_ONE", "22.22", &[go]));
    let answers = open_together(&opener, held, orders).await;

    let mut answers = answers.into_iter().map(|answer| answer.unwrap());
    for number in good {
        let opened = answers.next().unwrap().unwrap_or_else(|refusal| {
            panic!("{number} was refused: {refusal:?}");
        });
        assert_eq!(opened.subject, "Rust (+1 more)", "{number}");
        let row = app.order_row(number).await;
        assert_eq!((row.id, row.status), (opened.id, OrderStatus::Unpaid));
    }
    assert_eq!(answers.next().unwrap(), Err(Refusal::NoSuchCourse(999_999)));
    assert_eq!(answers.next().unwrap(), Err(Refusal::NotForSale(retired)));
    assert_eq!(
        answers.next().unwrap(),
        Err(Refusal::TotalMismatch("88.88".parse().unwrap()))
    );
    assert_eq!(answers.next().unwrap().unwrap().subject, "Go");

    let opened = [&good[..], &["OPEN_ONE"]].concat();
    let refused = ["OPEN_MISSING", "OPEN_RETIRED", "OPEN_WRONG_TOTAL"];
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM orders WHERE out_trade_no = ANY($1)",
            &refused
        )
        .await,
        0,
        "a refused order inserts nothing"
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM order_lines JOIN orders ON orders.id = order_id
              WHERE out_trade_no = ANY($1)",
            &opened
        )
        .await,
        13,
        "two lines for each two-course order, one for the one-course order"
    );
    // Rows written by one transaction share its id (xmin). The writer may have taken the first
    // order alone before it blocked on the held connection; the rest went together.
    let transactions = count(
        &app,
        "SELECT count(DISTINCT xmin::text) AS n FROM orders WHERE out_trade_no = ANY($1)",
        &opened,
    )
    .await;
    assert!(
        transactions <= 2,
        "seven orders opened in {transactions} transactions"
    );

    // Batches of any size run one prepared statement, parsed and planned once per connection.
    let alone = opener.open(new_order("OPEN_ALONE", "66.66", &[rust])).await;
    assert!(matches!(alone, Ok(Ok(_))), "{alone:?}");
    let mut conn = pool.get().await.unwrap();
    let prepared: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT request, %'",
    )
    .get_result::<Count>(&mut *conn)
    .await
    .unwrap()
    .n;
    assert_eq!(prepared, 1);
}

#[tokio::test]
async fn an_order_at_fault_fails_alone_and_its_batch_is_opened_without_it() {
    let app = spawn_app().await;
    let rust = app.add_course("Rust", "66.66", true).await;
    let (opener, held, _pool) = held_writer(&app).await;
    // Already taken: the batch's statement fails on the unique order number.
    let first = Opener::start(app.state.pool.clone(), 1, Metrics::new().unwrap())
        .open(new_order("TAKEN", "66.66", &[rust]))
        .await;
    assert!(matches!(first, Ok(Ok(_))), "{first:?}");

    let orders = vec![
        new_order("FAULT_A", "66.66", &[rust]),
        new_order("TAKEN", "66.66", &[rust]),
        new_order("FAULT_B", "66.66", &[rust]),
        new_order("FAULT_C", "1.00", &[rust]),
    ];
    let answers = open_together(&opener, held, orders).await;

    assert!(matches!(answers[0], Ok(Ok(_))), "{:?}", answers[0]);
    let error = answers[1].as_ref().expect_err("a taken number is an error");
    assert!(
        error.to_string().contains("orders_out_trade_no_key"),
        "{error}"
    );
    assert!(matches!(answers[2], Ok(Ok(_))), "{:?}", answers[2]);
    assert!(
        matches!(answers[3], Ok(Err(Refusal::TotalMismatch(_)))),
        "{:?}",
        answers[3]
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM orders WHERE out_trade_no = ANY($1)",
            &["FAULT_A", "FAULT_B", "FAULT_C", "TAKEN"]
        )
        .await,
        3,
        "FAULT_A, FAULT_B and the first TAKEN"
    );
}

#[tokio::test]
async fn an_order_waits_for_the_database_and_is_refused_with_a_clear_error_when_it_stays_away() {
    let app = spawn_app().await;
    let rust = app.add_course("Rust", "66.66", true).await;
    // A pool whose only connection is held for longer than the pool's wait bound (5 s).
    let (opener, held, _pool) = held_writer(&app).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(15),
        opener.open(new_order("NO_DATABASE", "66.66", &[rust])),
    )
    .await
    .expect("the pool's wait bound answers");
    drop(held);
    let error = answer.expect_err("no connection, no order");
    assert!(matches!(error, OpenError::Pool(_)), "{error:?}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) AS n FROM orders WHERE out_trade_no = ANY($1)",
            &["NO_DATABASE"]
        )
        .await,
        0
    );
}
