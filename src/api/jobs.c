/*
 * jobs.c — /jobs: create a streaming ingestion job (validating the spec and
 * filling in every default, as the reference page's responses show), list
 * with filters, get, status, change desiredExecutionStatus (PUT/PATCH),
 * reset the (table, stream) checkpoint, metrics and logs.
 *
 * The normalised spec is stored as JSON; the statuses, health and
 * timestamps live in catalog columns and are merged into every response.
 */
#include <string.h>

#include "api/api_int.h"
#include "ingest/ingest.h"
#include "source/pushreg.h"
#include "storage/storage.h"
#include "util/time.h"

static const char *const job_types[] = {CATALOG_JOB_TYPE_MAP(CATALOG_NAME_LIST) NULL};
static const char *const read_points[] = {CATALOG_READ_FROM_MAP(CATALOG_NAME_LIST) NULL};
static const char *const desired_values[] = {"running", "suspended", "canceled", NULL};
static const char *const input_types[] = {"string", "long", "float", "double", "json", NULL};
static const char *const formats[] = {"nd-json", "csv", "tsv", "delimited", "kafka",
                                      "avro_stream", "protobuf", NULL};
static const char *const spec_keys[] = {
    "type", "target", "createTableIfNotExists", "source", "mappings", "useSchemaDiscovery",
    "dimensionExclusions", "filterExpression", "lateMessageRejectionPeriod",
    "earlyMessageRejectionPeriod", "readFromPoint", "desiredExecutionStatus", NULL};
static const char *const server_keys[] = {
    "id", "createdBy", "lastModifiedBy", "executionStatus", "health", "createdTimestamp",
    "lastUpdatedTimestamp", "startedTimestamp", "completedTimestamp", NULL};

#define MAX_EXPRESSION 65536

/* ---- formatSettings ------------------------------------------------------- */

static json_t *format_settings(json_t *fs, const char *path, bool nested, struct lerr *err);

static int api__v_string_list(json_t *obj, const char *key, const char *path, json_t **out,
                         struct lerr *err)
{
    json_t *arr = NULL;
    if (api__v_array(obj, key, path, false, &arr, err))
        return err->code;
    *out = json_array();
    if (!arr)
        return 0;
    size_t i;
    json_t *v;
    char p[200], t[220];
    api__v_path(p, sizeof p, path, key);
    json_array_foreach(arr, i, v) {
        api__v_path_idx(t, sizeof t, p, i);
        if (!json_is_string(v) || json_string_length(v) == 0) {
            json_decref(*out);
            *out = NULL;
            return lerr_set_at(err, LERR_INVALID, t, "%s must be a non-empty string", t);
        }
        json_array_append(*out, v);
    }
    return 0;
}

static json_t *delimited_settings(json_t *fs, const char *path, const char *format,
                                  struct lerr *err)
{
    static const char *const keys[] = {"format", "skipHeaderRows", "columns",
                                       "findColumnsFromHeader", "listDelimiter", "delimiter",
                                       NULL};
    static const char *const keys_no_delim[] = {"format", "skipHeaderRows", "columns",
                                                "findColumnsFromHeader", "listDelimiter", NULL};
    bool custom = strcmp(format, "delimited") == 0;
    json_t *columns = NULL;
    bool from_header = false;
    const char *list_delim = NULL, *delim = NULL;
    char t[200];
    if (api__v_known_keys(fs, path, custom ? keys : keys_no_delim, err) ||
        api__v_bool(fs, "findColumnsFromHeader", path, &from_header, err) ||
        api__v_string(fs, "listDelimiter", path, false, 16, &list_delim, err) ||
        (custom && api__v_string(fs, "delimiter", path, true, 16, &delim, err)))
        return NULL;
    json_t *skip = json_object_get(fs, "skipHeaderRows");
    json_int_t skip_rows = 0;
    if (skip && !json_is_null(skip)) {
        api__v_path(t, sizeof t, path, "skipHeaderRows");
        if (!json_is_integer(skip) || json_integer_value(skip) < 0 ||
            json_integer_value(skip) > 1000000) {
            lerr_set_at(err, LERR_INVALID, t, "%s must be a whole number from 0 to 1000000", t);
            return NULL;
        }
        skip_rows = json_integer_value(skip);
    }
    if (custom && !delim[0]) {
        api__v_path(t, sizeof t, path, "delimiter");
        lerr_set_at(err, LERR_INVALID, t, "%s must not be empty; e.g. \"|\"", t);
        return NULL;
    }
    if (api__v_string_list(fs, "columns", path, &columns, err))
        return NULL;
    if (from_header && json_array_size(columns) > 0) {
        json_decref(columns);
        api__v_path(t, sizeof t, path, "columns");
        lerr_set_at(err, LERR_INVALID, t,
                    "%s and findColumnsFromHeader: true contradict each other; give one", t);
        return NULL;
    }
    json_t *out = json_pack("{s:s, s:I, s:o, s:b, s:s?}", "format", format, "skipHeaderRows",
                            skip_rows, "columns", columns, "findColumnsFromHeader", from_header,
                            "listDelimiter", list_delim);
    if (!list_delim)
        json_object_set_new(out, "listDelimiter", json_null());
    if (custom)
        json_object_set_new(out, "delimiter", json_string(delim));
    return out;
}

static json_t *kafka_settings(json_t *fs, const char *path, struct lerr *err)
{
    static const char *const keys[] = {"format", "valueFormat", "keyFormat", "keyColumnName",
                                       "timestampColumnName", "headerLabelPrefix",
                                       "topicColumnName", NULL};
    json_t *vf = NULL, *kf = NULL;
    const char *key_col = "kafka.key", *ts_col = "kafka.timestamp",
               *hdr = "kafka.header.", *topic_col = "kafka.topic";
    char p[200];
    if (api__v_known_keys(fs, path, keys, err) || api__v_object(fs, "valueFormat", path, true, &vf, err) ||
        api__v_object(fs, "keyFormat", path, false, &kf, err) ||
        api__v_string(fs, "keyColumnName", path, false, 255, &key_col, err) ||
        api__v_string(fs, "timestampColumnName", path, false, 255, &ts_col, err) ||
        api__v_string(fs, "headerLabelPrefix", path, false, 255, &hdr, err) ||
        api__v_string(fs, "topicColumnName", path, false, 255, &topic_col, err))
        return NULL;
    api__v_path(p, sizeof p, path, "valueFormat");
    json_t *value = format_settings(vf, p, true, err);
    if (!value)
        return NULL;
    json_t *key = NULL;
    if (kf) {
        api__v_path(p, sizeof p, path, "keyFormat");
        if (!(key = format_settings(kf, p, true, err))) {
            json_decref(value);
            return NULL;
        }
    }
    json_t *out = json_pack("{s:s, s:o, s:s, s:s, s:s, s:s}", "format", "kafka", "valueFormat",
                            value, "keyColumnName", key_col, "timestampColumnName", ts_col,
                            "headerLabelPrefix", hdr, "topicColumnName", topic_col);
    json_object_set_new(out, "keyFormat", key ? key : json_null());
    return out;
}

