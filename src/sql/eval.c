/*
 * eval.c — running compiled expressions: one row (ingestion mappings and
 * filters), or a batch of rows held as column vectors (queries). The bound
 * tree does the work (each node's fn); this file sets up the evaluation
 * context and turns three-valued filter results into a verdict. Nothing
 * here allocates from the heap. The batch evaluators free what a row
 * allocated before the next row when the result holds no bytes
 * (sql_expr.row_garbage), so LENGTH(REPEAT(s, 100000)) over a block needs
 * one row's string at a time, not the block's.
 *
 * Entry points: sql_eval_row(), sql_eval_filter(), sql_eval_batch(),
 * sql_filter_batch(); sql_eval_mv_map() and sql_eval_mv_slot(), the map of
 * a scalar function over multi-value strings (sql_int.h).
 */
#include "sql/sql_int.h"

#include <string.h>

/* ---- scalar functions mapped over multi-value strings ------------------------------ */

/* Most values one mapped result may hold (the product of its inputs' counts). */
#define MV_MAP_MAX (1u << 20)

void sql_eval_mv_slot(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    for (const struct sql_mv_frame *f = c->mv_frame; f; f = f->up)
        if (f->map == n->aux) {
            *out = f->vals[n->ival];
            return;
        }
    *out = sql_null(SQL_STRING);
    sql_rt_error(c, "internal error: a multi-value slot outside its map");
}

void sql_eval_mv_map(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    int k = n->nargs - 1;
    struct sql_value lists[SQL_MV_MAX_INPUTS], cur[SQL_MV_MAX_INPUTS];
    static const struct sql_value none = {.type = SQL_STRING, .is_null = true};
    const struct sql_value *items[SQL_MV_MAX_INPUTS];
    uint32_t cnt[SQL_MV_MAX_INPUTS], idx[SQL_MV_MAX_INPUTS];
    uint64_t total = 1;
    bool all_empty = true;
    for (int i = 0; i < k; i++) {
        sql_eval_arg(n->args[1 + i], c, &lists[i]);
        const struct sql_value *v = &lists[i];
        uint32_t m = v->is_null ? 0 : v->type == SQL_ARRAY ? v->v.a.n : 1;
        if (m == 0) { /* no values: the function sees one NULL */
            items[i] = &none;
            cnt[i] = 1;
        } else {
            items[i] = v->type == SQL_ARRAY ? v->v.a.items : v;
            cnt[i] = m;
            all_empty = false;
        }
        idx[i] = 0;
        total *= cnt[i];
        if (total > MV_MAP_MAX) {
            sql_rt_error(c,
                         "a function over multi-value strings would give more than %u values "
                         "in one row (the product of its inputs' values)",
                         MV_MAP_MAX);
            *out = sql_null(SQL_ARRAY);
            return;
        }
    }
    struct sql_value *res = (struct sql_value *)sql_alloc(c, sizeof *res * (size_t)total);
    if (!res) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    struct sql_mv_frame frame = {n, cur, c->mv_frame};
    const struct sql_mv_frame *save = c->mv_frame;
    c->mv_frame = &frame;
    for (uint64_t r = 0; r < total; r++) {
        for (int i = 0; i < k; i++) {
            struct sql_value e = items[i][idx[i]];
            if (e.is_null)
                e = sql_null(SQL_STRING);
            else if (e.type != SQL_STRING)
                e = sql_value_cast(&e, SQL_STRING, c->mem);
            cur[i] = e;
        }
        struct sql_value v;
        sql_eval_arg(n->args[0], c, &v);
        if (v.is_null)
            v = sql_null(SQL_STRING);
        else if (v.type != SQL_STRING)
            v = sql_value_cast(&v, SQL_STRING, c->mem);
        res[r] = v;
        for (int i = k - 1; i >= 0; i--) { /* the last argument turns fastest */
            if (++idx[i] < cnt[i])
                break;
            idx[i] = 0;
        }
    }
    c->mv_frame = save;
    if (all_empty && res[0].is_null) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    *out = (struct sql_value){.type = SQL_ARRAY};
    out->v.a.items = res;
    out->v.a.n = (uint32_t)total;
}

int sql_eval_row(const struct sql_expr *e, const struct sql_value *row, struct arena *mem,
                 struct sql_value *out, struct lerr *err)
{
    struct sql_ectx c = {.row = row, .mem = mem, .err = err};
    sql_eval_arg(e->root, &c, out);
    if (c.rc)
        *out = sql_null(e->type);
    return c.rc;
}

static bool verdict(const struct sql_value *v)
{
    if (v->is_null)
        return false;
    switch (v->type) {
    case SQL_BOOLEAN:
    case SQL_LONG:
    case SQL_TIMESTAMP: return v->v.l != 0;
    default: return sql_value_truthy(v);
    }
}

bool sql_eval_filter(const struct sql_expr *e, const struct sql_value *row, struct arena *mem,
                     int *rc, struct lerr *err)
{
    struct sql_ectx c = {.row = row, .mem = mem, .err = err};
    struct sql_value v;
    sql_eval_arg(e->root, &c, &v);
    if (rc)
        *rc = c.rc;
    return !c.rc && verdict(&v);
}

int sql_eval_batch(const struct sql_expr *e, const struct sql_batch *b, const uint32_t *sel,
                   uint32_t n, struct arena *mem, struct sql_value *out, struct lerr *err)
{
    struct sql_ectx c = {.cols = b->cols, .mem = mem, .err = err};
    const struct sql_node *root = e->root;
    int first = 0;
    if (root->kind == NK_LIT) {
        for (uint32_t k = 0; k < n; k++)
            out[k] = root->k;
        return 0;
    }
    struct arena_mark mark;
    for (uint32_t k = 0; k < n; k++) {
        c.r = sel ? sel[k] : k;
        if (e->row_garbage && mem)
            arena_mark(mem, &mark);
        sql_eval_arg(root, &c, &out[k]);
        if (e->row_garbage && mem)
            arena_release(mem, &mark); /* the row's inner strings: the result needs none */
        if (c.rc) {
            if (!first)
                first = c.rc;
            /* the rest of the batch still evaluates; only this row is NULL */
            out[k] = sql_null(e->type);
            c.rc = 0;
            c.err = NULL;
        }
    }
    return first;
}

uint32_t sql_filter_batch(const struct sql_expr *e, const struct sql_batch *b, const uint32_t *sel,
                          uint32_t n, struct arena *mem, uint32_t *out_sel, int *nomem)
{
    struct sql_ectx c = {.cols = b->cols, .mem = mem};
    const struct sql_node *root = e->root;
    uint32_t m = 0;
    bool refused = false;
    struct arena_mark mark;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t r = sel ? sel[k] : k;
        struct sql_value v;
        c.r = r;
        c.rc = 0;
        if (e->row_garbage && mem)
            arena_mark(mem, &mark);
        sql_eval_arg(root, &c, &v);
        if (e->row_garbage && mem)
            arena_release(mem, &mark); /* a verdict needs none of the row's strings */
        if (!c.rc && verdict(&v))
            out_sel[m++] = r;
        /* no memory is no verdict: never a silently missing row */
        refused |= c.rc == LERR_NOMEM;
    }
    if (nomem)
        *nomem = refused ? LERR_NOMEM : 0;
    return m;
}
