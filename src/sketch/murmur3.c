/*
 * murmur3.c — MurmurHash3 x64 128-bit (Austin Appleby's public-domain
 * algorithm), the hash every Apache DataSketches sketch uses, and the three
 * ways DataSketches feeds values into it (sketch.h).
 *
 * Written from the algorithm's description; checked in test_sketch.c with
 * SMHasher's verification value (0x6384BA69) and with known hashes. The
 * block loop reads little-endian words with memcpy, so it is right on any
 * alignment and byte order compilers fold it to plain loads on x86-64.
 *
 * Entry points: sketch_murmur3(), sketch_hash_long(), sketch_hash_double(),
 * sketch_hash_bytes().
 */
#include "sketch/sketch.h"

#include <string.h>

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t load64le(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

void sketch_murmur3(const void *key, size_t len, uint64_t seed, uint64_t out[2])
{
    const unsigned char *data = key;
    const uint64_t c1 = 0x87c37b91114253d5ull, c2 = 0x4cf5ad432745937full;
    uint64_t h1 = seed, h2 = seed;
    size_t nblocks = len / 16;

    for (size_t i = 0; i < nblocks; i++) {
        uint64_t k1 = load64le(data + i * 16), k2 = load64le(data + i * 16 + 8);
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }

    const unsigned char *tail = data + nblocks * 16;
    uint64_t k1 = 0, k2 = 0;
    switch (len & 15) {
    case 15: k2 ^= (uint64_t)tail[14] << 48; /* fall through */
    case 14: k2 ^= (uint64_t)tail[13] << 40; /* fall through */
    case 13: k2 ^= (uint64_t)tail[12] << 32; /* fall through */
    case 12: k2 ^= (uint64_t)tail[11] << 24; /* fall through */
    case 11: k2 ^= (uint64_t)tail[10] << 16; /* fall through */
    case 10: k2 ^= (uint64_t)tail[9] << 8;   /* fall through */
    case 9:
        k2 ^= (uint64_t)tail[8];
        k2 *= c2;
        k2 = rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        /* fall through */
    case 8: k1 ^= (uint64_t)tail[7] << 56; /* fall through */
    case 7: k1 ^= (uint64_t)tail[6] << 48; /* fall through */
    case 6: k1 ^= (uint64_t)tail[5] << 40; /* fall through */
    case 5: k1 ^= (uint64_t)tail[4] << 32; /* fall through */
    case 4: k1 ^= (uint64_t)tail[3] << 24; /* fall through */
    case 3: k1 ^= (uint64_t)tail[2] << 16; /* fall through */
    case 2: k1 ^= (uint64_t)tail[1] << 8;  /* fall through */
    case 1:
        k1 ^= (uint64_t)tail[0];
        k1 *= c1;
        k1 = rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        break;
    default: break;
    }

    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = sketch_fmix64(h1);
    h2 = sketch_fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

void sketch_hash_long(int64_t v, uint64_t seed, uint64_t out[2])
{
    sketch_hash_long_inline(v, seed, out);
}

void sketch_hash_double(double v, uint64_t seed, uint64_t out[2])
{
    /* DataSketches: -0.0 and 0.0 are one value, and every NaN is Java's
     * canonical NaN (Double.doubleToLongBits). */
    if (v == 0.0)
        v = 0.0;
    uint64_t bits;
    if (v != v)
        bits = 0x7ff8000000000000ull;
    else
        memcpy(&bits, &v, 8);
    sketch_hash_long((int64_t)bits, seed, out);
}

void sketch_hash_bytes(const void *p, size_t n, uint64_t seed, uint64_t out[2])
{
    sketch_murmur3(p, n, seed, out);
}
