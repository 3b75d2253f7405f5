#!/usr/bin/env bash
# Browser tests of the chat widget and the operator dashboard, end to end:
#   Debian's Chromium (installed if missing) driven by playwright-core,
#   a freshly built enuchat on a fresh SQLite database,
#   host pages from a tiny Node server on another loopback port, so the widget
#   runs cross-origin exactly as on a customer's site.
#   Apertium English<->Spanish (installed if missing) as the translation provider.
# With CI=true a missing Chromium or Apertium is a failure, never a skip.
# Screenshots of the open panel and the dashboard land in tests/browser/screenshots/.
# Usage: scripts/browser-tests.sh [TEST_FILE...]   (files in tests/browser/)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CI="${CI:-false}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
log() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Chromium --------------------------------------------------------------
# Playwright's own browser downloads are not used: the distribution's
# Chromium is what every machine here can install.
if [ ! -x "$CHROMIUM" ] && command -v apt-get >/dev/null 2>&1; then
  log "installing Chromium from the distribution's packages"
  as_root apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null || true
fi
if [ ! -x "$CHROMIUM" ]; then
  [ "$CI" = "true" ] && fail "Chromium is required in CI and could not be installed at $CHROMIUM"
  log "WARNING: no Chromium at $CHROMIUM; browser tests SKIPPED (set CI=true to make this an error)"
  exit 0
fi
if ! command -v node >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  log "installing Node.js from the distribution's packages (tests only; the server needs no Node)"
  as_root apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null || true
fi
command -v node >/dev/null 2>&1 || fail "node is required for the browser tests"

# --- Apertium ------------------------------------------------------------------
# The AI and translation test translates English <-> Spanish for real, offline:
# the server runs with ENUCHAT_TRANSLATION_PROVIDER=apertium when it is here.
have_apertium() { # both modes listed (read whole: grep -q would cut the pipe under pipefail)
  local modes
  modes="$(apertium -l 2>/dev/null)" || return 1
  grep -qx ' *eng-spa' <<<"$modes" && grep -qx ' *spa-eng' <<<"$modes"
}
if ! have_apertium && command -v apt-get >/dev/null 2>&1; then
  log "installing Apertium English<->Spanish from the distribution's packages"
  as_root apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq apertium apertium-eng-spa >/dev/null || true
fi
if have_apertium; then
  export APERTIUM=eng-spa
  TRANSLATION_PROVIDER=apertium
else
  [ "$CI" = "true" ] && fail "Apertium (apertium, apertium-eng-spa) is required in CI and could not be installed"
  log "WARNING: no Apertium English<->Spanish; the translation browser test will be SKIPPED (set CI=true to make this an error)"
  TRANSLATION_PROVIDER=none
fi

log "npm ci (tests/browser)"
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

log "cargo build -p enuchat"
cargo build --locked -p enuchat
BIN="$ROOT/target/debug/enuchat"

# --- a fresh server ----------------------------------------------------------
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" != 0 ] && [ -f "$TMP/server.log" ]; then
    printf '\n--- last lines of the server log ---\n' >&2
    tail -n 40 "$TMP/server.log" >&2 || true
  fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT INT TERM

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
wait_http() { # URL: up to 30 s for it to answer
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
json_field() { node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s)['$1']))"; }

export ENUCHAT_DATABASE_URL="sqlite://$TMP/enuchat.db"
export ENUCHAT_LOG_FORMAT=human

SERVER_PORT=$(free_port)
HOST_PORT=$(free_port)
export ENUCHAT_URL="http://127.0.0.1:$SERVER_PORT"
export HOST_URL="http://127.0.0.1:$HOST_PORT"

log "creating a tenant, widgets and an API key"
TENANT=$("$BIN" tenant create --name "Browser Tests" | json_field id)
WIDGET_ID=$("$BIN" widget create --tenant "$TENANT" --name "Shop" --primary-color "#6b3e26" \
  --greeting "Welcome to Northwind Coffee! Ask us about beans, brewing or your order." | json_field id)
