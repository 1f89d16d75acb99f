/*
 * bind.c — name resolution, typing and constant folding, and the compiled
 * expression object. The binder walks the parsed tree once: identifiers
 * become field references (or an error with a "did you mean" hint), `?`
 * becomes the parameter's value, each call is checked by its function's
 * binder (func*.c), which coerces arguments with CAST nodes and picks a
 * monomorphic evaluation function, and calls whose arguments are all
 * constants are evaluated right away. The bound tree is the evaluable form.
 * A scalar call with a multi-value string argument is bound over one value
 * of it and wrapped in a map over its values (bind_mv_map; sql_int.h).
 *
 * Entry points: sql_compile_expr(), sql_bind_node(), sql_bind_agg_call(),
 * sql_expr_*() accessors, sql_node_equal(), sql_node_explain(). The
 * services the binders use (sql_coerce(), sql_arg_lit_string(), ...) are
 * in bind_util.c; each function's binder is called through
 * sql_func_binders[] (func.c).
 */
#include "sql/sql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- suggestions ----------------------------------------------------------- */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* Case-insensitive edit distance, bounded to 64 characters per side. */
static int edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
    if (an > 64 || bn > 64)
        return 1000;
    int row[65];
    for (size_t j = 0; j <= bn; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= an; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= bn; j++) {
            int cur = row[j];
            int cost = lower((unsigned char)a[i - 1]) == lower((unsigned char)b[j - 1]) ? 0 : 1;
            int best = prev + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[bn];
}

static bool close_enough(int d, size_t n) { return d <= (n <= 4 ? 1 : n <= 8 ? 2 : 3); }

/* ---- evaluation of leaves ------------------------------------------------------ */

static void eval_ref(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    const struct sql_value *v = c->row ? &c->row[n->field] : &c->cols[n->field][c->r];
    if (v->is_null) {
        *out = sql_null(n->type);
    } else if (v->type == n->type) {
        *out = *v;
    } else {
        *out = sql_value_cast(v, n->type, c->mem);
    }
}

struct sql_node *sql_node_ref(struct arena *a, uint32_t field, int type, uint32_t pos)
{
    struct sql_node *n = sql_node_new(a, NK_REF, pos);
    if (n) {
        n->field = field;
        n->type = (uint8_t)type;
        n->fn = eval_ref;
    }
    return n;
}

struct sql_node *sql_node_clone(struct arena *a, const struct sql_node *n)
{
    struct sql_node *c = arena_alloc(a, sizeof *c);
    if (!c)
        return NULL;
    *c = *n;
    if (n->nargs) {
        c->args = arena_alloc(a, sizeof *c->args * n->nargs);
        if (!c->args)
            return NULL;
        for (int i = 0; i < n->nargs; i++)
            if (!(c->args[i] = sql_node_clone(a, n->args[i])))
                return NULL;
    }
    if (n->filter && !(c->filter = sql_node_clone(a, n->filter)))
        return NULL;
    return c;
}

struct sql_node *sql_node_copy(struct arena *a, const struct sql_node *n)
{
    struct sql_node *c = arena_alloc(a, sizeof *c);
    if (!c)
        return NULL;
    *c = *n;
    if (n->name && !(c->name = arena_strndup(a, n->name, n->name_len)))
        return NULL;
    if (n->qual && !(c->qual = arena_strndup(a, n->qual, n->qual_len)))
        return NULL;
    if (n->kind == NK_LIT && !n->k.is_null && (n->k.type == SQL_STRING || n->k.type == SQL_JSON)) {
        char *p = arena_alloc(a, n->k.v.s.n + 1);
        if (!p)
            return NULL;
        memcpy(p, n->k.v.s.p, n->k.v.s.n);
        c->k.v.s.p = p;
    }
    if (n->nargs) {
        c->args = arena_alloc(a, sizeof *c->args * n->nargs);
        if (!c->args)
            return NULL;
        for (int i = 0; i < n->nargs; i++)
            if (!(c->args[i] = sql_node_copy(a, n->args[i])))
                return NULL;
    }
    if (n->filter && !(c->filter = sql_node_copy(a, n->filter)))
        return NULL;
    return c;
}

static void eval_fail(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    *out = sql_null(n->type);
    sql_rt_error(c, "internal error: unbound expression node");
}

/* ---- folding --------------------------------------------------------------- */

static bool all_args_const(const struct sql_node *n)
{
    for (int i = 0; i < n->nargs; i++)
        if (n->args[i]->kind != NK_LIT)
            return false;
    return n->filter == NULL;
}

/* ---- the binder ------------------------------------------------------------ */

static bool qual_is(const struct sql_field *f, const char *q, size_t n)
{
    return f->qual && strlen(f->qual) == n && memcmp(f->qual, q, n) == 0;
}

static bool name_is(const struct sql_field *f, const char *name, size_t n)
{
    return f->name_len == n && memcmp(f->name, name, n) == 0;
}

static void bind_ref(struct sql_node *n, const struct sql_schema *s, size_t i);

/* An identifier over fields that carry their qualifiers (joins, derived
 * tables): t.col picks t's column; col must name one column. */
