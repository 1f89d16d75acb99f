/*
 * test_format.c — nd-json records into input rows: every coercion to each
 * declared dataType, escapes and surrogate pairs, huge/tiny numbers, every
 * outcome kind with error positions, key-order prediction, flattenSpec
 * paths, schema discovery typing and widening across records, exclusions,
 * the discovery cap, arena exhaustion, settings from JSON, and parsers
 * sharing one plan (from two threads).
 */
#include "format_test.h"

#include <math.h>
#include <pthread.h>

static const char *NDJSON = "{\"format\":\"nd-json\",\"flattenSpec\":{}}";

/* format_settings_from_json / format_input_schema_from_json over JSON text (any value). */
static int settings_text(const char *text, struct arena *a, struct format_settings *fs,
                         struct lerr *err)
{
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    CHECK_MSG(doc != NULL, "test JSON does not parse: %s", text);
    int rc = doc ? format_settings_from_json(doc, a, fs, err) : LERR_INVALID;
    json_decref(doc);
    return rc;
}

static int input_schema_text(const char *text, struct arena *a, struct sql_schema *sch,
                             struct lerr *err)
{
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    CHECK_MSG(doc != NULL, "test JSON does not parse: %s", text);
    int rc = doc ? format_input_schema_from_json(doc, a, sch, err) : LERR_INVALID;
    json_decref(doc);
    return rc;
}

/* ---- coercions: {"f": <value>} into a field of each dataType ------------ */

struct coerce_case {
    const char *type;
    const char *json; /* the value of "f" */
    const char *want; /* tf_str of the result */
    enum format_outcome outcome;
    const char *msg_has; /* a substring of the warning, or NULL */
};

static const struct coerce_case coerce_cases[] = {
    /* long */
    {"long", "12", "L:12", FORMAT_OK, NULL},
    {"long", "\"12\"", "L:12", FORMAT_OK, NULL},
    {"long", "\" 12 \"", "L:12", FORMAT_OK, NULL},
    {"long", "\"+5\"", "L:5", FORMAT_OK, NULL},
    {"long", "\"1e3\"", "L:1000", FORMAT_OK, NULL},
    {"long", "\"abc\"", "NULL", FORMAT_OK_WITH_WARNINGS,
     "input field 'f': text \"abc\" is not a valid long"},
    {"long", "\"12abc\"", "NULL", FORMAT_OK_WITH_WARNINGS, "\"12abc\""},
    {"long", "\"\"", "NULL", FORMAT_OK, NULL},
    {"long", "12.7", "L:12", FORMAT_OK, NULL},
    {"long", "-12.7", "L:-12", FORMAT_OK, NULL},
    {"long", "\"12.7\"", "L:12", FORMAT_OK, NULL},
    {"long", "-0", "L:0", FORMAT_OK, NULL},
    {"long", "true", "L:1", FORMAT_OK, NULL},
    {"long", "false", "L:0", FORMAT_OK, NULL},
    {"long", "null", "NULL", FORMAT_OK, NULL},
    {"long", "{\"a\":1}", "NULL", FORMAT_OK_WITH_WARNINGS, "object"},
    {"long", "[1]", "NULL", FORMAT_OK_WITH_WARNINGS, "array"},
    {"long", "1e300", "NULL", FORMAT_OK_WITH_WARNINGS, "out of the range of a long"},
    {"long", "9223372036854775807", "L:9223372036854775807", FORMAT_OK, NULL},
    {"long", "-9223372036854775808", "L:-9223372036854775808", FORMAT_OK, NULL},
    {"long", "9223372036854775808", "NULL", FORMAT_OK_WITH_WARNINGS, "out of the range"},
    {"long", "\"9223372036854775808\"", "NULL", FORMAT_OK_WITH_WARNINGS,
     "9223372036854775808 is out of the range of a long"},
    {"long", "\"-9223372036854775808\"", "L:-9223372036854775808", FORMAT_OK, NULL},
    {"long", "1e400", "NULL", FORMAT_OK_WITH_WARNINGS, "out of the range"},
    /* double */
    {"double", "1.5", "D:1.5", FORMAT_OK, NULL},
    {"double", "\"1.5\"", "D:1.5", FORMAT_OK, NULL},
    {"double", "\".5\"", "D:0.5", FORMAT_OK, NULL},
    {"double", "\"5.\"", "D:5", FORMAT_OK, NULL},
    {"double", "12", "D:12", FORMAT_OK, NULL},
    {"double", "-0", "D:-0", FORMAT_OK, NULL},
    {"double", "-0.0", "D:-0", FORMAT_OK, NULL},
    {"double", "1e-400", "D:0", FORMAT_OK, NULL},
    {"double", "4.9e-324", "D:4.9406564584124654e-324", FORMAT_OK, NULL},
    {"double", "1.7976931348623157e308", "D:1.7976931348623157e+308", FORMAT_OK, NULL},
    {"double", "1e400", "NULL", FORMAT_OK_WITH_WARNINGS, "1e400 is out of the range of a double"},
    {"double", "-1e400", "NULL", FORMAT_OK_WITH_WARNINGS, "out of the range"},
    {"double", "\"1e400\"", "NULL", FORMAT_OK_WITH_WARNINGS, "out of the range of a double"},
    {"double", "123456789012345678901234567890", "D:1.2345678901234568e+29", FORMAT_OK, NULL},
    {"double", "\"0.1000000000000000055511151231257827021181583404541015625\"",
     "D:0.10000000000000001", FORMAT_OK, NULL},
    {"double", "\"NaN\"", "NULL", FORMAT_OK_WITH_WARNINGS, "not a valid double"},
    {"double", "\"Infinity\"", "NULL", FORMAT_OK_WITH_WARNINGS, "not a valid double"},
    {"double", "\"abc\"", "NULL", FORMAT_OK_WITH_WARNINGS, "not a valid double"},
    {"double", "\"\"", "NULL", FORMAT_OK, NULL},
    {"double", "true", "D:1", FORMAT_OK, NULL},
    {"double", "[1.5]", "NULL", FORMAT_OK_WITH_WARNINGS, "array"},
    /* float */
    {"float", "1.1", "D:1.1000000238418579", FORMAT_OK, NULL},
    {"float", "\"2.5\"", "D:2.5", FORMAT_OK, NULL},
    {"float", "1e39", "NULL", FORMAT_OK_WITH_WARNINGS, "out of the range of a float"},
    /* string */
    {"string", "\"abc\"", "S:abc", FORMAT_OK, NULL},
    {"string", "\"\"", "S:", FORMAT_OK, NULL},
    {"string", "12", "S:12", FORMAT_OK, NULL},
    {"string", "1.50", "S:1.50", FORMAT_OK, NULL},
    {"string", "-0", "S:-0", FORMAT_OK, NULL},
    {"string", "1e400", "S:1e400", FORMAT_OK, NULL},
    {"string", "123456789012345678901234567890", "S:123456789012345678901234567890", FORMAT_OK,
     NULL},
    {"string", "true", "S:true", FORMAT_OK, NULL},
    {"string", "false", "S:false", FORMAT_OK, NULL},
    {"string", "null", "NULL", FORMAT_OK, NULL},
    {"string", "{\"a\": [1, 2]}", "S:{\"a\": [1, 2]}", FORMAT_OK, NULL},
    {"string", "[1,\"x\"]", "S:[1,\"x\"]", FORMAT_OK, NULL},
    {"string", "\"a\\\"b\\\\c\\/d\\n\"", "S:a\"b\\c/d\n", FORMAT_OK, NULL},
    {"string", "\"\\u00e9t\\u00E9\"", "S:\xC3\xA9t\xC3\xA9", FORMAT_OK, NULL},
    {"string", "\"\\ud83d\\ude00!\"", "S:\xF0\x9F\x98\x80!", FORMAT_OK, NULL},
    {"string", "\"\xF0\x9F\x98\x80 raw\"", "S:\xF0\x9F\x98\x80 raw", FORMAT_OK, NULL},
    /* json */
    {"json", "{\"a\":1}", "J:{\"a\":1}", FORMAT_OK, NULL},
    {"json", "[1, {\"b\":null}]", "J:[1, {\"b\":null}]", FORMAT_OK, NULL},
    {"json", "\"s\\n\"", "J:\"s\\n\"", FORMAT_OK, NULL},
    {"json", "12.50", "J:12.50", FORMAT_OK, NULL},
    {"json", "true", "J:true", FORMAT_OK, NULL},
    {"json", "null", "NULL", FORMAT_OK, NULL},
};

