/*
 * spec.h — tables, connections and jobs as typed C structs, from one parser
 * per kind. The API validates a request, builds the normalised document it
 * stores, and checks it with the same parser the runtime later uses to load
 * it from the catalog (catalog_*_spec_load), so the data path never reads
 * an API document by hand and never parses JSON text itself.
 *
 * The closed sets of names (table types, schema modes, column types,
 * connection types, readFromPoint, batch source types, ingestion
 * modes) are enums from X-macro tables that carry their API names, as
 * util.h's LERR_MAP does for errors; catalog_<set>_name() and
 * catalog_<set>_parse() go between the two (parse: -1 for an unknown name).
 * Measure types are sql.h's SQL_MEASURE_MAP, column types sql.h's
 * SQL_TYPE_MAP, job types catalog.h's CATALOG_JOB_TYPE_MAP (struct
 * catalog_job holds one). The API lists the names it accepts from these tables
 * (CATALOG_NAME_LIST), in their order, which its messages show.
 *
 * Parsers take a parsed document (jansson) and never keep pointers into it
 * except where a struct holds its own reference (connection_spec.doc,
 * job_spec.doc); strings live in the caller's arena (table_spec) or the
 * spec's own (job_spec). Errors: LERR_CORRUPT for a stored document that is
 * not JSON, LERR_INVALID naming the field (err->target) and how to fix it,
 * LERR_NOMEM; the _load functions add the catalog's errors (LERR_NOT_FOUND).
 * Thread-safety: none needed; each call works on its own structs.
 */
#ifndef LODESTAR_CATALOG_SPEC_H
#define LODESTAR_CATALOG_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "format/format.h"
#include "sql/sql.h"
#include "source/source.h"
#include "storage/storage.h"
#include "util/util.h"

/* ---- the closed sets, with their API names ------------------------------------------ */

#define CATALOG_TABLE_TYPE_MAP(X)     \
    X(CATALOG_TABLE_DETAIL, "detail") \
    X(CATALOG_TABLE_AGGREGATE, "aggregate")

#define CATALOG_SCHEMA_MODE_MAP(X)         \
    X(CATALOG_SCHEMA_FLEXIBLE, "flexible") \
    X(CATALOG_SCHEMA_STRICT, "strict")

#define CATALOG_COLUMN_TYPE_MAP(X)           \
    X(CATALOG_COLUMN_DIMENSION, "dimension") \
    X(CATALOG_COLUMN_MEASURE, "measure")

#define CATALOG_CONN_TYPE_MAP(X)                                 \
    X(CATALOG_CONN_PUSH, "push_streaming")                       \
    X(CATALOG_CONN_KAFKA, "kafka")                               \
    X(CATALOG_CONN_CONFLUENT, "confluent")                       \
    X(CATALOG_CONN_SCHEMA_REGISTRY, "confluent_schema_registry") \
    X(CATALOG_CONN_KINESIS, "kinesis")                           \
    X(CATALOG_CONN_S3, "s3")

#define CATALOG_READ_FROM_MAP(X)         \
    X(CATALOG_READ_EARLIEST, "earliest") \
    X(CATALOG_READ_LATEST, "latest")

#define CATALOG_SOURCE_TYPE_MAP(X)             \
    X(CATALOG_SOURCE_CONNECTION, "connection") \
    X(CATALOG_SOURCE_UPLOADED, "uploaded")     \
    X(CATALOG_SOURCE_INLINE, "inline")         \
    X(CATALOG_SOURCE_TABLE, "table")           \
    X(CATALOG_SOURCE_S3, "s3")

#define CATALOG_INGEST_MODE_MAP(X)     \
    X(CATALOG_INGEST_APPEND, "append") \
    X(CATALOG_INGEST_REPLACE, "replace")

/* A set's names as a NULL-terminated list: {CATALOG_TABLE_TYPE_MAP(CATALOG_NAME_LIST) NULL}. */
#define CATALOG_NAME_LIST(e, name) name,

#define CATALOG_SPEC_ENUM(e, name) e,
enum catalog_table_type { CATALOG_TABLE_TYPE_MAP(CATALOG_SPEC_ENUM) CATALOG__TABLE_TYPE_COUNT };
enum catalog_schema_mode { CATALOG_SCHEMA_MODE_MAP(CATALOG_SPEC_ENUM) CATALOG__SCHEMA_MODE_COUNT };
enum catalog_column_type { CATALOG_COLUMN_TYPE_MAP(CATALOG_SPEC_ENUM) CATALOG__COLUMN_TYPE_COUNT };
enum catalog_conn_type { CATALOG_CONN_TYPE_MAP(CATALOG_SPEC_ENUM) CATALOG__CONN_TYPE_COUNT };
enum catalog_read_from { CATALOG_READ_FROM_MAP(CATALOG_SPEC_ENUM) CATALOG__READ_FROM_COUNT };
enum catalog_source_type { CATALOG_SOURCE_TYPE_MAP(CATALOG_SPEC_ENUM) CATALOG__SOURCE_TYPE_COUNT };
enum catalog_ingest_mode { CATALOG_INGEST_MODE_MAP(CATALOG_SPEC_ENUM) CATALOG__INGEST_MODE_COUNT };
#undef CATALOG_SPEC_ENUM

