/*
 * exec.c — runs a bound SELECT (or EXPLAIN) against one source, a storage
 * snapshot or an in-memory table: plans it (plan.c), reads the views that
 * are left in chunk order (view.c, block.c), then finalizes the groups into
 * rows (HAVING, items, ORDER BY terms, DISTINCT) and collects them the same
 * way; without ORDER BY they come out sorted by their keys, as Druid's
 * group-by returns them. A large aggregation reads its views on every core
 * and merges the threads' partial groups (below). The files below it and
 * what they share are in exec_int.h.
 *
 * Entry point: query__exec_run().
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* ---- aggregation on every core ------------------------------------------------------------
 *
 * An aggregation over several views with enough rows reads them on every
 * core: each thread takes a contiguous range of views in chunk order with
 * its own run state, its own query context (arenas, budget) and its own
 * partial groups; the calling thread runs the first range, then merges the
 * ranges in order, so groups are created in the order one thread creates
 * them and ties (EARLIEST, LATEST, ANY_VALUE, ORDER BY between equal values)
 * resolve the same way. Aggregations by dictionary id keep each view's
 * per-id arrays instead, and the calling thread merges those view by view
 * exactly as it does alone (the same sums in the same order).
 *
 * Memory: each thread's budget is an equal share of what the query has
 * left (context.maxQueryBytes) and draws on the pool of all queries, so the
 * threads together stay within the query's limit and every partial table
 * is charged. When a share refuses, the parallel attempt is dropped and the
 * aggregation runs on one thread with the whole budget: a query that fits
 * on one core never fails for having been split.
 */

_Atomic uint64_t query__agg_par_runs;

/* A view, or a range of its blocks when there are fewer views than cores
 * (the ranges of a view share its candidate rows, filtered once). */
struct unit {
    size_t view;
    uint64_t lo, hi; /* rows; hi 0 = the whole view */
    uint64_t rows;
    struct query__rowset *rs; /* ranges: the view's rows */
};

struct part {
    struct query__run r;
    struct query__ctx x;
    struct lerr err;
    const struct query__plan *p;
    const struct unit *units;
    size_t u0, u1;            /* units [u0, u1), in view and row order */
    struct query__vstate *vs; /* by id: one state per unit, or NULL */
    size_t nvs;               /* states kept */
    int rc;
};

static void part_init(struct part *w, const struct query__plan *p, const struct query__ctx *x,
                      uint64_t share)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    w->x.req = x->req;
    w->x.deadline_ns = x->deadline_ns;
    w->x.max_bytes = x->max_bytes; /* for the messages: the limit the user set */
    w->x.tz = x->tz;
    lerr_init(&w->err);
    w->x.err = &w->err;
    mem_budget_init(&w->x.budget, share, &query__pool);
    arena_init(&w->x.keep, 64 * 1024, 0);
    arena_init(&w->x.scratch, 256 * 1024, 0);
    arena_init(&w->x.leaf, 128 * 1024, 0);
    arena_set_budget(&w->x.keep, &w->x.budget);
    arena_set_budget(&w->x.scratch, &w->x.budget);
    arena_set_budget(&w->x.leaf, &w->x.budget);
}

static void part_destroy(struct part *w)
{
    for (size_t i = 0; i < w->nvs; i++)
        query__vstate_free(&w->r, &w->vs[i]);
    query__run_destroy(&w->r);
    arena_destroy(&w->x.keep);
    arena_destroy(&w->x.scratch);
    arena_destroy(&w->x.leaf);
    mem_budget_destroy(&w->x.budget);
}

static void *part_run(void *arg)
{
    struct part *w = arg;
    const struct query__plan *p = w->p;
    int rc = query__run_init(&w->r, p, &w->x, NULL);
    if (!rc && !w->vs) {
        rc = query__groups_init(&w->r.groups, p->q->nkeys, p->aggs, p->q->naggs, p->acc_size,
                                &w->x);
        uint32_t g;
        if (!rc && p->q->nkeys == 0)
            rc = query__run_find_group(&w->r, NULL, &g);
    }
    for (size_t i = w->u0; i < w->u1 && !rc; i++) {
        const struct unit *u = &w->units[i];
        w->r.blk_lo = u->lo;
        w->r.blk_hi = u->hi;
        w->r.pre_rs = u->rs;
        if (w->vs) {
            rc = query__view_run_byid(&w->r, p->views[u->view], &w->vs[w->nvs]);
            w->nvs += rc == 0;
        } else {
            rc = query__view_run(&w->r, p->views[u->view]);
        }
        query__view_teardown(&w->r);
        w->r.blk_lo = w->r.blk_hi = 0;
        w->r.pre_rs = NULL;
    }
    w->rc = rc;
    return NULL;
}

