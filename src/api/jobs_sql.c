/*
 * jobs_sql.c — jobs of "type": "sql" (Polaris "Ingest using SQL") and
 * "type": "delete_data" (Polaris "Replace data" / "Delete data"), checked
 * and normalised into the spec the batch runner runs.
 *
 * A sql job's query (sql/dml.c parses it) over TABLE(EXTERN(...)) becomes
 * a batch job's body — EXTERN's input source the source (inline data,
 * uploaded files, or S3 objects), its input format the formatSettings, its signature the
 * inputSchema, the select items the mappings, WHERE the filterExpression,
 * OVERWRITE WHERE target.intervals — checked by the batch job's own
 * validation (api__batch_spec), then stored as "type": "sql" with the query.
 * A query over another table keeps its SELECT for the runner, which runs it
 * through the query engine. A delete_data job (target.intervals and/or a
 * condition) is a REPLACE of the table's chunks by what remains of them.
 *
 * Entry points (api_int.h): api__sql_spec(), api__delete_spec().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "ingest/ingest.h"
#include "storage/db.h"
#include "storage/storage.h"
#include "util/time.h"

/* The statement's error at a byte offset, with "query" as the target. */
static int at(const struct sql_dml *d, size_t off, struct lerr *err, const char *fmt, ...)
    LS_PRINTF(4, 5);
static int at(const struct sql_dml *d, size_t off, struct lerr *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sql_dml_error_at(d, off, err, "%s", msg);
    snprintf(err->target, sizeof err->target, "query");
    return err->code;
}

/* EXTERN's input format as formatSettings: json → nd-json, csv, tsv, delimited. */
static json_t *format_from_extern(const struct sql_dml *d, struct lerr *err)
{
    json_t *f = json_loads(d->input_format, 0, NULL);
    const char *type = json_string_value(json_object_get(f, "type"));
    json_t *out = NULL;
    if (!json_is_object(f) || !type) {
        at(d, d->input_format_pos, err, "EXTERN's input format needs a \"type\"%s",
           " (e.g. {\"type\":\"json\"} or {\"type\":\"csv\",\"findColumnsFromHeader\":true})");
    } else if (strcmp(type, "json") == 0) {
        out = json_pack("{s:s}", "format", "nd-json");
    } else if (strcmp(type, "csv") == 0 || strcmp(type, "tsv") == 0) {
        const char *delim = json_string_value(json_object_get(f, "delimiter"));
        bool custom = strcmp(type, "tsv") == 0 && delim && strcmp(delim, "\t") != 0;
        out = json_pack("{s:s}", "format", custom ? "delimited" : type);
        if (custom)
            json_object_set_new(out, "delimiter", json_string(delim));
        static const char *const keep[] = {"columns", "findColumnsFromHeader", "skipHeaderRows",
                                           "listDelimiter", NULL};
        for (int k = 0; keep[k]; k++) {
            json_t *v = json_object_get(f, keep[k]);
            if (v)
                json_object_set(out, keep[k], v);
        }
    } else {
        char what[200];
        snprintf(what, sizeof what, "\"%.60s\"", type);
        at(d, d->input_format_pos, err,
           "EXTERN's input format type %s is not supported here (use \"json\", \"csv\" or "
           "\"tsv\")",
           what);
    }
    json_decref(f);
    return out;
}

/* EXTERN's signature as inputSchema. */
static json_t *schema_from_signature(const struct sql_dml *d, struct lerr *err)
{
    json_t *sig = json_loads(d->signature, 0, NULL);
    json_t *out = json_array();
    size_t i;
    json_t *e;
    if (!json_is_array(sig) || json_array_size(sig) == 0) {
        at(d, d->signature_pos, err, "EXTERN's signature must list the input's columns%s",
           " (e.g. [{\"name\":\"timestamp\",\"type\":\"string\"}])");
        goto fail;
    }
    json_array_foreach(sig, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *type = json_string_value(json_object_get(e, "type"));
        if (!name || !type) {
            at(d, d->signature_pos, err,
               "every column of EXTERN's signature needs a \"name\" and a \"type\"%s",
               " (e.g. {\"name\":\"added\",\"type\":\"long\"})");
            goto fail;
        }
        const char *dt = strcmp(type, "string") == 0 || strcmp(type, "long") == 0 ||
                                 strcmp(type, "double") == 0 || strcmp(type, "float") == 0 ||
                                 strcmp(type, "ARRAY<STRING>") == 0 ||
                                 strcmp(type, "ARRAY<LONG>") == 0 ||
                                 strcmp(type, "ARRAY<DOUBLE>") == 0
                             ? type
                         : strcmp(type, "COMPLEX<json>") == 0 || strcmp(type, "json") == 0 ? "json"
                                                                                           : NULL;
        if (!dt) {
            char what[120];
            snprintf(what, sizeof what, "'%.60s'", type);
            at(d, d->signature_pos, err,
               "EXTERN's signature: type %s is not an input type (use string, long, double, "
               "float, ARRAY<STRING>, ARRAY<LONG>, ARRAY<DOUBLE> or COMPLEX<json>)",
               what);
            goto fail;
        }
        json_array_append_new(out, json_pack("{s:s, s:s}", "name", name, "dataType", dt));
    }
    json_decref(sig);
    return out;
fail:
    json_decref(sig);
    json_decref(out);
    return NULL;
}

