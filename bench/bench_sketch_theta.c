/*
 * bench_sketch_theta.c — theta sketch update speed on one core
 * (sketch/theta.h), each beside a reference measured in the same run: a
 * plain C loop hashing the same values with sketch_murmur3 (the hash every
 * update needs), as a ratio. The goal is >= 30M updates/s per core.
 *   1. 10M distinct longs into a 16384-entry sketch (Druid's default);
 *   2. 2M distinct strings ("user-<n>", 6 to 12 bytes) into the same;
 *   3. merging: 1000 ordered compact sketches of 10k values each into a union,
 *      beside a plain scan of the same hashes (the union may beat it: an
 *      ordered sketch is read only up to the union's theta).
 * Each figure is the best of 3 rounds (the machine is shared). The estimates
 * are printed too, so a fast but wrong sketch shows.
 */
#include "sketch/theta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

#define NLONG 10000000
#define NSTR 2000000
#define ROUNDS 3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t sink;

static void put64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int main(void)
{
    char *strbuf = malloc((size_t)NSTR * 16);
    uint32_t *off = malloc((NSTR + 1) * sizeof *off);
    if (!strbuf || !off)
        return 1;
    uint32_t at = 0;
    for (int i = 0; i < NSTR; i++) {
        off[i] = at;
        at += (uint32_t)sprintf(strbuf + at, "user-%d", i);
    }
    off[NSTR] = at;

    struct lerr err;
    lerr_init(&err);
    double best_long = 1e9, best_long_ref = 1e9, best_str = 1e9, best_str_ref = 1e9;
    double est_long = 0, est_str = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct sketch_theta *s = sketch_theta_new(NULL, &err);
        double t0 = now_s();
        for (int64_t i = 0; i < NLONG; i++)
            sketch_theta_update_long(s, i, &err);
        double t1 = now_s();
        est_long = sketch_theta_estimate(s);
        sketch_theta_free(s);
        uint64_t acc = 0;
        double t2 = now_s();
        for (int64_t i = 0; i < NLONG; i++) {
            unsigned char b[8];
            uint64_t h[2];
            put64le(b, (uint64_t)i);
            sketch_murmur3(b, 8, SKETCH_DEFAULT_SEED, h);
            acc += h[0] >> 1;
        }
        double t3 = now_s();
        sink += acc;
        best_long = fmin(best_long, t1 - t0);
        best_long_ref = fmin(best_long_ref, t3 - t2);

        s = sketch_theta_new(NULL, &err);
        t0 = now_s();
        for (int i = 0; i < NSTR; i++)
            sketch_theta_update_bytes(s, strbuf + off[i], off[i + 1] - off[i], &err);
        t1 = now_s();
        est_str = sketch_theta_estimate(s);
        sketch_theta_free(s);
        acc = 0;
        t2 = now_s();
        for (int i = 0; i < NSTR; i++) {
            uint64_t h[2];
            sketch_murmur3(strbuf + off[i], off[i + 1] - off[i], SKETCH_DEFAULT_SEED, h);
            acc += h[0] >> 1;
        }
        t3 = now_s();
        sink += acc;
        best_str = fmin(best_str, t1 - t0);
        best_str_ref = fmin(best_str_ref, t3 - t2);
    }
    double long_rate = NLONG / best_long / 1e6, long_ref = NLONG / best_long_ref / 1e6;
    double str_rate = NSTR / best_str / 1e6, str_ref = NSTR / best_str_ref / 1e6;
    printf(
        "theta update long    %6.1f M updates/s (%5.1f ns) | murmur3 loop %6.1f M/s | ratio %.2f | "
        "estimate %.0f of %d | goal >= 30 M/s: %s\n",
        long_rate, 1e9 / (long_rate * 1e6), long_ref, long_rate / long_ref, est_long, NLONG,
        long_rate >= 30 ? "met" : "NOT MET");
    printf(
        "theta update string  %6.1f M updates/s (%5.1f ns) | murmur3 loop %6.1f M/s | ratio %.2f | "
        "estimate %.0f of %d | goal >= 30 M/s: %s\n",
        str_rate, 1e9 / (str_rate * 1e6), str_ref, str_rate / str_ref, est_str, NSTR,
        str_rate >= 30 ? "met" : "NOT MET");

    /* merging: the query-side cost per retained hash */
    enum { NSK = 1000, PER = 10000 };
    struct sketch_theta_compact **parts = malloc(NSK * sizeof *parts);
    uint64_t retained = 0;
    for (int k = 0; k < NSK; k++) {
        struct sketch_theta *s = sketch_theta_new(NULL, &err);
        for (int i = 0; i < PER; i++)
            sketch_theta_update_long(s, (int64_t)k * PER / 2 + i,
                                     &err); /* half overlaps the next */
        parts[k] = sketch_theta_compact(s, true, &err);
        retained += sketch_theta_compact_num_retained(parts[k]);
        sketch_theta_free(s);
    }
    double best_merge = 1e9, est_merge = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct sketch_theta_union *u = sketch_theta_union_new(NULL, &err);
        double t0 = now_s();
        for (int k = 0; k < NSK; k++)
            sketch_theta_union_add(u, parts[k], &err);
        struct sketch_theta_compact *r = sketch_theta_union_result(u, true, &err);
        double t1 = now_s();
        est_merge = sketch_theta_compact_estimate(r);
        sketch_theta_compact_free(r);
        sketch_theta_union_free(u);
        best_merge = fmin(best_merge, t1 - t0);
    }
    /* reference: reading the same hashes once (a sum), the least a merge must do */
    double best_scan = 1e9;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t acc = 0;
        double t0 = now_s();
        for (int k = 0; k < NSK; k++) {
            const uint64_t *e = sketch_theta_compact_entries(parts[k]);
            for (uint32_t i = 0; i < sketch_theta_compact_num_retained(parts[k]); i++)
                acc += e[i];
        }
        double t1 = now_s();
        sink += acc;
        best_scan = fmin(best_scan, t1 - t0);
    }
    printf("theta union merge    %6.1f sketches/ms (%llu hashes) | scan of the same hashes %.1f "
           "sketches/ms | ratio %.2f | estimate %.0f of %d\n",
           NSK / best_merge / 1e3, (unsigned long long)retained, NSK / best_scan / 1e3,
           best_scan / best_merge, est_merge, NSK * PER / 2 + PER / 2);
    for (int k = 0; k < NSK; k++)
        sketch_theta_compact_free(parts[k]);
    free(parts);
    free(strbuf);
    free(off);
    return sink == 42 ? 1 : 0;
}
