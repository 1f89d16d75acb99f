/*
 * query.c — POST /v1/query/sql (and the project-scoped path): Druid SQL over
 * the tables, through the query engine (src/query/) on snapshots the engine
 * (storage/db.h) hands out, so a query never blocks ingestion; the engine's
 * view of the server is qenv.c's, with fanout.c's over the nodes of a
 * cluster (api__query_env). Keeps a
 * latency histogram for GET /metrics, beside the memory all running queries hold. A query
 * past its memory budget answers 400, past the pool of all queries 503
 * (query.h "Memory"). An INSERT or REPLACE starts a sql job instead and
 * answers as Druid's /druid/v2/sql/task does: {"taskId", "state"}; that
 * path itself (api_query_sql_task) takes only those statements.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "api/query_request.h"
#include "query/query.h"
#include "storage/db.h"

static const double latency_buckets_ms[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
static atomic_llong latency_hist[LS_ARRAY_LEN(latency_buckets_ms) + 1];
static atomic_llong latency_us_total, query_errors;

void api__query_observe(double ms, bool ok)
{
    size_t b = 0;
    while (b < LS_ARRAY_LEN(latency_buckets_ms) && ms > latency_buckets_ms[b])
        b++;
    atomic_fetch_add(&latency_hist[b], 1);
    atomic_fetch_add(&latency_us_total, (long long)(ms * 1000));
    if (!ok)
        atomic_fetch_add(&query_errors, 1);
}

/* Might the body hold an INSERT or REPLACE? (a cheap look before parsing it twice) */
static bool maybe_dml(const char *p, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++) {
        char c = (char)(p[i] | 0x20);
        if ((c == 'i' && strncasecmp(p + i, "insert", 6) == 0) ||
            (c == 'r' && i + 7 <= n && strncasecmp(p + i, "replace", 7) == 0))
            return true;
    }
    return false;
}

/* An INSERT or REPLACE starts a sql job; the caller needs ManageIngestionJobs too. */
static int sql_statement(struct api_req *r, const char *query, json_t *context)
{
    if (!api_key_has(&r->key, API_PERM_ManageIngestionJobs)) {
        struct lerr err;
        lerr_init(&err);
        lerr_set(&err, LERR_FORBIDDEN,
                 "API key '%s' lacks the ManageIngestionJobs permission that an INSERT or "
                 "REPLACE needs (it starts an ingestion job); use a key with it",
                 r->key.name);
        return api_reply_err(r, &err);
    }
    /* As in Druid, an INSERT creates the table it names. */
    json_t *body = json_pack("{s:s, s:s, s:b}", "type", "sql", "query", query,
                             "createTableIfNotExists", true);
    if (context)
        json_object_set(body, "context", context);
    return api__jobs_create_from(r, body, true);
}

/* An INSERT or REPLACE starts a sql job (jobs_sql.c) instead of running as a query. */
static bool run_dml(struct api_req *r)
{
    if (!r->body || !maybe_dml(r->body, r->body_len))
        return false;
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    const char *q = json_string_value(json_object_get(b, "query"));
    bool dml = q && sql_dml_is_dml(q, strlen(q));
    if (dml)
        sql_statement(r, q, json_object_get(b, "context"));
    json_decref(b);
    return dml;
}

int api_query_sql_task(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    json_t *b = api_body_object(r, &err);
    const char *q = json_string_value(json_object_get(b, "query"));
    if (b && !q)
        lerr_set_at(&err, LERR_INVALID, "query",
                    "query: give the INSERT or REPLACE statement to run as a task");
    else if (b && !sql_dml_is_dml(q, strlen(q)))
        lerr_set_at(&err, LERR_INVALID, "query",
                    "query: /druid/v2/sql/task runs INSERT and REPLACE statements; send a "
                    "SELECT to /druid/v2/sql");
    if (err.code) {
        json_decref(b);
        return api_reply_err(r, &err);
    }
    sql_statement(r, q, json_object_get(b, "context"));
    json_decref(b);
    return r->status >= 400 ? LERR_INVALID : 0;
}

