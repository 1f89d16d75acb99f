"""
test_widen.py — type widening under schema discovery, end to end, with the
default job settings: a real broker (`lodestar dev-kafka`) fed by kcat, one
partition so that offsets are known. A discovered column gets integers (and
a persist writes them to a segment), then 2.5 (the column widens LONG →
DOUBLE), then "abc" (DOUBLE → STRING): the table's column type follows, the
job's log shows both widenings with their offsets, every row reads back with
its exact value (older segments and buffers cast to the new type), SUM over
the DOUBLE phase is exact, and a kill -9 keeps the widened type and every
row, and a reset replays into the widened column. A strict table, and a flexible table that declares the column, get the
same events and never widen: those rows count as processedWithWarnings with
a reason naming the column.
"""
import json
import subprocess
import time

from harness import Checks, DevKafka, Server, iso, wait_for

c = Checks()
T0 = int(time.time() * 1000) - 60_000


def produce(bootstrap, topic, events):
    lines = [json.dumps(e) for e in events]
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", "0"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    return p.returncode == 0


def ev(k, v):
    return {"ts": iso(T0 + k), "k": k, "v": v}


# the three phases: integers, then numbers with a fraction, then a string
LONGS = [ev(k, k * 10) for k in range(10)]                 # offsets 0..9
DOUBLES = [ev(10, 2.5), ev(11, 7), ev(12, -1.25)]          # offsets 10..12
STRINGS = [ev(13, "abc"), ev(14, 4)]                       # offsets 13..14
AFTER = [ev(15, 99)]                                       # after the restart


def job(table, conn, discovery=True):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "createTableIfNotExists": True, "useSchemaDiscovery": True,
         "source": {"type": "connection", "connectionName": conn,
                    "inputSchema": [{"name": "ts", "dataType": "string"}],
                    "formatSettings": {"format": "nd-json"}},
         "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'}],
         "readFromPoint": "earliest"}
    if not discovery:
        # a strict table takes no discovery: the fields are listed and mapped
        j["useSchemaDiscovery"] = False
        j["source"]["inputSchema"] += [{"name": "k", "dataType": "long"},
                                       {"name": "v", "dataType": "string"}]
        j["mappings"] += [{"columnName": "k", "expression": "k"},
                          {"columnName": "v", "expression": "v"}]
    return j


