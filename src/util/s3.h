/*
 * s3.h — a small client for S3 and S3-compatible object stores, over
 * libcurl and its built-in AWS Signature V4 (CURLOPT_AWS_SIGV4). For the
 * segment store (storage/segstore_s3.c) and, later, batch reads from S3.
 *
 * Entry points:
 *   s3_config_from_env()            credentials, region and endpoint from AWS_*
 *   s3_client_new() / s3_client_free()
 *   s3_put_file()                   PUT (multipart above the threshold)
 *   s3_get_file()                   GET into a local file
 *   s3_head(), s3_delete()
 *   s3_list()                       ListObjectsV2, every page
 *   s3_list_parse()                 one ListObjectsV2 page (fuzzed: tests/fuzz/fuzz_s3_list.c)
 *
 * Addressing: with an endpoint (AWS_ENDPOINT_URL, --s3-endpoint) requests
 * are path-style, ENDPOINT/BUCKET/KEY, as S3-compatible stores expect;
 * without one they go to AWS, virtual-host style:
 * https://BUCKET.s3.REGION.amazonaws.com/KEY.
 *
 * Signing: every request carries x-amz-content-sha256 (the payload's
 * SHA-256, or UNSIGNED-PAYLOAD for file bodies streamed from disk, whose
 * integrity the caller checks with its own checksum) and is signed by
 * libcurl as "aws:amz:REGION:s3".
 *
 * Retries: a connection error, a 5xx, 429 or SlowDown is retried with
 * exponential backoff (max_attempts in all); any other 4xx is final.
 *
 * Errors: 0 or an LERR_* code also set in err. LERR_NOT_FOUND for a key
 * that does not exist (GET, HEAD, DELETE is idempotent and never reports
 * it); LERR_IO for everything else, naming the operation, s3://BUCKET/KEY,
 * the HTTP status and S3's <Code>/<Message>, and what to check (the
 * credentials, the endpoint, the bucket); LERR_NOMEM.
 *
 * Thread-safety: a client may be used from any number of threads at once
 * (each request has its own curl handle; connections are shared).
 */
#ifndef LODESTAR_S3_H
#define LODESTAR_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

struct s3_config {
    const char *endpoint;         /* "http://127.0.0.1:9000"; NULL/"": AWS, virtual-host style */
    const char *region;           /* NULL/"": us-east-1 */
    const char *access_key;       /* required */
    const char *secret_key;       /* required */
    const char *session_token;    /* NULL/"": none */
    uint64_t multipart_threshold; /* objects above this are uploaded in parts (0: 64 MiB) */
    uint64_t part_size;           /* (0: 16 MiB; S3 wants >= 5 MiB except the last) */
    int max_attempts;             /* per request, retries included (0: 6) */
    int backoff_ms;               /* first retry's delay, doubling (0: 200; cap 10 s) */
    long timeout_s;               /* per attempt (0: 300) */
    /* Who set the bucket, endpoint and keys, for the advice in messages:
     * NULL, the server's settings (--segments, --s3-endpoint, AWS_*); else
     * e.g. "connection 'lake'" (its bucket, endpoint and secrets). */
    const char *owner;
};

/*
 * Fills cfg from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION (or AWS_DEFAULT_REGION) and AWS_ENDPOINT_URL; the strings are
 * the environment's (borrowed). Fields already set are kept. Never fails:
 * s3_client_new reports what is missing.
 */
void s3_config_from_env(struct s3_config *cfg);

struct s3_client;

/* Copies cfg. LERR_INVALID naming a missing credential or a bad endpoint. */
int s3_client_new(const struct s3_config *cfg, struct s3_client **out, struct lerr *err);
/* Requests of the calling thread stop retrying once the next attempt would
 * start past mono_ns (util_mono_ns; 0: retry max_attempts times, the
 * default): a query waits for the store no longer than its own timeout.
 * A store that cannot be reached is LERR_UNAVAILABLE either way. */
void s3_thread_deadline(int64_t mono_ns);
void s3_client_free(struct s3_client *c);

/* Is b an S3 bucket name: 3 to 63 of a-z 0-9 . -, starting and ending with a letter or digit? */
bool s3_bucket_name_ok(const char *b);

/* The endpoint requests go to (for messages): the configured one or AWS's. */
const char *s3_client_endpoint(const struct s3_client *c);

/* Object metadata the segment store uses: x-amz-meta-sha256. */
struct s3_object_info {
    uint64_t size;
    char sha256[65]; /* "" when the object has none */
};

/*
 * Uploads the local file `path` as bucket/key, with x-amz-meta-sha256:
 * `sha256` when not NULL. Files above the threshold go up in parts
 * (CreateMultipartUpload, UploadPart..., CompleteMultipartUpload; an
 * AbortMultipartUpload when a part fails for good). All or nothing: the
 * key is written only by the final request.
 */
int s3_put_file(struct s3_client *c, const char *bucket, const char *key, const char *path,
                const char *sha256, struct lerr *err);

/* Downloads bucket/key into the open file fd (truncated first and at each
 * retry); info (may be NULL) gets its size and metadata. */
int s3_get_file(struct s3_client *c, const char *bucket, const char *key, int fd,
                struct s3_object_info *info, struct lerr *err);

int s3_head(struct s3_client *c, const char *bucket, const char *key, struct s3_object_info *info,
            struct lerr *err);

/* Deletes bucket/key; a key that does not exist is not an error (S3 says 204 too). */
int s3_delete(struct s3_client *c, const char *bucket, const char *key, struct lerr *err);

/* Called once per key by s3_list, with its size and LastModified (Unix ms; -1 when the listing
 * gives none); non-zero stops the listing and is returned. */
typedef int (*s3_list_fn)(void *ctx, const char *key, uint64_t size, int64_t modified_ms);

/* Every key under prefix ("" = the whole bucket), page after page
 * (continuation tokens). */
int s3_list(struct s3_client *c, const char *bucket, const char *prefix, s3_list_fn fn, void *ctx,
            struct lerr *err);

/*
 * One ListObjectsV2 response body: fn for each <Contents>'s <Key> and <Size>;
 * *truncated from <IsTruncated>, and the <NextContinuationToken> into
 * token (cap bytes; "" when none). Entities are decoded. LERR_INVALID (a
 * message naming the byte offset) for a body that is not such a document,
 * or that nests deeper or holds longer text than a real one ever does.
 */
int s3_list_parse(const char *xml, size_t n, s3_list_fn fn, void *ctx, bool *truncated,
                  char *token, size_t cap, struct lerr *err);

#endif