static json_t *format_settings(json_t *fs, const char *path, bool nested, struct lerr *err)
{
    const char *format = NULL;
    if (api__v_enum(fs, "format", path, true, formats, &format, err))
        return NULL;
    char t[200];
    api__v_path(t, sizeof t, path, "format");
    if (strcmp(format, "avro_stream") == 0 || strcmp(format, "protobuf") == 0) {
        lerr_set_at(err, LERR_INVALID, t,
                    "%s: \"%s\" is not supported yet (it comes with schema-registry support); "
                    "use \"nd-json\", \"csv\", \"tsv\", \"delimited\" or \"kafka\"",
                    t, format);
        return NULL;
    }
    if (strcmp(format, "nd-json") == 0) {
        static const char *const keys[] = {"format", "flattenSpec", NULL};
        json_t *flat = NULL;
        if (api__v_known_keys(fs, path, keys, err) ||
            api__v_object(fs, "flattenSpec", path, false, &flat, err))
            return NULL;
        return json_pack("{s:o, s:s}", "flattenSpec", flat ? json_deep_copy(flat) : json_object(),
                         "format", "nd-json");
    }
    if (strcmp(format, "kafka") == 0) {
        if (nested) {
            lerr_set_at(err, LERR_INVALID, t, "%s: \"kafka\" cannot be nested inside \"kafka\"",
                        t);
            return NULL;
        }
        return kafka_settings(fs, path, err);
    }
    return delimited_settings(fs, path, format, err);
}

/* ---- the source ------------------------------------------------------------ */

static json_t *input_schema(json_t *arr, const char *path, struct lerr *err)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        static const char *const keys[] = {"name", "dataType", NULL};
        char p[200], t[220];
        api__v_path_idx(p, sizeof p, path, i);
        const char *name = NULL, *type = NULL;
        if (!json_is_object(e)) {
            lerr_set_at(err, LERR_INVALID, p,
                        "%s must be an object such as {\"name\": \"date\", \"dataType\": "
                        "\"string\"}",
                        p);
            goto fail;
        }
        if (api__v_known_keys(e, p, keys, err) || api__v_string(e, "name", p, true, 255, &name, err) ||
            api__v_enum(e, "dataType", p, true, input_types, &type, err))
            goto fail;
        api__v_path(t, sizeof t, p, "name");
        if (!name[0]) {
            lerr_set_at(err, LERR_INVALID, t, "%s must not be empty", t);
            goto fail;
        }
        size_t j;
        json_t *prev;
        json_array_foreach(out, j, prev) {
            if (strcmp(json_string_value(json_object_get(prev, "name")), name) == 0) {
                lerr_set_at(err, LERR_INVALID, t,
                            "%s: input field '%s' is declared twice (also at %s[%zu])", t,
                            name, path, j);
                goto fail;
            }
        }
        json_array_append_new(out, json_pack("{s:s, s:s}", "dataType", type, "name", name));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/*
 * Validates source; checks the connection exists and can feed a streaming
 * job. Returns the normalised source and the connection's stream key.
 */
static json_t *job_source(struct api_req *r, json_t *src, char stream[300], struct lerr *err)
{
    static const char *const keys[] = {"type", "connectionName", "inputSchema",
                                       "formatSettings", NULL};
    static const char *const src_types[] = {"connection", NULL};
    const char *type = NULL, *conn = NULL;
    json_t *schema_in = NULL, *fs_in = NULL;
    if (api__v_known_keys(src, "source", keys, err) ||
        api__v_enum(src, "type", "source", true, src_types, &type, err) ||
        api__v_string(src, "connectionName", "source", true, 0, &conn, err) ||
        api__v_connection_name(conn, "source.connectionName", err) ||
        api__v_array(src, "inputSchema", "source", true, &schema_in, err) ||
        api__v_object(src, "formatSettings", "source", true, &fs_in, err))
        return NULL;
    if (json_array_size(schema_in) == 0) {
        lerr_set_at(err, LERR_INVALID, "source.inputSchema",
                    "source.inputSchema must declare at least one input field, e.g. "
                    "[{\"name\": \"date\", \"dataType\": \"string\"}]");
        return NULL;
    }
    struct connection_spec cs;
    struct lerr ce;
    lerr_init(&ce);
    if (catalog_connection_spec_load(r->srv->cat, conn, &cs, &ce)) {
        catalog_connection_spec_destroy(&cs);
        if (ce.code == LERR_NOT_FOUND)
            lerr_set_at(err, LERR_INVALID, "source.connectionName",
                        "source.connectionName: no connection named '%s'; create it first "
                        "(POST /v2/connections) or fix the name",
                        conn);
        else
            lerr_set(err, ce.code, "%s", ce.msg);
        return NULL;
    }
    int bad = 0;
    if (cs.type == CATALOG_CONN_KINESIS)
        bad = lerr_set_at(err, LERR_INVALID, "source.connectionName",
                          "source.connectionName: '%s' is a kinesis connection, and Kinesis "
                          "streams are not supported yet; use a kafka, confluent or "
                          "push_streaming connection",
                          conn);
    else if (cs.type == CATALOG_CONN_SCHEMA_REGISTRY)
        bad = lerr_set_at(err, LERR_INVALID, "source.connectionName",
                          "source.connectionName: '%s' is a schema registry, not a stream; "
                          "name a kafka, confluent or push_streaming connection",
                          conn);
    else
        snprintf(stream, 300, "%s", cs.stream);   /* the key the runtime checkpoints under */
    catalog_connection_spec_destroy(&cs);
    if (bad)
        return NULL;
    json_t *schema = input_schema(schema_in, "source.inputSchema", err);
    if (!schema)
        return NULL;
    json_t *fs = format_settings(fs_in, "source.formatSettings", false, err);
    if (!fs) {
        json_decref(schema);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:s}", "connectionName", conn, "inputSchema", schema,
                     "formatSettings", fs, "type", "connection");
}

/* ---- mappings ---------------------------------------------------------------- */

/* An expression must be non-empty text; the SQL front end checks the rest. */
static int check_expression(const char *text, const char *target, struct lerr *err)
{
    size_t n = strlen(text);
    size_t i = 0;
    while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i == n)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s is empty; give a Druid SQL expression such as "
                           "TIME_PARSE(\"date\")",
                           target);
    return 0;
}

