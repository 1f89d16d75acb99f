/*
 * func.c — the table of binders (generated from SQL_FUNC_MAP in sql_int.h;
 * names and arities are functab.c's) and the core of the library: arithmetic, comparison, three-valued logic,
 * IS / IN / BETWEEN / LIKE, CASE, COALESCE / NVL / NULLIF, GREATEST / LEAST,
 * math and the ARRAY[...] constructor. Each binder types its arguments and picks one
 * monomorphic eval function, so evaluation does no type dispatch.
 *
 * Druid rules followed here (SQL-compatible null mode only):
 *   - LONG op LONG is LONG arithmetic (7/2 = 3); any DOUBLE/FLOAT makes it
 *     DOUBLE. A string operand takes the other operand's numeric type.
 *   - LONG division or MOD by zero is a run-time error, as in Druid (the
 *     Java ArithmeticException fails the row or the query); DOUBLE follows
 *     IEEE (Infinity, NaN). SAFE_DIVIDE gives NULL instead. LONG overflow
 *     wraps as Java's does.
 *   - Comparisons with NULL are NULL; AND/OR are three-valued; text
 *     compared with a number compares as numbers.
 *
 * Entry points: sql_func_binders[], the sql_bind_* binders named in
 * SQL_FUNC_MAP, sql_eval_bool().
 */
#include "sql/sql_int.h"
#include "util/num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const sql_bind_fn sql_func_binders[F__COUNT] = {
#define SQL_FUNC_BINDER(id, name, mn, mx, fl, bind, var) bind,
    SQL_FUNC_MAP(SQL_FUNC_BINDER)
#undef SQL_FUNC_BINDER
};

int sql_eval_bool(const struct sql_node *n, struct sql_ectx *c)
{
    struct sql_value v;
    sql_eval_arg(n, c, &v);
    if (v.is_null)
        return -1;
    if (v.type == SQL_BOOLEAN || v.type == SQL_LONG)
        return v.v.l != 0;
    return sql_value_truthy(&v);
}

#define EVAL(name) \
    static void name(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)

/* ---- arithmetic ---------------------------------------------------------------- */

#define ARITH_L(name, expr)                                \
    EVAL(name)                                             \
    {                                                      \
        SQL_ARG(0, a);                                     \
        SQL_ARG(1, b);                                     \
        uint64_t x = (uint64_t)a.v.l, y = (uint64_t)b.v.l; \
        (void)x;                                           \
        (void)y;                                           \
        sql_set_long(out, SQL_LONG, (int64_t)(expr));      \
    }
#define ARITH_D(name, expr)                      \
    EVAL(name)                                   \
    {                                            \
        SQL_ARG(0, a);                           \
        SQL_ARG(1, b);                           \
        double x = a.v.d, y = b.v.d;             \
        sql_set_double(out, SQL_DOUBLE, (expr)); \
    }

ARITH_L(add_l, x + y)
ARITH_L(sub_l, x - y)
ARITH_L(mul_l, x *y)
ARITH_D(add_d, x + y)
ARITH_D(sub_d, x - y)
ARITH_D(mul_d, x *y)
ARITH_D(div_d, x / y)
ARITH_D(mod_d, fmod(x, y))

/* Java semantics: truncating division; MIN / -1 wraps to MIN. */
static bool ldiv_checked(struct sql_ectx *c, int64_t a, int64_t b, bool mod, int64_t *out)
{
    if (b == 0) {
        sql_rt_error(c, mod ? "MOD by zero"
                            : "division by zero (use SAFE_DIVIDE, or CAST to DOUBLE)");
        return false;
    }
    if (b == -1) {
        *out = mod ? 0 : (int64_t)(0 - (uint64_t)a);
        return true;
    }
    *out = mod ? a % b : a / b;
    return true;
}

EVAL(div_l)
{
    SQL_ARG(0, a);
    SQL_ARG(1, b);
    int64_t r;
    if (!ldiv_checked(c, a.v.l, b.v.l, false, &r)) {
        *out = sql_null(SQL_LONG);
        return;
    }
    sql_set_long(out, SQL_LONG, r);
}

EVAL(mod_l)
{
    SQL_ARG(0, a);
    SQL_ARG(1, b);
    int64_t r;
    if (!ldiv_checked(c, a.v.l, b.v.l, true, &r)) {
        *out = sql_null(SQL_LONG);
        return;
    }
    sql_set_long(out, SQL_LONG, r);
}

EVAL(safe_div_l)
{
    SQL_ARG(0, a);
    SQL_ARG(1, b);
    if (b.v.l == 0) {
        *out = sql_null(SQL_LONG);
        return;
    }
    sql_set_long(out, SQL_LONG, b.v.l == -1 ? (int64_t)(0 - (uint64_t)a.v.l) : a.v.l / b.v.l);
}

EVAL(safe_div_d)
{
    SQL_ARG(0, a);
    SQL_ARG(1, b);
    if (b.v.d == 0) {
        *out = sql_null(SQL_DOUBLE);
        return;
    }
    sql_set_double(out, SQL_DOUBLE, a.v.d / b.v.d);
}

/* TIMESTAMP ± INTERVAL: calendar arithmetic for months, in the session zone. */
EVAL(ts_interval)
{
    SQL_ARG(0, t);
    SQL_ARG(1, iv);
    int64_t sign = n->ival; /* +1 or -1 */
    struct period p = {0};
    if (iv.v.s.n)
        p.months = 1;
    else
        p.millis = 1;
    int64_t amount = iv.v.l * sign;
    if (iv.v.s.n) {
        sql_set_long(out, SQL_TIMESTAMP, time_shift(t.v.l, &p, amount, n->aux));
    } else {
        sql_set_long(out, SQL_TIMESTAMP, (int64_t)((uint64_t)t.v.l + (uint64_t)amount));
    }
}

