"""
test_http.py — the HTTP layer against hostile and careless clients, with raw
sockets so that every byte sent is exactly the one meant:

- framing: Content-Length with Transfer-Encoding (request smuggling: 400, the
  connection closed, the smuggled request never served), conflicting
  Content-Length headers (400), transfer codings other than chunked (501/400,
  never silence), a Content-Length over the body limit (413 at once);
- sizes: a long URL (414) and large headers (431) as the JSON error object;
- what libmicrohttpd still answers itself (README "HTTP limits"): a URL or
  header block past its buffer, a bad chunk size, a garbage request line:
  answered or closed at once, never a hang;
- time: a body or headers sent one byte at a time are cut at the request
  deadline with a JSON 408; an idle socket is closed after the idle timeout;
  a steady 10 MB upload slower than the base deadline still gets through;
- connections: 1,500 idle sockets from one address, then from 38 others,
  while an authenticated client from another address is answered within 1 s;
- the server log: every line carries our timestamp (libmicrohttpd's messages
  go through our logger).
"""
import base64
import json
import os
import re
import resource
import select
import socket
import time

from harness import Checks, Server

c = Checks()

# Enough descriptors for 1,500 client sockets in this process.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft < 4096:
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(_hard, 8192), _hard))


def auth_header(key):
    return "Authorization: Basic " + base64.b64encode((key + ":").encode()).decode()


