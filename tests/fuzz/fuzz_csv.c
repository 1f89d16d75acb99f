// SOURCES: src/format/*.c src/util/util.c src/util/civil.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_csv.c — libFuzzer target for the format module's text paths: splits
 * arbitrary bytes into records and parses each, under one of a few fixed
 * settings picked by the first byte (csv with a header and a list delimiter,
 * a multi-byte delimiter, tsv with discovery, kafka with csv values and a
 * csv key, kafka with nd-json values and discovery). Aborts when an outcome
 * breaks the contract: an error position outside the record, a string value
 * that is not valid UTF-8, a value outside the row's bounds, or a field
 * count that does not match the schema.
 */
#include <jansson.h>
#include "format/format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const settings[] = {
    "{\"format\":\"csv\",\"findColumnsFromHeader\":true,\"skipHeaderRows\":1,"
    "\"listDelimiter\":\"|\"}",
    "{\"format\":\"delimited\",\"delimiter\":\"||\",\"columns\":[\"a\",\"n\",\"x\",\"j\"]}",
    "{\"format\":\"tsv\"}",
    "{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"csv\"},\"keyFormat\":{\"format\":"
    "\"csv\"},\"keyColumnName\":\"a\"}",
    "{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"nd-json\",\"flattenSpec\":{\"fields\":"
    "[{\"type\":\"path\",\"name\":\"x\",\"expr\":\"$.o.x[1]\"}]}},\"keyFormat\":{\"format\":"
    "\"nd-json\"}}",
    "{\"format\":\"nd-json\",\"flattenSpec\":{\"useFieldDiscovery\":false,\"fields\":["
    "{\"type\":\"jq\",\"name\":\"x\",\"expr\":\".o[\\\"x\\\"][0]\"},{\"type\":\"tree\","
    "\"name\":\"n\",\"nodes\":[\"o\",\"n\"]},{\"type\":\"root\",\"name\":\"a\"}]}}",
};

static void die(const char *why)
{
    fprintf(stderr, "fuzz_csv: %s\n", why);
    abort();
}

/* Same rules as the module: no overlongs, surrogates or > U+10FFFF. */
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
    if (v->type == SQL_JSON && v->v.s.n == 0)
        die("an empty json value");
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
        {"a", 1, SQL_STRING, NULL, 0}, {"n", 1, SQL_LONG, NULL, 0}, {"x", 1, SQL_DOUBLE, NULL, 0}, {"j", 1, SQL_JSON, NULL, 0},
        {"kafka.header.h", 14, SQL_STRING, NULL, 0}, {"f", 1, SQL_FLOAT, NULL, 0}};
    // clang-format on
    struct sql_schema sch = {fields, LS_ARRAY_LEN(fields)};
    json_t *doc = json_loads(settings[which], 0, NULL);
    if (!doc || format_settings_from_json(doc, &a, &fs, &err))
        die(doc ? err.msg : "settings are not JSON");
    json_decref(doc);
    bool discovery = which == 2 || which == 4 || which == 6;
    parsers[which] = format_parser_new(&fs, &sch, discovery, NULL, 0, &err);
    if (!parsers[which])
        die(err.msg);
    /* A small cap keeps the discovered schema from growing across runs. */
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
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    /* Kafka: the first up-to-8 bytes are the key, one header follows. */
    size_t klen = n < 8 ? n : 8;
    struct record_header h = {"h", 1, text, klen};
    struct record base = {.partition = 0,
                          .offset = 1,
                          .has_timestamp = true,
                          .timestamp_ms = 1700000000000,
                          .topic = "t",
                          .topic_len = 1};
    if (which >= 3) {
        base.key = text;
        base.key_len = klen;
        base.headers = &h;
        base.nheaders = 1;
        text += klen;
        n -= klen;
    }
    char *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees overreads */
    memcpy(copy, text, n);
    struct arena mem;
    arena_init(&mem, 4096, 1 << 20);
    struct format_splitter s;
    format_split_init(&s, p, copy, n);
    const char *rec;
    size_t len, line, last_line = 0;
    while (format_split_next(&s, &rec, &len, &line)) {
        if (rec < copy || rec + len > copy + n)
            die("record outside the text");
        if (line < last_line)
            die("line numbers went backwards");
        last_line = line;
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
