/*
 * block.c — a run's state and the reading of rows in blocks of
 * STORAGE_BLOCK_ROWS candidate rows: the rest of the WHERE runs vectorized,
 * then either
 *   - aggregate: each row's group id comes from its dictionary id (an id →
 *     group map per view, so each distinct value is hashed once per view),
 *     from its raw __time (TIME_FLOOR / FLOOR TO keys), or from a hash of
 *     the evaluated keys (multi-value keys — columns or functions mapped
 *     over them — explode into the Cartesian product of their values: one
 *     pass per combination position, each row in the group of its
 *     combination there, agg_block_mv);
 *     aggregates then update native accumulators
 *     straight from raw column vectors, sql_agg states, or merge stored
 *     measure states (or the per-id arrays of view.c); an HLL or theta
 *     sketch of a dictionary-encoded string column takes each (group,
 *     dictionary id) of a view once, at its first row, instead of hashing
 *     every row's string (agg_sketch_ids);
 *   - no aggregate: items and ORDER BY terms are evaluated per block and
 *     rows go to the collector (top-N with ORDER BY + LIMIT; stop early
 *     with LIMIT alone, evaluating no more rows than it keeps).
 * Everything here allocates under the query's budget (query_int.h); an
 * aggregate's argument vectors are freed once it has added them.
 *
 * Entry points: query__run_init() / query__run_destroy(),
 * query__run_blocks(), query__run_find_group(), query__run_free_id2gid()
 * (exec_int.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "query/exec_int.h"

bool query__sketch_by_dict = true;
_Atomic uint64_t query__sketch_bitmap_views, query__sketch_id_views;

/* ---- reading blocks ---------------------------------------------------------------- */

int query__run_init(struct query__run *r, const struct query__plan *p, struct query__ctx *x,
                    struct query__collect *c)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    r->x = x;
    r->col = c;
    size_t n = p->ncols ? p->ncols : 1;
    r->colv = arena_zalloc(&x->keep, n * sizeof *r->colv);
    r->colgen = arena_zalloc(&x->keep, n * sizeof *r->colgen);
    r->colptr = arena_alloc(&x->keep, n * sizeof *r->colptr);
    r->loaded = arena_alloc(&x->keep, n * sizeof *r->loaded);
    if (!r->colv || !r->colgen || !r->colptr || !r->loaded)
        return query__ctx_nomem(x, "the executor");
    for (size_t i = 0; i < p->q->naggs; i++)
        if (p->aggs[i].by_dict) {
            r->idsets = arena_zalloc(&x->keep, p->q->naggs * sizeof *r->idsets);
            if (!r->idsets)
                return query__ctx_nomem(x, "the executor");
            break;
        }
    return 0;
}

/* The block buffers, made when the first block is read: a query answered
 * from row counts (COUNT(*)) never touches their ~180 KB, whose fresh pages
 * cost more than the rest of its run. */
static int block_bufs(struct query__run *r)
{
    if (r->nullvec)
        return 0;
    struct query__ctx *x = r->x;
    size_t n = r->p->ncols ? r->p->ncols : 1;
    r->selbuf = arena_alloc(&x->keep, BLOCK * sizeof *r->selbuf);
    r->gids = arena_alloc(&x->keep, BLOCK * sizeof *r->gids);
    struct sql_value *nv = arena_alloc(&x->keep, BLOCK * sizeof *nv);
    if (!r->selbuf || !r->gids || !nv)
        return query__ctx_nomem(x, "the executor");
    for (uint32_t k = 0; k < BLOCK; k++)
        nv[k] = sql_null(SQL_NULL);
    for (size_t i = 0; i < n; i++)
        r->colptr[i] = nv;
    r->nullvec = nv;
    return 0;
}

static void pairs_free(struct query__run *r)
{
    struct query__pairmap *m = r->pairs;
    if (!m)
        return;
    free(m->gid);
    free(m->key);
    query__ctx_uncharge(r->x, m->bytes);
    free(m);
    r->pairs = NULL;
}

static void idset_free(struct query__run *r, struct query__idset *set)
{
    free(set->seen);
    free(set->keys);
    query__ctx_uncharge(r->x, set->bytes);
    memset(set, 0, sizeof *set);
}

/* Frees the dictionary-id group maps and id sets (and their charge to the
 * query). */
void query__run_free_id2gid(struct query__run *r)
{
    pairs_free(r);
    for (size_t i = 0; r->idsets && i < r->p->q->naggs; i++)
        idset_free(r, &r->idsets[i]);
    if (r->id2gid) {
        free(r->id2gid);
        query__ctx_uncharge(r->x, r->id2gid_n * sizeof *r->id2gid);
    }
    r->id2gid = NULL;
    r->id2gid_n = 0;
}

void query__run_destroy(struct query__run *r)
{
    query__run_free_id2gid(r);
    query__groups_destroy(&r->groups);
}

