/*
 * test_storage_diskfull.c — a disk that fills up under the segment writer.
 * The ENOSPC shim (tests/enospc/enospc.c, compiled into this program: its
 * open/write/fsync/rename take the place of libc's) fails every step of
 * writing a segment in turn: the body at many byte counts (short writes
 * included), each write call, creating the file, fsync, close, rename and
 * the directory's fsync. After each failure: a clear LERR_IO naming the
 * directory and the errno, nothing left in the table's directory (no temp
 * file, no segment), no catalog commit, and every row still visible. Then
 * space returns: the retried persist stores exactly the rows, and so does
 * the table reopened from disk. The same for persist (unsealed), for an
 * aggregate table's measure states, and for compaction's writer.
 */
#include "../enospc/enospc.c"

#include "test_storage_common.h"

#define DAY 86400000LL
#define T0 1700006400000LL /* 2023-11-15T00:00:00Z */

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- a detail table with every column encoding, random (incompressible) values ---- */

static const struct storage_column dcols[] = {
    {.name = "v", .type = SQL_LONG},    {.name = "d", .type = SQL_DOUBLE},
    {.name = "f", .type = SQL_FLOAT},   {.name = "lo", .type = SQL_STRING},
    {.name = "hi", .type = SQL_STRING}, {.name = "j", .type = SQL_JSON},
};
static const struct storage_schema dschema = {
    .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = dcols, .ncols = 6};

/* What the rows hold: compared before and after every failure. */
struct tally {
    uint64_t rows, sum_v, sum_d, sum_f, hash_s, nulls, errors;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

/* Appends n rows at times t0 + i (one day chunk); every 10th row has NULLs. */
static void append_rows(struct storage_table *t, int64_t t0, int n)
{
    int64_t *time = malloc(n * sizeof *time);
    struct sql_value *v[6];
    char(*hi)[24] = malloc((size_t)n * 24), (*js)[40] = malloc((size_t)n * 40);
    static const char *lo[] = {"en", "de", "fr", "ja", "it"};
    for (int c = 0; c < 6; c++)
        v[c] = malloc(n * sizeof *v[c]);
    for (int i = 0; i < n; i++) {
        time[i] = t0 + i;
        bool null = i % 10 == 9;
        uint64_t x = rnd();
        snprintf(hi[i], 24, "u%016llx", (unsigned long long)x);
        int jn = snprintf(js[i], 40, "{\"k\":%llu}", (unsigned long long)(x >> 20));
        v[0][i] = null ? sql_null(SQL_LONG) : sql_long((int64_t)(x >> 1));
        v[1][i] = null ? sql_null(SQL_DOUBLE) : sql_double((double)(x >> 40) / 4);
        v[2][i] = null ? sql_null(SQL_FLOAT) : sql_double((double)(x >> 48));
        v[3][i] = sql_string(lo[x % 5], 2);
        v[4][i] = null ? sql_null(SQL_STRING) : sql_string(hi[i], 17);
        v[5][i] = null ? sql_null(SQL_JSON) : sql_string(js[i], (size_t)jn);
        if (!null)
            v[5][i].type = SQL_JSON;
    }
    struct storage_batch_col bc[6];
    for (int c = 0; c < 6; c++)
        bc[c] = (struct storage_batch_col){.col = (uint32_t)c + 1, .values = v[c]};
    struct storage_batch b = {.nrows = (uint32_t)n, .time = time, .ncols = 6, .cols = bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
    for (int c = 0; c < 6; c++)
        free(v[c]);
    free(time);
    free(hi);
    free(js);
}

static void tally_view(const struct storage_view *vw, struct tally *out)
{
    struct storage_scan *sc = storage_scan_new(vw);
    uint64_t n = storage_view_rows(vw);
    struct lerr err;
    lerr_init(&err);
    static struct sql_value s[6][STORAGE_BLOCK_ROWS];
    for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
        uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
        for (size_t c = 1; c <= 6; c++) {
            if (storage_scan_values(sc, c, r0, m, NULL, s[c - 1], &err)) {
                CHECK_MSG(0, "scan %s: %s", storage_view_name(vw), err.msg);
                out->errors++;
                storage_scan_free(sc);
                return;
            }
            for (uint32_t k = 0; k < m; k++) {
                const struct sql_value *x = &s[c - 1][k];
                if (x->is_null) {
                    out->nulls++;
                } else if (c == 1) {
                    out->sum_v += (uint64_t)x->v.l;
                } else if (c == 2 || c == 3) {
                    uint64_t d = (uint64_t)(x->v.d * 4);
                    *(c == 2 ? &out->sum_d : &out->sum_f) += d;
                } else {
                    out->hash_s += hash_bytes(x->v.s.p, x->v.s.n) * c;
                }
            }
        }
        out->rows += m;
    }
    storage_scan_free(sc);
}

static struct tally tally_table(struct storage_table *t)
{
    struct tally tl = {0};
    struct storage_snapshot *s = storage_table_snapshot(t);
    for (size_t i = 0; i < s->nviews; i++)
        tally_view(s->views[i], &tl);
    storage_snapshot_free(s);
    return tl;
}

#define CHECK_TALLY(got, want, what)                                                 \
    CHECK_MSG(!memcmp(&(got), &(want), sizeof(want)),                                \
              "%s: rows %llu/%llu sum_v %llu/%llu nulls %llu/%llu hash %llu/%llu "   \
              "errors %llu",                                                         \
              what, (unsigned long long)(got).rows, (unsigned long long)(want).rows, \
              (unsigned long long)(got).sum_v, (unsigned long long)(want).sum_v,     \
              (unsigned long long)(got).nulls, (unsigned long long)(want).nulls,     \
              (unsigned long long)(got).hash_s, (unsigned long long)(want).hash_s,   \
              (unsigned long long)(got).errors)

/* Bytes of the regular files in dir. */
static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    uint64_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char p[1024];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            n += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return n;
}

