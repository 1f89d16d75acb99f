/*
 * test_format_csv.c — the CSV family (csv, tsv, delimited), splitting texts
 * into records (quoted newlines, CRLF, BOM, blank lines, header rows, line
 * numbers), and the kafka wrapper (metadata fields with default and custom
 * names, key formats, headers, discovery of headers).
 */
#include "format_test.h"

static const char *CSV = "{\"format\":\"csv\",\"skipHeaderRows\":0,\"columns\":[],"
                         "\"findColumnsFromHeader\":false,\"listDelimiter\":null}";

/* Splits text with p and parses every record; writes one line per record
 * "line N: OUTCOME v1 v2 ..." (or the error/warning message) into out. */
static void run_text(struct format_parser *p, const char *text, size_t n, char *out, size_t cap)
{
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_splitter s;
    format_split_init(&s, p, text, n);
    const char *rec;
    size_t len, line;
    out[0] = '\0';
    while (format_split_next(&s, &rec, &len, &line)) {
        struct format_row row;
        struct lerr err;
        enum format_outcome o = tf_parse(p, &mem, rec, len, &row, &err);
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%zu:%s", line,
                 o == FORMAT_OK      ? "OK"
                 : o == FORMAT_ERROR ? "ERR"
                                     : "WARN");
        if (o != FORMAT_ERROR)
            for (uint32_t i = 0; i < row.nvalues; i++) {
                l = strlen(out);
                snprintf(out + l, cap - l, " %s", tf_str(&row.values[i]));
            }
        if (o != FORMAT_OK) {
            l = strlen(out);
            snprintf(out + l, cap - l, " (%s)", err.msg);
        }
        strncat(out, "\n", cap - strlen(out) - 1);
    }
    arena_destroy(&mem);
}

/* ---- single records ----------------------------------------------------- */

struct row_case {
    const char *rec;
    enum format_outcome outcome;
    const char *want; /* values "a|b|c" in tf_str form, or NULL */
    int64_t pos;      /* error position */
    const char *msg_has;
};

static const struct row_case csv_rows[] = {
    {"x,12,1.5", FORMAT_OK, "S:x|L:12|D:1.5", -1, NULL},
    {"\"x,y\",\"12\",\"1.5\"", FORMAT_OK, "S:x,y|L:12|D:1.5", -1, NULL},
    {"\"say \"\"hi\"\"\",1,2", FORMAT_OK, "S:say \"hi\"|L:1|D:2", -1, NULL},
    {"\"\"\"\"\"\",1,2", FORMAT_OK, "S:\"\"|L:1|D:2", -1, NULL},
    {"\"two\nlines\",1,2", FORMAT_OK, "S:two\nlines|L:1|D:2", -1, NULL},
    {"\"crlf\r\ninside\",1,2\r\n", FORMAT_OK, "S:crlf\r\ninside|L:1|D:2", -1, NULL},
    {",,", FORMAT_OK, "S:|NULL|NULL", -1, NULL}, /* empty: '' and NULL */
    {"\"\",\"\",\"\"", FORMAT_OK, "S:|NULL|NULL", -1, NULL},
    {"a b , 7 , -0", FORMAT_OK, "S:a b |L:7|D:-0", -1, NULL}, /* strings not trimmed */
    {"ab\"c,1,2", FORMAT_OK, "S:ab\"c|L:1|D:2", -1, NULL},    /* a bare quote is data */
    {"x,1,2\n", FORMAT_OK, "S:x|L:1|D:2", -1, NULL},
    {"x,1,2\r\n", FORMAT_OK, "S:x|L:1|D:2", -1, NULL},
    {"x,1,2\r", FORMAT_OK, "S:x|L:1|D:2", -1, NULL},
    {"\xEF\xBB\xBFx,1,2", FORMAT_OK, "S:x|L:1|D:2", -1, NULL},
    {"\xC3\xA9t\xC3\xA9,1,2", FORMAT_OK, "S:\xC3\xA9t\xC3\xA9|L:1|D:2", -1, NULL},
    {"x,1e400,1e400", FORMAT_OK_WITH_WARNINGS, "S:x|NULL|NULL", -1, "out of the range"},
    {"x,abc,1", FORMAT_OK_WITH_WARNINGS, "S:x|NULL|D:1", -1,
     "input field 'b': text \"abc\" is not a valid long"},
    {"x,1", FORMAT_OK_WITH_WARNINGS, "S:x|L:1|NULL", -1, "2 fields but there are 3 columns"},
    {"x", FORMAT_OK_WITH_WARNINGS, "S:x|NULL|NULL", -1, "missing ones are NULL"},
    {"x,1,2,extra,more", FORMAT_OK_WITH_WARNINGS, "S:x|L:1|D:2", -1, "extra ones are ignored"},
    {"\"abc,1,2", FORMAT_ERROR, NULL, 8, "unterminated quoted field (opened at byte 0)"},
    {"\"ab\"c,1,2", FORMAT_ERROR, NULL, 4, "unexpected 'c' after the closing quote"},
    {"x,\"1\" ,2", FORMAT_ERROR, NULL, 5, "unexpected ' '"},
    {"x\xFF,1,2", FORMAT_ERROR, NULL, 1, "invalid UTF-8 byte 0xFF"},
    {"x,1,2\ny,3,4", FORMAT_ERROR, NULL, 6, "more than one row"},
    {"", FORMAT_ERROR, NULL, 0, "empty record"},
    {" \r\n", FORMAT_ERROR, NULL, 0, "empty record"},
};

