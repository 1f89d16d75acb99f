/*
 * test_storage_table.c — tables over time: a reader thread snapshotting while
 * the writer appends and persists (detail and aggregate), persist with a
 * failing and a succeeding commit, persist triggers, compaction (answers
 * unchanged, old files deleted only after the last snapshot), start-up
 * cleanup (unknown files removed, known ones validated), drop, schema
 * discovery, type widening (buffers and segments of the old type read as
 * the new one, before and after persist, compaction and a reopen), and time
 * chunks.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "storage/segstore.h"
#include "test_storage_common.h"

#define HOUR 3600000LL
#define DAY 86400000LL
#define T0 1700006400000LL /* 2023-11-15T00:00:00Z */

/* ---- a small detail table: v LONG (always 1), s STRING derived from time ---- */

static const struct storage_column dcols[] = {
    {.name = "v", .type = SQL_LONG},
    {.name = "s", .type = SQL_STRING},
};

static struct storage_schema dschema(enum storage_gran part)
{
    return (struct storage_schema){
        .type = STORAGE_DETAIL, .partitioning = part, .cols = dcols, .ncols = 2};
}

static char names[100][8];

static void init_names(void)
{
    for (int i = 0; i < 100; i++)
        snprintf(names[i], sizeof names[i], "s%d", i);
}

/* Appends n rows with times t0, t0+step, ... */
static void append_detail(struct storage_table *t, int64_t t0, int64_t step, int n)
{
    int64_t *time = malloc(n * sizeof *time);
    struct sql_value *v = malloc(n * sizeof *v), *s = malloc(n * sizeof *s);
    for (int i = 0; i < n; i++) {
        time[i] = t0 + i * step;
        v[i] = sql_long(1);
        int k = (int)(((time[i] % 100) + 100) % 100);
        s[i] = sql_string(names[k], strlen(names[k]));
    }
    struct storage_batch_col bc[2] = {{.col = 1, .values = v}, {.col = 2, .values = s}};
    struct storage_batch b = {.nrows = (uint32_t)n, .time = time, .ncols = 2, .cols = bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
    free(time);
    free(v);
    free(s);
}

/* Sum of v, count of rows, and rows whose s does not match their time. */
struct tally {
    uint64_t rows, sum_v, bad, errors;
};

static void tally_view(const struct storage_view *v, struct tally *out)
{
    struct storage_scan *sc = storage_scan_new(v);
    uint64_t n = storage_view_rows(v);
    struct lerr err;
    lerr_init(&err);
    int64_t tm[STORAGE_BLOCK_ROWS], l[STORAGE_BLOCK_ROWS];
    bool nl[STORAGE_BLOCK_ROWS];
    struct sql_value s[STORAGE_BLOCK_ROWS];
    for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
        uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
        if (storage_scan_time(sc, r0, m, tm, &err) ||
            storage_scan_longs(sc, 1, r0, m, l, nl, &err) ||
            storage_scan_values(sc, 2, r0, m, NULL, s, &err)) {
            out->errors++;
            break;
        }
        for (uint32_t j = 0; j < m; j++) {
            int k = (int)(((tm[j] % 100) + 100) % 100);
            out->bad += nl[j] || l[j] != 1 || s[j].is_null || s[j].v.s.n != strlen(names[k]) ||
                        memcmp(s[j].v.s.p, names[k], s[j].v.s.n) != 0;
            out->sum_v += (uint64_t)l[j];
        }
        out->rows += m;
    }
    storage_scan_free(sc);
}

static void tally_snapshot(struct storage_table *t, struct tally *out)
{
    memset(out, 0, sizeof *out);
    struct storage_snapshot *s = storage_table_snapshot(t);
    for (size_t i = 0; i < s->nviews; i++)
        tally_view(s->views[i], out);
    storage_snapshot_free(s);
}

/* ---- concurrent reader ------------------------------------------------------- */

struct reader {
    struct storage_table *t;
    bool aggregate;
    atomic_bool stop;
    uint64_t snapshots, nonmonotonic, inconsistent, errors, last;
};

/* Aggregate table: sum(cnt) and sum(sum of 1s) always agree. */
static void tally_agg(struct storage_table *t, uint64_t *cnt, uint64_t *sum, uint64_t *errors)
{
    *cnt = *sum = 0;
    struct storage_snapshot *s = storage_table_snapshot(t);
    struct lerr err;
    lerr_init(&err);
    struct sql_value a[STORAGE_BLOCK_ROWS], b[STORAGE_BLOCK_ROWS];
    for (size_t i = 0; i < s->nviews; i++) {
        struct storage_scan *sc = storage_scan_new(s->views[i]);
        uint64_t n = storage_view_rows(s->views[i]);
        for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
            if (storage_scan_values(sc, 2, r0, m, NULL, a, &err) ||
                storage_scan_values(sc, 3, r0, m, NULL, b, &err)) {
                (*errors)++;
                break;
            }
            for (uint32_t j = 0; j < m; j++) {
                *cnt += (uint64_t)a[j].v.l;
                *sum += b[j].is_null ? 0 : (uint64_t)b[j].v.l;
            }
        }
        storage_scan_free(sc);
    }
    storage_snapshot_free(s);
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(&r->stop)) {
        uint64_t now;
        if (r->aggregate) {
            uint64_t cnt, sum;
            tally_agg(r->t, &cnt, &sum, &r->errors);
            r->inconsistent += cnt != sum;
            now = cnt;
        } else {
            struct tally tl;
            tally_snapshot(r->t, &tl);
            r->inconsistent += tl.bad + (tl.sum_v != tl.rows);
            r->errors += tl.errors;
            now = tl.rows;
        }
        r->nonmonotonic += now < r->last;
        r->last = now;
        r->snapshots++;
    }
    return NULL;
}