static int storage_err(struct query__run *r, int rc)
{
    struct lerr *e = r->x->err;
    if (!e->code)
        lerr_set(e, rc, "reading %s failed", r->view ? storage_view_name(r->view) : "a table");
    return e->code;
}

/* Column c of the block's selected rows (compacted: value k is row sel[k]). */
static int load_col(struct query__run *r, size_t c, const struct sql_value **out)
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
            v[k] = src[r->row0 + query__dpos(r->sel, k)];
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

static int load_refs(struct query__run *r, const struct sql_expr *e)
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

static struct sql_batch batch_of(const struct query__run *r)
{
    struct sql_batch b = {r->colptr, r->nsel};
    return b;
}

/* Values of e for the block's selected rows. */
static int eval_vec(struct query__run *r, const struct sql_expr *e, int bare_col,
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
static void compact(struct query__run *r, const uint32_t *keep, uint32_t m)
{
    for (size_t i = 0; i < r->nloaded; i++) {
        struct sql_value *v = r->colv[r->loaded[i]];
        for (uint32_t j = 0; j < m; j++)
            v[j] = v[keep[j]];
    }
    for (uint32_t j = 0; j < m; j++)
        r->selbuf[j] = query__dpos(r->sel, keep[j]);
    r->sel = r->selbuf;
    r->nsel = m;
}

/* ---- aggregation --------------------------------------------------------------------- */

int query__run_find_group(struct query__run *r, const struct sql_value *keys, uint32_t *gid)
{
    return query__groups_find(&r->groups, keys, query__groups_hash(keys, r->groups.nkeys), gid);
}

/* out[k] = column col's dictionary id of selected row k, each checked
 * below `bound` (the dictionary's size): a larger one is a corrupt view. */
static int selected_ids(struct query__run *r, int col, uint32_t bound, uint32_t *out)
{
    uint32_t *ids = arena_alloc(&r->x->scratch, BLOCK * sizeof *ids);
    if (!ids)
        return query__ctx_nomem(r->x, "dictionary ids");
    int rc = storage_scan_ids(r->scan, (size_t)col, r->row0, r->n, ids, r->x->err);
    if (rc)
        return storage_err(r, rc);
    for (uint32_t k = 0; k < r->nsel; k++) {
        uint32_t id = ids[query__dpos(r->sel, k)];
        if (id >= bound)
            return lerr_set(r->x->err, LERR_CORRUPT,
                            "%s: dictionary id %u of column %d is out of range",
                            storage_view_name(r->view), id, col);
        out[k] = id;
    }
    return 0;
}

static int gids_dict(struct query__run *r)
{
    const struct query__plan *p = r->p;
    int rc = selected_ids(r, p->key_col, (uint32_t)r->id2gid_n, r->gids);
    if (rc)
        return rc;
    for (uint32_t k = 0; k < r->nsel; k++) {
        uint32_t id = r->gids[k];
        uint32_t g = r->id2gid[id];
        if (g == NO_GID) {
            struct sql_value key = id == STORAGE_NULL_ID
                                       ? sql_null(SQL_STRING)
                                       : storage_view_dict_value(r->view, (size_t)p->key_col, id);
            if ((rc = query__run_find_group(r, &key, &g)))
                return rc;
            r->id2gid[id] = g;
        }
        r->gids[k] = g;
    }
    return 0;
}

/* ---- QK_DICT2: groups by pairs of dictionary ids ---- */

#define PAIR_EMPTY UINT64_MAX
/* direct arrays up to this many cells (16 MiB) and 4 per row of the view:
 * channel x namespace is 4,500 */
#define PAIR_DIRECT_MAX (1u << 22)

static int pairs_charge(struct query__run *r, size_t n)
{
    int rc = query__ctx_charge(r->x, n, "the dictionary-id pair group map");
    if (!rc)
        r->pairs->bytes += n;
    return rc;
}

/* A table of cap slots (a power of two), every slot free. */
static int pairs_table(struct query__run *r, size_t cap, uint64_t **key, uint32_t **gid)
{
    int rc = pairs_charge(r, cap * (sizeof **key + sizeof **gid));
    if (rc)
        return rc;
    *key = malloc(cap * sizeof **key);
    *gid = malloc(cap * sizeof **gid);
    if (!*key || !*gid) {
        free(*key);
        free(*gid);
        *key = NULL;
        *gid = NULL;
        return lerr_set(r->x->err, LERR_NOMEM, "out of memory for the dictionary-id pair map");
    }
    memset(*key, 0xff, cap * sizeof **key);
    return 0;
}

int query__run_pairs_init(struct query__run *r, uint32_t n1, uint32_t n2)
{
    pairs_free(r);
    r->pairs = calloc(1, sizeof *r->pairs);
    if (!r->pairs)
        return lerr_set(r->x->err, LERR_NOMEM, "out of memory for the dictionary-id pair map");
    struct query__pairmap *m = r->pairs;
    m->n1 = n1;
    m->n2 = n2;
    uint64_t cells = (uint64_t)n1 * n2;
    int rc;
    /* never an array much larger than the rows that could fill it */
    if (cells <= PAIR_DIRECT_MAX && cells <= 4 * storage_view_rows(r->view) + 1024) {
        m->direct = true;
        size_t n = cells ? (size_t)cells : 1;
        if ((rc = pairs_charge(r, n * sizeof *m->gid)))
            return rc;
        if (!(m->gid = malloc(n * sizeof *m->gid)))
            return lerr_set(r->x->err, LERR_NOMEM, "out of memory for the dictionary-id pair map");
        memset(m->gid, 0xff, n * sizeof *m->gid);
        return 0;
    }
    m->cap = 1024;
    return pairs_table(r, m->cap, &m->key, &m->gid);
}

static inline size_t pair_slot(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

static int pairs_grow(struct query__run *r)
{
    struct query__pairmap *m = r->pairs;
    size_t ncap = m->cap * 2, mask = ncap - 1;
    uint64_t *nkey;
    uint32_t *ngid;
    int rc = pairs_table(r, ncap, &nkey, &ngid);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->key[i] == PAIR_EMPTY)
            continue;
        size_t s = pair_slot(m->key[i], mask);
        while (nkey[s] != PAIR_EMPTY)
            s = (s + 1) & mask;
        nkey[s] = m->key[i];
        ngid[s] = m->gid[i];
    }
    free(m->key);
    free(m->gid);
    query__ctx_uncharge(r->x, m->cap * (sizeof *m->key + sizeof *m->gid));
    m->bytes -= m->cap * (sizeof *m->key + sizeof *m->gid);
    m->key = nkey;
    m->gid = ngid;
    m->cap = ncap;
    return 0;
}

