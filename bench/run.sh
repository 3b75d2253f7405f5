#!/usr/bin/env bash
# Runs every benchmark scenario on this machine and writes a Markdown report.
#
#   bench/run.sh                 full run: 100,000 demo conversations (and 1,000,000 for the
#                                growth check), 3 runs -> bench/REPORT.md (about 1.5 hours)
#   bench/run.sh --quick         2,000 conversations, 1 short run -> target/bench/REPORT-quick.md
#   bench/run.sh --smoke         tiny data, one short step per scenario, debug build (CI:
#                                proves the tool works, its figures mean nothing)
#                                -> target/bench/REPORT-smoke.md
#   options: --runs N  --conversations N  --report FILE  --skip-postgres
#            --growth / --no-growth (scenario 7: scenarios 1 and 3 again on 10x the data;
#            on in the full run and --smoke, off in --quick)
#            --visitors N (scenario 4's connected visitors)  --skip-nchan
#            --skip-load (only scenarios 5 and 6, e.g. to add them to an earlier run's
#            results: python3 bench/report.py A.jsonl B.jsonl > bench/REPORT.md)
#
# Everything listens on and connects to loopback only; every step is bounded
# in time and stops by itself. PostgreSQL: a fresh database on
# $ENUCHAT_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432), dropped
# at the end; skipped with a note when it does not answer.
# Exits non-zero when the tool itself breaks, never because a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0
runs=3
conversations=100000
report="$root/bench/REPORT.md"
skip_pg=0
skip_load=0
smoke=0
growth=""
skip_nchan=0
rt_visitors=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --smoke) smoke=1; quick=1 ;;
    --growth) growth=1 ;;
    --no-growth) growth=0 ;;
    --visitors) rt_visitors="$2"; shift ;;
    --skip-nchan) skip_nchan=1 ;;
    --runs) runs="$2"; shift ;;
    --conversations) conversations="$2"; shift ;;
    --report) report="$2"; shift ;;
    --skip-postgres) skip_pg=1 ;;
    --skip-load) skip_load=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
profile=release
if [ "$smoke" = 1 ]; then
  # A release build from scratch takes minutes on 2 cores; CI has the debug
  # dependencies built already by the tests.
  profile=debug
  [ "$conversations" = 100000 ] && conversations=300
  runs=1
  [ "$report" = "$root/bench/REPORT.md" ] && report="$root/target/bench/REPORT-smoke.md"
  keys=3
  storage_rows=300
  auth_iterations=300
  idle_connections=100
  peak_args=(--step-seconds 0.2 --hold-seconds 0.3 --start-rps 100 --max-steps 1)
  : "${growth:=1}" "${rt_visitors:=200}"
  rt_args=(--rate 200 --seconds 1 --grace-seconds 3)
elif [ "$quick" = 1 ]; then
  [ "$conversations" = 100000 ] && conversations=2000
  runs=1
  [ "$report" = "$root/bench/REPORT.md" ] && report="$root/target/bench/REPORT-quick.md"
  keys=10
  storage_rows=2000
  auth_iterations=2000
  idle_connections=300
  peak_args=(--step-seconds 0.3 --hold-seconds 1 --start-rps 400 --max-steps 7)
  : "${growth:=0}" "${rt_visitors:=2000}"
  rt_args=(--rate 1000 --seconds 5 --grace-seconds 5)
else
  keys=100
  storage_rows=$conversations
  auth_iterations=60000
  idle_connections=10000
  peak_args=(--step-seconds 1.5 --hold-seconds 4 --start-rps 300 --max-steps 14)
  : "${growth:=1}" "${rt_visitors:=10000}"
  rt_args=(--rate 1000 --seconds 20 --grace-seconds 5)
fi
pg_admin="${ENUCHAT_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
case "$pg_admin" in
  postgres://*@127.0.0.1*|postgres://*@localhost*) ;;
  *) echo "ENUCHAT_BENCH_POSTGRES must be a loopback address" >&2; exit 2 ;;
