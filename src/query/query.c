/*
 * query.c — query_execute(): one SQL request from text to response body.
 * Parses the statement, finds its FROM table (a snapshot from the server's
 * env, an INFORMATION_SCHEMA table, or none), binds the SELECT against the
 * table's columns, runs it (exec.c) and writes the rows in the requested
 * format (output.c). Also the per-query context: the memory budget behind
 * context.maxQueryBytes, drawing on the pool of all running queries
 * (LODESTAR_QUERY_TOTAL_BYTES), and the deadline behind context.timeout.
 *
 * Entry points: query_execute(), query_limits_*(), qctx_check(),
 * qctx_charge(), qctx_uncharge(), qctx_too_big(), qctx_nomem(),
 * qctx_sql_error().
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

/* ---- memory limits ------------------------------------------------------------------ */

struct mem_pool query_pool = {0, 0};   /* limit set at first use or by query_limits_set */
static _Atomic uint64_t max_query_limit;
static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

/* 2 GiB, or half the machine's memory or half the address space the process
 * may use (RLIMIT_AS), whichever is least. */
static uint64_t default_total(void)
{
    uint64_t t = 2ull << 30;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0 && (uint64_t)pages * (uint64_t)psz / 2 < t)
        t = (uint64_t)pages * (uint64_t)psz / 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < t)
        t = rl.rlim_cur / 2;
    return t < (64u << 20) ? (64u << 20) : t;
}

static void limits_default(void)
{
    if (!mem_pool_limit(&query_pool)) {
        uint64_t t = default_total();
        mem_pool_init(&query_pool, t);
        atomic_store(&max_query_limit, t);
    }
}

void query_limits_get(struct query_limits *out)
{
    pthread_once(&limits_once, limits_default);
    out->total_bytes = mem_pool_limit(&query_pool);
    out->max_query_bytes = atomic_load(&max_query_limit);
}

void query_limits_set(const struct query_limits *l)
{
    pthread_once(&limits_once, limits_default);
    uint64_t t = l->total_bytes ? l->total_bytes : default_total();
    mem_pool_set_limit(&query_pool, t);
    atomic_store(&max_query_limit, l->max_query_bytes ? l->max_query_bytes : t);
}

uint64_t query_memory_in_use(void)
{
    return mem_pool_used(&query_pool);
}

/* "1073741824", "512M", "2g", "64KiB": bytes; 0 when unset. */
static int env_size(const char *name, uint64_t *out, struct lerr *err)
{
    *out = 0;
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    int shift = 0;
    if (end != v && *end) {
        shift = *end == 'k' || *end == 'K' ? 10 : *end == 'm' || *end == 'M' ? 20
              : *end == 'g' || *end == 'G' ? 30 : -1;
        if (shift > 0) {
            end++;
            if (*end == 'i' || *end == 'I')
                end++;
            if (*end == 'b' || *end == 'B')
                end++;
        }
    }
    if (end == v || *end || shift < 0 || errno || x == 0 || x > (UINT64_MAX >> shift))
        return lerr_set(err, LERR_INVALID,
                        "%s='%s' is not a memory size: write a number of bytes greater than 0, "
                        "or one with a K, M or G suffix (powers of 1024), such as 2G",
                        name, v);
    *out = (uint64_t)x << shift;
    return 0;
}

int query_limits_from_env(struct lerr *err)
{
    struct query_limits l = {0, 0};
    if (env_size("LODESTAR_QUERY_TOTAL_BYTES", &l.total_bytes, err) ||
        env_size("LODESTAR_QUERY_MAX_BYTES", &l.max_query_bytes, err))
        return err->code;
    query_limits_set(&l);
    return 0;
}

/* ---- the per-query context -------------------------------------------------------- */

static const char *size_text(uint64_t n, char buf[32])
{
    if (n >= (1ull << 30) && n % (1ull << 30) == 0)
        snprintf(buf, 32, "%llu GiB", (unsigned long long)(n >> 30));
    else if (n >= (1ull << 20) && n % (1ull << 20) == 0)
        snprintf(buf, 32, "%llu MiB", (unsigned long long)(n >> 20));
    else
        snprintf(buf, 32, "%llu bytes", (unsigned long long)n);
    return buf;
}

