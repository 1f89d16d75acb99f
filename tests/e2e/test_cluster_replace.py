#!/usr/bin/env python3
"""
test_cluster_replace.py — SQL REPLACE and a batch job's replace in a cluster (issue 16): two
nodes on one PostgreSQL catalog and one s3rver bucket read a 4-partition topic, each committing
the segments of the partitions it leases. Once every row is committed and the stream's job is
cancelled, a REPLACE ... OVERWRITE ALL and then an OVERWRITE WHERE of one day, run by whichever
node takes the job, must leave exactly the rows they wrote in what they overwrite, whichever
node committed the segments they replace: each node's table holds the segments it opened and
committed itself, not those another node committed while it ran, so the catalog says what a
REPLACE removes. Every node answers the same totals after each, and the same table status (the
catalog's committed rows). Then the table is deleted on one node: every node answers that it is
not found; made again under the same name by jobs on both nodes, it holds only its new rows on
both (a node whose table was dropped by another drops its own copy when it sees the new id).
"""
import json
import subprocess
import time

from harness import S3_ENV, Checks, DevKafka, S3rver, cluster_node, wait_for
from pg import Catalog, Postgres

c = Checks()
T0 = time.time()
BUCKET, SECRET, TABLE = "lake", "replace-cluster-secret", "rp"
ENV = {**S3_ENV, "LODESTAR_PERSIST_MAX_ROWS": "150", "LODESTAR_PERSIST_MAX_AGE_MS": "300",
       "LODESTAR_COMPACT_MS": "3600000", "LODESTAR_CLUSTER_SECRET": SECRET}
SIG = '[{"name":"ts","type":"string"},{"name":"k","type":"string"},{"name":"n","type":"long"}]'
N = 2000


def sqlstr(s):
    return "'" + s.replace("'", "''") + "'"


def rows(day, k, key, base=0):
    return [{"ts": f"{day}T{h % 24:02d}:{h // 24 % 60:02d}:00Z", "k": key, "n": base + h}
            for h in range(k)]


def inline_select(rs):
    src = sqlstr(json.dumps({"type": "inline", "data": "".join(json.dumps(r) + "\n"
                                                               for r in rs)}))
    return (f"SELECT TIME_PARSE(\"ts\") AS __time, k, n FROM TABLE(EXTERN({src}, "
            f"'{{\"type\":\"json\"}}', {sqlstr(SIG)}))")


def totals(s):
    r = s.req("POST", "/v1/query/sql", {"query": f"SELECT k, COUNT(*), SUM(n) FROM {TABLE} "
                                                 "GROUP BY k ORDER BY k", "resultFormat": "array"})
    return r.json if r.status == 200 else f"{r.status} {r.raw[:200]}"


def sql_job(s, query, name):
    r = s.req("POST", "/v2/jobs", {"type": "sql", "query": query,
                                   "createTableIfNotExists": True})
    c.ok(r.status == 201, f"{name}: job created", r.raw[:300])
    if r.status != 201:
        return None
    jid = r.json["id"]
    st = wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] in
                  ("succeeded", "failed") and s.req("GET", f"/v2/jobs/{jid}").json, timeout=60)
    c.ok(st and st["executionStatus"] == "succeeded", f"{name}: succeeded",
         json.dumps(st and st.get("health")))
    return st


