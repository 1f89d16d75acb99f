/*
 * test_sketch_quantiles.c — the classic quantiles doubles sketch
 * (sketch/quantiles.h):
 *   - DataSketches' own serialized sketches (tests/data/datasketches/, see
 *     README-quantiles.md): quantiles_double_n*_{java,cpp}.sk, made by
 *     updating 1..n into a k=128 sketch, checked as DataSketches' cross-language
 *     tests check them (empty, estimation mode, n, min 1, max n, every
 *     retained item within [min, max], weights summing to n), plus k, the
 *     number retained and quantiles within the rank error; the historical
 *     Qk128_n*_v*.sk files (serial versions 1, 2, 3) with the medians
 *     DataSketches' tests expect (EXCLUSIVE 26 and 501 as Java checks,
 *     INCLUSIVE 25 and 497 as C++ checks); re-serialized bytes equal to the
 *     files (Java's updatable form byte for byte; C++'s compact form except
 *     the READ_ONLY flag bit, which Java and we set and C++ does not); all
 *     of them merged;
 *   - exact answers while no compaction happened (n < 2k), both criteria;
 *   - 1M values, uniform and skewed: quantiles at ranks 0.01..0.99 within
 *     the normalized rank error; merges in different orders and of
 *     different k (downsampling) within the bound of the resulting k;
 *   - round trips of both forms at many n; determinism under a seed;
 *   - every bad input: k, ranks, split points, and corrupt bytes (each
 *     error names the byte).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sketch/quantiles.h"

#define INC SKETCH_QUANTILES_INCLUSIVE
#define EXC SKETCH_QUANTILES_EXCLUSIVE

static uint64_t rs = 42;
static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct sketch_quantiles *mk(int k, uint64_t seed)
{
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles *s = sketch_quantiles_new(k, &e);
    CHECK_MSG(s != NULL, "new(%d): %s", k, e.msg);
    if (s)
        sketch_quantiles_seed(s, seed);
    return s;
}

static void feed(struct sketch_quantiles *s, const double *v, size_t n)
{
    struct lerr e;
    lerr_init(&e);
    for (size_t i = 0; i < n; i++)
        if (sketch_quantiles_update(s, v[i], &e)) {
            CHECK_MSG(0, "update: %s", e.msg);
            return;
        }
}

static double q1(const struct sketch_quantiles *s, double r, int crit)
{
    struct lerr e;
    lerr_init(&e);
    double out = -12345;
    int rc = sketch_quantiles_quantile(s, r, crit, &out, &e);
    CHECK_MSG(rc == 0, "quantile(%g): %s", r, e.msg);
    return out;
}

static double r1(const struct sketch_quantiles *s, double v, int crit)
{
    struct lerr e;
    lerr_init(&e);
    double out = -12345;
    int rc = sketch_quantiles_rank(s, v, crit, &out, &e);
    CHECK_MSG(rc == 0, "rank(%g): %s", v, e.msg);
    return out;
}

/* Fraction of sorted[0..n) <= v. */
static double true_rank(const double *sorted, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sorted[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (double)lo / (double)n;
}

/* Fraction of sorted[0..n) < v. */
static double true_rank_lt(const double *sorted, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (double)lo / (double)n;
}

/* Quantiles at 0.01..0.99 land within eps of their rank: the true rank
 * interval [rank(<q), rank(<=q)] of the answer q must come within eps of r. */
static void check_accuracy(const char *what, const struct sketch_quantiles *s,
                           const double *sorted, size_t n)
{
    double eps = sketch_quantiles_normalized_rank_error(sketch_quantiles_k(s), 0);
    double worst = 0;
    for (int i = 1; i <= 99; i++) {
        double r = i / 100.0, q = q1(s, r, INC);
        double lo = true_rank_lt(sorted, n, q), hi = true_rank(sorted, n, q);
        double d = r < lo ? lo - r : (r > hi ? r - hi : 0);
        if (d > worst)
            worst = d;
        CHECK_MSG(d <= eps, "%s: quantile(%.2f) = %g has true rank [%g, %g], error %g > %g", what,
                  r, q, lo, hi, d, eps);
        double est = r1(s, sorted[(size_t)(r * (double)(n - 1))], INC);
        double tr = true_rank(sorted, n, sorted[(size_t)(r * (double)(n - 1))]);
        CHECK_MSG(fabs(est - tr) <= eps, "%s: rank error %g > %g at %.2f", what, fabs(est - tr),
                  eps, r);
    }
    CHECK_EQ_INT(sketch_quantiles_n(s), n);
    CHECK_EQ_DBL(sketch_quantiles_min(s), sorted[0], 0);
    CHECK_EQ_DBL(sketch_quantiles_max(s), sorted[n - 1], 0);
    /* min and max answer the end ranks even when compaction dropped them */
    CHECK_EQ_DBL(q1(s, 0.0, INC), sorted[0], 0);
    CHECK_EQ_DBL(q1(s, 1.0, INC), sorted[n - 1], 0);
    CHECK_EQ_DBL(q1(s, 1.0, EXC), sorted[n - 1], 0);
    CHECK_EQ_DBL(r1(s, sorted[0], EXC), 0, 0);
    CHECK_EQ_DBL(r1(s, sorted[n - 1], INC), 1, 0);
    CHECK_EQ_DBL(r1(s, sorted[n - 1], EXC), true_rank_lt(sorted, n, sorted[n - 1]), eps);
}

/* ---- life, bad arguments ---------------------------------------------------- */

static void test_k(void)
{
    int bad[] = {0, 1, 3, 100, 65536, -2, 1 << 16};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lerr e;
        lerr_init(&e);
        CHECK(sketch_quantiles_new(bad[i], &e) == NULL);
        CHECK_EQ_INT(e.code, LERR_INVALID);
        char want[32];
        snprintf(want, sizeof want, "k %d ", bad[i]);
        CHECK_MSG(strstr(e.msg, want) != NULL, "message names k: %s", e.msg);
        lerr_init(&e);
        CHECK(sketch_quantiles_union_new(bad[i], &e) == NULL);
        CHECK_EQ_INT(e.code, LERR_INVALID);
    }
    int good[] = {2, 4, 128, 32768};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct sketch_quantiles *s = mk(good[i], 1);
        CHECK_EQ_INT(sketch_quantiles_k(s), good[i]);
        CHECK(sketch_quantiles_is_empty(s));
        CHECK(isnan(sketch_quantiles_min(s)) && isnan(sketch_quantiles_max(s)));
        sketch_quantiles_free(s);
    }
    CHECK_EQ_DBL(sketch_quantiles_normalized_rank_error(128, 0), 1.576 / pow(128, 0.9726), 0);
    CHECK_EQ_DBL(sketch_quantiles_normalized_rank_error(128, 1), 1.854 / pow(128, 0.9657), 0);
    /* k 128: 1.4% for one query, 1.7% for PMF buckets (DataSketches' "about 1.7%") */
    CHECK_EQ_DBL(sketch_quantiles_normalized_rank_error(128, 0), 0.014063, 0.000001);
    CHECK_EQ_DBL(sketch_quantiles_normalized_rank_error(128, 1), 0.017107, 0.000001);
    CHECK_EQ_INT(
        sketch_quantiles_k_from_epsilon(sketch_quantiles_normalized_rank_error(128, 0), 0), 128);
    CHECK_EQ_INT(sketch_quantiles_k_from_epsilon(0.014, 0), 129);
    CHECK_EQ_INT(
        sketch_quantiles_k_from_epsilon(sketch_quantiles_normalized_rank_error(256, 1), 1), 256);
    CHECK_EQ_INT(sketch_quantiles_k_from_epsilon(1.0, 0), 2);
    CHECK_EQ_INT(sketch_quantiles_k_from_epsilon(1e-9, 0), 32768);
}

