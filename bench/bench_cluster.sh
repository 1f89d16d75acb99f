#!/usr/bin/env bash
# bench_cluster: what a cluster costs on one machine (issue 16). Three nodes against one
# node, both on the same PostgreSQL catalog kind and the same S3-compatible store (s3rver),
# reading one dev-kafka topic: ingestion rate (3 nodes / 1 node, goal >= 0.7), failover
# time after kill -9, and the latency of a query over the nodes beside the same query on
# one node. The work is in bench/cluster/driver.py.
#   BENCH_CLUSTER_EVENTS=N (1000000)  BENCH_CLUSTER_PARTITIONS=P (24)
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory build/lodestar >/dev/null
for t in kcat node python3 initdb pg_ctl; do
  command -v "$t" >/dev/null || [ -x "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)/$t" ] ||
    { echo "bench_cluster: $t not installed (make deps)"; exit 1; }
done
[ -d tests/e2e/s3/node_modules/s3rver ] ||
  { echo "bench_cluster: tests/e2e/s3/node_modules missing (make deps)"; exit 1; }
exec python3 -u bench/cluster/driver.py