/* Every way a segment write can meet a full disk, for a file of `size`
 * bytes written in `writes` write calls. */
static int failure_plans(uint64_t size, long writes, char plans[][32], int cap)
{
    int n = 0;
    // clang-format off
    const uint64_t at[] = {0, 1, 15, 16, 4096, (1u << 20) - 1, 1u << 20, (1u << 20) + 7,
                           size / 3, size / 2, size - 4096, size - 33, size - 32, size - 1};
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(at) && n < cap; i++)
        if (at[i] < size)
            snprintf(plans[n++], 32, "bytes=%llu", (unsigned long long)at[i]);
    for (long k = 0; k < writes && n < cap; k++)
        snprintf(plans[n++], 32, "writes=%ld", k);
    static const char *const whole[] = {"full", "open", "fsync", "close", "rename", "dirfsync"};
    for (size_t i = 0; i < LS_ARRAY_LEN(whole) && n < cap; i++)
        snprintf(plans[n++], 32, "%s", whole[i]);
    return n;
}

/* The error a failed plan must give: LERR_IO, the directory, and the errno's text. */
static void check_error(int rc, const struct lerr *err, const char *dir, const char *plan)
{
    const char *want = strcmp(plan, "dirfsync") == 0 ? "Input/output error"
                                                     : "No space left on device";
    CHECK_MSG(rc == LERR_IO && err->code == LERR_IO, "%s: rc %d code %d (%s)", plan, rc, err->code,
              err->msg);
    CHECK_MSG(strstr(err->msg, want) != NULL, "%s: message lacks '%s': %s", plan, want, err->msg);
    CHECK_MSG(strstr(err->msg, dir) != NULL, "%s: message does not name %s: %s", plan, dir,
              err->msg);
}

