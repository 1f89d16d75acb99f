"""
test_sample.py — the job preview (POST /v2/jobs/sample and the
project-scoped path) through the real server: generated wiki-edit events
(nulls, booleans, unicode, nested objects), the reference page's two specs,
every outcome (processed, processedWithWarnings, skippedByFilter for the
filter, late and early, skippedByError for parse and time) with its
message, a Kafka topic read from its earliest point without touching any
checkpoint, and the same 400 as POST /jobs for a bad spec.
"""
import json
import os
import subprocess
import time

from harness import BIN, Checks, DevKafka, Server

c = Checks()
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "test_api.py")) as f:
    src = f.read()
ns = {}
exec(src[src.index("PAGE_JOB_1 = "):src.index("with open(os.path.join")], ns)

now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
wiki = subprocess.run([BIN, "generate", "--events", "50", "--seed", "3"], capture_output=True,
                      timeout=30).stdout.decode()

WIKI_SPEC = {
    "type": "streaming", "target": {"type": "table", "tableName": "wiki"},
    "createTableIfNotExists": True,
    "source": {"type": "connection", "connectionName": "push",
               "inputSchema": [{"name": "time", "dataType": "string"},
                               {"name": "channel", "dataType": "string"},
                               {"name": "page", "dataType": "string"},
                               {"name": "user", "dataType": "string"},
                               {"name": "isRobot", "dataType": "string"},
                               {"name": "cityName", "dataType": "string"},
                               {"name": "added", "dataType": "long"},
                               {"name": "deleted", "dataType": "long"}],
               "formatSettings": {"format": "nd-json"}},
    "mappings": [
        {"columnName": "__time", "expression": 'TIME_PARSE("time")'},
        {"columnName": "channel", "expression": "channel"},
        {"columnName": "page", "expression": "LOWER(page)"},
        {"columnName": "robot", "expression": "CASE WHEN \"isRobot\" = 'true' THEN 1 ELSE 0 END"},
        {"columnName": "city", "expression": "COALESCE(\"cityName\", 'unknown')"},
        {"columnName": "net", "expression": "added - deleted"},
    ],
}

