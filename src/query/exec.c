/*
 * exec.c — plans a bound SELECT against one source (a storage snapshot or
 * an in-memory table) and runs it. The plan (struct qplan) is read-only once
 * built; everything that changes while it runs lives beside it in struct
 * qrun, in the PostgreSQL executor manner.
 *
 * Entry point: query__exec_run().
 *
 * Running: views outside the query's __time interval and empty views are
 * pruned; the others are read in chunk order. Per view the WHERE becomes a
 * row set (filter.c); COUNT(*)-only global aggregates over exact row sets
 * are answered from row counts and bitmap cardinalities without reading a
 * row. Otherwise the view is read in blocks of STORAGE_BLOCK_ROWS candidate
 * rows: the rest of the WHERE runs vectorized, then either
 *   - aggregate: each row's group id comes from its dictionary id (GROUP BY
 *     one STRING column: an id → group map per view, so each distinct value
 *     is hashed once per view; with only native aggregates, per-view arrays
 *     indexed by id instead, see "aggregation by dictionary id" below, which
 *     also prunes top-N candidates), from its raw __time (TIME_FLOOR /
 *     FLOOR TO keys), or from a hash of the evaluated keys; aggregates then
 *     update native accumulators straight from raw column vectors, sql_agg
 *     states, or merge stored measure states;
 *   - no aggregate: items and ORDER BY terms are evaluated per block and
 *     rows go to the collector (top-N with ORDER BY + LIMIT; stop early
 *     with LIMIT alone, evaluating no more rows than it keeps).
 * Everything here allocates under the query's budget (query_int.h); an
 * aggregate's argument vectors are freed once it has added them.
 * Groups are finalized into rows (HAVING, items, ORDER BY terms, DISTINCT)
 * and collected the same way; without ORDER BY they come out sorted by
 * their keys, as Druid's group-by returns them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "query/query_int.h"

enum qkey_kind { QK_NONE, QK_DICT, QK_TFLOOR, QK_GENERIC };

struct qplan {
    const struct sql_select *q;
    const struct query__source *src;
    size_t ncols;
    int time_col;                    /* __time, or -1 */
    struct query__filter filter;
    const struct storage_view **views;   /* to read, in chunk order */
    size_t nviews, nviews_all, npruned, nempty, nrealtime;
    /* aggregation */
    uint8_t key_kind;
    int key_col;                     /* QK_DICT */
    bool floor_unit;                 /* QK_TFLOOR: FLOOR(__time TO unit) */
    enum time_unit unit;
    struct period per;
    int64_t per_ms;                  /* fixed-width UTC buckets, else 0 */
    int *key_cols;                   /* QK_GENERIC: bare column of each key, or -1 */
    struct query__agg_plan *aggs;
    size_t acc_size;
    bool count_only;                 /* every aggregate is COUNT(*) without FILTER */
    bool by_id;                      /* one STRING key, native aggregates: per-id arrays */
    bool has_native;                 /* some aggregate is QA_NATIVE */
    int topn_agg;                    /* by_id, ordered by this COUNT/SUM DESC with a LIMIT */
    bool need_time;                  /* EARLIEST / LATEST need the row time */
    /* output */
    int *item_ref;                   /* bare column (scan) / group-row field (aggregate), or -1 */
    size_t width;                    /* items + extra order values */
    size_t nextra;
    const struct sql_expr **extra;   /* ORDER BY terms that are not items */
    bool key_order;                  /* aggregate without ORDER BY: sorted by keys */
    int *order_idx;
    bool *desc;
    size_t norder;
    int64_t keep;                    /* OFFSET + LIMIT, or -1 */
};

struct qrun {
    const struct qplan *p;
    struct query__ctx *x;
    struct query__groups groups;
    struct query__collect *col;
    bool done;
    /* the view being read */
    const struct storage_view *view;
    struct storage_scan *scan;
    const struct query__memtable *mem;
    uint32_t *id2gid;                /* QK_DICT: group of each dictionary id */
    size_t id2gid_n;
    struct vstate *vs;               /* aggregating this view by dictionary id */
    uint8_t *accbase;                /* native accumulators: accbase + gid * stride */
    size_t stride;
    /* the block being read */
    uint64_t row0;
    uint32_t n;
    uint32_t *selbuf;
    const uint32_t *sel;             /* offsets in the block of the rows, or NULL = all n */
    uint32_t nsel;
    struct sql_value **colv;         /* loaded columns: values of the nsel rows */
    uint32_t *colgen;
    uint32_t gen;
    const struct sql_value **colptr;
    uint32_t *loaded;
    size_t nloaded;
    struct sql_value *nullvec;
    uint32_t *gids;
};

#define BLOCK STORAGE_BLOCK_ROWS
/* what a refused allocation during evaluation was for, in its error */
#define EXPR_RESULTS "expression results (such as the strings REPEAT, CONCAT or LPAD build)"
#define NO_GID UINT32_MAX

static inline uint32_t dpos(const uint32_t *sel, uint32_t k)
{
    return sel ? sel[k] : k;
}

/* ---- planning ------------------------------------------------------------------- */

static int cmp_views(const void *pa, const void *pb)
{
    const struct storage_view *a = *(const struct storage_view *const *)pa;
    const struct storage_view *b = *(const struct storage_view *const *)pb;
    int64_t as, ae, bs, be;
    storage_view_chunk(a, &as, &ae);
    storage_view_chunk(b, &bs, &be);
    if (as != bs)
        return as < bs ? -1 : 1;
    bool ar = storage_view_is_realtime(a), br = storage_view_is_realtime(b);
    if (ar != br)
        return ar ? 1 : -1;   /* persisted rows before newer realtime rows */
    return strcmp(storage_view_name(a), storage_view_name(b));
}

/*
 * A segment the snapshot cannot read (corrupt or missing) whose time chunk
 * meets the query's time range: the answer would silently lack its rows, so
 * the query fails naming it — unless the user asked for partial results,
 * when the answer says what it left out.
 */
static int check_missing(const struct qplan *p, struct query__ctx *x)
{
    const struct storage_snapshot *s = p->src->snap;
    for (size_t i = 0; i < s->nmissing; i++) {
        const struct storage_missing *m = &s->missing[i];
        if (m->chunk_end <= p->q->time_min || m->chunk_start >= p->q->time_max)
            continue;
        char a[32] = "-inf", b[32] = "+inf";
        if (m->chunk_start != INT64_MIN)
            util_format_iso_ms(m->chunk_start, a);
        if (m->chunk_end != INT64_MAX)
            util_format_iso_ms(m->chunk_end, b);
        if (!x->req->allow_partial)
            return lerr_set(x->err, LERR_CORRUPT,
                            "table '%s': segment %s, holding rows of %s/%s, cannot be read, so "
                            "the answer would be missing them (%s). Restore the segment file, or "
                            "set \"allowPartialResults\": true in the query context to answer "
                            "without it",
                            p->src->table, m->name, a, b, m->msg);
        size_t used = strlen(x->partial);
        snprintf(x->partial + used, sizeof x->partial - used, "%ssegment %s of '%s' (%s/%s)",
                 used ? "; " : "", m->name, p->src->table, a, b);
    }
    return 0;
}

static int plan_views(struct qplan *p, struct query__ctx *x)
{
    const struct storage_snapshot *s = p->src->snap;
    if (!s)
        return 0;
    if (check_missing(p, x))
        return x->err->code;
    p->nviews_all = s->nviews;
    p->views = arena_alloc(&x->keep, (s->nviews ? s->nviews : 1) * sizeof *p->views);
    if (!p->views)
        return query__ctx_nomem(x, "the view list");
    for (size_t i = 0; i < s->nviews; i++) {
        const struct storage_view *v = s->views[i];
        int64_t lo, hi;
        storage_view_time_range(v, &lo, &hi);
        if (storage_view_rows(v) == 0 || lo > hi) {
            p->nempty++;
            continue;
        }
        if (hi < p->q->time_min || lo >= p->q->time_max) {
            p->npruned++;
            continue;
        }
        p->nrealtime += storage_view_is_realtime(v);
        p->views[p->nviews++] = v;
    }
    if (p->nviews > 1)
        qsort(p->views, p->nviews, sizeof *p->views, cmp_views);
    return 0;
}

/* The measure's aggregator, when the query applies the same function to
 * the bare measure column (documented in query.h). */
static const struct sql_agg_call *merge_call(const struct qplan *p, const struct sql_agg_call *c,
                                             int col)
{
    const struct storage_snapshot *s = p->src->snap;
    if (!s || col < 0 || (size_t)col >= s->ncols || s->cols[col].kind != STORAGE_MEASURE)
        return NULL;
    const struct sql_agg_call *m = &s->cols[col].agg;
    int k = c->kind;
    if (k == SQL_AGG_EARLIEST_BY)
        k = SQL_AGG_EARLIEST;
    if (k == SQL_AGG_LATEST_BY)
        k = SQL_AGG_LATEST;
    bool same = (k == SQL_AGG_SUM || k == SQL_AGG_MIN || k == SQL_AGG_MAX ||
                 k == SQL_AGG_EARLIEST || k == SQL_AGG_LATEST) &&
                (int)m->kind == k;
    if (!same)
        return NULL;
    if ((k == SQL_AGG_SUM || k == SQL_AGG_MIN || k == SQL_AGG_MAX) &&
        m->result_type != c->result_type)
        return NULL;
    return m;
}

