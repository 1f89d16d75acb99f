/*
 * db.c — the engine's named tables (db.h): a list of open tables, each with
 * a reference count, its writer lock and its compaction backoff.
 *
 * Locks: db->mu guards the list and the reference counts; it is held while a
 * table opens (so a table opens once) and never across other I/O. A table's
 * own mutex is its writer lock. A dropped table leaves the list at once and
 * is freed when its last user puts it back.
 */
#include "storage/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPACT_ROUNDS 16
#define COMPACT_BACKOFF_MAX_MS 600000 /* a compaction that keeps failing: at most every 10 min */

struct storage_db {
    char dir[1024];
    struct storage_db_opts opts;
    pthread_mutex_t mu;
    struct storage_db_table *tables;
};

struct segstore_s3_base *storage_db_s3(struct storage_db *db) { return db->opts.s3; }

int storage_db_open(const char *dir, const struct storage_db_opts *opts, struct storage_db **out,
                    struct lerr *err)
{
    char tdir[1100];
    snprintf(tdir, sizeof tdir, "%s/tables", dir);
    if (util_mkdirs(tdir, 0700, err))
        return err->code;
    struct storage_db *db = calloc(1, sizeof *db);
    if (!db)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    snprintf(db->dir, sizeof db->dir, "%s", dir);
    db->opts = *opts;
    if (db->opts.s3)
        segstore_s3_base_ref(db->opts.s3);
    pthread_mutex_init(&db->mu, NULL);
    *out = db;
    return 0;
}

static void table_free(struct storage_db_table *t)
{
    storage_table_free(t->st);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void storage_db_close(struct storage_db *db)
{
    if (!db)
        return;
    while (db->tables) {
        struct storage_db_table *t = db->tables;
        db->tables = t->next;
        table_free(t);
    }
    segstore_s3_base_unref(db->opts.s3);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

static int open_table(struct storage_db *db, struct storage_db_table *t, struct lerr *err)
{
    struct arena mem;
    arena_init(&mem, 16 * 1024, 0);
    struct storage_table_desc d = {0};
    int rc = db->opts.describe(db->opts.describe_ctx, t->name_buf, true, &mem, &d, err);
    if (!rc) {
        snprintf(t->id_buf, sizeof t->id_buf, "%s", d.id);
        t->partitioning = d.schema.partitioning;
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/tables/%s", db->dir, t->id_buf);
        struct storage_open_opts oo = {
            .limits = db->opts.limits,
            .known = d.known,
            .nknown = d.nknown,
            .known_chunks = d.known_chunks,
            .known_deferred = d.known_deferred,
            .keep_unknown = db->opts.s3 && db->opts.shared,
        };
        if (db->opts.s3)
            rc = segstore_s3_new(db->opts.s3, t->id_buf, dir, &oo.store, err);
        if (!rc)
            rc = storage_table_open(dir, t->name_buf, &d.schema, &oo, &t->st, err);
        segstore_unref(oo.store); /* the table holds its own reference */
    }
    arena_destroy(&mem);
    return rc;
}

struct storage_db_table *storage_db_get(struct storage_db *db, const char *name, struct lerr *err)
{
    pthread_mutex_lock(&db->mu);
    struct storage_db_table *t = db->tables;
    while (t && strcmp(t->name, name) != 0)
        t = t->next;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) {
            lerr_set(err, LERR_NOMEM, "out of memory");
            goto out;
        }
        snprintf(t->name_buf, sizeof t->name_buf, "%s", name);
        t->name = t->name_buf;
        t->id = t->id_buf;
        pthread_mutex_init(&t->mu, NULL);
        if (open_table(db, t, err)) {
            pthread_mutex_destroy(&t->mu);
            free(t);
            t = NULL;
            goto out;
        }
        t->refs = 1;
        t->next = db->tables;
        db->tables = t;
    }
    t->refs++;
out:
    pthread_mutex_unlock(&db->mu);
    return t;
}

struct storage_db_table *storage_db_get_open(struct storage_db *db, const char *name)
{
    pthread_mutex_lock(&db->mu);
    struct storage_db_table *t = db->tables;
    while (t && strcmp(t->name, name) != 0)
        t = t->next;
    if (t)
        t->refs++;
    pthread_mutex_unlock(&db->mu);
    return t;
}

void storage_db_put(struct storage_db *db, struct storage_db_table *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&db->mu);
    bool last = --t->refs == 0;
    pthread_mutex_unlock(&db->mu);
    if (last)
        table_free(t);
}

void storage_db_table_lock(struct storage_db_table *t) { pthread_mutex_lock(&t->mu); }
void storage_db_table_unlock(struct storage_db_table *t) { pthread_mutex_unlock(&t->mu); }