/*
 * EXTERN's s3 input source as a batch source: Polaris's (connectionName with
 * objects, prefixes or pattern) or Druid's without a connection (uris,
 * prefixes as s3:// URIs, objects as [{"bucket", "path"}]); the batch
 * source's checks then apply.
 */
static json_t *s3_from_extern(const struct sql_dml *d, json_t *s, struct lerr *err)
{
    static const char *const keys[] = {"connectionName", "objects", "prefixes",
                                       "pattern",        "uris",    NULL};
    json_t *out = json_pack("{s:s}", "type", "s3");
    bool conn = json_object_get(s, "connectionName") != NULL;
    for (size_t k = 0; keys[k]; k++) {
        json_t *v = json_object_get(s, keys[k]);
        if (v && !conn && strcmp(keys[k], "objects") == 0 && json_is_array(v)) {
            json_t *uris = json_array();
            size_t i;
            json_t *o;
            json_array_foreach(v, i, o) {
                const char *b = json_string_value(json_object_get(o, "bucket"));
                const char *p = json_string_value(json_object_get(o, "path"));
                char *u = NULL;
                if (!b || !p || asprintf(&u, "s3://%s/%s", b, p) < 0) {
                    json_decref(uris);
                    json_decref(out);
                    at(d, d->input_source_pos, err,
                       "EXTERN's s3 input source: objects[%zu] needs \"bucket\" and "
                       "\"path\" (or name a connection with \"connectionName\" and give "
                       "keys)",
                       i);
                    return NULL;
                }
                json_array_append_new(uris, json_string(u));
                free(u);
            }
            json_array_extend(uris, json_object_get(s, "uris"));
            json_object_set_new(out, "uris", uris);
        } else if (v && !json_object_get(out, keys[k])) {
            json_object_set(out, keys[k], v);
        }
    }
    return out;
}

/* EXTERN's input source as a batch source: inline data, uploaded files or S3 objects. */
static json_t *source_from_extern(const struct sql_dml *d, struct lerr *err)
{
    json_t *s = json_loads(d->input_source, 0, NULL);
    json_t *out = NULL;
    if (strcmp(d->input_source_type, "inline") == 0) {
        const char *data = json_string_value(json_object_get(s, "data"));
        if (!data)
            at(d, d->input_source_pos, err, "EXTERN's inline input source needs \"data\"%s",
               " (the rows as text, e.g. {\"type\":\"inline\",\"data\":\"{\\\"a\\\":1}\"})");
        else
            out = json_pack("{s:s, s:s}", "type", "inline", "data", data);
    } else if (strcmp(d->input_source_type, "s3") == 0) {
        out = s3_from_extern(d, s, err);
    } else {
        json_t *files = json_object_get(s, "fileNames");
        if (!json_is_array(files))
            at(d, d->input_source_pos, err, "EXTERN's uploaded input source needs \"fileNames\"%s",
               " (files uploaded to /v1/files, e.g. {\"type\":\"uploaded\",\"fileNames\":"
               "[\"data.json\"]})");
        else
            out = json_pack("{s:s, s:O}", "type", "uploaded", "fileList", files);
    }
    json_decref(s);
    return out;
}

static json_t *iso_interval(int64_t start, int64_t end)
{
    char a[48], b[48];
    time_format_iso(start, NULL, a, sizeof a);
    time_format_iso(end, NULL, b, sizeof b);
    char iv[100];
    snprintf(iv, sizeof iv, "%s/%s", a, b);
    return json_string(iv);
}

