/* test_util.c — errors, arenas, capped buffers, ids, hashing, suggestions, ISO output. */
#include <stdlib.h>

#include <jansson.h>

#include "check.h"
#include "util/util.h"

static void test_errors(void)
{
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(e.code, LERR_OK);
    CHECK_EQ_INT(lerr_set(&e, LERR_INVALID, "first %d", 1), LERR_INVALID);
    lerr_set(&e, LERR_IO, "second");
    CHECK_EQ_STR(e.msg, "first 1"); /* the first error wins */
    CHECK_EQ_INT(e.code, LERR_INVALID);
    lerr_init(&e);
    lerr_set_at(&e, LERR_INVALID, "inputSchema[2].dataType", "bad");
    lerr_prefix_target(&e, "source");
    CHECK_EQ_STR(e.target, "source.inputSchema[2].dataType");
    lerr_init(&e);
    lerr_set_at(&e, LERR_INVALID, "[3]", "bad");
    lerr_prefix_target(&e, "mappings");
    CHECK_EQ_STR(e.target, "mappings[3]");
    // clang-format off
    static const struct { int code; const char *name; int http; } table[] = {
        {LERR_INVALID, "InvalidInput", 400}, {LERR_UNAUTHORIZED, "Unauthorized", 401},
        {LERR_FORBIDDEN, "Forbidden", 403},  {LERR_NOT_FOUND, "NotFound", 404},
        {LERR_CONFLICT, "Conflict", 409},    {LERR_TOO_LARGE, "PayloadTooLarge", 413},
        {LERR_UNAVAILABLE, "ServiceUnavailable", 503}, {LERR_INTERNAL, "InternalError", 500},
    };
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(table); i++) {
        CHECK_EQ_STR(lerr_name(table[i].code), table[i].name);
        CHECK_EQ_INT(lerr_http_status(table[i].code), table[i].http);
    }
    CHECK_EQ_STR(lerr_name(-5), "InternalError");
}

static void test_arena(void)
{
    struct arena a;
    arena_init(&a, 1024, 0);
    char *p = arena_strdup(&a, "hello");
    CHECK_EQ_STR(p, "hello");
    CHECK((uintptr_t)arena_alloc(&a, 3) % 16 == 0);
    void *big = arena_alloc(&a, 100000); /* larger than a block */
    CHECK(big != NULL);
    memset(big, 1, 100000);
    CHECK_EQ_STR(arena_printf(&a, "%d-%s", 42, "x"), "42-x");
    arena_reset(&a);
    CHECK_EQ_INT(a.total, 0);
    CHECK(arena_alloc(&a, 10) != NULL);
    arena_destroy(&a);
    arena_init(&a, 1024, 64); /* capped */
    CHECK(arena_alloc(&a, 48) != NULL);
    CHECK(!a.capped);
    CHECK(arena_alloc(&a, 32) == NULL);
    CHECK(a.capped); /* refused for the cap, not by malloc */
    arena_destroy(&a);

    /* mark and release: everything after the mark goes, what came before stays */
    for (int empty = 0; empty < 2; empty++) {
        arena_init(&a, 1024, 0);
        char *keep = empty ? NULL : arena_strdup(&a, "kept");
        struct arena_mark m;
        arena_mark(&a, &m);
        size_t total = a.total;
        for (int i = 0; i < 50; i++) { /* new blocks, huge blocks behind old and new heads */
            char *q = arena_alloc(&a, i % 7 == 0 ? 5000 : 300);
            CHECK(q != NULL);
            memset(q, 0xab, i % 7 == 0 ? 5000 : 300);
        }
        arena_release(&a, &m);
        CHECK_EQ_INT(a.total, total);
        if (keep)
            CHECK_EQ_STR(keep, "kept");
        char *again = arena_strdup(&a, "again"); /* in a block kept for reuse, or after keep */
        CHECK_EQ_STR(again, "again");
        CHECK_EQ_INT(a.total, total + 16);
        arena_destroy(&a); /* (ASan: nothing leaked, nothing freed twice) */
    }
}

static void test_buf(void)
{
    struct buf b;
    buf_init(&b, 10);
    CHECK_EQ_STR(buf_cstr(&b), "");
    CHECK(buf_puts(&b, "12345"));
    CHECK(buf_printf(&b, "%d", 678));
    CHECK_EQ_STR(buf_cstr(&b), "12345678");
    CHECK(!buf_puts(&b, "abc")); /* past the cap */
    CHECK(b.failed);
    CHECK(!buf_putc(&b, 'x')); /* sticky */
    buf_reset(&b);
    CHECK(buf_puts(&b, "ok"));
    size_t n;
    char *s = buf_steal(&b, &n);
    CHECK_EQ_STR(s, "ok");
    CHECK_EQ_INT(n, 2);
    free(s);
    buf_free(&b);
    /* little-endian u64: byte order, round trip, a short read moves nothing */
    buf_init(&b, 0);
    CHECK(buf_put_le64(&b, 0x0102030405060708ULL) && buf_put_le64(&b, UINT64_MAX));
    CHECK_EQ_INT(b.len, 16);
    CHECK_EQ_INT((unsigned char)b.data[0], 8);
    CHECK_EQ_INT((unsigned char)b.data[7], 1);
    const unsigned char *p = (const unsigned char *)b.data, *e = p + b.len;
    uint64_t v = 0;
    CHECK(util_get_le64(&p, e, &v) && v == 0x0102030405060708ULL);
    CHECK(util_get_le64(&p, e, &v) && v == UINT64_MAX && p == e);
    p = (const unsigned char *)b.data;
    CHECK(!util_get_le64(&p, p + 7, &v) && p == (const unsigned char *)b.data);
    buf_free(&b);
}