static int numeric_side(struct sql_bctx *b, struct sql_node *n)
{
    int ta = n->args[0]->type, tb = n->args[1]->type;
    for (int i = 0; i < 2; i++) {
        int t = n->args[i]->type;
        if (!sql_type_is_numeric(t) && t != SQL_STRING && t != SQL_NULL)
            return sql_bind_error(b, n->args[i], "operator %s needs numbers but got %s",
                                  sql_funcs[n->func].name, sql_type_sql_name(t));
    }
    bool la = ta == SQL_LONG || ta == SQL_BOOLEAN || ta == SQL_TIMESTAMP || ta == SQL_NULL;
    bool lb = tb == SQL_LONG || tb == SQL_BOOLEAN || tb == SQL_TIMESTAMP || tb == SQL_NULL;
    /* a string takes the other side's type (Calcite's implicit coercion) */
    if (ta == SQL_STRING && tb != SQL_STRING)
        la = lb;
    if (tb == SQL_STRING && ta != SQL_STRING)
        lb = la;
    if (ta == SQL_STRING && tb == SQL_STRING)
        la = lb = false;
    return la && lb ? SQL_LONG : SQL_DOUBLE;
}

int sql_bind_arith(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    int ta = n->args[0]->type, tb = n->args[1]->type;
    if (ta == SQL_INTERVAL || tb == SQL_INTERVAL) {
        if (v == 0 && ta == SQL_INTERVAL && tb != SQL_INTERVAL) {
            struct sql_node *t = n->args[0];
            n->args[0] = n->args[1];
            n->args[1] = t;
            ta = n->args[0]->type;
            tb = n->args[1]->type;
        }
        if ((v != 0 && v != 1) || tb != SQL_INTERVAL || ta == SQL_INTERVAL)
            return sql_bind_error(
                b, n, "an INTERVAL can only be added to or subtracted from a TIMESTAMP");
        if (ta != SQL_TIMESTAMP)
            return sql_bind_error(b, n->args[0],
                                  "an INTERVAL can only be added to a TIMESTAMP, not to a %s",
                                  sql_type_sql_name(ta));
        n->type = SQL_TIMESTAMP;
        n->ival = v == 0 ? 1 : -1;
        n->aux = (void *)b->tz;
        n->fn = ts_interval;
        return 0;
    }
    int t = numeric_side(b, n);
    if (t < 0 || (b->err && b->err->code))
        return LERR_INVALID;
    if (v == 5) /* DIV: integer division whatever the types */
        t = SQL_LONG;
    sql_coerce(b, n, 0, t);
    sql_coerce(b, n, 1, t);
    n->type = (uint8_t)t;
    static const sql_eval_fn lf[] = {add_l, sub_l, mul_l, div_l, mod_l, div_l, safe_div_l};
    static const sql_eval_fn df[] = {add_d, sub_d, mul_d, div_d, mod_d, div_d, safe_div_d};
    n->fn = t == SQL_LONG ? lf[v] : df[v];
    return 0;
}

EVAL(neg_l)
{
    SQL_ARG(0, a);
    sql_set_long(out, SQL_LONG, (int64_t)(0 - (uint64_t)a.v.l));
}

EVAL(neg_d)
{
    SQL_ARG(0, a);
    sql_set_double(out, n->type, -a.v.d);
}

int sql_bind_neg(struct sql_bctx *b, struct sql_node *n)
{
    int t = n->args[0]->type;
    if (t == SQL_LONG || t == SQL_BOOLEAN || t == SQL_NULL) {
        sql_coerce(b, n, 0, SQL_LONG);
        n->type = SQL_LONG;
        n->fn = neg_l;
    } else if (t == SQL_DOUBLE || t == SQL_FLOAT || t == SQL_STRING) {
        if (t == SQL_STRING)
            sql_coerce(b, n, 0, SQL_DOUBLE);
        n->type = (uint8_t)(t == SQL_FLOAT ? SQL_FLOAT : SQL_DOUBLE);
        n->fn = neg_d;
    } else {
        return sql_bind_error(b, n, "cannot negate a %s", sql_type_sql_name(t));
    }
    return 0;
}

/* ---- comparison -------------------------------------------------------------- */

static int cmp_bytes(const struct sql_value *a, const struct sql_value *b)
{
    uint32_t m = a->v.s.n < b->v.s.n ? a->v.s.n : b->v.s.n;
    int c = m ? memcmp(a->v.s.p, b->v.s.p, m) : 0;
    if (c)
        return c;
    return a->v.s.n < b->v.s.n ? -1 : a->v.s.n > b->v.s.n;
}

#define CMP_OPS(X) X(eq, ==) X(ne, !=) X(lt, <) X(le, <=) X(gt, >) X(ge, >=)

