#!/usr/bin/env bash
# bench_sketch_ingest: Kafka -> aggregate table with sketch measures (issue 14). The same N
# `lodestar generate` wiki events, produced once with kcat into `lodestar dev-kafka`, are
# ingested by two streaming jobs into two aggregate tables rolled up by hour, channel,
# namespace and isRobot: the reference has COUNT(*) and three SUMs, the other the same plus
# an HLL (lgK 12) and a theta sketch (16384 entries), Druid's defaults, of "user" and a
# quantiles sketch (k 128) of "delta". Each is timed from
# the job's creation to its last row, alternately for several rounds; prints both rates and
# the ratio of the best of each (the goal is >= 0.7). The work is in bench/sketch_ingest/driver.py.
#   BENCH_SKETCH_INGEST_EVENTS=N (1000000), BENCH_SKETCH_INGEST_ROUNDS=R (2)
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory build/lodestar >/dev/null 2>&1 || { echo "bench_sketch_ingest: build/lodestar does not build"; exit 1; }
command -v kcat >/dev/null || { echo "bench_sketch_ingest: kcat missing (make deps)"; exit 1; }
exec python3 -u bench/sketch_ingest/driver.py
