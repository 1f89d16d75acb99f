/*
 * multipart.h — a streaming reader of multipart/form-data bodies (RFC 7578,
 * RFC 2046 §5.1) for file uploads: the body arrives in chunks of any size,
 * each part's data is handed on as it arrives (never held whole), and every
 * way a body can be wrong is an error that says where.
 *
 * libmicrohttpd's post processor was used before; it accepted a body without
 * its closing boundary (storing the file a few bytes short), cut a filename
 * at an escaped quote, and could not tell a NUL in a filename from no file.
 * This one is small, has no HTTP dependency, is fuzzed
 * (tests/fuzz/fuzz_multipart.c) and unit-tested (tests/unit/test_multipart.c).
 *
 * Entry points: multipart_boundary() (from a Content-Type header),
 * multipart_init(), multipart_feed(), multipart_finish(), multipart_destroy().
 */
#ifndef LODESTAR_API_MULTIPART_H
#define LODESTAR_API_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define MULTIPART_BOUNDARY_MAX 70   /* RFC 2046 */
#define MULTIPART_HEADERS_MAX 16384 /* a part's header block */
#define MULTIPART_NAME_MAX 1024

/* A part as its headers describe it. Strings are NUL-terminated copies;
 * has_filename tells a file part from a plain field. */
struct multipart_part {
    char name[MULTIPART_NAME_MAX + 1];
    char filename[MULTIPART_NAME_MAX + 1];
    size_t filename_len; /* may be less than strlen() never: a NUL is an error */
    bool has_filename;
};

struct multipart_handler {
    /* A part starts. Return 0, or an LERR code (set in err) to stop. */
    int (*begin)(void *ctx, const struct multipart_part *part, struct lerr *err);
    /* Bytes of the current part's data, in order. */
    int (*data)(void *ctx, const char *p, size_t n, struct lerr *err);
    /* The current part ended with its delimiter. */
    int (*end)(void *ctx, struct lerr *err);
    void *ctx;
};

struct multipart {
    struct multipart_handler h;
    char delim[MULTIPART_BOUNDARY_MAX + 5]; /* "\r\n--" + boundary */
    size_t dlen;
    int state;
    char *hold; /* bytes that may start a delimiter, or a part's headers */
    size_t nhold, cap;
    uint64_t offset; /* body bytes consumed, for messages */
    int parts;
    bool failed;
};

/*
 * The boundary parameter of a Content-Type value
 * ("multipart/form-data; boundary=XYZ", quoted or not) into out. LERR_INVALID
 * when the type is not multipart/form-data or the boundary is missing, empty,
 * longer than 70 bytes or holds bytes RFC 2046 does not allow.
 */
int multipart_boundary(const char *content_type, char *out, size_t cap, struct lerr *err);

void multipart_init(struct multipart *m, const char *boundary, const struct multipart_handler *h);
/* Feeds the next n bytes of the body. 0 or an LERR code (err set): the first
 * error sticks, later calls return it again. */
int multipart_feed(struct multipart *m, const char *p, size_t n, struct lerr *err);
/* The body ended: LERR_INVALID unless its closing boundary was read. */
int multipart_finish(struct multipart *m, struct lerr *err);
void multipart_destroy(struct multipart *m);

#endif
