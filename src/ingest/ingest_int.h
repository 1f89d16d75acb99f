/*
 * ingest_int.h — private to src/ingest/: the runtime's state (struct
 * ingest_runtime, one struct ingest__job per running job, a job's runner with its
 * fetcher and persister) and the functions its files share, named
 * ingest__*. runtime.c's header comment maps the files.
 */
#ifndef LODESTAR_INGEST_INT_H
#define LODESTAR_INGEST_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "catalog/catalog.h"
#include "ingest/ingest.h"
#include "storage/db.h"

#define POLL_MAX_RECORDS 4096
#define POLL_TIMEOUT_MS 100
#define BATCH_ARENA_CAP (512u * 1024 * 1024)
#define RESET_CHECK_MS 500
#define GAP_WARN_MS 60000
#define TRIM_EVERY_MS 10000
#define COMPACT_EVERY_MS 30000
#define SHUTDOWN_TIMEOUT_MS 10000 /* LODESTAR_SHUTDOWN_TIMEOUT_MS's default */
#define SHUTDOWN_GRACE_MS 5000    /* past the bound, for threads inside one last write */
#define PERSIST_RETRY_MS 1000
#define PERSIST_REPORT_MS 30000 /* a persist that keeps failing: health refreshed this often, */
#define PERSIST_LOG_MS 60000    /* and a log line this often */
#define PERSIST_FAILED "persisting failed (will retry): "

struct ingest__job {
    struct ingest__job *next;
    struct ingest_runtime *rt;
    char id[37];
    char table[256];
    char connection[256];
    pthread_t th;
    atomic_bool stop;
    atomic_bool done;
    bool failed;
    pthread_mutex_t mu; /* guards pipe and src for readers on other threads */
    struct pipeline *pipe;
    struct source *src;
    /* In a cluster: the leases the runner holds, published between two of its
     * turns (ingest__lease_publish), so its realtime rows are only of these
     * partitions; `leased` says the job reads under leases at all. */
    struct ingest_lease_info *leases;
    size_t nleases;
    bool leased;
    /* A batch job in a cluster runs on the node holding its run lease (stream
     * "job:<id>", part "run"), as does a streaming job whose source cannot be
     * divided over the nodes (part "stream": Kinesis); renewed by the supervisor;
     * set before the runner's thread starts, then supervisor thread only (the
     * runner keeps its own copy: struct runner's run). */
    struct catalog_lease run_lease;
    bool has_run_lease;
    int64_t run_lease_renew_ns; /* monotonic */
    atomic_bool run_released;   /* the runner released it after its last commit */
    atomic_llong newest_produced_ms;
    atomic_llong persist_count;
    _Atomic double persist_ms_last;
    /* The job's counts and last rejections: the tallies of the batches it appended (and,
     * at once, notes about gaps and resets). Read by the API, saved with each persist. */
    pthread_mutex_t tally_mu;
    struct pipeline_tally totals;
    /* The last hour of samples, one each INGEST_SAMPLE_MS (taken by the
     * supervisor, read by ingest_job_history), under tally_mu. */
    struct ingest_job_sample samples[INGEST_SAMPLES];
    size_t nsamples, sample_head; /* count, and the next slot to write */
    /* The health this node's runner last set (ingest__set_health), under
     * tally_mu: each node's own, published with its heartbeat (api/cluster.c). */
    enum catalog_health health;
    char health_msg[512];
};

struct ingest_runtime {
    int64_t last_sample_ms; /* the supervisor's last round of job samples */
    struct catalog *cat;
    char dir[1024];
    struct ingest_runtime_opts opts;
    char node_id[128]; /* this server's id in the catalog's nodes (under mu; "" unknown) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stopping;
    _Atomic int64_t stop_deadline_ns; /* set before `stopping`: failing persists give up then */
    _Atomic bool compactor_done;
    _Atomic uint64_t unpersisted_rows; /* rows runners gave up at the shutdown bound */
    char unpersisted_tables[512];      /* their tables, quoted (under mu) */
    bool kick;
    struct storage_db *db;
    struct pushreg *pushes;
    struct ingest__job *jobs;
    pthread_t supervisor, compactor;
    /* Prometheus numbers */
    atomic_llong persists, persist_failures;
    atomic_llong persist_us_total;
    atomic_llong persist_hist[8]; /* <=10ms, 50, 100, 250, 500, 1000, 5000, +Inf */
};

/* ---- a runner --------------------------------------------------------------------- */

