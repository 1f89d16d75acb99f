/*
 * quantiles.h — the classic quantiles sketch of doubles of Apache
 * DataSketches (Java's DoublesSketch / QuantilesDoublesSketch, C++'s
 * quantiles_sketch<double>), the sketch behind Druid's
 * quantilesDoublesSketch aggregator and its SQL functions APPROX_QUANTILE_DS,
 * DS_QUANTILES_SKETCH, DS_GET_QUANTILE(S), DS_RANK, DS_CDF, DS_HISTOGRAM and
 * DS_QUANTILE_SUMMARY.
 *
 * The sketch keeps a base buffer of up to 2k unsorted items and levels of k
 * sorted items each; level i stands for 2^(i+1) items of the stream. When the
 * base buffer fills it is sorted and carried up the levels like a binary
 * counter, each carry keeping the odd or even half of a merged 2k run (the
 * choice is random: each sketch has its own generator, seedable so tests are
 * deterministic). The rank error of a query is within
 * sketch_quantiles_normalized_rank_error(k) with 99% confidence.
 *
 * Bytes: sketch_quantiles_serialize() writes exactly what DataSketches writes
 * (serial version 3; the compact form Druid stores, the updatable form
 * DataSketches' toByteArray(false) writes, the 8-byte empty form), and
 * sketch_quantiles_deserialize() reads serial versions 1, 2 and 3, compact or
 * not, checking every field before it is used: bad bytes give LERR_INVALID
 * with the byte offset in err->pos and a message naming the field. (C++
 * writes the compact form without the READ_ONLY flag bit Java sets; both
 * read either.)
 *
 * Queries follow DataSketches' sorted view (min and max included as items,
 * the INCLUSIVE and EXCLUSIVE search criteria). Druid calls DataSketches'
 * one-argument getQuantile/getRank/getCDF/getPMF, whose criterion is
 * INCLUSIVE: SKETCH_QUANTILES_DRUID. An empty sketch answers NaN. Each
 * query call sorts the retained items once (a few microseconds at k=128):
 * ask for many ranks or split points in one call.
 *
 * Merging is DataSketches' DoublesUnion: a union with a maximum k takes
 * sketches of any k (a larger k is downsampled to the union's k, a smaller one
 * lowers the union's k to it).
 *
 * Memory: every object owns its memory; functions that allocate return
 * LERR_NOMEM on failure and leave the object as it was (update: the item is
 * not added). Thread safety: a sketch or union may be used by one thread at a
 * time; the const functions (queries, serialize, copy) may run concurrently on
 * the same sketch.
 */
#ifndef LODESTAR_SKETCH_QUANTILES_H
#define LODESTAR_SKETCH_QUANTILES_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define SKETCH_QUANTILES_MIN_K 2
#define SKETCH_QUANTILES_MAX_K 32768
#define SKETCH_QUANTILES_DEFAULT_K 128 /* DataSketches' and Druid's default */

/* DataSketches' QuantileSearchCriteria. INCLUSIVE: rank(v) counts items <= v
 * and quantile(r) is the smallest item whose rank >= r; EXCLUSIVE: items < v,
 * the smallest item whose rank > r. */
enum sketch_quantiles_search {
    SKETCH_QUANTILES_INCLUSIVE = 0,
    SKETCH_QUANTILES_EXCLUSIVE = 1,
};
#define SKETCH_QUANTILES_DRUID SKETCH_QUANTILES_INCLUSIVE

struct sketch_quantiles;
struct sketch_quantiles_union;

/* ---- life ---------------------------------------------------------------- */

/* A new empty sketch. k: a power of two in [2, 32768], else LERR_INVALID
 * naming k; LERR_NOMEM. Its generator is seeded from a process-wide counter;
 * sketch_quantiles_seed() makes it deterministic. Returns NULL on error. */
struct sketch_quantiles *sketch_quantiles_new(int k, struct lerr *err);
void sketch_quantiles_free(struct sketch_quantiles *s);
/* A deep copy (same items, levels and generator state); NULL + LERR_NOMEM. */
struct sketch_quantiles *sketch_quantiles_copy(const struct sketch_quantiles *s, struct lerr *err);
/* Sets the generator that picks the odd or even half at each compaction. */
void sketch_quantiles_seed(struct sketch_quantiles *s, uint64_t seed);
/* Back to empty, keeping k and the generator. */
void sketch_quantiles_reset(struct sketch_quantiles *s);

/* Adds one item. NaN is ignored (as DataSketches does): returns 0. Returns
 * LERR_NOMEM (item not added) if a buffer cannot grow, LERR_INVALID past
 * 2^62 items (no stream gets there; bytes may claim it). */
int sketch_quantiles_update(struct sketch_quantiles *s, double v, struct lerr *err);

/* ---- state --------------------------------------------------------------- */

int sketch_quantiles_k(const struct sketch_quantiles *s);
uint64_t sketch_quantiles_n(const struct sketch_quantiles *s);
int sketch_quantiles_is_empty(const struct sketch_quantiles *s);
/* n >= 2k: some items were compacted away (DataSketches' isEstimationMode). */
int sketch_quantiles_is_estimation_mode(const struct sketch_quantiles *s);
/* Items the sketch holds (base buffer + k per valid level). */
uint32_t sketch_quantiles_num_retained(const struct sketch_quantiles *s);
/* Smallest and largest item seen; NaN when empty. */
double sketch_quantiles_min(const struct sketch_quantiles *s);
double sketch_quantiles_max(const struct sketch_quantiles *s);

