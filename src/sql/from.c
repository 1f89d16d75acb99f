/*
 * from.c — what the query engine needs from a statement's tree beyond one
 * block: its FROM tree and WITH list (read-only accessors), its expression
 * subqueries (found, then replaced by their results), and the binding of
 * what lies between FROM items: a JOIN's condition split into hash keys
 * and a residual, UNNEST's array expression.
 *
 * Entry points: sql_stmt_from(), sql_stmt_ctes(), sql_stmt_subqueries(),
 * sql_subquery_resolve(), sql_bind_join(), sql_bind_unnest() (sql.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql/sql_int.h"

const struct sql_from *sql_stmt_from(const struct sql_stmt *s) { return s->from; }

size_t sql_stmt_ctes(const struct sql_stmt *s, const struct sql_cte **ctes)
{
    *ctes = s->ctes;
    return s->nctes;
}

bool sql_stmt_is_explain(const struct sql_stmt *s) { return s->explain; }

uint32_t sql_stmt_pos(const struct sql_stmt *s) { return s->pos; }

static bool ident_is(const struct sql_node *n, const char *qual, const char *name, size_t len)
{
    if (n->kind != NK_IDENT || n->name_len != len || memcmp(n->name, name, len) != 0)
        return false;
    if (!qual)
        return true;
    return n->qual && n->qual_len == strlen(qual) && memcmp(n->qual, qual, n->qual_len) == 0;
}

/* The field of `other` an identifier names: qualified by its qual, or
 * unqualified and unique there. */
static long other_field(const struct sql_node *n, const struct sql_field *other, size_t nother)
{
    long hit = -1;
    for (size_t i = 0; i < nother; i++) {
        const struct sql_field *f = &other[i];
        if (n->qual ? !ident_is(n, f->qual, f->name, f->name_len) || !f->qual
                    : (f->flags & SQL_FIELD_QUALIFIED_ONLY) ||
                          !ident_is(n, NULL, f->name, f->name_len))
            continue;
        if (hit >= 0)
            return -1;
        hit = (long)i;
    }
    return hit;
}

static const char *on_column(const struct sql_node *on, const char *qual,
                             const struct sql_field *other, size_t nother, size_t *other_col)
{
    if (on->kind == NK_CALL && on->func == F_AND) {
        for (int i = 0; i < on->nargs; i++) {
            const char *c = on_column(on->args[i], qual, other, nother, other_col);
            if (c)
                return c;
        }
        return NULL;
    }
    if (on->kind != NK_CALL || on->func != F_EQ || on->nargs != 2)
        return NULL;
    for (int k = 0; k < 2; k++) {
        const struct sql_node *t = on->args[k], *o = on->args[1 - k];
        if (t->kind != NK_IDENT || !t->qual || t->qual_len != strlen(qual) ||
            memcmp(t->qual, qual, t->qual_len) != 0 || o->kind != NK_IDENT)
            continue;
        long f = other_field(o, other, nother);
        if (f >= 0) {
            *other_col = (size_t)f;
            return t->name; /* NUL-terminated: the parser copies names */
        }
    }
    return NULL;
}

const char *sql_join_on_column(const struct sql_from *j, const char *qual, bool table_is_left,
                               const struct sql_field *other, size_t nother, size_t *other_col)
{
    (void)table_is_left;
    return j->on ? on_column(j->on, qual, other, nother, other_col) : NULL;
}

int sql_stmt_error(const struct sql_stmt *s, uint32_t pos, struct lerr *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sql_error_at(err, s->text, s->len, pos, "%s", msg);
}

/* ---- columns a block names ---------------------------------------------------------- */

struct uses {
    const char *qual, *name;
    size_t len;
};