/*
 * A runner's persister: a thread that turns sealed buffers into segments and
 * commits them with their offsets, in order, while the runner keeps reading.
 * At most PERSIST_QUEUE sealed sets wait; the runner blocks past that.
 */
#define PERSIST_QUEUE 1

struct persist_item {
    struct storage_sealed *sealed;
    char *offsets;  /* the checkpoint this persist commits; NULL keeps it */
    char *counters; /* the job's counters at the seal */
    /* In a cluster (struct ingest__leases): the leases of the partitions `offsets`
     * names, the commit's fence (malloc'd); nfence 0: an unfenced commit. */
    struct catalog_lease *fence;
    size_t nfence;
};

struct persister {
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct persist_item q[PERSIST_QUEUE];
    size_t head, n;
    bool stop;
    bool conflict; /* a commit met a moved checkpoint: a reset happened */
    /* In a cluster: a fenced commit was refused (a lease moved); its rows were discarded
     * and the runner must discard the rest and read again from the checkpoint. */
    bool fenced;
    char *expected;  /* the checkpoint text last committed (or found) */
    char error[512]; /* the last failure, until a persist succeeds */
    /* Failures: the set is kept and retried every PERSIST_RETRY_MS. Once a shutdown's bound
     * passes with persists still failing, the persister gives up for good (sticky): every
     * set, this one and those queued after it, is dropped uncommitted — committing a later
     * set would move the checkpoint past the rows of the dropped one. */
    bool abandoned;
    uint64_t abandoned_rows;
    uint64_t failures; /* attempts failed in a row */
    int64_t failing_since_ns, reported_ns, logged_ns;
};

/*
 * Rows of a batch ready to append: the pipeline's output as a storage batch
 * (columns mapped to the table's), and the batch's counts, which join the
 * job's counters only when the rows are appended.
 */
struct staged {
    struct storage_batch sb;
    struct pipeline_tally *tally; /* the batch's outcome (its owner's memory) */
};

/*
 * A runner's fetcher: a thread that polls the source into one of FETCH_SLOTS
 * slots (the source copies the records into the slot's arena, the slot keeps
 * the source position after them) and runs the batch through the pipeline
 * there, so that reading and parsing the
 * next batches (one core) overlap the runner appending this one (the
 * other). Batches are small enough that a slot's rows are still in cache
 * when the runner appends them. Only the fetcher calls source_poll() and
 * uses the pipeline's row path; the runner touches the source only while
 * the fetcher is paused (assign, reset).
 */
#define FETCH_SLOTS 4
/* A slot's arena block holds a whole batch (~430-byte records and their rows), so that
 * reusing a slot reuses its memory. */
#define SLOT_BLOCK (8u << 20)

struct fetch_slot {
    struct arena mem; /* the records (source_poll fills it) and the pipeline's output */
    const struct record *recs;
    size_t n;
    struct staged rows;
    struct pipeline_tally *tally; /* rows.tally's memory */
    struct source_offsets pos;    /* the position after this batch */
    const struct source_gap *gaps;
    size_t ngaps;
    bool partitions_changed;
    int64_t newest; /* newest Kafka timestamp in the batch, -1 none */
    int rc;
    struct lerr err;
};

struct fetcher {
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fetch_slot slot[FETCH_SLOTS];
    size_t head, n; /* ready slots, in order */
    bool stop, pause, paused;
    /* a batch waits for its schema registry (LERR_UNAVAILABLE): why, for the
     * job's health; "" otherwise */
    char waiting[512];
};

/*
 * lease.c: a streaming job's share of its stream when the catalog is shared
 * (catalog_is_shared) and the source can be divided (Kafka, source_only):
 * the partitions whose leases this node holds, the only ones it reads and
 * commits. Runner thread, but for persist items' copies of `held`.
 */
struct ingest__leases {
    bool on;
    struct catalog_lease *held; /* by part */
    /* per held: -2 nothing to read again; -1 taken over, the end to reach not
     * known yet; >= 0 taken over, behind until the rows appended reach it */
    int64_t *catch_up;
    int64_t next_end_query_ns; /* monotonic: when the broker may be asked again */
    size_t n, cap;
    int64_t next_renew_ns, next_balance_ns; /* monotonic */
    bool stale;            /* the source's assignment is not `held` yet (assign again) */
    bool lost;             /* ingest__lease_keep found a lease lost: lease_tick discards */
    unsigned gen, pub_gen; /* `held` changes; the change last published */
};

