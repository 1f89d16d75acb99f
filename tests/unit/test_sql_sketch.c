/*
 * test_sql_sketch.c — the sketch aggregates of src/sql/ (agg.c over
 * func_sketch.c): binding their literal arguments and refusals, exact
 * answers below the sketches' thresholds, estimates within three standard
 * errors for a million distinct values (HLL lgK 12: RSE 1.04/sqrt(4096) ≈
 * 1.6%; theta 16384: 1/sqrt(16383) ≈ 0.8%), merges in any order giving the
 * same sketch, states serialized as the DataSketches compact image that
 * the sketch library reads back, corrupt images refused, FILTER, NULLs,
 * and the arena cleanup hooks that free the library's sketches (ASan's
 * leak check fails the run when one is not freed) and charge the budget.
 */
#include "check.h"
#include "sketch/hll.h"
#include "sketch/quantiles.h"
#include "sketch/theta.h"
#include "sql/sql.h"
#include "util/budget.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sql_field fields[] = {
    {"s", 1, SQL_STRING, NULL, 0},
    {"n", 1, SQL_LONG, NULL, 0},
    {"d", 1, SQL_DOUBLE, NULL, 0},
    {"h", 1, SQL_HLL_SKETCH, NULL, 0},
};
static const struct sql_schema schema = {fields, 4};

static struct sql_expr *compile(const char *text, bool exact, struct lerr *err)
{
    struct sql_options opt = {.mode = SQL_MODE_ROLLUP, .exact_count_distinct = exact};
    struct sql_expr *e = NULL;
    lerr_init(err);
    sql_compile_expr(text, strlen(text), &schema, &opt, &e, err);
    return e;
}

/* Adds rows n = lo..hi-1 (s = "u<n>", d = n / 2) to the state. */
static void add_range(const struct sql_agg_call *c, void *st, int64_t lo, int64_t hi,
                      struct arena *mem)
{
    struct lerr err;
    lerr_init(&err);
    char tmp[32];
    for (int64_t i = lo; i < hi; i++) {
        int len = snprintf(tmp, sizeof tmp, "u%lld", (long long)i);
        struct sql_value row[4] = {sql_string(tmp, (size_t)len), sql_long(i),
                                   sql_double((double)i / 2), sql_null(SQL_HLL_SKETCH)};
        int rc = sql_agg_add_row(c, st, row, 0, mem, &err);
        if (rc) {
            CHECK_MSG(0, "add row %lld: %s", (long long)i, err.msg);
            return;
        }
    }
}

static struct sql_value run(const char *text, int64_t lo, int64_t hi, struct arena *mem)
{
    struct lerr err;
    struct sql_expr *e = compile(text, false, &err);
    if (!e) {
        CHECK_MSG(0, "%s: %s", text, err.msg);
        return sql_null(SQL_NULL);
    }
    const struct sql_agg_call *c = sql_expr_agg(e);
    void *st = arena_zalloc(mem, sql_agg_state_size(c));
    sql_agg_init(c, st);
    add_range(c, st, lo, hi, mem);
    struct sql_value v;
    sql_agg_finalize(c, st, &v);
    /* the value may point into the state's memory: copy sketch bytes out */
    if (!v.is_null && sql_type_is_sketch(v.type)) {
        char *p = arena_alloc(mem, v.v.s.n);
        memcpy(p, v.v.s.p, v.v.s.n);
        v.v.s.p = p;
    }
    sql_expr_free(e);
    return v;
}

