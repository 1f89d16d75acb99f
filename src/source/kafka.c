/*
 * kafka.c — a Kafka topic (or every topic matching a pattern) as a source,
 * on librdkafka. The only file besides devkafka.c that includes rdkafka.h.
 *
 * Entry points: source_open_kafka(), source_kafka_config_from_json(); the
 * rest is reached through the source_* calls (source.c).
 *
 * How it reads:
 *   - Explicit assignment (rd_kafka_assign) of every partition of the topic
 *     (in a cluster, only those source_only names: the node's leases; every
 *     partition metadata shows is still listed by source_stream_partitions),
 *     at offsets the caller gives (its checkpoint) or at earliest/latest.
 *     A consumer needs a group.id, so it gets a fixed private one, but it
 *     never subscribes, never joins a group and never commits:
 *     enable.auto.commit and enable.auto.offset.store are off and nothing
 *     calls commit. Offsets live in the catalog, next to the rows.
 *   - Symbolic starts are resolved to numbers when the partition is
 *     assigned (one ListOffsets round trip for all of them), so
 *     source_position() can be checkpointed before any record arrives.
 *   - Polls take the first record with rd_kafka_consumer_poll (returns as
 *     soon as one is there) and the rest that are already fetched with
 *     rd_kafka_consume_batch_queue(timeout 0). Each message is copied into
 *     the caller's arena (value, key, topic once per partition run, headers
 *     only when asked for) and destroyed within the poll.
 *   - Fetching is tuned for throughput with bounded delay: the broker
 *     answers a fetch when 64 KiB are ready or after 50 ms
 *     (fetch.min.bytes / fetch.wait.max.ms) with at most 4 MiB
 *     (fetch.max.bytes), and queued.max.messages.kbytes bounds what
 *     librdkafka prefetches.
 *   - Metadata is refreshed every metadata_refresh_ms (10 s): partitions
 *     added to the topic and new topics matching the pattern are assigned
 *     from their EARLIEST offset, whatever the job's readFromPoint — they
 *     were created after the job started, so every record in them is new to
 *     the job and "latest" would drop the ones written before discovery.
 *   - auto.offset.reset=error: an offset that no longer exists (retention
 *     deleted it, or the topic was re-created and it is past the end)
 *     surfaces as RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET; we look up the low
 *     watermark, move the partition there and report the gap (from, to) in
 *     the batch. Never silently (Druid's long list of auto-reset bugs).
 *   - Lag per partition = high watermark − next offset, from librdkafka's
 *     cached watermarks (updated by every fetch response), with a blocking
 *     ListOffsets only for partitions it has no numbers for, at most once a
 *     second.
 *   - Health: connection errors (error callback) start a "broker ...
 *     unreachable for N s" warning; it clears when a broker is UP again in
 *     the statistics (statistics.interval.ms = 1 s) with nothing outstanding
 *     unanswered, or a record arrives. reconnect.backoff.max.ms is 1 s so a
 *     returning broker is noticed quickly.
 *   - A broker that keeps its connections open but answers nothing (frozen
 *     by SIGSTOP, a hung JVM, a black-holed network) raises no error until
 *     socket.timeout.ms, and then a misleading one ("ApiVersionRequest
 *     failed: ... probably due to broker version < 0.10"). So the statistics
 *     are read every second, brokers section only (see on_stats): a broker
 *     that leads one of our partitions, has requests in flight, and from
 *     which not one byte arrived for SILENT_MS (5 s) is reported as "broker
 *     HOST:PORT not responding for N s (requests sent, no answer)", within
 *     5-6 s of a freeze. The fetch itself is the liveness probe: an assigned
 *     partition always has a fetch in flight, answered within
 *     fetch.wait.max.ms (50 ms) by a live broker, records or not, so an idle
 *     topic is no silence; a slow broker, or a big response arriving slowly,
 *     sends bytes and is no silence either. It clears at the first byte from
 *     that broker (after SIGCONT: within a second). librdkafka's own timeout
 *     errors ("request(s) timed out", ApiVersion timeouts, connection setup
 *     timeouts) get the same wording, and N counts on across reconnects.
 *     Brokers we do not read from (leading none of our partitions; the group
 *     coordinator, never used) only get their errors logged.
 *     socket.timeout.ms is 30 s (librdkafka's default is 60): detection does
 *     not need it, but it is when librdkafka gives up on a silent broker's
 *     connection and looks for a new partition leader, so a cluster that
 *     moved leadership away from a frozen broker is followed about twice as
 *     soon (with the mock cluster: after 30-60 s instead of 60-120 s); 30 s
 *     (the Java client's request.timeout.ms) is still far above any answer a
 *     working broker gives us, so a slow broker is not turned into a
 *     reconnecting one.
 *
 * Threads: source_poll/assign/position/close belong to one thread
 * (the job runner); source_partitions, source_lag and source_health may be
 * called from any thread (the partition table and health state are under a
 * mutex). librdkafka's callbacks run in the polling thread (error, stats)
 * or its own threads (log; log_msg is thread-safe).
 *
 * Why one file of ~1,500 lines: it is one concern, the librdkafka consumer as a
 * source (assignment, metadata refresh, offsets, polling, gaps, broker health), and its
 * parts share the consumer's state and locks; splitting it would export that state.
 */
#include "source/source_int.h"
#include "util/vec.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#define MOD "source-kafka"

#define GROUP_ID "lodestar-explicit-assign-no-commit"
#define REFRESH_MS_DEFAULT 10000
#define TIMEOUT_MS_DEFAULT 5000
#define QUEUED_KB_DEFAULT 65536
#define WATERMARK_QUERY_MS 1000   /* at most one blocking watermark query per second */
#define PROBE_MS 1000             /* retry a pending assignment this often */
#define WAKE_MS 20                /* at most one fetch wake-up (see wake_fetching) this often */
#define WAKE_TIMEOUT_MS 100       /* ... which waits this long for its answer */
#define BATCH_MAX 65536           /* records per poll, whatever the caller asks */
#define SILENT_MS 5000            /* requests in flight, nothing back this long: not responding */
#define SOCKET_TIMEOUT_MS "30000" /* librdkafka gives up on an unanswered request (see above) */
#define BROKERS_MAX 1024          /* brokers tracked from the statistics */

/*
 * What a connectivity error says about the broker. A timeout means requests
 * went unanswered: librdkafka's "N request(s) timed out: disconnect",
 * "ApiVersionRequest failed: Local: Timed out: probably due to broker
 * version < 0.10 (see api.version.request configuration)" (the request that
 * opens every connection timed out: the broker accepted the connection and
 * said nothing, it is not an old broker), "Connection setup timed out".
 * "N/N brokers are down" only sums up the others.
 */
enum down_kind { DOWN_FAILED, DOWN_SILENT, DOWN_SUMMARY };

/* What the statistics said about one broker the last time (poll thread only). */
struct kbroker {
    char name[160];          /* librdkafka's "host:port/id" (or ".../bootstrap") */
    char host[144];          /* "host:port" */
    int64_t ts_ms;           /* of those statistics, monotonic ms */
    int64_t rx, rxbytes;     /* responses and bytes received, cumulative */
    int64_t silent_since_ms; /* requests in flight and nothing heard since; 0 = not silent */
    bool seen;               /* in the latest statistics */
    bool matters;            /* leads a partition we read (or we wait for metadata) */
};

struct kpart {
    char *topic;
    int32_t partition;
    int64_t next; /* next offset to read; < 0: symbolic, not yet resolved */
    int64_t hi;   /* last known high watermark, -1 unknown */
    bool reset;   /* out of range: waiting to be moved to the low watermark */
    int64_t reset_from;
};

struct kafka_source {
    struct source base;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q; /* the consumer queue */
    char *bootstrap;
    char *topic; /* or NULL with a pattern */
    char *pattern;
    regex_t re;
    bool has_re;
    int refresh_ms, timeout_ms;

    pthread_mutex_t mu;  /* parts (array and fields), health state */
    struct kpart *parts; /* sorted by (topic, partition) */
    size_t nparts, alloc;
    char down_reason[256];
    int64_t down_since_ms;    /* monotonic ms; 0 = no connection trouble */
    enum down_kind down_kind; /* what the reason says (see classify) */
    char down_host[144];      /* the broker the reason names ("" the bootstrap list) */
    int64_t silent_since_ms;  /* the longest-silent broker (statistics); 0 none */
    int64_t stats_ms;         /* when the statistics that said so were taken */
    char silent_host[144];
    char warn[320]; /* another standing warning ("" none) */

