/*
 * window.c — the window step: given the inner block's result as an
 * in-memory table, appends one column per window call (ROW_NUMBER, RANK,
 * DENSE_RANK, PERCENT_RANK, CUME_DIST, NTILE, LAG, LEAD, FIRST_VALUE,
 * LAST_VALUE, and aggregates over frames). struct sql_windows (sql.h) says
 * everything by column index, so nothing here binds expressions except the
 * aggregates, which sql_window_compile_agg() compiles over the input.
 *
 * How: per call, the rows are sorted (a stable merge sort of row indexes;
 * calls with the same PARTITION BY and ORDER BY share one sort) by the
 * partition columns then the order columns; each partition is walked once,
 * with its peer groups (rows equal on every order column). Aggregates over
 * a frame cost O(n) when the frame is the whole partition, grows from the
 * partition's start (running totals, the default with ORDER BY) or shrinks
 * towards its end; any other frame (n PRECEDING AND m FOLLOWING, ...) is
 * answered from a segment tree of aggregator states merged with
 * sql_agg_merge, O(n log n). Nothing is O(n^2).
 *
 * Memory: the sort, the frames, the argument vectors, the aggregator
 * states and the result columns are charged to the query budget (x->keep,
 * or a scratch arena with the same budget); past the query's memory limit
 * the step answers the memory error naming the window, and nothing else of
 * the server is affected.
 *
 * Entry point: query__window_apply().
 */
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

/* ---- sorting ------------------------------------------------------------------ */

struct wsort {
    const struct query__memtable *in;
    const struct sql_window_call *c;
};

static int key_cmp(const struct sql_value *a, const struct sql_value *b, bool desc,
                   bool nulls_first)
{
    if (a->is_null || b->is_null) {
        if (a->is_null && b->is_null)
            return 0;
        return a->is_null == nulls_first ? -1 : 1;
    }
    int r = sql_value_compare(a, b);
    return desc ? -r : r;
}

static int part_cmp(const struct wsort *s, uint32_t a, uint32_t b)
{
    for (size_t k = 0; k < s->c->npart; k++) {
        const struct sql_value *col = s->in->cols[s->c->part[k]];
        int r = key_cmp(&col[a], &col[b], false, true);
        if (r)
            return r;
    }
    return 0;
}

static int order_cmp(const struct wsort *s, uint32_t a, uint32_t b)
{
    for (size_t k = 0; k < s->c->norder; k++) {
        const struct sql_window_key *key = &s->c->order[k];
        const struct sql_value *col = s->in->cols[key->col];
        int r = key_cmp(&col[a], &col[b], key->desc, key->nulls_first);
        if (r)
            return r;
    }
    return 0;
}

static int row_cmp(const struct wsort *s, uint32_t a, uint32_t b)
{
    int r = part_cmp(s, a, b);
    return r ? r : order_cmp(s, a, b);
}

/* Stable bottom-up merge sort of v[0..n) using tmp[0..n). */
static void merge_sort(const struct wsort *s, uint32_t *v, uint32_t *tmp, size_t n)
{
    uint32_t *src = v, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = row_cmp(s, src[j], src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, n * sizeof *v);
}

static bool same_spec(const struct sql_window_call *a, const struct sql_window_call *b)
{
    if (a->npart != b->npart || a->norder != b->norder)
        return false;
    for (size_t k = 0; k < a->npart; k++)
        if (a->part[k] != b->part[k])
            return false;
    for (size_t k = 0; k < a->norder; k++)
        if (a->order[k].col != b->order[k].col || a->order[k].desc != b->order[k].desc ||
            a->order[k].nulls_first != b->order[k].nulls_first)
            return false;
    return true;
}

/* ---- one call ------------------------------------------------------------------ */

