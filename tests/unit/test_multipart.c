/*
 * test_multipart.c — the streaming multipart/form-data reader: parts, names
 * and data exactly as sent, fed whole and split at every byte and in random
 * chunks; every malformed body an error that says what; the boundary from a
 * Content-Type header.
 */
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"
#include "check.h"

#define MAXP 8

struct got {
    int nparts;
    char names[MAXP][64];
    char files[MAXP][256];
    bool has_file[MAXP];
    char data[MAXP][4096];
    size_t len[MAXP];
    int ends;
};

static int on_begin(void *ctx, const struct multipart_part *p, struct lerr *err)
{
    (void)err;
    struct got *g = ctx;
    if (g->nparts == MAXP)
        return lerr_set(err, LERR_INVALID, "too many parts for the test");
    int k = g->nparts++;
    snprintf(g->names[k], sizeof g->names[k], "%s", p->name);
    snprintf(g->files[k], sizeof g->files[k], "%s", p->filename);
    g->has_file[k] = p->has_filename;
    return 0;
}

static int on_data(void *ctx, const char *p, size_t n, struct lerr *err)
{
    struct got *g = ctx;
    int k = g->nparts - 1;
    if (g->len[k] + n > sizeof g->data[k])
        return lerr_set(err, LERR_INVALID, "part too big for the test");
    memcpy(g->data[k] + g->len[k], p, n);
    g->len[k] += n;
    return 0;
}

static int on_end(void *ctx, struct lerr *err)
{
    (void)err;
    ((struct got *)ctx)->ends++;
    return 0;
}

/* Feeds body in pieces of `step` bytes (0: whole); returns the finishing code. */
static int run(const char *boundary, const char *body, size_t n, size_t step, struct got *g,
               struct lerr *err)
{
    memset(g, 0, sizeof *g);
    lerr_init(err);
    struct multipart m;
    struct multipart_handler h = {on_begin, on_data, on_end, g};
    multipart_init(&m, boundary, &h);
    int rc = 0;
    for (size_t at = 0; at < n && !rc;) {
        size_t k = step ? (n - at < step ? n - at : step) : n;
        rc = multipart_feed(&m, body + at, k, err);
        at += k;
    }
    if (!rc)
        rc = multipart_finish(&m, err);
    multipart_destroy(&m);
    return rc;
}

/* Every split must give the same parts as feeding the body whole. */
static void check_all_splits(const char *what, const char *boundary, const char *body, size_t n,
                             const struct got *want)
{
    struct got g;
    struct lerr err;
    for (size_t step = 1; step <= n + 1; step++) {
        int rc = run(boundary, body, n, step, &g, &err);
        bool same = rc == 0 && g.nparts == want->nparts && g.ends == want->ends;
        for (int k = 0; same && k < g.nparts; k++)
            same = strcmp(g.names[k], want->names[k]) == 0 &&
                   strcmp(g.files[k], want->files[k]) == 0 && g.len[k] == want->len[k] &&
                   memcmp(g.data[k], want->data[k], g.len[k]) == 0;
        CHECK_MSG(same, "%s: fed %zu bytes at a time: rc %d (%s), %d parts", what, step, rc,
                  err.msg, g.nparts);
        if (!same)
            return;
    }
}

#define BODY(s) s, sizeof(s) - 1

static void test_parts(void)
{
    const char body[] = "--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"meta\"\r\n\r\n"
                        "hello\r\n"
                        "--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"file\"; filename=\"a.json\"\r\n"
                        "Content-Type: application/json\r\n\r\n"
                        "{\"a\":1}\r\n{\"a\":2}\r\n\r\n"
                        "--XyZ\r\n"
                        "content-disposition: form-data; name=file; filename=\"b.csv\"\r\n\r\n"
                        "x,y\r\n-XyZ not a delimiter\r\n-- XyZ\r\n--Xy\r\n"
                        "--XyZ--\r\n";
    struct got g;
    struct lerr err;
    CHECK_EQ_INT(run("XyZ", BODY(body), 0, &g, &err), 0);
    CHECK_EQ_INT(g.nparts, 3);
    CHECK_EQ_INT(g.ends, 3);
    CHECK_EQ_STR(g.names[0], "meta");
    CHECK(!g.has_file[0]);
    CHECK_EQ_INT(g.len[0], 5);
    CHECK_EQ_STR(g.files[1], "a.json");
    CHECK(g.has_file[1]);
    CHECK_EQ_INT(g.len[1], 18); /* the last CRLF belongs to the delimiter */
    CHECK(memcmp(g.data[1], "{\"a\":1}\r\n{\"a\":2}\r\n", 18) == 0);
    CHECK_EQ_STR(g.files[2], "b.csv");
    const char d2[] = "x,y\r\n-XyZ not a delimiter\r\n-- XyZ\r\n--Xy";
    CHECK_EQ_INT(g.len[2], sizeof d2 - 1);
    CHECK(memcmp(g.data[2], d2, sizeof d2 - 1) == 0);
    check_all_splits("three parts", "XyZ", BODY(body), &g);
}

