#!/usr/bin/env bash
# bench_protobuf: Kafka -> table ingestion of the same events as Protobuf and as
# nd-json, printed as a ratio (goal >= 0.8). The work is in bench/protobuf/driver.py;
# this wrapper builds the server and checks the tools (protoc, kcat, node and
# tests/e2e/protobuf_client's node_modules: make deps).
#   BENCH_PROTOBUF_EVENTS=N (200000)  BENCH_PROTOBUF_ROUNDS (5)
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory build/lodestar >/dev/null
for t in protoc kcat node python3; do
  command -v "$t" >/dev/null || { echo "bench_protobuf: $t not installed (make deps)"; exit 1; }
done
[ -d tests/e2e/protobuf_client/node_modules/kafkajs ] ||
  { echo "bench_protobuf: tests/e2e/protobuf_client/node_modules missing (make deps)"; exit 1; }
exec python3 -u bench/protobuf/driver.py
