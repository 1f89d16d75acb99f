#!/usr/bin/env bash
# Runs every test program, several at a time, and adds up their "N passed, N failed" lines:
# the unit tests, the same unit tests under ASan + UBSan, the end-to-end tests
# (tests/e2e/test_*.py against the real binary, some again against the server
# built with ASan + UBSan and with TSan) and, when clang's libFuzzer is
# available, each fuzz target for a few seconds; and the architecture check
# (tests/arch/check_layers.py: no circle between files, modules call only
# modules below them, read from build/obj/) and the format check (make
# format-check: make format would change nothing). A program that dies before
# printing its summary counts as one failure. The last line is the total.
set -u
cd "$(dirname "$0")/.."
total_pass=0; total_fail=0; failed_progs=()
LOGDIR=build/test-logs; mkdir -p "$LOGDIR"

# Programs run JOBS at a time (LODESTAR_TEST_JOBS, default the number of cores): most of
# the time of the end-to-end suites is spent waiting for a server, a broker or a kill -9, so
# two lanes on two cores halve the wall time. Each program writes its log and, when it ends,
# a verdict file "passed failed seconds rc"; the totals are added up from those at the end.
JOBS=${LODESTAR_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
labels=()

run_bg() {  # label, command...  (in a subshell: log and verdict files)
  local label=$1; shift
  local base="$LOGDIR/$(echo "$label" | tr '/ ' '__')"
  local start=$(date +%s.%N)
  "$@" >"$base.log" 2>&1
  local rc=$?
  local secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  local line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$base.log" | tail -n 1)
  local p=0 f=0
  if [ -n "$line" ]; then
    p=$(echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/')
    f=$(echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/')
  fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$f" -ne 0 ]; then
    printf 'FAIL  %-40s %5s passed %3s failed  (%ss, rc=%d)\n' "$label" "$p" "$f" "$secs" "$rc"
    grep -E 'FAIL|ERROR|error|Assertion|runtime error|AddressSanitizer' "$base.log" | head -n 30 | sed 's/^/      /'
  else
    printf 'ok    %-40s %5s passed  (%ss)\n' "$label" "$p" "$secs"
  fi
  echo "$p $f $secs $rc" >"$base.verdict"
}

extra_pid=""  # a program run beside the JOBS lanes (the fuzz targets), not counted in them
running() {  # programs now running in the lanes
  local n; n=$(jobs -rp | wc -l)
  if [ -n "$extra_pid" ] && kill -0 "$extra_pid" 2>/dev/null; then n=$((n - 1)); fi
  echo "$n"
}

run_one() {  # label, command...: starts it once fewer than JOBS programs run
  local base="$LOGDIR/$(echo "$1" | tr '/ ' '__')"
  rm -f "$base.verdict"
  labels+=("$1")
  while [ "$(running)" -ge "$JOBS" ]; do wait -n; done
  run_bg "$@" &
}

run_extra() {  # label, command...: starts it now, beside the lanes
  local base="$LOGDIR/$(echo "$1" | tr '/ ' '__')"
  rm -f "$base.verdict"
  labels+=("$1")
  run_bg "$@" &
  extra_pid=$!
}

# The fuzz targets beside the lanes, from the start, at the lowest CPU priority (nice 19): most of
# the lanes' time is spent waiting for servers, brokers and kill -9s, and the fuzzer's compiles
# and runs take only that idle CPU (each target fuzzes for FUZZ_SECONDS of wall time whatever it
# gets) instead of running alone at the end; the tests never wait for it.
if [ -f tests/fuzz/run.sh ]; then run_extra "fuzz" nice -n 19 bash tests/fuzz/run.sh; fi
run_one "arch/check_layers" python3 tests/arch/check_layers.py
run_one "arch/test_check_layers" python3 tests/arch/test_check_layers.py
# Every C file is formatted as .clang-format says (make format would change nothing).
run_one "format/check" make --no-print-directory format-check
for t in build/tests/test_*; do [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"; done
for t in build/asan/tests/test_*; do
  [ -x "$t" ] && run_one "asan/$(basename "$t")" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$t"
done
for t in tests/e2e/test_*.py; do
  [ -f "$t" ] && run_one "e2e/$(basename "$t" .py)" python3 "$t"
done
# The server itself under ASan + UBSan, through the API, push, batch, preview, full-disk, HTTP,
# hostile-input, query-limit and SQL-ingestion suites (query limits without its memory cap, which
# ASan cannot live under): a leak, overflow or UB in a handler fails the run (the server exits non-zero on a
# LeakSanitizer report); test_sketches adds sketch columns fed from dev-kafka. test_diskfull preloads its ENOSPC shim ahead of the ASan runtime.
if [ -x build/asan/lodestar ]; then
  for t in ${ASAN_E2E:-test_api test_push test_push_corrupt test_batch test_sample test_hostile test_diskfull test_http test_measures test_query_limits test_druid_sql test_sql_ingest test_apikeys test_multivalue test_kinesis test_console test_avro test_arrays test_sketches test_protobuf test_widen test_sketch_segments test_cluster_query}; do
    run_one "e2e-asan/$t" env ASAN_OPTIONS=detect_leaks=1 LODESTAR_BIN=build/asan/lodestar \
      python3 "tests/e2e/$t.py"
  done
fi
# The server under ThreadSanitizer through the streaming, push and API suites (several jobs on
# different tables at once among them): a data race fails the run (the harness finds the report
# in the server's log even after a kill -9; the server exits non-zero after one on SIGTERM).
if [ -x build/tsan/lodestar ]; then
  for t in ${TSAN_E2E:-test_api test_push test_push_corrupt test_kafka test_kafka_frozen test_no_loss test_kinesis test_avro test_protobuf test_sketches test_cluster_query}; do
    run_one "e2e-tsan/$t" env \
      TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 suppressions=$PWD/tests/sanitizers/tsan.supp" \
      LODESTAR_BIN=build/tsan/lodestar python3 "tests/e2e/$t.py"
  done
fi
wait

for label in "${labels[@]}"; do
  v="$LOGDIR/$(echo "$label" | tr '/ ' '__').verdict"
  if [ -f "$v" ]; then read -r p f _ _ <"$v"; else p=0; f=1; fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  [ "$f" -ne 0 ] && failed_progs+=("$label")
done

if [ ${#failed_progs[@]} -ne 0 ]; then
  echo "failed: ${failed_progs[*]} (logs in $LOGDIR)"
fi
echo "${total_pass} passed, ${total_fail} failed"
[ "$total_fail" -eq 0 ]
