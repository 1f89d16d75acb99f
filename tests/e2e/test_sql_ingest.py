"""
test_sql_ingest.py — SQL-based ingestion against a real `lodestar serve`: jobs of
"type": "sql" (INSERT from inline data and from an uploaded file, REPLACE OVERWRITE ALL and
OVERWRITE WHERE, table to table into a detail table and rolled up into an aggregate table),
delete_data jobs (by interval, by condition), none of them on a table a streaming job writes
(409: a swap would drop the stream's rows), kill -9 in the middle of a REPLACE (the table
holds the old rows or the new ones after the restart, never neither nor a mix), the same
statements through the query API, and the errors a statement gets (with line and column).
"""
import json
import os
import tempfile
import time
import uuid

from harness import Checks, Server, wait_for

c = Checks()

SEG_SUFFIX = ".lseg"  # a segment file (storage_int.h ST_FILE_SUFFIX)
SIG = '[{"name":"ts","type":"string"},{"name":"city","type":"string"},{"name":"n","type":"long"}]'


def sqlstr(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def inline_src(rows):
    data = "".join(json.dumps(r) + "\n" for r in rows)
    return sqlstr(json.dumps({"type": "inline", "data": data}))


def rows_of(day, k, city="Delft", base=0):
    return [{"ts": f"{day}T{h % 24:02d}:00:00Z", "city": city, "n": base + h} for h in range(k)]


def select_ext(src, where=""):
    return (f"SELECT TIME_PARSE(\"ts\") AS __time, \"city\", n, n * 2 AS doubled "
            f"FROM TABLE(EXTERN({src}, '{{\"type\":\"json\"}}', {sqlstr(SIG)})) {where}")


def multipart(name, data):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\""
            f"\r\nContent-Type: application/octet-stream\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def sql_job(s, query, create=True, status=201):
    r = s.req("POST", "/v2/jobs", {"type": "sql", "query": query,
                                   "createTableIfNotExists": create})
    c.eq(r.status, status, f"sql job answered {status}: {query[:70]}")
    if r.status != status:
        print(r.raw[:600])
    return r


def finished(s, jid):
    return wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] in
                    ("succeeded", "failed") and s.req("GET", f"/v2/jobs/{jid}").json, timeout=60)


def run(s, query, name, create=True):
    r = sql_job(s, query, create)
    if r.status != 201:
        return None
    st = finished(s, r.json["id"])
    c.eq(st and st["executionStatus"], "succeeded", name)
    if st and st["executionStatus"] != "succeeded":
        print(json.dumps(st.get("health")))
    return st


def q(s, text):
    r = s.req("POST", "/v1/query/sql", {"query": text, "resultFormat": "array"})
    c.eq(r.status, 200, f"query ok: {text[:60]}")
    if r.status != 200:
        print(r.raw[:400])
    return r.json if r.status == 200 else None


