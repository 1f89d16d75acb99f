/*
 * test_json.c — table-driven tests of the nd-json record scanner
 * (src/format/json.c): escapes, surrogates, UTF-8 validation, numbers at the
 * edges, records with BOM/CRLF/whitespace, nesting limits, trailing garbage,
 * every error with its byte position, nested spans, paths and the writer.
 *
 * Each case is an input and the expected rendering of what the scanner saw:
 * members as `key=VALUE` joined by spaces, or `ERR@pos` for a rejected record.
 */
#include "check.h"
#include "format/json.h"

#include <float.h>
#include <stdlib.h>

/* Renders bytes with anything outside printable ASCII (and '\') as \xHH. */
static void put_bytes(struct buf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            buf_putc(b, (char)c);
        else
            buf_printf(b, "\\x%02X", c);
    }
}

static void put_value(struct buf *b, const struct format_json_value *v)
{
    switch (v->kind) {
    case FORMAT_JSON_KIND_NULL: buf_puts(b, "N"); break;
    case FORMAT_JSON_KIND_TRUE: buf_puts(b, "T"); break;
    case FORMAT_JSON_KIND_FALSE: buf_puts(b, "F"); break;
    case FORMAT_JSON_KIND_STRING:
        buf_puts(b, "S(");
        put_bytes(b, v->str, v->str_len);
        buf_puts(b, ")");
        break;
    case FORMAT_JSON_KIND_NUMBER:
        if (v->num_flags & FORMAT_JSON_NUM_INT)
            buf_printf(b, "I(%lld)", (long long)v->i);
        else
            buf_printf(b, "D(%.17g)", v->d);
        if (v->num_flags & FORMAT_JSON_NUM_OVERFLOW)
            buf_puts(b, "+ovf");
        if (v->num_flags & FORMAT_JSON_NUM_UNDERFLOW)
            buf_puts(b, "+unf");
        if (v->num_flags & FORMAT_JSON_NUM_NEGZERO)
            buf_puts(b, "+negz");
        break;
    case FORMAT_JSON_KIND_OBJECT:
    case FORMAT_JSON_KIND_ARRAY:
        buf_puts(b, v->kind == FORMAT_JSON_KIND_OBJECT ? "O(" : "A(");
        put_bytes(b, v->raw, v->raw_len);
        buf_puts(b, ")");
        break;
    }
}

/* Scans a record; returns the rendering (static storage) and the error. */
static const char *scan(const char *p, size_t n, struct lerr *err)
{
    static struct buf out;
    static char *scratch;
    buf_free(&out);
    buf_init(&out, 0);
    free(scratch);
    scratch = malloc(n + 1);
    lerr_init(err);
    struct format_json_iter it;
    struct format_json_member m;
    int r = format_json_iter_init(&it, p, n, scratch, n, err);
    while (r == 0 && (r = format_json_iter_next(&it, &m, err)) == 1) {
        if (out.len)
            buf_putc(&out, ' ');
        put_bytes(&out, m.key, m.key_len);
        buf_putc(&out, '=');
        put_value(&out, &m.v);
        /* the raw span of scalars is exactly their text too */
        CHECK(m.v.raw >= p && m.v.raw + m.v.raw_len <= p + n);
        r = 0;
    }
    if (r < 0) {
        buf_reset(&out);
        buf_printf(&out, "ERR@%lld", (long long)err->pos);
    }
    return buf_cstr(&out);
}

struct scase {
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *want;
};