int qctx_too_big(struct qctx *x, const char *what)
{
    if (x->mem_error)
        return x->err->code;
    /* this error replaces a plain "out of memory" set on the way up */
    lerr_init(x->err);
    x->mem_error = true;
    char a[32], b[32], c[32];
    if (x->budget.refused == MEM_REFUSED_POOL) {
        return lerr_set(x->err, LERR_UNAVAILABLE,
                        "server query memory is in use by other queries: all running queries "
                        "together may hold %s (LODESTAR_QUERY_TOTAL_BYTES) and this one could "
                        "not get %s more for %s while it held %s; retry in a moment, or raise "
                        "LODESTAR_QUERY_TOTAL_BYTES where the server starts",
                        size_text(mem_pool_limit(&query_pool), a),
                        size_text(x->budget.refused_need, b), what,
                        size_text(x->budget.refused_used, c));
    }
    struct query_limits l;
    query_limits_get(&l);
    return lerr_set(x->err, LERR_INVALID,
                    "query memory limit exceeded: the query needs more than "
                    "context.maxQueryBytes = %llu bytes (for %s); narrow the __time range or the "
                    "WHERE, build fewer or shorter strings, group by fewer or lower-cardinality "
                    "columns, add a LIMIT, or raise context.maxQueryBytes (this server allows up "
                    "to %llu: LODESTAR_QUERY_MAX_BYTES)",
                    (unsigned long long)x->max_bytes, what,
                    (unsigned long long)l.max_query_bytes);
}

int qctx_nomem(struct qctx *x, const char *what)
{
    if (x->budget.refused != MEM_REFUSED_NONE)
        return qctx_too_big(x, what);
    if (x->mem_error)
        return x->err->code;
    return lerr_set(x->err, LERR_NOMEM, "out of memory for %s", what);
}

int qctx_sql_error(struct qctx *x, int rc, const char *what)
{
    if (rc == LERR_NOMEM || (x->err->code == LERR_NOMEM && !x->mem_error))
        return qctx_nomem(x, what);
    return x->err->code ? x->err->code : rc;
}

int qctx_check(struct qctx *x)
{
    if (x->err->code)
        return x->err->code;
    if (x->deadline_ns != INT64_MAX && util_mono_ns() > x->deadline_ns)
        return lerr_set(x->err, LERR_TIMEOUT,
                        "query exceeded its timeout of %lld ms; narrow the __time range or "
                        "the WHERE, or raise context.timeout",
                        (long long)x->req->timeout_ms);
    return 0;
}

int qctx_charge(struct qctx *x, size_t n, const char *what)
{
    return mem_budget_charge(&x->budget, n) ? 0 : qctx_too_big(x, what);
}

void qctx_uncharge(struct qctx *x, size_t n)
{
    mem_budget_release(&x->budget, n);
}

/* ---- tables --------------------------------------------------------------------------- */

struct names {
    const char **v;
    size_t n, cap;
    struct arena *mem;
};

static int collect_name(void *arg, const char *name, const struct storage_column *cols, size_t ncols)
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

static int table_not_found(const struct query_env *env, const char *table, struct qctx *x)
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
    struct qsource src;
    struct storage_snapshot *snap;
    struct qmemtable mem;
    struct sql_field *fields;
};

