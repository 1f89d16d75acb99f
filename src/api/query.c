/*
 * query.c — POST /v1/query/sql (and the project-scoped path): Druid SQL over
 * the tables, through the query engine (src/query/) on snapshots the engine
 * (storage/db.h) hands out, so a query never blocks ingestion. The engine's
 * view of the server (api__query_env, shared with druid.c): tables, and for
 * sys.segments and sys.tasks the catalog's segments (available when the
 * table's snapshot reads them, with its realtime buffers) and jobs, and for
 * LOOKUP() the lookups stored in the catalog (api/lookups.c manages them:
 * each query that names one reads its map when it is bound). Keeps a
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

static int open_table(void *ctx, const char *name, struct storage_snapshot **snap,
                      struct lerr *err)
{
    const struct api_query_ctx *qc = ctx;
    if (catalog_is_shared(qc->srv->cat)) /* every node's rows (fanout.c) */
        return api__fanout_snapshot(qc->srv, name, qc->timeout_ms, snap, err);
    *snap = storage_db_snapshot(qc->srv->db, name, err);
    return *snap ? 0 : err->code;
}

static void close_table(void *ctx, struct storage_snapshot *snap)
{
    (void)ctx;
    storage_snapshot_free(snap);
}

static int list_tables(void *ctx, query_table_fn fn, void *arg, struct lerr *err)
{
    struct api_server *srv = ((struct api_query_ctx *)ctx)->srv;
    struct catalog_doc_list l;
    if (catalog_doc_list(srv->cat, CATALOG_TABLE, &l, err))
        return err->code;
    int rc = 0;
    for (size_t i = 0; i < l.n && !rc; i++) {
        struct lerr e;
        lerr_init(&e);
        struct storage_snapshot *s = storage_db_snapshot(srv->db, l.items[i].name, &e);
        if (!s)
            continue; /* a table that cannot open is left out, not fatal */
        rc = fn(arg, l.items[i].name, s->cols, s->ncols);
        storage_snapshot_free(s);
    }
    catalog_doc_list_free(&l);
    return rc;
}

/* ---- sys.segments and sys.tasks ---------------------------------------------------- */

struct named_view {
    const char *name;
    const struct storage_view *v;
};

static int cmp_named_view(const void *a, const void *b)
{
    return strcmp(((const struct named_view *)a)->name, ((const struct named_view *)b)->name);
}

/* The view's dimension and measure names as JSON arrays (malloc'd; NULL on
 * no memory), or the snapshot's columns when v is NULL. */
static void column_lists(const struct storage_snapshot *s, const struct storage_view *v,
                         char **dims, char **metrics)
{
    json_t *d = json_array(), *m = json_array();
    for (size_t c = 1; c < s->ncols; c++) {
        if (v && !storage_view_has_column(v, c))
            continue;
        json_array_append_new(s->cols[c].kind == STORAGE_MEASURE ? m : d,
                              json_string(s->cols[c].name));
    }
    *dims = json_dumps(d, JSON_COMPACT);
    *metrics = json_dumps(m, JSON_COMPACT);
    json_decref(d);
    json_decref(m);
}

/* One table's segments: the published ones from the catalog (available when
 * the snapshot reads them), then its realtime buffers. */
static int table_segments(struct api_server *srv, const char *table, query_segment_fn fn,
                          void *arg, struct lerr *err)
{
    struct catalog_segment_list segs;
    if (catalog_segment_list(srv->cat, table, &segs, err))
        return err->code;
    struct lerr e;
    lerr_init(&e);
    struct storage_snapshot *snap = storage_db_snapshot(srv->db, table, &e);
    size_t nv = snap ? snap->nviews : 0;
    struct named_view *views = calloc(nv ? nv : 1, sizeof *views);
    if (!views) {
        storage_snapshot_free(snap);
        catalog_segment_list_free(&segs);
        return lerr_set(err, LERR_NOMEM, "out of memory listing the segments of '%s'", table);
    }
    for (size_t i = 0; i < nv; i++)
        views[i] = (struct named_view){storage_view_name(snap->views[i]), snap->views[i]};
    qsort(views, nv, sizeof *views, cmp_named_view);
    int rc = 0;
    int64_t version = 0, partition = 0;
    for (size_t i = 0; i < segs.n && !rc; i++) {
        const struct catalog_segment *cs = &segs.items[i];
        /* listed by chunk, then creation: the chunk's first segment gives its version */
        if (i == 0 || cs->chunk_start != segs.items[i - 1].chunk_start) {
            version = cs->created_ns / 1000000;
            partition = 0;
        } else {
            partition++;
        }
        const char *slash = strrchr(cs->path, '/');
        const char *file = slash ? slash + 1 : cs->path;
        struct named_view key = {file, NULL};
        const struct named_view *found =
            nv ? bsearch(&key, views, nv, sizeof *views, cmp_named_view) : NULL;
        if (found && storage_view_is_realtime(found->v))
            found = NULL;
        char *dims = NULL, *metrics = NULL;
        if (found)
            column_lists(snap, found->v, &dims, &metrics);
        struct query_segment q = {
            .table = table,
            .file = file,
            .start_ms = cs->chunk_start,
            .end_ms = cs->chunk_end,
            .version_ms = version,
            .partition = partition,
            .bytes = cs->bytes,
            .rows = cs->rows,
            .published = true,
            .available = found != NULL,
            .realtime = false,
            .dimensions = dims,
            .metrics = metrics,
        };
        rc = fn(arg, &q);
        free(dims);
        free(metrics);
    }
    for (size_t i = 0; i < nv && !rc; i++) {
        const struct storage_view *v = snap->views[i];
        if (!storage_view_is_realtime(v))
            continue;
        char *dims = NULL, *metrics = NULL;
        column_lists(snap, v, &dims, &metrics);
        struct query_segment q = {
            .table = table,
            .rows = (int64_t)storage_view_rows(v),
            .available = true,
            .realtime = true,
            .dimensions = dims,
            .metrics = metrics,
        };
        storage_view_chunk(v, &q.start_ms, &q.end_ms);
        rc = fn(arg, &q);
        free(dims);
        free(metrics);
    }
    free(views);
    storage_snapshot_free(snap);
    catalog_segment_list_free(&segs);
    return rc;
}

