/*
 * test_format_avro.c — the Avro formats (format/avro.c): every type and
 * logical type of avro_stream into declared and discovered fields, nested
 * values as JSON and through flattenSpec paths, the kafka wrapper around
 * Avro values, damaged records (each with its reason and byte offset),
 * object container files (null and deflate codecs, damaged blocks), the
 * Confluent framing (registry.h) and bad settings. Records are encoded here
 * by hand (enc_*), byte for byte as the Avro specification says.
 */
#include <zlib.h>

#include "format/registry.h"
#include "format_test.h"

/* ---- an Avro encoder ----------------------------------------------------- */

struct enc {
    unsigned char b[8192];
    size_t n;
};

static void enc_long(struct enc *e, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z & ~0x7fULL) {
        e->b[e->n++] = (unsigned char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    e->b[e->n++] = (unsigned char)z;
}
static void enc_raw(struct enc *e, const void *p, size_t n)
{
    memcpy(e->b + e->n, p, n);
    e->n += n;
}
static void enc_bytes(struct enc *e, const void *p, size_t n)
{
    enc_long(e, (int64_t)n);
    enc_raw(e, p, n);
}
static void enc_str(struct enc *e, const char *s) { enc_bytes(e, s, strlen(s)); }
static void enc_double(struct enc *e, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    for (int i = 0; i < 8; i++)
        e->b[e->n++] = (unsigned char)(u >> (8 * i));
}
static void enc_float(struct enc *e, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++)
        e->b[e->n++] = (unsigned char)(u >> (8 * i));
}

/* The schema of most tests: every type once. */
static const char *ALL_SCHEMA =
    "{\"type\":\"record\",\"name\":\"Ev\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"ok\",\"type\":\"boolean\"},"
    "{\"name\":\"score\",\"type\":\"double\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"n\",\"type\":\"int\"},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\","
    "\"GREEN\"]}},"
    "{\"name\":\"opt\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"bin\",\"type\":\"bytes\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"price\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":9,\"scale\":2}},"
    "{\"name\":\"uid\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"tus\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
    "{\"name\":\"user\",\"type\":{\"type\":\"record\",\"name\":\"User\",\"fields\":["
    "{\"name\":\"first\",\"type\":\"string\"},{\"name\":\"age\",\"type\":[\"null\",\"int\"]}]}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"c2\",\"type\":\"Color\"}"
    "]}";

static void enc_all(struct enc *e, bool opt_null)
{
    e->n = 0;
    enc_long(e, -42);   /* id */
    enc_str(e, "ada");  /* name */
    e->b[e->n++] = 1;   /* ok */
    enc_double(e, 2.5); /* score */
    enc_float(e, 0.1f); /* f */
    enc_long(e, 7);     /* n */
    enc_long(e, 1);     /* color GREEN */
    if (opt_null) {     /* opt */
        enc_long(e, 0);
    } else {
        enc_long(e, 1);
        enc_str(e, "here");
    }
    enc_bytes(e, "\x01\x02\x03", 3); /* bin → AQID */
    enc_raw(e, "abcd", 4);           /* fx → YWJjZA== */
    enc_bytes(e, "\xfb\x2e", 2);     /* price: -1234 scale 2 → -12.34 */
    enc_str(e, "123e4567-e89b-12d3-a456-426614174000");
    enc_long(e, 19000);           /* day 2022-01-08 */
    enc_long(e, 1700000000123LL); /* ts */
    enc_long(e, -1500);           /* tus: -1.5 ms → -2 */
    enc_str(e, "A\"b");           /* user.first */
    enc_long(e, 1);               /* user.age: int branch */
    enc_long(e, 36);
    enc_long(e, 2); /* attrs: one block of 2 */
    enc_str(e, "x");
    enc_long(e, 1);
    enc_str(e, "y");
    enc_long(e, -2);
    enc_long(e, 0);
    enc_long(e, -2); /* tags: a block of 2 with its size */
    enc_long(e, 2);
    enc_long(e, 5);
    enc_long(e, 6);
    enc_long(e, 0);
    enc_long(e, 0); /* c2 RED */
}

static char *settings_inline(const char *schema)
{
    static char s[8192];
    snprintf(s, sizeof s,
             "{\"format\":\"avro_stream\",\"parseSchemaProvider\":{\"type\":\"inline-avro\","
             "\"schema\":%s}}",
             schema);
    return s;
}

static void row_text(const struct format_row *row, char *out, size_t cap)
{
    out[0] = '\0';
    for (uint32_t i = 0; i < row->nvalues; i++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i ? " " : "", tf_str(&row->values[i]));
    }
}