static void test_bind(void)
{
    struct lerr err;
    static const struct {
        const char *text;
        int kind, result;
        uint32_t size;
    } ok[] = {
        {"COUNT(DISTINCT s)", SQL_AGG_HLL, SQL_LONG, 12},
        {"APPROX_COUNT_DISTINCT(s)", SQL_AGG_HLL, SQL_LONG, 12},
        {"APPROX_COUNT_DISTINCT_DS_HLL(s, 14, 'HLL_8')", SQL_AGG_HLL, SQL_LONG, 14},
        {"DS_HLL(n)", SQL_AGG_HLL, SQL_HLL_SKETCH, 12},
        {"DS_HLL(h)", SQL_AGG_HLL, SQL_HLL_SKETCH, 12},
        {"APPROX_COUNT_DISTINCT_DS_THETA(s, 1024)", SQL_AGG_THETA, SQL_LONG, 1024},
        {"DS_THETA(s)", SQL_AGG_THETA, SQL_THETA_SKETCH, 16384},
        {"DS_QUANTILES_SKETCH(d, 256)", SQL_AGG_QUANTILES, SQL_QUANTILES_SKETCH, 256},
        {"APPROX_QUANTILE_DS(n, 0.5)", SQL_AGG_QUANTILES, SQL_DOUBLE, 128},
        {"DS_HLL(s) FILTER (WHERE n > 3)", SQL_AGG_HLL, SQL_HLL_SKETCH, 12},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        struct sql_expr *e = compile(ok[i].text, false, &err);
        const struct sql_agg_call *c = e ? sql_expr_agg(e) : NULL;
        CHECK_MSG(c && (int)c->kind == ok[i].kind && c->result_type == ok[i].result &&
                      c->sketch_size == ok[i].size,
                  "%s: %s", ok[i].text, err.msg);
        sql_expr_free(e);
    }
    struct sql_expr *e = compile("COUNT(DISTINCT s)", true, &err);
    CHECK(e && sql_expr_agg(e)->kind == SQL_AGG_COUNT_DISTINCT);
    sql_expr_free(e);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"DS_HLL(s, 3)", "lgK argument of DS_HLL must be an integer literal from 4 to 21"},
        {"DS_HLL(s, n)", "lgK argument of DS_HLL must be an integer literal"},
        {"DS_HLL(s, 12, 'HLL_5')", "unknown tgtHllType 'HLL_5' for DS_HLL: use 'HLL_4'"},
        {"DS_THETA(s, 1000)", "size argument of DS_THETA must be a power of two, not 1000"},
        {"DS_QUANTILES_SKETCH(s)", "DS_QUANTILES_SKETCH needs numbers but got VARCHAR"},
        {"DS_QUANTILES_SKETCH(d, 3)", "k argument of DS_QUANTILES_SKETCH must be a power of two"},
        {"APPROX_QUANTILE_DS(d, 1.5)",
         "fraction argument of APPROX_QUANTILE_DS must be a number literal from 0 to 1"},
        {"DS_THETA(h)", "DS_THETA cannot aggregate a COMPLEX<HLLSketch>"},
        {"DS_HLL(DISTINCT s)", "DISTINCT is only supported in COUNT"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e = compile(bad[i].text, false, &err);
        CHECK_MSG(!e && err.code == LERR_INVALID && strstr(err.msg, bad[i].want) &&
                      strstr(err.msg, "at line 1, column"),
                  "%s: got %s", bad[i].text, e ? "(compiled)" : err.msg);
        sql_expr_free(e);
    }
}

