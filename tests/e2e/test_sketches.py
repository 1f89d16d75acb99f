"""
test_sketches.py — sketch columns end to end through a real `lodestar serve`
fed from a real Kafka-protocol broker (`lodestar dev-kafka`, kcat as the
client), issue 14.

Druid's theta tutorial: 19 rows of date,uid,show,episode rolled up by day
into an aggregate table with a thetaSketch, an HLLSketch and a
quantilesDoublesSketch measure (one row per day, show and episode: 12).
Every answer is derived by hand from the 19 rows (below their thresholds
the sketches are exact): 5 viewers in all, 5 of Bridgerton, 3 of Game of
Thrones, per day 2 3 3 3 2; of Bridgerton's two episodes 1 watched both,
5 either, 3 the first but not the second. The answers hold for realtime
rows as soon as they arrive, after persist (segments store the sketches'
bytes) and after a restart. SELECT * shows each sketch as base64 that
decodes to DataSketches' preamble; a pre-built theta sketch (base64) in an
event merges into the row's sketch instead of counting as a new uid; a
mapping whose sketch does not fit a column is a 400 naming the column; a
job that creates its table gives the columns sketch types and the
mapping's parameters (lgK, tgtHllType, size, k), kept through persist and
restart; a table may declare them, and a mapping that names others is a
400; bad parameters in a schema are 400s naming the field.
"""
import base64
import json
import shutil
import subprocess
import time

from harness import Checks, DevKafka, Server, wait_for

c = Checks()

TUTORIAL = """2022-05-19,alice,Game of Thrones,S1E1
2022-05-19,alice,Game of Thrones,S1E2
2022-05-19,alice,Game of Thrones,S1E1
2022-05-19,bob,Bridgerton,S1E1
2022-05-20,alice,Game of Thrones,S1E1
2022-05-20,carol,Bridgerton,S1E2
2022-05-20,dan,Bridgerton,S1E1
2022-05-21,alice,Game of Thrones,S1E1
2022-05-21,carol,Bridgerton,S1E1
2022-05-21,erin,Game of Thrones,S1E1
2022-05-21,alice,Bridgerton,S1E1
2022-05-22,bob,Game of Thrones,S1E1
2022-05-22,bob,Bridgerton,S1E1
2022-05-22,carol,Bridgerton,S1E2
2022-05-22,bob,Bridgerton,S1E1
2022-05-22,erin,Game of Thrones,S1E1
2022-05-22,erin,Bridgerton,S1E2
2022-05-23,erin,Game of Thrones,S1E1
2022-05-23,alice,Game of Thrones,S1E1"""
ROWS = [dict(zip(["date", "uid", "show", "episode"], ln.split(","))) for ln in TUTORIAL.split("\n")]
for i, r in enumerate(ROWS):
    r["n"] = i + 1   # for the quantiles sketch: 1..19

INPUT = [{"name": "date", "dataType": "string"}, {"name": "uid", "dataType": "string"},
         {"name": "show", "dataType": "string"}, {"name": "episode", "dataType": "string"},
         {"name": "n", "dataType": "long"}]
MAPPINGS = [{"columnName": "__time", "expression": 'TIME_PARSE("date")'},
            {"columnName": "show", "expression": '"show"'},
            {"columnName": "episode", "expression": '"episode"'},
            {"columnName": "theta_uid", "expression": 'DS_THETA("uid")', "isAggregation": True},
            {"columnName": "hll_uid", "expression": 'APPROX_COUNT_DISTINCT("uid")',
             "isAggregation": True},
            {"columnName": "q_n", "expression": 'DS_QUANTILES_SKETCH("n")', "isAggregation": True},
            {"columnName": "cnt", "expression": "COUNT(*)", "isAggregation": True}]


def produce(bootstrap, topic, lines):
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-X", "linger.ms=5"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=60)
    return p.returncode == 0


