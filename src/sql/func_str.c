/*
 * func_str.c — string functions: CONCAT and ||, UPPER/LOWER, LENGTH,
 * REVERSE, TRIM family, SUBSTRING/LEFT/RIGHT/REPEAT, REPLACE, LPAD/RPAD,
 * STRPOS, CONTAINS_STRING, PARSE_LONG and the REGEXP_* functions.
 *
 * Druid rules: CONCAT and || give NULL if any argument is NULL (SQL-
 * compatible mode); positions and lengths (SUBSTRING, LENGTH, STRPOS) count
 * UTF-16 code units as Java does, 1-based; UPPER/LOWER are locale-neutral.
 * Regular expressions are Java syntax in Druid; here they compile once (the
 * pattern must be a literal, as Druid requires) to POSIX extended regexes
 * after translating the common Java escapes (\d \w \s and their negations,
 * (?i)); a pattern outside that subset is refused at compile time.
 * Results that need new bytes come from the batch arena; results that are a
 * piece of the input (TRIM, SUBSTRING, unchanged UPPER) point into it.
 *
 * Entry points: the sql_bind_* binders for these functions (SQL_FUNC_MAP);
 * sql_regex_compile() (STRING_TO_ARRAY's delimiter, func_array.c).
 */
#include "sql/sql_int.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL(name) \
    static void name(const struct sql_node *n, struct sql_ectx *c, struct sql_value *out)

#define MAX_RESULT (16u << 20) /* cap on one string result (REPEAT, LPAD, CONCAT) */

static void str_result_null(const struct sql_node *n, struct sql_value *out)
{
    *out = sql_null(n->type);
}

/* ---- UTF-8 helpers ------------------------------------------------------------------ */

/* Decodes one code point at p (bounded by e); returns its byte length (>= 1). */
static size_t u8_decode(const char *p, const char *e, uint32_t *cp)
{
    unsigned char c0 = (unsigned char)p[0];
    if (c0 < 0x80 || p + 1 >= e) {
        *cp = c0;
        return 1;
    }
    if ((c0 & 0xE0) == 0xC0) {
        *cp = ((uint32_t)(c0 & 0x1F) << 6) | ((unsigned char)p[1] & 0x3F);
        return 2;
    }
    if ((c0 & 0xF0) == 0xE0 && p + 2 < e) {
        *cp = ((uint32_t)(c0 & 0x0F) << 12) | ((uint32_t)((unsigned char)p[1] & 0x3F) << 6) |
              ((unsigned char)p[2] & 0x3F);
        return 3;
    }
    if ((c0 & 0xF8) == 0xF0 && p + 3 < e) {
        *cp = ((uint32_t)(c0 & 0x07) << 18) | ((uint32_t)((unsigned char)p[1] & 0x3F) << 12) |
              ((uint32_t)((unsigned char)p[2] & 0x3F) << 6) | ((unsigned char)p[3] & 0x3F);
        return 4;
    }
    *cp = c0;
    return 1;
}

/* UTF-16 units of the code point starting with this byte. */
static int u16_units(unsigned char c0) { return (c0 & 0xF8) == 0xF0 ? 2 : 1; }

static size_t u8_step(const char *p, const char *e)
{
    uint32_t cp;
    return u8_decode(p, e, &cp);
}

/* Byte offset of UTF-16 unit position `units` (0-based), clamped to n. */
static size_t byte_at_unit(const char *s, size_t n, int64_t units)
{
    size_t i = 0;
    /* ASCII prefix: a byte is a unit */
    while (i < n && (int64_t)i < units && (unsigned char)s[i] < 0x80)
        i++;
    if ((int64_t)i == units || i == n)
        return i;
    units -= (int64_t)i;
    s += i;
    n -= i;
    size_t base = i;
    i = 0;
    int64_t u = 0;
    while (i < n && u < units) {
        u += u16_units((unsigned char)s[i]);
        i += u8_step(s + i, s + n);
    }
    return base + (i > n ? n : i);
}

/* UTF-16 length: one unit per character (every byte that is not a
 * continuation byte), two for 4-byte sequences; a branch-free loop. */
