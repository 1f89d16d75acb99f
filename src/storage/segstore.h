/*
 * segstore.h — where a table's segment files live, behind a small
 * operations table: put a finished segment durably, open one for reading
 * (mapped bytes), remove one, list the names present. The local-directory
 * store (segstore.c) is today's behaviour; an object store (S3) can sit
 * behind the same table later (DESIGN.md's cluster plan), with the temp
 * file on local disk and put() uploading it.
 *
 * Entry points: segstore_local_new(), segstore_s3_base_new() and
 * segstore_s3_new() (segstore_s3.c), segstore_ref/unref(),
 * segstore_temp_create(), segstore_put(), segstore_temp_abort(),
 * segstore_open(), segstore_close(), segstore_remove(), segstore_sync(),
 * segstore_list(), segstore_remove_temps(), segstore_io_error().
 *
 * A segment is written into a local temporary file (segstore_temp_create:
 * the writer gets a file descriptor) and then made visible under its name
 * by segstore_put, which is all or nothing: after a failure the name does
 * not exist and the temporary file is gone. Temporary files are never
 * listed and never opened as segments.
 *
 * Other writers: a store keeps no list of names in memory; list and open
 * ask the storage each time. segstore_remove_temps removes every temporary
 * file, so it belongs at start-up, when no write of this table is under way.
 *
 * Thread-safety: every function may be called from any thread; a store is
 * shared by reference (segment readers hold one).
 * Errors: 0 or an LERR_* code also set in err: LERR_IO (naming the file,
 * the system's reason and the disk to free or check), LERR_NOT_FOUND (open
 * of a name that does not exist), LERR_NOMEM.
 */
#ifndef LODESTAR_SEGSTORE_H
#define LODESTAR_SEGSTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/* The name prefix of temporary files; such names are never segments. */
#define SEGSTORE_TMP_PREFIX ".tmp-"

struct segstore;

/* A segment being written: a local file the writer fills through fd. */
struct segstore_temp {
    int fd;
    char *name;        /* the segment's name once put */
    char *path;        /* the local temporary file (named in errors) */
    const char *where; /* the local directory that holds it (the disk to free) */
};

/* A segment open for reading: its bytes (p NULL when n is 0). */
struct segstore_map {
    const void *p;
    size_t n;
};

/* Called once per name by segstore_list; non-zero stops the listing and is returned. */
typedef int (*segstore_name_fn)(void *ctx, const char *name);

struct segstore_ops {
    const char *kind; /* "local", "s3" */
    int (*temp_create)(struct segstore *s, const char *name, struct segstore_temp *t,
                       struct lerr *err);
    /* fsync, close, publish under t->name durably; on failure nothing is visible */
    int (*put)(struct segstore *s, struct segstore_temp *t, struct lerr *err);
    /* closes and removes the temporary file */
    void (*temp_abort)(struct segstore *s, struct segstore_temp *t);
    int (*open)(struct segstore *s, const char *name, struct segstore_map *out, struct lerr *err);
    void (*close)(struct segstore *s, struct segstore_map *m);
    int (*remove)(struct segstore *s, const char *name, struct lerr *err);
    /* makes the removals so far durable */
    int (*sync)(struct segstore *s, struct lerr *err);
    int (*list)(struct segstore *s, segstore_name_fn fn, void *ctx, struct lerr *err);
    /* removes temporary files left by interrupted writes; *n gets how many */
    int (*remove_temps)(struct segstore *s, size_t *n, struct lerr *err);
    void (*destroy)(struct segstore *s);
};

/* The common head of every store (an implementation's struct begins with it). */
struct segstore {
    const struct segstore_ops *ops;
    _Atomic long refs;
    char *where;  /* the directory (or bucket/prefix), named in messages */
    bool scratch; /* local: files for one request, never fsynced */
};

/* A store over an existing local directory ("" = the current one). */
int segstore_local_new(const char *dir, struct segstore **out, struct lerr *err);
/* The same for files that live for one request (images another node reads):
 * put renames without fsyncs, since nothing is lost with them on a crash. */
int segstore_scratch_new(const char *dir, struct segstore **out, struct lerr *err);

struct segstore *segstore_ref(struct segstore *s);
void segstore_unref(struct segstore *s);

/*
 * Writing: temp_create, write to t->fd, then put (which always ends the
 * temp: published, or removed on failure) or temp_abort. The temp's fields
 * are owned by the store until put or abort.
 */
int segstore_temp_create(struct segstore *s, const char *name, struct segstore_temp *t,
                         struct lerr *err);
int segstore_put(struct segstore *s, struct segstore_temp *t, struct lerr *err);
void segstore_temp_abort(struct segstore *s, struct segstore_temp *t);