static void test_csv_rows(void)
{
    struct format_parser *p = tf_parser(CSV, "a:string,b:long,c:double", false);
    struct arena mem;
    arena_init(&mem, 0, 0);
    for (size_t i = 0; i < LS_ARRAY_LEN(csv_rows); i++) {
        const struct row_case *tc = &csv_rows[i];
        struct format_row row;
        struct lerr err;
        enum format_outcome o = tf_parse(p, &mem, tc->rec, strlen(tc->rec), &row, &err);
        CHECK_MSG(o == tc->outcome, "row %zu: outcome %d, want %d (%s)", i, o, tc->outcome,
                  err.msg);
        if (tc->want && o != FORMAT_ERROR) {
            char got[512] = "";
            for (uint32_t k = 0; k < row.nvalues; k++) {
                if (k)
                    strcat(got, "|");
                strcat(got, tf_str(&row.values[k]));
            }
            CHECK_MSG(strcmp(got, tc->want) == 0, "row %zu: got %s, want %s", i, got, tc->want);
        }
        if (tc->outcome == FORMAT_ERROR)
            CHECK_MSG(err.pos == tc->pos, "row %zu: pos %lld, want %lld (%s)", i,
                      (long long)err.pos, (long long)tc->pos, err.msg);
        if (tc->msg_has)
            CHECK_MSG(strstr(err.msg, tc->msg_has) != NULL, "row %zu: '%s' lacks '%s'", i, err.msg,
                      tc->msg_has);
    }
    format_parser_free(p);
    arena_destroy(&mem);
}

/* tsv, a multi-byte delimiter, a json field, listDelimiter arrays. */
static void test_delimiters_and_lists(void)
{
    char out[2048];
    struct format_parser *p = tf_parser("{\"format\":\"tsv\"}", "a:string,b:long", false);
    const char *t = "x,y\t1\n\"q\tq\"\t2\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "1:OK S:x,y L:1\n2:OK S:q\tq L:2\n");
    format_parser_free(p);

    p = tf_parser("{\"format\":\"delimited\",\"delimiter\":\"||\"}", "a:string,b:string,c:long",
                  false);
    t = "a|b||c||3\n\"x||y\"||z|||4\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK(strstr(out, "1:OK S:a|b S:c L:3\n") != NULL);
    CHECK(strstr(out, "2:WARN S:x||y S:z NULL") != NULL); /* "|4" is not a long */
    format_parser_free(p);

    p = tf_parser("{\"format\":\"csv\",\"listDelimiter\":\"|\"}", "tags:string,n:long,j:json",
                  false);
    t = "a|b|c,1|2,x\n"
        "single,3,\"say \"\"hi\"\"\"\n"
        "|,4,{\"k\":1}\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "1:WARN A:[S:a,S:b,S:c] NULL J:\"x\" (input field 'n': text \"1|2\" is not "
                      "a valid long; stored as NULL)\n"
                      "2:OK S:single L:3 J:\"say \\\"hi\\\"\"\n"
                      "3:OK A:[S:,S:] L:4 J:\"{\\\"k\\\":1}\"\n");
    format_parser_free(p);
}

/* ---- splitting ------------------------------------------------------------ */