/* The fields every sql job stores beside its source and mappings. */
static void sql_fields(json_t *spec, const struct sql_dml *d, const char *query, json_t *context)
{
    json_object_set_new(spec, "type", json_string("sql"));
    json_object_set_new(spec, "query", json_string(query));
    json_object_set_new(spec, "context", context ? json_deep_copy(context) : json_object());
    json_object_set_new(spec, "partitionedBy", json_string(d->partitioned_by));
    json_t *cl = json_array();
    for (size_t i = 0; i < d->nclustered; i++)
        json_array_append_new(cl, json_string(d->clustered_by[i]));
    json_object_set_new(spec, "clusteredBy", cl);
}

json_t *api__sql_spec(struct api_req *r, json_t *body, struct catalog_job *j, bool *any_agg,
                      bool *create_table, struct lerr *err)
{
    static const char *const keys[] = {
        "type", "query", "context", "parameters", "createTableIfNotExists", NULL};
    const char *query = NULL;
    json_t *context = NULL, *params = NULL;
    *any_agg = false;
    if (api__v_known_keys(body, "", keys, err) ||
        api__v_string(body, "query", "", true, 1u << 20, &query, err) ||
        api__v_object(body, "context", "", false, &context, err) ||
        api__v_array(body, "parameters", "", false, &params, err) ||
        api__v_bool(body, "createTableIfNotExists", "", create_table, err))
        return NULL;
    /* context.arrayIngestMode, as Druid's MSQ takes it */
    const char *array_mode = NULL;
    if (context && api__v_enum(context, "arrayIngestMode", "context", false,
                               api__array_ingest_modes, &array_mode, err))
        return NULL;
    if (json_array_size(params) > 0) {
        lerr_set_at(err, LERR_INVALID, "parameters",
                    "parameters: dynamic parameters are not supported in sql jobs yet; write "
                    "the values into the query");
        return NULL;
    }
    struct sql_dml *d = NULL;
    if (sql_dml_parse(query, strlen(query), &d, err)) {
        snprintf(err->target, sizeof err->target, "query");
        return NULL;
    }
    json_t *spec = NULL, *ivs = json_array();
    if (d->mode == SQL_DML_REPLACE_WHERE) {
        /* as Druid: the range is whole chunks of PARTITIONED BY */
        int g = storage_gran_parse(d->partitioned_by, strlen(d->partitioned_by));
        int64_t cs = 0, ce = 0;
        if (g >= 0 && !storage_gran_aligned((enum storage_gran)g, d->overwrite_start,
                                            d->overwrite_end, &cs, &ce)) {
            char a[48], b[48], want[120];
            time_format_iso(cs, NULL, a, sizeof a);
            time_format_iso(ce, NULL, b, sizeof b);
            snprintf(want, sizeof want, "%s and %s", a, b);
            if (g == STORAGE_GRAN_ALL)
                at(d, d->overwrite_pos, err,
                   "OVERWRITE WHERE needs a PARTITIONED BY finer than ALL TIME (or write "
                   "OVERWRITE ALL)");
            else
                at(d, d->overwrite_pos, err,
                   "OVERWRITE WHERE's range is not whole PARTITIONED BY %s chunks (bound __time "
                   "by %s, or partition finer)",
                   d->partitioned_by, want);
            goto out;
        }
        json_array_append_new(ivs, iso_interval(d->overwrite_start, d->overwrite_end));
    }
    const char *mode = d->mode == SQL_DML_INSERT ? "append" : "replace";
    if (d->source == SQL_DML_EXTERN) {
        json_t *fs = format_from_extern(d, err);
        json_t *schema = fs ? schema_from_signature(d, err) : NULL;
        json_t *src = schema ? source_from_extern(d, err) : NULL;
        if (!src) {
            json_decref(fs);
            json_decref(schema);
            goto out;
        }
        json_object_set_new(src, "inputSchema", schema);
        json_object_set_new(src, "formatSettings", fs);
        json_t *maps = json_array();
        for (size_t i = 0; i < d->nitems; i++) {
            json_t *m = json_pack("{s:s, s:s}", "columnName", d->items[i].column, "expression",
                                  d->items[i].expression);
            if (d->items[i].aggregation)
                json_object_set_new(m, "isAggregation", json_true());
            json_array_append_new(maps, m);
        }
        json_t *bbody = json_pack("{s:s, s:{s:s, s:s, s:O}, s:o, s:o, s:s, s:b}", "type", "batch",
                                  "target", "type", "table", "tableName", d->table, "intervals",
                                  ivs, "source", src, "mappings", maps, "ingestionMode", mode,
                                  "createTableIfNotExists", *create_table);
        if (d->where)
            json_object_set_new(bbody, "filterExpression", json_string(d->where));
        if (array_mode)
            json_object_set_new(bbody, "arrayIngestMode", json_string(array_mode));
        spec = api__batch_spec(r, bbody, j, any_agg, create_table, err);
        json_decref(bbody);
        if (!spec) {
            if (!err->target[0] || strcmp(err->target, "query") != 0) {
                /* name the statement: the batch fields are not what the user wrote */
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "%s", err->msg);
                lerr_init(err);
                lerr_set_at(err, LERR_INVALID, "query", "query: %s", msg);
            }
            goto out;
        }
    } else {
        json_t *stable = api_table_load(r, d->source_table, err);
        if (!stable) {
            if (err->code == LERR_NOT_FOUND) {
                lerr_init(err);
                at(d, d->select_off, err,
                   "the SELECT reads table '%s', which does not exist (create it, or fix the "
                   "name)",
                   d->source_table);
            }
            goto out;
        }
        json_decref(stable);
        if (api__v_table_name(d->table, "query", err))
            goto out;
        spec = json_pack("{s:{s:s, s:s, s:O}, s:{s:s, s:s, s:s}, s:[], s:s, s:b}", "target",
                         "type", "table", "tableName", d->table, "intervals", ivs, "source",
                         "type", "table", "tableName", d->source_table, "query", d->select,
                         "mappings", "ingestionMode", mode, "createTableIfNotExists",
                         *create_table);
        if (array_mode)
            json_object_set_new(spec, "arrayIngestMode", json_string(array_mode));
        snprintf(j->table_name, sizeof j->table_name, "%s", d->table);
        j->connection_name[0] = '\0';
        j->desired = CATALOG_JOB_RUNNING;
    }
    sql_fields(spec, d, query, context);
    j->type = CATALOG_JOB_SQL;
