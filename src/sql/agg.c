/*
 * agg.c — aggregators as objects over typed state: COUNT(*), COUNT(x),
 * COUNT(DISTINCT x) (exact set), SUM, MIN, MAX, AVG, ANY_VALUE, the
 * time-paired EARLIEST / LATEST / EARLIEST_BY / LATEST_BY, and the
 * query-only VAR_SAMP / VAR_POP / STDDEV_SAMP / STDDEV_POP, BIT_AND /
 * BIT_OR / BIT_XOR, ARRAY_AGG, ARRAY_CONCAT_AGG and STRING_AGG, and the
 * sketches DS_HLL, DS_THETA and DS_QUANTILES_SKETCH (which also serve
 * APPROX_COUNT_DISTINCT*, APPROX_QUANTILE_DS and an approximate
 * COUNT(DISTINCT x)). Rollup at ingestion adds rows into states and merges
 * partial states; queries do the same and then finalize; segments store
 * states as bytes.
 *
 * Every aggregator uses one fixed-size state layout (struct agg_state):
 * simpler than per-kind layouts and small enough (64 bytes). Variable data
 * (string values, distinct sets) lives in the caller's arena, so dropping
 * states is dropping their arena. The one exception keeps that rule: a
 * sketch state points to an accumulator (func_sketch.c) holding the sketch
 * library's union, which mallocs as it grows. Rather than teach the
 * library an arena allocator, the accumulator is made in the caller's arena
 * and registers a cleanup hook on it (arena_on_reset, util.h) that frees
 * the union when the arena is reset, released to an earlier mark or
 * destroyed, and charges the arena's cap and budget for the most the union
 * may grow to (arena_charge: Druid reserves that much per group too). So a
 * query's budget covers its sketches, and every caller that drops states
 * by dropping their arena frees them. A sketch state serializes as the
 * DataSketches compact image alone (what Druid stores), not in the
 * versioned layout of the others.
 *
 * Druid rules: COUNT(x) and the others skip NULL inputs; SUM/MIN/MAX/AVG
 * of no non-NULL input is NULL, COUNT is 0; AVG is DOUBLE (Druid 28+);
 * VAR_* and STDDEV_* keep Druid's VarianceAggregatorCollector state (count,
 * sum, and the sum of squared deviations, updated per value and merged with
 * Chan's formula, so partial states combine exactly), 0 for one value and
 * NULL for none; BIT_* are NULL when no non-NULL value came; ARRAY_AGG keeps
 * NULLs, STRING_AGG skips them, ARRAY_CONCAT_AGG skips NULL arrays but keeps
 * NULL elements; all three keep values in input order (the DISTINCT forms
 * sorted, NULL first, as Druid's set) and fail the query, as Druid does,
 * when their accumulator would pass maxBytes, measured as Druid measures
 * it (1 + 4 bytes, and per element 1, plus 8 for a number or 4 + length
 * for a string);
 * EARLIEST/LATEST keep the value (NULL included) of the row with the smallest/largest non-NULL time, the first
 * one seen on ties, strings cut to maxBytes (default 1024) at a character
 * boundary.
 *
 * Measures of aggregate tables: sql_agg_for_measure() gives a measure
 * type's stored aggregator, sql_agg_measure_fit() / _default() apply the
 * table of which mapping aggregation feeds which measure type (sql.h,
 * SQL_MEASURE_MAP), and sql_agg_add_row_as() adds a row as the mapping sees
 * it to a state of the measure's aggregator.
 *
 * Entry points: sql_agg_state_size(), sql_agg_init(), sql_agg_add(),
 * sql_agg_add_err(), sql_agg_add_row(), sql_agg_merge(), sql_agg_merge_err(),
 * sql_agg_finalize(),
 * sql_agg_serialize(), sql_agg_deserialize(), sql_agg_for_measure(),
 * sql_agg_measure_fit(), sql_agg_measure_default(), sql_agg_add_row_as().
 */
#include "sql/sql_int.h"
#include "util/map.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const agg_names[] = {
#define AGG_NAME(e, name) name,
    SQL_AGG_MAP(AGG_NAME)
#undef AGG_NAME
};

/* A distinct set: util/map.h with each value packed into its entry (the
 * first 8 bytes of the value's union in the key word; the 4 after them —
 * a string's or array's length — and the type in the value word), the
 * bytes of strings and the table in the caller's arena. The map grows
 * exactly as the set did before it (16 slots, doubled before an add that
 * would pass 3/4 full) with the same hash, so the slot order, in which
 * states serialize their values, is unchanged. */
struct dset {
    struct map m;
    bool has_null; /* NULL never counts, kept for completeness */
};

/* The values of ARRAY_AGG, ARRAY_CONCAT_AGG and STRING_AGG, in the caller's
 * arena: in input order, until finalizing sorts a DISTINCT one; `text` is
 * kept large enough for STRING_AGG's joined result, so that finalizing
 * writes it without allocating. */
struct coll {
    struct sql_value *items;
    uint32_t n, cap;
    uint64_t bytes;  /* Druid's estimate of the accumulator's size */
    uint64_t joined; /* STRING_AGG: bytes of the values joined */
    char *text;
    uint64_t text_cap;
    bool sorted;
};

struct agg_state {
    uint8_t has;
    int64_t ts;
    int64_t cnt;
    union {
        int64_t l; /* BIT_*: the accumulator */
        double d;  /* VAR_*, STDDEV_*: the sum of the values */
    } sum;
    union {
        struct sql_value v;        /* MIN, MAX, ANY_VALUE, EARLIEST/LATEST */
        double m2;                 /* VAR_*, STDDEV_*: the sum of squared deviations */
        struct coll *coll;         /* ARRAY_AGG, ARRAY_CONCAT_AGG, STRING_AGG */
        struct sql_sketch_acc *sk; /* DS_HLL, DS_THETA, DS_QUANTILES_SKETCH (func_sketch.c) */
    };
    struct dset *set; /* COUNT(DISTINCT), and the DISTINCT collections' membership */
};

size_t sql_agg_state_size(const struct sql_agg_call *c)
{
    (void)c;
    return sizeof(struct agg_state);
}

static bool is_coll(const struct sql_agg_call *c)
{
    return c->kind == SQL_AGG_ARRAY_AGG || c->kind == SQL_AGG_ARRAY_CONCAT ||
           c->kind == SQL_AGG_STRING_AGG;
}

static bool is_sketch(const struct sql_agg_call *c)
{
    return c->kind == SQL_AGG_HLL || c->kind == SQL_AGG_THETA || c->kind == SQL_AGG_QUANTILES;
}

static bool is_var(const struct sql_agg_call *c)
{
    return c->kind == SQL_AGG_VAR_SAMP || c->kind == SQL_AGG_VAR_POP ||
           c->kind == SQL_AGG_STDDEV_SAMP || c->kind == SQL_AGG_STDDEV_POP;
}

void sql_agg_init(const struct sql_agg_call *c, void *state)
{
    struct agg_state *s = state;
    memset(s, 0, sizeof *s);
    if (!is_coll(c) && !is_var(c) && !is_sketch(c))
        s->v = sql_null(c->result_type);
}

/* Copies a string value's bytes into mem (cut to max bytes at a UTF-8
 * boundary); other values are returned as they are. */
