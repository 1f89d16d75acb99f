/*
 * json.c — the nd-json record scanner (see json.h for the contract).
 *
 * Entry points: format_json_iter_init(), format_json_iter_init_span(), format_json_iter_next(),
 * format_json_parse_value(), format_json_find_path(), format_json_write_string().
 *
 * Shape: one cursor moves forward over the input once. Members of the
 * iterated container are decoded (keys, strings, numbers); nested containers
 * are validated by skip_container(), an explicit-stack state machine, so deep
 * input cannot blow the C stack. Strings are the hot path: runs of plain
 * ASCII are skipped 16 bytes at a time with SSE2 (8 at a time elsewhere), and
 * only quotes, backslashes, control bytes and non-ASCII bytes stop the run.
 * Every read checks the end pointer; the input is never assumed to be
 * NUL-terminated.
 */
#include "format/json.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { ST_FIRST, ST_NEXT, ST_DONE, ST_FAILED };

/* ---- errors ------------------------------------------------------------ */

/* Sets "invalid JSON at byte N: ..." with pos N, unless an error is set. */
LS_PRINTF(3, 4)
static const char *fail(struct format_json_iter *it, const char *at, const char *fmt, ...)
{
    struct lerr *e = it->err;
    if (e && e->code == LERR_OK) {
        char detail[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        size_t pos = (size_t)(at - it->base);
        lerr_set(e, LERR_INVALID, "invalid JSON at byte %zu: %s", pos, detail);
        e->pos = (int64_t)pos;
    }
    it->state = ST_FAILED;
    return NULL;
}

/* Describes the byte at `at` for a message: 'x', byte 0xC3, or end of input. */
static void describe(const struct format_json_iter *it, const char *at, char out[32])
{
    if (at >= it->end) {
        snprintf(out, 32, "end of input");
        return;
    }
    unsigned char c = (unsigned char)*at;
    if (c >= 0x20 && c < 0x7f)
        snprintf(out, 32, "'%c'", c);
    else
        snprintf(out, 32, "byte 0x%02X", c);
}

/* The raw text of a key for a message: at most ~48 bytes, cut on a UTF-8
 * boundary (key bytes are already validated, so they print as they are). */
static int key_for_msg(const char *k, size_t n, const char **out)
{
    *out = k;
    if (n <= 48)
        return (int)n;
    size_t cut = 45;
    while (cut > 0 && ((unsigned char)k[cut] & 0xC0) == 0x80)
        cut--;
    return (int)cut;
}

/* ---- lexing helpers ---------------------------------------------------- */

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static inline bool is_digit(char c) { return (unsigned)(c - '0') < 10u; }

/*
 * Returns the first byte in [p, end) that needs attention inside a string: a
 * quote, a backslash, a control byte (< 0x20) or a non-ASCII byte (>= 0x80).
 */
static inline const char *skip_plain(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* A signed compare against 0x20 catches 0x00-0x1F and 0x80-0xFF at once. */
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                         _mm_cmplt_epi8(v, space));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#else
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        /* zero-byte tests (exact for the lowest hit, which is all we use) */
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w;
        hit &= highs;
        if (hit) {
            for (int i = 0; i < 8; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                    return p + i;
            }
        }
        p += 8;
    }
#endif
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            return p;
        p++;
    }
    return p;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 when it is
 * invalid: a stray continuation byte, an overlong form, a surrogate, a code
 * point past U+10FFFF, or a sequence cut short. */
static inline size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