static int64_t unit_length(const char *s, size_t n)
{
    int64_t u = 0;
    size_t i = 0;
    /* 8 bytes at a time: count the bytes that do not continue a character
     * (10xxxxxx), plus one more unit for each 4-byte lead (11110xxx) */
    const uint64_t hi = 0x8080808080808080ULL;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = util_load_u64(s + i);
        uint64_t cont = w & ~(w << 1) & hi;
        uint64_t four = w & (w << 1) & (w << 2) & (w << 3) & hi;
        /* each byte of x >> 7 is 0 or 1: one multiply adds them up */
        const uint64_t ones = 0x0101010101010101ULL;
        u += 8 - (int64_t)(((cont >> 7) * ones) >> 56) + (int64_t)(((four >> 7) * ones) >> 56);
    }
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        u += ((ch & 0xC0) != 0x80) + (ch >= 0xF0);
    }
    return u;
}

static size_t u8_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Case mapping for ASCII, Latin-1, Latin Extended-A pairs, Greek and
 * Cyrillic: what real data carries; other scripts pass through. */
static uint32_t case_map(uint32_t cp, bool upper)
{
    if (upper) {
        if (cp >= 'a' && cp <= 'z')
            return cp - 32;
        if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7))
            return cp - 32;
        if (cp == 0xFF)
            return 0x178;
        if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x131 && cp != 0x138 &&
            cp != 0x149 && cp != 0x17F) {
            bool odd_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
            if (odd_lower ? (cp % 2 == 0) : (cp % 2 == 1))
                return cp - 1;
            return cp;
        }
        if (cp >= 0x3B1 && cp <= 0x3C9 && cp != 0x3C2)
            return cp - 32;
        if (cp >= 0x430 && cp <= 0x44F)
            return cp - 32;
        if (cp >= 0x450 && cp <= 0x45F)
            return cp - 80;
        return cp;
    }
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 32;
    if (cp == 0x178)
        return 0xFF;
    if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x131 && cp != 0x138 && cp != 0x149 &&
        cp != 0x17F) {
        bool odd_lower = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
        if (odd_lower ? (cp % 2 == 1) : (cp % 2 == 0))
            return cp + 1;
        return cp;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 80;
    return cp;
}

/* ---- CONCAT ----------------------------------------------------------------------------- */

EVAL(concat_fn)
{
    struct sql_value inl[8];
    struct sql_value *v = inl;
    if (n->nargs > (int)LS_ARRAY_LEN(inl)) {
        v = (struct sql_value *)sql_alloc(c, sizeof *v * n->nargs);
        if (!v) {
            str_result_null(n, out);
            return;
        }
    }
    size_t total = 0;
    for (int i = 0; i < n->nargs; i++) {
        sql_eval_arg(n->args[i], c, &v[i]);
        if (v[i].is_null) {
            str_result_null(n, out);
            return;
        }
        total += v[i].v.s.n;
    }
    if (total > MAX_RESULT) {
        sql_rt_error(c, "CONCAT result longer than %u bytes", MAX_RESULT);
        str_result_null(n, out);
        return;
    }
    char *p = sql_alloc(c, total);
    if (!p) {
        str_result_null(n, out);
        return;
    }
    size_t k = 0;
    for (int i = 0; i < n->nargs; i++) {
        if (v[i].v.s.n)
            memcpy(p + k, v[i].v.s.p, v[i].v.s.n);
        k += v[i].v.s.n;
    }
    sql_set_str(out, SQL_STRING, p, total);
}

int sql_bind_concat(struct sql_bctx *b, struct sql_node *n)
{
    for (int i = 0; i < n->nargs; i++)
        if (sql_arg_check(b, n, i, SQL_STRING))
            return LERR_INVALID;
    n->type = SQL_STRING;
    n->fn = concat_fn;
    return 0;
}

/* ---- one-string functions ------------------------------------------------------------- */

