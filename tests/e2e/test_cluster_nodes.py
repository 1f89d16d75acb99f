#!/usr/bin/env python3
"""
test_cluster_nodes.py — a server as a node of the catalog it shares: GET /v1/cluster and
`lodestar cluster status`, the node row's rules (one live node per id, one cluster secret),
heartbeats, a clean stop leaving and a kill -9 expiring; and serve's settings from a config
file (--config / LODESTAR_CONFIG) and LODESTAR_<FLAG> variables under the command line.

Two servers share one data directory's SQLite catalog here (no tables or jobs: only their node
rows), as nodes of a cluster share one catalog.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Checks, Server, free_port, wait_for  # noqa: E402

c = Checks()
HOST = socket.gethostname()


def cluster(s):
    r = s.req("GET", "/v1/cluster")
    return r.json if r.status == 200 else {"status": r.status, "raw": r.raw}


def node(doc, node_id):
    for n in doc.get("nodes", []):
        if n["id"] == node_id:
            return n
    return None


def run(args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


with Server() as a:
    # ---- a single server is a cluster of one node, with default id and address
    doc = cluster(a)
    me = f"{HOST}:{a.port}"
    c.eq(doc.get("self"), me, "the default node id is host:port")
    n = node(doc, me) or {}
    c.eq((n.get("advertise"), n.get("live"), n.get("self")),
         (f"http://127.0.0.1:{a.port}", True, True), "its address, live, and it answered")
    c.eq(doc.get("liveNodes"), 1, "one live node")
    c.eq(a.req("GET", "/v1/cluster", key=None).status, 401, "the cluster needs a key")
    age0 = n.get("heartbeatAgeMs", -1)
    c.ok(wait_for(lambda: (node(cluster(a), me) or {}).get("lastHeartbeat") != n.get("lastHeartbeat"),
                  timeout=8), "the heartbeat moves", f"age {age0} ms")

    # ---- the CLI prints it, from a key or from the data directory's admin.key
    rc, out, err = run(["cluster", "status", "--url", a.url(""), "--data-dir", a.data_dir])
    c.eq(rc, 0, "cluster status exits 0")
    c.ok(out.startswith("1 node, 1 live; answered by " + me) and me in out.splitlines()[2],
         "cluster status prints the node table", out + err)
    c.ok("PARTITIONS" in out and "SEGMENTS" in out and "LAG" in out,
         "cluster status shows the partitions, lag and segments each node holds", out)
    rc, out, _ = run(["cluster", "status", "--url", a.url(""), "--json"],
                     env={"LODESTAR_API_KEY": a.key})
    c.ok(rc == 0 and '"liveNodes":1' in out.replace(" ", ""), "--json prints the resource", out)
    rc, _, err = run(["cluster", "status", "--url", a.url(""), "--api-key", "pok_wrong"])
    c.ok(rc == 1 and "401" in err and "--api-key" in err, "a wrong key: 401 and how to fix", err)
    dead = free_port()
    rc, _, err = run(["cluster", "status", "--url", f"http://127.0.0.1:{dead}", "--api-key", "k"])
    c.ok(rc == 1 and "is a server running there" in err, "no server: says so", err)
    rc, _, err = run(["cluster", "status", "--data-dir", "/nonexistent-dir"],
                     env={"LODESTAR_API_KEY": ""})
    c.ok(rc == 2 and "no API key" in err, "no key anywhere: says where to give one", err)

    # ---- a second node sharing the catalog: joins, is listed, leaves on a clean stop
    b = Server(data_dir=a.data_dir, extra_args=["--node-id", "node-b"])
    b.start()
    c.ok(wait_for(lambda: (node(cluster(a), "node-b") or {}).get("live")), "node-b is listed live")
    c.eq(cluster(a).get("liveNodes"), 2, "two live nodes")
    c.eq((node(cluster(b), "node-b") or {}).get("self"), True, "node-b answers as itself")
    rc, _ = b.stop()
    c.eq(rc, 0, "node-b stops cleanly")
    c.eq(node(cluster(a), "node-b"), None, "a clean stop removes the node's row")

    # ---- one live node per id: the same id at another address is refused
    port = free_port()
    rc, _, err = run(["serve", "--data-dir", a.data_dir, "--listen", f"127.0.0.1:{port}",
                      "--node-id", me])
    c.ok(rc == 1 and f"node id '{me}' is already live at http://127.0.0.1:{a.port}" in err
         and "another --node-id" in err, "a taken node id is refused, naming the live node", err)
    # ---- one cluster secret: another one is refused
    rc, _, err = run(["serve", "--data-dir", a.data_dir, "--listen", f"127.0.0.1:{port}",
                      "--node-id", "node-c"], env={"LODESTAR_CLUSTER_SECRET": "other"})
    c.ok(rc == 1 and "LODESTAR_CLUSTER_SECRET" in err and me in err,
         "another cluster secret is refused, naming the node", err)
    c.eq(sorted(x["id"] for x in cluster(a)["nodes"]), [me], "refused nodes leave no row")

    # ---- kill -9: the row stays and stops being live after the expiry
    k = Server(data_dir=a.data_dir, extra_args=["--node-id", "node-k"])
    k.start()
    c.ok(wait_for(lambda: (node(cluster(a), "node-k") or {}).get("live")), "node-k live")
    k.kill9()
    expiry = cluster(a)["nodeExpiryMs"] / 1000
    c.ok(wait_for(lambda: (node(cluster(a), "node-k") or {}).get("live") is False,
                  timeout=expiry + 5), "a killed node is not live after the expiry")
    c.eq(cluster(a).get("liveNodes"), 1, "one live node again")
    # it comes back at its address: it takes its row over at once
    k.start()
    c.ok(wait_for(lambda: (node(cluster(a), "node-k") or {}).get("live")),
         "node-k restarted takes its row over")
    k.stop()

# ---- settings: config file < LODESTAR_<FLAG> < command line
d = tempfile.mkdtemp(prefix="lodestar-cfg-")
cfg = os.path.join(d, "lodestar.conf")
with open(cfg, "w") as f:
    f.write("# a node's settings\n\nnode-id = from-file\nadvertise = \"http://example.test:9\"\n")
s = Server(extra_args=["--config", cfg])
s.start()
doc = cluster(s)
c.eq((doc.get("self"), (node(doc, "from-file") or {}).get("advertise")),
     ("from-file", "http://example.test:9"), "settings from --config")
s.stop()
s = Server(data_dir=s.data_dir, env={"LODESTAR_CONFIG": cfg, "LODESTAR_NODE_ID": "from-env"})
s.start()
c.eq(cluster(s).get("self"), "from-env", "LODESTAR_NODE_ID over the file (LODESTAR_CONFIG)")
s.stop()
s = Server(data_dir=s.data_dir, extra_args=["--node-id", "from-flag"],
           env={"LODESTAR_CONFIG": cfg, "LODESTAR_NODE_ID": "from-env"})
s.start()
c.eq(cluster(s).get("self"), "from-flag", "the command line over both")
s.stop()
with open(cfg, "a") as f:
    f.write("listen-on = 1.2.3.4:5\n")
rc, _, err = run(["serve", "--config", cfg, "--data-dir", d])
c.ok(rc == 2 and f"{cfg}:5: unknown setting 'listen-on'" in err and "listen" in err,
     "an unknown setting: file, line and the settings there are", err)
with open(cfg, "w") as f:
    f.write("node-id from-file\n")
rc, _, err = run(["serve", "--config", cfg, "--data-dir", d])
c.ok(rc == 2 and f"{cfg}:1: expected \"name = value\"" in err, "a line without '='", err)
rc, _, err = run(["serve", "--config", os.path.join(d, "missing.conf"), "--data-dir", d])
c.ok(rc == 2 and "cannot read the config file" in err and "No such file" in err,
     "a missing config file", err)
# ---- a port in use: refused before the node joins (no row is left behind)
with socket.socket() as busy:
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    bport = busy.getsockname()[1]
    rc, _, err = run(["serve", "--data-dir", d, "--listen", f"127.0.0.1:{bport}",
                      "--node-id", "busy"])
c.ok(rc == 1 and f"cannot listen on 127.0.0.1:{bport}" in err, "a port in use is reported", err)
c.done()
