"""
test_multivalue.py — multi-value string columns end to end: a detail and an
aggregate table declare {"dataType": "string", "multiValueHandling": ...};
JSON arrays pushed through a push connection become lists of values (sorted,
SORTED_ARRAY; de-duplicated, SORTED_SET); queries give Druid's answers
(filters match any value, GROUP BY explodes, rollup keys on the whole list)
from realtime rows, after a persist (clean restart) and after kill -9 and a
restart, scalar functions over the column included (UPPER(tags) maps over
its values: a group per value, a filter that holds for any); hostile values
(a nested array, an array of objects, a huge array, mixed types) each get
their defined outcome; the table API checks the request shape.
"""
import json
import time

from harness import Checks, Server, iso, wait_for

c = Checks()
T0 = int(time.time() * 1000) - 3600 * 1000

# (tags as pushed, what the detail table stores: sorted, None for no values)
ROWS = [
    (["b", "a"], ["a", "b"]),
    (["c", "b", "b"], ["b", "b", "c"]),
    ("a", ["a"]),
    ([], None),
    (None, None),
    ([2, "x", True, None, 1.5], [None, "1.5", "2", "true", "x"]),
    (["", "d"], ["", "d"]),
    (["a", "b"], ["a", "b"]),
]
# hostile values: stored as no values, with a warning that says why
HOSTILE = [[["x", "y"], "z"], [{"k": 1}, "a"], ["v"] * 70000]


def events(rows, start):
    out = []
    for i, (tags, _) in enumerate(rows):
        e = {"ts": iso(T0 + (start + i) * 1000), "n": start + i}
        if tags is not None:
            e["tags"] = tags
        out.append(json.dumps(e))
    return "\n".join(out) + "\n"


def job(table, mappings):
    return {"type": "streaming", "target": {"type": "table", "tableName": table},
            "source": {"type": "connection", "connectionName": "web",
                       "inputSchema": [{"name": "ts", "dataType": "string"},
                                       {"name": "tags", "dataType": "string"},
                                       {"name": "n", "dataType": "long"}],
                       "formatSettings": {"format": "nd-json"}},
            "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}] + mappings,
            "readFromPoint": "earliest"}


def sql(s, q):
    r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array"})
    return r.json if r.status == 200 else (r.status, r.raw)


def multiset(rows):
    return sorted(json.dumps(x) for x in rows)


def expected(stored):
    """The answers the queries below must give for these stored lists."""
    # Druid shows one value as a string, several as an array
    det = sorted([[n, tags[0] if tags and len(tags) == 1 else tags] for n, tags in stored],
                 key=lambda r: r[0])
    groups = {}
    for _, tags in stored:
        for v in (tags or [None]):
            groups[v] = groups.get(v, 0) + 1
    per_list = {}
    for _, tags in stored:
        k = json.dumps(tags)
        per_list[k] = per_list.get(k, 0) + 1
    upper = {}  # UPPER(tags) maps over the values: a group per upper-cased value
    for _, tags in stored:
        for v in (tags or [None]):
            u = v.upper() if v is not None else None
            upper[u] = upper.get(u, 0) + 1
    has_b = sum(1 for _, t in stored if t and "b" in t)
    none = sum(1 for _, t in stored if not t)
    return {"rows": det, "groups": multiset([[k, v] for k, v in groups.items()]),
            "lists": multiset([[json.loads(k), v] for k, v in per_list.items()]),
            "b": has_b, "none": none,
            "upper": multiset([[k, v] for k, v in upper.items()]),
            "upper_b": sorted([n] for n, t in stored if t and "b" in t)}


def answers(s):
    return {
        "rows": sql(s, "SELECT n, tags FROM mvd ORDER BY n"),
        "groups": multiset(sql(s, "SELECT tags, COUNT(*) FROM mvd GROUP BY tags")),
        "lists": multiset(sql(s, "SELECT MV_TO_ARRAY(tags), SUM(cnt) FROM mva GROUP BY 1")),
        "b": sql(s, "SELECT SUM(cnt) FROM mva WHERE tags = 'b'")[0][0],
        "none": sql(s, "SELECT COUNT(*) FROM mvd WHERE tags IS NULL")[0][0],
        "upper": multiset(sql(s, "SELECT UPPER(tags), COUNT(*) FROM mvd GROUP BY 1")),
        "upper_b": sql(s, "SELECT n FROM mvd WHERE UPPER(tags) = 'B' ORDER BY n"),
    }