/* Reading: the segment's bytes until segstore_close. LERR_NOT_FOUND when absent. */
int segstore_open(struct segstore *s, const char *name, struct segstore_map *out,
                  struct lerr *err);
void segstore_close(struct segstore *s, struct segstore_map *m);

/* Removes a segment (LERR_NOT_FOUND when absent); segstore_sync makes removals durable. */
int segstore_remove(struct segstore *s, const char *name, struct lerr *err);
int segstore_sync(struct segstore *s, struct lerr *err);

/* The names of the segments present (never temporary files), in no order. */
int segstore_list(struct segstore *s, segstore_name_fn fn, void *ctx, struct lerr *err);
int segstore_remove_temps(struct segstore *s, size_t *n, struct lerr *err);

/*
 * For stores: a temporary file "DIR/.tmp-<name>" opened for writing (and
 * reading), its fields owned by t; segstore_temp_discard closes, removes
 * and frees it.
 */
int segstore_temp_file(struct segstore_temp *t, const char *name, const char *dir,
                       struct lerr *err);
void segstore_temp_discard(struct segstore_temp *t);

/*
 * LERR_IO for a failed system call on a segment file: what failed, the
 * file, the errno's text, and what to do (a full disk or quota names the
 * directory whose filesystem needs space). For stores and the writer.
 */
int segstore_io_error(struct lerr *err, const char *what, const char *path, const char *dir,
                      int e);

/* ---- the S3 store (segstore_s3.c) --------------------------------------------
 *
 * Segments as objects s3://BUCKET/PREFIX/<table>/<name>, with a bounded
 * local cache: the table's directory holds the temp files and cached
 * copies. put uploads the temp (its SHA-256 as x-amz-meta-sha256), then
 * keeps it as the cached copy; open serves the cached copy or downloads
 * one (checking the SHA-256: a mismatch is LERR_IO naming the object, and
 * the bad copy is removed); remove deletes the object and the copy. The
 * cache is one LRU over every table's copies (by bytes); a copy that is
 * open (mapped) is never evicted, so the cache may exceed its size while
 * more than that is open. Cached copies found at start-up are adopted
 * (segments carry their own checksums, checked at open).
 * Errors: as above, plus LERR_IO with the S3 client's message (s3.h).
 */
struct segstore_s3_base; /* the bucket, prefix, client and cache all tables share */

struct segstore_s3_opts {
    const char *url;      /* s3://BUCKET[/PREFIX] */
    const char *endpoint; /* NULL: AWS_ENDPOINT_URL, else AWS itself */
    uint64_t cache_bytes; /* the local cache's bound (0: 10 GiB) */
    /* the S3 client's knobs (0: its defaults; s3.h) */
    uint64_t multipart_threshold, part_size;
    int max_attempts, backoff_ms;
};

/* Parses the URL, makes the client (credentials from AWS_*), and checks the
 * bucket answers a listing. LERR_INVALID (bad URL, no credentials), LERR_IO. */
int segstore_s3_base_new(const struct segstore_s3_opts *o, struct segstore_s3_base **out,
                         struct lerr *err);
/* Each table store holds a reference; the creator drops its own with unref. */
struct segstore_s3_base *segstore_s3_base_ref(struct segstore_s3_base *b);
void segstore_s3_base_unref(struct segstore_s3_base *b);
/* The bytes the cache holds now (for tests and status). */
uint64_t segstore_s3_cache_bytes(struct segstore_s3_base *b);

/* A store for objects under PREFIX/<sub>/, caching in the local directory
 * cache_dir (which must exist). */
/*
 * The orphan sweep of a shared store (api/cluster.c): every segment object
 * under the base's PREFIX ("<sub>/<name>.lseg", temporaries left out) whose
 * LastModified is older than cutoff_ms, and for which known(ctx, sub, name)
 * says false, is deleted. The listing is taken first and `known` asked after
 * it, so an object committed meanwhile is known. Counts what it deleted
 * (*deleted, *bytes). Stops at the first error of the listing;
 * a failed delete is logged and the sweep goes on. A node's cached copy of a
 * deleted object is not removed: no commit names it, so nothing opens it.
 */
typedef bool (*segstore_known_fn)(void *ctx, const char *sub, const char *name);
int segstore_s3_sweep(struct segstore_s3_base *b, int64_t cutoff_ms, segstore_known_fn known,
                      void *ctx, size_t *deleted, uint64_t *bytes, struct lerr *err);
/* "s3://BUCKET/PREFIX" of the base, for messages. */
void segstore_s3_where(const struct segstore_s3_base *b, char *out, size_t cap);
int segstore_s3_new(struct segstore_s3_base *b, const char *sub, const char *cache_dir,
                    struct segstore **out, struct lerr *err);

#endif
