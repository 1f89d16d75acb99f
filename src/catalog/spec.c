/*
 * spec.c — the one parser per stored document (spec.h): table, connection
 * and job documents into typed structs, and the names of the closed sets
 * (the X-macro tables in spec.h). The API checks what it stores with these
 * parsers and the runtime loads with them, so both read a document the same
 * way. Pieces owned by lower modules keep their own parsers and are composed
 * here: formatSettings and inputSchema (format/settings.c), a Kafka
 * connection's consumer settings (source/kafka.c), measure types (sql.h).
 *
 * Entry points: catalog_table_spec_parse/_load, catalog_connection_spec_parse/
 * _load/_kafka/_kinesis/_s3/_destroy, catalog_job_spec_parse/_parse_text/_load/_destroy,
 * catalog_job_counters_load, catalog_<set>_name/_parse (job types: values.c).
 */
#include "catalog/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"

/* ---- names ------------------------------------------------------------------------ */

static int find_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

#define SPEC_NAME(e, name) [e] = name,
#define SPEC_NAMES(set, MAP, COUNT)                                        \
    static const char *const set##_names[] = {MAP(SPEC_NAME)};             \
    const char *catalog_##set##_name(enum catalog_##set v)                 \
    {                                                                      \
        return (unsigned)v < (unsigned)COUNT ? set##_names[v] : "unknown"; \
    }                                                                      \
    int catalog_##set##_parse(const char *name) { return find_name(set##_names, COUNT, name); }

SPEC_NAMES(table_type, CATALOG_TABLE_TYPE_MAP, CATALOG__TABLE_TYPE_COUNT)
SPEC_NAMES(schema_mode, CATALOG_SCHEMA_MODE_MAP, CATALOG__SCHEMA_MODE_COUNT)
SPEC_NAMES(column_type, CATALOG_COLUMN_TYPE_MAP, CATALOG__COLUMN_TYPE_COUNT)
SPEC_NAMES(conn_type, CATALOG_CONN_TYPE_MAP, CATALOG__CONN_TYPE_COUNT)
SPEC_NAMES(read_from, CATALOG_READ_FROM_MAP, CATALOG__READ_FROM_COUNT)
SPEC_NAMES(source_type, CATALOG_SOURCE_TYPE_MAP, CATALOG__SOURCE_TYPE_COUNT)
SPEC_NAMES(ingest_mode, CATALOG_INGEST_MODE_MAP, CATALOG__INGEST_MODE_COUNT)

#undef SPEC_NAMES

/* Job types are catalog.h's (struct catalog_job holds one); values.c names them. */
static const char *const job_type_names[] = {CATALOG_JOB_TYPE_MAP(CATALOG_NAME_LIST)};
#undef SPEC_NAME

/* Lists a set's names for a message: "\"a\", \"b\" or \"c\"". */
static const char *name_list(const char *const *names, int n, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s\"%s\"",
                              i == 0       ? ""
                              : i == n - 1 ? " or "
                                           : ", ",
                              names[i]);
    return buf;
}

/*
 * An optional member naming one of a set: *out keeps its default when the
 * member is absent or null; LERR_INVALID when it is not one of the names.
 */
static int member_enum(const json_t *o, const char *key, const char *where,
                       const char *const *names, int n, int *out, struct lerr *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    int k = json_is_string(v) ? find_name(names, n, json_string_value(v)) : -1;
    if (k >= 0) {
        *out = k;
        return 0;
    }
    char list[200];
    return lerr_set_at(err, LERR_INVALID, key, "%s: %s is %s%s%s; use %s", where, key,
                       json_is_string(v) ? "\"" : "",
                       json_is_string(v) ? json_string_value(v) : "not a string",
                       json_is_string(v) ? "\"" : "", name_list(names, n, list, sizeof list));
}

/* ---- tables ------------------------------------------------------------------------ */

static int table_gran(const json_t *doc, const char *key, const char *table,
                      enum storage_gran dflt, enum storage_gran *out, struct lerr *err)
{
    const char *g = json_string_value(json_object_get(doc, key));
    *out = dflt;
    if (!g)
        return 0;
    int v = storage_gran_parse(g, strlen(g));
    if (v < 0)
        return lerr_set_at(err, LERR_INVALID, key,
                           "table '%s': %s \"%s\" is not a granularity; use hour, day, week, "
                           "month, year or all (timeResolution: millisecond to day)",
                           table, key, g);
    *out = (enum storage_gran)v;
    return 0;
}

