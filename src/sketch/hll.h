/*
 * hll.h — Apache DataSketches' HLL sketch family in C: the same algorithm,
 * the same estimates and the same serialized bytes as DataSketches' Java
 * HllSketch / Union (and so as Druid's HLLSketchBuild / HLLSketchMerge), so
 * that sketches move between Lodestar and Druid or DataSketches unchanged.
 *
 * A sketch starts in LIST mode (up to 7 coupons), moves to SET mode (a coupon
 * hash set, only for lgK >= 8) and then to HLL mode (k = 2^lgK registers of
 * 4, 6 or 8 bits: the target type). Below those thresholds it is exact. Its
 * estimate is DataSketches' own: the coupon-mapping interpolation in LIST and
 * SET mode, the HIP estimator for a sketch built by updates in order, and the
 * composite estimator for a sketch that a union produced (out of order).
 *
 * Entry points:
 *   sketch_hll_new() / sketch_hll_free() / sketch_hll_copy_as()
 *   sketch_hll_update_long|double|bytes|hash()
 *   sketch_hll_estimate() / sketch_hll_bounds()
 *   sketch_hll_serialize() / sketch_hll_serialized_size() /
 *   sketch_hll_max_serialized_size() / sketch_hll_deserialize()
 *   sketch_hll_union_new() / _update() / _result() / _free()
 *   sketch_hll_to_string()
 *
 * Memory: every object is allocated with malloc and owned by the caller, who
 * frees it with the matching _free(). A failed allocation is LERR_NOMEM, never
 * an abort; the object it happened to keeps its previous contents.
 * Threads: functions taking a const pointer may run concurrently on one
 * object; anything that modifies an object needs exclusive access to it.
 */
#ifndef LODESTAR_SKETCH_HLL_H
#define LODESTAR_SKETCH_HLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define SKETCH_HLL_MIN_LGK 4
#define SKETCH_HLL_MAX_LGK 21
#define SKETCH_HLL_DEFAULT_LGK 12 /* Druid's default lgK */

/* The register width of HLL mode (DataSketches' TgtHllType), in the order
 * the serialized mode byte numbers them. Druid's default is HLL_4. */
enum sketch_hll_type { SKETCH_HLL_4 = 0, SKETCH_HLL_6 = 1, SKETCH_HLL_8 = 2 };

/* The current mode (DataSketches' CurMode), numbered as serialized. */
enum sketch_hll_mode { SKETCH_HLL_LIST = 0, SKETCH_HLL_SET = 1, SKETCH_HLL_HLL = 2 };

struct sketch_hll;
struct sketch_hll_union;

/* "HLL_4", "HLL_6", "HLL_8" (NULL for anything else); "LIST", "SET", "HLL". */
const char *sketch_hll_type_name(enum sketch_hll_type t);
const char *sketch_hll_mode_name(enum sketch_hll_mode m);

/* A new empty sketch. lgk outside 4..21 or an unknown type is LERR_INVALID;
 * no memory is LERR_NOMEM. Returns NULL on error. */
struct sketch_hll *sketch_hll_new(int lgk, enum sketch_hll_type type, struct lerr *err);
void sketch_hll_free(struct sketch_hll *sk);
/* A deep copy converted to `type` (DataSketches' copyAs: the registers are
 * re-encoded, the HIP accumulator and out-of-order flag carried over). */
struct sketch_hll *sketch_hll_copy_as(const struct sketch_hll *sk, enum sketch_hll_type type,
                                      struct lerr *err);

/* Updates, hashed exactly as DataSketches hashes them (sketch/sketch.h): a
 * long as its 8 LE bytes, a double canonicalised, bytes as given (a string's
 * UTF-8 bytes; zero bytes are no update), seed 9001. update_hash takes the
 * 128-bit MurmurHash3 result itself (h[0] = h1, h[1] = h2), for callers that
 * hash once and feed several sketches. Each returns 0, or LERR_NOMEM when
 * the sketch had to grow (list to set, set to HLL, HLL_4's exception table)
 * and could not: the sketch is then unchanged. */
int sketch_hll_update_long(struct sketch_hll *sk, int64_t v, struct lerr *err);
int sketch_hll_update_double(struct sketch_hll *sk, double v, struct lerr *err);
int sketch_hll_update_bytes(struct sketch_hll *sk, const void *p, size_t n, struct lerr *err);
int sketch_hll_update_hash(struct sketch_hll *sk, const uint64_t h[2], struct lerr *err);

