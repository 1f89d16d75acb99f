/*
 * partial.c — a block's groups split over the nodes of a cluster (query.h,
 * "Partial plans"; the nodes' side is api/fanout.c). The node that takes a
 * query plans its top block once over its own copy of the table's columns;
 * every node (itself included) runs the same statement over its share of
 * the rows (the segments assigned to it and its realtime rows) as far as
 * the groups, before HAVING, ORDER BY and LIMIT, and sends them as a part;
 * the parts' groups merge here as the threads' partial groups merge in
 * exec.c, and the block finishes on the merged groups as it would have on
 * its own groups. So the answer is the one a single server gives, except
 * where merging in another order may differ: sums of doubles in their last
 * bits, ties of EARLIEST/LATEST at one time, ANY_VALUE, ARRAY_AGG's order.
 *
 * A part's bytes (little-endian):
 *   "LSPART01", the plan's fingerprint (QUERY_PART_FP_LEN hex digits),
 *   u64 groups, then per group: its keys (sql_value_write), then per
 *   aggregate either a native accumulator (u64 n, u64 l, u64 bits of d)
 *   or u32 length + the state's bytes (sql_agg_serialize, as segments keep
 *   measures).
 * The fingerprint hashes what the bytes mean (key types, each aggregate's
 * mode, kind, argument type and place): two nodes that bound the block
 * against different columns make different fingerprints, and a part of
 * another plan is refused rather than misread.
 *
 * Entry points: query__partial_eligible(), query__partial_fp(),
 * query__partial_write(), query__partial_gather().
 */
#include <stdio.h>
#include <string.h>

#include "query/exec_int.h"

#define PART_MAGIC "LSPART01"
#define PART_MAGIC_LEN 8

bool query__partial_eligible(const struct query__plan *p, char *why, size_t n)
{
    const struct sql_select *q = p->q;
    if (!q->aggregate || q->explain || !p->src->snap) {
        snprintf(why, n, "the top block does not aggregate over a table");
        return false;
    }
    for (size_t i = 0; i < q->nkeys; i++) {
        int t = sql_expr_type(q->keys[i]);
        if (t == SQL_ARRAY || t == SQL_INTERVAL || sql_expr_is_multi_value(q->keys[i])) {
            snprintf(why, n, "group key %zu is an ARRAY or multi-value expression", i + 1);
            return false;
        }
    }
    for (size_t i = 0; i < q->naggs; i++) {
        const struct query__agg_plan *a = &p->aggs[i];
        if (a->mode != QA_SQL && a->mode != QA_MERGE)
            continue;
        const struct sql_agg_call *c = a->state;
        bool sketch = c->kind == SQL_AGG_HLL || c->kind == SQL_AGG_THETA ||
                      c->kind == SQL_AGG_QUANTILES;
        if (!sketch && (c->arg_type == SQL_ARRAY || c->kind == SQL_AGG_ARRAY_CONCAT)) {
            snprintf(why, n, "aggregate %zu keeps ARRAY values", i + 1);
            return false;
        }
    }
    return true;
}

void query__partial_fp(const struct query__plan *p, char out[QUERY_PART_FP_LEN + 1])
{
    const struct sql_select *q = p->q;
    char d[64];
    uint64_t h = 1469598103934665603ull; /* FNV-1a, 64 bits */
#define MIX(...)                                               \
    do {                                                       \
        int m_ = snprintf(d, sizeof d, __VA_ARGS__);           \
        for (int i_ = 0; i_ < m_ && i_ < (int)sizeof d; i_++)  \
            h = (h ^ (unsigned char)d[i_]) * 1099511628211ull; \
    } while (0)
    MIX("part1 k%zu a%zu s%zu|", q->nkeys, q->naggs, p->acc_size);
    for (size_t i = 0; i < q->nkeys; i++)
        MIX("k%d|", sql_expr_type(q->keys[i]));
    for (size_t i = 0; i < q->naggs; i++) {
        const struct query__agg_plan *a = &p->aggs[i];
        MIX("a%u %d %d %d %u %zu %zu|", a->mode, a->dbl, a->state ? (int)a->state->kind : -1,
            a->state ? a->state->arg_type : 0, a->state ? a->state->sketch_size : 0, a->off,
            a->size);
    }
#undef MIX
    snprintf(out, QUERY_PART_FP_LEN + 1, "%016llx", (unsigned long long)h);
}

