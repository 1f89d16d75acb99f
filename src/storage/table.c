/*
 * table.c — a table's data: the versioned set of segments and realtime
 * buffers readers see, the writer's path (append → realtime buffers →
 * persist → segments), compaction, start-up over a data directory, status
 * and drop.
 *
 * Entry points: storage_table_open/free(), storage_table_add_column(),
 * storage_table_widen_column(),
 * storage_table_append(), storage_table_should_persist(),
 * storage_table_persist(), storage_table_compact(),
 * storage_table_drop_data(), storage_table_status(),
 * storage_table_snapshot().
 *
 * Locks, in the order they nest:
 *   commit_lock   one catalog commit + swap at a time (persist, compaction,
 *                 drop), so a compaction never commits against segments a
 *                 drop already removed
 *   vlock         guards `cur`, the published version; held only to derive
 *                 a new version from it or to take a reference
 *   compact_lock  one compaction at a time (taken before commit_lock)
 * The writer's own state (active buffers, scratch arena) belongs to the
 * writer thread and needs no lock.
 *
 * Segment files are reached only through the table's segment store
 * (segstore.h; storage_open_opts.store, or a local one over `dir`): written
 * by segwrite.c, opened by segread.c, listed, swept and removed here.
 *
 * Why one file of ~1,300 lines: a table's versions (derive, publish) are the one
 * state that persist, compaction, start-up and dropping all change under the same lock.
 */
#include <stdio.h>

#include "storage/storage_int.h"
#include "util/vec.h"

#define DEF_MAX_ROWS 1000000ULL
#define DEF_MAX_BYTES (256ULL << 20)
#define DEF_MAX_AGE_MS 10000
#define DEF_COMPACT_ROWS 5000000ULL

struct active {
    int64_t chunk;
    struct rt_buf *rt;
};

struct corrupt_ent {
    char *name;
    char *msg;
    int64_t chunk_start, chunk_end; /* INT64_MIN, INT64_MAX when unknown */
};

struct storage_table {
    char *dir, *name;
    struct segstore *store; /* the segment files (segstore.h) */
    struct storage_limits lim;
    pthread_mutex_t vlock;
    struct storage__version *cur;
    pthread_mutex_t commit_lock;
    pthread_mutex_t compact_lock;
    /* writer */
    struct storage__schema *schema;
    struct active *active;
    size_t nactive, cap_active;
    struct arena scratch;
    /* any thread */
    _Atomic int64_t oldest_ms; /* first unpersisted append, 0 = none */
    _Atomic uint64_t rt_rows, rt_bytes;
    pthread_mutex_t corrupt_lock;
    struct corrupt_ent *corrupt;
    size_t ncorrupt;
    /* buffers sealed for a persist that has not published yet (seal_lock) */
    pthread_mutex_t seal_lock;
    struct rt_buf **sealed;
    size_t nsealed, cap_sealed;
};

/* A set of sealed buffers on its way to segments (storage_table_seal). */
struct storage_sealed {
    struct rt_buf **rts;
    size_t n;
    uint64_t rows;
};

static int nomem(struct lerr *err) { return lerr_set(err, LERR_NOMEM, "storage: out of memory"); }

/* ---- versions ------------------------------------------------------------ */

/* Maps schema columns to the segment's by name; incompatible ones read as
 * NULL (logged once per segment and column). */
static struct storage__vseg *vseg_new(struct storage__seg *seg, const struct storage__schema *sc,
                                      const struct storage__vseg *prev)
{
    struct storage__vseg *vs = malloc(sizeof *vs + sc->ncols * sizeof vs->colmap[0]);
    if (!vs)
        return NULL;
    atomic_init(&vs->refs, 1);
    vs->seg = storage__seg_ref(seg);
    vs->ncols = sc->ncols;
    for (size_t i = 0; i < sc->ncols; i++) {
        if (prev && i < prev->ncols) {
            vs->colmap[i] = prev->colmap[i];
            continue;
        }
        vs->colmap[i] = -1;
        for (size_t j = 0; j < seg->ncols; j++) {
            if (strcmp(seg->cols[j].def.name, sc->cols[i].name) != 0)
                continue;
            if (seg->cols[j].def.kind == sc->cols[i].kind &&
                (sc->cols[i].kind == STORAGE_DIMENSION ||
                 storage__column_compatible(&seg->cols[j].def, &sc->cols[i])))
                vs->colmap[i] = (int32_t)j;
            else
                log_msg(LOG_WARN, "storage",
                        "segment %s: column '%s' is stored as a different kind or aggregator "
                        "than the table declares; it reads as NULL there",
                        seg->name, sc->cols[i].name);
            break;
        }
    }
    return vs;
}

/*
 * Derives a version from `old` (NULL = empty): drops the segments in
 * drop_segs and buffers in drop_rts, adds add_segs and add_rts, and maps
 * every segment to `sc`. Returns NULL on OOM.
 */
static struct storage__version *
version_derive(const struct storage__version *old, struct storage__schema *sc,
               struct storage__seg *const *drop_segs, size_t ndrop_segs,
               struct rt_buf *const *drop_rts, size_t ndrop_rts,
               struct storage__seg *const *add_segs, size_t nadd_segs,
               struct rt_buf *const *add_rts, size_t nadd_rts)
{
    struct storage__version *v = calloc(1, sizeof *v);
    size_t oseg = old ? old->nsegs : 0, ort = old ? old->nrts : 0;
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    v->schema = storage__schema_ref(sc);
    v->segs = calloc(oseg + nadd_segs + 1, sizeof *v->segs);
    v->rts = calloc(ort + nadd_rts + 1, sizeof *v->rts);
    if (!v->segs || !v->rts)
        goto fail;
    for (size_t i = 0; i < oseg; i++) {
        struct storage__vseg *vs = old->segs[i];
        bool drop = false;
        for (size_t j = 0; j < ndrop_segs && !drop; j++)
            drop = vs->seg == drop_segs[j];
        if (drop)
            continue;
        if (vs->ncols == sc->ncols) {
            atomic_fetch_add_explicit(&vs->refs, 1, memory_order_relaxed);
        } else if (!(vs = vseg_new(vs->seg, sc, vs))) {
            goto fail;
        }
        v->segs[v->nsegs++] = vs;
    }
    for (size_t i = 0; i < nadd_segs; i++) {
        struct storage__vseg *vs = vseg_new(add_segs[i], sc, NULL);
        if (!vs)
            goto fail;
        v->segs[v->nsegs++] = vs;
    }
    for (size_t i = 0; i < ort; i++) {
        bool drop = false;
        for (size_t j = 0; j < ndrop_rts && !drop; j++)
            drop = old->rts[i] == drop_rts[j];
        if (!drop)
            v->rts[v->nrts++] = rt_ref(old->rts[i]);
    }
    for (size_t i = 0; i < nadd_rts; i++)
        v->rts[v->nrts++] = rt_ref(add_rts[i]);
    return v;
fail:
    storage__version_unref(v);
    return NULL;
}

/*
 * Publishes a new version derived from the current one. t->schema is only
 * replaced here, under vlock (with `schema`, when not NULL, taking over the
 * caller's reference), so that a compaction publishing from its own thread
 * reads a stable schema.
 */
static int publish_ex(struct storage_table *t, struct storage__schema *schema,
                      struct storage__seg *const *drop_segs, size_t ndrop_segs,
                      struct rt_buf *const *drop_rts, size_t ndrop_rts,
                      struct storage__seg *const *add_segs, size_t nadd_segs,
                      struct rt_buf *const *add_rts, size_t nadd_rts, struct lerr *err)
{
    pthread_mutex_lock(&t->vlock);
    struct storage__schema *sc = schema ? schema : t->schema;
    struct storage__version *v = version_derive(t->cur, sc, drop_segs, ndrop_segs, drop_rts,
                                                ndrop_rts, add_segs, nadd_segs, add_rts, nadd_rts);
    struct storage__version *old = v ? t->cur : NULL;
    struct storage__schema *old_schema = NULL;
    if (v) {
        t->cur = v;
        if (schema) {
            old_schema = t->schema;
            t->schema = schema;
        }
    }
    pthread_mutex_unlock(&t->vlock);
    if (!v)
        return nomem(err);
    storage__version_unref(old);
    storage__schema_unref(old_schema);
    return 0;
}

static int publish(struct storage_table *t, struct storage__seg *const *drop_segs,
                   size_t ndrop_segs, struct rt_buf *const *drop_rts, size_t ndrop_rts,
                   struct storage__seg *const *add_segs, size_t nadd_segs,
                   struct rt_buf *const *add_rts, size_t nadd_rts, struct lerr *err)
{
    return publish_ex(t, NULL, drop_segs, ndrop_segs, drop_rts, ndrop_rts, add_segs, nadd_segs,
                      add_rts, nadd_rts, err);
}

