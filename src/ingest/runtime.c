/*
 * runtime.c — the runtime's life and its face to the API: start (open every
 * table, start the supervisor and the compactor), stop (every job persists
 * what it buffered, bounded by LODESTAR_SHUTDOWN_TIMEOUT_MS), settle (wait for
 * the supervisor to act on a job), and where a new job starts
 * (ingest_job_start: the offsets its readFromPoint means when it is created).
 *
 * The rest of the runtime, by concern (ingest_int.h is what they share):
 *   supervisor.c  starts, stops and reaps one runner per job, following the
 *                 catalog's desiredExecutionStatus
 *   stream.c      a streaming job: fetch, run and persist threads, the
 *                 exactly-once start and reset protocol
 *   batch.c       a batch job: its files or inline data through the pipeline
 *   job.c         what both kinds of job share: status and health, the
 *                 persister and the commit transaction, staging rows
 *   metrics.c     live numbers of the running jobs, Prometheus text
 *   wake.c        waking the supervisor, sleeping until woken
 *   intervals.c   checking a replace job's target.intervals
 *   lease.c       a streaming job's share of its stream's partitions when
 *                 several servers share the catalog (leases, rendezvous)
 *
 * Tables come from storage/db.h and push logs from source/pushreg.h; the
 * server owns both. Locks: rt->mu guards the list of runners and is never
 * held across I/O; a table's writer lock (storage_db_table_lock) serialises
 * its writers; job->mu guards a runner's source and pipeline pointers for
 * API readers.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "ingest/ingest_int.h"
#include "source/pushreg.h"
#include "source/pushtopic.h"
#include "storage/db.h"
#include "util/time.h"

#define START_TIMEOUT_MS 3000

int ingest_job_start(struct ingest_runtime *rt, const struct catalog_job *j, bool reset,
                     char stream[300], char **start, struct lerr *err)
{
    *start = NULL;
    stream[0] = '\0';
    if (j->type != CATALOG_JOB_STREAMING)
        return 0;
    struct connection_spec cs;
    int rc = catalog_connection_spec_load(rt->cat, j->connection_name, &cs, err);
    if (rc) {
        catalog_connection_spec_destroy(&cs);
        return rc;
    }
    ingest_stream_key(rt, &cs, stream);
    char *cur = NULL;
    struct lerr e;
    lerr_init(&e);
    if (!reset && catalog_checkpoint_get(rt->cat, j->table_name, stream, &cur, &e) == 0) {
        free(cur);
        catalog_connection_spec_destroy(&cs);
        return 0; /* the table resumes where it stopped reading this stream */
    }
    /* An unreadable spec reads from latest, as a spec without readFromPoint does. */
    struct job_spec js;
    struct lerr je;
    lerr_init(&je);
    catalog_job_spec_load(j, &js, &je);
    bool earliest = !je.code && js.read_from == CATALOG_READ_EARLIEST;
    catalog_job_spec_destroy(&js);
    struct source_offsets o;
    source_offsets_init(&o);
    if (cs.type == CATALOG_CONN_PUSH && rt->opts.pushtopic) {
        /* on Kafka: the topic's offsets now (its start or its end) */
        rc = source_pushtopic_end_offsets(rt->opts.pushtopic, j->connection_name, earliest, &o,
                                          err);
    } else if (cs.type == CATALOG_CONN_PUSH) {
        struct source_pushlog *log = pushreg_get(rt->pushes, j->connection_name, err);
        if (log) {
            int64_t at = earliest ? source_pushlog_start_offset(log)
                                  : source_pushlog_end_offset(log);
            pushreg_put(rt->pushes, log);
            rc = source_offsets_set(&o, j->connection_name, 0, at, err);
        } else {
            rc = err->code;
        }
    } else if ((cs.type == CATALOG_CONN_KAFKA || cs.type == CATALOG_CONN_CONFLUENT) && !earliest) {
        /* "latest" is the end of every partition when the job is created: an event
         * produced once the job exists is read, however soon (the runners, on this
         * node or others, start later). "earliest" needs nothing: it does not move. */
        struct arena a;
        arena_init(&a, 4096, 0);
        struct source_kafka_config cfg;
        rc = catalog_connection_spec_kafka(&cs, &cfg, &a, err);
        if (!rc)
            rc = source_kafka_end_offsets(&cfg, START_TIMEOUT_MS, &o, err);
        arena_destroy(&a);
    } else if (cs.type == CATALOG_CONN_KINESIS && !earliest && !reset) {
        /* each shard at AT_TIMESTAMP of now (ListShards; a sequence number of "now" does
         * not exist): the records that arrive once the job exists. Not at a reset: the
         * rows the job read before it notices the reset are kept, and AT_TIMESTAMP
         * positions cannot tell which of them lie past the request (stream.c's
         * reset_past_read), so its runner resolves latest then. */
        struct arena a;
        arena_init(&a, 4096, 0);
        struct source_kinesis_config cfg;
        struct source *src = NULL;
        rc = catalog_connection_spec_kinesis(&cs, &cfg, &a, err);
        if (!rc) {
            cfg.timeout_ms = START_TIMEOUT_MS;
            if (!(src = source_open_kinesis(&cfg, err)))
                rc = err->code;
        }
        if (!rc)
            rc = source_assign(src, NULL, SOURCE_OFFSET_LATEST, err);
        if (!rc && !source_ready(src))
            rc = lerr_set(err, LERR_UNAVAILABLE,
                          "Kinesis: the shards of the stream are not known yet (its endpoint "
                          "did not answer)");
        if (!rc)
            rc = source_position(src, &o, err);
        source_close(src);
        arena_destroy(&a);
    } /* else earliest on Kafka or Kinesis: the runner resolves its start (o stays empty) */
    catalog_connection_spec_destroy(&cs);
    if (!rc && o.n && !(*start = source_offsets_to_json(&o, err)))
        rc = err->code;
    source_offsets_destroy(&o);
    return rc;
}

