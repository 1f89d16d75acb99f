"""
test_kinesis.py — streaming jobs from a Kinesis endpoint (kinesalite, started here on a
free loopback port) fed by AWS's own client (@aws-sdk/client-kinesis, tests/e2e/kinesis/
kin.mjs), through a real `lodestar serve`: the connection's validation (400s naming the
field, secrets never returned); events across 2 shards ingested exactly once; readFromPoint
latest (the default) and earliest; the kinesis format wrapper (partition key, arrival time);
a shard split during ingestion (the parent read to its end, its children after it, nothing
lost or doubled); reset; kill -9 during ingestion with an exact final count; credentials
from the server's environment; no credentials, an unknown stream and an endpoint that is
down (health warn naming it, then ok by itself with nothing lost) each with a precise error;
throttling and HTTP 500 from the endpoint (a proxy in front of kinesalite): retried, health
warns with the service's words, nothing lost.
"""
import json
import os
import http.client
import http.server
import subprocess
import threading
import time

from harness import Checks, Server, free_port, wait_for, wait_port
from kin import Kinesalite, kin

c = Checks()
class Proxy:
    """An HTTP proxy on `port` in front of a kinesalite: an endpoint that comes back after
    being down, and that throttles (ProvisionedThroughputExceededException) or fails (HTTP 500)
    every GetRecords while `fault` is set."""

    def __init__(self, port, target):
        self.target = target
        self.fault = None
        self.faults = 0
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                op = self.headers.get("X-Amz-Target", "")
                if proxy.fault and op.endswith(".GetRecords"):
                    proxy.faults += 1
                    status, out = (400, json.dumps({
                        "__type": "ProvisionedThroughputExceededException",
                        "message": "Rate exceeded for shard"})) if proxy.fault == "throttle" \
                        else (500, json.dumps({"__type": "InternalFailure"}))
                    out = out.encode()
                    ctype = "application/x-amz-json-1.1"
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.target.port, timeout=30)
                    conn.request("POST", self.path, body, dict(self.headers))
                    r = conn.getresponse()
                    status, out, ctype = r.status, r.read(), r.getheader("Content-Type", "")
                    conn.close()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def job(table, conn, read=None, fmt=None, extra_maps=(), extra_inputs=()):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "createTableIfNotExists": True,
         "source": {"type": "connection", "connectionName": conn,
                    "inputSchema": [{"name": "ts", "dataType": "string"},
                                    {"name": "page", "dataType": "string"},
                                    {"name": "n", "dataType": "long"}] + list(extra_inputs),
                    "formatSettings": fmt or {"format": "nd-json"}},
         "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                      {"columnName": "page", "expression": "page"},
                      {"columnName": "n", "expression": "n"}] + list(extra_maps)}
    if read:
        j["readFromPoint"] = read
    return j


def err_check(r, status, target, name, word=None):
    c.eq(r.status, status, name + ": status")
    body = r.json or {}
    det = body.get("error", body)
    text = json.dumps(body)
    c.ok(target is None or target in text, name + ": names " + str(target), text)
    if word:
        c.ok(word in text, name + ": says " + word, text)
    return det


