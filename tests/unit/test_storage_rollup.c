/*
 * test_storage_rollup.c — rollup of aggregate tables against a brute-force
 * reference computed here: COUNT, SUM, MIN, MAX and LATEST measures, string
 * and long dimensions with NULLs and '' (NULL equals NULL, NULL differs from
 * ''), rows arriving out of order over two days, timeResolution hour and
 * minute. Checked in realtime buffers, after persist (best-effort rollup:
 * a key may sit in several segments, re-aggregated here through the state
 * API), and after compaction (perfect rollup: each key once).
 *
 * Then one value traced from the mapping to the stored row (trace()):
 * every aggregation into every measure type that accepts it, through the
 * row pipeline (states of the measure's own aggregator), realtime rollup,
 * persist, compaction and a reopen, against a reference computed here with
 * each measure type's rule; and segments whose measures were written with a
 * mapping's aggregator read back under the measure type's (compat()).
 */
#include "test_storage_common.h"

#include <jansson.h>

#include "ingest/ingest.h"
#include "util/time.h"

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
    int s;     /* -1 NULL, 0 '', 1.. "k<s>" */
    int n;     /* -1 NULL */
    int64_t x; /* SUM/MIN input; x_null */
    bool x_null;
    double y; /* MAX input */
    bool y_null;
    char lat[16]; /* LATEST input */
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
        {.col = C_S, .values = sv},
        {.col = C_N, .values = nv},
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
        struct storage_batch b = {
            .nrows = (uint32_t)k, .time = time + i0, .ncols = NCOLS - 1, .cols = part};
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
    int seen; /* how many stored rows carried this key */
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
    uint8_t *states; /* NMEAS states back to back */
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
static void check_table(struct storage_table *t, const struct grp *ref, size_t nref, int64_t unit,
                        bool perfect, const char *what)
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
            struct sql_value sv[STORAGE_BLOCK_ROWS], nv[STORAGE_BLOCK_ROWS],
                cntv[STORAGE_BLOCK_ROWS];
            int64_t tm[STORAGE_BLOCK_ROWS];
            CHECK(storage_scan_time(sc, r0, m, tm, &err) == 0);
            CHECK(storage_scan_values(sc, C_S, r0, m, NULL, sv, &err) == 0);
            CHECK(storage_scan_values(sc, C_N, r0, m, NULL, nv, &err) == 0);
            CHECK(storage_scan_values(sc, C_CNT, r0, m, NULL, cntv, &err) == 0);
            uint8_t *st[NMEAS];
            for (int q = 0; q < NMEAS; q++) {
                st[q] = arena_alloc(&mem, ss[q] * m);
                CHECK_MSG(storage_scan_states(sc, (size_t)(C_CNT + q), r0, m, st[q], &mem, &err) ==
                              0,
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
            CHECK_MSG(0,
                      "%s: group %zu (t=%lld s=%d n=%d): cnt %lld/%lld sum %lld/%lld "
                      "latest %.*s/%s",
                      what, i, (long long)w->t, w->s, w->n, (long long)f[0].v.l, (long long)w->cnt,
                      (long long)f[1].v.l, (long long)w->sum, (int)f[4].v.s.n,
                      f[4].v.s.p ? f[4].v.s.p : "", w->lat);
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
        cols[2 + m] =
            (struct storage_column){.name = mnames[m], .kind = STORAGE_MEASURE, .agg = calls[m]};
    struct storage_schema sch = {.type = STORAGE_AGGREGATE,
                                 .partitioning = STORAGE_GRAN_DAY,
                                 .time_resolution = res,
                                 .cols = cols,
                                 .ncols = NCOLS - 1};
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
    CHECK(nref < NROWS); /* the data does roll up */
    append_rows(t, rows, NROWS);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.row_count, nref); /* one buffer per chunk: perfect rollup */
    snprintf(what, sizeof what, "%s realtime", storage_gran_name(res));
    check_table(t, ref, nref, unit, true, what);

    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 2); /* two days, two segments */
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
        CHECK_MSG(storage_table_compact(t, NULL, tst_commit, &cat, &did, &err) == 0, "%s",
                  err.msg);
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

