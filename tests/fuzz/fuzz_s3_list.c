// SOURCES: src/util/s3.c src/util/util.c src/util/civil.c src/util/tz.c src/util/time.c src/util/period.c src/util/joda.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_s3_list.c — libFuzzer target for the S3 client's XML reader
 * (util/s3.h: s3_list_parse, the ListObjectsV2 page reader, on the same
 * walker that reads S3's error bodies). Besides "no crash, no sanitizer
 * report" it checks: every key handed over is non-empty and NUL-free up to
 * its length, the continuation token fits its buffer, a failure comes with
 * a message, and a callback that stops at the first key stops the walk
 * with its own code and nothing else.
 */
#include <stdlib.h>
#include <string.h>

#include "util/s3.h"

struct seen {
    size_t n;
    int stop_at; /* 0: never */
};

static int on_key(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    (void)size, (void)modified_ms;
    struct seen *s = ctx;
    if (!key[0])
        abort(); /* the reader never hands over an empty key */
    s->n++;
    return s->stop_at && (int)s->n == s->stop_at ? 7 : 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char token[64];
    bool more = false;
    struct seen s = {0, 0};
    struct lerr err;
    lerr_init(&err);
    int rc = s3_list_parse((const char *)data, size, on_key, &s, &more, token, sizeof token, &err);
    if (rc != 0 && (rc != LERR_INVALID || !err.msg[0]))
        abort(); /* a failure is LERR_INVALID with a message */
    if (strlen(token) >= sizeof token)
        abort();
    if (rc == 0 && s.n > 0) { /* stop at the first key: the callback's code, no error */
        struct seen t = {0, 1};
        lerr_init(&err);
        rc = s3_list_parse((const char *)data, size, on_key, &t, &more, token, sizeof token, &err);
        if (rc != 7 || t.n != 1 || err.code)
            abort();
    }
    return 0;
}