static const struct scase cases[] = {
    /* escapes */
    {"{\"a\":\"\\n\\t\\\"\\\\\\/\\b\\f\\r\"}", 0, "a=S(\\x0A\\x09\"\\x5C/\\x08\\x0C\\x0D)"},
    {"{\"a\":\"x\\u0041\\u00e9\\u20AC\\ud83d\\ude00y\"}", 0,
     "a=S(xA\\xC3\\xA9\\xE2\\x82\\xAC\\xF0\\x9F\\x98\\x80y)"},
    {"{\"a\":\"\\uD83D\\uDE00\"}", 0, "a=S(\\xF0\\x9F\\x98\\x80)"},
    {"{\"a\":\"\\udbff\\udfff\"}", 0, "a=S(\\xF4\\x8F\\xBF\\xBF)"},
    {"{\"a\":\"\\u0000\"}", 0, "a=S(\\x00)"},
    {"{\"k\\u0065y\":1,\"plain\":\"caf\xC3\xA9\"}", 0, "key=I(1) plain=S(caf\\xC3\\xA9)"},
    {"{\"a\":\"\",\"\":\"\"}", 0, "a=S() =S()"},
    {"{\"a\":\"0123456789abcdef0123456789\\\"tail\"}", 0, "a=S(0123456789abcdef0123456789\"tail)"},
    /* unpaired surrogates and bad escapes: the position is the backslash */
    {"{\"a\":\"\\ud83d\"}", 0, "ERR@6"},
    {"{\"a\":\"\\ude00\"}", 0, "ERR@6"},
    {"{\"a\":\"x\\ud83dx\"}", 0, "ERR@7"},
    {"{\"a\":\"\\ud83d\\u0041\"}", 0, "ERR@6"},
    {"{\"a\":\"\\ud83d\\ud83d\"}", 0, "ERR@6"},
    {"{\"a\":\"\\ud83d\\\"\"}", 0, "ERR@6"},
    {"{\"a\":\"\\x\"}", 0, "ERR@6"},
    {"{\"a\":\"\\u12\"}", 0, "ERR@6"},
    {"{\"a\":\"\\u12G4\"}", 0, "ERR@6"},
    {"{\"a\":\"\\U0041\"}", 0, "ERR@6"},
    {"{\"a\":\"\\", 0, "ERR@7"},
    /* control characters */
    {"{\"a\":\"x\ny\"}", 0, "ERR@7"},
    {"{\"a\":\"x\ty\"}", 0, "ERR@7"},
    {"{\"a\":\"\x1f\"}", 0, "ERR@6"},
    {"{\"a\":\"\x00\"}", 9, "ERR@6"},
    {"{\"a\":\"\\n\x01\"}", 0, "ERR@8"},
    {"{\"a\":\"x\x7f\"}", 0, "a=S(x\\x7F)"},
    /* UTF-8 */
    {"{\"a\":\"\xC0\x80\"}", 0, "ERR@6"},         /* overlong NUL */
    {"{\"a\":\"\xC1\xBF\"}", 0, "ERR@6"},         /* overlong 2-byte */
    {"{\"a\":\"\xE0\x80\x80\"}", 0, "ERR@6"},     /* overlong 3-byte */
    {"{\"a\":\"\xE0\x9F\xBF\"}", 0, "ERR@6"},     /* overlong 3-byte, top */
    {"{\"a\":\"\xF0\x8F\xBF\xBF\"}", 0, "ERR@6"}, /* overlong 4-byte */
    {"{\"a\":\"\xED\xA0\x80\"}", 0, "ERR@6"},     /* UTF-8 encoded surrogate */
    {"{\"a\":\"\xED\xBF\xBF\"}", 0, "ERR@6"},
    {"{\"a\":\"\xF4\x90\x80\x80\"}", 0, "ERR@6"}, /* > U+10FFFF */
    {"{\"a\":\"\xF5\x80\x80\x80\"}", 0, "ERR@6"},
    {"{\"a\":\"\xFF\"}", 0, "ERR@6"},
    {"{\"a\":\"ok\x80\"}", 0, "ERR@8"},   /* stray continuation */
    {"{\"a\":\"\xE2\x82\"}", 0, "ERR@6"}, /* truncated by the quote */
    {"{\"a\":\"\xE2\x82", 0, "ERR@6"},    /* truncated by the end */
    {"{\"a\":\"\xF0\x9F\x98\"}", 0, "ERR@6"},
    {"{\"a\":\"\\n\xC3\"}", 0, "ERR@8"},  /* after an escape (slow path) */
    {"{\"\xC3\x28\":1}", 0, "ERR@2"},     /* in a key */
    {"{\"a\":1,\xC3\xA9:1}", 0, "ERR@7"}, /* outside strings */
    {"{\"a\":\"\xF4\x8F\xBF\xBF\xEF\xBF\xBF\xED\x9F\xBF\xE0\xA0\x80\xC2\x80\"}", 0,
     "a=S(\\xF4\\x8F\\xBF\\xBF\\xEF\\xBF\\xBF\\xED\\x9F\\xBF\\xE0\\xA0\\x80\\xC2\\x80)"},
    {"{\"a\":\"\xE4\xB8\xAD\xE6\x96\x87 \xD0\xBA\xD0\xB8\xD1\x80 \xF0\x9F\x98\x80\"}", 0,
     "a=S(\\xE4\\xB8\\xAD\\xE6\\x96\\x87 \\xD0\\xBA\\xD0\\xB8\\xD1\\x80 \\xF0\\x9F\\x98\\x80)"},
    /* numbers */
    {"{\"a\":0,\"b\":-1,\"c\":42,\"d\":123456789012}", 0,
     "a=I(0) b=I(-1) c=I(42) d=I(123456789012)"},
    {"{\"a\":9223372036854775807}", 0, "a=I(9223372036854775807)"},
    {"{\"a\":9223372036854775808}", 0, "a=D(9.2233720368547758e+18)"},
    {"{\"a\":-9223372036854775808}", 0, "a=I(-9223372036854775808)"},
    {"{\"a\":-9223372036854775809}", 0, "a=D(-9.2233720368547758e+18)"},
    {"{\"a\":9999999999999999999}", 0, "a=D(1e+19)"},
    {"{\"a\":123456789012345678901234567890}", 0, "a=D(1.2345678901234568e+29)"},
    {"{\"a\":1e308,\"b\":1.7976931348623157e308}", 0, "a=D(1e+308) b=D(1.7976931348623157e+308)"},
    {"{\"a\":1e400,\"b\":-1e400,\"c\":1.8e308}", 0, "a=D(inf)+ovf b=D(-inf)+ovf c=D(inf)+ovf"},
    {"{\"a\":1e99999999999999999999}", 0, "a=D(inf)+ovf"},
    {"{\"a\":1e-400,\"b\":-1e-400}", 0, "a=D(0)+unf b=D(-0)+unf+negz"},
    {"{\"a\":0e99999,\"b\":0.000e-5,\"c\":-0e1}", 0, "a=D(0) b=D(0) c=D(-0)+negz"},
    {"{\"a\":-0,\"b\":-0.0,\"c\":0.0}", 0, "a=I(0)+negz b=D(-0)+negz c=D(0)"},
    {"{\"a\":0.1,\"b\":1.5e10,\"c\":1E+2,\"d\":1e-2,\"e\":123.456e-5}", 0,
     "a=D(0.10000000000000001) b=D(15000000000) c=D(100) d=D(0.01) e=D(0.00123456)"},
    {"{\"a\":3.14159265358979323846264338327950288}", 0, "a=D(3.1415926535897931)"},
    {"{\"a\":2.2250738585072011e-308}", 0, "a=D(2.2250738585072009e-308)"},
    {"{\"a\":4.9e-324,\"b\":2.4703282292062327e-324,\"c\":2.4703282292062328e-324}", 0,
     "a=D(4.9406564584124654e-324) b=D(0)+unf c=D(4.9406564584124654e-324)"},
    {"{\"a\":0.000000000000000000000000000001}", 0, "a=D(1.0000000000000001e-30)"},
    {"{\"a\":9007199254740993}", 0, "a=I(9007199254740993)"},
    {"{\"a\":9007199254740993.0}", 0, "a=D(9007199254740992)"},
    {"{\"a\":9007199254740993.00001}", 0, "a=D(9007199254740994)"},
    {"{\"a\":1e22,\"b\":1e23,\"c\":8.5e-23}", 0,
     "a=D(1e+22) b=D(9.9999999999999992e+22) c=D(8.4999999999999996e-23)"},
    {"{\"a\":01}", 0, "ERR@5"},
    {"{\"a\":-01}", 0, "ERR@6"},
    {"{\"a\":00}", 0, "ERR@5"},
    {"{\"a\":1.}", 0, "ERR@7"},
    {"{\"a\":1.e5}", 0, "ERR@7"},
    {"{\"a\":.5}", 0, "ERR@5"},
    {"{\"a\":-.5}", 0, "ERR@6"},
    {"{\"a\":-}", 0, "ERR@6"},
    {"{\"a\":+1}", 0, "ERR@5"},
    {"{\"a\":1e}", 0, "ERR@7"},
    {"{\"a\":1e+}", 0, "ERR@8"},
    {"{\"a\":0x10}", 0, "ERR@6"},
    {"{\"a\":1.5.2}", 0, "ERR@8"},
    {"{\"a\":Infinity}", 0, "ERR@5"},
    {"{\"a\":NaN}", 0, "ERR@5"},
    {"{\"a\":1", 0, "ERR@6"},
    {"{\"a\":[01]}", 0, "ERR@6"},
    {"{\"a\":[1.]}", 0, "ERR@8"},
    /* literals */
    {"{\"t\":true,\"f\":false,\"n\":null}", 0, "t=T f=F n=N"},
    {"{\"a\":tru}", 0, "ERR@5"},
    {"{\"a\":nul", 0, "ERR@5"},
    {"{\"a\":truex}", 0, "ERR@9"},
    {"{\"a\":True}", 0, "ERR@5"},
    {"{\"a\":[true,fals]}", 0, "ERR@11"},
    /* empty records, whitespace, CRLF, BOM */
    {"", 0, "ERR@0"},
    {"   \r\n\t", 0, "ERR@0"},
    {"\xEF\xBB\xBF", 0, "ERR@0"},
    {"{}", 0, ""},
    {" {\t\"a\" :\n1 , \"b\" : [ ] }\r\n", 0, "a=I(1) b=A([ ])"},
    {"{\"a\":1}\r", 0, "a=I(1)"},
    {"\xEF\xBB\xBF{\"a\":1}", 0, "a=I(1)"},
    {"\xEF\xBB\xBF{\"a\":}", 0, "ERR@8"},
    {"\xEF\xBB{}", 0, "ERR@0"},
    {" \xEF\xBB\xBF{}", 0, "ERR@1"},
    /* trailing garbage, not an object */
    {"{\"a\":1}x", 0, "ERR@7"},
    {"{\"a\":1} {\"b\":2}", 0, "ERR@8"},
    {"{\"a\":1}}", 0, "ERR@7"},
    {"{\"a\":1}\x00", 8, "ERR@7"},
    {"[1]", 0, "ERR@0"},
    {"\"x\"", 0, "ERR@0"},
    {"1", 0, "ERR@0"},
    {"  null", 0, "ERR@2"},
    /* structure */
    {"{\"a\" 1}", 0, "ERR@5"},
    {"{\"a\":1,}", 0, "ERR@7"},
    {"{\"a\":1 \"b\":2}", 0, "ERR@7"},
    {"{a:1}", 0, "ERR@1"},
    {"{\"a\":}", 0, "ERR@5"},
    {"{\"a\":", 0, "ERR@5"},
    {"{", 0, "ERR@1"},
    {"{\"a\"", 0, "ERR@4"},
    {"{,}", 0, "ERR@1"},
    {"{\"a\":1,,\"b\":2}", 0, "ERR@7"},
    {"{\"a\":\"abc", 0, "ERR@9"},
    {"{\"a\":[1,]}", 0, "ERR@8"},
    {"{\"a\":[1 2]}", 0, "ERR@8"},
    {"{\"a\":[1}", 0, "ERR@7"},
    {"{\"a\":{\"b\" 1}}", 0, "ERR@10"},
    {"{\"a\":{\"b\":1,}}", 0, "ERR@12"},
    {"{\"a\":{\"b\":1]}", 0, "ERR@11"},
    {"{\"a\":{1:2}}", 0, "ERR@6"},
    {"{\"a\":[", 0, "ERR@6"},
    {"{\"a\":[\"x\\q\"]}", 0, "ERR@8"},
    {"{\"a\":{\"b\":[\"\xC0\"]}}", 0, "ERR@12"},
    /* nested spans and duplicates */
    {"{\"a\": {\"b\": [1, {\"c\": \"d\"}]} , \"e\": [ ],\"f\":{}}", 0,
     "a=O({\"b\": [1, {\"c\": \"d\"}]}) e=A([ ]) f=O({})"},
    {"{\"a\":[[[[\"]\"]]],{\"}\":\"{\"}]}", 0, "a=A([[[[\"]\"]]],{\"}\":\"{\"}])"},
    {"{\"a\":1,\"a\":2}", 0, "a=I(1) a=I(2)"},
};