static void test_coercions(void)
{
    struct arena mem;
    arena_init(&mem, 0, 0);
    for (size_t i = 0; i < LS_ARRAY_LEN(coerce_cases); i++) {
        const struct coerce_case *tc = &coerce_cases[i];
        char spec[64], rec[512];
        snprintf(spec, sizeof spec, "f:%s", tc->type);
        snprintf(rec, sizeof rec, "{\"other\": 1, \"f\": %s}", tc->json);
        struct format_parser *p = tf_parser(NDJSON, spec, false);
        if (!p)
            continue;
        struct format_row row;
        struct lerr err;
        enum format_outcome o = tf_parse(p, &mem, rec, strlen(rec), &row, &err);
        CHECK_MSG(o == tc->outcome, "%s %s: outcome %d, want %d (%s)", tc->type, tc->json, o,
                  tc->outcome, err.msg);
        if (o != FORMAT_ERROR) {
            const char *got = tf_str(&row.values[0]);
            CHECK_MSG(strcmp(got, tc->want) == 0, "%s %s: got %s, want %s", tc->type, tc->json,
                      got, tc->want);
            uint8_t want_type = row.values[0].is_null ? (uint8_t)row.values[0].type : 0;
            (void)want_type;
        }
        if (tc->msg_has)
            CHECK_MSG(strstr(err.msg, tc->msg_has) != NULL, "%s %s: message '%s' lacks '%s'",
                      tc->type, tc->json, err.msg, tc->msg_has);
        format_parser_free(p);
        arena_reset(&mem);
    }
    arena_destroy(&mem);
}

/* NULLs carry the declared type; non-null values have the declared type. */
static void test_null_types(void)
{
    struct format_parser *p = tf_parser(NDJSON, "s:string,l:long,d:double,f:float,j:json", false);
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row row;
    struct lerr err;
    CHECK_EQ_INT(tf_parse(p, &mem, "{}", 2, &row, &err), FORMAT_OK);
    CHECK_EQ_INT(row.nvalues, 5);
    static const uint8_t want[] = {SQL_STRING, SQL_LONG, SQL_DOUBLE, SQL_FLOAT, SQL_JSON};
    for (int i = 0; i < 5; i++) {
        CHECK(row.values[i].is_null);
        CHECK_EQ_INT(row.values[i].type, want[i]);
    }
    const char *r = "{\"s\":1,\"l\":\"2\",\"d\":3,\"f\":4,\"j\":5}";
    CHECK_EQ_INT(tf_parse(p, &mem, r, strlen(r), &row, &err), FORMAT_OK);
    for (int i = 0; i < 5; i++) {
        CHECK(!row.values[i].is_null);
        CHECK_EQ_INT(row.values[i].type, want[i]);
    }
    format_parser_free(p);
    arena_destroy(&mem);
}

/* ---- records: outcomes and positions ------------------------------------- */

struct record_case {
    const char *rec;
    size_t len; /* 0 = strlen */
    enum format_outcome outcome;
    int64_t pos; /* error position, or -1 */
    const char *msg_has;
    const char *a; /* the value of a:string when parsed */
};

static const struct record_case record_cases[] = {
    {"{\"a\":\"x\"}", 0, FORMAT_OK, -1, NULL, "S:x"},
    {"{\"b\":1}", 0, FORMAT_OK, -1, NULL, "NULL"},                /* missing: NULL, no warning */
    {"{\"a\":\"x\",\"a\":\"y\"}", 0, FORMAT_OK, -1, NULL, "S:y"}, /* last duplicate wins */
    {"\xEF\xBB\xBF{\"a\":\"bom\"}", 0, FORMAT_OK, -1, NULL, "S:bom"},
    {"  {\"a\":\"ws\"}\r\n", 0, FORMAT_OK, -1, NULL, "S:ws"},
    {"{\"\\u0061\":\"escaped key\"}", 0, FORMAT_OK, -1, NULL, "S:escaped key"},
    {"{\"a\":\"x\",}", 0, FORMAT_ERROR, 9, "invalid JSON at byte 9", NULL},
    {"{\"a\":\"x\"} x", 0, FORMAT_ERROR, 10, "after the object", NULL},
    {"{\"a\":\"x\"}{}", 0, FORMAT_ERROR, 9, "after the object", NULL},
    {"[1,2]", 0, FORMAT_ERROR, 0, "must be a JSON object", NULL},
    {"\"str\"", 0, FORMAT_ERROR, 0, "must be a JSON object", NULL},
    {"", 0, FORMAT_ERROR, 0, "empty record", NULL},
    {"   ", 0, FORMAT_ERROR, 0, "empty record", NULL},
    {"{\"a\":\"\xFF\"}", 0, FORMAT_ERROR, 6, "invalid UTF-8", NULL},
    {"{\"a\":\"\xC0\xAF\"}", 0, FORMAT_ERROR, 6, "invalid UTF-8", NULL},
    {"{\"a\":\"\\ud83d\"}", 0, FORMAT_ERROR, 6, "unpaired surrogate", NULL},
    {"{\"a\":tru}", 0, FORMAT_ERROR, 5, NULL, NULL},
    {"{\"a\":01}", 0, FORMAT_ERROR, 5, "leading zeros", NULL},
    {"{\"a\":\"x", 0, FORMAT_ERROR, 7, "unterminated string (opened at byte 5)", NULL},
    {"{\"a\":\"\x01\"}", 0, FORMAT_ERROR, 6, "control character", NULL},
    {"{\"a\":\"x\\u0000y\"}", 0, FORMAT_OK, -1, NULL, NULL},
};

