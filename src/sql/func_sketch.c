/*
 * func_sketch.c — DataSketches in SQL: the accumulators behind the sketch
 * aggregates (agg.c keeps a pointer to one in its state), the binding of
 * those aggregates' literal arguments, and the scalar functions over
 * sketch values, with Druid's names and results:
 *
 *   aggregates  APPROX_COUNT_DISTINCT(x), APPROX_COUNT_DISTINCT_DS_HLL(x[,
 *               lgK, tgtHllType]), DS_HLL(x[, lgK, tgtHllType]),
 *               APPROX_COUNT_DISTINCT_DS_THETA(x[, size]), DS_THETA(x[,
 *               size]), DS_QUANTILES_SKETCH(x[, k]), APPROX_QUANTILE_DS(x,
 *               fraction[, k]), and COUNT(DISTINCT x) when approximate
 *   HLL         HLL_SKETCH_ESTIMATE(s[, round]),
 *               HLL_SKETCH_ESTIMATE_WITH_ERROR_BOUNDS(s[, numStdDev]),
 *               HLL_SKETCH_UNION([lgK, tgtHllType,] s, ...),
 *               HLL_SKETCH_TO_STRING(s)
 *   theta       THETA_SKETCH_ESTIMATE(s),
 *               THETA_SKETCH_ESTIMATE_WITH_ERROR_BOUNDS(s, numStdDev),
 *               THETA_SKETCH_UNION / _INTERSECT / _NOT([size,] s, ...)
 *   quantiles   DS_GET_QUANTILE(s, f), DS_GET_QUANTILES(s, f, ...),
 *               DS_RANK(s, v), DS_CDF(s, split, ...), DS_HISTOGRAM(s,
 *               split, ...), DS_QUANTILE_SUMMARY(s)
 *
 * A sketch value (sql.h) is the DataSketches compact image. An accumulator
 * holds the family's union object (HLL: a union of lgMaxK = lgK, whose
 * gadget updates in order, so its estimate is HIP until a sketch is merged
 * in, as DataSketches' own; theta: a union, as Druid's theta aggregator;
 * quantiles: a DoublesUnion). The union is malloc'd by the sketch library;
 * the accumulator lives in the arena the state's variable data lives in and
 * registers an arena cleanup (util.h, arena_on_reset) that frees the union
 * when that arena is reset, released or destroyed, so dropping states is
 * still dropping their arena. The memory the union may grow to is charged
 * to the arena's cap and budget when the accumulator is made
 * (arena_charge), as Druid reserves a sketch's maximum size per group
 * and per in-memory row:
 * HLL 2^lgK registers of 8 bits plus its coupon set, theta 16 bytes per
 * nominal entry (its table at most), quantiles the updatable image of a
 * stream of 2^32 items. A state read from bytes (a segment's) keeps only
 * the checked image until something is added or merged into it, so
 * scanning stored sketches makes no union for them.
 *
 * Entry points: sql__sketch_add(), sql__sketch_merge(),
 * sql__sketch_finalize(), sql__sketch_serialize(), sql__sketch_deserialize(),
 * sql__sketch_bind_agg(), sql_bind_sketch_fn().
 */
#include "sketch/hll.h"
#include "sketch/quantiles.h"
#include "sketch/theta.h"
#include "sql/sql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL(name) \
    static void name(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)

struct sql_sketch_acc {
    uint8_t kind; /* enum sql_agg_kind: SQL_AGG_HLL, _THETA, _QUANTILES */
    void *u;      /* sketch_hll_union, sketch_theta_union, sketch_quantiles_union */
    /* Or, until something is added or merged into it, only the image a
     * stored state was read from (checked; in the arena): a scan that
     * shows or merges stored sketches makes no union for them. */
    const uint8_t *img;
    size_t nimg;
    uint8_t *bytes; /* the last finalized image (malloc'd), until the next change */
    size_t nbytes;
    bool fresh;
    /* Or one value and nothing else yet (a string's bytes in the arena): a
     * job's batch makes a state per input row, and a query one per group,
     * most of which never see a second value; a union (which reserves the
     * most it may grow to: 263 KB for theta's 16384 entries) is made only
     * when a second value or a merge comes, and the value replayed first, so
     * the updates and their order are the same */
    bool has_one;
    struct sql_value one;
    bool hooked; /* acc_free is registered with the arena */
};

static int sketch_type_of(int kind)
{
    return kind == SQL_AGG_HLL     ? SQL_HLL_SKETCH
           : kind == SQL_AGG_THETA ? SQL_THETA_SKETCH
                                   : SQL_QUANTILES_SKETCH;
}

static void acc_free(void *arg)
{
    struct sql_sketch_acc *a = arg;
    switch (a->kind) {
    case SQL_AGG_HLL: sketch_hll_union_free(a->u); break;
    case SQL_AGG_THETA: sketch_theta_union_free(a->u); break;
    default: sketch_quantiles_union_free(a->u); break;
    }
    free(a->bytes);
    a->u = NULL;
    a->bytes = NULL;
}

/* What the union may grow to (see the header). */
static size_t acc_reserve(const struct sql_agg_call *c)
{
    switch (c->kind) {
    case SQL_AGG_HLL: return ((size_t)2 << c->sketch_size) + 1024;
    case SQL_AGG_THETA: return (size_t)c->sketch_size * 16 + 1024;
    default: {
        int levels = 0;
        for (uint64_t n = ((uint64_t)1 << 32) / (c->sketch_size ? c->sketch_size : 1); n > 1;
             n >>= 1)
            levels++;
        return ((size_t)2 + (size_t)levels) * c->sketch_size * 8 + 1024;
    }
    }
}

static int acc_merge_image(struct sql_sketch_acc *a, const struct sql_value *v, struct lerr *err);
static int acc_update(struct sql_sketch_acc *a, const struct sql_value *x, struct lerr *err);
static void result_free(int kind, void *r);

/* An accumulator with nothing in it yet, made in mem (with its cleanup). */
static struct sql_sketch_acc *acc_empty(const struct sql_agg_call *c, struct sql_sketch_acc **pa,
                                        struct arena *mem)
{
    struct sql_sketch_acc *a = *pa;
    if (a)
        return a->u || a->img || a->has_one ? NULL : a;
    if (!(a = arena_zalloc(mem, sizeof *a)) || !arena_on_reset(mem, acc_free, a))
        return NULL;
    a->hooked = true;
    a->kind = (uint8_t)c->kind;
    *pa = a;
    return a;
}

/* A new union of the call's family and parameters. */
static void *union_new(const struct sql_agg_call *c, struct lerr *err)
{
    struct sketch_theta_config cfg;
    switch (c->kind) {
    case SQL_AGG_HLL: return sketch_hll_union_new((int)c->sketch_size, err);
    case SQL_AGG_THETA:
        sketch_theta_config_default(&cfg);
        cfg.nominal_entries = c->sketch_size;
        return sketch_theta_union_new(&cfg, err);
    default: return sketch_quantiles_union_new((int)c->sketch_size, err);
    }
}

