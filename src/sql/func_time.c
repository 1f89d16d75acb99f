/*
 * func_time.c — time functions over TIMESTAMP (epoch ms): TIME_PARSE,
 * TIME_FORMAT, TIME_FLOOR/TIME_CEIL, TIME_SHIFT, TIME_EXTRACT and EXTRACT,
 * FLOOR/CEIL(t TO unit), DATE_TRUNC, TIMESTAMPADD/TIMESTAMPDIFF,
 * TIME_IN_INTERVAL, MILLIS_TO_TIMESTAMP/TIMESTAMP_TO_MILLIS and
 * CURRENT_TIMESTAMP/CURRENT_DATE. The calendar work is util/time.h's; this
 * file types the arguments and pre-compiles the literal ones (patterns,
 * periods, zones, units, intervals — Druid requires them to be literals),
 * so that per-row work is one call into time.h.
 *
 * Druid rules: TIME_PARSE gives NULL on text it cannot parse (never an
 * error); its zone applies only to text without an offset; the default
 * zone of every function is the session's (sqlTimeZone, UTC by default);
 * CURRENT_TIMESTAMP is the value fixed at compile time (job start/query).
 *
 * Entry points: the sql_bind_* binders for these functions (SQL_FUNC_MAP).
 */
#include "sql/sql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EVAL(name) \
    static void name(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)

/* What a time node pre-compiled from its literal arguments. */
struct tfn {
    const struct ls_tz *tz;
    struct joda_fmt *fmt; /* TIME_PARSE / TIME_FORMAT pattern, or NULL */
    struct period per;
    int64_t origin;   /* INT64_MIN: default */
    int64_t fixed_ms; /* > 0 when the period is fixed and the zone UTC */
    enum time_unit unit;
    int64_t lo, hi; /* TIME_IN_INTERVAL */
};

static struct tfn *tfn_new(struct sql_bctx *b, struct sql_node *n)
{
    struct tfn *t = arena_zalloc(b->arena, sizeof *t);
    if (!t) {
        lerr_set(b->err, LERR_NOMEM, "out of memory");
        return NULL;
    }
    t->tz = b->tz;
    t->origin = INT64_MIN;
    n->aux = t;
    return t;
}

static void joda_free_v(void *p) { joda_free(p); }

static int bind_pattern(struct sql_bctx *b, struct sql_node *n, int i, struct tfn *t)
{
    if (i >= n->nargs || (n->args[i]->kind == NK_LIT && n->args[i]->k.is_null))
        return 0;
    const char *p;
    size_t len;
    if (sql_arg_lit_string(b, n, i, "pattern", &p, &len))
        return LERR_INVALID;
    struct lerr e;
    lerr_init(&e);
    t->fmt = joda_compile(p, len, &e);
    if (!t->fmt)
        return sql_bind_error(b, n->args[i], "invalid time pattern '%.*s': %s",
                              (int)(len > 60 ? 60 : len), p, e.msg);
    sql_owner_cleanup(b->owner, joda_free_v, t->fmt);
    return 0;
}

static int bind_period(struct sql_bctx *b, struct sql_node *n, int i, struct tfn *t)
{
    const char *p;
    size_t len;
    if (sql_arg_lit_string(b, n, i, "period", &p, &len))
        return LERR_INVALID;
    struct lerr e;
    lerr_init(&e);
    if (period_parse(p, len, &t->per, &e))
        return sql_bind_error(b, n->args[i], "invalid period '%.*s': %s",
                              (int)(len > 60 ? 60 : len), p, e.msg);
    if (period_is_zero(&t->per))
        return sql_bind_error(b, n->args[i],
                              "the period of %s must not be zero (use one such as PT1H)",
                              sql_funcs[n->func].name);
    return 0;
}

/* Arg i is a timestamp: LONG and text are coerced, as Calcite does. */
static int ts_arg(struct sql_bctx *b, struct sql_node *n, int i)
{
    return sql_arg_check(b, n, i, SQL_TIMESTAMP);
}

