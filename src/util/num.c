/*
 * num.c — the byte-string hash and the shortest decimal digits of a double
 * (util/num.h).
 *
 * The digits come from printf's correctly rounded %.*e at increasing
 * precision until strtod reads the text back as the same value: slow next
 * to Ryu, but exact, and it is the one place that does it.
 *
 * Entry points: util_hash_bytes(), util_shortest_digits().
 */
#include "util/num.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t util_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
        h ^= h >> 29;
    }
    return util_mix64(h); /* the map indexes by the low bits: mix them all in */
}

int util_shortest_digits(double d, bool is_float, char digits[24], int *exp10, bool *neg)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (is_float ? (float)strtod(tmp, NULL) == (float)d : strtod(tmp, NULL) == d)
            break;
    }
    /* tmp = [-]D.DDDDe[+-]XX */
    int nd = 0;
    const char *q = tmp;
    *neg = false;
    if (*q == '-') {
        *neg = true;
        q++;
    }
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            digits[nd++] = *q;
    *exp10 = atoi(q + 1);
    return nd;
}