static void test_types_declared(void)
{
    struct format_parser *p = tf_parser(
        settings_inline(ALL_SCHEMA),
        "id:long,name:string,ok:long,score:double,f:double,n:string,color:string,opt:string,"
        "bin:string,fx:string,price:string,uid:string,day:string,ts:long,tus:long,user:json,"
        "attrs:json,tags:json,c2:string,missing:string",
        false);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct enc e;
    enc_all(&e, false);
    struct format_row row;
    struct lerr err;
    enum format_outcome o = tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err);
    CHECK_MSG(o == FORMAT_OK, "outcome %d: %s", o, err.msg);
    char got[4096];
    row_text(&row, got, sizeof got);
    CHECK_EQ_STR(got, "L:-42 S:ada L:1 D:2.5 D:0.10000000000000001 S:7 S:GREEN S:here S:AQID "
                      "S:YWJjZA== S:-12.34 S:123e4567-e89b-12d3-a456-426614174000 S:2022-01-08 "
                      "L:1700000000123 L:-2 J:{\"first\":\"A\\\"b\",\"age\":36} "
                      "J:{\"x\":1,\"y\":-2} J:[5,6] S:RED NULL");
    enc_all(&e, true);
    o = tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err);
    CHECK_MSG(o == FORMAT_OK, "outcome %d: %s", o, err.msg);
    CHECK_EQ_STR(tf_str(&row.values[7]), "NULL");
    /* numbers into other declared types: a decimal into long and double */
    format_parser_free(p);
    p = tf_parser(settings_inline(ALL_SCHEMA), "price:double,name:json,ts:string,day:long", false);
    o = tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err);
    CHECK_MSG(o == FORMAT_OK_WITH_WARNINGS, "outcome %d: %s", o, err.msg);
    row_text(&row, got, sizeof got);
    CHECK_EQ_STR(got, "D:-12.34 J:\"ada\" S:1700000000123 NULL");
    CHECK_MSG(strstr(err.msg, "day") != NULL, "warning names the field: %s", err.msg);
    format_parser_free(p);
    arena_destroy(&mem);
}

static void test_discovery(void)
{
    struct format_parser *p = tf_parser(settings_inline(ALL_SCHEMA), "id:long", true);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct enc e;
    enc_all(&e, true);
    struct format_row row;
    struct lerr err;
    enum format_outcome o = tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err);
    CHECK_MSG(o == FORMAT_OK, "outcome %d: %s", o, err.msg);
    CHECK_EQ_STR(tf_type(p, "name"), "string");
    CHECK_EQ_STR(tf_type(p, "score"), "double");
    CHECK_EQ_STR(tf_type(p, "ok"), "long");
    CHECK_EQ_STR(tf_type(p, "tags"), "array<long>");
    CHECK_EQ_STR(tf_type(p, "user"), "json");
    CHECK_EQ_STR(tf_type(p, "attrs"), "json");
    CHECK_EQ_STR(tf_type(p, "opt"), "none"); /* only null so far */
    CHECK_EQ_STR(tf_type(p, "price"), "double");
    CHECK_EQ_STR(tf_field(p, &row, "tags"), "A:[L:5,L:6]");
    CHECK_EQ_STR(tf_field(p, &row, "color"), "S:GREEN");
    enc_all(&e, false);
    o = tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err);
    CHECK_MSG(o == FORMAT_OK, "outcome %d: %s", o, err.msg);
    CHECK_EQ_STR(tf_type(p, "opt"), "string");
    CHECK_EQ_STR(tf_field(p, &row, "opt"), "S:here");
    format_parser_free(p);
    arena_destroy(&mem);
}

