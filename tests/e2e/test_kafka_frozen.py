"""
test_kafka_frozen.py — a frozen Kafka broker under a streaming job that is
ingesting. SIGSTOP on `lodestar dev-kafka` freezes it the way a hung broker
is frozen: its connections stay open, the kernel still accepts new ones, and
nothing is answered, so the client sees no error until its request timeouts.
Checked: an idle but live broker keeps health ok; once frozen, the job's
health (GET /v2/jobs/{id}) is warn "broker HOST:PORT not responding for N s
(requests sent, no answer)" within BOUND seconds (it used to stay ok for about
a minute and then blame "broker version < 0.10"), its N growing and never
another message while frozen; after SIGCONT it is ok again by itself, and
every event produced before, during and after the freeze is in the table
exactly once.
"""
import json
import signal
import subprocess
import threading
import time

from harness import Checks, DevKafka, Server, iso, wait_for

c = Checks()
BOUND = 10      # seconds from SIGSTOP to the warning (the source reports after 5-6 s)
FROZEN = 16     # seconds the broker stays frozen
BATCH = 200     # events per kcat run of the background producer


def produce(bootstrap, topic, lines):
    # A run that starts during the freeze waits until the broker answers again: kcat
    # gives up when all brokers are down, and its first request on a new connection
    # (ApiVersion) would time out after 10 s and take the connection down.
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic,
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5",
                        "-X", "api.version.request.timeout.ms=60000"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=120)
    if p.returncode != 0:
        print("kcat:", p.stderr.decode()[-1500:], flush=True)
    return p.returncode == 0


def evs(start, n):
    now = int(time.time() * 1000)
    return [json.dumps({"ts": iso(now + i % 1000), "page": f"p{i % 13}", "n": i})
            for i in range(start, start + n)]


JOB = {"type": "streaming", "target": {"type": "table", "tableName": "frz"},
       "createTableIfNotExists": True,
       "source": {"type": "connection", "connectionName": "frz",
                  "inputSchema": [{"name": "ts", "dataType": "string"},
                                  {"name": "page", "dataType": "string"},
                                  {"name": "n", "dataType": "long"}],
                  "formatSettings": {"format": "nd-json"}},
       "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                    {"columnName": "page", "expression": "page"},
                    {"columnName": "n", "expression": "n"}],
       "readFromPoint": "earliest"}

broker = DevKafka(topics=["frz:4"]).start()
s = Server()
s.start()
frozen = False
try:
    B = broker.bootstrap

    def rows():
        r = s.req("GET", "/v2/tables/frz")
        return r.json["status"]["rowCount"] if r.status == 200 else -1

    def health():
        return s.req("GET", f"/v2/jobs/{jid}").json["health"]

    def secs(msg):
        """The N of 'not responding for N s', or -1."""
        k = msg.find("not responding for ")
        return int(msg[k + 19:].split(" ")[0]) if k >= 0 else -1

    r = s.req("POST", "/v2/connections", {"type": "kafka", "name": "frz",
                                          "bootstrapServers": B, "topicName": "frz"})
    c.eq(r.status, 201, "connection")
    r = s.req("POST", "/v2/jobs", JOB)
    c.eq(r.status, 201, "job created")
    jid = r.json.get("id")
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] == "running"),
         "job running")

    # 1. idle but alive: nothing to read for 8 s, health stays ok
    c.ok(produce(B, "frz", evs(0, 1000)), "produce 1000")
    c.ok(wait_for(lambda: rows() == 1000), "1000 ingested", rows())
    bad = []
    t0 = time.time()
    while time.time() - t0 < 8:
        h = health()
        if h["status"] != "ok":
            bad.append(h)
        time.sleep(0.25)
    c.eq(bad[:1], [], "an idle, live broker keeps health ok")

    # 2. a producer keeps the job ingesting: BATCH events every ~0.2 s
    produced = [1000]
    failed = []
    stop = threading.Event()

    def producer():
        while not stop.is_set():
            k = produced[0]
            if not produce(B, "frz", evs(k, BATCH)):
                failed.append(k)
                return
            produced[0] = k + BATCH
            time.sleep(0.2)

    th = threading.Thread(target=producer)
    th.start()
    c.ok(wait_for(lambda: rows() >= 1000 + 3 * BATCH, timeout=30), "the job is ingesting", rows())

    # 3. frozen: warned within BOUND seconds, and nothing but that while frozen
    broker.signal(signal.SIGSTOP)
    frozen = True
    t0 = time.time()
    warned_after = None
    before = []      # anything but ok before the warning
    wrong = []       # anything but a growing "not responding" after it
    last = 0
    while time.time() - t0 < FROZEN:
        h = health()
        msg = h.get("message", "")
        if warned_after is None:
            if h["status"] == "ok":
                time.sleep(0.25)
                continue
            warned_after = time.time() - t0
            print(f"frozen broker: warned after {warned_after:.1f} s: {msg}", flush=True)
            c.ok(f"broker {B} not responding for " in msg and
                 "(requests sent, no answer)" in msg, "the warning names the broker", h)
        if h["status"] != "warn" or secs(msg) < last or "0.10" in msg or "unreachable" in msg:
            wrong.append(h)
        last = max(last, secs(msg))
        time.sleep(0.25)
    c.ok(warned_after is not None and warned_after <= BOUND,
         f"health warns within {BOUND} s of the freeze", warned_after)
    c.eq(wrong[:1], [], "while frozen: always 'not responding', N growing")
    c.ok(last >= FROZEN - BOUND, "N counts the freeze", last)

    # 4. thawed: ok again by itself, soon
    broker.signal(signal.SIGCONT)
    frozen = False
    t1 = time.time()
    ok = wait_for(lambda: health()["status"] == "ok", timeout=20, step=0.25)
    print(f"health ok {time.time() - t1:.1f} s after SIGCONT", flush=True)
    c.ok(ok and time.time() - t1 <= 10, "health back to ok within 10 s of SIGCONT", health())

    # 5. every event, before, during and after the freeze, exactly once
    time.sleep(2)
    stop.set()
    th.join()
    c.eq(failed, [], "every kcat run delivered its events")
    total = produced[0]
    c.ok(wait_for(lambda: rows() == total, timeout=60), f"all {total} events ingested", rows())
    time.sleep(1.5)
    c.eq(rows(), total, "and none arrives twice later")
    r = s.req("POST", "/v1/query/sql",
              {"query": 'SELECT COUNT(*), COUNT(DISTINCT "n"), MIN("n"), MAX("n"), SUM("n") '
                        "FROM frz", "resultFormat": "array",
               "context": {"useApproximateCountDistinct": False}})
    c.eq(r.json, [[total, total, 0, total - 1, total * (total - 1) // 2]],
         "each n from 0 to total-1 exactly once")
    m = s.req("GET", f"/v2/jobs/{jid}/metrics").json
    c.eq(m["totals"]["numRowsProcessed"], total, "processed counter exact")
    c.eq(health()["status"], "ok", "health still ok")
finally:
    if frozen:
        broker.signal(signal.SIGCONT)
    s.stop()
    s.__exit__()
    broker.stop()
c.done()
