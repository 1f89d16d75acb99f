/*
 * stream.c — a streaming job's runner (ingest__stream_main) and its fetcher.
 *
 * The fetcher polls the source and runs each batch through the pipeline in
 * one of FETCH_SLOTS slots; the runner appends slots to the table in order,
 * seals when a persist bound is passed and hands the sealed rows to the
 * persister (job.c), which commits them with the source position after them.
 *
 * Exactly-once (DESIGN §6): readFromPoint is resolved to concrete offsets and
 * committed before any row of a partition is appended (commit_starts), at
 * the first start, after a reset and for partitions that appear later; every
 * persist then advances the checkpoint by compare-and-swap with its rows.
 * After kill -9 the job re-reads from the committed offsets. Resets, gaps,
 * a blocked source and push-log trimming are handled here too.
 *
 * In a cluster (a shared catalog and a Kafka source; lease.c) the runner
 * reads only the partitions it leases, and lease_tick renews, hands over,
 * takes over and, after a lost lease, discards what was not committed and
 * reads again from the checkpoint. With SQLite none of it runs.
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
#include "format/registry.h"
#include "ingest/ingest_int.h"
#include "source/pushreg.h"
#include "source/pushtopic.h"
#include "storage/db.h"
#include "util/time.h"

/*
 * Deletes push-log files every live job reading the log has checkpointed
 * past. A live job without a checkpoint yet holds everything.
 */
static void push_trim(struct ingest_runtime *rt, const char *conn, const char *stream)
{
    struct lerr err;
    lerr_init(&err);
    if (!pushreg_trim_due(rt->pushes, conn,
                          rt->opts.trim_period_ms ? rt->opts.trim_period_ms : TRIM_EVERY_MS))
        return;
    struct catalog_job_list jobs;
    if (catalog_job_list(rt->cat, &jobs, &err))
        return;
    int64_t min = INT64_MAX;
    for (size_t i = 0; i < jobs.n; i++) {
        const struct catalog_job *j = &jobs.items[i];
        if (strcmp(j->connection_name, conn) != 0 || !catalog_job_status_live(j->status))
            continue;
        char *off = NULL;
        struct source_offsets o;
        source_offsets_init(&o);
        int64_t next = -1;
        if (catalog_checkpoint_get(rt->cat, j->table_name, stream, &off, &err) == 0 &&
            source_offsets_from_json(off, strlen(off), &o, &err) == 0)
            next = source_offsets_get(&o, conn, 0);
        lerr_init(&err);
        free(off);
        source_offsets_destroy(&o);
        min = next < 0 ? -1 : (next < min ? next : min);
        if (min < 0)
            break;
    }
    catalog_job_list_free(&jobs);
    int deleted = 0;
    struct source_pushlog *log = min > 0 && min != INT64_MAX ? pushreg_get(rt->pushes, conn, &err)
                                                             : NULL;
    if (log && source_pushlog_trim(log, min, &deleted, &err) == 0 && deleted)
        log_msg(LOG_INFO, "ingest", "push log '%s': deleted %d file(s) below offset %lld", conn,
                deleted, (long long)min);
    pushreg_put(rt->pushes, log);
}

void ingest_stream_key(const struct ingest_runtime *rt, const struct connection_spec *cs,
                       char out[300])
{
    if (cs->type == CATALOG_CONN_PUSH && rt->opts.pushtopic)
        snprintf(out, 300, "push-kafka:%s", cs->name);
    else
        snprintf(out, 300, "%s", cs->stream);
}

/* ---- start, reset, loop ---------------------------------------------------------- */

static int open_source(struct runner *r, struct lerr *err)
{
    struct connection_spec cs;
    if (catalog_connection_spec_load(r->rt->cat, r->cj.connection_name, &cs, err)) {
        catalog_connection_spec_destroy(&cs);
        return err->code;
    }
    struct source *src = NULL;
    if (cs.type == CATALOG_CONN_PUSH && r->rt->opts.pushtopic) {
        /* a push connection on Kafka (--push-kafka): its topic, read as any Kafka topic */
        char topic[256];
        source_pushtopic_name(cs.name, topic);
        struct source_kafka_config cfg = {
            .bootstrap_servers = source_pushtopic_bootstrap(r->rt->opts.pushtopic),
            .topic = topic,
            .timeout_ms = 2000,
            .headers = pipeline_reads_headers(r->job->pipe),
        };
        src = source_open_kafka(&cfg, err);
    } else if (cs.type == CATALOG_CONN_PUSH) {
        src = pushreg_source(r->rt->pushes, cs.name, err);
    } else if (cs.type == CATALOG_CONN_KINESIS) {
        struct arena a;
        arena_init(&a, 4096, 0);
        struct source_kinesis_config cfg;
        if (catalog_connection_spec_kinesis(&cs, &cfg, &a, err) == 0)
            src = source_open_kinesis(&cfg, err);
        arena_destroy(&a);
    } else {
        struct arena a;
        arena_init(&a, 4096, 0);
        struct source_kafka_config cfg;
        if (catalog_connection_spec_kafka(&cs, &cfg, &a, err) == 0) {
            /* Blocking metadata calls bound how fast a runner notices suspend/cancel. */
            cfg.timeout_ms = 2000;
            cfg.headers = pipeline_reads_headers(r->job->pipe);
            src = source_open_kafka(&cfg, err);
        }
        arena_destroy(&a);
    }
    catalog_connection_spec_destroy(&cs);
    if (!src)
        return err->code;
    pthread_mutex_lock(&r->job->mu);
    r->job->src = src;
    pthread_mutex_unlock(&r->job->mu);
    return 0;
}

static int64_t default_start(const struct runner *r)
{
    return r->spec.read_from == CATALOG_READ_EARLIEST ? SOURCE_OFFSET_EARLIEST
                                                      : SOURCE_OFFSET_LATEST;
}