/* Below their thresholds the sketches count exactly. */
static void test_exact_small(struct arena *mem)
{
    /* HLL holds up to 7 coupons in LIST mode, theta up to its size */
    for (int n = 0; n <= 7; n++) {
        struct sql_value v = run("APPROX_COUNT_DISTINCT_DS_HLL(s)", 0, n, mem);
        CHECK_MSG(!v.is_null && v.v.l == n, "HLL of %d values: %lld", n, (long long)v.v.l);
    }
    static const int sizes[] = {0, 1, 2, 100, 5000, 16384};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        struct sql_value v = run("APPROX_COUNT_DISTINCT_DS_THETA(s)", 0, sizes[i], mem);
        CHECK_MSG(!v.is_null && v.v.l == sizes[i], "theta of %d values: %lld", sizes[i],
                  (long long)v.v.l);
        v = run("APPROX_COUNT_DISTINCT_DS_THETA(n)", 0, sizes[i], mem);
        CHECK_MSG(!v.is_null && v.v.l == sizes[i], "theta of %d longs: %lld", sizes[i],
                  (long long)v.v.l);
    }
    /* duplicates and NULLs count once and never */
    struct lerr err;
    struct sql_expr *e = compile("APPROX_COUNT_DISTINCT(s)", false, &err);
    const struct sql_agg_call *c = sql_expr_agg(e);
    void *st = arena_zalloc(mem, sql_agg_state_size(c));
    sql_agg_init(c, st);
    for (int r = 0; r < 3; r++)
        add_range(c, st, 0, 5, mem);
    struct sql_value x = sql_null(SQL_STRING);
    CHECK(sql_agg_add(c, st, &x, 0, mem));
    x = sql_string("", 0); /* DataSketches does not count an empty string */
    CHECK(sql_agg_add(c, st, &x, 0, mem));
    struct sql_value v;
    sql_agg_finalize(c, st, &v);
    CHECK_EQ_INT(v.v.l, 5);
    sql_expr_free(e);
    /* no row: 0, and an empty sketch (not NULL), as Druid */
    v = run("APPROX_COUNT_DISTINCT(s)", 0, 0, mem);
    CHECK(!v.is_null && v.v.l == 0);
    v = run("DS_HLL(s)", 0, 0, mem);
    CHECK(!v.is_null && v.type == SQL_HLL_SKETCH && v.v.s.n == 8);
    v = run("DS_THETA(s)", 0, 0, mem);
    CHECK(!v.is_null && v.type == SQL_THETA_SKETCH && v.v.s.n == 8);
    /* quantiles of 1..100 below k are exact: the median of n/2 = 0, 0.5 .. 49.5 */
    v = run("APPROX_QUANTILE_DS(d, 0.5)", 0, 100, mem);
    CHECK_MSG(!v.is_null && v.v.d == 24.5, "median %g", v.v.d);
    v = run("APPROX_QUANTILE_DS(n, 1)", 0, 100, mem);
    CHECK_MSG(!v.is_null && v.v.d == 99, "max %g", v.v.d);
    v = run("APPROX_QUANTILE_DS(n, 0.5) FILTER (WHERE n >= 50)", 0, 100, mem);
    CHECK_MSG(!v.is_null && v.v.d == 74, "filtered median %g", v.v.d);
    v = run("APPROX_COUNT_DISTINCT_DS_THETA(s) FILTER (WHERE n < 10)", 0, 100, mem);
    CHECK_EQ_INT(v.v.l, 10);
}

/* A million distinct values: within 3 standard errors. */
static void test_accuracy(struct arena *mem)
{
    const int64_t n = 1000000;
    struct sql_value v = run("APPROX_COUNT_DISTINCT(s)", 0, n, mem);
    double rse = 1.04 / sqrt(4096.0);
    CHECK_MSG(fabs((double)v.v.l - (double)n) <= 3 * rse * (double)n, "HLL %lld of %lld",
              (long long)v.v.l, (long long)n);
    v = run("APPROX_COUNT_DISTINCT_DS_THETA(s)", 0, n, mem);
    rse = 1 / sqrt(16383.0);
    CHECK_MSG(fabs((double)v.v.l - (double)n) <= 3 * rse * (double)n, "theta %lld of %lld",
              (long long)v.v.l, (long long)n);
    /* the quantiles sketch's rank error (99% confidence) */
    v = run("APPROX_QUANTILE_DS(n, 0.9)", 0, n, mem);
    double eps = sketch_quantiles_normalized_rank_error(128, 0);
    CHECK_MSG(fabs(v.v.d / (double)n - 0.9) <= eps, "p90 %g", v.v.d);
}

