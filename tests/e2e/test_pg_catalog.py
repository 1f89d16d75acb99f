"""
test_pg_catalog.py — `lodestar serve --catalog postgresql://...` against a
real PostgreSQL (pg.py): the core API flow — a table, a push connection (on
Kafka: --push-kafka, which a node of a shared catalog needs — without it a
job on a push connection and a push are refused), a streaming job, pushed
events, COUNT(*) — with the catalog's rows in
PostgreSQL (read back with psql) and none in the data directory; kill -9
and a restart (the catalog now from LODESTAR_CATALOG): the same count and
the same job, running; a PostgreSQL restart under the running server; and
a --catalog the server cannot use (nobody listening, a database that does
not exist, a malformed URI) stops it at startup with an error that says
what, where and how to fix it.
"""
import atexit
import json
import os
import subprocess
import tempfile
import time

from harness import BIN, Checks, DevKafka, Server, free_port, iso, wait_for
from pg import Postgres

c = Checks()

JOB = {
    "type": "streaming",
    "target": {"type": "table", "tableName": "pgt"},
    "source": {"type": "connection", "connectionName": "web",
               "inputSchema": [{"name": "ts", "dataType": "string"},
                               {"name": "n", "dataType": "long"}],
               "formatSettings": {"format": "nd-json"}},
    "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                 {"columnName": "n", "expression": "n"}],
    "readFromPoint": "earliest",
}


def events(start, n):
    now = int(time.time() * 1000)
    return "\n".join(json.dumps({"ts": iso(now + i), "n": start + i}) for i in range(n)) + "\n"