int sketch_hll_lgk(const struct sketch_hll *sk);
enum sketch_hll_type sketch_hll_type(const struct sketch_hll *sk);
enum sketch_hll_mode sketch_hll_mode(const struct sketch_hll *sk);
bool sketch_hll_is_empty(const struct sketch_hll *sk);
/* True for a union's result: its estimate is the composite one, not HIP. */
bool sketch_hll_is_out_of_order(const struct sketch_hll *sk);
/* LIST and SET mode: the number of coupons held (the exact distinct count
 * of their 26-bit keys); 0 in HLL mode. */
uint32_t sketch_hll_coupon_count(const struct sketch_hll *sk);

/* DataSketches' getEstimate(). */
double sketch_hll_estimate(const struct sketch_hll *sk);
/* DataSketches' getCompositeEstimate() (the non-HIP estimator). */
double sketch_hll_composite_estimate(const struct sketch_hll *sk);
/* getLowerBound(n) / getUpperBound(n) for n = 1, 2 or 3 standard deviations;
 * another n is LERR_INVALID. Either output pointer may be NULL. */
int sketch_hll_bounds(const struct sketch_hll *sk, int num_std_dev, double *lower, double *upper,
                      struct lerr *err);

/* Serialization as DataSketches' toCompactByteArray() (compact = true) or
 * toUpdatableByteArray() (compact = false), byte for byte.
 * serialized_size: the bytes that image takes. serialize: writes it into
 * out[0..cap) and returns its size, or 0 (with LERR_INVALID) when cap is too
 * small. max_serialized_size: DataSketches' getMaxUpdatableSerializationBytes
 * (lgK, type), the buffer size Druid reserves for one sketch (0 for a bad
 * lgk or type). Every image fits in it except an HLL_4 one whose exception
 * table outgrew its initial size (more than 3/4 of 2^LG_AUX_ARR_INTS[lgK]
 * registers 15 or more above curMin: 24 at lgK 12, rare); a caller that must
 * never come up short sizes its buffer with sketch_hll_serialized_size(). */
size_t sketch_hll_serialized_size(const struct sketch_hll *sk, bool compact);
size_t sketch_hll_serialize(const struct sketch_hll *sk, bool compact, uint8_t *out, size_t cap,
                            struct lerr *err);
size_t sketch_hll_max_serialized_size(int lgk, enum sketch_hll_type type);

/* A sketch from any DataSketches HLL image (serial version 1: LIST, SET or
 * HLL mode, HLL_4 / HLL_6 / HLL_8, compact or updatable, written by Java, C++
 * or us). Reads only p[0..n); bytes after the image are ignored. A malformed
 * image is LERR_CORRUPT with err->pos the offset of the offending byte and a
 * message naming the field, its value and what was expected; no memory is
 * LERR_NOMEM. Returns NULL on error. */
struct sketch_hll *sketch_hll_deserialize(const void *p, size_t n, struct lerr *err);

/* DataSketches' HllSketch.toString() summary (what Druid's
 * HLL_SKETCH_TO_STRING prints), NUL-terminated, written like snprintf: at
 * most cap bytes, returning the length the whole text needs. */
size_t sketch_hll_to_string(const struct sketch_hll *sk, char *buf, size_t cap);

/* DataSketches' HLL Union with lgMaxK = lg_max_k (4..21, else LERR_INVALID):
 * merges sketches of any lgK and type; its result has lgK = the smallest of
 * lg_max_k and the lgK of every HLL-mode sketch merged. */
struct sketch_hll_union *sketch_hll_union_new(int lg_max_k, struct lerr *err);
void sketch_hll_union_free(struct sketch_hll_union *u);
/* Merges sk (borrowed, unchanged) into the union: 0 or LERR_NOMEM (the union
 * is then unchanged). */
int sketch_hll_union_update(struct sketch_hll_union *u, const struct sketch_hll *sk,
                            struct lerr *err);
/* Updates the union with one hashed value, like sketch_hll_update_hash(). */
int sketch_hll_union_update_hash(struct sketch_hll_union *u, const uint64_t h[2],
                                 struct lerr *err);
/* The union's result as a new sketch of `type` (Union.getResult(tgtType)).
 * Like DataSketches, first brings the union's own register summary (KxQ,
 * curMin) up to date, so the union is modified though its contents are not. */
struct sketch_hll *sketch_hll_union_result(struct sketch_hll_union *u, enum sketch_hll_type type,
                                           struct lerr *err);
int sketch_hll_union_lg_max_k(const struct sketch_hll_union *u);
/* Brings the union's register summary up to date now (what
 * sketch_hll_union_result does first), so that a union shared with other
 * threads after this call is only read by sketch_hll_union_result, as long
 * as nothing merges into it meanwhile. O(k) when a merge left it stale,
 * nothing otherwise. */
void sketch_hll_union_settle(struct sketch_hll_union *u);

#endif
