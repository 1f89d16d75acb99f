"""
test_no_loss.py — nothing lost on the default settings: jobs on
readFromPoint "latest" (the Polaris default) keep every event that arrived
after they started across kill -9, on push connections and on Kafka — a kill
before the first persist, kills during persists, twenty kills in a loop, a
broker that is down when the job starts, a topic that appears later, events
produced the moment the job is created or reset — each
with an exact final COUNT and SUM. Also: one checkpoint per table tied to
its topic (a, then b, then a again starts a afresh), skipped offsets counted
under byReason.gap, and the rejected-record log kept across suspend, resume
and cancel.
"""
import json
import os
import random
import signal
import subprocess
import threading
import time

from harness import Checks, DevKafka, Server, iso, wait_for

c = Checks()
rnd = random.Random(20261206)

SCHEMA = [{"name": "ts", "dataType": "string"}, {"name": "n", "dataType": "long"}]
MAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
        {"columnName": "n", "expression": "n"}]


def job(table, conn, read=None, **over):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "createTableIfNotExists": True,
         "source": {"type": "connection", "connectionName": conn, "inputSchema": SCHEMA,
                    "formatSettings": {"format": "nd-json"}},
         "mappings": MAPS}
    if read:
        j["readFromPoint"] = read   # absent: the default, latest
    j.update(over)
    return j


def lines(first, n, pad=0):
    now = int(time.time() * 1000)
    extra = {"pad": "x" * pad} if pad else {}
    return [json.dumps(dict({"ts": iso(now + i % 1000), "n": i}, **extra))
            for i in range(first, first + n)]


def expect(first, n):
    """COUNT and SUM of n for the events first..first+n-1."""
    return [n, sum(range(first, first + n))]


def count_sum(s, table):
    r = s.req("POST", "/v1/query/sql", {"query": f'SELECT COUNT(*), SUM(n) FROM "{table}"',
                                        "resultFormat": "array"})
    if r.status != 200 or not isinstance(r.json, list):
        return None
    row = r.json[0]
    return [row[0], row[1] or 0]


def settle(s, table, want, timeout=30, quiet=1.0):
    """Waits until the table holds `want` (COUNT, SUM) and still does `quiet` s later."""
    got = wait_for(lambda: count_sum(s, table) == want, timeout=timeout)
    if got:
        time.sleep(quiet)
    return count_sum(s, table)


def running(s, jid, timeout=20):
    return wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] == "running",
                    timeout=timeout)


def create(s, body, what):
    r = s.req("POST", "/v2/jobs", body)
    c.eq(r.status, 201, f"{what}: job created")
    return r.json.get("id")


# ---- push connections, default readFromPoint --------------------------------------------

def push(s, conn, evs):
    r = s.req("POST", f"/v1/events/{conn}", raw_body="\n".join(evs) + "\n")
    return r.status == 200 and r.json.get("accepted") == len(evs)


with Server(env={"LODESTAR_PERSIST_MAX_ROWS": "250", "LODESTAR_PERSIST_MAX_AGE_MS": "400"}) as s:
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"})
    jid = create(s, job("pushed", "web"), "push, default readFromPoint")
    c.eq(s.req("GET", f"/v2/jobs/{jid}").json.get("readFromPoint"), "latest",
         "the default readFromPoint is latest")

    # 2,000 events acknowledged right after the job was created, then kill -9 at once:
    # the job's start was resolved when it was created, so all of them are read.
    ok = all(push(s, "web", lines(k * 500, 500)) for k in range(4))
    c.ok(ok, "four requests of 500 acknowledged")
    s.kill9()
    s.start()
    c.eq(settle(s, "pushed", expect(0, 2000)), expect(0, 2000),
         "push, latest: all 2000 acknowledged events after kill -9 before the first persist")

    # twenty kill -9 at random moments while the job persists every 250 rows
    total = 2000
    for k in range(20):
        for _ in range(rnd.randint(1, 3)):
            ok = push(s, "web", lines(total, 300))
            c.ok(ok, f"push before kill {k}")
            total += 300
        time.sleep(rnd.uniform(0.0, 0.5))
        s.kill9()
        s.start()
    c.eq(settle(s, "pushed", expect(0, total), timeout=60), expect(0, total),
         f"push, latest: exactly {total} events (COUNT and SUM) after 20 kill -9")
    m = s.req("GET", f"/v2/jobs/{jid}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], total, "push: processed counter exact after kills")

    # a suspended job resumes where it stopped: the events pushed meanwhile are read
    s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "suspended"})
    c.ok(push(s, "web", lines(total, 100)), "push while suspended")
    s.kill9()
    s.start()
    s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "running"})
    total += 100
    c.eq(settle(s, "pushed", expect(0, total)), expect(0, total),
         "push: events pushed while suspended are read after resume")

    # a deleted push connection takes its log (and its space) with it: a new connection of
    # the same name starts empty, even for a job on earliest
    logdir = os.path.join(s.data_dir, "push", "web")
    c.ok(push(s, "web", lines(0, 100)), "100 more events before the delete")
    s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "canceled"})
    c.eq(s.req("DELETE", "/v2/connections/web").status, 200, "push connection deleted")
    c.ok(not os.path.exists(logdir), "its log directory is gone", str(os.listdir(
        os.path.dirname(logdir)) if os.path.exists(os.path.dirname(logdir)) else ""))
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"})
    j2 = create(s, job("pushed2", "web", read="earliest"), "job on the new connection")
    c.ok(running(s, j2), "the new job runs")
    time.sleep(0.5)
    c.eq(count_sum(s, "pushed2"), None, "nothing of the deleted connection's events is read")
    c.ok(push(s, "web", lines(0, 10)), "10 events to the new connection")
    c.eq(settle(s, "pushed2", expect(0, 10)), expect(0, 10), "exactly its own 10 events")
    s.req("PUT", f"/v2/jobs/{j2}", {"desiredExecutionStatus": "canceled"})


