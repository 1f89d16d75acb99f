/*
 * kinesis.c — a Kinesis data stream as a source: the Kinesis JSON API
 * (ListShards, GetShardIterator, GetRecords) over libcurl, every request
 * signed with AWS Signature V4 by libcurl itself (CURLOPT_AWS_SIGV4
 * "aws:amz:<region>:kinesis"), never by hand. Response bodies are read in
 * kinesis_json.c.
 *
 * Entry points: source_open_kinesis(), source_kinesis_config_from_json(),
 * source_kinesis_endpoint_region(); the rest through the source_* calls.
 *
 * How it reads:
 *   - Shards are partitions: shardId-000000000007 is partition 7 of the
 *     topic <stream>. A shard's position is `next` (records taken, the
 *     records' offsets) with the Kinesis position beside it
 *     (source_offset.pos): "after:<sequence number>" (AFTER_SEQUENCE_NUMBER),
 *     "trim_horizon" (TRIM_HORIZON: nothing read yet), "at:<epoch ms>"
 *     (AT_TIMESTAMP) or "end" (a closed shard read to its end). The
 *     checkpoint keeps both, so a restart goes on after the last record the
 *     table holds, exactly once as for Kafka.
 *   - readFromPoint: earliest is TRIM_HORIZON; latest is resolved when the
 *     shards are assigned to AT_TIMESTAMP of that moment (a sequence number
 *     of "now" does not exist), so the start is concrete and committed
 *     before any record is read and a restart does not move it; closed
 *     shards start at "end" (nothing new will arrive in them).
 *   - Resharding: a shard is read only once its parents (ParentShardId,
 *     AdjacentParentShardId) that the stream still lists are read to their
 *     end, so a key's records keep their order across a split or merge.
 *     Shards that appear later (children of a split) start at TRIM_HORIZON,
 *     whatever readFromPoint says: all their records are new to the job.
 *     The poll that finds a shard reports partitions_changed and carries no
 *     record of it, so its start is committed before its first record.
 *     ListShards runs every shard_refresh_ms and at once when a shard ends.
 *   - GetRecords per readable shard, round robin, Limit = what the caller
 *     still wants (at most 10,000); a shard that returned nothing waits
 *     200 ms (AWS allows 5 reads a second per shard), one that returned
 *     records is read again at once. An expired iterator is replaced from
 *     the position.
 *   - Throttling (ProvisionedThroughputExceeded, LimitExceeded), 5xx, an
 *     unreachable endpoint and refused credentials: the request is retried
 *     with backoff (200 ms doubling to 5 s), health warns naming the
 *     endpoint, the error and for how long; nothing is lost because the
 *     position moves only with records taken. A stream that does not exist
 *     is LERR_NOT_FOUND.
 *   - Lag of a shard is its MillisBehindLatest (milliseconds).
 *
 * Threads: assign/poll/position/close belong to the runner's thread;
 * source_partitions and source_health may be called from any thread (the
 * shard table and the health state are under a mutex).
 */
#include "source/kinesis_int.h"
#include "source/source_int.h"
#include "util/vec.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD "source-kinesis"
#define RESP_CAP (64u << 20) /* a GetRecords answer is at most 10 MiB of base64 and JSON */
#define IDLE_MS 200
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define GETRECORDS_MAX 10000
#define TOKEN_MAX 4096

enum { KS_WAIT, KS_READ, KS_DONE };

struct kshard {
    char id[SOURCE__KIN_ID_MAX + 1];
    int32_t partition;
    int32_t parent, adjacent; /* -1 none */
    bool listed, closed;
    int state;
    int64_t next;                 /* records taken */
    char pos[SOURCE_POS_MAX + 1]; /* where to go on from (file comment) */
    char *iter;                   /* the current iterator; NULL: get one from pos */
    int64_t due_ms;               /* no GetRecords before this */
    int64_t behind_ms;            /* MillisBehindLatest; -1 unknown */
};