/* A sketch measure's lgK, tgtHllType, size or k (sql_sketch_param_keys). */
static int sketch_params(const json_t *c, const char *at, const char *name,
                         struct sql_agg_call *agg, struct lerr *err)
{
    for (const char *const *k = sql_sketch_param_keys; *k; k++) {
        const json_t *v = json_object_get(c, *k);
        if (!v)
            continue;
        struct lerr e;
        lerr_init(&e);
        if ((!json_is_integer(v) && !json_is_string(v)) ||
            sql_agg_sketch_param_set(agg, *k, json_is_integer(v) ? json_integer_value(v) : 0,
                                     json_string_value(v), &e))
            return lerr_set_at(err, LERR_INVALID, at, "column '%s': %s", name,
                               e.code ? e.msg : "a sketch parameter must be a number or a string");
    }
    return 0;
}

static int table_column(const json_t *c, size_t i, const char *table, struct arena *mem,
                        struct table_spec_column *out, struct lerr *err)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *dt = json_string_value(json_object_get(c, "dataType"));
    char at[64];
    snprintf(at, sizeof at, "schema[%zu]", i);
    if (!name || !dt)
        return lerr_set_at(err, LERR_INVALID, at,
                           "table '%s': %s needs a name and a dataType, e.g. {\"name\": "
                           "\"page\", \"dataType\": \"string\"}",
                           table, at);
    int ct = CATALOG_COLUMN_DIMENSION;
    if (member_enum(c, "columnType", table, column_type_names, CATALOG__COLUMN_TYPE_COUNT, &ct,
                    err))
        return err->code;
    out->name = arena_strdup(mem, name);
    out->data_type = arena_strdup(mem, dt);
    if (!out->name || !out->data_type)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    out->column_type = (enum catalog_column_type)ct;
    out->discovered = json_is_true(json_object_get(c, "discovered"));
    if (ct == CATALOG_COLUMN_MEASURE) {
        if (!sql_agg_for_measure(dt, &out->agg))
            return lerr_set_at(err, LERR_INVALID, at,
                               "column '%s' has measure type %s, which is not supported yet", name,
                               dt);
        out->type = out->agg.result_type;
        return sketch_params(c, at, name, &out->agg, err);
    }
    /* a typed array: ARRAY<STRING>, ARRAY<LONG>, ARRAY<DOUBLE> */
    int elem = storage_array_type_parse(dt, strlen(dt));
    if (elem >= 0) {
        if (json_object_get(c, "multiValueHandling"))
            return lerr_set_at(err, LERR_INVALID, at,
                               "column '%s': multiValueHandling is for multi-value string "
                               "columns, not for %s; drop it",
                               name, dt);
        out->type = SQL_ARRAY;
        out->elem = (uint8_t)elem;
        return 0;
    }
    int t = sql_type_from_name(dt, strlen(dt));
    if (t < 0)
        return lerr_set_at(err, LERR_INVALID, at, "column '%s' has unknown type %s", name, dt);
    out->type = (uint8_t)t;
    /* Druid's multi-value string dimension: a string column that says how it
     * keeps a row's list (multiValueHandling) holds lists */
    const json_t *mvh = json_object_get(c, "multiValueHandling");
    if (mvh) {
        int h = storage_mv_handling_parse(json_string_value(mvh));
        if (t != SQL_STRING || h < 0)
            return lerr_set_at(err, LERR_INVALID, at,
                               "column '%s': multiValueHandling is SORTED_ARRAY, SORTED_SET or "
                               "ARRAY, on a string dimension",
                               name);
        out->type = SQL_ARRAY;
        out->mv_handling = (uint8_t)h;
    }
    return 0;
}

