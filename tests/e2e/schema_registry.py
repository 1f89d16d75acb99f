"""
schema_registry.py — a small Confluent Schema Registry for the tests, in
Python's standard library. No real registry can be installed here (it is a
Java service), so this serves the subset of its REST API that clients use:
POST /subjects/{s}/versions (register; the same schema text in a subject
gets its existing id), GET /schemas/ids/{id}, GET /subjects/{s}/versions/latest,
GET /subjects/{s}/versions/{n}, GET /subjects, POST /subjects/{s} (look a
schema up) and GET/PUT /config/{s} (a subject's compatibility level, which
@kafkajs/confluent-schema-registry sets on first registration). Optional HTTP basic auth. Errors answer as the real one does:
{"error_code": 40403, "message": "Schema not found"}.

Protobuf schemas: registered as .proto text with "schemaType": "PROTOBUF"
and "references" ([{"name", "subject", "version"}], kept and returned), and
served as text by default or, with ?format=serialized (on /schemas/ids/{id}
and /subjects/{s}/versions/{v}), as the base64 FileDescriptorProto of the
file. A real registry compiles the text into that descriptor itself; this
stand-in cannot parse .proto text, so it is TOLD the descriptor: the test
computes it with a real tool (protobufjs, tests/e2e/protobuf_client) and
calls describe(id, base64) after the producer registered the text. Asked
for a serialized form it was not told, it answers 500 (so a test that forgot
fails loudly instead of reading something made up).

    reg = Registry(user="u", password="p").start()   # reg.url
    reg.describe(sid, base64_file_descriptor_proto)  # Protobuf: the serialized form
    reg.stop()             # down (the port stays reserved: start() again)
    python3 schema_registry.py [port]                # stand-alone
"""
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class Registry:
    def __init__(self, port=0, user=None, password=None):
        self.port = port
        self.user, self.password = user, password
        self.schemas = {}   # id -> {"schema": text, "schemaType": ...}
        self.subjects = {}  # subject -> [id, ...] (versions 1..n)
        self.config = {}    # subject -> compatibility level
        self.serialized = {}  # id -> base64 FileDescriptorProto (Protobuf; describe())
        self.requests = []  # (method, path) of every request
        self.lock = threading.Lock()
        self.httpd = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def register(self, subject, schema, schema_type="AVRO", references=None):
        with self.lock:
            for i, s in self.schemas.items():
                if (s["schema"] == schema and s.get("schemaType", "AVRO") == schema_type and
                        s.get("references", []) == (references or [])):
                    sid = i
                    break
            else:
                sid = len(self.schemas) + 1
                self.schemas[sid] = {"schema": schema}
                if schema_type != "AVRO":
                    self.schemas[sid]["schemaType"] = schema_type
                if references:
                    self.schemas[sid]["references"] = references
            versions = self.subjects.setdefault(subject, [])
            if sid not in versions:
                versions.append(sid)
            return sid

    def describe(self, sid, serialized):
        """The base64 FileDescriptorProto that ?format=serialized answers for schema sid."""
        with self.lock:
            self.serialized[sid] = serialized

    def document(self, sid, serialized=False):
        """(status, body) of schema sid as the registry answers it."""
        s = dict(self.schemas[sid])
        if serialized and s.get("schemaType") == "PROTOBUF":
            if sid not in self.serialized:
                return 500, {"error_code": 50001,
                             "message": f"stand-in registry: not told schema {sid}'s "
                                        "serialized descriptor (Registry.describe)"}
            s["schema"] = self.serialized[sid]
        return 200, s

    def start(self):
        reg = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, code, doc):
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def authorized(self):
                if reg.user is None:
                    return True
                want = base64.b64encode(f"{reg.user}:{reg.password}".encode()).decode()
                if self.headers.get("Authorization") == "Basic " + want:
                    return True
                self.answer(401, {"error_code": 401, "message": "Unauthorized"})
                return False

            def body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def do_GET(self):
                reg.requests.append(("GET", self.path))
                if not self.authorized():
                    return
                url = urlsplit(self.path)
                p = [unquote(x) for x in url.path.strip("/").split("/")]
                ser = parse_qs(url.query).get("format") == ["serialized"]
                with reg.lock:
                    if len(p) == 3 and p[:2] == ["schemas", "ids"] and p[2].isdigit():
                        if int(p[2]) in reg.schemas:
                            return self.answer(*reg.document(int(p[2]), ser))
                        return self.answer(404, {"error_code": 40403,
                                                 "message": "Schema not found"})
                    if len(p) == 2 and p[0] == "config":
                        if p[1] in reg.config:
                            return self.answer(200, {"compatibilityLevel": reg.config[p[1]]})
                        return self.answer(404, {"error_code": 40408,
                                                 "message": "Subject compatibility not found"})
                    if p == ["subjects"]:
                        return self.answer(200, sorted(reg.subjects))
                    if len(p) == 4 and p[0] == "subjects" and p[2] == "versions":
                        vs = reg.subjects.get(p[1])
                        if not vs:
                            return self.answer(404, {"error_code": 40401,
                                                     "message": "Subject not found"})
                        v = len(vs) if p[3] == "latest" else int(p[3]) if p[3].isdigit() else 0
                        if not 1 <= v <= len(vs):
                            return self.answer(404, {"error_code": 40402,
                                                     "message": "Version not found"})
                        sid = vs[v - 1]
                        code, doc = reg.document(sid, ser)
                        if code != 200:
                            return self.answer(code, doc)
                        return self.answer(200, {"subject": p[1], "version": v, "id": sid,
                                                 **doc})
                self.answer(404, {"error_code": 404, "message": "Not found"})

            def do_PUT(self):
                reg.requests.append(("PUT", self.path))
                if not self.authorized():
                    return
                p = [unquote(x) for x in self.path.split("?")[0].strip("/").split("/")]
                doc = self.body()
                if len(p) == 2 and p[0] == "config" and "compatibility" in doc:
                    with reg.lock:
                        reg.config[p[1]] = doc["compatibility"]
                    return self.answer(200, {"compatibility": doc["compatibility"]})
                self.answer(404, {"error_code": 404, "message": "Not found"})

            def do_POST(self):
                reg.requests.append(("POST", self.path))
                if not self.authorized():
                    return
                p = [unquote(x) for x in self.path.split("?")[0].strip("/").split("/")]
                doc = self.body()
                if len(p) == 3 and p[0] == "subjects" and p[2] == "versions":
                    sid = reg.register(p[1], doc["schema"], doc.get("schemaType", "AVRO"),
                                       doc.get("references") or None)
                    return self.answer(200, {"id": sid})
                if len(p) == 2 and p[0] == "subjects":
                    with reg.lock:
                        for v, sid in enumerate(reg.subjects.get(p[1], []), 1):
                            if reg.schemas[sid]["schema"] == doc.get("schema"):
                                return self.answer(200, {"subject": p[1], "version": v,
                                                         "id": sid, **reg.schemas[sid]})
                    return self.answer(404, {"error_code": 40403, "message": "Schema not found"})
                self.answer(404, {"error_code": 404, "message": "Not found"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


if __name__ == "__main__":
    r = Registry(port=int(sys.argv[1]) if len(sys.argv) > 1 else 8081).start()
    print(r.url, flush=True)
    threading.Event().wait()