static bool node_uses(const struct sql_node *n, const struct uses *u)
{
    if (!n)
        return false;
    if (n->kind == NK_STAR)
        return !n->qual ||
               (n->qual_len == strlen(u->qual) && memcmp(n->qual, u->qual, n->qual_len) == 0);
    if (n->kind == NK_IDENT && n->name_len == u->len && memcmp(n->name, u->name, u->len) == 0 &&
        (!n->qual ||
         (n->qual_len == strlen(u->qual) && memcmp(n->qual, u->qual, n->qual_len) == 0)))
        return true;
    for (int i = 0; i < n->nargs; i++)
        if (node_uses(n->args[i], u))
            return true;
    return node_uses(n->filter, u);
}

static bool from_uses(const struct sql_from *f, const struct uses *u)
{
    if (!f)
        return false;
    if (f->kind == SQL_FROM_UNNEST)
        return node_uses(f->expr, u);
    if (f->kind != SQL_FROM_JOIN)
        return false;
    for (size_t i = 0; i < f->nusing; i++)
        if (strlen(f->using_cols[i]) == u->len && memcmp(f->using_cols[i], u->name, u->len) == 0)
            return true;
    return node_uses(f->on, u) || from_uses(f->left, u) || from_uses(f->right, u);
}

bool sql_stmt_uses_column(const struct sql_stmt *s, const char *qual, const char *name)
{
    struct uses u = {qual, name, strlen(name)};
    if (from_uses(s->from, &u))
        return true;
    for (size_t i = 0; i < s->nitems; i++)
        if (node_uses(s->items[i].expr, &u))
            return true;
    for (size_t i = 0; i < s->ngroup; i++)
        if (node_uses(s->group[i], &u))
            return true;
    for (size_t i = 0; i < s->ngsets; i++)
        for (size_t k = 0; k < s->gsets[i].n; k++)
            if (node_uses(s->gsets[i].keys[k], &u))
                return true;
    for (size_t i = 0; i < s->norder; i++)
        if (node_uses(s->order[i].expr, &u))
            return true;
    return node_uses(s->where, &u) || node_uses(s->having, &u);
}

/* ---- subqueries in expressions -------------------------------------------------- */

struct walk {
    int (*fn)(void *arg, struct sql_subquery *sq);
    void *arg;
};

static int walk_node(struct walk *w, struct sql_node *n)
{
    if (!n)
        return 0;
    if (n->kind == NK_SUBQUERY) {
        struct sql_subquery sq = {(enum sql_subquery_kind)n->ival, n->aux, n};
        return w->fn(w->arg, &sq);
    }
    if (n->kind == NK_CALL && n->func == F_IN && n->nargs == 2 &&
        n->args[1]->kind == NK_SUBQUERY && n->args[1]->ival == SQL_SUBQUERY_IN) {
        struct sql_subquery sq = {SQL_SUBQUERY_IN, n->args[1]->aux, n};
        int rc = walk_node(w, n->args[0]);
        return rc ? rc : w->fn(w->arg, &sq);
    }
    for (int i = 0; i < n->nargs; i++) {
        int rc = walk_node(w, n->args[i]);
        if (rc)
            return rc;
    }
    return walk_node(w, n->filter);
}

static int walk_from(struct walk *w, struct sql_from *f)
{
    if (!f || f->kind != SQL_FROM_JOIN)
        return f && f->kind == SQL_FROM_UNNEST ? walk_node(w, f->expr) : 0;
    int rc = walk_from(w, f->left);
    if (!rc)
        rc = walk_from(w, f->right);
    return rc ? rc : walk_node(w, f->on);
}

int sql_stmt_subqueries(struct sql_stmt *s, int (*fn)(void *arg, struct sql_subquery *sq),
                        void *arg)
{
    struct walk w = {fn, arg};
    int rc = walk_from(&w, s->from);
    for (size_t i = 0; !rc && i < s->nitems; i++)
        rc = walk_node(&w, s->items[i].expr);
    for (size_t i = 0; !rc && i < s->ngroup; i++)
        rc = walk_node(&w, s->group[i]);
    for (size_t i = 0; !rc && i < s->norder; i++)
        rc = walk_node(&w, s->order[i].expr);
    struct sql_node *one[] = {s->where, s->having, s->limit, s->offset};
    for (size_t i = 0; !rc && i < LS_ARRAY_LEN(one); i++)
        rc = walk_node(&w, one[i]);
    return rc;
}