/* ---- compaction ---------------------------------------------------------------- */

static int compact_commit(void *ctx, struct storage_db_table *t,
                          const struct storage_segment_info *added, size_t nadded,
                          const struct storage_segment_info *removed, size_t nremoved,
                          struct lerr *err)
{
    return ingest__commit_tx(ctx, t, NULL, NULL, NULL, NULL, NULL, added, nadded, removed,
                             nremoved, NULL, NULL, err);
}

static void *compactor_main(void *arg)
{
    struct ingest_runtime *rt = arg;
    int period = rt->opts.compact_period_ms ? rt->opts.compact_period_ms : COMPACT_EVERY_MS;
    while (!rt->stopping) {
        ingest__wait_stop(rt, period);
        if (rt->stopping)
            break;
        /* Compacted segments are read many times and written once: zstd where it pays. */
        struct storage_compact_opts co = {.zstd = true};
        storage_db_compact(rt->db, &co, compact_commit, rt, period, &rt->stopping);
    }
    atomic_store(&rt->compactor_done, true);
    return NULL;
}

/* ---- lifecycle and the API's view -------------------------------------------------- */

void ingest_runtime_set_node(struct ingest_runtime *rt, const char *id)
{
    pthread_mutex_lock(&rt->mu);
    snprintf(rt->node_id, sizeof rt->node_id, "%s", id);
    pthread_mutex_unlock(&rt->mu);
}

int ingest_runtime_start(struct catalog *cat, struct storage_db *db, struct pushreg *pushes,
                         const char *data_dir, const struct ingest_runtime_opts *opts,
                         struct ingest_runtime **out, struct lerr *err)
{
    struct ingest_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    rt->cat = cat;
    rt->db = db;
    rt->pushes = pushes;
    snprintf(rt->dir, sizeof rt->dir, "%s", data_dir);
    {
        /* REPLACE rows staged by runs a crash cut short: never part of a table */
        char staging[1100];
        snprintf(staging, sizeof staging, "%s/staging", data_dir);
        util_remove_tree(staging, &(struct lerr){0});
    }
    if (opts)
        rt->opts = *opts;
    pthread_mutex_init(&rt->mu, NULL);
    pthread_cond_init(&rt->cv, NULL);
    /* Open every table now: start-up removes files the catalog does not know. */
    struct catalog_doc_list tl;
    if (catalog_doc_list(cat, CATALOG_TABLE, &tl, err) == 0) {
        for (size_t i = 0; i < tl.n; i++) {
            struct lerr e;
            lerr_init(&e);
            struct storage_db_table *t = storage_db_get(db, tl.items[i].name, &e);
            if (!t)
                log_msg(LOG_WARN, "ingest", "table '%s' did not open: %s", tl.items[i].name,
                        e.msg);
            storage_db_put(db, t);
        }
        catalog_doc_list_free(&tl);
    }
    lerr_init(err);
    if (pthread_create(&rt->supervisor, NULL, ingest__supervisor_main, rt) != 0 ||
        pthread_create(&rt->compactor, NULL, compactor_main, rt) != 0) {
        free(rt);
        return lerr_set(err, LERR_INTERNAL, "cannot start the ingestion threads");
    }
    *out = rt;
    return 0;
}