static bool native_ok(const struct sql_agg_call *c)
{
    int t = c->arg_type;
    switch (c->kind) {
    case SQL_AGG_COUNT:
        return c->nargs == 1;
    case SQL_AGG_SUM:
        return t == SQL_LONG || t == SQL_DOUBLE || t == SQL_FLOAT;
    case SQL_AGG_MIN:
    case SQL_AGG_MAX:
        return t == SQL_LONG || t == SQL_DOUBLE || t == SQL_FLOAT || t == SQL_TIMESTAMP;
    default:
        return false;
    }
}

static int plan_aggs(struct qplan *p, struct query__ctx *x)
{
    const struct sql_select *q = p->q;
    p->aggs = arena_zalloc(&x->keep, (q->naggs ? q->naggs : 1) * sizeof *p->aggs);
    if (!p->aggs)
        return query__ctx_nomem(x, "the plan");
    p->count_only = q->naggs > 0;
    for (size_t i = 0; i < q->naggs; i++) {
        const struct sql_agg_call *c = &q->aggs[i];
        struct query__agg_plan *a = &p->aggs[i];
        a->call = c;
        a->state = c;
        a->arg_col = c->nargs ? query__shape_ref_of(c->args[0], &x->keep) : -1;
        const struct sql_agg_call *m = merge_call(p, c, a->arg_col);
        if (m) {
            a->mode = QA_MERGE;
            a->state = m;
        } else if (c->kind == SQL_AGG_COUNT_STAR) {
            a->mode = QA_COUNT_STAR;
        } else if (native_ok(c)) {
            a->mode = QA_NATIVE;
            a->dbl = c->arg_type == SQL_DOUBLE || c->arg_type == SQL_FLOAT;
        } else {
            a->mode = QA_SQL;
            p->need_time |= c->kind == SQL_AGG_EARLIEST || c->kind == SQL_AGG_LATEST;
        }
        p->count_only &= a->mode == QA_COUNT_STAR && !c->filter;
        a->size = (a->mode == QA_SQL || a->mode == QA_MERGE) ? sql_agg_state_size(a->state)
                                                              : sizeof(struct query__nacc);
        a->off = p->acc_size;
        p->acc_size += (a->size + 7) & ~(size_t)7;
    }
    return 0;
}

static void plan_keys(struct qplan *p, struct query__ctx *x)
{
    const struct sql_select *q = p->q;
    p->key_kind = q->nkeys == 0 ? QK_NONE : QK_GENERIC;
    p->key_col = -1;
    p->key_cols = arena_alloc(&x->keep, (q->nkeys ? q->nkeys : 1) * sizeof *p->key_cols);
    for (size_t i = 0; p->key_cols && i < q->nkeys; i++)
        p->key_cols[i] = query__shape_ref_of(q->keys[i], &x->keep);
    if (q->nkeys != 1 || !p->key_cols)
        return;
    const struct sql_schema *cols = &p->src->schema;
    int kc = p->key_cols[0];
    if (kc >= 0 && p->src->snap && cols->fields[kc].type == SQL_STRING) {
        p->key_kind = QK_DICT;
        p->key_col = kc;
        return;
    }
    if (sql_expr_type(q->keys[0]) != SQL_TIMESTAMP || p->time_col < 0)
        return;
    const struct query__shape *s = query__shape_of(q->keys[0], &x->keep);
    if (!s || s->nargs != 2 || s->args[0]->kind != QSH_REF ||
        (int)s->args[0]->field != p->time_col || s->args[1]->kind != QSH_STR)
        return;
    struct lerr err;
    lerr_init(&err);
    if (s->kind == QSH_CALL && query__shape_is(s, "TIME_FLOOR") && !s->not_flag &&
        period_parse(s->args[1]->lit, s->args[1]->lit_len, &p->per, &err) == 0) {
        p->key_kind = QK_TFLOOR;
        int64_t ms = period_fixed_ms(&p->per);
        /* epoch-aligned arithmetic is TIME_FLOOR only in UTC and without
         * weeks (weeks align to Monday) */
        if (ms > 0 && p->per.weeks == 0 && x->tz == tz_utc())
            p->per_ms = ms;
    } else if (s->kind == QSH_BINOP && query__shape_is(s, "FLOOR TO") &&
               time_unit_parse(s->args[1]->lit, s->args[1]->lit_len, &p->unit)) {
        p->key_kind = QK_TFLOOR;
        p->floor_unit = true;
    }
}

static int plan_output(struct qplan *p, struct query__ctx *x)
{
    const struct sql_select *q = p->q;
    p->item_ref = arena_alloc(&x->keep, q->nitems * sizeof *p->item_ref);
    size_t maxorder = q->norder + q->nkeys;
    p->extra = arena_alloc(&x->keep, (maxorder ? maxorder : 1) * sizeof *p->extra);
    p->order_idx = arena_alloc(&x->keep, (maxorder ? maxorder : 1) * sizeof *p->order_idx);
    p->desc = arena_alloc(&x->keep, (maxorder ? maxorder : 1) * sizeof *p->desc);
    if (!p->item_ref || !p->extra || !p->order_idx || !p->desc)
        return query__ctx_nomem(x, "the plan");
    for (size_t i = 0; i < q->nitems; i++)
        p->item_ref[i] = query__shape_ref_of(q->items[i].expr, &x->keep);
    for (size_t i = 0; i < q->norder; i++) {
        p->desc[i] = q->order[i].desc;
        if (q->order[i].item >= 0) {
            p->order_idx[i] = q->order[i].item;
        } else {
            p->order_idx[i] = (int)(q->nitems + p->nextra);
            p->extra[p->nextra++] = q->order[i].expr;
        }
    }
    p->norder = q->norder;
    if (q->aggregate && q->norder == 0 && q->nkeys > 0) {
        p->key_order = true;
        for (size_t k = 0; k < q->nkeys; k++) {
            p->order_idx[k] = (int)(q->nitems + k);
            p->desc[k] = false;
        }
        p->norder = q->nkeys;
        p->nextra = q->nkeys;
    }
    p->width = q->nitems + p->nextra;
    p->keep = -1;
    if (q->limit >= 0)
        p->keep = q->offset > INT64_MAX - q->limit ? INT64_MAX : q->offset + q->limit;
    return 0;
}

/* GROUP BY one STRING column with only native aggregates: per-view arrays
 * by dictionary id, and whether a top-N by one of them can prune (run_topn). */
static void plan_by_id(struct qplan *p, struct query__ctx *x)
{
    const struct sql_select *q = p->q;
    p->topn_agg = -1;
    p->by_id = q->aggregate && p->key_kind == QK_DICT;
    for (size_t i = 0; i < q->naggs; i++) {
        p->by_id &= p->aggs[i].mode == QA_COUNT_STAR || p->aggs[i].mode == QA_NATIVE;
        p->has_native |= p->aggs[i].mode == QA_NATIVE;
    }
    if (!p->by_id || q->having || q->distinct || p->keep <= 0 || q->norder == 0 || !p->desc[0])
        return;
    size_t idx = (size_t)p->order_idx[0];
    int field = idx < q->nitems ? p->item_ref[idx]
                                : query__shape_ref_of(p->extra[idx - q->nitems], &x->keep);
    if (field < (int)q->nkeys)
        return;
    const struct query__agg_plan *a = &p->aggs[field - (int)q->nkeys];
    /* additive: a value's total is the sum of its per-view values */
    if (a->mode == QA_COUNT_STAR || a->call->kind == SQL_AGG_COUNT || a->call->kind == SQL_AGG_SUM)
        p->topn_agg = field - (int)q->nkeys;
}

static int plan_build(struct qplan *p, const struct sql_select *q, const struct query__source *src,
                      const struct sql_options *opt, struct query__ctx *x)
{
    memset(p, 0, sizeof *p);
    p->q = q;
    p->src = src;
    p->ncols = src->schema.n;
    p->time_col = -1;
    for (size_t i = 0; i < src->schema.n; i++)
        if (src->schema.fields[i].type == SQL_TIMESTAMP && src->schema.fields[i].name_len == 6 &&
            memcmp(src->schema.fields[i].name, "__time", 6) == 0)
            p->time_col = (int)i;
    int rc;
    if (src->snap) {
        if ((rc = query__filter_build(&p->filter, q, &src->schema, opt, x)))
            return rc;
    } else {
        p->filter.where = q->where;
        p->filter.exact = q->where == NULL;
    }
    if ((rc = plan_views(p, x)) || (rc = plan_aggs(p, x)))
        return rc;
    plan_keys(p, x);
    if (!p->key_cols)
        return query__ctx_nomem(x, "the plan");
    if ((rc = plan_output(p, x)))
        return rc;
    plan_by_id(p, x);
    return 0;
}

/* ---- EXPLAIN ------------------------------------------------------------------------ */

static void explain_time(struct buf *b, int64_t t)
{
    char s[40];
    if (t == INT64_MIN || t == INT64_MAX) {
        buf_puts(b, t == INT64_MIN ? "-inf" : "+inf");
        return;
    }
    util_format_iso_ms(t, s);
    buf_puts(b, s);
}

static void explain_expr(struct buf *b, const struct sql_expr *e, struct query__ctx *x)
{
    buf_puts(b, query__shape_text(e, &x->keep));
}

