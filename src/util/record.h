/*
 * record.h — the one record type: the bytes of one Kafka message, push-log
 * entry or chunk of a batch job's text, plus where they came from.
 *
 * Sources fill records (source_poll() in source/source.h) into an arena the
 * caller passes, copying every byte they point to there once, so the caller
 * owns the memory and the source can free its own buffers at once. Formats
 * read records directly (format_parse() in format/format.h), and the row
 * pipeline runs over arrays of them (pipeline_process()). Format and source
 * are peers that must not include each other, so the type lives here, below
 * both. A header only: there are no functions.
 *
 * Every pointer is borrowed from whoever made the record (a source's caller's
 * arena, a request body, a test's literals).
 */
#ifndef LODESTAR_RECORD_H
#define LODESTAR_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A Kafka header. Names are not NUL-terminated; value NULL = a null value. */
struct record_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct record {
    const char *data; /* the value; never NULL from a source (a Kafka null value is "") */
    size_t len;
    int32_t partition;
    int64_t offset;
    const char *key; /* NULL = no key */
    size_t key_len;
    /* Sources fill headers only when asked to (a kafka-format job reads them):
     * nheaders is 0 otherwise. */
    const struct record_header *headers;
    size_t nheaders;
    bool has_timestamp;
    int64_t timestamp_ms; /* the message's timestamp (epoch ms) when has_timestamp */
    const char *topic;    /* NULL = none; NUL-terminated when a source made it */
    size_t topic_len;
};

#endif
