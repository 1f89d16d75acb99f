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
 * sql_filter_batch().
 */
#include "sql/sql_int.h"

#include <string.h>

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
