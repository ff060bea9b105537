#!/usr/bin/env bash
# The order service's throughput figures: release builds of alipay-sandbox, payment-gateway and
# order on this machine, against the local PostgreSQL and RabbitMQ, with POST /order/pay/ driven
# by tools/load (`order-load`) over loopback (HTTP → transaction → gRPC signing), then event to paid.
#
#   services/order/scripts/bench.sh [extra load options, e.g. --connections 64 --duration 20s]
#
# Environment: CONNECTIONS (default 32), DURATION (10s), EVENTS (1000, 0 to skip), RUST_LOG
# (services' log level, default warn), HTTP_WORKERS (order's; default: CPUs), POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432), DATABASE_PARAMS (appended to order's DATABASE_URL,
# e.g. '?options=-c%20synchronous_commit%3Doff' for an experiment), AMQP_URL (default the local
# guest account).
# ZERO_TOTAL=1 orders a free course instead (paid at once, no gRPC call): the order service and
# PostgreSQL without the gateway, to see which side limits the rate.
# Everything it creates (database, RabbitMQ names, processes) is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../../.."
source scripts/bench/lib.sh
target=${CARGO_TARGET_DIR:-target}
postgres=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
amqp_url=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
keys=crates/alipay/tests/vectors/keys   # TEST-ONLY keys
app_id=2021000000000001
run="bench$(date +%s)$$"
prefix="$run."
database="order_$run"
# Free ports picked by the kernel, so a run never talks to another bench's servers.
sandbox_port=$(free_port)
gateway_port=$(free_port)
gateway_metrics_port=$(free_port)
order_port=$(free_port)
secret=bench-secret-of-at-least-32-bytes-long
logs=$(mktemp -d -t order-bench.XXXXXX)

cargo build --release -p alipay-sandbox -p payment-gateway -p order --bins
cargo build --release -p load --bin order-load

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$target/release/order-load" --delete-topology --prefix "$prefix" --amqp-url "$amqp_url" || true
  psql "$postgres/postgres" -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" || true
  echo "logs: $logs"
}
trap cleanup EXIT

psql "$postgres/postgres" -qc "CREATE DATABASE \"$database\""

BIND_ADDR=127.0.0.1:$sandbox_port SANDBOX_APP_ID=$app_id SANDBOX_APP_PUBLIC_KEY_FILE=$keys/app_public.pem \
  SANDBOX_ALIPAY_PRIVATE_KEY_FILE=$keys/alipay_private_pkcs8.pem RUST_LOG=${RUST_LOG:-warn} \
  "$target/release/alipay-sandbox" >"$logs/sandbox.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$sandbox_port/readyz" alipay-sandbox "$logs"

BIND_ADDR=127.0.0.1:$gateway_port METRICS_ADDR=127.0.0.1:$gateway_metrics_port ALIPAY_APP_ID=$app_id \
  ALIPAY_APP_PRIVATE_KEY_FILE=$keys/app_private_pkcs8.pem ALIPAY_PUBLIC_KEY_FILE=$keys/alipay_public.pem \
  ALIPAY_GATEWAY="http://127.0.0.1:$sandbox_port/gateway.do" \
  ALIPAY_NOTIFY_URL=http://127.0.0.1:8081/alipay/notify ALIPAY_RETURN_URL=http://127.0.0.1:8080/order/success/ \
  RUST_LOG=${RUST_LOG:-warn} "$target/release/payment-gateway" >"$logs/gateway.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$gateway_metrics_port/readyz" payment-gateway "$logs"

BIND_ADDR=127.0.0.1:$order_port DATABASE_URL="$postgres/$database${DATABASE_PARAMS:-}" AMQP_URL=$amqp_url AMQP_PREFIX=$prefix \
  PAYMENT_GATEWAY_URL=http://127.0.0.1:$gateway_port JWT_SECRET=$secret ALIPAY_APP_ID=$app_id \
  RUST_LOG=${RUST_LOG:-warn} "$target/release/order" >"$logs/order.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$order_port/readyz" order "$logs"

for pid in "${pids[@]}"; do kill -0 "$pid" || { echo "a service exited early; logs in $logs" >&2; exit 1; }; done
echo "sandbox :$sandbox_port, gateway :$gateway_port, order :$order_port; database $database; AMQP prefix $prefix"
token=$(JWT_SECRET=$secret "$target/release/order" token --user-id bench --ttl 1h)
order_args=()
if [ -n "${ZERO_TOTAL:-}" ]; then
  free=$(psql "$postgres/$database" -tAc "INSERT INTO courses (name, price) VALUES ('bench free', 0) RETURNING id" | head -1)
  order_args=(--courses "$free" --total 0.00)
fi

"$target/release/order-load" --url "http://127.0.0.1:$order_port" --token "$token" \
  --connections "${CONNECTIONS:-32}" --duration "${DURATION:-10s}" --warmup 2s \
  --events "${EVENTS:-1000}" --prefix "$prefix" --app-id $app_id --amqp-url "$amqp_url" \
  "${order_args[@]}" "$@"
curl -fs "http://127.0.0.1:$order_port/metrics" | grep -E '^order_(orders_created_total|gateway_errors_total|events_total)' || true
