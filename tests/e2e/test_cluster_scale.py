#!/usr/bin/env python3
"""
test_cluster_scale.py — a cluster at the scale of the benchmark (issue 16), and the segment
store lost under it. Three `lodestar serve` nodes (na, nb, nc) share a PostgreSQL catalog
(pg.py) and an s3rver bucket (harness.S3rver) for their segments; one streaming job reads a
`lodestar dev-kafka` topic of 24 partitions, spread over the nodes by leases. The job keeps
the default readFromPoint ("latest"), and the events are produced right after its 201: the
job's start (the end of every partition) is in the catalog's checkpoint from its creation on,
so whichever node leases a partition, and whenever, "latest" skips nothing.

  1. Steady ingestion: 1,000,000 events (a function of their number, so every total is
     computed), each partition's share in one kcat run (bench/cluster/driver.py's way: large
     batches). Every node answers exactly COUNT(*), SUM(v) and SUM(n) of what was produced,
     and the catalog's committed rows (sum of segment rows) reach exactly the total, as does
     sys.segments' sum of published num_rows on every node.
  2. The S3 store unreachable during ingestion: events keep coming (rounds of 24 kcat runs)
     while s3rver is stopped; each node persists every second (LODESTAR_PERSIST_MAX_AGE_MS), and
     a persist fails once the S3 client's own retries (~6 s) are spent. The store stays down
     until every node has said "persisting failed (will retry)" (and at least OUTAGE_MIN_S),
     the job's health meanwhile saying so, then comes back on the same port and directory.
     Afterwards every node answers the exact totals, the catalog commits exactly every row
     and offset (nothing acknowledged lost, nothing counted twice), every node says persisting
     works again, the job's health is ok again, and every committed segment is an object in
     the bucket. Queries asked all through phase 2 (a poller, each node with a 2 s
     context.timeout) may fail during the outage (a later change makes them a quick 503): their
     statuses are printed, not required, but no 200 answer may count more than was produced.
About 16 s on 2 cores (1 M events are produced in ~2 s and counted ~0.5 s later).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

from harness import S3_ENV, Checks, DevKafka, S3rver, cluster_node, iso, rendezvous, wait_for
from pg import Catalog, Postgres

c = Checks()
T0 = time.time()
TOPIC, PARTS, TABLE = "scale", 24, "scale"
N = 1_000_000          # phase 1
ROUND = PARTS * 500    # phase 2: events a round (500 a partition)
MAX_ROUNDS = 40        # the dev broker keeps ~5 MiB a partition: phase 1 takes ~2.1 MB, these
                       # at most ~1 MB more (an event is ~52 bytes)
OUTAGE_MIN_S, OUTAGE_MAX_S = 5, 25
BUCKET, PREFIX = "lake", "scale/segs"
SECRET = "scale-cluster-secret"
# A persist every second on each node (phase 2 needs persists during the outage); no
# compaction during the test.
ENV = {**S3_ENV, "LODESTAR_PERSIST_MAX_AGE_MS": "1000", "LODESTAR_COMPACT_MS": "3600000",
       "LODESTAR_CLUSTER_SECRET": SECRET}
SHORT = {"timeout": 2000}

# ---- the events: a function of their number alone
BASE_S = int(time.time()) // 60 * 60 - 45 * 60  # 45 minutes ago, on a minute
TS = [iso((BASE_S + k) * 1000) for k in range(2400)]  # 40 minutes of seconds


def v_of(i):
    return (i * 7919) % 1000


def line(i):
    return '{"ts":"%s","n":%d,"v":%d}\n' % (TS[(i * 6151) % 2400], i, v_of(i))


def totals(n):
    """[COUNT(*), SUM(v), SUM(n)] of events 0..n-1."""
    return [n, sum(v_of(i) for i in range(n)), n * (n - 1) // 2]


JOB = {"type": "streaming", "target": {"type": "table", "tableName": TABLE},
       "createTableIfNotExists": True,
       "source": {"type": "connection", "connectionName": "k",
                  "inputSchema": [{"name": "ts", "dataType": "string"},
                                  {"name": "n", "dataType": "long"},
                                  {"name": "v", "dataType": "long"}],
                  "formatSettings": {"format": "nd-json"}},
       "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                    {"columnName": "n", "expression": "n"},
                    {"columnName": "v", "expression": "v"}]}


class Ledger:
    """Events surely produced (lo: their kcat runs returned) and perhaps produced (hi: started),
    and every COUNT/SUM answer of phase 2 by status; a 200 above hi is a duplicate."""

    def __init__(self):
        self.mu = threading.Lock()
        self.lo = self.hi = 0
        self.statuses = {}
        self.samples = {}  # status -> the first answer of it (not 200)
        self.slowest = 0.0  # seconds, the slowest answer
        self.over = []

    def record(self, name, status, got, secs, raw):
        with self.mu:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.slowest = max(self.slowest, secs)
            if status != 200 and status not in self.samples:
                self.samples[status] = f"{name}: {raw[:200]}"
            if got is not None and (got[0] > self.hi or got[2] > self.hi * (self.hi - 1) // 2):
                self.over.append(f"{name}: {got}, produced at most {self.hi}")


ledger = Ledger()


def produce(first, n):
    """Events first..first+n-1, event i on partition i % PARTS, each partition's in one kcat
    run (24 at once); whether every run succeeded."""
    with ledger.mu:
        ledger.hi = max(ledger.hi, first + n)
    d = tempfile.mkdtemp(prefix="lodestar-scale-ev-")
    try:
        files = [open(os.path.join(d, f"{p}.json"), "w") for p in range(PARTS)]
        for i in range(first, first + n):
            files[i % PARTS].write(line(i))
        for f in files:
            f.close()
        procs = [subprocess.Popen(["kcat", "-P", "-b", broker.bootstrap, "-t", TOPIC,
                                   "-p", str(p), "-l", os.path.join(d, f"{p}.json"),
                                   "-X", "linger.ms=50", "-X", "batch.num.messages=10000"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for p in range(PARTS)]
        ok = True
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                ok = False
                print(f"# kcat failed: {err.decode(errors='replace')[-300:]}", flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if ok:
        with ledger.mu:
            ledger.lo = max(ledger.lo, first + n)
    return ok


def count_sum(s, context=None, timeout=30, raw=None):
    """(status, [COUNT(*), SUM(v), SUM(n)] or None) from one node; raw (a list) gets the body."""
    body = {"query": f"SELECT COUNT(*), SUM(v), SUM(n) FROM {TABLE}", "resultFormat": "array"}
    if context:
        body["context"] = context
    try:
        r = s.req("POST", "/v1/query/sql", body, timeout=timeout)
    except OSError as e:  # no answer in time, or refused
        if raw is not None:
            raw.append(repr(e))
        return 0, None
    if raw is not None:
        raw.append(r.raw)
    if r.status == 200 and isinstance(r.json, list) and r.json:
        return 200, [x or 0 for x in r.json[0]]
    return r.status, None


def segment_rows(s):
    """The sum of the table's published num_rows in sys.segments, as node s answers it."""
    r = s.req("POST", "/v1/query/sql", {
        "query": "SELECT COALESCE(SUM(num_rows), 0) FROM sys.segments "
                 f"WHERE datasource = '{TABLE}' AND is_published = 1", "resultFormat": "array"})
    return r.json[0][0] if r.status == 200 and isinstance(r.json, list) and r.json else None


