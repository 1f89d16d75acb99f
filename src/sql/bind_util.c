/*
 * bind_util.c — the binder's services, which every function's binder
 * (func*.c) uses and the binder itself (bind.c) uses too: the owners that
 * compiled things live in, errors at a node, literal and typed arguments,
 * the common type of two types, coercion by CAST nodes (and the CAST
 * binder and evaluator), and constant folding. Below func*.c and bind.c,
 * so that the binder calls down to the binders and the binders call down
 * to these.
 *
 * Entry points: sql_owner_new/free/cleanup(), sql_bind_error(),
 * sql_arg_is_lit(), sql_arg_lit_string(), sql_arg_tz(),
 * sql_type_is_numeric(), sql_common_type(), sql_arg_check(),
 * sql_eval_lit(), sql_fold(), sql_coerce(), sql_bind_cast(),
 * sql_eval_cast().
 */
#include "sql/sql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- owners ------------------------------------------------------------- */

bool sql_owner_cleanup(struct sql_owner *o, void (*fn)(void *), void *p)
{
    struct sql_cleanup *c = arena_alloc(&o->arena, sizeof *c);
    if (!c) {
        fn(p);
        return false;
    }
    c->fn = fn;
    c->p = p;
    c->next = o->cleanups;
    o->cleanups = c;
    return true;
}

struct sql_owner *sql_owner_new(void)
{
    struct sql_owner *o = calloc(1, sizeof *o);
    if (o)
        arena_init(&o->arena, 8 * 1024, 0);
    return o;
}

void sql_owner_free(struct sql_owner *o)
{
    if (!o)
        return;
    for (struct sql_cleanup *c = o->cleanups; c; c = c->next)
        c->fn(c->p);
    arena_destroy(&o->arena);
    free(o);
}

/* ---- errors ------------------------------------------------------------------ */

int sql_bind_error(struct sql_bctx *b, const struct sql_node *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sql_error_at(b->err, b->text, b->len, n ? n->pos : 0, "%s", msg);
}

/* ---- helpers for binders ---------------------------------------------------- */

bool sql_arg_is_lit(const struct sql_node *n, int i)
{
    return i < n->nargs && n->args[i]->kind == NK_LIT && !n->args[i]->k.is_null;
}

int sql_arg_lit_string(struct sql_bctx *b, struct sql_node *n, int i, const char *what,
                       const char **p, size_t *len)
{
    struct sql_node *a = n->args[i];
    if (a->kind != NK_LIT || a->k.is_null || (a->k.type != SQL_STRING)) {
        return sql_bind_error(b, a, "the %s argument of %s must be a string literal, such as '%s'",
                              what, sql_funcs[n->func].name,
                              strcmp(what, "period") == 0      ? "PT1H"
                              : strcmp(what, "time zone") == 0 ? "America/Los_Angeles"
                              : strcmp(what, "unit") == 0      ? "HOUR"
                              : strcmp(what, "pattern") == 0   ? "yyyy-MM-dd"
                                                               : "...");
    }
    *p = a->k.v.s.p;
    *len = a->k.v.s.n;
    return 0;
}

int sql_arg_tz(struct sql_bctx *b, struct sql_node *n, int i, const struct ls_tz **out)
{
    if (i >= n->nargs || (n->args[i]->kind == NK_LIT && n->args[i]->k.is_null)) {
        *out = b->tz;
        return 0;
    }
    const char *p;
    size_t len;
    if (sql_arg_lit_string(b, n, i, "time zone", &p, &len))
        return LERR_INVALID;
    struct lerr e;
    lerr_init(&e);
    const struct ls_tz *tz = tz_get(p, len, &e);
    if (!tz)
        return sql_bind_error(
            b, n->args[i],
            "unknown time zone '%.*s' (use an IANA name such as 'America/New_York' or an offset such as '+05:30')",
            (int)(len > 64 ? 64 : len), p);
    *out = tz;
    return 0;
}

static bool is_intlike(int t) { return t == SQL_LONG || t == SQL_BOOLEAN; }

bool sql_type_is_numeric(int t)
{
    return t == SQL_LONG || t == SQL_DOUBLE || t == SQL_FLOAT || t == SQL_TIMESTAMP ||
           t == SQL_BOOLEAN;
}

int sql_common_type(int a, int b)
{
    if (a == b)
        return a;
    if (a == SQL_NULL)
        return b;
    if (b == SQL_NULL)
        return a;
    /* a string against a boolean compares as booleans ('true' = TRUE) */
    if ((a == SQL_BOOLEAN && b == SQL_STRING) || (b == SQL_BOOLEAN && a == SQL_STRING))
        return SQL_BOOLEAN;
    if (a == SQL_TIMESTAMP || b == SQL_TIMESTAMP) {
        int o = a == SQL_TIMESTAMP ? b : a;
        if (o == SQL_STRING || is_intlike(o))
            return SQL_TIMESTAMP;
        return SQL_DOUBLE;
    }
    if (is_intlike(a) && is_intlike(b))
        return SQL_LONG;
    if (sql_type_is_numeric(a) && sql_type_is_numeric(b))
        return SQL_DOUBLE;
    /* text against a number compares as numbers, as Druid's native
     * expressions do (ExprEval coerces both to double) */
    if ((a == SQL_STRING && sql_type_is_numeric(b)) || (b == SQL_STRING && sql_type_is_numeric(a)))
        return SQL_DOUBLE;
    if ((a == SQL_STRING || a == SQL_JSON) && (b == SQL_STRING || b == SQL_JSON))
        return SQL_STRING;
    return SQL_STRING;
}

