/*
 * catalog.h — the metadata store: the project, API keys, tables,
 * connections, lookups, jobs, stream checkpoints, segments, uploaded files, the
 * cluster's nodes and the leases of stream partitions. The
 * functions here keep the rules (catalog.c) over an implementation's
 * operations table (catalog_int.h): SQLite today (catalog_sqlite.c), a
 * PostgreSQL one later (DESIGN §8). Callers never know which: plain C
 * structs and JSON text in and out. It knows nothing of HTTP; the rules and
 * the implementations do not parse the JSON documents they store: spec.h
 * (spec.c) is the one parser of those documents, for the API and the
 * runtime alike. (One exception: a fenced commit reads and rewrites the
 * checkpoint's offsets per partition, through source.h's parser of that
 * text, source_offsets_from_json.)
 *
 * Resources are stored as JSON documents (the normalised spec the API
 * validated) beside the few columns the catalog itself must query: names,
 * the job's table and connection, statuses and timestamps.
 *
 * Thread-safety: a struct catalog may be shared by threads; calls are
 * serialised inside. Other handles and other processes (e.g. `lodestar
 * apikey create`, later other servers) may write the same catalog at the
 * same time: nothing is cached across calls, each rule that reads before it
 * writes runs in one transaction, and a commit advances its checkpoint only
 * by compare-and-swap (tests/unit/test_catalog_concurrent.c) — of the whole
 * document, or, fenced by leases, of its own partitions
 * (tests/unit/test_catalog_lease.c).
 *
 * Errors: every function returns 0 or an LERR_* code also set in err:
 * LERR_NOT_FOUND, LERR_CONFLICT (with a message naming the clash), LERR_IO
 * (the database failed).
 */
#ifndef LODESTAR_CATALOG_H
#define LODESTAR_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct catalog;

/*
 * Opens (creating if needed) and migrates the catalog at target: a
 * postgresql:// or postgres:// URI is a PostgreSQL database (libpq's URI
 * form; catalog_pg.c), anything else a SQLite file path. LERR_IO when the
 * store cannot be reached, LERR_INVALID for a bad URI or a newer schema.
 */
int catalog_open(const char *target, struct catalog **out, struct lerr *err);
void catalog_close(struct catalog *c);
/* Whether other servers may share this catalog (PostgreSQL): the runtime then
 * spreads streaming jobs' partitions over the live nodes by leases. False for
 * SQLite, the single node's file. */
bool catalog_is_shared(const struct catalog *c);
/* The schema version after migrations (the number of migrations applied). */
int catalog_schema_version(struct catalog *c);
int catalog_latest_schema_version(void);

/* ---- the project ------------------------------------------------------ */

struct catalog_project {
    char id[37];
    char name[128];
    int64_t created_ns;
};
/* The default project, created with a random UUID on first open and stable after. */
int catalog_project_default(struct catalog *c, struct catalog_project *out, struct lerr *err);

/* ---- API keys ---------------------------------------------------------- */

struct catalog_apikey {
    char id[37]; /* uuid */
    char name[128];
    char hash[65];         /* SHA-256 of the key, hex; the key itself is never stored */
    char permissions[512]; /* comma-separated permission names */
    char description[256];
    int64_t created_ns;
    int64_t last_used_ns; /* 0: never; kept to the minute (catalog_apikey_touch) */
};
int catalog_apikey_count(struct catalog *c, int64_t *out, struct lerr *err);
/* LERR_CONFLICT if the name is taken. */
int catalog_apikey_insert(struct catalog *c, const struct catalog_apikey *k, struct lerr *err);
int catalog_apikey_by_hash(struct catalog *c, const char *hash, struct catalog_apikey *out,
                           struct lerr *err);
/* Every key, by name (*out malloc'd; free it). */
int catalog_apikey_list(struct catalog *c, struct catalog_apikey **out, size_t *n,
                        struct lerr *err);