/* The call's accumulator, made on first use in mem, with its union. */
static int acc_get(const struct sql_agg_call *c, struct sql_sketch_acc **pa, struct arena *mem,
                   struct lerr *err)
{
    struct sql_sketch_acc *a = *pa;
    if (a && a->u)
        return 0;
    if (!a && !(a = acc_empty(c, pa, mem)))
        return lerr_set(err, LERR_NOMEM, "out of memory for a %s sketch",
                        sql_type_sql_name(sketch_type_of(c->kind)));
    if (!arena_charge(mem, acc_reserve(c)))
        return lerr_set(err, LERR_NOMEM, "out of memory for a %s sketch",
                        sql_type_sql_name(sketch_type_of(c->kind)));
    if (!(a->u = union_new(c, err)))
        return err && err->code ? err->code : LERR_NOMEM;
    if (!a->hooked) { /* a stored state read back (sql__sketch_deserialize) */
        if (!arena_on_reset(mem, acc_free, a)) {
            acc_free(a);
            return lerr_set(err, LERR_NOMEM, "out of memory for a sketch");
        }
        a->hooked = true;
    }
    if (a->has_one) { /* the value kept until now goes first */
        a->has_one = false;
        int rc = acc_update(a, &a->one, err);
        if (rc)
            return rc;
    }
    if (a->img) { /* a stored sketch that now takes more */
        struct sql_value v = {.type = (uint8_t)sketch_type_of(c->kind),
                              .v.s = {(const char *)a->img, (uint32_t)a->nimg}};
        a->img = NULL;
        int rc = acc_merge_image(a, &v, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- reading sketch values ---------------------------------------------------------- */

static struct sketch_hll *hll_read(const struct sql_value *v, struct lerr *err)
{
    return sketch_hll_deserialize(v->v.s.p, v->v.s.n, err);
}

static struct sketch_theta_compact *theta_read(const struct sql_value *v, struct lerr *err)
{
    return sketch_theta_compact_deserialize(v->v.s.p, v->v.s.n, SKETCH_DEFAULT_SEED, err);
}

static struct sketch_quantiles *quantiles_read(const struct sql_value *v, struct lerr *err)
{
    return sketch_quantiles_deserialize(v->v.s.p, v->v.s.n, err);
}

/* Merges sketch image v of the accumulator's family. */
static int acc_merge_image(struct sql_sketch_acc *a, const struct sql_value *v, struct lerr *err)
{
    int rc = 0;
    switch (a->kind) {
    case SQL_AGG_HLL: {
        struct sketch_hll *s = hll_read(v, err);
        if (!s)
            return err && err->code ? err->code : LERR_CORRUPT;
        rc = sketch_hll_union_update(a->u, s, err);
        sketch_hll_union_settle(a->u); /* see sql__sketch_merge */
        sketch_hll_free(s);
        break;
    }
    case SQL_AGG_THETA: {
        struct sketch_theta_compact *s = theta_read(v, err);
        if (!s)
            return err && err->code ? err->code : LERR_CORRUPT;
        rc = sketch_theta_union_add(a->u, s, err);
        sketch_theta_compact_free(s);
        break;
    }
    default: {
        struct sketch_quantiles *s = quantiles_read(v, err);
        if (!s)
            return err && err->code ? err->code : LERR_CORRUPT;
        rc = sketch_quantiles_union_update(a->u, s, err);
        sketch_quantiles_free(s);
        break;
    }
    }
    return rc;
}

/* Updates the accumulator with one value (an array: each element). */
static int acc_update(struct sql_sketch_acc *a, const struct sql_value *x, struct lerr *err)
{
    if (x->is_null)
        return 0;
    if (x->type == SQL_ARRAY) {
        for (uint32_t i = 0; i < x->v.a.n; i++) {
            int rc = acc_update(a, &x->v.a.items[i], err);
            if (rc)
                return rc;
        }
        return 0;
    }
    bool is_long = x->type == SQL_LONG || x->type == SQL_TIMESTAMP || x->type == SQL_BOOLEAN;
    bool is_double = x->type == SQL_DOUBLE || x->type == SQL_FLOAT;
    bool is_text = x->type == SQL_STRING || x->type == SQL_JSON;
    switch (a->kind) {
    case SQL_AGG_HLL: {
        uint64_t h[2];
        if (is_long)
            sketch_hash_long_inline(x->v.l, SKETCH_DEFAULT_SEED, h);
        else if (is_double)
            sketch_hash_double(x->v.d, SKETCH_DEFAULT_SEED, h);
        else if (is_text && x->v.s.n)
            sketch_hash_bytes(x->v.s.p, x->v.s.n, SKETCH_DEFAULT_SEED, h);
        else
            return 0;
        return sketch_hll_union_update_hash(a->u, h, err);
    }
    case SQL_AGG_THETA:
        if (is_long)
            return sketch_theta_union_update_long(a->u, x->v.l, err);
        if (is_double)
            return sketch_theta_union_update_double(a->u, x->v.d, err);
        if (is_text)
            return sketch_theta_union_update_bytes(a->u, x->v.s.p, x->v.s.n, err);
        return 0;
    default:
        if (is_long)
            return sketch_quantiles_union_update_value(a->u, (double)x->v.l, err);
        if (is_double)
            return sketch_quantiles_union_update_value(a->u, x->v.d, err);
        return 0;
    }
}

/* Keeps scalar x as an empty accumulator's one value: true when kept. */
static bool acc_keep_one(const struct sql_agg_call *c, struct sql_sketch_acc **pa,
                         const struct sql_value *x, struct arena *mem)
{
    bool text = x->type == SQL_STRING || x->type == SQL_JSON;
    if (x->type == SQL_ARRAY || sql_type_is_sketch(x->type) || (*pa && (*pa)->u))
        return false;
    struct sql_sketch_acc *a = acc_empty(c, pa, mem);
    if (!a)
        return false;
    a->one = *x;
    if (text && x->v.s.n) {
        char *p = arena_alloc(mem, x->v.s.n);
        if (!p)
            return false;
        memcpy(p, x->v.s.p, x->v.s.n);
        a->one.v.s.p = p;
    }
    a->has_one = true;
    a->fresh = false;
    return true;
}

/* A pre-built sketch (base64 of a valid image of the family) as an empty
 * accumulator's image: true when it was one and is kept. */
static bool acc_keep_prebuilt(const struct sql_agg_call *c, struct sql_sketch_acc **pa,
                              const unsigned char *p, long n, struct arena *mem)
{
    if ((*pa && ((*pa)->u || (*pa)->img || (*pa)->has_one)) || n <= 0)
        return false;
    struct lerr e;
    lerr_init(&e);
    void *r;
    switch (c->kind) {
    case SQL_AGG_HLL: r = sketch_hll_deserialize(p, (size_t)n, &e); break;
    case SQL_AGG_THETA:
        r = sketch_theta_compact_deserialize(p, (size_t)n, SKETCH_DEFAULT_SEED, &e);
        break;
    default: r = sketch_quantiles_deserialize(p, (size_t)n, &e); break;
    }
    if (!r)
        return false;
    result_free(c->kind, r);
    struct sql_sketch_acc *a = acc_empty(c, pa, mem);
    if (!a)
        return false;
    a->img = p;
    a->nimg = (size_t)n;
    a->fresh = false;
    return true;
}

int sql__sketch_add(const struct sql_agg_call *c, struct sql_sketch_acc **pa,
                    const struct sql_value *x, bool prebuilt, struct arena *mem, struct lerr *err)
{
    if (x->is_null)
        return 0;
    unsigned char *pre = NULL; /* a pre-built sketch's bytes (prebuilt strings) */
    long npre = -1;
    if (prebuilt && x->type == SQL_STRING && x->v.s.n >= 8 &&
        (pre = arena_alloc(mem, x->v.s.n / 4 * 3 + 3)))
        npre = sql_base64_decode(x->v.s.p, x->v.s.n, pre);
    /* into an empty accumulator: a pre-built sketch as its image, or the
     * value as it is (base64 that is no sketch of the family is a value) */
    if ((npre > 0 && acc_keep_prebuilt(c, pa, pre, npre, mem)) || acc_keep_one(c, pa, x, mem))
        return 0;
    int rc = acc_get(c, pa, mem, err);
    if (rc)
        return rc;
    struct sql_sketch_acc *a = *pa;
    a->fresh = false;
    if (x->type == sketch_type_of(c->kind)) {
        struct lerr e;
        lerr_init(&e);
        rc = acc_merge_image(a, x, &e);
        if (rc == LERR_NOMEM)
            return lerr_set(err, LERR_NOMEM, "out of memory in a sketch");
        if (rc)
            return lerr_set(err, LERR_INVALID,
                            "the %s value is not a valid sketch (%s); it must be the "
                            "DataSketches image of one, as DS_%s builds",
                            sql_type_sql_name(x->type), e.msg,
                            c->kind == SQL_AGG_HLL     ? "HLL"
                            : c->kind == SQL_AGG_THETA ? "THETA"
                                                       : "QUANTILES_SKETCH");
        return 0;
    }
    if (npre > 0) { /* a pre-built sketch in base64 (as Druid ingests them) merges */
        struct sql_value img = {.type = (uint8_t)sketch_type_of(c->kind),
                                .v.s = {(const char *)pre, (uint32_t)npre}};
        struct lerr e;
        lerr_init(&e);
        if (acc_merge_image(a, &img, &e) == 0)
            return 0;
        if (e.code == LERR_NOMEM)
            return lerr_set(err, LERR_NOMEM, "out of memory in a sketch");
    }
    return acc_update(a, x, err);
}

/* A sketch of value x alone: the result of a union of it, made and freed here
 * (not charged to an arena: it holds one value), so the hashing and the bytes
 * are the union path's. */
static void *acc_result(const struct sql_agg_call *c, const struct sql_sketch_acc *a,
                        struct lerr *err);
static void *one_result(const struct sql_agg_call *c, const struct sql_value *x, struct lerr *err)
{
    struct sql_sketch_acc t = {.kind = (uint8_t)c->kind, .u = union_new(c, err)};
    void *r = t.u && acc_update(&t, x, err) == 0 ? acc_result(c, &t, err) : NULL;
    acc_free(&t);
    return r;
}

/* The accumulator's result as a new library sketch (HLL of the call's type). */
static void *acc_result(const struct sql_agg_call *c, const struct sql_sketch_acc *a,
                        struct lerr *err)
{
    if (a && !a->u && !a->img && !a->has_one)
        a = NULL;        /* nothing came */
    if (a && a->has_one) /* one value: a sketch of it alone, as a union would give */
        return one_result(c, &a->one, err);
    if (a && !a->u) { /* a stored image: read it */
        switch (c->kind) {
        case SQL_AGG_HLL: return sketch_hll_deserialize(a->img, a->nimg, err);
        case SQL_AGG_THETA:
            return sketch_theta_compact_deserialize(a->img, a->nimg, SKETCH_DEFAULT_SEED, err);
        default: return sketch_quantiles_deserialize(a->img, a->nimg, err);
        }
    }
    switch (c->kind) {
    case SQL_AGG_HLL:
        if (!a) {
            return sketch_hll_new((int)c->sketch_size, (enum sketch_hll_type)c->sketch_type, err);
        }
        return sketch_hll_union_result(a->u, (enum sketch_hll_type)c->sketch_type, err);
    case SQL_AGG_THETA: {
        if (!a) {
            struct sketch_theta_config cfg;
            sketch_theta_config_default(&cfg);
            cfg.nominal_entries = c->sketch_size;
            struct sketch_theta *s = sketch_theta_new(&cfg, err);
            struct sketch_theta_compact *r = s ? sketch_theta_compact(s, true, err) : NULL;
            sketch_theta_free(s);
            return r;
        }
        return sketch_theta_union_result(a->u, true, err);
    }
    default:
        if (!a)
            return sketch_quantiles_new((int)c->sketch_size, err);
        return sketch_quantiles_union_result(a->u, err);
    }
}

static void result_free(int kind, void *r)
{
    if (kind == SQL_AGG_HLL)
        sketch_hll_free(r);
    else if (kind == SQL_AGG_THETA)
        sketch_theta_compact_free(r);
    else
        sketch_quantiles_free(r);
}

/* The compact image of a result, malloc'd. */
static uint8_t *result_image(int kind, const void *r, size_t *n, struct lerr *err)
{
    uint8_t *p = NULL;
    switch (kind) {
    case SQL_AGG_HLL:
        *n = sketch_hll_serialized_size(r, true);
        if ((p = malloc(*n ? *n : 1)) && !sketch_hll_serialize(r, true, p, *n, err)) {
            free(p);
            p = NULL;
        }
        break;
    case SQL_AGG_THETA:
        *n = sketch_theta_compact_serialized_size(r, false);
        if ((p = malloc(*n ? *n : 1)))
            sketch_theta_compact_serialize_to(r, false, p, *n);
        break;
    default:
        *n = sketch_quantiles_serialized_size(r, 1);
        if ((p = malloc(*n ? *n : 1)))
            sketch_quantiles_serialize(r, 1, p, *n);
        break;
    }
    if (!p && err && !err->code)
        lerr_set(err, LERR_NOMEM, "out of memory serializing a sketch");
    return p;
}

int sql__sketch_merge(const struct sql_agg_call *c, struct sql_sketch_acc **dst,
                      const struct sql_sketch_acc *src, struct arena *mem, struct lerr *err)
{
    if (!src || (!src->u && !src->img && !src->has_one))
        return 0;
    /* into an empty accumulator, one value is kept as one value */
    if (src->has_one && acc_keep_one(c, dst, &src->one, mem))
        return 0;
    int rc = acc_get(c, dst, mem, err);
    if (rc)
        return rc;
    struct sql_sketch_acc *d = *dst;
    d->fresh = false;
    if (src->has_one) /* one value: added as it came */
        return acc_update(d, &src->one, err);
    if (!src->u) { /* a stored image */
        struct sql_value v = {.type = (uint8_t)sketch_type_of(c->kind),
                              .v.s = {(const char *)src->img, (uint32_t)src->nimg}};
        return acc_merge_image(d, &v, err);
    }
    void *r = NULL;
    switch (c->kind) {
    case SQL_AGG_HLL:
        /* src may be shared with other readers (a realtime row's state that
         * queries merge under a read lock): every change to a union is
         * followed by sketch_hll_union_settle(), so reading its result here
         * writes nothing */
        r = sketch_hll_union_result(src->u, SKETCH_HLL_8, err);
        rc = r ? sketch_hll_union_update(d->u, r, err) : LERR_NOMEM;
        sketch_hll_union_settle(d->u);
        break;
    case SQL_AGG_THETA:
        r = sketch_theta_union_result(src->u, true, err);
        rc = r ? sketch_theta_union_add(d->u, r, err) : LERR_NOMEM;
        break;
    default:
        r = sketch_quantiles_union_result(src->u, err);
        rc = r ? sketch_quantiles_union_update(d->u, r, err) : LERR_NOMEM;
        break;
    }
    if (r)
        result_free(c->kind, r);
    return rc;
}

/* Druid's estimates come out rounded (Math.round) as BIGINT. */
static int64_t round_estimate(double e) { return (int64_t)llround(e); }

void sql__sketch_finalize(const struct sql_agg_call *c, const struct sql_sketch_acc *acc,
                          struct sql_value *out)
{
    struct sql_sketch_acc *a = (struct sql_sketch_acc *)acc; /* caches its image */
    if (a && !a->u && !a->img && !a->has_one)
        a = NULL; /* nothing came */
    if (c->sketch_out == SQL_SKETCH_OUT_SKETCH && a && !a->u && !a->has_one) {
        sql_set_str(out, sketch_type_of(c->kind), (const char *)a->img, a->nimg);
        return;
    }
    if (c->sketch_out == SQL_SKETCH_OUT_SKETCH && a && a->fresh) {
        sql_set_str(out, sketch_type_of(c->kind), (const char *)a->bytes, a->nbytes);
        return;
    }
    *out = sql_null(c->result_type);
    void *r = acc_result(c, a, NULL);
    if (!r)
        return; /* out of memory: NULL (finalizing cannot fail otherwise) */
    switch (c->sketch_out) {
    case SQL_SKETCH_OUT_ESTIMATE: {
        double e = c->kind == SQL_AGG_HLL ? sketch_hll_estimate(r)
                                          : sketch_theta_compact_estimate(r);
        *out = sql_long(round_estimate(e));
        break;
    }
    case SQL_SKETCH_OUT_QUANTILE: {
        double q = NAN;
        if (sketch_quantiles_quantile(r, c->fraction, SKETCH_QUANTILES_DRUID, &q, NULL) == 0)
            *out = sql_double(q);
        break;
    }
    default: {
        size_t n = 0;
        uint8_t *p = result_image(c->kind, r, &n, NULL);
        if (!p)
            break;
        if (a && (a->u || a->has_one)) {
            free(a->bytes);
            a->bytes = p;
            a->nbytes = n;
            a->fresh = true;
            sql_set_str(out, sketch_type_of(c->kind), (const char *)p, n);
        } else {
            /* no row came: the empty sketch's image, the same bytes for
             * every state of the call's parameters: kept once per thread */
            static _Thread_local struct {
                uint8_t kind, type, n;
                uint32_t size;
                uint8_t b[48];
            } empty[32];
            for (size_t i = 0; i < sizeof empty / sizeof *empty && n <= sizeof empty[i].b; i++) {
                if (!empty[i].n) {
                    empty[i].kind = (uint8_t)c->kind;
                    empty[i].type = c->sketch_type;
                    empty[i].size = c->sketch_size;
                    empty[i].n = (uint8_t)n;
                    memcpy(empty[i].b, p, n);
                }
                if (empty[i].kind == c->kind && empty[i].type == c->sketch_type &&
                    empty[i].size == c->sketch_size) {
                    sql_set_str(out, sketch_type_of(c->kind), (const char *)empty[i].b,
                                empty[i].n);
                    break;
                }
            }
            free(p);
        }
        break;
    }
    }
    result_free(c->kind, r);
}

bool sql__sketch_serialize(const struct sql_agg_call *c, const struct sql_sketch_acc *a,
                           struct buf *out)
{
    if (a && a->img && !a->u && !a->has_one)
        return buf_append(out, a->img, a->nimg);
    struct lerr e;
    lerr_init(&e);
    void *r = acc_result(c, a, &e);
    if (!r) {
        out->failed = true;
        return false;
    }
    size_t n = 0;
    uint8_t *p = result_image(c->kind, r, &n, &e);
    result_free(c->kind, r);
    if (!p) {
        out->failed = true;
        return false;
    }
    buf_append(out, p, n);
    free(p);
    return !out->failed;
}

int sql__sketch_deserialize(const struct sql_agg_call *c, const void *p, size_t n,
                            struct sql_sketch_acc **pa, struct arena *mem, struct lerr *err)
{
    *pa = NULL;
    /* checked once here, then kept as bytes: a union only if more comes */
    struct lerr e;
    lerr_init(&e);
    void *r;
    switch (c->kind) {
    case SQL_AGG_HLL: r = sketch_hll_deserialize(p, n, &e); break;
    case SQL_AGG_THETA: r = sketch_theta_compact_deserialize(p, n, SKETCH_DEFAULT_SEED, &e); break;
    default: r = sketch_quantiles_deserialize(p, n, &e); break;
    }
    if (!r && e.code == LERR_NOMEM)
        return lerr_set(err, LERR_NOMEM, "out of memory reading a sketch");
    if (!r)
        return lerr_set(err, LERR_CORRUPT, "stored %s is corrupt: %s",
                        sql_type_sql_name(sketch_type_of(c->kind)), e.msg);
    result_free(c->kind, r);
    struct sql_sketch_acc *a = arena_zalloc(mem, sizeof *a);
    uint8_t *img = arena_alloc(mem, n ? n : 1);
    if (!a || !img)
        return lerr_set(err, LERR_NOMEM, "out of memory reading a sketch");
    memcpy(img, p, n);
    a->kind = (uint8_t)c->kind;
    a->img = img;
    a->nimg = n;
    *pa = a;
    return 0;
}

/* ---- binding the aggregates ------------------------------------------------------------ */

static int lit_long(struct sql_bctx *b, struct sql_node *n, int i, const char *what, int64_t lo,
                    int64_t hi, int64_t *out)
{
    struct sql_node *a = n->args[i]; /* bound already */
    if (a->kind != NK_LIT || a->k.is_null || a->k.type != SQL_LONG || a->k.v.l < lo ||
        a->k.v.l > hi)
        return sql_bind_error(b, a,
                              "the %s argument of %s must be an integer literal from %lld to %lld",
                              what, sql_funcs[n->func].name, (long long)lo, (long long)hi);
    *out = a->k.v.l;
    return 0;
}

static bool pow2(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

static int lit_pow2(struct sql_bctx *b, struct sql_node *n, int i, const char *what, int64_t lo,
                    int64_t hi, int64_t *out)
{
    int rc = lit_long(b, n, i, what, lo, hi, out);
    if (rc)
        return rc;
    if (!pow2(*out)) {
        int64_t up = lo;
        while (up < *out)
            up *= 2;
        return sql_bind_error(b, n->args[i],
                              "the %s argument of %s must be a power of two, not %lld (try %lld)",
                              what, sql_funcs[n->func].name, (long long)*out, (long long)up);
    }
    return 0;
}

static int hll_type_arg(struct sql_bctx *b, struct sql_node *n, int i, uint8_t *out)
{
    const char *p;
    size_t len;
    if (sql_arg_lit_string(b, n, i, "tgtHllType", &p, &len))
        return LERR_INVALID;
    for (int t = SKETCH_HLL_4; t <= SKETCH_HLL_8; t++) {
        const char *name = sketch_hll_type_name((enum sketch_hll_type)t);
        if (strlen(name) == len && memcmp(name, p, len) == 0) {
            *out = (uint8_t)t;
            return 0;
        }
    }
    return sql_bind_error(b, n->args[i],
                          "unknown tgtHllType '%.*s' for %s: use 'HLL_4', 'HLL_6' or 'HLL_8'",
                          (int)(len > 40 ? 40 : len), p, sql_funcs[n->func].name);
}

/* ---- sketch measure columns' parameters ---------------------------------------------- */

const char *const sql_sketch_param_keys[] = {"lgK", "tgtHllType", "size", "k", NULL};

int sql_agg_sketch_param_set(struct sql_agg_call *c, const char *key, int64_t n, const char *s,
                             struct lerr *err)
{
    /* which measure type takes the key, and its bounds */
    static const struct {
        const char *key, *measure;
        enum sql_agg_kind kind;
        int64_t lo, hi;
        bool pow2;
    } keys[] = {
        {"lgK", "HLLSketch", SQL_AGG_HLL, SKETCH_HLL_MIN_LGK, SKETCH_HLL_MAX_LGK, false},
        {"tgtHllType", "HLLSketch", SQL_AGG_HLL, 0, 0, false},
        {"size", "thetaSketch", SQL_AGG_THETA, 16, 1 << 26, true},
        {"k", "quantilesDoublesSketch", SQL_AGG_QUANTILES, SKETCH_QUANTILES_MIN_K,
         SKETCH_QUANTILES_MAX_K, true},
    };
    size_t i = 0;
    while (i < LS_ARRAY_LEN(keys) && strcmp(keys[i].key, key) != 0)
        i++;
    if (i == LS_ARRAY_LEN(keys))
        return lerr_set(err, LERR_INVALID,
                        "%s is not a sketch parameter; use lgK and tgtHllType (HLLSketch), size "
                        "(thetaSketch) or k (quantilesDoublesSketch)",
                        key);
    if (c->kind != keys[i].kind)
        return lerr_set(err, LERR_INVALID,
                        "%s is a parameter of %s columns, not of this one; drop it", key,
                        keys[i].measure);
    if (!keys[i].lo) { /* tgtHllType */
        for (int t = SKETCH_HLL_4; s && t <= SKETCH_HLL_8; t++)
            if (strcmp(s, sketch_hll_type_name((enum sketch_hll_type)t)) == 0) {
                c->sketch_type = (uint8_t)t;
                return 0;
            }
        return lerr_set(err, LERR_INVALID,
                        "tgtHllType must be the string \"HLL_4\", \"HLL_6\" or \"HLL_8\"");
    }
    if (s || n < keys[i].lo || n > keys[i].hi || (keys[i].pow2 && !pow2(n)))
        return lerr_set(err, LERR_INVALID, "%s must be %s from %lld to %lld", key,
                        keys[i].pow2 ? "a power of two" : "a whole number", (long long)keys[i].lo,
                        (long long)keys[i].hi);
    c->sketch_size = (uint32_t)n;
    return 0;
}

size_t sql_agg_sketch_params(const struct sql_agg_call *c, struct sql_sketch_param out[2])
{
    switch (c->kind) {
    case SQL_AGG_HLL:
        out[0] = (struct sql_sketch_param){"lgK", c->sketch_size, NULL};
        out[1] = (struct sql_sketch_param){
            "tgtHllType", 0, sketch_hll_type_name((enum sketch_hll_type)c->sketch_type)};
        return 2;
    case SQL_AGG_THETA: out[0] = (struct sql_sketch_param){"size", c->sketch_size, NULL}; return 1;
    case SQL_AGG_QUANTILES:
        out[0] = (struct sql_sketch_param){"k", c->sketch_size, NULL};
        return 1;
    default: return 0;
    }
}

void sql_agg_sketch_params_text(const struct sql_agg_call *c, char *buf, size_t cap)
{
    struct sql_sketch_param p[2];
    size_t n = sql_agg_sketch_params(c, p), at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && at < cap; i++) {
        int w = p[i].s ? snprintf(buf + at, cap - at, "%s%s %s", i ? ", " : "", p[i].key, p[i].s)
                       : snprintf(buf + at, cap - at, "%s%s %lld", i ? ", " : "", p[i].key,
                                  (long long)p[i].n);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

int sql__sketch_bind_agg(struct sql_bctx *b, struct sql_node *n, struct sql_agg_call *out)
{
    int64_t v;
    int rc = 0;
    const char *fname = sql_funcs[n->func].name;
    switch (n->func) {
    case F_COUNT:
    case F_APPROX_CD:
    case F_HLL1:
    case F_HLL2:
        out->kind = SQL_AGG_HLL;
        out->sketch_size = SKETCH_HLL_DEFAULT_LGK;
        out->sketch_type = SKETCH_HLL_4;
        out->sketch_out = n->func == F_HLL2 ? SQL_SKETCH_OUT_SKETCH : SQL_SKETCH_OUT_ESTIMATE;
        if (n->nargs > 1 &&
            (rc = lit_long(b, n, 1, "lgK", SKETCH_HLL_MIN_LGK, SKETCH_HLL_MAX_LGK, &v)) == 0)
            out->sketch_size = (uint32_t)v;
        if (!rc && n->nargs > 2)
            rc = hll_type_arg(b, n, 2, &out->sketch_type);
        out->sketch_given = n->nargs > 1;
        break;
    case F_THETA1:
    case F_THETA2:
        out->kind = SQL_AGG_THETA;
        out->sketch_size = SKETCH_THETA_DEFAULT_NOMINAL;
        out->sketch_out = n->func == F_THETA2 ? SQL_SKETCH_OUT_SKETCH : SQL_SKETCH_OUT_ESTIMATE;
        if (n->nargs > 1 && (rc = lit_pow2(b, n, 1, "size", 16, 1 << 26, &v)) == 0)
            out->sketch_size = (uint32_t)v;
        out->sketch_given = n->nargs > 1;
        break;
    case F_DSQ:
    case F_APPROX_QUANTILE: {
        out->kind = SQL_AGG_QUANTILES;
        out->sketch_size = SKETCH_QUANTILES_DEFAULT_K;
        out->sketch_out = n->func == F_DSQ ? SQL_SKETCH_OUT_SKETCH : SQL_SKETCH_OUT_QUANTILE;
        int ki = n->func == F_DSQ ? 1 : 2;
        if (n->func == F_APPROX_QUANTILE) {
            struct sql_node *a = n->args[1];
            bool num = a->kind == NK_LIT && !a->k.is_null &&
                       (a->k.type == SQL_DOUBLE || a->k.type == SQL_LONG);
            double f = !num ? -1 : a->k.type == SQL_LONG ? (double)a->k.v.l : a->k.v.d;
            if (!num || !(f >= 0 && f <= 1)) {
                rc = sql_bind_error(b, a,
                                    "the fraction argument of %s must be a number literal from "
                                    "0 to 1, such as 0.95",
                                    fname);
                break;
            }
            out->fraction = f;
        }
        if (n->nargs > ki && (rc = lit_pow2(b, n, ki, "k", SKETCH_QUANTILES_MIN_K,
                                            SKETCH_QUANTILES_MAX_K, &v)) == 0)
            out->sketch_size = (uint32_t)v;
        out->sketch_given = n->nargs > ki;
        break;
    }
    default: return sql_bind_error(b, n, "%s is not a sketch aggregate", fname);
    }
    if (rc)
        return rc;
    struct sql_node *x = n->args[0];
    int t = x->type, want = sketch_type_of(out->kind);
    if (sql_type_is_sketch(t) && t != want)
        return sql_bind_error(b, x,
                              "%s cannot aggregate a %s: it builds a %s (use the functions of "
                              "that sketch family)",
                              fname, sql_type_sql_name(t), sql_type_sql_name(want));
    if (t == SQL_INTERVAL)
        return sql_bind_error(b, x, "%s cannot aggregate INTERVAL values", fname);
    if (out->kind == SQL_AGG_QUANTILES && t != want && !sql_type_is_numeric(t) && t != SQL_NULL)
        return sql_bind_error(b, x, "%s needs numbers but got %s (CAST it to DOUBLE)", fname,
                              sql_type_sql_name(t));
    if (out->kind == SQL_AGG_QUANTILES && t != want && t != SQL_DOUBLE && t != SQL_ARRAY)
        sql_coerce(b, n, 0, SQL_DOUBLE);
    if (t == SQL_NULL && out->kind != SQL_AGG_QUANTILES)
        sql_coerce(b, n, 0, SQL_STRING);
    out->arg_type = n->args[0]->type;
    out->nargs = 1;
    out->result_type = (uint8_t)(out->sketch_out == SQL_SKETCH_OUT_SKETCH     ? want
                                 : out->sketch_out == SQL_SKETCH_OUT_ESTIMATE ? SQL_LONG
                                                                              : SQL_DOUBLE);
    return b->err && b->err->code ? b->err->code : 0;
}

/* ---- scalar functions over sketch values ------------------------------------------------ */

/* Records a run-time error naming the function for a sketch that could not be read. */
static void bad_sketch(const struct sql_node *n, struct sql_ectx *c, const struct lerr *e)
{
    if (e->code == LERR_NOMEM)
        sql_rt_error(c, "%s: out of memory", sql_funcs[n->func].name);
    else
        sql_rt_error(c, "%s: the argument is not a valid sketch: %s", sql_funcs[n->func].name,
                     e->msg);
}

/* Copies a library result's image into the batch arena as the value. */
static void put_image(const struct sql_node *n, struct sql_ectx *c, int kind, void *r,
                      struct sql_value *out)
{
    struct lerr e;
    lerr_init(&e);
    size_t len = 0;
    uint8_t *p = result_image(kind, r, &len, &e);
    char *q = p ? sql_alloc(c, len) : NULL;
    if (!p)
        bad_sketch(n, c, &e);
    if (q) {
        memcpy(q, p, len);
        sql_set_str(out, n->type, q, len);
    } else {
        *out = sql_null(n->type);
    }
    free(p);
}

static void put_doubles(const struct sql_node *n, struct sql_ectx *c, const double *d, size_t k,
                        struct sql_value *out)
{
    struct sql_value *items = (struct sql_value *)sql_alloc(c, (k ? k : 1) * sizeof *items);
    if (!items) {
        *out = sql_null(n->type);
        return;
    }
    for (size_t i = 0; i < k; i++)
        items[i] = isnan(d[i]) ? sql_null(SQL_DOUBLE) : sql_double(d[i]);
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = items;
    out->v.a.n = (uint32_t)k;
}

static void put_text(const struct sql_node *n, struct sql_ectx *c, const char *s, size_t len,
                     struct sql_value *out)
{
    char *q = sql_alloc(c, len);
    if (!q) {
        *out = sql_null(n->type);
        return;
    }
    memcpy(q, s, len);
    sql_set_str(out, SQL_STRING, q, len);
}

EVAL(hll_estimate_fn)
{
    SQL_ARG(0, s);
    struct lerr e;
    lerr_init(&e);
    struct sketch_hll *h = hll_read(&s, &e);
    if (!h) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    double est = sketch_hll_estimate(h);
    sketch_hll_free(h);
    if (n->nargs > 1) {
        SQL_ARG(1, round);
        if (sql_value_truthy(&round))
            est = (double)round_estimate(est);
    }
    *out = sql_double(est);
}

EVAL(hll_bounds_fn)
{
    SQL_ARG(0, s);
    int64_t sd = 1;
    if (n->nargs > 1) {
        SQL_ARG(1, k);
        sd = k.v.l;
    }
    struct lerr e;
    lerr_init(&e);
    struct sketch_hll *h = hll_read(&s, &e);
    if (!h) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    double d[3] = {sketch_hll_estimate(h), 0, 0};
    int rc = sd >= 1 && sd <= 3 ? sketch_hll_bounds(h, (int)sd, &d[1], &d[2], &e) : LERR_INVALID;
    sketch_hll_free(h);
    if (rc) {
        sql_rt_error(c, "%s: numStdDev must be 1, 2 or 3, not %lld", sql_funcs[n->func].name,
                     (long long)sd);
        *out = sql_null(n->type);
        return;
    }
    put_doubles(n, c, d, 3, out);
}

EVAL(hll_to_string_fn)
{
    SQL_ARG(0, s);
    struct lerr e;
    lerr_init(&e);
    struct sketch_hll *h = hll_read(&s, &e);
    if (!h) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    char tmp[1024];
    size_t len = sketch_hll_to_string(h, tmp, sizeof tmp);
    sketch_hll_free(h);
    put_text(n, c, tmp, len < sizeof tmp ? len : sizeof tmp - 1, out);
}

/* HLL_SKETCH_UNION([lgK, tgtHllType,] s, ...): ival packs lgK and the type; aux = first sketch arg. */
EVAL(hll_union_fn)
{
    int first = (int)(n->ival >> 8 & 0xff);
    struct lerr e;
    lerr_init(&e);
    struct sketch_hll_union *u = sketch_hll_union_new((int)(n->ival >> 16), &e);
    if (!u) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    for (int i = first; i < n->nargs; i++) {
        struct sql_value s;
        sql_eval_arg(n->args[i], c, &s);
        if (s.is_null)
            continue; /* Druid's union skips NULL sketches */
        struct sketch_hll *h = hll_read(&s, &e);
        if (!h || sketch_hll_union_update(u, h, &e)) {
            sketch_hll_free(h);
            sketch_hll_union_free(u);
            bad_sketch(n, c, &e);
            *out = sql_null(n->type);
            return;
        }
        sketch_hll_free(h);
    }
    struct sketch_hll *r = sketch_hll_union_result(u, (enum sketch_hll_type)(n->ival & 0xff), &e);
    sketch_hll_union_free(u);
    if (!r) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    put_image(n, c, SQL_AGG_HLL, r, out);
    sketch_hll_free(r);
}

EVAL(theta_estimate_fn)
{
    SQL_ARG(0, s);
    struct lerr e;
    lerr_init(&e);
    struct sketch_theta_compact *t = theta_read(&s, &e);
    if (!t) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    *out = sql_double(sketch_theta_compact_estimate(t));
    sketch_theta_compact_free(t);
}

EVAL(theta_bounds_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, k);
    if (k.v.l < 1 || k.v.l > 3) {
        sql_rt_error(c, "%s: numStdDev must be 1, 2 or 3, not %lld", sql_funcs[n->func].name,
                     (long long)k.v.l);
        *out = sql_null(n->type);
        return;
    }
    struct lerr e;
    lerr_init(&e);
    struct sketch_theta_compact *t = theta_read(&s, &e);
    if (!t) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    /* Druid's SketchEstimateWithErrorBounds, as JSON */
    char tmp[256], a[32], hi[32], lo[32];
    sql_fmt_double(sketch_theta_compact_estimate(t), false, a);
    sql_fmt_double(sketch_theta_compact_upper_bound(t, (int)k.v.l), false, hi);
    sql_fmt_double(sketch_theta_compact_lower_bound(t, (int)k.v.l), false, lo);
    sketch_theta_compact_free(t);
    int len = snprintf(tmp, sizeof tmp,
                       "{\"estimate\":%s,\"highBound\":%s,\"lowBound\":%s,\"numStdDev\":%d}", a,
                       hi, lo, (int)k.v.l);
    put_text(n, c, tmp, (size_t)len, out);
    out->type = SQL_JSON;
}

/* THETA_SKETCH_UNION / _INTERSECT / _NOT([size,] s, ...): ival = variant | first << 8 | size << 16. */
EVAL(theta_setop_fn)
{
    int op = (int)(n->ival & 0xff), first = (int)(n->ival >> 8 & 0xff);
    struct sketch_theta_config cfg;
    sketch_theta_config_default(&cfg);
    cfg.nominal_entries = (uint32_t)(n->ival >> 16);
    struct lerr e;
    lerr_init(&e);
    struct sketch_theta_compact *acc = NULL;
    struct sketch_theta_union *u = op == 0 ? sketch_theta_union_new(&cfg, &e) : NULL;
    struct sketch_theta_intersection *x =
        op == 1 ? sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &e) : NULL;
    bool ok = op == 2 || u || x;
    for (int i = first; ok && i < n->nargs; i++) {
        struct sql_value s;
        sql_eval_arg(n->args[i], c, &s);
        if (s.is_null) {
            if (op == 0)
                continue; /* a NULL adds nothing to a union */
            ok = false;   /* and makes an intersection or difference NULL */
            lerr_init(&e);
            break;
        }
        struct sketch_theta_compact *t = theta_read(&s, &e);
        if (!t) {
            ok = false;
            break;
        }
        if (op == 0) {
            ok = sketch_theta_union_add(u, t, &e) == 0;
        } else if (op == 1) {
            ok = sketch_theta_intersection_add(x, t, &e) == 0;
        } else if (!acc) {
            acc = t;
            t = NULL;
        } else {
            struct sketch_theta_compact *d =
                sketch_theta_a_not_b(acc, t, true, SKETCH_DEFAULT_SEED, &e);
            ok = d != NULL;
            sketch_theta_compact_free(acc);
            acc = d;
        }
        sketch_theta_compact_free(t);
    }
    struct sketch_theta_compact *r = NULL;
    if (ok && op == 0)
        r = sketch_theta_union_result(u, true, &e);
    else if (ok && op == 1)
        r = sketch_theta_intersection_result(x, true, &e);
    else if (ok)
        r = acc, acc = NULL;
    sketch_theta_union_free(u);
    sketch_theta_intersection_free(x);
    sketch_theta_compact_free(acc);
    if (!r) {
        if (e.code)
            bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    put_image(n, c, SQL_AGG_THETA, r, out);
    sketch_theta_compact_free(r);
}

/* DS_GET_QUANTILE(S), DS_RANK, DS_CDF, DS_HISTOGRAM, DS_QUANTILE_SUMMARY: ival = variant. */
EVAL(quantiles_fn)
{
    SQL_ARG(0, s);
    int op = (int)n->ival;
    size_t m = n->nargs - 1;
    double *args = m ? (double *)sql_alloc(c, m * sizeof *args) : NULL;
    if (m && !args) {
        *out = sql_null(n->type);
        return;
    }
    for (size_t i = 0; i < m; i++) {
        struct sql_value v;
        sql_eval_arg(n->args[i + 1], c, &v);
        if (v.is_null) {
            *out = sql_null(n->type);
            return;
        }
        args[i] = v.v.d;
    }
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles *q = quantiles_read(&s, &e);
    if (!q) {
        bad_sketch(n, c, &e);
        *out = sql_null(n->type);
        return;
    }
    double one = NAN;
    double *res = NULL;
    int rc = 0;
    switch (op) {
    case 0: rc = sketch_quantiles_quantile(q, args[0], SKETCH_QUANTILES_DRUID, &one, &e); break;
    case 1:
        if ((res = (double *)sql_alloc(c, m * sizeof *res)))
            rc = sketch_quantiles_quantiles(q, args, m, SKETCH_QUANTILES_DRUID, res, &e);
        break;
    case 2: rc = sketch_quantiles_rank(q, args[0], SKETCH_QUANTILES_DRUID, &one, &e); break;
    case 3:
    case 4:
        if ((res = (double *)sql_alloc(c, (m + 1) * sizeof *res)))
            rc = op == 3 ? sketch_quantiles_cdf(q, args, m, SKETCH_QUANTILES_DRUID, res, &e)
                         : sketch_quantiles_pmf(q, args, m, SKETCH_QUANTILES_DRUID, res, &e);
        if (res && !rc && op == 4) /* Druid's histogram: the PMF times n */
            for (size_t i = 0; i <= m; i++)
                res[i] *= (double)sketch_quantiles_n(q);
        break;
    default: {
        char *t = sketch_quantiles_to_string(q, 0, 0, &e);
        if (t)
            put_text(n, c, t, strlen(t), out);
        else
            rc = LERR_NOMEM;
        free(t);
        break;
    }
    }
    sketch_quantiles_free(q);
    if (rc) {
        sql_rt_error(c, "%s: %s", sql_funcs[n->func].name, e.msg);
        *out = sql_null(n->type);
        return;
    }
    if (op == 0 || op == 2)
        *out = isnan(one) ? sql_null(SQL_DOUBLE) : sql_double(one);
    else if (op == 1)
        res ? put_doubles(n, c, res, m, out) : (void)(*out = sql_null(n->type));
    else if (op == 3 || op == 4)
        res ? put_doubles(n, c, res, m + 1, out) : (void)(*out = sql_null(n->type));
}

/* Requires argument i to be a sketch of type `want` (a NULL literal passes). */
static int sketch_arg(struct sql_bctx *b, struct sql_node *n, int i, int want)
{
    int t = n->args[i]->type;
    if (t == want || t == SQL_NULL)
        return 0;
    if (t == SQL_STRING) {
        /* a base64 text (a literal, a column of pre-built sketches) */
        sql_coerce(b, n, i, want);
        return b->err && b->err->code ? b->err->code : 0;
    }
    return sql_bind_error(
        b, n->args[i], "%s needs a %s as argument %d but got %s (build one with %s)",
        sql_funcs[n->func].name, sql_type_sql_name(want), i + 1, sql_type_sql_name(t),
        want == SQL_HLL_SKETCH     ? "DS_HLL(x)"
        : want == SQL_THETA_SKETCH ? "DS_THETA(x)"
                                   : "DS_QUANTILES_SKETCH(x)");
}

int sql_bind_sketch_fn(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant, rc;
    const char *fname = sql_funcs[n->func].name;
    int64_t x;
    switch (v) {
    case 0: /* HLL_SKETCH_ESTIMATE */
    case 1: /* _WITH_ERROR_BOUNDS */
        if ((rc = sketch_arg(b, n, 0, SQL_HLL_SKETCH)))
            return rc;
        if (n->nargs > 1 && (rc = sql_arg_check(b, n, 1, v == 0 ? SQL_BOOLEAN : SQL_LONG)))
            return rc;
        n->type = v == 0 ? SQL_DOUBLE : SQL_ARRAY;
        n->fn = v == 0 ? hll_estimate_fn : hll_bounds_fn;
        return 0;
    case 2: { /* HLL_SKETCH_UNION([lgK, tgtHllType,] s...) */
        int first = 0;
        int64_t lgk = SKETCH_HLL_DEFAULT_LGK;
        uint8_t type = SKETCH_HLL_4;
        if (n->nargs > 0 && n->args[0]->type == SQL_LONG) {
            if ((rc = lit_long(b, n, 0, "lgK", SKETCH_HLL_MIN_LGK, SKETCH_HLL_MAX_LGK, &lgk)))
                return rc;
            first = 1;
            if (n->nargs > 1 && n->args[1]->type == SQL_STRING && n->args[1]->kind == NK_LIT) {
                if ((rc = hll_type_arg(b, n, 1, &type)))
                    return rc;
                first = 2;
            }
        }
        if (first >= n->nargs)
            return sql_bind_error(b, n, "%s needs at least one sketch to union", fname);
        for (int i = first; i < n->nargs; i++)
            if ((rc = sketch_arg(b, n, i, SQL_HLL_SKETCH)))
                return rc;
        n->ival = (int64_t)type | (int64_t)first << 8 | lgk << 16;
        n->type = SQL_HLL_SKETCH;
        n->fn = hll_union_fn;
        return 0;
    }
    case 3: /* HLL_SKETCH_TO_STRING */
        if ((rc = sketch_arg(b, n, 0, SQL_HLL_SKETCH)))
            return rc;
        n->type = SQL_STRING;
        n->fn = hll_to_string_fn;
        return 0;
    case 4: /* THETA_SKETCH_ESTIMATE */
    case 5: /* _WITH_ERROR_BOUNDS */
        if ((rc = sketch_arg(b, n, 0, SQL_THETA_SKETCH)))
            return rc;
        if (v == 5 && (rc = lit_long(b, n, 1, "numStdDev", 1, 3, &x)))
            return rc;
        n->type = v == 4 ? SQL_DOUBLE : SQL_JSON;
        n->fn = v == 4 ? theta_estimate_fn : theta_bounds_fn;
        return 0;
    case 6:   /* THETA_SKETCH_UNION */
    case 7:   /* _INTERSECT */
    case 8: { /* _NOT */
        int first = 0;
        int64_t size = SKETCH_THETA_DEFAULT_NOMINAL;
        if (n->nargs > 0 && n->args[0]->type == SQL_LONG) {
            if ((rc = lit_pow2(b, n, 0, "size", 16, 1 << 26, &size)))
                return rc;
            first = 1;
        }
        if (first >= n->nargs)
            return sql_bind_error(b, n, "%s needs at least one sketch", fname);
        for (int i = first; i < n->nargs; i++)
            if ((rc = sketch_arg(b, n, i, SQL_THETA_SKETCH)))
                return rc;
        n->ival = (int64_t)(v - 6) | (int64_t)first << 8 | size << 16;
        n->type = SQL_THETA_SKETCH;
        n->fn = theta_setop_fn;
        return 0;
    }
    default: { /* quantiles: 9 GET_QUANTILE, 10 GET_QUANTILES, 11 RANK, 12 CDF, 13 HISTOGRAM, 14 SUMMARY */
        int op = v - 9;
        if ((rc = sketch_arg(b, n, 0, SQL_QUANTILES_SKETCH)))
            return rc;
        if (op != 5 && n->nargs < 2)
            return sql_bind_error(b, n, "%s needs a %s after the sketch", fname,
                                  op <= 1   ? "fraction"
                                  : op == 2 ? "value"
                                            : "split point");
        if (op == 5 && n->nargs != 1)
            return sql_bind_error(b, n, "%s takes only the sketch", fname);
        for (int i = 1; i < n->nargs; i++)
            if ((rc = sql_arg_check(b, n, i, SQL_DOUBLE)))
                return rc;
        n->ival = op;
        n->type = op == 0 || op == 2 ? SQL_DOUBLE : op == 5 ? SQL_STRING : SQL_ARRAY;
        n->fn = quantiles_fn;
        return 0;
    }
    }
}
