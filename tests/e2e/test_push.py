"""
test_push.py — push connections end to end: POST /v1/events/{connection}
with plain and gzip bodies, malformed lines reported and the rest kept,
oversize (413), unknown (404) and non-push (400) connections; a job
ingesting them exactly once across a clean restart and kill -9; late-message
rejection with the default P30D counted as late and shown in metrics and
logs.
"""
import glob
import gzip
import json
import os
import time

from harness import Checks, Server, iso, wait_for

c = Checks()






def events(start, n, t_ms=None):
    now = int(time.time() * 1000) if t_ms is None else t_ms
    return [json.dumps({"ts": iso(now + i), "page": f"page-{(start + i) % 7}", "n": start + i,
                        "note": "ünïcødé ✓"}) for i in range(n)]


JOB = {
    "type": "streaming",
    "target": {"type": "table", "tableName": "pushed"},
    "createTableIfNotExists": True,
    "source": {"type": "connection", "connectionName": "web",
               "inputSchema": [{"name": "ts", "dataType": "string"},
                               {"name": "page", "dataType": "string"},
                               {"name": "n", "dataType": "long"}],
               "formatSettings": {"format": "nd-json"}},
    "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                 {"columnName": "page", "expression": "page"},
                 {"columnName": "n", "expression": "n"}],
    "readFromPoint": "earliest",
}

