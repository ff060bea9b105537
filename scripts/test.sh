#!/usr/bin/env bash
# Runs every test of the workspace against the real PostgreSQL and RabbitMQ (started if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/coursepay-target}"
bash scripts/ensure-services.sh
command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
cargo nextest run --workspace --no-fail-fast "$@"
