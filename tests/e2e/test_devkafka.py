"""
test_devkafka.py — `lodestar dev-kafka` against a real Kafka client (kcat):
the bootstrap line, topics and partitions, produce/consume round trips, the
fixed-port forwarder, SIGUSR1/SIGUSR2 down/up with data kept, clean SIGTERM
and SIGINT, and argument errors. Needs kcat on PATH.

    python3 tests/e2e/test_devkafka.py     # prints "N passed, N failed"
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Checks, DevKafka, free_port  # noqa: E402

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
ADDR_RE = re.compile(r"^127\.0\.0\.1:\d+$")


def run(args, timeout=20, stdin=None):
    """Runs a command; returns (rc, stdout, stderr), rc None when it timed out."""
    try:
        p = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = (e.stderr or b"").decode("utf-8", "replace")
        return None, out, err


class StderrTail:
    """Drains a broker's stderr (so it never blocks on a full pipe) and lets the
    test wait for a log line, e.g. the one confirming SIGUSR1 took effect."""

    def __init__(self, proc):
        self.lines = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self.t.start()

    def _read(self, f):
        for raw in iter(f.readline, b""):
            with self.cv:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cv.notify_all()

    def text(self):
        with self.cv:
            return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=5.0):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        with self.cv:
            while True:
                for ln in self.lines:
                    if rx.search(ln):
                        return ln
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cv.wait(left)


def start(brokers, topics, port=None):
    dk = DevKafka(topics=topics, port=port)
    brokers.append(dk)
    dk.start()
    return dk, StderrTail(dk.proc)


def partitions_of(meta, topic):
    m = re.search(r'topic "%s" with (\d+) partitions' % re.escape(topic), meta)
    return int(m.group(1)) if m else None


def produce(addr, topic, msgs):
    return run([KCAT, "-P", "-b", addr, "-t", topic, "-X", "sticky.partitioning.linger.ms=0"],
               stdin=("\n".join(msgs) + "\n").encode())


def consume(addr, topic, fmt="%s\n"):
    rc, out, err = run([KCAT, "-C", "-b", addr, "-t", topic, "-e", "-o", "beginning", "-q",
                        "-f", fmt])
    return rc, [ln for ln in out.split("\n") if ln], err


def stop_timed(dk, sig):
    """Sends sig, returns (exit code, seconds until exit)."""
    t0 = time.time()
    dk.proc.send_signal(sig)
    try:
        rc = dk.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        dk.proc.kill()
        rc = dk.proc.wait()
    took = time.time() - t0
    dk.proc = None
    return rc, took


def main():
    c = Checks()
    if not KCAT:
        c.ok(False, "kcat is installed (apt-get install kcat)")
        c.done()
    brokers = []
    try:
        # 1. bootstrap line, topic with 4 partitions, the retention warning
        dk, log = start(brokers, ["t1:4"])
        addr = dk.bootstrap
        c.ok(ADDR_RE.match(addr), "first stdout line is a loopback bootstrap address", addr)
        rc, meta, err = run([KCAT, "-L", "-b", addr, "-t", "t1", "-m", "5"])
        c.eq(rc, 0, "kcat -L succeeds")
        c.eq(partitions_of(meta, "t1"), 4, "t1 has 4 partitions")
        c.ok(log.wait_for(r"created topic t1 with 4 partitions"), "stderr says t1 was created",
             log.text())
        c.ok(log.wait_for(r"WARN .*5 MiB.*drops older data"), "stderr warns about retention",
             log.text())
        # topics not listed are created on first use (librdkafka's mock default: 4 partitions)
        rc, meta, err = run([KCAT, "-L", "-b", addr, "-t", "auto_made", "-m", "5"])
        c.ok(rc == 0 and (partitions_of(meta, "auto_made") or 0) >= 1,
             "an unlisted topic is auto-created", meta + err)

        # 2. 1000 messages round trip, spread over the partitions
        tag = uuid.uuid4().hex[:8]
        msgs = ["m%04d-%s" % (i, tag) for i in range(1000)]
        rc, _, err = produce(addr, "t1", msgs)
        c.eq(rc, 0, "kcat produced 1000 messages" + (": " + err[-300:] if rc else ""))
        rc, got, err = consume(addr, "t1", fmt="%p %s\n")
        c.eq(rc, 0, "kcat consumed t1")
        c.eq(len(got), 1000, "1000 messages consumed")
        c.eq(set(ln.split(" ", 1)[1] for ln in got), set(msgs), "consumed exactly what was produced")
        c.eq(set(ln.split(" ", 1)[0] for ln in got), {"0", "1", "2", "3"},
             "messages landed on all 4 partitions")

        # 3. --port: the forwarder on a fixed port
        port = free_port()
        dk2, log2 = start(brokers, ["t2:2"], port=port)
        addr2 = dk2.bootstrap
        c.eq(addr2, "127.0.0.1:%d" % port, "with --port the bootstrap is 127.0.0.1:PORT")
        rc, meta, err = run([KCAT, "-L", "-b", addr2, "-t", "t2", "-m", "5"])
        c.eq(partitions_of(meta, "t2"), 2, "kcat -L through the forwarder sees t2 with 2 partitions")
        msgs2 = ["p%03d-%s" % (i, tag) for i in range(200)]
        rc, _, err = produce(addr2, "t2", msgs2)
        c.eq(rc, 0, "produce through the forwarder")
        rc, got, err = consume(addr2, "t2")
        c.eq(sorted(got), sorted(msgs2), "consume through the forwarder returns all 200")
        m = log2.wait_for(r"forwarding to the mock broker at (127\.0\.0\.1:\d+)")
        direct = re.search(r"at (127\.0\.0\.1:\d+)", m).group(1) if m else None
        c.ok(direct and direct != addr2, "stderr names the mock broker's own address", log2.text())

        # 4. SIGUSR1 takes it down (forwarder port and mock port), SIGUSR2 back up
        dk2.signal(signal.SIGUSR1)
        c.ok(log2.wait_for(r"SIGUSR1: broker down"), "SIGUSR1 logged", log2.text())
        probes = [subprocess.Popen([KCAT, "-L", "-b", a, "-m", "3"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL) for a in (addr2, direct or addr2)]
        for name, p in zip(("forwarder port", "mock broker port"), probes):
            try:
                prc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                prc = None
            c.ok(prc != 0, "while down, kcat -L -m 3 on the %s fails" % name, "rc=%r" % prc)
        with socket.socket() as s:
            s.settimeout(2)
            refused = s.connect_ex(("127.0.0.1", port)) != 0
        c.ok(refused, "while down, the forwarder port refuses TCP connections")
        dk2.signal(signal.SIGUSR2)
        c.ok(log2.wait_for(r"SIGUSR2: broker up"), "SIGUSR2 logged", log2.text())
        rc, meta, err = run([KCAT, "-L", "-b", addr2, "-t", "t2", "-m", "5"])
        c.eq(rc, 0, "after SIGUSR2, kcat -L works again" + (": " + err[-300:] if rc else ""))
        rc, got, err = consume(addr2, "t2")
        c.eq(sorted(got), sorted(msgs2), "after down/up, all 200 messages are still there")
        rc, got, err = consume(direct or addr2, "t2")
        c.eq(len(got), 200, "after down/up, the mock's own address serves them too")

        # 5. SIGTERM and SIGINT stop cleanly
        rc, took = stop_timed(dk, signal.SIGTERM)
        c.eq(rc, 0, "SIGTERM exits 0")
        c.ok(took < 5, "SIGTERM exits within 5 s", "%.2f s" % took)
        rc, took = stop_timed(dk2, signal.SIGINT)
        c.eq(rc, 0, "SIGINT exits 0 (with the forwarder running)")
        c.ok(took < 5, "SIGINT exits within 5 s", "%.2f s" % took)
        with socket.socket() as s:
            s.settimeout(2)
            c.ok(s.connect_ex(("127.0.0.1", port)) != 0, "the fixed port is released on exit")

        # 6. bad arguments: exit 2 and a message naming the problem
        for args, want in ((["--topic", "t:0"], "partitions must be"),
                           (["--port", "abc"], "--port must be"),
                           (["--port", "70000"], "--port must be"),
                           (["--bogus"], "unknown argument '--bogus'")):
            rc, out, err = run([BIN, "dev-kafka"] + args, timeout=10)
            c.eq(rc, 2, "dev-kafka %s exits 2" % " ".join(args))
            c.ok(want in err, "dev-kafka %s explains: %s" % (" ".join(args), want), err)
            c.eq(out, "", "dev-kafka %s prints nothing on stdout" % " ".join(args))
        # errors found after parsing exit 1 with a message
        rc, out, err = run([BIN, "dev-kafka", "--topic", "bad/name"], timeout=10)
        c.ok(rc not in (0, None) and "topic name" in err and out == "",
             "an illegal topic name is refused", "rc=%r %s" % (rc, err))
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            bport = busy.getsockname()[1]
            rc, out, err = run([BIN, "dev-kafka", "--port", str(bport)], timeout=10)
        c.ok(rc not in (0, None) and "cannot listen on 127.0.0.1:%d" % bport in err and out == "",
             "a port in use is reported", "rc=%r %s" % (rc, err))
    finally:
        for dk in brokers:
            dk.stop()
    c.done()


if __name__ == "__main__":
    main()