static bool copy_value(struct arena *a, struct sql_value *dst, const struct sql_value *v)
{
    *dst = *v;
    if (v->is_null || !sql_type_has_bytes(v->type))
        return v->is_null || v->type != SQL_ARRAY;
    char *p = arena_alloc(a, v->v.s.n + 1);
    if (!p)
        return false;
    memcpy(p, v->v.s.p, v->v.s.n);
    dst->v.s.p = p;
    return true;
}

static void make_lit(struct sql_node *n, struct sql_value v, int type)
{
    n->kind = NK_LIT;
    n->nargs = 0;
    n->args = NULL;
    n->aux = NULL;
    n->k = v;
    n->type = (uint8_t)type;
}

int sql_subquery_resolve(struct sql_stmt *s, struct sql_subquery *sq, size_t ncols, int type,
                         const struct sql_value *const *rows, size_t nrows, struct lerr *err)
{
    struct sql_node *n = sq->node;
    uint32_t pos = sq->q->pos;
    if (sq->kind == SQL_SUBQUERY_EXISTS) {
        struct sql_value v = {.type = SQL_BOOLEAN, .v.l = nrows > 0};
        make_lit(n, v, SQL_BOOLEAN);
        return 0;
    }
    if (ncols != 1)
        return sql_error_at(err, s->text, s->len, pos,
                            "the subquery selects %zu columns where one value is expected (select "
                            "one column)",
                            ncols);
    if (type == SQL_ARRAY)
        return sql_error_at(err, s->text, s->len, pos,
                            "the subquery gives ARRAY values, which cannot be used here (select a "
                            "scalar column)");
    if (sq->kind == SQL_SUBQUERY_SCALAR) {
        if (nrows > 1)
            return sql_error_at(err, s->text, s->len, pos,
                                "the subquery gives %zu rows where one value is expected (add "
                                "LIMIT 1, or an aggregate such as MAX)",
                                nrows);
        struct sql_value v = sql_null(type);
        if (nrows && !copy_value(s->mem, &v, &rows[0][0]))
            return lerr_set(err, LERR_NOMEM, "out of memory for the subquery's result");
        make_lit(n, v, type);
        return 0;
    }
    /* IN: an empty set is FALSE (NOT IN: TRUE) whatever the operand */
    bool neg = (n->flags & NF_NOT) != 0;
    if (nrows == 0) {
        struct sql_value v = {.type = SQL_BOOLEAN, .v.l = neg};
        make_lit(n, v, SQL_BOOLEAN);
        return 0;
    }
    /* distinct values (NULL kept once: NOT IN over a set with NULL is never TRUE) */
    struct sql_value *vals = arena_alloc(s->mem, sizeof *vals * nrows);
    size_t nslots = 16;
    while (nslots < nrows * 2)
        nslots *= 2;
    uint32_t *slots = calloc(nslots, sizeof *slots); /* index + 1; 0 = empty */
    if (!vals || !slots) {
        free(slots);
        return lerr_set(err, LERR_NOMEM, "out of memory for the subquery's result");
    }
    size_t k = 0;
    for (size_t r = 0; r < nrows; r++) {
        const struct sql_value *v = &rows[r][0];
        size_t h = (size_t)sql_value_hash(v) & (nslots - 1);
        bool dup = false;
        while (slots[h]) {
            if (sql_value_equal(&vals[slots[h] - 1], v) &&
                vals[slots[h] - 1].is_null == v->is_null) {
                dup = true;
                break;
            }
            h = (h + 1) & (nslots - 1);
        }
        if (dup)
            continue;
        if (!copy_value(s->mem, &vals[k], v)) {
            free(slots);
            return lerr_set(err, LERR_NOMEM, "out of memory for the subquery's result");
        }
        if (vals[k].is_null)
            vals[k].type = (uint8_t)type;
        slots[h] = (uint32_t)(++k);
    }
    free(slots);
    if (k + 1 > SQL_MAX_ARGS)
        return sql_error_at(err, s->text, s->len, pos,
                            "the subquery gives %zu distinct values, more than the %d an IN list "
                            "holds (join with the subquery instead: JOIN (SELECT ...) s ON ...)",
                            k, SQL_MAX_ARGS - 1);
    struct sql_node **args = arena_alloc(s->mem, sizeof *args * (k + 1));
    if (!args)
        return lerr_set(err, LERR_NOMEM, "out of memory for the subquery's result");
    args[0] = n->args[0];
    for (size_t i = 0; i < k; i++) {
        struct sql_node *lit = sql_node_new(s->mem, NK_LIT, pos);
        if (!lit)
            return lerr_set(err, LERR_NOMEM, "out of memory for the subquery's result");
        make_lit(lit, vals[i], type);
        args[i + 1] = lit;
    }
    n->args = args;
    n->nargs = (uint16_t)(k + 1);
    return 0;
}