static void test_empty_and_nan(void)
{
    struct sketch_quantiles *s = mk(128, 1);
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_update(s, NAN, &e), 0);
    CHECK(sketch_quantiles_is_empty(s));
    CHECK_EQ_INT(sketch_quantiles_n(s), 0);
    CHECK(isnan(q1(s, 0.5, INC)));
    CHECK(isnan(r1(s, 1.0, INC)));
    double sp[2] = {1, 2}, out[3];
    CHECK_EQ_INT(sketch_quantiles_cdf(s, sp, 2, INC, out, &e), 0);
    CHECK(isnan(out[0]) && isnan(out[1]) && isnan(out[2]));
    CHECK_EQ_INT(sketch_quantiles_num_retained(s), 0);
    sketch_quantiles_update(s, 3.5, &e);
    sketch_quantiles_update(s, NAN, &e);
    CHECK_EQ_INT(sketch_quantiles_n(s), 1);
    CHECK_EQ_DBL(q1(s, 0.0, INC), 3.5, 0);
    CHECK_EQ_DBL(q1(s, 1.0, EXC), 3.5, 0);
    CHECK(isnan(r1(s, NAN, INC)));
    /* bad ranks and split points */
    double out1;
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_quantile(s, 1.5, INC, &out1, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "rank 1.5") != NULL, "%s", e.msg);
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_quantile(s, NAN, INC, &out1, &e), LERR_INVALID);
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_quantile(s, -0.1, INC, &out1, &e), LERR_INVALID);
    double rk[3] = {0.1, 0.5, 2}, o3[3];
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_quantiles(s, rk, 3, INC, o3, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "rank 2 is 2") != NULL, "%s", e.msg);
    double sp2[3] = {1, 3, 3};
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_cdf(s, sp2, 3, INC, o3, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "split point 2 (3) is not greater than split point 1 (3)") != NULL,
              "%s", e.msg);
    double sp3[2] = {NAN, 1};
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_pmf(s, sp3, 2, INC, o3, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "split point 0 is NaN") != NULL, "%s", e.msg);
    double sp4[2] = {5, 4};
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_cdf(s, sp4, 2, INC, o3, &e), LERR_INVALID);
    sketch_quantiles_reset(s);
    CHECK(sketch_quantiles_is_empty(s));
    CHECK(isnan(sketch_quantiles_min(s)));
    sketch_quantiles_free(s);
}

/* While n < 2k nothing is compacted: every answer is exact. */
static void test_exact(void)
{
    int k = 64;
    for (int n = 1; n < 2 * k; n += (n < 10 ? 1 : 7)) {
        double v[128], sorted[128];
        for (int i = 0; i < n; i++)
            v[i] = sorted[i] = (double)(rnd() % 50) - 10; /* with duplicates */
        qsort(sorted, (size_t)n, sizeof(double), cmpd);
        struct sketch_quantiles *s = mk(k, (uint64_t)n);
        feed(s, v, (size_t)n);
        CHECK_EQ_INT(sketch_quantiles_n(s), n);
        CHECK_EQ_INT(sketch_quantiles_num_retained(s), n);
        CHECK(!sketch_quantiles_is_estimation_mode(s));
        for (int i = 0; i <= 100; i++) {
            double r = i / 100.0;
            /* ceil and floor of r*n in exact arithmetic (DataSketches rounds r*n to
             * 7 decimals so that 0.07 * 100 is 7, not 7.000000000000001) */
            int ci = (i * n + 99) / 100, fl = i * n / 100;
            double wi = ci < 1 ? sorted[0] : sorted[ci - 1];
            double we = fl >= n ? sorted[n - 1] : sorted[fl];
            CHECK_EQ_DBL(q1(s, r, INC), wi, 0);
            CHECK_EQ_DBL(q1(s, r, EXC), we, 0);
        }
        for (double x = -12; x <= 42; x += 0.5) {
            CHECK_EQ_DBL(r1(s, x, INC), true_rank(sorted, (size_t)n, x), 1e-15);
            CHECK_EQ_DBL(r1(s, x, EXC), true_rank_lt(sorted, (size_t)n, x), 1e-15);
        }
        double sp[3] = {-5, 0, 20}, cdf[4], pmf[4];
        struct lerr e;
        lerr_init(&e);
        CHECK_EQ_INT(sketch_quantiles_cdf(s, sp, 3, INC, cdf, &e), 0);
        CHECK_EQ_INT(sketch_quantiles_pmf(s, sp, 3, EXC, pmf, &e), 0);
        double sum = 0;
        for (int i = 0; i < 3; i++) {
            CHECK_EQ_DBL(cdf[i], true_rank(sorted, (size_t)n, sp[i]), 1e-15);
            double lo = i ? true_rank_lt(sorted, (size_t)n, sp[i - 1]) : 0;
            CHECK_EQ_DBL(pmf[i], true_rank_lt(sorted, (size_t)n, sp[i]) - lo, 1e-12);
            sum += pmf[i];
        }
        CHECK_EQ_DBL(cdf[3], 1.0, 0);
        CHECK_EQ_DBL(sum + pmf[3], 1.0, 1e-12);
        sketch_quantiles_free(s);
    }
}