static struct storage__version *current(struct storage_table *t)
{
    pthread_mutex_lock(&t->vlock);
    struct storage__version *v = storage__version_ref(t->cur);
    pthread_mutex_unlock(&t->vlock);
    return v;
}

/* ---- corrupt list -------------------------------------------------------- */

static void add_corrupt(struct storage_table *t, const char *name, const char *msg,
                        int64_t chunk_start, int64_t chunk_end)
{
    log_msg(LOG_ERROR, "storage", "table %s: %s", t->name, msg);
    pthread_mutex_lock(&t->corrupt_lock);
    void *p = realloc(t->corrupt, (t->ncorrupt + 1) * sizeof *t->corrupt);
    if (p) {
        t->corrupt = p;
        t->corrupt[t->ncorrupt].chunk_start = chunk_start;
        t->corrupt[t->ncorrupt].chunk_end = chunk_end;
        t->corrupt[t->ncorrupt].name = strdup(name);
        t->corrupt[t->ncorrupt].msg = strdup(msg);
        if (t->corrupt[t->ncorrupt].name && t->corrupt[t->ncorrupt].msg)
            t->ncorrupt++;
        else {
            free(t->corrupt[t->ncorrupt].name);
            free(t->corrupt[t->ncorrupt].msg);
        }
    }
    pthread_mutex_unlock(&t->corrupt_lock);
}

static void clear_corrupt(struct storage_table *t)
{
    pthread_mutex_lock(&t->corrupt_lock);
    for (size_t i = 0; i < t->ncorrupt; i++) {
        free(t->corrupt[i].name);
        free(t->corrupt[i].msg);
    }
    free(t->corrupt);
    t->corrupt = NULL;
    t->ncorrupt = 0;
    pthread_mutex_unlock(&t->corrupt_lock);
}

/* ---- open / free --------------------------------------------------------- */

static bool plain_name(const char *s)
{
    return s && *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Adds to the schema the columns a segment has that it lacks. */
static int adopt_columns(struct storage_table *t, const struct storage__seg *s, struct lerr *err)
{
    for (size_t j = 1; j < s->ncols; j++) {
        const struct storage_column *d = &s->cols[j].def;
        if (storage__schema_find(t->schema, d->name, strlen(d->name)) >= 0)
            continue;
        struct lerr e2;
        lerr_init(&e2);
        struct storage__schema *ns = storage__schema_add(t->schema, d, &e2);
        if (!ns) {
            if (e2.code == LERR_NOMEM)
                return lerr_set(err, LERR_NOMEM, "%s", e2.msg);
            log_msg(LOG_WARN, "storage", "table %s: segment %s: column '%s' not adopted: %s",
                    t->name, s->name, d->name, e2.msg);
            continue;
        }
        storage__schema_unref(t->schema);
        t->schema = ns; /* start-up: no other thread knows the table yet */
    }
    return 0;
}

/* segstore_list callback: collects the names present. */
struct name_list {
    char **v;
    size_t n, cap;
};

static int collect_name(void *ctx, const char *name)
{
    struct name_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return LERR_NOMEM;
        l->v = p;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name)))
        return LERR_NOMEM;
    l->n++;
    return 0;
}

static int load_segments(struct storage_table *t, const struct storage_open_opts *o,
                         struct lerr *err)
{
    size_t nknown = o ? o->nknown : 0;
    bool *seen = calloc(nknown + 1, 1);
    struct storage__seg **segs = calloc(nknown + 1, sizeof *segs);
    struct name_list present = {0};
    size_t nsegs = 0, kept = 0;
    int rc = 0;
    if (!seen || !segs) {
        rc = nomem(err);
        goto out;
    }
    /* temp files of an interrupted persist: not table data */
    if (segstore_remove_temps(t->store, NULL, err) ||
        segstore_list(t->store, collect_name, &present, err)) {
        rc = err->code ? err->code : nomem(err);
        goto out;
    }
    for (size_t i = 0; i < present.n; i++) {
        const char *name = present.v[i];
        size_t k = 0;
        while (k < nknown && (!o->known[k] || strcmp(o->known[k], name) != 0))
            k++;
        if ((k == nknown || seen[k]) && o && o->keep_unknown) {
            kept++;
            continue;
        }
        if (k == nknown || seen[k]) {
            /* a segment whose commit never happened (or was dropped): not table data */
            struct lerr e2;
            lerr_init(&e2);
            if (segstore_remove(t->store, name, &e2) == 0)
                log_msg(LOG_INFO, "storage", "table %s: removed %s/%s: not a committed segment",
                        t->name, t->dir, name);
            else
                log_msg(LOG_WARN, "storage", "table %s: cannot remove stray file %s/%s: %s",
                        t->name, t->dir, name, e2.msg);
            continue;
        }
        seen[k] = true;
        if (o->known_deferred && o->known_deferred[k])
            continue; /* read when a query needs it */
        struct lerr e2;
        lerr_init(&e2);
        struct storage__seg *s;
        int orc = storage__seg_open(t->store, name, &s, &e2);
        if (orc == 0 && o->verify_all && storage__seg_verify_all(s, &e2) != 0) {
            storage__seg_unref(s);
            orc = LERR_CORRUPT;
        }
        if (orc == LERR_NOMEM) {
            rc = lerr_set(err, LERR_NOMEM, "%s", e2.msg);
            break;
        }
        if (orc) {
            add_corrupt(t, name, e2.msg, o->known_chunks ? o->known_chunks[2 * k] : INT64_MIN,
                        o->known_chunks ? o->known_chunks[2 * k + 1] : INT64_MAX);
            continue;
        }
        segs[nsegs++] = s;
    }
    for (size_t k = 0; rc == 0 && k < nknown; k++) {
        if (seen[k] || (o->known_deferred && o->known_deferred[k]))
            continue; /* (a query that needs a deferred one names it when it does not read) */
        char msg[600];
        snprintf(msg, sizeof msg,
                 "segment %s is in the catalog but not in %s; its rows are missing until the "
                 "file is restored",
                 plain_name(o->known[k]) ? o->known[k] : "(invalid name)", t->dir);
        add_corrupt(t, o->known[k] ? o->known[k] : "", msg,
                    o->known_chunks ? o->known_chunks[2 * k] : INT64_MIN,
                    o->known_chunks ? o->known_chunks[2 * k + 1] : INT64_MAX);
    }
    if (kept)
        log_msg(LOG_INFO, "storage",
                "table %s: %zu segment(s) in %s the catalog does not list are left in place "
                "(another node may be about to commit them)",
                t->name, kept, t->dir);
    for (size_t i = 0; rc == 0 && i < nsegs; i++)
        rc = adopt_columns(t, segs[i], err);
    if (rc == 0)
        rc = publish(t, NULL, 0, NULL, 0, segs, nsegs, NULL, 0, err);
out:
    for (size_t i = 0; segs && i < nsegs; i++)
        storage__seg_unref(segs[i]);
    for (size_t i = 0; i < present.n; i++)
        free(present.v[i]);
    free(present.v);
    free(segs);
    free(seen);
    return rc;
}

