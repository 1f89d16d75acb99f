"""
test_measures.py — measures of aggregate tables and records that must not
stop a job, through the real server.

Measures (issue 10, item 4): every aggregation into every measure type that
accepts it, declared in the table and created by the job; the job preview
(POST /v2/jobs/sample) and the real job give the same value for every
column of every row; then the same events arrive twice more, across a
restart and a compaction, and the table holds what the measure types'
combination gives (count and sums add, Min/Max keep the extreme, Latest and
Earliest the value of the latest/earliest time), checked against a
reference computed here. Pairs that would store wrong numbers (MAX into
longSum, MIN into longMax, a distinct count into longSum, AVG, a DOUBLE into longSum) are
refused by POST /v2/jobs and by the preview with a 400 naming the mapping,
the column, its measure type and what it accepts.

One bad record (item 5): in a schema-discovery job, an event with 5,000 new
fields among good ones is skipped (byReason.schema, listed in /logs, the
message naming the column limit) and the job keeps running with every good
event ingested; a mapping whose result for one event needs more memory than
a row may use (REPEATs of a huge field) skips that event (byReason.mapping)
and keeps the rest.
"""
import calendar
import json
import math
import time

from harness import Checks, Server, iso, wait_for

c = Checks()

HOUR = 3600000
BASE = (int(time.time() * 1000) // HOUR - 2) * HOUR   # an hour two hours ago: not late, one chunk

INPUT = [{"name": "ts", "dataType": "string"}, {"name": "id", "dataType": "string"},
         {"name": "city", "dataType": "string"}, {"name": "n", "dataType": "long"},
         {"name": "x", "dataType": "double"}, {"name": "seq", "dataType": "long"}]

# (column, measure type declared in the table or None for a column the job creates,
#  expression, the measure type the column ends up with)
MEASURES = [
    ("cnt", "count", "COUNT(*)", "count"),
    ("cnt_ls", "longSum", "COUNT(*)", "longSum"),
    ("cnt_f", "longSum", 'COUNT(*) FILTER (WHERE "n" > 2)', "longSum"),
    ("nn", "count", 'COUNT("n")', "count"),
    ("nn_ls", "longSum", 'COUNT("city")', "longSum"),
    ("sum_l", "longSum", 'SUM("n")', "longSum"),
    ("sum_d", "doubleSum", 'SUM("x")', "doubleSum"),
    ("sum_dl", "doubleSum", 'SUM("n")', "doubleSum"),
    ("min_l", "longMin", 'MIN("n")', "longMin"),
    ("max_l", "longMax", 'MAX("n")', "longMax"),
    ("min_d", "doubleMin", 'MIN("x")', "doubleMin"),
    ("max_d", "doubleMax", 'MAX("x")', "doubleMax"),
    ("max_dl", "doubleMax", 'MAX("n")', "doubleMax"),
    ("lat_l", "longLatest", 'LATEST("n")', "longLatest"),
    ("lat_d", "doubleLatest", 'LATEST("x")', "doubleLatest"),
    ("lat_s", "stringLatest", 'LATEST("city")', "stringLatest"),
    ("lat_sn", "stringLatest", 'LATEST("n")', "stringLatest"),
    ("ear_l", "longEarliest", 'EARLIEST("n")', "longEarliest"),
    ("ear_d", "doubleEarliest", 'EARLIEST("x")', "doubleEarliest"),
    ("ear_s", "stringEarliest", 'EARLIEST("city", 3)', "stringEarliest"),
    ("latby", "stringLatest", 'LATEST_BY("city", MILLIS_TO_TIMESTAMP("seq"))', "stringLatest"),
    ("earby", "longEarliest", 'EARLIEST_BY("n", MILLIS_TO_TIMESTAMP("seq"))', "longEarliest"),
    # columns the job creates: their type comes from the aggregation
    ("new_cnt", None, "COUNT(*)", "count"),
    ("new_sum", None, 'SUM("x")', "doubleSum"),
    ("new_min", None, 'MIN("n")', "longMin"),
    ("new_max", None, 'MAX("x")', "doubleMax"),
    ("new_lat", None, 'LATEST("city")', "stringLatest"),
    ("new_ear", None, 'EARLIEST("n")', "longEarliest"),
]


def spec(table, conn, mappings, **extra):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "source": {"type": "connection", "connectionName": conn, "inputSchema": INPUT,
                    "formatSettings": {"format": "nd-json"}},
         "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}] + mappings,
         "readFromPoint": "earliest"}
    j.update(extra)
    return j