esac

work=$(mktemp -d)
suffix="$$"
pids=()
pg_dbs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for db in "${pg_dbs[@]}"; do
    psql "$pg_admin/postgres" -qXc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log() { echo "[bench $(date +%T)] $*" >&2; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {
  for _ in $(seq 1 200); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server at $1 did not become ready" >&2
  return 1
}

started=$(date +%s)
results="$work/results.jsonl"
: >"$results"
note() { python3 -c 'import json,sys; print(json.dumps(dict(kind="note", **json.loads(sys.argv[1]))))' "$1" >>"$results"; }
note "{\"loadBefore\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"quick\": $quick, \"smoke\": $smoke, \"growth\": $growth, \"runs\": $runs, \"conversations\": $conversations, \"diskFreeKiB\": $(df -Pk "$work" | awk 'NR==2 {print $4}'), \"keys\": $keys, \"commit\": \"$(git rev-parse --short HEAD)\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\", \"cores\": $(nproc)}"

log "building ($profile)"
if [ "$profile" = release ]; then
  cargo build --release --locked -q -p enuchat -p enuchat-bench
else
  cargo build --locked -q -p enuchat -p enuchat-bench
fi
bin="$root/target/$profile/enuchat"
bench="$root/target/$profile/enuchat-bench"

backends=(sqlite)
if [ "$skip_pg" = 0 ]; then
  if psql "$pg_admin/postgres" -qXAtc 'select 1' >/dev/null 2>&1; then
    backends+=(postgres)
  else
    log "PostgreSQL does not answer at $pg_admin: skipping it"
    note '{"postgresSkipped": "no answer"}'
  fi
fi

# --- data: one tenant with demo conversations and many API keys per data set:
# "<backend>" at the chosen size and, for the growth check, "<backend>-10x"
declare -A url
datasets=()
for backend in "${backends[@]}"; do
  datasets+=("$backend")
  [ "$growth" = 1 ] && datasets+=("$backend-10x")
done
for set in "${datasets[@]}"; do
  backend=${set%-10x}
  n=$conversations
  [ "$set" != "$backend" ] && n=$((conversations * 10))
  if [ "$backend" = sqlite ]; then
    url[$set]="sqlite://$work/enuchat-$set.db"
  else
    db="enuchat_bench_${set//-/_}_$suffix"
    pg_dbs+=("$db")
    psql "$pg_admin/postgres" -qXc "CREATE DATABASE $db" >/dev/null
    url[$set]="$pg_admin/$db"
  fi
  export ENUCHAT_DATABASE_URL="${url[$set]}"
  t0=$(date +%s.%N)
  tenant=$("$bin" tenant create --name "Bench" | json_field id)
  log "$set: demo data, $n conversations ($(df -Ph "$work" | awk 'NR==2 {print $4}') disk free)"
  demo=$("$bin" demo --tenant "$tenant" --conversations "$n")
  if [ "$backend" = postgres ]; then
    # Freshly loaded tables have no visibility map yet, so index-only scans
    # visit the heap for every row (deep list pages: ~100 ms instead of ~15).
    # A live database gets this from autovacuum; give the bench that state.
    psql "${url[$set]}" -qXc "VACUUM (ANALYZE)" >/dev/null
  fi
  t1=$(date +%s.%N)
  for i in $(seq 1 "$keys"); do
    "$bin" api-key create --tenant "$tenant" --name "bench $i" | json_field key
  done >"$work/$set.keys"
  t2=$(date +%s.%N)
  if [ "$backend" = sqlite ]; then
    size=$(du -sk "$work/enuchat-$set.db"* | awk '{s += $1} END {print s}')
  else
    size=$(( $(psql "$pg_admin/postgres" -qXAtc "SELECT pg_database_size('$db')") / 1024 ))
  fi
  note "{\"backend\": \"$set\", \"demo\": $demo, \"demoSeconds\": $(python3 -c "print(round($t1 - $t0, 1))"), \"keySeconds\": $(python3 -c "print(round($t2 - $t1, 1))"), \"sizeKiB\": $size}"
  unset ENUCHAT_DATABASE_URL
done

# Writes that a step left behind (dirty pages in the kernel, PostgreSQL's
# shared buffers) are flushed before the next server starts, instead of in
# the background of its first scenarios. Without this, the 10x data's list
# runs right after the 1x data's POST scenarios (about 170 MB of dirty pages
# left, written back over the next ~10 s), where the 1x list runs after the
# read-only HTTP baseline: a bias against scenario 7's 10x side.
settle() {
  local set=$1
  if [ "${set%-10x}" = postgres ]; then
    psql "${url[$set]}" -qXc "CHECKPOINT" >/dev/null
  fi
  sync
  sleep 2
}

server_pid=""
start_server() {
  local port
  settle "$1"
  port=$(free_port)
  # Scenario 4 creates thousands of visitors and conversations from one address.
  ENUCHAT_DATABASE_URL="${url[$1]}" ENUCHAT_RATE_LIMIT_PER_MINUTE=60000000 \
    ENUCHAT_NEW_VISITORS_PER_IP_PER_MINUTE=10000000 ENUCHAT_NEW_CONVERSATIONS_PER_IP_PER_MINUTE=10000000 \
    "$bin" serve --listen "127.0.0.1:$port" >>"$work/server-$1.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_ready "http://127.0.0.1:$port/readyz"
  server_url="http://127.0.0.1:$port"
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

baseline_port=$(free_port)
"$bench" http-baseline --listen "127.0.0.1:$baseline_port" 2>/dev/null &
pids+=("$!")
wait_ready "http://127.0.0.1:$baseline_port/json"

scenarios=list,list-filtered,list-deep,get,post,post-readers
[ "$skip_load" = 1 ] && runs=0
for run in $(seq 1 "$runs"); do
  log "run $run/$runs: HTTP baseline"
  "$bench" load --url "http://127.0.0.1:$baseline_port" --scenarios baseline \
    "${peak_args[@]}" --tag "{\"backend\": \"baseline\", \"run\": $run}" >>"$results"
  for backend in "${backends[@]}"; do
    log "run $run/$runs: $backend Tenant API scenarios"
    start_server "$backend"
    "$bench" load --url "$server_url" --keys "$work/$backend.keys" --scenarios "$scenarios" \
      --conversations "$conversations" "${peak_args[@]}" \
      --tag "{\"backend\": \"$backend\", \"run\": $run}" >>"$results"
    stop_server
    if [ "$growth" = 1 ]; then
      # Scenario 7: the same scenarios 1 and 3 on 10x the data, in the same run.
      log "run $run/$runs: $backend growth check on $((conversations * 10)) conversations"
      start_server "$backend-10x"
      "$bench" load --url "$server_url" --keys "$work/$backend-10x.keys" --scenarios list,list-filtered,post \
        --conversations "$((conversations * 10))" "${peak_args[@]}" \
        --tag "{\"backend\": \"$backend\", \"run\": $run, \"scale\": 10}" >>"$results"
      stop_server
    fi
    log "run $run/$runs: $backend storage baselines"
    if [ "$backend" = sqlite ]; then
      rm -f "$work"/raw.db*
      raw_url="sqlite://$work/raw.db"
    else
      db="enuchat_bench_raw_${suffix}_$run"
      pg_dbs+=("$db")
      psql "$pg_admin/postgres" -qXc "CREATE DATABASE $db" >/dev/null
      raw_url="$pg_admin/$db"
    fi
    "$bench" storage --database-url "$raw_url" --conversations "$storage_rows" "${peak_args[@]}" \
      --tag "{\"backend\": \"$backend\", \"run\": $run}" >>"$results"
  done
done

# --- scenario 6: key check + limiter on the server's own code paths
for backend in "${backends[@]}"; do
  log "$backend: API key check and rate limiter overhead"
  "$bench" auth-overhead --database-url "${url[$backend]}" --keys "$work/$backend.keys" \
    --iterations "$auth_iterations" --limiter-keys 100000 --tag "{\"backend\": \"$backend\"}" >>"$results"
done

# --- scenario 5: memory per idle visitor WebSocket (SQLite server, a fresh
# process per variant so that one variant's freed memory does not hide the next's)
log "idle visitor connections: $idle_connections"
for conv in "" "--with-conversation"; do
  port=$(free_port)
  ENUCHAT_DATABASE_URL="${url[sqlite]}" ENUCHAT_NEW_VISITORS_PER_IP_PER_MINUTE=10000000 \
    ENUCHAT_NEW_CONVERSATIONS_PER_IP_PER_MINUTE=10000000 \
    "$bin" serve --listen "127.0.0.1:$port" >>"$work/server-idle.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_ready "http://127.0.0.1:$port/readyz"
  widget=$(curl -fsS -H "x-api-key: $(head -1 "$work/sqlite.keys")" \
    "http://127.0.0.1:$port/api/v1/tenant-api/widgets" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
  "$bench" idle-connections --server "http://127.0.0.1:$port" --pid "$server_pid" \
    --widget "$widget" --connections "$idle_connections" $conv |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d.update(kind="idle", backend="sqlite"); print(json.dumps(d))' >>"$results"
  stop_server
done

# --- scenario 4: real-time delivery to connected visitors, ours on each backend
# and nginx + nchan on the same load, once per run
fd_limit=$(ulimit -n)
if [ "$fd_limit" != unlimited ] && [ "$rt_visitors" -gt $((fd_limit - 1000)) ]; then
  log "open-file limit $fd_limit: scenario 4 uses $((fd_limit - 1000)) visitors instead of $rt_visitors"
  note "{\"realtimeVisitorsCapped\": \"$rt_visitors -> $((fd_limit - 1000)) (ulimit -n $fd_limit)\"}"
  rt_visitors=$((fd_limit - 1000))
fi
. bench/nchan.sh
nchan_ok=0
if [ "$skip_nchan" = 1 ]; then
  note '{"nchanSkipped": "--skip-nchan"}'
elif nchan_available; then
  nchan_ok=1
else
  log "nginx with the nchan module is not installed and could not be installed: nchan part SKIPPED"
  note '{"nchanSkipped": "nginx + libnginx-mod-nchan not installed and apt-get could not install them"}'
fi
cleanup_nchan() { nchan_stop; cleanup; }
trap cleanup_nchan EXIT
for run in $(seq 1 "$runs"); do
  for backend in "${backends[@]}"; do
    log "run $run/$runs: $backend real-time delivery, $rt_visitors visitors"
    start_server "$backend"
    widget=$(curl -fsS -H "x-api-key: $(head -1 "$work/$backend.keys")" \
      "$server_url/api/v1/tenant-api/widgets" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
    "$bench" realtime --url "$server_url" --widget "$widget" --keys "$work/$backend.keys" \
      --visitors "$rt_visitors" "${rt_args[@]}" --tag "{\"backend\": \"$backend\", \"run\": $run}" >>"$results"
    stop_server
  done
  if [ "$nchan_ok" = 1 ]; then
    log "run $run/$runs: nginx + nchan real-time delivery, $rt_visitors visitors"
    port=$(free_port)
    nchan_start "$work/nchan-$run" "$port"
    wait_ready "http://127.0.0.1:$port/ready"
    "$bench" realtime --url "http://127.0.0.1:$port" --nchan \
      --visitors "$rt_visitors" "${rt_args[@]}" --tag "{\"backend\": \"nchan\", \"run\": $run}" >>"$results"
    nchan_stop
  fi
done

note "{\"loadAfter\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"wallSeconds\": $(( $(date +%s) - started ))}"
mkdir -p "$(dirname "$report")"
cp "$results" "${report%.md}.jsonl"
python3 bench/report.py "$results" >"$report"
log "report written to $report ($(( $(date +%s) - started )) s)"
