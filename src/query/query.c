/*
 * query.c — query_execute(): one SQL request from text to response body.
 * Sets up the query's context (budget, deadline, time zone), parses the
 * statement, runs it (rel.c: its blocks, bottom up, each on the executor
 * of exec.c) and writes the rows in the requested format (output.c), or
 * hands them to a callback (query_rows). The top of query/: it calls every
 * other file of the module and none calls it; the per-query context it sets
 * up (struct query__ctx) is qctx.c's.
 *
 * Entry points: query_execute(), query_rows().
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "query/query_int.h"

/* ---- the entry point ------------------------------------------------------------------- */

/* Hands each result row to fn (query_rows). */
static int deliver(const struct query__result *res, query_row_fn fn, void *arg)
{
    struct query_columns cols = {res->ncols, res->names, res->types, res->elems, res->mv};
    for (size_t r = 0; r < res->nrows; r++) {
        int rc = fn(arg, &cols, res->rows[r]);
        if (rc)
            return rc;
    }
    return 0;
}

/* A request run into `out` (query_execute) or through fn (query_rows). */
static int execute(const struct query_request *req, const struct query_env *env, struct buf *out,
                   query_row_fn fn, void *arg, struct query_result_meta *meta, struct lerr *err)
{
    int64_t t0 = util_mono_ns();
    struct query_limits lim;
    query_limits_get(&lim);
    struct query__ctx x;
    query__ctx_begin(&x,
                     req->max_bytes                                  ? req->max_bytes
                     : QUERY_DEFAULT_MAX_BYTES < lim.max_query_bytes ? QUERY_DEFAULT_MAX_BYTES
                                                                     : lim.max_query_bytes,
                     req->timeout_ms > 0 && req->timeout_ms < INT64_MAX / 1000000 - t0 / 1000000
                         ? t0 + req->timeout_ms * 1000000
                         : INT64_MAX,
                     err);
    x.req = req;
    struct buf none;
    buf_init(&none, 0);
    if (!out)
        out = &none;
    struct mem_budget *out_budget = out->budget;
    int rc = 0;
    if (req->max_bytes > lim.max_query_bytes) {
        char a[32];
        rc = lerr_set_at(err, LERR_INVALID, "context.maxQueryBytes",
                         "context.maxQueryBytes = %llu is more than this server allows: "
                         "LODESTAR_QUERY_MAX_BYTES = %llu (%s); ask for at most that, or raise "
                         "LODESTAR_QUERY_MAX_BYTES where the server starts",
                         (unsigned long long)req->max_bytes,
                         (unsigned long long)lim.max_query_bytes,
                         query__ctx_size_text(lim.max_query_bytes, a));
    }
    if (!rc && !buf_set_budget(out, &x.budget))
        rc = query__ctx_too_big(&x, "the response body");
    if (!rc && req->time_zone && *req->time_zone) {
        struct lerr tzerr;
        lerr_init(&tzerr);
        x.tz = tz_get(req->time_zone, strlen(req->time_zone), &tzerr);
        if (!x.tz)
            rc = lerr_set_at(err, LERR_INVALID, "context.sqlTimeZone", "context.sqlTimeZone: %s",
                             tzerr.msg);
    }
    struct sql_options opt = {
        .now_ms = req->now_ms ? req->now_ms : util_now_ms(),
        .time_zone = req->time_zone && *req->time_zone ? req->time_zone : NULL,
        .mode = SQL_MODE_ANY,
        .params = req->params,
        .nparams = req->nparams,
        .budget = &x.budget,
        .lookups = env->lookups,
        .exact_count_distinct = !req->approx_count_distinct,
    };
    struct sql_stmt *stmt = NULL;
    struct query__rel rel;
    query__rel_init(&rel, env, &opt, &x);
    rel.outer_limit = req->outer_limit;
    struct query__result res;
    memset(&res, 0, sizeof res);
    if (!rc && (!req->sql || req->sql_len == 0))
        rc = lerr_set_at(err, LERR_INVALID, "query",
                         "the request has no SQL: put a SELECT statement in \"query\"");
    if (!rc && (rc = sql_parse_select_in(req->sql, req->sql_len, &x.budget, &stmt, err)))
        rc = query__ctx_sql_error(&x, rc, "parsing the query");
    if (!rc)
        rc = query__rel_run(&rel, stmt, &res);
    /* result rows live in the collector (or keep): the last block's vectors
     * and strings can go before the body is written */
    arena_reset(&x.scratch);
    size_t mark = out->len;
    if (!rc)
        rc = fn                 ? deliver(&res, fn, arg)
             : req->partial_out ? 0 /* a node's part: its groups are the answer */
                                : query__output_write(&res, req, x.tz, out, &x);
    if (rc) {
        /* nothing of a failed query reaches the body */
        out->len = mark;
        out->failed = false;
        if (out->data)
            out->data[mark] = '\0';
        if (!err->code)
            lerr_set(err, rc, "the query failed");
    } else if (meta) {
        meta->content_type = query__output_content_type(req->format);
        meta->rows = res.nrows;
        meta->ncols = res.ncols;
        meta->elapsed_us = (util_mono_ns() - t0) / 1000;
        snprintf(meta->partial, sizeof meta->partial, "%s", x.partial);
    }
    /* the body is the caller's from here: it leaves the query's budget */
    buf_set_budget(out, NULL);
    buf_set_budget(out, out_budget);
    query__rel_destroy(&rel);
    sql_stmt_free(stmt);
    query__ctx_end(&x);
    buf_free(&none);
    return rc;
}

int query_execute(const struct query_request *req, const struct query_env *env, struct buf *out,
                  struct query_result_meta *meta, struct lerr *err)
{
    return execute(req, env, out, NULL, NULL, meta, err);
}

int query_rows(const struct query_request *req, const struct query_env *env, query_row_fn fn,
               void *arg, struct lerr *err)
{
    return execute(req, env, NULL, fn, arg, NULL, err);
}