int storage_table_open(const char *dir, const char *name, const struct storage_schema *schema,
                       const struct storage_open_opts *opts, struct storage_table **out,
                       struct lerr *err)
{
    *out = NULL;
    struct storage__schema *sc = storage__schema_new(schema, err);
    if (!sc)
        return err->code;
    struct storage_table *t = calloc(1, sizeof *t);
    if (!t) {
        storage__schema_unref(sc);
        return nomem(err);
    }
    t->schema = sc;
    t->dir = strdup(dir);
    t->name = strdup(name ? name : dir);
    pthread_mutex_init(&t->vlock, NULL);
    pthread_mutex_init(&t->commit_lock, NULL);
    pthread_mutex_init(&t->compact_lock, NULL);
    pthread_mutex_init(&t->corrupt_lock, NULL);
    pthread_mutex_init(&t->seal_lock, NULL);
    arena_init(&t->scratch, 64 * 1024, 0);
    atomic_init(&t->oldest_ms, 0);
    atomic_init(&t->rt_rows, 0);
    atomic_init(&t->rt_bytes, 0);
    if (opts)
        t->lim = opts->limits;
    if (!t->lim.max_rows)
        t->lim.max_rows = DEF_MAX_ROWS;
    if (!t->lim.max_bytes)
        t->lim.max_bytes = DEF_MAX_BYTES;
    if (!t->lim.max_age_ms)
        t->lim.max_age_ms = DEF_MAX_AGE_MS;
    int rc = 0;
    if (!t->dir || !t->name)
        rc = nomem(err);
    if (rc == 0)
        rc = util_mkdirs(dir, 0755, err);
    if (rc == 0 && opts && opts->store)
        t->store = segstore_ref(opts->store);
    else if (rc == 0)
        rc = segstore_local_new(dir, &t->store, err);
    if (rc == 0) {
        struct storage_open_opts none = {0};
        rc = load_segments(t, opts ? opts : &none, err);
    }
    if (rc) {
        storage_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void storage_table_free(struct storage_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nactive; i++)
        rt_unref(t->active[i].rt);
    free(t->active);
    storage__version_unref(t->cur);
    storage__schema_unref(t->schema);
    clear_corrupt(t);
    arena_destroy(&t->scratch);
    pthread_mutex_destroy(&t->vlock);
    pthread_mutex_destroy(&t->commit_lock);
    pthread_mutex_destroy(&t->compact_lock);
    pthread_mutex_destroy(&t->corrupt_lock);
    pthread_mutex_destroy(&t->seal_lock);
    free(t->sealed);
    segstore_unref(t->store);
    free(t->dir);
    free(t->name);
    free(t);
}

/* ---- schema -------------------------------------------------------------- */

int storage_table_add_column(struct storage_table *t, const struct storage_column *col,
                             struct lerr *err)
{
    struct storage__schema *ns = storage__schema_add(t->schema, col, err);
    if (!ns)
        return -1;
    if (publish_ex(t, ns, NULL, 0, NULL, 0, NULL, 0, NULL, 0, err)) {
        storage__schema_unref(ns);
        return -1;
    }
    return (int)(ns->ncols - 1);
}

/* Whether `to` is wider than `from` under discovery's rules (LONG < DOUBLE < STRING). */
static bool wider(int from, int to)
{
    if (from == to)
        return false;
    if (to == SQL_STRING)
        return storage__is_longish(from) || storage__is_doubleish(from);
    return to == SQL_DOUBLE && from == SQL_LONG;
}

static void seal(struct storage_table *t, struct rt_buf *b);

int storage_table_widen_column(struct storage_table *t, size_t col, int type, struct lerr *err)
{
    if (col == 0 || col >= t->schema->ncols || t->schema->cols[col].kind != STORAGE_DIMENSION)
        return lerr_set(err, LERR_INVALID, "storage: table %s: column %zu is not a dimension",
                        t->name, col);
    const struct storage_column *c = &t->schema->cols[col];
    if (!wider(c->type, type))
        return lerr_set(err, LERR_INVALID,
                        "storage: table %s: column '%s' cannot widen from %s to %s (only LONG to "
                        "DOUBLE, and numbers to STRING)",
                        t->name, c->name, sql_type_name(c->type), sql_type_name(type));
    struct storage__schema *ns = storage__schema_retype(t->schema, col, type, err);
    if (!ns)
        return err->code;
    if (publish_ex(t, ns, NULL, 0, NULL, 0, NULL, 0, NULL, 0, err)) {
        storage__schema_unref(ns);
        return err->code;
    }
    /* Buffers keep the types they were made with: new rows go to fresh ones. */
    while (t->nactive)
        seal(t, t->active[0].rt);
    return 0;
}

/*
 * The schema a realtime buffer's rows are written with: the table's, with
 * each column the buffer stores as another type (a buffer sealed by a
 * widening) at the buffer's type. A new reference; NULL with err set.
 */
static struct storage__schema *buffer_schema(struct storage__schema *sc, const struct rt_buf *b,
                                             struct lerr *err)
{
    struct storage__schema *cur = storage__schema_ref(sc);
    size_t n = rt_ncols(b) < sc->ncols ? rt_ncols(b) : sc->ncols;
    for (size_t i = 1; i < n && cur; i++) {
        int bt = rt_col_type(b, i);
        if (cur->cols[i].kind != STORAGE_DIMENSION || bt == cur->cols[i].type)
            continue;
        struct storage__schema *ns = storage__schema_retype(cur, i, bt, err);
        storage__schema_unref(cur);
        cur = ns;
    }
    return cur;
}

/* storage__seg_write of a realtime buffer with the types it holds (buffer_schema). */
static int write_buffer(struct segstore *store, const char *name, struct storage__schema *sc,
                        const struct rt_buf *b, uint64_t rows, struct storage_segment_info *info,
                        struct lerr *err)
{
    struct storage__schema *bs = buffer_schema(sc, b, err);
    int rc = bs ? storage__seg_write(store, name, bs, b, rows, false, info, err) : err->code;
    storage__schema_unref(bs);
    return rc;
}

size_t storage_table_ncols(const struct storage_table *t) { return t->schema->ncols; }

const struct storage_column *storage_table_column(const struct storage_table *t, size_t i)
{
    return i < t->schema->ncols ? &t->schema->cols[i] : NULL;
}

int storage_table_find_column(const struct storage_table *t, const char *name, size_t n)
{
    return storage__schema_find(t->schema, name, n);
}

/* ---- append -------------------------------------------------------------- */

static int check_batch(const struct storage_table *t, const struct storage_batch *b,
                       struct lerr *err)
{
    const struct storage__schema *sc = t->schema;
    if (b->nrows && !b->time)
        return lerr_set(err, LERR_INVALID, "storage: a batch of %u rows has no __time values",
                        b->nrows);
    if (b->ncols && !b->cols)
        return lerr_set(err, LERR_INVALID, "storage: batch columns missing");
    for (uint32_t i = 0; i < b->ncols; i++) {
        uint32_t c = b->cols[i].col;
        if (c == 0 || c >= sc->ncols)
            return lerr_set(err, LERR_INVALID,
                            "storage: batch column %u is not a column of table %s (1..%zu)", c,
                            t->name, sc->ncols - 1);
        for (uint32_t j = 0; j < i; j++)
            if (b->cols[j].col == c)
                return lerr_set(err, LERR_INVALID, "storage: column '%s' appears twice in a batch",
                                sc->cols[c].name);
        if (sc->cols[c].kind == STORAGE_MEASURE ? !b->cols[i].states : !b->cols[i].values)
            return lerr_set(err, LERR_INVALID, "storage: batch column '%s' has no %s",
                            sc->cols[c].name,
                            sc->cols[c].kind == STORAGE_MEASURE ? "aggregator states" : "values");
    }
    return 0;
}

static uint64_t buffer_cap(const struct storage_table *t) { return t->lim.max_rows * 2; }

/* The writer's open buffer for a chunk, created (and published) if needed. */
static struct rt_buf *active_for(struct storage_table *t, int64_t chunk, struct lerr *err)
{
    for (size_t i = 0; i < t->nactive; i++)
        if (t->active[i].chunk == chunk)
            return t->active[i].rt;
    if (t->nactive == t->cap_active) {
        void *p = vec_grow(t->active, &t->cap_active, t->nactive + 1, sizeof *t->active, 8);
        if (!p) {
            nomem(err);
            return NULL;
        }
        t->active = p;
    }
    struct rt_buf *b = rt_new(t->schema, chunk, storage_gran_next(t->schema->partitioning, chunk),
                              buffer_cap(t), err);
    if (!b)
        return NULL;
    /* readers must know the buffer before its first row is published */
    if (publish(t, NULL, 0, NULL, 0, NULL, 0, &b, 1, err)) {
        rt_unref(b);
        return NULL;
    }
    t->active[t->nactive].chunk = chunk;
    t->active[t->nactive].rt = b;
    t->nactive++;
    return b;
}

/* A full buffer stays visible (and is persisted) but takes no more rows. */
static void seal(struct storage_table *t, struct rt_buf *b)
{
    for (size_t i = 0; i < t->nactive; i++)
        if (t->active[i].rt == b) {
            rt_unref(b);
            t->active[i] = t->active[--t->nactive];
            return;
        }
}

static bool is_sealed(const struct storage_table *t, const struct rt_buf *b)
{
    for (size_t i = 0; i < t->nsealed; i++)
        if (t->sealed[i] == b)
            return true;
    return false;
}

/* Realtime usage that a persist has yet to take: buffers not sealed. */
static void update_usage(struct storage_table *t)
{
    uint64_t rows = 0, bytes = 0;
    struct storage__version *v = current(t);
    pthread_mutex_lock(&t->seal_lock);
    for (size_t i = 0; i < v->nrts; i++) {
        if (is_sealed(t, v->rts[i]))
            continue;
        rows += rt_rows(v->rts[i]);
        bytes += rt_bytes(v->rts[i]);
    }
    pthread_mutex_unlock(&t->seal_lock);
    storage__version_unref(v);
    atomic_store_explicit(&t->rt_rows, rows, memory_order_relaxed);
    atomic_store_explicit(&t->rt_bytes, bytes, memory_order_relaxed);
}

static int append_chunk(struct storage_table *t, const struct storage_batch *b, int64_t chunk,
                        const uint32_t *rows, uint32_t n, struct lerr *err)
{
    while (n) {
        struct rt_buf *rt = active_for(t, chunk, err);
        if (!rt)
            return err->code;
        int64_t got = rt_append(rt, t->schema, b, rows, n, &t->scratch, err);
        if (got < 0)
            return err->code;
        rows += got;
        n -= (uint32_t)got;
        if (n)
            seal(t, rt);
    }
    return 0;
}

int storage_table_append(struct storage_table *t, const struct storage_batch *b, struct lerr *err)
{
    if (check_batch(t, b, err))
        return err->code;
    if (!b->nrows)
        return 0;
    arena_reset(&t->scratch);
    const struct storage__schema *sc = t->schema;
    bool agg = sc->type == STORAGE_AGGREGATE;
    int64_t *chunk = arena_alloc(&t->scratch, b->nrows * sizeof *chunk);
    uint32_t *rows = arena_alloc(&t->scratch, b->nrows * sizeof *rows);
    bool *done = arena_zalloc(&t->scratch, b->nrows);
    if (!chunk || !rows || !done)
        return nomem(err);
    bool one = true;
    for (uint32_t r = 0; r < b->nrows; r++) {
        int64_t tm = agg ? storage_gran_floor(sc->time_resolution, b->time[r]) : b->time[r];
        chunk[r] = storage_gran_floor(sc->partitioning, tm);
        one = one && chunk[r] == chunk[0];
    }
    int rc = 0;
    if (one) {
        for (uint32_t r = 0; r < b->nrows; r++)
            rows[r] = r;
        rc = append_chunk(t, b, chunk[0], rows, b->nrows, err);
    } else {
        /* group rows by chunk, keeping their order within a chunk */
        for (uint32_t r = 0; r < b->nrows && rc == 0; r++) {
            if (done[r])
                continue;
            uint32_t n = 0;
            for (uint32_t q = r; q < b->nrows; q++)
                if (!done[q] && chunk[q] == chunk[r]) {
                    rows[n++] = q;
                    done[q] = true;
                }
            rc = append_chunk(t, b, chunk[r], rows, n, err);
        }
    }
    int64_t expect = 0;
    atomic_compare_exchange_strong(&t->oldest_ms, &expect, util_now_ms());
    update_usage(t);
    return rc;
}

bool storage_table_should_persist(const struct storage_table *t, int64_t now_ms)
{
    struct storage_table *m = (struct storage_table *)t;
    uint64_t rows = atomic_load_explicit(&m->rt_rows, memory_order_relaxed);
    uint64_t bytes = atomic_load_explicit(&m->rt_bytes, memory_order_relaxed);
    int64_t oldest = atomic_load_explicit(&m->oldest_ms, memory_order_relaxed);
    return rows >= t->lim.max_rows || bytes >= t->lim.max_bytes ||
           (oldest && now_ms - oldest >= t->lim.max_age_ms);
}

void storage_table_realtime_usage(const struct storage_table *t, uint64_t *rows, uint64_t *bytes)
{
    struct storage_table *m = (struct storage_table *)t;
    *rows = atomic_load_explicit(&m->rt_rows, memory_order_relaxed);
    *bytes = atomic_load_explicit(&m->rt_bytes, memory_order_relaxed);
}

/* ---- persist ------------------------------------------------------------- */

static void remove_named(struct segstore *store, const struct storage_segment_info *infos,
                         size_t n)
{
    for (size_t i = 0; i < n; i++)
        segstore_remove(store, infos[i].name, &(struct lerr){0});
}

/* Opens freshly committed files; one that fails is reported, not fatal
 * (the commit stands: the rows are in the file, and start-up will say it
 * is corrupt if it really is). */
static size_t open_committed(struct storage_table *t, const struct storage_segment_info *infos,
                             size_t n, struct storage__seg **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct lerr e2;
        lerr_init(&e2);
        if (storage__seg_open(t->store, infos[i].name, &out[k], &e2) == 0)
            k++;
        else
            add_corrupt(t, infos[i].name, e2.msg, infos[i].chunk_start, infos[i].chunk_end);
    }
    return k;
}

