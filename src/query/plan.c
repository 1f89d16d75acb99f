/*
 * plan.c — plans a bound SELECT against one source (a storage snapshot or
 * an in-memory table): the views to read (pruned by the query's __time
 * interval), the WHERE as a filter tree (filter.c), the group keys (one
 * STRING column by dictionary id, TIME_FLOOR / FLOOR TO from the raw time,
 * or hashed values), the aggregators (native, sql_agg states, or merged
 * measure states), whether a view can be aggregated by dictionary id and
 * pruned to a top-N, and the output columns and order. The plan is
 * read-only once built. Also EXPLAIN PLAN FOR, which prints these choices.
 *
 * Entry points: query__plan_build(), query__plan_explain() (exec_int.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "query/exec_int.h"

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
        return ar ? 1 : -1; /* persisted rows before newer realtime rows */
    return strcmp(storage_view_name(a), storage_view_name(b));
}

/*
 * A segment the snapshot cannot read (corrupt or missing) whose time chunk
 * meets the query's time range: the answer would silently lack its rows, so
 * the query fails naming it — unless the user asked for partial results,
 * when the answer says what it left out.
 */
static int check_missing(const struct query__plan *p, struct query__ctx *x)
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
            /* the cause cut to leave room for what to do */
            return lerr_set(x->err, LERR_CORRUPT,
                            "table '%s': segment %s, holding rows of %s/%s, cannot be read, so "
                            "the answer would be missing them (%.200s). Restore the segment, or "
                            "set \"allowPartialResults\": true in the query context to answer "
                            "without it",
                            p->src->table, m->name, a, b, m->msg);
        size_t used = strlen(x->partial);
        snprintf(x->partial + used, sizeof x->partial - used, "%ssegment %s of '%s' (%s/%s)",
                 used ? "; " : "", m->name, p->src->table, a, b);
    }
    return 0;
}

static int plan_views(struct query__plan *p, struct query__ctx *x)
{
    const struct storage_snapshot *s = p->src->snap;
    if (!s)
        return 0;
    /* a snapshot read for its columns only (the nodes' parts or rows are
     * read instead) has no rows to miss */
    if (!p->src->parts && !p->src->pushed && check_missing(p, x))
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
static const struct sql_agg_call *merge_call(const struct query__plan *p,
                                             const struct sql_agg_call *c, int col)
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
    case SQL_AGG_COUNT: return c->nargs == 1;
    case SQL_AGG_SUM:
    case SQL_AGG_AVG: /* a native sum and count, divided at the end */
        return t == SQL_LONG || t == SQL_DOUBLE || t == SQL_FLOAT;
    case SQL_AGG_MIN:
    case SQL_AGG_MAX:
        return t == SQL_LONG || t == SQL_DOUBLE || t == SQL_FLOAT || t == SQL_TIMESTAMP;
    default: return false;
    }
}

/* An HLL or theta sketch (APPROX_COUNT_DISTINCT*, DS_HLL, DS_THETA, an
 * approximate COUNT(DISTINCT)) of a bare single-value STRING column of a
 * snapshot: its views hold the column as dictionary ids, so each group's
 * sketch can take each distinct value once (block.c). Numbers, expressions,
 * multi-value columns and in-memory tables keep the per-row updates. */
static bool sketch_by_dict(const struct query__plan *p, const struct sql_agg_call *c, int col)
{
    const struct sql_schema *sch = &p->src->schema;
    return query__sketch_by_dict && (c->kind == SQL_AGG_HLL || c->kind == SQL_AGG_THETA) &&
           c->nargs == 1 && p->src->snap && col >= 0 && (size_t)col < sch->n &&
           sch->fields[col].type == SQL_STRING &&
           !(sch->fields[col].flags & SQL_FIELD_MULTI_VALUE);
}

static int plan_aggs(struct query__plan *p, struct query__ctx *x)
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
            a->by_dict = sketch_by_dict(p, c, a->arg_col);
        }
        p->count_only &= a->mode == QA_COUNT_STAR && !c->filter;
        a->size = (a->mode == QA_SQL || a->mode == QA_MERGE) ? sql_agg_state_size(a->state)
                                                             : sizeof(struct query__nacc);
        a->off = p->acc_size;
        p->acc_size += (a->size + 7) & ~(size_t)7;
    }
    return 0;
}