int catalog_apikey_get(struct catalog *c, const char *id, struct catalog_apikey *out,
                       struct lerr *err);
/* Revokes key `id`: the next request with it is a 401, on every server of the
 * catalog. LERR_CONFLICT when it is the last key with ManageApiKeys (nobody
 * could manage keys after it but the command line). */
int catalog_apikey_delete(struct catalog *c, const char *id, struct lerr *err);
/* Records that key `id` was used at now_ns. */
int catalog_apikey_touch(struct catalog *c, const char *id, int64_t now_ns, struct lerr *err);

/* ---- documents: tables and connections --------------------------------- */

/*
 * A named document. `doc` is malloc'd JSON text owned by the struct after a
 * get/list (free with catalog_doc_destroy / catalog_doc_list_free).
 * `secret` (connections only) is write-only JSON text, never echoed by the API.
 */
struct catalog_doc {
    char name[256];
    char kind[40]; /* table type or connection type: an API name from spec.h's maps */
    char *doc;
    char *secret; /* NULL when none */
    int64_t created_ns, modified_ns;
};
struct catalog_doc_list {
    struct catalog_doc *items;
    size_t n;
};
void catalog_doc_destroy(struct catalog_doc *d);
void catalog_doc_list_free(struct catalog_doc_list *l);

/* CATALOG_LOOKUP: a named key → value map for SQL's LOOKUP(); its doc is
 * the JSON the API stores (api/lookups.c), kind "map" or "table" (how it
 * was made); no job uses one. */
enum catalog_doc_type { CATALOG_TABLE, CATALOG_CONNECTION, CATALOG_LOOKUP };

/* Inserts; LERR_CONFLICT when the name exists. */
int catalog_doc_insert(struct catalog *c, enum catalog_doc_type t, const struct catalog_doc *d,
                       struct lerr *err);
int catalog_doc_get(struct catalog *c, enum catalog_doc_type t, const char *name,
                    struct catalog_doc *out, struct lerr *err);
int catalog_doc_list(struct catalog *c, enum catalog_doc_type t, struct catalog_doc_list *out,
                     struct lerr *err);
/* Replaces doc (and secret, when d->secret is not NULL) and modified_ns. */
int catalog_doc_update(struct catalog *c, enum catalog_doc_type t, const struct catalog_doc *d,
                       struct lerr *err);
/*
 * A read-modify-write of one document in one write transaction, safe with
 * other writers (other nodes adding the same discovered column): fn gets
 * the stored text and sets *out to the new text (malloc'd; NULL: no change)
 * or returns an error, which rolls back. LERR_NOT_FOUND when absent.
 */
typedef int (*catalog_doc_modify_fn)(void *ctx, const char *doc, char **out, struct lerr *err);
int catalog_doc_modify(struct catalog *c, enum catalog_doc_type t, const char *name,
                       catalog_doc_modify_fn fn, void *ctx, struct lerr *err);
/*
 * Deletes; LERR_CONFLICT when a live job (executionStatus not canceled or
 * failed) uses it: as its target table, or as its connection.
 */
int catalog_doc_delete(struct catalog *c, enum catalog_doc_type t, const char *name,
                       struct lerr *err);

/* ---- jobs -------------------------------------------------------------- */

/* A job's executionStatus and desiredExecutionStatus (desired is running,
 * suspended or canceled), with their API names. */
#define CATALOG_JOB_STATE_MAP(X)          \
    X(CATALOG_JOB_PENDING, "pending")     \
    X(CATALOG_JOB_RUNNING, "running")     \
    X(CATALOG_JOB_SUSPENDED, "suspended") \
    X(CATALOG_JOB_CANCELED, "canceled")   \
    X(CATALOG_JOB_FAILED, "failed")       \
    X(CATALOG_JOB_SUCCEEDED, "succeeded")

