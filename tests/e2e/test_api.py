"""
test_api.py — the management API end to end against a real `lodestar serve`:
projects, authentication and permissions, tables, connections, jobs, the
reference page's requests sent as its curl and Python samples send them,
every error class (400/401/403/404/409/413), restart and clean shutdown.
"""
import json
import os
import re
import signal
import stat
import subprocess
import time

from harness import BIN, Checks, Server, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
c = Checks()

# The reference page's requests, byte for byte as its curl samples send them.
PAGE_JOB_1 = '''{
"type": "streaming",
"target": {
"type": "table",
"tableName": "example-table"
},
"source": {
"type": "connection",
"connectionName": "example-connection",
"formatSettings": {
"format": "nd-json"
},
"inputSchema": [
{
"dataType": "string",
"name": "date"
}
]
},
"mappings": [
{
"columnName": "__time",
"expression": "TIME_PARSE(\\"date\\")"
}
],
"useSchemaDiscovery": true,
"dimensionExclusions": [
"col1",
"col2"
],
"readFromPoint": "earliest"
}'''

PAGE_JOB_2 = '''{
"type": "streaming",
"target": {
"type": "table",
"tableName": "example-table"
},
"source": {
"type": "connection",
"connectionName": "example-connection",
"formatSettings": {
"format": "nd-json"
},
"inputSchema": [
{
"dataType": "string",
"name": "date"
},
{
"dataType": "string",
"name": "time"
},
{
"dataType": "string",
"name": "country"
},
{
"dataType": "string",
"name": "city"
}
]
},
"mappings": [
{
"columnName": "__time",
"expression": "TIME_PARSE(CONCAT(\\"date\\", 'T', \\"time\\"))"
},
{
"columnName": "country",
"expression": "country"
},
{
"columnName": "city",
"expression": "city"
}
],
"useSchemaDiscovery": false,
"readFromPoint": "latest"
}'''

with open(os.path.join(HERE, "data", "polaris_sample_responses.json")) as f:
    SAMPLES = json.load(f)

# Keys whose values the server makes up, and the page's first sample response's
# values that contradict its own request (it shows the defaults instead of
# useSchemaDiscovery: true, dimensionExclusions [col1, col2], earliest): for
# those the shape is compared, the value is what the request asked for.
SERVER_SET = {"id", "createdBy", "lastModifiedBy", "createdTimestamp", "lastUpdatedTimestamp",
              "username", "userId"}
ISO_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def same_shape(sample, ours, path, skip_values=()):
    """Every key of the sample is in ours with the same JSON type; values equal unless skipped."""
    if isinstance(sample, dict):
        if not c.ok(isinstance(ours, dict), f"{path} is an object", repr(ours)):
            return
        for k, v in sample.items():
            p = f"{path}.{k}" if path else k
            if c.ok(k in ours, f"response has {p}", f"keys: {sorted(ours)}"):
                same_shape(v, ours[k], p, skip_values)
        return
    if isinstance(sample, list):
        if c.ok(isinstance(ours, list), f"{path} is an array", repr(ours)):
            for i, (a, b) in enumerate(zip(sample, ours)):
                same_shape(a, b, f"{path}[{i}]", skip_values)
            if path.split(".")[-1] not in skip_values:
                c.eq(len(ours), len(sample), f"{path} length")
        return
    c.eq(type(ours).__name__ if ours is not None else "null",
         type(sample).__name__ if sample is not None else "null", f"{path} type")
    last = path.split(".")[-1].split("[")[0]
    if last in SERVER_SET or last in skip_values:
        return
    c.eq(ours, sample, f"{path} value")


def err_check(resp, status, target, name, message_has=None):
    c.eq(resp.status, status, f"{name}: status")
    body = resp.json or {}
    c.ok(isinstance(body.get("error"), str) and isinstance(body.get("message"), str),
         f"{name}: error JSON has error and message", resp.raw)
    if target is not None:
        c.eq(body.get("target"), target, f"{name}: target")
    if message_has:
        c.ok(message_has in body.get("message", ""), f"{name}: message mentions {message_has!r}",
             body.get("message"))


def curl(s, method, path, data=None, user=None):
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--location", "--request", method,
            s.url(path)]
    if user is not None:
        args += ["--user", user]
    if data is not None:
        args += ["--header", "Content-Type: application/json", "--data-raw", data]
    out = subprocess.run(args, capture_output=True, timeout=30).stdout.decode()
    body, _, code = out.rpartition("\n")
    return int(code), (json.loads(body) if body.strip() else None)


