/*
 * select.c — binding a SELECT against its table's columns: `*` expansion,
 * column names (alias, the column's own name, or EXPR$<position> as Druid
 * names unnamed columns), WHERE, GROUP BY by expression, alias or ordinal,
 * aggregate calls lifted out of the select list / HAVING / ORDER BY (and
 * shared when repeated), the rewrite of post-aggregation expressions over
 * the "group row" [keys..., aggregates...], ORDER BY by alias, ordinal or
 * expression, LIMIT/OFFSET, DISTINCT (as a GROUP BY of every item), and
 * the __time range WHERE implies (for segment pruning).
 *
 * Entry points: sql_bind_select(), sql_select_free().
 */
#include "sql/sql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A set of bound trees found by structural hash (sql_node_hash_tree), so
 * that matching a subtree against the aggregates or GROUP BY keys seen so
 * far is one probe, not a comparison with each: a select list of 60,000
 * distinct aggregates must not cost 60,000² comparisons. Open addressing
 * over (hash, index); equal trees are confirmed with sql_node_equal.
 */
struct tset {
    struct tslot {
        uint32_t hash;
        uint32_t idx; /* UINT32_MAX = empty */
    } * slots;
    size_t nslots, n;
};

struct qctx {
    struct sql_select *q;
    struct sql_bctx *b;
    size_t agg_cap;
    struct sql_node **agg_nodes; /* bound aggregate calls, for sharing repeats */
    struct tset aggset;          /* agg_nodes by hash */
    size_t nkeys;
    struct sql_node **keys;
    struct tset keyset; /* keys by hash */
};

static bool tset_grow(struct tset *t, struct arena *a)
{
    size_t n = t->nslots ? t->nslots * 2 : 64;
    struct tslot *s = arena_alloc(a, n * sizeof *s);
    if (!s)
        return false;
    for (size_t i = 0; i < n; i++)
        s[i].idx = UINT32_MAX;
    for (size_t i = 0; i < t->nslots; i++) {
        if (t->slots[i].idx == UINT32_MAX)
            continue;
        size_t j = t->slots[i].hash & (n - 1);
        while (s[j].idx != UINT32_MAX)
            j = (j + 1) & (n - 1);
        s[j] = t->slots[i];
    }
    t->slots = s;
    t->nslots = n;
    return true;
}

static bool tset_add(struct tset *t, struct arena *a, uint32_t hash, uint32_t idx)
{
    if ((t->n + 1) * 2 > t->nslots && !tset_grow(t, a))
        return false;
    size_t j = hash & (t->nslots - 1);
    while (t->slots[j].idx != UINT32_MAX)
        j = (j + 1) & (t->nslots - 1);
    t->slots[j].hash = hash;
    t->slots[j].idx = idx;
    t->n++;
    return true;
}

/* The lowest index whose tree `same` says matches n (hash h), or -1. */
static long tset_find(const struct tset *t, uint32_t h, struct sql_node *const *trees,
                      const struct sql_node *n,
                      bool (*same)(const struct sql_node *, const struct sql_node *))
{
    long best = -1;
    if (!t->nslots)
        return -1;
    for (size_t j = h & (t->nslots - 1); t->slots[j].idx != UINT32_MAX;
         j = (j + 1) & (t->nslots - 1))
        if (t->slots[j].hash == h && (best < 0 || t->slots[j].idx < (uint32_t)best) &&
            same(trees[t->slots[j].idx], n))
            best = t->slots[j].idx;
    return best;
}

static int nomem(struct sql_bctx *b) { return lerr_set(b->err, LERR_NOMEM, "out of memory"); }

static bool agg_same(const struct sql_node *a, const struct sql_node *b)
{
    if (a->func != b->func || a->flags != b->flags || a->nargs != b->nargs)
        return false;
    for (int i = 0; i < a->nargs; i++)
        if (!sql_node_equal(a->args[i], b->args[i]))
            return false;
    if ((a->filter == NULL) != (b->filter == NULL))
        return false;
    return !a->filter || sql_node_equal(a->filter, b->filter);
}