struct storage_snapshot *storage_db_snapshot(struct storage_db *db, const char *name,
                                             struct lerr *err)
{
    struct storage_db_table *t = storage_db_get(db, name, err);
    if (!t)
        return NULL;
    struct storage_snapshot *s = storage_table_snapshot(t->st);
    if (!s)
        lerr_set(err, LERR_NOMEM, "out of memory taking a snapshot of '%s'", name);
    storage_db_put(db, t); /* the snapshot keeps what it references alive */
    return s;
}

int storage_db_status(struct storage_db *db, const char *name, struct storage_status *out,
                      struct lerr *err)
{
    struct storage_db_table *t = storage_db_get(db, name, err);
    if (!t)
        return err->code;
    storage_table_status(t->st, out);
    storage_db_put(db, t);
    return 0;
}

bool storage_db_corrupt(struct storage_db *db, const char *name, size_t i, char *file,
                        size_t file_cap, char *msg, size_t msg_cap)
{
    struct lerr err;
    lerr_init(&err);
    struct storage_db_table *t = storage_db_get(db, name, &err);
    bool found = t && storage_table_corrupt(t->st, i, file, file_cap, msg, msg_cap);
    storage_db_put(db, t);
    return found;
}

int storage_db_sync_columns(struct storage_db *db, struct storage_db_table *t, struct lerr *err)
{
    struct arena mem;
    arena_init(&mem, 16 * 1024, 0);
    struct storage_table_desc d = {0};
    int rc = db->opts.describe(db->opts.describe_ctx, t->name, false, &mem, &d, err);
    for (size_t i = 0; !rc && i < d.schema.ncols; i++) {
        const struct storage_column *c = &d.schema.cols[i];
        if (storage_table_find_column(t->st, c->name, strlen(c->name)) < 0 &&
            storage_table_add_column(t->st, c, err) < 0)
            rc = err->code;
    }
    arena_destroy(&mem);
    return rc;
}

void storage_db_lock(struct storage_db *db, const char *name)
{
    struct lerr err;
    lerr_init(&err);
    struct storage_db_table *t = storage_db_get(db, name, &err);
    if (t)
        storage_db_table_lock(t); /* the reference is given back by storage_db_unlock */
}

void storage_db_unlock(struct storage_db *db, const char *name)
{
    pthread_mutex_lock(&db->mu);
    struct storage_db_table *t = db->tables;
    while (t && strcmp(t->name, name) != 0)
        t = t->next;
    pthread_mutex_unlock(&db->mu);
    if (!t)
        return; /* storage_db_lock found no table either */
    struct lerr err;
    lerr_init(&err);
    if (storage_db_sync_columns(db, t, &err))
        log_msg(LOG_WARN, "storage", "table '%s': %s", name, err.msg);
    storage_db_table_unlock(t);
    storage_db_put(db, t);
}

struct drop_objects {
    struct segstore *store;
    size_t n;
};

static int drop_object(void *ctx, const char *name)
{
    struct drop_objects *d = ctx;
    struct lerr err;
    lerr_init(&err);
    if (segstore_remove(d->store, name, &err) == 0)
        d->n++;
    else
        log_msg(LOG_WARN, "storage", "%s", err.msg);
    return 0;
}

/* A dropped table's objects in the store (those of a table that was open go as its
 * segments are released; this also takes a never-opened table's, and strays). */
static void drop_store_objects(struct storage_db *db, const char *table_id, const char *dir)
{
    struct lerr err;
    lerr_init(&err);
    struct drop_objects d = {NULL, 0};
    if (segstore_s3_new(db->opts.s3, table_id, dir, &d.store, &err) == 0)
        segstore_list(d.store, drop_object, &d, &err);
    if (err.code)
        log_msg(LOG_WARN, "storage", "dropped table %s: its objects stay: %s", table_id, err.msg);
    segstore_unref(d.store);
}

int storage_db_refresh(struct storage_db *db, struct storage_db_table **t, const char *current_id,
                       struct lerr *err)
{
    if (current_id && strcmp((*t)->id, current_id) == 0)
        return 0;
    char name[256], old[40];
    snprintf(name, sizeof name, "%s", (*t)->name);
    snprintf(old, sizeof old, "%s", (*t)->id);
    log_msg(LOG_INFO, "storage",
            "table %s (id %s) was dropped%s by another node: its data here goes with it", name,
            old, current_id ? " and made again" : "");
    storage_db_put(db, *t);
    storage_db_dropped(db, name, old);
    *t = current_id ? storage_db_get(db, name, err) : NULL;
    if (!current_id)
        return lerr_set(err, LERR_NOT_FOUND, "table '%s' not found", name);
    return *t ? 0 : err->code;
}