static json_t *job_mappings(json_t *arr, bool *any_agg, struct lerr *err)
{
    json_t *out = json_array();
    bool has_time = false;
    *any_agg = false;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        static const char *const keys[] = {"columnName", "expression", "isAggregation", NULL};
        char p[64], t[96];
        api__v_path_idx(p, sizeof p, "mappings", i);
        const char *col = NULL, *expr = NULL;
        bool agg = false;
        if (!json_is_object(e)) {
            lerr_set_at(err, LERR_INVALID, p,
                        "%s must be an object such as {\"columnName\": \"__time\", "
                        "\"expression\": \"TIME_PARSE(\\\"date\\\")\"}",
                        p);
            goto fail;
        }
        if (api__v_known_keys(e, p, keys, err) || api__v_string(e, "columnName", p, true, 0, &col, err) ||
            api__v_string(e, "expression", p, true, MAX_EXPRESSION, &expr, err) ||
            api__v_bool(e, "isAggregation", p, &agg, err))
            goto fail;
        api__v_path(t, sizeof t, p, "columnName");
        if (api__v_column_name(col, t, false, err))
            goto fail;
        size_t j;
        json_t *prev;
        json_array_foreach(out, j, prev) {
            if (strcmp(json_string_value(json_object_get(prev, "columnName")), col) == 0) {
                lerr_set_at(err, LERR_INVALID, t,
                            "%s: column '%s' is mapped twice (also by mappings[%zu]); a column "
                            "takes one expression",
                            t, col, j);
                goto fail;
            }
        }
        api__v_path(t, sizeof t, p, "expression");
        if (check_expression(expr, t, err))
            goto fail;
        if (strcmp(col, "__time") == 0) {
            has_time = true;
            if (agg) {
                api__v_path(t, sizeof t, p, "isAggregation");
                lerr_set_at(err, LERR_INVALID, t,
                            "%s: __time cannot be an aggregation; map it with a timestamp "
                            "expression such as TIME_PARSE(\"date\")",
                            t);
                goto fail;
            }
        }
        *any_agg |= agg;
        json_t *m = json_pack("{s:s, s:s}", "columnName", col, "expression", expr);
        if (json_object_get(e, "isAggregation"))
            json_object_set_new(m, "isAggregation", json_boolean(agg));
        json_array_append_new(out, m);
    }
    if (!has_time) {
        lerr_set_at(err, LERR_INVALID, "mappings",
                    "mappings must include a __time mapping, e.g. {\"columnName\": \"__time\", "
                    "\"expression\": \"TIME_PARSE(\\\"timestamp\\\")\"}");
        goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* Checks the mappings against an existing table's type, schema mode and columns. */
static int check_mappings(const struct table_spec *ts, const char *tname, json_t *mappings,
                          bool discovery, struct lerr *err)
{
    bool strict = ts->mode == CATALOG_SCHEMA_STRICT;
    if (discovery && strict)
        return lerr_set_at(err, LERR_INVALID, "useSchemaDiscovery",
                           "useSchemaDiscovery needs a flexible table, and '%s' is strict; "
                           "set it to false or target a flexible table",
                           tname);
    size_t i;
    json_t *m;
    json_array_foreach(mappings, i, m) {
        const char *col = json_string_value(json_object_get(m, "columnName"));
        bool agg = json_is_true(json_object_get(m, "isAggregation"));
        char t[96];
        if (agg && ts->type != CATALOG_TABLE_AGGREGATE) {
            snprintf(t, sizeof t, "mappings[%zu].isAggregation", i);
            return lerr_set_at(err, LERR_INVALID, t,
                               "%s: table '%s' is a detail table, which stores rows as they "
                               "are; aggregations need an aggregate table",
                               t, tname);
        }
        if (strict && strcmp(col, "__time") != 0) {
            bool found = false;
            for (size_t k = 0; k < ts->ncols; k++)
                found |= strcmp(ts->cols[k].name, col) == 0;
            if (!found) {
                snprintf(t, sizeof t, "mappings[%zu].columnName", i);
                return lerr_set_at(err, LERR_INVALID, t,
                                   "%s: '%s' is not a column of strict table '%s'; add it to "
                                   "the table's schema or map another column",
                                   t, col, tname);
            }
        }
    }
    return 0;
}

/* The same against the table's stored document. */
static int check_against_table(json_t *table, json_t *mappings, bool discovery,
                               struct lerr *err)
{
    const char *tname = json_string_value(json_object_get(table, "name"));
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct table_spec ts;
    int rc = catalog_table_spec_parse(table, tname ? tname : "", &mem, &ts, err);
    if (!rc)
        rc = check_mappings(&ts, tname, mappings, discovery, err);
    arena_destroy(&mem);
    return rc;
}

/* ---- the job document ------------------------------------------------------------ */

/* The source of a batch job: uploaded files or inline data. */
static json_t *batch_source(struct api_req *r, json_t *src, struct lerr *err)
{
    static const char *const keys[] = {"type", "fileList", "data", "inputSchema",
                                       "formatSettings", NULL};
    static const char *const types[] = {"uploaded", "inline", NULL};
    const char *type = NULL, *data = NULL;
    json_t *files = NULL, *schema_in = NULL, *fs_in = NULL;
    if (api__v_known_keys(src, "source", keys, err) ||
        api__v_enum(src, "type", "source", true, types, &type, err) ||
        api__v_array(src, "inputSchema", "source", true, &schema_in, err) ||
        api__v_object(src, "formatSettings", "source", true, &fs_in, err))
        return NULL;
    json_t *out = json_pack("{s:s}", "type", type);
    if (catalog_source_type_parse(type) == CATALOG_SOURCE_UPLOADED) {
        if (api__v_array(src, "fileList", "source", true, &files, err))
            goto fail;
        if (json_array_size(files) == 0) {
            lerr_set_at(err, LERR_INVALID, "source.fileList",
                        "source.fileList must name at least one uploaded file");
            goto fail;
        }
        size_t i;
        json_t *f;
        json_array_foreach(files, i, f) {
            char t[64];
            snprintf(t, sizeof t, "source.fileList[%zu]", i);
            struct catalog_file *cf = NULL;
            size_t n;
            struct lerr e;
            lerr_init(&e);
            if (!json_is_string(f) ||
                catalog_file_list(r->srv->cat, json_string_value(f), &cf, &n, &e)) {
                free(cf);
                lerr_set_at(err, LERR_INVALID, t,
                            "%s: no uploaded file named '%s'; upload it first (POST /v1/files)",
                            t, json_is_string(f) ? json_string_value(f) : "(not a string)");
                goto fail;
            }
            free(cf);
        }
        json_object_set(out, "fileList", files);
    } else {
        if (api__v_string(src, "data", "source", true, 0, &data, err))
            goto fail;
        json_object_set_new(out, "data", json_string(data));
    }
    json_t *schema = input_schema(schema_in, "source.inputSchema", err);
    json_t *fs = schema ? format_settings(fs_in, "source.formatSettings", false, err) : NULL;
    if (!fs) {
        json_decref(schema);
        goto fail;
    }
    json_object_set_new(out, "inputSchema", schema);
    json_object_set_new(out, "formatSettings", fs);
    return out;
fail:
    json_decref(out);
    return NULL;
}

/*
 * What streaming and batch specs share: target {type, tableName, intervals},
 * createTableIfNotExists, source (an object), mappings, useSchemaDiscovery,
 * filterExpression.
 */
struct common_fields {
    const char *table, *filter;
    json_t *intervals, *src, *maps;
    bool discovery;
};

static int common_fields(json_t *body, struct common_fields *f, bool *create_table,
                         struct lerr *err)
{
    static const char *const target_keys[] = {"type", "tableName", "intervals", NULL};
    static const char *const target_types[] = {"table", NULL};
    const char *ttype = NULL;
    json_t *target = NULL;
    memset(f, 0, sizeof *f);
    if (api__v_object(body, "target", "", true, &target, err) ||
        api__v_known_keys(target, "target", target_keys, err) ||
        api__v_enum(target, "type", "target", true, target_types, &ttype, err) ||
        api__v_string(target, "tableName", "target", true, 0, &f->table, err) ||
        api__v_table_name(f->table, "target.tableName", err) ||
        api__v_array(target, "intervals", "target", false, &f->intervals, err) ||
        api__v_bool(body, "createTableIfNotExists", "", create_table, err) ||
        api__v_object(body, "source", "", true, &f->src, err) ||
        api__v_array(body, "mappings", "", true, &f->maps, err) ||
        api__v_bool(body, "useSchemaDiscovery", "", &f->discovery, err) ||
        api__v_string(body, "filterExpression", "", false, MAX_EXPRESSION, &f->filter, err))
        return err->code;
    if (f->filter && check_expression(f->filter, "filterExpression", err))
        return err->code;
    return 0;
}

/*
 * target.intervals of a batch job: ISO-8601 intervals ("start/end",
 * "start/period", "period/end"), non-empty, of whole time chunks of the
 * table's partitioningGranularity (day for a table the job will create),
 * only with ingestionMode replace (they say which time the job replaces).
 * A new reference to the list to store, or NULL with err set.
 */
static json_t *batch_intervals(struct api_req *r, json_t *intervals, const char *mode,
                               const char *table, struct lerr *err)
{
    size_t n = json_array_size(intervals);
    if (!n)
        return json_array();
    if (catalog_ingest_mode_parse(mode) != CATALOG_INGEST_REPLACE) {
        lerr_set_at(err, LERR_INVALID, "target.intervals",
                    "target.intervals says which time a replace job replaces; add "
                    "\"ingestionMode\": \"replace\", or omit intervals to append");
        return NULL;
    }
    /* A table the job will create is partitioned by day. */
    int gran = STORAGE_GRAN_DAY;
    struct arena tmem;
    arena_init(&tmem, 1024, 0);
    struct table_spec ts;
    struct lerr te;
    lerr_init(&te);
    if (catalog_table_spec_load(r->srv->cat, table, &tmem, &ts, &te) == 0)
        gran = (int)ts.partitioning;
    arena_destroy(&tmem);
    int64_t *iv = calloc(2 * n, sizeof *iv);
    if (!iv) {
        lerr_set(err, LERR_NOMEM, "out of memory");
        return NULL;
    }
    int rc = ingest_check_intervals(intervals, gran, iv, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (iv[2 * i] >= iv[2 * i + 1]) {
            char t[64];
            api__v_path_idx(t, sizeof t, "target.intervals", i);
            rc = lerr_set_at(err, LERR_INVALID, t, "%s: the interval is empty (start >= end)", t);
        }
    free(iv);
    return rc ? NULL : json_incref(intervals);
}

/* Validates a batch job body into its normalised spec. */
static json_t *batch_spec(struct api_req *r, json_t *body, struct catalog_job *j, bool *any_agg,
                          bool *create_table, struct lerr *err)
{
    static const char *const keys[] = {"type", "target", "createTableIfNotExists", "source",
                                       "mappings", "useSchemaDiscovery", "dimensionExclusions",
                                       "filterExpression", "ingestionMode", NULL};
    static const char *const modes[] = {CATALOG_INGEST_MODE_MAP(CATALOG_NAME_LIST) NULL};
    const char *mode = "append";
    struct common_fields f;
    json_t *excl = NULL;
    if (api__v_known_keys(body, "", keys, err) || common_fields(body, &f, create_table, err) ||
        api__v_enum(body, "ingestionMode", "", false, modes, &mode, err))
        return NULL;
    const char *tname = f.table, *filter = f.filter;
    json_t *intervals = f.intervals, *src = f.src, *maps = f.maps;
    bool discovery = f.discovery;
    json_t *ivs = batch_intervals(r, intervals, mode, tname, err);
    if (!ivs)
        return NULL;
    if (api__v_string_list(body, "dimensionExclusions", "", &excl, err)) {
        json_decref(ivs);
        return NULL;
    }
    json_t *source = batch_source(r, src, err);
    json_t *mappings = source ? job_mappings(maps, any_agg, err) : NULL;
    if (!mappings) {
        json_decref(source);
        json_decref(excl);
        json_decref(ivs);
        return NULL;
    }
    json_t *spec = json_pack("{s:o, s:o, s:o, s:b, s:s?, s:s, s:s, s:{s:s, s:o, s:s}, s:b}",
                             "source", source, "mappings", mappings, "dimensionExclusions", excl,
                             "useSchemaDiscovery", discovery, "filterExpression", filter,
                             "ingestionMode", mode, "type", "batch", "target", "tableName", tname,
                             "intervals", ivs, "type", "table", "createTableIfNotExists",
                             *create_table);
    if (!filter)
        json_object_set_new(spec, "filterExpression", json_null());
    snprintf(j->type, sizeof j->type, "batch");
    snprintf(j->table_name, sizeof j->table_name, "%s", tname);
    j->connection_name[0] = '\0';
    j->desired = CATALOG_JOB_RUNNING;
    return spec;
}

/* Validates a POST body into the normalised spec; fills table/connection/stream. */
static json_t *job_spec(struct api_req *r, json_t *body, struct catalog_job *j, char stream[300],
                        bool *any_agg, bool *create_table, struct lerr *err)
{
    const char *type = NULL, *rfp = "latest", *late = "P30D", *early = NULL, *filter = NULL,
               *desired = "running", *tname = NULL;
    bool discovery = false;
    json_t *src = NULL, *maps = NULL, *excl = NULL;
    *create_table = false;
    if (api__v_enum(body, "type", "", true, job_types, &type, err))
        return NULL;
    if (catalog_job_type_parse(type) == CATALOG_JOB_BATCH)
        return batch_spec(r, body, j, any_agg, create_table, err);
    if (api__v_known_keys(body, "", spec_keys, err))
        return NULL;
    struct common_fields f;
    if (common_fields(body, &f, create_table, err) ||
        api__v_period(body, "lateMessageRejectionPeriod", "", true, &late, err) ||
        api__v_period(body, "earlyMessageRejectionPeriod", "", true, &early, err) ||
        api__v_enum(body, "readFromPoint", "", false, read_points, &rfp, err) ||
        api__v_enum(body, "desiredExecutionStatus", "", false, desired_values, &desired, err))
        return NULL;
    tname = f.table;
    filter = f.filter;
    discovery = f.discovery;
    src = f.src;
    maps = f.maps;
    json_t *intervals = f.intervals;
    if (intervals && json_array_size(intervals) > 0) {
        lerr_set_at(err, LERR_INVALID, "target.intervals",
                    "target.intervals applies to batch replace jobs; a streaming job appends, "
                    "so leave it empty");
        return NULL;
    }
    if (strcmp(desired, "canceled") == 0) {
        lerr_set_at(err, LERR_INVALID, "desiredExecutionStatus",
                    "desiredExecutionStatus: a new job starts \"running\" or \"suspended\"");
        return NULL;
    }
    json_t *dim_excl = NULL;
    if (api__v_string_list(body, "dimensionExclusions", "", &dim_excl, err))
        return NULL;
    excl = dim_excl;
    json_t *source = job_source(r, src, stream, err);
    json_t *mappings = source ? job_mappings(maps, any_agg, err) : NULL;
    if (!mappings) {
        json_decref(source);
        json_decref(excl);
        return NULL;
    }
    json_t *spec = json_pack(
        "{s:o, s:o, s:o, s:b, s:s?, s:s?, s:s?, s:s, s:s, s:{s:s, s:[], s:s}, s:b}", "source",
        source, "mappings", mappings, "dimensionExclusions", excl, "useSchemaDiscovery",
        discovery, "filterExpression", filter, "lateMessageRejectionPeriod", late,
        "earlyMessageRejectionPeriod", early, "readFromPoint", rfp, "type", type, "target",
        "tableName", tname, "intervals", "type", "table", "createTableIfNotExists",
        *create_table);
    /* s? drops NULLs; the API echoes them as JSON null. */
    if (!filter)
        json_object_set_new(spec, "filterExpression", json_null());
    if (!late)
        json_object_set_new(spec, "lateMessageRejectionPeriod", json_null());
    if (!early)
        json_object_set_new(spec, "earlyMessageRejectionPeriod", json_null());
    snprintf(j->type, sizeof j->type, "%s", type);
    snprintf(j->table_name, sizeof j->table_name, "%s", tname);
    snprintf(j->connection_name, sizeof j->connection_name, "%s",
             json_string_value(json_object_get(source, "connectionName")));
    j->desired = (enum catalog_job_state)catalog_job_state_parse(desired);
    return spec;
}

static json_t *job_response(const struct catalog_job *j)
{
    json_t *doc = json_loads(j->spec ? j->spec : "{}", 0, NULL);
    if (!doc)
        doc = json_object();
    json_object_set_new(doc, "id", json_string(j->id));
    json_object_set_new(doc, "desiredExecutionStatus",
                        json_string(catalog_job_state_name(j->desired)));
    json_object_set_new(doc, "createdBy", json_loads(j->created_by, 0, NULL));
    json_object_set_new(doc, "lastModifiedBy", json_loads(j->modified_by, 0, NULL));
    json_object_set_new(doc, "executionStatus", json_string(catalog_job_state_name(j->status)));
    json_t *health = json_pack("{s:s}", "status", catalog_health_name(j->health));
    if (j->health_message[0])
        json_object_set_new(health, "message", json_string(j->health_message));
    json_object_set_new(doc, "health", health);
    json_object_set_new(doc, "createdTimestamp", api_ts(j->created_ns));
    json_object_set_new(doc, "lastUpdatedTimestamp", api_ts(j->updated_ns));
    json_object_set_new(doc, "startedTimestamp", api_ts(j->started_ns));
    json_object_set_new(doc, "completedTimestamp", api_ts(j->completed_ns));
    return doc;
}

/*
 * Reads the normalised spec and the target table (NULL: a table the job
 * will create, aggregate when a mapping aggregates) with the catalog's
 * parsers, the ones the runtime loads them with, and compiles the spec's
 * format, filter and mappings against the table: *out when given, else
 * only checked. The table's columns come from `mem`.
 */
static int compile_pipeline(json_t *spec, json_t *table, bool any_agg, struct arena *mem,
                            struct pipeline_table *pt, struct pipeline **out, struct lerr *err)
{
    struct table_spec ts;
    struct job_spec js;
    *pt = (struct pipeline_table){.aggregate = any_agg};
    const char *tname = json_string_value(json_object_get(table, "name"));
    int rc = table ? catalog_table_spec_parse(table, tname ? tname : "", mem, &ts, err) : 0;
    if (!rc && table)
        rc = pipeline_table_from_spec(&ts, mem, pt, err);
    if (rc)
        return rc;
    rc = catalog_job_spec_parse(spec, &js, err);
    if (!rc) {
        struct pipeline_opts po = {&js, pt, util_now_ms()};
        rc = out ? pipeline_new(&po, out, err) : pipeline_validate(&po, err);
    }
    catalog_job_spec_destroy(&js);
    return rc;
}

static int validate_pipeline(json_t *spec, json_t *table, bool any_agg, struct lerr *err)
{
    struct arena mem;
    struct pipeline_table pt;
    arena_init(&mem, 4096, 0);
    int rc = compile_pipeline(spec, table, any_agg, &mem, &pt, NULL, err);
    arena_destroy(&mem);
    return rc;
}

/*
 * The spec's target table: *table is the loaded table, or NULL when it does
 * not exist and createTableIfNotExists is set; otherwise a 400 naming
 * target.tableName. The mappings are then checked against the table.
 */
static int load_target(struct api_req *r, json_t *spec, const struct catalog_job *j,
                       bool create_table, json_t **table, struct lerr *err)
{
    *table = api_table_load(r, j->table_name, err);
    if (!*table) {
        if (err->code != LERR_NOT_FOUND)
            return err->code;
        lerr_init(err);
        if (create_table)
            return 0;
        return lerr_set_at(err, LERR_INVALID, "target.tableName",
                           "target.tableName: no table named '%s'; create it first (POST "
                           "/v2/tables) or set \"createTableIfNotExists\": true",
                           j->table_name);
    }
    bool discovery = json_is_true(json_object_get(spec, "useSchemaDiscovery"));
    return check_against_table(*table, json_object_get(spec, "mappings"), discovery, err);
}

int api_jobs_create(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    char stream[300] = "";
    bool any_agg = false, create_table = false;
    json_t *spec = NULL, *table = NULL;
    json_t *body = api_body_object(r, &err);
    if (!body || !(spec = job_spec(r, body, &j, stream, &any_agg, &create_table, &err)))
        goto fail;
    if (load_target(r, spec, &j, create_table, &table, &err))
        goto fail;
    j.spec = json_dumps(spec, JSON_COMPACT);
    if (validate_pipeline(spec, table, any_agg, &err))
        goto fail;
    if (!table) {
        json_t *tspec = json_pack("{s:s, s:s}", "name", j.table_name, "type",
                                  catalog_table_type_name(any_agg ? CATALOG_TABLE_AGGREGATE
                                                                  : CATALOG_TABLE_DETAIL));
        int rc = api_table_create_from_spec(r, tspec, "target", &table, &err);
        json_decref(tspec);
        if (rc)
            goto fail;
    }
    if (util_uuid_v4(j.id, &err))
        goto fail;
    json_t *caller = api_caller(r);
    j.created_by = json_dumps(caller, JSON_COMPACT);
    j.modified_by = json_dumps(caller, JSON_COMPACT);
    json_decref(caller);
    j.status = j.desired == CATALOG_JOB_SUSPENDED ? CATALOG_JOB_SUSPENDED : CATALOG_JOB_PENDING;
    j.health = CATALOG_HEALTH_OK;
    j.created_ns = j.updated_ns = util_now_ns();
    if (catalog_job_insert(r->srv->cat, &j, &err))
        goto fail;
    if (ingest_job_created(r->srv->rt, &j, &err))
        log_msg(LOG_WARN, "api", "job %s: %s (the job resolves its start when it runs)", j.id,
                err.msg);
    lerr_init(&err);
    ingest_runtime_notify(r->srv->rt);
    api_reply(r, 201, job_response(&j));
    catalog_job_destroy(&j);
    json_decref(spec);
    json_decref(table);
    json_decref(body);
    return 0;
fail:
    catalog_job_destroy(&j);
    json_decref(spec);
    json_decref(table);
    json_decref(body);
    return api_reply_err(r, &err);
}

/* True when the job matches every given filter (repeats of one filter OR). */
static bool job_matches(struct api_req *r, const struct catalog_job *j)
{
    static const char *const names[] = {"type", "executionStatus", "healthStatus", "tableName"};
    const char *values[] = {j->type, catalog_job_state_name(j->status),
                            catalog_health_name(j->health), j->table_name};
    for (size_t f = 0; f < LS_ARRAY_LEN(names); f++) {
        const char *v = r->query(r->conn, names[f], 0);
        if (!v)
            continue;
        bool any = false;
        for (int k = 0; (v = r->query(r->conn, names[f], k)); k++)
            any |= strcmp(v, values[f]) == 0;
        if (!any)
            return false;
    }
    return true;
}

int api_jobs_list(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job_list l;
    /* One tableName filter narrows the read in the catalog itself. */
    const char *table = r->query(r->conn, "tableName", 0);
    bool one_table = table && !r->query(r->conn, "tableName", 1);
    if (one_table ? catalog_job_list_table(r->srv->cat, table, &l, &err)
                  : catalog_job_list(r->srv->cat, &l, &err))
        return api_reply_err(r, &err);
    json_t *values = json_array();
    for (size_t i = 0; i < l.n; i++)
        if (job_matches(r, &l.items[i]))
            json_array_append_new(values, job_response(&l.items[i]));
    catalog_job_list_free(&l);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

int api_jobs_get(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    api_reply(r, 200, job_response(&j));
    catalog_job_destroy(&j);
    return 0;
}

int api_jobs_status(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    json_t *full = job_response(&j);
    json_t *st = json_object();
    static const char *const keys[] = {"id", "executionStatus", "desiredExecutionStatus",
                                       "health", "startedTimestamp", "completedTimestamp",
                                       "lastUpdatedTimestamp"};
    for (size_t i = 0; i < LS_ARRAY_LEN(keys); i++)
        json_object_set(st, keys[i], json_object_get(full, keys[i]));
    json_decref(full);
    api_reply(r, 200, st);
    catalog_job_destroy(&j);
    return 0;
}

int api_jobs_update(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    json_t *body = NULL, *spec = NULL;
    const char *desired = NULL;
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err) || !(body = api_body_object(r, &err)))
        goto out;
    const char *allowed[32];
    size_t na = 0;
    for (size_t i = 0; spec_keys[i]; i++)
        allowed[na++] = spec_keys[i];
    for (size_t i = 0; server_keys[i]; i++)
        allowed[na++] = server_keys[i];
    allowed[na] = NULL;
    if (api__v_known_keys(body, "", allowed, &err) ||
        api__v_enum(body, "desiredExecutionStatus", "", false, desired_values, &desired, &err))
        goto out;
    /* Everything else may be sent back as it is, but not changed. */
    spec = json_loads(j.spec, 0, NULL);
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
        json_t *cur = spec ? json_object_get(spec, key) : NULL;
        if (strcmp(key, "desiredExecutionStatus") == 0 || !cur)
            continue;
        if (!json_equal(cur, val)) {
            lerr_set_at(&err, LERR_INVALID, key,
                        "%s cannot be changed on an existing job (only desiredExecutionStatus "
                        "can); create a new job with the new spec",
                        key);
            goto out;
        }
    }
    if (!desired) {
        lerr_set_at(&err, LERR_INVALID, "desiredExecutionStatus",
                    "desiredExecutionStatus is required: \"running\", \"suspended\" or "
                    "\"canceled\"");
        goto out;
    }
    if (j.desired == CATALOG_JOB_CANCELED || j.status == CATALOG_JOB_CANCELED) {
        if (strcmp(desired, "canceled") != 0) {
            lerr_set_at(&err, LERR_INVALID, "desiredExecutionStatus",
                        "job %s is canceled, which is final; create a new job (it resumes "
                        "from the table's checkpoint for the same topic)",
                        j.id);
            goto out;
        }
    } else {
        json_t *caller = api_caller(r);
        char *by = json_dumps(caller, JSON_COMPACT);
        json_decref(caller);
        int rc = catalog_job_set_desired(
            r->srv->cat, j.id, (enum catalog_job_state)catalog_job_state_parse(desired), by, &err);
        free(by);
        if (rc)
            goto out;
        /* Answer once the runtime has acted (a suspend persists first; a runner still
         * connecting to an unreachable broker needs its metadata timeout), within reason. */
        ingest_runtime_settle(r->srv->rt, j.id, 10000);
        catalog_job_destroy(&j);
        if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
            goto out;
    }
    api_reply(r, 200, job_response(&j));
out:
    if (err.code)
        api_reply_err(r, &err);
    catalog_job_destroy(&j);
    json_decref(body);
    json_decref(spec);
    return err.code;
}