static int bind_ident_quals(struct sql_bctx *b, struct sql_node *n)
{
    const struct sql_schema *s = b->schema;
    long hit = -1;
    bool qual_known = false;
    for (size_t i = 0; i < s->n; i++) {
        const struct sql_field *f = &s->fields[i];
        if (n->qual) {
            if (!qual_is(f, n->qual, n->qual_len))
                continue;
            qual_known = true;
        } else if (f->flags & SQL_FIELD_QUALIFIED_ONLY) {
            continue;
        }
        if (!name_is(f, n->name, n->name_len))
            continue;
        if (hit >= 0) {
            const struct sql_field *g = &s->fields[hit];
            if (n->qual)
                return sql_bind_error(b, n,
                                      "column '%.*s.%.*s' is ambiguous: '%.*s' has two columns "
                                      "of that name (rename one with AS in its subquery)",
                                      (int)n->qual_len, n->qual, (int)n->name_len, n->name,
                                      (int)n->qual_len, n->qual);
            return sql_bind_error(
                b, n,
                "column '%.*s' is ambiguous: both %s%s%s and %s%s%s have it (qualify it, "
                "such as %s.\"%.*s\")",
                (int)n->name_len, n->name, g->qual ? "'" : "", g->qual ? g->qual : "a subquery",
                g->qual ? "'" : "", f->qual ? "'" : "", f->qual ? f->qual : "a subquery",
                f->qual ? "'" : "", g->qual ? g->qual : "t", (int)n->name_len, n->name);
        }
        hit = (long)i;
    }
    if (hit >= 0) {
        bind_ref(n, s, (size_t)hit);
        return 0;
    }
    if (n->qual && !qual_known) {
        const char *names[64];
        size_t k = 0;
        for (size_t i = 0; i < s->n && k + 1 < LS_ARRAY_LEN(names); i++) {
            const char *q = s->fields[i].qual;
            bool seen = !q;
            for (size_t j = 0; j < k && !seen; j++)
                seen = strcmp(names[j], q) == 0;
            if (!seen)
                names[k++] = q;
        }
        names[k] = NULL;
        char qn[128];
        snprintf(qn, sizeof qn, "%.*s", (int)(n->qual_len < 100 ? n->qual_len : 100), n->qual);
        const char *hint = util_closest(qn, strlen(qn), names);
        return sql_bind_error(b, n, "unknown table or alias '%s' in %s.\"%.*s\" (%s%s%s)", qn, qn,
                              (int)n->name_len, n->name, hint ? "did you mean '" : "",
                              hint ? hint : "the FROM clause names its tables and aliases",
                              hint ? "'?" : "");
    }
    return -1; /* unknown name: the caller's messages */
}

static void bind_ref(struct sql_node *n, const struct sql_schema *s, size_t i)
{
    n->kind = NK_REF;
    n->field = (uint32_t)i;
    n->type = s->fields[i].type;
    n->fn = eval_ref;
}

static int bind_ident(struct sql_bctx *b, struct sql_node *n)
{
    const struct sql_schema *s = b->schema;
    if ((n->flags & NF_COLREF) && s && n->field < s->n) {
        /* a column of the window step's input, named by position (window.c) */
        bind_ref(n, s, n->field);
        return 0;
    }
    if (b->field_quals) {
        int rc = bind_ident_quals(b, n);
        if (rc >= 0)
            return rc;
    } else if (n->qual && b->table) {
        bool ok =
            (n->qual_len == strlen(b->table) && memcmp(n->qual, b->table, n->qual_len) == 0) ||
            (b->table_alias && n->qual_len == strlen(b->table_alias) &&
             memcmp(n->qual, b->table_alias, n->qual_len) == 0);
        if (!ok)
            return sql_bind_error(b, n, "unknown table '%.*s' (the query reads \"%s\")",
                                  (int)n->qual_len, n->qual, b->table);
    } else if (n->qual) {
        return sql_bind_error(b, n,
                              "unknown %s '%.*s.%.*s' (refer to fields by name, such as \"%.*s\")",
                              b->field_what, (int)n->qual_len, n->qual, (int)n->name_len, n->name,
                              (int)n->name_len, n->name);
    }
    for (size_t i = 0; s && !b->field_quals && i < s->n; i++) {
        if (name_is(&s->fields[i], n->name, n->name_len)) {
            bind_ref(n, s, i);
            return 0;
        }
    }
    /* suggest the closest name */
    int best = 1000;
    size_t bi = 0;
    for (size_t i = 0; s && i < s->n; i++) {
        int d = edit_distance(n->name, n->name_len, s->fields[i].name, s->fields[i].name_len);
        if (d < best) {
            best = d;
            bi = i;
        }
    }
    int nl = (int)(n->name_len > 80 ? 80 : n->name_len);
    if (best < 1000 && close_enough(best, n->name_len)) {
        const struct sql_field *f = &s->fields[bi];
        return sql_bind_error(b, n, "unknown %s '%.*s' (did you mean \"%.*s\"?%s)", b->field_what,
                              nl, n->name, (int)(f->name_len > 80 ? 80 : f->name_len), f->name,
                              best == 0 ? " names are case-sensitive" : "");
    }
    if (!(n->flags & NF_QUOTED) && sql_func_find(n->name, n->name_len) >= 0)
        return sql_bind_error(b, n, "unknown %s '%.*s' (to call the function write %.*s(...))",
                              b->field_what, nl, n->name, nl, n->name);
    if (!s || s->n == 0)
        return sql_bind_error(b, n, "unknown %s '%.*s' (there are no %ss to refer to)",
                              b->field_what, nl, n->name, b->field_what);
    return sql_bind_error(
        b, n, "unknown %s '%.*s' (declare it%s, or write a string in single quotes: '%.*s')",
        b->field_what, nl, n->name,
        strcmp(b->field_what, "column") == 0 ? " in the table" : " in inputSchema", nl, n->name);
}

static int bind_param(struct sql_bctx *b, struct sql_node *n)
{
    const struct sql_options *o = b->opt;
    if (!o || n->field >= o->nparams)
        return sql_bind_error(b, n, "no value for parameter %u (pass it in \"parameters\")",
                              n->field + 1);
    struct sql_value v = o->params[n->field];
    if (!v.is_null && (v.type == SQL_STRING || v.type == SQL_JSON)) {
        char *p = arena_strndup(b->arena, v.v.s.p, v.v.s.n);
        if (!p)
            return lerr_set(b->err, LERR_NOMEM, "out of memory");
        v.v.s.p = p;
    }
    if (v.type == SQL_ARRAY)
        return sql_bind_error(b, n, "array parameters are not supported");
    n->kind = NK_LIT;
    n->k = v;
    n->type = v.type;
    n->fn = sql_eval_lit;
    return 0;
}