AGG_MAPPINGS = [{"columnName": "id", "expression": "id"}] + [
    {"columnName": col, "expression": expr, "isAggregation": True}
    for col, _, expr, _ in MEASURES]


def gen(wave, n, ids):
    """n events of one wave; event k of the wave has id ids(k). Times, seq and values vary
    so that LATEST (by __time) and LATEST_BY (by seq) pick different events."""
    out = []
    for k in range(n):
        i = wave * 1000 + k
        out.append({
            "ts": iso(BASE + ((i * 7919) % 3000) * 1000 + wave),
            "id": ids(k),
            "city": None if i % 5 == 0 else ["Paris", "Oslo", "Lima", "Rome"][i % 4] + str(i % 3),
            "n": None if i % 7 == 3 else (i * 37) % 11 - 3,
            "x": None if i % 6 == 1 else ((i * 13) % 17) / 4.0 - 1.5,
            "seq": (i * 104729) % 9973,
        })
    return out


def ms(ts):
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(ts[20:23])


def reference(events):
    """What each measure holds for one group of events, by the measure types' rules."""
    def pick(key, latest, time_of):
        best = None
        for e in events:
            t = time_of(e)
            if t is None:
                continue
            if best is None or (t > best[0] if latest else t < best[0]):
                best = (t, e[key])
        return None if best is None else best[1]

    def agg(vals, f):
        vals = [v for v in vals if v is not None]
        return f(vals) if vals else None

    ts = lambda e: ms(e["ts"])
    sq = lambda e: e["seq"]
    n = [e["n"] for e in events]
    x = [e["x"] for e in events]
    lat_n = pick("n", True, ts)
    ear_city = pick("city", False, ts)
    return {
        "cnt": len(events), "cnt_ls": len(events),
        "cnt_f": len([v for v in n if v is not None and v > 2]),
        "nn": len([v for v in n if v is not None]),
        "nn_ls": len([e for e in events if e["city"] is not None]),
        "sum_l": agg(n, sum), "sum_d": agg(x, sum), "sum_dl": agg(n, lambda v: float(sum(v))),
        "min_l": agg(n, min), "max_l": agg(n, max), "min_d": agg(x, min), "max_d": agg(x, max),
        "max_dl": agg(n, lambda v: float(max(v))),
        "lat_l": lat_n, "lat_d": pick("x", True, ts), "lat_s": pick("city", True, ts),
        "lat_sn": None if lat_n is None else str(lat_n),
        "ear_l": pick("n", False, ts), "ear_d": pick("x", False, ts),
        "ear_s": None if ear_city is None else ear_city[:3],
        "latby": pick("city", True, sq), "earby": pick("n", False, sq),
        "new_cnt": len(events), "new_sum": agg(x, sum), "new_min": agg(n, min),
        "new_max": agg(x, max), "new_lat": pick("city", True, ts), "new_ear": pick("n", False, ts),
    }


def same(a, b):
    num = (int, float)
    if (isinstance(a, float) or isinstance(b, float)) and isinstance(a, num) and isinstance(b, num):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def compare(rows_by_id, want_by_id, what):
    bad = []
    for rid, want in sorted(want_by_id.items()):
        got = rows_by_id.get(rid)
        if got is None:
            bad.append(f"{rid}: missing")
            continue
        for col, v in want.items():
            if not same(got.get(col), v):
                bad.append(f"{rid}.{col}: got {got.get(col)!r}, want {v!r}")
    c.ok(not bad and len(rows_by_id) == len(want_by_id), what,
         f"{len(bad)} differences, e.g. {bad[:6]}; {len(rows_by_id)} rows")