/* ---- a value from the mapping to the stored row ---------------------------------- */

/* column, measure type, mapping expression */
static const char *const trace_meas[][3] = {
    {"cnt", "count", "COUNT(*)"},
    {"cnt_ls", "longSum", "COUNT(*)"},
    {"nn", "longSum", "COUNT(n)"},
    {"big", "longSum", "COUNT(*) FILTER (WHERE n > 2)"},
    {"sum_l", "longSum", "SUM(n)"},
    {"sum_d", "doubleSum", "SUM(x)"},
    {"sum_dl", "doubleSum", "SUM(n)"},
    {"min_l", "longMin", "MIN(n)"},
    {"max_l", "longMax", "MAX(n)"},
    {"max_dl", "doubleMax", "MAX(n)"},
    {"min_d", "doubleMin", "MIN(x)"},
    {"min_f", "floatMin", "MIN(n)"},
    {"lat_l", "longLatest", "LATEST(n)"},
    {"lat_s", "stringLatest", "LATEST(s)"},
    {"lat_sn", "stringLatest", "LATEST(n)"},
    {"ear_d", "doubleEarliest", "EARLIEST(x)"},
    {"ear_s", "stringEarliest", "EARLIEST(s, 2)"},
    {"lat_by", "stringLatest", "LATEST_BY(s, MILLIS_TO_TIMESTAMP(seq))"},
};
#define TM ((int)LS_ARRAY_LEN(trace_meas))
#define TWAVE 3000
#define TIDS 40

struct tev {
    int64_t t, seq;
    int id;
    bool n_null, x_null, s_null;
    int64_t n;
    double x;
    char s[8];
};

static void tgen(struct tev *e, int n, int wave)
{
    for (int k = 0; k < n; k++) {
        int i = wave * TWAVE + k;
        struct tev *v = &e[k];
        /* distinct times and seqs, out of order, over two days */
        v->t = T0 + (int64_t)(((uint64_t)i * 2654435761ULL) % (uint64_t)(2 * DAY));
        v->seq = (int64_t)(((uint64_t)i * 40503ULL) % 1000003ULL);
        v->id = (int)(rnd() % TIDS);
        v->n_null = rnd() % 6 == 0;
        v->n = (int64_t)(rnd() % 21) - 10;
        v->x_null = rnd() % 5 == 0;
        v->x = (double)(int64_t)(rnd() % 4001) / 16.0 - 100;
        v->s_null = rnd() % 7 == 0;
        snprintf(v->s, sizeof v->s, "%s%d", rnd() % 2 ? "\xc3\xa9" : "s", (int)(rnd() % 50));
    }
}

