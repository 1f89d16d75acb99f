/*
 * bench_zipf.h — Zipf(s) over ranks 0..n-1 by inverse CDF, the skew of the
 * benchmarks' generated pages, users and channels. Each benchmark brings
 * its own uniform source and passes u in [0, 1).
 */
#ifndef LODESTAR_BENCH_ZIPF_H
#define LODESTAR_BENCH_ZIPF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

struct zipf {
    double *cdf;
    uint32_t n;
};

static void zipf_init(struct zipf *z, uint32_t n, double s)
{
    z->n = n;
    z->cdf = malloc(n * sizeof *z->cdf);
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] = (sum += 1.0 / pow(i + 1.0, s));
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] /= sum;
}

static uint32_t zipf_rank(const struct zipf *z, double u)
{
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

#endif
