/*
 * qenv.c — the query engine's view of this server (query_env): the tables
 * of this node (storage/db.h snapshots), and for sys.segments and sys.tasks
 * the catalog's segments (available when the table's snapshot reads them,
 * with its realtime buffers) and jobs, and for LOOKUP() the lookups stored
 * in the catalog (api/lookups.c manages them: each query that names one
 * reads its map when it is bound). Over the nodes of a cluster, fanout.c's
 * api__query_env puts its own table readers in place of this node's.
 *
 * Entry point: api__query_env_local().
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "query/query.h"
#include "storage/db.h"

static int open_table(void *ctx, const char *name, struct storage_snapshot **snap,
                      struct lerr *err)
{
    const struct api_query_ctx *qc = ctx;
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
            /* in a cluster a committed segment is read from the store by the node
             * that serves it, whether or not this node has it open */
            .available = found != NULL || catalog_is_shared(srv->cat),
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

void api__query_env_local(struct api_query_ctx *qc, struct query_env *env, struct sql_lookups *lk)
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
}
