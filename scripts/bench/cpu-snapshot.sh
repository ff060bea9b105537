#!/usr/bin/env bash
# Prints the CPU time (user + system, in milliseconds) used so far by each component of the
# system on this machine, one "component milliseconds" line each. Run it before and after a load
# run: the difference divided by the requests served is the CPU each request cost each component
# (docs/capacity.md). Processes are matched by executable name, so only one copy of the system
# should run; PostgreSQL and RabbitMQ are counted whole (every backend, every Erlang scheduler).
set -euo pipefail
ticks_per_second=$(getconf CLK_TCK)
for component in order payment-gateway notify-receiver alipay-sandbox postgres beam.smp; do
  total=0
  for pid in $(pgrep -x "$component" || true); do
    # Fields 14 and 15 of /proc/PID/stat: utime and stime in clock ticks. The command name
    # (field 2) has no spaces for these executables, so plain field splitting is safe.
    read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat" 2>/dev/null || echo "0 0")
    total=$((total + utime + stime))
  done
  echo "$component $((total * 1000 / ticks_per_second))"
done
# The machine's idle time (idle + iowait over every CPU, /proc/stat): CPU that no one used, for
# lack of runnable work rather than of cores.
read -r idle iowait < <(awk '/^cpu / {print $5, $6}' /proc/stat)
echo "idle $(((idle + iowait) * 1000 / ticks_per_second))"
