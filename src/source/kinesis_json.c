/*
 * kinesis_json.c — the Kinesis JSON API's responses read into C (kinesis_int.h):
 * ListShards pages, GetShardIterator, GetRecords (base64 Data decoded into
 * the caller's arena) and error bodies classified into what the reader does
 * next. Bodies come from the network: every member is checked before use.
 *
 * Entry points: source__kin_shard_number(), source__kin_parse_shards(),
 * source__kin_parse_iterator(), source__kin_parse_records(),
 * source__kin_records_free(), source__kin_parse_error().
 */
#include "source/kinesis_int.h"
#include "util/vec.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A response holds at most this many records (GetRecords' Limit is 10,000). */
#define MAX_RECORDS 10000

bool source__kin_shard_number(const char *id, int32_t *out)
{
    static const char prefix[] = "shardId-";
    if (!id || strncmp(id, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *d = id + sizeof prefix - 1;
    size_t n = strlen(d);
    if (n == 0 || n > 20)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
        v = v * 10 + (d[i] - '0');
        if (v > INT32_MAX)
            return false;
    }
    *out = (int32_t)v;
    return true;
}

static json_t *load(const char *body, size_t len, const char *op, struct lerr *err)
{
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) {
        lerr_set(err, LERR_INVALID, "Kinesis %s: the response is not JSON (byte %d: %s)", op,
                 je.position, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        lerr_set(err, LERR_INVALID, "Kinesis %s: the response is not a JSON object", op);
        return NULL;
    }
    return root;
}

/* An optional shard-id member as a partition (-1 when absent or null). */
static int parent_of(json_t *sh, const char *key, size_t i, int32_t *out, struct lerr *err)
{
    json_t *v = json_object_get(sh, key);
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || !source__kin_shard_number(json_string_value(v), out))
        return lerr_set(err, LERR_INVALID,
                        "Kinesis ListShards: Shards[%zu].%s is not a shard id (shardId-NNN)", i,
                        key);
    return 0;
}

int source__kin_parse_shards(const char *body, size_t len, struct source__kin_shard **shards,
                             size_t *n, size_t *alloc, char *next_token, size_t cap,
                             struct lerr *err)
{
    if (cap)
        next_token[0] = '\0';
    json_t *root = load(body, len, "ListShards", err);
    if (!root)
        return err->code;
    int rc = 0;
    json_t *arr = json_object_get(root, "Shards");
    if (!json_is_array(arr)) {
        rc = lerr_set(err, LERR_INVALID, "Kinesis ListShards: the response has no Shards array");
        goto done;
    }
    size_t i;
    json_t *sh;
    json_array_foreach(arr, i, sh) {
        const char *id = json_string_value(json_object_get(sh, "ShardId"));
        struct source__kin_shard s = {0};
        if (!id || strlen(id) > SOURCE__KIN_ID_MAX ||
            !source__kin_shard_number(id, &s.partition)) {
            rc = lerr_set(err, LERR_INVALID,
                          "Kinesis ListShards: Shards[%zu].ShardId is not a shard id "
                          "(shardId-NNN)",
                          i);
            goto done;
        }
        snprintf(s.id, sizeof s.id, "%s", id);
        if ((rc = parent_of(sh, "ParentShardId", i, &s.parent, err)) ||
            (rc = parent_of(sh, "AdjacentParentShardId", i, &s.adjacent, err)))
            goto done;
        json_t *range = json_object_get(sh, "SequenceNumberRange");
        json_t *end = json_is_object(range) ? json_object_get(range, "EndingSequenceNumber")
                                            : NULL;
        s.closed = json_is_string(end);
        if (*n == *alloc) {
            struct source__kin_shard *g = vec_grow(*shards, alloc, *n + 1, sizeof *g, 8);
            if (!g) {
                rc = lerr_set(err, LERR_NOMEM, "Kinesis ListShards: out of memory");
                goto done;
            }
            *shards = g;
        }
        (*shards)[(*n)++] = s;
    }
    json_t *tok = json_object_get(root, "NextToken");
    if (json_is_string(tok)) {
        if (json_string_length(tok) >= cap) {
            rc = lerr_set(err, LERR_INVALID, "Kinesis ListShards: NextToken is over %zu bytes",
                          cap - 1);
            goto done;
        }
        snprintf(next_token, cap, "%s", json_string_value(tok));
    }
done:
    json_decref(root);
    return rc;
}

