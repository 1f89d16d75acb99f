/*
 * func_json.c — JSON values and functions. A JSON value (type JSON) is its
 * text: what the input format found for a field declared "json", or what
 * PARSE_JSON validated. The functions walk that text in place with a small
 * validating scanner, so JSON_VALUE on a nested field allocates nothing
 * unless it must unescape a string.
 *
 * JSON_VALUE(j, path [RETURNING type]) returns primitives only (objects and
 * arrays give NULL), as VARCHAR unless RETURNING says otherwise; numbers
 * print as Druid does (955.00 → "955.0"). JSON_QUERY returns the JSON at
 * the path. PARSE_JSON fails the row on invalid JSON (Druid raises);
 * TRY_PARSE_JSON gives NULL. Paths: `$`, `.name`, `['name']`, `[index]`,
 * compiled once (the path must be a literal).
 *
 * Entry points: sql_bind_json(). The scanner is json_scan.c's; writing a
 * value as JSON text (sql_json_append_value()) is value.c's.
 */
#include "sql/sql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL(name) \
    static void name(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)

/* ---- paths ---------------------------------------------------------------------------- */

struct jstep {
    const char *key; /* NULL: array index */
    size_t keyn;
    int64_t index;
};

struct jpath {
    struct jstep *steps;
    size_t n;
};

static bool compile_path(struct arena *a, const char *p, size_t n, struct jpath *out,
                         const char **why)
{
    size_t i = 0;
    *why = "a path starts with $";
    if (n == 0 || p[0] != '$')
        return false;
    i = 1;
    size_t cap = 8;
    out->n = 0;
    out->steps = arena_alloc(a, sizeof *out->steps * cap);
    if (!out->steps)
        return false;
    while (i < n) {
        if (out->n == cap) {
            struct jstep *ns = arena_alloc(a, sizeof *ns * cap * 2);
            if (!ns)
                return false;
            memcpy(ns, out->steps, sizeof *ns * cap);
            out->steps = ns;
            cap *= 2;
        }
        struct jstep *s = &out->steps[out->n];
        if (p[i] == '.') {
            size_t st = ++i;
            while (i < n && p[i] != '.' && p[i] != '[')
                i++;
            if (i == st) {
                *why = "a '.' must be followed by a field name";
                return false;
            }
            s->key = p + st;
            s->keyn = i - st;
        } else if (p[i] == '[') {
            i++;
            if (i < n && (p[i] == '\'' || p[i] == '"')) {
                char q = p[i++];
                size_t st = i;
                while (i < n && p[i] != q)
                    i++;
                if (i >= n || i + 1 >= n || p[i + 1] != ']') {
                    *why = "unterminated ['name']";
                    return false;
                }
                s->key = p + st;
                s->keyn = i - st;
                i += 2;
            } else {
                int64_t v = 0;
                size_t st = i;
                while (i < n && p[i] >= '0' && p[i] <= '9' && v < 100000000)
                    v = v * 10 + (p[i++] - '0');
                if (i == st || i >= n || p[i] != ']') {
                    *why = "an index must be a number, as in [0]";
                    return false;
                }
                i++;
                s->key = NULL;
                s->index = v;
            }
        } else {
            *why = "expected '.name', ['name'] or [index]";
            return false;
        }
        out->n++;
    }
    return true;
}

/* Walks [p, e) (a value, blanks allowed around) along the path; returns the
 * target value's [*vs, *ve) or false when absent or the text is invalid. */
static bool walk(const char *p, const char *e, const struct jpath *path, const char **vs,
                 const char **ve)
{
    p = sql_json_ws(p, e);
    for (size_t si = 0; si < path->n; si++) {
        const struct jstep *s = &path->steps[si];
        if (p >= e)
            return false;
        if (s->key) {
            if (*p != '{')
                return false;
            p = sql_json_ws(p + 1, e);
            bool found = false;
            while (p < e && *p == '"') {
                bool esc = false;
                const char *ks = p, *kend = sql_json_scan_string(p, e, &esc);
                if (!kend)
                    return false;
                bool match;
                if (!esc) {
                    match = (size_t)(kend - ks - 2) == s->keyn &&
                            memcmp(ks + 1, s->key, s->keyn) == 0;
                } else {
                    char tmp[256];
                    match = false;
                    if ((size_t)(kend - ks) <= sizeof tmp) {
                        size_t kl = sql_json_unescape(ks, kend, tmp);
                        match = kl == s->keyn && memcmp(tmp, s->key, kl) == 0;
                    }
                }
                p = sql_json_ws(kend, e);
                if (p >= e || *p != ':')
                    return false;
                p = sql_json_ws(p + 1, e);
                if (match) {
                    found = true;
                    break;
                }
                const char *vend = sql_json_scan_value(p, e, 0);
                if (!vend)
                    return false;
                p = sql_json_ws(vend, e);
                if (p < e && *p == ',')
                    p = sql_json_ws(p + 1, e);
                else
                    break;
            }
            if (!found)
                return false;
        } else {
            if (*p != '[')
                return false;
            p = sql_json_ws(p + 1, e);
            int64_t k = 0;
            if (p < e && *p == ']')
                return false;
            while (k < s->index) {
                const char *vend = sql_json_scan_value(p, e, 0);
                if (!vend)
                    return false;
                p = sql_json_ws(vend, e);
                if (p >= e || *p != ',')
                    return false;
                p = sql_json_ws(p + 1, e);
                k++;
            }
        }
    }
    const char *end = sql_json_scan_value(p, e, 0);
    if (!end)
        return false;
    *vs = p;
    *ve = end;
    return true;
}

