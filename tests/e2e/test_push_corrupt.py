"""
test_push_corrupt.py — a push connection's log against damage and crashes,
end to end. Bytes flipped in a stopped server's push log (in the part a job
already read, and in the part it has not): on restart nothing good is cut,
nothing is read twice, the damaged records are skipped, counted under
byReason.corrupt and named (file, bytes, offsets) in the job's logs, and
every other record reaches the table exactly once (COUNT and SUM). A log
file deleted in the middle of unread data: its records are counted under
byReason.gap and the rest is read. The last file deleted under a job that
had read it: the job's health is an error telling to reset, nothing is
read again until then. Requests are all-or-nothing: clients POST 500-event
requests while the server is killed with kill -9 again and again; afterwards
every request has all of its events in the table or none, and every
acknowledged one has all. A gzip body of several members is read whole;
trailing bytes that are not gzip are a 400.
"""
import glob
import gzip
import json
import os
import random
import struct
import threading
import time

from harness import Checks, Server, iso, wait_for

c = Checks()
rnd = random.Random(20261207)

SCHEMA = [{"name": "ts", "dataType": "string"}, {"name": "n", "dataType": "long"},
          {"name": "req", "dataType": "long"}]
MAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
        {"columnName": "n", "expression": "n"},
        {"columnName": "req", "expression": "req"}]


def job(table, conn):
    return {"type": "streaming", "target": {"type": "table", "tableName": table},
            "createTableIfNotExists": True, "readFromPoint": "earliest",
            "source": {"type": "connection", "connectionName": conn, "inputSchema": SCHEMA,
                       "formatSettings": {"format": "nd-json"}},
            "mappings": MAPS}


def lines(first, n, req=0):
    now = int(time.time() * 1000)
    return [json.dumps({"ts": iso(now + i % 1000), "n": i, "req": req, "pad": "p" * (i % 37)})
            for i in range(first, first + n)]


def push(s, conn, evs):
    r = s.req("POST", f"/v1/events/{conn}", raw_body="\n".join(evs) + "\n")
    return r.status == 200 and r.json.get("accepted") == len(evs)


def sql(s, q):
    r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array"})
    return r.json if r.status == 200 and isinstance(r.json, list) else None


def count_sum(s, table):
    r = sql(s, f'SELECT COUNT(*), SUM(n) FROM "{table}"')
    return [r[0][0], r[0][1] or 0] if r else None


def settle(s, table, want, timeout=30):
    got = wait_for(lambda: count_sum(s, table) == want, timeout=timeout)
    if got:
        time.sleep(1.0)   # and nothing more comes
    return count_sum(s, table)


def most_copies(s, table):
    """The largest number of rows one value of n has (1 when nothing was read twice)."""
    r = sql(s, f'SELECT n, COUNT(*) AS k FROM "{table}" GROUP BY n ORDER BY k DESC LIMIT 1')
    return r[0][1] if r else None


