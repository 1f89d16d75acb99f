/*
 * db.h — the engine's named tables: one handle (struct storage_db) opens,
 * caches and closes the tables of a data directory, as LMDB's mdb_dbi_open
 * owns named databases. Queries and ingestion both ask it for a table by
 * name; neither keeps its own registry.
 *
 * What a table is (its id, schema and the segment files the metadata store
 * knows) comes from a describe callback the owner supplies (the catalog's,
 * catalog_describe_table): storage never reads the catalog itself.
 *
 * Entry points:
 *   storage_db_open() / storage_db_close()
 *   storage_db_get() / storage_db_put()        a counted reference to an open table
 *   storage_db_snapshot(), storage_db_status(), storage_db_corrupt()
 *   storage_db_lock() / storage_db_unlock()     the writer lock around a schema change
 *   storage_db_sync_columns()                   add described columns storage lacks
 *   storage_db_dropped()                        forget a table and delete its files
 *   storage_db_compact()                        one compaction round over every table
 *
 * Threads: every call is thread-safe. A table's writer lock
 * (storage_db_table_lock) serialises its writers: a job's append, seal and
 * persist, schema changes, dropping its data.
 */
#ifndef LODESTAR_STORAGE_DB_H
#define LODESTAR_STORAGE_DB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "storage/segstore.h"
#include "storage/storage.h"

struct storage_db;

/* An open table. The first four members are read-only for callers. */
struct storage_db_table {
    const char *name;
    const char *id; /* the catalog's id: its directory is tables/<id> */
    struct storage_table *st;
    enum storage_gran partitioning;
    /* private */
    struct storage_db_table *next;
    pthread_mutex_t mu; /* writer lock */
    int refs;           /* the registry's own (while listed) + one per user */
    char name_buf[256], id_buf[40];
    int compact_failures;      /* in a row (the compactor's own) */
    int64_t compact_retry_ms;  /* no compaction before this */
    int64_t compact_logged_ms; /* when a failure was last logged */
};

/* What a table is, as the metadata store describes it; memory from `mem`. */
struct storage_table_desc {
    char id[40];
    struct storage_schema schema;
    /* the segment files the store knows (file names) and their chunks, 2 values
     * each; filled only when asked for (with_segments) */
    const char **known;
    size_t nknown;
    const int64_t *known_chunks;
    const bool *known_deferred; /* per known segment: left unopened (NULL: none) */
};

/* LERR_NOT_FOUND when there is no such table. */
typedef int (*storage_db_describe_fn)(void *ctx, const char *name, bool with_segments,
                                      struct arena *mem, struct storage_table_desc *out,
                                      struct lerr *err);

struct storage_db_opts {
    struct storage_limits limits; /* realtime bounds of each table (0: storage's) */
    storage_db_describe_fn describe;
    void *describe_ctx;
    /* NULL: segment files in dir/tables/<id>. Else every table's segments are
     * objects under the S3 base's PREFIX/<id>/, with dir/tables/<id> as their
     * local cache (segstore.h); the db holds a reference until closed. */
    struct segstore_s3_base *s3;
    /* Other servers write segments to the same store (a shared catalog): a
     * segment the catalog does not know may be another node's upload before
     * its commit, so a table's open leaves it (storage_open_opts.keep_unknown). */
    bool shared;
};

/* The shared segment store's base (storage_db_opts.s3), or NULL: segments on local disk. */
struct segstore_s3_base *storage_db_s3(struct storage_db *db);

/* Tables live in dir/tables/<id>; the directory is created. No table opens yet. */
int storage_db_open(const char *dir, const struct storage_db_opts *opts, struct storage_db **out,
                    struct lerr *err);
/* Frees every table (unpersisted rows are discarded). No reference may be in use. */
void storage_db_close(struct storage_db *db);

/*
 * The open table of that name, opened on first use (which removes files the
 * store does not know), with a reference the caller gives back with
 * storage_db_put(). NULL + err (LERR_NOT_FOUND: no such table).
 */
struct storage_db_table *storage_db_get(struct storage_db *db, const char *name, struct lerr *err);
void storage_db_put(struct storage_db *db, struct storage_db_table *t); /* NULL is fine */
/* The table if it is open already (a reference, as storage_db_get), else NULL. */
struct storage_db_table *storage_db_get_open(struct storage_db *db, const char *name);

void storage_db_table_lock(struct storage_db_table *t);
void storage_db_table_unlock(struct storage_db_table *t);

/* A snapshot for a query; NULL with LERR_NOT_FOUND when the table does not exist. */
struct storage_snapshot *storage_db_snapshot(struct storage_db *db, const char *name,
                                             struct lerr *err);
int storage_db_status(struct storage_db *db, const char *name, struct storage_status *out,
                      struct lerr *err);
/* The i-th corrupt segment of a table (file name, message); false past the end. */
bool storage_db_corrupt(struct storage_db *db, const char *name, size_t i, char *file,
                        size_t file_cap, char *msg, size_t msg_cap);

/*
 * Adds the described columns storage does not have yet (a schema change made
 * through the API). The table's writer lock must be held.
 */
int storage_db_sync_columns(struct storage_db *db, struct storage_db_table *t, struct lerr *err);

/* Holds a table's writer lock across a read-modify-write of its description;
 * storage_db_unlock() applies new columns (storage_db_sync_columns) first. */
void storage_db_lock(struct storage_db *db, const char *name);
void storage_db_unlock(struct storage_db *db, const char *name);

/* After the store dropped the table: forget it (once its last user is done)
 * and delete its directory tables/<id> (and, over S3, its objects). A table
 * of that name but another id (made again since) is left alone. */
void storage_db_dropped(struct storage_db *db, const char *name, const char *table_id);

/*
 * A table another writer of a shared store may have dropped, and made again
 * under the same name: `current_id` is the store's id for it now (NULL: no
 * such table). When *t is of another id it is dropped here
 * (storage_db_dropped) and *t becomes the table now (NULL, LERR_NOT_FOUND,
 * when there is none); the caller's reference moves with it.
 */
int storage_db_refresh(struct storage_db *db, struct storage_db_table **t, const char *current_id,
                       struct lerr *err);

/* Records what a compaction changed, for storage_db_compact(). */
typedef int (*storage_db_commit_fn)(void *ctx, struct storage_db_table *t,
                                    const struct storage_segment_info *added, size_t nadded,
                                    const struct storage_segment_info *removed, size_t nremoved,
                                    struct lerr *err);

/*
 * One compaction round: for every open table, merges small segments (up to
 * 16 merges) with `opts`, committing each through `commit`. A table whose
 * compaction fails keeps its data and is retried later, less often while it
 * keeps failing (period_ms doubling up to 10 min); the first failure and then
 * one every 10 min is logged. Returns early once *stop is true.
 */
void storage_db_compact(struct storage_db *db, const struct storage_compact_opts *opts,
                        storage_db_commit_fn commit, void *ctx, int period_ms,
                        const atomic_bool *stop);

#endif