struct wrun {
    const struct sql_windows *w;
    const struct sql_window_call *c;
    const struct query__memtable *in;
    struct query__ctx *x;
    const uint32_t *perm;   /* rows in window order */
    const uint32_t *peer_s; /* per sorted position: first position of its peer group */
    const uint32_t *peer_e; /* one past the last */
    const uint32_t *part_s; /* per sorted position: its partition's first position */
    const uint32_t *part_e;
    struct sql_value *out; /* out[row] */
    uint8_t type;          /* result type */
    struct arena *mem;     /* scratch with the query's budget */
};

static int nomem(struct wrun *r, const char *what) { return query__ctx_nomem(r->x, what); }

/* The frame of sorted position i: positions [*fs, *fe). */
static void frame_of(const struct wrun *r, size_t i, size_t *fs, size_t *fe)
{
    const struct sql_window_call *c = r->c;
    size_t ps = r->part_s[i], pe = r->part_e[i];
    uint8_t start = c->start, end = c->end;
    int64_t sn = c->start_n, en = c->end_n;
    if (!c->frame_written) {
        start = SQL_FRAME_UNBOUNDED_PRECEDING;
        end = c->norder ? SQL_FRAME_CURRENT_ROW : SQL_FRAME_UNBOUNDED_FOLLOWING;
    }
    bool rows = c->frame_written && c->rows;
    int64_t lo, hi; /* inclusive, may fall outside [ps, pe) */
    switch (start) {
    case SQL_FRAME_UNBOUNDED_PRECEDING: lo = (int64_t)ps; break;
    case SQL_FRAME_PRECEDING: lo = (int64_t)i - (sn < (int64_t)i + 1 ? sn : (int64_t)i + 1); break;
    case SQL_FRAME_CURRENT_ROW: lo = rows ? (int64_t)i : (int64_t)r->peer_s[i]; break;
    case SQL_FRAME_FOLLOWING: lo = sn > (int64_t)pe ? (int64_t)pe : (int64_t)i + sn; break;
    default: lo = (int64_t)pe; break;
    }
    switch (end) {
    case SQL_FRAME_UNBOUNDED_PRECEDING: hi = (int64_t)ps - 1; break;
    case SQL_FRAME_PRECEDING: hi = en > (int64_t)i + 1 ? -1 : (int64_t)i - en; break;
    case SQL_FRAME_CURRENT_ROW: hi = rows ? (int64_t)i : (int64_t)r->peer_e[i] - 1; break;
    case SQL_FRAME_FOLLOWING: hi = en > (int64_t)pe ? (int64_t)pe : (int64_t)i + en; break;
    default: hi = (int64_t)pe - 1; break;
    }
    if (lo < (int64_t)ps)
        lo = (int64_t)ps;
    if (hi > (int64_t)pe - 1)
        hi = (int64_t)pe - 1;
    if (hi < lo) {
        *fs = *fe = (size_t)lo;
        return;
    }
    *fs = (size_t)lo;
    *fe = (size_t)hi + 1;
}

static struct sql_value cast_to(const struct sql_value *v, int type, struct arena *mem)
{
    if (v->is_null)
        return sql_null(type);
    if (v->type == type || type == SQL_NULL)
        return *v;
    return sql_value_cast(v, type, mem);
}

static int ranking(struct wrun *r, size_t n)
{
    const struct sql_window_call *c = r->c;
    for (size_t i = 0; i < n; i++) {
        size_t ps = r->part_s[i], pe = r->part_e[i], size = pe - ps, k = i - ps;
        struct sql_value v;
        switch (c->func) {
        case SQL_WIN_ROW_NUMBER: v = sql_long((int64_t)k + 1); break;
        case SQL_WIN_RANK: v = sql_long((int64_t)(r->peer_s[i] - ps) + 1); break;
        case SQL_WIN_DENSE_RANK: {
            /* one more than the previous row's at each new peer group */
            int64_t d = 1;
            if (k > 0) {
                struct sql_value *prev = &r->out[r->perm[i - 1]];
                d = prev->v.l + (r->peer_s[i] == i ? 1 : 0);
            }
            v = sql_long(d);
            break;
        }
        case SQL_WIN_PERCENT_RANK:
            v = sql_double(size > 1 ? (double)(r->peer_s[i] - ps) / (double)(size - 1) : 0.0);
            break;
        case SQL_WIN_CUME_DIST: v = sql_double((double)(r->peer_e[i] - ps) / (double)size); break;
        default: { /* NTILE: the first size % n buckets get one row more */
            int64_t nb = c->n, q = (int64_t)size / nb, rem = (int64_t)size % nb, kk = (int64_t)k;
            int64_t b = kk < rem * (q + 1) ? kk / (q + 1) : rem + (kk - rem * (q + 1)) / q;
            v = sql_long(b + 1);
            break;
        }
        }
        r->out[r->perm[i]] = v;
    }
    return 0;
}

