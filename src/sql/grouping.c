/*
 * grouping.c — GROUP BY GROUPING SETS, ROLLUP and CUBE as a UNION ALL: a
 * block grouped by several sets of keys becomes `SELECT * FROM (<block
 * grouped by set 1> UNION ALL <block grouped by set 2> ...)` with the
 * block's ORDER BY, LIMIT and OFFSET outside. In the part of a set, a key
 * the set leaves out reads NULL wherever the SELECT list or HAVING names
 * it outside an aggregate's arguments, and GROUPING(k1, ..., kn) is the
 * constant whose bit for ki (the last argument is bit 0) is 1 when the set
 * leaves ki out — as in Druid (and the SQL standard). A plain GROUP BY is
 * one set: there GROUPING(...) is 0.
 *
 * Entry point: sql_stmt_expand_grouping() (sql.h).
 */
#include <string.h>
#include <strings.h>

#include "sql/sql_int.h"

/* Two parsed (unbound) trees written alike. */
static bool same_tree(const struct sql_node *a, const struct sql_node *b)
{
    if (a->kind != b->kind || a->nargs != b->nargs || a->flags != b->flags || a->ttype != b->ttype)
        return false;
    switch (a->kind) {
    case NK_IDENT:
        if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0)
            return false;
        if (!a->qual || !b->qual)
            return !a->qual && !b->qual;
        return a->qual_len == b->qual_len && memcmp(a->qual, b->qual, a->qual_len) == 0;
    case NK_LIT:
        return a->k.is_null == b->k.is_null && a->type == b->type &&
               (a->k.is_null || sql_value_equal(&a->k, &b->k));
    case NK_PARAM: return a->field == b->field;
    case NK_CALL:
        if (a->func != b->func || a->ival != b->ival)
            return false;
        if (a->func == UINT16_MAX &&
            (a->name_len != b->name_len || strncasecmp(a->name, b->name, a->name_len) != 0))
            return false;
        for (int i = 0; i < a->nargs; i++)
            if (!same_tree(a->args[i], b->args[i]))
                return false;
        return !a->filter == !b->filter && (!a->filter || same_tree(a->filter, b->filter));
    default: return false;
    }
}

static bool is_agg_call(const struct sql_node *n)
{
    if (n->kind != NK_CALL)
        return false;
    int f = n->func != UINT16_MAX ? n->func : sql_func_find(n->name, n->name_len);
    return f >= 0 && f < F__COUNT && (sql_funcs[f].flags & FF_AGG);
}

static bool has_agg(const struct sql_node *n)
{
    if (is_agg_call(n))
        return true;
    for (int i = 0; i < n->nargs; i++)
        if (has_agg(n->args[i]))
            return true;
    return false;
}

static bool is_grouping_call(const struct sql_node *n)
{
    return n->kind == NK_CALL && n->func == UINT16_MAX && n->name_len == 8 &&
           strncasecmp(n->name, "GROUPING", 8) == 0;
}

struct gx {
    struct sql_stmt *s;
    struct arena *a;
    const struct sql_gset *all; /* every key of every set, once */
    const struct sql_gset *set; /* this part's */
    struct lerr *err;
};

static bool in_set(const struct sql_gset *set, const struct sql_node *n)
{
    for (size_t i = 0; i < set->n; i++)
        if (same_tree(set->keys[i], n))
            return true;
    return false;
}

static struct sql_node *null_lit(struct arena *a, uint32_t pos)
{
    struct sql_node *n = sql_node_new(a, NK_LIT, pos);
    if (n) {
        n->k = sql_null(SQL_NULL);
        n->type = SQL_NULL;
    }
    return n;
}