int api_query_sql(struct api_req *r)
{
    struct lerr err;
    lerr_init(&err);
    if (run_dml(r))
        return r->status >= 400 ? LERR_INVALID : 0;
    struct arena mem;
    arena_init(&mem, 16 * 1024, 64u << 20);
    struct query_request req;
    query_request_init(&req);
    struct buf out;
    buf_init(&out, 0);
    int64_t t0 = util_mono_ns();
    if (!r->body || r->body_len == 0) {
        lerr_set(&err, LERR_INVALID,
                 "the request needs a JSON body such as {\"query\": "
                 "\"SELECT COUNT(*) FROM \\\"wikipedia\\\"\"}");
    } else if (api_query_request_parse(r->body, r->body_len, &req, &mem, &err) == 0) {
        struct query_env env;
        struct sql_lookups lk;
        if (!req.now_ms) /* one CURRENT_TIMESTAMP on every node */
            req.now_ms = util_now_ms();
        struct api_query_ctx qc = {r->srv,      req.timeout_ms, req.allow_partial ? NULL : r->body,
                                   r->body_len, false,          req.now_ms};
        api__query_env(&qc, &env, &lk);
        struct query_result_meta meta = {0};
        if (query_execute(&req, &env, &out, &meta, &err) == 0) {
            r->status = 200;
            r->text = buf_steal(&out, &r->text_len);
            r->content_type = meta.content_type;
            if (meta.partial[0]) {
                /* Asked for with context.allowPartialResults: the answer lacks these. */
                snprintf(r->warning, sizeof r->warning, "partial results: left out %s",
                         meta.partial);
            }
        }
    }
    api__query_observe((double)(util_mono_ns() - t0) / 1e6, err.code == 0);
    if (err.code)
        api_reply_err(r, &err);
    buf_free(&out);
    arena_destroy(&mem);
    return err.code;
}

void api_query_metrics(struct buf *out)
{
    buf_puts(out, "# HELP lodestar_query_duration_ms SQL query latency.\n"
                  "# TYPE lodestar_query_duration_ms histogram\n");
    long long cum = 0;
    for (size_t b = 0; b < LS_ARRAY_LEN(latency_buckets_ms); b++) {
        cum += atomic_load(&latency_hist[b]);
        buf_printf(out, "lodestar_query_duration_ms_bucket{le=\"%g\"} %lld\n",
                   latency_buckets_ms[b], cum);
    }
    cum += atomic_load(&latency_hist[LS_ARRAY_LEN(latency_buckets_ms)]);
    buf_printf(out, "lodestar_query_duration_ms_bucket{le=\"+Inf\"} %lld\n", cum);
    buf_printf(out, "lodestar_query_duration_ms_sum %.3f\n",
               (double)atomic_load(&latency_us_total) / 1000.0);
    buf_printf(out, "lodestar_query_duration_ms_count %lld\n", cum);
    buf_printf(out,
               "# TYPE lodestar_query_errors_total counter\nlodestar_query_errors_total %lld\n",
               (long long)atomic_load(&query_errors));
    api__fanout_metrics(out);
    struct query_limits lim;
    query_limits_get(&lim);
    buf_printf(out,
               "# HELP lodestar_query_memory_bytes Memory the running queries hold "
               "(at most lodestar_query_memory_limit_bytes: LODESTAR_QUERY_TOTAL_BYTES).\n"
               "# TYPE lodestar_query_memory_bytes gauge\nlodestar_query_memory_bytes %llu\n"
               "# TYPE lodestar_query_memory_limit_bytes gauge\n"
               "lodestar_query_memory_limit_bytes %llu\n",
               (unsigned long long)query_memory_in_use(), (unsigned long long)lim.total_bytes);
}
