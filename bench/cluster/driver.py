#!/usr/bin/env python3
"""
driver.py — the cluster benchmark behind bench/bench_cluster.sh (issue 16). On one machine a
cluster cannot add throughput, so this measures what it costs:

  1. ingestion: N events (default 1,000,000) on a `lodestar dev-kafka` topic of P partitions
     (default 24), read by one streaming job (readFromPoint earliest) on one node, then on
     three nodes; each on its own PostgreSQL database and S3 prefix (s3rver), so both pay the
     catalog and the upload. The time is from the job's creation until the catalog has
     committed all N rows (sum of segment rows), checked exact. Figure: 3-node rate / 1-node
     rate (goal >= 0.7).
  2. failover: kill -9 of one of the three nodes, then M more events (N / 10): the time from
     the kill until its partitions are leased by the others, and until the committed rows are
     exactly N + M.
  3. query latency: the same query, median of 15 runs, on a node of the three (a query over
     the nodes: api/fanout.c) beside the one-node server on the same rows: a GROUP BY (split
     into the nodes' parts), a GROUP BY over a filtered subquery, a filtered scan with a
     LIMIT and the latest rows by __time (blocks not split: their scans pushed down to the
     nodes).

Environment: BENCH_CLUSTER_EVENTS (N), BENCH_CLUSTER_PARTITIONS (P), LODESTAR_BIN.
Everything binds 127.0.0.1; every process it starts is stopped on exit.
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import DevKafka, S3rver, Server, iso  # noqa: E402
from pg import Postgres  # noqa: E402

N = int(os.environ.get("BENCH_CLUSTER_EVENTS", "1000000"))
P = int(os.environ.get("BENCH_CLUSTER_PARTITIONS", "24"))
M = max(1000, N // 10)
SECRET = "bench-cluster-secret"


def produce(bootstrap, first, n):
    """Event i goes to partition i % P, each partition's events in one kcat run: large
    batches (the dev broker reads a partition of many small batches slowly, and keeps only
    about 5 MiB of each)."""
    now = int(time.time() * 1000)
    d = tempfile.mkdtemp(prefix="lodestar-bench-ev-")
    try:
        files = [open(os.path.join(d, f"{p}.json"), "w") for p in range(P)]
        for i in range(first, first + n):
            files[i % P].write(json.dumps({"ts": iso(now + i % 60000), "n": i,
                                           "k": f"k{i % 97}"}) + "\n")
        for f in files:
            f.close()
        for p in range(P):
            r = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "ev", "-p", str(p), "-l",
                                os.path.join(d, f"{p}.json"), "-X", "linger.ms=50",
                                "-X", "batch.num.messages=10000"],
                               capture_output=True, timeout=900)
            if r.returncode != 0:
                sys.exit("bench_cluster: kcat failed: " + r.stderr.decode()[-500:])
    finally:
        shutil.rmtree(d, ignore_errors=True)


JOB = {"type": "streaming", "target": {"type": "table", "tableName": "ev"},
       "createTableIfNotExists": True, "readFromPoint": "earliest",
       "source": {"type": "connection", "connectionName": "k",
                  "inputSchema": [{"name": "ts", "dataType": "string"},
                                  {"name": "n", "dataType": "long"},
                                  {"name": "k", "dataType": "string"}],
                  "formatSettings": {"format": "nd-json"}},
       "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                    {"columnName": "n", "expression": "n"},
                    {"columnName": "k", "expression": "k"}]}
QUERIES = [
    ("GROUP BY", "SELECT k, COUNT(*) AS c, SUM(n) AS s FROM ev GROUP BY k ORDER BY c DESC, k "
                 "LIMIT 10", True),
    ("GROUP BY over a filtered subquery",
     "SELECT k, COUNT(*) AS c, SUM(n) AS s FROM (SELECT k, n FROM ev WHERE k IN ('k1', 'k2', "
     "'k3')) GROUP BY k ORDER BY k", True),
    # no ORDER BY: any 20 matching rows are the answer, so only their number is compared
    ("filtered scan, LIMIT 20", "SELECT __time, k, n FROM ev WHERE k = 'k5' LIMIT 20", False),
    ("the latest 20 rows", "SELECT __time, k, n FROM ev ORDER BY __time DESC, n LIMIT 20", True),
]


class Cluster:
    """n nodes on one PostgreSQL database and one S3 prefix."""

    def __init__(self, pg, store, name, n):
        self.pg, self.db = pg, name
        uri = pg.createdb(name)
        env = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
               "AWS_REGION": "", "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "",
               "LODESTAR_PERSIST_MAX_AGE_MS": "1000", "LODESTAR_CLUSTER_SECRET": SECRET}
        args = ["--catalog", uri, "--segments", f"s3://bench/{name}", "--s3-endpoint",
                f"http://127.0.0.1:{store.port}"]
        self.nodes, self.args, self.env, self.name = [], args, env, name
        for i in range(n):
            self.add_node()

    def add_node(self):
        s = Server(extra_args=self.args + ["--node-id", f"{self.name}{len(self.nodes)}"],
                   env=self.env)
        if self.nodes:
            shutil.copy(os.path.join(self.nodes[0].data_dir, "admin.key"), s.data_dir)
        s.start()
        self.nodes.append(s)
        return s



    def psql(self, sql):
        return self.pg._run("psql", "-h", "127.0.0.1", "-p", str(self.pg.port), "-U", "lodestar",
                            "-d", self.db, "-Atc", sql).strip()

    def committed(self):
        return int(self.psql("SELECT COALESCE(sum(rows), 0) FROM segment WHERE table_name = 'ev'"))

    def holders(self):
        now = time.time_ns()
        out = set()
        for line in self.psql("SELECT node_id, expires_ns FROM lease WHERE stream NOT LIKE "
                              "'job:%'").splitlines():
            node, exp = line.split("|")
            if node and int(exp) > now:
                out.add(node)
        return out

    def wait_committed(self, want, t0, limit=1800):
        while True:
            got = self.committed()
            if got == want:
                return time.time() - t0
            if got > want:
                sys.exit(f"bench_cluster: {got} rows committed, more than the {want} produced")
            if time.time() - t0 > limit:
                sys.exit(f"bench_cluster: {got} of {want} rows committed after {limit} s")
            time.sleep(0.2)

    def ingest(self, bootstrap):
        a = self.nodes[0]
        r = a.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                              "bootstrapServers": bootstrap, "topicName": "ev"})
        if r.status != 201:
            sys.exit(f"bench_cluster: connection: {r.status} {r.raw[:300]}")
        t0 = time.time()
        r = a.req("POST", "/v2/jobs", JOB)
        if r.status != 201:
            sys.exit(f"bench_cluster: job: {r.status} {r.raw[:300]}")
        return self.wait_committed(N, t0)

    def query_ms(self, node, sql):
        times, first = [], None
        for _ in range(15):
            t0 = time.time()
            r = node.req("POST", "/v1/query/sql", {"query": sql, "resultFormat": "array"})
            times.append((time.time() - t0) * 1000)
            if r.status != 200:
                sys.exit(f"bench_cluster: query: {r.status} {r.raw[:300]}")
            first = first or r.json
        return statistics.median(times), first

    def stop(self):
        for s in self.nodes:
            s.stop()
            shutil.rmtree(s.data_dir, ignore_errors=True)


def main():
    broker = DevKafka(topics=[f"ev:{P}"]).start()
    store = S3rver("bench").start()
    clusters = []
    try:
        with Postgres() as pg:
            t0 = time.time()
            produce(broker.bootstrap, 0, N)
            print(f"  produced {N} events on {P} partitions ({time.time() - t0:.1f} s, kcat)",
                  flush=True)
            one = Cluster(pg, store, "one", 1)
            clusters.append(one)
            t1 = one.ingest(broker.bootstrap)
            print(f"  1 node:  {N} rows committed in {t1:.1f} s ({N / t1:,.0f} rows/s)", flush=True)
            three = Cluster(pg, store, "three", 3)
            clusters.append(three)
            t3 = three.ingest(broker.bootstrap)
            print(f"  3 nodes: {N} rows committed in {t3:.1f} s ({N / t3:,.0f} rows/s)", flush=True)
            print(f"  ingestion, 3 nodes / 1 node: {t1 / t3:.2f} (goal >= 0.7)", flush=True)
            for what, sql, exact in QUERIES:
                q1, r1 = one.query_ms(one.nodes[0], sql)
                q3, r3 = three.query_ms(three.nodes[1], sql)
                if (r1 != r3) if exact else (len(r1) != len(r3)):
                    sys.exit(f"bench_cluster: {what}: the query over three nodes answered "
                             f"differently from one node: {str(r3)[:200]} vs {str(r1)[:200]}")
                print(f"  query ({what} over {N} rows), median of 15: 3 nodes {q3:.1f} ms, 1 "
                      f"node {q1:.1f} ms: {q3 / q1:.2f}x (same answer)", flush=True)
            # failover: kill -9 of one node, then M more events
            three.nodes[2].kill9()
            tk = time.time()
            produce(broker.bootstrap, N, M)
            dead = "three2"
            while dead in three.holders() or len(three.holders()) < 2:
                if time.time() - tk > 120:
                    sys.exit("bench_cluster: the dead node's partitions did not move in 120 s")
                time.sleep(0.1)
            tm = time.time() - tk
            te = three.wait_committed(N + M, tk, 300)
            print(f"  failover after kill -9: partitions moved in {tm:.1f} s, {N + M} rows "
                  f"committed exactly {te:.1f} s after the kill (lease expiry "
                  f"{10} s)", flush=True)
    finally:
        for cl in clusters:
            cl.stop()
        store.remove()
        broker.stop()


if __name__ == "__main__":
    main()
