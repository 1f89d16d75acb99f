/*
 * druid.c — POST /druid/v2/sql: Druid's own SQL endpoint, so that Druid's
 * clients (the web console's @druid-toolkit/query, pydruid, scripts written
 * against Druid) work unchanged. The same engine, tables and permission
 * (AccessQueries) as POST /v1/query/sql; where the two differ, this route
 * follows Druid:
 *   - the body may be JSON (Content-Type application/json, or none), raw SQL
 *     (text/plain) or URL-encoded SQL (application/x-www-form-urlencoded, what
 *     curl --data sends); the last two answer in the object format;
 *   - context.sqlOuterLimit caps the rows returned;
 *   - every answer carries X-Druid-SQL-Query-Id and X-Druid-Query-Id: the
 *     context's sqlQueryId, or a generated UUID; with "header": true also
 *     X-Druid-SQL-Header-Included: yes;
 *   - errors have Druid's shape: {"error": "druidException", "errorCode",
 *     "persona", "category", "errorMessage", "context"} with the status of
 *     the category (400 INVALID_INPUT; a timeout 504 TIMEOUT with
 *     legacyErrorCode "Query timeout"; the query memory pool in use 429
 *     CAPACITY_EXCEEDED). errorMessage is our message (with line, column and
 *     hint); context has sourceType "sql", line and column for errors in the
 *     statement, target for a bad request field.
 *
 * Druid's task routes for the jobs an INSERT or REPLACE starts (their task id
 * is the job id): GET /druid/indexer/v1/task/{id}/status (TaskStatusPlus,
 * from the job's sys.tasks row), /reports (an MSQ report's payload.status)
 * and POST .../shutdown (cancels the job), as Druid's clients poll and stop
 * them (Airflow's DruidHook among them).
 *
 * Entry points: api_druid_sql(), api_druid_task_status(),
 * api_druid_task_reports(), api_druid_task_shutdown().
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "api/query_request.h"
#include "query/query.h"

#define SQL_ID_MAX 256 /* bytes of a sqlQueryId: it travels in response headers */

/* The media type of a Content-Type value: up to ';', without spaces. */
static bool media_is(const char *ct, const char *type)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* application/x-www-form-urlencoded text decoded as Druid does: '+' is a
 * space, %XX a byte. */
static int url_decode(const char *s, size_t n, struct arena *mem, char **out, size_t *out_len,
                      struct lerr *err)
{
    char *d = arena_alloc(mem, n + 1);
    if (!d)
        return lerr_set(err, LERR_NOMEM, "out of memory reading the request");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            d[k++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return lerr_set(err, LERR_INVALID,
                                "the body is sent as application/x-www-form-urlencoded but is not "
                                "URL-encoded: '%%' at byte %zu is not followed by two hex "
                                "digits; URL-encode the SQL (curl --data-urlencode), or send it "
                                "with Content-Type: text/plain, or as JSON {\"query\": ...}",
                                i);
            d[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[k++] = s[i];
        }
    }
    d[k] = '\0';
    *out = d;
    *out_len = k;
    return 0;
}

/* Reads the request into req by its Content-Type. */
static int read_request(struct api_req *r, struct query_request *req, struct arena *mem,
                        struct lerr *err)
{
    const char *ct = r->content_type_in;
    if (!r->body || r->body_len == 0)
        return lerr_set(err, LERR_INVALID,
                        "the request needs a body: JSON such as {\"query\": \"SELECT COUNT(*) "
                        "FROM \\\"wikipedia\\\"\"} (Content-Type: application/json), or the SQL "
                        "itself (Content-Type: text/plain)");
    if (!ct || !*ct || media_is(ct, "application/json"))
        return api_query_request_parse_druid(r->body, r->body_len, req, mem, err);
    bool form = media_is(ct, "application/x-www-form-urlencoded");
    if (!form && !media_is(ct, "text/plain"))
        return lerr_set(err, LERR_UNSUPPORTED_MEDIA,
                        "Content-Type '%s' is not accepted here: send JSON (application/json), "
                        "the SQL as text (text/plain), or URL-encoded SQL "
                        "(application/x-www-form-urlencoded)",
                        ct);
    query_request_init(req);
    char *sql = NULL;
    size_t len = 0;
    if (form) {
        if (url_decode(r->body, r->body_len, mem, &sql, &len, err))
            return err->code;
    } else {
        len = r->body_len;
        sql = arena_strndup(mem, r->body, len);
        if (!sql)
            return lerr_set(err, LERR_NOMEM, "out of memory reading the request");
    }
    req->sql = sql;
    req->sql_len = len;
    return 0;
}