static void append_agg(struct storage_table *t, int64_t t0, int n, const struct sql_agg_call *c)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    int64_t *time = malloc(n * sizeof *time);
    struct sql_value *k = malloc(n * sizeof *k);
    size_t ss0 = sql_agg_state_size(&c[0]), ss1 = sql_agg_state_size(&c[1]);
    uint8_t *cnt = malloc(ss0 * n), *sum = malloc(ss1 * n);
    for (int i = 0; i < n; i++) {
        time[i] = t0 + i * 37;
        k[i] = sql_string(names[i % 7], strlen(names[i % 7]));
        struct sql_value one = sql_long(1);
        sql_agg_init(&c[0], cnt + ss0 * i);
        sql_agg_add(&c[0], cnt + ss0 * i, NULL, time[i], &mem);
        sql_agg_init(&c[1], sum + ss1 * i);
        sql_agg_add(&c[1], sum + ss1 * i, &one, time[i], &mem);
    }
    struct storage_batch_col bc[3] = {
        {.col = 1, .values = k}, {.col = 2, .states = cnt}, {.col = 3, .states = sum}};
    struct storage_batch b = {.nrows = (uint32_t)n, .time = time, .ncols = 3, .cols = bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
    free(time);
    free(k);
    free(cnt);
    free(sum);
    arena_destroy(&mem);
}

static void test_concurrent(bool aggregate)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct sql_agg_call calls[2];
    sql_agg_for_measure("count", &calls[0]);
    sql_agg_for_measure("longSum", &calls[1]);
    struct storage_column acols[] = {
        {.name = "k", .type = SQL_STRING},
        {.name = "cnt", .kind = STORAGE_MEASURE, .agg = calls[0]},
        {.name = "sum", .kind = STORAGE_MEASURE, .agg = calls[1]},
    };
    struct storage_schema as = {.type = STORAGE_AGGREGATE,
                                .partitioning = STORAGE_GRAN_HOUR,
                                .time_resolution = STORAGE_GRAN_MINUTE,
                                .cols = acols,
                                .ncols = 3};
    struct storage_schema ds = dschema(STORAGE_GRAN_HOUR);
    struct storage_table *t;
    CHECK(storage_table_open(dir, "conc", aggregate ? &as : &ds, NULL, &t, &err) == 0);
    struct reader r = {.t = t, .aggregate = aggregate};
    atomic_init(&r.stop, false);
    pthread_t th;
    pthread_create(&th, NULL, reader_main, &r);
    struct tst_catalog cat = {0};
    int64_t start = util_mono_ns();
    int batches = 0;
    uint64_t appended = 0;
    while (util_mono_ns() - start < 600000000LL) { /* 0.6 s */
        if (aggregate)
            append_agg(t, T0 + batches * 5000LL, 300, calls);
        else
            append_detail(t, T0 + batches * 1000LL, 3, 300);
        appended += 300;
        if (++batches % 40 == 0)
            CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    }
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    CHECK_MSG(r.snapshots > 10, "reader took %llu snapshots", (unsigned long long)r.snapshots);
    CHECK_EQ_INT(r.nonmonotonic, 0);
    CHECK_EQ_INT(r.inconsistent, 0);
    CHECK_EQ_INT(r.errors, 0);
    if (aggregate) {
        uint64_t cnt, sum, errors = 0;
        tally_agg(t, &cnt, &sum, &errors);
        CHECK_EQ_INT(cnt, appended);
        CHECK_EQ_INT(sum, appended);
    } else {
        struct tally tl;
        tally_snapshot(t, &tl);
        CHECK_EQ_INT(tl.rows, appended);
        CHECK_EQ_INT(tl.bad, 0);
    }
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- persist ------------------------------------------------------------------- */

