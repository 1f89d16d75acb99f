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
 * Entry points: sql_bind_json(), sql_json_valid(), sql_json_append_value().
 */
#include "sql/sql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL(name) static void name(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)
#define MAX_DEPTH 256

/* ---- scanner --------------------------------------------------------------------- */

static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexv(char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
        return h - 'A' + 10;
    return -1;
}

/* p at '"': returns the end (after the closing quote) or NULL. */
static const char *scan_string(const char *p, const char *e, bool *escaped)
{
    p++;
    while (p < e) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"')
            return p + 1;
        if (ch < 0x20)
            return NULL;
        if (ch == '\\') {
            if (escaped)
                *escaped = true;
            if (p + 1 >= e)
                return NULL;
            char x = p[1];
            if (x == 'u') {
                if (p + 5 >= e)
                    return NULL;
                for (int i = 2; i < 6; i++)
                    if (hexv(p[i]) < 0)
                        return NULL;
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", x))
                return NULL;
            p += 2;
            continue;
        }
        p++;
    }
    return NULL;
}

static const char *scan_number(const char *p, const char *e)
{
    if (p < e && *p == '-')
        p++;
    if (p >= e)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

/* p at a value (no leading blanks): returns its end, or NULL if invalid. */
static const char *scan_value(const char *p, const char *e, int depth)
{
    if (p >= e || depth > MAX_DEPTH)
        return NULL;
    switch (*p) {
    case '"':
        return scan_string(p, e, NULL);
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        p = ws(p + 1, e);
        if (p < e && *p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                if (p >= e || *p != '"' || !(p = scan_string(p, e, NULL)))
                    return NULL;
                p = ws(p, e);
                if (p >= e || *p != ':')
                    return NULL;
                p = ws(p + 1, e);
            }
            if (!(p = scan_value(p, e, depth + 1)))
                return NULL;
            p = ws(p, e);
            if (p < e && *p == ',') {
                p = ws(p + 1, e);
                continue;
            }
            if (p < e && *p == close)
                return p + 1;
            return NULL;
        }
    }
    case 't':
        return e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return scan_number(p, e);
    }
}

bool sql_json_valid(const char *p, size_t n)
{
    const char *e = p + n;
    const char *q = ws(p, e);
    q = scan_value(q, e, 0);
    return q && ws(q, e) == e;
}

/* Decodes a JSON string token [p, end) into o (capacity >= token length);
 * returns the length. */
