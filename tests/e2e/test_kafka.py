"""
test_kafka.py — streaming jobs from a real Kafka-protocol broker (`lodestar
dev-kafka`) fed by a real client (kcat): N events across 4 partitions
ingested exactly once; the reference page's two jobs end to end;
readFromPoint earliest vs latest; a new job after cancel on the same table
and topic resumes (no duplicates, no loss); a different topic starts at
readFromPoint; reset replays; suspend/resume; the broker down for a while
(health warn, then ok by itself, nothing lost); 20 kill -9 restarts at
random moments during ingestion with an exact final count.
"""
import json
import random
import signal
import subprocess
import threading
import time

from harness import Checks, DevKafka, Server, iso, wait_for

c = Checks()
rnd = random.Random(20261124)






def produce(bootstrap, topic, lines):
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic,
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    return p.returncode == 0


def evs(start, n, **extra):
    now = int(time.time() * 1000)
    out = []
    for i in range(start, start + n):
        e = {"ts": iso(now + i % 1000), "page": f"p{i % 13}", "n": i}
        e.update(extra)
        out.append(json.dumps(e))
    return out


def job(table, conn, read="earliest", **over):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "createTableIfNotExists": True,
         "source": {"type": "connection", "connectionName": conn,
                    "inputSchema": [{"name": "ts", "dataType": "string"},
                                    {"name": "page", "dataType": "string"},
                                    {"name": "n", "dataType": "long"}],
                    "formatSettings": {"format": "nd-json"}},
         "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                      {"columnName": "page", "expression": "page"},
                      {"columnName": "n", "expression": "n"}],
         "readFromPoint": read}
    j.update(over)
    return j


