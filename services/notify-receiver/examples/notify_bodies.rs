//! Signs one Alipay payment notification (`TRADE_SUCCESS`) for each given order, for
//! `scripts/bench/notify.lua`: each line of the output is a complete
//! `application/x-www-form-urlencoded` body, so every request of a benchmark pays a different
//! order, for exactly its amount, with a fresh `notify_id` and `trade_no`.
//!
//! ```text
//! psql "$DATABASE_URL" -tA -F' ' -c "SELECT out_trade_no, total_amount FROM orders WHERE status = 0" \
//!   | cargo run --release -p notify-receiver --example notify_bodies -- --out bodies.txt
//! ```
//!
//! Input: one order a line, `out_trade_no total_amount` (whitespace between; blank lines
//! skipped). Signed with the alipay crate's TEST-ONLY "Alipay" key by default, so the receiver
//! under test must trust the matching public key (`alipay_public.pem` beside it). The bodies do
//! not depend on the implementation that receives them: the same file drives the Django original.

use std::error::Error;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use alipay::form;
use alipay::keys::PrivateKey;
use alipay::sign::{self, SignType};
use chrono::{FixedOffset, Utc};
use clap::Parser;

type AnyError = Box<dyn Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(
    name = "notify_bodies",
    about = "Signs one TRADE_SUCCESS notification body per order (one order per input line: `out_trade_no total_amount`)"
)]
struct Options {
    /// The orders, one `out_trade_no total_amount` a line; `-` reads standard input.
    #[arg(long, default_value = "-")]
    orders: PathBuf,
    /// Where the bodies go, one a line, in the input's order; `-` writes standard output.
    #[arg(long, default_value = "-")]
    out: PathBuf,
    /// `app_id` (and `auth_app_id`) in the notifications: the receiver's `ALIPAY_APP_ID`.
    #[arg(long, default_value = "2021000000000001")]
    app_id: String,
    /// `seller_id` in the notifications.
    #[arg(long, default_value = "2088102177846880")]
    seller_id: String,
    /// The private key that signs them (Alipay's side); default: the alipay crate's TEST-ONLY key.
    #[arg(long, default_value_os_t = default_key())]
    key: PathBuf,
    /// `RSA2` or `RSA`.
    #[arg(long, default_value = "RSA2")]
    sign_type: SignType,
    /// Signing threads; default: every CPU.
    #[arg(long)]
    threads: Option<usize>,
}

fn default_key() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/alipay/tests/vectors/keys/alipay_private_pkcs8.pem")
}

/// One order to pay, as read from the input.
#[derive(Debug)]
struct Order {
    out_trade_no: String,
    total_amount: String,
}

fn read_orders(text: &str) -> Result<Vec<Order>, AnyError> {
    let mut orders = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(out_trade_no) = fields.next() else {
            continue;
        };
        let (Some(total_amount), None) = (fields.next(), fields.next()) else {
            return Err(format!(
                "line {}: expected `out_trade_no total_amount`, got {line:?}",
                number + 1
            )
            .into());
        };
        orders.push(Order {
            out_trade_no: out_trade_no.to_owned(),
            total_amount: total_amount.to_owned(),
        });
    }
    Ok(orders)
}

/// What every notification of this run shares.
#[derive(Debug)]
struct Shared {
    key: PrivateKey,
    sign_type: SignType,
    app_id: String,
    seller_id: String,
    /// Beijing time, as Alipay writes its timestamps.
    now: String,
    /// Keeps `trade_no`s of separate runs of this tool apart (Alipay's are 28 digits).
    run: u32,
}

fn body(shared: &Shared, index: usize, order: &Order) -> Result<String, AnyError> {
    let notify_id = uuid::Uuid::new_v4().simple().to_string();
    let trade_no = format!(
        "{}22{:08}{:010}",
        &shared.now[..10].replace('-', ""),
        shared.run,
        index
    );
    let amount = order.total_amount.as_str();
    let fund_bill_list = format!(r#"[{{"amount":"{amount}","fundChannel":"ALIPAYACCOUNT"}}]"#);
    let fields: Vec<(&str, &str)> = vec![
        ("gmt_create", &shared.now),
        ("charset", "utf-8"),
        ("gmt_payment", &shared.now),
        ("notify_time", &shared.now),
        ("subject", "Rust 入门 (+1 more)"),
        ("buyer_id", "2088102177846875"),
        ("invoice_amount", amount),
        ("version", "1.0"),
        ("notify_id", &notify_id),
        ("fund_bill_list", &fund_bill_list),
        ("notify_type", "trade_status_sync"),
        ("out_trade_no", &order.out_trade_no),
        ("total_amount", amount),
        ("trade_status", "TRADE_SUCCESS"),
        ("trade_no", &trade_no),
        ("auth_app_id", &shared.app_id),
        ("receipt_amount", amount),
        ("point_amount", "0.00"),
        ("app_id", &shared.app_id),
        ("buyer_pay_amount", amount),
        ("seller_id", &shared.seller_id),
    ];
    let content = sign::notification_content(fields.iter().copied());
    let signature = sign::sign(&shared.key, shared.sign_type, &content)?;
    let mut all = fields;
    all.push(("sign_type", shared.sign_type.as_str()));
    all.push(("sign", &signature));
    Ok(form::encode(all))
}

fn main() -> Result<(), AnyError> {
    let options = Options::parse();
    let mut input = String::new();
    if options.orders.as_os_str() == "-" {
        std::io::stdin().lock().read_to_string(&mut input)?;
    } else {
        input = std::fs::read_to_string(&options.orders)
            .map_err(|error| format!("reading {}: {error}", options.orders.display()))?;
    }
    let orders = read_orders(&input)?;
    let key_text = std::fs::read_to_string(&options.key)
        .map_err(|error| format!("reading {}: {error}", options.key.display()))?;
    let beijing = FixedOffset::east_opt(8 * 3600).ok_or("UTC+8 is a valid offset")?;
    let shared = Shared {
        key: PrivateKey::from_text(&key_text)?,
        sign_type: options.sign_type,
        app_id: options.app_id,
        seller_id: options.seller_id,
        now: Utc::now()
            .with_timezone(&beijing)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        run: uuid::Uuid::new_v4().as_u128() as u32 % 100_000_000,
    };

    // One RSA signature per order: split the work over the CPUs, keep the input's order.
    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let chunk = orders.len().div_ceil(threads).max(1);
    let signed: Vec<Result<Vec<String>, AnyError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = orders
            .chunks(chunk)
            .enumerate()
            .map(|(part, slice)| {
                let shared = &shared;
                scope.spawn(move || {
                    slice
                        .iter()
                        .enumerate()
                        .map(|(offset, order)| body(shared, part * chunk + offset, order))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err("a signing thread panicked".into()))
            })
            .collect()
    });

    let mut out: Box<dyn Write> = if options.out.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(BufWriter::new(
            std::fs::File::create(&options.out)
                .map_err(|error| format!("creating {}: {error}", options.out.display()))?,
        ))
    };
    for bodies in signed {
        for body in bodies? {
            writeln!(out, "{body}")?;
        }
    }
    out.flush()?;
    eprintln!("signed {} notification bodies", orders.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_orders_and_refuses_malformed_lines() {
        let orders = read_orders("A1 88.88\n\n  B2\t0.01 \n").unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[1].out_trade_no, "B2");
        assert_eq!(orders[1].total_amount, "0.01");
        assert!(
            read_orders("A1\n")
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        assert!(read_orders("A1 1.00 extra\n").is_err());
    }
}