static int values(struct wrun *r, size_t n)
{
    const struct sql_window_call *c = r->c;
    const struct sql_value *arg = r->in->cols[c->args[0]];
    for (size_t i = 0; i < n; i++) {
        size_t ps = r->part_s[i], pe = r->part_e[i];
        const struct sql_value *v = NULL;
        bool use_default = false;
        if (c->func == SQL_WIN_LAG || c->func == SQL_WIN_LEAD) {
            int64_t at = c->func == SQL_WIN_LAG ? (int64_t)i - c->n : (int64_t)i + c->n;
            if (c->n > (int64_t)(pe - ps) || at < (int64_t)ps || at >= (int64_t)pe)
                use_default = true;
            else
                v = &arg[r->perm[at]];
        } else {
            size_t fs, fe;
            frame_of(r, i, &fs, &fe);
            if (fs < fe)
                v = &arg[r->perm[c->func == SQL_WIN_FIRST_VALUE ? fs : fe - 1]];
        }
        struct sql_value res = sql_null(r->type);
        if (v)
            res = cast_to(v, r->type, r->mem);
        else if (use_default && c->default_col >= 0)
            res = cast_to(&r->in->cols[c->default_col][r->perm[i]], r->type, r->mem);
        if (!query__value_copy(&r->out[r->perm[i]], &res, &r->x->keep))
            return nomem(r, "the window function's results");
    }
    return 0;
}

/* ---- aggregates over frames ----------------------------------------------------------- */

struct wagg {
    const struct sql_agg_call *call;
    size_t ssize;
    struct sql_value *argv[2]; /* evaluated arguments, by row */
    bool *pass;                /* FILTER verdict by row, or NULL */
};

static bool agg_add(struct wrun *r, const struct wagg *g, void *st, uint32_t row)
{
    if (g->pass && !g->pass[row])
        return true;
    struct sql_value a[2];
    for (int k = 0; k < g->call->nargs; k++)
        a[k] = g->argv[k][row];
    return sql_agg_add(g->call, st, a, 0, r->mem);
}

static int agg_out(struct wrun *r, const struct wagg *g, const void *st, uint32_t row)
{
    struct sql_value v;
    sql_agg_finalize(g->call, st, &v);
    struct sql_value res = cast_to(&v, r->type, r->mem);
    if (!query__value_copy(&r->out[row], &res, &r->x->keep))
        return nomem(r, "the window function's results");
    return 0;
}

/* Segment tree over one partition's positions [ps, pe): tree[1] is the root,
 * leaves at [m, 2m). */