def table_rows(s, table):
    r = s.req("POST", "/v1/query/sql", {"query": f'SELECT * FROM "{table}"'})
    rows = r.json if isinstance(r.json, list) else []
    by = {}
    for row in rows:
        if row["id"] in by:
            by[row["id"]] = "twice"
        else:
            by[row["id"]] = row
    return by


def grouped_rows(s, table):
    """Stored rows merged per id by each measure type's own combination (as a query over
    a table with best-effort rollup must)."""
    fn = {"count": "SUM", "longSum": "SUM", "doubleSum": "SUM"}
    sel = ", ".join(f'{fn.get(mt) or ("MIN" if mt.endswith("Min") else "MAX" if mt.endswith("Max") else "LATEST" if mt.endswith("Latest") else "EARLIEST")}("{col}") AS "{col}"'
                    for col, _, _, mt in MEASURES)
    r = s.req("POST", "/v1/query/sql", {"query": f'SELECT id, {sel} FROM "{table}" GROUP BY id'})
    c.eq(r.status, 200, "grouped query", )
    return {row["id"]: row for row in (r.json if isinstance(r.json, list) else [])}


def err_check(r, target, what, *has):
    c.eq(r.status, 400, f"{what}: 400")
    j = r.json or {}
    c.eq(j.get("target"), target, f"{what}: target")
    for h in has:
        c.ok(h in j.get("message", ""), f"{what}: message has {h!r}", j.get("message"))