s = Server()
s.start()
try:
    c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status, 201,
         "push connection")
    s.req("POST", "/v2/connections", {"type": "kafka", "name": "kk", "bootstrapServers": "h:1",
                                      "topicName": "t"})
    r = s.req("POST", "/v2/jobs", JOB)
    c.eq(r.status, 201, "job on the push connection")
    jid = r.json["id"]

    # plain bodies, each with one malformed line in the middle
    total = 0
    for k in range(4):
        lines = events(total, 100)
        lines.insert(50, '{"ts": "2024-01-01", "page": ')   # truncated JSON
        r = s.req("POST", "/v1/events/web", raw_body="\n".join(lines) + "\n")
        c.eq(r.status, 200, f"push request {k}")
        c.eq(r.json.get("accepted"), 100, f"push request {k}: accepted")
        rej = r.json.get("rejected") or [{}]
        c.eq(rej[0].get("line"), 51, f"push request {k}: the malformed line is named")
        c.ok("invalid JSON" in rej[0].get("message", ""), "malformed line message", rej)
        total += 100
    # gzip, through the project-scoped path
    pid = s.req("GET", "/v1/projects").json[0]["metadata"]["uid"]
    body = gzip.compress(("\n".join(events(total, 100)) + "\n").encode())
    r = s.req("POST", f"/v1/projects/{pid}/events/web", raw_body=body,
              headers={"Content-Encoding": "gzip"})
    c.eq((r.status, r.json.get("accepted")), (200, 100), "gzip push")
    total += 100
    c.eq(s.req("POST", "/v1/events/web", raw_body=b"\x1f\x8bnot gzip",
               headers={"Content-Encoding": "gzip"}).status, 400, "broken gzip: 400")
    big = ("\n".join(events(0, 2600)) + "\n").encode() * 5
    c.ok(len(big) > 1024 * 1024, "oversize body is over 1 MB", str(len(big)))
    c.eq(s.req("POST", "/v1/events/web", raw_body=big).status, 413, "oversize: 413")
    c.eq(s.req("POST", "/v1/events/nope", raw_body="{}\n").status, 404, "unknown connection: 404")
    c.eq(s.req("POST", "/v1/events/kk", raw_body="{}\n").status, 400, "kafka connection: 400")
    r = s.req("POST", "/v1/events/web", raw_body="\n\n")
    c.eq((r.status, r.json.get("accepted")), (200, 0), "blank body accepted, nothing stored")

    def rows():
        return s.req("GET", "/v2/tables/pushed").json["status"]["rowCount"]

    c.eq(wait_for(lambda: rows() == total and total), total, "every pushed event ingested")
    m = s.req("GET", f"/v2/jobs/{jid}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], total, "processed count")
    c.eq(s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"], "running", "job running")

    # a clean restart persists and resumes: same rows, no duplicates
    rc, _ = s.stop()
    c.eq(rc, 0, "clean stop")
    s.start()
    c.eq(rows(), total, "rows survive a clean restart")
    c.eq(wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] == "running"),
         True, "job runs again after restart")
    r = s.req("POST", "/v1/events/web", raw_body="\n".join(events(total, 150)) + "\n")
    total += 150
    c.eq(wait_for(lambda: rows() == total), True, "events after restart ingested")

    # kill -9 right after pushes were acknowledged: durable, and nothing twice
    for k in range(3):
        r = s.req("POST", "/v1/events/web", raw_body="\n".join(events(total, 120)) + "\n")
        c.eq(r.json.get("accepted"), 120, f"push before kill -9 #{k}")
        total += 120
        s.kill9()
        s.start()
    c.eq(wait_for(lambda: rows() == total, timeout=20), True,
         f"exactly {total} rows after three kill -9")
    time.sleep(0.5)
    c.eq(rows(), total, "no duplicates appear later")
    m = wait_for(lambda: (lambda j: j if j["totals"]["numRowsProcessed"] == total else None)(
        s.req("GET", f"/v2/jobs/{jid}/metrics").json))
    c.ok(m is not None, "processed counter is exact after kill -9",
         s.req("GET", f"/v2/jobs/{jid}/metrics").raw)

    # late messages: the default P30D rejects 2015 events, counted and explained
    old = events(0, 10, t_ms=1442016000000)   # 2015-09-12
    s.req("POST", "/v1/events/web", raw_body="\n".join(old) + "\n")
    m = wait_for(lambda: (lambda j: j if j["totals"]["numRowsSkippedByFilter"] == 10 else None)(
        s.req("GET", f"/v2/jobs/{jid}/metrics").json))
    c.ok(m is not None, "late events counted as skipped by filter")
    if m:
        c.eq(m["totals"]["byReason"]["late"], 10, "late events have their own counter")
    logs = s.req("GET", f"/v2/jobs/{jid}/logs").json["values"]
    late = [e for e in logs if e["reason"] == "late"]
    c.eq(len(late), 10, "late events listed in the logs")
    c.ok(late and "lateMessageRejectionPeriod" in late[0]["message"] and "2015-09-12" in
         late[0]["raw"], "late log entry says why and shows the record", late[:1])
    c.eq(rows(), total, "late events are not stored")

    # suspend and resume keep the position
    r = s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "suspended"})
    c.eq(r.json["executionStatus"], "suspended", "suspended")
    logs = s.req("GET", f"/v2/jobs/{jid}/logs").json["values"]
    c.eq(len([e for e in logs if e["reason"] == "late"]), 10,
         "a suspended job's logs come from its last checkpoint")
    s.req("POST", "/v1/events/web", raw_body="\n".join(events(total, 30)) + "\n")
    time.sleep(0.5)
    c.eq(rows(), total, "nothing ingested while suspended")
    r = s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "running"})
    total += 30
    c.eq(wait_for(lambda: rows() == total), True, "resume picks up what arrived meanwhile")

    # Prometheus text: rows by outcome per job, lag, persist and query latency
    prom = s.req("GET", "/metrics").raw
    c.ok(f'lodestar_job_rows_total{{job="{jid}",outcome="processed"}} {total}' in prom,
         "GET /metrics: processed rows of the job", prom[:400])
    for name in ("lodestar_job_lag_records", "lodestar_persist_duration_ms_bucket",
                 "lodestar_query_duration_ms_count"):
        c.ok(name in prom, f"GET /metrics has {name}")

    # a stream of bad records raises health to warn, naming the rejection rate
    bad = [json.dumps({"ts": "not a time", "page": "x", "n": i}) for i in range(300)]
    s.req("POST", "/v1/events/web", raw_body="\n".join(bad) + "\n")
    h = wait_for(lambda: (lambda j: j if j["health"]["status"] == "warn" else None)(
        s.req("GET", f"/v2/jobs/{jid}").json), timeout=10)
    c.ok(h and "rejected" in h["health"].get("message", ""),
         "health warns on a high rejection rate", h and h["health"])