static size_t unescape(const char *p, const char *end, char *o)
{
    size_t k = 0;
    for (p++, end--; p < end; p++) {
        if (*p != '\\') {
            o[k++] = *p;
            continue;
        }
        char x = *++p;
        switch (x) {
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'u': {
            uint32_t cp = 0;
            for (int i = 1; i <= 4; i++)
                cp = cp * 16 + (uint32_t)hexv(p[i]);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 7 && p[1] == '\\' && p[2] == 'u') {
                uint32_t lo = 0;
                for (int i = 3; i <= 6; i++)
                    lo = lo * 16 + (uint32_t)(hexv(p[i]) < 0 ? 0 : hexv(p[i]));
                if (lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp < 0x80) {
                o[k++] = (char)cp;
            } else if (cp < 0x800) {
                o[k++] = (char)(0xC0 | (cp >> 6));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                o[k++] = (char)(0xE0 | (cp >> 12));
                o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            } else {
                o[k++] = (char)(0xF0 | (cp >> 18));
                o[k++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                o[k++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: o[k++] = x; break;
        }
    }
    return k;
}

/* ---- paths ---------------------------------------------------------------------------- */

struct jstep {
    const char *key;   /* NULL: array index */
    size_t keyn;
    int64_t index;
};

struct jpath {
    struct jstep *steps;
    size_t n;
};

static bool compile_path(struct arena *a, const char *p, size_t n, struct jpath *out, const char **why)
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
static bool walk(const char *p, const char *e, const struct jpath *path, const char **vs, const char **ve)
{
    p = ws(p, e);
    for (size_t si = 0; si < path->n; si++) {
        const struct jstep *s = &path->steps[si];
        if (p >= e)
            return false;
        if (s->key) {
            if (*p != '{')
                return false;
            p = ws(p + 1, e);
            bool found = false;
            while (p < e && *p == '"') {
                bool esc = false;
                const char *ks = p, *kend = scan_string(p, e, &esc);
                if (!kend)
                    return false;
                bool match;
                if (!esc) {
                    match = (size_t)(kend - ks - 2) == s->keyn && memcmp(ks + 1, s->key, s->keyn) == 0;
                } else {
                    char tmp[256];
                    match = false;
                    if ((size_t)(kend - ks) <= sizeof tmp) {
                        size_t kl = unescape(ks, kend, tmp);
                        match = kl == s->keyn && memcmp(tmp, s->key, kl) == 0;
                    }
                }
                p = ws(kend, e);
                if (p >= e || *p != ':')
                    return false;
                p = ws(p + 1, e);
                if (match) {
                    found = true;
                    break;
                }
                const char *vend = scan_value(p, e, 0);
                if (!vend)
                    return false;
                p = ws(vend, e);
                if (p < e && *p == ',')
                    p = ws(p + 1, e);
                else
                    break;
            }
            if (!found)
                return false;
        } else {
            if (*p != '[')
                return false;
            p = ws(p + 1, e);
            int64_t k = 0;
            if (p < e && *p == ']')
                return false;
            while (k < s->index) {
                const char *vend = scan_value(p, e, 0);
                if (!vend)
                    return false;
                p = ws(vend, e);
                if (p >= e || *p != ',')
                    return false;
                p = ws(p + 1, e);
                k++;
            }
        }
    }
    const char *end = scan_value(p, e, 0);
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
    case 'n':
        *out = sql_null(n->type);
        return;
    case '"': {
        if (memchr(vs, '\\', (size_t)(ve - vs))) {
            char *o = sql_alloc(c, (size_t)(ve - vs));
            if (!o) {
                *out = sql_null(n->type);
                return;
            }
            v = sql_string(o, unescape(vs, ve, o));
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
    a = ws(a, e);
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
            sql_rt_error(c, "PARSE_JSON: invalid JSON text '%.*s' (use TRY_PARSE_JSON to get NULL instead)",
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

static bool append_compact(struct buf *b, const char *p, size_t n)
{
    const char *e = p + n;
    while (p < e) {
        if (*p == '"') {
            const char *q = scan_string(p, e, NULL);
            if (!q)
                q = e;
            buf_append(b, p, (size_t)(q - p));
            p = q;
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p++;
        } else {
            buf_putc(b, *p++);
        }
    }
    return !b->failed;
}

bool sql_json_append_value(struct buf *b, const struct sql_value *v)
{
    if (v->is_null)
        return buf_puts(b, "null");
    char tmp[64];
    switch (v->type) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
        return buf_printf(b, "%lld", (long long)v->v.l);
    case SQL_BOOLEAN:
        return buf_puts(b, v->v.l ? "true" : "false");
    case SQL_DOUBLE:
    case SQL_FLOAT:
        if (v->v.d != v->v.d || v->v.d - v->v.d != 0)
            return buf_puts(b, "null");
        sql_fmt_double(v->v.d, v->type == SQL_FLOAT, tmp);
        return buf_puts(b, tmp);
    case SQL_JSON:
        return append_compact(b, v->v.s.p, v->v.s.n);
    case SQL_STRING:
        buf_putc(b, '"');
        for (uint32_t i = 0; i < v->v.s.n; i++) {
            unsigned char ch = (unsigned char)v->v.s.p[i];
            switch (ch) {
            case '"': buf_puts(b, "\\\""); break;
            case '\\': buf_puts(b, "\\\\"); break;
            case '\n': buf_puts(b, "\\n"); break;
            case '\r': buf_puts(b, "\\r"); break;
            case '\t': buf_puts(b, "\\t"); break;
            case '\b': buf_puts(b, "\\b"); break;
            case '\f': buf_puts(b, "\\f"); break;
            default:
                if (ch < 0x20)
                    buf_printf(b, "\\u%04x", ch);
                else
                    buf_putc(b, (char)ch);
            }
        }
        return buf_putc(b, '"');
    case SQL_ARRAY:
        buf_putc(b, '[');
        for (uint32_t i = 0; i < v->v.a.n; i++) {
            if (i)
                buf_putc(b, ',');
            sql_json_append_value(b, &v->v.a.items[i]);
        }
        return buf_putc(b, ']');
    default:
        return buf_puts(b, "null");
    }
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
            return sql_bind_error(b, n->args[0], "%s needs a JSON value but got %s (declare the field with dataType json)",
                                  sql_funcs[n->func].name, sql_type_sql_name(t));
        const char *p;
        size_t len;
        if (sql_arg_lit_string(b, n, 1, "path", &p, &len))
            return LERR_INVALID;
        struct jpath *path = arena_alloc(b->arena, sizeof *path);
        const char *why = "out of memory";
        if (!path || !compile_path(b->arena, p, len, path, &why))
            return sql_bind_error(b, n->args[1], "invalid JSON path '%.*s': %s (write paths like '$.a.b' or '$.items[0]')",
                                  (int)(len > 60 ? 60 : len), p, why);
        n->aux = path;
        if (v == 0) {
            int rt = n->ttype ? n->ttype : SQL_STRING;
            if (rt == SQL_ARRAY || rt == SQL_JSON)
                return sql_bind_error(b, n, "JSON_VALUE returns primitives only (use JSON_QUERY for objects and arrays)");
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
