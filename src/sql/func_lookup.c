/*
 * func_lookup.c — LOOKUP(expr, 'lookupName'[, replaceMissingValueWith]):
 * maps a value through a named key → value map (a Druid lookup). The maps
 * come from sql_options.lookups (sql.h), which the query layer fills from
 * the server's lookups (the API manages them): the binder asks for the map
 * once, copies it into the expression's arena (charged to the budget, so
 * the compiled expression owns all it reads and a lookup replaced or
 * deleted meanwhile changes nothing for a query already bound) and releases
 * the provider's copy; evaluation is a binary search.
 *
 * Druid rules (docs/querying/sql-scalar.md, lookups.md): the value is read
 * as VARCHAR; a key not in the map, and a NULL value, give
 * replaceMissingValueWith when given, else NULL. The lookup name and the
 * replacement must be string literals. An unknown name is an error at bind
 * time, with the closest known name or the list of names.
 *
 * Entry points: sql_bind_lookup() (SQL_FUNC_MAP).
 */
#include "sql/sql_int.h"

#include <stdlib.h>
#include <string.h>

struct lk {
    struct sql_lookup_entry *e; /* sorted by key */
    size_t n;
};

static int cmp_key(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

static void lookup_fn(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    (void)c;
    const struct lk *l = n->aux;
    struct sql_value x;
    sql_eval_arg(n->args[0], c, &x);
    if (!x.is_null) {
        size_t lo = 0, hi = l->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const struct sql_lookup_entry *e = &l->e[mid];
            int r = cmp_key(e->key, e->key_len, x.v.s.p, x.v.s.n);
            if (r == 0) {
                sql_set_str(out, SQL_STRING, e->value, e->value_len);
                return;
            }
            if (r < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    if (n->nargs > 2)
        *out = n->args[2]->k;
    else
        *out = sql_null(SQL_STRING);
}

/* The error for an unknown lookup: the closest name, or the names there are. */
static int unknown_lookup(struct sql_bctx *b, struct sql_node *n, const char *name, size_t len)
{
    const struct sql_lookups *lk = b->opt->lookups;
    struct buf names;
    buf_init(&names, 1u << 20);
    bool ok = lk->names && lk->names(lk->ctx, &names);
    char *text = ok ? (char *)buf_cstr(&names) : NULL;
    size_t lines = 1;
    for (const char *p = text; p && *p; p++)
        lines += *p == '\n';
    const char **cand = text ? arena_alloc(b->arena, sizeof *cand * (lines + 1)) : NULL;
    size_t nc = 0;
    if (!cand)
        text = NULL;
    for (char *p = text; p && *p && nc < lines;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (*p)
            cand[nc++] = p;
        p = nl ? nl + 1 : NULL;
    }
    if (cand)
        cand[nc] = NULL;
    int nl = (int)(len > 80 ? 80 : len);
    const char *best = nc ? util_closest(name, len, cand) : NULL;
    int rc;
    if (best) {
        rc = sql_bind_error(b, n->args[1], "unknown lookup '%.*s' (did you mean '%s'?)", nl, name,
                            best);
    } else if (nc) {
        struct buf list;
        buf_init(&list, 512);
        for (size_t i = 0; i < nc && list.len < 300; i++)
            buf_printf(&list, "%s'%s'", i ? ", " : "", cand[i]);
        rc = sql_bind_error(b, n->args[1], "unknown lookup '%.*s' (the lookups are: %s%s)", nl,
                            name, buf_cstr(&list), list.len >= 300 ? ", ..." : "");
        buf_free(&list);
    } else {
        rc = sql_bind_error(b, n->args[1],
                            "unknown lookup '%.*s': there are no lookups yet (create one with "
                            "POST /v1/projects/{projectId}/lookups)",
                            nl, name);
    }
    buf_free(&names);
    return rc;
}

int sql_bind_lookup(struct sql_bctx *b, struct sql_node *n)
{
    if (sql_arg_check(b, n, 0, SQL_STRING))
        return LERR_INVALID;
    const char *name;
    size_t len;
    if (sql_arg_lit_string(b, n, 1, "lookup name", &name, &len))
        return LERR_INVALID;
    if (n->nargs > 2) {
        struct sql_node *r = n->args[2];
        if (r->kind != NK_LIT || (!r->k.is_null && r->k.type != SQL_STRING))
            return sql_bind_error(b, r,
                                  "the replaceMissingValueWith argument of LOOKUP must be a "
                                  "string literal, such as 'unknown'");
        if (r->k.is_null)
            r->k = sql_null(SQL_STRING);
    }
    const struct sql_lookups *lk = b->opt ? b->opt->lookups : NULL;
    if (!lk || !lk->get)
        return sql_bind_error(b, n,
                              "LOOKUP is only available in SQL queries (lookups are not "
                              "applied in ingestion mappings or filters)");
    struct sql_lookup got = {0};
    struct lerr e;
    lerr_init(&e);
    int rc = lk->get(lk->ctx, name, len, &got, &e);
    if (rc == LERR_NOT_FOUND)
        return unknown_lookup(b, n, name, len);
    if (rc) {
        lerr_set(b->err, rc, "reading lookup '%.*s': %s", (int)(len > 80 ? 80 : len), name, e.msg);
        return rc;
    }
    /* copy the map into the expression's arena */
    struct lk *l = arena_zalloc(b->arena, sizeof *l);
    struct sql_lookup_entry *es = l && got.n ? arena_alloc(b->arena, sizeof *es * got.n) : NULL;
    bool ok = l && (got.n == 0 || es);
    for (size_t i = 0; ok && i < got.n; i++) {
        const struct sql_lookup_entry *g = &got.entries[i];
        char *k = arena_alloc(b->arena, (size_t)g->key_len + g->value_len + 1);
        if (!k) {
            ok = false;
            break;
        }
        memcpy(k, g->key, g->key_len);
        memcpy(k + g->key_len, g->value, g->value_len);
        es[i] = (struct sql_lookup_entry){k, k + g->key_len, g->key_len, g->value_len};
    }
    if (got.release)
        got.release(got.handle);
    if (!ok)
        return lerr_set(b->err, LERR_NOMEM, "out of memory copying lookup '%.*s' (%zu entries)",
                        (int)(len > 80 ? 80 : len), name, got.n);
    l->e = es;
    l->n = got.n;
    n->aux = l;
    n->type = SQL_STRING;
    n->fn = lookup_fn;
    return 0;
}