/* Seeks the source to the checkpoint, or to readFromPoint when there is none. */
static int assign_from_checkpoint(struct runner *r, struct lerr *err)
{
    char *text = NULL;
    struct source_offsets start;
    source_offsets_init(&start);
    struct lerr e;
    lerr_init(&e);
    int rc = catalog_checkpoint_get(r->rt->cat, r->cj.table_name, r->stream, &text, &e);
    if (rc && rc != LERR_NOT_FOUND) {
        source_offsets_destroy(&start);
        return lerr_set(err, rc, "%s", e.msg);
    }
    if (text && source_offsets_from_json(text, strlen(text), &start, err)) {
        free(text);
        source_offsets_destroy(&start);
        return err->code;
    }
    char *expected = text;
    if (r->lease.on) {
        /* In a cluster: only the leased partitions are read, and a fenced commit
         * expects their offsets alone (none stored: absent). */
        struct source_offsets only;
        source_offsets_init(&only);
        ingest__lease_filter(r, &start);
        expected = NULL;
        rc = ingest__lease_parts(r, &only, err);
        if (!rc)
            rc = source_only(r->job->src, &only, err);
        if (!rc && start.n && !(expected = source_offsets_to_json(&start, err)))
            rc = err->code;
        source_offsets_destroy(&only);
        if (rc) {
            free(text);
            source_offsets_destroy(&start);
            return rc;
        }
        r->has_checkpoint = text != NULL;
        free(text);
    }
    pthread_mutex_lock(&r->ps.mu);
    free(r->ps.expected);
    r->ps.expected = expected;
    pthread_mutex_unlock(&r->ps.mu);
    if (!r->lease.on)
        r->has_checkpoint = text != NULL;
    rc = source_offsets_copy(&r->covered, &start, err);
    /* readFromPoint applies only where the table's reading of this stream starts
     * afresh (the first start, a new topic, a reset). A partition an existing
     * checkpoint does not name appeared after it was taken: all of its records are
     * new to the job, so it starts at its earliest offset. */
    if (!rc)
        rc = source_assign(r->job->src, &start,
                           r->has_checkpoint ? SOURCE_OFFSET_EARLIEST : default_start(r), err);
    if (!rc)
        rc = source_position(r->job->src, &r->appended, err);
    source_offsets_destroy(&start);
    return rc;
}

/* Whether `pos` names a partition (with a known offset) the checkpoint does not hold. */
static bool uncovered(const struct runner *r, const struct source_offsets *pos)
{
    for (size_t i = 0; i < pos->n; i++)
        if (pos->items[i].next >= 0 &&
            source_offsets_get(&r->covered, pos->items[i].topic, pos->items[i].partition) ==
                SOURCE_OFFSET_NONE)
            return true;
    return false;
}

#define START_COMMIT_MS 30000

/*
 * Makes r->appended — the position of the rows appended so far, with the
 * start offset of every partition not read yet — the checkpoint, and waits
 * until it is committed (DESIGN §6): a restart then resumes from these
 * positions instead of applying readFromPoint again, which for "latest"
 * would skip whatever arrived in between. Called before the first rows of a
 * new partition are appended: at the first start, after a reset, for
 * partitions and topics that appear later. Rows already appended are
 * persisted with it. Fails (the caller retries) when the persist or commit
 * does not complete in time, or a reset moved the checkpoint meanwhile.
 */
static int commit_starts(struct runner *r, struct lerr *err)
{
    if (!ingest__persister_drain(r, START_COMMIT_MS) || ingest__persist(r, true, err) ||
        !ingest__persister_drain(r, START_COMMIT_MS)) {
        if (err->code)
            return err->code;
        pthread_mutex_lock(&r->ps.mu);
        lerr_set(err, LERR_IO, "cannot commit the start positions yet: %s",
                 r->ps.error[0] ? r->ps.error : "the persist did not finish");
        pthread_mutex_unlock(&r->ps.mu);
        return err->code;
    }
    pthread_mutex_lock(&r->ps.mu);
    bool conflict = r->ps.conflict;
    pthread_mutex_unlock(&r->ps.mu);
    if (conflict)
        return lerr_set(err, LERR_CONFLICT, "the checkpoint was reset meanwhile");
    r->has_checkpoint = true;
    return source_offsets_copy(&r->covered, &r->appended, err);
}

/*
 * After an assignment (start or reset): a source that knows its start
 * offsets gets them committed now, before it is read; a Kafka source still
 * waiting for metadata reports partitions_changed in the poll that assigns
 * them, and step() commits them then.
 */
static int commit_assignment(struct runner *r, struct lerr *err)
{
    if (!source_ready(r->job->src) || (r->has_checkpoint && !uncovered(r, &r->appended)))
        return 0;
    return commit_starts(r, err);
}

/*
 * Assigns the source from the checkpoint. A source that cannot go on from
 * it (LERR_CORRUPT: a push log that lost records past the checkpoint) blocks
 * the job — health error, nothing read — until a reset, rather than failing
 * it (a failed job cannot be reset) or rewinding it.
 */
static int assign_source(struct runner *r, struct lerr *err)
{
    struct lerr e;
    lerr_init(&e);
    int rc = assign_from_checkpoint(r, &e);
    r->blocked = rc == LERR_CORRUPT;
    if (r->blocked) {
        snprintf(r->blocked_msg, sizeof r->blocked_msg, "%s", e.msg);
        log_msg(LOG_ERROR, "ingest", "job %s: %s", r->job->id, e.msg);
        return 0;
    }
    if (rc)
        lerr_set_at(err, rc, e.target, "%s", e.msg);
    return rc;
}

static int do_reset_paused(struct runner *r, int64_t generation, struct lerr *err);
static void fetcher_pause(struct runner *r);
static void fetcher_resume(struct runner *r);