#define CMP_FNS(name, op)                                               \
    EVAL(cmp_##name##_l)                                                \
    {                                                                   \
        SQL_ARG(0, a);                                                  \
        SQL_ARG(1, b);                                                  \
        sql_set_long(out, SQL_BOOLEAN, a.v.l op b.v.l);                 \
    }                                                                   \
    EVAL(cmp_##name##_d)                                                \
    {                                                                   \
        SQL_ARG(0, a);                                                  \
        SQL_ARG(1, b);                                                  \
        sql_set_long(out, SQL_BOOLEAN, a.v.d op b.v.d);                 \
    }                                                                   \
    EVAL(cmp_##name##_s)                                                \
    {                                                                   \
        SQL_ARG(0, a);                                                  \
        SQL_ARG(1, b);                                                  \
        sql_set_long(out, SQL_BOOLEAN, cmp_bytes(&a, &b) op 0);         \
    }                                                                   \
    EVAL(cmp_##name##_g)                                                \
    {                                                                   \
        SQL_ARG(0, a);                                                  \
        SQL_ARG(1, b);                                                  \
        sql_set_long(out, SQL_BOOLEAN, sql_value_compare(&a, &b) op 0); \
    }
CMP_OPS(CMP_FNS)

static const sql_eval_fn cmp_fns[4][6] = {
#define CMP_L(name, op) cmp_##name##_l,
#define CMP_D(name, op) cmp_##name##_d,
#define CMP_S(name, op) cmp_##name##_s,
#define CMP_G(name, op) cmp_##name##_g,
    {CMP_OPS(CMP_L)}, {CMP_OPS(CMP_D)}, {CMP_OPS(CMP_S)}, {CMP_OPS(CMP_G)}};

EVAL(is_distinct)
{
    struct sql_value a, b;
    sql_eval_arg(n->args[0], c, &a);
    sql_eval_arg(n->args[1], c, &b);
    bool same = (a.is_null && b.is_null) ||
                (!a.is_null && !b.is_null && sql_value_compare(&a, &b) == 0);
    sql_set_long(out, SQL_BOOLEAN, n->ival ? same : !same);
}

/* column = 'literal' / column <> 'literal': the most common filter shape;
 * reads the constant in place and compares lengths first. */
#define CMP_LIT_S(name, want)                                                      \
    EVAL(name)                                                                     \
    {                                                                              \
        SQL_ARG(0, a);                                                             \
        const struct sql_value *k = &n->args[1]->k;                                \
        bool eq = a.v.s.n == k->v.s.n && memcmp(a.v.s.p, k->v.s.p, k->v.s.n) == 0; \
        sql_set_long(out, SQL_BOOLEAN, eq == (want));                              \
    }
CMP_LIT_S(cmp_eq_s_lit, true)
CMP_LIT_S(cmp_ne_s_lit, false)

static int cmp_class(int t)
{
    switch (t) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
    case SQL_BOOLEAN: return 0;
    case SQL_DOUBLE:
    case SQL_FLOAT: return 1;
    case SQL_STRING:
    case SQL_JSON: return 2;
    default: return 3;
    }
}

/* ---- multi-value string columns --------------------------------------------------
 * Druid's multi-value dimensions: `tags = 'b'` holds for a row when it holds
 * for any of its values. The predicate is bound over one value (an
 * NF_MV_ELEM node standing for the column, typed VARCHAR) and wrapped in an
 * NF_MV_ANY node that tries each of the row's values; EXPLAIN prints both as
 * what they wrap, so the planner sees the usual shapes. */

EVAL(mv_elem_fn)
{
    if (c->mv_elem) {
        *out = *c->mv_elem;
        return;
    }
    /* outside a wrapper (never bound so): the list's text */
    struct sql_value a;
    sql_eval_arg(n->args[0], c, &a);
    *out = sql_value_cast(&a, SQL_STRING, c->mem);
}

EVAL(mv_any_fn)
{
    const struct sql_node *el = n->aux;
    struct sql_value a;
    sql_eval_arg(el->args[0], c, &a);
    uint32_t cnt = a.is_null ? 0 : a.type == SQL_ARRAY ? a.v.a.n : 1;
    if (cnt == 0) {
        *out = sql_null(SQL_BOOLEAN); /* no values: unknown, as a NULL is */
        return;
    }
    const struct sql_value *save = c->mv_elem;
    bool all = n->ival != 0, unknown = false, decided = false;
    for (uint32_t i = 0; i < cnt && !decided; i++) {
        struct sql_value e = a.type == SQL_ARRAY ? a.v.a.items[i] : a;
        if (!e.is_null && e.type != SQL_STRING)
            e = sql_value_cast(&e, SQL_STRING, c->mem);
        if (e.is_null)
            e = sql_null(SQL_STRING);
        c->mv_elem = &e;
        int r = sql_eval_bool(n->args[0], c);
        decided = all ? r == 0 : r == 1;
        unknown |= r < 0;
    }
    c->mv_elem = save;
    if (decided)
        sql_set_long(out, SQL_BOOLEAN, !all);
    else if (unknown)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, all);
}

/* The argument in [from, to) that references a multi-value column, now
 * replaced by the value being tried; -1 when none (or more than one). */
static int mv_begin(struct sql_bctx *b, struct sql_node *n, int from, int to)
{
    int k = -1;
    for (int i = from; i < to; i++) {
        const struct sql_node *a = n->args[i];
        if ((a->kind == NK_REF && a->type == SQL_ARRAY && b->schema && a->field < b->schema->n &&
             (b->schema->fields[a->field].flags & SQL_FIELD_MULTI_VALUE)) ||
            a->fn == sql_eval_mv_map) { /* or a function mapped over one */
            if (k >= 0)
                return -1;
            k = i;
        }
    }
    if (k < 0)
        return -1;
    struct sql_node *el = sql_node_new(b->arena, NK_CALL, n->args[k]->pos);
    struct sql_node **args = arena_alloc(b->arena, sizeof *args);
    if (!el || !args) {
        lerr_set(b->err, LERR_NOMEM, "out of memory");
        return -1;
    }
    args[0] = n->args[k];
    el->func = n->func;
    el->flags = NF_MV_ELEM;
    el->type = SQL_STRING;
    el->nargs = 1;
    el->args = args;
    el->height = args[0]->height + 1;
    el->fn = mv_elem_fn;
    n->args[k] = el;
    return k;
}

/* Wraps the bound predicate n (over one value, argument k) into the
 * NF_MV_ANY node that tries every value; `all` for the negated forms. */
static int mv_end(struct sql_bctx *b, struct sql_node *n, int k, bool all)
{
    struct sql_node *inner = arena_alloc(b->arena, sizeof *inner);
    struct sql_node **args = arena_alloc(b->arena, sizeof *args);
    if (!inner || !args)
        return lerr_set(b->err, LERR_NOMEM, "out of memory");
    *inner = *n;
    args[0] = inner;
    n->flags = NF_MV_ANY;
    n->nargs = 1;
    n->args = args;
    n->aux = inner->args[k];
    n->ival = all;
    n->type = SQL_BOOLEAN;
    n->height = inner->height + 1;
    n->fn = mv_any_fn;
    return 0;
}

/* Coerces args [from, to) of n to their common comparison type. */
static int unify_cmp(struct sql_bctx *b, struct sql_node *n, int from, int to)
{
    int t = SQL_NULL;
    for (int i = from; i < to; i++) {
        int at = n->args[i]->type;
        if (at == SQL_INTERVAL || (at == SQL_ARRAY && t != SQL_ARRAY && t != SQL_NULL))
            return sql_bind_error(b, n->args[i], "cannot compare a %s", sql_type_sql_name(at));
        t = i == from ? at : sql_common_type(t, at);
    }
    if (t == SQL_NULL)
        t = SQL_STRING;
    if (t == SQL_JSON)
        t = SQL_STRING;
    for (int i = from; i < to; i++)
        sql_coerce(b, n, i, t);
    return t;
}

int sql_bind_cmp(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    int mv = v < 6 ? mv_begin(b, n, 0, 2) : -1;
    if (b->err && b->err->code)
        return b->err->code;
    int t = unify_cmp(b, n, 0, 2);
    if (t < 0 || (b->err && b->err->code))
        return LERR_INVALID;
    n->type = SQL_BOOLEAN;
    if (v >= 6) {
        n->ival = v == 7;
        n->fn = is_distinct;
    } else {
        n->fn = cmp_fns[cmp_class(t)][v];
        const struct sql_node *k = n->args[1];
        if (cmp_class(t) == 2 && v <= 1 && k->kind == NK_LIT && !k->k.is_null && k->k.v.s.n > 0)
            n->fn = v == 0 ? cmp_eq_s_lit : cmp_ne_s_lit;
    }
    /* <> on a multi-value column: none of the values is equal (Druid's NOT) */
    return mv >= 0 ? mv_end(b, n, mv, v == 1) : 0;
}

/* ---- logic ----------------------------------------------------------------- */

EVAL(and_fn)
{
    bool saw_null = false;
    for (int i = 0; i < n->nargs; i++) {
        int r = sql_eval_bool(n->args[i], c);
        if (r == 0) {
            sql_set_long(out, SQL_BOOLEAN, 0);
            return;
        }
        saw_null |= r < 0;
    }
    if (saw_null)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, 1);
}

EVAL(or_fn)
{
    bool saw_null = false;
    for (int i = 0; i < n->nargs; i++) {
        int r = sql_eval_bool(n->args[i], c);
        if (r == 1) {
            sql_set_long(out, SQL_BOOLEAN, 1);
            return;
        }
        saw_null |= r < 0;
    }
    if (saw_null)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, 0);
}