int source__kin_parse_iterator(const char *body, size_t len, char **out, struct lerr *err)
{
    *out = NULL;
    json_t *root = load(body, len, "GetShardIterator", err);
    if (!root)
        return err->code;
    json_t *it = json_object_get(root, "ShardIterator");
    int rc = 0;
    if (!json_is_string(it) || json_string_length(it) == 0 ||
        json_string_length(it) > SOURCE__KIN_ITER_MAX)
        rc = lerr_set(err, LERR_INVALID,
                      "Kinesis GetShardIterator: the response has no ShardIterator");
    else if (!(*out = strdup(json_string_value(it))))
        rc = lerr_set(err, LERR_NOMEM, "Kinesis GetShardIterator: out of memory");
    json_decref(root);
    return rc;
}

/* 6 bits of a base64 character, or -1. */
static int b64(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding into out (at least len / 4 * 3 bytes); -1 when not base64. */
static ssize_t b64_decode(const char *s, size_t len, char *out)
{
    if (len % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int a = b64((unsigned char)s[i]), b = b64((unsigned char)s[i + 1]);
        bool last = i + 4 == len;
        int c = last && s[i + 2] == '=' ? -2 : b64((unsigned char)s[i + 2]);
        int d = last && s[i + 3] == '=' ? -2 : b64((unsigned char)s[i + 3]);
        if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2))
            return -1;
        out[o++] = (char)(a << 2 | b >> 4);
        if (c >= 0)
            out[o++] = (char)((b & 15) << 4 | c >> 2);
        if (d >= 0)
            out[o++] = (char)((c & 3) << 6 | d);
    }
    return (ssize_t)o;
}