struct kinesis_source {
    struct source base;
    char stream[SOURCE_TOPIC_MAX + 1];
    char *url, *sigv4, *key_id, *secret, *token_hdr;
    char region[64];
    int refresh_ms, timeout_ms;
    CURL *curl;
    struct buf resp;
    pthread_mutex_t mu; /* guards shards[] (values and count) and the health state */
    struct kshard *shards;
    size_t n, alloc, rr;
    bool assigned, listed;
    struct source_offsets start; /* the assignment, applied when the shards are known */
    int64_t default_start;
    int64_t latest_ms;    /* "now" of the assignment: readFromPoint latest */
    int64_t next_list_ms; /* the next ListShards */
    int64_t retry_at_ms;  /* after a failure: no request before this */
    int backoff_ms;
    bool changed; /* partitions_changed for the next poll */
    /* health (under mu) */
    int64_t trouble_since_ms;
    char trouble[400];
    /* batch scratch (poll thread) */
    struct record *recs;
    size_t nrecs, recs_alloc;
    struct source__kin_shard *listing;
    size_t nlisting, listing_alloc;
};

static int64_t mono_ms(void) { return util_mono_ns() / 1000000; }

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- health ------------------------------------------------------------------ */

static void trouble(struct kinesis_source *ks, const char *what)
{
    pthread_mutex_lock(&ks->mu);
    if (!ks->trouble_since_ms)
        ks->trouble_since_ms = mono_ms();
    snprintf(ks->trouble, sizeof ks->trouble, "%s", what);
    pthread_mutex_unlock(&ks->mu);
    int64_t now = mono_ms();
    ks->backoff_ms = ks->backoff_ms ? ks->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (ks->backoff_ms > BACKOFF_MAX_MS)
        ks->backoff_ms = BACKOFF_MAX_MS;
    ks->retry_at_ms = now + ks->backoff_ms;
}

static void fine(struct kinesis_source *ks)
{
    ks->backoff_ms = 0;
    ks->retry_at_ms = 0;
    if (!ks->trouble_since_ms)
        return;
    pthread_mutex_lock(&ks->mu);
    log_msg(LOG_INFO, MOD, "stream %s: the endpoint answers again", ks->stream);
    ks->trouble_since_ms = 0;
    ks->trouble[0] = '\0';
    pthread_mutex_unlock(&ks->mu);
}

/* ---- requests ---------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
    struct buf *b = ctx;
    size_t n = size * nmemb;
    return buf_append(b, p, n) ? n : 0;
}

enum { CALL_OK, CALL_FAILED };

/*
 * POSTs one Kinesis operation. CALL_OK with the body in ks->resp, or
 * CALL_FAILED with *kind and msg (endpoint unreachable, the service's error).
 */
static int call(struct kinesis_source *ks, const char *op, const char *body,
                enum source__kin_fail *kind, char *msg, size_t cap)
{
    buf_reset(&ks->resp);
    char target[96];
    snprintf(target, sizeof target, "X-Amz-Target: Kinesis_20131202.%s", op);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.1");
    h = h ? curl_slist_append(h, target) : NULL;
    if (h && ks->token_hdr)
        h = curl_slist_append(h, ks->token_hdr);
    if (!h) {
        *kind = KIN_F_RETRY;
        snprintf(msg, cap, "out of memory");
        return CALL_FAILED;
    }
    CURL *c = ks->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (cc != CURLE_OK) {
        *kind = KIN_F_RETRY;
        snprintf(msg, cap, "Kinesis endpoint %s unreachable: %s", ks->url, curl_easy_strerror(cc));
        return CALL_FAILED;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (ks->resp.failed) {
        *kind = KIN_F_OTHER;
        snprintf(msg, cap, "Kinesis %s: the response is over %u bytes", op, RESP_CAP);
        return CALL_FAILED;
    }
    if (status == 200)
        return CALL_OK;
    char why[400];
    *kind = source__kin_parse_error(status, ks->resp.data ? ks->resp.data : "", ks->resp.len, why,
                                    sizeof why);
    snprintf(msg, cap, "Kinesis %s on stream '%s' at %s (HTTP %ld): %s", op, ks->stream, ks->url,
             status, why);
    return CALL_FAILED;
}

/* A JSON request body; NULL on OOM. */
static char *body_of(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- shards ----------------------------------------------------------------------- */

static struct kshard *find(struct kinesis_source *ks, int32_t partition)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->shards[i].partition == partition)
            return &ks->shards[i];
    return NULL;
}