static int unknown_function(struct sql_bctx *b, struct sql_node *n)
{
    int best = 1000, bi = -1;
    for (int i = 0; i < F__COUNT; i++) {
        if (sql_funcs[i].flags & FF_OP)
            continue;
        int d = edit_distance(n->name, n->name_len, sql_funcs[i].name, strlen(sql_funcs[i].name));
        if (d < best) {
            best = d;
            bi = i;
        }
    }
    int nl = (int)(n->name_len > 80 ? 80 : n->name_len);
    if (bi >= 0 && close_enough(best, n->name_len))
        return sql_bind_error(b, n, "unknown function '%.*s' (did you mean %s?)", nl, n->name,
                              sql_funcs[bi].name);
    return sql_bind_error(
        b, n,
        "unknown function '%.*s' (see the list of supported functions in the API documentation)",
        nl, n->name);
}

/* ---- scalar functions over multi-value strings ---------------------------------------- */

/* Whether argument a is a multi-value string: a multi-value column, a mapped
 * call, or a multi-value function's result (ARRAY_TO_MV, MV_APPEND, ...; not
 * MV_TO_ARRAY, which makes an ARRAY). */
static bool mv_input(const struct sql_bctx *b, const struct sql_node *a)
{
    if (a->kind == NK_REF)
        return a->type == SQL_ARRAY && b->schema && a->field < b->schema->n &&
               (b->schema->fields[a->field].flags & SQL_FIELD_MULTI_VALUE);
    if (a->kind != NK_CALL)
        return false;
    if (a->fn == sql_eval_mv_map)
        return true;
    if (a->type != SQL_ARRAY || sql_func_binders[a->func] != sql_bind_array_fn)
        return false;
    int v = sql_funcs[a->func].variant;
    return v == AV_TO_MV || ((v & AV_MV) && v != AV_MV_TO_ARRAY);
}

/* Whether a call maps over multi-value arguments: scalar functions do; the
 * array and multi-value functions take the whole list, the predicates
 * (=, IN, LIKE, BETWEEN) hold when any value does (func.c), IS, AND/OR/NOT,
 * the JSON and sketch functions and casts to arrays or JSON take the value
 * as it is. */
static bool mv_maps(const struct sql_node *n)
{
    sql_bind_fn f = sql_func_binders[n->func];
    if (!f || f == sql_bind_array_fn || f == sql_bind_array || f == sql_bind_is ||
        f == sql_bind_logic || f == sql_bind_cmp || f == sql_bind_in || f == sql_bind_between ||
        f == sql_bind_like || f == sql_bind_json || f == sql_bind_sketch_fn)
        return false;
    return n->func != F_CAST || (n->ttype != SQL_ARRAY && n->ttype != SQL_JSON);
}

/* Binds call n (its arguments bound) over one value of each multi-value
 * argument and makes n the map of it over their values (sql_int.h). */
static int bind_mv_map(struct sql_bctx *b, struct sql_node *n)
{
    int k = 0;
    for (int i = 0; i < n->nargs; i++)
        k += mv_input(b, n->args[i]);
    if (k > SQL_MV_MAX_INPUTS)
        return sql_bind_error(b, n,
                              "%s over %d multi-value strings would give the product of their "
                              "values; at most %d may be mapped in one call (use UNNEST)",
                              sql_funcs[n->func].name, k, SQL_MV_MAX_INPUTS);
    struct sql_node *inner = arena_alloc(b->arena, sizeof *inner);
    struct sql_node **iargs = arena_alloc(b->arena, sizeof *iargs * n->nargs);
    struct sql_node **margs = arena_alloc(b->arena, sizeof *margs * (size_t)(k + 1));
    if (!inner || !iargs || !margs)
        return lerr_set(b->err, LERR_NOMEM, "out of memory");
    *inner = *n;
    inner->args = iargs;
    uint32_t height = 0;
    for (int i = 0, j = 0; i < n->nargs; i++) {
        struct sql_node *a = n->args[i];
        iargs[i] = a;
        if (!mv_input(b, a))
            continue;
        struct sql_node *slot = sql_node_new(b->arena, NK_CALL, a->pos);
        struct sql_node **sarg = arena_alloc(b->arena, sizeof *sarg);
        if (!slot || !sarg)
            return lerr_set(b->err, LERR_NOMEM, "out of memory");
        sarg[0] = a;
        slot->func = n->func;
        slot->type = SQL_STRING;
        slot->nargs = 1;
        slot->args = sarg;
        slot->ival = j;
        slot->aux = n;
        slot->height = a->height + 1;
        slot->fn = sql_eval_mv_slot;
        iargs[i] = slot;
        margs[1 + j++] = a;
        height = a->height > height ? a->height : height;
    }
    int rc = sql_func_binders[inner->func](b, inner);
    if (rc || (b->err && b->err->code))
        return rc ? rc : b->err->code;
    if (!inner->fn)
        inner->fn = eval_fail;
    inner->height = 0;
    for (int i = 0; i < inner->nargs; i++)
        if (inner->args[i]->height + 1 > inner->height)
            inner->height = inner->args[i]->height + 1;
    margs[0] = inner;
    n->args = margs;
    n->nargs = (uint16_t)(k + 1);
    n->type = SQL_ARRAY;
    n->ttype = SQL_STRING;
    n->flags = 0;
    n->aux = NULL;
    n->ival = 0;
    n->height = (inner->height > height ? inner->height : height) + 1;
    n->fn = sql_eval_mv_map;
    return 0;
}

bool sql_expr_is_multi_value(const struct sql_expr *e)
{
    const struct sql_node *r = e->root;
    if (r->fn == sql_eval_mv_map)
        return true;
    /* the functions whose result Druid types as a multi-value string (of
     * VARCHAR values): GROUP BY MV_FILTER_ONLY(tags, ARRAY['a', 'b']) has a
     * group per kept value, as in Druid */
    if (r->kind != NK_CALL || r->type != SQL_ARRAY || r->ttype != SQL_STRING)
        return false;
    switch (r->func) {
    case F_ARRAY_TO_MV:
    case F_STRING_TO_MV:
    case F_MV_FILTER_ONLY:
    case F_MV_FILTER_NONE:
    case F_MV_PREPEND:
    case F_MV_APPEND:
    case F_MV_CONCAT:
    case F_MV_SLICE: return true;
    default: return false;
    }
}