EVAL(case_fn)
{
    SQL_ARG(0, s);
    bool upper = n->ival == 0;
    const char *p = s.v.s.p;
    size_t len = s.v.s.n, i = 0;
    /* find the first byte that changes; most values are already in case */
    for (; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x80)
            break;
        if (upper ? (ch >= 'a' && ch <= 'z') : (ch >= 'A' && ch <= 'Z'))
            break;
    }
    if (i == len) {
        *out = s;
        return;
    }
    /* mapped characters never grow past 2 bytes more per character */
    char *o = sql_alloc(c, len * 2 + 4);
    if (!o) {
        str_result_null(n, out);
        return;
    }
    memcpy(o, p, i);
    size_t k = i;
    const char *e = p + len;
    while (i < len) {
        unsigned char ch = (unsigned char)p[i];
        if (ch < 0x80) {
            o[k++] = (char)(upper ? (ch >= 'a' && ch <= 'z' ? ch - 32 : ch)
                                  : (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch));
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = u8_decode(p + i, e, &cp);
        if (l == 1) {
            o[k++] = (char)ch; /* invalid byte: keep */
        } else {
            k += u8_encode(case_map(cp, upper), o + k);
        }
        i += l;
    }
    sql_set_str(out, SQL_STRING, o, k);
}

EVAL(reverse_fn)
{
    SQL_ARG(0, s);
    char *o = sql_alloc(c, s.v.s.n);
    if (!o) {
        str_result_null(n, out);
        return;
    }
    const char *p = s.v.s.p, *e = p + s.v.s.n;
    size_t k = s.v.s.n;
    for (size_t i = 0; i < s.v.s.n;) {
        size_t l = u8_step(p + i, e);
        k -= l;
        memcpy(o + k, p + i, l);
        i += l;
    }
    sql_set_str(out, SQL_STRING, o, s.v.s.n);
}

EVAL(length_fn)
{
    SQL_ARG(0, s);
    sql_set_long(out, SQL_LONG, unit_length(s.v.s.p, s.v.s.n));
}

int sql_bind_str1(struct sql_bctx *b, struct sql_node *n)
{
    if (sql_arg_check(b, n, 0, SQL_STRING))
        return LERR_INVALID;
    int v = sql_funcs[n->func].variant;
    n->ival = v;
    n->type = v == 3 ? SQL_LONG : SQL_STRING;
    n->fn = v <= 1 ? case_fn : v == 2 ? reverse_fn : length_fn;
    return 0;
}

/* ---- TRIM ------------------------------------------------------------------------------ */

static bool in_set(const char *set, size_t sn, const char *p, size_t l)
{
    const char *e = set + sn;
    for (const char *q = set; q < e;) {
        size_t ql = u8_step(q, e);
        if (ql == l && memcmp(q, p, l) == 0)
            return true;
        q += ql;
    }
    return false;
}

EVAL(trim_fn)
{
    SQL_ARG(0, s);
    const char *set = " ";
    size_t setn = 1;
    if (n->nargs > 1) {
        SQL_ARG(1, chars);
        set = chars.v.s.p;
        setn = chars.v.s.n;
    }
    const char *p = s.v.s.p;
    size_t a = 0, e = s.v.s.n;
    if (n->ival != 2) { /* leading */
        while (a < e) {
            size_t l = u8_step(p + a, p + e);
            if (!in_set(set, setn, p + a, l))
                break;
            a += l;
        }
    }
    if (n->ival != 1) { /* trailing */
        while (e > a) {
            size_t st = e - 1;
            while (st > a && ((unsigned char)p[st] & 0xC0) == 0x80)
                st--;
            if (!in_set(set, setn, p + st, e - st))
                break;
            e = st;
        }
    }
    sql_set_str(out, SQL_STRING, p + a, e - a);
}

int sql_bind_trim(struct sql_bctx *b, struct sql_node *n)
{
    for (int i = 0; i < n->nargs; i++)
        if (sql_arg_check(b, n, i, SQL_STRING))
            return LERR_INVALID;
    n->ival = sql_funcs[n->func].variant; /* 0 both, 1 leading, 2 trailing */
    n->type = SQL_STRING;
    n->fn = trim_fn;
    return 0;
}

/* ---- SUBSTRING, LEFT, RIGHT, REPEAT -------------------------------------------------- */