EVAL(not_fn)
{
    int r = sql_eval_bool(n->args[0], c);
    if (r < 0)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, !r);
}

static int bool_arg(struct sql_bctx *b, struct sql_node *n, int i)
{
    int t = n->args[i]->type;
    if (t == SQL_ARRAY || t == SQL_JSON || t == SQL_INTERVAL)
        return sql_bind_error(b, n->args[i], "%s needs a boolean but got %s",
                              sql_funcs[n->func].name, sql_type_sql_name(t));
    if (t != SQL_BOOLEAN && t != SQL_LONG)
        sql_coerce(b, n, i, SQL_BOOLEAN);
    return 0;
}

int sql_bind_logic(struct sql_bctx *b, struct sql_node *n)
{
    for (int i = 0; i < n->nargs; i++)
        if (bool_arg(b, n, i))
            return LERR_INVALID;
    int v = sql_funcs[n->func].variant;
    n->type = SQL_BOOLEAN;
    n->fn = v == 0 ? and_fn : v == 1 ? or_fn : not_fn;
    /* x AND FALSE folds even when x is not constant */
    if (v <= 1) {
        for (int i = 0; i < n->nargs; i++) {
            struct sql_node *a = n->args[i];
            if (a->kind == NK_LIT && !a->k.is_null && (a->k.v.l != 0) == (v == 1)) {
                n->kind = NK_LIT;
                n->k.type = SQL_BOOLEAN;
                n->k.is_null = false;
                n->k.v.l = v == 1;
                n->fn = sql_eval_lit;
                break;
            }
        }
    }
    return 0;
}

EVAL(is_fn)
{
    int v = (int)n->ival;
    if (v <= 1) {
        struct sql_value x;
        sql_eval_arg(n->args[0], c, &x);
        sql_set_long(out, SQL_BOOLEAN, v == 0 ? x.is_null : !x.is_null);
        return;
    }
    int r = sql_eval_bool(n->args[0], c);
    bool res;
    switch (v) {
    case 2: res = r == 1; break;  /* IS TRUE */
    case 3: res = r != 1; break;  /* IS NOT TRUE */
    case 4: res = r == 0; break;  /* IS FALSE */
    default: res = r != 0; break; /* IS NOT FALSE */
    }
    sql_set_long(out, SQL_BOOLEAN, res);
}