WIDGET_LEFT_ID=$("$BIN" widget create --tenant "$TENANT" --name "Left" --primary-color "#facc15" \
  --position bottom-left | json_field id)
WIDGET_INACTIVE_ID=$("$BIN" widget create --tenant "$TENANT" --name "Switched off" --active false | json_field id)
# Allowed origins: one widget only for the host pages' origin, one only for another site.
WIDGET_ALLOWED_ID=$("$BIN" widget create --tenant "$TENANT" --name "Only here" --allowed-origin "$HOST_URL" | json_field id)
WIDGET_RESTRICTED_ID=$("$BIN" widget create --tenant "$TENANT" --name "Elsewhere" \
  --allowed-origin "https://shop.example.com" | json_field id)
API_KEY=$("$BIN" api-key create --tenant "$TENANT" --name "browser tests" | json_field key)
# Dashboard sign-ins: an owner, and an operator whose sign-in the tests throttle.
# Random base64url passwords may start with "-": pass them as --password=...
# so that the argument parser cannot take them for an option.
OPERATOR_EMAIL="maria@northwind.example"
OPERATOR_NAME="Maria Lopez"
OPERATOR_PASSWORD="$(node -e "console.log(require('crypto').randomBytes(12).toString('base64url'))")"
OPERATOR_ID=$("$BIN" operator create --tenant "$TENANT" --email "$OPERATOR_EMAIL" --name "$OPERATOR_NAME" \
  --password="$OPERATOR_PASSWORD" --role owner | json_field id)
OPERATOR2_EMAIL="tom@northwind.example"
OPERATOR2_PASSWORD="$(node -e "console.log(require('crypto').randomBytes(12).toString('base64url'))")"
"$BIN" operator create --tenant "$TENANT" --email "$OPERATOR2_EMAIL" --name "Tom Becker" \
  --password="$OPERATOR2_PASSWORD" --role operator >/dev/null

log "starting enuchat at $ENUCHAT_URL"
# Every test is a new visitor from 127.0.0.1 and the suite makes many Tenant
# API calls: far more per minute than the defaults allow one key or one IP.
ENUCHAT_RATE_LIMIT_PER_MINUTE=100000 \
ENUCHAT_NEW_VISITORS_PER_IP_PER_MINUTE=100000 \
ENUCHAT_NEW_CONVERSATIONS_PER_IP_PER_MINUTE=100000 \
ENUCHAT_TRANSLATION_PROVIDER="$TRANSLATION_PROVIDER" \
ENUCHAT_AI_PROVIDER=knowledge-base \
  "$BIN" serve --listen "127.0.0.1:$SERVER_PORT" >"$TMP/server.log" 2>&1 &
PIDS+=($!)
wait_http "$ENUCHAT_URL/healthz" || fail "enuchat did not start"

log "serving host pages at $HOST_URL"
PORT=$HOST_PORT node tests/browser/host-server.mjs >"$TMP/host.log" 2>&1 &
PIDS+=($!)
wait_http "$HOST_URL/host.html" || fail "the host page server did not start"

log "browser tests"
export WIDGET_ID WIDGET_LEFT_ID WIDGET_INACTIVE_ID WIDGET_ALLOWED_ID WIDGET_RESTRICTED_ID API_KEY CHROMIUM CI
export ENUCHAT_BIN="$BIN"
export OPERATOR_EMAIL OPERATOR_NAME OPERATOR_PASSWORD OPERATOR_ID OPERATOR2_EMAIL OPERATOR2_PASSWORD
cd tests/browser
# Arguments choose test files (default: all), e.g. messages.test.mjs.
[ $# -gt 0 ] || set -- ./*.test.mjs
node --test --test-concurrency=1 --test-timeout=120000 "$@"
