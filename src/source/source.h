/*
 * source.h — where records come from: Kafka (librdkafka), Kinesis (libcurl), the push log, and
 * the development broker `lodestar dev-kafka` (librdkafka's mock cluster).
 *
 * One interface for every source (DESIGN.md §6): a source is a set of
 * partitions, each a sequence of records with dense or increasing offsets.
 * The job runner assigns start offsets, polls batches, and at persist time
 * stores source_position() — the NEXT offset of every partition — in the
 * catalog in the same transaction as the rows. Sources never commit offsets
 * anywhere themselves: the catalog is the only place offsets live.
 *
 * Entry points:
 *   offsets     source_offsets_init/_set/_get/_destroy, source_offsets_to_json,
 *               source_offsets_from_json (the checkpoint text the catalog keeps)
 *   sources     source_open_kafka(), source_open_kinesis(), source_open_push(),
 *               source_open_files() (uploaded files, inline data, S3 objects),
 *               source_assign(), source_only(), source_stream_partitions(),
 *               source_poll(), source_position(),
 *               source_partitions(), source_lag(), source_health(), source_ready(),
 *               source_close()
 *   Kafka       source_kafka_config_from_json() (a connection document + its
 *               secrets into a config)
 *   Kinesis     source_kinesis_config_from_json(), source_kinesis_endpoint_region()
 *   S3          source_s3_config_from_json(), source_s3_client(), source_s3_uris(),
 *               source_s3_glob(), source_aws_keys_from_json() (shared with Kinesis)
 *   push log    source_pushlog_open(), source_pushlog_append(), source_pushlog_trim(),
 *               source_pushlog_cursor_open(), source_pushlog_cursor_read(), source_pushlog_get_stats(),
 *               source_pushlog_close()
 *   dev broker  source_devkafka_run()
 */
#ifndef LODESTAR_SOURCE_H
#define LODESTAR_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/record.h"
#include "util/util.h"

struct s3_client; /* util/s3.h */

/* ======================================================================== */
/* ---- offsets: where a reader is in each partition ----------------------- */

/* Symbolic start positions (the values librdkafka uses too). */
#define SOURCE_OFFSET_LATEST (-1)
#define SOURCE_OFFSET_EARLIEST (-2)
/* source_offsets_get() for a partition the list does not hold. */
#define SOURCE_OFFSET_NONE (-3)

/* Longest topic (or push stream) name; Kafka's own limit is 249. */
#define SOURCE_TOPIC_MAX 255

struct source_offset {
    char *topic; /* malloc'd, owned by the list */
    int32_t partition;
    int64_t next; /* the next offset to read (one past the last record taken) */
    /* NULL, or a source's own text position beside `next` (malloc'd, owned by
     * the list): where a source whose positions are not 64-bit numbers goes
     * on from. Kinesis: "after:<sequence number>", "trim_horizon", "at:<epoch
     * ms>", "end" (kinesis.c); `next` then counts the records taken. */
    char *pos;
};

/* A list of {topic, partition, next}, kept sorted by (topic, partition). */
struct source_offsets {
    struct source_offset *items;
    size_t n, alloc;
};

void source_offsets_init(struct source_offsets *o);
void source_offsets_destroy(struct source_offsets *o);
void source_offsets_clear(struct source_offsets *o); /* empties, keeps storage */
/* Inserts or replaces. LERR_INVALID for an empty/too long topic or a
 * negative partition, LERR_NOMEM. */
int source_offsets_set(struct source_offsets *o, const char *topic, int32_t partition,
                       int64_t next, struct lerr *err);
/* Inserts or replaces with a text position (source_offset.pos; NULL: none).
 * LERR_INVALID as source_offsets_set, or for a pos over SOURCE_POS_MAX bytes. */
#define SOURCE_POS_MAX 256
int source_offsets_set_pos(struct source_offsets *o, const char *topic, int32_t partition,
                           int64_t next, const char *pos, struct lerr *err);