static int list_segments(void *ctx, query_segment_fn fn, void *arg, struct lerr *err)
{
    struct api_server *srv = ((struct api_query_ctx *)ctx)->srv;
    struct catalog_doc_list l;
    if (catalog_doc_list(srv->cat, CATALOG_TABLE, &l, err))
        return err->code;
    int rc = 0;
    for (size_t i = 0; i < l.n && !rc; i++)
        rc = table_segments(srv, l.items[i].name, fn, arg, err);
    catalog_doc_list_free(&l);
    return rc;
}

static int list_tasks(void *ctx, query_task_fn fn, void *arg, struct lerr *err)
{
    struct api_server *srv = ((struct api_query_ctx *)ctx)->srv;
    struct catalog_job_list l;
    if (catalog_job_list(srv->cat, &l, err))
        return err->code;
    int rc = 0;
    for (size_t i = 0; i < l.n && !rc; i++) {
        const struct catalog_job *j = &l.items[i];
        struct query_task t = {
            .id = j->id,
            .type = catalog_job_type_name(j->type),
            .table = j->table_name,
            .status = catalog_job_state_name(j->status),
            .error = j->health_message[0] ? j->health_message : NULL,
            .created_ms = j->created_ns / 1000000,
            .started_ms = j->started_ns / 1000000,
            .completed_ms = j->completed_ns / 1000000,
        };
        rc = fn(arg, &t);
    }
    catalog_job_list_free(&l);
    return rc;
}

/* ---- lookups for LOOKUP() (sql.h's struct sql_lookups), from the catalog ---- */

struct loaded_lookup {
    json_t *doc; /* holds the strings the entries point to */
    struct sql_lookup_entry e[];
};

static int cmp_entry(const void *a, const void *b)
{
    const struct sql_lookup_entry *x = a, *y = b;
    size_t m = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = m ? memcmp(x->key, y->key, m) : 0;
    if (c)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static void lookup_release(void *h)
{
    struct loaded_lookup *l = h;
    json_decref(l->doc);
    free(l);
}

static int lookup_get(void *ctx, const char *name, size_t len, struct sql_lookup *out,
                      struct lerr *err)
{
    struct api_server *srv = ((struct api_query_ctx *)ctx)->srv;
    char nm[256];
    if (len >= sizeof nm || memchr(name, '\0', len))
        return LERR_NOT_FOUND;
    memcpy(nm, name, len);
    nm[len] = '\0';
    struct catalog_doc d = {0};
    struct lerr e;
    lerr_init(&e);
    int rc = catalog_doc_get(srv->cat, CATALOG_LOOKUP, nm, &d, &e);
    if (rc == LERR_NOT_FOUND)
        return rc;
    if (rc)
        return lerr_set(err, rc, "%s", e.msg);
    json_t *doc = json_loads(d.doc, 0, NULL);
    catalog_doc_destroy(&d);
    json_t *map = json_object_get(doc, "map");
    if (!json_is_object(map)) {
        json_decref(doc);
        return lerr_set(err, LERR_CORRUPT, "the stored lookup '%s' has no map", nm);
    }
    size_t n = json_object_size(map);
    struct loaded_lookup *l = malloc(sizeof *l + sizeof l->e[0] * (n ? n : 1));
    if (!l) {
        json_decref(doc);
        return lerr_set(err, LERR_NOMEM, "out of memory");
    }
    l->doc = doc;
    size_t i = 0;
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(map, k, klen, v)
    {
        if (!json_is_string(v) || i >= n)
            continue;
        l->e[i++] = (struct sql_lookup_entry){k, json_string_value(v), (uint32_t)klen,
                                              (uint32_t)json_string_length(v)};
    }
    qsort(l->e, i, sizeof l->e[0], cmp_entry);
    *out = (struct sql_lookup){l->e, i, lookup_release, l};
    return 0;
}

static bool lookup_names(void *ctx, struct buf *out)
{
    struct api_server *srv = ((struct api_query_ctx *)ctx)->srv;
    struct catalog_doc_list l;
    struct lerr e;
    lerr_init(&e);
    if (catalog_doc_list(srv->cat, CATALOG_LOOKUP, &l, &e))
        return false;
    for (size_t i = 0; i < l.n; i++)
        buf_printf(out, "%s\n", l.items[i].name);
    catalog_doc_list_free(&l);
    return !out->failed;
}

void api__query_env(struct api_query_ctx *qc, struct query_env *env, struct sql_lookups *lk)
{
    *lk = (struct sql_lookups){qc, lookup_get, lookup_names};
    *env = (struct query_env){
        .ctx = qc,
        .lookups = lk,
        .open_table = open_table,
        .close_table = close_table,
        .list_tables = list_tables,
        .list_segments = list_segments,
        .list_tasks = list_tasks,
    };
    if (qc->body && catalog_is_shared(qc->srv->cat)) {
        env->open_schema = api__fanout_schema;
        env->partials = api__fanout_partials;
    }
}

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