/* The API name of a value ("unknown" out of range), and back (-1: no such name). */
const char *catalog_table_type_name(enum catalog_table_type v);
int catalog_table_type_parse(const char *name);
const char *catalog_schema_mode_name(enum catalog_schema_mode v);
int catalog_schema_mode_parse(const char *name);
const char *catalog_column_type_name(enum catalog_column_type v);
int catalog_column_type_parse(const char *name);
const char *catalog_conn_type_name(enum catalog_conn_type v);
int catalog_conn_type_parse(const char *name);
const char *catalog_read_from_name(enum catalog_read_from v);
int catalog_read_from_parse(const char *name);
const char *catalog_source_type_name(enum catalog_source_type v);
int catalog_source_type_parse(const char *name);
const char *catalog_ingest_mode_name(enum catalog_ingest_mode v);
int catalog_ingest_mode_parse(const char *name);

/* ---- tables --------------------------------------------------------------------------- */

struct table_spec_column {
    const char *name;
    const char *data_type; /* the API name: "string", ... or a measure type ("longSum") */
    enum catalog_column_type column_type;
    uint8_t type;            /* enum sql_type; measures: the measure's result type; a
                              * string with multiValueHandling: SQL_ARRAY (a multi-value
                              * string column) */
    uint8_t mv_handling;     /* enum storage_mv_handling (multi-value strings) */
    uint8_t elem;            /* dataType ARRAY<STRING|LONG|DOUBLE>: type SQL_ARRAY, and
                              * this its element type; else SQL_NULL */
    struct sql_agg_call agg; /* measures: the stored aggregator (sql_agg_for_measure) */
    bool discovered;         /* "discovered": true — added by schema discovery, so a
                              * later job may widen it (LONG -> DOUBLE -> STRING); a
                              * column the user declared never changes type */
};

struct table_spec {
    const char *id;                    /* "" when the document has none */
    enum catalog_table_type type;      /* default detail */
    enum catalog_schema_mode mode;     /* default flexible */
    enum storage_gran partitioning;    /* default day */
    enum storage_gran time_resolution; /* default millisecond */
    struct table_spec_column *cols;    /* the schema without __time */
    size_t ncols;
};

/*
 * Reads a table document (type, schemaMode, partitioningGranularity,
 * timeResolution, schema[{name, dataType, columnType, discovered}]); `table` names it in
 * messages. Strings come from `mem`. LERR_INVALID for a column without a
 * name or dataType, a dimension of an unknown type, a measure type the
 * engine cannot hold, or an unknown type, mode or granularity.
 */
int catalog_table_spec_parse(const json_t *doc, const char *table, struct arena *mem,
                             struct table_spec *out, struct lerr *err);
/* The stored table `name`, parsed. */
int catalog_table_spec_load(struct catalog *c, const char *name, struct arena *mem,
                            struct table_spec *out, struct lerr *err);

/* ---- connections ---------------------------------------------------------------------- */

struct connection_spec {
    char name[256];
    enum catalog_conn_type type;
    const char *topic;         /* topicName, NULL when none (points into doc) */
    const char *topic_pattern; /* topicNamePattern, NULL when none */
    char stream[300];          /* the checkpoint's key: topic, "pattern:...", "push:<name>",
                       * "kinesis:<stream>", "s3:<bucket>" (batch only: never checkpointed) */
    json_t *doc;               /* the document (a reference held by the spec) */
    json_t *secret;            /* its secrets, or NULL */
};

/*
 * Reads a connection document and its secrets (NULL when none); the spec
 * holds references to both until catalog_connection_spec_destroy.
 * LERR_INVALID for a missing or unknown type.
 */
int catalog_connection_spec_parse(const char *name, json_t *doc, json_t *secret,
                                  struct connection_spec *out, struct lerr *err);
/* The stored connection `name`, parsed; LERR_CORRUPT when its text is not JSON. */
int catalog_connection_spec_load(struct catalog *c, const char *name, struct connection_spec *out,
                                 struct lerr *err);
void catalog_connection_spec_destroy(struct connection_spec *s);
/*
 * The Kafka consumer's settings of a kafka or confluent connection (source.h:
 * source_kafka_config_from_json's rules and errors); strings from `a`.
 */
