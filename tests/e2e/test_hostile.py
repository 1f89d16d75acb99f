"""
test_hostile.py — files, names and secrets (what a careless user or an
attacker sends): every file the server writes is private (0600 in 0700
directories), even in a data directory the user made world-readable first;
names that would become "." or ".." paths are refused; uploads are all or
nothing (a body cut before its closing boundary, a filename with a quote or
a NUL, an existing name: precise 400/409, nothing stored), and what is
stored is byte for byte what curl sent; an unknown project id asks for a key
before it says 404.
"""
import hashlib
import os
import random
import stat
import subprocess
import tempfile

from harness import Checks, Server

c = Checks()


def multipart(parts, boundary="XbOuNdArY"):
    out = b""
    for name, filename, data in parts:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").encode()
        if filename is not None:
            out += b"; filename=\"" + filename + b"\""
        out += b"\r\n\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), {
        "Content-Type": f"multipart/form-data; boundary={boundary}"}


def modes(root):
    """Every path under root with its permission bits (root itself left out)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


data_dir = tempfile.mkdtemp(prefix="lodestar-hostile-")
os.chmod(data_dir, 0o755)                      # made by the user, open to all
with open(os.path.join(data_dir, "old-notes.txt"), "w") as f:
    f.write("left by someone\n")
os.chmod(os.path.join(data_dir, "old-notes.txt"), 0o644)

s = Server(data_dir=data_dir)
s.start()
try:
    c.ok("can be entered by other users" in s.log_text(),
         "a world-readable data directory is reported at start", s.log_text()[-800:])

    # write something of every kind: a table with segments, a push log, an upload
    c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status, 201,
         "push connection")
    c.eq(s.req("POST", "/v2/connections", {"type": "kafka", "name": "k", "bootstrapServers":
                                           "h:1", "topicName": "t", "secrets": {
                                               "type": "sasl_plain", "username": "u",
                                               "password": "hunter2-secret"}}).status, 201,
         "a connection with a secret")
    job = {"type": "batch", "target": {"type": "table", "tableName": "b"},
           "createTableIfNotExists": True,
           "source": {"type": "inline", "data": '{"ts":"2024-01-01T00:00:00Z","n":1}\n',
                      "inputSchema": [{"name": "ts", "dataType": "string"},
                                      {"name": "n", "dataType": "long"}],
                      "formatSettings": {"format": "nd-json"}},
           "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                        {"columnName": "n", "expression": "n"}]}
    c.eq(s.req("POST", "/v2/jobs", job).status, 201, "a batch job")
    s.req("POST", "/v1/events/web", raw_body='{"a": 1}\n')
    body, hdr = multipart([("file", b"f.json", b'{"a":1}\n')])
    c.eq(s.req("POST", "/v1/files", raw_body=body, headers=hdr).status, 200, "an upload")
    import time
    time.sleep(1.0)
    s.stop()
    m = modes(data_dir)
    loose = {p: oct(v) for p, v in m.items() if v & 0o077}
    c.eq(loose, {}, "every file and directory in the data directory is private")
    for name in ("catalog.db", "admin.key", "old-notes.txt"):
        c.ok(name in m and m[name] == 0o600, f"{name} is 0600", oct(m.get(name, 0)))
    c.ok(any(p.startswith("push/web/") and p.endswith(".log") for p in m), "a push log exists",
         str(sorted(m)))
    c.ok(any(p.startswith("tables/") and os.path.isfile(os.path.join(data_dir, p)) for p in m),
         "a segment exists", str(sorted(m)))

    s.start()
    # names that would be "." or ".." paths
    for bad in (".", ".."):
        r = s.req("POST", "/v2/connections", {"type": "push_streaming", "name": bad})
        c.eq(r.status, 400, f"connection name {bad!r}: 400")
        c.ok(r.json and "'.' or '..'" in r.json.get("message", ""), f"... says why ({bad!r})",
             r.raw[:300])
    before = set(os.listdir(data_dir))
    r = s.req("POST", "/v1/events/%2e%2e", raw_body='{"a": 1}\n')
    c.eq(r.status, 404, "POST /v1/events/%2e%2e: no such connection")
    c.eq(set(os.listdir(data_dir)) - before, set(), "nothing written in the data directory")
    c.ok(not os.path.exists(os.path.join(data_dir, "LOCK")), "no LOCK in the data directory")
    r = s.req("POST", "/v2/tables", {"name": ".."})
    c.eq(r.status, 400, "table name '..': 400")

    # uploads: all or nothing, precise errors
    def files():
        return sorted(f["name"] for f in s.req("GET", "/v1/files").json["values"])

    body, hdr = multipart([("file", b"cut.json", b'{"a":1}\n{"a":2}\n')])
    body = body[:body.rindex(b"\r\n--XbOuNdArY--")]
    r = s.req("POST", "/v1/files", raw_body=body, headers=hdr)
    c.eq(r.status, 400, "upload without its closing boundary: 400")
    c.ok(r.json and "cut short" in r.json.get("message", ""), "... says it was cut short",
         r.raw[:300])
    c.ok("cut.json" not in files(), "... and stores nothing")

    body, hdr = multipart([("file", b'q\\"uote.json', b"x\n")])
    r = s.req("POST", "/v1/files", raw_body=body, headers=hdr)
    c.eq(r.status, 400, "filename with a quote: 400")
    c.ok(r.json and 'q"uote.json' in r.json.get("message", ""), "... names the whole filename",
         r.raw[:300])
    c.ok(not any(f.startswith("q") for f in files()), "... and stores no 'q'", str(files()))

    body, hdr = multipart([("file", b"nul\x00x.json", b"x\n")])
    r = s.req("POST", "/v1/files", raw_body=body, headers=hdr)
    c.eq(r.status, 400, "filename with a NUL: 400")
    c.ok(r.json and "NUL" in r.json.get("message", ""), "... says NUL", r.raw[:300])

    body, hdr = multipart([("file", b"f.json", b'{"b":2}\n')])
    r = s.req("POST", "/v1/files", raw_body=body, headers=hdr)
    c.eq(r.status, 409, "upload over an existing name: 409")
    c.ok(r.json and "already exists" in r.json.get("message", ""), "... says so", r.raw[:300])

    body, hdr = multipart([("file", b"new1.json", b"1\n"), ("file", b"f.json", b"2\n")])
    r = s.req("POST", "/v1/files", raw_body=body, headers=hdr)
    c.eq(r.status, 409, "two files, the second existing: 409")
    c.ok("new1.json" not in files(), "... and the first is not stored either (all or nothing)")

    # what curl sends is what is stored, byte for byte (an oracle for the multipart reader)
    rnd = random.Random(11)
    blob = bytes(rnd.choice(b"\r\n-XbOuNdArY\x00\xff") for _ in range(300000))
    tmp = os.path.join(tempfile.mkdtemp(), "blob.bin")
    with open(tmp, "wb") as f:
        f.write(blob)
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--user",
                          s.key + ":", "-F", f"file=@{tmp}", "-F", "note=hello",
                          s.url("/v1/files")], capture_output=True, timeout=30)
    c.eq(out.stdout.decode(), "200", "curl -F upload of awkward binary data")
    with open(os.path.join(data_dir, "files", "blob.bin"), "rb") as f:
        stored = f.read()
    c.eq(hashlib.sha256(stored).hexdigest(), hashlib.sha256(blob).hexdigest(),
         "the stored file is byte for byte what curl sent")

    # an unknown project id asks for a key before it says 404
    c.eq(s.req("GET", "/v1/projects/nope/tables", key=None).status, 401,
         "unknown project, no key: 401")
    c.eq(s.req("GET", "/v1/projects/nope/tables").status, 404, "unknown project, a key: 404")
finally:
    s.stop()
    s.__exit__()
    import shutil
    shutil.rmtree(data_dir, ignore_errors=True)


# ---- answers never silently partial: a corrupt or missing segment fails the queries that
# need it, every time, unless the query asks for partial results
def batch(table, rows):
    data = "".join('{"ts":"%s","n":%d}\n' % (ts, n) for ts, n in rows)
    return {"type": "batch", "target": {"type": "table", "tableName": table},
            "createTableIfNotExists": True,
            "source": {"type": "inline", "data": data,
                       "inputSchema": [{"name": "ts", "dataType": "string"},
                                       {"name": "n", "dataType": "long"}],
                       "formatSettings": {"format": "nd-json"}},
            "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                         {"columnName": "n", "expression": "n"}]}


def q(s, sql, ctx=None):
    body = {"query": sql, "resultFormat": "array"}
    if ctx:
        body["context"] = ctx
    return s.req("POST", "/v1/query/sql", body)


with Server() as s:
    day1 = [("2024-03-01T%02d:00:00Z" % (i % 24), i) for i in range(3000)]
    day2 = [("2024-03-02T%02d:00:00Z" % (i % 24), i) for i in range(2000)]
    for k, rows in enumerate((day1, day2)):
        r = s.req("POST", "/v2/jobs", batch("seg", rows))
        jid = r.json["id"]
        import time
        for _ in range(100):
            if s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] == "succeeded":
                break
            time.sleep(0.1)
    c.eq(q(s, "SELECT COUNT(*) FROM seg").json, [[5000]], "5000 rows in two day segments")
    s.stop()
    tdir = os.path.join(s.data_dir, "tables")
    segs = sorted(os.path.join(d, f) for d, _, fs in os.walk(tdir) for f in fs)
    day1_seg = [p for p in segs if "2024-03-01" in os.path.basename(p)]
    c.ok(len(day1_seg) == 1, "one segment file for 2024-03-01", str(segs))
    with open(day1_seg[0], "r+b") as f:     # two bytes flipped in the middle
        f.seek(os.path.getsize(day1_seg[0]) // 2)
        b = f.read(2)
        f.seek(-2, 1)
        f.write(bytes(x ^ 0xFF for x in b))
    s.start()
    name = os.path.basename(day1_seg[0])
    for attempt in range(3):   # every time, not only the first
        r = q(s, "SELECT COUNT(*) FROM seg")
        c.eq(r.status, 500, f"a query over the corrupt segment's day fails (#{attempt + 1})")
        msg = (r.json or {}).get("message", "") if isinstance(r.json, dict) else r.raw
        c.ok(name in msg and "2024-03-01T00:00:00.000Z/2024-03-02T00:00:00.000Z" in msg and
             "allowPartialResults" in msg, "... naming the segment, its interval and the way out",
             msg[:500])
    r = q(s, "SELECT COUNT(*), SUM(n) FROM seg WHERE __time >= TIMESTAMP '2024-03-02 00:00:00'")
    c.eq((r.status, r.json), (200, [[2000, sum(range(2000))]]),
         "a query over the other day answers in full")
    r = q(s, "SELECT COUNT(*) FROM seg", {"allowPartialResults": True})
    c.eq((r.status, r.json), (200, [[2000]]), "allowPartialResults: 200 without the segment")
    c.ok(name in r.headers.get("X-Lodestar-Warning", ""), "... and a warning header names it",
         str(r.headers))
    c.eq(q(s, "SELECT 1 FROM seg", {"allowPartialResults": "yes"}).status, 400,
         "allowPartialResults must be a boolean")
    # a segment file that is gone entirely
    s.stop()
    os.unlink(day1_seg[0])
    s.start()
    r = q(s, "SELECT COUNT(*) FROM seg")
    c.eq(r.status, 500, "a missing segment file fails the query too")
    c.ok(name in r.raw and "2024-03-01" in r.raw, "... naming it and its interval", r.raw[:400])
c.done()