/* The sqlQueryId travels in headers: printable ASCII, at most SQL_ID_MAX bytes. */
static int check_query_id(const char *id, struct lerr *err)
{
    size_t n = strlen(id);
    if (n > SQL_ID_MAX)
        return lerr_set_at(err, LERR_INVALID, "context.sqlQueryId",
                           "context.sqlQueryId is %zu bytes long; at most %d are allowed", n,
                           SQL_ID_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] > 0x7e)
            return lerr_set_at(err, LERR_INVALID, "context.sqlQueryId",
                               "context.sqlQueryId has a byte 0x%02x at %zu: use printable ASCII "
                               "(it is returned in the X-Druid-SQL-Query-Id header)",
                               (unsigned char)id[i], i);
    return 0;
}

/* Druid's category, persona, errorCode and HTTP status for an error code. */
struct druid_kind {
    int status;
    const char *code, *persona, *category;
    const char *error_class, *legacy; /* for legacyQueryException: the old names */
};

static struct druid_kind druid_kind(int code)
{
    switch (code) {
    case LERR_INVALID:
        return (struct druid_kind){400, "invalidInput", "USER", "INVALID_INPUT", NULL, NULL};
    case LERR_UNSUPPORTED_MEDIA:
        return (struct druid_kind){415, "invalidInput", "USER", "INVALID_INPUT", NULL, NULL};
    case LERR_UNAUTHORIZED:
        return (struct druid_kind){401, "general", "USER", "UNAUTHORIZED", NULL, NULL};
    case LERR_FORBIDDEN:
        return (struct druid_kind){403, "general", "USER", "FORBIDDEN", NULL, NULL};
    case LERR_NOT_FOUND:
        return (struct druid_kind){404, "notFound", "USER", "NOT_FOUND", NULL, NULL};
    case LERR_TIMEOUT:
        return (struct druid_kind){504,
                                   "legacyQueryException",
                                   "OPERATOR",
                                   "TIMEOUT",
                                   "org.apache.druid.query.QueryTimeoutException",
                                   "Query timeout"};
    case LERR_UNAVAILABLE:
    case LERR_RATE_LIMIT:
        return (struct druid_kind){429,
                                   "legacyQueryException",
                                   "OPERATOR",
                                   "CAPACITY_EXCEEDED",
                                   "org.apache.druid.query.QueryCapacityExceededException",
                                   "Query capacity exceeded"};
    default: return (struct druid_kind){500, "general", "OPERATOR", "RUNTIME_FAILURE", NULL, NULL};
    }
}

/* The error as Druid's ErrorResponse, in r->text. from_sql: it came from the
 * statement (not from the request's fields). */
static void reply_druid_error(struct api_req *r, const struct lerr *err, bool from_sql)
{
    struct druid_kind k = druid_kind(err->code);
    json_t *ctx = json_object();
    if (from_sql && !err->target[0])
        json_object_set_new(ctx, "sourceType", json_string("sql"));
    /* our SQL messages say "... at line L, column C ..."; Druid's context has both */
    const char *at = strstr(err->msg, " at line ");
    unsigned line, col;
    if (at && sscanf(at, " at line %u, column %u", &line, &col) == 2) {
        char v[16];
        snprintf(v, sizeof v, "%u", line);
        json_object_set_new(ctx, "line", json_string(v));
        snprintf(v, sizeof v, "%u", col);
        json_object_set_new(ctx, "column", json_string(v));
    }
    if (err->target[0])
        json_object_set_new(ctx, "target", json_string(err->target));
    if (k.error_class) {
        json_object_set_new(ctx, "errorClass", json_string(k.error_class));
        json_object_set_new(ctx, "legacyErrorCode", json_string(k.legacy));
    }
    json_t *msg = json_string(err->msg);
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "error", "druidException", "errorCode",
                          k.code, "persona", k.persona, "category", k.category, "errorMessage",
                          msg ? msg : json_string("(the error text was not UTF-8)"), "context",
                          ctx);
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    free(r->text);
    r->text = text;
    r->text_len = text ? strlen(text) : 0;
    r->content_type = "application/json";
    r->status = text ? k.status : 500;
}

