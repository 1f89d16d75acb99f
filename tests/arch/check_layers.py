#!/usr/bin/env python3
"""check_layers.py — files call downward only (issue 12, item 5).

Reads the objects of the build (build/obj/**/*.o, one per src/**/*.c) with
`nm`, and builds the file-level graph "file A uses a symbol that file B
defines" (A's undefined symbols, `nm -u`, against every file's defined
globals, `nm -g --defined-only`). Then three checks:

  circles   every strongly connected component of more than one file is a
            circle: it is printed with, for each edge inside it, the symbols
            that make the edge. A circle fails the check unless all the
            edges that close it are in ALLOWED_EDGES below.
  layers    every call from one module (src/<module>/) to another must go
            down the order in LAYERS (the module table of
            docs/ARCHITECTURE.md). A call up or sideways (between two
            modules of the same rank) fails the check unless it is in
            ALLOWED_UPCALLS.
  names     every global symbol a file of src/<module>/ defines starts with
            `<module>_`: `<module>_` for the module's public names,
            `<module>__` for what its files share (libuv's uv_/uv__);
            the files at the top of src/ (main.c, quickstart.c, ...) are module `main`. The prefixes
            that remain besides are in NAME_PREFIXES below, each with its
            reason, and are printed; a symbol with any other prefix fails.

It prints "arch: N passed, N failed" last (tests/run.sh adds that up) and
exits non-zero when a check failed.

  python3 tests/arch/check_layers.py              the two checks
  python3 tests/arch/check_layers.py --sizes      also the largest files
                                                  and functions (for notes)
  python3 tests/arch/check_layers.py --graph      also every module edge and
                                                  the symbols that make it
  --obj DIR   the objects to read (default build/obj); --src DIR (default src)

Only objects whose source file still exists are read (a moved file leaves
its old .o behind in build/); an object older than its source is named, as
the graph may then be out of date (run `make _all` first).
Python 3 standard library only; needs binutils' nm.
"""
import argparse
import os
import re
import subprocess
import sys

# The module order of docs/ARCHITECTURE.md, lowest first: a module may call
# only modules of a lower rank. format, source and storage share a rank and
# must not call one another. `main` is the files at the top of src/.
LAYERS = [
    ("util",),
    ("sketch",),
    ("sql",),
    ("format", "source", "storage"),
    ("query",),
    ("catalog",),
    ("ingest",),
    ("api",),
    ("main",),
]
RANK = {m: i for i, group in enumerate(LAYERS) for m in group}

# Edges (from file, to file) -> the symbols allowed to close a circle over
# that edge. Each entry is a debt with an owner; delete it when it is paid.
ALLOWED_EDGES = {}   # none today

# Calls up (or sideways) between modules that are known and accepted:
# (from module, to module) -> symbols. Empty: there are none today.
ALLOWED_UPCALLS = {}


# Prefixes a module's global symbols may have besides `<module>_`, each with
# why: {module: {prefix: reason}}. Kept: small libraries inside a module with
# a header and a prefix of their own (Redis's sds, dict). Debts: names to
# rename to `<module>_`/`<module>__`; delete the entry with the rename (the
# check says when an entry matches no symbol any more).
NAME_PREFIXES = {
    "util": {
        "arena_": "kept: arenas (util.h)",
        "buf_": "kept: capped buffers (util.h)",
        "lerr_": "kept: the error struct (util.h)",
        "log_": "kept: logging (util.h)",
        "mem_": "kept: memory budgets and pools (budget.h)",
        "map_": "kept: the hash map (map.h)",
        "vec_": "kept: growable arrays (vec.h)",
        "wikigen_": "kept: the Wikipedia event generator (wikigen.h)",
        "civil_": "kept: the civil calendar (time.h)",
        "tz_": "kept: time zones (time.h)",
        "time_": "kept: ISO-8601 timestamps, shift/floor/ceil, units (time.h)",
        "period_": "kept: ISO-8601 periods (time.h)",
        "joda_": "kept: Joda patterns (time.h)",
        "s3_": "kept: the S3 client (s3.h)",
    },
    "storage": {
        "rt_": "kept: the realtime buffer (storage_int.h)",
        "segstore_": "kept: the segment store (segstore.h)",
    },
    "format": {
    },
    "source": {
        "pushreg_": "kept: the registry of push logs (pushreg.h)",
    },
    "ingest": {
        "pipeline_": "kept: the row pipeline (pipeline.h)",
    },
    "api": {
        "multipart_": "kept: the multipart reader (multipart.h)",
    },
    "main": {
        "main": "kept: the program's entry point",
        "quickstart_": "kept: `lodestar quickstart` (quickstart.c)",
    },
}