static void test_persist(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_DAY);
    struct storage_open_opts oo = {.limits = {.max_rows = 1000, .max_age_ms = 50}};
    struct storage_table *t;
    CHECK(storage_table_open(dir, "p", &ds, &oo, &t, &err) == 0);
    int64_t now = util_now_ms();
    CHECK(!storage_table_should_persist(t, now));
    append_detail(t, T0, 10, 999);
    CHECK(!storage_table_should_persist(t, now));
    CHECK(storage_table_should_persist(t, util_now_ms() + 100)); /* age */
    append_detail(t, T0 + 20000, 10, 1);
    CHECK(storage_table_should_persist(t, now)); /* rows */
    uint64_t rows, bytes;
    storage_table_realtime_usage(t, &rows, &bytes);
    CHECK(rows == 1000 && bytes > 1000 * 12);

    /* the commit fails: no file, the buffer stays */
    struct tst_catalog cat = {.fail_next = 1};
    CHECK_EQ_INT(storage_table_persist(t, tst_commit, &cat, &err), LERR_IO);
    CHECK(strstr(err.msg, "refused") != NULL);
    CHECK_EQ_INT(tst_count_files(dir), 0);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK(st.realtime_rows == 1000 && st.segment_count == 0);
    CHECK(storage_table_should_persist(t, now));

    /* it succeeds: a snapshot from before still reads the buffer */
    struct storage_snapshot *before = storage_table_snapshot(t);
    CHECK(before->nviews == 1 && storage_view_is_realtime(before->views[0]));
    lerr_init(&err);
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 1);
    CHECK_EQ_INT(tst_count_files(dir), 1);
    CHECK(!storage_table_should_persist(t, now + 1000000));
    struct tally tl = {0};
    tally_view(before->views[0], &tl);
    CHECK(tl.rows == 1000 && tl.sum_v == 1000 && tl.bad == 0 && tl.errors == 0);
    struct storage_snapshot *after = storage_table_snapshot(t);
    CHECK(after->nviews == 1 && !storage_view_is_realtime(after->views[0]));
    memset(&tl, 0, sizeof tl);
    tally_view(after->views[0], &tl);
    CHECK(tl.rows == 1000 && tl.sum_v == 1000 && tl.bad == 0);
    storage_snapshot_free(before);
    storage_snapshot_free(after);
    storage_table_status(t, &st);
    CHECK(st.row_count == 1000 && st.segment_count == 1 && st.realtime_rows == 0);
    CHECK(st.min_time == T0 && st.max_time == T0 + 20000);

    /* appends after a persist go to a new buffer */
    append_detail(t, T0 + 30000, 10, 10);
    storage_table_status(t, &st);
    CHECK(st.row_count == 1010 && st.realtime_rows == 10);

    /* bad batches are refused before anything is added */
    struct sql_value v = sql_long(1);
    int64_t tm = T0;
    struct storage_batch_col bad[2] = {{.col = 7, .values = &v}, {.col = 1, .values = &v}};
    struct storage_batch b = {.nrows = 1, .time = &tm, .ncols = 1, .cols = bad};
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_append(t, &b, &err), LERR_INVALID);
    bad[0].col = 1;
    b.ncols = 2;
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_append(t, &b, &err), LERR_INVALID); /* twice */
    bad[0] = (struct storage_batch_col){.col = 2};
    b.ncols = 1;
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_append(t, &b, &err), LERR_INVALID); /* no values */
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.row_count, 1010);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* Sealed rows thrown away (a cluster node's lost lease): gone from new snapshots, kept
 * by older ones, never written; rows after them persist as usual. */
static void test_discard_sealed(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_DAY);
    struct storage_open_opts oo = {.limits = {.max_rows = 1000}};
    struct storage_table *t;
    CHECK(storage_table_open(dir, "d", &ds, &oo, &t, &err) == 0);
    append_detail(t, T0, 10, 40);
    append_detail(t, T0 + 86400000, 10, 5); /* a second chunk */
    struct storage_sealed *sealed = NULL;
    CHECK(storage_table_seal(t, &sealed, &err) == 0);
    CHECK_EQ_INT(storage_sealed_rows(sealed), 45);
    append_detail(t, T0 + 1000, 10, 7); /* after the seal: kept */
    struct storage_snapshot *before = storage_table_snapshot(t);
    CHECK_EQ_INT(tst_snapshot_rows(before), 52);
    CHECK_EQ_INT(storage_table_discard_sealed(t, sealed, &err), 0);
    storage_sealed_free(sealed);
    struct storage_snapshot *after = storage_table_snapshot(t);
    CHECK_EQ_INT(tst_snapshot_rows(after), 7);
    CHECK_EQ_INT(tst_snapshot_rows(before), 52); /* an older snapshot still reads them */
    storage_snapshot_free(before);
    storage_snapshot_free(after);
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(tst_count_files(dir), 1); /* only the 7 rows' segment */
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK(st.row_count == 7 && st.segment_count == 1 && st.realtime_rows == 0);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- time chunks --------------------------------------------------------------- */

static void test_chunks(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_HOUR);
    struct storage_table *t;
    CHECK(storage_table_open(dir, "h", &ds, NULL, &t, &err) == 0);
    append_detail(t, T0 + 30 * 60000LL, 60000, 150); /* 2.5 hours: 3 chunks */
    struct storage_snapshot *s = storage_table_snapshot(t);
    CHECK_EQ_INT(s->nviews, 3);
    for (size_t i = 0; i < s->nviews; i++) {
        int64_t cs, ce, mn, mx;
        storage_view_chunk(s->views[i], &cs, &ce);
        storage_view_time_range(s->views[i], &mn, &mx);
        CHECK(ce - cs == HOUR && cs % HOUR == 0 && mn >= cs && mx < ce);
    }
    storage_snapshot_free(s);
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 3);
    CHECK_EQ_INT(cat.calls, 1); /* one catalog transaction for all chunks */
    struct tally tl;
    tally_snapshot(t, &tl);
    CHECK(tl.rows == 150 && tl.bad == 0);

    /* replacing one hour (target.intervals): its segment and its realtime
     * rows go, the other chunks stay */
    append_detail(t, T0 + HOUR + 5 * 60000LL, 60000, 10);
    CHECK_EQ_INT(tst_count_files(dir), 3);
    CHECK(storage_table_drop_range(t, T0 + HOUR, T0 + 2 * HOUR, &err) == 0);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 90);
    CHECK_EQ_INT(tst_count_files(dir), 2);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK(st.segment_count == 2 && st.row_count == 90);
    /* a range holding no whole chunk drops nothing */
    CHECK(storage_table_drop_range(t, T0, T0 + HOUR / 2, &err) == 0);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 90);
    append_detail(t, T0 + HOUR, 60000, 4); /* the hour takes rows again */
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 94);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- REPLACE: staged rows swapped in for chunks in one step ---------------------- */

static void test_replace(void)
{
    char *dir = tst_mkdtemp(), *sdir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_HOUR);
    struct storage_table *t, *src;
    CHECK(storage_table_open(dir, "r", &ds, NULL, &t, &err) == 0);
    append_detail(t, T0, 60000, 180); /* 3 hours: 3 chunks of 60 */
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 3);
    append_detail(t, T0 + HOUR, 60000, 5); /* realtime rows in hour 2 */
    CHECK(storage_table_open(sdir, "r-staging", &ds, NULL, &src, &err) == 0);
    append_detail(src, T0 + HOUR, 600000, 6); /* 6 new rows in hour 2 */
    /* a snapshot taken before the swap keeps the old rows */
    struct storage_snapshot *before = storage_table_snapshot(t);
    cat.calls = 0;
    CHECK_MSG(
        storage_table_replace(t, src, NULL, T0 + HOUR, T0 + 2 * HOUR, tst_commit, &cat, &err) == 0,
        "replace: %s", err.msg);
    CHECK_EQ_INT(cat.calls, 1); /* one catalog transaction */
    CHECK_EQ_INT(cat.last_added, 1);
    CHECK_EQ_INT(cat.last_removed, 1);
    CHECK_EQ_INT(cat.n, 3);
    CHECK_EQ_INT(tst_snapshot_rows(before), 185);
    storage_snapshot_free(before);
    struct tally tl;
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 126); /* 60 + 6 + 60 */
    CHECK_EQ_INT(tl.bad, 0);
    /* a refused commit changes nothing and leaves no file */
    int files = tst_count_files(dir);
    cat.fail_next = 1;
    CHECK(storage_table_replace(t, src, NULL, INT64_MIN, INT64_MAX, tst_commit, &cat, &err) ==
          LERR_IO);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 126);
    CHECK_EQ_INT(tst_count_files(dir), files);
    /* everything, by nothing: the table is empty, its files go once unreferenced */
    lerr_init(&err);
    CHECK(storage_table_replace(t, NULL, NULL, INT64_MIN, INT64_MAX, tst_commit, &cat, &err) == 0);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 0);
    CHECK_EQ_INT(cat.n, 0);
    CHECK_EQ_INT(tst_count_files(dir), 0);
    /* the table reopens from what the catalog holds */
    CHECK(storage_table_replace(t, src, NULL, INT64_MIN, INT64_MAX, tst_commit, &cat, &err) == 0);
    storage_table_free(t);
    struct storage_open_opts o = {.known = tst_known(&cat), .nknown = cat.n};
    CHECK(storage_table_open(dir, "r", &ds, &o, &t, &err) == 0);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 6);
    storage_table_free(t);
    storage_table_free(src);
    tst_rmtree(dir);
    tst_rmtree(sdir);
    free(dir);
    free(sdir);
}