/* The stored next offset, or SOURCE_OFFSET_NONE. */
int64_t source_offsets_get(const struct source_offsets *o, const char *topic, int32_t partition);
/* The stored text position, or NULL (none, or no such entry). Borrowed from o. */
const char *source_offsets_get_pos(const struct source_offsets *o, const char *topic,
                                   int32_t partition);
int source_offsets_copy(struct source_offsets *dst, const struct source_offsets *src,
                        struct lerr *err);
/*
 * The checkpoint text, e.g. {"events":{"0":1234,"1":99}}: topics in byte
 * order, partitions in numeric order, no spaces; an entry with a text
 * position is [next,"pos"], e.g. {"s":{"0":[12,"after:4959..."]}}. Canonical — the same offsets
 * always give the same bytes — because the catalog's compare-and-swap
 * compares the stored text. Entries whose offset is symbolic (< 0: not yet
 * known) are left out. Returns malloc'd text, or NULL with err set.
 */
char *source_offsets_to_json(const struct source_offsets *o, struct lerr *err);
/* Parses checkpoint text (replacing out's contents). LERR_INVALID names the
 * bad member (not an object, partition not a number, offset negative...). */
int source_offsets_from_json(const char *p, size_t len, struct source_offsets *out,
                             struct lerr *err);

/* ---- records and batches ------------------------------------------------ */

/* Records are util/record.h's struct record. A source copies each record's
 * bytes (value, key, headers, topic) into the arena its caller passes to
 * source_poll(), once, so they stay valid for as long as the caller keeps that
 * arena, and the source frees its own buffers right away. Topics are
 * NUL-terminated; the records of one partition in a batch share one copy. */

/*
 * Records that will never be read: the wanted offset was deleted (retention,
 * push-log trim) or lies past the end (the topic was re-created). The source
 * moved the partition to `to` (the earliest available offset); the caller
 * must say so (job health warning naming the gap) — it is never silent.
 */
struct source_gap {
    const char *topic;
    int32_t partition;
    int64_t from, to;
    /* false: the records no longer exist (retention, trim, a deleted file);
     * true: they exist but are damaged (checksum, framing) and were skipped. */
    bool corrupt;
    char reason[200];
};

/* Everything a batch points to is in the caller's arena (source_poll). */
struct source_batch {
    const struct record *records;
    size_t n;
    size_t bytes; /* sum of value and key lengths */
    const struct source_gap *gaps;
    size_t ngaps;
    /* Partitions were added (new partitions, new topics matching the
     * pattern): their start offsets are in source_position() now, and a
     * checkpoint soon keeps a restart from applying readFromPoint to them. */
    bool partitions_changed;
    /* A bounded source (uploaded files, inline data) has nothing more to read. */
    bool end;
};

/* One partition as the source sees it (a snapshot). */
struct source_partition {
    char topic[SOURCE_TOPIC_MAX + 1];
    int32_t partition;
    int64_t next_offset; /* next to read; < 0 while still symbolic (earliest/latest pending) */
    int64_t end_offset;  /* high watermark / end of the push log; -1 unknown */
    int64_t lag;         /* end_offset - next_offset, clamped >= 0; -1 unknown */
};

/* ---- sources ------------------------------------------------------------ */

struct source;         /* opaque */
struct source_pushlog; /* below */

/*
 * A Kafka connection. Strings are borrowed for the duration of
 * source_open_kafka() only. Exactly one of topic and topic_pattern. The
 * pattern is a POSIX extended regular expression that must match a whole
 * topic name (as Kafka's and Druid's Java patterns do); internal topics
 * (names starting "__") never match.
 */
struct source_kafka_config {
    const char *bootstrap_servers;
    const char *topic;
    const char *topic_pattern;
    const char *sasl_mechanism; /* NULL: no SASL; "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" */
    const char *sasl_username;
    const char *sasl_password;        /* never logged, never put in a message */
    bool ssl;                         /* TLS: SASL_SSL / SSL, else SASL_PLAINTEXT / PLAINTEXT */
    int metadata_refresh_ms;          /* new partitions and topics; 0 = 10000 */
    int timeout_ms;                   /* blocking metadata / watermark queries; 0 = 5000 */
    int queued_max_kbytes;            /* bound on prefetched bytes in librdkafka; 0 = 65536 */
    const char *const *rdkafka_props; /* NULL-terminated name, value, ... (tuning, tests) */
    /* Fill record headers: only a job whose format reads them (the kafka format
     * with header fields or discovery) sets it; reading a message's headers
     * costs a cache miss per message even when it has none. */
    bool headers;
};

