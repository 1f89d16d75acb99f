#!/usr/bin/env python3
"""
test_cluster_ingest.py — one streaming job spread over three `lodestar serve` nodes that share
a PostgreSQL catalog (pg.py), reading a `lodestar dev-kafka` topic of 8 partitions: each node
reads only the partitions it leases (ingest/lease.c) and commits them fenced by the leases'
epochs. Checked against the catalog, where every node's commits meet: the partitions are split
between the nodes (lease rows); the committed rows (sum of segment rows) and offsets (the
checkpoint) equal what was produced; every node committed segments (segment.writer). With each
node's segments in its own directory, a query on any node fails naming a segment it cannot
read (never a partial count). The job keeps the default readFromPoint (latest) and its first
events are produced right after its 201, before the other nodes start. Then kill -9 of a node
mid-ingest, more events
produced while it is down: after the lease expiry the survivors take its partitions from its
last committed offsets, and the committed totals are exact again (nothing lost, nothing twice).
Then the fencing case: a node stopped (SIGSTOP) past its lease, its partitions taken over and
committed by another, then woken (SIGCONT): its late commit is refused, and the totals stay
exact. Last, a reset on latest with events produced right after its 200: committed once.
"""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

from harness import Checks, DevKafka, Server, iso, wait_for
from pg import Postgres

c = Checks()
TOPIC, PARTS = "ev", 8
ENV = {"LODESTAR_PERSIST_MAX_AGE_MS": "1000"}


def produce(bootstrap, first, n):
    now = int(time.time() * 1000)
    lines = [json.dumps({"ts": iso(now + i % 1000), "n": i}) for i in range(first, first + n)]
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", TOPIC,
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    return p.returncode == 0


