/*
 * value.c — the value type: names of types, Druid's CAST rules between
 * them, printing (numbers as Java prints them, since Druid's results and
 * string conversions do), the total order used by sorting and grouping, and
 * hashing. Also the run-time error and allocation helpers of evaluation.
 *
 * sql_value_cast dispatches on the target type to one helper each, as
 * SQLite's sqlite3VdbeMemCast delegates to sqlite3VdbeMemIntegerify and
 * ...Realify: cast_to_integer (LONG, TIMESTAMP, BOOLEAN), cast_to_real
 * (DOUBLE, FLOAT), cast_to_string, json_text (JSON, and arrays as STRING),
 * cast_to_array.
 *
 * Sketch values are their DataSketches bytes; as text (results, CAST to
 * VARCHAR) they are base64, and CAST of text to a sketch type reads base64.
 *
 * Entry points: sql_type_*(), sql_value_cast(), sql_value_to_text(),
 * sql_base64_encode(), sql_base64_decode(),
 * sql_value_compare(), sql_value_equal(), sql_value_hash(), sql_fmt_double(),
 * sql_parse_number(), sql_json_append_value(), sql_rt_error(), sql_alloc().
 */
#include "sql/sql_int.h"
#include "util/num.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_sql_names[] = {
#define SQL_TYPE_SQLNAME(e, sqlname, name) sqlname,
    SQL_TYPE_MAP(SQL_TYPE_SQLNAME)
#undef SQL_TYPE_SQLNAME
};
static const char *const type_names[] = {
#define SQL_TYPE_NAME(e, sqlname, name) name,
    SQL_TYPE_MAP(SQL_TYPE_NAME)
#undef SQL_TYPE_NAME
};

const char *sql_type_sql_name(int type)
{
    return type >= 0 && type < SQL__TYPE_COUNT ? type_sql_names[type] : "?";
}

const char *sql_type_name(int type)
{
    return type >= 0 && type < SQL__TYPE_COUNT ? type_names[type] : "?";
}

bool sql_type_is_sketch(int t)
{
    return t == SQL_HLL_SKETCH || t == SQL_THETA_SKETCH || t == SQL_QUANTILES_SKETCH;
}

int sql_type_from_name(const char *s, size_t n)
{
    for (int t = SQL_STRING; t < SQL__TYPE_COUNT; t++) {
        if (t == SQL_INTERVAL || sql_type_is_sketch(t))
            continue;
        if (strlen(type_names[t]) == n && strncasecmp(type_names[t], s, n) == 0)
            return t;
    }
    return -1;
}

static bool is_space(char c);

/* ---- base64: how sketches are shown and how pre-built ones arrive --------------- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool sql_base64_encode(const void *p, size_t n, struct buf *out)
{
    const unsigned char *s = p;
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        q[0] = b64_chars[v >> 18];
        q[1] = b64_chars[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64_chars[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? b64_chars[v & 63] : '=';
        buf_append(out, q, 4);
    }
    return !out->failed;
}

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

long sql_base64_decode(const char *p, size_t n, unsigned char *out)
{
    while (n && is_space(p[0]))
        p++, n--;
    while (n && is_space(p[n - 1]))
        n--;
    while (n && p[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    long o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int d = b64_digit((unsigned char)p[i]);
        if (d < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

/* ---- run-time helpers ------------------------------------------------------- */

void sql_rt_error(struct sql_ectx *c, const char *fmt, ...)
{
    if (c->rc)
        return;
    c->rc = LERR_INVALID;
    if (c->err && c->err->code == LERR_OK) {
        va_list ap;
        va_start(ap, fmt);
        lerr_setv(c->err, LERR_INVALID, fmt, ap);
        va_end(ap);
    }
}

char *sql_alloc(struct sql_ectx *c, size_t n)
{
    char *p = c->mem ? arena_alloc(c->mem, n ? n : 1) : NULL;
    if (!p) {
        if (!c->rc) {
            c->rc = LERR_NOMEM;
            if (c->err)
                lerr_set(c->err, LERR_NOMEM,
                         "out of memory evaluating an expression (result too large)");
        }
    }
    return p;
}

/* ---- numbers as text ----------------------------------------------------------- */

