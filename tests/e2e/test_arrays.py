"""
test_arrays.py — typed ARRAY columns end to end, through a real `lodestar
serve` fed from a real Kafka-protocol broker (`lodestar dev-kafka`, kcat):
a strict detail table and an aggregate table declare ARRAY<LONG>,
ARRAY<STRING> and ARRAY<DOUBLE> columns; queries give Druid's ARRAY answers
(= compares whole arrays, ARRAY_CONTAINS tests elements, GROUP BY groups
whole arrays, UNNEST explodes them, NULL is not []) from realtime rows,
after a persist (clean restart) and after kill -9 and a restart; hostile
values (an element of the wrong type, nested arrays, a huge array) each get
their outcome and a warning that says why; schema discovery makes arrays of
primitives ARRAY columns of their element type and keeps arrays of objects
JSON, and the discovered types survive a restart; the table API checks the
request shape.
"""
import json
import subprocess
import time

from harness import Checks, DevKafka, Server, iso, wait_for

c = Checks()
T0 = int(time.time() * 1000) - 3600 * 1000
MISSING = object()

# (la, sa, da as produced) and what the table stores (None: a NULL array)
ROWS = [
    (([1, 2], ["a", "b"], [0.5]), ([1, 2], ["a", "b"], [0.5])),
    (([2, 1], ["b", "a"], [1.5, 2]), ([2, 1], ["b", "a"], [1.5, 2.0])),
    (([], [], []), ([], [], [])),
    ((MISSING, MISSING, MISSING), (None, None, None)),
    (([3, None, 3], ["c", None, ""], [None]), ([3, None, 3], ["c", None, ""], [None])),
    ((7, "d", 2.25), ([7], ["d"], [2.25])),
    (([1, 2], ["a", "b"], [0.5]), ([1, 2], ["a", "b"], [0.5])),
    ((None, None, None), (None, None, None)),
]
# hostile values: (la, da) produced, la and da stored, and the warning
HOSTILE = [
    (([1, "x", 3], MISSING), ([1, None, 3], None), "element 1, 'x', is not a long"),
    (([[1], [2]], MISSING), (None, None), "an element is a nested array or an object"),
    (([1] * 70000, MISSING), (None, None), "more elements than fit in one row"),
    ((MISSING, ["abc", 1]), (None, [None, 1.0]), "element 0, 'abc', is not a double"),
]


def events(rows, start):
    out = []
    for i, vals in enumerate(rows):
        e = {"ts": iso(T0 + (start + i) * 1000), "n": start + i}
        for name, v in zip(("la", "sa", "da"), vals):
            if v is not MISSING:
                e[name] = v
        out.append(json.dumps(e))
    return out


def produce(bootstrap, topic, lines):
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic,
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    return p.returncode == 0


def job(table, conn, mappings, **over):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "source": {"type": "connection", "connectionName": conn,
                    "inputSchema": [{"name": "ts", "dataType": "string"},
                                    {"name": "la", "dataType": "string"},
                                    {"name": "sa", "dataType": "string"},
                                    {"name": "da", "dataType": "string"},
                                    {"name": "n", "dataType": "long"}],
                    "formatSettings": {"format": "nd-json"}},
         "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}] + mappings,
         "readFromPoint": "earliest"}
    j.update(over)
    return j


def sql(s, q):
    r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array"})
    return r.json if r.status == 200 else (r.status, r.raw)


def multiset(rows):
    return sorted(json.dumps(x) for x in rows)


def expected(stored):
    """The answers the queries below must give for these stored rows."""
    groups, elems = {}, {}
    for _, (la, _, _) in stored:
        groups[json.dumps(la)] = groups.get(json.dumps(la), 0) + 1
        for x in la or []:
            elems[json.dumps(x)] = elems.get(json.dumps(x), 0) + 1
    return {
        "rows": [[n, la, sa, da] for n, (la, sa, da) in sorted(stored, key=lambda r: r[0])],
        "eq": sum(1 for _, (la, _, _) in stored if la == [1, 2]),
        "contains": [[n] for n, (_, sa, _) in sorted(stored) if sa and "b" in sa],
        "groups": multiset([[json.loads(k), v] for k, v in groups.items()]),
        "rollup": multiset([[json.loads(k), v] for k, v in groups.items()]),
        "unnest": multiset([[json.loads(k), v] for k, v in elems.items()]),
        "null": sum(1 for _, (la, _, _) in stored if la is None),
        "empty": sum(1 for _, (la, _, _) in stored if la == []),
    }