static const char *agg_how(const struct qplan *p, const struct query__agg_plan *a)
{
    switch (a->mode) {
    case QA_COUNT_STAR:
        return p->count_only ? "row counts and bitmap cardinalities where the filter is exact"
                             : "native count";
    case QA_NATIVE:
        return a->call->kind == SQL_AGG_COUNT ? "native count of non-NULL values"
               : a->dbl                       ? "native double accumulator"
                                              : "native long accumulator";
    case QA_MERGE:
        return "merged from the measure's stored states";
    default:
        return "aggregator states";
    }
}

static int explain(const struct qplan *p, struct query__ctx *x, struct query__result *res)
{
    const struct sql_select *q = p->q;
    struct buf b;
    buf_init(&b, 1u << 20);
    const char *schema = q->schema_name && *q->schema_name ? q->schema_name : "druid";
    if (p->src->snap) {
        buf_printf(&b, "Scan %s.\"%s\": %zu views (%zu segments, %zu realtime buffers) read",
                   schema, p->src->table, p->nviews, p->nviews - p->nrealtime, p->nrealtime);
        if (q->time_min == INT64_MIN && q->time_max == INT64_MAX) {
            buf_puts(&b, "; no __time bounds to prune by");
        } else {
            buf_printf(&b, "; %zu pruned by __time outside [", p->npruned);
            explain_time(&b, q->time_min);
            buf_puts(&b, ", ");
            explain_time(&b, q->time_max);
            buf_puts(&b, ")");
        }
        buf_printf(&b, "; %zu empty\n", p->nempty);
    } else if (q->table && *q->table) {
        buf_printf(&b, "Scan %s.%s: in-memory table of %zu rows\n", schema, p->src->table,
                   p->src->mem ? p->src->mem->nrows : (size_t)0);
    } else {
        buf_puts(&b, "Values: one row without a table\n");
    }
    buf_puts(&b, "Filter: ");
    if (p->src->snap) {
        query__filter_explain(&p->filter, &b);
    } else if (q->where) {
        buf_puts(&b, "rows[");
        explain_expr(&b, q->where, x);
        buf_puts(&b, "]");
    } else {
        buf_puts(&b, "none");
    }
    buf_putc(&b, '\n');
    if (q->aggregate) {
        buf_puts(&b, "Group by: ");
        switch (p->key_kind) {
        case QK_NONE:
            buf_puts(&b, "none (one group)");
            break;
        case QK_DICT:
            buf_printf(&b, "%s of \"%.*s\" in each view, merged by value",
                       p->by_id ? "arrays by dictionary id" : "dictionary ids",
                       (int)p->src->schema.fields[p->key_col].name_len,
                       p->src->schema.fields[p->key_col].name);
            if (p->by_id && !p->has_native)
                buf_puts(&b, " (bitmap cardinalities on segments with small dictionaries)");
            if (p->topn_agg >= 0)
                buf_printf(&b, "; only the values among each view's largest $agg%d are merged, "
                               "until their N-th total beats every other value's bound",
                           p->topn_agg);
            break;
        case QK_TFLOOR:
            buf_puts(&b, "buckets of the raw __time vector: ");
            explain_expr(&b, q->keys[0], x);
            buf_puts(&b, p->per_ms ? " (fixed width)" : " (calendar)");
            break;
        default:
            buf_puts(&b, "hash of ");
            for (size_t i = 0; i < q->nkeys; i++) {
                if (i)
                    buf_puts(&b, ", ");
                explain_expr(&b, q->keys[i], x);
            }
        }
        buf_puts(&b, "\nAggregates: ");
        for (size_t i = 0; i < q->naggs; i++) {
            if (i)
                buf_puts(&b, "; ");
            buf_printf(&b, "$agg%zu = ", i);
            static const char *const agg_names[] = {
#define AGG_NAME_(e, name) name,
                SQL_AGG_MAP(AGG_NAME_)
#undef AGG_NAME_
            };
            const struct sql_agg_call *c = &q->aggs[i];
            if (c->kind == SQL_AGG_COUNT_STAR)
                buf_puts(&b, "COUNT(*");
            else if (c->kind == SQL_AGG_COUNT_DISTINCT)
                buf_puts(&b, "COUNT(DISTINCT ");
            else
                buf_printf(&b, "%s(", agg_names[c->kind]);
            for (int k = 0; k < c->nargs; k++) {
                if (k)
                    buf_puts(&b, ", ");
                explain_expr(&b, c->args[k], x);
            }
            buf_putc(&b, ')');
            if (q->aggs[i].filter) {
                buf_puts(&b, " FILTER(");
                explain_expr(&b, q->aggs[i].filter, x);
                buf_putc(&b, ')');
            }
            buf_printf(&b, " [%s]", agg_how(p, &p->aggs[i]));
        }
        if (!q->naggs)
            buf_puts(&b, "none");
        buf_putc(&b, '\n');
        if (q->having) {
            buf_puts(&b, "Having: ");
            explain_expr(&b, q->having, x);
            buf_putc(&b, '\n');
        }
    }
    buf_puts(&b, "Order: ");
    if (!p->norder) {
        buf_puts(&b, p->keep >= 0 ? "none; reading stops at the limit" : "none (scan order)");
    } else {
        if (p->keep >= 0)
            buf_printf(&b, "top-N keeping %lld rows by ", (long long)p->keep);
        else
            buf_puts(&b, "full sort by ");
        for (size_t i = 0; i < p->norder; i++) {
            if (i)
                buf_puts(&b, ", ");
            if (p->key_order)
                explain_expr(&b, q->keys[i], x);
            else
                explain_expr(&b, q->order[i].expr, x);
            buf_puts(&b, p->desc[i] ? " DESC" : " ASC");
        }
        if (p->key_order)
            buf_puts(&b, " (group keys)");
    }
    if (q->limit >= 0 || q->offset > 0)
        buf_printf(&b, "\nLimit: %lld, offset %lld", (long long)q->limit, (long long)q->offset);
    if (q->distinct)
        buf_puts(&b, "\nDistinct: yes");
    if (b.failed) {
        buf_free(&b);
        return query__ctx_too_big(x, "the plan text");
    }
    struct buf r;
    buf_init(&r, 0);
    buf_puts(&r, "[{\"name\":");
    json_write_string(&r, p->src->table, strlen(p->src->table));
    buf_puts(&r, ",\"type\":\"DATASOURCE\"}]");
    static const char *const names[] = {"PLAN", "RESOURCES", "ATTRIBUTES"};
    static const uint8_t types[] = {SQL_STRING, SQL_STRING, SQL_STRING};
    struct sql_value *row = arena_alloc(&x->keep, 3 * sizeof *row);
    struct sql_value **rows = arena_alloc(&x->keep, sizeof *rows);
    char *plan = arena_strndup(&x->keep, buf_cstr(&b), b.len);
    char *resources = p->src->table && *p->src->table && p->src->snap
                          ? arena_strndup(&x->keep, buf_cstr(&r), r.len)
                          : arena_strdup(&x->keep, "[]");
    buf_free(&b);
    buf_free(&r);
    if (!row || !rows || !plan || !resources)
        return query__ctx_nomem(x, "the plan text");
    row[0] = sql_string(plan, strlen(plan));
    row[1] = sql_string(resources, strlen(resources));
    row[2] = sql_string("{\"statementType\":\"SELECT\"}", 26);
    rows[0] = row;
    *res = (struct query__result){3, names, types, rows, 1};
    return 0;
}

/* ---- reading blocks ---------------------------------------------------------------- */

static int run_init(struct qrun *r, const struct qplan *p, struct query__ctx *x,
                    struct query__collect *c)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->x = x;
    r->col = c;
    size_t n = p->ncols ? p->ncols : 1;
    r->selbuf = arena_alloc(&x->keep, BLOCK * sizeof *r->selbuf);
    r->gids = arena_alloc(&x->keep, BLOCK * sizeof *r->gids);
    r->colv = arena_zalloc(&x->keep, n * sizeof *r->colv);
    r->colgen = arena_zalloc(&x->keep, n * sizeof *r->colgen);
    r->colptr = arena_alloc(&x->keep, n * sizeof *r->colptr);
    r->loaded = arena_alloc(&x->keep, n * sizeof *r->loaded);
    r->nullvec = arena_alloc(&x->keep, BLOCK * sizeof *r->nullvec);
    if (!r->selbuf || !r->gids || !r->colv || !r->colgen || !r->colptr || !r->loaded ||
        !r->nullvec)
        return query__ctx_nomem(x, "the executor");
    for (uint32_t k = 0; k < BLOCK; k++)
        r->nullvec[k] = sql_null(SQL_NULL);
    for (size_t i = 0; i < n; i++)
        r->colptr[i] = r->nullvec;
    return 0;
}

/* Frees the dictionary-id group map (and its charge to the query). */
static void free_id2gid(struct qrun *r)
{
    if (r->id2gid) {
        free(r->id2gid);
        query__ctx_uncharge(r->x, r->id2gid_n * sizeof *r->id2gid);
    }
    r->id2gid = NULL;
    r->id2gid_n = 0;
}

static void run_destroy(struct qrun *r)
{
    free_id2gid(r);
    query__groups_destroy(&r->groups);
}

static int storage_err(struct qrun *r, int rc)
{
    struct lerr *e = r->x->err;
    if (!e->code)
        lerr_set(e, rc, "reading %s failed", r->view ? storage_view_name(r->view) : "a table");
    return e->code;
}

