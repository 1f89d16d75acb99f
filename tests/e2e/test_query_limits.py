"""
test_query_limits.py — no query can exhaust the server's memory. The real
server runs under a process memory cap (RLIMIT_AS, so that a regression fails
this test instead of the machine; skipped for the ASan binary, whose shadow
memory cannot live under a small cap) with small query budgets
(LODESTAR_QUERY_MAX_BYTES, LODESTAR_QUERY_TOTAL_BYTES), over a table of 2,000
pushed rows. Each hostile query gets the precise 4xx (or 503 when the memory
of all queries is in use) quickly, or the right answer where the query is
fine: 10K/20K/50K-term ORs, REPEAT(page, 100000) over every row (as a string
and inside LENGTH), CONCAT of 10K arguments, 100K nested parentheses, huge IN
lists, a high-cardinality GROUP BY, an ORDER BY without LIMIT, windows over
long strings and a result over a small context.maxQueryBytes; then several big queries at once against
the total. After all of it the same server process answers a normal query
correctly and holds no query memory.
"""
import json
import os
import resource
import subprocess
import tempfile
import threading
import time

import harness
from harness import Checks, Server, iso, wait_for

c = Checks()

ASAN = "asan" in harness.BIN
# the server's address space: its queries may take TOTAL; the rest is code, thread
# stacks (one per core for HTTP) and buffers. glibc's per-thread malloc arenas each
# reserve 64 MB of address space: MALLOC_ARENA_MAX keeps that from scaling with cores.
CAP = (1024 << 20) + (os.cpu_count() or 2) * (16 << 20)
MAX_QUERY = 128 << 20                 # LODESTAR_QUERY_MAX_BYTES
TOTAL = 192 << 20                     # LODESTAR_QUERY_TOTAL_BYTES
FAST = 5.0 if ASAN else 1.0           # "within a second" (ASan is several times slower)
N = 2000


