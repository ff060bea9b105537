#!/usr/bin/env bash
# Issue 16's side-by-side table: the three endpoints the original frontend uses, driven by wrk
# (scripts/bench/*.lua) with the same scripts against this system and, with BASELINE_URL, against
# another implementation of the same contract (the Django original). Run it on a quiet machine.
#
#   scripts/bench-compare.sh
#   BASELINE_URL=http://127.0.0.1:8000 BASELINE_TOKEN=… BASELINE_COURSES=1,2 BASELINE_TOTAL=88.88 \
#     BASELINE_ORDERS_CMD=/path/to/make-orders scripts/bench-compare.sh
#
# It builds and starts release builds of alipay-sandbox, payment-gateway, notify-receiver and
# order on free loopback ports, with a fresh database and AMQP prefix (removed at the end, with
# the processes), then workload by workload, for each implementation in turn:
#   1. POST /order/pay/: PAY_RUNS consecutive runs (after a short warm-up), to show decay;
#   2. notifications → `success`: RUNS runs, each over fresh unpaid orders made beforehand, one
#      signed TRADE_SUCCESS body per order (examples/notify_bodies.rs), so every request is a real
#      payment; then one run paced at half the median rate. For this system, after each run it
#      waits until the consumer has paid every accepted notification's order and takes event → paid
#      quantiles from the bucket deltas of order_event_to_paid_seconds on the order service;
#   3. GET /order/success/: RUNS runs over orders paid in the first notification run;
# and `openssl speed -multi 2 rsa2048` before and after (and briefly around each pay run, whose rate
# is set against the two around it), as the CPU's yardstick. wrk, the services,
# PostgreSQL and RabbitMQ share the machine's cores, as in the issue's measurement.
#
# Orders for the notification runs are made in one SQL statement per run that calls the order
# service's own open_orders() (the function POST /order/pay/ runs): the same rows as the API makes,
# without spending minutes of pay links on them. The baseline's are made by BASELINE_ORDERS_CMD.
# Before each workload and each notification run it checkpoints PostgreSQL and syncs the disk, so
# that no run pays for writing back what was made in bulk before it (flush_fixtures).
#
# Environment:
#   DURATION (15s), CONNECTIONS (16), THREADS (2): wrk's -d, -c, -t
#   RUNS (3), PAY_RUNS (5): runs per workload
#   REPLICAS (1): copies of each service of ours (gateway, receiver, order; one sandbox), wrk's
#     threads spread over them (THREADS should be a multiple), to check docs/capacity.md's model
#   WORKLOADS ("pay notify success"): which workloads (success needs notify's paid orders)
#   NOTIFY_ORDERS (80000): orders and signed bodies per full-rate notification run (the paced
#     run gets what its rate needs); a run that gets through them all re-sends bodies (counted
#     as `wrapped`, shown as bad, and they pay nothing): raise it for a faster system
#   TARGETS ("ours", plus "baseline" when BASELINE_URL is set)
#   RUST_LOG (warn): the services' log level
#   OPENSSL_SECONDS (10): openssl's run at the start and the end; OPENSSL_RUN_SECONDS (3): its
#     run before each pay run and after the last, against which that run's rate is set
#   POSTGRES_URL (postgres://postgres@127.0.0.1:5432), AMQP_URL (the local guest account)
#   RESULTS: keep the raw results (one record a line) in this file
# The baseline (another implementation of the contract, already running):
#   BASELINE_URL             base URL; POST $BASELINE_URL/order/pay/ and GET …/order/success/
#   BASELINE_NOTIFY_URL      its notification endpoint (default $BASELINE_URL/order/success/,
#                            where the tutorial receives them)
#   BASELINE_TOKEN           a JWT it accepts; BASELINE_AUTH_SCHEME (jwt)
#   BASELINE_COURSES, BASELINE_TOTAL   course ids (comma-separated) and their total price
#   BASELINE_ORDERS_CMD      a command that, given N, creates N unpaid orders there and prints
#                            `out_trade_no total_amount` per line (needed for notifications)
#   BASELINE_APP_ID          app_id in its notifications (default 2021000000000001)
# The baseline must verify notifications with the TEST-ONLY Alipay public key
# (crates/alipay/tests/vectors/keys/alipay_public.pem): the bodies are signed with its private half.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cargo-env.sh
source scripts/bench/lib.sh
target=$CARGO_TARGET_DIR
bench=$(pwd)/scripts/bench