/* A node of a shared store opens the segments it wrote and defers the others
 * (storage_open_opts.known_deferred): a deferred one is not in the table's
 * version, not removed as a stray, and not reported missing when absent. */
static void test_open_deferred(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_HOUR);
    struct storage_table *t;
    CHECK(storage_table_open(dir, "d", &ds, NULL, &t, &err) == 0);
    append_detail(t, T0, 60000, 120); /* 60 rows in each of two hours */
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    storage_table_free(t);
    CHECK_EQ_INT(cat.n, 2);
    int files = tst_count_files(dir);
    bool deferred[2] = {true, false};
    struct storage_open_opts o = {.known = tst_known(&cat),
                                  .nknown = cat.n,
                                  .known_deferred = deferred,
                                  .keep_unknown = true};
    CHECK(storage_table_open(dir, "d", &ds, &o, &t, &err) == 0);
    struct tally tl;
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 60);
    CHECK_EQ_INT(tst_count_files(dir), files);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.segment_count, 1);
    CHECK_EQ_INT(st.corrupt_count, 0);
    storage_table_free(t);
    /* the deferred file gone from the store: still nothing reported here */
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, cat.names[0]);
    CHECK(unlink(path) == 0);
    CHECK(storage_table_open(dir, "d", &ds, &o, &t, &err) == 0);
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.corrupt_count, 0);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 60);
    storage_table_free(t);
    /* opened without deferral, the missing one is reported */
    o.known_deferred = NULL;
    CHECK(storage_table_open(dir, "d", &ds, &o, &t, &err) == 0);
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.corrupt_count, 1);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* Rows written ahead of the swap: files of the table no commit names, never
 * seen by readers, committed by the swap with the last rows; discarded, or
 * swept as strays when the table opens before any commit named them. */
static void test_replace_ahead(void)
{
    char *dir = tst_mkdtemp(), *sdir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_HOUR);
    struct storage_table *t, *src;
    CHECK(storage_table_open(dir, "w", &ds, NULL, &t, &err) == 0);
    append_detail(t, T0, 60000, 120); /* 2 hours of old rows */
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    int files = tst_count_files(dir);
    struct storage_ahead ahead = {0};
    for (int k = 0; k < 3; k++) { /* three staging tables' worth, written ahead */
        CHECK(storage_table_open(sdir, "w-staging", &ds, NULL, &src, &err) == 0);
        append_detail(src, T0 + k * 1000, 600000, 7); /* 7 rows over 2 hours */
        CHECK_MSG(storage_table_write_ahead(t, src, &ahead, &err) == 0, "ahead: %s", err.msg);
        storage_table_free(src);
        tst_rmtree(sdir);
    }
    CHECK_EQ_INT(ahead.n, 6); /* 2 chunks each time */
    CHECK_EQ_INT(tst_count_files(dir), files + 6);
    struct tally tl;
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 120); /* readers do not see them */
    CHECK_EQ_INT(cat.n, 2);
    /* a commit that fails leaves the rows written ahead to the caller */
    cat.fail_next = 1;
    CHECK(storage_table_replace(t, NULL, &ahead, INT64_MIN, INT64_MAX, tst_commit, &cat, &err) ==
          LERR_IO);
    CHECK_EQ_INT(tst_count_files(dir), files + 6);
    lerr_init(&err);
    /* the swap: the last rows (in src) and those written ahead, in one commit */
    CHECK(storage_table_open(sdir, "w-staging", &ds, NULL, &src, &err) == 0);
    append_detail(src, T0, 600000, 2);
    cat.calls = 0;
    CHECK_MSG(
        storage_table_replace(t, src, &ahead, INT64_MIN, INT64_MAX, tst_commit, &cat, &err) == 0,
        "replace: %s", err.msg);
    storage_ahead_free(&ahead);
    CHECK_EQ_INT(cat.calls, 1);
    CHECK_EQ_INT(cat.last_added, 7);
    CHECK_EQ_INT(cat.last_removed, 2);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 23);
    /* written ahead, then abandoned: discard removes the files */
    files = tst_count_files(dir);
    CHECK(storage_table_write_ahead(t, src, &ahead, &err) == 0);
    CHECK_EQ_INT(tst_count_files(dir), files + 1);
    storage_ahead_discard(t, &ahead);
    CHECK_EQ_INT(ahead.n, 0);
    CHECK_EQ_INT(tst_count_files(dir), files);
    /* written ahead, then the server stops: the table opens without them */
    CHECK(storage_table_write_ahead(t, src, &ahead, &err) == 0);
    storage_ahead_free(&ahead); /* the process "died": nobody discards */
    storage_table_free(t);
    CHECK_EQ_INT(tst_count_files(dir), files + 1);
    struct storage_open_opts o = {.known = tst_known(&cat), .nknown = cat.n};
    CHECK(storage_table_open(dir, "w", &ds, &o, &t, &err) == 0);
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 23);
    CHECK_EQ_INT(tst_count_files(dir), files);
    storage_table_free(t);
    storage_table_free(src);
    tst_rmtree(dir);
    tst_rmtree(sdir);
    free(dir);
    free(sdir);
}

/* ---- compaction ---------------------------------------------------------------- */