int catalog_table_spec_parse(const json_t *doc, const char *table, struct arena *mem,
                             struct table_spec *out, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(doc))
        return lerr_set(err, LERR_CORRUPT, "table '%s': its document is not a JSON object", table);
    const char *id = json_string_value(json_object_get(doc, "id"));
    int type = CATALOG_TABLE_DETAIL, mode = CATALOG_SCHEMA_FLEXIBLE;
    if (!(out->id = arena_strdup(mem, id ? id : "")))
        return lerr_set(err, LERR_NOMEM, "out of memory");
    if (member_enum(doc, "type", table, table_type_names, CATALOG__TABLE_TYPE_COUNT, &type, err) ||
        member_enum(doc, "schemaMode", table, schema_mode_names, CATALOG__SCHEMA_MODE_COUNT, &mode,
                    err) ||
        table_gran(doc, "partitioningGranularity", table, STORAGE_GRAN_DAY, &out->partitioning,
                   err) ||
        table_gran(doc, "timeResolution", table, STORAGE_GRAN_MILLISECOND, &out->time_resolution,
                   err))
        return err->code;
    out->type = (enum catalog_table_type)type;
    out->mode = (enum catalog_schema_mode)mode;
    json_t *schema = json_object_get(doc, "schema");
    size_t n = json_array_size(schema);
    struct table_spec_column *cols = arena_zalloc(mem, (n + 1) * sizeof *cols);
    if (!cols)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(schema, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        if (name && strcmp(name, "__time") == 0)
            continue;
        if (table_column(c, i, table, mem, &cols[k], err))
            return err->code;
        k++;
    }
    out->cols = cols;
    out->ncols = k;
    return 0;
}

int catalog_table_spec_load(struct catalog *c, const char *name, struct arena *mem,
                            struct table_spec *out, struct lerr *err)
{
    struct catalog_doc d = {0};
    if (catalog_doc_get(c, CATALOG_TABLE, name, &d, err))
        return err->code;
    json_t *doc = json_loads(d.doc ? d.doc : "", 0, NULL);
    catalog_doc_destroy(&d);
    int rc = doc ? catalog_table_spec_parse(doc, name, mem, out, err)
                 : lerr_set(err, LERR_CORRUPT, "table '%s' has an unreadable catalog entry", name);
    json_decref(doc);
    return rc;
}

/* ---- connections ------------------------------------------------------------------- */

int catalog_connection_spec_parse(const char *name, json_t *doc, json_t *secret,
                                  struct connection_spec *out, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    out->doc = json_incref(doc);
    out->secret = json_incref(secret);
    int type = -1;
    if (!json_is_object(doc))
        return lerr_set(err, LERR_CORRUPT, "connection '%s': its document is not a JSON object",
                        name);
    if (member_enum(doc, "type", name, conn_type_names, CATALOG__CONN_TYPE_COUNT, &type, err))
        return err->code;
    if (type < 0) {
        char list[200];
        return lerr_set_at(
            err, LERR_INVALID, "type", "connection '%s' has no type; use %s", name,
            name_list(conn_type_names, CATALOG__CONN_TYPE_COUNT, list, sizeof list));
    }
    out->type = (enum catalog_conn_type)type;
    out->topic = json_string_value(json_object_get(doc, "topicName"));
    out->topic_pattern = json_string_value(json_object_get(doc, "topicNamePattern"));
    if (out->type == CATALOG_CONN_PUSH)
        snprintf(out->stream, sizeof out->stream, "push:%s", name);
    else if (out->type == CATALOG_CONN_KINESIS)
        snprintf(out->stream, sizeof out->stream, "kinesis:%s",
                 json_string_value(json_object_get(doc, "stream"))
                     ? json_string_value(json_object_get(doc, "stream"))
                     : "");
    else if (out->type == CATALOG_CONN_S3)
        snprintf(out->stream, sizeof out->stream, "s3:%s",
                 json_string_value(json_object_get(doc, "bucket"))
                     ? json_string_value(json_object_get(doc, "bucket"))
                     : "");
    else if (out->topic)
        snprintf(out->stream, sizeof out->stream, "%s", out->topic);
    else
        snprintf(out->stream, sizeof out->stream, "pattern:%s",
                 out->topic_pattern ? out->topic_pattern : "");
    return 0;
}

int catalog_connection_spec_load(struct catalog *c, const char *name, struct connection_spec *out,
                                 struct lerr *err)
{
    memset(out, 0, sizeof *out);
    struct catalog_doc d = {0};
    if (catalog_doc_get(c, CATALOG_CONNECTION, name, &d, err))
        return err->code;
    json_t *doc = json_loads(d.doc ? d.doc : "", 0, NULL);
    json_t *secret = d.secret ? json_loads(d.secret, 0, NULL) : NULL;
    int rc;
    if (!doc || (d.secret && !secret))
        rc = lerr_set(err, LERR_CORRUPT, "connection '%s' has an unreadable catalog entry", name);
    else
        rc = catalog_connection_spec_parse(name, doc, secret, out, err);
    json_decref(doc);
    json_decref(secret);
    catalog_doc_destroy(&d);
    return rc;
}