static void set_header(struct api_req *r, size_t i, const char *name, const char *value)
{
    r->headers[i].name = name;
    snprintf(r->headers[i].value, sizeof r->headers[i].value, "%s", value);
}

int api_druid_sql(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    struct arena mem;
    arena_init(&mem, 16 * 1024, 64u << 20);
    struct query_request req;
    query_request_init(&req);
    struct buf out;
    buf_init(&out, 0);
    int64_t t0 = util_mono_ns();
    bool from_sql = false;
    char id[SQL_ID_MAX + 1];
    if (read_request(r, &req, &mem, &err) == 0) {
        if (req.query_id && *req.query_id)
            check_query_id(req.query_id, &err);
        if (!err.code && req.query_id && *req.query_id)
            snprintf(id, sizeof id, "%s", req.query_id);
        else if (!err.code)
            util_uuid_v4(id, &err);
        if (!err.code) {
            req.query_id = id;
            set_header(r, 0, "X-Druid-SQL-Query-Id", id);
            set_header(r, 1, "X-Druid-Query-Id", id);
            if (req.header)
                set_header(r, 2, "X-Druid-SQL-Header-Included", "yes");
            struct query_env env;
            struct sql_lookups lk;
            if (!req.now_ms) /* one CURRENT_TIMESTAMP on every node */
                req.now_ms = util_now_ms();
            /* the other nodes read the body again: JSON only (not SQL text or a form) */
            const char *ct = r->content_type_in;
            bool json = !ct || !*ct || media_is(ct, "application/json");
            struct api_query_ctx qc = {
                r->srv,      req.timeout_ms, req.allow_partial || !json ? NULL : r->body,
                r->body_len, true,           req.now_ms};
            api__query_env(&qc, &env, &lk);
            struct query_result_meta meta = {0};
            from_sql = true;
            if (query_execute(&req, &env, &out, &meta, &err) == 0) {
                r->status = 200;
                r->text = buf_steal(&out, &r->text_len);
                r->content_type = meta.content_type;
                if (meta.partial[0])
                    snprintf(r->warning, sizeof r->warning, "partial results: left out %s",
                             meta.partial);
            }
        }
    }
    api__query_observe((double)(util_mono_ns() - t0) / 1e6, err.code == 0);
    if (err.code)
        reply_druid_error(r, &err, from_sql);
    buf_free(&out);
    arena_destroy(&mem);
    return err.code;
}

/* ---- GET /druid/indexer/v1/task/{id}/status ------------------------------------------ */

/* The sys.tasks row of one job as Druid's TaskStatusPlus. */
static int task_row(void *arg, const struct query_columns *cols, const struct sql_value *row)
{
    json_t *st = arg;
    static const struct {
        const char *col, *key;
    } map[] = {{"task_id", "id"},
               {"type", "type"},
               {"created_time", "createdTime"},
               {"queue_insertion_time", "queueInsertionTime"},
               {"status", "statusCode"},
               {"runner_status", "runnerStatusCode"},
               {"duration", "duration"},
               {"datasource", "dataSource"},
               {"error_msg", "errorMsg"}};
    for (size_t c = 0; c < cols->n; c++)
        for (size_t k = 0; k < LS_ARRAY_LEN(map); k++) {
            if (strcmp(cols->names[c], map[k].col) != 0)
                continue;
            const struct sql_value *v = &row[c];
            json_t *j = v->is_null              ? json_null()
                        : v->type == SQL_STRING ? json_stringn(v->v.s.p, v->v.s.n)
                                                : json_integer(v->v.l);
            json_object_set_new(st, map[k].key, j);
            if (strcmp(map[k].key, "statusCode") == 0)
                json_object_set(st, "status", j); /* Druid sends both */
        }
    return 0;
}

/* The sys.tasks row of task `id` as Druid's TaskStatusPlus into *st; a
 * 404 naming the id when there is none. */