def answers(s):
    return {
        "rows": sql(s, "SELECT n, la, sa, da FROM arr ORDER BY n"),
        "eq": sql(s, "SELECT COUNT(*) FROM arr WHERE la = ARRAY[1, 2]")[0][0],
        "contains": sql(s, "SELECT n FROM arr WHERE ARRAY_CONTAINS(sa, 'b') ORDER BY n"),
        "groups": multiset(sql(s, "SELECT la, COUNT(*) FROM arr GROUP BY la")),
        "rollup": multiset(sql(s, "SELECT la, SUM(cnt) FROM arragg GROUP BY la")),
        "unnest": multiset(sql(s, "SELECT x, COUNT(*) FROM arr CROSS JOIN UNNEST(arr.la) "
                                  "AS u(x) GROUP BY x")),
        "null": sql(s, "SELECT COUNT(*) FROM arr WHERE la IS NULL")[0][0],
        "empty": sql(s, "SELECT COUNT(*) FROM arr WHERE ARRAY_LENGTH(la) = 0")[0][0],
    }


def check_answers(s, stored, when):
    want = expected(stored)
    got = answers(s)
    for k in want:
        c.eq(got[k], want[k], f"{when}: {k}")


DISC_TYPES = [["l", "BIGINT ARRAY"], ["m", "DOUBLE ARRAY"], ["s", "VARCHAR ARRAY"],
              ["o", "COMPLEX<json>"], ["nest", "COMPLEX<json>"]]
DISC_ROW = [[1, 2], [1.0, 2.5], ["x", "y"], [{"k": 1}], [[1], [2]]]

