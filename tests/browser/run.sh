#!/usr/bin/env bash
# Starts the whole system (scripts/dev.sh) on ports of its own with a fresh database, runs the
# browser test against it, and stops everything. Prints where the screenshots are.
set -euo pipefail
cd "$(dirname "$0")/../.."

export ORDER_PORT=18080 NOTIFY_PORT=18081 SANDBOX_PORT=18090 GATEWAY_PORT=15051 GATEWAY_METRICS_PORT=19090
export DATABASE_NAME="browser_test_$$"
export DEV_STATE_DIR
DEV_STATE_DIR=$(mktemp -d /tmp/coursepay-browser.XXXXXX)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# A CJK font, or the screenshots of the (bilingual) cashier show boxes for the Chinese.
# WenQuanYi Zen Hei: one package of ~10 MB, against ~50 MB for Noto CJK.
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
  missing+=(fontconfig fonts-wqy-zenhei)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "[browser] installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q >/dev/null
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --no-audit --no-fund --silent)

bash scripts/dev.sh >"$DEV_STATE_DIR/dev.out" 2>&1 &
dev=$!
cleanup() {
  kill -TERM "$dev" 2>/dev/null || true
  wait "$dev" 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DATABASE_NAME" || true
  rm -rf "$DEV_STATE_DIR"
}
trap cleanup EXIT

for _ in $(seq 1 900); do
  grep -q "The system is up" "$DEV_STATE_DIR/dev.out" 2>/dev/null && break
  kill -0 "$dev" 2>/dev/null || { cat "$DEV_STATE_DIR/dev.out" >&2; echo "[browser] the system did not start" >&2; exit 1; }
  sleep 1
done
grep -q "The system is up" "$DEV_STATE_DIR/dev.out" || { cat "$DEV_STATE_DIR/dev.out" >&2; exit 1; }

STOREFRONT_URL="http://127.0.0.1:$ORDER_PORT" node tests/browser/buy-a-course.mjs || {
  echo "[browser] failed; the services' logs:" >&2
  tail -n 30 "$DEV_STATE_DIR"/logs/*.log >&2 || true
  exit 1
}