size_t sql_fmt_double(double d, bool is_float, char *out)
{
    if (isnan(d))
        return (size_t)sprintf(out, "NaN");
    if (isinf(d))
        return (size_t)sprintf(out, d > 0 ? "Infinity" : "-Infinity");
    if (d == 0)
        return (size_t)sprintf(out, signbit(d) ? "-0.0" : "0.0");
    /* shortest digits that read back as the same value */
    char digits[24];
    int exp10;
    bool neg;
    int nd = util_shortest_digits(d, is_float, digits, &exp10, &neg);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char *o = out;
    if (neg)
        *o++ = '-';
    double ad = fabs(d);
    if (ad >= 1e-3 && ad < 1e7) {
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++)
                *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > exp10 + 1) {
                for (int i = exp10 + 1; i < nd; i++)
                    *o++ = digits[i];
            } else {
                *o++ = '0';
            }
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -exp10 - 1; i++)
                *o++ = '0';
            for (int i = 0; i < nd; i++)
                *o++ = digits[i];
        }
    } else {
        *o++ = digits[0];
        *o++ = '.';
        if (nd > 1)
            for (int i = 1; i < nd; i++)
                *o++ = digits[i];
        else
            *o++ = '0';
        o += sprintf(o, "E%d", exp10);
    }
    *o = '\0';
    return (size_t)(o - out);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int sql_parse_number(const char *p, size_t n, int64_t *l, double *d)
{
    /* Java's Long.parseLong does not trim; Double.parseDouble does. */
    if (n == 0 || n > 400)
        return 0;
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-' || p[0] == '+') {
        neg = p[0] == '-';
        i = 1;
    }
    if (i < n) {
        uint64_t v = 0;
        size_t j = i;
        bool over = false;
        for (; j < n && p[j] >= '0' && p[j] <= '9'; j++) {
            unsigned dg = (unsigned)(p[j] - '0');
            if (v > (UINT64_MAX - dg) / 10)
                over = true;
            else
                v = v * 10 + dg;
        }
        if (j == n && j > i && !over) {
            if (!neg && v <= (uint64_t)INT64_MAX) {
                *l = (int64_t)v;
                return 1;
            }
            if (neg && v <= (uint64_t)INT64_MAX + 1) {
                *l = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
                return 1;
            }
        }
    }
    /* double: trim blanks, Java spellings of the specials */
    size_t a = 0, b = n;
    while (a < b && is_space(p[a]))
        a++;
    while (b > a && is_space(p[b - 1]))
        b--;
    if (a == b)
        return 0;
    char buf[410];
    memcpy(buf, p + a, b - a);
    buf[b - a] = '\0';
    const char *s = buf;
    if (*s == '+' || *s == '-')
        s++;
    if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0) {
        *d = strcmp(s, "NaN") == 0 ? NAN : (buf[0] == '-' ? -INFINITY : INFINITY);
        return 2;
    }
    /* reject C-only spellings: hex, inf, nan */
    for (const char *q = s; *q; q++) {
        char c = *q;
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
            return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end != '\0' || end == buf)
        return 0;
    *d = v;
    return 2;
}

bool sql_value_truthy(const struct sql_value *v)
{
    switch (v->type) {
    case SQL_LONG:
    case SQL_BOOLEAN:
    case SQL_TIMESTAMP: return v->v.l != 0;
    case SQL_DOUBLE:
    case SQL_FLOAT: return v->v.d != 0;
    case SQL_STRING: {
        if (v->v.s.n == 4 && strncasecmp(v->v.s.p, "true", 4) == 0)
            return true;
        int64_t l;
        double d;
        int k = sql_parse_number(v->v.s.p, v->v.s.n, &l, &d);
        return k == 1 ? l != 0 : k == 2 ? d != 0 : false;
    }
    default: return false;
    }
}

/* ---- JSON text of a value ------------------------------------------------------ */