EVAL(substr_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, start);
    int64_t from = start.v.l; /* 1-based, in UTF-16 units */
    int64_t to = INT64_MAX;   /* exclusive */
    if (n->nargs > 2) {
        SQL_ARG(2, len);
        if (len.v.l < 0) {
            sql_rt_error(c, "SUBSTRING length must not be negative (got %lld)",
                         (long long)len.v.l);
            str_result_null(n, out);
            return;
        }
        to = from > INT64_MAX - len.v.l ? INT64_MAX : from + len.v.l;
    }
    if (from < 1)
        from = 1;
    if (to <= from) {
        sql_set_str(out, SQL_STRING, s.v.s.p, 0);
        return;
    }
    size_t a = byte_at_unit(s.v.s.p, s.v.s.n, from - 1);
    size_t e = to == INT64_MAX ? s.v.s.n : a + byte_at_unit(s.v.s.p + a, s.v.s.n - a, to - from);
    sql_set_str(out, SQL_STRING, s.v.s.p + a, e - a);
}

EVAL(left_right_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, k);
    if (k.v.l < 0) {
        sql_rt_error(c, "%s needs a length of 0 or more (got %lld)",
                     n->ival == 1 ? "LEFT" : "RIGHT", (long long)k.v.l);
        str_result_null(n, out);
        return;
    }
    if (n->ival == 1) {
        size_t e = byte_at_unit(s.v.s.p, s.v.s.n, k.v.l);
        sql_set_str(out, SQL_STRING, s.v.s.p, e);
    } else {
        int64_t total = unit_length(s.v.s.p, s.v.s.n);
        int64_t skip = total > k.v.l ? total - k.v.l : 0;
        size_t a = byte_at_unit(s.v.s.p, s.v.s.n, skip);
        sql_set_str(out, SQL_STRING, s.v.s.p + a, s.v.s.n - a);
    }
}

EVAL(repeat_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, k);
    if (k.v.l <= 0 || s.v.s.n == 0) {
        sql_set_str(out, SQL_STRING, s.v.s.p, 0);
        return;
    }
    if ((uint64_t)k.v.l > MAX_RESULT / s.v.s.n) {
        sql_rt_error(c, "REPEAT result longer than %u bytes", MAX_RESULT);
        str_result_null(n, out);
        return;
    }
    size_t total = (size_t)k.v.l * s.v.s.n;
    char *o = sql_alloc(c, total);
    if (!o) {
        str_result_null(n, out);
        return;
    }
    /* one copy, then the copies so far doubled: log(k) memcpys */
    memcpy(o, s.v.s.p, s.v.s.n);
    for (size_t have = s.v.s.n; have < total;) {
        size_t m = have < total - have ? have : total - have;
        memcpy(o + have, o, m);
        have += m;
    }
    sql_set_str(out, SQL_STRING, o, total);
}

int sql_bind_substr(struct sql_bctx *b, struct sql_node *n)
{
    if (sql_arg_check(b, n, 0, SQL_STRING))
        return LERR_INVALID;
    for (int i = 1; i < n->nargs; i++) {
        if (sql_arg_check(b, n, i, SQL_LONG))
            return LERR_INVALID;
        sql_coerce(b, n, i, SQL_LONG);
    }
    int v = sql_funcs[n->func].variant;
    n->ival = v;
    n->type = SQL_STRING;
    n->fn = v == 0 ? substr_fn : v == 3 ? repeat_fn : left_right_fn;
    return 0;
}

/* ---- REPLACE, LPAD/RPAD, STRPOS, CONTAINS ------------------------------------------- */

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0)
        return h;
    if (nn > hn)
        return NULL;
    return memmem(h, hn, nd, nn);
}