static bool keep_value(struct sql_value *dst, const struct sql_value *v, uint32_t max,
                       struct arena *mem)
{
    if (v->is_null ||
        (v->type != SQL_STRING && v->type != SQL_JSON && !sql_type_is_sketch(v->type))) {
        *dst = *v;
        return true;
    }
    uint32_t n = v->v.s.n;
    if (n > max && !sql_type_is_sketch(v->type)) {
        n = max;
        while (n > 0 && ((unsigned char)v->v.s.p[n] & 0xC0) == 0x80)
            n--;
    }
    char *p = arena_alloc(mem, n ? n : 1);
    if (!p)
        return false;
    memcpy(p, v->v.s.p, n);
    *dst = *v;
    dst->v.s.p = p;
    dst->v.s.n = n;
    return true;
}

_Static_assert(sizeof(((struct sql_value *)0)->v) <= 16 &&
                   offsetof(struct sql_value, v.s.n) - offsetof(struct sql_value, v) == 8 &&
                   offsetof(struct sql_value, v.a.n) - offsetof(struct sql_value, v) == 8,
               "a distinct-set entry packs a value's union as 8 bytes and a 4-byte length");

static void set_pack(const struct sql_value *v, struct map_entry *e)
{
    uint32_t n = 0;
    memcpy(&e->key, &v->v, 8);
    if (sql_type_has_bytes(v->type) || v->type == SQL_ARRAY)
        n = v->type == SQL_ARRAY ? v->v.a.n : v->v.s.n;
    e->val = (uint64_t)n | (uint64_t)v->type << 32;
}

static struct sql_value set_unpack(const struct map_entry *e)
{
    struct sql_value v;
    memset(&v, 0, sizeof v);
    v.type = (uint8_t)(e->val >> 32);
    memcpy(&v.v, &e->key, 8);
    uint32_t n = (uint32_t)e->val;
    if (v.type == SQL_ARRAY)
        v.v.a.n = n;
    else if (sql_type_has_bytes(v.type))
        v.v.s.n = n;
    return v;
}

static bool set_equal(const void *probe, const struct map_entry *e, void *ctx)
{
    (void)ctx;
    struct sql_value v = set_unpack(e);
    return sql_value_equal(&v, probe);
}

static struct dset *set_new(struct arena *mem)
{
    struct dset *d = arena_zalloc(mem, sizeof *d);
    if (!d)
        return NULL;
    map_init(&d->m, MAP_CUSTOM, set_equal, NULL);
    map_set_arena(&d->m, mem);
    return map_reserve(&d->m, 0) == MAP_OK ? d : NULL;
}

/* Adds v to the set (its bytes copied unless `kept`: they live as long as
 * the set already); *added says whether it was new. */
static bool set_put(struct dset *d, const struct sql_value *v, bool kept, struct arena *mem,
                    bool *added)
{
    *added = false;
    if (v->is_null) {
        *added = !d->has_null;
        d->has_null = true;
        return true;
    }
    /* grow before the probe, duplicate or not, as the set always has */
    map_set_arena(&d->m, mem);
    if (map_reserve(&d->m, map_count(&d->m) + 1) != MAP_OK)
        return false;
    uint64_t h = sql_value_hash(v);
    if (map_get_h(&d->m, h, v))
        return true;
    /* only new values copy their bytes */
    struct sql_value k = *v;
    if (!kept && !keep_value(&k, v, UINT32_MAX, mem))
        return false;
    struct map_entry e;
    set_pack(&k, &e);
    *added = true;
    return map_add_h(&d->m, h, e.key, e.val) == MAP_OK;
}

static bool set_add(struct dset *d, const struct sql_value *v, struct arena *mem)
{
    bool added;
    return set_put(d, v, false, mem, &added);
}

/* The next value of the set in slot order, into *out; false at the end. */
static bool set_next(const struct dset *d, size_t *pos, struct sql_value *out)
{
    const struct map_entry *e = map_next(&d->m, pos);
    if (e)
        *out = set_unpack(e);
    return e != NULL;
}

/* ---- collections: ARRAY_AGG, ARRAY_CONCAT_AGG, STRING_AGG ---------------------------- */

/* What one element adds to Druid's size estimate of an array accumulator
 * (NullableTypeStrategy: a null byte, then 8 for a number, 4 + length for
 * a string); the array itself is 1 + 4 bytes. */
static uint64_t elem_bytes(const struct sql_value *v)
{
    if (v->is_null)
        return 1;
    if (v->type == SQL_STRING || v->type == SQL_JSON)
        return 1 + 4 + (uint64_t)v->v.s.n;
    return 1 + 8;
}

#define COLL_EMPTY_BYTES 5

static int too_big(const struct sql_agg_call *c, uint64_t bytes, struct lerr *err)
{
    const char *name = agg_names[c->kind];
    return lerr_set(err, LERR_INVALID,
                    "%s grew past its maxBytes limit: its accumulator would take %llu bytes, "
                    "more than %u (Druid fails the query the same way); pass a larger limit as "
                    "its last argument, e.g. %s(x%s, %llu), or aggregate fewer rows",
                    name, (unsigned long long)bytes, c->max_bytes, name,
                    c->kind == SQL_AGG_STRING_AGG ? ", ','" : "",
                    (unsigned long long)(bytes > (uint64_t)c->max_bytes * 4
                                             ? bytes * 2
                                             : (uint64_t)c->max_bytes * 4));
}

/* Appends one element (its bytes copied into mem) to the collection of
 * state s, through the set when the call is DISTINCT: 0, LERR_NOMEM, or
 * LERR_INVALID past max_bytes (the collection unchanged). */
static int coll_add(const struct sql_agg_call *c, struct agg_state *s, const struct sql_value *v,
                    struct arena *mem, struct lerr *err)
{
    struct coll *k = s->coll;
    if (!k) {
        if (!(k = arena_zalloc(mem, sizeof *k)))
            return LERR_NOMEM;
        k->bytes = COLL_EMPTY_BYTES;
        s->coll = k;
    }
    if (c->distinct) {
        if (!s->set && !(s->set = set_new(mem)))
            return LERR_NOMEM;
        /* membership first: a value seen before changes nothing */
        if (!v->is_null ? map_get_h(&s->set->m, sql_value_hash(v), v) != NULL : s->set->has_null)
            return 0;
    }
    uint64_t bytes = k->bytes + elem_bytes(v);
    if (bytes > c->max_bytes)
        return too_big(c, bytes, err);
    if (k->n == k->cap) {
        uint32_t ncap = k->cap ? k->cap * 2 : 8;
        struct sql_value *ni = arena_alloc(mem, (size_t)ncap * sizeof *ni);
        if (!ni)
            return LERR_NOMEM;
        if (k->n)
            memcpy(ni, k->items, (size_t)k->n * sizeof *ni);
        k->items = ni;
        k->cap = ncap;
    }
    struct sql_value kept;
    if (!keep_value(&kept, v, UINT32_MAX, mem))
        return LERR_NOMEM;
    if (c->kind == SQL_AGG_STRING_AGG) {
        /* room for the joined text, so that finalizing need not allocate */
        uint64_t joined = k->joined + (k->n ? c->sep_len : 0) + kept.v.s.n;
        if (joined > k->text_cap || !k->text) {
            uint64_t ncap = k->text_cap ? k->text_cap * 2 : 64;
            while (ncap < joined)
                ncap *= 2;
            char *t = arena_alloc(mem, ncap);
            if (!t)
                return LERR_NOMEM;
            k->text = t;
            k->text_cap = ncap;
        }
        k->joined = joined;
    }
    if (c->distinct) {
        bool added;
        if (!set_put(s->set, &kept, true, mem, &added))
            return LERR_NOMEM;
    }
    k->items[k->n++] = kept;
    k->bytes = bytes;
    k->sorted = false;
    return 0;
}

