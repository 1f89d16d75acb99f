/*
 * test_storage_rollup.c — rollup of aggregate tables against a brute-force
 * reference computed here: COUNT, SUM, MIN, MAX and LATEST measures, string
 * and long dimensions with NULLs and '' (NULL equals NULL, NULL differs from
 * ''), rows arriving out of order over two days, timeResolution hour and
 * minute. Checked in realtime buffers, after persist (best-effort rollup:
 * a key may sit in several segments, re-aggregated here through the state
 * API), and after compaction (perfect rollup: each key once).
 */
#include "test_storage_common.h"

enum { C_S = 1, C_N, C_CNT, C_SUM, C_MIN, C_MAX, C_LAT, NCOLS };
#define NMEAS 5
#define NROWS 12000
#define DAY 86400000LL
#define T0 (1700000000000LL - 1700000000000LL % DAY)

static uint64_t rng = 99;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* One input row as the test generated it. */
struct in_row {
    int64_t t;
    int s;          /* -1 NULL, 0 '', 1.. "k<s>" */
    int n;          /* -1 NULL */
    int64_t x;      /* SUM/MIN input; x_null */
    bool x_null;
    double y;       /* MAX input */
    bool y_null;
    char lat[16];   /* LATEST input */
};

static const char *skey[] = {"", "a", "b", "ü", "a "};

static struct sql_value s_value(int s)
{
    if (s < 0)
        return sql_null(SQL_STRING);
    return sql_string(skey[s], strlen(skey[s]));
}

static struct sql_agg_call calls[NMEAS];
static const char *const mtypes[NMEAS] = {"count", "longSum", "longMin", "doubleMax",
                                          "stringLatest"};

static void gen_rows(struct in_row *rows, int n, int64_t *next_time)
{
    for (int i = 0; i < n; i++) {
        struct in_row *r = &rows[i];
        /* unique times (LATEST has no ties), out of order within 2 days:
         * multiplying by a prime is a bijection modulo 2 days */
        r->t = T0 + (int64_t)(((uint64_t)(*next_time)++ * 2654435761ULL) % (uint64_t)(2 * DAY));
        r->s = (int)(rnd() % 6) - 1;
        r->n = rnd() % 5 == 0 ? -1 : (int)(rnd() % 3);
        r->x_null = rnd() % 7 == 0;
        r->x = (int64_t)(rnd() % 2001) - 1000;
        r->y_null = rnd() % 5 == 0;
        r->y = (double)(int64_t)(rnd() % 100000) / 8.0 - 3000;
        snprintf(r->lat, sizeof r->lat, "w%d", i);
    }
}

/* Appends rows through the state path the pipeline uses. */
static void append_rows(struct storage_table *t, const struct in_row *rows, int n)
{
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    int64_t *time = malloc(n * sizeof *time);
    struct sql_value *sv = malloc(n * sizeof *sv), *nv = malloc(n * sizeof *nv);
    size_t ss[NMEAS];
    uint8_t *st[NMEAS];
    for (int m = 0; m < NMEAS; m++) {
        ss[m] = sql_agg_state_size(&calls[m]);
        st[m] = malloc(ss[m] * n);
    }
    for (int i = 0; i < n; i++) {
        const struct in_row *r = &rows[i];
        time[i] = r->t;
        sv[i] = s_value(r->s);
        nv[i] = r->n < 0 ? sql_null(SQL_LONG) : sql_long(r->n);
        struct sql_value args[NMEAS] = {
            sql_null(SQL_NULL),
            r->x_null ? sql_null(SQL_LONG) : sql_long(r->x),
            r->x_null ? sql_null(SQL_LONG) : sql_long(r->x),
            r->y_null ? sql_null(SQL_DOUBLE) : sql_double(r->y),
            sql_string(r->lat, strlen(r->lat)),
        };
        for (int m = 0; m < NMEAS; m++) {
            void *p = st[m] + ss[m] * i;
            sql_agg_init(&calls[m], p);
            CHECK(sql_agg_add(&calls[m], p, &args[m], r->t, &mem));
        }
    }
    struct storage_batch_col bc[NCOLS - 1] = {
        {.col = C_S, .values = sv}, {.col = C_N, .values = nv},
    };
    for (int m = 0; m < NMEAS; m++)
        bc[2 + m] = (struct storage_batch_col){.col = (uint32_t)(C_CNT + m), .states = st[m]};
    /* in batches of 1000 */
    for (int i0 = 0; i0 < n; i0 += 1000) {
        int k = n - i0 < 1000 ? n - i0 : 1000;
        struct storage_batch_col part[NCOLS - 1];
        for (int c = 0; c < NCOLS - 1; c++) {
            part[c] = bc[c];
            if (part[c].values)
                part[c].values += i0;
            else
                part[c].states = (const uint8_t *)part[c].states + ss[c - 2] * i0;
        }
        struct storage_batch b = {.nrows = (uint32_t)k, .time = time + i0, .ncols = NCOLS - 1,
                                  .cols = part};
        struct lerr err;
        lerr_init(&err);
        CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
    }
    for (int m = 0; m < NMEAS; m++)
        free(st[m]);
    free(time);
    free(sv);
    free(nv);
    arena_destroy(&mem);
}

