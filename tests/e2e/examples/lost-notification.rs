//! Measures how long a payment whose notification is lost takes to show as paid, with the order
//! service's default active-sync schedule (`SYNC_SCHEDULE=1m,3m,10m`) and sweep interval (30 s),
//! and nobody coming back to the return page. The whole system runs in-process (the e2e harness).
//!
//! ```text
//! cargo run -p e2e --example lost-notification -- 3
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: failing loudly is fine

use std::time::{Duration, Instant};

use clap::Parser;
use e2e::{System, SystemConfig};
use serde_json::json;

/// lost-notification: how long a payment whose notification is lost takes to show as paid.
#[derive(Debug, Parser)]
#[command(name = "lost-notification")]
struct Options {
    /// Payments to measure, one after another.
    #[arg(default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = Options::parse().runs;
    let system = System::start_with(SystemConfig {
        sweep_interval: "30s",
        ..SystemConfig::default()
    })
    .await;
    let mut waits = Vec::new();
    for run in 0..runs {
        let buyer = format!("lost-{run}");
        let out_trade_no = system.buy(&buyer).await;
        // Every notification of this payment is lost: never sent, never retried.
        system.faults(json!({"notify": {"drop": 100}})).await;
        let paid_at = Instant::now();
        system.pay(&out_trade_no).await;
        while system.status_of(&buyer, &out_trade_no).await != 1 {
            assert!(paid_at.elapsed() < Duration::from_secs(600), "never paid");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let wait = paid_at.elapsed();
        println!(
            "run {run}: paid at Alipay → paid here in {:.1} s",
            wait.as_secs_f64()
        );
        waits.push(wait.as_secs_f64());
    }
    let worst = waits.iter().copied().fold(0.0, f64::max);
    let mean = waits.iter().sum::<f64>() / waits.len() as f64;
    println!("lost notification → paid: mean {mean:.1} s, worst {worst:.1} s over {runs} run(s)");
    system.shut_down().await;
}
