#!/usr/bin/env bash
# Measures memory per idle visitor WebSocket on a release build (SQLite).
# Usage: bench/idle-connections.sh [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || true
cargo build --release --locked -q -p enuchat -p enuchat-bench
export ENUCHAT_DATABASE_URL="sqlite://$work/bench.db"
bin=target/release/enuchat
tenant=$("$bin" tenant create --name Bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
widget=$("$bin" widget create --tenant "$tenant" --name Bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ENUCHAT_NEW_VISITORS_PER_IP_PER_MINUTE=10000000 ENUCHAT_NEW_CONVERSATIONS_PER_IP_PER_MINUTE=10000000 \
  "$bin" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
for conv in "" "--with-conversation"; do
  target/release/enuchat-bench idle-connections --server "http://127.0.0.1:$port" --pid "$pid" \
    --widget "$widget" --connections "$n" $conv
done
