#!/usr/bin/env bash
# bench_api: the management API under load on loopback.
#   - start-up time of `lodestar serve` (exec → port accepting), beside `true` started the same way
#   - p50/p99 latency and req/s of POST /v2/jobs and GET /v2/jobs (wrk, 2 threads, 8 connections,
#     10 s each), beside GET /v1/projects (no catalog work) as the reference, with the ratio
#   - peak RSS of the server (VmHWM)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/lodestar
DUR=${BENCH_SECONDS:-10}
command -v wrk >/dev/null || { echo "wrk not installed (make deps)"; exit 1; }
DIR=$(mktemp -d /tmp/lodestar-bench-api-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

wait_port() {  # prints seconds until the port accepts
  python3 - "$1" <<'PY'
import socket, sys, time
t0 = time.time()
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.05).close(); break
    except OSError:
        time.sleep(0.001)
print(f"{(time.time() - t0) * 1000:.1f}")
PY
}
t0=$(date +%s%N)
$BIN serve --data-dir "$DIR" --listen 127.0.0.1:$PORT 2>"$DIR/server.log" &
PID=$!
python3 - "$PORT" <<'PY'
import socket, sys, time
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.05).close(); break
    except OSError:
        time.sleep(0.0005)
PY
t1=$(date +%s%N)
t2=$(date +%s%N); true; python3 -c 'pass'; t3=$(date +%s%N)
startup_ms=$(( (t1 - t0) / 1000000 )); ref_ms=$(( (t3 - t2) / 1000000 ))
echo "start-up: ${startup_ms} ms to accept connections (reference: python3 -c pass + true: ${ref_ms} ms)"

KEY=$(cat "$DIR/admin.key")
AUTH="Authorization: Bearer $KEY"
curl -sf -H "$AUTH" -H 'Content-Type: application/json' -X POST "http://127.0.0.1:$PORT/v2/connections" \
  -d '{"type":"kafka","name":"bench","bootstrapServers":"127.0.0.1:9092","topicName":"events"}' >/dev/null

cat > "$DIR/post.lua" <<LUA
local counter = 0
local tid = 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
request = function()
  counter = counter + 1
  local body = '{"type":"streaming","target":{"type":"table","tableName":"t' .. tid .. '_' .. counter .. '"},'
    .. '"createTableIfNotExists":true,"source":{"type":"connection","connectionName":"bench",'
    .. '"inputSchema":[{"name":"date","dataType":"string"},{"name":"page","dataType":"string"}],'
    .. '"formatSettings":{"format":"nd-json"}},"mappings":[{"columnName":"__time","expression":"TIME_PARSE(\\"date\\")"},'
    .. '{"columnName":"page","expression":"page"}]}'
  return wrk.format("POST", "/v2/jobs", {["Authorization"]="Bearer $KEY", ["Content-Type"]="application/json"}, body)
end
LUA
cat > "$DIR/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $KEY"
LUA

run() {  # name, path, script → "rps p50 p99"
  local out
  out=$(wrk -t2 -c8 -d"${DUR}s" --latency -s "$2" "http://127.0.0.1:$PORT$3" 2>&1)
  local rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  local p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  local non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  printf '%-22s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps $p50 $p99" > "$DIR/$1.res"
}
run "GET /v1/projects" "$DIR/get.lua" /v1/projects
run "POST /v2/jobs" "$DIR/post.lua" /v2/jobs
run "GET /v2/jobs" "$DIR/get.lua" "/v2/jobs?tableName=t1_1"
njobs=$(curl -sf -H "$AUTH" "http://127.0.0.1:$PORT/v2/jobs" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["values"]))')
echo "(the catalog held $njobs jobs during GET /v2/jobs; the filter returns one)"
python3 - "$DIR" <<'PY'
import sys
d = sys.argv[1]
def ms(x):
    return float(x[:-2]) if x.endswith("ms") else float(x[:-2]) / 1000 if x.endswith("us") else float(x[:-1]) * 1000
ref = open(f"{d}/GET /v1/projects.res").read().split()
for name in ("POST /v2/jobs", "GET /v2/jobs"):
    r = open(f"{d}/{name}.res").read().split()
    print(f"{name}: p50 {ms(r[1]):.2f} ms, p99 {ms(r[2]):.2f} ms; "
          f"throughput ratio to GET /v1/projects: {float(r[0]) / float(ref[0]):.3f}")
PY
echo "peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' /proc/$PID/status)"