int storage_table_seal(struct storage_table *t, struct storage_sealed **out, struct lerr *err)
{
    *out = NULL;
    struct storage_sealed *s = calloc(1, sizeof *s);
    struct storage__version *v = current(t);
    if (!s || !(s->rts = calloc(v->nrts + 1, sizeof *s->rts))) {
        free(s);
        storage__version_unref(v);
        return nomem(err);
    }
    pthread_mutex_lock(&t->seal_lock);
    size_t need = t->nsealed + v->nrts;
    if (need > t->cap_sealed) {
        void *p = realloc(t->sealed, (need + 8) * sizeof *t->sealed);
        if (!p) {
            pthread_mutex_unlock(&t->seal_lock);
            storage__version_unref(v);
            storage_sealed_free(s);
            return nomem(err);
        }
        t->sealed = p;
        t->cap_sealed = need + 8;
    }
    for (size_t i = 0; i < v->nrts; i++) {
        if (is_sealed(t, v->rts[i]))
            continue;
        s->rts[s->n++] = rt_ref(v->rts[i]);
        s->rows += rt_rows(v->rts[i]);
        t->sealed[t->nsealed++] = v->rts[i];
    }
    pthread_mutex_unlock(&t->seal_lock);
    storage__version_unref(v);
    /* New appends go to fresh buffers; the sealed ones stay visible until replaced. */
    for (size_t i = 0; i < t->nactive; i++)
        rt_unref(t->active[i].rt);
    t->nactive = 0;
    atomic_store(&t->oldest_ms, 0);
    update_usage(t);
    *out = s;
    return 0;
}

uint64_t storage_sealed_rows(const struct storage_sealed *s) { return s ? s->rows : 0; }

uint64_t storage_sealed_bytes(const struct storage_sealed *s)
{
    uint64_t n = 0;
    for (size_t i = 0; s && i < s->n; i++)
        n += rt_bytes(s->rts[i]);
    return n;
}

void storage_sealed_free(struct storage_sealed *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        rt_unref(s->rts[i]);
    free(s->rts);
    free(s);
}

/* Forgets the sealed marks of buffers that a publish replaced. seal_lock not held. */
static void unseal(struct storage_table *t, struct rt_buf *const *rts, size_t n)
{
    pthread_mutex_lock(&t->seal_lock);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < t->nsealed; k++)
            if (t->sealed[k] == rts[i]) {
                t->sealed[k] = t->sealed[--t->nsealed];
                break;
            }
    pthread_mutex_unlock(&t->seal_lock);
}

