/*
 * catalog_int.h — what a catalog implementation provides: the operations
 * table (struct catalog_ops), in the manner of SQLite's VFS. catalog.c holds
 * the public functions of catalog.h and the rules they keep (one live job
 * per table, no delete under a live job, the checkpoint compare-and-swap of
 * a commit, the lease rules and the fence of a commit, the messages for
 * conflicts and missing rows); it composes them
 * from the plain queries below inside the implementation's transactions.
 * An implementation only stores and fetches rows: catalog_sqlite.c (a
 * file) and catalog_pg.c (PostgreSQL, for several nodes). Only catalog/ and
 * its unit tests include this header.
 *
 * Contract every implementation keeps:
 *   - Other writers exist: other handles in this process, other processes,
 *     other machines. Nothing read may be cached across calls; every call
 *     reads the store. (The handle is used by one thread at a time:
 *     catalog.c serialises calls on a handle with its mutex.)
 *   - begin() starts a write transaction that is serialisable against every
 *     other writer until commit() or rollback(): what was read inside it
 *     cannot change before it commits (SQLite: BEGIN IMMEDIATE takes the
 *     write lock; PostgreSQL: SERIALIZABLE, or a lock, with retry).
 *     Queries outside begin/commit run each as its own transaction.
 *     catalog.c relies on this for every rule that reads before it writes,
 *     among them a lease's acquire and a fenced commit, which reads the
 *     checkpoint document, changes its own partitions and writes it back.
 *   - checkpoint_cas() is atomic against other writers even outside a
 *     transaction: it swaps only when the stored offsets equal `expected`.
 *   - Return 0 or an LERR_* code also set in err: LERR_IO when the store
 *     failed (the message names the store's own error), LERR_NOMEM,
 *     LERR_CONFLICT from an insert whose key exists ("<what> already
 *     exists"; catalog.c may rewrite it). Rows that are absent are not
 *     errors: *found = false or *changed = 0, and catalog.c words the
 *     message.
 *   - Lists are malloc'd arrays in the order catalog.h documents.
 */
#ifndef LODESTAR_CATALOG_INT_H
#define LODESTAR_CATALOG_INT_H

#include "catalog/catalog.h"

/* One connection of an implementation (its own struct). */
struct catalog_store;

/* Which jobs a job_list returns (newest first, then by id). */
enum catalog_job_filter {
    CATALOG_JOBS_ALL,
    CATALOG_JOBS_OF_TABLE, /* job.table_name = table */
    CATALOG_JOBS_ACTIVE,   /* the ones catalog_job_list_active documents */
};

struct catalog_ops {
    const char *name; /* "sqlite", "postgresql" */

    /* ---- connection and transactions ---- */
    /* Opens (creating if needed) and migrates the store at target; *version
     * gets the schema version after migrations. */
    int (*open)(const char *target, struct catalog_store **out, int *version, struct lerr *err);
    void (*close)(struct catalog_store *s);
    int (*latest_schema_version)(void);
    int (*begin)(struct catalog_store *s, struct lerr *err);
    /* a read-only transaction: one snapshot for its statements, no writers' lock
     * (ended by commit) */
    int (*begin_read)(struct catalog_store *s, struct lerr *err);
    int (*commit)(struct catalog_store *s, struct lerr *err);
    void (*rollback)(struct catalog_store *s);

    /* ---- project and keys ---- */
    int (*project_get_default)(struct catalog_store *s, struct catalog_project *out, bool *found,
                               struct lerr *err);
    int (*project_insert)(struct catalog_store *s, const struct catalog_project *p,
                          struct lerr *err);
    int (*apikey_count)(struct catalog_store *s, int64_t *out, struct lerr *err);
    int (*apikey_insert)(struct catalog_store *s, const struct catalog_apikey *k,
                         struct lerr *err);
    int (*apikey_by_hash)(struct catalog_store *s, const char *hash, struct catalog_apikey *out,
                          bool *found, struct lerr *err);
    /* id NULL: every key, by name; else the one key (or none) */
    int (*apikey_list)(struct catalog_store *s, const char *id, struct catalog_apikey **out,
                       size_t *n, struct lerr *err);
    int (*apikey_delete)(struct catalog_store *s, const char *id, int64_t *changed,
                         struct lerr *err);
    int (*apikey_touch)(struct catalog_store *s, const char *id, int64_t now_ns, struct lerr *err);