/* A shard is readable once each parent the stream still lists is read to its end. */
static bool parents_done(struct kinesis_source *ks, const struct kshard *s)
{
    int32_t ps[2] = {s->parent, s->adjacent};
    for (int i = 0; i < 2; i++) {
        if (ps[i] < 0)
            continue;
        struct kshard *p = find(ks, ps[i]);
        if (p && p->listed && p->state != KS_DONE)
            return false;
    }
    return true;
}

/* Moves waiting shards whose parents are done to reading (under mu). */
static void update_states(struct kinesis_source *ks)
{
    bool moved = true;
    while (moved) {
        moved = false;
        for (size_t i = 0; i < ks->n; i++) {
            struct kshard *s = &ks->shards[i];
            if (s->state == KS_DONE)
                continue;
            if (strcmp(s->pos, "end") == 0) {
                s->state = KS_DONE;
                moved = true;
            } else if (s->state == KS_WAIT && parents_done(ks, s)) {
                s->state = KS_READ;
                s->due_ms = 0;
            }
        }
    }
}

/*
 * Lists every shard (ListShards, page by page) into ks->listing. 0, or
 * CALL_FAILED with kind and msg.
 */
static int list_shards(struct kinesis_source *ks, enum source__kin_fail *kind, char *msg,
                       size_t cap, struct lerr *err)
{
    ks->nlisting = 0;
    char token[TOKEN_MAX] = "";
    for (int page = 0; page < 1000; page++) {
        json_t *o = token[0] ? json_pack("{s:s}", "NextToken", token)
                             : json_pack("{s:s}", "StreamName", ks->stream);
        char *body = body_of(o);
        if (!body)
            return lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
        int rc = call(ks, "ListShards", body, kind, msg, cap);
        free(body);
        if (rc)
            return CALL_FAILED;
        if (source__kin_parse_shards(ks->resp.data, ks->resp.len, &ks->listing, &ks->nlisting,
                                     &ks->listing_alloc, token, sizeof token, err))
            return err->code;
        if (!token[0])
            return 0;
    }
    return lerr_set(err, LERR_INVALID, "Kinesis ListShards: more than 1000 pages");
}

/*
 * Takes a listing in: new shards get their start (initial: from the
 * assignment; later: trim_horizon), known ones their listed/closed flags.
 * Returns whether shards were added.
 */
static int apply_listing(struct kinesis_source *ks, bool initial, bool *added, struct lerr *err)
{
    *added = false;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < ks->n; i++)
        ks->shards[i].listed = false;
    int rc = 0;
    for (size_t i = 0; i < ks->nlisting && !rc; i++) {
        const struct source__kin_shard *l = &ks->listing[i];
        struct kshard *s = find(ks, l->partition);
        if (!s) {
            if (ks->n == ks->alloc) {
                struct kshard *g = vec_grow(ks->shards, &ks->alloc, ks->n + 1, sizeof *g, 8);
                if (!g) {
                    rc = lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
                    break;
                }
                ks->shards = g;
            }
            s = &ks->shards[ks->n++];
            *s = (struct kshard){.partition = l->partition, .state = KS_WAIT, .behind_ms = -1};
            snprintf(s->id, sizeof s->id, "%s", l->id);
            const char *pos =
                initial ? source_offsets_get_pos(&ks->start, ks->stream, l->partition) : NULL;
            int64_t next = initial ? source_offsets_get(&ks->start, ks->stream, l->partition)
                                   : SOURCE_OFFSET_NONE;
            if (pos && next >= 0) {
                snprintf(s->pos, sizeof s->pos, "%s", pos);
                s->next = next;
            } else if (initial && ks->default_start == SOURCE_OFFSET_LATEST) {
                if (l->closed)
                    snprintf(s->pos, sizeof s->pos, "end");
                else
                    snprintf(s->pos, sizeof s->pos, "at:%" PRId64, ks->latest_ms);
            } else {
                snprintf(s->pos, sizeof s->pos, "trim_horizon");
            }
            *added = true;
        }
        s->listed = true;
        s->closed = l->closed;
        s->parent = l->parent;
        s->adjacent = l->adjacent;
    }
    if (initial && ks->start.n)
        for (size_t i = 0; i < ks->start.n; i++)
            if (strcmp(ks->start.items[i].topic, ks->stream) != 0 ||
                !find(ks, ks->start.items[i].partition))
                log_msg(LOG_WARN, MOD,
                        "stream %s: ignoring the checkpoint of '%s' shard %" PRId32
                        " (the stream no longer lists it)",
                        ks->stream, ks->start.items[i].topic, ks->start.items[i].partition);
    update_states(ks);
    pthread_mutex_unlock(&ks->mu);
    return rc;
}