static inline int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)p[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t utf8_put(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- strings ----------------------------------------------------------- */

/* Room for `need` more decoded bytes in the scratch area? */
static bool scratch_room(struct format_json_iter *it, const char *dst, size_t need, const char *at)
{
    if (it->scratch && (size_t)(it->scratch + it->scratch_cap - dst) >= need)
        return true;
    struct lerr *e = it->err;
    if (e && e->code == LERR_OK) {
        lerr_set(e, LERR_TOO_LARGE,
                 "JSON string at byte %zu needs more decoding scratch space than the %zu "
                 "bytes given (give at least the record length)",
                 (size_t)(at - it->base), it->scratch_cap);
        e->pos = at - it->base;
    }
    it->state = ST_FAILED;
    return false;
}

/*
 * Lexes a string; q points at the opening quote, p at the first byte the
 * plain-ASCII scan stopped at. Returns the byte after the closing quote, or
 * NULL (error set). With decode, *s and *slen get the decoded bytes: the
 * input itself when there are no escapes, else scratch.
 */
static const char *lex_string_slow(struct format_json_iter *it, const char *q, const char *p,
                                   bool decode, const char **s, size_t *slen)
{
    const char *end = it->end;
    const char *start = q + 1;
    for (;;) {
        p = skip_plain(p, end);
        if (p >= end)
            return fail(it, end, "unterminated string (opened at byte %zu)",
                        (size_t)(q - it->base));
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            if (decode) {
                *s = start;
                *slen = (size_t)(p - start);
            }
            return p + 1;
        }
        if (c == '\\')
            break;
        if (c < 0x20)
            return fail(it, p, "control character 0x%02X in string (escape it, e.g. as \\u%04X)",
                        c, c);
        size_t k = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
        if (!k)
            return fail(it, p, "invalid UTF-8 byte 0x%02X in string", c);
        p += k;
    }

    /* Escapes: copy what we have so far and decode the rest into scratch. */
    char *dst = NULL, *dst0 = NULL;
    if (decode) {
        size_t pre = (size_t)(p - start);
        if (!it->scratch) {
            scratch_room(it, NULL, pre + 1, q);
            return NULL;
        }
        dst0 = dst = it->scratch + it->scratch_used;
        if (!scratch_room(it, dst, pre, q))
            return NULL;
        if (pre)
            memcpy(dst, start, pre);
        dst += pre;
    }
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c == '\\') {
            if (end - p < 2)
                return fail(it, end, "unterminated string (opened at byte %zu)",
                            (size_t)(q - it->base));
            char e = p[1], out;
            switch (e) {
            case '"': out = '"'; break;
            case '\\': out = '\\'; break;
            case '/': out = '/'; break;
            case 'b': out = '\b'; break;
            case 'f': out = '\f'; break;
            case 'n': out = '\n'; break;
            case 'r': out = '\r'; break;
            case 't': out = '\t'; break;
            case 'u': {
                int u = end - p >= 6 ? hex4(p + 2) : -1;
                if (u < 0)
                    return fail(it, p, "invalid \\u escape in string (expected 4 hex digits)");
                uint32_t cp = (uint32_t)u;
                const char *esc = p;
                p += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int lo = (end - p >= 6 && p[0] == '\\' && p[1] == 'u') ? hex4(p + 2) : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail(it, esc, "unpaired surrogate \\u%04X in string", (unsigned)cp);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                    p += 6;
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(it, esc, "unpaired surrogate \\u%04X in string", (unsigned)cp);
                }
                if (decode) {
                    if (!scratch_room(it, dst, 4, esc))
                        return NULL;
                    dst += utf8_put(dst, cp);
                }
                goto plain;
            }
            default: {
                char what[32];
                describe(it, p + 1, what);
                return fail(it, p, "invalid escape \\%s in string", what);
            }
            }
            if (decode) {
                if (!scratch_room(it, dst, 1, p))
                    return NULL;
                *dst++ = out;
            }
            p += 2;
        } else if (c < 0x20) {
            return fail(it, p, "control character 0x%02X in string (escape it, e.g. as \\u%04X)",
                        c, c);
        } else {
            size_t k = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
            if (!k)
                return fail(it, p, "invalid UTF-8 byte 0x%02X in string", c);
            if (decode) {
                if (!scratch_room(it, dst, k, p))
                    return NULL;
                memcpy(dst, p, k);
                dst += k;
            }
            p += k;
        }
    plain:;
        const char *run = p;
        p = skip_plain(p, end);
        if (p >= end)
            return fail(it, end, "unterminated string (opened at byte %zu)",
                        (size_t)(q - it->base));
        if (decode && p > run) {
            if (!scratch_room(it, dst, (size_t)(p - run), run))
                return NULL;
            memcpy(dst, run, (size_t)(p - run));
            dst += p - run;
        }
    }
    if (decode) {
        *s = dst0;
        *slen = (size_t)(dst - dst0);
        it->scratch_used += *slen;
    }
    return p + 1;
}

