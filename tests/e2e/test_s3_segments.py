"""
test_s3_segments.py — `lodestar serve --segments s3://BUCKET/PREFIX`
against a real S3-compatible store: s3rver (npm, tests/e2e/s3/s3rver.js)
on a free loopback port over a temporary directory, one s3rver and one
server for the whole file.

  1. a push connection and a streaming job ingest 3,000 events; once the
     catalog has committed all of them, every committed segment is an object
     under PREFIX/<table id>/ (and nothing else is); kill -9, the local
     segment cache (DATA/tables) deleted, restart: COUNT(*) and SUM are
     exact, answered from segments downloaded again from the store.
  2. the store stops during ingestion: persists fail and are retried (the
     server says so), the 2,000 events pushed meanwhile are acknowledged;
     the store comes back on the same port and directory: the count is
     exact (nothing acknowledged is lost, nothing doubled) and the new
     segments are objects.
  3. a bucket that does not exist: the server refuses to start and says
     which bucket and how to fix it.
s3rver accepts any secret for its one access key id (S3RVER), so bad
credentials are tested in tests/unit/test_s3.c against a SigV4-verifying
proxy, not here.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time

from harness import BIN, S3_ENV, Checks, S3rver, Server, free_port, iso, wait_for

c = Checks()
T0 = time.time()

BUCKET, PREFIX = "lake", "prod/segs"
SCHEMA = [{"name": "ts", "dataType": "string"}, {"name": "n", "dataType": "long"}]
MAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
        {"columnName": "n", "expression": "n"}]


def lines(first, n):
    now = int(time.time() * 1000)
    return "\n".join(json.dumps({"ts": iso(now - (i % 1000)), "n": i})
                     for i in range(first, first + n)) + "\n"


def expect(first, n):
    return [n, sum(range(first, first + n))]


def count_sum(s, table):
    r = s.req("POST", "/v1/query/sql", {"query": f'SELECT COUNT(*), SUM(n) FROM "{table}"',
                                        "resultFormat": "array"})
    if r.status != 200 or not isinstance(r.json, list) or not r.json:
        return None
    return [r.json[0][0], r.json[0][1] or 0]


def committed(s, table):
    """(rows, segment file names) the catalog has committed for the table."""
    db = sqlite3.connect(f"file:{os.path.join(s.data_dir, 'catalog.db')}?mode=ro", uri=True,
                         timeout=5)
    try:
        rows = db.execute("SELECT path, rows FROM segment WHERE table_name = ?",
                          (table,)).fetchall()
    finally:
        db.close()
    return sum(r for _, r in rows), {os.path.basename(p) for p, _ in rows}


def table_id(s):
    ids = os.listdir(os.path.join(s.data_dir, "tables"))
    return ids[0] if len(ids) == 1 else None


def push(s, first, n):
    r = s.req("POST", "/v1/events/web", raw_body=lines(first, n))
    return r.status == 200 and r.json.get("accepted") == n


store = S3rver(BUCKET).start()
ENV = {**S3_ENV, "LODESTAR_PERSIST_MAX_ROWS": "700", "LODESTAR_PERSIST_MAX_AGE_MS": "300",
       "LODESTAR_COMPACT_MS": "3600000"}
ARGS = ["--segments", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint",
        f"http://127.0.0.1:{store.port}", "--segment-cache-size", "64M"]
s = Server(extra_args=ARGS, env=ENV)
try:
    s.start()
    c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status, 201,
         "push connection")
    job = {"type": "streaming", "target": {"type": "table", "tableName": "ev"},
           "createTableIfNotExists": True,
           "source": {"type": "connection", "connectionName": "web", "inputSchema": SCHEMA,
                      "formatSettings": {"format": "nd-json"}},
           "mappings": MAPS}
    r = s.req("POST", "/v2/jobs", job)
    c.eq(r.status, 201, "streaming job")
    jid = r.json.get("id")
    wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json.get("executionStatus") == "running")

    # ---- 1. persisted to the store; the cache deleted; answered from the store ----
    c.ok(all(push(s, k * 500, 500) for k in range(6)), "3000 events acknowledged")
    got = wait_for(lambda: committed(s, "ev")[0] == 3000, timeout=30)
    c.ok(got, "the catalog commits all 3000 rows", str(committed(s, "ev")))
    tid = table_id(s)
    c.ok(tid is not None, "one table directory (the cache)")
    rows, names = committed(s, "ev")
    objs = store.objects(f"{PREFIX}/{tid}")
    c.eq(objs, {f"{PREFIX}/{tid}/{n}" for n in names},
         "every committed segment is an object under PREFIX/<table id>/, and nothing else")
    c.ok(len(names) >= 2, f"several segments ({len(names)})")
    c.eq(count_sum(s, "ev"), expect(0, 3000), "3000 rows before the kill")
    s.kill9()
    cache = os.path.join(s.data_dir, "tables")
    shutil.rmtree(cache)
    s.start()
    c.eq(wait_for(lambda: count_sum(s, "ev") == expect(0, 3000), timeout=30) and
         count_sum(s, "ev"), expect(0, 3000),
         "after kill -9 and the cache deleted: COUNT and SUM exact")
    cached = set(os.listdir(os.path.join(cache, tid))) if os.path.isdir(
        os.path.join(cache, tid)) else set()
    c.ok(names <= cached, "the segments were downloaded again into the cache",
         f"{sorted(names)} vs {sorted(cached)}")

    # ---- 2. the store goes away during ingestion, then comes back ----
    store.stop()
    log_at = len(s.log_text())
    c.ok(all(push(s, 3000 + k * 500, 500) for k in range(4)),
         "2000 events acknowledged while the store is down")
    # the client retries a request with backoff (6 attempts, ~6 s); then the persist fails,
    # the job says why, and the persister tries again later
    retried = wait_for(lambda: "cannot reach" in s.log_text()[log_at:], timeout=30)
    c.ok(retried, "the upload is retried on the unreachable store",
         s.log_text()[log_at:][-1500:])
    failed = wait_for(lambda: "after 6 attempts" in s.log_text()[log_at:], timeout=60)
    c.ok(failed, "then the persist fails, naming the store and what to check",
         s.log_text()[log_at:][-1500:])
    c.ok("--s3-endpoint" in s.log_text()[log_at:], "the message says what to check")
    c.eq(wait_for(lambda: count_sum(s, "ev") == expect(0, 5000)) and count_sum(s, "ev"),
         expect(0, 5000), "buffered rows are queryable meanwhile")
    store.start()
    got = wait_for(lambda: committed(s, "ev")[0] == 5000, timeout=60)
    c.ok(got, "after the store is back the persists go through", str(committed(s, "ev")[0]))
    c.ok("persisting works again" in s.log_text()[log_at:], "the job says persisting works again")
    c.eq(count_sum(s, "ev"), expect(0, 5000), "exactly 5000 rows: nothing lost or doubled")
    rows, names = committed(s, "ev")
    c.ok({f"{PREFIX}/{tid}/{n}" for n in names} <= store.objects(f"{PREFIX}/{tid}"),
         "every committed segment is an object")
    s.kill9()
    s.start()
    c.eq(wait_for(lambda: count_sum(s, "ev") == expect(0, 5000), timeout=30) and
         count_sum(s, "ev"), expect(0, 5000), "and still 5000 after another kill -9")
    s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "canceled"})
    wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json.get("executionStatus") == "canceled")
    r = s.req("DELETE", "/v2/tables/ev")
    c.ok(r.status in (200, 202, 204), "table dropped", f"{r.status} {r.raw[:300]}")
    c.ok(wait_for(lambda: not store.objects(f"{PREFIX}/{tid}"), timeout=20),
         "a dropped table's objects are deleted from the store",
         str(sorted(store.objects(f"{PREFIX}/{tid}"))[:5]))
    s.stop()

    # ---- bad flags: said at start, with what to write ----
    for args, want in ((["--segments", "gs://b/x"], "not an s3:// URL"),
                       (["--segments", "s3://Lake_1/x"], "bucket names hold only"),
                       (["--segments", "s3://lake/x", "--segment-cache-size", "10Q"],
                        "--segment-cache-size '10Q' is not a size")):
        p = subprocess.run([BIN, "serve", "--data-dir", s.data_dir, "--listen",
                            f"127.0.0.1:{free_port()}"] + args,
                           env=dict(os.environ, **ENV), capture_output=True, timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        c.ok(p.returncode != 0 and want in err, f"{args}: refused, saying {want!r}", err[-400:])

    # ---- 3. a bucket that does not exist ----
    bad_dir = tempfile.mkdtemp(prefix="lodestar-e2e-")
    p = subprocess.run([BIN, "serve", "--data-dir", bad_dir, "--listen",
                        f"127.0.0.1:{free_port()}", "--segments", "s3://no-such-bucket/x",
                        "--s3-endpoint", f"http://127.0.0.1:{store.port}"],
                       env=dict(os.environ, **ENV), capture_output=True, timeout=60)
    log = p.stderr.decode("utf-8", "replace")
    c.eq(p.returncode, 1, "a server over a missing bucket does not start")
    c.ok("s3://no-such-bucket/x/" in log and "NoSuchBucket" in log and "create it" in log,
         "a missing bucket: the server says which and how to fix it", log[-600:])
    shutil.rmtree(bad_dir, ignore_errors=True)
finally:
    if s.proc:
        s.stop()
    if not os.environ.get("LODESTAR_KEEP"):
        shutil.rmtree(s.data_dir, ignore_errors=True)
    store.remove()

print(f"test_s3_segments: {time.time() - T0:.1f} s")
c.done()