/* The value measure m holds for events e[0..n) (one group), by its type's rule. */
static struct sql_value tref(int m, const struct tev *const *e, int n, struct arena *mem)
{
    int64_t cnt = 0, nn = 0, big = 0, suml = 0;
    double sumd = 0, sumdl = 0;
    bool hn = false, hx = false;
    int64_t minl = 0, maxl = 0;
    double mind = 0;
    const struct tev *lat = NULL, *ear = NULL, *latby = NULL;
    for (int i = 0; i < n; i++) {
        const struct tev *v = e[i];
        cnt++;
        if (!v->n_null) {
            nn++;
            big += v->n > 2;
            suml += v->n;
            sumdl += (double)v->n;
            minl = hn && minl < v->n ? minl : v->n;
            maxl = hn && maxl > v->n ? maxl : v->n;
            hn = true;
        }
        if (!v->x_null) {
            sumd += v->x;
            mind = hx && mind < v->x ? mind : v->x;
            hx = true;
        }
        if (!lat || v->t > lat->t)
            lat = v;
        if (!ear || v->t < ear->t)
            ear = v;
        if (!latby || v->seq > latby->seq)
            latby = v;
    }
    const char *name = trace_meas[m][0];
    struct sql_value r = sql_null(SQL_LONG);
    if (!strcmp(name, "cnt") || !strcmp(name, "cnt_ls"))
        return sql_long(cnt);
    if (!strcmp(name, "nn"))
        return sql_long(nn);
    if (!strcmp(name, "big"))
        return sql_long(big);
    if (!strcmp(name, "sum_l"))
        return hn ? sql_long(suml) : sql_null(SQL_LONG);
    if (!strcmp(name, "sum_d"))
        return hx ? sql_double(sumd) : sql_null(SQL_DOUBLE);
    if (!strcmp(name, "sum_dl"))
        return hn ? sql_double(sumdl) : sql_null(SQL_DOUBLE);
    if (!strcmp(name, "min_l"))
        return hn ? sql_long(minl) : sql_null(SQL_LONG);
    if (!strcmp(name, "max_l"))
        return hn ? sql_long(maxl) : sql_null(SQL_LONG);
    if (!strcmp(name, "max_dl"))
        return hn ? sql_double((double)maxl) : sql_null(SQL_DOUBLE);
    if (!strcmp(name, "min_d"))
        return hx ? sql_double(mind) : sql_null(SQL_DOUBLE);
    if (!strcmp(name, "min_f")) {
        r = sql_null(SQL_FLOAT);
        if (hn) {
            r.is_null = false;
            r.v.d = (double)(float)minl;
        }
        return r;
    }
    if (!strcmp(name, "lat_l"))
        return lat->n_null ? sql_null(SQL_LONG) : sql_long(lat->n);
    if (!strcmp(name, "lat_s"))
        return lat->s_null ? sql_null(SQL_STRING) : sql_string(lat->s, strlen(lat->s));
    if (!strcmp(name, "lat_sn")) {
        if (lat->n_null)
            return sql_null(SQL_STRING);
        char *t = arena_printf(mem, "%lld", (long long)lat->n);
        return sql_string(t, strlen(t));
    }
    if (!strcmp(name, "ear_d"))
        return ear->x_null ? sql_null(SQL_DOUBLE) : sql_double(ear->x);
    if (!strcmp(name, "ear_s")) {
        if (ear->s_null)
            return sql_null(SQL_STRING);
        /* EARLIEST(s, 2): 2 bytes, not cutting the 2-byte 'é' */
        return sql_string(ear->s, 2);
    }
    if (!strcmp(name, "lat_by"))
        return latby->s_null ? sql_null(SQL_STRING) : sql_string(latby->s, strlen(latby->s));
    return r;
}

static const char *tvstr(const struct sql_value *v, char *out, size_t cap)
{
    struct buf b;
    buf_init(&b, 0);
    if (!v->is_null)
        sql_value_to_text(v, &b, true);
    snprintf(out, cap, "%s%s:%s", v->is_null ? "NULL " : "", sql_type_name(v->type), buf_cstr(&b));
    buf_free(&b);
    return out;
}