broker = DevKafka(topics=["arr:2", "disc:1"]).start()
s = Server()
s.start()
try:
    B = broker.bootstrap
    # ---- the request shape
    for body, why in [
        ({"name": "bad", "schema": [{"name": "x", "dataType": "ARRAY<FLOAT>"}]}, "dataType"),
        ({"name": "bad", "schema": [{"name": "x", "dataType": "ARRAY<LONG>",
                                     "multiValueHandling": "ARRAY"}]},
         "only a string dimension can be multi-value"),
    ]:
        r = s.req("POST", "/v2/tables", body)
        c.eq(r.status, 400, f"refused: {body['schema'][0]}")
        c.ok(why in r.raw, "the 400 says why", r.raw)
    r = s.req("POST", "/v2/tables", {"name": "arr", "schemaMode": "strict", "schema": [
        {"name": "la", "dataType": "ARRAY<LONG>"}, {"name": "sa", "dataType": "ARRAY<STRING>"},
        {"name": "da", "dataType": "ARRAY<DOUBLE>"}, {"name": "n", "dataType": "long"}]})
    c.eq((r.status, r.raw if r.status != 201 else ""), (201, ""), "strict detail table with arrays")
    c.eq([x["dataType"] for x in r.json.get("schema", []) if x["name"] in ("la", "sa", "da")],
         ["ARRAY<LONG>", "ARRAY<STRING>", "ARRAY<DOUBLE>"], "the table shows the array types")
    r = s.req("POST", "/v2/tables", {"name": "arragg", "type": "aggregate", "timeResolution": "day",
                                     "schema": [{"name": "la", "dataType": "ARRAY<LONG>"},
                                                {"name": "cnt", "dataType": "count"}]})
    c.eq((r.status, r.raw if r.status != 201 else ""), (201, ""), "aggregate table on an array")
    r = s.req("PUT", "/v2/tables/arr", {"name": "arr", "schemaMode": "strict", "schema": [
        {"name": "la", "dataType": "ARRAY<STRING>"}]})
    c.eq(r.status, 400, "an array's element type cannot change")

    for name, topic in (("k", "arr"), ("kd", "disc")):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": name,
                                              "bootstrapServers": B, "topicName": topic})
        c.eq(r.status, 201, f"connection {name}")
    ident = [{"columnName": x, "expression": f'"{x}"'} for x in ("la", "sa", "da", "n")]
    jobs = [
        s.req("POST", "/v2/jobs", job("arr", "k", ident)),
        s.req("POST", "/v2/jobs", job("arragg", "k", [
            {"columnName": "la", "expression": '"la"'},
            {"columnName": "cnt", "expression": "COUNT(*)", "isAggregation": True}])),
        s.req("POST", "/v2/jobs", {
            "type": "streaming", "target": {"type": "table", "tableName": "disc"},
            "createTableIfNotExists": True, "useSchemaDiscovery": True,
            "source": {"type": "connection", "connectionName": "kd",
                       "inputSchema": [{"name": "ts", "dataType": "string"}],
                       "formatSettings": {"format": "nd-json"}},
            "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}],
            "readFromPoint": "earliest"}),
    ]
    for j in jobs:
        c.eq((j.status, j.raw if j.status != 201 else ""), (201, ""), "job")
    jid = jobs[0].json.get("id")

    c.ok(produce(B, "arr", events([v for v, _ in ROWS], 0)), "kcat produced the rows")
    c.ok(produce(B, "disc", [json.dumps({"ts": iso(T0), "l": [1, 2], "m": [1, 2.5],
                                         "s": ["x", "y"], "o": [{"k": 1}], "nest": [[1], [2]]})]),
         "kcat produced the discovery row")
    stored = [(i, want) for i, (_, want) in enumerate(ROWS)]

    def count(t):
        r = s.req("GET", f"/v2/tables/{t}")
        return r.json["status"]["rowCount"] if r.status == 200 else -1

    c.eq(wait_for(lambda: count("arr") == len(ROWS)), True, "detail rows ingested")
    c.eq(wait_for(lambda: sql(s, "SELECT SUM(cnt) FROM arragg")[0][0] == len(ROWS)), True,
         "aggregate rows ingested")
    c.eq(count("arragg"), len(ROWS) - 2, "rollup on whole arrays: [1,2] twice, NULL twice")
    check_answers(s, stored, "realtime")
    c.eq(sql(s, "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
                "WHERE TABLE_NAME = 'arr' AND COLUMN_NAME <> 'n' AND COLUMN_NAME <> '__time' "
                "ORDER BY ORDINAL_POSITION"),
         [["la", "BIGINT ARRAY"], ["sa", "VARCHAR ARRAY"], ["da", "DOUBLE ARRAY"]],
         "INFORMATION_SCHEMA gives the element types")

    # ---- schema discovery: arrays of primitives are ARRAY columns, of objects JSON
    def disc_types():
        return sql(s, "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE "
                      "TABLE_NAME = 'disc' AND COLUMN_NAME <> '__time' ORDER BY ORDINAL_POSITION")

    c.eq(wait_for(lambda: count("disc") == 1), True, "discovery row ingested")
    c.eq(disc_types(), DISC_TYPES, "discovered column types")
    c.eq(sql(s, "SELECT l, m, s, o, nest FROM disc"), [DISC_ROW], "discovered values")
    schema = {x["name"]: x["dataType"] for x in s.req("GET", "/v2/tables/disc").json["schema"]}
    c.eq([schema.get(k) for k in ("l", "m", "s")], ["ARRAY<LONG>", "ARRAY<DOUBLE>", "ARRAY<STRING>"],
         "the table API shows the discovered array types")

    # ---- hostile values: counted as processed with warnings that say why
    c.ok(produce(B, "arr", events([(la, MISSING, da) for (la, da), _, _ in HOSTILE], len(ROWS))),
         "produced the hostile rows")
    stored += [(len(ROWS) + i, (la, None, da)) for i, (_, (la, da), _) in enumerate(HOSTILE)]
    c.eq(wait_for(lambda: count("arr") == len(stored)), True, "hostile rows stored")
    m = wait_for(lambda: (lambda j: j if j["totals"]["numRowsProcessedWithWarnings"] >= 4
                          else None)(s.req("GET", f"/v2/jobs/{jid}/metrics").json))
    c.ok(m is not None, "the four hostile rows count as processed with warnings",
         s.req("GET", f"/v2/jobs/{jid}/metrics").raw)
    logs = s.req("GET", f"/v2/jobs/{jid}/logs").json["values"]
    msgs = " | ".join(e.get("message", "") for e in logs)
    for _, _, why in HOSTILE:
        c.ok(why in msgs, f"the logs say why: {why}", msgs[:800])
    c.eq(wait_for(lambda: sql(s, "SELECT SUM(cnt) FROM arragg")[0][0] == len(stored)), True,
         "aggregate took the hostile rows")
    check_answers(s, stored, "with hostile rows")

    # ---- after a persist (a clean stop persists), the same answers from segments
    rc, _ = s.stop()
    c.eq(rc, 0, "clean stop")
    s.start()
    c.ok(s.req("GET", "/v2/tables/arr").json["status"]["segmentCount"] >= 1, "persisted")
    check_answers(s, stored, "after a persist")
    c.eq(disc_types(), DISC_TYPES, "discovered types after a restart")
    c.eq(sql(s, "SELECT l, m, s, o, nest FROM disc"), [DISC_ROW], "discovered values after a persist")

    # ---- more rows, kill -9, restart: re-read from Kafka, same answers
    more = [(([9, 8], ["z"], [0.25]), ([9, 8], ["z"], [0.25])),
            (([], ["b"], []), ([], ["b"], []))]
    c.ok(produce(B, "arr", events([v for v, _ in more], len(stored))), "produced more rows")
    stored += [(len(stored) + i, w) for i, (_, w) in enumerate(more)]
    c.eq(wait_for(lambda: count("arr") == len(stored)), True, "rows before kill -9")
    check_answers(s, stored, "segments + realtime")
    s.kill9()
    s.start()
    c.eq(wait_for(lambda: count("arr") == len(stored), timeout=30), True,
         "rows after kill -9 and restart")
    c.eq(wait_for(lambda: sql(s, "SELECT SUM(cnt) FROM arragg")[0][0] == len(stored)), True,
         "aggregate rows after kill -9")
    check_answers(s, stored, "after kill -9")
finally:
    s.stop()
    s.__exit__()
    broker.stop()
c.done()
