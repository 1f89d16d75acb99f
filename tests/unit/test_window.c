/*
 * test_window.c — the window step (query/window.c) on in-memory tables
 * built here: every window function and aggregates over every kind of
 * frame, checked against a naive reference written from the definitions
 * (each row's partition, order, peers and frame found by brute force) over
 * random tables with ties and NULLs; a few hand-checked answers; sharing of
 * input columns; the memory limit (a refusal naming the window, not a
 * crash). The SQL around it (parsing, planning, EXPLAIN) is tested by
 * tests/unit/sql_queries/window.txt through test_query.
 */
#include "check.h"
#include "query/query_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- a table: part (long, NULLs), ord (long, ties, NULLs), val (long, NULLs), s (string) ---- */

#define NCOL 4
static const char *const snames[] = {"a", "b", "c", "d", "e"};

struct tab {
    struct query__memtable t;
    struct sql_field fields[NCOL];
    struct sql_value *cols[NCOL];
};

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct sql_value maybe_null(int64_t v, int null_in)
{
    return rnd() % (uint64_t)null_in == 0 ? sql_null(SQL_LONG) : sql_long(v);
}

static void tab_make(struct tab *t, size_t n, int nparts, int nords)
{
    static const char *const names[NCOL] = {"part", "ord", "val", "s"};
    static const uint8_t types[NCOL] = {SQL_LONG, SQL_LONG, SQL_LONG, SQL_STRING};
    for (int c = 0; c < NCOL; c++) {
        t->fields[c] =
            (struct sql_field){.name = names[c], .name_len = strlen(names[c]), .type = types[c]};
        t->cols[c] = calloc(n ? n : 1, sizeof *t->cols[c]);
    }
    for (size_t r = 0; r < n; r++) {
        t->cols[0][r] = maybe_null((int64_t)(rnd() % (uint64_t)nparts), 9);
        t->cols[1][r] = maybe_null((int64_t)(rnd() % (uint64_t)nords), 7);
        t->cols[2][r] = maybe_null((int64_t)(rnd() % 100) - 30, 5);
        const char *s = snames[rnd() % 5];
        t->cols[3][r] = rnd() % 6 == 0 ? sql_null(SQL_STRING) : sql_string(s, 1);
    }
    t->t = (struct query__memtable){NCOL, t->fields, n, t->cols};
}

static void tab_free(struct tab *t)
{
    for (int c = 0; c < NCOL; c++)
        free(t->cols[c]);
}

struct qx {
    struct query__ctx x;
    struct lerr err;
};

static void qx_init(struct qx *q, uint64_t max_bytes)
{
    memset(q, 0, sizeof *q);
    lerr_init(&q->err);
    q->x.err = &q->err;
    q->x.max_bytes = max_bytes;
    q->x.deadline_ns = INT64_MAX;
    mem_budget_init(&q->x.budget, max_bytes, &query__pool);
    arena_init(&q->x.keep, 64 * 1024, 0);
    arena_set_budget(&q->x.keep, &q->x.budget);
}

static void qx_destroy(struct qx *q)
{
    arena_destroy(&q->x.keep);
    mem_budget_destroy(&q->x.budget);
}

/* ---- the reference: definitions, by brute force ------------------------------------------ */

static int vcmp(const struct sql_value *a, const struct sql_value *b, bool desc, bool nulls_first)
{
    if (a->is_null || b->is_null) {
        if (a->is_null && b->is_null)
            return 0;
        return a->is_null == nulls_first ? -1 : 1;
    }
    int r = sql_value_compare(a, b);
    return desc ? -r : r;
}

static const struct query__memtable *ref_t;
static const struct sql_window_call *ref_c;

static bool same_part(size_t a, size_t b)
{
    for (size_t k = 0; k < ref_c->npart; k++)
        if (vcmp(&ref_t->cols[ref_c->part[k]][a], &ref_t->cols[ref_c->part[k]][b], false, true))
            return false;
    return true;
}