static void test_table(void)
{
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        const struct scase *c = &cases[i];
        size_t n = c->len ? c->len : strlen(c->in);
        /* copy to an exact-size heap block so ASan catches any over-read */
        char *in = malloc(n ? n : 1);
        memcpy(in, c->in, n);
        struct lerr err;
        const char *got = scan(in, n, &err);
        CHECK_MSG(strcmp(got, c->want) == 0, "case %zu %s: got \"%s\", want \"%s\" (%s)", i, c->in,
                  got, c->want, err.msg);
        if (strncmp(c->want, "ERR@", 4) == 0)
            CHECK_MSG(err.code == LERR_INVALID, "case %zu: code %d", i, err.code);
        free(in);
    }
}

static void test_messages(void)
{
    struct lerr err;
    scan("{\"page\" 1}", 10, &err);
    CHECK_EQ_STR(err.msg, "invalid JSON at byte 8: expected ':' after object key \"page\"");
    CHECK_EQ_INT(err.pos, 8);
    scan("", 0, &err);
    CHECK_EQ_STR(err.msg, "empty record");
    CHECK_EQ_INT(err.code, LERR_INVALID);
    scan("[1]", 3, &err);
    CHECK_EQ_STR(
        err.msg,
        "invalid JSON at byte 0: expected '{': a record must be a JSON object, found '['");
    scan("{\"a\":1}x", 8, &err);
    CHECK_EQ_STR(err.msg, "invalid JSON at byte 7: unexpected 'x' after the object");
    scan("{\"a\":01}", 8, &err);
    CHECK_EQ_STR(err.msg, "invalid JSON at byte 5: leading zeros are not allowed in numbers");
    scan("{\"a\":\"\\ud83d\"}", 14, &err);
    CHECK_EQ_STR(err.msg, "invalid JSON at byte 6: unpaired surrogate \\uD83D in string");
    scan("{\"a\":\"\xC0\x80\"}", 10, &err);
    CHECK_EQ_STR(err.msg, "invalid JSON at byte 6: invalid UTF-8 byte 0xC0 in string");
    scan("{\"a\":[1 2]}", 11, &err);
    CHECK_EQ_STR(err.msg,
                 "invalid JSON at byte 8: expected ',' or ']' after an array element, found '2'");
    scan("{\"a\":\"abc", 9, &err);
    CHECK_EQ_STR(err.msg, "invalid JSON at byte 9: unterminated string (opened at byte 5)");
    /* long keys are cut in messages */
    char longkey[200];
    snprintf(longkey, sizeof longkey, "{\"%s\" 1}",
             "0123456789012345678901234567890123456789012345678901234567890123456789");
    scan(longkey, strlen(longkey), &err);
    CHECK(strlen(err.msg) < 120);
    CHECK_EQ_INT(err.pos, 74);
}