/* A hash that agrees with agg_same. */
static uint32_t agg_hash(struct sql_node *n)
{
    uint32_t h = (uint32_t)n->func * 2654435761u ^ (uint32_t)n->flags * 40503u ^ n->nargs;
    for (int i = 0; i < n->nargs; i++)
        h = (h * 1000003u) ^ sql_node_hash_tree(n->args[i]);
    if (n->filter)
        h = (h * 1000003u) ^ sql_node_hash_tree(n->filter);
    return h;
}

static void eval_unbound(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    *out = sql_null(n->type);
    sql_rt_error(c, "aggregate evaluated outside its group");
}

static int agg_hook(struct sql_bctx *b, struct sql_node *n)
{
    struct qctx *x = b->hook_ud;
    struct sql_select *q = x->q;
    struct sql_agg_call call;
    int rc = sql_bind_agg_call(b, n, &call);
    if (rc)
        return rc;
    uint32_t h = agg_hash(n);
    long found = tset_find(&x->aggset, h, x->agg_nodes, n, agg_same);
    size_t idx = found >= 0 ? (size_t)found : q->naggs;
    if (idx == q->naggs) {
        if (q->naggs == x->agg_cap) {
            size_t nc = x->agg_cap ? x->agg_cap * 2 : 8;
            struct sql_agg_call *na = arena_alloc(b->arena, sizeof *na * nc);
            struct sql_node **nn = arena_alloc(b->arena, sizeof *nn * nc);
            if (!na || !nn)
                return nomem(b);
            if (q->naggs) {
                memcpy(na, q->aggs, sizeof *na * q->naggs);
                memcpy(nn, x->agg_nodes, sizeof *nn * q->naggs);
            }
            q->aggs = na;
            x->agg_nodes = nn;
            x->agg_cap = nc;
        }
        q->aggs[idx] = call;
        /* keep a copy of the call for comparisons: n itself becomes a ref */
        struct sql_node *keep = arena_alloc(b->arena, sizeof *keep);
        if (!keep)
            return nomem(b);
        *keep = *n;
        x->agg_nodes[idx] = keep;
        if (!tset_add(&x->aggset, b->arena, h, (uint32_t)idx))
            return nomem(b);
        q->naggs++;
    }
    n->kind = NK_AGGREF;
    n->field = (uint32_t)idx;
    n->type = q->aggs[idx].result_type;
    n->fn = eval_unbound;
    n->nargs = 0;
    n->filter = NULL;
    return 0;
}

/* Rewrites a bound tree over table columns into one over the group row. */
/* Rewrites a bound tree over table columns into one over the group row.
 * The tree's hashes must be stored (sql_node_hash_tree) and x->keyset
 * built; a subtree equal to a key (the first, as written) becomes a
 * reference to that key. */
static int to_group_row(struct qctx *x, struct sql_node **np)
{
    struct sql_node *n = *np;
    long key = tset_find(&x->keyset, n->hash, x->keys, n, sql_node_equal);
    if (key >= 0) {
        struct sql_node *r = sql_node_ref(x->b->arena, (uint32_t)key, x->keys[key]->type, n->pos);
        if (!r)
            return nomem(x->b);
        *np = r;
        return 0;
    }
    switch (n->kind) {
    case NK_AGGREF: {
        struct sql_node *r =
            sql_node_ref(x->b->arena, (uint32_t)(x->nkeys + n->field), n->type, n->pos);
        if (!r)
            return nomem(x->b);
        *np = r;
        return 0;
    }
    case NK_REF: {
        const struct sql_field *f = &x->b->schema->fields[n->field];
        return sql_bind_error(
            x->b, n,
            "column \"%.*s\" must appear in GROUP BY or inside an aggregate such as MAX(\"%.*s\")",
            (int)f->name_len, f->name, (int)f->name_len, f->name);
    }
    case NK_CALL:
        for (int i = 0; i < n->nargs; i++) {
            int rc = to_group_row(x, &n->args[i]);
            if (rc)
                return rc;
        }
        return 0;
    default: return 0;
    }
}