void catalog_connection_spec_destroy(struct connection_spec *s)
{
    json_decref(s->doc);
    json_decref(s->secret);
    s->doc = s->secret = NULL;
}

int catalog_connection_spec_kafka(const struct connection_spec *s, struct source_kafka_config *cfg,
                                  struct arena *a, struct lerr *err)
{
    return source_kafka_config_from_json(s->doc, s->secret, cfg, a, err);
}

int catalog_connection_spec_kinesis(const struct connection_spec *s,
                                    struct source_kinesis_config *cfg, struct arena *a,
                                    struct lerr *err)
{
    return source_kinesis_config_from_json(s->doc, s->secret, cfg, a, err);
}

int catalog_connection_spec_s3(const struct connection_spec *s, struct source_s3_config *cfg,
                               struct arena *a, struct lerr *err)
{
    if (source_s3_config_from_json(s->doc, s->secret, cfg, err))
        return err->code;
    char owner[300];
    snprintf(owner, sizeof owner, "connection '%s'", s->name);
    if (!(cfg->owner = arena_strdup(a, owner)))
        return lerr_set(err, LERR_NOMEM, "out of memory");
    return 0;
}

/* ---- jobs ------------------------------------------------------------------------- */

/* An array of strings into the spec's arena; members that are not strings are left out. */
static int string_list(struct job_spec *s, const json_t *arr, const char *const **out, size_t *n,
                       struct lerr *err)
{
    size_t cap = json_array_size(arr), k = 0;
    const char **v = arena_zalloc(&s->mem, (cap + 1) * sizeof *v);
    if (!v)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cap; i++) {
        const char *str = json_string_value(json_array_get(arr, i));
        if (str)
            v[k++] = str; /* the spec holds doc */
    }
    *out = v;
    *n = k;
    return 0;
}

static int set_target(struct lerr *err, const char *target)
{
    if (err->code && !err->target[0])
        snprintf(err->target, sizeof err->target, "%s", target);
    return err->code;
}