/* The median of 1..10 under each criterion, and a small CDF by hand. */
static void test_known_small(void)
{
    struct sketch_quantiles *s = mk(128, 1);
    for (int i = 1; i <= 10; i++)
        sketch_quantiles_update(s, i, NULL);
    CHECK_EQ_DBL(q1(s, 0.5, INC), 5, 0);
    CHECK_EQ_DBL(q1(s, 0.5, EXC), 6, 0);
    CHECK_EQ_DBL(q1(s, 0.0, INC), 1, 0);
    CHECK_EQ_DBL(q1(s, 1.0, INC), 10, 0);
    CHECK_EQ_DBL(q1(s, 1.0, EXC), 10, 0);
    CHECK_EQ_DBL(r1(s, 5, INC), 0.5, 0);
    CHECK_EQ_DBL(r1(s, 5, EXC), 0.4, 0);
    CHECK_EQ_DBL(r1(s, 0, INC), 0, 0);
    CHECK_EQ_DBL(r1(s, 11, EXC), 1, 0);
    double sp[2] = {2.5, 7}, pmf[3];
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(sketch_quantiles_pmf(s, sp, 2, INC, pmf, &e), 0);
    CHECK_EQ_DBL(pmf[0], 0.2, 1e-15);
    CHECK_EQ_DBL(pmf[1], 0.5, 1e-15);
    CHECK_EQ_DBL(pmf[2], 0.3, 1e-15);
    double rk[3] = {0.1, 0.5, 0.9}, qs[3];
    CHECK_EQ_INT(sketch_quantiles_quantiles(s, rk, 3, INC, qs, &e), 0);
    CHECK_EQ_DBL(qs[0], 1, 0);
    CHECK_EQ_DBL(qs[1], 5, 0);
    CHECK_EQ_DBL(qs[2], 9, 0);
    sketch_quantiles_free(s);

    /* r*n is rounded to 7 decimals before ceil/floor, as DataSketches does:
     * 0.07 * 100 is 7.000000000000001 and 0.29 * 100 is 28.999999999999996 */
    s = mk(128, 1);
    for (int i = 1; i <= 100; i++)
        sketch_quantiles_update(s, i, NULL);
    CHECK_EQ_DBL(q1(s, 0.07, INC), 7, 0);
    CHECK_EQ_DBL(q1(s, 0.29, EXC), 30, 0);
    sketch_quantiles_free(s);
}

/* The odd or even half a compaction keeps, and the offset a downsampling
 * starts at, are random: over many seeds every choice is taken about as
 * often as the others. */
static void test_random_choices(void)
{
    int kept_odd = 0, down_odd = 0, seeds = 400;
    for (int seed = 0; seed < seeds; seed++) {
        struct sketch_quantiles *s = mk(2, (uint64_t)seed);
        for (int i = 0; i < 4; i++) /* a full base buffer of 2k: 0 1 2 3 */
            sketch_quantiles_update(s, i, NULL);
        /* level 0 holds {0, 2} or {1, 3}; with min 0 and max 3 added to the
         * view, the EXCLUSIVE median is 2 or 3 */
        double q = q1(s, 0.5, EXC);
        CHECK(q == 2 || q == 3);
        kept_odd += q == 3;
        sketch_quantiles_free(s);

        struct sketch_quantiles *b = mk(4, 1);
        for (int i = 0; i < 8; i++) /* level 0 of k 4 after one carry */
            sketch_quantiles_update(b, i, NULL);
        struct sketch_quantiles_union *u = sketch_quantiles_union_new(2, NULL);
        sketch_quantiles_union_seed(u, (uint64_t)seed);
        sketch_quantiles_union_update(u, b, NULL);
        struct sketch_quantiles *r = sketch_quantiles_union_result(u, NULL);
        unsigned char bytes[128];
        size_t len = sketch_quantiles_serialize(r, 1, bytes, sizeof bytes);
        /* n 8, k 2: bits 2 (level 1 only), its 2 items are from offset 0 or 1 of
         * b's level, which is itself every other item of 0..7 */
        CHECK_EQ_INT(len, 32 + 2 * 8);
        double first;
        memcpy(&first, bytes + 32, 8);
        down_odd += ((int)first % 4) >= 2 ? 1 : 0;
        sketch_quantiles_free(r);
        sketch_quantiles_union_free(u);
        sketch_quantiles_free(b);
    }
    CHECK_MSG(kept_odd > seeds / 3 && kept_odd < seeds * 2 / 3, "odd halves kept %d of %d",
              kept_odd, seeds);
    CHECK_MSG(down_odd > seeds / 3 && down_odd < seeds * 2 / 3,
              "downsampling offset 1 taken %d of %d", down_odd, seeds);
}

static void roundtrip(struct sketch_quantiles *s, int compact);

