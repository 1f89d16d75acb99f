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
request shape; Druid's typesHeader names the element types.
arrayIngestMode: the same events into tables of jobs in "array" and "mvd"
mode (discovery and an explicit mapping) give ARRAY columns with ARRAY
semantics in one and multi-value strings with Druid's multi-value filter
and GROUP BY semantics in the other (arrays of numbers stay ARRAY in both);
the mode survives a restart; a SQL INSERT takes it from
context.arrayIngestMode; reingestion (INSERT ... SELECT * FROM) keeps typed
arrays and multi-value strings; an unknown mode is a 400 naming the field.
"""
import json
import time

from harness import Checks, DevKafka, Server, iso, wait_for
from harness import kcat_produce as produce

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

# arrayIngestMode: the same events into an "array" and an "mvd" job's tables
MODE_EVENTS = [{"tags": ["b", "a"], "nums": [1, 2], "mixed": ["x", 1]},
               {"tags": ["c"], "nums": [3], "mixed": []},
               {"tags": [], "nums": [], "mixed": ["y"]},
               {"tags": ["a", "a", "d"], "nums": [2, 1], "mixed": ["x"]}]


def mode_job(table, mode, discovery):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "createTableIfNotExists": True, "useSchemaDiscovery": discovery,
         "source": {"type": "connection", "connectionName": "km",
                    "inputSchema": [{"name": "ts", "dataType": "string"},
                                    {"name": "n", "dataType": "long"}] +
                                   ([] if discovery else [{"name": "tags", "dataType": "string"}]),
                    "formatSettings": {"format": "nd-json"}},
         "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                      {"columnName": "n", "expression": '"n"'}] +
                     ([] if discovery else [{"columnName": "tags", "expression": '"tags"'}]),
         "readFromPoint": "earliest"}
    if mode:
        j["arrayIngestMode"] = mode
    return j


def sql_insert(table, row):
    """INSERT INTO table of one inline JSON row (ts and tags, both strings)."""
    src = json.dumps({"type": "inline", "data": json.dumps(row) + "\n"}).replace("'", "''")
    sig = '[{"name":"ts","type":"string"},{"name":"tags","type":"string"}]'
    return (f"INSERT INTO {table} SELECT TIME_PARSE(\"ts\") AS __time, \"tags\" FROM "
            f"TABLE(EXTERN('{src}', '{{\"type\":\"json\"}}', '{sig}')) PARTITIONED BY DAY")


def mode_types(s, table):
    return sql(s, "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE "
                  f"TABLE_NAME = '{table}' AND COLUMN_NAME NOT IN ('__time', 'n') "
                  "ORDER BY ORDINAL_POSITION")


def check_modes(s, when):
    """Both modes' tables, queried with each one's semantics."""
    c.eq(mode_types(s, "amode"), [["tags", "VARCHAR ARRAY"], ["nums", "BIGINT ARRAY"],
                                  ["mixed", "VARCHAR ARRAY"]], f"{when}: array mode's types")
    c.eq(mode_types(s, "mmode"), [["tags", "VARCHAR"], ["nums", "BIGINT ARRAY"],
                                  ["mixed", "VARCHAR"]], f"{when}: mvd mode's types")
    # array mode: whole arrays in their order, GROUP BY whole arrays
    c.eq(sql(s, "SELECT n, tags, nums, mixed FROM amode ORDER BY n"),
         [[0, ["b", "a"], [1, 2], ["x", "1"]], [1, ["c"], [3], []], [2, [], [], ["y"]],
          [3, ["a", "a", "d"], [2, 1], ["x"]]], f"{when}: array mode keeps arrays")
    c.eq(sql(s, "SELECT n FROM amode WHERE tags = ARRAY['b', 'a'] ORDER BY n"), [[0]],
         f"{when}: array mode compares whole arrays")
    c.eq(multiset(sql(s, "SELECT tags, COUNT(*) FROM amode GROUP BY tags")),
         multiset([[["b", "a"], 1], [["c"], 1], [[], 1], [["a", "a", "d"], 1]]),
         f"{when}: array mode groups whole arrays")
    c.eq(sql(s, "SELECT n FROM amode WHERE ARRAY_CONTAINS(tags, 'a') ORDER BY n"), [[0], [3]],
         f"{when}: array mode tests elements with ARRAY_CONTAINS")
    # mvd mode: sorted values, a filter holds for any value, GROUP BY explodes
    c.eq(sql(s, "SELECT n, tags, nums, mixed FROM mmode ORDER BY n"),
         [[0, ["a", "b"], [1, 2], ["1", "x"]], [1, "c", [3], None], [2, None, [], "y"],
          [3, ["a", "a", "d"], [2, 1], "x"]], f"{when}: mvd mode stores multi-value strings")
    c.eq(sql(s, "SELECT n FROM mmode WHERE tags = 'a' ORDER BY n"), [[0], [3]],
         f"{when}: mvd mode: = holds for any value")
    c.eq(sql(s, "SELECT n FROM mmode WHERE mixed = 'x' AND tags <> 'c' ORDER BY n"), [[0], [3]],
         f"{when}: mvd mode: mixed arrays are strings")
    c.eq(multiset(sql(s, "SELECT tags, COUNT(*) FROM mmode GROUP BY tags")),
         multiset([["a", 3], ["b", 1], ["c", 1], ["d", 1], [None, 1]]),
         f"{when}: mvd mode explodes GROUP BY")
    c.eq(sql(s, "SELECT n FROM mmode WHERE ARRAY_CONTAINS(nums, 2) ORDER BY n"), [[0], [3]],
         f"{when}: mvd mode keeps arrays of numbers typed")
    # explicit mapping of an array field into a new VARCHAR column
    c.eq(sql(s, "SELECT n, tags FROM mmap ORDER BY n"),
         [[0, ["a", "b"]], [1, "c"], [2, None], [3, ["a", "a", "d"]]],
         f"{when}: mvd mode maps an array field to a multi-value string")
    c.eq(sql(s, "SELECT n, tags FROM amap ORDER BY n"),
         [[0, '["b", "a"]'], [1, '["c"]'], [2, "[]"], [3, '["a", "a", "d"]']],
         f"{when}: array mode keeps an array in a string column as its text")


broker = DevKafka(topics=["arr:2", "disc:1", "modes:1"]).start()
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

    for name, topic in (("k", "arr"), ("kd", "disc"), ("km", "modes")):
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

    # ---- arrayIngestMode: an unknown mode is refused, naming the field and the values
    bad = mode_job("badmode", "arrays", True)
    r = s.req("POST", "/v2/jobs", bad)
    c.eq(r.status, 400, "arrayIngestMode 'arrays' refused")
    c.ok(r.status == 400 and r.json.get("target") == "arrayIngestMode" and
         '"array", "mvd"' in r.json.get("message", ""), "the 400 names the field and the allowed "
         "values", r.raw)
    bad["arrayIngestMode"] = 1
    c.eq(s.req("POST", "/v2/jobs", bad).status, 400, "arrayIngestMode must be a string")
    bad["type"] = "batch"
    bad["arrayIngestMode"] = "none"
    c.eq(s.req("POST", "/v2/jobs", bad).status, 400, "a batch job checks it too")
    r = s.req("POST", "/v1/query/sql", {"query": sql_insert("badsql", {"ts": iso(T0)}),
                                        "context": {"arrayIngestMode": "MVD"}})
    c.eq(r.status, 400, "context.arrayIngestMode 'MVD' refused")
    c.ok("context.arrayIngestMode" in r.raw and "did you mean" in r.raw,
         "the 400 names context.arrayIngestMode", r.raw)
    # the preview shows the columns as each mode will create them
    data = "".join(json.dumps(dict(e, ts=iso(T0), n=i)) + "\n" for i, e in enumerate(MODE_EVENTS))
    for mode, want in ((None, {"tags": ["ARRAY<STRING>", None], "nums": ["ARRAY<LONG>", None]}),
                       ("mvd", {"tags": ["string", "SORTED_ARRAY"], "nums": ["ARRAY<LONG>", None]})):
        r = s.req("POST", "/v2/jobs/sample", dict(mode_job("prev", mode, True),
                                                  sample={"data": data, "limit": 10}))
        got = {x["name"]: [x["dataType"], x.get("multiValueHandling")]
               for x in (r.json or {}).get("schema", []) if x["name"] in want}
        c.eq(got, want, f"preview in {mode or 'array'} mode shows the column types")
    mjobs = {t: s.req("POST", "/v2/jobs", mode_job(t, m, d))
             for t, m, d in (("amode", None, True), ("mmode", "mvd", True),
                             ("amap", "array", False), ("mmap", "mvd", False))}
    for t, j in mjobs.items():
        c.eq((j.status, j.raw if j.status != 201 else ""), (201, ""), f"job for {t}")
    c.eq(mjobs["mmode"].json.get("arrayIngestMode"), "mvd", "the job shows its mode")
    c.ok(produce(B, "modes", [json.dumps(dict(e, ts=iso(T0 + i * 1000), n=i))
                              for i, e in enumerate(MODE_EVENTS)]), "kcat produced the mode rows")

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
    r = s.req("POST", "/druid/v2/sql", {"query": "SELECT la, sa, da FROM arr LIMIT 1",
                                        "resultFormat": "array", "header": True,
                                        "typesHeader": True, "sqlTypesHeader": True})
    c.eq(r.json[:3] if r.status == 200 else r.raw,
         [["la", "sa", "da"], ["ARRAY<LONG>", "ARRAY<STRING>", "ARRAY<DOUBLE>"],
          ["ARRAY", "ARRAY", "ARRAY"]], "Druid's typesHeader gives the element types")
    r = s.req("POST", "/druid/v2/sql", {
        "query": "SELECT ARRAY_AGG(n), ARRAY_AGG(CAST(n AS VARCHAR)), ARRAY_AGG(n * 0.5), "
                 "ARRAY_CONCAT_AGG(la), ARRAY_CONCAT_AGG(da), ARRAY_CONCAT_AGG(ARRAY['x']) FROM arr",
        "resultFormat": "array", "header": True, "typesHeader": True})
    c.eq(r.json[1] if r.status == 200 else r.raw,
         ["ARRAY<LONG>", "ARRAY<STRING>", "ARRAY<DOUBLE>", "ARRAY<LONG>", "ARRAY<DOUBLE>",
          "ARRAY<STRING>"], "typesHeader of ARRAY_AGG and ARRAY_CONCAT_AGG: their element types")

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

    # ---- arrayIngestMode: both modes over the same events
    for t in ("amode", "mmode", "amap", "mmap"):
        c.eq(wait_for(lambda: count(t) == len(MODE_EVENTS)), True, f"{t} rows ingested")
    check_modes(s, "realtime")
    schema = {x["name"]: x for x in s.req("GET", "/v2/tables/mmode").json["schema"]}
    c.eq((schema["tags"]["dataType"], schema["tags"].get("multiValueHandling")),
         ("string", "SORTED_ARRAY"), "the table API shows a multi-value string column")
    # SQL-based ingestion takes the mode from the query context, as Druid's MSQ
    for table, ctx in (("sqlarr", {}), ("sqlmvd", {"arrayIngestMode": "mvd"})):
        q = sql_insert(table, {"ts": iso(T0), "tags": ["q", "p"]})
        r = s.req("POST", "/v1/query/sql", {"query": q, "context": ctx})
        c.eq((r.status, r.raw if r.status != 202 else ""), (202, ""), f"sql insert into {table}")
        c.eq(wait_for(lambda: count(table) == 1), True, f"{table} row ingested")
    c.eq(sql(s, "SELECT tags FROM sqlarr"), [['["q", "p"]']], "sql insert in array mode: text")
    c.eq(sql(s, "SELECT tags FROM sqlmvd WHERE tags = 'p'"), [[["p", "q"]]],
         "sql insert with context.arrayIngestMode mvd: a multi-value string")
    # ---- declared arrays: an inputSchema's ARRAY<STRING|LONG|DOUBLE> fields, EXTERN's
    # signature and EXTEND's VARCHAR ARRAY / BIGINT ARRAY / DOUBLE ARRAY make typed ARRAY
    # columns (never JSON text), as do ARRAY expressions whose element type is known
    for table, mode in (("adecl", None), ("mdecl", "mvd")):
        j = mode_job(table, mode, False)
        j["source"]["inputSchema"] = [
            {"name": "ts", "dataType": "string"}, {"name": "n", "dataType": "long"},
            {"name": "tags", "dataType": "ARRAY<STRING>"},
            {"name": "nums", "dataType": "ARRAY<LONG>"},
            {"name": "mixed", "dataType": "ARRAY<STRING>"}]
        j["mappings"] = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                         {"columnName": "n", "expression": '"n"'},
                         {"columnName": "tags", "expression": '"tags"'},
                         {"columnName": "nums", "expression": '"nums"'},
                         {"columnName": "mixed", "expression": '"mixed"'},
                         {"columnName": "lit", "expression": 'ARRAY["n", "n" * 10]'}]
        r = s.req("POST", "/v2/jobs", j)
        c.ok(r.status == 201, f"job over declared ARRAY fields into {table}", r.json)
    for t in ("adecl", "mdecl"):
        c.eq(wait_for(lambda: count(t) == len(MODE_EVENTS)), True, f"{t} rows ingested")
    c.eq(mode_types(s, "adecl"), [["tags", "VARCHAR ARRAY"], ["nums", "BIGINT ARRAY"],
                                  ["mixed", "VARCHAR ARRAY"], ["lit", "BIGINT ARRAY"]],
         "declared arrays make typed ARRAY columns")
    c.eq(sql(s, "SELECT n, tags, nums, mixed FROM adecl ORDER BY n"),
         sql(s, "SELECT n, tags, nums, mixed FROM amode ORDER BY n"),
         "declared arrays hold what discovery's do")
    c.eq(sql(s, "SELECT n, lit FROM adecl WHERE ARRAY_CONTAINS(lit, 20) ORDER BY n"),
         [[2, [2, 20]]], "an ARRAY expression's column is typed")
    c.eq(mode_types(s, "mdecl"), [["tags", "VARCHAR"], ["nums", "BIGINT ARRAY"],
                                  ["mixed", "VARCHAR"], ["lit", "BIGINT ARRAY"]],
         "mvd: declared string arrays are multi-value strings")
    c.eq(sql(s, "SELECT n FROM mdecl WHERE tags = 'a' ORDER BY n"), [[0], [3]],
         "mvd over declared arrays: = holds for any value")
    row = {"ts": iso(T0), "tags": ["q", "p"], "nums": [5, 6], "vals": [0.5, 1]}
    src = json.dumps({"type": "inline", "data": json.dumps(row) + "\n"}).replace("'", "''")
    sig = ('[{"name":"ts","type":"string"},{"name":"tags","type":"ARRAY<STRING>"},'
           '{"name":"vals","type":"ARRAY<DOUBLE>"}]')
    for table, q in (
            ("sqlext", f"INSERT INTO sqlext SELECT TIME_PARSE(\"ts\") AS __time, \"tags\", "
                       f"\"nums\" FROM TABLE(EXTERN('{src}', '{{\"type\":\"json\"}}')) EXTEND "
                       f"(\"ts\" VARCHAR, \"tags\" VARCHAR ARRAY, \"nums\" BIGINT ARRAY) "
                       "PARTITIONED BY DAY"),
            ("sqlsig", f"INSERT INTO sqlsig SELECT TIME_PARSE(\"ts\") AS __time, \"tags\", "
                       f"\"vals\" FROM TABLE(EXTERN('{src}', '{{\"type\":\"json\"}}', '{sig}')) "
                       "PARTITIONED BY DAY")):
        r = s.req("POST", "/v1/query/sql", {"query": q})
        c.eq((r.status, r.raw if r.status != 202 else ""), (202, ""), f"sql insert into {table}")
        c.eq(wait_for(lambda: count(table) == 1), True, f"{table} row ingested")
    c.eq([mode_types(s, "sqlext"), sql(s, "SELECT tags, nums FROM sqlext")],
         [[["tags", "VARCHAR ARRAY"], ["nums", "BIGINT ARRAY"]], [[["q", "p"], [5, 6]]]],
         "EXTEND's VARCHAR ARRAY and BIGINT ARRAY: typed arrays")
    c.eq([mode_types(s, "sqlsig"), sql(s, "SELECT tags, vals FROM sqlsig")],
         [[["tags", "VARCHAR ARRAY"], ["vals", "DOUBLE ARRAY"]], [[["q", "p"], [0.5, 1.0]]]],
         "EXTERN's ARRAY<STRING> and ARRAY<DOUBLE>: typed arrays")
    bad = mode_job("baddecl", None, False)
    bad["source"]["inputSchema"][1] = {"name": "n", "dataType": "ARRAY<FLOAT>"}
    r = s.req("POST", "/v2/jobs", bad)
    m = (r.json or {}).get("message", "")
    c.ok(r.status == 400 and "inputSchema[1]" in m and "ARRAY<LONG>" in m,
         "an inputSchema array of another type is refused, naming the field and the types", m)
    r = s.req("POST", "/v1/query/sql", {"query": (
        f"INSERT INTO badext SELECT TIME_PARSE(\"ts\") AS __time FROM TABLE(EXTERN('{src}', "
        "'{\"type\":\"json\"}')) EXTEND (\"ts\" VARCHAR, \"x\" FLOAT ARRAY) PARTITIONED BY DAY")})
    m = (r.json or {}).get("errorMessage", "") or (r.json or {}).get("message", "") or r.raw
    c.ok(r.status == 400 and "VARCHAR, BIGINT or DOUBLE" in str(m),
         "EXTEND's FLOAT ARRAY is refused with the array types it takes", (r.status, m))
    # reingestion (INSERT INTO t2 SELECT * FROM t1) keeps typed arrays and
    # multi-value strings; with context.arrayIngestMode mvd, string arrays
    # become multi-value strings (and arrays of numbers fail, below)
    for table, src, ctx in (("acopy", "amode", {}), ("mcopy", "mmode", {}),
                            ("amcopy", "amode", {"arrayIngestMode": "mvd"})):
        cols = "__time, n, tags, mixed" if ctx else "*"
        r = s.req("POST", "/v1/query/sql", {
            "query": f"INSERT INTO {table} SELECT {cols} FROM {src} PARTITIONED BY DAY",
            "context": ctx})
        c.eq((r.status, r.raw if r.status != 202 else ""), (202, ""), f"reingest into {table}")
        c.eq(wait_for(lambda: count(table) == len(MODE_EVENTS)), True, f"{table} rows")
    c.eq(mode_types(s, "acopy"), mode_types(s, "amode"), "reingested typed arrays stay typed")
    c.eq(sql(s, "SELECT n, tags, nums, mixed FROM acopy ORDER BY n"),
         sql(s, "SELECT n, tags, nums, mixed FROM amode ORDER BY n"), "reingested array values")
    c.eq(mode_types(s, "mcopy"), mode_types(s, "mmode"), "reingested multi-value strings stay so")
    c.eq(sql(s, "SELECT n, tags, nums, mixed FROM mcopy ORDER BY n"),
         sql(s, "SELECT n, tags, nums, mixed FROM mmode ORDER BY n"), "reingested multi-values")
    c.eq(mode_types(s, "amcopy"), [["tags", "VARCHAR"], ["mixed", "VARCHAR"]],
         "reingested in mvd mode: string arrays become multi-value strings")
    c.eq(sql(s, "SELECT n FROM amcopy WHERE tags = 'a' ORDER BY n"), [[0], [3]],
         "reingested in mvd mode: multi-value semantics")
    # Druid's MSQ: arrays of numbers cannot be stored in mvd mode
    r = s.req("POST", "/v1/query/sql", {
        "query": "INSERT INTO numcopy SELECT __time, nums FROM amode PARTITIONED BY DAY",
        "context": {"arrayIngestMode": "mvd"}})
    c.eq(r.status, 202, "reingest of a BIGINT ARRAY in mvd mode starts")
    jid2 = (r.json or {}).get("job", {}).get("id") or (r.json or {}).get("taskId")
    st = wait_for(lambda: (lambda j: j if j.get("executionStatus") in ("succeeded", "failed")
                           else None)(s.req("GET", f"/v2/jobs/{jid2}").json or {}), timeout=60)
    c.eq(st and st["executionStatus"], "failed", "a BIGINT ARRAY fails the mvd reingestion")
    c.ok(st and "BIGINT ARRAY, which arrayIngestMode \"mvd\" cannot store" in
         st["health"].get("message", ""), "the job says why", st)

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
    check_modes(s, "after a persist")
    # the mode is the job's: a field discovered after the restart follows it
    c.ok(produce(B, "modes", [json.dumps({"ts": iso(T0 + 9000), "n": 9, "late": ["b", "a"]})]),
         "produced a row with a new array field")
    c.eq(wait_for(lambda: count("mmode") == len(MODE_EVENTS) + 1), True, "late row in mmode")
    c.eq(wait_for(lambda: count("amode") == len(MODE_EVENTS) + 1), True, "late row in amode")
    c.eq(sql(s, "SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'mmode' "
                "AND COLUMN_NAME = 'late'"), [["VARCHAR"]], "mvd after a restart: multi-value")
    c.eq(sql(s, "SELECT late FROM mmode WHERE late = 'a'"), [[["a", "b"]]],
         "mvd after a restart: multi-value semantics")
    c.eq(sql(s, "SELECT DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'amode' "
                "AND COLUMN_NAME = 'late'"), [["VARCHAR ARRAY"]], "array after a restart: ARRAY")

    # ---- more rows, kill -9, restart: re-read from Kafka, same answers
    more = [(([9, 8], ["z"], [0.25]), ([9, 8], ["z"], [0.25])),
            (([], ["b"], []), ([], ["b"], []))]
    c.ok(produce(B, "arr", events([v for v, _ in more], len(stored))), "produced more rows")
    stored += [(len(stored) + i, w) for i, (_, w) in enumerate(more)]
    c.eq(wait_for(lambda: count("arr") == len(stored)), True, "rows before kill -9")
    # the aggregate table reads the same topic with its own job: wait for it too
    c.eq(wait_for(lambda: sql(s, "SELECT SUM(cnt) FROM arragg")[0][0] == len(stored)), True,
         "aggregate rows before kill -9")
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