static bool append_compact(struct buf *b, const char *p, size_t n)
{
    const char *e = p + n;
    while (p < e) {
        if (*p == '"') {
            const char *q = sql_json_scan_string(p, e, NULL);
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
    case SQL_TIMESTAMP: return buf_printf(b, "%lld", (long long)v->v.l);
    case SQL_BOOLEAN: return buf_puts(b, v->v.l ? "true" : "false");
    case SQL_DOUBLE:
    case SQL_FLOAT:
        if (v->v.d != v->v.d || v->v.d - v->v.d != 0)
            return buf_puts(b, "null");
        sql_fmt_double(v->v.d, v->type == SQL_FLOAT, tmp);
        return buf_puts(b, tmp);
    case SQL_JSON: return append_compact(b, v->v.s.p, v->v.s.n);
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
    case SQL_HLL_SKETCH:
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH:
        buf_putc(b, '"');
        sql_base64_encode(v->v.s.p, v->v.s.n, b);
        return buf_putc(b, '"');
    default: return buf_puts(b, "null");
    }
}

/* ---- casts ------------------------------------------------------------------ */

static int64_t double_to_long(double d)
{
    /* Java (long) cast: NaN → 0, saturating */
    if (isnan(d))
        return 0;
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d;
}

/* "2000-01-02 03:04:05" (with ".SSS" when there are millis), as Druid's
 * CAST(timestamp AS VARCHAR) prints. */
static size_t fmt_sql_timestamp(int64_t ms, char *out)
{
    struct civil c;
    civil_from_ms(ms, &c);
    int n = snprintf(out, 48, "%04d-%02d-%02d %02d:%02d:%02d", (int)c.year, (int)c.month,
                     (int)c.day, (int)c.hour, (int)c.minute, (int)c.second);
    if (c.millis)
        n += snprintf(out + n, 48 - (size_t)n, ".%03d", (int)c.millis);
    return (size_t)n;
}

static struct sql_value text_value(const char *s, size_t n, struct arena *mem)
{
    char *p = mem ? arena_alloc(mem, n ? n : 1) : NULL;
    if (!p)
        return sql_null(SQL_STRING);
    memcpy(p, s, n);
    return sql_string(p, n);
}

/* x (any type but NULL) as JSON text, typed `type` (STRING or JSON): NULL
 * when the text passes 1 MiB or mem is NULL or full. */
static struct sql_value json_text(const struct sql_value *x, int type, struct arena *mem)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    sql_json_append_value(&b, x);
    struct sql_value v = b.failed ? sql_null(type) : text_value(b.data ? b.data : "", b.len, mem);
    buf_free(&b);
    v.type = (uint8_t)type;
    return v;
}

/* The text of a JSON string literal p[0..len) (quotes included, len >= 2),
 * unescaped into mem; NULL when mem is NULL or full. */
static struct sql_value json_string_text(const char *p, size_t len, struct arena *mem)
{
    char *o = mem ? arena_alloc(mem, len) : NULL;
    if (!o)
        return sql_null(SQL_STRING);
    size_t k = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        char ch = p[i];
        if (ch == '\\' && i + 2 < len) {
            ch = p[++i];
            switch (ch) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': {
                unsigned cp = 0;
                if (i + 4 < len) {
                    for (int j = 1; j <= 4; j++) {
                        char h = p[i + (size_t)j];
                        cp = cp * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                    }
                    i += 4;
                }
                if (cp < 0x80) {
                    ch = (char)cp;
                } else if (cp < 0x800) {
                    o[k++] = (char)(0xC0 | (cp >> 6));
                    ch = (char)(0x80 | (cp & 0x3F));
                } else {
                    o[k++] = (char)(0xE0 | (cp >> 12));
                    o[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    ch = (char)(0x80 | (cp & 0x3F));
                }
                break;
            }
            default: break;
            }
        }
        o[k++] = ch;
    }
    return sql_string(o, k);
}

/* To LONG, TIMESTAMP or BOOLEAN (as SQLite's sqlite3VdbeMemIntegerify). */
static struct sql_value cast_to_integer(const struct sql_value *x, int type)
{
    struct sql_value r = {.type = (uint8_t)type};
    int from = x->type;
    switch (from) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
    case SQL_BOOLEAN: r.v.l = x->v.l; break;
    case SQL_DOUBLE:
    case SQL_FLOAT: r.v.l = double_to_long(x->v.d); break;
    case SQL_STRING:
    case SQL_JSON: {
        const char *p = x->v.s.p;
        size_t n = x->v.s.n;
        if (from == SQL_JSON && n >= 2 && p[0] == '"')
            return sql_null(type); /* a JSON string is not a number */
        if (type == SQL_TIMESTAMP) {
            int64_t ms;
            if (time_parse_iso(p, n, NULL, &ms)) {
                r.v.l = ms;
                break;
            }
        }
        if (type == SQL_BOOLEAN) {
            r.v.l = sql_value_truthy(x);
            return r;
        }
        int64_t l;
        double d;
        int k = sql_parse_number(p, n, &l, &d);
        if (k == 1)
            r.v.l = l;
        else if (k == 2)
            r.v.l = double_to_long(d);
        else
            return sql_null(type);
        break;
    }
    default: return sql_null(type);
    }
    if (type == SQL_BOOLEAN)
        r.v.l = r.v.l != 0;
    return r;
}

