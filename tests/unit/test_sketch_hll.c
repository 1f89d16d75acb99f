/*
 * test_sketch_hll.c — the HLL sketch (sketch/hll.h) against Apache
 * DataSketches: the cross-language images DataSketches publishes (Java and
 * C++ writers, tests/data/datasketches/, run from the repository root) are
 * read, checked for mode, lgK, type and estimate, rebuilt from the same
 * values and compared byte for byte, re-serialized and unioned. Also: exact
 * counts below the coupon thresholds, 1M distinct values within 3 standard
 * errors, round trips of every mode and type, HLL_4's exception table,
 * union order independence and lgK folding, precise errors for corrupt
 * images, and the toString summary.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sketch/hll.h"
#include "sketch/hll_int.h"
#include "sketch/sketch.h"

#define DATA "tests/data/datasketches/"

static uint8_t *read_file(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, DATA "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        CHECK_MSG(0, "cannot open %s (run from the repository root)", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

static uint8_t *ser(const struct sketch_hll *sk, bool compact, size_t *len)
{
    struct lerr err;
    lerr_init(&err);
    *len = sketch_hll_serialized_size(sk, compact);
    uint8_t *p = malloc(*len);
    size_t n = sketch_hll_serialize(sk, compact, p, *len, &err);
    CHECK_EQ_INT(n, *len);
    return p;
}

static struct sketch_hll *build_longs(int lgk, enum sketch_hll_type t, int64_t from, int64_t to)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *sk = sketch_hll_new(lgk, t, &err);
    for (int64_t i = from; i < to; i++)
        sketch_hll_update_long(sk, i, &err);
    CHECK_EQ_INT(err.code, LERR_OK);
    return sk;
}

static int first_diff(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (int)i;
    return na == nb ? -1 : (int)n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Equal images, except that a compact SET's coupons may be in any order. */
static bool same_image(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    if (na != nb)
        return false;
    if (na < 12 || a[0] != 3 || !(a[5] & 8))
        return memcmp(a, b, na) == 0;
    if (memcmp(a, b, 12) != 0)
        return false;
    size_t n = (na - 12) / 4;
    uint32_t *x = malloc(n * 4 + 4), *y = malloc(n * 4 + 4);
    memcpy(x, a + 12, n * 4);
    memcpy(y, b + 12, n * 4);
    qsort(x, n, 4, cmp_u32);
    qsort(y, n, 4, cmp_u32);
    bool eq = memcmp(x, y, n * 4) == 0;
    free(x);
    free(y);
    return eq;
}

/* ---- DataSketches' cross-language files ----------------------------------- */

static void test_compat_files(void)
{
    static const int ns[] = {0, 1, 10, 100, 1000, 10000, 100000, 1000000};
    static const char *langs[] = {"java", "cpp"};
    for (int t = 0; t < 3; t++) {
        int bits = t == 0 ? 4 : t == 1 ? 6 : 8;
        for (size_t ni = 0; ni < LS_ARRAY_LEN(ns); ni++) {
            int n = ns[ni];
            struct sketch_hll *ours = build_longs(12, (enum sketch_hll_type)t, 0, n);
            size_t olen;
            uint8_t *obytes = ser(ours, true, &olen);
            for (int l = 0; l < 2; l++) {
                char name[64];
                snprintf(name, sizeof name, "hll%d_n%d_%s.sk", bits, n, langs[l]);
                size_t len;
                uint8_t *bytes = read_file(name, &len);
                if (!bytes)
                    continue;
                struct lerr err;
                lerr_init(&err);
                struct sketch_hll *sk = sketch_hll_deserialize(bytes, len, &err);
                CHECK_MSG(sk != NULL, "%s: %s", name, err.msg);
                if (!sk) {
                    free(bytes);
                    continue;
                }
                enum sketch_hll_mode want_mode = n <= 7     ? SKETCH_HLL_LIST
                                                 : n <= 384 ? SKETCH_HLL_SET
                                                            : SKETCH_HLL_HLL;
                CHECK_EQ_INT(sketch_hll_lgk(sk), 12);
                CHECK_EQ_INT(sketch_hll_type(sk), t);
                CHECK_EQ_INT(sketch_hll_mode(sk), want_mode);
                CHECK_EQ_INT(sketch_hll_is_empty(sk), n == 0);
                CHECK_EQ_INT(sketch_hll_is_out_of_order(sk), 0);
                double est = sketch_hll_estimate(sk);
                /* DataSketches' own assertion: within 2% of n. */
                CHECK_MSG(fabs(est - n) <= n * 0.02, "%s: estimate %.3f for n=%d", name, est, n);
                if (n <= 384)
                    CHECK_MSG(llround(est) == n, "%s: estimate %.6f is not exact", name, est);
                /* Same values, same sketch: equal estimates and bytes. Java
                 * writes HLL_6/8 compact images without the compact flag,
                 * C++ with it: byte 5 is the only difference there. */
                CHECK_MSG(est == sketch_hll_estimate(ours), "%s: %.17g vs ours %.17g", name, est,
                          sketch_hll_estimate(ours));
                int d = first_diff(bytes, len, obytes, olen);
                if (l == 1 && t != 0 && want_mode == SKETCH_HLL_HLL && d == 5) {
                    CHECK_EQ_INT(bytes[5], 8);
                    CHECK_EQ_INT(obytes[5], 0);
                    bytes[5] = 0;
                    d = first_diff(bytes, len, obytes, olen);
                }
                CHECK_MSG(d == -1, "%s: differs from ours at byte %d (%zu vs %zu bytes)", name, d,
                          len, olen);
                /* Re-serialized as read: the same compact image (a compact
                 * SET is re-hashed when read, so its coupons may come out in
                 * another order). */
                size_t rlen;
                uint8_t *re = ser(sk, true, &rlen);
                CHECK_MSG(same_image(re, rlen, obytes, olen), "%s: re-serialized differs", name);
                free(re);
                sketch_hll_free(sk);
                free(bytes);
            }
            free(obytes);
            sketch_hll_free(ours);
        }
    }
}