static int cmp_values(const void *a, const void *b) { return sql_value_compare(a, b); }

static void coll_finalize(const struct sql_agg_call *c, const struct agg_state *s,
                          struct sql_value *out)
{
    struct coll *k = s->coll;
    if (!s->has || (c->kind == SQL_AGG_STRING_AGG && (!k || k->n == 0))) {
        *out = sql_null(c->result_type);
        return;
    }
    if (k && c->distinct && !k->sorted) {
        /* Druid's set is sorted, NULL first; sorting in place keeps the set */
        if (k->n > 1)
            qsort(k->items, k->n, sizeof *k->items, cmp_values);
        k->sorted = true;
    }
    if (c->kind == SQL_AGG_STRING_AGG) {
        uint64_t at = 0;
        for (uint32_t i = 0; i < k->n; i++) {
            if (i && c->sep_len) {
                memcpy(k->text + at, c->sep, c->sep_len);
                at += c->sep_len;
            }
            if (k->items[i].v.s.n)
                memcpy(k->text + at, k->items[i].v.s.p, k->items[i].v.s.n);
            at += k->items[i].v.s.n;
        }
        *out = sql_string(k->text, (size_t)at);
        return;
    }
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = k ? k->items : NULL;
    out->v.a.n = k ? k->n : 0;
}

/* ---- variance: Druid's VarianceAggregatorCollector ----------------------------------- */

static void var_add(struct agg_state *s, double x)
{
    s->cnt++;
    s->sum.d += x;
    if (s->cnt > 1) {
        double t = (double)s->cnt * x - s->sum.d;
        s->m2 += t * t / ((double)s->cnt * (double)(s->cnt - 1));
    }
    s->has = 1;
}

static void var_merge(struct agg_state *d, const struct agg_state *s)
{
    if (!s->cnt)
        return;
    if (!d->cnt) {
        d->cnt = s->cnt;
        d->sum.d = s->sum.d;
        d->m2 = s->m2;
        d->has = 1;
        return;
    }
    double na = (double)d->cnt, nb = (double)s->cnt;
    double delta = s->sum.d / nb - d->sum.d / na;
    d->m2 += s->m2 + delta * delta * na * nb / (na + nb);
    d->cnt += s->cnt;
    d->sum.d += s->sum.d;
}

static void var_finalize(const struct sql_agg_call *c, const struct agg_state *s,
                         struct sql_value *out)
{
    if (!s->cnt) {
        *out = sql_null(SQL_DOUBLE);
        return;
    }
    bool pop = c->kind == SQL_AGG_VAR_POP || c->kind == SQL_AGG_STDDEV_POP;
    /* one value: 0 for both forms, as Druid (not the SQL standard's NULL) */
    double v = s->cnt == 1 ? 0.0 : s->m2 / (double)(pop ? s->cnt : s->cnt - 1);
    if (c->kind == SQL_AGG_STDDEV_SAMP || c->kind == SQL_AGG_STDDEV_POP)
        v = sqrt(v);
    *out = sql_double(v);
}

static void bit_fold(const struct sql_agg_call *c, struct agg_state *s, int64_t x)
{
    if (!s->has)
        s->sum.l = x;
    else if (c->kind == SQL_AGG_BIT_AND)
        s->sum.l &= x;
    else if (c->kind == SQL_AGG_BIT_OR)
        s->sum.l |= x;
    else
        s->sum.l ^= x;
    s->has = 1;
}

static bool is_long_sum(const struct sql_agg_call *c)
{
    return c->arg_type != SQL_DOUBLE && c->arg_type != SQL_FLOAT;
}

static bool add_plain(const struct sql_agg_call *c, void *state, const struct sql_value *args,
                      int64_t row_time, struct arena *mem);

int sql_agg_add_err(const struct sql_agg_call *c, void *state, const struct sql_value *args,
                    int64_t row_time, struct arena *mem, struct lerr *err)
{
    struct agg_state *s = state;
    const struct sql_value *x = c->nargs ? &args[0] : NULL;
    switch (c->kind) {
    case SQL_AGG_HLL:
    case SQL_AGG_THETA:
    case SQL_AGG_QUANTILES: {
        int rc = sql__sketch_add(c, &s->sk, x, false, mem, err);
        if (!rc && !x->is_null)
            s->has = 1;
        return rc;
    }
    case SQL_AGG_VAR_SAMP:
    case SQL_AGG_VAR_POP:
    case SQL_AGG_STDDEV_SAMP:
    case SQL_AGG_STDDEV_POP:
        if (!x->is_null)
            var_add(s, (x->type == SQL_DOUBLE || x->type == SQL_FLOAT) ? x->v.d : (double)x->v.l);
        return 0;
    case SQL_AGG_BIT_AND:
    case SQL_AGG_BIT_OR:
    case SQL_AGG_BIT_XOR:
        if (x->is_null)
            return 0;
        if (x->type != SQL_DOUBLE && x->type != SQL_FLOAT)
            bit_fold(c, s, x->v.l);
        else if (x->v.d >= -9.2e18 && x->v.d <= 9.2e18) /* the binder casts; callers may not */
            bit_fold(c, s, (int64_t)x->v.d);
        return 0;
    case SQL_AGG_ARRAY_AGG: {
        int rc = coll_add(c, s, x, mem, err);
        if (!rc)
            s->has = 1;
        return rc;
    }
    case SQL_AGG_STRING_AGG: {
        if (x->is_null)
            return 0;
        int rc = coll_add(c, s, x, mem, err);
        if (!rc)
            s->has = 1;
        return rc;
    }
    case SQL_AGG_ARRAY_CONCAT: {
        if (x->is_null)
            return 0;
        if (x->type != SQL_ARRAY) {
            int rc = coll_add(c, s, x, mem, err); /* a single value is an array of one */
            if (!rc)
                s->has = 1;
            return rc;
        }
        for (uint32_t i = 0; i < x->v.a.n; i++) {
            int rc = coll_add(c, s, &x->v.a.items[i], mem, err);
            if (rc)
                return rc;
        }
        /* an empty array still makes the result an (empty) array */
        if (!s->coll) {
            if (!(s->coll = arena_zalloc(mem, sizeof *s->coll)))
                return LERR_NOMEM;
            s->coll->bytes = COLL_EMPTY_BYTES;
        }
        s->has = 1;
        return 0;
    }
    default: return add_plain(c, state, args, row_time, mem) ? 0 : LERR_NOMEM;
    }
}

bool sql_agg_add(const struct sql_agg_call *c, void *state, const struct sql_value *args,
                 int64_t row_time, struct arena *mem)
{
    return sql_agg_add_err(c, state, args, row_time, mem, NULL) == 0;
}