static char *tspec(void)
{
    json_t *maps = json_array();
    json_array_append_new(
        maps, json_pack("{s:s, s:s}", "columnName", "__time", "expression", "TIME_PARSE(\"ts\")"));
    json_array_append_new(maps, json_pack("{s:s, s:s}", "columnName", "id", "expression", "id"));
    for (int m = 0; m < TM; m++)
        json_array_append_new(maps, json_pack("{s:s, s:s, s:b}", "columnName", trace_meas[m][0],
                                              "expression", trace_meas[m][2], "isAggregation", 1));
    json_t *o = json_pack(
        "{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},"
        "{s:s,s:s},{s:s,s:s}], s:{s:s}}, s:o}",
        "type", "streaming", "target", "type", "table", "tableName", "t", "source", "type",
        "connection", "connectionName", "c", "inputSchema", "name", "ts", "dataType", "string",
        "name", "id", "dataType", "string", "name", "n", "dataType", "long", "name", "x",
        "dataType", "double", "name", "s", "dataType", "string", "name", "seq", "dataType", "long",
        "formatSettings", "format", "nd-json", "mappings", maps);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* Events through the pipeline into the table, in batches of 500 records. */
static void tappend(struct pipeline *p, struct storage_table *t, const struct tev *e, int n)
{
    static struct pipeline_tally tally;
    char(*text)[256] = malloc(500 * sizeof *text);
    struct record *recs = malloc(500 * sizeof *recs);
    struct arena mem;
    arena_init(&mem, 1 << 20, 0);
    for (int i0 = 0; i0 < n; i0 += 500) {
        int k = n - i0 < 500 ? n - i0 : 500;
        for (int j = 0; j < k; j++) {
            const struct tev *v = &e[i0 + j];
            char ts[40], nb[32], xb[40], sb[24];
            util_format_iso_ms(v->t, ts);
            snprintf(nb, sizeof nb, v->n_null ? "null" : "%lld", (long long)v->n);
            snprintf(xb, sizeof xb, v->x_null ? "null" : "%.17g", v->x);
            snprintf(sb, sizeof sb, v->s_null ? "null" : "\"%s\"", v->s);
            snprintf(text[j], sizeof text[j],
                     "{\"ts\":\"%s\",\"id\":\"k%d\",\"n\":%s,\"x\":%s,\"s\":%s,\"seq\":%lld}", ts,
                     v->id, nb, xb, sb, (long long)v->seq);
            recs[j] = (struct record){.data = text[j], .len = strlen(text[j])};
        }
        struct pipeline_out out;
        struct lerr err;
        lerr_init(&err);
        CHECK_MSG(pipeline_process(p, recs, (size_t)k, &mem, &out, &tally, NULL, NULL, &err) == 0,
                  "pipeline: %s", err.msg);
        CHECK_EQ_INT(out.nrows, k);
        struct storage_batch_col bc[TM + 1];
        for (uint32_t c = 0; c < out.ncols; c++) {
            const struct pipeline_column *pc = pipeline_column(p, c);
            bc[c] = (struct storage_batch_col){.col = c + 1,
                                               .values = pc->measure ? NULL : out.values[c],
                                               .states = pc->measure ? out.states[c] : NULL};
        }
        struct storage_batch b = {
            .nrows = out.nrows, .time = out.time, .ncols = out.ncols, .cols = bc};
        CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
        arena_reset(&mem);
    }
    arena_destroy(&mem);
    free(text);
    free(recs);
}

static int tev_cmp(const void *a, const void *b)
{
    const struct tev *x = *(const struct tev *const *)a, *y = *(const struct tev *const *)b;
    int64_t tx = floor_to(x->t, 3600000), ty = floor_to(y->t, 3600000);
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/*
 * Every stored row, merged per (hour, id) through the stored aggregators as a
 * query would, against the reference; with `perfect`, each group is stored once.
 */
static void tcheck(struct storage_table *t, struct tev *const *ev, int nev, bool perfect,
                   const char *what)
{
    struct storage_snapshot *snap = storage_table_snapshot(t);
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    struct tev **sorted = malloc(nev * sizeof *sorted);
    memcpy(sorted, ev, nev * sizeof *sorted);
    qsort(sorted, nev, sizeof *sorted, tev_cmp);
    int ngroups = 0;
    int *gstart = malloc((nev + 1) * sizeof *gstart);
    for (int i = 0; i < nev; i++)
        if (i == 0 || tev_cmp(&sorted[i - 1], &sorted[i]) != 0)
            gstart[ngroups++] = i;
    gstart[ngroups] = nev;
    uint8_t **st = calloc((size_t)ngroups * TM, sizeof *st);
    int *times = calloc(ngroups, sizeof *times);
    const struct sql_agg_call *agg[TM];
    size_t ss[TM];
    for (int q = 0; q < TM; q++) {
        agg[q] = &snap->cols[2 + q].agg;
        ss[q] = sql_agg_state_size(agg[q]);
    }
    int stray = 0;
    for (size_t vi = 0; vi < snap->nviews; vi++) {
        const struct storage_view *v = snap->views[vi];
        struct storage_scan *sc = storage_scan_new(v);
        uint64_t n = storage_view_rows(v);
        struct lerr err;
        lerr_init(&err);
        for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
            static int64_t tm[STORAGE_BLOCK_ROWS];
            static struct sql_value idv[STORAGE_BLOCK_ROWS];
            CHECK(storage_scan_time(sc, r0, m, tm, &err) == 0);
            CHECK(storage_scan_values(sc, 1, r0, m, NULL, idv, &err) == 0);
            uint8_t *rs[TM];
            for (int q = 0; q < TM; q++) {
                rs[q] = arena_alloc(&mem, ss[q] * m);
                CHECK_MSG(storage_scan_states(sc, (size_t)(2 + q), r0, m, rs[q], &mem, &err) == 0,
                          "%s: states: %s", what, err.msg);
            }
            for (uint32_t j = 0; j < m; j++) {
                char idb[16] = ""; /* values are not NUL-terminated */
                if (!idv[j].is_null && idv[j].v.s.n < sizeof idb)
                    memcpy(idb, idv[j].v.s.p, idv[j].v.s.n);
                struct tev key = {.t = tm[j], .id = idb[0] == 'k' ? atoi(idb + 1) : -1};
                const struct tev *kp = &key;
                int lo = 0, hi = ngroups - 1, g = -1;
                while (lo <= hi) {
                    int mid = (lo + hi) / 2;
                    int cmp = tev_cmp(&kp, (const struct tev *const *)&sorted[gstart[mid]]);
                    if (cmp == 0) {
                        g = mid;
                        break;
                    }
                    if (cmp < 0)
                        hi = mid - 1;
                    else
                        lo = mid + 1;
                }
                if (g < 0 || tm[j] != floor_to(tm[j], 3600000)) {
                    stray++;
                    continue;
                }
                times[g]++;
                for (int q = 0; q < TM; q++) {
                    uint8_t **d = &st[(size_t)g * TM + q];
                    if (!*d) {
                        *d = arena_alloc(&mem, ss[q]);
                        sql_agg_init(agg[q], *d);
                    }
                    CHECK(sql_agg_merge(agg[q], *d, rs[q] + ss[q] * j, &mem));
                }
            }
        }
        storage_scan_free(sc);
    }
    CHECK_MSG(stray == 0, "%s: %d stored rows match no event", what, stray);
    int bad = 0, dup = 0;
    for (int g = 0; g < ngroups; g++) {
        if (times[g] == 0) {
            if (bad++ < 5)
                CHECK_MSG(0, "%s: group %d (k%d) is not stored", what, g, sorted[gstart[g]]->id);
            continue;
        }
        dup += times[g] > 1;
        for (int q = 0; q < TM; q++) {
            struct sql_value got, want = tref(q, (const struct tev *const *)&sorted[gstart[g]],
                                              gstart[g + 1] - gstart[g], &mem);
            sql_agg_finalize(agg[q], st[(size_t)g * TM + q], &got);
            char gb[96], wb[96];
            tvstr(&got, gb, sizeof gb);
            tvstr(&want, wb, sizeof wb);
            if (strcmp(gb, wb) != 0 && bad++ < 8)
                CHECK_MSG(0, "%s: k%d, %s (%s = %s): stored %s, want %s", what,
                          sorted[gstart[g]]->id, trace_meas[q][0], trace_meas[q][1],
                          trace_meas[q][2], gb, wb);
        }
    }
    CHECK_MSG(bad == 0, "%s: %d wrong values", what, bad);
    if (perfect)
        CHECK_MSG(dup == 0, "%s: %d groups stored more than once after compaction", what, dup);
    free(times);
    free(st);
    free(gstart);
    free(sorted);
    arena_destroy(&mem);
    storage_snapshot_free(snap);
}

static void trace(void)
{
    char *dir = tst_mkdtemp();
    struct storage_column cols[TM + 1];
    struct pipeline_table_col pcols[TM + 1];
    cols[0] = (struct storage_column){.name = "id", .type = SQL_STRING, .kind = STORAGE_DIMENSION};
    pcols[0] = (struct pipeline_table_col){"id", SQL_STRING, false, "string"};
    for (int m = 0; m < TM; m++) {
        cols[1 + m] = (struct storage_column){.name = trace_meas[m][0], .kind = STORAGE_MEASURE};
        /* as the runtime opens a table: the declared type's aggregator */
        CHECK(sql_agg_for_measure(trace_meas[m][1], &cols[1 + m].agg));
        pcols[1 + m] =
            (struct pipeline_table_col){trace_meas[m][0], SQL_NULL, true, trace_meas[m][1]};
    }
    struct storage_schema sch = {.type = STORAGE_AGGREGATE,
                                 .partitioning = STORAGE_GRAN_DAY,
                                 .time_resolution = STORAGE_GRAN_HOUR,
                                 .cols = cols,
                                 .ncols = TM + 1};
    struct pipeline_table pt = {.aggregate = true, .cols = pcols, .ncols = TM + 1};
    char *spec = tspec();
    struct job_spec js;
    struct pipeline *p = NULL;
    struct storage_table *t = NULL;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(catalog_job_spec_parse_text(spec, strlen(spec), &js, &err) == 0, "spec: %s",
              err.msg);
    struct pipeline_opts po = {&js, &pt, T0, NULL};
    CHECK_MSG(!err.code && pipeline_new(&po, &p, &err) == 0, "pipeline: %s: %s", err.target,
              err.msg);
    catalog_job_spec_destroy(&js);
    CHECK_MSG(storage_table_open(dir, "trace", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    if (!p || !t)
        goto out;
    struct tev *ev = malloc(3 * TWAVE * sizeof *ev);
    struct tev **all = malloc(3 * TWAVE * sizeof *all);
    for (int i = 0; i < 3 * TWAVE; i++)
        all[i] = &ev[i];
    struct tst_catalog cat = {0};

    tgen(ev, TWAVE, 0);
    tappend(p, t, ev, TWAVE);
    tcheck(t, all, TWAVE, true, "trace: realtime");
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    tcheck(t, all, TWAVE, true, "trace: persisted");
    tgen(ev + TWAVE, TWAVE, 1);
    tappend(p, t, ev + TWAVE, TWAVE);
    tcheck(t, all, 2 * TWAVE, false, "trace: segments and realtime");
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    tgen(ev + 2 * TWAVE, TWAVE, 2);
    tappend(p, t, ev + 2 * TWAVE, TWAVE);
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    tcheck(t, all, 3 * TWAVE, false, "trace: three persists");
    bool did = true;
    for (int rounds = 0; did && rounds < 6; rounds++)
        CHECK_MSG(storage_table_compact(t, NULL, tst_commit, &cat, &did, &err) == 0, "%s",
                  err.msg);
    CHECK_EQ_INT(cat.n, 2);
    tcheck(t, all, 3 * TWAVE, true, "trace: compacted");
    storage_table_free(t);
    t = NULL;
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "trace", &sch, &oo, &t, &err) == 0);
    if (t)
        tcheck(t, all, 3 * TWAVE, true, "trace: reopened");
    free(ev);
    free(all);
out:
    storage_table_free(t);
    pipeline_free(p);
    free(spec);
    tst_rmtree(dir);
    free(dir);
}

/*
 * Segments written with the mapping's aggregator as the column's (as flexible
 * tables made their measures before the measure types were enforced: COUNT(x),
 * LATEST_BY(x, t, 64), MIN of a TIMESTAMP) read back under the measure type the
 * table's document names; a state of another kind (a DOUBLE sum under longSum)
 * still reads as NULL, never as garbage.
 */
static void compat(void)
{
    char *dir = tst_mkdtemp();
    // clang-format off
    struct sql_agg_call old[4] = {
        {.kind = SQL_AGG_COUNT, .arg_type = SQL_STRING, .result_type = SQL_LONG, .nargs = 1,
         .max_bytes = 1024},
        {.kind = SQL_AGG_LATEST_BY, .arg_type = SQL_STRING, .result_type = SQL_STRING,
         .nargs = 2, .max_bytes = 64},
        {.kind = SQL_AGG_MIN, .arg_type = SQL_TIMESTAMP, .result_type = SQL_TIMESTAMP,
         .nargs = 1, .max_bytes = 1024},
        {.kind = SQL_AGG_SUM, .arg_type = SQL_DOUBLE, .result_type = SQL_DOUBLE, .nargs = 1,
         .max_bytes = 1024},
    };
    // clang-format on
    static const char *const now_types[4] = {"count", "stringLatest", "longMin", "longSum"};
    static const char *const names[4] = {"c", "l", "m", "s"};
    static const char *const want[4] = {"long:2", "string:b", "long:1700000000001", "NULL long:"};
    struct storage_column cols[4], cols2[4];
    for (int i = 0; i < 4; i++) {
        cols[i] =
            (struct storage_column){.name = names[i], .kind = STORAGE_MEASURE, .agg = old[i]};
        cols2[i] = (struct storage_column){.name = names[i], .kind = STORAGE_MEASURE};
        CHECK(sql_agg_for_measure(now_types[i], &cols2[i].agg));
    }
    struct storage_schema sch = {.type = STORAGE_AGGREGATE,
                                 .partitioning = STORAGE_GRAN_DAY,
                                 .time_resolution = STORAGE_GRAN_DAY,
                                 .cols = cols,
                                 .ncols = 4};
    struct storage_table *t = NULL;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_open(dir, "compat", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    if (!t)
        goto out;
    struct arena mem;
    arena_init(&mem, 4096, 0);
    int64_t time[2] = {T0 + 5, T0 + 9};
    uint8_t *st[4];
    for (int i = 0; i < 4; i++) {
        size_t ss = sql_agg_state_size(&old[i]);
        st[i] = arena_alloc(&mem, 2 * ss);
        for (int r = 0; r < 2; r++) {
            struct sql_value a[2];
            if (i == 0)
                a[0] = sql_string("x", 1);
            else if (i == 1)
                a[0] = sql_string(r ? "b" : "a", 1), a[1] = sql_timestamp(T0 + r);
            else if (i == 2)
                a[0] = sql_timestamp(1700000000001LL + r);
            else
                a[0] = sql_double(1.5);
            sql_agg_init(&old[i], st[i] + r * ss);
            CHECK(sql_agg_add(&old[i], st[i] + r * ss, a, time[r], &mem));
        }
    }
    struct storage_batch_col bc[4];
    for (int i = 0; i < 4; i++)
        bc[i] = (struct storage_batch_col){.col = (uint32_t)i + 1, .states = st[i]};
    struct storage_batch b = {.nrows = 2, .time = time, .ncols = 4, .cols = bc};
    CHECK(storage_table_append(t, &b, &err) == 0);
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    storage_table_free(t);
    t = NULL;
    /* reopened under the measure types the document names */
    sch.cols = cols2;
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK_MSG(storage_table_open(dir, "compat", &sch, &oo, &t, &err) == 0, "%s", err.msg);
    struct storage_snapshot *snap = t ? storage_table_snapshot(t) : NULL;
    CHECK(snap && snap->nviews == 1);
    if (snap && snap->nviews == 1) {
        CHECK_EQ_INT(storage_view_rows(snap->views[0]), 1);
        for (int i = 0; i < 4; i++) {
            struct sql_value *v = tst_read_col(snap->views[0], (size_t)i + 1, &mem);
            char buf[64];
            if (v)
                CHECK_MSG(strcmp(tvstr(&v[0], buf, sizeof buf), want[i]) == 0,
                          "%s (written as %d, read as %s): %s, want %s", names[i], old[i].kind,
                          now_types[i], buf, want[i]);
            free(v);
        }
    }
    storage_snapshot_free(snap);
    arena_destroy(&mem);
out:
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

int main(void)
{
    for (int m = 0; m < NMEAS; m++)
        CHECK(sql_agg_for_measure(mtypes[m], &calls[m]));
    run(STORAGE_GRAN_HOUR, 3600000);
    run(STORAGE_GRAN_MINUTE, 60000);
    trace();
    compat();
    return check_summary();
}