out:
    json_decref(ivs);
    sql_dml_free(d);
    return spec;
}

/* A delete's condition compiled over the table's columns as they are now. */
static int check_condition(struct api_req *r, const char *table, const char *cond,
                           struct lerr *err)
{
    struct storage_snapshot *snap = storage_db_snapshot(r->srv->db, table, err);
    if (!snap)
        return err->code;
    struct sql_field *fields = calloc(snap->ncols + 1, sizeof *fields);
    int rc = fields ? 0 : lerr_set(err, LERR_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < snap->ncols; i++)
        fields[i] = (struct sql_field){.name = snap->cols[i].name,
                                       .name_len = strlen(snap->cols[i].name),
                                       .type = i == 0 ? SQL_TIMESTAMP : snap->cols[i].type};
    struct sql_schema schema = {fields, snap->ncols};
    struct sql_options opt = {.now_ms = util_now_ms(), .mode = SQL_MODE_SCALAR};
    struct sql_expr *e = NULL;
    if (!rc && sql_compile_expr(cond, strlen(cond), &schema, &opt, &e, err) == 0 &&
        sql_expr_type(e) != SQL_BOOLEAN && sql_expr_type(e) != SQL_LONG &&
        sql_expr_type(e) != SQL_NULL)
        lerr_set(err, LERR_INVALID,
                 "condition is a %s, not a true/false test (e.g. \"page\" = 'x')",
                 sql_type_sql_name(sql_expr_type(e)));
    rc = err->code;
    if (rc && !err->target[0])
        snprintf(err->target, sizeof err->target, "condition");
    if (rc == LERR_INVALID && strncmp(err->msg, "condition", 9) != 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "condition: %.*s", (int)sizeof err->msg - 12, msg);
    }
    sql_expr_free(e);
    free(fields);
    storage_snapshot_free(snap);
    return rc;
}