/* The files DataSketches' C++ tests read with their asserted values. */
static void test_from_java_files(void)
{
    static const struct {
        const char *name;
        enum sketch_hll_mode mode;
        double lb, est, ub;
        double lb_eps;
        bool compact;
    } cases[] = {
        {"list_from_java.sk", SKETCH_HLL_LIST, 7.0, 7.0, 7.000350, 0, true},
        {"compact_set_from_java.sk", SKETCH_HLL_SET, 24.0, 24.0, 24.001200, 0, true},
        {"updatable_set_from_java.sk", SKETCH_HLL_SET, 24.0, 24.0, 24.001200, 0, false},
        {"array6_from_java.sk", SKETCH_HLL_HLL, 9589.968564, 10089.150211, 10642.370492, 1e-5,
         false},
        {"compact_array4_from_java.sk", SKETCH_HLL_HLL, 9589.968564, 10089.150211, 10642.370492,
         1e-5, true},
        {"updatable_array4_from_java.sk", SKETCH_HLL_HLL, 9589.968564, 10089.150211, 10642.370492,
         1e-5, false},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        size_t len;
        uint8_t *bytes = read_file(cases[i].name, &len);
        if (!bytes)
            continue;
        struct lerr err;
        lerr_init(&err);
        struct sketch_hll *sk = sketch_hll_deserialize(bytes, len, &err);
        CHECK_MSG(sk != NULL, "%s: %s", cases[i].name, err.msg);
        if (sk) {
            double lb, ub;
            CHECK_EQ_INT(sketch_hll_lgk(sk), 8);
            CHECK_EQ_INT(sketch_hll_mode(sk), cases[i].mode);
            CHECK_EQ_INT(sketch_hll_is_empty(sk), 0);
            CHECK_EQ_INT(sketch_hll_bounds(sk, 1, &lb, &ub, &err), 0);
            CHECK_EQ_DBL(lb, cases[i].lb, cases[i].lb_eps);
            CHECK_EQ_DBL(sketch_hll_estimate(sk), cases[i].est, 1e-5);
            CHECK_EQ_DBL(ub, cases[i].ub, 1e-5);
            /* Re-serialized in the same form: the same image, except that
             * Java of that time flagged SET images out of order. */
            size_t rlen;
            uint8_t *re = ser(sk, cases[i].compact, &rlen);
            if (cases[i].mode == SKETCH_HLL_SET) {
                CHECK_EQ_INT(bytes[5] & 16, 16);
                bytes[5] &= (uint8_t)~16;
            }
            CHECK_MSG(same_image(re, rlen, bytes, len), "%s: re-serialized differs at byte %d",
                      cases[i].name, first_diff(re, rlen, bytes, len));
            free(re);
            /* And a union with it equals it (one source: its registers). */
            struct sketch_hll_union *u = sketch_hll_union_new(12, &err);
            CHECK_EQ_INT(sketch_hll_union_update(u, sk, &err), 0);
            struct sketch_hll *r = sketch_hll_union_result(u, SKETCH_HLL_4, &err);
            /* Coupons keep the union's lgK; registers bring theirs. */
            CHECK_EQ_INT(sketch_hll_lgk(r), cases[i].mode == SKETCH_HLL_HLL ? 8 : 12);
            CHECK_EQ_DBL(sketch_hll_estimate(r), sketch_hll_estimate(sk), 0);
            sketch_hll_free(r);
            sketch_hll_union_free(u);
            sketch_hll_free(sk);
        }
        free(bytes);
    }
}

/* Unions of Java- and C++-written sketches with ours. */
static void test_union_with_java(void)
{
    struct lerr err;
    lerr_init(&err);
    size_t len;
    uint8_t *bytes = read_file("hll8_n1000000_java.sk", &len);
    if (!bytes)
        return;
    struct sketch_hll *java = sketch_hll_deserialize(bytes, len, &err);
    CHECK(java != NULL);
    /* Same values: the union's registers are the Java sketch's. */
    struct sketch_hll *same = build_longs(12, SKETCH_HLL_4, 0, 1000000);
    struct sketch_hll_union *u = sketch_hll_union_new(12, &err);
    sketch_hll_union_update(u, java, &err);
    sketch_hll_union_update(u, same, &err);
    struct sketch_hll *r = sketch_hll_union_result(u, SKETCH_HLL_8, &err);
    size_t rlen;
    uint8_t *rb = ser(r, true, &rlen);
    CHECK_EQ_INT(rlen, len);
    CHECK(rlen == len && memcmp(rb + 40, bytes + 40, len - 40) == 0);
    CHECK_EQ_INT(sketch_hll_is_out_of_order(r), 1);
    CHECK_MSG(fabs(sketch_hll_estimate(r) - 1e6) <= 1e6 * 0.049, "estimate %.1f",
              sketch_hll_estimate(r));
    free(rb);
    sketch_hll_free(r);
    sketch_hll_union_free(u);

    /* Overlapping values 500000 .. 1499999 of ours: 1.5M distinct. */
    struct sketch_hll *half = build_longs(12, SKETCH_HLL_6, 500000, 1500000);
    u = sketch_hll_union_new(12, &err);
    sketch_hll_union_update(u, half, &err);
    sketch_hll_union_update(u, java, &err);
    r = sketch_hll_union_result(u, SKETCH_HLL_4, &err);
    double est = sketch_hll_estimate(r);
    CHECK_MSG(fabs(est - 1.5e6) <= 1.5e6 * 0.049, "java+ours union estimate %.1f", est);
    sketch_hll_free(r);
    sketch_hll_union_free(u);

    /* Every 1M file (Java and C++, HLL_4/6/8) unioned: the same registers. */
    u = sketch_hll_union_new(12, &err);
    for (int t = 4; t <= 8; t += 2) {
        for (int l = 0; l < 2; l++) {
            char name[64];
            snprintf(name, sizeof name, "hll%d_n1000000_%s.sk", t, l ? "cpp" : "java");
            size_t n;
            uint8_t *b = read_file(name, &n);
            struct sketch_hll *sk = b ? sketch_hll_deserialize(b, n, &err) : NULL;
            CHECK(sk != NULL);
            if (sk)
                CHECK_EQ_INT(sketch_hll_union_update(u, sk, &err), 0);
            sketch_hll_free(sk);
            free(b);
        }
    }
    r = sketch_hll_union_result(u, SKETCH_HLL_8, &err);
    rb = ser(r, true, &rlen);
    CHECK(rlen == len && memcmp(rb + 40, bytes + 40, len - 40) == 0);
    free(rb);
    sketch_hll_free(r);
    sketch_hll_union_free(u);
    sketch_hll_free(half);
    sketch_hll_free(same);
    sketch_hll_free(java);
    free(bytes);
}