int catalog_job_spec_parse(json_t *doc, struct job_spec *out, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    arena_init(&out->mem, 4096, 0);
    out->doc = json_incref(doc);
    out->table_name = out->connection_name = "";
    if (!json_is_object(doc))
        return lerr_set(err, LERR_CORRUPT, "the job's spec is not a JSON object");
    const json_t *src = json_object_get(doc, "source"), *target = json_object_get(doc, "target");
    int type = CATALOG_JOB_STREAMING, rfp = CATALOG_READ_LATEST, stype = CATALOG_SOURCE_CONNECTION,
        mode = CATALOG_INGEST_APPEND;
    if (member_enum(doc, "type", "job", job_type_names, CATALOG__JOB_TYPE_COUNT, &type, err) ||
        member_enum(doc, "readFromPoint", "job", read_from_names, CATALOG__READ_FROM_COUNT, &rfp,
                    err) ||
        member_enum(doc, "ingestionMode", "job", ingest_mode_names, CATALOG__INGEST_MODE_COUNT,
                    &mode, err) ||
        member_enum(src, "type", "job source", source_type_names, CATALOG__SOURCE_TYPE_COUNT,
                    &stype, err))
        return err->code;
    out->type = (enum catalog_job_type)type;
    out->read_from = (enum catalog_read_from)rfp;
    out->mode = (enum catalog_ingest_mode)mode;
    out->source_type = (enum catalog_source_type)stype;
    const char *tname = json_string_value(json_object_get(target, "tableName"));
    const char *cname = json_string_value(json_object_get(src, "connectionName"));
    out->table_name = tname ? tname : "";
    out->connection_name = cname ? cname : "";
    out->use_schema_discovery = json_is_true(json_object_get(doc, "useSchemaDiscovery"));
    const char *aim = json_string_value(json_object_get(doc, "arrayIngestMode"));
    out->array_mvd = aim && strcmp(aim, "mvd") == 0;
    const json_t *data = json_object_get(src, "data");
    out->inline_data = json_string_value(data);
    out->inline_len = json_string_length(data);
    out->source_query = json_string_value(json_object_get(src, "query"));
    out->pattern = json_string_value(json_object_get(src, "pattern"));
    if (string_list(out, json_object_get(doc, "dimensionExclusions"), &out->exclusions,
                    &out->nexclusions, err) ||
        string_list(out, json_object_get(src, "fileList"), &out->files, &out->nfiles, err) ||
        string_list(out, json_object_get(src, "objects"), &out->objects, &out->nobjects, err) ||
        string_list(out, json_object_get(src, "prefixes"), &out->prefixes, &out->nprefixes, err) ||
        string_list(out, json_object_get(src, "uris"), &out->uris, &out->nuris, err))
        return err->code;
    const json_t *maps = json_object_get(doc, "mappings");
    out->nmappings = json_array_size(maps);
    if (!(out->mappings = arena_zalloc(&out->mem, (out->nmappings + 1) * sizeof *out->mappings)))
        return lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; i < out->nmappings; i++) {
        const json_t *m = json_array_get(maps, i);
        out->mappings[i].column = json_string_value(json_object_get(m, "columnName"));
        out->mappings[i].expression = json_string_value(json_object_get(m, "expression"));
        out->mappings[i].aggregation = json_is_true(json_object_get(m, "isAggregation"));
    }
    out->filter = json_string_value(json_object_get(doc, "filterExpression"));
    out->late_period = json_string_value(json_object_get(doc, "lateMessageRejectionPeriod"));
    out->early_period = json_string_value(json_object_get(doc, "earlyMessageRejectionPeriod"));
    out->intervals = json_object_get(target, "intervals");
    if (!(out->nintervals = json_array_size(out->intervals)))
        out->intervals = NULL;
    const json_t *fs = json_object_get(src, "formatSettings");
    const json_t *is = json_object_get(src, "inputSchema");
    /* Missing (or not a document at all): the pipeline says so, naming both. */
    if ((!json_is_object(fs) && !json_is_array(fs)) || (!json_is_object(is) && !json_is_array(is)))
        return 0;
    if (format_settings_from_json(fs, &out->mem, &out->format, err)) {
        /* the format's targets start at formatSettings: put them under source */
        if (strncmp(err->target, "formatSettings", 14) == 0) {
            char t[sizeof err->target];
            snprintf(t, sizeof t, "source.%s", err->target);
            snprintf(err->target, sizeof err->target, "%s", t);
        }
        return set_target(err, "source.formatSettings");
    }
    if (format_input_schema_from_json(is, &out->mem, &out->input, err))
        return set_target(err, "source.inputSchema");
    out->has_format = true;
    return 0;
}

int catalog_job_spec_parse_text(const char *text, size_t len, struct job_spec *out,
                                struct lerr *err)
{
    json_error_t je;
    json_t *doc = text ? json_loadb(text, len, 0, &je) : NULL;
    if (!doc) {
        memset(out, 0, sizeof *out);
        arena_init(&out->mem, 256, 0);
        out->table_name = out->connection_name = "";
        return lerr_set(err, LERR_CORRUPT, "the job's stored spec is unreadable: %s",
                        text ? je.text : "there is none");
    }
    int rc = catalog_job_spec_parse(doc, out, err);
    json_decref(doc);
    return rc;
}

int catalog_job_spec_load(const struct catalog_job *j, struct job_spec *out, struct lerr *err)
{
    return catalog_job_spec_parse_text(j->spec, j->spec ? strlen(j->spec) : 0, out, err);
}

json_t *catalog_counters_parse(const char *text)
{
    return text ? json_loads(text, 0, NULL) : NULL;
}

int catalog_job_counters_load(struct catalog *c, const char *job_id, json_t **out,
                              struct lerr *err)
{
    char *text = NULL;
    *out = NULL;
    if (catalog_job_counters(c, job_id, &text, err))
        return err->code;
    *out = json_loads(text, 0, NULL);
    free(text);
    return *out ? 0
                : lerr_set(err, LERR_CORRUPT, "job %s: its saved counters are unreadable", job_id);
}

void catalog_job_spec_destroy(struct job_spec *s)
{
    json_decref(s->doc);
    s->doc = NULL;
    arena_destroy(&s->mem);
}
