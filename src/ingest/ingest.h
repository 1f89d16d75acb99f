/*
 * ingest.h — the jobs that turn records into table rows: the runtime
 * (supervisor, streaming and batch runners, metrics). The row pipeline
 * they run is in pipeline.h, included here.
 */
#ifndef LODESTAR_INGEST_H
#define LODESTAR_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/pipeline.h"

/* ==== the runtime: the jobs that run ====================================== */

/*
 * The runtime runs jobs: one runner thread per running streaming job (with
 * its fetcher and persister), one per batch job, started and stopped by a
 * supervisor that follows the catalog's desiredExecutionStatus, and a
 * compactor. It reads tables through storage/db.h and push logs through
 * source/pushreg.h, which the server owns. (runtime.c)
 *
 * A runner: poll a batch from its source → the row pipeline → append to the
 * table → persist when a bound is passed; the persist's catalog transaction
 * registers the segments and advances the (table, stream) checkpoint with
 * compare-and-swap, and saves the job's counters — so after kill -9 the job
 * resumes from the last commit and no event is lost or counted twice.
 */
struct catalog;
struct ingest_runtime;

struct storage_snapshot;
#define INGEST_ORPHAN_GRACE_MS (24LL * 3600 * 1000)

struct ingest_runtime_opts {
    uint64_t persist_max_rows;   /* 0 = storage default (1M) */
    uint64_t persist_max_bytes;  /* 0 = storage default (256 MB) */
    int64_t persist_max_age_ms;  /* 0 = storage default (10 s) */
    int supervisor_period_ms;    /* 0 = 250 */
    uint64_t push_segment_bytes; /* push-log file size before rolling; 0 = 64 MiB */
    int trim_period_ms;          /* how often push logs are trimmed; 0 = 10 s */
    int compact_period_ms;       /* how often small segments are merged; 0 = 30 s */
    int shutdown_timeout_ms;     /* how long a stop retries failing persists; 0 = 10 s */
    /* push connections on Kafka (--push-kafka; source/pushtopic.h), or NULL: local push logs */
    struct source_pushtopic *pushtopic;
    /* How a sql job's SELECT opens a table: with a shared catalog, over every
     * node (api/fanout.c); NULL: this server's own snapshot. */
    int (*open_table)(void *ctx, const char *name, struct storage_snapshot **snap,
                      struct lerr *err);
    void *open_table_ctx;
    /* The server's S3 endpoint (--s3-endpoint) for batch sources without a
     * connection (s3:// URIs); NULL: AWS_ENDPOINT_URL, else AWS. */
    const char *s3_endpoint;
    /* Objects of a shared segment store that no commit names are deleted once older
     * than this (api/cluster.c's sweep); a new segment is therefore committed only
     * within half of it of its upload (else the commit is refused and the rows are
     * persisted again). 0 = 24 h. */
    int64_t orphan_grace_ms;
};

/*
 * Starts the supervisor and the compactor. Tables come from `db` (every
 * table of the catalog is opened now, which removes files the catalog does
 * not know), push logs from `pushes`; both outlive the runtime.
 */
struct storage_db;
struct pushreg;

/*
 * The schema registry client a job's format needs (formatSettings, or its
 * kafka valueFormat, with parseSchemaProvider {"type": "connection"}), made
 * from the catalog's connection and its secrets; *out NULL when the format
 * reads no registry. Free it with format_registry_free() after the
 * pipeline using it. LERR_INVALID (no such connection, or not a
 * confluent_schema_registry) naming the setting, or the catalog's error.
 */
struct format_registry;
int ingest_registry_open(struct catalog *cat, const struct job_spec *js,
                         struct format_registry **out, struct lerr *err);
int ingest_runtime_start(struct catalog *cat, struct storage_db *db, struct pushreg *pushes,
                         const char *data_dir, const struct ingest_runtime_opts *opts,
                         struct ingest_runtime **out, struct lerr *err);
/*
 * Stops every runner, persisting what they buffered, then frees everything. Persists that
 * keep failing (a full disk) are retried until opts.shutdown_timeout_ms has passed, then
 * given up: returns LERR_IO naming the tables whose buffered rows were not persisted (their
 * checkpoints never passed them: the jobs read them again after a restart). LERR_TIMEOUT
 * when a thread was still inside a write 5 s after that bound: the runtime is then left
 * as it is (not freed) for the process to exit around it — the caller must not close the
 * catalog. 0 when everything was persisted.
 */
int ingest_runtime_stop(struct ingest_runtime *rt, struct lerr *err);
/*
 * This server's id among the catalog's nodes, once it has joined them. With a
 * shared catalog (catalog_is_shared) a streaming job's runner reads nothing
 * until it is known: the partitions are spread over the nodes by it
 * (ingest/lease.c). Thread-safe; id is copied.
 */
void ingest_runtime_set_node(struct ingest_runtime *rt, const char *id);
/*
 * A job's counters over a cluster: the sum of what every node saved with its
 * last commit (each node's share under "<id>@<node>"), leaving out this
 * node's own when skip_self (the caller adds its live totals instead).
 * *found: any node saved some. Thread-safe.
 */
struct pipeline_counters;
int ingest_job_cluster_counters(struct ingest_runtime *rt, const char *job_id, bool skip_self,
                                struct pipeline_counters *sum, bool *found, struct lerr *err);