int sql_bind_is(struct sql_bctx *b, struct sql_node *n)
{
    n->ival = sql_funcs[n->func].variant;
    if (n->ival >= 2 && bool_arg(b, n, 0))
        return LERR_INVALID;
    n->type = SQL_BOOLEAN;
    n->fn = is_fn;
    return 0;
}

/* ---- IN, BETWEEN ---------------------------------------------------------------- */

struct in_set {
    struct sql_value *v; /* sorted literal values */
    size_t n;
    bool has_null;
};

static int cmp_values(const void *a, const void *b) { return sql_value_compare(a, b); }

EVAL(in_set_fn)
{
    SQL_ARG(0, x);
    const struct in_set *s = n->aux;
    size_t lo = 0, hi = s->n;
    bool found = false;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = sql_value_compare(&s->v[mid], &x);
        if (r == 0) {
            found = true;
            break;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    bool neg = n->flags & NF_NOT;
    if (found)
        sql_set_long(out, SQL_BOOLEAN, !neg);
    else if (s->has_null)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, neg);
}

EVAL(in_fn)
{
    SQL_ARG(0, x);
    bool saw_null = false, neg = n->flags & NF_NOT;
    for (int i = 1; i < n->nargs; i++) {
        struct sql_value y;
        sql_eval_arg(n->args[i], c, &y);
        if (y.is_null) {
            saw_null = true;
            continue;
        }
        if (sql_value_compare(&x, &y) == 0) {
            sql_set_long(out, SQL_BOOLEAN, !neg);
            return;
        }
    }
    if (saw_null)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, neg);
}

static int bind_in(struct sql_bctx *b, struct sql_node *n);

int sql_bind_in(struct sql_bctx *b, struct sql_node *n)
{
    int mv = mv_begin(b, n, 0, 1);
    if (b->err && b->err->code)
        return b->err->code;
    int rc = bind_in(b, n);
    return rc || mv < 0 ? rc : mv_end(b, n, mv, (n->flags & NF_NOT) != 0);
}

static int bind_in(struct sql_bctx *b, struct sql_node *n)
{
    int t = unify_cmp(b, n, 0, n->nargs);
    if (t < 0 || (b->err && b->err->code))
        return LERR_INVALID;
    n->type = SQL_BOOLEAN;
    n->fn = in_fn;
    bool all_lit = true;
    for (int i = 1; i < n->nargs; i++)
        all_lit &= n->args[i]->kind == NK_LIT;
    if (all_lit && n->nargs > 4) {
        struct in_set *s = arena_alloc(b->arena, sizeof *s);
        struct sql_value *v = arena_alloc(b->arena, sizeof *v * n->nargs);
        if (!s || !v)
            return lerr_set(b->err, LERR_NOMEM, "out of memory");
        s->n = 0;
        s->has_null = false;
        for (int i = 1; i < n->nargs; i++) {
            if (n->args[i]->k.is_null)
                s->has_null = true;
            else
                v[s->n++] = n->args[i]->k;
        }
        qsort(v, s->n, sizeof *v, cmp_values);
        s->v = v;
        n->aux = s;
        n->fn = in_set_fn;
    }
    return 0;
}

EVAL(between_fn)
{
    SQL_ARG(0, x);
    struct sql_value lo, hi;
    sql_eval_arg(n->args[1], c, &lo);
    sql_eval_arg(n->args[2], c, &hi);
    /* x >= lo AND x <= hi, three-valued */
    int a = lo.is_null ? -1 : sql_value_compare(&x, &lo) >= 0;
    int b = hi.is_null ? -1 : sql_value_compare(&x, &hi) <= 0;
    int r = (a == 0 || b == 0) ? 0 : (a < 0 || b < 0) ? -1 : 1;
    if (r < 0)
        *out = sql_null(SQL_BOOLEAN);
    else
        sql_set_long(out, SQL_BOOLEAN, (n->flags & NF_NOT) ? !r : r);
}

int sql_bind_between(struct sql_bctx *b, struct sql_node *n)
{
    int mv = mv_begin(b, n, 0, 1);
    if (b->err && b->err->code)
        return b->err->code;
    int t = unify_cmp(b, n, 0, 3);
    if (t < 0 || (b->err && b->err->code))
        return LERR_INVALID;
    n->type = SQL_BOOLEAN;
    n->fn = between_fn;
    return mv >= 0 ? mv_end(b, n, mv, (n->flags & NF_NOT) != 0) : 0;
}

/* ---- LIKE -------------------------------------------------------------------- */

static size_t utf8_len(unsigned char ch)
{
    return ch < 0x80 ? 1 : ch < 0xE0 ? 2 : ch < 0xF0 ? 3 : 4;
}

/* % any run, _ one character, esc makes the next character literal.
 * Iterative with one backtrack point per % (linear in practice). */