static void test_near_misses_and_splits(void)
{
    const char body[] = "preamble text\r\n"
                        "--b0undary\r\n"
                        "Content-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\r\n"
                        "\r\n--b0und\r\n-\r\n--b0undar\r\r\n\r\n--\r\n"
                        "--b0undary  \t\r\n"
                        "Content-Disposition: form-data; name=\"g\"; filename=\"y.bin\"\r\n\r\n"
                        "\r\n"
                        "--b0undary--\r\nepilogue --b0undary garbage";
    struct got want;
    struct lerr err;
    CHECK_EQ_INT(run("b0undary", BODY(body), 0, &want, &err), 0);
    CHECK_EQ_INT(want.nparts, 2);
    const char d0[] = "\r\n--b0und\r\n-\r\n--b0undar\r\r\n\r\n--";
    CHECK_EQ_INT(want.len[0], sizeof d0 - 1);
    CHECK(memcmp(want.data[0], d0, sizeof d0 - 1) == 0);
    CHECK_EQ_INT(want.len[1], 0);
    CHECK_EQ_STR(want.files[1], "y.bin");
    check_all_splits("near misses", "b0undary", BODY(body), &want);

    /* Binary data with every byte value, NULs included. */
    char bin[600];
    size_t n = 0;
    n += (size_t)sprintf(bin, "--B\r\nContent-Disposition: form-data; name=\"f\"; "
                              "filename=\"all.bin\"\r\n\r\n");
    for (int i = 0; i < 256; i++)
        bin[n++] = (char)i;
    memcpy(bin + n, "\r\n--B--", 7);
    n += 7;
    CHECK_EQ_INT(run("B", bin, n, 0, &want, &err), 0);
    CHECK_EQ_INT(want.len[0], 256);
    bool exact = want.len[0] == 256;
    for (int i = 0; exact && i < 256; i++)
        exact = (unsigned char)want.data[0][i] == i;
    CHECK(exact);
    check_all_splits("binary", "B", bin, n, &want);
}

static void test_filenames(void)
{
    struct got g;
    struct lerr err;
    const char quote[] = "--B\r\nContent-Disposition: form-data; name=\"file\"; "
                         "filename=\"q\\\"uote.json\"\r\n\r\nx\r\n--B--\r\n";
    CHECK_EQ_INT(run("B", BODY(quote), 0, &g, &err), 0);
    CHECK_EQ_STR(g.files[0], "q\"uote.json"); /* whole, for the caller to refuse */

    const char nul[] = "--B\r\nContent-Disposition: form-data; name=\"file\"; "
                       "filename=\"a\0b.json\"\r\n\r\nx\r\n--B--\r\n";
    CHECK_EQ_INT(run("B", BODY(nul), 0, &g, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "NUL") != NULL, "%s", err.msg);

    const char nodisp[] = "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--\r\n";
    CHECK_EQ_INT(run("B", BODY(nodisp), 0, &g, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "Content-Disposition") != NULL, "%s", err.msg);
}

static void test_malformed(void)
{
    struct got g;
    struct lerr err;
    /* No closing boundary: the data seen is not a whole file. */
    const char open_[] = "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
                         "\r\n0123456789\r\n";
    for (size_t step = 0; step <= 7; step++) {
        CHECK_EQ_INT(run("B", BODY(open_), step, &g, &err), LERR_INVALID);
        CHECK_MSG(strstr(err.msg, "cut short") != NULL, "%s", err.msg);
        CHECK_EQ_INT(g.ends, 0);
    }
    /* The closing boundary cut in the middle. */
    const char cut[] = "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n"
                       "\r\nabc\r\n--B-";
    CHECK_EQ_INT(run("B", BODY(cut), 0, &g, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "cut short") != NULL, "%s", err.msg);
    /* Nothing but a preamble. */
    CHECK_EQ_INT(run("B", BODY("just text\r\n"), 0, &g, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "no boundary line") != NULL, "%s", err.msg);
    /* Headers that never end. */
    char *big = malloc(40000);
    int n = sprintf(big, "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n");
    memset(big + n, 'h', 30000);
    CHECK_EQ_INT(run("B", big, (size_t)n + 30000, 1000, &g, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "longer than") != NULL, "%s", err.msg);
    free(big);
    /* Junk right after a boundary. */
    const char junk[] =
        "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--Bjunk\r\n";
    CHECK_EQ_INT(run("B", BODY(junk), 0, &g, &err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "after the boundary") != NULL, "%s", err.msg);
    /* A part without the empty line after its headers, then the end. */
    const char nohdrend[] = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n--B--";
    CHECK_EQ_INT(run("B", BODY(nohdrend), 0, &g, &err), LERR_INVALID);
}