def run_nm(paths):
    """{path: (defined set, undefined set)} of the global symbols of every object, from
    one nm run (one process per object file took most of this check's time)."""
    out = {p: (set(), set()) for p in paths}
    if not paths:
        return out
    text = subprocess.run(["nm", "-P", "-g", "-A"] + paths, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True).stdout
    for line in text.splitlines():
        path, sep, rest = line.partition(": ")
        parts = rest.split()
        if not sep or path not in out or len(parts) < 2:
            continue
        # U and w/v without a value are what the object needs; every other type it defines
        undefined = parts[1] == "U" or (parts[1] in ("w", "v") and len(parts) < 3)
        out[path][1 if undefined else 0].add(parts[0])
    return out


def load_objects(obj_dir, src_dir):
    """{file: (defined set, undefined set)}, file as 'module/name.c'."""
    files, stale, orphans, objs = {}, [], [], {}
    for root, _, names in os.walk(obj_dir):
        for n in sorted(names):
            if not n.endswith(".o"):
                continue
            obj = os.path.join(root, n)
            rel = os.path.relpath(obj, obj_dir)[:-2] + ".c"
            src = os.path.join(src_dir, rel)
            if not os.path.exists(src):
                orphans.append(rel)
                continue
            if os.path.getmtime(obj) < os.path.getmtime(src):
                stale.append(rel)
            objs[obj] = rel
    for obj, syms in run_nm(sorted(objs)).items():
        files[objs[obj]] = syms
    return files, stale, orphans


def module_of(f):
    return f.split("/", 1)[0] if "/" in f else "main"


def build_graph(files):
    """{(a, b): set of symbols}: a uses symbols b defines (a != b)."""
    owner = {}
    for f, (defined, _) in files.items():
        for s in defined:
            owner.setdefault(s, f)
    edges = {}
    for f, (_, undefined) in files.items():
        for s in undefined:
            g = owner.get(s)
            if g is not None and g != f:
                edges.setdefault((f, g), set()).add(s)
    return edges