/* Bytes the sketch holds in memory (for a query's or a buffer's budget). */
size_t sketch_quantiles_memory_bytes(const struct sketch_quantiles *s);

/* DataSketches' getNormalizedRankError(k, pmf): the rank error bound (99%
 * confidence) of a single quantile/rank query (pmf 0) or of PMF/CDF buckets
 * (pmf 1). k need not be valid (any k >= 1). */
double sketch_quantiles_normalized_rank_error(int k, int pmf);
/* DataSketches' getKFromEpsilon: the smallest k meeting a rank error. */
int sketch_quantiles_k_from_epsilon(double epsilon, int pmf);

/* Calls fn(item, weight, arg) for every retained item (base buffer items have
 * weight 1, level i items 2^(i+1)); the weights sum to n. Unordered. */
void sketch_quantiles_foreach(const struct sketch_quantiles *s,
                              void (*fn)(double item, uint64_t weight, void *arg), void *arg);

/* ---- queries ------------------------------------------------------------- */

/* The item at normalized rank `rank` in [0, 1] (else LERR_INVALID naming
 * it, NaN too). Empty sketch: *out = NaN. LERR_NOMEM (the sorted view). */
int sketch_quantiles_quantile(const struct sketch_quantiles *s, double rank,
                              enum sketch_quantiles_search crit, double *out, struct lerr *err);
/* quantile() for each of ranks[0..n), into out[0..n); the sorted view is built once. */
int sketch_quantiles_quantiles(const struct sketch_quantiles *s, const double *ranks, size_t n,
                               enum sketch_quantiles_search crit, double *out, struct lerr *err);
/* Normalized rank of v (fraction of the stream <= v, or < v when EXCLUSIVE).
 * v NaN or empty sketch: *out = NaN. */
int sketch_quantiles_rank(const struct sketch_quantiles *s, double v,
                          enum sketch_quantiles_search crit, double *out, struct lerr *err);
/* CDF over m split points (unique, increasing, not NaN, else LERR_INVALID
 * naming the first bad one): out[0..m] (m+1 values, the last 1.0) are the
 * ranks of the split points. Empty sketch: all NaN. */
int sketch_quantiles_cdf(const struct sketch_quantiles *s, const double *splits, size_t m,
                         enum sketch_quantiles_search crit, double *out, struct lerr *err);
/* PMF: out[0..m], the mass of each bucket the split points bound (sums to 1). */
int sketch_quantiles_pmf(const struct sketch_quantiles *s, const double *splits, size_t m,
                         enum sketch_quantiles_search crit, double *out, struct lerr *err);

/* ---- bytes --------------------------------------------------------------- */

/* Size of the serialized form: compact (1) or updatable (0). */
size_t sketch_quantiles_serialized_size(const struct sketch_quantiles *s, int compact);
/* Writes the serialized form into out[0..cap); returns the bytes written, or
 * 0 if cap is smaller than sketch_quantiles_serialized_size(). Compact: flags
 * READ_ONLY|COMPACT|ORDERED (0x1A; empty 0x1E), sorted base buffer, valid
 * levels only (Java's toByteArray(true), what Druid stores); updatable: flags
 * 0 (empty 0x04), base buffer as held, every level up to the highest
 * (Java's toByteArray(false)). */
size_t sketch_quantiles_serialize(const struct sketch_quantiles *s, int compact, void *out,
                                  size_t cap);
/* Reads DataSketches' bytes (serial version 1, 2 or 3; compact or updatable;
 * written by Java, C++ or us). Trailing bytes past what the header says are
 * ignored, as DataSketches does. Errors: LERR_INVALID with err->pos the byte
 * offset of the bad field; LERR_NOMEM. */
struct sketch_quantiles *sketch_quantiles_deserialize(const void *p, size_t len, struct lerr *err);

/* DataSketches' toString(withLevels, withLevelsAndItems) summary (what
 * DS_QUANTILE_SUMMARY returns), NUL-terminated in a malloc'd string the
 * caller frees; NULL + LERR_NOMEM. */
char *sketch_quantiles_to_string(const struct sketch_quantiles *s, int with_levels, int with_items,
                                 struct lerr *err);

/* ---- union --------------------------------------------------------------- */

/* A union (DataSketches' DoublesUnion) of at most k max_k; LERR_INVALID for a
 * bad max_k, LERR_NOMEM. Seeded like a sketch. */
struct sketch_quantiles_union *sketch_quantiles_union_new(int max_k, struct lerr *err);
void sketch_quantiles_union_free(struct sketch_quantiles_union *u);
void sketch_quantiles_union_seed(struct sketch_quantiles_union *u, uint64_t seed);
/* Merges s (borrowed, unchanged) into the union, downsampling whichever has
 * the larger k. LERR_NOMEM, or LERR_INVALID when the total would pass 2^62
 * items, leaves the union as it was. */
int sketch_quantiles_union_update(struct sketch_quantiles_union *u,
                                  const struct sketch_quantiles *s, struct lerr *err);
int sketch_quantiles_union_update_value(struct sketch_quantiles_union *u, double v,
                                        struct lerr *err);
/* The union's k now (max_k until a smaller-k sketch arrives). */
int sketch_quantiles_union_k(const struct sketch_quantiles_union *u);
/* A new sketch holding the union (empty of max_k when nothing was merged). */
struct sketch_quantiles *sketch_quantiles_union_result(const struct sketch_quantiles_union *u,
                                                       struct lerr *err);

#endif