/* The update paths hash exactly as sketch/sketch.h does: a sketch fed
 * update_long / update_double equals one fed update_hash of sketch_hash_*. */
static void test_hash_paths(void)
{
    struct lerr err;
    lerr_init(&err);
    for (int t = 0; t < 3; t++) {
        struct sketch_hll *a = sketch_hll_new(10, (enum sketch_hll_type)t, &err);
        struct sketch_hll *b = sketch_hll_new(10, (enum sketch_hll_type)t, &err);
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (int i = 0; i < 20000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t v = i < 100 ? (int64_t)i - 50 : (int64_t)x;
            double d = i < 10 ? (double)i - 5 : i < 20 ? -0.0 : (double)(int64_t)x / 7.0;
            if (i == 21)
                d = NAN;
            uint64_t h[2];
            sketch_hll_update_long(a, v, &err);
            sketch_hash_long(v, SKETCH_DEFAULT_SEED, h);
            sketch_hll_update_hash(b, h, &err);
            sketch_hll_update_double(a, d, &err);
            sketch_hash_double(d, SKETCH_DEFAULT_SEED, h);
            sketch_hll_update_hash(b, h, &err);
        }
        size_t la, lb;
        uint8_t *pa = ser(a, false, &la), *pb = ser(b, false, &lb);
        CHECK(la == lb && memcmp(pa, pb, la) == 0);
        free(pa);
        free(pb);
        sketch_hll_free(a);
        sketch_hll_free(b);
    }
}

/* ---- exactness, accuracy -------------------------------------------------- */

static void test_exact_small(void)
{
    static const int lgks[] = {4, 7, 8, 12, 16};
    for (size_t li = 0; li < LS_ARRAY_LEN(lgks); li++) {
        int lgk = lgks[li];
        /* LIST up to 7; SET up to 3/4 of 2^(lgK-3) for lgK >= 8. */
        int limit = lgk < 8 ? 7 : (3 << (lgk - 3)) / 4;
        if (limit > 3000)
            limit = 3000;
        for (int t = 0; t < 3; t++) {
            struct lerr err;
            lerr_init(&err);
            struct sketch_hll *sk = sketch_hll_new(lgk, (enum sketch_hll_type)t, &err);
            for (int n = 1; n <= limit; n++) {
                char s[32];
                int len = snprintf(s, sizeof s, "user-%d", n);
                sketch_hll_update_bytes(sk, s, (size_t)len, &err);
                sketch_hll_update_bytes(sk, s, (size_t)len, &err); /* duplicates */
                double lb, ub;
                sketch_hll_bounds(sk, 2, &lb, &ub, &err);
                if (llround(sketch_hll_estimate(sk)) != n || lb != n ||
                    sketch_hll_coupon_count(sk) != (uint32_t)n) {
                    CHECK_MSG(0, "lgK %d type %d: n=%d estimate %.6f lb %.6f count %u", lgk, t, n,
                              sketch_hll_estimate(sk), lb, sketch_hll_coupon_count(sk));
                    break;
                }
                CHECK_EQ_INT(sketch_hll_mode(sk), n <= 7 ? SKETCH_HLL_LIST : SKETCH_HLL_SET);
            }
            sketch_hll_update_bytes(sk, "", 0, &err); /* not an update */
            CHECK_EQ_INT(err.code, LERR_OK);
            CHECK_EQ_INT(sketch_hll_coupon_count(sk), limit);
            /* One more distinct value moves on to HLL mode. */
            if (limit < 3000) {
                for (int n = limit + 1; n <= limit + 2; n++) {
                    char s[32];
                    int len = snprintf(s, sizeof s, "user-%d", n);
                    sketch_hll_update_bytes(sk, s, (size_t)len, &err);
                }
                CHECK_EQ_INT(sketch_hll_mode(sk), SKETCH_HLL_HLL);
                double rse = 1.04 / sqrt((double)(1 << lgk));
                CHECK_MSG(fabs(sketch_hll_estimate(sk) - (limit + 2)) <= 3 * rse * (limit + 2),
                          "after promotion: %.3f", sketch_hll_estimate(sk));
            }
            sketch_hll_free(sk);
        }
    }
}

static void test_million(void)
{
    const int n = 1000000;
    double est[3];
    for (int t = 0; t < 3; t++) {
        struct lerr err;
        lerr_init(&err);
        struct sketch_hll *sk = sketch_hll_new(12, (enum sketch_hll_type)t, &err);
        for (int i = 0; i < n; i++) {
            char s[32];
            int len = snprintf(s, sizeof s, "u%08d", i * 7 + 3);
            sketch_hll_update_bytes(sk, s, (size_t)len, &err);
        }
        CHECK_EQ_INT(err.code, LERR_OK);
        est[t] = sketch_hll_estimate(sk);
        /* lgK 12: RSE 1.04 / sqrt(4096) = 1.6%; 3 RSE. */
        CHECK_MSG(fabs(est[t] - n) <= 3 * 0.01625 * n, "type %d: estimate %.1f", t, est[t]);
        double lb, ub;
        sketch_hll_bounds(sk, 3, &lb, &ub, &err);
        CHECK_MSG(lb <= n && n <= ub, "3-sd bounds [%.1f, %.1f]", lb, ub);
        sketch_hll_bounds(sk, 1, &lb, &ub, &err);
        CHECK(lb < est[t] && est[t] < ub);
        sketch_hll_free(sk);
    }
    /* One register algorithm, three encodings: the same HIP estimate. */
    CHECK_EQ_DBL(est[0], est[1], 0);
    CHECK_EQ_DBL(est[1], est[2], 0);

    /* Doubles hash by value (-0.0 is 0.0). */
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *sk = sketch_hll_new(12, SKETCH_HLL_8, &err);
    for (int i = 0; i < 200000; i++)
        sketch_hll_update_double(sk, i * 0.5, &err);
    sketch_hll_update_double(sk, -0.0, &err);
    CHECK_MSG(fabs(sketch_hll_estimate(sk) - 200000) <= 3 * 0.01625 * 200000, "doubles: %.1f",
              sketch_hll_estimate(sk));
    sketch_hll_free(sk);
}