int catalog_connection_spec_kafka(const struct connection_spec *s, struct source_kafka_config *cfg,
                                  struct arena *a, struct lerr *err);
/* The Kinesis reader's settings of a kinesis connection (source.h:
 * source_kinesis_config_from_json's rules and errors); strings from `a`. */
int catalog_connection_spec_kinesis(const struct connection_spec *s,
                                    struct source_kinesis_config *cfg, struct arena *a,
                                    struct lerr *err);

/* The S3 settings of an s3 connection (source.h: source_s3_config_from_json's
 * rules and errors; owner "connection '<name>'" from `a`). */
int catalog_connection_spec_s3(const struct connection_spec *s, struct source_s3_config *cfg,
                               struct arena *a, struct lerr *err);

/* ---- jobs ----------------------------------------------------------------------------- */

struct job_spec_mapping {
    const char *column;     /* columnName (NULL when missing: the pipeline says so) */
    const char *expression; /* expression (NULL when missing) */
    bool aggregation;       /* isAggregation */
    /* Set by a reingestion (not in documents): the source column is a typed
     * ARRAY of this element type, or a multi-value string; a column the job
     * creates for it keeps that type. */
    uint8_t array_elem;
    bool multi_value;
};

struct job_spec {
    enum catalog_job_type type;           /* default streaming */
    const char *table_name;               /* target.tableName ("" when none) */
    const char *connection_name;          /* source.connectionName ("" when none) */
    enum catalog_source_type source_type; /* default connection */
    enum catalog_read_from read_from;     /* default latest */
    enum catalog_ingest_mode mode;        /* default append */
    bool use_schema_discovery;
    /* arrayIngestMode "mvd" (Druid's): arrays of strings become multi-value
     * string columns instead of ARRAY<STRING> (default "array": false) */
    bool array_mvd;
    bool has_format;               /* source.formatSettings and inputSchema are there */
    struct format_settings format; /* source.formatSettings */
    struct sql_schema input;       /* source.inputSchema */
    const char *const *exclusions; /* dimensionExclusions */
    size_t nexclusions;
    const char *const *files; /* source.fileList (uploaded) */
    size_t nfiles;
    /* source type s3: source.objects, source.prefixes, source.uris, source.pattern */
    const char *const *objects;
    size_t nobjects;
    const char *const *prefixes;
    size_t nprefixes;
    const char *const *uris;
    size_t nuris;
    const char *pattern;     /* NULL when none */
    const char *inline_data; /* source.data (inline) */
    size_t inline_len;
    const char *source_query; /* source.query (table: a sql job's SELECT), NULL when none */
    struct job_spec_mapping *mappings; /* mappings, in order */
    size_t nmappings;
    const char *filter;       /* filterExpression, NULL when none */
    const char *late_period;  /* lateMessageRejectionPeriod, NULL when none */
    const char *early_period; /* earlyMessageRejectionPeriod, NULL when none */
    json_t *intervals;        /* target.intervals (a batch replace), NULL when none */
    size_t nintervals;
    /* Strings point into doc; the expressions, periods and intervals are
     * checked where they are compiled (ingest/pipeline.c). */
    json_t *doc;      /* the whole document (a reference held by the spec) */
    struct arena mem; /* the strings and arrays above */
};

/*
 * Reads a job document (the normalised spec the API stores). Takes a
 * reference to doc. LERR_INVALID naming the field: a bad type, readFromPoint,
 * source.type or ingestionMode; formatSettings and inputSchema as
 * format_settings_from_json and format_input_schema_from_json report them,
 * with err->target "source.formatSettings" / "source.inputSchema" when they
 * name none. After an error the spec needs catalog_job_spec_destroy all the same.
 */
int catalog_job_spec_parse(json_t *doc, struct job_spec *out, struct lerr *err);
/* The same from JSON text (a stored spec: LERR_CORRUPT when it is not JSON). */
int catalog_job_spec_parse_text(const char *text, size_t len, struct job_spec *out,
                                struct lerr *err);
/* A stored job's spec (j from catalog_job_get or a list). */
int catalog_job_spec_load(const struct catalog_job *j, struct job_spec *out, struct lerr *err);
void catalog_job_spec_destroy(struct job_spec *s);

/*
 * A job's saved counters (catalog_job_counters), parsed: *out is a new
 * reference. LERR_NOT_FOUND when none are saved yet, LERR_CORRUPT when the
 * saved text is not JSON.
 */
/* A job's saved counters text (catalog_job_counters_nodes), parsed; NULL when unreadable. */
json_t *catalog_counters_parse(const char *text);
int catalog_job_counters_load(struct catalog *c, const char *job_id, json_t **out,
                              struct lerr *err);

#endif
