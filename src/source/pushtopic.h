/*
 * pushtopic.h — push connections backed by Kafka (`lodestar serve
 * --push-kafka BOOTSTRAP`): in a cluster a push request is acknowledged only
 * once Kafka holds it (acks=all, idempotent producer), so an acknowledged
 * event survives the loss of the node that took it; any node's job reads
 * the connection's topic as a Kafka topic.
 *
 * Each push connection has one topic, SOURCE_PUSHTOPIC_PREFIX + its name
 * (created with one partition when first used), and each push request is
 * one Kafka message holding its accepted lines: a request is stored whole
 * or not at all, as with the local push log. The checkpoint of a job on
 * such a connection is kept under its own stream key
 * ("push-kafka:<connection>"), so a server started without --push-kafka
 * never reads Kafka offsets as push-log offsets.
 *
 * Entry points: source_pushtopic_open(), source_pushtopic_close(),
 * source_pushtopic_name(), source_pushtopic_bootstrap(),
 * source_pushtopic_append(), source_pushtopic_end_offsets().
 * Thread-safety: every function may be called from any thread.
 */
#ifndef LODESTAR_SOURCE_PUSHTOPIC_H
#define LODESTAR_SOURCE_PUSHTOPIC_H

#include <stdbool.h>
#include <stddef.h>

#include "source/source.h"
#include "util/util.h"

#define SOURCE_PUSHTOPIC_PREFIX "lodestar-push-"
/* The most a message may hold (the request's accepted lines); Kafka's default limit is ~1 MiB. */
#define SOURCE_PUSHTOPIC_MAX_MESSAGE (1024u * 1024u)

struct source_pushtopic;

/* A producer on bootstrap (no network yet). LERR_INVALID / LERR_INTERNAL from librdkafka. */
struct source_pushtopic *source_pushtopic_open(const char *bootstrap, struct lerr *err);
/* Waits up to 5 s for messages still in flight (their requests have not been answered). */
void source_pushtopic_close(struct source_pushtopic *t);
const char *source_pushtopic_bootstrap(const struct source_pushtopic *t);
/* The topic of a connection (a name of Kafka's legal characters: others become '_'). */
void source_pushtopic_name(const char *connection, char out[256]);
/*
 * Stores data[0..len) as one message on the connection's topic (creating
 * it if needed) and waits until Kafka acknowledged it on every in-sync
 * replica, or timeout_ms passed (give more than the producer's 10 s
 * delivery bound: its report then always comes first). 0 when stored;
 * LERR_UNAVAILABLE naming the broker's error when not, saying whether
 * nothing was stored or the events may have been (Kafka did not confirm
 * in time); LERR_TOO_LARGE past SOURCE_PUSHTOPIC_MAX_MESSAGE.
 */
int source_pushtopic_append(struct source_pushtopic *t, const char *connection, const void *data,
                            size_t len, int timeout_ms, struct lerr *err);
/* Deletes the connection's topic (a deleted connection's events go with it); absent is fine. */
int source_pushtopic_drop(struct source_pushtopic *t, const char *connection, struct lerr *err);
/*
 * The connection topic's offsets now (creating it if needed): its end
 * (high watermark) per partition, or with `earliest` its start — where a
 * new job on the connection begins reading.
 */
int source_pushtopic_end_offsets(struct source_pushtopic *t, const char *connection, bool earliest,
                                 struct source_offsets *out, struct lerr *err);

#endif