/* Base buffers of awkward shapes (all equal, ascending, descending, organ
 * pipe, few distinct, signed zeros) sort right: the levels they make are
 * sorted (deserialization checks it), and answers stay exact-ish. */
static void test_sort_shapes(void)
{
    int k = 1024, n = 2 * k * 3 + 100;
    double *v = malloc((size_t)n * sizeof(double)), *sorted = malloc((size_t)n * sizeof(double));
    for (int shape = 0; shape < 6; shape++) {
        for (int i = 0; i < n; i++) {
            switch (shape) {
            case 0: v[i] = 7; break;
            case 1: v[i] = i; break;
            case 2: v[i] = n - i; break;
            case 3: v[i] = i < n / 2 ? i : n - i; break;
            case 4: v[i] = (double)(rnd() % 3); break;
            default: v[i] = (rnd() & 1) ? 0.0 : -0.0; break;
            }
            sorted[i] = v[i];
        }
        qsort(sorted, (size_t)n, sizeof(double), cmpd);
        struct sketch_quantiles *s = mk(k, (uint64_t)shape);
        feed(s, v, (size_t)n);
        char name[32];
        snprintf(name, sizeof name, "sort shape %d", shape);
        check_accuracy(name, s, sorted, (size_t)n);
        roundtrip(s, 1);
        roundtrip(s, 0);
        sketch_quantiles_free(s);
    }
    free(v);
    free(sorted);
}

/* ---- accuracy at 1M --------------------------------------------------------- */

#define BIG 1000000