JOB = {"type": "streaming", "target": {"type": "table", "tableName": "cl"},
       "createTableIfNotExists": True,
       "source": {"type": "connection", "connectionName": "k",
                  "inputSchema": [{"name": "ts", "dataType": "string"},
                                  {"name": "n", "dataType": "long"}],
                  "formatSettings": {"format": "nd-json"}},
       "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                    {"columnName": "n", "expression": "n"}]}   # readFromPoint: latest

t0 = time.time()
broker = DevKafka(topics=[f"{TOPIC}:{PARTS}"]).start()
nodes = []
try:
    with Postgres() as pg:
        uri = pg.createdb("lodestar")

        def psql(sql):
            return pg._run("psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "lodestar", "-d",
                           "lodestar", "-Atc", sql).strip()

        def committed_rows():
            return int(psql("SELECT COALESCE(sum(rows), 0) FROM segment WHERE table_name = 'cl'"))

        def committed_offsets():
            text = psql("SELECT offsets FROM checkpoint WHERE table_name = 'cl'")
            parts = json.loads(text).get(TOPIC, {}) if text else {}
            return sum(v if isinstance(v, int) else v[0] for v in parts.values())

        def holders():  # node id -> partitions leased (live leases only)
            out = {}
            now_ns = time.time_ns()
            for line in psql("SELECT node_id, part, expires_ns FROM lease "
                             "WHERE table_name = 'cl'").splitlines():
                node, part, exp = line.split("|")
                if node and int(exp) > now_ns:
                    out.setdefault(node, []).append(part)
            return out

        def exact(total):
            return committed_rows() == total and committed_offsets() == total

        def node(name, first=None):
            s = Server(extra_args=["--catalog", uri, "--node-id", name], env=ENV)
            if first:  # every node accepts the key the first one made
                shutil.copy(os.path.join(first.data_dir, "admin.key"), s.data_dir)
            s.start()
            nodes.append(s)
            return s

        # A node stopped inside a catalog transaction would hold the writers' advisory lock:
        # PostgreSQL ends such a session, as a production setting should.
        psql("ALTER DATABASE lodestar SET idle_in_transaction_session_timeout = '2s'")
        a = node("na")
        r = a.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                              "bootstrapServers": broker.bootstrap,
                                              "topicName": TOPIC})
        c.eq(r.status, 201, "kafka connection")
        r = a.req("POST", "/v2/jobs", JOB)
        c.ok(r.status == 201, "streaming job (default readFromPoint: latest)", r.raw)
        job_id = (r.json or {}).get("id", "")
        # the careless user: events at once, before the other nodes exist; latest is where the
        # partitions ended when the job was created, whoever reads them
        total = 5000
        c.ok(produce(broker.bootstrap, 0, total), "kcat produced 5000 events right after the 201")

        def processed(s):  # the job's rows processed, as node s reports them
            m = s.req("GET", f"/v2/jobs/{job_id}/metrics").json or {}
            return m.get("totals", {}).get("numRowsProcessed")

        def metrics_exact(ss, total):
            return all(processed(s) == total for s in ss)
        b = node("nb", a)
        cc = node("nc", a)

        # ---- steady ingestion over three nodes
        def split(names):
            h = holders()
            return sorted(h) == names and sum(len(v) for v in h.values()) == PARTS

        c.ok(wait_for(lambda: split(["na", "nb", "nc"]), timeout=15),
             "the 8 partitions are split between the three nodes", json.dumps(holders()))
        for _ in range(3):
            c.ok(produce(broker.bootstrap, total, 5000), "kcat produced 5000 events")
            total += 5000
        c.ok(wait_for(lambda: exact(total), timeout=30), "committed rows and offsets equal the "
             f"{total} produced", f"rows {committed_rows()}, offsets {committed_offsets()}")

        def shown():
            cl = a.req("GET", "/v1/cluster").json or {}
            return {n["id"]: sum(len(j.get("partitions", [])) for j in n.get("jobs", []))
                    for n in cl.get("nodes", [])}

        c.ok(wait_for(lambda: all(0 < shown().get(x, 0) < PARTS for x in ("na", "nb", "nc")),
                      timeout=10),
             "GET /v1/cluster shows each node reading part of the topic", json.dumps(shown()))
        c.ok(wait_for(lambda: metrics_exact([a, b, cc], total), timeout=15),
             f"every node reports the job's {total} rows processed (each node's share summed)",
             str([processed(s) for s in (a, b, cc)]))
        # Each node's segments are in its own data directory (no --segments): a query on any
        # node reads every node's rows (api/fanout.c), so it must fail naming a segment it
        # cannot read rather than answer a partial count. test_cluster_query.py covers the
        # shared store.
        q = {"query": "SELECT COUNT(*) AS n, SUM(n) AS s FROM cl", "resultFormat": "array"}
        for s in (a, b, cc):
            r = s.req("POST", "/v1/query/sql", q)
            c.ok(r.status >= 400 and "cannot be read" in r.raw and "allowPartialResults" in r.raw,
                 "a query on a node fails naming "
                 "a segment another node keeps in its own directory", r.raw[:300])
        writers = psql("SELECT string_agg(DISTINCT writer, ',' ORDER BY writer) FROM segment")
        c.eq(writers, "na,nb,nc", "every node committed segments of its share (segment.writer)")

        # ---- a batch job runs on one node only (its run lease), never once per node
        now = int(time.time() * 1000)
        csv_text = "ts,n\n" + "".join(f"{iso(now + i)},{i}\n" for i in range(3000))
        bj = {"type": "batch", "target": {"type": "table", "tableName": "bt"},
              "createTableIfNotExists": True,
              "source": {"type": "inline", "data": csv_text,
                         "inputSchema": [{"name": "ts", "dataType": "string"},
                                         {"name": "n", "dataType": "long"}],
                         "formatSettings": {"format": "csv", "findColumnsFromHeader": True}},
              "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                           {"columnName": "n", "expression": "n"}]}
        r = b.req("POST", "/v2/jobs", bj)
        c.eq(r.status, 201, "batch job created on nb")
        bid = r.json["id"] if r.status == 201 else ""

        def bstatus():
            return (a.req("GET", f"/v2/jobs/{bid}").json or {}).get("executionStatus")

        c.ok(wait_for(lambda: bstatus() in ("succeeded", "failed", "canceled"), timeout=30),
             "the batch job ends", str(bstatus()))
        c.eq(bstatus(), "succeeded", "the batch job succeeded")
        c.eq(psql("SELECT COALESCE(sum(rows), 0) FROM segment WHERE table_name = 'bt'"), "3000",
             "its 3000 rows are committed once, not once per node")
        c.eq(psql(f"SELECT count(*) FROM lease WHERE stream = 'job:{bid}' AND node_id <> ''"), "0",
             "its run lease is released")
        ran = [s for s in (a, b, cc) if f"job {bid}" in s.log_text()]
        c.ok(len(ran) >= 1, "a node ran it", str(len(ran)))

        # ---- kill -9 of a node mid-ingest; more events while it is down
        def more(first, n):
            for k in range(0, n, 2000):
                produce(broker.bootstrap, first + k, 2000)
                time.sleep(0.2)

        th = threading.Thread(target=more, args=(total, 10000))
        th.start()
        time.sleep(0.5)
        cc.kill9()
        th.join()
        total += 10000
        t_kill = time.time()
        c.ok(wait_for(lambda: exact(total), timeout=45), "after kill -9: committed rows and "
             f"offsets equal the {total} produced", f"rows {committed_rows()}, offsets "
             f"{committed_offsets()}")
        c.ok(wait_for(lambda: split(["na", "nb"]), timeout=10),
             "the survivors hold every partition", json.dumps(holders()))
        c.ok(wait_for(lambda: metrics_exact([a, b], total), timeout=15),
             f"after the kill the survivors report the job's {total} rows processed, the dead "
             "node's committed share included, nothing counted twice",
             str([processed(s) for s in (a, b)]))
        print(f"# failover to exact totals: {time.time() - t_kill:.1f} s")

        # ---- fencing: a node paused past its lease cannot commit over its successor
        b.proc.send_signal(signal.SIGSTOP)
        c.ok(produce(broker.bootstrap, total, 4000), "produce while nb is stopped")
        total += 4000
        c.ok(wait_for(lambda: sorted(holders()) == ["na"], timeout=30),
             "na takes nb's partitions after its lease expires", json.dumps(holders()))
        c.ok(wait_for(lambda: exact(total), timeout=30), "na commits them: exact totals",
             f"rows {committed_rows()}, offsets {committed_offsets()}")
        b.proc.send_signal(signal.SIGCONT)
        c.ok(wait_for(lambda: "commit refused" in b.log_text() or "lost its lease" in b.log_text(),
                      timeout=20), "nb, woken, finds its leases gone and commits nothing")
        c.ok(produce(broker.bootstrap, total, 2000), "produce after nb woke")
        total += 2000
        c.ok(wait_for(lambda: exact(total), timeout=30), "totals still exact after nb woke",
             f"rows {committed_rows()}, offsets {committed_offsets()}")
        c.ok(wait_for(lambda: split(["na", "nb"]), timeout=20), "nb takes its share back",
             json.dumps(holders()))
        c.ok(produce(broker.bootstrap, total, 2000), "produce after the hand-back")
        total += 2000
        c.ok(wait_for(lambda: exact(total), timeout=30), "and the totals stay exact",
             f"rows {committed_rows()}, offsets {committed_offsets()}")

        # ---- a reset on latest: the partitions' ends become the checkpoint before the 200,
        # so the events produced right after it are read, once, by whichever node leases them
        c.eq(b.req("POST", f"/v2/jobs/{job_id}/reset").status, 200, "reset on nb")
        c.ok(produce(broker.bootstrap, total, 3000), "produce 3000 right after the reset's 200")
        total += 3000
        c.ok(wait_for(lambda: exact(total), timeout=30),
             "reset on latest: the 3000 are committed once, the earlier rows kept",
             f"rows {committed_rows()}, offsets {committed_offsets()}")
        for s in nodes:
            s.stop()
finally:
    for s in nodes:
        s.stop()
        if not os.environ.get("LODESTAR_KEEP"):
            shutil.rmtree(s.data_dir, ignore_errors=True)
    broker.stop()
print(f"# wall time {time.time() - t0:.1f} s")
c.done()
