/*
 * push.c — a push connection's log (pushlog.c) seen through the source
 * interface: one partition, numbered 0, whose topic is the stream name (the
 * connection name), so the job runner reads it exactly like a Kafka
 * partition and checkpoints it as {"<connection>":{"0":<next>}}.
 *
 * Entry points: source_open_push(), source__open_push_held() (pushreg.c's
 * pushreg_source: the source calls back at close to give the registry's
 * reference back).
 *
 * A start offset below the log's start — trimmed away (only possible after a
 * reset, or when the first files were deleted by hand: the runtime trims
 * below the minimum checkpoint) — moves the reader to the earliest retained
 * offset and reports the gap in the next batch, as Kafka's
 * offset-out-of-range does. A start offset past the log's end means records
 * the table already holds were lost from the log (a deleted last file,
 * damage cut away by hand, a log re-created under the same name): that is
 * LERR_CORRUPT, telling the user to reset the job, never a rewind that would
 * read everything again.
 *
 * Records the log skips (source_pushlog_batch.skip: damaged, or missing) become a
 * gap in the batch that carries the records after them, with `corrupt` and a
 * reason naming the file and bytes; the position moves past the skip so it
 * never goes backwards.
 */
#include "source/source_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "source-push"

struct push_source {
    struct source base;
    struct source_pushlog *log;
    char topic[SOURCE_TOPIC_MAX + 1];
    struct source_pushlog_cursor *cur; /* NULL until assigned */
    pthread_mutex_t mu;                /* guards next (read by source_partitions) */
    int64_t next;                      /* one past the last record returned */
    size_t topic_len;
    struct source_gap gaps[2]; /* reported by the next poll: a trim, then a skip */
    size_t ngaps;
    /* called with the log at close (the registry gives its reference back); NULL: borrowed */
    void (*release)(void *ctx, struct source_pushlog *log);
    void *release_ctx;
};

static void set_next(struct push_source *ps, int64_t v)
{
    pthread_mutex_lock(&ps->mu);
    ps->next = v;
    pthread_mutex_unlock(&ps->mu);
}

static struct source_gap *add_gap(struct push_source *ps, int64_t from, int64_t to, bool corrupt,
                                  const char *reason)
{
    struct source_gap *g =
        &ps->gaps[ps->ngaps < LS_ARRAY_LEN(ps->gaps) ? ps->ngaps++ : ps->ngaps - 1];
    *g = (struct source_gap){
        .topic = ps->topic, .partition = 0, .from = from, .to = to, .corrupt = corrupt};
    snprintf(g->reason, sizeof g->reason, "%s", reason);
    return g;
}

/* Moves to the earliest offset after `from` turned out to be trimmed away. */
static int push_recover(struct push_source *ps, int64_t from, struct lerr *err)
{
    struct lerr e2;
    lerr_init(&e2);
    if (source_pushlog_cursor_seek(ps->cur, SOURCE_OFFSET_EARLIEST, &e2))
        return lerr_set(err, e2.code, "%s", e2.msg);
    int64_t to = source_pushlog_cursor_offset(ps->cur);
    const char *why = "no longer in the push log (trimmed, or its files were deleted)";
    add_gap(ps, from, to, false, why);
    set_next(ps, to);
    log_msg(LOG_WARN, MOD, "%s: offset %" PRId64 " is %s; reading on from %" PRId64, ps->topic,
            from, why, to);
    return 0;
}