/* To DOUBLE or FLOAT (as sqlite3VdbeMemRealify). */
static struct sql_value cast_to_real(const struct sql_value *x, int type)
{
    struct sql_value r = {.type = (uint8_t)type};
    int from = x->type;
    switch (from) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
    case SQL_BOOLEAN: r.v.d = (double)x->v.l; break;
    case SQL_DOUBLE:
    case SQL_FLOAT: r.v.d = x->v.d; break;
    case SQL_STRING:
    case SQL_JSON: {
        if (from == SQL_JSON && x->v.s.n >= 2 && x->v.s.p[0] == '"')
            return sql_null(type);
        int64_t l;
        double d;
        int k = sql_parse_number(x->v.s.p, x->v.s.n, &l, &d);
        if (k == 1)
            r.v.d = (double)l;
        else if (k == 2)
            r.v.d = d;
        else
            return sql_null(type);
        break;
    }
    default: return sql_null(type);
    }
    if (type == SQL_FLOAT)
        r.v.d = (double)(float)r.v.d;
    return r;
}

/* To STRING: numbers and times as their SQL text, JSON strings unescaped,
 * arrays as JSON text. */
static struct sql_value cast_to_string(const struct sql_value *x, struct arena *mem)
{
    int from = x->type;
    char tmp[64];
    size_t n;
    switch (from) {
    case SQL_LONG: n = (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, x->v.l); break;
    case SQL_BOOLEAN:
        n = (size_t)snprintf(tmp, sizeof tmp, "%s", x->v.l ? "true" : "false");
        break;
    case SQL_TIMESTAMP: n = fmt_sql_timestamp(x->v.l, tmp); break;
    case SQL_DOUBLE:
    case SQL_FLOAT: n = sql_fmt_double(x->v.d, from == SQL_FLOAT, tmp); break;
    case SQL_JSON: {
        /* a JSON string becomes its text; other JSON stays JSON text */
        const char *p = x->v.s.p;
        size_t len = x->v.s.n;
        if (len >= 2 && p[0] == '"')
            return json_string_text(p, len, mem);
        if (len == 4 && memcmp(p, "null", 4) == 0)
            return sql_null(SQL_STRING);
        return sql_string(p, len);
    }
    case SQL_ARRAY: return json_text(x, SQL_STRING, mem);
    case SQL_HLL_SKETCH:
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH: {
        /* a sketch as text is its base64, as Druid shows it */
        struct buf b;
        buf_init(&b, 0);
        sql_base64_encode(x->v.s.p, x->v.s.n, &b);
        struct sql_value r = b.failed ? sql_null(SQL_STRING) : text_value(b.data, b.len, mem);
        buf_free(&b);
        return r;
    }
    default: return sql_null(SQL_STRING);
    }
    return text_value(tmp, n, mem);
}

/* To a sketch type: text is read as base64 (a pre-built sketch, as Druid
 * ingests them); the bytes are checked by whoever reads the sketch. NULL
 * for text that is not base64 and for other types. */
static struct sql_value cast_to_sketch(const struct sql_value *x, int type, struct arena *mem)
{
    if (x->type != SQL_STRING || !mem)
        return sql_null(type);
    unsigned char *p = arena_alloc(mem, x->v.s.n / 4 * 3 + 3);
    long n = p ? sql_base64_decode(x->v.s.p, x->v.s.n, p) : -1;
    if (n <= 0)
        return sql_null(type);
    struct sql_value r = {.type = (uint8_t)type, .v.s = {(const char *)p, (uint32_t)n}};
    return r;
}

/* To ARRAY: a scalar becomes a one-element array. */
static struct sql_value cast_to_array(const struct sql_value *x, struct arena *mem)
{
    struct sql_value r = {.type = SQL_ARRAY};
    struct sql_value *it = mem ? arena_alloc(mem, sizeof *it) : NULL;
    if (!it)
        return sql_null(SQL_ARRAY);
    *it = *x;
    r.v.a.items = it;
    r.v.a.n = 1;
    return r;
}

struct sql_value sql_value_cast(const struct sql_value *x, int type, struct arena *mem)
{
    if (x->is_null)
        return sql_null(type);
    if (x->type == type)
        return *x;
    switch (type) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
    case SQL_BOOLEAN: return cast_to_integer(x, type);
    case SQL_DOUBLE:
    case SQL_FLOAT: return cast_to_real(x, type);
    case SQL_STRING: return cast_to_string(x, mem);
    case SQL_JSON:
        /* CAST('x' AS JSON) is the string as a JSON string value */
        return json_text(x, SQL_JSON, mem);
    case SQL_ARRAY: return cast_to_array(x, mem);
    case SQL_HLL_SKETCH:
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH: return cast_to_sketch(x, type, mem);
    default: return sql_null(type);
    }
}