/*
 * Fills cfg from a parsed connection document (type "kafka" or "confluent":
 * bootstrapServers, topicName | topicNamePattern, ssl; NULL: not one) and its
 * secrets ({"type":"sasl_plain"|"sasl_scram","mechanism","username","password"}, or
 * NULL; anything but an object is refused). Strings point into `a`. Confluent is always SASL_SSL with PLAIN.
 */
struct json_t; /* jansson's: the caller parsed the documents (catalog/spec.c) */
int source_kafka_config_from_json(const struct json_t *conn, const struct json_t *secrets,
                                  struct source_kafka_config *cfg, struct arena *a,
                                  struct lerr *err);

/*
 * Opens a Kafka source: creates the consumer (no network yet). LERR_INVALID
 * for a bad config (names the field), LERR_INTERNAL when librdkafka refuses.
 * No consumer group is joined and nothing is ever committed to Kafka.
 */
struct source *source_open_kafka(const struct source_kafka_config *cfg, struct lerr *err);

/*
 * The end offset of every partition of cfg's topic (or of every topic its
 * pattern matches) as the broker says now, within timeout_ms in all: where
 * "latest" starts for a job created at this moment. LERR_NOT_FOUND: the
 * named topic does not exist; LERR_UNAVAILABLE: no answer in time. A
 * pattern that matches nothing gives no offsets.
 */
int source_kafka_end_offsets(const struct source_kafka_config *cfg, int timeout_ms,
                             struct source_offsets *out, struct lerr *err);

/*
 * A Kinesis data stream (kinesis.c): the Kinesis JSON API over libcurl,
 * requests signed with AWS Signature V4 by libcurl (CURLOPT_AWS_SIGV4).
 * Strings are borrowed for the duration of source_open_kinesis() only.
 * Shards are partitions (shardId-000000000007 is partition 7, the stream's
 * name the topic); a position is a count of records taken (`next`, the
 * records' offsets) with the Kinesis position beside it (source_offset.pos:
 * "after:<sequence number>", "trim_horizon", "at:<epoch ms>" or "end" for a
 * closed shard read to its end). Lag is MillisBehindLatest, in milliseconds.
 */
struct source_kinesis_config {
    const char *stream;
    const char
        *endpoint;      /* "http(s)://host[:port]"; NULL: https://kinesis.<region>.amazonaws.com */
    const char *region; /* what requests are signed for */
    const char *access_key_id;     /* NULL: AWS_ACCESS_KEY_ID of the environment */
    const char *secret_access_key; /* never logged; NULL: AWS_SECRET_ACCESS_KEY */
    const char *session_token;     /* NULL: AWS_SESSION_TOKEN when the keys come from there */
    int shard_refresh_ms;          /* ListShards for new shards; 0 = 5000 */
    int timeout_ms;                /* one request; 0 = 10000 */
};

/*
 * A connection's write-only AWS keys ({"type": "aws_access_key" or
 * "access_key", "accessKeyId", "secretAccessKey"}; kinesis and s3) into
 * *key_id and *secret (pointing into secrets); both NULL when secrets is
 * NULL (the environment's keys then). LERR_INVALID naming "secrets".
 */
int source_aws_keys_from_json(const struct json_t *secrets, const char **key_id,
                              const char **secret, struct lerr *err);

/*
 * Objects of an S3 bucket as a batch job's files (s3.c). A connection
 * ("type": "s3": bucket, prefix, endpoint, region, secrets) or the server's
 * own S3 settings (AWS_*, --s3-endpoint) make the client; the job's
 * selection (objects, prefixes or a pattern under the connection's prefix,
 * or s3:// URIs and prefixes without a connection) is listed into
 * "s3://BUCKET/KEY" URIs, which source_open_files downloads one at a time.
 */
