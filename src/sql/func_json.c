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
 * TRY_PARSE_JSON gives NULL. Paths: `$` (or `$.`), `.name`, `['name']`,
 * `[index]`, compiled once (the path must be a literal).
 *
 * JSON_KEYS, JSON_QUERY_ARRAY, JSON_PATHS, JSON_MERGE and JSON_OBJECT
 * (parsed from `KEY k VALUE v` or `k : v` pairs, with NULL or ABSENT ON
 * NULL) follow Druid's nested-data functions; JSON_PATHS lists paths in
 * document order (Druid returns them as an unordered set) and JSON_MERGE
 * merges the top-level members.
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
            if (st == n && out->n == 0)
                break; /* "$." is the root, as Druid reads it */
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

/* ---- JSON_KEYS, JSON_QUERY_ARRAY, JSON_PATHS, JSON_MERGE, JSON_OBJECT ------------------- */

/* The spans of a container's items: for an object (p at '{') each member's
 * key token [k, ke) and value [v, ve); for an array (p at '[') the values. */
struct jitem {
    const char *k, *ke, *v, *ve;
};

/* Items of the container at p (up to e) into an arena array; false when the
 * text is not valid or memory ran out (a run-time error then). */
static bool items(struct sql_ectx *c, const char *p, const char *e, struct jitem **out, size_t *n)
{
    bool obj = *p == '{';
    char close = obj ? '}' : ']';
    size_t cap = 8;
    *n = 0;
    *out = (struct jitem *)sql_alloc(c, cap * sizeof **out);
    if (!*out)
        return false;
    p = sql_json_ws(p + 1, e);
    if (p < e && *p == close)
        return true;
    for (;;) {
        struct jitem it = {0};
        if (obj) {
            bool esc;
            if (p >= e || *p != '"' || !(it.ke = sql_json_scan_string(p, e, &esc)))
                return false;
            it.k = p;
            p = sql_json_ws(it.ke, e);
            if (p >= e || *p != ':')
                return false;
            p = sql_json_ws(p + 1, e);
        }
        if (!(it.ve = sql_json_scan_value(p, e, 0)))
            return false;
        it.v = p;
        if (*n == cap) {
            struct jitem *m = (struct jitem *)sql_alloc(c, 2 * cap * sizeof *m);
            if (!m)
                return false;
            memcpy(m, *out, cap * sizeof *m);
            *out = m;
            cap *= 2;
        }
        (*out)[(*n)++] = it;
        p = sql_json_ws(it.ve, e);
        if (p < e && *p == ',') {
            p = sql_json_ws(p + 1, e);
            continue;
        }
        return p < e && *p == close;
    }
}

/* A member's key, unescaped when it must be, into the batch arena. */
static bool key_text(struct sql_ectx *c, const struct jitem *it, const char **k, size_t *n)
{
    if (!memchr(it->k, '\\', (size_t)(it->ke - it->k))) {
        *k = it->k + 1;
        *n = (size_t)(it->ke - it->k - 2);
        return true;
    }
    char *o = sql_alloc(c, (size_t)(it->ke - it->k));
    if (!o)
        return false;
    *n = sql_json_unescape(it->k, it->ke, o);
    *k = o;
    return true;
}

static struct sql_value *values(struct sql_ectx *c, size_t n)
{
    return (struct sql_value *)sql_alloc(c, (n ? n : 1) * sizeof(struct sql_value));
}

static void set_array(struct sql_value *out, const struct sql_value *v, size_t n)
{
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = v;
    out->v.a.n = (uint32_t)n;
}

/* JSON_KEYS: an object's member names, an array's element numbers ("0",
 * "1", ...), NULL for anything else or nothing at the path (Druid's
 * NestedPathFinder.findKeys). */
