#!/usr/bin/env bash
# Load test of the HTTPS path: echo through POST /call, reporting requests/s and latency
# percentiles (wrk). Starts its own `outlayer serve` on a free loopback port.
#
#   scripts/load.sh                    # embedded: SQLite + in-process queue
#   scripts/load.sh postgres           # PostgreSQL (fresh schema) + Redis
#
# Environment: DURATION (default 15s), CONNECTIONS (32), THREADS (2), CONCURRENCY (worker slots, 16),
# LOAD_PG_URL (the PostgreSQL database, default `test`), OUTLAYER_BIN (a prebuilt `outlayer` to measure, e.g. an older build for a before/after
# comparison in the same run; default: build this checkout with --release).
# Prints calls/s, p50, p99 and the serve process's CPU time per answered call (from /proc).
# Every request stays on 127.0.0.1 and the run stops by itself after DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
CONCURRENCY=${CONCURRENCY:-16}

need() { command -v "$1" >/dev/null || { echo "installing $1"; apt-get install -y -qq "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$1" >/dev/null; }; }; }
need wrk; need jq; need curl

if [ -n "${OUTLAYER_BIN:-}" ]; then
  bin=$OUTLAYER_BIN
else
  cargo build --release -q -p outlayer-cli
  bin=target/release/outlayer
fi
wasm=$($bin build guests/echo)
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
args=(serve --listen "127.0.0.1:$port" --data-dir "$data" --rate-limit 100000000 --concurrency "$CONCURRENCY")
if [ "$backend" = postgres ]; then
  scripts/services.sh
  args+=(--database "${LOAD_PG_URL:-postgres://postgres@127.0.0.1:5432/test}" --database-schema "load_$(date +%s)_$$" --redis-url redis://127.0.0.1:6379)
fi
OUTLAYER_LOG=error $bin "${args[@]}" 2>"$data/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done

token=$(curl -sf -X POST "$url/owners" -H 'content-type: application/json' -d '{"owner":"load"}' | jq -r .token)
curl -sf -X POST "$url/projects" -H "authorization: Bearer $token" -H 'content-type: application/json' -d '{"name":"echo"}' >/dev/null
curl -sf -X POST "$url/projects/load/echo/versions" -H "authorization: Bearer $token" --data-binary @"$wasm" >/dev/null
key=$(curl -sf -X POST "$url/payment-keys" -H "authorization: Bearer $token" -H 'content-type: application/json' -d '{"initial_balance":1000000000000}' | jq -r .key)
# One call to warm the compiled-artifact cache.
curl -sf -X POST "$url/call/load/echo" -H "x-payment-key: $key" -H 'content-type: application/json' -d '{"input":"warm"}' | jq -c '{status,output}'

lua="$data/post.lua"
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.body = '{"input":{"hello":"world"}}'
wrk.headers["content-type"] = "application/json"
wrk.headers["x-payment-key"] = "$key"
done = function(summary, latency, requests)
  io.write(string.format("backend=$backend requests=%d errors=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
# CPU time (user + system, clock ticks) of the serve process, before and after the run.
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(ticks)
line=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$lua" "$url/call/load/echo" | tail -n 1)
after=$(ticks)
requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
hz=$(getconf CLK_TCK)
cpu_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN { if (n > 0) printf "%.0f", t * 1e6 / hz / n; else print "n/a" }')
echo "$line connections=$CONNECTIONS serve_cpu_us_per_call=$cpu_us"
