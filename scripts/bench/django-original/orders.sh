#!/usr/bin/env bash
# orders.sh N: makes N unpaid orders in the Django original stand-in's database, each with one
# goods row per course of BASELINE_COURSES (default 1,2) at the course's price, in one SQL
# statement (the rows POST /order/pay/ makes, without the pay links), and prints
# `out_trade_no total_amount` per line: scripts/bench-compare.sh's BASELINE_ORDERS_CMD.
set -euo pipefail
n=${1:?usage: orders.sh N}
[[ $n =~ ^[0-9]+$ ]] || { echo "orders.sh: N must be a number, not $n" >&2; exit 1; }
courses=${BASELINE_COURSES:-1,2}
[[ $courses =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "orders.sh: bad BASELINE_COURSES $courses" >&2; exit 1; }
database=${DJANGO_ORIGINAL_DB:-django_original}
psql "postgres://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/$database" \
  -qtA -F' ' -v ON_ERROR_STOP=1 -c "
  WITH courses AS (SELECT id, price FROM luffy_course WHERE id IN ($courses)),
       made AS (
         INSERT INTO luffy_order (subject, total_amount, out_trade_no, order_status, pay_type,
                                  user_id, created_time, updated_time)
         SELECT 'bench', (SELECT sum(price) FROM courses),
                replace(gen_random_uuid()::text, '-', ''), 0, 1, 1, now(), now()
           FROM generate_series(1, $n)
         RETURNING id, out_trade_no, total_amount),
       goods AS (
         INSERT INTO luffy_order_goods (order_id, course_id, price, real_price)
         SELECT made.id, courses.id, courses.price, courses.price FROM made CROSS JOIN courses)
  SELECT out_trade_no, total_amount FROM made"