struct source_s3_config {
    const char *bucket;            /* NULL: none (s3:// URIs name theirs) */
    const char *prefix;            /* the keys the connection may read ("" all) */
    const char *endpoint;          /* NULL: the region's AWS endpoint (or AWS_ENDPOINT_URL) */
    const char *region;            /* NULL: AWS_REGION, else us-east-1 */
    const char *access_key_id;     /* NULL: AWS_ACCESS_KEY_ID of the environment */
    const char *secret_access_key; /* never logged; NULL: AWS_SECRET_ACCESS_KEY */
    const char *owner;             /* "connection 'lake'" for messages; NULL: the server's */
};

/* Fills cfg from a parsed s3 connection document and its secrets (or NULL). */
int source_s3_config_from_json(const struct json_t *conn, const struct json_t *secrets,
                               struct source_s3_config *cfg, struct lerr *err);
/* The client for cfg (s3.h). LERR_INVALID saying how to give missing credentials. */
int source_s3_client(const struct source_s3_config *cfg, struct s3_client **out, struct lerr *err);

/* What a job reads (each list may be empty; strings borrowed). */
struct source_s3_select {
    const char *const *objects; /* keys under the connection's prefix */
    size_t nobjects;
    const char *const *prefixes; /* under the connection's prefix, or "s3://BUCKET/P" */
    size_t nprefixes;
    const char *const *uris; /* "s3://BUCKET/KEY" */
    size_t nuris;
    const char *pattern; /* a glob over the keys under the connection's prefix, or NULL */
};

/*
 * The objects to read, as "s3://BUCKET/KEY" URIs (malloc'd, *out an array of
 * *n, free with source_s3_uris_free): objects and uris as they are, the
 * first 1000 checked with a HEAD (a missing one is LERR_NOT_FOUND naming
 * it, before any object is read), prefixes and the pattern listed
 * (ListObjectsV2; keys ending in '/', folder markers, are left out). A
 * prefix or pattern that matches nothing is LERR_NOT_FOUND naming it; a
 * bad URI LERR_INVALID; listing errors as s3.h reports them.
 */
int source_s3_uris(struct s3_client *c, const struct source_s3_config *cfg,
                   const struct source_s3_select *sel, char ***out, size_t *n, struct lerr *err);
void source_s3_uris_free(char **uris, size_t n);

/*
 * Does key match the glob pattern? '*' is any run of characters but '/',
 * '**' any run at all, '?' one character but '/', '[abc]' / '[a-z]' /
 * '[!abc]' one of a set, '\' quotes the next character.
 */
bool source_s3_glob(const char *pattern, const char *key);

/* "s3://BUCKET/KEY" into its bucket (cap bytes) and key (a pointer into uri); false if not one. */
bool source_s3_uri_split(const char *uri, char *bucket, size_t cap, const char **key);

/*
 * Fills cfg from a parsed kinesis connection document (stream, endpoint,
 * region; a bare host "kinesis.us-east-1.amazonaws.com" is https and names
 * its region) and its secrets ({"type": "aws_access_key" or "access_key",
 * "accessKeyId", "secretAccessKey"}, or NULL: the environment's keys).
 * LERR_INVALID naming the field. Strings point into `a` or the documents.
 */
int source_kinesis_config_from_json(const struct json_t *conn, const struct json_t *secrets,
                                    struct source_kinesis_config *cfg, struct arena *a,
                                    struct lerr *err);
/*
 * The region an AWS Kinesis endpoint names ("https://kinesis.eu-west-1.amazonaws.com" →
 * "eu-west-1") into out (cap bytes); false when the endpoint is not one of AWS's.
 */
bool source_kinesis_endpoint_region(const char *endpoint, char *out, size_t cap);

/*
 * Opens a Kinesis source (no request yet). LERR_INVALID for a bad config or
 * when no credentials are given and the environment has none (the message
 * says how to give them).
 */
struct source *source_open_kinesis(const struct source_kinesis_config *cfg, struct lerr *err);