duration=${DURATION:-15s}
openssl_run_seconds=${OPENSSL_RUN_SECONDS:-3}
connections=${CONNECTIONS:-16}
threads=${THREADS:-2}
runs=${RUNS:-3}
pay_runs=${PAY_RUNS:-5}
workloads=${WORKLOADS:-pay notify success}
replicas=${REPLICAS:-1}
notify_orders=${NOTIFY_ORDERS:-80000}
if [ -n "${BASELINE_URL:-}" ]; then targets=${TARGETS:-ours baseline}; else targets=${TARGETS:-ours}; fi
postgres=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
amqp_url=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
keys=crates/alipay/tests/vectors/keys   # TEST-ONLY keys
app_id=2021000000000001
secret=bench-secret-of-at-least-32-bytes-long
run="cmp$(date +%s)$$"
prefix="$run."
database="order_$run"
work=$(mktemp -d -t bench-compare.XXXXXX)
results=${RESULTS:-$work/results.txt}
: >"$results"

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install -y wrk)" >&2; exit 1; }
has() { [[ " $1 " == *" $2 "* ]]; }
if has "$targets" baseline; then
  : "${BASELINE_URL:?BASELINE_URL is needed for the baseline}"
  if has "$workloads" pay; then
    : "${BASELINE_TOKEN:?}" "${BASELINE_COURSES:?}" "${BASELINE_TOTAL:?}"
  fi
  if has "$workloads" notify; then : "${BASELINE_ORDERS_CMD:?BASELINE_ORDERS_CMD is needed to make unpaid orders there}"; fi
fi
if has "$workloads" success && ! has "$workloads" notify; then
  echo "the success workload polls orders paid by the notify workload: add notify to WORKLOADS" >&2
  exit 1
fi


# One build for the servers and the two examples (notify_bodies signs the notification bodies;
# order-load only deletes the AMQP topology at the end, as in services/order/scripts/bench.sh):
# building the examples apart would unify dependency features differently and rebuild every time.
cargo build --release -p alipay-sandbox -p payment-gateway -p notify-receiver -p order -p load --bins \
  --example notify_bodies

pids=()
stop_services() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_services
  "$target/release/order-load" --delete-topology --prefix "$prefix" --amqp-url "$amqp_url" >/dev/null || true
  psql "$postgres/postgres" -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
  echo "logs and raw results: $work"
}
trap cleanup EXIT

openssl_speed() { # when [seconds]
  local rate
  rate=$(openssl speed -seconds "${2:-${OPENSSL_SECONDS:-10}}" -multi "$threads" rsa2048 2>/dev/null |
    awk '/^rsa 2048 bits/ { print $6 }')
  echo "openssl speed -multi $threads rsa2048 ($1): ${rate:-?} sign/s"
  echo "target=machine workload=openssl when=$1 sign_per_s=${rate:-nan}" >>"$results"
}

# wrk_run TARGET WORKLOAD RUN SCRIPT URL [extra record fields…]: one wrk run; its BENCH line,
# labelled, goes to the results file (and the screen).
wrk_run() {
  local who=$1 workload=$2 number=$3 script=$4 url=$5 line
  shift 5
  [ "$who" = ours ] && bash "$bench/cpu-snapshot.sh" >"$work/cpu-before.txt"
  # wrk's own CPU (user + system, ms) from bash's `time`: it starts and ends inside the run, so
  # the process snapshots cannot see it.
  local TIMEFORMAT='%3U %3S' wrk_ms
  { time wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s -s "$bench/$script" "$url" \
      >"$work/wrk-out.txt"; } 2>"$work/wrk-time.txt"
  line=$(tee -a "$work/wrk-$who-$workload.log" <"$work/wrk-out.txt" | grep '^BENCH ' || true)
  [ -n "$line" ] || { echo "wrk printed no BENCH line; see $work/wrk-$who-$workload.log" >&2; exit 1; }
  wrk_ms=$(tail -1 "$work/wrk-time.txt" | awk '{ printf "%d", ($1 + $2) * 1000 }')
  echo "target=$who workload=$workload run=$number ${line#BENCH } wrk_cpu_ms=$wrk_ms $*" >>"$results"
  echo "  $who $workload run $number: ${line#BENCH }"
  # A notification run's CPU is read once the consumer has drained it (notify_run).
  if [ "$who" = ours ] && [[ $workload != notify* ]]; then cpu_record; fi
}

