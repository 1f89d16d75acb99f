"""
bench/avro/driver.py — bench_avro's work (see bench/bench_avro.sh): the same N wiki events
as nd-json and as Avro in two Kafka topics, each ingested by its own streaming job, one after
the other; rows/s from job creation to the last row, and the ratio.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from harness import BIN, DevKafka, Server  # noqa: E402

N = int(os.environ.get("BENCH_AVRO_EVENTS", "200000"))
# dev-kafka (librdkafka's mock cluster) keeps only ~5 MiB per partition: spread the ~430-byte
# nd-json events so that no partition holds more than ~3 MiB, or the oldest would be dropped.
PARTS = max(1, -(-N * 430 // (3 << 20)))
S = lambda n: {"name": n, "type": "string"}
O = lambda n, t="string": {"name": n, "type": ["null", t], "default": None}
B = lambda n: {"name": n, "type": "boolean"}
L = lambda n: {"name": n, "type": "long"}
SCHEMA = {"type": "record", "name": "WikiEdit", "fields": [
    S("time"), S("channel"), O("cityName"), S("comment"), O("countryIsoCode"), O("countryName"),
    B("isAnonymous"), B("isMinor"), B("isNew"), B("isRobot"), B("isUnpatrolled"),
    O("metroCode", "long"), S("namespace"), S("page"), O("regionIsoCode"), O("regionName"),
    S("user"), L("delta"), L("added"), L("deleted")]}
TYPES = {"string": "string", "boolean": "long", "long": "long"}
INPUT = [{"name": f["name"], "dataType": TYPES.get(f["type"] if isinstance(f["type"], str)
                                                   else f["type"][1], "string")}
         for f in SCHEMA["fields"]]
MAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("time")'}] + [
    {"columnName": f["name"], "expression": f'"{f["name"]}"'} for f in INPUT[1:]]

tmp = tempfile.mkdtemp(prefix="bench-avro-")
events = os.path.join(tmp, "events.ndjson")
with open(events, "wb") as f:
    subprocess.run([BIN, "generate", "--events", str(N), "--seed", "7"], stdout=f, check=True)
schema = os.path.join(tmp, "schema.json")
with open(schema, "w") as f:
    json.dump(SCHEMA, f)

broker = DevKafka(topics=[f"json:{PARTS}", f"avro:{PARTS}"]).start()
s = Server()
s.start()
try:
    t0 = time.time()
    p = subprocess.run(["node", os.path.join(ROOT, "bench", "avro", "produce.js"),
                        broker.bootstrap, events, schema, "json", "avro"],
                       capture_output=True, timeout=1800)
    if p.returncode:
        print("bench_avro: producing failed:", p.stderr.decode()[-2000:])
        sys.exit(1)
    sizes = json.loads(p.stdout.decode().strip().splitlines()[-1])
    print(f"produced {N} events twice in {time.time() - t0:.1f} s: nd-json "
          f"{sizes['jsonBytes'] / N:.0f} B/event, Avro {sizes['avroBytes'] / N:.0f} B/event")

    def run(name, fmt):
        r = s.req("POST", "/v2/connections", {"type": "kafka", "name": name,
                                              "bootstrapServers": broker.bootstrap,
                                              "topicName": name})
        assert r.status == 201, r.raw
        job = {"type": "streaming", "target": {"type": "table", "tableName": name},
               "createTableIfNotExists": True, "readFromPoint": "earliest",
               "lateMessageRejectionPeriod": "P3650D",
               "source": {"type": "connection", "connectionName": name, "inputSchema": INPUT,
                          "formatSettings": fmt},
               "mappings": MAPS}
        start = time.time()
        r = s.req("POST", "/v2/jobs", job)
        assert r.status == 201, r.raw
        jid = r.json["id"]
        while True:
            m = s.req("GET", f"/v2/jobs/{jid}/metrics").json["totals"]
            done = m["numRowsProcessed"] + m["numRowsProcessedWithWarnings"]
            if done + m["numRowsSkippedByError"] >= N:
                break
            if time.time() - start > 300:
                print(f"bench_avro: {name} timed out at {done} rows: {json.dumps(m)}")
                print(s.req("GET", f"/v2/jobs/{jid}").raw[:1000])
                sys.exit(1)
            time.sleep(0.02)
        secs = time.time() - start
        if m["numRowsSkippedByError"]:
            print(f"bench_avro: {name}: {m['numRowsSkippedByError']} rows skipped by error")
        s.req("PUT", f"/v2/jobs/{jid}", {"desiredExecutionStatus": "canceled"})
        return N / secs, secs

    jr, js = run("json", {"format": "nd-json"})
    ar, as_ = run("avro", {"format": "avro_stream", "parseSchemaProvider": {
        "type": "inline-avro", "schema": SCHEMA}})
    print(f"nd-json from Kafka: {jr:,.0f} rows/s ({js:.2f} s for {N})")
    print(f"Avro from Kafka:    {ar:,.0f} rows/s ({as_:.2f} s for {N})")
    print(f"ratio Avro / nd-json: {ar / jr:.2f} (goal >= 0.8)")
finally:
    s.stop()
    broker.stop()