static void test_accuracy(void)
{
    double *v = malloc(BIG * sizeof(double)), *sorted = malloc(BIG * sizeof(double));
    if (!v || !sorted) {
        CHECK(0);
        return;
    }
    for (int dist = 0; dist < 2; dist++) {
        for (size_t i = 0; i < BIG; i++) {
            double u = unif();
            /* uniform, or a heavy-tailed lognormal-ish skew (most mass near 0) */
            v[i] = dist == 0 ? u * 1000.0 : exp(8.0 * u * u * u) - 1.0;
        }
        memcpy(sorted, v, BIG * sizeof(double));
        qsort(sorted, BIG, sizeof(double), cmpd);
        const char *what = dist == 0 ? "uniform 1M" : "skewed 1M";
        struct sketch_quantiles *s = mk(128, 7 + (uint64_t)dist);
        feed(s, v, BIG);
        CHECK(sketch_quantiles_is_estimation_mode(s));
        /* 1M = 3906 * 256 + 64: base buffer 64, levels of the bits of 3906 */
        CHECK_EQ_INT(sketch_quantiles_num_retained(s), 64 + __builtin_popcount(3906) * 128);
        check_accuracy(what, s, sorted, BIG);

        /* merged from 10 parts, in three orders */
        struct sketch_quantiles *part[10];
        for (int p = 0; p < 10; p++) {
            part[p] = mk(128, 100 + (uint64_t)p);
            feed(part[p], v + (size_t)p * (BIG / 10), BIG / 10);
        }
        int orders[3][10] = {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
                             {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
                             {3, 7, 0, 9, 1, 5, 8, 2, 6, 4}};
        for (int o = 0; o < 3; o++) {
            struct lerr e;
            lerr_init(&e);
            struct sketch_quantiles_union *u = sketch_quantiles_union_new(128, &e);
            sketch_quantiles_union_seed(u, (uint64_t)o);
            for (int p = 0; p < 10; p++)
                CHECK_EQ_INT(sketch_quantiles_union_update(u, part[orders[o][p]], &e), 0);
            struct sketch_quantiles *r = sketch_quantiles_union_result(u, &e);
            char name[64];
            snprintf(name, sizeof name, "%s merged in order %d", what, o);
            check_accuracy(name, r, sorted, BIG);
            sketch_quantiles_free(r);
            sketch_quantiles_union_free(u);
        }
        /* different k: 256, 128 and 64 parts into a union of max 256 end at k 64 */
        {
            struct lerr e;
            lerr_init(&e);
            struct sketch_quantiles_union *u = sketch_quantiles_union_new(256, &e);
            sketch_quantiles_union_seed(u, 5);
            int ks[3] = {256, 128, 64};
            for (int p = 0; p < 3; p++) {
                struct sketch_quantiles *t = mk(ks[p], 200 + (uint64_t)p);
                size_t from = (size_t)p * (BIG / 3), to = p == 2 ? BIG : from + BIG / 3;
                feed(t, v + from, to - from);
                CHECK_EQ_INT(sketch_quantiles_union_update(u, t, &e), 0);
                CHECK_EQ_INT(sketch_quantiles_union_k(u), ks[p]);
                sketch_quantiles_free(t);
            }
            struct sketch_quantiles *r = sketch_quantiles_union_result(u, &e);
            CHECK_EQ_INT(sketch_quantiles_k(r), 64);
            check_accuracy("mixed k 256/128/64", r, sorted, BIG);
            sketch_quantiles_free(r);
            sketch_quantiles_union_free(u);
        }
        /* a k=1024 sketch downsampled into a union of max 128 */
        {
            struct lerr e;
            lerr_init(&e);
            struct sketch_quantiles *big = mk(1024, 9);
            feed(big, v, BIG);
            struct sketch_quantiles_union *u = sketch_quantiles_union_new(128, &e);
            sketch_quantiles_union_seed(u, 11);
            CHECK_EQ_INT(sketch_quantiles_union_update(u, big, &e), 0);
            struct sketch_quantiles *r = sketch_quantiles_union_result(u, &e);
            CHECK_EQ_INT(sketch_quantiles_k(r), 128);
            check_accuracy("k 1024 downsampled to 128", r, sorted, BIG);
            CHECK_EQ_INT(sketch_quantiles_num_retained(r), 64 + __builtin_popcount(3906) * 128);
            sketch_quantiles_free(r);
            sketch_quantiles_free(big);
            sketch_quantiles_union_free(u);
        }
        for (int p = 0; p < 10; p++)
            sketch_quantiles_free(part[p]);
        sketch_quantiles_free(s);
    }
    free(v);
    free(sorted);
}

/* ---- round trips, determinism --------------------------------------------- */

static void roundtrip(struct sketch_quantiles *s, int compact)
{
    struct lerr e;
    lerr_init(&e);
    size_t size = sketch_quantiles_serialized_size(s, compact);
    unsigned char *b = malloc(size), *b2 = malloc(size);
    CHECK_EQ_INT(sketch_quantiles_serialize(s, compact, b, size - 1), 0);
    CHECK_EQ_INT(sketch_quantiles_serialize(s, compact, b, size), size);
    struct sketch_quantiles *t = sketch_quantiles_deserialize(b, size, &e);
    CHECK_MSG(t != NULL, "n %llu compact %d: %s", (unsigned long long)sketch_quantiles_n(s),
              compact, e.msg);
    if (t) {
        CHECK_EQ_INT(sketch_quantiles_n(t), sketch_quantiles_n(s));
        CHECK_EQ_INT(sketch_quantiles_k(t), sketch_quantiles_k(s));
        CHECK_EQ_INT(sketch_quantiles_num_retained(t), sketch_quantiles_num_retained(s));
        CHECK_EQ_DBL(sketch_quantiles_min(t), sketch_quantiles_min(s), 0);
        CHECK_EQ_DBL(sketch_quantiles_max(t), sketch_quantiles_max(s), 0);
        for (int i = 0; i <= 20; i++) {
            CHECK_EQ_DBL(q1(t, i / 20.0, INC), q1(s, i / 20.0, INC), 0);
            CHECK_EQ_DBL(q1(t, i / 20.0, EXC), q1(s, i / 20.0, EXC), 0);
        }
        CHECK_EQ_INT(sketch_quantiles_serialize(t, compact, b2, size), size);
        CHECK_MSG(memcmp(b, b2, size) == 0, "n %llu compact %d: bytes differ after a round trip",
                  (unsigned long long)sketch_quantiles_n(s), compact);
        /* the other form from the copy read back equals the other form of the original */
        size_t os = sketch_quantiles_serialized_size(s, !compact);
        unsigned char *o1 = malloc(os), *o2 = malloc(os);
        CHECK_EQ_INT(sketch_quantiles_serialize(s, !compact, o1, os), os);
        CHECK_EQ_INT(sketch_quantiles_serialize(t, !compact, o2, os), os);
        /* (not the other way: the compact form sorts the base buffer and drops
         * the stale levels the updatable form keeps) */
        if (!compact)
            CHECK_MSG(memcmp(o1, o2, os) == 0, "other form differs, n %llu",
                      (unsigned long long)sketch_quantiles_n(s));
        free(o1);
        free(o2);
    }
    sketch_quantiles_free(t);
    free(b);
    free(b2);
}

static void test_roundtrip(void)
{
    uint64_t ns[] = {0,   1,   2,   3,   4,   5,    10,   127,   128,   129,
                     255, 256, 257, 511, 512, 1000, 4096, 33333, 100000};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        struct sketch_quantiles *s = mk(128, ns[i]);
        for (uint64_t j = 0; j < ns[i]; j++)
            sketch_quantiles_update(s, unif() * 100 - 50, NULL);
        roundtrip(s, 1);
        roundtrip(s, 0);
        sketch_quantiles_free(s);
    }
    /* sizes as DataSketches computes them */
    struct sketch_quantiles *s = mk(128, 1);
    CHECK_EQ_INT(sketch_quantiles_serialized_size(s, 1), 8);
    CHECK_EQ_INT(sketch_quantiles_serialized_size(s, 0), 8);
    for (int i = 0; i < 10; i++)
        sketch_quantiles_update(s, i, NULL);
    CHECK_EQ_INT(sketch_quantiles_serialized_size(s, 1), 32 + 80);
    CHECK_EQ_INT(sketch_quantiles_serialized_size(s, 0), 32 + 128);
    for (int i = 10; i < 1000; i++)
        sketch_quantiles_update(s, i, NULL);
    CHECK_EQ_INT(sketch_quantiles_serialized_size(s, 1), 32 + 488 * 8);
    CHECK_EQ_INT(sketch_quantiles_serialized_size(s, 0), 32 + 512 * 8);
    /* in memory: DataSketches' combined buffer, 2k + 2 levels of k */
    CHECK(sketch_quantiles_memory_bytes(s) >= 512 * 8 &&
          sketch_quantiles_memory_bytes(s) < 512 * 8 + 256);
    sketch_quantiles_free(s);

    /* the compact form sorts the base buffer as Java's Arrays.sort does, -0.0
     * before 0.0, so sorting again (a round trip) keeps the bytes */
    {
        struct sketch_quantiles *z = mk(8, 1);
        double zs[7] = {0.0, -0.0, 1, 0.0, -0.0, -1, 0.0};
        feed(z, zs, 7);
        unsigned char zb[128];
        CHECK_EQ_INT(sketch_quantiles_serialize(z, 1, zb, sizeof zb), 32 + 7 * 8);
        double want[7] = {-1, -0.0, -0.0, 0.0, 0.0, 0.0, 1}, got;
        for (int i = 0; i < 7; i++) {
            memcpy(&got, zb + 32 + i * 8, 8);
            CHECK_MSG(got == want[i] && !!signbit(got) == !!signbit(want[i]),
                      "item %d: got %g, want %g", i, got, want[i]);
        }
        roundtrip(z, 1);
        sketch_quantiles_free(z);
    }
    /* the same seed and items give the same bytes; a copy continues alike */
    struct sketch_quantiles *a = mk(32, 77), *b = mk(32, 77);
    for (int i = 0; i < 5000; i++) {
        double x = unif();
        sketch_quantiles_update(a, x, NULL);
        sketch_quantiles_update(b, x, NULL);
    }
    struct sketch_quantiles *c = sketch_quantiles_copy(a, NULL);
    for (int i = 0; i < 5000; i++) {
        double x = unif();
        sketch_quantiles_update(a, x, NULL);
        sketch_quantiles_update(b, x, NULL);
        sketch_quantiles_update(c, x, NULL);
    }
    unsigned char ba[4096], bb[4096], bc[4096];
    size_t la = sketch_quantiles_serialize(a, 0, ba, sizeof ba);
    CHECK(la > 0);
    CHECK_EQ_INT(sketch_quantiles_serialize(b, 0, bb, sizeof bb), la);
    CHECK_EQ_INT(sketch_quantiles_serialize(c, 0, bc, sizeof bc), la);
    CHECK(memcmp(ba, bb, la) == 0);
    CHECK(memcmp(ba, bc, la) == 0);
    sketch_quantiles_free(a);
    sketch_quantiles_free(b);
    sketch_quantiles_free(c);
}

