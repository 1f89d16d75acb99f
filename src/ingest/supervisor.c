/*
 * supervisor.c — one thread that brings the runners in line with what the
 * catalog asks for: every pass (each 250 ms, or at once when the API kicks
 * it) it lists the active jobs, starts a runner for a job that should run,
 * stops the runner of one that should not, and reaps finished runners,
 * setting the job's final status (canceled, suspended) after its runner
 * persisted. A batch job interrupted by a restart is marked failed.
 *
 * Entry points (ingest_int.h): ingest__supervisor_main, ingest__find_job,
 * ingest__reap.
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
#include "storage/db.h"
#include "util/time.h"

/* ---- the supervisor ------------------------------------------------------------ */

struct ingest__job *ingest__find_job(struct ingest_runtime *rt, const char *id)
{
    for (struct ingest__job *j = rt->jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static struct ingest__job *start_runner(struct ingest_runtime *rt, const struct catalog_job *cj,
                                        void *(*main_fn)(void *), const struct catalog_lease *run)
{
    struct ingest__job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->rt = rt;
    if (run) {
        j->run_lease = *run;
        j->has_run_lease = true;
        j->run_lease_renew_ns = util_mono_ns() + CATALOG_LEASE_TTL_NS / 3;
    }
    snprintf(j->id, sizeof j->id, "%s", cj->id);
    snprintf(j->table, sizeof j->table, "%s", cj->table_name);
    snprintf(j->connection, sizeof j->connection, "%s", cj->connection_name);
    atomic_init(&j->newest_produced_ms, -1);
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->tally_mu, NULL);
    pipeline_tally_init(&j->totals);
    if (pthread_create(&j->th, NULL, main_fn, j) != 0) {
        log_msg(LOG_ERROR, "ingest", "job %s: cannot start a thread", cj->id);
        pthread_mutex_destroy(&j->mu);
        pthread_mutex_destroy(&j->tally_mu);
        free(j);
        return NULL;
    }
    pthread_setname_np(j->th, "job-run");
    pthread_mutex_lock(&rt->mu);
    j->next = rt->jobs;
    rt->jobs = j;
    pthread_mutex_unlock(&rt->mu);
    return j;
}

/* Joins a finished runner and removes it; the job's final status follows its wish. */
void ingest__reap(struct ingest_runtime *rt, struct ingest__job *j, const struct catalog_job *cj)
{
    pthread_join(j->th, NULL);
    pthread_mutex_lock(&rt->mu);
    for (struct ingest__job **pp = &rt->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    struct lerr err;
    lerr_init(&err);
    if (cj && !j->failed && !rt->stopping) {
        if (cj->desired == CATALOG_JOB_CANCELED)
            catalog_job_set_status(rt->cat, cj->id, CATALOG_JOB_CANCELED, CATALOG_HEALTH_OK, "", 0,
                                   util_now_ns(), &err);
        else if (cj->desired == CATALOG_JOB_SUSPENDED)
            catalog_job_set_status(rt->cat, cj->id, CATALOG_JOB_SUSPENDED, CATALOG_HEALTH_OK, "",
                                   0, 0, &err);
    }
    pthread_mutex_destroy(&j->mu);
    pthread_mutex_destroy(&j->tally_mu);
    free(j);
}

/*
 * A batch job in a cluster (a shared catalog) runs on one node: the one that
 * takes its run lease (table, "job:<id>", "run") when the job is pending;
 * the supervisor renews it while the runner runs and releases it after. A
 * node that cannot take it leaves the job to its holder.
 */
static void run_lease_stream(const struct catalog_job *cj, char out[64])
{
    snprintf(out, 64, "job:%s", cj->id);
}

/* The run lease's part: a batch job's run, or a stream one node reads whole. */
static const char *run_lease_part(const struct catalog_job *cj)
{
    return cj->type == CATALOG_JOB_STREAMING ? "stream" : "run";
}

/* The live holder of the job's run lease other than this node, or false. */
static bool runs_elsewhere(struct ingest_runtime *rt, const struct catalog_job *cj,
                           const char *self)
{
    char stream[64];
    run_lease_stream(cj, stream);
    struct catalog_lease *l = NULL;
    size_t n = 0;
    struct lerr err;
    lerr_init(&err);
    if (catalog_lease_list(rt->cat, cj->table_name, stream, &l, &n, &err))
        return true; /* cannot tell: do nothing this round */
    int64_t now = util_now_ns();
    bool other = false;
    for (size_t i = 0; i < n; i++)
        other |= l[i].node_id[0] && strcmp(l[i].node_id, self) != 0 && l[i].expires_ns > now;
    free(l);
    return other;
}

static void renew_run_lease(struct ingest_runtime *rt, struct ingest__job *j, const char *self)
{
    int64_t now = util_mono_ns();
    if (!j->has_run_lease || now < j->run_lease_renew_ns)
        return;
    struct lerr err;
    lerr_init(&err);
    size_t nlost = 0;
    if (catalog_lease_renew(rt->cat, self, 0, 0, &j->run_lease, 1, &nlost, &err)) {
        j->run_lease_renew_ns = now + 1000000000LL;
        return;
    }
    j->run_lease_renew_ns = now + CATALOG_LEASE_TTL_NS / 3;
    if (nlost) {
        /* paused past the lease: another node may fail the job; this run stops */
        log_msg(LOG_WARN, "ingest", "job %s: node %s lost the job's run lease; stopping it", j->id,
                self);
        j->has_run_lease = false;
        atomic_store(&j->stop, true);
    }
}

/* Reaps a finished runner and releases the run lease it held, unless the runner did after
 * its last commit: another node may take the job at once. */
static void reap_released(struct ingest_runtime *rt, struct ingest__job *j,
                          const struct catalog_job *cj, const char *self)
{
    struct catalog_lease l = j->run_lease;
    bool had = j->has_run_lease && !atomic_load(&j->run_released);
    ingest__reap(rt, j, cj);
    struct lerr err;
    lerr_init(&err);
    if (had && catalog_lease_release(rt->cat, l.table_name, l.stream, l.part, self, l.epoch, &err))
        log_msg(LOG_WARN, "ingest", "job %s: releasing its run lease: %s", cj->id, err.msg);
}

/* Brings one job's runner and status in line with what the user asked for. */
/* Batch jobs: pending → a runner; a run cut short by a restart → failed. */
static void supervise_batch(struct ingest_runtime *rt, const struct catalog_job *cj,
                            struct ingest__job *j)
{
    struct lerr err;
    lerr_init(&err);
    bool shared = catalog_is_shared(rt->cat);
    char self[128] = "";
    if (shared)
        ingest__node_id(rt, self);
    if (j) {
        if (cj->desired == CATALOG_JOB_CANCELED)
            atomic_store(&j->stop, true);
        renew_run_lease(rt, j, self);
        if (atomic_load(&j->done))
            reap_released(rt, j, cj, self);
        return;
    }
    if (shared && !self[0])
        return; /* not a node yet: which node runs what is not known */
    if (cj->desired == CATALOG_JOB_CANCELED && catalog_job_status_live(cj->status)) {
        if (shared && runs_elsewhere(rt, cj, self))
            return; /* its node cancels it */
        catalog_job_set_status(rt->cat, cj->id, CATALOG_JOB_CANCELED, CATALOG_HEALTH_OK, "", 0,
                               util_now_ns(), &err);
    } else if (cj->status == CATALOG_JOB_PENDING && cj->desired == CATALOG_JOB_RUNNING &&
               !rt->stopping) {
        struct catalog_lease got = {0};
        if (shared) {
            char stream[64];
            run_lease_stream(cj, stream);
            if (catalog_lease_acquire(rt->cat, cj->table_name, stream, run_lease_part(cj), self, 0,
                                      0, &got, &err))
                return; /* another node takes it (or the catalog failed: next round) */
            /* taken: but another node may have started it and finished meanwhile */
            struct catalog_job now = {0};
            bool still = catalog_job_get(rt->cat, cj->id, &now, &err) == 0 &&
                         now.status == CATALOG_JOB_PENDING;
            catalog_job_destroy(&now);
            if (!still) {
                catalog_lease_release(rt->cat, got.table_name, got.stream, got.part, self,
                                      got.epoch, &(struct lerr){0});
                return;
            }
        }
        struct ingest__job *nj = start_runner(rt, cj, ingest__batch_main, shared ? &got : NULL);
        if (!nj && shared) {
            catalog_lease_release(rt->cat, got.table_name, got.stream, got.part, self, got.epoch,
                                  &(struct lerr){0});
        }
    } else if (cj->status == CATALOG_JOB_RUNNING) {
        if (shared && runs_elsewhere(rt, cj, self))
            return; /* running on the node that holds its run lease */
        /* a sql REPLACE or a delete swaps at its end: cut short, it changed nothing */
        bool swaps = cj->type == CATALOG_JOB_DELETE_DATA;
        if (cj->type == CATALOG_JOB_SQL) {
            struct job_spec js;
            struct lerr e;
            lerr_init(&e);
            swaps = catalog_job_spec_load(cj, &js, &e) == 0 && js.mode == CATALOG_INGEST_REPLACE;
            catalog_job_spec_destroy(&js);
        }
        catalog_job_set_status(rt->cat, cj->id, CATALOG_JOB_FAILED, CATALOG_HEALTH_ERROR,
                               swaps ? "the server stopped while this job ran; it changed "
                                       "nothing (its rows replace the old ones only at its "
                                       "end) — run it again"
                                     : "the server stopped while this batch job ran; rows it "
                                       "had persisted remain — run it again with "
                                       "ingestionMode replace",
                               0, util_now_ns(), &err);
    }
}

/*
 * Whether a streaming job's source is read whole by one node of a cluster:
 * one that cannot be divided over the nodes by partition leases (Kinesis).
 * Kafka topics, and push connections on Kafka, are divided (lease.c). An
 * unreadable connection counts as divided: the runner fails and says why.
 */
static bool read_whole(struct ingest_runtime *rt, const struct catalog_job *cj)
{
    struct connection_spec cs;
    struct lerr e;
    lerr_init(&e);
    bool whole = catalog_connection_spec_load(rt->cat, cj->connection_name, &cs, &e) == 0 &&
                 cs.type == CATALOG_CONN_KINESIS;
    catalog_connection_spec_destroy(&cs);
    return whole;
}

static void supervise_job(struct ingest_runtime *rt, const struct catalog_job *cj)
{
    if (cj->type != CATALOG_JOB_STREAMING) {
        pthread_mutex_lock(&rt->mu);
        struct ingest__job *bj = ingest__find_job(rt, cj->id);
        pthread_mutex_unlock(&rt->mu);
        supervise_batch(rt, cj, bj);
        return;
    }
    pthread_mutex_lock(&rt->mu);
    struct ingest__job *j = ingest__find_job(rt, cj->id);
    pthread_mutex_unlock(&rt->mu);
    bool want = cj->desired == CATALOG_JOB_RUNNING && cj->status != CATALOG_JOB_FAILED &&
                cj->status != CATALOG_JOB_CANCELED;
    struct lerr err;
    lerr_init(&err);
    char self[128] = "";
    if (catalog_is_shared(rt->cat))
        ingest__node_id(rt, self);
    if (j) {
        if (!want)
            atomic_store(&j->stop, true);
        renew_run_lease(rt, j, self);
        if (atomic_load(&j->done))
            reap_released(rt, j, cj, self);
        return;
    }
    if (want && !rt->stopping) {
        struct catalog_lease got = {0};
        bool whole = catalog_is_shared(rt->cat) && read_whole(rt, cj);
        if (whole) {
            /* one node reads the stream, under the job's run lease; the others wait for it
             * to be released or to expire */
            char stream[64];
            run_lease_stream(cj, stream);
            if (!self[0] || runs_elsewhere(rt, cj, self) ||
                catalog_lease_acquire(rt->cat, cj->table_name, stream, run_lease_part(cj), self, 0,
                                      0, &got, &err))
                return;
            log_msg(LOG_INFO, "ingest",
                    "job %s: node %s reads its stream whole (it cannot be divided between the "
                    "nodes), under the job's run lease (epoch %lld)",
                    cj->id, self, (long long)got.epoch);
        }
        if (cj->status == CATALOG_JOB_SUSPENDED)
            catalog_job_set_status(rt->cat, cj->id, CATALOG_JOB_PENDING, CATALOG_HEALTH_OK, "", 0,
                                   0, &err);
        if (!start_runner(rt, cj, ingest__stream_main, whole ? &got : NULL) && whole)
            catalog_lease_release(rt->cat, got.table_name, got.stream, got.part, self, got.epoch,
                                  &(struct lerr){0});
    } else if (cj->desired == CATALOG_JOB_CANCELED && cj->status != CATALOG_JOB_CANCELED) {
        catalog_job_set_status(rt->cat, cj->id, CATALOG_JOB_CANCELED, CATALOG_HEALTH_OK, "", 0,
                               util_now_ns(), &err);
    } else if (cj->desired == CATALOG_JOB_SUSPENDED &&
               (cj->status == CATALOG_JOB_PENDING || cj->status == CATALOG_JOB_RUNNING)) {
        catalog_job_set_status(rt->cat, cj->id, CATALOG_JOB_SUSPENDED, CATALOG_HEALTH_OK, "", 0, 0,
                               &err);
    }
}

static void supervise(struct ingest_runtime *rt)
{
    struct catalog_job_list l;
    struct lerr err;
    lerr_init(&err);
    if (catalog_job_list_active(rt->cat, &l, &err)) {
        log_msg(LOG_WARN, "ingest", "supervisor: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < l.n; i++)
        supervise_job(rt, &l.items[i]);
    /* Runners whose job left the active set (suspended, canceled, deleted) stop too. */
    pthread_mutex_lock(&rt->mu);
    char ids[64][37];
    size_t no = 0;
    for (struct ingest__job *j = rt->jobs; j && no < LS_ARRAY_LEN(ids); j = j->next) {
        bool known = false;
        for (size_t i = 0; i < l.n && !known; i++)
            known = strcmp(l.items[i].id, j->id) == 0;
        if (!known)
            snprintf(ids[no++], sizeof ids[0], "%s", j->id);
    }
    pthread_mutex_unlock(&rt->mu);
    catalog_job_list_free(&l);
    for (size_t i = 0; i < no; i++) {
        struct catalog_job cj = {0};
        lerr_init(&err);
        if (catalog_job_get(rt->cat, ids[i], &cj, &err) == 0) {
            supervise_job(rt, &cj);
            catalog_job_destroy(&cj);
            continue;
        }
        pthread_mutex_lock(&rt->mu);
        struct ingest__job *j = ingest__find_job(rt, ids[i]);
        pthread_mutex_unlock(&rt->mu);
        if (j) {
            atomic_store(&j->stop, true);
            if (atomic_load(&j->done))
                ingest__reap(rt, j, NULL);
        }
    }
}

/* Every running job's sample when INGEST_SAMPLE_MS passed since the last
 * round (ingest_job_history reads them). */
static void sample_jobs(struct ingest_runtime *rt)
{
    int64_t now = util_now_ms();
    if (rt->last_sample_ms && now - rt->last_sample_ms < INGEST_SAMPLE_MS)
        return;
    rt->last_sample_ms = now;
    pthread_mutex_lock(&rt->mu);
    for (struct ingest__job *j = rt->jobs; j; j = j->next) {
        struct ingest_job_sample smp = {.at_ms = now, .lag = -1, .freshness_ms = -1};
        pthread_mutex_lock(&j->mu);
        bool live = j->pipe && j->src;
        if (live) {
            smp.lag = source_lag(j->src);
            int64_t newest = atomic_load(&j->newest_produced_ms);
            smp.freshness_ms = newest >= 0 ? now - newest : -1;
        }
        pthread_mutex_unlock(&j->mu);
        if (!live)
            continue;
        pthread_mutex_lock(&j->tally_mu);
        const struct pipeline_counters *c = &j->totals.c;
        smp.processed = c->processed;
        smp.with_warnings = c->processed_with_warnings;
        smp.filtered = c->skipped_by_filter;
        smp.errors = c->skipped_by_error;
        j->samples[j->sample_head] = smp;
        j->sample_head = (j->sample_head + 1) % INGEST_SAMPLES;
        if (j->nsamples < INGEST_SAMPLES)
            j->nsamples++;
        pthread_mutex_unlock(&j->tally_mu);
    }
    pthread_mutex_unlock(&rt->mu);
}

void *ingest__supervisor_main(void *arg)
{
    struct ingest_runtime *rt = arg;
    int period = rt->opts.supervisor_period_ms ? rt->opts.supervisor_period_ms : 250;
    while (!rt->stopping) {
        supervise(rt);
        sample_jobs(rt);
        ingest__wait_kick(rt, period);
        /* A burst of API calls kicks many times: one pass per 20 ms serves them all. */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}