static int agg_tree(struct wrun *r, const struct wagg *g, size_t ps, size_t pe, void *tmp)
{
    size_t len = pe - ps, m = 1;
    while (m < len)
        m *= 2;
    size_t bytes = 2 * m * g->ssize;
    if (bytes / g->ssize != 2 * m)
        return nomem(r, "the window frame's aggregation tree");
    uint8_t *tree = arena_alloc(r->mem, bytes);
    if (!tree)
        return nomem(r, "the window frame's aggregation tree");
    for (size_t k = 1; k < 2 * m; k++)
        sql_agg_init(g->call, tree + k * g->ssize);
    for (size_t k = 0; k < len; k++)
        if (!agg_add(r, g, tree + (m + k) * g->ssize, r->perm[ps + k]))
            return nomem(r, "the window function's aggregates");
    for (size_t k = m - 1; k >= 1; k--) {
        void *d = tree + k * g->ssize;
        if (!sql_agg_merge(g->call, d, tree + 2 * k * g->ssize, r->mem) ||
            !sql_agg_merge(g->call, d, tree + (2 * k + 1) * g->ssize, r->mem))
            return nomem(r, "the window function's aggregates");
    }
    for (size_t i = ps; i < pe; i++) {
        size_t fs, fe;
        frame_of(r, i, &fs, &fe);
        sql_agg_init(g->call, tmp);
        /* [fs, fe) as leaves, left to right (EARLIEST_BY, LATEST_BY and
         * ANY_VALUE keep the first of equals) */
        size_t lo = fs - ps + m, hi = fe - ps + m;
        size_t right[64], nr = 0;
        bool ok = true;
        while (lo < hi && ok) {
            if (lo & 1)
                ok = sql_agg_merge(g->call, tmp, tree + lo++ * g->ssize, r->mem);
            if (hi & 1)
                right[nr++] = --hi;
            lo /= 2;
            hi /= 2;
        }
        while (nr && ok)
            ok = sql_agg_merge(g->call, tmp, tree + right[--nr] * g->ssize, r->mem);
        if (!ok)
            return nomem(r, "the window function's aggregates");
        int rc = agg_out(r, g, tmp, r->perm[i]);
        if (rc)
            return rc;
        if ((i & 4095) == 0 && (rc = query__ctx_check(r->x)))
            return rc;
    }
    return 0;
}

static int aggregate(struct wrun *r, size_t n, const struct sql_agg_call *call)
{
    struct wagg g = {.call = call, .ssize = sql_agg_state_size(call)};
    if (g.ssize == 0)
        g.ssize = 1;
    /* arguments and FILTER over the input, once per row */
    struct sql_batch b = {(const struct sql_value *const *)r->in->cols, (uint32_t)n};
    struct lerr *err = r->x->err;
    for (int k = 0; k < call->nargs; k++) {
        g.argv[k] = arena_alloc(r->mem, (n ? n : 1) * sizeof *g.argv[k]);
        if (!g.argv[k])
            return nomem(r, "the window function's arguments");
        for (size_t lo = 0; lo < n; lo += 4096) {
            uint32_t m = (uint32_t)(n - lo < 4096 ? n - lo : 4096);
            uint32_t sel[4096];
            for (uint32_t j = 0; j < m; j++)
                sel[j] = (uint32_t)(lo + j);
            int rc = sql_eval_batch(call->args[k], &b, sel, m, r->mem, g.argv[k] + lo, err);
            if (rc)
                return query__ctx_sql_error(r->x, rc, "the window function's arguments");
        }
    }
    if (call->filter) {
        g.pass = arena_alloc(r->mem, n ? n : 1);
        if (!g.pass)
            return nomem(r, "the window function's FILTER");
        for (size_t lo = 0; lo < n; lo += 4096) {
            uint32_t m = (uint32_t)(n - lo < 4096 ? n - lo : 4096);
            uint32_t sel[4096], keep[4096];
            for (uint32_t j = 0; j < m; j++)
                sel[j] = (uint32_t)(lo + j);
            int bad = 0;
            uint32_t k = sql_filter_batch(call->filter, &b, sel, m, r->mem, keep, &bad);
            if (bad)
                return nomem(r, "the window function's FILTER");
            memset(g.pass + lo, 0, m);
            for (uint32_t j = 0; j < k; j++)
                g.pass[keep[j]] = true;
        }
    }
    void *st = arena_alloc(r->mem, g.ssize), *tmp = arena_alloc(r->mem, g.ssize);
    if (!st || !tmp)
        return nomem(r, "the window function's aggregates");
    const struct sql_window_call *c = r->c;
    bool whole_start = !c->frame_written || c->start == SQL_FRAME_UNBOUNDED_PRECEDING;
    bool whole_end = c->frame_written ? c->end == SQL_FRAME_UNBOUNDED_FOLLOWING : !c->norder;
    for (size_t ps = 0; ps < n; ps = r->part_e[ps]) {
        size_t pe = r->part_e[ps];
        int rc;
        if (whole_start) {
            /* frames grow from the partition's start: add as the end moves */
            sql_agg_init(call, st);
            size_t added = ps;
            for (size_t i = ps; i < pe; i++) {
                size_t fs, fe;
                frame_of(r, i, &fs, &fe);
                for (; added < fe; added++)
                    if (!agg_add(r, &g, st, r->perm[added]))
                        return nomem(r, "the window function's aggregates");
                if (fe <= fs) {
                    sql_agg_init(call, tmp);
                    rc = agg_out(r, &g, tmp, r->perm[i]);
                } else {
                    rc = agg_out(r, &g, st, r->perm[i]);
                }
                if (rc)
                    return rc;
            }
        } else if (whole_end) {
            /* frames shrink towards the partition's end: walk backwards */
            sql_agg_init(call, st);
            size_t added = pe;
            for (size_t i = pe; i-- > ps;) {
                size_t fs, fe;
                frame_of(r, i, &fs, &fe);
                while (added > fs && added > ps)
                    if (!agg_add(r, &g, st, r->perm[--added]))
                        return nomem(r, "the window function's aggregates");
                if (fe <= fs) {
                    sql_agg_init(call, tmp);
                    rc = agg_out(r, &g, tmp, r->perm[i]);
                } else {
                    rc = agg_out(r, &g, st, r->perm[i]);
                }
                if (rc)
                    return rc;
            }
        } else if ((rc = agg_tree(r, &g, ps, pe, tmp))) {
            return rc;
        }
        if ((rc = query__ctx_check(r->x)))
            return rc;
    }
    return 0;
}