/* A fingerprint of every row: sorted (time, s) pairs hashed. */
static uint64_t fingerprint(struct storage_table *t, uint64_t *rows)
{
    struct storage_snapshot *s = storage_table_snapshot(t);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    uint64_t h = 0;
    *rows = 0;
    for (size_t i = 0; i < s->nviews; i++) {
        struct sql_value *tv = tst_read_col(s->views[i], 0, &mem);
        struct sql_value *sv = tst_read_col(s->views[i], 2, &mem);
        for (uint64_t r = 0; tv && sv && r < storage_view_rows(s->views[i]); r++) {
            /* order-independent: a sum of mixed row hashes */
            uint64_t x = (uint64_t)tv[r].v.l * 0x9E3779B97F4A7C15ULL ^ sv[r].v.s.n ^
                         ((uint64_t)(unsigned char)sv[r].v.s.p[1] << 40);
            x ^= x >> 31;
            x *= 0xbf58476d1ce4e5b9ULL;
            h += x ^ (x >> 29);
        }
        *rows += storage_view_rows(s->views[i]);
        free(tv);
        free(sv);
    }
    arena_destroy(&mem);
    storage_snapshot_free(s);
    return h;
}

static void test_compaction(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_DAY);
    struct storage_table *t;
    CHECK(storage_table_open(dir, "c", &ds, NULL, &t, &err) == 0);
    struct tst_catalog cat = {0};
    for (int i = 0; i < 3; i++) {
        append_detail(t, T0 + 7 + i * 1000, 997, 5000); /* interleaved times */
        CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    }
    append_detail(t, T0 + DAY + 5, 1000, 100); /* another day */
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 4);
    char old[3][96];
    for (int i = 0; i < 3; i++)
        memcpy(old[i], cat.names[i], 96);
    uint64_t rows0, rows1;
    uint64_t fp0 = fingerprint(t, &rows0);
    struct tally tl0;
    tally_snapshot(t, &tl0);

    /* a failing commit changes nothing and leaves no file */
    cat.fail_next = 1;
    bool did = true;
    CHECK_EQ_INT(storage_table_compact(t, NULL, tst_commit, &cat, &did, &err), LERR_IO);
    CHECK(!did);
    CHECK_EQ_INT(tst_count_files(dir), 4);

    struct storage_snapshot *held = storage_table_snapshot(t);
    lerr_init(&err);
    struct storage_compact_opts co = {.zstd = true};
    CHECK(storage_table_compact(t, &co, tst_commit, &cat, &did, &err) == 0 && did);
    CHECK_EQ_INT(cat.n, 2);
    CHECK_EQ_INT(cat.last_removed, 3);
    CHECK(storage_table_compact(t, &co, tst_commit, &cat, &did, &err) == 0 && !did);
    uint64_t fp1 = fingerprint(t, &rows1);
    CHECK(rows1 == rows0 && fp1 == fp0);
    struct tally tl1;
    tally_snapshot(t, &tl1);
    CHECK(tl1.rows == tl0.rows && tl1.sum_v == tl0.sum_v && tl1.bad == 0);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK(st.segment_count == 2 && st.row_count == 15100);
    /* the old files live while a snapshot holds them */
    for (int i = 0; i < 3; i++)
        CHECK(tst_exists(dir, old[i]));
    struct tally tlh = {0};
    for (size_t i = 0; i < held->nviews; i++)
        tally_view(held->views[i], &tlh);
    CHECK(tlh.rows == 15100 && tlh.bad == 0);
    storage_snapshot_free(held);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(!tst_exists(dir, old[i]), "%s deleted after the last snapshot", old[i]);
    CHECK_EQ_INT(tst_count_files(dir), 2);
    storage_table_free(t);

    /* the compacted (zstd) segment reopens and verifies */
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "c", &ds, &oo, &t, &err) == 0);
    uint64_t fp2 = fingerprint(t, &rows1);
    CHECK(rows1 == rows0 && fp2 == fp0);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- start-up ------------------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static void test_startup(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_DAY);
    struct storage_table *t;
    CHECK(storage_table_open(dir, "s", &ds, NULL, &t, &err) == 0);
    struct tst_catalog cat = {0};
    append_detail(t, T0, 10, 100);
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    append_detail(t, T0 + DAY, 10, 100);
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    storage_table_free(t);
    CHECK_EQ_INT(cat.n, 2);

    /* damage the second segment in its middle; add strays */
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, cat.names[1]);
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 3, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size / 3, SEEK_SET);
    fputc(c ^ 0xff, f);
    fclose(f);
    write_file(dir, "junk.lseg", "not a segment", 13);
    write_file(dir, ".tmp-2023-11-15T00-00-00.000Z_0011223344556677.lseg", "half", 4);
    write_file(dir, "notes.txt", "x", 1);
    snprintf(cat.names[2], sizeof cat.names[2], "gone.lseg");
    cat.n = 3;

    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = 3, .verify_all = true};
    CHECK(storage_table_open(dir, "s", &ds, &oo, &t, &err) == 0);
    CHECK(!tst_exists(dir, "junk.lseg"));
    CHECK(!tst_exists(dir, "notes.txt"));
    CHECK(!tst_exists(dir, ".tmp-2023-11-15T00-00-00.000Z_0011223344556677.lseg"));
    CHECK(tst_exists(dir, cat.names[0]));
    CHECK(tst_exists(dir, cat.names[1])); /* corrupt: reported, kept for a person */
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.segment_count, 1);
    CHECK_EQ_INT(st.row_count, 100);
    CHECK_EQ_INT(st.corrupt_count, 2);
    char nm[128], msg[600];
    bool saw_corrupt = false, saw_gone = false;
    for (size_t i = 0; storage_table_corrupt(t, i, nm, sizeof nm, msg, sizeof msg); i++) {
        saw_corrupt |= strcmp(nm, cat.names[1]) == 0 && strstr(msg, cat.names[1]) != NULL;
        saw_gone |= strcmp(nm, "gone.lseg") == 0 && strstr(msg, "not in") != NULL;
    }
    CHECK(saw_corrupt && saw_gone);
    struct tally tl;
    tally_snapshot(t, &tl);
    CHECK(tl.rows == 100 && tl.bad == 0 && tl.errors == 0);

    /* drop: data gone for new snapshots; files once the last one lets go */
    struct storage_snapshot *held = storage_table_snapshot(t);
    CHECK(storage_table_drop_data(t, &err) == 0);
    storage_table_status(t, &st);
    CHECK(st.row_count == 0 && st.segment_count == 0 && st.corrupt_count == 0);
    struct storage_snapshot *empty = storage_table_snapshot(t);
    CHECK_EQ_INT(empty->nviews, 0);
    storage_snapshot_free(empty);
    CHECK(tst_exists(dir, cat.names[0]));
    memset(&tl, 0, sizeof tl);
    tally_view(held->views[0], &tl);
    CHECK(tl.rows == 100 && tl.bad == 0);
    storage_snapshot_free(held);
    CHECK_EQ_INT(tst_count_files(dir), 0);
    append_detail(t, T0, 10, 5); /* still usable */
    tally_snapshot(t, &tl);
    CHECK_EQ_INT(tl.rows, 5);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- schema discovery ---------------------------------------------------------- */