/* Column c of the block's selected rows (compacted: value k is row sel[k]). */
static int load_col(struct qrun *r, size_t c, const struct sql_value **out)
{
    if (r->colgen[c] == r->gen) {
        *out = r->colv[c];
        return 0;
    }
    if (!r->colv[c]) {
        r->colv[c] = arena_alloc(&r->x->keep, BLOCK * sizeof *r->colv[c]);
        if (!r->colv[c])
            return query__ctx_nomem(r->x, "column vectors");
    }
    struct sql_value *v = r->colv[c];
    if (r->mem) {
        const struct sql_value *src = r->mem->cols[c];
        for (uint32_t k = 0; k < r->nsel; k++)
            v[k] = src[r->row0 + dpos(r->sel, k)];
    } else {
        int rc = storage_scan_values(r->scan, c, r->row0, r->nsel, r->sel, v, r->x->err);
        if (rc)
            return storage_err(r, rc);
    }
    r->colgen[c] = r->gen;
    r->colptr[c] = v;
    r->loaded[r->nloaded++] = (uint32_t)c;
    *out = v;
    return 0;
}

static int load_refs(struct qrun *r, const struct sql_expr *e)
{
    const uint32_t *refs;
    size_t n = sql_expr_refs(e, &refs);
    for (size_t i = 0; i < n; i++) {
        const struct sql_value *v;
        if (refs[i] >= r->p->ncols)
            continue;
        int rc = load_col(r, refs[i], &v);
        if (rc)
            return rc;
    }
    return 0;
}

static struct sql_batch batch_of(const struct qrun *r)
{
    struct sql_batch b = {r->colptr, r->nsel};
    return b;
}

/* Values of e for the block's selected rows. */
static int eval_vec(struct qrun *r, const struct sql_expr *e, int bare_col,
                    const struct sql_value **out)
{
    if (bare_col >= 0 && (size_t)bare_col < r->p->ncols)
        return load_col(r, (size_t)bare_col, out);
    int rc = load_refs(r, e);
    if (rc)
        return rc;
    struct sql_value *v = arena_alloc(&r->x->scratch, (r->nsel ? r->nsel : 1) * sizeof *v);
    if (!v)
        return query__ctx_nomem(r->x, "expression values");
    struct sql_batch b = batch_of(r);
    rc = sql_eval_batch(e, &b, NULL, r->nsel, &r->x->scratch, v, r->x->err);
    if (rc)
        return query__ctx_sql_error(r->x, rc, EXPR_RESULTS);
    *out = v;
    return 0;
}

/* Keeps the selected rows listed in keep[0..m) (ascending). */
static void compact(struct qrun *r, const uint32_t *keep, uint32_t m)
{
    for (size_t i = 0; i < r->nloaded; i++) {
        struct sql_value *v = r->colv[r->loaded[i]];
        for (uint32_t j = 0; j < m; j++)
            v[j] = v[keep[j]];
    }
    for (uint32_t j = 0; j < m; j++)
        r->selbuf[j] = dpos(r->sel, keep[j]);
    r->sel = r->selbuf;
    r->nsel = m;
}

/* ---- aggregation --------------------------------------------------------------------- */

static int find_group(struct qrun *r, const struct sql_value *keys, uint32_t *gid)
{
    return query__groups_find(&r->groups, keys, query__groups_hash(keys, r->groups.nkeys), gid);
}

static int gids_dict(struct qrun *r)
{
    const struct qplan *p = r->p;
    uint32_t *ids = arena_alloc(&r->x->scratch, BLOCK * sizeof *ids);
    if (!ids)
        return query__ctx_nomem(r->x, "dictionary ids");
    int rc = storage_scan_ids(r->scan, (size_t)p->key_col, r->row0, r->n, ids, r->x->err);
    if (rc)
        return storage_err(r, rc);
    for (uint32_t k = 0; k < r->nsel; k++) {
        uint32_t id = ids[dpos(r->sel, k)];
        if (id >= r->id2gid_n)
            return lerr_set(r->x->err, LERR_CORRUPT,
                            "%s: dictionary id %u of column %d is out of range",
                            storage_view_name(r->view), id, p->key_col);
        uint32_t g = r->id2gid[id];
        if (g == NO_GID) {
            struct sql_value key = id == STORAGE_NULL_ID
                                       ? sql_null(SQL_STRING)
                                       : storage_view_dict_value(r->view, (size_t)p->key_col, id);
            if ((rc = find_group(r, &key, &g)))
                return rc;
            r->id2gid[id] = g;
        }
        r->gids[k] = g;
    }
    return 0;
}

/* The raw __time of the selected rows (compacted). */
static int times_of(struct qrun *r, const int64_t **out)
{
    int64_t *t = arena_alloc(&r->x->scratch, BLOCK * sizeof *t);
    if (!t)
        return query__ctx_nomem(r->x, "a time vector");
    if (r->mem) {
        const struct sql_value *v;
        int rc = load_col(r, (size_t)r->p->time_col, &v);
        if (rc)
            return rc;
        for (uint32_t k = 0; k < r->nsel; k++)
            t[k] = v[k].is_null ? 0 : v[k].v.l;
        *out = t;
        return 0;
    }
    int rc = storage_scan_time(r->scan, r->row0, r->n, t, r->x->err);
    if (rc)
        return storage_err(r, rc);
    if (r->sel)
        for (uint32_t k = 0; k < r->nsel; k++)
            t[k] = t[r->sel[k]];   /* sel is ascending: in place is safe */
    *out = t;
    return 0;
}

static int gids_tfloor(struct qrun *r)
{
    const struct qplan *p = r->p;
    const int64_t *t;
    int rc = times_of(r, &t);
    if (rc)
        return rc;
    int64_t last = 0;
    uint32_t last_gid = NO_GID;
    for (uint32_t k = 0; k < r->nsel; k++) {
        int64_t b;
        if (p->per_ms) {
            int64_t m = t[k] % p->per_ms;   /* inline floor: this runs per row */
            b = t[k] - (m < 0 ? m + p->per_ms : m);
        } else if (p->floor_unit) {
            b = time_floor_unit(t[k], p->unit, r->x->tz);
        } else {
            b = time_floor(t[k], &p->per, INT64_MIN, r->x->tz);
        }
        if (last_gid == NO_GID || b != last) {
            struct sql_value key = sql_timestamp(b);
            if ((rc = find_group(r, &key, &last_gid)))
                return rc;
            last = b;
        }
        r->gids[k] = last_gid;
    }
    return 0;
}

static int gids_generic(struct qrun *r)
{
    const struct sql_select *q = r->p->q;
    size_t nk = q->nkeys;
    const struct sql_value **kv = arena_alloc(&r->x->scratch, (nk ? nk : 1) * sizeof *kv);
    struct sql_value *row = arena_alloc(&r->x->scratch, (nk ? nk : 1) * sizeof *row);
    if (!kv || !row)
        return query__ctx_nomem(r->x, "group keys");
    int rc;
    for (size_t i = 0; i < nk; i++)
        if ((rc = eval_vec(r, q->keys[i], r->p->key_cols[i], &kv[i])))
            return rc;
    for (uint32_t k = 0; k < r->nsel; k++) {
        for (size_t i = 0; i < nk; i++)
            row[i] = kv[i][k];
        if ((rc = find_group(r, row, &r->gids[k])))
            return rc;
    }
    return 0;
}

/* A double as a long without undefined behaviour (sql_agg truncates). */
static int64_t d2l(double d)
{
    if (isnan(d))
        return 0;
    if (d >= 9.2233720368547758e18)
        return INT64_MAX;
    if (d <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)d;
}

struct numvec {
    int64_t *l;
    double *d;
    bool *nulls;
};

/* Numeric argument values of a native aggregate for the selected rows
 * (compacted), in the accumulator's class. */