/* Lists the shards; a failure that is not the service's "no such stream" is only trouble. */
static int refresh(struct kinesis_source *ks, bool initial, bool *added, struct lerr *err)
{
    *added = false;
    enum source__kin_fail kind;
    char msg[600];
    int rc = list_shards(ks, &kind, msg, sizeof msg, err);
    if (rc == CALL_FAILED) {
        if (kind == KIN_F_NOTFOUND)
            return lerr_set_at(err, LERR_NOT_FOUND, "stream",
                               "Kinesis stream '%s' not found at %s (region %s): create it or "
                               "fix the connection's stream, endpoint or region (%s)",
                               ks->stream, ks->url, ks->region, msg);
        trouble(ks, msg);
        log_msg(LOG_WARN, MOD, "%s", msg);
        return LERR_UNAVAILABLE;
    }
    if (rc)
        return rc;
    fine(ks);
    ks->next_list_ms = mono_ms() + ks->refresh_ms;
    if (apply_listing(ks, initial, added, err))
        return err->code;
    if (initial)
        ks->listed = true;
    return 0;
}

static int kin_assign(struct source *s, const struct source_offsets *start, int64_t default_start,
                      struct lerr *err)
{
    struct kinesis_source *ks = (struct kinesis_source *)s;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < ks->n; i++)
        free(ks->shards[i].iter);
    ks->n = 0;
    pthread_mutex_unlock(&ks->mu);
    source_offsets_clear(&ks->start);
    if (start && source_offsets_copy(&ks->start, start, err))
        return err->code;
    ks->default_start = default_start;
    ks->latest_ms = util_now_ms();
    ks->assigned = true;
    ks->listed = false;
    ks->retry_at_ms = 0;
    bool added;
    int rc = refresh(ks, true, &added, err);
    return rc == LERR_UNAVAILABLE ? 0 : rc; /* health warns; poll lists again */
}

/* ---- reading ---------------------------------------------------------------------- */

static char *iterator_request(const struct kinesis_source *ks, const struct kshard *s, bool latest)
{
    json_t *o = json_pack("{s:s, s:s}", "StreamName", ks->stream, "ShardId", s->id);
    if (!o)
        return NULL;
    if (latest) {
        json_object_set_new(o, "ShardIteratorType", json_string("LATEST"));
    } else if (strncmp(s->pos, "after:", 6) == 0) {
        json_object_set_new(o, "ShardIteratorType", json_string("AFTER_SEQUENCE_NUMBER"));
        json_object_set_new(o, "StartingSequenceNumber", json_string(s->pos + 6));
    } else if (strncmp(s->pos, "at:", 3) == 0) {
        json_object_set_new(o, "ShardIteratorType", json_string("AT_TIMESTAMP"));
        /* Epoch seconds, as the JSON protocol carries timestamps. */
        json_object_set_new(o, "Timestamp",
                            json_real((double)strtoll(s->pos + 3, NULL, 10) / 1e3));
    } else {
        json_object_set_new(o, "ShardIteratorType", json_string("TRIM_HORIZON"));
    }
    return body_of(o);
}