    /* ---- tables and connections ---- */
    int (*doc_insert)(struct catalog_store *s, enum catalog_doc_type t,
                      const struct catalog_doc *d, struct lerr *err);
    int (*doc_get)(struct catalog_store *s, enum catalog_doc_type t, const char *name,
                   struct catalog_doc *out, bool *found, struct lerr *err);
    /* by name */
    int (*doc_list)(struct catalog_store *s, enum catalog_doc_type t, struct catalog_doc_list *out,
                    struct lerr *err);
    /* doc and modified_ns, and secret when d->secret is not NULL (connections) */
    int (*doc_update)(struct catalog_store *s, enum catalog_doc_type t,
                      const struct catalog_doc *d, int64_t *changed, struct lerr *err);
    int (*doc_delete)(struct catalog_store *s, enum catalog_doc_type t, const char *name,
                      int64_t *changed, struct lerr *err);

    /* ---- jobs ---- */
    /* A live job (status not canceled, failed or succeeded) whose table
     * (CATALOG_TABLE) or connection (CATALOG_CONNECTION) is `name`: its id
     * and type, or id "" when there is none. */
    int (*job_live_using)(struct catalog_store *s, enum catalog_doc_type t, const char *name,
                          char id[37], char type[16], struct lerr *err);
    /* every field of j; reset_generation starts at 0 */
    int (*job_insert)(struct catalog_store *s, const struct catalog_job *j, struct lerr *err);
    int (*job_get)(struct catalog_store *s, const char *id, struct catalog_job *out, bool *found,
                   struct lerr *err);
    int (*job_list)(struct catalog_store *s, enum catalog_job_filter f, const char *table,
                    struct catalog_job_list *out, struct lerr *err);
    /* desired, status, health, health_message, modified_by, updated_ns,
     * started_ns, completed_ns of j, by id */
    int (*job_update_state)(struct catalog_store *s, const struct catalog_job *j, int64_t *changed,
                            struct lerr *err);
    /* as catalog_job_set_status (0 times: leave as is), updated_ns = now */
    int (*job_set_status)(struct catalog_store *s, const char *id, enum catalog_job_state status,
                          enum catalog_health health, const char *health_message,
                          int64_t started_ns, int64_t completed_ns, int64_t now, int64_t *changed,
                          struct lerr *err);
    /* as catalog_job_set_desired, in one statement (the resume rule reads
     * the status it changes) */
    int (*job_set_desired)(struct catalog_store *s, const char *id, enum catalog_job_state desired,
                           const char *modified_by, int64_t now, int64_t *changed,
                           struct lerr *err);
    /* reset_generation + 1, updated_ns = now */
    int (*job_bump_reset)(struct catalog_store *s, const char *id, int64_t now, int64_t *changed,
                          struct lerr *err);
    int (*job_counters_get)(struct catalog_store *s, const char *job_id, char **out, bool *found,
                            struct lerr *err);
    int (*job_counters_put)(struct catalog_store *s, const char *job_id, const char *counters,
                            int64_t now, struct lerr *err);
    /* rows keyed "<job_id>@<node>": node is what follows the '@' */
    int (*job_counters_nodes)(struct catalog_store *s, const char *job_id,
                              struct catalog_node_counters **out, size_t *n, struct lerr *err);

