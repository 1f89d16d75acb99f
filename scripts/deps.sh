#!/usr/bin/env bash
# Installs the Debian packages Lodestar's build, tests and benchmarks need.
# Idempotent: checks each with dpkg, runs `apt-get update` at most once and
# only when something is missing; uses sudo when not root. Then the npm packages of
# tests/e2e/druid_client, console, kinesis, avro_client and protobuf_client, and bench/duckdb
# (npm ci) when their node_modules are missing.
set -euo pipefail
PKGS=(
  gcc make pkg-config clang libclang-rt-14-dev clang-format
  libmicrohttpd-dev libjansson-dev libsqlite3-dev librdkafka-dev libssl-dev
  zlib1g-dev liblz4-dev libzstd-dev libroaring-dev libcurl4-openssl-dev libavro-dev
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libpq-dev postgresql
  libprotobuf-dev
  kcat python3 curl jq sqlite3 tzdata wrk apache2-utils
  nodejs
  chromium
)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm: Debian packages it apart from nodejs (NodeSource's nodejs carries its own): by command.
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Druid's own SQL client (@druid-toolkit/query, pinned by its package-lock.json) for
# tests/e2e/test_druid_sql.py.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -d "$ROOT/tests/e2e/druid_client/node_modules/@druid-toolkit/query" ]; then
  echo "deps: npm ci in tests/e2e/druid_client"
  (cd "$ROOT/tests/e2e/druid_client" && npm ci --no-audit --no-fund)
fi
# The console's browser test (tests/e2e/test_console.py): puppeteer-core, pinned by its
# package-lock.json, drives the chromium above (it downloads no browser of its own).
if [ ! -d "$ROOT/tests/e2e/console/node_modules/puppeteer-core" ]; then
  echo "deps: npm ci in tests/e2e/console"
  (cd "$ROOT/tests/e2e/console" && npm ci --no-audit --no-fund)
fi
# A Kinesis endpoint (kinesalite) and AWS's Kinesis client (@aws-sdk/client-kinesis), pinned
# by their package-lock.json, for tests/e2e/test_kinesis.py.
if [ ! -d "$ROOT/tests/e2e/kinesis/node_modules/kinesalite" ]; then
  echo "deps: npm ci in tests/e2e/kinesis"
  (cd "$ROOT/tests/e2e/kinesis" && npm ci --no-audit --no-fund)
fi
# Avro test producers (avsc, @kafkajs/confluent-schema-registry, kafkajs), pinned by their
# package-lock.json, for tests/e2e/test_avro.py and bench/bench_avro.sh.
if [ ! -d "$ROOT/tests/e2e/avro_client/node_modules/avsc" ]; then
  echo "deps: npm ci in tests/e2e/avro_client"
  (cd "$ROOT/tests/e2e/avro_client" && npm ci --no-audit --no-fund)
fi
# protobufjs and kafkajs (pinned by its package-lock.json) for tests/e2e/test_protobuf.py and
# bench/bench_protobuf.sh: Protobuf events encoded and sent by the libraries people use.
if [ ! -d "$ROOT/tests/e2e/protobuf_client/node_modules/protobufjs" ] ||
   [ ! -d "$ROOT/tests/e2e/protobuf_client/node_modules/kafkajs" ]; then
  echo "deps: npm ci in tests/e2e/protobuf_client"
  (cd "$ROOT/tests/e2e/protobuf_client" && npm ci --no-audit --no-fund)
fi
# s3rver, an S3-compatible object store (pinned by its package-lock.json), for the segment
# store's tests: tests/unit/test_s3.c and tests/e2e/test_s3_segments.py (tests/e2e/s3/s3rver.js).
if [ ! -d "$ROOT/tests/e2e/s3/node_modules/s3rver" ]; then
  echo "deps: npm ci in tests/e2e/s3"
  (cd "$ROOT/tests/e2e/s3" && npm ci --no-audit --no-fund)
fi
# bench/bench_query_duckdb.sh's reference: DuckDB's node API, pinned by its package-lock.json.
if [ ! -d "$ROOT/bench/duckdb/node_modules/@duckdb/node-api" ]; then
  echo "deps: npm ci in bench/duckdb"
  (cd "$ROOT/bench/duckdb" && npm ci --no-audit --no-fund)
fi
