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
void sketch_hash_double(double v, uint64_t seed, uint64_t out[2]);
void sketch_hash_bytes(const void *p, size_t n, uint64_t seed, uint64_t out[2]);

#endif
