#!/usr/bin/env bash
# Load test of the HTTPS path: echo through POST /call (wrk), reporting calls/s, latency
# percentiles and CPU per call. Starts its own processes on free loopback ports and stops them.
#
#   scripts/load.sh                      # sqlite, then postgres, each at CONNECTIONS (1 and 32)
#   scripts/load.sh sqlite               # `outlayer serve` on SQLite (embedded default)
#   scripts/load.sh postgres             # `outlayer serve` on PostgreSQL (fresh schema) + Redis
#   scripts/load.sh distributed          # two `outlayer coordinator`s and two `outlayer worker`s
#                                        # on one PostgreSQL + Redis; wrk drives both coordinators
#   SOAK=30m scripts/load.sh soak        # SQLite serve under echo load for SOAK with retention set
#                                        # short; prints the data directory's file sizes over time
#   BARE=1 scripts/load.sh ...           # first: the host bench's warm echo execution (µs) and the
#                                        # bare-wasmtime floor, for the CPU-per-call ratio
#                                        # (BARE=PATH: a prebuilt bench executable)
#   PERF=DIR scripts/load.sh ...         # also a CPU profile of the measured processes per run
#                                        # (perf record -e cpu-clock -g; DIR/MODE-CONNECTIONS.data;
#                                        # PERF_CALLGRAPH=dwarf for callers through Rust code, which
#                                        # has no frame pointers; PERF_FREQ, default 999 Hz)
#
# Modes can be combined (`scripts/load.sh sqlite postgres distributed`).
# Environment: DURATION (per run, default 15s), CONNECTIONS (space-separated list, default "1 32"),
# THREADS (wrk threads, 2), CONCURRENCY (worker slots, 16), LOAD_PG_URL (default
# postgres://postgres@127.0.0.1:5432/test), LOAD_REDIS_URL (redis://127.0.0.1:6379),
# KEEP (set: keep the processes' logs and data directories), OUTLAYER_BIN (a prebuilt `outlayer` to measure, e.g. an older build for a before/after comparison;
# default: build this checkout with --release), SOAK (soak length, default 30m), SOAK_EVERY
# (interval between size reports, default 5m), SOAK_CONNECTIONS (default 32), SOAK_RETENTION_SECS
# (settled calls kept, default 60), SOAK_COLLECT_SECS (retention collection interval, default 30),
# SOAK_RATE (pace the soak to about this many calls/s; default: as fast as the machine answers).
#
# Each run prints one line:
#   mode=sqlite connections=32 requests=N errors=E rps=R p50_ms=.. p99_ms=.. serve_cpu_us_per_call=.. serve_rss_mb=..
# CPU is user + system time from /proc/PID/stat of the measured processes, before and after the run,
# divided by the calls wrk saw answered; serve_rss_mb is their resident memory (VmRSS) after the run. For PostgreSQL also: pg_cpu_us_per_call = the CPU of the
# server backends serving our processes' connections (matched by client port in pg_stat_activity),
# and pg_bg_cpu_us_per_call = its background processes (WAL writer, checkpointer, ...; these also
# work for any other client of the same server). The load average is printed with every run.
set -euo pipefail
cd "$(dirname "$0")/.."
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(sqlite postgres)
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-"1 32"}
THREADS=${THREADS:-2}
CONCURRENCY=${CONCURRENCY:-16}
PG_URL=${LOAD_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${LOAD_REDIS_URL:-redis://127.0.0.1:6379}

need() { command -v "$1" >/dev/null || { echo "installing $1"; apt-get install -y -qq "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$1" >/dev/null; }; }; }
need wrk; need jq; need curl

if [ -n "${OUTLAYER_BIN:-}" ]; then
  bin=$OUTLAYER_BIN
else
  cargo build --release -q -p outlayer-cli
  bin=target/release/outlayer
fi
bin=$(realpath "$bin")
wasm=$($bin build guests/echo)
work=$(mktemp -d)
started=()  # pids of every process this script started
schemas=()  # PostgreSQL schemas this script created
cleanup() {
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do wait "$p" 2>/dev/null || true; done
  for s in "${schemas[@]}"; do psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS \"$s\" CASCADE" >/dev/null 2>&1 || true; done
  if [ -n "${KEEP:-}" ]; then echo "logs and data kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)

# A fresh PostgreSQL schema (dropped at exit), and the database URL that uses it.
new_schema() {
  psql -q "$PG_URL" -c "CREATE SCHEMA \"$1\"" >/dev/null
  schemas+=("$1")
}
in_schema() { echo "$PG_URL$([[ $PG_URL == *\?* ]] && echo '&' || echo '?')options=-c%20search_path%3D$1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,; }

# Starts a process (its stderr in $work/NAME.log); its pid in $last.
launch() {
  local name=$1
  shift
  OUTLAYER_LOG=error "$@" 2>"$work/$name.log" >/dev/null &
  last=$!
  started+=("$last")
}

wait_healthy() {
  for _ in $(seq 1 300); do curl -sf "$1/healthz" >/dev/null && return; sleep 0.1; done
  echo "$1 did not become healthy" >&2
  exit 1
}

# Creates an owner, the echo project and a funded payment key on the coordinator at $1 (owner $2);
# the key in $key. One call warms the compiled-artifact cache.
setup() {
  local url=$1 owner=$2 token
  token=$(curl -sf -X POST "$url/owners" -H 'content-type: application/json' -d "{\"owner\":\"$owner\"}" | jq -r .token)
  curl -sf -X POST "$url/projects" -H "authorization: Bearer $token" -H 'content-type: application/json' -d '{"name":"echo"}' >/dev/null
  curl -sf -X POST "$url/projects/$owner/echo/versions" -H "authorization: Bearer $token" --data-binary @"$wasm" >/dev/null
  key=$(curl -sf -X POST "$url/payment-keys" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"initial_balance":1000000000000000}' | jq -r .key)
  curl -sf -X POST "$url/call/$owner/echo" -H "x-payment-key: $key" -H 'content-type: application/json' -d '{"input":"warm"}' \
    | jq -c '{status,output}' >&2
}

# The wrk script posting an echo call with key $2 to file $1.
lua_for() {
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '{"input":{"hello":"world"}}'
wrk.headers["content-type"] = "application/json"
wrk.headers["x-payment-key"] = "$2"
done = function(summary, latency, requests)
  io.write(string.format("requests=%d errors=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
}

# CPU ticks (user + system) of the given pids, summed (a pid that is gone counts 0).
ticks() {
  local sum=0 p t
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    sum=$((sum + t))
  done
  echo "$sum"
}

# Context switches (voluntary + involuntary) of every thread of the given pids, summed.
switches() {
  cat $(printf '/proc/%s/task/*/status ' "$@") 2>/dev/null | awk '/ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# PostgreSQL server processes serving connections of the given client pids (by client port).
pg_backends() {
  local ports
  ports=$(for p in "$@"; do ss -tnpH state established "( dport = :5432 )" 2>/dev/null | grep "pid=$p," | awk '{print $3}' | sed 's/.*://'; done | paste -sd, -)
  [ -n "$ports" ] || return 0
  psql -At "$PG_URL" -c "SELECT pid FROM pg_stat_activity WHERE client_port IN ($ports)" 2>/dev/null || true
}
# PostgreSQL's background processes (WAL writer, checkpointer, autovacuum, ...).
pg_background() {
  psql -At "$PG_URL" -c "SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'" 2>/dev/null || true
}

# Resident memory of the given pids after a run (VmRSS, summed), in MB.
rss_mb() { cat $(printf '/proc/%s/status ' "$@") 2>/dev/null | awk '/^VmRSS:/ { kb += $2 } END { printf "%.0f", kb / 1024 }'; }
us_per_call() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "n/a" }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

# Runs wrk for each url in parallel (connections $2 split evenly) and prints the results.
# $1 = label, $2 = connections, $3 = space-separated urls, $4 = space-separated measured pids,
# $5 = "pg" to report PostgreSQL's CPU too.
measure() {
  local label=$1 conns=$2 urls=($3) pids=($4) pg=${5:-}
  local n=${#urls[@]} per=$(($2 / ${#urls[@]})) threads=$THREADS i
  [ "$per" -ge 1 ] || per=1
  [ "$threads" -le "$per" ] || threads=$per
  local backends=() background=()
  if [ "$pg" = pg ]; then
    mapfile -t backends < <(pg_backends "${pids[@]}")
    mapfile -t background < <(pg_background)
  fi
  local before pg_before bg_before
  before=$(ticks "${pids[@]}")
  local sw_before
  sw_before=$(switches "${pids[@]}")
  pg_before=$(ticks "${backends[@]}")
  bg_before=$(ticks "${background[@]}")
  local wrks=() perf_pid=
  if [ -n "${PERF:-}" ]; then
    # A CPU profile of the measured processes for the length of the run (perf report -i FILE).
    mkdir -p "$PERF"
    perf record -q -e cpu-clock -F "${PERF_FREQ:-999}" --call-graph "${PERF_CALLGRAPH:-fp}" -p "$(IFS=,; echo "${pids[*]}")" -o "$PERF/$label-$conns.data" -- sleep "$(to_secs "$DURATION")" \
      >/dev/null 2>&1 &
    perf_pid=$!
  fi
  for i in $(seq 0 $((n - 1))); do
    wrk -t"$threads" -c"$per" -d"$DURATION" --latency -s "$work/post.lua" "${urls[$i]}/call/$owner/echo" >"$work/wrk.$i" 2>&1 &
    wrks+=($!)
  done
  for p in "${wrks[@]}"; do wait "$p"; done
  [ -z "$perf_pid" ] || wait "$perf_pid" || true
  local after pg_after bg_after
  after=$(ticks "${pids[@]}")
  local sw_after
  sw_after=$(switches "${pids[@]}")
  pg_after=$(ticks "${backends[@]}")
  bg_after=$(ticks "${background[@]}")
  local total=0 line
  for i in $(seq 0 $((n - 1))); do
    line=$(tail -n 1 "$work/wrk.$i")
    [ "$n" -eq 1 ] || echo "  coordinator $((i + 1)) (${urls[$i]}): $line"
    total=$((total + $(field requests "$line")))
  done
  [ "$n" -eq 1 ] || line="requests=$total rps=$(awk -v r="$total" -v d="$(to_secs "$DURATION")" 'BEGIN { printf "%.0f", r / d }')"
  local out="mode=$label connections=$conns $line serve_cpu_us_per_call=$(us_per_call $((after - before)) "$total") serve_rss_mb=$(rss_mb "${pids[@]}")"
  out+=" switches_per_call=$(awk -v s=$((sw_after - sw_before)) -v n="$total" 'BEGIN { if (n > 0) printf "%.1f", s / n; else print "n/a" }')"
  if [ "$pg" = pg ]; then
    out+=" pg_cpu_us_per_call=$(us_per_call $((pg_after - pg_before)) "$total") pg_bg_cpu_us_per_call=$(us_per_call $((bg_after - bg_before)) "$total")"
    out+=" pg_backends=${#backends[@]}"
  fi
  echo "$out load=$(loadavg)"
}

bare() {
  echo "host bench (warm echo execution and the bare-wasmtime floor, medians of 2,000 interleaved runs):"
  # BARE=1 builds and runs the bench; BARE=PATH runs a prebuilt bench executable (the
  # `Executable benches/execution.rs (...)` that `cargo bench --no-run -p outlayer-host` prints).
  # The filter matches no criterion bench: only the interleaved ratio runs.
  if [ -x "$BARE" ]; then
    "$BARE" --bench no-criterion-bench-matches-this 2>/dev/null | grep '^echo:' || echo "  (host bench failed)"
  else
    cargo bench -q -p outlayer-host --bench execution -- --noplot no-criterion-bench-matches-this 2>/dev/null | grep '^echo:' \
      || echo "  (host bench failed)"
  fi
}

# `outlayer serve` on $1 (sqlite | postgres), measured at every CONNECTIONS.
serve_mode() {
  local backend=$1 data port url
  data=$(mktemp -d -p "$work")
  port=$(free_port)
  url="http://127.0.0.1:$port"
  local args=(serve --listen "127.0.0.1:$port" --data-dir "$data" --rate-limit 100000000 --concurrency "$CONCURRENCY")
  if [ "$backend" = postgres ]; then
    scripts/services.sh
    local schema="load_$(date +%s)_$$"
    new_schema "$schema"
    # Guest storage in the same fresh schema (the shared database's public schema may hold other
    # versions' storage migrations).
    args+=(--database "$PG_URL" --database-schema "$schema" --redis-url "$REDIS_URL" --storage-database "$(in_schema "$schema")")
  fi
  launch "serve-$backend" "$bin" "${args[@]}"
  local pid=$last
  wait_healthy "$url"
  owner=load
  setup "$url" "$owner"
  lua_for "$work/post.lua" "$key"
  local c
  for c in $CONNECTIONS; do
    measure "$backend" "$c" "$url" "$pid" "$([ "$backend" = postgres ] && echo pg)"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

# Two coordinators and two workers on one PostgreSQL + Redis; wrk drives both coordinators.
distributed_mode() {
  scripts/services.sh
  local schema="load_dist_$(date +%s)_$$"
  new_schema "$schema"
  local urls=() pids=() i port data
  for i in 1 2; do
    port=$(free_port)
    data=$(mktemp -d -p "$work")
    launch "coordinator-$i" "$bin" coordinator --listen "127.0.0.1:$port" --data-dir "$data" --database "$PG_URL" \
      --database-schema "$schema" --redis-url "$REDIS_URL" --rate-limit 100000000 --allow-dev-attestation --dev-owners \
      --ip-rate-limit 0 --owner-rate-limit 0
    pids+=("$last")
    urls+=("http://127.0.0.1:$port")
    wait_healthy "http://127.0.0.1:$port"
  done
  local workers=()
  for i in 1 2; do
    data=$(mktemp -d -p "$work")
    launch "worker-$i" "$bin" worker --coordinator "${urls[$((i - 1))]}" --quote-provider dev --concurrency "$CONCURRENCY" \
      --data-dir "$data" --storage-database "$(in_schema "$schema")"
    workers+=("$last")
  done
  owner=loaddist
  setup "${urls[0]}" "$owner"
  lua_for "$work/post.lua" "$key"
  # The same project and key through the second coordinator (also warms its worker's cache).
  curl -sf -X POST "${urls[1]}/call/$owner/echo" -H "x-payment-key: $key" -H 'content-type: application/json' -d '{"input":"warm"}' \
    | jq -c '{status,output}' >&2
  local c
  for c in $CONNECTIONS; do
    [ "$c" -ge 2 ] || continue
    echo "distributed: 2 coordinators + 2 workers, $c connections split evenly; serve_cpu = coordinators + workers"
    measure distributed "$c" "${urls[*]}" "${pids[*]} ${workers[*]}" pg
  done
}

# Sizes (bytes) of everything in the data directory $1, one line.
sizes() {
  local dir=$1 f out=""
  for f in "$dir"/outlayer.db "$dir"/outlayer.db-wal "$dir"/outlayer.db-shm "$dir"/storage.db "$dir"/storage.db-wal; do
    out+=" $(basename "$f")=$(stat -c %s "$f" 2>/dev/null || echo 0)"
  done
  out+=" cache_dir=$(du -sb "$dir/cache" 2>/dev/null | cut -f1)"
  out+=" total=$(du -sb "$dir" | cut -f1)"
  # Pages in use vs free inside outlayer.db (a file that stops growing while free pages are
  # reused is bounded; read-only, beside the running writer).
  out+=" $(python3 - "$dir/outlayer.db" <<'PY' 2>/dev/null || true
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
pages, free = c.execute("PRAGMA page_count").fetchone()[0], c.execute("PRAGMA freelist_count").fetchone()[0]
print(f"pages={pages} free_pages={free}", end="")
PY
)"
  echo "$out"
}

# SQLite serve under sustained echo load with short retention; file sizes over time.
soak_mode() {
  local total=${SOAK:-30m} every=${SOAK_EVERY:-5m} conns=${SOAK_CONNECTIONS:-32}
  local secs every_s
  secs=$(to_secs "$total")
  every_s=$(to_secs "$every")
  local data port url
  data=$(mktemp -d -p "$work")
  port=$(free_port)
  url="http://127.0.0.1:$port"
  launch serve-soak "$bin" serve --listen "127.0.0.1:$port" --data-dir "$data" --rate-limit 100000000 --concurrency "$CONCURRENCY" \
    --call-retention-secs "${SOAK_RETENTION_SECS:-60}" --retention-interval-secs "${SOAK_COLLECT_SECS:-30}" \
    --ledger-compaction-secs "${SOAK_LEDGER_SECS:-60}"
  local pid=$last
  wait_healthy "$url"
  owner=soak
  setup "$url" "$owner"
  lua_for "$work/post.lua" "$key"
  if [ -n "${SOAK_RATE:-}" ]; then
    # Paced: each connection waits conns/rate seconds before its next call, so the offered load
    # is about SOAK_RATE calls/s whatever else the machine is doing (what the database holds then
    # depends on the retention window, not on how fast the machine happened to be).
    echo "delay = function() return $((conns * 1000 / SOAK_RATE)) end" >>"$work/post.lua"
  fi
  echo "soak: $total at $conns connections${SOAK_RATE:+ paced to about $SOAK_RATE calls/s}, settled calls kept ${SOAK_RETENTION_SECS:-60}s, collected every ${SOAK_COLLECT_SECS:-30}s"
  echo "t=0s$(sizes "$data") load=$(loadavg)"
  local start before
  start=$(date +%s)
  before=$(ticks "$pid")
  wrk -t"$THREADS" -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "$url/call/$owner/echo" >"$work/wrk.soak" 2>&1 &
  local w=$!
  while kill -0 "$w" 2>/dev/null; do
    local waited=0
    while [ "$waited" -lt "$every_s" ] && kill -0 "$w" 2>/dev/null; do sleep 1; waited=$((waited + 1)); done
    kill -0 "$w" 2>/dev/null || break
    echo "t=$(($(date +%s) - start))s$(sizes "$data") settled=$(settled "$url") load=$(loadavg)"
  done
  wait "$w"
  local line
  line=$(tail -n 1 "$work/wrk.soak")
  echo "t=$(($(date +%s) - start))s$(sizes "$data") settled=$(settled "$url") load=$(loadavg)"
  echo "mode=soak connections=$conns $line serve_cpu_us_per_call=$(us_per_call $(($(ticks "$pid") - before)) "$(field requests "$line")")"
  curl -sf "$url/metrics" | grep -E '^outlayer_retention_' | sed 's/^/  /' || true
}
# Settled calls so far (the coordinator's counter).
settled() { curl -sf "$1/metrics" | awk '/^outlayer_calls_total\{status="(completed|failed)"\}/ { s += $2 } END { printf "%d", s }'; }
to_secs() {
  local v=$1
  case $v in
    *h) echo $((${v%h} * 3600)) ;;
    *m) echo $((${v%m} * 60)) ;;
    *s) echo "${v%s}" ;;
    *) echo "$v" ;;
  esac
}

echo "outlayer load test: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo +dirty) bin=$bin duration=$DURATION nproc=$(nproc) load=$(loadavg)"
[ -z "${BARE:-}" ] || bare
for m in "${modes[@]}"; do
  case $m in
    sqlite | postgres) serve_mode "$m" ;;
    distributed) distributed_mode ;;
    soak) soak_mode ;;
    *) echo "unknown mode $m (sqlite, postgres, distributed, soak)" >&2; exit 2 ;;
  esac
done