static void test_split(void)
{
    char out[4096];
    /* Columns from the header; BOM, CRLF, blank lines, quoted newlines, and
     * line numbers of records that span lines. */
    struct format_parser *p = tf_parser("{\"format\":\"csv\",\"findColumnsFromHeader\":true}",
                                        "n:long,name:string", false);
    const char *t = "\xEF\xBB\xBFname,extra,n\r\n"
                    "alice,x,1\r\n"
                    "\r\n"
                    "\"bob\r\nsmith\",y,2\r\n"
                    "carol,z,3";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "2:OK L:1 S:alice\n4:OK L:2 S:bob\r\nsmith\n6:OK L:3 S:carol\n");

    /* The header belongs to its text: a new text reads its own. */
    t = "n,name\n7,dave\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "2:OK L:7 S:dave\n");
    /* Parsing without a header read for this text is an error that says so. */
    struct format_splitter s;
    format_split_init(&s, p, "", 0);
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_row row;
    struct lerr err;
    CHECK_EQ_INT(tf_parse(p, &mem, "1,x", 3, &row, &err), FORMAT_ERROR);
    CHECK(strstr(err.msg, "no header row was read") != NULL);
    /* A bad header makes each row of its text an error. */
    t = "\"n,name\n1,x\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, ""); /* the unterminated quote swallows the text into the header */
    t = "\"n\"x,name\n1,x\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK(strstr(out, "2:ERR (the header row is invalid: invalid CSV at byte 3") == out);
    format_parser_free(p);

    /* skipHeaderRows before the header. */
    p = tf_parser("{\"format\":\"csv\",\"skipHeaderRows\":2,\"findColumnsFromHeader\":true}",
                  "a:string,b:long", false);
    t = "junk line 1\n\"junk\nline 2\"\nb,a\n2,x\n3,y\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "5:OK S:x L:2\n6:OK S:y L:3\n");
    format_parser_free(p);

    /* skipHeaderRows without a header; explicit columns. */
    p = tf_parser(
        "{\"format\":\"csv\",\"skipHeaderRows\":1,\"columns\":[\"b\",\"ignored\",\"a\"]}",
        "a:string,b:long", false);
    t = "b,ignored,a\n1,zzz,x\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "2:OK S:x L:1\n");
    format_parser_free(p);

    /* nd-json: blank lines skipped, CRLF, line numbers, a bad line in the middle. */
    p = tf_parser("{\"format\":\"nd-json\"}", "a:long", false);
    t = "\xEF\xBB\xBF{\"a\":1}\r\n\r\n  \n{\"a\":2}\n{\"a\":\n{\"a\":3}";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "1:OK L:1\n4:OK L:2\n5:ERR (invalid JSON at byte 5: expected a value, found "
                      "end of input)\n6:OK L:3\n");
    format_parser_free(p);
    arena_destroy(&mem);
}

/* The splitter and the row parser agree on where records end, whatever the
 * bytes: every record the splitter yields parses as one row or fails for a
 * reason other than "more than one row". */
static void test_split_agrees(void)
{
    // clang-format off
    static const char *texts[] = {
        "a,\"b\nc\"d,e\nf",
        "\"\"\"\n\"\"\",x\ny",
        "a\r\r\nb",
        "\"x\"\"\ny\"\"\",\"\n\"\n",
        "a,b\"\nc\"d\n",
        "\"open\n",
    };
    // clang-format on
    struct format_parser *p = tf_parser(CSV, "a:string,b:string", false);
    struct arena mem;
    arena_init(&mem, 0, 0);
    for (size_t i = 0; i < LS_ARRAY_LEN(texts); i++) {
        struct format_splitter s;
        format_split_init(&s, p, texts[i], strlen(texts[i]));
        const char *rec;
        size_t len, line;
        while (format_split_next(&s, &rec, &len, &line)) {
            struct format_row row;
            struct lerr err;
            tf_parse(p, &mem, rec, len, &row, &err);
            CHECK_MSG(strstr(err.msg, "more than one row") == NULL, "text %zu: %s", i, err.msg);
        }
    }
    format_parser_free(p);
    arena_destroy(&mem);
}

/* ---- discovery over CSV ------------------------------------------------------ */