/* ---- TIME_PARSE ---------------------------------------------------------------------- */

EVAL(time_parse_iso_fn)
{
    SQL_ARG(0, s);
    const struct tfn *t = n->aux;
    int64_t ms;
    if (time_parse_iso(s.v.s.p, s.v.s.n, t->tz, &ms))
        sql_set_long(out, SQL_TIMESTAMP, ms);
    else
        *out = sql_null(SQL_TIMESTAMP);
}

EVAL(time_parse_joda_fn)
{
    SQL_ARG(0, s);
    const struct tfn *t = n->aux;
    int64_t ms;
    if (joda_parse(t->fmt, s.v.s.p, s.v.s.n, t->tz, &ms))
        sql_set_long(out, SQL_TIMESTAMP, ms);
    else
        *out = sql_null(SQL_TIMESTAMP);
}

int sql_bind_time_parse(struct sql_bctx *b, struct sql_node *n)
{
    if (sql_arg_check(b, n, 0, SQL_STRING))
        return LERR_INVALID;
    struct tfn *t = tfn_new(b, n);
    if (!t || bind_pattern(b, n, 1, t) || sql_arg_tz(b, n, 2, &t->tz))
        return LERR_INVALID;
    n->type = SQL_TIMESTAMP;
    n->fn = t->fmt ? time_parse_joda_fn : time_parse_iso_fn;
    return 0;
}

/* ---- TIME_FORMAT ------------------------------------------------------------------------ */

EVAL(time_format_fn)
{
    SQL_ARG(0, ts);
    const struct tfn *t = n->aux;
    size_t cap = 64;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *o = sql_alloc(c, cap);
        if (!o) {
            *out = sql_null(SQL_STRING);
            return;
        }
        size_t len = t->fmt ? joda_format(t->fmt, ts.v.l, t->tz, o, cap)
                            : time_format_iso(ts.v.l, t->tz, o, cap);
        if (len + 1 < cap) {
            sql_set_str(out, SQL_STRING, o, len);
            return;
        }
        cap = len + 2 > 4096 ? len + 2 : 4096;
    }
    *out = sql_null(SQL_STRING);
}

int sql_bind_time_format(struct sql_bctx *b, struct sql_node *n)
{
    if (ts_arg(b, n, 0))
        return LERR_INVALID;
    struct tfn *t = tfn_new(b, n);
    if (!t || bind_pattern(b, n, 1, t) || sql_arg_tz(b, n, 2, &t->tz))
        return LERR_INVALID;
    n->type = SQL_STRING;
    n->fn = time_format_fn;
    return 0;
}

/* ---- TIME_FLOOR, TIME_CEIL, FLOOR(t TO unit), DATE_TRUNC --------------------------------- */

EVAL(floor_fixed_fn)
{
    SQL_ARG(0, ts);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_TIMESTAMP, util_floor_div(ts.v.l, t->fixed_ms) * t->fixed_ms);
}

EVAL(floor_fn)
{
    SQL_ARG(0, ts);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_TIMESTAMP, time_floor(ts.v.l, &t->per, t->origin, t->tz));
}

EVAL(ceil_fn)
{
    SQL_ARG(0, ts);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_TIMESTAMP, time_ceil(ts.v.l, &t->per, t->origin, t->tz));
}

EVAL(ident_ts_fn)
{
    SQL_ARG(0, ts);
    *out = ts;
}

static void pick_floor(struct sql_node *n, struct tfn *t, bool ceil)
{
    int64_t fixed = period_fixed_ms(&t->per);
    if (!ceil && fixed > 0 && t->tz == tz_utc() && t->origin == INT64_MIN && t->per.weeks == 0 &&
        (t->per.days == 0 || fixed % LS_MS_PER_DAY == 0)) {
        /* UTC with the epoch origin: plain arithmetic (weeks align to Monday) */
        t->fixed_ms = fixed;
        n->fn = floor_fixed_fn;
    } else {
        n->fn = ceil ? ceil_fn : floor_fn;
    }
}