static void test_depth(void)
{
    /* the record's object is level 1: 127 nested arrays make 128 levels */
    for (int extra = 0; extra <= 1; extra++) {
        int levels = 127 + extra;
        struct buf b;
        buf_init(&b, 0);
        buf_puts(&b, "{\"a\":");
        for (int i = 0; i < levels; i++)
            buf_putc(&b, i % 2 ? '[' : '[');
        for (int i = 0; i < levels; i++)
            buf_putc(&b, ']');
        buf_puts(&b, "}");
        struct lerr err;
        const char *got = scan(b.data, b.len, &err);
        if (!extra) {
            CHECK_MSG(strncmp(got, "a=A([[[", 7) == 0, "depth 128: %s", err.msg);
        } else {
            CHECK_EQ_STR(got, "ERR@132");
            CHECK_EQ_STR(err.msg, "invalid JSON at byte 132: nesting deeper than 128 levels");
        }
        buf_free(&b);
    }
    /* objects count the same way */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{");
    for (int i = 0; i < 128; i++)
        buf_puts(&b, "\"k\":{");
    for (int i = 0; i < 128; i++)
        buf_putc(&b, '}');
    buf_putc(&b, '}');
    struct lerr err;
    CHECK_EQ_STR(scan(b.data, b.len, &err), "ERR@640");
    /* a million open brackets neither crash nor recurse */
    buf_reset(&b);
    buf_puts(&b, "{\"a\":");
    for (int i = 0; i < 1000000; i++)
        buf_putc(&b, '[');
    CHECK_EQ_STR(scan(b.data, b.len, &err), "ERR@132");
    buf_free(&b);
}

static void test_scratch(void)
{
    const char *rec = "{\"a\":\"x\\ny\",\"b\\u0062\":\"plain\"}";
    size_t n = strlen(rec);
    struct format_json_iter it;
    struct format_json_member m;
    struct lerr err;
    /* no scratch: fine until a string needs decoding */
    lerr_init(&err);
    CHECK_EQ_INT(format_json_iter_init(&it, rec, n, NULL, 0, &err), 0);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), -1);
    CHECK_EQ_INT(err.code, LERR_TOO_LARGE);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), -1); /* sticky */
    /* too small */
    char small[3];
    lerr_init(&err);
    format_json_iter_init(&it, rec, n, small, sizeof small, &err);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 1);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), -1);
    CHECK_EQ_INT(err.code, LERR_TOO_LARGE);
    /* strings without escapes point into the input */
    char sc[64];
    lerr_init(&err);
    format_json_iter_init(&it, rec, n, sc, sizeof sc, &err);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 1);
    CHECK(m.v.str >= sc && m.v.str < sc + sizeof sc);
    CHECK(m.key == rec + 2);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 1);
    CHECK(m.key >= sc && m.key < sc + sizeof sc);
    CHECK_EQ_INT(m.key_len, 2);
    CHECK(memcmp(m.key, "bb", 2) == 0);
    CHECK(m.v.str > rec && m.v.str < rec + n);
    CHECK_EQ_INT(m.index, 1);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 0);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 0);
    CHECK_EQ_INT(err.code, LERR_OK);
}