static void test_ids_and_hash(void)
{
    char a[37], b[37];
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(util_uuid_v4(a, &e), 0);
    CHECK_EQ_INT(util_uuid_v4(b, &e), 0);
    CHECK(util_uuid_valid(a));
    CHECK(strcmp(a, b) != 0);
    CHECK_EQ_INT(a[14], '4');
    CHECK(strchr("89ab", a[19]) != NULL);
    CHECK(!util_uuid_valid("not-a-uuid"));
    CHECK(!util_uuid_valid("e9b77d70-1b01-42a9-aa1c-56f764d105dZ"));
    char h[65];
    util_sha256_hex("abc", 3, h);
    CHECK_EQ_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    util_sha256_hex("", 0, h);
    CHECK_EQ_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_suggestions(void)
{
    static const char *const words[] = {"TIME_PARSE", "TIME_FORMAT", "CONCAT", NULL};
    CHECK_EQ_STR(util_closest("TIME_PARS", 9, words), "TIME_PARSE");
    CHECK_EQ_STR(util_closest("concta", 6, words), "CONCAT");
    CHECK(util_closest("nothing_like_it", 15, words) == NULL);
    CHECK_EQ_INT(util_edit_distance("kitten", 6, "sitting", 7), 3);
    CHECK_EQ_INT(util_edit_distance("", 0, "abc", 3), 3);
    static const char *const gran[] = {"hour", "day", "week", NULL};
    CHECK_EQ_STR(util_closest("daily", 5, gran), "day");
}

static void test_iso(void)
{
    char out[40];
    util_format_iso_ms(0, out);
    CHECK_EQ_STR(out, "1970-01-01T00:00:00.000Z");
    util_format_iso_ms(1442018818771LL, out);
    CHECK_EQ_STR(out, "2015-09-12T00:46:58.771Z");
    util_format_iso_ms(-1, out);
    CHECK_EQ_STR(out, "1969-12-31T23:59:59.999Z");
    util_format_iso_ns(1679612457235117332LL, out);
    CHECK_EQ_STR(out, "2023-03-23T23:00:57.235117332Z");
}

/* util_json_text (JSON log lines) against jansson: random bytes, escaped and
 * quoted, always parse; valid UTF-8 comes back unchanged; invalid bytes
 * become U+FFFD; a small buffer cuts at a whole character. */
static void test_json_text(void)
{
    uint64_t x = 88172645463325252ull;
    char in[64], out[512], quoted[520];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0;
        size_t len = (size_t)(x % 40);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned char b = (unsigned char)x;
            if (iter % 2 && b >= 0x80 && i + 1 < len) { /* often valid: é, 日, 😀 pieces */
                static const char *const pieces[] = {"\xc3\xa9", "\xe6\x97\xa5",
                                                     "\xf0\x9f\x98\x80"};
                const char *p = pieces[b % 3];
                while (*p && n < sizeof in - 1)
                    in[n++] = *p++;
                continue;
            }
            if (b == 0)
                b = 1;
            if (n < sizeof in - 1)
                in[n++] = (char)b;
        }
        in[n] = 0;
        size_t m = util_json_text(out, sizeof out, in);
        CHECK(m == strlen(out));
        snprintf(quoted, sizeof quoted, "\"%s\"", out);
        json_error_t je;
        json_t *j = json_loads(quoted, JSON_DECODE_ANY, &je);
        CHECK_MSG(j && json_is_string(j), "not JSON: %s (%s)", quoted, je.text);
        /* valid UTF-8 in, the same text out */
        json_t *direct = json_stringn(in, n);
        if (j && direct)
            CHECK_MSG(strcmp(json_string_value(j), in) == 0, "changed: %s", in);
        if (j && !direct)
            CHECK(strstr(json_string_value(j), "\xef\xbf\xbd") != NULL);
        json_decref(direct);
        json_decref(j);
    }
    /* cut at a whole character */
    char small[6];
    util_json_text(small, sizeof small,
                   "ab\xe6\x97\xa5"
                   "cd");
    CHECK_EQ_STR(small, "ab\xe6\x97\xa5");
    util_json_text(small, sizeof small, "a\"b\\c");
    CHECK_EQ_STR(small, "a\\\"b");
}

int main(void)
{
    test_errors();
    test_json_text();
    test_arena();
    test_buf();
    test_ids_and_hash();
    test_suggestions();
    test_iso();
    return check_summary();
}