int sql_bind_time_floor(struct sql_bctx *b, struct sql_node *n)
{
    if (ts_arg(b, n, 0))
        return LERR_INVALID;
    struct tfn *t = tfn_new(b, n);
    if (!t || bind_period(b, n, 1, t))
        return LERR_INVALID;
    if (n->nargs > 2) {
        struct sql_node *o = n->args[2];
        if (!(o->kind == NK_LIT && o->k.is_null)) {
            if (ts_arg(b, n, 2))
                return LERR_INVALID;
            o = n->args[2];
            if (o->kind != NK_LIT || o->k.is_null)
                return sql_bind_error(
                    b, o,
                    "the origin argument of %s must be a TIMESTAMP literal, such as TIMESTAMP '2000-01-01 00:00:00'",
                    sql_funcs[n->func].name);
            t->origin = o->k.v.l;
        }
    }
    if (sql_arg_tz(b, n, 3, &t->tz))
        return LERR_INVALID;
    n->type = SQL_TIMESTAMP;
    pick_floor(n, t, sql_funcs[n->func].variant == 1);
    return 0;
}

/* A unit word as a period of one unit; false for units that are not spans. */
static bool unit_period(const char *s, size_t len, struct period *p, bool *identity)
{
    // clang-format off
    static const struct {
        const char *name;
        struct period p;
    } units[] = {
        {"MILLISECOND", {.millis = 1}}, {"SECOND", {.seconds = 1}}, {"MINUTE", {.minutes = 1}},
        {"HOUR", {.hours = 1}},        {"DAY", {.days = 1}},        {"WEEK", {.weeks = 1}},
        {"MONTH", {.months = 1}},      {"QUARTER", {.months = 3}},  {"YEAR", {.years = 1}},
        {"DECADE", {.years = 10}},     {"CENTURY", {.years = 100}}, {"MILLENNIUM", {.years = 1000}},
    };
    // clang-format on
    *identity = false;
    if (len > 1 && (s[len - 1] == 's' || s[len - 1] == 'S'))
        len--; /* DATE_TRUNC accepts plurals ('milliseconds') */
    for (size_t i = 0; i < LS_ARRAY_LEN(units); i++) {
        if (strlen(units[i].name) == len && strncasecmp(units[i].name, s, len) == 0) {
            *p = units[i].p;
            *identity = i == 0;
            return true;
        }
    }
    return false;
}

static int bind_unit_period(struct sql_bctx *b, struct sql_node *n, int i, struct tfn *t,
                            bool *identity)
{
    const char *s;
    size_t len;
    if (sql_arg_lit_string(b, n, i, "unit", &s, &len))
        return LERR_INVALID;
    if (!unit_period(s, len, &t->per, identity))
        return sql_bind_error(
            b, n->args[i],
            "unknown time unit '%.*s' (use SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or YEAR)",
            (int)(len > 40 ? 40 : len), s);
    return 0;
}

int sql_bind_floor_unit(struct sql_bctx *b, struct sql_node *n)
{
    if (ts_arg(b, n, 0))
        return LERR_INVALID;
    struct tfn *t = tfn_new(b, n);
    bool identity;
    if (!t || bind_unit_period(b, n, 1, t, &identity))
        return LERR_INVALID;
    n->type = SQL_TIMESTAMP;
    if (identity)
        n->fn = ident_ts_fn;
    else
        pick_floor(n, t, sql_funcs[n->func].variant == 1);
    return 0;
}

EVAL(date_trunc_fn)
{
    SQL_ARG(1, ts);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_TIMESTAMP, time_floor(ts.v.l, &t->per, t->origin, t->tz));
}