broker = DevKafka(topics=["samples:2"]).start()
with Server() as s:
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "push"})
    s.req("POST", "/v2/connections", {"type": "kafka", "name": "example-connection",
                                      "bootstrapServers": broker.bootstrap,
                                      "topicName": "samples"})

    # generated wiki edits: every row processed, values mapped
    body = dict(WIKI_SPEC, sample={"data": wiki, "limit": 100})
    r = s.req("POST", "/v2/jobs/sample", body)
    c.eq(r.status, 200, "wiki preview")
    rows = r.json["rows"] if r.json else []
    c.eq(len(rows), 50, "50 rows previewed")
    c.eq(r.json["totals"]["numRowsProcessed"], 50, "all processed")
    names = [x["name"] for x in r.json["schema"]]
    c.eq(names, ["__time", "channel", "page", "robot", "city", "net"], "output schema")
    ok = all(x["output"]["net"] == x["input"]["added"] - x["input"]["deleted"] for x in rows)
    c.ok(ok, "net = added - deleted in every row")
    c.ok(all(x["output"]["page"] == x["input"]["page"].lower() for x in rows), "LOWER(page)")
    c.ok(any(x["input"]["cityName"] is None and x["output"]["city"] == "unknown" for x in rows),
         "NULL cityName coalesced")
    c.ok(any(any(ord(ch) > 127 for ch in x["output"]["page"]) for x in rows), "unicode kept")
    c.eq(s.req("GET", "/v2/tables").json["values"], [], "a preview creates nothing")
    c.eq(s.req("GET", "/v2/jobs").json["values"], [], "a preview creates no job")

    # limit
    r = s.req("POST", "/v2/jobs/sample", dict(WIKI_SPEC, sample={"data": wiki, "limit": 7}))
    c.eq(len(r.json["rows"]), 7, "sample.limit honoured")

    # every outcome with its message
    far = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400 * 3))
    data = "\n".join([
        json.dumps({"ts": now, "page": "ok", "n": 1, "obj": {"a": {"b": [1, 2]}}, "flag": True}),
        json.dumps({"ts": now, "page": "warn", "n": "abc"}),
        json.dumps({"ts": now, "page": "skip", "n": 2}),
        json.dumps({"ts": "2015-09-12T00:00:00Z", "page": "old", "n": 3}),
        json.dumps({"ts": far, "page": "future", "n": 4}),
        '{"ts": "' + now + '", "page": ',
        json.dumps({"ts": "13/45/2023", "page": "badtime", "n": 5}),
    ])
    spec = {"type": "streaming", "target": {"type": "table", "tableName": "x"},
            "createTableIfNotExists": True,
            "source": {"type": "connection", "connectionName": "push",
                       "inputSchema": [{"name": "ts", "dataType": "string"},
                                       {"name": "page", "dataType": "string"},
                                       {"name": "n", "dataType": "long"},
                                       {"name": "obj", "dataType": "json"}],
                       "formatSettings": {"format": "nd-json"}},
            "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                         {"columnName": "page", "expression": "page"},
                         {"columnName": "n", "expression": "n"},
                         {"columnName": "b", "expression": "JSON_VALUE(obj, '$.a.b[1]')"}],
            "filterExpression": "page <> 'skip'",
            "earlyMessageRejectionPeriod": "P1D",
            "sample": {"data": data}}
    r = s.req("POST", f"/v1/projects/{s.req('GET', '/v1/projects').json[0]['metadata']['uid']}"
                      "/jobs/sample", spec)
    c.eq(r.status, 200, "outcomes preview (project-scoped path)")
    out = {}
    for x in (r.json or {}).get("rows", []):
        key = x["input"].get("page") or x["input"].get("raw", "")[:10]
        out[key] = x
    exp = [("ok", "processed", None), ("warn", "processedWithWarnings", "abc"),
           ("skip", "skippedByFilter", "filterExpression"),
           ("old", "skippedByFilter", "lateMessageRejectionPeriod"),
           ("future", "skippedByFilter", "earlyMessageRejectionPeriod"),
           ('{"ts": "20', "skippedByError", "invalid JSON"),
           ("badtime", "skippedByError", "__time is NULL")]
    for key, outcome, msg in exp:
        x = out.get(key, {})
        c.eq(x.get("outcome"), outcome, f"outcome of '{key}'")
        if msg:
            c.ok(msg in (x.get("message") or ""), f"message of '{key}' mentions {msg}", x)
    c.eq(out.get("ok", {}).get("output", {}).get("b"), "2", "JSON_VALUE over a json field")
    c.ok(out.get("badtime", {}).get("message", "").find("13/45/2023") >= 0,
         "the time message shows the input", out.get("badtime"))
    t = r.json["totals"]
    c.eq((t["numRowsProcessed"], t["numRowsProcessedWithWarnings"], t["numRowsSkippedByFilter"],
          t["numRowsSkippedByError"]), (1, 1, 3, 2), "totals")
    c.eq((t["byReason"]["late"], t["byReason"]["early"], t["byReason"]["filter"]), (1, 1, 1),
         "per-reason counters")

    # the reference page's two specs, previewed over the Kafka topic's earliest records
    lines = [json.dumps({"date": now[:10], "time": now[11:19], "country": "NL", "city": "Delft",
                         "col1": "x", "extra": i}) for i in range(12)]
    p = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", "samples", "-X",
                        "sticky.partitioning.linger.ms=0"], input=("\n".join(lines) + "\n").encode(),
                       capture_output=True, timeout=30)
    c.eq(p.returncode, 0, "kcat produced")
    s.req("POST", "/v2/tables", {"name": "example-table"})
    for k, name in ((1, "PAGE_JOB_1"), (2, "PAGE_JOB_2")):
        spec = json.loads(ns[name])
        spec["sample"] = {"limit": 10}
        r = s.req("POST", "/v2/jobs/sample", spec)
        c.eq(r.status, 200, f"page spec {k} previewed from the topic")
        c.eq(len(r.json.get("rows", [])), 10, f"page spec {k}: limit 10 rows read")
        c.ok(all(x["outcome"] == "processed" for x in r.json.get("rows", [])),
             f"page spec {k}: all processed", r.json.get("rows", [])[:1])
    c.eq(r.json["rows"][0]["output"]["__time"], now[:19] + ".000Z",
         "page spec 2 maps TIME_PARSE(CONCAT(date, 'T', time))")
    r1 = s.req("POST", "/v2/jobs/sample", dict(json.loads(ns["PAGE_JOB_1"]), sample={"limit": 5}))
    c.ok("extra" in [x["name"] for x in r1.json["schema"]] and
         "col1" not in [x["name"] for x in r1.json["schema"]],
         "page spec 1: discovery adds columns and honours dimensionExclusions", r1.json["schema"])
    c.eq(s.req("GET", "/v2/jobs").json["values"], [], "previews read no checkpoint and make no job")

    # a bad spec: the same 400 as POST /jobs
    bad = dict(WIKI_SPEC, mappings=[{"columnName": "__time", "expression": 'TIME_PARS("time")'}])
    r1 = s.req("POST", "/v2/jobs", bad)
    r2 = s.req("POST", "/v2/jobs/sample", dict(bad, sample={"data": wiki}))
    c.eq((r2.status, r2.json.get("target")), (r1.status, r1.json.get("target")),
         "bad expression: same status and target as POST /jobs")
    c.eq(r1.json.get("target"), "mappings[0].expression", "target names the mapping")
    c.ok("TIME_PARSE" in r1.json.get("message", ""), "did-you-mean in the message", r1.json)
    r = s.req("POST", "/v2/jobs/sample", dict(WIKI_SPEC, sample={"data": wiki, "limit": 0}))
    c.eq((r.status, r.json.get("target")), (400, "sample.limit"), "bad sample.limit")
    r = s.req("POST", "/v2/jobs/sample", dict(WIKI_SPEC, sample={"rows": []}))
    c.eq((r.status, r.json.get("target")), (400, "sample.rows"), "unknown sample field")
    # a push connection without sample.data: its log is read from the earliest event
    r = s.req("POST", "/v2/jobs/sample", dict(WIKI_SPEC))
    c.eq((r.status, len(r.json.get("rows", []))), (200, 0), "empty push log: no rows")
    pushed = "\n".join(wiki.splitlines()[:30]) + "\n"
    c.eq(s.req("POST", "/v1/events/push", raw_body=pushed).json.get("accepted"), 30,
         "push 30 events")
    r = s.req("POST", "/v2/jobs/sample", dict(WIKI_SPEC, sample={"limit": 12}))
    c.eq((r.status, len(r.json.get("rows", []))), (200, 12), "push log previewed from earliest")
    c.eq(r.json["rows"][0]["input"]["page"], json.loads(wiki.splitlines()[0])["page"],
         "the first pushed event comes first")
broker.stop()
c.done()