finally:
    s.stop()
    s.__exit__()

# push-log files go once every job reading them has checkpointed past them
# (small files, frequent persists and trims, through the server's tuning knobs)
env = {"LODESTAR_PUSH_SEGMENT_BYTES": "16384", "LODESTAR_PERSIST_MAX_AGE_MS": "300",
       "LODESTAR_PUSH_TRIM_MS": "200", "LODESTAR_COMPACT_MS": "6000"}
with Server(env=env) as s2:
    s2.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"})
    jid2 = s2.req("POST", "/v2/jobs", JOB).json["id"]
    logdir = os.path.join(s2.data_dir, "push", "web")
    max_files = max_segs = 0
    for k in range(3):   # apart, so that each lands in its own persist (and segment)
        # three requests back to back: a request goes whole into one file, so these
        # (about 24 KB each) are three files before any checkpoint passes them
        for j in range(3):
            first = k * 500 + j * 167
            s2.req("POST", "/v1/events/web",
                   raw_body="\n".join(events(first, min(167, k * 500 + 500 - first))) + "\n")
        max_files = max(max_files, len(glob.glob(os.path.join(logdir, "*.log"))))
        st = wait_for(lambda: (lambda x: x if x["segmentCount"] > k else None)(
            s2.req("GET", "/v2/tables/pushed").json["status"]), timeout=5)
        max_segs = max(max_segs, st["segmentCount"] if st else 0)
    c.ok(max_files >= 3, "the pushed events span several log files", str(max_files))
    c.eq(wait_for(lambda: s2.req("GET", "/v2/tables/pushed").json["status"]["rowCount"] == 1500),
         True, "1500 events ingested")
    left = wait_for(lambda: (lambda n: n if n <= 2 else None)(
        len(glob.glob(os.path.join(logdir, "*.log")))), timeout=15)
    c.ok(left is not None, "log files below the checkpoint were deleted",
         str(len(glob.glob(os.path.join(logdir, "*.log")))))
    s2.req("PUT", f"/v2/jobs/{jid2}", {"desiredExecutionStatus": "suspended"})
    c.eq(s2.req("GET", "/v2/tables/pushed").json["status"]["rowCount"], 1500,
         "trimming lost nothing")

    # compaction merges the many small segments of the chunk; every answer stays the same
    q = {"query": "SELECT page, COUNT(*), SUM(n), MIN(n), MAX(n) FROM pushed GROUP BY page "
                  "ORDER BY page", "resultFormat": "array"}
    before = s2.req("POST", "/v1/query/sql", q).json
    c.ok(max_segs >= 3, "small persists left several segments", str(max_segs))
    merged = wait_for(lambda: (lambda st: st if st["segmentCount"] == 1 else None)(
        s2.req("GET", "/v2/tables/pushed").json["status"]), timeout=15)
    c.ok(merged is not None, "compaction merged segments",
         json.dumps(s2.req("GET", "/v2/tables/pushed").json["status"]))
    c.eq(s2.req("GET", "/v2/tables/pushed").json["status"]["rowCount"], 1500,
         "rows unchanged by compaction")
    c.eq(s2.req("POST", "/v1/query/sql", q).json, before, "query answers unchanged by compaction")
    rc, _ = s2.stop()
    s2.start()
    c.eq(s2.req("POST", "/v1/query/sql", q).json, before, "and after a restart")
c.done()