/* Adds a thread's partial groups to r's, in their order. */
static int merge_part(struct query__run *r, const struct query__groups *src)
{
    const struct query__plan *p = r->p;
    int rc;
    for (uint32_t g = 0; g < src->ngroups; g++) {
        if ((g & 1023) == 0 && (rc = query__ctx_check(r->x)))
            return rc;
        uint32_t d;
        if ((rc = query__run_find_group(r, query__groups_keys(src, g), &d)))
            return rc;
        uint8_t *da = query__groups_acc(&r->groups, d);
        const uint8_t *sa = query__groups_acc(src, g);
        for (size_t i = 0; i < p->q->naggs; i++) {
            const struct query__agg_plan *a = &p->aggs[i];
            if (a->mode == QA_SQL || a->mode == QA_MERGE) {
                rc = sql_agg_merge_err(a->state, da + a->off, sa + a->off, &r->x->keep, r->x->err);
                if (rc)
                    return query__ctx_sql_error(r->x, rc, "aggregate states");
            } else {
                query__nacc_merge(a, (struct query__nacc *)(void *)(da + a->off),
                                  (const struct query__nacc *)(const void *)(sa + a->off));
            }
        }
    }
    return 0;
}

/* How many threads aggregate the views (1: the calling thread alone). */
static size_t agg_threads(const struct query__plan *p)
{
    if (!p->nviews || (p->key_kind == QK_NONE && p->count_only && p->filter.exact))
        return 1; /* nothing to read, or counts without reading a row */
    uint64_t rows = 0;
    for (size_t i = 0; i < p->nviews; i++)
        rows += storage_view_rows(p->views[i]);
    size_t nt = query__cores();
    if (p->nviews == 1 && rows < 2 * (uint64_t)BLOCK)
        return 1; /* one block: nothing to split */
    if (query__agg_par_min_rows && rows / query__agg_par_min_rows < nt)
        nt = (size_t)(rows / query__agg_par_min_rows);
    return nt < 1 ? 1 : nt;
}

/* Aggregates the views on nt threads into r's groups. *done is false when
 * a thread's share of the memory refused: the caller then runs alone. */