int sql_expr_elem_type(const struct sql_expr *e)
{
    const struct sql_node *r = e->root;
    if (r->type != SQL_ARRAY || e->agg)
        return SQL_NULL;
    if (r->kind == NK_LIT) { /* a folded array: its elements' common type */
        int t = SQL_NULL;
        for (uint32_t i = 0; !r->k.is_null && i < r->k.v.a.n; i++) {
            const struct sql_value *x = &r->k.v.a.items[i];
            if (x->is_null)
                continue;
            if (t != SQL_NULL && t != x->type)
                return SQL_NULL;
            t = x->type;
        }
        return t != SQL_NULL ? t : r->ttype;
    }
    return r->kind == NK_CALL ? r->ttype : SQL_NULL;
}

int sql_bind_node(struct sql_bctx *b, struct sql_node *n)
{
    if (b->err && b->err->code)
        return b->err->code;
    switch (n->kind) {
    case NK_LIT:
        n->type = n->k.is_null ? n->type : n->k.type;
        n->fn = sql_eval_lit;
        return 0;
    case NK_REF:
    case NK_AGGREF: return 0; /* already bound (shared subtrees) */
    case NK_IDENT: return bind_ident(b, n);
    case NK_PARAM: return bind_param(b, n);
    case NK_STAR: return sql_bind_error(b, n, "'*' is only allowed in COUNT(*) and SELECT *");
    case NK_SUBQUERY:
        return sql_bind_error(b, n,
                              "a subquery is not allowed here (subqueries go in FROM, "
                              "IN (SELECT ...), EXISTS (SELECT ...) or as a value)");
    default: break;
    }
    if (n->fn)
        return 0; /* a call bound earlier (coercions share nodes) */
    if (n->func == UINT16_MAX) {
        int f = sql_func_find(n->name, n->name_len);
        if (f < 0)
            return unknown_function(b, n);
        n->func = (uint16_t)f;
    }
    const struct sql_func *f = &sql_funcs[n->func];
    if (n->flags & NF_OVER)
        return sql_bind_error(b, n,
                              "window function %s is not allowed here (window functions go in "
                              "the SELECT list or ORDER BY, and are computed after WHERE, GROUP "
                              "BY and HAVING)",
                              f->name);
    if (f->flags & FF_WINDOW)
        return sql_bind_error(b, n,
                              "%s is a window function and needs an OVER clause (add a window "
                              "after the call: %s(...) OVER(PARTITION BY ... ORDER BY ...))",
                              f->name, f->name);
    if (f->flags & FF_UNSUPPORTED)
        return sql_bind_error(
            b, n,
            "%s is not supported yet (HLL and theta sketch functions come in a later release; use COUNT(DISTINCT ...) in queries)",
            f->name);
    if (f->flags & FF_AGG) {
        if (b->agg_depth > 0)
            return sql_bind_error(b, n, "aggregate %s cannot be nested inside another aggregate",
                                  f->name);
        if (!b->agg_hook)
            return sql_bind_error(b, n, "aggregate %s is not allowed here (%s)", f->name,
                                  b->agg_refusal
                                      ? b->agg_refusal
                                      : "only a whole isAggregation mapping may aggregate");
        return b->agg_hook(b, n);
    }
    if (n->flags & NF_DISTINCT)
        return sql_bind_error(b, n, "DISTINCT is only allowed in aggregate functions");
    if (n->filter)
        return sql_bind_error(b, n, "FILTER is only allowed after aggregate functions");
    if (n->nargs < f->min_args || (f->max_args >= 0 && n->nargs > f->max_args)) {
        if (f->min_args == f->max_args)
            return sql_bind_error(b, n, "%s takes %d argument%s but got %u", f->name, f->min_args,
                                  f->min_args == 1 ? "" : "s", n->nargs);
        if (f->max_args < 0)
            return sql_bind_error(b, n, "%s takes at least %d argument%s but got %u", f->name,
                                  f->min_args, f->min_args == 1 ? "" : "s", n->nargs);
        return sql_bind_error(b, n, "%s takes %d to %d arguments but got %u", f->name, f->min_args,
                              f->max_args, n->nargs);
    }
    if (n->ttype && n->func != F_CAST && n->func != F_JSON_VALUE)
        return sql_bind_error(b, n, "RETURNING is only allowed in JSON_VALUE");
    for (int i = 0; i < n->nargs; i++) {
        int rc = sql_bind_node(b, n->args[i]);
        if (rc)
            return rc;
        if (n->args[i]->type == SQL_INTERVAL && n->func != F_ADD && n->func != F_SUB)
            return sql_bind_error(
                b, n->args[i], "an INTERVAL can only be added to or subtracted from a TIMESTAMP");
    }
    if (mv_maps(n))
        for (int i = 0; i < n->nargs; i++)
            if (mv_input(b, n->args[i]))
                return bind_mv_map(b, n);
    int rc = sql_func_binders[n->func](b, n);
    if (rc)
        return rc;
    if (b->err && b->err->code)
        return b->err->code;
    if (!n->fn)
        n->fn = eval_fail;
    if (n->kind == NK_CALL && !(f->flags & FF_NOFOLD) && all_args_const(n))
        sql_fold(b, n);
    return 0;
}

/* ---- aggregate calls --------------------------------------------------------- */

static int lit_int_arg(struct sql_bctx *b, struct sql_node *n, int i, const char *what, int64_t lo,
                       int64_t hi, int64_t *out)
{
    struct sql_node *a = n->args[i];
    if (sql_bind_node(b, a))
        return b->err->code;
    if (a->kind != NK_LIT || a->k.is_null || a->k.type != SQL_LONG || a->k.v.l < lo ||
        a->k.v.l > hi)
        return sql_bind_error(b, a,
                              "the %s argument of %s must be an integer literal from %lld to %lld",
                              what, sql_funcs[n->func].name, (long long)lo, (long long)hi);
    *out = a->k.v.l;
    return 0;
}

/* STRING_AGG's (LISTAGG's) separator: a string literal, as Druid requires
 * (a query parameter binds to one); kept in the owner's arena. */
