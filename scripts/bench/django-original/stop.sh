#!/usr/bin/env bash
# Stops the Django original stand-in started by run.sh (its gunicorn master, by pid file).
set -euo pipefail
home=${DJANGO_ORIGINAL_HOME:-/var/tmp/django-original}
pidfile=$home/gunicorn.pid
if [ ! -s "$pidfile" ] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  rm -f "$pidfile"
  echo "django-original: not running"
  exit 0
fi
pid=$(cat "$pidfile")
kill -TERM "$pid"
for _ in $(seq 300); do
  kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "django-original: stopped (pid $pid)"; exit 0; }
  sleep 0.1
done
echo "django-original: pid $pid still running after 30 s" >&2
exit 1