static int resolve(const struct sql_stmt *s, const struct query_env *env, struct qctx *x,
                   struct resolved *out)
{
    memset(out, 0, sizeof *out);
    const char *schema = NULL, *table = NULL;
    sql_stmt_table(s, &schema, &table);
    schema = schema ? schema : "";
    table = table ? table : "";
    out->src.table = table;
    if (!*table)
        return 0;   /* SELECT without FROM */
    if (strcasecmp(schema, "INFORMATION_SCHEMA") == 0) {
        int rc = qinfo_table(table, env, &out->mem, x);
        if (rc == LERR_NOT_FOUND)
            x->err->code = LERR_INVALID;   /* Druid answers 400 for unknown tables */
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
        return qctx_nomem(x, "the table's columns");
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

/* ---- the entry point ------------------------------------------------------------------- */

int query_execute(const struct query_request *req, const struct query_env *env, struct buf *out,
                  struct query_result_meta *meta, struct lerr *err)
{
    int64_t t0 = util_mono_ns();
    struct query_limits lim;
    query_limits_get(&lim);
    struct qctx x;
    memset(&x, 0, sizeof x);
    x.req = req;
    x.err = err;
    x.max_bytes = req->max_bytes ? req->max_bytes
                  : QUERY_DEFAULT_MAX_BYTES < lim.max_query_bytes ? QUERY_DEFAULT_MAX_BYTES
                                                                  : lim.max_query_bytes;
    x.deadline_ns = req->timeout_ms > 0 && req->timeout_ms < INT64_MAX / 1000000 - t0 / 1000000
                        ? t0 + req->timeout_ms * 1000000
                        : INT64_MAX;
    /* every arena and buffer of the query charges the budget before it grows */
    mem_budget_init(&x.budget, x.max_bytes, &query_pool);
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
                         size_text(lim.max_query_bytes, a));
    }
    if (!rc && !buf_set_budget(out, &x.budget))
        rc = qctx_too_big(&x, "the response body");
    if (!rc && req->time_zone && *req->time_zone) {
        struct lerr tzerr;
        lerr_init(&tzerr);
        x.tz = tz_get(req->time_zone, strlen(req->time_zone), &tzerr);
        if (!x.tz)
            rc = lerr_set_at(err, LERR_INVALID, "context.sqlTimeZone",
                             "context.sqlTimeZone: %s", tzerr.msg);
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
    struct qcollect col;
    memset(&col, 0, sizeof col);
    struct qresult res;
    memset(&res, 0, sizeof res);
    if (!rc && (!req->sql || req->sql_len == 0))
        rc = lerr_set_at(err, LERR_INVALID, "query",
                         "the request has no SQL: put a SELECT statement in \"query\"");
    if (!rc && (rc = sql_parse_select_in(req->sql, req->sql_len, &x.budget, &stmt, err)))
        rc = qctx_sql_error(&x, rc, "parsing the query");
    if (!rc)
        rc = resolve(stmt, env, &x, &res_src);
    if (!rc) {
        const struct sql_schema *cols = res_src.src.schema.n ? &res_src.src.schema : NULL;
        if ((rc = sql_bind_select(stmt, cols, &opt, &q, err)))
            rc = qctx_sql_error(&x, rc, "binding the query");
    }
    if (!rc)
        rc = qexec_run(q, &res_src.src, &opt, &x, &col, &res);
    /* result rows live in the collector (or keep): the last block's vectors
     * and strings can go before the body is written */
    arena_reset(&x.scratch);
    size_t mark = out->len;
    if (!rc)
        rc = qoutput_write(&res, req, x.tz, out, &x);
    if (rc) {
        /* nothing of a failed query reaches the body */
        out->len = mark;
        out->failed = false;
        if (out->data)
            out->data[mark] = '\0';
        if (!err->code)
            lerr_set(err, rc, "the query failed");
    } else if (meta) {
        meta->content_type = qoutput_content_type(req->format);
        meta->rows = res.nrows;
        meta->ncols = res.ncols;
        meta->elapsed_us = (util_mono_ns() - t0) / 1000;
        snprintf(meta->partial, sizeof meta->partial, "%s", x.partial);
    }
    /* the body is the caller's from here: it leaves the query's budget */
    buf_set_budget(out, NULL);
    buf_set_budget(out, out_budget);
    qcollect_destroy(&col);
    sql_select_free(q);
    sql_stmt_free(stmt);
    release(env, &res_src);
    arena_destroy(&x.keep);
    arena_destroy(&x.scratch);
    arena_destroy(&x.leaf);
    mem_budget_destroy(&x.budget);
    return rc;
}