EVAL(replace_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, from);
    SQL_ARG(2, to);
    if (from.v.s.n == 0 || !find_bytes(s.v.s.p, s.v.s.n, from.v.s.p, from.v.s.n)) {
        *out = s;
        return;
    }
    /* count, then copy */
    size_t count = 0;
    for (const char *q = s.v.s.p, *e = s.v.s.p + s.v.s.n;
         (q = find_bytes(q, (size_t)(e - q), from.v.s.p, from.v.s.n)) != NULL; q += from.v.s.n)
        count++;
    size_t total = s.v.s.n - count * from.v.s.n + count * to.v.s.n;
    if (total > MAX_RESULT) {
        sql_rt_error(c, "REPLACE result longer than %u bytes", MAX_RESULT);
        str_result_null(n, out);
        return;
    }
    char *o = sql_alloc(c, total);
    if (!o) {
        str_result_null(n, out);
        return;
    }
    size_t k = 0;
    const char *q = s.v.s.p, *e = s.v.s.p + s.v.s.n;
    for (;;) {
        const char *m = find_bytes(q, (size_t)(e - q), from.v.s.p, from.v.s.n);
        size_t l = m ? (size_t)(m - q) : (size_t)(e - q);
        memcpy(o + k, q, l);
        k += l;
        if (!m)
            break;
        memcpy(o + k, to.v.s.p, to.v.s.n);
        k += to.v.s.n;
        q = m + from.v.s.n;
    }
    sql_set_str(out, SQL_STRING, o, k);
}

EVAL(pad_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, len);
    const char *pad = " ";
    size_t padn = 1;
    if (n->nargs > 2) {
        SQL_ARG(2, pv);
        pad = pv.v.s.p;
        padn = pv.v.s.n;
    }
    if (len.v.l <= 0) {
        sql_set_str(out, SQL_STRING, s.v.s.p, 0);
        return;
    }
    if (len.v.l > (int64_t)(MAX_RESULT / 4)) {
        sql_rt_error(c, "%s length too large", n->ival == 1 ? "LPAD" : "RPAD");
        str_result_null(n, out);
        return;
    }
    int64_t have = unit_length(s.v.s.p, s.v.s.n);
    if (have >= len.v.l || padn == 0) {
        sql_set_str(out, SQL_STRING, s.v.s.p, byte_at_unit(s.v.s.p, s.v.s.n, len.v.l));
        return;
    }
    int64_t need = len.v.l - have; /* units of padding */
    char *o = sql_alloc(c, s.v.s.n + (size_t)need * 4);
    if (!o) {
        str_result_null(n, out);
        return;
    }
    size_t k = 0;
    if (n->ival == 2) {
        memcpy(o, s.v.s.p, s.v.s.n);
        k = s.v.s.n;
    }
    size_t pi = 0;
    while (need > 0) {
        size_t l = u8_step(pad + pi, pad + padn);
        memcpy(o + k, pad + pi, l);
        k += l;
        need -= u16_units((unsigned char)pad[pi]);
        pi += l;
        if (pi >= padn)
            pi = 0;
    }
    if (n->ival == 1) {
        memcpy(o + k, s.v.s.p, s.v.s.n);
        k += s.v.s.n;
    }
    sql_set_str(out, SQL_STRING, o, k);
}

static bool ieq_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return true;
}

EVAL(strpos_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(1, sub);
    size_t from = 0;
    if (n->nargs > 2) { /* POSITION(a IN b FROM k): k is 1-based */
        SQL_ARG(2, k);
        from = k.v.l > 1 ? byte_at_unit(s.v.s.p, s.v.s.n, k.v.l - 1) : 0;
    }
    const char *m = find_bytes(s.v.s.p + from, s.v.s.n - from, sub.v.s.p, sub.v.s.n);
    if (n->ival == 3) {
        sql_set_long(out, SQL_LONG, m ? unit_length(s.v.s.p, (size_t)(m - s.v.s.p)) + 1 : 0);
        return;
    }
    if (n->ival == 5 && !m) {
        bool found = false;
        for (size_t i = 0; !found && i + sub.v.s.n <= s.v.s.n; i++)
            found = ieq_bytes(s.v.s.p + i, sub.v.s.p, sub.v.s.n);
        sql_set_long(out, SQL_BOOLEAN, found);
        return;
    }
    sql_set_long(out, SQL_BOOLEAN, m != NULL);
}