/* The size and write calls of a clean persist of the same rows (same seed). */
static void probe(uint64_t seed, int nrows, uint64_t *size, long *writes)
{
    char *dir = tst_mkdtemp();
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK(storage_table_open(dir, "probe", &dschema, NULL, &t, &err) == 0);
    enospc_set(dir, "");
    rng = seed;
    append_rows(t, T0, nrows);
    struct tst_catalog cat = {0};
    long w0 = enospc_writes();
    CHECK_MSG(storage_table_persist(t, tst_commit, &cat, &err) == 0, "probe: %s", err.msg);
    *writes = enospc_writes() - w0;
    *size = dir_bytes(dir);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- persist_sealed (the runtime's path): fail at every step, then succeed ---- */

static void test_sealed(void)
{
    const int nrows = 100000;
    uint64_t size;
    long writes;
    probe(7, nrows, &size, &writes);
    CHECK_MSG(size > (2u << 20) && writes >= 3,
              "the segment spans several flushes: %llu bytes in %ld writes",
              (unsigned long long)size, writes);

    char *dir = tst_mkdtemp();
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK(storage_table_open(dir, "full", &dschema, NULL, &t, &err) == 0);
    rng = 7;
    append_rows(t, T0, nrows);
    struct tally want = tally_table(t);
    CHECK_EQ_INT(want.rows, nrows);
    struct storage_sealed *s;
    CHECK(storage_table_seal(t, &s, &err) == 0);
    struct tst_catalog cat = {0};
    char plans[64][32];
    int np = failure_plans(size, writes, plans, 64);
    for (int i = 0; i < np; i++) {
        enospc_set(dir, plans[i]);
        long f0 = enospc_failures();
        lerr_init(&err);
        int rc = storage_table_persist_sealed(t, s, tst_commit, &cat, &err);
        enospc_set(dir, "");
        CHECK_MSG(enospc_failures() > f0, "%s: the shim failed nothing", plans[i]);
        check_error(rc, &err, dir, plans[i]);
        CHECK_MSG(tst_count_files(dir) == 0, "%s: %d file(s) left in %s", plans[i],
                  tst_count_files(dir), dir);
        CHECK_EQ_INT(cat.calls, 0);
        struct tally got = tally_table(t);
        CHECK_TALLY(got, want, plans[i]);
    }
    /* space again: the same sealed set persists, exactly once */
    lerr_init(&err);
    CHECK_MSG(storage_table_persist_sealed(t, s, tst_commit, &cat, &err) == 0, "retry: %s",
              err.msg);
    storage_sealed_free(s);
    CHECK_EQ_INT(cat.calls, 1);
    CHECK_EQ_INT(cat.n, 1);
    struct tally got = tally_table(t);
    CHECK_TALLY(got, want, "after the retry");
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.realtime_rows, 0);
    CHECK_EQ_INT(st.segment_count, 1);
    storage_table_free(t);

    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "full", &dschema, &oo, &t, &err) == 0);
    got = tally_table(t);
    CHECK_TALLY(got, want, "reopened");
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- persist (unsealed): a failure hands the rows back to the writer ---------- */

static void test_persist(void)
{
    char *dir = tst_mkdtemp();
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK(storage_table_open(dir, "full2", &dschema, NULL, &t, &err) == 0);
    rng = 11;
    append_rows(t, T0, 60000);
    struct tst_catalog cat = {0};
    static const char *const plans[] = {"bytes=0", "bytes=70000", "writes=1", "fsync", "rename"};
    for (size_t i = 0; i < LS_ARRAY_LEN(plans); i++) {
        enospc_set(dir, plans[i]);
        lerr_init(&err);
        int rc = storage_table_persist(t, tst_commit, &cat, &err);
        enospc_set(dir, "");
        check_error(rc, &err, dir, plans[i]);
        CHECK_EQ_INT(tst_count_files(dir), 0);
        /* the rows go on growing in the same buffers, and persist later */
        append_rows(t, T0 + 60000 + 1000 * (int64_t)i, 1000);
        CHECK(storage_table_should_persist(t, util_now_ms() + 3600000));
    }
    struct tally want = tally_table(t);
    CHECK_EQ_INT(want.rows, 65000);
    CHECK_MSG(storage_table_persist(t, tst_commit, &cat, &err) == 0, "retry: %s", err.msg);
    CHECK_EQ_INT(cat.calls, 1);
    storage_table_free(t);
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "full2", &dschema, &oo, &t, &err) == 0);
    struct tally got = tally_table(t);
    CHECK_TALLY(got, want, "reopened");
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- an aggregate table: measure states and rolled-up keys ------------------------- */

