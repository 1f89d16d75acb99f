#!/usr/bin/env bash
# Installs the Debian packages Lodestar's build, tests and benchmarks need.
# Idempotent: checks each with dpkg, runs `apt-get update` at most once and
# only when something is missing; uses sudo when not root.
set -euo pipefail
PKGS=(
  gcc make pkg-config clang libclang-rt-14-dev clang-format
  libmicrohttpd-dev libjansson-dev libsqlite3-dev librdkafka-dev libssl-dev
  zlib1g-dev liblz4-dev libzstd-dev libroaring-dev libcurl4-openssl-dev
  kcat python3 curl jq sqlite3 tzdata wrk apache2-utils
)
PKGS+=(nodejs) # node and npm, for bench/duckdb (bench/bench_query_duckdb.sh)
missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# bench/bench_query_duckdb.sh's reference: DuckDB's node API, pinned by its package-lock.json.
duckdb_bench() {
  if [ ! -d "$(dirname "$0")/../bench/duckdb/node_modules/@duckdb/node-api" ]; then
    (cd "$(dirname "$0")/../bench/duckdb" && npm ci --no-audit --no-fund)
  fi
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} packages present"
  duckdb_bench
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
duckdb_bench