    bool assigned; /* source_assign() was called */
    bool pending;  /* ... but the metadata to carry it out is not in yet */
    int64_t default_start;
    struct source_offsets start;
    /* Several nodes: the partitions this one may assign (source_only), and every
     * partition metadata showed (source_stream_partitions; under mu). */
    bool has_only;
    struct source_offsets only, seen;
    int64_t next_meta_ms;    /* monotonic ms of the next metadata refresh */
    int64_t next_wm_ms;      /* ... of the next blocking watermark query */
    int64_t next_reset_ms;   /* ... of the next retry of out-of-range partitions */
    int64_t next_wake_ms;    /* ... of the next fetch wake-up allowed */
    struct kbroker *brokers; /* from the statistics (poll thread only) */
    size_t nbrokers, brokers_alloc;
    bool any_reset;
    size_t last_hit;   /* parts index of the last record (lookup cache) */
    struct lerr fatal; /* an error to return from the next poll */

    /* The current poll: messages are copied into the caller's arena and destroyed
     * within the poll, so nothing of a batch stays here after it. */
    rd_kafka_message_t **msgs; /* batch_alloc entries */
    size_t batch_alloc;
    bool headers; /* fill record headers (source_kafka_config.headers) */
    struct source_gap *gaps;
    size_t ngaps, gaps_alloc;
    bool partitions_changed;
};

static int64_t mono_ms(void) { return util_mono_ns() / 1000000; }

/* ---- the partition table ---------------------------------------------------- */

static int kpart_cmp(const char *ta, int32_t pa, const char *tb, int32_t pb)
{
    int c = strcmp(ta, tb);
    return c ? c : (pa < pb ? -1 : pa > pb);
}

/* Index of (topic, partition), or nparts. Caller holds mu or is the poll thread. */
static size_t kpart_find(const struct kafka_source *ks, const char *topic, int32_t partition,
                         size_t *insert_at)
{
    size_t lo = 0, hi = ks->nparts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = kpart_cmp(ks->parts[mid].topic, ks->parts[mid].partition, topic, partition);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (insert_at)
        *insert_at = lo;
    return ks->nparts;
}

/* Adds a partition (caller holds mu). */
static struct kpart *kpart_add(struct kafka_source *ks, const char *topic, int32_t partition,
                               int64_t next)
{
    size_t at = 0;
    size_t i = kpart_find(ks, topic, partition, &at);
    if (i < ks->nparts)
        return &ks->parts[i];
    if (ks->nparts == ks->alloc) {
        struct kpart *np = vec_grow(ks->parts, &ks->alloc, ks->nparts + 1, sizeof *np, 16);
        if (!np)
            return NULL;
        ks->parts = np;
    }
    char *t = strdup(topic);
    if (!t)
        return NULL;
    memmove(&ks->parts[at + 1], &ks->parts[at], (ks->nparts - at) * sizeof *ks->parts);
    ks->parts[at] = (struct kpart){.topic = t, .partition = partition, .next = next, .hi = -1};
    ks->nparts++;
    ks->last_hit = 0;
    return &ks->parts[at];
}

static void kparts_clear(struct kafka_source *ks)
{
    for (size_t i = 0; i < ks->nparts; i++)
        free(ks->parts[i].topic);
    ks->nparts = 0;
    ks->last_hit = 0;
}

/* ---- callbacks and health ---------------------------------------------------- */

static bool err_is_connectivity(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
           e == RD_KAFKA_RESP_ERR__RESOLVE || e == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
           e == RD_KAFKA_RESP_ERR__SSL || e == RD_KAFKA_RESP_ERR__TIMED_OUT;
}

/* Sorts a connectivity error into the kinds above. */
static enum down_kind classify(rd_kafka_resp_err_t e, const char *reason)
{
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        return DOWN_SUMMARY;
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT || strcasestr(reason, "timed out"))
        return DOWN_SILENT;
    return DOWN_FAILED;
}

/* The "host:port" of librdkafka's "host:port/id: ..." reason prefix, or "". */
static void reason_host(const char *reason, char *out, size_t cap)
{
    out[0] = '\0';
    const char *end = strstr(reason, ": ");
    const char *slash = NULL;
    for (const char *p = reason; end && p < end; p++) {
        if (*p == ' ')
            return; /* prose, not a broker name */
        if (*p == '/')
            slash = p;
    }
    if (slash && slash > reason && (size_t)(slash - reason) < cap) {
        memcpy(out, reason, (size_t)(slash - reason));
        out[slash - reason] = '\0';
    }
}

/*
 * Connection trouble, from an error. A timeout or a summary does not replace
 * a more specific reason already standing ("Connection refused" says more
 * than the timeouts and "1/1 brokers are down" that follow it).
 */
static void note_down(struct kafka_source *ks, const char *reason, enum down_kind kind)
{
    pthread_mutex_lock(&ks->mu);
    if (!ks->down_since_ms)
        ks->down_since_ms = mono_ms();
    bool replace = !ks->down_reason[0] || kind == DOWN_FAILED ||
                   (kind == DOWN_SILENT && ks->down_kind != DOWN_FAILED);
    if (replace) {
        snprintf(ks->down_reason, sizeof ks->down_reason, "%s", reason);
        ks->down_kind = kind;
        reason_host(reason, ks->down_host, sizeof ks->down_host);
    }
    pthread_mutex_unlock(&ks->mu);
}

static void note_up(struct kafka_source *ks)
{
    pthread_mutex_lock(&ks->mu);
    bool was = ks->down_since_ms != 0;
    int64_t secs = was ? (mono_ms() - ks->down_since_ms) / 1000 : 0;
    ks->down_since_ms = 0;
    ks->down_reason[0] = '\0';
    ks->down_kind = DOWN_FAILED;
    ks->down_host[0] = '\0';
    pthread_mutex_unlock(&ks->mu);
    if (was)
        log_msg(LOG_INFO, MOD, "broker %s reachable again after %" PRId64 " s", ks->bootstrap,
                secs);
}

/* True while the statistics show a broker silent for SILENT_MS. Caller holds mu. */
static bool silent_locked(const struct kafka_source *ks)
{
    return ks->silent_since_ms && ks->stats_ms - ks->silent_since_ms >= SILENT_MS;
}

/* Anything that makes blocking requests pointless now (poll thread). */
static bool in_trouble(struct kafka_source *ks)
{
    pthread_mutex_lock(&ks->mu);
    bool t = ks->down_since_ms != 0 || silent_locked(ks);
    pthread_mutex_unlock(&ks->mu);
    return t;
}

/* A broker that refused or dropped a connection is not silent: it said why (poll thread). */
static void forget_silence(struct kafka_source *ks)
{
    for (size_t i = 0; i < ks->nbrokers; i++)
        ks->brokers[i].silent_since_ms = 0;
    pthread_mutex_lock(&ks->mu);
    ks->silent_since_ms = 0;
    ks->silent_host[0] = '\0';
    pthread_mutex_unlock(&ks->mu);
}

/* The broker a librdkafka reason starts with ("host:port/id: ...", "GroupCoordinator: ..."). */
static const struct kbroker *reason_broker(const struct kafka_source *ks, const char *reason)
{
    const char *end = strstr(reason, ": ");
    size_t n = end ? (size_t)(end - reason) : 0;
    for (size_t i = 0; end && i < ks->nbrokers; i++)
        if (strlen(ks->brokers[i].name) == n && memcmp(ks->brokers[i].name, reason, n) == 0)
            return &ks->brokers[i];
    return NULL;
}

/*
 * A connectivity error, from the error callback or a message (poll thread).
 * One from a broker we do not read from (it leads none of our partitions;
 * the group coordinator, which we never use) is only logged: it does not
 * stop the job, and the next statistics would clear it anyway.
 */
static void connectivity_error(struct kafka_source *ks, rd_kafka_resp_err_t e, const char *reason)
{
    const struct kbroker *kb = reason_broker(ks, reason);
    if (kb && !kb->matters) {
        log_msg(LOG_DEBUG, MOD, "broker %s (none of our partitions): %s", kb->host, reason);
        return;
    }
    enum down_kind kind = classify(e, reason);
    pthread_mutex_lock(&ks->mu);
    bool first = ks->down_since_ms == 0;
    pthread_mutex_unlock(&ks->mu);
    note_down(ks, reason, kind);
    if (kind == DOWN_FAILED)
        forget_silence(ks);
    if (first && kind == DOWN_SILENT)
        log_msg(LOG_WARN, MOD, "broker %s not responding (requests sent, no answer): %s",
                ks->bootstrap, reason);
    else if (first)
        log_msg(LOG_WARN, MOD, "broker %s: %s", ks->bootstrap, reason);
}

static void set_warn(struct kafka_source *ks, const char *msg)
{
    pthread_mutex_lock(&ks->mu);
    snprintf(ks->warn, sizeof ks->warn, "%s", msg);
    pthread_mutex_unlock(&ks->mu);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    struct kafka_source *ks = opaque;
    if (err_is_connectivity((rd_kafka_resp_err_t)err))
        connectivity_error(ks, (rd_kafka_resp_err_t)err, reason);
    else
        log_msg(LOG_WARN, MOD, "%s: %s", ks->bootstrap, reason);
}

