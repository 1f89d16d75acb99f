/*
 * exec.c — runs a bound SELECT (or EXPLAIN) against one source, a storage
 * snapshot or an in-memory table: plans it (plan.c), reads the views that
 * are left in chunk order (view.c, block.c), then finalizes the groups into
 * rows (HAVING, items, ORDER BY terms, DISTINCT) and collects them the same
 * way; without ORDER BY they come out sorted by their keys, as Druid's
 * group-by returns them. The files below it and what they share are in
 * exec_int.h.
 *
 * Entry point: query__exec_run().
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "query/exec_int.h"

/* ---- finishing ------------------------------------------------------------------------ */

/* Item i of a group row (cached in vals/have). */
static int group_item(struct query__run *r, size_t i, const struct sql_value *grow,
                      struct sql_value *vals, bool *have)
{
    if (have[i])
        return 0;
    const struct query__plan *p = r->p;
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

static int finish_groups(struct query__run *r)
{
    const struct query__plan *p = r->p;
    const struct sql_select *q = p->q;
    struct query__ctx *x = r->x;
    size_t nk = q->nkeys, na = q->naggs, ni = q->nitems;
    size_t w = p->width;
    struct query__groups seen; /* DISTINCT over aggregated rows */
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
static bool ids_everywhere(const struct query__plan *p)
{
    for (size_t i = 0; i < p->nviews; i++)
        if (storage_view_has_column(p->views[i], (size_t)p->key_col) &&
            storage_view_column_type(p->views[i], (size_t)p->key_col) != SQL_STRING)
            return false;
    return true;
}

static int run_byid(struct query__run *r)
{
    const struct query__plan *p = r->p;
    struct query__vstate *vs = NULL;
    int rc = 0;
    if (p->topn_agg >= 0) {
        vs = calloc(p->nviews ? p->nviews : 1, sizeof *vs);
        if (!vs)
            return lerr_set(r->x->err, LERR_NOMEM, "out of memory for per-view arrays");
    }
    size_t nv = 0;
    for (size_t i = 0; i < p->nviews && !rc; i++) {
        rc = query__view_run_byid(r, p->views[i], vs ? &vs[nv] : NULL);
        if (!rc && vs)
            nv++;
        query__view_teardown(r);
    }
    if (!rc && vs)
        rc = query__view_topn(r, vs, nv);
    for (size_t i = 0; i < nv; i++)
        query__vstate_free(r, &vs[i]);
    free(vs);
    return rc;
}

static int run_source(struct query__run *r)
{
    const struct query__plan *p = r->p;
    int rc = 0;
    if (p->q->aggregate) {
        if ((rc = query__groups_init(&r->groups, p->q->nkeys, p->aggs, p->q->naggs, p->acc_size,
                                     r->x)))
            return rc;
        if (p->q->nkeys == 0) { /* a global aggregate has its row even over no rows */
            uint32_t g;
            if ((rc = query__run_find_group(r, NULL, &g)))
                return rc;
        }
    }
    if (p->keep == 0 && !p->q->aggregate)
        return 0;
    if (p->src->snap && p->by_id && ids_everywhere(p)) {
        rc = run_byid(r);
    } else if (p->src->snap) {
        for (size_t i = 0; i < p->nviews && !rc && !r->done; i++) {
            rc = query__view_run(r, p->views[i]);
            query__view_teardown(r);
        }
    } else {
        const struct query__memtable *m = p->src->mem;
        struct query__memtable one = {0, NULL, 1, NULL}; /* SELECT without FROM: one empty row */
        r->mem = m ? m : &one;
        struct query__rowset rs = {NULL, true, p->filter.where == NULL, false};
        rc = query__run_blocks(r, r->mem->nrows, &rs);
        r->mem = NULL;
    }
    if (!rc && p->q->aggregate)
        rc = finish_groups(r);
    return rc;
}

int query__exec_header(const struct sql_select *q, struct query__ctx *x, struct query__result *res)
{
    const char **names = arena_alloc(&x->keep, (q->nitems ? q->nitems : 1) * sizeof *names);
    uint8_t *types = arena_alloc(&x->keep, q->nitems ? q->nitems : 1);
    if (!names || !types)
        return query__ctx_nomem(x, "the result");
    for (size_t i = 0; i < q->nitems; i++) {
        names[i] = q->items[i].name;
        types[i] = q->items[i].type;
    }
    res->ncols = q->nitems;
    res->names = names;
    res->types = types;
    return 0;
}

int query__exec_run(const struct sql_select *q, const struct query__source *src,
                    const struct sql_options *opt, struct query__ctx *x, struct query__collect *c,
                    struct query__result *res)
{
    memset(res, 0, sizeof *res);
    struct query__plan p;
    int rc = query__plan_build(&p, q, src, opt, x);
    if (!rc && q->explain)
        rc = query__plan_explain(&p, x, res);
    if (rc || q->explain) {
        query__filter_free(&p.filter);
        return rc;
    }
    rc = query__collect_init(c, p.width, p.order_idx, p.desc, p.norder, p.keep, x);
    struct query__run r;
    if (!rc)
        rc = query__run_init(&r, &p, x, c);
    if (!rc) {
        rc = run_source(&r);
        query__run_destroy(&r);
    }
    if (!rc)
        rc = query__collect_finish(c);
    query__filter_free(&p.filter);
    if (rc)
        return rc;
    if ((rc = query__exec_header(q, x, res)))
        return rc;
    size_t off = q->offset > 0 ? (size_t)q->offset : 0;
    res->rows = off < c->n ? c->rows + off : c->rows;
    res->nrows = off < c->n ? c->n - off : 0;
    return 0;
}
