/*
 * query_request.c — the JSON body of POST /v1/query/sql read into a typed
 * struct query_request (query/query.h) with jansson: the query engine never
 * sees the API's document. Parameters become sql_values of their declared
 * SQL type; context keys the engine uses are read (timeout, sqlTimeZone,
 * sqlQueryId, maxQueryBytes, allowPartialResults, the planner switches
 * useApproximateCountDistinct and useApproximateTopN, checked and kept
 * although today's answers are exact either way; sqlOuterLimit on Druid's
 * route), others are accepted and ignored as Druid does.
 *
 * Entry points: api_query_request_parse(), api_query_request_parse_druid()
 * (query_request.h).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/query_request.h"
#include "util/time.h"

/* An InvalidInput error at `target` (the first error wins). */
LS_PRINTF(3, 4)
static int bad(struct lerr *err, const char *target, const char *fmt, ...)
{
    if (err->code)
        return err->code;
    va_list ap;
    va_start(ap, fmt);
    lerr_setv(err, LERR_INVALID, fmt, ap);
    va_end(ap);
    snprintf(err->target, sizeof err->target, "%s", target);
    return err->code;
}

static bool get_bool(json_t *v, const char *name, bool *out, struct lerr *err)
{
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        bad(err, name, "%s must be true or false", name);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool get_int(json_t *v, const char *name, int64_t *out, struct lerr *err)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v)) {
        *out = (int64_t)json_real_value(v);
        return true;
    }
    if (json_is_string(v)) { /* Druid accepts "60000" in context */
        char *end;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (*json_string_value(v) && !*end) {
            *out = x;
            return true;
        }
    }
    bad(err, name, "%s must be a whole number", name);
    return false;
}

static struct sql_value param_value(const char *type, json_t *v, struct arena *mem, bool *ok)
{
    *ok = true;
    bool is_ts = !strcasecmp(type, "TIMESTAMP") || !strcasecmp(type, "DATE");
    int t = !strcasecmp(type, "VARCHAR") || !strcasecmp(type, "CHAR") ? SQL_STRING
            : !strcasecmp(type, "BIGINT") || !strcasecmp(type, "INTEGER") ||
                    !strcasecmp(type, "SMALLINT") || !strcasecmp(type, "TINYINT")
                ? SQL_LONG
            : !strcasecmp(type, "DOUBLE") || !strcasecmp(type, "DECIMAL") ? SQL_DOUBLE
            : !strcasecmp(type, "FLOAT") || !strcasecmp(type, "REAL")     ? SQL_FLOAT
            : !strcasecmp(type, "BOOLEAN")                                ? SQL_BOOLEAN
            : is_ts                                                       ? SQL_TIMESTAMP
                                                                          : -1;
    if (t < 0) {
        *ok = false;
        return sql_null(SQL_NULL);
    }
    if (!v || json_is_null(v))
        return sql_null(t);
    struct sql_value in;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        char *copy = arena_strndup(mem, s, n);
        if (!copy) {
            *ok = false;
            return sql_null(t);
        }
        in = sql_string(copy, n);
        if (t == SQL_TIMESTAMP) {
            int64_t ms;
            if (time_parse_iso(copy, n, tz_utc(), &ms))
                in = sql_timestamp(ms);
        }
    } else if (json_is_integer(v)) {
        in = sql_long((int64_t)json_integer_value(v));
        if (t == SQL_TIMESTAMP)
            in = sql_timestamp(in.v.l);
    } else if (json_is_real(v)) {
        in = sql_double(json_real_value(v));
    } else if (json_is_boolean(v)) {
        in = sql_long(json_is_true(v));
        in.type = SQL_BOOLEAN;
    } else {
        *ok = false;
        return sql_null(t);
    }
    struct sql_value out = in.type == t ? in : sql_value_cast(&in, t, mem);
    if (out.is_null) {
        *ok = false; /* "abc" as BIGINT: say so rather than run with NULL */
        return out;
    }
    if (is_ts && !strcasecmp(type, "DATE"))
        out.v.l -= util_floor_mod(out.v.l, LS_MS_PER_DAY);
    return out;
}