/* order of a before b: by the order keys, then by row number (the stable sort) */
static int ord_cmp(size_t a, size_t b)
{
    for (size_t k = 0; k < ref_c->norder; k++) {
        const struct sql_window_key *key = &ref_c->order[k];
        int r = vcmp(&ref_t->cols[key->col][a], &ref_t->cols[key->col][b], key->desc,
                     key->nulls_first);
        if (r)
            return r;
    }
    return 0;
}

static int cmp_rows(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int r = ord_cmp(a, b);
    return r ? r : (a < b ? -1 : a > b);
}

/* The expected value of call c at row r. */
static struct sql_value reference(const struct query__memtable *t, const struct sql_window_call *c,
                                  size_t r)
{
    ref_t = t;
    ref_c = c;
    size_t n = t->nrows, m = 0, *p = malloc(sizeof *p * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        if (same_part(i, r))
            p[m++] = i;
    qsort(p, m, sizeof *p, cmp_rows);
    size_t pos = 0;
    while (p[pos] != r)
        pos++;
    size_t peer_first = pos, peer_last = pos;
    while (peer_first > 0 && ord_cmp(p[peer_first - 1], r) == 0)
        peer_first--;
    while (peer_last + 1 < m && ord_cmp(p[peer_last + 1], r) == 0)
        peer_last++;
    size_t dense = 1;
    for (size_t i = 1; i <= peer_first; i++)
        if (ord_cmp(p[i - 1], p[i]) != 0)
            dense++;
    /* frame [lo, hi] in positions, as signed numbers */
    int64_t lo, hi, ip = (int64_t)pos;
    uint8_t st = c->start, en = c->end;
    bool rows = c->rows && c->frame_written;
    if (!c->frame_written) {
        st = SQL_FRAME_UNBOUNDED_PRECEDING;
        en = c->norder ? SQL_FRAME_CURRENT_ROW : SQL_FRAME_UNBOUNDED_FOLLOWING;
    }
    switch (st) {
    case SQL_FRAME_UNBOUNDED_PRECEDING: lo = 0; break;
    case SQL_FRAME_PRECEDING: lo = ip - c->start_n; break;
    case SQL_FRAME_CURRENT_ROW: lo = rows ? ip : (int64_t)peer_first; break;
    case SQL_FRAME_FOLLOWING: lo = ip + c->start_n; break;
    default: lo = (int64_t)m; break;
    }
    switch (en) {
    case SQL_FRAME_PRECEDING: hi = ip - c->end_n; break;
    case SQL_FRAME_CURRENT_ROW: hi = rows ? ip : (int64_t)peer_last; break;
    case SQL_FRAME_FOLLOWING: hi = ip + c->end_n; break;
    default: hi = (int64_t)m - 1; break;
    }
    if (lo < 0)
        lo = 0;
    if (hi > (int64_t)m - 1)
        hi = (int64_t)m - 1;
    struct sql_value out = sql_null(SQL_LONG);
    const struct sql_value *arg = c->nargs ? t->cols[c->args[0]] : NULL;
    switch (c->func) {
    case SQL_WIN_ROW_NUMBER: out = sql_long((int64_t)pos + 1); break;
    case SQL_WIN_RANK: out = sql_long((int64_t)peer_first + 1); break;
    case SQL_WIN_DENSE_RANK: out = sql_long((int64_t)dense); break;
    case SQL_WIN_PERCENT_RANK:
        out = sql_double(m > 1 ? (double)peer_first / (double)(m - 1) : 0);
        break;
    case SQL_WIN_CUME_DIST: out = sql_double((double)(peer_last + 1) / (double)m); break;
    case SQL_WIN_NTILE: {
        /* deal the rows out: bucket sizes differ by at most one, bigger first */
        int64_t size = (int64_t)m, k = 0, b = 0;
        for (b = 0; b < c->n; b++) {
            int64_t len = size / c->n + (b < size % c->n ? 1 : 0);
            if ((int64_t)pos < k + len)
                break;
            k += len;
        }
        out = sql_long(b + 1);
        break;
    }
    case SQL_WIN_LAG:
    case SQL_WIN_LEAD: {
        int64_t at = c->func == SQL_WIN_LAG ? ip - c->n : ip + c->n;
        if (at >= 0 && at < (int64_t)m)
            out = arg[p[at]];
        else if (c->default_col >= 0)
            out = t->cols[c->default_col][r];
        break;
    }
    case SQL_WIN_FIRST_VALUE:
        if (lo <= hi)
            out = arg[p[lo]];
        break;
    case SQL_WIN_LAST_VALUE:
        if (lo <= hi)
            out = arg[p[hi]];
        break;
    default: { /* the test's aggregates: SUM, COUNT, MIN, MAX of column val */
        int64_t sum = 0, cnt = 0, mn = INT64_MAX, mx = INT64_MIN;
        for (int64_t i = lo; i <= hi; i++) {
            const struct sql_value *v = &t->cols[2][p[i]];
            if (v->is_null)
                continue;
            sum += v->v.l;
            cnt++;
            mn = v->v.l < mn ? v->v.l : mn;
            mx = v->v.l > mx ? v->v.l : mx;
        }
        if (strncmp(c->agg_text, "COUNT", 5) == 0)
            out = sql_long(cnt);
        else if (!cnt)
            out = sql_null(SQL_LONG);
        else
            out = sql_long(c->agg_text[1] == 'U' ? sum : c->agg_text[1] == 'I' ? mn : mx);
        break;
    }
    }
    free(p);
    return out;
}

/* ---- random calls ------------------------------------------------------------------------- */

static uint32_t part1[1] = {0};
static struct sql_window_key okeys[2];

static void random_call(struct sql_window_call *c, int func)
{
    memset(c, 0, sizeof *c);
    c->func = (uint8_t)func;
    c->default_col = -1;
    c->n = 1;
    c->text = "test";
    c->npart = rnd() % 3 == 0 ? 0 : 1;
    c->part = part1;
    c->norder = rnd() % 4 == 0 ? 0 : 1 + rnd() % 2;
    okeys[0] = (struct sql_window_key){1, rnd() % 2 == 0, false};
    okeys[0].nulls_first = rnd() % 3 == 0 ? !okeys[0].desc : okeys[0].desc ? false : true;
    okeys[1] = (struct sql_window_key){3, rnd() % 2 == 0, rnd() % 2 == 0};
    c->order = okeys;
    if (func == SQL_WIN_NTILE)
        c->n = 1 + (int64_t)(rnd() % 9);
    if (func == SQL_WIN_LAG || func == SQL_WIN_LEAD) {
        c->n = (int64_t)(rnd() % 4);
        c->default_col = rnd() % 2 ? 2 : -1;
    }
    if (func >= SQL_WIN_LAG && func != SQL_WIN_AGG) {
        c->nargs = 1;
        c->args[0] = rnd() % 2 ? 2 : 3;
        if (func == SQL_WIN_LAG || func == SQL_WIN_LEAD)
            c->args[0] = 2; /* the default column is a long too */
    }
    if (func == SQL_WIN_AGG) {
        static const char *const aggs[] = {"SUM(\"$w2\")", "COUNT(\"$w2\")", "MIN(\"$w2\")",
                                           "MAX(\"$w2\")"};
        c->agg_text = aggs[rnd() % 4];
        c->nargs = 1;
        c->args[0] = 2;
    }
    /* a frame: none, or a valid random one */
    if (rnd() % 3) {
        c->frame_written = true;
        c->rows = rnd() % 3 != 0;
        for (;;) {
            c->start = (uint8_t)(rnd() % 4);
            c->end = (uint8_t)(1 + rnd() % 4);
            c->start_n = (int64_t)(rnd() % 5);
            c->end_n = (int64_t)(rnd() % 5);
            if (!c->rows) {
                static const uint8_t rb[] = {SQL_FRAME_UNBOUNDED_PRECEDING, SQL_FRAME_CURRENT_ROW,
                                             SQL_FRAME_UNBOUNDED_FOLLOWING};
                c->start = rb[rnd() % 2];
                c->end = rb[1 + rnd() % 2];
            }
            if (c->start > c->end)
                continue;
            if (c->start == SQL_FRAME_PRECEDING && c->end == SQL_FRAME_PRECEDING &&
                c->start_n < c->end_n)
                continue;
            if (c->start == SQL_FRAME_FOLLOWING && c->end == SQL_FRAME_FOLLOWING &&
                c->start_n > c->end_n)
                continue;
            break;
        }
    }
}

static bool value_same(const struct sql_value *a, const struct sql_value *b)
{
    if (a->is_null || b->is_null)
        return a->is_null == b->is_null;
    if (a->type == SQL_DOUBLE || b->type == SQL_DOUBLE) {
        struct sql_value x = sql_value_cast(a, SQL_DOUBLE, NULL),
                         y = sql_value_cast(b, SQL_DOUBLE, NULL);
        return fabs(x.v.d - y.v.d) < 1e-9;
    }
    return sql_value_equal(a, b);
}

static void test_against_reference(void)
{
    for (int round = 0; round < 300; round++) {
        struct tab t;
        size_t n = rnd() % 60;
        tab_make(&t, n, 1 + (int)(rnd() % 4), 1 + (int)(rnd() % 6));
        int func = (int)(rnd() % SQL__WIN_COUNT);
        struct sql_window_call c;
        random_call(&c, func);
        struct sql_windows w = {1, &c, NCOL, "", 0};
        struct qx q;
        qx_init(&q, 64u << 20);
        struct query__memtable out;
        int rc = query__window_apply(&w, &t.t, &q.x, &out);
        CHECK_MSG(rc == 0, "round %d: rc=%d %s", round, rc, q.err.msg);
        if (rc == 0) {
            CHECK_EQ_INT(out.ncols, NCOL + 1);
            CHECK_EQ_INT(out.nrows, n);
            CHECK(out.cols[0] == t.cols[0]); /* input columns are shared, not copied */
            for (size_t r = 0; r < n; r++) {
                struct sql_value want = reference(&t.t, &c, r);
                const struct sql_value *got = &out.cols[NCOL][r];
                CHECK_MSG(value_same(got, &want),
                          "round %d func %d row %zu (n=%zu part=%zu order=%zu frame=%d rows=%d "
                          "%d/%lld..%d/%lld n=%lld): got %s%lld%s, want %s%lld",
                          round, func, r, n, c.npart, c.norder, c.frame_written, c.rows, c.start,
                          (long long)c.start_n, c.end, (long long)c.end_n, (long long)c.n,
                          got->is_null ? "NULL " : "", (long long)got->v.l,
                          got->type == SQL_DOUBLE ? " (double)" : "", want.is_null ? "NULL " : "",
                          (long long)want.v.l);
            }
        }
        qx_destroy(&q);
        tab_free(&t);
    }
}

/* A hand-checked case: ranks over ties, and calls sharing one sort. */
static void test_hand_checked(void)
{
    struct tab t;
    tab_make(&t, 6, 2, 2);
    int64_t ord[6] = {10, 20, 20, 30, 30, 30};
    for (int r = 0; r < 6; r++) {
        t.cols[0][r] = sql_long(0);
        t.cols[1][r] = sql_long(ord[r]);
        t.cols[2][r] = sql_long(r + 1);
    }
    struct sql_window_key k = {1, false, true};
    struct sql_window_call c[7];
    int funcs[7] = {SQL_WIN_ROW_NUMBER, SQL_WIN_RANK,  SQL_WIN_DENSE_RANK, SQL_WIN_PERCENT_RANK,
                    SQL_WIN_CUME_DIST,  SQL_WIN_NTILE, SQL_WIN_AGG};
    for (int i = 0; i < 7; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].func = (uint8_t)funcs[i];
        c[i].norder = 1;
        c[i].order = &k;
        c[i].default_col = -1;
        c[i].n = 4;
        c[i].text = "t";
    }
    c[6].agg_text = "SUM(\"$w2\")";
    c[6].nargs = 1;
    c[6].args[0] = 2;
    struct sql_windows w = {7, c, NCOL, "", 0};
    struct qx q;
    qx_init(&q, 64u << 20);
    struct query__memtable out;
    int rc = query__window_apply(&w, &t.t, &q.x, &out);
    CHECK_MSG(rc == 0, "%s", q.err.msg);
    if (!rc) {
        int64_t rank[6] = {1, 2, 2, 4, 4, 4}, dense[6] = {1, 2, 2, 3, 3, 3};
        int64_t ntile[6] = {1, 1, 2, 2, 3, 4}, sum[6] = {1, 6, 6, 21, 21, 21};
        double pr[6] = {0, 0.2, 0.2, 0.6, 0.6, 0.6}, cd[6] = {1 / 6.0, 0.5, 0.5, 1, 1, 1};
        for (int r = 0; r < 6; r++) {
            CHECK_EQ_INT(out.cols[NCOL][r].v.l, r + 1);
            CHECK_EQ_INT(out.cols[NCOL + 1][r].v.l, rank[r]);
            CHECK_EQ_INT(out.cols[NCOL + 2][r].v.l, dense[r]);
            CHECK_EQ_DBL(out.cols[NCOL + 3][r].v.d, pr[r], 1e-12);
            CHECK_EQ_DBL(out.cols[NCOL + 4][r].v.d, cd[r], 1e-12);
            CHECK_EQ_INT(out.cols[NCOL + 5][r].v.l, ntile[r]);
            CHECK_EQ_INT(out.cols[NCOL + 6][r].v.l, sum[r]); /* peers included */
        }
        CHECK_EQ_INT(out.fields[NCOL + 3].type, SQL_DOUBLE);
        CHECK_EQ_INT(out.fields[NCOL + 6].type, SQL_LONG);
    }
    qx_destroy(&q);
    /* a type error in the aggregate is a 400 placed at the call */
    c[6].agg_text = "SUM(\"$w3\")"; /* a string column */
    c[6].pos = 7;
    struct sql_windows w2 = {7, c, NCOL, "SELECT SUM(s) OVER () FROM t", 28};
    qx_init(&q, 64u << 20);
    rc = query__window_apply(&w2, &t.t, &q.x, &out);
    CHECK_MSG(rc == LERR_INVALID && strstr(q.err.msg, "SUM needs a number") &&
                  strstr(q.err.msg, "line 1, column 8"),
              "rc=%d %s", rc, q.err.msg);
    qx_destroy(&q);
    tab_free(&t);
}