/*
 * A push connection's log as a one-partition source: topic = `stream` (the
 * connection name), partition 0. Borrows `log`, which must outlive the
 * source. Records the log skips (damaged: gap.corrupt true; missing, e.g. a
 * deleted file: false) come as gaps whose reason names the file and bytes;
 * the position moves past them, never backwards. Assigning a start below the
 * log's start (trimmed) moves to the earliest offset with a gap; a start
 * past the log's end is LERR_CORRUPT (records were lost from the log: the
 * message says to reset the job), never a rewind.
 */
struct source *source_open_push(struct source_pushlog *log, const char *stream, struct lerr *err);

/*
 * A batch job's text (file.c): uploaded files read in turn (plain or gzip),
 * or inline data. Each record is a chunk of whole rows, about 2-4 MB: for
 * CSV-family texts (csv true) rows end at newlines outside quotes, and every
 * chunk after a file's first starts with that file's first prefix_rows rows
 * again (skipped rows and the header), so each chunk parses on its own.
 * Partition i is file i (topic = its name, "inline" for inline data), offsets
 * count its chunks. A poll returns one chunk, or end = true after the last.
 * A file that cannot be opened is LERR_NOT_FOUND naming it and how to upload
 * it again; a read error names the file. Files open lazily, in order.
 */
struct source_files_config {
    const char *dir;          /* where uploaded files are (dataDir/files); with s3, where
                               * each object is downloaded while it is read */
    const char *const *files; /* nfiles names in dir; NULL: inline data; with s3,
                               * "s3://BUCKET/KEY" URIs */
    struct s3_client *s3;     /* objects of an object store (the source owns the client,
                               * and frees it even when the open fails); NULL: files */
    size_t nfiles;
    const char *inline_data;
    size_t inline_len;
    bool csv;
    bool avro_ocf; /* Avro object container files: chunks of whole blocks after the header */
    uint32_t prefix_rows;
};
struct source *source_open_files(const struct source_files_config *cfg, struct lerr *err);

/*
 * Sets where every partition starts: its entry in `start` when there is one
 * (the checkpoint), else `default_start` (SOURCE_OFFSET_EARLIEST or _LATEST:
 * the job's readFromPoint). Entries of `start` for partitions that do not
 * exist (a topic re-created with fewer partitions) are ignored with a
 * warning in the log. Partitions discovered later always start at their
 * earliest offset: they were created after the job started, so all of their
 * data is new to it. Kafka: fetches metadata (up to timeout_ms); an unknown
 * topic is LERR_NOT_FOUND naming it; an unreachable broker is not an error
 * here (health warns, poll keeps trying). May be called again to re-seek
 * (after a reset).
 */
int source_assign(struct source *s, const struct source_offsets *start, int64_t default_start,
                  struct lerr *err);

/*
 * Several nodes reading one stream (ingest/stream.c in a cluster): from the
 * next source_assign() on, only the partitions named in `only` (their
 * offsets are ignored) are assigned, new ones included; NULL lifts the
 * limit. source_stream_partitions() lists every partition the source saw
 * in its metadata, assigned or not (next = 0), so the caller can divide
 * them. Kafka only: other sources return LERR_INVALID. Poll thread (or the fetcher paused) for
 * source_only; source_stream_partitions is thread-safe.
 */
int source_only(struct source *s, const struct source_offsets *only, struct lerr *err);
int source_stream_partitions(struct source *s, struct source_offsets *out, struct lerr *err);
/* The partition's end (high watermark) as the broker says now, waiting up
 * to timeout_ms: where a node that took a partition over must read up to
 * before its rows are whole again. Kafka only. Thread-safe. */
int source_end_offset(struct source *s, const char *topic, int32_t partition, int timeout_ms,
                      int64_t *out, struct lerr *err);

/*
 * Waits up to timeout_ms for records, then returns what is ready, at most
 * max_records. The records, the bytes they point to and the gaps are copied
 * into `mem` (the caller's arena; nothing of the batch is in the source's own
 * memory), so they stay valid until the caller resets it. out->n == 0 on a
 * timeout. Errors are fatal for the current position (LERR_NOT_FOUND: the
 * topic was deleted; LERR_NOMEM: `mem` reached its cap, the batch is lost
 * and the caller must start again from a checkpoint); damaged push-log
 * records are gaps, not errors; an unreachable broker is not an error (see
 * source_health). Single caller thread.
 */
