"""
test_avro.py — Avro end to end: records written by npm avsc, registered and
framed by @kafkajs/confluent-schema-registry, sent by kafkajs into `lodestar
dev-kafka`, consumed by a real `lodestar serve` job; the schema registry is
tests/e2e/schema_registry.py (Python's standard library: no real Confluent
registry can be installed here). Covered: the confluent_schema_registry
connection (several urls tried in turn, basic auth, secrets never returned);
avro_stream through the registry with every kind of field (nullable unions,
enum, arrays, nested record, map, bytes decimal, timestamp-millis); schema
evolution (two versions of a schema in one topic, each record read by its own
writer schema); damaged records (skippedByError with their reason, the job
keeps running); the registry down while records wait (health warn, nothing
lost or skipped, exact count once it is back); inline-avro records without a
registry; the kafka wrapper around avro_stream; an .avro object container file
written by avsc ingested by a batch job (null and deflate codecs); and the
API's 400s for bad Avro settings.
"""
import json
import os
import subprocess
import tempfile
import time
import uuid

from harness import Checks, DevKafka, Server, wait_for
from schema_registry import Registry

c = Checks()
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "avro_client", "produce.js")
TMP = tempfile.mkdtemp(prefix="lodestar-avro-")

V1 = {"type": "record", "name": "Click", "namespace": "test", "fields": [
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "page", "type": "string"},
    {"name": "n", "type": "long"},
    {"name": "ref", "type": ["null", "string"], "default": None},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "user", "type": {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "int"}, {"name": "country", "type": "string"}]}},
    {"name": "attrs", "type": {"type": "map", "values": "long"}},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9,
                               "scale": 2}}]}
# v2: a new field with a default, and one removed (backward compatible)
V2 = dict(V1, fields=[f for f in V1["fields"] if f["name"] != "attrs"] +
          [{"name": "extra", "type": ["null", "double"], "default": None}])


