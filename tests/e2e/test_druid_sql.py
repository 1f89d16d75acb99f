"""
test_druid_sql.py — Druid's SQL endpoint, POST /druid/v2/sql, as Druid's users reach it.
A real `lodestar serve` gets a batch table ("wiki": published segments over two days) and a
streaming table ("live": realtime rows, persists held back), then:

  (a) a plain Python script as a Druid user writes one (urllib only, JSON, text/plain and
      curl --data bodies): the five result formats, header + typesHeader + sqlTypesHeader,
      parameters, context.sqlOuterLimit, sqlQueryId in the response headers, sqlTimeZone, a
      timeout, unknown context keys, and Druid's error object for a syntax error, an unknown
      table, an unknown column, bad request fields, a bad media type;
  (b) the real npm client, @druid-toolkit/query (the web console's query layer), driven by
      tests/e2e/druid_client/client.mjs (its node_modules come from `make deps`);
  (c) sys.segments and sys.tasks checked against what the REST API reports (table status,
      job list), and INFORMATION_SCHEMA listing the sys schema.
"""
import base64
import csv
import datetime
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

from harness import ROOT, Checks, Server, wait_for

c = Checks()

CLIENT_DIR = os.path.join(ROOT, "tests", "e2e", "druid_client")
if not os.path.isdir(os.path.join(CLIENT_DIR, "node_modules", "@druid-toolkit", "query")):
    print("FAIL tests/e2e/druid_client/node_modules is missing: run `make deps` "
          "(scripts/deps.sh runs `npm ci` there) before this test", flush=True)
    print("0 passed, 1 failed", flush=True)
    sys.exit(1)

DAY0 = 1763596800000  # 2025-11-20T00:00:00Z
CHANNELS = ["#de.wikipedia", "#en.wikipedia", "#fr.wikipedia"]
ROWS = [{"time": DAY0 + i * 1_800_000, "channel": CHANNELS[i % 3], "page": f"Page {i % 7}",
         "added": (i * 13) % 50} for i in range(80)]  # 80 rows every 30 min: 40 h, two days


def iso_ms(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


WIKI_JOB = {
    "type": "batch", "target": {"type": "table", "tableName": "wiki"},
    "createTableIfNotExists": True,
    "source": {"type": "inline",
               "data": "".join(json.dumps(dict(r, time=iso_ms(r["time"]))) + "\n" for r in ROWS),
               "inputSchema": [{"name": "time", "dataType": "string"},
                               {"name": "channel", "dataType": "string"},
                               {"name": "page", "dataType": "string"},
                               {"name": "added", "dataType": "long"}],
               "formatSettings": {"format": "nd-json"}},
    "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("time")'},
                 {"columnName": "channel", "expression": "channel"},
                 {"columnName": "page", "expression": "page"},
                 {"columnName": "added", "expression": "added"}],
}
LIVE_N = 60000
LIVE_DAY = int(time.time() * 1000) // 86400000 * 86400000  # today: within the job's late bound
LIVE_JOB = {
    "type": "streaming", "target": {"type": "table", "tableName": "live"},
    "createTableIfNotExists": True,
    "source": {"type": "connection", "connectionName": "web",
               "inputSchema": [{"name": "time", "dataType": "string"},
                               {"name": "c", "dataType": "string"}],
               "formatSettings": {"format": "nd-json"}},
    "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("time")'},
                 {"columnName": "c", "expression": "c"}],
    "readFromPoint": "earliest",
}