int source_poll(struct source *s, struct arena *mem, size_t max_records, int timeout_ms,
                struct source_batch *out, struct lerr *err);

/*
 * The next offset of every assigned partition: one past the last record
 * returned by source_poll() (or the start when none was read yet). What the
 * runner stores at persist time, having processed every polled record.
 * Replaces out's contents.
 */
int source_position(struct source *s, struct source_offsets *out, struct lerr *err);

/* A snapshot of every partition with offsets and lag (*out malloc'd; free()).
 * Thread-safe: the API thread may call it while the runner polls. */
int source_partitions(struct source *s, struct source_partition **out, size_t *n,
                      struct lerr *err);
/* Total lag over partitions (each clamped at 0), or -1 when none is known
 * yet. Thread-safe. */
int64_t source_lag(struct source *s);

enum { SOURCE_HEALTH_OK = 0, SOURCE_HEALTH_WARN = 1 };
/*
 * SOURCE_HEALTH_OK, or SOURCE_HEALTH_WARN with a message in msg, e.g.
 * "broker 127.0.0.1:9092 unreachable for 12 s: Connection refused"; the
 * warning clears itself when the broker answers again. Thread-safe.
 */
int source_health(struct source *s, char *msg, size_t cap);

/*
 * Whether the assignment is carried out: every assigned partition has a
 * concrete start offset, so source_position() is a checkpoint that a restart
 * can resume from. False before source_assign() and while a Kafka source
 * still waits for the metadata or offsets to carry it out (the poll that
 * completes it reports partitions_changed). Poll thread.
 */
bool source_ready(struct source *s);

/* Stops and frees. NULL is fine. */
void source_close(struct source *s);

/* ======================================================================== */
/* ---- the push log -------------------------------------------------------- */

/*
 * A durable single-partition stream in one directory: segment files
 * NNNNNNNNNNNNNNNNNNNN.log (20-digit base offset), records framed with
 * length and CRC-32C, offsets 0, 1, 2, ... Appends are group-committed: each
 * call returns once its records are on disk (fdatasync), and each call's
 * records are one unit — after a crash all of them are in the log or none.
 * Readers never block the writer and only see durable records. Damage is
 * never cut away: readers skip damaged or missing records and report them
 * (struct source_pushlog_skip); only a torn tail left by a crash is cut at open.
 */
#define PUSHLOG_MAX_RECORD_DEFAULT (1024 * 1024)
#define PUSHLOG_SEGMENT_DEFAULT (64 * 1024 * 1024)

struct source_pushlog_opts {
    size_t segment_bytes; /* roll past this; 0 = PUSHLOG_SEGMENT_DEFAULT */
    size_t max_record;    /* payload cap; 0 = PUSHLOG_MAX_RECORD_DEFAULT */
};

/*
 * Opens (creating) the log in dir and recovers it: a torn tail of the last
 * segment — bytes after the last complete unit with no good frame after
 * them — is cut (logged with the number of bytes cut). Damage with good
 * frames after it is kept, logged once, and skipped by readers; so are
 * segment files that are gone or short (logged once when a sealed file ends
 * before the next one's first offset). LERR_CONFLICT when another process
 * holds the log, LERR_IO.
 */
int source_pushlog_open(const char *dir, const struct source_pushlog_opts *opts,
                        struct source_pushlog **out, struct lerr *err);
/* No append, cursor or source may be in use. NULL is fine. */
void source_pushlog_close(struct source_pushlog *log);

struct source_pushlog_entry {
    const void *p;
    size_t len;
    int64_t ts_ms;
};

/*
 * Appends n records as one unit and returns after they are durable;
 * *first_offset (may be NULL) gets the first one's offset, the rest follow
 * densely. After a crash at any moment the log holds all n or none of them.
 * Thread-safe; concurrent calls share one write and one fdatasync.
 * LERR_TOO_LARGE when a record is over max_record (nothing is appended),
 * LERR_IO when a write or sync failed — the log then refuses appends until
 * reopened (after a failed fsync the page cache cannot be trusted).
 */