static void test_csv_discovery(void)
{
    static const char *const excl[] = {"skip"};
    struct lerr e;
    struct format_parser *p = tf_parser_ex("{\"format\":\"csv\",\"findColumnsFromHeader\":true,"
                                           "\"listDelimiter\":\";\"}",
                                           "a:long", true, excl, 1, &e);
    CHECK(p != NULL);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct format_splitter s;
    const char *t = "a,b,skip,c\n1,x,s,5\n2,y;z,s,6\n";
    format_split_init(&s, p, t, strlen(t));
    const char *rec;
    size_t len, line;
    struct format_row row;
    struct lerr err;
    CHECK(format_split_next(&s, &rec, &len, &line));
    CHECK_EQ_INT(tf_parse(p, &mem, rec, len, &row, &err), FORMAT_OK);
    CHECK(row.schema_changed);
    CHECK_EQ_STR(tf_type(p, "b"), "string");
    CHECK_EQ_STR(tf_type(p, "c"), "string"); /* CSV values are text */
    CHECK_EQ_STR(tf_type(p, "skip"), "none");
    CHECK_EQ_STR(tf_field(p, &row, "a"), "L:1");
    CHECK_EQ_STR(tf_field(p, &row, "b"), "S:x");
    CHECK_EQ_STR(tf_field(p, &row, "c"), "S:5");
    uint64_t g = format_parser_generation(p);
    CHECK(format_split_next(&s, &rec, &len, &line));
    CHECK_EQ_INT(tf_parse(p, &mem, rec, len, &row, &err), FORMAT_OK);
    CHECK(row.schema_changed);
    CHECK(format_parser_generation(p) == g + 1);
    CHECK_EQ_STR(tf_type(p, "b"), "array<string>");
    CHECK_EQ_STR(tf_field(p, &row, "b"), "A:[S:y,S:z]");
    /* A later single value in a list field is a one-element list. */
    t = "b\nw\n";
    format_split_init(&s, p, t, strlen(t));
    CHECK(format_split_next(&s, &rec, &len, &line));
    CHECK_EQ_INT(tf_parse(p, &mem, rec, len, &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "b"), "A:[S:w]");
    CHECK(!row.schema_changed);
    format_parser_free(p);
    arena_destroy(&mem);
}

/* ---- kafka ----------------------------------------------------------------------- */

static void test_kafka_defaults(void)
{
    struct format_parser *p = tf_parser(
        "{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"nd-json\"},\"keyFormat\":null,"
        "\"keyColumnName\":\"kafka.key\",\"timestampColumnName\":\"kafka.timestamp\","
        "\"headerLabelPrefix\":\"kafka.header.\",\"topicColumnName\":\"kafka.topic\"}",
        "page:string,kafka.header.env:string,kafka.timestamp:long", false);
    if (!p)
        return;
    /* Declared metadata keeps its place; the rest follows the declared fields. */
    struct sql_field sch[16];
    size_t n = format_parser_schema(p, sch, 16);
    CHECK_EQ_INT(n, 5);
    static const char *want_names[] = {"page", "kafka.header.env", "kafka.timestamp", "kafka.key",
                                       "kafka.topic"};
    static const uint8_t want_types[] = {SQL_STRING, SQL_STRING, SQL_LONG, SQL_STRING, SQL_STRING};
    for (size_t i = 0; i < 5 && i < n; i++) {
        CHECK_MSG(sch[i].name_len == strlen(want_names[i]) &&
                      memcmp(sch[i].name, want_names[i], sch[i].name_len) == 0,
                  "schema[%zu] = %.*s", i, (int)sch[i].name_len, sch[i].name);
        CHECK_EQ_INT(sch[i].type, want_types[i]);
    }
    CHECK_EQ_INT(format_parser_nfixed(p), 5);
    const struct format_field *ff;
    format_discovered_fields(p, &ff, NULL);
    CHECK_EQ_INT(ff[2].origin, FORMAT_ORIGIN_DECLARED);
    CHECK_EQ_INT(ff[3].origin, FORMAT_ORIGIN_METADATA);

    struct arena mem;
    arena_init(&mem, 0, 0);
    struct record_header hdrs[] = {
        {"env", 3, "staging", 7},
        {"other", 5, "x", 1},
        {"env", 3, "prod", 4}, /* the last one wins */
    };
    const char *v = "{\"page\":\"Main\"}";
    struct record rec = {.data = v,
                         .len = strlen(v),
                         .partition = 3,
                         .offset = 99,
                         .key = "user-1",
                         .key_len = 6,
                         .headers = hdrs,
                         .nheaders = 3,
                         .has_timestamp = true,
                         .timestamp_ms = 1700000000123,
                         .topic = "wiki",
                         .topic_len = 4};
    struct format_row row;
    struct lerr err;
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &rec, &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "page"), "S:Main");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.header.env"), "S:prod");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.timestamp"), "L:1700000000123");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.key"), "S:user-1");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.topic"), "S:wiki");

    /* No key, no timestamp, a null header: NULLs. A value field of a
     * metadata name wins over the metadata. */
    struct record_header nullh = {"env", 3, NULL, 0};
    v = "{\"page\":\"P\",\"kafka.topic\":\"from-value\"}";
    struct record r2 = {.data = v,
                        .len = strlen(v),
                        .headers = &nullh,
                        .nheaders = 1,
                        .topic = "wiki",
                        .topic_len = 4};
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &r2, &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "kafka.header.env"), "NULL");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.timestamp"), "NULL");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.key"), "NULL");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.topic"), "S:from-value");

    /* Invalid UTF-8 in a key or header: U+FFFD and a warning. */
    struct record_header badh = {"env", 3, "a\xFF", 2};
    v = "{}";
    struct record r3 = {
        .data = v, .len = 2, .key = "k\xC3", .key_len = 2, .headers = &badh, .nheaders = 1};
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &r3, &row, &err), FORMAT_OK_WITH_WARNINGS);
    CHECK_EQ_STR(tf_field(p, &row, "kafka.key"), "S:k\xEF\xBF\xBD");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.header.env"), "S:a\xEF\xBF\xBD");
    CHECK(strstr(err.msg, "invalid UTF-8") != NULL);

    /* An empty or null message is an error. */
    struct record r4 = {.data = "", .len = 0, .key = "k", .key_len = 1};
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &r4, &row, &err), FORMAT_ERROR);
    CHECK_EQ_STR(err.msg, "empty record");
    struct record r5 = {.data = NULL};
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &r5, &row, &err), FORMAT_ERROR);
    format_parser_free(p);
    arena_destroy(&mem);
}

