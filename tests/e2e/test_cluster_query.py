#!/usr/bin/env python3
"""
test_cluster_query.py — queries on any node of a cluster. Three `lodestar serve` nodes (na, nb,
nc: --node-id, --advertise, one LODESTAR_CLUSTER_SECRET) share a PostgreSQL catalog (pg.py) and
an S3 bucket (s3rver behind tests/e2e/s3/sigv4_proxy.py, which checks every request's
signature: harness.S3rver, harness.SigV4Proxy); one streaming job reads a `lodestar dev-kafka`
topic of 8 partitions, spread over the nodes by leases (ingest/lease.c), so each node holds
only its partitions' realtime rows and persists them to the bucket. A SQL query on ANY node
answers over the whole table: the committed segments from the store plus every node's realtime
rows, fetched from each node over the internal API (authenticated with the cluster secret).

  1. After N events, COUNT(*) and SUM(v) on every node reach exactly N and the sum while some
     rows are still only in realtime buffers (fewer than N committed in the catalog), and again
     once everything is persisted (N committed, every segment an object in the bucket).
  2. ~15 varied queries (GROUP BY with ORDER BY and LIMIT, TIME_FLOOR buckets, string and
     number filters, COUNT(DISTINCT), APPROX_COUNT_DISTINCT, MIN/MAX/AVG, subqueries, a join of
     the table with itself) answer the same rows on the three nodes as on a fourth server, a
     plain single `lodestar serve` (SQLite, its own data directory, no cluster flags) running
     the same job on the same topic: in realtime, once persisted, and after the failovers.
  3. kill -9 of nc while it holds unpersisted rows: a query on nb with the default timeout
     waits for the failover (nc's leases expire within ~10 s and na, nb take its partitions)
     and answers exactly; one on na with "context": {"timeout": 2000} answers 503 naming nc
     and "unavailable". After the failover both survivors answer exactly, also after M more.
  4. SIGSTOP of nb (then SIGCONT): while it is stopped, na's short-timeout queries answer 503
     naming nb until its leases have expired and na has taken them over, then exact counts;
     after SIGCONT (nb finds its leases gone and drops its uncommitted rows) both are exact.
Never a wrong number: every COUNT/SUM answer of the test goes through one ledger (Ledger), and
a poller asks the live nodes with the short timeout all through 3 and 4: no 200 answer may
count more rows than were produced (a duplicate), and once production has stopped and every
node has answered the exact total, every 200 answer must be exact (no rows missing); while a
node is down the only answers are 200 and 503. About 45 s on 2 cores.
"""
import functools
import hashlib
import hmac
import json
import os
import shutil
import signal
import threading
import time

from harness import (S3_ENV, Checks, DevKafka, S3rver, Server, SigV4Proxy, cluster_node, iso,
                     kcat_produce, rendezvous, wait_for)
from pg import Catalog, Postgres

c = Checks()
T0 = time.time()
TOPIC, PARTS, TABLE = "cq", 8, "cq"
N, M_KILL, M_AFTER, M_STOP, M_PG = 20000, 4000, 3000, 3000, 3000
BUCKET, PREFIX = "lake", "cluster/segs"
SECRET = "cq-cluster-secret"
SHORT = {"timeout": 2000}  # a query's context with a short timeout (ms, as Druid)
# Persists come 6 s after a buffer's first row: the counts are reached before (rows in realtime
# buffers), and a persist can be waited for. No compaction during the test.
ENV = {**S3_ENV, "LODESTAR_PERSIST_MAX_AGE_MS": "6000", "LODESTAR_COMPACT_MS": "3600000",
       "LODESTAR_CLUSTER_SECRET": SECRET}
REF_ENV = {"LODESTAR_PERSIST_MAX_AGE_MS": "6000", "LODESTAR_COMPACT_MS": "3600000"}