/* The common case inline: plain ASCII up to the closing quote. */
static inline const char *lex_string(struct format_json_iter *it, const char *q, bool decode,
                                     const char **s, size_t *slen)
{
    const char *start = q + 1, *p = skip_plain(start, it->end);
    if (p < it->end && *p == '"') {
        if (decode) {
            *s = start;
            *slen = (size_t)(p - start);
        }
        return p + 1;
    }
    return lex_string_slow(it, q, p, decode, s, slen);
}

/* ---- numbers ----------------------------------------------------------- */

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* strtod in the C locale, whatever the process's locale is. */
static double strtod_c(const char *s)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale)
        return strtod_l(s, NULL, c_locale);
    return strtod(s, NULL);
}

/* Significant digits kept for the slow path: beyond 767 digits no decimal
 * lies exactly halfway between two doubles, so a sticky 1 for the rest keeps
 * the rounding correct. */
#define NUM_KEEP_DIGITS 780

/*
 * The slow path: digits[0..ndig) with a '.' after nint digits (frac digits
 * follow) and exponent exp10 (saturated). Normalises to "0.DDDe±E" in a
 * bounded buffer and lets strtod round it.
 */
static double slow_double(const char *ds, const char *de, size_t nint, int64_t exp10, bool neg,
                          bool *nonzero)
{
    char buf[NUM_KEEP_DIGITS + 40];
    size_t bl = 0, zeros = 0;
    bool seen = false, sticky = false;
    if (neg)
        buf[bl++] = '-';
    buf[bl++] = '0';
    buf[bl++] = '.';
    size_t kept = 0;
    for (const char *p = ds; p < de; p++) {
        if (*p == '.')
            continue;
        if (!seen) {
            if (*p == '0') {
                zeros++;
                continue;
            }
            seen = true;
        }
        if (kept < NUM_KEEP_DIGITS) {
            buf[bl++] = *p;
            kept++;
        } else if (*p != '0') {
            sticky = true;
        }
    }
    *nonzero = seen;
    if (!seen)
        return neg ? -0.0 : 0.0;
    if (sticky)
        buf[bl++] = '1';
    /* value = 0.DDD x 10^(nint - zeros + exp10); clamp far past the range of
     * doubles so the exponent text stays short. */
    int64_t e = (int64_t)nint - (int64_t)zeros + exp10;
    if (e > 100000)
        e = 100000;
    if (e < -100000)
        e = -100000;
    snprintf(buf + bl, sizeof buf - bl, "e%lld", (long long)e);
    return strtod_c(buf);
}

/*
 * Lexes a number; p points at '-' or a digit. Returns the byte after it or
 * NULL (error set). With v, fills the number fields.
 */