T0 = int(time.time() * 1000) - 1000
kl = Kinesalite().start()
E = kl.url
CREDS = {"type": "aws_access_key", "accessKeyId": "AKIDTEST", "secretAccessKey": "s3cret-value"}
env_no_aws = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
s = Server(env=dict(env_no_aws))
s.start()
down = None
try:
    def rows(t):
        r = s.req("GET", f"/v2/tables/{t}")
        return r.json["status"]["rowCount"] if r.status == 200 else -1

    def status(jid):
        return s.req("GET", f"/v2/jobs/{jid}").json

    def sql(q):
        # exact counts: COUNT(DISTINCT) is an HLL estimate unless the context says otherwise
        r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array",
                                             "context": {"useApproximateCountDistinct": False}})
        return r.json if r.status == 200 else r.raw

    def start(body, name=None):
        r = s.req("POST", "/v2/jobs", body)
        c.eq(r.status, 201, f"create job into {body['target']['tableName']}")
        jid = (r.json or {}).get("id")
        c.ok(wait_for(lambda: status(jid)["executionStatus"] == "running"),
             "job reaches running", json.dumps(status(jid)))
        return jid

    def conn(body, want=201):
        r = s.req("POST", "/v2/connections", body)
        c.eq(r.status, want, f"connection {body.get('name')}: {r.raw[:300]}")
        return r

    # 1. the connection: what is checked, what is kept, what is never returned
    base = {"type": "kinesis", "name": "kin", "stream": "ev", "endpoint": E,
            "region": "us-east-1", "secrets": CREDS}
    bad = [
        ({k: v for k, v in base.items() if k != "stream"}, "stream", "required"),
        (dict(base, stream="bad name!"), "stream", "Kinesis stream name"),
        ({k: v for k, v in base.items() if k != "region"}, "region", "does not name"),
        (dict(base, region="US East"), "region", "region name"),
        (dict(base, endpoint="ftp://x"), "endpoint", "http://"),
        (dict(base, secrets={"type": "sasl_plain", "accessKeyId": "a", "secretAccessKey": "b"}),
         "secrets.type", "aws_access_key"),
        (dict(base, secrets={"type": "aws_access_key", "secretAccessKey": "x"}),
         "secrets.accessKeyId", None),
        (dict(base, extra=1), "extra", None),
    ]
    for i, (b, target, word) in enumerate(bad):
        err_check(s.req("POST", "/v2/connections", dict(b, name=f"bad{i}")), 400, target,
                  f"bad kinesis connection {i} ({target})", word)
    conn(base)
    g = s.req("GET", "/v2/connections/kin")
    c.ok(g.status == 200 and "secrets" not in g.json and "s3cret" not in g.raw
         and g.json.get("hasSecrets") is True, "GET never returns the secrets", g.raw)
    conn({"type": "kinesis", "name": "aws", "stream": "s",
          "endpoint": "kinesis.eu-west-1.amazonaws.com",
          "awsAssumedRoleArn": "arn:aws:iam::123456789012:role/r"})
    g = s.req("GET", "/v2/connections/aws").json
    c.eq(g.get("awsAssumedRoleArn"), "arn:aws:iam::123456789012:role/r", "role ARN kept")
    conn({"type": "kinesis", "name": "byregion", "stream": "s", "region": "ap-south-1"})

    # 2. events across 2 shards, exactly once; readFromPoint latest is the default
    ok, _ = kin(E, "create", "ev", 2)
    c.ok(ok, "stream ev created with 2 shards")
    c.ok(kin(E, "put", "ev", 0, 1000)[0], "1000 events put")
    j1 = start(job("t1", "kin", read="earliest"))
    c.eq(wait_for(lambda: rows("t1") == 1000, timeout=30), True, "earliest: 1000 events")
    m = s.req("GET", f"/v2/jobs/{j1}/metrics").json
    c.eq(sorted(p["partition"] for p in m["lag"]), [0, 1], "two shards are two partitions")
    c.ok(sum(p["nextOffset"] for p in m["lag"]) == 1000, "offsets add up to 1000", m)
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{j1}/metrics").json["totalLag"] == 0),
         "lag (MillisBehindLatest) 0 when caught up", m)
    # latest is each shard at AT_TIMESTAMP of the job's creation: the records put right
    # after the 201 (no wait for "running") are read, the 1300 before it are not
    r = s.req("POST", "/v2/jobs", job("t2", "kin"))
    c.eq(r.status, 201, "create job into t2")
    j2 = (r.json or {}).get("id")
    c.ok(kin(E, "put", "ev", 1000, 300)[0], "300 more put right after the 201")
    c.eq(status(j2).get("readFromPoint"), "latest", "readFromPoint defaults to latest")
    c.eq(wait_for(lambda: rows("t2") == 300, timeout=30), True,
         "latest: the 300 put right after the 201")
    time.sleep(1.0)
    c.eq(rows("t2"), 300, "latest: the events before the job are not read")
    c.eq(wait_for(lambda: rows("t1") == 1300, timeout=30), True, "earliest job sees them too")

    # 3. a shard split during ingestion: nothing lost, nothing doubled
    putter = {}

    def put_bg(stream, first, n):
        putter["ok"] = kin(E, "put", stream, first, n)[0]

    th = threading.Thread(target=put_bg, args=("ev", 1300, 3000))
    th.start()
    time.sleep(0.5)
    ok, parent = kin(E, "split", "ev")
    c.ok(ok, "shard split during ingestion", parent)
    th.join()
    c.ok(putter.get("ok"), "3000 events put across the split")
    c.eq(wait_for(lambda: rows("t1") == 4300, timeout=60), True, "t1: every event once (4300)")
    c.eq(wait_for(lambda: rows("t2") == 3300, timeout=60), True, "t2: every new event (3300)")
    c.eq(sql("SELECT COUNT(DISTINCT n), MIN(n), MAX(n) FROM t1"), [[4300, 0, 4299]],
         "t1: each n once")
    parts = wait_for(lambda: sorted(p["partition"] for p in
                                    s.req("GET", f"/v2/jobs/{j1}/metrics").json["lag"])
                     if len(s.req("GET", f"/v2/jobs/{j1}/metrics").json["lag"]) == 4 else None)
    c.eq(parts, [0, 1, 2, 3], "the split's children are read as new partitions")
    log = s.log_text()
    c.ok("read to its end" in log, "the parent shard was read to its end", log[-2000:])
    shard_end = log.find("read to its end")
    c.ok(shard_end >= 0 and parent.strip() in log, "the log names the parent shard",
         parent.strip())

    # 4. the kinesis format wrapper: partition key and arrival time
    fmt = {"format": "kinesis", "valueFormat": {"format": "nd-json"}}
    maps = [{"columnName": "pkey", "expression": '"kinesis.partitionKey"'},
            {"columnName": "arrived", "expression": '"kinesis.timestamp"'}]
    j3 = start(job("t3", "kin", read="earliest", fmt=fmt, extra_maps=maps))
    c.eq(wait_for(lambda: rows("t3") == 4300, timeout=60), True, "wrapper job reads 4300")
    c.eq(sql("SELECT COUNT(*) FROM t3 WHERE pkey = 'k' || CAST(n AS VARCHAR)"), [[4300]],
         "kinesis.partitionKey is each record's partition key")
    got = sql(f"SELECT COUNT(*) FROM t3 WHERE arrived >= {T0} AND "
              f"arrived <= {int(time.time() * 1000)}")
    c.eq(got, [[4300]], "kinesis.timestamp is the arrival time (epoch ms)")
    j = status(j3)
    c.eq(j["source"]["formatSettings"].get("partitionKeyColumnName"), "kinesis.partitionKey",
         "the wrapper's defaults are stored")
    err_check(s.req("POST", "/v2/jobs", job("t9", "kin", fmt={"format": "kinesis"})), 400,
              "valueFormat", "kinesis wrapper without valueFormat")

    # the job preview reads the stream's first records through the same source
    spec = job("t9", "kin", read="earliest", fmt=fmt, extra_maps=maps)
    spec["sample"] = {"limit": 10}
    r = s.req("POST", "/v2/jobs/sample", spec)
    c.eq(r.status, 200, "preview from a kinesis connection")
    prow = (r.json or {}).get("rows", [])
    c.ok(len(prow) == 10 and all(x["outcome"] == "processed" and x["output"]["arrived"] >= T0
                                 for x in prow),
         "preview: 10 rows read with their arrival times", json.dumps(prow[:2]))

    # 5. reset replays from readFromPoint (earliest: everything again)
    kin(E, "create", "small", 1)
    kin(E, "put", "small", 0, 50)
    conn(dict(base, name="small", stream="small"))
    j4 = start(job("t4", "small", read="earliest"))
    c.eq(wait_for(lambda: rows("t4") == 50, timeout=30), True, "t4 reads 50")
    c.eq(s.req("POST", f"/v2/jobs/{j4}/reset").status, 200, "reset")
    c.eq(wait_for(lambda: rows("t4") == 100, timeout=30), True, "reset (earliest) replays")

    # 6. kill -9 during ingestion, twice, with an exact final count; restarted with the keys in
    # the environment, read by a connection without secrets
    for jid in (j2, j3, j4):
        s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "canceled"})
    kin(E, "create", "big", 3)
    conn({"type": "kinesis", "name": "envkeys", "stream": "big", "endpoint": E,
          "region": "us-east-1"})
    s.env = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "from-env"}
    s.stop()
    s.start()
    j5 = start(job("t5", "envkeys", read="earliest"))
    total = 0
    for rnd in range(3):
        th = threading.Thread(target=put_bg, args=("big", total, 4000))
        th.start()
        wait_for(lambda: rows("t5") > total + 200, timeout=30, step=0.05)
        if rnd < 2:
            s.kill9()
            s.start()
        th.join()
        c.ok(putter.get("ok"), f"round {rnd}: 4000 events put")
        total += 4000
    c.ok(wait_for(lambda: rows("t5") == total, timeout=90),
         f"after kill -9 twice: exactly {total} rows",
         f"{rows('t5')} rows; {json.dumps(status(j5))[-600:]} {s.log_text()[-3000:]}")
    time.sleep(1.5)
    c.eq(sql("SELECT COUNT(*), COUNT(DISTINCT n) FROM t5"), [[total, total]],
         "no event lost or doubled across kill -9")
    m = s.req("GET", f"/v2/jobs/{j5}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], total, "processed counts every event once")

    # 7. an unknown stream: the job fails saying which stream and what to do
    conn(dict(base, name="nostream", stream="nope"))
    r = s.req("POST", "/v2/jobs", job("t6", "nostream"))
    jid = r.json.get("id")
    st = wait_for(lambda: (lambda j: j if j["executionStatus"] == "failed" else None)(status(jid)))
    c.ok(st and "nope" in json.dumps(st) and "not found" in json.dumps(st),
         "unknown stream: failed naming it", json.dumps(st))

    # 8. the endpoint down: health warns naming it, then ok by itself, nothing lost. The
    # endpoint is a relay to a second kinesalite that starts relaying only later.
    kl2 = Kinesalite().start()
    kin(kl2.url, "create", "later", 1)
    kin(kl2.url, "put", "later", 0, 200)
    dport = free_port()
    conn(dict(base, name="later", stream="later", endpoint=f"http://127.0.0.1:{dport}"))
    j7 = start(job("t7", "later", read="earliest"))
    h = wait_for(lambda: (lambda j: j if j["health"]["status"] == "warn" else None)(status(j7)),
                 timeout=30)
    c.ok(h and f"127.0.0.1:{dport}" in json.dumps(h["health"]) and
         "unreachable" in json.dumps(h["health"]),
         "endpoint down: health warn naming the endpoint", json.dumps(h and h["health"]))
    down = Proxy(dport, kl2)
    c.ok(wait_for(lambda: rows("t7") == 200, timeout=40), "endpoint back: 200 read",
         f"{rows('t7')} rows; {json.dumps(status(j7))[-600:]}")
    c.eq(wait_for(lambda: status(j7)["health"]["status"] == "ok", timeout=30), True,
         "health back to ok by itself")

    # 9. throttling and 5xx while records arrive: retried with backoff, health warns with
    # the service's words, nothing lost or doubled
    for fault, word, first in (("throttle", "ProvisionedThroughputExceededException", 200),
                               ("5xx", "HTTP 500", 400)):
        down.fault = fault
        kin(kl2.url, "put", "later", first, 200)
        h = wait_for(lambda: (lambda j: j if j["health"]["status"] == "warn" else None)(
            status(j7)), timeout=30)
        c.ok(h and word in json.dumps(h["health"]), f"{fault}: health warns saying {word}",
             json.dumps(h and h["health"]))
        c.eq(rows("t7"), first, f"{fault}: nothing read while refused")
        down.fault = None
        c.eq(wait_for(lambda: rows("t7") == first + 200, timeout=40), True,
             f"{fault} over: the 200 arrive")
        c.eq(wait_for(lambda: status(j7)["health"]["status"] == "ok", timeout=30), True,
             f"{fault} over: health ok by itself")
    c.ok(down.faults >= 2, "the proxy refused requests", str(down.faults))
    c.eq(sql("SELECT COUNT(*), COUNT(DISTINCT n) FROM t7"), [[600, 600]],
         "each event once across the refusals")

    # 10. no credentials anywhere: the job fails saying how to give them
    s.env = dict(env_no_aws)
    s.stop()
    s.start()
    conn({"type": "kinesis", "name": "nokeys", "stream": "ev", "endpoint": E,
          "region": "us-east-1"})
    r = s.req("POST", "/v2/jobs", job("t8", "nokeys"))
    jid = r.json.get("id")
    st = wait_for(lambda: (lambda j: j if j["executionStatus"] == "failed" else None)(status(jid)))
    c.ok(st and "AWS_ACCESS_KEY_ID" in json.dumps(st) and "secrets" in json.dumps(st),
         "no credentials: failed saying how to give them", json.dumps(st))
    c.ok("s3cret-value" not in s.log_text() and "from-env" not in s.log_text(),
         "secrets never in the log")
finally:
    s.stop()
    kl.stop()
    if down:
        down.stop()
        down.target.stop()
c.done()