# ---- the events: a function of their number alone, so every total is known
CATS = ("red", "green", "blue", "amber", "violet")
BASE_MS = (int(time.time() * 1000) // 60000 - 45) * 60000  # 45 minutes ago, on a minute


def event(i):
    return {"ts": iso(BASE_MS + (i * 6151) % (40 * 60000)), "n": i,
            "k": "u%02d" % (i * 7 % 37), "cat": CATS[i % 5], "v": (i * 7919) % 1000,
            "x": (i % 8) * 0.25}


@functools.lru_cache(maxsize=None)
def total_v(n):
    return sum((i * 7919) % 1000 for i in range(n))


JOB = {"type": "streaming", "target": {"type": "table", "tableName": TABLE},
       "createTableIfNotExists": True,
       "source": {"type": "connection", "connectionName": "k",
                  "inputSchema": [{"name": "ts", "dataType": "string"},
                                  {"name": "n", "dataType": "long"},
                                  {"name": "k", "dataType": "string"},
                                  {"name": "cat", "dataType": "string"},
                                  {"name": "v", "dataType": "long"},
                                  {"name": "x", "dataType": "double"}],
                  "formatSettings": {"format": "nd-json"}},
       "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}]
       + [{"columnName": col, "expression": col} for col in ("n", "k", "cat", "v", "x")],
       "readFromPoint": "earliest"}

# The queries every node must answer as the single server does (from tests/unit/sql_queries/,
# fitted to this table), each over every node's rows (a node's own part gives other rows).
# ordered: the rows are compared in order, else as a multiset. The distinct counts (at most 150
# values) stay in the HLL sketch's exact coupon modes, so an approximate count does not depend
# on the order in which the nodes' parts are merged; x is a multiple of 0.25, so its sums are
# exact in any order.
T = TABLE
QUERIES = [
    (True, f"SELECT COUNT(*), SUM(v), SUM(n) FROM {T}"),
    (True, f"SELECT k, COUNT(*) AS c, SUM(v) AS s FROM {T} GROUP BY k ORDER BY s DESC, k LIMIT 7"),
    (True, f"SELECT TIME_FLOOR(__time, 'PT5M') AS b, COUNT(*), SUM(v), MAX(n) FROM {T} "
           "GROUP BY 1 ORDER BY 1"),
    (True, f"SELECT COUNT(*), SUM(v) FROM {T} WHERE cat = 'red' AND v >= 500"),
    (False, f"SELECT cat, MIN(v), MAX(v), AVG(v), MIN(n), MAX(n) FROM {T} GROUP BY cat"),
    (True, f"SELECT COUNT(DISTINCT n), APPROX_COUNT_DISTINCT(n), "
           f"APPROX_COUNT_DISTINCT_DS_THETA(n), COUNT(DISTINCT k) FROM {T} WHERE v >= 995"),
    (True, f"SELECT cat, COUNT(DISTINCT k), APPROX_COUNT_DISTINCT(n) FROM {T} "
           "WHERE k LIKE 'u1%' AND v < 20 GROUP BY cat ORDER BY cat"),
    (True, f"SELECT COUNT(*), SUM(x), MIN(x), MAX(x) FROM {T} WHERE k IN ('u01', 'u02') OR v < 10"),
    (True, f"SELECT COUNT(*) FROM {T} WHERE NOT (cat = 'blue' OR v BETWEEN 100 AND 899)"),
    (False, f"SELECT k, cat, COUNT(*) FROM {T} WHERE v > 990 GROUP BY k, cat"),
    (True, f"SELECT n, k, cat, v, __time FROM {T} ORDER BY v DESC, n LIMIT 5"),
    # the latest rows: each node sends its first by time (a top-N by __time pushed down)
    (True, f"SELECT __time, n, k, v FROM {T} WHERE cat = 'red' ORDER BY __time DESC, n LIMIT 7"),
    (True, f"SELECT __time, n FROM {T} ORDER BY __time, n LIMIT 3 OFFSET 2"),
    (True, f"SELECT COUNT(*), SUM(c) FROM (SELECT k, COUNT(*) AS c FROM {T} GROUP BY k) "
           "WHERE c > 540"),
    (True, f"SELECT COUNT(*), SUM(v) FROM {T} WHERE k IN "
           f"(SELECT k FROM {T} WHERE cat = 'blue' AND v > 995)"),
    (True, f"SELECT cat, COUNT(*) * 1.0 / (SELECT COUNT(*) FROM {T}) AS share FROM {T} "
           "GROUP BY cat ORDER BY cat"),
    (True, f"SELECT a.cat, a.c, b.s FROM (SELECT cat, COUNT(*) AS c FROM {T} GROUP BY cat) a "
           f"JOIN (SELECT cat, SUM(v) AS s FROM {T} WHERE v > 100 GROUP BY cat) b "
           "ON a.cat = b.cat ORDER BY a.cat"),
    (True, f"SELECT MIN(__time), MAX(__time), COUNT(*) FILTER (WHERE x > 1) FROM {T}"),
]


class Ledger:
    """Every COUNT(*)/SUM(v) answer of the test against what was produced. lo/hi: events surely
    produced (kcat returned) and perhaps produced (kcat started); settled: production has
    stopped and every live node has answered the exact total, so each 200 answer must be it."""

    def __init__(self):
        self.mu = threading.Lock()
        self.lo = self.hi = 0
        self.settled = False
        self.down = None  # the node killed or stopped, while it is
        self.ok200 = self.status = self.exact_due = 0
        self.over = []    # 200 answers with more rows than produced: duplicates
        self.short = []   # 200 answers, once settled, that were not exact: rows missing
        self.other = []   # answers neither 200 nor 503 while a node was down

    def producing(self, n):
        with self.mu:
            self.hi += n
            self.settled = False

    def produced(self, n):
        with self.mu:
            self.lo += n

    def want(self):
        return [self.lo, total_v(self.lo)]

    def settle(self):
        with self.mu:
            self.settled = self.lo == self.hi

    def record(self, name, r, got):
        with self.mu:
            self.status += 1
            if self.down and r.status not in (200, 503):
                self.other.append(f"{name} ({self.down} down): {r.status} {r.raw[:200]}")
            if got is None:
                return
            self.ok200 += 1
            if got[0] > self.hi or got[1] > total_v(self.hi):
                self.over.append(f"{name}: {got}, produced at most {self.hi}")
            if self.settled:
                self.exact_due += 1
                if got != [self.lo, total_v(self.lo)]:
                    self.short.append(f"{name}: {got}, want {self.want()}")


ledger = Ledger()


def produce(first, n):
    ledger.producing(n)
    ok = kcat_produce(broker.bootstrap, TOPIC,
                      [json.dumps(event(i)) for i in range(first, first + n)])
    if ok:
        ledger.produced(n)
    return c.ok(ok, f"kcat produced events {first}..{first + n - 1}")


def sql(s, q, context=None, timeout=30):
    body = {"query": q, "resultFormat": "array"}
    if context:
        body["context"] = context
    try:
        return s.req("POST", "/v1/query/sql", body, timeout=timeout)
    except OSError as e:  # no answer within the HTTP timeout, or the connection refused
        return type("NoAnswer", (), {"status": 0, "raw": repr(e), "json": None})()


def count_sum(s, context=None, timeout=30):
    """(response, [COUNT, SUM] or None) of one server; a node's answer goes to the ledger (the
    single server's does not: it may lag behind the nodes)."""
    r = sql(s, f"SELECT COUNT(*), SUM(v) FROM {TABLE}", context, timeout)
    got = None
    if r.status == 200 and isinstance(r.json, list) and r.json:
        got = [r.json[0][0], r.json[0][1] or 0]
    if s is not ref:
        ledger.record(s.name, r, got)
    return r, got


def counts(ss, context=None):
    return {s.name: count_sum(s, context)[1] for s in ss}


def all_exact(ss, context=None):
    """Every node of ss answers the produced COUNT and SUM (the last answers when not)."""
    want = ledger.want()
    got = counts(ss, context)
    return True if all(g == want for g in got.values()) else got


def reach(ss, what, timeout=15, context=None):
    """Waits until every node of ss answers the produced totals; one check."""
    res = wait_for(lambda: all_exact(ss, context) is True, timeout=timeout, step=0.2)
    c.ok(res, f"{what}: every node of {[s.name for s in ss]} answers COUNT and SUM "
         f"{ledger.want()}", json.dumps(all_exact(ss, context)))
    if res:
        ledger.settle()
    return res


def unavailable(r, node):
    """Whether r is the 503 of a query that a node (its id) did not answer in time."""
    msg = (r.json or {}).get("message", "") if isinstance(r.json, dict) else ""
    return r.status == 503 and node in msg and "unavailable" in msg.lower()


def rows_of(s, q):
    r = sql(s, q)
    return r.json if r.status == 200 and isinstance(r.json, list) else f"{r.status} {r.raw[:300]}"


def same_answers(ss, when):
    """Each query answers on every node of ss exactly what it answers on the single server."""
    for ordered, q in QUERIES:
        want = rows_of(ref, q)
        c.ok(isinstance(want, list) and len(want) > 0,
             f"{when}: the single server answers {q!r}", str(want))
        key = (lambda rows: rows) if ordered else (
            lambda rows: sorted(rows, key=json.dumps) if isinstance(rows, list) else rows)
        diff = {}
        for s in ss:
            got = rows_of(s, q)
            if key(got) != key(want):
                diff[s.name] = got
        c.ok(not diff, f"{when}: {q!r} answers the same on {[s.name for s in ss]} as on the "
             "single server", f"single {json.dumps(want)[:400]}; "
             + "; ".join(f"{k} {json.dumps(v)[:400]}" for k, v in diff.items()))


def all_threads_stopped(pid):
    """Whether every thread of process pid is in state T (stopped), from /proc."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
        return True
    except OSError:
        return False


def prom(s, name):
    """A counter of GET /metrics on s (0 when absent)."""
    for line in (s.req("GET", "/metrics").raw or "").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


# Requests a split query forwards to the nodes as they came: Druid's endpoint with its outer
# limit and parameters, a time zone, the object format.
DRUID_BODIES = [
    {"query": f"SELECT cat, COUNT(*) AS c, SUM(v) AS s FROM {T} GROUP BY cat ORDER BY s DESC",
     "context": {"sqlOuterLimit": 3}, "resultFormat": "array"},
    {"query": f"SELECT COUNT(*), SUM(v) FROM {T} WHERE v >= ? AND k <> ?",
     "parameters": [{"type": "BIGINT", "value": 500}, {"type": "VARCHAR", "value": "u03"}],
     "resultFormat": "array"},
    {"query": f"SELECT TIME_FLOOR(__time, 'P1D') AS d, COUNT(*) AS c FROM {T} GROUP BY 1",
     "context": {"sqlTimeZone": "America/Los_Angeles"}, "resultFormat": "object"},
]


def same_druid_answers(ss, when):
    for body in DRUID_BODIES:
        want = ref.req("POST", "/druid/v2/sql", body)
        got = {s.name: s.req("POST", "/druid/v2/sql", body) for s in ss}
        bad = {k: f"{r.status} {r.raw[:200]}" for k, r in got.items()
               if r.status != 200 or r.json != want.json}
        c.ok(want.status == 200 and not bad,
             f"{when}: /druid/v2/sql {body['query'][:60]!r} answers the same on every node as on "
             "the single server", f"single {want.status} {want.raw[:200]}; {bad}")


def split_over(ss, when):
    """Every node of ss split queries into the nodes' parts (partial plans: the aggregating
    queries of QUERIES) and ran parts for the others; a block that is not split (a subquery's,
    a scan) read the rows it needs of each node (scans pushed down), and each node sent its
    share of such scans."""
    split = {s.name: prom(s, "lodestar_query_split_total") for s in ss}
    served = {s.name: prom(s, "lodestar_query_parts_served_total") for s in ss}
    c.ok(all(v > 0 for v in split.values()) and all(v > 0 for v in served.values()),
         f"{when}: each node split queries into parts and ran parts for the others",
         f"split {split}, served {served}")
    pushed = {s.name: prom(s, "lodestar_query_scans_pushed_total") for s in ss}
    sent = {s.name: prom(s, "lodestar_query_scans_served_total") for s in ss}
    c.ok(all(v > 0 for v in pushed.values()) and all(v > 0 for v in sent.values()),
         f"{when}: each node pushed scans down to the nodes and sent its share of others'",
         f"pushed {pushed}, sent {sent}")


class Poller:
    """Asks nodes COUNT/SUM with the short timeout, over and over, until stopped; every answer
    goes to the ledger. Counts 200 and 503 answers."""

    def __init__(self, ss):
        self.ss = list(ss)
        self.stop_ev = threading.Event()
        self.seen = {"200": 0, "503": 0}
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop_ev.is_set():
            for s in self.ss:
                r, got = count_sum(s, SHORT, timeout=10)
                self.seen[str(r.status)] = self.seen.get(str(r.status), 0) + 1
            self.stop_ev.wait(0.1)

    def stop(self):
        self.stop_ev.set()
        self.th.join(timeout=15)
        return self.seen


broker = DevKafka(topics=[f"{TOPIC}:{PARTS}"]).start()
store = S3rver(BUCKET)
proxy = SigV4Proxy(store)
ref = Server(env=REF_ENV)
ref.name = "single"
nodes, pollers = [], []
pg = Postgres()
try:
    store.start()
    proxy.start()
    pg.start()
    uri = pg.createdb("lodestar")
    cat = Catalog(pg, "lodestar")
    # A node stopped inside a catalog transaction would hold the writers' advisory lock:
    # PostgreSQL ends such a session (test_cluster_ingest.py).
    cat.sql("ALTER DATABASE lodestar SET idle_in_transaction_session_timeout = '2s'")

    def node(name, first=None):
        s = cluster_node(name, uri, ENV, first, f"{BUCKET}/{PREFIX}", proxy.endpoint,
                         ["--segment-cache-size", "64M"])
        nodes.append(s)
        return s.start()

    def start_job(s):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                              "bootstrapServers": broker.bootstrap,
                                              "topicName": TOPIC})
        c.eq(r.status, 201, f"kafka connection on {s.name}")
        r = s.req("POST", "/v2/jobs", JOB)
        c.ok(r.status == 201, f"streaming job on {s.name}", r.raw[:300])

    def split(names):
        h = cat.lease_holders(TABLE)
        return sorted(h) == names and sum(len(v) for v in h.values()) == PARTS

    # ---- setup: three nodes on one catalog and one bucket; the single server beside them
    na = node("na")
    start_job(na)
    nb = node("nb", na)
    nc = node("nc", na)
    ref.start()
    start_job(ref)
    cl = na.req("GET", "/v1/cluster").json or {}
    c.eq(sorted((n["id"], n.get("advertise")) for n in cl.get("nodes", [])),
         sorted((s.name, f"http://127.0.0.1:{s.port}") for s in nodes),
         "the three nodes are listed at their --advertise addresses")
    c.ok(wait_for(lambda: split(["na", "nb", "nc"]), timeout=15),
         "the 8 partitions are leased, split between the three nodes",
         json.dumps(cat.lease_holders(TABLE)))
    print(f"# setup {time.time() - T0:.1f} s", flush=True)

    # ---- 0. the internal API between nodes takes only requests signed with the cluster secret
    def signed(node, ms, path, secret=SECRET):
        mac = hmac.new(secret.encode(), f"{node}\n{ms}\n{path}".encode(), hashlib.sha256)
        return {"X-Lodestar-Node": f"{node} {ms} {mac.hexdigest()}"}

    cut = f"/internal/v1/cut/{TABLE}"
    now_ms = int(time.time() * 1000)
    r = nb.req("GET", cut, key=None)
    c.ok(r.status == 401 and "X-Lodestar-Node" in r.raw, "internal API: no signature, 401",
         f"{r.status} {r.raw[:200]}")
    r = nb.req("GET", cut)
    c.eq(r.status, 401, "internal API: an API key is not a node's signature")
    r = nb.req("GET", cut, key=None, headers=signed("na", now_ms, cut, "another secret"))
    c.ok(r.status == 401 and "LODESTAR_CLUSTER_SECRET" in r.raw,
         "internal API: signed with another secret, 401 naming LODESTAR_CLUSTER_SECRET",
         f"{r.status} {r.raw[:200]}")
    r = nb.req("GET", cut, key=None, headers=signed("na", now_ms - 600000, cut))
    c.ok(r.status == 401 and "clock" in r.raw, "internal API: a signature 10 minutes old, 401",
         f"{r.status} {r.raw[:200]}")
    r = nb.req("GET", cut, key=None, headers=signed("na", now_ms, cut + "x"))
    c.eq(r.status, 401, "internal API: a signature of another path, 401")
    r = nb.req("GET", cut, key=None, headers={"X-Lodestar-Node": "na " + "9" * 40 + " zz"})
    c.eq(r.status, 401, "internal API: a malformed header, 401")
    r = nb.req("POST", cut, key=None, headers=signed("na", now_ms, cut), body={})
    c.eq(r.status, 405, "internal API: POST, 405")
    r = nb.req("GET", "/internal/v1/cut/", key=None, headers=signed("na", now_ms, "/internal/v1/cut/"))
    c.eq(r.status, 404, "internal API: no table, 404")
    r = nb.req("GET", cut, key=None, headers=signed("na", now_ms, cut))
    head = r.raw.split("\n", 1)[0] if r.status == 200 else ""
    c.ok(r.status == 200 and json.loads(head).get("node") == "nb",
         "internal API: a signed request gets the node's cut", f"{r.status} {r.raw[:200]}")

    # the part of a query a node runs for another (partial plans): POST, its body signed too
    part = f"/internal/v1/part/{TABLE}"

    def signed_body(node, ms, path, body, secret=SECRET):
        msg = f"{node}\n{ms}\n{path}\n".encode() + body
        mac = hmac.new(secret.encode(), msg, hashlib.sha256)
        return {"X-Lodestar-Node": f"{node} {ms} {mac.hexdigest()}",
                "Content-Type": "application/json"}

    def part_body(query, fp="0" * 16, segments=()):
        return json.dumps({"request": json.dumps({"query": query}), "druid": False,
                           "nowMs": now_ms, "fp": fp, "c0": 0,
                           "segments": list(segments)}).encode()

    good = part_body(f"SELECT COUNT(*) FROM {TABLE}")
    r = nb.req("GET", part, key=None, headers=signed("na", now_ms, part))
    c.eq(r.status, 405, "internal API: GET of a part, 405")
    r = nb.req("POST", part, key=None, raw_body=good, headers=signed("na", now_ms, part))
    c.eq(r.status, 401, "internal API: a part whose signature leaves out its body, 401")
    r = nb.req("POST", part, key=None, raw_body=good,
               headers=signed_body("na", now_ms, part, part_body("SELECT COUNT(*) FROM x")))
    c.eq(r.status, 401, "internal API: a part signed for another body, 401")
    for bad, what in ((b"{not json", "malformed JSON"),
                      (json.dumps({"request": "{}"}).encode(), "fields missing"),
                      (part_body("SELECT 1", segments=[["../../etc/passwd", 0, 0]]),
                       "a segment name with a slash"),
                      (part_body("SELECT 1", segments=[[1, 2]]), "a segment not [name, start, end]")):
        r = nb.req("POST", part, key=None, raw_body=bad, headers=signed_body("na", now_ms, part, bad))
        c.ok(r.status == 400 and ("segments" in r.raw or "request" in r.raw),
             f"internal API: a part request with {what}, 400 saying what a part request is",
             f"{r.status} {r.raw[:200]}")
    r = nb.req("POST", part, key=None, raw_body=good, headers=signed_body("na", now_ms, part, good))
    c.ok(r.status == 409 and "differently" in r.raw,
         "internal API: a part of another plan (fingerprint), 409", f"{r.status} {r.raw[:200]}")
    scan = part_body(f"SELECT * FROM {TABLE}")
    r = nb.req("POST", part, key=None, raw_body=scan, headers=signed_body("na", now_ms, part, scan))
    c.ok(r.status == 400 and "aggregate" in r.raw,
         "internal API: a part of a statement that does not aggregate, 400",
         f"{r.status} {r.raw[:200]}")

    # a node's share of a scan pushed down: the same signing; its images, or a precise 400
    scan_path = f"/internal/v1/scan/{TABLE}"

    def scan_body(where, cols=("__time",), limit=-1, segments=()):
        return json.dumps({"c0": 0, "segments": list(segments),
                           "scan": {"where": where, "cols": list(cols), "limit": limit}}).encode()

    good = scan_body('("__time" >= MILLIS_TO_TIMESTAMP(0))')
    r = nb.req("POST", scan_path, key=None, raw_body=good, headers=signed("na", now_ms, scan_path))
    c.eq(r.status, 401, "internal API: a scan whose signature leaves out its body, 401")
    r = nb.req("POST", scan_path, key=None, raw_body=good,
               headers=signed_body("na", now_ms, scan_path, good))
    head = json.loads(r.raw.split("\n", 1)[0]) if r.status == 200 else {}
    c.ok(r.status == 200 and head.get("part") == 0 and isinstance(head.get("images"), list)
         and isinstance(head.get("leases"), list),
         "internal API: a signed scan gets the node's leases and its rows as images",
         f"{r.status} {r.raw[:200]}")
    for bad, what in ((b"{not json", "malformed JSON"),
                      (json.dumps({"c0": 0, "segments": []}).encode(), "no scan"),
                      (scan_body(None, cols=[1]), "a column that is not a name"),
                      (json.dumps({"c0": 0, "segments": [], "scan": {"where": None, "cols": [],
                                                                     "limit": "x"}}).encode(),
                       "a limit that is not a number")):
        r = nb.req("POST", scan_path, key=None, raw_body=bad,
                   headers=signed_body("na", now_ms, scan_path, bad))
        c.ok(r.status == 400 and "a scan's request is JSON" in r.raw,
             f"internal API: a scan request with {what}, 400 saying what a scan request is",
             f"{r.status} {r.raw[:200]}")
    bad = scan_body('"no_such_column" = 1')
    r = nb.req("POST", scan_path, key=None, raw_body=bad,
               headers=signed_body("na", now_ms, scan_path, bad))
    c.ok(r.status == 400 and "does not compile here" in r.raw and "no_such_column" in r.raw,
         "internal API: a scan whose filter does not compile on the node, 400 naming why",
         f"{r.status} {r.raw[:300]}")

    # ---- 1. the whole table on every node: with rows in realtime buffers, then persisted
    t = time.time()
    produce(0, N)
    realtime = reach(nodes, f"{N} events, before a persist")
    committed = cat.committed_rows(TABLE)  # after the answers: fewer then, if fewer now
    if realtime:
        print(f"# {N} events produced and answered by every node in {time.time() - t:.1f} s",
              flush=True)
    c.ok(realtime and committed < N, "...answered while rows were still only in realtime "
         f"buffers ({committed} of {N} committed)", "the counts were not reached" if not realtime
         else "all committed already: raise LODESTAR_PERSIST_MAX_AGE_MS")
    c.ok(wait_for(lambda: count_sum(ref)[1] == ledger.want(), timeout=20),
         f"the single server ingests the {N} events", str(count_sum(ref)[1]))
    same_answers(nodes, "in realtime")
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == N and
                  cat.committed_offsets(TABLE, TOPIC) == N, timeout=20),
         f"the nodes persist and commit all {N} rows and offsets",
         f"rows {cat.committed_rows(TABLE)}, offsets {cat.committed_offsets(TABLE, TOPIC)}")
    files = cat.segment_files(TABLE)
    objs = {os.path.basename(o) for o in store.objects(PREFIX)}
    c.ok(files and files <= objs, f"every committed segment ({len(files)}) is an object in the "
         "bucket, through the signature-checking proxy", f"{sorted(files - objs)[:5]} missing")
    print(f"# the proxy passed {proxy.requests()} S3 requests", flush=True)
    reach(nodes, f"{N} events, all persisted", timeout=10)
    c.ok(wait_for(lambda: count_sum(ref)[1] == ledger.want(), timeout=10),
         "the single server still answers them all")
    same_answers(nodes, "persisted")
    same_druid_answers(nodes, "persisted")
    # many queries over the nodes at once, on every node: each waits for the others' parts on
    # one of its node's HTTP threads, and the parts need a free thread on theirs. Queries must
    # never hold every thread of every node waiting on each other (they did: 503s after the
    # 20 s timeout); past what a node can keep waiting it answers 503 at once (retry)
    q = f"SELECT cat, COUNT(*) FROM {T} GROUP BY cat ORDER BY cat"
    want = rows_of(ref, q)
    results = []

    def one(s):
        t0 = time.time()
        r = sql(s, q, {"timeout": 20000}, timeout=40)
        msg = (r.json or {}).get("message", "") if isinstance(r.json, dict) else ""
        results.append((s.name, r.status, r.json == want, time.time() - t0,
                        r.status == 503 and "HTTP threads" in msg))

    for per in (8, 24):
        results.clear()
        ths = [threading.Thread(target=one, args=(s,)) for s in nodes for _ in range(per)]
        t0 = time.time()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        slow = max(x[3] for x in results)
        ok = sum(1 for x in results if x[1] == 200 and x[2])
        busy = sum(1 for x in results if x[4])
        print(f"# {len(ths)} queries at once over the nodes: {ok} answered, {busy} 503 busy, "
              f"in {time.time() - t0:.1f} s (slowest {slow:.1f} s)", flush=True)
        c.ok(ok + busy == len(results) and ok >= min(len(results), 3 * 14) and slow < 10,
             f"{len(ths)} queries at once, {per} on each node: each answers the single server's "
             "rows, or (past 14 waiting on a node) a quick 503 saying the node is busy; none "
             "waits on the others until its timeout",
             str([x for x in results if not (x[1] == 200 and x[2]) and not x[4]][:5]))
    split_over(nodes, "persisted")
    # GET /v1/cluster: the segments each node serves to queries (rendezvous hashing), every
    # committed segment on exactly one live node, the same assignment on every node
    views = [s.req("GET", "/v1/cluster").json or {} for s in nodes]
    served = [{n["id"]: n.get("segments", {}).get("tables", {}).get(TABLE, 0)
               for n in v.get("nodes", [])} for v in views]
    c.ok(all(sv == served[0] for sv in served) and sum(served[0].values()) == len(files)
         and all(n.get("live") for n in views[0].get("nodes", [])
                 if served[0].get(n["id"])),
         f"GET /v1/cluster: the {len(files)} segments are served one each by the live nodes, "
         "alike on every node", json.dumps(served))

    # ---- 2. kill -9 of a node holding unpersisted rows
    produce(N, M_KILL)
    c.ok(wait_for(lambda: count_sum(ref)[1] == ledger.want(), timeout=20),
         f"the single server ingests {M_KILL} more")
    reach(nodes, f"{M_KILL} more")
    print(f"# at the kill: {cat.committed_rows(TABLE)} of {ledger.lo} rows committed, "
          f"nc leases {sorted(cat.lease_holders(TABLE).get('nc', []))}", flush=True)
    pollers.append(Poller([na, nb]))
    waited = {}

    def default_timeout_query():
        t = time.time()
        waited["r"] = count_sum(nb, timeout=75)  # the server's default: 60 s
        waited["s"] = time.time() - t

    ledger.down = "nc"
    nc.kill9()
    t_kill = time.time()
    th = threading.Thread(target=default_timeout_query)
    th.start()
    r, got = count_sum(na, SHORT)
    took = time.time() - t_kill
    c.ok(unavailable(r, "nc") and took < 5, "right after kill -9 of nc: a query with a 2000 ms "
         "timeout on na answers 503 naming nc and 'unavailable', within its timeout",
         f"{r.status} {r.raw[:300].strip()} after {took:.1f} s")
    th.join(timeout=80)
    r, got = waited.get("r", (None, None))
    c.eq(got, ledger.want(), "a query on nb with the default timeout, sent right after the kill, "
         f"waits for the failover and answers exactly ({waited.get('s', -1):.1f} s, "
         f"status {getattr(r, 'status', None)})")
    c.ok(wait_for(lambda: split(["na", "nb"]), timeout=20),
         "na and nb take nc's partitions once its leases expire",
         json.dumps(cat.lease_holders(TABLE)))
    print(f"# failover {time.time() - t_kill:.1f} s", flush=True)
    live = [na, nb]
    reach(live, "after the failover")
    produce(N + M_KILL, M_AFTER)
    reach(live, f"{M_AFTER} more after the failover")
    seen = pollers[-1].stop()
    ledger.down = None
    print(f"# poller during the kill: {seen}", flush=True)
    c.ok(seen["200"] > 0, "the poller was answered during the failover", str(seen))

    # ---- 3. SIGSTOP of a node holding unpersisted rows, then SIGCONT
    total = N + M_KILL + M_AFTER
    produce(total, M_STOP)
    reach(live, f"{M_STOP} more")
    pollers.append(Poller([na]))
    ledger.down = "nb"
    nb.proc.send_signal(signal.SIGSTOP)
    t_stop = time.time()
    nb.stopped = True
    # kill() returns before every thread of nb has stopped: on a loaded machine nb could still
    # answer a part (rightly: its leases are still its own); the check is of a node stopped
    wait_for(lambda: all_threads_stopped(nb.proc.pid), timeout=5, step=0.01)
    r, got = count_sum(na, SHORT)
    took = time.time() - t_stop
    print(f"# the query after the SIGSTOP answered {r.status} in {took:.1f} s", flush=True)
    c.ok(unavailable(r, "nb") and took < 5, "nb stopped (SIGSTOP): a query with a 2000 ms "
         "timeout on na answers 503 naming nb and 'unavailable', within its timeout",
         f"{r.status} {r.raw[:300].strip()} after {took:.1f} s")
    c.ok(wait_for(lambda: split(["na"]), timeout=25),
         "na takes nb's partitions once nb's leases expire", json.dumps(cat.lease_holders(TABLE)))
    print(f"# na holds every lease {time.time() - t_stop:.1f} s after the SIGSTOP", flush=True)
    c.ok(wait_for(lambda: count_sum(na, SHORT)[1] == ledger.want(), timeout=15, step=0.2),
         "once taken over, na answers exactly with nb still stopped",
         str(count_sum(na, SHORT)[1]))
    print(f"# na exact {time.time() - t_stop:.1f} s after the SIGSTOP", flush=True)
    seen = pollers[-1].stop()
    print(f"# poller while nb was stopped: {seen}", flush=True)
    pollers.append(Poller(live))
    ledger.down = "nb, woken"
    nb.proc.send_signal(signal.SIGCONT)
    nb.stopped = False
    reach(live, "after SIGCONT", timeout=20)
    c.ok(wait_for(lambda: split(["na", "nb"]), timeout=20), "nb takes its share back",
         json.dumps(cat.lease_holders(TABLE)))
    reach(live, "after nb took its share back")
    seen = pollers[-1].stop()
    ledger.down = None
    print(f"# poller after SIGCONT: {seen}", flush=True)
    c.ok(wait_for(lambda: count_sum(ref)[1] == ledger.want(), timeout=10),
         f"the single server has all {ledger.lo} events")
    same_answers(live, "after the failovers")

    # ---- 4. PostgreSQL restarted mid-ingest: the nodes retry and recover
    total = ledger.lo
    t_pg = time.time()
    th = threading.Thread(target=produce, args=(total, M_PG))
    th.start()
    pg.restart()
    th.join()
    reach(live, f"{M_PG} more, PostgreSQL restarted while they were produced", timeout=30)
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == ledger.lo, timeout=30),
         "after the PostgreSQL restart every row is committed, once",
         f"{cat.committed_rows(TABLE)} of {ledger.lo}")
    print(f"# PostgreSQL restart to exact commits {time.time() - t_pg:.1f} s", flush=True)

    # ---- 5. a node's data directory deleted: restarted, it reads its segments from the store
    nb.stop()
    shutil.rmtree(nb.data_dir)
    os.makedirs(nb.data_dir)
    shutil.copy(os.path.join(na.data_dir, "admin.key"), nb.data_dir)
    nb.start()
    reach(live, "nb restarted with an empty data directory", timeout=30)
    # what its aggregating queries downloaded: the segments it serves (rendezvous over the
    # live nodes) and those it wrote, not the table (a top-N over rows, below, reads them all)
    writers = {}
    for line in cat.sql(f"SELECT path, writer FROM segment WHERE table_name = '{TABLE}'"
                        ).splitlines():
        path, writer = line.split("|")
        writers[os.path.basename(path)] = writer
    cached = [f for d, _, fs in os.walk(nb.data_dir) for f in fs if f in writers]
    foreign = [f for f in cached if writers[f] != "nb" and
               max(live, key=lambda n: rendezvous(n.name, f)).name != "nb"]
    c.ok(not foreign, f"nb, restarted empty, downloaded the segments it serves or wrote "
         f"({len(cached)} of the table's {len(writers)}), not the others'",
         f"{len(foreign)} served by another node: {foreign[:3]}")
    same_answers(live, "after nb reloaded from the store")

    # ---- 6. a sql job's SELECT reads every node's rows; it runs on one node only
    r = na.req("POST", "/v2/jobs", {"type": "sql", "query": f"INSERT INTO cq_copy SELECT __time, v "
                                    f"FROM {TABLE} PARTITIONED BY DAY", "createTableIfNotExists": True})
    c.ok(r.status == 201, "a sql job copying the table", r.raw[:300])
    jid = (r.json or {}).get("id", "")

    def job_state():
        return (nb.req("GET", f"/v2/jobs/{jid}").json or {}).get("executionStatus")

    c.ok(wait_for(lambda: job_state() in ("succeeded", "failed"), timeout=30),
         "the sql job ends", str(job_state()))
    c.eq(job_state(), "succeeded", "the sql job succeeded")
    got = (sql(nb, "SELECT COUNT(*), SUM(v) FROM cq_copy").json or [[None, None]])[0]
    c.eq(got, ledger.want(), "its copy holds every node's rows, once (asked on another node)")

    # ---- never a wrong number, all through the test
    c.ok(not ledger.over, f"no 200 answer ({ledger.ok200} of {ledger.status}) counted more rows "
         "than were produced", "; ".join(ledger.over[:5]))
    c.ok(ledger.exact_due and not ledger.short, f"every 200 answer ({ledger.exact_due}) once "
         "production had stopped and the nodes had caught up was exact",
         f"{len(ledger.short)} not: " + "; ".join(ledger.short[:5]))
    c.ok(not ledger.other, "with a node killed or stopped, the answers were 200 or 503 only",
         "; ".join(ledger.other[:5]))
    for s in nodes:
        s.stop()
    ref.stop()
finally:
    for p in pollers:
        p.stop()
    for s in nodes + [ref]:
        if s.proc and getattr(s, "stopped", False):
            s.proc.send_signal(signal.SIGCONT)
        s.stop()
        if not os.environ.get("LODESTAR_KEEP"):
            shutil.rmtree(s.data_dir, ignore_errors=True)
    broker.stop()
    proxy.stop()
    store.remove()
    pg.stop()
print(f"# wall time {time.time() - T0:.1f} s")
c.done()