int api_jobs_reset(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    struct connection_spec cs = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        goto out;
    if (catalog_job_type_parse(j.type) != CATALOG_JOB_STREAMING ||
        !catalog_job_status_live(j.status)) {
        lerr_set(&err, LERR_INVALID,
                 "job %s is %s; only a live streaming job can be reset (its new position "
                 "comes from its readFromPoint)",
                 j.id, catalog_job_state_name(j.status));
        goto out;
    }
    if (catalog_connection_spec_load(r->srv->cat, j.connection_name, &cs, &err))
        goto out;
    if (catalog_job_reset(r->srv->cat, j.id, j.table_name, cs.stream, &err))
        goto out;
    ingest_runtime_notify(r->srv->rt);
    api_reply(r, 200, NULL);
out:
    if (err.code)
        api_reply_err(r, &err);
    catalog_job_destroy(&j);
    catalog_connection_spec_destroy(&cs);
    return err.code;
}

static json_t *totals_json(const struct pipeline_counters *c)
{
    json_t *t = json_pack("{s:I, s:I, s:I, s:I}", "numRowsProcessed", (json_int_t)c->processed,
                          "numRowsProcessedWithWarnings", (json_int_t)c->processed_with_warnings,
                          "numRowsSkippedByFilter", (json_int_t)c->skipped_by_filter,
                          "numRowsSkippedByError", (json_int_t)c->skipped_by_error);
    json_t *reasons = json_object();
    for (int i = 1; i < PIPE_R__COUNT; i++)
        json_object_set_new(reasons, pipeline_reason_name(i),
                            json_integer((json_int_t)c->by_reason[i]));
    json_object_set_new(t, "byReason", reasons);
    return t;
}