/* ---- the step ------------------------------------------------------------------------ */

static uint8_t result_type(const struct sql_window_call *c, const struct query__memtable *in)
{
    switch (c->func) {
    case SQL_WIN_PERCENT_RANK:
    case SQL_WIN_CUME_DIST: return SQL_DOUBLE;
    case SQL_WIN_LAG:
    case SQL_WIN_LEAD:
    case SQL_WIN_FIRST_VALUE:
    case SQL_WIN_LAST_VALUE: return in->fields[c->args[0]].type;
    default: return SQL_LONG;
    }
}

int query__window_apply(const struct sql_windows *w, const struct query__memtable *in,
                        struct query__ctx *x, struct query__memtable *out)
{
    memset(out, 0, sizeof *out);
    size_t n = in->nrows, nc = in->ncols + w->ncalls;
    if (n >= UINT32_MAX)
        return lerr_set(x->err, LERR_INVALID,
                        "a window function's input has %zu rows: more than this server sorts", n);
    out->fields = arena_alloc(&x->keep, nc * sizeof *out->fields);
    out->cols = arena_alloc(&x->keep, nc * sizeof *out->cols);
    if (!out->fields || !out->cols)
        return query__ctx_nomem(x, "the window function's columns");
    memcpy(out->fields, in->fields, in->ncols * sizeof *out->fields);
    memcpy(out->cols, in->cols, in->ncols * sizeof *out->cols);
    for (size_t i = 0; i < w->ncalls; i++)
        for (size_t k = 0; k < w->calls[i].nargs; k++)
            if (w->calls[i].args[k] >= in->ncols)
                return lerr_set(x->err, LERR_INVALID,
                                "window call %zu reads column %u of %zu (a planning error)", i,
                                (unsigned)w->calls[i].args[k], in->ncols);

