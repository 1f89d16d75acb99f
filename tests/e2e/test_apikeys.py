"""
test_apikeys.py — API keys through the API and the probes, against a real `lodestar serve`:
create (the key shown once, never again), list and get (no key, no hash), use (lastUsedAt),
revoke (the next request with the key is a 401, also on a second server over the same data
directory, without a restart), the last ManageApiKeys key kept, permissions enforced (a key
without ManageApiKeys is a 403), every bad body a 400 naming the field; GET /health and
GET /ready answer without a key.
"""
from harness import Checks, Server

c = Checks()
P = "/v1/projects/{pid}/apikeys"

with Server() as s:
    pid = s.req("GET", "/v1/projects").json[0]["metadata"]["uid"]
    base = P.format(pid=pid)

    # ---- probes: no key ----
    for path, status in (("/health", "alive"), ("/ready", "ready")):
        r = s.req("GET", path, key=None)
        c.eq((r.status, r.json), (200, {"status": status}), f"GET {path} without a key")
    c.eq(s.req("POST", "/health", key=None).status, 405, "POST /health: 405")

    # ---- create: the key once ----
    r = s.req("POST", base, {"name": "reader", "description": "dashboards",
                             "permissions": ["AccessQueries", "ViewTables"]})
    c.eq(r.status, 201, "create a key")
    reader = r.json or {}
    key = reader.get("apiKey", "")
    c.ok(key.startswith("pok_") and len(key) == 44, "the key is shown once", r.raw)
    c.eq((reader.get("name"), reader.get("description"), reader.get("permissions"),
          reader.get("lastUsedAt")),
         ("reader", "dashboards", ["AccessQueries", "ViewTables"], None), "its record")
    c.ok(reader.get("createdAt", "").endswith("Z"), "createdAt is ISO-8601 UTC")

    # ---- list and get: never the key ----
    r = s.req("GET", base)
    names = [k["name"] for k in (r.json or {}).get("values", [])]
    c.eq((r.status, names), (200, ["admin", "reader"]), "list by name")
    c.ok(key not in r.raw and "hash" not in r.raw, "the list shows neither key nor hash")
    r = s.req("GET", f"{base}/{reader.get('id')}")
    c.eq((r.status, r.json and r.json.get("name")), (200, "reader"), "get one")
    c.ok("apiKey" not in (r.json or {}) and key not in r.raw, "get never shows the key")
    c.eq(s.req("GET", "/v2/apikeys").status, 200, "the short path too")

    # ---- use: permissions and lastUsedAt ----
    c.eq(s.req("POST", "/v1/query/sql", {"query": "SELECT 1"}, key=key).status, 200,
         "the new key queries")
    c.eq(s.req("GET", base, key=key).status, 403, "without ManageApiKeys: 403")
    c.eq(s.req("POST", "/v2/tables", {"name": "t"}, key=key).status, 403,
         "without ManageTables: 403")
    r = s.req("GET", f"{base}/{reader.get('id')}")
    c.ok(r.json and (r.json.get("lastUsedAt") or "").endswith("Z"), "lastUsedAt after use",
         r.raw)

    # ---- bad bodies: a 400 naming the field ----
    for body, target in (({"permissions": ["AccessQueries"]}, "name"),
                         ({"name": "x"}, "permissions"),
                         ({"name": "x", "permissions": ["AccessQuerys"]}, "permissions"),
                         ({"name": "x", "permissions": [3]}, "permissions[0]"),
                         ({"name": "x", "permissions": ["ViewTables"], "colour": 1}, "colour"),
                         ({"name": "x\n", "permissions": ["ViewTables"]}, "name"),
                         ({"name": "", "permissions": ["ViewTables"]}, "name")):
        r = s.req("POST", base, body)
        c.ok(r.status == 400 and (r.json or {}).get("target") == target,
             f"bad body {body}: 400 at {target}", r.raw)
    r = s.req("POST", base, {"name": "x", "permissions": ["AccessQuerys"]})
    c.ok("did you mean AccessQueries" in (r.json or {}).get("message", ""), "a hint", r.raw)
    r = s.req("POST", base, raw_body=b"{not json", headers={"Content-Type": "application/json"})
    c.eq(r.status, 400, "malformed JSON: 400")
    r = s.req("POST", base, {"name": "reader", "permissions": ["ViewTables"]})
    c.eq(r.status, 409, "a name taken: 409")
    r = s.req("POST", base, {"name": "twice", "permissions": ["ViewTables", "ViewTables"]})
    c.eq((r.status, (r.json or {}).get("permissions")), (201, ["ViewTables"]),
         "a permission given twice counts once")
    r = s.req("POST", base, {"name": "many", "permissions": ["ViewTables"] * 500000})
    c.eq((r.status, (r.json or {}).get("permissions")), (201, ["ViewTables"]),
         "500,000 copies of one name (6 MB): one permission")
    r = s.req("POST", base, {"name": "long", "permissions": ["x" * 100000]})
    c.ok(r.status == 400 and (r.json or {}).get("target") == "permissions[0]",
         "a 100 KB permission name: 400 at permissions[0]", r.raw[:200])
    r = s.req("POST", base, {"name": "x" * 101, "permissions": ["ViewTables"]})
    c.ok(r.status == 400 and (r.json or {}).get("target") == "name", "a 101-character name: 400",
         r.raw[:200])
    r = s.req("POST", base, {"name": "d", "description": "x" * 256, "permissions": ["ViewTables"]})
    c.ok(r.status == 400 and (r.json or {}).get("target") == "description",
         "a 256-character description: 400", r.raw[:200])
    c.eq(s.req("DELETE", f"{base}/no-such-id").status, 404, "revoke an unknown id: 404")

    # ---- revoke: at once, on every server of the catalog ----
    other = Server(data_dir=s.data_dir).start()  # a second server over the same catalog
    try:
        c.eq(other.req("POST", "/v1/query/sql", {"query": "SELECT 1"}, key=key).status, 200,
             "the second server takes the key")
        c.eq(s.req("DELETE", f"{base}/{reader.get('id')}").status, 204, "revoke")
        c.eq(s.req("POST", "/v1/query/sql", {"query": "SELECT 1"}, key=key).status, 401,
             "the revoked key: 401 at once")
        c.eq(other.req("POST", "/v1/query/sql", {"query": "SELECT 1"}, key=key).status, 401,
             "and on the other server, without a restart")
    finally:
        other.stop()
    c.eq(s.req("GET", f"{base}/{reader.get('id')}").status, 404, "gone from the list")

    # ---- the last key that manages keys stays ----
    admin_id = [k for k in s.req("GET", base).json["values"] if k["name"] == "admin"][0]["id"]
    r = s.req("DELETE", f"{base}/{admin_id}")
    c.ok(r.status == 409 and "last key with ManageApiKeys" in (r.json or {}).get("message", ""),
         "the last ManageApiKeys key cannot be revoked", r.raw)
    r = s.req("POST", base, {"name": "ops", "permissions": ["ManageApiKeys"]})
    ops = (r.json or {}).get("apiKey", "")
    c.eq(s.req("DELETE", f"{base}/{admin_id}").status, 204,
         "with another such key, the admin key can go")
    c.eq(s.req("GET", base).status, 401, "the admin key is revoked")
    c.eq(s.req("GET", base, key=ops).status, 200, "the other key manages keys")

c.done()