/* A copy of n for this part: left-out keys NULL, GROUPING(...) constant. */
static int part_tree(struct gx *g, const struct sql_node *n, struct sql_node **out)
{
    *out = NULL;
    if (is_grouping_call(n)) {
        if (n->nargs == 0 || n->nargs > 62)
            return sql_error_at(g->err, g->s->text, g->s->len, n->pos,
                                "GROUPING takes 1 to 62 GROUP BY expressions");
        int64_t bits = 0;
        for (int i = 0; i < n->nargs; i++) {
            if (!in_set(g->all, n->args[i]))
                return sql_error_at(g->err, g->s->text, g->s->len, n->args[i]->pos,
                                    "GROUPING's argument must be one of the GROUP BY expressions "
                                    "(write it as in GROUP BY)");
            bits = bits << 1 | !in_set(g->set, n->args[i]);
        }
        struct sql_node *lit = sql_node_new(g->a, NK_LIT, n->pos);
        if (!lit)
            return LERR_NOMEM;
        lit->k = sql_long(bits);
        lit->type = SQL_LONG;
        *out = lit;
        return 0;
    }
    if (!is_agg_call(n) && in_set(g->all, n) && !in_set(g->set, n)) {
        *out = null_lit(g->a, n->pos);
        return *out ? 0 : LERR_NOMEM;
    }
    struct sql_node *c = sql_node_copy(g->a, n);
    if (!c)
        return LERR_NOMEM;
    if (!is_agg_call(n)) {
        for (int i = 0; i < n->nargs; i++) {
            int rc = part_tree(g, n->args[i], &c->args[i]);
            if (rc)
                return rc;
        }
    }
    *out = c;
    return 0;
}

/* Grouping by `keys`, also GROUPING(...) in a plain GROUP BY (0). */
static int has_grouping(const struct sql_node *n)
{
    if (!n)
        return 0;
    if (is_grouping_call(n))
        return 1;
    for (int i = 0; i < n->nargs; i++)
        if (has_grouping(n->args[i]))
            return 1;
    return 0;
}

/* One block per set, grouped by it. */
static int make_part(struct gx *g, struct sql_stmt **out)
{
    struct sql_stmt *s = g->s;
    struct sql_stmt *b = arena_zalloc(g->a, sizeof *b);
    if (!b)
        return LERR_NOMEM;
    b->text = s->text;
    b->len = s->len;
    b->pos = s->pos;
    b->mem = s->mem;
    b->schema_name = s->schema_name;
    b->table = s->table;
    b->table_alias = s->table_alias;
    b->from = s->from;
    b->where = s->where;
    b->nitems = s->nitems;
    b->items = arena_alloc(g->a, sizeof *b->items * (s->nitems ? s->nitems : 1));
    if (!b->items)
        return LERR_NOMEM;
    for (size_t i = 0; i < s->nitems; i++) {
        b->items[i] = s->items[i];
        int rc = part_tree(g, s->items[i].expr, &b->items[i].expr);
        if (rc)
            return rc;
        /* a left-out key named by its alias (GROUP BY ROLLUP(c) with `x AS c`) */
        const char *al = s->items[i].alias;
        for (size_t k = 0; al && k < g->all->n && !is_agg_call(s->items[i].expr); k++) {
            const struct sql_node *key = g->all->keys[k];
            if (key->kind == NK_IDENT && !key->qual && key->name_len == strlen(al) &&
                memcmp(key->name, al, key->name_len) == 0 && !in_set(g->set, key) &&
                !(b->items[i].expr = null_lit(g->a, s->items[i].pos)))
                return LERR_NOMEM;
        }
        if (!b->items[i].alias && s->items[i].expr->kind == NK_IDENT) {
            /* keep the column's name when it became NULL */
            b->items[i].alias = s->items[i].expr->name;
        }
    }
    if (s->having) {
        int rc = part_tree(g, s->having, &b->having);
        if (rc)
            return rc;
    }
    b->ngroup = g->set->n;
    b->group = g->set->keys;
    if (b->ngroup == 0 && !b->having) {
        /* the grand total of a list without aggregates: one row, not one per row */
        bool agg = false;
        for (size_t i = 0; i < s->nitems && !agg; i++)
            agg = has_agg(s->items[i].expr);
        b->distinct = !agg;
    }
    *out = b;
    return 0;
}

