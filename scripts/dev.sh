#!/usr/bin/env bash
# Runs the whole system on this machine: PostgreSQL and RabbitMQ (started if needed), dev keys,
# the four services with migrations and demo data, then prints the URLs to open. Ctrl-C stops it.
#
#   ./scripts/dev.sh            # debug build (fast to compile)
#   ./scripts/dev.sh --release  # optimised build
#
# State lives in .dev/ (git-ignored; DEV_STATE_DIR moves it): keys made at first start, logs, the sandbox's key pair.
# `rm -rf .dev` starts over with new keys.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/cargo-env.sh

profile=debug
cargo_profile=()
if [ "${1:-}" = "--release" ]; then
  profile=release
  cargo_profile=(--release)
fi

log() { printf '\033[1m[dev]\033[0m %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Ports of DESIGN.md; override any of them from the environment.
ORDER_PORT=${ORDER_PORT:-8080}
NOTIFY_PORT=${NOTIFY_PORT:-8081}
SANDBOX_PORT=${SANDBOX_PORT:-8090}
GATEWAY_PORT=${GATEWAY_PORT:-50051}
GATEWAY_METRICS_PORT=${GATEWAY_METRICS_PORT:-9090}
DATABASE_NAME=${DATABASE_NAME:-coursepay}

for port in "$ORDER_PORT" "$NOTIFY_PORT" "$SANDBOX_PORT" "$GATEWAY_PORT" "$GATEWAY_METRICS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use (another ./scripts/dev.sh?); stop that, or set e.g. ORDER_PORT=18080"
  fi
done

bash scripts/ensure-services.sh

log "building the services ($profile)"
# The whole workspace, examples included: building an example turns on the dev-dependencies, so
# every dependency is compiled with exactly the features `./scripts/test.sh` uses, into the same
# target directory (scripts/cargo-env.sh). Whichever of the two commands runs first, the second
# reuses its build instead of compiling the dependency tree again.
cargo build "${cargo_profile[@]}" --workspace --bins --examples
bin="$CARGO_TARGET_DIR/$profile"

state="${DEV_STATE_DIR:-$root/.dev}"
mkdir -p "$state/logs" "$state/sandbox"
chmod 700 "$state"

if ! psql -h 127.0.0.1 -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE_NAME'" | grep -q 1; then
  log "creating database $DATABASE_NAME"
  createdb -h 127.0.0.1 -U postgres "$DATABASE_NAME"
fi

# The app key pair, as a merchant would make it (never committed; .dev is git-ignored).
"$bin/payment-gateway" keygen --out "$state/keys" --keep-existing >/dev/null

pids=()
stop_all() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    log "stopping"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_all EXIT INT TERM

# start NAME READY_URL ENV... : runs target/…/NAME with the given environment, logs to .dev/logs,
# and waits until READY_URL answers 2xx.
start() {
  local name=$1 ready=$2
  shift 2
  env RUST_LOG="${RUST_LOG:-info}" "$@" "$bin/$name" >"$state/logs/$name.log" 2>&1 &
  pids+=($!)
  local pid=$!
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$ready" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$state/logs/$name.log" >&2; die "$name exited; its log is above"; }
    sleep 0.2
  done
  tail -n 20 "$state/logs/$name.log" >&2
  die "$name did not become ready at $ready"
}

APP_ID=2021000000000001
SELLER_ID=2088102177846880
log "starting alipay-sandbox on :$SANDBOX_PORT"
start alipay-sandbox "http://127.0.0.1:$SANDBOX_PORT/readyz" \
  BIND_ADDR="127.0.0.1:$SANDBOX_PORT" \
  SANDBOX_APP_ID=$APP_ID SANDBOX_SELLER_ID=$SELLER_ID \
  SANDBOX_APP_PUBLIC_KEY_FILE="$state/keys/app_public_key.pem" \
  SANDBOX_DATA_DIR="$state/sandbox" \
  SANDBOX_PUBLIC_URL="http://127.0.0.1:$SANDBOX_PORT"

log "starting payment-gateway on :$GATEWAY_PORT"
start payment-gateway "http://127.0.0.1:$GATEWAY_METRICS_PORT/readyz" \
  BIND_ADDR="127.0.0.1:$GATEWAY_PORT" METRICS_ADDR="127.0.0.1:$GATEWAY_METRICS_PORT" \
  ALIPAY_APP_ID=$APP_ID \
  ALIPAY_APP_PRIVATE_KEY_FILE="$state/keys/app_private_key_pkcs8.pem" \
  ALIPAY_PUBLIC_KEY_FILE="$state/sandbox/alipay_public_key.pem" \
  ALIPAY_GATEWAY="http://127.0.0.1:$SANDBOX_PORT/gateway.do" \
  ALIPAY_NOTIFY_URL="http://127.0.0.1:$NOTIFY_PORT/alipay/notify" \
  ALIPAY_RETURN_URL="http://127.0.0.1:$ORDER_PORT/pay/success"

log "starting notify-receiver on :$NOTIFY_PORT"
start notify-receiver "http://127.0.0.1:$NOTIFY_PORT/readyz" \
  BIND_ADDR="127.0.0.1:$NOTIFY_PORT" \
  AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" \
  ALIPAY_APP_ID=$APP_ID ALIPAY_SELLER_ID=$SELLER_ID \
  ALIPAY_PUBLIC_KEY_FILE="$state/sandbox/alipay_public_key.pem"

# DEV ONLY: a fixed, published JWT secret so tokens survive restarts of this script.
JWT_SECRET=dev-only-jwt-secret-change-me-0123456789abcdef
order_env=(
  BIND_ADDR="127.0.0.1:$ORDER_PORT"
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DATABASE_NAME"
  AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
  PAYMENT_GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
  JWT_SECRET=$JWT_SECRET
  ALIPAY_APP_ID=$APP_ID
  SEED_DEMO_DATA=on
  STOREFRONT=on
)
log "starting order on :$ORDER_PORT (migrations and demo courses at start-up)"
start order "http://127.0.0.1:$ORDER_PORT/readyz" "${order_env[@]}"

token=$(env "${order_env[@]}" "$bin/order" token --user-id 1 --ttl 24h)
admin_token=$(env "${order_env[@]}" "$bin/order" token --user-id 1000 --admin --ttl 24h)

cat <<EOF

  The system is up. Open:
    storefront             http://127.0.0.1:$ORDER_PORT/
    order API (OpenAPI)    http://127.0.0.1:$ORDER_PORT/api/v1/openapi.json
    Alipay sandbox         http://127.0.0.1:$SANDBOX_PORT/sandbox/alipay-public-key
    notify receiver        http://127.0.0.1:$NOTIFY_PORT/metrics
    payment-gateway        grpc://127.0.0.1:$GATEWAY_PORT  (metrics http://127.0.0.1:$GATEWAY_METRICS_PORT/metrics)
    RabbitMQ               amqp://guest:guest@127.0.0.1:5672/

  A buyer's token (user 1):  $token
  An admin's token:          $admin_token
  Try:  curl -s http://127.0.0.1:$ORDER_PORT/api/v1/courses

  Logs: .dev/logs/*.log     Ctrl-C stops everything.

EOF
wait -n "${pids[@]}" || true
log "a service exited; see .dev/logs"