static int numeric_args(struct qrun *r, const struct query__agg_plan *a, struct numvec *nv)
{
    struct query__ctx *x = r->x;
    uint32_t cap = BLOCK;
    nv->l = arena_alloc(&x->scratch, cap * sizeof *nv->l);
    nv->d = arena_alloc(&x->scratch, cap * sizeof *nv->d);
    nv->nulls = arena_zalloc(&x->scratch, cap * sizeof *nv->nulls);
    if (!nv->l || !nv->d || !nv->nulls)
        return query__ctx_nomem(x, "aggregate arguments");
    const struct storage_snapshot *s = r->p->src->snap;
    int col = a->arg_col;
    int vt = r->view && col >= 0 ? storage_view_column_type(r->view, (size_t)col) : SQL_NULL;
    bool dim = s && col >= 0 && s->cols[col].kind == STORAGE_DIMENSION;
    int rc = 0;
    if (dim && col == r->p->time_col) {
        if ((rc = storage_scan_time(r->scan, r->row0, r->n, nv->l, x->err)))
            return storage_err(r, rc);
        vt = SQL_LONG;
    } else if (dim && (vt == SQL_LONG || vt == SQL_TIMESTAMP)) {
        if ((rc =
                 storage_scan_longs(r->scan, (size_t)col, r->row0, r->n, nv->l, nv->nulls, x->err)))
            return storage_err(r, rc);
        vt = SQL_LONG;
    } else if (dim && (vt == SQL_DOUBLE || vt == SQL_FLOAT)) {
        if ((rc = storage_scan_doubles(r->scan, (size_t)col, r->row0, r->n, nv->d, nv->nulls,
                                       x->err)))
            return storage_err(r, rc);
        vt = SQL_DOUBLE;
    } else {
        const struct sql_value *v;
        if ((rc = eval_vec(r, a->call->args[0], col, &v)))
            return rc;
        for (uint32_t k = 0; k < r->nsel; k++) {
            nv->nulls[k] = v[k].is_null;
            if (v[k].is_null)
                continue;
            bool isd = v[k].type == SQL_DOUBLE || v[k].type == SQL_FLOAT;
            if (a->dbl)
                nv->d[k] = isd ? v[k].v.d : (double)v[k].v.l;
            else
                nv->l[k] = isd ? d2l(v[k].v.d) : v[k].v.l;
        }
        return 0;
    }
    /* raw dense vectors: gather the selected rows, then convert the class */
    if (r->sel && vt == SQL_LONG)
        for (uint32_t k = 0; k < r->nsel; k++) {
            nv->l[k] = nv->l[r->sel[k]];
            nv->nulls[k] = nv->nulls[r->sel[k]];
        }
    else if (r->sel)
        for (uint32_t k = 0; k < r->nsel; k++) {
            nv->d[k] = nv->d[r->sel[k]];
            nv->nulls[k] = nv->nulls[r->sel[k]];
        }
    if (a->dbl && vt == SQL_LONG)
        for (uint32_t k = 0; k < r->nsel; k++)
            nv->d[k] = (double)nv->l[k];
    else if (!a->dbl && vt == SQL_DOUBLE)
        for (uint32_t k = 0; k < r->nsel; k++)
            nv->l[k] = d2l(nv->d[k]);
    return 0;
}

/* The native accumulator of aggregate `a` for group (or id) gid. */
#define ACC(gid) ((struct query__nacc *)(void *)(r->accbase + (size_t)(gid) * r->stride + a->off))
#define FOR_ROWS(body)                                        \
    for (uint32_t j_ = 0; j_ < m; j_++) {                     \
        uint32_t k = fidx ? fidx[j_] : j_;                    \
        body                                                  \
    }

static int agg_native(struct qrun *r, const struct query__agg_plan *a, const uint32_t *fidx,
                      uint32_t m)
{
    const struct sql_agg_call *c = a->call;
    const uint32_t *gids = r->gids;
    int rc;
    if (c->kind == SQL_AGG_COUNT) {
        const struct sql_value *v;
        if ((rc = eval_vec(r, c->args[0], a->arg_col, &v)))
            return rc;
        FOR_ROWS(ACC(gids[k])->n += !v[k].is_null;)
        return 0;
    }
    struct numvec nv;
    if ((rc = numeric_args(r, a, &nv)))
        return rc;
    const bool *nl = nv.nulls;
    switch (c->kind) {
    case SQL_AGG_SUM:
        if (a->dbl)
            FOR_ROWS(if (!nl[k]) {
                struct query__nacc *s = ACC(gids[k]);
                s->d += nv.d[k];
                s->n++;
            })
        else
            FOR_ROWS(if (!nl[k]) {
                struct query__nacc *s = ACC(gids[k]);
                s->l = (int64_t)((uint64_t)s->l + (uint64_t)nv.l[k]);   /* wraps, as Java */
                s->n++;
            })
        return 0;
    case SQL_AGG_MIN:
    case SQL_AGG_MAX: {
        bool mx = c->kind == SQL_AGG_MAX;
        if (a->dbl)
            FOR_ROWS(if (!nl[k]) {
                struct query__nacc *s = ACC(gids[k]);
                double v = nv.d[k];
                if (!s->n || (mx ? query__dlt(s->d, v) : query__dlt(v, s->d)))
                    s->d = v;
                s->n++;
            })
        else
            FOR_ROWS(if (!nl[k]) {
                struct query__nacc *s = ACC(gids[k]);
                int64_t v = nv.l[k];
                if (!s->n || (mx ? v > s->l : v < s->l))
                    s->l = v;
                s->n++;
            })
        return 0;
    }
    default:
        return lerr_set(r->x->err, LERR_INTERNAL, "aggregate %d has no native accumulator",
                        c->kind);
    }
}

static int agg_sql(struct qrun *r, const struct query__agg_plan *a, const uint32_t *fidx,
                   uint32_t m)
{
    const struct sql_agg_call *c = a->call;
    const struct sql_value *args[2] = {NULL, NULL};
    int rc;
    for (int i = 0; i < c->nargs && i < 2; i++)
        if ((rc = eval_vec(r, c->args[i], i == 0 ? a->arg_col : -1, &args[i])))
            return rc;
    const int64_t *t = NULL;
    if ((c->kind == SQL_AGG_EARLIEST || c->kind == SQL_AGG_LATEST) && r->p->time_col >= 0 &&
        (rc = times_of(r, &t)))
        return rc;
    struct arena *mem = &r->x->keep;
    FOR_ROWS({
        struct sql_value av[2];
        for (int i = 0; i < c->nargs && i < 2; i++)
            av[i] = args[i][k];
        if (!sql_agg_add(c, query__groups_acc(&r->groups, r->gids[k]) + a->off, av, t ? t[k] : 0,
                         mem))
            return query__ctx_nomem(r->x, "aggregator states");
    })
    return 0;
}

static int agg_merge(struct qrun *r, const struct query__agg_plan *a, const uint32_t *fidx,
                     uint32_t m)
{
    if (!r->view || !storage_view_has_column(r->view, (size_t)a->arg_col))
        return 0;   /* no states here: nothing to merge */
    size_t size = a->size;
    uint8_t *st = arena_alloc(&r->x->scratch, (size_t)r->n * size);
    if (!st)
        return query__ctx_nomem(r->x, "measure states");
    int rc = storage_scan_states(r->scan, (size_t)a->arg_col, r->row0, r->n, st, &r->x->scratch,
                                 r->x->err);
    if (rc)
        return storage_err(r, rc);
    FOR_ROWS({
        const uint8_t *src = st + (size_t)dpos(r->sel, k) * size;
        if (!sql_agg_merge(a->state, query__groups_acc(&r->groups, r->gids[k]) + a->off, src,
                           &r->x->keep))
            return query__ctx_nomem(r->x, "aggregator states");
    })
    return 0;
}

struct vstate {
    const struct storage_view *v;
    bool present;        /* the view has the key column */
    uint32_t n;          /* ids */
    uint32_t *cnt;       /* rows per id */
    uint8_t *acc;        /* n accumulator rows of acc_size bytes, or NULL */
    size_t bytes;        /* charged to the budget */
};

/* A block aggregated into the view's per-id arrays (the group id is the
 * dictionary id). */
static int byid_block(struct qrun *r)
{
    const struct qplan *p = r->p;
    struct vstate *vs = r->vs;
    if (!vs->present) {
        memset(r->gids, 0, r->nsel * sizeof *r->gids);   /* every row is NULL: id 0 */
    } else {
        uint32_t *ids = arena_alloc(&r->x->scratch, BLOCK * sizeof *ids);
        if (!ids)
            return query__ctx_nomem(r->x, "dictionary ids");
        int rc = storage_scan_ids(r->scan, (size_t)p->key_col, r->row0, r->n, ids, r->x->err);
        if (rc)
            return storage_err(r, rc);
        for (uint32_t k = 0; k < r->nsel; k++) {
            uint32_t id = ids[dpos(r->sel, k)];
            if (id >= vs->n)
                return lerr_set(r->x->err, LERR_CORRUPT,
                                "%s: dictionary id %u of column %d is out of range",
                                storage_view_name(r->view), id, p->key_col);
            r->gids[k] = id;
        }
    }
    for (uint32_t k = 0; k < r->nsel; k++)
        vs->cnt[r->gids[k]]++;
    if (!vs->acc)
        return 0;
    r->accbase = vs->acc;
    r->stride = p->acc_size;
    return 0;
}

static int agg_block(struct qrun *r)
{
    const struct qplan *p = r->p;
    int rc;
    if (r->vs) {
        if ((rc = byid_block(r)) || !r->vs->acc)
            return rc;
    } else {
        switch (p->key_kind) {
        case QK_NONE:
            memset(r->gids, 0, r->nsel * sizeof *r->gids);
            rc = 0;
            break;
        case QK_DICT:
            rc = r->id2gid ? gids_dict(r) : gids_generic(r);
            break;
        case QK_TFLOOR:
            rc = gids_tfloor(r);
            break;
        default:
            rc = gids_generic(r);
        }
        if (rc)
            return rc;
        /* after the lookups: creating groups may have moved the records */
        r->accbase = r->groups.recs + r->groups.acc_off;
        r->stride = r->groups.rec_size;
    }
    uint32_t *fsel = NULL;
    for (size_t i = 0; i < p->q->naggs && !fsel; i++)
        if (p->aggs[i].call->filter && !(fsel = arena_alloc(&r->x->scratch, BLOCK * sizeof *fsel)))
            return query__ctx_nomem(r->x, "a filter selection");
    struct arena_mark mark;
    for (size_t i = 0; i < p->q->naggs; i++) {
        const struct query__agg_plan *a = &p->aggs[i];
        if (r->vs && a->mode == QA_COUNT_STAR)
            continue;   /* per-id arrays count rows in vs->cnt */
        /* an aggregate's argument vectors are dead once it has added them:
         * thousands of aggregates need one's worth of scratch, not all */
        arena_mark(&r->x->scratch, &mark);
        const uint32_t *fidx = NULL;
        uint32_t m = r->nsel;
        if (a->call->filter) {
            if ((rc = load_refs(r, a->call->filter)))
                return rc;
            struct sql_batch b = batch_of(r);
            int nomem;
            m = sql_filter_batch(a->call->filter, &b, NULL, r->nsel, &r->x->scratch, fsel, &nomem);
            if (nomem)
                return query__ctx_nomem(r->x, EXPR_RESULTS);
            fidx = fsel;
        }
        switch (a->mode) {
        case QA_COUNT_STAR:
            FOR_ROWS(ACC(r->gids[k])->n++;)
            break;
        case QA_NATIVE:
            rc = agg_native(r, a, fidx, m);
            break;
        case QA_MERGE:
            rc = agg_merge(r, a, fidx, m);
            break;
        default:
            rc = agg_sql(r, a, fidx, m);
        }
        if (rc)
            return rc;
        arena_release(&r->x->scratch, &mark);
    }
    return 0;
}

