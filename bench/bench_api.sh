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
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; sleep 0.3; rm -rf "$DIR"; }
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
# Start-up: exec → port accepting, measured from inside one python3 process (so its own
# start-up is not counted), beside the same measurement for `sleep 0` exiting.
read -r startup_ms ref_ms PID < <(python3 - "$BIN" "$DIR" "$PORT" <<'PY'
import socket, subprocess, sys, time
bin_, d, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
subprocess.run(["sleep", "0"])
ref = (time.perf_counter() - t0) * 1000
t0 = time.perf_counter()
p = subprocess.Popen([bin_, "serve", "--data-dir", d, "--listen", f"127.0.0.1:{port}"],
                     stderr=open(f"{d}/server.log", "w"), start_new_session=True)
while True:
    try:
        socket.create_connection(("127.0.0.1", port), 0.05).close(); break
    except OSError:
        time.sleep(0.0005)
print(f"{(time.perf_counter() - t0) * 1000:.1f} {ref:.1f} {p.pid}")
PY
)
echo "start-up: ${startup_ms} ms from exec to accepting connections (first start: creates the catalog and admin key); reference: exec of sleep 0: ${ref_ms} ms"

KEY=$(cat "$DIR/admin.key")
AUTH="Authorization: Bearer $KEY"
curl -sf -H "$AUTH" -H 'Content-Type: application/json' -X POST "http://127.0.0.1:$PORT/v2/connections" \
  -d '{"type":"kafka","name":"bench","bootstrapServers":"127.0.0.1:9092","topicName":"events"}' >/dev/null

cat > "$DIR/post.lua" <<'LUA'
local counter = 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  local body = '{"type":"streaming","target":{"type":"table","tableName":"t' .. tid .. '_' .. counter .. '"},'
    .. '"createTableIfNotExists":true,"source":{"type":"connection","connectionName":"bench",'
    .. '"inputSchema":[{"name":"date","dataType":"string"},{"name":"page","dataType":"string"}],'
    .. '"formatSettings":{"format":"nd-json"}},"mappings":[{"columnName":"__time","expression":"TIME_PARSE(\\"date\\")"},'
    .. '{"columnName":"page","expression":"page"}],"desiredExecutionStatus":"suspended"}'
  return wrk.format("POST", "/v2/jobs", {["Authorization"]="Bearer @KEY@", ["Content-Type"]="application/json"}, body)
end
LUA
sed -i "s/@KEY@/$KEY/" "$DIR/post.lua"
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
  echo "$rps $p50 $p99" > "$DIR/$(echo "$1" | tr ' /' '__').res"
}
run "GET /v1/projects" "$DIR/get.lua" /v1/projects
run "POST /v2/jobs" "$DIR/post.lua" /v2/jobs
echo "  POST /v2/jobs statuses: $(grep -o 'POST /v2/jobs [0-9]*' "$DIR/server.log" | awk '{print $3}' | sort | uniq -c | tr '\n' ' ')"
grep 'POST /v2/jobs 4' "$DIR/server.log" | head -2 || true
run "GET /v2/jobs" "$DIR/get.lua" "/v2/jobs?tableName=t1_1"
njobs=$(curl -sf -H "$AUTH" "http://127.0.0.1:$PORT/v2/jobs" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["values"]))')
echo "(the catalog held $njobs jobs during GET /v2/jobs; the filter returns one)"
python3 - "$DIR" <<'PY'
import sys
d = sys.argv[1]
def ms(x):
    return float(x[:-2]) if x.endswith("ms") else float(x[:-2]) / 1000 if x.endswith("us") else float(x[:-1]) * 1000
def res(name):
    return open(f"{d}/" + name.replace(" ", "_").replace("/", "_") + ".res").read().split()
ref = res("GET /v1/projects")
for name in ("POST /v2/jobs", "GET /v2/jobs"):
    r = res(name)
    print(f"{name}: p50 {ms(r[1]):.2f} ms, p99 {ms(r[2]):.2f} ms; "
          f"throughput ratio to GET /v1/projects: {float(r[0]) / float(ref[0]):.3f}")
PY
echo "peak RSS (VmHWM): $(awk '/VmHWM/ {print $2, $3}' /proc/$PID/status)"