/* The entry for a broker of the statistics, created if new; NULL past BROKERS_MAX. */
static struct kbroker *kbroker_get(struct kafka_source *ks, const char *name)
{
    char key[sizeof ks->brokers->name];
    snprintf(key, sizeof key, "%s", name);
    for (size_t i = 0; i < ks->nbrokers; i++)
        if (strcmp(ks->brokers[i].name, key) == 0)
            return &ks->brokers[i];
    if (ks->nbrokers == ks->brokers_alloc) {
        size_t na = ks->brokers_alloc ? ks->brokers_alloc * 2 : 8;
        struct kbroker *nb = na <= BROKERS_MAX ? realloc(ks->brokers, na * sizeof *nb) : NULL;
        if (!nb)
            return NULL;
        ks->brokers = nb;
        ks->brokers_alloc = na;
    }
    struct kbroker *kb = &ks->brokers[ks->nbrokers++];
    memset(kb, 0, sizeof *kb);
    memcpy(kb->name, key, sizeof key);
    return kb;
}

static int64_t jint(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/*
 * One broker in one round of statistics (taken at ts). Heard: something
 * arrived since the previous round — more responses or bytes, or, while
 * connected, the time since the last byte (rxidle, µs, moved by every
 * partial read, so a big response arriving slowly counts) is shorter than
 * the time between the rounds. Asked: a request is in flight (waitresp_cnt;
 * also ApiVersion on a fresh connection), or waits on a connected socket the
 * broker does not read (outbuf_cnt while UP). Silence starts at the previous
 * round (nothing was heard since) when something is asked and nothing heard,
 * and ends with the first thing heard; rounds with nothing asked (between
 * reconnects) neither start nor end it.
 */
static void track_broker(struct kbroker *kb, json_t *b, bool up, int64_t ts)
{
    kb->seen = true;
    if (kb->ts_ms && ts <= kb->ts_ms)
        return; /* the same round again */
    int64_t rx = jint(b, "rx", 0), rxbytes = jint(b, "rxbytes", 0);
    int64_t rxidle = jint(b, "rxidle", -1);
    bool heard = kb->ts_ms && (rx > kb->rx || rxbytes > kb->rxbytes ||
                               (rxidle >= 0 && rxidle / 1000 < ts - kb->ts_ms));
    bool asked = jint(b, "waitresp_cnt", 0) > 0 || (up && jint(b, "outbuf_cnt", 0) > 0);
    if (heard)
        kb->silent_since_ms = 0;
    else if (asked && !kb->silent_since_ms)
        kb->silent_since_ms = kb->ts_ms ? kb->ts_ms : ts;
    kb->ts_ms = ts;
    kb->rx = rx;
    kb->rxbytes = rxbytes;
    const char *host = json_string_value(json_object_get(b, "nodename"));
    snprintf(kb->host, sizeof kb->host, "%s", host ? host : kb->name);
}

/*
 * Every round of statistics (1 s, served by rd_kafka_poll in the poll
 * thread): tracks each broker's silence (track_broker), and while a
 * connection warning stands decides whether it is over: some real broker
 * (nodeid >= 0, not a bootstrap entry) is UP, every broker that leads one of
 * our partitions ("toppars") is UP, and none of those is silent. Only the
 * brokers section is parsed: its size follows the broker count, while the
 * "topics" section after it grows with the partitions. librdkafka's "ts" is
 * CLOCK_MONOTONIC in µs, our clock: a round served late still says when it
 * was taken.
 */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    struct kafka_source *ks = opaque;
    const char *ts_at = memmem(json, len, "\"ts\":", 5);
    const char *b_at = memmem(json, len, "\"brokers\":", 10);
    if (!b_at)
        return 0;
    int64_t ts = ts_at ? strtoll(ts_at + 5, NULL, 10) / 1000 : mono_ms();
    b_at += 10;
    json_t *brokers = json_loadb(b_at, len - (size_t)(b_at - json), JSON_DISABLE_EOF_CHECK, NULL);
    if (!json_is_object(brokers)) {
        json_decref(brokers);
        return 0;
    }
    for (size_t i = 0; i < ks->nbrokers; i++)
        ks->brokers[i].seen = false;
    const char *name;
    json_t *b;
    bool any_up = false, leaders_up = true;
    json_object_foreach(brokers, name, b) {
        const char *state = json_string_value(json_object_get(b, "state"));
        bool up = state && strcmp(state, "UP") == 0;
        bool leads = json_object_size(json_object_get(b, "toppars")) > 0;
        if (jint(b, "nodeid", -1) >= 0) {
            any_up = any_up || up;
            if (!up && leads)
                leaders_up = false;
        }
        struct kbroker *kb = kbroker_get(ks, name);
        if (kb) {
            track_broker(kb, b, up, ts);
            /* Silence matters from a broker we read from, or from any while
             * the assignment still waits for metadata. */
            kb->matters = leads || ks->pending;
        }
    }
    json_decref(brokers);
    const struct kbroker *silent = NULL;
    for (size_t i = 0; i < ks->nbrokers;) {
        if (!ks->brokers[i].seen) { /* gone from the cluster */
            ks->brokers[i] = ks->brokers[--ks->nbrokers];
            continue;
        }
        const struct kbroker *kb = &ks->brokers[i++];
        if (kb->matters && kb->silent_since_ms &&
            (!silent || kb->silent_since_ms < silent->silent_since_ms))
            silent = kb;
    }
    pthread_mutex_lock(&ks->mu);
    ks->stats_ms = ts;
    ks->silent_since_ms = silent ? silent->silent_since_ms : 0;
    snprintf(ks->silent_host, sizeof ks->silent_host, "%s", silent ? silent->host : "");
    bool down = ks->down_since_ms != 0;
    pthread_mutex_unlock(&ks->mu);
    if (down && any_up && leaders_up && !silent)
        note_up(ks);
    return 0; /* librdkafka frees json */
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels. librdkafka logs a failed connection at 3 (LOG_ERR); that
     * is a warning for us — health reports it, and the source recovers. */
    log_msg(level <= 2   ? LOG_ERROR
            : level <= 4 ? LOG_WARN
                         : LOG_DEBUG,
            MOD, "rdkafka %s: %s", fac, buf);
}

/* ---- configuration ------------------------------------------------------------ */

static int conf_set(rd_kafka_conf_t *c, const char *name, const char *value, bool secret,
                    struct lerr *err)
{
    char es[256];
    if (rd_kafka_conf_set(c, name, value, es, sizeof es) == RD_KAFKA_CONF_OK)
        return 0;
    if (secret) /* librdkafka's message might quote the value */
        return lerr_set(err, LERR_INVALID, "Kafka: the value given for %s was refused", name);
    return lerr_set(err, LERR_INVALID, "Kafka: %s", es);
}

static rd_kafka_conf_t *make_conf(struct kafka_source *ks, const struct source_kafka_config *cfg,
                                  struct lerr *err)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char num[32];
    int queued_kb = cfg->queued_max_kbytes > 0 ? cfg->queued_max_kbytes : QUEUED_KB_DEFAULT;
    snprintf(num, sizeof num, "%d", queued_kb);
    const char *proto = cfg->sasl_mechanism ? (cfg->ssl ? "SASL_SSL" : "SASL_PLAINTEXT")
                                            : (cfg->ssl ? "SSL" : "PLAINTEXT");
    if (conf_set(c, "bootstrap.servers", cfg->bootstrap_servers, false, err) ||
        conf_set(c, "client.id", "lodestar", false, err) ||
        conf_set(c, "group.id", GROUP_ID, false, err) ||
        conf_set(c, "enable.auto.commit", "false", false, err) ||
        conf_set(c, "enable.auto.offset.store", "false", false, err) ||
        conf_set(c, "auto.offset.reset", "error", false, err) ||
        conf_set(c, "enable.partition.eof", "false", false, err) ||
        conf_set(c, "allow.auto.create.topics", "false", false, err) ||
        conf_set(c, "fetch.min.bytes", "65536", false, err) ||
        conf_set(c, "fetch.wait.max.ms", "50", false, err) ||
        /* Responses of at most 4 MiB (the default allows 50): librdkafka allocates a
         * buffer per response, and buffers that large come fresh from the kernel each
         * time (a page fault per 4 KiB, ten times the faults and a third more CPU
         * than 4 MiB ones in kcat on the benchmark topic, for no more throughput). */
        conf_set(c, "fetch.max.bytes", "4194304", false, err) ||
        conf_set(c, "queued.max.messages.kbytes", num, false, err) ||
        /* Prefetch by bytes, not by the 100,000-message default: at ~430-byte
         * events that count stops fetching while the job is busy with a batch. */
        conf_set(c, "queued.min.messages", "1000000", false, err) ||
        conf_set(c, "statistics.interval.ms", "1000", false, err) ||
        conf_set(c, "reconnect.backoff.max.ms", "1000", false, err) ||
        conf_set(c, "socket.timeout.ms", SOCKET_TIMEOUT_MS, false, err) ||
        conf_set(c, "security.protocol", proto, false, err))
        goto fail;
    if (cfg->sasl_mechanism && (conf_set(c, "sasl.mechanism", cfg->sasl_mechanism, false, err) ||
                                conf_set(c, "sasl.username", cfg->sasl_username, true, err) ||
                                conf_set(c, "sasl.password", cfg->sasl_password, true, err)))
        goto fail;
    for (const char *const *p = cfg->rdkafka_props; p && p[0]; p += 2) {
        if (!p[1]) {
            lerr_set(err, LERR_INVALID, "Kafka: property %s has no value", p[0]);
            goto fail;
        }
        if (conf_set(c, p[0], p[1], strstr(p[0], "password") || strstr(p[0], "secret"), err))
            goto fail;
    }
    rd_kafka_conf_set_opaque(c, ks);
    rd_kafka_conf_set_error_cb(c, on_error);
    rd_kafka_conf_set_stats_cb(c, on_stats);
    rd_kafka_conf_set_log_cb(c, on_log);
    return c;
