"""
test_protobuf.py — the protobuf format end to end: PageView events
(tests/e2e/protobuf_client/event.proto) encoded by protobufjs and sent by
kafkajs into `lodestar dev-kafka`, read by a real `lodestar serve` streaming
job whose descriptor set protoc wrote (protoc --include_imports
--descriptor_set_out): every event arrives once with its nested fields,
enum names, Timestamp, repeated fields and maps as the JSON mapping gives
them, and corrupt records (truncated, bad varint, bad wire type) are
skippedByError with their reason while the job keeps running. The kafka
wrapper around protobuf with a descriptor set protobufjs itself wrote, and the
400s a bad descriptor, an unknown message type or a bad registry provider get
at job creation.

Schemas from a confluent_schema_registry connection (the stand-in registry
tests/e2e/schema_registry.py, told each schema's serialized descriptor as
protobufjs builds it): the producer registers .proto text with a reference
(lib/common.proto under its own subject) and frames records the Confluent way
with the message index [1, 0] (a nested message); a job with the default
readFromPoint reads records of two schema versions each by its own schema;
an unknown schema id, a bad message index, an Avro schema id, a reference to
a subject the registry lacks and a reference cycle are skippedByError with
the reason; the preview reads the topic through the
registry; the registry down makes the job's health warn, and once it is back
every record arrives, the count exact.

Needs protoc (Debian's protobuf-compiler) and tests/e2e/protobuf_client's
node_modules (npm ci), both installed by make deps.

    python3 tests/e2e/test_protobuf.py     # prints "N passed, N failed"
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, DevKafka, Server, wait_for  # noqa: E402
from schema_registry import Registry  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "protobuf_client")
c = Checks()

# Records that do not decode, and the reason each must be skipped with.
CORRUPT = [
    ("1203", "field 2 has length 3 but only 0 bytes are left"),   # page: truncated
    ("18ffffffffffffffffffff01", "varint longer than"),          # n: an 11-byte varint
    ("1f01", "wire type 7 of field 3 does not exist"),           # a wire type that does not exist
    ("1801" "0a0568656c6c6f" "1a02", "field 'n' (number 3) of demo.PageView has wire type 2"),
]


def node(*args, timeout=120):
    p = subprocess.run(["node", os.path.join(CLIENT, "client.mjs")] + list(args),
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def descriptor_protoc():
    out = os.path.join(tempfile.mkdtemp(prefix="lodestar-pb-"), "set.pb")
    subprocess.run(["protoc", "--include_imports", f"--descriptor_set_out={out}", "-I", CLIENT,
                    "-I", "/usr/include", os.path.join(CLIENT, "event.proto")], check=True)
    with open(out, "rb") as f:
        data = f.read()
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return base64.b64encode(data).decode()


def fmt(desc, msg="demo.PageView", **extra):
    f = {"format": "protobuf",
         "parseSchemaProvider": {"type": "inline-protobuf", "descriptor": desc, "messageType": msg}}
    f.update(extra)
    return f


SCHEMA = [{"name": "ts", "dataType": "string"}, {"name": "page", "dataType": "string"},
          {"name": "n", "dataType": "long"}, {"name": "user_name", "dataType": "string"},
          {"name": "kind", "dataType": "string"}, {"name": "tags", "dataType": "json"},
          {"name": "web", "dataType": "string"}, {"name": "app", "dataType": "string"},
          {"name": "dur", "dataType": "double"}, {"name": "counters", "dataType": "json"}]
MAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
        {"columnName": "page", "expression": "page"}, {"columnName": "n", "expression": "n"},
        {"columnName": "user_name", "expression": "user_name"},
        {"columnName": "kind", "expression": "kind"},
        {"columnName": "tag1", "expression": "JSON_VALUE(tags, '$[1]')"},
        {"columnName": "source", "expression": "COALESCE(web, app)"},
        {"columnName": "dur", "expression": "dur"},
        {"columnName": "clicks", "expression": "JSON_VALUE(counters, '$.clicks' RETURNING BIGINT)"}]
FLATTEN = {"fields": [{"type": "path", "name": "user_name", "expr": "$.user.name"}]}


def job(conn, table, formatSettings, schema=SCHEMA, mappings=MAPS):
    return {"type": "streaming", "target": {"type": "table", "tableName": table},
            "createTableIfNotExists": True, "readFromPoint": "earliest",
            "source": {"type": "connection", "connectionName": conn, "inputSchema": schema,
                       "formatSettings": formatSettings},
            "mappings": mappings}


def sql(s, q):
    # exact: COUNT(DISTINCT) is an HLL estimate unless the context says otherwise
    r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array",
                                         "context": {"useApproximateCountDistinct": False}})
    return r.json if r.status == 200 and isinstance(r.json, list) else None


if not shutil.which("protoc") or not os.path.isdir(os.path.join(CLIENT, "node_modules", "kafkajs")):
    c.ok(False, "protoc and tests/e2e/protobuf_client/node_modules are installed (make deps)")
    c.done()

N = 3000
DESC = descriptor_protoc()
broker = DevKafka(topics=["pv:4", "pvk:2", "rclicks:2", "rdown:2"]).start()
reg = Registry().start()
reg2 = Registry().start()
s = Server().start()
try:
    for name, topic in (("pv", "pv"), ("pvk", "pvk")):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": name,
                                              "bootstrapServers": broker.bootstrap,
                                              "topicName": topic})
        c.eq(r.status, 201, f"connection {name}")

    # ---- bad settings: a 400 at creation that names the problem ----------------------------
    bad = [
        ("not base64", fmt("ab$c"), "parseSchemaProvider.descriptor",
         "is not valid base64 (at character 2)"),
        ("not a descriptor set", fmt(base64.b64encode(b"\xff\xff\xff").decode()),
         "parseSchemaProvider.descriptor", "is not a serialized FileDescriptorSet"),
        ("unknown message type", fmt(DESC, "PageView"),
         "parseSchemaProvider.messageType", "did you mean 'demo.PageView'?"),
        ("no provider", {"format": "protobuf"}, "source.formatSettings.parseSchemaProvider",
         "is required"),
        ("registry connection missing", {"format": "protobuf", "parseSchemaProvider":
                                         {"type": "connection", "connectionName": "reg"}},
         "source.formatSettings.parseSchemaProvider.connectionName", "no connection named 'reg'"),
        ("registry connection of another kind",
         {"format": "protobuf", "parseSchemaProvider": {"type": "connection",
                                                        "connectionName": "pv"}},
         "source.formatSettings.parseSchemaProvider.connectionName", "is a kafka connection"),
        ("registry provider with an inline key",
         {"format": "protobuf", "parseSchemaProvider": {"type": "connection",
                                                        "connectionName": "pv",
                                                        "messageType": "demo.PageView"}},
         "source.formatSettings.parseSchemaProvider.messageType", ""),
        ("unknown key", fmt(DESC, bogus=1), "source.formatSettings.bogus", ""),
    ]
    for name, f, target, text in bad:
        r = s.req("POST", "/v2/jobs", job("pv", "bad", f))
        c.eq(r.status, 400, f"{name}: 400")
        body = r.json or {}
        msg = str(body)
        c.ok(target in msg and text in msg, f"{name}: names {target} and says '{text}'", msg[:600])

    # ---- the stream: protobufjs → kafkajs → dev-kafka → the job ------------------------------
    r = s.req("POST", "/v2/jobs", job("pv", "views", fmt(DESC, flattenSpec=FLATTEN)))
    c.eq(r.status, 201, "protobuf job created")
    jid = (r.json or {}).get("id")
    rc, out, err = node("produce", broker.bootstrap, "pv", str(N), "0", "--corrupt",
                        ",".join(h for h, _ in CORRUPT))
    c.ok(rc == 0 and f"sent {N + len(CORRUPT)}" in out, "protobufjs events sent with kafkajs",
         out + err[-2000:])

    def counted():
        t = s.req("GET", f"/v2/jobs/{jid}/metrics").json or {}
        tot = t.get("totals", {})
        done = tot.get("numRowsProcessed", 0) + tot.get("numRowsProcessedWithWarnings", 0)
        return tot if done >= N and tot.get("numRowsSkippedByError", 0) >= len(CORRUPT) else None

    tot = wait_for(counted, timeout=60)
    c.ok(tot, "every record counted", s.req("GET", f"/v2/jobs/{jid}/metrics").raw[:800])
    tot = tot or {}
    c.eq(tot.get("numRowsSkippedByError"), len(CORRUPT), "the corrupt records are skippedByError")
    c.eq(tot.get("byReason", {}).get("parse"), len(CORRUPT), "... counted as parse errors")
    c.eq(tot.get("numRowsProcessed", 0) + tot.get("numRowsProcessedWithWarnings", 0), N,
         "the good records are processed")
    got = wait_for(lambda: (lambda r: r if r and r[0][0] == N else None)(
        sql(s, 'SELECT COUNT(*), SUM(n), COUNT(DISTINCT n) FROM "views"')), timeout=30)
    c.eq(got, [[N, N * (N - 1) // 2, N]], "every event once (count, sum, distinct)")

    row = sql(s, 'SELECT page, user_name, kind, tag1, source, dur, clicks, '
                 'TIME_FORMAT(__time, \'yyyy\') FROM "views" WHERE n = 10')
    # event 10: page p10, user u3, kind 10 % 3 = 1 (VIEW), tags ["a","t0"], web (even),
    # dur 2.5, clicks 10 % 4 = 2; the Timestamp became __time
    c.eq(row and row[0][:7], ["p10", "u3", "VIEW", "t0", "chrome", 2.5, 2], "event 10's fields")
    c.ok(row and row[0][7] >= "2024", "the Timestamp is the row time", row)
    row = sql(s, 'SELECT kind, tag1, source FROM "views" WHERE n = 9')
    # event 9: kind 0 is the enum's default and still reads as its name; tags empty
    c.eq(row, [["KIND_UNKNOWN", None, "ios"]], "defaults: enum 0 by name, empty repeated field")

    logs = s.req("GET", f"/v2/jobs/{jid}/logs").json or {}
    text = str(logs)
    for h, why in CORRUPT:
        c.ok(why in text, f"the job's log gives the reason '{why}'", text[:1500])
    st = s.req("GET", f"/v2/jobs/{jid}").json or {}
    c.eq(st.get("executionStatus"), "running", "the job keeps running after corrupt records")

    # ---- the kafka wrapper, with the descriptor set protobufjs writes --------------------------
    tmp = tempfile.mkdtemp(prefix="lodestar-pbjs-")
    try:
        rc, out, err = node("descriptor", os.path.join(tmp, "set.pb"))
        c.eq(rc, 0, "protobufjs wrote a descriptor set: " + err[-500:])
        with open(os.path.join(tmp, "set.pb"), "rb") as f:
            js_desc = base64.b64encode(f.read()).decode()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    schema = [{"name": "ts", "dataType": "string"}, {"name": "n", "dataType": "long"},
              {"name": "kafka.key", "dataType": "string"}]
    maps = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
            {"columnName": "n", "expression": "n"}, {"columnName": "k", "expression": '"kafka.key"'}]
    wrapped = {"format": "kafka", "valueFormat": fmt(js_desc)}
    r = s.req("POST", "/v2/jobs", job("pvk", "keyed", wrapped, schema, maps))
    c.eq(r.status, 201, "kafka(protobuf) job created: " + r.raw[:400])
    rc, out, err = node("produce", broker.bootstrap, "pvk", "500", "1000")
    c.ok(rc == 0, "events sent to pvk", err[-1000:])
    got = wait_for(lambda: (lambda r: r if r and r[0][0] == 500 else None)(
        sql(s, 'SELECT COUNT(*), MIN(n), MAX(n) FROM "keyed"')), timeout=60)
    c.eq(got, [[500, 1000, 1499]], "the wrapped stream arrives whole")
    c.eq(sql(s, 'SELECT k FROM "keyed" WHERE n = 1234'), [["k1234"]], "kafka.key beside protobuf")

    # ---- schemas from a schema registry --------------------------------------------------------
    r = s.req("POST", "/v2/connections", {"type": "confluent_schema_registry", "name": "pbreg",
                                          "urls": [reg.url]})
    c.eq(r.status, 201, "the registry connection")
    for name in ("rclicks", "rdown"):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": name,
                                              "bootstrapServers": broker.bootstrap,
                                              "topicName": name})
        c.eq(r.status, 201, f"connection {name}")

    def register(registry):
        """The producer registers the .proto texts; the stand-in is told their descriptors."""
        rc, out, err = node("registry-register", registry.url)
        c.eq(rc, 0, "schemas registered as .proto text: " + err[-800:])
        ids = json.loads(out) if rc == 0 else {}
        for v in ids.values():
            registry.describe(v["id"], v["serialized"])
        return {k: v["id"] for k, v in ids.items()}

    ids = register(reg)
    c.eq(reg.schemas.get(ids.get("v2"), {}).get("references"),
         [{"name": "lib/common.proto", "subject": "lib/common.proto", "version": 1}],
         "version 2 references lib/common.proto")
    REG_FMT = {"format": "protobuf",
               "parseSchemaProvider": {"type": "connection", "connectionName": "pbreg"},
               "flattenSpec": {"fields": [{"type": "path", "name": "country",
                                           "expr": "$.geo.country"}]}}
    RSCHEMA = [{"name": "ts", "dataType": "string"}, {"name": "n", "dataType": "long"},
               {"name": "page", "dataType": "string"}, {"name": "country", "dataType": "string"},
               {"name": "referrer", "dataType": "string"}, {"name": "tags", "dataType": "json"}]
    RMAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
             {"columnName": "n", "expression": "n"}, {"columnName": "page", "expression": "page"},
             {"columnName": "country", "expression": "country"},
             {"columnName": "referrer", "expression": "referrer"},
             {"columnName": "tag1", "expression": "JSON_VALUE(tags, '$[1]')"}]

    # records written before the job: the default readFromPoint (latest) leaves them
    rc, out, err = node("registry-produce", broker.bootstrap, "rclicks", "v1", str(ids["v1"]),
                        "50", "100000")
    c.ok(rc == 0 and "sent 50" in out, "records before the job", err[-800:])
    rjob = job("rclicks", "rclicks", REG_FMT, RSCHEMA, RMAPS)
    del rjob["readFromPoint"]
    r = s.req("POST", "/v2/jobs", rjob)
    c.eq(r.status, 201, "a protobuf job over the registry connection: " + r.raw[:400])
    rjid = (r.json or {}).get("id")
    c.ok(wait_for(lambda: (s.req("GET", f"/v2/jobs/{rjid}").json or {}).get("executionStatus")
                  == "running"), "the registry job runs")
    time.sleep(1.0)

    def hx(i):
        return "%08x" % i
    avro_id = reg.register("avro-value", '"string"')
    # a schema whose reference names a subject the registry does not have, and one that
    # references itself (no real registry accepts that; the reader must still stop)
    v1_text = open(os.path.join(CLIENT, "registry", "event_v1.proto")).read()
    lost_id = reg.register("lost-value", v1_text, "PROTOBUF",
                           [{"name": "lib/common.proto", "subject": "nope", "version": 1}])
    loop_id = reg.register("loop", "// loop\n" + v1_text, "PROTOBUF",
                           [{"name": "loop.proto", "subject": "loop", "version": 1}])
    for i in (lost_id, loop_id):
        reg.describe(i, reg.serialized[ids["v1"]])
    RCORRUPT = [
        # an id the registry does not have; message index [1, 0]; n = 1
        ("00" + hx(999) + "040200" + "1001", "schema id 999 is not in the schema registry"),
        # message index [5]: the file has 2 top-level messages
        ("00" + hx(ids["v1"]) + "020a" + "1001",
         "schema id %d: message index 5 at position 0" % ids["v1"]),
        # an Avro schema's id
        ("00" + hx(avro_id) + "00" + "1001",
         "is an AVRO schema in the registry, not a Protobuf one"),
        ("00" + hx(lost_id) + "040200" + "1001",
         "its reference 'lib/common.proto': subject 'nope' version 1 is not in the schema"),
        ("00" + hx(loop_id) + "040200" + "1001", "its references nest deeper than 16"),
    ]
    NV1, NV2 = 600, 400
    rc, out, err = node("registry-produce", broker.bootstrap, "rclicks", "v1", str(ids["v1"]),
                        str(NV1), "0", "--corrupt", ",".join(h for h, _ in RCORRUPT))
    c.ok(rc == 0 and f"sent {NV1 + len(RCORRUPT)}" in out, "version 1 records sent", err[-800:])
    rc, out, err = node("registry-produce", broker.bootstrap, "rclicks", "v2", str(ids["v2"]),
                        str(NV2), str(NV1))
    c.ok(rc == 0 and f"sent {NV2}" in out, "version 2 records sent", err[-800:])

    def rcounted():
        tot = (s.req("GET", f"/v2/jobs/{rjid}/metrics").json or {}).get("totals", {})
        done = tot.get("numRowsProcessed", 0) + tot.get("numRowsProcessedWithWarnings", 0)
        skipped = tot.get("numRowsSkippedByError", 0)
        return tot if done >= NV1 + NV2 and skipped >= len(RCORRUPT) else None

    tot = wait_for(rcounted, timeout=60) or {}
    c.eq((tot.get("numRowsProcessed", 0) + tot.get("numRowsProcessedWithWarnings", 0),
          tot.get("numRowsSkippedByError")), (NV1 + NV2, len(RCORRUPT)),
         "registry records: every good one processed, the bad ones skippedByError")
    got = wait_for(lambda: (lambda r: r if r and r[0][0] == NV1 + NV2 else None)(
        sql(s, 'SELECT COUNT(*), SUM(n), COUNT(referrer), MAX(n) FROM "rclicks"')), timeout=30)
    total = (NV1 + NV2) * (NV1 + NV2 - 1) // 2
    c.eq(got, [[NV1 + NV2, total, NV2, NV1 + NV2 - 1]],
         "each record once, by its own schema version (only version 2 has referrer), none "
         "from before the job")
    c.eq(sql(s, 'SELECT page, country, referrer, tag1 FROM "rclicks" WHERE n = 700'),
         [["p0", "DE", "r1", "t0"]], "a version 2 record: referenced Geo, new fields")
    c.eq(sql(s, 'SELECT page, country, referrer, tag1 FROM "rclicks" WHERE n = 5'),
         [["p0", "FR", None, None]], "a version 1 record")
    text = str(s.req("GET", f"/v2/jobs/{rjid}/logs").json or {})
    for _, why in RCORRUPT:
        c.ok(why in text, f"the job's log gives the reason '{why}'", text[:1500])
    paths = [p for m, p in reg.requests if m == "GET"]
    c.ok(f"/schemas/ids/{ids['v1']}?format=serialized" in paths,
         "schemas are fetched serialized", paths)
    c.ok("/subjects/lib%2Fcommon.proto/versions/1?format=serialized" in paths,
         "the reference is fetched by subject and version", paths)
    c.ok(paths.count(f"/schemas/ids/{ids['v1']}?format=serialized") <= 2,
         "a schema is fetched once per job, not per record", paths)

    # the kafka wrapper around protobuf from the registry, from the earliest offset: the
    # records from before the first job too, and the Kafka key beside the message
    wrapped = {"format": "kafka", "valueFormat": REG_FMT}
    r = s.req("POST", "/v2/jobs", job("rclicks", "rwrapped", wrapped,
                                      RSCHEMA + [{"name": "kafka.key", "dataType": "string"}],
                                      RMAPS + [{"columnName": "k", "expression": '"kafka.key"'}]))
    c.eq(r.status, 201, "kafka(protobuf over the registry) job created: " + r.raw[:300])
    got = wait_for(lambda: (lambda r: r if r and r[0][0] == NV1 + NV2 + 50 else None)(
        sql(s, 'SELECT COUNT(*), COUNT(referrer), MAX(n) FROM "rwrapped"')), timeout=60)
    c.eq(got, [[NV1 + NV2 + 50, NV2, 100049]], "the wrapped job reads every record, earliest on")
    c.eq(sql(s, 'SELECT k, country FROM "rwrapped" WHERE n = 100001'), [["k100001", "FR"]],
         "kafka.key beside a registry-framed message")

    # the preview reads the topic through the registry
    sample = dict(job("rclicks", "rclicks", REG_FMT, RSCHEMA, RMAPS), sample={"limit": 20})
    r = s.req("POST", "/v2/jobs/sample", sample)
    c.eq(r.status, 200, "preview of the registry job: " + r.raw[:300])
    prow = [x for x in (r.json or {}).get("rows", []) if x.get("outcome") == "processed"]
    c.ok(len(prow) >= 10 and all(x["output"].get("country") in ("DE", "FR") for x in prow),
         "the preview decodes records by their registry schema", (r.json or {}).get("rows", [])[:2])

    # ---- the registry down: health warn, nothing skipped, everything once it is back ---------
    r = s.req("POST", "/v2/connections", {"type": "confluent_schema_registry", "name": "pbreg2",
                                          "urls": [reg2.url]})
    c.eq(r.status, 201, "a second registry connection")
    ids2 = register(reg2)
    ND = 700
    rc, out, err = node("registry-produce", broker.bootstrap, "rdown", "v2", str(ids2["v2"]),
                        str(ND), "0")
    c.ok(rc == 0 and f"sent {ND}" in out, "records for the registry that goes down", err[-800:])
    reg2.stop()
    fmt2 = dict(REG_FMT, parseSchemaProvider={"type": "connection", "connectionName": "pbreg2"})
    r = s.req("POST", "/v2/jobs", job("rdown", "rdown", fmt2, RSCHEMA, RMAPS))
    c.eq(r.status, 201, "a job over the registry that is down")
    djid = (r.json or {}).get("id")

    def health():
        return (s.req("GET", f"/v2/jobs/{djid}").json or {}).get("health", {})

    warned = wait_for(lambda: health().get("status") == "warn", timeout=30)
    c.ok(warned, "health warns while the registry is down", health())
    c.ok("schema registry is unreachable" in health().get("message", ""),
         "the warning names the registry", health())
    time.sleep(2)
    t = (s.req("GET", f"/v2/jobs/{djid}/metrics").json or {}).get("totals", {})
    c.eq((t.get("numRowsProcessed"), t.get("numRowsSkippedByError")), (0, 0),
         "nothing read, nothing skipped while the schema cannot be fetched")
    reg2.start()
    got = wait_for(lambda: (lambda r: r if r and r[0][0] == ND else None)(
        sql(s, 'SELECT COUNT(*), COUNT(DISTINCT n), SUM(n) FROM "rdown"')), timeout=60)
    c.eq(got, [[ND, ND, ND * (ND - 1) // 2]], "the registry back: every record once")
    time.sleep(1)
    t = (s.req("GET", f"/v2/jobs/{djid}/metrics").json or {}).get("totals", {})
    c.eq((t.get("numRowsProcessed"), t.get("numRowsSkippedByError")), (ND, 0),
         "exactly the records sent, none skipped")
    c.ok(wait_for(lambda: health().get("status") == "ok", timeout=30), "health back to ok",
         health())
finally:
    s.stop()
    broker.stop()
    reg.stop()
    reg2.stop()
c.done()
