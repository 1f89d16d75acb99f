/*
 * test_json_diff.c — differential test of the nd-json scanner against jansson
 * (json_loadb, flags 0). A fixed-seed generator writes random objects (random
 * nesting, strings with every escape, surrogate pairs and raw UTF-8 of every
 * length, numbers of all shapes, odd whitespace, duplicate keys, a few planted
 * errors), then mutates each one (byte flips, truncations, random insertions
 * and deletions). For every input both parsers must agree on accept/reject,
 * and for accepted input every member must match: key, kind, string bytes,
 * integer value, double bits, and nested spans — walked with our own span
 * iterator and also re-parsed by jansson — must equal jansson's value.
 *
 * 5,000 generated wiki-edit records (and a mutation of each) go through the
 * same comparison.
 *
 * Intentional differences, skipped and counted (see json.h):
 *   - jansson rejects "\u0000" in strings (without JSON_ALLOW_NUL) and keys;
 *     we accept it (the decoded string holds a NUL byte);
 *   - jansson rejects integers outside int64 and reals that overflow; we
 *     report them as doubles (±inf with FORMAT_JSON_NUM_OVERFLOW);
 *   - jansson accepts a top-level array; a record must be an object;
 *   - jansson does not skip a UTF-8 BOM; we do (we strip it before handing
 *     the input to jansson, so BOM inputs are still compared);
 *   - we reject nesting past 128 levels (jansson's limit is 2048); the
 *     generator stays far below either;
 *   - jansson 2.14 silently drops a NUL byte right after a number or a
 *     literal ({"a":1\0} loads): its look-ahead buffer treats the pushed-back
 *     NUL as "buffer empty". A raw NUL is not JSON whitespace; we reject.
 */
#include "check.h"
#include "format/json.h"
#include "util/wikigen.h"

#include <jansson.h>
#include <stdlib.h>

/* ---- deterministic randomness ------------------------------------------ */

static uint64_t rng_state = 0x5eed1234abcdef01ull;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

/* ---- generator --------------------------------------------------------- */

static bool plant_errors; /* true for a few documents: plant one invalid construct */

static void gen_ws(struct buf *b)
{
    static const char ws[] = " \t\n\r";
    if (rn(10) == 0) {
        unsigned k = 1 + rn(3);
        while (k--)
            buf_putc(b, ws[rn(4)]);
    }
}

static void put_utf8(struct buf *b, uint32_t cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, t, n);
}

static uint32_t rand_cp(void)
{
    switch (rn(4)) {
    case 0: return 0x80 + rn(0x800 - 0x80);
    case 1: {
        uint32_t c;
        do
            c = 0x800 + rn(0x10000 - 0x800);
        while (c >= 0xD800 && c <= 0xDFFF);
        return c;
    }
    case 2: return 0x10000 + rn(0x110000 - 0x10000);
    default: {
        static const uint32_t edge[] = {0x80,   0x7FF,   0x800,    0xFFFF,  0xFFFE, 0xD7FF,
                                        0xE000, 0x10000, 0x10FFFF, 0x1F600, 0x4E2D, 0x0416};
        return edge[rn(LS_ARRAY_LEN(edge))];
    }
    }
}

static void put_u_escape(struct buf *b, unsigned v)
{
    buf_printf(b, rn(2) ? "\\u%04x" : "\\u%04X", v);
}