static bool add_plain(const struct sql_agg_call *c, void *state, const struct sql_value *args,
                      int64_t row_time, struct arena *mem)
{
    struct agg_state *s = state;
    const struct sql_value *x = c->nargs ? &args[0] : NULL;
    switch (c->kind) {
    case SQL_AGG_COUNT_STAR: s->cnt++; return true;
    case SQL_AGG_COUNT:
        if (!x->is_null)
            s->cnt++;
        return true;
    case SQL_AGG_SUM:
    case SQL_AGG_AVG:
        if (x->is_null)
            return true;
        if (is_long_sum(c)) {
            int64_t v = (x->type == SQL_DOUBLE || x->type == SQL_FLOAT) ? (int64_t)x->v.d : x->v.l;
            s->sum.l = (int64_t)((uint64_t)s->sum.l + (uint64_t)v);
        } else {
            s->sum.d += (x->type == SQL_DOUBLE || x->type == SQL_FLOAT) ? x->v.d : (double)x->v.l;
        }
        s->has = 1;
        s->cnt++;
        return true;
    case SQL_AGG_MIN:
    case SQL_AGG_MAX: {
        if (x->is_null)
            return true;
        int r = s->has ? sql_value_compare(x, &s->v) : 0;
        if (!s->has || (c->kind == SQL_AGG_MIN ? r < 0 : r > 0)) {
            if (!keep_value(&s->v, x, UINT32_MAX, mem))
                return false;
            s->has = 1;
        }
        return true;
    }
    case SQL_AGG_ANY_VALUE:
        if (s->has || x->is_null)
            return true;
        s->has = 1;
        return keep_value(&s->v, x, c->max_bytes, mem);
    case SQL_AGG_EARLIEST:
    case SQL_AGG_LATEST:
    case SQL_AGG_EARLIEST_BY:
    case SQL_AGG_LATEST_BY: {
        int64_t t = row_time;
        if (c->kind == SQL_AGG_EARLIEST_BY || c->kind == SQL_AGG_LATEST_BY) {
            if (args[1].is_null)
                return true;
            t = args[1].v.l;
        }
        bool earliest = c->kind == SQL_AGG_EARLIEST || c->kind == SQL_AGG_EARLIEST_BY;
        if (s->has && (earliest ? t >= s->ts : t <= s->ts))
            return true;
        s->has = 1;
        s->ts = t;
        return keep_value(&s->v, x, c->max_bytes, mem);
    }
    case SQL_AGG_COUNT_DISTINCT:
        if (x->is_null)
            return true;
        if (!s->set && !(s->set = set_new(mem)))
            return false;
        return set_add(s->set, x, mem);
    default: return true;
    }
}

int sql_agg_add_row(const struct sql_agg_call *c, void *state, const struct sql_value *row,
                    int64_t row_time, struct arena *mem, struct lerr *err)
{
    if (c->filter) {
        int rc = 0;
        if (!sql_eval_filter(c->filter, row, mem, &rc, err))
            return rc;
    }
    struct sql_value args[2];
    for (int i = 0; i < c->nargs; i++) {
        int rc = sql_eval_row(c->args[i], row, mem, &args[i], err);
        if (rc)
            return rc;
    }
    int rc = sql_agg_add_err(c, state, args, row_time, mem, err);
    if (rc == LERR_NOMEM)
        return lerr_set(err, LERR_NOMEM, "out of memory in aggregation");
    return rc;
}

static bool merge_plain(const struct sql_agg_call *c, void *dst, const void *src,
                        struct arena *mem);

int sql_agg_merge_err(const struct sql_agg_call *c, void *dst, const void *src, struct arena *mem,
                      struct lerr *err)
{
    struct agg_state *d = dst;
    const struct agg_state *s = src;
    if (is_var(c)) {
        var_merge(d, s);
        return 0;
    }
    if (is_sketch(c)) {
        int rc = sql__sketch_merge(c, &d->sk, s->sk, mem, err);
        if (!rc && s->has)
            d->has = 1;
        return rc;
    }
    if (c->kind == SQL_AGG_BIT_AND || c->kind == SQL_AGG_BIT_OR || c->kind == SQL_AGG_BIT_XOR) {
        if (s->has)
            bit_fold(c, d, s->sum.l);
        return 0;
    }
    if (!is_coll(c))
        return merge_plain(c, dst, src, mem) ? 0 : LERR_NOMEM;
    if (!s->has)
        return 0;
    for (uint32_t i = 0; s->coll && i < s->coll->n; i++) {
        int rc = coll_add(c, d, &s->coll->items[i], mem, err);
        if (rc)
            return rc;
    }
    if (!d->coll) {
        if (!(d->coll = arena_zalloc(mem, sizeof *d->coll)))
            return LERR_NOMEM;
        d->coll->bytes = COLL_EMPTY_BYTES;
    }
    d->has = 1;
    return 0;
}

bool sql_agg_merge(const struct sql_agg_call *c, void *dst, const void *src, struct arena *mem)
{
    return sql_agg_merge_err(c, dst, src, mem, NULL) == 0;
}

static bool merge_plain(const struct sql_agg_call *c, void *dst, const void *src,
                        struct arena *mem)
{
    struct agg_state *d = dst;
    const struct agg_state *s = src;
    switch (c->kind) {
    case SQL_AGG_COUNT_STAR:
    case SQL_AGG_COUNT: d->cnt += s->cnt; return true;
    case SQL_AGG_SUM:
    case SQL_AGG_AVG:
        if (!s->has)
            return true;
        if (is_long_sum(c))
            d->sum.l = (int64_t)((uint64_t)d->sum.l + (uint64_t)s->sum.l);
        else
            d->sum.d += s->sum.d;
        d->cnt += s->cnt;
        d->has = 1;
        return true;
    case SQL_AGG_MIN:
    case SQL_AGG_MAX:
    case SQL_AGG_ANY_VALUE: {
        if (!s->has)
            return true;
        struct sql_value one = s->v;
        return sql_agg_add(c, dst, &one, 0, mem);
    }
    case SQL_AGG_EARLIEST:
    case SQL_AGG_LATEST:
    case SQL_AGG_EARLIEST_BY:
    case SQL_AGG_LATEST_BY: {
        if (!s->has)
            return true;
        bool earliest = c->kind == SQL_AGG_EARLIEST || c->kind == SQL_AGG_EARLIEST_BY;
        if (d->has && (earliest ? s->ts >= d->ts : s->ts <= d->ts))
            return true;
        d->has = 1;
        d->ts = s->ts;
        return keep_value(&d->v, &s->v, c->max_bytes, mem);
    }
    case SQL_AGG_COUNT_DISTINCT:
        if (!s->set)
            return true;
        if (!d->set && !(d->set = set_new(mem)))
            return false;
        size_t pos = 0;
        for (struct sql_value v; set_next(s->set, &pos, &v);)
            if (!set_add(d->set, &v, mem))
                return false;
        return true;
    default: return true;
    }
}