static int run_parallel(struct query__run *r, size_t nt, bool by_id, bool *done)
{
    const struct query__plan *p = r->p;
    struct query__ctx *x = r->x;
    *done = false;
    /* the views, or ranges of blocks of each when there are fewer views than threads */
    size_t per = p->nviews >= nt ? 1 : nt, nu = 0;
    size_t bytes = nt * sizeof(struct part) + p->nviews * per * sizeof(struct unit) +
                   (by_id ? 2 * p->nviews * per * sizeof(struct query__vstate) : 0);
    int rc = query__ctx_charge(x, bytes, "the aggregation threads");
    if (rc)
        return rc;
    struct part *w = calloc(nt, sizeof *w);
    struct unit *units = calloc(p->nviews * per, sizeof *units);
    /* by id: a state per unit, then one per view (copies) for the merge */
    struct query__vstate *vs = by_id ? calloc(2 * p->nviews * per, sizeof *vs) : NULL;
    if (!w || !units || (by_id && !vs)) {
        free(w);
        free(units);
        free(vs);
        query__ctx_uncharge(x, bytes);
        return lerr_set(x->err, LERR_NOMEM, "out of memory for the aggregation threads");
    }
    uint64_t rows = 0, acc = 0;
    struct query__rowset *vrs = NULL; /* views split in ranges: their rows */
    size_t nvrs = 0;
    if (per > 1 && !(vrs = calloc(p->nviews, sizeof *vrs)))
        rc = lerr_set(x->err, LERR_NOMEM, "out of memory for the aggregation threads");
    for (size_t i = 0; i < p->nviews && !rc; i++) {
        uint64_t n = storage_view_rows(p->views[i]), nb = (n + BLOCK - 1) / BLOCK;
        size_t k = per > 1 && nb >= 2 ? (nb < per ? (size_t)nb : per) : 1;
        if (k > 1) {
            /* the filter once, here (on every core itself), for all the ranges */
            struct storage_scan *sc = storage_scan_new(p->views[i]);
            if (!sc) {
                rc = lerr_set(x->err, LERR_NOMEM, "out of memory opening %s",
                              storage_view_name(p->views[i]));
                break;
            }
            arena_reset(&x->scratch);
            rc = query__filter_view_rows(&p->filter, p->views[i], sc, x, &vrs[nvrs]);
            storage_scan_free(sc);
            if (rc)
                break;
            nvrs++;
        }
        for (size_t j = 0; j < k; j++) {
            struct unit *u = &units[nu++];
            u->view = i;
            if (k > 1) {
                u->lo = nb * j / k * BLOCK;
                u->hi = j + 1 < k ? nb * (j + 1) / k * BLOCK : n;
            }
            u->rows = k > 1 ? u->hi - u->lo : n;
            u->rs = k > 1 ? &vrs[nvrs - 1] : NULL;
        }
        rows += n;
    }
    if (rc || nu < 2) {
        for (size_t i = 0; i < nvrs; i++)
            query__rowset_free(&vrs[i]);
        free(vrs);
        free(w);
        free(units);
        free(vs);
        query__ctx_uncharge(x, bytes);
        return rc; /* *done false: one thread */
    }
    if (nu < nt)
        nt = nu;
    uint64_t left = x->max_bytes > x->budget.used ? x->max_bytes - x->budget.used : 0;
    uint64_t share = x->max_bytes ? (left / nt ? left / nt : 1) : 0;
    /* contiguous runs of units of about the same number of rows */
    size_t v = 0;
    for (size_t t = 0; t < nt; t++) {
        part_init(&w[t], p, x, share);
        w[t].units = units;
        w[t].u0 = v;
        uint64_t goal = rows * (t + 1) / nt;
        /* leave at least one unit to each later thread */
        while (v < nu - (nt - 1 - t) && (v == w[t].u0 || acc < goal || t == nt - 1))
            acc += units[v++].rows;
        w[t].u1 = v;
        w[t].vs = vs ? vs + w[t].u0 : NULL;
    }
    pthread_t th[QUERY_MAX_THREADS];
    bool started[QUERY_MAX_THREADS] = {false};
    for (size_t t = 1; t < nt; t++)
        started[t] = pthread_create(&th[t], NULL, part_run, &w[t]) == 0;
    part_run(&w[0]);
    for (size_t t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            part_run(&w[t]); /* a thread that cannot start: its range runs here */
    }
    /* the first failure in view order decides */
    bool refused = false;
    for (size_t t = 0; t < nt && !rc; t++) {
        if (!w[t].rc)
            continue;
        if (w[t].x.budget.refused != MEM_REFUSED_NONE) {
            refused = true;
            break;
        }
        *x->err = w[t].err;
        rc = w[t].rc;
    }
    if (!rc && !refused) {
        *done = true;
        /* ranges of one view fold into its first range's state: one state
         * per view, as on one thread (the top-N rounds cost per state) */
        struct query__vstate *fv = vs ? vs + p->nviews * per : NULL;
        size_t nv = 0;
        for (size_t i = 0; by_id && i < nu; i++) {
            if (i && units[i].view == units[i - 1].view)
                query__vstate_fold(p, &fv[nv - 1], &vs[i]);
            else
                fv[nv++] = vs[i]; /* a copy: the arrays stay the unit's to free */
        }
        if (by_id && p->topn_agg >= 0)
            rc = query__view_topn(r, fv, nv);
        for (size_t i = 0; by_id && p->topn_agg < 0 && i < nv && !rc; i++)
            rc = query__view_merge_byid(r, &fv[i]);
        for (size_t t = 0; !by_id && t < nt && !rc; t++)
            rc = merge_part(r, &w[t].r.groups);
        if (!rc)
            atomic_fetch_add(&query__agg_par_runs, 1);
    }
    for (size_t t = 0; t < nt; t++)
        part_destroy(&w[t]);
    for (size_t i = 0; i < nvrs; i++)
        query__rowset_free(&vrs[i]);
    free(vrs);
    free(w);
    free(units);
    free(vs);
    query__ctx_uncharge(x, bytes);
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
    bool by_id = p->src->snap && p->by_id && ids_everywhere(p), done = false;
    size_t nt = p->src->snap && p->q->aggregate && !p->src->parts ? agg_threads(p) : 1;
    if (nt > 1 && (rc = run_parallel(r, nt, by_id, &done)))
        return rc;
    if (p->src->parts) {
        rc = query__partial_gather(r); /* the nodes' parts: no view is read here */
    } else if (done) {
        /* the groups are complete */
    } else if (by_id) {
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
        rc = p->src->produce ? query__partial_write(r) : finish_groups(r);
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
    res->elems = NULL;
    res->ncols = q->nitems;
    res->names = names;
    res->types = types;
    return 0;
}

/* The element type of an ARRAY_AGG / ARRAY_CONCAT_AGG result (SQL_NULL when
 * not known): ARRAY_AGG(x) collects x's type; ARRAY_CONCAT_AGG(a) keeps a's
 * element type, a typed column's or what the binder knows of an expression. */
static int agg_elem(const struct sql_agg_call *a, const struct query__source *src)
{
    uint32_t f;
    if (a->nargs < 1 || !a->args[0])
        return SQL_NULL;
    if (a->kind == SQL_AGG_ARRAY_AGG)
        return a->arg_type == SQL_ARRAY ? SQL_NULL : a->arg_type;
    if (a->kind != SQL_AGG_ARRAY_CONCAT)
        return SQL_NULL;
    if (sql_expr_is_ref(a->args[0], &f))
        return f < src->schema.n ? sql_field_elem(&src->schema.fields[f]) : SQL_NULL;
    return sql_expr_elem_type(a->args[0]);
}

/* What a block over a pushed source needs of the nodes' rows: its WHERE as
 * SQL, and with a LIMIT (no aggregate or DISTINCT, the WHERE all written)
 * how many rows of each node are enough: any, without an ORDER BY; the first
 * by time, ties included, when it orders by __time first. Another top-N over
 * rows (ORDER BY with a LIMIT, no aggregate), or one whose WHERE is not all
 * written, is not pushed (x->push.set stays false): it keeps its N rows while
 * it reads the segments, where the nodes would send every row its WHERE
 * selects. */
static int push_spec(const struct sql_select *q, const struct query__plan *p,
                     const struct query__source *src, struct query__ctx *x)
{
    x->push.set = false;
    int order_time = 0;
    if (!q->aggregate && q->norder && q->limit >= 0) {
        const struct sql_order_item *o = &q->order[0];
        const struct sql_expr *e =
            o->item >= 0 && (size_t)o->item < q->nitems ? q->items[o->item].expr : o->expr;
        uint32_t f;
        if (!e || !sql_expr_is_ref(e, &f) || f >= src->schema.n ||
            strcmp(src->schema.fields[f].name, "__time") != 0 ||
            src->schema.fields[f].type != SQL_TIMESTAMP)
            return 0;
        order_time = o->desc ? -1 : 1;
    }
    struct buf b;
    buf_init(&b, 64u << 20);
    buf_set_budget(&b, &x->budget);
    bool exact;
    int rc = query__filter_sql(&p->filter, &src->schema, &b, &exact);
    if (rc)
        rc = query__ctx_too_big(x, "the filter sent to the nodes");
    x->push.set = rc == 0;
    x->push.where = NULL;
    x->push.limit = -1;
    x->push.order_time = 0;
    if (!rc && b.len && !(x->push.where = arena_strndup(&x->keep, buf_cstr(&b), b.len)))
        rc = query__ctx_nomem(x, "the filter sent to the nodes");
    if (!rc && exact && !q->aggregate && !q->distinct && q->limit >= 0 && q->offset >= 0 &&
        q->limit <= INT64_MAX - q->offset && (q->norder == 0 || order_time)) {
        x->push.limit = q->limit + q->offset;
        x->push.order_time = order_time;
    } else if (!rc && order_time) {
        x->push.set = false; /* a top-N the nodes cannot cut: its N rows while it reads */
    }
    buf_free(&b);
    return rc;
}

int query__exec_run(const struct sql_select *q, const struct query__source *src,
                    const struct sql_options *opt, struct query__ctx *x, struct query__collect *c,
                    struct query__result *res)
{
    memset(res, 0, sizeof *res);
    struct query__plan p;
    int rc = query__plan_build(&p, q, src, opt, x);
    bool split = false;
    if (!rc && (src->parts || src->produce)) {
        char why[256];
        if (!(split = query__partial_eligible(&p, why, sizeof why))) {
            if (src->parts && !src->pushed) { /* read every row here instead (rel.c) */
                query__filter_free(&p.filter);
                return QUERY__REOPEN;
            }
            if (!src->parts) /* (pushed: the nodes' rows it needs, below) */
                rc = lerr_set(x->err, LERR_INVALID, "a node's part of a query: %s", why);
        } else if (src->produce && x->req->partial_fp) {
            char fp[QUERY_PART_FP_LEN + 1];
            query__partial_fp(&p, fp);
            if (strcmp(fp, x->req->partial_fp) != 0)
                rc = lerr_set(x->err, LERR_CONFLICT,
                              "this node plans the query differently (plan %s, the asking "
                              "node's %s): the nodes see different columns of table '%s' or "
                              "run different versions",
                              fp, x->req->partial_fp, src->table);
        }
    }
    if (!rc && src->pushed && !split) { /* the nodes' rows it needs (rel.c) */
        rc = push_spec(q, &p, src, x);
        query__filter_free(&p.filter);
        return rc ? rc : QUERY__REOPEN;
    }
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
    /* items that are a multi-value column itself or a function mapped over
     * one (or, grouped, such a key) */
    bool *mv = NULL;
    for (size_t i = 0; i < q->nitems; i++) {
        uint32_t f;
        const struct sql_expr *e = q->items[i].expr;
        bool is_mv = sql_expr_is_multi_value(e);
        if (!is_mv && sql_expr_is_ref(e, &f)) {
            if (q->aggregate && f < q->nkeys && sql_expr_is_multi_value(q->keys[f]))
                is_mv = true;
            else if (!q->aggregate || (f < q->nkeys && sql_expr_is_ref(q->keys[f], &f)))
                is_mv = f < src->schema.n && (src->schema.fields[f].flags & SQL_FIELD_MULTI_VALUE);
        }
        if (!is_mv)
            continue;
        if (!mv && !(mv = arena_zalloc(&x->keep, q->nitems)))
            return query__ctx_nomem(x, "the result");
        mv[i] = true;
    }
    res->mv = mv;
    /* ARRAY items' element types: a typed column's (or, grouped, its key's),
     * or what the binder knows of an expression */
    uint8_t *elems = NULL;
    for (size_t i = 0; i < q->nitems; i++) {
        if (q->items[i].type != SQL_ARRAY)
            continue;
        const struct sql_expr *e = q->items[i].expr;
        uint32_t f;
        int el = SQL_NULL;
        if (sql_expr_is_ref(e, &f)) {
            bool col = !q->aggregate;
            if (q->aggregate && f < q->nkeys) {
                const struct sql_expr *k = q->keys[f];
                col = sql_expr_is_ref(k, &f);
                el = col ? SQL_NULL : sql_expr_elem_type(k);
            }
            if (q->aggregate && f >= q->nkeys && f - q->nkeys < q->naggs) {
                el = agg_elem(&q->aggs[f - q->nkeys], src);
                col = false;
            }
            if (col && f < src->schema.n)
                el = sql_field_elem(&src->schema.fields[f]);
        } else {
            el = sql_expr_elem_type(e);
        }
        if (el == SQL_NULL)
            continue;
        if (!elems && !(elems = arena_zalloc(&x->keep, q->nitems)))
            return query__ctx_nomem(x, "the result");
        elems[i] = (uint8_t)el;
    }
    res->elems = elems;
    size_t off = q->offset > 0 ? (size_t)q->offset : 0;
    res->rows = off < c->n ? c->rows + off : c->rows;
    res->nrows = off < c->n ? c->n - off : 0;
    return 0;
}