static void test_add_column(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_DAY);
    struct storage_table *t;
    CHECK(storage_table_open(dir, "f", &ds, NULL, &t, &err) == 0);
    append_detail(t, T0, 10, 50);
    struct storage_snapshot *old = storage_table_snapshot(t);
    struct storage_column nc = {.name = "city", .type = SQL_STRING};
    CHECK_EQ_INT(storage_table_add_column(t, &nc, &err), 3);
    CHECK_EQ_INT(storage_table_add_column(t, &nc, &err), -1); /* duplicate */
    struct storage_column reserved = {.name = "__x", .type = SQL_STRING};
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_add_column(t, &reserved, &err), -1);
    CHECK(strstr(err.msg, "reserved") != NULL);
    CHECK_EQ_INT(storage_table_find_column(t, "city", 4), 3);
    /* new rows carry the column */
    int64_t tm[3] = {T0 + 1000, T0 + 1001, T0 + 1002};
    struct sql_value v[3] = {sql_long(1), sql_long(1), sql_long(1)};
    struct sql_value s[3] = {sql_string("s0", 2), sql_string("s1", 2), sql_string("s2", 2)};
    struct sql_value city[3] = {sql_string("Oslo", 4), sql_null(SQL_STRING), sql_long(7)};
    struct storage_batch_col bc[3] = {
        {.col = 1, .values = v}, {.col = 2, .values = s}, {.col = 3, .values = city}};
    struct storage_batch b = {.nrows = 3, .time = tm, .ncols = 3, .cols = bc};
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(old->ncols, 3); /* the old snapshot keeps its schema */
    storage_snapshot_free(old);
    struct tst_catalog cat = {0};
    for (int round = 0; round < 2; round++) {
        struct storage_snapshot *sn = storage_table_snapshot(t);
        CHECK_EQ_INT(sn->ncols, 4);
        struct arena mem;
        arena_init(&mem, 4096, 0);
        int nulls = 0, oslo = 0, seven = 0;
        for (size_t i = 0; i < sn->nviews; i++) {
            struct sql_value *cv = tst_read_col(sn->views[i], 3, &mem);
            for (uint64_t r = 0; cv && r < storage_view_rows(sn->views[i]); r++) {
                nulls += cv[r].is_null;
                oslo += !cv[r].is_null && cv[r].v.s.n == 4 && !memcmp(cv[r].v.s.p, "Oslo", 4);
                seven += !cv[r].is_null && cv[r].v.s.n == 1 && cv[r].v.s.p[0] == '7';
            }
            free(cv);
        }
        CHECK_MSG(nulls == 51 && oslo == 1 && seven == 1, "round %d: %d nulls %d oslo %d seven",
                  round, nulls, oslo, seven);
        arena_destroy(&mem);
        storage_snapshot_free(sn);
        CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    }
    storage_table_free(t);
    /* reopened with the declared schema only: the segment brings the column */
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n};
    CHECK(storage_table_open(dir, "f", &ds, &oo, &t, &err) == 0);
    CHECK_EQ_INT(storage_table_ncols(t), 4);
    CHECK_EQ_STR(storage_table_column(t, 3)->name, "city");
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- type widening under schema discovery ------------------------------------------- */

/* Appends one row with column 3 (x) = *x at time t. */
static void append_x(struct storage_table *t, int64_t tm, struct sql_value x)
{
    struct sql_value v = sql_long(1), s = sql_string("s", 1);
    struct storage_batch_col bc[3] = {
        {.col = 1, .values = &v}, {.col = 2, .values = &s}, {.col = 3, .values = &x}};
    struct storage_batch b = {.nrows = 1, .time = &tm, .ncols = 3, .cols = bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
}

/* Every row's x as text in time order ("1,2,2.5,abc"), and which types the
 * views store x as (a bit per enum sql_type). */
static void read_x(struct storage_table *t, int want_type, char *out, size_t cap, unsigned *stored)
{
    struct storage_snapshot *sn = storage_table_snapshot(t);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    char text[64][32] = {{0}};
    int64_t when[64];
    size_t n = 0;
    *stored = 0;
    for (size_t i = 0; i < sn->nviews; i++) {
        const struct storage_view *v = sn->views[i];
        *stored |= 1u << storage_view_column_type(v, 3);
        struct sql_value *cv = tst_read_col(v, 3, &mem);
        int64_t tm[64];
        uint64_t rows = storage_view_rows(v);
        struct storage_scan *sc = storage_scan_new(v);
        struct lerr err;
        lerr_init(&err);
        CHECK(rows <= 64 && storage_scan_time(sc, 0, (uint32_t)rows, tm, &err) == 0);
        storage_scan_free(sc);
        for (uint64_t r = 0; cv && r < rows && n < 64; r++, n++) {
            CHECK_MSG(cv[r].type == want_type, "view %s row %llu: type %d, want %d",
                      storage_view_name(v), (unsigned long long)r, cv[r].type, want_type);
            struct buf b;
            buf_init(&b, 64);
            sql_value_to_text(&cv[r], &b, false);
            snprintf(text[n], sizeof text[n], "%s", buf_cstr(&b));
            buf_free(&b);
            when[n] = tm[r];
        }
        free(cv);
    }
    /* time order (rows were appended one per millisecond) */
    size_t o = 0;
    out[0] = '\0';
    for (int64_t k = 0; k < 64; k++)
        for (size_t j = 0; j < n; j++)
            if (when[j] == T0 + k)
                o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, "%s%s", o ? "," : "",
                                      text[j]);
    arena_destroy(&mem);
    storage_snapshot_free(sn);
}