struct runner {
    struct ingest__job *job;
    struct ingest__leases lease;
    struct persister ps;
    struct fetcher fx;
    struct source_offsets appended; /* the source position after the last appended batch */
    struct ingest_runtime *rt;
    struct storage_db_table *table;
    /* A REPLACE's new rows, kept apart until they replace the old ones at once
     * (ingest__staging_open, ingest__replace); NULL: rows go to the table. */
    struct storage_table *staging;
    char staging_dir[1100];
    /* its rows already written as uncommitted segment files of the table
     * whenever the staging table reached a persist's bounds (so a REPLACE
     * holds one persist's rows in memory, not all of them) */
    struct storage_ahead ahead;
    struct catalog_job cj;
    struct job_spec spec; /* the job's spec as the catalog parsed it */
    char stream[300];     /* the checkpoint's key (connection_spec.stream) */
    int64_t reset_generation;
    struct arena batch;                 /* batch jobs: the rows of one chunk of text */
    struct pipeline_tally *batch_tally; /* batch jobs: that chunk's outcome */
    struct pipeline_table ptable;
    struct arena ptable_mem;
    enum catalog_health health;
    char health_msg[512];
    struct format_registry *registry; /* the format's schema registry client, or NULL */
    int64_t gap_until_ms;
    char gap_msg[512];
    int64_t last_commit_ms;
    bool dirty_offsets; /* polled past the last committed offsets */
    /* The partitions the checkpoint holds (committed, or queued to be, in order): a
     * partition outside it gets its start committed before any of its rows is
     * appended (commit_starts). has_checkpoint: the stream has one at all. */
    struct source_offsets covered;
    bool has_checkpoint;
    /* A stream this node reads whole in a cluster, under the job's run lease: every
     * commit is fenced by it (catalog_commit's run). */
    struct catalog_lease run;
    bool has_run;
    bool run_behind; /* taken over, not yet read again to the stream's end */
    /* The source cannot go on from the checkpoint (a push log that lost records
     * past it): health error with blocked_msg until a reset. */
    bool blocked;
    char blocked_msg[512];
    /* rejection rate over a sliding window of rows */
    struct pipeline_counters window_start;
    int64_t window_start_ms;
};

#define REJECT_WINDOW_MS 10000
#define REJECT_WARN_MIN_ROWS 100
#define REJECT_WARN_PERCENT 50

/* ---- shared between the files of the runtime ------------------------------------- */

#define INGEST__PERSIST_BUCKETS 7
extern const double ingest__persist_buckets_ms[INGEST__PERSIST_BUCKETS]; /* job.c */

/* job.c */
void ingest__set_status(struct runner *r, enum catalog_job_state status,
                        enum catalog_health health, const char *msg, int64_t started,
                        int64_t completed);
void ingest__set_health(struct runner *r, enum catalog_health health, const char *msg);
void ingest__fail(struct runner *r, const char *fmt, ...) LS_PRINTF(2, 3);
int ingest__build_ptable(struct runner *r, struct lerr *err);
int ingest__commit_tx(struct ingest_runtime *rt, struct storage_db_table *t, const char *job_id,
                      const char *stream, const char *expected, const char *new_offsets,
                      const char *counters, const struct storage_segment_info *added,
                      size_t nadded, const struct storage_segment_info *removed, size_t nremoved,
                      const struct catalog_fence *fence, const struct catalog_lease *run,
                      struct lerr *err);
void ingest__rejections_from_json(const json_t *saved, struct ingest__job *job);
void ingest__counters_from_json(const json_t *saved, struct pipeline_counters *c);
int ingest__persister_start(struct runner *r, struct lerr *err);
/* A private table with the target's columns for a REPLACE's rows (r->staging). */
int ingest__staging_open(struct runner *r, struct lerr *err);
void ingest__staging_close(struct runner *r);
/*
 * The REPLACE's one step: r->staging's rows (NULL: none) replace the table's
 * chunks inside [start, end), segments, removals and the job's counters in
 * one catalog commit (storage_table_replace). Retries while another job's
 * persist holds sealed rows of the table.
 */
int ingest__replace(struct runner *r, int64_t start, int64_t end, struct lerr *err);
/* storage_db_get of a job's table; with a shared catalog, the table of that name
 * now (storage_db_refresh: another node may have dropped it and made it again). */
struct storage_db_table *ingest__table_get(struct ingest_runtime *rt, const char *name,
                                           struct lerr *err);
