/*
 * source_int.h — private to src/source/: the operations table every source
 * implements (kafka.c, push.c) and the dispatch in source.c calls.
 *
 * A concrete source embeds `struct source` as its first member, so a
 * `struct source *` converts to the concrete type with a cast.
 */
#ifndef LODESTAR_SOURCE_INT_H
#define LODESTAR_SOURCE_INT_H

#include "source/pushreg.h"
#include "source/source.h"

struct source_ops {
    int (*assign)(struct source *s, const struct source_offsets *start, int64_t default_start,
                  struct lerr *err);
    int (*poll)(struct source *s, size_t max_records, int timeout_ms, struct source_batch *out,
                struct lerr *err);
    void (*release)(struct source *s);
    int (*position)(struct source *s, struct source_offsets *out, struct lerr *err);
    int (*partitions)(struct source *s, struct source_partition **out, size_t *n,
                      struct lerr *err);
    int (*health)(struct source *s, char *msg, size_t cap);
    bool (*ready)(struct source *s);
    void (*close)(struct source *s);
};

struct source {
    const struct source_ops *ops;
};


/* source_open_push() whose close gives `reg`'s reference to `log` back
 * (pushreg_put); reg NULL = borrowed. push.c, for pushreg.c. */
struct pushreg;
struct source *source__open_push_held(struct pushlog *log, const char *stream,
                                      struct pushreg *reg, struct lerr *err);

/* Whether a topic name is usable as a checkpoint key: 1..SOURCE_TOPIC_MAX bytes. */
bool source_topic_name_ok(const char *topic);

#endif
