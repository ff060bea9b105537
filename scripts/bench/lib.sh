# Shell helpers shared by the benchmark drivers (scripts/bench-compare.sh and
# services/order/scripts/bench.sh). Source it; it defines functions only.

# free_port: a TCP port free on 127.0.0.1 right now (the kernel picks it).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_ready URL NAME LOGS: waits up to 30 s for URL to answer 2xx, else names the service, says
# where its logs are and exits.
wait_ready() {
  for _ in $(seq 300); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$2 did not become ready; logs in $3" >&2
  exit 1
}