def write(name, text):
    p = os.path.join(TMP, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def node(*args):
    p = subprocess.run(["node", CLIENT] + [str(a) for a in args], capture_output=True,
                       timeout=120)
    ok = p.returncode == 0
    c.ok(ok, f"produce.js {args[0]}", p.stderr.decode()[-800:])
    return json.loads(p.stdout.decode().strip().splitlines()[-1]) if ok else {}


def price_bytes(cents):
    b = cents.to_bytes(4, "big", signed=True)
    return {"$bytes": b.hex()}


def clicks(start, n, v2=False):
    now = int(time.time() * 1000)
    out = []
    for i in range(start, start + n):
        e = {"ts": now - 60000 + i, "page": f"p{i % 7}", "n": i,
             "ref": None if i % 3 == 0 else f"r{i % 5}",
             "color": "GREEN" if i % 2 else "RED", "tags": [f"t{i % 4}", "all"],
             "user": {"id": i % 11, "country": "NL" if i % 2 else "FR"},
             "price": price_bytes(i * 5 - 250)}
        if v2:
            e["extra"] = i / 4
        else:
            e["attrs"] = {"a": i, "b": -i}
        out.append(json.dumps(e))
    return "\n".join(out) + "\n"


INPUT = [{"name": "ts", "dataType": "long"}, {"name": "page", "dataType": "string"},
         {"name": "n", "dataType": "long"}, {"name": "ref", "dataType": "string"},
         {"name": "color", "dataType": "string"}, {"name": "user", "dataType": "json"},
         {"name": "attrs", "dataType": "json"}, {"name": "price", "dataType": "double"},
         {"name": "extra", "dataType": "double"}]
MAPS = [{"columnName": "__time", "expression": 'MILLIS_TO_TIMESTAMP("ts")'},
        {"columnName": "page", "expression": "page"}, {"columnName": "n", "expression": "n"},
        {"columnName": "ref", "expression": "ref"}, {"columnName": "color", "expression": "color"},
        {"columnName": "country", "expression": "JSON_VALUE(\"user\", '$.country')"},
        {"columnName": "attr_a", "expression": "CAST(JSON_VALUE(\"attrs\", '$.a') AS BIGINT)"},
        {"columnName": "price", "expression": "price"},
        {"columnName": "extra", "expression": "extra"}]


def stream_job(table, conn, fmt, inputs=INPUT, maps=MAPS):
    return {"type": "streaming", "target": {"type": "table", "tableName": table},
            "createTableIfNotExists": True,
            "source": {"type": "connection", "connectionName": conn, "inputSchema": inputs,
                       "formatSettings": fmt},
            "mappings": maps, "readFromPoint": "earliest"}


def registry_fmt(name):
    return {"format": "avro_stream",
            "parseSchemaProvider": {"type": "connection", "connectionName": name}}


broker = DevKafka(topics=["clicks:2", "down:2", "inline:1", "wrapped:1"]).start()
reg = Registry(user="sr-user", password="sr-pass").start()
s = Server()
s.start()
try:
    B = broker.bootstrap

    def rows(t):
        r = s.req("GET", f"/v2/tables/{t}")
        return r.json["status"]["rowCount"] if r.status == 200 else -1

    def status(jid):
        return s.req("GET", f"/v2/jobs/{jid}").json

    def totals(jid):
        return s.req("GET", f"/v2/jobs/{jid}/metrics").json["totals"]

    def sql(q):
        r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array"})
        c.eq(r.status, 200, f"query ok: {q[:70]}")
        return r.json if r.status == 200 else []

    def start(body):
        r = s.req("POST", "/v2/jobs", body)
        c.eq(r.status, 201, f"create job into {body['target']['tableName']}: {r.raw[:300]}")
        jid = r.json.get("id") if r.status == 201 else None
        c.ok(jid and wait_for(lambda: status(jid)["executionStatus"] == "running"),
             "job reaches running")
        return jid

    def kafka_conn(name, topic):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": name,
                                              "bootstrapServers": B, "topicName": topic})
        c.eq(r.status, 201, f"connection {name}")

    # 1. the registry connection: urls tried in turn (the first is dead), write-only secrets
    dead = f"http://127.0.0.1:{reg.port + 1 if reg.port < 65000 else reg.port - 1}"
    r = s.req("POST", "/v2/connections", {
        "type": "confluent_schema_registry", "name": "my-registry", "urls": [dead, reg.url],
        "secrets": {"type": "basic", "username": "sr-user", "password": "sr-pass"}})
    c.eq(r.status, 201, "create the confluent_schema_registry connection")
    got = s.req("GET", "/v2/connections/my-registry")
    c.ok(got.status == 200 and "sr-pass" not in got.raw and "secrets" not in got.json,
         "GET never returns the secrets", got.raw)
    c.eq(got.json.get("urls"), [dead, reg.url], "urls kept in order")
    kafka_conn("clicks", "clicks")

    # 2. records through the registry, every kind of field
    v1 = write("v1.json", json.dumps(V1))
    out = node("registry", B, "clicks", reg.url, "clicks-value", v1,
               write("e1.jsonl", clicks(0, 600)), "sr-user", "sr-pass")
    id1 = out.get("id")
    j1 = start(stream_job("clicks", "clicks", registry_fmt("my-registry")))
    c.eq(wait_for(lambda: rows("clicks") == 600, timeout=40), True, "600 Avro records ingested")
    res = sql("SELECT COUNT(*), SUM(n), COUNT(ref), SUM(attr_a), SUM(price) FROM clicks")
    want_price = sum(i * 5 - 250 for i in range(600)) / 100
    c.ok(res and res[0][:4] == [600, sum(range(600)), 400, sum(range(600))] and
         abs(res[0][4] - want_price) < 1e-6, "values decoded (long, nullable, map, decimal)", res)
    res = sql("SELECT color, country, COUNT(*) FROM clicks GROUP BY 1, 2 ORDER BY 1, 2")
    c.eq(res, [["GREEN", "NL", 300], ["RED", "FR", 300]], "enum and nested record fields")
    res = sql("SELECT n, ref, price FROM clicks WHERE n IN (1, 3) ORDER BY n")
    c.eq(res, [[1, "r1", -2.45], [3, None, -2.35]], "a nullable union and a decimal")
    c.ok(any(m == "GET" and p == f"/schemas/ids/{id1}" for m, p in reg.requests),
         "lodestar fetched the writer schema by id")
    fetched = sum(1 for m, p in reg.requests if p == f"/schemas/ids/{id1}")
    c.eq(fetched, 1, "the schema is fetched once and cached (one request for 600 records)")

    # 3. schema evolution: v2 records in the same topic and subject, read by their own schema
    out = node("registry", B, "clicks", reg.url, "clicks-value", write("v2.json", json.dumps(V2)),
               write("e2.jsonl", clicks(600, 400, v2=True)), "sr-user", "sr-pass")
    id2 = out.get("id")
    c.ok(id2 and id2 != id1, "the second version has its own id", out)
    c.eq(wait_for(lambda: rows("clicks") == 1000, timeout=40), True, "v1 and v2 records: 1000")
    res = sql("SELECT COUNT(extra), SUM(extra), COUNT(attr_a) FROM clicks")
    c.eq(res, [[400, sum(i / 4 for i in range(600, 1000)), 600]],
         "v2's new field set only by v2 records; v1's map only by v1's")

    # 4. damaged records: each skippedByError with its reason; the job keeps going
    frame = lambda sid: "00" + sid.to_bytes(4, "big").hex()
    bad = ["00000001",                               # shorter than the header
           "7b226e223a317d",                         # JSON, not Avro
           frame(999) + "02",                        # an id the registry does not have
           frame(id1) + "80",                        # a varint cut short
           frame(id1) + "02" + "0a" + "6162"]        # a string longer than the record
    node("hex", B, "clicks", write("bad.hex", "\n".join(bad) + "\n"))
    node("registry", B, "clicks", reg.url, "clicks-value", v1, write("e3.jsonl", clicks(1000, 10)),
         "sr-user", "sr-pass")
    c.eq(wait_for(lambda: rows("clicks") == 1010, timeout=40), True,
         "good records after the damaged ones are read")
    t = totals(j1)
    c.eq(t["numRowsSkippedByError"], 5, "the five damaged records are skippedByError")
    logs = " | ".join(e["message"] for e in s.req("GET", f"/v2/jobs/{j1}/logs").json["values"])
    for want in ("fewer than the 5", "magic byte 0", "schema id 999 is not in the schema registry",
                 "invalid Avro at byte", "only"):
        c.ok(want in logs, f"the logs say why: '{want}'", logs[-1500:])
    c.eq(status(j1)["executionStatus"], "running", "the job still runs")

    # 5. the registry down while records wait: health warn, nothing skipped, exact count after
    reg2 = Registry().start()
    r = s.req("POST", "/v2/connections", {"type": "confluent_schema_registry", "name": "reg2",
                                          "urls": [reg2.url]})
    c.eq(r.status, 201, "a second registry connection (no auth)")
    kafka_conn("down", "down")
    node("registry", B, "down", reg2.url, "down-value", v1, write("e4.jsonl", clicks(0, 700)))
    reg2.stop()
    j2 = start(stream_job("down", "down", registry_fmt("reg2")))
    warned = wait_for(lambda: status(j2)["health"]["status"] == "warn", timeout=30)
    c.ok(warned, "health warns while the registry is down", status(j2)["health"])
    if warned:
        c.ok("schema registry is unreachable" in status(j2)["health"].get("message", ""),
             "the warning names the registry", status(j2)["health"])
    time.sleep(2)
    c.eq(rows("down"), 0, "nothing ingested while the schema cannot be read")
    t = totals(j2)
    c.eq((t["numRowsProcessed"], t["numRowsSkippedByError"]), (0, 0), "and nothing skipped")
    reg2.start()
    c.eq(wait_for(lambda: rows("down") == 700, timeout=60), True,
         "the registry back: all 700 records, none lost")
    time.sleep(1)
    t = totals(j2)
    c.eq((rows("down"), t["numRowsProcessed"], t["numRowsSkippedByError"]), (700, 700, 0),
         "exactly 700, none skipped")
    c.eq(wait_for(lambda: status(j2)["health"]["status"] == "ok", timeout=30), True,
         "health back to ok")

    # 6. inline-avro: plain Avro records (no header), schema in the spec
    kafka_conn("inline", "inline")
    node("inline", B, "inline", v1, write("e5.jsonl", clicks(0, 250)))
    j3 = start(stream_job("inl", "inline", {"format": "avro_stream", "parseSchemaProvider": {
        "type": "inline-avro", "schema": V1}}))
    c.eq(wait_for(lambda: rows("inl") == 250, timeout=40), True, "250 inline-avro records")
    c.eq(sql("SELECT SUM(n), COUNT(ref) FROM inl"), [[sum(range(250)), 166]], "inline values")

    # 7. the kafka wrapper around avro_stream: key and topic beside the Avro fields
    kafka_conn("wrapped", "wrapped")
    node("registry", B, "wrapped", reg.url, "wrapped-value", v1, write("e6.jsonl", clicks(0, 50)),
         "sr-user", "sr-pass")
    fmt = {"format": "kafka", "valueFormat": registry_fmt("my-registry")}
    inputs = INPUT + [{"name": "kafka.topic", "dataType": "string"}]
    j4 = start(stream_job("wrapped", "wrapped", fmt, inputs,
                          MAPS + [{"columnName": "topic", "expression": '"kafka.topic"'}]))
    c.eq(wait_for(lambda: rows("wrapped") == 50, timeout=40), True, "kafka(avro_stream): 50")
    c.eq(sql("SELECT topic, COUNT(*), SUM(n) FROM wrapped GROUP BY 1"),
         [["wrapped", 50, sum(range(50))]], "kafka metadata beside Avro fields")

    # 8. batch: .avro object container files written by avsc (null and deflate codecs)
    for codec, n in (("null", 3000), ("deflate", 5000)):
        path = os.path.join(TMP, f"clicks-{codec}.avro")
        node("ocf", v1, write(f"ocf-{codec}.jsonl", clicks(0, n)), path, codec)
        with open(path, "rb") as f:
            data = f.read()
        c.ok(data[:4] == b"Obj\x01", f"avsc wrote a container file ({codec})")
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"clicks-{codec}.avro\"\r\nContent-Type: application/octet-stream"
                f"\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        r = s.req("POST", "/v1/files", raw_body=body,
                  headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        c.eq(r.status, 200, f"upload clicks-{codec}.avro")
        job = {"type": "batch", "target": {"type": "table", "tableName": f"ocf_{codec}"},
               "createTableIfNotExists": True,
               "source": {"type": "uploaded", "fileList": [f"clicks-{codec}.avro"],
                          "inputSchema": INPUT, "formatSettings": {"format": "avro_ocf"}},
               "mappings": MAPS}
        r = s.req("POST", "/v2/jobs", job)
        c.eq(r.status, 201, f"avro_ocf batch job ({codec}): {r.raw[:300]}")
        jid = r.json.get("id")
        done = wait_for(lambda: status(jid)["executionStatus"] in ("succeeded", "failed"),
                        timeout=60)
        c.eq(done and status(jid)["executionStatus"], "succeeded", f"batch succeeded ({codec})")
        c.eq(sql(f"SELECT COUNT(*), SUM(n), COUNT(ref) FROM ocf_{codec}"),
             [[n, sum(range(n)), n - (n + 2) // 3]], f"every record of the file ({codec})")

    # 9. bad Avro settings are 400s that say what to fix
    def bad_job(fmt, want, conn="clicks"):
        r = s.req("POST", "/v2/jobs", stream_job("nope", conn, fmt))
        c.ok(r.status == 400 and want in r.raw, f"400 with '{want}'", f"{r.status} {r.raw[:300]}")

    bad_job({"format": "avro_stream"}, "parseSchemaProvider")
    bad_job(registry_fmt("no-such"), "no connection named 'no-such'")
    bad_job(registry_fmt("clicks"), "is a kafka connection")
    bad_job({"format": "avro_stream", "parseSchemaProvider": {
        "type": "inline-avro", "schema": {"type": "record", "name": "R", "fields": [
            {"name": "a", "type": "nosuch"}]}}}, "the Avro schema is not valid")
    bad_job({"format": "avro_ocf"}, "is for batch files")
    bad_job({"format": "avro_stream", "parseSchemaProvider": {"type": "file"}}, "inline-avro")
finally:
    s.stop()
    broker.stop()
    reg.stop()
c.done()