static void test_boundary(void)
{
    char b[80];
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary("multipart/form-data; boundary=abc123", b, sizeof b, &err), 0);
    CHECK_EQ_STR(b, "abc123");
    CHECK_EQ_INT(multipart_boundary("Multipart/Form-Data;charset=utf-8; Boundary=\"a b:c\"", b,
                                    sizeof b, &err),
                 0);
    CHECK_EQ_STR(b, "a b:c");
    CHECK_EQ_INT(multipart_boundary("multipart/form-data; boundary=------------------------"
                                    "d74496d66958873e",
                                    b, sizeof b, &err),
                 0);
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary("application/json", b, sizeof b, &err),
                 LERR_UNSUPPORTED_MEDIA);
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary("multipart/form-data", b, sizeof b, &err), LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary("multipart/form-data; boundary=", b, sizeof b, &err),
                 LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary("multipart/form-data; boundary=\"a\"b\"", b, sizeof b, &err),
                 0);
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary("multipart/form-data; boundary=a<b", b, sizeof b, &err),
                 LERR_INVALID);
    char longb[200] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary(longb, b, sizeof b, &err), LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(multipart_boundary(NULL, b, sizeof b, &err), LERR_UNSUPPORTED_MEDIA);
}

/* Random bodies built from random parts, fed in random chunks, give back the parts. */
static void test_random(void)
{
    srand(7);
    for (int round = 0; round < 300; round++) {
        static char body[1 << 15];
        struct got want = {0};
        size_t n = 0;
        int parts = 1 + rand() % 4;
        for (int k = 0; k < parts; k++) {
            snprintf(want.names[k], sizeof want.names[k], "n%d", k);
            snprintf(want.files[k], sizeof want.files[k], "f%d.bin", k);
            n += (size_t)sprintf(body + n,
                                 "--Zz9\r\nContent-Disposition: form-data; name=\"n%d\"; "
                                 "filename=\"f%d.bin\"\r\n\r\n",
                                 k, k);
            want.len[k] = (size_t)(rand() % 2000);
            for (size_t i = 0; i < want.len[k]; i++) {
                /* mostly bytes that build near-delimiters */
                static const char alpha[] = "\r\n-Zz9a\0";
                want.data[k][i] = rand() % 4 ? alpha[rand() % 8] : (char)rand();
            }
            /* the real boundary must not occur in the data */
            for (size_t i = 0; i + 7 <= want.len[k]; i++)
                if (memcmp(want.data[k] + i, "\r\n--Zz9", 7) == 0)
                    want.data[k][i + 6] = 'x';
            memcpy(body + n, want.data[k], want.len[k]);
            n += want.len[k];
            memcpy(body + n, "\r\n", 2);
            n += 2;
        }
        memcpy(body + n, "--Zz9--", 7);
        n += 7;
        want.nparts = parts;
        want.ends = parts;
        struct got g;
        struct lerr err;
        size_t step = 1 + (size_t)(rand() % 300);
        int rc = run("Zz9", body, n, step, &g, &err);
        bool same = rc == 0 && g.nparts == parts;
        for (int k = 0; same && k < parts; k++)
            same = g.len[k] == want.len[k] && memcmp(g.data[k], want.data[k], g.len[k]) == 0 &&
                   strcmp(g.files[k], want.files[k]) == 0;
        CHECK_MSG(same, "random round %d (step %zu): rc %d %s", round, step, rc, err.msg);
    }
}

int main(void)
{
    test_parts();
    test_near_misses_and_splits();
    test_filenames();
    test_malformed();
    test_boundary();
    test_random();
    return check_summary();
}