int storage_table_persist_sealed(struct storage_table *t, struct storage_sealed *sealed,
                                 storage_commit_fn commit, void *ctx, struct lerr *err)
{
    pthread_mutex_lock(&t->commit_lock);
    /* The schema through a version reference: the writer may add columns meanwhile. */
    struct storage__version *sv = current(t);
    size_t n = sealed->n;
    struct storage_segment_info *infos = calloc(n + 1, sizeof *infos);
    char(*names)[96] = calloc(n + 1, sizeof *names);
    struct storage__seg **segs = calloc(n + 1, sizeof *segs);
    size_t nw = 0, nseg = 0;
    int rc = 0;
    if (!infos || !names || !segs) {
        rc = nomem(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t rows = rt_rows(sealed->rts[i]);
        if (!rows)
            continue;
        int64_t cs, ce;
        rt_chunk(sealed->rts[i], &cs, &ce);
        storage__seg_name(cs, names[nw]);
        if (write_buffer(t->store, names[nw], sv->schema, sealed->rts[i], rows, &infos[nw], err)) {
            rc = err->code;
            break;
        }
        nw++;
    }
    if (rc == 0 && commit(ctx, infos, nw, NULL, 0, err) != 0)
        rc = err->code ? err->code
                       : lerr_set(err, LERR_INTERNAL,
                                  "storage: the catalog commit failed without a message");
    if (rc) {
        remove_named(t->store, infos, nw);
        if (nw)
            segstore_sync(t->store, &(struct lerr){0});
        goto out; /* the buffers stay sealed and visible: persist them again */
    }
    nseg = open_committed(t, infos, nw, segs);
    /* sealed buffers take no more rows, so the segments hold exactly what they did */
    rc = publish(t, NULL, 0, sealed->rts, n, segs, nseg, NULL, 0, err);
    if (rc == 0)
        unseal(t, sealed->rts, n);
out:
    for (size_t i = 0; segs && i < nseg; i++)
        storage__seg_unref(segs[i]);
    free(segs);
    free(names);
    free(infos);
    storage__version_unref(sv);
    pthread_mutex_unlock(&t->commit_lock);
    return rc;
}

int storage_table_discard_sealed(struct storage_table *t, struct storage_sealed *sealed,
                                 struct lerr *err)
{
    pthread_mutex_lock(&t->commit_lock);
    int rc = publish(t, NULL, 0, sealed->rts, sealed->n, NULL, 0, NULL, 0, err);
    if (rc == 0)
        unseal(t, sealed->rts, sealed->n);
    pthread_mutex_unlock(&t->commit_lock);
    return rc;
}

int storage_table_persist(struct storage_table *t, storage_commit_fn commit, void *ctx,
                          struct lerr *err)
{
    struct storage_sealed *s;
    if (storage_table_seal(t, &s, err))
        return err->code;
    int rc = storage_table_persist_sealed(t, s, commit, ctx, err);
    if (rc) {
        /* Back as they were: unsealed, the next persist takes them again. */
        unseal(t, s->rts, s->n);
        update_usage(t);
        if (s->rows)
            atomic_store(&t->oldest_ms, util_now_ms());
    }
    storage_sealed_free(s);
    return rc;
}

/* ---- compaction ---------------------------------------------------------- */

static int cmp_rows(const void *a, const void *b)
{
    const struct storage__vseg *x = *(struct storage__vseg *const *)a,
                               *y = *(struct storage__vseg *const *)b;
    return (x->seg->nrows > y->seg->nrows) - (x->seg->nrows < y->seg->nrows);
}

/* Picks the chunk with the most small segments: fills pick[] (refs not
 * taken: the version holds them). */
static size_t pick_chunk(const struct storage__version *v, uint64_t max_rows, uint32_t min_segs,
                         struct storage__vseg **pick)
{
    size_t best = 0;
    struct storage__vseg **cand = calloc(v->nsegs + 1, sizeof *cand);
    if (!cand)
        return 0;
    for (size_t i = 0; i < v->nsegs; i++) {
        int64_t chunk = v->segs[i]->seg->chunk_start;
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = v->segs[j]->seg->chunk_start != chunk;
        if (!first)
            continue;
        size_t nc = 0;
        for (size_t j = i; j < v->nsegs; j++)
            if (v->segs[j]->seg->chunk_start == chunk && !atomic_load(&v->segs[j]->seg->corrupt))
                cand[nc++] = v->segs[j];
        qsort(cand, nc, sizeof *cand, cmp_rows);
        uint64_t total = 0;
        size_t k = 0;
        while (k < nc && total + cand[k]->seg->nrows <= max_rows)
            total += cand[k++]->seg->nrows;
        if (k >= min_segs && k > best) {
            best = k;
            memcpy(pick, cand, k * sizeof *pick);
        }
    }
    free(cand);
    return best;
}

/* The snapshot's schema with __time and the kept columns only (a copy). */
static struct storage__schema *kept_schema(const struct storage__schema *sc, const bool *keep,
                                           int32_t *map, struct lerr *err)
{
    struct storage_column *cols = calloc(sc->ncols + 1, sizeof *cols);
    if (!cols) {
        nomem(err);
        return NULL;
    }
    size_t n = 0;
    for (size_t c = 1; c < sc->ncols; c++) {
        map[c] = -1;
        if (keep[c]) {
            cols[n] = sc->cols[c];
            map[c] = (int32_t)++n;
        }
    }
    struct storage_schema in = {sc->type, sc->partitioning, sc->time_resolution, cols, n};
    struct storage__schema *out = storage__schema_new(&in, err);
    free(cols);
    return out;
}

/* The selected rows of one view appended to dst, column c of sc as column
 * map[c] of dst's schema dsc (-1: left out): block by block, each column read
 * for the selected rows alone (compaction, images). */
static int view_into(const struct storage_view *vw, const roaring_bitmap_t *sel,
                     const struct storage__schema *sc, const int32_t *map,
                     const struct storage__schema *dsc, struct rt_buf *dst, struct lerr *err)
{
    size_t nc = sc->ncols;
    struct arena mem, scratch;
    arena_init(&mem, 256 * 1024, 0);
    arena_init(&scratch, 64 * 1024, 0);
    int64_t *block_time = malloc(ST_BLOCK * sizeof *block_time);
    int64_t *time = malloc(ST_BLOCK * sizeof *time);
    uint32_t *rows = malloc(ST_BLOCK * sizeof *rows), *ident = malloc(ST_BLOCK * sizeof *ident);
    struct storage_batch_col *cols = calloc(nc, sizeof *cols);
    struct storage_scan *scan = storage_scan_new(vw);
    roaring_uint32_iterator_t *it = roaring_create_iterator(sel);
    int rc = 0;
    if (!block_time || !time || !rows || !ident || !cols || !scan || !it)
        rc = nomem(err);
    for (uint32_t i = 0; i < ST_BLOCK && ident; i++)
        ident[i] = i;
    for (uint64_t r0 = 0; rc == 0 && it->has_value && r0 < vw->rows; r0 += ST_BLOCK) {
        uint32_t m = storage__block_rows(vw->rows, r0 / ST_BLOCK), k = 0;
        if (it->current_value >= r0 + m)
            continue; /* no row of this block */
        while (it->has_value && it->current_value < r0 + m) {
            rows[k++] = (uint32_t)(it->current_value - r0);
            roaring_advance_uint32_iterator(it);
        }
        arena_reset(&mem);
        if (storage_scan_time(scan, r0, m, block_time, err)) {
            rc = err->code;
            break;
        }
        for (uint32_t i = 0; i < k; i++)
            time[i] = block_time[rows[i]];
        uint32_t nb = 0;
        for (size_t c = 1; c < nc && rc == 0; c++) {
            if (map[c] < 0)
                continue;
            struct storage_batch_col *bc = &cols[nb++];
            *bc = (struct storage_batch_col){.col = (uint32_t)map[c]};
            if (sc->cols[c].kind == STORAGE_MEASURE) {
                size_t w = sc->state_size[c];
                uint8_t *st = arena_alloc(&mem, (size_t)m * w + 1);
                if (!st)
                    rc = nomem(err);
                else if (storage_scan_states(scan, c, r0, m, st, &mem, err))
                    rc = err->code;
                for (uint32_t i = 0; rc == 0 && i < k; i++)
                    if (rows[i] != i)
                        memcpy(st + (size_t)i * w, st + (size_t)rows[i] * w, w);
                bc->states = st;
            } else {
                struct sql_value *vals = arena_alloc(&mem, (size_t)k * sizeof *vals);
                if (!vals)
                    rc = nomem(err);
                else if (storage_scan_values(scan, c, r0, k, rows, vals, err))
                    rc = err->code;
                bc->values = vals;
            }
        }
        if (rc)
            break;
        struct storage_batch b = {.nrows = k, .time = time, .ncols = nb, .cols = cols};
        int64_t got = rt_append(dst, dsc, &b, ident, k, &scratch, err);
        arena_reset(&scratch);
        if (got < 0)
            rc = err->code;
        else if ((uint32_t)got != k)
            rc = lerr_set(err, LERR_INTERNAL, "storage: a buffer overflowed copying rows");
    }
    if (it)
        roaring_free_uint32_iterator(it);
    storage_scan_free(scan);
    free(block_time);
    free(time);
    free(rows);
    free(ident);
    free(cols);
    arena_destroy(&mem);
    arena_destroy(&scratch);
    return rc;
}

/* Reads every row of the picked segments into a fresh buffer (re-rolling
 * aggregate tables). */
static int merge_into(struct storage__schema *sc, struct storage__vseg **pick, size_t npick,
                      struct rt_buf *dst, struct lerr *err)
{
    int32_t *map = calloc(sc->ncols + 1, sizeof *map);
    int rc = map ? 0 : nomem(err);
    for (size_t p = 0; p < npick && rc == 0; p++) {
        struct storage__vseg *vs = pick[p]->ncols == sc->ncols ? pick[p] : NULL, *own = NULL;
        if (!vs && !(vs = own = vseg_new(pick[p]->seg, sc, NULL))) {
            rc = nomem(err);
            break;
        }
        struct storage_view vw;
        storage__view_init_seg(&vw, sc, vs);
        for (size_t c = 1; c < sc->ncols; c++)
            map[c] = vs->colmap[c] < 0 ? -1 : (int32_t)c;
        roaring_bitmap_t *all = vw.rows ? roaring_bitmap_from_range(0, vw.rows, 1) : NULL;
        if (vw.rows && !all)
            rc = nomem(err);
        else if (all)
            rc = view_into(&vw, all, sc, map, sc, dst, err);
        if (all)
            roaring_bitmap_free(all);
        storage__vseg_unref(own);
    }
    free(map);
    return rc;
}

int storage_table_compact(struct storage_table *t, const struct storage_compact_opts *opts,
                          storage_commit_fn commit, void *ctx, bool *did, struct lerr *err)
{
    *did = false;
    uint64_t max_rows = opts && opts->max_rows ? opts->max_rows : DEF_COMPACT_ROWS;
    uint32_t min_segs = opts && opts->min_segments >= 2 ? opts->min_segments : 2;
    pthread_mutex_lock(&t->compact_lock);
    struct storage__version *v = current(t);
    struct storage__vseg **pick = calloc(v->nsegs + 1, sizeof *pick);
    struct storage__seg **olds = calloc(v->nsegs + 1, sizeof *olds);
    struct storage_segment_info *removed = calloc(v->nsegs + 1, sizeof *removed);
    struct rt_buf *dst = NULL;
    struct storage__seg *nseg = NULL;
    char name[96];
    struct storage_segment_info info = {0};
    bool written = false;
    int rc = 0;
    if (!pick || !olds || !removed) {
        rc = nomem(err);
        goto out;
    }
    size_t npick = pick_chunk(v, max_rows, min_segs, pick);
    if (npick < min_segs)
        goto out;
    uint64_t total = 0;
    for (size_t i = 0; i < npick; i++) {
        struct storage__seg *s = pick[i]->seg;
        total += s->nrows;
        olds[i] = s;
        removed[i] = (struct storage_segment_info){.name = s->name,
                                                   .chunk_start = s->chunk_start,
                                                   .chunk_end = s->chunk_end,
                                                   .rows = s->nrows,
                                                   .bytes = s->size,
                                                   .min_time = s->min_time,
                                                   .max_time = s->max_time};
    }
    /* the version's schema: a compaction running beside the writer must not
     * touch the writer's schema pointer */
    struct storage__schema *sc = v->schema;
    dst = rt_new(sc, pick[0]->seg->chunk_start, pick[0]->seg->chunk_end, total + 1, err);
    if (!dst) {
        rc = err->code;
        goto out;
    }
    rc = merge_into(sc, pick, npick, dst, err);
    if (rc)
        goto out;
    storage__seg_name(pick[0]->seg->chunk_start, name);
    if (storage__seg_write(t->store, name, sc, dst, rt_rows(dst), opts && opts->zstd, &info,
                           err)) {
        rc = err->code;
        goto out;
    }
    written = true;
    pthread_mutex_lock(&t->commit_lock);
    /* a drop (or another change) may have removed the inputs meanwhile */
    struct storage__version *now = current(t);
    size_t still = 0;
    for (size_t i = 0; i < npick; i++)
        for (size_t j = 0; j < now->nsegs; j++)
            still += now->segs[j]->seg == olds[i];
    storage__version_unref(now);
    if (still != npick) {
        pthread_mutex_unlock(&t->commit_lock);
        goto out;
    }
    if (commit(ctx, &info, 1, removed, npick, err) != 0) {
        if (!err->code)
            lerr_set(err, LERR_INTERNAL, "storage: the catalog commit failed without a message");
        rc = err->code;
        pthread_mutex_unlock(&t->commit_lock);
        goto out;
    }
    written = false; /* committed: the file is table data now */
    size_t nopen = open_committed(t, &info, 1, &nseg);
    rc = publish(t, olds, npick, NULL, 0, &nseg, nopen, NULL, 0, err);
    if (rc == 0) {
        /* deleted when the last snapshot holding them lets go */
        for (size_t i = 0; i < npick; i++)
            atomic_store(&olds[i]->obsolete, true);
        *did = true;
    }
    pthread_mutex_unlock(&t->commit_lock);
out:
    if (written) {
        remove_named(t->store, &info, 1);
    }
    storage__seg_unref(nseg);
    rt_unref(dst);
    free(pick);
    free(olds);
    free(removed);
    storage__version_unref(v);
    pthread_mutex_unlock(&t->compact_lock);
    return rc;
}

/* ---- drop ---------------------------------------------------------------- */

/* After a new version without them is published: segments of [start,
 * end) are obsolete (their files go once unreferenced) and the realtime
 * buffers of its chunks leave the active set. Under commit_lock. */
static void retire_range(struct storage_table *t, struct storage__seg *const *segs, size_t ns,
                         int64_t start, int64_t end)
{
    for (size_t i = 0; i < ns; i++)
        atomic_store(&segs[i]->obsolete, true);
    for (size_t i = 0; i < t->nactive;) {
        int64_t cs, ce;
        rt_chunk(t->active[i].rt, &cs, &ce);
        if (cs >= start && ce <= end) {
            rt_unref(t->active[i].rt);
            t->active[i] = t->active[--t->nactive];
        } else {
            i++;
        }
    }
    update_usage(t);
}

int storage_table_drop_data(struct storage_table *t, struct lerr *err)
{
    pthread_mutex_lock(&t->commit_lock);
    pthread_mutex_lock(&t->vlock);
    struct storage__version *v =
        version_derive(NULL, t->schema, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
    struct storage__version *old = v ? t->cur : NULL;
    if (v)
        t->cur = v;
    pthread_mutex_unlock(&t->vlock);
    if (!v) {
        pthread_mutex_unlock(&t->commit_lock);
        return nomem(err);
    }
    for (size_t i = 0; i < old->nsegs; i++)
        atomic_store(&old->segs[i]->seg->obsolete, true);
    storage__version_unref(old);
    for (size_t i = 0; i < t->nactive; i++)
        rt_unref(t->active[i].rt);
    t->nactive = 0;
    atomic_store(&t->oldest_ms, 0);
    pthread_mutex_lock(&t->seal_lock);
    t->nsealed = 0;
    pthread_mutex_unlock(&t->seal_lock);
    /* files the catalog listed but that could not be read go too */
    pthread_mutex_lock(&t->corrupt_lock);
    for (size_t i = 0; i < t->ncorrupt; i++) {
        if (plain_name(t->corrupt[i].name))
            segstore_remove(t->store, t->corrupt[i].name, &(struct lerr){0});
    }
    pthread_mutex_unlock(&t->corrupt_lock);
    clear_corrupt(t);
    update_usage(t);
    pthread_mutex_unlock(&t->commit_lock);
    return 0;
}

int storage_table_drop_range(struct storage_table *t, int64_t start, int64_t end, struct lerr *err)
{
    pthread_mutex_lock(&t->commit_lock);
    pthread_mutex_lock(&t->seal_lock);
    size_t nsealed = t->nsealed;
    pthread_mutex_unlock(&t->seal_lock);
    if (nsealed) {
        pthread_mutex_unlock(&t->commit_lock);
        return lerr_set(err, LERR_CONFLICT,
                        "storage: rows of this table are still being persisted; try again");
    }
    struct storage__version *v = current(t);
    struct storage__seg **segs = calloc(v->nsegs + 1, sizeof *segs);
    struct rt_buf **rts = calloc(v->nrts + 1, sizeof *rts);
    size_t ns = 0, nr = 0;
    int rc = segs && rts ? 0 : nomem(err);
    for (size_t i = 0; !rc && i < v->nsegs; i++) {
        struct storage__seg *sg = v->segs[i]->seg;
        if (sg->chunk_start >= start && sg->chunk_end <= end)
            segs[ns++] = sg;
    }
    for (size_t i = 0; !rc && i < v->nrts; i++) {
        int64_t cs, ce;
        rt_chunk(v->rts[i], &cs, &ce);
        if (cs >= start && ce <= end)
            rts[nr++] = v->rts[i];
    }
    if (!rc && (ns || nr))
        rc = publish_ex(t, NULL, segs, ns, rts, nr, NULL, 0, NULL, 0, err);
    if (!rc)
        retire_range(t, segs, ns, start, end);
    free(segs);
    free(rts);
    storage__version_unref(v);
    pthread_mutex_unlock(&t->commit_lock);
    return rc;
}

/*
 * One step for a REPLACE: src's realtime rows become segments of t and t's
 * chunks inside [start, end) go, in one catalog commit and one published
 * version. Under commit_lock, so no persist or compaction of t interleaves.
 */
int storage_table_replace(struct storage_table *t, struct storage_table *src,
                          const struct storage_ahead *ahead, int64_t start, int64_t end,
                          storage_commit_fn commit, void *ctx, struct lerr *err)
{
    pthread_mutex_lock(&t->commit_lock);
    pthread_mutex_lock(&t->seal_lock);
    size_t nsealed = t->nsealed;
    pthread_mutex_unlock(&t->seal_lock);
    if (nsealed) {
        pthread_mutex_unlock(&t->commit_lock);
        return lerr_set(err, LERR_CONFLICT,
                        "storage: rows of this table are still being persisted; try again");
    }
    struct storage__version *sv = src ? current(src) : NULL, *v = current(t);
    size_t nahead = ahead ? ahead->n : 0, nin = sv ? sv->nrts : 0;
    struct storage_segment_info *infos = calloc(nahead + nin + 1, sizeof *infos);
    struct storage_segment_info *gone = calloc(v->nsegs + 1, sizeof *gone);
    char(*names)[96] = calloc(nin + 1, sizeof *names);
    struct storage__seg **added = calloc(nahead + nin + 1, sizeof *added);
    struct storage__seg **segs = calloc(v->nsegs + 1, sizeof *segs);
    struct rt_buf **rts = calloc(v->nrts + 1, sizeof *rts);
    size_t nw = nahead, nadd = 0, ns = 0, nr = 0;
    int rc = infos && gone && names && added && segs && rts ? 0 : nomem(err);
    if (!rc && nahead)
        memcpy(infos, ahead->infos, nahead * sizeof *infos);
    for (size_t i = 0; !rc && i < nin; i++) {
        uint64_t rows = rt_rows(sv->rts[i]);
        if (!rows)
            continue;
        int64_t cs, ce;
        rt_chunk(sv->rts[i], &cs, &ce);
        storage__seg_name(cs, names[i]);
        if (write_buffer(t->store, names[i], sv->schema, sv->rts[i], rows, &infos[nw], err)) {
            rc = err->code;
            break;
        }
        nw++;
    }
    for (size_t i = 0; !rc && i < v->nsegs; i++) {
        struct storage__seg *sg = v->segs[i]->seg;
        if (sg->chunk_start >= start && sg->chunk_end <= end) {
            gone[ns] = (struct storage_segment_info){.name = sg->name,
                                                     .chunk_start = sg->chunk_start,
                                                     .chunk_end = sg->chunk_end,
                                                     .rows = sg->nrows,
                                                     .min_time = sg->min_time,
                                                     .max_time = sg->max_time,
                                                     .bytes = sg->size};
            segs[ns++] = sg;
        }
    }
    for (size_t i = 0; !rc && i < v->nrts; i++) {
        int64_t cs, ce;
        rt_chunk(v->rts[i], &cs, &ce);
        if (cs >= start && ce <= end)
            rts[nr++] = v->rts[i];
    }
    if (!rc && commit(ctx, infos, nw, gone, ns, err) != 0)
        rc = err->code ? err->code
                       : lerr_set(err, LERR_INTERNAL,
                                  "storage: the catalog commit failed without a message");
    if (rc) {
        /* this call's files; those written ahead are the caller's */
        remove_named(t->store, infos + nahead, nw - nahead);
        if (nw > nahead)
            segstore_sync(t->store, &(struct lerr){0});
        goto out;
    }
    nadd = open_committed(t, infos, nw, added);
    rc = publish(t, segs, ns, rts, nr, added, nadd, NULL, 0, err);
    if (!rc)
        retire_range(t, segs, ns, start, end);
out:
    for (size_t i = 0; added && i < nadd; i++)
        storage__seg_unref(added[i]);
    free(added);
    free(names);
    free(infos);
    free(gone);
    free(segs);
    free(rts);
    storage__version_unref(v);
    if (sv)
        storage__version_unref(sv);
    pthread_mutex_unlock(&t->commit_lock);
    return rc;
}

int storage_table_write_ahead(struct storage_table *t, struct storage_table *src,
                              struct storage_ahead *ahead, struct lerr *err)
{
    struct storage__version *sv = current(src);
    int rc = 0;
    for (size_t i = 0; !rc && i < sv->nrts; i++) {
        uint64_t rows = rt_rows(sv->rts[i]);
        if (!rows)
            continue;
        if (ahead->n == ahead->cap) {
            size_t cap = ahead->cap ? 2 * ahead->cap : 16;
            void *p = realloc(ahead->infos, cap * sizeof *ahead->infos);
            if (!p) {
                rc = nomem(err);
                break;
            }
            ahead->infos = p;
            ahead->cap = cap;
        }
        int64_t cs, ce;
        rt_chunk(sv->rts[i], &cs, &ce);
        char name[96];
        storage__seg_name(cs, name);
        char *owned = strdup(name);
        if (!owned) {
            rc = nomem(err);
            break;
        }
        struct storage_segment_info *info = &ahead->infos[ahead->n];
        if (write_buffer(t->store, owned, sv->schema, sv->rts[i], rows, info, err)) {
            free(owned);
            rc = err->code;
            break;
        }
        info->name = owned;
        ahead->n++;
    }
    storage__version_unref(sv);
    return rc;
}

void storage_ahead_free(struct storage_ahead *ahead)
{
    for (size_t i = 0; i < ahead->n; i++)
        free((char *)ahead->infos[i].name);
    free(ahead->infos);
    memset(ahead, 0, sizeof *ahead);
}

void storage_ahead_discard(struct storage_table *t, struct storage_ahead *ahead)
{
    remove_named(t->store, ahead->infos, ahead->n);
    if (ahead->n)
        segstore_sync(t->store, &(struct lerr){0});
    storage_ahead_free(ahead);
}

struct storage_limits storage_table_limits(const struct storage_table *t) { return t->lim; }

/* ---- status and snapshots ------------------------------------------------ */

void storage_table_status(struct storage_table *t, struct storage_status *out)
{
    memset(out, 0, sizeof *out);
    out->min_time = INT64_MAX;
    out->max_time = INT64_MIN;
    struct storage__version *v = current(t);
    for (size_t i = 0; i < v->nsegs; i++) {
        const struct storage__seg *s = v->segs[i]->seg;
        if (atomic_load(&s->corrupt)) {
            out->corrupt_count++;
            continue;
        }
        out->segment_count++;
        out->row_count += s->nrows;
        out->total_bytes += s->size;
        if (s->nrows) {
            out->min_time = s->min_time < out->min_time ? s->min_time : out->min_time;
            out->max_time = s->max_time > out->max_time ? s->max_time : out->max_time;
        }
    }
    for (size_t i = 0; i < v->nrts; i++) {
        uint64_t rows = rt_rows(v->rts[i]);
        if (!rows)
            continue;
        int64_t mn, mx;
        rt_time_range(v->rts[i], &mn, &mx);
        out->row_count += rows;
        out->realtime_rows += rows;
        out->total_bytes += rt_bytes(v->rts[i]);
        out->min_time = mn < out->min_time ? mn : out->min_time;
        out->max_time = mx > out->max_time ? mx : out->max_time;
    }
    storage__version_unref(v);
    pthread_mutex_lock(&t->corrupt_lock);
    out->corrupt_count += t->ncorrupt;
    pthread_mutex_unlock(&t->corrupt_lock);
}

static void copy_out(char *dst, size_t cap, const char *src)
{
    if (cap)
        snprintf(dst, cap, "%s", src);
}

bool storage_table_corrupt(struct storage_table *t, size_t i, char *name, size_t name_cap,
                           char *msg, size_t msg_cap)
{
    pthread_mutex_lock(&t->corrupt_lock);
    size_t n = t->ncorrupt;
    if (i < n) {
        copy_out(name, name_cap, t->corrupt[i].name);
        copy_out(msg, msg_cap, t->corrupt[i].msg);
    }
    pthread_mutex_unlock(&t->corrupt_lock);
    if (i < n)
        return true;
    /* then segments found corrupt while being read */
    i -= n;
    struct storage__version *v = current(t);
    bool found = false;
    for (size_t k = 0; k < v->nsegs && !found; k++) {
        struct storage__seg *s = v->segs[k]->seg;
        if (!atomic_load_explicit(&s->corrupt, memory_order_acquire))
            continue;
        if (i-- == 0) {
            copy_out(name, name_cap, s->name);
            copy_out(msg, msg_cap, s->corrupt_msg);
            found = true;
        }
    }
    storage__version_unref(v);
    return found;
}

struct storage_snapshot *storage_table_snapshot(struct storage_table *t)
{
    struct storage__version *v = current(t);
    struct storage_snapshot *s = storage__snapshot_build(v);
    storage__version_unref(v);
    /* Segments that could not be opened at all leave their chunks out too. */
    pthread_mutex_lock(&t->corrupt_lock);
    for (size_t i = 0; s && i < t->ncorrupt; i++) {
        if (!storage__snapshot_add_missing(s, t->corrupt[i].name, t->corrupt[i].chunk_start,
                                           t->corrupt[i].chunk_end, t->corrupt[i].msg,
                                           LERR_CORRUPT)) {
            storage_snapshot_free(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&t->corrupt_lock);
    return s;
}

/* ---- cuts: this node's share of a query over several nodes --------------- */

struct storage_cut {
    struct storage__version *v;
    bool no_realtime; /* storage_cut_no_realtime */
};

struct storage_cut *storage_table_cut(struct storage_table *t)
{
    struct storage_cut *c = malloc(sizeof *c);
    if (c) {
        c->v = current(t);
        c->no_realtime = false;
    }
    return c;
}

void storage_cut_no_realtime(struct storage_cut *c) { c->no_realtime = true; }

void storage_cut_free(struct storage_cut *c)
{
    if (!c)
        return;
    storage__version_unref(c->v);
    free(c);
}

size_t storage_cut_nsegs(const struct storage_cut *c) { return c->v->nsegs; }

const char *storage_cut_seg_name(const struct storage_cut *c, size_t i)
{
    return c->v->segs[i]->seg->name;
}

int storage_cut_realtime_images(const struct storage_cut *c, const char *tmp_dir,
                                storage_image_fn fn, void *ctx, struct lerr *err)
{
    struct segstore *store;
    if (segstore_scratch_new(tmp_dir, &store, err))
        return err->code;
    int rc = 0;
    for (size_t i = 0; i < c->v->nrts && !rc; i++) {
        struct rt_buf *b = c->v->rts[i];
        uint64_t rows = rt_rows(b);
        if (!rows)
            continue;
        int64_t cs, ce;
        rt_chunk(b, &cs, &ce);
        char name[96];
        storage__seg_name(cs, name);
        struct storage_segment_info info;
        if ((rc = write_buffer(store, name, c->v->schema, b, rows, &info, err)))
            break;
        struct segstore_map m;
        if (!(rc = segstore_open(store, name, &m, err))) {
            rc = fn(ctx, m.p, m.n, err);
            segstore_close(store, &m);
        }
        struct lerr ignore;
        lerr_init(&ignore);
        segstore_remove(store, name, &ignore);
    }
    segstore_unref(store);
    return rc;
}

int storage_snapshot_images(const struct storage_snapshot *snap,
                            const struct roaring_bitmap_s *const *sel, const bool *keep,
                            const char *tmp_dir, storage_image_fn fn, void *ctx, struct lerr *err)
{
    if (!snap->nviews)
        return 0;
    const struct storage__schema *sc = snap->views[0]->schema;
    int32_t *map = calloc(sc->ncols + 1, sizeof *map);
    bool *done = calloc(snap->nviews + 1, sizeof *done);
    struct storage__schema *ksc = map ? kept_schema(sc, keep, map, err) : NULL;
    struct segstore *store = NULL;
    int rc = 0;
    if (!map || !done)
        rc = nomem(err);
    else if (!ksc || segstore_scratch_new(tmp_dir, &store, err))
        rc = err->code;
    /* one image per time chunk: the views of a chunk into one buffer */
    for (size_t i = 0; i < snap->nviews && !rc; i++) {
        const struct storage_view *v = snap->views[i];
        if (done[i])
            continue;
        uint64_t total = 0;
        for (size_t j = i; j < snap->nviews; j++)
            if (!done[j] && snap->views[j]->chunk_start == v->chunk_start && sel[j])
                total += roaring_bitmap_get_cardinality(sel[j]);
        if (!total) {
            for (size_t j = i; j < snap->nviews; j++)
                done[j] |= snap->views[j]->chunk_start == v->chunk_start;
            continue;
        }
        struct rt_buf *dst = rt_new(ksc, v->chunk_start, v->chunk_end, total + 1, err);
        if (!dst) {
            rc = err->code;
            break;
        }
        rt_no_rollup(dst);
        for (size_t j = i; j < snap->nviews && !rc; j++) {
            if (done[j] || snap->views[j]->chunk_start != v->chunk_start)
                continue;
            done[j] = true;
            if (sel[j])
                rc = view_into(snap->views[j], sel[j], sc, map, ksc, dst, err);
        }
        char name[96];
        storage__seg_name(v->chunk_start, name);
        struct storage_segment_info info;
        if (!rc)
            rc = storage__seg_write(store, name, ksc, dst, rt_rows(dst), false, &info, err);
        rt_unref(dst);
        struct segstore_map m;
        if (!rc && !(rc = segstore_open(store, name, &m, err))) {
            rc = fn(ctx, m.p, m.n, err);
            segstore_close(store, &m);
        }
        struct lerr ignore;
        lerr_init(&ignore);
        segstore_remove(store, name, &ignore);
    }
    if (store)
        segstore_unref(store);
    storage__schema_unref(ksc);
    free(map);
    free(done);
    return rc;
}

/* The cut's open segment of that name, or NULL. */
static struct storage__vseg *cut_find(const struct storage_cut *c, const char *name)
{
    for (size_t i = 0; i < c->v->nsegs; i++)
        if (strcmp(c->v->segs[i]->seg->name, name) == 0)
            return c->v->segs[i];
    return NULL;
}

struct storage_snapshot *storage_cut_snapshot(struct storage_table *t, const struct storage_cut *c,
                                              const struct storage_seg_want *want, size_t nwant,
                                              void **images, const size_t *image_lens,
                                              size_t nimages, struct lerr *err)
{
    struct storage__version *v = calloc(1, sizeof *v);
    struct storage_snapshot *snap = NULL;
    struct storage_missing *miss = NULL;
    size_t nmiss = 0, cap_miss = 0;
    if (!v)
        goto oom;
    atomic_init(&v->refs, 1);
    v->schema = storage__schema_ref(c->v->schema);
    v->segs = calloc(nwant + nimages + 1, sizeof *v->segs);
    v->rts = calloc(c->v->nrts + 1, sizeof *v->rts);
    if (!v->segs || !v->rts)
        goto oom;
    for (size_t i = 0; i < c->v->nrts && !c->no_realtime; i++)
        v->rts[v->nrts++] = rt_ref(c->v->rts[i]);
    for (size_t i = 0; i < nwant; i++) {
        struct storage__vseg *have = cut_find(c, want[i].name);
        if (have) {
            atomic_fetch_add(&have->refs, 1);
            v->segs[v->nsegs++] = have;
            continue;
        }
        struct storage__seg *seg = NULL;
        struct lerr e;
        lerr_init(&e);
        if (storage__seg_open(t->store, want[i].name, &seg, &e)) {
            /* not readable here: the query must not leave its rows out silently */
            struct storage_missing *grown = vec_grow(miss, &cap_miss, nmiss + 1, sizeof *miss, 8);
            if (!grown)
                goto oom;
            miss = grown;
            struct storage_missing *m = &miss[nmiss++];
            snprintf(m->name, sizeof m->name, "%s", want[i].name);
            m->chunk_start = want[i].chunk_start;
            m->chunk_end = want[i].chunk_end;
            snprintf(m->msg, sizeof m->msg, "%s", e.msg);
            m->code = e.code;
            continue;
        }
        struct storage__vseg *vs = vseg_new(seg, v->schema, NULL);
        storage__seg_unref(seg);
        if (!vs)
            goto oom;
        v->segs[v->nsegs++] = vs;
    }
    for (size_t i = 0; i < nimages; i++) {
        struct storage__seg *seg = NULL;
        char name[96];
        snprintf(name, sizeof name, "realtime image %zu", i);
        struct lerr e;
        lerr_init(&e);
        if (storage__seg_open_mem(images[i], image_lens[i], name, &seg, &e)) {
            lerr_set(err, e.code, "a realtime image from another node does not read: %s", e.msg);
            goto fail;
        }
        seg->owned = images[i];
        images[i] = NULL;
        struct storage__vseg *vs = vseg_new(seg, v->schema, NULL);
        storage__seg_unref(seg);
        if (!vs)
            goto oom;
        v->segs[v->nsegs++] = vs;
    }
    snap = storage__snapshot_build(v);
    if (!snap)
        goto oom;
    for (size_t i = 0; i < nimages; i++)
        snap->image_bytes += image_lens[i];
    for (size_t i = 0; i < nmiss; i++) {
        if (!storage__snapshot_add_missing(snap, miss[i].name, miss[i].chunk_start,
                                           miss[i].chunk_end, miss[i].msg, miss[i].code)) {
            storage_snapshot_free(snap);
            snap = NULL;
            goto oom;
        }
    }
    goto done;
oom:
    nomem(err);
fail:
    snap = NULL;
done:
    for (size_t i = 0; i < nimages; i++) {
        free(images[i]);
        images[i] = NULL;
    }
    free(miss);
    if (v)
        storage__version_unref(v);
    return snap;
}