broker = DevKafka(topics=["events:4", "other:2", "page:4", "big:8"]).start()
s = Server()
s.start()
try:
    B = broker.bootstrap

    def conn(name, topic):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": name,
                                              "bootstrapServers": B, "topicName": topic})
        c.eq(r.status, 201, f"connection {name}")

    def rows(t):
        r = s.req("GET", f"/v2/tables/{t}")
        return r.json["status"]["rowCount"] if r.status == 200 else -1

    def status(jid):
        return s.req("GET", f"/v2/jobs/{jid}").json

    def start(body):
        r = s.req("POST", "/v2/jobs", body)
        c.eq(r.status, 201, f"create job into {body['target']['tableName']}")
        jid = r.json.get("id")
        c.ok(wait_for(lambda: status(jid)["executionStatus"] == "running"),
             "job reaches running", json.dumps(status(jid)))
        return jid

    conn("ev", "events")
    conn("ev-again", "events")   # another connection name, same topic
    conn("oth", "other")

    # 1. N events across 4 partitions, exactly once
    c.ok(produce(B, "events", evs(0, 2000)), "kcat produced 2000 events")
    j1 = start(job("t1", "ev"))
    c.eq(wait_for(lambda: rows("t1") == 2000), True, "2000 events ingested")
    m = s.req("GET", f"/v2/jobs/{j1}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], 2000, "processed 2000")
    c.eq(sorted(p["partition"] for p in m["lag"]), [0, 1, 2, 3], "four partitions assigned")
    c.ok(all(p["lag"] == 0 for p in m["lag"]) and m["totalLag"] == 0, "lag 0 when caught up", m)
    c.ok(sum(p["nextOffset"] for p in m["lag"]) == 2000, "offsets add up to 2000", m)

    # 2. readFromPoint latest sees only new events
    j2 = start(job("t2", "ev", read="latest"))
    time.sleep(1.0)
    c.eq(rows("t2"), 0, "latest: old events are not read")
    c.ok(produce(B, "events", evs(2000, 300)), "produce 300 more")
    c.eq(wait_for(lambda: rows("t2") == 300), True, "latest: the 300 new events")
    c.eq(wait_for(lambda: rows("t1") == 2300), True, "earliest job sees them too")

    # 3. cancel, then a new job on the same table and topic (another connection): resumes
    r = s.req("PUT", f"/v2/jobs/{j1}", {"desiredExecutionStatus": "canceled"})
    c.eq(r.json["executionStatus"], "canceled", "cancel")
    c.ok(produce(B, "events", evs(2300, 200)), "produce while no job runs")
    j1b = start(job("t1", "ev-again", read="earliest"))
    c.eq(wait_for(lambda: rows("t1") == 2500), True, "new job resumes: no loss")
    time.sleep(1.0)
    c.eq(rows("t1"), 2500, "new job resumes: no duplicates")

    # 4. a different topic starts at readFromPoint (latest: nothing old)
    c.ok(produce(B, "other", evs(0, 50)), "produce to another topic")
    s.req("PUT", f"/v2/jobs/{j1b}", {"desiredExecutionStatus": "canceled"})
    j1c = start(job("t1", "oth", read="latest"))
    time.sleep(1.0)
    c.eq(rows("t1"), 2500, "different topic: latest reads nothing old")
    c.ok(produce(B, "other", evs(50, 25)), "produce 25 to the other topic")
    c.eq(wait_for(lambda: rows("t1") == 2525), True, "different topic: new events arrive")

    # 5. reset replays from readFromPoint (earliest: everything again, as the page warns)
    s.req("PUT", f"/v2/jobs/{j1c}", {"desiredExecutionStatus": "canceled"})
    j3 = start(job("t3", "oth", read="earliest"))
    c.eq(wait_for(lambda: rows("t3") == 75), True, "t3 reads the other topic")
    c.eq(s.req("POST", f"/v2/jobs/{j3}/reset").status, 200, "reset")
    c.eq(wait_for(lambda: rows("t3") == 150), True, "reset with earliest replays every event")
    logs = s.req("GET", f"/v2/jobs/{j3}/logs").json["values"]
    c.ok(any("reset" in e["message"] for e in logs), "the reset is in the job's logs", logs[-3:])
    # latest: the topic's end at the reset's 200 is where reading goes on; the rows read
    # before the job noticed the reset (nothing persisted yet: 10 s) are kept, and none is
    # read twice
    s.req("PUT", f"/v2/jobs/{j3}", {"desiredExecutionStatus": "canceled"})
    j4 = start(job("t4", "oth", read="latest"))
    c.ok(produce(B, "other", evs(75, 40)), "produce 40 after a latest job started")
    c.eq(wait_for(lambda: rows("t4") == 40), True, "the 40 are read")
    c.eq(s.req("POST", f"/v2/jobs/{j4}/reset").status, 200, "reset on latest")
    c.ok(produce(B, "other", evs(115, 30)), "produce 30 right after the reset")
    c.eq(wait_for(lambda: rows("t4") == 70), True, "the 30 are read")
    time.sleep(1.5)   # the job notices the reset (every 0.5 s) and persists
    c.eq(rows("t4"), 70, "reset on latest: the 40 kept, the 30 read once, none twice")

    # 6. suspend and resume (t2 also took the 200 produced while t1 had no job)
    c.eq(wait_for(lambda: rows("t2") == 500), True, "t2 kept reading the topic")
    r = s.req("PUT", f"/v2/jobs/{j2}", {"desiredExecutionStatus": "suspended"})
    c.eq(r.json["executionStatus"], "suspended", "suspend")
    c.ok(produce(B, "events", evs(2500, 100)), "produce while suspended")
    time.sleep(0.8)
    c.eq(rows("t2"), 500, "suspended: nothing read")
    r = s.req("PUT", f"/v2/jobs/{j2}", {"desiredExecutionStatus": "running"})
    c.eq(wait_for(lambda: rows("t2") == 600), True, "resume: the 100 arrive, none lost")

    # 7. the broker down for a while: health warn, then ok by itself, nothing lost
    broker.signal(signal.SIGUSR1)
    warn = wait_for(lambda: status(j2)["health"]["status"] == "warn", timeout=30)
    c.ok(warn, "health warns while the broker is down", json.dumps(status(j2)["health"]))
    if warn:
        c.ok("unreachable" in status(j2)["health"].get("message", "") or
             "broker" in status(j2)["health"].get("message", ""),
             "the warning says the broker is unreachable", status(j2)["health"])
    broker.signal(signal.SIGUSR2)
    c.ok(produce(B, "events", evs(2600, 100)), "produce after the broker is back")
    c.eq(wait_for(lambda: rows("t2") == 700, timeout=40), True, "nothing lost across the outage")
    c.eq(wait_for(lambda: status(j2)["health"]["status"] == "ok", timeout=30), True,
         "health back to ok by itself")

    # 8. the reference page's two jobs, end to end, on their own topic
    conn("example-connection", "page")
    s.req("POST", "/v2/tables", {"name": "example-table"})
    now = int(time.time() * 1000)
    lines = [json.dumps({"date": iso(now + i), "time": "00:00:00", "country": "NL",
                         "city": "Delft", "col1": "x", "extra": i}) for i in range(40)]
    c.ok(produce(B, "page", lines), "produce the page's events")
    with open(__file__.replace("test_kafka.py", "test_api.py")) as f:
        src = f.read()
    ns = {}
    exec(src[src.index("PAGE_JOB_1 = "):src.index("with open(os.path.join")], ns)
    r = s.req("POST", "/v2/jobs", raw_body=ns["PAGE_JOB_1"], auth="basic-raw",
              headers={"Content-Type": "application/json"})
    c.eq(r.status, 201, "page job 1 created")
    pj1 = r.json["id"]
    c.eq(wait_for(lambda: rows("example-table") == 40), True, "page job 1 ingests")
    schema = [x["name"] for x in s.req("GET", "/v2/tables/example-table").json["schema"]]
    c.ok("extra" in schema and "city" in schema, "discovery added columns", schema)
    c.ok("col1" not in schema and "col2" not in schema, "dimensionExclusions honoured", schema)
    s.req("PUT", f"/v2/jobs/{pj1}", {"desiredExecutionStatus": "canceled"})
    r = s.req("POST", "/v2/jobs", raw_body=ns["PAGE_JOB_2"], auth="basic-raw",
              headers={"Content-Type": "application/json"})
    c.eq(r.status, 201, "page job 2 created")
    pj2 = r.json["id"]
    c.ok(wait_for(lambda: status(pj2)["executionStatus"] == "running"), "page job 2 runs")
    later = [json.dumps({"date": time.strftime("%Y-%m-%d", time.gmtime()),
                         "time": time.strftime("%H:%M:%S", time.gmtime()), "country": "FR",
                         "city": "Lyon"}) for _ in range(10)]
    c.ok(produce(B, "page", later), "produce for page job 2")
    c.eq(wait_for(lambda: rows("example-table") == 50), True,
         "page job 2 resumes the table's checkpoint and maps CONCAT(date, 'T', time)")

    # 9. twenty kill -9 at random moments while events stream in
    conn("bigc", "big")
    jb = start(job("tk", "bigc"))
    total = 12000
    lines = evs(0, total)

    def producer():
        for k in range(0, total, 400):
            produce(B, "big", lines[k:k + 400])
            time.sleep(0.05)

    th = threading.Thread(target=producer)
    th.start()
    kills = 0
    while kills < 20:
        time.sleep(rnd.uniform(0.05, 0.6))
        s.kill9()
        kills += 1
        s.start()
    th.join()
    c.eq(kills, 20, "twenty kill -9 restarts")
    final = wait_for(lambda: rows("tk") == total, timeout=60)
    c.eq(rows("tk"), total, f"exactly {total} rows after 20 kill -9")
    time.sleep(1.0)
    c.eq(rows("tk"), total, "and no duplicate arrives later")
    m = s.req("GET", f"/v2/jobs/{jb}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], total, "processed counter exact after 20 kill -9")
finally:
    s.stop()
    s.__exit__()
    broker.stop()
c.done()