static void test_spans_and_paths(void)
{
    const char *rec =
        "{\"a\":{\"b\":[10,{\"c\":\"x\\ty\"},[true]],\"b2\":null},\"a\":{\"b\":[20]},"
        "\"s\":\"str\"}";
    size_t n = strlen(rec);
    char sc[256];
    struct lerr err;
    struct format_json_value v;
    lerr_init(&err);

    /* the last duplicate wins */
    struct format_json_path_step p1[] = {{"a", 1, 0}, {"b", 1, 0}, {NULL, 0, 0}};
    CHECK_EQ_INT(format_json_find_path(rec, n, p1, 3, &v, sc, sizeof sc, &err), 1);
    CHECK_EQ_INT(v.kind, FORMAT_JSON_KIND_NUMBER);
    CHECK_EQ_INT(v.i, 20);

    /* inside the first "a", by its raw span */
    struct format_json_iter it;
    struct format_json_member m;
    format_json_iter_init(&it, rec, n, sc, sizeof sc, &err);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 1);
    CHECK_EQ_INT(m.v.kind, FORMAT_JSON_KIND_OBJECT);
    const char *a = m.v.raw;
    size_t alen = m.v.raw_len;
    struct format_json_path_step p2[] = {{"b", 1, 0}, {NULL, 0, 1}, {"c", 1, 0}};
    char sc2[64];
    CHECK_EQ_INT(format_json_find_path(a, alen, p2, 3, &v, sc2, sizeof sc2, &err), 1);
    CHECK_EQ_INT(v.kind, FORMAT_JSON_KIND_STRING);
    CHECK(v.str_len == 3 && memcmp(v.str, "x\ty", 3) == 0);
    struct format_json_path_step p3[] = {{"b", 1, 0}, {NULL, 0, 2}};
    CHECK_EQ_INT(format_json_find_path(a, alen, p3, 2, &v, sc2, sizeof sc2, &err), 1);
    CHECK_EQ_INT(v.kind, FORMAT_JSON_KIND_ARRAY);
    CHECK(v.raw_len == 6 && memcmp(v.raw, "[true]", 6) == 0);
    struct format_json_path_step p4[] = {{"b", 1, 0}, {NULL, 0, 3}};
    CHECK_EQ_INT(format_json_find_path(a, alen, p4, 2, &v, sc2, sizeof sc2, &err), 0);
    struct format_json_path_step p5[] = {{"b", 1, 0}, {"c", 1, 0}};
    CHECK_EQ_INT(format_json_find_path(a, alen, p5, 2, &v, sc2, sizeof sc2, &err), 0);
    struct format_json_path_step p6[] = {{"zz", 2, 0}};
    CHECK_EQ_INT(format_json_find_path(a, alen, p6, 1, &v, sc2, sizeof sc2, &err), 0);
    struct format_json_path_step p7[] = {{"b2", 2, 0}, {"x", 1, 0}};
    CHECK_EQ_INT(format_json_find_path(a, alen, p7, 2, &v, sc2, sizeof sc2, &err), 0);
    CHECK_EQ_INT(format_json_find_path(a, alen, NULL, 0, &v, sc2, sizeof sc2, &err), 1);
    CHECK_EQ_INT(v.kind, FORMAT_JSON_KIND_OBJECT);
    CHECK_EQ_INT(err.code, LERR_OK);

    /* iterate an array span */
    const char *arr = " [1, \"two\", {\"x\":3}, [], null] ";
    format_json_iter_init_span(&it, arr, strlen(arr), sc, sizeof sc, &err);
    int kinds[8], k = 0, r;
    while ((r = format_json_iter_next(&it, &m, &err)) == 1 && k < 8) {
        CHECK(m.key == NULL);
        CHECK_EQ_INT(m.index, (size_t)k);
        kinds[k++] = (int)m.v.kind;
    }
    CHECK_EQ_INT(r, 0);
    CHECK_EQ_INT(k, 5);
    CHECK(kinds[0] == FORMAT_JSON_KIND_NUMBER && kinds[1] == FORMAT_JSON_KIND_STRING &&
          kinds[2] == FORMAT_JSON_KIND_OBJECT && kinds[3] == FORMAT_JSON_KIND_ARRAY &&
          kinds[4] == FORMAT_JSON_KIND_NULL);

    /* an error on the path, positioned in the whole span */
    const char *bad = "{\"a\":{\"b\":[1,}]}}";
    struct format_json_path_step p8[] = {{"a", 1, 0}, {"b", 1, 0}, {NULL, 0, 1}};
    lerr_init(&err);
    CHECK_EQ_INT(format_json_find_path(bad, strlen(bad), p8, 3, &v, sc, sizeof sc, &err), -1);
    CHECK_EQ_INT(err.pos, 13);
    CHECK_EQ_STR(err.msg, "invalid JSON at byte 13: expected a value, found '}'");
}

