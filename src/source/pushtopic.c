/*
 * pushtopic.c — push connections on Kafka (pushtopic.h): one idempotent
 * producer (acks=all) shared by every connection, a thread serving its
 * delivery reports, and each request's wait for its own report.
 *
 * A waiter is shared between the request and the delivery callback: the
 * message's delivery report always comes (librdkafka reports every message
 * within message.timeout.ms), so the request waits for it and frees the
 * waiter; only if the report is overdue past a margin does the request give
 * up, mark the waiter abandoned, and leave the callback to free it.
 */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "source/pushtopic.h"

#define CREATED_MAX 256
/* librdkafka's bound on a message's delivery: its report always comes by then, saying
 * whether the message is stored, not stored, or possibly stored */
#define PUSHTOPIC_DELIVERY_MS "10000"

struct waiter {
    bool done, abandoned;
    rd_kafka_resp_err_t err;
    rd_kafka_msg_status_t status; /* persisted, not persisted, or possibly persisted */
};

struct source_pushtopic {
    rd_kafka_t *rk;
    char bootstrap[512];
    pthread_t poller;
    atomic_bool stop;
    pthread_mutex_t mu; /* waiters' fields and `created` */
    pthread_cond_t cv;
    char *created[CREATED_MAX]; /* topics known to exist */
    size_t ncreated;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct source_pushtopic *t = opaque;
    struct waiter *w = m->_private;
    if (!w)
        return;
    pthread_mutex_lock(&t->mu);
    if (w->abandoned) {
        free(w);
    } else {
        w->err = m->err;
        w->status = rd_kafka_message_status(m);
        w->done = true;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

static void *poll_main(void *arg)
{
    struct source_pushtopic *t = arg;
    while (!atomic_load(&t->stop))
        rd_kafka_poll(t->rk, 100);
    return NULL;
}

struct source_pushtopic *source_pushtopic_open(const char *bootstrap, struct lerr *err)
{
    struct source_pushtopic *t = calloc(1, sizeof *t);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (!t || !conf) {
        free(t);
        if (conf)
            rd_kafka_conf_destroy(conf);
        lerr_set(err, LERR_NOMEM, "out of memory opening the push topics' producer");
        return NULL;
    }
    snprintf(t->bootstrap, sizeof t->bootstrap, "%s", bootstrap);
    /* acks=all and idempotence: an acknowledged request is on every in-sync replica, once */
    const char *props[][2] = {{"bootstrap.servers", bootstrap},
                              {"acks", "all"},
                              {"enable.idempotence", "true"},
                              {"linger.ms", "2"},
                              {"compression.type", "lz4"},
                              {"message.max.bytes", "1100000"},
                              {"message.timeout.ms", PUSHTOPIC_DELIVERY_MS}};
    for (size_t i = 0; i < LS_ARRAY_LEN(props); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], e, sizeof e) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            free(t);
            lerr_set(err, LERR_INVALID, "--push-kafka: producer setting %s: %s", props[i][0], e);
            return NULL;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, t);
    t->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!t->rk) {
        rd_kafka_conf_destroy(conf);
        free(t);
        lerr_set(err, LERR_INTERNAL, "--push-kafka %s: cannot create a Kafka producer: %s",
                 bootstrap, e);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&t->poller, NULL, poll_main, t);
    if (rc) {
        rd_kafka_destroy(t->rk);
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t);
        lerr_set(err, LERR_INTERNAL, "cannot start the push topics' producer thread: %s",
                 strerror(rc));
        return NULL;
    }
    return t;
}

void source_pushtopic_close(struct source_pushtopic *t)
{
    if (!t)
        return;
    rd_kafka_flush(t->rk, 5000);
    atomic_store(&t->stop, true);
    pthread_join(t->poller, NULL);
    rd_kafka_destroy(t->rk); /* reports of what is still queued are served here */
    for (size_t i = 0; i < t->ncreated; i++)
        free(t->created[i]);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

const char *source_pushtopic_bootstrap(const struct source_pushtopic *t) { return t->bootstrap; }

void source_pushtopic_name(const char *connection, char out[256])
{
    size_t n = strlen(SOURCE_PUSHTOPIC_PREFIX);
    memcpy(out, SOURCE_PUSHTOPIC_PREFIX, n);
    for (const char *p = connection; *p && n < 249; p++) {
        char c = *p;
        bool legal = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '_' || c == '-';
        out[n++] = legal ? c : '_';
    }
    out[n] = '\0';
}

static bool known_topic(struct source_pushtopic *t, const char *topic)
{
    bool found = false;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->ncreated && !found; i++)
        found = strcmp(t->created[i], topic) == 0;
    pthread_mutex_unlock(&t->mu);
    return found;
}