/* Adds b's counts to a (newest event time: the later). */
void ingest_counters_add(struct pipeline_counters *a, const struct pipeline_counters *b);
/*
 * The stream partitions this node's runners of jobs into `table` hold under
 * leases, as they last published them between two turns (so their realtime
 * rows are only of these partitions, read at these epochs). A partition
 * taken over from a holder that did not release it is `behind` until the
 * rows appended reach the end the partition had when it was taken over
 * (`at` of `target`): the old holder's rows that were not committed are
 * being read again. *leased says whether any such runner reads under leases
 * at all, *unleased whether a running one reads without them (a source not
 * spread over the nodes: Kinesis, a push log; every node reads all of it).
 * *out malloc'd (free). -1 on no memory. Thread-safe.
 */
struct ingest_lease_info {
    char stream[256];
    char part[256];
    int64_t epoch;
    bool behind;
    int64_t at, target;
};
int ingest_table_leases(struct ingest_runtime *rt, const char *table,
                        struct ingest_lease_info **out, size_t *n, bool *leased, bool *unleased);
/*
 * The checkpoint key of a job on connection cs: the connection's own
 * (connection_spec.stream), but "push-kafka:<name>" for a push connection
 * whose events are on Kafka (--push-kafka), so that Kafka offsets and
 * push-log offsets are never read as one another.
 */
struct connection_spec;
void ingest_stream_key(const struct ingest_runtime *rt, const struct connection_spec *cs,
                       char out[300]);

/* Wakes the supervisor (a job was created or its desired status changed). */
void ingest_runtime_notify(struct ingest_runtime *rt);
/*
 * Waits until the supervisor has acted on the job's desired status (or
 * timeout_ms passes): true when the job's executionStatus agrees with it.
 */
bool ingest_runtime_settle(struct ingest_runtime *rt, const char *job_id, int timeout_ms);

/* Live numbers of a running job; false when it is not running here. */
struct ingest_job_metrics {
    struct pipeline_counters counters;
    int64_t lag;          /* total, -1 unknown */
    int64_t freshness_ms; /* now - produce time of the newest ingested event; -1 */
    int64_t persist_count;
    double persist_ms_last;
    int health; /* enum catalog_health, as this node's runner last set it */
    char health_msg[512];
};
bool ingest_job_metrics(struct ingest_runtime *rt, const char *job_id,
                        struct ingest_job_metrics *out, struct source_partition **parts,
                        size_t *nparts);
/* The last rejections of a running job; 0 when not running here. */
/*
 * Checks a replace job's target.intervals against a table's
 * partitioningGranularity (enum storage_gran; -1: their syntax only): each
 * an ISO-8601 interval of whole time chunks. Fills out[2i], out[2i + 1] with [start, end) when out
 * is not NULL. LERR_INVALID naming target.intervals[i] and the interval to
 * use instead.
 */
struct json_t;
int ingest_check_intervals(struct json_t *intervals, int gran, int64_t *out, struct lerr *err);

/* Rejections as /jobs/{id}/logs lists them (a new JSON array). */
struct json_t *ingest_rejections_json(const struct pipeline_rejection *rej, size_t n);

size_t ingest_job_rejections(struct ingest_runtime *rt, const char *job_id,
                             struct pipeline_rejection *out, size_t cap);

/*
 * What a job saved with its last checkpoint, for one not running here, read
 * with the parser a restarted runner uses: its counters (when counters is
 * not NULL; all zero when nothing is saved) and its "logs" array as saved
 * (when logs is not NULL: a new reference, NULL when none). 0, or the
 * catalog's error: LERR_NOT_FOUND when nothing is saved yet, LERR_CORRUPT
 * when the saved text is not JSON.
 */
int ingest_job_saved(struct ingest_runtime *rt, const char *job_id,
                     struct pipeline_counters *counters, struct json_t **logs, struct lerr *err);

/*
 * Where a streaming job about to be created starts (the API calls this just
 * before the catalog insert, which stores *start as the table's checkpoint
 * in the same transaction): the stream key, and — when the table has no
 * checkpoint of that stream to resume from — the offsets its readFromPoint
 * means now, as an offsets document (*start, malloc'd): a push log's end or
 * start, a Kafka topic's end for "latest" (asking the broker, up to 3 s).
 * So every event that arrives once the job exists is read, however soon,
 * whichever node's runner starts it. *start stays NULL when the runner is
 * to resolve it (earliest on Kafka, Kinesis, a checkpoint exists, another
 * job type). An error (broker unreachable, unknown topic) leaves *start NULL
 * too: the job is created and its runner resolves the start when it can;
 * the caller logs the error. With `reset` (a reset request, whose
 * transaction replaces the checkpoint with *start): the checkpoint there is
 * ignored, and Kinesis is left to the runner.
 */
struct catalog_job;
int ingest_job_start(struct ingest_runtime *rt, const struct catalog_job *j, bool reset,
                     char stream[300], char **start, struct lerr *err);

/* A running job's numbers every INGEST_SAMPLE_MS, kept for the last hour
 * (INGEST_SAMPLES of them) in memory: what the console charts. Rows are
 * cumulative (rows per second are the difference of two samples); lag and
 * freshness -1 when unknown. */
#define INGEST_SAMPLE_MS 5000
#define INGEST_SAMPLES 720
struct ingest_job_sample {
    int64_t at_ms;
    uint64_t processed, with_warnings, filtered, errors; /* cumulative */
    int64_t lag;          /* records behind the source's end, summed over partitions */
    int64_t freshness_ms; /* now minus the newest record's produce time */
};
/* Copies the job's samples, oldest first, into *out (malloc'd; free it);
 * false when the job is not running here. */
bool ingest_job_history(struct ingest_runtime *rt, const char *job_id,
                        struct ingest_job_sample **out, size_t *n);

/* Prometheus text of the runtime's metrics. */
void ingest_metrics_prometheus(struct ingest_runtime *rt, struct buf *out);

#endif