static void put_u64(struct buf *b, uint64_t v) { buf_put_le64(b, v); }

static bool get_u64(const unsigned char **p, const unsigned char *e, uint64_t *v)
{
    return util_get_le64(p, e, v);
}

int query__partial_write(struct query__run *r)
{
    const struct query__plan *p = r->p;
    struct query__ctx *x = r->x;
    struct buf *out = x->req->partial_out;
    const struct query__groups *g = &r->groups;
    char fp[QUERY_PART_FP_LEN + 1];
    query__partial_fp(p, fp);
    buf_append(out, PART_MAGIC, PART_MAGIC_LEN);
    buf_append(out, fp, QUERY_PART_FP_LEN);
    put_u64(out, g->ngroups);
    struct buf st;
    buf_init(&st, 0);
    int rc = 0;
    for (uint32_t gid = 0; gid < g->ngroups && !rc && !out->failed; gid++) {
        if ((gid & 1023) == 0 && (rc = query__ctx_check(x)))
            break;
        const struct sql_value *keys = query__groups_keys(g, gid);
        for (size_t k = 0; k < p->q->nkeys && !rc; k++)
            if (!sql_value_write(out, &keys[k]) && !out->failed)
                rc = lerr_set(x->err, LERR_INVALID,
                              "a node's part of a query: group key %zu holds a value parts "
                              "cannot carry",
                              k + 1);
        const uint8_t *acc = query__groups_acc(g, gid);
        for (size_t i = 0; i < p->q->naggs && !rc; i++) {
            const struct query__agg_plan *a = &p->aggs[i];
            if (a->mode == QA_SQL || a->mode == QA_MERGE) {
                st.len = 0;
                if (!sql_agg_serialize(a->state, acc + a->off, &st))
                    return buf_free(&st), query__ctx_nomem(x, "a node's part of the query");
                unsigned char l[4];
                for (int b = 0; b < 4; b++)
                    l[b] = (unsigned char)(st.len >> (8 * b));
                buf_append(out, l, 4);
                buf_append(out, st.data, st.len);
            } else {
                struct query__nacc na;
                memcpy(&na, acc + a->off, sizeof na);
                uint64_t bits;
                memcpy(&bits, &na.d, 8);
                put_u64(out, (uint64_t)na.n);
                put_u64(out, (uint64_t)na.l);
                put_u64(out, bits);
            }
        }
    }
    buf_free(&st);
    if (!rc && out->failed)
        rc = query__ctx_nomem(x, "a node's part of the query");
    return rc;
}

static int damaged(struct query__ctx *x, uint32_t gid)
{
    return lerr_set(x->err, LERR_CORRUPT,
                    "a node's part of the query is truncated or damaged (at group %u)", gid);
}

