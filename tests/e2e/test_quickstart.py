"""
test_quickstart.py — `lodestar quickstart` (what `make quickstart` runs) end to
end with a small event count: exit 0, every produced event queryable, the
three SQL answers printed as tables, both children stopped, and the
temporary directory removed.
"""
import glob
import re
import subprocess

from harness import BIN, Checks

c = Checks()
before = set(glob.glob("/tmp/lodestar-quickstart-*"))
p = subprocess.run([BIN, "quickstart", "--events", "6000", "--rate", "20000"],
                   capture_output=True, timeout=120)
out = p.stdout.decode()
c.eq(p.returncode, 0, "quickstart exits 0")
m = re.search(r"(\d+) of (\d+) events queryable", out)
c.ok(m and m.group(1) == m.group(2) == "6000", "all 6000 events queryable", out[-800:])
for title in ("Edits and characters added per channel", "Most edited pages by people",
              "Anonymous edits by country"):
    c.ok(title in out, f"prints '{title}'")
c.ok("#en.wikipedia" in out, "the channel table has rows")
c.ok("server stopped, broker stopped." in out, "stops both children")
c.eq(set(glob.glob("/tmp/lodestar-quickstart-*")) - before, set(), "temporary directory removed")
bad = subprocess.run([BIN, "quickstart", "--events", "0"], capture_output=True, timeout=30)
c.eq(bad.returncode, 2, "a bad argument is refused")
c.done()