/* ---- round trips ---------------------------------------------------------- */

static void round_trip(const struct sketch_hll *sk, const char *what)
{
    for (int c = 0; c < 2; c++) {
        size_t len, len2;
        uint8_t *b = ser(sk, c, &len);
        /* DataSketches' bound, which only an HLL_4 exception table that
         * outgrew its initial size (at small lgK) goes past. */
        if (len > sketch_hll_max_serialized_size(sketch_hll_lgk(sk), sketch_hll_type(sk))) {
            static const int lg_aux_init[22] = {0, 2, 2, 2, 2, 2, 2, 3,  3,  3,  4,
                                                4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 13};
            uint32_t aux = len > 40 ? b[36] | b[37] << 8 | (uint32_t)b[38] << 16 : 0;
            CHECK_MSG(sketch_hll_type(sk) == SKETCH_HLL_4 &&
                          4 * aux > 3u << lg_aux_init[sketch_hll_lgk(sk)],
                      "%s: %zu bytes exceed the bound", what, len);
        }
        struct lerr err;
        lerr_init(&err);
        struct sketch_hll *back = sketch_hll_deserialize(b, len, &err);
        CHECK_MSG(back != NULL, "%s (%s): %s", what, c ? "compact" : "updatable", err.msg);
        if (back) {
            uint8_t *b2 = ser(back, c, &len2);
            CHECK_MSG(same_image(b, len, b2, len2), "%s (%s): round trip differs at byte %d", what,
                      c ? "compact" : "updatable", first_diff(b, len, b2, len2));
            CHECK_EQ_DBL(sketch_hll_estimate(back), sketch_hll_estimate(sk), 0);
            CHECK_EQ_INT(sketch_hll_mode(back), sketch_hll_mode(sk));
            CHECK_EQ_INT(sketch_hll_type(back), sketch_hll_type(sk));
            free(b2);
            /* Truncated images are errors, never reads past the end. */
            for (size_t cut = 0; cut < len; cut += (len > 64 ? 37 : 1)) {
                lerr_init(&err);
                struct sketch_hll *t = sketch_hll_deserialize(b, cut, &err);
                if (t) {
                    /* A LIST image's empty tail may go: then equal. */
                    CHECK_MSG(sketch_hll_estimate(t) == sketch_hll_estimate(sk),
                              "%s: a %zu-byte cut read as a different sketch", what, cut);
                    sketch_hll_free(t);
                } else {
                    CHECK_EQ_INT(err.code, LERR_CORRUPT);
                }
            }
        }
        sketch_hll_free(back);
        free(b);
    }
}

static void test_round_trips(void)
{
    static const int lgks[] = {4, 7, 8, 12, 21};
    static const int ns[] = {0, 5, 100, 5000, 300000};
    for (size_t li = 0; li < LS_ARRAY_LEN(lgks); li++) {
        for (int t = 0; t < 3; t++) {
            for (size_t ni = 0; ni < LS_ARRAY_LEN(ns); ni++) {
                if (lgks[li] == 21 && ns[ni] > 5000)
                    continue;
                struct sketch_hll *sk = build_longs(lgks[li], (enum sketch_hll_type)t, 0, ns[ni]);
                char what[64];
                snprintf(what, sizeof what, "lgK %d type %d n %d", lgks[li], t, ns[ni]);
                round_trip(sk, what);
                /* copy_as to every type: same estimate and registers. */
                for (int t2 = 0; t2 < 3; t2++) {
                    struct lerr err;
                    lerr_init(&err);
                    struct sketch_hll *c = sketch_hll_copy_as(sk, (enum sketch_hll_type)t2, &err);
                    CHECK_EQ_DBL(sketch_hll_estimate(c), sketch_hll_estimate(sk), 0);
                    CHECK_EQ_INT(sketch_hll_type(c), t2);
                    round_trip(c, what);
                    sketch_hll_free(c);
                }
                sketch_hll_free(sk);
            }
        }
    }
}

/* HLL_4's exception table: hand-made hashes put values >= 15 into many
 * registers (the table grows), then curMin shifts them back into nibbles. */
static void test_hll4_exceptions(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *s4 = sketch_hll_new(10, SKETCH_HLL_4, &err);
    struct sketch_hll *s8 = sketch_hll_new(10, SKETCH_HLL_8, &err);
    uint32_t rng = 12345;
    for (int round = 0; round < 3; round++) {
        for (uint32_t slot = 0; slot < 1024; slot++) {
            rng = rng * 1103515245u + 12345u;
            /* value v needs v-1 leading zeros in h[1]. */
            unsigned v = (slot % 3 == 0) ? 15 + (rng >> 8) % 40 : 1 + (rng >> 8) % (4 + round * 6);
            uint64_t h[2] = {slot | (uint64_t)(rng & 0xffff) << 32, 1ull << (64 - v)};
            CHECK_EQ_INT(sketch_hll_update_hash(s4, h, &err), 0);
            sketch_hll_update_hash(s8, h, &err);
        }
        CHECK_EQ_DBL(sketch_hll_estimate(s4), sketch_hll_estimate(s8), 0);
        double l4, u4, l8, u8;
        sketch_hll_bounds(s4, 2, &l4, &u4, &err);
        sketch_hll_bounds(s8, 2, &l8, &u8, &err);
        CHECK_EQ_DBL(u4, u8, 0);
        round_trip(s4, "hll4 exceptions");
        /* Converted both ways, the registers agree. */
        struct sketch_hll *c8 = sketch_hll_copy_as(s4, SKETCH_HLL_8, &err);
        struct sketch_hll *c4 = sketch_hll_copy_as(s8, SKETCH_HLL_4, &err);
        size_t a, b;
        uint8_t *pa = ser(c8, true, &a), *pb = ser(s8, true, &b);
        CHECK(a == b && memcmp(pa + 40, pb + 40, a - 40) == 0);
        free(pa);
        free(pb);
        pa = ser(c4, true, &a);
        struct sketch_hll *back = sketch_hll_deserialize(pa, a, &err);
        CHECK(back != NULL);
        CHECK_EQ_DBL(sketch_hll_composite_estimate(back), sketch_hll_composite_estimate(s4), 0);
        round_trip(c4, "hll4 from hll8");
        sketch_hll_free(back);
        free(pa);
        sketch_hll_free(c8);
        sketch_hll_free(c4);
    }
    /* A union of registers >= 32 rebuilds KxQ as DataSketches does, leaving
     * KxQ1 negative; such an image reads back. */
    struct sketch_hll_union *u = sketch_hll_union_new(10, &err);
    sketch_hll_union_update(u, s4, &err);
    sketch_hll_union_update(u, s8, &err);
    struct sketch_hll *r = sketch_hll_union_result(u, SKETCH_HLL_8, &err);
    size_t rl;
    uint8_t *rp = ser(r, true, &rl);
    double kxq1;
    memcpy(&kxq1, rp + 24, 8);
    CHECK_MSG(kxq1 < 0, "KxQ1 %g", kxq1);
    round_trip(r, "union of registers >= 32");
    CHECK_EQ_DBL(sketch_hll_estimate(r), sketch_hll_composite_estimate(s8), 1e-6);
    free(rp);
    sketch_hll_free(r);
    sketch_hll_union_free(u);
    /* The exception table outgrew its initial 16 entries. */
    size_t len;
    uint8_t *p = ser(s4, false, &len);
    CHECK_MSG(len > 40 + 512 + 64, "updatable HLL_4 image is %zu bytes", len);
    CHECK(p[4] > 4);
    free(p);
    sketch_hll_free(s4);
    sketch_hll_free(s8);
}