int api_jobs_metrics(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    struct ingest_job_metrics m;
    struct source_partition *parts = NULL;
    size_t nparts = 0;
    bool live = ingest_job_metrics(r->srv->rt, j.id, &m, &parts, &nparts);
    if (!live) {
        /* Not running here: the totals saved with the last checkpoint. */
        char *saved = NULL;
        struct lerr e;
        lerr_init(&e);
        memset(&m, 0, sizeof m);
        m.lag = -1;
        m.freshness_ms = -1;
        if (catalog_job_counters(r->srv->cat, j.id, &saved, &e) == 0) {
            json_t *o = json_loads(saved, 0, NULL);
            m.counters.processed = (uint64_t)json_integer_value(json_object_get(o, "numRowsProcessed"));
            m.counters.processed_with_warnings = (uint64_t)json_integer_value(
                json_object_get(o, "numRowsProcessedWithWarnings"));
            m.counters.skipped_by_filter =
                (uint64_t)json_integer_value(json_object_get(o, "numRowsSkippedByFilter"));
            m.counters.skipped_by_error =
                (uint64_t)json_integer_value(json_object_get(o, "numRowsSkippedByError"));
            json_t *br = json_object_get(o, "byReason");
            for (int i = 1; i < PIPE_R__COUNT; i++)
                m.counters.by_reason[i] =
                    (uint64_t)json_integer_value(json_object_get(br, pipeline_reason_name(i)));
            json_decref(o);
            free(saved);
        }
    }
    json_t *lag = json_array();
    for (size_t i = 0; i < nparts; i++)
        json_array_append_new(lag, json_pack("{s:s, s:i, s:I, s:I, s:I}", "topic",
                                             parts[i].topic, "partition", parts[i].partition,
                                             "nextOffset", (json_int_t)parts[i].next_offset,
                                             "endOffset", (json_int_t)parts[i].end_offset,
                                             "lag", (json_int_t)parts[i].lag));
    free(parts);
    json_t *body = json_pack("{s:o, s:o, s:I, s:b}", "totals", totals_json(&m.counters), "lag",
                             lag, "totalLag", (json_int_t)m.lag, "live", live);
    json_object_set_new(body, "freshnessMs",
                        m.freshness_ms >= 0 ? json_integer(m.freshness_ms) : json_null());
    catalog_job_destroy(&j);
    api_reply(r, 200, body);
    return 0;
}

