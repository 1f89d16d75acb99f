#!/usr/bin/env python3
"""test_check_layers.py — the architecture checker finds what it must.

Builds small trees of C files (src/<module>/*.c) into objects with cc in a
temporary folder and runs tests/arch/check_layers.py on them: a clean tree
passes; a circle between two files, a circle round three, a call up to a
higher module and a call sideways between format/ and storage/ each fail
and are named with their symbols; an allow-listed edge (--allow) passes,
while any other symbol on the same edge still fails; an object whose
source is gone is ignored. Names: a global symbol without its module's
prefix (a function or a variable) fails and is named; `<module>__`
internals, static names and the prefixes of NAME_PREFIXES pass, and those
prefixes are printed; an entry that matches no symbol is named. JSON
loading: a file outside api/ and catalog/ that calls json_loads fails,
unless JSON_LOAD_ALLOWED names it. Prints "N passed, N failed" (tests/run.sh).
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_layers.py")
CC = os.environ.get("CC", "cc")
passed = failed = 0


def check(cond, what, out=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s\n---- checker output ----\n%s" % (what, out))


def tree(files):
    """files: {'util/a.c': source}. Returns (root, rc, output) of the checker."""
    root = tempfile.mkdtemp(prefix="arch-test-")
    for rel, text in files.items():
        src = os.path.join(root, "src", rel)
        obj = os.path.join(root, "obj", rel[:-2] + ".o")
        os.makedirs(os.path.dirname(src), exist_ok=True)
        os.makedirs(os.path.dirname(obj), exist_ok=True)
        with open(src, "w") as fh:
            fh.write(text)
        subprocess.run([CC, "-c", "-O0", "-o", obj, src], check=True)
    return root


def run(root, *extra):
    p = subprocess.run([sys.executable, CHECKER, "--obj", os.path.join(root, "obj"),
                        "--src", os.path.join(root, "src")] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return p.returncode, p.stdout


def fn(name, calls=()):
    decls = "".join("int %s(void);\n" % c for c in calls)
    body = " + ".join("%s()" % c for c in calls) or "0"
    return "%sint %s(void)\n{\n    return %s;\n}\n" % (decls, name, body)


def main():
    # a clean tree: util <- sql <- query, downward only
    root = tree({
        "util/u.c": fn("util_one"),
        "util/v.c": fn("util_two", ["util_one"]),
        "sql/s.c": fn("sql_one", ["util_two"]),
        "query/q.c": fn("query_one", ["sql_one", "util_one"]),
        "main.c": fn("main_one", ["query_one"]),
    })
    rc, out = run(root, "--graph", "--sizes")
    check(rc == 0 and "arch: 4 passed, 0 failed" in out, "a clean tree passes", out)
    check("util: u.c < v.c" in out, "--graph orders a module's files bottom up", out)
    check(re.search(r"\n +3 +[1-9][0-9]* +src/query/q\.c: query_one\n", out) is not None,
          "--sizes lists each function's lines and bytes of code", out)

    # an object whose source was moved away is ignored, not read
    os.remove(os.path.join(root, "src", "sql", "s.c"))
    rc, out = run(root)
    check("sql/s.o has no source any more; ignored" in out, "an orphaned object is named", out)

    # a circle of two files, with the symbols of both edges
    rc, out = run(tree({
        "sql/a.c": fn("sql_a", ["sql_b"]),
        "sql/b.c": fn("sql_b2") + fn("sql_b", ["sql_a"]),
    }))
    check(rc != 0 and "CIRCLE: sql/a.c sql/b.c" in out and "sql/a.c -> sql/b.c: sql_b" in out
          and "sql/b.c -> sql/a.c: sql_a" in out and "arch: 3 passed, 1 failed" in out,
          "a circle of two files fails with its symbols", out)

    # a circle round three files
    rc, out = run(tree({
        "query/x.c": fn("query__x", ["query__y"]),
        "query/y.c": fn("query__y", ["query__z"]),
        "query/z.c": fn("query__z", ["query__x"]),
        "query/w.c": fn("query_w", ["query__x"]),
    }))
    check(rc != 0 and "CIRCLE: query/x.c query/y.c query/z.c" in out and "query/w.c" not in
          out.split("CIRCLE:")[1].split("\n")[0], "a circle of three files fails, alone", out)

    # a call up: util calls sql
    rc, out = run(tree({
        "util/u.c": fn("util_one", ["sql_one"]),
        "sql/s.c": fn("sql_one"),
    }))
    check(rc != 0 and "util -> sql (UP)" in out and "FAIL: util calls up to sql (sql_one)" in out,
          "a call up to a higher module fails", out)

    # a call sideways: storage calls format (same rank)
    rc, out = run(tree({
        "storage/t.c": fn("storage_one", ["format_one"]),
        "format/f.c": fn("format_one"),
    }))
    check(rc != 0 and "storage -> format (sideways)" in out, "a call sideways fails", out)

    # the allow-listed ingest/ circle passes ...
    allowed = {
        "ingest/pipeline.c": fn("pipeline_new", ["ingest_check_intervals"]),
        "ingest/runtime.c": fn("ingest_check_intervals") + fn("ingest_run", ["pipeline_new"]),
    }
    allow = "--allow=ingest/pipeline.c:ingest/runtime.c:ingest_check_intervals"
    rc, out = run(tree(allowed), allow)
    check(rc == 0 and "allowed: ingest/pipeline.c ingest/runtime.c" in out,
          "the allow-listed circle passes and is still printed", out)
    # ... but not another symbol on the same edge
    allowed["ingest/pipeline.c"] = fn("pipeline_new", ["ingest_check_intervals", "ingest_other"])
    allowed["ingest/runtime.c"] += fn("ingest_other")
    rc, out = run(tree(allowed), allow)
    check(rc != 0 and "CIRCLE: ingest/pipeline.c ingest/runtime.c" in out,
          "a symbol not in the allow-list still closes the circle", out)
    # once the circle is gone, the entry is named as no longer needed
    rc, out = run(tree({"ingest/pipeline.c": fn("pipeline_new"),
                        "ingest/runtime.c": fn("ingest_run", ["pipeline_new"])}), allow)
    check(rc == 0 and "is no longer needed" in out, "a stale allow-list entry is named", out)

    # names: <module>_ and <module>__ pass, as do static names and the
    # prefixes of NAME_PREFIXES (printed with their count)
    rc, out = run(tree({
        "query/a.c": fn("query_run") + fn("query__ctx_new") +
                     "static int helper(void)\n{\n    return 1;\n}\nint query_h(void) { return helper(); }\n",
        "storage/s.c": fn("storage_open") + fn("rt_open"),
        "main.c": fn("main_one") + fn("main"),
    }))
    check(rc == 0 and "arch: 4 passed, 0 failed" in out, "names with their module's prefix pass", out)
    check(re.search(r"\n  storage/ +rt_ +1  kept: ", out) is not None,
          "an allowed prefix is printed with its count and reason", out)
    check("prefix quickstart_ of main matches no symbol any more" in out,
          "an allowed prefix that matches nothing is named", out)
    # ... a function or a variable without it fails, named with its file
    rc, out = run(tree({
        "storage/t.c": fn("storage_open") + fn("table_open") + "int open_count = 1;\n",
        "query/q.c": fn("qctx_new", ["storage_open"]),
        "main.c": fn("mainframe"),
    }))
    check(rc != 0 and "FAIL: src/storage/t.c defines table_open, which does not start with storage_"
          in out and "rename it storage_... (public) or storage__..." in out,
          "a function without its module's prefix fails", out)
    check("FAIL: src/storage/t.c defines open_count," in out, "a global variable is checked too", out)
    check("FAIL: src/query/q.c defines qctx_new," in out, "a q* name in query/ fails", out)
    check("FAIL: src/main.c defines mainframe," in out,
          "a prefix without an underscore (main) allows that one name only", out)
    check("arch: 3 passed, 1 failed" in out and "storage_open," not in out,
          "names are one check; good names are not named", out)

    # loading JSON text: in api/ and catalog/, and the allow-listed files; elsewhere it fails
    loads = "char *json_loads(const char *, unsigned long, void *);\n"
    rc, out = run(tree({
        "catalog/c.c": loads + "int catalog_load(void)\n{\n    return !!json_loads(\"1\", 0, 0);\n}\n",
        "source/source.c": loads + "int source_load(void)\n{\n    return !!json_loads(\"1\", 0, 0);\n}\n",
        "ingest/i.c": loads + "int ingest_load(void)\n{\n    return !!json_loads(\"1\", 0, 0);\n}\n",
    }))
    check(rc != 0 and "FAIL: src/ingest/i.c calls json_loads" in out and "catalog/c.c" not in out
          and "arch: 3 passed, 1 failed" in out,
          "an API document loaded outside api/ and catalog/ fails; catalog/ passes", out)
    check(re.search(r"\n  source/source.c +a source's own checkpoint offsets", out) is not None,
          "an allow-listed loader is printed with why", out)

    # no objects at all: a failure that says how to fix it
    empty = tempfile.mkdtemp(prefix="arch-test-")
    rc, out = run(empty)
    check(rc != 0 and "build them first" in out, "no objects fails with a fix", out)

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