/* Split rows over four states and merge them in two orders: the same sketch. */
static void test_merge_order(struct arena *mem)
{
    static const char *const calls[] = {"DS_HLL(s)", "DS_THETA(s)", "DS_THETA(s, 1024)",
                                        "DS_HLL(n, 10, 'HLL_8')"};
    for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
        struct lerr err;
        struct sql_expr *e = compile(calls[k], false, &err);
        const struct sql_agg_call *c = sql_expr_agg(e);
        size_t ss = sql_agg_state_size(c);
        void *part[4], *a = arena_zalloc(mem, ss), *b = arena_zalloc(mem, ss);
        for (int i = 0; i < 4; i++) {
            part[i] = arena_zalloc(mem, ss);
            sql_agg_init(c, part[i]);
            add_range(c, part[i], i * 30000, (i + 1) * 30000 + 5000, mem); /* overlapping */
        }
        sql_agg_init(c, a);
        sql_agg_init(c, b);
        for (int i = 0; i < 4; i++) {
            CHECK(sql_agg_merge(c, a, part[i], mem));
            CHECK(sql_agg_merge(c, b, part[3 - i], mem));
        }
        struct sql_value va, vb;
        sql_agg_finalize(c, a, &va);
        sql_agg_finalize(c, b, &vb);
        CHECK_MSG(va.v.s.n == vb.v.s.n && memcmp(va.v.s.p, vb.v.s.p, va.v.s.n) == 0,
                  "%s: merge order changed the sketch", calls[k]);
        /* and the estimate is the union's: 125000 distinct */
        double est = -1;
        if (c->kind == SQL_AGG_HLL) {
            struct sketch_hll *h = sketch_hll_deserialize(va.v.s.p, va.v.s.n, &err);
            CHECK(h != NULL);
            est = h ? sketch_hll_estimate(h) : -1;
            sketch_hll_free(h);
        } else {
            struct sketch_theta_compact *t =
                sketch_theta_compact_deserialize(va.v.s.p, va.v.s.n, SKETCH_DEFAULT_SEED, &err);
            CHECK(t != NULL);
            est = t ? sketch_theta_compact_estimate(t) : -1;
            sketch_theta_compact_free(t);
        }
        CHECK_MSG(fabs(est - 125000) < 125000 * 0.1, "%s: estimate %g", calls[k], est);
        sql_expr_free(e);
    }
}

/* States serialize as the sketch's own compact image; corrupt bytes are refused. */
static void test_bytes(struct arena *mem)
{
    static const char *const calls[] = {"DS_HLL(s)", "DS_THETA(s)", "DS_QUANTILES_SKETCH(d)"};
    for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
        struct lerr err;
        struct sql_expr *e = compile(calls[k], false, &err);
        const struct sql_agg_call *c = sql_expr_agg(e);
        size_t ss = sql_agg_state_size(c);
        void *st = arena_zalloc(mem, ss), *st2 = arena_zalloc(mem, ss);
        sql_agg_init(c, st);
        add_range(c, st, 0, 3000, mem);
        struct buf b;
        buf_init(&b, 0);
        CHECK(sql_agg_serialize(c, st, &b));
        struct sql_value v;
        sql_agg_finalize(c, st, &v);
        CHECK_MSG(v.v.s.n == b.len && memcmp(v.v.s.p, b.data, b.len) == 0,
                  "%s: the stored bytes are the sketch value's", calls[k]);
        CHECK_EQ_INT(sql_agg_deserialize(c, b.data, b.len, st2, mem, &err), 0);
        struct sql_value v2;
        sql_agg_finalize(c, st2, &v2);
        if (c->kind != SQL_AGG_HLL) /* an HLL read back is merged, so out of order */
            CHECK_MSG(v2.v.s.n == b.len && memcmp(v2.v.s.p, b.data, b.len) == 0,
                      "%s: read back, the same sketch", calls[k]);
        /* every truncation is an error, never a crash */
        for (size_t cut = 0; cut < b.len; cut += 1 + cut / 4) {
            lerr_init(&err);
            int rc = sql_agg_deserialize(c, b.data, cut, st2, mem, &err);
            CHECK_MSG(rc == LERR_CORRUPT && strstr(err.msg, "corrupt"), "%s cut to %zu: rc %d %s",
                      calls[k], cut, rc, err.msg);
        }
        /* a sketch of another family is corrupt for this one */
        unsigned char junk[64];
        memset(junk, 0x5a, sizeof junk);
        lerr_init(&err);
        CHECK_EQ_INT(sql_agg_deserialize(c, junk, sizeof junk, st2, mem, &err), LERR_CORRUPT);
        buf_free(&b);
        sql_expr_free(e);
    }
}

/* A state that saw one value keeps it without a union: what it gives (the
 * value, the stored bytes, merges, a second value) is what a state that made
 * its union at once gives — checked against a state that took the same value
 * after merging an empty one (which makes the union first). */
