"""
test_batch.py — loading data without a stream: the Files API (multipart
upload, plain and gzip, list, delete, errors) and batch jobs (uploaded files
and inline data; nd-json and CSV with a header; append and replace) running
pending → running → succeeded; then SQL over the table (top pages, hourly
sums, channel sums) checked against sqlite3 computing the same from the same
file inside the test.
"""
import gzip
import json
import os
import sqlite3
import subprocess
import tempfile
import time
import uuid

from harness import BIN, Checks, Server, wait_for

c = Checks()




def multipart(files):
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append((f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                      f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                     .encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# 6000 generated wiki edits spread over a day (17 s apart), as nd-json
raw = subprocess.run([BIN, "generate", "--events", "6000", "--seed", "9"], capture_output=True,
                     timeout=60).stdout.decode().splitlines()
base = 1763596800000   # 2025-11-20T00:00:00Z
events = []
for i, line in enumerate(raw):
    e = json.loads(line)
    t = base + i * 17000
    e["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t / 1000)) + ".000Z"
    events.append(e)
ndjson = ("\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n").encode()

# the reference answers, from sqlite3 over the same events
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE w (t TEXT, channel TEXT, page TEXT, added INTEGER, deleted INTEGER)")
db.executemany("INSERT INTO w VALUES (?, ?, ?, ?, ?)",
               [(e["time"], e["channel"], e["page"], e["added"], e["deleted"]) for e in events])
ref_top = db.execute("SELECT page, COUNT(*) FROM w GROUP BY page ORDER BY 2 DESC, page LIMIT 10"
                     ).fetchall()
ref_hourly = db.execute("SELECT substr(t, 1, 13) || ':00:00.000Z', SUM(deleted) FROM w "
                        "GROUP BY 1 ORDER BY 1").fetchall()
ref_channels = db.execute("SELECT channel, SUM(added), COUNT(*) FROM w GROUP BY channel "
                          "ORDER BY channel").fetchall()

SCHEMA = [{"name": "time", "dataType": "string"}, {"name": "channel", "dataType": "string"},
          {"name": "page", "dataType": "string"}, {"name": "added", "dataType": "long"},
          {"name": "deleted", "dataType": "long"}]
MAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("time")'},
        {"columnName": "channel", "expression": "channel"},
        {"columnName": "page", "expression": "page"},
        {"columnName": "added", "expression": "added"},
        {"columnName": "deleted", "expression": "deleted"}]


def finished(s, jid):
    """The job once it has succeeded or failed (None if it does neither in time)."""
    return wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] in
                    ("succeeded", "failed") and s.req("GET", f"/v2/jobs/{jid}").json)


def sql(s, q, fmt="array"):
    r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": fmt})
    c.eq(r.status, 200, f"query ok: {q[:60]}")
    return r.json if r.status == 200 else []