int ingest_runtime_stop(struct ingest_runtime *rt, struct lerr *err)
{
    if (!rt)
        return 0;
    int64_t bound_ms = rt->opts.shutdown_timeout_ms > 0 ? rt->opts.shutdown_timeout_ms
                                                        : SHUTDOWN_TIMEOUT_MS;
    int64_t t0 = util_mono_ns();
    int64_t hard = t0 + (bound_ms + SHUTDOWN_GRACE_MS) * 1000000;
    atomic_store(&rt->stop_deadline_ns, t0 + bound_ms * 1000000);
    pthread_mutex_lock(&rt->mu);
    rt->stopping = true;
    pthread_cond_broadcast(&rt->cv);
    for (struct ingest__job *j = rt->jobs; j; j = j->next)
        atomic_store(&j->stop, true);
    pthread_mutex_unlock(&rt->mu);
    pushreg_wakeup_all(rt->pushes);
    pthread_join(rt->supervisor, NULL);
    /* Runners persist what they buffered and end by the bound (persists that keep failing
     * give up then); a thread still inside one last write past the grace is left behind:
     * the process exits around it, as after kill -9, which start-up recovers from. */
    for (;;) {
        bool all = atomic_load(&rt->compactor_done);
        char late[200] = "";
        pthread_mutex_lock(&rt->mu);
        for (struct ingest__job *j = rt->jobs; j; j = j->next) {
            if (atomic_load(&j->done))
                continue;
            all = false;
            size_t len = strlen(late);
            snprintf(late + len, sizeof late - len, "%s%s", len ? ", " : "", j->id);
        }
        pthread_mutex_unlock(&rt->mu);
        if (all)
            break;
        if (util_mono_ns() >= hard)
            return lerr_set(err, LERR_TIMEOUT,
                            "shutdown: %s still writing %lld ms after the shutdown began; "
                            "exiting without waiting (what it had not committed is read again "
                            "after a restart; raise LODESTAR_SHUTDOWN_TIMEOUT_MS if the disk is "
                            "only slow)",
                            late[0] ? late : "compaction",
                            (long long)(bound_ms + SHUTDOWN_GRACE_MS));
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_join(rt->compactor, NULL);
    while (rt->jobs)
        ingest__reap(rt, rt->jobs, NULL);
    uint64_t lost = atomic_load(&rt->unpersisted_rows);
    int rc = 0;
    if (lost)
        rc = lerr_set(err, LERR_IO,
                      "shutdown: %llu buffered rows of table %s were not persisted: persisting "
                      "kept failing until the shutdown bound (%lld ms, "
                      "LODESTAR_SHUTDOWN_TIMEOUT_MS); the checkpoints were not advanced past "
                      "them, so they will be read again from their sources after a restart "
                      "(free the disk the log names first)",
                      (unsigned long long)lost, rt->unpersisted_tables, (long long)bound_ms);
    pthread_cond_destroy(&rt->cv);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
    return rc;
}

static bool settled(const struct catalog_job *j)
{
    if (j->desired == CATALOG_JOB_CANCELED)
        return j->status == CATALOG_JOB_CANCELED;
    if (j->desired == CATALOG_JOB_SUSPENDED)
        return j->status == CATALOG_JOB_SUSPENDED || j->status == CATALOG_JOB_FAILED;
    return j->status != CATALOG_JOB_SUSPENDED;
}

bool ingest_runtime_settle(struct ingest_runtime *rt, const char *job_id, int timeout_ms)
{
    int64_t deadline = util_mono_ns() + (int64_t)timeout_ms * 1000000;
    ingest_runtime_notify(rt);
    for (;;) {
        struct catalog_job j = {0};
        struct lerr err;
        lerr_init(&err);
        if (catalog_job_get(rt->cat, job_id, &j, &err))
            return false;
        bool ok = settled(&j);
        catalog_job_destroy(&j);
        if (ok)
            return true;
        if (util_mono_ns() > deadline)
            return false;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