static void test_kafka_custom(void)
{
    /* Custom names; the timestamp declared as a string; CSV values; a JSON key. */
    struct format_parser *p = tf_parser(
        "{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"csv\",\"columns\":[\"a\",\"b\"]},"
        "\"keyFormat\":{\"format\":\"nd-json\"},\"keyColumnName\":\"k\","
        "\"timestampColumnName\":\"ts\",\"headerLabelPrefix\":\"h_\",\"topicColumnName\":\"t\"}",
        "a:string,b:double,ts:string,h_trace:string,k:long", false);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct record_header h = {"trace", 5, "abc", 3};
    struct record rec = {.data = "x,2.5\n",
                         .len = 6,
                         .key = "{\"id\": 42, \"x\": 1}",
                         .key_len = 18,
                         .headers = &h,
                         .nheaders = 1,
                         .has_timestamp = true,
                         .timestamp_ms = -5,
                         .topic = "tp",
                         .topic_len = 2};
    struct format_row row;
    struct lerr err;
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &rec, &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "a"), "S:x");
    CHECK_EQ_STR(tf_field(p, &row, "b"), "D:2.5");
    CHECK_EQ_STR(tf_field(p, &row, "ts"), "S:-5");
    CHECK_EQ_STR(tf_field(p, &row, "h_trace"), "S:abc");
    CHECK_EQ_STR(tf_field(p, &row, "k"), "L:42");
    CHECK_EQ_STR(tf_field(p, &row, "t"), "S:tp");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.key"), "ABSENT");
    /* A key that is not a JSON object: NULL with a warning. */
    rec.key = "[1]";
    rec.key_len = 3;
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &rec, &row, &err), FORMAT_OK_WITH_WARNINGS);
    CHECK_EQ_STR(tf_field(p, &row, "k"), "NULL");
    CHECK(strstr(err.msg, "kafka key is not a JSON object") != NULL);
    format_parser_free(p);

    /* A CSV key: the first column. */
    p = tf_parser("{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"nd-json\"},"
                  "\"keyFormat\":{\"format\":\"csv\"}}",
                  "v:long", false);
    struct record r2 = {.data = "{\"v\":1}", .len = 7, .key = "\"a,\"\"b\",c", .key_len = 10};
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &r2, &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "kafka.key"), "S:a,\"b");
    format_parser_free(p);

    /* CSV columns in inputSchema order skip the kafka metadata declared there. */
    p = tf_parser("{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"csv\"}}",
                  "a:string,kafka.key:string,kafka.header.h:string,b:long", false);
    struct record r3 = {.data = "x,5", .len = 3, .key = "k", .key_len = 1};
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &r3, &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_field(p, &row, "a"), "S:x");
    CHECK_EQ_STR(tf_field(p, &row, "b"), "L:5");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.key"), "S:k");
    format_parser_free(p);

    /* Two metadata columns with one name: refused. */
    struct lerr e;
    CHECK(!tf_parser_ex("{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"nd-json\"},"
                        "\"keyColumnName\":\"kafka.timestamp\"}",
                        "v:long", false, NULL, 0, &e));
    CHECK(strstr(e.msg, "keyColumnName 'kafka.timestamp' names the same field") != NULL);
    arena_destroy(&mem);
}