# Persists and compactions held back: the live rows stay realtime while the test looks.
s = Server(env={"LODESTAR_PERSIST_MAX_AGE_MS": "3600000", "LODESTAR_COMPACT_MS": "3600000"})
s.start()
try:
    # ---- the data ----------------------------------------------------------------------
    r = s.req("POST", "/v2/jobs", WIKI_JOB)
    c.eq(r.status, 201, "batch job created")
    wiki_job = r.json["id"]
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{wiki_job}").json["executionStatus"]
                  == "succeeded"), "batch job succeeded", s.req("GET", f"/v2/jobs/{wiki_job}").raw)
    c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status, 201,
         "push connection")
    r = s.req("POST", "/v2/jobs", LIVE_JOB)
    c.eq(r.status, 201, "streaming job created")
    live_job = r.json["id"]
    accepted = 0
    for k in range(0, LIVE_N, 10000):  # push bodies are at most 1 MB
        body = "".join(json.dumps({"time": iso_ms(LIVE_DAY + i), "c": "x"}) + "\n"
                       for i in range(k, min(k + 10000, LIVE_N)))
        r = s.req("POST", "/v1/events/web", raw_body=body)
        accepted += (r.json or {}).get("accepted", 0) if r.status == 200 else 0
    c.eq(accepted, LIVE_N, "live rows pushed")
    c.ok(wait_for(lambda: s.req("GET", "/v2/tables/live").json["status"]["rowCount"] == LIVE_N),
         "live rows ingested")

    # ---- (a) a Druid user's script: urllib, JSON in, JSON out ----------------------------
    URL = s.url("/druid/v2/sql")
    AUTH = "Basic " + base64.b64encode((s.key + ":").encode()).decode()

    def druid(payload=None, raw=None, content_type="application/json", url=URL, auth=AUTH,
              method="POST"):
        """(status, headers, body text) of one request to Druid's SQL endpoint."""
        data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None
                                            else None)
        headers = {"Authorization": auth} if auth else {}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def rows_of(q, **fields):
        st, h, text = druid(dict(query=q, **fields))
        c.eq(st, 200, f"query answers: {q[:70]}")
        return json.loads(text) if st == 200 else None

    def druid_error(name, payload, status, message_parts, code="invalidInput",
                    category="INVALID_INPUT", persona="USER", context=None, **kw):
        st, h, text = druid(payload, **kw)
        try:
            e = json.loads(text)
        except ValueError:
            e = None
        e = e if isinstance(e, dict) else {}
        c.eq(st, status, f"{name}: status")
        c.eq((e.get("error"), e.get("errorCode"), e.get("persona"), e.get("category")),
             ("druidException", code, persona, category), f"{name}: Druid's error object")
        for part in message_parts:
            c.ok(part in e.get("errorMessage", ""), f"{name}: errorMessage has {part!r}", text)
        for k, v in (context or {}).items():
            c.eq(e.get("context", {}).get(k), v, f"{name}: context.{k}")
        return e

    by_channel = {ch: sum(1 for r in ROWS if r["channel"] == ch) for ch in CHANNELS}
    Q = 'SELECT channel, COUNT(*) AS "count" FROM wiki GROUP BY channel ORDER BY channel'

    # the default format is object, with a generated query id in the headers
    st, h, text = druid({"query": Q})
    c.eq((st, h.get("Content-Type")), (200, "application/json"), "object is the default format")
    c.eq(json.loads(text), [{"channel": ch, "count": by_channel[ch]} for ch in CHANNELS],
         "object rows")
    qid = h.get("X-Druid-SQL-Query-Id") or ""
    c.ok(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", qid),
         "a generated sqlQueryId (a UUID) in X-Druid-SQL-Query-Id", qid)
    c.eq(h.get("X-Druid-Query-Id"), qid, "X-Druid-Query-Id carries the same id")
    c.eq(h.get("X-Druid-SQL-Header-Included"), None, "no X-Druid-SQL-Header-Included without header")
    st, h2, _ = druid({"query": Q})
    c.ok(h2.get("X-Druid-SQL-Query-Id") not in (None, qid), "each query gets its own id")

    # array with the three header rows
    st, h, text = druid({"query": "SELECT __time, channel, added FROM wiki ORDER BY __time LIMIT 2",
                         "resultFormat": "array", "header": True, "typesHeader": True,
                         "sqlTypesHeader": True})
    c.eq(h.get("X-Druid-SQL-Header-Included"), "yes", "X-Druid-SQL-Header-Included: yes")
    c.eq(json.loads(text) if st == 200 else text,
         [["__time", "channel", "added"], ["LONG", "STRING", "LONG"],
          ["TIMESTAMP", "VARCHAR", "BIGINT"],
          [iso_ms(ROWS[0]["time"]), ROWS[0]["channel"], ROWS[0]["added"]],
          [iso_ms(ROWS[1]["time"]), ROWS[1]["channel"], ROWS[1]["added"]]],
         "array with header, typesHeader and sqlTypesHeader")
    # object with the header object
    got = rows_of("SELECT channel, added FROM wiki ORDER BY __time LIMIT 1", header=True,
                  typesHeader=True, sqlTypesHeader=True)
    c.eq(got, [{"channel": {"type": "STRING", "sqlType": "VARCHAR"},
                "added": {"type": "LONG", "sqlType": "BIGINT"}},
               {"channel": ROWS[0]["channel"], "added": ROWS[0]["added"]}],
         "object with the header object")
    # arrayLines and csv
    st, h, text = druid({"query": Q, "resultFormat": "arrayLines"})
    c.eq((st, h.get("Content-Type")), (200, "text/plain"), "arrayLines is text/plain")
    c.eq(text, "".join(json.dumps([ch, by_channel[ch]], separators=(",", ":")) + "\n"
                       for ch in CHANNELS) + "\n", "arrayLines: one array a line, then a blank line")
    st, h, text = druid({"query": Q, "resultFormat": "csv", "header": True})
    c.eq((st, h.get("Content-Type")), (200, "text/csv"), "csv is text/csv")
    c.eq(list(csv.reader(io.StringIO(text.rstrip("\n")))),
         [["channel", "count"]] + [[ch, str(by_channel[ch])] for ch in CHANNELS], "csv with header")

    # parameters
    got = rows_of("SELECT COUNT(*) AS n FROM wiki WHERE channel = ? AND added >= ?",
                  parameters=[{"type": "VARCHAR", "value": "#en.wikipedia"},
                              {"type": "BIGINT", "value": 20}])
    c.eq(got, [{"n": sum(1 for r in ROWS if r["channel"] == "#en.wikipedia" and r["added"] >= 20)}],
         "parameters")

    # context.sqlOuterLimit caps the rows; a smaller LIMIT still wins
    got = rows_of("SELECT page FROM wiki ORDER BY __time", context={"sqlOuterLimit": 3})
    c.eq(got, [{"page": r["page"]} for r in ROWS[:3]], "sqlOuterLimit 3 returns the first 3 rows")
    got = rows_of("SELECT page FROM wiki ORDER BY __time LIMIT 2", context={"sqlOuterLimit": 5})
    c.eq(len(got or []), 2, "a LIMIT under sqlOuterLimit stands")
    st, _, text = druid({"query": "SELECT page FROM wiki", "resultFormat": "array"},
                        url=s.url("/v1/query/sql"))
    c.eq(len(json.loads(text)), len(ROWS), "/v1/query/sql ignores sqlOuterLimit (unknown key there)")
    r = s.req("POST", "/v1/query/sql", {"query": "SELECT page FROM wiki",
                                        "context": {"sqlOuterLimit": 3}})
    c.eq((r.status, len(r.json or [])), (200, len(ROWS)), "/v1/query/sql: sqlOuterLimit ignored")
    druid_error("sqlOuterLimit 0", {"query": "SELECT 1", "context": {"sqlOuterLimit": 0}}, 400,
                ["context.sqlOuterLimit must be at least 1"],
                context={"target": "context.sqlOuterLimit"})
    druid_error("sqlOuterLimit 'many'", {"query": "SELECT 1", "context": {"sqlOuterLimit": "many"}},
                400, ["context.sqlOuterLimit must be a whole number"])

    # sqlQueryId echoed, on answers and on errors
    st, h, _ = druid({"query": "SELECT 1", "context": {"sqlQueryId": "dashboard-7"}})
    c.eq((st, h.get("X-Druid-SQL-Query-Id")), (200, "dashboard-7"), "sqlQueryId echoed")
    st, h, _ = druid({"query": "SELECT nope FROM wiki", "context": {"sqlQueryId": "dashboard-8"}})
    c.eq((st, h.get("X-Druid-SQL-Query-Id")), (400, "dashboard-8"), "sqlQueryId echoed on errors")
    druid_error("a sqlQueryId with a newline", {"query": "SELECT 1",
                                                "context": {"sqlQueryId": "a\nb"}}, 400,
                ["context.sqlQueryId has a byte 0x0a at 1"])
    druid_error("a 300-byte sqlQueryId", {"query": "SELECT 1", "context": {"sqlQueryId": "q" * 300}},
                400, ["context.sqlQueryId is 300 bytes long; at most 256"])

    # sqlTimeZone: days in Los Angeles (UTC-8 in November)
    la = {}
    for r in ROWS:
        day = datetime.datetime.fromtimestamp((r["time"] - 8 * 3600_000) / 1000,
                                              datetime.timezone.utc).strftime("%Y-%m-%d")
        la[day] = la.get(day, 0) + 1
    got = rows_of("SELECT TIME_FLOOR(__time, 'P1D') AS d, COUNT(*) AS n FROM wiki GROUP BY 1 "
                  "ORDER BY 1", resultFormat="array", context={"sqlTimeZone": "America/Los_Angeles"})
    c.eq([(d[:10], n) for d, n in got or []], sorted(la.items()), "sqlTimeZone: days in LA")
    c.ok(all(d.startswith(day + "T00:00:00") for (d, _), day in zip(got or [], sorted(la))),
         "sqlTimeZone: each day starts at local midnight", str(got))
    druid_error("a bad sqlTimeZone", {"query": "SELECT 1", "context": {"sqlTimeZone": "Mars/Base"}},
                400, ["Mars/Base"], context={"target": "context.sqlTimeZone"})

    # unknown context keys are accepted, as Druid ignores the ones it does not use
    st, _, _ = druid({"query": "SELECT 1", "context": {"useCache": False, "populateCache": False,
                                                       "priority": 10, "somethingNew": [1]}})
    c.eq(st, 200, "unknown context keys accepted")

    # a timeout: Druid's 504
    druid_error("a query past its timeout",
                {"query": "SELECT COUNT(*) FROM live "
                          "WHERE LENGTH(REPEAT(CAST(__time AS VARCHAR), 500)) > 0",
                 "context": {"timeout": 1}},
                504, ["timeout of 1 ms"], code="legacyQueryException", category="TIMEOUT",
                persona="OPERATOR", context={"legacyErrorCode": "Query timeout",
                                             "errorClass": "org.apache.druid.query.QueryTimeoutException"})
    got = rows_of("SELECT COUNT(*) AS n FROM live", context={"timeout": 60000})
    c.eq(got, [{"n": LIVE_N}], "the same table within its timeout")

    # Druid's error object: syntax error, unknown table, unknown column
    e = druid_error("a syntax error", {"query": "SELECT channel FROM wiki WHERE"}, 400,
                    ["line 1, column"], context={"sourceType": "sql", "line": "1"})
    c.ok(e.get("context", {}).get("column", "").isdigit(), "syntax error: context.column", str(e))
    druid_error("an unknown table", {"query": "SELECT * FROM wikk"}, 400,
                ["table 'wikk' not found", "did you mean 'wiki'"], context={"sourceType": "sql"})
    druid_error("an unknown column", {"query": "SELECT chanel FROM wiki"}, 400,
                ["chanel", "channel", "line 1, column 8"],
                context={"sourceType": "sql", "line": "1", "column": "8"})
    druid_error("an unknown sys table", {"query": "SELECT * FROM sys.segment"}, 400,
                ["table 'sys.segment' not found", "did you mean 'segments'"])
    # bad requests
    druid_error("a body that is not JSON", None, 400, ["not valid JSON"], raw=b"{\"query\": ")
    druid_error("an unknown field", {"query": "SELECT 1", "resultformat": "csv"}, 400,
                ["unknown field 'resultformat'", "did you mean 'resultFormat'"],
                context={"target": "resultformat"})
    druid_error("a bad resultFormat", {"query": "SELECT 1", "resultFormat": "xml"}, 400,
                ["resultFormat must be one of"])
    druid_error("no body", None, 400, ["the request needs a body"], raw=b"")
    druid_error("an image body", None, 415, ["Content-Type 'image/png' is not accepted"],
                raw=b"SELECT 1", content_type="image/png")

    # the SQL as text (text/plain) and as curl --data sends it (form-urlencoded)
    st, h, text = druid(raw=b"SELECT COUNT(*) AS n FROM wiki", content_type="text/plain")
    c.eq((st, json.loads(text) if st == 200 else text), (200, [{"n": len(ROWS)}]),
         "text/plain SQL answers in the object format")
    c.ok(h.get("X-Druid-SQL-Query-Id"), "text/plain: a query id too")
    st, _, text = druid({"query": "SELECT 2 AS two"}, content_type="application/json; charset=UTF-8")
    c.eq((st, text.strip()), (200, '[{"two":2}]'), "application/json with a charset parameter")
    st, _, text = druid(raw=b"SELECT 3 AS three", content_type="Text/Plain;charset=utf-8")
    c.eq((st, text.strip()), (200, '[{"three":3}]'), "text/plain with a charset parameter")
    st, h, text = druid(raw=b"SELECT%20COUNT(*)%20AS%20n%20FROM%20wiki+WHERE+added+%3E%3D+25",
                        content_type="application/x-www-form-urlencoded")
    c.eq((st, json.loads(text) if st == 200 else text),
         (200, [{"n": sum(1 for r in ROWS if r["added"] >= 25)}]), "form-urlencoded SQL")
    druid_error("a bad escape in form-urlencoded SQL", None, 400,
                ["'%' at byte 43 is not followed by two hex digits"],
                raw=b"SELECT COUNT(*) FROM wiki WHERE page LIKE '%age%'",
                content_type="application/x-www-form-urlencoded")
    # the route's own edges: a trailing slash, methods, authentication
    st, _, text = druid({"query": "SELECT 1 AS one"}, url=s.url("/druid/v2/sql/"))
    c.eq((st, text.strip()), (200, '[{"one":1}]'), "/druid/v2/sql/ with a trailing slash")
    st, _, _ = druid(None, method="GET", content_type=None)
    c.eq(st, 405, "GET /druid/v2/sql is 405")
    st, _, _ = druid({"query": "SELECT 1"}, auth=None)
    c.eq(st, 401, "no API key: 401")
    st, _, _ = druid({"query": "SELECT 1"}, url=s.url("/druid/v2/sqlx"))
    c.eq(st, 404, "an unknown Druid path is 404")

    # ---- (b) Druid's own client library ---------------------------------------------------
    p = subprocess.run(["node", os.path.join(CLIENT_DIR, "client.mjs"), s.url(""), s.key, "wiki"],
                       capture_output=True, text=True, timeout=120, cwd=CLIENT_DIR)
    c.ok(p.returncode == 0, "the node client ran", p.stderr[-2000:])
    try:
        tk = json.loads(p.stdout)
    except ValueError:
        tk = {}
        c.ok(False, "the node client printed JSON", p.stdout[-2000:] + p.stderr[-2000:])
    c.eq(tk.get("tables"), [{"name": "live"}, {"name": "wiki"}],
         "toolkit: Introspect lists the tables")
    c.eq(tk.get("columns"), [{"name": "__time", "sqlType": "TIMESTAMP", "nativeType": "LONG"},
                             {"name": "channel", "sqlType": "VARCHAR", "nativeType": "STRING"},
                             {"name": "page", "sqlType": "VARCHAR", "nativeType": "STRING"},
                             {"name": "added", "sqlType": "BIGINT", "nativeType": "LONG"}],
         "toolkit: a table's column introspection (LIMIT 0 with the header rows)")
    g = tk.get("grouped", {})
    want = {}
    for r in ROWS:
        k = (iso_ms(r["time"] - r["time"] % 86400000), r["channel"])
        want.setdefault(k, [0, 0])
        want[k][0] += r["added"]
        want[k][1] += 1
    c.eq(g.get("columns"), [{"name": "day", "sqlType": "TIMESTAMP", "nativeType": "LONG"},
                            {"name": "channel", "sqlType": "VARCHAR", "nativeType": "STRING"},
                            {"name": "added", "sqlType": "BIGINT", "nativeType": "LONG"},
                            {"name": "rows", "sqlType": "BIGINT", "nativeType": "LONG"}],
         "toolkit: the columns' SQL and native types")
    c.eq(g.get("rows"), [[{"date": d}, ch, v[0], v[1]] for (d, ch), v in sorted(want.items())],
         "toolkit: rows, TIMESTAMPs turned into Dates")
    c.ok(re.fullmatch(r"[0-9a-f-]{36}", g.get("sqlQueryId") or ""),
         "toolkit: the sqlQueryId read from X-Druid-SQL-Query-Id", str(g.get("sqlQueryId")))
    lim = tk.get("limited", {})
    top = sorted((r for r in ROWS if r["added"] >= 5), key=lambda r: (-r["added"], r["channel"]))
    c.eq(lim.get("rows"), [[r["channel"], r["added"]] for r in top[:3]],
         "toolkit: parameters and sqlOuterLimit")
    c.eq((lim.get("sqlQueryId"), lim.get("queryId"), lim.get("sqlOuterLimit")),
         ("toolkit-query-1", "toolkit-query-1", 3), "toolkit: the query id and outer limit")
    c.eq(tk.get("objects", {}).get("rows"), [[ch, by_channel[ch]] for ch in CHANNELS],
         "toolkit: an object-format payload")
    for name, part in (("unknownTable", "table 'no_such_table' not found"),
                       ("syntaxError", "line 1, column")):
        err = (tk.get(name) or {}).get("error") or {}
        body = err.get("body") if isinstance(err, dict) else {}
        c.eq((err.get("status") if isinstance(err, dict) else None, (body or {}).get("error"),
              (body or {}).get("category")), (400, "druidException", "INVALID_INPUT"),
             f"toolkit: {name} as Druid's error")
        c.ok(part in (body or {}).get("errorMessage", ""), f"toolkit: {name} message", str(err))

    # ---- (c) sys.segments and sys.tasks against the REST API -----------------------------
    wiki = s.req("GET", "/v2/tables/wiki").json["status"]
    live = s.req("GET", "/v2/tables/live").json["status"]
    segs = rows_of('SELECT segment_id, datasource, "start", "end", "size", version, partition_num, '
                   "num_replicas, num_rows, is_active, is_published, is_available, is_realtime, "
                   "is_overshadowed, shard_spec, dimensions, metrics, last_compaction_state "
                   "FROM sys.segments ORDER BY datasource, \"start\", partition_num") or []
    w = [x for x in segs if x["datasource"] == "wiki"]
    c.eq(len(w), wiki["segmentCount"], "sys.segments: one row per segment of wiki")
    c.eq(sum(x["size"] for x in w), wiki["totalBytes"], "sys.segments: sizes add up to totalBytes")
    c.eq(sum(x["num_rows"] for x in w), wiki["rowCount"], "sys.segments: rows add up to rowCount")
    c.eq(sorted({(x["start"], x["end"]) for x in w}),
         [(iso_ms(DAY0), iso_ms(DAY0 + 86400000)),
          (iso_ms(DAY0 + 86400000), iso_ms(DAY0 + 2 * 86400000))],
         "sys.segments: the two day chunks")
    c.ok(all((x["is_published"], x["is_available"], x["is_realtime"], x["is_active"],
              x["is_overshadowed"], x["num_replicas"]) == (1, 1, 0, 1, 0, 1) for x in w),
         "sys.segments: wiki's segments published and available", str(w))
    c.ok(all(x["segment_id"] == f"wiki_{x['start']}_{x['end']}_{x['version']}" +
             (f"_{x['partition_num']}" if x["partition_num"] else "") for x in w),
         "sys.segments: Druid's segment ids", str([x["segment_id"] for x in w]))
    c.ok(all(json.loads(x["dimensions"]) == ["channel", "page", "added"] and
             json.loads(x["metrics"]) == [] and json.loads(x["shard_spec"])["type"] == "numbered"
             and x["last_compaction_state"] is None for x in w),
         "sys.segments: dimensions, metrics, shard_spec", str(w[:1]))
    lv = [x for x in segs if x["datasource"] == "live"]
    c.eq(live["segmentCount"], 0, "live has no published segment yet")
    c.ok(lv and all((x["is_published"], x["is_available"], x["is_realtime"], x["size"],
                     x["version"]) == (0, 1, 1, 0, None) for x in lv),
         "sys.segments: live's realtime rows", str(lv))
    c.eq(sum(x["num_rows"] for x in lv), LIVE_N, "sys.segments: realtime rows counted")
    c.eq([x["segment_id"] for x in lv], [f"live_{iso_ms(LIVE_DAY)}_{iso_ms(LIVE_DAY + 86400000)}_realtime"],
         "sys.segments: the realtime segment's id")
    # Druid's own example over sys.segments
    got = rows_of('SELECT datasource, SUM("size") AS total_size, COUNT(*) AS num_segments '
                  "FROM sys.segments WHERE is_active = 1 GROUP BY 1 ORDER BY 1", resultFormat="array")
    c.eq(got, [["live", 0, len(lv)], ["wiki", wiki["totalBytes"], wiki["segmentCount"]]],
         "Druid's documented sys.segments summary")

    jobs = {j["id"]: j for j in s.req("GET", "/v2/jobs").json["values"]}
    tasks = rows_of("SELECT * FROM sys.tasks ORDER BY created_time") or []
    c.eq(sorted(t["task_id"] for t in tasks), sorted(jobs), "sys.tasks: one row per job")
    t = {x["task_id"]: x for x in tasks}
    wt, lt = t.get(wiki_job, {}), t.get(live_job, {})
    c.eq((wt.get("type"), wt.get("datasource"), wt.get("status"), wt.get("runner_status"),
          wt.get("group_id"), wt.get("error_msg")),
         ("batch", "wiki", "SUCCESS", "NONE", wiki_job, None), "sys.tasks: the batch job")
    c.ok(isinstance(wt.get("duration"), int) and wt["duration"] >= 0, "sys.tasks: its duration",
         str(wt))
    c.eq((lt.get("type"), lt.get("datasource"), lt.get("status"), lt.get("runner_status"),
          lt.get("duration")), ("streaming", "live", "RUNNING", "RUNNING", None),
         "sys.tasks: the streaming job")
    c.eq(wt.get("created_time", "")[:19], jobs[wiki_job]["createdTimestamp"][:19],
         "sys.tasks: created_time is the job's createdTimestamp")
    c.eq(list(wt.keys()), ["task_id", "group_id", "type", "datasource", "created_time",
                           "queue_insertion_time", "status", "runner_status", "duration",
                           "location", "host", "plaintext_port", "tls_port", "error_msg"],
         "sys.tasks: Druid's columns")
    # suspending the streaming job: SUCCESS once it stopped
    s.req("PATCH", f"/v2/jobs/{live_job}", {"desiredExecutionStatus": "suspended"})
    c.ok(wait_for(lambda: (rows_of(f"SELECT status FROM sys.tasks WHERE task_id = '{live_job}'")
                           or [{}])[0].get("status") == "SUCCESS"),
         "sys.tasks: a suspended job shows SUCCESS")

    # INFORMATION_SCHEMA lists the sys schema
    got = rows_of("SELECT TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES "
                  "WHERE TABLE_SCHEMA = 'sys' ORDER BY 1", resultFormat="array")
    c.eq(got, [["segments", "SYSTEM_TABLE"], ["tasks", "SYSTEM_TABLE"]],
         "INFORMATION_SCHEMA.TABLES lists sys.segments and sys.tasks")
    got = rows_of("SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
                  "WHERE TABLE_SCHEMA = 'sys' AND TABLE_NAME = 'segments' ORDER BY ORDINAL_POSITION "
                  "LIMIT 5", resultFormat="array")
    c.eq(got, [["segment_id", "VARCHAR"], ["datasource", "VARCHAR"], ["start", "VARCHAR"],
               ["end", "VARCHAR"], ["size", "BIGINT"]], "INFORMATION_SCHEMA.COLUMNS of sys.segments")
    got = rows_of("SELECT SCHEMA_NAME FROM INFORMATION_SCHEMA.SCHEMATA", resultFormat="array")
    c.eq(got, [["druid"], ["INFORMATION_SCHEMA"], ["sys"]], "SCHEMATA has sys")
finally:
    s.stop()
c.done()