broker = DevKafka(topics=["w:1"]).start()
s = Server()
s.start()
try:
    B = broker.bootstrap

    def sql(q):
        r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array"})
        return r.json if r.status == 200 else (r.status, r.raw)

    def table(name):
        return s.req("GET", f"/v2/tables/{name}").json

    def rows(name):
        r = s.req("GET", f"/v2/tables/{name}")
        return r.json["status"]["rowCount"] if r.status == 200 else -1

    def col_type(name, col):
        for e in table(name).get("schema", []):
            if e["name"] == col:
                return e["dataType"]
        return None

    def logs(jid):
        return s.req("GET", f"/v2/jobs/{jid}/logs").json["values"]

    def changes(jid):
        return [(e["typeChange"]["column"], e["typeChange"]["from"], e["typeChange"]["to"],
                 e.get("partition"), e.get("offset"))
                for e in logs(jid) if "typeChange" in e]

    def totals(jid):
        return s.req("GET", f"/v2/jobs/{jid}/metrics").json["totals"]

    r = s.req("POST", "/v2/connections", {"type": "kafka", "name": "kw", "bootstrapServers": B,
                                          "topicName": "w"})
    c.eq(r.status, 201, "connection")
    # the tables that never widen: strict, and flexible with v declared
    for name, mode in (("strictw", "strict"), ("declw", "flexible")):
        r = s.req("POST", "/v2/tables", {
            "name": name, "schemaMode": mode,
            "schema": [{"name": "__time", "dataType": "timestamp"},
                       {"name": "k", "dataType": "long"}, {"name": "v", "dataType": "long"}]})
        c.eq(r.status, 201, f"create table {name}")

    jobs = {}
    for name in ("wide", "strictw", "declw"):
        r = s.req("POST", "/v2/jobs", job(name, "kw", discovery=name != "strictw"))
        c.eq((r.status, r.raw if r.status != 201 else ""), (201, ""), f"job into {name}")
        jobs[name] = r.json.get("id")
    jw = jobs["wide"]

    # ---- phase 1: integers, persisted to a segment
    c.ok(produce(B, "w", LONGS), "kcat produced the integers")
    c.ok(wait_for(lambda: rows("wide") == 10), "10 integer rows ingested", rows("wide"))
    c.eq(col_type("wide", "v"), "long", "v is discovered as long")
    c.ok(wait_for(lambda: table("wide")["status"]["segmentCount"] >= 1, timeout=60),
         "the integers are persisted (default settings)", table("wide")["status"])

    # ---- phase 2: 2.5 widens v to double
    c.ok(produce(B, "w", DOUBLES), "kcat produced the fractions")
    c.ok(wait_for(lambda: rows("wide") == 13), "13 rows", rows("wide"))
    c.eq(col_type("wide", "v"), "double", "v widened to double")
    c.eq(changes(jw), [("v", "long", "double", 0, 10)],
         "the job's log names the widening and the record that caused it")
    c.eq(sql("SELECT k, v FROM wide ORDER BY k"),
         [[k, float(k * 10)] for k in range(10)] + [[10, 2.5], [11, 7.0], [12, -1.25]],
         "every row as a double: the segment's longs read as doubles")
    c.eq(sql("SELECT SUM(v), MIN(v), MAX(v), COUNT(v) FROM wide"),
         [[450 + 2.5 + 7 - 1.25, -1.25, 90.0, 13]], "SUM/MIN/MAX over the double phase")
    c.eq(sql("SELECT COUNT(*) FROM wide WHERE v > 2 AND v < 10"), [[2]],
         "a filter sees one type (2.5, 7.0; not 0)")
    c.eq(sql("SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
             "WHERE TABLE_NAME = 'wide' AND COLUMN_NAME = 'v'"), [["v", "DOUBLE"]],
         "SQL sees v as DOUBLE")
    c.eq(totals(jw)["numRowsProcessedWithWarnings"], 0, "no row lost anything: no row warnings")

    # ---- phase 3: "abc" widens v to string
    c.ok(produce(B, "w", STRINGS), "kcat produced the string")
    c.ok(wait_for(lambda: rows("wide") == 15), "15 rows", rows("wide"))
    c.eq(col_type("wide", "v"), "string", "v widened to string")
    c.eq(changes(jw), [("v", "long", "double", 0, 10), ("v", "double", "string", 0, 13)],
         "both widenings in the job's log, with their offsets")
    want = ([[k, str(k * 10)] for k in range(10)] +
            [[10, "2.5"], [11, "7.0"], [12, "-1.25"], [13, "abc"], [14, "4"]])

    def check_all(when):
        c.eq(sql("SELECT k, v FROM wide ORDER BY k"), want, f"every row as a string ({when})")
        c.eq(sql("SELECT SUM(CAST(v AS DOUBLE)) FROM wide WHERE k BETWEEN 10 AND 12"),
             [[2.5 + 7 - 1.25]], f"SUM over the double phase ({when})")
        c.eq(sql("SELECT v, COUNT(*) FROM wide WHERE v IN ('2.5', 'abc', '90') GROUP BY v "
                 "ORDER BY v"), [["2.5", 1], ["90", 1], ["abc", 1]],
             f"string filter and GROUP BY across segments and buffers ({when})")
        c.eq(sql("SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
                 "WHERE TABLE_NAME = 'wide' AND COLUMN_NAME = 'v'"), [["v", "VARCHAR"]],
             f"SQL sees v as VARCHAR ({when})")

    check_all("before the restart")
    c.eq(totals(jw)["numRowsProcessedWithWarnings"], 0, "still no row warnings")

    # ---- never widened: strict and declared
    for name in ("strictw", "declw"):
        c.ok(wait_for(lambda: rows(name) == 15), f"{name}: 15 rows", rows(name))
        c.eq(col_type(name, "v"), "long", f"{name}: v stays long")
        c.eq(changes(jobs[name]), [], f"{name}: no widening")
        c.eq(totals(jobs[name])["numRowsProcessedWithWarnings"], 3,
             f"{name}: 2.5, -1.25 and 'abc' are processedWithWarnings")
        msgs = [e["message"] for e in logs(jobs[name]) if e["outcome"] == "processedWithWarnings"
                and e.get("reason") == "coercion"]
        c.ok(len(msgs) == 3 and all("column 'v' is BIGINT" in m for m in msgs),
             f"{name}: the reasons name the column and its type", msgs)
        c.eq(sql(f"SELECT k, v FROM {name} WHERE k >= 10 ORDER BY k"),
             [[10, 2], [11, 7], [12, -1], [13, None], [14, 4]], f"{name}: values cast to long")

    # ---- kill -9 right away (the last rows are not persisted yet): the widened
    # type is in the catalog, and the job replays the rest
    s.kill9()
    s.start()
    c.eq(col_type("wide", "v"), "string", "after kill -9: v is still a string")
    causes = [e.get("typeChanges") for e in table("wide")["schema"] if e["name"] == "v"][0] or []
    c.eq([(x["from"], x["to"], x.get("jobId"), x.get("partition"), x.get("offset"))
          for x in causes],
         [("long", "double", jw, 0, 10), ("double", "string", jw, 0, 13)],
         "after kill -9: the table's column keeps both widenings and their records")
    c.ok(all(e.get("discovered") is True for e in table("wide")["schema"]
             if e["name"] in ("k", "v")), "discovered columns are marked")
    c.ok(not any(e.get("discovered") for e in table("declw")["schema"]),
         "declared columns are not marked")
    c.ok(wait_for(lambda: rows("wide") == 15, timeout=30), "after kill -9: 15 rows", rows("wide"))
    check_all("after kill -9")
    c.ok(produce(B, "w", AFTER), "kcat produced one more")
    c.ok(wait_for(lambda: rows("wide") == 16), "16 rows after the restart", rows("wide"))
    c.eq(sql("SELECT v FROM wide WHERE k = 15"), [["99"]], "a number after the restart: a string")
    c.eq(col_type("wide", "v"), "string", "and v stays a string")

    # a table read back can be sent again (the marks are accepted and ignored)
    r = s.req("PUT", "/v2/tables/wide", {"schema": table("wide")["schema"]})
    c.eq((r.status, r.raw if r.status != 200 else "", col_type("wide", "v")), (200, "", "string"),
         "PUT of the schema GET returned")

    # ---- reset replays the topic into the widened column: every value twice, same text
    c.eq(s.req("POST", f"/v2/jobs/{jw}/reset").status, 200, "reset")
    c.ok(wait_for(lambda: rows("wide") == 32, timeout=30), "reset: 32 rows", rows("wide"))
    c.eq(col_type("wide", "v"), "string", "after reset: v is still a string")
    # each row twice; the 7 of the double phase was stored as the double 7.0, its
    # replay into the string column is the text as written
    twice = sorted([[k, x] for k, x in want + [[15, "99"]]] * 2)
    twice[twice.index([11, "7.0"])] = [11, "7"]
    c.eq(sql("SELECT k, v FROM wide ORDER BY k, v"), sorted(twice),
         "after reset: every row twice, with its value")
    c.eq(totals(jw)["numRowsProcessedWithWarnings"], 0, "after reset: no row warnings")
finally:
    s.stop()
    broker.stop()
c.done()