/* ---- DataSketches' files -------------------------------------------------- */

#define DATA "tests/data/datasketches/"

static unsigned char *slurp(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s", name);
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open %s (run from the repository root)", path);
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

struct wsum {
    uint64_t w;
    double min, max;
    int outside;
};

static void add_w(double item, uint64_t weight, void *arg)
{
    struct wsum *ws = arg;
    ws->w += weight;
    if (item < ws->min || item > ws->max)
        ws->outside++;
}

static struct sketch_quantiles *check_file(const char *name, uint64_t n, int cpp)
{
    size_t len = 0;
    unsigned char *b = slurp(name, &len);
    if (!b)
        return NULL;
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles *s = sketch_quantiles_deserialize(b, len, &e);
    CHECK_MSG(s != NULL, "%s: %s", name, e.msg);
    if (!s) {
        free(b);
        return NULL;
    }
    CHECK_EQ_INT(sketch_quantiles_n(s), n);
    CHECK_EQ_INT(sketch_quantiles_k(s), 128);
    CHECK_EQ_INT(sketch_quantiles_is_empty(s), n == 0);
    CHECK_EQ_INT(sketch_quantiles_is_estimation_mode(s), n > 128 && n >= 256);
    uint64_t bits = n / 256;
    CHECK_EQ_INT(sketch_quantiles_num_retained(s),
                 n % 256 + (uint64_t)__builtin_popcountll(bits) * 128);
    if (n > 0) {
        CHECK_EQ_DBL(sketch_quantiles_min(s), 1.0, 0);
        CHECK_EQ_DBL(sketch_quantiles_max(s), (double)n, 0);
        struct wsum ws = {0, 1.0, (double)n, 0};
        sketch_quantiles_foreach(s, add_w, &ws);
        CHECK_MSG(ws.w == n, "%s: weights sum to %llu", name, (unsigned long long)ws.w);
        CHECK_EQ_INT(ws.outside, 0);
        /* the stream is 1..n: the quantile at rank r is about r*n */
        double eps = sketch_quantiles_normalized_rank_error(128, 0);
        for (int i = 1; i < 10; i++) {
            double r = i / 10.0, q = q1(s, r, INC);
            CHECK_MSG(fabs(q / (double)n - r) <= eps + 1.0 / (double)n, "%s: quantile(%g) = %g",
                      name, r, q);
            CHECK_MSG(fabs(r1(s, r * (double)n, INC) - r) <= eps + 1.0 / (double)n, "%s: rank(%g)",
                      name, r * (double)n);
        }
        if (n < 256) /* exact */
            CHECK_EQ_DBL(q1(s, 0.5, INC), ceil(0.5 * (double)n), 0);
    }
    /* re-serialized in the file's own form */
    int compact = cpp;
    size_t size = sketch_quantiles_serialized_size(s, compact);
    CHECK_EQ_INT(size, len);
    unsigned char *o = malloc(size);
    CHECK_EQ_INT(sketch_quantiles_serialize(s, compact, o, size), size);
    if (size == len) {
        if (cpp) {
            /* C++ leaves READ_ONLY (0x02) clear; Java and we set it */
            CHECK_EQ_INT(o[3], b[3] | 0x02);
            o[3] = b[3];
        }
        size_t diff = 0;
        while (diff < len && o[diff] == b[diff])
            diff++;
        CHECK_MSG(diff == len, "%s: re-serialized bytes differ at byte %zu", name, diff);
    }
    free(o);
    free(b);
    return s;
}

static void test_datasketches_files(void)
{
    uint64_t ns[] = {0, 1, 10, 100, 1000, 10000, 100000, 1000000};
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles_union *u = sketch_quantiles_union_new(128, &e);
    sketch_quantiles_union_seed(u, 3);
    uint64_t total = 0;
    for (int cpp = 0; cpp < 2; cpp++) {
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "quantiles_double_n%llu_%s.sk", (unsigned long long)ns[i],
                     cpp ? "cpp" : "java");
            struct sketch_quantiles *s = check_file(name, ns[i], cpp);
            if (s) {
                CHECK_EQ_INT(sketch_quantiles_union_update(u, s, &e), 0);
                total += ns[i];
            }
            sketch_quantiles_free(s);
        }
    }
    /* every file merged: 2 * (1 + 10 + ... + 1M) items, 1..n each */
    struct sketch_quantiles *r = sketch_quantiles_union_result(u, &e);
    CHECK_EQ_INT(sketch_quantiles_n(r), total);
    CHECK_EQ_DBL(sketch_quantiles_min(r), 1, 0);
    CHECK_EQ_DBL(sketch_quantiles_max(r), 1000000, 0);
    /* the merged stream's true rank of x: sum over files of min(x, n) / total */
    double eps = sketch_quantiles_normalized_rank_error(128, 0);
    for (int i = 1; i < 20; i++) {
        double q = q1(r, i / 20.0, INC), tr = 0;
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++)
            tr += 2 * fmin(floor(q), (double)ns[j]);
        tr /= (double)total;
        CHECK_MSG(fabs(tr - i / 20.0) <= eps, "merged files: quantile(%g) = %g, true rank %g",
                  i / 20.0, q, tr);
    }
    sketch_quantiles_free(r);
    sketch_quantiles_union_free(u);

    /* historical files: serial versions 1 (0.3.0), 2 (0.6.0, 0.8.0) and 3 (0.8.3) */
    const char *vers[] = {"0.3.0", "0.6.0", "0.8.0", "0.8.3"};
    for (int i = 0; i < 4; i++) {
        for (int big = 0; big < 2; big++) {
            char name[64];
            int n = big ? 1000 : 50;
            snprintf(name, sizeof name, "Qk128_n%d_v%s.sk", n, vers[i]);
            size_t len = 0;
            unsigned char *b = slurp(name, &len);
            if (!b)
                continue;
            lerr_init(&e);
            struct sketch_quantiles *s = sketch_quantiles_deserialize(b, len, &e);
            CHECK_MSG(s != NULL, "%s: %s", name, e.msg);
            if (s) {
                CHECK_EQ_INT(sketch_quantiles_n(s), n);
                CHECK_EQ_INT(sketch_quantiles_k(s), 128);
                CHECK_EQ_DBL(sketch_quantiles_min(s), 1, 0);
                CHECK_EQ_DBL(sketch_quantiles_max(s), n, 0);
                /* what DataSketches' Java (EXCLUSIVE) and C++ (INCLUSIVE) tests expect */
                CHECK_EQ_DBL(q1(s, 0.5, EXC), big ? 501 : 26, 0);
                CHECK_EQ_DBL(q1(s, 0.5, INC), big ? 497 : 25, 0);
                roundtrip(s, 1);
            }
            sketch_quantiles_free(s);
            free(b);
        }
    }
}

