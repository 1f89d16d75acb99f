/*
 * test_spec.c — the catalog's one parser per stored document (catalog/spec.h):
 * table, connection and job documents into typed structs, good and bad, from
 * a parsed document and from a real catalog; and every closed set's enum
 * round-trips with its API names.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/spec.h"
#include "check.h"

static char dir[] = "/tmp/lodestar-spec-XXXXXX";

static json_t *doc_of(const char *text)
{
    json_error_t je;
    json_t *d = json_loads(text, 0, &je);
    CHECK_MSG(d != NULL, "test JSON does not parse (%s): %s", je.text, text);
    return d;
}

/* ---- enums ----------------------------------------------------------------------- */

#define ROUND_TRIP(set, MAP, COUNT)                                               \
    do {                                                                          \
        int n_ = 0;                                                               \
        MAP(ROUND_TRIP_ONE_)                                                      \
        CHECK_EQ_INT(n_, COUNT);                                                  \
        CHECK_EQ_STR(catalog_##set##_name((enum catalog_##set)COUNT), "unknown"); \
        CHECK_EQ_INT(catalog_##set##_parse("no-such-name"), -1);                  \
        CHECK_EQ_INT(catalog_##set##_parse(NULL), -1);                            \
    } while (0)
#define ROUND_TRIP_ONE_(e, name)      \
    CHECK_EQ_STR(names_of_(e), name); \
    CHECK_EQ_INT(parse_of_(name), e); \
    n_++;

static void test_enums(void)
{
#define names_of_ catalog_table_type_name
#define parse_of_ catalog_table_type_parse
    ROUND_TRIP(table_type, CATALOG_TABLE_TYPE_MAP, CATALOG__TABLE_TYPE_COUNT);
#undef names_of_
#undef parse_of_
#define names_of_ catalog_schema_mode_name
#define parse_of_ catalog_schema_mode_parse
    ROUND_TRIP(schema_mode, CATALOG_SCHEMA_MODE_MAP, CATALOG__SCHEMA_MODE_COUNT);
#undef names_of_
#undef parse_of_
#define names_of_ catalog_column_type_name
#define parse_of_ catalog_column_type_parse
    ROUND_TRIP(column_type, CATALOG_COLUMN_TYPE_MAP, CATALOG__COLUMN_TYPE_COUNT);
#undef names_of_
#undef parse_of_
#define names_of_ catalog_conn_type_name
#define parse_of_ catalog_conn_type_parse
    ROUND_TRIP(conn_type, CATALOG_CONN_TYPE_MAP, CATALOG__CONN_TYPE_COUNT);
#undef names_of_
#undef parse_of_
#define names_of_ catalog_job_type_name
#define parse_of_ catalog_job_type_parse
    ROUND_TRIP(job_type, CATALOG_JOB_TYPE_MAP, CATALOG__JOB_TYPE_COUNT);
#undef names_of_
#undef parse_of_
#define names_of_ catalog_read_from_name
#define parse_of_ catalog_read_from_parse
    ROUND_TRIP(read_from, CATALOG_READ_FROM_MAP, CATALOG__READ_FROM_COUNT);
#undef names_of_
#undef parse_of_
#define names_of_ catalog_source_type_name
#define parse_of_ catalog_source_type_parse
    ROUND_TRIP(source_type, CATALOG_SOURCE_TYPE_MAP, CATALOG__SOURCE_TYPE_COUNT);
#undef names_of_
#undef parse_of_
#define names_of_ catalog_ingest_mode_name
#define parse_of_ catalog_ingest_mode_parse
    ROUND_TRIP(ingest_mode, CATALOG_INGEST_MODE_MAP, CATALOG__INGEST_MODE_COUNT);
#undef names_of_
#undef parse_of_
    /* The API's names, spelled out: a renamed entry would change the API. */
    CHECK_EQ_STR(catalog_table_type_name(CATALOG_TABLE_AGGREGATE), "aggregate");
    CHECK_EQ_STR(catalog_conn_type_name(CATALOG_CONN_PUSH), "push_streaming");
    CHECK_EQ_STR(catalog_conn_type_name(CATALOG_CONN_SCHEMA_REGISTRY),
                 "confluent_schema_registry");
    CHECK_EQ_INT(catalog_read_from_parse("earliest"), CATALOG_READ_EARLIEST);
    CHECK_EQ_INT(catalog_job_type_parse("batch"), CATALOG_JOB_BATCH);
}

/* ---- tables ---------------------------------------------------------------------- */

static void test_table_good(void)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct lerr err;
    lerr_init(&err);
    struct table_spec t;
    json_t *d = doc_of("{\"id\":\"abc\",\"name\":\"t\",\"type\":\"aggregate\",\"schemaMode\":"
                       "\"strict\",\"partitioningGranularity\":\"hour\",\"timeResolution\":"
                       "\"minute\",\"schema\":[{\"name\":\"__time\",\"dataType\":\"timestamp\"},"
                       "{\"name\":\"page\",\"dataType\":\"string\",\"columnType\":\"dimension\"},"
                       "{\"name\":\"d\",\"dataType\":\"double\"},"
                       "{\"name\":\"n\",\"dataType\":\"longSum\",\"columnType\":\"measure\"},"
                       "{\"name\":\"last\",\"dataType\":\"stringLatest\",\"columnType\":"
                       "\"measure\"}]}");
    CHECK_EQ_INT(catalog_table_spec_parse(d, "t", &mem, &t, &err), 0);
    json_decref(d); /* the spec keeps nothing of the document */
    CHECK_EQ_STR(t.id, "abc");
    CHECK_EQ_INT(t.type, CATALOG_TABLE_AGGREGATE);
    CHECK_EQ_INT(t.mode, CATALOG_SCHEMA_STRICT);
    CHECK_EQ_INT(t.partitioning, STORAGE_GRAN_HOUR);
    CHECK_EQ_INT(t.time_resolution, STORAGE_GRAN_MINUTE);
    CHECK_EQ_INT(t.ncols, 4);
    if (t.ncols == 4) {
        CHECK_EQ_STR(t.cols[0].name, "page");
        CHECK_EQ_INT(t.cols[0].column_type, CATALOG_COLUMN_DIMENSION);
        CHECK_EQ_INT(t.cols[0].type, SQL_STRING);
        CHECK_EQ_INT(t.cols[1].type, SQL_DOUBLE);
        CHECK_EQ_STR(t.cols[2].data_type, "longSum");
        CHECK_EQ_INT(t.cols[2].column_type, CATALOG_COLUMN_MEASURE);
        CHECK_EQ_INT(t.cols[2].type, SQL_LONG);
        CHECK_EQ_INT(t.cols[2].agg.kind, SQL_AGG_SUM);
        CHECK_EQ_INT(t.cols[3].type, SQL_STRING);
        CHECK_EQ_INT(t.cols[3].agg.kind, SQL_AGG_LATEST);
    }
    /* Defaults: detail, flexible, day, millisecond; no schema. */
    d = doc_of("{\"name\":\"u\"}");
    CHECK_EQ_INT(catalog_table_spec_parse(d, "u", &mem, &t, &err), 0);
    json_decref(d);
    CHECK_EQ_STR(t.id, "");
    CHECK_EQ_INT(t.type, CATALOG_TABLE_DETAIL);
    CHECK_EQ_INT(t.mode, CATALOG_SCHEMA_FLEXIBLE);
    CHECK_EQ_INT(t.partitioning, STORAGE_GRAN_DAY);
    CHECK_EQ_INT(t.time_resolution, STORAGE_GRAN_MILLISECOND);
    CHECK_EQ_INT(t.ncols, 0);
    arena_destroy(&mem);
}

static void test_table_bad(void)
{
    static const struct {
        const char *doc;
        int code;
        const char *target, *has[2];
    } cases[] = {
        {"[]", LERR_CORRUPT, "", {"table 't'", "not a JSON object"}},
        {"{\"type\":\"wide\"}",
         LERR_INVALID,
         "type",
         {"type is \"wide\"", "\"detail\" or \"aggregate\""}},
        {"{\"type\":3}", LERR_INVALID, "type", {"not a string", "\"detail\""}},
        {"{\"schemaMode\":\"loose\"}",
         LERR_INVALID,
         "schemaMode",
         {"\"loose\"", "\"flexible\" or \"strict\""}},
        {"{\"partitioningGranularity\":\"fortnight\"}",
         LERR_INVALID,
         "partitioningGranularity",
         {"\"fortnight\" is not a granularity", "hour, day"}},
        {"{\"timeResolution\":\"eon\"}", LERR_INVALID, "timeResolution", {"\"eon\"", NULL}},
        {"{\"schema\":[{\"name\":\"a\"}]}",
         LERR_INVALID,
         "schema[0]",
         {"schema[0] needs a name and a dataType", NULL}},
        {"{\"schema\":[{\"dataType\":\"long\"}]}",
         LERR_INVALID,
         "schema[0]",
         {"needs a name", NULL}},
        {"{\"schema\":[{\"name\":\"__time\",\"dataType\":\"timestamp\"},{\"name\":\"a\","
         "\"dataType\":\"blob\"}]}",
         LERR_INVALID,
         "schema[1]",
         {"column 'a' has unknown type blob", NULL}},
        {"{\"schema\":[{\"name\":\"s\",\"dataType\":\"hyperUnique\",\"columnType\":\"measure\"}]}",
         LERR_INVALID,
         "schema[0]",
         {"column 's' has measure type hyperUnique, which is not supported yet", NULL}},
        {"{\"schema\":[{\"name\":\"s\",\"dataType\":\"long\",\"columnType\":\"metric\"}]}",
         LERR_INVALID,
         "columnType",
         {"\"metric\"", "\"dimension\" or \"measure\""}},
    };
    struct arena mem;
    arena_init(&mem, 4096, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lerr err;
        lerr_init(&err);
        struct table_spec t;
        json_t *d = doc_of(cases[i].doc);
        int rc = catalog_table_spec_parse(d, "t", &mem, &t, &err);
        json_decref(d);
        CHECK_MSG(rc == cases[i].code, "case %zu (%s): rc %d, want %d (%s)", i, cases[i].doc, rc,
                  cases[i].code, err.msg);
        CHECK_MSG(strcmp(err.target, cases[i].target) == 0, "case %zu: target '%s', want '%s'", i,
                  err.target, cases[i].target);
        for (int k = 0; k < 2 && cases[i].has[k]; k++)
            CHECK_MSG(strstr(err.msg, cases[i].has[k]) != NULL, "case %zu: '%s' lacks '%s'", i,
                      err.msg, cases[i].has[k]);
    }
    arena_destroy(&mem);
}

/* ---- connections ------------------------------------------------------------------- */

static void test_connections(void)
{
    struct lerr err;
    lerr_init(&err);
    struct connection_spec cs;
    json_t *d = doc_of("{\"type\":\"push_streaming\",\"name\":\"p\"}");
    CHECK_EQ_INT(catalog_connection_spec_parse("p", d, NULL, &cs, &err), 0);
    json_decref(d); /* the spec holds its own reference */
    CHECK_EQ_INT(cs.type, CATALOG_CONN_PUSH);
    CHECK_EQ_STR(cs.stream, "push:p");
    CHECK(json_is_object(cs.doc));
    struct arena a;
    arena_init(&a, 4096, 0);
    struct source_kafka_config cfg;
    CHECK_EQ_INT(catalog_connection_spec_kafka(&cs, &cfg, &a, &err), LERR_INVALID);
    CHECK(strstr(err.msg, "not a kafka or confluent connection") != NULL);
    catalog_connection_spec_destroy(&cs);

    lerr_init(&err);
    d = doc_of("{\"type\":\"kafka\",\"name\":\"k\",\"bootstrapServers\":\"h:9092\","
               "\"topicName\":\"events\"}");
    json_t *sec = doc_of("{\"type\":\"sasl_plain\",\"username\":\"u\",\"password\":\"pw\"}");
    CHECK_EQ_INT(catalog_connection_spec_parse("k", d, sec, &cs, &err), 0);
    json_decref(d);
    json_decref(sec);
    CHECK_EQ_INT(cs.type, CATALOG_CONN_KAFKA);
    CHECK_EQ_STR(cs.topic, "events");
    CHECK_EQ_STR(cs.stream, "events");
    CHECK_EQ_INT(catalog_connection_spec_kafka(&cs, &cfg, &a, &err), 0);
    CHECK_EQ_STR(cfg.bootstrap_servers, "h:9092");
    CHECK_EQ_STR(cfg.topic, "events");
    CHECK_EQ_STR(cfg.sasl_mechanism, "PLAIN");
    CHECK(cfg.ssl);
    catalog_connection_spec_destroy(&cs);

    d = doc_of("{\"type\":\"confluent\",\"bootstrapServers\":\"h:9092\",\"topicNamePattern\":"
               "\"ev-.*\"}");
    CHECK_EQ_INT(catalog_connection_spec_parse("c", d, NULL, &cs, &err), 0);
    json_decref(d);
    CHECK_EQ_STR(cs.stream, "pattern:ev-.*");
    lerr_init(&err);
    CHECK_EQ_INT(catalog_connection_spec_kafka(&cs, &cfg, &a, &err), LERR_INVALID);
    CHECK_EQ_STR(err.target, "secrets");
    catalog_connection_spec_destroy(&cs);

    /* s3: bucket, prefix, endpoint, region, write-only keys; owner names it for messages */
    d = doc_of("{\"type\":\"s3\",\"name\":\"lake\",\"bucket\":\"my-bucket\","
               "\"prefix\":\"events/\",\"endpoint\":\"http://127.0.0.1:9000\","
               "\"region\":\"eu-west-1\"}");
    sec = doc_of("{\"type\":\"aws_access_key\",\"accessKeyId\":\"AK\","
                 "\"secretAccessKey\":\"SK\"}");
    CHECK_EQ_INT(catalog_connection_spec_parse("lake", d, sec, &cs, &err), 0);
    json_decref(sec);
    CHECK_EQ_INT(cs.type, CATALOG_CONN_S3);
    CHECK_EQ_STR(cs.stream, "s3:my-bucket");
    struct source_s3_config s3;
    CHECK_EQ_INT(catalog_connection_spec_s3(&cs, &s3, &a, &err), 0);
    CHECK_EQ_STR(s3.bucket, "my-bucket");
    CHECK_EQ_STR(s3.prefix, "events/");
    CHECK_EQ_STR(s3.endpoint, "http://127.0.0.1:9000");
    CHECK_EQ_STR(s3.region, "eu-west-1");
    CHECK_EQ_STR(s3.access_key_id, "AK");
    CHECK_EQ_STR(s3.secret_access_key, "SK");
    CHECK_EQ_STR(s3.owner, "connection 'lake'");
    catalog_connection_spec_destroy(&cs);
    /* without secrets: the environment's keys (NULL here); without a prefix: "" */
    CHECK_EQ_INT(json_object_del(d, "prefix"), 0);
    CHECK_EQ_INT(catalog_connection_spec_parse("lake", d, NULL, &cs, &err), 0);
    CHECK_EQ_INT(catalog_connection_spec_s3(&cs, &s3, &a, &err), 0);
    CHECK(s3.access_key_id == NULL && s3.secret_access_key == NULL);
    CHECK_EQ_STR(s3.prefix, "");
    catalog_connection_spec_destroy(&cs);
    sec = doc_of("{\"type\":\"aws_access_key\",\"accessKeyId\":\"AK\"}");
    CHECK_EQ_INT(catalog_connection_spec_parse("lake", d, sec, &cs, &err), 0);
    CHECK_EQ_INT(catalog_connection_spec_s3(&cs, &s3, &a, &err), LERR_INVALID);
    CHECK_EQ_STR(err.target, "secrets");
    catalog_connection_spec_destroy(&cs);
    json_decref(sec);
    lerr_init(&err);
    CHECK_EQ_INT(json_object_del(d, "bucket"), 0);
    CHECK_EQ_INT(catalog_connection_spec_parse("lake", d, NULL, &cs, &err), 0);
    CHECK_EQ_INT(catalog_connection_spec_s3(&cs, &s3, &a, &err), LERR_INVALID);
    CHECK_EQ_STR(err.target, "bucket");
    catalog_connection_spec_destroy(&cs);
    json_decref(d);
    lerr_init(&err);

    static const struct {
        const char *doc, *has;
    } bad[] = {
        {"{\"name\":\"x\"}", "connection 'x' has no type; use \"push_streaming\", \"kafka\""},
        {"{\"type\":\"pigeon\"}", "type is \"pigeon\""},
        {"[1]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lerr_init(&err);
        d = doc_of(bad[i].doc);
        CHECK_MSG(catalog_connection_spec_parse("x", d, NULL, &cs, &err) != 0, "case %zu", i);
        CHECK_MSG(strstr(err.msg, bad[i].has) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                  bad[i].has);
        catalog_connection_spec_destroy(&cs);
        json_decref(d);
    }
    arena_destroy(&a);
}

/* ---- jobs ----------------------------------------------------------------------------- */

static void test_job_good(void)
{
    struct lerr err;
    lerr_init(&err);
    struct job_spec js;
    const char *text =
        "{\"type\":\"streaming\",\"target\":{\"type\":\"table\",\"tableName\":\"t\"},"
        "\"source\":{\"type\":\"connection\",\"connectionName\":\"c\",\"formatSettings\":"
        "{\"format\":\"csv\",\"skipHeaderRows\":2},\"inputSchema\":[{\"name\":\"ts\","
        "\"dataType\":\"string\"},{\"name\":\"n\",\"dataType\":\"long\"}]},"
        "\"readFromPoint\":\"earliest\",\"useSchemaDiscovery\":true,\"arrayIngestMode\":\"mvd\","
        "\"dimensionExclusions\":[\"a\",\"b\"],\"filterExpression\":\"n > 1\","
        "\"lateMessageRejectionPeriod\":\"P1D\",\"earlyMessageRejectionPeriod\":null,"
        "\"mappings\":[{\"columnName\":\"__time\",\"expression\":\"TIME_PARSE(ts)\"},"
        "{\"columnName\":\"m\",\"expression\":\"SUM(n)\",\"isAggregation\":true},"
        "{\"expression\":\"n\"}]}";
    CHECK_EQ_INT(catalog_job_spec_parse_text(text, strlen(text), &js, &err), 0);
    CHECK_EQ_INT(js.type, CATALOG_JOB_STREAMING);
    CHECK_EQ_STR(js.table_name, "t");
    CHECK_EQ_STR(js.connection_name, "c");
    CHECK_EQ_INT(js.source_type, CATALOG_SOURCE_CONNECTION);
    CHECK_EQ_INT(js.read_from, CATALOG_READ_EARLIEST);
    CHECK_EQ_INT(js.mode, CATALOG_INGEST_APPEND);
    CHECK(js.use_schema_discovery);
    CHECK(js.array_mvd); /* arrayIngestMode "mvd" */
    CHECK(js.has_format);
    CHECK_EQ_INT(js.format.kind, FORMAT_CSV);
    CHECK_EQ_INT(js.format.skip_header_rows, 2);
    CHECK_EQ_INT(js.input.n, 2);
    if (js.input.n == 2)
        CHECK_EQ_INT(js.input.fields[1].type, SQL_LONG);
    CHECK_EQ_INT(js.nexclusions, 2);
    if (js.nexclusions == 2)
        CHECK_EQ_STR(js.exclusions[1], "b");
    CHECK_EQ_INT(js.nmappings, 3);
    if (js.nmappings == 3) {
        CHECK_EQ_STR(js.mappings[0].column, "__time");
        CHECK_EQ_STR(js.mappings[0].expression, "TIME_PARSE(ts)");
        CHECK(!js.mappings[0].aggregation);
        CHECK(js.mappings[1].aggregation);
        CHECK(js.mappings[2].column == NULL); /* the pipeline names what is missing */
    }
    CHECK_EQ_STR(js.filter, "n > 1");
    CHECK_EQ_STR(js.late_period, "P1D");
    CHECK(js.early_period == NULL);
    CHECK(js.intervals == NULL && js.nintervals == 0);
    CHECK(json_is_object(js.doc));
    catalog_job_spec_destroy(&js);

    /* A batch job with inline data; defaults elsewhere. */
    text = "{\"type\":\"batch\",\"ingestionMode\":\"replace\",\"target\":{\"tableName\":\"t\","
           "\"intervals\":[\"2024-01-01/2024-01-02\"]},"
           "\"source\":{\"type\":\"inline\",\"data\":\"a,b\\n\",\"formatSettings\":{\"format\":"
           "\"nd-json\"},\"inputSchema\":[]}}";
    CHECK_EQ_INT(catalog_job_spec_parse_text(text, strlen(text), &js, &err), 0);
    CHECK_EQ_INT(js.type, CATALOG_JOB_BATCH);
    CHECK_EQ_INT(js.mode, CATALOG_INGEST_REPLACE);
    CHECK_EQ_INT(js.source_type, CATALOG_SOURCE_INLINE);
    CHECK_EQ_INT(js.read_from, CATALOG_READ_LATEST);
    CHECK_EQ_INT(js.inline_len, 4);
    CHECK_EQ_INT(js.nintervals, 1);
    CHECK(json_is_array(js.intervals));
    CHECK(js.filter == NULL && js.nmappings == 0);
    CHECK(js.inline_data && memcmp(js.inline_data, "a,b\n", 4) == 0);
    CHECK_EQ_STR(js.connection_name, "");
    CHECK(!js.use_schema_discovery);
    CHECK(!js.array_mvd); /* arrayIngestMode defaults to "array" */
    catalog_job_spec_destroy(&js);

    text = "{\"type\":\"batch\",\"source\":{\"type\":\"uploaded\",\"fileList\":[\"x.csv\","
           "\"y.csv\"]}}";
    CHECK_EQ_INT(catalog_job_spec_parse_text(text, strlen(text), &js, &err), 0);
    CHECK_EQ_INT(js.source_type, CATALOG_SOURCE_UPLOADED);
    CHECK_EQ_INT(js.nfiles, 2);
    if (js.nfiles == 2)
        CHECK_EQ_STR(js.files[1], "y.csv");
    CHECK(!js.has_format); /* the pipeline reports what is missing */
    catalog_job_spec_destroy(&js);
}

/* A batch job over S3: the connection, and each list of the selection. */
static void test_job_s3(void)
{
    struct lerr err;
    lerr_init(&err);
    struct job_spec js;
    const char *text =
        "{\"type\":\"batch\",\"target\":{\"type\":\"table\",\"tableName\":\"t\"},"
        "\"source\":{\"type\":\"s3\",\"connectionName\":\"lake\",\"objects\":[\"a.json\","
        "\"b/c.json.gz\"],\"prefixes\":[\"2024/\"],\"uris\":[\"s3://b/k\"],"
        "\"pattern\":\"**.json\",\"formatSettings\":{\"format\":\"nd-json\"},"
        "\"inputSchema\":[{\"name\":\"ts\",\"dataType\":\"string\"}]},"
        "\"mappings\":[{\"columnName\":\"__time\",\"expression\":\"TIME_PARSE(ts)\"}]}";
    CHECK_EQ_INT(catalog_job_spec_parse_text(text, strlen(text), &js, &err), 0);
    CHECK_EQ_INT(js.type, CATALOG_JOB_BATCH);
    CHECK_EQ_INT(js.source_type, CATALOG_SOURCE_S3);
    CHECK_EQ_STR(js.connection_name, "lake");
    CHECK_EQ_INT(js.nobjects, 2);
    CHECK_EQ_STR(js.objects[1], "b/c.json.gz");
    CHECK_EQ_INT(js.nprefixes, 1);
    CHECK_EQ_STR(js.prefixes[0], "2024/");
    CHECK_EQ_INT(js.nuris, 1);
    CHECK_EQ_STR(js.uris[0], "s3://b/k");
    CHECK_EQ_STR(js.pattern, "**.json");
    CHECK(js.has_format);
    catalog_job_spec_destroy(&js);
    text = "{\"type\":\"batch\",\"source\":{\"type\":\"s3\",\"uris\":[\"s3://b/k\"]}}";
    CHECK_EQ_INT(catalog_job_spec_parse_text(text, strlen(text), &js, &err), 0);
    CHECK_EQ_STR(js.connection_name, "");
    CHECK(js.nobjects == 0 && js.nprefixes == 0 && js.pattern == NULL);
    catalog_job_spec_destroy(&js);
}

static void test_job_bad(void)
{
    static const struct {
        const char *text;
        int code;
        const char *target, *has;
    } cases[] = {
        {"{\"mappings\": [", LERR_CORRUPT, "", "the job's stored spec is unreadable"},
        {"[]", LERR_CORRUPT, "", "not a JSON object"},
        {"{\"type\":\"sometimes\"}", LERR_INVALID, "type",
         "job: type is \"sometimes\"; use \"streaming\", \"batch\", \"sql\" or "
         "\"delete_data\""},
        {"{\"readFromPoint\":\"middle\"}", LERR_INVALID, "readFromPoint",
         "use \"earliest\" or \"latest\""},
        {"{\"ingestionMode\":\"merge\"}", LERR_INVALID, "ingestionMode",
         "use \"append\" or \"replace\""},
        {"{\"source\":{\"type\":\"carrier\"}}", LERR_INVALID, "type",
         "job source: type is \"carrier\"; use \"connection\", \"uploaded\", \"inline\", "
         "\"table\" or \"s3\""},
        {"{\"source\":{\"formatSettings\":{\"format\":\"xml\"},\"inputSchema\":[]}}", LERR_INVALID,
         "source.formatSettings.format", "\"xml\" is not supported"},
        {"{\"source\":{\"formatSettings\":{},\"inputSchema\":[]}}", LERR_INVALID,
         "source.formatSettings.format", "formatSettings.format is required"},
        {"{\"source\":{\"formatSettings\":{\"format\":\"nd-json\"},\"inputSchema\":{}}}",
         LERR_INVALID, "inputSchema", "inputSchema must be an array"},
        {"{\"source\":{\"formatSettings\":{\"format\":\"nd-json\"},\"inputSchema\":"
         "[{\"name\":\"a\",\"dataType\":\"blob\"}]}}",
         LERR_INVALID, "inputSchema[0]", "inputSchema[0].dataType 'blob'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lerr err;
        lerr_init(&err);
        struct job_spec js;
        int rc = catalog_job_spec_parse_text(cases[i].text, strlen(cases[i].text), &js, &err);
        CHECK_MSG(rc == cases[i].code, "case %zu (%s): rc %d, want %d (%s)", i, cases[i].text, rc,
                  cases[i].code, err.msg);
        CHECK_MSG(strcmp(err.target, cases[i].target) == 0, "case %zu: target '%s', want '%s'", i,
                  err.target, cases[i].target);
        CHECK_MSG(strstr(err.msg, cases[i].has) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                  cases[i].has);
        catalog_job_spec_destroy(&js);
    }
    /* A stored job without any spec text. */
    struct catalog_job j = {0};
    struct job_spec js;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(catalog_job_spec_load(&j, &js, &err), LERR_CORRUPT);
    catalog_job_spec_destroy(&js);
}

/* ---- from a real catalog ------------------------------------------------------------------ */

static void test_load(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    struct catalog *c = NULL;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(catalog_open(path, &c, &err), 0);
    if (!c)
        return;
    struct catalog_doc t = {.name = "t",
                            .kind = "detail",
                            .doc = "{\"name\":\"t\",\"type\":\"detail\",\"schema\":[{\"name\":"
                                   "\"a\",\"dataType\":\"long\",\"columnType\":\"dimension\"}]}"};
    struct catalog_doc bad = {.name = "bad", .kind = "detail", .doc = "{not json"};
    struct catalog_doc k = {.name = "k",
                            .kind = "kafka",
                            .doc = "{\"type\":\"kafka\",\"bootstrapServers\":\"h:1\","
                                   "\"topicName\":\"events\"}",
                            .secret = "{\"type\":\"sasl_plain\",\"username\":\"u\","
                                      "\"password\":\"p\"}"};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &t, &err), 0);
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &bad, &err), 0);
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_CONNECTION, &k, &err), 0);

    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct table_spec ts;
    CHECK_EQ_INT(catalog_table_spec_load(c, "t", &mem, &ts, &err), 0);
    CHECK_EQ_INT(ts.ncols, 1);
    CHECK_EQ_INT(ts.type, CATALOG_TABLE_DETAIL);
    lerr_init(&err);
    CHECK_EQ_INT(catalog_table_spec_load(c, "bad", &mem, &ts, &err), LERR_CORRUPT);
    CHECK(strstr(err.msg, "table 'bad' has an unreadable catalog entry") != NULL);
    lerr_init(&err);
    CHECK_EQ_INT(catalog_table_spec_load(c, "nope", &mem, &ts, &err), LERR_NOT_FOUND);

    struct connection_spec cs;
    lerr_init(&err);
    CHECK_EQ_INT(catalog_connection_spec_load(c, "k", &cs, &err), 0);
    CHECK_EQ_STR(cs.stream, "events");
    struct source_kafka_config cfg;
    CHECK_EQ_INT(catalog_connection_spec_kafka(&cs, &cfg, &mem, &err), 0);
    CHECK_EQ_STR(cfg.sasl_username, "u");
    catalog_connection_spec_destroy(&cs);
    lerr_init(&err);
    CHECK_EQ_INT(catalog_connection_spec_load(c, "nope", &cs, &err), LERR_NOT_FOUND);
    catalog_connection_spec_destroy(&cs);
    arena_destroy(&mem);
    catalog_close(c);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_enums();
    test_table_good();
    test_table_bad();
    test_connections();
    test_job_good();
    test_job_s3();
    test_job_bad();
    test_load();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
