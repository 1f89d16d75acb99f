"""
test_console.py — the web console in a real browser: Debian's headless
Chromium driven by puppeteer-core (tests/e2e/console/console_test.js)
against a real `lodestar serve` and `lodestar dev-kafka`. Screenshots of
each page go to build/console-screenshots/.

Also checks how /console is served over plain HTTP: without a key, with
Content-Type, ETag (304 on If-None-Match), cache headers by file kind, a
Content Security Policy on the page, 404 for an unknown file and 405 for
other methods; and that /console's neighbours (/consolex) stay API paths.

The browser part is skipped (with a message) only when no chromium is on
PATH; `make deps` installs it and puppeteer-core (scripts/deps.sh).
"""
import os
import shutil
import subprocess
import sys
import urllib.request

from harness import ROOT, Checks, DevKafka, Server

c = Checks()
HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "console")
SHOTS = os.path.join(ROOT, "build", "console-screenshots")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def get(s, path, headers=None, method="GET"):
    r = urllib.request.Request(s.url(path), method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


with DevKafka(topics=["clicks:2"]) as broker, Server() as s:
    # ---- serving, without a key ----
    st, body, hd = get(s, "/console")
    c.eq(st, 200, "GET /console without a key")
    c.eq(hd.get("Content-Type"), "text/html; charset=utf-8", "the page's Content-Type")
    c.ok(b"<title>Lodestar console</title>" in body, "the page is the console's")
    c.eq(hd.get("Cache-Control"), "no-cache", "the page is revalidated on each load")
    c.ok("default-src 'none'" in hd.get("Content-Security-Policy", "") and
         "connect-src 'self'" in hd.get("Content-Security-Policy", ""), "a same-origin CSP",
         hd.get("Content-Security-Policy"))
    c.eq(hd.get("X-Content-Type-Options"), "nosniff", "nosniff")
    st2, body2, _ = get(s, "/console/")
    c.ok(st2 == 200 and body2 == body, "/console/ is the same page")
    etag = hd.get("ETag", "")
    c.ok(etag.startswith('"') and len(etag) == 18, "a strong ETag", etag)
    st, body, _ = get(s, "/console", {"If-None-Match": etag})
    c.ok(st == 304 and body == b"", "304 when the page is unchanged", st)
    st, body, hd = get(s, "/console/app.js")
    c.ok(st == 200 and hd.get("Content-Type") == "text/javascript; charset=utf-8", "a script's type",
         hd.get("Content-Type"))
    c.ok("Content-Security-Policy" not in hd, "no CSP on a script")
    st, body, hd = get(s, "/console/console.css")
    c.eq(hd.get("Content-Type"), "text/css; charset=utf-8", "a stylesheet's type")
    st, body, hd = get(s, "/console/vendor/uPlot-1.6.32.iife.min.js")
    c.ok(st == 200 and len(body) > 40000, "the charting library is embedded", len(body))
    c.eq(hd.get("Cache-Control"), "public, max-age=31536000, immutable",
         "versioned vendor files are cached for a year")
    # every file of web/console is served byte for byte as committed (the binary is up to date)
    web = os.path.join(ROOT, "web", "console")
    stale = []
    for d, dirs, names in os.walk(web):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for n in names:
            if n.startswith(".") or n.endswith("~"):
                continue
            rel = os.path.relpath(os.path.join(d, n), web).replace(os.sep, "/")
            with open(os.path.join(d, n), "rb") as f:
                want = f.read()
            st, got, _ = get(s, "/console/" + rel)
            if st != 200 or got != want:
                stale.append(f"{rel} ({st}, {len(got)} bytes, want {len(want)})")
    c.ok(not stale, "each file of web/console is embedded as it is", stale)
    st, body, hd = get(s, "/console/vendor/LICENSE-codemirror.txt")
    c.ok(st == 200 and b"Permission is hereby granted" in body,
         "the libraries' licenses are served with them")
    st, body, hd = get(s, "/console/nope.js")
    c.ok(st == 404 and b"/console/" in body, "404 for an unknown console file", st)
    st, body, hd = get(s, "/console/app.js", method="HEAD")
    c.ok(st == 200 and body == b"" and int(hd.get("Content-Length", "0")) > 1000, "HEAD: headers only",
         hd.get("Content-Length"))
    st, body, hd = get(s, "/console/app.js", method="POST")
    c.ok(st == 405 and hd.get("Allow") == "GET, HEAD", "405 for POST, with Allow", st)
    st, body, hd = get(s, "/console/../v2/tables")
    c.ok(st in (401, 404), "no way from /console into the API without a key", st)
    st, body, hd = get(s, "/consolex")
    c.eq(st, 401, "/consolex is an API path (a key is needed)")

    # ---- the browser ----
    node_ok = os.path.isdir(os.path.join(NODE_DIR, "node_modules", "puppeteer-core"))
    if not CHROMIUM:
        print("SKIP the browser part: no chromium on PATH (`make deps` installs Debian's chromium)")
    elif not c.ok(node_ok, "puppeteer-core is installed",
                  "no tests/e2e/console/node_modules: run `make deps` (npm ci in tests/e2e/console)"):
        pass
    else:
        shutil.rmtree(SHOTS, ignore_errors=True)
        env = dict(os.environ, LODESTAR_URL=s.url(""), LODESTAR_KEY=s.key,
                   KAFKA_BOOTSTRAP=broker.bootstrap, CHROMIUM=CHROMIUM, SHOTS=SHOTS)
        p = subprocess.run(["node", os.path.join(NODE_DIR, "console_test.js")], cwd=NODE_DIR, env=env,
                           capture_output=True, text=True, timeout=600)
        out = p.stdout + p.stderr
        for line in out.splitlines():
            if line.startswith("ok   "):
                c.ok(True, "browser: " + line[5:])
            elif line.startswith("FAIL "):
                c.ok(False, "browser: " + line[5:])
        c.ok(p.returncode == 0, "the browser run ended cleanly", out[-3000:])
        shots = sorted(os.listdir(SHOTS)) if os.path.isdir(SHOTS) else []
        c.ok(len(shots) >= 12, "a screenshot of each page in build/console-screenshots", shots)
c.done()