/* ---- corrupt bytes -------------------------------------------------------- */

static void expect_bad(const unsigned char *b, size_t len, int64_t pos, const char *needle)
{
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles *s = sketch_quantiles_deserialize(b, len, &e);
    CHECK_MSG(s == NULL, "accepted bytes that should fail with \"%s\"", needle);
    sketch_quantiles_free(s);
    CHECK_EQ_INT(e.code, LERR_INVALID);
    CHECK_EQ_INT(e.pos, pos);
    CHECK_MSG(strstr(e.msg, needle) != NULL, "want \"%s\" in: %s", needle, e.msg);
}

static void test_corrupt(void)
{
    struct sketch_quantiles *s = mk(16, 1);
    for (int i = 0; i < 100; i++)
        sketch_quantiles_update(s, i, NULL);
    unsigned char good[2048], b[2048];
    size_t len = sketch_quantiles_serialize(s, 1, good, sizeof good);
    CHECK(len > 0);
    size_t ulen = sketch_quantiles_serialized_size(s, 0);
    unsigned char ub[2048];
    CHECK_EQ_INT(sketch_quantiles_serialize(s, 0, ub, sizeof ub), ulen);
    sketch_quantiles_free(s);

    expect_bad(good, 0, 0, "0 bytes is too short");
    expect_bad(good, 7, 7, "7 bytes is too short");
#define MUT(off, val)                  \
    do {                               \
        memcpy(b, good, len);          \
        b[off] = (unsigned char)(val); \
    } while (0)
    MUT(1, 4);
    expect_bad(b, len, 1, "serial version 4");
    MUT(1, 0);
    expect_bad(b, len, 1, "serial version 0");
    MUT(2, 15);
    expect_bad(b, len, 2, "family id 15");
    MUT(3, 0x1A | 0x01);
    expect_bad(b, len, 3, "bits 0x01");
    MUT(3, 0x1A | 0x40);
    expect_bad(b, len, 3, "bits 0x40");
    MUT(0, 3);
    expect_bad(b, len, 0, "preamble longs 3");
    MUT(0, 1); /* one preamble long but not empty */
    expect_bad(b, len, 0, "preamble longs 1");
    MUT(4, 3);
    expect_bad(b, len, 4, "k 3 is not a power of 2");
    MUT(4, 0);
    b[5] = 0;
    expect_bad(b, len, 4, "k 0 ");
    MUT(15, 0x80);
    expect_bad(b, len, 8, "is negative");
    MUT(8, 101); /* n 101 needs one more item than is there */
    expect_bad(b, len, len, "needs");
    expect_bad(good, len - 1, len - 1, "the bytes end early");
    expect_bad(good, 12, 12, "the bytes end inside n");
    /* min NaN, max NaN, min > max */
    memcpy(b, good, len);
    memset(b + 16, 0xff, 8);
    expect_bad(b, len, 16, "min is NaN");
    memcpy(b, good, len);
    memset(b + 24, 0xff, 8);
    expect_bad(b, len, 24, "max is NaN");
    memcpy(b, good, len);
    memcpy(b + 16, good + 24, 8);
    memcpy(b + 24, good + 16, 8);
    expect_bad(b, len, 16, "min 99 is greater than max 0");
    /* 100 items, k 16: 3 levels (bits 11 = 0b11), base buffer 4: item 1 at byte 40 */
    memcpy(b, good, len);
    memset(b + 40, 0xff, 8);
    expect_bad(b, len, 40, "base buffer item 1 is ");
    memcpy(b, good, len);
    double big = 1e9;
    memcpy(b + 32 + 4 * 8 + 3 * 8, &big, 8);
    expect_bad(b, len, 32 + 4 * 8 + 3 * 8, "level 0 item 3 is 1e+09, outside");
    memcpy(b, good, len);
    memcpy(b + 32 + 4 * 8 + 5 * 8, good + 32 + 4 * 8 + 2 * 8, 8);
    expect_bad(b, len, 32 + 4 * 8 + 5 * 8, "level 0 is not sorted: item 5");
    /* an exact sketch (n < 2k) holds every item: min and max must be two of them */
    {
        struct sketch_quantiles *x = mk(16, 1);
        for (int i = 1; i <= 5; i++)
            sketch_quantiles_update(x, i, NULL);
        unsigned char xb[128];
        size_t xl = sketch_quantiles_serialize(x, 1, xb, sizeof xb);
        double m0 = 0.5, m6 = 6;
        memcpy(xb + 16, &m0, 8);
        expect_bad(xb, xl, 16,
                   "min 0.5 is not among the 5 items of an exact sketch (they span 1 to 5)");
        m0 = 1;
        memcpy(xb + 16, &m0, 8);
        memcpy(xb + 24, &m6, 8);
        expect_bad(xb, xl, 24, "max 6 is not among the 5 items");
        sketch_quantiles_free(x);
    }
    /* updatable form: truncated, and an item of a valid level past the base buffer area */
    expect_bad(ub, ulen - 8, ulen - 8, "an updatable sketch of k 16 and n 100 needs");
    memcpy(b, ub, ulen);
    memset(b + 32 + 32 * 8 + 16 * 8 + 8, 0xff, 8); /* level 1 item 1 */
    expect_bad(b, ulen, 32 + 32 * 8 + 16 * 8 + 8, "level 1 item 1 is ");

    /* trailing bytes are ignored, as DataSketches does; empty forms read back empty */
    memcpy(b, good, len);
    b[len] = 0xAB;
    struct lerr e;
    lerr_init(&e);
    s = sketch_quantiles_deserialize(b, len + 1, &e);
    CHECK(s != NULL);
    sketch_quantiles_free(s);
    unsigned char em[8] = {1, 3, 8, 0x1E, 0, 1, 0, 0};
    s = sketch_quantiles_deserialize(em, 8, &e);
    CHECK(s && sketch_quantiles_is_empty(s) && sketch_quantiles_k(s) == 256);
    sketch_quantiles_free(s);
}