enum catalog_job_state {
#define CATALOG_JOB_STATE_ENUM(e, name) e,
    CATALOG_JOB_STATE_MAP(CATALOG_JOB_STATE_ENUM)
#undef CATALOG_JOB_STATE_ENUM
        CATALOG_JOB__STATE_COUNT
};

/* A job's type (the stored job.type column holds these names). */
#define CATALOG_JOB_TYPE_MAP(X)           \
    X(CATALOG_JOB_STREAMING, "streaming") \
    X(CATALOG_JOB_BATCH, "batch")         \
    X(CATALOG_JOB_SQL, "sql")             \
    X(CATALOG_JOB_DELETE_DATA, "delete_data")

enum catalog_job_type {
#define CATALOG_JOB_TYPE_ENUM(e, name) e,
    CATALOG_JOB_TYPE_MAP(CATALOG_JOB_TYPE_ENUM)
#undef CATALOG_JOB_TYPE_ENUM
        CATALOG__JOB_TYPE_COUNT
};

/* A job's health.status. */
#define CATALOG_HEALTH_MAP(X)      \
    X(CATALOG_HEALTH_OK, "ok")     \
    X(CATALOG_HEALTH_WARN, "warn") \
    X(CATALOG_HEALTH_ERROR, "error")

enum catalog_health {
#define CATALOG_HEALTH_ENUM(e, name) e,
    CATALOG_HEALTH_MAP(CATALOG_HEALTH_ENUM)
#undef CATALOG_HEALTH_ENUM
        CATALOG__HEALTH_COUNT
};

/* The API names, and back (-1 for a name that is none of them). values.c */
const char *catalog_job_state_name(enum catalog_job_state s);
int catalog_job_state_parse(const char *name);
const char *catalog_health_name(enum catalog_health h);
int catalog_health_parse(const char *name);
const char *catalog_job_type_name(enum catalog_job_type v);
int catalog_job_type_parse(const char *name);

struct catalog_job {
    char id[37];
    enum catalog_job_type type;
    char table_name[256];
    char connection_name[256];      /* "" when the source is not a connection */
    enum catalog_job_state desired; /* running | suspended | canceled */
    enum catalog_job_state status;
    enum catalog_health health;
    char health_message[512];
    char *spec;        /* malloc'd JSON: the normalised user spec */
    char *created_by;  /* malloc'd JSON {"username","userId"} */
    char *modified_by; /* malloc'd JSON */
    int64_t created_ns, updated_ns;
    int64_t started_ns, completed_ns; /* 0 = not yet */
    int64_t reset_generation;         /* bumped by every reset request */
};
struct catalog_job_list {
    struct catalog_job *items;
    size_t n;
};
void catalog_job_destroy(struct catalog_job *j);
void catalog_job_list_free(struct catalog_job_list *l);

/* Whether a status counts as live (holds its table). */
bool catalog_job_status_live(enum catalog_job_state status);

/*
 * Inserts a job. LERR_CONFLICT when another job (streaming or batch) on the
 * same table is live (checked in the same transaction): one writer per table.
 * A streaming job names its stream: in the same transaction the table's
 * checkpoint of any other stream is dropped (one per table: *dropped says
 * how many; may be NULL), and `start` (an offsets document, or NULL) becomes
 * its checkpoint of `stream` unless it has one already — where the job
 * starts, fixed when it is created (ingest_job_start).
 */
int catalog_job_insert(struct catalog *c, const struct catalog_job *j, const char *stream,
                       const char *start, int *dropped, struct lerr *err);
int catalog_job_get(struct catalog *c, const char *id, struct catalog_job *out, struct lerr *err);
/* All jobs, newest first. */
int catalog_job_list(struct catalog *c, struct catalog_job_list *out, struct lerr *err);
/* The jobs of one table, newest first. */
int catalog_job_list_table(struct catalog *c, const char *table, struct catalog_job_list *out,
                           struct lerr *err);
