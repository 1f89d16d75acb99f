#!/usr/bin/env python3
"""
test_cluster_kinesis.py — a Kinesis stream read by a cluster (issue 16). A Kinesis stream is
not divided over the nodes by partition leases: one node reads it whole, the one that holds
the job's run lease (stream "job:<id>", part "stream") in the PostgreSQL catalog, and every
commit it makes is fenced by that lease. Three `lodestar serve` nodes share the catalog
(pg.py) and an s3rver bucket for their segments; kinesalite (kin.py) is the stream, of 2
shards, fed by AWS's own client.

  1. The job keeps the default readFromPoint (latest) and 2000 records are put right after its
     201: exactly one node holds the run lease, and every node answers the exact COUNT(*) and
     SUM(n) (its realtime rows reach the others' queries); the catalog commits exactly 2000.
  2. kill -9 of the holder while records are put: a query on a survivor answers 503 naming the
     stream and the node that does not answer (never a partial count); after the lease
     expires a survivor takes the stream over from the last commit, and every survivor
     answers the exact totals; the catalog commits every record once. A poller asks every
     node all through: no 200 answer counts fewer rows than one that ended before it began
     (the new holder's answers wait until it has read the stream to its end again), nor more
     than were put.
  3. SIGSTOP of the new holder past its lease: the third node takes the stream over and reads
     what is put meanwhile; SIGCONT: the woken node finds its lease gone (a commit of it
     would be refused: fenced) and stops reading, saying so; the totals stay exact,
     committed once.
  4. The killed node comes back: it does not take the stream (its lease is held), and it
     answers the exact totals too.
About 50 s.
"""
import re
import signal
import threading
import time

from harness import S3_ENV, Checks, S3rver, cluster_node, wait_for
from kin import Kinesalite, kin
from pg import Catalog, Postgres

c = Checks()
T0 = time.time()
TABLE, STREAM, BUCKET = "kt", "ev", "lake"
SECRET = "kinesis-cluster-secret"
ENV = {**S3_ENV, "LODESTAR_PERSIST_MAX_AGE_MS": "1000", "LODESTAR_COMPACT_MS": "3600000",
       "LODESTAR_CLUSTER_SECRET": SECRET}