static bool lit_ordinal(const struct sql_node *n, size_t nitems, size_t *out)
{
    if (n->kind != NK_LIT || n->k.is_null || n->k.type != SQL_LONG)
        return false;
    *out = (size_t)n->k.v.l;
    return n->k.v.l >= 1 && (size_t)n->k.v.l <= nitems;
}

/* Whether * (or t.*) takes field f of a FROM with qualified fields. */
static bool star_takes(const struct sql_node *star, const struct sql_field *f)
{
    if (!star->qual)
        return !(f->flags & SQL_FIELD_QUALIFIED_ONLY);
    return f->qual && strlen(f->qual) == star->qual_len &&
           memcmp(f->qual, star->qual, star->qual_len) == 0;
}

/* t.* names a table or alias of the FROM. */
static int star_qual_check(struct sql_bctx *b, const struct sql_node *star)
{
    if (!b->field_quals) {
        bool ok = b->table && ((strlen(b->table) == star->qual_len &&
                                memcmp(b->table, star->qual, star->qual_len) == 0) ||
                               (b->table_alias && strlen(b->table_alias) == star->qual_len &&
                                memcmp(b->table_alias, star->qual, star->qual_len) == 0));
        return ok ? 0
                  : sql_bind_error(b, star,
                                   "unknown table '%.*s' in %.*s.* (the query reads \"%s\")",
                                   (int)star->qual_len, star->qual, (int)star->qual_len,
                                   star->qual, b->table ? b->table : "");
    }
    for (size_t i = 0; i < b->schema->n; i++)
        if (star_takes(star, &b->schema->fields[i]))
            return 0;
    return sql_bind_error(b, star,
                          "unknown table '%.*s' in %.*s.* (name a table or alias of FROM)",
                          (int)star->qual_len, star->qual, (int)star->qual_len, star->qual);
}

static int find_alias(const struct sql_stmt *s, const struct sql_node *n)
{
    if (n->kind != NK_IDENT || n->qual)
        return -1;
    for (size_t i = 0; i < s->nitems; i++) {
        const char *a = s->items[i].alias;
        if (a && strlen(a) == n->name_len && memcmp(a, n->name, n->name_len) == 0)
            return (int)i;
    }
    return -1;
}

static bool is_column(const struct sql_schema *cols, const struct sql_node *n)
{
    if (n->kind != NK_IDENT)
        return false;
    for (size_t i = 0; i < cols->n; i++)
        if (cols->fields[i].name_len == n->name_len &&
            memcmp(cols->fields[i].name, n->name, n->name_len) == 0)
            return true;
    return false;
}

static int const_int(struct sql_bctx *b, struct sql_node *n, const char *what, int64_t *out)
{
    int rc = sql_bind_node(b, n);
    if (rc)
        return rc;
    if (n->kind != NK_LIT || n->k.is_null || n->k.type != SQL_LONG || n->k.v.l < 0)
        return sql_bind_error(b, n, "%s must be a whole number of 0 or more", what);
    *out = n->k.v.l;
    return 0;
}