/* ---- rows without aggregation ------------------------------------------------------- */

static int scan_block(struct qrun *r)
{
    const struct qplan *p = r->p;
    const struct sql_select *q = p->q;
    size_t w = p->width;
    const struct sql_value **vec = arena_alloc(&r->x->scratch, (w ? w : 1) * sizeof *vec);
    struct sql_value *row = arena_alloc(&r->x->scratch, (w ? w : 1) * sizeof *row);
    if (!vec || !row)
        return query__ctx_nomem(r->x, "result rows");
    int rc;
    if (!p->norder && p->keep >= 0 && (uint64_t)p->keep - r->col->n < r->nsel)
        r->nsel =
            (uint32_t)((uint64_t)p->keep - r->col->n); /* LIMIT: build no more rows than kept */
    for (size_t i = 0; i < q->nitems; i++)
        if ((rc = eval_vec(r, q->items[i].expr, p->item_ref[i], &vec[i])))
            return rc;
    for (size_t j = 0; j < p->nextra; j++)
        if ((rc = eval_vec(r, p->extra[j], -1, &vec[q->nitems + j])))
            return rc;
    for (uint32_t k = 0; k < r->nsel; k++) {
        for (size_t i = 0; i < w; i++)
            row[i] = vec[i][k];
        if ((rc = query__collect_add(r->col, row)))
            return rc;
        if (query__collect_full(r->col)) {
            r->done = true;
            break;
        }
    }
    return 0;
}

static int run_block(struct qrun *r, uint64_t row0, uint32_t n, const uint32_t *sel, uint32_t nsel,
                     bool exact)
{
    struct query__ctx *x = r->x;
    arena_reset(&x->scratch);
    int rc = query__ctx_check(x);
    if (rc)
        return rc;
    r->gen++;
    r->nloaded = 0;
    r->row0 = row0;
    r->n = n;
    r->sel = sel;
    r->nsel = nsel;
    const struct sql_expr *where = r->p->filter.where;
    if (!exact && where) {
        if ((rc = load_refs(r, where)))
            return rc;
        uint32_t *keep = arena_alloc(&x->scratch, (nsel ? nsel : 1) * sizeof *keep);
        if (!keep)
            return query__ctx_nomem(x, "a row selection");
        struct sql_batch b = batch_of(r);
        int nomem;
        uint32_t m = sql_filter_batch(where, &b, NULL, nsel, &x->scratch, keep, &nomem);
        if (nomem)
            return query__ctx_nomem(x, EXPR_RESULTS);
        if (m < nsel)
            compact(r, keep, m);
    }
    if (!r->nsel)
        return 0;
    return r->p->q->aggregate ? agg_block(r) : scan_block(r);
}

/* Every block of a view (or in-memory table) that holds candidate rows. */
static int run_blocks(struct qrun *r, uint64_t rows, const struct query__rowset *rs)
{
    int rc = 0;
    if (rs->all) {
        for (uint64_t row0 = 0; row0 < rows && !rc && !r->done; row0 += BLOCK) {
            uint32_t n = (uint32_t)(rows - row0 < BLOCK ? rows - row0 : BLOCK);
            rc = run_block(r, row0, n, NULL, n, rs->exact);
        }
        return rc;
    }
    struct query__rowiter ri;
    query__rowiter_init(&ri, rs->bm);
    uint32_t first;
    while (!rc && !r->done && query__rowiter_peek(&ri, &first)) {
        uint64_t row0 = (uint64_t)first / BLOCK * BLOCK;
        uint64_t end = row0 + BLOCK < rows ? row0 + BLOCK : rows;
        /* run_block resets selbuf only through compact(), after reading it */
        uint32_t *sel = r->selbuf;
        uint32_t nsel = query__rowiter_take(&ri, end, sel);
        if (!nsel)
            break;   /* rows past the view: none are candidates */
        for (uint32_t k = 0; k < nsel; k++)
            sel[k] -= (uint32_t)row0;
        rc = run_block(r, row0, (uint32_t)(end - row0), sel, nsel, rs->exact);
    }
    return rc;
}

/* ---- aggregation by dictionary id -------------------------------------------------------
 *
 * GROUP BY one STRING column whose aggregates are all COUNT(*) or native
 * (COUNT, SUM, MIN, MAX over numbers) aggregates each view into arrays
 * indexed by dictionary id: rows per id (from bitmap cardinalities when only
 * COUNT(*) is asked of a segment with a small dictionary, else one pass over
 * the rows) and one accumulator row per id. The ids with rows are then
 * merged into the group table by value, in id order (sorted dictionaries
 * are read in order). With ORDER BY one of those aggregates DESC (COUNT(*),
 * COUNT or SUM) and a LIMIT N, only candidates are merged: per view the ids
 * of its K largest values. A value outside every view's top K totals at
 * most B = the sum over views of max(0, the largest value left out there),
 * so once the N-th largest exact total among the candidates is above B
 * they hold the answer; else K grows. This is Druid's TopN, made exact.
 */

static int vstate_new(struct qrun *r, const struct storage_view *v, struct vstate *vs)
{
    const struct qplan *p = r->p;
    memset(vs, 0, sizeof *vs);
    vs->v = v;
    vs->present = storage_view_has_column(v, (size_t)p->key_col);
    vs->n = storage_view_dict_size(v, (size_t)p->key_col);
    if (!vs->n)
        vs->n = 1;
    size_t acc = p->has_native ? p->acc_size : 0;
    vs->bytes = (size_t)vs->n * (sizeof *vs->cnt + acc);
    int rc = query__ctx_charge(r->x, vs->bytes, "per-id aggregation arrays");
    if (rc) {
        vs->bytes = 0;
        return rc;
    }
    vs->cnt = calloc(vs->n, sizeof *vs->cnt);
    vs->acc = acc ? calloc(vs->n, acc) : NULL;
    if (!vs->cnt || (acc && !vs->acc))
        return lerr_set(r->x->err, LERR_NOMEM, "out of memory for per-id aggregation arrays");
    return 0;
}

static void vstate_free(struct qrun *r, struct vstate *vs)
{
    free(vs->cnt);
    free(vs->acc);
    query__ctx_uncharge(r->x, vs->bytes);
    memset(vs, 0, sizeof *vs);
}

static int byid_bitmaps(struct qrun *r, const struct query__rowset *rs, struct vstate *vs,
                        bool *done)
{
    size_t col = (size_t)r->p->key_col;
    struct lerr berr;
    lerr_init(&berr);
    *done = false;
    /* bitmap indexes exist for every id of a segment column or for none */
    if (!storage_view_bitmap(r->view, col, STORAGE_NULL_ID, &berr))
        return berr.code ? lerr_set(r->x->err, berr.code, "%s", berr.msg) : 0;
    int rc;
    for (uint32_t id = 0; id < vs->n; id++) {
        if ((id & 255) == 0 && (rc = query__ctx_check(r->x)))
            return rc;
        const roaring_bitmap_t *bm =
            (const roaring_bitmap_t *)storage_view_bitmap(r->view, col, id, &berr);
        if (!bm)
            return lerr_set(r->x->err, berr.code ? berr.code : LERR_CORRUPT,
                            "%s: no bitmap for dictionary id %u of column %zu%s%s",
                            storage_view_name(r->view), id, col, berr.code ? ": " : "",
                            berr.code ? berr.msg : "");
        uint64_t c = rs->all ? roaring_bitmap_get_cardinality(bm)
                             : roaring_bitmap_and_cardinality(bm, rs->bm);
        vs->cnt[id] += (uint32_t)c;
    }
    *done = true;
    return 0;
}

/* Fills a view's per-id arrays. */
static int byid_fill(struct qrun *r, const struct query__rowset *rs, struct vstate *vs)
{
    uint64_t rows = storage_view_rows(r->view);
    if (!r->p->has_native && rs->exact) {
        if (!vs->present) {
            vs->cnt[STORAGE_NULL_ID] += (uint32_t)query__rowset_count(rs, rows);
            return 0;
        }
        bool done = false;
        int rc = 0;
        if (!storage_view_is_realtime(r->view) && (uint64_t)vs->n * 64 <= rows)
            rc = byid_bitmaps(r, rs, vs, &done);
        if (rc || done)
            return rc;
    }
    r->vs = vs;
    int rc = run_blocks(r, rows, rs);
    r->vs = NULL;
    return rc;
}

