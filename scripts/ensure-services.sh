#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ are installed, running and answering on 127.0.0.1.
# Safe to run again and again; used by the test script, the local run script and CI.
set -euo pipefail

log() { printf '[ensure-services] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL: local test clusters use trust on loopback (never do this on a shared server).
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    log "setting trust authentication on loopback in $hba (local test cluster)"
    as_root sed -i -E 's/^(local\s+all\s+(all|postgres)\s+)\S+/\1trust/; s/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
pg_isready -h 127.0.0.1 -p 5432 -q || { log "PostgreSQL did not come up on 127.0.0.1:5432"; exit 1; }

# RabbitMQ
rabbit_up() { timeout 10 rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }
if ! rabbit_up; then
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 1 90); do rabbit_up && break; sleep 1; done
fi
rabbit_up || { log "RabbitMQ did not come up on 127.0.0.1:5672"; exit 1; }
log "PostgreSQL and RabbitMQ are up"