static void test_aggregate(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct sql_agg_call calls[2];
    sql_agg_for_measure("count", &calls[0]);
    sql_agg_for_measure("longSum", &calls[1]);
    struct storage_column acols[] = {
        {.name = "k", .type = SQL_STRING},
        {.name = "n", .type = SQL_LONG},
        {.name = "cnt", .kind = STORAGE_MEASURE, .agg = calls[0]},
        {.name = "sum", .kind = STORAGE_MEASURE, .agg = calls[1]},
    };
    struct storage_schema as = {.type = STORAGE_AGGREGATE,
                                .partitioning = STORAGE_GRAN_DAY,
                                .time_resolution = STORAGE_GRAN_MINUTE,
                                .cols = acols,
                                .ncols = 4};
    struct storage_table *t;
    CHECK(storage_table_open(dir, "agg", &as, NULL, &t, &err) == 0);
    const int n = 120000;
    struct arena mem;
    arena_init(&mem, 4096, 0);
    int64_t *time = malloc(n * sizeof *time);
    struct sql_value *k = malloc(n * sizeof *k), *nv = malloc(n * sizeof *nv);
    char(*ks)[20] = malloc((size_t)n * 20);
    size_t ss0 = sql_agg_state_size(&calls[0]), ss1 = sql_agg_state_size(&calls[1]);
    uint8_t *cnt = malloc(ss0 * n), *sum = malloc(ss1 * n);
    uint64_t want_sum = 0;
    rng = 5;
    for (int i = 0; i < n; i++) {
        time[i] = T0 + (int64_t)(rnd() % DAY);
        snprintf(ks[i], 20, "k%llu", (unsigned long long)(rnd() % 50000));
        k[i] = sql_string(ks[i], strlen(ks[i]));
        nv[i] = sql_long((int64_t)(rnd() >> 1));
        struct sql_value x = sql_long((int64_t)(rnd() % 1000));
        want_sum += (uint64_t)x.v.l;
        sql_agg_init(&calls[0], cnt + ss0 * i);
        sql_agg_add(&calls[0], cnt + ss0 * i, NULL, time[i], &mem);
        sql_agg_init(&calls[1], sum + ss1 * i);
        sql_agg_add(&calls[1], sum + ss1 * i, &x, time[i], &mem);
    }
    struct storage_batch_col bc[4] = {{.col = 1, .values = k},
                                      {.col = 2, .values = nv},
                                      {.col = 3, .states = cnt},
                                      {.col = 4, .states = sum}};
    struct storage_batch b = {.nrows = (uint32_t)n, .time = time, .ncols = 4, .cols = bc};
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
    struct storage_sealed *s;
    CHECK(storage_table_seal(t, &s, &err) == 0);
    struct tst_catalog cat = {0};
    static const char *const plans[] = {"bytes=0",  "bytes=100000", "bytes=1048576",
                                        "writes=1", "fsync",        "rename"};
    for (size_t i = 0; i < LS_ARRAY_LEN(plans); i++) {
        enospc_set(dir, plans[i]);
        lerr_init(&err);
        int rc = storage_table_persist_sealed(t, s, tst_commit, &cat, &err);
        enospc_set(dir, "");
        check_error(rc, &err, dir, plans[i]);
        CHECK_EQ_INT(tst_count_files(dir), 0);
    }
    lerr_init(&err);
    CHECK_MSG(storage_table_persist_sealed(t, s, tst_commit, &cat, &err) == 0, "retry: %s",
              err.msg);
    storage_sealed_free(s);
    storage_table_free(t);
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "agg", &as, &oo, &t, &err) == 0);
    /* COUNT and SUM through the states: every input row exactly once */
    uint64_t got_cnt = 0, got_sum = 0;
    struct storage_snapshot *snap = storage_table_snapshot(t);
    for (size_t v = 0; v < snap->nviews; v++) {
        struct storage_scan *sc = storage_scan_new(snap->views[v]);
        uint64_t rows = storage_view_rows(snap->views[v]);
        struct sql_value a[STORAGE_BLOCK_ROWS], c2[STORAGE_BLOCK_ROWS];
        for (uint64_t r0 = 0; r0 < rows; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m =
                (uint32_t)(rows - r0 < STORAGE_BLOCK_ROWS ? rows - r0 : STORAGE_BLOCK_ROWS);
            if (storage_scan_values(sc, 3, r0, m, NULL, a, &err) ||
                storage_scan_values(sc, 4, r0, m, NULL, c2, &err)) {
                CHECK_MSG(0, "scan: %s", err.msg);
                break;
            }
            for (uint32_t j = 0; j < m; j++) {
                got_cnt += (uint64_t)a[j].v.l;
                got_sum += (uint64_t)c2[j].v.l;
            }
        }
        storage_scan_free(sc);
    }
    storage_snapshot_free(snap);
    CHECK_EQ_INT(got_cnt, n);
    CHECK_EQ_INT(got_sum, want_sum);
    storage_table_free(t);
    free(time);
    free(k);
    free(nv);
    free(ks);
    free(cnt);
    free(sum);
    arena_destroy(&mem);
    tst_rmtree(dir);
    free(dir);
}

