/*
 * produce.c — the producer of produce.h on librdkafka: idempotent off (the
 * dev broker's mock cluster is enough), linger small, no sticky partitioner
 * (it piles messages onto few partitions, which the mock cluster then trims).
 */
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "source/produce.h"

struct source_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    int32_t partitions;
    int32_t next;
    atomic_llong delivered;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct source_producer *p = opaque;
    if (!m->err)
        atomic_fetch_add(&p->delivered, 1);
}

struct source_producer *source_producer_new(const char *bootstrap_servers, const char *topic,
                                            struct lerr *err)
{
    struct source_producer *p = calloc(1, sizeof *p);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (!p || !conf) {
        lerr_set(err, LERR_NOMEM, "out of memory");
        goto fail;
    }
    const char *props[][2] = {{"bootstrap.servers", bootstrap_servers},
                              {"linger.ms", "5"},
                              {"batch.num.messages", "10000"},
                              {"queue.buffering.max.kbytes", "262144"},
                              {"sticky.partitioning.linger.ms", "0"}};
    for (size_t i = 0; i < LS_ARRAY_LEN(props); i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], e, sizeof e) != RD_KAFKA_CONF_OK) {
            lerr_set(err, LERR_INVALID, "producer setting %s: %s", props[i][0], e);
            goto fail;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!p->rk) {
        lerr_set(err, LERR_INTERNAL, "cannot create a Kafka producer: %s", e);
        goto fail;
    }
    conf = NULL;
    p->rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(p->rk, 0, p->rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR || !md ||
        md->topic_cnt != 1 || md->topics[0].partition_cnt <= 0) {
        lerr_set(err, LERR_UNAVAILABLE, "topic '%s' on %s has no partitions (is the broker up?)",
                 topic, bootstrap_servers);
        if (md)
            rd_kafka_metadata_destroy(md);
        goto fail;
    }
    p->partitions = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return p;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    source_producer_free(p);
    return NULL;
}

int source_produce(struct source_producer *p, const void *value, size_t len, struct lerr *err)
{
    int32_t part = p->next;
    p->next = (p->next + 1) % p->partitions;
    for (;;) {
        if (rd_kafka_produce(p->rkt, part, RD_KAFKA_MSG_F_COPY, (void *)value, len, NULL, 0,
                             NULL) == 0)
            break;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return lerr_set(err, LERR_IO, "produce failed: %s",
                            rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_poll(p->rk, 10);
    }
    rd_kafka_poll(p->rk, 0);
    return 0;
}

int64_t source_producer_flush(struct source_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    return atomic_load(&p->delivered);
}

int64_t source_producer_delivered(const struct source_producer *p)
{
    return atomic_load(&((struct source_producer *)p)->delivered);
}

void source_producer_free(struct source_producer *p)
{
    if (!p)
        return;
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    if (p->rk) {
        rd_kafka_flush(p->rk, 2000);
        rd_kafka_destroy(p->rk);
    }
    free(p);
}