fail:
    rd_kafka_conf_destroy(c);
    return NULL;
}

static void kafka_close(struct source *s);
static const struct source_ops kafka_ops;

struct source *source_open_kafka(const struct source_kafka_config *cfg, struct lerr *err)
{
    if (!cfg->bootstrap_servers || !*cfg->bootstrap_servers) {
        lerr_set_at(err, LERR_INVALID, "bootstrapServers",
                    "bootstrapServers is empty; give e.g. \"localhost:9092\"");
        return NULL;
    }
    bool has_topic = cfg->topic && *cfg->topic,
         has_pat = cfg->topic_pattern && *cfg->topic_pattern;
    if (has_topic == has_pat) {
        lerr_set_at(err, LERR_INVALID, has_topic ? "topicNamePattern" : "topicName",
                    "give exactly one of topicName and topicNamePattern");
        return NULL;
    }
    if (has_topic && strlen(cfg->topic) > 249) {
        lerr_set_at(err, LERR_INVALID, "topicName", "topicName is longer than Kafka's 249 bytes");
        return NULL;
    }
    if (cfg->sasl_mechanism) {
        static const char *const mechs[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
        bool ok = false;
        for (size_t i = 0; i < LS_ARRAY_LEN(mechs); i++)
            ok = ok || strcmp(cfg->sasl_mechanism, mechs[i]) == 0;
        if (!ok) {
            lerr_set_at(err, LERR_INVALID, "secrets.mechanism",
                        "SASL mechanism '%s' is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
                        cfg->sasl_mechanism);
            return NULL;
        }
        if (!cfg->sasl_username || !cfg->sasl_password) {
            lerr_set_at(err, LERR_INVALID, "secrets",
                        "SASL needs a username and a password in the connection's secrets");
            return NULL;
        }
    }
    struct kafka_source *ks = calloc(1, sizeof *ks);
    if (!ks) {
        lerr_set(err, LERR_NOMEM, "Kafka: out of memory");
        return NULL;
    }
    ks->base.ops = &kafka_ops;
    pthread_mutex_init(&ks->mu, NULL);
    source_offsets_init(&ks->start);
    source_offsets_init(&ks->only);
    source_offsets_init(&ks->seen);
    lerr_init(&ks->fatal);
    ks->refresh_ms = cfg->metadata_refresh_ms > 0 ? cfg->metadata_refresh_ms : REFRESH_MS_DEFAULT;
    ks->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : TIMEOUT_MS_DEFAULT;
    ks->headers = cfg->headers;
    ks->bootstrap = strdup(cfg->bootstrap_servers);
    if (has_topic)
        ks->topic = strdup(cfg->topic);
    else
        ks->pattern = strdup(cfg->topic_pattern);
    if (!ks->bootstrap || (has_topic ? !ks->topic : !ks->pattern)) {
        lerr_set(err, LERR_NOMEM, "Kafka: out of memory");
        goto fail;
    }
    if (has_pat) {
        /* Whole-name match, as Java's Pattern.matcher(topic).matches(). */
        size_t n = strlen(cfg->topic_pattern) + 8;
        char *anchored = malloc(n);
        if (!anchored) {
            lerr_set(err, LERR_NOMEM, "Kafka: out of memory");
            goto fail;
        }
        snprintf(anchored, n, "^(%s)$", cfg->topic_pattern);
        int rc = regcomp(&ks->re, anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc) {
            char m[160];
            regerror(rc, &ks->re, m, sizeof m);
            lerr_set_at(err, LERR_INVALID, "topicNamePattern",
                        "topicNamePattern '%s' is not a valid extended regular expression: %s",
                        cfg->topic_pattern, m);
            goto fail;
        }
        ks->has_re = true;
    }
    rd_kafka_conf_t *conf = make_conf(ks, cfg, err);
    if (!conf)
        goto fail;
    char es[512];
    ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, es, sizeof es);
    if (!ks->rk) {
        rd_kafka_conf_destroy(conf);
        lerr_set(err, LERR_INTERNAL, "Kafka: cannot create the consumer: %s", es);
        goto fail;
    }
    ks->q = rd_kafka_queue_get_consumer(ks->rk);
    if (!ks->q) {
        lerr_set(err, LERR_INTERNAL, "Kafka: the consumer has no queue");
        goto fail;
    }
    return &ks->base;
fail:
    kafka_close(&ks->base);
    return NULL;
}

/* ---- metadata, assignment ------------------------------------------------------ */

static bool topic_wanted(const struct kafka_source *ks, const char *name)
{
    if (ks->topic)
        return strcmp(name, ks->topic) == 0;
    if (strncmp(name, "__", 2) == 0)
        return false; /* internal topics (__consumer_offsets, ...) */
    return regexec(&ks->re, name, 0, NULL, 0) == 0;
}

/*
 * Resolves symbolic start offsets in `l` to numbers (ListOffsets with the
 * special timestamps -2/-1). Entries it cannot resolve keep their symbolic
 * value; librdkafka resolves those itself when fetching starts.
 */
