"""
test_ops.py — what an operator runs the binary with: `lodestar --help` and each command's
`--help` (its flags and environment, exit 0; an unknown command exit 2), JSON logs (every line
of a real server one JSON object with time, level, component and message; the lines a request
logs carry its request id, the client's X-Request-Id or a generated UUID, echoed in the answer),
and a bad --log-format refused before the server starts.
"""
import json
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import BIN, Checks, Server, free_port, wait_for

c = Checks()


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


rc, out, _ = run("--help")
c.ok(rc == 0 and "lodestar serve" in out and "lodestar apikey create" in out,
     "lodestar --help lists the commands", out)
for cmd, must in (("serve", "LODESTAR_PERSIST_MAX_ROWS"), ("serve", "--log-format"),
                  ("apikey", "--permissions"), ("dev-kafka", "--topic"),
                  ("generate", "--events"), ("quickstart", "--keep")):
    rc, out, _ = run(cmd, "--help")
    c.ok(rc == 0 and out.startswith("usage: lodestar " + cmd) and must in out,
         f"lodestar {cmd} --help names {must}", out[:200])
rc, out, _ = run("help", "serve")
c.ok(rc == 0 and "LODESTAR_QUERY_TOTAL_BYTES" in out, "lodestar help serve")
rc, _, err = run("help", "nope")
c.ok(rc == 2 and "unknown command 'nope'" in err, "lodestar help nope: exit 2", err)
rc, _, err = run("serve", "--log-format", "xml")
c.ok(rc == 2 and "text or json" in err, "a bad --log-format: exit 2 naming the choices", err)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
with Server(extra_args=["--log-format", "json"]) as s:
    r = s.req("POST", "/v1/query/sql", {"query": "SELECT 1"}, headers={"X-Request-Id": "job-42.a"})
    c.eq((r.status, r.headers.get("X-Request-Id")), (200, "job-42.a"),
         "the client's X-Request-Id is echoed")
    r = s.req("GET", "/v2/tables/nope")
    gen = r.headers.get("X-Request-Id", "")
    c.ok(UUID.match(gen), "without one, a UUID", gen)
    r = s.req("GET", "/health", key=None, headers={"X-Request-Id": "bad id with spaces"})
    c.ok(UUID.match(r.headers.get("X-Request-Id", "")), "an unusable id is replaced by a UUID",
         r.headers.get("X-Request-Id"))
    s.req("POST", "/v1/query/sql", {"query": "SELECT \"caf\u00e9\" FROM \"t\\\"q\""})
    time.sleep(0.5)  # the last request's line is written once its answer went out
    lines = [ln for ln in s.log_text().splitlines() if ln.strip()]
    key = s.key
objs, bad = [], []
for ln in lines:
    try:
        o = json.loads(ln)
        objs.append(o)
        if not all(isinstance(o.get(k), str) for k in ("time", "level", "component", "message")):
            bad.append(ln)
    except ValueError:
        bad.append(ln)
c.ok(lines and not bad, "every log line is a JSON object with time, level, component, message",
     bad[:3])
c.ok(not any(key in ln for ln in lines), "the admin key is not in the JSON log (admin.key is)")
c.ok(any(o.get("requestId") == "job-42.a" and "/v1/query/sql" in o.get("message", "")
         for o in objs), "the request's line carries its id")
c.ok(any(o.get("requestId") == gen and o.get("component") == "http" for o in objs),
     "and a generated id likewise")
c.ok(all(o.get("level") in ("debug", "info", "warn", "error") for o in objs), "levels")
c.ok(all(o["time"].endswith("Z") for o in objs), "times in UTC")

# ---- --metrics-listen: GET /metrics without a key on a second address ----
mport = free_port()
with Server(extra_args=["--metrics-listen", f"127.0.0.1:{mport}"]) as s2:
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as resp:
        body = resp.read().decode()
        c.ok(resp.status == 200 and "lodestar_query_memory_limit_bytes" in body,
             "GET /metrics without a key on --metrics-listen", body[:200])
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{mport}/v2/tables", timeout=10)
        c.ok(False, "the metrics address serves nothing else")
    except urllib.error.HTTPError as e:
        c.eq(e.code, 404, "the metrics address serves nothing else: 404")
    c.eq(s2.req("GET", "/metrics", key=None).status, 401, "/metrics on the API address needs a key")
rc, _, err = run("serve", "--data-dir", tempfile.mkdtemp(prefix="lodestar-ops-"), "--listen",
                 "127.0.0.1:0", "--metrics-listen", "nowhere")
c.ok(rc == 1 and "--metrics-listen 'nowhere'" in err and "listening" not in err,
     "a bad --metrics-listen stops the server before it listens", err)

# ---- a running job's samples: GET /jobs/{id}/metrics/history ----
with Server() as s3:
    c.eq(s3.req("POST", "/v2/connections", {"type": "push_streaming", "name": "hc"}).status, 201,
         "push connection")
    r = s3.req("POST", "/v2/jobs", {
        "type": "streaming", "target": {"type": "table", "tableName": "ht"},
        "createTableIfNotExists": True,
        "source": {"type": "connection", "connectionName": "hc",
                   "inputSchema": [{"name": "ts", "dataType": "string"},
                                   {"name": "n", "dataType": "long"}],
                   "formatSettings": {"format": "nd-json"}},
        "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                     {"columnName": "n", "expression": "n"}]})
    jid = r.json["id"] if r.status == 201 else "none"
    c.ok(wait_for(lambda: s3.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] == "running",
                  timeout=20), "the job runs")

    def push(k):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = "".join(json.dumps({"ts": now, "n": i}) + "\n" for i in range(k))
        return s3.req("POST", "/v1/events/hc", raw_body=body.encode(),
                      headers={"Content-Type": "application/json"}).status

    def history():
        return s3.req("GET", f"/v2/jobs/{jid}/metrics/history").json or {}

    c.eq(push(100), 200, "100 events")
    c.ok(wait_for(lambda: len(history().get("values", [])) >= 1 and
                  history()["values"][-1]["rowsProcessed"] == 100, timeout=15),
         "a sample with the 100 rows", history())
    c.eq(push(250), 200, "250 more")
    c.ok(wait_for(lambda: history().get("values", [{}])[-1].get("rowsProcessed") == 350,
                  timeout=15), "a later sample with 350", history())
    h = history()
    vals = h.get("values", [])
    c.eq((h.get("intervalSeconds"), h.get("live")), (5, True), "5 s apart, live")
    c.ok(all(vals[i]["timestamp"] < vals[i + 1]["timestamp"] for i in range(len(vals) - 1)),
         "oldest first", vals)
    c.ok(vals and vals[0]["rowsPerSecond"] is None and
         all(isinstance(v["rowsPerSecond"], float) for v in vals[1:]) and
         any(v["rowsPerSecond"] > 0 for v in vals[1:]), "rows per second between samples", vals)
    c.ok(all(v["lag"] == 0 for v in vals) and all(isinstance(v["freshnessMs"], int)
                                                  for v in vals if v["rowsProcessed"]),
         "lag and freshness", vals)
    c.eq(s3.req("GET", "/v2/jobs/nope/metrics/history").status, 404, "an unknown job: 404")

c.done()