/* ---- the reference ----------------------------------------------------------- */

/* A group: key, then measures as finalized values. */
struct grp {
    int64_t t;
    int s, n;
    int64_t cnt;
    bool has_sum;
    int64_t sum, min;
    bool has_max;
    double max;
    int64_t lat_t;
    char lat[16];
    int seen;       /* how many stored rows carried this key */
};

static int64_t floor_to(int64_t t, int64_t unit) { return t - ((t % unit) + unit) % unit; }

static int grp_cmp(const void *a, const void *b)
{
    const struct grp *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    return (x->n > y->n) - (x->n < y->n);
}

static size_t reference(const struct in_row *rows, int n, int64_t unit, struct grp *out)
{
    struct grp *g = calloc(n, sizeof *g);
    for (int i = 0; i < n; i++) {
        g[i].t = floor_to(rows[i].t, unit);
        g[i].s = rows[i].s;
        g[i].n = rows[i].n;
        g[i].cnt = 1;
        g[i].has_sum = !rows[i].x_null;
        g[i].sum = g[i].min = rows[i].x;
        g[i].has_max = !rows[i].y_null;
        g[i].max = rows[i].y;
        g[i].lat_t = rows[i].t;
        memcpy(g[i].lat, rows[i].lat, sizeof g[i].lat);
    }
    qsort(g, n, sizeof *g, grp_cmp);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (k && grp_cmp(&out[k - 1], &g[i]) == 0) {
            struct grp *o = &out[k - 1];
            o->cnt++;
            if (g[i].has_sum) {
                o->sum = o->has_sum ? o->sum + g[i].sum : g[i].sum;
                o->min = o->has_sum && o->min < g[i].min ? o->min : g[i].min;
                o->has_sum = true;
            }
            if (g[i].has_max) {
                o->max = o->has_max && o->max > g[i].max ? o->max : g[i].max;
                o->has_max = true;
            }
            if (g[i].lat_t > o->lat_t) {
                o->lat_t = g[i].lat_t;
                memcpy(o->lat, g[i].lat, sizeof o->lat);
            }
        } else {
            out[k++] = g[i];
        }
    }
    free(g);
    return k;
}

/* ---- what the table holds ------------------------------------------------------ */

struct stored {
    struct grp key;
    uint8_t *states;   /* NMEAS states back to back */
};

static int stored_cmp(const void *a, const void *b)
{
    return grp_cmp(&((const struct stored *)a)->key, &((const struct stored *)b)->key);
}

static int s_index(const struct sql_value *v)
{
    if (v->is_null)
        return -1;
    for (int i = 0; i < (int)LS_ARRAY_LEN(skey); i++)
        if (strlen(skey[i]) == v->v.s.n && memcmp(skey[i], v->v.s.p, v->v.s.n) == 0)
            return i;
    return 99;
}

/*
 * Reads every stored row of every view, merges rows with equal keys through
 * the aggregators (as a query would) and compares with the reference. With
 * `perfect`, each key must be stored exactly once.
 */