static int separator_arg(struct sql_bctx *b, struct sql_node *n, struct sql_agg_call *out)
{
    struct sql_node *a = n->args[1];
    if (sql_bind_node(b, a))
        return b->err->code;
    if (a->kind != NK_LIT || a->k.is_null || a->k.type != SQL_STRING)
        return sql_bind_error(b, a,
                              "the separator argument of %s must be a string literal, such as "
                              "', ' (it cannot come from a column or an expression)",
                              sql_funcs[n->func].name);
    out->sep = a->k.v.s.p;
    out->sep_len = a->k.v.s.n;
    return 0;
}

int sql_bind_agg_call(struct sql_bctx *b, struct sql_node *n, struct sql_agg_call *out)
{
    const struct sql_func *f = &sql_funcs[n->func];
    memset(out, 0, sizeof *out);
    out->kind = (enum sql_agg_kind)f->variant;
    out->max_bytes = 1024;
    if (n->nargs < f->min_args || (f->max_args >= 0 && n->nargs > f->max_args)) {
        if (n->func == F_COUNT)
            return sql_bind_error(b, n, "COUNT takes * or one argument");
        return sql_bind_error(b, n, "%s takes %d to %d arguments but got %u", f->name, f->min_args,
                              f->max_args, n->nargs);
    }
    if (n->func == F_COUNT) {
        out->kind = n->nargs == 0              ? SQL_AGG_COUNT_STAR
                    : (n->flags & NF_DISTINCT) ? SQL_AGG_COUNT_DISTINCT
                                               : SQL_AGG_COUNT;
        out->distinct = (n->flags & NF_DISTINCT) != 0;
    } else if (n->flags & NF_DISTINCT) {
        if (n->func != F_APPROX_CD && out->kind != SQL_AGG_ARRAY_AGG &&
            out->kind != SQL_AGG_ARRAY_CONCAT && out->kind != SQL_AGG_STRING_AGG)
            return sql_bind_error(b, n,
                                  "DISTINCT is only supported in COUNT, ARRAY_AGG, "
                                  "ARRAY_CONCAT_AGG, STRING_AGG and LISTAGG, not in %s",
                                  f->name);
        out->distinct = true;
    }
    /* sketches: their own aggregates, and COUNT(DISTINCT x) unless the
     * query asked for exact counts (useApproximateCountDistinct false) */
    bool sketch =
        out->kind == SQL_AGG_HLL || out->kind == SQL_AGG_THETA || out->kind == SQL_AGG_QUANTILES ||
        (out->kind == SQL_AGG_COUNT_DISTINCT && !(b->opt && b->opt->exact_count_distinct));
    b->agg_depth++;
    int rc = 0;
    int nvals = n->nargs;
    if (sketch) {
        out->distinct = false;
        for (int i = 0; i < n->nargs; i++) {
            if (n->args[i]->kind == NK_STAR) {
                rc = sql_bind_error(b, n->args[i], "'*' is only allowed in COUNT(*)");
                goto done;
            }
            if ((rc = sql_bind_node(b, n->args[i])))
                goto done;
        }
        if ((rc = sql__sketch_bind_agg(b, n, out)))
            goto done;
        nvals = 1;
        goto wrap;
    }
    if (out->kind == SQL_AGG_EARLIEST || out->kind == SQL_AGG_LATEST ||
        out->kind == SQL_AGG_ANY_VALUE) {
        if (n->nargs == 2) {
            int64_t mb;
            if ((rc = lit_int_arg(b, n, 1, "maxBytes", 1, 1 << 20, &mb)))
                goto done;
            out->max_bytes = (uint32_t)mb;
        }
        nvals = 1;
    } else if (out->kind == SQL_AGG_EARLIEST_BY || out->kind == SQL_AGG_LATEST_BY) {
        if (n->nargs == 3) {
            int64_t mb;
            if ((rc = lit_int_arg(b, n, 2, "maxBytes", 1, 1 << 20, &mb)))
                goto done;
            out->max_bytes = (uint32_t)mb;
        }
        nvals = 2;
    } else if (out->kind == SQL_AGG_ARRAY_AGG || out->kind == SQL_AGG_ARRAY_CONCAT ||
               out->kind == SQL_AGG_STRING_AGG) {
        /* [expr, separator,] maxBytes: the accumulator's limit, as Druid's */
        int sep_at = out->kind == SQL_AGG_STRING_AGG ? 1 : -1;
        int mb_at = sep_at > 0 ? 2 : 1;
        if (n->nargs > mb_at) {
            int64_t mb;
            if ((rc = lit_int_arg(b, n, mb_at, "maxBytes", 1, INT32_MAX, &mb)))
                goto done;
            out->max_bytes = (uint32_t)mb;
        }
        out->sep = ",";
        out->sep_len = 1;
        if (sep_at > 0 && n->nargs > sep_at && (rc = separator_arg(b, n, out)))
            goto done;
        nvals = 1;
    }
    for (int i = 0; i < nvals; i++) {
        struct sql_node *a = n->args[i];
        if (a->kind == NK_STAR) {
            rc = sql_bind_error(b, a, "'*' is only allowed in COUNT(*)");
            goto done;
        }
        if ((rc = sql_bind_node(b, a)))
            goto done;
    }
    int at = nvals ? n->args[0]->type : SQL_NULL;
    out->arg_type = (uint8_t)at;
    out->nargs = (uint8_t)nvals;
    switch (out->kind) {
    case SQL_AGG_COUNT_STAR:
    case SQL_AGG_COUNT:
    case SQL_AGG_COUNT_DISTINCT:
        out->result_type = SQL_LONG;
        if (at == SQL_INTERVAL)
            rc = sql_bind_error(b, n->args[0], "cannot count INTERVAL values");
        break;
    case SQL_AGG_SUM:
    case SQL_AGG_AVG:
        if (!sql_type_is_numeric(at) && at != SQL_NULL) {
            rc = sql_bind_error(b, n->args[0],
                                "%s needs a number but got %s (CAST it to BIGINT or DOUBLE)",
                                f->name, sql_type_sql_name(at));
            break;
        }
        if (at == SQL_BOOLEAN || at == SQL_TIMESTAMP || at == SQL_NULL) {
            sql_coerce(b, n, 0, SQL_LONG);
            at = SQL_LONG;
        } else if (at == SQL_FLOAT) {
            sql_coerce(b, n, 0, SQL_DOUBLE);
            at = SQL_DOUBLE;
        }
        out->arg_type = (uint8_t)at;
        /* AVG is DOUBLE whatever its input (Druid 28+, apache/druid#15089) */
        out->result_type = (uint8_t)(out->kind == SQL_AGG_AVG ? SQL_DOUBLE : at);
        break;
    case SQL_AGG_MIN:
    case SQL_AGG_MAX:
    case SQL_AGG_ANY_VALUE:
    case SQL_AGG_EARLIEST:
    case SQL_AGG_LATEST:
    case SQL_AGG_EARLIEST_BY:
    case SQL_AGG_LATEST_BY:
        if (at == SQL_ARRAY || at == SQL_INTERVAL) {
            rc = sql_bind_error(b, n->args[0], "%s cannot aggregate %s values", f->name,
                                sql_type_sql_name(at));
            break;
        }
        if (at == SQL_BOOLEAN || at == SQL_NULL) {
            sql_coerce(b, n, 0, at == SQL_NULL ? SQL_STRING : SQL_LONG);
            at = n->args[0]->type;
        }
        if (at == SQL_JSON && out->kind != SQL_AGG_ANY_VALUE) {
            sql_coerce(b, n, 0, SQL_STRING);
            at = SQL_STRING;
        }
        out->arg_type = (uint8_t)at;
        out->result_type = (uint8_t)at;
        if (nvals == 2) {
            int tt = n->args[1]->type;
            if (tt != SQL_TIMESTAMP && tt != SQL_LONG && tt != SQL_NULL) {
                rc = sql_bind_error(
                    b, n->args[1],
                    "the time argument of %s must be a TIMESTAMP (use TIME_PARSE or MILLIS_TO_TIMESTAMP)",
                    f->name);
                break;
            }
            sql_coerce(b, n, 1, SQL_TIMESTAMP);
        }
        break;
    case SQL_AGG_VAR_SAMP:
    case SQL_AGG_VAR_POP:
    case SQL_AGG_STDDEV_SAMP:
    case SQL_AGG_STDDEV_POP:
        if (at != SQL_LONG && at != SQL_FLOAT && at != SQL_DOUBLE && at != SQL_NULL) {
            rc = sql_bind_error(b, n->args[0],
                                "%s needs a number (BIGINT, FLOAT or DOUBLE) but got %s (CAST it "
                                "to DOUBLE%s)",
                                f->name, sql_type_sql_name(at),
                                at == SQL_TIMESTAMP ? ", or use TIMESTAMP_TO_MILLIS" : "");
            break;
        }
        sql_coerce(b, n, 0, SQL_DOUBLE);
        out->arg_type = SQL_DOUBLE;
        out->result_type = SQL_DOUBLE;
        break;
    case SQL_AGG_BIT_AND:
    case SQL_AGG_BIT_OR:
    case SQL_AGG_BIT_XOR:
        if (at != SQL_LONG && at != SQL_NULL) {
            rc = sql_bind_error(b, n->args[0],
                                "%s needs a whole number (BIGINT) but got %s (CAST it to BIGINT)",
                                f->name, sql_type_sql_name(at));
            break;
        }
        sql_coerce(b, n, 0, SQL_LONG);
        out->arg_type = SQL_LONG;
        out->result_type = SQL_LONG;
        break;
    case SQL_AGG_ARRAY_CONCAT:
        if (at != SQL_ARRAY && at != SQL_NULL) {
            rc = sql_bind_error(b, n->args[0],
                                "%s needs an ARRAY but got %s (use ARRAY_AGG to collect single "
                                "values into an array)",
                                f->name, sql_type_sql_name(at));
            break;
        }
        out->arg_type = SQL_ARRAY;
        out->result_type = SQL_ARRAY;
        break;
    case SQL_AGG_ARRAY_AGG:
    case SQL_AGG_STRING_AGG:
        if (at == SQL_ARRAY || at == SQL_INTERVAL || at == SQL_JSON) {
            rc = sql_bind_error(b, n->args[0], "%s cannot aggregate %s values (%s)", f->name,
                                sql_type_sql_name(at),
                                at == SQL_ARRAY  ? "ARRAY_CONCAT_AGG concatenates arrays"
                                : at == SQL_JSON ? "CAST it to VARCHAR, or use TO_JSON_STRING"
                                                 : "add it to a TIMESTAMP first");
            break;
        }
        if (out->kind == SQL_AGG_STRING_AGG || at == SQL_NULL)
            sql_coerce(b, n, 0, SQL_STRING); /* STRING_AGG joins text, as Druid casts */
        else if (at == SQL_BOOLEAN)
            sql_coerce(b, n, 0, SQL_LONG);
        at = n->args[0]->type;
        out->arg_type = (uint8_t)at;
        out->result_type = out->kind == SQL_AGG_STRING_AGG ? SQL_STRING : SQL_ARRAY;
        break;
    default: break;
    }
    if (rc)
        goto done;
wrap:
    for (int i = 0; i < nvals; i++) {
        out->args[i] = sql_expr_wrap(b, n->args[i], b->schema ? b->schema->n : 0);
        if (!out->args[i]) {
            rc = lerr_set(b->err, LERR_NOMEM, "out of memory");
            goto done;
        }
    }
    if (n->filter) {
        if ((rc = sql_bind_node(b, n->filter)))
            goto done;
        out->filter = sql_expr_wrap(b, n->filter, b->schema ? b->schema->n : 0);
        if (!out->filter)
            rc = lerr_set(b->err, LERR_NOMEM, "out of memory");
    }
done:
    b->agg_depth--;
    return rc;
}