int sql_arg_check(struct sql_bctx *b, struct sql_node *n, int i, int type)
{
    struct sql_node *a = n->args[i];
    int t = a->type;
    bool ok;
    switch (type) {
    case SQL_LONG:
    case SQL_DOUBLE: ok = sql_type_is_numeric(t) || t == SQL_STRING || t == SQL_NULL; break;
    case SQL_TIMESTAMP:
        ok = t == SQL_TIMESTAMP || t == SQL_LONG || t == SQL_STRING || t == SQL_NULL;
        break;
    case SQL_STRING: ok = t != SQL_ARRAY && t != SQL_INTERVAL; break;
    default: ok = true;
    }
    if (!ok)
        return sql_bind_error(b, a, "%s cannot take a %s as argument %d (it needs a %s)",
                              sql_funcs[n->func].name, sql_type_sql_name(t), i + 1,
                              sql_type_sql_name(type));
    if (t != type)
        sql_coerce(b, n, i, type);
    return b->err && b->err->code ? b->err->code : 0;
}

/* ---- evaluation of literals --------------------------------------------------- */

void sql_eval_lit(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    (void)c;
    *out = n->k;
}

/* ---- folding and casts ----------------------------------------------------- */

/* Evaluates a constant call once; the result's bytes live in the owner's
 * arena. A run-time error (1/0) is left for run time, where it belongs to
 * a row. */
void sql_fold(struct sql_bctx *b, struct sql_node *n)
{
    struct sql_ectx c = {.mem = b->arena, .params = b->opt ? b->opt->params : NULL};
    struct sql_value v;
    n->fn(n, &c, &v);
    if (c.rc)
        return;
    if (v.is_null)
        v = sql_null(n->type);
    n->kind = NK_LIT;
    n->k = v;
    n->fn = sql_eval_lit;
}

/* The common numeric widenings skip the general cast. */
static void eval_long_to_double(const struct sql_node *n, struct sql_ectx *c,
                                struct sql_value *out)
{
    SQL_ARG(0, x);
    sql_set_double(out, SQL_DOUBLE, (double)x.v.l);
}

static void eval_retag_long(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    SQL_ARG(0, x);
    sql_set_long(out, n->type, x.v.l);
}

static void setup_cast(struct sql_bctx *b, struct sql_node *c, int type)
{
    c->ttype = (uint8_t)type;
    c->type = (uint8_t)type;
    c->fn = sql_eval_cast;
    c->aux = (void *)b->tz;
    int from = c->args[0]->type;
    bool longish = from == SQL_LONG || from == SQL_TIMESTAMP;
    if (c->ival == 0 && longish && type == SQL_DOUBLE)
        c->fn = eval_long_to_double;
    else if (c->ival == 0 && longish && (type == SQL_LONG || type == SQL_TIMESTAMP))
        c->fn = eval_retag_long;
}

void sql_coerce(struct sql_bctx *b, struct sql_node *n, int i, int type)
{
    struct sql_node *a = n->args[i];
    if (a->type == type)
        return;
    if (a->kind == NK_LIT && a->k.is_null) {
        a->type = (uint8_t)type;
        a->k.type = (uint8_t)type;
        return;
    }
    struct sql_node *c = sql_node_call(b->arena, F_CAST, a->pos, 1, &a);
    if (!c) {
        lerr_set(b->err, LERR_NOMEM, "out of memory");
        return;
    }
    setup_cast(b, c, type);
    if (a->kind == NK_LIT)
        sql_fold(b, c);
    n->args[i] = c;
}

int sql_bind_cast(struct sql_bctx *b, struct sql_node *n)
{
    int from = n->args[0]->type;
    if (n->ttype == SQL_INTERVAL || from == SQL_INTERVAL)
        return sql_bind_error(b, n, "cannot CAST to or from an INTERVAL");
    setup_cast(b, n, n->ttype);
    if (n->ival & 1) {
        /* TIMESTAMP '...' / DATE '...' literal: must be valid now */
        sql_fold(b, n);
        if (n->kind != NK_LIT || n->k.is_null) {
            const struct sql_node *s = n->args[0];
            return sql_bind_error(b, n, "invalid %s literal '%.*s' (write it as '2000-01-02%s')",
                                  (n->ival & 2) ? "DATE" : "TIMESTAMP",
                                  s->k.is_null ? 0 : (int)(s->k.v.s.n > 60 ? 60 : s->k.v.s.n),
                                  s->k.is_null ? "" : s->k.v.s.p,
                                  (n->ival & 2) ? "" : " 03:04:05");
        }
    }
    return 0;
}

void sql_eval_cast(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
{
    SQL_ARG(0, x);
    if (n->ttype == SQL_TIMESTAMP && x.type == SQL_STRING) {
        int64_t ms;
        const struct ls_tz *tz = n->aux;
        if (!time_parse_iso(x.v.s.p, x.v.s.n, tz, &ms)) {
            *out = sql_null(SQL_TIMESTAMP);
            return;
        }
        x = sql_timestamp(ms);
    } else {
        x = sql_value_cast(&x, n->ttype, c->mem);
    }
    if ((n->ival & 2) && !x.is_null) {
        /* DATE: floor to the day in the session time zone */
        const struct ls_tz *tz = n->aux ? n->aux : tz_utc();
        int64_t local = tz_utc_to_local(tz, x.v.l);
        x.v.l = tz_local_to_utc(tz, util_floor_div(local, LS_MS_PER_DAY) * LS_MS_PER_DAY);
    }
    *out = x;
}
