/*
 * view.c — reads one view of the source: its row set from the filter
 * (filter.c), COUNT(*)-only global aggregates over exact row sets answered
 * from row counts and bitmap cardinalities without reading a row, global
 * sketches of string columns over every row of a segment from its bitmap
 * indexes (query__run_sketch_bitmaps), else its blocks (block.c); and the aggregation by dictionary id with its top-N
 * pruning (below).
 *
 * Entry points: query__view_run(), query__view_run_byid(),
 * query__view_merge_byid(), query__vstate_fold(), query__view_topn(),
 * query__vstate_free(), query__view_teardown()
 * (exec_int.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "query/exec_int.h"

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

static int vstate_new(struct query__run *r, const struct storage_view *v, struct query__vstate *vs)
{
    const struct query__plan *p = r->p;
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

void query__vstate_free(struct query__run *r, struct query__vstate *vs)
{
    free(vs->cnt);
    free(vs->acc);
    query__ctx_uncharge(r->x, vs->bytes);
    memset(vs, 0, sizeof *vs);
}

static int byid_bitmaps(struct query__run *r, const struct query__rowset *rs,
                        struct query__vstate *vs, bool *done)
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

/* Candidate rows of rs in the part of the view this run reads. */
static uint64_t range_count(const struct query__run *r, const struct query__rowset *rs,
                            uint64_t rows)
{
    if (!r->blk_hi)
        return query__rowset_count(rs, rows);
    uint64_t hi = r->blk_hi < rows ? r->blk_hi : rows, lo = r->blk_lo < hi ? r->blk_lo : hi;
    return rs->all ? hi - lo : roaring_bitmap_range_cardinality(rs->bm, lo, hi);
}

/* Fills a view's per-id arrays. */
static int byid_fill(struct query__run *r, const struct query__rowset *rs,
                     struct query__vstate *vs)
{
    uint64_t rows = storage_view_rows(r->view);
    if (!r->p->has_native && rs->exact) {
        if (!vs->present) {
            vs->cnt[STORAGE_NULL_ID] += (uint32_t)range_count(r, rs, rows);
            return 0;
        }
        bool done = false;
        int rc = 0;
        if (!storage_view_is_realtime(r->view) && (uint64_t)vs->n * 64 <= rows && !r->blk_hi)
            rc = byid_bitmaps(r, rs, vs, &done);
        if (rc || done)
            return rc;
    }
    r->vs = vs;
    int rc = query__run_blocks(r, rows, rs);
    r->vs = NULL;
    return rc;
}

static struct sql_value id_value(const struct query__vstate *vs, size_t col, uint32_t id)
{
    if (id == STORAGE_NULL_ID || !vs->present)
        return sql_null(SQL_STRING);
    return storage_view_dict_value(vs->v, col, id);
}