/* ---- expressions ---------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The fields a tree references, in a growing vector: work in proportion to
 * the tree, not to the number of fields (a query with thousands of
 * aggregates wraps thousands of expressions over that many fields). */
struct refvec {
    uint32_t *v;
    size_t n, cap;
    bool failed;
};

static void collect_refs(const struct sql_node *n, struct refvec *rv, size_t nfields)
{
    if (n->kind == NK_REF && n->field < nfields) {
        if (rv->n == rv->cap) {
            size_t ncap = rv->cap ? rv->cap * 2 : 16;
            uint32_t *nv = realloc(rv->v, ncap * sizeof *nv);
            if (!nv) {
                rv->failed = true;
                return;
            }
            rv->v = nv;
            rv->cap = ncap;
        }
        rv->v[rv->n++] = n->field;
    }
    if (n->kind != NK_CALL)
        return;
    for (int i = 0; i < n->nargs; i++)
        collect_refs(n->args[i], rv, nfields);
    if (n->filter)
        collect_refs(n->filter, rv, nfields);
}

static bool has_bytes(int type)
{
    return type == SQL_STRING || type == SQL_JSON || type == SQL_ARRAY;
}

/* Can evaluating n allocate? Calls that produce strings, JSON or arrays do
 * (references and literals only point at bytes that exist). */