static void gen_string(struct buf *b, unsigned maxlen)
{
    buf_putc(b, '"');
    unsigned n = rn(maxlen + 1);
    for (unsigned i = 0; i < n; i++) {
        unsigned r = rn(100);
        if (r < 55) {
            char c;
            do
                c = (char)(0x20 + rn(0x5f));
            while (c == '"' || c == '\\');
            buf_putc(b, c);
        } else if (r < 65) {
            static const char *esc[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
            buf_puts(b, esc[rn(8)]);
        } else if (r < 72) {
            unsigned v;
            do
                v = rn(0x10000);
            while (v >= 0xD800 && v <= 0xDFFF);
            if (v == 0 || rn(4) == 0)
                v = rn(0x20) | 1; /* control characters escaped; \u0000 only below */
            put_u_escape(b, v);
        } else if (r < 76) {
            uint32_t cp = 0x10000 + rn(0x100000);
            cp -= 0x10000;
            put_u_escape(b, 0xD800 + (cp >> 10));
            put_u_escape(b, 0xDC00 + (cp & 0x3FF));
        } else if (r < 98) {
            put_utf8(b, rand_cp());
        } else if (r < 99 && rn(20) == 0) {
            buf_puts(b, "\\u0000"); /* jansson rejects; we accept */
        } else if (plant_errors && rn(4) == 0) {
            static const char *bad[] = {
                "\\ud800",  "\\udc00x",     "\\ud83d\\u0041",   "\x01", "\n",
                "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\\x",  "\\u12g4",
                "\x80",     "\xE2\x82",     "\xF5\x80\x80\x80"};
            buf_puts(b, bad[rn(LS_ARRAY_LEN(bad))]);
        } else {
            buf_putc(b, 'z');
        }
    }
    buf_putc(b, '"');
}

static void put_digits(struct buf *b, unsigned n, bool first_nonzero)
{
    for (unsigned i = 0; i < n; i++)
        buf_putc(b, (char)((i == 0 && first_nonzero) ? '1' + rn(9) : '0' + rn(10)));
}

static void gen_number(struct buf *b)
{
    unsigned r = rn(100);
    if (r < 25) {
        buf_printf(b, "%d", (int)rn(2001) - 1000);
    } else if (r < 40) {
        int64_t v = (int64_t)rnd();
        if (rn(3) == 0)
            v >>= rn(63);
        buf_printf(b, "%lld", (long long)v);
    } else if (r < 44) {
        // clang-format off
        static const char *edge[] = {"9223372036854775807", "-9223372036854775808",
                                     "9223372036854775806", "-9223372036854775807", "-0",
                                     "0", "-0.0", "0.0", "0e0", "-0e-0", "1E+0",
                                     "9007199254740993", "4.9e-324", "2.2250738585072014e-308",
                                     "1.7976931348623157e308", "1e-400", "-1e-330"};
        // clang-format on
        buf_puts(b, edge[rn(LS_ARRAY_LEN(edge))]);
    } else if (r < 45 && rn(4) == 0) {
        /* outside int64 or overflowing: jansson rejects these */
        static const char *big[] = {"9223372036854775808", "-9223372036854775809",
                                    "123456789012345678901234567890", "1e400", "-2e308"};
        buf_puts(b, big[rn(LS_ARRAY_LEN(big))]);
    } else {
        if (rn(3) == 0)
            buf_putc(b, '-');
        if (rn(3) == 0)
            buf_putc(b, '0');
        else
            put_digits(b, 1 + rn(rn(5) == 0 ? 40 : 12), true);
        if (rn(3)) {
            buf_putc(b, '.');
            put_digits(b, 1 + rn(rn(5) == 0 ? 40 : 10), false);
        }
        if (rn(2)) {
            buf_putc(b, rn(2) ? 'e' : 'E');
            unsigned s = rn(3);
            if (s)
                buf_putc(b, s == 1 ? '+' : '-');
            unsigned e = rn(4) == 0 ? rn(330) : rn(30);
            if (s != 2 && e > 260)
                e = rn(260); /* keep clear of overflow (jansson rejects) */
            buf_printf(b, rn(8) == 0 ? "%03u" : "%u", e);
        }
    }
}

static void gen_value(struct buf *b, unsigned depth);

static void gen_object(struct buf *b, unsigned depth)
{
    static const char *keys[] = {"\"a\"", "\"b\"",         "\"page\"",
                                 "\"\"",  "\"k\\u0065y\"", "\"\xC3\xA9t\xC3\xA9\""};
    buf_putc(b, '{');
    gen_ws(b);
    unsigned n = rn(depth == 1 ? 12 : 5);
    for (unsigned i = 0; i < n; i++) {
        if (i) {
            buf_putc(b, ',');
            gen_ws(b);
        }
        if (rn(4) == 0)
            buf_puts(b, keys[rn(LS_ARRAY_LEN(keys))]);
        else
            gen_string(b, 10);
        gen_ws(b);
        buf_putc(b, ':');
        gen_ws(b);
        gen_value(b, depth + 1);
        gen_ws(b);
    }
    buf_putc(b, '}');
}

static void gen_value(struct buf *b, unsigned depth)
{
    unsigned r = rn(100);
    if (depth < 7 && r < 10) {
        gen_object(b, depth);
    } else if (depth < 7 && r < 20) {
        buf_putc(b, '[');
        gen_ws(b);
        unsigned n = rn(5);
        for (unsigned i = 0; i < n; i++) {
            if (i) {
                buf_putc(b, ',');
                gen_ws(b);
            }
            gen_value(b, depth + 1);
            gen_ws(b);
        }
        buf_putc(b, ']');
    } else if (r < 50) {
        gen_string(b, 24);
    } else if (r < 85) {
        gen_number(b);
    } else {
        static const char *lit[] = {"true", "false", "null"};
        buf_puts(b, lit[rn(3)]);
    }
}

static void mutate(struct buf *b)
{
    static const char interesting[] = "{}[]\":,\\ 0123456789eE.-+tfnu\n\t\r\x80\xC3\xE2\xF0\xBF";
    unsigned ops = 1 + rn(3);
    for (unsigned k = 0; k < ops; k++) {
        size_t n = b->len;
        size_t pos = n ? rnd() % n : 0;
        char c = rn(2) ? interesting[rn(sizeof interesting - 1)] : (char)rn(256);
        switch (rn(5)) {
        case 0: /* replace a byte */
            if (n)
                b->data[pos] = c;
            break;
        case 1: /* flip a bit */
            if (n)
                b->data[pos] = (char)(b->data[pos] ^ (1 << rn(8)));
            break;
        case 2: /* truncate */ b->len = pos; break;
        case 3: { /* insert 1-3 bytes */
            unsigned m = 1 + rn(3);
            buf_append(b, "   ", m); /* grow, then shift */
            memmove(b->data + pos + m, b->data + pos, n - pos);
            for (unsigned i = 0; i < m; i++)
                b->data[pos + i] = rn(2) ? interesting[rn(sizeof interesting - 1)] : (char)rn(256);
            break;
        }
        default: /* delete a byte */
            if (n) {
                memmove(b->data + pos, b->data + pos + 1, n - pos - 1);
                b->len--;
            }
        }
    }
}

/* ---- comparison -------------------------------------------------------- */

static long n_inputs, n_accepted, n_rejected, n_members;
static long skip_nul, skip_overflow, skip_array, skip_raw_nul, n_bom;

static bool values_equal(const struct format_json_value *v, json_t *j, char *why, size_t whylen);

/* Walks a container span with our iterator and compares it member by member. */
static bool span_equal(const struct format_json_value *v, json_t *j, char *why, size_t whylen)
{
    bool is_obj = v->kind == FORMAT_JSON_KIND_OBJECT;
    if (is_obj ? !json_is_object(j) : !json_is_array(j)) {
        snprintf(why, whylen, "container kind differs");
        return false;
    }
    char *scratch = malloc(v->raw_len + 1);
    struct format_json_iter it;
    struct format_json_member m;
    struct lerr err;
    lerr_init(&err);
    bool ok = format_json_iter_init_span(&it, v->raw, v->raw_len, scratch, v->raw_len, &err) == 0;
    size_t count = 0, distinct = 0;
    /* keys seen so far, to count distinct ones (objects here are small) */
    const char *seen_key[64];
    size_t seen_len[64];
    int r = 0;
    while (ok && (r = format_json_iter_next(&it, &m, &err)) == 1) {
        count++;
        if (is_obj) {
            bool dup = false;
            for (size_t i = 0; i < distinct && i < 64; i++)
                if (seen_len[i] == m.key_len && memcmp(seen_key[i], m.key, m.key_len) == 0)
                    dup = true;
            if (!dup) {
                if (distinct < 64) {
                    seen_key[distinct] = m.key;
                    seen_len[distinct] = m.key_len;
                }
                distinct++;
            }
            /* jansson keeps the last duplicate; format_json_find_path() should pick
             * the same one, which also tests it on every nested key. */
            struct format_json_path_step step = {m.key, m.key_len, 0};
            struct format_json_value last;
            char *sc2 = malloc(v->raw_len + 1);
            struct lerr e2;
            lerr_init(&e2);
            int fr =
                format_json_find_path(v->raw, v->raw_len, &step, 1, &last, sc2, v->raw_len, &e2);
            json_t *jv = json_object_getn(j, m.key, m.key_len);
            if (fr != 1 || !jv) {
                snprintf(why, whylen, "nested key %.*s: find %d, jansson %p", (int)m.key_len,
                         m.key, fr, (void *)jv);
                ok = false;
            } else if (!values_equal(&last, jv, why, whylen)) {
                ok = false;
            }
            free(sc2);
        } else {
            json_t *jv = json_array_get(j, m.index);
            if (!jv || !values_equal(&m.v, jv, why, whylen))
                ok = false;
        }
    }
    if (ok && r < 0) {
        snprintf(why, whylen, "span iterator failed: %s", err.msg);
        ok = false;
    }
    if (ok && (is_obj ? distinct != json_object_size(j) : count != json_array_size(j))) {
        snprintf(why, whylen, "container size %zu vs jansson %zu", is_obj ? distinct : count,
                 is_obj ? json_object_size(j) : json_array_size(j));
        ok = false;
    }
    free(scratch);
    return ok;
}

static bool values_equal(const struct format_json_value *v, json_t *j, char *why, size_t whylen)
{
    switch (v->kind) {
    case FORMAT_JSON_KIND_NULL:
        if (json_is_null(j))
            return true;
        break;
    case FORMAT_JSON_KIND_TRUE:
        if (json_is_true(j))
            return true;
        break;
    case FORMAT_JSON_KIND_FALSE:
        if (json_is_false(j))
            return true;
        break;
    case FORMAT_JSON_KIND_STRING:
        if (json_is_string(j) && json_string_length(j) == v->str_len &&
            memcmp(json_string_value(j), v->str, v->str_len) == 0)
            return true;
        break;
    case FORMAT_JSON_KIND_NUMBER:
        if (v->num_flags & FORMAT_JSON_NUM_INT) {
            if (json_is_integer(j) && json_integer_value(j) == v->i && v->d == (double)v->i)
                return true;
        } else if (json_is_real(j)) {
            double jd = json_real_value(j);
            if (memcmp(&jd, &v->d, sizeof jd) == 0)
                return true;
        }
        break;
    case FORMAT_JSON_KIND_OBJECT:
    case FORMAT_JSON_KIND_ARRAY: {
        /* jansson re-parses our raw span to the same value ... */
        json_error_t je;
        json_t *again = json_loadb(v->raw, v->raw_len, JSON_DECODE_ANY, &je);
        bool same = again && json_equal(again, j);
        json_decref(again);
        if (!same) {
            snprintf(why, whylen, "raw span %.*s re-parsed by jansson differs",
                     (int)(v->raw_len > 60 ? 60 : v->raw_len), v->raw);
            return false;
        }
        /* ... and our own span iterator sees the same members */
        return span_equal(v, j, why, whylen);
    }
    }
    snprintf(why, whylen, "value %.*s (kind %d) differs from jansson's (type %d)",
             (int)(v->raw_len > 60 ? 60 : v->raw_len), v->raw, (int)v->kind, (int)json_typeof(j));
    return false;
}

/* Compares one input; returns false (and reports) on an unexplained difference. */
static bool compare(const char *p, size_t n)
{
    n_inputs++;
    char *in = malloc(n ? n : 1); /* exact size: ASan catches over-reads */
    memcpy(in, p, n);
    char *scratch = malloc(n + 1);
    struct format_json_iter it;
    struct lerr err;
    lerr_init(&err);
    size_t cap = 64, count = 0;
    struct format_json_member *ms = malloc(cap * sizeof *ms);
    int r = format_json_iter_init(&it, in, n, scratch, n, &err);
    if (r == 0) {
        while ((r = format_json_iter_next(&it, &ms[count], &err)) == 1) {
            if (++count == cap) {
                cap *= 2;
                ms = realloc(ms, cap * sizeof *ms);
            }
        }
    }
    bool ours = r == 0;

    const char *jp = in;
    size_t jn = n;
    if (n >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0) {
        jp += 3;
        jn -= 3;
        n_bom++;
    }
    json_error_t je;
    json_t *j = json_loadb(jp, jn, 0, &je);
    bool theirs = j != NULL;
    bool ok = true;
    char why[300] = "";

    if (theirs && !json_is_object(j)) {
        skip_array++;
        if (ours) {
            snprintf(why, sizeof why, "jansson read a top-level array, we accepted");
            ok = false;
        }
    } else if (ours && !theirs) {
        int code = json_error_code(&je);
        if (code == json_error_null_character || code == json_error_null_byte_in_key)
            skip_nul++;
        else if (code == json_error_numeric_overflow)
            skip_overflow++;
        else {
            snprintf(why, sizeof why, "we accept, jansson rejects: %s (byte %d)", je.text,
                     je.position);
            ok = false;
        }
    } else if (!ours && theirs && err.code == LERR_INVALID && err.pos > 0 && (size_t)err.pos < n &&
               in[err.pos] == '\0' &&
               ((in[err.pos - 1] >= '0' && in[err.pos - 1] <= '9') ||
                (in[err.pos - 1] >= 'a' && in[err.pos - 1] <= 'z'))) {
        skip_raw_nul++; /* jansson's dropped NUL after a number or literal */
    } else if (!ours && theirs) {
        snprintf(why, sizeof why, "we reject, jansson accepts: %s", err.msg);
        ok = false;
    } else if (ours && theirs) {
        n_accepted++;
        size_t distinct = 0;
        for (size_t i = 0; ok && i < count; i++) {
            bool later = false;
            for (size_t k = i + 1; k < count && !later; k++)
                later = ms[k].key_len == ms[i].key_len &&
                        memcmp(ms[k].key, ms[i].key, ms[i].key_len) == 0;
            if (later)
                continue; /* jansson keeps the last duplicate */
            distinct++;
            n_members++;
            json_t *jv = json_object_getn(j, ms[i].key, ms[i].key_len);
            if (!jv) {
                snprintf(why, sizeof why, "key %.*s missing in jansson", (int)ms[i].key_len,
                         ms[i].key);
                ok = false;
            } else if (!values_equal(&ms[i].v, jv, why, sizeof why)) {
                ok = false;
            }
        }
        if (ok && distinct != json_object_size(j)) {
            snprintf(why, sizeof why, "%zu distinct keys, jansson has %zu", distinct,
                     json_object_size(j));
            ok = false;
        }
    } else {
        n_rejected++;
    }
    if (!ok) {
        fprintf(stderr, "input (%zu bytes): ", n);
        for (size_t i = 0; i < n && i < 400; i++) {
            unsigned char c = (unsigned char)in[i];
            if (c >= 0x20 && c < 0x7f)
                fputc(c, stderr);
            else
                fprintf(stderr, "\\x%02X", c);
        }
        fputc('\n', stderr);
    }
    CHECK_MSG(ok, "input %ld: %s", n_inputs, why);
    json_decref(j);
    free(ms);
    free(scratch);
    free(in);
    return ok;
}

int main(int argc, char **argv)
{
    long docs = argc > 1 ? atol(argv[1]) : 20000;
    long failures = 0;
    struct buf b, m;
    buf_init(&b, 0);
    buf_init(&m, 0);
    for (long i = 0; i < docs && failures < 20; i++) {
        buf_reset(&b);
        plant_errors = rn(20) == 0;
        if (rn(200) == 0)
            buf_puts(&b, "\xEF\xBB\xBF");
        gen_ws(&b);
        gen_object(&b, 1);
        gen_ws(&b);
        if (!compare(b.data, b.len))
            failures++;
        for (int k = 0; k < 2; k++) {
            buf_reset(&m);
            buf_append(&m, b.data, b.len);
            mutate(&m);
            if (!compare(m.data, m.len))
                failures++;
        }
    }
    /* realistic records too: generated wiki edits, as is and mutated */
    struct wikigen *g = wikigen_new(7);
    for (long i = 0; i < 5000 && failures < 20; i++) {
        buf_reset(&b);
        wikigen_next(g, 1442016000000LL + i * 100, &b);
        if (!compare(b.data, b.len))
            failures++;
        buf_reset(&m);
        buf_append(&m, b.data, b.len);
        mutate(&m);
        if (!compare(m.data, m.len))
            failures++;
    }
    wikigen_free(g);
    buf_free(&b);
    buf_free(&m);
    printf("json diff: %ld inputs, %ld accepted by both (%ld members compared), %ld rejected by "
           "both; skipped as intended: %ld \\u0000, %ld number overflow, %ld top-level array, "
           "%ld raw NUL after a number or literal; %ld with a BOM\n",
           n_inputs, n_accepted, n_members, n_rejected, skip_nul, skip_overflow, skip_array,
           skip_raw_nul, n_bom);
    CHECK(n_accepted > 10000);
    return check_summary();
}