    /* ---- checkpoints ---- */
    int (*checkpoint_get)(struct catalog_store *s, const char *table, const char *stream,
                          char **offsets, bool *found, struct lerr *err);
    /* insert or replace */
    int (*checkpoint_put)(struct catalog_store *s, const char *table, const char *stream,
                          const char *offsets, int64_t now, struct lerr *err);
    /* Stores `offsets` only if the stored ones equal `expected` (NULL: only
     * if none is stored); *swapped says whether it did. */
    int (*checkpoint_cas)(struct catalog_store *s, const char *table, const char *stream,
                          const char *expected, const char *offsets, int64_t now, bool *swapped,
                          struct lerr *err);
    /* Deletes the checkpoints matching table and stream; NULL matches any
     * (never both NULL). With `other_streams`, those whose stream is NOT
     * `stream`. */
    int (*checkpoint_delete)(struct catalog_store *s, const char *table, const char *stream,
                             bool other_streams, int64_t *changed, struct lerr *err);

    /* ---- segments ---- */
    /* of one table (NULL: every table), by table, chunk start, creation, id */
    int (*segment_list)(struct catalog_store *s, const char *table,
                        struct catalog_segment_list *out, struct lerr *err);
    /* g->table_name is ignored: the segment is `table`'s; g->seq and
     * g->writer are stored as given */
    int (*segment_insert)(struct catalog_store *s, const char *table,
                          const struct catalog_segment *g, int64_t created_ns, struct lerr *err);
    /* The commit counter (one row): with `bump`, first adds one (inside the
     * caller's write transaction); *out is its value. */
    int (*commit_seq)(struct catalog_store *s, bool bump, int64_t *out, struct lerr *err);
    /* one segment of table, or (id NULL) all of them */
    int (*segment_delete)(struct catalog_store *s, const char *table, const char *id,
                          int64_t *changed, struct lerr *err);

    /* ---- uploaded files ---- */
    int (*file_put)(struct catalog_store *s, const char *name, int64_t size, int64_t now,
                    struct lerr *err);
    /* every file by name (name NULL) or the one named */
    int (*file_list)(struct catalog_store *s, const char *name, struct catalog_file **out,
                     size_t *n, struct lerr *err);
    int (*file_delete)(struct catalog_store *s, const char *name, int64_t *changed,
                       struct lerr *err);

    /* ---- cluster nodes ---- */
    /* insert or replace every field of n (info NULL: keep the stored info, "{}" for a new row) */
    int (*node_put)(struct catalog_store *s, const struct catalog_node *n, struct lerr *err);
    /* every node by id */
    int (*node_list)(struct catalog_store *s, struct catalog_node **out, size_t *n,
                     struct lerr *err);
    int (*node_delete)(struct catalog_store *s, const char *id, int64_t *changed,
                       struct lerr *err);

    /* ---- leases (catalog.c keeps their rules: acquire, renew, release, the fence) ---- */
    /* table NULL: every lease; else stream NULL: the table's; else part NULL:
     * (table, stream)'s; else the one lease (or none). By table, stream, part.
     * `lost` is false in every row. */
    int (*lease_list)(struct catalog_store *s, const char *table, const char *stream,
                      const char *part, struct catalog_lease **out, size_t *n, struct lerr *err);
    /* insert or replace every field of l (but lost) */
    int (*lease_put)(struct catalog_store *s, const struct catalog_lease *l, struct lerr *err);
    /* the leases of table and stream (NULL: of every stream of table) */
    int (*lease_delete)(struct catalog_store *s, const char *table, const char *stream,
                        int64_t *changed, struct lerr *err);
};

/* The SQLite implementation (catalog_sqlite.c): target is a file path. */
extern const struct catalog_ops catalog_sqlite_ops;

/* The PostgreSQL implementation (catalog_pg.c): target is a libpq URI. */
extern const struct catalog_ops catalog_pg_ops;
/* Is target a postgresql:// or postgres:// URI? */
bool catalog_pg_is_target(const char *target);

/* catalog_open over a given implementation (catalog_open chooses by target). */
int catalog_open_ops(const struct catalog_ops *ops, const char *target, struct catalog **out,
                     struct lerr *err);

#endif