/*
 * reingest.c: runs the spec's source.query (a SELECT over a table) and feeds
 * its rows through a pipeline compiled from the result's columns (*pipe,
 * published as the job's; the caller frees it). The query's errors, the
 * pipeline's, or the append's.
 */
int ingest__table_rows(struct runner *r, struct pipeline **pipe, struct lerr *err);
bool ingest__persister_drain(struct runner *r, int timeout_ms);
void ingest__persister_stop(struct runner *r);
int ingest__persist(struct runner *r, bool advance, struct lerr *err);
void ingest__update_health(struct runner *r);
int ingest__stage_records(struct runner *r, const struct record *recs, size_t n, struct arena *mem,
                          struct staged *st, struct lerr *err);
int ingest__append_staged(struct runner *r, const struct staged *st, struct lerr *err);
int ingest__ingest_records(struct runner *r, const struct record *recs, size_t n,
                           struct lerr *err);
void *ingest__stream_main(void *arg);
void *ingest__batch_main(void *arg);
struct ingest__job *ingest__find_job(struct ingest_runtime *rt, const char *id);
void ingest__reap(struct ingest_runtime *rt, struct ingest__job *j, const struct catalog_job *cj);
void *ingest__supervisor_main(void *arg);

/* job.c: the job's totals, under job->tally_mu */
void ingest__totals_add(struct ingest__job *j, const struct pipeline_tally *t);
void ingest__totals_counters(struct ingest__job *j, struct pipeline_counters *out);
size_t ingest__totals_rejections(struct ingest__job *j, struct pipeline_rejection *out,
                                 size_t cap);

/* lease.c (struct ingest__leases) */
#define INGEST__BALANCE_MS 1000 /* how often a runner looks at the live nodes */
/* This node's id ("" until the server has joined the catalog's nodes). */
void ingest__node_id(struct ingest_runtime *rt, char out[128]);
/* Which partitions of the stream this node should read now: rendezvous hashing of
 * each partition the source knows over the live nodes (this one always counted). */
int ingest__lease_share(struct runner *r, struct source_offsets *share, struct lerr *err);
/* Takes a partition's lease (LERR_CONFLICT: another node's, still live). */
int ingest__lease_acquire(struct runner *r, const char *topic, int32_t partition,
                          struct lerr *err);
/* Renews every held lease; the lost ones leave `held`, *nlost counts them. */
int ingest__lease_renew(struct runner *r, size_t *nlost, struct lerr *err);
/* Renews when due, for a runner waiting on its persister (lost ones: lease.lost). */
void ingest__lease_keep(struct runner *r);
/* The key a job's counters are saved under: its id, or in a cluster (leases
 * on) "<id>@<node>", each node saving its own share (ingest_job_cluster_counters). */
void ingest__counters_key(struct runner *r, char out[200]);
/* Publishes `held` to the job (ingest_table_leases) when it changed; with
 * `clear`, publishes that the runner holds nothing and reads no more. */
/* A stream read whole under the job's run lease (r->has_run): that lease is the
 * runner's one published lease (clear: none, at its end). Taken over from a node
 * that stopped without releasing it, the lease is published "behind" — queries
 * wait rather than miss the rows that node had not committed — until every
 * partition's lag is known and 0 (ingest__run_tick, each turn). */
void ingest__run_publish(struct runner *r, bool clear);
void ingest__run_tick(struct runner *r);
void ingest__lease_publish(struct runner *r, bool clear);
/* Releases held[i] (after its rows were committed) and forgets it. */
void ingest__lease_release(struct runner *r, size_t i);
/* The held partitions as a list (offsets 0), for source_only. */
int ingest__lease_parts(const struct runner *r, struct source_offsets *out, struct lerr *err);
/* Index of a held partition, or r->lease.n. */
size_t ingest__lease_find(const struct runner *r, const char *topic, int32_t partition);
/* The leases of the partitions `pos` names with a number: a commit's fence (*out
 * malloc'd, NULL when none). */
int ingest__lease_fence(const struct runner *r, const struct source_offsets *pos,
                        struct catalog_lease **out, size_t *n, struct lerr *err);
/* Leaves `pos` with only the held partitions. */
void ingest__lease_filter(const struct runner *r, struct source_offsets *pos);

/* wake.c */
void ingest__wait_kick(struct ingest_runtime *rt, int ms);
void ingest__wait_stop(struct ingest_runtime *rt, int ms);

#endif