static void test_one_value(struct arena *mem)
{
    static const char *const calls[] = {
        "DS_HLL(s)",         "DS_HLL(n, 14, 'HLL_8')", "DS_THETA(s)",
        "DS_THETA(d, 1024)", "DS_QUANTILES_SKETCH(d)", "APPROX_COUNT_DISTINCT(s)"};
    for (size_t k = 0; k < sizeof calls / sizeof *calls; k++) {
        struct lerr err;
        struct sql_expr *e = compile(calls[k], false, &err);
        const struct sql_agg_call *c = sql_expr_agg(e);
        size_t ss = sql_agg_state_size(c);
        for (int64_t i = 0; i < 3; i++) { /* i 2: two values */
            char tmp[8];
            int len = snprintf(tmp, sizeof tmp, "u%lld", (long long)i);
            struct sql_value row[3] = {sql_string(tmp, (size_t)len), sql_long(i + 7),
                                       sql_double((double)i / 2)};
            struct sql_value row2[3] = {sql_string("", 0), sql_long(-1), sql_double(1e300)};
            void *one = arena_zalloc(mem, ss), *un = arena_zalloc(mem, ss),
                 *empty = arena_zalloc(mem, ss), *merged = arena_zalloc(mem, ss),
                 *back = arena_zalloc(mem, ss);
            sql_agg_init(c, one);
            sql_agg_init(c, un);
            sql_agg_init(c, empty);
            sql_agg_init(c, merged);
            sql_agg_init(c, back);
            /* un: a union made first (a merge of a state holding a union) */
            struct sql_value other[3] = {sql_string("zz", 2), sql_long(99), sql_double(99)};
            CHECK_EQ_INT(sql_agg_add_row(c, empty, other, 0, mem, &err), 0);
            CHECK_EQ_INT(sql_agg_add_row(c, empty, row2, 0, mem, &err), 0); /* a union now */
            CHECK_EQ_INT(sql_agg_add_row(c, one, row, 0, mem, &err), 0);
            if (i == 2)
                CHECK_EQ_INT(sql_agg_add_row(c, one, row2, 0, mem, &err), 0);
            CHECK(sql_agg_merge(c, un, empty, mem));   /* un holds {zz, row2} as a union */
            CHECK(sql_agg_merge(c, un, one, mem));     /* + one's values */
            CHECK(sql_agg_merge(c, merged, one, mem)); /* one value into an empty state */
            CHECK(sql_agg_merge(c, merged, empty, mem));
            struct sql_value vu, vm;
            sql_agg_finalize(c, un, &vu);
            sql_agg_finalize(c, merged, &vm);
            CHECK_MSG(!vu.is_null && !vm.is_null, "%s: values", calls[k]);
            if (c->sketch_out == SQL_SKETCH_OUT_ESTIMATE)
                CHECK_MSG(vu.v.l == vm.v.l, "%s: %lld vs %lld", calls[k], (long long)vu.v.l,
                          (long long)vm.v.l);
            else if (c->kind != SQL_AGG_HLL) /* HLL merges in another order: estimates */
                CHECK_MSG(vu.v.s.n == vm.v.s.n && memcmp(vu.v.s.p, vm.v.s.p, vu.v.s.n) == 0,
                          "%s (%lld): merging a kept value is merging its union", calls[k],
                          (long long)i);
            /* stored and read back, one value's state is its sketch's image */
            struct buf b;
            buf_init(&b, 0);
            CHECK(sql_agg_serialize(c, one, &b));
            struct sql_value v1;
            sql_agg_finalize(c, one, &v1);
            if (c->sketch_out == SQL_SKETCH_OUT_SKETCH)
                CHECK_MSG(v1.v.s.n == b.len && memcmp(v1.v.s.p, b.data, b.len) == 0,
                          "%s: the stored bytes are the value's", calls[k]);
            else
                CHECK_EQ_INT(v1.v.l, i == 2 ? (c->kind == SQL_AGG_HLL ? 1 : 2) : 1);
            CHECK_EQ_INT(sql_agg_deserialize(c, b.data, b.len, back, mem, &err), 0);
            struct sql_value vb;
            sql_agg_finalize(c, back, &vb);
            if (c->sketch_out == SQL_SKETCH_OUT_ESTIMATE)
                CHECK_EQ_INT(vb.v.l, v1.v.l);
            buf_free(&b);
        }
        sql_expr_free(e);
    }
}