JOB = {"type": "streaming", "target": {"type": "table", "tableName": TABLE},
       "createTableIfNotExists": True,
       "source": {"type": "connection", "connectionName": "kin",
                  "inputSchema": [{"name": "ts", "dataType": "string"},
                                  {"name": "page", "dataType": "string"},
                                  {"name": "n", "dataType": "long"}],
                  "formatSettings": {"format": "nd-json"}},
       "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                    {"columnName": "n", "expression": "n"}]}   # readFromPoint: latest


def totals(n):
    """COUNT(*) and SUM(n) of records 0..n-1 (kin.mjs put numbers them)."""
    return [n, n * (n - 1) // 2]


class Poller:
    """Asks every given node COUNT(*) and SUM(n) every 0.2 s: (start, end, node, status, count)
    of each answer, to check that no 200 answer counts fewer rows than one that came before
    it (rows a dead holder had shown from its memory are waited for, not left out) nor more
    than were put."""

    def __init__(self, ss):
        self.rows, self.stop_ev = [], threading.Event()
        self.ths = [threading.Thread(target=self.run, args=(x,), daemon=True) for x in ss]
        for th in self.ths:
            th.start()

    def run(self, x):
        while not self.stop_ev.is_set():
            t = time.time()
            try:
                st, got = count_sum(x)
            except OSError:   # the killed node
                st, got = 0, None
            self.rows.append((t, time.time(), x.name, st, got[0] if st == 200 else None))
            self.stop_ev.wait(0.2)

    def stop(self):
        self.stop_ev.set()
        for th in self.ths:
            th.join(timeout=30)

    def backwards(self):
        """200 answers below an answer that ended before they began."""
        ok = sorted((r for r in self.rows if r[3] == 200), key=lambda r: r[0])
        bad = []
        for r in ok:
            before = [o[4] for o in ok if o[1] < r[0]]
            if before and r[4] < max(before):
                bad.append((r[2], r[4], max(before)))
        return bad


def count_sum(s, timeout=10):
    r = s.req("POST", "/v1/query/sql", {"query": f"SELECT COUNT(*), SUM(n) FROM {TABLE}",
                                        "resultFormat": "array",
                                        "context": {"timeout": 3000}}, timeout=timeout)
    if r.status != 200 or not isinstance(r.json, list) or not r.json:
        return r.status, r.raw
    return 200, [r.json[0][0], r.json[0][1] or 0]


kinesis = Kinesalite()
store = S3rver(BUCKET)
nodes = []
pg = Postgres()
try:
    kinesis.start()
    store.start()
    pg.start()
    uri = pg.createdb("lodestar")
    cat = Catalog(pg, "lodestar")
    E = kinesis.url
    ok, _ = kin(E, "create", STREAM, 2)
    c.ok(ok, "stream created with 2 shards")

    def node(name, first=None):
        s = cluster_node(name, uri, ENV, first, f"{BUCKET}/kin/segs", f"http://127.0.0.1:{store.port}")
        nodes.append(s)
        return s.start()

    def holder():
        """The live holder of the job's stream lease and its epoch, or (None, 0)."""
        now = time.time_ns()
        for line in cat.sql("SELECT node_id, epoch, expires_ns FROM lease WHERE "
                            f"table_name = '{TABLE}' AND part = 'stream'").splitlines():
            n, epoch, exp = line.split("|")
            if n and int(exp) > now:
                return n, int(epoch)
        return None, 0

    def by_name(name):
        return next(s for s in nodes if s.name == name)

    def exact_on(ss, n):
        return all(count_sum(s) == (200, totals(n)) for s in ss)

    na = node("na")
    nb = node("nb", na)
    nc = node("nc", na)
    r = na.req("POST", "/v2/connections", {"type": "kinesis", "name": "kin", "stream": STREAM,
                                           "endpoint": E, "region": "us-east-1",
                                           "secrets": {"type": "aws_access_key",
                                                       "accessKeyId": "test",
                                                       "secretAccessKey": "test"}})
    c.eq(r.status, 201, "kinesis connection")

    # ---- 1. latest, records put right after the 201; one node reads the stream
    r = na.req("POST", "/v2/jobs", JOB)
    c.ok(r.status == 201, "streaming job on the default readFromPoint", r.raw[:300])
    job_id = (r.json or {}).get("id", "")
    c.ok(kin(E, "put", STREAM, 0, 2000)[0], "2000 records put right after the 201")
    total = 2000
    c.ok(wait_for(lambda: holder()[0], timeout=20), "a node takes the job's run lease")
    first, epoch1 = holder()
    c.ok(wait_for(lambda: exact_on(nodes, total), timeout=30),
         f"every node answers exactly COUNT {total} and SUM (the holder's realtime rows reach "
         "every query)", str([count_sum(s) for s in nodes]))
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == total, timeout=20),
         "the catalog commits exactly the 2000", str(cat.committed_rows(TABLE)))
    c.eq(cat.committed_offsets(TABLE, STREAM), total, "the checkpoint's offsets add up")
    readers = [s.name for s in nodes if "reads its stream whole" in s.log_text()]
    c.eq(readers, [first], "only the holder reads the stream")
    c.eq(cat.sql(f"SELECT string_agg(DISTINCT writer, ',') FROM segment "
                 f"WHERE table_name = '{TABLE}'"), first, "only the holder commits segments")

    # ---- 2. kill -9 of the holder while records are put
    dead = by_name(first)
    live = [s for s in nodes if s is not dead]
    put_ok = {}
    th = threading.Thread(target=lambda: put_ok.setdefault("ok", kin(E, "put", STREAM, total,
                                                                       3000)[0]))
    th.start()
    poll = Poller(nodes)
    time.sleep(0.8)
    dead.kill9()
    t_kill = time.time()
    st, got = count_sum(live[0])
    c.ok(st == 503 and "the stream (read whole by one node)" in str(got) and first in str(got)
         and "does not answer" in str(got),
         "right after the kill a query answers 503 naming the stream and its silent node",
         f"{st}: {str(got)[:400]}")
    th.join()
    c.ok(put_ok.get("ok"), "3000 more records put")
    total += 3000
    c.ok(wait_for(lambda: holder()[0] in [s.name for s in live], timeout=30),
         "a survivor takes the stream over", str(holder()))
    second, epoch2 = holder()
    c.ok(epoch2 > epoch1, "with a new epoch", f"{epoch1} -> {epoch2}")
    c.ok(wait_for(lambda: "the stream, taken over, is read again up to its end" in
                  by_name(second).log_text(), timeout=30),
         "the new holder says when it has read the stream to its end again (its answers wait "
         "until then)")
    c.ok(wait_for(lambda: exact_on(live, total), timeout=40),
         f"every survivor answers exactly COUNT {total} and SUM",
         str([count_sum(s) for s in live]))
    print(f"# kill -9 to exact answers: {time.time() - t_kill:.1f} s", flush=True)
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == total, timeout=20),
         f"the catalog commits each of the {total} records once", str(cat.committed_rows(TABLE)))
    c.eq(cat.committed_offsets(TABLE, STREAM), total, "and the checkpoint's offsets add up")
    poll.stop()
    seen = {}
    for r in poll.rows:
        seen[r[3]] = seen.get(r[3], 0) + 1
    print(f"# queries through the takeover by status: {seen}", flush=True)
    c.eq(poll.backwards(), [], "through the takeover no answer counts fewer rows than one "
         "before it (the rows the dead holder had shown are waited for)")
    c.ok(all(r[4] <= total for r in poll.rows if r[3] == 200), "nor more than were put")

    # ---- 3. the new holder stopped past its lease, then woken: fenced
    paused = by_name(second)
    third = next(s for s in live if s is not paused)
    paused.proc.send_signal(signal.SIGSTOP)
    t_stop = time.time()
    c.ok(wait_for(lambda: holder()[0] == third.name, timeout=30),
         "the third node takes the stream over from the stopped one", str(holder()))
    c.ok(kin(E, "put", STREAM, total, 1000)[0], "1000 records put meanwhile")
    total += 1000
    c.ok(wait_for(lambda: count_sum(third) == (200, totals(total)), timeout=30),
         f"the third node answers exactly COUNT {total}", str(count_sum(third)))
    mark = len(paused.log_text())
    paused.proc.send_signal(signal.SIGCONT)
    print(f"# stopped {time.time() - t_stop:.1f} s", flush=True)
    c.ok(wait_for(lambda: re.search(r"lost the job's run lease|no longer holds the job's run "
                                    r"lease", paused.log_text()[mark:]), timeout=20),
         "the woken node finds its lease gone and stops reading", paused.log_text()[mark:][-600:])
    time.sleep(1.5)   # a persist of the woken node, had it not been fenced
    c.eq(holder()[0], third.name, "the stream stays with the third node")
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == total, timeout=20),
         f"the catalog still commits each of the {total} records once",
         str(cat.committed_rows(TABLE)))
    c.ok(wait_for(lambda: exact_on(live, total), timeout=30),
         "both live nodes answer the exact totals", str([count_sum(s) for s in live]))

    # ---- 4. the killed node comes back: the stream stays where it is
    dead.start()
    c.ok(kin(E, "put", STREAM, total, 500)[0], "500 more records put")
    total += 500
    c.ok(wait_for(lambda: exact_on(nodes, total), timeout=30),
         f"every node, the restarted one too, answers exactly COUNT {total}",
         str([count_sum(s) for s in nodes]))
    c.eq(holder()[0], third.name, "the restarted node did not take the stream")
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == total, timeout=20),
         f"committed once: {total}", str(cat.committed_rows(TABLE)))
    h = (na.req("GET", f"/v2/jobs/{job_id}").json or {})
    c.eq(h.get("executionStatus"), "running", "the job is running")
    for s in nodes:
        s.stop()
finally:
    for s in nodes:
        if s.proc:
            try:
                s.proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
        s.__exit__(None, None, None)   # stops it, removes its directory
    kinesis.stop()
    store.remove()
    pg.stop()
print(f"# wall time {time.time() - T0:.1f} s")
c.done()
