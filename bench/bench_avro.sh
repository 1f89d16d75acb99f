#!/usr/bin/env bash
# bench_avro: Avro (avro_stream, inline schema) vs nd-json ingestion of the same events from
# Kafka: `lodestar generate` events, sent by kafkajs both as nd-json lines and as avsc-encoded
# Avro into two topics of `lodestar dev-kafka`; one streaming job per topic into its own table
# (run one after the other), timed from the job's creation to the last row, and printed as a
# ratio (Avro rows/s ÷ nd-json rows/s; the goal is ≥ 0.8). The work is in bench/avro/driver.py.
#   BENCH_AVRO_EVENTS=N (200000), spread over enough partitions that dev-kafka keeps them all
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory build/lodestar >/dev/null 2>&1 || { echo "bench_avro: build/lodestar does not build"; exit 1; }
[ -d tests/e2e/avro_client/node_modules/avsc ] || { echo "bench_avro: npm packages missing (make deps)"; exit 1; }
exec python3 -u bench/avro/driver.py