int api_jobs_logs(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, r->seg[1], &j, &err))
        return api_reply_err(r, &err);
    struct pipeline_rejection *rej = calloc(PIPE_RING, sizeof *rej);
    size_t n = rej ? ingest_job_rejections(r->srv->rt, j.id, rej, PIPE_RING) : 0;
    json_t *values = ingest_rejections_json(rej, n);
    free(rej);
    /* none in memory (the job ended, or the server restarted since): the
     * ones saved with its last checkpoint */
    char *saved = NULL;
    struct lerr e;
    lerr_init(&e);
    if (n == 0 && catalog_job_counters(r->srv->cat, j.id, &saved, &e) == 0) {
        json_t *o = json_loads(saved, 0, NULL);
        json_t *logs = json_object_get(o, "logs");
        if (json_is_array(logs)) {
            json_decref(values);
            values = json_incref(logs);
        }
        json_decref(o);
    }
    free(saved);
    catalog_job_destroy(&j);
    api_reply(r, 200, json_pack("{s:o}", "values", values));
    return 0;
}

/* ---- POST /jobs/sample: the user's dry run ---------------------------------------- */
/*
 * The spec is compiled and run as a job's would be (the same pipeline, the
 * same 400s), over sample.data or the connection's first records, touching
 * no checkpoint. Each row's output holds what the table would store for it:
 * measures are finalized from the row's state of the column's own measure
 * type, so they show what a real job ingests (before rows roll up), and the
 * schema gives measures their measure type ("longSum").
 */