int sql_bind_date_trunc(struct sql_bctx *b, struct sql_node *n)
{
    if (ts_arg(b, n, 1))
        return LERR_INVALID;
    struct tfn *t = tfn_new(b, n);
    bool identity;
    if (!t || bind_unit_period(b, n, 0, t, &identity))
        return LERR_INVALID;
    n->type = SQL_TIMESTAMP;
    if (identity) {
        t->per.millis = 1;
    }
    n->fn = date_trunc_fn;
    return 0;
}

/* ---- TIME_SHIFT, TIMESTAMPADD, TIMESTAMPDIFF --------------------------------------------- */

EVAL(time_shift_fn)
{
    SQL_ARG(0, ts);
    SQL_ARG(2, step);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_TIMESTAMP, time_shift(ts.v.l, &t->per, step.v.l, t->tz));
}

int sql_bind_time_shift(struct sql_bctx *b, struct sql_node *n)
{
    if (ts_arg(b, n, 0) || sql_arg_check(b, n, 2, SQL_LONG))
        return LERR_INVALID;
    sql_coerce(b, n, 2, SQL_LONG);
    struct tfn *t = tfn_new(b, n);
    if (!t || bind_period(b, n, 1, t) || sql_arg_tz(b, n, 3, &t->tz))
        return LERR_INVALID;
    n->type = SQL_TIMESTAMP;
    n->fn = time_shift_fn;
    return 0;
}

EVAL(tsadd_fn)
{
    SQL_ARG(1, k);
    SQL_ARG(2, ts);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_TIMESTAMP, time_shift(ts.v.l, &t->per, k.v.l, t->tz));
}

/* Whole months from a to b (toward zero), by calendar fields in tz. */
static int64_t months_between(int64_t a, int64_t b, const struct ls_tz *tz)
{
    struct civil ca, cb;
    civil_from_ms(tz_utc_to_local(tz, a), &ca);
    civil_from_ms(tz_utc_to_local(tz, b), &cb);
    int64_t m = ((int64_t)cb.year - ca.year) * 12 + (cb.month - ca.month);
    /* compare the rest of the fields (day and time of day) */
    int64_t ra =
        ((((int64_t)ca.day * 24 + ca.hour) * 60 + ca.minute) * 60 + ca.second) * 1000 + ca.millis;
    int64_t rb =
        ((((int64_t)cb.day * 24 + cb.hour) * 60 + cb.minute) * 60 + cb.second) * 1000 + cb.millis;
    if (m > 0 && rb < ra)
        m--;
    else if (m < 0 && rb > ra)
        m++;
    return m;
}

EVAL(tsdiff_fn)
{
    SQL_ARG(1, a);
    SQL_ARG(2, bb);
    const struct tfn *t = n->aux;
    const struct period *p = &t->per;
    int64_t r;
    if (p->months || p->years) {
        int64_t m = months_between(a.v.l, bb.v.l, t->tz);
        r = m / (p->years ? 12 * p->years : p->months);
    } else {
        int64_t unit = period_fixed_ms(p);
        r = unit > 0 ? (bb.v.l - a.v.l) / unit : 0;
    }
    sql_set_long(out, SQL_LONG, r);
}

int sql_bind_timestampadd(struct sql_bctx *b, struct sql_node *n)
{
    bool diff = sql_funcs[n->func].variant == 1;
    struct tfn *t = tfn_new(b, n);
    bool identity;
    if (!t || bind_unit_period(b, n, 0, t, &identity))
        return LERR_INVALID;
    if (diff) {
        if (ts_arg(b, n, 1) || ts_arg(b, n, 2))
            return LERR_INVALID;
        n->type = SQL_LONG;
        n->fn = tsdiff_fn;
    } else {
        if (sql_arg_check(b, n, 1, SQL_LONG) || ts_arg(b, n, 2))
            return LERR_INVALID;
        sql_coerce(b, n, 1, SQL_LONG);
        n->type = SQL_TIMESTAMP;
        n->fn = tsadd_fn;
    }
    return 0;
}

