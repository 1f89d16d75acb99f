/*
 * coerce.c — turning input values into typed SQL values: JSON values and
 * text (CSV fields, Kafka keys, headers, topics) meet an input field's
 * dataType by the rules documented in format.h, with warnings for values
 * that do not fit. Also the text → number parsers and UTF-8 checks the rest
 * of the format module uses.
 *
 * Entry points (module-internal, format_int.h): format__put_json(),
 * format__put_text(), format__put_text_lossy(), format__put_long(),
 * format__text_long(), format__text_double(), format__utf8_valid(),
 * format__keep(), format__warn().
 *
 * Nothing here allocates from the heap per value: bytes that must outlive
 * the record's own (decoded escapes, number text, JSON string literals) go
 * into the batch arena of the call.
 */
#include "format/format_int.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- warnings and kept bytes ------------------------------------------- */

void format__warn(struct format__ctx *c, const char *fmt, ...)
{
    if (c->warned)
        return;
    c->warned = true;
    lerr_init(&c->warn);
    va_list ap;
    va_start(ap, fmt);
    lerr_setv(&c->warn, LERR_INVALID, fmt, ap);
    va_end(ap);
}

/* A value for a message: at most ~60 bytes, cut on a UTF-8 boundary, with
 * control bytes shown as '?' so the message stays one printable line. */