/* Acts on POST /jobs/{id}/reset: keep what was read, start again from readFromPoint. */
static int do_reset(struct runner *r, int64_t generation, struct lerr *err)
{
    /* What was read before the reset becomes durable without moving the checkpoint;
     * then the source starts again from readFromPoint. Batches fetched but not yet
     * appended are dropped: they are read again from the new position. */
    fetcher_pause(r);
    int rc = do_reset_paused(r, generation, err);
    if (!r->blocked)
        fetcher_resume(r);
    return rc;
}

/*
 * A reset to latest: the API stored where every partition ended at its request
 * (ingest_job_start) as the checkpoint. The rows this runner read before it
 * noticed the reset were just kept (persisted without offsets); some may lie
 * past that point, read after the request. So for a source of absolute
 * offsets (Kafka, push) the checkpoint of each partition it reads becomes the
 * further of the stored point and its own position, committed now: what it
 * read is never read again, and nothing after the request is skipped. A
 * source of other positions (Kinesis) starts at the stored point.
 */
static int reset_past_read(struct runner *r, struct lerr *err)
{
    char *text = NULL;
    struct lerr e;
    lerr_init(&e);
    if (catalog_checkpoint_get(r->rt->cat, r->cj.table_name, r->stream, &text, &e))
        return 0; /* nothing stored: latest is resolved when the source is assigned */
    struct source_offsets cp, m;
    source_offsets_init(&cp);
    source_offsets_init(&m);
    /* an unreadable stored point: assign_source says why */
    bool usable = source_offsets_from_json(text, strlen(text), &cp, &e) == 0;
    for (size_t i = 0; usable && i < r->appended.n; i++)
        usable = !r->appended.items[i].pos; /* absolute offsets only */
    int rc = usable ? source_offsets_copy(&m, &cp, err) : 0;
    bool moved = false;
    for (size_t i = 0; usable && !rc && i < r->appended.n; i++) {
        const struct source_offset *a = &r->appended.items[i];
        if (a->next < 0 ||
            (r->lease.on && ingest__lease_find(r, a->topic, a->partition) == r->lease.n))
            continue;
        int64_t c = source_offsets_get(&cp, a->topic, a->partition);
        if (c == SOURCE_OFFSET_NONE || a->next > c) {
            rc = source_offsets_set(&m, a->topic, a->partition, a->next, err);
            moved = true;
        }
    }
    char *expected = NULL;
    if (!rc && moved && r->lease.on) {
        ingest__lease_filter(r, &cp);
        if (!(expected = source_offsets_to_json(&cp, err)))
            rc = err->code;
    } else if (!rc && moved && !(expected = strdup(text))) {
        rc = lerr_set(err, LERR_NOMEM, "out of memory");
    }
    if (!rc && moved) {
        pthread_mutex_lock(&r->ps.mu);
        free(r->ps.expected);
        r->ps.expected = expected;
        pthread_mutex_unlock(&r->ps.mu);
        log_msg(LOG_INFO, "ingest",
                "job %s: reset to latest: the rows read past the reset's point are kept, and "
                "reading goes on after them",
                r->job->id);
        if (!(rc = source_offsets_copy(&r->appended, &m, err)) &&
            !(rc = ingest__persist(r, true, err)) && !ingest__persister_drain(r, 60000))
            rc = lerr_set(err, LERR_IO, "committing the position after the reset did not finish");
    }
    free(text);
    source_offsets_destroy(&cp);
    source_offsets_destroy(&m);
    return rc;
}

static int do_reset_paused(struct runner *r, int64_t generation, struct lerr *err)
{
    if (ingest__persist(r, false, err))
        return err->code;
    if (!ingest__persister_drain(r, 60000))
        return lerr_set(err, LERR_IO, "persisting before the reset did not finish");
    pthread_mutex_lock(&r->ps.mu);
    r->ps.conflict = false;
    pthread_mutex_unlock(&r->ps.mu);
    log_msg(LOG_INFO, "ingest", "job %s: checkpoint reset; reading again from %s", r->job->id,
            catalog_read_from_name(r->spec.read_from));
    pthread_mutex_lock(&r->job->tally_mu);
    pipeline_tally_note(&r->job->totals, PIPE_R_GAP, -1, -1,
                        "checkpoint reset by request: reading again from %s (events may be "
                        "skipped or read twice)",
                        catalog_read_from_name(r->spec.read_from));
    pthread_mutex_unlock(&r->job->tally_mu);
    r->reset_generation = generation;
    int rc = r->spec.read_from == CATALOG_READ_EARLIEST ? 0 : reset_past_read(r, err);
    pthread_mutex_lock(&r->ps.mu);
    r->ps.conflict = false;
    pthread_mutex_unlock(&r->ps.mu);
    if (!rc)
        rc = assign_source(r, err);
    if (!rc && !r->blocked)
        rc = commit_assignment(r, err);
    return rc;
}

static bool check_reset(struct runner *r, struct lerr *err)
{
    struct catalog_job j = {0};
    struct lerr e;
    lerr_init(&e);
    if (catalog_job_get(r->rt->cat, r->job->id, &j, &e))
        return false;
    int64_t gen = j.reset_generation;
    catalog_job_destroy(&j);
    if (gen == r->reset_generation)
        return false;
    return do_reset(r, gen, err) == 0;
}

static void note_gaps(struct runner *r, const struct source_batch *b)
{
    for (size_t i = 0; i < b->ngaps; i++) {
        const struct source_gap *g = &b->gaps[i];
        pthread_mutex_lock(&r->job->tally_mu);
        pipeline_tally_note(&r->job->totals, PIPE_R_GAP, g->partition, g->from,
                            "offsets %lld..%lld of %s partition %d can no longer be read (%s); "
                            "continuing from %lld",
                            (long long)g->from, (long long)g->to - 1, g->topic, g->partition,
                            g->reason, (long long)g->to);
        pthread_mutex_unlock(&r->job->tally_mu);
        snprintf(r->gap_msg, sizeof r->gap_msg,
                 "skipped offsets %lld..%lld of %s partition %d: %s", (long long)g->from,
                 (long long)g->to - 1, g->topic, g->partition, g->reason);
        r->gap_until_ms = util_now_ms() + GAP_WARN_MS;
    }
}