/* ---- TIME_EXTRACT, EXTRACT -------------------------------------------------------------- */

EVAL(extract_fn)
{
    SQL_ARG(0, ts);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_LONG, time_extract(ts.v.l, t->unit, t->tz));
}

int sql_bind_time_extract(struct sql_bctx *b, struct sql_node *n)
{
    if (ts_arg(b, n, 0))
        return LERR_INVALID;
    struct tfn *t = tfn_new(b, n);
    if (!t)
        return LERR_INVALID;
    t->unit = TU_MILLISECOND;
    if (n->nargs > 1) {
        const char *s;
        size_t len;
        if (sql_arg_lit_string(b, n, 1, "unit", &s, &len))
            return LERR_INVALID;
        if (!time_unit_parse(s, len, &t->unit))
            return sql_bind_error(
                b, n->args[1],
                "unknown time unit '%.*s' (use EPOCH, SECOND, MINUTE, HOUR, DAY, DOW, DOY, WEEK, MONTH, QUARTER or YEAR)",
                (int)(len > 40 ? 40 : len), s);
    }
    if (sql_arg_tz(b, n, 2, &t->tz))
        return LERR_INVALID;
    n->type = SQL_LONG;
    n->fn = extract_fn;
    return 0;
}

/* ---- TIME_IN_INTERVAL ------------------------------------------------------------------- */

EVAL(in_interval_fn)
{
    SQL_ARG(0, ts);
    const struct tfn *t = n->aux;
    sql_set_long(out, SQL_BOOLEAN, ts.v.l >= t->lo && ts.v.l < t->hi);
}

int sql_bind_time_in_interval(struct sql_bctx *b, struct sql_node *n)
{
    if (ts_arg(b, n, 0))
        return LERR_INVALID;
    struct tfn *t = tfn_new(b, n);
    const char *s;
    size_t len;
    if (!t || sql_arg_lit_string(b, n, 1, "interval", &s, &len))
        return LERR_INVALID;
    struct lerr e;
    lerr_init(&e);
    if (time_interval_parse(s, len, &t->lo, &t->hi, &e))
        return sql_bind_error(b, n->args[1],
                              "invalid interval '%.*s': %s (write it as '2000-01-01/2000-01-02')",
                              (int)(len > 60 ? 60 : len), s, e.msg);
    n->type = SQL_BOOLEAN;
    n->fn = in_interval_fn;
    return 0;
}

/* ---- conversions and the clock ----------------------------------------------------------- */

EVAL(retag_fn)
{
    SQL_ARG(0, x);
    sql_set_long(out, n->type, x.v.l);
}

int sql_bind_millis(struct sql_bctx *b, struct sql_node *n)
{
    bool to_ts = sql_funcs[n->func].variant == 0;
    int t = n->args[0]->type;
    if (to_ts) {
        if (sql_arg_check(b, n, 0, SQL_LONG))
            return LERR_INVALID;
        if (t != SQL_TIMESTAMP)
            sql_coerce(b, n, 0, SQL_LONG);
        n->type = SQL_TIMESTAMP;
    } else {
        if (ts_arg(b, n, 0))
            return LERR_INVALID;
        n->type = SQL_LONG;
    }
    n->fn = retag_fn;
    return 0;
}

int sql_bind_now(struct sql_bctx *b, struct sql_node *n)
{
    int64_t now = b->opt ? b->opt->now_ms : 0;
    if (sql_funcs[n->func].variant == 1) {
        const struct ls_tz *tz = b->tz ? b->tz : tz_utc();
        int64_t local = tz_utc_to_local(tz, now);
        now = tz_local_to_utc(tz, util_floor_div(local, LS_MS_PER_DAY) * LS_MS_PER_DAY);
    }
    n->kind = NK_LIT;
    n->type = SQL_TIMESTAMP;
    n->k = sql_timestamp(now);
    n->fn = sql_eval_lit;
    return 0;
}
