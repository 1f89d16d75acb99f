#!/usr/bin/env python3
"""
test_cluster_sql.py — every query of the SQL test files (tests/unit/sql_queries/*.txt) that
reads the tables `wiki` and `tiny`, answered by each of three cluster nodes exactly as by a
single server on the same data (issue 16).

The data: `tiny`, the unit tests' 12 rows (strings with NULL, '' and non-ASCII, longs and
doubles with NULLs, a JSON column), and `wiki`, 3,000 generated edits over three days with the
unit table's columns (channel, page, user, countryName with NULL and '', added, deleted and
delta with NULLs, score, isRobot). Both go through `lodestar dev-kafka` (6 and 3 partitions):
the three nodes share a PostgreSQL catalog and an s3rver bucket and read their leased
partitions, persisting every 400 rows so that each node's rows are part segments in the
bucket, part realtime buffer; a fourth, plain server (SQLite, its own directory) reads the same
topics. Then the orphan sweep: in the bucket, an object no commit names and 2 h old is deleted by
the node of the lowest id (a sweep every 0.5 s, a grace of 10 minutes); a young one, an object
that is not a segment and every committed segment, one of them 2 h old too, stay.

Each query runs with the request its file gives (context, resultFormat, parameters...)
on the single server and on every node; the answers must be equal: the same HTTP status, and
the same body, or, for a query whose rows come in no defined order (no ORDER BY or marked
unordered in its file), the same rows as a multiset; floating-point values equal to 1e-9
relative (the nodes' parts are merged in another order than one server's threads). What the
layout of the rows decides is compared as far as the query fixes it: an error's class and
words (not the sizes in it), an EXPLAIN's status (its plan names the segments read), the number
of rows of a LIMIT without ORDER BY. A query that reads another table is not run.
"""
import json
import os
import random
import re
import subprocess
import time

from harness import (S3_ENV, Checks, DevKafka, S3rver, Server, cluster_node, iso, rendezvous,
                     wait_for)
from pg import Catalog, Postgres

c = Checks()
T0 = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))
QDIR = os.path.join(HERE, "..", "unit", "sql_queries")
BUCKET, SECRET = "lake", "sql-cluster-secret"
DAY, H = 86400000, 3600000
START = 1704067200000   # 2024-01-01T00:00:00Z, the unit tables' T0
ENV = {**S3_ENV, "LODESTAR_PERSIST_MAX_ROWS": "400", "LODESTAR_PERSIST_MAX_AGE_MS": "600000",
       "LODESTAR_COMPACT_MS": "3600000", "LODESTAR_CLUSTER_SECRET": SECRET,
       # the orphan sweep every half second, deleting what no commit names past 10 minutes
       "LODESTAR_ORPHAN_SWEEP_MS": "500", "LODESTAR_ORPHAN_GRACE_MS": "600000"}
PREFIX = "sql/segs"
REF_ENV = {"LODESTAR_PERSIST_MAX_ROWS": "1000", "LODESTAR_PERSIST_MAX_AGE_MS": "600000",
           "LODESTAR_COMPACT_MS": "3600000"}
TABLES = ("wiki", "tiny")


def tiny_rows():
    """The unit test's tiny (test_query.c, build_tiny)."""
    t = [START, START + H, START + 2 * H + H // 2, START + 5 * H, START + DAY,
         START + DAY + 10 * H, START + 2 * DAY - 1, START + DAY + 12 * H, START + 2 * DAY,
         START + 2 * DAY + 6 * H, START + 2 * DAY + 7 * H, START + 2 * DAY + 8 * H]
    s = ["a", "b", None, "a", "", "c", "a", "b", "ab", None, "\u00dcn\u00ef", 'a"q,x']
    n = [1, 2, 3, None, 5, 6, 7, 8, 9, None, 11, 12]
    d = [1.5, None, 2.5, 0.5, -1.0, 10.0, None, 4.0, 3.0, None, 1.25, 2.0]
    j = [None] * 12
    j[0] = {"a": 1, "b": [True, None]}
    j[8] = [1, 2.5, "x"]
    return [{"ts": iso(t[i]), "s": s[i], "n": n[i], "d": d[i], "j": j[i]} for i in range(12)]


