#!/usr/bin/env bash
# Reproduces the README's benchmark: a release payment-gateway signing CreatePagePay links for
# 32 concurrent callers (tools/load `gateway-load`, over loopback), next to `openssl speed` RSA-2048 sign/s
# from the same run. CreatePagePay makes no network call, so no sandbox is needed.
#
#   services/payment-gateway/scripts/bench.sh [extra load options, e.g. --callers 64 --duration 20s]
#
# Environment: PORT (gRPC, default 15051), METRICS_PORT (default 19090), RUST_LOG (gateway log
# level, default warn), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../../.."
target=${CARGO_TARGET_DIR:-target}
port=${PORT:-15051}
metrics_port=${METRICS_PORT:-19090}
keys=crates/alipay/tests/vectors/keys   # TEST-ONLY keys

cargo build --release -p payment-gateway --bin payment-gateway -p load --bin gateway-load

echo "== openssl speed -seconds 5 -multi 2 rsa2048"
openssl_out=$(openssl speed -seconds 5 -multi 2 rsa2048 2>/dev/null)
echo "$openssl_out" | grep -E '^(version|built|options|CPUINFO)|sign/s|^rsa' || true
# The summary row: "rsa 2048 bits 0.000153s 0.000005s 6535.9 198412.7" (sign/s is the 4th number).
openssl_sign=$(echo "$openssl_out" | awk '/^rsa +2048 bits/ {print $(NF-1)}' | tail -1)

log=$(mktemp -t payment-gateway-bench.XXXXXX.log)
BIND_ADDR=127.0.0.1:$port METRICS_ADDR=127.0.0.1:$metrics_port \
  ALIPAY_APP_ID=2021000000000001 \
  ALIPAY_APP_PRIVATE_KEY_FILE=$keys/app_private_pkcs1.pem ALIPAY_PUBLIC_KEY_FILE=$keys/alipay_public.pem \
  ALIPAY_NOTIFY_URL=https://pay.example.com/alipay/notify ALIPAY_RETURN_URL=https://shop.example.com/order/success/ \
  RUST_LOG=${RUST_LOG:-warn} "$target/release/payment-gateway" >"$log" 2>&1 &
gateway=$!
trap 'kill -TERM $gateway 2>/dev/null; wait $gateway 2>/dev/null || true' EXIT

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$metrics_port/readyz" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$metrics_port/readyz" >/dev/null || { echo "gateway not ready; log: $log"; cat "$log"; exit 1; }
# Ready, but is it ours? (Another process on the port would answer for a gateway that exited.)
kill -0 $gateway 2>/dev/null || { echo "the gateway exited (port in use?); log: $log"; cat "$log"; exit 1; }

echo
echo "== load: CreatePagePay, 32 callers"
load_out=$("$target/release/gateway-load" --url "http://127.0.0.1:$port" --callers 32 --duration 10s --warmup 2s "$@")
echo "$load_out"
rpc=$(echo "$load_out" | awk '/rpc_per_sec/ {print $2}')

echo
echo "== summary"
echo "openssl rsa2048 sign/s (-multi 2): ${openssl_sign:-?}"
echo "CreatePagePay RPC/s end to end:     ${rpc:-?}"
if [[ -n "${openssl_sign:-}" && -n "${rpc:-}" ]]; then
  awk -v r="$rpc" -v o="$openssl_sign" 'BEGIN { printf "ratio:                              %.0f%% of openssl (target >= 70%%)\n", 100 * r / o }'
fi
echo "$load_out" | awk '/p99_ms/ {printf "p99:                                %s ms (target <= 10 ms)\n", $2}'
curl -fs "http://127.0.0.1:$metrics_port/metrics" | grep -E '^gateway_(signatures_total|rpcs_total)' || true
echo "gateway log: $log ($(wc -l <"$log") lines)"