/* ORDER BY of the whole: each term a column of the SELECT list. */
static int order_terms(struct gx *g)
{
    struct sql_stmt *s = g->s;
    for (size_t i = 0; i < s->norder; i++) {
        struct sql_node *e = s->order[i].expr;
        if (e->kind == NK_LIT && !e->k.is_null && e->k.type == SQL_LONG)
            continue; /* an ordinal */
        bool named = false;
        for (size_t k = 0; k < s->nitems && !named; k++) {
            const char *al = s->items[k].alias;
            const struct sql_node *it = s->items[k].expr;
            if (e->kind == NK_IDENT && !e->qual &&
                ((al && strlen(al) == e->name_len && memcmp(al, e->name, e->name_len) == 0) ||
                 (!al && it->kind == NK_IDENT && it->name_len == e->name_len &&
                  memcmp(it->name, e->name, e->name_len) == 0)))
                named = true;
            else if (same_tree(it, e)) {
                struct sql_node *ord = sql_node_new(g->a, NK_LIT, e->pos);
                if (!ord)
                    return LERR_NOMEM;
                ord->k = sql_long((int64_t)k + 1);
                ord->type = SQL_LONG;
                s->order[i].expr = ord;
                named = true;
            }
        }
        if (!named)
            return sql_error_at(g->err, s->text, s->len, e->pos,
                                "with GROUPING SETS, ROLLUP or CUBE, ORDER BY must name a column "
                                "of the SELECT list (by its alias, its position, or the same "
                                "expression)");
    }
    return 0;
}

int sql_stmt_expand_grouping(struct sql_stmt *s, struct lerr *err)
{
    struct arena *a = s->mem;
    if (!s->ngsets) {
        if (!s->ngroup)
            return 0;
        /* GROUPING(...) of a plain GROUP BY: every key is in the one set */
        bool any = has_grouping(s->having);
        for (size_t i = 0; i < s->nitems && !any; i++)
            any = has_grouping(s->items[i].expr);
        if (!any)
            return 0;
        struct sql_gset one = {s->ngroup, s->group};
        struct gx g = {s, a, &one, &one, err};
        for (size_t i = 0; i < s->nitems; i++) {
            int rc = part_tree(&g, s->items[i].expr, &s->items[i].expr);
            if (rc)
                return rc == LERR_NOMEM ? lerr_set(err, rc, "out of memory") : rc;
        }
        if (s->having) {
            int rc = part_tree(&g, s->having, &s->having);
            if (rc)
                return rc == LERR_NOMEM ? lerr_set(err, rc, "out of memory") : rc;
        }
        return 0;
    }
    /* every key once, in order of appearance */
    size_t total = 0;
    for (size_t i = 0; i < s->ngsets; i++)
        total += s->gsets[i].n;
    struct sql_gset all = {0, arena_alloc(a, sizeof(struct sql_node *) * (total ? total : 1))};
    if (!all.keys)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->ngsets; i++)
        for (size_t k = 0; k < s->gsets[i].n; k++)
            if (!in_set(&all, s->gsets[i].keys[k]))
                all.keys[all.n++] = s->gsets[i].keys[k];
    struct gx g = {s, a, &all, NULL, err};
    int rc = order_terms(&g);
    struct sql_from *u = rc ? NULL : arena_zalloc(a, sizeof *u);
    struct sql_parse_item *star = u ? arena_zalloc(a, sizeof *star) : NULL;
    if (!rc && (!star || !(star->expr = sql_node_new(a, NK_STAR, s->pos))))
        rc = LERR_NOMEM;
    if (!rc) {
        u->kind = SQL_FROM_UNION;
        u->pos = s->pos;
        u->schema_name = u->table = "";
        u->nparts = s->ngsets;
        if (!(u->parts = arena_alloc(a, sizeof *u->parts * s->ngsets)))
            rc = LERR_NOMEM;
    }
    for (size_t i = 0; !rc && i < s->ngsets; i++) {
        g.set = &s->gsets[i];
        rc = make_part(&g, &u->parts[i]);
    }
    if (rc)
        return rc == LERR_NOMEM ? lerr_set(err, rc, "out of memory") : rc;
    star->pos = s->pos;
    s->items = star;
    s->nitems = 1;
    s->from = u;
    s->schema_name = s->table = "";
    s->table_alias = NULL;
    s->where = s->having = NULL;
    s->ngsets = 0;
    s->gsets = NULL;
    return 0;
}
