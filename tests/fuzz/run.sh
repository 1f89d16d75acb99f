#!/usr/bin/env bash
# Builds every libFuzzer target tests/fuzz/fuzz_<name>.c with clang
# (-fsanitize=fuzzer,address,undefined) against the sources it names in a
# first-line comment "// SOURCES: src/a.c src/b.c" (shell patterns such as
# src/sql/*.c too, so that a file added to a module is built), and runs each for
# FUZZ_SECONDS (default 5) over its corpus tests/fuzz/corpus/<name>/, as many
# targets (and compiles) at a time as there are cores, or FUZZ_JOBS.
# Skips (and says so) when clang's libFuzzer runtime is missing.
# Prints "N passed, N failed": one per target.
set -u
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-5}
OUT=build/fuzz; mkdir -p "$OUT"
pass=0; fail=0
if ! echo 'int LLVMFuzzerTestOneInput(const unsigned char*d,unsigned long n){(void)d;(void)n;return 0;}' \
     | clang -x c -fsanitize=fuzzer - -o "$OUT/.probe" 2>/dev/null; then
  echo "fuzz: clang with libFuzzer not available; skipped"
  echo "0 passed, 0 failed"; exit 0
fi
PKG_CFLAGS=$(pkg-config --cflags libmicrohttpd jansson sqlite3 rdkafka 2>/dev/null)
PKG_LIBS="$(pkg-config --libs jansson sqlite3 libcrypto zlib liblz4 libzstd avro-c libprotobuf-c 2>/dev/null) -lroaring -lcurl"
CFLAGS_FUZZ="-std=c11 -D_GNU_SOURCE -g -O1 -Isrc $PKG_CFLAGS -fno-sanitize-recover=undefined"
jobs_max=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
# Every source any target names is compiled once (instrumented for coverage, ASan and UBSan),
# then each target links the objects it names: the targets share most of their sources, and
# compiling them per target was most of this run's time.
srcs_of() { head -n 1 "$1" | sed -n 's#^// SOURCES: ##p'; }
obj_of() { local o=${1#src/}; echo "$OUT/obj/${o%.c}.o"; }
compile_one() {
  local src=$1 obj; obj=$(obj_of "$src"); mkdir -p "$(dirname "$obj")"
  clang $CFLAGS_FUZZ -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$obj" \
    2>"$obj.log" || { echo "FAIL compile $src"; head -20 "$obj.log"; }
}
rm -rf "$OUT/obj"
all_srcs=$(for f in tests/fuzz/fuzz_*.c; do [ -f "$f" ] && for s in $(srcs_of "$f"); do echo "$s"; done; done | sort -u)
for s in $all_srcs; do
  compile_one "$s" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
done
wait
# One target: link, then fuzz for SECS; its verdict in $OUT/<name>.result.
run_target() {
  local f=$1 name objs s corpus work
  name=$(basename "$f" .c); name=${name#fuzz_}
  objs=""
  for s in $(srcs_of "$f"); do objs="$objs $(obj_of "$s")"; done
  if ! clang $CFLAGS_FUZZ -fsanitize=fuzzer,address,undefined "$f" $objs -o "$OUT/fuzz_$name" \
       $PKG_LIBS -lm -lpthread 2>"$OUT/$name.build.log"; then
    { echo "FAIL fuzz_$name: build failed"; head -20 "$OUT/$name.build.log"; } >"$OUT/$name.result"
    return
  fi
  corpus=tests/fuzz/corpus/$name; mkdir -p "$corpus"
  work=$(mktemp -d); cp -r "$corpus"/. "$work"/ 2>/dev/null
  if "$OUT/fuzz_$name" -max_total_time="$SECS" -max_len=4096 -rss_limit_mb=2048 \
       -artifact_prefix="$OUT/$name-" "$work" >"$OUT/$name.log" 2>&1; then
    echo "ok fuzz_$name ($(grep -c . "$OUT/$name.log") log lines)" >"$OUT/$name.result"
  else
    { echo "FAIL fuzz_$name: see $OUT/$name.log"; tail -30 "$OUT/$name.log"; } >"$OUT/$name.result"
  fi
  rm -rf "$work"
}
# As many targets at once as there are cores (each fuzzer and each clang uses one).
names=()
for f in tests/fuzz/fuzz_*.c; do
  [ -f "$f" ] || continue
  name=$(basename "$f" .c); names+=("${name#fuzz_}")
  rm -f "$OUT/${name#fuzz_}.result"
  run_target "$f" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
done
wait
for name in "${names[@]}"; do
  if [ -f "$OUT/$name.result" ] && head -n 1 "$OUT/$name.result" | grep -q '^ok '; then
    pass=$((pass+1))
  else
    fail=$((fail+1))
    [ -f "$OUT/$name.result" ] || echo "FAIL fuzz_$name: no verdict"
  fi
  [ -f "$OUT/$name.result" ] && cat "$OUT/$name.result"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