static const char *lex_number(struct format_json_iter *it, const char *p,
                              struct format_json_value *v)
{
    const char *end = it->end, *start = p;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
        if (p >= end || !is_digit(*p)) {
            char what[32];
            describe(it, p, what);
            return fail(it, p, "expected a digit after '-' in number, found %s", what);
        }
    }
    const char *ds = p;
    uint64_t m = 0;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p))
            return fail(it, p - 1, "leading zeros are not allowed in numbers");
    } else {
        while (p < end && is_digit(*p)) {
            m = m * 10 + (uint64_t)(*p - '0'); /* wraps past 19 digits; only used below that */
            p++;
        }
    }
    size_t nint = (size_t)(p - ds), nfrac = 0;
    bool is_int = true;
    if (p < end && *p == '.') {
        p++;
        const char *fs = p;
        while (p < end && is_digit(*p)) {
            m = m * 10 + (uint64_t)(*p - '0');
            p++;
        }
        nfrac = (size_t)(p - fs);
        if (!nfrac) {
            char what[32];
            describe(it, p, what);
            return fail(it, p, "expected a digit after '.' in number, found %s", what);
        }
        is_int = false;
    }
    const char *de = p;
    int64_t exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            char what[32];
            describe(it, p, what);
            return fail(it, p, "expected a digit in the exponent of a number, found %s", what);
        }
        while (p < end && is_digit(*p)) {
            if (exp10 < 1000000000)
                exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (eneg)
            exp10 = -exp10;
        is_int = false;
    }
    if (!v)
        return p;

    v->kind = FORMAT_JSON_KIND_NUMBER;
    v->raw = start;
    v->raw_len = (size_t)(p - start);
    v->str = NULL;
    v->str_len = 0;
    v->num_flags = 0;
    v->i = 0;
    size_t ndig = nint + nfrac;
    if (is_int && ndig <= 19) {
        /* 19 digits always fit a uint64; the sign decides the int64 bound. */
        if (m <= (uint64_t)INT64_MAX) {
            v->i = neg ? -(int64_t)m : (int64_t)m;
            v->num_flags = FORMAT_JSON_NUM_INT;
            v->d = neg ? -(double)m : (double)m;
            if (neg && m == 0)
                v->num_flags |= FORMAT_JSON_NUM_NEGZERO;
            return p;
        }
        if (neg && m == (uint64_t)INT64_MAX + 1) {
            v->i = INT64_MIN;
            v->num_flags = FORMAT_JSON_NUM_INT;
            v->d = (double)INT64_MIN;
            return p;
        }
    }
#if FLT_EVAL_METHOD == 0
    /* Clinger's fast path: the mantissa and the power of ten are both exact
     * doubles, so one IEEE multiply or divide rounds correctly. */
    if (ndig <= 19 && m <= (1ull << 53)) {
        int64_t e = exp10 - (int64_t)nfrac;
        if (m == 0) {
            v->d = neg ? -0.0 : 0.0;
            if (neg)
                v->num_flags |= FORMAT_JSON_NUM_NEGZERO;
            return p;
        }
        if (e >= -22 && e <= 22) {
            double d = (double)m;
            d = e >= 0 ? d * pow10_exact[e] : d / pow10_exact[-e];
            v->d = neg ? -d : d;
            return p;
        }
    }
#endif
    bool nonzero;
    double d = slow_double(ds, de, nint, exp10, neg, &nonzero);
    v->d = d;
    if (isinf(d))
        v->num_flags |= FORMAT_JSON_NUM_OVERFLOW;
    else if (d == 0) {
        if (nonzero)
            v->num_flags |= FORMAT_JSON_NUM_UNDERFLOW;
        if (neg)
            v->num_flags |= FORMAT_JSON_NUM_NEGZERO;
    }
    return p;
}

/* ---- values ------------------------------------------------------------ */

static const char *lex_literal(struct format_json_iter *it, const char *p,
                               struct format_json_value *v)
{
    size_t avail = (size_t)(it->end - p);
    enum format_json_kind kind;
    size_t len;
    if (avail >= 4 && memcmp(p, "true", 4) == 0) {
        kind = FORMAT_JSON_KIND_TRUE;
        len = 4;
    } else if (avail >= 5 && memcmp(p, "false", 5) == 0) {
        kind = FORMAT_JSON_KIND_FALSE;
        len = 5;
    } else if (avail >= 4 && memcmp(p, "null", 4) == 0) {
        kind = FORMAT_JSON_KIND_NULL;
        len = 4;
    } else {
        return fail(it, p, "invalid literal (expected true, false or null)");
    }
    if (v) {
        memset(v, 0, sizeof *v);
        v->kind = kind;
        v->raw = p;
        v->raw_len = len;
    }
    return p + len;
}

