#!/usr/bin/env bash
# Checks a running stand-in (run.sh) against the contract, with curl: pay link (201, signed),
# wrong total (400), unpaid status (code 0), a signed notification (`success`, then code 1),
# a tampered one (`fail`). Prints one line per check; exits non-zero on the first failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home=${DJANGO_ORIGINAL_HOME:-/var/tmp/django-original}
export PYTHONPYCACHEPREFIX=$home/pycache
source "$here/bench.env"
url=$BASELINE_URL
ok() { echo "ok: $*"; }
bad() { echo "FAILED: $*" >&2; exit 1; }
pay() { # TOTAL → "STATUS BODY"
  curl -s -w '\n%{http_code}' -X POST "$url/order/pay/" -H "Authorization: jwt $BASELINE_TOKEN" \
    -H 'Content-Type: application/json' \
    -d "{\"subject\":\"check\",\"total_amount\":\"$1\",\"pay_type\":1,\"course_list\":[$BASELINE_COURSES]}"
}

answer=$(pay "$BASELINE_TOTAL")
[ "$(tail -1 <<<"$answer")" = 201 ] && grep -q '"code":1' <<<"$answer" && grep -q 'gateway.do?.*sign=' <<<"$answer" ||
  bad "POST /order/pay/: $answer"
ok "POST /order/pay/ → 201, link $(head -1 <<<"$answer" | grep -o '"data":"[^"]\{60\}')…"
answer=$(pay 1.00)
[ "$(tail -1 <<<"$answer")" = 400 ] && grep -q '"code":0' <<<"$answer" || bad "wrong total: $answer"
ok "wrong total → 400 $(head -1 <<<"$answer")"

order=$("$here/orders.sh" 1)
number=${order%% *}
answer=$(curl -s "$url/order/success/?out_trade_no=$number")
grep -q '"code":0' <<<"$answer" || bad "GET unpaid: $answer"
ok "GET /order/success/ (unpaid) → $answer"

python=$home/venv/bin/python
answer=$("$python" "$here/sign_notify.py" --tamper <<<"$order" |
  curl -s -w ' %{http_code}' -H 'Content-Type: application/x-www-form-urlencoded; charset=utf-8' --data-binary @- "$url/order/success/")
[ "$answer" = "fail 400" ] || bad "tampered notification: $answer"
ok "tampered notification → $answer"
answer=$(curl -s "$url/order/success/?out_trade_no=$number")
grep -q '"code":0' <<<"$answer" || bad "GET after tampered: $answer"
answer=$("$python" "$here/sign_notify.py" <<<"$order" |
  curl -s -w ' %{http_code}' -H 'Content-Type: application/x-www-form-urlencoded; charset=utf-8' --data-binary @- "$url/order/success/")
[ "$answer" = "success 200" ] || bad "signed notification: $answer"
ok "signed notification → $answer"
answer=$(curl -s "$url/order/success/?out_trade_no=$number")
grep -q '"code":1' <<<"$answer" || bad "GET paid: $answer"
ok "GET /order/success/ (paid) → $answer"
echo "paid order: $number"