static bool digits(const char *s, size_t n)
{
    if (n == 0 || n > SOURCE__KIN_SEQ_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

void source__kin_records_free(struct source__kin_records *r)
{
    free(r->recs);
    free(r->next_iterator);
    memset(r, 0, sizeof *r);
}

int source__kin_parse_records(const char *body, size_t len, struct arena *mem,
                              struct source__kin_records *out, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    out->millis_behind = -1;
    json_t *root = load(body, len, "GetRecords", err);
    if (!root)
        return err->code;
    int rc = 0;
    json_t *arr = json_object_get(root, "Records");
    if (!json_is_array(arr) || json_array_size(arr) > MAX_RECORDS) {
        rc = lerr_set(err, LERR_INVALID,
                      "Kinesis GetRecords: the response has no Records array of at most %d",
                      MAX_RECORDS);
        goto done;
    }
    size_t n = json_array_size(arr);
    if (n && !(out->recs = calloc(n, sizeof *out->recs))) {
        rc = lerr_set(err, LERR_NOMEM, "Kinesis GetRecords: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(arr, i);
        struct source__kin_record *kr = &out->recs[i];
        json_t *data = json_object_get(r, "Data"), *key = json_object_get(r, "PartitionKey"),
               *seq = json_object_get(r, "SequenceNumber"),
               *ts = json_object_get(r, "ApproximateArrivalTimestamp");
        if (!json_is_string(seq) || !digits(json_string_value(seq), json_string_length(seq))) {
            rc = lerr_set(err, LERR_INVALID,
                          "Kinesis GetRecords: Records[%zu].SequenceNumber is not 1..%d decimal "
                          "digits",
                          i, SOURCE__KIN_SEQ_MAX);
            goto done;
        }
        memcpy(kr->seq, json_string_value(seq), json_string_length(seq) + 1);
        if (!json_is_string(data)) {
            rc = lerr_set(err, LERR_INVALID,
                          "Kinesis GetRecords: Records[%zu] (sequence number %s) has no Data", i,
                          kr->seq);
            goto done;
        }
        size_t dl = json_string_length(data);
        char *d = arena_alloc(mem, dl / 4 * 3 + 1);
        if (!d) {
            rc = lerr_set(err, LERR_NOMEM, "out of memory for a Kinesis batch");
            goto done;
        }
        ssize_t got = b64_decode(json_string_value(data), dl, d);
        if (got < 0) {
            rc = lerr_set(err, LERR_INVALID,
                          "Kinesis GetRecords: Records[%zu].Data (sequence number %s) is not "
                          "base64",
                          i, kr->seq);
            goto done;
        }
        d[got] = '\0';
        kr->data = d;
        kr->len = (size_t)got;
        if (json_is_string(key)) {
            if (!(kr->key = arena_strndup(mem, json_string_value(key), json_string_length(key)))) {
                rc = lerr_set(err, LERR_NOMEM, "out of memory for a Kinesis batch");
                goto done;
            }
            kr->key_len = json_string_length(key);
        }
        /* Epoch seconds with a fraction (AWS sends e.g. 1.700000000123E9). */
        kr->ts_ms = json_is_number(ts) && isfinite(json_number_value(ts)) &&
                            json_number_value(ts) >= 0 && json_number_value(ts) < 1e11
                        ? (int64_t)llround(json_number_value(ts) * 1000.0)
                        : -1;
        out->n = i + 1;
    }
    json_t *next = json_object_get(root, "NextShardIterator");
    if (json_is_string(next)) {
        if (json_string_length(next) == 0 || json_string_length(next) > SOURCE__KIN_ITER_MAX) {
            rc = lerr_set(err, LERR_INVALID,
                          "Kinesis GetRecords: NextShardIterator is empty or over %d bytes",
                          SOURCE__KIN_ITER_MAX);
            goto done;
        }
        if (!(out->next_iterator = strdup(json_string_value(next)))) {
            rc = lerr_set(err, LERR_NOMEM, "Kinesis GetRecords: out of memory");
            goto done;
        }
    } else if (next && !json_is_null(next)) {
        rc = lerr_set(err, LERR_INVALID, "Kinesis GetRecords: NextShardIterator is not a string");
        goto done;
    }
    json_t *mb = json_object_get(root, "MillisBehindLatest");
    if (json_is_integer(mb) && json_integer_value(mb) >= 0)
        out->millis_behind = json_integer_value(mb);
done:
    json_decref(root);
    if (rc)
        source__kin_records_free(out);
    return rc;
}

enum source__kin_fail source__kin_parse_error(long status, const char *body, size_t len, char *msg,
                                              size_t cap)
{
    char type[128] = "";
    char text[300] = "";
    json_t *root = json_loadb(body, len, 0, NULL);
    if (json_is_object(root)) {
        const char *t = json_string_value(json_object_get(root, "__type"));
        const char *m = json_string_value(json_object_get(root, "message"));
        if (!m)
            m = json_string_value(json_object_get(root, "Message"));
        if (t) {
            const char *hash = strrchr(t, '#'); /* "com.amazonaws.kinesis.v20131202#Name" */
            snprintf(type, sizeof type, "%s", hash ? hash + 1 : t);
        }
        if (m)
            snprintf(text, sizeof text, "%s", m);
    }
    json_decref(root);
    if (!type[0])
        snprintf(type, sizeof type, "HTTP %ld", status);
    if (text[0])
        snprintf(msg, cap, "%s: %s", type, text);
    else
        snprintf(msg, cap, "%s", type);
    static const char *const retry[] = {"ProvisionedThroughputExceededException",
                                        "LimitExceededException",
                                        "KMSThrottlingException",
                                        "ThrottlingException",
                                        "ServiceUnavailable",
                                        "InternalFailure",
                                        "InternalServerError",
                                        "ResourceInUseException",
                                        NULL};
    static const char *const auth[] = {"UnrecognizedClientException",
                                       "InvalidSignatureException",
                                       "MissingAuthenticationTokenException",
                                       "IncompleteSignatureException",
                                       "AccessDeniedException",
                                       "ExpiredTokenException",
                                       "KMSAccessDeniedException",
                                       "InvalidClientTokenId",
                                       "SignatureDoesNotMatch",
                                       NULL};
    for (size_t i = 0; retry[i]; i++)
        if (strcasecmp(type, retry[i]) == 0)
            return KIN_F_RETRY;
    for (size_t i = 0; auth[i]; i++)
        if (strcasecmp(type, auth[i]) == 0)
            return KIN_F_AUTH;
    if (strcmp(type, "ExpiredIteratorException") == 0)
        return KIN_F_EXPIRED;
    if (strcmp(type, "ResourceNotFoundException") == 0)
        return KIN_F_NOTFOUND;
    if (status >= 500 || status == 429 || status == 0)
        return KIN_F_RETRY;
    if (status == 403)
        return KIN_F_AUTH;
    return KIN_F_OTHER;
}