static void resolve_symbolic(struct kafka_source *ks, rd_kafka_topic_partition_list_t *l,
                             int timeout_ms)
{
    rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(l->cnt);
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(q, l->elems[i].topic, l->elems[i].partition)
                ->offset = l->elems[i].offset; /* -2 earliest, -1 latest: ListOffsets timestamps */
    if (q->cnt > 0 &&
        rd_kafka_offsets_for_times(ks->rk, q, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < q->cnt; i++) {
            if (q->elems[i].err || q->elems[i].offset < 0)
                continue;
            rd_kafka_topic_partition_t *t =
                rd_kafka_topic_partition_list_find(l, q->elems[i].topic, q->elems[i].partition);
            if (t)
                t->offset = q->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(q);
}

/*
 * The end of every partition of the stream now: a throwaway consumer asks
 * for the metadata, then one ListOffsets (latest) for all partitions, within
 * one deadline. Nothing is assigned or fetched.
 */
int source_kafka_end_offsets(const struct source_kafka_config *cfg, int timeout_ms,
                             struct source_offsets *out, struct lerr *err)
{
    int64_t deadline = mono_ms() + timeout_ms;
    struct kafka_source *ks = (struct kafka_source *)source_open_kafka(cfg, err);
    if (!ks)
        return err->code;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = ks->topic ? rd_kafka_topic_new(ks->rk, ks->topic, NULL) : NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(ks->rk, rkt ? 0 : 1, rkt, &md, timeout_ms);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    int rc = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    if (e)
        rc = lerr_set(err, LERR_UNAVAILABLE, "Kafka %s: no metadata within %d ms: %s",
                      ks->bootstrap, timeout_ms, rd_kafka_err2str(e));
    for (int t = 0; !rc && t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (!topic_wanted(ks, mt->topic))
            continue;
        if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && ks->topic)
            rc = lerr_set_at(err, LERR_NOT_FOUND, "topicName",
                             "Kafka topic '%s' does not exist on %s; create it or fix topicName",
                             mt->topic, ks->bootstrap);
        else if (mt->err)
            rc = lerr_set(err, LERR_UNAVAILABLE, "Kafka %s: topic '%s': %s", ks->bootstrap,
                          mt->topic, rd_kafka_err2str(mt->err));
        for (int p = 0; !rc && p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(l, mt->topic, mt->partitions[p].id)->offset =
                RD_KAFKA_OFFSET_END;
    }
    int64_t left = deadline - mono_ms();
    if (!rc && l->cnt > 0) {
        e = left > 0 ? rd_kafka_offsets_for_times(ks->rk, l, (int)left)
                     : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (e)
            rc = lerr_set(err, LERR_UNAVAILABLE, "Kafka %s: no end offsets within %d ms: %s",
                          ks->bootstrap, timeout_ms, rd_kafka_err2str(e));
    }
    for (int i = 0; !rc && i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[i];
        if (tp->err || tp->offset < 0)
            rc = lerr_set(err, LERR_UNAVAILABLE, "Kafka %s: the end of %s partition %d: %s",
                          ks->bootstrap, tp->topic, (int)tp->partition,
                          rd_kafka_err2str(tp->err ? tp->err : RD_KAFKA_RESP_ERR__TIMED_OUT));
        else
            rc = source_offsets_set(out, tp->topic, tp->partition, tp->offset, err);
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (md)
        rd_kafka_metadata_destroy(md);
    kafka_close(&ks->base);
    return rc;
}

/*
 * Fetches metadata and assigns what is new. initial: carry out a pending
 * source_assign() (start offsets from ks->start / default); else partitions
 * not yet in the table start at earliest. Returns 0, LERR_NOT_FOUND (the
 * named topic does not exist), or LERR_UNAVAILABLE (no metadata: the broker
 * is unreachable; not fatal).
 */
static int refresh(struct kafka_source *ks, bool initial, int timeout_ms, struct lerr *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = ks->topic ? rd_kafka_topic_new(ks->rk, ks->topic, NULL) : NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(ks->rk, rkt ? 0 : 1, rkt, &md, timeout_ms);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (e) {
        /* For an assignment waiting on it: whatever the cause, nothing can be
         * read until metadata comes. A periodic refresh that timed out (it
         * waits at most the caller's poll timeout) proves nothing: whether a
         * broker answers is the statistics' call (on_stats). */
        if (initial || e != RD_KAFKA_RESP_ERR__TIMED_OUT) {
            char why[200];
            snprintf(why, sizeof why, "no metadata: %s", rd_kafka_err2str(e));
            /* "Broker transport failure" here means no broker is usable yet:
             * a summary; the connection errors say why. */
            note_down(ks, why,
                      e == RD_KAFKA_RESP_ERR__TRANSPORT ? DOWN_SUMMARY : classify(e, why));
        }
        return lerr_set(err, LERR_UNAVAILABLE, "Kafka %s: cannot fetch metadata: %s",
                        ks->bootstrap, rd_kafka_err2str(e));
    }
    note_up(ks);
    int rc = 0;
    rd_kafka_topic_partition_list_t *add = rd_kafka_topic_partition_list_new(16);
    int ntopics = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (!topic_wanted(ks, mt->topic))
            continue;
        if (mt->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            if (ks->topic) {
                rc = lerr_set_at(err, LERR_NOT_FOUND, "topicName",
                                 "Kafka topic '%s' does not exist on %s; create it or fix "
                                 "topicName",
                                 mt->topic, ks->bootstrap);
                goto done;
            }
            continue;
        }
        if (mt->err) {
            log_msg(LOG_WARN, MOD, "topic '%s': %s", mt->topic, rd_kafka_err2str(mt->err));
            continue;
        }
        ntopics++;
        for (int p = 0; p < mt->partition_cnt; p++) {
            int32_t pid = mt->partitions[p].id;
            pthread_mutex_lock(&ks->mu);
            bool known = kpart_find(ks, mt->topic, pid, NULL) < ks->nparts;
            if (source_offsets_get(&ks->seen, mt->topic, pid) == SOURCE_OFFSET_NONE)
                source_offsets_set(&ks->seen, mt->topic, pid, 0, &(struct lerr){0});
            pthread_mutex_unlock(&ks->mu);
            if (known || (ks->has_only &&
                          source_offsets_get(&ks->only, mt->topic, pid) == SOURCE_OFFSET_NONE))
                continue; /* another node's partition (source_only) */
            int64_t start = RD_KAFKA_OFFSET_BEGINNING;
            if (initial) {
                int64_t v = source_offsets_get(&ks->start, mt->topic, pid);
                start = v >= 0 ? v : ks->default_start;
            }
            rd_kafka_topic_partition_list_add(add, mt->topic, pid)->offset = start;
        }
    }
    if (ks->topic && ntopics == 0) {
        rc = lerr_set_at(err, LERR_NOT_FOUND, "topicName",
                         "Kafka topic '%s' does not exist on %s; create it or fix topicName",
                         ks->topic, ks->bootstrap);
        goto done;
    }
    if (initial) {
        for (size_t i = 0; i < ks->start.n; i++) {
            const struct source_offset *o = &ks->start.items[i];
            if (!rd_kafka_topic_partition_list_find(add, o->topic, o->partition) &&
                (!ks->has_only ||
                 source_offsets_get(&ks->only, o->topic, o->partition) != SOURCE_OFFSET_NONE))
                log_msg(LOG_WARN, MOD,
                        "checkpoint names '%s' partition %" PRId32 " (next offset %" PRId64
                        "), which does not exist now; ignored",
                        o->topic, o->partition, o->next);
        }
        char w[320] = "";
        if (ks->pattern && ntopics == 0)
            snprintf(w, sizeof w, "no topic on %s matches topicNamePattern '%s' yet",
                     ks->bootstrap, ks->pattern);
        set_warn(ks, w);
    } else if (ks->pattern && ntopics > 0) {
        set_warn(ks, "");
    }
    if (add->cnt == 0)
        goto done;
    resolve_symbolic(ks, add, timeout_ms);
    /* A partition is assigned only once its start is a number, so that its position can
     * be checkpointed before anything of it is read: a restart must never resolve
     * "latest" again and skip what arrived meanwhile. The first assignment waits for all
     * of them (pending, retried); a later one takes the resolved and retries the rest at
     * the next metadata refresh (they are not in the table yet, so they count as new). */
    int unresolved = 0;
    for (int i = add->cnt - 1; i >= 0; i--) {
        if (add->elems[i].offset >= 0)
            continue;
        if (unresolved++ == 0)
            log_msg(LOG_WARN, MOD,
                    "'%s' %" PRId32 ": cannot look up its %s offset yet; will retry",
                    add->elems[i].topic, add->elems[i].partition,
                    add->elems[i].offset == RD_KAFKA_OFFSET_END ? "latest" : "earliest");
        if (!initial)
            rd_kafka_topic_partition_list_del_by_idx(add, i);
    }
    if (initial && unresolved) {
        char why[200];
        snprintf(why, sizeof why,
                 "%s: cannot look up the start offsets of %d partition(s) yet; nothing is read "
                 "until they are known",
                 ks->bootstrap, unresolved);
        set_warn(ks, why);
        rc = lerr_set(err, LERR_UNAVAILABLE, "Kafka %s: %s", ks->bootstrap, why);
        goto done;
    }
    if (add->cnt == 0)
        goto done;
    pthread_mutex_lock(&ks->mu);
    for (int i = 0; i < add->cnt; i++) {
        if (!kpart_add(ks, add->elems[i].topic, add->elems[i].partition, add->elems[i].offset)) {
            pthread_mutex_unlock(&ks->mu);
            rc = lerr_set(err, LERR_NOMEM, "Kafka: out of memory");
            goto done;
        }
    }
    pthread_mutex_unlock(&ks->mu);
    rd_kafka_error_t *ae = NULL;
    rd_kafka_resp_err_t ae2 = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (initial)
        ae2 = rd_kafka_assign(ks->rk, add);
    else
        ae = rd_kafka_incremental_assign(ks->rk, add);
    if (ae || ae2) {
        rc = lerr_set(err, LERR_INTERNAL, "Kafka: cannot assign partitions: %s",
                      ae ? rd_kafka_error_string(ae) : rd_kafka_err2str(ae2));
        if (ae)
            rd_kafka_error_destroy(ae);
        goto done;
    }
    /* The caller checkpoints the new partitions' starts before reading them. */
    ks->partitions_changed = true;
    if (!initial) {
        for (int i = 0; i < add->cnt; i++)
            log_msg(LOG_INFO, MOD, "new partition '%s' %" PRId32 ", reading from offset %" PRId64,
                    add->elems[i].topic, add->elems[i].partition, add->elems[i].offset);
    }
done:
    rd_kafka_topic_partition_list_destroy(add);
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* Forgets what the last poll reported (gaps, new partitions). */
static void clear_report(struct kafka_source *ks)
{
    ks->ngaps = 0;
    ks->partitions_changed = false;
}

static int kafka_assign(struct source *s, const struct source_offsets *start,
                        int64_t default_start, struct lerr *err)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    clear_report(ks);
    if (ks->assigned)
        rd_kafka_assign(ks->rk, NULL); /* a re-assignment (reset) starts from scratch */
    pthread_mutex_lock(&ks->mu);
    kparts_clear(ks);
    pthread_mutex_unlock(&ks->mu);
    source_offsets_clear(&ks->start);
    if (start && source_offsets_copy(&ks->start, start, err))
        return err->code;
    ks->default_start = default_start;
    ks->assigned = true;
    ks->pending = true;
    ks->any_reset = false;
    lerr_init(&ks->fatal);
    struct lerr e2;
    lerr_init(&e2);
    int rc = refresh(ks, true, ks->timeout_ms, &e2);
    int64_t now = mono_ms();
    if (rc == LERR_UNAVAILABLE) {
        /* Not fatal: poll keeps trying, and health says why nothing arrives. */
        log_msg(LOG_WARN, MOD, "%s; will retry", e2.msg);
        ks->next_meta_ms = now + PROBE_MS;
        return 0;
    }
    if (rc)
        return lerr_set_at(err, e2.code, e2.target, "%s", e2.msg);
    ks->pending = false;
    ks->next_meta_ms = now + ks->refresh_ms;
    return 0;
}

/* ---- out of range ---------------------------------------------------------------- */

static void add_gap(struct kafka_source *ks, const char *topic, int32_t partition, int64_t from,
                    int64_t to, const char *reason)
{
    if (ks->ngaps == ks->gaps_alloc) {
        struct source_gap *ng = vec_grow(ks->gaps, &ks->gaps_alloc, ks->ngaps + 1, sizeof *ng, 4);
        if (!ng)
            return; /* the warning below still goes to the log */
        ks->gaps = ng;
    }
    struct source_gap *g = &ks->gaps[ks->ngaps++];
    *g = (struct source_gap){.topic = topic, .partition = partition, .from = from, .to = to};
    snprintf(g->reason, sizeof g->reason, "%s", reason);
}

/*
 * One partition's earliest (RD_KAFKA_OFFSET_BEGINNING) or latest
 * (RD_KAFKA_OFFSET_END) offset from its leader. rd_kafka_offsets_for_times
 * with those ListOffsets timestamps, not rd_kafka_query_watermark_offsets:
 * only the former gives up at its timeout (the latter can wait up to
 * socket.timeout.ms for a broker that just went away).
 */
static rd_kafka_resp_err_t list_offset(struct kafka_source *ks, const char *topic,
                                       int32_t partition, int64_t which, int timeout_ms,
                                       int64_t *out)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = which;
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(ks->rk, l, timeout_ms);
    if (!e)
        e = l->elems[0].err;
    if (!e && l->elems[0].offset < 0)
        e = RD_KAFKA_RESP_ERR__NO_OFFSET;
    if (!e)
        *out = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return e;
}

/* Moves out-of-range partitions to their low watermark (blocking queries). */
static void handle_resets(struct kafka_source *ks, int timeout_ms)
{
    bool left = false;
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *kp = &ks->parts[i];
        if (!kp->reset)
            continue;
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e =
            list_offset(ks, kp->topic, kp->partition, RD_KAFKA_OFFSET_BEGINNING, timeout_ms, &lo);
        if (!e)
            e = list_offset(ks, kp->topic, kp->partition, RD_KAFKA_OFFSET_END, timeout_ms, &hi);
        if (e) {
            left = true;
            log_msg(LOG_WARN, MOD, "'%s' %" PRId32 ": cannot look up the earliest offset: %s",
                    kp->topic, kp->partition, rd_kafka_err2str(e));
            continue;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, kp->topic, kp->partition)->offset = lo;
        /* After the error librdkafka has stopped fetching the partition, which
         * a seek cannot restart; take it out of the assignment and put it
         * back at the new offset. */
        rd_kafka_error_t *ue = rd_kafka_incremental_unassign(ks->rk, l);
        rd_kafka_error_t *ae = ue ? NULL : rd_kafka_incremental_assign(ks->rk, l);
        if (ue || ae) {
            log_msg(LOG_ERROR, MOD, "'%s' %" PRId32 ": cannot move to offset %" PRId64 ": %s",
                    kp->topic, kp->partition, lo, rd_kafka_error_string(ue ? ue : ae));
            rd_kafka_error_destroy(ue ? ue : ae);
            rd_kafka_topic_partition_list_destroy(l);
            left = true;
            continue;
        }
        rd_kafka_topic_partition_list_destroy(l);
        char reason[200];
        if (kp->reset_from > hi)
            snprintf(reason, sizeof reason,
                     "offset %" PRId64 " is past the end of the partition (high watermark %" PRId64
                     "): the topic was re-created or truncated",
                     kp->reset_from, hi);
        else
            snprintf(reason, sizeof reason,
                     "offsets %" PRId64 " to %" PRId64 " were deleted by retention before they "
                     "were read",
                     kp->reset_from, lo - 1);
        log_msg(LOG_WARN, MOD, "'%s' partition %" PRId32 ": %s; reading on from offset %" PRId64,
                kp->topic, kp->partition, reason, lo);
        add_gap(ks, kp->topic, kp->partition, kp->reset_from, lo, reason);
        pthread_mutex_lock(&ks->mu);
        kp->next = lo;
        kp->hi = hi;
        kp->reset = false;
        pthread_mutex_unlock(&ks->mu);
    }
    ks->any_reset = left;
    ks->next_reset_ms = mono_ms() + PROBE_MS;
}

