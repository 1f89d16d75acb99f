// SOURCES: src/sketch/theta.c src/sketch/murmur3.c src/util/util.c src/util/num.c
/*
 * fuzz_sketch_theta.c — libFuzzer target for reading theta sketches
 * (sketch/theta.h): arbitrary bytes go to sketch_theta_compact_deserialize,
 * whole and split in two at a point the first byte chooses. Must never
 * crash or read outside the input. Whatever is read must also behave:
 * estimate and bounds are finite with lower <= estimate <= upper; it
 * re-serializes (plain and compressed) to bytes that read back and
 * serialize again to the same bytes; A-not-A is empty of hashes; A ∩ A
 * keeps no more than A; unions, intersections and A-not-B of the two
 * halves finish with finite estimates. A failure always comes with a
 * message.
 *
 * Seed corpus: tests/fuzz/corpus/sketch_theta/ (DataSketches' own small
 * files from tests/data/datasketches/).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sketch/theta.h"
#include "util/util.h"

static void check_estimates(const struct sketch_theta_compact *c)
{
    double e = sketch_theta_compact_estimate(c);
    if (!isfinite(e) || e < 0)
        abort();
    for (int sd = 1; sd <= 3; sd++) {
        double lb = sketch_theta_compact_lower_bound(c, sd),
               ub = sketch_theta_compact_upper_bound(c, sd);
        if (!(lb <= e && e <= ub) || !isfinite(ub))
            abort();
    }
    char buf[1024];
    sketch_theta_compact_to_string(c, buf, sizeof buf);
}

static void check_round_trip(const struct sketch_theta_compact *c, bool compressed)
{
    struct lerr err;
    lerr_init(&err);
    uint8_t *b = NULL, *b2 = NULL;
    size_t n = 0, n2 = 0;
    if (sketch_theta_compact_serialize(c, compressed, &b, &n, &err))
        return; /* out of memory only */
    struct sketch_theta_compact *d =
        sketch_theta_compact_deserialize(b, n, SKETCH_DEFAULT_SEED, &err);
    if (!d)
        abort(); /* what we write we must read */
    if (sketch_theta_compact_serialize(d, compressed, &b2, &n2, &err) == 0) {
        if (n2 != n || memcmp(b, b2, n) != 0)
            abort();
        free(b2);
    }
    if (sketch_theta_compact_estimate(d) != sketch_theta_compact_estimate(c))
        abort();
    sketch_theta_compact_free(d);
    free(b);
}

static struct sketch_theta_compact *read_one(const uint8_t *p, size_t n)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_compact *c =
        sketch_theta_compact_deserialize(p, n, SKETCH_DEFAULT_SEED, &err);
    if (!c && (err.code == LERR_OK || !err.msg[0]))
        abort(); /* a failure without a message */
    return c;
}

static void setops(const struct sketch_theta_compact *a, const struct sketch_theta_compact *b)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_config cfg;
    sketch_theta_config_default(&cfg);
    cfg.nominal_entries = 1024; /* small, so that results get trimmed */
    struct sketch_theta_union *u = sketch_theta_union_new(&cfg, &err);
    if (u) {
        sketch_theta_union_add(u, a, &err);
        sketch_theta_union_add(u, b, &err);
        struct sketch_theta_compact *r = sketch_theta_union_result(u, true, &err);
        if (r) {
            check_estimates(r);
            if (sketch_theta_compact_num_retained(r) > 1024)
                abort();
            sketch_theta_compact_free(r);
        }
        sketch_theta_union_free(u);
    }
    struct sketch_theta_intersection *x = sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &err);
    if (x) {
        sketch_theta_intersection_add(x, a, &err);
        sketch_theta_intersection_add(x, b, &err);
        struct sketch_theta_compact *r = sketch_theta_intersection_result(x, false, &err);
        if (r) {
            check_estimates(r);
            sketch_theta_compact_free(r);
        }
        sketch_theta_intersection_free(x);
    }
    struct sketch_theta_compact *r = sketch_theta_a_not_b(a, b, true, SKETCH_DEFAULT_SEED, &err);
    if (r) {
        check_estimates(r);
        if (sketch_theta_compact_num_retained(r) > sketch_theta_compact_num_retained(a))
            abort();
        sketch_theta_compact_free(r);
    }
}

static void self_ops(const struct sketch_theta_compact *a)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_compact *r = sketch_theta_a_not_b(a, a, false, SKETCH_DEFAULT_SEED, &err);
    if (r) {
        if (sketch_theta_compact_num_retained(r) != 0)
            abort();
        sketch_theta_compact_free(r);
    }
    struct sketch_theta_intersection *x = sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &err);
    if (x) {
        sketch_theta_intersection_add(x, a, &err);
        sketch_theta_intersection_add(x, a, &err);
        r = sketch_theta_intersection_result(x, true, &err);
        if (r) {
            if (sketch_theta_compact_num_retained(r) > sketch_theta_compact_num_retained(a))
                abort();
            sketch_theta_compact_free(r);
        }
        sketch_theta_intersection_free(x);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sketch_theta_compact *whole = read_one(data, size);
    if (whole) {
        check_estimates(whole);
        check_round_trip(whole, false);
        check_round_trip(whole, true);
        self_ops(whole);
        setops(whole, whole);
    }
    if (size > 1) {
        size_t cut = 1 + (size_t)data[0] * (size - 1) / 256;
        struct sketch_theta_compact *a = read_one(data + 1, cut - 1),
                                    *b = read_one(data + cut, size - cut);
        if (a && b)
            setops(a, b);
        if (a && whole)
            setops(whole, a);
        sketch_theta_compact_free(a);
        sketch_theta_compact_free(b);
    }
    sketch_theta_compact_free(whole);
    return 0;
}