def reach(want, what, timeout):
    """Waits until every node answers want; one check."""
    last = {}

    def exact():
        for s in nodes:
            last[s.name] = count_sum(s)[1]
        return all(v == want for v in last.values())

    res = wait_for(exact, timeout=timeout, step=0.3)
    c.ok(res, f"{what}: every node answers COUNT(*), SUM(v), SUM(n) = {want}", json.dumps(last))
    return res


class Poller:
    """Asks each node COUNT/SUM with a short timeout, over and over (a thread a node, so that
    one slow answer holds up no other node's), until stopped."""

    def __init__(self):
        self.stop_ev = threading.Event()
        self.ths = [threading.Thread(target=self.run, args=(s,), daemon=True) for s in nodes]
        for th in self.ths:
            th.start()

    def run(self, s):
        while not self.stop_ev.is_set():
            t, raw = time.time(), []
            st, got = count_sum(s, SHORT, timeout=15, raw=raw)
            ledger.record(s.name, st, got, time.time() - t, raw[0])
            self.stop_ev.wait(0.2)

    def stop(self):
        self.stop_ev.set()
        for th in self.ths:
            th.join(timeout=30)


broker = DevKafka(topics=[f"{TOPIC}:{PARTS}"]).start()
store = S3rver(BUCKET)
nodes, pollers = [], []
pg = Postgres()
try:
    store.start()
    pg.start()
    uri = pg.createdb("lodestar")
    cat = Catalog(pg, "lodestar")

    def node(name, first=None):
        s = cluster_node(name, uri, ENV, first, f"{BUCKET}/{PREFIX}", f"http://127.0.0.1:{store.port}")
        nodes.append(s)
        return s.start()

    def checkpoint_parts():
        text = cat.sql(f"SELECT offsets FROM checkpoint WHERE table_name = '{TABLE}'")
        return len(json.loads(text).get(TOPIC, {})) if text else 0

    def split():
        h = cat.lease_holders(TABLE)
        return sorted(h) == ["na", "nb", "nc"] and sum(len(v) for v in h.values()) == PARTS

    # ---- setup: three nodes, then the job (readFromPoint omitted: latest)
    na = node("na")
    nb = node("nb", na)
    nc = node("nc", na)
    r = na.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                           "bootstrapServers": broker.bootstrap,
                                           "topicName": TOPIC})
    c.eq(r.status, 201, "kafka connection")
    r = na.req("POST", "/v2/jobs", JOB)
    c.ok(r.status == 201, "streaming job (default readFromPoint)", r.raw[:300])
    job_id = (r.json or {}).get("id", "")
    c.eq(checkpoint_parts(), PARTS, f"the 201 comes with the start of all {PARTS} partitions "
         "in the checkpoint")
    print(f"# setup {time.time() - T0:.1f} s", flush=True)

    # ---- 1. steady ingestion of 1,000,000 events, from right after the 201
    t = time.time()
    c.ok(produce(0, N), f"kcat produced {N} events on {PARTS} partitions")
    print(f"# produced {N} events in {time.time() - t:.1f} s", flush=True)
    c.ok(wait_for(split, timeout=30, step=0.2),
         f"the {PARTS} partitions are leased, split between the three nodes",
         json.dumps(cat.lease_holders(TABLE)))
    want = totals(N)
    if reach(want, f"{N} events", timeout=60):
        print(f"# every node exact {time.time() - t:.1f} s after production began", flush=True)
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == N, timeout=30, step=0.3),
         f"the catalog's committed rows reach exactly {N}", str(cat.committed_rows(TABLE)))
    c.eq(cat.committed_offsets(TABLE, TOPIC), N, "the checkpoint's offsets add up to the events")
    print(f"# {N} committed {time.time() - t:.1f} s after production began", flush=True)
    c.eq({s.name: segment_rows(s) for s in nodes}, {s.name: N for s in nodes},
         "sys.segments' published num_rows add up to the total on every node")
    writers = cat.sql(f"SELECT string_agg(DISTINCT writer, ',' ORDER BY writer) FROM segment "
                      f"WHERE table_name = '{TABLE}'")
    c.eq(writers, "na,nb,nc", "every node committed segments of its share")

    # ---- 2. the S3 store unreachable while events keep coming
    marks = {s.name: len(s.log_text()) for s in nodes}
    done = threading.Event()
    rounds = []

    def producer():
        first = N
        while not done.is_set() and len(rounds) < MAX_ROUNDS:
            c.ok(produce(first, ROUND), f"kcat produced events {first}..{first + ROUND - 1}")
            first += ROUND
            rounds.append(time.time())
            done.wait(0.2)

    pollers.append(Poller())
    th = threading.Thread(target=producer)
    th.start()
    wait_for(lambda: len(rounds) >= 2, timeout=20)

    def persist_failed():
        return [s.name for s in nodes
                if "persisting failed (will retry)" in s.log_text()[marks[s.name]:]]

    store.stop()
    t_down = time.time()
    down_at = ledger.lo
    failed = wait_for(lambda: time.time() - t_down >= OUTAGE_MIN_S and
                      len(persist_failed()) == len(nodes), timeout=OUTAGE_MAX_S, step=0.2)
    c.ok(failed, "with the store down, every node's persist failed after the S3 client's "
         "retries (and said so)", f"only {persist_failed()} in {OUTAGE_MAX_S} s")
    def health():
        return (nb.req("GET", f"/v2/jobs/{job_id}").json or {}).get("health") or {}

    def failing(h):
        m = h.get("message", "")
        return (h.get("status") == "warn" and "persisting failed" in m and "s3" in m
                and "node 'n" in m)

    # each node publishes its runners' health with its heartbeat (every few seconds)
    wait_for(lambda: failing(health()), timeout=8, step=0.3)
    h = health()
    c.ok(failing(h),
         "meanwhile the job's health says its persists to the store fail, naming a node (the "
         "worst health any node running the job has)", json.dumps(h))
    with ledger.mu:
        status_down, slowest_down = dict(ledger.statuses), ledger.slowest
    store.start()
    outage = time.time() - t_down
    up_at = ledger.lo
    print(f"# store down {outage:.1f} s; {up_at - down_at} events produced meanwhile; queries "
          f"meanwhile by status {status_down}, slowest {slowest_down:.1f} s", flush=True)
    c.ok(up_at > down_at, "events were produced while the store was down",
         f"{down_at} before, {up_at} after")
    time.sleep(1)
    done.set()
    th.join()
    total = ledger.lo
    c.eq(ledger.hi, total, "every round of kcat succeeded")
    want = totals(total)
    if reach(want, f"{total} events after the outage", timeout=60):
        print(f"# every node exact {time.time() - t_down:.1f} s after the store went down",
              flush=True)
    pollers[-1].stop()
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == total, timeout=30, step=0.3),
         f"after the outage the catalog's committed rows reach exactly {total}",
         str(cat.committed_rows(TABLE)))
    c.eq(cat.committed_offsets(TABLE, TOPIC), total, "and the checkpoint's offsets")
    c.eq({s.name: segment_rows(s) for s in nodes}, {s.name: total for s in nodes},
         "sys.segments' published num_rows add up to the total on every node")
    recovered = [s.name for s in nodes
                 if "persisting works again" in s.log_text()[marks[s.name]:]]
    c.eq(recovered, [s.name for s in nodes], "every node said persisting works again")
    c.ok(wait_for(lambda: health().get("status") == "ok", timeout=15),
         "and the job's health is ok again", json.dumps(health()))
    files = cat.segment_files(TABLE)
    objs = {os.path.basename(o) for o in store.objects(PREFIX)}
    c.ok(files and files <= objs, f"every committed segment ({len(files)}) is an object in the "
         "bucket", f"{sorted(files - objs)[:5]} missing")
    print(f"# queries during phase 2 by status: {ledger.statuses}, slowest {ledger.slowest:.1f} s; "
          f"the first of each other status: {ledger.samples}", flush=True)
    c.ok(not ledger.over, "no 200 answer during phase 2 counted more than was produced",
         "; ".join(ledger.over[:5]))
    # ---- 3. the store down again, for a query that needs a segment no node holds yet: each
    # segment is served to queries by one live node (rendezvous hashing, as api/cluster.c
    # computes it), which downloads it unless it wrote it. With the store down, such a query
    # answers 503 naming the store within its timeout: never a partial count, never a 500.
    def serves(seg):
        live = [s.name for s in nodes]
        return max(live, key=lambda n: rendezvous(n, seg))

    def foreign():
        rows = cat.sql(f"SELECT path, writer FROM segment WHERE table_name = '{TABLE}'")
        out = []
        for r in rows.splitlines():
            path, _, writer = r.partition("|")
            seg = os.path.basename(path)
            if writer and serves(seg) != writer:
                out.append((seg, writer, serves(seg)))
        return out

    before = {x[0] for x in foreign()}
    first = total
    for _ in range(6):  # a few rounds until some segment is served by a node that did not write it
        c.ok(produce(first, ROUND), f"kcat produced events {first}..{first + ROUND - 1}")
        first += ROUND
        wait_for(lambda: cat.committed_rows(TABLE) == first, timeout=30, step=0.2)
        fresh = [x for x in foreign() if x[0] not in before]
        if fresh:
            break
    c.ok(fresh, "a new segment is served to queries by a node that did not write it",
         f"{len(before)} such segments before")
    store.stop()
    t0 = time.time()
    raw = []
    status, _ = count_sum(na, {"timeout": 3000}, timeout=20, raw=raw)
    took = time.time() - t0
    msg = raw[-1] if raw else ""
    # the segment it names (this one, or another committed since the last query) is one its
    # node serves and did not write: what the store had to give
    named = re.search(r"segment (\S+\.lseg) of table '[^']+' cannot be read on node '(\w+)'", msg)
    writer = dict((os.path.basename(p), w) for p, _, w in (
        r.partition("|") for r in cat.sql(
            f"SELECT path, writer FROM segment WHERE table_name = '{TABLE}'").splitlines()))
    c.ok(status == 503 and "segment store" in msg and named and took < 4.0
         and serves(named.group(1)) == named.group(2) != writer.get(named.group(1)),
         "with the store down, a query needing a segment no node has yet answers 503 naming the "
         "store, the segment and the node serving it, within its 3 s timeout",
         f"{status} after {took:.1f} s: {msg[:400]}")
    store.start()
    c.ok(wait_for(lambda: count_sum(na)[1] == totals(first), timeout=30),
         "with the store back, the same query answers the exact total", str(count_sum(na)[1]))
    for s in nodes:
        s.stop()
finally:
    for p in pollers:
        p.stop()
    for s in nodes:
        s.__exit__(None, None, None)   # stops it, removes its directory
    broker.stop()
    store.remove()
    pg.stop()
print(f"# wall time {time.time() - T0:.1f} s")
c.done()