/*
 * The jobs the runtime may have to act on: those that should run, and those
 * whose status has yet to follow a suspend or cancel. Terminal jobs (canceled,
 * succeeded, failed and not asked to run again, suspended as asked) are left
 * out, so supervising stays cheap however many old jobs the catalog keeps.
 */
int catalog_job_list_active(struct catalog *c, struct catalog_job_list *out, struct lerr *err);
/* Writes desired, status, health, health_message, modified_by, updated_ns,
 * started_ns and completed_ns of j (matched by id). */
int catalog_job_update_state(struct catalog *c, const struct catalog_job *j, struct lerr *err);

/*
 * What the runtime changes as a job runs: status, health and its message,
 * and the started/completed times (0 = leave as is). Leaves desired and
 * modified_by alone, so it never undoes a user's concurrent request.
 */
int catalog_job_set_status(struct catalog *c, const char *id, enum catalog_job_state status,
                           enum catalog_health health, const char *health_message,
                           int64_t started_ns, int64_t completed_ns, struct lerr *err);

/*
 * What the user changes: desiredExecutionStatus and lastModifiedBy. A resume
 * ("running") of a suspended or failed job also puts it back to pending with
 * health ok, atomically, so the runtime starts it again.
 */
int catalog_job_set_desired(struct catalog *c, const char *id, enum catalog_job_state desired,
                            const char *modified_by, struct lerr *err);

/* ---- stream checkpoints, keyed by (table, stream) ---------------------- */

/*
 * Records a reset request for a job: drops the checkpoint of (table, stream)
 * — replaced by `start` when not NULL: where the job now reads from — and
 * bumps the job's reset_generation, in one transaction.
 */
int catalog_job_reset(struct catalog *c, const char *job_id, const char *table, const char *stream,
                      const char *start, struct lerr *err);
/* The checkpoint's JSON text (malloc'd) or LERR_NOT_FOUND. */
int catalog_checkpoint_get(struct catalog *c, const char *table, const char *stream,
                           char **offsets_json, struct lerr *err);
int catalog_checkpoint_put(struct catalog *c, const char *table, const char *stream,
                           const char *offsets_json, struct lerr *err);
/*
 * A table keeps one reading checkpoint, tied to its topic or stream (the
 * Polaris rule): a job reading `stream` drops the table's checkpoints of
 * every other stream. *dropped (may be NULL) gets how many were dropped.
 */
int catalog_checkpoint_claim(struct catalog *c, const char *table, const char *stream,
                             int *dropped, struct lerr *err);
/* Drops every table's checkpoint of a stream (a deleted push connection's). */
int catalog_checkpoint_drop_stream(struct catalog *c, const char *stream, struct lerr *err);

/* ---- uploaded files (batch ingestion) ----------------------------------- */

struct catalog_file {
    char name[256];
    int64_t size;
    int64_t created_ns;
};
/* Records (or replaces) an uploaded file. */
int catalog_file_put(struct catalog *c, const char *name, int64_t size, struct lerr *err);
/* Every file (name NULL) or one (LERR_NOT_FOUND when absent); *out malloc'd. */
int catalog_file_list(struct catalog *c, const char *name, struct catalog_file **out, size_t *n,
                      struct lerr *err);
int catalog_file_delete(struct catalog *c, const char *name, struct lerr *err);

/* ---- cluster nodes -------------------------------------------------------- */

/*
 * A server that shares this catalog: it heartbeats its row every few
 * seconds; a node whose heartbeat is older than CATALOG_NODE_EXPIRY_NS is
 * not live. secret_check is a keyed hash of the cluster secret
 * (LODESTAR_CLUSTER_SECRET), never the secret: nodes with different secrets
 * are not one cluster. info is the JSON text the node publishes with each
 * heartbeat (what it holds: jobs, partitions, lag, segments).
 */