with Server() as s:
    key = s.key
    # ---- admin key ----
    kpath = os.path.join(s.data_dir, "admin.key")
    c.eq(stat.S_IMODE(os.stat(kpath).st_mode), 0o600, "admin.key is mode 0600")
    c.ok(re.fullmatch(r"pok_[0-9A-Za-z]{40}", key), "admin key looks like pok_ + 40 base62", key)
    c.eq(s.log_text().count(key), 1, "admin key printed exactly once")

    # ---- projects ----
    r = s.req("GET", "/v1/projects")
    c.eq(r.status, 200, "GET /v1/projects")
    c.ok(isinstance(r.json, list) and len(r.json) == 1, "one default project", r.raw)
    pid = r.json[0]["metadata"]["uid"]
    c.eq(r.json[0]["status"]["state"], "running", "project state")
    c.eq(s.req("GET", f"/v1/projects/{pid}").json["metadata"]["uid"], pid, "GET one project")
    c.eq(s.req("GET", "/v1/projects/00000000-0000-0000-0000-000000000000/tables").status, 404,
         "unknown project: 404")

    # ---- authentication ----
    c.eq(s.req("GET", "/v2/tables", key=None).status, 401, "no key: 401")
    err_check(s.req("GET", "/v2/tables", key="pok_" + "x" * 40), 401, None, "unknown key")
    for form in ("basic-colon", "basic-raw", "bearer"):
        c.eq(s.req("GET", "/v2/tables", auth=form).status, 200, f"auth form {form}")
    c.eq(s.req("GET", "/v2/tables", key="garbage", auth="basic-raw").status, 401,
         "garbage Basic: 401")
    out = subprocess.run([BIN, "apikey", "create", "--data-dir", s.data_dir, "--name", "viewer",
                          "--permissions", "ViewTables"], capture_output=True, timeout=30)
    c.eq(out.returncode, 0, "apikey create while the server runs")
    viewer = out.stdout.decode().strip()
    c.ok(re.fullmatch(r"pok_[0-9A-Za-z]{40}", viewer), "new key printed", viewer)
    c.eq(s.req("GET", "/v2/tables", key=viewer).status, 200, "ViewTables can list tables")
    err_check(s.req("POST", "/v2/tables", {"name": "x"}, key=viewer), 403, None,
              "ViewTables cannot create tables", "ManageTables")
    c.eq(s.req("GET", "/v2/jobs", key=viewer).status, 403, "ViewTables cannot list jobs")
    bad = subprocess.run([BIN, "apikey", "create", "--data-dir", s.data_dir, "--name", "v2",
                          "--permissions", "ManageTabels"], capture_output=True, timeout=30)
    c.ok(bad.returncode != 0 and b"ManageTables" in bad.stderr,
         "apikey create with a misspelt permission suggests the right one", bad.stderr)
    dup = subprocess.run([BIN, "apikey", "create", "--data-dir", s.data_dir, "--name", "viewer",
                          "--permissions", "ViewTables"], capture_output=True, timeout=30)
    c.ok(dup.returncode != 0 and b"already exists" in dup.stderr, "duplicate key name refused")

    # ---- tables ----
    r = s.req("POST", "/v2/tables", {"name": "example-table"})
    c.eq(r.status, 201, "create table with defaults")
    t = r.json
    c.eq((t["type"], t["schemaMode"], t["partitioningGranularity"]), ("detail", "flexible", "day"),
         "table defaults")
    c.eq(t["schema"][0], {"name": "__time", "dataType": "timestamp", "columnType": "dimension"},
         "every table has __time")
    c.eq(t["status"], {"rowCount": 0, "segmentCount": 0, "totalBytes": 0, "minTime": None,
                       "maxTime": None}, "table status")
    c.eq(t["createdByUser"]["username"], "api-key-admin", "createdByUser names the key")
    r = s.req("POST", f"/v1/projects/{pid}/tables",
              {"name": "wiki_rollup", "type": "aggregate", "timeResolution": "hour",
               "partitioningGranularity": "month",
               "schema": [{"name": "channel", "dataType": "string"},
                          {"name": "edits", "dataType": "count"},
                          {"name": "added", "dataType": "longSum"}]})
    c.eq(r.status, 201, "create aggregate table (project-scoped path)")
    c.eq(r.json["schema"][2]["columnType"], "measure", "measure columnType")
    c.eq(r.json["timeResolution"], "hour", "timeResolution kept")
    r = s.req("POST", "/v2/tables", {"name": "strict1", "schemaMode": "strict",
                                     "schema": [{"name": "page", "dataType": "string"},
                                                {"name": "n", "dataType": "long"}]})
    c.eq(r.status, 201, "create strict table")
    err_check(s.req("POST", "/v2/tables", {"name": "example-table"}), 409, "name", "duplicate table",
              "already exists")
    err_check(s.req("POST", "/v2/tables", {"name": "s2", "schemaMode": "strict"}), 400, "schema",
              "strict table needs a schema")
    err_check(s.req("POST", "/v2/tables", {"name": "g", "partitioningGranularity": "daily"}), 400,
              "partitioningGranularity", "bad granularity", "did you mean")
    err_check(s.req("POST", "/v2/tables", {"name": "m", "schema": [
        {"name": "x", "dataType": "longSum"}]}), 400, "schema[0].dataType",
        "measure in a detail table", "aggregate")
    err_check(s.req("POST", "/v2/tables", {"name": "m", "schema": [
        {"name": "x", "dataType": "strng"}]}), 400, "schema[0].dataType", "bad column type")
    err_check(s.req("POST", "/v2/tables", {"name": "m", "schema": [
        {"name": "__x", "dataType": "string"}]}), 400, "schema[0].name", "reserved column name")
    err_check(s.req("POST", "/v2/tables", {"name": "a/b"}), 400, "name", "slash in table name")
    err_check(s.req("POST", "/v2/tables", {"name": "a\u0001b"}), 400, "name", "control char")
    err_check(s.req("POST", "/v2/tables", {"name": "x" * 256}), 400, "name", "name too long")
    err_check(s.req("POST", "/v2/tables", {"name": "t", "colour": "red"}), 400, "colour",
              "unknown table field")
    err_check(s.req("POST", "/v2/tables", {"name": 5}), 400, "name", "wrong type for name")
    err_check(s.req("POST", "/v2/tables", {"name": "d", "timeResolution": "hour"}), 400,
              "timeResolution", "timeResolution on a detail table")
    r = s.req("GET", "/v2/tables")
    c.eq(sorted(x["name"] for x in r.json["values"]), ["example-table", "strict1", "wiki_rollup"],
         "list tables")
    r = s.req("PUT", "/v2/tables/strict1", {"description": "pages",
                                            "schema": [{"name": "city", "dataType": "string"}]})
    c.eq(r.status, 200, "update table")
    c.eq([x["name"] for x in r.json["schema"]], ["__time", "page", "n", "city"],
         "schema addition appended")
    c.eq(r.json["description"], "pages", "description updated")
    err_check(s.req("PUT", "/v2/tables/strict1", {"schema": [{"name": "n", "dataType": "string"}]}),
              400, "schema[0].dataType", "column type change refused")
    err_check(s.req("PUT", "/v2/tables/strict1", {"type": "aggregate"}), 400, "type",
              "table type change refused")
    c.eq(s.req("GET", "/v2/tables/nope").status, 404, "unknown table: 404")
    c.eq(s.req("DELETE", "/v2/tables/nope").status, 404, "delete unknown table: 404")

    # ---- connections ----
    r = s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "push1"})
    c.eq(r.status, 201, "create push connection")
    r = s.req("POST", "/v2/connections", {
        "type": "kafka", "name": "example-connection", "bootstrapServers": "127.0.0.1:9092",
        "topicName": "events",
        "secrets": {"type": "sasl_scram", "mechanism": "SCRAM-SHA-256", "username": "u",
                    "password": "hunter2-secret"}})
    c.eq(r.status, 201, "create kafka connection with secrets")
    c.ok("secrets" not in r.json and "hunter2-secret" not in r.raw, "secrets never returned")
    c.eq(r.json["ssl"], True, "ssl defaults to true with secrets")
    c.ok("hunter2-secret" not in s.req("GET", "/v2/connections").raw, "secrets not in list")
    r = s.req("POST", "/v2/connections", {"type": "confluent", "name": "cc",
                                          "bootstrapServers": "pkc.example:9092",
                                          "topicName": "t",
                                          "secrets": {"type": "sasl_plain", "username": "k",
                                                      "password": "p"}})
    c.eq(r.status, 201, "create confluent connection")
    err_check(s.req("POST", "/v2/connections", {"type": "confluent", "name": "cc2",
                                                "bootstrapServers": "b:9092", "topicName": "t"}),
              400, "secrets", "confluent needs secrets")
    r = s.req("POST", "/v2/connections", {"type": "confluent_schema_registry", "name": "reg",
                                          "urls": ["https://registry.example"]})
    c.eq(r.status, 201, "create schema registry connection")
    r = s.req("POST", "/v2/connections", {"type": "kinesis", "name": "kin", "stream": "s",
                                          "endpoint": "kinesis.us-east-1.amazonaws.com",
                                          "awsAssumedRoleArn": "arn:aws:iam::1:role/x"})
    c.eq(r.status, 201, "create kinesis connection")
    err_check(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "push1"}), 409,
              "name", "duplicate connection")
    err_check(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "bad name!"}),
              400, "name", "bad connection name")
    err_check(s.req("POST", "/v2/connections", {"type": "kafak", "name": "k"}), 400, "type",
              "bad connection type", "kafka")
    err_check(s.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                                "bootstrapServers": "nohost", "topicName": "t"}),
              400, "bootstrapServers", "bad bootstrapServers")
    err_check(s.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                                "bootstrapServers": "h:1"}),
              400, "topicName", "kafka needs a topic")
    err_check(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "k",
                                                "topicName": "x"}),
              400, "topicName", "field of another connection type")
    err_check(s.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                                "bootstrapServers": "h:1", "topicName": "t",
                                                "secrets": {"type": "sasl_scram",
                                                            "username": "u", "password": "p"}}),
              400, "secrets.mechanism", "scram needs a mechanism")
    r = s.req("PUT", "/v2/connections/example-connection",
              {"type": "kafka", "bootstrapServers": "127.0.0.1:9093", "topicName": "events",
               "description": "local"})
    c.eq((r.status, r.json.get("bootstrapServers"), r.json.get("hasSecrets")),
         (200, "127.0.0.1:9093", True), "update connection keeps secrets")
    c.eq(s.req("GET", "/v2/connections/nope").status, 404, "unknown connection: 404")

    # ---- jobs: the reference page's requests ----
    code, job1 = curl(s, "POST", "/v2/jobs", PAGE_JOB_1, user=f"{key}:")
    c.eq(code, 201, "page request 1 via curl --user KEY:")
    same_shape(SAMPLES[0], job1, "", skip_values={"useSchemaDiscovery", "dimensionExclusions",
                                                  "readFromPoint"})
    c.eq((job1["useSchemaDiscovery"], job1["dimensionExclusions"], job1["readFromPoint"]),
         (True, ["col1", "col2"], "earliest"), "job 1 echoes what the request asked for")
    c.ok(ISO_NS.match(job1["createdTimestamp"] or ""), "createdTimestamp has ns and Z",
         job1["createdTimestamp"])
    c.eq(job1["createdBy"]["username"], "api-key-admin", "createdBy names the key")
    c.eq(job1["earlyMessageRejectionPeriod"], None, "earlyMessageRejectionPeriod default null")
    c.eq(job1["createTableIfNotExists"], False, "createTableIfNotExists default false")
    # A table takes one live streaming job: the second page request conflicts ...
    code, body = curl(s, "POST", "/v2/jobs", PAGE_JOB_2, user=f"{key}:")
    c.eq(code, 409, "second streaming job on the same table: 409")
    # ... until the first is canceled. Then send it as the Python sample does (raw Basic KEY).
    r = s.req("PUT", f"/v2/jobs/{job1['id']}", {"desiredExecutionStatus": "canceled"})
    c.eq((r.status, r.json["executionStatus"]), (200, "canceled"), "cancel job 1")
    c.ok(r.json["completedTimestamp"] is not None, "completedTimestamp set on cancel")
    r = s.req("POST", "/v2/jobs", raw_body=PAGE_JOB_2, auth="basic-raw",
              headers={"Content-Type": "application/json"})
    c.eq(r.status, 201, "page request 2 as the Python sample sends it")
    same_shape(SAMPLES[1], r.json, "")
    job2 = r.json

    # ---- jobs: lifecycle ----
    jid = job2["id"]
    r = s.req("GET", f"/v2/jobs/{jid}")
    c.eq((r.status, r.json["id"], r.json["executionStatus"]), (200, jid, "pending"), "get job")
    r = s.req("GET", f"/v2/jobs/{jid}/status")
    c.eq((r.json["executionStatus"], r.json["health"]), ("pending", {"status": "ok"}),
         "job status")
    r = s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "suspended"})
    c.eq((r.status, r.json["executionStatus"], r.json["desiredExecutionStatus"]),
         (200, "suspended", "suspended"), "suspend")
    r = s.req("PATCH", f"/v1/projects/{pid}/jobs/{jid}", {"desiredExecutionStatus": "running"})
    c.eq((r.status, r.json["executionStatus"]), (200, "pending"), "resume with PATCH")
    full = s.req("GET", f"/v2/jobs/{jid}").json
    full["desiredExecutionStatus"] = "suspended"
    c.eq(s.req("PUT", f"/v2/jobs/{jid}", full).status, 200, "PUT back a whole job document")
    full["readFromPoint"] = "earliest"
    err_check(s.req("PUT", f"/v2/jobs/{jid}", full), 400, "readFromPoint",
              "changing a spec field refused")
    err_check(s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "paused"}), 400,
              "desiredExecutionStatus", "bad desired status")
    c.eq(s.req("POST", f"/v2/jobs/{jid}/reset").status, 200, "reset")
    r = s.req("GET", f"/v2/jobs/{jid}/metrics")
    c.eq({k: r.json["totals"][k] for k in ("numRowsProcessed", "numRowsProcessedWithWarnings",
                                             "numRowsSkippedByFilter", "numRowsSkippedByError")},
         {"numRowsProcessed": 0, "numRowsProcessedWithWarnings": 0,
                            "numRowsSkippedByFilter": 0, "numRowsSkippedByError": 0},
         "metrics start at zero")
    c.eq(s.req("GET", f"/v2/jobs/{jid}/logs").json, {"values": []}, "logs empty")
    err_check(s.req("PUT", f"/v2/jobs/{job1['id']}", {"desiredExecutionStatus": "running"}), 400,
              "desiredExecutionStatus", "canceled is final", "final")
    c.eq(s.req("POST", f"/v2/jobs/{job1['id']}/reset").status, 400, "reset of a canceled job")
    c.eq(s.req("GET", "/v2/jobs/00000000-0000-4000-8000-000000000000").status, 404,
         "unknown job: 404")

    # in-use resources
    err_check(s.req("DELETE", "/v2/tables/example-table"), 409, None, "delete table with live job",
              jid)
    err_check(s.req("DELETE", "/v2/connections/example-connection"), 409, None,
              "delete connection in use")

    # ---- jobs: more specs ----
    base = json.loads(PAGE_JOB_2)

    def job(**over):
        j = json.loads(json.dumps(base))
        for k, v in over.items():
            j[k] = v
        return j

    r = s.req("POST", "/v2/jobs", job(target={"type": "table", "tableName": "auto_agg"},
                                      createTableIfNotExists=True,
                                      mappings=base["mappings"] + [
                                          {"columnName": "n", "expression": "COUNT(*)",
                                           "isAggregation": True}]))
    c.eq(r.status, 201, "createTableIfNotExists")
    c.eq(s.req("GET", "/v2/tables/auto_agg").json.get("type"), "aggregate",
         "created table is aggregate when a mapping aggregates")
    r = s.req("POST", "/v2/jobs", job(target={"type": "table", "tableName": "push_t"},
                                      createTableIfNotExists=True,
                                      source=dict(base["source"], connectionName="push1",
                                                  formatSettings={"format": "csv",
                                                                  "findColumnsFromHeader": True}),
                                      readFromPoint="earliest", lateMessageRejectionPeriod="P1D",
                                      earlyMessageRejectionPeriod="PT1H",
                                      filterExpression="country <> 'xx'",
                                      desiredExecutionStatus="suspended"))
    c.eq(r.status, 201, "csv job on a push connection, created suspended")
    c.eq(r.json["source"]["formatSettings"], {"format": "csv", "skipHeaderRows": 0, "columns": [],
                                              "findColumnsFromHeader": True,
                                              "listDelimiter": None}, "csv defaults filled in")
    c.eq(r.json["executionStatus"], "suspended", "created suspended")
    r = s.req("POST", "/v2/jobs", job(target={"type": "table", "tableName": "kafka_t"},
                                      createTableIfNotExists=True,
                                      source=dict(base["source"], formatSettings={
                                          "format": "kafka", "valueFormat": {"format": "nd-json"}})))
    c.eq(r.status, 201, "kafka-format job")
    c.eq(r.json["source"]["formatSettings"].get("keyColumnName"), "kafka.key",
         "kafka format defaults")

    cases = [
        ("malformed JSON", None, '{"type": "streaming",', 400, None, "line"),
        ("not an object", None, "[1,2]", 400, None, "object"),
        ("unknown field", job(speed="fast"), None, 400, "speed", "unknown field"),
        ("unknown nested field", job(source=dict(base["source"], topic="x")), None, 400,
         "source.topic", None),
        ("wrong type", job(useSchemaDiscovery="yes"), None, 400, "useSchemaDiscovery",
         "true or false"),
        ("bad enum", job(readFromPoint="middle"), None, 400, "readFromPoint", "earliest"),
        ("bad period", job(lateMessageRejectionPeriod="P30"), None, 400,
         "lateMessageRejectionPeriod", "P30"),
        ("bad period 2", job(earlyMessageRejectionPeriod="30 days"), None, 400,
         "earlyMessageRejectionPeriod", None),
        ("missing __time", job(mappings=base["mappings"][1:]), None, 400, "mappings", "__time"),
        ("unknown connection", job(source=dict(base["source"], connectionName="nope")), None, 400,
         "source.connectionName", "nope"),
        ("unknown table", job(target={"type": "table", "tableName": "nope"}), None, 400,
         "target.tableName", "createTableIfNotExists"),
        ("bad input type", job(source=dict(base["source"], inputSchema=[
            {"name": "date", "dataType": "strng"}])), None, 400,
         "source.inputSchema[0].dataType", "string"),
        ("third input type bad", job(source=dict(base["source"], inputSchema=[
            {"name": "a", "dataType": "string"}, {"name": "b", "dataType": "long"},
            {"name": "c", "dataType": 7}])), None, 400, "source.inputSchema[2].dataType", None),
        ("duplicate input field", job(source=dict(base["source"], inputSchema=[
            {"name": "a", "dataType": "string"}, {"name": "a", "dataType": "long"}])), None, 400,
         "source.inputSchema[1].name", "twice"),
        ("empty expression", job(mappings=[{"columnName": "__time", "expression": "  "}]), None,
         400, "mappings[0].expression", "empty"),
        ("duplicate column", job(mappings=base["mappings"] + [
            {"columnName": "city", "expression": "country"}]), None, 400,
         "mappings[3].columnName", "twice"),
        ("aggregation in a detail table", job(target={"type": "table", "tableName": "strict1"},
                                             mappings=[base["mappings"][0],
                                                       {"columnName": "n",
                                                        "expression": "COUNT(*)",
                                                        "isAggregation": True}]), None, 400,
         "mappings[1].isAggregation", "detail"),
        ("unmapped column of a strict table", job(target={"type": "table",
                                                          "tableName": "strict1"}), None, 400,
         "mappings[1].columnName", "strict"),
        ("bad format", job(source=dict(base["source"], formatSettings={"format": "xml"})), None,
         400, "source.formatSettings.format", None),
        ("bad jq flattenSpec field", job(source=dict(base["source"], formatSettings={
            "format": "nd-json", "flattenSpec": {"fields": [
                {"type": "jq", "name": "city", "expr": "geo.city"}]}})), None, 400,
         "flattenSpec.fields[0]", "must start with '.'"),
        ("flattenSpec field typo", job(source=dict(base["source"], formatSettings={
            "format": "nd-json", "flattenSpec": {"useFieldDiscvery": False}})), None, 400,
         "source.formatSettings.flattenSpec.useFieldDiscvery", "not a known field"),
        ("avro without its schema",
         job(source=dict(base["source"], formatSettings={"format": "avro_stream"})), None, 400,
         "source.formatSettings.parseSchemaProvider", "required"),
        ("kinesis wrapper nested", job(source=dict(base["source"], formatSettings={
            "format": "kafka", "valueFormat": {"format": "kinesis"}})), None, 400,
         "source.formatSettings.valueFormat.format", "wrapper"),
        ("registry is no stream", job(source=dict(base["source"], connectionName="reg")), None,
         400, "source.connectionName", "schema registry"),
        ("streaming field in a batch job", job(type="batch"), None, 400, "readFromPoint",
         "unknown field"),
        ("missing type", {k: v for k, v in base.items() if k != "type"}, None, 400, "type",
         "required"),
        ("server field", job(id="x"), None, 400, "id", None),
    ]
    for name, body, raw, status, target, msg in cases:
        r = s.req("POST", "/v2/jobs", body, raw_body=raw,
                  headers={"Content-Type": "application/json"} if raw else None)
        err_check(r, status, target, f"job: {name}", msg)

    # list filters: repeated parameters OR, different ones AND
    r = s.req("GET", "/v2/jobs?executionStatus=canceled")
    c.eq([j["id"] for j in r.json["values"]], [job1["id"]], "filter executionStatus")
    r = s.req("GET", "/v2/jobs?executionStatus=canceled&executionStatus=suspended")
    c.eq(len(r.json["values"]), 3, "repeated filter ORs")
    r = s.req("GET", "/v2/jobs?executionStatus=suspended&tableName=push_t")
    c.eq(len(r.json["values"]), 1, "different filters AND")
    # the jobs on the unreachable example broker turn "warn" as their runners find it down:
    # the filter must give what the whole list says (asked again until both agree)
    def filtered_and_listed():
        got = sorted(j["id"] for j in
                     s.req("GET", "/v2/jobs?type=streaming&healthStatus=ok").json["values"])
        every = s.req("GET", "/v2/jobs").json["values"]
        want = sorted(j["id"] for j in every
                      if j["type"] == "streaming" and j["health"]["status"] == "ok")
        return got, want, every

    c.ok(wait_for(lambda: (lambda g, w, _: g == w and len(w) >= 3)(*filtered_and_listed())),
         "type and health filters", json.dumps(filtered_and_listed()[:2]))
    c.eq(len(s.req("GET", "/v2/jobs").json["values"]), 5, "list all jobs")

    # ---- 413 and 404 ----
    big = b'{"name": "' + b"x" * (10 * 1024 * 1024 + 10) + b'"}'
    r = s.req("POST", "/v2/tables", raw_body=big, headers={"Content-Type": "application/json"})
    c.eq(r.status, 413, "body over 10 MB: 413")
    c.eq(s.req("GET", "/v2/tables").status, 200, "server fine after a 413")
    err_check(s.req("GET", "/v2/nothing"), 404, None, "unknown path")
    c.eq(s.req("DELETE", "/v2/jobs").status, 405, "wrong method: 405")

    # deleting after cancel works
    for j in s.req("GET", "/v2/jobs?tableName=example-table").json["values"]:
        s.req("PUT", f"/v2/jobs/{j['id']}", {"desiredExecutionStatus": "canceled"})
    c.eq(s.req("DELETE", "/v2/tables/example-table").status, 200, "delete table after cancel")
    c.eq(s.req("GET", "/v2/tables/example-table").status, 404, "deleted table is gone")

    # ---- restart ----
    rc, secs = s.stop()
    c.eq(rc, 0, "SIGTERM: exit 0")
    c.ok(secs < 5, "SIGTERM: stops within 5 s", f"{secs:.2f}s")
    log = s.log_text()
    c.ok(re.search(r"POST /v2/jobs 201 [\d.]+ms", log), "one log line per request", log[-500:])
    c.ok("hunter2-secret" not in log and viewer not in log, "no secret or key in the log")
    s.start()
    c.eq(s.key, key, "admin key unchanged after restart")
    c.ok(s.log_text().count("created the admin API key") == 1, "no second admin key")
    c.eq(s.req("GET", "/v1/projects").json[0]["metadata"]["uid"], pid, "project id stable")
    c.eq(sorted(x["name"] for x in s.req("GET", "/v2/tables").json["values"]),
         ["auto_agg", "kafka_t", "push_t", "strict1", "wiki_rollup"], "tables survive restart")
    c.eq(len(s.req("GET", "/v2/connections").json["values"]), 5, "connections survive restart")
    c.eq(s.req("GET", f"/v2/jobs/{jid}").json["desiredExecutionStatus"], "canceled",
         "job state survives restart")
    c.eq(s.req("GET", "/v2/tables", key=viewer).status, 200, "created key survives restart")

c.done()