/* Sketch values as input: merged, not hashed; the same estimate. */
static void test_sketch_input(struct arena *mem)
{
    struct sql_value h = run("DS_HLL(s)", 0, 1000, mem);
    struct lerr err;
    struct sql_expr *e = compile("APPROX_COUNT_DISTINCT_DS_HLL(h)", false, &err);
    const struct sql_agg_call *c = sql_expr_agg(e);
    void *st = arena_zalloc(mem, sql_agg_state_size(c));
    sql_agg_init(c, st);
    for (int i = 0; i < 3; i++) /* the same sketch three times: still 1000 */
        CHECK(sql_agg_add(c, st, &h, 0, mem));
    struct sql_value v;
    sql_agg_finalize(c, st, &v);
    CHECK_MSG(fabs((double)v.v.l - 1000) < 50, "merged %lld", (long long)v.v.l);
    /* a corrupt sketch value is an error naming the type */
    struct sql_value bad = h;
    bad.v.s.n = 5;
    lerr_init(&err);
    CHECK_EQ_INT(sql_agg_add_err(c, st, &bad, 0, mem, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "not a valid sketch") != NULL, "%s", err.msg);
    sql_expr_free(e);
}

/* Cleanup hooks: release to a mark frees the sketches made after it; the
 * budget is charged for them and given back. */
static void test_arena_hooks(void)
{
    struct mem_budget bud;
    mem_budget_init(&bud, 0, NULL);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    arena_set_budget(&mem, &bud);
    struct lerr err;
    struct sql_expr *e = compile("DS_THETA(s)", false, &err);
    const struct sql_agg_call *c = sql_expr_agg(e);
    void *st = arena_zalloc(&mem, sql_agg_state_size(c));
    sql_agg_init(c, st);
    add_range(c, st, 0, 10, &mem);
    uint64_t before = bud.used;
    CHECK_MSG(before >= 16384 * 16, "a theta sketch reserves its table: %llu",
              (unsigned long long)before);
    struct arena_mark m;
    arena_mark(&mem, &m);
    void *st2 = arena_zalloc(&mem, sql_agg_state_size(c));
    sql_agg_init(c, st2);
    add_range(c, st2, 0, 100000, &mem);
    CHECK(bud.used >= before + 16384 * 16);
    arena_release(&mem, &m);
    CHECK_MSG(bud.used <= before, "released: %llu > %llu", (unsigned long long)bud.used,
              (unsigned long long)before);
    struct sql_value v;
    sql_agg_finalize(c, st, &v); /* the first state still works */
    CHECK(!v.is_null);
    /* a cap refuses a sketch cleanly */
    struct arena small;
    arena_init(&small, 4096, 64 * 1024);
    void *st3 = arena_zalloc(&small, sql_agg_state_size(c));
    sql_agg_init(c, st3);
    struct sql_value x = sql_string("a", 1), y = sql_string("b", 1);
    lerr_init(&err);
    /* one value is kept as it is (no union yet): its sketch comes out */
    CHECK_EQ_INT(sql_agg_add_err(c, st3, &x, 0, &small, &err), 0);
    sql_agg_finalize(c, st3, &v);
    CHECK(!v.is_null);
    /* a second needs the union, which the cap refuses */
    CHECK_EQ_INT(sql_agg_add_err(c, st3, &y, 0, &small, &err), LERR_NOMEM);
    arena_destroy(&small);
    arena_destroy(&mem);
    CHECK_EQ_INT(bud.used, 0);
    mem_budget_destroy(&bud);
    sql_expr_free(e);
}

int main(void)
{
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    test_bind();
    test_exact_small(&mem);
    arena_reset(&mem);
    test_accuracy(&mem);
    arena_reset(&mem);
    test_merge_order(&mem);
    test_bytes(&mem);
    test_one_value(&mem);
    test_sketch_input(&mem);
    arena_destroy(&mem);
    test_arena_hooks();
    return check_summary();
}