static const char *expected_value(struct format_json_iter *it, const char *p)
{
    char what[32];
    describe(it, p, what);
    return fail(it, p, "expected a value, found %s", what);
}

/*
 * Validates the object or array at p (whose own nesting level is `depth`)
 * and returns the byte after it, or NULL. Iterative: the stack holds the
 * closing bracket of each open container.
 */
static const char *skip_container(struct format_json_iter *it, const char *p, unsigned depth)
{
    const char *end = it->end;
    char stack[FORMAT_JSON_MAX_DEPTH];
    unsigned sp = 0;
    const char *key = NULL;
    size_t key_len = 0;

    if (depth > FORMAT_JSON_MAX_DEPTH)
        return fail(it, p, "nesting deeper than %d levels", FORMAT_JSON_MAX_DEPTH);
    stack[sp++] = *p == '{' ? '}' : ']';
    p++;

open:
    p = skip_ws(p, end);
    if (p < end && *p == stack[sp - 1]) {
        p++;
        sp--;
        goto after_value;
    }
    if (stack[sp - 1] == ']')
        goto value;
key:
    if (p >= end || *p != '"') {
        char what[32];
        describe(it, p, what);
        return fail(it, p, "expected a string key, found %s", what);
    }
    key = p + 1;
    p = lex_string(it, p, false, NULL, NULL);
    if (!p)
        return NULL;
    key_len = (size_t)(p - 1 - key);
    p = skip_ws(p, end);
    if (p >= end || *p != ':') {
        const char *k;
        int kl = key_for_msg(key, key_len, &k);
        return fail(it, p, "expected ':' after object key \"%.*s\"", kl, k);
    }
    p++;
value:
    p = skip_ws(p, end);
    if (p >= end)
        return expected_value(it, p);
    switch (*p) {
    case '{':
    case '[':
        if (depth + sp > FORMAT_JSON_MAX_DEPTH)
            return fail(it, p, "nesting deeper than %d levels", FORMAT_JSON_MAX_DEPTH);
        stack[sp++] = *p == '{' ? '}' : ']';
        p++;
        goto open;
    case '"': p = lex_string(it, p, false, NULL, NULL); break;
    // clang-format off
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        // clang-format on
        p = lex_number(it, p, NULL);
        break;
    case 't':
    case 'f':
    case 'n': p = lex_literal(it, p, NULL); break;
    default: return expected_value(it, p);
    }
    if (!p)
        return NULL;
after_value:
    if (sp == 0)
        return p;
    p = skip_ws(p, end);
    if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
        if (stack[sp - 1] == '}')
            goto key;
        goto value;
    }
    if (p < end && *p == stack[sp - 1]) {
        p++;
        sp--;
        goto after_value;
    }
    {
        char what[32];
        describe(it, p, what);
        return fail(it, p, "expected ',' or '%c' after %s, found %s", stack[sp - 1],
                    stack[sp - 1] == '}' ? "an object member" : "an array element", what);
    }
}

/* Lexes the value at p into *v (decoding strings and numbers); nested
 * containers at level `depth` are validated and reported as raw spans. */
static const char *lex_value(struct format_json_iter *it, const char *p,
                             struct format_json_value *v, unsigned depth)
{
    if (p >= it->end)
        return expected_value(it, p);
    const char *start = p;
    switch (*p) {
    case '"':
        p = lex_string(it, p, true, &v->str, &v->str_len);
        if (!p)
            return NULL;
        v->kind = FORMAT_JSON_KIND_STRING;
        v->num_flags = 0;
        v->i = 0;
        v->d = 0;
        break;
    // clang-format off
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        // clang-format on
        return lex_number(it, p, v);
    case 't':
    case 'f':
    case 'n': return lex_literal(it, p, v);
    case '{':
    case '[':
        p = skip_container(it, p, depth);
        if (!p)
            return NULL;
        memset(v, 0, sizeof *v);
        v->kind = *start == '{' ? FORMAT_JSON_KIND_OBJECT : FORMAT_JSON_KIND_ARRAY;
        break;
    default: return expected_value(it, p);
    }
    v->raw = start;
    v->raw_len = (size_t)(p - start);
    return p;
}