static int push_assign(struct source *s, const struct source_offsets *start, int64_t default_start,
                       struct lerr *err)
{
    struct push_source *ps = (struct push_source *)s;
    int64_t want = source_offsets_get(start, ps->topic, 0);
    if (want == SOURCE_OFFSET_NONE || want < 0)
        want = default_start;
    if (start) {
        for (size_t i = 0; i < start->n; i++)
            if (strcmp(start->items[i].topic, ps->topic) != 0 || start->items[i].partition != 0)
                log_msg(LOG_WARN, MOD,
                        "%s: ignoring a start offset for '%s' partition %" PRId32
                        " (a push stream has only partition 0)",
                        ps->topic, start->items[i].topic, start->items[i].partition);
    }
    source_pushlog_cursor_close(ps->cur);
    ps->cur = NULL;
    ps->ngaps = 0;
    set_next(ps, SOURCE_OFFSET_NONE);
    struct lerr e2;
    lerr_init(&e2);
    int rc = source_pushlog_cursor_open(ps->log, want, &ps->cur, &e2);
    if (rc == LERR_INVALID && want >= 0) {
        int64_t end = source_pushlog_end_offset(ps->log);
        log_msg(LOG_ERROR, MOD, "%s: the checkpoint %" PRId64 " is past the log's end %" PRId64,
                ps->topic, want, end);
        return lerr_set(err, LERR_CORRUPT,
                        "push log of connection '%s' ends at offset %" PRId64 " but the table's "
                        "checkpoint is at %" PRId64 ": records were lost from the log (deleted or "
                        "damaged); reset the job (POST /v2/jobs/{id}/reset) to read from its "
                        "readFromPoint",
                        ps->topic, end, want);
    }
    if (rc == LERR_NOT_FOUND) {
        lerr_init(&e2);
        if (source_pushlog_cursor_open(ps->log, SOURCE_OFFSET_EARLIEST, &ps->cur, &e2))
            return lerr_set(err, e2.code, "%s", e2.msg);
        return push_recover(ps, want, err);
    }
    if (rc)
        return lerr_set(err, e2.code, "%s", e2.msg);
    set_next(ps, source_pushlog_cursor_offset(ps->cur));
    return 0;
}

static int push_poll(struct source *s, struct arena *mem, size_t max_records, int timeout_ms,
                     struct source_batch *out, struct lerr *err)
{
    struct push_source *ps = (struct push_source *)s;
    if (!ps->cur)
        return lerr_set(err, LERR_INTERNAL, "source %s: poll before assign", ps->topic);
    if (max_records > 65536)
        max_records = 65536;
    struct source_pushlog_batch b;
    struct lerr e2;
    lerr_init(&e2);
    int64_t at = source_pushlog_cursor_offset(ps->cur);
    int rc = source_pushlog_cursor_read(ps->cur, max_records, ps->ngaps ? 0 : timeout_ms, &b, &e2);
    if (rc == LERR_NOT_FOUND) {
        /* Trimmed under us: go on from the earliest, and say so. */
        if (push_recover(ps, at, err))
            return err->code;
        lerr_init(&e2);
        rc = source_pushlog_cursor_read(ps->cur, max_records, 0, &b, &e2);
    }
    if (rc)
        return lerr_set(err, e2.code, "%s", e2.msg);
    if (b.has_skip) {
        /* Damaged or missing records: passed over, and said so. */
        add_gap(ps, b.skip.from, b.skip.to, b.skip.corrupt, b.skip.why);
        log_msg(LOG_WARN, MOD, "%s: skipped offsets %" PRId64 "..%" PRId64 " (%s)", ps->topic,
                b.skip.from, b.skip.to - 1, b.skip.why);
        set_next(ps, b.skip.to);
    }
    /* Into the caller's arena: the cursor's buffer is reused by the next read. */
    size_t bytes = 0;
    struct record *recs = b.n ? arena_alloc(mem, b.n * sizeof *recs) : NULL;
    const char *topic = b.n ? source__copy(mem, ps->topic, ps->topic_len) : NULL;
    if (b.n && (!recs || !topic))
        return lerr_set(err, LERR_NOMEM, "source %s: out of memory for a batch of %zu records",
                        ps->topic, b.n);
    for (size_t i = 0; i < b.n; i++) {
        const char *data = source__copy(mem, b.recs[i].p, b.recs[i].len);
        if (!data)
            return lerr_set(err, LERR_NOMEM, "source %s: out of memory copying a batch",
                            ps->topic);
        recs[i] = (struct record){
            .data = data,
            .len = b.recs[i].len,
            .partition = 0,
            .offset = b.recs[i].offset,
            .has_timestamp = b.recs[i].ts_ms >= 0,
            .timestamp_ms = b.recs[i].ts_ms,
            .topic = topic,
            .topic_len = ps->topic_len,
        };
        bytes += b.recs[i].len;
    }
    out->records = recs;
    out->n = b.n;
    out->bytes = bytes;
    if (ps->ngaps) {
        if (source__gaps_copy(mem, ps->gaps, ps->ngaps, out, err))
            return err->code;
        ps->ngaps = 0;
    }
    if (b.n)
        set_next(ps, b.recs[b.n - 1].offset + 1);
    return 0;
}