def serve_fails(catalog):
    """`lodestar serve --catalog catalog` on a fresh data dir: (exit code, stderr)."""
    with tempfile.TemporaryDirectory(prefix="lodestar-pgbad-") as d:
        p = subprocess.run([BIN, "serve", "--data-dir", d, "--listen", f"127.0.0.1:{free_port()}",
                            "--catalog", catalog], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr


t0 = time.time()
broker = DevKafka(topics=[]).start()
atexit.register(broker.stop)
with Postgres() as pg:
    uri = pg.createdb("lodestar")

    def psql(sql):
        return pg._run("psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "lodestar", "-d",
                       "lodestar", "-Atc", sql).strip()

    def persisted():  # rows in committed segments (compaction keeps the sum)
        return int(psql("SELECT COALESCE(sum(rows), 0) FROM segment WHERE table_name = 'pgt'"))

    def checkpoint():
        return psql("SELECT offsets FROM checkpoint WHERE table_name = 'pgt'")

    # a node of a shared catalog keeps no pushed events on its own disk: without
    # --push-kafka a job on a push connection and a push to it are refused
    s0 = Server(extra_args=["--catalog", uri]).start()
    try:
        c.eq(s0.req("POST", "/v2/connections", {"type": "push_streaming", "name": "web"}).status,
             201, "push connection")
        r = s0.req("POST", "/v2/jobs", JOB)
        c.ok(r.status == 400 and "--push-kafka" in r.raw and "source.connectionName" in r.raw,
             "without --push-kafka: a job on a push connection is refused, naming the flag",
             r.raw[:400])
        r = s0.req("POST", "/v1/events/web", raw_body=events(0, 5))
        c.ok(r.status == 400 and "--push-kafka" in r.raw,
             "without --push-kafka: a push is refused, naming the flag", r.raw[:400])
        c.eq(s0.req("GET", "/v2/jobs").json.get("values"), [], "no job was created")
    finally:
        s0.stop()

    # persists (catalog commits) every half second, so the test sees several
    s = Server(extra_args=["--catalog", uri, "--push-kafka", broker.bootstrap],
               env={"LODESTAR_PERSIST_MAX_AGE_MS": "500"}, key_from=s0)
    s0.__exit__(None, None, None)
    s.start()
    try:
        c.ok(not os.path.exists(os.path.join(s.data_dir, "catalog.db")),
             "no SQLite catalog in the data directory")
        r = s.req("POST", "/v2/tables", {"name": "pgt"})
        c.ok(r.status == 201, "table created", r.raw)
        c.eq(s.req("POST", "/v2/tables", {"name": "pgt"}).status, 409, "the same name again: 409")
        r = s.req("POST", "/v2/jobs", JOB)
        c.ok(r.status == 201, "streaming job", r.raw)
        jid = r.json.get("id")
        c.eq(s.req("POST", "/v2/jobs", JOB).status, 409, "a second live job on the table: 409")
        c.eq(psql("SELECT name FROM tbl ORDER BY name"), "pgt", "the table's row is in PostgreSQL")
        c.eq(psql("SELECT count(*) FROM job WHERE status NOT IN ('canceled','failed')"), "1",
             "one live job in PostgreSQL")

        total = 0
        for k in range(3):
            r = s.req("POST", "/v1/events/web", raw_body=events(total, 500))
            c.eq((r.status, r.json.get("accepted")), (200, 500), f"push {k}")
            total += 500
        q = {"query": "SELECT COUNT(*) AS n, SUM(n) AS s FROM pgt", "resultFormat": "array"}
        want = [[total, total * (total - 1) // 2]]
        c.eq(wait_for(lambda: s.req("POST", "/v1/query/sql", q).json == want and want), want,
             "COUNT(*) and SUM of the pushed events")

        c.ok(wait_for(lambda: persisted() == total, timeout=20), "persists committed every row's "
             "segment to PostgreSQL", str(persisted()))
        c.ok(checkpoint() != "", "with the checkpoint")

        # PostgreSQL restarts under the running server: its next calls reconnect
        before = checkpoint()
        pg.restart()
        r = s.req("POST", "/v1/events/web", raw_body=events(total, 500))
        c.eq(r.status, 200, "push after PostgreSQL restarted")
        total += 500
        want = [[total, total * (total - 1) // 2]]
        c.eq(wait_for(lambda: s.req("POST", "/v1/query/sql", q).json == want and want,
                      timeout=30), want, "the job commits again after PostgreSQL restarted")
        c.eq(s.req("GET", f"/v2/jobs/{jid}").json.get("executionStatus"), "running",
             "job still running")
        c.ok(wait_for(lambda: persisted() == total, timeout=20) and checkpoint() != before,
             "commits after the restart: segments and checkpoint in PostgreSQL", str(persisted()))

        # kill -9, then start again with the catalog from the environment
        s.kill9()
        s.extra_args = []
        s.env = {"LODESTAR_CATALOG": uri, "LODESTAR_PUSH_KAFKA": broker.bootstrap,
                 "LODESTAR_PERSIST_MAX_AGE_MS": "500"}
        s.start()
        c.eq(wait_for(lambda: s.req("POST", "/v1/query/sql", q).json == want and want,
                      timeout=30), want, "the same count after kill -9 (LODESTAR_CATALOG)")
        j = s.req("GET", f"/v2/jobs/{jid}").json
        c.eq((j.get("id"), j.get("target", {}).get("tableName")), (jid, "pgt"),
             "the same job after kill -9")
        c.eq(wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json.get("executionStatus")
                      == "running"), True, "and it runs again")
        c.ok(not os.path.exists(os.path.join(s.data_dir, "catalog.db")),
             "still no SQLite catalog in the data directory")

        # `lodestar apikey create` writes to the same catalog (--catalog, or LODESTAR_CATALOG)
        for how, args, env in (("--catalog", ["--catalog", uri], {}),
                               ("LODESTAR_CATALOG", [], {"LODESTAR_CATALOG": uri})):
            p = subprocess.run([BIN, "apikey", "create", *args, "--name", "viewer-" + how.lower(),
                                "--permissions", "ViewTables"], capture_output=True, text=True,
                               timeout=30, env={**os.environ, **env})
            key = p.stdout.strip()
            c.ok(p.returncode == 0 and key, f"apikey create with {how}", p.stderr)
            c.eq(s.req("GET", "/v2/tables", key=key).status, 200,
                 f"the server accepts the key made with {how}")
    finally:
        s.stop()
        s.__exit__(None, None, None)

    # a catalog the server cannot use: stopped at startup, with what, where and how to fix
    rc, err = serve_fails(pg.uri("nope"))
    c.ok(rc == 1 and f"cannot connect to PostgreSQL at 127.0.0.1:{pg.port}, database nope" in err
         and "does not exist" in err and "createdb" in err and "listening" not in err,
         "a database that does not exist", err)
    dead = free_port()
    rc, err = serve_fails(f"postgresql://lodestar:hunter2@127.0.0.1:{dead}/lodestar")
    c.ok(rc == 1 and f"127.0.0.1:{dead}" in err and "refused" in err and "--catalog" in err
         and "hunter2" not in err, "nobody listening (and the password is not shown)", err)
    rc, err = serve_fails("postgresql://lodestar@127.0.0.1:port/lodestar")
    c.ok(rc == 1 and "bad PostgreSQL URI" in err and "postgresql://USER@HOST:PORT/DATABASE" in err,
         "a malformed URI", err)

print(f"test_pg_catalog: {time.time() - t0:.1f} s")
c.done()