def frames(path):
    """The frames of a push-log segment file: (offset, start byte, end byte, payload)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 24 <= len(data):
        lenf, _crc, off, _ts = struct.unpack_from("<IIQq", data, pos)
        ln = lenf & 0x7FFFFFFF
        out.append((off, pos, pos + 24 + ln, data[pos + 24:pos + 24 + ln]))
        pos += 24 + ln
    return out


def flip(path, at, mask=0x5A):
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ mask]))


def metrics(s, jid):
    return s.req("GET", f"/v2/jobs/{jid}/metrics").json["totals"]


def logs(s, jid):
    return s.req("GET", f"/v2/jobs/{jid}/logs").json.get("values", [])


def set_status(s, jid, st):
    return s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": st}).json


# ---- damage inside the log: skipped, counted, named; nothing cut, nothing read twice ------

with Server(env={"LODESTAR_PERSIST_MAX_AGE_MS": "300"}) as s:
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"})
    jid = s.req("POST", "/v2/jobs", job("pc", "web")).json["id"]
    c.ok(all(push(s, "web", lines(k * 500, 500)) for k in range(8)), "4000 events pushed")
    c.eq(settle(s, "pc", [4000, sum(range(4000))]), [4000, sum(range(4000))],
         "the first half is read")
    st = set_status(s, jid, "suspended")
    c.eq(st.get("executionStatus"), "suspended", "suspended: the checkpoint covers 4000")
    c.ok(all(push(s, "web", lines(4000 + k * 500, 500)) for k in range(8)),
         "4000 more acknowledged, not read yet")
    rc, _ = s.stop()
    c.eq(rc, 0, "clean stop")

    seg = os.path.join(s.data_dir, "push", "web", "00000000000000000000.log")
    fr = frames(seg)
    c.eq(len(fr), 8000, "the log file holds 8000 frames")
    by_off = {f[0]: f for f in fr}
    size_before = os.path.getsize(seg)
    # two bytes in the middle of a payload the job already read (offset 2000), two in
    # one it has not read (6000), and a byte of the offset field of another's header (7000)
    for off, at in ((2000, 24 + 10), (6000, 24 + 12), (7000, 9)):
        flip(seg, by_off[off][1] + at)
        if at > 24:
            flip(seg, by_off[off][1] + at + 1)
    lost = [json.loads(by_off[o][3])["n"] for o in (6000, 7000)]

    s.start()
    c.ok(os.path.getsize(seg) >= size_before, "nothing was cut from the log",
         f"{os.path.getsize(seg)} < {size_before}")
    set_status(s, jid, "running")
    want = [8000 - 2, sum(range(8000)) - sum(lost)]
    c.eq(settle(s, "pc", want), want,
         "every undamaged record exactly once; the two damaged unread ones skipped")
    log = s.log_text()
    c.ok("torn tail" not in log and log.count("nothing was cut") == 3,
         "the server names each damaged region when it opens the log, and cuts nothing",
         "\n".join(l for l in log.splitlines() if "push" in l)[-1500:])
    c.eq(most_copies(s, "pc"), 1, "nothing was read twice")
    m = wait_for(lambda: (lambda t: t if t["byReason"].get("corrupt") == 2 else None)(
        metrics(s, jid)), timeout=10)
    c.ok(m, "the damaged records are counted under byReason.corrupt", metrics(s, jid))
    skips = [e for e in logs(s, jid) if "00000000000000000000.log" in e.get("message", "")]
    c.ok(any("6000" in e["message"] and "bytes %d.." % by_off[6000][1] in e["message"]
             for e in skips), "the job's logs name the skip of offset 6000 with its bytes",
         json.dumps(logs(s, jid)[-4:]))
    c.ok(any("7000" in e["message"] for e in skips), "... and of offset 7000",
         json.dumps(skips[-3:]))
    # and the log keeps working
    c.ok(push(s, "web", lines(8000, 100)), "pushes go on")
    want = [want[0] + 100, want[1] + sum(range(8000, 8100))]
    c.eq(settle(s, "pc", want), want, "and are read")

# ---- files deleted: the middle of unread data, then the last file a job had read ---------

env = {"LODESTAR_PUSH_SEGMENT_BYTES": "32768", "LODESTAR_PERSIST_MAX_AGE_MS": "300",
       "LODESTAR_PUSH_TRIM_MS": "600000"}
with Server(env=env) as s:
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "files"})
    jid = s.req("POST", "/v2/jobs", job("pf", "files")).json["id"]
    c.ok(all(push(s, "files", lines(k * 300, 300)) for k in range(3)), "900 events")
    c.eq(settle(s, "pf", [900, sum(range(900))]), [900, sum(range(900))], "900 read")
    set_status(s, jid, "suspended")
    c.ok(all(push(s, "files", lines(900 + k * 300, 300)) for k in range(3)),
         "900 more while suspended")
    s.stop()
    logdir = os.path.join(s.data_dir, "push", "files")
    names = sorted(glob.glob(os.path.join(logdir, "*.log")))
    bases = [int(os.path.basename(p)[:20]) for p in names]
    # every request went whole into a file of its own (a request is never split); files
    # below the checkpoint may have been trimmed already
    c.eq(bases[-3:], [900, 1200, 1500], "one file per 300-event request", )
    gone = (bases[-2], bases[-1])   # a middle file of the unread half (1200..1499)
    os.unlink(names[-2])
    s.start()
    set_status(s, jid, "running")
    want = [1800 - (gone[1] - gone[0]), sum(range(1800)) - sum(range(*gone))]
    c.eq(settle(s, "pf", want), want, "the records around the deleted file are read")
    m = wait_for(lambda: (lambda t: t if t["byReason"].get("gap") == gone[1] - gone[0] else None)(
        metrics(s, jid)), timeout=10)
    c.ok(m, "the missing records are counted under byReason.gap", metrics(s, jid))
    c.ok(any("missing" in e.get("message", "") and str(gone[0]) in e.get("message", "")
             for e in logs(s, jid)), "the job's logs name the missing records",
         json.dumps(logs(s, jid)[-3:]))

    # the last file, already read, deleted: the job must not start over from the beginning
    s.stop()
    os.unlink(sorted(glob.glob(os.path.join(logdir, "*.log")))[-1])
    s.start()
    h = wait_for(lambda: (lambda j: j if j["health"]["status"] == "error" else None)(
        s.req("GET", f"/v2/jobs/{jid}").json), timeout=15)
    msg = (h or {}).get("health", {}).get("message", "")
    c.ok(h and "ends at offset" in msg and "checkpoint is at 1800" in msg
         and "/reset" in msg, "health says the log lost records and to reset the job",
         h and h.get("health"))
    time.sleep(1.0)
    c.eq(count_sum(s, "pf"), want, "nothing is read again while the job waits for a reset")

# ---- gzip bodies of several members ------------------------------------------------------

with Server() as s:
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "gz"})
    s.req("POST", "/v2/jobs", job("pg", "gz"))
    a = gzip.compress(("\n".join(lines(0, 3)) + "\n").encode())
    b = gzip.compress(("\n".join(lines(3, 3)) + "\n").encode())
    r = s.req("POST", "/v1/events/gz", raw_body=a + b, headers={"Content-Encoding": "gzip"})
    c.eq((r.status, r.json.get("accepted")), (200, 6), "two gzip members: all 6 accepted")
    r = s.req("POST", "/v1/events/gz", raw_body=a + b"junk!", headers={"Content-Encoding": "gzip"})
    c.eq(r.status, 400, "bytes after the last member that are not gzip: 400")
    c.ok("from byte %d" % len(a) in r.raw, "the 400 names where the junk starts", r.raw)
    r = s.req("POST", "/v1/events/gz", raw_body=a + b[:len(b) // 2],
              headers={"Content-Encoding": "gzip"})
    c.eq(r.status, 400, "a second member cut short: 400")
    c.eq(settle(s, "pg", [6, sum(range(6))]), [6, sum(range(6))],
         "the table gets the 6 events, and nothing of the refused bodies")

# ---- a request is all or nothing, through kill -9 ----------------------------------------

env = {"LODESTAR_PUSH_SEGMENT_BYTES": "16384", "LODESTAR_PERSIST_MAX_AGE_MS": "300"}
with Server(env=env) as s:
    s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "atom"})
    jid = s.req("POST", "/v2/jobs", job("pa", "atom")).json["id"]
    acked, sent = set(), set()
    lock = threading.Lock()
    stop = threading.Event()
    next_id = [1]

    def client():
        while not stop.is_set():
            with lock:
                rid = next_id[0]
                next_id[0] += 1
                sent.add(rid)
            try:
                if push(s, "atom", lines(0, 500, req=rid)):
                    with lock:
                        acked.add(rid)
            except Exception:
                time.sleep(0.05)   # the server is down: a new request (new id) later

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(8):
        time.sleep(rnd.uniform(0.3, 1.2))
        s.kill9()
        s.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    s.kill9()
    s.start()
    c.ok(len(acked) > 20, "many requests were acknowledged", str(len(acked)))

    def per_request():
        r = sql(s, 'SELECT req, COUNT(*) FROM "pa" GROUP BY req')
        return {row[0]: row[1] for row in r} if r is not None else None

    def settled():
        a1 = per_request()
        time.sleep(1.5)
        a2 = per_request()
        return a2 if a1 == a2 and a2 is not None and set(a2) >= acked else None

    got = wait_for(settled, timeout=60, step=0.5) or per_request() or {}
    partial = {rid: n for rid, n in got.items() if n != 500}
    c.eq(partial, {}, "every request has all 500 of its events in the table, or none")
    c.eq(sorted(rid for rid in acked if got.get(rid) != 500), [],
         "every acknowledged request has all of its events")
    c.ok(set(got) <= sent, "nothing that was not sent")

c.done()