/* ---- polling ----------------------------------------------------------------------- */

static struct kpart *lookup(struct kafka_source *ks, const char *topic, int32_t partition)
{
    if (ks->last_hit < ks->nparts && ks->parts[ks->last_hit].partition == partition &&
        strcmp(ks->parts[ks->last_hit].topic, topic) == 0)
        return &ks->parts[ks->last_hit];
    size_t i = kpart_find(ks, topic, partition, NULL);
    if (i == ks->nparts)
        return NULL;
    ks->last_hit = i;
    return &ks->parts[i];
}

/* An error delivered as a message. */
static void message_error(struct kafka_source *ks, rd_kafka_message_t *m)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    switch (m->err) {
    case RD_KAFKA_RESP_ERR__PARTITION_EOF: return;
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE: {
        struct kpart *kp = lookup(ks, topic, m->partition);
        if (kp && !kp->reset) {
            pthread_mutex_lock(&ks->mu);
            kp->reset = true;
            kp->reset_from = kp->next >= 0 ? kp->next : m->offset;
            pthread_mutex_unlock(&ks->mu);
            ks->any_reset = true;
            ks->next_reset_ms = 0;
        }
        return;
    }
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        if (ks->topic)
            lerr_set_at(&ks->fatal, LERR_NOT_FOUND, "topicName",
                        "Kafka topic '%s' partition %" PRId32 " is gone from %s: %s", topic,
                        m->partition, ks->bootstrap, rd_kafka_message_errstr(m));
        else
            log_msg(LOG_WARN, MOD, "topic '%s' partition %" PRId32 ": %s", topic, m->partition,
                    rd_kafka_message_errstr(m));
        return;
    default:
        if (err_is_connectivity(m->err))
            connectivity_error(ks, m->err, rd_kafka_message_errstr(m));
        else
            log_msg(LOG_WARN, MOD, "'%s' %" PRId32 ": %s", topic, m->partition,
                    rd_kafka_message_errstr(m));
    }
}

/* Copies one message's headers into mem and points rec at them; false when mem is full. */
static bool take_headers(rd_kafka_message_t *m, struct arena *mem, struct record *rec)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h)
        return true;
    size_t n = rd_kafka_header_cnt(h);
    if (n == 0)
        return true;
    struct record_header *hd = arena_alloc(mem, n * sizeof *hd);
    if (!hd)
        return false;
    size_t got = 0;
    for (; got < n; got++) {
        const char *name;
        const void *val;
        size_t vlen;
        if (rd_kafka_header_get_all(h, got, &name, &val, &vlen))
            break;
        size_t nlen = strlen(name);
        hd[got] = (struct record_header){.name = source__copy(mem, name, nlen),
                                         .name_len = nlen,
                                         .value = val ? source__copy(mem, val, vlen) : NULL,
                                         .value_len = val ? vlen : 0};
        if (!hd[got].name || (val && !hd[got].value))
            return false;
    }
    rec->headers = got ? hd : NULL;
    rec->nheaders = got;
    return true;
}

/* Watermarks from librdkafka's cache; a blocking query for unknown ones. */
static void refresh_watermarks(struct kafka_source *ks, bool allow_query)
{
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *kp = &ks->parts[i];
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(ks->rk, kp->topic, kp->partition, &lo, &hi) || hi < 0) {
            if (!allow_query)
                continue;
            if (list_offset(ks, kp->topic, kp->partition, RD_KAFKA_OFFSET_END, 200, &hi))
                continue;
            allow_query = false; /* one blocking query per round is enough */
        }
        pthread_mutex_lock(&ks->mu);
        kp->hi = hi;
        pthread_mutex_unlock(&ks->mu);
    }
}