/* ---- union ---------------------------------------------------------------- */

static void test_union_order(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *srcs[5] = {
        build_longs(12, SKETCH_HLL_4, 0, 50000),       build_longs(11, SKETCH_HLL_8, 20000, 50000),
        build_longs(12, SKETCH_HLL_6, 100000, 100100), /* SET */
        build_longs(12, SKETCH_HLL_4, 200000, 200005), /* LIST */
        build_longs(13, SKETCH_HLL_6, 300000, 310000),
    };
    const double truth = 50000 + 100 + 5 + 10000;
    int perm[5] = {0, 1, 2, 3, 4};
    double first_est = 0;
    uint8_t *first_regs = NULL;
    size_t first_len = 0;
    int count = 0;
    /* All 120 orders (Heap's algorithm). */
    int c[5] = {0};
    int i = 0;
    for (;;) {
        struct sketch_hll_union *u = sketch_hll_union_new(12, &err);
        for (int j = 0; j < 5; j++)
            CHECK_EQ_INT(sketch_hll_union_update(u, srcs[perm[j]], &err), 0);
        struct sketch_hll *r = sketch_hll_union_result(u, SKETCH_HLL_8, &err);
        size_t len;
        uint8_t *b = ser(r, true, &len);
        CHECK_EQ_INT(sketch_hll_lgk(r), 11);
        CHECK_EQ_INT(sketch_hll_is_out_of_order(r), 1);
        if (!first_regs) {
            first_est = sketch_hll_estimate(r);
            first_regs = b;
            first_len = len;
            /* lgK 11, composite: RSE 1.04 / sqrt(2048) = 2.3%. */
            CHECK_MSG(fabs(first_est - truth) <= 3 * 0.023 * truth, "union estimate %.1f",
                      first_est);
        } else {
            CHECK_MSG(sketch_hll_estimate(r) == first_est, "order %d%d%d%d%d: %.17g vs %.17g",
                      perm[0], perm[1], perm[2], perm[3], perm[4], sketch_hll_estimate(r),
                      first_est);
            CHECK(len == first_len && memcmp(b + 40, first_regs + 40, len - 40) == 0);
            free(b);
        }
        sketch_hll_free(r);
        sketch_hll_union_free(u);
        count++;
        /* next permutation */
        while (i < 5 && c[i] >= i) {
            c[i] = 0;
            i++;
        }
        if (i >= 5)
            break;
        int sw = (i % 2 == 0) ? 0 : c[i];
        int tmp = perm[sw];
        perm[sw] = perm[i];
        perm[i] = tmp;
        c[i]++;
        i = 1;
    }
    CHECK_EQ_INT(count, 120);
    free(first_regs);
    for (int j = 0; j < 5; j++)
        sketch_hll_free(srcs[j]);
}

static void test_union_lgk(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *a = build_longs(10, SKETCH_HLL_4, 0, 100000);
    struct sketch_hll *b = build_longs(14, SKETCH_HLL_8, 0, 100000);
    /* lgMaxK 12: the result takes the smallest lgK, 10. */
    struct sketch_hll_union *u = sketch_hll_union_new(12, &err);
    sketch_hll_union_update(u, b, &err);
    sketch_hll_union_update(u, a, &err);
    struct sketch_hll *r = sketch_hll_union_result(u, SKETCH_HLL_4, &err);
    CHECK_EQ_INT(sketch_hll_lgk(r), 10);
    CHECK_EQ_INT(sketch_hll_type(r), SKETCH_HLL_4);
    /* lgK 10 composite: RSE 3.3%. */
    CHECK_MSG(fabs(sketch_hll_estimate(r) - 1e5) <= 3 * 0.033 * 1e5, "lgK 10 union: %.1f",
              sketch_hll_estimate(r));
    sketch_hll_free(r);
    sketch_hll_union_free(u);
    /* lgMaxK 8 folds both down to 8. */
    u = sketch_hll_union_new(8, &err);
    sketch_hll_union_update(u, b, &err);
    r = sketch_hll_union_result(u, SKETCH_HLL_6, &err);
    CHECK_EQ_INT(sketch_hll_lgk(r), 8);
    /* One source downsampled keeps its in-order HIP estimate. */
    CHECK_EQ_INT(sketch_hll_is_out_of_order(r), 0);
    CHECK_EQ_DBL(sketch_hll_estimate(r), sketch_hll_estimate(b), 0);
    sketch_hll_free(r);
    sketch_hll_union_update(u, a, &err);
    r = sketch_hll_union_result(u, SKETCH_HLL_8, &err);
    CHECK_EQ_INT(sketch_hll_lgk(r), 8);
    CHECK_MSG(fabs(sketch_hll_estimate(r) - 1e5) <= 3 * 0.065 * 1e5, "lgK 8 union: %.1f",
              sketch_hll_estimate(r));
    round_trip(r, "union result");
    sketch_hll_free(r);
    sketch_hll_union_free(u);
    /* Coupon-mode sources stay exact through a union. */
    struct sketch_hll *l1 = build_longs(12, SKETCH_HLL_4, 0, 6);
    struct sketch_hll *l2 = build_longs(16, SKETCH_HLL_8, 3, 200);
    u = sketch_hll_union_new(12, &err);
    sketch_hll_union_update(u, l1, &err);
    sketch_hll_union_update(u, l2, &err);
    uint64_t h[2];
    sketch_hash_long(1000, SKETCH_DEFAULT_SEED, h);
    sketch_hll_union_update_hash(u, h, &err);
    r = sketch_hll_union_result(u, SKETCH_HLL_4, &err);
    CHECK_EQ_INT(sketch_hll_mode(r), SKETCH_HLL_SET);
    CHECK_EQ_INT(sketch_hll_coupon_count(r), 201);
    CHECK_EQ_INT(llround(sketch_hll_estimate(r)), 201);
    sketch_hll_free(r);
    sketch_hll_union_free(u);
    sketch_hll_free(l1);
    sketch_hll_free(l2);
    sketch_hll_free(a);
    sketch_hll_free(b);
}