static void test_flatten_and_kafka(void)
{
    char s[9000];
    snprintf(s, sizeof s,
             "{\"format\":\"avro_stream\",\"flattenSpec\":{\"fields\":[{\"type\":\"path\","
             "\"name\":\"first\",\"expr\":\"$.user.first\"},{\"type\":\"path\",\"name\":\"tag1\","
             "\"expr\":\"$.tags[1]\"}]},\"parseSchemaProvider\":{\"type\":\"inline-avro\","
             "\"schema\":%s}}",
             ALL_SCHEMA);
    struct format_parser *p = tf_parser(s, "first:string,tag1:long,id:long", false);
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct enc e;
    enc_all(&e, true);
    struct format_row row;
    struct lerr err;
    char got[4096];
    if (p) {
        enum format_outcome o = tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err);
        CHECK_MSG(o == FORMAT_OK, "outcome %d: %s", o, err.msg);
        row_text(&row, got, sizeof got);
        CHECK_EQ_STR(got, "S:A\"b L:6 L:-42");
        format_parser_free(p);
    }
    snprintf(s, sizeof s, "{\"format\":\"kafka\",\"valueFormat\":%s}",
             settings_inline(ALL_SCHEMA));
    p = tf_parser(s, "id:long,name:string", false);
    if (p) {
        struct record rec = {.data = (const char *)e.b,
                             .len = e.n,
                             .key = "k1",
                             .key_len = 2,
                             .has_timestamp = true,
                             .timestamp_ms = 99,
                             .topic = "t",
                             .topic_len = 1};
        enum format_outcome o = tf_parse_rec(p, &mem, &rec, &row, &err);
        CHECK_MSG(o == FORMAT_OK, "outcome %d: %s", o, err.msg);
        row_text(&row, got, sizeof got);
        CHECK_EQ_STR(got, "L:-42 S:ada L:99 S:k1 S:t");
        /* the splitter hands an Avro value over whole, even with newlines in it */
        struct format_splitter sp;
        const char *r;
        size_t len, line;
        format_split_init(&sp, p, "\n{\n", 3);
        CHECK(format_split_next(&sp, &r, &len, &line) && len == 3);
        CHECK(!format_split_next(&sp, &r, &len, &line));
        format_parser_free(p);
    }
    arena_destroy(&mem);
}

/* A damaged record: FORMAT_ERROR whose message holds `want` and whose pos is `pos`. */
static void bad(struct format_parser *p, const struct enc *e, const char *want, int64_t pos)
{
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row row;
    struct lerr err;
    enum format_outcome o = tf_parse(p, &mem, (const char *)e->b, e->n, &row, &err);
    CHECK_MSG(o == FORMAT_ERROR, "expected an error with '%s', got outcome %d", want, o);
    CHECK_MSG(strstr(err.msg, want) != NULL, "message '%s' lacks '%s'", err.msg, want);
    CHECK_MSG(err.pos == pos, "'%s': pos %lld, want %lld", err.msg, (long long)err.pos,
              (long long)pos);
    arena_destroy(&mem);
}

static void test_damaged(void)
{
    struct format_parser *p = tf_parser(settings_inline(ALL_SCHEMA), "id:long", true);
    if (!p)
        return;
    struct enc e, full;
    enc_all(&full, true);
    /* truncated anywhere: an error, never a crash */
    for (size_t cut = 0; cut < full.n; cut++) {
        e = full;
        e.n = cut;
        struct arena mem;
        arena_init(&mem, 0, 0);
        struct format_row row;
        struct lerr err;
        CHECK_MSG(tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err) == FORMAT_ERROR,
                  "cut at %zu", cut);
        arena_destroy(&mem);
    }
    e = full;
    e.n = 2; /* id ok (1 byte), name length 3 with nothing after */
    bad(p, &e, "field 'name'", 2);
    e = full;
    e.b[e.n++] = 0; /* trailing bytes */
    bad(p, &e, "1 bytes are left after the record's last field", (int64_t)full.n);
    e.n = 0;
    for (int i = 0; i < 11; i++)
        e.b[e.n++] = 0xff;
    bad(p, &e, "varint runs past 10 bytes", 10);
    e.n = 0;
    enc_long(&e, 1);
    enc_long(&e, -5); /* negative string length */
    bad(p, &e, "negative length -5", 2);
    e.n = 0;
    enc_long(&e, 1);
    enc_bytes(&e, "\xff\xfe", 2); /* not UTF-8 */
    bad(p, &e, "not valid UTF-8", 2);
    /* union branch out of range at 'opt', enum out of range at 'color' */
    e = full;
    size_t at = 0;
    {
        struct enc pre;
        pre.n = 0;
        enc_long(&pre, -42);
        enc_str(&pre, "ada");
        at = pre.n + 1 + 8 + 4 + 1; /* ok, score, f, n */
    }
    e.b[at] = 4; /* color index 2 (zigzag 4) of 2 symbols */
    bad(p, &e, "enum index 2 is out of range (Color has 2 symbols)", (int64_t)at + 1);
    e = full;
    e.b[at + 1] = 6; /* opt union branch 3 */
    bad(p, &e, "union branch 3 is out of range", (int64_t)at + 2);
    /* a boolean that is not 0 or 1, in field 'ok' */
    e = full;
    e.b[at - 1 - 4 - 8 - 1] = 7;
    bad(p, &e, "field 'ok'", (int64_t)(at - 1 - 4 - 8 - 1));
    format_parser_free(p);

    /* an array block count larger than the record could hold */
    p = tf_parser(settings_inline("{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":"
                                  "\"a\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}"),
                  "a:json", false);
    if (p) {
        e.n = 0;
        enc_long(&e, 1000000);
        bad(p, &e, "cannot fit", 3);
        e.n = 0;
        enc_long(&e, 3); /* three nulls: fine */
        enc_long(&e, 0);
        struct arena mem;
        arena_init(&mem, 0, 0);
        struct format_row row;
        struct lerr err;
        CHECK(tf_parse(p, &mem, (const char *)e.b, e.n, &row, &err) == FORMAT_OK);
        CHECK_EQ_STR(tf_str(&row.values[0]), "J:[null,null,null]");
        arena_destroy(&mem);
        format_parser_free(p);
    }
    /* a recursive schema: nesting deeper than the limit is an error */
    p = tf_parser(settings_inline("{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":"
                                  "\"next\",\"type\":[\"null\",\"L\"]}]}"),
                  "next:json", false);
    if (p) {
        e.n = 0;
        for (int i = 0; i < 200; i++)
            enc_long(&e, 1);
        enc_long(&e, 0);
        bad(p, &e, "nests deeper than 64", 64);
        format_parser_free(p);
    }
}