static void test_records(void)
{
    struct format_parser *p = tf_parser(NDJSON, "a:string", false);
    struct arena mem;
    arena_init(&mem, 0, 0);
    for (size_t i = 0; i < LS_ARRAY_LEN(record_cases); i++) {
        const struct record_case *tc = &record_cases[i];
        size_t n = tc->len ? tc->len : strlen(tc->rec);
        struct format_row row;
        struct lerr err;
        enum format_outcome o = tf_parse(p, &mem, tc->rec, n, &row, &err);
        CHECK_MSG(o == tc->outcome, "case %zu: outcome %d, want %d (%s)", i, o, tc->outcome,
                  err.msg);
        if (tc->outcome == FORMAT_ERROR) {
            CHECK_MSG(err.pos == tc->pos, "case %zu: pos %lld, want %lld (%s)", i,
                      (long long)err.pos, (long long)tc->pos, err.msg);
            CHECK_EQ_INT(err.code, LERR_INVALID);
        }
        if (tc->msg_has)
            CHECK_MSG(strstr(err.msg, tc->msg_has) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, tc->msg_has);
        if (tc->a && o != FORMAT_ERROR)
            CHECK_EQ_STR(tf_str(&row.values[0]), tc->a);
    }
    /* \u0000 inside a string keeps the NUL byte. */
    struct format_row row;
    struct lerr err;
    const char *r = "{\"a\":\"x\\u0000y\"}";
    CHECK_EQ_INT(tf_parse(p, &mem, r, strlen(r), &row, &err), FORMAT_OK);
    CHECK_EQ_INT(row.values[0].v.s.n, 3);
    CHECK(memcmp(row.values[0].v.s.p, "x\0y", 3) == 0);

    /* Depth: 128 levels are fine, 129 are not. */
    char deep[400];
    for (int depth = 128; depth <= 129; depth++) {
        size_t k = 0;
        k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"a\":");
        for (int d = 1; d < depth; d++)
            deep[k++] = '[';
        for (int d = 1; d < depth; d++)
            deep[k++] = ']';
        deep[k++] = '}';
        enum format_outcome o = tf_parse(p, &mem, deep, k, &row, &err);
        CHECK_MSG(o == (depth == 128 ? FORMAT_OK : FORMAT_ERROR), "depth %d: %d (%s)", depth, o,
                  err.msg);
    }
    /* A record past the size limit is refused without reading it. */
    struct record big = {.data = "{}", .len = (size_t)FORMAT_MAX_RECORD + 1};
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &big, &row, &err), FORMAT_ERROR);
    CHECK(strstr(err.msg, "limit") != NULL);
    format_parser_free(p);
    arena_destroy(&mem);
}

/* Strings decoded from escapes must survive the next record (they live in
 * the arena, not the parser's scratch). */