/* Narrows [min, max) from WHERE conjuncts on __time against constants. */
static void time_range(struct sql_select *q, const struct sql_node *w, int tcol)
{
    if (!w || tcol < 0)
        return;
    if (w->kind == NK_CALL && w->func == F_AND) {
        for (int i = 0; i < w->nargs; i++)
            time_range(q, w->args[i], tcol);
        return;
    }
    if (w->kind != NK_CALL || (w->flags & NF_NOT))
        return;
    bool is_t0 = w->nargs >= 2 && w->args[0]->kind == NK_REF &&
                 w->args[0]->field == (uint32_t)tcol && w->args[0]->type == SQL_TIMESTAMP;
    if (w->func == F_BETWEEN) {
        if (is_t0 && w->args[1]->kind == NK_LIT && !w->args[1]->k.is_null &&
            w->args[2]->kind == NK_LIT && !w->args[2]->k.is_null) {
            if (w->args[1]->k.v.l > q->time_min)
                q->time_min = w->args[1]->k.v.l;
            if (w->args[2]->k.v.l < INT64_MAX && w->args[2]->k.v.l + 1 < q->time_max)
                q->time_max = w->args[2]->k.v.l + 1;
        }
        return;
    }
    if (w->nargs != 2 || w->func < F_EQ || w->func > F_GE)
        return;
    const struct sql_node *a = w->args[0], *c = w->args[1];
    int op = w->func;
    bool is_t1 = c->kind == NK_REF && c->field == (uint32_t)tcol && c->type == SQL_TIMESTAMP;
    if (!is_t0 && is_t1) {
        const struct sql_node *t = a;
        a = c;
        c = t;
        op = op == F_LT ? F_GT : op == F_LE ? F_GE : op == F_GT ? F_LT : op == F_GE ? F_LE : op;
        is_t0 = true;
    }
    if (!is_t0 || c->kind != NK_LIT || c->k.is_null)
        return;
    int64_t v = c->k.v.l;
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    switch (op) {
    case F_EQ:
        lo = v;
        hi = v < INT64_MAX ? v + 1 : v;
        break;
    case F_GT: lo = v < INT64_MAX ? v + 1 : v; break;
    case F_GE: lo = v; break;
    case F_LT: hi = v; break;
    case F_LE: hi = v < INT64_MAX ? v + 1 : v; break;
    default: return;
    }
    if (lo > q->time_min)
        q->time_min = lo;
    if (hi < q->time_max)
        q->time_max = hi;
}

/* A copy of one block's own clauses (not its FROM tree or WITH list: the
 * engine has turned those into the columns the block is bound against). */
static bool copy_block(struct arena *a, const struct sql_stmt *src, const char *text,
                       struct sql_stmt *s)
{
    s->text = text;
    s->len = src->len;
    s->pos = src->pos;
    s->explain = src->explain;
    s->distinct = src->distinct;
    s->schema_name = arena_strdup(a, src->schema_name ? src->schema_name : "");
    s->table = arena_strdup(a, src->table ? src->table : "");
    s->table_alias = src->table_alias ? arena_strdup(a, src->table_alias) : NULL;
    if (!s->schema_name || !s->table || (src->table_alias && !s->table_alias))
        return false;
    s->nitems = src->nitems;
    s->items = arena_alloc(a, sizeof *s->items * (src->nitems ? src->nitems : 1));
    if (!s->items)
        return false;
    for (size_t i = 0; i < src->nitems; i++) {
        s->items[i] = src->items[i];
        if (!(s->items[i].expr = sql_node_copy(a, src->items[i].expr)))
            return false;
        if (src->items[i].alias && !(s->items[i].alias = arena_strdup(a, src->items[i].alias)))
            return false;
    }
    s->ngroup = src->ngroup;
    s->group = arena_alloc(a, sizeof *s->group * (src->ngroup ? src->ngroup : 1));
    s->norder = src->norder;
    s->order = arena_alloc(a, sizeof *s->order * (src->norder ? src->norder : 1));
    if (!s->group || !s->order)
        return false;
    for (size_t i = 0; i < src->ngroup; i++)
        if (!(s->group[i] = sql_node_copy(a, src->group[i])))
            return false;
    for (size_t i = 0; i < src->norder; i++) {
        s->order[i] = src->order[i];
        if (!(s->order[i].expr = sql_node_copy(a, src->order[i].expr)))
            return false;
    }
    struct sql_node **one[] = {&s->where, &s->having, &s->limit, &s->offset};
    const struct sql_node *from[] = {src->where, src->having, src->limit, src->offset};
    for (size_t i = 0; i < 4; i++)
        if (from[i] && !(*one[i] = sql_node_copy(a, from[i])))
            return false;
    return true;
}

