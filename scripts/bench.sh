#!/usr/bin/env bash
# Every benchmark of the README, one after another (run it on a quiet machine; each one
# starts what it needs against the local PostgreSQL and RabbitMQ, and cleans up after itself):
#   1. openssl speed rsa2048 on all cores: the reference the signing targets are set against;
#   2. crates/alipay: page-pay links and notification verification (criterion);
#   3. payment-gateway: CreatePagePay at 32 concurrent callers;
#   4. order: POST /order/pay/ end to end at 32 connections, then event → paid;
#   5. notify-receiver: notifications → RabbitMQ with confirms.
# The side-by-side comparison with the Django original (wrk against the frontend's three
# endpoints, optionally against a baseline) is separate: scripts/bench-compare.sh (see its header).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cargo-env.sh
bash scripts/ensure-services.sh

echo "== openssl speed -seconds 5 -multi $(nproc) rsa2048"
openssl speed -seconds 5 -multi "$(nproc)" rsa2048 2>/dev/null | grep -E '^(rsa 2048|                  sign)' || true
echo "== alipay crate (criterion)"
cargo bench -p alipay --bench signing -- --noplot 2>&1 | grep -E '^[a-z].*/|time:|thrpt:'
echo "== payment-gateway"
bash services/payment-gateway/scripts/bench.sh
echo "== order"
bash services/order/scripts/bench.sh
echo "== notify-receiver"
bash services/notify-receiver/scripts/bench.sh
