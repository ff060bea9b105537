#!/usr/bin/env bash
# Reproduces the README's throughput figures: a release notify-receiver with publisher confirms
# on, against the local RabbitMQ, driven by tools/load (`notify-load`) over loopback.
#
#   services/notify-receiver/scripts/bench.sh [extra load options, e.g. --connections 16]
#
# Environment: RUST_LOG (receiver's log level, default info), HTTP_WORKERS (default: CPUs),
# PORT (default 18081), AMQP_URL (default the local guest account).
set -euo pipefail
cd "$(dirname "$0")/../../.."
target=${CARGO_TARGET_DIR:-target}
port=${PORT:-18081}
amqp_url=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
prefix="bench-$(date +%s)-$$."
keys=crates/alipay/tests/vectors/keys   # TEST-ONLY keys

cargo build --release -p notify-receiver --bin notify-receiver -p load --bin notify-load

log=$(mktemp -t notify-receiver-bench.XXXXXX.log)
BIND_ADDR=127.0.0.1:$port AMQP_URL=$amqp_url AMQP_EXCHANGE="${prefix}payments" \
  ALIPAY_APP_ID=2021000000000001 ALIPAY_PUBLIC_KEY_FILE=$keys/alipay_public.pem \
  RUST_LOG=${RUST_LOG:-info} "$target/release/notify-receiver" >"$log" 2>&1 &
receiver=$!
trap 'kill -TERM $receiver 2>/dev/null; wait $receiver 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "receiver not ready; log: $log"; exit 1; }

"$target/release/notify-load" --url "http://127.0.0.1:$port/alipay/notify" \
  --connections 64 --duration 10s --warmup 2s --prefix "$prefix" --amqp-url "$amqp_url" "$@"
curl -fs "http://127.0.0.1:$port/metrics" | grep -E '^notify_(notifications_total|publish_confirm_seconds_(sum|count|bucket))'
echo "receiver log: $log ($(wc -l <"$log") lines)"