def wiki_rows():
    """3,000 edits over three days with the unit table's columns and kinds of values."""
    rnd = random.Random(42)
    channels = ["#en.wikipedia", "#en.wikipedia", "#fr.wikipedia", "#de.wikipedia",
                "#ja.wikipedia", "#vi.wikipedia"]
    countries = ["France", "Germany", "Japan", "United States", ""]
    out = []
    for day, n in ((0, 1000), (1, 1200), (2, 800)):
        for _ in range(n):
            rank = rnd.randrange(20) * rnd.randrange(10) + rnd.randrange(3)
            page = (f"Caf\u00e9_{rank}" if rank % 7 == 3 else
                    f"\u65e5\u672c_{rank}" if rank % 11 == 5 else f"Page_{rank}")
            cn = rnd.randrange(10)
            added = rnd.randrange(1000)
            del_null = rnd.randrange(20) == 0
            deleted = rnd.randrange(200)
            out.append({
                "ts": iso(START + day * DAY + rnd.randrange(DAY)),
                "channel": rnd.choice(channels), "page": page,
                "user": f"user{rnd.randrange(50)}",
                "countryName": None if cn < 6 else countries[cn - 6 + rnd.randrange(2)],
                "added": added, "deleted": None if del_null else deleted,
                "delta": None if del_null else added - deleted,
                "score": None if rnd.randrange(10) == 0 else rnd.randrange(400) / 4.0,
                "isRobot": 1 if rnd.randrange(3) == 0 else 0})
    return out


SCHEMAS = {
    "tiny": [("s", "string"), ("n", "long"), ("d", "double"), ("j", "json")],
    "wiki": [("channel", "string"), ("page", "string"), ("user", "string"),
             ("countryName", "string"), ("added", "long"), ("deleted", "long"),
             ("delta", "long"), ("score", "double"), ("isRobot", "long")],
}


def job(table):
    cols = SCHEMAS[table]
    return {"type": "streaming", "target": {"type": "table", "tableName": table},
            "createTableIfNotExists": True,
            "source": {"type": "connection", "connectionName": table,
                       "inputSchema": [{"name": "ts", "dataType": "string"}] +
                                      [{"name": n, "dataType": t} for n, t in cols],
                       "formatSettings": {"format": "nd-json"}},
            "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}] +
                        [{"columnName": n, "expression": f'"{n}"'} for n, _ in cols],
            "readFromPoint": "earliest",
            "lateMessageRejectionPeriod": "P5000D"}   # the rows are of 2024


def cases():
    """(file, name, sql, request, unordered) of every query in the SQL test files."""
    out = []
    for f in sorted(os.listdir(QDIR)):
        if not f.endswith(".txt"):
            continue
        cur, mode = None, None
        for line in open(os.path.join(QDIR, f), encoding="utf-8"):
            line = line.rstrip("\n")
            m = re.match(r"^-- ([a-z-]+):?\s?(.*)$", line)
            if m and m.group(1) in ("query", "request", "expect", "unordered", "expect-body",
                                    "expect-error", "expect-contains", "sqlite"):
                key, rest = m.group(1), m.group(2)
                if key == "query":
                    cur = {"file": f, "name": rest, "sql": [], "request": {},
                           "unordered": False}
                    out.append(cur)
                    mode = "sql"
                elif key == "request":
                    cur["request"] = json.loads(rest)
                    mode = None
                elif key == "unordered":
                    cur["unordered"] = True
                else:
                    mode = None
            elif line.startswith("#"):
                continue
            elif mode == "sql":
                cur["sql"].append(line)
    for x in out:
        x["sql"] = "\n".join(x["sql"]).strip()
    return out


def reads_only(sql, tables):
    """Whether every table the statement names in FROM/JOIN is one of tables (or a CTE,
    a subquery alias, or a table function)."""
    ctes = set(re.findall(r"(?i)\b(\w+)\s+AS\s*\(", sql))
    names = re.findall(r'(?i)\b(?:FROM|JOIN)\s+"?([A-Za-z_][\w.]*)"?', sql)
    return names and all(n in tables or n in ctes or n.upper() in ("UNNEST", "TABLE", "LATERAL")
                         for n in names)