void sql_agg_finalize(const struct sql_agg_call *c, const void *state, struct sql_value *out)
{
    const struct agg_state *s = state;
    switch (c->kind) {
    case SQL_AGG_HLL:
    case SQL_AGG_THETA:
    case SQL_AGG_QUANTILES: sql__sketch_finalize(c, s->sk, out); return;
    case SQL_AGG_VAR_SAMP:
    case SQL_AGG_VAR_POP:
    case SQL_AGG_STDDEV_SAMP:
    case SQL_AGG_STDDEV_POP: var_finalize(c, s, out); return;
    case SQL_AGG_BIT_AND:
    case SQL_AGG_BIT_OR:
    case SQL_AGG_BIT_XOR: *out = s->has ? sql_long(s->sum.l) : sql_null(SQL_LONG); return;
    case SQL_AGG_ARRAY_AGG:
    case SQL_AGG_ARRAY_CONCAT:
    case SQL_AGG_STRING_AGG: coll_finalize(c, s, out); return;
    case SQL_AGG_COUNT_STAR:
    case SQL_AGG_COUNT: *out = sql_long(s->cnt); return;
    case SQL_AGG_COUNT_DISTINCT:
        *out = sql_long(s->set ? (int64_t)map_count(&s->set->m) : 0);
        return;
    case SQL_AGG_SUM:
        if (!s->has)
            *out = sql_null(c->result_type);
        else if (is_long_sum(c))
            *out = sql_long(s->sum.l);
        else
            *out = sql_double(s->sum.d);
        return;
    case SQL_AGG_AVG:
        if (!s->has || s->cnt == 0)
            *out = sql_null(c->result_type);
        else if (c->result_type == SQL_LONG)
            *out = sql_long(s->sum.l / s->cnt);
        else
            *out = sql_double((is_long_sum(c) ? (double)s->sum.l : s->sum.d) / (double)s->cnt);
        return;
    default:
        if (!s->has || s->v.is_null) {
            *out = sql_null(c->result_type);
        } else {
            *out = s->v;
            if (sql_type_is_numeric(c->result_type) && out->type != c->result_type) {
                struct sql_value v = sql_value_cast(out, c->result_type, NULL);
                *out = v;
            }
        }
        return;
    }
}

/* ---- bytes -------------------------------------------------------------------------- */

#define STATE_VERSION 1

static void put_u64(struct buf *b, uint64_t v) { buf_put_le64(b, v); }

static void put_value(struct buf *b, const struct sql_value *v)
{
    unsigned char h[2] = {v->type, v->is_null};
    buf_append(b, h, 2);
    if (v->is_null)
        return;
    switch (v->type) {
    case SQL_STRING:
    case SQL_JSON:
    case SQL_HLL_SKETCH:
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH: {
        unsigned char l[4];
        for (int i = 0; i < 4; i++)
            l[i] = (unsigned char)(v->v.s.n >> (8 * i));
        buf_append(b, l, 4);
        buf_append(b, v->v.s.p, v->v.s.n);
        break;
    }
    case SQL_DOUBLE:
    case SQL_FLOAT: {
        uint64_t u;
        memcpy(&u, &v->v.d, 8);
        put_u64(b, u);
        break;
    }
    default: put_u64(b, (uint64_t)v->v.l);
    }
}

/* Kinds whose states are interchangeable share one tag, so that a state
 * written by a LATEST_BY mapping reads back as a stringLatest measure. */
static unsigned char state_family(enum sql_agg_kind k)
{
    switch (k) {
    case SQL_AGG_COUNT_STAR: return SQL_AGG_COUNT;
    case SQL_AGG_EARLIEST_BY: return SQL_AGG_EARLIEST;
    case SQL_AGG_LATEST_BY: return SQL_AGG_LATEST;
    default: return (unsigned char)k;
    }
}

bool sql_agg_serialize(const struct sql_agg_call *c, const void *state, struct buf *out)
{
    const struct agg_state *s = state;
    if (is_sketch(c)) /* the sketch's own bytes, as Druid stores them */
        return sql__sketch_serialize(c, s->sk, out);
    unsigned char h[3] = {STATE_VERSION, state_family(c->kind), s->has};
    buf_append(out, h, 3);
    put_u64(out, (uint64_t)s->cnt);
    put_u64(out, (uint64_t)s->ts);
    uint64_t u;
    memcpy(&u, &s->sum, 8);
    put_u64(out, u);
    switch (c->kind) {
    case SQL_AGG_COUNT_DISTINCT: {
        put_u64(out, s->set ? map_count(&s->set->m) : 0);
        size_t pos = 0;
        for (struct sql_value v; s->set && set_next(s->set, &pos, &v);)
            put_value(out, &v);
        break;
    }
    case SQL_AGG_MIN:
    case SQL_AGG_MAX:
    case SQL_AGG_ANY_VALUE:
    case SQL_AGG_EARLIEST:
    case SQL_AGG_LATEST:
    case SQL_AGG_EARLIEST_BY:
    case SQL_AGG_LATEST_BY: put_value(out, &s->v); break;
    case SQL_AGG_VAR_SAMP:
    case SQL_AGG_VAR_POP:
    case SQL_AGG_STDDEV_SAMP:
    case SQL_AGG_STDDEV_POP: {
        uint64_t m;
        memcpy(&m, &s->m2, 8);
        put_u64(out, m);
        break;
    }
    case SQL_AGG_ARRAY_AGG:
    case SQL_AGG_ARRAY_CONCAT:
    case SQL_AGG_STRING_AGG:
        put_u64(out, s->coll ? s->coll->n : 0);
        for (uint32_t i = 0; s->coll && i < s->coll->n; i++)
            put_value(out, &s->coll->items[i]);
        break;
    default: break;
    }
    return !out->failed;
}

struct rd {
    const unsigned char *p, *e;
};

static bool get_u64(struct rd *r, uint64_t *v) { return util_get_le64(&r->p, r->e, v); }

static bool get_value(struct rd *r, struct sql_value *v, struct arena *mem)
{
    if (r->e - r->p < 2)
        return false;
    memset(v, 0, sizeof *v);
    v->type = r->p[0];
    v->is_null = r->p[1] != 0;
    r->p += 2;
    if (v->type >= SQL__TYPE_COUNT || v->type == SQL_ARRAY || v->type == SQL_INTERVAL)
        return false;
    if (v->is_null)
        return true;
    if (sql_type_has_bytes(v->type)) {
        if (r->e - r->p < 4)
            return false;
        uint32_t n = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                     (uint32_t)r->p[3] << 24;
        r->p += 4;
        if ((size_t)(r->e - r->p) < n)
            return false;
        char *s = arena_alloc(mem, n ? n : 1);
        if (!s)
            return false;
        memcpy(s, r->p, n);
        r->p += n;
        v->v.s.p = s;
        v->v.s.n = n;
        return true;
    }
    uint64_t u;
    if (!get_u64(r, &u))
        return false;
    memcpy(&v->v, &u, 8);
    return true;
}

bool sql_value_write(struct buf *b, const struct sql_value *v)
{
    if (v->type >= SQL__TYPE_COUNT || v->type == SQL_ARRAY || v->type == SQL_INTERVAL)
        return false;
    put_value(b, v);
    return !b->failed;
}

bool sql_value_read(const unsigned char **p, const unsigned char *e, struct sql_value *v,
                    struct arena *mem)
{
    struct rd r = {*p, e};
    if (!get_value(&r, v, mem))
        return false;
    *p = r.p;
    return true;
}