static void test_kafka_discovery(void)
{
    static const char *const excl[] = {"kafka.header.secret"};
    struct lerr e;
    struct format_parser *p =
        tf_parser_ex("{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"nd-json\"}}", "v:long",
                     true, excl, 1, &e);
    CHECK(p != NULL);
    if (!p)
        return;
    struct arena mem;
    arena_init(&mem, 0, 0);
    struct record_header h[] = {{"trace", 5, "t1", 2},
                                {"secret", 6, "s", 1},
                                {"dup", 3, "first", 5},
                                {"dup", 3, "second", 6},
                                {"shadow", 6, "from-header", 11}};
    const char *v = "{\"v\":1,\"w\":2,\"kafka.header.shadow\":\"from-value\"}";
    struct record rec = {.data = v, .len = strlen(v), .headers = h, .nheaders = 5};
    struct format_row row;
    struct lerr err;
    CHECK_EQ_INT(tf_parse_rec(p, &mem, &rec, &row, &err), FORMAT_OK);
    CHECK_EQ_STR(tf_type(p, "w"), "long");
    CHECK_EQ_STR(tf_type(p, "kafka.header.trace"), "string");
    CHECK_EQ_STR(tf_type(p, "kafka.header.secret"), "none");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.header.trace"), "S:t1");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.header.dup"), "S:second");
    CHECK_EQ_STR(tf_field(p, &row, "kafka.header.shadow"), "S:from-value");
    /* Metadata fields are fixed, never discovered. */
    const struct format_field *ff;
    size_t n = format_discovered_fields(p, &ff, NULL);
    size_t disc = 0;
    for (size_t i = 0; i < n; i++)
        disc += ff[i].origin == FORMAT_ORIGIN_DISCOVERED;
    CHECK_EQ_INT(disc, 4); /* w, shadow, trace, dup */
    format_parser_free(p);
    arena_destroy(&mem);
}

/* Kafka messages with nd-json values split at JSON value ends: a
 * pretty-printed object is one record, several objects are several. */
static void test_kafka_split(void)
{
    struct format_parser *p =
        tf_parser("{\"format\":\"kafka\",\"valueFormat\":{\"format\":\"nd-json\"}}",
                  "a:long,s:string", false);
    if (!p)
        return;
    char out[2048];
    const char *t = "{\n  \"a\": 1,\n  \"s\": \"}{]\\\"\"\n}\n";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "1:OK L:1 S:}{]\" NULL NULL NULL\n"); /* + timestamp, key, topic */
    t = "{\"a\":1} {\"a\":2}\r\n\n{\"a\":3,\n\"s\":[1,{\"x\":[]}]}";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "1:OK L:1 NULL NULL NULL NULL\n1:OK L:2 NULL NULL NULL NULL\n"
                      "3:OK L:3 S:[1,{\"x\":[]}] NULL NULL NULL\n");
    t = "x {\"a\":1}\n{\"a\":2} junk\n{\"a\":";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK(strncmp(out, "1:ERR (invalid JSON at byte 0: expected '{'", 43) == 0);
    CHECK(strstr(out, "\n2:OK L:2 NULL NULL NULL NULL\n2:ERR (invalid JSON at byte 0") != NULL);
    CHECK(strstr(out, "\n3:ERR (invalid JSON at byte 5") != NULL);
    t = " \r\n ";
    run_text(p, t, strlen(t), out, sizeof out);
    CHECK_EQ_STR(out, "");
    format_parser_free(p);
}

int main(void)
{
    test_csv_rows();
    test_delimiters_and_lists();
    test_split();
    test_split_agrees();
    test_csv_discovery();
    test_kafka_defaults();
    test_kafka_custom();
    test_kafka_discovery();
    test_kafka_split();
    return check_summary();
}