/* Merges one part's groups into r's (the callback of env->partials). */
static int on_part(void *arg, const void *part, size_t n, struct lerr *err)
{
    (void)err; /* the query's own (x->err) */
    struct query__run *r = arg;
    const struct query__plan *p = r->p;
    struct query__ctx *x = r->x;
    const unsigned char *s = part, *e = s + n;
    char fp[QUERY_PART_FP_LEN + 1];
    query__partial_fp(p, fp);
    uint64_t ng;
    if (n < PART_MAGIC_LEN + QUERY_PART_FP_LEN || memcmp(s, PART_MAGIC, PART_MAGIC_LEN) != 0)
        return lerr_set(x->err, LERR_CORRUPT, "a node's part of the query is not a part");
    if (memcmp(s + PART_MAGIC_LEN, fp, QUERY_PART_FP_LEN) != 0)
        return lerr_set(x->err, LERR_CONFLICT,
                        "a node's part of the query was planned differently (plan %.16s, this "
                        "node's %s)",
                        (const char *)s + PART_MAGIC_LEN, fp);
    s += PART_MAGIC_LEN + QUERY_PART_FP_LEN;
    if (!get_u64(&s, e, &ng) || ng > n)
        return damaged(x, 0);
    size_t nk = p->q->nkeys;
    int rc = 0;
    for (uint32_t gid = 0; gid < ng && !rc; gid++) {
        if ((gid & 255) == 0) {
            if ((rc = query__ctx_check(x)))
                break;
            arena_reset(&x->scratch);
        }
        struct sql_value *keys = arena_alloc(&x->scratch, (nk + 1) * sizeof *keys);
        if (!keys)
            return query__ctx_nomem(x, "a node's part of the query");
        for (size_t k = 0; k < nk; k++)
            if (!sql_value_read(&s, e, &keys[k], &x->scratch))
                return x->mem_error ? x->err->code : damaged(x, gid);
        uint32_t d;
        if ((rc = query__run_find_group(r, nk ? keys : NULL, &d)))
            return rc;
        for (size_t i = 0; i < p->q->naggs && !rc; i++) {
            const struct query__agg_plan *a = &p->aggs[i];
            /* the group's accumulators: found again, as a new group may move the records */
            uint8_t *da = query__groups_acc(&r->groups, d) + a->off;
            if (a->mode == QA_SQL || a->mode == QA_MERGE) {
                if (e - s < 4)
                    return damaged(x, gid);
                uint32_t len = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
                               (uint32_t)s[3] << 24;
                s += 4;
                if ((size_t)(e - s) < len)
                    return damaged(x, gid);
                void *tmp = arena_alloc(&x->scratch, a->size ? a->size : 1);
                if (!tmp)
                    return query__ctx_nomem(x, "a node's part of the query");
                struct lerr de;
                lerr_init(&de);
                if (sql_agg_deserialize(a->state, s, len, tmp, &x->scratch, &de))
                    return de.code == LERR_NOMEM
                               ? query__ctx_nomem(x, "a node's part of the query")
                               : lerr_set(x->err, LERR_CORRUPT,
                                          "a node's part of the query is damaged (group %u, "
                                          "aggregate %zu): %s",
                                          gid, i + 1, de.msg);
                s += len;
                rc = sql_agg_merge_err(a->state, da, tmp, &x->keep, x->err);
                if (rc)
                    return query__ctx_sql_error(x, rc, "aggregate states");
            } else {
                uint64_t nn, l, bits;
                if (!get_u64(&s, e, &nn) || !get_u64(&s, e, &l) || !get_u64(&s, e, &bits))
                    return damaged(x, gid);
                struct query__nacc src = {(int64_t)nn, (int64_t)l, 0};
                memcpy(&src.d, &bits, 8);
                query__nacc_merge(a, (struct query__nacc *)(void *)da, &src);
            }
        }
    }
    if (!rc && s != e)
        return lerr_set(x->err, LERR_CORRUPT,
                        "a node's part of the query has %zu bytes after its last group",
                        (size_t)(e - s));
    return rc;
}

int query__partial_gather(struct query__run *r)
{
    const struct query__plan *p = r->p;
    const struct query_env *env = p->src->parts;
    char fp[QUERY_PART_FP_LEN + 1];
    query__partial_fp(p, fp);
    int rc = env->partials(env->ctx, p->src->table, fp, on_part, r, r->x->err);
    if (rc && !r->x->err->code)
        lerr_set(r->x->err, rc, "the nodes' parts of the query failed");
    return rc ? r->x->err->code : 0;
}