with Server() as s:
    # ---- INSERT from inline data: mappings, WHERE as the filter, PARTITIONED BY ----
    st = run(s, "INSERT INTO \"cities\"\n" + select_ext(inline_src(rows_of("2024-01-01", 24)),
                                                         "WHERE n < 20") +
             "\nPARTITIONED BY DAY\nCLUSTERED BY \"city\"", "INSERT from inline data")
    if st:
        c.eq((st["type"], st["ingestionMode"], st["target"]["tableName"], st["partitionedBy"]),
             ("sql", "append", "cities", "day"), "the job shows what the statement says")
        c.ok(st["query"].startswith("INSERT INTO"), "the job keeps its query")
        m = s.req("GET", f"/v2/jobs/{st['id']}/metrics").json["totals"]
        c.eq((m["numRowsProcessed"], m["numRowsSkippedByFilter"]), (20, 4),
             "WHERE filtered 4 rows, 20 ingested")
    c.eq(q(s, "SELECT COUNT(*), SUM(n), SUM(doubled) FROM cities"), [[20, 190, 380]],
         "the rows and their computed column")
    c.eq(s.req("GET", "/v2/tables/cities").json.get("partitioningGranularity"), "day",
         "the created table is partitioned by PARTITIONED BY")

    # ---- INSERT from an uploaded file (appends) ----
    body, hdr = multipart("more.json", "".join(json.dumps(r) + "\n" for r in
                                               rows_of("2024-01-02", 10, "Lyon")).encode())
    c.eq(s.req("POST", "/v1/files", raw_body=body, headers=hdr).status, 200, "file uploaded")
    up = sqlstr('{"type":"uploaded","fileNames":["more.json"]}')
    run(s, "INSERT INTO cities " + select_ext(up) + " PARTITIONED BY DAY",
        "INSERT from an uploaded file")
    c.eq(q(s, "SELECT city, COUNT(*) FROM cities GROUP BY city ORDER BY city"),
         [["Delft", 20], ["Lyon", 10]], "appended beside the first rows")

    # ---- EXTEND form ----
    run(s, "INSERT INTO ext2 SELECT TIME_PARSE(ts) AS __time, city FROM TABLE(EXTERN(" +
        inline_src(rows_of("2024-01-01", 3)) + ", '{\"type\":\"json\"}')) EXTEND (ts VARCHAR, "
        "city VARCHAR, n BIGINT) PARTITIONED BY HOUR", "EXTERN ... EXTEND")
    c.eq(q(s, "SELECT COUNT(*) FROM ext2"), [[3]], "EXTEND rows")

    # ---- CSV with a header ----
    csv_src = sqlstr(json.dumps({"type": "inline",
                                 "data": "ts,city,n\n2024-02-01T01:00:00Z,\"Delft, NL\",5\n"
                                         "2024-02-01T02:00:00Z,Lyon,6\n"}))
    run(s, "INSERT INTO csvt SELECT TIME_PARSE(ts) AS __time, city, n FROM TABLE(EXTERN(" +
        csv_src + ", '{\"type\":\"csv\",\"findColumnsFromHeader\":true}', " + sqlstr(SIG) +
        ")) PARTITIONED BY DAY", "INSERT from inline CSV with a header")
    c.eq(q(s, "SELECT city, n FROM csvt ORDER BY n"), [["Delft, NL", 5], ["Lyon", 6]],
         "CSV rows, quoted commas kept")

    # ---- REPLACE OVERWRITE WHERE: one day replaced, the other untouched ----
    run(s, "REPLACE INTO cities OVERWRITE WHERE __time >= TIMESTAMP '2024-01-02 00:00:00' AND "
        "__time < TIMESTAMP '2024-01-03 00:00:00' " +
        select_ext(inline_src(rows_of("2024-01-02", 2, "Paris", 100))) + " PARTITIONED BY DAY",
        "REPLACE OVERWRITE WHERE")
    c.eq(q(s, "SELECT city, COUNT(*), SUM(n) FROM cities GROUP BY city ORDER BY city"),
         [["Delft", 20, 190], ["Paris", 2, 201]], "the day replaced, the other day kept")
    # rows outside the interval fail the job, nothing replaced (as Druid)
    r = sql_job(s, "REPLACE INTO cities OVERWRITE WHERE __time >= TIMESTAMP '2024-01-02' AND "
                "__time < TIMESTAMP '2024-01-03' " +
                select_ext(inline_src(rows_of("2024-01-01", 2, "Oslo"))) + " PARTITIONED BY DAY")
    st = finished(s, r.json["id"]) if r.status == 201 else None
    c.eq(st and st["executionStatus"], "failed", "rows outside OVERWRITE WHERE fail the job")
    c.ok(st and "outside OVERWRITE WHERE" in st["health"].get("message", ""),
         "the failure says why", st and st["health"])
    c.eq(q(s, "SELECT city, COUNT(*) FROM cities GROUP BY city ORDER BY city"),
         [["Delft", 20], ["Paris", 2]], "a failed REPLACE changes nothing")

    # ---- REPLACE OVERWRITE ALL ----
    run(s, "REPLACE INTO ext2 OVERWRITE ALL " + select_ext(inline_src(rows_of("2024-03-01", 5)))
        + " PARTITIONED BY DAY", "REPLACE OVERWRITE ALL")
    c.eq(q(s, "SELECT COUNT(*), MIN(__time) FROM ext2"), [[5, "2024-03-01T00:00:00.000Z"]],
         "only the new rows remain")

    # ---- table to table ----
    run(s, "INSERT INTO copy SELECT __time, city, n FROM cities WHERE city = 'Delft' "
        "PARTITIONED BY DAY", "INSERT ... SELECT FROM another table")
    c.eq(q(s, "SELECT COUNT(*), SUM(n) FROM copy"), [[20, 190]], "the selected rows copied")
    r = s.req("POST", "/v2/tables", {"name": "rollup", "type": "aggregate",
                                     "timeResolution": "day",
                                     "schema": [{"name": "city", "dataType": "string"},
                                                {"name": "total", "dataType": "longSum"},
                                                {"name": "cnt", "dataType": "longSum"}]})
    c.eq(r.status, 201, "aggregate table created")
    run(s, "REPLACE INTO rollup OVERWRITE ALL SELECT TIME_FLOOR(__time, 'P1D') AS __time, city, "
        "SUM(n) AS total, COUNT(*) AS cnt FROM cities GROUP BY 1, 2 PARTITIONED BY DAY",
        "REPLACE ... GROUP BY into an aggregate table", create=False)
    c.eq(q(s, "SELECT city, SUM(total), SUM(cnt) FROM rollup GROUP BY city ORDER BY city"),
         [["Delft", 190, 20], ["Paris", 201, 2]], "rolled up sums")
    c.eq(q(s, "SELECT COUNT(*) FROM rollup"), [[2]], "one row per day and city")

    # ---- delete_data: by interval, by condition ----
    r = s.req("POST", "/v2/jobs", {"type": "delete_data",
                                   "target": {"type": "table", "tableName": "cities",
                                              "intervals": ["2024-01-02/2024-01-03"]}})
    c.eq(r.status, 201, "delete_data by interval created")
    st = r.status == 201 and finished(s, r.json["id"])
    c.eq(st and st["executionStatus"], "succeeded", "delete by interval succeeded")
    c.eq(q(s, "SELECT city, COUNT(*) FROM cities GROUP BY city ORDER BY city"), [["Delft", 20]],
         "the day's rows are gone")
    r = s.req("POST", "/v2/jobs", {"type": "delete_data", "condition": "n >= 10",
                                   "target": {"type": "table", "tableName": "cities"}})
    c.eq(r.status, 201, "delete_data by condition created")
    st = r.status == 201 and finished(s, r.json["id"])
    c.eq(st and st["executionStatus"], "succeeded", "delete by condition succeeded")
    c.eq(q(s, "SELECT COUNT(*), MAX(n) FROM cities"), [[10, 9]], "the matching rows are gone")
    r = s.req("POST", "/v2/jobs", {"type": "delete_data",
                                   "target": {"type": "table", "tableName": "cities",
                                              "intervals": ["2024-01-01T05:00:00Z/2024-01-02"]}})
    c.eq(r.status, 400, "an interval that is not whole days: 400")
    r = s.req("POST", "/v2/jobs", {"type": "delete_data",
                                   "target": {"type": "table", "tableName": "cities"}})
    c.eq(r.status, 400, "a delete without intervals or condition: 400")
    r = s.req("POST", "/v2/jobs", {"type": "delete_data", "softDelete": True,
                                   "target": {"type": "table", "tableName": "cities",
                                              "intervals": ["2024-01-01/2024-01-02"]}})
    c.eq((r.status, (r.json or {}).get("target")), (400, "softDelete"),
         "softDelete: true is refused (deletes are permanent)")
    r = s.req("POST", "/v2/jobs", {"type": "delete_data", "condition": "nope(",
                                   "target": {"type": "table", "tableName": "cities"}})
    c.eq((r.status, (r.json or {}).get("target")), (400, "condition"), "a bad condition: 400")
    r = s.req("POST", "/v2/jobs", {"type": "delete_data", "condition": "nn > 1",
                                   "target": {"type": "table", "tableName": "cities"}})
    c.ok(r.status == 400 and "nn" in r.json["message"], "an unknown column in the condition",
         r.raw)
    c.eq(q(s, "SELECT COUNT(*) FROM cities"), [[10]], "nothing deleted by the bad condition")

    # ---- the project-scoped paths ----
    pid = s.req("GET", "/v1/projects").json[0]["metadata"]["uid"]
    r = s.req("POST", f"/v1/projects/{pid}/jobs",
              {"type": "sql", "createTableIfNotExists": True,
               "query": "INSERT INTO scoped " + select_ext(inline_src(rows_of("2024-06-01", 2))) +
                        " PARTITIONED BY DAY"})
    c.eq(r.status, 201, "a sql job on the project-scoped path")
    st = r.status == 201 and finished(s, r.json["id"])
    c.eq(st and st["executionStatus"], "succeeded", "it ran")
    r = s.req("GET", f"/v1/projects/{pid}/jobs?type=sql")
    c.ok(r.status == 200 and r.json["values"] and
         all(v["type"] == "sql" for v in r.json["values"]), "jobs listed by type=sql")
    r = s.req("POST", f"/v1/projects/{pid}/query/sql",
              {"query": "INSERT INTO scoped " + select_ext(inline_src(rows_of("2024-06-02", 3))) +
                        " PARTITIONED BY DAY"})
    c.eq(r.status, 202, "INSERT through the project-scoped query path")
    st = r.status == 202 and finished(s, r.json["taskId"])
    c.eq(q(s, "SELECT COUNT(*) FROM scoped"), [[5]], "both jobs' rows")

    # ---- the query API ----
    r = s.req("POST", "/v1/query/sql", {"query": "INSERT INTO viaquery " + select_ext(
        inline_src(rows_of("2024-05-01", 4))) + " PARTITIONED BY DAY"})
    c.eq(r.status, 202, "INSERT through the query API: 202")
    c.eq(r.json and r.json.get("state"), "RUNNING", "Druid's task answer")
    tid = r.json and r.json.get("taskId")
    c.ok(tid and r.json["job"]["id"] == tid, "the job it started")
    st = tid and finished(s, tid)
    c.eq(st and st["executionStatus"], "succeeded", "that job succeeded")
    c.eq(q(s, "SELECT COUNT(*) FROM viaquery"), [[4]], "its rows")

    # ---- Druid's own task path ----
    r = s.req("POST", "/druid/v2/sql/task", {"query": "INSERT INTO viatask " + select_ext(
        inline_src(rows_of("2024-05-02", 3))) + " PARTITIONED BY DAY", "context": {}})
    c.eq((r.status, (r.json or {}).get("state")), (202, "RUNNING"), "POST /druid/v2/sql/task")
    st = r.status == 202 and finished(s, r.json["taskId"])
    c.eq(st and st["executionStatus"], "succeeded", "the task's job succeeded")
    c.eq(q(s, "SELECT COUNT(*) FROM viatask"), [[3]], "the task's rows")
    # a Druid client (Airflow's hook among them) polls the task's status
    if r.status == 202:
        tid = r.json["taskId"]
        t = s.req("GET", f"/druid/indexer/v1/task/{tid}/status")
        ts = (t.json or {}).get("status") or {}
        c.eq((t.status, (t.json or {}).get("task"), ts.get("id"), ts.get("status"),
              ts.get("statusCode"), ts.get("dataSource")),
             (200, tid, tid, "SUCCESS", "SUCCESS", "viatask"), "GET /druid/indexer/v1/task/{id}/status")
        c.ok(isinstance(ts.get("duration"), int) and ts.get("createdTime"), "its duration and time",
             t.raw)
        t = s.req("GET", f"/druid/indexer/v1/task/{tid}/reports")
        rs = (((t.json or {}).get("multiStageQuery") or {}).get("payload") or {}).get("status")
        c.eq((t.status, rs and rs.get("status"), isinstance(rs and rs.get("durationMs"), int)),
             (200, "SUCCESS", True), "GET /druid/indexer/v1/task/{id}/reports: payload.status")
        t = s.req("POST", f"/druid/indexer/v1/task/{tid}/shutdown")
        c.eq((t.status, t.json), (200, {"task": tid}), "shutdown of a finished task: Druid's answer")
        c.eq(q(s, "SELECT COUNT(*) FROM viatask"), [[3]], "and its rows stay")
    t = s.req("POST", "/druid/indexer/v1/task/no-such-task/shutdown")
    c.ok(t.status == 404 and "no-such-task" in (t.json or {}).get("message", ""),
         "shutdown of an unknown task: 404 naming it", t.raw)
    t = s.req("GET", "/druid/indexer/v1/task/no-such-task/reports")
    c.eq(t.status, 404, "reports of an unknown task: 404")
    t = s.req("GET", "/druid/indexer/v1/task/no-such-task/status")
    c.ok(t.status == 404 and "no task 'no-such-task'" in (t.json or {}).get("message", ""),
         "an unknown task is a 404 naming it", t.raw)
    t = s.req("GET", "/druid/indexer/v1/task/x/status", key=None)
    c.eq(t.status, 401, "the task status needs a key")
    r = s.req("POST", "/druid/v2/sql/task", {"query": "SELECT 1"})
    c.ok(r.status == 400 and "/druid/v2/sql" in r.json["message"], "a SELECT on the task path",
         r.raw)

    # ---- errors ----
    r = sql_job(s, "INSERT INTO t\nSELECT * FROM cities", status=400)
    c.ok("PARTITIONED BY" in (r.json or {}).get("message", "") and
         "line 2" in r.json["message"], "missing PARTITIONED BY: line and hint", r.raw)
    c.eq((r.json or {}).get("target"), "query", "the error names the query")
    r = sql_job(s, "INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN("
                "'{\"type\":\"hdfs\"}', '{\"type\":\"json\"}', " + sqlstr(SIG) +
                ")) PARTITIONED BY DAY", status=400)
    c.ok("\"hdfs\" is not supported" in (r.json or {}).get("message", ""),
         "unknown input source", r.raw)
    r = sql_job(s, "INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN("
                "'{\"type\":\"s3\"}', '{\"type\":\"json\"}', " + sqlstr(SIG) +
                ")) PARTITIONED BY DAY", status=400)
    c.ok("connectionName" in (r.json or {}).get("message", "") and
         "s3://BUCKET/KEY" in r.json["message"], "an s3 source naming nothing", r.raw)
    r = sql_job(s, "INSERT INTO t SELECT TIME_PARSE(ts) AS __time FROM TABLE(EXTERN("
                "'{\"type\":\"uploaded\",\"fileNames\":[\"nope.json\"]}', '{\"type\":\"json\"}', "
                + sqlstr(SIG) + ")) PARTITIONED BY DAY", status=400)
    c.ok("nope.json" in (r.json or {}).get("message", ""), "unknown uploaded file", r.raw)
    r = sql_job(s, "INSERT INTO t SELECT TIME_PARSE(ts) AS __time, TIME_PARS(ts) AS x FROM "
                "TABLE(EXTERN(" + inline_src(rows_of("2024-01-01", 1)) + ", '{\"type\":\"json\"}', "
                + sqlstr(SIG) + ")) PARTITIONED BY DAY", status=400)
    c.ok("TIME_PARS" in (r.json or {}).get("message", ""), "a bad expression", r.raw)
    r = sql_job(s, "REPLACE INTO cities OVERWRITE WHERE __time >= TIMESTAMP '2024-01-01 06:00:00' "
                "AND __time < TIMESTAMP '2024-01-02' SELECT * FROM cities PARTITIONED BY DAY",
                status=400)
    c.ok("not whole PARTITIONED BY day chunks" in (r.json or {}).get("message", "") and
         "2024-01-01T00:00:00.000Z" in r.json["message"], "OVERWRITE WHERE off the chunks",
         r.raw)
    r = sql_job(s, "INSERT INTO t SELECT * FROM missing_table PARTITIONED BY DAY", status=400)
    c.ok("missing_table" in (r.json or {}).get("message", ""), "unknown source table", r.raw)
    r = s.req("POST", "/v1/query/sql", {"query": "REPLACE INTO t SELECT 1 PARTITIONED BY DAY"})
    c.eq(r.status, 400, "a bad statement through the query API: 400")

    # ---- a table a streaming job writes takes no REPLACE, INSERT or delete: 409 ----
    # (a swap would drop the rows the stream appends to the replaced chunks)
    c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "livec"}).status,
         201, "push connection for a streaming job")
    r = s.req("POST", "/v2/jobs", {
        "type": "streaming", "target": {"type": "table", "tableName": "livet"},
        "createTableIfNotExists": True,
        "source": {"type": "connection", "connectionName": "livec",
                   "inputSchema": [{"name": x["name"], "dataType": x["type"]}
                                   for x in json.loads(SIG)],
                   "formatSettings": {"format": "nd-json"}},
        "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                     {"columnName": "city", "expression": "city"},
                     {"columnName": "n", "expression": "n"}]})
    c.ok(r.status == 201, "streaming job on livet", r.raw[:300])
    live_id = r.json["id"] if r.status == 201 else ""
    two = select_ext(inline_src(rows_of("2024-01-01", 2))) + " PARTITIONED BY DAY"
    for stmt in ("REPLACE INTO livet OVERWRITE ALL " + two, "INSERT INTO livet " + two):
        r = sql_job(s, stmt, status=409)
        c.ok(live_id and live_id in (r.json or {}).get("message", ""),
             "the 409 names the live streaming job", r.raw[:300])
        r = s.req("POST", "/v1/query/sql", {"query": stmt})
        c.eq(r.status, 409, "the same statement through the query API: 409")
    r = s.req("POST", "/v2/jobs", {"type": "delete_data",
                                   "target": {"type": "table", "tableName": "livet",
                                              "intervals": ["2024-01-01/2024-01-02"]}})
    c.eq(r.status, 409, "a delete_data job on a table a stream writes: 409")
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{live_id}").json["executionStatus"] ==
                  "running", timeout=20), "the streaming job runs")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    c.eq(s.req("POST", "/v1/events/livec", raw_body=(json.dumps({"ts": now, "city": "Delft",
                                                                 "n": 1}) + "\n").encode(),
               headers={"Content-Type": "application/json"}).status, 200,
         "the stream still takes events")
    c.ok(wait_for(lambda: (q(s, "SELECT COUNT(*) FROM livet") or [[0]])[0][0] == 1, timeout=20),
         "and its row is queryable")