env = {"LODESTAR_PERSIST_MAX_AGE_MS": "300", "LODESTAR_COMPACT_MS": "1500"}
s = Server(env=env)
s.start()
try:
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "agg"})
    schema = [{"name": "id", "dataType": "string"}] + [
        {"name": col, "dataType": mt} for col, mt, _, _ in MEASURES if mt]
    r = s.req("POST", "/v2/tables", {"name": "m", "type": "aggregate", "timeResolution": "hour",
                                     "schema": schema})
    c.eq(r.status, 201, "aggregate table with every measure type")

    # ---- pairs that would store wrong numbers are refused, by the job and by the preview
    def one(col, expr):
        return spec("m", "agg", [{"columnName": "id", "expression": "id"},
                                 {"columnName": col, "expression": expr, "isAggregation": True}])
    refusals = [
        ("cnt_ls", 'MAX("n")', "MAX into longSum", ["'cnt_ls'", "longSum", "COUNT(*)", "SUM(x)",
                                                    "longMax"]),
        ("max_l", 'MIN("n")', "MIN into longMax", ["'max_l'", "longMax", "MAX(x)", "longMin"]),
        ("sum_l", 'COUNT(DISTINCT "city")', "COUNT(DISTINCT) into longSum",
         ["'sum_l'", "sketch"]),
        ("sum_l", 'SUM("x")', "a DOUBLE sum into longSum", ["'sum_l'", "longSum", "DOUBLE",
                                                            "doubleSum"]),
        ("max_l", 'MAX("x")', "a DOUBLE max into longMax", ["longMax", "BIGINT", "doubleMax"]),
        ("avg", 'AVG("n")', "AVG", ["'avg'", "average"]),
        ("lat_l", 'LATEST("city")', "a string into longLatest", ["longLatest", "VARCHAR"]),
        ("mn", 'MIN("city")', "MIN of a string into a new column", ["'mn'", "VARCHAR"]),
        ("cnt", 'SUM("n")', "SUM into count", ["'cnt'", "count", "COUNT(*)"]),
    ]
    for col, expr, what, has in refusals:
        err_check(s.req("POST", "/v2/jobs", one(col, expr)), "mappings[2].expression", what, *has)
        body = dict(one(col, expr), sample={"data": "{}"})
        err_check(s.req("POST", "/v2/jobs/sample", body), "mappings[2].expression",
                  what + " (preview)", *has)
    err_check(s.req("POST", "/v2/jobs", spec("m", "agg", [
        {"columnName": "id", "expression": "COUNT(*)", "isAggregation": True}])),
        "mappings[1].isAggregation", "an aggregation into a dimension", "'id'", "dimension")
    made = s.req("GET", "/v2/jobs").json["values"]
    c.eq(len(made), 0, "no job was created by a refused spec")
    for j in made:   # (so that a failure here leaves the rest of the test meaningful)
        s.req("PUT", f"/v2/jobs/{j['id']}", {"desiredExecutionStatus": "canceled"})

    # ---- the preview and the real job agree, value by value, for every aggregation
    wave1 = gen(0, 60, lambda k: f"e{k}")
    data = "\n".join(json.dumps(e) for e in wave1)
    r = s.req("POST", "/v2/jobs/sample", dict(spec("m", "agg", AGG_MAPPINGS),
                                               sample={"data": data, "limit": 100}))
    c.eq(r.status, 200, "preview of every aggregation")
    prev = {}
    if r.status == 200:
        types = {x["name"]: x["dataType"] for x in r.json["schema"]}
        c.eq({col: types.get(col) for col, _, _, _ in MEASURES},
             {col: mt for col, _, _, mt in MEASURES}, "preview schema: each measure's type")
        for row in r.json["rows"]:
            c.eq(row["outcome"], "processed", "preview row processed")
            prev[row["output"]["id"]] = row["output"]
    compare(prev, {e["id"]: reference([e]) for e in wave1}, "preview values are the measures' own")

    r = s.req("POST", "/v2/jobs", spec("m", "agg", AGG_MAPPINGS))
    c.eq(r.status, 201, "job with every aggregation")
    jid = (r.json or {}).get("id")
    s.req("POST", "/v1/events/agg", raw_body=data + "\n")
    c.ok(wait_for(lambda: s.req("GET", "/v2/tables/m").json["status"]["rowCount"] == 60),
         "60 rows ingested", s.req("GET", "/v2/tables/m").json["status"])
    got = table_rows(s, "m")
    want = {rid: {col: row.get(col) for col, _, _, _ in MEASURES} for rid, row in prev.items()}
    compare(got, want, "the table holds what the preview showed, for every aggregation")
    t = s.req("GET", "/v2/tables/m").json
    types = {x["name"]: (x["dataType"], x["columnType"]) for x in t["schema"]}
    c.eq({col: types.get(col) for col, _, _, _ in MEASURES},
         {col: (mt, "measure") for col, _, _, mt in MEASURES},
         "columns the job created got the measure type of their aggregation")

    # ---- rollup: realtime, persist, a restart, compaction, and a restart again
    wave2 = gen(1, 60, lambda k: f"e{k % 12}")
    s.req("POST", "/v1/events/agg", raw_body="\n".join(json.dumps(e) for e in wave2) + "\n")
    events = wave1 + wave2

    def expect():
        groups = {}
        for e in events:
            groups.setdefault(e["id"], []).append(e)
        return {rid: reference(g) for rid, g in groups.items()}

    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}/metrics").json["totals"]
                  ["numRowsProcessed"] == 120), "second wave processed")
    compare(grouped_rows(s, "m"), expect(), "rollup gives each measure type's combination")
    c.ok(wait_for(lambda: s.req("GET", "/v2/tables/m").json["status"]["segmentCount"] >= 1),
         "persisted")
    rc, _ = s.stop()
    s.start()
    wave3 = gen(2, 60, lambda k: f"e{(k * 5) % 17}")
    s.req("POST", "/v1/events/agg", raw_body="\n".join(json.dumps(e) for e in wave3) + "\n")
    events += wave3
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}/metrics").json["totals"]
                  ["numRowsProcessed"] == 180, timeout=30), "third wave processed")
    st = wait_for(lambda: (lambda x: x if x["segmentCount"] == 1 and x["rowCount"] == 60
                           else None)(s.req("GET", "/v2/tables/m").json["status"]), timeout=30)
    c.ok(st is not None, "persisted and compacted into one segment",
         s.req("GET", "/v2/tables/m").json["status"])
    compare(table_rows(s, "m"), expect(), "after persist and compaction: one row per id")
    compare(grouped_rows(s, "m"), expect(), "after persist and compaction: grouped")
    s.stop()
    s.start()
    compare(table_rows(s, "m"), expect(), "after a restart")
    c.eq(s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"], "running", "job still running")

    # ---- one event with 5,000 new fields in a discovery job: skipped, the job goes on
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "wide"})
    r = s.req("POST", "/v2/jobs", {
        "type": "streaming", "target": {"type": "table", "tableName": "wide"},
        "createTableIfNotExists": True, "useSchemaDiscovery": True,
        "source": {"type": "connection", "connectionName": "wide",
                   "inputSchema": [{"name": "ts", "dataType": "string"}],
                   "formatSettings": {"format": "nd-json"}},
        "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}],
        "readFromPoint": "earliest"})
    c.eq(r.status, 201, "discovery job")
    wid = (r.json or {}).get("id")
    good = [json.dumps({"ts": iso(BASE + i), "page": f"p{i}", "k": i}) for i in range(200)]
    bomb = {"ts": iso(BASE), "page": "bomb"}
    bomb.update({f"f{i}": i for i in range(5000)})
    lines = good[:100] + [json.dumps(bomb)] + good[100:]
    r = s.req("POST", "/v1/events/wide", raw_body="\n".join(lines) + "\n")
    c.eq(r.json.get("accepted") if r.json else r.raw, 201, "the events are accepted")
    rows = lambda: s.req("GET", "/v2/tables/wide").json["status"]["rowCount"]
    c.ok(wait_for(lambda: rows() == 200), "every good event is ingested", str(rows()))
    m = wait_for(lambda: (lambda j: j if j["totals"]["numRowsSkippedByError"] == 1 else None)(
        s.req("GET", f"/v2/jobs/{wid}/metrics").json), timeout=10)
    c.ok(m and m["totals"]["byReason"].get("schema") == 1 and
         m["totals"]["numRowsProcessed"] == 200,
         "the event is skippedByError with reason schema",
         s.req("GET", f"/v2/jobs/{wid}/metrics").raw)
    c.eq(s.req("GET", f"/v2/jobs/{wid}").json["executionStatus"], "running", "the job runs on")
    logs = s.req("GET", f"/v2/jobs/{wid}/logs").json["values"]
    sch = [e for e in logs if e["reason"] == "schema"]
    c.ok(len(sch) == 1 and "4095" in sch[0]["message"] and "5000" in sch[0]["message"],
         "/logs lists it, naming the column limit", sch[:1])
    cols = [x["name"] for x in s.req("GET", "/v2/tables/wide").json["schema"]]
    c.eq(sorted(cols), ["__time", "k", "page"], "the skipped event added no column")
    # a later event with two of those fields fits: they become columns
    r = s.req("POST", "/v1/events/wide",
              raw_body=json.dumps({"ts": iso(BASE), "page": "two", "f1": 1, "f2": 2}) + "\n")
    c.ok(wait_for(lambda: rows() == 201), "an event with a few of its fields is ingested")
    cols = [x["name"] for x in s.req("GET", "/v2/tables/wide").json["schema"]]
    c.ok("f1" in cols and "f2" in cols and "f3" not in cols, "and adds just those columns", cols)

    # fields that cannot be columns (storage refuses the name, or the table has a measure of
    # that name the job does not map): the event is kept with a warning, without them
    r = s.req("POST", "/v1/events/wide", raw_body="\n".join(json.dumps(e) for e in [
        {"ts": iso(BASE), "page": "slash", "a/b": 1},
        {"ts": iso(BASE), "page": "reserved", "__x": 2, "__time": 3}]) + "\n")
    c.ok(wait_for(lambda: rows() == 203), "events with unusable field names are ingested")
    cols = [x["name"] for x in s.req("GET", "/v2/tables/wide").json["schema"]]
    c.ok("a/b" not in cols and "__x" not in cols, "without those fields", cols)
    logs = s.req("GET", f"/v2/jobs/{wid}/logs").json["values"]
    warned = [e["message"] for e in logs if e["outcome"] == "processedWithWarnings"]
    c.ok(any("'a/b'" in m for m in warned) and any("'__x'" in m for m in warned),
         "each is named in /logs", warned)
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "agg2"})
    s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "canceled"})
    r = s.req("POST", "/v2/jobs", spec("m", "agg2", [{"columnName": "id", "expression": "id"}],
                                       useSchemaDiscovery=True))
    c.eq(r.status, 201, "a discovery job on the aggregate table")
    did = (r.json or {}).get("id")
    ev = dict(wave1[0], id="named", sum_l=5, extra="e")
    s.req("POST", "/v1/events/agg2", raw_body=json.dumps(ev) + "\n")
    c.ok(wait_for(lambda: "named" in table_rows(s, "m")), "an event with a field named like "
         "a measure is ingested", s.req("GET", f"/v2/jobs/{did}").json.get("health"))
    c.eq(s.req("GET", f"/v2/jobs/{did}").json["executionStatus"], "running",
         "and the job runs on")

    # ---- a mapping whose result for one event is too big: that event is skipped
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "rep"})
    big = "CONCAT(" + ", ".join(['REPEAT("s", 160)'] * 40) + ")"
    r = s.req("POST", "/v2/jobs", {
        "type": "streaming", "target": {"type": "table", "tableName": "rep"},
        "createTableIfNotExists": True,
        "source": {"type": "connection", "connectionName": "rep",
                   "inputSchema": [{"name": "ts", "dataType": "string"},
                                   {"name": "s", "dataType": "string"}],
                   "formatSettings": {"format": "nd-json"}},
        "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                     {"columnName": "big", "expression": big},
                     {"columnName": "s", "expression": "LEFT(s, 10)"}],
        "readFromPoint": "earliest"})
    c.eq(r.status, 201, "job with a REPEAT mapping")
    rid = (r.json or {}).get("id")
    good = [json.dumps({"ts": iso(BASE + i), "s": f"v{i}"}) for i in range(100)]
    huge = json.dumps({"ts": iso(BASE), "s": "h" * 100000})
    s.req("POST", "/v1/events/rep", raw_body="\n".join(good[:50] + [huge] + good[50:]) + "\n")
    rows = lambda: s.req("GET", "/v2/tables/rep").json["status"]["rowCount"]
    c.ok(wait_for(lambda: rows() == 100), "every other event is ingested", str(rows()))
    m = wait_for(lambda: (lambda j: j if j["totals"]["numRowsSkippedByError"] == 1 else None)(
        s.req("GET", f"/v2/jobs/{rid}/metrics").json), timeout=10)
    c.ok(m and m["totals"]["byReason"].get("mapping") == 1, "the huge one is skipped (mapping)",
         s.req("GET", f"/v2/jobs/{rid}/metrics").raw)
    c.eq(s.req("GET", f"/v2/jobs/{rid}").json["executionStatus"], "running", "that job runs on")
    logs = s.req("GET", f"/v2/jobs/{rid}/logs").json["values"]
    mp = [e for e in logs if e["reason"] == "mapping"]
    c.ok(len(mp) == 1 and "'big'" in mp[0]["message"] and "32 MB" in mp[0]["message"],
         "/logs names the mapping and the limit", mp[:1] and mp[0]["message"])
    r = s.req("POST", "/v1/query/sql", {"query": "SELECT COUNT(*) AS n, MAX(LENGTH(big)) AS l "
                                                 "FROM rep", "resultFormat": "array"})
    c.eq(r.json, [[100, 3 * 160 * 40]], "the good rows hold their values")
finally:
    s.stop()
    s.__exit__()
c.done()
