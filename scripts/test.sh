#!/usr/bin/env bash
# Runs every test: the workspace's unit, integration and end-to-end tests against the real
# PostgreSQL and RabbitMQ (installed and started if needed), then the tests that restart the
# broker (alone, so they cannot disturb the others), then the browser test in headless Chromium.
#
#   ./scripts/test.sh                 # everything
#   SKIP_BROWSER=1 ./scripts/test.sh  # without the browser test
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cargo-env.sh
bash scripts/ensure-services.sh
command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked

# 1. Everything that shares the broker politely, in parallel.
cargo nextest run --workspace --no-fail-fast -E 'not binary(disruptive)'
# 2. Tests that stop and restart RabbitMQ: alone and one at a time. `--workspace`, not `-p e2e`:
#    the same package selection as step 1 resolves the same features, so nothing is rebuilt.
cargo nextest run --workspace --no-fail-fast --test-threads 1 -E 'binary(disruptive)'
# 3. A buyer in a real browser.
if [ -z "${SKIP_BROWSER:-}" ]; then
  bash tests/browser/run.sh
fi