static void test_widen_column(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_DAY);
    struct storage_table *t;
    CHECK(storage_table_open(dir, "w", &ds, NULL, &t, &err) == 0);
    struct storage_column xc = {.name = "x", .type = SQL_LONG};
    CHECK_EQ_INT(storage_table_add_column(t, &xc, &err), 3);
    struct tst_catalog cat = {0};
    /* a persisted segment of longs, then longs in a buffer; 2^53 + 1 is exact
     * as a long, and as a double it reads as the nearest double (2^53) */
    append_x(t, T0 + 0, sql_long(1));
    append_x(t, T0 + 1, sql_long(-2));
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    append_x(t, T0 + 2, sql_long(3));
    append_x(t, T0 + 3, sql_long(9007199254740993LL));

    /* refused: narrower, the same, __time, a measure-free bad index */
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_widen_column(t, 3, SQL_LONG, &err), LERR_INVALID);
    CHECK(strstr(err.msg, "cannot widen from long to long") != NULL);
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_widen_column(t, 0, SQL_DOUBLE, &err), LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_widen_column(t, 9, SQL_DOUBLE, &err), LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_widen_column(t, 2, SQL_DOUBLE, &err), LERR_INVALID); /* string */

    /* LONG -> DOUBLE: the segment and the sealed buffer stay LONG, read as DOUBLE */
    lerr_init(&err);
    CHECK_MSG(storage_table_widen_column(t, 3, SQL_DOUBLE, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(storage_table_column(t, 3)->type, SQL_DOUBLE);
    append_x(t, T0 + 4, sql_double(2.5));
    append_x(t, T0 + 5, sql_long(7)); /* a long into the new buffer: 7.0 */
    char got[512];
    unsigned stored;
    read_x(t, SQL_DOUBLE, got, sizeof got, &stored);
    CHECK_EQ_STR(got, "1.0,-2.0,3.0,9.007199254740992E15,2.5,7.0");
    CHECK_MSG(stored == ((1u << SQL_LONG) | (1u << SQL_DOUBLE)), "stored types %x", stored);

    /* numeric reads of a LONG view as doubles (aggregates' fast path) */
    struct storage_snapshot *sn = storage_table_snapshot(t);
    double sum = 0;
    for (size_t i = 0; i < sn->nviews; i++) {
        double d[8];
        bool nl[8];
        uint64_t rows = storage_view_rows(sn->views[i]);
        struct storage_scan *sc = storage_scan_new(sn->views[i]);
        CHECK(rows <= 8 && storage_scan_doubles(sc, 3, 0, (uint32_t)rows, d, nl, &err) == 0);
        for (uint64_t r = 0; r < rows; r++)
            sum += nl[r] ? 0 : d[r];
        storage_scan_free(sc);
    }
    CHECK_MSG(sum == 1 - 2 + 3 + 9007199254740992.0 + 2.5 + 7, "sum %.17g", sum);
    storage_snapshot_free(sn);

    /* DOUBLE -> STRING: numbers read as Druid prints them */
    lerr_init(&err);
    CHECK_MSG(storage_table_widen_column(t, 3, SQL_STRING, &err) == 0, "%s", err.msg);
    append_x(t, T0 + 6, sql_string("abc", 3));
    read_x(t, SQL_STRING, got, sizeof got, &stored);
    CHECK_EQ_STR(got, "1,-2,3,9007199254740993,2.5,7.0,abc");
    lerr_init(&err);
    CHECK_EQ_INT(storage_table_widen_column(t, 3, SQL_DOUBLE, &err), LERR_INVALID);

    /* persist: each buffer is written with its own types, and reads the same */
    CHECK_MSG(storage_table_persist(t, tst_commit, &cat, &err) == 0, "%s", err.msg);
    read_x(t, SQL_STRING, got, sizeof got, &stored);
    CHECK_EQ_STR(got, "1,-2,3,9007199254740993,2.5,7.0,abc");
    CHECK_MSG(stored == ((1u << SQL_LONG) | (1u << SQL_DOUBLE) | (1u << SQL_STRING)),
              "persisted types %x", stored);
    /* compaction rewrites them as the table's type */
    bool did = false;
    CHECK(storage_table_compact(t, NULL, tst_commit, &cat, &did, &err) == 0 && did);
    read_x(t, SQL_STRING, got, sizeof got, &stored);
    CHECK_EQ_STR(got, "1,-2,3,9007199254740993,2.5,7.0,abc");
    CHECK_MSG(stored == (1u << SQL_STRING), "compacted types %x", stored);
    storage_table_free(t);

    /* reopened with the widened schema (what the catalog holds) */
    struct storage_column wcols[] = {dcols[0], dcols[1], {.name = "x", .type = SQL_STRING}};
    struct storage_schema ws = ds;
    ws.cols = wcols;
    ws.ncols = 3;
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n};
    CHECK(storage_table_open(dir, "w", &ws, &oo, &t, &err) == 0);
    read_x(t, SQL_STRING, got, sizeof got, &stored);
    CHECK_EQ_STR(got, "1,-2,3,9007199254740993,2.5,7.0,abc");

    /* a REPLACE's staging table widened over buffers of the old types: the
     * swap writes each buffer with the types it holds */
    char *sdir = tst_mkdtemp();
    struct storage_table *src;
    CHECK(storage_table_open(sdir, "w-staging", &ds, NULL, &src, &err) == 0);
    CHECK_EQ_INT(storage_table_add_column(src, &xc, &err), 3);
    append_x(src, T0 + 0, sql_long(5));
    CHECK(storage_table_widen_column(src, 3, SQL_DOUBLE, &err) == 0);
    append_x(src, T0 + 1, sql_double(0.25));
    CHECK(storage_table_widen_column(src, 3, SQL_STRING, &err) == 0);
    append_x(src, T0 + 2, sql_string("z", 1));
    CHECK_MSG(storage_table_replace(t, src, NULL, INT64_MIN, INT64_MAX, tst_commit, &cat, &err) ==
                  0,
              "replace: %s", err.msg);
    read_x(t, SQL_STRING, got, sizeof got, &stored);
    CHECK_EQ_STR(got, "5,0.25,z");
    CHECK_MSG(stored == ((1u << SQL_LONG) | (1u << SQL_DOUBLE) | (1u << SQL_STRING)),
              "replaced types %x", stored);
    storage_table_free(src);
    storage_table_free(t);
    tst_rmtree(sdir);
    free(sdir);
    tst_rmtree(dir);
    free(dir);
}