class CappedServer(Server):
    """harness.Server, the process started under RLIMIT_AS."""

    def start(self):
        self.port = harness.free_port()
        env = dict(os.environ)
        env.update(self.env or {})
        self.log = open(self.log_path, "ab")

        def cap():
            if not ASAN:
                resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))

        self.proc = subprocess.Popen(
            [harness.BIN, "serve", "--data-dir", self.data_dir, "--listen",
             f"127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT, env=env,
            preexec_fn=cap)
        if not harness.wait_port(self.port):
            self.stop()
            raise RuntimeError("server did not start: " + self.log_text()[-2000:])
        with open(os.path.join(self.data_dir, "admin.key")) as f:
            self.key = f.read().strip()
        return self


# ---- a bad limit stops the server at start, naming the variable ----
with tempfile.TemporaryDirectory(prefix="lodestar-e2e-") as d:
    p = subprocess.Popen([harness.BIN, "serve", "--data-dir", d, "--listen",
                          f"127.0.0.1:{harness.free_port()}"],
                         env=dict(os.environ, LODESTAR_QUERY_TOTAL_BYTES="lots"),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:   # it started serving: stop it
        p.terminate()
        out, _ = p.communicate()
    c.ok(p.returncode not in (0, None) and
         b"LODESTAR_QUERY_TOTAL_BYTES='lots' is not a memory size" in out,
         "a bad LODESTAR_QUERY_TOTAL_BYTES is refused at start", out.decode()[-300:])

CTL = "\u0001" * 20   # escapes to 6 bytes each in JSON: a response 6x its rows


def rows():
    now = int(time.time() * 1000)
    return [{"ts": iso(now - 3600_000 + i), "page": f"Page {i}", "added": (i * 7) % 5003,
             "ctl": CTL} for i in range(N)]


ROWS = rows()
JOB = {
    "type": "streaming",
    "target": {"type": "table", "tableName": "t"},
    "createTableIfNotExists": True,
    "source": {"type": "connection", "connectionName": "web",
               "inputSchema": [{"name": "ts", "dataType": "string"},
                               {"name": "page", "dataType": "string"},
                               {"name": "added", "dataType": "long"},
                               {"name": "ctl", "dataType": "string"}],
               "formatSettings": {"format": "nd-json"}},
    "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                 {"columnName": "page", "expression": "page"},
                 {"columnName": "added", "expression": "added"},
                 {"columnName": "ctl", "expression": "ctl"}],
    "readFromPoint": "earliest",
}


def query(s, sql, context=None, timeout=120):
    """(status, json or text, seconds)."""
    body = {"query": sql, "resultFormat": "array"}
    if context:
        body["context"] = context
    t0 = time.time()
    r = s.req("POST", "/v1/query/sql", body, timeout=timeout)
    return r.status, (r.json if r.json is not None else r.raw), time.time() - t0


def expect_error(s, name, sql, status, error, parts, context=None, fast=FAST):
    st, body, secs = query(s, sql, context)
    msg = body.get("message", "") if isinstance(body, dict) else str(body)[:300]
    got = body.get("error") if isinstance(body, dict) else None
    c.ok(st == status and got == error and all(p in msg for p in parts),
         f"{name}: {status} {error}", f"got {st} {got}: {msg[:400]}")
    c.ok(secs < fast, f"{name}: answered within {fast} s", f"{secs:.2f} s")
    return msg


def expect_rows(s, name, sql, want, context=None, fast=FAST):
    st, body, secs = query(s, sql, context)
    c.ok(st == 200 and body == want, f"{name}: the right answer",
         f"got {st} {str(body)[:300]}, want {str(want)[:200]}")
    c.ok(secs < fast, f"{name}: answered within {fast} s", f"{secs:.2f} s")


def memory_in_use(s):
    for line in s.req("GET", "/metrics").raw.splitlines():
        if line.startswith("lodestar_query_memory_bytes "):
            return int(line.split()[1])
    return None


s = CappedServer(env={"LODESTAR_QUERY_MAX_BYTES": str(MAX_QUERY),
                      "LODESTAR_QUERY_TOTAL_BYTES": str(TOTAL), "MALLOC_ARENA_MAX": "4"})
s.start()
pid = s.proc.pid
try:
    c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status, 201,
         "push connection")
    c.eq(s.req("POST", "/v2/jobs", JOB).status, 201, "job")
    body = "\n".join(json.dumps(x) for x in ROWS) + "\n"
    r = s.req("POST", "/v1/events/web", raw_body=body)
    c.eq((r.status, r.json.get("accepted")), (200, N), "rows pushed")
    c.ok(wait_for(lambda: s.req("GET", "/v2/tables/t").json["status"]["rowCount"] == N),
         "rows ingested")
    total_added = sum(x["added"] for x in ROWS)
    NORMAL = "SELECT COUNT(*), SUM(added), MIN(page) FROM t"
    NORMAL_ROWS = [[N, total_added, "Page 0"]]
    expect_rows(s, "a normal query", NORMAL, NORMAL_ROWS)

    # ---- ORs of 10K, 20K and 50K terms: linear, answered at once ----
    for n in (10000, 20000, 50000):
        sql = "SELECT COUNT(*) FROM t WHERE " + " OR ".join(f"added = {i}" for i in range(n))
        want = sum(1 for x in ROWS if x["added"] < n)
        expect_rows(s, f"{n}-term OR", sql, [[want]])
    sql = "SELECT COUNT(*) FROM t WHERE " + " OR ".join(f"page = 'Page {i}'" for i in range(0, 50000, 3))
    expect_rows(s, "16,667-term OR on a string column", sql, [[len(range(0, N, 3))]])

    # ---- REPEAT(page, 100000) over every row ----
    # as a string the rows need 1.7 GB: refused at the query's budget
    expect_error(s, "REPEAT(page, 100000) over every row", "SELECT REPEAT(page, 100000) FROM t",
                 400, "InvalidInput",
                 ["query memory limit exceeded", f"context.maxQueryBytes = {MAX_QUERY}",
                  "REPEAT", f"this server allows up to {MAX_QUERY}: LODESTAR_QUERY_MAX_BYTES"])
    # inside LENGTH each row's string is freed before the next: the answer
    expect_rows(s, "LENGTH(REPEAT(page, 100000)) over every row",
                "SELECT SUM(LENGTH(REPEAT(page, 100000))), MAX(LENGTH(REPEAT(page, 100000))) FROM t",
                [[sum(len(x["page"]) for x in ROWS) * 100000, 9 * 100000]],
                fast=30.0 if ASAN else 10.0)
    expect_rows(s, "WHERE over REPEAT(page, 100000)",
                "SELECT COUNT(*) FROM t WHERE LENGTH(REPEAT(page, 100000)) = 900000",
                [[sum(1 for x in ROWS if len(x["page"]) == 9)]], fast=30.0 if ASAN else 10.0)

    # ---- CONCAT of 10K arguments ----
    concat = "CONCAT(" + ", ".join(["page"] * 10000) + ")"
    expect_rows(s, "CONCAT of 10K arguments, LIMIT 1",
                f"SELECT {concat} FROM t WHERE page = 'Page 7' LIMIT 1", [["Page 7" * 10000]])
    expect_error(s, "CONCAT of 10K arguments over every row", f"SELECT {concat} FROM t", 400,
                 "InvalidInput", ["query memory limit exceeded", "context.maxQueryBytes"])

    # ---- nesting and list sizes: a 400 with line and column ----
    deep = "SELECT " + "(" * 100000 + "1" + ")" * 100000 + " FROM t"
    expect_error(s, "100K nested parentheses", deep, 400, "InvalidInput",
                 ["nested too deeply: more than 200 levels", "at line 1, column 208"])
    expect_error(s, "100K nested function calls", "SELECT " + "UPPER(" * 100000 + "page" +
                 ")" * 100000 + " FROM t", 400, "InvalidInput", ["nested too deeply"])
    inlist = "SELECT COUNT(*) FROM t WHERE added IN (" + ", ".join(str(i) for i in range(60000)) + ")"
    expect_rows(s, "a 60,000-value IN list", inlist, [[N]])
    inlist = "SELECT COUNT(*) FROM t WHERE added IN (" + ", ".join(str(i) for i in range(200000)) + ")"
    expect_error(s, "a 200,000-value IN list", inlist, 400, "InvalidInput",
                 ["too many values in one IN list: more than 65534", "at line 1, column"])
    expect_error(s, "5,000 select items", "SELECT " + ", ".join(f"added + {i}" for i in range(5000)) +
                 " FROM t", 400, "InvalidInput", ["too many terms in the SELECT list: more than 4096"])

    # ---- group-by, sort and result over a small context.maxQueryBytes ----
    small = {"maxQueryBytes": 1 << 20}
    expect_error(s, "high-cardinality GROUP BY over 1 MB",
                 "SELECT REPEAT(page, 100), added, COUNT(*) FROM t GROUP BY 1, 2", 400,
                 "InvalidInput", ["query memory limit exceeded", "context.maxQueryBytes = 1048576"],
                 context=small)
    expect_error(s, "ORDER BY without LIMIT over 4 MB",
                 "SELECT page, REPEAT(page, 500) AS x FROM t ORDER BY x DESC", 400, "InvalidInput",
                 ["context.maxQueryBytes = 4194304"], context={"maxQueryBytes": 4 << 20})
    expect_error(s, "a result over 24 MB", "SELECT REPEAT(ctl, 100) FROM t", 400, "InvalidInput",
                 ["context.maxQueryBytes = 25165824", "the response body"],
                 context={"maxQueryBytes": 24 << 20})
    expect_error(s, "context.maxQueryBytes above the server's limit", "SELECT 1", 400,
                 "InvalidInput", [f"LODESTAR_QUERY_MAX_BYTES = {MAX_QUERY}"],
                 context={"maxQueryBytes": MAX_QUERY + 1})
    expect_error(s, "a self-join whose result passes 4 MB",
                 "SELECT COUNT(*) FROM t a JOIN t b ON a.ctl = b.ctl", 400, "InvalidInput",
                 ["query memory limit exceeded", "context.maxQueryBytes = 4194304"],
                 context={"maxQueryBytes": 4 << 20})
    expect_error(s, "a cross join past 4 MB", "SELECT COUNT(*) FROM t a CROSS JOIN t b", 400,
                 "InvalidInput", ["query memory limit exceeded"], context={"maxQueryBytes": 4 << 20})
    expect_error(s, "a subquery's rows past 1 MB",
                 "SELECT COUNT(*) FROM (SELECT REPEAT(page, 100) AS p FROM t) x WHERE p <> ''", 400,
                 "InvalidInput", ["query memory limit exceeded"], context=small)
    # within their budgets the same shapes answer
    st, body, _ = query(s, "SELECT COUNT(*) FROM t a JOIN (SELECT ctl FROM t LIMIT 1) b ON a.ctl = b.ctl")
    c.eq(st, 200, "a join within the budget answers after the refused ones")
    st, body, _ = query(s, "SELECT page, REPEAT(page, 500) AS x FROM t ORDER BY x DESC LIMIT 2")
    c.eq((st, [x[0] for x in body] if st == 200 else body), (200, ["Page 9", "Page 99"]),
         "a top-N of the same sort answers")

    # ---- window functions: the rows a window sorts and the columns it adds are charged ----
    expect_error(s, "windows over long strings past 4 MB",
                 "SELECT page, ROW_NUMBER() OVER (ORDER BY REPEAT(page, 200)), "
                 "LAG(REPEAT(page, 200)) OVER (ORDER BY added) FROM t", 400, "InvalidInput",
                 ["query memory limit exceeded", "context.maxQueryBytes = 4194304"],
                 context={"maxQueryBytes": 4 << 20})
    expect_rows(s, "the same windows within the query's default budget",
                "SELECT COUNT(*), MAX(rn), MAX(LENGTH(prev)) FROM (SELECT ROW_NUMBER() OVER "
                "(ORDER BY REPEAT(page, 200)) AS rn, LAG(REPEAT(page, 200)) OVER (ORDER BY added) "
                "AS prev FROM t)", [[N, N, 9 * 200]])

    # ---- several big queries at once: the total budget answers 503, retry ----
    BIG = "SELECT COUNT(*) FROM t GROUP BY REPEAT(page, 3000)"   # ~100 MB each, alone fine
    st, body, _ = query(s, BIG)
    c.eq((st, len(body) if st == 200 else body), (200, N), "one big query alone answers")
    saw503, statuses, msgs = False, [], []
    for attempt in range(5):
        results = []

        def run():
            results.append(query(s, BIG))

        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses += [x[0] for x in results]
        msgs += [x[1].get("message", "") for x in results if x[0] == 503 and isinstance(x[1], dict)]
        c.ok(all(x[0] in (200, 503) for x in results), "concurrent big queries: 200 or 503",
             str([(x[0], str(x[1])[:200]) for x in results if x[0] not in (200, 503)]))
        c.ok(all(len(x[1]) == N for x in results if x[0] == 200), "the ones answered are right")
        if any(x[0] == 503 for x in results):
            saw503 = True
            break
    c.ok(saw503, "the total budget refused some of the concurrent queries", str(statuses))
    c.ok(all("server query memory is in use by other queries" in m and
             "LODESTAR_QUERY_TOTAL_BYTES" in m and "retry" in m for m in msgs),
         "the 503 says which limit and to retry", msgs[:1])
    c.ok(200 in statuses, "and answered others", str(statuses))

    # ---- the same server, still right, holding nothing ----
    expect_rows(s, "a normal query after all of it", NORMAL, NORMAL_ROWS)
    c.ok(s.proc.poll() is None and s.proc.pid == pid, "the same server process is still running")
    c.eq(wait_for(lambda: memory_in_use(s) == 0, timeout=5), True,
         "no query memory is held afterwards")
    c.ok("lodestar_query_memory_limit_bytes %d" % TOTAL in s.req("GET", "/metrics").raw,
         "the total budget is reported in /metrics")
    with open(f"/proc/{pid}/status") as f:   # for the log: how close to the cap it came
        print(" ".join(x.strip() for x in f if x.startswith(("VmPeak", "VmHWM"))),
              "under a cap of", "none" if ASAN else f"{CAP >> 20} MB", flush=True)
finally:
    s.stop()
c.done()