static void snip(const char *s, size_t n, char out[80])
{
    size_t cut = n;
    if (cut > 60) {
        cut = 57;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    size_t o = 0;
    for (size_t i = 0; i < cut; i++)
        out[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (cut < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static void nomem(struct format__ctx *c) { c->nomem = true; }

const char *format__keep(struct format__ctx *c, const char *s, size_t n)
{
    const struct format__scratch *r = &c->p->run;
    bool in_scratch = r->scratch_cap && ((s >= r->scratch && s < r->scratch + r->scratch_cap) ||
                                         (s >= r->scratch2 && s < r->scratch2 + r->scratch_cap));
    if (!in_scratch)
        return s;
    char *d = arena_alloc(c->mem, n ? n : 1);
    if (!d) {
        nomem(c);
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

/* ---- UTF-8 --------------------------------------------------------------- */

/* Length of the valid sequence at s (lead byte >= 0x80), 0 when invalid:
 * overlong forms, surrogates, > U+10FFFF, stray or missing continuations. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

size_t format__utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs 8 bytes at a time: the common case. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return i;
        i += k;
    }
    return n;
}

/* ---- numbers in text ------------------------------------------------------- */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

struct num_text {
    const char *s; /* the number without surrounding blanks */
    size_t n;
    bool neg, integral; /* integral: no fraction and no exponent */
    uint64_t m;         /* significant digits (valid when ndig <= 19) */
    int ndig;           /* significant digits, leading zeros dropped */
    int64_t exp10;      /* value = m * 10^exp10 when ndig <= 19 */
};

static bool is_blank_byte(char c) { return c == ' ' || c == '\t'; }

/* Recognises [blanks][+-]digits[.digits][(e|E)[+-]digits][blanks], with
 * ".5" and "5." allowed. 1 = a number, 0 = empty/blank, -1 = not a number. */
static int scan_number(const char *s, size_t n, struct num_text *o)
{
    while (n && is_blank_byte(*s)) {
        s++;
        n--;
    }
    while (n && is_blank_byte(s[n - 1]))
        n--;
    if (!n)
        return 0;
    o->s = s;
    o->n = n;
    o->neg = false;
    o->integral = true;
    o->m = 0;
    o->ndig = 0;
    o->exp10 = 0;
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-')
        o->neg = s[i++] == '-';
    size_t digits = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (o->ndig == 0 && s[i] == '0')
            continue;
        if (o->ndig < 19)
            o->m = o->m * 10 + (uint64_t)(s[i] - '0');
        else
            o->exp10++; /* dropped digit (only used when ndig <= 19) */
        o->ndig++;
    }
    if (i < n && s[i] == '.') {
        o->integral = false;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (o->ndig == 0 && s[i] == '0') {
                o->exp10--;
                continue;
            }
            if (o->ndig < 19) {
                o->m = o->m * 10 + (uint64_t)(s[i] - '0');
                o->exp10--;
            }
            o->ndig++;
        }
    }
    if (!digits)
        return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        o->integral = false;
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || s[i] < '0' || s[i] > '9')
            return -1;
        int64_t e = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (e < 100000000)
                e = e * 10 + (s[i] - '0');
        o->exp10 += eneg ? -e : e;
    }
    return i == n ? 1 : -1;
}

/* The double nearest the recognised number: Clinger's exact fast path when
 * digits and power of ten are both exact, else strtod in the C locale on a
 * NUL-terminated copy. */
static double num_value(const struct format_plan *p, const struct num_text *t)
{
    if (t->ndig == 0)
        return t->neg ? -0.0 : 0.0;
#if FLT_EVAL_METHOD == 0
    if (t->ndig <= 19 && t->m <= (1ull << 53) && t->exp10 >= -22 && t->exp10 <= 22) {
        double d = (double)t->m;
        d = t->exp10 >= 0 ? d * pow10_exact[t->exp10] : d / pow10_exact[-t->exp10];
        return t->neg ? -d : d;
    }
#endif
    char stack[128];
    char *b = stack;
    if (t->n >= sizeof stack) {
        b = malloc(t->n + 1); /* a number of 128+ characters: rare, not per value */
        if (!b)
            return NAN;
    }
    memcpy(b, t->s, t->n);
    b[t->n] = '\0';
    double d = p->c_locale ? strtod_l(b, NULL, p->c_locale) : strtod(b, NULL);
    if (b != stack)
        free(b);
    return d;
}

int format__text_double(const struct format_plan *p, const char *s, size_t n, double *out)
{
    struct num_text t;
    int r = scan_number(s, n, &t);
    if (r <= 0)
        return r;
    *out = num_value(p, &t);
    return isfinite(*out) ? 1 : -1;
}

/* Truncates toward zero as Java's longValue() does; false outside int64
 * (where Java would saturate: we would rather say so). */
static bool double_to_long(double d, int64_t *out)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false;
    *out = (int64_t)d;
    return true;
}

int format__text_long(const struct format_plan *p, const char *s, size_t n, int64_t *out)
{
    struct num_text t;
    int r = scan_number(s, n, &t);
    if (r <= 0)
        return r;
    if (t.integral && t.ndig <= 19) {
        /* exp10 is 0 here: no digit was dropped. */
        if (t.m <= (uint64_t)INT64_MAX) {
            *out = t.neg ? -(int64_t)t.m : (int64_t)t.m;
            return 1;
        }
        if (t.neg && t.m == (uint64_t)INT64_MAX + 1) {
            *out = INT64_MIN;
            return 1;
        }
        return -2;
    }
    return double_to_long(num_value(p, &t), out) ? 1 : -2;
}

/* ---- typed values -------------------------------------------------------- */

/* Stores a value field by field: assigning a struct built by sql_string()
 * and friends goes through a stack temporary written in small pieces and
 * read back whole, which stalls store forwarding on the hot path. */
static inline void set_long(struct sql_value *out, int64_t x)
{
    out->type = SQL_LONG;
    out->is_null = false;
    out->v.l = x;
}

static inline void set_str(struct sql_value *out, const char *p, size_t n)
{
    out->type = SQL_STRING;
    out->is_null = false;
    out->v.s.p = p;
    out->v.s.n = (uint32_t)n;
}

static inline void set_null(struct sql_value *out, uint8_t type)
{
    out->type = type;
    out->is_null = true;
}

static const char *type_word(uint8_t type)
{
    switch (type) {
    case SQL_LONG: return "long";
    case SQL_DOUBLE: return "double";
    case SQL_FLOAT: return "float";
    case SQL_STRING: return "string";
    case SQL_JSON: return "json";
    case SQL_ARRAY: return "array";
    default: return "value";
    }
}

static void warn_value(struct format__ctx *c, const struct format_field *f, uint8_t type,
                       const char *what, const char *s, size_t n)
{
    char v[80];
    snip(s, n, v);
    format__warn(c, "input field '%s': %s %s%s%s is not a valid %s; stored as NULL", f->name, what,
                 s ? "\"" : "", v, s ? "\"" : "", type_word(type));
}

/* A double into a DOUBLE or FLOAT slot. */
static void put_double(struct format__ctx *c, const struct format_field *f, uint8_t type, double d,
                       const char *raw, size_t raw_len, struct sql_value *out)
{
    if (!isfinite(d)) {
        char v[80];
        snip(raw, raw_len, v);
        format__warn(c, "input field '%s': %s is out of the range of a %s; stored as NULL",
                     f->name, v, type_word(type));
        set_null(out, type);
        return;
    }
    if (type == SQL_FLOAT) {
        if (fabs(d) > FLT_MAX) {
            char v[80];
            snip(raw, raw_len, v);
            format__warn(c, "input field '%s': %s is out of the range of a float; stored as NULL",
                         f->name, v);
            set_null(out, type);
            return;
        }
        d = (double)(float)d;
    }
    out->type = type;
    out->is_null = false;
    out->v.d = d;
}

/* The JSON string literal of a text, in the arena. */
static void put_json_string(struct format__ctx *c, const char *s, size_t n, struct sql_value *out)
{
    struct buf *b = &c->p->run.tmp;
    buf_reset(b);
    if (!format_json_write_string(b, s, n)) {
        nomem(c);
        set_null(out, SQL_JSON);
        return;
    }
    char *d = arena_alloc(c->mem, b->len);
    if (!d) {
        nomem(c);
        set_null(out, SQL_JSON);
        return;
    }
    memcpy(d, b->data, b->len);
    out->type = SQL_JSON;
    out->is_null = false;
    out->v.s.p = d;
    out->v.s.n = (uint32_t)b->len;
}

/* Text into a scalar slot of `type`. */
static void text_scalar(struct format__ctx *c, const struct format_field *f, uint8_t type,
                        const char *s, size_t n, bool copy, struct sql_value *out)
{
    switch (type) {
    case SQL_LONG: {
        int64_t x;
        int r = format__text_long(c->pl, s, n, &x);
        if (r > 0) {
            set_long(out, x);
            return;
        }
        if (r == -2) {
            char v[80];
            snip(s, n, v);
            format__warn(c, "input field '%s': %s is out of the range of a long; stored as NULL",
                         f->name, v);
        } else if (r < 0) {
            warn_value(c, f, type, "text", s, n);
        }
        set_null(out, type);
        return;
    }
    case SQL_DOUBLE:
    case SQL_FLOAT: {
        struct num_text t;
        int r = scan_number(s, n, &t);
        if (r > 0)
            put_double(c, f, type, num_value(c->pl, &t), s, n, out);
        else {
            if (r < 0)
                warn_value(c, f, type, "text", s, n);
            set_null(out, type);
        }
        return;
    }
    case SQL_JSON: put_json_string(c, s, n, out); return;
    default: {
        const char *k = copy ? format__keep(c, s, n) : s;
        if (k)
            set_str(out, k, n);
        else
            set_null(out, SQL_STRING);
        return;
    }
    }
}

/* A one-element array around a scalar (a scalar met in an ARRAY field). */
static struct sql_value *one_element(struct format__ctx *c, struct sql_value *out)
{
    struct sql_value *item = arena_alloc(c->mem, sizeof *item);
    if (!item) {
        nomem(c);
        set_null(out, SQL_ARRAY);
        return NULL;
    }
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = item;
    out->v.a.n = 1;
    return item;
}

void format__put_text(struct format__ctx *c, uint32_t field, const char *s, size_t n, bool copy,
                      struct sql_value *out)
{
    const struct format_field *f = &c->p->schema.fields[field];
    if (f->type == SQL_ARRAY) {
        struct sql_value *item = one_element(c, out);
        if (item)
            text_scalar(c, f, f->elem_type, s, n, copy, item);
        return;
    }
    text_scalar(c, f, f->type, s, n, copy, out);
}

void format__put_text_lossy(struct format__ctx *c, uint32_t field, const char *s, size_t n,
                            struct sql_value *out)
{
    size_t ok = format__utf8_valid(s, n);
    if (ok == n) {
        format__put_text(c, field, s, n, false, out);
        return;
    }
    /* Each invalid byte becomes U+FFFD (3 bytes), as Java's decoder does. */
    char *d = arena_alloc(c->mem, n * 3);
    if (!d) {
        nomem(c);
        set_null(out, c->p->schema.fields[field].type);
        return;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        size_t k = format__utf8_valid(s + i, n - i);
        memcpy(d + o, s + i, k);
        o += k;
        i += k;
        if (i < n) {
            memcpy(d + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    format__warn(c, "input field '%s': invalid UTF-8 at byte %zu replaced by U+FFFD",
                 c->p->schema.fields[field].name, ok);
    format__put_text(c, field, d, o, false, out);
}

void format__put_long(struct format__ctx *c, uint32_t field, int64_t x, struct sql_value *out)
{
    const struct format_field *f = &c->p->schema.fields[field];
    uint8_t type = f->type;
    if (type == SQL_ARRAY) {
        out = one_element(c, out);
        if (!out)
            return;
        type = f->elem_type;
    }
    switch (type) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
        out->type = type;
        out->is_null = false;
        out->v.l = x;
        return;
    case SQL_DOUBLE:
    case SQL_FLOAT: put_double(c, f, type, (double)x, "", 0, out); return;
    default: {
        /* STRING and JSON alike: the decimal digits. */
        char *d = arena_printf(c->mem, "%" PRId64, x);
        if (!d) {
            nomem(c);
            set_null(out, type);
            return;
        }
        out->type = type == SQL_JSON ? SQL_JSON : SQL_STRING;
        out->is_null = false;
        out->v.s.p = d;
        out->v.s.n = (uint32_t)strlen(d);
        return;
    }
    }
}

/* A JSON scalar or container into a scalar slot of `type`. */
static void json_scalar(struct format__ctx *c, const struct format_field *f, uint8_t type,
                        const struct format_json_value *v, struct sql_value *out)
{
    if (v->kind == FORMAT_JSON_KIND_NULL) {
        set_null(out, type);
        return;
    }
    bool container = v->kind == FORMAT_JSON_KIND_OBJECT || v->kind == FORMAT_JSON_KIND_ARRAY;
    bool boolean = v->kind == FORMAT_JSON_KIND_TRUE || v->kind == FORMAT_JSON_KIND_FALSE;
    switch (type) {
    case SQL_LONG:
        if (v->kind == FORMAT_JSON_KIND_NUMBER) {
            int64_t x;
            if (v->num_flags & FORMAT_JSON_NUM_INT)
                set_long(out, v->i);
            else if (double_to_long(v->d, &x))
                set_long(out, x);
            else {
                char s[80];
                snip(v->raw, v->raw_len, s);
                format__warn(c,
                             "input field '%s': %s is out of the range of a long; stored as "
                             "NULL",
                             f->name, s);
                set_null(out, type);
            }
        } else if (v->kind == FORMAT_JSON_KIND_STRING) {
            text_scalar(c, f, type, v->str, v->str_len, false, out);
        } else if (boolean) {
            set_long(out, v->kind == FORMAT_JSON_KIND_TRUE);
        } else {
            warn_value(c, f, type, v->kind == FORMAT_JSON_KIND_OBJECT ? "object" : "array", v->raw,
                       v->raw_len);
            set_null(out, type);
        }
        return;
    case SQL_DOUBLE:
    case SQL_FLOAT:
        if (v->kind == FORMAT_JSON_KIND_NUMBER)
            put_double(c, f, type, v->d, v->raw, v->raw_len, out);
        else if (v->kind == FORMAT_JSON_KIND_STRING)
            text_scalar(c, f, type, v->str, v->str_len, false, out);
        else if (boolean)
            put_double(c, f, type, v->kind == FORMAT_JSON_KIND_TRUE ? 1.0 : 0.0, "", 0, out);
        else {
            warn_value(c, f, type, v->kind == FORMAT_JSON_KIND_OBJECT ? "object" : "array", v->raw,
                       v->raw_len);
            set_null(out, type);
        }
        return;
    case SQL_JSON:
        out->type = SQL_JSON;
        out->is_null = false;
        out->v.s.p = v->raw; /* raw text always lies in the input */
        out->v.s.n = (uint32_t)v->raw_len;
        return;
    default:
        if (v->kind == FORMAT_JSON_KIND_STRING) {
            const char *k = format__keep(c, v->str, v->str_len);
            if (k)
                set_str(out, k, v->str_len);
            else
                set_null(out, SQL_STRING);
        } else if (boolean) {
            set_str(out, v->kind == FORMAT_JSON_KIND_TRUE ? "true" : "false",
                    v->kind == FORMAT_JSON_KIND_TRUE ? 4 : 5);
        } else {
            (void)container; /* numbers as written, containers as their JSON text */
            set_str(out, v->raw, v->raw_len);
        }
        return;
    }
}

/* A JSON array (or a scalar, as one element) into an ARRAY slot. */
static void json_array(struct format__ctx *c, const struct format_field *f,
                       const struct format_json_value *v, struct sql_value *out)
{
    if (v->kind != FORMAT_JSON_KIND_ARRAY) {
        struct sql_value *item = one_element(c, out);
        if (item)
            json_scalar(c, f, f->elem_type, v, item);
        return;
    }
    struct format_parser *p = c->p;
    struct lerr e;
    lerr_init(&e);
    struct format_json_iter it;
    struct format_json_member m;
    uint32_t n = 0;
    if (format_json_iter_init_span(&it, v->raw, v->raw_len, p->run.scratch2, p->run.scratch_cap,
                                   &e) == 0)
        while (format_json_iter_next(&it, &m, &e) > 0)
            n++;
    struct sql_value *items = arena_alloc(c->mem, (n ? n : 1) * sizeof *items);
    if (!items) {
        nomem(c);
        set_null(out, SQL_ARRAY);
        return;
    }
    uint32_t k = 0;
    if (format_json_iter_init_span(&it, v->raw, v->raw_len, p->run.scratch2, p->run.scratch_cap,
                                   &e) == 0)
        while (k < n && format_json_iter_next(&it, &m, &e) > 0)
            json_scalar(c, f, f->elem_type, &m.v, &items[k++]);
    out->type = SQL_ARRAY;
    out->is_null = false;
    out->v.a.items = items;
    out->v.a.n = k;
}

void format__put_json(struct format__ctx *c, uint32_t field, const struct format_json_value *v,
                      struct sql_value *out)
{
    const struct format_field *f = &c->p->schema.fields[field];
    if (f->type == SQL_ARRAY) {
        if (v->kind == FORMAT_JSON_KIND_NULL)
            set_null(out, SQL_ARRAY);
        else
            json_array(c, f, v, out);
        return;
    }
    json_scalar(c, f, f->type, v, out);
}
