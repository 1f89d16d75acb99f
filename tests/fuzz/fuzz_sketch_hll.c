// SOURCES: src/sketch/hll.c src/sketch/hll_tables.c src/sketch/murmur3.c src/util/util.c
/*
 * fuzz_sketch_hll.c — libFuzzer target for reading HLL sketch images
 * (sketch/hll.h): arbitrary bytes go to sketch_hll_deserialize, which must
 * return a sketch or a CORRUPT error inside the input, never crash or read
 * outside it. A sketch it accepts is then used the way queries and
 * ingestion will: estimated with bounds, summarised, re-serialized in both
 * forms and read back (the same image and estimate), updated, converted to
 * every type, and unioned with itself and with a fixed sketch of each mode.
 *
 * The corpus (tests/fuzz/corpus/sketch_hll/) holds DataSketches' own images
 * from tests/data/datasketches/: LIST, SET and HLL modes of all three types.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sketch/hll.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_sketch_hll: %s\n", what);
    abort();
}

static struct sketch_hll *fixed[3];

static void make_fixed(void)
{
    static const int ns[3] = {3, 200, 20000};
    for (int i = 0; i < 3; i++) {
        struct lerr err;
        lerr_init(&err);
        fixed[i] = sketch_hll_new(11, (enum sketch_hll_type)i, &err);
        for (int v = 0; v < ns[i]; v++)
            sketch_hll_update_long(fixed[i], v, &err);
    }
}

static void check_round_trip(const struct sketch_hll *sk, bool compact)
{
    struct lerr err;
    lerr_init(&err);
    size_t n = sketch_hll_serialized_size(sk, compact);
    uint8_t *p = malloc(n);
    if (!p || sketch_hll_serialize(sk, compact, p, n, &err) != n)
        die("serialize failed");
    struct sketch_hll *back = sketch_hll_deserialize(p, n, &err);
    if (!back) {
        fprintf(stderr, "%s\n", err.msg);
        die("our own image did not read back");
    }
    double a = sketch_hll_estimate(sk), b = sketch_hll_estimate(back);
    if (!(a == b || (a != a && b != b)))
        die("estimate changed through a round trip");
    if (sketch_hll_serialized_size(back, compact) != n)
        die("image size changed through a round trip");
    sketch_hll_free(back);
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fixed[0])
        make_fixed();
    struct lerr err;
    lerr_init(&err);
    /* A copy of exactly `size` bytes, so ASan catches any read past it. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct sketch_hll *sk = sketch_hll_deserialize(copy, size, &err);
    if (!sk) {
        if (err.code != LERR_CORRUPT && err.code != LERR_NOMEM)
            die("a failed read must be CORRUPT or NOMEM");
        if (err.code == LERR_CORRUPT && (err.pos < 0 || (size_t)err.pos > size))
            die("error position outside the input");
        free(copy);
        return 0;
    }
    double lo, hi;
    for (int sd = 1; sd <= 3; sd++)
        if (sketch_hll_bounds(sk, sd, &lo, &hi, &err) != 0)
            die("bounds failed");
    (void)sketch_hll_estimate(sk);
    (void)sketch_hll_composite_estimate(sk);
    char text[1024];
    if (sketch_hll_to_string(sk, text, sizeof text) >= sizeof text)
        die("summary too long");
    check_round_trip(sk, true);
    check_round_trip(sk, false);

    for (int t = 0; t < 3; t++) {
        struct sketch_hll *c = sketch_hll_copy_as(sk, (enum sketch_hll_type)t, &err);
        if (!c)
            die("copy_as failed");
        check_round_trip(c, true);
        sketch_hll_free(c);
    }

    struct sketch_hll_union *u = sketch_hll_union_new(12, &err);
    if (!u)
        die("union_new failed");
    sketch_hll_union_update(u, sk, &err);
    sketch_hll_union_update(u, fixed[size % 3], &err);
    sketch_hll_union_update(u, sk, &err);
    struct sketch_hll *r = sketch_hll_union_result(u, (enum sketch_hll_type)(size % 3), &err);
    if (!r)
        die("union result failed");
    (void)sketch_hll_estimate(r);
    check_round_trip(r, true);
    sketch_hll_free(r);
    sketch_hll_union_free(u);

    /* Updates on a sketch read from anywhere stay in bounds. */
    for (int64_t v = 0; v < 64; v++)
        sketch_hll_update_long(sk, v * 7919 + (int64_t)size, &err);
    check_round_trip(sk, true);
    sketch_hll_free(sk);
    free(copy);
    return 0;
}