/* ---- joins --------------------------------------------------------------------- */

/* Which sides a bound tree reads: bit 1 the left (fields < nleft), bit 2 the right. */
static int sides(const struct sql_node *n, size_t nleft)
{
    int m = 0;
    if (n->kind == NK_REF)
        m |= n->field < nleft ? 1 : 2;
    for (int i = 0; i < n->nargs; i++)
        m |= sides(n->args[i], nleft);
    return n->filter ? m | sides(n->filter, nleft) : m;
}

static void shift_refs(struct sql_node *n, size_t by)
{
    if (n->kind == NK_REF)
        n->field -= (uint32_t)by;
    for (int i = 0; i < n->nargs; i++)
        shift_refs(n->args[i], by);
    if (n->filter)
        shift_refs(n->filter, by);
}

struct keys {
    size_t n, cap;
    struct sql_node **l, **r;
};

static bool keys_add(struct sql_bctx *b, struct keys *k, struct sql_node *l, struct sql_node *r)
{
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 8;
        struct sql_node **nl = arena_alloc(b->arena, sizeof *nl * nc);
        struct sql_node **nr = arena_alloc(b->arena, sizeof *nr * nc);
        if (!nl || !nr)
            return false;
        if (k->n) {
            memcpy(nl, k->l, sizeof *nl * k->n);
            memcpy(nr, k->r, sizeof *nr * k->n);
        }
        k->l = nl;
        k->r = nr;
        k->cap = nc;
    }
    k->l[k->n] = l;
    k->r[k->n] = r;
    k->n++;
    return true;
}

/* Splits ON's top-level AND into key equalities; *all_keys when nothing is left. */
static bool split_on(struct sql_bctx *b, struct sql_node *on, size_t nleft, struct keys *k,
                     bool *all_keys)
{
    if (on->kind == NK_CALL && on->func == F_AND) {
        for (int i = 0; i < on->nargs; i++)
            if (!split_on(b, on->args[i], nleft, k, all_keys))
                return false;
        return true;
    }
    if (on->kind == NK_CALL && on->func == F_EQ && on->nargs == 2) {
        int a = sides(on->args[0], nleft), c = sides(on->args[1], nleft);
        struct sql_node *l = NULL, *r = NULL;
        if (a == 1 && c == 2) {
            l = on->args[0];
            r = on->args[1];
        } else if (a == 2 && c == 1) {
            l = on->args[1];
            r = on->args[0];
        }
        if (l) {
            struct sql_node *lc = sql_node_clone(b->arena, l);
            struct sql_node *rc = sql_node_clone(b->arena, r);
            if (!lc || !rc)
                return false;
            shift_refs(rc, nleft);
            return keys_add(b, k, lc, rc);
        }
    }
    *all_keys = false;
    return true;
}