/* The group of a pair seen for the first time in this view: by value. */
static int pair_group(struct query__run *r, uint32_t a, uint32_t b, uint32_t *g)
{
    const struct query__plan *p = r->p;
    struct sql_value keys[2] = {
        a == STORAGE_NULL_ID ? sql_null(SQL_STRING)
                             : storage_view_dict_value(r->view, (size_t)p->key_col, a),
        b == STORAGE_NULL_ID ? sql_null(SQL_STRING)
                             : storage_view_dict_value(r->view, (size_t)p->key_col2, b)};
    return query__run_find_group(r, keys, g);
}

static int gids_dict2(struct query__run *r)
{
    const struct query__plan *p = r->p;
    struct query__pairmap *m = r->pairs;
    uint32_t *b = arena_alloc(&r->x->scratch, BLOCK * sizeof *b);
    if (!b)
        return query__ctx_nomem(r->x, "dictionary ids");
    int rc;
    if ((rc = selected_ids(r, p->key_col, m->n1, r->gids)) ||
        (rc = selected_ids(r, p->key_col2, m->n2, b)))
        return rc;
    uint32_t *a = r->gids; /* replaced by the groups in place */
    if (m->direct) {
        for (uint32_t k = 0; k < r->nsel; k++) {
            uint32_t *cell = &m->gid[(size_t)a[k] * m->n2 + b[k]];
            if (*cell == NO_GID && (rc = pair_group(r, a[k], b[k], cell)))
                return rc;
            a[k] = *cell;
        }
        return 0;
    }
    for (uint32_t k = 0; k < r->nsel; k++) {
        uint64_t key = (uint64_t)a[k] << 32 | b[k];
        size_t mask = m->cap - 1, s = pair_slot(key, mask);
        while (m->key[s] != key && m->key[s] != PAIR_EMPTY)
            s = (s + 1) & mask;
        if (m->key[s] == PAIR_EMPTY) {
            uint32_t g;
            if ((rc = pair_group(r, a[k], b[k], &g)))
                return rc;
            m->key[s] = key;
            m->gid[s] = g;
            if (++m->used * 10 > m->cap * 7 && (rc = pairs_grow(r)))
                return rc;
            a[k] = g;
            continue;
        }
        a[k] = m->gid[s];
    }
    return 0;
}

/* The raw __time of the selected rows (compacted). */
static int times_of(struct query__run *r, const int64_t **out)
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
            t[k] = t[r->sel[k]]; /* sel is ascending: in place is safe */
    *out = t;
    return 0;
}

static int gids_tfloor(struct query__run *r)
{
    const struct query__plan *p = r->p;
    const int64_t *t;
    int rc = times_of(r, &t);
    if (rc)
        return rc;
    int64_t last = 0;
    uint32_t last_gid = NO_GID;
    for (uint32_t k = 0; k < r->nsel; k++) {
        int64_t b;
        if (p->per_ms) {
            int64_t m = t[k] % p->per_ms; /* inline floor: this runs per row */
            b = t[k] - (m < 0 ? m + p->per_ms : m);
        } else if (p->floor_unit) {
            b = time_floor_unit(t[k], p->unit, r->x->tz);
        } else {
            b = time_floor(t[k], &p->per, INT64_MIN, r->x->tz);
        }
        if (last_gid == NO_GID || b != last) {
            struct sql_value key = sql_timestamp(b);
            if ((rc = query__run_find_group(r, &key, &last_gid)))
                return rc;
            last = b;
        }
        r->gids[k] = last_gid;
    }
    return 0;
}

