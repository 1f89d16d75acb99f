// SOURCES: src/api/multipart.c src/util/util.c
/*
 * fuzz_multipart.c — libFuzzer target for the streaming multipart/form-data
 * reader (src/api/multipart.c). The first byte picks a chunk size; the rest
 * is the body, read with the boundary "Bz". The same body fed in one piece
 * and in chunks must give the same parts, bytes and outcome (the reader must
 * not depend on where chunks end), a part's data never holds the delimiter,
 * and an accepted body ends with the closing boundary.
 */
#include "api/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct trace {
    unsigned char sum[64];
    size_t bytes;
    int parts, ends;
    char last[4096]; /* the tail of the current part's data */
    size_t nlast;
};

static void die(const char *why)
{
    fprintf(stderr, "fuzz_multipart: %s\n", why);
    abort();
}

static int on_begin(void *ctx, const struct multipart_part *p, struct lerr *err)
{
    (void)err;
    struct trace *t = ctx;
    t->parts++;
    t->nlast = 0;
    if (p->has_filename && strlen(p->filename) != p->filename_len)
        die("a filename with a NUL was accepted");
    return 0;
}

static int on_data(void *ctx, const char *p, size_t n, struct lerr *err)
{
    (void)err;
    struct trace *t = ctx;
    for (size_t i = 0; i < n; i++) {
        t->sum[(t->bytes + i) % 64] ^= (unsigned char)p[i];
        if (t->nlast == sizeof t->last) {
            memmove(t->last, t->last + 1, sizeof t->last - 1);
            t->nlast--;
        }
        t->last[t->nlast++] = p[i];
        if (t->nlast >= 6 && memcmp(t->last + t->nlast - 6, "\r\n--Bz", 6) == 0)
            die("part data holds the delimiter");
    }
    t->bytes += n;
    return 0;
}

static int on_end(void *ctx, struct lerr *err)
{
    (void)err;
    ((struct trace *)ctx)->ends++;
    return 0;
}

static int run(const char *p, size_t n, size_t step, struct trace *t)
{
    memset(t, 0, sizeof *t);
    struct multipart m;
    struct lerr err;
    lerr_init(&err);
    multipart_init(&m, "Bz", &(struct multipart_handler){on_begin, on_data, on_end, t});
    int rc = 0;
    for (size_t at = 0; at < n && !rc; at += step)
        rc = multipart_feed(&m, p + at, n - at < step ? n - at : step, &err);
    if (!rc)
        rc = multipart_finish(&m, &err);
    multipart_destroy(&m);
    return rc;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = 1 + data[0] % 17;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    struct trace whole, chunked;
    int a = run(body, n, n ? n : 1, &whole);
    int b = run(body, n, step, &chunked);
    if (a != b)
        die("the outcome depends on the chunk size");
    if (a == 0 && (whole.parts != chunked.parts || whole.bytes != chunked.bytes ||
                   whole.ends != chunked.ends || memcmp(whole.sum, chunked.sum, 64) != 0))
        die("the parts depend on the chunk size");
    if (a == 0 && (n < 6 || !memmem(body, n, "--Bz--", 6)))
        die("a body without its closing boundary was accepted");
    return 0;
}