# ---- kill -9 in the middle of a REPLACE: old rows or new, never neither ----
data_dir = tempfile.mkdtemp(prefix="lodestar-sqlkill-")
N_OLD, N_NEW = 1000, 200000
# small persist bounds: the REPLACE writes its rows ahead as uncommitted
# segment files every 20000 rows (it never holds them all in memory), so the
# kills land between those writes and the swap's one commit
KILL_ENV = {"LODESTAR_PERSIST_MAX_ROWS": "20000"}
s = Server(data_dir=data_dir, env=KILL_ENV).start()
try:
    old_rows = [{"ts": "2024-01-01T00:00:00Z", "city": "old", "n": i} for i in range(N_OLD)]
    run(s, "INSERT INTO big " + select_ext(inline_src(old_rows)) + " PARTITIONED BY DAY",
        "the old rows")
    new_rows = "".join(json.dumps({"ts": f"2024-01-0{1 + i % 3}T00:00:00Z", "city": "new",
                                   "n": i}) + "\n" for i in range(N_NEW)).encode()
    body, hdr = multipart("new.json", new_rows)
    c.eq(s.req("POST", "/v1/files", raw_body=body, headers=hdr).status, 200, "big file uploaded")
    # Druid's shutdown of a running REPLACE task: the job is canceled, nothing changes
    r = s.req("POST", "/druid/v2/sql/task", {"query": "REPLACE INTO big OVERWRITE ALL " +
                                             select_ext(sqlstr('{"type":"uploaded","fileNames":'
                                                               '["new.json"]}')) +
                                             " PARTITIONED BY DAY"})
    c.eq(r.status, 202, "a REPLACE task to shut down")
    if r.status == 202:
        tid = r.json["taskId"]
        t = s.req("POST", f"/druid/indexer/v1/task/{tid}/shutdown")
        c.eq((t.status, t.json), (200, {"task": tid}), "POST .../shutdown of a running task")
        st = wait_for(lambda: s.req("GET", f"/v2/jobs/{tid}").json["executionStatus"] in
                      ("canceled", "succeeded", "failed") and
                      s.req("GET", f"/v2/jobs/{tid}").json, timeout=60)
        st = st or s.req("GET", f"/v2/jobs/{tid}").json
        c.ok(st["executionStatus"] in ("canceled", "succeeded"),
             "the task ends (canceled, or done first)", st["executionStatus"])
        ts = s.req("GET", f"/druid/indexer/v1/task/{tid}/status").json["status"]
        want = ([["old", N_OLD]] if st["executionStatus"] == "canceled" else [["new", N_NEW]])
        c.eq(q(s, "SELECT city, COUNT(*) FROM big GROUP BY city ORDER BY city"), want,
             "a shut-down REPLACE changed nothing (or all, if it had finished)")
        c.eq(ts["status"], "FAILED" if st["executionStatus"] == "canceled" else "SUCCESS",
             "Druid's status of a shut-down task")
    outcomes = set()
    for attempt, delay in enumerate((0.05, 0.3, 30)):
        r = sql_job(s, "REPLACE INTO big OVERWRITE ALL " + select_ext(
            sqlstr('{"type":"uploaded","fileNames":["new.json"]}')) + " PARTITIONED BY DAY")
        jid = r.json["id"] if r.status == 201 else None
        if delay < 30:
            wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] != "pending",
                     timeout=10)
            time.sleep(delay)
        else:
            finished(s, jid)
        s.kill9()
        s = Server(data_dir=data_dir, env=KILL_ENV).start()
        st = jid and finished(s, jid)
        c.ok(st and (st["executionStatus"] == "succeeded" or
                     "changed nothing" in st["health"].get("message", "")),
             "a REPLACE cut short says it changed nothing", st and st["health"])
        got = q(s, "SELECT city, COUNT(*) FROM big GROUP BY city ORDER BY city")
        outcomes.add(json.dumps(got))
        c.ok(got in ([["old", N_OLD]], [["new", N_NEW]]),
             f"after kill -9 (attempt {attempt}): all old rows or all new", got)
        # files written ahead that no commit named are gone with the restart
        tdir = os.path.join(data_dir, "tables", s.req("GET", "/v2/tables/big").json["id"])
        files = sorted(f for f in os.listdir(tdir) if f.endswith(SEG_SUFFIX))
        listed = s.req("POST", "/druid/v2/sql", {
            "query": "SELECT COUNT(*) FROM sys.segments WHERE datasource = 'big'",
            "resultFormat": "array"}).json
        c.eq([[len(files)]], listed, f"after kill -9 (attempt {attempt}): the table's files "
             "are the committed segments, no uncommitted one left")
        if got == [["new", N_NEW]]:
            break
    c.ok(json.dumps([["new", N_NEW]]) in outcomes, "a REPLACE that ran to the end is kept")
    staging = os.path.join(data_dir, "staging")
    c.ok(not os.path.exists(staging) or not os.listdir(staging),
         "no staged rows are left behind after the restarts", os.path.exists(staging) and
         os.listdir(staging))
finally:
    s.stop()

c.done()