# ---- Kafka, readFromPoint latest ---------------------------------------------------------

def produce(bootstrap, topic, evs):
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic,
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5"],
                       input=("\n".join(evs) + "\n").encode(), capture_output=True, timeout=60)
    return p.returncode == 0


broker = DevKafka(topics=["lat:4", "lat2:4", "now:4", "down:2", "loop:8", "pat-1:2", "ta:1",
                          "tb:1", "ret:1", "bad:1"]).start()
B = broker.bootstrap
s = Server(env={"LODESTAR_PERSIST_MAX_ROWS": "400", "LODESTAR_PERSIST_MAX_AGE_MS": "500"})
s.start()
try:
    def conn(name, **kw):
        body = {"type": "kafka", "name": name, "bootstrapServers": B}
        body.update(kw)
        c.eq(s.req("POST", "/v2/connections", body).status, 201, f"connection {name}")

    for t in ("lat", "lat2", "now", "down", "loop", "ta", "tb", "ret", "bad"):
        conn(t, topicName=t)
    conn("pat", topicNamePattern="pat-.*")

    # events before the job are not read (latest); those after it started are, and stay
    c.ok(produce(B, "lat", lines(10**6, 50)), "produce before the job")
    j1 = create(s, job("k1", "lat", read="latest"), "kafka latest")
    c.ok(running(s, j1), "kafka latest job runs")
    time.sleep(0.5)
    c.ok(produce(B, "lat", lines(0, 1000)), "produce 1000 after the job started")
    c.eq(settle(s, "k1", expect(0, 1000), quiet=0), expect(0, 1000), "1000 visible in SQL")
    s.kill9()
    s.start()
    c.eq(settle(s, "k1", expect(0, 1000)), expect(0, 1000),
         "kafka, latest: the 1000 remain after kill -9")
    c.ok(produce(B, "lat", lines(1000, 500)), "produce 500 more")
    c.eq(settle(s, "k1", expect(0, 1500)), expect(0, 1500), "kafka, latest: and go on exactly")

    # a kill before the first persist: produced right after the job started, killed at once
    j2 = create(s, job("k2", "lat2", read="latest"), "kafka latest, kill early")
    c.ok(running(s, j2), "job runs")
    time.sleep(0.3)
    c.ok(produce(B, "lat2", lines(0, 700)), "produce 700")
    s.kill9()
    s.start()
    c.eq(settle(s, "k2", expect(0, 700)), expect(0, 700),
         "kafka, latest: kill -9 before the first persist loses nothing")

    # a careless user on the defaults: events produced the moment the 201 arrives (no wait
    # for "running") are read — latest is where each partition ended when the job was
    # created — even with a kill -9 at once
    c.ok(produce(B, "now", lines(10**6, 40)), "produce 40 before the job")
    j6 = create(s, job("k6", "now"), "kafka, readFromPoint left out")
    c.ok(produce(B, "now", lines(0, 600)), "produce 600 right after the 201")
    s.kill9()
    s.start()
    c.eq(settle(s, "k6", expect(0, 600)), expect(0, 600),
         "kafka, default latest: the 600 produced right after the 201 are read, the 40 "
         "before it are not, across kill -9")
    # a reset on latest: the events after its 200 are read, however soon; those that came
    # while the job was suspended, before the reset, are skipped
    c.eq(s.req("PUT", f"/v2/jobs/{j6}", {"desiredExecutionStatus": "suspended"}).status, 200,
         "suspend")
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{j6}").json["executionStatus"] ==
                  "suspended"), "suspended")
    c.ok(produce(B, "now", lines(600, 50)), "produce 50 while suspended")
    c.eq(s.req("POST", f"/v2/jobs/{j6}/reset").status, 200, "reset while suspended")
    c.ok(produce(B, "now", lines(650, 70)), "produce 70 right after the reset")
    c.eq(s.req("PUT", f"/v2/jobs/{j6}", {"desiredExecutionStatus": "running"}).status, 200,
         "resume")
    want = [670, sum(range(600)) + sum(range(650, 720))]
    c.eq(settle(s, "k6", want), want, "reset on latest: the 70 after it read, the 50 before not")
    c.eq(s.req("POST", f"/v2/jobs/{j6}/reset").status, 200, "reset while running")
    c.ok(produce(B, "now", lines(720, 80)), "produce 80 right after the reset")
    s.kill9()
    s.start()
    want = [750, want[1] + sum(range(720, 800))]
    c.eq(settle(s, "k6", want), want,
         "reset of a running job on latest: the 80 produced right after it are read, across "
         "kill -9")
    s.req("PUT", f"/v2/jobs/{j6}", {"desiredExecutionStatus": "canceled"})

    # the broker is down when the job starts: nothing is read until the start is known,
    # and the start that is then committed survives a kill
    broker.signal(signal.SIGUSR1)
    time.sleep(0.5)
    j3 = create(s, job("k3", "down", read="latest"), "kafka latest, broker down")
    time.sleep(2.0)
    broker.signal(signal.SIGUSR2)
    c.ok(wait_for(lambda: (s.req("GET", f"/v2/jobs/{j3}/metrics").json.get("lag") or [{}])[0]
                  .get("nextOffset", -1) >= 0, timeout=30),
         "the job resolves its start once the broker is back",
         s.req("GET", f"/v2/jobs/{j3}/metrics").raw[:300])
    c.ok(produce(B, "down", lines(0, 300)), "produce 300 after the broker is back")
    c.eq(settle(s, "k3", expect(0, 300), quiet=0), expect(0, 300), "300 visible")
    s.kill9()
    s.start()
    c.eq(settle(s, "k3", expect(0, 300)), expect(0, 300),
         "kafka, latest, broker down at start: the 300 remain after kill -9")

    # a topic that appears after the job started (topicNamePattern) is read from its start
    c.ok(produce(B, "pat-1", lines(0, 100)), "produce to pat-1 before the job")
    j4 = create(s, job("k4", "pat", read="latest"), "pattern job on latest")
    c.ok(running(s, j4), "pattern job runs")
    time.sleep(0.5)
    c.ok(produce(B, "pat-1", lines(100, 100)), "produce 100 more to pat-1")
    c.ok(produce(B, "pat-2", lines(200, 150)), "produce 150 to a new topic pat-2")
    c.eq(settle(s, "k4", expect(100, 250), timeout=40, quiet=0), expect(100, 250),
         "the new topic's events are all read (metadata refresh)")
    s.kill9()
    s.start()
    c.ok(produce(B, "pat-2", lines(350, 50)), "produce 50 more to pat-2")
    c.eq(settle(s, "k4", expect(100, 300)), expect(100, 300),
         "pattern, latest: exact after kill -9 (the new topic is in the checkpoint)")

    # twenty kill -9 in a loop on latest while events stream in, persists every 400 rows
    j5 = create(s, job("k5", "loop", read="latest"), "kafka latest, kill loop")
    c.ok(running(s, j5), "loop job runs")
    time.sleep(0.5)
    total = 8000
    evs = lines(0, total)

    def producer():
        for k in range(0, total, 400):
            produce(B, "loop", evs[k:k + 400])
            time.sleep(0.05)

    th = threading.Thread(target=producer)
    th.start()
    for k in range(20):
        time.sleep(rnd.uniform(0.05, 0.5))
        s.kill9()
        s.start()
    th.join()
    c.eq(settle(s, "k5", expect(0, total), timeout=60), expect(0, total),
         f"kafka, latest: exactly {total} events (COUNT and SUM) after 20 kill -9")
    m = s.req("GET", f"/v2/jobs/{j5}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], total, "kafka: processed counter exact after kills")

    # one checkpoint per table, tied to its topic: a, then b, then a again starts a afresh
    c.ok(produce(B, "ta", lines(0, 10)), "10 events on topic ta")
    c.ok(produce(B, "tb", lines(0, 5)), "5 events on topic tb")
    ja = create(s, job("ab", "ta", read="earliest"), "table ab on ta")
    c.eq(wait_for(lambda: (count_sum(s, "ab") or [0])[0] == 10), True, "ab: 10 rows from ta")
    s.req("PUT", f"/v2/jobs/{ja}", {"desiredExecutionStatus": "canceled"})
    jb = create(s, job("ab", "tb", read="earliest"), "table ab on tb")
    c.eq(wait_for(lambda: (count_sum(s, "ab") or [0])[0] == 15), True, "ab: 15 rows with tb")
    s.req("PUT", f"/v2/jobs/{jb}", {"desiredExecutionStatus": "canceled"})
    c.ok(produce(B, "ta", lines(10, 3)), "3 more events on ta")
    ja2 = create(s, job("ab", "ta", read="earliest"), "table ab on ta again")
    c.eq(wait_for(lambda: (count_sum(s, "ab") or [0])[0] == 28), True,
         "ab: back on ta reads it from readFromPoint (10 + 5 + 13 = 28)")
    time.sleep(0.5)
    c.eq((count_sum(s, "ab") or [0])[0], 28, "ab: 28 rows, no more")
    s.req("PUT", f"/v2/jobs/{ja2}", {"desiredExecutionStatus": "canceled"})

    # skipped offsets are counted: a retention gap (the dev broker keeps ~5 MiB a partition)
    jr = create(s, job("kr", "ret", read="earliest"), "retention job")
    c.ok(produce(B, "ret", lines(0, 100)), "100 events before the gap")
    c.eq(wait_for(lambda: (count_sum(s, "kr") or [0])[0] == 100), True, "100 read")
    s.req("PUT", f"/v2/jobs/{jr}", {"desiredExecutionStatus": "suspended"})
    big = lines(100, 16000, pad=600)      # ~10 MB: the broker drops the oldest
    c.ok(produce(B, "ret", big), "16000 large events while suspended")
    s.req("PUT", f"/v2/jobs/{jr}", {"desiredExecutionStatus": "running"})
    time.sleep(1.0)
    m = wait_for(lambda: (lambda j: j if j["totals"]["byReason"]["gap"] > 0 and
                          (count_sum(s, "kr") or [0])[0] + j["totals"]["byReason"]["gap"] == 16100
                          else None)(s.req("GET", f"/v2/jobs/{jr}/metrics").json), timeout=40)
    mm = s.req("GET", f"/v2/jobs/{jr}/metrics").json
    c.ok(m, "rows read + byReason.gap = every offset produced (16100)",
         f"rows {count_sum(s, 'kr')}, totals {mm['totals']}")
    logs = s.req("GET", f"/v2/jobs/{jr}/logs").json["values"]
    c.ok(any(e["reason"] == "gap" and "deleted by retention" in e["message"] for e in logs),
         "the gap is in the job's logs", logs[-2:])
    s.req("PUT", f"/v2/jobs/{jr}", {"desiredExecutionStatus": "canceled"})

    # the rejected-record log survives suspend, resume and cancel
    jl = create(s, job("kl", "bad", read="earliest"), "job with a bad record")
    c.ok(produce(B, "bad", ['{"ts": "not a time", "n": 1}'] + lines(0, 5)), "a bad record")
    c.eq(wait_for(lambda: (count_sum(s, "kl") or [0])[0] == 5), True, "good records read")

    def rejected():
        return [e for e in s.req("GET", f"/v2/jobs/{jl}/logs").json["values"]
                if e["outcome"] == "skippedByError"]

    c.eq(len(wait_for(lambda: rejected(), timeout=10) or []), 1, "one rejected record logged")
    for want in ("suspended", "running", "canceled"):
        s.req("PUT", f"/v2/jobs/{jl}", {"desiredExecutionStatus": want})
        wait_for(lambda: s.req("GET", f"/v2/jobs/{jl}").json["executionStatus"] == want)
        time.sleep(0.3)
        c.eq(len(rejected()), 1, f"the rejected record is still logged after {want}")
finally:
    s.stop()
    s.__exit__()
    broker.stop()
c.done()
