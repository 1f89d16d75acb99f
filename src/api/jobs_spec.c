/*
 * jobs_spec.c — a job request's body, checked and normalised: formatSettings,
 * inputSchema, the source (a connection, uploaded files, inline data, S3
 * objects), the mappings and filter, the batch intervals, every default filled in as the
 * reference page's responses show; then compiled with the catalog's parsers
 * and the runtime's pipeline against the target table, so a spec the API
 * accepts is one the runtime runs. Used by jobs.c (create, update) and
 * jobs_sample.c (the dry run).
 *
 * Entry points (api_int.h): api__job_spec(), api__compile_pipeline(),
 * api__validate_pipeline(), api__load_target().
 */
#include <string.h>

#include "api/api_int.h"
#include "ingest/ingest.h"
#include "source/pushreg.h"
#include "storage/storage.h"
#include "util/s3.h"
#include "util/time.h"

static const char *const job_types[] = {CATALOG_JOB_TYPE_MAP(CATALOG_NAME_LIST) NULL};
static const char *const read_points[] = {CATALOG_READ_FROM_MAP(CATALOG_NAME_LIST) NULL};
const char *const api__job_desired_values[] = {"running", "suspended", "canceled", NULL};
static const char *const input_types[] = {"string",      "long",          "float",
                                          "double",      "json",          "ARRAY<STRING>",
                                          "ARRAY<LONG>", "ARRAY<DOUBLE>", NULL};
// clang-format off
static const char *const formats[] = {"nd-json", "csv", "tsv", "delimited", "kafka",
                                      "kinesis", "avro_stream", "avro_ocf", "protobuf", NULL};
const char *const api__job_spec_keys[] = {
    "type", "target", "createTableIfNotExists", "source", "mappings", "useSchemaDiscovery",
    "dimensionExclusions", "filterExpression", "lateMessageRejectionPeriod",
    "earlyMessageRejectionPeriod", "readFromPoint", "desiredExecutionStatus", "arrayIngestMode",
    NULL};
/* arrayIngestMode (Druid's): "array" stores arrays of primitives as ARRAY
 * columns, "mvd" arrays of strings as multi-value string columns */
const char *const api__array_ingest_modes[] = {"array", "mvd", NULL};
const char *const api__job_server_keys[] = {
    "id", "createdBy", "lastModifiedBy", "executionStatus", "health", "createdTimestamp",
    "lastUpdatedTimestamp", "startedTimestamp", "completedTimestamp", NULL};
// clang-format on

#define MAX_EXPRESSION 65536

/* ---- formatSettings ------------------------------------------------------- */

static json_t *format_settings(json_t *fs, const char *path, bool nested, struct lerr *err);