/* ---- union corner cases, summary ---------------------------------------- */

static void test_union_and_summary(void)
{
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles_union *u = sketch_quantiles_union_new(64, &e);
    struct sketch_quantiles *r = sketch_quantiles_union_result(u, &e);
    CHECK(sketch_quantiles_is_empty(r) && sketch_quantiles_k(r) == 64);
    sketch_quantiles_free(r);
    struct sketch_quantiles *empty = mk(256, 1), *small = mk(16, 1);
    CHECK_EQ_INT(sketch_quantiles_union_update(u, empty, &e), 0);
    CHECK_EQ_INT(sketch_quantiles_union_k(u), 64);
    /* an exact sketch of smaller k is streamed in: the union keeps its k */
    for (int i = 0; i < 20; i++)
        sketch_quantiles_update(small, i, NULL);
    CHECK_EQ_INT(sketch_quantiles_union_update(u, small, &e), 0);
    CHECK_EQ_INT(sketch_quantiles_union_k(u), 64);
    CHECK_EQ_INT(sketch_quantiles_union_update_value(u, 100, &e), 0);
    CHECK_EQ_INT(sketch_quantiles_union_update_value(u, NAN, &e), 0);
    r = sketch_quantiles_union_result(u, &e);
    CHECK_EQ_INT(sketch_quantiles_n(r), 21);
    CHECK_EQ_DBL(sketch_quantiles_max(r), 100, 0);
    CHECK_EQ_DBL(q1(r, 0.5, INC), 10, 0);
    sketch_quantiles_free(r);
    /* an estimating sketch of smaller k lowers the union's k */
    for (int i = 20; i < 1000; i++)
        sketch_quantiles_update(small, i, NULL);
    CHECK_EQ_INT(sketch_quantiles_union_update(u, small, &e), 0);
    CHECK_EQ_INT(sketch_quantiles_union_k(u), 16);
    r = sketch_quantiles_union_result(u, &e);
    CHECK_EQ_INT(sketch_quantiles_n(r), 1021);
    CHECK_EQ_DBL(sketch_quantiles_min(r), 0, 0);
    CHECK_EQ_DBL(sketch_quantiles_max(r), 999, 0);
    sketch_quantiles_free(r);
    sketch_quantiles_union_free(u);

    char *str = sketch_quantiles_to_string(small, 1, 0, &e);
    CHECK(str != NULL);
    if (str) {
        CHECK_MSG(strstr(str, "    N                            : 1,000\n") != NULL, "%s", str);
        CHECK_MSG(strstr(str, "    K                            : 16\n") != NULL, "%s", str);
        /* 1000 / 32 = 31 = 0b11111, base buffer 1000 - 992 = 8 */
        CHECK_MSG(strstr(str, "Level Bit Pattern            : 11111\n") != NULL, "%s", str);
        CHECK_MSG(strstr(str, "Base Buffer Count            : 8\n") != NULL, "%s", str);
        CHECK_MSG(strstr(str, "Retained Items               : 88\n") != NULL, "%s", str);
        CHECK_MSG(strstr(str, "Min Item                     : 0.000000e+00\n") != NULL, "%s", str);
        CHECK_MSG(strstr(str, "Max Item                     : 9.990000e+02\n") != NULL, "%s", str);
        CHECK_MSG(strstr(str, "Normalized Rank Error        : 10.627%\n") != NULL, "%s", str);
        CHECK_MSG(strstr(str, "        4        T        32\n") != NULL, "%s", str);
        free(str);
    }
    str = sketch_quantiles_to_string(empty, 1, 1, &e);
    CHECK(str && strstr(str, "Min Item                     :          NaN\n") &&
          strstr(str, "<NO DATA>") && strstr(str, "<NONE>"));
    free(str);
    sketch_quantiles_free(empty);
    sketch_quantiles_free(small);
}

int main(void)
{
    test_k();
    test_empty_and_nan();
    test_exact();
    test_known_small();
    test_random_choices();
    test_sort_shapes();
    test_roundtrip();
    test_datasketches_files();
    test_corrupt();
    test_union_and_summary();
    test_accuracy();
    return check_summary();
}