/* ---- text for results ---------------------------------------------------------- */

bool sql_value_to_text(const struct sql_value *x, struct buf *out, bool null_text)
{
    if (x->is_null)
        return null_text ? buf_puts(out, "null") : !out->failed;
    char tmp[64];
    switch (x->type) {
    case SQL_LONG: return buf_printf(out, "%" PRId64, x->v.l);
    case SQL_BOOLEAN: return buf_puts(out, x->v.l ? "true" : "false");
    case SQL_DOUBLE:
    case SQL_FLOAT: sql_fmt_double(x->v.d, x->type == SQL_FLOAT, tmp); return buf_puts(out, tmp);
    case SQL_TIMESTAMP: util_format_iso_ms(x->v.l, tmp); return buf_puts(out, tmp);
    case SQL_STRING:
    case SQL_JSON: return buf_append(out, x->v.s.p, x->v.s.n);
    case SQL_ARRAY: return sql_json_append_value(out, x);
    case SQL_INTERVAL: return buf_printf(out, "%" PRId64, x->v.l);
    case SQL_HLL_SKETCH:
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH: return sql_base64_encode(x->v.s.p, x->v.s.n, out);
    default: return buf_puts(out, "null");
    }
}

/* ---- order, equality, hashing ------------------------------------------------- */

static int vclass(int t)
{
    switch (t) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
    case SQL_BOOLEAN: return 1;
    case SQL_DOUBLE:
    case SQL_FLOAT: return 2;
    case SQL_STRING:
    case SQL_JSON:
    case SQL_HLL_SKETCH: /* sketches order and group by their bytes */
    case SQL_THETA_SKETCH:
    case SQL_QUANTILES_SKETCH: return 3;
    case SQL_ARRAY: return 4;
    default: return 5;
    }
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

int sql_value_compare(const struct sql_value *a, const struct sql_value *b)
{
    if (a->is_null || b->is_null)
        return a->is_null ? (b->is_null ? 0 : -1) : 1;
    int ca = vclass(a->type), cb = vclass(b->type);
    if (ca == 1 && cb == 1)
        return a->v.l < b->v.l ? -1 : a->v.l > b->v.l;
    if (ca <= 2 && cb <= 2) {
        double x = ca == 1 ? (double)a->v.l : a->v.d;
        double y = cb == 1 ? (double)b->v.l : b->v.d;
        if (x < y)
            return -1;
        if (x > y)
            return 1;
        if (isnan(x) || isnan(y)) /* NaN sorts last, equal to itself */
            return isnan(x) ? (isnan(y) ? 0 : 1) : -1;
        return 0;
    }
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (ca == 3)
        return cmp_bytes(a->v.s.p, a->v.s.n, b->v.s.p, b->v.s.n);
    if (ca == 4) {
        uint32_t n = a->v.a.n < b->v.a.n ? a->v.a.n : b->v.a.n;
        for (uint32_t i = 0; i < n; i++) {
            int c = sql_value_compare(&a->v.a.items[i], &b->v.a.items[i]);
            if (c)
                return c;
        }
        return a->v.a.n < b->v.a.n ? -1 : a->v.a.n > b->v.a.n;
    }
    return 0;
}

bool sql_value_equal(const struct sql_value *a, const struct sql_value *b)
{
    return sql_value_compare(a, b) == 0;
}

uint64_t sql_value_hash(const struct sql_value *a)
{
    if (a->is_null)
        return 0x9e3779b97f4a7c15ULL;
    switch (vclass(a->type)) {
    case 1: return util_mix64((uint64_t)a->v.l);
    case 2: {
        double d = a->v.d;
        /* integral doubles hash like the equal long */
        if (d == d && d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d)
            return util_mix64((uint64_t)(int64_t)d);
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        return util_mix64(u ^ 0x5555);
    }
    case 3: {
        uint64_t h = 1469598103934665603ULL;
        for (uint32_t i = 0; i < a->v.s.n; i++) {
            h ^= (unsigned char)a->v.s.p[i];
            h *= 1099511628211ULL;
        }
        return util_mix64(h);
    }
    case 4: {
        uint64_t h = 7;
        for (uint32_t i = 0; i < a->v.a.n; i++)
            h = util_mix64(h * 31 + sql_value_hash(&a->v.a.items[i]));
        return h;
    }
    default: return 1;
    }
}