def job(table, conn, mappings, **extra):
    j = {"type": "streaming", "target": {"type": "table", "tableName": table},
         "source": {"type": "connection", "connectionName": conn, "inputSchema": INPUT,
                    "formatSettings": {"format": "nd-json"}},
         "mappings": mappings, "readFromPoint": "earliest",
         "lateMessageRejectionPeriod": "P36500D"}   # the tutorial's days are years back
    j.update(extra)
    return j


if not shutil.which("kcat"):
    c.ok(False, "kcat is installed (apt-get install kcat)")
    c.done()

broker = DevKafka(topics=("shows:2", "created:1", "big:1")).start()
s = Server(env={"LODESTAR_PERSIST_MAX_AGE_MS": "300"})
s.start()
try:
    def q(sql, **extra):
        body = {"query": sql, "resultFormat": "array"}
        body.update(extra)
        r = s.req("POST", "/v1/query/sql", body)
        c.ok(r.status == 200, f"query {sql[:60]}...", r.json)
        return r.json

    def answers(when):
        c.eq(q("SELECT THETA_SKETCH_ESTIMATE(DS_THETA(theta_uid)), "
               "APPROX_COUNT_DISTINCT_DS_THETA(theta_uid) FILTER (WHERE show = 'Bridgerton'), "
               "APPROX_COUNT_DISTINCT_DS_THETA(theta_uid) FILTER (WHERE show = 'Game of Thrones'), "
               "APPROX_COUNT_DISTINCT_DS_HLL(hll_uid), APPROX_COUNT_DISTINCT(hll_uid), "
               "APPROX_QUANTILE_DS(q_n, 0.5), DS_GET_QUANTILE(DS_QUANTILES_SKETCH(q_n), 1), "
               "SUM(cnt), COUNT(*) FROM shows WHERE __time < TIMESTAMP '2022-05-24 00:00:00'"),
             [[5.0, 5, 3, 5, 5, 10.0, 19.0, 19, 12]], f"{when}: viewers in all, per show; quantiles")
        c.eq(q("SELECT TIME_FORMAT(__time, 'yyyy-MM-dd'), APPROX_COUNT_DISTINCT_DS_THETA(theta_uid), "
               "APPROX_COUNT_DISTINCT_DS_HLL(hll_uid) FROM shows "
               "WHERE __time < TIMESTAMP '2022-05-24 00:00:00' GROUP BY 1 ORDER BY 1"),
             [["2022-05-19", 2, 2], ["2022-05-20", 3, 3], ["2022-05-21", 3, 3],
              ["2022-05-22", 3, 3], ["2022-05-23", 2, 2]], f"{when}: viewers per day")
        e1 = "DS_THETA(theta_uid) FILTER (WHERE show = 'Bridgerton' AND episode = 'S1E1')"
        e2 = "DS_THETA(theta_uid) FILTER (WHERE show = 'Bridgerton' AND episode = 'S1E2')"
        c.eq(q(f"SELECT THETA_SKETCH_ESTIMATE(THETA_SKETCH_INTERSECT({e1}, {e2})), "
               f"THETA_SKETCH_ESTIMATE(THETA_SKETCH_UNION({e1}, {e2})), "
               f"THETA_SKETCH_ESTIMATE(THETA_SKETCH_NOT({e1}, {e2})) FROM shows"),
             [[1.0, 5.0, 3.0]], f"{when}: both episodes, either, the first but not the second")

    r = s.req("POST", "/v2/tables", {
        "name": "shows", "type": "aggregate", "timeResolution": "day",
        "partitioningGranularity": "day",
        "schema": [{"name": "show", "dataType": "string"},
                   {"name": "episode", "dataType": "string"},
                   {"name": "theta_uid", "dataType": "thetaSketch", "columnType": "measure"},
                   {"name": "hll_uid", "dataType": "HLLSketch", "columnType": "measure"},
                   {"name": "q_n", "dataType": "quantilesDoublesSketch", "columnType": "measure"},
                   {"name": "cnt", "dataType": "count", "columnType": "measure"}]})
    c.ok(r.status == 201, "aggregate table with sketch measures", r.json)
    r = s.req("POST", "/v2/connections", {"type": "kafka", "name": "k",
                                          "bootstrapServers": broker.bootstrap,
                                          "topicName": "shows"})
    c.eq(r.status, 201, "kafka connection")

    # a mapping whose sketch does not fit the column: 400 naming it
    bad = [dict(m) for m in MAPPINGS]
    bad[3] = {"columnName": "theta_uid", "expression": 'DS_HLL("uid")', "isAggregation": True}
    r = s.req("POST", "/v2/jobs", job("shows", "k", bad))
    c.eq(r.status, 400, "DS_HLL into a thetaSketch column is refused")
    msg = (r.json or {}).get("message", "")
    for want in ["'theta_uid'", "thetaSketch", "HLLSketch column"]:
        c.ok(want in msg, f"the refusal names {want}", msg)

    r = s.req("POST", "/v2/jobs", job("shows", "k", MAPPINGS))
    c.ok(r.status == 201, "job with sketch mappings", r.json)
    c.ok(produce(broker.bootstrap, "shows", [json.dumps(x) for x in ROWS]), "kcat produced 19 rows")
    c.ok(wait_for(lambda: s.req("GET", "/v2/tables/shows").json["status"]["rowCount"] == 12,
                  timeout=60), "rolled up into 12 rows", s.req("GET", "/v2/tables/shows").json)
    answers("realtime")

    rows = q('SELECT show, episode, theta_uid, hll_uid, q_n FROM shows ORDER BY __time LIMIT 1')
    c.eq(len(rows), 1, "SELECT * style row")
    if rows:
        raw = [base64.b64decode(v) for v in rows[0][2:]]
        c.eq([raw[0][2], raw[1][2], raw[2][2]], [3, 7, 8],
             "the sketches come out as base64 of DataSketches' images (theta family 3, HLL 7, "
             "quantiles 8)")
    schema = {x["name"]: x["dataType"] for x in s.req("GET", "/v2/tables/shows").json["schema"]}
    c.eq([schema.get("theta_uid"), schema.get("hll_uid"), schema.get("q_n")],
         ["thetaSketch", "HLLSketch", "quantilesDoublesSketch"], "the table keeps the sketch types")

    # a pre-built theta sketch (alice and bob) in an event merges into the row's sketch
    pre = q("SELECT DS_THETA(theta_uid) FROM shows WHERE __time = TIMESTAMP '2022-05-19 00:00:00'")
    c.ok(pre and isinstance(pre[0][0], str), "a theta sketch as base64", pre)
    if pre:
        ev = {"date": "2022-05-24", "uid": pre[0][0], "show": "Bridgerton", "episode": "S1E3",
              "n": 20}
        c.ok(produce(broker.bootstrap, "shows", [json.dumps(ev)]), "kcat produced the sketch")
        got = wait_for(lambda: (lambda x: x if x and x[0][2] == 1 else None)(
            q("SELECT APPROX_COUNT_DISTINCT_DS_THETA(theta_uid), "
              "APPROX_COUNT_DISTINCT_DS_HLL(hll_uid), SUM(cnt) FROM shows "
              "WHERE __time = TIMESTAMP '2022-05-24 00:00:00'")), timeout=30)
        # theta read it as a sketch of two uids; the HLL column could not, and counted the text
        c.eq(got, [[2, 1, 1]], "the pre-built sketch merged (2 uids), not hashed as one")

    c.ok(wait_for(lambda: s.req("GET", "/v2/tables/shows").json["status"]["segmentCount"] >= 1,
                  timeout=30), "persisted")
    answers("persisted")
    s.stop()
    s.start()
    answers("after a restart")

    # a job that creates its table gives the columns the sketch types
    s.req("POST", "/v2/connections", {"type": "kafka", "name": "k2",
                                      "bootstrapServers": broker.bootstrap,
                                      "topicName": "created"})
    r = s.req("POST", "/v2/jobs", job("made", "k2", [
        {"columnName": "__time", "expression": 'TIME_PARSE("date")'},
        {"columnName": "show", "expression": '"show"'},
        {"columnName": "u_hll", "expression": 'COUNT(DISTINCT "uid")', "isAggregation": True},
        {"columnName": "u_theta", "expression": 'APPROX_COUNT_DISTINCT_DS_THETA("uid")',
         "isAggregation": True},
        {"columnName": "n_q", "expression": 'DS_QUANTILES_SKETCH("n", 64)',
         "isAggregation": True},
        {"columnName": "u_hll14", "expression": "DS_HLL(\"uid\", 14, 'HLL_8')",
         "isAggregation": True},
        {"columnName": "u_theta1k", "expression": 'DS_THETA("uid", 1024)',
         "isAggregation": True}], createTableIfNotExists=True))
    c.ok(r.status == 201, "job creating an aggregate table", r.json)
    c.ok(produce(broker.bootstrap, "created", [json.dumps(x) for x in ROWS]), "kcat produced")
    c.ok(wait_for(lambda: (s.req("GET", "/v2/tables/made").json or {}).get("status", {})
                  .get("rowCount") == 9, timeout=60), "9 rows (day, show)")
    schema = {x["name"]: x["dataType"] for x in s.req("GET", "/v2/tables/made").json["schema"]}
    c.eq([schema.get("u_hll"), schema.get("u_theta"), schema.get("n_q")],
         ["HLLSketch", "thetaSketch", "quantilesDoublesSketch"], "created columns' types")
    c.eq(q("SELECT APPROX_COUNT_DISTINCT(u_hll), APPROX_COUNT_DISTINCT_DS_THETA(u_theta), "
           "APPROX_QUANTILE_DS(n_q, 1), APPROX_COUNT_DISTINCT_DS_HLL(u_hll14), "
           "APPROX_COUNT_DISTINCT_DS_THETA(u_theta1k) FROM made"), [[5, 5, 19.0, 5, 5]],
         "created table's answers")

    # Sketch parameters: the mapping's make the new column's (Druid's metric fields lgK,
    # tgtHllType, size, k in the schema), and the stored sketches have them — in realtime
    # rows, after persist (merged with the column's aggregator) and after a restart.
    cols = {x["name"]: x for x in s.req("GET", "/v2/tables/made").json["schema"]}
    c.eq([cols["u_hll14"].get("lgK"), cols["u_hll14"].get("tgtHllType"),
          cols["u_hll"].get("lgK"), cols["u_hll"].get("tgtHllType"),
          cols["u_theta1k"].get("size"), cols["u_theta"].get("size"), cols["n_q"].get("k")],
         [14, "HLL_8", 12, "HLL_4", 1024, 16384, 64], "the created columns' sketch parameters")

    def stored(table, col):
        """(lgK, tgtHllType) of an HLL column's stored sketches, or k of a quantiles one."""
        out = set()
        for (v,) in q(f"SELECT {col} FROM {table}"):
            b = base64.b64decode(v)
            out.add((b[3], ["HLL_4", "HLL_6", "HLL_8"][(b[7] >> 2) & 3]) if b[2] == 7
                    else int.from_bytes(b[4:6], "little"))
        return sorted(out)

    c.eq([stored("made", "u_hll14"), stored("made", "u_hll"), stored("made", "n_q")],
         [[(14, "HLL_8")], [(12, "HLL_4")], [64]], "realtime rows keep the mapping's parameters")
    c.ok(wait_for(lambda: s.req("GET", "/v2/tables/made").json["status"]["segmentCount"] >= 1,
                  timeout=30), "made persisted")
    c.eq([stored("made", "u_hll14"), stored("made", "n_q")], [[(14, "HLL_8")], [64]],
         "persisted rows too (persist merges with the column's own parameters)")
    s.stop()
    s.start()
    c.ok(produce(broker.bootstrap, "created", [json.dumps(dict(ROWS[0], uid="zed"))]),
         "kcat produced one more row after a restart")
    c.ok(wait_for(lambda: q("SELECT APPROX_COUNT_DISTINCT_DS_HLL(u_hll14) FROM made") == [[6]],
                  timeout=30), "it merged into the lgK 14 column")
    c.eq(stored("made", "u_hll14"), [(14, "HLL_8")], "after a restart the column keeps lgK 14")

    # A table that declares them: a mapping without parameters takes the column's; one
    # that names others is refused, naming both.
    r = s.req("POST", "/v2/tables", {
        "name": "fixed", "type": "aggregate", "schemaMode": "strict", "timeResolution": "day",
        "schema": [{"name": "show", "dataType": "string"},
                   {"name": "u", "dataType": "HLLSketch", "columnType": "measure", "lgK": 16},
                   {"name": "t", "dataType": "thetaSketch", "columnType": "measure",
                    "size": 4096}]})
    c.ok(r.status == 201, "a strict table with lgK 16 and size 4096 sketch columns", r.json)
    cols = {x["name"]: x for x in (r.json or {}).get("schema", [])}
    c.eq([cols.get("u", {}).get("lgK"), cols.get("u", {}).get("tgtHllType"),
          cols.get("t", {}).get("size")], [16, "HLL_4", 4096], "the schema shows them")
    fixed_maps = [{"columnName": "__time", "expression": 'TIME_PARSE("date")'},
                  {"columnName": "show", "expression": '"show"'},
                  {"columnName": "u", "expression": "DS_HLL(\"uid\", 14)",
                   "isAggregation": True},
                  {"columnName": "t", "expression": 'DS_THETA("uid")', "isAggregation": True}]
    r = s.req("POST", "/v2/jobs", job("fixed", "k2", fixed_maps))
    c.eq(r.status, 400, "DS_HLL(uid, 14) into an lgK 16 column is refused")
    msg = (r.json or {}).get("message", "")
    for want in ["'u'", "lgK 16", "lgK 14", "drop the mapping's parameters"]:
        c.ok(want in msg, f"the refusal says {want}", msg)
    fixed_maps[2]["expression"] = 'APPROX_COUNT_DISTINCT_DS_HLL("uid")'
    r = s.req("POST", "/v2/jobs", job("fixed", "k2", fixed_maps))
    c.ok(r.status == 201, "a mapping without parameters takes the column's", r.json)
    c.ok(wait_for(lambda: (s.req("GET", "/v2/tables/fixed").json or {}).get("status", {})
                  .get("rowCount") == 9, timeout=60), "9 rows (day, show; zed joined one)")
    c.eq(stored("fixed", "u"), [(16, "HLL_4")], "its sketches are lgK 16")
    c.eq(q("SELECT APPROX_COUNT_DISTINCT_DS_HLL(u), APPROX_COUNT_DISTINCT_DS_THETA(t) FROM fixed"),
         [[6, 6]], "and count right")
    r = s.req("PUT", "/v2/tables/fixed", {"schema": [
        {"name": "u", "dataType": "HLLSketch", "columnType": "measure", "lgK": 12}]})
    c.eq(r.status, 400, "a column's sketch parameters cannot change")
    c.ok("lgK" in (r.json or {}).get("message", ""), "and the refusal says so", r.json)
    r = s.req("PUT", "/v2/tables/fixed", {"schema": [
        {"name": "u", "dataType": "HLLSketch", "columnType": "measure"}]})
    c.ok(r.status == 200, "listing the column without its parameters changes nothing", r.json)

    # A big batch into sketch columns at Druid's defaults (theta 16384 entries): every input
    # row's state once reserved a union's worst case (263 KB for theta), so a batch of a few
    # thousand rows exhausted the batch's 512 MB and failed the job. 6,000 events produced
    # before the job starts arrive in few, large batches; theta is exact below 16384.
    N = 6000
    big = [json.dumps({"date": "2022-06-01", "uid": f"user-{i:05d}", "show": "S",
                       "episode": "E", "n": i}) for i in range(N)]
    c.ok(produce(broker.bootstrap, "big", big), f"kcat produced {N} events")
    s.req("POST", "/v2/connections", {"type": "kafka", "name": "kbig",
                                      "bootstrapServers": broker.bootstrap, "topicName": "big"})
    r = s.req("POST", "/v2/jobs", job("bigsk", "kbig", [
        {"columnName": "__time", "expression": 'TIME_PARSE("date")'},
        {"columnName": "t", "expression": 'DS_THETA("uid")', "isAggregation": True},
        {"columnName": "h", "expression": 'DS_HLL("uid")', "isAggregation": True},
        {"columnName": "q", "expression": 'DS_QUANTILES_SKETCH("n")', "isAggregation": True},
        {"columnName": "cnt", "expression": "COUNT(*)", "isAggregation": True}],
        createTableIfNotExists=True))
    c.ok(r.status == 201, "job into default-size sketch columns", r.json)
    bid = (r.json or {}).get("id")
    def big_rows():
        r = s.req("POST", "/v1/query/sql", {"query": "SELECT SUM(cnt) FROM bigsk",
                                            "resultFormat": "array"})
        return r.json[0][0] if r.status == 200 and r.json else None

    c.ok(wait_for(lambda: big_rows() == N, timeout=60), f"all {N} rows rolled up",
         s.req("GET", f"/v2/jobs/{bid}/status").json)
    st = s.req("GET", f"/v2/jobs/{bid}/status").json or {}
    c.ok(st.get("health", {}).get("status", "ok") != "error" and
         st.get("executionStatus") != "failed", "the job is healthy", st)
    # (how many stored rows hold the day depends on when persists ran: not checked)
    got = q("SELECT APPROX_COUNT_DISTINCT_DS_THETA(t), APPROX_COUNT_DISTINCT_DS_HLL(h), "
            "APPROX_QUANTILE_DS(q, 0.5) FROM bigsk")
    c.ok(got and got[0][0] == N and abs(got[0][1] - N) <= 0.05 * N and
         abs(got[0][2] - N / 2) <= 0.05 * N,
         "theta exact, HLL and the median within their bounds", got)

    # bad parameters in a schema: a 400 naming the field, and what is allowed
    for col, field, words in [
            ({"dataType": "HLLSketch", "lgK": 30}, "lgK", "from 4 to 21"),
            ({"dataType": "HLLSketch", "tgtHllType": "HLL_5"}, "tgtHllType", "HLL_8"),
            ({"dataType": "HLLSketch", "lgK": "14"}, "lgK", "whole number"),
            ({"dataType": "thetaSketch", "size": 1000}, "size", "power of two"),
            ({"dataType": "thetaSketch", "lgK": 12}, "lgK", "HLLSketch columns"),
            ({"dataType": "quantilesDoublesSketch", "k": 65536}, "k", "32768"),
            ({"dataType": "longSum", "k": 64}, "k", "not a longSum column")]:
        r = s.req("POST", "/v2/tables", {"name": "badparams", "type": "aggregate", "schema": [
            dict(col, name="m", columnType="measure")]})
        m = (r.json or {}).get("message", "")
        c.ok(r.status == 400 and f"schema[0].{field}" in m and words in m,
             f"{col} is refused naming schema[0].{field} ({words})", (r.status, m))
finally:
    s.stop()
    broker.stop()
c.done()