/* The unqualified column `name` of one side of USING: exactly one. */
static int using_col(struct sql_bctx *b, const struct sql_schema *s, const char *name,
                     const char *side, uint32_t pos)
{
    int hit = -1;
    size_t n = strlen(name);
    for (size_t i = 0; i < s->n; i++) {
        const struct sql_field *f = &s->fields[i];
        if (f->name_len != n || memcmp(f->name, name, n) != 0 ||
            (f->flags & SQL_FIELD_QUALIFIED_ONLY))
            continue;
        if (hit >= 0)
            return sql_error_at(b->err, b->text, b->len, pos,
                                "USING column '%s' is ambiguous on the %s side of the join "
                                "(write ON with qualified names instead)",
                                name, side),
                   -2;
        hit = (int)i;
    }
    if (hit < 0)
        return sql_error_at(b->err, b->text, b->len, pos,
                            "USING column '%s' is not a column of the %s side of the join", name,
                            side),
               -2;
    return hit;
}

static int fail(struct sql_owner *o, int rc)
{
    sql_owner_free(o);
    return rc;
}

int sql_bind_join(const struct sql_stmt *s, const struct sql_from *j,
                  const struct sql_schema *left, const struct sql_schema *right,
                  const struct sql_options *opt, struct sql_join_cond **out, struct lerr *err)
{
    *out = NULL;
    struct sql_owner *o = sql_owner_new();
    if (!o)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    arena_set_budget(&o->arena, opt ? opt->budget : NULL);
    struct sql_join_cond *c = arena_zalloc(&o->arena, sizeof *c);
    size_t nf = left->n + right->n;
    struct sql_field *fields = arena_alloc(&o->arena, sizeof *fields * (nf ? nf : 1));
    char *text = arena_strndup(&o->arena, s->text, s->len);
    if (!c || !fields || !text)
        return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    c->owner = o;
    if (left->n)
        memcpy(fields, left->fields, sizeof *fields * left->n);
    if (right->n)
        memcpy(fields + left->n, right->fields, sizeof *fields * right->n);
    struct sql_schema both = {fields, nf};
    struct sql_bctx b;
    int rc = sql_bctx_init(&b, o, text, s->len, &both, opt, err);
    if (rc)
        return fail(o, rc);
    b.field_what = "column";
    b.field_quals = true;
    b.agg_refusal = "aggregates are not allowed in a join condition";
    struct keys k = {0, 0, NULL, NULL};
    bool all_keys = true;
    for (size_t i = 0; i < j->nusing; i++) {
        int li = using_col(&b, left, j->using_cols[i], "left", j->pos);
        int ri = li < 0 ? -2 : using_col(&b, right, j->using_cols[i], "right", j->pos);
        if (li < 0 || ri < 0)
            return fail(o, LERR_INVALID);
        struct sql_node *l = sql_node_ref(b.arena, (uint32_t)li, left->fields[li].type, j->pos);
        struct sql_node *r = sql_node_ref(b.arena, (uint32_t)ri, right->fields[ri].type, j->pos);
        if (!l || !r || !keys_add(&b, &k, l, r))
            return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    }
    struct sql_node *on = NULL;
    if (j->on) {
        if (!(on = sql_node_copy(b.arena, j->on)))
            return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
        if ((rc = sql_bind_node(&b, on)))
            return fail(o, rc);
        int t = on->type;
        if (t == SQL_STRING || t == SQL_JSON || t == SQL_ARRAY)
            return fail(o, sql_bind_error(&b, on,
                                          "a join condition must be true or false, such as "
                                          "a.x = b.x"));
        if (!split_on(&b, on, left->n, &k, &all_keys))
            return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    }
    c->nkeys = k.n;
    c->lkeys = arena_alloc(b.arena, sizeof *c->lkeys * (k.n ? k.n : 1));
    c->rkeys = arena_alloc(b.arena, sizeof *c->rkeys * (k.n ? k.n : 1));
    c->key_types = arena_alloc(b.arena, k.n ? k.n : 1);
    if (!c->lkeys || !c->rkeys || !c->key_types)
        return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    for (size_t i = 0; i < k.n; i++) {
        int lt = k.l[i]->type, rt = k.r[i]->type;
        c->key_types[i] = (uint8_t)(lt == rt ? lt : sql_common_type(lt, rt));
        if (c->key_types[i] == SQL_ARRAY || c->key_types[i] == SQL_JSON)
            return fail(o, sql_bind_error(&b, k.l[i],
                                          "join keys must be scalar values, not %s (compare "
                                          "scalar columns)",
                                          sql_type_sql_name(c->key_types[i])));
        c->lkeys[i] = sql_expr_wrap(&b, k.l[i], left->n);
        c->rkeys[i] = sql_expr_wrap(&b, k.r[i], right->n);
        if (!c->lkeys[i] || !c->rkeys[i])
            return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    }
    if (on && !all_keys && !(c->residual = sql_expr_wrap(&b, on, nf)))
        return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    *out = c;
    return 0;
}

