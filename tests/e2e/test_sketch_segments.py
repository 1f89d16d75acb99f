"""
test_sketch_segments.py — a persisted segment's sketch column damaged on disk
(issue 14: "a corrupt sketch in a segment is an error for that segment, never
a crash"). Two batch jobs build an aggregate table of HLL, theta and
quantiles measures over two days (1,000 and 800 rows), one segment a day. With the server
stopped, bytes inside one row's stored HLL sketch of the first day's segment
are flipped: the row's sketch is found in the file by its bytes (the base64
SELECT * shows, decoded), so the damage is in the sketch column, not
elsewhere. Segment parts carry checksums, and the format has no part whose
bytes a checksum does not cover, so the damage cannot pass as a valid part:
what is tested is that the checksum catches it. After a restart, every query
that needs the day fails (500) naming the segment file, its interval and
allowPartialResults, every time; a query of the other day answers in full;
allowPartialResults answers without the segment and names it in the warning
header; the server keeps serving (health, other tables, new rows).
"""
import base64
import os
import time

from harness import Checks, Server

c = Checks()

INPUT = [{"name": "ts", "dataType": "string"}, {"name": "u", "dataType": "string"},
         {"name": "x", "dataType": "long"}]
MAPS = [{"columnName": "__time", "expression": "TIME_FLOOR(TIME_PARSE(\"ts\"), 'PT1H')"},
        {"columnName": "cnt", "expression": "COUNT(*)", "isAggregation": True},
        {"columnName": "u_hll", "expression": 'APPROX_COUNT_DISTINCT_DS_HLL("u")',
         "isAggregation": True},
        {"columnName": "u_theta", "expression": 'APPROX_COUNT_DISTINCT_DS_THETA("u")',
         "isAggregation": True},
        {"columnName": "x_q", "expression": 'DS_QUANTILES_SKETCH("x")', "isAggregation": True}]


def batch(table, day, n):
    data = "".join('{"ts":"2024-03-%02dT%02d:%02d:00Z","u":"user%d","x":%d}\n'
                   % (day, i % 24, i % 60, i % 300, i) for i in range(n))
    return {"type": "batch", "target": {"type": "table", "tableName": table},
            "createTableIfNotExists": True,
            "source": {"type": "inline", "data": data, "inputSchema": INPUT,
                       "formatSettings": {"format": "nd-json"}},
            "mappings": MAPS}


def q(s, sql, ctx=None):
    body = {"query": sql, "resultFormat": "array"}
    if ctx:
        body["context"] = ctx
    return s.req("POST", "/v1/query/sql", body)


def run_batch(s, table, day, n):
    r = s.req("POST", "/v2/jobs", batch(table, day, n))
    c.eq(r.status, 201, f"batch job for {table} day {day}")
    jid = r.json["id"]
    for _ in range(300):
        st = s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"]
        if st in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    c.ok(st == "succeeded", f"batch job for {table} day {day} succeeded",
         s.req("GET", f"/v2/jobs/{jid}").raw[-600:])


ALL = ("SELECT SUM(cnt), APPROX_COUNT_DISTINCT_DS_HLL(u_hll), "
       "APPROX_COUNT_DISTINCT_DS_THETA(u_theta), APPROX_QUANTILE_DS(x_q, 1) FROM sk")

with Server() as s:
    run_batch(s, "sk", 1, 1000)
    run_batch(s, "sk", 2, 800)
    c.eq(q(s, ALL).json, [[1800, 300, 300, 999.0]], "1800 rows, 300 users, max x 999")
    day1 = q(s, "SELECT u_hll FROM sk WHERE __time < TIMESTAMP '2024-03-02 00:00:00' "
                "ORDER BY __time LIMIT 1").json
    c.ok(day1 and isinstance(day1[0][0], str), "a stored HLL sketch as base64", day1)
    img = base64.b64decode(day1[0][0]) if day1 else b""
    s.stop()
    tdir = os.path.join(s.data_dir, "tables")
    segs = sorted(os.path.join(d, f) for d, _, fs in os.walk(tdir) for f in fs)
    seg = [p for p in segs if "2024-03-01" in os.path.basename(p)]
    c.ok(len(seg) == 1, "one segment file for 2024-03-01", str(segs))
    with open(seg[0], "rb") as f:
        data = f.read()
    at = data.find(img) if len(img) >= 8 else -1
    c.ok(at >= 0, "the row's HLL sketch bytes are in the segment file", (len(img), len(data)))
    if at < 0:
        at = len(data) // 2   # still damage the file, and say so above
    with open(seg[0], "r+b") as f:    # two bytes flipped inside the sketch, past its preamble
        f.seek(at + min(8, len(img) - 2))
        b = f.read(2)
        f.seek(-2, 1)
        f.write(bytes(x ^ 0xFF for x in b))
    s.start()
    name = os.path.basename(seg[0])
    for attempt in range(3):   # every time, not only the first
        r = q(s, ALL)
        c.eq(r.status, 500, f"a query over the damaged day fails (#{attempt + 1})")
        msg = (r.json or {}).get("message", "") if isinstance(r.json, dict) else r.raw
        c.ok(name in msg and "2024-03-01T00:00:00.000Z/2024-03-02T00:00:00.000Z" in msg and
             "allowPartialResults" in msg, "... naming the segment, its interval and the way out",
             msg[:500])
    r = q(s, ALL.replace("FROM sk", "FROM sk WHERE __time >= TIMESTAMP '2024-03-02 00:00:00'"))
    c.eq((r.status, r.json), (200, [[800, 300, 300, 799.0]]),
         "a query over the other day answers in full")
    r = q(s, ALL, {"allowPartialResults": True})
    c.eq((r.status, r.json), (200, [[800, 300, 300, 799.0]]),
         "allowPartialResults: 200 without the segment")
    c.ok(name in r.headers.get("X-Lodestar-Warning", ""), "... and a warning header names it",
         str(r.headers))
    # the server keeps serving: health, another table, new rows of the damaged table
    c.eq(s.req("GET", "/health").status, 200, "the server is healthy")
    run_batch(s, "other", 5, 100)
    c.eq(q(s, "SELECT SUM(cnt), APPROX_COUNT_DISTINCT_DS_THETA(u_theta) FROM other").json,
         [[100, 100]], "another table answers")
    run_batch(s, "sk", 3, 50)
    r = q(s, "SELECT SUM(cnt), APPROX_COUNT_DISTINCT_DS_HLL(u_hll) FROM sk "
             "WHERE __time >= TIMESTAMP '2024-03-03 00:00:00'")
    c.eq((r.status, r.json), (200, [[50, 50]]), "the damaged table takes and answers new rows")
c.done()
