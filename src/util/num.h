/*
 * num.h — numbers shared by the modules: the 64-bit hash finalizer
 * (util_mix64), a byte-string hash (util_hash_bytes) and the shortest
 * decimal digits of a double (util_shortest_digits), which both the SQL
 * text of a DOUBLE and ROUND's decimal rounding are built on.
 *
 * Nothing here may change what it returns: util_mix64 feeds hashes that
 * decide the order of serialized aggregator states and of storage's
 * tables, and the digits are what queries print. Pure functions,
 * thread-safe.
 */
#ifndef LODESTAR_UTIL_NUM_H
#define LODESTAR_UTIL_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MurmurHash3's fmix64: every input bit reaches every output bit. */
static inline uint64_t util_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* A fast hash of n bytes, 8 at a time (not for on-disk use). */
uint64_t util_hash_bytes(const void *p, size_t n);

/*
 * The fewest significant digits (1 to 17) that read back (strtod) as d —
 * as float when is_float — written as ASCII into digits (no sign, no point,
 * not NUL-terminated), with the decimal exponent of the first digit in
 * *exp10 (d = 0.D1D2... * 10^(exp10+1)) and the sign in *neg. Returns the
 * digit count. d must be finite; 0 gives the one digit "0".
 */
int util_shortest_digits(double d, bool is_float, char digits[24], int *exp10, bool *neg);

#endif