static int push_position(struct source *s, struct source_offsets *out, struct lerr *err)
{
    struct push_source *ps = (struct push_source *)s;
    if (!ps->cur)
        return 0;
    pthread_mutex_lock(&ps->mu);
    int64_t next = ps->next;
    pthread_mutex_unlock(&ps->mu);
    return source_offsets_set(out, ps->topic, 0, next, err);
}

static int push_partitions(struct source *s, struct source_partition **out, size_t *n,
                           struct lerr *err)
{
    struct push_source *ps = (struct push_source *)s;
    struct source_partition *p = calloc(1, sizeof *p);
    if (!p)
        return lerr_set(err, LERR_NOMEM, "source %s: out of memory", ps->topic);
    snprintf(p->topic, sizeof p->topic, "%s", ps->topic);
    p->partition = 0;
    pthread_mutex_lock(&ps->mu);
    p->next_offset = ps->next; /* SOURCE_OFFSET_NONE until assigned */
    pthread_mutex_unlock(&ps->mu);
    bool assigned = p->next_offset >= 0;
    p->end_offset = source_pushlog_end_offset(ps->log);
    p->lag = assigned ? (p->end_offset > p->next_offset ? p->end_offset - p->next_offset : 0) : -1;
    *out = p;
    *n = 1;
    return 0;
}

static int push_health(struct source *s, char *msg, size_t cap)
{
    (void)s;
    (void)msg;
    (void)cap;
    return SOURCE_HEALTH_OK; /* a local log has no broker to lose; errors come from poll */
}

static bool push_ready(struct source *s)
{
    return ((struct push_source *)s)->cur != NULL; /* a log's ends are always known */
}

static void push_close(struct source *s)
{
    struct push_source *ps = (struct push_source *)s;
    source_pushlog_cursor_close(ps->cur);
    pthread_mutex_destroy(&ps->mu);
    if (ps->release)
        ps->release(ps->release_ctx, ps->log);
    free(ps);
}

static const struct source_ops push_ops = {
    .assign = push_assign,
    .poll = push_poll,
    .position = push_position,
    .partitions = push_partitions,
    .health = push_health,
    .ready = push_ready,
    .close = push_close,
};

struct source *source_open_push(struct source_pushlog *log, const char *stream, struct lerr *err)
{
    return source__open_push_held(log, stream, NULL, NULL, err);
}

struct source *source__open_push_held(struct source_pushlog *log, const char *stream,
                                      void (*release)(void *ctx, struct source_pushlog *log),
                                      void *release_ctx, struct lerr *err)
{
    if (!log) {
        lerr_set(err, LERR_INVALID, "source: no push log given");
        return NULL;
    }
    if (!source_topic_name_ok(stream)) {
        lerr_set(err, LERR_INVALID, "source: push stream name must be 1..%d bytes",
                 SOURCE_TOPIC_MAX);
        return NULL;
    }
    struct push_source *ps = calloc(1, sizeof *ps);
    if (!ps) {
        lerr_set(err, LERR_NOMEM, "source: out of memory");
        return NULL;
    }
    ps->base.ops = &push_ops;
    ps->log = log;
    ps->release = release;
    ps->release_ctx = release_ctx;
    snprintf(ps->topic, sizeof ps->topic, "%s", stream);
    ps->topic_len = strlen(ps->topic);
    pthread_mutex_init(&ps->mu, NULL);
    ps->next = SOURCE_OFFSET_NONE;
    return &ps->base;
}