static int parse_params(json_t *arr, struct query_request *req, struct arena *mem,
                        struct lerr *err)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return bad(err, "parameters", "parameters must be an array of {\"type\", \"value\"}");
    size_t n = json_array_size(arr);
    struct sql_value *p = arena_alloc(mem, (n ? n : 1) * sizeof *p);
    if (!p)
        return lerr_set(err, LERR_NOMEM, "out of memory reading parameters");
    for (size_t i = 0; i < n; i++) {
        char target[48];
        snprintf(target, sizeof target, "parameters[%zu]", i);
        json_t *e = json_array_get(arr, i);
        json_t *type = json_object_get(e, "type");
        if (!json_is_object(e) || !json_is_string(type))
            return bad(err, target,
                       "%s must be an object with a \"type\" (VARCHAR, BIGINT, "
                       "DOUBLE, TIMESTAMP, ...) and a \"value\"",
                       target);
        bool ok;
        p[i] = param_value(json_string_value(type), json_object_get(e, "value"), mem, &ok);
        if (!ok) {
            char t2[64];
            snprintf(t2, sizeof t2, "%s.value", target);
            return lerr_set_at(
                err, LERR_INVALID, t2,
                "%s: cannot use %s as a parameter of type '%s' (types: VARCHAR, "
                "BIGINT, INTEGER, DOUBLE, FLOAT, DECIMAL, BOOLEAN, TIMESTAMP, "
                "DATE; timestamps as \"2000-01-02 03:04:05\" or epoch ms)",
                target, json_is_string(json_object_get(e, "value")) ? "this text" : "this value",
                json_string_value(type));
        }
    }
    req->params = p;
    req->nparams = n;
    return 0;
}

/* A context switch Druid clients send as a JSON boolean or as the text
 * "true" / "false" (Druid parses both). */
static int get_switch(json_t *v, const char *what, bool *out, struct lerr *err)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0) {
        *out = true;
        return 0;
    }
    if (json_is_string(v) && strcasecmp(json_string_value(v), "false") == 0) {
        *out = false;
        return 0;
    }
    return bad(err, what, "%s must be true or false", what);
}

static int parse_context(json_t *ctx, struct query_request *req, struct arena *mem, bool druid,
                         struct lerr *err)
{
    if (!ctx || json_is_null(ctx))
        return 0;
    if (!json_is_object(ctx))
        return bad(err, "context", "context must be an object");
    json_t *v;
    int64_t n;
    if ((v = json_object_get(ctx, "timeout"))) {
        if (!get_int(v, "context.timeout", &n, err))
            return err->code;
        if (n < 0)
            return bad(err, "context.timeout", "context.timeout must be >= 0 ms (0 = none)");
        req->timeout_ms = n;
    }
    if ((v = json_object_get(ctx, "maxQueryBytes"))) {
        if (!get_int(v, "context.maxQueryBytes", &n, err))
            return err->code;
        if (n <= 0)
            return bad(err, "context.maxQueryBytes", "context.maxQueryBytes must be > 0");
        req->max_bytes = (uint64_t)n;
    }
    if ((v = json_object_get(ctx, "sqlTimeZone")) && !json_is_null(v)) {
        if (!json_is_string(v))
            return bad(
                err, "context.sqlTimeZone",
                "context.sqlTimeZone must be a time zone name such as \"America/Los_Angeles\"");
        req->time_zone = arena_strdup(mem, json_string_value(v));
    }
    if ((v = json_object_get(ctx, "sqlQueryId")) && json_is_string(v))
        req->query_id = arena_strdup(mem, json_string_value(v));
    if ((v = json_object_get(ctx, "allowPartialResults"))) {
        if (!json_is_boolean(v))
            return bad(err, "context.allowPartialResults",
                       "context.allowPartialResults must be true or false");
        req->allow_partial = json_is_true(v);
    }
    /* false: COUNT(DISTINCT x) counts exactly instead of with an HLL sketch */
    if ((v = json_object_get(ctx, "useApproximateCountDistinct")) &&
        get_switch(v, "context.useApproximateCountDistinct", &req->approx_count_distinct, err))
        return err->code;
    if ((v = json_object_get(ctx, "useApproximateTopN")) &&
        get_switch(v, "context.useApproximateTopN", &req->approx_top_n, err))
        return err->code;
    if (druid && (v = json_object_get(ctx, "sqlOuterLimit")) && !json_is_null(v)) {
        if (!get_int(v, "context.sqlOuterLimit", &n, err))
            return err->code;
        if (n < 1)
            return bad(err, "context.sqlOuterLimit",
                       "context.sqlOuterLimit must be at least 1 (the most rows to return), "
                       "not %lld",
                       (long long)n);
        req->outer_limit = n;
    }
    return 0;
}