def connect(port, src=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_until_close(s, timeout):
    """Reads until EOF, a reset or timeout seconds; returns (bytes, closed, seconds)."""
    t0 = time.time()
    data = b""
    closed = False
    while True:
        left = timeout - (time.time() - t0)
        if left <= 0:
            break
        p = select.poll()
        p.register(s, select.POLLIN)
        if not p.poll(left * 1000):
            break
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return data, closed, time.time() - t0


def exchange(port, data, timeout=5.0, src=None):
    """Sends data on a new connection, then reads until the server closes it."""
    s = connect(port, src)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_close(s, timeout)
    finally:
        s.close()


def parse_responses(raw):
    """Splits raw bytes into [(status, {header: value}, body)] by Content-Length."""
    out = []
    while raw:
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            break
        head = raw[:end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
        if not m:
            break
        hdrs = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        status = int(m.group(1))
        rest = raw[end + 4:]
        if status == 100:
            raw = rest
            continue
        n = int(hdrs.get("content-length", len(rest)))
        out.append((status, hdrs, rest[:n]))
        raw = rest[n:]
    return out


def is_json_error(resp):
    status, hdrs, body = resp
    try:
        j = json.loads(body)
    except ValueError:
        return False
    return (hdrs.get("content-type", "").startswith("application/json")
            and isinstance(j, dict) and isinstance(j.get("error"), str)
            and isinstance(j.get("message"), str) and len(j["message"]) > 20)


def one_json_error(name, got, status, closed=True, message_has=None):
    """got = (raw, closed, secs): exactly one response, this status, the JSON error object."""
    raw, was_closed, _ = got
    rs = parse_responses(raw)
    c.eq(len(rs), 1, f"{name}: exactly one response")
    if not rs:
        c.ok(False, f"{name}: a response", repr(raw[:300]))
        return None
    c.eq(rs[0][0], status, f"{name}: status")
    c.ok(is_json_error(rs[0]), f"{name}: the JSON error object", repr(rs[0][2][:300]))
    if closed:
        c.ok(was_closed, f"{name}: connection closed")
    if message_has:
        c.ok(message_has in rs[0][2].decode("utf-8", "replace"),
             f"{name}: message mentions {message_has!r}", rs[0][2][:300])
    return rs[0]


def request(method, path, key, headers=(), body=b"", extra=b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: lodestar", auth_header(key)] + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body + extra


def timed_get(port, key, src):
    """GET /v2/tables from src on a new connection; (status, seconds) or (None, seconds)."""
    t0 = time.time()
    try:
        s = connect(port, src, timeout=3.0)
    except OSError:
        return None, time.time() - t0
    try:
        s.sendall(request("GET", "/v2/tables", key, ["Connection: close"]))
        raw, _, _ = read_until_close(s, 3.0)
    except OSError:
        raw = b""
    finally:
        s.close()
    rs = parse_responses(raw)
    return (rs[0][0] if rs else None), time.time() - t0


SQL = b'{"query": "SELECT 1 AS one"}'

# ---------------------------------------------------------------------------
# Framing, sizes and deadlines: short timeouts so that the slow cases are quick.
env = {"LODESTAR_HTTP_IDLE_TIMEOUT_S": "3", "LODESTAR_HTTP_REQUEST_TIMEOUT_S": "4"}
s = Server(env=env)
s.start()
try:
    key, port = s.key, s.port

    # -- a well-formed request on a raw socket works (the helpers are right)
    got = exchange(port, request("POST", "/v1/query/sql", key,
                                 ["Content-Type: application/json", "Connection: close",
                                  f"Content-Length: {len(SQL)}"], SQL))
    rs = parse_responses(got[0])
    c.eq([r[0] for r in rs], [200], "plain request: 200")

    # -- request smuggling: Content-Length and Transfer-Encoding together
    smuggled_body = b'{"name": "smuggled"}'
    smuggled = request("POST", "/v2/tables", key,
                       ["Content-Type: application/json",
                        f"Content-Length: {len(smuggled_body)}"], smuggled_body)
    chunked = b"0\r\n\r\n"
    got = exchange(port, request("POST", "/v2/tables", key,
                                 ["Content-Type: application/json",
                                  f"Content-Length: {len(chunked) + len(smuggled)}",
                                  "Transfer-Encoding: chunked"], chunked + smuggled))
    one_json_error("CL+TE", got, 400, message_has="Transfer-Encoding")
    c.eq(s.req("GET", "/v2/tables/smuggled").status, 404,
         "CL+TE: the smuggled request was not served")
    # the other order of the two headers, on a GET
    got = exchange(port, request("GET", "/v2/tables", key,
                                 ["Transfer-Encoding: chunked", "Content-Length: 5"], chunked))
    one_json_error("TE+CL on a GET", got, 400)

    # -- two Content-Length headers
    got = exchange(port, request("POST", "/v1/query/sql", key,
                                 ["Content-Type: application/json", f"Content-Length: {len(SQL)}",
                                  "Content-Length: 2"], SQL))
    one_json_error("conflicting Content-Length", got, 400, message_has="Content-Length")
    got = exchange(port, request("POST", "/v1/query/sql", key,
                                 ["Content-Type: application/json", "Connection: close",
                                  f"Content-Length: {len(SQL)}", f"Content-Length: {len(SQL)}"],
                                 SQL))
    c.eq([r[0] for r in parse_responses(got[0])], [200], "repeated equal Content-Length: served")

    # -- transfer codings we do not decode: an answer, never silence
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SQL), SQL)
    got = exchange(port, request("POST", "/v1/query/sql", key,
                                 ["Content-Type: application/json",
                                  "Transfer-Encoding: gzip, chunked"], body), timeout=3)
    one_json_error("Transfer-Encoding: gzip, chunked", got, 501, message_has="gzip")
    got = exchange(port, request("POST", "/v1/query/sql", key,
                                 ["Content-Type: application/json",
                                  "Transfer-Encoding: identity"], SQL), timeout=3)
    one_json_error("Transfer-Encoding: identity", got, 400, message_has="identity")
    got = exchange(port, request("POST", "/v1/query/sql", key,
                                 ["Content-Type: application/json",
                                  "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                                 body), timeout=3)
    one_json_error("Transfer-Encoding twice", got, 400)
    got = exchange(port, request("POST", "/v1/query/sql", key,
                                 ["Content-Type: application/json", "Connection: close",
                                  "Transfer-Encoding: chunked"], body))
    c.eq([r[0] for r in parse_responses(got[0])], [200], "Transfer-Encoding: chunked: served")

    # -- sizes we check ourselves: the JSON error object
    got = exchange(port, request("GET", "/v2/tables/" + "a" * 16000, key))
    one_json_error("16 KB URL", got, 414, message_has="8192")
    pad = [f"X-Pad-{i}: " + "p" * 1000 for i in range(40)]
    got = exchange(port, request("GET", "/v2/tables", key, pad))
    one_json_error("40 KB of headers", got, 431, message_has="32768")
    got = exchange(port, request("POST", "/v2/tables", key,
                                 ["Content-Type: application/json",
                                  "Content-Length: 20000000000", "Expect: 100-continue"]))
    one_json_error("Content-Length 20 GB with Expect", got, 413)
    got = exchange(port, request("POST", "/v2/tables", key,
                                 ["Content-Type: application/json",
                                  "Content-Length: 20000000000"], b"{" * 1000))
    one_json_error("Content-Length 20 GB", got, 413)
    big = b"a" * (11 * 1024 * 1024)
    got = exchange(port, request("POST", "/v2/tables", key,
                                 ["Content-Type: application/json", "Connection: close",
                                  "Transfer-Encoding: chunked"],
                                 b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)), timeout=20)
    one_json_error("11 MB chunked body", got, 413)

    # -- what libmicrohttpd answers itself (documented in the README): at once, then closed
    for name, data in [
        ("1 MB URL", request("GET", "/v2/tables/" + "a" * (1 << 20), key)),
        ("bad chunk size", request("POST", "/v1/query/sql", key,
                                   ["Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n")),
        ("garbage request line", b"GARBAGE\r\n\r\n"),
        ("request line without a version", b"GET /v2/tables\r\n\r\n"),
    ]:
        raw, closed, secs = exchange(port, data, timeout=3)
        c.ok(closed and secs < 2, f"{name}: closed at once", f"closed={closed} after {secs:.1f}s")
        rs = parse_responses(raw)
        c.ok(not rs or rs[0][0] in (400, 414), f"{name}: a 400/414 or nothing", repr(raw[:200]))

    # -- slowloris: the body one byte every 2 s is cut at the 4 s deadline with a 408
    sk = connect(port)
    sk.sendall(request("POST", "/v1/query/sql", key,
                       ["Content-Type: application/json", "Content-Length: 1000"]))
    t0 = time.time()
    raw, closed = b"", False
    while time.time() - t0 < 12 and not closed:
        try:
            sk.sendall(b" ")
        except OSError:
            pass
        more, closed, _ = read_until_close(sk, 2.0)
        raw += more
    secs = time.time() - t0
    sk.close()
    c.ok(closed and secs < 7.5, "slow body: connection closed by the deadline",
         f"closed={closed} after {secs:.1f}s")
    one_json_error("slow body", (raw, closed, secs), 408,
                   message_has="LODESTAR_HTTP_REQUEST_TIMEOUT_S")

    # -- slowloris on the headers: one byte a second
    sk = connect(port)
    t0 = time.time()
    raw, closed = b"", False
    trickle = iter(request("GET", "/v2/tables", key, [f"X-Slow: {'s' * 100}"]))
    while time.time() - t0 < 12 and not closed:
        try:
            sk.sendall(bytes([next(trickle)]))
        except (OSError, StopIteration):
            pass
        more, closed, _ = read_until_close(sk, 1.0)
        raw += more
    secs = time.time() - t0
    sk.close()
    c.ok(closed and secs < 6.5, "slow headers: connection closed by the deadline",
         f"closed={closed} after {secs:.1f}s")
    one_json_error("slow headers", (raw, closed, secs), 408)

    # -- an idle socket is closed after the idle timeout (3 s here)
    sk = connect(port)
    raw, closed, secs = read_until_close(sk, 10)
    sk.close()
    c.ok(closed and 2 < secs < 5.5, "idle socket closed after the idle timeout",
         f"closed={closed} after {secs:.1f}s")
    c.eq(raw, b"", "idle socket: nothing sent to a client that sent nothing")

    # -- a steady 10 MB upload that takes longer than the 4 s base deadline gets through
    body = b'{"query": "SELECT 1 AS one' + b" " * (10 * 1000 * 1000 - 64) + b'"}'
    sk = connect(port)
    sk.sendall(request("POST", "/v1/query/sql", key,
                       ["Content-Type: application/json", "Connection: close",
                        f"Content-Length: {len(body)}"]))
    t0 = time.time()
    step = 64 * 1024
    for i in range(0, len(body), step):
        sk.sendall(body[i:i + step])
        due = t0 + 6.0 * (i + step) / len(body)   # ~1.7 MB/s: 6 s in all
        if due > time.time():
            time.sleep(due - time.time())
    raw, closed, _ = read_until_close(sk, 30)
    sk.close()
    rs = parse_responses(raw)
    c.ok(time.time() - t0 > 5, "steady upload took longer than the base deadline",
         f"{time.time() - t0:.1f}s")
    c.eq([r[0] for r in rs], [200], "steady 10 MB upload: 200")

    # -- the server still serves after all of it
    c.eq(s.req("GET", "/v2/tables").status, 200, "server fine after the hostile requests")
finally:
    s.stop()

# Every line of the log carries our timestamp, but the admin key banner (two lines).
bad = [ln for ln in s.log_text().splitlines()
       if ln and not re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", ln)
       and not ln.startswith("lodestar: created the admin API key") and not ln.startswith("  pok_")]
c.eq(bad[:5], [], "every server log line has our timestamp")
c.ok(re.search(r"INFO  http: 127\.0\.0\.1:\d+: 408 Request Timeout: the request body",
               s.log_text()), "the 408s are logged", s.log_text()[-3000:])

# ---------------------------------------------------------------------------
# Idle sockets: default limits (64 per address, 4096 in all, 30 s idle timeout).


def open_idle(port, n, sources):
    socks, failed = [], 0
    for i in range(n):
        try:
            socks.append(connect(port, sources[i % len(sources)], timeout=1.0))
        except OSError:
            failed += 1
    return socks, failed


def count_closed(socks, wait):
    """How many of socks the server has closed within wait seconds."""
    time.sleep(wait)
    closed = 0
    for sk in socks:
        try:
            sk.setblocking(False)
            if sk.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


s = Server()
s.start()
try:
    key, port = s.key, s.port
    st, secs = timed_get(port, key, "127.0.0.2")
    c.ok(st == 200 and secs < 1, "before: answered within 1 s", f"{st} in {secs:.2f}s")

    socks, failed = open_idle(port, 1500, ["127.0.0.1"])
    closed = count_closed(socks, 1.0)
    c.ok(closed >= 1500 - 64 - failed, "one address: all but 64 idle sockets refused",
         f"{closed} closed, {failed} failed to connect")
    slow = []
    for i in range(10):
        st, secs = timed_get(port, key, "127.0.0.2")
        if st != 200 or secs >= 1:
            slow.append((st, round(secs, 2)))
    c.eq(slow, [], "1,500 idle sockets from 127.0.0.1: 127.0.0.2 answered within 1 s, 10 times")
    for sk in socks:
        sk.close()

    sources = [f"127.0.0.{i}" for i in range(3, 41)]   # 38 addresses, ~40 sockets each
    socks, failed = open_idle(port, 1500, sources)
    closed = count_closed(socks, 0.5)
    c.ok(closed + failed < 50, "38 addresses: their 1,500 idle sockets are within the limits",
         f"{closed} closed, {failed} failed to connect")
    slow = []
    for i in range(10):
        st, secs = timed_get(port, key, "127.0.0.2")
        if st != 200 or secs >= 1:
            slow.append((st, round(secs, 2)))
    c.eq(slow, [], "1,500 idle sockets from 38 addresses: 127.0.0.2 answered within 1 s, 10 times")
    for sk in socks:
        sk.close()
    st, secs = timed_get(port, key, "127.0.0.1")
    c.ok(st == 200 and secs < 1, "after: 127.0.0.1 answered again", f"{st} in {secs:.2f}s")
finally:
    s.stop()

# libmicrohttpd's line per refused connection goes through our logger, at most 20 a second.
log = s.log_text()
per_second = {}
for ln in log.splitlines():
    if " http: libmicrohttpd: " in ln:
        per_second[ln[:19]] = per_second.get(ln[:19], 0) + 1
c.ok(per_second and max(per_second.values()) <= 21, "libmicrohttpd lines: at most 20 a second",
     str(per_second))
c.ok("reached connection limit. Closing inbound connection. (limits: "
     "LODESTAR_HTTP_MAX_CONNECTIONS=4096 in all, LODESTAR_HTTP_MAX_CONNECTIONS_PER_IP=64" in log,
     "a refusal names the limits", log[-2000:])
c.ok(re.search(r"libmicrohttpd: \d+ more lines not logged", log), "the held-back lines are counted",
     log[-2000:])

c.done()