static void test_parse_value(void)
{
    char sc[64];
    struct format_json_value v;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(format_json_parse_value(" 12 ", 4, &v, sc, sizeof sc, &err), 0);
    CHECK(v.kind == FORMAT_JSON_KIND_NUMBER && v.i == 12 && (v.num_flags & FORMAT_JSON_NUM_INT));
    CHECK_EQ_INT(format_json_parse_value("\"a\\u00e9\"", 9, &v, sc, sizeof sc, &err), 0);
    CHECK(v.kind == FORMAT_JSON_KIND_STRING && v.str_len == 3 &&
          memcmp(v.str, "a\xC3\xA9", 3) == 0);
    CHECK_EQ_INT(format_json_parse_value("[1,2]", 5, &v, sc, sizeof sc, &err), 0);
    CHECK(v.kind == FORMAT_JSON_KIND_ARRAY && v.raw_len == 5);
    CHECK_EQ_INT(format_json_parse_value("false", 5, &v, sc, sizeof sc, &err), 0);
    CHECK_EQ_INT(v.kind, FORMAT_JSON_KIND_FALSE);
    CHECK_EQ_INT(format_json_parse_value("1 2", 3, &v, sc, sizeof sc, &err), -1);
    CHECK_EQ_INT(err.pos, 2);
    lerr_init(&err);
    CHECK_EQ_INT(format_json_parse_value("  ", 2, &v, sc, sizeof sc, &err), -1);
    CHECK_EQ_STR(err.msg, "empty JSON value");
}