with Server() as s:
    # ---- files ----
    body, hdr = multipart([("wiki.json.gz", gzip.compress(ndjson))])
    r = s.req("POST", "/v1/files", raw_body=body, headers=hdr)
    c.eq(r.status, 200, "upload a gzip file (multipart)")
    c.eq(r.json.get("name"), "wiki.json.gz", "upload answer names the file")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        f.write(ndjson)
        path = f.name
    pid = s.req("GET", "/v1/projects").json[0]["metadata"]["uid"]
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--user",
                          s.key + ":", "-F", f"file=@{path};filename=wiki.json",
                          s.url(f"/v1/projects/{pid}/files")], capture_output=True, timeout=30)
    os.unlink(path)
    c.eq(out.stdout.decode(), "200", "upload with curl -F (project-scoped path)")
    r = s.req("GET", "/v1/files")
    sizes = {f["name"]: f["size"] for f in r.json["values"]}
    c.eq(sizes.get("wiki.json"), len(ndjson), "listed with its size")
    c.ok("wiki.json.gz" in sizes, "gzip file listed")
    c.eq(s.req("POST", "/v1/files", raw_body=b"{}",
               headers={"Content-Type": "application/json"}).status, 415,
         "non-multipart upload: 415")
    body, hdr = multipart([("../evil", b"x")])
    c.eq(s.req("POST", "/v1/files", raw_body=body, headers=hdr).status, 400, "bad file name: 400")
    body, hdr = multipart([("x.json", b"{}\n")])
    c.eq(s.req("POST", "/v1/files", raw_body=body, headers=hdr, key=None).status, 401,
         "upload without a key: 401")
    c.eq(s.req("DELETE", "/v1/files/nope.json").status, 404, "delete unknown file: 404")

    # ---- a batch job from the uploaded gzip file ----
    job = {"type": "batch", "target": {"type": "table", "tableName": "wiki_batch"},
           "createTableIfNotExists": True,
           "source": {"type": "uploaded", "fileList": ["wiki.json.gz"], "inputSchema": SCHEMA,
                      "formatSettings": {"format": "nd-json"}},
           "mappings": MAPS}
    r = s.req("POST", "/v2/jobs", job)
    c.eq(r.status, 201, "batch job created")
    jid = r.json["id"]
    c.eq((r.json["type"], r.json["ingestionMode"]), ("batch", "append"), "batch defaults echoed")
    st = finished(s, jid)
    c.eq(st and st["executionStatus"], "succeeded", "batch job succeeded")
    c.ok(st and st["completedTimestamp"], "completedTimestamp set")
    m = s.req("GET", f"/v2/jobs/{jid}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], 6000, "6000 rows processed")
    c.eq(s.req("GET", "/v2/tables/wiki_batch").json["status"]["rowCount"], 6000, "rowCount 6000")

    # ---- SQL answers against sqlite3 ----
    top = sql(s, 'SELECT page, COUNT(*) FROM "wiki_batch" GROUP BY page ORDER BY 2 DESC, page '
                 'LIMIT 10')
    c.eq([tuple(x) for x in top], ref_top, "top pages match sqlite3")
    hourly = sql(s, "SELECT TIME_FLOOR(__time, 'PT1H'), SUM(deleted) FROM wiki_batch "
                    "GROUP BY 1 ORDER BY 1")
    c.eq([tuple(x) for x in hourly], ref_hourly, "hourly sums match sqlite3")
    chans = sql(s, "SELECT channel, SUM(added), COUNT(*) FROM wiki_batch GROUP BY channel "
                   "ORDER BY channel")
    c.eq([tuple(x) for x in chans], ref_channels, "channel sums match sqlite3")
    cnt = sql(s, "SELECT COUNT(*) FROM wiki_batch WHERE channel = '#en.wikipedia'")
    ref = db.execute("SELECT COUNT(*) FROM w WHERE channel = '#en.wikipedia'").fetchone()[0]
    c.eq(cnt, [[ref]], "filtered count matches sqlite3")

    # ---- inline CSV with a header, then replace ----
    csv_text = "ts,city,n\n" + "".join(f"2025-11-20T0{i % 10}:00:00Z,\"Delft, NL\",{i}\n"
                                      for i in range(25))
    job2 = {"type": "batch", "target": {"type": "table", "tableName": "csv_t"},
            "createTableIfNotExists": True,
            "source": {"type": "inline", "data": csv_text,
                       "inputSchema": [{"name": "ts", "dataType": "string"},
                                       {"name": "city", "dataType": "string"},
                                       {"name": "n", "dataType": "long"}],
                       "formatSettings": {"format": "csv", "findColumnsFromHeader": True}},
            "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                         {"columnName": "city", "expression": "city"},
                         {"columnName": "n", "expression": "n"}]}
    r = s.req("POST", "/v2/jobs", job2)
    c.eq(r.status, 201, "inline csv batch job")
    j2 = r.json["id"]
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{j2}").json["executionStatus"] == "succeeded"),
         "csv job succeeded", s.req("GET", f"/v2/jobs/{j2}").raw)
    c.eq(sql(s, "SELECT COUNT(*), SUM(n), MIN(city) FROM csv_t"), [[25, 300, "Delft, NL"]],
         "csv rows with quoted commas")
    job3 = json.loads(json.dumps(job2))
    job3["ingestionMode"] = "replace"
    job3["source"]["data"] = "ts,city,n\n2025-11-21T00:00:00Z,Lyon,7\n"
    r = s.req("POST", "/v2/jobs", job3)
    j3 = r.json["id"]
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{j3}").json["executionStatus"] == "succeeded"),
         "replace job succeeded")
    c.eq(sql(s, "SELECT COUNT(*), SUM(n), MIN(city) FROM csv_t"), [[1, 7, "Lyon"]],
         "replace leaves only the new rows")

    # ---- replace with target.intervals: one day of two, rows outside dropped ----
    day1 = sum(1 for e in events if e["time"].startswith("2025-11-20"))
    c.ok(0 < day1 < len(events), "the events span two days")
    partial = {"type": "batch", "ingestionMode": "replace",
               "target": {"type": "table", "tableName": "wiki_batch",
                          "intervals": ["2025-11-21T00:00:00Z/2025-11-22T00:00:00Z"]},
               "source": {"type": "inline", "inputSchema": SCHEMA,
                          "formatSettings": {"format": "nd-json"},
                          "data": "".join(json.dumps({"time": t, "channel": "#new", "page": "P",
                                                      "added": 1, "deleted": 2}) + "\n"
                                          for t in ("2025-11-21T01:00:00Z", "2025-11-21T02:00:00Z",
                                                    "2025-11-21T23:59:59Z",
                                                    "2025-11-20T05:00:00Z"))},
               "mappings": MAPS}
    r = s.req("POST", "/v2/jobs", partial)
    c.eq(r.status, 201, "replace job with intervals created")
    c.eq(r.json.get("target", {}).get("intervals"), partial["target"]["intervals"],
         "intervals echoed")
    jp = r.json.get("id")
    st = finished(s, jp)
    c.eq(st and st["executionStatus"], "succeeded", "partial replace succeeded")
    days = sql(s, "SELECT TIME_FLOOR(__time, 'P1D'), COUNT(*), SUM(deleted) FROM wiki_batch "
                  "GROUP BY 1 ORDER BY 1")
    ref_day1 = db.execute("SELECT SUM(deleted) FROM w WHERE t < '2025-11-21'").fetchone()[0]
    c.eq(days, [["2025-11-20T00:00:00.000Z", day1, ref_day1],
                ["2025-11-21T00:00:00.000Z", 3, 6]],
         "the other day untouched, the replaced day holds only the new rows")
    m = s.req("GET", f"/v2/jobs/{jp}/metrics").json
    c.eq((m["totals"]["numRowsProcessed"], m["totals"]["byReason"].get("interval")), (3, 1),
         "the row outside the intervals is dropped and counted")
    logs = s.req("GET", f"/v2/jobs/{jp}/logs").json["values"]
    c.ok(len(logs) == 1 and logs[0]["reason"] == "interval" and
         "outside target.intervals" in logs[0]["message"] and "2025-11-20T05" in logs[0]["raw"],
         "the finished job's log says which row and why", logs)
    bad = json.loads(json.dumps(partial))
    bad["target"]["intervals"] = ["2025-11-21T06:00:00Z/2025-11-22T00:00:00Z"]
    r = s.req("POST", "/v2/jobs", bad)
    c.eq((r.status, r.json.get("target")), (400, "target.intervals[0]"),
         "an interval cutting a day: 400")
    c.ok("does not cover whole day" in r.json.get("message", "") and
         "2025-11-21T00:00:00.000Z/2025-11-22T00:00:00.000Z" in r.json.get("message", ""),
         "and the message gives the whole-day interval to use", r.json)
    c.eq(sql(s, "SELECT COUNT(*) FROM wiki_batch"), [[day1 + 3]], "a refused replace drops nothing")
    for mode, ivs, target, what in (
            (None, partial["target"]["intervals"], "target.intervals", "intervals on append"),
            ("replace", ["2025-11-21"], "target.intervals[0]", "not an interval"),
            ("replace", ["2025-11-22/2025-11-21"], "target.intervals[0]", "empty interval")):
        bad = json.loads(json.dumps(partial))
        if mode is None:
            del bad["ingestionMode"]
        bad["target"]["intervals"] = ivs
        r = s.req("POST", "/v2/jobs", bad)
        c.eq((r.status, r.json.get("target")), (400, target), f"{what}: 400")

    # ---- errors ----
    bad = json.loads(json.dumps(job))
    bad["source"]["fileList"] = ["missing.json"]
    r = s.req("POST", "/v2/jobs", bad)
    c.eq((r.status, r.json.get("target")), (400, "source.fileList[0]"), "unknown file: 400")
    bad = json.loads(json.dumps(job))
    bad["ingestionMode"] = "upsert"
    c.eq(s.req("POST", "/v2/jobs", bad).json.get("target"), "ingestionMode", "bad ingestionMode")
    bad = json.loads(json.dumps(job))
    bad["readFromPoint"] = "earliest"
    c.eq(s.req("POST", "/v2/jobs", bad).json.get("target"), "readFromPoint",
         "streaming field on a batch job refused")
    c.eq(s.req("DELETE", "/v1/files/wiki.json").status, 200, "delete a file")
    c.ok("wiki.json" not in [f["name"] for f in s.req("GET", "/v1/files").json["values"]],
         "deleted file gone")
c.done()