broker = DevKafka(topics=[f"{TABLE}:4"]).start()
store = S3rver(BUCKET)
nodes = []
pg = Postgres()
try:
    store.start()
    pg.start()
    uri = pg.createdb("lodestar")
    cat = Catalog(pg, "lodestar")

    def node(name, first=None):
        s = cluster_node(name, uri, ENV, first, f"{BUCKET}/segs",
                         f"http://127.0.0.1:{store.port}")
        nodes.append(s)
        return s.start()

    na = node("na")
    nb = node("nb", na)
    r = na.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                           "bootstrapServers": broker.bootstrap,
                                           "topicName": TABLE})
    c.eq(r.status, 201, "connection")
    r = na.req("POST", "/v2/jobs", {
        "type": "streaming", "target": {"type": "table", "tableName": TABLE},
        "createTableIfNotExists": True, "readFromPoint": "earliest",
        "lateMessageRejectionPeriod": "P5000D",  # the rows are of 2024
        "source": {"type": "connection", "connectionName": "k",
                   "inputSchema": [{"name": x["name"], "dataType": x["type"]}
                                   for x in json.loads(SIG)],
                   "formatSettings": {"format": "nd-json"}},
        "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                     {"columnName": "k", "expression": "k"},
                     {"columnName": "n", "expression": "n"}]})
    c.ok(r.status == 201, "streaming job", r.raw[:300])
    if r.status != 201:
        raise SystemExit(c.done())
    job = r.json["id"]
    # both nodes lease partitions (and so open the table) before the rows come
    c.ok(wait_for(lambda: {x.split("|")[0] for x in cat.sql(
        "SELECT node_id FROM lease WHERE stream NOT LIKE 'job:%' AND node_id <> ''")
        .splitlines()} == {"na", "nb"}, timeout=30), "both nodes lease partitions")
    evs = rows("2024-01-01", N // 2, "a") + rows("2024-01-02", N // 2, "b")
    p = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", TABLE,
                        "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5"],
                       input=("\n".join(json.dumps(e) for e in evs) + "\n").encode(),
                       capture_output=True, timeout=60)
    c.eq(p.returncode, 0, "kcat produced the events")
    c.ok(wait_for(lambda: cat.committed_rows(TABLE) == N, timeout=60),
         f"all {N} rows committed", str(cat.committed_rows(TABLE)))
    def status(s):
        r = s.req("GET", f"/v2/tables/{TABLE}")
        st = r.json["status"] if r.status == 200 else {}
        return st.get("rowCount"), st.get("committedOnly")

    for s in nodes:
        c.eq(status(s), (N, True), f"{s.name}: the table's status counts every committed row")
    writers = cat.sql(f"SELECT DISTINCT writer FROM segment WHERE table_name = '{TABLE}'")
    c.ok(set(writers.split()) == {"na", "nb"}, "both nodes committed segments", writers)
    r = na.req("PUT", f"/v2/jobs/{job}", {"desiredExecutionStatus": "canceled"}) if job else None
    c.ok(r is not None and r.status == 200, "the stream's job cancelled", r and r.raw[:200])
    c.ok(wait_for(lambda: na.req("GET", f"/v2/jobs/{job}").json["executionStatus"] ==
                  "canceled", timeout=30), "the job stops")
    sums = [["a", N // 2, sum(range(N // 2))], ["b", N // 2, sum(range(N // 2))]]
    for s in nodes:
        c.eq(totals(s), sums, f"{s.name}: every row before the REPLACE")

    # ---- OVERWRITE ALL: only the new rows remain, on every node ----
    new = rows("2024-01-03", 5, "c", 100)
    sql_job(na, f"REPLACE INTO {TABLE} OVERWRITE ALL {inline_select(new)} PARTITIONED BY DAY",
            "REPLACE OVERWRITE ALL")
    want = [["c", 5, sum(e["n"] for e in new)]]
    for s in nodes:
        c.ok(wait_for(lambda: totals(s) == want, timeout=10),
             f"{s.name}: only the REPLACE's rows remain", str(totals(s)))
    c.eq(cat.committed_rows(TABLE), 5, "the catalog holds only the REPLACE's rows")
    for s in nodes:
        c.eq(status(s), (5, True), f"{s.name}: the table's status after the REPLACE")

    # ---- OVERWRITE WHERE one day, on a table whose segments both nodes wrote ----
    more = rows("2024-01-04", 40, "d") + rows("2024-01-05", 40, "e")
    sql_job(nb, f"INSERT INTO {TABLE} {inline_select(more[:40])} PARTITIONED BY DAY", "INSERT d")
    sql_job(na, f"INSERT INTO {TABLE} {inline_select(more[40:])} PARTITIONED BY DAY", "INSERT e")
    day = rows("2024-01-04", 3, "f", 7)
    sql_job(na, f"REPLACE INTO {TABLE} OVERWRITE WHERE __time >= TIMESTAMP '2024-01-04' AND "
                f"__time < TIMESTAMP '2024-01-05' {inline_select(day)} PARTITIONED BY DAY",
            "REPLACE OVERWRITE WHERE")
    want = [["c", 5, sum(e["n"] for e in new)], ["e", 40, sum(range(40))],
            ["f", 3, sum(e["n"] for e in day)]]
    for s in nodes:
        c.ok(wait_for(lambda: totals(s) == want, timeout=10),
             f"{s.name}: the day replaced, the others kept", str(totals(s)))
    # ---- the table deleted on one node and made again under the same name
    r = na.req("DELETE", f"/v2/tables/{TABLE}")
    c.ok(r.status in (200, 204), "the table deleted", r.raw[:300])
    for s in nodes:
        r = s.req("POST", "/v1/query/sql", {"query": f"SELECT COUNT(*) FROM {TABLE}"})
        c.ok(r.status == 400 and "not found" in r.raw,
             f"{s.name}: the deleted table is not found (not an empty table)",
             f"{r.status} {r.raw[:200]}")
    again = rows("2024-02-01", 7, "g")
    sql_job(na, f"INSERT INTO {TABLE} {inline_select(again)} PARTITIONED BY DAY",
            "INSERT into the table made again")
    sql_job(nb, f"INSERT INTO {TABLE} {inline_select(rows('2024-02-02', 4, 'h'))} "
                "PARTITIONED BY DAY", "INSERT on the other node")
    want = [["g", 7, sum(range(7))], ["h", 4, sum(range(4))]]
    for s in nodes:
        c.ok(wait_for(lambda: totals(s) == want, timeout=10),
             f"{s.name}: the table made again holds its new rows only", str(totals(s)))
    print(f"# wall time {time.time() - T0:.1f} s", flush=True)
finally:
    for s in nodes:
        s.stop()
    pg.stop()
    store.remove()
    broker.stop()
c.done()