#define SAMPLE_MAX_LIMIT 1000
#define SAMPLE_READ_MS 2000

/* A value as JSON for the preview (timestamps as ISO text, json columns parsed). */
static json_t *value_json(const struct sql_value *v)
{
    if (v->is_null)
        return json_null();
    switch (v->type) {
    case SQL_LONG:
    case SQL_BOOLEAN:
        return json_integer(v->v.l);
    case SQL_DOUBLE:
    case SQL_FLOAT:
        return json_real(v->v.d);
    case SQL_TIMESTAMP: {
        char ts[32];
        util_format_iso_ms(v->v.l, ts);
        return json_string(ts);
    }
    case SQL_STRING: {
        json_t *s = json_stringn(v->v.s.p, v->v.s.n);
        return s ? s : json_string("(not UTF-8)");
    }
    case SQL_JSON: {
        json_t *j = json_loadb(v->v.s.p, v->v.s.n, JSON_DECODE_ANY, NULL);
        return j ? j : json_stringn(v->v.s.p, v->v.s.n);
    }
    default: {
        struct buf b;
        buf_init(&b, 1u << 20);
        sql_value_to_text(v, &b, true);
        json_t *s = json_string(buf_cstr(&b));
        buf_free(&b);
        return s ? s : json_null();
    }
    }
}

struct sample_ctx {
    struct pipeline *p;
    json_t *rows;
    struct sql_field *fields;
    size_t nfields;
    json_t **pending_out;   /* per row: the entry whose "output" is filled after the batch */
    int64_t *pending_row;
    size_t npending, cap;
};

static void sample_observe(void *ctx, const struct pipeline_row_info *info)
{
    struct sample_ctx *x = ctx;
    json_t *input = json_object();
    if (info->input) {
        size_t nf = pipeline_input_schema(x->p, x->fields, x->nfields);
        for (size_t i = 0; i < info->input->nvalues && i < nf; i++)
            json_object_set_new(input, x->fields[i].name, value_json(&info->input->values[i]));
        for (uint32_t k = 0; k < info->input->nextra; k++)
            if (info->input->extra_index[k] < nf)
                json_object_set_new(input, x->fields[info->input->extra_index[k]].name,
                                    value_json(&info->input->extra[k]));
    } else {
        json_t *raw = json_stringn(info->rec->data, info->rec->len > 1024 ? 1024 : info->rec->len);
        json_object_set_new(input, "raw", raw ? raw : json_string("(not UTF-8)"));
    }
    json_t *row = json_pack("{s:o, s:n, s:s}", "input", input, "output", "outcome",
                            pipeline_outcome_name(info->outcome));
    json_object_set_new(row, "message", info->message ? json_string(info->message) : json_null());
    if (info->reason != PIPE_R_NONE)
        json_object_set_new(row, "reason", json_string(pipeline_reason_name(info->reason)));
    json_array_append_new(x->rows, row);
    if (info->out_row >= 0 && x->npending < x->cap) {
        x->pending_out[x->npending] = row;
        x->pending_row[x->npending++] = info->out_row;
    }
}

/* Reads up to limit records from the connection's earliest point, touching no checkpoint.
 * The records' bytes go into `data`; *recs (malloc'd) hold each record's value and
 * position only, as the sample has always shown them. */