/* Adds id's accumulators of one view to group g. */
static void merge_id(struct query__run *r, const struct query__vstate *vs, uint32_t id, uint32_t g)
{
    const struct query__plan *p = r->p;
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
static int byid_merge(struct query__run *r, const struct query__vstate *vs)
{
    int rc;
    for (uint32_t id = 0; id < vs->n; id++) {
        if (!vs->cnt[id])
            continue;
        if ((id & 4095) == 0 && (rc = query__ctx_check(r->x)))
            return rc;
        struct sql_value key = id_value(vs, (size_t)r->p->key_col, id);
        uint32_t g;
        if ((rc = query__run_find_group(r, &key, &g)))
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

static long double view_rank(const struct query__plan *p, const struct query__vstate *vs,
                             uint32_t id)
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
static int topn_round(struct query__run *r, const struct query__vstate *vs, size_t nv, size_t K,
                      long double *bound)
{
    const struct query__plan *p = r->p;
    size_t col = (size_t)p->key_col;
    int rc;
    *bound = 0;
    for (size_t i = 0; i < nv; i++) {
        size_t nz = 0;
        for (uint32_t id = 0; id < vs[i].n; id++)
            nz += vs[i].cnt[id] != 0;
        long double kth = -INFINITY; /* below every rank: all ids with rows */
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
        long double below = 0; /* values missing from a view add 0 there */
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
            if ((rc = query__run_find_group(r, &key, &g)))
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
static int topn_done(struct query__run *r, size_t nth, long double bound, bool *done)
{
    const struct query__plan *p = r->p;
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

int query__view_topn(struct query__run *r, struct query__vstate *vs, size_t nv)
{
    const struct query__plan *p = r->p;
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
            return rc; /* K >= every view's ids: every value is a candidate */
        K *= 8;
        query__groups_destroy(&r->groups);
        if ((rc = query__groups_init(&r->groups, p->q->nkeys, p->aggs, p->q->naggs, p->acc_size,
                                     r->x)))
            return rc;
    }
}

static int setup_dict(struct query__run *r)
{
    const struct query__plan *p = r->p;
    if (p->key_kind == QK_DICT2) {
        size_t a = (size_t)p->key_col, b = (size_t)p->key_col2;
        if (!storage_view_has_column(r->view, a) || !storage_view_has_column(r->view, b) ||
            storage_view_column_type(r->view, a) != SQL_STRING ||
            storage_view_column_type(r->view, b) != SQL_STRING)
            return 0; /* this view groups by evaluated keys */
        return query__run_pairs_init(r, storage_view_dict_size(r->view, a),
                                     storage_view_dict_size(r->view, b));
    }
    if (p->key_kind != QK_DICT || !storage_view_has_column(r->view, (size_t)p->key_col) ||
        storage_view_column_type(r->view, (size_t)p->key_col) != SQL_STRING)
        return 0; /* this view groups by evaluated keys */
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

void query__view_teardown(struct query__run *r)
{
    query__run_free_id2gid(r);
    if (r->scan)
        storage_scan_free(r->scan);
    r->scan = NULL;
    r->view = NULL;
}

/* Starts reading a view: its scan and its candidate rows. */
static int open_view(struct query__run *r, const struct storage_view *v, struct query__rowset *rs)
{
    r->view = v;
    r->scan = storage_scan_new(v);
    if (!r->scan)
        return lerr_set(r->x->err, LERR_NOMEM, "out of memory opening %s", storage_view_name(v));
    arena_reset(&r->x->scratch);
    if (r->pre_rs) { /* filtered once for every range of the view (exec.c) */
        *rs = *r->pre_rs;
        rs->borrowed = true;
        return 0;
    }
    return query__filter_view_rows(&r->p->filter, v, r->scan, r->x, rs);
}

int query__view_run(struct query__run *r, const struct storage_view *v)
{
    const struct query__plan *p = r->p;
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
        uint64_t c = range_count(r, &rs, rows);
        for (size_t i = 0; i < p->q->naggs; i++)
            ((struct query__nacc *)(void *)(query__groups_acc(&r->groups, 0) + p->aggs[i].off))
                ->n += (int64_t)c;
        query__rowset_free(&rs);
        return 0;
    }
    bool rows_needed = true;
    if (p->q->aggregate &&
        ((rc = setup_dict(r)) || (rc = query__run_sketch_bitmaps(r, &rs, &rows_needed)))) {
        query__rowset_free(&rs);
        return rc;
    }
    if (rows_needed)
        rc = query__run_blocks(r, rows, &rs);
    query__rowset_free(&rs);
    return rc;
}

void query__vstate_fold(const struct query__plan *p, struct query__vstate *dst,
                        const struct query__vstate *src)
{
    for (uint32_t id = 0; id < src->n && id < dst->n; id++) {
        if (!src->cnt[id])
            continue;
        dst->cnt[id] += src->cnt[id];
        for (size_t i = 0; dst->acc && src->acc && i < p->q->naggs; i++) {
            const struct query__agg_plan *a = &p->aggs[i];
            if (a->mode != QA_COUNT_STAR)
                query__nacc_merge(
                    a,
                    (struct query__nacc *)(void *)(dst->acc + (size_t)id * p->acc_size + a->off),
                    (const struct query__nacc *)(const void *)(src->acc +
                                                               (size_t)id * p->acc_size + a->off));
        }
    }
}

int query__view_merge_byid(struct query__run *r, const struct query__vstate *vs)
{
    return byid_merge(r, vs);
}

/* A view aggregated by dictionary id: merged now, or kept in *keep for
 * the top-N. */
int query__view_run_byid(struct query__run *r, const struct storage_view *v,
                         struct query__vstate *keep)
{
    struct query__rowset rs;
    int rc = open_view(r, v, &rs);
    if (rc)
        return rc;
    struct query__vstate local, *vs = keep ? keep : &local;
    rc = vstate_new(r, v, vs);
    if (!rc && (rs.all || !roaring_bitmap_is_empty(rs.bm)))
        rc = byid_fill(r, &rs, vs);
    query__rowset_free(&rs);
    if (!rc && !keep)
        rc = byid_merge(r, vs);
    if (!keep || rc)
        query__vstate_free(r, vs);
    return rc;
}
