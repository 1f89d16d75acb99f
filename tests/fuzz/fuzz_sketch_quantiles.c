// SOURCES: src/sketch/quantiles.c src/util/util.c
/*
 * fuzz_sketch_quantiles.c — libFuzzer target for the classic quantiles
 * sketch (sketch/quantiles.h). The input is read two ways:
 *   1. as serialized sketch bytes: a failure must come with a message and a
 *      byte position inside the input; a sketch read is queried (quantiles
 *      ascend with the rank, ranks ascend with the value and lie in [0, 1],
 *      the PMF sums to 1), re-serialized in both forms (each reads back and
 *      writes the same bytes again), and merged into unions of smaller,
 *      equal and larger k (n adds up, min and max hold);
 *   2. as a stream of doubles (any bits: NaN, infinities, -0.0) into a small
 *      sketch whose k the first byte picks, so compaction runs on short
 *      inputs; then the same checks.
 * The seed corpus (tests/fuzz/corpus/sketch_quantiles/) is DataSketches'
 * own serialized sketches from tests/data/datasketches/.
 */
#include "sketch/quantiles.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *why)
{
    fprintf(stderr, "fuzz_sketch_quantiles: %s\n", why);
    abort();
}

static void check_queries(const struct sketch_quantiles *s)
{
    struct lerr e;
    lerr_init(&e);
    if (sketch_quantiles_is_empty(s))
        return;
    double mn = sketch_quantiles_min(s), mx = sketch_quantiles_max(s);
    if (!(mn <= mx))
        die("min > max");
    double ranks[11], qs[11], prev = -INFINITY;
    for (int i = 0; i <= 10; i++)
        ranks[i] = i / 10.0;
    for (int c = 0; c < 2; c++) {
        if (sketch_quantiles_quantiles(s, ranks, 11, c, qs, &e))
            die("quantiles failed");
        prev = -INFINITY;
        for (int i = 0; i <= 10; i++) {
            if (qs[i] < prev || qs[i] < mn || qs[i] > mx)
                die("quantiles out of order or outside [min, max]");
            prev = qs[i];
        }
        if (c == SKETCH_QUANTILES_INCLUSIVE && (qs[0] != mn || qs[10] != mx))
            die("INCLUSIVE quantile(0) is not min or quantile(1) not max");
        /* the split points: the quantiles, made unique */
        double sp[11], pmf[12], cdf[12];
        size_t m = 0;
        for (int i = 0; i <= 10; i++)
            if (m == 0 || qs[i] > sp[m - 1])
                sp[m++] = qs[i];
        if (sketch_quantiles_cdf(s, sp, m, c, cdf, &e) ||
            sketch_quantiles_pmf(s, sp, m, c, pmf, &e))
            die("cdf/pmf failed");
        double sum = 0, last = 0;
        for (size_t i = 0; i <= m; i++) {
            if (cdf[i] < last || cdf[i] > 1.0 || pmf[i] < -1e-12)
                die("cdf decreasing or outside [0, 1]");
            last = cdf[i];
            sum += pmf[i];
        }
        if (fabs(sum - 1.0) > 1e-9)
            die("pmf does not sum to 1");
        double r;
        if (sketch_quantiles_rank(s, mx, c, &r, &e))
            die("rank failed");
        if (c == SKETCH_QUANTILES_INCLUSIVE && r != 1.0)
            die("INCLUSIVE rank(max) is not 1");
        if (sketch_quantiles_rank(s, mn, SKETCH_QUANTILES_EXCLUSIVE, &r, &e) || r != 0.0)
            die("EXCLUSIVE rank(min) is not 0");
    }
    char *str = sketch_quantiles_to_string(s, 1, 1, &e);
    if (!str)
        die("to_string failed");
    free(str);
}

static void check_bytes(const struct sketch_quantiles *s)
{
    for (int compact = 0; compact < 2; compact++) {
        size_t size = sketch_quantiles_serialized_size(s, compact);
        unsigned char *b = malloc(size), *b2 = malloc(size);
        if (sketch_quantiles_serialize(s, compact, b, size) != size)
            die("serialize wrote a different size");
        struct lerr e;
        lerr_init(&e);
        struct sketch_quantiles *t = sketch_quantiles_deserialize(b, size, &e);
        if (!t) {
            fprintf(stderr, "%s\n", e.msg);
            die("our own bytes do not read back");
        }
        if (sketch_quantiles_n(t) != sketch_quantiles_n(s) ||
            sketch_quantiles_num_retained(t) != sketch_quantiles_num_retained(s))
            die("n or retained changed in a round trip");
        if (sketch_quantiles_serialize(t, compact, b2, size) != size || memcmp(b, b2, size))
            die("bytes changed in a round trip");
        sketch_quantiles_free(t);
        free(b);
        free(b2);
    }
}

static void check_merges(const struct sketch_quantiles *s)
{
    static const int ks[3] = {4, 128, 4096};
    for (int i = 0; i < 3; i++) {
        struct lerr e;
        lerr_init(&e);
        struct sketch_quantiles_union *u = sketch_quantiles_union_new(ks[i], &e);
        sketch_quantiles_union_seed(u, (uint64_t)i);
        for (int v = 0; v < 300; v++)
            sketch_quantiles_union_update_value(u, v, &e);
        if (sketch_quantiles_union_update(u, s, &e) || sketch_quantiles_union_update(u, s, &e))
            die("union update failed");
        struct sketch_quantiles *r = sketch_quantiles_union_result(u, &e);
        if (!r)
            die("union result failed");
        if (sketch_quantiles_n(r) != 300 + 2 * sketch_quantiles_n(s))
            die("union n does not add up");
        if (!sketch_quantiles_is_empty(s) &&
            (sketch_quantiles_min(r) != fmin(0, sketch_quantiles_min(s)) ||
             sketch_quantiles_max(r) != fmax(299, sketch_quantiles_max(s))))
            die("union min/max wrong");
        check_queries(r);
        sketch_quantiles_free(r);
        sketch_quantiles_union_free(u);
    }
}

static void check_all(const struct sketch_quantiles *s)
{
    check_queries(s);
    check_bytes(s);
    check_merges(s);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles *s = sketch_quantiles_deserialize(data, size, &e);
    if (s) {
        check_all(s);
        sketch_quantiles_free(s);
    } else if (e.code != LERR_INVALID || !e.msg[0] || e.pos < 0 || (size_t)e.pos > size) {
        die("a rejection without a message or with a position outside the input");
    }
    if (size < 1)
        return 0;
    lerr_init(&e);
    s = sketch_quantiles_new(2 << (data[0] % 5), &e);
    sketch_quantiles_seed(s, data[0]);
    uint64_t count = 0;
    for (size_t i = 1; i + 8 <= size; i += 8) {
        double v;
        memcpy(&v, data + i, 8);
        if (sketch_quantiles_update(s, v, &e))
            die("update failed");
        count += !isnan(v);
    }
    if (sketch_quantiles_n(s) != count)
        die("n is not the count of non-NaN updates");
    check_all(s);
    sketch_quantiles_free(s);
    return 0;
}