/* Handles a failed request on a shard; returns non-zero for an error that stops the job. */
static int shard_failed(struct kinesis_source *ks, struct kshard *s, enum source__kin_fail kind,
                        const char *msg, struct lerr *err)
{
    switch (kind) {
    case KIN_F_EXPIRED:
        free(s->iter);
        s->iter = NULL; /* a new one from the position, at once */
        return 0;
    case KIN_F_NOTFOUND: return lerr_set(err, LERR_NOT_FOUND, "%s (was the stream deleted?)", msg);
    case KIN_F_OTHER:
        return lerr_set(err, LERR_INVALID, "%s (shard %s at position %s)", msg, s->id, s->pos);
    case KIN_F_AUTH: {
        char m[600];
        snprintf(m, sizeof m,
                 "%s — the credentials were refused: fix the connection's secrets "
                 "(accessKeyId, secretAccessKey) or the server's AWS_ACCESS_KEY_ID",
                 msg);
        trouble(ks, m);
        log_msg(LOG_WARN, MOD, "%s", m);
        return 0;
    }
    case KIN_F_RETRY:
        trouble(ks, msg);
        log_msg(LOG_WARN, MOD, "%s", msg);
        return 0;
    }
    return 0;
}

/* Appends a parsed response's records to the batch and moves the shard on. */
static int take(struct kinesis_source *ks, struct kshard *s, struct source__kin_records *kr,
                const char *topic, size_t topic_len, struct source_batch *out, struct lerr *err)
{
    if (ks->nrecs + kr->n > ks->recs_alloc) {
        struct record *g = vec_grow(ks->recs, &ks->recs_alloc, ks->nrecs + kr->n, sizeof *g, 64);
        if (!g)
            return lerr_set(err, LERR_NOMEM, "Kinesis: out of memory for a batch");
        ks->recs = g;
    }
    for (size_t i = 0; i < kr->n; i++) {
        const struct source__kin_record *r = &kr->recs[i];
        ks->recs[ks->nrecs++] = (struct record){.data = r->data,
                                                .len = r->len,
                                                .partition = s->partition,
                                                .offset = s->next + (int64_t)i,
                                                .key = r->key,
                                                .key_len = r->key_len,
                                                .has_timestamp = r->ts_ms >= 0,
                                                .timestamp_ms = r->ts_ms,
                                                .topic = topic,
                                                .topic_len = topic_len};
        out->bytes += r->len + r->key_len;
    }
    pthread_mutex_lock(&ks->mu);
    s->next += (int64_t)kr->n;
    if (kr->n)
        snprintf(s->pos, sizeof s->pos, "after:%s", kr->recs[kr->n - 1].seq);
    s->behind_ms = kr->millis_behind;
    free(s->iter);
    s->iter = kr->next_iterator;
    kr->next_iterator = NULL;
    if (!s->iter) {
        /* Closed and read to its end: its children may start. */
        snprintf(s->pos, sizeof s->pos, "end");
        s->state = KS_DONE;
        s->behind_ms = 0;
        update_states(ks);
        ks->next_list_ms = 0;
        log_msg(LOG_INFO, MOD, "stream %s: shard %s read to its end after %" PRId64 " records",
                ks->stream, s->id, s->next);
    }
    pthread_mutex_unlock(&ks->mu);
    /* An empty answer while behind (AWS returns those) is no reason to wait. */
    s->due_ms = kr->n || kr->millis_behind > 0 ? 0 : mono_ms() + IDLE_MS;
    return 0;
}

/* One GetRecords (with a GetShardIterator first when needed) on shard s. */
static int read_shard(struct kinesis_source *ks, struct kshard *s, struct arena *mem, size_t want,
                      const char *topic, size_t topic_len, struct source_batch *out,
                      struct lerr *err)
{
    enum source__kin_fail kind;
    char msg[600];
    if (!s->iter) {
        char *body = iterator_request(ks, s, false);
        if (!body)
            return lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
        int rc = call(ks, "GetShardIterator", body, &kind, msg, sizeof msg);
        free(body);
        if (rc && kind == KIN_F_OTHER && strncmp(s->pos, "at:", 3) == 0) {
            /* AT_TIMESTAMP "in the future" for the service (our clock ahead of AWS's):
             * nothing arrived after that moment yet, so LATEST is the same place. */
            log_msg(LOG_WARN, MOD, "stream %s shard %s: %s; reading from LATEST instead",
                    ks->stream, s->id, msg);
            if (!(body = iterator_request(ks, s, true)))
                return lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
            rc = call(ks, "GetShardIterator", body, &kind, msg, sizeof msg);
            free(body);
        }
        if (rc)
            return shard_failed(ks, s, kind, msg, err);
        char *it;
        if (source__kin_parse_iterator(ks->resp.data, ks->resp.len, &it, err))
            return err->code;
        s->iter = it;
    }
    json_t *o = json_pack("{s:s, s:I}", "ShardIterator", s->iter, "Limit",
                          (json_int_t)(want > GETRECORDS_MAX ? GETRECORDS_MAX : want));
    char *body = body_of(o);
    if (!body)
        return lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
    int rc = call(ks, "GetRecords", body, &kind, msg, sizeof msg);
    free(body);
    if (rc)
        return shard_failed(ks, s, kind, msg, err);
    fine(ks);
    struct source__kin_records kr;
    if (source__kin_parse_records(ks->resp.data, ks->resp.len, mem, &kr, err))
        return err->code;
    rc = take(ks, s, &kr, topic, topic_len, out, err);
    source__kin_records_free(&kr);
    return rc;
}