def close(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    return a == b


def rows_of(raw):
    """The answer as a list of rows when it is JSON (a list, or JSON lines), else None."""
    try:
        v = json.loads(raw)
        return v if isinstance(v, list) else None
    except ValueError:
        pass
    try:
        return [json.loads(x) for x in raw.splitlines() if x.strip()]
    except ValueError:
        return None


# Answers a query does not fix, whatever the layout of its rows: a ROWS frame over rows tied
# in its ORDER BY sums them in whichever order they come.
UNFIXED = {("window.txt", "running totals include the current row's peers (RANGE by default)")}


def same(want, got, how):
    """how: "exact" (in order), "unordered" (as a multiset), "count" (LIMIT without ORDER BY:
    any rows, so their number), "plan" (EXPLAIN: it names the segments and buffers read,
    which differ between a node and the single server)."""
    if want.status != got.status:
        return False
    if want.raw == got.raw or how == "plan":
        return True
    if want.status != 200:
        # the same error; sizes in it may differ (an ARRAY_AGG past its limit stops at the
        # row that crosses it, which depends on the order the rows were merged in), and so
        # may the step at which a query crosses its memory limit (a node plans a block over
        # the table's columns before it reads the nodes' rows of it)
        try:
            a, b = json.loads(want.raw), json.loads(got.raw)
        except ValueError:
            return False
        words = lambda m: re.sub(r"\(for [^)]*\)", "(for ...)",  # noqa: E731
                                 re.sub(r"\d+", "N", str(m)))
        return a.get("error") == b.get("error") and words(a.get("message")) == \
            words(b.get("message"))
    a, b = rows_of(want.raw), rows_of(got.raw)
    unordered = how != "exact"
    if how == "count" and a is not None and b is not None:
        return len(a) == len(b)
    if a is None or b is None:   # CSV and the like: the same lines, in any order
        return sorted(want.raw.splitlines()) == sorted(got.raw.splitlines()) and unordered
    if close(a, b):
        return True
    if not unordered or len(a) != len(b):
        return False
    key = lambda r: json.dumps(r, sort_keys=True, default=str)  # noqa: E731
    return close(sorted(a, key=key), sorted(b, key=key))


broker = DevKafka(topics=["wiki:6", "tiny:3"]).start()
store = S3rver(BUCKET)
ref = Server(env=REF_ENV)
ref.name = "single"
nodes, extra = [], []
pg = Postgres()
try:
    store.start()
    pg.start()
    uri = pg.createdb("lodestar")
    pgcat = Catalog(pg, "lodestar")

    def node(name, first=None):
        s = cluster_node(name, uri, ENV, first, f"{BUCKET}/{PREFIX}", f"http://127.0.0.1:{store.port}")
        nodes.append(s)
        return s.start()

    def start_jobs(s):
        for t in TABLES:
            r = s.req("POST", "/v2/connections", {"type": "kafka", "name": t,
                                                  "bootstrapServers": broker.bootstrap,
                                                  "topicName": t})
            c.eq(r.status, 201, f"connection {t} on {s.name}")
            r = s.req("POST", "/v2/jobs", job(t))
            c.ok(r.status == 201, f"job {t} on {s.name}", r.raw[:300])

    na = node("na")
    nb = node("nb", na)
    nc = node("nc", na)
    start_jobs(na)
    ref.start()
    start_jobs(ref)
    data = {"wiki": wiki_rows(), "tiny": tiny_rows()}
    for t, rows in data.items():
        p = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", t,
                            "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5"],
                           input=("\n".join(json.dumps(r) for r in rows) + "\n").encode(),
                           capture_output=True, timeout=60)
        c.eq(p.returncode, 0, f"kcat produced the {len(rows)} rows of {t}")

    def counted(s):
        out = []
        for t in TABLES:
            r = s.req("POST", "/v1/query/sql", {"query": f"SELECT COUNT(*) FROM {t}",
                                                "resultFormat": "array"})
            out.append(r.json[0][0] if r.status == 200 and r.json else None)
        return out

    want_counts = [len(data["wiki"]), len(data["tiny"])]
    for s in nodes + [ref]:
        c.ok(wait_for(lambda: counted(s) == want_counts, timeout=60),
             f"{s.name} counts every row of wiki and tiny", str(counted(s)))
    def nsegs(s):
        r = s.req("POST", "/v1/query/sql", {
            "query": "SELECT COUNT(*) FROM sys.segments WHERE datasource = 'wiki' AND is_published = 1",
            "resultFormat": "array"})
        return r.json[0][0] if r.status == 200 and r.json else r.raw[:200]

    segs = {s.name: nsegs(s) for s in nodes}
    c.ok(all(isinstance(v, int) and v > 0 for v in segs.values()), "wiki has committed segments in the bucket as well as realtime rows",
         str(segs))
    print(f"# setup {time.time() - T0:.1f} s", flush=True)

    all_cases = cases()
    run = [x for x in all_cases if x["sql"] and reads_only(x["sql"], TABLES)]
    print(f"# {len(run)} of the {len(all_cases)} queries of the SQL test files read only "
          f"{' and '.join(TABLES)}", flush=True)
    c.ok(len(run) >= 300, "most queries of the files are run", str(len(run)))
    differ, by_status, hows = [], {}, {}
    t = time.time()
    for x in run:
        body = {"query": x["sql"]}
        body.update(x["request"])
        want = ref.req("POST", "/v1/query/sql", body)
        by_status[want.status] = by_status.get(want.status, 0) + 1
        sql = x["sql"]
        how = ("plan" if re.match(r"(?i)\s*(--[^\n]*\n\s*)*EXPLAIN\b", sql) else
               "count" if (x["file"], x["name"]) in UNFIXED or (
                   re.search(r"(?i)\bLIMIT\b", sql) and not re.search(r"(?i)\bORDER\s+BY\b", sql))
               else "unordered" if x["unordered"] or not re.search(r"(?i)\bORDER\s+BY\b", sql)
               else "exact")
        hows[how] = hows.get(how, 0) + 1
        for s in nodes:
            got = s.req("POST", "/v1/query/sql", body)
            if not same(want, got, how):
                differ.append(f"{x['file']}: {x['name']}: on {s.name} {got.status} "
                              f"{got.raw[:300]!r}; single {want.status} {want.raw[:300]!r}")
    print(f"# {len(run)} queries on 4 servers in {time.time() - t:.1f} s; the single server's "
          f"statuses {by_status}; compared {hows}", flush=True)
    for d in differ:
        print("# differs:", d, flush=True)
    c.eq(len(differ), 0, "every query answers on each node as on the single server")
    c.ok(by_status.get(200, 0) >= 0.75 * len(run), "most of them answer rows", str(by_status))

    # ---- the orphan sweep: objects no commit names, older than the grace, are deleted by
    # the node of the lowest id; younger ones, committed ones and others' objects stay
    committed = sorted(store.objects(PREFIX))
    c.ok(len(committed) > 5, "the committed segments are objects in the bucket", str(committed))
    sub = committed[0].split("/")[-2]
    old = f"{PREFIX}/{sub}/2024-01-01T00-00-00.000Z_00000000deadbeef.lseg"
    young = f"{PREFIX}/{sub}/2024-01-01T00-00-00.000Z_00000000feedface.lseg"
    other = f"{PREFIX}/{sub}/notes.txt"
    marks = {s.name: len(s.log_text()) for s in nodes}
    store.put(old, b"an upload whose commit never came", age_s=7200)
    store.put(young, b"an upload whose commit may still come")
    store.put(other, b"not a segment", age_s=7200)
    store.age(committed[0], 7200)   # committed long ago: stays
    c.ok(wait_for(lambda: old not in store.objects(PREFIX), timeout=20),
         "an object no commit names, 2 h old, is deleted")
    time.sleep(1.5)   # three more sweeps
    left = store.objects(PREFIX)
    c.ok(young in left and other in left and all(k in left for k in committed),
         "a young one, an object that is not a segment and every committed segment (one of "
         "them 2 h old) stay", str(sorted(set(committed) | {young, other} - left)))
    swept = [s.name for s in nodes if "orphan sweep of s3://lake/sql/segs/: deleted 1 objects"
             in s.log_text()[marks[s.name]:]]
    c.eq(swept, ["na"], "the node of the lowest id sweeps, and says what it deleted")
    c.ok(all(counted(s) == want_counts for s in nodes), "every node still counts every row")

    # ---- a damaged object in the store: a fourth node, its cache empty, must download a
    # segment it now serves; the checksum says the bytes are not what was uploaded, and the
    # query fails naming the segment rather than answer without its rows, while the other
    # table still answers exactly
    names = [s.name for s in nodes] + ["nd"]
    damaged = None
    for t in TABLES:
        for path in pgcat.sql(f"SELECT path FROM segment WHERE table_name = '{t}'").splitlines():
            seg = os.path.basename(path)
            if max(names, key=lambda n: rendezvous(n, seg)) == "nd":
                damaged = (t, f"{PREFIX}/{path.split('/')[-2]}/{seg}", seg)
                break
        if damaged:
            break
    c.ok(damaged is not None, "the fourth node serves some committed segment")
    if damaged:
        t, key, seg = damaged
        f = os.path.join(store.dir, BUCKET, key + "._S3rver_object")
        with open(f, "r+b") as fh:
            fh.seek(os.path.getsize(f) // 2)
            b = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([b[0] ^ 0xff]))
    # damaged before the fourth node starts: it may load what it serves at once
    nd = node("nd", na)
    c.ok(wait_for(lambda: sum(n["live"] for n in (na.req("GET", "/v1/cluster").json or {})
                              .get("nodes", [])) == 4, timeout=15), "a fourth node joins")
    if damaged:
        t_q = time.time()
        r = nb.req("POST", "/v1/query/sql", {"query": f"SELECT COUNT(*) FROM {t}",
                                             "resultFormat": "array"})
        took = time.time() - t_q
        c.ok(r.status == 500 and seg in r.raw and "damaged in the store" in r.raw
             and "checksum mismatch" in r.raw and "restore the object" in r.raw
             and "allowPartialResults" in r.raw,
             "a query needing the damaged object fails at once with 500, naming the segment, "
             "the checksum and what to do",
             f"{r.status} {r.raw[:500]}")
        print(f"# the query over the damaged object, {took:.1f} s: {r.status} {r.raw[:600]}",
              flush=True)
        c.ok(took < 5, "not retried until the query's timeout", f"{took:.1f} s")
        # a statement that is not split (a subquery) reads the rows it needs of each node
        # (a scan pushed down): asked of the fourth node, which has no good copy, the same
        r = nd.req("POST", "/v1/query/sql", {"query": f"SELECT COUNT(*) FROM (SELECT * FROM {t})",
                                             "resultFormat": "array"})
        c.ok(r.status >= 400 and seg in r.raw and "damaged in the store" in r.raw
             and "allowPartialResults" in r.raw, "so does a statement that is not split, saying "
             "why and what to do",
             f"{r.status} {r.raw[:400]}")
        print(f"# not split: {r.status} {r.raw[:600]}", flush=True)
        r = nd.req("POST", "/v1/query/sql", {"query": f"SELECT COUNT(*) FROM (SELECT * FROM {t})",
                                             "resultFormat": "array",
                                             "context": {"allowPartialResults": True}})
        c.ok(r.status == 200 and r.json and 0 < r.json[0][0] < len(data[t]),
             "with allowPartialResults it answers without the damaged segment's rows",
             f"{r.status} {r.raw[:300]}")
        other = [x for x in TABLES if x != t][0]
        r = nb.req("POST", "/v1/query/sql", {"query": f"SELECT COUNT(*) FROM {other}",
                                             "resultFormat": "array"})
        c.eq((r.status, r.json), (200, [[len(data[other])]]),
             f"the other table, {other}, still answers exactly")
    nd.stop()

    # a segment is committed only well within the grace of its upload: with a grace of 1 ms
    # no commit can be (the sweep could have taken the object), so none is made, and the
    # job's health says why
    late = Server(env={"LODESTAR_ORPHAN_GRACE_MS": "1", "LODESTAR_PERSIST_MAX_AGE_MS": "300",
                       "LODESTAR_COMPACT_MS": "3600000"})
    late.name = "late"
    late.start()
    extra.append(late)
    late.req("POST", "/v2/connections", {"type": "kafka", "name": "tiny",
                                         "bootstrapServers": broker.bootstrap, "topicName": "tiny"})
    r = late.req("POST", "/v2/jobs", job("tiny"))
    jid = (r.json or {}).get("id", "")

    def health():
        return (late.req("GET", f"/v2/jobs/{jid}").json or {}).get("health") or {}

    c.ok(wait_for(lambda: "more than half the orphan sweep's grace" in
                  health().get("message", ""), timeout=20),
         "a segment stored longer ago than half the grace is not committed; the health says so",
         json.dumps(health()))
    c.eq(counted(late)[1], 12, "its rows are still read (realtime)")
    c.eq(late.req("POST", "/v1/query/sql", {
        "query": "SELECT COUNT(*) FROM sys.segments WHERE datasource = 'tiny' AND is_published = 1",
        "resultFormat": "array"}).json, [[0]], "and no segment of them is committed")
    late.kill9()   # its persists would fail until its shutdown bound
    for s in nodes + [ref]:
        s.stop()
finally:
    for s in extra + nodes + [ref]:
        s.__exit__(None, None, None)   # stops it, removes its directory
    broker.stop()
    store.remove()
    pg.stop()
print(f"# wall time {time.time() - T0:.1f} s")
c.done()
