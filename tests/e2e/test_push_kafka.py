#!/usr/bin/env python3
"""
test_push_kafka.py — push connections on Kafka (`lodestar serve --push-kafka BOOTSTRAP`), the
cluster's way for an acknowledged event to outlive the node that took it: every 200 means Kafka
holds the request (acks=all) as one message on the connection's topic, and any node's job reads
that topic. A real `lodestar dev-kafka` broker and a real PostgreSQL catalog; node A takes pushes
on the default readFromPoint (latest) and is killed with kill -9 before it persists anything;
node B — another data directory, the same catalog — runs the job and counts exactly what was
acknowledged. Also: a broker that is down answers 503 (nothing acknowledged), and the server
keeps serving; an oversized request is a 413.
"""
import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Checks, DevKafka, Server, wait_for  # noqa: E402
from pg import Postgres  # noqa: E402

c = Checks()

JOB = {
    "type": "streaming",
    "target": {"type": "table", "tableName": "pk"},
    "createTableIfNotExists": True,
    "source": {"type": "connection", "connectionName": "web",
               "inputSchema": [{"name": "ts", "dataType": "long"},
                               {"name": "n", "dataType": "long"}],
               "formatSettings": {"format": "nd-json"}},
    "mappings": [{"columnName": "__time", "expression": 'MILLIS_TO_TIMESTAMP("ts")'},
                 {"columnName": "n", "expression": "n"}],
}


def events(start, count):
    now = int(time.time() * 1000)
    return "\n".join(json.dumps({"ts": now + i, "n": start + i}) for i in range(count)) + "\n"


def sql(s, q):
    r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array"})
    return r.json if r.status == 200 else None


def totals(s):
    rows = sql(s, "SELECT COUNT(*), SUM(n) FROM pk")
    return tuple(rows[0]) if rows else None


with Postgres() as pg, DevKafka(topics=()) as dk:
    uri = pg.createdb("lodestar")
    # node A: persists only after a long while, so the kill below finds nothing persisted
    env = {"LODESTAR_PERSIST_MAX_AGE_MS": "600000", "LODESTAR_CATALOG": uri}
    a = Server(extra_args=["--push-kafka", dk.bootstrap, "--node-id", "a"], env=env)
    a.start()
    c.eq(a.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status, 201,
         "push connection")
    r = a.req("POST", "/v2/jobs", JOB)
    c.eq(r.status, 201, "job on the default readFromPoint (latest)")
    jid = r.json["id"] if r.status == 201 else ""
    total, acked_sum = 0, 0
    for k in range(20):
        body = events(total, 250)
        r = a.req("POST", "/v1/events/web", raw_body=body)
        c.eq((r.status, r.json.get("accepted") if r.status == 200 else r.raw), (200, 250),
             f"request {k} acknowledged") if k in (0, 19) else None
        if r.status == 200:
            acked_sum += sum(range(total, total + 250))
            total += 250
    c.eq(total, 5000, "every request acknowledged")
    c.ok(wait_for(lambda: (totals(a) or (0,))[0] == total, timeout=30),
         "node A's job reads the topic", str(totals(a)))
    # a body of more than 1 MiB of events (gzip) is refused whole
    import gzip
    big = gzip.compress(("{\"ts\": 1, \"n\": 1, \"pad\": \"" + "x" * 2000 + "\"}\n").encode() * 600)
    r = a.req("POST", "/v1/events/web", raw_body=big, headers={"Content-Encoding": "gzip"})
    c.ok(r.status == 413 and "split it" in r.raw, "over one Kafka message: 413", r.raw[:300])
    a.kill9()

    # node B: another data directory, the same catalog: the job runs there from the checkpoint
    # (the first node made the admin key in its data directory; every node accepts it)
    b = Server(extra_args=["--push-kafka", dk.bootstrap, "--node-id", "b"],
               env={"LODESTAR_CATALOG": uri})
    shutil.copy(os.path.join(a.data_dir, "admin.key"), os.path.join(b.data_dir, "admin.key"))
    b.start()
    c.ok(wait_for(lambda: totals(b) == (total, acked_sum), timeout=40),
         "node B counts exactly what node A acknowledged before kill -9",
         f"{totals(b)} vs {(total, acked_sum)}")
    st = b.req("GET", f"/v2/jobs/{jid}")
    c.eq(st.json.get("executionStatus") if st.status == 200 else st.raw, "running", "job running")

    # the broker down: 503, nothing acknowledged; the server keeps serving; back: 200
    dk.signal(signal.SIGUSR1)
    t0 = time.time()
    r = b.req("POST", "/v1/events/web", raw_body=events(total, 10), timeout=60)
    c.ok(r.status == 503 and "nothing was stored: retry" in r.raw,
         "broker down: 503, nothing stored, retry", f"{r.status} {r.raw[:300]} after "
         f"{time.time() - t0:.1f} s")
    c.eq(b.req("GET", "/v2/tables").status, 200, "the server keeps serving")
    dk.signal(signal.SIGUSR2)
    ok = wait_for(lambda: b.req("POST", "/v1/events/web", raw_body=events(total, 10)).status == 200,
                  timeout=40, step=1)
    c.ok(ok, "broker back: acknowledged again")
    acked_sum += sum(range(total, total + 10))
    total += 10
    # exactly what was acknowledged: the refused request was not stored
    c.ok(wait_for(lambda: totals(b) == (total, acked_sum), timeout=30),
         "the events after the outage are read, and only those", f"{totals(b)}")

    # deleting the connection: its job canceled first, then the connection goes (its topic is
    # deleted where the brokers take DeleteTopics; dev-kafka's mock cluster does not, and the
    # deletion says so in the log without failing)
    c.eq(b.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "canceled"}).status, 200,
         "job canceled")
    c.ok(wait_for(lambda: b.req("DELETE", "/v2/connections/web").status == 200, timeout=30),
         "connection deleted")
    b.stop()
c.done()