static int kin_poll(struct source *src, struct arena *mem, size_t max_records, int timeout_ms,
                    struct source_batch *out, struct lerr *err)
{
    struct kinesis_source *ks = (struct kinesis_source *)src;
    if (!ks->assigned)
        return lerr_set(err, LERR_INTERNAL, "Kinesis source: poll before assign");
    ks->nrecs = 0;
    int64_t deadline = mono_ms() + timeout_ms;
    const char *topic = NULL;
    size_t topic_len = strlen(ks->stream);
    for (;;) {
        int64_t now = mono_ms();
        if (now >= ks->retry_at_ms && (!ks->listed || now >= ks->next_list_ms)) {
            bool added = false;
            bool initial = !ks->listed;
            int rc = refresh(ks, initial, &added, err);
            if (rc && rc != LERR_UNAVAILABLE)
                return rc;
            if (rc == 0 && (added || initial)) {
                /* New shards (or the first listing): their starts are committed before any
                 * of their records is read. */
                out->partitions_changed = true;
                return 0;
            }
        }
        if (ks->listed && now >= ks->retry_at_ms) {
            for (size_t k = 0; k < ks->n && ks->nrecs < max_records; k++) {
                struct kshard *s = &ks->shards[(ks->rr + k) % ks->n];
                if (s->state != KS_READ || s->due_ms > mono_ms())
                    continue;
                if (!topic && !(topic = source__copy(mem, ks->stream, topic_len)))
                    return lerr_set(err, LERR_NOMEM, "out of memory for a Kinesis batch");
                if (read_shard(ks, s, mem, max_records - ks->nrecs, topic, topic_len, out, err))
                    return err->code;
                if (mono_ms() < ks->retry_at_ms)
                    break; /* trouble: back off */
            }
            if (ks->n)
                ks->rr = (ks->rr + 1) % ks->n;
        }
        if (ks->nrecs || mono_ms() >= deadline)
            break;
        /* Nothing yet: sleep until a shard is due, a retry or the deadline. */
        int64_t wake = deadline;
        now = mono_ms();
        if (ks->retry_at_ms > now && ks->retry_at_ms < wake)
            wake = ks->retry_at_ms;
        if (ks->retry_at_ms <= now)
            for (size_t i = 0; i < ks->n; i++)
                if (ks->shards[i].state == KS_READ && ks->shards[i].due_ms < wake)
                    wake = ks->shards[i].due_ms;
        if (ks->next_list_ms && ks->next_list_ms < wake)
            wake = ks->next_list_ms;
        sleep_ms(wake - now > 50 ? 50 : wake - now);
    }
    if (ks->nrecs) {
        struct record *r = arena_alloc(mem, ks->nrecs * sizeof *r);
        if (!r)
            return lerr_set(err, LERR_NOMEM, "out of memory for a Kinesis batch");
        memcpy(r, ks->recs, ks->nrecs * sizeof *r);
        out->records = r;
        out->n = ks->nrecs;
    }
    return 0;
}

static int kin_position(struct source *s, struct source_offsets *out, struct lerr *err)
{
    struct kinesis_source *ks = (struct kinesis_source *)s;
    int rc = 0;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < ks->n && !rc; i++)
        rc = source_offsets_set_pos(out, ks->stream, ks->shards[i].partition, ks->shards[i].next,
                                    ks->shards[i].pos, err);
    pthread_mutex_unlock(&ks->mu);
    return rc;
}