/* Takes a polled batch into its slot: the source put the records, their bytes and the
 * gaps into the slot's arena already, so only the batch's summary is kept here. */
static int fill_slot(struct runner *r, struct fetch_slot *sl, const struct source_batch *b)
{
    sl->recs = b->records;
    sl->n = b->n;
    sl->gaps = b->gaps;
    sl->ngaps = b->ngaps;
    sl->partitions_changed = b->partitions_changed;
    sl->newest = -1;
    for (size_t i = 0; i < b->n; i++)
        if (b->records[i].timestamp_ms > sl->newest)
            sl->newest = b->records[i].timestamp_ms;
    return source_position(r->job->src, &sl->pos, &sl->err);
}

/*
 * Stages a polled batch. While its schema registry does not answer
 * (LERR_UNAVAILABLE) the batch is staged again after a backoff (0.5 s
 * doubling to 30 s), nothing of it counted, and the job's health says why;
 * records are neither skipped nor read past, since the runner only moves
 * the position when the batch is appended. False when the fetcher is asked
 * to stop or pause meanwhile (the batch is then dropped, to be read again).
 */
static bool stage_waiting(struct runner *r, struct fetch_slot *sl)
{
    struct fetcher *f = &r->fx;
    struct arena_mark mark;
    arena_mark(&sl->mem, &mark);
    int delay_ms = 500;
    for (;;) {
        sl->rc = ingest__stage_records(r, sl->recs, sl->n, &sl->mem, &sl->rows, &sl->err);
        if (sl->rc != LERR_UNAVAILABLE)
            break;
        pthread_mutex_lock(&f->mu);
        if (!f->waiting[0])
            log_msg(LOG_WARN, "ingest", "job %s: %s", r->job->id, sl->err.msg);
        snprintf(f->waiting, sizeof f->waiting, "%s (next try in %d ms; no record is skipped)",
                 sl->err.msg, delay_ms);
        struct timespec ts;
        util_deadline(CLOCK_REALTIME, delay_ms, &ts);
        while (!f->stop && !f->pause)
            if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT)
                break;
        bool leave = f->stop || f->pause;
        if (leave)
            f->waiting[0] = '\0';
        pthread_mutex_unlock(&f->mu);
        if (leave)
            return false;
        /* nothing of the failed try is kept: its rows, counts and message */
        arena_release(&sl->mem, &mark);
        memset(&sl->rows, 0, sizeof sl->rows);
        sl->rows.tally = sl->tally;
        pipeline_tally_init(sl->tally);
        lerr_init(&sl->err);
        delay_ms = delay_ms >= 15000 ? 30000 : delay_ms * 2;
    }
    pthread_mutex_lock(&f->mu);
    if (f->waiting[0])
        log_msg(LOG_INFO, "ingest", "job %s: the schema registry answers again", r->job->id);
    f->waiting[0] = '\0';
    pthread_mutex_unlock(&f->mu);
    return true;
}

static void *fetcher_main(void *arg)
{
    struct runner *r = arg;
    struct fetcher *f = &r->fx;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while ((f->n == FETCH_SLOTS || f->pause) && !f->stop) {
            if (f->pause && !f->paused) {
                f->paused = true;
                pthread_cond_broadcast(&f->cv);
            }
            pthread_cond_wait(&f->cv, &f->mu);
        }
        if (f->stop)
            break;
        f->paused = false;
        struct fetch_slot *sl = &f->slot[(f->head + f->n) % FETCH_SLOTS];
        pthread_mutex_unlock(&f->mu);
        struct source_batch b;
        lerr_init(&sl->err);
        arena_reset(&sl->mem);
        sl->n = 0;
        sl->ngaps = 0;
        sl->rc =
            source_poll(r->job->src, &sl->mem, POLL_MAX_RECORDS, POLL_TIMEOUT_MS, &b, &sl->err);
        bool publish = sl->rc != 0;
        if (!sl->rc && (b.n || b.ngaps || b.partitions_changed)) {
            sl->rc = fill_slot(r, sl, &b);
            publish = true;
        }
        memset(&sl->rows, 0, sizeof sl->rows);
        sl->rows.tally = sl->tally;
        pipeline_tally_init(sl->tally);
        if (!sl->rc && sl->n && !stage_waiting(r, sl))
            publish = false; /* stopping or pausing while the batch waited: read again later */
        pthread_mutex_lock(&f->mu);
        if (publish) {
            f->n++;
            pthread_cond_broadcast(&f->cv);
            if (sl->rc)
                break; /* the runner fails the job on it */
        }
    }
    f->paused = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static int fetcher_start(struct runner *r, bool paused, struct lerr *err)
{
    struct fetcher *f = &r->fx;
    f->pause = paused; /* a blocked job's fetcher waits for the reset */
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    for (int i = 0; i < FETCH_SLOTS; i++) {
        arena_init(&f->slot[i].mem, SLOT_BLOCK, BATCH_ARENA_CAP);
        source_offsets_init(&f->slot[i].pos);
        if (!(f->slot[i].tally = malloc(sizeof *f->slot[i].tally)))
            return lerr_set(err, LERR_NOMEM, "out of memory");
    }
    if (pthread_create(&f->th, NULL, fetcher_main, r) != 0)
        return lerr_set(err, LERR_INTERNAL, "cannot start the fetch thread");
    pthread_setname_np(f->th, "job-fetch");
    f->started = true;
    return 0;
}

/* Stops polling (waits until the fetcher is outside source_poll) and drops ready batches. */
static void fetcher_pause(struct runner *r)
{
    struct fetcher *f = &r->fx;
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->pause = true;
    pthread_cond_broadcast(&f->cv);
    while (!f->paused)
        pthread_cond_wait(&f->cv, &f->mu);
    f->n = 0;
    pthread_mutex_unlock(&f->mu);
}