static struct sql_value id_value(const struct vstate *vs, size_t col, uint32_t id)
{
    if (id == STORAGE_NULL_ID || !vs->present)
        return sql_null(SQL_STRING);
    return storage_view_dict_value(vs->v, col, id);
}

/* Adds id's accumulators of one view to group g. */
static void merge_id(struct qrun *r, const struct vstate *vs, uint32_t id, uint32_t g)
{
    const struct qplan *p = r->p;
    uint8_t *dst = query__groups_acc(&r->groups, g);
    for (size_t i = 0; i < p->q->naggs; i++) {
        const struct query__agg_plan *a = &p->aggs[i];
        struct query__nacc *d = (struct query__nacc *)(void *)(dst + a->off);
        if (a->mode == QA_COUNT_STAR)
            d->n += vs->cnt[id];
        else
            query__nacc_merge(
                a, d,
                (const struct query__nacc *)(void *)(vs->acc + (size_t)id * p->acc_size + a->off));
    }
}

/* Merges every id with rows into the groups. */
static int byid_merge(struct qrun *r, const struct vstate *vs)
{
    int rc;
    for (uint32_t id = 0; id < vs->n; id++) {
        if (!vs->cnt[id])
            continue;
        if ((id & 4095) == 0 && (rc = query__ctx_check(r->x)))
            return rc;
        struct sql_value key = id_value(vs, (size_t)r->p->key_col, id);
        uint32_t g;
        if ((rc = find_group(r, &key, &g)))
            return rc;
        merge_id(r, vs, id, g);
    }
    return 0;
}

/* The ranking value of a native accumulator (COUNT(*), COUNT, SUM); false
 * for a NULL SUM, which sorts after every value. */
static bool rank_value(const struct query__agg_plan *a, const struct query__nacc *q, uint64_t cnt,
                       long double *out)
{
    if (a->mode == QA_COUNT_STAR) {
        *out = (long double)cnt;
        return true;
    }
    if (a->call->kind == SQL_AGG_COUNT) {
        *out = (long double)q->n;
        return true;
    }
    if (!q->n)
        return false;
    *out = a->dbl ? (long double)q->d : (long double)q->l;
    return true;
}

/* The k-th largest of v[0..n) (1 <= k <= n); v is reordered. */
static long double kth_largest(long double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        long double pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] > pivot)
                i++;
            while (v[j] < pivot)
                j--;
            if (i <= j) {
                long double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return v[want];
    }
    return v[want];
}

static long double view_rank(const struct qplan *p, const struct vstate *vs, uint32_t id)
{
    const struct query__agg_plan *a = &p->aggs[p->topn_agg];
    const struct query__nacc *q =
        vs->acc ? (const struct query__nacc *)(void *)(vs->acc + (size_t)id * p->acc_size + a->off)
                : NULL;
    struct query__nacc zero = {0, 0, 0};
    long double v;
    return rank_value(a, q ? q : &zero, vs->cnt[id], &v) ? v : -INFINITY;
}

/* One round: the candidates at K per view become the groups, with exact
 * totals; *bound is B. */
static int topn_round(struct qrun *r, const struct vstate *vs, size_t nv, size_t K,
                      long double *bound)
{
    const struct qplan *p = r->p;
    size_t col = (size_t)p->key_col;
    int rc;
    *bound = 0;
    for (size_t i = 0; i < nv; i++) {
        size_t nz = 0;
        for (uint32_t id = 0; id < vs[i].n; id++)
            nz += vs[i].cnt[id] != 0;
        long double kth = -INFINITY;   /* below every rank: all ids with rows */
        if (nz > K) {
            long double *tmp = arena_alloc(&r->x->scratch, nz * sizeof *tmp);
            if (!tmp)
                return query__ctx_nomem(r->x, "the top-N candidates");
            size_t m = 0;
            for (uint32_t id = 0; id < vs[i].n; id++)
                if (vs[i].cnt[id])
                    tmp[m++] = view_rank(p, &vs[i], id);
            kth = kth_largest(tmp, m, K);
        }
        long double below = 0;   /* values missing from a view add 0 there */
        for (uint32_t id = 0; id < vs[i].n; id++) {
            if (!vs[i].cnt[id])
                continue;
            long double v = view_rank(p, &vs[i], id);
            if (v < kth) {
                below = v > below ? v : below;
                continue;
            }
            struct sql_value key = id_value(&vs[i], col, id);
            uint32_t g;
            if ((rc = find_group(r, &key, &g)))
                return rc;
        }
        *bound += below;
        arena_reset(&r->x->scratch);
    }
    /* exact totals of the candidates: their ids in every view */
    for (uint32_t g = 0; g < r->groups.ngroups; g++) {
        if ((g & 1023) == 0 && (rc = query__ctx_check(r->x)))
            return rc;
        const struct sql_value *key = query__groups_keys(&r->groups, g);
        for (size_t i = 0; i < nv; i++) {
            int64_t id = key->is_null ? (int64_t)STORAGE_NULL_ID
                         : vs[i].present
                             ? storage_view_dict_find(vs[i].v, col, key->v.s.p, key->v.s.n)
                             : -1;
            if (id >= 0 && (uint64_t)id < vs[i].n && vs[i].cnt[id])
                merge_id(r, &vs[i], (uint32_t)id, g);
        }
    }
    return 0;
}

/* Whether the N-th largest candidate total beats the bound. */
static int topn_done(struct qrun *r, size_t nth, long double bound, bool *done)
{
    const struct qplan *p = r->p;
    const struct query__agg_plan *a = &p->aggs[p->topn_agg];
    uint32_t ng = r->groups.ngroups;
    *done = false;
    if (ng < nth)
        return 0;
    long double *v = arena_alloc(&r->x->scratch, ng * sizeof *v);
    if (!v)
        return query__ctx_nomem(r->x, "the top-N candidates");
    for (uint32_t g = 0; g < ng; g++) {
        const struct query__nacc *q =
            (const struct query__nacc *)(void *)(query__groups_acc(&r->groups, g) + a->off);
        if (!rank_value(a, q, (uint64_t)q->n, &v[g]))
            v[g] = -INFINITY;
    }
    long double t = kth_largest(v, ng, nth);
    /* double sums round; demand a margin well above their error */
    long double margin = a->dbl ? (bound < 0 ? -bound : bound) * 1e-9L : 0;
    *done = t > bound + margin;
    arena_reset(&r->x->scratch);
    return 0;
}

static int run_topn(struct qrun *r, struct vstate *vs, size_t nv)
{
    const struct qplan *p = r->p;
    size_t keep = (size_t)p->keep, maxn = 0;
    for (size_t i = 0; i < nv; i++)
        maxn = vs[i].n > maxn ? vs[i].n : maxn;
    size_t K = keep * 4 > 64 ? keep * 4 : 64;
    for (;;) {
        long double bound;
        bool done;
        int rc = topn_round(r, vs, nv, K, &bound);
        if (!rc)
            rc = topn_done(r, keep, bound, &done);
        if (rc || done || K >= maxn)
            return rc;   /* K >= every view's ids: every value is a candidate */
        K *= 8;
        query__groups_destroy(&r->groups);
        if ((rc = query__groups_init(&r->groups, p->q->nkeys, p->aggs, p->q->naggs, p->acc_size,
                                     r->x)))
            return rc;
    }
}

static int setup_dict(struct qrun *r)
{
    const struct qplan *p = r->p;
    if (p->key_kind != QK_DICT || !storage_view_has_column(r->view, (size_t)p->key_col) ||
        storage_view_column_type(r->view, (size_t)p->key_col) != SQL_STRING)
        return 0;   /* this view groups by evaluated keys */
    size_t n = storage_view_dict_size(r->view, (size_t)p->key_col);
    int rc = query__ctx_charge(r->x, n * sizeof *r->id2gid, "the dictionary-id group map");
    if (rc)
        return rc;
    r->id2gid = malloc((n ? n : 1) * sizeof *r->id2gid);
    if (!r->id2gid) {
        query__ctx_uncharge(r->x, n * sizeof *r->id2gid);
        return lerr_set(r->x->err, LERR_NOMEM, "out of memory for the dictionary-id group map");
    }
    r->id2gid_n = n;
    memset(r->id2gid, 0xff, (n ? n : 1) * sizeof *r->id2gid);
    return 0;
}

static void teardown_view(struct qrun *r)
{
    free_id2gid(r);
    if (r->scan)
        storage_scan_free(r->scan);
    r->scan = NULL;
    r->view = NULL;
}

/* Starts reading a view: its scan and its candidate rows. */
static int open_view(struct qrun *r, const struct storage_view *v, struct query__rowset *rs)
{
    r->view = v;
    r->scan = storage_scan_new(v);
    if (!r->scan)
        return lerr_set(r->x->err, LERR_NOMEM, "out of memory opening %s", storage_view_name(v));
    arena_reset(&r->x->scratch);
    return query__filter_view_rows(&r->p->filter, v, r->scan, r->x, rs);
}

