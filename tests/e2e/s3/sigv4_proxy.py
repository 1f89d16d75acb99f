#!/usr/bin/env python3
"""
sigv4_proxy.py — an HTTP proxy in front of s3rver for the S3 client's tests
(tests/unit/test_s3.c): s3rver checks that an access key id exists but not
the signature, so this proxy checks every request's AWS Signature V4 with
the secret it is given (canonical request, string to sign, signing key, as
AWS documents them; and the payload's SHA-256 when it is not
UNSIGNED-PAYLOAD) and answers 403 SignatureDoesNotMatch when it is wrong.
It can also answer the first N requests with 503 SlowDown (retries).

    python3 sigv4_proxy.py UPSTREAM_PORT SECRET [FAIL_FIRST_N]

Prints "READY <port>" once it listens. GET /__count answers how many
requests (other than /__count) it has seen; POST /__fail/N answers the next
N with 503. Python standard library only.
"""
import hashlib
import hmac
import http.client
import http.server
import sys
import threading
import urllib.parse

UPSTREAM = int(sys.argv[1])
SECRET = sys.argv[2]
state = {"fail": int(sys.argv[3]) if len(sys.argv) > 3 else 0, "count": 0}
lock = threading.Lock()


def enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def check_sig(method, raw_path, headers, body):
    """None when the signature is right, else why not."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no AWS4-HMAC-SHA256 Authorization header"
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = parts["Credential"].split("/")
    if len(cred) != 5 or cred[3] != "s3" or cred[4] != "aws4_request":
        return "bad Credential scope " + parts["Credential"]
    _, date, region, service, _ = cred
    signed = parts["SignedHeaders"].split(";")
    for need in ("host", "x-amz-content-sha256", "x-amz-date"):
        if need not in signed:
            return need + " is not signed"
    for h in signed:
        if h not in headers:
            return f"signed header {h} is not in the request"
    payload = headers.get("x-amz-content-sha256", "")
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 is not the body's SHA-256"
    path, _, query = raw_path.partition("?")
    pairs = sorted((enc(k), enc(v)) for k, v in
                   urllib.parse.parse_qsl(query, keep_blank_values=True))
    cq = "&".join(f"{k}={v}" for k, v in pairs)
    ch = "".join(f"{h}:{' '.join(headers.get(h, '').split())}\n" for h in signed)
    creq = "\n".join([method, path, cq, ch, ";".join(signed), payload])
    amzdate = headers.get("x-amz-date", "")
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, f"{date}/{region}/{service}/aws4_request",
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + SECRET).encode()
    for m in (date, region, service, "aws4_request"):
        k = hmac.new(k, m.encode(), hashlib.sha256).digest()
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(want, parts["Signature"]) else "signature differs"


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body, extra=()):
        b = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(b)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/__count":
            return self.answer(200, str(state["count"]))
        if self.path.startswith("/__fail/"):
            state["fail"] = int(self.path.rsplit("/", 1)[1])
            return self.answer(200, "ok")
        with lock:
            state["count"] += 1
            fail = state["fail"] > 0
            if fail:
                state["fail"] -= 1
        if fail:
            return self.answer(503, "<Error><Code>SlowDown</Code><Message>Please reduce your "
                               "request rate.</Message></Error>")
        why = check_sig(self.command, self.path, self.headers, body)
        if why:
            return self.answer(403, "<Error><Code>SignatureDoesNotMatch</Code><Message>The "
                               f"request signature we calculated does not match ({why})"
                               "</Message></Error>")
        c = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        hdrs["Host"] = self.headers.get("Host", "")
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        head = self.command == "HEAD"
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection") and \
                    (head or k.lower() != "content-length"):
                self.send_header(k, v)
        if not head:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        c.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(f"READY {srv.server_address[1]}", flush=True)
srv.serve_forever()