void storage_db_dropped(struct storage_db *db, const char *name, const char *table_id)
{
    pthread_mutex_lock(&db->mu);
    struct storage_db_table **pp = &db->tables, *t = NULL;
    bool by_id = util_uuid_valid(table_id);
    for (; *pp; pp = &(*pp)->next) {
        /* not the table of that name opened since (another thread's storage_db_refresh) */
        if (strcmp((*pp)->name, name) == 0 &&
            (!by_id || !(*pp)->id_buf[0] || strcmp((*pp)->id_buf, table_id) == 0)) {
            t = *pp;
            *pp = t->next;
            break;
        }
    }
    pthread_mutex_unlock(&db->mu);
    if (t) {
        struct lerr err;
        lerr_init(&err);
        storage_db_table_lock(t);
        storage_table_drop_data(t->st, &err);
        storage_db_table_unlock(t);
        storage_db_put(db, t); /* the registry's reference */
    }
    if (util_uuid_valid(table_id)) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/tables/%s", db->dir, table_id);
        if (db->opts.s3)
            drop_store_objects(db, table_id, dir);
        struct lerr err;
        lerr_init(&err);
        if (util_remove_tree(dir, &err))
            log_msg(LOG_WARN, "storage", "%s", err.msg);
    }
}

/* ---- compaction ------------------------------------------------------------------ */

struct compact_ctx {
    storage_db_commit_fn commit;
    void *ctx;
    struct storage_db_table *t;
};

static int compact_commit(void *ctx, const struct storage_segment_info *added, size_t nadded,
                          const struct storage_segment_info *removed, size_t nremoved,
                          struct lerr *err)
{
    struct compact_ctx *c = ctx;
    return c->commit(c->ctx, c->t, added, nadded, removed, nremoved, err);
}

static void compact_table(struct storage_db_table *t, const struct storage_compact_opts *opts,
                          struct compact_ctx *ctx, int period_ms, const atomic_bool *stop)
{
    if (util_now_ms() < t->compact_retry_ms)
        return;
    bool did = true;
    for (int rounds = 0; did && rounds < COMPACT_ROUNDS && !atomic_load(stop); rounds++) {
        struct lerr err;
        lerr_init(&err);
        did = false;
        if (storage_table_compact(t->st, opts, compact_commit, ctx, &did, &err) == 0) {
            if (t->compact_failures)
                log_msg(LOG_INFO, "ingest",
                        "compaction of '%s' works again after %d "
                        "failed attempts",
                        t->name, t->compact_failures);
            t->compact_failures = 0;
            continue;
        }
        /* Nothing changed (the table's data is as it was). Retry later, less and
         * less often while it keeps failing (a full disk); say so on the first
         * failure and then at most every COMPACT_BACKOFF_MAX_MS. */
        int shift = t->compact_failures < 6 ? t->compact_failures : 6;
        int64_t wait = (int64_t)period_ms << shift, now = util_now_ms();
        wait = wait < COMPACT_BACKOFF_MAX_MS ? wait : COMPACT_BACKOFF_MAX_MS;
        if (!t->compact_failures++ || now - t->compact_logged_ms >= COMPACT_BACKOFF_MAX_MS) {
            log_msg(LOG_WARN, "ingest",
                    "compaction of '%s' failed (its data is unchanged; retrying in "
                    "%lld s, less often while it fails): %s",
                    t->name, (long long)(wait / 1000), err.msg);
            t->compact_logged_ms = now;
        }
        t->compact_retry_ms = now + wait;
        break;
    }
}

void storage_db_compact(struct storage_db *db, const struct storage_compact_opts *opts,
                        storage_db_commit_fn commit, void *ctx, int period_ms,
                        const atomic_bool *stop)
{
    /* References to every open table, taken at once; a table dropped meanwhile
     * stays alive until put back (its data already gone). */
    struct storage_db_table *ts[256];
    size_t n = 0;
    pthread_mutex_lock(&db->mu);
    for (struct storage_db_table *t = db->tables; t && n < LS_ARRAY_LEN(ts); t = t->next) {
        t->refs++;
        ts[n++] = t;
    }
    pthread_mutex_unlock(&db->mu);
    for (size_t i = 0; i < n; i++) {
        if (!atomic_load(stop)) {
            struct compact_ctx c = {commit, ctx, ts[i]};
            compact_table(ts[i], opts, &c, period_ms, stop);
        }
        storage_db_put(db, ts[i]);
    }
}