#define CATALOG_NODE_EXPIRY_NS (10LL * 1000000000LL)
struct catalog_node {
    char id[128];
    char advertise[256]; /* the node's API address, as the others reach it */
    char version[32];
    char secret_check[65];
    int64_t started_ns, heartbeat_ns;
    char *info; /* malloc'd JSON text ("{}" when nothing) */
};
void catalog_node_list_free(struct catalog_node *nodes, size_t n);
/*
 * A node starts (in one write transaction): LERR_CONFLICT when a live node
 * has the same id but another address (two servers given one --node-id),
 * LERR_INVALID when a live node has another secret_check (a different
 * LODESTAR_CLUSTER_SECRET); each message names the other node and what to
 * change. Otherwise writes n's row with heartbeat_ns = now (a node that
 * restarts at its address takes its row over).
 */
int catalog_node_join(struct catalog *c, const struct catalog_node *n, struct lerr *err);
/* Refreshes a node's heartbeat and info (info NULL: keeps it); writes the row if it is gone. */
int catalog_node_heartbeat(struct catalog *c, const struct catalog_node *n, struct lerr *err);
/* Every node, by id; *out malloc'd (catalog_node_list_free). */
int catalog_node_list(struct catalog *c, struct catalog_node **out, size_t *n, struct lerr *err);
/* Removes a node's row (a clean shutdown); absent is not an error. */
int catalog_node_leave(struct catalog *c, const char *id, struct lerr *err);

/* ---- leases: which node reads which partition of a stream ---------------- */

/*
 * A streaming job's partitions are spread over the live nodes by lease rows,
 * one per (table, stream, part). `part` names one partition of the stream as
 * the checkpoint's offsets document does, "<topic>:<partition>" (e.g.
 * "events:3"; for Kinesis "<stream>:<shard index>"; catalog_lease_part_key),
 * the form a fenced commit needs; 1..255 bytes. The holder renews its leases well within the
 * TTL (every TTL/3, say); a lease whose expires_ns has passed may be taken
 * by another node.
 *
 * The epoch fences a partition's commits: it is bumped each time the
 * partition passes to another node (a takeover of an expired lease, or an
 * acquire after a release), never when the holder renews or re-acquires its
 * own. A node commits a partition only with the epoch it acquired
 * (struct catalog_fence), so a node that was paused or cut off past its
 * lease, and whose partition moved, can no longer commit it. Epochs grow
 * for as long as the row exists: a release keeps the row (holder "");
 * catalog_lease_drop deletes rows, after which a partition starts again at
 * epoch 1 — only for a job reset or delete, where the checkpoint goes too.
 *
 * Time: now_ns = 0 is the caller's clock (util_now_ns); tests pass their
 * own. Expiry compares the clocks of the nodes that write the rows, so
 * nodes' clocks should agree to well within the TTL (NTP). Safety does not
 * depend on them: a takeover bumps the epoch and a fenced commit needs the
 * current one, so a skewed clock can at worst let two nodes read one
 * partition for a while; only one of them can commit it.
 *
 * Runtime use (ingest/stream.c, in a cluster): acquire the partitions the
 * rebalance gives this node (LERR_CONFLICT: another node holds it; try
 * again after its expiry); renew all held leases on a timer, and stop
 * reading every partition reported lost (without committing it); commit
 * persisted rows with a fence of the held partitions and their epochs; on
 * a rebalance or a clean stop, persist and commit, then release.
 */
#define CATALOG_LEASE_TTL_NS (10LL * 1000000000LL)
struct catalog_lease {
    char table_name[256];
    char stream[256];
    char part[256];
    char node_id[128];   /* the holder; "" when free (released) */
    int64_t epoch;       /* >= 1; bumped when the partition changes hands */
    int64_t acquired_ns; /* when the holder's epoch began */
    int64_t expires_ns;  /* 0 when free */
    bool lost;           /* set by catalog_lease_renew: the node no longer holds it */
    /* set by catalog_lease_acquire: the partition was held, by another node or
     * by this id in an earlier life, and not released; rows read under that
     * lease and not committed are gone until read again */
    bool taken_over;
};

