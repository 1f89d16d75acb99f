#!/usr/bin/env bash
# bench_kinesis: a Kinesis job's ingestion rate from kinesalite beside AWS's own
# client (@aws-sdk/client-kinesis, tests/e2e/kinesis/kin.mjs consume) reading the same
# stream from TRIM_HORIZON in the same run, as a ratio. kinesalite (a Node server) is
# what bounds both, so the ratio says how much of its speed the job keeps.
#   BENCH_KINESIS_EVENTS=N (40000)  BENCH_KINESIS_SHARDS=N (2)
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory build/lodestar >/dev/null
[ -d tests/e2e/kinesis/node_modules/kinesalite ] || { echo "bench_kinesis: npm ci in tests/e2e/kinesis first (make deps)"; exit 1; }
exec python3 - <<'PY'
import json, os, sys, time
sys.path.insert(0, "tests/e2e")
__file__ = os.path.abspath("tests/e2e/test_kinesis.py")
src = open(__file__).read()
exec(src[:src.index("T0 = ")])   # Kinesalite, kin(), job() and the harness
N = int(os.environ.get("BENCH_KINESIS_EVENTS", "40000"))
SHARDS = int(os.environ.get("BENCH_KINESIS_SHARDS", "2"))
kl = Kinesalite().start()
s = Server(env={"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
try:
    assert kin(kl.url, "create", "bench", SHARDS)[0]
    t = time.time()
    assert kin(kl.url, "put", "bench", 0, N, timeout=900)[0]
    print(f"put {N} events into {SHARDS} shards in {time.time() - t:.1f} s (not measured)")
    ok, out = kin(kl.url, "consume", "bench", N, timeout=900)
    ref = json.loads(out.strip().splitlines()[-1])
    assert ref["records"] >= N, ref
    ref_rate = N / (ref["ms"] / 1000)
    s.start()
    s.req("POST", "/v2/connections", {"type": "kinesis", "name": "b", "stream": "bench",
                                      "endpoint": kl.url, "region": "us-east-1"})
    t0 = time.time()
    r = s.req("POST", "/v2/jobs", job("bench", "b", read="earliest"))
    assert r.status == 201, r.raw
    rows = lambda: (s.req("GET", "/v2/tables/bench").json or {}).get("status", {}).get("rowCount", 0)
    while rows() < N:
        if time.time() - t0 > 900:
            raise SystemExit("bench_kinesis: the job did not read every event in 900 s")
        time.sleep(0.02)
    dt = time.time() - t0
    rate = N / dt
    print(f"@aws-sdk/client-kinesis consumer: {N} records in {ref['ms'] / 1000:.2f} s "
          f"= {ref_rate:,.0f} records/s")
    print(f"lodestar kinesis job (create to rows in the table): {N} rows in {dt:.2f} s "
          f"= {rate:,.0f} rows/s")
    print(f"ratio lodestar / aws-sdk consumer: {rate / ref_rate:.2f}")
finally:
    s.stop()
    kl.stop()
PY