/* ---- errors --------------------------------------------------------------- */

static void expect_corrupt(const uint8_t *p, size_t n, int64_t pos, const char *needle)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *sk = sketch_hll_deserialize(p, n, &err);
    CHECK_MSG(sk == NULL, "accepted an image that should fail at byte %lld (%s)", (long long)pos,
              needle);
    sketch_hll_free(sk);
    CHECK_EQ_INT(err.code, LERR_CORRUPT);
    CHECK_EQ_INT(err.pos, pos);
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void test_errors(void)
{
    struct lerr err;
    lerr_init(&err);
    CHECK(sketch_hll_new(3, SKETCH_HLL_4, &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_INVALID);
    CHECK(strstr(err.msg, "4 to 21") != NULL);
    lerr_init(&err);
    CHECK(sketch_hll_new(22, SKETCH_HLL_4, &err) == NULL);
    lerr_init(&err);
    CHECK(sketch_hll_new(12, (enum sketch_hll_type)3, &err) == NULL);
    lerr_init(&err);
    CHECK(sketch_hll_union_new(0, &err) == NULL);
    CHECK_EQ_INT(sketch_hll_max_serialized_size(12, SKETCH_HLL_4), 40 + 2048 + 4 * 32);
    CHECK_EQ_INT(sketch_hll_max_serialized_size(12, SKETCH_HLL_6), 40 + 3073);
    CHECK_EQ_INT(sketch_hll_max_serialized_size(12, SKETCH_HLL_8), 40 + 4096);
    CHECK_EQ_INT(sketch_hll_max_serialized_size(2, SKETCH_HLL_8), 0);

    struct sketch_hll *sk = build_longs(12, SKETCH_HLL_8, 0, 3);
    lerr_init(&err);
    CHECK_EQ_INT(sketch_hll_bounds(sk, 4, NULL, NULL, &err), LERR_INVALID);
    uint8_t small[4];
    lerr_init(&err);
    CHECK_EQ_INT(sketch_hll_serialize(sk, true, small, sizeof small, &err), 0);
    CHECK_EQ_INT(err.code, LERR_INVALID);
    sketch_hll_free(sk);

    size_t len;
    uint8_t *list = read_file("hll4_n1_java.sk", &len);
    uint8_t *set = read_file("updatable_set_from_java.sk", &len);
    uint8_t *hll4 = read_file("hll4_n1000000_java.sk", &len);
    uint8_t *hll8 = read_file("hll8_n1000_java.sk", &len);
    if (!list || !set || !hll4 || !hll8)
        return;
    uint8_t b[4200];

    expect_corrupt(list, 5, 5, "needs 8");
    memcpy(b, list, 12);
    b[2] = 3;
    expect_corrupt(b, 12, 2, "family id is 3, not 7");
    memcpy(b, list, 12);
    b[1] = 2;
    expect_corrupt(b, 12, 1, "serial version is 2");
    memcpy(b, list, 12);
    b[3] = 22;
    expect_corrupt(b, 12, 3, "lgK is 22");
    memcpy(b, list, 12);
    b[7] = 3;
    expect_corrupt(b, 12, 7, "mode byte 0x03");
    memcpy(b, list, 12);
    b[0] = 10;
    expect_corrupt(b, 12, 0, "LIST mode has 2");
    memcpy(b, list, 12);
    b[6] = 9;
    expect_corrupt(b, 12, 6, "at most 7 coupons");
    memcpy(b, list, 12);
    b[6] = 2;
    expect_corrupt(b, 12, 12, "needs 16");
    memcpy(b, list, 12);
    memset(b + 8, 0, 4);
    expect_corrupt(b, 12, 8, "not 1 to 63");

    memcpy(b, set, 140);
    b[8] = 23; /* count */
    expect_corrupt(b, 140, 8, "the SET count is 23 but the table holds 24");
    b[8] = 25;
    expect_corrupt(b, 140, 8, "the SET count 25 exceeds 24");
    memcpy(b, set, 140);
    b[4] = 9; /* table size beyond lgK 8's 2^5 */
    expect_corrupt(b, 140, 4, "out of range");
    memcpy(b, set, 140);
    expect_corrupt(b, 100, 100, "needs 140");

    memcpy(b, hll4, 2092);
    b[36] = 0; /* aux count */
    expect_corrupt(b, 2092, 36, "exception count is 0 but 1 registers");
    memcpy(b, hll4, 2092);
    b[2088 + 3] = 0x04; /* exception value 1 < curMin + 15 */
    expect_corrupt(b, 2092, 2088, "must be");
    memcpy(b, hll4, 2092);
    expect_corrupt(b, 2090, 2090, "exceptions need 2092");
    memcpy(b, hll4, 2092);
    b[32] ^= 1;
    expect_corrupt(b, 2092, 32, "numAtCurMin");

    memcpy(b, hll8, 4136);
    b[40 + 77] = 64;
    expect_corrupt(b, 4136, 40 + 77, "register 77 is 64");
    memcpy(b, hll8, 4136);
    memset(b + 16, 0xff, 8); /* KxQ0 = NaN */
    expect_corrupt(b, 4136, 16, "KxQ");
    memcpy(b, hll8, 4136);
    expect_corrupt(b, 4000, 4000, "needs 4136");

    /* Every single-byte change of these images: an error or a sketch that
     * estimates, serializes and unions without reading out of bounds. */
    const uint8_t *imgs[] = {list, set, hll4};
    size_t lens[] = {12, 140, 2092};
    for (int im = 0; im < 3; im++) {
        for (size_t at = 0; at < lens[im]; at += (lens[im] > 200 ? 7 : 1)) {
            for (int x = 1; x < 256; x *= 3) {
                memcpy(b, imgs[im], lens[im]);
                b[at] ^= (uint8_t)x;
                lerr_init(&err);
                struct sketch_hll *s = sketch_hll_deserialize(b, lens[im], &err);
                if (!s) {
                    CHECK(err.code == LERR_CORRUPT && err.pos >= 0 && (size_t)err.pos <= lens[im]);
                    continue;
                }
                double e = sketch_hll_estimate(s), lo, hi;
                sketch_hll_bounds(s, 1, &lo, &hi, &err);
                CHECK(e == e && lo <= hi);
                size_t n;
                uint8_t *re = ser(s, true, &n);
                free(re);
                struct sketch_hll_union *u = sketch_hll_union_new(12, &err);
                sketch_hll_union_update(u, s, &err);
                struct sketch_hll *r = sketch_hll_union_result(u, SKETCH_HLL_4, &err);
                CHECK(r != NULL);
                sketch_hll_free(r);
                sketch_hll_union_free(u);
                sketch_hll_free(s);
            }
        }
    }
    free(list);
    free(set);
    free(hll4);
    free(hll8);
}

/* ---- allocation failures ------------------------------------------------- */

/* Runs one scenario through every mode, HLL_4's exceptions and curMin
 * shifts, reading, converting and a union, with allocation number `fail_at`
 * failing (0: none). Each operation that fails must say LERR_NOMEM and leave
 * its object as it was; it is then retried, so the run ends in the same
 * state as a run without failures. Returns the final union result's image
 * and whether the failure happened. */
static bool state_eq(const struct sketch_hll *sk, const uint8_t *img, size_t len)
{
    size_t n;
    uint8_t *p = ser(sk, false, &n);
    bool eq = n == len && memcmp(p, img, n) == 0;
    free(p);
    return eq;
}

static int nomem_failures;

/* After a failed call: NOMEM, nothing changed; clears err. */
static void after_failure(struct lerr *err, const struct sketch_hll *sk, const uint8_t *img,
                          size_t len)
{
    nomem_failures++;
    CHECK_EQ_INT(err->code, LERR_NOMEM);
    if (sk)
        CHECK_MSG(state_eq(sk, img, len), "a failed allocation changed the sketch");
    lerr_init(err);
}

static uint8_t *alloc_scenario(int fail_at, size_t *out_len, bool *failed)
{
    struct lerr err;
    lerr_init(&err);
    int before = nomem_failures;
    sketch__hll_fail_alloc_after = fail_at;
    struct sketch_hll *sk;
    while (!(sk = sketch_hll_new(10, SKETCH_HLL_4, &err)))
        after_failure(&err, NULL, NULL, 0);
    uint32_t rng = 99;
    for (int i = 0; i < 4000; i++) {
        rng = rng * 1103515245u + 12345u;
        uint64_t h[2];
        if (i < 1500) {
            sketch_hash_long(i, SKETCH_DEFAULT_SEED, h);
        } else {
            /* High values into registers: exceptions, then curMin shifts. */
            unsigned v = 1 + (rng >> 8) % (i % 5 == 0 ? 40 : 12);
            h[0] = (uint64_t)(rng >> 4);
            h[1] = 1ull << (64 - v);
        }
        size_t len;
        uint8_t *img = ser(sk, false, &len);
        while (sketch_hll_update_hash(sk, h, &err) != 0)
            after_failure(&err, sk, img, len);
        free(img);
    }
    size_t len;
    uint8_t *img = ser(sk, true, &len);
    struct sketch_hll *back;
    while (!(back = sketch_hll_deserialize(img, len, &err)))
        after_failure(&err, NULL, NULL, 0);
    free(img);
    struct sketch_hll *c8;
    while (!(c8 = sketch_hll_copy_as(back, SKETCH_HLL_8, &err)))
        after_failure(&err, NULL, NULL, 0);
    int saved_countdown = sketch__hll_fail_alloc_after; /* a fixed input */
    sketch__hll_fail_alloc_after = 0;
    struct sketch_hll *list = build_longs(12, SKETCH_HLL_6, 0, 5);
    sketch__hll_fail_alloc_after = saved_countdown;
    struct sketch_hll_union *u;
    while (!(u = sketch_hll_union_new(12, &err)))
        after_failure(&err, NULL, NULL, 0);
    const struct sketch_hll *srcs[3] = {list, c8, sk};
    for (int j = 0; j < 3; j++) {
        struct sketch_hll *before_r = NULL;
        while (!(before_r = sketch_hll_union_result(u, SKETCH_HLL_8, &err)))
            after_failure(&err, NULL, NULL, 0);
        size_t bl;
        uint8_t *bi = ser(before_r, false, &bl);
        while (sketch_hll_union_update(u, srcs[j], &err) != 0) {
            after_failure(&err, NULL, NULL, 0);
            struct sketch_hll *now = NULL;
            int saved = sketch__hll_fail_alloc_after;
            sketch__hll_fail_alloc_after = 0;
            now = sketch_hll_union_result(u, SKETCH_HLL_8, &err);
            sketch__hll_fail_alloc_after = saved;
            CHECK_MSG(state_eq(now, bi, bl), "a failed union update changed the union");
            sketch_hll_free(now);
        }
        free(bi);
        sketch_hll_free(before_r);
    }
    struct sketch_hll *r;
    while (!(r = sketch_hll_union_result(u, SKETCH_HLL_4, &err)))
        after_failure(&err, NULL, NULL, 0);
    uint8_t *out = ser(r, true, out_len);
    *failed = nomem_failures > before;
    sketch__hll_fail_alloc_after = 0;
    sketch_hll_free(r);
    sketch_hll_union_free(u);
    sketch_hll_free(list);
    sketch_hll_free(c8);
    sketch_hll_free(back);
    sketch_hll_free(sk);
    return out;
}

static void test_alloc_failures(void)
{
    size_t ref_len;
    bool failed;
    uint8_t *ref = alloc_scenario(0, &ref_len, &failed);
    CHECK(!failed);
    int points = 0;
    for (int at = 1; at < 100000; at++) {
        size_t len;
        uint8_t *got = alloc_scenario(at, &len, &failed);
        if (!failed) { /* past the scenario's last allocation */
            free(got);
            break;
        }
        points++;
        CHECK_MSG(len == ref_len && memcmp(got, ref, len) == 0,
                  "allocation %d failing changed the final result", at);
        free(got);
    }
    CHECK_MSG(points > 50, "only %d allocation points exercised", points);
    free(ref);
}

/* ---- toString ------------------------------------------------------------- */

static void test_to_string(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *sk = sketch_hll_new(12, SKETCH_HLL_4, &err);
    char buf[1024];
    size_t n = sketch_hll_to_string(sk, buf, sizeof buf);
    CHECK_EQ_STR(buf, "### HLL SKETCH SUMMARY: \n"
                      "  Log Config K   : 12\n"
                      "  Hll Target     : HLL_4\n"
                      "  Current Mode   : LIST\n"
                      "  Memory         : false\n"
                      "  LB             : 0.0\n"
                      "  Estimate       : 0.0\n"
                      "  UB             : 0.0\n"
                      "  OutOfOrder Flag: false\n"
                      "  Coupon Count   : 0\n");
    CHECK_EQ_INT(n, strlen(buf));
    /* snprintf-like: the length needed, a truncated NUL-terminated text. */
    char small[10];
    CHECK_EQ_INT(sketch_hll_to_string(sk, small, sizeof small), n);
    CHECK_EQ_STR(small, "### HLL S");
    CHECK_EQ_INT(sketch_hll_to_string(sk, NULL, 0), n);
    sketch_hll_free(sk);

    sk = build_longs(12, SKETCH_HLL_8, 0, 3);
    sketch_hll_to_string(sk, buf, sizeof buf);
    CHECK(strstr(buf, "  LB             : 3.0\n") != NULL);
    CHECK(strstr(buf, "  Coupon Count   : 3\n") != NULL);
    CHECK(strstr(buf, "  Hll Target     : HLL_8\n") != NULL);
    sketch_hll_free(sk);

    size_t len;
    uint8_t *p = read_file("hll4_n1000000_java.sk", &len);
    if (!p)
        return;
    sk = sketch_hll_deserialize(p, len, &err);
    sketch_hll_to_string(sk, buf, sizeof buf);
    CHECK(strstr(buf, "  Current Mode   : HLL\n") != NULL);
    CHECK(strstr(buf, "  KxQ1           : 0.0\n") != NULL);
    CHECK(strstr(buf, "  Rebuild KxQ Flg: false\n") != NULL);
    /* Java's Double.toString: shortest digits that read back, with ".0" or
     * "E" as Java writes them; the HIP estimate of 1M is written plain. */
    const char *e = strstr(buf, "  Estimate       : ");
    CHECK(e != NULL);
    if (e) {
        char *end;
        double v = strtod(e + 19, &end);
        CHECK_EQ_DBL(v, sketch_hll_estimate(sk), 0);
        CHECK(*end == '\n' && strchr(e + 19, 'E') != end - 0 && v > 9e5);
    }
    const char *k0 = strstr(buf, "  KxQ0           : ");
    CHECK(k0 != NULL);
    if (k0) {
        double v = strtod(k0 + 19, NULL), want;
        memcpy(&want, p + 16, 8);
        CHECK_EQ_DBL(v, want, 0);
    }
    sketch_hll_free(sk);
    free(p);

    /* Doubles as Java's Double.toString writes them: an in-order HLL
     * sketch's estimate is its HIP accumulator, patched in here. */
    static const struct {
        double v;
        const char *text;
    } fmt[] = {
        {1234.5, "1234.5"},
        {100.0, "100.0"},
        {0.001, "0.001"},
        {0.0001, "1.0E-4"},
        {1e7, "1.0E7"},
        {9999999.0, "9999999.0"},
        {12345678.9, "1.23456789E7"},
        {123456789012.0, "1.23456789012E11"},
        {0.1 + 0.2, "0.30000000000000004"},
        {4096.000000000001, "4096.000000000001"},
    };
    struct sketch_hll *h = build_longs(8, SKETCH_HLL_8, 0, 1000);
    uint8_t *img = ser(h, true, &len);
    for (size_t i = 0; i < LS_ARRAY_LEN(fmt); i++) {
        memcpy(img + 8, &fmt[i].v, 8);
        struct sketch_hll *x = sketch_hll_deserialize(img, len, &err);
        CHECK(x != NULL);
        if (!x)
            continue;
        char want[80];
        snprintf(want, sizeof want, "  Estimate       : %s\n", fmt[i].text);
        sketch_hll_to_string(x, buf, sizeof buf);
        CHECK_MSG(strstr(buf, want) != NULL, "%.17g: want \"%s\" in\n%s", fmt[i].v, fmt[i].text,
                  buf);
        sketch_hll_free(x);
    }
    free(img);
    sketch_hll_free(h);
}

int main(void)
{
    test_compat_files();
    test_from_java_files();
    test_union_with_java();
    test_hash_paths();
    test_exact_small();
    test_million();
    test_round_trips();
    test_hll4_exceptions();
    test_union_order();
    test_union_lgk();
    test_errors();
    test_to_string();
    test_alloc_failures();
    return check_summary();
}