void sql_join_cond_free(struct sql_join_cond *c)
{
    if (c)
        sql_owner_free(c->owner);
}

int sql_bind_unnest(const struct sql_stmt *s, const struct sql_from *u,
                    const struct sql_schema *left, const struct sql_options *opt,
                    struct sql_expr **out, struct lerr *err)
{
    *out = NULL;
    struct sql_owner *o = sql_owner_new();
    if (!o)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    arena_set_budget(&o->arena, opt ? opt->budget : NULL);
    char *text = arena_strndup(&o->arena, s->text, s->len);
    struct sql_node *n = text ? sql_node_copy(&o->arena, u->expr) : NULL;
    if (!n)
        return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    struct sql_bctx b;
    int rc = sql_bctx_init(&b, o, text, s->len, left, opt, err);
    if (rc)
        return fail(o, rc);
    b.field_what = "column";
    b.field_quals = true;
    b.agg_refusal = "aggregates are not allowed in UNNEST";
    if ((rc = sql_bind_node(&b, n)))
        return fail(o, rc);
    struct sql_expr *e = sql_expr_wrap(&b, n, left->n);
    if (!e)
        return fail(o, lerr_set(err, LERR_NOMEM, "out of memory"));
    e->owns = true;
    *out = e;
    return 0;
}

/* ---- an INNER join that is a filter ------------------------------------------------- */

static bool ident_qual_is(const struct sql_node *n, const char *qual)
{
    return n->kind == NK_IDENT && n->qual && n->qual_len == strlen(qual) &&
           memcmp(n->qual, qual, n->qual_len) == 0;
}

bool sql_join_single_key(const struct sql_from *j, const char *tq, const char *oq,
                         const char **tcol, const char **ocol)
{
    if (j->nusing == 1 && !j->on) {
        *tcol = *ocol = j->using_cols[0];
        return true;
    }
    const struct sql_node *on = j->on;
    if (j->nusing || !on || on->kind != NK_CALL || on->func != F_EQ || on->nargs != 2 ||
        (on->flags & NF_NOT))
        return false;
    for (int k = 0; k < 2; k++) {
        const struct sql_node *a = on->args[k], *b = on->args[1 - k];
        if (ident_qual_is(a, tq) && ident_qual_is(b, oq)) {
            *tcol = a->name;
            *ocol = b->name;
            return true;
        }
    }
    return false;
}

struct only {
    const char *oq, *ocol;
    const struct sql_field *of;
    size_t nof;
};

/* Whether n reads the other side only as oq.ocol. */
static bool only_key(const struct sql_node *n, const struct only *o)
{
    if (!n)
        return true;
    if (n->kind == NK_STAR || n->kind == NK_SUBQUERY)
        return false;
    if (n->kind == NK_IDENT) {
        if (n->qual)
            return !ident_qual_is(n, o->oq) ||
                   (n->name_len == strlen(o->ocol) && memcmp(n->name, o->ocol, n->name_len) == 0);
        for (size_t i = 0; i < o->nof; i++)
            if (o->of[i].name_len == n->name_len &&
                memcmp(o->of[i].name, n->name, n->name_len) == 0)
                return false; /* unqualified, and the other side has it */
        return true;
    }
    for (int i = 0; i < n->nargs; i++)
        if (!only_key(n->args[i], o))
            return false;
    return only_key(n->filter, o);
}

