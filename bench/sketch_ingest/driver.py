"""
bench/sketch_ingest/driver.py — bench_sketch_ingest's work (see bench/bench_sketch_ingest.sh):
N wiki events in one Kafka topic, ingested by a streaming job into an aggregate table without
sketch measures and by the same job with HLL, theta and quantiles measures added, alternately
for R rounds; rows/s from job creation to the last input row counted in the job's metrics, and
the ratio of the best of each.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import BIN, DevKafka, Server  # noqa: E402

N = int(os.environ.get("BENCH_SKETCH_INGEST_EVENTS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_SKETCH_INGEST_ROUNDS", "2"))
# dev-kafka (librdkafka's mock cluster) keeps only ~5 MiB per partition: ~430-byte events,
# at most ~3 MiB a partition, or the oldest would be dropped.
PARTS = max(4, -(-N * 430 // (3 << 20)))
INPUT = [{"name": n, "dataType": t} for n, t in (
    ("time", "string"), ("channel", "string"), ("namespace", "string"), ("user", "string"),
    ("isRobot", "string"), ("added", "long"), ("deleted", "long"), ("delta", "long"))]
BASE = [
    {"columnName": "__time", "expression": "TIME_FLOOR(TIME_PARSE(\"time\"), 'PT1H')"},
    {"columnName": "channel", "expression": '"channel"'},
    {"columnName": "namespace", "expression": '"namespace"'},
    {"columnName": "isRobot", "expression": '"isRobot"'},
    {"columnName": "cnt", "expression": "COUNT(*)", "isAggregation": True},
    {"columnName": "added", "expression": 'SUM("added")', "isAggregation": True},
    {"columnName": "deleted", "expression": 'SUM("deleted")', "isAggregation": True},
    {"columnName": "delta", "expression": 'SUM("delta")', "isAggregation": True},
]
SKETCHES = BASE + [
    {"columnName": "users_hll", "expression": 'APPROX_COUNT_DISTINCT_DS_HLL("user")',
     "isAggregation": True},
    # theta at Druid's default 16384 nominal entries
    {"columnName": "users_theta", "expression": 'APPROX_COUNT_DISTINCT_DS_THETA("user")',
     "isAggregation": True},
    {"columnName": "delta_q", "expression": 'DS_QUANTILES_SKETCH("delta")',
     "isAggregation": True},
]

# BENCH_SKETCH_INGEST_MEASURES=users_hll,delta_q: only these sketch measures (to tell their costs apart)
ONLY = os.environ.get("BENCH_SKETCH_INGEST_MEASURES")
if ONLY:
    SKETCHES = [m for m in SKETCHES if m in BASE or m["columnName"] in ONLY.split(",")]

tmp = tempfile.mkdtemp(prefix="bench-sketch-ingest-")
events = os.path.join(tmp, "events.ndjson")
with open(events, "wb") as f:
    subprocess.run([BIN, "generate", "--events", str(N), "--seed", "7"], stdout=f, check=True)

broker = DevKafka(topics=[f"wiki:{PARTS}"]).start()
s = Server()
s.start()
try:
    t0 = time.time()
    p = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", "wiki",
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5", "-l",
                        events], capture_output=True, timeout=1800)
    if p.returncode:
        print("bench_sketch_ingest: producing failed:", p.stderr.decode()[-2000:])
        sys.exit(1)
    print(f"produced {N:,} events on {PARTS} partitions in {time.time() - t0:.1f} s")
    os.unlink(events)

    def run(name, mappings):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": name,
                                              "bootstrapServers": broker.bootstrap,
                                              "topicName": "wiki"})
        assert r.status == 201, r.raw
        job = {"type": "streaming", "target": {"type": "table", "tableName": name},
               "createTableIfNotExists": True, "readFromPoint": "earliest",
               "lateMessageRejectionPeriod": "P3650D",
               "source": {"type": "connection", "connectionName": name, "inputSchema": INPUT,
                          "formatSettings": {"format": "nd-json"}},
               "mappings": mappings}
        start = time.time()
        r = s.req("POST", "/v2/jobs", job)
        assert r.status == 201, r.raw
        jid = r.json["id"]
        while True:
            m = s.req("GET", f"/v2/jobs/{jid}/metrics").json["totals"]
            done = m["numRowsProcessed"] + m["numRowsProcessedWithWarnings"]
            if done + m["numRowsSkippedByError"] >= N:
                break
            if time.time() - start > max(60, N / 10000):
                print(f"bench_sketch_ingest: {name} timed out at {done} rows: {json.dumps(m)}")
                job = s.req("GET", f"/v2/jobs/{jid}").json or {}
                print({k: v for k, v in job.items() if k not in ("source", "mappings")})
                print(s.log_text()[-3000:])
                sys.exit(1)
            time.sleep(0.02)
        secs = time.time() - start
        if m["numRowsSkippedByError"]:
            print(f"bench_sketch_ingest: {name}: {m['numRowsSkippedByError']} rows skipped")
            sys.exit(1)
        s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "canceled"})
        return N / secs, secs

    plain, sketch = [], []
    for i in range(ROUNDS):
        plain.append(run(f"plain{i}", BASE))
        sketch.append(run(f"sketch{i}", SKETCHES))
        print(f"round {i + 1}: without sketches {plain[-1][0]:,.0f} rows/s ({plain[-1][1]:.2f} s),"
              f" with HLL + theta + quantiles {sketch[-1][0]:,.0f} rows/s ({sketch[-1][1]:.2f} s)")
    # the sketch table answers: every event counted, the users estimated
    r = s.req("POST", "/v1/query/sql", {"query": "SELECT SUM(cnt), APPROX_COUNT_DISTINCT_DS_HLL("
                                        "users_hll), APPROX_COUNT_DISTINCT_DS_THETA(users_theta),"
                                        " APPROX_QUANTILE_DS(delta_q, 0.5) FROM sketch0",
                                        "resultFormat": "array"})
    print(f"sketch table: SUM(cnt), HLL users, theta users, median delta = {r.json}")
    bp, bs = max(x[0] for x in plain), max(x[0] for x in sketch)
    print(f"aggregate table from Kafka without sketches: {bp:,.0f} rows/s (best of {ROUNDS})")
    print(f"the same with HLL + theta + quantiles:       {bs:,.0f} rows/s (best of {ROUNDS})")
    print(f"ratio with sketches / without: {bs / bp:.2f} (goal >= 0.7)")
finally:
    s.stop()
    broker.stop()
    shutil.rmtree(s.data_dir, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
