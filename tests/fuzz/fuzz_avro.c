// SOURCES: src/format/*.c src/util/util.c src/util/civil.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_avro.c — libFuzzer target for the Avro formats (format/avro.c). The
 * first byte picks the settings: avro_stream over a schema with every type
 * (unions, enums, fixed, bytes, logical types, a recursive record, maps,
 * arrays) with discovery; the same inside the kafka wrapper with flattenSpec
 * paths; avro_ocf over the rest as a container file (header, blocks, null
 * and deflate codecs). Every record is split and parsed; aborts when an
 * outcome breaks the contract: a bad error report, a string value that is
 * not valid UTF-8, an empty json value, or a row that does not match the
 * schema. ASan/UBSan catch reads past the record.
 */
#include <jansson.h>
#include "format/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA                                                                                \
    "{\"type\":\"record\",\"name\":\"Ev\",\"fields\":["                                       \
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"name\",\"type\":[\"null\",\"string\"]}," \
    "{\"name\":\"ok\",\"type\":\"boolean\"},{\"name\":\"x\",\"type\":\"double\"},"            \
    "{\"name\":\"f\",\"type\":\"float\"},"                                                    \
    "{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\",\"B\"]}}," \
    "{\"name\":\"b\",\"type\":\"bytes\"},"                                                    \
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"              \
    "{\"name\":\"d\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":" \
    "20,\"scale\":3}},"                                                                       \
    "{\"name\":\"day\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"                \
    "{\"name\":\"us\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"    \
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"double\"]}},"          \
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"                    \
    "{\"name\":\"n\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"N\",\"fields\":["     \
    "{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"N\"]}]}]}]}"

static const char *const settings[] = {
    "{\"format\":\"avro_stream\",\"parseSchemaProvider\":{\"type\":\"inline-avro\",\"schema\":" SCHEMA
    "}}",
    "{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"avro_stream\",\"flattenSpec\":{\"fields\":"
    "[{\"type\":\"path\",\"name\":\"v\",\"expr\":\"$.n.next.v\"},{\"type\":\"path\",\"name\":"
    "\"a1\",\"expr\":\"$.a[1]\"}]},\"parseSchemaProvider\":{\"type\":\"inline-avro\",\"schema\":" SCHEMA
    "}}}",
    "{\"format\":\"avro_ocf\"}",
};

static void die(const char *why)
{
    fprintf(stderr, "fuzz_avro: %s\n", why);
    abort();
}

static bool utf8_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t k = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
        if (!k || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((u[i + j] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xED && u[i + 1] >= 0xA0) ||
            (c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] >= 0x90))
            return false;
        i += k;
    }
    return true;
}

static void check_value(const struct sql_value *v, int depth)
{
    if (v->is_null)
        return;
    if (v->type == SQL_STRING && !utf8_ok(v->v.s.p, v->v.s.n))
        die("a string value is not valid UTF-8");
    if (v->type == SQL_JSON && (v->v.s.n == 0 || !utf8_ok(v->v.s.p, v->v.s.n)))
        die("an empty or non-UTF-8 json value");
    if (v->type == SQL_ARRAY) {
        if (depth > 0)
            die("nested array value");
        for (uint32_t i = 0; i < v->v.a.n; i++)
            check_value(&v->v.a.items[i], depth + 1);
    }
}

static struct format_parser *parsers[LS_ARRAY_LEN(settings)];

static struct format_parser *parser(size_t which)
{
    if (parsers[which])
        return parsers[which];
    struct arena a;
    arena_init(&a, 4096, 0);
    struct format_settings fs;
    struct lerr err;
    lerr_init(&err);
    // clang-format off
    static const struct sql_field fields[] = {
        {"id", 2, SQL_STRING, NULL, 0}, {"x", 1, SQL_LONG, NULL, 0}, {"d", 1, SQL_DOUBLE, NULL, 0},
        {"m", 1, SQL_JSON, NULL, 0}, {"name", 4, SQL_JSON, NULL, 0}, {"v", 1, SQL_LONG, NULL, 0},
        {"a1", 2, SQL_STRING, NULL, 0}, {"k", 1, SQL_STRING, NULL, 0}};
    // clang-format on
    struct sql_schema sch = {fields, LS_ARRAY_LEN(fields)};
    json_t *doc = json_loads(settings[which], 0, NULL);
    if (!doc || format_settings_from_json(doc, &a, &fs, &err))
        die(doc ? err.msg : "settings are not JSON");
    json_decref(doc);
    parsers[which] = format_parser_new(&fs, &sch, which != 1, NULL, 0, &err);
    if (!parsers[which])
        die(err.msg);
    format_parser_set_max_discovered(parsers[which], 64);
    arena_destroy(&a);
    return parsers[which];
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t which = data[0] % LS_ARRAY_LEN(settings);
    struct format_parser *p = parser(which);
    size_t n = size - 1;
    char *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees overreads */
    memcpy(copy, data + 1, n);
    struct record base = {.partition = 0,
                          .offset = 1,
                          .has_timestamp = true,
                          .timestamp_ms = 1700000000000,
                          .topic = "t",
                          .topic_len = 1,
                          .key = "k",
                          .key_len = 1};
    struct arena mem;
    arena_init(&mem, 4096, 1 << 20);
    struct format_splitter s;
    format_split_init(&s, p, copy, n);
    const char *rec;
    size_t len, line;
    while (format_split_next(&s, &rec, &len, &line)) {
        if (which != 2 && (rec < copy || rec + len > copy + n))
            die("record outside the text");
        struct record r = base;
        r.data = rec;
        r.len = len;
        struct format_row row;
        struct lerr err;
        lerr_init(&err);
        enum format_outcome o = format_parse(p, &r, &mem, &row, &err);
        if (o == FORMAT_ERROR) {
            if (err.code == LERR_NOMEM) {
                arena_reset(&mem);
                continue;
            }
            if (err.code != LERR_INVALID || err.pos < 0 || (size_t)err.pos > len || !err.msg[0])
                die("bad error report");
            continue;
        }
        if (o == FORMAT_OK_WITH_WARNINGS && !err.msg[0])
            die("a warning without a message");
        if (row.nvalues != format_parser_nfixed(p))
            die("row size differs from the schema");
        size_t nf = format_parser_schema(p, NULL, 0);
        for (uint32_t i = 0; i < row.nvalues; i++)
            check_value(&row.values[i], 0);
        for (uint32_t i = 0; i < row.nextra; i++) {
            if (row.extra_index[i] < row.nvalues || row.extra_index[i] >= nf)
                die("extra index out of range");
            check_value(&row.extra[i], 0);
        }
    }
    arena_destroy(&mem);
    free(copy);
    return 0;
}