/* A partition's key, "<topic>:<partition>", into out (the form the fence reads).
 * LERR_INVALID for an empty topic, a negative partition, or a key over 255 bytes. */
int catalog_lease_part_key(const char *topic, int32_t partition, char out[256], struct lerr *err);
/*
 * Takes (or keeps) partition `part` of (table, stream) for node_id until
 * now + ttl_ns (ttl_ns <= 0: CATALOG_LEASE_TTL_NS), in one write
 * transaction: a partition without a lease starts at epoch 1; the node's own
 * lease (live or expired) keeps its epoch; a free or expired lease of
 * another node is taken over with epoch + 1. LERR_CONFLICT when another
 * node's lease is live (the message names the holder, its epoch and when
 * it expires); LERR_INVALID for an empty or too long name. *out (may be
 * NULL) gets the stored lease.
 */
int catalog_lease_acquire(struct catalog *c, const char *table, const char *stream,
                          const char *part, const char *node_id, int64_t ttl_ns, int64_t now_ns,
                          struct catalog_lease *out, struct lerr *err);
/*
 * The node's heartbeat of its leases, in one write transaction: for each
 * held[i] (its table_name, stream, part and the epoch the node acquired),
 * a lease still held by node_id at that epoch (even if it expired, as long
 * as no other node took it) gets expires_ns = now + ttl_ns, copied into
 * held[i]. Any other is lost: held[i].lost = true, and its node_id, epoch,
 * acquired_ns and expires_ns become the stored row's (node_id "" and epoch
 * 0 when the lease is gone); *nlost (may be NULL) counts them. The node
 * must stop reading a lost partition and not commit it.
 */
int catalog_lease_renew(struct catalog *c, const char *node_id, int64_t ttl_ns, int64_t now_ns,
                        struct catalog_lease *held, size_t n, size_t *nlost, struct lerr *err);
/*
 * Hands a partition over (a rebalance, a clean stop): the lease becomes free
 * at once, keeping its epoch, so the next acquire bumps it. LERR_NOT_FOUND
 * when there is no lease; LERR_CONFLICT when node_id does not hold it at
 * `epoch` (the message names the holder): nothing changes.
 */
int catalog_lease_release(struct catalog *c, const char *table, const char *stream,
                          const char *part, const char *node_id, int64_t epoch, struct lerr *err);
/* The leases of (table, stream) (stream NULL: of every stream of table; table
 * NULL: every lease), by table, stream, part; free ones included (node_id
 * ""). *out malloc'd (free()). */
int catalog_lease_list(struct catalog *c, const char *table, const char *stream,
                       struct catalog_lease **out, size_t *n, struct lerr *err);
/* Deletes the leases of (table, stream) (stream NULL: of every stream of
 * the table): a job reset or delete. Deleting a table drops its leases too. */
int catalog_lease_drop(struct catalog *c, const char *table, const char *stream, struct lerr *err);

/* ---- segments, and the commit that makes rows and offsets durable together ---- */

struct catalog_segment {
    char id[320]; /* unique across tables, e.g. "<table id>/<file name>" */
    char table_name[256];
    char path[512];                 /* relative to the data dir */
    int64_t chunk_start, chunk_end; /* the time chunk, ms [start, end) */
    int64_t min_time, max_time;     /* of the rows, ms */
    int64_t rows, bytes;
    int64_t created_ns;
    /* Set by catalog_commit (what callers pass is ignored): the commit's
     * number in the catalog's one counter, and the node whose fenced
     * (streaming) commit added it ("" for any other commit). */
    int64_t seq;
    char writer[64];
};
struct catalog_segment_list {
    struct catalog_segment *items;
    size_t n;
    int64_t seq; /* catalog_segment_cut: the last commit the list includes */
};
void catalog_segment_list_free(struct catalog_segment_list *l);
/* Every segment of a table (table NULL: of every table), by chunk then creation. */
int catalog_segment_list(struct catalog *c, const char *table, struct catalog_segment_list *out,
                         struct lerr *err);