/*
 * librdkafka (2.0) stops fetching while its queue holds
 * queued.max.messages.kbytes and decides to fetch again only when its broker
 * thread next wakes up for another reason: up to a second later. A job that
 * is behind drains that queue in a fraction of a second, so it waited most of
 * the time (the Kafka benchmark spent 4 of its 6 s in the poll). Any request
 * to a broker wakes its thread, which then fetches what its partitions need:
 * when a poll found the queue drained while the partitions are more than a
 * batch behind, a query for the end offset (the cheapest request, and its
 * answer is useful) goes to the leader of the partition furthest behind. A
 * job that keeps up sends nothing; after a failure the next try waits
 * PROBE_MS.
 */
static void wake_fetching(struct kafka_source *ks, size_t batch)
{
    ks->next_wake_ms = mono_ms() + WAKE_MS;
    struct kpart *behind = NULL;
    int64_t lag = 0, total = 0;
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *kp = &ks->parts[i];
        if (kp->reset || kp->next < 0 || kp->hi <= kp->next)
            continue;
        total += kp->hi - kp->next;
        if (kp->hi - kp->next > lag) {
            lag = kp->hi - kp->next;
            behind = kp;
        }
    }
    if (total <= (int64_t)batch)
        return;
    int64_t hi;
    if (list_offset(ks, behind->topic, behind->partition, RD_KAFKA_OFFSET_END, WAKE_TIMEOUT_MS,
                    &hi) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_lock(&ks->mu);
        behind->hi = hi;
        pthread_mutex_unlock(&ks->mu);
    } else {
        ks->next_wake_ms = mono_ms() + PROBE_MS;
    }
}

static int kafka_poll(struct source *s, struct arena *mem, size_t max_records, int timeout_ms,
                      struct source_batch *out, struct lerr *err)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    clear_report(ks);
    if (!ks->assigned)
        return lerr_set(err, LERR_INTERNAL, "Kafka source: poll before assign");
    if (ks->fatal.code) {
        lerr_set_at(err, ks->fatal.code, ks->fatal.target, "%s", ks->fatal.msg);
        return err->code;
    }
    if (max_records > BATCH_MAX)
        max_records = BATCH_MAX;
    if (max_records > ks->batch_alloc) {
        rd_kafka_message_t **nm = realloc(ks->msgs, max_records * sizeof *nm);
        if (!nm)
            return lerr_set(err, LERR_NOMEM, "Kafka: out of memory for a batch of %zu",
                            max_records);
        ks->msgs = nm;
        ks->batch_alloc = max_records;
    }
    int64_t t0 = mono_ms();
    rd_kafka_poll(ks->rk, 0); /* error and statistics callbacks */

    bool down = in_trouble(ks);
    if (ks->pending || t0 >= ks->next_meta_ms) {
        /* Bounded by the caller's patience; skipped while unreachable or
         * silent unless the assignment itself is still waiting for it. */
        if (ks->pending || !down) {
            int tmo = timeout_ms < ks->timeout_ms ? timeout_ms : ks->timeout_ms;
            if (tmo < 100)
                tmo = 100;
            struct lerr e2;
            lerr_init(&e2);
            int rc = refresh(ks, ks->pending, tmo, &e2);
            if (rc == 0)
                ks->pending = false;
            else if (rc != LERR_UNAVAILABLE) {
                lerr_set_at(err, e2.code, e2.target, "%s", e2.msg);
                return err->code;
            }
        }
        ks->next_meta_ms = mono_ms() + (ks->pending ? PROBE_MS : ks->refresh_ms);
    }
    if (ks->pending) {
        /* Nothing to read until the assignment is carried out: still honour
         * the caller's timeout (serving callbacks meanwhile), so a runner
         * polling in a loop does not spin while the broker is away. */
        int remain = timeout_ms - (int)(mono_ms() - t0);
        if (remain > 0)
            rd_kafka_poll(ks->rk, remain);
        return 0;
    }
    if (ks->any_reset && mono_ms() >= ks->next_reset_ms) {
        /* Blocking lookups: bounded by the caller's patience, not only ours. */
        int tmo = timeout_ms < ks->timeout_ms ? timeout_ms : ks->timeout_ms;
        handle_resets(ks, tmo < 200 ? 200 : tmo);
    }
    if (t0 >= ks->next_wm_ms) {
        refresh_watermarks(ks, !down);
        ks->next_wm_ms = t0 + WATERMARK_QUERY_MS;
    }

    int remain = timeout_ms - (int)(mono_ms() - t0);
    if (remain < 0 || ks->ngaps > 0)
        remain = 0; /* a gap to report goes out now */
    size_t n = 0;
    rd_kafka_message_t *first = rd_kafka_consumer_poll(ks->rk, remain);
    if (first) {
        ks->msgs[0] = first;
        n = 1;
        if (max_records > 1) {
            ssize_t more = rd_kafka_consume_batch_queue(ks->q, 0, ks->msgs + 1, max_records - 1);
            if (more > 0)
                n += (size_t)more;
        }
    }

    /* Copy the records into the caller's arena and destroy the messages at once; turn
     * error messages into state. The partition table is only changed by this thread,
     * so reading it needs no lock; writing `next` does (source_partitions reads it):
     * the lock is held over the batch rather than taken per record, and let go around
     * errors. */
    struct record *recs = n ? arena_alloc(mem, n * sizeof *recs) : NULL;
    if (n && !recs) {
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(ks->msgs[i]);
        return lerr_set(err, LERR_NOMEM, "Kafka: out of memory for a batch of %zu records", n);
    }
    size_t nrec = 0, bytes = 0;
    const struct kpart *topic_of = NULL; /* records of a partition share one topic copy */
    const char *topic = NULL;
    size_t topic_len = 0;
    bool full = false;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = ks->msgs[i];
        if (full) {
            rd_kafka_message_destroy(m);
            continue;
        }
        /* librdkafka's broker thread wrote the messages, so each is a cache miss here
         * (and the copy of its value another): fetch them a few messages ahead, the
         * message struct first. */
        if (i + 8 < n)
            __builtin_prefetch(ks->msgs[i + 8]);
        if (i + 4 < n && ks->msgs[i + 4]->payload) {
            const char *v = ks->msgs[i + 4]->payload;
            __builtin_prefetch(v);
            __builtin_prefetch(v + ks->msgs[i + 4]->len);
        }
        if (m->err) {
            pthread_mutex_unlock(&ks->mu);
            message_error(ks, m);
            rd_kafka_message_destroy(m);
            pthread_mutex_lock(&ks->mu);
            continue;
        }
        struct kpart *kp = lookup(ks, rd_kafka_topic_name(m->rkt), m->partition);
        if (!kp || kp->reset || (kp->next >= 0 && m->offset < kp->next)) {
            /* Not ours (any more), or already returned (stale after a re-seek). */
            rd_kafka_message_destroy(m);
            continue;
        }
        if (kp != topic_of) {
            topic_of = kp;
            topic_len = strlen(kp->topic);
            topic = source__copy(mem, kp->topic, topic_len);
        }
        rd_kafka_timestamp_type_t tst;
        int64_t ts = rd_kafka_message_timestamp(m, &tst);
        if (tst == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
            ts = -1;
        struct record *r = &recs[nrec];
        *r = (struct record){
            .data = source__copy(mem, m->payload, m->payload ? m->len : 0),
            .len = m->payload ? m->len : 0,
            .partition = m->partition,
            .offset = m->offset,
            .key = m->key ? source__copy(mem, m->key, m->key_len) : NULL,
            .key_len = m->key ? m->key_len : 0,
            .has_timestamp = ts >= 0,
            .timestamp_ms = ts,
            .topic = topic,
            .topic_len = topic_len,
        };
        /* Headers only when the job's format reads them: asking librdkafka for them
         * parses them, a cache miss per message even when there are none. */
        if (!topic || !r->data || (m->key && !r->key) ||
            (ks->headers && !take_headers(m, mem, r))) {
            full = true; /* the rest of the batch is dropped; the poll fails */
            rd_kafka_message_destroy(m);
            continue;
        }
        rd_kafka_message_destroy(m);
        kp->next = r->offset + 1;
        bytes += r->len + r->key_len;
        nrec++;
    }
    pthread_mutex_unlock(&ks->mu);
    if (full)
        return lerr_set(err, LERR_NOMEM,
                        "Kafka: out of memory copying a batch of %zu records (the batch's "
                        "memory cap was reached)",
                        n);
    if (nrec > 0)
        note_up(ks); /* records flow: whatever failed is back */
    if (n < max_records && !down && mono_ms() >= ks->next_wake_ms)
        wake_fetching(ks, max_records);
    if (source__gaps_copy(mem, ks->gaps, ks->ngaps, out, err))
        return err->code;
    out->records = recs;
    out->n = nrec;
    out->bytes = bytes;
    out->partitions_changed = ks->partitions_changed;
    return 0;
}

