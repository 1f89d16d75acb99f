/*
 * source.h — where records come from: Kafka (librdkafka), the push log, and
 * the development broker `lodestar dev-kafka` (librdkafka's mock cluster).
 *
 * Entry points so far: source_devkafka_run().
 */
#ifndef LODESTAR_SOURCE_H
#define LODESTAR_SOURCE_H

#include <stdint.h>

#include "util/util.h"

struct source_devkafka_topic {
    const char *name;
    int partitions;   /* >= 1 */
};

struct source_devkafka_opts {
    int port;                             /* 0 = any free loopback port */
    const struct source_devkafka_topic *topics;
    int ntopics;
};

/*
 * Runs the development broker until SIGTERM/SIGINT: prints the bootstrap
 * address ("127.0.0.1:PORT") as the first line of stdout, a warning about
 * the mock cluster's retention on stderr, and then serves real Kafka clients.
 * SIGUSR1 takes the broker down (clients see it unreachable), SIGUSR2 brings
 * it back up; data is kept across down/up. Returns 0 on a clean stop, or
 * sets err and returns its code.
 */
int source_devkafka_run(const struct source_devkafka_opts *o, struct lerr *err);

#endif