def sccs(nodes, edges):
    """Tarjan's algorithm, iterative; components of more than one node."""
    succ = {n: [] for n in nodes}
    for (a, b) in edges:
        succ[a].append(b)
    for n in succ:
        succ[n].sort()
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(succ[v])):
                w = succ[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return sorted(out)


def print_circle(comp, edges, indent="    "):
    members = set(comp)
    for (a, b) in sorted(edges):
        if a in members and b in members:
            print("%s%s -> %s: %s" % (indent, a, b, ", ".join(sorted(edges[(a, b)]))))


def check_circles(files, edges):
    """Prints every circle; returns the number that are not allowed."""
    all_circles = sccs(files.keys(), edges)
    # The same graph without the allowed symbols: what must have no circle.
    rest = {}
    for e, syms in edges.items():
        left = syms - ALLOWED_EDGES.get(e, set())
        if left:
            rest[e] = left
    bad = sccs(files.keys(), rest)
    print("circles between files: %d (%d once the allow-list is applied)" % (len(all_circles), len(bad)))
    for comp in all_circles:
        tag = "allowed" if not any(set(comp) >= set(c) for c in bad) else "CIRCLE"
        print("  %s: %s" % (tag, " ".join(comp)))
        print_circle(comp, edges)
    for e, syms in sorted(ALLOWED_EDGES.items()):
        used = edges.get(e, set()) & syms
        if not used:
            print("  note: allow-list entry %s -> %s (%s) is no longer needed; delete it from %s"
                  % (e[0], e[1], ", ".join(sorted(syms)), os.path.relpath(__file__)))
    for comp in bad:
        print("FAIL: circle between %s; move the functions that close it (listed above) so "
              "that every file calls downward, see docs/ARCHITECTURE.md" % ", ".join(comp))
    return len(bad)


def check_layers(edges, verbose):
    """Prints calls between modules that go up or sideways; returns how many
    are not allowed."""
    mod_edges = {}
    for (a, b), syms in edges.items():
        ma, mb = module_of(a), module_of(b)
        if ma != mb:
            mod_edges.setdefault((ma, mb), {}).setdefault((a, b), set()).update(syms)
    order = " < ".join("/".join(g) for g in LAYERS)
    print("module layers: %s" % order)
    bad = 0
    for (ma, mb), per_file in sorted(mod_edges.items()):
        if ma not in RANK or mb not in RANK:
            print("FAIL: module %s is not in LAYERS of %s; add it where docs/ARCHITECTURE.md "
                  "puts it" % (ma if ma not in RANK else mb, os.path.relpath(__file__)))
            bad += 1
            continue
        down = RANK[mb] < RANK[ma]
        allowed = ALLOWED_UPCALLS.get((ma, mb), set())
        syms = set().union(*per_file.values())
        if verbose or not down:
            kind = "down" if down else ("sideways" if RANK[mb] == RANK[ma] else "UP")
            print("  %s -> %s (%s)" % (ma, mb, kind))
            for (a, b), s in sorted(per_file.items()):
                print("    %s -> %s: %s" % (a, b, ", ".join(sorted(s))))
        if not down and not syms <= allowed:
            print("FAIL: %s calls %s %s (%s); %s may call only modules below it: move the "
                  "code down or change the layers in docs/ARCHITECTURE.md and here together"
                  % (ma, "up to" if RANK[mb] > RANK[ma] else "sideways into", mb,
                     ", ".join(sorted(syms - allowed)), ma))
            bad += 1
    return bad


def check_names(files):
    """Prints the naming rule, the prefixes allowed besides it and the
    symbols that follow neither; returns how many symbols fail."""
    print("names: every global symbol of src/<module>/ starts with <module>_ "
          "(public) or <module>__ (shared by the module's files); besides "
          "(module, prefix, symbols, why):")
    used = {}
    bad = []
    for f, (defined, _) in sorted(files.items()):
        m = module_of(f)
        extra = NAME_PREFIXES.get(m, {})
        for sym in sorted(defined):
            if sym.startswith(m + "_"):
                continue
            # "x_" is a prefix; a name without the underscore ("main") is one symbol.
            hit = next((p for p in sorted(extra, key=len, reverse=True)
                        if sym == p or (p.endswith("_") and sym.startswith(p))), None)
            if hit is None:
                bad.append((f, sym))
            else:
                used[(m, hit)] = used.get((m, hit), 0) + 1
    for m in sorted(NAME_PREFIXES, key=lambda m: (RANK.get(m, 99), m)):
        for p, why in sorted(NAME_PREFIXES[m].items()):
            n = used.get((m, p), 0)
            print("  %-9s %-11s %3d  %s" % (m + "/", p, n, why))
            if not n and any(module_of(f) == m for f in files):
                print("  note: prefix %s of %s matches no symbol any more; delete it from "
                      "NAME_PREFIXES in %s" % (p, m, os.path.relpath(__file__)))
    for f, sym in bad:
        m = module_of(f)
        print("FAIL: src/%s defines %s, which does not start with %s_ (the module's prefix); "
              "rename it %s_... (public) or %s__... (shared by %s's files), or make it static"
              % (f, sym, m, m, m, m))
    return len(bad)


# Loading JSON text is for API documents, and those are read in api/ and
# catalog/ only (catalog/spec.c's parsers): other modules take typed specs
# or a parsed json_t. Files elsewhere that load JSON of their own kind:
JSON_LOADERS = ("json_loads", "json_loadb", "json_loadf", "json_loadfd", "json_load_file",
                "json_load_callback")
JSON_LOAD_ALLOWED = {
    "source/source.c": "a source's own checkpoint offsets (source_offsets_from_json)",
    "source/kafka.c": "librdkafka's statistics document (the brokers' state)",
    "source/kinesis_json.c": "the Kinesis JSON API's responses (ListShards, GetRecords...)",
    "quickstart.c": "the quickstart is a client: it reads the API's responses",
    "cluster_cli.c": "`lodestar cluster status` is a client: it reads GET /v1/cluster",
    "format/avro.c": "Avro schemas (their logicalType annotations, beside avro-c's parse)",
    "format/registry.c": "a schema registry's answers (GET /schemas/ids/{id})",
}


def check_json_loads(files):
    """Files outside api/ and catalog/ that load JSON text; returns how many
    are not in JSON_LOAD_ALLOWED."""
    print("json: API documents are loaded in api/ and catalog/ only; elsewhere (file, why):")
    bad = []
    for f, (_, undefined) in sorted(files.items()):
        used = sorted(undefined.intersection(JSON_LOADERS))
        if not used or module_of(f) in ("api", "catalog"):
            continue
        if f in JSON_LOAD_ALLOWED:
            print("  %-18s %s" % (f, JSON_LOAD_ALLOWED[f]))
        else:
            bad.append((f, used))
    for f, used in bad:
        print("FAIL: src/%s calls %s: API documents are parsed in catalog/ (catalog/spec.h) or "
              "api/; take a typed spec or a parsed json_t instead, or, for JSON that is not an "
              "API document, add the file to JSON_LOAD_ALLOWED in %s saying what it reads"
              % (f, ", ".join(used), os.path.relpath(__file__)))
    return len(bad)


def print_levels(files, edges):
    """Each module's files bottom up: level 0 calls no file of its module,
    level n calls files of lower levels only (the files of a circle are
    not ordered among themselves)."""
    comp = {}
    for c in sccs(files.keys(), edges):
        for f in c:
            comp[f] = c[0]
    level = {}

    def lv(f, seen=()):
        if f in level:
            return level[f]
        deps = [b for (a, b) in edges if comp.get(a, a) == comp.get(f, f) and
                module_of(b) == module_of(f) and comp.get(b, b) != comp.get(f, f)]
        level[f] = 1 + max((lv(b) for b in deps), default=-1)
        return level[f]
    print("files of each module, bottom up (a file calls files of lower levels only):")
    for m in sorted({module_of(f) for f in files}, key=lambda m: (RANK.get(m, 99), m)):
        fs = sorted((lv(f), f) for f in files if module_of(f) == m)
        rows = {}
        for n, f in fs:
            rows.setdefault(n, []).append(os.path.basename(f))
        print("  %s: %s" % (m, " < ".join(", ".join(v) for _, v in sorted(rows.items()))))


SIGNATURE = re.compile(r"^(?:[A-Za-z_][^=;(]*?\b)?([A-Za-z_]\w*)\s*\(")
# A function defined through a macro, such as sql/'s EVAL(name): the name is
# the macro's argument.
MACRO_SIGNATURE = re.compile(r"^([A-Z][A-Z0-9_]*)\(\s*([A-Za-z_]\w*)\s*\)\s*$")


def source_functions(path):
    """[(lines, name)] of the functions in a C file, in the house layout: the
    body's braces in column 0, the name on the last line before the '{' that
    starts in column 0 (the parameters may go on over indented lines)."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().split("\n")
    start, name = None, None
    for i, line in enumerate(lines):
        if start is None and line.startswith("{"):
            j = i - 1
            while j >= 0 and lines[j][:1] in (" ", "\t"):
                j -= 1
            m = SIGNATURE.match(lines[j]) if j >= 0 else None
            if m:
                mm = MACRO_SIGNATURE.match(lines[j])
                start, name = i, mm.group(2) if mm else m.group(1)
        elif start is not None and line.startswith("}"):
            out.append((i - start + 1, name))
            start, name = None, None
    return out


def print_sizes(files, obj_dir, src_dir, top):
    rows = []
    for f in files:
        with open(os.path.join(src_dir, f), encoding="utf-8", errors="replace") as fh:
            rows.append((sum(1 for _ in fh), f))
    rows.sort(reverse=True)
    print("largest files (lines):")
    for n, f in rows[:top]:
        print("  %6d  src/%s" % (n, f))
    code = {}
    objs = {os.path.join(obj_dir, f[:-2] + ".o"): f for f in files}
    text = subprocess.run(["nm", "-P", "-S", "-A", "--defined-only"] + sorted(objs), check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True).stdout if objs else ""
    for line in text.splitlines():
        path, _, rest = line.partition(": ")
        parts = rest.split()
        if path in objs and len(parts) >= 4 and parts[1] in "Tt":
            code[(objs[path], parts[0])] = int(parts[3], 16)
    funcs = []
    for f in files:
        for n, name in source_functions(os.path.join(src_dir, f)):
            funcs.append((n, name, f, code.get((f, name))))
    funcs.sort(key=lambda r: (-r[0], r[2], r[1]))
    print("largest functions (lines in the source; bytes of code in %s, '-' when inlined):" % obj_dir)
    for n, name, f, size in funcs[:top]:
        print("  %6d  %7s  src/%s: %s" % (n, "-" if size is None else size, f, name))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--obj", default="build/obj")
    ap.add_argument("--src", default="src")
    ap.add_argument("--sizes", action="store_true", help="print the largest files and functions")
    ap.add_argument("--top", type=int, default=20, help="how many of each with --sizes")
    ap.add_argument("--graph", action="store_true", help="print every module edge")
    ap.add_argument("--allow", action="append", default=[], metavar="FROM:TO:SYMBOL",
                    help="also allow SYMBOL to close a circle over the edge FROM -> TO "
                         "(files relative to src/; for tests of the checker)")
    a = ap.parse_args()
    for spec in a.allow:
        frm, to, sym = spec.split(":")
        ALLOWED_EDGES.setdefault((frm, to), set()).add(sym)
    if not os.path.isdir(a.obj) or not any(n.endswith(".o") for _, _, ns in os.walk(a.obj) for n in ns):
        print("FAIL: no objects under %s; build them first (make _all)" % a.obj)
        print("arch: 0 passed, 1 failed")
        return 1
    files, stale, orphans = load_objects(a.obj, a.src)
    for f in orphans:
        print("note: %s/%s.o has no source any more; ignored" % (a.obj, f[:-2]))
    for f in stale:
        print("warning: %s/%s.o is older than src/%s; run make _all for a true graph"
              % (a.obj, f[:-2], f))
    missing = []
    for root, _, names in os.walk(a.src):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), a.src)
            if n.endswith(".c") and rel not in files:
                missing.append(rel)
    for f in sorted(missing):
        print("warning: src/%s has no object in %s; run make _all for a true graph" % (f, a.obj))
    edges = build_graph(files)
    print("files: %d, edges between files: %d" % (len(files), len(edges)))
    failed = passed = 0
    for check in (lambda: check_circles(files, edges), lambda: check_layers(edges, a.graph),
                  lambda: check_names(files), lambda: check_json_loads(files)):
        n = check()
        failed += 1 if n else 0
        passed += 0 if n else 1
    if a.graph:
        print_levels(files, edges)
    if a.sizes:
        print_sizes(files, a.obj, a.src, a.top)
    print("arch: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
