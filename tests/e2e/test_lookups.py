#!/usr/bin/env python3
"""
test_lookups.py — lookups for SQL's LOOKUP() against a real `lodestar serve`:
create one from a JSON map and one from two columns of a table (rows loaded by
an inline batch job), list, get, replace, query with LOOKUP, restart and query
again, delete; and every bad input answered with a precise 400 (or 404/409).
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import Checks, Server, wait_for  # noqa: E402

c = Checks()


def sql(s, q):
    r = s.req("POST", "/v1/query/sql", {"query": q, "resultFormat": "array"})
    c.eq(r.status, 200, f"query ok: {q[:70]}")
    return r.json if r.status == 200 else r.raw


def bad(s, method, path, body, status, kind, text, target=None):
    r = s.req(method, path, body)
    c.eq(r.status, status, f"{method} {path} {str(body)[:60]} -> {status}")
    j = r.json or {}
    c.eq(j.get("error"), kind, f"error kind for {str(body)[:60]}")
    c.ok(text in (j.get("message") or ""), f"message names the problem: {text!r}", r.raw)
    if target is not None:
        c.eq(j.get("target"), target, f"target of {str(body)[:60]}")


CSV = ("ts,code,country,pop\n"
       "2025-01-01T00:00:00Z,FR,France,68\n"
       "2025-01-01T01:00:00Z,DE,Germany,84\n"
       "2025-01-01T02:00:00Z,NL,Netherland,17\n"
       "2025-01-01T03:00:00Z,NL,Netherlands,18\n"   # later row: this value wins
       "2025-01-01T04:00:00Z,,Nowhere,0\n")         # no code: NULL, left out of the lookup

data_dir = tempfile.mkdtemp(prefix="lodestar-e2e-lookups-")
with Server(data_dir=data_dir) as s:
    pid = s.req("GET", "/v1/projects").json[0]["metadata"]["uid"]
    base = f"/v1/projects/{pid}/lookups"

    # ---- a table to read a lookup from ----
    job = {"type": "batch", "target": {"type": "table", "tableName": "countries"},
           "createTableIfNotExists": True,
           "source": {"type": "inline", "data": CSV,
                      "inputSchema": [{"name": "ts", "dataType": "string"},
                                      {"name": "code", "dataType": "string"},
                                      {"name": "country", "dataType": "string"},
                                      {"name": "pop", "dataType": "long"}],
                      "formatSettings": {"format": "csv", "findColumnsFromHeader": True}},
           "mappings": [{"columnName": "__time", "expression": 'TIME_PARSE("ts")'},
                        {"columnName": "code", "expression": "NULLIF(code, '')"},
                        {"columnName": "country", "expression": "country"},
                        {"columnName": "pop", "expression": "pop"}]}
    r = s.req("POST", "/v2/jobs", job)
    c.eq(r.status, 201, "inline batch job")
    jid = r.json["id"]
    c.ok(wait_for(lambda: s.req("GET", f"/v2/jobs/{jid}").json["executionStatus"] == "succeeded"),
         "batch job succeeded", s.req("GET", f"/v2/jobs/{jid}").raw)

    # ---- from a map ----
    r = s.req("POST", base, {"name": "colors", "description": "fruit colours",
                             "map": {"a": "apple", "b": "banana", "": "blank"}})
    c.eq(r.status, 201, "create a lookup from a map")
    c.eq((r.json or {}).get("type"), "map", "its type")
    c.eq((r.json or {}).get("entryCount"), 3, "its entry count")
    c.eq((r.json or {}).get("map"), {"a": "apple", "b": "banana", "": "blank"}, "its map echoed")
    c.ok(str((r.json or {}).get("createdTimestamp", "")).endswith("Z"), "created timestamp")

    # ---- from a table ----
    r = s.req("POST", base, {"name": "country_names", "table": "countries",
                             "keyColumn": "code", "valueColumn": "country"})
    c.eq(r.status, 201, "create a lookup from a table")
    c.eq((r.json or {}).get("map"), {"FR": "France", "DE": "Germany", "NL": "Netherlands"},
         "map read from the table: the latest row of a key wins, NULL keys left out")
    c.eq((r.json or {}).get("source"),
         {"table": "countries", "keyColumn": "code", "valueColumn": "country"}, "its source")
    r = s.req("POST", base, {"name": "pop", "table": "countries",
                             "keyColumn": "country", "valueColumn": "pop"})
    c.eq(r.status, 201, "a numeric value column becomes text")
    c.eq((r.json or {}).get("map", {}).get("France"), "68", "number as text")

    # ---- list and get ----
    r = s.req("GET", base)
    c.eq(r.status, 200, "list lookups")
    names = [v["name"] for v in (r.json or {}).get("values", [])]
    c.eq(names, ["colors", "country_names", "pop"], "listed by name")
    c.ok(all("map" not in v for v in r.json["values"]), "the list leaves the maps out")
    c.eq(r.json["values"][1].get("entryCount"), 3, "the list gives entry counts")
    r = s.req("GET", "/v2/lookups/colors")
    c.eq(r.status, 200, "get one (legacy root)")
    c.eq((r.json or {}).get("description"), "fruit colours", "description kept")

    # ---- query ----
    c.eq(sql(s, "SELECT LOOKUP('a', 'colors'), LOOKUP('z', 'colors', 'none'), "
                "LOOKUP(NULL, 'colors')"), [["apple", "none", None]], "LOOKUP of literals")
    c.eq(sql(s, "SELECT code, LOOKUP(code, 'country_names', '?') FROM countries "
                "WHERE code IS NOT NULL ORDER BY __time"),
         [["FR", "France"], ["DE", "Germany"], ["NL", "Netherlands"], ["NL", "Netherlands"]],
         "LOOKUP over a column")
    c.eq(sql(s, "SELECT LOOKUP(code, 'country_names') AS c, COUNT(*) FROM countries "
                "GROUP BY 1 ORDER BY 1"),
         [[None, 1], ["France", 1], ["Germany", 1], ["Netherlands", 2]], "GROUP BY a LOOKUP")
    r = s.req("POST", "/v1/query/sql", {"query": "SELECT LOOKUP(code, 'country_name') FROM countries"})
    c.eq(r.status, 400, "unknown lookup: 400")
    msg = (r.json or {}).get("message", "")
    c.ok("unknown lookup 'country_name'" in msg and "line 1, column 21" in msg
         and "did you mean 'country_names'" in msg, "unknown lookup: position and hint", r.raw)
    r = s.req("POST", "/v1/query/sql", {"query": "SELECT LOOKUP('x', 'zzzzzzzzzz')"})
    c.ok("the lookups are: 'colors', 'country_names', 'pop'" in (r.json or {}).get("message", ""),
         "unknown lookup far from every name lists them", r.raw)

    # ---- replace ----
    r = s.req("PUT", f"{base}/colors", {"map": {"a": "apricot"}})
    c.eq(r.status, 200, "replace a lookup")
    c.eq((r.json or {}).get("map"), {"a": "apricot"}, "new map")
    c.eq(sql(s, "SELECT LOOKUP('a', 'colors'), LOOKUP('b', 'colors')"), [["apricot", None]],
         "queries see the new map")
    bad(s, "PUT", f"{base}/nothere", {"map": {}}, 404, "NotFound", "no lookup named 'nothere'")
    bad(s, "PUT", f"{base}/colors", {"name": "other", "map": {}}, 400, "InvalidInput",
        "a lookup cannot be renamed", "name")

    # ---- bad inputs ----
    bad(s, "POST", base, {"name": "x", "map": {"k": 5}}, 400, "InvalidInput",
        "map.k: the value must be a string but is a number", "map.k")
    bad(s, "POST", base, {"name": "x", "map": {"k": None}}, 400, "InvalidInput",
        "the value must be a string but is null", "map.k")
    bad(s, "POST", base, {"name": "x", "map": {"k": ["a"]}}, 400, "InvalidInput",
        "but is an array", "map.k")
    bad(s, "POST", base, {"name": "x", "map": ["a"]}, 400, "InvalidInput",
        "map must be a JSON object of strings", "map")
    bad(s, "POST", base, {"name": "bad name", "map": {}}, 400, "InvalidInput",
        "has the character ' ' at position 4", "name")
    bad(s, "POST", base, {"name": "x" * 65, "map": {}}, 400, "InvalidInput",
        "at most 64", "name")
    bad(s, "POST", base, {"map": {}}, 400, "InvalidInput", "name", "name")
    bad(s, "POST", base, {"name": "x"}, 400, "InvalidInput", "a lookup needs its entries")
    bad(s, "POST", base, {"name": "x", "map": {}, "table": "countries"}, 400, "InvalidInput",
        "not both", "table")
    bad(s, "POST", base, {"name": "x", "table": "countries", "keyColumn": "code"}, 400,
        "InvalidInput", "valueColumn is required with table", "valueColumn")
    bad(s, "POST", base, {"name": "x", "table": "nope", "keyColumn": "a", "valueColumn": "b"},
        400, "InvalidInput", "no table named 'nope'", "table")
    bad(s, "POST", base, {"name": "x", "table": "countries", "keyColumn": "cod",
                          "valueColumn": "country"}, 400, "InvalidInput",
        "table 'countries' has no column 'cod' (did you mean 'code'?)", "keyColumn")
    bad(s, "POST", base, {"name": "x", "map": {}, "keyColumn": "a"}, 400, "InvalidInput",
        "keyColumn only goes with table", "keyColumn")
    bad(s, "POST", base, {"name": "x", "map": {}, "mapp": {}}, 400, "InvalidInput", "mapp")
    bad(s, "POST", base, {"name": "x", "map": {"k": "v" * 8193}}, 400, "InvalidInput",
        "the value is 8193 bytes long; at most 8192 allowed", "map.k")
    bad(s, "POST", base, {"name": "colors", "map": {}}, 409, "Conflict",
        "a lookup named 'colors' already exists")
    bad(s, "GET", f"{base}/nothere", None, 404, "NotFound", "no lookup named 'nothere'")
    bad(s, "DELETE", f"{base}/nothere", None, 404, "NotFound", "no lookup named 'nothere'")
    r = s.req("POST", base, {"name": "x", "map": {}}, key=None)
    c.eq(r.status, 401, "no key: 401")

# ---- restart: the lookups are in the catalog ----
with Server(data_dir=data_dir) as s:
    c.eq(sql(s, "SELECT LOOKUP('a', 'colors'), LOOKUP('NL', 'country_names')"),
         [["apricot", "Netherlands"]], "lookups survive a restart")
    r = s.req("DELETE", "/v2/lookups/colors")
    c.eq(r.status, 200, "delete a lookup")
    r = s.req("POST", "/v1/query/sql", {"query": "SELECT LOOKUP('a', 'colors')"})
    c.eq(r.status, 400, "a deleted lookup is unknown to queries")
    c.eq([v["name"] for v in s.req("GET", "/v2/lookups").json["values"]],
         ["country_names", "pop"], "list after delete")

if not os.environ.get("LODESTAR_KEEP"):
    shutil.rmtree(data_dir, ignore_errors=True)
c.done()