int sql_bind_str3(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    for (int i = 0; i < n->nargs; i++) {
        int want = (((v == 1 || v == 2) && i == 1) || (v == 3 && i == 2)) ? SQL_LONG : SQL_STRING;
        if (sql_arg_check(b, n, i, want))
            return LERR_INVALID;
        sql_coerce(b, n, i, want);
    }
    n->ival = v;
    switch (v) {
    case 0:
        n->type = SQL_STRING;
        n->fn = replace_fn;
        break;
    case 1:
    case 2:
        n->type = SQL_STRING;
        n->fn = pad_fn;
        break;
    case 3:
        n->type = SQL_LONG;
        n->fn = strpos_fn;
        break;
    default:
        n->type = SQL_BOOLEAN;
        n->fn = strpos_fn;
        break;
    }
    return 0;
}

/* ---- PARSE_LONG ---------------------------------------------------------------------- */

EVAL(parse_long_fn)
{
    SQL_ARG(0, s);
    int64_t radix = 10;
    if (n->nargs > 1) {
        SQL_ARG(1, r);
        radix = r.v.l;
    }
    if (radix < 2 || radix > 36) {
        *out = sql_null(SQL_LONG);
        return;
    }
    const char *p = s.v.s.p;
    size_t len = s.v.s.n, i = 0;
    bool neg = false;
    if (len && (p[0] == '-' || p[0] == '+')) {
        neg = p[0] == '-';
        i = 1;
    }
    if (radix == 16 && len - i > 2 && p[i] == '0' && (p[i + 1] == 'x' || p[i + 1] == 'X'))
        i += 2;
    if (i >= len) {
        *out = sql_null(SQL_LONG);
        return;
    }
    uint64_t v = 0;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        int ch = (unsigned char)p[i], d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'z')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'Z')
            d = ch - 'A' + 10;
        else
            d = 99;
        if (d >= radix || v > (lim - (uint64_t)d) / (uint64_t)radix) {
            *out = sql_null(SQL_LONG);
            return;
        }
        v = v * (uint64_t)radix + (uint64_t)d;
    }
    sql_set_long(out, SQL_LONG, neg ? (int64_t)(0 - v) : (int64_t)v);
}

int sql_bind_parse_long(struct sql_bctx *b, struct sql_node *n)
{
    if (sql_arg_check(b, n, 0, SQL_STRING))
        return LERR_INVALID;
    if (n->nargs > 1 && sql_arg_check(b, n, 1, SQL_LONG))
        return LERR_INVALID;
    if (n->nargs > 1)
        sql_coerce(b, n, 1, SQL_LONG);
    n->type = SQL_LONG;
    n->fn = parse_long_fn;
    return 0;
}

/* ---- regular expressions ------------------------------------------------------------- */

struct rx {
    regex_t re;
    int group; /* REGEXP_EXTRACT group */
};

static void rx_free(void *p) { regfree(&((struct rx *)p)->re); }

/* Java regex → POSIX ERE for the common subset; false if it uses something
 * POSIX cannot express (lazy quantifiers, look-around, back-references). */
