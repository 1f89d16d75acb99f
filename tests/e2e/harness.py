"""
harness.py — what every end-to-end test uses: start a real `lodestar serve`
(and `lodestar dev-kafka`) on free loopback ports with a temporary data dir,
talk HTTP to it with the standard library only, and count checks.

    from harness import Checks, Server
    c = Checks()
    with Server() as s:
        st, body, hdrs = s.req("GET", "/v1/projects")
        c.eq(st, 200, "projects listed")
    c.done()      # prints "N passed, N failed", exits 1 on failure
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LODESTAR_BIN", os.path.join(ROOT, "build", "lodestar"))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


SANITIZER_MARKS = ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")

# Servers that ended badly (a non-zero exit after SIGTERM: e.g. a sanitizer report);
# Checks.done() counts each as a failure, so no test can pass over a crashed server.
SERVER_FAILURES = []


def wait_for(fn, timeout=20.0, step=0.1):
    """Calls fn until it returns something true (returned) or timeout passes (last value)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    return last


def iso(ms):
    """ms since the epoch as ISO-8601 with milliseconds and Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


class Checks:
    """Counts checks; every failure prints what was expected and what came."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, name, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, f"got {got!r}, want {want!r}")

    def done(self):
        for msg in SERVER_FAILURES:
            self.ok(False, "server exited cleanly", msg)
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


class Response:
    def __init__(self, status, raw, headers):
        self.status = status
        self.raw = raw
        self.headers = headers
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __iter__(self):  # st, body, headers = s.req(...)
        return iter((self.status, self.json if self.json is not None else self.raw, self.headers))


class Server:
    """A real `lodestar serve` on a free port. Reuse data_dir to test restarts."""

    def __init__(self, data_dir=None, extra_args=(), env=None, key_from=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="lodestar-e2e-")
        self.extra_args = list(extra_args)  # "{port}" in one becomes the port it listens on
        self.env = env
        # Another node of a shared catalog: it makes no admin.key of its own, and accepts
        # the one the first node made (the keys are in the catalog).
        if key_from is not None:
            shutil.copy(os.path.join(key_from.data_dir, "admin.key"), self.data_dir)
        self.proc = None
        self.port = None
        self.key = None
        self.log_path = os.path.join(self.data_dir, "server.log")
        self.log_checked = 0

    def start(self):
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        # A free port can be taken between free_port() and the server's bind (another test's
        # server, or an outgoing connection's local port): then start again on another port.
        for attempt in range(3):
            self.port = free_port()
            self.log = open(self.log_path, "ab")
            start_at = self.log.tell()
            self.proc = subprocess.Popen(
                [BIN, "serve", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}"]
                + [a.replace("{port}", str(self.port)) for a in self.extra_args],
                stdout=self.log, stderr=subprocess.STDOUT, env=env)
            if self.wait_listening(start_at):
                break
            rc = self.proc.poll()
            if rc is None:
                self.stop()
                raise RuntimeError("server did not start: " + self.log_text()[-2000:])
            self.proc = None
            self.log.close()
            tail = self.log_text()[start_at:]
            if "Address already in use" not in tail or attempt == 2:
                raise RuntimeError("server did not start: " + tail[-2000:])
        with open(os.path.join(self.data_dir, "admin.key")) as f:
            self.key = f.read().strip()
        return self

    def wait_listening(self, start_at, timeout=10.0):
        """Whether this server said it listens on its port (not merely that something answers
        there: another process may hold the port) while still running."""
        mark = f"listening on 127.0.0.1:{self.port} "
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            if mark in self.log_text()[start_at:]:
                return wait_port(self.port, timeout=max(0.1, deadline - time.time()))
            time.sleep(0.02)
        return False

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the server; returns (exit code, seconds it took)."""
        if not self.proc:
            return None, 0
        t0 = time.time()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.log.close()
        text = self.log_text()
        if sig == signal.SIGTERM and rc != 0:
            SERVER_FAILURES.append(f"exit code {rc} after SIGTERM; log tail:\n{text[-3000:]}")
        # A sanitizer report fails the run even when the server was then killed (kill -9
        # loses the exit code, not the report in the log).
        for mark in SANITIZER_MARKS:
            at = text.find(mark, self.log_checked)
            if at >= 0:
                SERVER_FAILURES.append(f"sanitizer report in {self.log_path}:\n"
                                       f"{text[at:at + 4000]}")
                break
        self.log_checked = len(text)
        return rc, time.time() - t0

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def req(self, method, path, body=None, key="admin", auth="basic-colon", headers=None,
            raw_body=None, timeout=30):
        """One HTTP request. body: a JSON-able value; raw_body: bytes sent as they are.
        auth: 'basic-colon' (curl --user KEY:), 'basic-raw' (Basic KEY), 'bearer', or None."""
        if key == "admin":
            key = self.key
        h = {}
        if key is not None and auth:
            if auth == "basic-colon":
                h["Authorization"] = "Basic " + base64.b64encode((key + ":").encode()).decode()
            elif auth == "basic-raw":
                h["Authorization"] = "Basic " + key
            elif auth == "bearer":
                h["Authorization"] = "Bearer " + key
        data = None
        if raw_body is not None:
            data = raw_body if isinstance(raw_body, bytes) else raw_body.encode()
        elif body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if headers:
            h.update(headers)
        r = urllib.request.Request(self.url(path), data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                return Response(resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers))
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read().decode("utf-8", "replace"), dict(e.headers))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self.own_dir and not os.environ.get("LODESTAR_KEEP"):
            shutil.rmtree(self.data_dir, ignore_errors=True)


class DevKafka:
    """A real `lodestar dev-kafka` broker; .bootstrap is its address."""

    def __init__(self, topics=("events:4",), port=None):
        self.topics = list(topics)
        self.port = port
        self.proc = None
        self.bootstrap = None

    def start(self):
        args = [BIN, "dev-kafka"]
        if self.port:
            args += ["--port", str(self.port)]
        for t in self.topics:
            args += ["--topic", t]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
            raise RuntimeError("dev-kafka printed no bootstrap address: " + err)
        self.bootstrap = line
        return self

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def rendezvous(node, seg):
    """api/cluster.c's api__rendezvous_score: FNV-1a 64 of node, 0xff, segment name, then
    splitmix64's finish."""
    m = (1 << 64) - 1
    h = 1469598103934665603
    for b in node.encode() + b"\xff" + seg.encode():
        h = ((h ^ b) * 1099511628211) & m
    h ^= h >> 30
    h = (h * 0xbf58476d1ce4e5b9) & m
    h ^= h >> 27
    h = (h * 0x94d049bb133111eb) & m
    return h ^ (h >> 31)


