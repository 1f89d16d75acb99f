/*
 * query.c — POST /v1/query/sql (and the project-scoped path): Druid SQL over
 * the tables, through the query engine (src/query/) on snapshots the engine
 * (storage/db.h) hands out, so a query never blocks ingestion. Keeps a latency histogram
 * for GET /metrics, beside the memory all running queries hold. A query
 * past its memory budget answers 400, past the pool of all queries 503
 * (query.h "Memory"). The queries' environment (api__query_env) also
 * gives LOOKUP() the lookups stored in the catalog (api/lookups.c manages
 * them): each query that names one reads its map when it is bound.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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
    struct api_server *srv = ctx;
    *snap = storage_db_snapshot(srv->db, name, err);
    return *snap ? 0 : err->code;
}

static void close_table(void *ctx, struct storage_snapshot *snap)
{
    (void)ctx;
    storage_snapshot_free(snap);
}

static int list_tables(void *ctx, query_table_fn fn, void *arg, struct lerr *err)
{
    struct api_server *srv = ctx;
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
    struct api_server *srv = ctx;
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
    struct api_server *srv = ctx;
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

void api__query_env(struct api_server *srv, struct query_env *env, struct sql_lookups *lk)
{
    *lk = (struct sql_lookups){srv, lookup_get, lookup_names};
    *env = (struct query_env){srv, open_table, close_table, list_tables, lk};
}

static void observe(double ms, bool ok)
{
    size_t b = 0;
    while (b < LS_ARRAY_LEN(latency_buckets_ms) && ms > latency_buckets_ms[b])
        b++;
    atomic_fetch_add(&latency_hist[b], 1);
    atomic_fetch_add(&latency_us_total, (long long)(ms * 1000));
    if (!ok)
        atomic_fetch_add(&query_errors, 1);
}

int api_query_sql(struct api_req *r)
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
    if (!r->body || r->body_len == 0) {
        lerr_set(&err, LERR_INVALID,
                 "the request needs a JSON body such as {\"query\": "
                 "\"SELECT COUNT(*) FROM \\\"wikipedia\\\"\"}");
    } else if (api_query_request_parse(r->body, r->body_len, &req, &mem, &err) == 0) {
        struct query_env env;
        struct sql_lookups lk;
        api__query_env(r->srv, &env, &lk);
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
    observe((double)(util_mono_ns() - t0) / 1e6, err.code == 0);
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
