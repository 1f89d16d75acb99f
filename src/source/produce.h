/*
 * produce.h — a small Kafka producer for Lodestar's own tools (the
 * quickstart streams its sample events with it). Part of source/, the only
 * module that speaks Kafka.
 *
 * Entry points: source_producer_new(), source_produce(), source_producer_flush(),
 * source_producer_free(). One thread at a time per producer.
 */
#ifndef LODESTAR_SOURCE_PRODUCE_H
#define LODESTAR_SOURCE_PRODUCE_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct source_producer;

/* A producer for one topic on bootstrap_servers (PLAINTEXT). NULL + err. */
struct source_producer *source_producer_new(const char *bootstrap_servers, const char *topic,
                                            struct lerr *err);
/* Queues one message (copied); partitions round-robin. Waits while the
 * local queue is full. LERR_IO when librdkafka refuses it. */
int source_produce(struct source_producer *p, const void *value, size_t len, struct lerr *err);
/* Waits up to timeout_ms until every queued message is acknowledged;
 * returns how many were delivered so far (all of them on success). */
int64_t source_producer_flush(struct source_producer *p, int timeout_ms);
/* Messages acknowledged by the broker so far. */
int64_t source_producer_delivered(const struct source_producer *p);
void source_producer_free(struct source_producer *p);

#endif
