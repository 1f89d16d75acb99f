/*
 * source_int.h — private to src/source/: the operations table every source
 * implements (kafka.c, push.c) and the dispatch in source.c calls.
 *
 * A concrete source embeds `struct source` as its first member, so a
 * `struct source *` converts to the concrete type with a cast.
 */
#ifndef LODESTAR_SOURCE_INT_H
#define LODESTAR_SOURCE_INT_H

#include "source/source.h"

struct source_ops {
    int (*assign)(struct source *s, const struct source_offsets *start, int64_t default_start,
                  struct lerr *err);
    int (*poll)(struct source *s, struct arena *mem, size_t max_records, int timeout_ms,
                struct source_batch *out, struct lerr *err);
    int (*position)(struct source *s, struct source_offsets *out, struct lerr *err);
    int (*partitions)(struct source *s, struct source_partition **out, size_t *n,
                      struct lerr *err);
    int (*health)(struct source *s, char *msg, size_t cap);
    bool (*ready)(struct source *s);
    /* NULL: the source cannot be divided between nodes (source_only) */
    int (*only)(struct source *s, const struct source_offsets *only, struct lerr *err);
    int (*stream_partitions)(struct source *s, struct source_offsets *out, struct lerr *err);
    int (*end_offset)(struct source *s, const char *topic, int32_t partition, int timeout_ms,
                      int64_t *out, struct lerr *err);
    void (*close)(struct source *s);
};

struct source {
    const struct source_ops *ops;
};

/* source_open_push() whose close calls release(release_ctx, log) (pushreg.c
 * gives the registry's reference back); release NULL = borrowed. push.c. */
struct source *source__open_push_held(struct source_pushlog *log, const char *stream,
                                      void (*release)(void *ctx, struct source_pushlog *log),
                                      void *release_ctx, struct lerr *err);

/* n bytes of p copied into mem with a NUL after them; NULL when mem is full. */
const char *source__copy(struct arena *mem, const void *p, size_t n);
/* Copies gaps[0..n) (and their topics) into mem and points out->gaps at them.
 * LERR_NOMEM when mem is full. */
int source__gaps_copy(struct arena *mem, const struct source_gap *gaps, size_t n,
                      struct source_batch *out, struct lerr *err);

/* Whether a topic name is usable as a checkpoint key: 1..SOURCE_TOPIC_MAX bytes. */
bool source_topic_name_ok(const char *topic);

#endif