static bool like_match(const char *s, size_t sn, const char *p, size_t pn, int esc)
{
    size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;
    while (si < sn) {
        if (pi < pn) {
            unsigned char pc = (unsigned char)p[pi];
            if ((int)pc == esc && pi + 1 < pn) {
                size_t l = utf8_len((unsigned char)p[pi + 1]);
                if (pi + 1 + l <= pn && si + l <= sn && memcmp(p + pi + 1, s + si, l) == 0) {
                    pi += 1 + l;
                    si += l;
                    continue;
                }
            } else if (pc == '%') {
                star_p = ++pi;
                star_s = si;
                continue;
            } else if (pc == '_') {
                pi++;
                si += utf8_len((unsigned char)s[si]);
                if (si > sn)
                    si = sn;
                continue;
            } else if (pc == (unsigned char)s[si]) {
                pi++;
                si++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return false;
        pi = star_p;
        star_s += utf8_len((unsigned char)s[star_s]);
        si = star_s;
        if (si > sn)
            return false;
    }
    while (pi < pn && p[pi] == '%')
        pi++;
    return pi == pn;
}

EVAL(like_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, p);
    int esc = -1;
    if (n->nargs > 2) {
        SQL_ARG(2, e);
        if (e.v.s.n != 1) {
            sql_rt_error(c, "the ESCAPE of LIKE must be one character");
            *out = sql_null(SQL_BOOLEAN);
            return;
        }
        esc = (unsigned char)e.v.s.p[0];
    }
    bool m = like_match(s.v.s.p, s.v.s.n, p.v.s.p, p.v.s.n, esc);
    sql_set_long(out, SQL_BOOLEAN, (n->flags & NF_NOT) ? !m : m);
}

int sql_bind_like(struct sql_bctx *b, struct sql_node *n)
{
    int mv = mv_begin(b, n, 0, 1);
    if (b->err && b->err->code)
        return b->err->code;
    for (int i = 0; i < n->nargs; i++)
        if (sql_arg_check(b, n, i, SQL_STRING))
            return LERR_INVALID;
    if (n->nargs > 2 && n->args[2]->kind == NK_LIT && !n->args[2]->k.is_null &&
        n->args[2]->k.v.s.n != 1)
        return sql_bind_error(b, n->args[2],
                              "the ESCAPE of LIKE must be one character, such as '\\'");
    n->type = SQL_BOOLEAN;
    n->fn = like_fn;
    return mv >= 0 ? mv_end(b, n, mv, (n->flags & NF_NOT) != 0) : 0;
}

/* ---- CASE, COALESCE, NULLIF, GREATEST ------------------------------------------- */

/* The type of a value chosen among branches. */
static int branch_type(int a, int b)
{
    if (a == b)
        return a;
    if (a == SQL_NULL)
        return b;
    if (b == SQL_NULL)
        return a;
    if (a == SQL_STRING || b == SQL_STRING)
        return SQL_STRING;
    if ((a == SQL_TIMESTAMP && (b == SQL_LONG || b == SQL_BOOLEAN)) ||
        (b == SQL_TIMESTAMP && (a == SQL_LONG || a == SQL_BOOLEAN)))
        return SQL_TIMESTAMP;
    if ((a == SQL_LONG || a == SQL_BOOLEAN) && (b == SQL_LONG || b == SQL_BOOLEAN))
        return SQL_LONG;
    if (sql_type_is_numeric(a) && sql_type_is_numeric(b))
        return SQL_DOUBLE;
    return SQL_STRING;
}

static int unify_branches(struct sql_bctx *b, struct sql_node *n, const int *idx, int k)
{
    int t = SQL_NULL;
    for (int i = 0; i < k; i++) {
        int at = n->args[idx[i]]->type;
        if (at == SQL_ARRAY && t != SQL_NULL && t != SQL_ARRAY)
            return sql_bind_error(b, n->args[idx[i]], "cannot mix ARRAY and %s results",
                                  sql_type_sql_name(t));
        t = branch_type(t, at);
    }
    for (int i = 0; i < k; i++)
        sql_coerce(b, n, idx[i], t);
    n->type = (uint8_t)t;
    return 0;
}

EVAL(case_fn)
{
    int pairs = (n->nargs - ((n->flags & NF_HAS_ELSE) ? 1 : 0)) / 2;
    for (int i = 0; i < pairs; i++) {
        if (sql_eval_bool(n->args[2 * i], c) == 1) {
            sql_eval_arg(n->args[2 * i + 1], c, out);
            return;
        }
    }
    if (n->flags & NF_HAS_ELSE)
        sql_eval_arg(n->args[n->nargs - 1], c, out);
    else
        *out = sql_null(n->type);
}

EVAL(case_simple_fn)
{
    struct sql_value x;
    sql_eval_arg(n->args[0], c, &x);
    int pairs = (n->nargs - 1 - ((n->flags & NF_HAS_ELSE) ? 1 : 0)) / 2;
    if (!x.is_null) {
        for (int i = 0; i < pairs; i++) {
            struct sql_value w;
            sql_eval_arg(n->args[1 + 2 * i], c, &w);
            if (!w.is_null && sql_value_compare(&x, &w) == 0) {
                sql_eval_arg(n->args[2 + 2 * i], c, out);
                return;
            }
        }
    }
    if (n->flags & NF_HAS_ELSE)
        sql_eval_arg(n->args[n->nargs - 1], c, out);
    else
        *out = sql_null(n->type);
}

int sql_bind_case(struct sql_bctx *b, struct sql_node *n)
{
    bool simple = sql_funcs[n->func].variant == 1;
    int first = simple ? 1 : 0;
    bool has_else = n->flags & NF_HAS_ELSE;
    int pairs = (n->nargs - first - (has_else ? 1 : 0)) / 2;
    int idx[512];
    int k = 0;
    if (pairs + 1 > (int)LS_ARRAY_LEN(idx))
        return sql_bind_error(b, n, "CASE has too many branches (at most 500)");
    for (int i = 0; i < pairs; i++) {
        int cond = first + 2 * i;
        if (!simple && bool_arg(b, n, cond))
            return LERR_INVALID;
        idx[k++] = cond + 1;
    }
    if (has_else)
        idx[k++] = n->nargs - 1;
    if (unify_branches(b, n, idx, k))
        return LERR_INVALID;
    if (simple) {
        /* compare the operand with every WHEN value in one type */
        int w[512];
        int m = 0;
        w[m++] = 0;
        for (int i = 0; i < pairs; i++)
            w[m++] = 1 + 2 * i;
        int t = SQL_NULL;
        for (int i = 0; i < m; i++)
            t = i == 0 ? n->args[w[i]]->type : sql_common_type(t, n->args[w[i]]->type);
        if (t == SQL_NULL || t == SQL_JSON)
            t = SQL_STRING;
        if (t == SQL_BOOLEAN)
            t = SQL_LONG;
        for (int i = 0; i < m; i++)
            sql_coerce(b, n, w[i], t);
    }
    n->fn = simple ? case_simple_fn : case_fn;
    return 0;
}

EVAL(coalesce_fn)
{
    for (int i = 0; i < n->nargs; i++) {
        sql_eval_arg(n->args[i], c, out);
        if (!out->is_null)
            return;
    }
    *out = sql_null(n->type);
}

int sql_bind_coalesce(struct sql_bctx *b, struct sql_node *n)
{
    int idx[512];
    if (n->nargs > (int)LS_ARRAY_LEN(idx))
        return sql_bind_error(b, n, "too many arguments");
    for (int i = 0; i < n->nargs; i++)
        idx[i] = i;
    if (unify_branches(b, n, idx, n->nargs))
        return LERR_INVALID;
    n->fn = coalesce_fn;
    return 0;
}

EVAL(nullif_fn)
{
    struct sql_value a, b;
    sql_eval_arg(n->args[0], c, &a);
    if (a.is_null) {
        *out = sql_null(n->type);
        return;
    }
    sql_eval_arg(n->args[1], c, &b);
    if (!b.is_null && sql_value_compare(&a, &b) == 0)
        *out = sql_null(n->type);
    else
        *out = a;
}

int sql_bind_nullif(struct sql_bctx *b, struct sql_node *n)
{
    int t = unify_cmp(b, n, 0, 2);
    if (t < 0 || (b->err && b->err->code))
        return LERR_INVALID;
    n->type = (uint8_t)t;
    n->fn = nullif_fn;
    return 0;
}

EVAL(greatest_fn)
{
    bool least = n->ival;
    bool have = false;
    for (int i = 0; i < n->nargs; i++) {
        struct sql_value v;
        sql_eval_arg(n->args[i], c, &v);
        if (v.is_null)
            continue;
        if (!have) {
            *out = v;
            have = true;
            continue;
        }
        int r = sql_value_compare(&v, out);
        if (least ? r < 0 : r > 0)
            *out = v;
    }
    if (!have)
        *out = sql_null(n->type);
}

int sql_bind_greatest(struct sql_bctx *b, struct sql_node *n)
{
    int t = SQL_NULL;
    for (int i = 0; i < n->nargs; i++) {
        int at = n->args[i]->type;
        if (at == SQL_ARRAY || at == SQL_JSON)
            return sql_bind_error(b, n->args[i], "%s cannot compare %s values",
                                  sql_funcs[n->func].name, sql_type_sql_name(at));
        t = branch_type(t, at);
    }
    if (t == SQL_NULL)
        t = SQL_STRING;
    if (t == SQL_BOOLEAN)
        t = SQL_LONG;
    if (t == SQL_FLOAT)
        t = SQL_DOUBLE;
    for (int i = 0; i < n->nargs; i++)
        sql_coerce(b, n, i, t);
    n->type = (uint8_t)t;
    n->ival = sql_funcs[n->func].variant;
    n->fn = greatest_fn;
    return 0;
}

/* ---- math -------------------------------------------------------------------- */

EVAL(abs_l)
{
    SQL_ARG(0, a);
    sql_set_long(out, SQL_LONG, a.v.l < 0 ? (int64_t)(0 - (uint64_t)a.v.l) : a.v.l);
}

EVAL(sign_l)
{
    SQL_ARG(0, a);
    sql_set_long(out, SQL_LONG, (a.v.l > 0) - (a.v.l < 0));
}

EVAL(ident_l)
{
    SQL_ARG(0, a);
    *out = a;
}

/* glibc's cbrt(27) is 3.0000000000000004; Java's is exact for cubes */
static double cbrt_exact(double x)
{
    double r = cbrt(x), k = round(r);
    return k * k * k == x ? k : r;
}

static double cot(double x) { return 1.0 / tan(x); }
static double degrees(double x) { return x * 180.0 / M_PI; }
static double radians(double x) { return x * M_PI / 180.0; }
static double sign_d(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }

/* variants of sql_bind_math that work on doubles */
static double (*const dfns[])(double) = {
    [0] = fabs,  [1] = floor,  [2] = ceil,  [3] = sign_d, [10] = sqrt,    [11] = cbrt_exact,
    [12] = log,  [13] = log10, [14] = exp,  [15] = sin,   [16] = cos,     [17] = tan,
    [18] = asin, [19] = acos,  [20] = atan, [21] = cot,   [22] = degrees, [23] = radians,
};

EVAL(math_d)
{
    SQL_ARG(0, a);
    sql_set_double(out, SQL_DOUBLE, dfns[n->ival](a.v.d));
}

int sql_bind_math(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    if (v == 30) { /* PI */
        n->type = SQL_DOUBLE;
        n->kind = NK_LIT;
        n->k = sql_double(M_PI);
        n->fn = sql_eval_lit;
        return 0;
    }
    int t = n->args[0]->type;
    if (t == SQL_TIMESTAMP && (v == 1 || v == 2))
        return sql_bind_error(b, n, "%s of a TIMESTAMP needs a unit, as in %s(__time TO DAY)",
                              sql_funcs[n->func].name, sql_funcs[n->func].name);
    if (sql_arg_check(b, n, 0, SQL_DOUBLE))
        return LERR_INVALID;
    n->ival = v;
    if (v <= 3 && (t == SQL_LONG || t == SQL_BOOLEAN || t == SQL_NULL)) {
        sql_coerce(b, n, 0, SQL_LONG);
        n->type = SQL_LONG;
        n->fn = v == 0 ? abs_l : v == 3 ? sign_l : ident_l;
        return 0;
    }
    sql_coerce(b, n, 0, SQL_DOUBLE);
    n->type = SQL_DOUBLE;
    n->fn = math_d;
    return 0;
}

EVAL(math2_d)
{
    SQL_ARG(0, a);
    SQL_ARG(1, b);
    sql_set_double(out, SQL_DOUBLE, n->ival ? pow(a.v.d, b.v.d) : atan2(a.v.d, b.v.d));
}

int sql_bind_math2(struct sql_bctx *b, struct sql_node *n)
{
    for (int i = 0; i < 2; i++)
        if (sql_arg_check(b, n, i, SQL_DOUBLE))
            return LERR_INVALID;
    n->ival = sql_funcs[n->func].variant;
    n->type = SQL_DOUBLE;
    n->fn = math2_d;
    return 0;
}

static int64_t pow10_l(int64_t k)
{
    int64_t p = 1;
    while (k-- > 0 && p < INT64_MAX / 10)
        p *= 10;
    return p;
}

/* Druid rounds with BigDecimal.valueOf(x) (the shortest decimal text of the
 * double), so 2.675 rounds to 2.68: round that decimal text, not the binary
 * value. truncate: drop digits instead. */
static double round_decimal(double x, int64_t d, bool truncate)
{
    if (isnan(x) || isinf(x))
        return x;
    if (d > 300)
        return x;
    if (d < -300)
        return 0;
    char digits[24];
    int e10;
    bool neg;
    int nd = util_shortest_digits(x, false, digits, &e10, &neg);
    /* value = 0.D1D2... * 10^(e10+1); keep the digits before position e10+1+d */
    int64_t keep = (int64_t)e10 + 1 + d;
    if (keep >= nd)
        return x;
    char buf[64];
    int64_t m = 0; /* mantissa of kept digits */
    for (int64_t i = 0; i < keep && i < nd; i++)
        m = m * 10 + (digits[i] - '0');
    bool up = !truncate && keep >= 0 && digits[keep] >= '5';
    if (keep < 0)
        up = false;
    if (up)
        m++;
    /* m * 10^(e10 + 1 - keep) */
    snprintf(buf, sizeof buf, "%s%llde%lld", neg ? "-" : "", (long long)m,
             (long long)(e10 + 1 - keep));
    return strtod(buf, NULL);
}

EVAL(round_l)
{
    SQL_ARG(0, a);
    int64_t d = 0;
    if (n->nargs > 1) {
        SQL_ARG(1, dd);
        d = dd.v.l;
    }
    if (d >= 0) {
        *out = a;
        return;
    }
    if (d < -18) {
        sql_set_long(out, SQL_LONG, 0);
        return;
    }
    int64_t p = pow10_l(-d);
    int64_t q = a.v.l / p, r = a.v.l % p;
    if (!n->ival) { /* HALF_UP: away from zero */
        if (r >= p / 2 + (p % 2))
            q++;
        else if (-r >= p / 2 + (p % 2))
            q--;
    }
    sql_set_long(out, SQL_LONG, (int64_t)((uint64_t)q * (uint64_t)p));
}

EVAL(round_d)
{
    SQL_ARG(0, a);
    int64_t d = 0;
    if (n->nargs > 1) {
        SQL_ARG(1, dd);
        d = dd.v.l;
    }
    sql_set_double(out, SQL_DOUBLE, round_decimal(a.v.d, d, n->ival));
}

int sql_bind_round(struct sql_bctx *b, struct sql_node *n)
{
    int t = n->args[0]->type;
    if (sql_arg_check(b, n, 0, SQL_DOUBLE))
        return LERR_INVALID;
    if (n->nargs > 1) {
        if (sql_arg_check(b, n, 1, SQL_LONG))
            return LERR_INVALID;
        sql_coerce(b, n, 1, SQL_LONG);
    }
    n->ival = sql_funcs[n->func].variant;
    if (t == SQL_LONG || t == SQL_BOOLEAN || t == SQL_NULL) {
        sql_coerce(b, n, 0, SQL_LONG);
        n->type = SQL_LONG;
        n->fn = round_l;
    } else {
        sql_coerce(b, n, 0, SQL_DOUBLE);
        n->type = SQL_DOUBLE;
        n->fn = round_d;
    }
    return 0;
}

/* ---- arrays --------------------------------------------------------------------- */

EVAL(array_fn)
{
    struct sql_value *items =
        (struct sql_value *)sql_alloc(c, sizeof *items * (n->nargs ? n->nargs : 1));
    if (!items) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    for (int i = 0; i < n->nargs; i++)
        sql_eval_arg(n->args[i], c, &items[i]);
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = items;
    out->v.a.n = n->nargs;
}

/* ARRAY[...]: the elements take their common type, which the node keeps in
 * ttype as the array's element type (func_array.c reads it). */
int sql_bind_array(struct sql_bctx *b, struct sql_node *n)
{
    int idx[512];
    if (n->nargs > (int)LS_ARRAY_LEN(idx))
        return sql_bind_error(b, n, "too many array elements");
    for (int i = 0; i < n->nargs; i++) {
        idx[i] = i;
        if (n->args[i]->type == SQL_ARRAY)
            return sql_bind_error(b, n->args[i], "nested arrays are not supported");
    }
    if (unify_branches(b, n, idx, n->nargs))
        return LERR_INVALID;
    n->ttype = n->type == SQL_ARRAY ? SQL_NULL : n->type;
    n->type = SQL_ARRAY;
    n->fn = array_fn;
    return 0;
}
