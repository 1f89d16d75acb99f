/*
 * kinesis_int.h — private to src/source/: the Kinesis JSON API's documents
 * read and written (kinesis_json.c), for the Kinesis source (kinesis.c) and
 * the unit tests (tests/unit/test_kinesis.c).
 *
 * Every parser takes the response body as {ptr, len} (not NUL-terminated),
 * checks each member it uses, and fails with LERR_INVALID naming the
 * operation and the member; nothing is trusted because it came from AWS.
 */
#ifndef LODESTAR_SOURCE_KINESIS_INT_H
#define LODESTAR_SOURCE_KINESIS_INT_H

#include "source/source.h"

/* Longest shard id and iterator we accept (AWS: ids ~20 bytes, iterators < 1 KiB). */
#define SOURCE__KIN_ID_MAX 128
#define SOURCE__KIN_ITER_MAX 4096
/* Longest sequence number (AWS: up to 128 decimal digits). */
#define SOURCE__KIN_SEQ_MAX 128

/* "shardId-000000000007" → 7; false for anything else (or past INT32_MAX). */
bool source__kin_shard_number(const char *id, int32_t *out);

/* One shard of a ListShards page. */
struct source__kin_shard {
    char id[SOURCE__KIN_ID_MAX + 1];
    int32_t partition;
    int32_t parent, adjacent; /* partitions of ParentShardId and AdjacentParentShardId; -1 none */
    bool closed;              /* SequenceNumberRange.EndingSequenceNumber is set */
};

/*
 * A ListShards response: appends its shards to *shards (malloc'd, *n and
 * *alloc grow) and copies NextToken into next_token (cap bytes; "" when the
 * last page). LERR_INVALID naming the member, LERR_NOMEM.
 */
int source__kin_parse_shards(const char *body, size_t len, struct source__kin_shard **shards,
                             size_t *n, size_t *alloc, char *next_token, size_t cap,
                             struct lerr *err);

/* A GetShardIterator response: the iterator, malloc'd, into *out. */
int source__kin_parse_iterator(const char *body, size_t len, char **out, struct lerr *err);

/* One record of a GetRecords response; bytes in the caller's arena. */
struct source__kin_record {
    const char *data; /* Data, base64-decoded */
    size_t len;
    const char *key; /* PartitionKey */
    size_t key_len;
    char seq[SOURCE__KIN_SEQ_MAX + 1]; /* SequenceNumber, decimal digits */
    int64_t ts_ms;                     /* ApproximateArrivalTimestamp; -1 when absent */
};

struct source__kin_records {
    struct source__kin_record *recs; /* malloc'd by the parser; free() */
    size_t n;
    char *next_iterator;   /* malloc'd; NULL: the shard is closed and read to its end */
    int64_t millis_behind; /* MillisBehindLatest; -1 when absent */
};

/*
 * A GetRecords response: the records (their data and keys copied into mem),
 * NextShardIterator and MillisBehindLatest. LERR_INVALID naming the record
 * and member (Data not base64, a sequence number that is not digits...),
 * LERR_NOMEM when mem is full. On failure nothing is left to free.
 */
int source__kin_parse_records(const char *body, size_t len, struct arena *mem,
                              struct source__kin_records *out, struct lerr *err);
void source__kin_records_free(struct source__kin_records *r);

/* What a failed request means for the reader. */
enum source__kin_fail {
    KIN_F_RETRY,    /* throttled, 5xx, the service busy: back off and try again */
    KIN_F_EXPIRED,  /* ExpiredIteratorException: get a new iterator from the position */
    KIN_F_NOTFOUND, /* ResourceNotFoundException: no such stream (or shard) */
    KIN_F_AUTH,     /* the credentials or signature were refused */
    KIN_F_OTHER     /* a request the service calls wrong (InvalidArgument, Validation...) */
};

/*
 * An error response (HTTP status, body {"__type": "...#Name", "message"}):
 * its kind, and "Name: message" in msg (cap bytes).
 */
enum source__kin_fail source__kin_parse_error(long status, const char *body, size_t len, char *msg,
                                              size_t cap);

#endif