/* ---- functions -------------------------------------------------------------------------- */

EVAL(json_value_fn)
{
    SQL_ARG(0, j);
    const struct jpath *path = n->aux;
    const char *vs, *ve;
    if (!walk(j.v.s.p, j.v.s.p + j.v.s.n, path, &vs, &ve)) {
        *out = sql_null(n->type);
        return;
    }
    struct sql_value v;
    switch (*vs) {
    case '{':
    case '[':
    case 'n': *out = sql_null(n->type); return;
    case '"': {
        if (memchr(vs, '\\', (size_t)(ve - vs))) {
            char *o = sql_alloc(c, (size_t)(ve - vs));
            if (!o) {
                *out = sql_null(n->type);
                return;
            }
            v = sql_string(o, sql_json_unescape(vs, ve, o));
        } else {
            v = sql_string(vs + 1, (size_t)(ve - vs - 2));
        }
        break;
    }
    case 't':
    case 'f':
        if (n->type == SQL_STRING) {
            v = sql_string(vs, (size_t)(ve - vs));
        } else {
            v.type = SQL_BOOLEAN;
            v.is_null = false;
            v.v.l = *vs == 't';
        }
        break;
    default: {
        /* a number: integers stay as written, decimals print as Java does */
        int64_t l;
        double d;
        int k = sql_parse_number(vs, (size_t)(ve - vs), &l, &d);
        if (k == 1) {
            v = sql_long(l);
        } else if (k == 2) {
            v = sql_double(d);
        } else {
            *out = sql_null(n->type);
            return;
        }
        break;
    }
    }
    *out = v.type == n->type ? v : sql_value_cast(&v, n->type, c->mem);
}

EVAL(json_query_fn)
{
    SQL_ARG(0, j);
    const struct jpath *path = n->aux;
    const char *vs, *ve;
    if (!walk(j.v.s.p, j.v.s.p + j.v.s.n, path, &vs, &ve) || *vs == 'n') {
        *out = sql_null(SQL_JSON);
        return;
    }
    sql_set_str(out, SQL_JSON, vs, (size_t)(ve - vs));
}

static void trimmed(const struct sql_value *s, const char **p, size_t *n)
{
    const char *a = s->v.s.p, *e = a + s->v.s.n;
    a = sql_json_ws(a, e);
    while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    *p = a;
    *n = (size_t)(e - a);
}

EVAL(parse_json_fn)
{
    SQL_ARG(0, s);
    if (s.type != SQL_STRING) {
        *out = sql_value_cast(&s, SQL_JSON, c->mem);
        return;
    }
    const char *p;
    size_t len;
    trimmed(&s, &p, &len);
    if (!sql_json_valid(p, len)) {
        if (n->ival == 2)
            sql_rt_error(
                c, "PARSE_JSON: invalid JSON text '%.*s' (use TRY_PARSE_JSON to get NULL instead)",
                (int)(len > 60 ? 60 : len), p);
        *out = sql_null(SQL_JSON);
        return;
    }
    if (len == 4 && memcmp(p, "null", 4) == 0) {
        *out = sql_null(SQL_JSON);
        return;
    }
    sql_set_str(out, SQL_JSON, p, len);
}

EVAL(to_json_string_fn)
{
    SQL_ARG(0, x);
    struct buf b;
    buf_init(&b, 16u << 20);
    sql_json_append_value(&b, &x);
    if (b.failed) {
        buf_free(&b);
        sql_rt_error(c, "TO_JSON_STRING result too long");
        *out = sql_null(SQL_STRING);
        return;
    }
    char *p = sql_alloc(c, b.len);
    if (p) {
        memcpy(p, b.data, b.len);
        sql_set_str(out, SQL_STRING, p, b.len);
    } else {
        *out = sql_null(SQL_STRING);
    }
    buf_free(&b);
}

int sql_bind_json(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    n->ival = v;
    if (v <= 1) {
        int t = n->args[0]->type;
        if (t != SQL_JSON && t != SQL_STRING && t != SQL_NULL)
            return sql_bind_error(
                b, n->args[0],
                "%s needs a JSON value but got %s (declare the field with dataType json)",
                sql_funcs[n->func].name, sql_type_sql_name(t));
        const char *p;
        size_t len;
        if (sql_arg_lit_string(b, n, 1, "path", &p, &len))
            return LERR_INVALID;
        struct jpath *path = arena_alloc(b->arena, sizeof *path);
        const char *why = "out of memory";
        if (!path || !compile_path(b->arena, p, len, path, &why))
            return sql_bind_error(
                b, n->args[1],
                "invalid JSON path '%.*s': %s (write paths like '$.a.b' or '$.items[0]')",
                (int)(len > 60 ? 60 : len), p, why);
        n->aux = path;
        if (v == 0) {
            int rt = n->ttype ? n->ttype : SQL_STRING;
            if (rt == SQL_ARRAY || rt == SQL_JSON)
                return sql_bind_error(
                    b, n,
                    "JSON_VALUE returns primitives only (use JSON_QUERY for objects and arrays)");
            n->type = (uint8_t)rt;
            n->fn = json_value_fn;
        } else {
            n->type = SQL_JSON;
            n->fn = json_query_fn;
        }
        return 0;
    }
    if (v == 2 || v == 3) {
        n->type = SQL_JSON;
        n->fn = parse_json_fn;
        return 0;
    }
    n->type = SQL_STRING;
    n->fn = to_json_string_fn;
    return 0;
}