static int gids_generic(struct query__run *r)
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
        if ((rc = query__run_find_group(r, row, &r->gids[k])))
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
static int numeric_args(struct query__run *r, const struct query__agg_plan *a, struct numvec *nv)
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
        if ((rc = storage_scan_longs(r->scan, (size_t)col, r->row0, r->n, nv->l, nv->nulls,
                                     x->err)))
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
#define ACC(gid) ((struct query__nacc *)(void *)(r->accbase + (size_t)(gid)*r->stride + a->off))
#define FOR_ROWS(body)                     \
    for (uint32_t j_ = 0; j_ < m; j_++) {  \
        uint32_t k = fidx ? fidx[j_] : j_; \
        body                               \
    }

static int agg_native(struct query__run *r, const struct query__agg_plan *a, const uint32_t *fidx,
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
    case SQL_AGG_AVG: /* the sum and the count of values, as sql_agg's AVG keeps them */
        if (a->dbl)
            FOR_ROWS(if (!nl[k]) {
                struct query__nacc *s = ACC(gids[k]);
                s->d += nv.d[k];
                s->n++;
            })
        else
            FOR_ROWS(if (!nl[k]) {
                struct query__nacc *s = ACC(gids[k]);
                s->l = (int64_t)((uint64_t)s->l + (uint64_t)nv.l[k]); /* wraps, as Java */
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

static int agg_sql(struct query__run *r, const struct query__agg_plan *a, const uint32_t *fidx,
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
    /* COUNT(DISTINCT) of a multi-value column counts its values (Druid) */
    const struct sql_schema *sch = &r->p->src->schema;
    bool per_value = c->kind == SQL_AGG_COUNT_DISTINCT &&
                     ((a->arg_col >= 0 && (size_t)a->arg_col < sch->n &&
                       (sch->fields[a->arg_col].flags & SQL_FIELD_MULTI_VALUE)) ||
                      sql_expr_is_multi_value(c->args[0]));
    FOR_ROWS({
        struct sql_value av[2];
        for (int i = 0; i < c->nargs && i < 2; i++)
            av[i] = args[i][k];
        if (per_value && !av[0].is_null && av[0].type == SQL_ARRAY) {
            struct sql_value list = av[0];
            for (uint32_t e = 0; e < list.v.a.n; e++) {
                av[0] = list.v.a.items[e];
                if ((rc = sql_agg_add_err(c, query__groups_acc(&r->groups, r->gids[k]) + a->off,
                                          av, 0, mem, r->x->err)))
                    return rc == LERR_NOMEM ? query__ctx_nomem(r->x, "aggregator states") : rc;
            }
            continue;
        }
        /* LERR_INVALID: an ARRAY_AGG or STRING_AGG passed its maxBytes */
        if ((rc = sql_agg_add_err(c, query__groups_acc(&r->groups, r->gids[k]) + a->off, av,
                                  t ? t[k] : 0, mem, r->x->err)))
            return rc == LERR_NOMEM ? query__ctx_nomem(r->x, "aggregator states") : rc;
    })
    return 0;
}

/* ---- sketches of dictionary-encoded strings: once per (group, id) ---- */

static int idset_charge(struct query__run *r, struct query__idset *set, size_t n)
{
    int rc = query__ctx_charge(r->x, n, "the dictionary ids a sketch has taken");
    if (!rc)
        set->bytes += n;
    return rc;
}

static int idset_nomem(struct query__run *r)
{
    return lerr_set(r->x->err, LERR_NOMEM,
                    "out of memory for the dictionary ids a sketch has taken");
}

/* A table of cap free slots (a power of two). */
static int idset_table(struct query__run *r, struct query__idset *set, size_t cap, uint64_t **keys)
{
    int rc = idset_charge(r, set, cap * sizeof **keys);
    if (rc)
        return rc;
    if (!(*keys = malloc(cap * sizeof **keys)))
        return idset_nomem(r);
    memset(*keys, 0xff, cap * sizeof **keys);
    return 0;
}

/* Makes set ready for the ids of the view being read (dictionary size n). */
static int idset_open(struct query__run *r, struct query__idset *set, uint32_t n)
{
    idset_free(r, set);
    set->view = r->view;
    set->n = n;
    query__sketch_id_views++;
    if (r->p->key_kind == QK_NONE) {
        int rc = idset_charge(r, set, n ? n : 1);
        if (rc)
            return rc;
        if (!(set->seen = calloc(n ? n : 1, 1)))
            return idset_nomem(r);
        return 0;
    }
    set->cap = 1024;
    return idset_table(r, set, set->cap, &set->keys);
}

static int idset_grow(struct query__run *r, struct query__idset *set)
{
    size_t ncap = set->cap * 2, mask = ncap - 1;
    uint64_t *nkeys;
    int rc = idset_table(r, set, ncap, &nkeys);
    if (rc)
        return rc;
    for (size_t i = 0; i < set->cap; i++) {
        if (set->keys[i] == PAIR_EMPTY)
            continue;
        size_t sl = pair_slot(set->keys[i], mask);
        while (nkeys[sl] != PAIR_EMPTY)
            sl = (sl + 1) & mask;
        nkeys[sl] = set->keys[i];
    }
    free(set->keys);
    query__ctx_uncharge(r->x, set->cap * sizeof *set->keys);
    set->bytes -= set->cap * sizeof *set->keys;
    set->keys = nkeys;
    set->cap = ncap;
    return 0;
}

/* Adds (gid, id) to the set; *fresh says whether it was new. */
static int idset_add(struct query__run *r, struct query__idset *set, uint32_t gid, uint32_t id,
                     bool *fresh)
{
    if (set->seen) {
        *fresh = !set->seen[id];
        set->seen[id] = 1;
        return 0;
    }
    uint64_t key = (uint64_t)gid << 32 | id;
    size_t mask = set->cap - 1, sl = pair_slot(key, mask);
    while (set->keys[sl] != key && set->keys[sl] != PAIR_EMPTY)
        sl = (sl + 1) & mask;
    *fresh = set->keys[sl] == PAIR_EMPTY;
    if (!*fresh)
        return 0;
    set->keys[sl] = key;
    if (++set->used * 10 > set->cap * 7)
        return idset_grow(r, set);
    return 0;
}

/*
 * A by_dict sketch aggregate over the rows fidx[0..m): each row's
 * dictionary id, and the value of each (group, id) not yet taken in this
 * view goes into the group's sketch, at its first row — the sketch the
 * per-row updates (agg_sql) build, bit for bit, without hashing every
 * row's string. NULL (id 0) adds nothing, as there. A view without a
 * dictionary for the column (in-memory rows, a column stored as another
 * type) takes the per-row path.
 */
static int agg_sketch_ids(struct query__run *r, size_t i, const struct query__agg_plan *a,
                          const uint32_t *fidx, uint32_t m)
{
    size_t col = (size_t)a->arg_col;
    if (!r->view || r->mem || !r->idsets)
        return agg_sql(r, a, fidx, m);
    if (!storage_view_has_column(r->view, col))
        return 0; /* every row NULL: the per-row path adds nothing either */
    if (storage_view_column_type(r->view, col) != SQL_STRING)
        return agg_sql(r, a, fidx, m);
    struct query__idset *set = &r->idsets[i];
    int rc;
    if (set->view == r->view && set->done)
        return 0; /* taken from the bitmaps (query__run_sketch_bitmaps) */
    if (set->view != r->view && (rc = idset_open(r, set, storage_view_dict_size(r->view, col))))
        return rc;
    uint32_t *ids = arena_alloc(&r->x->scratch, BLOCK * sizeof *ids);
    if (!ids)
        return query__ctx_nomem(r->x, "dictionary ids");
    if ((rc = selected_ids(r, a->arg_col, set->n, ids)))
        return rc;
    const struct sql_agg_call *c = a->call;
    struct arena *mem = &r->x->keep;
    FOR_ROWS({
        uint32_t id = ids[k];
        bool fresh;
        if (id == STORAGE_NULL_ID)
            continue;
        if ((rc = idset_add(r, set, r->gids[k], id, &fresh)))
            return rc;
        if (!fresh)
            continue;
        struct sql_value v = storage_view_dict_value(r->view, col, id);
        if ((rc = sql_agg_add_err(c, query__groups_acc(&r->groups, r->gids[k]) + a->off, &v, 0,
                                  mem, r->x->err)))
            return rc == LERR_NOMEM ? query__ctx_nomem(r->x, "aggregator states") : rc;
    })
    return 0;
}

/* Sorts keys[0..n) by value (LSD radix, a byte at a time, the passes
 * whose byte is the same in every key skipped); tmp holds n. */
static void radix_sort(uint64_t *keys, uint64_t *tmp, size_t n)
{
    uint64_t diff = 0;
    for (size_t i = 1; i < n; i++)
        diff |= keys[i] ^ keys[0];
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if (!((diff >> shift) & 0xff))
            continue;
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[((keys[i] >> shift) & 0xff) + 1]++;
        for (size_t b = 0; b < 256; b++)
            cnt[b + 1] += cnt[b];
        for (size_t i = 0; i < n; i++)
            tmp[cnt[(keys[i] >> shift) & 0xff]++] = keys[i];
        memcpy(keys, tmp, n * sizeof *keys);
    }
}

/* One aggregate's values of the whole view from its bitmaps; *used false
 * when the view has none (the rows are read then). */
static int sketch_bitmaps(struct query__run *r, size_t i, const struct query__agg_plan *a,
                          bool *used)
{
    size_t col = (size_t)a->arg_col;
    struct query__idset *set = &r->idsets[i];
    uint32_t n = storage_view_dict_size(r->view, col);
    struct lerr berr;
    lerr_init(&berr);
    *used = false;
    if (!storage_view_bitmap(r->view, col, STORAGE_NULL_ID, &berr))
        return berr.code ? lerr_set(r->x->err, berr.code, "%s", berr.msg) : 0;
    idset_free(r, set);
    size_t bytes = (size_t)n * 2 * sizeof(uint64_t);
    int rc = idset_charge(r, set, bytes);
    if (rc)
        return rc;
    uint64_t *keys = malloc(bytes);
    if (!keys)
        return idset_nomem(r);
    size_t m = 0;
    for (uint32_t id = 1; id < n; id++) {
        if ((id & 1023) == 0 && (rc = query__ctx_check(r->x)))
            goto out;
        const roaring_bitmap_t *bm =
            (const roaring_bitmap_t *)storage_view_bitmap(r->view, col, id, &berr);
        if (!bm) {
            rc = lerr_set(r->x->err, berr.code ? berr.code : LERR_CORRUPT,
                          "%s: no bitmap for dictionary id %u of column %zu%s%s",
                          storage_view_name(r->view), id, col, berr.code ? ": " : "",
                          berr.code ? berr.msg : "");
            goto out;
        }
        /* the first row of the value, then its id (an empty bitmap's
         * minimum is UINT32_MAX, past every row of a view) */
        uint32_t first = roaring_bitmap_minimum(bm);
        if (first != UINT32_MAX)
            keys[m++] = (uint64_t)first << 32 | id;
    }
    radix_sort(keys, keys + n, m);
    uint32_t g;
    if ((rc = query__run_find_group(r, NULL, &g)))
        goto out;
    uint8_t *state = query__groups_acc(&r->groups, g) + a->off;
    for (size_t j = 0; j < m; j++) {
        struct sql_value v = storage_view_dict_value(r->view, col, (uint32_t)keys[j]);
        if ((rc = sql_agg_add_err(a->call, state, &v, 0, &r->x->keep, r->x->err))) {
            if (rc == LERR_NOMEM)
                rc = query__ctx_nomem(r->x, "aggregator states");
            goto out;
        }
    }
    set->view = r->view;
    set->done = true;
    *used = true;
    query__sketch_bitmap_views++;
out:
    free(keys);
    query__ctx_uncharge(r->x, bytes);
    set->bytes -= bytes;
    return rc;
}

int query__run_sketch_bitmaps(struct query__run *r, const struct query__rowset *rs,
                              bool *rows_needed)
{
    const struct query__plan *p = r->p;
    *rows_needed = true;
    if (!r->idsets || p->key_kind != QK_NONE || !rs->all || !rs->exact || r->blk_hi ||
        storage_view_is_realtime(r->view))
        return 0;
    uint64_t rows = storage_view_rows(r->view);
    bool left = false;
    for (size_t i = 0; i < p->q->naggs; i++) {
        const struct query__agg_plan *a = &p->aggs[i];
        size_t col = (size_t)a->arg_col;
        /* a column the view lacks is NULL in every row: nothing to add */
        bool used = a->by_dict && !a->call->filter && !storage_view_has_column(r->view, col);
        /* an id's first row costs about what reading 32 rows' ids does */
        if (!used && a->by_dict && !a->call->filter &&
            storage_view_column_type(r->view, col) == SQL_STRING &&
            (uint64_t)storage_view_dict_size(r->view, col) * 32 <= rows) {
            int rc = sketch_bitmaps(r, i, a, &used);
            if (rc)
                return rc;
        }
        left |= !used;
    }
    *rows_needed = left;
    return 0;
}

static int agg_merge(struct query__run *r, const struct query__agg_plan *a, const uint32_t *fidx,
                     uint32_t m)
{
    if (!r->view || !storage_view_has_column(r->view, (size_t)a->arg_col))
        return 0; /* no states here: nothing to merge */
    size_t size = a->size;
    uint8_t *st = arena_alloc(&r->x->scratch, (size_t)r->n * size);
    if (!st)
        return query__ctx_nomem(r->x, "measure states");
    int rc = storage_scan_states(r->scan, (size_t)a->arg_col, r->row0, r->n, st, &r->x->scratch,
                                 r->x->err);
    if (rc)
        return storage_err(r, rc);
    FOR_ROWS({
        const uint8_t *src = st + (size_t)query__dpos(r->sel, k) * size;
        if (!sql_agg_merge(a->state, query__groups_acc(&r->groups, r->gids[k]) + a->off, src,
                           &r->x->keep))
            return query__ctx_nomem(r->x, "aggregator states");
    })
    return 0;
}

/* A block aggregated into the view's per-id arrays (the group id is the
 * dictionary id). */
static int byid_block(struct query__run *r)
{
    const struct query__plan *p = r->p;
    struct query__vstate *vs = r->vs;
    if (!vs->present) {
        memset(r->gids, 0, r->nsel * sizeof *r->gids); /* every row is NULL: id 0 */
    } else {
        int rc = selected_ids(r, p->key_col, vs->n, r->gids);
        if (rc)
            return rc;
    }
    for (uint32_t k = 0; k < r->nsel; k++)
        vs->cnt[r->gids[k]]++;
    if (!vs->acc)
        return 0;
    r->accbase = vs->acc;
    r->stride = p->acc_size;
    return 0;
}

/* Updates every aggregate with the selected rows listed in rows[0..nrows)
 * (all of them when rows is NULL), each into its row's group r->gids[k]. */
static int agg_rows(struct query__run *r, const uint32_t *rows, uint32_t nrows)
{
    const struct query__plan *p = r->p;
    int rc;
    uint32_t *fsel = NULL;
    for (size_t i = 0; i < p->q->naggs && !fsel; i++)
        if (p->aggs[i].call->filter && !(fsel = arena_alloc(&r->x->scratch, BLOCK * sizeof *fsel)))
            return query__ctx_nomem(r->x, "a filter selection");
    struct arena_mark mark;
    for (size_t i = 0; i < p->q->naggs; i++) {
        const struct query__agg_plan *a = &p->aggs[i];
        if (r->vs && a->mode == QA_COUNT_STAR)
            continue; /* per-id arrays count rows in vs->cnt */
        /* an aggregate's argument vectors are dead once it has added them:
         * thousands of aggregates need one's worth of scratch, not all */
        arena_mark(&r->x->scratch, &mark);
        const uint32_t *fidx = rows;
        uint32_t m = rows ? nrows : r->nsel;
        if (a->call->filter) {
            if ((rc = load_refs(r, a->call->filter)))
                return rc;
            struct sql_batch b = batch_of(r);
            int nomem;
            m = sql_filter_batch(a->call->filter, &b, NULL, r->nsel, &r->x->scratch, fsel, &nomem);
            if (nomem)
                return query__ctx_nomem(r->x, EXPR_RESULTS);
            if (rows) { /* the filter's rows among `rows` (both ascending) */
                uint32_t k = 0, j = 0, o = 0;
                while (k < m && j < nrows) {
                    if (fsel[k] == rows[j])
                        fsel[o++] = fsel[k++], j++;
                    else if (fsel[k] < rows[j])
                        k++;
                    else
                        j++;
                }
                m = o;
            }
            fidx = fsel;
        }
        switch (a->mode) {
        case QA_COUNT_STAR: FOR_ROWS(ACC(r->gids[k])->n++;) break;
        case QA_NATIVE: rc = agg_native(r, a, fidx, m); break;
        case QA_MERGE: rc = agg_merge(r, a, fidx, m); break;
        default: rc = a->by_dict ? agg_sketch_ids(r, i, a, fidx, m) : agg_sql(r, a, fidx, m);
        }
        if (rc)
            return rc;
        arena_release(&r->x->scratch, &mark);
    }
    return 0;
}

/* Whether group key i is a multi-value string: a multi-value column or a
 * function mapped over one (Druid explodes it: a row counts once in the
 * group of each of its values, a row without values in the NULL group). */
static bool mv_key(const struct query__run *r, size_t i)
{
    const struct query__plan *p = r->p;
    if (p->key_kind != QK_GENERIC || !p->key_cols)
        return false;
    int c = p->key_cols[i];
    return (c >= 0 && (size_t)c < p->src->schema.n &&
            (p->src->schema.fields[c].flags & SQL_FIELD_MULTI_VALUE)) ||
           sql_expr_is_multi_value(p->q->keys[i]); /* UPPER(tags): one group per value too */
}

/* Most groups one row may join (the product of its multi-value keys' counts). */
#define MV_ROW_GROUPS_MAX (1u << 20)

static uint32_t mv_count(const struct sql_value *v)
{
    return v->is_null ? 0 : v->type == SQL_ARRAY ? v->v.a.n : 1;
}

/* Aggregates a block grouped by multi-value keys (ismv[i]): a row joins one
 * group per combination of its keys' values (the Cartesian product, as
 * Druid's groupBy on several multi-value dimensions); pass j puts each row
 * with more than j combinations in the group of its j-th (the last key
 * turning fastest). */
static int agg_block_mv(struct query__run *r, const bool *ismv)
{
    const struct sql_select *q = r->p->q;
    size_t nk = q->nkeys;
    const struct sql_value **kv = arena_alloc(&r->x->scratch, nk * sizeof *kv);
    struct sql_value *row = arena_alloc(&r->x->scratch, nk * sizeof *row);
    uint32_t *rows = arena_alloc(&r->x->scratch, BLOCK * sizeof *rows);
    uint32_t *combos = arena_alloc(&r->x->scratch, BLOCK * sizeof *combos);
    if (!kv || !row || !rows || !combos)
        return query__ctx_nomem(r->x, "group keys");
    int rc;
    for (size_t i = 0; i < nk; i++)
        if ((rc = eval_vec(r, q->keys[i], r->p->key_cols[i], &kv[i])))
            return rc;
    uint32_t most = 1;
    for (uint32_t k = 0; k < r->nsel; k++) {
        uint64_t t = 1;
        for (size_t i = 0; i < nk; i++) {
            uint32_t n = ismv[i] ? mv_count(&kv[i][k]) : 1;
            t *= n ? n : 1;
            if (t > MV_ROW_GROUPS_MAX)
                return lerr_set(r->x->err, LERR_INVALID,
                                "a row's multi-value GROUP BY keys make more than %u "
                                "combinations of values (group by fewer multi-value keys, or "
                                "by MV_TO_ARRAY of one to group its whole list)",
                                MV_ROW_GROUPS_MAX);
        }
        combos[k] = (uint32_t)t;
        most = combos[k] > most ? combos[k] : most;
    }
    for (uint32_t j = 0; j < most; j++) {
        uint32_t m = 0;
        for (uint32_t k = 0; k < r->nsel; k++) {
            if (j >= combos[k])
                continue;
            uint32_t rem = j;
            for (size_t i = nk; i-- > 0;) {
                const struct sql_value *v = &kv[i][k];
                if (!ismv[i]) {
                    row[i] = *v;
                    continue;
                }
                uint32_t n = mv_count(v), c = n ? n : 1, at = rem % c;
                rem /= c;
                row[i] = n == 0                 ? sql_null(SQL_STRING)
                         : v->type == SQL_ARRAY ? v->v.a.items[at]
                                                : *v;
            }
            if ((rc = query__run_find_group(r, row, &r->gids[k])))
                return rc;
            rows[m++] = k;
        }
        /* after the lookups: creating groups may have moved the records */
        r->accbase = r->groups.recs + r->groups.acc_off;
        r->stride = r->groups.rec_size;
        if ((rc = agg_rows(r, rows, m)))
            return rc;
    }
    return 0;
}

static int agg_block(struct query__run *r)
{
    const struct query__plan *p = r->p;
    int rc;
    if (r->vs) {
        if ((rc = byid_block(r)) || !r->vs->acc)
            return rc;
    } else {
        bool *ismv = NULL;
        for (size_t i = 0; i < p->q->nkeys; i++)
            if (mv_key(r, i)) {
                if (!ismv && !(ismv = arena_zalloc(&r->x->scratch, p->q->nkeys)))
                    return query__ctx_nomem(r->x, "group keys");
                ismv[i] = true;
            }
        if (ismv)
            return agg_block_mv(r, ismv);
        switch (p->key_kind) {
        case QK_NONE:
            memset(r->gids, 0, r->nsel * sizeof *r->gids);
            rc = 0;
            break;
        case QK_DICT: rc = r->id2gid ? gids_dict(r) : gids_generic(r); break;
        case QK_DICT2: rc = r->pairs ? gids_dict2(r) : gids_generic(r); break;
        case QK_TFLOOR: rc = gids_tfloor(r); break;
        default: rc = gids_generic(r);
        }
        if (rc)
            return rc;
        /* after the lookups: creating groups may have moved the records */
        r->accbase = r->groups.recs + r->groups.acc_off;
        r->stride = r->groups.rec_size;
    }
    return agg_rows(r, NULL, 0);
}

/* ---- rows without aggregation ------------------------------------------------------- */

static int scan_block(struct query__run *r)
{
    const struct query__plan *p = r->p;
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

static int run_block(struct query__run *r, uint64_t row0, uint32_t n, const uint32_t *sel,
                     uint32_t nsel, bool exact)
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
int query__run_blocks(struct query__run *r, uint64_t rows, const struct query__rowset *rs)
{
    int rc = block_bufs(r);
    if (rc)
        return rc;
    if (r->blk_hi && r->blk_hi < rows)
        rows = r->blk_hi; /* a thread's part of the view */
    if (rs->all) {
        for (uint64_t row0 = r->blk_lo; row0 < rows && !rc && !r->done; row0 += BLOCK) {
            uint32_t n = (uint32_t)(rows - row0 < BLOCK ? rows - row0 : BLOCK);
            rc = run_block(r, row0, n, NULL, n, rs->exact);
        }
        return rc;
    }
    struct query__rowiter ri;
    query__rowiter_init(&ri, rs->bm);
    if (r->blk_lo && !roaring_move_uint32_iterator_equalorlarger(&ri.it, (uint32_t)r->blk_lo))
        return 0;
    uint32_t first;
    while (!rc && !r->done && query__rowiter_peek(&ri, &first) && first < rows) {
        uint64_t row0 = (uint64_t)first / BLOCK * BLOCK;
        uint64_t end = row0 + BLOCK < rows ? row0 + BLOCK : rows;
        /* run_block resets selbuf only through compact(), after reading it */
        uint32_t *sel = r->selbuf;
        uint32_t nsel = query__rowiter_take(&ri, end, sel);
        if (!nsel)
            break; /* rows past the view: none are candidates */
        for (uint32_t k = 0; k < nsel; k++)
            sel[k] -= (uint32_t)row0;
        rc = run_block(r, row0, (uint32_t)(end - row0), sel, nsel, rs->exact);
    }
    return rc;
}
