#!/usr/bin/env bash
# make bench: builds each bench/bench_<name>.c at -O2 against build/liblodestar.a
# and runs it, then each bench/bench_<name>.sh. Every benchmark prints its
# figures beside a reference measured in the same run, as a ratio.
# BENCH=name runs one.
set -u
cd "$(dirname "$0")/.."
mkdir -p build/bench
make --no-print-directory build/liblodestar.a >/dev/null || exit 1
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Isrc -pthread $(pkg-config --cflags libmicrohttpd jansson sqlite3 rdkafka)"
LIBS="$(pkg-config --libs libmicrohttpd jansson sqlite3 rdkafka libcrypto zlib liblz4 libzstd avro-c libprotobuf-c libpq) -lroaring -lcurl -lm -lpthread"
for f in bench/bench_*.c bench/bench_*.sh; do
  [ -f "$f" ] || continue
  name=$(basename "$f"); name=${name%.*}
  if [ -n "${BENCH:-}" ] && [ "bench_${BENCH}" != "$name" ]; then continue; fi
  echo "== $name"
  case "$f" in
    *.c) gcc $CFLAGS "$f" build/liblodestar.a -o "build/bench/$name" $LIBS && "build/bench/$name" ;;
    *.sh) bash "$f" ;;
  esac
done