static void test_numbers_vs_strtod(void)
{
    /* slow-path numbers must round exactly like strtod on the same text */
    const char *nums[] = {
        "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-324",
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9999999999999999999999999999999999999999999999999999999999999999999999",
        "1797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977919999999999999999999999999999999999999999999999999e-1",
        "0.1000000000000000055511151231257827021181583404541015625",
        "0.10000000000000000555111512312578270211815834045410156250000000000000001",
        "123456789012345678901234567890e-40",
        "7.2057594037927933e+16",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "9007199254740993",
        "-0.00000000000000000000000000000000000000000000000000000000000000000000000001e-250",
        "5e-324",
        "1e-325",
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(nums); i++) {
        char rec[2048];
        snprintf(rec, sizeof rec, "{\"n\":%s}", nums[i]);
        char sc[8];
        struct format_json_iter it;
        struct format_json_member m;
        struct lerr err;
        lerr_init(&err);
        format_json_iter_init(&it, rec, strlen(rec), sc, sizeof sc, &err);
        CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 1);
        double want = strtod(nums[i], NULL);
        CHECK_MSG(memcmp(&m.v.d, &want, sizeof want) == 0, "%.40s...: got %.17g, want %.17g",
                  nums[i], m.v.d, want);
    }
    /* a 2000-digit integer just below 1e2000 overflows; 1 followed by zeros with a
     * point inside the digits rounds like strtod */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"n\":");
    for (int i = 0; i < 2000; i++)
        buf_putc(&b, '9');
    buf_puts(&b, "}");
    char sc[8];
    struct format_json_iter it;
    struct format_json_member m;
    struct lerr err;
    lerr_init(&err);
    format_json_iter_init(&it, b.data, b.len, sc, sizeof sc, &err);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 1);
    CHECK(isinf(m.v.d) && (m.v.num_flags & FORMAT_JSON_NUM_OVERFLOW));
    buf_reset(&b);
    buf_puts(&b, "{\"n\":1");
    for (int i = 0; i < 300; i++)
        buf_putc(&b, '0');
    buf_puts(&b, ".");
    for (int i = 0; i < 1000; i++)
        buf_putc(&b, (char)('0' + (i * 7) % 10));
    buf_puts(&b, "e-5}");
    format_json_iter_init(&it, b.data, b.len, sc, sizeof sc, &err);
    CHECK_EQ_INT(format_json_iter_next(&it, &m, &err), 1);
    double want = strtod(b.data + 5, NULL);
    CHECK_MSG(m.v.d == want, "long: got %.17g want %.17g", m.v.d, want);
    buf_free(&b);
}