static void test_settings(void)
{
    struct lerr err;
    struct format_parser *p =
        tf_parser_ex("{\"format\":\"avro_stream\"}", "a:string", false, NULL, 0, &err);
    CHECK(!p && strstr(err.msg, "parseSchemaProvider is required"));
    p = tf_parser_ex(settings_inline("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":"
                                     "\"a\",\"type\":\"nosuch\"}]}"),
                     "a:string", false, NULL, 0, &err);
    CHECK_MSG(!p && strstr(err.msg, "the Avro schema is not valid"), "%s", err.msg);
    p = tf_parser_ex(settings_inline("{\"type\":\"array\",\"items\":\"long\"}"), "a:string", false,
                     NULL, 0, &err);
    CHECK_MSG(!p && strstr(err.msg, "not a record"), "%s", err.msg);
    p = tf_parser_ex("{\"format\":\"avro_stream\",\"parseSchemaProvider\":{\"type\":\"x\"}}",
                     "a:string", false, NULL, 0, &err);
    CHECK_MSG(!p && strstr(err.msg, "must be \"inline-avro\" or \"connection\""), "%s", err.msg);
    p = tf_parser_ex("{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"avro_ocf\"}}",
                     "a:string", false, NULL, 0, &err);
    CHECK_MSG(!p && strstr(err.msg, "avro_ocf is for files"), "%s", err.msg);
}

static void test_registry_frame(void)
{
    uint32_t id = 0;
    struct lerr err;
    lerr_init(&err);
    CHECK(format_registry_frame("\0\0\0\1\x2a", 5, &id, &err) == 0 && id == 298);
    lerr_init(&err);
    CHECK(format_registry_frame("\0\0\1", 3, &id, &err) == LERR_INVALID &&
          strstr(err.msg, "fewer than the 5"));
    lerr_init(&err);
    CHECK(format_registry_frame("{\"a\":1}", 7, &id, &err) == LERR_INVALID &&
          strstr(err.msg, "byte 0x7b"));
    /* a registry-reading parser without its client: an error per record, not a crash */
    struct format_parser *p =
        tf_parser("{\"format\":\"avro_stream\",\"parseSchemaProvider\":{\"type\":\"connection\","
                  "\"connectionName\":\"reg\"}}",
                  "a:string", false);
    if (p) {
        struct arena mem;
        arena_init(&mem, 0, 0);
        struct format_row row;
        CHECK(tf_parse(p, &mem, "\0\0\0\0\1\2", 6, &row, &err) == FORMAT_ERROR &&
              strstr(err.msg, "no client"));
        CHECK(tf_parse(p, &mem, "\1\0\0\0\1\2", 6, &row, &err) == FORMAT_ERROR &&
              strstr(err.msg, "magic byte"));
        arena_destroy(&mem);
        format_parser_free(p);
    }
}

/* ---- object container files ------------------------------------------------ */

static const char *OCF_SCHEMA =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"k\",\"type\":\"long\"},"
    "{\"name\":\"s\",\"type\":\"string\"}]}";