json_t *api__delete_spec(struct api_req *r, json_t *body, struct catalog_job *j, struct lerr *err)
{
    static const char *const keys[] = {"type", "target", "condition", "softDelete", NULL};
    static const char *const target_keys[] = {"type", "tableName", "intervals", NULL};
    static const char *const target_types[] = {"table", NULL};
    const char *ttype = NULL, *table = NULL, *cond = NULL;
    json_t *target = NULL, *intervals = NULL;
    bool soft = false;
    if (api__v_known_keys(body, "", keys, err) ||
        api__v_object(body, "target", "", true, &target, err) ||
        api__v_known_keys(target, "target", target_keys, err) ||
        api__v_enum(target, "type", "target", true, target_types, &ttype, err) ||
        api__v_string(target, "tableName", "target", true, 0, &table, err) ||
        api__v_table_name(table, "target.tableName", err) ||
        api__v_array(target, "intervals", "target", false, &intervals, err) ||
        api__v_string(body, "condition", "", false, 65536, &cond, err) ||
        api__v_bool(body, "softDelete", "", &soft, err))
        return NULL;
    if (soft) {
        lerr_set_at(err, LERR_INVALID, "softDelete",
                    "softDelete: deleted rows cannot be restored here; leave softDelete out "
                    "(or false) to delete them for good");
        return NULL;
    }
    json_t *tdoc = api_table_load(r, table, err);
    if (!tdoc) {
        if (err->code == LERR_NOT_FOUND) {
            lerr_init(err);
            lerr_set_at(err, LERR_INVALID, "target.tableName",
                        "target.tableName: no table named '%s'", table);
        }
        return NULL;
    }
    const char *gran = json_string_value(json_object_get(tdoc, "partitioningGranularity"));
    int g = gran ? storage_gran_parse(gran, strlen(gran)) : STORAGE_GRAN_DAY;
    json_decref(tdoc);
    size_t n = json_array_size(intervals);
    if (!n && !cond) {
        lerr_set_at(err, LERR_INVALID, "target.intervals",
                    "target.intervals: name the time to delete (e.g. "
                    "[\"2024-01-01/2024-01-02\"]), or give a condition for the rows to delete");
        return NULL;
    }
    if (cond && check_condition(r, table, cond, err))
        return NULL;
    if (cond && n > 1) {
        lerr_set_at(err, LERR_INVALID, "target.intervals",
                    "target.intervals: a delete with a condition takes one interval (run one "
                    "job per interval)");
        return NULL;
    }
    int64_t iv[2] = {INT64_MIN, INT64_MAX};
    if (n) {
        int64_t *all = calloc(2 * n, sizeof *all);
        if (!all) {
            lerr_set(err, LERR_NOMEM, "out of memory");
            return NULL;
        }
        int rc = ingest_check_intervals(intervals, g, all, err);
        if (!rc) {
            iv[0] = all[0];
            iv[1] = all[1];
        }
        free(all);
        if (rc)
            return NULL;
    }
    json_t *spec = json_pack("{s:s, s:{s:s, s:s, s:o}, s:s, s:[]}", "type", "delete_data",
                             "target", "type", "table", "tableName", table, "intervals",
                             intervals ? json_incref(intervals) : json_array(), "ingestionMode",
                             "replace", "mappings");
    if (cond) {
        /* What remains of the chunks: the rows the condition does not hold for (NULL stays). */
        struct buf q;
        buf_init(&q, 0);
        buf_printf(&q, "SELECT * FROM \"");
        for (const char *c = table; *c; c++) {
            buf_append(&q, c, 1);
            if (*c == '"')
                buf_append(&q, c, 1); /* "" inside a quoted name */
        }
        buf_printf(&q, "\" WHERE ");
        if (n) {
            char a[48], b[48];
            time_format_iso(iv[0], NULL, a, sizeof a);
            time_format_iso(iv[1], NULL, b, sizeof b);
            buf_printf(&q, "__time >= TIME_PARSE('%s') AND __time < TIME_PARSE('%s') AND ", a, b);
        }
        buf_printf(&q, "(CASE WHEN (%s) THEN 0 ELSE 1 END) = 1", cond);
        json_object_set_new(spec, "condition", json_string(cond));
        json_object_set_new(spec, "source",
                            json_pack("{s:s, s:s, s:s}", "type", "table", "tableName", table,
                                      "query", buf_cstr(&q)));
        buf_free(&q);
    }
    j->type = CATALOG_JOB_DELETE_DATA;
    snprintf(j->table_name, sizeof j->table_name, "%s", table);
    j->connection_name[0] = '\0';
    j->desired = CATALOG_JOB_RUNNING;
    return spec;
}