EVAL(json_keys_fn)
{
    SQL_ARG(0, j);
    const char *vs, *ve;
    struct jitem *it;
    size_t cnt;
    if (!walk(j.v.s.p, j.v.s.p + j.v.s.n, n->aux, &vs, &ve) || (*vs != '{' && *vs != '[') ||
        !items(c, vs, ve, &it, &cnt)) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    struct sql_value *v = values(c, cnt);
    if (!v) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    for (size_t i = 0; i < cnt; i++) {
        const char *k;
        size_t kl;
        if (*vs == '{') {
            if (!key_text(c, &it[i], &k, &kl)) {
                *out = sql_null(SQL_ARRAY);
                return;
            }
        } else {
            char num[24];
            kl = (size_t)snprintf(num, sizeof num, "%zu", i);
            char *o = sql_alloc(c, kl);
            if (!o) {
                *out = sql_null(SQL_ARRAY);
                return;
            }
            memcpy(o, num, kl);
            k = o;
        }
        sql_set_str(&v[i], SQL_STRING, k, kl);
    }
    set_array(out, v, cnt);
}

/* JSON_QUERY_ARRAY: the array at the path as an array of JSON values, or a
 * one-element array of what is there when it is not an array. */
EVAL(json_query_array_fn)
{
    SQL_ARG(0, j);
    const char *vs, *ve;
    if (!walk(j.v.s.p, j.v.s.p + j.v.s.n, n->aux, &vs, &ve) || *vs == 'n') {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    struct jitem one = {.v = vs, .ve = ve}, *it = &one;
    size_t cnt = 1;
    if (*vs == '[' && !items(c, vs, ve, &it, &cnt)) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    struct sql_value *v = values(c, cnt);
    if (!v) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    for (size_t i = 0; i < cnt; i++) {
        if (*it[i].v == 'n')
            v[i] = sql_null(SQL_JSON);
        else
            sql_set_str(&v[i], SQL_JSON, it[i].v, (size_t)(it[i].ve - it[i].v));
    }
    set_array(out, v, cnt);
}

/* The paths list of JSON_PATHS while it is built. */
struct plist {
    struct sql_value *v;
    size_t n, cap;
};

static bool plist_add(struct sql_ectx *c, struct plist *l, const struct buf *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct sql_value *m = values(c, cap);
        if (!m)
            return false;
        if (l->n)
            memcpy(m, l->v, l->n * sizeof *m);
        l->v = m;
        l->cap = cap;
    }
    char *o = sql_alloc(c, path->len);
    if (!o)
        return false;
    memcpy(o, path->data, path->len);
    sql_set_str(&l->v[l->n++], SQL_STRING, o, path->len);
    return true;
}

/* Adds the path of every primitive under the value at [p, e), depth first
 * in document order, written as Druid normalizes paths: $.name, or
 * $['name'] when the name holds . ' " [ or ], and [i] for elements. */
static bool paths(struct sql_ectx *c, const char *p, const char *e, struct buf *path,
                  struct plist *l, int depth)
{
    if (*p != '{' && *p != '[')
        return plist_add(c, l, path);
    if (depth > 256)
        return false;
    struct jitem *it;
    size_t n;
    if (!items(c, p, e, &it, &n))
        return false;
    size_t base = path->len;
    for (size_t i = 0; i < n; i++) {
        path->len = base;
        if (*p == '[') {
            buf_printf(path, "[%zu]", i);
        } else {
            const char *k;
            size_t kl;
            if (!key_text(c, &it[i], &k, &kl))
                return false;
            bool quote = false;
            for (size_t q = 0; q < kl && !quote; q++)
                quote = k[q] == '.' || k[q] == '\'' || k[q] == '"' || k[q] == '[' || k[q] == ']';
            buf_puts(path, quote ? "['" : ".");
            buf_append(path, k, kl);
            if (quote)
                buf_puts(path, "']");
        }
        if (path->failed || !paths(c, it[i].v, it[i].ve, path, l, depth + 1))
            return false;
    }
    path->len = base;
    return true;
}

EVAL(json_paths_fn)
{
    SQL_ARG(0, j);
    const char *p = sql_json_ws(j.v.s.p, j.v.s.p + j.v.s.n), *e = j.v.s.p + j.v.s.n;
    const char *end = p < e ? sql_json_scan_value(p, e, 0) : NULL;
    if (!end) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    struct buf path;
    buf_init(&path, 1u << 20);
    buf_putc(&path, '$');
    struct plist l = {0};
    bool ok = paths(c, p, end, &path, &l, 0);
    if (ok && !l.v)
        ok = (l.v = values(c, 0)) != NULL;
    if (!ok && path.failed)
        sql_rt_error(c, "JSON_PATHS: a path is longer than 1 MB");
    buf_free(&path);
    if (!ok) {
        *out = sql_null(SQL_ARRAY);
        return;
    }
    set_array(out, l.v, l.n);
}