# cpu_record: appends to the last record the CPU each successful request cost each component
# since wrk_run's snapshot, in microseconds (docs/capacity.md is built from these).
cpu_record() {
  local record ok
  record=$(tail -1 "$results")
  ok=$(field "$record" ok)
  bash "$bench/cpu-snapshot.sh" >"$work/cpu-after.txt"
  local costs
  costs=$(join "$work/cpu-before.txt" "$work/cpu-after.txt" |
    awk -v ok="$ok" 'ok > 0 { printf "cpu_us_%s=%.0f ", $1, ($3 - $2) * 1000 / ok }')
  costs+=$(awk -v ok="$ok" -v ms="$(field "$record" wrk_cpu_ms)" 'BEGIN { if (ok > 0) printf "cpu_us_wrk=%.0f", ms * 1000 / ok }')
  { head -n -1 "$results"; echo "$record $costs"; } >"$work/results.tmp"
  mv "$work/results.tmp" "$results"
}

seconds() { # a wrk duration (15s, 2m, 1h, or seconds) in whole seconds
  case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

field() { # RECORD-LINE NAME
  sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"
}

start_ours() {
  local sandbox_port gateway_port gateway_metrics_port replica
  sandbox_port=$(free_port)
  order_ports=() receiver_ports=()
  for replica in $(seq "$replicas"); do
    order_ports+=("$(free_port)")
    receiver_ports+=("$(free_port)")
  done
  order_port=${order_ports[0]}
  receiver_port=${receiver_ports[0]}
  psql "$postgres/postgres" -qc "CREATE DATABASE \"$database\""

  BIND_ADDR=127.0.0.1:$sandbox_port SANDBOX_APP_ID=$app_id SANDBOX_APP_PUBLIC_KEY_FILE=$keys/app_public.pem \
    SANDBOX_ALIPAY_PRIVATE_KEY_FILE=$keys/alipay_private_pkcs8.pem RUST_LOG=${RUST_LOG:-warn} \
    "$target/release/alipay-sandbox" >"$work/sandbox.log" 2>&1 &
  pids+=($!)
  wait_ready "http://127.0.0.1:$sandbox_port/readyz" alipay-sandbox "$work"

  # REPLICAS copies of each service: order replica i calls gateway replica i; the receivers
  # publish to one exchange and the order replicas compete on its queue, as in production.
  for replica in $(seq 0 $((replicas - 1))); do
    gateway_port=$(free_port)
    gateway_metrics_port=$(free_port)
    BIND_ADDR=127.0.0.1:$gateway_port METRICS_ADDR=127.0.0.1:$gateway_metrics_port ALIPAY_APP_ID=$app_id \
      ALIPAY_APP_PRIVATE_KEY_FILE=$keys/app_private_pkcs8.pem ALIPAY_PUBLIC_KEY_FILE=$keys/alipay_public.pem \
      ALIPAY_GATEWAY="http://127.0.0.1:$sandbox_port/gateway.do" \
      ALIPAY_NOTIFY_URL="http://127.0.0.1:$receiver_port/alipay/notify" \
      ALIPAY_RETURN_URL="http://127.0.0.1:$order_port/order/success/" \
      RUST_LOG=${RUST_LOG:-warn} "$target/release/payment-gateway" >"$work/gateway-$replica.log" 2>&1 &
    pids+=($!)
    wait_ready "http://127.0.0.1:$gateway_metrics_port/readyz" payment-gateway "$work"

    BIND_ADDR=127.0.0.1:${receiver_ports[$replica]} AMQP_URL=$amqp_url AMQP_EXCHANGE="${prefix}payments" \
      ALIPAY_APP_ID=$app_id ALIPAY_PUBLIC_KEY_FILE=$keys/alipay_public.pem RUST_LOG=${RUST_LOG:-warn} \
      "$target/release/notify-receiver" >"$work/notify-receiver-$replica.log" 2>&1 &
    pids+=($!)

    # The order service declares the topology the receiver publishes into (AMQP_PREFIX).
    BIND_ADDR=127.0.0.1:${order_ports[$replica]} DATABASE_URL="$postgres/$database" AMQP_URL=$amqp_url \
      AMQP_PREFIX=$prefix PAYMENT_GATEWAY_URL=http://127.0.0.1:$gateway_port JWT_SECRET=$secret \
      ALIPAY_APP_ID=$app_id SEED_DEMO_DATA=off RUST_LOG=${RUST_LOG:-warn} \
      "$target/release/order" >"$work/order-$replica.log" 2>&1 &
    pids+=($!)
    wait_ready "http://127.0.0.1:${order_ports[$replica]}/readyz" order "$work"
    wait_ready "http://127.0.0.1:${receiver_ports[$replica]}/readyz" notify-receiver "$work"
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" || { echo "a service exited early; logs in $work" >&2; exit 1; }; done

  ours_courses=$(psql "$postgres/$database" -qtA -c \
    "INSERT INTO courses (name, price) VALUES ('Rust 入门', 66.66), ('Rust 进阶', 22.22) RETURNING id" |
    paste -sd, -)
  ours_total=88.88
  ours_token=$(JWT_SECRET=$secret "$target/release/order" token --user-id bench --ttl 2h)
  echo "ours ($replicas of each service): sandbox :$sandbox_port, receivers :${receiver_ports[*]}," \
    "orders :${order_ports[*]}; database $database; AMQP prefix $prefix; courses $ours_courses"
}

# The metrics of every order replica, one after the other (histogram.py and the awk below sum
# the same series across replicas).
order_metrics() {
  local port
  for port in "${order_ports[@]}"; do curl -fs "http://127.0.0.1:$port/metrics"; done
}

# BENCH_ADDRS for report.lua: wrk's threads spread over the replicas (thread i → replica i mod N).
addrs() { # PORT…
  local port list=()
  for port in "$@"; do list+=("127.0.0.1:$port"); done
  (IFS=,; echo "${list[*]}")
}

# make_orders WHO N FILE: N unpaid orders of WHO, `out_trade_no total_amount` per line.
make_orders() {
  local who=$1 n=$2 file=$3
  if [ "$who" = ours ]; then
    # One open_orders() call for the whole list: order k's lines are the bench's courses.
    psql "$postgres/$database" -qtA -F' ' -v ON_ERROR_STOP=1 -c "
      WITH numbers AS (
        SELECT array_agg('B${run}' || lpad(g::text, 9, '0') ORDER BY g) AS list
          FROM generate_series($orders_made + 1, $orders_made + $n) AS g
      ), lines AS (
        SELECT array_agg(k::int ORDER BY k, place) AS orders, array_agg(course ORDER BY k, place) AS courses
          FROM generate_series(1, $n) AS k,
               unnest(ARRAY[$ours_courses]::bigint[]) WITH ORDINALITY AS c (course, place)
      )
      SELECT numbers.list[opened.request], $ours_total
        FROM numbers, lines,
             open_orders(numbers.list, array_fill('bench'::text, ARRAY[$n]),
                         array_fill($ours_total::numeric, ARRAY[$n]), array_fill(1::smallint, ARRAY[$n]),
                         array_fill(0::smallint, ARRAY[$n]), array_fill(NULL::timestamptz, ARRAY[$n]),
                         array_fill(now() + interval '2 hours', ARRAY[$n]), array_fill(now(), ARRAY[$n]),
                         lines.orders, lines.courses) AS opened
       WHERE opened.order_id IS NOT NULL
       ORDER BY opened.request" >"$file"
    orders_made=$((orders_made + n))
  else
    $BASELINE_ORDERS_CMD "$n" >"$file"
  fi
  [ "$(wc -l <"$file")" -eq "$n" ] || { echo "$who: made $(wc -l <"$file") orders, not $n" >&2; exit 1; }
}
orders_made=0

# Puts what was written before a run on disk before it starts: the orders and bodies made for a
# notification run, and the previous workload's rows before each workload. Made in bulk (thousands
# per second), they would otherwise be written back while the run lasts, and every commit of the
# run, PostgreSQL's and RabbitMQ's, would wait behind that I/O: commits of 190–330 ms and an HTTP
# p99 of ~200 ms in the half-rate run, right after its orders were made. The same for both systems.
flush_fixtures() {
  # CHECKPOINT needs a superuser or pg_checkpoint; without it the kernel's sync still helps. (The
  # URL is not printed: it may hold a password.)
  psql "$postgres/postgres" -qtAc CHECKPOINT >/dev/null 2>&1 ||
    echo "  (CHECKPOINT failed: it needs a superuser or pg_checkpoint; PostgreSQL's dirty pages stay for its own checkpoints)" >&2
  sync
}

# mean_batch HISTOGRAM WHAT BEFORE AFTER: the mean of one of the order service's batch-size
# histograms between two metrics snapshots (summed over replicas), and how many batches (WHAT).
mean_batch() {
  awk -v name="$1" -v what="$2" 'FNR == 1 { file++ }
       $1 == name "_sum" { sum[file] += $2 }
       $1 == name "_count" { count[file] += $2 }
       END { n = count[2] - count[1]; printf "%.1f (%d %s)", n ? (sum[2] - sum[1]) / n : 0, n, what }' "$3" "$4"
}

paid_by_events() {
  order_metrics |
    awk '/^order_orders_paid_total\{.*source="event".*\}/ { paid += $2; found = 1 } END { print found ? paid : 0 }'
}

# notify_run WHO WORKLOAD RUN ORDERS-FILE [RATE]
notify_run() {
  local who=$1 workload=$2 number=$3 orders=$4 rate=${5:-0} bodies="$work/bodies-$who-$2-$3.txt" url
  local app=$app_id notify_addrs=
  [ "$who" = baseline ] && app=${BASELINE_APP_ID:-$app_id}
  "$target/release/examples/notify_bodies" --orders "$orders" --out "$bodies" --app-id "$app" 2>/dev/null
  flush_fixtures
  if [ "$who" = ours ]; then
    url="http://127.0.0.1:$receiver_port/alipay/notify"
    notify_addrs=$(addrs "${receiver_ports[@]}")
    order_metrics >"$work/metrics-before.txt"
    local paid_before
    paid_before=$(paid_by_events)
  else
    url=${BASELINE_NOTIFY_URL:-${BASELINE_URL%/}/order/success/}
  fi
  BENCH_BODIES=$bodies BENCH_THREADS=$threads BENCH_RATE=$rate BENCH_ADDRS=$notify_addrs \
    wrk_run "$who" "$workload" "$number" notify.lua "$url" "rate=$rate"
  if [ "$who" = ours ]; then
    # Every accepted notification must end as a paid order: wait for the consumer to drain
    # (re-sent bodies pay nothing new), or until nothing moved for 10 s.
    local record accepted expected paid=0 last=-1 still=0
    record=$(tail -1 "$results")
    accepted=$(field "$record" ok)
    expected=$(wc -l <"$bodies")
    [ "$accepted" -lt "$expected" ] && expected=$accepted
    while [ "$still" -lt 50 ]; do
      paid=$(($(paid_by_events) - paid_before))
      [ "$paid" -ge "$expected" ] && break
      if [ "$paid" -eq "$last" ]; then still=$((still + 1)); else still=0 last=$paid; fi
      sleep 0.2
    done
    order_metrics >"$work/metrics-after.txt"
    local quantiles
    quantiles=$(python3 "$bench/histogram.py" "$work/metrics-before.txt" "$work/metrics-after.txt" |
      sed 's/^count=/e2p_count=/; s/ p50_ms=/ e2p_p50_ms=/; s/ p99_ms=/ e2p_p99_ms=/')
    # Complete the run's record (the last line of the results).
    { head -n -1 "$results"; echo "$record paid=$paid $quantiles"; } >"$work/results.tmp"
    mv "$work/results.tmp" "$results"
    cpu_record
    echo "    event -> paid: $quantiles; paid by events $paid of $accepted accepted"
    echo "    deliveries applied per transaction: $(mean_batch order_consumer_batch_size batches "$work/metrics-before.txt" "$work/metrics-after.txt")"
    echo "    time per transaction: $(python3 "$bench/histogram.py" "$work/metrics-before.txt" "$work/metrics-after.txt" order_consumer_batch_seconds | sed 's/^count=/batches=/; s/ within_.*//')"
  fi
}

# aim WHO: the URLs and credentials of one implementation, for the measure_* steps below.
aim() {
  who=$1 scheme=jwt
  if [ "$who" = ours ]; then
    pay_url="http://127.0.0.1:$order_port/order/pay/"
    success_url="http://127.0.0.1:$order_port/order/success/"
    courses=$ours_courses total=$ours_total token=$ours_token
    export BENCH_ADDRS
    BENCH_ADDRS=$(addrs "${order_ports[@]}")
  else
    pay_url="${BASELINE_URL%/}/order/pay/"
    success_url="${BASELINE_URL%/}/order/success/"
    courses=${BASELINE_COURSES:-} total=${BASELINE_TOTAL:-} token=${BASELINE_TOKEN:-}
    scheme=${BASELINE_AUTH_SCHEME:-jwt}
    unset BENCH_ADDRS
  fi
  echo "== $who"
}

measure_pay() {
  export BENCH_TOKEN=$token BENCH_COURSES=$courses BENCH_TOTAL=$total BENCH_AUTH_SCHEME=$scheme
  wrk -t"$threads" -c"$connections" -d3s -s "$bench/pay.lua" "$pay_url" >"$work/wrk-$who-warmup.log"
  for i in $(seq "$pay_runs"); do
    if [ "$who" = ours ]; then
      # The yardstick right before (and, as the next run's "before", after) each run: this
      # machine's speed drifts by ±15% within minutes, so each run is set against its own.
      openssl_speed "pay$i" "$openssl_run_seconds"
      order_metrics >"$work/metrics-before.txt"
    fi
    wrk_run "$who" pay "$i" pay.lua "$pay_url"
    if [ "$who" = ours ]; then
      order_metrics >"$work/metrics-after.txt"
      echo "    orders opened per statement: $(mean_batch order_open_batch_size statements "$work/metrics-before.txt" "$work/metrics-after.txt")"
    fi
  done
  if [ "$who" = ours ]; then openssl_speed "pay$((pay_runs + 1))" "$openssl_run_seconds"; fi
}

measure_notify() {
  for i in $(seq "$runs"); do make_orders "$who" "$notify_orders" "$work/orders-$who-$i.txt"; done
  for i in $(seq "$runs"); do notify_run "$who" notify "$i" "$work/orders-$who-$i.txt"; done
  local rates half_rate
  rates=$(grep "target=$who workload=notify " "$results" | sed -n 's/.* ok_rps=\([^ ]*\).*/\1/p')
  half_rate=$(sort -g <<<"$rates" | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d", m / 2 }')
  # Enough orders for the paced run, with a margin.
  make_orders "$who" "$((half_rate * $(seconds "$duration") * 5 / 4 + 100))" "$work/orders-$who-half.txt"
  notify_run "$who" notify-half 1 "$work/orders-$who-half.txt" "$half_rate"
}

measure_success() {
  # Orders certainly paid: the head of run 1's list (each wrk thread takes every THREADS-th
  # line from the top), at most 10,000; an unpaid one would show as bad_body.
  local first accepted count
  first=$(grep "target=$who workload=notify run=1 " "$results")
  accepted=$(field "$first" ok)
  count=$((accepted * 8 / 10))
  [ "$count" -gt 10000 ] && count=10000
  [ "$count" -ge 1 ] || { echo "$who: no notification was accepted in run 1; nothing to poll" >&2; exit 1; }
  head -n "$count" "$work/orders-$who-1.txt" >"$work/paid-$who.txt"
  for i in $(seq "$runs"); do
    BENCH_ORDERS="$work/paid-$who.txt" BENCH_THREADS=$threads wrk_run "$who" success "$i" success.lua "$success_url"
  done
}

openssl_speed start
has "$targets" ours && start_ours
# Workload by workload, each implementation in turn: this machine's speed drifts by tens of
# percent within minutes, so the two sides of a ratio are measured as close together as the
# runs allow. The side not being measured sits idle (ours: a few background timers).
for workload in pay notify success; do
  has "$workloads" "$workload" || continue
  for side in $targets; do
    aim "$side"
    flush_fixtures
    "measure_$workload"
  done
done
openssl_speed end

echo
python3 "$bench/table.py" "$results"