def cluster_node(name, catalog, env, first=None, segments=None, s3_endpoint=None, extra=()):
    """A `lodestar serve` node of a cluster, started: the PostgreSQL catalog URI, --node-id
    name, --advertise at its own port, segments in s3://segments through s3_endpoint when
    given; first: the node whose admin.key it takes. Its .name is the id."""
    args = ["--catalog", catalog, "--node-id", name, "--advertise", "http://127.0.0.1:{port}"]
    if segments:
        args += ["--segments", f"s3://{segments}"]
    if s3_endpoint:
        args += ["--s3-endpoint", s3_endpoint]
    s = Server(extra_args=args + list(extra), env=env, key_from=first)
    s.name = name
    return s


def kcat_produce(bootstrap, topic, lines):
    """Produces lines (one message each) to topic with kcat, spread over its partitions;
    whether kcat succeeded."""
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic,
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    return p.returncode == 0


S3_DIR = os.path.join(ROOT, "tests", "e2e", "s3")
# The one key pair s3rver knows; a server reaches the store with these in its environment.
S3_ENV = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER", "AWS_REGION": "",
          "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": ""}


class S3rver:
    """s3rver (npm, tests/e2e/s3/s3rver.js: make deps installs it) on a fixed free port over
    a directory, with one bucket; stop() and start() again keep both."""

    def __init__(self, bucket):
        self.dir = tempfile.mkdtemp(prefix="lodestar-s3rver-")
        self.port = free_port()
        self.bucket = bucket
        self.proc = None

    def start(self):
        env = dict(os.environ, S3RVER_PORT=str(self.port))
        self.proc = subprocess.Popen(
            ["node", "--openssl-legacy-provider", os.path.join(S3_DIR, "s3rver.js"), self.dir,
             self.bucket], stdout=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            raise RuntimeError("s3rver did not start: " + line)
        return self

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
            self.proc = None

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def put(self, key, data, age_s=0):
        """Stores an object (s3rver checks the access key, not the signature), and makes its
        LastModified age_s seconds old (s3rver gives its file's mtime)."""
        now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        h = {"x-amz-date": now, "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
             "Authorization": f"AWS4-HMAC-SHA256 Credential=S3RVER/{now[:8]}/us-east-1/s3/"
                              "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64}
        r = urllib.request.Request(f"http://127.0.0.1:{self.port}/{self.bucket}/{key}",
                                   data=data, method="PUT", headers=h)
        with urllib.request.urlopen(r, timeout=10) as resp:
            assert resp.status == 200, resp.status
        if age_s:
            self.age(key, age_s)

    def age(self, key, age_s):
        """Makes an object's LastModified age_s seconds old."""
        f = os.path.join(self.dir, self.bucket, key + "._S3rver_object")
        t = time.time() - age_s
        os.utime(f, (t, t))

    def objects(self, prefix):
        """The keys under prefix (s3rver keeps KEY._S3rver_object files)."""
        base = os.path.join(self.dir, self.bucket)
        out = set()
        for d, _, names in os.walk(os.path.join(base, prefix)):
            for n in names:
                if n.endswith("._S3rver_object"):
                    out.add(os.path.relpath(os.path.join(d, n[:-len("._S3rver_object")]), base))
        return out


class SigV4Proxy:
    """tests/e2e/s3/sigv4_proxy.py in front of an S3rver: every request's AWS Signature V4
    checked with s3rver's secret (s3rver checks only the key id), then passed on. .endpoint
    is what --s3-endpoint takes."""

    def __init__(self, store):
        self.store = store
        self.proc = None
        self.port = None

    def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(S3_DIR, "sigv4_proxy.py"), str(self.store.port),
             S3_ENV["AWS_SECRET_ACCESS_KEY"]], stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            raise RuntimeError("sigv4_proxy.py did not start: " + line)
        self.port = int(line.split()[1])
        return self

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def requests(self):
        """How many requests it has passed on or refused (its GET /__count)."""
        with urllib.request.urlopen(self.endpoint + "/__count", timeout=5) as r:
            return int(r.read())

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