int sql_agg_deserialize(const struct sql_agg_call *c, const void *p, size_t n, void *state,
                        struct arena *mem, struct lerr *err)
{
    struct agg_state *s = state;
    sql_agg_init(c, s);
    if (is_sketch(c)) {
        int rc = sql__sketch_deserialize(c, p, n, &s->sk, mem, err);
        s->has = rc == 0;
        return rc;
    }
    struct rd r = {p, (const unsigned char *)p + n};
    if (n < 27 || r.p[0] != STATE_VERSION || r.p[1] != state_family(c->kind))
        return lerr_set(err, LERR_CORRUPT,
                        "aggregator state is not a %s state (version or kind differs)",
                        agg_names[c->kind]);
    s->has = r.p[2] != 0;
    r.p += 3;
    uint64_t a = 0, b = 0, u = 0;
    if (!get_u64(&r, &a) || !get_u64(&r, &b) || !get_u64(&r, &u))
        return lerr_set(err, LERR_CORRUPT, "aggregator state is truncated");
    s->cnt = (int64_t)a;
    s->ts = (int64_t)b;
    memcpy(&s->sum, &u, 8);
    switch (c->kind) {
    case SQL_AGG_COUNT_DISTINCT: {
        uint64_t k;
        if (!get_u64(&r, &k) || k > n)
            return lerr_set(err, LERR_CORRUPT, "distinct-count state is truncated");
        if (k && !(s->set = set_new(mem)))
            return lerr_set(err, LERR_NOMEM, "out of memory");
        for (uint64_t i = 0; i < k; i++) {
            struct sql_value v;
            if (!get_value(&r, &v, mem) || !set_add(s->set, &v, mem))
                return lerr_set(err, LERR_CORRUPT, "distinct-count state is truncated");
        }
        break;
    }
    case SQL_AGG_MIN:
    case SQL_AGG_MAX:
    case SQL_AGG_ANY_VALUE:
    case SQL_AGG_EARLIEST:
    case SQL_AGG_LATEST:
    case SQL_AGG_EARLIEST_BY:
    case SQL_AGG_LATEST_BY:
        if (!get_value(&r, &s->v, mem))
            return lerr_set(err, LERR_CORRUPT, "aggregator state is truncated");
        break;
    case SQL_AGG_VAR_SAMP:
    case SQL_AGG_VAR_POP:
    case SQL_AGG_STDDEV_SAMP:
    case SQL_AGG_STDDEV_POP:
        if (!get_u64(&r, &u))
            return lerr_set(err, LERR_CORRUPT, "variance state is truncated");
        memcpy(&s->m2, &u, 8);
        break;
    case SQL_AGG_ARRAY_AGG:
    case SQL_AGG_ARRAY_CONCAT:
    case SQL_AGG_STRING_AGG: {
        uint64_t k;
        if (!get_u64(&r, &k) || k > n)
            return lerr_set(err, LERR_CORRUPT, "%s state is truncated", agg_names[c->kind]);
        for (uint64_t i = 0; i < k; i++) {
            struct sql_value v;
            if (!get_value(&r, &v, mem))
                return lerr_set(err, LERR_CORRUPT, "%s state is truncated", agg_names[c->kind]);
            int rc = coll_add(c, s, &v, mem, NULL);
            if (rc == LERR_NOMEM)
                return lerr_set(err, LERR_NOMEM, "out of memory");
            if (rc)
                return lerr_set(err, LERR_CORRUPT, "%s state holds more than its %u maxBytes",
                                agg_names[c->kind], c->max_bytes);
        }
        if (s->has && !s->coll && !(s->coll = arena_zalloc(mem, sizeof *s->coll)))
            return lerr_set(err, LERR_NOMEM, "out of memory");
        if (s->coll && !s->coll->bytes)
            s->coll->bytes = COLL_EMPTY_BYTES;
        break;
    }
    default: break;
    }
    if (r.p != r.e)
        return lerr_set(err, LERR_CORRUPT, "aggregator state has %zu trailing bytes",
                        (size_t)(r.e - r.p));
    return 0;
}

/* BIGINT-like, floating point, or anything else: value families a state may hold. */
static int value_family(uint8_t t)
{
    if (t == SQL_LONG || t == SQL_TIMESTAMP || t == SQL_BOOLEAN || t == SQL_NULL)
        return 0;
    return t == SQL_DOUBLE || t == SQL_FLOAT ? 1 : 2;
}

bool sql_agg_state_compatible(const struct sql_agg_call *a, const struct sql_agg_call *b)
{
    if (state_family(a->kind) != state_family(b->kind))
        return false;
    switch (a->kind) {
    case SQL_AGG_HLL:
    case SQL_AGG_THETA:
    case SQL_AGG_QUANTILES: return true; /* sketches of any size merge */
    case SQL_AGG_COUNT_STAR:
    case SQL_AGG_COUNT: return true; /* a count of rows or of values is a count */
    case SQL_AGG_SUM:
    case SQL_AGG_AVG:
        return is_long_sum(a) == is_long_sum(b); /* the sum's bits are a long or a double */
    default: return value_family(a->result_type) == value_family(b->result_type);
    }
}

/* ---- measures ------------------------------------------------------------------------ */

struct measure_def {
    const char *name;
    enum sql_agg_kind kind;
    uint8_t type;
    unsigned feeds;
};

static const struct measure_def measures[] = {
#define MEASURE_DEF(name, kind, type, feeds) {name, kind, type, feeds},
    SQL_MEASURE_MAP(MEASURE_DEF)
#undef MEASURE_DEF
};

static const struct measure_def *measure_find(const char *name)
{
    for (size_t i = 0; name && i < LS_ARRAY_LEN(measures); i++)
        if (strcasecmp(measures[i].name, name) == 0)
            return &measures[i];
    return NULL;
}

static void measure_call(const struct measure_def *m, struct sql_agg_call *out)
{
    memset(out, 0, sizeof *out);
    out->kind = m->kind;
    out->arg_type = m->type;
    out->result_type = m->type;
    out->nargs = m->kind == SQL_AGG_COUNT_STAR ? 0 : 1;
    out->max_bytes = 1024;
    /* sketch columns: Druid's defaults; the stored value is the sketch */
    out->sketch_out = SQL_SKETCH_OUT_SKETCH;
    out->sketch_type = 0; /* HLL_4 */
    out->sketch_size = m->kind == SQL_AGG_HLL         ? 12
                       : m->kind == SQL_AGG_THETA     ? 16384
                       : m->kind == SQL_AGG_QUANTILES ? 128
                                                      : 0;
}

bool sql_agg_for_measure(const char *measure_type, struct sql_agg_call *out)
{
    const struct measure_def *m = measure_find(measure_type);
    if (m)
        measure_call(m, out);
    return m != NULL;
}

/* Whether a value of type `t` goes into a measure of value type `want` without loss
 * of meaning (the measure's type or narrower). */
static bool value_fits(uint8_t t, uint8_t want)
{
    switch (want) {
    case SQL_STRING: return true;
    case SQL_LONG: return t == SQL_LONG || t == SQL_BOOLEAN || t == SQL_TIMESTAMP || t == SQL_NULL;
    case SQL_FLOAT: return t == SQL_LONG || t == SQL_BOOLEAN || t == SQL_FLOAT || t == SQL_NULL;
    case SQL_DOUBLE:
        return t == SQL_LONG || t == SQL_BOOLEAN || t == SQL_FLOAT || t == SQL_DOUBLE ||
               t == SQL_NULL;
    default: return false;
    }
}

static const char *value_types_text(uint8_t want)
{
    switch (want) {
    case SQL_LONG: return "BIGINT, BOOLEAN or TIMESTAMP";
    case SQL_FLOAT: return "BIGINT, BOOLEAN or FLOAT";
    case SQL_DOUBLE: return "BIGINT, BOOLEAN, FLOAT or DOUBLE";
    default: return "any type";
    }
}

