"""
test_package.py — packaging: `make install` into a DESTDIR (binary, gzipped man page, systemd
unit pointing at the installed binary), and the Debian package `make deb` builds (scripts/deb.sh)
installed with dpkg into a temporary root (dpkg --root: its own package database there; the
maintainer scripts run with DPKG_ROOT) — dpkg lists its files and its dependencies are the
libraries the binary links — then the installed binary started from there answers /health and a
query.
"""
import gzip
import os
import shutil
import subprocess
import tempfile
import urllib.request

from harness import ROOT, Checks, free_port, wait_port

c = Checks()
BIN = os.path.join(ROOT, "build", "lodestar")


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, cwd=ROOT, timeout=300, **kw)


if not (shutil.which("dpkg-deb") and shutil.which("dpkg") and os.path.exists(BIN)):
    print("test_package: dpkg or build/lodestar missing")
    c.ok(False, "dpkg-deb, dpkg and build/lodestar are here")
    c.done()

# ---- make install DESTDIR=... PREFIX=/opt/ls ----
dest = tempfile.mkdtemp(prefix="lodestar-install-")
r = sh("make", "--no-print-directory", "install", f"DESTDIR={dest}", "PREFIX=/opt/ls")
c.eq(r.returncode, 0, "make install into a DESTDIR")
c.ok(os.access(os.path.join(dest, "opt/ls/bin/lodestar"), os.X_OK), "the binary, executable")
man = os.path.join(dest, "opt/ls/share/man/man1/lodestar.1.gz")
c.ok(os.path.exists(man) and gzip.open(man).read().startswith(b".TH LODESTAR 1"),
     "the man page, gzipped")
unit = os.path.join(dest, "opt/ls/lib/systemd/system/lodestar.service")
text = open(unit).read() if os.path.exists(unit) else ""
c.ok("ExecStart=/opt/ls/bin/lodestar serve" in text and "User=lodestar" in text and
     "StateDirectory=lodestar" in text, "the systemd unit runs the installed binary", text[:300])
shutil.rmtree(dest, ignore_errors=True)

# ---- make deb, installed into a temporary root ----
r = sh("bash", "scripts/deb.sh")
deb = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
c.ok(deb.endswith(".deb") and os.path.exists(os.path.join(ROOT, deb)), "make deb builds a package",
     f"rc={r.returncode} stderr={r.stderr[-500:]!r}")
if deb:
    info = sh("dpkg-deb", "-f", deb, "Package", "Version", "Depends").stdout
    c.ok("Package: lodestar" in info and "libmicrohttpd" in info and "librdkafka" in info and
         "libsqlite3" in info, "its control file names the libraries it links", info)
    root = tempfile.mkdtemp(prefix="lodestar-root-")
    os.makedirs(os.path.join(root, "var/lib/dpkg/info"))
    os.makedirs(os.path.join(root, "var/lib/dpkg/updates"))
    open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
    r = sh("dpkg", f"--root={root}", "--force-depends", "--force-not-root",
           "--force-script-chrootless", "--log=/dev/null", "-i", deb)
    c.ok(r.returncode == 0, "dpkg --root installs it", r.stdout[-500:] + r.stderr[-500:])
    st = sh("dpkg", f"--root={root}", "-s", "lodestar").stdout
    c.ok("Status: install ok installed" in st, "dpkg says it is installed", st[:300])
    files = sh("dpkg", f"--root={root}", "-L", "lodestar").stdout.split()
    c.ok("/usr/bin/lodestar" in files and "/lib/systemd/system/lodestar.service" in files and
         "/usr/share/man/man1/lodestar.1.gz" in files, "its files", files)
    data = os.path.join(root, "var/lib/lodestar")
    c.ok(os.path.isdir(data) and (os.stat(data).st_mode & 0o777) == 0o700,
         "postinst made the data directory, 0700")
    # the installed binary runs
    port = free_port()
    proc = subprocess.Popen([os.path.join(root, "usr/bin/lodestar"), "serve", "--data-dir", data,
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        c.ok(wait_port(port), "the installed server listens")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as resp:
            c.eq(resp.status, 200, "and answers /health")
        key = open(os.path.join(data, "admin.key")).read().strip()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/query/sql",
                                     data=b'{"query": "SELECT 1 + 1 AS two"}', method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer " + key})
        with urllib.request.urlopen(req, timeout=10) as resp:
            c.ok(b'"two":2' in resp.read().replace(b" ", b""), "and a query")
    finally:
        proc.terminate()
        c.eq(proc.wait(timeout=30), 0, "it stops cleanly on SIGTERM")
    r = sh("dpkg", f"--root={root}", "--force-not-root", "--force-script-chrootless",
           "--log=/dev/null", "-r", "lodestar")
    c.ok(r.returncode == 0 and not os.path.exists(os.path.join(root, "usr/bin/lodestar")),
         "dpkg -r removes it", r.stderr[-300:])
    c.ok(os.path.exists(os.path.join(data, "admin.key")), "and keeps the data")
    shutil.rmtree(root, ignore_errors=True)

c.done()
