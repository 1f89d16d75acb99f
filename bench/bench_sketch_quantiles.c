/*
 * bench_sketch_quantiles.c — speed of the classic quantiles sketch
 * (sketch/quantiles.h) on one core, each figure beside a reference measured
 * in the same run over the same values:
 *   1. updates/s into a k=128 sketch (Druid's default) and k=1024, 10M
 *      uniform doubles, vs the exact way: append every value to an array
 *      and qsort it once (what a sketch saves), and vs the append alone (a
 *      memory-speed floor no per-item work can beat);
 *   2. merging 1,000 sketches of 10,000 items through a union, as items per
 *      second merged, vs re-updating those items into one sketch;
 *   3. 99 quantiles from a 10M-item sketch (it sorts its retained items
 *      once) vs qsort of as many doubles; compact serialize + deserialize
 *      (with every check) vs copying the bytes there and back.
 * Each figure is the best of 3 rounds (the machine is shared).
 */
#include "sketch/quantiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 10000000
#define ROUNDS 3
#define PARTS 1000
#define PART_N 10000

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static volatile double sink;

static double bench_sketch(const double *v, int k)
{
    double best = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        struct lerr e;
        lerr_init(&e);
        struct sketch_quantiles *s = sketch_quantiles_new(k, &e);
        sketch_quantiles_seed(s, (uint64_t)r);
        double t0 = now_s();
        for (size_t i = 0; i < N; i++)
            sketch_quantiles_update(s, v[i], NULL);
        double t = now_s() - t0;
        if (t < best)
            best = t;
        sink = sketch_quantiles_max(s);
        sketch_quantiles_free(s);
    }
    return best;
}

int main(void)
{
    double *v = malloc(N * sizeof(double)), *copy = malloc(N * sizeof(double));
    if (!v || !copy) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < N; i++)
        v[i] = (double)(rng() >> 11) / 9007199254740992.0 * 1000.0;

    /* 1. updates */
    double t128 = bench_sketch(v, 128), t1024 = bench_sketch(v, 1024);
    double t_append = 1e30, t_sort = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < N; i++)
            copy[i] = v[i];
        double t1 = now_s();
        qsort(copy, N, sizeof(double), cmpd);
        double t2 = now_s();
        sink = copy[N / 2];
        if (t1 - t0 < t_append)
            t_append = t1 - t0;
        if (t2 - t0 < t_sort)
            t_sort = t2 - t0;
    }
    printf("update k=128   %7.1f M items/s | append+qsort %6.1f M items/s | ratio %5.2fx "
           "(sketch/exact)\n",
           N / t128 / 1e6, N / t_sort / 1e6, t_sort / t128);
    printf("update k=1024  %7.1f M items/s | append+qsort %6.1f M items/s | ratio %5.2fx\n",
           N / t1024 / 1e6, N / t_sort / 1e6, t_sort / t1024);
    printf("update k=128   %7.1f M items/s | append alone %6.1f M items/s | ratio %5.2fx "
           "(sketch/memory floor)\n",
           N / t128 / 1e6, N / t_append / 1e6, t_append / t128);

    /* 2. merging */
    struct lerr e;
    lerr_init(&e);
    struct sketch_quantiles **parts = malloc(PARTS * sizeof *parts);
    for (int p = 0; p < PARTS; p++) {
        parts[p] = sketch_quantiles_new(128, &e);
        sketch_quantiles_seed(parts[p], (uint64_t)p);
        for (int i = 0; i < PART_N; i++)
            sketch_quantiles_update(parts[p], v[(size_t)p * PART_N + (size_t)i], NULL);
    }
    double t_merge = 1e30, t_reupdate = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        struct sketch_quantiles_union *u = sketch_quantiles_union_new(128, &e);
        double t0 = now_s();
        for (int p = 0; p < PARTS; p++)
            sketch_quantiles_union_update(u, parts[p], NULL);
        double t = now_s() - t0;
        if (t < t_merge)
            t_merge = t;
        sketch_quantiles_union_free(u);
        struct sketch_quantiles *s = sketch_quantiles_new(128, &e);
        t0 = now_s();
        for (size_t i = 0; i < (size_t)PARTS * PART_N; i++)
            sketch_quantiles_update(s, v[i], NULL);
        t = now_s() - t0;
        if (t < t_reupdate)
            t_reupdate = t;
        sketch_quantiles_free(s);
    }
    printf("union of %d x %d  %7.1f M items/s merged | re-update %6.1f M items/s | ratio %5.1fx\n",
           PARTS, PART_N, (double)PARTS * PART_N / t_merge / 1e6,
           (double)PARTS * PART_N / t_reupdate / 1e6, t_reupdate / t_merge);

    /* 3. queries and bytes */
    struct sketch_quantiles *s = sketch_quantiles_new(128, &e);
    for (size_t i = 0; i < N; i++)
        sketch_quantiles_update(s, v[i], NULL);
    double ranks[99], out[99];
    for (int i = 0; i < 99; i++)
        ranks[i] = (i + 1) / 100.0;
    double t_q = 1e30, t_bytes = 1e30, t_qref = 1e30, t_copy = 1e30;
    size_t size = sketch_quantiles_serialized_size(s, 1);
    uint32_t nret = sketch_quantiles_num_retained(s);
    unsigned char *b = malloc(size), *b2 = malloc(size);
    double *ret = malloc(nret * sizeof(double));
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int i = 0; i < 1000; i++)
            sketch_quantiles_quantiles(s, ranks, 99, SKETCH_QUANTILES_INCLUSIVE, out, NULL);
        double t = (now_s() - t0) / 1000;
        if (t < t_q)
            t_q = t;
        /* reference: qsort of as many items as the sketch retains */
        t0 = now_s();
        for (int i = 0; i < 1000; i++) {
            memcpy(ret, v + (size_t)i * 1000, nret * sizeof(double));
            qsort(ret, nret, sizeof(double), cmpd);
        }
        t = (now_s() - t0) / 1000;
        if (t < t_qref)
            t_qref = t;
        t0 = now_s();
        for (int i = 0; i < 1000; i++) {
            sketch_quantiles_serialize(s, 1, b, size);
            struct sketch_quantiles *t2 = sketch_quantiles_deserialize(b, size, NULL);
            sketch_quantiles_free(t2);
        }
        t = (now_s() - t0) / 1000;
        if (t < t_bytes)
            t_bytes = t;
        t0 = now_s();
        for (int i = 0; i < 1000; i++) {
            b[i % size] ^= 1;
            memcpy(b2, b, size);
            memcpy(b, b2, size);
        }
        t = (now_s() - t0) / 1000;
        if (t < t_copy)
            t_copy = t;
    }
    sink = out[49] + b2[0];
    printf("99 quantiles of a 10M sketch (%u retained) %6.1f us | qsort of %u items %6.1f us | "
           "ratio %5.2fx\n",
           nret, t_q * 1e6, nret, t_qref * 1e6, t_qref / t_q);
    printf("serialize+deserialize (%zu bytes) %6.1f us | memcpy there and back %6.2f us | ratio "
           "%5.2fx\n",
           size, t_bytes * 1e6, t_copy * 1e6, t_copy / t_bytes);
    free(ret);
    free(b2);
    sketch_quantiles_free(s);
    free(b);
    for (int p = 0; p < PARTS; p++)
        sketch_quantiles_free(parts[p]);
    free(parts);
    free(v);
    free(copy);
    return 0;
}