    /* `sm` holds the sort (shared by calls with the same window), `mem` one
     * call's arguments and aggregator states (reset after each call) */
    struct arena sm, mem;
    arena_init(&sm, 64 * 1024, 0);
    arena_init(&mem, 64 * 1024, 0);
    arena_set_budget(&sm, &x->budget);
    arena_set_budget(&mem, &x->budget);
    size_t nn = n ? n : 1;
    uint32_t *perm = arena_alloc(&sm, nn * sizeof *perm);
    uint32_t *tmp = arena_alloc(&sm, nn * sizeof *tmp);
    uint32_t *peer_s = arena_alloc(&sm, nn * sizeof *peer_s);
    uint32_t *peer_e = arena_alloc(&sm, nn * sizeof *peer_e);
    uint32_t *part_s = arena_alloc(&sm, nn * sizeof *part_s);
    uint32_t *part_e = arena_alloc(&sm, nn * sizeof *part_e);
    int rc = 0;
    if (!perm || !tmp || !peer_s || !peer_e || !part_s || !part_e)
        rc = query__ctx_nomem(x, "the window function's sort of its rows");
    const struct sql_window_call *sorted_for = NULL;
    for (size_t ci = 0; !rc && ci < w->ncalls; ci++) {
        const struct sql_window_call *c = &w->calls[ci];
        struct sql_field *f = &out->fields[in->ncols + ci];
        *f = (struct sql_field){.name = c->text ? c->text : "window",
                                .name_len = c->text ? strlen(c->text) : 6,
                                .type = result_type(c, in)};
        struct sql_expr *agg = NULL;
        if (c->func == SQL_WIN_AGG) {
            struct sql_options opt = {.mode = SQL_MODE_ROLLUP,
                                      .budget = &x->budget,
                                      .exact_count_distinct = x->req &&
                                                              !x->req->approx_count_distinct};
            struct sql_schema s = {in->fields, in->ncols};
            if ((rc = sql_window_compile_agg(w, ci, &s, &opt, &agg, x->err))) {
                rc = query__ctx_sql_error(x, rc, "the window function's aggregate");
                break;
            }
            f->type = sql_expr_agg(agg)->result_type;
        }
        struct sql_value *col = arena_alloc(&x->keep, nn * sizeof *col);
        if (!col) {
            sql_expr_free(agg);
            rc = query__ctx_nomem(x, "the window function's results");
            break;
        }
        out->cols[in->ncols + ci] = col;
        if (!sorted_for || !same_spec(sorted_for, c)) {
            struct wsort s = {in, c};
            for (size_t i = 0; i < n; i++)
                perm[i] = (uint32_t)i;
            merge_sort(&s, perm, tmp, n);
            for (size_t i = 0; i < n; i++) {
                bool new_part = i == 0 || part_cmp(&s, perm[i - 1], perm[i]) != 0;
                part_s[i] = new_part ? (uint32_t)i : part_s[i - 1];
                peer_s[i] = new_part || order_cmp(&s, perm[i - 1], perm[i]) != 0 ? (uint32_t)i
                                                                                 : peer_s[i - 1];
            }
            for (size_t i = n; i-- > 0;) {
                bool last_part = i + 1 == n || part_s[i + 1] != part_s[i];
                part_e[i] = last_part ? (uint32_t)(i + 1) : part_e[i + 1];
                peer_e[i] = last_part || peer_s[i + 1] != peer_s[i] ? (uint32_t)(i + 1)
                                                                    : peer_e[i + 1];
            }
            sorted_for = c;
        }
        struct wrun r = {w, c, in, x, perm, peer_s, peer_e, part_s, part_e, col, f->type, &mem};
        switch (c->func) {
        case SQL_WIN_ROW_NUMBER:
        case SQL_WIN_RANK:
        case SQL_WIN_DENSE_RANK:
        case SQL_WIN_PERCENT_RANK:
        case SQL_WIN_CUME_DIST:
        case SQL_WIN_NTILE: rc = ranking(&r, n); break;
        case SQL_WIN_AGG: rc = aggregate(&r, n, sql_expr_agg(agg)); break;
        default: rc = values(&r, n); break;
        }
        sql_expr_free(agg);
        arena_reset(&mem);
        if (!rc)
            rc = query__ctx_check(x);
    }
    arena_destroy(&mem);
    arena_destroy(&sm);
    if (rc)
        return rc;
    out->ncols = nc;
    out->nrows = n;
    return 0;
}