int sql_bind_select(const struct sql_stmt *stmt, const struct sql_schema *columns,
                    const struct sql_options *opt, struct sql_select **out, struct lerr *err)
{
    *out = NULL;
    struct sql_owner *o = sql_owner_new();
    if (!o)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    arena_set_budget(&o->arena, opt ? opt->budget : NULL); /* empty: cannot be refused */
    struct sql_select *q = arena_zalloc(&o->arena, sizeof *q);
    char *text = q ? arena_strndup(&o->arena, stmt->text, stmt->len) : NULL;
    struct sql_stmt *s = text ? arena_zalloc(&o->arena, sizeof *s) : NULL;
    if (!s) {
        sql_owner_free(o);
        return lerr_set(err, LERR_NOMEM, "out of memory");
    }
    /* bind a private copy: binding rewrites trees in place */
    int rc = copy_block(&o->arena, stmt, text, s) ? 0 : lerr_set(err, LERR_NOMEM, "out of memory");
    struct sql_bctx bc;
    struct sql_bctx *b = &bc;
    if (!rc)
        rc = sql_bctx_init(b, o, text, stmt->len, columns, opt, err);
    if (rc) {
        sql_owner_free(o);
        return rc;
    }
    static const struct sql_schema empty = {NULL, 0};
    if (!columns)
        columns = &empty;
    b->schema = columns;
    b->field_what = "column";
    b->table = s->table && *s->table ? s->table : NULL;
    b->table_alias = s->table_alias;
    for (size_t i = 0; i < columns->n; i++)
        b->field_quals |= columns->fields[i].qual != NULL;
    q->explain = s->explain;
    q->distinct = s->distinct;
    q->schema_name = s->schema_name ? s->schema_name : "";
    q->table = s->table ? s->table : "";
    q->limit = -1;
    q->time_min = INT64_MIN;
    q->time_max = INT64_MAX;
    struct qctx x = {.q = q, .b = b};
    struct sql_node **item_nodes = NULL;
    const char **names = NULL;
    size_t nitems = 0;

    /* expand * and name the columns */
    size_t cap = s->nitems + columns->n * 2 + 1;
    item_nodes = arena_alloc(&o->arena, sizeof *item_nodes * cap);
    names = arena_alloc(&o->arena, sizeof *names * cap);
    if (!item_nodes || !names) {
        rc = nomem(b);
        goto fail;
    }
    for (size_t i = 0; i < s->nitems; i++) {
        struct sql_node *e = s->items[i].expr;
        if (e->kind == NK_STAR) {
            if (!b->table && columns->n == 0) {
                rc = sql_bind_error(b, e, "SELECT * needs a FROM table");
                goto fail;
            }
            if (e->qual && (rc = star_qual_check(b, e)))
                goto fail;
            for (size_t c = 0; c < columns->n && nitems < cap; c++) {
                const struct sql_field *f = &columns->fields[c];
                if (b->field_quals && !star_takes(e, f))
                    continue;
                item_nodes[nitems] = sql_node_ref(&o->arena, (uint32_t)c, f->type, e->pos);
                names[nitems] = arena_strndup(&o->arena, f->name, f->name_len);
                if (!item_nodes[nitems] || !names[nitems]) {
                    rc = nomem(b);
                    goto fail;
                }
                nitems++;
            }
            continue;
        }
        if (nitems >= cap)
            break;
        item_nodes[nitems] = e;
        if (s->items[i].alias)
            names[nitems] = s->items[i].alias;
        else if (e->kind == NK_IDENT)
            names[nitems] = arena_strndup(&o->arena, e->name, e->name_len);
        else
            names[nitems] = arena_printf(&o->arena, "EXPR$%zu", nitems);
        if (!names[nitems]) {
            rc = nomem(b);
            goto fail;
        }
        nitems++;
    }
    if (nitems == 0) {
        rc = sql_bind_error(b, NULL, "the query selects no columns");
        goto fail;
    }

    /* WHERE */
    if (s->where) {
        b->agg_refusal = "aggregates are not allowed in WHERE (use HAVING)";
        if ((rc = sql_bind_node(b, s->where)))
            goto fail;
        int t = s->where->type;
        if (t == SQL_STRING || t == SQL_JSON || t == SQL_ARRAY) {
            rc = sql_bind_error(b, s->where,
                                "WHERE needs a boolean condition, such as \"x\" = 'a'");
            goto fail;
        }
        int tcol = -1;
        for (size_t i = 0; i < columns->n; i++)
            if (columns->fields[i].name_len == 6 &&
                memcmp(columns->fields[i].name, "__time", 6) == 0)
                tcol = (int)i;
        time_range(q, s->where, tcol);
        q->where = sql_expr_wrap(b, s->where, columns->n);
        if (!q->where) {
            rc = nomem(b);
            goto fail;
        }
    }

    /* GROUP BY: expression, select alias (when not a column) or ordinal */
    if (s->ngroup) {
        x.keys = arena_alloc(&o->arena, sizeof *x.keys * s->ngroup);
        if (!x.keys) {
            rc = nomem(b);
            goto fail;
        }
        b->agg_refusal = "aggregates are not allowed in GROUP BY";
        for (size_t i = 0; i < s->ngroup; i++) {
            struct sql_node *g = s->group[i];
            size_t ord;
            int ai;
            if (lit_ordinal(g, nitems, &ord)) {
                g = sql_node_clone(&o->arena, item_nodes[ord - 1]);
            } else if (!is_column(columns, g) && (ai = find_alias(s, g)) >= 0) {
                g = sql_node_clone(&o->arena, s->items[ai].expr);
            }
            if (!g) {
                rc = nomem(b);
                goto fail;
            }
            if ((rc = sql_bind_node(b, g)))
                goto fail;
            x.keys[x.nkeys++] = g;
        }
    }

    /* select items, HAVING, ORDER BY: aggregates are lifted out */
    b->agg_hook = agg_hook;
    b->hook_ud = &x;
    for (size_t i = 0; i < nitems; i++)
        if ((rc = sql_bind_node(b, item_nodes[i])))
            goto fail;
    if (s->having && (rc = sql_bind_node(b, s->having)))
        goto fail;
    struct sql_node **onodes = NULL;
    int *oitem = NULL;
    if (s->norder) {
        onodes = arena_alloc(&o->arena, sizeof *onodes * s->norder);
        oitem = arena_alloc(&o->arena, sizeof *oitem * s->norder);
        if (!onodes || !oitem) {
            rc = nomem(b);
            goto fail;
        }
        for (size_t i = 0; i < s->norder; i++) {
            struct sql_node *e = s->order[i].expr;
            size_t ord;
            int ai;
            oitem[i] = -1;
            onodes[i] = NULL;
            if (lit_ordinal(e, nitems, &ord)) {
                oitem[i] = (int)ord - 1;
            } else if ((ai = find_alias(s, e)) >= 0) {
                /* map the alias to the expanded item holding that expression */
                for (size_t k = 0; k < nitems; k++)
                    if (item_nodes[k] == s->items[ai].expr)
                        oitem[i] = (int)k;
            }
            if (oitem[i] < 0) {
                if ((rc = sql_bind_node(b, e)))
                    goto fail;
                onodes[i] = e;
                for (size_t k = 0; k < nitems; k++)
                    if (sql_node_equal(e, item_nodes[k]))
                        oitem[i] = (int)k;
            }
        }
    }
    b->agg_hook = NULL;

    q->aggregate = s->ngroup > 0 || q->naggs > 0 || s->having != NULL;
    if (s->distinct && !q->aggregate) {
        /* SELECT DISTINCT a, b = GROUP BY a, b */
        x.keys = arena_alloc(&o->arena, sizeof *x.keys * nitems);
        if (!x.keys) {
            rc = nomem(b);
            goto fail;
        }
        for (size_t i = 0; i < nitems; i++)
            x.keys[x.nkeys++] = item_nodes[i];
        q->aggregate = true;
    }

    size_t nfields = columns->n;
    if (q->aggregate) {
        /* hashes first, then every rewrite is a lookup per node */
        for (size_t i = 0; i < x.nkeys; i++)
            if (!tset_add(&x.keyset, &o->arena, sql_node_hash_tree(x.keys[i]), (uint32_t)i)) {
                rc = nomem(b);
                goto fail;
            }
        for (size_t i = 0; i < nitems; i++)
            sql_node_hash_tree(item_nodes[i]);
        if (s->having)
            sql_node_hash_tree(s->having);
        for (size_t i = 0; i < s->norder; i++)
            if (onodes[i])
                sql_node_hash_tree(onodes[i]);
        for (size_t i = 0; i < nitems; i++)
            if ((rc = to_group_row(&x, &item_nodes[i])))
                goto fail;
        if (s->having && (rc = to_group_row(&x, &s->having)))
            goto fail;
        for (size_t i = 0; i < s->norder; i++)
            if (onodes[i] && (rc = to_group_row(&x, &onodes[i])))
                goto fail;
        q->nkeys = x.nkeys;
        q->keys = arena_alloc(&o->arena, sizeof *q->keys * (x.nkeys ? x.nkeys : 1));
        if (!q->keys) {
            rc = nomem(b);
            goto fail;
        }
        for (size_t i = 0; i < x.nkeys; i++) {
            q->keys[i] = sql_expr_wrap(b, x.keys[i], columns->n);
            if (!q->keys[i]) {
                rc = nomem(b);
                goto fail;
            }
        }
        nfields = q->nkeys + q->naggs;
    }

    q->nitems = nitems;
    q->items = arena_alloc(&o->arena, sizeof *q->items * nitems);
    if (!q->items) {
        rc = nomem(b);
        goto fail;
    }
    for (size_t i = 0; i < nitems; i++) {
        if (item_nodes[i]->type == SQL_INTERVAL) {
            rc = sql_bind_error(b, item_nodes[i],
                                "an INTERVAL is not a value (add it to a TIMESTAMP)");
            goto fail;
        }
        q->items[i].name = names[i];
        q->items[i].type = item_nodes[i]->type;
        q->items[i].expr = sql_expr_wrap(b, item_nodes[i], nfields);
        if (!q->items[i].expr) {
            rc = nomem(b);
            goto fail;
        }
    }
    if (s->having) {
        q->having = sql_expr_wrap(b, s->having, nfields);
        if (!q->having) {
            rc = nomem(b);
            goto fail;
        }
    }
    q->norder = s->norder;
    if (s->norder) {
        q->order = arena_alloc(&o->arena, sizeof *q->order * s->norder);
        if (!q->order) {
            rc = nomem(b);
            goto fail;
        }
        for (size_t i = 0; i < s->norder; i++) {
            q->order[i].desc = s->order[i].desc;
            q->order[i].item = oitem[i];
            q->order[i].expr = oitem[i] >= 0 ? q->items[oitem[i]].expr
                                             : sql_expr_wrap(b, onodes[i], nfields);
            if (!q->order[i].expr) {
                rc = nomem(b);
                goto fail;
            }
        }
    }
    if (s->limit && (rc = const_int(b, s->limit, "LIMIT", &q->limit)))
        goto fail;
    if (s->offset && (rc = const_int(b, s->offset, "OFFSET", &q->offset)))
        goto fail;

    /* the owner is reachable from any expression; sql_select_free uses items[0] */
    *out = q;
    return 0;
fail:
    sql_owner_free(o);
    return rc ? rc : LERR_INVALID;
}

void sql_select_free(struct sql_select *q)
{
    if (q && q->nitems)
        sql_owner_free(q->items[0].expr->owner);
}
