"""
kin.py — Kinesis for the e2e tests: kinesalite (npm, in memory) on a free loopback port, and
AWS's own client (@aws-sdk/client-kinesis, kinesis/kin.mjs) to create streams, put records
and split shards.
"""
import os
import subprocess
import time

from harness import free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
KDIR = os.path.join(HERE, "kinesis")
NODE_ENV = dict(os.environ, NODE_NO_WARNINGS="1")


class Kinesalite:
    """kinesalite (in memory) on a free loopback port, or on `port`."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.port_given = port is not None
        self.proc = None

    def start(self):
        fixed = self.port_given
        for _ in range(3):
            self.proc = subprocess.Popen(
                ["node", os.path.join(KDIR, "node_modules", "kinesalite", "cli.js"), "--port",
                 str(self.port), "--createStreamMs", "0", "--updateStreamMs", "0",
                 "--deleteStreamMs", "0", "--shardLimit", "100"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=NODE_ENV)
            deadline = time.time() + 60  # node starts slowly on a loaded machine
            while time.time() < deadline and self.proc.poll() is None:
                if wait_port(self.port, timeout=0.5):
                    return self
            if self.proc.poll() is None or fixed:
                break
            # it exited: the free port was taken before it bound; another one
            self.port = free_port()
        raise RuntimeError("kinesalite did not start")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def kin(endpoint, *args, timeout=120):
    p = subprocess.run(["node", os.path.join(KDIR, "kin.mjs"), args[0], endpoint]
                       + [str(a) for a in args[1:]], capture_output=True, timeout=timeout,
                       env=NODE_ENV)
    if p.returncode != 0:
        print("kin.mjs", args, "failed:", p.stderr.decode()[-1500:])
    return p.returncode == 0, p.stdout.decode()