/* ---- compaction's writer ------------------------------------------------------- */

static void test_compaction(void)
{
    char *dir = tst_mkdtemp();
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK(storage_table_open(dir, "comp", &dschema, NULL, &t, &err) == 0);
    struct tst_catalog cat = {0};
    rng = 3;
    for (int i = 0; i < 3; i++) {
        append_rows(t, T0 + i * 100000LL, 40000);
        CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    }
    struct tally want = tally_table(t);
    CHECK_EQ_INT(want.rows, 120000);
    CHECK_EQ_INT(tst_count_files(dir), 3);
    static const char *const plans[] = {"bytes=0", "bytes=1048576", "writes=1", "open",
                                        "fsync",   "close",         "rename",   "dirfsync"};
    struct storage_compact_opts co = {.zstd = true};
    for (size_t i = 0; i < LS_ARRAY_LEN(plans); i++) {
        enospc_set(dir, plans[i]);
        lerr_init(&err);
        bool did = true;
        int rc = storage_table_compact(t, &co, tst_commit, &cat, &did, &err);
        enospc_set(dir, "");
        check_error(rc, &err, dir, plans[i]);
        CHECK(!did);
        CHECK_EQ_INT(tst_count_files(dir), 3); /* the inputs, nothing else */
        CHECK_EQ_INT(cat.calls, 3);
        struct tally got = tally_table(t);
        CHECK_TALLY(got, want, plans[i]);
    }
    bool did = false;
    lerr_init(&err);
    CHECK_MSG(storage_table_compact(t, &co, tst_commit, &cat, &did, &err) == 0, "compact: %s",
              err.msg);
    CHECK(did);
    struct tally got = tally_table(t);
    CHECK_TALLY(got, want, "compacted");
    storage_table_free(t);
    CHECK_EQ_INT(cat.n, 1);
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "comp", &dschema, &oo, &t, &err) == 0);
    got = tally_table(t);
    CHECK_TALLY(got, want, "compacted, reopened");
    CHECK_EQ_INT(tst_count_files(dir), 1);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

int main(void)
{
    test_sealed();
    test_persist();
    test_aggregate();
    test_compaction();
    return check_summary();
}