static int sample_read(struct api_req *r, const char *conn, size_t limit, struct arena *data,
                       struct record **recs, size_t *nrecs, struct lerr *err)
{
    struct connection_spec cs;
    if (catalog_connection_spec_load(r->srv->cat, conn, &cs, err)) {
        catalog_connection_spec_destroy(&cs);
        return err->code;
    }
    struct source *src = NULL;
    struct arena a;
    arena_init(&a, 4096, 0);
    int rc = 0;
    if (cs.type == CATALOG_CONN_PUSH) {
        if (!(src = pushreg_source(r->srv->pushes, conn, err))) {
            rc = err->code;
            goto out;
        }
    } else {
        struct source_kafka_config cfg;
        if ((rc = catalog_connection_spec_kafka(&cs, &cfg, &a, err)) ||
            !(src = source_open_kafka(&cfg, err))) {
            rc = err->code;
            goto out;
        }
    }
    struct source_offsets none;
    source_offsets_init(&none);
    rc = source_assign(src, &none, SOURCE_OFFSET_EARLIEST, err);
    source_offsets_destroy(&none);
    if (rc)
        goto out;
    /* The source copies each polled batch into `data`, which outlives it. */
    *recs = calloc(limit + 1, sizeof **recs);
    size_t n = 0;
    int64_t deadline = util_mono_ns() + (int64_t)SAMPLE_READ_MS * 1000000;
    while (*recs && n < limit && util_mono_ns() < deadline) {
        struct source_batch b;
        if ((rc = source_poll(src, data, limit - n, 200, &b, err)))
            break;
        for (size_t i = 0; i < b.n; i++) {
            const struct record *br = &b.records[i];
            (*recs)[n++] = (struct record){.data = br->data, .len = br->len,
                                           .partition = br->partition, .offset = br->offset,
                                           .has_timestamp = br->has_timestamp,
                                           .timestamp_ms = br->timestamp_ms};
        }
        if (b.n == 0 && n > 0)
            break;   /* caught up */
    }
    *nrecs = n;
out:
    source_close(src);
    arena_destroy(&a);
    catalog_connection_spec_destroy(&cs);
    return rc;
}

int api_jobs_sample(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    char stream[300];
    bool any_agg = false, create_table = false;
    json_t *spec = NULL, *table = NULL, *sample = NULL;
    struct pipeline *p = NULL;
    struct arena mem, tmem;
    arena_init(&mem, 1u << 20, 256u << 20);
    arena_init(&tmem, 4096, 0);
    struct arena data;   /* the bytes of records read from the connection */
    arena_init(&data, 1u << 20, 64u << 20);
    struct record *recs = NULL;
    struct pipeline_tally *tally = NULL;
    size_t nrecs = 0;
    struct sample_ctx x = {0};
    json_t *body = api_body_object(r, &err);
    if (!body)
        goto out;
    sample = json_incref(json_object_get(body, "sample"));
    json_object_del(body, "sample");
    static const char *const sample_keys[] = {"data", "limit", NULL};
    json_int_t limit = 100;
    const char *text = NULL;
    if (sample && (!json_is_object(sample) || api__v_known_keys(sample, "sample", sample_keys, &err) ||
                   api__v_string(sample, "data", "sample", false, 16u << 20, &text, &err))) {
        if (!err.code)
            lerr_set_at(&err, LERR_INVALID, "sample", "sample must be an object: "
                                                      "{\"data\": \"...\", \"limit\": 100}");
        goto out;
    }
    json_t *lim = sample ? json_object_get(sample, "limit") : NULL;
    if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                json_integer_value(lim) > SAMPLE_MAX_LIMIT)) {
        lerr_set_at(&err, LERR_INVALID, "sample.limit", "sample.limit must be 1..%d",
                    SAMPLE_MAX_LIMIT);
        goto out;
    }
    if (lim)
        limit = json_integer_value(lim);
    if (!(spec = job_spec(r, body, &j, stream, &any_agg, &create_table, &err)))
        goto out;
    if (load_target(r, spec, &j, create_table, &table, &err))
        goto out;
    struct pipeline_table pt;
    if (compile_pipeline(spec, table, any_agg, &tmem, &pt, &p, &err))
        goto out;
    if (text) {
        /* One record per line, as a push body is read. */
        size_t cap = 64;
        recs = calloc(cap, sizeof *recs);
        for (const char *q = text, *end = text + strlen(text); recs && q < end && nrecs < (size_t)limit;) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            const char *stop = nl ? nl : end;
            if (nrecs == cap) {
                struct record *nr = realloc(recs, (cap *= 2) * sizeof *nr);
                if (!nr)
                    break;
                recs = nr;
            }
            if (stop > q && !format_is_blank(q, (size_t)(stop - q))) {
                recs[nrecs] = (struct record){.data = q, .len = (size_t)(stop - q),
                                                     .offset = (int64_t)nrecs};
                nrecs++;
            }
            q = stop + 1;
        }
    } else if (sample_read(r, json_string_value(json_object_get(
                                  json_object_get(spec, "source"), "connectionName")),
                           (size_t)limit, &data, &recs, &nrecs, &err)) {
        goto out;
    }
    x.p = p;
    x.rows = json_array();
    x.nfields = 4096;
    x.fields = calloc(x.nfields, sizeof *x.fields);
    x.cap = (size_t)limit * 4 + 16;
    x.pending_out = calloc(x.cap, sizeof *x.pending_out);
    x.pending_row = calloc(x.cap, sizeof *x.pending_row);
    struct pipeline_out out;
    tally = malloc(sizeof *tally);
    if (!x.fields || !x.pending_out || !x.pending_row || !tally)
        lerr_set(&err, LERR_NOMEM, "out of memory");
    if (err.code || pipeline_process(p, recs, nrecs, &mem, &out, tally, sample_observe, &x, &err))
        goto out;
    for (size_t k = 0; k < x.npending; k++) {
        json_t *o = json_object();
        int64_t row = x.pending_row[k];
        json_object_set_new(o, "__time", json_string(""));
        char ts[32];
        util_format_iso_ms(out.time[row], ts);
        json_object_set_new(o, "__time", json_string(ts));
        for (uint32_t c = 0; c < out.ncols; c++) {
            struct pipeline_column *pc = pipeline_column(p, c);
            struct sql_value v;
            if (pc->measure)
                sql_agg_finalize(pc->agg, out.states[c] + (size_t)row * pc->state_size, &v);
            else
                v = out.values[c][row];
            json_object_set_new(o, pc->name, value_json(&v));
        }
        json_object_set(x.pending_out[k], "output", o);
        json_decref(o);
    }
    json_t *schema = json_array();
    json_array_append_new(schema, json_pack("{s:s, s:s}", "name", "__time", "dataType",
                                            "timestamp"));
    for (size_t c = 0; c < pipeline_ncolumns(p); c++) {
        struct pipeline_column *pc = pipeline_column(p, c);
        json_array_append_new(schema, json_pack("{s:s, s:s, s:s}", "name", pc->name,
                                                "dataType", pc->measure ? pc->measure_type
                                                                        : sql_type_name(pc->type),
                                                "columnType", pc->measure ? "measure" : "dimension"));
    }
    api_reply(r, 200, json_pack("{s:o, s:o, s:o}", "schema", schema, "rows", x.rows, "totals",
                                totals_json(&tally->c)));
    x.rows = NULL;
out:
    if (err.code)
        api_reply_err(r, &err);
    json_decref(x.rows);
    free(x.fields);
    free(x.pending_out);
    free(x.pending_row);
    free(tally);
    free(recs);
    arena_destroy(&data);
    pipeline_free(p);
    arena_destroy(&mem);
    arena_destroy(&tmem);
    catalog_job_destroy(&j);
    json_decref(spec);
    json_decref(table);
    json_decref(sample);
    json_decref(body);
    return err.code;
}