/* The JSON text built in b as the result (into the batch arena); frees b. */
static void json_result(struct sql_ectx *c, struct buf *b, const char *fn, struct sql_value *out)
{
    char *o = b->failed ? NULL : sql_alloc(c, b->len);
    if (b->failed)
        sql_rt_error(c, "%s result too long (over 16 MB)", fn);
    if (o) {
        memcpy(o, b->data, b->len);
        sql_set_str(out, SQL_JSON, o, b->len);
    } else {
        *out = sql_null(SQL_JSON);
    }
    buf_free(b);
}

/* A JSON argument of JSON_MERGE as an object's members; NULL when it is not
 * an object (a run-time error names the argument). */
static bool merge_arg(const struct sql_node *n, struct sql_ectx *c, int i, struct jitem **it,
                      size_t *cnt)
{
    struct sql_value a;
    sql_eval_arg(n->args[i], c, &a);
    const char *p = a.v.s.p, *e = p + a.v.s.n;
    p = sql_json_ws(p, e);
    if (p < e && *p == '{' && items(c, p, e, it, cnt))
        return true;
    sql_rt_error(c, "JSON_MERGE: argument %d is not a JSON object (got '%.*s')", i + 1,
                 (int)(a.v.s.n > 40 ? 40 : a.v.s.n), a.v.s.p);
    return false;
}

/* A member being merged: its key (unescaped), the argument and position it
 * came from, for ordering. */
struct mkey {
    const char *k;
    size_t kl;
    uint32_t order;
    const struct jitem *it;
};

