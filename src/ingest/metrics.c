/*
 * metrics.c — the running jobs seen from the API: live counters, lag and
 * partitions of one job, its last rejections, what a job not running here
 * saved with its last checkpoint, the last hour of each running job's
 * samples (taken by the supervisor every INGEST_SAMPLE_MS), and the
 * Prometheus text of every job and of persists.
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

bool ingest_job_metrics(struct ingest_runtime *rt, const char *job_id,
                        struct ingest_job_metrics *out, struct source_partition **parts,
                        size_t *nparts)
{
    memset(out, 0, sizeof *out);
    out->lag = -1;
    out->freshness_ms = -1;
    if (parts)
        *parts = NULL;
    if (nparts)
        *nparts = 0;
    pthread_mutex_lock(&rt->mu);
    struct ingest__job *j = ingest__find_job(rt, job_id);
    bool found = false;
    if (j) {
        pthread_mutex_lock(&j->mu);
        if (j->pipe && j->src) {
            found = true;
            ingest__totals_counters(j, &out->counters);
            out->lag = source_lag(j->src);
            int64_t newest = atomic_load(&j->newest_produced_ms);
            out->freshness_ms = newest >= 0 ? util_now_ms() - newest : -1;
            out->persist_count = atomic_load(&j->persist_count);
            out->persist_ms_last = atomic_load(&j->persist_ms_last);
            pthread_mutex_lock(&j->tally_mu);
            out->health = j->health;
            snprintf(out->health_msg, sizeof out->health_msg, "%s", j->health_msg);
            pthread_mutex_unlock(&j->tally_mu);
            struct lerr err;
            lerr_init(&err);
            if (parts && nparts && source_partitions(j->src, parts, nparts, &err)) {
                *parts = NULL;
                *nparts = 0;
            }
        }
        pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    return found;
}

bool ingest_job_history(struct ingest_runtime *rt, const char *job_id,
                        struct ingest_job_sample **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&rt->mu);
    struct ingest__job *j = ingest__find_job(rt, job_id);
    bool found = j != NULL;
    if (j) {
        pthread_mutex_lock(&j->tally_mu);
        size_t k = j->nsamples;
        struct ingest_job_sample *v = k ? malloc(k * sizeof *v) : NULL;
        if (v) {
            size_t first = (j->sample_head + INGEST_SAMPLES - k) % INGEST_SAMPLES;
            for (size_t i = 0; i < k; i++)
                v[i] = j->samples[(first + i) % INGEST_SAMPLES];
            *out = v;
            *n = k;
        }
        pthread_mutex_unlock(&j->tally_mu);
    }
    pthread_mutex_unlock(&rt->mu);
    return found;
}

size_t ingest_job_rejections(struct ingest_runtime *rt, const char *job_id,
                             struct pipeline_rejection *out, size_t cap)
{
    size_t n = 0;
    pthread_mutex_lock(&rt->mu);
    struct ingest__job *j = ingest__find_job(rt, job_id);
    if (j) {
        pthread_mutex_lock(&j->mu);
        if (j->pipe)
            n = ingest__totals_rejections(j, out, cap);
        pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    return n;
}

void ingest_counters_add(struct pipeline_counters *a, const struct pipeline_counters *b)
{
    a->processed += b->processed;
    a->processed_with_warnings += b->processed_with_warnings;
    a->skipped_by_filter += b->skipped_by_filter;
    a->skipped_by_error += b->skipped_by_error;
    for (int i = 0; i < PIPE_R__COUNT; i++)
        a->by_reason[i] += b->by_reason[i];
    if (b->newest_event_ms > a->newest_event_ms)
        a->newest_event_ms = b->newest_event_ms;
}

int ingest_job_cluster_counters(struct ingest_runtime *rt, const char *job_id, bool skip_self,
                                struct pipeline_counters *sum, bool *found, struct lerr *err)
{
    memset(sum, 0, sizeof *sum);
    sum->newest_event_ms = INT64_MIN;
    *found = false;
    struct catalog_node_counters *v = NULL;
    size_t n = 0;
    if (catalog_job_counters_nodes(rt->cat, job_id, &v, &n, err))
        return err->code;
    char self[128];
    ingest__node_id(rt, self);
    for (size_t i = 0; i < n; i++) {
        if (skip_self && strcmp(v[i].node, self) == 0)
            continue;
        json_t *o = catalog_counters_parse(v[i].counters);
        struct pipeline_counters c;
        ingest__counters_from_json(o, &c);
        json_decref(o);
        ingest_counters_add(sum, &c);
        *found = true;
    }
    catalog_node_counters_free(v, n);
    return 0;
}

int ingest_job_saved(struct ingest_runtime *rt, const char *job_id,
                     struct pipeline_counters *counters, json_t **logs, struct lerr *err)
{
    json_t *saved = NULL;
    int rc = catalog_job_counters_load(rt->cat, job_id, &saved, err);
    if (counters)
        ingest__counters_from_json(saved, counters);
    if (logs) {
        json_t *l = json_object_get(saved, "logs");
        *logs = json_is_array(l) ? json_incref(l) : NULL;
    }
    json_decref(saved);
    return rc;
}

void ingest_metrics_prometheus(struct ingest_runtime *rt, struct buf *out)
{
    static const char *const outcomes[] = {"processed", "processedWithWarnings", "skippedByFilter",
                                           "skippedByError"};
    buf_puts(out, "# HELP lodestar_job_rows_total Rows by outcome, per job.\n"
                  "# TYPE lodestar_job_rows_total counter\n");
    struct {
        char id[37];
        struct pipeline_counters c;
        int64_t lag;
    } jobs[256];
    size_t n = 0;
    pthread_mutex_lock(&rt->mu);
    for (struct ingest__job *j = rt->jobs; j && n < LS_ARRAY_LEN(jobs); j = j->next) {
        pthread_mutex_lock(&j->mu);
        if (j->pipe && j->src) {
            snprintf(jobs[n].id, sizeof jobs[n].id, "%s", j->id);
            ingest__totals_counters(j, &jobs[n].c);
            jobs[n].lag = source_lag(j->src);
            n++;
        }
        pthread_mutex_unlock(&j->mu);
    }
    pthread_mutex_unlock(&rt->mu);
    for (size_t i = 0; i < n; i++) {
        const uint64_t v[] = {jobs[i].c.processed, jobs[i].c.processed_with_warnings,
                              jobs[i].c.skipped_by_filter, jobs[i].c.skipped_by_error};
        for (int k = 0; k < 4; k++)
            buf_printf(out, "lodestar_job_rows_total{job=\"%s\",outcome=\"%s\"} %llu\n",
                       jobs[i].id, outcomes[k], (unsigned long long)v[k]);
    }
    buf_puts(out, "# HELP lodestar_job_lag_records Records not yet read, per job.\n"
                  "# TYPE lodestar_job_lag_records gauge\n");
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "lodestar_job_lag_records{job=\"%s\"} %lld\n", jobs[i].id,
                   (long long)jobs[i].lag);
    buf_puts(out, "# HELP lodestar_persist_duration_ms Persist (segment write + catalog "
                  "commit) latency.\n# TYPE lodestar_persist_duration_ms histogram\n");
    long long cum = 0;
    for (size_t b = 0; b < LS_ARRAY_LEN(ingest__persist_buckets_ms); b++) {
        cum += atomic_load(&rt->persist_hist[b]);
        buf_printf(out, "lodestar_persist_duration_ms_bucket{le=\"%g\"} %lld\n",
                   ingest__persist_buckets_ms[b], cum);
    }
    cum += atomic_load(&rt->persist_hist[LS_ARRAY_LEN(ingest__persist_buckets_ms)]);
    buf_printf(out, "lodestar_persist_duration_ms_bucket{le=\"+Inf\"} %lld\n", cum);
    buf_printf(out, "lodestar_persist_duration_ms_sum %.3f\n",
               (double)atomic_load(&rt->persist_us_total) / 1000.0);
    buf_printf(out, "lodestar_persist_duration_ms_count %lld\n", cum);
    buf_printf(out,
               "# TYPE lodestar_persist_failures_total counter\n"
               "lodestar_persist_failures_total %lld\n",
               (long long)atomic_load(&rt->persist_failures));
}
