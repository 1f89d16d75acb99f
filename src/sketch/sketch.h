/*
 * sketch.h — the sketch module: Apache DataSketches' algorithms and binary
 * formats written in C (HLL, theta, classic quantiles), below sql/ so that
 * aggregators, storage and ingestion can all hold sketches.
 *
 * This header holds what the sketch families share: MurmurHash3 x64-128 and
 * how DataSketches hashes a value. Each family has its own header
 * (sketch/hll.h, sketch/theta.h, sketch/quantiles.h).
 *
 * Hashing follows DataSketches exactly, so our sketches and theirs agree
 * value by value: a long is hashed as its 8 little-endian bytes; a double as
 * the long of its bits after -0.0 becomes 0.0 and every NaN Java's canonical
 * NaN; a string as its UTF-8 bytes (an empty string is not an update); the
 * seed is SKETCH_DEFAULT_SEED unless a sketch says otherwise.
 */
#ifndef LODESTAR_SKETCH_SKETCH_H
#define LODESTAR_SKETCH_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define SKETCH_DEFAULT_SEED 9001ull

/* MurmurHash3_x64_128 of len bytes at key with seed: out[0] is h1, out[1] h2. */
void sketch_murmur3(const void *key, size_t len, uint64_t seed, uint64_t out[2]);

void sketch_hash_long(int64_t v, uint64_t seed, uint64_t out[2]);

/* MurmurHash3's finalizer. */
static inline uint64_t sketch_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* sketch_hash_long inlined: MurmurHash3 of one 8-byte tail block unrolled
 * (no block loop), for the sketches' update hot paths. test_sketch.c checks
 * it against sketch_murmur3 of the 8 little-endian bytes. */
static inline void sketch_hash_long_inline(int64_t v, uint64_t seed, uint64_t out[2])
{
    const uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
    uint64_t k1 = (uint64_t)v, h1 = seed, h2 = seed;
    k1 *= c1;
    k1 = (k1 << 31) | (k1 >> 33);
    k1 *= c2;
    h1 ^= k1;
    h1 ^= 8;
    h2 ^= 8;
    h1 += h2;
    h2 += h1;
    h1 = sketch_fmix64(h1);
    h2 = sketch_fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}
void sketch_hash_double(double v, uint64_t seed, uint64_t out[2]);
void sketch_hash_bytes(const void *p, size_t n, uint64_t seed, uint64_t out[2]);

#endif