/* Bigger partitions with sliding frames stay fast (no O(n^2)) and answer
 * the memory error past the limit. */
static void test_big_and_memory(void)
{
    struct tab t;
    size_t n = 200000;
    tab_make(&t, n, 3, 1000);
    struct sql_window_key k = {1, false, true};
    struct sql_window_call c;
    memset(&c, 0, sizeof c);
    c.func = SQL_WIN_AGG;
    c.agg_text = "SUM(\"$w2\")";
    c.nargs = 1;
    c.args[0] = 2;
    c.norder = 1;
    c.order = &k;
    c.default_col = -1;
    c.frame_written = true;
    c.rows = true;
    c.start = SQL_FRAME_PRECEDING;
    c.start_n = 50000;
    c.end = SQL_FRAME_FOLLOWING;
    c.end_n = 50000;
    c.text = "SUM";
    struct sql_windows w = {1, &c, NCOL, "", 0};
    struct qx q;
    qx_init(&q, 256u << 20);
    struct query__memtable out;
    int rc = query__window_apply(&w, &t.t, &q.x, &out);
    CHECK_MSG(rc == 0, "rc=%d %s", rc, q.err.msg);
    if (!rc) {
        /* spot-check a few rows against the reference */
        for (size_t r = 0; r < n; r += n / 3 + 17) {
            struct sql_value want = reference(&t.t, &c, r);
            CHECK(value_same(&out.cols[NCOL][r], &want));
        }
    }
    qx_destroy(&q);
    /* 1 MiB cannot hold the sort of 200,000 rows: a clear refusal */
    qx_init(&q, 1u << 20);
    rc = query__window_apply(&w, &t.t, &q.x, &out);
    CHECK_MSG(rc == LERR_INVALID && q.x.mem_error && strstr(q.err.msg, "window"), "rc=%d %s", rc,
              q.err.msg);
    qx_destroy(&q);
    tab_free(&t);
}

int main(void)
{
    struct query_limits lim;
    query_limits_get(&lim); /* sets up the pool of all queries */
    test_hand_checked();
    test_against_reference();
    test_big_and_memory();
    return check_summary();
}