/* ---- cuts: a query over two "nodes" sharing one store -------------------------- */

struct imgs {
    void *p[8];
    size_t n[8];
    size_t count;
};

static int keep_image(void *ctx, const void *p, size_t n, struct lerr *err)
{
    struct imgs *im = ctx;
    if (im->count == 8)
        return lerr_set(err, LERR_INTERNAL, "too many images");
    im->p[im->count] = malloc(n);
    memcpy(im->p[im->count], p, n);
    im->n[im->count++] = n;
    return 0;
}

static void test_cut(void)
{
    char *dir = tst_mkdtemp(), *dir_b = tst_mkdtemp(), *tmp = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema ds = dschema(STORAGE_GRAN_DAY);
    struct storage_open_opts oo = {.limits = {.max_rows = 100000}};
    struct storage_table *a, *b;
    CHECK(storage_table_open(dir, "a", &ds, &oo, &a, &err) == 0);
    append_detail(a, T0, 10, 500);
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(a, tst_commit, &cat, &err) == 0);
    append_detail(a, T0 + 86400000, 10, 300); /* the next day: another chunk */
    append_detail(a, T0 + 5000, 10, 7);
    /* node b: its own cache directory over a's store; a's segment is not in b's catalog
     * yet, and b's open must leave it (keep_unknown) */
    struct segstore *shared;
    CHECK(segstore_local_new(dir, &shared, &err) == 0);
    struct storage_open_opts ob = {.limits = oo.limits, .store = shared, .keep_unknown = true};
    CHECK(storage_table_open(dir_b, "b", &ds, &ob, &b, &err) == 0);
    segstore_unref(shared);
    CHECK_EQ_INT(tst_count_files(dir), 1);
    append_detail(b, T0 + 100, 10, 200);

    /* a's side: its cut's segment names and its realtime rows as images */
    struct storage_cut *ca = storage_table_cut(a);
    CHECK_EQ_INT(storage_cut_nsegs(ca), 1);
    char seg_name[128];
    snprintf(seg_name, sizeof seg_name, "%s", storage_cut_seg_name(ca, 0));
    struct imgs im = {0};
    CHECK(storage_cut_realtime_images(ca, tmp, keep_image, &im, &err) == 0);
    CHECK_EQ_INT(im.count, 2); /* one image per realtime buffer (chunk) */
    CHECK_EQ_INT(tst_count_files(tmp), 0);
    append_detail(a, T0 + 9000, 10, 50); /* after the cut: in no image */
    storage_cut_free(ca);

    /* b's side: the shared segment, its own realtime rows, a's images */
    struct storage_cut *cb = storage_table_cut(b);
    struct storage_seg_want want[2] = {
        {seg_name, T0, T0 + 86400000},
        {"2020-01-01T00-00-00.000Z_0000000000000000.lseg", 1577836800000, 1577923200000}};
    size_t lens[2] = {im.n[0], im.n[1]};
    struct storage_snapshot *s = storage_cut_snapshot(b, cb, want, 1, im.p, lens, 2, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    CHECK(im.p[0] == NULL && im.p[1] == NULL); /* taken */
    struct tally tl = {0};
    for (size_t i = 0; s && i < s->nviews; i++)
        tally_view(s->views[i], &tl);
    CHECK_EQ_INT(tl.rows, 500 + 307 + 200);
    CHECK_EQ_INT(tl.sum_v, 1007);
    CHECK_EQ_INT(tl.bad, 0);
    CHECK_EQ_INT(tl.errors, 0);
    CHECK_EQ_INT(s ? s->nmissing : 1, 0);
    storage_snapshot_free(s);

    /* a segment that does not read is named, with its chunk, never left out silently */
    s = storage_cut_snapshot(b, cb, want, 2, NULL, NULL, 0, &err);
    CHECK(s && s->nmissing == 1 && s->missing[0].chunk_start == 1577836800000);
    storage_snapshot_free(s);

    /* a damaged image is refused, and every image is freed */
    struct imgs bad = {0};
    ca = storage_table_cut(a);
    CHECK(storage_cut_realtime_images(ca, tmp, keep_image, &bad, &err) == 0);
    storage_cut_free(ca);
    ((unsigned char *)bad.p[0])[bad.n[0] / 2] ^= 0xff;
    bad.n[0] -= 3;
    size_t blens[8];
    memcpy(blens, bad.n, sizeof blens);
    lerr_init(&err);
    CHECK(storage_cut_snapshot(b, cb, want, 1, bad.p, blens, bad.count, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "realtime image from another node") != NULL, "%s", err.msg);
    storage_cut_free(cb);
    storage_table_free(a);
    storage_table_free(b);
    tst_rmtree(dir);
    tst_rmtree(dir_b);
    tst_rmtree(tmp);
    free(dir);
    free(dir_b);
    free(tmp);
}

int main(void)
{
    log_set_level((enum log_level)(LOG_ERROR + 1));
    test_cut();
    init_names();
    test_persist();
    test_discard_sealed();
    test_chunks();
    test_replace();
    test_replace_ahead();
    test_open_deferred();
    test_compaction();
    test_startup();
    test_add_column();
    test_widen_column();
    test_concurrent(false);
    test_concurrent(true);
    return check_summary();
}