/* Whether the cluster lists the topic with partitions (asking may auto-create it, where the
 * brokers allow that: allow.auto.create.topics is the producer's default). */
static bool topic_exists(struct source_pushtopic *t, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    bool ok = rkt && rd_kafka_metadata(t->rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
              md && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return ok;
}

static void remember_topic(struct source_pushtopic *t, const char *topic)
{
    pthread_mutex_lock(&t->mu);
    if (t->ncreated < CREATED_MAX)
        t->created[t->ncreated++] = strdup(topic);
    pthread_mutex_unlock(&t->mu);
}

/*
 * CreateTopics (one partition, the brokers' replication factor) or
 * DeleteTopics of one topic, waiting up to wait_ms for the answer; `fine` is
 * the topic error that counts as done (it exists already / it is gone).
 */
static int admin(struct source_pushtopic *t, const char *topic, bool create,
                 rd_kafka_resp_err_t fine, int wait_ms, struct lerr *err)
{
    char e[512];
    const char *what = create ? "CreateTopics" : "DeleteTopics";
    rd_kafka_NewTopic_t *nt = create ? rd_kafka_NewTopic_new(topic, 1, -1, e, sizeof e) : NULL;
    rd_kafka_DeleteTopic_t *dt = create ? NULL : rd_kafka_DeleteTopic_new(topic);
    if (!nt && !dt)
        return lerr_set(err, LERR_INTERNAL, "push topic %s: %s", topic, create ? e : what);
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(
        t->rk, create ? RD_KAFKA_ADMIN_OP_CREATETOPICS : RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, wait_ms, e, sizeof e);
    rd_kafka_AdminOptions_set_request_timeout(opt, wait_ms, e, sizeof e);
    if (create)
        rd_kafka_CreateTopics(t->rk, &nt, 1, opt, q);
    else
        rd_kafka_DeleteTopics(t->rk, &dt, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, wait_ms + 1000);
    int rc = 0;
    if (!ev) {
        rc = lerr_set(err, LERR_UNAVAILABLE,
                      "push topic %s: the Kafka cluster at %s did not answer %s in %d ms "
                      "(--push-kafka); retry",
                      topic, t->bootstrap, what, wait_ms + 1000);
    } else if (rd_kafka_event_error(ev)) {
        rc = lerr_set(err, LERR_UNAVAILABLE, "push topic %s on %s: %s; retry", topic, t->bootstrap,
                      rd_kafka_event_error_string(ev));
    } else {
        size_t n = 0;
        const rd_kafka_topic_result_t **res =
            create
                ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n)
                : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
        rd_kafka_resp_err_t te = n ? rd_kafka_topic_result_error(res[0])
                                   : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (te && te != fine)
            rc = lerr_set(err, LERR_UNAVAILABLE, "push topic %s on %s: %s refused: %s", topic,
                          t->bootstrap, what,
                          rd_kafka_topic_result_error_string(res[0])
                              ? rd_kafka_topic_result_error_string(res[0])
                              : rd_kafka_err2str(te));
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (dt)
        rd_kafka_DeleteTopic_destroy(dt);
    return rc;
}

/* Makes sure the topic exists: listed (or auto-created) by the brokers, else created with
 * CreateTopics (one partition, the brokers' replication factor). */
static int ensure_topic(struct source_pushtopic *t, const char *topic, struct lerr *err)
{
    if (known_topic(t, topic))
        return 0;
    if (topic_exists(t, topic)) {
        remember_topic(t, topic);
        return 0;
    }
    int rc = admin(t, topic, true, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, 10000, err);
    if (rc)
        return rc;
    remember_topic(t, topic);
    return 0;
}

int source_pushtopic_append(struct source_pushtopic *t, const char *connection, const void *data,
                            size_t len, int timeout_ms, struct lerr *err)
{
    char topic[256];
    source_pushtopic_name(connection, topic);
    if (len > SOURCE_PUSHTOPIC_MAX_MESSAGE)
        return lerr_set(err, LERR_TOO_LARGE,
                        "the request holds %zu bytes of events; with --push-kafka a request "
                        "holds at most %u (one Kafka message): split it",
                        len, SOURCE_PUSHTOPIC_MAX_MESSAGE);
    if (ensure_topic(t, topic, err)) {
        char why[sizeof err->msg];
        int code = err->code;
        snprintf(why, sizeof why, "%s", err->msg);
        lerr_init(err);
        return lerr_set(err, code, "%s (nothing was stored: retry)", why);
    }
    struct waiter *w = calloc(1, sizeof *w);
    if (!w)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    rd_kafka_resp_err_t pe = rd_kafka_producev(
        t->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_VALUE((void *)data, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (pe) {
        free(w);
        return lerr_set(err, LERR_UNAVAILABLE, "push topic %s on %s: %s; retry", topic,
                        t->bootstrap, rd_kafka_err2str(pe));
    }
    /* the report comes within message.timeout.ms: wait for it (up to timeout_ms, which the
     * caller sets above that; past it the request answers 503 and the report frees the waiter) */
    struct timespec ts;
    util_deadline(CLOCK_MONOTONIC, timeout_ms, &ts);
    pthread_mutex_lock(&t->mu);
    int wr = 0;
    while (!w->done && wr == 0)
        wr = pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    bool done = w->done;
    rd_kafka_resp_err_t de = w->err;
    rd_kafka_msg_status_t ds = w->status;
    if (done)
        free(w);
    else
        w->abandoned = true;
    pthread_mutex_unlock(&t->mu);
    if (!done)
        return lerr_set(err, LERR_UNAVAILABLE,
                        "push topic %s on %s did not acknowledge the events in %d ms; they may "
                        "or may not be stored: retry (a job may then read them twice)",
                        topic, t->bootstrap, timeout_ms);
    if (de && ds == RD_KAFKA_MSG_STATUS_NOT_PERSISTED)
        return lerr_set(err, LERR_UNAVAILABLE,
                        "push topic %s on %s did not store the events: %s; nothing was "
                        "stored: retry",
                        topic, t->bootstrap, rd_kafka_err2str(de));
    if (de)
        return lerr_set(err, LERR_UNAVAILABLE,
                        "push topic %s on %s: %s before Kafka confirmed the events; they may or "
                        "may not be stored: retry (a job may then read them twice)",
                        topic, t->bootstrap, rd_kafka_err2str(de));
    return 0;
}

int source_pushtopic_end_offsets(struct source_pushtopic *t, const char *connection, bool earliest,
                                 struct source_offsets *out, struct lerr *err)
{
    char topic[256];
    source_pushtopic_name(connection, topic);
    if (ensure_topic(t, topic, err))
        return err->code;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me = rkt ? rd_kafka_metadata(t->rk, 0, rkt, &md, 10000)
                                 : RD_KAFKA_RESP_ERR__INVALID_ARG;
    int rc = 0;
    if (me || !md || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        rc = lerr_set(err, LERR_UNAVAILABLE, "push topic %s on %s: no partitions yet (%s); retry",
                      topic, t->bootstrap,
                      rd_kafka_err2str(me                    ? me
                                       : md && md->topic_cnt ? md->topics[0].err
                                                             : me));
    }
    for (int i = 0; !rc && i < md->topics[0].partition_cnt; i++) {
        int32_t part = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t we =
            rd_kafka_query_watermark_offsets(t->rk, topic, part, &lo, &hi, 10000);
        if (we)
            rc = lerr_set(err, LERR_UNAVAILABLE, "push topic %s [%d] on %s: %s; retry", topic,
                          (int)part, t->bootstrap, rd_kafka_err2str(we));
        else
            rc = source_offsets_set(out, topic, part, earliest ? lo : hi, err);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return rc;
}

int source_pushtopic_drop(struct source_pushtopic *t, const char *connection, struct lerr *err)
{
    char topic[256];
    source_pushtopic_name(connection, topic);
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->ncreated; i++)
        if (strcmp(t->created[i], topic) == 0) {
            free(t->created[i]);
            t->created[i] = t->created[--t->ncreated];
            break;
        }
    pthread_mutex_unlock(&t->mu);
    return admin(t, topic, false, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, 4000, err);
}