/* "COUNT(*), COUNT(x) or SUM(x) (x: BIGINT, BOOLEAN or TIMESTAMP)": what a measure accepts. */
static void accepts_text(const struct measure_def *m, char *out, size_t cap)
{
    // clang-format off
    static const struct {
        enum sql_agg_kind kind;
        const char *form;
        bool typed;
    } forms[] = {
        {SQL_AGG_COUNT_STAR, "COUNT(*)", false},  {SQL_AGG_COUNT, "COUNT(x)", false},
        {SQL_AGG_SUM, "SUM(x)", true},            {SQL_AGG_MIN, "MIN(x)", true},
        {SQL_AGG_MAX, "MAX(x)", true},            {SQL_AGG_LATEST, "LATEST(x)", true},
        {SQL_AGG_LATEST_BY, "LATEST_BY(x, t)", true},
        {SQL_AGG_EARLIEST, "EARLIEST(x)", true},  {SQL_AGG_EARLIEST_BY, "EARLIEST_BY(x, t)", true},
        {SQL_AGG_HLL, "COUNT(DISTINCT x), APPROX_COUNT_DISTINCT(x), APPROX_COUNT_DISTINCT_DS_HLL(x) "
                      "or DS_HLL(x)", false},
        {SQL_AGG_THETA, "APPROX_COUNT_DISTINCT_DS_THETA(x) or DS_THETA(x)", false},
        {SQL_AGG_QUANTILES, "DS_QUANTILES_SKETCH(x) or APPROX_QUANTILE_DS(x, fraction)", false},
    };
    // clang-format on
    size_t n = 0, total = 0, k = 0;
    bool typed = false;
    for (size_t i = 0; i < LS_ARRAY_LEN(forms); i++)
        total += (m->feeds & SQL_FEEDS(forms[i].kind)) != 0;
    out[0] = '\0';
    for (size_t i = 0; i < LS_ARRAY_LEN(forms) && n < cap; i++) {
        if (!(m->feeds & SQL_FEEDS(forms[i].kind)))
            continue;
        k++;
        typed |= forms[i].typed;
        int w = snprintf(out + n, cap - n, "%s%s",
                         k == 1       ? ""
                         : k == total ? " or "
                                      : ", ",
                         forms[i].form);
        n += w > 0 ? (size_t)w : 0;
    }
    if (typed && n < cap)
        snprintf(out + n, cap - n, " with x of type %s", value_types_text(m->type));
}

/* "COUNT(*)", "SUM(x)", "LATEST_BY(x, t)": a mapping's aggregation in messages. */
static const char *kind_name(const struct sql_agg_call *m)
{
    // clang-format off
    static const char *const names[] = {
        [SQL_AGG_COUNT_STAR] = "COUNT(*)",  [SQL_AGG_COUNT] = "COUNT(x)",
        [SQL_AGG_SUM] = "SUM(x)",           [SQL_AGG_MIN] = "MIN(x)",
        [SQL_AGG_MAX] = "MAX(x)",           [SQL_AGG_AVG] = "AVG(x)",
        [SQL_AGG_EARLIEST] = "EARLIEST(x)", [SQL_AGG_LATEST] = "LATEST(x)",
        [SQL_AGG_EARLIEST_BY] = "EARLIEST_BY(x, t)",
        [SQL_AGG_LATEST_BY] = "LATEST_BY(x, t)",
        [SQL_AGG_COUNT_DISTINCT] = "COUNT(DISTINCT x)",
        [SQL_AGG_ANY_VALUE] = "ANY_VALUE(x)",
        [SQL_AGG_VAR_SAMP] = "VAR_SAMP(x)",       [SQL_AGG_VAR_POP] = "VAR_POP(x)",
        [SQL_AGG_STDDEV_SAMP] = "STDDEV_SAMP(x)", [SQL_AGG_STDDEV_POP] = "STDDEV_POP(x)",
        [SQL_AGG_BIT_AND] = "BIT_AND(x)",         [SQL_AGG_BIT_OR] = "BIT_OR(x)",
        [SQL_AGG_BIT_XOR] = "BIT_XOR(x)",         [SQL_AGG_ARRAY_AGG] = "ARRAY_AGG(x)",
        [SQL_AGG_ARRAY_CONCAT] = "ARRAY_CONCAT_AGG(x)",
        [SQL_AGG_STRING_AGG] = "STRING_AGG(x, separator)",
        [SQL_AGG_HLL] = "an HLL sketch (COUNT(DISTINCT x), APPROX_COUNT_DISTINCT(x), DS_HLL(x))",
        [SQL_AGG_THETA] = "a theta sketch (DS_THETA(x), APPROX_COUNT_DISTINCT_DS_THETA(x))",
        [SQL_AGG_QUANTILES] = "a quantiles sketch (DS_QUANTILES_SKETCH(x), APPROX_QUANTILE_DS(x, f))",
    };
    // clang-format on
    return (unsigned)m->kind < LS_ARRAY_LEN(names) && names[m->kind] ? names[m->kind] : "?";
}

/* How rolled-up rows combine a measure stored with aggregator kind k. */
static const char *combines(enum sql_agg_kind k)
{
    switch (k) {
    case SQL_AGG_MIN: return "keep the smallest value";
    case SQL_AGG_MAX: return "keep the largest value";
    case SQL_AGG_LATEST: return "keep the value of the latest time";
    case SQL_AGG_EARLIEST: return "keep the value of the earliest time";
    case SQL_AGG_HLL:
    case SQL_AGG_THETA:
    case SQL_AGG_QUANTILES: return "merge their sketches";
    default: return "add up";
    }
}

/* Why no measure keeps m, or NULL when some does. */
static const char *unstorable(const struct sql_agg_call *m)
{
    switch (m->kind) {
    case SQL_AGG_COUNT_DISTINCT:
        return "an exact distinct count cannot roll up (rolled-up rows cannot add up plain "
               "counts of distinct values): map APPROX_COUNT_DISTINCT(x) or DS_HLL(x) into an "
               "HLLSketch column, or DS_THETA(x) into a thetaSketch column, or store x as a "
               "dimension and count it at query time";
    case SQL_AGG_AVG:
        return "no measure type keeps an average: map SUM(x) into a doubleSum column and "
               "COUNT(*) into a count column, and divide them at query time";
    case SQL_AGG_ANY_VALUE:
        return "no measure type keeps ANY_VALUE: use LATEST(x) or EARLIEST(x) (a *Latest or "
               "*Earliest column)";
    case SQL_AGG_VAR_SAMP:
    case SQL_AGG_VAR_POP:
    case SQL_AGG_STDDEV_SAMP:
    case SQL_AGG_STDDEV_POP:
        return "no measure type keeps a variance or standard deviation (VARIANCE, VAR_SAMP, "
               "VAR_POP, STDDEV, STDDEV_SAMP and STDDEV_POP are query-only): store x as a "
               "dimension and compute it at query time, or map COUNT(x), SUM(x) and SUM(x * x) "
               "into count, doubleSum and doubleSum columns and derive it from them";
    case SQL_AGG_BIT_AND:
    case SQL_AGG_BIT_OR:
    case SQL_AGG_BIT_XOR:
        return "no measure type keeps BIT_AND, BIT_OR or BIT_XOR (they are query-only): store x "
               "as a dimension and aggregate it at query time";
    case SQL_AGG_ARRAY_AGG:
    case SQL_AGG_ARRAY_CONCAT:
    case SQL_AGG_STRING_AGG:
        return "no measure type keeps ARRAY_AGG, ARRAY_CONCAT_AGG or STRING_AGG (LISTAGG) (they "
               "are query-only): store x as a dimension and collect it at query time";
    default: return NULL;
    }
}