static bool translate_regex(const char *p, size_t n, struct buf *o, bool *icase)
{
    size_t i = 0;
    *icase = false;
    if (n >= 4 && memcmp(p, "(?i)", 4) == 0) {
        *icase = true;
        i = 4;
    }
    bool in_class = false;
    for (; i < n; i++) {
        char ch = p[i];
        if (ch == '\\' && i + 1 < n) {
            char e = p[++i];
            const char *rep = NULL;
            switch (e) {
            case 'd': rep = in_class ? "0-9" : "[0-9]"; break;
            case 'D': rep = in_class ? NULL : "[^0-9]"; break;
            case 'w': rep = in_class ? "A-Za-z0-9_" : "[A-Za-z0-9_]"; break;
            case 'W': rep = in_class ? NULL : "[^A-Za-z0-9_]"; break;
            case 's': rep = in_class ? "[:space:]" : "[[:space:]]"; break;
            case 'S': rep = in_class ? NULL : "[^[:space:]]"; break;
            case 't': rep = "\t"; break;
            case 'n': rep = "\n"; break;
            case 'r': rep = "\r"; break;
            default:
                if ((e >= '0' && e <= '9') || e == 'b' || e == 'B' || e == 'p' || e == 'P' ||
                    e == 'Q' || e == 'E' || e == 'k' || e == 'G' || e == 'A' || e == 'z' ||
                    e == 'Z')
                    return false;
                break;
            }
            if (rep) {
                buf_puts(o, rep);
            } else if (in_class) {
                if (e == 'D' || e == 'W' || e == 'S')
                    return false;
                if (e == ']' || e == '\\' || e == '-' || e == '^') {
                    /* in POSIX brackets a ] must come first: keep simple cases */
                    if (e == '\\')
                        buf_putc(o, '\\');
                    else if (e == '-')
                        buf_putc(o, '-');
                    else
                        return false;
                } else {
                    buf_putc(o, e);
                }
            } else {
                buf_putc(o, '\\');
                buf_putc(o, e);
            }
            continue;
        }
        if (in_class) {
            if (ch == ']')
                in_class = false;
            if (ch == '[' && i + 1 < n && p[i + 1] != ':')
                return false; /* nested classes / intersections */
            buf_putc(o, ch);
            continue;
        }
        if (ch == '[') {
            in_class = true;
            buf_putc(o, ch);
            if (i + 1 < n && p[i + 1] == '^') {
                buf_putc(o, '^');
                i++;
            }
            if (i + 1 < n && p[i + 1] == ']') {
                buf_putc(o, ']');
                i++;
            }
            continue;
        }
        if ((ch == '?' || ch == '+') && i > 0 &&
            (p[i - 1] == '*' || p[i - 1] == '+' || p[i - 1] == '?' || p[i - 1] == '}'))
            return false; /* lazy / possessive */
        if (ch == '(' && i + 1 < n && p[i + 1] == '?') {
            if (i + 2 < n && p[i + 2] == ':') {
                buf_putc(o, '('); /* non-capturing: POSIX captures it; groups renumber */
                i += 2;
                continue;
            }
            return false;
        }
        buf_putc(o, ch);
    }
    return !in_class && !o->failed;
}

static bool match_at(const regex_t *re, const char *s, size_t n, size_t from, regmatch_t *m,
                     size_t nm)
{
    m[0].rm_so = (regoff_t)from;
    m[0].rm_eo = (regoff_t)n;
    return regexec(re, s, nm, m, REG_STARTEND | (from ? REG_NOTBOL : 0)) == 0;
}

/* regexec needs a NUL after the text even with REG_STARTEND (sanitizers
 * and other libcs read up to it), and input slices have none: copy. */
static bool with_nul(struct sql_ectx *c, struct sql_value *s)
{
    char *p = sql_alloc(c, (size_t)s->v.s.n + 1);
    if (!p)
        return false;
    memcpy(p, s->v.s.p, s->v.s.n);
    p[s->v.s.n] = '\0';
    s->v.s.p = p;
    return true;
}

EVAL(rx_extract_fn)
{
    SQL_ARG(0, s);
    const struct rx *r = n->aux;
    if (!with_nul(c, &s)) {
        *out = sql_null(SQL_STRING);
        return;
    }
    regmatch_t m[10];
    if (!match_at(&r->re, s.v.s.p, s.v.s.n, 0, m, LS_ARRAY_LEN(m)) || m[r->group].rm_so < 0) {
        *out = sql_null(SQL_STRING);
        return;
    }
    sql_set_str(out, SQL_STRING, s.v.s.p + m[r->group].rm_so,
                (size_t)(m[r->group].rm_eo - m[r->group].rm_so));
}

EVAL(rx_like_fn)
{
    SQL_ARG(0, s);
    const struct rx *r = n->aux;
    if (!with_nul(c, &s)) {
        *out = sql_null(SQL_BOOLEAN);
        return;
    }
    regmatch_t m[1];
    sql_set_long(out, SQL_BOOLEAN, match_at(&r->re, s.v.s.p, s.v.s.n, 0, m, 1));
}