static int v_string_list(json_t *obj, const char *key, const char *path, json_t **out,
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
    static const char *const keys[] = {
        "format",        "skipHeaderRows", "columns", "findColumnsFromHeader",
        "listDelimiter", "delimiter",      NULL};
    static const char *const keys_no_delim[] = {
        "format", "skipHeaderRows", "columns", "findColumnsFromHeader", "listDelimiter", NULL};
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
    if (v_string_list(fs, "columns", path, &columns, err))
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
    // clang-format off
    static const char *const keys[] = {"format", "valueFormat", "keyFormat", "keyColumnName",
                                       "timestampColumnName", "headerLabelPrefix",
                                       "topicColumnName", NULL};
    // clang-format on
    json_t *vf = NULL, *kf = NULL;
    const char *key_col = "kafka.key", *ts_col = "kafka.timestamp", *hdr = "kafka.header.",
               *topic_col = "kafka.topic";
    char p[200];
    if (api__v_known_keys(fs, path, keys, err) ||
        api__v_object(fs, "valueFormat", path, true, &vf, err) ||
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

/* Druid's kinesis input format: the value format with the partition key and arrival time. */
static json_t *kinesis_settings(json_t *fs, const char *path, struct lerr *err)
{
    static const char *const keys[] = {"format", "valueFormat", "partitionKeyColumnName",
                                       "timestampColumnName", NULL};
    json_t *vf = NULL;
    const char *key_col = "kinesis.partitionKey", *ts_col = "kinesis.timestamp";
    char p[200];
    if (api__v_known_keys(fs, path, keys, err) ||
        api__v_object(fs, "valueFormat", path, true, &vf, err) ||
        api__v_string(fs, "partitionKeyColumnName", path, false, 255, &key_col, err) ||
        api__v_string(fs, "timestampColumnName", path, false, 255, &ts_col, err))
        return NULL;
    api__v_path(p, sizeof p, path, "valueFormat");
    json_t *value = format_settings(vf, p, true, err);
    if (!value)
        return NULL;
    return json_pack("{s:s, s:o, s:s, s:s}", "format", "kinesis", "valueFormat", value,
                     "partitionKeyColumnName", key_col, "timestampColumnName", ts_col);
}

/* avro_stream: parseSchemaProvider (inline-avro with the schema, or a schema
 * registry connection by name) and an optional flattenSpec; avro_ocf: only a
 * flattenSpec (the schema is in each file). The schema itself is checked when
 * the pipeline compiles. */
static json_t *avro_settings(json_t *fs, const char *path, const char *format, struct lerr *err)
{
    static const char *const stream_keys[] = {"format", "parseSchemaProvider", "flattenSpec",
                                              NULL};
    static const char *const ocf_keys[] = {"format", "flattenSpec", NULL};
    bool ocf = strcmp(format, "avro_ocf") == 0;
    json_t *flat = NULL, *psp = NULL;
    if (api__v_known_keys(fs, path, ocf ? ocf_keys : stream_keys, err) ||
        api__v_object(fs, "flattenSpec", path, false, &flat, err))
        return NULL;
    json_t *out = json_pack("{s:s, s:o}", "format", format, "flattenSpec",
                            flat ? json_deep_copy(flat) : json_object());
    if (ocf)
        return out;
    char p[200];
    api__v_path(p, sizeof p, path, "parseSchemaProvider");
    static const char *const types[] = {"inline-avro", "connection", NULL};
    const char *type = NULL, *conn = NULL;
    if (api__v_object(fs, "parseSchemaProvider", path, true, &psp, err) ||
        api__v_enum(psp, "type", p, true, types, &type, err))
        goto fail;
    if (strcmp(type, "inline-avro") == 0) {
        static const char *const keys[] = {"type", "schema", NULL};
        json_t *schema = NULL;
        if (api__v_known_keys(psp, p, keys, err) ||
            api__v_object(psp, "schema", p, true, &schema, err))
            goto fail;
        json_object_set_new(out, "parseSchemaProvider",
                            json_pack("{s:s, s:O}", "type", type, "schema", schema));
    } else {
        static const char *const keys[] = {"type", "connectionName", NULL};
        char t[220];
        api__v_path(t, sizeof t, p, "connectionName");
        if (api__v_known_keys(psp, p, keys, err) ||
            api__v_string(psp, "connectionName", p, true, 0, &conn, err) ||
            api__v_connection_name(conn, t, err))
            goto fail;
        json_object_set_new(out, "parseSchemaProvider",
                            json_pack("{s:s, s:s}", "type", type, "connectionName", conn));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* The schema registry connection a normalised formatSettings names (kafka's
 * valueFormat included), or NULL. */
static const char *registry_connection(json_t *fs)
{
    json_t *v = json_object_get(fs, "valueFormat");
    json_t *psp = json_object_get(json_is_object(v) ? v : fs, "parseSchemaProvider");
    return json_string_value(json_object_get(psp, "connectionName"));
}

/* The format name of a normalised formatSettings (kafka: its valueFormat's). */
static const char *value_format_name(json_t *fs)
{
    json_t *v = json_object_get(fs, "valueFormat");
    return json_string_value(json_object_get(json_is_object(v) ? v : fs, "format"));
}

/*
 * The connection `name` (the field `target`) must exist and be of type
 * `want`: LERR_INVALID naming the field and what to create or name instead.
 */
static int check_connection_type(struct api_req *r, const char *name, const char *target,
                                 enum catalog_conn_type want, struct lerr *err)
{
    struct connection_spec cs;
    struct lerr ce;
    lerr_init(&ce);
    int rc = catalog_connection_spec_load(r->srv->cat, name, &cs, &ce);
    enum catalog_conn_type type = cs.type;
    catalog_connection_spec_destroy(&cs);
    if (rc == LERR_NOT_FOUND)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: no connection named '%s'; create one first (POST "
                           "/v2/connections, type %s) or fix the name",
                           target, name, catalog_conn_type_name(want));
    if (rc)
        return lerr_set(err, ce.code, "%s", ce.msg);
    if (type != want)
        return lerr_set_at(err, LERR_INVALID, target,
                           "%s: '%s' is a %s connection; name a connection of type %s", target,
                           name, catalog_conn_type_name(type), catalog_conn_type_name(want));
    return 0;
}

/* A registry connection named by parseSchemaProvider must exist and be one. */
static int check_registry(struct api_req *r, json_t *fs, struct lerr *err)
{
    const char *name = registry_connection(fs);
    return name ? check_connection_type(r, name,
                                        "source.formatSettings.parseSchemaProvider.connectionName",
                                        CATALOG_CONN_SCHEMA_REGISTRY, err)
                : 0;
}

/* protobuf: {"format": "protobuf", "parseSchemaProvider": {"type": "inline-protobuf",
 * "descriptor": "<base64 FileDescriptorSet>", "messageType": "pkg.Msg"} or {"type":
 * "connection", "connectionName"}, "flattenSpec"}. The descriptor itself is read when the
 * pipeline is compiled (format/protobuf.c); a registry's schemas, when records arrive. */
static json_t *protobuf_settings(json_t *fs, const char *path, struct lerr *err)
{
    static const char *const keys[] = {"format", "parseSchemaProvider", "flattenSpec", NULL};
    static const char *const provider_types[] = {"inline-protobuf", "connection", NULL};
    static const char *const inline_keys[] = {"type", "descriptor", "messageType", NULL};
    json_t *ps = NULL, *flat = NULL;
    const char *type = NULL, *desc = NULL, *msg = NULL;
    char p[200];
    api__v_path(p, sizeof p, path, "parseSchemaProvider");
    if (api__v_known_keys(fs, path, keys, err) ||
        api__v_object(fs, "flattenSpec", path, false, &flat, err) ||
        api__v_object(fs, "parseSchemaProvider", path, true, &ps, err) ||
        api__v_enum(ps, "type", p, true, provider_types, &type, err))
        return NULL;
    if (strcmp(type, "connection") == 0) {
        /* schemas by the id in each record's Confluent framing */
        static const char *const conn_keys[] = {"type", "connectionName", NULL};
        const char *conn = NULL;
        char t[220];
        api__v_path(t, sizeof t, p, "connectionName");
        if (api__v_known_keys(ps, p, conn_keys, err) ||
            api__v_string(ps, "connectionName", p, true, 0, &conn, err) ||
            api__v_connection_name(conn, t, err))
            return NULL;
        return json_pack("{s:s, s:{s:s, s:s}, s:o}", "format", "protobuf", "parseSchemaProvider",
                         "type", "connection", "connectionName", conn, "flattenSpec",
                         flat ? json_deep_copy(flat) : json_object());
    }
    if (api__v_known_keys(ps, p, inline_keys, err) ||
        api__v_string(ps, "descriptor", p, true, 0, &desc, err) ||
        api__v_string(ps, "messageType", p, true, 1024, &msg, err))
        return NULL;
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o}", "format", "protobuf", "parseSchemaProvider",
                     "type", "inline-protobuf", "descriptor", desc, "messageType", msg,
                     "flattenSpec", flat ? json_deep_copy(flat) : json_object());
}

static json_t *format_settings(json_t *fs, const char *path, bool nested, struct lerr *err)
{
    const char *format = NULL;
    if (api__v_enum(fs, "format", path, true, formats, &format, err))
        return NULL;
    char t[200];
    api__v_path(t, sizeof t, path, "format");
    if (strcmp(format, "avro_stream") == 0 || strcmp(format, "avro_ocf") == 0)
        return avro_settings(fs, path, format, err);
    if (strcmp(format, "protobuf") == 0)
        return protobuf_settings(fs, path, err);
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
    if (strcmp(format, "kinesis") == 0) {
        if (nested) {
            lerr_set_at(err, LERR_INVALID, t,
                        "%s: \"kinesis\" is a wrapper and cannot be nested; give the records' "
                        "own format here, e.g. \"nd-json\"",
                        t);
            return NULL;
        }
        return kinesis_settings(fs, path, err);
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
        if (api__v_known_keys(e, p, keys, err) ||
            api__v_string(e, "name", p, true, 255, &name, err) ||
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
                            "%s: input field '%s' is declared twice (also at %s[%zu])", t, name,
                            path, j);
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

int api__push_local_refused(struct lerr *err, const char *target, const char *conn)
{
    return lerr_set_at(err, LERR_INVALID, target,
                       "push connection '%s': this server shares its catalog with other nodes "
                       "but keeps pushed events on its own disk, where no other node reads them "
                       "and where they are lost with it; start every node with --push-kafka "
                       "BOOTSTRAP so that pushed events go through Kafka",
                       conn);
}

/*
 * Validates source; checks the connection exists and can feed a streaming
 * job. Returns the normalised source and the connection's stream key.
 */
static json_t *job_source(struct api_req *r, json_t *src, char stream[300], struct lerr *err)
{
    static const char *const keys[] = {"type", "connectionName", "inputSchema", "formatSettings",
                                       NULL};
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
    if (cs.type == CATALOG_CONN_SCHEMA_REGISTRY || cs.type == CATALOG_CONN_S3)
        bad = lerr_set_at(err, LERR_INVALID, "source.connectionName",
                          "source.connectionName: '%s' is %s, not a stream; name a kafka, "
                          "confluent, kinesis or push_streaming connection%s",
                          conn,
                          cs.type == CATALOG_CONN_S3 ? "an s3 connection" : "a schema registry",
                          cs.type == CATALOG_CONN_S3
                              ? " (an s3 connection feeds batch jobs: \"type\": \"batch\" "
                                "with source \"type\": \"s3\")"
                              : "");
    else if (cs.type == CATALOG_CONN_PUSH && catalog_is_shared(r->srv->cat) && !r->srv->pushtopic)
        bad = api__push_local_refused(err, "source.connectionName", conn);
    else
        ingest_stream_key(r->srv->rt, &cs, stream); /* the key the runtime checkpoints under */
    catalog_connection_spec_destroy(&cs);
    if (bad)
        return NULL;
    json_t *schema = input_schema(schema_in, "source.inputSchema", err);
    if (!schema)
        return NULL;
    json_t *fs = format_settings(fs_in, "source.formatSettings", false, err);
    const char *vf = fs ? value_format_name(fs) : NULL;
    if (fs && vf && strcmp(vf, "avro_ocf") == 0) {
        lerr_set_at(err, LERR_INVALID, "source.formatSettings.format",
                    "source.formatSettings: \"avro_ocf\" is for batch files; stream Avro "
                    "records with \"avro_stream\"");
        json_decref(fs);
        fs = NULL;
    }
    if (fs && check_registry(r, fs, err)) {
        json_decref(fs);
        fs = NULL;
    }
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
        if (api__v_known_keys(e, p, keys, err) ||
            api__v_string(e, "columnName", p, true, 0, &col, err) ||
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
static int check_against_table(json_t *table, json_t *mappings, bool discovery, struct lerr *err)
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

/* A list of strings source.<key>: optional; when given, 1 to 10,000 non-empty strings. */
static int v_key_list(json_t *src, const char *key, json_t **out, struct lerr *err)
{
    char t[64];
    if (api__v_array(src, key, "source", false, out, err))
        return err->code;
    if (!*out)
        return 0;
    snprintf(t, sizeof t, "source.%s", key);
    if (json_array_size(*out) == 0 || json_array_size(*out) > 10000)
        return lerr_set_at(err, LERR_INVALID, t, "%s must name 1 to 10000 %s", t,
                           strcmp(key, "objects") == 0 ? "object keys" : key);
    size_t i;
    json_t *v;
    json_array_foreach(*out, i, v) {
        if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 1024) {
            char ti[80];
            api__v_path_idx(ti, sizeof ti, t, i);
            return lerr_set_at(err, LERR_INVALID, ti,
                               "%s must be a string of 1 to 1024 bytes (a key)", ti);
        }
    }
    return 0;
}

/*
 * An s3 batch source into out: connectionName (an s3 connection) with
 * exactly one of objects (keys under its prefix), prefixes (under its
 * prefix) and pattern (a glob over the keys under its prefix); or, without
 * a connection, uris ["s3://BUCKET/KEY"] and/or prefixes
 * ["s3://BUCKET/PREFIX"], read with the server's own S3 settings.
 */
static int s3_source(struct api_req *r, json_t *src, json_t *out, struct lerr *err)
{
    const char *conn = NULL, *pattern = NULL;
    json_t *objects = NULL, *prefixes = NULL, *uris = NULL;
    if (api__v_string(src, "connectionName", "source", false, 0, &conn, err) ||
        api__v_string(src, "pattern", "source", false, 1024, &pattern, err) ||
        v_key_list(src, "objects", &objects, err) || v_key_list(src, "prefixes", &prefixes, err) ||
        v_key_list(src, "uris", &uris, err))
        return err->code;
    if (pattern && !*pattern)
        return lerr_set_at(err, LERR_INVALID, "source.pattern",
                           "source.pattern is empty; give a glob such as \"**.json\"");
    size_t i;
    json_t *v;
    if (conn) {
        if (api__v_connection_name(conn, "source.connectionName", err))
            return err->code;
        if ((objects != NULL) + (prefixes != NULL) + (pattern != NULL) != 1 || uris)
            return lerr_set_at(err, LERR_INVALID, uris ? "source.uris" : "source",
                               "an s3 source with a connection takes exactly one of objects "
                               "(keys under the connection's prefix), prefixes or pattern (a "
                               "glob such as \"**.json\")%s",
                               uris ? "; uris are for a source without a connection" : "");
        json_array_foreach(prefixes, i, v) {
            if (strncmp(json_string_value(v), "s3://", 5) == 0) {
                char t[64];
                api__v_path_idx(t, sizeof t, "source.prefixes", i);
                return lerr_set_at(err, LERR_INVALID, t,
                                   "%s: with a connection, prefixes are under its bucket and "
                                   "prefix (e.g. \"2024/\"), not s3:// URIs",
                                   t);
            }
        }
        if (check_connection_type(r, conn, "source.connectionName", CATALOG_CONN_S3, err))
            return err->code;
        json_object_set_new(out, "connectionName", json_string(conn));
    } else {
        if (objects || pattern)
            return lerr_set_at(err, LERR_INVALID, objects ? "source.objects" : "source.pattern",
                               "source.%s needs source.connectionName (an s3 connection); "
                               "without one give uris [\"s3://BUCKET/KEY\"] or prefixes "
                               "[\"s3://BUCKET/PREFIX\"]",
                               objects ? "objects" : "pattern");
        if (!uris && !prefixes)
            return lerr_set_at(err, LERR_INVALID, "source.connectionName",
                               "an s3 source needs source.connectionName (an s3 connection) "
                               "with objects, prefixes or pattern, or uris "
                               "[\"s3://BUCKET/KEY\"] / prefixes [\"s3://BUCKET/PREFIX\"]");
        for (int k = 0; k < 2; k++) {
            json_t *list = k ? prefixes : uris;
            json_array_foreach(list, i, v) {
                char t[64], bucket[128];
                const char *key;
                api__v_path_idx(t, sizeof t, k ? "source.prefixes" : "source.uris", i);
                if (!source_s3_uri_split(json_string_value(v), bucket, sizeof bucket, &key) ||
                    !s3_bucket_name_ok(bucket) || (!k && !*key))
                    return lerr_set_at(
                        err, LERR_INVALID, t, "%s '%.200s' is not %s (without a connection)", t,
                        json_string_value(v), k ? "s3://BUCKET/PREFIX" : "s3://BUCKET/KEY");
            }
        }
    }
    if (objects)
        json_object_set(out, "objects", objects);
    if (prefixes)
        json_object_set(out, "prefixes", prefixes);
    if (uris)
        json_object_set(out, "uris", uris);
    if (pattern)
        json_object_set_new(out, "pattern", json_string(pattern));
    return 0;
}

/* The source of a batch job: uploaded files, inline data or S3 objects. */
static json_t *batch_source(struct api_req *r, json_t *src, struct lerr *err)
{
    static const char *const keys[] = {
        "type",           "fileList",       "data",    "inputSchema",
        "formatSettings", "connectionName", "objects", "prefixes",
        "pattern",        "uris",           NULL};
    static const char *const types[] = {"uploaded", "inline", "s3", NULL};
    const char *type = NULL, *data = NULL;
    json_t *files = NULL, *schema_in = NULL, *fs_in = NULL;
    if (api__v_known_keys(src, "source", keys, err) ||
        api__v_enum(src, "type", "source", true, types, &type, err) ||
        api__v_array(src, "inputSchema", "source", true, &schema_in, err) ||
        api__v_object(src, "formatSettings", "source", true, &fs_in, err))
        return NULL;
    static const char *const s3_only[] = {"connectionName", "objects", "prefixes",
                                          "pattern",        "uris",    NULL};
    for (size_t k = 0; catalog_source_type_parse(type) != CATALOG_SOURCE_S3 && s3_only[k]; k++)
        if (json_object_get(src, s3_only[k])) {
            char t[64];
            snprintf(t, sizeof t, "source.%s", s3_only[k]);
            lerr_set_at(err, LERR_INVALID, t,
                        "%s is for an s3 source (\"type\": \"s3\"), not for \"%s\"", t, type);
            return NULL;
        }
    json_t *out = json_pack("{s:s}", "type", type);
    if (catalog_source_type_parse(type) == CATALOG_SOURCE_S3) {
        if (s3_source(r, src, out, err))
            goto fail;
    } else if (catalog_source_type_parse(type) == CATALOG_SOURCE_UPLOADED) {
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
                            "%s: no uploaded file named '%s'; upload it first (POST /v1/files)", t,
                            json_is_string(f) ? json_string_value(f) : "(not a string)");
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
    if (fs && strcmp(value_format_name(fs), "avro_stream") == 0) {
        lerr_set_at(err, LERR_INVALID, "source.formatSettings.format",
                    "source.formatSettings: \"avro_stream\" reads streams; for Avro files use "
                    "\"avro_ocf\" (object container files)");
        json_decref(fs);
        fs = NULL;
    }
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
    const char *array_mode; /* arrayIngestMode, NULL when not given */
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
        api__v_string(body, "filterExpression", "", false, MAX_EXPRESSION, &f->filter, err) ||
        api__v_enum(body, "arrayIngestMode", "", false, api__array_ingest_modes, &f->array_mode,
                    err))
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
json_t *api__batch_spec(struct api_req *r, json_t *body, struct catalog_job *j, bool *any_agg,
                        bool *create_table, struct lerr *err)
{
    // clang-format off
    static const char *const keys[] = {"type", "target", "createTableIfNotExists", "source",
                                       "mappings", "useSchemaDiscovery", "dimensionExclusions",
                                       "filterExpression", "ingestionMode", "arrayIngestMode",
                                       NULL};
    // clang-format on
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
    if (v_string_list(body, "dimensionExclusions", "", &excl, err)) {
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
    json_t *spec = json_pack(
        "{s:o, s:o, s:o, s:b, s:s?, s:s, s:s, s:{s:s, s:o, s:s}, s:b}", "source", source,
        "mappings", mappings, "dimensionExclusions", excl, "useSchemaDiscovery", discovery,
        "filterExpression", filter, "ingestionMode", mode, "type", "batch", "target", "tableName",
        tname, "intervals", ivs, "type", "table", "createTableIfNotExists", *create_table);
    if (!filter)
        json_object_set_new(spec, "filterExpression", json_null());
    if (f.array_mode)
        json_object_set_new(spec, "arrayIngestMode", json_string(f.array_mode));
    j->type = CATALOG_JOB_BATCH;
    snprintf(j->table_name, sizeof j->table_name, "%s", tname);
    j->connection_name[0] = '\0';
    j->desired = CATALOG_JOB_RUNNING;
    return spec;
}

/* Validates a POST body into the normalised spec; fills table/connection/stream. */
json_t *api__job_spec(struct api_req *r, json_t *body, struct catalog_job *j, char stream[300],
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
        return api__batch_spec(r, body, j, any_agg, create_table, err);
    if (catalog_job_type_parse(type) == CATALOG_JOB_SQL ||
        catalog_job_type_parse(type) == CATALOG_JOB_DELETE_DATA) {
        lerr_set_at(err, LERR_INVALID, "type",
                    "type: a %s job cannot be tried as a sample; create it with POST /jobs", type);
        return NULL;
    }
    if (api__v_known_keys(body, "", api__job_spec_keys, err))
        return NULL;
    struct common_fields f;
    if (common_fields(body, &f, create_table, err) ||
        api__v_period(body, "lateMessageRejectionPeriod", "", true, &late, err) ||
        api__v_period(body, "earlyMessageRejectionPeriod", "", true, &early, err) ||
        api__v_enum(body, "readFromPoint", "", false, read_points, &rfp, err) ||
        api__v_enum(body, "desiredExecutionStatus", "", false, api__job_desired_values, &desired,
                    err))
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
    if (catalog_job_state_parse(desired) == CATALOG_JOB_CANCELED) {
        lerr_set_at(err, LERR_INVALID, "desiredExecutionStatus",
                    "desiredExecutionStatus: a new job starts \"running\" or \"suspended\"");
        return NULL;
    }
    json_t *dim_excl = NULL;
    if (v_string_list(body, "dimensionExclusions", "", &dim_excl, err))
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
        source, "mappings", mappings, "dimensionExclusions", excl, "useSchemaDiscovery", discovery,
        "filterExpression", filter, "lateMessageRejectionPeriod", late,
        "earlyMessageRejectionPeriod", early, "readFromPoint", rfp, "type", type, "target",
        "tableName", tname, "intervals", "type", "table", "createTableIfNotExists", *create_table);
    /* s? drops NULLs; the API echoes them as JSON null. */
    if (!filter)
        json_object_set_new(spec, "filterExpression", json_null());
    if (!late)
        json_object_set_new(spec, "lateMessageRejectionPeriod", json_null());
    if (!early)
        json_object_set_new(spec, "earlyMessageRejectionPeriod", json_null());
    if (f.array_mode)
        json_object_set_new(spec, "arrayIngestMode", json_string(f.array_mode));
    j->type = (enum catalog_job_type)catalog_job_type_parse(type);
    snprintf(j->table_name, sizeof j->table_name, "%s", tname);
    snprintf(j->connection_name, sizeof j->connection_name, "%s",
             json_string_value(json_object_get(source, "connectionName")));
    j->desired = (enum catalog_job_state)catalog_job_state_parse(desired);
    return spec;
}

/*
 * Reads the normalised spec and the target table (NULL: a table the job
 * will create, aggregate when a mapping aggregates) with the catalog's
 * parsers, the ones the runtime loads them with, and compiles the spec's
 * format, filter and mappings against the table: *out when given, else
 * only checked. The table's columns come from `mem`.
 */
int api__compile_pipeline(json_t *spec, json_t *table, bool any_agg, struct arena *mem,
                          struct pipeline_table *pt, struct pipeline **out, struct catalog *cat,
                          struct format_registry **reg, struct lerr *err)
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
    if (!rc && reg)
        rc = ingest_registry_open(cat, &js, reg, err);
    if (!rc) {
        struct pipeline_opts po = {&js, pt, util_now_ms(), reg ? *reg : NULL};
        rc = out ? pipeline_new(&po, out, err) : pipeline_validate(&po, err);
    }
    catalog_job_spec_destroy(&js);
    return rc;
}

int api__validate_pipeline(json_t *spec, json_t *table, bool any_agg, struct lerr *err)
{
    struct arena mem;
    struct pipeline_table pt;
    arena_init(&mem, 4096, 0);
    int rc = api__compile_pipeline(spec, table, any_agg, &mem, &pt, NULL, NULL, NULL, err);
    arena_destroy(&mem);
    return rc;
}

/*
 * The spec's target table: *table is the loaded table, or NULL when it does
 * not exist and createTableIfNotExists is set; otherwise a 400 naming
 * target.tableName. The mappings are then checked against the table.
 */
int api__load_target(struct api_req *r, json_t *spec, const struct catalog_job *j,
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
