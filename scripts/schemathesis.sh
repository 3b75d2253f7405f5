#!/usr/bin/env bash
# Checks the running server against its own OpenAPI document with
# schemathesis: generated requests (valid and invalid) must get documented
# statuses, JSON bodies matching the schemas, and never a 5xx.
# Usage: scripts/schemathesis.sh sqlite|postgres
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
venv=target/test-venv
work=$(mktemp -d)
server_pid=""
pg_db=""
admin_url="${ENUCHAT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$pg_db" ] && psql "$admin_url" -qtAc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$venv/bin/schemathesis" ]; then
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian splits venv support into its own package.
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check schemathesis==4.32.5
fi

cargo build --locked -q -p enuchat
bin=target/debug/enuchat

case "$backend" in
  sqlite) export ENUCHAT_DATABASE_URL="sqlite://$work/enuchat.db" ;;
  postgres)
    pg_db="enuchat_schemathesis_$$"
    psql "$admin_url" -qtAc "CREATE DATABASE $pg_db" >/dev/null
    export ENUCHAT_DATABASE_URL="${admin_url%/*}/$pg_db" ;;
  *) echo "usage: $0 sqlite|postgres" >&2; exit 2 ;;
esac

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
tenant=$("$bin" tenant create --name "Contract Test" --plan pro | json_field id)
"$bin" widget create --tenant "$tenant" --name "Main Website Chat" >/dev/null
"$bin" operator create --tenant "$tenant" --email "ops-$$@example.com" --name Ops --password "correct horse battery" >/dev/null
"$bin" demo --tenant "$tenant" --conversations 30 >/dev/null
key=$("$bin" api-key create --tenant "$tenant" --name schemathesis | json_field key)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ENUCHAT_RATE_LIMIT_PER_MINUTE=1000000 "$bin" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "schemathesis on $backend"
"$venv/bin/schemathesis" --config-file schemathesis.toml run "http://127.0.0.1:$port/api/v1/tenant-api/openapi.json" \
  --header "X-Api-Key: $key" \
  --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" \
  --seed "${SCHEMATHESIS_SEED:-20261125}" \
  --no-color || { echo "--- server log ---"; tail -n 50 "$work/server.log"; exit 1; }
