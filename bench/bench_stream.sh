#!/usr/bin/env bash
# bench_stream: ingestion throughput, push rate, freshness and peak memory of the
# streaming path, each beside a reference measured in the same run (kcat on the
# same topic and a bare librdkafka consumer of it, one push client and the
# disk's own sync rate, kcat's consume lag and RSS), as a ratio. The work is in
# bench/stream/driver.py; this wrapper builds the server and the bare consumer
# (bench/kafka_ref.c -> build/bench/kafka_ref), checks the tools, and stops
# whatever is left on exit.
#   BENCH_STREAM_EVENTS=N (2000000)  BENCH_STREAM_PUSH_SECONDS (15)
#   BENCH_STREAM_RATE (50000)  BENCH_STREAM_FRESH_SECONDS (30)
#   BENCH_STREAM_ONLY=kafka,push,freshness (all)
#   BENCH_PERF=1: perf record on the server during the Kafka run (driver.py)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! make --no-print-directory build/lodestar >/dev/null 2>&1; then
  [ -x build/lodestar ] || { echo "bench_stream: build/lodestar does not build"; exit 1; }
  echo "bench_stream: make failed; measuring the existing build/lodestar ($(date -r build/lodestar '+%F %T'))"
fi
mkdir -p build/bench
# -O2 like run.sh builds the other benchmarks; it needs librdkafka only.
gcc -std=c11 -O2 -g -Wall -Wextra -Wshadow -Wformat=2 -Werror $(pkg-config --cflags rdkafka) bench/kafka_ref.c \
    -o build/bench/kafka_ref $(pkg-config --libs rdkafka) \
  || { echo "bench_stream: bench/kafka_ref.c does not build (librdkafka-dev: make deps)"; exit 1; }
for t in kcat wrk python3; do
  command -v "$t" >/dev/null || { echo "bench_stream: $t not installed (make deps)"; exit 1; }
done
DRIVER_PID=
cleanup() {
  if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null || true
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
python3 -u bench/stream/driver.py &
DRIVER_PID=$!
wait "$DRIVER_PID"
