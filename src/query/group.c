/*
 * group.c — the group table of GROUP BY and of global aggregates: one record
 * per group (its key values, then one accumulator per aggregate) in one
 * array that grows by doubling (so the executor's loops address accumulators
 * as base + gid * stride; sql_agg states hold no pointers into themselves,
 * so moving them is safe), and an open-addressing hash index of (hash, gid).
 * Key strings are copied into the query arena when a
 * group is created; accumulators are either native (struct query__nacc: COUNT,
 * SUM, AVG as a sum and a count, MIN, MAX over numbers, with the same rules
 * as sql_agg) or sql_agg
 * states.
 *
 * The index is its own table, not util/map.h: query__groups_find runs once per
 * row, and on the shared map (24-byte entries, the key compare through a
 * function pointer) BENCH=query "filtered top pages" took 227 ms against
 * 191 ms here, back to back on a quiet machine ("top pages" 64.5 against
 * 64.3 ms; median of 5 over 10 M rows). Slots here are 16 bytes, so the
 * index also charges the query's memory budget less per group, and
 * keys_equal is inlined into the probe loop.
 *
 * Entry points: query__groups_init(), query__groups_destroy(), query__groups_hash(),
 * query__groups_find(), query__groups_final(), query__nacc_merge(), query__value_copy().
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define EMPTY_GID UINT32_MAX
/* Groups are ids below UINT32_MAX; far past any memory cap anyway. */
#define MAX_GROUPS (UINT32_MAX - 1u)

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

int query__groups_init(struct query__groups *g, size_t nkeys, const struct query__agg_plan *aggs,
                       size_t naggs, size_t acc_size, struct query__ctx *x)
{
    memset(g, 0, sizeof *g);
    g->nkeys = nkeys;
    g->aggs = aggs;
    g->naggs = naggs;
    g->acc_off = align16(nkeys * sizeof(struct sql_value));
    g->rec_size = align16(g->acc_off + acc_size);
    g->x = x;
    g->nslots = 1024;
    int rc = query__ctx_charge(x, g->nslots * sizeof *g->slots, "the group-by hash table");
    if (rc)
        return rc;
    g->slots = malloc(g->nslots * sizeof *g->slots);
    if (!g->slots)
        return lerr_set(x->err, LERR_NOMEM, "out of memory for the group-by hash table");
    memset(g->slots, 0xff, g->nslots * sizeof *g->slots);
    return 0;
}

void query__groups_destroy(struct query__groups *g)
{
    if (g->slots) {
        free(g->slots);
        query__ctx_uncharge(g->x, g->nslots * sizeof *g->slots);
    }
    if (g->recs) {
        free(g->recs);
        query__ctx_uncharge(g->x, g->cap * g->rec_size);
    }
    memset(g, 0, sizeof *g);
}

/* ---- hashing ------------------------------------------------------------------- */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

/* Strings hash 8 bytes at a time (group keys are often long titles);
 * everything else as sql_value_hash, which keeps 1 and 1.0 together. */
static uint64_t hash_value(const struct sql_value *v)
{
    if (v->is_null || (v->type != SQL_STRING && v->type != SQL_JSON))
        return sql_value_hash(v);
    const unsigned char *p = (const unsigned char *)v->v.s.p;
    size_t n = v->v.s.n;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w ^ 0x5555) * 0x94d049bb133111ebULL;
    return mix(h);
}

uint64_t query__groups_hash(const struct sql_value *keys, size_t n)
{
    uint64_t h = 0x2545f4914f6cdd1dULL;
    for (size_t i = 0; i < n; i++)
        h = mix(h * 31 + hash_value(&keys[i]));
    return h;
}

static bool keys_equal(const struct sql_value *a, const struct sql_value *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].is_null || b[i].is_null) {
            if (a[i].is_null != b[i].is_null)
                return false;
            continue;
        }
        if (sql_value_compare(&a[i], &b[i]) != 0)
            return false;
    }
    return true;
}

/* ---- values -------------------------------------------------------------------- */

bool query__value_copy(struct sql_value *dst, const struct sql_value *src, struct arena *mem)
{
    *dst = *src;
    if (src->is_null)
        return true;
    if (sql_type_has_bytes(src->type)) {
        char *p = arena_alloc(mem, src->v.s.n ? src->v.s.n : 1);
        if (!p)
            return false;
        if (src->v.s.n)
            memcpy(p, src->v.s.p, src->v.s.n);
        dst->v.s.p = p;
    } else if (src->type == SQL_ARRAY) {
        struct sql_value *items = arena_alloc(mem, (src->v.a.n ? src->v.a.n : 1) * sizeof *items);
        if (!items)
            return false;
        for (uint32_t i = 0; i < src->v.a.n; i++)
            if (!query__value_copy(&items[i], &src->v.a.items[i], mem))
                return false;
        dst->v.a.items = items;
    }
    return true;
}

/* ---- the table ------------------------------------------------------------------- */

static int grow_slots(struct query__groups *g)
{
    size_t n = g->nslots * 2;
    int rc = query__ctx_charge(g->x, n * sizeof *g->slots, "the group-by hash table");
    if (rc)
        return rc;
    struct query__slot *s = malloc(n * sizeof *s);
    if (!s) {
        query__ctx_uncharge(g->x, n * sizeof *g->slots);
        return lerr_set(g->x->err, LERR_NOMEM, "out of memory for the group-by hash table");
    }
    memset(s, 0xff, n * sizeof *s);
    size_t mask = n - 1;
    for (size_t i = 0; i < g->nslots; i++) {
        if (g->slots[i].gid == EMPTY_GID)
            continue;
        size_t j = g->slots[i].hash & mask;
        while (s[j].gid != EMPTY_GID)
            j = (j + 1) & mask;
        s[j] = g->slots[i];
    }
    free(g->slots);
    query__ctx_uncharge(g->x, g->nslots * sizeof *g->slots);
    g->slots = s;
    g->nslots = n;
    return 0;
}

