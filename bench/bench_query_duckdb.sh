#!/usr/bin/env bash
# bench_query_duckdb: SQL query latency of a real `lodestar serve` over HTTP, beside DuckDB
# (npm @duckdb/node-api, every core of the machine) answering the same queries over the
# same rows, with the answers compared (a mismatch fails the run).
#
#   1. `lodestar generate` writes BENCH_QUERY_DUCKDB_ROWS (default 2,000,000) wiki-edit events
#      as nd-json, in 24 hourly runs of consecutive milliseconds over 2015-09-12 (seed = hour).
#   2. A fresh `lodestar serve` gets the file the way a user loads one: POST /v1/files, then a
#      batch job into the table `wiki`; the run waits for it to succeed and checks COUNT(*).
#   3. bench/duckdb/bench.mjs loads the same file into DuckDB with read_json (same columns,
#      same mappings), then runs each query once on each side to warm up and
#      BENCH_QUERY_DUCKDB_RUNS times (default 5) alternating, and prints the median latency of
#      each side, DuckDB's time over ours (> 1: we are faster) and the geometric mean.
#
# Queries that need SQL the server does not have yet (the join, the window function) print
# "not supported yet" with the server's message and stay out of the geometric mean.
# BENCH_QUERY_DUCKDB_ONLY=<part of a name> runs only the matching queries.
# Alone: BENCH=query_duckdb bash bench/run.sh (or bash bench/bench_query_duckdb.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_QUERY_DUCKDB_ROWS:-2000000}
BIN=${LODESTAR_BIN:-build/lodestar}  # LODESTAR_BIN: another build, for before/after runs
[ -n "${LODESTAR_BIN:-}" ] || make --no-print-directory "$BIN" >/dev/null
command -v node >/dev/null || { echo "node not installed (make deps)"; exit 1; }
if [ ! -d bench/duckdb/node_modules/@duckdb/node-api ]; then
  (cd bench/duckdb && npm ci --no-audit --no-fund >/dev/null) || { echo "npm ci in bench/duckdb failed"; exit 1; }
fi

DIR=$(mktemp -d /tmp/lodestar-bench-qduck-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; sleep 0.3; rm -rf "$DIR"; }
trap cleanup EXIT

since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- the rows ----
t0=$(date +%s.%N)
per=$(( (ROWS + 23) / 24 )); left=$ROWS
for h in $(seq 0 23); do
  n=$(( left < per ? left : per )); left=$(( left - n ))
  [ "$n" -gt 0 ] || break
  "$BIN" generate --events "$n" --seed "$h" --start "$(printf '2015-09-12T%02d:00:00Z' "$h")"
done > "$DIR/wiki.json"
printf 'generated %d wiki edits, %d MB of nd-json, in %s s\n' "$ROWS" \
  $(( $(stat -c %s "$DIR/wiki.json") / 1000000 )) "$(since "$t0")"

# ---- the server, loaded through the API ----
mkdir -p "$DIR/data"
"$BIN" serve --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" 2> "$DIR/server.log" &
PID=$!
for _ in $(seq 1 200); do
  [ -s "$DIR/data/admin.key" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/v1/projects" && break
  sleep 0.05
done
KEY=$(cat "$DIR/data/admin.key")
API="http://127.0.0.1:$PORT"
t0=$(date +%s.%N)
curl -sf --user "$KEY:" -F "file=@$DIR/wiki.json;filename=wiki.json" "$API/v1/files" >/dev/null \
  || { echo "upload failed"; exit 1; }
S='{"name":"time","dataType":"string"},{"name":"channel","dataType":"string"},{"name":"page","dataType":"string"},{"name":"user","dataType":"string"},{"name":"namespace","dataType":"string"},{"name":"countryName","dataType":"string"},{"name":"isRobot","dataType":"string"},{"name":"added","dataType":"long"},{"name":"deleted","dataType":"long"},{"name":"delta","dataType":"long"}'
M='{"columnName":"__time","expression":"TIME_PARSE(\"time\")"},{"columnName":"channel","expression":"channel"},{"columnName":"page","expression":"page"},{"columnName":"user","expression":"\"user\""},{"columnName":"namespace","expression":"namespace"},{"columnName":"countryName","expression":"countryName"},{"columnName":"isRobot","expression":"CASE WHEN \"isRobot\" = '"'"'true'"'"' THEN 1 ELSE 0 END"},{"columnName":"added","expression":"added"},{"columnName":"deleted","expression":"deleted"},{"columnName":"delta","expression":"delta"}'
JOB=$(curl -sf --user "$KEY:" -H 'Content-Type: application/json' "$API/v2/jobs" -d "{\"type\":\"batch\",
  \"target\":{\"type\":\"table\",\"tableName\":\"wiki\"},\"createTableIfNotExists\":true,
  \"source\":{\"type\":\"uploaded\",\"fileList\":[\"wiki.json\"],\"inputSchema\":[$S],\"formatSettings\":{\"format\":\"nd-json\"}},
  \"mappings\":[$M]}" | jq -r .id) || { echo "batch job refused"; exit 1; }
status=
for _ in $(seq 1 3000); do
  status=$(curl -sf --user "$KEY:" "$API/v2/jobs/$JOB" | jq -r .executionStatus)
  case "$status" in succeeded|failed) break ;; esac
  sleep 0.1
done
[ "$status" = succeeded ] || { echo "batch job: $status"; tail -5 "$DIR/server.log"; exit 1; }
printf 'lodestar: uploaded and loaded by a batch job in %s s\n' "$(since "$t0")"

LODESTAR_URL=$API LODESTAR_KEY=$KEY BENCH_NDJSON="$DIR/wiki.json" BENCH_ROWS=$ROWS \
  BENCH_SERVER_PID=$PID node bench/duckdb/bench.mjs