/*
 * A table's segments and the number of the last commit that changed any
 * segment (out->seq), read in one snapshot (a read-only transaction that
 * takes no writers' lock, so a writer paused in its transaction does not
 * hold it up): a consistent cut. A
 * segment of a later list whose seq is greater was committed after this cut.
 * Every commit that adds or removes segments takes the next number, in
 * commit order (writers are serialised).
 */
int catalog_segment_cut(struct catalog *c, const char *table, struct catalog_segment_list *out,
                        struct lerr *err);

/*
 * One transaction that publishes what a persist or a compaction produced:
 * adds segments, removes segments (compaction), advances a stream
 * checkpoint with compare-and-swap (the stored offsets must equal
 * expected_offsets; NULL expected = no checkpoint may exist yet), and saves
 * a job's counters. Any part may be absent (NULL / 0). LERR_CONFLICT when
 * the checkpoint moved under us (another writer, or a reset): nothing is
 * written.
 *
 * Fenced (cm->fence set; several nodes each committing their own partitions
 * of one (table, stream)): expected_offsets and new_offsets are offsets
 * documents of the fenced partitions only ({"topic":{"3":next}}, as
 * source_offsets_to_json writes them; expected NULL, or a partition absent
 * from it: none stored yet). In the same transaction: every fenced
 * partition's lease must be held by fence->node_id at its epoch and not
 * expired, else LERR_CONFLICT "fenced: partition P of table T is leased to
 * node N at epoch E ..."; the stored offsets of each fenced partition must
 * equal the expected ones, else LERR_CONFLICT; then those partitions'
 * offsets are replaced in the stored document, every other partition's kept
 * as it was. Nothing is written on any error. LERR_INVALID for a part key
 * that is not "<topic>:<partition>", a document naming a partition the
 * fence does not, or a fenced partition new_offsets lacks.
 * catalog_checkpoint_get still returns one document with every partition.
 */
struct catalog_fence_part {
    const char *part; /* "<topic>:<partition>", the lease's part */
    int64_t epoch;    /* the epoch the node acquired */
};
struct catalog_fence {
    const char *node_id;
    const struct catalog_fence_part *parts;
    size_t nparts;
    int64_t now_ns; /* expiry is checked at this time; 0: the clock */
};
struct catalog_commit {
    const char *table_name;
    const struct catalog_segment *add;
    size_t nadd;
    const char *const *remove_ids;
    size_t nremove;
    const char *stream;                /* checkpoint key (with table_name) or NULL */
    const char *expected_offsets;      /* JSON text, or NULL when none is expected */
    const char *new_offsets;           /* JSON text */
    const char *job_id;                /* counters of this job, or NULL */
    const char *job_counters;          /* JSON text */
    const struct catalog_fence *fence; /* NULL: the whole document's compare-and-swap */
    /* A stream one node of a cluster reads whole (not by partition leases): the commit,
     * rows included, is made only while this lease — the job's run lease — is the node's
     * and live (else LERR_CONFLICT with target "fence"). Not with `fence`. */
    const struct catalog_lease *run;
};
int catalog_commit(struct catalog *c, const struct catalog_commit *cm, struct lerr *err);
/* What each node of a cluster saved for a job (its key "<job id>@<node>",
 * ingest's): one row per node. */
struct catalog_node_counters {
    char node[128];
    char *counters; /* malloc'd JSON */
};
int catalog_job_counters_nodes(struct catalog *c, const char *job_id,
                               struct catalog_node_counters **out, size_t *n, struct lerr *err);
void catalog_node_counters_free(struct catalog_node_counters *v, size_t n);
/* A job's saved counters (malloc'd JSON) or LERR_NOT_FOUND when none yet. */
int catalog_job_counters(struct catalog *c, const char *job_id, char **out, struct lerr *err);

#endif