static bool may_allocate(const struct sql_node *n)
{
    if (n->kind != NK_CALL)
        return false;
    if (has_bytes(n->type))
        return true;
    for (int i = 0; i < n->nargs; i++)
        if (may_allocate(n->args[i]))
            return true;
    return n->filter && may_allocate(n->filter);
}

struct sql_expr *sql_expr_wrap(struct sql_bctx *b, struct sql_node *root, size_t nfields)
{
    struct sql_expr *e = arena_zalloc(b->arena, sizeof *e);
    if (!e)
        return NULL;
    e->owner = b->owner;
    e->root = root;
    e->type = root->type;
    e->text = b->text;
    e->row_garbage = !has_bytes(root->type) && may_allocate(root);
    if (nfields) {
        struct refvec rv = {NULL, 0, 0, false};
        collect_refs(root, &rv, nfields);
        if (rv.failed) {
            free(rv.v);
            return NULL;
        }
        if (rv.n > 1)
            qsort(rv.v, rv.n, sizeof *rv.v, cmp_u32);
        size_t k = 0;
        for (size_t i = 0; i < rv.n; i++)
            if (i == 0 || rv.v[i] != rv.v[i - 1])
                rv.v[k++] = rv.v[i];
        e->refs = arena_alloc(b->arena, sizeof *e->refs * (k ? k : 1));
        if (!e->refs) {
            free(rv.v);
            return NULL;
        }
        if (k)
            memcpy(e->refs, rv.v, k * sizeof *e->refs);
        e->nrefs = k;
        free(rv.v);
    }
    return e;
}

int sql_bctx_init(struct sql_bctx *b, struct sql_owner *o, const char *text, size_t len,
                  const struct sql_schema *schema, const struct sql_options *opt, struct lerr *err)
{
    memset(b, 0, sizeof *b);
    b->text = text;
    b->len = len;
    b->arena = &o->arena;
    b->owner = o;
    b->schema = schema;
    b->opt = opt;
    b->err = err;
    b->field_what = "input field";
    b->tz = tz_utc();
    if (opt && opt->time_zone && *opt->time_zone) {
        struct lerr e;
        lerr_init(&e);
        b->tz = tz_get(opt->time_zone, strlen(opt->time_zone), &e);
        if (!b->tz)
            return lerr_set(err, LERR_INVALID,
                            "unknown time zone '%s' (use an IANA name such as 'America/New_York')",
                            opt->time_zone);
    }
    return 0;
}

/* Agg hook for a whole-expression aggregation (ingestion rollup). */
struct top_agg {
    struct sql_node *root;
    struct sql_agg_call *call;
};

static int top_agg_hook(struct sql_bctx *b, struct sql_node *n)
{
    struct top_agg *t = b->hook_ud;
    if (n != t->root)
        return sql_bind_error(
            b, n,
            "an aggregation mapping must be a single aggregate call, such as SUM(\"bytes\") (compute expressions inside it: SUM(\"a\" * 2))");
    t->call = arena_zalloc(b->arena, sizeof *t->call);
    if (!t->call)
        return lerr_set(b->err, LERR_NOMEM, "out of memory");
    int rc = sql_bind_agg_call(b, n, t->call);
    if (rc)
        return rc;
    n->type = t->call->result_type;
    n->fn = eval_fail;
    return 0;
}

int sql_compile_expr(const char *text, size_t len, const struct sql_schema *schema,
                     const struct sql_options *opt, struct sql_expr **out, struct lerr *err)
{
    *out = NULL;
    struct sql_owner *o = sql_owner_new();
    if (!o)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    arena_set_budget(&o->arena, opt ? opt->budget : NULL); /* empty: cannot be refused */
    char *copy = arena_strndup(&o->arena, text ? text : "", text ? len : 0);
    if (!copy) {
        sql_owner_free(o);
        return lerr_set(err, LERR_NOMEM, "out of memory");
    }
    struct sql_node *root;
    int rc = sql_parse_expr_text(copy, len, &o->arena, &root, err);
    if (rc) {
        sql_owner_free(o);
        return rc;
    }
    struct sql_bctx b;
    if ((rc = sql_bctx_init(&b, o, copy, len, schema, opt, err))) {
        sql_owner_free(o);
        return rc;
    }
    enum sql_mode mode = opt ? opt->mode : SQL_MODE_SCALAR;
    struct top_agg top = {.root = root};
    if (mode != SQL_MODE_SCALAR) {
        b.agg_hook = top_agg_hook;
        b.hook_ud = &top;
    } else {
        b.agg_refusal = "aggregations need isAggregation: true on an aggregate table";
    }
    rc = sql_bind_node(&b, root);
    if (!rc && mode == SQL_MODE_ROLLUP && !top.call)
        rc = sql_bind_error(
            &b, root,
            "an aggregation mapping must be an aggregate call, such as SUM(\"bytes\"), COUNT(*) or LATEST(\"x\") (or set isAggregation to false)");
    if (!rc && root->type == SQL_INTERVAL)
        rc = sql_bind_error(&b, root, "an INTERVAL is not a value (add it to a TIMESTAMP)");
    struct sql_expr *e = NULL;
    if (!rc) {
        e = sql_expr_wrap(&b, root, schema ? schema->n : 0);
        if (!e)
            rc = lerr_set(err, LERR_NOMEM, "out of memory");
    }
    if (rc) {
        sql_owner_free(o);
        return rc ? rc : LERR_INVALID;
    }
    e->owns = true;
    e->agg = top.call;
    if (top.call) {
        /* refs of an aggregation: those of its arguments and filter */
        e->type = top.call->result_type;
    }
    *out = e;
    return 0;
}

