"""
test_s3_batch.py — batch ingestion from an S3-compatible store: a real s3rver (npm) and a
real `lodestar serve`. An s3 connection (bucket, prefix, endpoint, write-only secrets never
echoed nor logged); batch jobs over listed objects, a prefix and a glob pattern, nd-json and
gzip'd CSV with a header, checked by exact COUNT and SUM; the errors (a missing key, a
missing bucket, refused credentials, a connection that is not s3 or does not exist) and what
they say; INSERT ... EXTERN over s3 with a connection and with s3:// URIs (the server's own
credentials and --s3-endpoint).
"""
import gzip
import json
import urllib.request

from harness import S3_ENV, Checks, S3rver, Server, wait_for

c = Checks()
SECRET = "sekrit-f00-b4r-s3batch"  # s3rver checks the key id only: any secret will do


def put(store, key, data):
    """An object into s3rver, path-style and unsigned (s3rver takes it)."""
    req = urllib.request.Request(f"http://127.0.0.1:{store.port}/{store.bucket}/{key}", data=data,
                                 method="PUT")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status


def rows(day, k, base):
    return [{"ts": f"{day}T{h % 24:02d}:00:00Z", "city": f"c{h % 3}", "n": base + h}
            for h in range(k)]


def ndjson(rs):
    return "".join(json.dumps(r) + "\n" for r in rs).encode()


SCHEMA = [{"name": "ts", "dataType": "string"}, {"name": "city", "dataType": "string"},
          {"name": "n", "dataType": "long"}]
MAPS = [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
        {"columnName": "city", "expression": "city"}, {"columnName": "n", "expression": "n"}]


def job(table, source, fmt=None):
    src = dict(source, inputSchema=SCHEMA, formatSettings=fmt or {"format": "nd-json"})
    return {"type": "batch", "target": {"type": "table", "tableName": table},
            "createTableIfNotExists": True, "source": src, "mappings": MAPS}


def finished(s, jid):
    return wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] in
                    ("succeeded", "failed") and s.req("GET", f"/v2/jobs/{jid}").json, timeout=30)


def run(s, body, name):
    r = s.req("POST", "/v2/jobs", body)
    c.eq(r.status, 201, f"{name}: job created")
    if r.status != 201:
        print(r.raw[:800])
        return None
    return finished(s, r.json["id"])


def q(s, sql):
    r = s.req("POST", "/v1/query/sql", {"query": sql, "resultFormat": "array"})
    c.eq(r.status, 200, f"query: {sql[:60]}")
    return r.json if r.status == 200 else None


def sqlstr(x):
    return "'" + x.replace("'", "''") + "'"