const char *sql_agg_measure_default(const struct sql_agg_call *m, struct lerr *err)
{
    const char *why = unstorable(m);
    if (why) {
        lerr_set(err, LERR_INVALID, "%s", why);
        return NULL;
    }
    uint8_t t = m->arg_type;
    bool whole = t == SQL_LONG || t == SQL_BOOLEAN || t == SQL_TIMESTAMP || t == SQL_NULL;
    bool number = whole || t == SQL_FLOAT || t == SQL_DOUBLE;
    switch (m->kind) {
    case SQL_AGG_COUNT_STAR:
    case SQL_AGG_COUNT: return "count";
    case SQL_AGG_SUM: return whole ? "longSum" : "doubleSum";
    case SQL_AGG_MIN:
    case SQL_AGG_MAX:
        if (!number) {
            lerr_set(err, LERR_INVALID,
                     "no measure type keeps the %s of a %s value (the Min and Max measures "
                     "are numeric): use LATEST(x) or EARLIEST(x), or CAST x to a number",
                     agg_names[m->kind], sql_type_sql_name(t));
            return NULL;
        }
        if (m->kind == SQL_AGG_MIN)
            return whole ? "longMin" : "doubleMin";
        return whole ? "longMax" : "doubleMax";
    case SQL_AGG_LATEST:
    case SQL_AGG_LATEST_BY: return whole ? "longLatest" : number ? "doubleLatest" : "stringLatest";
    case SQL_AGG_EARLIEST:
    case SQL_AGG_EARLIEST_BY:
        return whole ? "longEarliest" : number ? "doubleEarliest" : "stringEarliest";
    case SQL_AGG_HLL: return "HLLSketch";
    case SQL_AGG_THETA: return "thetaSketch";
    case SQL_AGG_QUANTILES: return "quantilesDoublesSketch";
    default: lerr_set(err, LERR_INVALID, "%s cannot feed a measure", kind_name(m)); return NULL;
    }
}

int sql_agg_measure_fit(const char *measure_type, const struct sql_agg_call *m,
                        struct sql_agg_call *col, struct lerr *err)
{
    const char *why = unstorable(m);
    if (why)
        return lerr_set(err, LERR_INVALID, "%s", why);
    const struct measure_def *d = measure_find(measure_type);
    if (!d)
        return lerr_set(err, LERR_INVALID,
                        "measure type %s is not supported yet; give the column one of count, "
                        "longSum, doubleSum, floatSum, long/double/floatMin and Max, "
                        "long/double/stringLatest and Earliest, HLLSketch, thetaSketch, "
                        "quantilesDoublesSketch",
                        measure_type ? measure_type : "(none)");
    char acc[200];
    accepts_text(d, acc, sizeof acc);
    if (!(d->feeds & SQL_FEEDS(m->kind))) {
        struct lerr e;
        lerr_init(&e);
        const char *fit = sql_agg_measure_default(m, &e);
        return lerr_set(err, LERR_INVALID,
                        "it is a %s measure, which accepts %s; %s cannot feed it: rolled-up "
                        "rows of a %s %s, which is not what %s computes. Map %s into %s%s "
                        "column instead",
                        d->name, acc, kind_name(m), d->name, combines(d->kind), kind_name(m),
                        kind_name(m), fit ? "a " : "another", fit ? fit : "");
    }
    bool counts = m->kind == SQL_AGG_COUNT_STAR || m->kind == SQL_AGG_COUNT;
    if (!counts && !is_sketch(m) && !value_fits(m->arg_type, d->type)) {
        struct lerr e;
        lerr_init(&e);
        const char *fit = sql_agg_measure_default(m, &e);
        return lerr_set(err, LERR_INVALID,
                        "it is a %s measure, which accepts %s; here x is %s (CAST it to %s, or "
                        "map %s into %s%s column)",
                        d->name, acc, sql_type_sql_name(m->arg_type), sql_type_sql_name(d->type),
                        kind_name(m), fit ? "a " : "another", fit ? fit : "");
    }
    measure_call(d, col);
    return 0;
}

/* Cuts a string value to max bytes at a UTF-8 boundary (no copy). */
static void cut_value(struct sql_value *v, uint32_t max)
{
    if (v->is_null || (v->type != SQL_STRING && v->type != SQL_JSON) || v->v.s.n <= max)
        return;
    uint32_t n = max;
    while (n > 0 && ((unsigned char)v->v.s.p[n] & 0xC0) == 0x80)
        n--;
    v->v.s.n = n;
}

int sql_agg_add_row_as(const struct sql_agg_call *col, void *state, const struct sql_agg_call *m,
                       const struct sql_value *row, int64_t row_time, struct arena *mem,
                       struct lerr *err)
{
    struct agg_state *s = state;
    bool counts = col->kind == SQL_AGG_COUNT_STAR || col->kind == SQL_AGG_COUNT;
    if (m->filter) {
        int rc = 0;
        if (!sql_eval_filter(m->filter, row, mem, &rc, err)) {
            if (!rc && (m->kind == SQL_AGG_COUNT_STAR || m->kind == SQL_AGG_COUNT) && !counts) {
                /* a count of no row is 0, not NULL: a longSum gets a 0 */
                struct sql_value zero = sql_long(0);
                return sql_agg_add(col, state, &zero, row_time, mem)
                           ? 0
                           : lerr_set(err, LERR_NOMEM, "out of memory in aggregation");
            }
            return rc;
        }
    }
    struct sql_value args[2];
    for (int i = 0; i < m->nargs; i++) {
        int rc = sql_eval_row(m->args[i], row, mem, &args[i], err);
        if (rc)
            return rc;
    }
    if (is_sketch(col)) {
        /* the mapping's value into the column's sketch; a sketch of the
         * family, or the base64 text of one, merges (pre-built sketches) */
        int rc = sql__sketch_add(col, &s->sk, &args[0], true, mem, err);
        if (!rc && !args[0].is_null)
            s->has = 1;
        return rc;
    }
    struct sql_value v;
    int64_t t = row_time;
    switch (m->kind) {
    case SQL_AGG_COUNT_STAR: v = sql_long(1); break;
    case SQL_AGG_COUNT: v = sql_long(!args[0].is_null); break;
    case SQL_AGG_EARLIEST_BY:
    case SQL_AGG_LATEST_BY:
        if (args[1].is_null)
            return 0;
        t = args[1].v.l;
        v = args[0];
        break;
    default: v = args[0]; break;
    }
    if (counts) {
        s->cnt += v.is_null ? 0 : v.v.l;
        return 0;
    }
    if (m->kind == SQL_AGG_EARLIEST || m->kind == SQL_AGG_LATEST ||
        m->kind == SQL_AGG_EARLIEST_BY || m->kind == SQL_AGG_LATEST_BY)
        cut_value(&v, m->max_bytes);
    if (v.is_null) {
        v.type = col->arg_type;
    } else if (v.type != col->arg_type) {
        v = sql_value_cast(&v, col->arg_type, mem);
        if (v.is_null && col->arg_type == SQL_STRING)
            return lerr_set(err, LERR_NOMEM, "out of memory in aggregation");
    }
    if (!sql_agg_add(col, state, &v, t, mem))
        return lerr_set(err, LERR_NOMEM, "out of memory in aggregation");
    return 0;
}
