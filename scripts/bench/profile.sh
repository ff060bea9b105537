#!/usr/bin/env bash
# Where one workload's CPU goes, by process and inside PostgreSQL: runs scripts/bench-compare.sh
# for WORKLOAD (pay or notify; one run) and samples every CPU with perf while wrk drives it.
#
#   scripts/bench/profile.sh notify [SECONDS]
#
# Prints the share of all samples per process (comm), then PostgreSQL's executor stages
# (scripts/bench/pg_stages.py). Keeps perf.data in a temporary directory for `perf report`.
# Needs perf (Debian: linux-perf) and wrk; perf's overhead slows the run itself by a few percent,
# so take rates from bench-compare.sh without perf and use this only for the shares.
set -euo pipefail
cd "$(dirname "$0")/../.."
workload=${1:?usage: scripts/bench/profile.sh pay|notify [seconds]}
seconds=${2:-10}
case $workload in pay | notify) ;; *) echo "workload must be pay or notify" >&2; exit 2 ;; esac
command -v perf >/dev/null || { echo "perf is needed (apt-get install -y linux-perf)" >&2; exit 1; }
out=$(mktemp -d -t bench-profile.XXXXXX)

WORKLOADS=$workload RUNS=1 PAY_RUNS=1 DURATION=$((seconds + 8))s OPENSSL_SECONDS=1 \
  scripts/bench-compare.sh >"$out/bench.log" 2>&1 &
driver=$!
# The driver builds, starts the services and (for notify) makes orders first: wait for wrk.
# The driver warms up with a 3 s wrk run first; wait for the measured one.
until pgrep -f -- "wrk .*-d$((seconds + 8))s" >/dev/null; do
  kill -0 "$driver" 2>/dev/null || { cat "$out/bench.log" >&2; exit 1; }
  sleep 0.5
done
sleep 2
perf record -a -g -F 999 -o "$out/perf.data" -- sleep "$seconds" 2>"$out/perf.log"
wait "$driver" || { cat "$out/bench.log" >&2; exit 1; }

grep -E "^  ours $workload run" "$out/bench.log" || true
echo "share of all CPU samples by process (swapper = idle):"
perf report -i "$out/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
  grep -E '^ +[0-9.]+%' | head -15
perf script -i "$out/perf.data" 2>/dev/null | python3 scripts/bench/pg_stages.py
echo "perf.data and the driver's log: $out"