static int new_group(struct query__groups *g, const struct sql_value *keys, uint32_t *gid)
{
    if (g->ngroups >= MAX_GROUPS)
        return query__ctx_too_big(g->x, "the group-by (too many groups)");
    uint32_t id = g->ngroups;
    if (id == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 256;
        size_t more = (ncap - g->cap) * g->rec_size;
        int rc = query__ctx_charge(g->x, more, "the group-by state");
        if (rc)
            return rc;
        uint8_t *nr = realloc(g->recs, ncap * g->rec_size);
        if (!nr) {
            query__ctx_uncharge(g->x, more);
            return lerr_set(g->x->err, LERR_NOMEM, "out of memory for group-by state");
        }
        g->recs = nr;
        g->cap = ncap;
    }
    g->ngroups++;
    struct sql_value *k = query__groups_keys(g, id);
    for (size_t i = 0; i < g->nkeys; i++)
        if (!query__value_copy(&k[i], &keys[i], &g->x->keep))
            return query__ctx_nomem(g->x, "group keys");
    uint8_t *acc = query__groups_acc(g, id);
    for (size_t i = 0; i < g->naggs; i++) {
        const struct query__agg_plan *a = &g->aggs[i];
        if (a->mode == QA_SQL || a->mode == QA_MERGE)
            sql_agg_init(a->state, acc + a->off);
        else
            memset(acc + a->off, 0, sizeof(struct query__nacc));
    }
    *gid = id;
    return 0;
}

int query__groups_find(struct query__groups *g, const struct sql_value *keys, uint64_t hash,
                       uint32_t *gid)
{
    size_t mask = g->nslots - 1;
    size_t i = hash & mask;
    for (;;) {
        struct query__slot *s = &g->slots[i];
        if (s->gid == EMPTY_GID)
            break;
        if (s->hash == hash && keys_equal(query__groups_keys(g, s->gid), keys, g->nkeys)) {
            *gid = s->gid;
            return 0;
        }
        i = (i + 1) & mask;
    }
    int rc = new_group(g, keys, gid);
    if (rc)
        return rc;
    g->slots[i].hash = hash;
    g->slots[i].gid = *gid;
    if ((size_t)g->ngroups * 10 > g->nslots * 7)
        return grow_slots(g);
    return 0;
}

void query__nacc_merge(const struct query__agg_plan *a, struct query__nacc *dst,
                       const struct query__nacc *src)
{
    if (!src->n)
        return;
    switch (a->call->kind) {
    case SQL_AGG_SUM:
    case SQL_AGG_AVG:
        if (a->dbl)
            dst->d += src->d;
        else
            dst->l = (int64_t)((uint64_t)dst->l + (uint64_t)src->l);
        break;
    case SQL_AGG_MIN:
        if (!dst->n || (a->dbl ? query__dlt(src->d, dst->d) : src->l < dst->l)) {
            dst->l = src->l;
            dst->d = src->d;
        }
        break;
    case SQL_AGG_MAX:
        if (!dst->n || (a->dbl ? query__dlt(dst->d, src->d) : src->l > dst->l)) {
            dst->l = src->l;
            dst->d = src->d;
        }
        break;
    default: /* COUNT(*), COUNT(x): the count is all there is */ break;
    }
    dst->n += src->n;
}

/* ---- finalizing ------------------------------------------------------------------ */

static struct sql_value typed_result(struct sql_value v, int result_type)
{
    if (sql_type_is_numeric(result_type) && v.type != result_type)
        return sql_value_cast(&v, result_type, NULL);
    return v;
}

void query__groups_final(const struct query__groups *g, uint32_t gid, size_t i,
                         struct sql_value *out)
{
    const struct query__agg_plan *a = &g->aggs[i];
    const uint8_t *p = query__groups_acc(g, gid) + a->off;
    if (a->mode == QA_SQL || a->mode == QA_MERGE) {
        sql_agg_finalize(a->state, p, out);
        return;
    }
    struct query__nacc acc;
    memcpy(&acc, p, sizeof acc);
    const struct sql_agg_call *c = a->call;
    switch (c->kind) {
    case SQL_AGG_COUNT_STAR:
    case SQL_AGG_COUNT: *out = sql_long(acc.n); return;
    case SQL_AGG_SUM:
        /* as sql_agg: the sum's class comes from the argument's type */
        if (!acc.n)
            *out = sql_null(c->result_type);
        else
            *out = a->dbl ? sql_double(acc.d) : sql_long(acc.l);
        return;
    case SQL_AGG_AVG: /* as sql_agg_finalize */
        if (!acc.n)
            *out = sql_null(c->result_type);
        else if (c->result_type == SQL_LONG)
            *out = sql_long(a->dbl ? (int64_t)acc.d / acc.n : acc.l / acc.n);
        else
            *out = sql_double((a->dbl ? acc.d : (double)acc.l) / (double)acc.n);
        return;
    default: { /* MIN, MAX: the argument's value, typed as the result */
        if (!acc.n) {
            *out = sql_null(c->result_type);
            return;
        }
        struct sql_value v = a->dbl ? sql_double(acc.d) : sql_long(acc.l);
        v.type = c->arg_type;
        if (c->arg_type == SQL_FLOAT)
            v.v.d = (float)v.v.d;
        *out = typed_result(v, c->result_type);
        return;
    }
    }
}