/* A container file of nblocks blocks of `per` records each (k = 0, 1, ...). */
static size_t make_ocf(unsigned char *out, size_t cap, int nblocks, int per, bool zip)
{
    struct enc h;
    h.n = 0;
    enc_raw(&h, "Obj\x01", 4);
    enc_long(&h, 2);
    enc_str(&h, "avro.schema");
    enc_str(&h, OCF_SCHEMA);
    enc_str(&h, "avro.codec");
    enc_str(&h, zip ? "deflate" : "null");
    enc_long(&h, 0);
    const char sync[17] = "0123456789abcdef";
    enc_raw(&h, sync, 16);
    size_t n = h.n;
    memcpy(out, h.b, n);
    int k = 0;
    for (int b = 0; b < nblocks; b++) {
        struct enc d;
        d.n = 0;
        for (int i = 0; i < per; i++) {
            enc_long(&d, k++);
            enc_str(&d, "vé");
        }
        unsigned char z[8192];
        size_t zn = d.n;
        const unsigned char *data = d.b;
        if (zip) {
            z_stream zs;
            memset(&zs, 0, sizeof zs);
            deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
            zs.next_in = d.b;
            zs.avail_in = (uInt)d.n;
            zs.next_out = z;
            zs.avail_out = sizeof z;
            deflate(&zs, Z_FINISH);
            zn = sizeof z - zs.avail_out;
            deflateEnd(&zs);
            data = z;
        }
        struct enc bh;
        bh.n = 0;
        enc_long(&bh, per);
        enc_long(&bh, (int64_t)zn);
        CHECK(n + bh.n + zn + 16 <= cap);
        memcpy(out + n, bh.b, bh.n);
        n += bh.n;
        memcpy(out + n, data, zn);
        n += zn;
        memcpy(out + n, sync, 16);
        n += 16;
    }
    return n;
}

static void run_ocf(struct format_parser *p, const unsigned char *f, size_t n, char *out,
                    size_t cap)
{
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_splitter s;
    format_split_init(&s, p, (const char *)f, n);
    const char *rec;
    size_t len, line;
    out[0] = '\0';
    while (format_split_next(&s, &rec, &len, &line)) {
        struct format_row row;
        struct lerr err;
        enum format_outcome o = tf_parse(p, &mem, rec, len, &row, &err);
        size_t l = strlen(out);
        if (o == FORMAT_ERROR)
            snprintf(out + l, cap - l, "ERR(%s);", err.msg);
        else
            snprintf(out + l, cap - l, "%s %s;", tf_str(&row.values[0]), tf_str(&row.values[1]));
    }
    arena_destroy(&mem);
}

static void test_ocf(void)
{
    struct format_parser *p = tf_parser("{\"format\":\"avro_ocf\"}", "k:long,s:string", false);
    if (!p)
        return;
    static unsigned char f[65536];
    char got[8192];
    for (int deflate = 0; deflate < 2; deflate++) {
        size_t n = make_ocf(f, sizeof f, 2, 3, deflate);
        run_ocf(p, f, n, got, sizeof got);
        CHECK_EQ_STR(got, "L:0 S:vé;L:1 S:vé;L:2 S:vé;L:3 S:vé;L:4 S:vé;L:5 S:vé;");
        /* a damaged sync marker of the second block: its records are one bad record */
        f[n - 1] ^= 1;
        run_ocf(p, f, n, got, sizeof got);
        CHECK_MSG(strncmp(got, "L:0 S:vé;L:1 S:vé;L:2 S:vé;ERR(Avro object container file, byte",
                          60) == 0 &&
                      strstr(got, "sync marker does not match"),
                  "%s", got);
        /* truncated */
        run_ocf(p, f, n - 20, got, sizeof got);
        CHECK_MSG(strstr(got, "does not fit") != NULL, "%s", got);
    }
    run_ocf(p, (const unsigned char *)"{\"k\":1}\n", 8, got, sizeof got);
    CHECK_MSG(strstr(got, "Avro magic bytes") != NULL, "%s", got);
    /* a header with an unsupported codec */
    size_t n = make_ocf(f, sizeof f, 1, 1, false);
    unsigned char *c = (unsigned char *)memmem(f, n, "null", 4);
    if (c) {
        memcpy(c, "zstd", 4);
        run_ocf(p, f, n, got, sizeof got);
        CHECK_MSG(strstr(got, "codec 'zstd' is not supported") != NULL, "%s", got);
    }
    /* every truncation of a file: errors or fewer rows, never a crash */
    n = make_ocf(f, sizeof f, 2, 2, true);
    for (size_t cut = 0; cut < n; cut++)
        run_ocf(p, f, cut, got, sizeof got);
    format_parser_free(p);
}

int main(void)
{
    test_types_declared();
    test_discovery();
    test_flatten_and_kafka();
    test_damaged();
    test_settings();
    test_registry_frame();
    test_ocf();
    return check_summary();
}