void sql_expr_free(struct sql_expr *e)
{
    if (e && e->owns)
        sql_owner_free(e->owner);
}

int sql_expr_type(const struct sql_expr *e) { return e->type; }

bool sql_expr_is_constant(const struct sql_expr *e) { return e->root->kind == NK_LIT; }

bool sql_expr_is_ref(const struct sql_expr *e, uint32_t *field)
{
    if (e->root->kind != NK_REF || e->root->type != e->type)
        return false;
    *field = e->root->field;
    return true;
}

size_t sql_expr_refs(const struct sql_expr *e, const uint32_t **fields)
{
    *fields = e->refs;
    return e->nrefs;
}

const struct sql_agg_call *sql_expr_agg(const struct sql_expr *e) { return e->agg; }

bool sql_expr_is_aggregation(const struct sql_expr *e) { return e->agg != NULL; }

/* ---- tree utilities ---------------------------------------------------------- */

bool sql_node_equal(const struct sql_node *a, const struct sql_node *b)
{
    if (a == b)
        return true;
    if (a->kind != b->kind || a->type != b->type)
        return false;
    switch (a->kind) {
    case NK_LIT:
        if (a->k.is_null || b->k.is_null)
            return a->k.is_null == b->k.is_null;
        return a->k.type == b->k.type && sql_value_equal(&a->k, &b->k);
    case NK_REF:
    case NK_AGGREF: return a->field == b->field;
    case NK_CALL:
        if (a->func != b->func || a->nargs != b->nargs || a->flags != b->flags ||
            a->ttype != b->ttype || a->ival != b->ival || a->fn != b->fn)
            return false;
        for (int i = 0; i < a->nargs; i++)
            if (!sql_node_equal(a->args[i], b->args[i]))
                return false;
        if ((a->filter == NULL) != (b->filter == NULL))
            return false;
        return !a->filter || sql_node_equal(a->filter, b->filter);
    default: return false;
    }
}

static uint32_t hash_mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(h ^ (h >> 31));
}

uint32_t sql_node_hash_tree(struct sql_node *n)
{
    uint32_t h = hash_mix(n->kind, n->type);
    switch (n->kind) {
    case NK_LIT:
        h = hash_mix(h, n->k.is_null);
        if (!n->k.is_null)
            h = hash_mix(hash_mix(h, n->k.type), sql_value_hash(&n->k));
        break;
    case NK_REF:
    case NK_AGGREF: h = hash_mix(h, n->field); break;
    case NK_CALL:
        h = hash_mix(h, ((uint64_t)n->func << 32) | ((uint64_t)n->nargs << 16) |
                            ((uint64_t)n->flags << 8) | n->ttype);
        h = hash_mix(h, (uint64_t)n->ival);
        for (int i = 0; i < n->nargs; i++)
            h = hash_mix(h, sql_node_hash_tree(n->args[i]));
        if (n->filter)
            h = hash_mix(h, sql_node_hash_tree(n->filter));
        break;
    default:
        h = hash_mix(h, (uint64_t)(uintptr_t)n); /* equal only to itself */
        break;
    }
    n->hash = h;
    return h;
}

bool sql_node_explain(const struct sql_node *n, struct buf *out)
{
    switch (n->kind) {
    case NK_LIT:
        if (n->k.is_null)
            return buf_puts(out, "NULL");
        if (n->k.type == SQL_STRING) {
            buf_putc(out, '\'');
            for (uint32_t i = 0; i < n->k.v.s.n; i++) {
                if (n->k.v.s.p[i] == '\'')
                    buf_putc(out, '\'');
                buf_putc(out, n->k.v.s.p[i]);
            }
            return buf_putc(out, '\'');
        }
        if (n->k.type == SQL_INTERVAL)
            return buf_printf(out, "INTERVAL %lld %s", (long long)n->k.v.l,
                              n->k.v.s.n ? "MONTH" : "MILLISECOND");
        return sql_value_to_text(&n->k, out, true);
    case NK_REF: return buf_printf(out, "$%u", n->field);
    case NK_AGGREF: return buf_printf(out, "$agg%u", n->field);
    case NK_IDENT: return buf_printf(out, "\"%.*s\"", (int)n->name_len, n->name);
    case NK_CALL: break;
    default: return buf_puts(out, "?");
    }
    if (n->flags & (NF_MV_ANY | NF_MV_ELEM)) /* printed as the predicate over the column */
        return sql_node_explain(n->args[0], out);
    /* a call mapped over multi-value strings: printed as written */
    if (n->fn == sql_eval_mv_map || n->fn == sql_eval_mv_slot)
        return sql_node_explain(n->args[0], out);
    const struct sql_func *f = &sql_funcs[n->func];
    if (n->func == F_CAST) {
        buf_puts(out, "CAST(");
        sql_node_explain(n->args[0], out);
        return buf_printf(out, " AS %s)", sql_type_sql_name(n->ttype));
    }
    if ((f->flags & FF_OP) && n->nargs == 2 && n->func != F_IN && n->func != F_LIKE) {
        buf_putc(out, '(');
        sql_node_explain(n->args[0], out);
        buf_printf(out, " %s ", f->name);
        sql_node_explain(n->args[1], out);
        return buf_putc(out, ')');
    }
    buf_printf(out, "%s%s(", (n->flags & NF_NOT) ? "NOT " : "", f->name);
    for (int i = 0; i < n->nargs; i++) {
        if (i)
            buf_puts(out, ", ");
        sql_node_explain(n->args[i], out);
    }
    return buf_putc(out, ')');
}

bool sql_expr_explain(const struct sql_expr *e, struct buf *out)
{
    if (e->agg) {
        buf_printf(out, "%s(", sql_funcs[e->root->func].name);
        for (int i = 0; i < e->agg->nargs; i++) {
            if (i)
                buf_puts(out, ", ");
            sql_node_explain(e->agg->args[i]->root, out);
        }
        return buf_putc(out, ')');
    }
    return sql_node_explain(e->root, out);
}