static int mkey_cmp(const void *a, const void *b)
{
    const struct mkey *x = a, *y = b;
    size_t m = x->kl < y->kl ? x->kl : y->kl;
    int r = memcmp(x->k, y->k, m);
    if (r)
        return r;
    if (x->kl != y->kl)
        return x->kl < y->kl ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int mkey_order(const void *a, const void *b)
{
    const struct mkey *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* JSON_MERGE(a, b, ...): the members of every object, a key that repeats
 * keeping its first place and its last value (the rightmost wins, as
 * Jackson's updating reader merges in Druid); NULL if any argument is. */
EVAL(json_merge_fn)
{
    for (uint16_t i = 0; i < n->nargs; i++) {
        SQL_ARG(i, a);
        (void)a;
    }
    size_t total = 0, k = 0;
    struct jitem **its = (struct jitem **)sql_alloc(c, n->nargs * sizeof *its);
    size_t *cnt = (size_t *)sql_alloc(c, n->nargs * sizeof *cnt);
    if (!its || !cnt) {
        *out = sql_null(SQL_JSON);
        return;
    }
    for (uint16_t i = 0; i < n->nargs; i++) {
        if (!merge_arg(n, c, i, &its[i], &cnt[i])) {
            *out = sql_null(SQL_JSON);
            return;
        }
        total += cnt[i];
    }
    struct mkey *m = (struct mkey *)sql_alloc(c, (total ? total : 1) * sizeof *m);
    if (!m) {
        *out = sql_null(SQL_JSON);
        return;
    }
    for (uint16_t i = 0; i < n->nargs; i++)
        for (size_t j = 0; j < cnt[i]; j++, k++) {
            m[k].it = &its[i][j];
            m[k].order = (uint32_t)k;
            if (!key_text(c, m[k].it, &m[k].k, &m[k].kl)) {
                *out = sql_null(SQL_JSON);
                return;
            }
        }
    /* Sorted by key then position: each key's run keeps its first position
     * and takes its last value. */
    qsort(m, total, sizeof *m, mkey_cmp);
    size_t w = 0;
    for (size_t r = 0; r < total;) {
        size_t s = r;
        while (r + 1 < total && m[r + 1].kl == m[s].kl && memcmp(m[r + 1].k, m[s].k, m[s].kl) == 0)
            r++;
        m[w] = m[s];
        m[w].it = m[r].it;
        w++;
        r++;
    }
    qsort(m, w, sizeof *m, mkey_order);
    struct buf b;
    buf_init(&b, 16u << 20);
    buf_putc(&b, '{');
    for (size_t i = 0; i < w; i++) {
        if (i)
            buf_putc(&b, ',');
        struct sql_value key = sql_string(m[i].k, m[i].kl);
        struct sql_value val;
        sql_set_str(&val, SQL_JSON, m[i].it->v, (size_t)(m[i].it->ve - m[i].it->v));
        sql_json_append_value(&b, &key);
        buf_putc(&b, ':');
        sql_json_append_value(&b, &val);
    }
    buf_putc(&b, '}');
    json_result(c, &b, "JSON_MERGE", out);
}

/* JSON_OBJECT(KEY k VALUE v, ...): keys must be strings (a NULL key is an
 * error); a value of any type, JSON nested as JSON; NULL values kept (NULL
 * ON NULL, the default) or left out (ABSENT ON NULL); a repeated key keeps
 * its last value (Druid builds a map). */
EVAL(json_object_fn)
{
    size_t pairs = n->nargs / 2;
    struct sql_value *k = values(c, pairs), *v = values(c, pairs);
    if (!k || !v) {
        *out = sql_null(SQL_JSON);
        return;
    }
    for (size_t i = 0; i < pairs; i++) {
        sql_eval_arg(n->args[2 * i], c, &k[i]);
        if (k[i].is_null) {
            sql_rt_error(c, "JSON_OBJECT: key %zu is NULL; a key must be a string", i + 1);
            *out = sql_null(SQL_JSON);
            return;
        }
        sql_eval_arg(n->args[2 * i + 1], c, &v[i]);
    }
    struct buf b;
    buf_init(&b, 16u << 20);
    buf_putc(&b, '{');
    bool first = true;
    for (size_t i = 0; i < pairs; i++) {
        bool later = false;
        for (size_t j = i + 1; j < pairs && !later; j++)
            later = k[j].v.s.n == k[i].v.s.n && memcmp(k[j].v.s.p, k[i].v.s.p, k[i].v.s.n) == 0;
        if (later || (v[i].is_null && n->ival == 10))
            continue;
        if (!first)
            buf_putc(&b, ',');
        first = false;
        sql_json_append_value(&b, &k[i]);
        buf_putc(&b, ':');
        sql_json_append_value(&b, &v[i]);
    }
    buf_putc(&b, '}');
    json_result(c, &b, "JSON_OBJECT", out);
}

int sql_bind_json(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    n->ival = v;
    if (v <= 1 || v == 5 || v == 6) {
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
        if (v == 5 || v == 6) {
            n->type = SQL_ARRAY;
            n->ttype = v == 5 ? SQL_STRING : SQL_JSON;
            n->fn = v == 5 ? json_keys_fn : json_query_array_fn;
            return 0;
        }
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
    if (v == 7 || v == 8) {
        for (uint16_t i = 0; i < n->nargs; i++) {
            int t = n->args[i]->type;
            if (t != SQL_JSON && t != SQL_STRING && t != SQL_NULL)
                return sql_bind_error(b, n->args[i], "%s needs JSON values but argument %d is %s",
                                      sql_funcs[n->func].name, i + 1, sql_type_sql_name(t));
        }
        n->type = v == 7 ? SQL_ARRAY : SQL_JSON;
        n->ttype = v == 7 ? SQL_STRING : 0;
        n->fn = v == 7 ? json_paths_fn : json_merge_fn;
        return 0;
    }
    if (v == 9 || v == 10) {
        for (uint16_t i = 0; i < n->nargs; i += 2) {
            int t = n->args[i]->type;
            if (t != SQL_STRING && t != SQL_NULL)
                return sql_bind_error(
                    b, n->args[i], "JSON_OBJECT: key %d is %s; a key must be a string (VARCHAR)",
                    i / 2 + 1, sql_type_sql_name(t));
        }
        n->type = SQL_JSON;
        n->fn = json_object_fn;
        return 0;
    }
    n->type = SQL_STRING;
    n->fn = to_json_string_fn;
    return 0;
}