static void check_table(struct storage_table *t, const struct grp *ref, size_t nref,
                        int64_t unit, bool perfect, const char *what)
{
    struct storage_snapshot *snap = storage_table_snapshot(t);
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    size_t ss[NMEAS], total_ss = 0;
    for (int m = 0; m < NMEAS; m++)
        total_ss += ss[m] = sql_agg_state_size(&snap->cols[C_CNT + m].agg);
    uint64_t nrows = 0;
    for (size_t v = 0; v < snap->nviews; v++)
        nrows += storage_view_rows(snap->views[v]);
    struct stored *all = calloc(nrows + 1, sizeof *all);
    size_t k = 0;
    struct lerr err;
    lerr_init(&err);
    for (size_t vi = 0; vi < snap->nviews; vi++) {
        const struct storage_view *v = snap->views[vi];
        struct storage_scan *sc = storage_scan_new(v);
        uint64_t n = storage_view_rows(v);
        for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
            struct sql_value sv[STORAGE_BLOCK_ROWS], nv[STORAGE_BLOCK_ROWS], cntv[STORAGE_BLOCK_ROWS];
            int64_t tm[STORAGE_BLOCK_ROWS];
            CHECK(storage_scan_time(sc, r0, m, tm, &err) == 0);
            CHECK(storage_scan_values(sc, C_S, r0, m, NULL, sv, &err) == 0);
            CHECK(storage_scan_values(sc, C_N, r0, m, NULL, nv, &err) == 0);
            CHECK(storage_scan_values(sc, C_CNT, r0, m, NULL, cntv, &err) == 0);
            uint8_t *st[NMEAS];
            for (int q = 0; q < NMEAS; q++) {
                st[q] = arena_alloc(&mem, ss[q] * m);
                CHECK_MSG(storage_scan_states(sc, (size_t)(C_CNT + q), r0, m, st[q], &mem, &err) == 0,
                          "states: %s", err.msg);
            }
            for (uint32_t j = 0; j < m; j++) {
                struct stored *o = &all[k++];
                o->key.t = tm[j];
                o->key.s = s_index(&sv[j]);
                o->key.n = nv[j].is_null ? -1 : (int)nv[j].v.l;
                CHECK(tm[j] == floor_to(tm[j], unit));
                CHECK(!cntv[j].is_null && cntv[j].type == SQL_LONG && cntv[j].v.l >= 1);
                o->states = arena_alloc(&mem, total_ss);
                size_t off = 0;
                for (int q = 0; q < NMEAS; q++) {
                    memcpy(o->states + off, st[q] + ss[q] * j, ss[q]);
                    off += ss[q];
                }
            }
        }
        storage_scan_free(sc);
    }
    qsort(all, k, sizeof *all, stored_cmp);
    /* merge equal keys through the aggregators */
    size_t ng = 0, dup = 0;
    for (size_t i = 0; i < k; i++) {
        if (ng && grp_cmp(&all[ng - 1].key, &all[i].key) == 0) {
            size_t off = 0;
            for (int q = 0; q < NMEAS; q++) {
                CHECK(sql_agg_merge(&snap->cols[C_CNT + q].agg, all[ng - 1].states + off,
                                    all[i].states + off, &mem));
                off += ss[q];
            }
            dup++;
            continue;
        }
        all[ng++] = all[i];
    }
    CHECK_MSG(ng == nref, "%s: %zu groups, want %zu", what, ng, nref);
    if (perfect)
        CHECK_MSG(dup == 0, "%s: %zu keys stored more than once after compaction", what, dup);
    int bad = 0;
    for (size_t i = 0; i < ng && i < nref && bad < 5; i++) {
        const struct grp *w = &ref[i];
        struct sql_value f[NMEAS];
        size_t off = 0;
        for (int q = 0; q < NMEAS; q++) {
            sql_agg_finalize(&snap->cols[C_CNT + q].agg, all[i].states + off, &f[q]);
            off += ss[q];
        }
        bool ok = grp_cmp(&all[i].key, w) == 0 && f[0].v.l == w->cnt &&
                  f[1].is_null == !w->has_sum && (f[1].is_null || f[1].v.l == w->sum) &&
                  f[2].is_null == !w->has_sum && (f[2].is_null || f[2].v.l == w->min) &&
                  f[3].is_null == !w->has_max && (f[3].is_null || f[3].v.d == w->max) &&
                  !f[4].is_null && f[4].v.s.n == strlen(w->lat) &&
                  memcmp(f[4].v.s.p, w->lat, f[4].v.s.n) == 0;
        if (!ok) {
            bad++;
            CHECK_MSG(0, "%s: group %zu (t=%lld s=%d n=%d): cnt %lld/%lld sum %lld/%lld "
                         "latest %.*s/%s", what, i, (long long)w->t, w->s, w->n,
                      (long long)f[0].v.l, (long long)w->cnt, (long long)f[1].v.l,
                      (long long)w->sum, (int)f[4].v.s.n, f[4].v.s.p ? f[4].v.s.p : "", w->lat);
        }
    }
    free(all);
    arena_destroy(&mem);
    storage_snapshot_free(snap);
}