static int task_lookup(struct api_req *r, const char *id, json_t **st, struct lerr *err)
{
    struct query_request req;
    query_request_init(&req);
    static const char sql[] = "SELECT * FROM sys.tasks WHERE task_id = ?";
    struct sql_value param = sql_string(id, strlen(id));
    req.sql = sql;
    req.sql_len = sizeof sql - 1;
    req.params = &param;
    req.nparams = 1;
    struct query_env env;
    struct sql_lookups lk;
    struct api_query_ctx qc = {.srv = r->srv, .timeout_ms = req.timeout_ms};
    api__query_env(&qc, &env, &lk);
    *st = json_object();
    if (query_rows(&req, &env, task_row, *st, err))
        goto fail;
    if (json_object_size(*st) == 0) {
        lerr_set(err, LERR_NOT_FOUND,
                 "no task '%s': a task id is the job id that POST /druid/v2/sql/task or an "
                 "INSERT or REPLACE through /v1/query/sql answered (GET /v1/jobs lists them)",
                 id);
        goto fail;
    }
    return 0;
fail:
    json_decref(*st);
    *st = NULL;
    return err->code;
}

int api_druid_task_status(struct api_req *r)
{
    const char *id = r->seg[4];
    struct lerr err;
    lerr_init(&err);
    json_t *st;
    if (task_lookup(r, id, &st, &err)) {
        api_reply_err(r, &err);
        return 0;
    }
    api_reply(r, 200, json_pack("{s:s, s:o}", "task", id, "status", st));
    return 0;
}

/* ---- POST /druid/indexer/v1/task/{id}/shutdown ------------------------------------------ */

/* Druid's "kill the task": the job is canceled (a REPLACE or delete then
 * changes nothing; rows an INSERT already committed stay). Answers Druid's
 * {"task": id} once the runner has stopped, as for a task already done. */
int api_druid_task_shutdown(struct api_req *r)
{
    const char *id = r->seg[4];
    struct lerr err;
    lerr_init(&err);
    struct catalog_job j = {0};
    if (catalog_job_get(r->srv->cat, id, &j, &err)) {
        if (err.code == LERR_NOT_FOUND)
            lerr_set(&err, LERR_NOT_FOUND,
                     "no task '%s': a task id is the job id that POST /druid/v2/sql/task "
                     "answered (GET /v1/jobs lists them)",
                     id);
        api_reply_err(r, &err);
        return 0;
    }
    if (catalog_job_status_live(j.status) && j.desired != CATALOG_JOB_CANCELED) {
        json_t *caller = api_caller(r);
        char *by = json_dumps(caller, JSON_COMPACT);
        json_decref(caller);
        int rc = catalog_job_set_desired(r->srv->cat, j.id, CATALOG_JOB_CANCELED, by, &err);
        free(by);
        if (rc) {
            catalog_job_destroy(&j);
            api_reply_err(r, &err);
            return 0;
        }
        ingest_runtime_settle(r->srv->rt, j.id, 10000);
    }
    catalog_job_destroy(&j);
    api_reply(r, 200, json_pack("{s:s}", "task", id));
    return 0;
}

/* ---- GET /druid/indexer/v1/task/{id}/reports ------------------------------------------- */

/* The part of an MSQ task report Druid's clients read: payload.status with
 * the status, start time, duration and, for a failed task, its error. */
int api_druid_task_reports(struct api_req *r)
{
    const char *id = r->seg[4];
    struct lerr err;
    lerr_init(&err);
    json_t *st;
    if (task_lookup(r, id, &st, &err)) {
        api_reply_err(r, &err);
        return 0;
    }
    json_t *status = json_object();
    json_object_set(status, "status", json_object_get(st, "statusCode"));
    json_object_set(status, "startTime", json_object_get(st, "createdTime"));
    json_object_set(status, "durationMs", json_object_get(st, "duration"));
    const char *msg = json_string_value(json_object_get(st, "errorMsg"));
    if (msg && *msg)
        json_object_set_new(status, "errorReport",
                            json_pack("{s:s, s:{s:s, s:s}}", "taskId", id, "error", "errorCode",
                                      "UnknownError", "errorMessage", msg));
    json_decref(st);
    api_reply(r, 200,
              json_pack("{s:{s:s, s:s, s:{s:o}}}", "multiStageQuery", "type", "multiStageQuery",
                        "taskId", id, "payload", "status", status));
    return 0;
}