static void plan_keys(struct query__plan *p, struct query__ctx *x)
{
    const struct sql_select *q = p->q;
    p->key_kind = q->nkeys == 0 ? QK_NONE : QK_GENERIC;
    p->key_col = -1;
    p->key_cols = arena_alloc(&x->keep, (q->nkeys ? q->nkeys : 1) * sizeof *p->key_cols);
    for (size_t i = 0; p->key_cols && i < q->nkeys; i++)
        p->key_cols[i] = query__shape_ref_of(q->keys[i], &x->keep);
    const struct sql_schema *cols = &p->src->schema;
    if (q->nkeys == 2 && p->key_cols && p->src->snap && p->key_cols[0] >= 0 &&
        p->key_cols[1] >= 0 && cols->fields[p->key_cols[0]].type == SQL_STRING &&
        cols->fields[p->key_cols[1]].type == SQL_STRING) {
        p->key_kind = QK_DICT2;
        p->key_col = p->key_cols[0];
        p->key_col2 = p->key_cols[1];
        return;
    }
    if (q->nkeys != 1 || !p->key_cols)
        return;
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

static int plan_output(struct query__plan *p, struct query__ctx *x)
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
 * by dictionary id, and whether a top-N by one of them can prune (query__view_topn). */
static void plan_by_id(struct query__plan *p, struct query__ctx *x)
{
    const struct sql_select *q = p->q;
    p->topn_agg = -1;
    p->by_id = q->aggregate && p->key_kind == QK_DICT;
    for (size_t i = 0; i < q->naggs; i++) {
        p->by_id &= p->aggs[i].mode == QA_COUNT_STAR || p->aggs[i].mode == QA_NATIVE;
        p->has_native |= p->aggs[i].mode == QA_NATIVE;
    }
    /* a node's part keeps every group: the top N are of the merged groups */
    if (!p->by_id || q->having || q->distinct || p->keep <= 0 || q->norder == 0 || !p->desc[0] ||
        p->src->produce)
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

int query__plan_build(struct query__plan *p, const struct sql_select *q,
                      const struct query__source *src, const struct sql_options *opt,
                      struct query__ctx *x)
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

static const char *agg_how(const struct query__plan *p, const struct query__agg_plan *a)
{
    switch (a->mode) {
    case QA_COUNT_STAR:
        return p->count_only ? "row counts and bitmap cardinalities where the filter is exact"
                             : "native count";
    case QA_NATIVE:
        return a->call->kind == SQL_AGG_COUNT ? "native count of non-NULL values"
               : a->call->kind == SQL_AGG_AVG
                   ? (a->dbl ? "native double sum and count" : "native long sum and count")
               : a->dbl ? "native double accumulator"
                        : "native long accumulator";
    case QA_MERGE: return "merged from the measure's stored states";
    default:
        return a->by_dict ? "aggregator states, updated once per dictionary id of each view"
                          : "aggregator states";
    }
}

int query__plan_explain(const struct query__plan *p, struct query__ctx *x,
                        struct query__result *res)
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
    } else if (p->src->mem && (!q->table || !*q->table)) {
        buf_printf(&b, "Scan %s: the rows of the FROM clause above, in memory\n", p->src->table);
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
        case QK_NONE: buf_puts(&b, "none (one group)"); break;
        case QK_DICT:
            buf_printf(&b, "%s of \"%.*s\" in each view, merged by value",
                       p->by_id ? "arrays by dictionary id" : "dictionary ids",
                       (int)p->src->schema.fields[p->key_col].name_len,
                       p->src->schema.fields[p->key_col].name);
            if (p->by_id && !p->has_native)
                buf_puts(&b, " (bitmap cardinalities on segments with small dictionaries)");
            if (p->topn_agg >= 0)
                buf_printf(&b,
                           "; only the values among each view's largest $agg%d are merged, "
                           "until their N-th total beats every other value's bound",
                           p->topn_agg);
            break;
        case QK_DICT2:
            buf_printf(&b,
                       "dictionary-id pairs of \"%.*s\", \"%.*s\" in each view, merged by value",
                       (int)p->src->schema.fields[p->key_col].name_len,
                       p->src->schema.fields[p->key_col].name,
                       (int)p->src->schema.fields[p->key_col2].name_len,
                       p->src->schema.fields[p->key_col2].name);
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
                buf_printf(&b, "%s(%s", agg_names[c->kind], c->distinct ? "DISTINCT " : "");
            for (int k = 0; k < c->nargs; k++) {
                if (k)
                    buf_puts(&b, ", ");
                explain_expr(&b, c->args[k], x);
            }
            if (c->kind == SQL_AGG_STRING_AGG) /* the separator, and the limit it works under */
                buf_printf(&b, ", '%.*s', %u", (int)c->sep_len, c->sep, c->max_bytes);
            else if (c->kind == SQL_AGG_ARRAY_AGG || c->kind == SQL_AGG_ARRAY_CONCAT)
                buf_printf(&b, ", %u", c->max_bytes);
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
    format_json_write_string(&r, p->src->table, strlen(p->src->table));
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
    *res = (struct query__result){3, names, types, rows, 1, NULL, NULL};
    return 0;
}