static int kin_partitions(struct source *s, struct source_partition **out, size_t *n,
                          struct lerr *err)
{
    struct kinesis_source *ks = (struct kinesis_source *)s;
    pthread_mutex_lock(&ks->mu);
    struct source_partition *p = calloc(ks->n ? ks->n : 1, sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&ks->mu);
        return lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
    }
    for (size_t i = 0; i < ks->n; i++) {
        snprintf(p[i].topic, sizeof p[i].topic, "%s", ks->stream);
        p[i].partition = ks->shards[i].partition;
        p[i].next_offset = ks->shards[i].next;
        p[i].end_offset = -1;
        /* Milliseconds behind the shard's tip; a shard read to its end is 0 behind. */
        p[i].lag = ks->shards[i].state == KS_DONE ? 0 : ks->shards[i].behind_ms;
    }
    *out = p;
    *n = ks->n;
    pthread_mutex_unlock(&ks->mu);
    return 0;
}

static int kin_health(struct source *s, char *msg, size_t cap)
{
    struct kinesis_source *ks = (struct kinesis_source *)s;
    int h = SOURCE_HEALTH_OK;
    pthread_mutex_lock(&ks->mu);
    if (ks->trouble_since_ms) {
        snprintf(msg, cap, "%s (for %" PRId64 " s; retrying)", ks->trouble,
                 (mono_ms() - ks->trouble_since_ms) / 1000);
        h = SOURCE_HEALTH_WARN;
    }
    pthread_mutex_unlock(&ks->mu);
    return h;
}

static bool kin_ready(struct source *s)
{
    struct kinesis_source *ks = (struct kinesis_source *)s;
    return ks->assigned && ks->listed;
}

static void kin_close(struct source *s)
{
    struct kinesis_source *ks = (struct kinesis_source *)s;
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++)
        free(ks->shards[i].iter);
    free(ks->shards);
    free(ks->listing);
    free(ks->recs);
    source_offsets_destroy(&ks->start);
    if (ks->curl)
        curl_easy_cleanup(ks->curl);
    buf_free(&ks->resp);
    pthread_mutex_destroy(&ks->mu);
    free(ks->url);
    free(ks->sigv4);
    free(ks->key_id);
    if (ks->secret) {
        memset(ks->secret, 0, strlen(ks->secret));
        free(ks->secret);
    }
    free(ks->token_hdr);
    free(ks);
}

static const struct source_ops kinesis_ops = {
    .assign = kin_assign,
    .poll = kin_poll,
    .position = kin_position,
    .partitions = kin_partitions,
    .health = kin_health,
    .ready = kin_ready,
    .close = kin_close,
};

/* ---- opening ------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static bool region_ok(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n == 0 || n > 40)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return false;
    return true;
}

bool source_kinesis_endpoint_region(const char *endpoint, char *out, size_t cap)
{
    if (!endpoint)
        return false;
    const char *h = strstr(endpoint, "://");
    h = h ? h + 3 : endpoint;
    /* kinesis.<region>.amazonaws.com[.cn] or kinesis-fips.<region>.amazonaws.com */
    const char *dot = strchr(h, '.');
    if (!dot || (strncmp(h, "kinesis.", 8) != 0 && strncmp(h, "kinesis-fips.", 13) != 0))
        return false;
    const char *r = dot + 1, *e = strchr(r, '.');
    if (!e || strncmp(e, ".amazonaws.com", 14) != 0 || (size_t)(e - r) >= cap)
        return false;
    memcpy(out, r, (size_t)(e - r));
    out[e - r] = '\0';
    return region_ok(out);
}