store = S3rver("lake-bucket").start()
try:
    a, b, d = rows("2024-03-01", 10, 0), rows("2024-03-02", 20, 100), rows("2025-01-05", 5, 1000)
    put(store, "events/2024/a.json", ndjson(a))
    put(store, "events/2024/b.json.gz", gzip.compress(ndjson(b)))
    put(store, "events/2025/d.json", ndjson(d))
    put(store, "events/2025/readme.txt", b"not data\n")
    put(store, "other/x.json", ndjson(a))  # outside the connection's prefix
    csv_rows = rows("2024-04-01", 7, 50)
    csv_text = "ts,city,n\n" + "".join(f"{r['ts']},\"{r['city']}, NL\",{r['n']}\n"
                                      for r in csv_rows)
    put(store, "events/csv/e.csv.gz", gzip.compress(csv_text.encode()))
    endpoint = f"http://127.0.0.1:{store.port}"

    with Server(env=S3_ENV, extra_args=["--s3-endpoint", endpoint]) as s:
        # ---- the connection: secrets are write-only ----
        conn = {"type": "s3", "name": "lake", "bucket": "lake-bucket", "prefix": "events/",
                "endpoint": endpoint, "region": "us-east-1",
                "awsAssumedRoleArn": "arn:aws:iam::123456789012:role/lake-reader",
                "secrets": {"type": "aws_access_key", "accessKeyId": "S3RVER",
                            "secretAccessKey": SECRET}}
        r = s.req("POST", "/v2/connections", conn)
        c.eq(r.status, 201, "s3 connection created")
        c.ok(SECRET not in r.raw and "secrets" not in r.json, "secrets not echoed",
             r.raw)
        c.eq((r.json.get("bucket"), r.json.get("prefix"), r.json.get("hasSecrets"),
              r.json.get("awsAssumedRoleArn")),
             ("lake-bucket", "events/", True, conn["awsAssumedRoleArn"]), "fields kept")
        g = s.req("GET", "/v2/connections/lake")
        c.ok(g.status == 200 and SECRET not in g.raw, "GET: no secrets", g.raw)
        upd = {k: v for k, v in conn.items() if k != "secrets"}
        upd["description"] = "the lake"
        r = s.req("PUT", "/v2/connections/lake", upd)
        c.ok(r.status == 200 and r.json.get("hasSecrets") is True,
             "PUT without secrets keeps the stored ones (the jobs below use them)", r.raw)
        bad = dict(conn, name="bad1", bucket="Not_A_Bucket")
        r = s.req("POST", "/v2/connections", bad)
        c.eq((r.status, r.json.get("target")), (400, "bucket"), "a bad bucket name: 400")
        r = s.req("POST", "/v2/connections", dict(conn, name="bad2", secrets={"type": "x"}))
        c.eq(r.status, 400, "bad secrets: 400")
        c.eq(s.req("POST", "/v2/connections", dict(
            conn, name="nobucket", bucket="no-such-bucket")).status, 201, "nobucket made")
        c.eq(s.req("POST", "/v2/connections", dict(
            conn, name="badkeys", secrets={"type": "aws_access_key", "accessKeyId": "WRONGKEY",
                                           "secretAccessKey": "x"})).status, 201, "badkeys made")
        c.eq(s.req("POST", "/v2/connections", {"type": "push_streaming", "name": "pushy"}).status,
             201, "a push connection")

        # ---- objects (nd-json and gzip'd nd-json) ----
        st = run(s, job("t_obj", {"type": "s3", "connectionName": "lake",
                                  "objects": ["2024/a.json", "2024/b.json.gz"]}), "objects")
        c.eq(st and st["executionStatus"], "succeeded", "objects job succeeded")
        c.eq(q(s, "SELECT COUNT(*), SUM(n) FROM t_obj"),
             [[30, sum(x["n"] for x in a + b)]], "objects: COUNT and SUM")

        # ---- a prefix ----
        st = run(s, job("t_pre2", {"type": "s3", "connectionName": "lake",
                                   "prefixes": ["2024/"]}), "prefix 2024/")
        c.eq(st and st["executionStatus"], "succeeded", "prefix job succeeded")
        c.eq(q(s, "SELECT COUNT(*), SUM(n) FROM t_pre2"),
             [[30, sum(x["n"] for x in a + b)]], "prefix: COUNT and SUM")

        # ---- a pattern: '**' crosses folders, '*' does not ----
        st = run(s, job("t_pat", {"type": "s3", "connectionName": "lake",
                                  "pattern": "**.json"}), "pattern")
        c.eq(st and st["executionStatus"], "succeeded", "pattern job succeeded")
        c.eq(q(s, "SELECT COUNT(*), SUM(n) FROM t_pat"),
             [[15, sum(x["n"] for x in a + d)]], "pattern **.json: a.json and d.json only")

        # ---- gzip'd CSV with a header ----
        st = run(s, job("t_csv", {"type": "s3", "connectionName": "lake",
                                  "pattern": "csv/*.csv.gz"},
                        {"format": "csv", "findColumnsFromHeader": True}), "csv")
        c.eq(st and st["executionStatus"], "succeeded", "csv job succeeded")
        c.eq(q(s, "SELECT COUNT(*), SUM(n), MIN(city) FROM t_csv"),
             [[7, sum(x["n"] for x in csv_rows), "c0, NL"]], "gzip csv: COUNT, SUM, quoted comma")

        # ---- errors at run time: precise messages ----
        def fails(conn_name, sel, name, *words):
            st = run(s, job("t_err", dict({"type": "s3", "connectionName": conn_name}, **sel)),
                     name)
            txt = json.dumps(st and st.get("health"))
            c.ok(st and st["executionStatus"] == "failed" and all(w in txt for w in words),
                 f"{name}: failed saying {words}", txt)

        fails("lake", {"objects": ["2024/a.json", "2024/nope.json"]}, "missing key",
              "s3://lake-bucket/events/2024/nope.json", "does not exist")
        t = s.req("GET", "/v2/tables/t_err")
        c.eq(t.status == 200 and t.json["status"]["rowCount"], 0,
             "a missing key fails before any object is read (no rows)")
        fails("nobucket", {"objects": ["2024/a.json"]}, "missing bucket (objects)",
              "NoSuchBucket", "s3://no-such-bucket/events/2024/a.json")
        fails("nobucket", {"prefixes": ["2024/"]}, "missing bucket (prefix)", "no-such-bucket",
              "NoSuchBucket", "connection 'nobucket'")
        fails("badkeys", {"objects": ["2024/a.json"]}, "bad credentials", "InvalidAccessKeyId",
              "check the secrets", "connection 'badkeys'")
        fails("lake", {"prefixes": ["1999/"]}, "empty prefix", "s3://lake-bucket/events/1999/")
        fails("lake", {"pattern": "*.parquet"}, "a pattern matching nothing",
              "matches the pattern '*.parquet'")

        # ---- errors at creation: 400 naming the connection ----
        r = s.req("POST", "/v2/jobs", job("t_err", {"type": "s3", "connectionName": "pushy",
                                                    "objects": ["a.json"]}))
        c.ok(r.status == 400 and "'pushy'" in r.json.get("message", "") and
             "push_streaming" in r.json["message"], "a push connection as s3: 400", r.raw)
        c.eq(r.json.get("target"), "source.connectionName", "names source.connectionName")
        r = s.req("POST", "/v2/jobs", job("t_err", {"type": "s3", "connectionName": "ghost",
                                                    "objects": ["a.json"]}))
        c.ok(r.status == 400 and "'ghost'" in r.json.get("message", ""),
             "an unknown connection: 400 naming it", r.raw)
        r = s.req("POST", "/v2/jobs", job("t_err", {"type": "s3", "connectionName": "lake",
                                                    "objects": ["a"], "pattern": "*"}))
        c.eq(r.status, 400, "objects and a pattern: 400")
        r = s.req("POST", "/v2/jobs", job("t_err", {"type": "s3", "objects": ["a"]}))
        c.eq((r.status, r.json.get("target")), (400, "source.objects"),
             "objects without a connection: 400")
        r = s.req("POST", "/v2/jobs", {
            "type": "batch", "target": {"type": "table", "tableName": "t_err"},
            "source": {"type": "connection", "connectionName": "lake", "inputSchema": SCHEMA,
                       "formatSettings": {"format": "nd-json"}}, "mappings": MAPS})
        c.eq(r.status, 400, "a streaming source over an s3 connection: 400")

        # ---- SQL: INSERT ... EXTERN over s3 ----
        sig = '[{"name":"ts","type":"string"},{"name":"city","type":"string"},' \
              '{"name":"n","type":"long"}]'

        def sql_insert(table, src):
            query = (f"INSERT INTO {table} SELECT TIME_PARSE(ts) AS __time, city, n FROM "
                     f"TABLE(EXTERN({sqlstr(json.dumps(src))}, '{{\"type\":\"json\"}}', "
                     f"{sqlstr(sig)})) PARTITIONED BY DAY")
            return run(s, {"type": "sql", "query": query, "createTableIfNotExists": True}, table)

        st = sql_insert("t_sql", {"type": "s3", "connectionName": "lake",
                                  "objects": ["2025/d.json"]})
        c.eq(st and st["executionStatus"], "succeeded", "INSERT ... EXTERN s3 (connection)")
        c.eq(q(s, "SELECT COUNT(*), SUM(n) FROM t_sql"), [[5, sum(x["n"] for x in d)]],
             "EXTERN s3: COUNT and SUM")
        st = sql_insert("t_uri", {"type": "s3", "uris": ["s3://lake-bucket/other/x.json"],
                                  "prefixes": ["s3://lake-bucket/events/2024/b"]})
        c.eq(st and st["executionStatus"], "succeeded", "INSERT ... EXTERN s3 (uris, prefixes)")
        c.eq(q(s, "SELECT COUNT(*), SUM(n) FROM t_uri"), [[30, sum(x["n"] for x in a + b)]],
             "EXTERN s3 uris + prefixes: COUNT and SUM")
        st = sql_insert("t_druid", {"type": "s3", "objects": [
            {"bucket": "lake-bucket", "path": "events/2024/a.json"}]})
        c.eq(st and st["executionStatus"], "succeeded", "EXTERN s3 Druid objects")
        c.eq(q(s, "SELECT COUNT(*) FROM t_druid"), [[10]], "Druid objects: COUNT")

        c.ok(SECRET not in s.log_text(), "the secret is never logged")
finally:
    store.remove()
c.done()