/* Points oq.ocol at tq.tcol throughout n. */
static void to_table_key(struct sql_node *n, const struct only *o, const char *tq,
                         const char *tcol)
{
    if (!n)
        return;
    if (n->kind == NK_IDENT && n->qual && ident_qual_is(n, o->oq)) {
        n->qual = tq;
        n->qual_len = (uint32_t)strlen(tq);
        n->name = tcol;
        n->name_len = (uint32_t)strlen(tcol);
    }
    for (int i = 0; i < n->nargs; i++)
        to_table_key(n->args[i], o, tq, tcol);
    to_table_key(n->filter, o, tq, tcol);
}

int sql_stmt_join_to_filter(struct sql_stmt *s, const struct sql_from *t, const char *tcol,
                            const char *oq, const char *ocol, const struct sql_field *ofields,
                            size_t nof, const struct sql_value *keys, size_t nkeys,
                            bool *rewritten, struct lerr *err)
{
    struct only o = {oq, ocol, ofields, nof};
    *rewritten = false;
    bool ok = nkeys + 1 < SQL_MAX_ARGS;
    for (size_t i = 0; ok && i < s->nitems; i++)
        ok = only_key(s->items[i].expr, &o);
    for (size_t i = 0; ok && i < s->ngroup; i++)
        ok = only_key(s->group[i], &o);
    for (size_t i = 0; ok && i < s->norder; i++)
        ok = only_key(s->order[i].expr, &o);
    ok = ok && only_key(s->where, &o) && only_key(s->having, &o) && !s->ngsets;
    if (!ok)
        return 0;
    *rewritten = true;
    const char *tq = t->alias ? t->alias : t->table;
    struct arena *a = s->mem;
    struct sql_node *col = sql_node_new(a, NK_IDENT, t->pos);
    struct sql_node **args = arena_alloc(a, sizeof *args * (nkeys + 1));
    if (!col || !args)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    col->name = tcol;
    col->name_len = (uint32_t)strlen(tcol);
    col->qual = tq;
    col->qual_len = (uint32_t)strlen(tq);
    args[0] = col;
    for (size_t i = 0; i < nkeys; i++) {
        struct sql_node *lit = sql_node_new(a, NK_LIT, t->pos);
        if (!lit || !copy_value(a, &lit->k, &keys[i]))
            return lerr_set(err, LERR_NOMEM, "out of memory");
        lit->type = keys[i].type;
        args[i + 1] = lit;
    }
    struct sql_node *in;
    if (nkeys) {
        in = sql_node_call(a, F_IN, t->pos, nkeys + 1, args);
    } else if ((in = sql_node_new(a, NK_LIT, t->pos))) { /* no key: no row */
        in->k = (struct sql_value){.type = SQL_BOOLEAN, .v.l = 0};
        in->type = SQL_BOOLEAN;
    }
    struct sql_node *both[2] = {s->where, in};
    struct sql_node *where = in && s->where ? sql_node_call(a, F_AND, t->pos, 2, both) : in;
    if (!where)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->nitems; i++)
        to_table_key(s->items[i].expr, &o, tq, tcol);
    for (size_t i = 0; i < s->ngroup; i++)
        to_table_key(s->group[i], &o, tq, tcol);
    for (size_t i = 0; i < s->norder; i++)
        to_table_key(s->order[i].expr, &o, tq, tcol);
    to_table_key(s->having, &o, tq, tcol);
    to_table_key(s->where, &o, tq, tcol);
    s->where = where;
    s->from = (struct sql_from *)t;
    s->schema_name = t->schema_name;
    s->table = t->table;
    s->table_alias = t->alias;
    return 0;
}