/* ---- iterator ---------------------------------------------------------- */

/* Positions in messages count from `base`, which may lie before p (paths). */
static void iter_setup(struct format_json_iter *it, const char *base, const char *end,
                       char *scratch, size_t scratch_cap, struct lerr *err)
{
    it->base = base;
    it->p = base;
    it->end = end;
    it->scratch = scratch;
    it->scratch_cap = scratch ? scratch_cap : 0;
    it->scratch_used = 0;
    it->index = 0;
    it->err = err;
    it->state = ST_FIRST;
    it->close = '}';
}

static int empty_value(struct format_json_iter *it, const char *at, const char *msg)
{
    it->state = ST_FAILED;
    struct lerr *e = it->err;
    if (e && e->code == LERR_OK) {
        lerr_set(e, LERR_INVALID, "%s", msg);
        e->pos = at - it->base;
    }
    return -1;
}

/* Opens the object (or, unless record, array) at p. */
static int iter_open(struct format_json_iter *it, const char *p, bool record)
{
    if (record && it->end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    p = skip_ws(p, it->end);
    if (p >= it->end)
        return empty_value(it, it->base, record ? "empty record" : "empty JSON value");
    if (*p == '[' && !record) {
        it->close = ']';
    } else if (*p != '{') {
        char what[32];
        describe(it, p, what);
        fail(it, p,
             record ? "expected '{': a record must be a JSON object, found %s"
                    : "expected '{' or '[', found %s",
             what);
        return -1;
    }
    it->p = p + 1;
    return 0;
}

int format_json_iter_init(struct format_json_iter *it, const char *p, size_t n, char *scratch,
                          size_t scratch_cap, struct lerr *err)
{
    iter_setup(it, p, p + n, scratch, scratch_cap, err);
    return iter_open(it, p, true);
}

int format_json_iter_init_span(struct format_json_iter *it, const char *p, size_t n, char *scratch,
                               size_t scratch_cap, struct lerr *err)
{
    iter_setup(it, p, p + n, scratch, scratch_cap, err);
    return iter_open(it, p, false);
}

/* After the closing bracket: only whitespace may follow. */
static int iter_finish(struct format_json_iter *it, const char *p)
{
    p = skip_ws(p, it->end);
    if (p < it->end) {
        char what[32];
        describe(it, p, what);
        fail(it, p, "unexpected %s after the %s", what, it->close == '}' ? "object" : "array");
        return -1;
    }
    it->p = p;
    it->state = ST_DONE;
    return 0;
}

int format_json_iter_next(struct format_json_iter *it, struct format_json_member *m,
                          struct lerr *err)
{
    if (it->state == ST_DONE)
        return 0;
    if (it->state == ST_FAILED)
        return -1;
    it->err = err;
    const char *p = skip_ws(it->p, it->end), *end = it->end;
    bool obj = it->close == '}';
    if (it->state == ST_FIRST) {
        if (p < end && *p == it->close)
            return iter_finish(it, p + 1);
        it->state = ST_NEXT;
    } else if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
    } else if (p < end && *p == it->close) {
        return iter_finish(it, p + 1);
    } else {
        char what[32];
        describe(it, p, what);
        fail(it, p, "expected ',' or '%c' after %s, found %s", it->close,
             obj ? "an object member" : "an array element", what);
        return -1;
    }
    if (obj) {
        if (p >= end || *p != '"') {
            char what[32];
            describe(it, p, what);
            fail(it, p, "expected a string key, found %s", what);
            return -1;
        }
        const char *kraw = p + 1;
        p = lex_string(it, p, true, &m->key, &m->key_len);
        if (!p)
            return -1;
        const char *kend = p - 1; /* the closing quote */
        p = skip_ws(p, end);
        if (p >= end || *p != ':') {
            const char *k;
            int kl = key_for_msg(kraw, (size_t)(kend - kraw), &k);
            fail(it, p, "expected ':' after object key \"%.*s\"", kl, k);
            return -1;
        }
        p = skip_ws(p + 1, end);
    } else {
        m->key = NULL;
        m->key_len = 0;
    }
    p = lex_value(it, p, &m->v, 2);
    if (!p)
        return -1;
    m->index = it->index++;
    it->p = p;
    return 1;
}

