/*
 * bench_sketch_hll.c — HLL sketch updates per second on one core
 * (sketch/hll.h), for longs and for strings, in each target type at
 * Druid's lgK 12, beside a reference measured in the same run: a plain C
 * loop that only hashes the same values with sketch_murmur3 (the floor any
 * DataSketches-compatible update pays). Prints the ratio reference time /
 * sketch time (1.0 = the sketch costs nothing beyond the hash) and checks
 * the goal of >= 30M updates/s per core. Also times a union of two
 * HLL_4 sketches and a serialize + deserialize of one, per second.
 * Each figure is the best of 3 rounds (the machine is shared).
 */
#include "sketch/hll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sketch/sketch.h"

#define N 4000000
#define ROUNDS 3
#define GOAL 30e6

static char strs[N][16];
static uint8_t lens[N];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile uint64_t sink;

static double ref_longs(void)
{
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t acc = 0;
        double t0 = now_s();
        for (int64_t i = 0; i < N; i++) {
            uint64_t h[2];
            unsigned char le[8];
            uint64_t v = (uint64_t)(i * 2654435761LL);
            for (int b = 0; b < 8; b++)
                le[b] = (unsigned char)(v >> (8 * b));
            sketch_murmur3(le, 8, SKETCH_DEFAULT_SEED, h);
            acc += h[0] ^ h[1];
        }
        double t = now_s() - t0;
        sink = acc;
        if (t < best)
            best = t;
    }
    return best;
}

static double ref_strings(void)
{
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t acc = 0;
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
            uint64_t h[2];
            sketch_murmur3(strs[i], lens[i], SKETCH_DEFAULT_SEED, h);
            acc += h[0] ^ h[1];
        }
        double t = now_s() - t0;
        sink = acc;
        if (t < best)
            best = t;
    }
    return best;
}

static double run(enum sketch_hll_type type, bool strings, double *est)
{
    double best = 1e9;
    for (int r = 0; r < ROUNDS; r++) {
        struct lerr err;
        lerr_init(&err);
        struct sketch_hll *sk = sketch_hll_new(SKETCH_HLL_DEFAULT_LGK, type, &err);
        if (!sk) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        double t0 = now_s();
        if (strings) {
            for (int i = 0; i < N; i++)
                sketch_hll_update_bytes(sk, strs[i], lens[i], &err);
        } else {
            for (int64_t i = 0; i < N; i++)
                sketch_hll_update_long(sk, i * 2654435761LL, &err);
        }
        double t = now_s() - t0;
        *est = sketch_hll_estimate(sk);
        sketch_hll_free(sk);
        if (t < best)
            best = t;
    }
    return best;
}

int main(void)
{
    for (int i = 0; i < N; i++)
        lens[i] = (uint8_t)snprintf(strs[i], sizeof strs[i], "user%07d", i);
    double rl = ref_longs(), rs = ref_strings();
    int below = 0;
    for (int s = 0; s < 2; s++) {
        for (int t = 0; t < 3; t++) {
            double est;
            double secs = run((enum sketch_hll_type)t, s, &est);
            double ref = s ? rs : rl, rate = N / secs;
            printf("hll %s update %-7s %6.1f M/s (%5.1f ns) | murmur3 only %6.1f M/s (%5.1f ns) | "
                   "ratio %4.2f | estimate %.0f of %d | goal 30 M/s: %s\n",
                   sketch_hll_type_name((enum sketch_hll_type)t), s ? "strings" : "longs",
                   rate / 1e6, secs / N * 1e9, N / ref / 1e6, ref / N * 1e9, ref / secs, est, N,
                   rate >= GOAL ? "met" : "MISSED");
            below += rate < GOAL;
        }
    }
    /* Union and image round trip of full HLL_4 sketches (lgK 12). */
    struct lerr err;
    lerr_init(&err);
    struct sketch_hll *a = sketch_hll_new(12, SKETCH_HLL_4, &err);
    struct sketch_hll *b = sketch_hll_new(12, SKETCH_HLL_4, &err);
    for (int64_t i = 0; i < 200000; i++) {
        sketch_hll_update_long(a, i, &err);
        sketch_hll_update_long(b, i + 100000, &err);
    }
    const int M = 20000;
    double t0 = now_s();
    for (int i = 0; i < M; i++) {
        struct sketch_hll_union *u = sketch_hll_union_new(12, &err);
        sketch_hll_union_update(u, a, &err);
        sketch_hll_union_update(u, b, &err);
        struct sketch_hll *r = sketch_hll_union_result(u, SKETCH_HLL_4, &err);
        sink += (uint64_t)sketch_hll_estimate(r);
        sketch_hll_free(r);
        sketch_hll_union_free(u);
    }
    double tu = now_s() - t0;
    uint8_t buf[4096];
    t0 = now_s();
    for (int i = 0; i < M; i++) {
        size_t n = sketch_hll_serialize(a, true, buf, sizeof buf, &err);
        struct sketch_hll *c = sketch_hll_deserialize(buf, n, &err);
        sink += (uint64_t)sketch_hll_estimate(c);
        sketch_hll_free(c);
    }
    double ts = now_s() - t0;
    printf("hll union of 2 HLL_4 lgK 12 + result: %8.0f /s | serialize + deserialize HLL_4: "
           "%8.0f /s\n",
           M / tu, M / ts);
    sketch_hll_free(a);
    sketch_hll_free(b);
    printf("hll updates below 30 M/s per core: %d of 6\n", below);
    return 0;
}