EVAL(rx_replace_fn)
{
    SQL_ARG(0, s);
    SQL_ARG(2, rep);
    const struct rx *r = n->aux;
    if (!with_nul(c, &s)) {
        *out = sql_null(SQL_STRING);
        return;
    }
    struct buf o;
    buf_init(&o, MAX_RESULT);
    regmatch_t m[10];
    size_t at = 0;
    while (at <= s.v.s.n && match_at(&r->re, s.v.s.p, s.v.s.n, at, m, LS_ARRAY_LEN(m))) {
        buf_append(&o, s.v.s.p + at, (size_t)m[0].rm_so - at);
        for (uint32_t i = 0; i < rep.v.s.n; i++) {
            char ch = rep.v.s.p[i];
            if (ch == '$' && i + 1 < rep.v.s.n && rep.v.s.p[i + 1] >= '0' &&
                rep.v.s.p[i + 1] <= '9') {
                int g = rep.v.s.p[++i] - '0';
                if (m[g].rm_so >= 0)
                    buf_append(&o, s.v.s.p + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
            } else if (ch == '\\' && i + 1 < rep.v.s.n) {
                buf_putc(&o, rep.v.s.p[++i]);
            } else {
                buf_putc(&o, ch);
            }
        }
        if (m[0].rm_eo == m[0].rm_so) {
            if ((size_t)m[0].rm_eo < s.v.s.n)
                buf_putc(&o, s.v.s.p[m[0].rm_eo]);
            at = (size_t)m[0].rm_eo + 1;
        } else {
            at = (size_t)m[0].rm_eo;
        }
    }
    if (at < s.v.s.n)
        buf_append(&o, s.v.s.p + at, s.v.s.n - at);
    if (o.failed) {
        buf_free(&o);
        sql_rt_error(c, "REGEXP_REPLACE result too long");
        str_result_null(n, out);
        return;
    }
    char *p = sql_alloc(c, o.len);
    if (p) {
        if (o.len)
            memcpy(p, o.data, o.len);
        sql_set_str(out, SQL_STRING, p, o.len);
    } else {
        str_result_null(n, out);
    }
    buf_free(&o);
}

int sql_regex_compile(struct sql_bctx *b, struct sql_node *n, int i, const char *what,
                      regex_t **out)
{
    const char *pat;
    size_t pn;
    if (sql_arg_lit_string(b, n, i, what, &pat, &pn))
        return LERR_INVALID;
    struct buf tr;
    buf_init(&tr, 1 << 16);
    bool icase;
    bool ok = translate_regex(pat, pn, &tr, &icase);
    struct rx *r = ok ? arena_zalloc(b->arena, sizeof *r) : NULL;
    int rc = r ? regcomp(&r->re, buf_cstr(&tr), REG_EXTENDED | (icase ? REG_ICASE : 0)) : -1;
    buf_free(&tr);
    if (!ok || rc != 0)
        return sql_bind_error(
            b, n->args[i],
            "unsupported or invalid regular expression '%.*s' (use plain groups, classes such as [0-9] or \\d, and greedy quantifiers)",
            (int)(pn > 60 ? 60 : pn), pat);
    sql_owner_cleanup(b->owner, rx_free, r);
    *out = &r->re;
    return 0;
}

int sql_bind_regexp(struct sql_bctx *b, struct sql_node *n)
{
    int v = sql_funcs[n->func].variant;
    for (int i = 0; i < n->nargs; i++) {
        int want = (v == 0 && i == 2) ? SQL_LONG : SQL_STRING;
        if (sql_arg_check(b, n, i, want))
            return LERR_INVALID;
    }
    regex_t *re;
    if (sql_regex_compile(b, n, 1, "pattern", &re))
        return LERR_INVALID;
    struct rx *r = (struct rx *)re; /* re is its first member */
    if (v == 0 && n->nargs > 2) {
        struct sql_node *g = n->args[2];
        if (g->kind != NK_LIT || g->k.is_null || g->k.v.l < 0 ||
            g->k.v.l > (int64_t)r->re.re_nsub || g->k.v.l > 9)
            return sql_bind_error(
                b, g, "the group argument of REGEXP_EXTRACT must be a literal from 0 to %zu",
                r->re.re_nsub < 9 ? r->re.re_nsub : 9);
        r->group = (int)g->k.v.l;
    }
    n->aux = r;
    n->type = v == 1 ? SQL_BOOLEAN : SQL_STRING;
    n->fn = v == 0 ? rx_extract_fn : v == 1 ? rx_like_fn : rx_replace_fn;
    return 0;
}
