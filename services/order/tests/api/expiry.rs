//! The expiry sweeper: QueryTrade, then CloseTrade or paid; safe with several sweepers.

use order::domain::OrderStatus;
use order::expiry::sweep_once;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_expired_order_whose_cashier_never_opened_times_out() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;
    app.expire(&number).await;

    let report = sweep_once(&app.state, "test").await.unwrap();

    assert_eq!(report.closed, 1);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::TimedOut);
    assert!(app.metrics().await.contains("order_orders_expired_total 1"));
}

#[tokio::test]
async fn an_expired_order_is_closed_at_alipay_too() {
    let app = spawn_app().await;
    let (number, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;
    app.expire(&number).await;

    let report = sweep_once(&app.state, "test").await.unwrap();

    assert_eq!(report.closed, 1);
    assert_eq!(app.order_row(&number).await.status, OrderStatus::TimedOut);
    assert_eq!(app.sandbox_trade(&number).await["status"], "TRADE_CLOSED");
}

#[tokio::test]
async fn orders_not_yet_expired_are_left_alone() {
    let app = spawn_app().await;
    let (number, _) = app.order("u1", &[1], "99.90").await;

    let report = sweep_once(&app.state, "test").await.unwrap();

    assert_eq!(report, order::expiry::SweepReport::default());
    assert_eq!(app.order_row(&number).await.status, OrderStatus::Unpaid);
}

#[tokio::test]
async fn an_expired_order_paid_at_alipay_becomes_paid_not_closed() {
    let app = spawn_app().await;
    let (number, link) = app.order("u1", &[1], "99.90").await;
    app.open_cashier(&link).await;
    app.buyer_pays(&number).await;
    app.expire(&number).await;

    let report = sweep_once(&app.state, "test").await.unwrap();

    assert_eq!(report.paid, 1);
    let order = app.order_row(&number).await;
    assert_eq!(order.status, OrderStatus::Paid);
    assert!(!order.needs_refund);
    assert_eq!(app.sandbox_trade(&number).await["status"], "TRADE_SUCCESS");
}

#[tokio::test]
async fn two_sweepers_at_once_close_each_order_once() {
    let app = spawn_app().await;
    let replica = app.spawn_replica().await;
    let mut numbers = Vec::new();
    for _ in 0..6 {
        let (number, link) = app.order("u1", &[1], "99.90").await;
        app.open_cashier(&link).await;
        app.expire(&number).await;
        numbers.push(number);
    }

    let (ours, theirs) = tokio::join!(
        sweep_once(&app.state, "sweeper-a"),
        sweep_once(&replica.state, "sweeper-b")
    );

    let (ours, theirs) = (ours.unwrap(), theirs.unwrap());
    assert_eq!(ours.closed + theirs.closed, 6, "{ours:?} {theirs:?}");
    assert_eq!(ours.failed + theirs.failed, 0, "{ours:?} {theirs:?}");
    for number in &numbers {
        assert_eq!(app.order_row(number).await.status, OrderStatus::TimedOut);
        assert_eq!(app.sandbox_trade(number).await["status"], "TRADE_CLOSED");
    }
    replica.shutdown.cancel();
    let _ = replica.server.await;
}