static void test_writer(void)
{
    struct buf b;
    buf_init(&b, 0);
    const char in[] = "a\"b\\c/\n\t\r\b\f\x01\x1f\x7f\xC3\xA9\xF0\x9F\x98\x80\xFF\xC3 z";
    CHECK(format_json_write_string(&b, in, sizeof in - 1));
    CHECK_EQ_STR(buf_cstr(&b),
                 "\"a\\\"b\\\\c/\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\xC3\xA9\xF0\x9F\x98\x80"
                 "\xEF\xBF\xBD\xEF\xBF\xBD z\"");
    buf_reset(&b);
    CHECK(format_json_write_string(&b, "", 0));
    CHECK_EQ_STR(buf_cstr(&b), "\"\"");
    /* NUL bytes survive a round trip */
    buf_reset(&b);
    buf_puts(&b, "{\"k\":");
    format_json_write_string(&b, "x\0y0123456789abcdefghijklmnopqrstuvwxyz", 39);
    buf_puts(&b, "}");
    struct lerr err;
    CHECK_EQ_STR(scan(b.data, b.len, &err), "k=S(x\\x00y0123456789abcdefghijklmnopqrstuvwxyz)");
    buf_free(&b);
    /* a capped buffer fails cleanly */
    buf_init(&b, 4);
    CHECK(!format_json_write_string(&b, "abcdef", 6));
    buf_free(&b);
}

int main(void)
{
    test_table();
    test_messages();
    test_depth();
    test_scratch();
    test_spans_and_paths();
    test_parse_value();
    test_numbers_vs_strtod();
    test_writer();
    return check_summary();
}
