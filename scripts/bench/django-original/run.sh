#!/usr/bin/env bash
# Starts the Django original stand-in (README.md) on 127.0.0.1:8000, in the background.
# Idempotent: a venv with requirements.txt under $DJANGO_ORIGINAL_HOME (default
# /var/tmp/django-original, outside the repository), the PostgreSQL database django_original
# made afresh (KEEP_DB=1 keeps its orders), migrated and seeded, then gunicorn with 5 sync
# workers (stopping one this script started before). Logs: $DJANGO_ORIGINAL_HOME/gunicorn.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
home=${DJANGO_ORIGINAL_HOME:-/var/tmp/django-original}
database=${DJANGO_ORIGINAL_DB:-django_original}
postgres="postgres://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}"
bind=127.0.0.1:8000
export PYTHONPYCACHEPREFIX=$home/pycache  # no __pycache__ in the repository
mkdir -p "$home"

# 1. Python environment, reinstalled only when requirements.txt changes.
[ -x "$home/venv/bin/python" ] || python3 -m venv "$home/venv"
stamp=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$home/venv/.requirements" 2>/dev/null)" != "$stamp" ]; then
  "$home/venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  echo "$stamp" >"$home/venv/.requirements"
fi
python=$home/venv/bin/python

# 2. Database: fresh, as bench-compare gives this system a fresh one; migrated and seeded.
"$here/stop.sh" >/dev/null
if [ "${KEEP_DB:-0}" != 1 ]; then
  PGOPTIONS="-c client_min_messages=warning" psql "$postgres/postgres" -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)"
fi
if [ -z "$(psql "$postgres/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" ]; then
  psql "$postgres/postgres" -qc "CREATE DATABASE \"$database\""
fi
cd "$here"
"$python" manage.py migrate --noinput -v 0
"$python" manage.py seed

# 3. gunicorn, as in the measurement: 5 sync workers, no access log.
if (exec 3<>"/dev/tcp/${bind%:*}/${bind#*:}") 2>/dev/null; then
  echo "django-original: $bind is taken by another process" >&2
  exit 1
fi
"$home/venv/bin/gunicorn" project.wsgi:application --chdir "$here" --bind "$bind" --workers 5 \
  --worker-class sync --daemon --pid "$home/gunicorn.pid" --error-logfile "$home/gunicorn.log" \
  --log-level warning
for _ in $(seq 150); do
  if curl -fs "http://$bind/order/success/?out_trade_no=ready" | grep -q '"code":0'; then break; fi
  sleep 0.2
done
curl -fs "http://$bind/order/success/?out_trade_no=ready" >/dev/null ||
  { echo "django-original: gunicorn did not answer; see $home/gunicorn.log" >&2; exit 1; }

# 4. bench.env's token is accepted and the seeded total matches (one real order).
source "$here/bench.env"
status=$(curl -s -o "$home/check.json" -w '%{http_code}' -X POST "http://$bind/order/pay/" \
  -H "Authorization: jwt $BASELINE_TOKEN" -H 'Content-Type: application/json' \
  -d "{\"subject\":\"check\",\"total_amount\":\"$BASELINE_TOTAL\",\"pay_type\":1,\"course_list\":[$BASELINE_COURSES]}")
if [ "$status" != 201 ]; then
  echo "django-original: POST /order/pay/ with bench.env answered $status: $(cat "$home/check.json")" >&2
  exit 1
fi
echo "django-original: gunicorn (pid $(cat "$home/gunicorn.pid")) on http://$bind, database $database;" \
  "stop with $here/stop.sh"