int source_pushlog_append(struct source_pushlog *log, const struct source_pushlog_entry *e,
                          size_t n, int64_t *first_offset, struct lerr *err);

/* The first retained offset and one past the last durable one. Thread-safe. */
int64_t source_pushlog_start_offset(struct source_pushlog *log);
int64_t source_pushlog_end_offset(struct source_pushlog *log);

/*
 * Deletes every sealed segment whose records are all below `offset` (the
 * minimum checkpoint of the jobs reading the log). Never cuts a segment in
 * two and never deletes the segment being written. *deleted (may be NULL)
 * gets the number of files removed. Thread-safe.
 */
int source_pushlog_trim(struct source_pushlog *log, int64_t offset, int *deleted,
                        struct lerr *err);

/* Counters since open, for metrics and benchmarks. Thread-safe. */
struct source_pushlog_stats {
    int64_t start_offset, end_offset;
    int64_t appends; /* source_pushlog_append calls that wrote records */
    int64_t groups;  /* write + fdatasync rounds; appends / groups = group size */
    uint64_t bytes;  /* framed bytes written */
    int segments;    /* files now */
};
void source_pushlog_get_stats(struct source_pushlog *log, struct source_pushlog_stats *out);

/* Wakes every reader waiting in source_pushlog_cursor_read() (shutdown). */
void source_pushlog_wakeup(struct source_pushlog *log);

struct source_pushlog_record {
    int64_t offset;
    int64_t ts_ms;
    const void *p;
    size_t len;
};
/* Offsets a reader will never return, and why. */
struct source_pushlog_skip {
    int64_t from, to; /* [from, to) */
    /* true: the bytes are damaged (checksum, framing); false: the records are
     * missing from the log (a deleted or short file). */
    bool corrupt;
    char why[200]; /* names the connection, the file and the byte range */
};
struct source_pushlog_batch {
    const struct source_pushlog_record *recs; /* valid until the next read, seek or close */
    size_t n;
    bool has_skip;
    struct source_pushlog_skip
        skip; /* when has_skip: comes before recs[0] (recs[0].offset >= to) */
};

struct source_pushlog_cursor;

/*
 * A reader at `offset` (or SOURCE_OFFSET_EARLIEST / SOURCE_OFFSET_LATEST).
 * An offset below the start (trimmed away) is LERR_NOT_FOUND, one past the
 * end LERR_INVALID; the messages say which offsets exist. An offset inside
 * damaged or missing records is fine: the first read reports the skip from
 * it. A cursor belongs to one thread; many cursors may read one log.
 */
int source_pushlog_cursor_open(struct source_pushlog *log, int64_t offset,
                               struct source_pushlog_cursor **out, struct lerr *err);
int source_pushlog_cursor_seek(struct source_pushlog_cursor *c, int64_t offset, struct lerr *err);
/*
 * Waits up to timeout_ms until a record at the cursor is durable, then reads
 * up to max_records of them (and about 1 MiB). out->n == 0 and !has_skip on
 * a timeout. Damaged or missing records are skipped: the batch then reports
 * the offsets passed over (out->skip, at most one per batch, before the
 * batch's records) and the cursor goes on after them; it never goes
 * backwards and never stops at damage. LERR_NOT_FOUND when the cursor's
 * records were trimmed away under it (seek to source_pushlog_start_offset() to go
 * on), LERR_IO.
 */
int source_pushlog_cursor_read(struct source_pushlog_cursor *c, size_t max_records, int timeout_ms,
                               struct source_pushlog_batch *out, struct lerr *err);
/* The offset the cursor reads from next: its next record's, or the start of
 * a skip it has not returned yet. */
int64_t source_pushlog_cursor_offset(const struct source_pushlog_cursor *c);
void source_pushlog_cursor_close(struct source_pushlog_cursor *c);

/* ======================================================================== */
/* ---- the development broker --------------------------------------------- */

struct source_devkafka_topic {
    const char *name;
    int partitions; /* >= 1 */
};

struct source_devkafka_opts {
    int port; /* 0 = any free loopback port */
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
