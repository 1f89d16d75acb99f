/*
 * query.c — query_execute(): one SQL request from text to response body.
 * Parses the statement, finds its FROM table (a snapshot from the server's
 * env, an INFORMATION_SCHEMA table, or none), binds the SELECT against the
 * table's columns, runs it (exec.c) and writes the rows in the requested
 * format (output.c). The top of query/: it calls every other file of the
 * module and none calls it; the per-query context it sets up (struct query__ctx)
 * is query__ctx.c's.
 *
 * Entry points: query_execute().
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

/* ---- tables --------------------------------------------------------------------------- */

struct names {
    const char **v;
    size_t n, cap;
    struct arena *mem;
};

static int collect_name(void *arg, const char *name, const struct storage_column *cols,
                        size_t ncols)
{
    (void)cols;
    (void)ncols;
    struct names *l = arg;
    if (l->n + 1 >= l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 32;
        const char **nv = arena_alloc(l->mem, ncap * sizeof *nv);
        if (!nv)
            return LERR_NOMEM;
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n] = arena_strdup(l->mem, name);
    if (!l->v[l->n])
        return LERR_NOMEM;
    l->n++;
    l->v[l->n] = NULL;
    return 0;
}

static int table_not_found(const struct query_env *env, const char *table, struct query__ctx *x)
{
    struct names l = {NULL, 0, 0, &x->keep};
    struct lerr ignored;
    lerr_init(&ignored);
    const char *hint = NULL;
    if (env->list_tables && env->list_tables(env->ctx, collect_name, &l, &ignored) == 0 && l.n)
        hint = util_closest(table, strlen(table), l.v);
    lerr_init(x->err);
    return lerr_set(x->err, LERR_INVALID,
                    "table '%s' not found%s%s%s; SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES "
                    "lists the tables",
                    table, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
}

struct resolved {
    struct query__source src;
    struct storage_snapshot *snap;
    struct query__memtable mem;
    struct sql_field *fields;
};

static int resolve(const struct sql_stmt *s, const struct query_env *env, struct query__ctx *x,
                   struct resolved *out)
{
    memset(out, 0, sizeof *out);
    const char *schema = NULL, *table = NULL;
    sql_stmt_table(s, &schema, &table);
    schema = schema ? schema : "";
    table = table ? table : "";
    out->src.table = table;
    if (!*table)
        return 0; /* SELECT without FROM */
    if (strcasecmp(schema, "INFORMATION_SCHEMA") == 0) {
        int rc = query__info_table(table, env, &out->mem, x);
        if (rc == LERR_NOT_FOUND)
            x->err->code = LERR_INVALID; /* Druid answers 400 for unknown tables */
        if (rc)
            return x->err->code;
        out->src.mem = &out->mem;
        out->src.schema = (struct sql_schema){out->mem.fields, out->mem.ncols};
        return 0;
    }
    if (*schema && strcmp(schema, "druid") != 0)
        return lerr_set(x->err, LERR_INVALID,
                        "schema '%s' not found; tables are in schema druid (FROM \"t\" or FROM "
                        "druid.\"t\") and INFORMATION_SCHEMA",
                        schema);
    if (!env || !env->open_table)
        return table_not_found(env, table, x);
    int rc = env->open_table(env->ctx, table, &out->snap, x->err);
    if (rc == LERR_NOT_FOUND || (!rc && !out->snap))
        return table_not_found(env, table, x);
    if (rc)
        return x->err->code ? x->err->code : rc;
    size_t n = out->snap->ncols;
    out->fields = arena_alloc(&x->keep, (n ? n : 1) * sizeof *out->fields);
    if (!out->fields)
        return query__ctx_nomem(x, "the table's columns");
    for (size_t i = 0; i < n; i++) {
        const struct storage_column *c = &out->snap->cols[i];
        out->fields[i] = (struct sql_field){c->name, strlen(c->name), c->type};
    }
    out->src.snap = out->snap;
    out->src.schema = (struct sql_schema){out->fields, n};
    return 0;
}

static void release(const struct query_env *env, struct resolved *r)
{
    if (!r->snap)
        return;
    if (env && env->close_table)
        env->close_table(env->ctx, r->snap);
    else
        storage_snapshot_free(r->snap);
    r->snap = NULL;
}

/* ---- windows: the inner block into an in-memory table, then the window step ------------- */

struct windowed {
    struct resolved src;        /* the inner block's FROM table */
    struct sql_select *inner;   /* the inner block, bound */
    struct query__collect col;  /* its rows (the step's input points into them) */
    struct query__memtable out; /* the inner result and the window columns */
    struct query__result plan;  /* EXPLAIN: the inner block's plan */
};

/* Result rows as an in-memory table (the values are shared, not copied). */
static int result_table(const struct query__result *r, struct query__ctx *x,
                        struct query__memtable *t)
{
    size_t nc = r->ncols ? r->ncols : 1, nr = r->nrows ? r->nrows : 1;
    t->fields = arena_alloc(&x->keep, nc * sizeof *t->fields);
    t->cols = arena_alloc(&x->keep, nc * sizeof *t->cols);
    if (!t->fields || !t->cols)
        return query__ctx_nomem(x, "the window function's input");
    for (size_t c = 0; c < r->ncols; c++) {
        t->fields[c] = (struct sql_field){r->names[c], strlen(r->names[c]), r->types[c]};
        if (!(t->cols[c] = arena_alloc(&x->keep, nr * sizeof *t->cols[c])))
            return query__ctx_nomem(x, "the window function's input");
        for (size_t i = 0; i < r->nrows; i++)
            t->cols[c][i] = r->rows[i][c];
    }
    t->ncols = r->ncols;
    t->nrows = r->nrows;
    return 0;
}

/* Runs the inner block of a statement with window calls and the window
 * step over its rows into w->out (under EXPLAIN: only the inner block's
 * plan, and the step over no rows, for the outer block's columns). */
static int run_windowed(const struct sql_stmt *stmt, bool explain, const struct query_env *env,
                        const struct sql_options *opt, struct query__ctx *x, struct windowed *w)
{
    const struct sql_stmt *inner = sql_stmt_window_input(stmt);
    int rc = resolve(inner, env, x, &w->src);
    if (!rc) {
        const struct sql_schema *cols = w->src.src.schema.n ? &w->src.src.schema : NULL;
        if ((rc = sql_bind_select(inner, cols, opt, &w->inner, x->err)))
            rc = query__ctx_sql_error(x, rc, "binding the query");
    }
    struct query__result r;
    memset(&r, 0, sizeof r);
    if (!rc) {
        w->inner->explain = explain;
        rc = query__exec_run(w->inner, &w->src.src, opt, x, &w->col, explain ? &w->plan : &r);
    }
    struct query__memtable in;
    memset(&in, 0, sizeof in);
    if (!rc && explain) {
        /* the inner block's columns, without rows */
        r.ncols = w->inner->nitems;
        const char **names = arena_alloc(&x->keep, (r.ncols ? r.ncols : 1) * sizeof *names);
        uint8_t *types = arena_alloc(&x->keep, r.ncols ? r.ncols : 1);
        if (!names || !types)
            return query__ctx_nomem(x, "the plan");
        for (size_t i = 0; i < r.ncols; i++) {
            names[i] = w->inner->items[i].name;
            types[i] = w->inner->items[i].type;
        }
        r.names = names;
        r.types = types;
    }
    if (!rc)
        rc = result_table(&r, x, &in);
    if (!rc)
        rc = query__window_apply(sql_stmt_windows(stmt), &in, x, &w->out);
    return rc;
}

/* EXPLAIN of a statement with windows: the outer block's plan, the window
 * step, then the inner block's plan. */
static int explain_windowed(const struct sql_stmt *stmt, const struct windowed *w,
                            struct query__ctx *x, struct query__result *res)
{
    struct buf b;
    buf_init(&b, 1u << 20);
    const struct sql_value *outer = &res->rows[0][0], *inner = &w->plan.rows[0][0];
    buf_append(&b, outer->v.s.p, outer->v.s.n);
    buf_puts(&b, "\nWindow: over the rows of the block below, one column per call:\n");
    sql_windows_explain(sql_stmt_windows(stmt), &b);
    buf_append(&b, inner->v.s.p, inner->v.s.n);
    char *plan = b.failed ? NULL : arena_strndup(&x->keep, b.data, b.len);
    buf_free(&b);
    struct sql_value *row = arena_alloc(&x->keep, 3 * sizeof *row);
    struct sql_value **rows = arena_alloc(&x->keep, sizeof *rows);
    if (!plan || !row || !rows)
        return query__ctx_nomem(x, "the plan text");
    row[0] = sql_string(plan, strlen(plan));
    row[1] = w->plan.rows[0][1]; /* the inner block reads the tables */
    row[2] = res->rows[0][2];
    rows[0] = row;
    res->rows = rows;
    return 0;
}

/* ---- the entry point ------------------------------------------------------------------- */

int query_execute(const struct query_request *req, const struct query_env *env, struct buf *out,
                  struct query_result_meta *meta, struct lerr *err)
{
    int64_t t0 = util_mono_ns();
    struct query_limits lim;
    query_limits_get(&lim);
    struct query__ctx x;
    memset(&x, 0, sizeof x);
    x.req = req;
    x.err = err;
    x.max_bytes = req->max_bytes                                  ? req->max_bytes
                  : QUERY_DEFAULT_MAX_BYTES < lim.max_query_bytes ? QUERY_DEFAULT_MAX_BYTES
                                                                  : lim.max_query_bytes;
    x.deadline_ns = req->timeout_ms > 0 && req->timeout_ms < INT64_MAX / 1000000 - t0 / 1000000
                        ? t0 + req->timeout_ms * 1000000
                        : INT64_MAX;
    /* every arena and buffer of the query charges the budget before it grows */
    mem_budget_init(&x.budget, x.max_bytes, &query__pool);
    arena_init(&x.keep, 64 * 1024, 0);
    arena_init(&x.scratch, 256 * 1024, 0);
    arena_init(&x.leaf, 128 * 1024, 0);
    arena_set_budget(&x.keep, &x.budget);
    arena_set_budget(&x.scratch, &x.budget);
    arena_set_budget(&x.leaf, &x.budget);
    struct mem_budget *out_budget = out->budget;
    x.tz = tz_utc();
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
    };
    struct sql_stmt *stmt = NULL;
    struct sql_select *q = NULL;
    struct resolved res_src;
    memset(&res_src, 0, sizeof res_src);
    struct query__collect col;
    memset(&col, 0, sizeof col);
    struct query__result res;
    memset(&res, 0, sizeof res);
    if (!rc && (!req->sql || req->sql_len == 0))
        rc = lerr_set_at(err, LERR_INVALID, "query",
                         "the request has no SQL: put a SELECT statement in \"query\"");
    if (!rc && (rc = sql_parse_select_in(req->sql, req->sql_len, &x.budget, &stmt, err)))
        rc = query__ctx_sql_error(&x, rc, "parsing the query");
    if (!rc && (rc = sql_stmt_plan_windows(stmt, err)))
        rc = query__ctx_sql_error(&x, rc, "planning the window functions");
    struct windowed win;
    memset(&win, 0, sizeof win);
    bool windowed = !rc && sql_stmt_windows(stmt);
    if (windowed) {
        rc = run_windowed(stmt, sql_stmt_explain(stmt), env, &opt, &x, &win);
        res_src.src.table = "window";
        res_src.src.mem = &win.out;
        res_src.src.schema = (struct sql_schema){win.out.fields, win.out.ncols};
    } else if (!rc) {
        rc = resolve(stmt, env, &x, &res_src);
    }
    if (!rc) {
        const struct sql_schema *cols = res_src.src.schema.n ? &res_src.src.schema : NULL;
        if ((rc = sql_bind_select(stmt, cols, &opt, &q, err)))
            rc = query__ctx_sql_error(&x, rc, "binding the query");
    }
    if (!rc)
        rc = query__exec_run(q, &res_src.src, &opt, &x, &col, &res);
    if (!rc && windowed && q->explain)
        rc = explain_windowed(stmt, &win, &x, &res);
    /* result rows live in the collector (or keep): the last block's vectors
     * and strings can go before the body is written */
    arena_reset(&x.scratch);
    size_t mark = out->len;
    if (!rc)
        rc = query__output_write(&res, req, x.tz, out, &x);
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
    query__collect_destroy(&col);
    query__collect_destroy(&win.col);
    sql_select_free(win.inner);
    release(env, &win.src);
    sql_select_free(q);
    sql_stmt_free(stmt);
    release(env, &res_src);
    arena_destroy(&x.keep);
    arena_destroy(&x.scratch);
    arena_destroy(&x.leaf);
    mem_budget_destroy(&x.budget);
    return rc;
}