static void run(enum storage_gran res, int64_t unit)
{
    char *dir = tst_mkdtemp();
    struct storage_column cols[NCOLS - 1] = {
        {.name = "s", .type = SQL_STRING, .kind = STORAGE_DIMENSION},
        {.name = "n", .type = SQL_LONG, .kind = STORAGE_DIMENSION},
    };
    static const char *const mnames[NMEAS] = {"cnt", "sum", "min", "max", "lat"};
    for (int m = 0; m < NMEAS; m++)
        cols[2 + m] = (struct storage_column){.name = mnames[m], .kind = STORAGE_MEASURE,
                                              .agg = calls[m]};
    struct storage_schema sch = {.type = STORAGE_AGGREGATE, .partitioning = STORAGE_GRAN_DAY,
                                 .time_resolution = res, .cols = cols, .ncols = NCOLS - 1};
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_open(dir, "agg", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(storage_table_column(t, C_SUM)->type, SQL_LONG);
    CHECK_EQ_INT(storage_table_column(t, C_LAT)->type, SQL_STRING);

    struct in_row *rows = calloc(2 * NROWS, sizeof *rows);
    int64_t seq = 0;
    gen_rows(rows, NROWS, &seq);
    gen_rows(rows + NROWS, NROWS, &seq);
    struct grp *ref = calloc(2 * NROWS, sizeof *ref);
    struct tst_catalog cat = {0};
    char what[64];

    size_t nref = reference(rows, NROWS, unit, ref);
    CHECK(nref < NROWS);   /* the data does roll up */
    append_rows(t, rows, NROWS);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.row_count, nref);   /* one buffer per chunk: perfect rollup */
    snprintf(what, sizeof what, "%s realtime", storage_gran_name(res));
    check_table(t, ref, nref, unit, true, what);

    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 2);   /* two days, two segments */
    snprintf(what, sizeof what, "%s persisted", storage_gran_name(res));
    check_table(t, ref, nref, unit, true, what);

    /* a second wave lands in new segments: best-effort rollup */
    append_rows(t, rows + NROWS, NROWS);
    nref = reference(rows, 2 * NROWS, unit, ref);
    snprintf(what, sizeof what, "%s two waves", storage_gran_name(res));
    check_table(t, ref, nref, unit, false, what);
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 4);
    check_table(t, ref, nref, unit, false, what);

    /* compaction re-rolls each day into one segment */
    bool did = true;
    int rounds = 0;
    while (did && rounds < 5) {
        CHECK_MSG(storage_table_compact(t, NULL, tst_commit, &cat, &did, &err) == 0, "%s", err.msg);
        rounds++;
    }
    CHECK_EQ_INT(rounds, 3);
    CHECK_EQ_INT(cat.n, 2);
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.row_count, nref);
    snprintf(what, sizeof what, "%s compacted", storage_gran_name(res));
    check_table(t, ref, nref, unit, true, what);
    storage_table_free(t);

    /* and from disk */
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "agg", &sch, &oo, &t, &err) == 0);
    snprintf(what, sizeof what, "%s reopened", storage_gran_name(res));
    check_table(t, ref, nref, unit, true, what);
    storage_table_free(t);
    free(rows);
    free(ref);
    tst_rmtree(dir);
    free(dir);
}

int main(void)
{
    for (int m = 0; m < NMEAS; m++)
        CHECK(sql_agg_for_measure(mtypes[m], &calls[m]));
    run(STORAGE_GRAN_HOUR, 3600000);
    run(STORAGE_GRAN_MINUTE, 60000);
    return check_summary();
}