static int parse(const char *body, size_t len, struct query_request *req, struct arena *mem,
                 bool druid, struct lerr *err)
{
    query_request_init(req);
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return lerr_set(err, LERR_INVALID,
                        "the request body is not valid JSON: %s at line %d, "
                        "column %d",
                        je.text, je.line, je.column);
    static const char *const fields[] = {
        "query",          "resultFormat", "header",  "typesHeader",
        "sqlTypesHeader", "parameters",   "context", NULL};
    int rc = 0;
    const char *key;
    json_t *v;
    if (!json_is_object(root))
        rc = bad(err, "", "the request body must be a JSON object with a \"query\"");
    json_object_foreach(json_is_object(root) ? root : NULL, key, v) {
        bool known = false;
        for (size_t i = 0; fields[i]; i++)
            known |= strcmp(key, fields[i]) == 0;
        if (!known && !rc) {
            const char *hint = util_closest(key, strlen(key), fields);
            rc = bad(err, key,
                     "unknown field '%s' in the SQL request%s%s%s; the fields are query, "
                     "resultFormat, header, typesHeader, sqlTypesHeader, parameters, context",
                     key, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
        }
    }
    v = json_object_get(root, "query");
    if (!rc && !json_is_string(v))
        rc = bad(err, "query", "\"query\" must be the SQL text, a string");
    if (!rc) {
        req->sql_len = json_string_length(v);
        req->sql = arena_strndup(mem, json_string_value(v), req->sql_len);
        if (!req->sql)
            rc = lerr_set(err, LERR_NOMEM, "out of memory reading the request");
    }
    v = json_object_get(root, "resultFormat");
    if (!rc && v && !json_is_null(v)) {
        int f = json_is_string(v) ? query_format_parse(json_string_value(v), json_string_length(v))
                                  : -1;
        if (f < 0)
            rc = bad(err, "resultFormat",
                     "resultFormat must be one of object, array, objectLines, arrayLines, csv");
        else
            req->format = (enum query_format)f;
    }
    if (!rc &&
        (!get_bool(json_object_get(root, "header"), "header", &req->header, err) ||
         !get_bool(json_object_get(root, "typesHeader"), "typesHeader", &req->types_header, err) ||
         !get_bool(json_object_get(root, "sqlTypesHeader"), "sqlTypesHeader",
                   &req->sql_types_header, err)))
        rc = err->code;
    if (!rc)
        rc = parse_params(json_object_get(root, "parameters"), req, mem, err);
    if (!rc)
        rc = parse_context(json_object_get(root, "context"), req, mem, druid, err);
    json_decref(root);
    return rc;
}

int api_query_request_parse(const char *body, size_t len, struct query_request *req,
                            struct arena *mem, struct lerr *err)
{
    return parse(body, len, req, mem, false, err);
}

int api_query_request_parse_druid(const char *body, size_t len, struct query_request *req,
                                  struct arena *mem, struct lerr *err)
{
    return parse(body, len, req, mem, true, err);
}