static void fetcher_resume(struct runner *r)
{
    struct fetcher *f = &r->fx;
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->pause = false;
    f->paused = false;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void fetcher_stop(struct runner *r)
{
    struct fetcher *f = &r->fx;
    if (!f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->th, NULL);
    for (int i = 0; i < FETCH_SLOTS; i++) {
        arena_destroy(&f->slot[i].mem);
        source_offsets_destroy(&f->slot[i].pos);
        free(f->slot[i].tally);
        f->slot[i].tally = NULL;
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    f->started = false;
}

/*
 * The start offsets of the partitions in a batch's position that the
 * checkpoint does not hold, into r->appended: the first offset of the
 * batch's records of each, or its position when the batch has none.
 */
static int slot_starts(struct runner *r, const struct fetch_slot *sl, struct lerr *err)
{
    for (size_t i = 0; i < sl->pos.n; i++) {
        const struct source_offset *o = &sl->pos.items[i];
        if (o->next < 0 ||
            source_offsets_get(&r->covered, o->topic, o->partition) != SOURCE_OFFSET_NONE)
            continue;
        int64_t start = o->next;
        for (size_t k = 0; k < sl->n; k++)
            if (sl->recs[k].partition == o->partition && sl->recs[k].offset < start &&
                strcmp(sl->recs[k].topic, o->topic) == 0)
                start = sl->recs[k].offset;
        /* A text position (Kinesis) is the start only when no record of the partition is in
         * the batch: such a source reports a new partition in a poll without its records. */
        if (source_offsets_set_pos(&r->appended, o->topic, o->partition, start,
                                   start == o->next ? o->pos : NULL, err))
            return err->code;
    }
    return 0;
}

/*
 * A batch's gaps: noted in the job's logs and health, and their offsets
 * counted with the batch (so they join the counters saved with the rows):
 * records that no longer exist under reason "gap" (not rows: outside the
 * four row totals), damaged records that were skipped under "corrupt" as
 * rows skipped by error.
 */
static void count_gaps(struct runner *r, struct fetch_slot *sl)
{
    struct source_batch gb = {.gaps = sl->gaps, .ngaps = sl->ngaps};
    note_gaps(r, &gb);
    for (size_t i = 0; i < sl->ngaps; i++) {
        const struct source_gap *g = &sl->gaps[i];
        uint64_t n = g->to > g->from ? (uint64_t)(g->to - g->from) : 0;
        if (g->corrupt) {
            sl->rows.tally->c.skipped_by_error += n;
            sl->rows.tally->c.by_reason[PIPE_R_CORRUPT] += n;
        } else {
            sl->rows.tally->c.by_reason[PIPE_R_GAP] += n;
        }
    }
}

/* Sleeps up to ms, waking early when the job is asked to stop. */
static void wait_stop_ms(struct runner *r, int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&r->job->stop); waited += 20) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*
 * Takes the next fetched batch (waiting up to POLL_TIMEOUT_MS) through the
 * pipeline into the table, and records the source position after it.
 * Returns 0, or an error that stops the job.
 */
static int step(struct runner *r, struct lerr *err)
{
    struct fetcher *f = &r->fx;
    struct timespec ts;
    util_deadline(CLOCK_REALTIME, POLL_TIMEOUT_MS, &ts);
    pthread_mutex_lock(&f->mu);
    while (f->n == 0)
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT)
            break;
    struct fetch_slot *sl = f->n ? &f->slot[f->head] : NULL;
    pthread_mutex_unlock(&f->mu);
    if (!sl)
        return 0;
    int rc = sl->rc;
    if (rc) {
        lerr_set_at(err, sl->err.code, sl->err.target, "%s", sl->err.msg);
    } else {
        if (uncovered(r, &sl->pos)) {
            /* New partitions (the first start of a source that assigned them late, a
             * topic or partition that appeared): their starts become the checkpoint
             * before any of their rows is appended. On failure the batch waits. */
            struct lerr ce;
            lerr_init(&ce);
            if (slot_starts(r, sl, &ce) || commit_starts(r, &ce)) {
                if (ce.code != LERR_CONFLICT)
                    ingest__set_health(r, CATALOG_HEALTH_WARN, ce.msg);
                wait_stop_ms(r, 200);
                return 0;
            }
        }
        count_gaps(r, sl);
        rc = ingest__append_staged(r, &sl->rows, err);
        if (!rc) {
            source_offsets_copy(&r->appended, &sl->pos, err);
            if (sl->newest > atomic_load(&r->job->newest_produced_ms))
                atomic_store(&r->job->newest_produced_ms, sl->newest);
            r->dirty_offsets = true;
        }
    }
    pthread_mutex_lock(&f->mu);
    f->head = (f->head + 1) % FETCH_SLOTS;
    f->n--;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static bool should_persist(struct runner *r)
{
    int64_t now = util_now_ms();
    if (storage_table_should_persist(r->table->st, now))
        return true;
    /* Nothing buffered (all filtered) but the offsets moved: commit them now and then. */
    int64_t age = r->rt->opts.persist_max_age_ms ? r->rt->opts.persist_max_age_ms : 10000;
    return r->dirty_offsets && now - r->last_commit_ms >= age;
}

/* ---- a cluster: leases (lease.c) ------------------------------------------------ */

/* The table's rows not committed yet thrown away (after a lease was lost: the new
 * holders read them again from the committed offsets). Fetcher paused. */
static int discard_unpersisted(struct runner *r, struct lerr *err)
{
    ingest__persister_drain(r, START_COMMIT_MS);
    struct storage_sealed *sealed = NULL;
    storage_db_table_lock(r->table);
    int rc = storage_table_seal(r->table->st, &sealed, err);
    storage_db_table_unlock(r->table);
    if (!rc)
        rc = storage_table_discard_sealed(r->table->st, sealed, err);
    storage_sealed_free(sealed);
    r->dirty_offsets = false;
    pthread_mutex_lock(&r->ps.mu);
    r->ps.fenced = false;
    pthread_mutex_unlock(&r->ps.mu);
    return rc;
}

/* Reads the held partitions again from the checkpoint (fetcher paused). */
static int reassign(struct runner *r, struct lerr *err)
{
    int rc = assign_source(r, err);
    if (!rc && !r->blocked)
        rc = commit_assignment(r, err);
    return rc;
}

/* Persists and commits what was appended, waiting for it (fetcher paused). */
static bool commit_now(struct runner *r, struct lerr *err)
{
    if (ingest__persist(r, true, err) || !ingest__persister_drain(r, START_COMMIT_MS))
        return false;
    pthread_mutex_lock(&r->ps.mu);
    bool fenced = r->ps.fenced;
    pthread_mutex_unlock(&r->ps.mu);
    return !fenced;
}

/*
 * A runner's part in the cluster, each turn of its loop: renews the leases every
 * TTL/3; after a lost lease (renew says so, or a fenced commit was refused)
 * discards what it had not committed and reads its remaining partitions again
 * from the checkpoint; every INGEST__BALANCE_MS compares what it holds with its
 * share (lease.c) — gives up what left it (persist and commit first, then
 * release) and takes what came into it as soon as the lease is free or expired,
 * from the committed offsets.
 */
static int lease_tick(struct runner *r, struct lerr *err)
{
    struct ingest__leases *l = &r->lease;
    int64_t now = util_mono_ns();
    struct lerr e;
    lerr_init(&e);
    bool lost = l->lost;
    l->lost = false;
    if (now >= l->next_renew_ns) {
        size_t nlost = 0;
        if (ingest__lease_renew(r, &nlost, &e) == 0) {
            l->next_renew_ns = now + CATALOG_LEASE_TTL_NS / 3;
            lost = lost || nlost > 0;
        } else {
            log_msg(LOG_WARN, "ingest", "job %s: renewing leases: %s (will retry)", r->job->id,
                    e.msg);
            l->next_renew_ns = now + 1000000000LL;
        }
    }
    pthread_mutex_lock(&r->ps.mu);
    bool fenced = r->ps.fenced;
    pthread_mutex_unlock(&r->ps.mu);
    if (lost || fenced) {
        fetcher_pause(r);
        int rc = discard_unpersisted(r, err);
        size_t nlost = 0;
        lerr_init(&e);
        if (!rc && fenced && ingest__lease_renew(r, &nlost, &e) == 0)
            l->next_renew_ns = now + CATALOG_LEASE_TTL_NS / 3;
        if (!rc)
            rc = reassign(r, err);
        l->stale = rc != 0;
        fetcher_resume(r);
        return rc;
    }
    if (now < l->next_balance_ns)
        return 0;
    l->next_balance_ns = now + (int64_t)INGEST__BALANCE_MS * 1000000;
    struct source_offsets share;
    source_offsets_init(&share);
    lerr_init(&e);
    if (ingest__lease_share(r, &share, &e)) {
        log_msg(LOG_WARN, "ingest", "job %s: cannot read the live nodes: %s", r->job->id, e.msg);
        source_offsets_destroy(&share);
        return 0;
    }
    bool give = false, take = false;
    for (size_t i = 0; i < l->n && !give; i++) {
        char topic[SOURCE_TOPIC_MAX + 1];
        const char *colon = strrchr(l->held[i].part, ':');
        snprintf(topic, sizeof topic, "%.*s", colon ? (int)(colon - l->held[i].part) : 0,
                 l->held[i].part);
        give = source_offsets_get(&share, topic, colon ? (int32_t)atoi(colon + 1) : -1) ==
               SOURCE_OFFSET_NONE;
    }
    int rc = 0;
    bool paused = false;
    if (give) {
        /* What this node read of the partitions it gives up is committed before they
         * go: their next holder starts where it ends. */
        fetcher_pause(r);
        paused = true;
        if (!commit_now(r, &e)) {
            log_msg(LOG_WARN, "ingest", "job %s: cannot hand partitions over yet: %s", r->job->id,
                    e.msg[0] ? e.msg : "the commit did not finish");
            fetcher_resume(r);
            source_offsets_destroy(&share);
            return 0;
        }
        for (size_t i = l->n; i-- > 0;) {
            char topic[SOURCE_TOPIC_MAX + 1];
            const char *colon = strrchr(l->held[i].part, ':');
            snprintf(topic, sizeof topic, "%.*s", colon ? (int)(colon - l->held[i].part) : 0,
                     l->held[i].part);
            if (source_offsets_get(&share, topic, colon ? (int32_t)atoi(colon + 1) : -1) ==
                SOURCE_OFFSET_NONE)
                ingest__lease_release(r, i);
        }
        l->stale = true;
    }
    for (size_t i = 0; i < share.n; i++) {
        const struct source_offset *o = &share.items[i];
        if (ingest__lease_find(r, o->topic, o->partition) < l->n)
            continue;
        lerr_init(&e);
        if (ingest__lease_acquire(r, o->topic, o->partition, &e) == 0) {
            take = true;
        } else if (e.code != LERR_CONFLICT) {
            log_msg(LOG_WARN, "ingest", "job %s: leasing %s partition %d: %s", r->job->id,
                    o->topic, o->partition, e.msg);
        }
    }
    source_offsets_destroy(&share);
    if (take)
        l->stale = true;
    if (!l->stale) {
        if (paused)
            fetcher_resume(r);
        return 0;
    }
    if (!paused) {
        fetcher_pause(r);
        if (!commit_now(r, &e)) {
            /* what was read stays; the partitions are assigned at a later turn */
            fetcher_resume(r);
            return 0;
        }
    }
    rc = reassign(r, err);
    if (!rc)
        l->stale = false;
    fetcher_resume(r);
    return rc;
}

static int runner_start(struct runner *r, struct lerr *err)
{
    if (catalog_job_get(r->rt->cat, r->job->id, &r->cj, err))
        return err->code;
    r->reset_generation = r->cj.reset_generation;
    if (catalog_job_spec_load(&r->cj, &r->spec, err))
        return err->code;
    if (!(r->table = ingest__table_get(r->rt, r->cj.table_name, err)))
        return err->code;
    if (catalog_is_shared(r->rt->cat)) {
        /* Columns another node added (its rows named them first) since this one
         * opened the table. */
        storage_db_table_lock(r->table);
        int src = storage_db_sync_columns(r->rt->db, r->table, err);
        storage_db_table_unlock(r->table);
        if (src)
            return src;
    }
    if (ingest__build_ptable(r, err))
        return err->code;
    struct connection_spec cs;
    int rc = catalog_connection_spec_load(r->rt->cat, r->cj.connection_name, &cs, err);
    ingest_stream_key(r->rt, &cs, r->stream);
    catalog_connection_spec_destroy(&cs);
    if (rc)
        return rc;
    if (ingest_registry_open(r->rt->cat, &r->spec, &r->registry, err))
        return err->code;
    struct pipeline_opts po = {&r->spec, &r->ptable, util_now_ms(), r->registry};
    struct pipeline *p = NULL;
    if (pipeline_new(&po, &p, err))
        return err->code;
    pthread_mutex_lock(&r->job->mu);
    r->job->pipe = p;
    pthread_mutex_unlock(&r->job->mu);
    if (open_source(r, err))
        return err->code;
    if (catalog_is_shared(r->rt->cat)) {
        /* Several servers share the catalog: a stream that can be divided is read only
         * under leases (lease.c; nothing until this node holds some); another source is
         * read as on one server. */
        struct source_offsets none;
        source_offsets_init(&none);
        struct lerr oe;
        lerr_init(&oe);
        r->lease.on = source_only(r->job->src, &none, &oe) == 0;
        source_offsets_destroy(&none);
        log_msg(LOG_INFO, "ingest", "job %s: shared catalog: %s", r->job->id,
                r->lease.on ? "this node reads the partitions it leases"
                            : "this source is not divided between the nodes");
    }
    /* in a cluster each node's share is saved apart (ingest__counters_key): under this
     * node's id, known once the server has joined the catalog's nodes */
    for (char self[128] = ""; r->lease.on && !atomic_load(&r->job->stop);) {
        ingest__node_id(r->rt, self);
        if (self[0])
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    json_t *saved = NULL;
    struct lerr e;
    lerr_init(&e);
    char key[200];
    ingest__counters_key(r, key);
    if (catalog_job_counters_load(r->rt->cat, key, &saved, &e) == 0) {
        struct pipeline_counters c;
        ingest__counters_from_json(saved, &c);
        pthread_mutex_lock(&r->job->tally_mu);
        pipeline_tally_add_counts(&r->job->totals, &c);
        pthread_mutex_unlock(&r->job->tally_mu);
        ingest__rejections_from_json(saved, r->job);
        json_decref(saved);
    }
    /* One checkpoint per table, tied to its topic or stream: reading another one
     * drops it (the Polaris rule), so coming back later starts at readFromPoint. */
    int dropped = 0;
    if (catalog_checkpoint_claim(r->rt->cat, r->cj.table_name, r->stream, &dropped, err))
        return err->code;
    if (dropped)
        log_msg(LOG_INFO, "ingest",
                "job %s: table '%s' now reads %s; its checkpoint of another topic or stream "
                "was dropped",
                r->job->id, r->cj.table_name, r->stream);
    if (assign_source(r, err))
        return err->code;
    return r->blocked ? 0 : commit_assignment(r, err);
}

/*
 * At the end of a runner: rows still in memory (given up at the shutdown bound, or never
 * sealed) are said in the log and counted for ingest_runtime_stop(). They are not lost:
 * no commit advanced the checkpoint past them, so the job reads them again on restart.
 */
static void note_unpersisted(struct runner *r)
{
    uint64_t rows, bytes;
    storage_table_realtime_usage(r->table->st, &rows, &bytes);
    char why[512];
    pthread_mutex_lock(&r->ps.mu);
    rows += r->ps.abandoned_rows;
    const char *e = r->ps.error;
    if (strncmp(e, PERSIST_FAILED, strlen(PERSIST_FAILED)) == 0)
        e += strlen(PERSIST_FAILED);
    snprintf(why, sizeof why, "%s", *e ? e : "the final persist failed");
    pthread_mutex_unlock(&r->ps.mu);
    if (!rows)
        return;
    log_msg(LOG_ERROR, "ingest",
            "job %s: %llu rows of table '%s' were not persisted when the job stopped (last "
            "error: %s); the checkpoint was not advanced past them, so they are read again "
            "from %s after a restart",
            r->job->id, (unsigned long long)rows, r->table->name, why, r->stream);
    struct ingest_runtime *rt = r->rt;
    atomic_fetch_add(&rt->unpersisted_rows, rows);
    char quoted[300];
    snprintf(quoted, sizeof quoted, "'%s'", r->table->name);
    pthread_mutex_lock(&rt->mu);
    size_t len = strlen(rt->unpersisted_tables);
    if (!strstr(rt->unpersisted_tables, quoted) &&
        len + strlen(quoted) + 3 < sizeof rt->unpersisted_tables)
        snprintf(rt->unpersisted_tables + len, sizeof rt->unpersisted_tables - len, "%s%s",
                 len ? ", " : "", quoted);
    pthread_mutex_unlock(&rt->mu);
}

/* A stream read whole: whether a commit was refused because the job's run lease moved
 * to another node (its rows were discarded); then the runner stops: the new holder reads
 * the stream from the checkpoint. */
static bool fenced(struct runner *r)
{
    pthread_mutex_lock(&r->ps.mu);
    bool f = r->ps.fenced;
    pthread_mutex_unlock(&r->ps.mu);
    return f;
}

static bool run_lost(struct runner *r)
{
    bool lost = fenced(r);
    if (lost) {
        log_msg(LOG_WARN, "ingest",
                "job %s: node %s no longer holds the job's run lease (epoch %lld); it stops "
                "reading, and what it had not committed is read again by the new holder",
                r->job->id, r->run.node_id, (long long)r->run.epoch);
        atomic_store(&r->job->stop, true);
    }
    return lost;
}

void *ingest__stream_main(void *arg)
{
    struct ingest__job *job = arg;
    struct runner r = {.job = job, .rt = job->rt};
    source_offsets_init(&r.appended);
    source_offsets_init(&r.covered);
    arena_init(&r.ptable_mem, 4096, 0);
    r.health = CATALOG_HEALTH_OK;
    r.last_commit_ms = util_now_ms();
    /* set before this thread started; the supervisor changes the job's later */
    r.run = job->run_lease;
    r.has_run = job->has_run_lease;
    r.run_behind = r.has_run && r.run.taken_over;
    struct lerr err;
    lerr_init(&err);
    if (r.has_run)
        ingest__run_publish(&r, false);
    if (ingest__persister_start(&r, &err) || runner_start(&r, &err)) {
        ingest__fail(&r, "cannot start: %s", err.msg);
        goto out;
    }
    if (fetcher_start(&r, r.blocked, &err)) {
        ingest__fail(&r, "cannot start: %s", err.msg);
        goto out;
    }
    ingest__set_status(&r, CATALOG_JOB_RUNNING, CATALOG_HEALTH_OK, "", util_now_ns(), 0);
    ingest__totals_counters(job, &r.window_start);
    r.window_start_ms = util_now_ms();
    log_msg(LOG_INFO, "ingest", "job %s: running into table '%s' from %s", job->id,
            r.cj.table_name, r.stream);
    int64_t last_reset_check = 0;
    while (!atomic_load(&job->stop)) {
        lerr_init(&err);
        int64_t now = util_now_ms();
        if (now - last_reset_check >= RESET_CHECK_MS || r.blocked) {
            last_reset_check = now;
            if (check_reset(&r, &err) == false && err.code) {
                ingest__fail(&r, "reset failed: %s", err.msg);
                goto out;
            }
        }
        if (r.blocked) {
            ingest__set_health(&r, CATALOG_HEALTH_ERROR, r.blocked_msg);
            wait_stop_ms(&r, RESET_CHECK_MS);
            continue;
        }
        if (r.lease.on && lease_tick(&r, &err)) {
            /* the catalog or the broker failed in the middle: try again next turn */
            ingest__set_health(&r, CATALOG_HEALTH_WARN, err.msg);
            lerr_init(&err);
        }
        if (r.lease.on)
            ingest__lease_publish(&r, false);
        if (r.has_run && run_lost(&r))
            break;
        if (r.has_run)
            ingest__run_tick(&r);
        if (step(&r, &err)) {
            ingest__fail(&r, "%s", err.msg);
            goto out;
        }
        ingest__update_health(&r);
        if (should_persist(&r)) {
            lerr_init(&err);
            if (ingest__persist(&r, true, &err))
                ingest__set_health(&r, CATALOG_HEALTH_WARN, err.msg);
        }
        pthread_mutex_lock(&r.ps.mu);
        bool conflict = r.ps.conflict;
        pthread_mutex_unlock(&r.ps.mu);
        if (conflict) {
            /* A commit met a moved checkpoint: a reset; act on it now. */
            lerr_init(&err);
            last_reset_check = 0;
            if (!check_reset(&r, &err) && err.code) {
                ingest__fail(&r, "after a checkpoint change: %s", err.msg);
                goto out;
            }
        }
        if (strncmp(r.stream, "push:", 5) == 0)
            push_trim(r.rt, r.cj.connection_name, r.stream);
    }
    /* Suspend, cancel or shutdown: what was appended becomes durable first (batches
     * fetched but not appended are read again on resume). A persist that keeps failing (a
     * full disk) is retried as long as it takes — a suspend waits for the disk — except at
     * a server shutdown, whose bound makes the persister give up (struct persister). */
    fetcher_stop(&r);
    lerr_init(&err);
    /* A blocked job read nothing: its checkpoint stays as it is. */
    if (ingest__persist(&r, !r.blocked, &err))
        log_msg(LOG_WARN, "ingest", "job %s: final persist failed: %s", job->id, err.msg);
    else if (ingest__persister_drain(&r, -1) && r.lease.on)
        while (r.lease.n) /* committed: the partitions go to the other nodes at once */
            ingest__lease_release(&r, r.lease.n - 1);
    else if (r.has_run && !fenced(&r) && ingest__persister_drain(&r, -1) &&
             catalog_lease_release(r.rt->cat, r.run.table_name, r.run.stream, r.run.part,
                                   r.run.node_id, r.run.epoch, &(struct lerr){0}) == 0)
        atomic_store(&job->run_released, true); /* committed: another node may take it now */
    note_unpersisted(&r);
out:
    fetcher_stop(&r);
    ingest__persister_stop(&r);
    source_offsets_destroy(&r.appended);
    source_offsets_destroy(&r.covered);
    if (r.lease.on)
        ingest__lease_publish(&r, true);
    if (r.has_run)
        ingest__run_publish(&r, true);
    free(r.lease.held);
    free(r.lease.catch_up);
    pthread_mutex_lock(&job->mu);
    struct source *src = job->src;
    struct pipeline *pipe = job->pipe;
    job->src = NULL;
    job->pipe = NULL;
    pthread_mutex_unlock(&job->mu);
    source_close(src);
    storage_db_put(r.rt->db, r.table);
    pipeline_free(pipe);
    format_registry_free(r.registry);
    catalog_job_spec_destroy(&r.spec);
    catalog_job_destroy(&r.cj);
    arena_destroy(&r.ptable_mem);
    atomic_store(&job->done, true);
    ingest_runtime_notify(job->rt);
    return NULL;
}
