"""
pg.py — a real PostgreSQL for the end-to-end tests (the Python twin of
tests/unit/pg_harness.h): Debian's postgresql package (make deps), its
binaries found by globbing /usr/lib/postgresql/<version>/bin (the highest
version), a cluster made with initdb in a temporary directory and started
with pg_ctl on a free loopback port (its socket in the same directory),
stopped and removed after. initdb refuses to run as root: as root (here and
in CI) every PostgreSQL command runs as the `postgres` system user the
package creates, the directory chowned to it; otherwise as the current user.
Trust authentication for the user `lodestar`, on 127.0.0.1 only.

    from pg import Postgres
    with Postgres() as pg:
        uri = pg.createdb("lodestar")   # postgresql://lodestar@127.0.0.1:PORT/lodestar
        pg.restart()                    # every connection drops
        cat = Catalog(pg, "lodestar")   # what the servers sharing it have committed
"""
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile

import time

from harness import free_port


def find_bin():
    """The highest /usr/lib/postgresql/N/bin with initdb, or a RuntimeError saying what to do."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql "
                           "package (make deps)")
    best = max(found, key=lambda p: int(re.search(r"/postgresql/(\d+)/", p).group(1)))
    return os.path.dirname(best)


class Postgres:
    def __init__(self):
        self.bin = find_bin()
        self.dir = None
        self.port = None
        self.running = False
        self.as_user = None
        if os.getuid() == 0:
            try:
                self.as_user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and there is no 'postgres' user to run "
                                   "PostgreSQL as (initdb refuses root): install Debian's "
                                   "postgresql package, which creates it")

    def _run(self, prog, *args):
        # In our own directory: the postgres user may not enter the caller's (a clone under a
        # private /tmp/xxx), and psql would print that ahead of the rows it is asked for.
        kw = {"cwd": self.dir}
        if self.as_user:
            kw.update(user=self.as_user.pw_uid, group=self.as_user.pw_gid, extra_groups=[])
        p = subprocess.run([os.path.join(self.bin, prog), *args], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, **kw)
        if p.returncode != 0:
            raise RuntimeError(f"{prog} {' '.join(args)} failed ({p.returncode}): "
                               + p.stdout.decode(errors="replace")[-2000:])
        return p.stdout.decode(errors="replace")

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def log(self):
        return os.path.join(self.dir, "server.log")

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="lodestar-pg-")
        if self.as_user:
            os.chown(self.dir, self.as_user.pw_uid, self.as_user.pw_gid)
        self._run("initdb", "-D", self.data, "-U", "lodestar", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "-N")
        for attempt in range(3):  # another program may take the free port first
            self.port = free_port()
            opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c full_page_writes=off")
            try:
                self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t",
                          "60", "start")
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self.running = True
        return self

    def uri(self, db):
        return f"postgresql://lodestar@127.0.0.1:{self.port}/{db}"

    def createdb(self, db):
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "lodestar", db)
        return self.uri(db)

    def psql(self, db, sql):
        """One statement through psql; its rows, unaligned, '|' between columns."""
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "lodestar",
                         "-d", db, "-Atc", sql).strip()

    def restart(self):
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-m", "fast", "-w", "-t", "60",
                  "restart")

    def stop(self):
        if self.running:
            try:
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            finally:
                self.running = False
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class Catalog:
    """What the Lodestar catalog in a database of a Postgres holds, read with psql: where the
    servers that share it meet (every node's commits and leases), for the cluster tests."""

    def __init__(self, pg, db):
        self.pg = pg
        self.db = db

    def sql(self, sql):
        return self.pg.psql(self.db, sql)

    def committed_rows(self, table):
        """Rows of the table's committed segments."""
        return int(self.sql("SELECT COALESCE(sum(rows), 0) FROM segment "
                            f"WHERE table_name = '{table}'"))

    def segment_files(self, table):
        """The names of the table's committed segment files."""
        return {os.path.basename(p) for p in
                self.sql(f"SELECT path FROM segment WHERE table_name = '{table}'").splitlines()}

    def committed_offsets(self, table, topic):
        """The sum over the topic's partitions of the table's checkpoint offsets."""
        text = self.sql(f"SELECT offsets FROM checkpoint WHERE table_name = '{table}'")
        parts = json.loads(text).get(topic, {}) if text else {}
        return sum(v if isinstance(v, int) else v[0] for v in parts.values())

    def lease_holders(self, table):
        """node id -> the partitions it holds a live lease of."""
        out = {}
        now_ns = time.time_ns()
        for line in self.sql("SELECT node_id, part, expires_ns FROM lease "
                             f"WHERE table_name = '{table}'").splitlines():
            node, part, exp = line.split("|")
            if node and int(exp) > now_ns:
                out.setdefault(node, []).append(part)
        return out