static int run_view(struct qrun *r, const struct storage_view *v)
{
    const struct qplan *p = r->p;
    struct query__rowset rs;
    int rc = open_view(r, v, &rs);
    if (rc)
        return rc;
    uint64_t rows = storage_view_rows(v);
    if (!rs.all && roaring_bitmap_is_empty(rs.bm)) {
        query__rowset_free(&rs);
        return 0;
    }
    if (p->q->aggregate && p->key_kind == QK_NONE && p->count_only && rs.exact) {
        /* COUNT(*) from row counts and bitmap cardinalities */
        uint64_t c = query__rowset_count(&rs, rows);
        for (size_t i = 0; i < p->q->naggs; i++)
            ((struct query__nacc *)(void *)(query__groups_acc(&r->groups, 0) + p->aggs[i].off))
                ->n += (int64_t)c;
        query__rowset_free(&rs);
        return 0;
    }
    if (p->q->aggregate && (rc = setup_dict(r))) {
        query__rowset_free(&rs);
        return rc;
    }
    rc = run_blocks(r, rows, &rs);
    query__rowset_free(&rs);
    return rc;
}

/* A view aggregated by dictionary id: merged now, or kept in *keep for
 * the top-N. */
static int run_view_byid(struct qrun *r, const struct storage_view *v, struct vstate *keep)
{
    struct query__rowset rs;
    int rc = open_view(r, v, &rs);
    if (rc)
        return rc;
    struct vstate local, *vs = keep ? keep : &local;
    rc = vstate_new(r, v, vs);
    if (!rc && (rs.all || !roaring_bitmap_is_empty(rs.bm)))
        rc = byid_fill(r, &rs, vs);
    query__rowset_free(&rs);
    if (!rc && !keep)
        rc = byid_merge(r, vs);
    if (!keep || rc)
        vstate_free(r, vs);
    return rc;
}

/* ---- finishing ------------------------------------------------------------------------ */

/* Item i of a group row (cached in vals/have). */
static int group_item(struct qrun *r, size_t i, const struct sql_value *grow,
                      struct sql_value *vals, bool *have)
{
    if (have[i])
        return 0;
    const struct qplan *p = r->p;
    if (p->item_ref[i] >= 0) {
        vals[i] = grow[p->item_ref[i]];
    } else {
        int rc = sql_eval_row(p->q->items[i].expr, grow, &r->x->scratch, &vals[i], r->x->err);
        if (rc)
            return query__ctx_sql_error(r->x, rc, EXPR_RESULTS);
    }
    have[i] = true;
    return 0;
}

static int finish_groups(struct qrun *r)
{
    const struct qplan *p = r->p;
    const struct sql_select *q = p->q;
    struct query__ctx *x = r->x;
    size_t nk = q->nkeys, na = q->naggs, ni = q->nitems;
    size_t w = p->width;
    struct query__groups seen;   /* DISTINCT over aggregated rows */
    bool dedupe = q->distinct;
    int rc = dedupe ? query__groups_init(&seen, ni, NULL, 0, 0, x) : 0;
    if (rc)
        return rc;
    struct sql_value *grow = NULL, *row = NULL;
    bool *have = NULL;
    for (uint32_t g = 0; g < r->groups.ngroups && !rc; g++) {
        if ((g & 1023) == 0) {
            arena_reset(&x->scratch);
            grow = arena_alloc(&x->scratch, (nk + na + 1) * sizeof *grow);
            row = arena_alloc(&x->scratch, (w + 1) * sizeof *row);
            have = arena_alloc(&x->scratch, (ni + 1) * sizeof *have);
            if (!grow || !row || !have) {
                rc = query__ctx_nomem(x, "result rows");
                break;
            }
            if ((rc = query__ctx_check(x)))
                break;
        }
        memcpy(grow, query__groups_keys(&r->groups, g), nk * sizeof *grow);
        for (size_t i = 0; i < na; i++)
            query__groups_final(&r->groups, g, i, &grow[nk + i]);
        if (q->having) {
            int hrc;
            bool yes = sql_eval_filter(q->having, grow, &x->scratch, &hrc, NULL);
            if (hrc == LERR_NOMEM) {
                rc = query__ctx_nomem(x, EXPR_RESULTS);
                break;
            }
            if (!yes)
                continue;
        }
        memset(have, 0, ni * sizeof *have);
        /* ORDER BY values first: most groups of a top-N stop here */
        for (size_t j = 0; j < p->norder; j++) {
            int idx = p->order_idx[j];
            if ((size_t)idx < ni) {
                if ((rc = group_item(r, (size_t)idx, grow, row, have)))
                    break;
            } else if (p->key_order) {
                row[idx] = grow[(size_t)idx - ni];
            } else if ((rc = sql_eval_row(p->extra[(size_t)idx - ni], grow, &x->scratch, &row[idx],
                                          x->err))) {
                rc = query__ctx_sql_error(x, rc, EXPR_RESULTS);
                break;
            }
        }
        if (rc || query__collect_rejects(r->col, row))
            continue;
        for (size_t i = 0; i < ni && !rc; i++)
            rc = group_item(r, i, grow, row, have);
        if (rc)
            break;
        if (dedupe) {
            uint32_t before = seen.ngroups, gid;
            if ((rc = query__groups_find(&seen, row, query__groups_hash(row, ni), &gid)))
                break;
            if (seen.ngroups == before)
                continue;
        }
        rc = query__collect_add(r->col, row);
    }
    if (dedupe)
        query__groups_destroy(&seen);
    return rc;
}

/* Every view stores the key column as STRING (or lacks it). */
static bool ids_everywhere(const struct qplan *p)
{
    for (size_t i = 0; i < p->nviews; i++)
        if (storage_view_has_column(p->views[i], (size_t)p->key_col) &&
            storage_view_column_type(p->views[i], (size_t)p->key_col) != SQL_STRING)
            return false;
    return true;
}

static int run_byid(struct qrun *r)
{
    const struct qplan *p = r->p;
    struct vstate *vs = NULL;
    int rc = 0;
    if (p->topn_agg >= 0) {
        vs = calloc(p->nviews ? p->nviews : 1, sizeof *vs);
        if (!vs)
            return lerr_set(r->x->err, LERR_NOMEM, "out of memory for per-view arrays");
    }
    size_t nv = 0;
    for (size_t i = 0; i < p->nviews && !rc; i++) {
        rc = run_view_byid(r, p->views[i], vs ? &vs[nv] : NULL);
        if (!rc && vs)
            nv++;
        teardown_view(r);
    }
    if (!rc && vs)
        rc = run_topn(r, vs, nv);
    for (size_t i = 0; i < nv; i++)
        vstate_free(r, &vs[i]);
    free(vs);
    return rc;
}

static int run_source(struct qrun *r)
{
    const struct qplan *p = r->p;
    int rc = 0;
    if (p->q->aggregate) {
        if ((rc = query__groups_init(&r->groups, p->q->nkeys, p->aggs, p->q->naggs, p->acc_size,
                                     r->x)))
            return rc;
        if (p->q->nkeys == 0) {   /* a global aggregate has its row even over no rows */
            uint32_t g;
            if ((rc = find_group(r, NULL, &g)))
                return rc;
        }
    }
    if (p->keep == 0 && !p->q->aggregate)
        return 0;
    if (p->src->snap && p->by_id && ids_everywhere(p)) {
        rc = run_byid(r);
    } else if (p->src->snap) {
        for (size_t i = 0; i < p->nviews && !rc && !r->done; i++) {
            rc = run_view(r, p->views[i]);
            teardown_view(r);
        }
    } else {
        const struct query__memtable *m = p->src->mem;
        struct query__memtable one = {0, NULL, 1, NULL};   /* SELECT without FROM: one empty row */
        r->mem = m ? m : &one;
        struct query__rowset rs = {NULL, true, p->filter.where == NULL, false};
        rc = run_blocks(r, r->mem->nrows, &rs);
        r->mem = NULL;
    }
    if (!rc && p->q->aggregate)
        rc = finish_groups(r);
    return rc;
}

int query__exec_run(const struct sql_select *q, const struct query__source *src,
              const struct sql_options *opt, struct query__ctx *x, struct query__collect *c,
              struct query__result *res)
{
    memset(res, 0, sizeof *res);
    struct qplan p;
    int rc = plan_build(&p, q, src, opt, x);
    if (!rc && q->explain)
        rc = explain(&p, x, res);
    if (rc || q->explain) {
        query__filter_free(&p.filter);
        return rc;
    }
    rc = query__collect_init(c, p.width, p.order_idx, p.desc, p.norder, p.keep, x);
    struct qrun r;
    if (!rc)
        rc = run_init(&r, &p, x, c);
    if (!rc) {
        rc = run_source(&r);
        run_destroy(&r);
    }
    if (!rc)
        rc = query__collect_finish(c);
    query__filter_free(&p.filter);
    if (rc)
        return rc;
    const char **names = arena_alloc(&x->keep, (q->nitems ? q->nitems : 1) * sizeof *names);
    uint8_t *types = arena_alloc(&x->keep, q->nitems ? q->nitems : 1);
    if (!names || !types)
        return query__ctx_nomem(x, "the result");
    for (size_t i = 0; i < q->nitems; i++) {
        names[i] = q->items[i].name;
        types[i] = q->items[i].type;
    }
    size_t off = q->offset > 0 ? (size_t)q->offset : 0;
    res->ncols = q->nitems;
    res->names = names;
    res->types = types;
    res->rows = off < c->n ? c->rows + off : c->rows;
    res->nrows = off < c->n ? c->n - off : 0;
    return 0;
}