static int kafka_position(struct source *s, struct source_offsets *out, struct lerr *err)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    int rc = 0;
    pthread_mutex_lock(&ks->mu);
    for (size_t i = 0; i < ks->nparts && !rc; i++) {
        const struct kpart *kp = &ks->parts[i];
        /* An out-of-range partition keeps its old position until it is moved
         * and the gap reported. */
        rc = source_offsets_set(out, kp->topic, kp->partition,
                                kp->reset ? kp->reset_from : kp->next, err);
    }
    pthread_mutex_unlock(&ks->mu);
    return rc;
}

static int kafka_partitions(struct source *s, struct source_partition **out, size_t *n,
                            struct lerr *err)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    pthread_mutex_lock(&ks->mu);
    size_t cnt = ks->nparts;
    struct source_partition *p = calloc(cnt ? cnt : 1, sizeof *p);
    if (!p) {
        pthread_mutex_unlock(&ks->mu);
        return lerr_set(err, LERR_NOMEM, "Kafka: out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        const struct kpart *kp = &ks->parts[i];
        snprintf(p[i].topic, sizeof p[i].topic, "%s", kp->topic);
        p[i].partition = kp->partition;
        p[i].next_offset = kp->reset ? kp->reset_from : kp->next;
        p[i].end_offset = kp->hi;
    }
    pthread_mutex_unlock(&ks->mu);
    for (size_t i = 0; i < cnt; i++) {
        /* librdkafka's cache is fresher than ours (every fetch response). */
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(ks->rk, p[i].topic, p[i].partition, &lo, &hi) == 0 &&
            hi >= 0)
            p[i].end_offset = hi;
        p[i].lag =
            p[i].end_offset < 0 || p[i].next_offset < 0
                ? -1
                : (p[i].end_offset > p[i].next_offset ? p[i].end_offset - p[i].next_offset : 0);
    }
    *out = p;
    *n = cnt;
    return 0;
}

static int kafka_health(struct source *s, char *msg, size_t cap)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    int h = SOURCE_HEALTH_OK;
    pthread_mutex_lock(&ks->mu);
    int64_t now = mono_ms();
    bool silent = silent_locked(ks);
    bool timed_out = ks->down_since_ms && ks->down_kind == DOWN_SILENT;
    if (silent || timed_out) {
        /* Silent since the earliest sign of it, whichever told first. */
        int64_t since = timed_out ? ks->down_since_ms : ks->silent_since_ms;
        if (ks->silent_since_ms && ks->silent_since_ms < since)
            since = ks->silent_since_ms;
        const char *host = ks->silent_since_ms ? ks->silent_host
                           : ks->down_host[0]  ? ks->down_host
                                               : ks->bootstrap;
        bool connecting = !silent && strcasestr(ks->down_reason, "connection setup timed out");
        snprintf(msg, cap, "broker %s not responding for %" PRId64 " s (%s)", host,
                 (now - since) / 1000,
                 connecting ? "connection attempts time out" : "requests sent, no answer");
        h = SOURCE_HEALTH_WARN;
    } else if (ks->down_since_ms) {
        snprintf(msg, cap, "broker %s unreachable for %" PRId64 " s: %s", ks->bootstrap,
                 (now - ks->down_since_ms) / 1000, ks->down_reason);
        h = SOURCE_HEALTH_WARN;
    } else if (ks->warn[0]) {
        snprintf(msg, cap, "%s", ks->warn);
        h = SOURCE_HEALTH_WARN;
    }
    pthread_mutex_unlock(&ks->mu);
    return h;
}

static bool kafka_ready(struct source *s)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    return ks->assigned && !ks->pending;
}

static int kafka_only(struct source *s, const struct source_offsets *only, struct lerr *err)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    ks->has_only = only != NULL;
    source_offsets_clear(&ks->only);
    return only ? source_offsets_copy(&ks->only, only, err) : 0;
}

static int kafka_end_offset(struct source *s, const char *topic, int32_t partition, int timeout_ms,
                            int64_t *out, struct lerr *err)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(ks->rk, topic, partition, &lo, &hi, timeout_ms);
    if (e)
        return lerr_set(err, LERR_UNAVAILABLE, "Kafka: the end of %s partition %d: %s", topic,
                        (int)partition, rd_kafka_err2str(e));
    *out = hi;
    return 0;
}

static int kafka_stream_partitions(struct source *s, struct source_offsets *out, struct lerr *err)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    pthread_mutex_lock(&ks->mu);
    int rc = source_offsets_copy(out, &ks->seen, err);
    pthread_mutex_unlock(&ks->mu);
    return rc;
}

static void kafka_close(struct source *s)
{
    struct kafka_source *ks = (struct kafka_source *)s;
    clear_report(ks);
    if (ks->q)
        rd_kafka_queue_destroy(ks->q);
    if (ks->rk) {
        rd_kafka_consumer_close(ks->rk); /* unassigns; commits nothing (auto commit off) */
        rd_kafka_destroy(ks->rk);
    }
    if (ks->has_re)
        regfree(&ks->re);
    kparts_clear(ks);
    free(ks->parts);
    source_offsets_destroy(&ks->start);
    source_offsets_destroy(&ks->only);
    source_offsets_destroy(&ks->seen);
    pthread_mutex_destroy(&ks->mu);
    free(ks->msgs);
    free(ks->gaps);
    free(ks->brokers);
    free(ks->bootstrap);
    free(ks->topic);
    free(ks->pattern);
    free(ks);
}

static const struct source_ops kafka_ops = {
    .assign = kafka_assign,
    .poll = kafka_poll,
    .position = kafka_position,
    .partitions = kafka_partitions,
    .health = kafka_health,
    .ready = kafka_ready,
    .close = kafka_close,
    .only = kafka_only,
    .stream_partitions = kafka_stream_partitions,
    .end_offset = kafka_end_offset,
};

/* ---- connection documents ---------------------------------------------------------- */

int source_kafka_config_from_json(const json_t *doc, const json_t *sec,
                                  struct source_kafka_config *cfg, struct arena *a,
                                  struct lerr *err)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = 0;
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (!doc || !type || (strcmp(type, "kafka") != 0 && strcmp(type, "confluent") != 0)) {
        rc = lerr_set(err, LERR_INVALID, "not a kafka or confluent connection document");
        goto done;
    }
    if (sec && !json_is_object(sec)) {
        rc = lerr_set(err, LERR_INVALID, "the connection's secrets are not a JSON object");
        goto done;
    }
    const char *bs = json_string_value(json_object_get(doc, "bootstrapServers"));
    const char *topic = json_string_value(json_object_get(doc, "topicName"));
    const char *pat = json_string_value(json_object_get(doc, "topicNamePattern"));
    cfg->bootstrap_servers = bs ? arena_strdup(a, bs) : NULL;
    cfg->topic = topic ? arena_strdup(a, topic) : NULL;
    cfg->topic_pattern = pat ? arena_strdup(a, pat) : NULL;
    bool confluent = strcmp(type, "confluent") == 0;
    json_t *ssl = json_object_get(doc, "ssl");
    cfg->ssl = confluent || (json_is_boolean(ssl) ? json_is_true(ssl) : sec != NULL);
    if (sec) {
        const char *stype = json_string_value(json_object_get(sec, "type"));
        const char *user = json_string_value(json_object_get(sec, "username"));
        const char *pass = json_string_value(json_object_get(sec, "password"));
        const char *mech = NULL;
        if (stype && strcmp(stype, "sasl_plain") == 0)
            mech = "PLAIN";
        else if (stype && strcmp(stype, "sasl_scram") == 0)
            mech = json_string_value(json_object_get(sec, "mechanism"));
        if (!mech || !user || !pass) {
            rc = lerr_set_at(err, LERR_INVALID, "secrets",
                             "secrets need type sasl_plain or sasl_scram (with mechanism), "
                             "username and password");
            goto done;
        }
        cfg->sasl_mechanism = arena_strdup(a, mech);
        cfg->sasl_username = arena_strdup(a, user);
        cfg->sasl_password = arena_strdup(a, pass);
        if (!cfg->sasl_mechanism || !cfg->sasl_username || !cfg->sasl_password)
            rc = lerr_set(err, LERR_NOMEM, "out of memory");
    } else if (confluent) {
        rc = lerr_set_at(err, LERR_INVALID, "secrets",
                         "a confluent connection needs secrets (API key and secret)");
    }
    if (!rc && (!cfg->bootstrap_servers || (topic && !cfg->topic) || (pat && !cfg->topic_pattern)))
        rc = lerr_set(err, LERR_INVALID, "the connection has no bootstrapServers");
done:
    return rc;
}
