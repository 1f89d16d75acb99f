/*
 * test_sketch.c — what the sketch families share (sketch/sketch.h):
 * MurmurHash3 x64-128 against SMHasher's verification value, which hashes
 * every length from 0 to 255 with a different seed (so every tail case and
 * the block loop are covered), and the value hashing rules DataSketches
 * follows (-0.0 is 0.0, every NaN is one NaN, a long is its 8 LE bytes).
 */
#include <math.h>
#include <string.h>

#include "check.h"
#include "sketch/sketch.h"

static void put64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void test_smhasher_verification(void)
{
    unsigned char key[256], hashes[256 * 16];
    for (int i = 0; i < 256; i++) {
        uint64_t h[2];
        key[i] = (unsigned char)i;
        sketch_murmur3(key, (size_t)i, (uint64_t)(256 - i), h);
        put64le(hashes + i * 16, h[0]);
        put64le(hashes + i * 16 + 8, h[1]);
    }
    uint64_t f[2];
    sketch_murmur3(hashes, sizeof hashes, 0, f);
    CHECK_EQ_INT((uint32_t)f[0], 0x6384BA69u);
}

static void test_value_rules(void)
{
    uint64_t a[2], b[2];
    unsigned char le[8];
    put64le(le, (uint64_t)(int64_t)-42);
    sketch_hash_long(-42, SKETCH_DEFAULT_SEED, a);
    sketch_murmur3(le, 8, SKETCH_DEFAULT_SEED, b);
    CHECK(a[0] == b[0] && a[1] == b[1]);

    /* the inlined form: the same bits for any value and seed */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        put64le(le, x);
        sketch_hash_long_inline((int64_t)x, x >> 50, a);
        sketch_murmur3(le, 8, x >> 50, b);
        if (a[0] != b[0] || a[1] != b[1]) {
            CHECK_MSG(0, "sketch_hash_long_inline(%llu) differs", (unsigned long long)x);
            break;
        }
    }

    sketch_hash_double(0.0, SKETCH_DEFAULT_SEED, a);
    sketch_hash_double(-0.0, SKETCH_DEFAULT_SEED, b);
    CHECK(a[0] == b[0] && a[1] == b[1]);

    sketch_hash_double(NAN, SKETCH_DEFAULT_SEED, a);
    sketch_hash_double(-NAN, SKETCH_DEFAULT_SEED, b);
    CHECK(a[0] == b[0] && a[1] == b[1]);
    sketch_hash_long((int64_t)0x7ff8000000000000ll, SKETCH_DEFAULT_SEED, b);
    CHECK(a[0] == b[0] && a[1] == b[1]);

    double one = 1.0;
    uint64_t bits;
    memcpy(&bits, &one, 8);
    sketch_hash_double(1.0, SKETCH_DEFAULT_SEED, a);
    sketch_hash_long((int64_t)bits, SKETCH_DEFAULT_SEED, b);
    CHECK(a[0] == b[0] && a[1] == b[1]);

    sketch_hash_bytes("abc", 3, SKETCH_DEFAULT_SEED, a);
    sketch_hash_bytes("abc", 3, 0, b);
    CHECK(a[0] != b[0]); /* the seed matters */
}

int main(void)
{
    test_smhasher_verification();
    test_value_rules();
    return check_summary();
}