static void test_escaped_values_survive(void)
{
    struct format_parser *p = tf_parser(NDJSON, "a:string,b:string", false);
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row r1, r2;
    struct lerr err;
    const char *x = "{\"a\":\"one\\ttab\",\"b\":\"plain\"}";
    const char *y = "{\"a\":\"two\\nlines\",\"b\":\"\\u0041\"}";
    CHECK_EQ_INT(tf_parse(p, &mem, x, strlen(x), &r1, &err), FORMAT_OK);
    CHECK_EQ_INT(tf_parse(p, &mem, y, strlen(y), &r2, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_str(&r1.values[0]), "S:one\ttab");
    CHECK_EQ_STR(tf_str(&r1.values[1]), "S:plain");
    CHECK_EQ_STR(tf_str(&r2.values[0]), "S:two\nlines");
    CHECK_EQ_STR(tf_str(&r2.values[1]), "S:A");
    format_parser_free(p);
    arena_destroy(&mem);
}

/* Key order changes between records, unknown keys, keys past the prediction
 * window: values always land in the right fields. */
static void test_key_order(void)
{
    struct format_parser *p = tf_parser(NDJSON, "a:long,b:long,c:long", false);
    struct arena mem;
    arena_init(&mem, 0, 0);
    static const char *recs[] = {
        "{\"a\":1,\"b\":2,\"c\":3}",
        "{\"c\":3,\"b\":2,\"a\":1}",
        "{\"x\":0,\"a\":1,\"y\":0,\"b\":2,\"c\":3}",
        "{\"a\":1,\"b\":2,\"c\":3}",
        "{\"x\":0,\"a\":1,\"y\":0,\"b\":2,\"c\":3}",
        "{\"aa\":9,\"bb\":9,\"a\":1,\"b\":2,\"c\":3}",
        "{\"a\":1,\"b\":2,\"c\":3,\"a_long_unknown_key_longer_than_forty_bytes_xx\":5}",
        "{\"a\":1,\"b\":2,\"c\":3,\"a_long_unknown_key_longer_than_forty_bytes_xx\":5}",
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(recs); i++) {
        struct format_row row;
        struct lerr err;
        CHECK_EQ_INT(tf_parse(p, &mem, recs[i], strlen(recs[i]), &row, &err), FORMAT_OK);
        CHECK_EQ_STR(tf_str(&row.values[0]), "L:1");
        CHECK_EQ_STR(tf_str(&row.values[1]), "L:2");
        CHECK_EQ_STR(tf_str(&row.values[2]), "L:3");
        CHECK_EQ_INT(row.nextra, 0);
    }
    /* 70 members: the declared one sits past the 64 predicted positions. */
    char big[2048];
    size_t k = 0;
    big[k++] = '{';
    for (int i = 0; i < 70; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "\"k%d\":%d,", i, i);
    k += (size_t)snprintf(big + k, sizeof big - k, "\"b\":42}");
    for (int rep = 0; rep < 2; rep++) {
        struct format_row row;
        struct lerr err;
        CHECK_EQ_INT(tf_parse(p, &mem, big, k, &row, &err), FORMAT_OK);
        CHECK_EQ_STR(tf_str(&row.values[1]), "L:42");
    }
    format_parser_free(p);
    arena_destroy(&mem);
}

static void test_flatten(void)
{
    const char *fs = "{\"format\":\"nd-json\",\"flattenSpec\":{\"useFieldDiscovery\":true,"
                     "\"fields\":[{\"type\":\"path\",\"name\":\"city\",\"expr\":\"$.geo.city\"},"
                     "{\"type\":\"path\",\"name\":\"first\",\"expr\":\"$.tags[0]\"},"
                     "{\"type\":\"path\",\"name\":\"odd\",\"expr\":\"$['we ird'].x\"},"
                     "{\"type\":\"root\",\"name\":\"id\"}]}}";
    struct format_parser *p = tf_parser(fs, "id:long,city:string,first:string,odd:long", false);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    const char *r =
        "{\"id\":7,\"geo\":{\"city\":\"Par\\u00eds\",\"zip\":1},\"tags\":[\"t1\",\"t2\"],"
        "\"we ird\":{\"x\":\"5\"},\"city\":\"shadowed\"}";
    struct format_row row;
    struct lerr err;
    CHECK_EQ_INT(tf_parse(p, &mem, r, strlen(r), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_str(&row.values[0]), "L:7");
    CHECK_EQ_STR(tf_str(&row.values[1]), "S:Par\xC3\xADs");
    CHECK_EQ_STR(tf_str(&row.values[2]), "S:t1");
    CHECK_EQ_STR(tf_str(&row.values[3]), "L:5");
    const char *r2 = "{\"id\":8,\"geo\":[]}";
    CHECK_EQ_INT(tf_parse(p, &mem, r2, strlen(r2), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_str(&row.values[1]), "NULL");
    format_parser_free(p);
    arena_destroy(&mem);

    struct lerr e2;
    CHECK(!tf_parser_ex("{\"format\":\"nd-json\",\"flattenSpec\":{\"fields\":[{\"type\":\"path\","
                        "\"name\":\"a\",\"expr\":\"a.b\"}]}}",
                        "a:string", false, NULL, 0, &e2));
    CHECK(strstr(e2.msg, "must start with '$'") != NULL);
    CHECK(!tf_parser_ex("{\"format\":\"nd-json\",\"flattenSpec\":{\"fields\":[{\"type\":\"xpath\","
                        "\"name\":\"a\",\"expr\":\".a\"}]}}",
                        "a:string", false, NULL, 0, &e2));
    CHECK(strstr(e2.msg, "use \"root\", \"path\", \"jq\" or \"tree\"") != NULL);
}

/* jq and tree fields find what the equivalent path finds; a path, jq or tree
 * field never falls back to a root member of its name. */
static void test_flatten_jq_tree(void)
{
    const char *fs = "{\"format\":\"nd-json\",\"flattenSpec\":{\"fields\":["
                     "{\"type\":\"jq\",\"name\":\"city\",\"expr\":\".geo.city\"},"
                     "{\"type\":\"jq\",\"name\":\"first\",\"expr\":\".tags[1]\"},"
                     "{\"type\":\"jq\",\"name\":\"odd\",\"expr\":\".\\\"we ird\\\".x\"},"
                     "{\"type\":\"jq\",\"name\":\"odd2\",\"expr\":\".[\\\"we ird\\\"].x\"},"
                     "{\"type\":\"jq\",\"name\":\"q\",\"expr\":\".geo[\\\"zip\\\"]\"},"
                     "{\"type\":\"tree\",\"name\":\"zip\",\"nodes\":[\"geo\",\"zip\"]},"
                     "{\"type\":\"jq\",\"name\":\"all\",\"expr\":\".\"}]}}";
    struct format_parser *p = tf_parser(
        fs, "city:string,first:string,odd:long,odd2:long,q:long,zip:long,all:json", false);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row row;
    struct lerr err;
    const char *r = "{\"geo\":{\"city\":\"Lyon\",\"zip\":69},\"tags\":[\"t1\",\"t2\"],"
                    "\"we ird\":{\"x\":5},\"city\":\"root\",\"zip\":1}";
    CHECK_EQ_INT(tf_parse(p, &mem, r, strlen(r), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_str(&row.values[0]), "S:Lyon");
    CHECK_EQ_STR(tf_str(&row.values[1]), "S:t2");
    CHECK_EQ_STR(tf_str(&row.values[2]), "L:5");
    CHECK_EQ_STR(tf_str(&row.values[3]), "L:5");
    CHECK_EQ_STR(tf_str(&row.values[4]), "L:69");
    CHECK_EQ_STR(tf_str(&row.values[5]), "L:69");
    CHECK(strncmp(tf_str(&row.values[6]), "J:{\"geo\"", 8) == 0);
    /* the paths find nothing: NULL, not the root members "city" and "zip" */
    const char *r2 = "{\"city\":\"root\",\"zip\":1,\"geo\":\"flat\"}";
    CHECK_EQ_INT(tf_parse(p, &mem, r2, strlen(r2), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_str(&row.values[0]), "NULL");
    CHECK_EQ_STR(tf_str(&row.values[5]), "NULL");
    format_parser_free(p);
    arena_destroy(&mem);

    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"{\"type\":\"jq\",\"name\":\"a\",\"expr\":\"a.b\"}", "must start with '.'"},
        {"{\"type\":\"jq\",\"name\":\"a\",\"expr\":\".a[x]\"}", "at character"},
        {"{\"type\":\"jq\",\"name\":\"a\",\"expr\":\".\\\"open\"}", "at character"},
        {"{\"type\":\"jq\",\"name\":\"a\"}", "is required for a jq field"},
        {"{\"type\":\"tree\",\"name\":\"a\"}", "nodes is required for a tree field"},
        {"{\"type\":\"tree\",\"name\":\"a\",\"nodes\":[1]}", "only member names"},
        {"{\"type\":\"tree\",\"name\":\"a\",\"nodes\":[\"x\"],\"expr\":\"$.x\"}",
         "not for a tree field"},
        {"{\"type\":\"path\",\"name\":\"a\",\"expr\":\"$.x\",\"nodes\":[\"x\"]}",
         "only for \"type\": \"tree\""},
        {"{\"type\":\"path\",\"name\":\"a\",\"expr\":\"$.x\",\"exp\":1}",
         "exp is not a known field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char spec[512];
        snprintf(spec, sizeof spec, "{\"format\":\"nd-json\",\"flattenSpec\":{\"fields\":[%s]}}",
                 bad[i].spec);
        struct lerr e;
        CHECK(!tf_parser_ex(spec, "a:string", false, NULL, 0, &e));
        if (!strstr(e.msg, bad[i].msg))
            printf("FAIL flatten case %zu: '%s' lacks '%s'\n", i, e.msg, bad[i].msg);
        CHECK(strstr(e.msg, bad[i].msg) != NULL);
    }
    struct lerr e;
    CHECK(!tf_parser_ex("{\"format\":\"nd-json\",\"flattenSpec\":{\"useFieldDiscovery\":1}}",
                        "a:string", false, NULL, 0, &e));
    CHECK(strstr(e.msg, "useFieldDiscovery must be true or false") != NULL);
    CHECK(!tf_parser_ex("{\"format\":\"nd-json\",\"flattenSpec\":{\"useFieldDiscvery\":true}}",
                        "a:string", false, NULL, 0, &e));
    CHECK(strstr(e.msg, "useFieldDiscvery is not a known field") != NULL);
}

/* useFieldDiscovery false: only the flattenSpec's fields are read, declared or
 * discovered; true (the default): every member, and discovery finds path
 * fields by their names too. */
static void test_flatten_field_discovery(void)
{
    const char *off = "{\"format\":\"nd-json\",\"flattenSpec\":{\"useFieldDiscovery\":false,"
                      "\"fields\":[{\"type\":\"root\",\"name\":\"id\"},"
                      "{\"type\":\"root\",\"name\":\"extra\"},"
                      "{\"type\":\"path\",\"name\":\"city\",\"expr\":\"$.geo.city\"}]}}";
    struct lerr e0;
    struct format_parser *p = tf_parser_ex(off, "id:long,other:string", true, NULL, 0, &e0);
    CHECK(p != NULL);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row row;
    struct lerr err;
    const char *r = "{\"id\":3,\"other\":\"o\",\"extra\":\"e\",\"stray\":1,"
                    "\"geo\":{\"city\":\"Oslo\"},\"city\":\"root\"}";
    CHECK_EQ_INT(tf_parse(p, &mem, r, strlen(r), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "id"), "L:3");
    CHECK_EQ_STR(tf_field(p, &row, "other"), "NULL");
    CHECK_EQ_STR(tf_field(p, &row, "extra"), "S:e");
    CHECK_EQ_STR(tf_field(p, &row, "city"), "S:Oslo");
    CHECK_EQ_STR(tf_type(p, "stray"), "none");
    CHECK_EQ_STR(tf_type(p, "geo"), "none");
    format_parser_free(p);

    const char *on = "{\"format\":\"nd-json\",\"flattenSpec\":{\"fields\":["
                     "{\"type\":\"path\",\"name\":\"city\",\"expr\":\"$.geo.city\"}]}}";
    p = tf_parser_ex(on, "id:long", true, NULL, 0, &e0);
    CHECK(p != NULL);
    if (!p) {
        arena_destroy(&mem);
        return;
    }
    const char *r2 = "{\"city\":\"root\",\"id\":4,\"stray\":2,\"geo\":{\"city\":\"Rome\"}}";
    CHECK_EQ_INT(tf_parse(p, &mem, r2, strlen(r2), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "id"), "L:4");
    CHECK_EQ_STR(tf_field(p, &row, "stray"), "L:2");
    CHECK_EQ_STR(tf_field(p, &row, "city"), "S:Rome");
    CHECK_EQ_STR(tf_type(p, "city"), "string");
    /* no geo.city: the discovered field has no value, the root "city" is not read */
    const char *r3 = "{\"city\":\"root\",\"id\":5}";
    CHECK_EQ_INT(tf_parse(p, &mem, r3, strlen(r3), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "city"), "ABSENT");
    format_parser_free(p);
    arena_destroy(&mem);
}

/* ---- discovery ------------------------------------------------------------ */

static void test_discovery_types(void)
{
    static const char *const excl[] = {"secret", "declared"};
    struct lerr e0;
    struct format_parser *p = tf_parser_ex(NDJSON, "declared:string", true, excl, 2, &e0);
    CHECK(p != NULL);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row row;
    struct lerr err;
    const char *r1 = "{\"declared\":\"d\",\"a\":1,\"b\":\"x\",\"c\":true,\"d\":{\"k\":1},"
                     "\"e\":[1,2],\"f\":[{\"x\":1}],\"g\":null,\"h\":1.5,\"secret\":\"s\","
                     "\"i\":[[1]],\"j\":[],\"k\":false}";
    CHECK_EQ_INT(tf_parse(p, &mem, r1, strlen(r1), &row, &err), FORMAT_OK);
    CHECK(row.schema_changed);
    CHECK_EQ_STR(tf_type(p, "declared"), "string");
    CHECK_EQ_STR(tf_type(p, "a"), "long");
    CHECK_EQ_STR(tf_type(p, "b"), "string");
    CHECK_EQ_STR(tf_type(p, "c"), "long");
    CHECK_EQ_STR(tf_type(p, "d"), "json");
    CHECK_EQ_STR(tf_type(p, "e"), "array<long>");
    CHECK_EQ_STR(tf_type(p, "f"), "json");
    CHECK_EQ_STR(tf_type(p, "g"), "none"); /* only null so far */
    CHECK_EQ_STR(tf_type(p, "h"), "double");
    CHECK_EQ_STR(tf_type(p, "secret"), "none"); /* excluded */
    CHECK_EQ_STR(tf_type(p, "i"), "json");
    CHECK_EQ_STR(tf_type(p, "j"), "array<?>");
    CHECK_EQ_STR(tf_field(p, &row, "declared"), "S:d");
    CHECK_EQ_STR(tf_field(p, &row, "a"), "L:1");
    CHECK_EQ_STR(tf_field(p, &row, "b"), "S:x");
    CHECK_EQ_STR(tf_field(p, &row, "c"), "L:1");
    CHECK_EQ_STR(tf_field(p, &row, "k"), "L:0");
    CHECK_EQ_STR(tf_field(p, &row, "d"), "J:{\"k\":1}");
    CHECK_EQ_STR(tf_field(p, &row, "e"), "A:[L:1,L:2]");
    CHECK_EQ_STR(tf_field(p, &row, "f"), "J:[{\"x\":1}]");
    CHECK_EQ_STR(tf_field(p, &row, "h"), "D:1.5");
    CHECK_EQ_STR(tf_field(p, &row, "j"), "A:[]");
    CHECK_EQ_INT(row.nvalues, 1);
    CHECK_EQ_INT(row.nextra, 10); /* a b c d e f h i j k: not g (null), not secret */
    uint64_t gen1 = format_parser_generation(p);
    CHECK_EQ_INT(gen1, 10);

    /* Widening across records, each reported with a newer generation. */
    struct step {
        const char *rec, *field, *type, *value;
        bool changed;
    } steps[] = {
        {"{\"a\":2.5}", "a", "double", "D:2.5", true},   /* long then double → DOUBLE */
        {"{\"a\":3}", "a", "double", "D:3", false},      /* stays DOUBLE */
        {"{\"a\":\"zz\"}", "a", "string", "S:zz", true}, /* number then string → STRING */
        {"{\"a\":4}", "a", "string", "S:4", false},
        {"{\"b\":5}", "b", "string", "S:5", false},
        {"{\"c\":2}", "c", "long", "L:2", false},
        {"{\"g\":3}", "g", "long", "L:3", true}, /* first non-null value */
        {"{\"e\":[1.5,\"x\",null]}", "e", "array<string>", "A:[S:1.5,S:x,NULL]", true},
        {"{\"e\":7}", "e", "array<string>", "A:[S:7]", false},
        {"{\"j\":[1]}", "j", "array<long>", "A:[L:1]", true},
        {"{\"j\":[2.5]}", "j", "array<double>", "A:[D:2.5]", true},
        {"{\"h\":{\"x\":1}}", "h", "json", "J:{\"x\":1}", true},
        {"{\"h\":2}", "h", "json", "J:2", false},
        {"{\"c\":[true]}", "c", "array<long>", "A:[L:1]", true},
        {"{\"b\":null}", "b", "string", "ABSENT", false},
        {"{\"z\":1,\"z\":2}", "z", "long", "L:2", true},
    };
    uint64_t gen = gen1;
    for (size_t i = 0; i < LS_ARRAY_LEN(steps); i++) {
        CHECK_EQ_INT(tf_parse(p, &mem, steps[i].rec, strlen(steps[i].rec), &row, &err), FORMAT_OK);
        CHECK_MSG(strcmp(tf_type(p, steps[i].field), steps[i].type) == 0,
                  "step %zu: type %s, want %s", i, tf_type(p, steps[i].field), steps[i].type);
        CHECK_MSG(strcmp(tf_field(p, &row, steps[i].field), steps[i].value) == 0,
                  "step %zu: value %s, want %s", i, tf_field(p, &row, steps[i].field),
                  steps[i].value);
        CHECK_MSG(row.schema_changed == steps[i].changed, "step %zu: changed %d", i,
                  row.schema_changed);
        uint64_t g = format_parser_generation(p);
        CHECK_MSG((g > gen) == steps[i].changed, "step %zu: generation %llu after %llu", i,
                  (unsigned long long)g, (unsigned long long)gen);
        if (steps[i].changed) {
            const struct format_field *f;
            size_t n = format_discovered_fields(p, &f, NULL);
            size_t changed = 0;
            for (size_t k = 0; k < n; k++)
                if (f[k].changed > gen) {
                    changed++;
                    CHECK_EQ_STR(f[k].name, steps[i].field);
                }
            CHECK_EQ_INT(changed, 1);
        }
        gen = g;
    }
    /* Indexes are stable and the schema lists every field. */
    struct sql_field sch[32];
    size_t n = format_parser_schema(p, sch, 32);
    CHECK_EQ_INT(n, 13);
    CHECK(sch[0].name_len == 8 && memcmp(sch[0].name, "declared", 8) == 0);
    CHECK(sch[1].name_len == 1 && sch[1].name[0] == 'a' && sch[1].type == SQL_STRING);
    CHECK(sch[12].name_len == 1 && sch[12].name[0] == 'z');
    const struct format_field *ff;
    format_discovered_fields(p, &ff, NULL);
    CHECK_EQ_INT(ff[0].origin, FORMAT_ORIGIN_DECLARED);
    CHECK_EQ_INT(ff[1].origin, FORMAT_ORIGIN_DISCOVERED);
    format_parser_free(p);
    arena_destroy(&mem);
}

static void test_discovery_cap(void)
{
    struct format_parser *p = tf_parser(NDJSON, "x:long", true);
    format_parser_set_max_discovered(p, 3);
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row row;
    struct lerr err;
    const char *r = "{\"x\":1,\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}";
    CHECK_EQ_INT(tf_parse(p, &mem, r, strlen(r), &row, &err), FORMAT_OK_WITH_WARNINGS);
    CHECK(strstr(err.msg, "'d' is not discovered") != NULL);
    CHECK(strstr(err.msg, "dimensionExclusions") != NULL);
    CHECK_EQ_INT(row.nextra, 3);
    CHECK_EQ_STR(tf_type(p, "d"), "none");
    CHECK_EQ_STR(tf_field(p, &row, "c"), "L:3");
    /* Known fields keep working past the cap. */
    const char *r2 = "{\"a\":7}";
    CHECK_EQ_INT(tf_parse(p, &mem, r2, strlen(r2), &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "a"), "L:7");
    format_parser_free(p);

    /* The default cap: 10,000 fields, then a warning. */
    p = tf_parser(NDJSON, "x:long", true);
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '{');
    for (unsigned i = 0; i <= FORMAT_MAX_DISCOVERED; i++)
        buf_printf(&b, "%s\"field_%05u\":%u", i ? "," : "", i, i);
    buf_putc(&b, '}');
    arena_reset(&mem);
    CHECK_EQ_INT(tf_parse(p, &mem, b.data, b.len, &row, &err), FORMAT_OK_WITH_WARNINGS);
    CHECK_EQ_INT(row.nextra, FORMAT_MAX_DISCOVERED);
    CHECK(strstr(err.msg, "field_10000") != NULL);
    CHECK_EQ_INT(format_parser_generation(p), FORMAT_MAX_DISCOVERED);
    /* A second record over the same keys: all found again, no change. */
    arena_reset(&mem);
    CHECK_EQ_INT(tf_parse(p, &mem, b.data, b.len, &row, &err), FORMAT_OK_WITH_WARNINGS);
    CHECK(!row.schema_changed);
    CHECK_EQ_STR(tf_field(p, &row, "field_09999"), "L:9999");
    buf_free(&b);
    format_parser_free(p);

    /* Long and empty names are skipped with a warning. */
    p = tf_parser(NDJSON, "x:long", true);
    char r3[600];
    memset(r3, 'n', sizeof r3);
    r3[0] = '{';
    r3[1] = '"';
    size_t k = 2 + FORMAT_MAX_NAME + 1;
    k += (size_t)snprintf(r3 + k, sizeof r3 - k, "\":1,\"\":2}");
    CHECK_EQ_INT(tf_parse(p, &mem, r3, k, &row, &err), FORMAT_OK_WITH_WARNINGS);
    CHECK_EQ_INT(row.nextra, 0);
    format_parser_free(p);
    arena_destroy(&mem);
}

/* A full arena is LERR_NOMEM, not a bad record; the same record parses
 * after a reset. */
static void test_arena_full(void)
{
    struct format_parser *p = tf_parser(NDJSON, "a:string,b:string", false);
    struct arena mem;
    arena_init(&mem, 256, 256);
    const char *r = "{\"a\":\"x\\ty\",\"b\":\"z\"}";
    struct format_row row;
    struct lerr err;
    int nomem = 0, ok = 0;
    for (int i = 0; i < 20; i++) {
        enum format_outcome o = tf_parse(p, &mem, r, strlen(r), &row, &err);
        if (o == FORMAT_ERROR) {
            CHECK_EQ_INT(err.code, LERR_NOMEM);
            nomem++;
            arena_reset(&mem);
            CHECK_EQ_INT(tf_parse(p, &mem, r, strlen(r), &row, &err), FORMAT_OK);
        } else {
            ok++;
        }
    }
    CHECK(nomem > 0 && ok > 0);
    format_parser_free(p);
    arena_destroy(&mem);
}

/* ---- settings ---------------------------------------------------------------- */

static void test_settings(void)
{
    struct arena a;
    arena_init(&a, 0, 0);
    struct format_settings fs;
    struct lerr err;
    const char *k = "{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"delimited\","
                    "\"delimiter\":\"|\",\"skipHeaderRows\":2,\"columns\":[\"a\",\"b\"],"
                    "\"findColumnsFromHeader\":false,\"listDelimiter\":\";\"},"
                    "\"keyFormat\":{\"format\":\"nd-json\",\"flattenSpec\":{}},"
                    "\"keyColumnName\":\"k\",\"timestampColumnName\":\"ts\","
                    "\"headerLabelPrefix\":\"h.\",\"topicColumnName\":\"t\"}";
    lerr_init(&err);
    CHECK_EQ_INT(settings_text(k, &a, &fs, &err), 0);
    CHECK_EQ_INT(fs.kind, FORMAT_KAFKA);
    CHECK(fs.value_format && fs.value_format->kind == FORMAT_DELIMITED);
    CHECK_EQ_STR(fs.value_format->delimiter, "|");
    CHECK_EQ_STR(fs.value_format->list_delimiter, ";");
    CHECK_EQ_INT(fs.value_format->skip_header_rows, 2);
    CHECK_EQ_INT(fs.value_format->ncolumns, 2);
    CHECK_EQ_STR(fs.value_format->columns[1], "b");
    CHECK(fs.key_format && fs.key_format->kind == FORMAT_NDJSON);
    CHECK_EQ_STR(fs.key_column, "k");
    CHECK_EQ_STR(fs.timestamp_column, "ts");
    CHECK_EQ_STR(fs.header_prefix, "h.");
    CHECK_EQ_STR(fs.topic_column, "t");

    static const struct {
        const char *json, *msg_has;
    } bad[] = {
        {"{\"format\":\"xml\"}", "\"xml\" is not supported"},
        {"{}", "formatSettings.format is required"},
        {"[]", "must be an object"},
        {"\"csv\"", "must be an object"},
        {"{\"format\":\"delimited\"}", "formatSettings.delimiter is required"},
        {"{\"format\":\"csv\",\"skipHeaderRows\":-1}", "skipHeaderRows must be"},
        {"{\"format\":\"csv\",\"columns\":[1]}", "columns must hold only strings"},
        {"{\"format\":\"kafka\"}", "formatSettings.valueFormat is required"},
        {"{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"kafka\"}}",
         "formatSettings.valueFormat.format \"kafka\" is not supported here"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        CHECK(settings_text(bad[i].json, &a, &fs, &err) != 0);
        CHECK_MSG(strstr(err.msg, bad[i].msg_has) != NULL, "%s: '%s' lacks '%s'", bad[i].json,
                  err.msg, bad[i].msg_has);
    }

    struct sql_schema sch;
    const char *is = "[{\"name\":\"a\",\"dataType\":\"string\"},{\"name\":\"b\",\"dataType\":"
                     "\"LONG\"},{\"name\":\"c\",\"dataType\":\"json\"}]";
    lerr_init(&err);
    CHECK_EQ_INT(input_schema_text(is, &a, &sch, &err), 0);
    CHECK_EQ_INT(sch.n, 3);
    CHECK_EQ_INT(sch.fields[1].type, SQL_LONG);
    CHECK_EQ_INT(sch.fields[2].type, SQL_JSON);
    const char *bad_is = "[{\"name\":\"a\",\"dataType\":\"blob\"}]";
    lerr_init(&err);
    CHECK(input_schema_text(bad_is, &a, &sch, &err) != 0);
    CHECK(strstr(err.msg, "inputSchema[0].dataType 'blob'") != NULL);

    /* Parser-level checks. */
    struct lerr e2;
    CHECK(!tf_parser_ex(NDJSON, "a:string,a:long", false, NULL, 0, &e2));
    CHECK(strstr(e2.msg, "declared twice") != NULL);
    CHECK(!tf_parser_ex("{\"format\":\"delimited\",\"delimiter\":\"\\\"\"}", "a:string", false,
                        NULL, 0, &e2));
    CHECK(strstr(e2.msg, "cannot contain a quote") != NULL);
    arena_destroy(&a);
}

static void test_blank(void)
{
    CHECK(format_is_blank("", 0));
    CHECK(format_is_blank(" \t\r\n", 4));
    CHECK(format_is_blank("\xEF\xBB\xBF \n", 5));
    CHECK(!format_is_blank(" x ", 3));
    CHECK(!format_is_blank("\xEF\xBB", 2));
}

/* ---- one plan, several parsers ------------------------------------------------ */

/* Every record's outcome, warning and values as one text. */
#define SP_OUT 16384
struct sp_run {
    struct format_parser *p;
    const char *const *recs;
    size_t nrecs;
    char out[SP_OUT];
};

static void sp_append(char *out, const char *s)
{
    size_t l = strlen(out);
    snprintf(out + l, SP_OUT - l, "%s", s);
}

/* Splits each text into records as the pipeline does and parses them all. */
static void *sp_parse_all(void *arg)
{
    struct sp_run *r = arg;
    struct arena mem;
    arena_init(&mem, 64 * 1024, 0);
    r->out[0] = '\0';
    for (size_t t = 0; t < r->nrecs; t++) {
        struct format_splitter sp;
        struct record rec = {0};
        size_t line;
        format_split_init(&sp, r->p, r->recs[t], strlen(r->recs[t]));
        while (format_split_next(&sp, &rec.data, &rec.len, &line)) {
            struct format_row row;
            struct lerr err;
            lerr_init(&err);
            enum format_outcome o = format_parse(r->p, &rec, &mem, &row, &err);
            char b[1024];
            snprintf(b, sizeof b, "#%d %s|", (int)o, o == FORMAT_OK ? "" : err.msg);
            sp_append(r->out, b);
            if (o == FORMAT_ERROR)
                continue;
            for (uint32_t i = 0; i < row.nvalues; i++) {
                b[0] = '\0';
                tf_val(&row.values[i], b, sizeof b);
                sp_append(r->out, b);
                sp_append(r->out, ",");
            }
            for (uint32_t k = 0; k < row.nextra; k++) {
                snprintf(b, sizeof b, "x%u=", row.extra_index[k]);
                tf_val(&row.extra[k], b, sizeof b);
                sp_append(r->out, b);
                sp_append(r->out, ",");
            }
            sp_append(r->out, row.schema_changed ? "+\n" : "\n");
        }
        arena_reset(&mem);
    }
    arena_destroy(&mem);
    return NULL;
}

/* The schema a parser ended with, as text. */
static void sp_schema(const struct format_parser *p, char *out, size_t cap)
{
    const struct format_field *f;
    uint64_t gen;
    size_t n = format_discovered_fields(p, &f, &gen);
    size_t l = (size_t)snprintf(out, cap, "gen %" PRIu64 ":", gen);
    for (size_t i = 0; i < n && l < cap; i++)
        l += (size_t)snprintf(out + l, cap - l, " %s:%d/%d@%" PRIu64 "/%" PRIu64, f[i].name,
                              f[i].type, f[i].elem_type, f[i].added, f[i].changed);
}

/* A parser that owns its plan (format_parser_new), and two parsers opened on
 * one shared plan, parsing in two threads at once, give the same rows,
 * warnings and discovered schemas. */
static void shared_plan_case(const char *settings, const char *spec, const char *const *recs,
                             size_t nrecs)
{
    struct arena a;
    arena_init(&a, 4096, 0);
    struct format_settings fs;
    struct lerr err;
    lerr_init(&err);
    struct sql_field fields[16];
    struct sql_schema sch = {fields, tf_schema(spec, fields, 16)};
    const char *excl[] = {"skipme"};
    CHECK_MSG(settings_text(settings, &a, &fs, &err) == 0, "%s: %s", settings, err.msg);
    struct format_plan *plan = format_plan_new(&fs, &sch, true, excl, 1, &err);
    struct format_parser *alone = format_parser_new(&fs, &sch, true, excl, 1, &err);
    CHECK_MSG(plan && alone, "%s: %s", settings, err.msg);
    if (!plan || !alone) {
        format_plan_free(plan);
        format_parser_free(alone);
        arena_destroy(&a);
        return;
    }
    struct format_parser *p1 = format_parser_open(plan, &err);
    struct format_parser *p2 = format_parser_open(plan, &err);
    CHECK(p1 && p2);
    CHECK(format_parser_plan(p1) == plan && format_parser_plan(p2) == plan);
    CHECK(format_plan_nfixed(plan) == format_parser_nfixed(alone));

    static struct sp_run ref, r1, r2;
    ref = (struct sp_run){.p = alone, .recs = recs, .nrecs = nrecs};
    r1 = (struct sp_run){.p = p1, .recs = recs, .nrecs = nrecs};
    r2 = (struct sp_run){.p = p2, .recs = recs, .nrecs = nrecs};
    sp_parse_all(&ref);
    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, sp_parse_all, &r1) == 0);
    CHECK(pthread_create(&t2, NULL, sp_parse_all, &r2) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK_MSG(strcmp(ref.out, r1.out) == 0, "%s: thread 1 parsed\n%s\nalone:\n%s", settings,
              r1.out, ref.out);
    CHECK_MSG(strcmp(ref.out, r2.out) == 0, "%s: thread 2 parsed\n%s\nalone:\n%s", settings,
              r2.out, ref.out);
    CHECK_MSG(strstr(ref.out, "+\n") != NULL, "%s: the records discover fields:\n%s", settings,
              ref.out);
    char s0[2048], s1[2048], s2[2048];
    sp_schema(alone, s0, sizeof s0);
    sp_schema(p1, s1, sizeof s1);
    sp_schema(p2, s2, sizeof s2);
    CHECK_MSG(strcmp(s0, s1) == 0 && strcmp(s0, s2) == 0, "schemas differ:\n%s\n%s\n%s", s0, s1,
              s2);

    /* A parser opened later starts from the plan's fixed fields, not from
     * what the others discovered. */
    struct format_parser *p3 = format_parser_open(plan, &err);
    CHECK(p3 && format_discovered_fields(p3, NULL, NULL) == format_plan_nfixed(plan));
    CHECK(p3 && format_parser_generation(p3) == 0);
    format_parser_free(p3);
    format_parser_free(p1);
    format_parser_free(p2);
    format_parser_free(alone);
    format_plan_free(plan);
    arena_destroy(&a);
}

static void test_shared_plan(void)
{
    const char *const json[] = {
        "{\"a\":1,\"b\":\"x\",\"n\":{\"k\":2},\"new1\":5,\"skipme\":1}\n"
        "{\"a\":\"2.5\",\"new1\":1.5,\"new2\":[1,\"s\"],\"b\":null}\n"
        "{\"a\":\"bad\",\"b\":\"\\u00e9\\n\",\"new2\":{\"o\":1}}\n",
        "{\"new3\":true}\n{not json}\n{\"a\":9007199254740993,\"new1\":\"t\"}\n",
    };
    shared_plan_case("{\"format\":\"nd-json\",\"flattenSpec\":{\"fields\":[{\"type\":\"path\","
                     "\"name\":\"k\",\"expr\":\"$.n.k\"}]}}",
                     "a:long,b:string,k:double", json, 2);
    const char *const csv[] = {
        "a,b,new1,skipme,new2\n1,x,5,9,\"q\"\"uote\"\n2,\"multi\nline\",1.5,0,z\n",
        "a,new2,b\nbad,7,y\n3,\"a|b\",\n",
    };
    shared_plan_case("{\"format\":\"csv\",\"findColumnsFromHeader\":true,"
                     "\"listDelimiter\":\"|\"}",
                     "a:long,b:string", csv, 2);
}

int main(void)
{
    test_coercions();
    test_null_types();
    test_records();
    test_escaped_values_survive();
    test_key_order();
    test_flatten();
    test_flatten_jq_tree();
    test_flatten_field_discovery();
    test_discovery_types();
    test_discovery_cap();
    test_arena_full();
    test_settings();
    test_blank();
    test_shared_plan();
    return check_summary();
}