s = Server()
s.start()
try:
    # ---- the request shape: a string column with Druid's multiValueHandling
    bad = s.req("POST", "/v2/tables", {"name": "bad", "schema": [
        {"name": "x", "dataType": "long", "multiValueHandling": "SORTED_ARRAY"}]})
    c.eq(bad.status, 400, "multiValueHandling on a long column: 400")
    c.ok("only a string dimension can be multi-value" in bad.raw, "the 400 says why", bad.raw)
    bad = s.req("POST", "/v2/tables", {"name": "bad", "schema": [
        {"name": "x", "dataType": "string", "multiValueHandling": "SORTED"}]})
    c.eq(bad.status, 400, "an unknown multiValueHandling: 400")
    c.ok("SORTED_ARRAY" in bad.raw, "the 400 lists the choices", bad.raw)
    r = s.req("POST", "/v2/tables", {"name": "mvd", "schema": [
        {"name": "tags", "dataType": "string", "multiValueHandling": "SORTED_ARRAY"},
        {"name": "n", "dataType": "long"}]})
    c.eq((r.status, r.raw if r.status != 201 else ""), (201, ""), "detail table with a multi-value column")
    col = [x for x in r.json["schema"] if x["name"] == "tags"]
    c.eq(col and col[0].get("multiValueHandling"), "SORTED_ARRAY", "the table shows the handling")
    r = s.req("POST", "/v2/tables", {"name": "mva", "type": "aggregate", "timeResolution": "day",
                                     "schema": [{"name": "tags", "dataType": "string",
                                                 "multiValueHandling": "SORTED_ARRAY"},
                                                {"name": "cnt", "dataType": "count"}]})
    c.eq((r.status, r.raw if r.status != 201 else ""), (201, ""), "aggregate table with a multi-value column")
    r = s.req("POST", "/v2/tables", {"name": "mvs", "schema": [
        {"name": "tags", "dataType": "string", "multiValueHandling": "SORTED_SET"}]})
    c.eq(r.status, 201, "a SORTED_SET column")
    r = s.req("POST", "/v2/tables", {"name": "mvo", "schema": [
        {"name": "tags", "dataType": "string", "multiValueHandling": "ARRAY"},
        {"name": "n", "dataType": "long"}]})
    c.eq(r.status, 201, "an ARRAY (as ingested) column")
    r = s.req("PUT", "/v2/tables/mvd", {"name": "mvd", "schema": [
        {"name": "tags", "dataType": "string"}]})
    c.eq(r.status, 400, "a multi-value column cannot become single-valued")

    c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status, 201,
         "push connection")
    jobs = [
        s.req("POST", "/v2/jobs", job("mvd", [{"columnName": "tags", "expression": '"tags"'},
                                              {"columnName": "n", "expression": '"n"'}])),
        s.req("POST", "/v2/jobs", job("mva", [{"columnName": "tags", "expression": '"tags"'},
                                              {"columnName": "cnt", "expression": "COUNT(*)",
                                               "isAggregation": True}])),
        s.req("POST", "/v2/jobs", job("mvs", [{"columnName": "tags", "expression": '"tags"'}])),
        s.req("POST", "/v2/jobs", job("mvo", [{"columnName": "tags", "expression": '"tags"'},
                                              {"columnName": "n", "expression": '"n"'}])),
        # a table without multi-value columns keeps today's behaviour: the text as written
        s.req("POST", "/v2/jobs", dict(
            job("plain", [{"columnName": "raw", "expression": '"tags"'},
                          {"columnName": "n", "expression": '"n"'},
                          {"columnName": "made", "expression": "ARRAY['b', 'a']"}]),
            createTableIfNotExists=True)),
    ]
    for j in jobs:
        c.eq((j.status, j.raw if j.status != 201 else ""), (201, ""), "job")
    jid = jobs[0].json["id"]

    r = s.req("POST", "/v1/events/web", raw_body=events(ROWS, 0))
    c.eq(r.json.get("accepted"), len(ROWS), "events accepted")
    stored = [(i, want) for i, (_, want) in enumerate(ROWS)]

    def count(t):
        return s.req("GET", f"/v2/tables/{t}").json["status"]["rowCount"]

    c.eq(wait_for(lambda: count("mvd") == len(ROWS)), True, "detail rows ingested")
    c.eq(wait_for(lambda: count("mvs") == len(ROWS)), True, "set rows ingested")
    c.eq(wait_for(lambda: sql(s, "SELECT SUM(cnt) FROM mva")[0][0] == len(ROWS)), True,
         "aggregate rows ingested")
    c.eq(count("mva"), len(ROWS) - 2, "rollup: [b,a] = [a,b], [] = no tags")

    want = expected(stored)
    got = answers(s)
    for k in want:
        c.eq(got[k], want[k], f"realtime: {k}")
    c.eq(sql(s, "SELECT tags FROM mvs WHERE MV_LENGTH(tags) = 2 ORDER BY 1"),
         [[["", "d"]], [["a", "b"]], [["a", "b"]], [["b", "c"]]], "SORTED_SET drops duplicates")
    c.eq(sql(s, "SELECT n FROM mvd WHERE tags LIKE 'x%' OR tags IN ('c') ORDER BY n"), [[1], [5]],
         "LIKE and IN match any value")
    c.eq(wait_for(lambda: count("mvo") == len(ROWS)), True, "ARRAY-handling rows ingested")
    c.eq(sql(s, "SELECT tags FROM mvo WHERE n IN (0, 1) ORDER BY n"),
         [[["b", "a"]], [["c", "b", "b"]]], "ARRAY handling keeps the order as ingested")
    c.eq(wait_for(lambda: count("plain") == len(ROWS)), True, "plain rows ingested")
    c.eq(sql(s, "SELECT raw, made FROM plain WHERE n = 0"), [['["b", "a"]', ["b", "a"]]],
         "no multi-value column: a string field's array stays its text, unsorted; an ARRAY "
         "expression makes a typed array (arrayIngestMode array, Druid's default)")
    c.eq(sql(s, "SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'plain' "
                "AND COLUMN_NAME IN ('raw', 'made') ORDER BY COLUMN_NAME"),
         [["VARCHAR ARRAY"], ["VARCHAR"]], "their columns: VARCHAR ARRAY and VARCHAR")

    # ---- hostile values: no values stored, counted as processed with a warning
    r = s.req("POST", "/v1/events/web",
              raw_body=events([(h, None) for h in HOSTILE], len(ROWS)))
    c.eq(r.json.get("accepted"), len(HOSTILE), "hostile events accepted")
    stored += [(len(ROWS) + i, None) for i in range(len(HOSTILE))]
    c.eq(wait_for(lambda: count("mvd") == len(stored)), True, "hostile rows stored")
    m = wait_for(lambda: (lambda j: j if j["totals"]["numRowsProcessedWithWarnings"] >= 3
                          else None)(s.req("GET", f"/v2/jobs/{jid}/metrics").json))
    c.ok(m is not None, "the three hostile rows count as processed with warnings",
         s.req("GET", f"/v2/jobs/{jid}/metrics").raw)
    logs = s.req("GET", f"/v2/jobs/{jid}/logs").json["values"]
    msgs = " | ".join(e.get("message", "") for e in logs)
    for why in ("a nested array or object", "more values than fit"):
        c.ok(why in msgs, f"the logs say why: {why}", msgs[:600])
    c.eq(sql(s, "SELECT COUNT(*) FROM mvd WHERE n >= 8 AND tags IS NULL"), [[3]],
         "hostile rows have no values")

    want = expected(stored)
    # ---- after a persist (a clean stop persists), the same answers from segments
    rc, _ = s.stop()
    c.eq(rc, 0, "clean stop")
    s.start()
    c.ok(s.req("GET", "/v2/tables/mvd").json["status"]["segmentCount"] >= 1, "persisted")
    got = answers(s)
    for k in want:
        c.eq(got[k], want[k], f"after a persist: {k}")

    # ---- more rows, kill -9, restart: re-read from the push log, same answers
    more = [(["e", "a"], ["a", "e"]), ("b", ["b"])]
    r = s.req("POST", "/v1/events/web", raw_body=events(more, len(stored)))
    stored += [(len(stored) + i, w) for i, (_, w) in enumerate(more)]
    c.eq(wait_for(lambda: count("mvd") == len(stored)), True, "rows before kill -9")
    # mva is fed by its own job on the same connection: it may come a moment later
    c.eq(wait_for(lambda: sql(s, "SELECT SUM(cnt) FROM mva")[0][0] == len(stored)), True,
         "aggregate rows before kill -9")
    want = expected(stored)
    got = answers(s)
    for k in want:
        c.eq(got[k], want[k], f"segments + realtime: {k}")
    s.kill9()
    s.start()
    c.eq(wait_for(lambda: count("mvd") == len(stored), timeout=20), True,
         "rows after kill -9 and restart")
    c.eq(wait_for(lambda: sql(s, "SELECT SUM(cnt) FROM mva")[0][0] == len(stored)), True,
         "aggregate rows after kill -9")
    got = answers(s)
    for k in want:
        c.eq(got[k], want[k], f"after kill -9: {k}")
    c.eq(sql(s, "SELECT tag, COUNT(*) FROM mvd CROSS JOIN UNNEST(mvd.tags) AS u(tag) "
                "WHERE tag = 'a' GROUP BY tag"), [["a", 4]], "UNNEST over the column")
finally:
    s.stop()
    s.__exit__()
c.done()