/* ---- single values and paths ------------------------------------------- */

/* The one value in [p, end), positions counted from base. */
static int parse_one(const char *base, const char *p, const char *end,
                     struct format_json_value *out, char *scratch, size_t scratch_cap,
                     struct lerr *err)
{
    struct format_json_iter it;
    iter_setup(&it, base, end, scratch, scratch_cap, err);
    const char *q = skip_ws(p, end);
    if (q >= end)
        return empty_value(&it, p, "empty JSON value");
    q = lex_value(&it, q, out, 1);
    if (!q)
        return -1;
    q = skip_ws(q, end);
    if (q < end) {
        char what[32];
        describe(&it, q, what);
        fail(&it, q, "unexpected %s after the value", what);
        return -1;
    }
    return 0;
}

int format_json_parse_value(const char *p, size_t n, struct format_json_value *out, char *scratch,
                            size_t scratch_cap, struct lerr *err)
{
    return parse_one(p, p, p + n, out, scratch, scratch_cap, err);
}

int format_json_find_path(const char *p, size_t n, const struct format_json_path_step *steps,
                          size_t nsteps, struct format_json_value *out, char *scratch,
                          size_t scratch_cap, struct lerr *err)
{
    const char *cur = p, *cur_end = p + n;
    for (size_t s = 0; s < nsteps; s++) {
        const char *q = skip_ws(cur, cur_end);
        bool want_obj = steps[s].key != NULL;
        if (q < cur_end && *q != (want_obj ? '{' : '['))
            return 0; /* a scalar or the other container kind: no match */
        struct format_json_iter it;
        iter_setup(&it, p, cur_end, scratch, scratch_cap, err);
        if (iter_open(&it, cur, false) < 0)
            return -1;
        struct format_json_member m;
        const char *found = NULL, *found_end = NULL;
        int r;
        for (;;) {
            /* Only the current key matters: reuse the scratch for each member. */
            it.scratch_used = 0;
            r = format_json_iter_next(&it, &m, err);
            if (r <= 0)
                break;
            if (want_obj) {
                if (m.key_len == steps[s].key_len && memcmp(m.key, steps[s].key, m.key_len) == 0) {
                    found = m.v.raw; /* keep going: the last duplicate wins */
                    found_end = m.v.raw + m.v.raw_len;
                }
            } else if (m.index == steps[s].index) {
                found = m.v.raw;
                found_end = m.v.raw + m.v.raw_len;
                break; /* the rest of the array is not on our path */
            }
        }
        if (r < 0)
            return -1;
        if (!found)
            return 0;
        cur = found;
        cur_end = found_end;
    }
    if (parse_one(p, cur, cur_end, out, scratch, scratch_cap, err) < 0)
        return -1;
    return 1;
}

/* ---- writer ------------------------------------------------------------ */

bool format_json_write_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const char *p = s, *end = s + n, *run = s;
    buf_putc(b, '"');
    while (p < end) {
        p = skip_plain(p, end);
        if (p >= end)
            break;
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
            if (k) {
                p += k;
                continue;
            }
            buf_append(b, run, (size_t)(p - run));
            buf_append(b, "\xEF\xBF\xBD", 3);
            run = ++p;
            continue;
        }
        buf_append(b, run, (size_t)(p - run));
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\t': esc[1] = 't'; break;
        case '\r': esc[1] = 'r'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        buf_append(b, esc, elen);
        run = ++p;
    }
    buf_append(b, run, (size_t)(end - run));
    buf_putc(b, '"');
    return !b->failed;
}