struct source *source_open_kinesis(const struct source_kinesis_config *cfg, struct lerr *err)
{
    if (!cfg->stream || !source_topic_name_ok(cfg->stream)) {
        lerr_set_at(err, LERR_INVALID, "stream", "Kinesis: stream must be 1..%d bytes",
                    SOURCE_TOPIC_MAX);
        return NULL;
    }
    if (!region_ok(cfg->region)) {
        lerr_set_at(err, LERR_INVALID, "region",
                    "Kinesis: region '%s' is not a region name such as \"us-east-1\"",
                    cfg->region ? cfg->region : "");
        return NULL;
    }
    const char *kid = cfg->access_key_id, *sec = cfg->secret_access_key, *tok = cfg->session_token;
    if (!kid && !sec) {
        kid = getenv("AWS_ACCESS_KEY_ID");
        sec = getenv("AWS_SECRET_ACCESS_KEY");
        tok = getenv("AWS_SESSION_TOKEN");
    }
    if (!kid || !*kid || !sec || !*sec) {
        lerr_set_at(err, LERR_INVALID, "secrets",
                    "Kinesis stream '%s': no AWS credentials — give the connection secrets "
                    "{\"type\": \"aws_access_key\", \"accessKeyId\", \"secretAccessKey\"}, or "
                    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the server's "
                    "environment",
                    cfg->stream);
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    struct kinesis_source *ks = calloc(1, sizeof *ks);
    if (!ks) {
        lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
        return NULL;
    }
    ks->base.ops = &kinesis_ops;
    pthread_mutex_init(&ks->mu, NULL);
    source_offsets_init(&ks->start);
    buf_init(&ks->resp, RESP_CAP);
    snprintf(ks->stream, sizeof ks->stream, "%s", cfg->stream);
    snprintf(ks->region, sizeof ks->region, "%s", cfg->region);
    ks->refresh_ms = cfg->shard_refresh_ms > 0 ? cfg->shard_refresh_ms : 5000;
    ks->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    char url[1200];
    if (cfg->endpoint && cfg->endpoint[0])
        snprintf(url, sizeof url, "%s%s", strstr(cfg->endpoint, "://") ? "" : "https://",
                 cfg->endpoint);
    else
        snprintf(url, sizeof url, "https://kinesis.%s.amazonaws.com", cfg->region);
    char sig[128];
    snprintf(sig, sizeof sig, "aws:amz:%s:kinesis", cfg->region);
    ks->url = strdup(url);
    ks->sigv4 = strdup(sig);
    ks->key_id = strdup(kid);
    ks->secret = strdup(sec);
    if (tok && *tok) {
        size_t n = strlen(tok) + 32;
        if ((ks->token_hdr = malloc(n)))
            snprintf(ks->token_hdr, n, "X-Amz-Security-Token: %s", tok);
    }
    ks->curl = curl_easy_init();
    if (!ks->url || !ks->sigv4 || !ks->key_id || !ks->secret || !ks->curl ||
        (tok && *tok && !ks->token_hdr)) {
        kin_close(&ks->base);
        lerr_set(err, LERR_NOMEM, "Kinesis: out of memory");
        return NULL;
    }
    CURL *c = ks->curl;
    curl_easy_setopt(c, CURLOPT_URL, ks->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, ks->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, ks->key_id);
    curl_easy_setopt(c, CURLOPT_PASSWORD, ks->secret);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &ks->resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ks->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    return &ks->base;
}

/* ---- connection documents ------------------------------------------------------------ */

int source_kinesis_config_from_json(const json_t *doc, const json_t *sec,
                                    struct source_kinesis_config *cfg, struct arena *a,
                                    struct lerr *err)
{
    memset(cfg, 0, sizeof *cfg);
    json_t *d = (json_t *)doc, *s = (json_t *)sec;
    cfg->stream = json_string_value(json_object_get(d, "stream"));
    cfg->endpoint = json_string_value(json_object_get(d, "endpoint"));
    cfg->region = json_string_value(json_object_get(d, "region"));
    if (!cfg->stream || !cfg->stream[0])
        return lerr_set_at(err, LERR_INVALID, "stream",
                           "the kinesis connection has no stream; set \"stream\" to the Kinesis "
                           "data stream's name");
    if (!cfg->region) {
        char r[64];
        if (!source_kinesis_endpoint_region(cfg->endpoint, r, sizeof r) ||
            !(cfg->region = arena_strdup(a, r)))
            return lerr_set_at(err, LERR_INVALID, "region",
                               "the kinesis connection has no region and its endpoint '%s' "
                               "names none; set \"region\", e.g. \"us-east-1\"",
                               cfg->endpoint ? cfg->endpoint : "");
    }
    return source_aws_keys_from_json(s, &cfg->access_key_id, &cfg->secret_access_key, err);
}
