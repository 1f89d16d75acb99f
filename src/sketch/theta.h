/*
 * theta.h — the theta sketch family of Apache DataSketches (Druid's
 * `thetaSketch`): distinct counts with set operations (union, intersection,
 * A-not-B), in DataSketches' binary format so sketches move between Druid,
 * DataSketches (Java, C++, Python) and us and give the same estimates.
 *
 * Three kinds of object, each owning its memory:
 *   struct sketch_theta           the QuickSelect update sketch: values go in
 *                                 (long, double, bytes), hashed as
 *                                 DataSketches hashes them (sketch.h); the
 *                                 hash kept is MurmurHash3's h1 >> 1, kept
 *                                 when below theta.
 *   struct sketch_theta_compact   the immutable result: theta, the retained
 *                                 hashes (ordered or not), empty flag, seed
 *                                 hash. This is what is serialized, stored
 *                                 in segments, estimated and set-operated.
 *   struct sketch_theta_union / _intersection, sketch_theta_a_not_b():
 *                                 DataSketches' SetOperations, with their
 *                                 theta and empty rules.
 *
 * Errors: functions that can fail take a struct lerr * last and return NULL
 * or a nonzero lerr code: LERR_INVALID for a bad argument (nominal entries
 * not a power of two, a seed whose hash mismatches the sketch's),
 * LERR_NOMEM when allocation fails, LERR_CORRUPT for bytes that are not a
 * theta sketch (the message says what is wrong and at which byte). A failed
 * call leaves the object as it was, except sketch_theta_update_* and
 * union updates, which may have counted the value but never lose what the
 * sketch held.
 *
 * Thread safety: objects are single-owner; distinct objects may be used
 * from distinct threads. Const functions may run concurrently on one object.
 *
 * Entry points: sketch_theta_new(), sketch_theta_update_long() / _double() /
 * _bytes(), sketch_theta_estimate(), sketch_theta_compact(),
 * sketch_theta_compact_serialize(), sketch_theta_compact_deserialize(),
 * sketch_theta_union_new(), sketch_theta_intersection_new(),
 * sketch_theta_a_not_b(), sketch_theta_compact_to_string().
 */
#ifndef LODESTAR_SKETCH_THETA_H
#define LODESTAR_SKETCH_THETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sketch/sketch.h"

struct lerr;

#define SKETCH_THETA_MAX_THETA 0x7fffffffffffffffull /* theta 1.0 */
#define SKETCH_THETA_DEFAULT_NOMINAL 16384u          /* Druid's default size */
#define SKETCH_THETA_MIN_LG_K 4
#define SKETCH_THETA_MAX_LG_K 26
#define SKETCH_THETA_DEFAULT_LG_RF 3 /* resize factor X8, DataSketches' default */

/* How to build an update sketch or a union. */
struct sketch_theta_config {
    uint32_t nominal_entries; /* k: a power of two, 16 .. 2^26 */
    int lg_resize_factor;     /* 0..3: the table grows X1 (starts full size), X2, X4, X8 */
    float p;                  /* sampling probability, 0 < p <= 1: theta starts at p */
    uint64_t seed;            /* hash seed; SKETCH_DEFAULT_SEED unless a sketch says otherwise */
};

/* Druid's defaults: 16384 entries, X8, p = 1, seed 9001. */
void sketch_theta_config_default(struct sketch_theta_config *cfg);

/* DataSketches' 16-bit hash of a seed (stored in every serialized sketch). */
uint16_t sketch_theta_seed_hash(uint64_t seed);

/* ---- update sketch --------------------------------------------------------------- */

struct sketch_theta;

/* cfg NULL means the defaults. LERR_INVALID names the bad field; LERR_NOMEM. */
struct sketch_theta *sketch_theta_new(const struct sketch_theta_config *cfg, struct lerr *err);
void sketch_theta_free(struct sketch_theta *s);
/* Back to empty, keeping the configuration. */
void sketch_theta_reset(struct sketch_theta *s);

/* Each returns 0, or LERR_NOMEM when the table could not grow (the value is
 * then not retained, everything retained before is kept). An empty byte
 * string is not an update (as in DataSketches). */
int sketch_theta_update_long(struct sketch_theta *s, int64_t v, struct lerr *err);
int sketch_theta_update_double(struct sketch_theta *s, double v, struct lerr *err);
int sketch_theta_update_bytes(struct sketch_theta *s, const void *p, size_t n, struct lerr *err);
/* A hash already made as DataSketches makes it (h1 >> 1, 1 .. 2^63-1). */
int sketch_theta_update_hash(struct sketch_theta *s, uint64_t hash, struct lerr *err);

double sketch_theta_estimate(const struct sketch_theta *s);
/* num_std_devs 1, 2 or 3 (clamped); DataSketches' BinomialBoundsN. */
double sketch_theta_lower_bound(const struct sketch_theta *s, int num_std_devs);
double sketch_theta_upper_bound(const struct sketch_theta *s, int num_std_devs);
bool sketch_theta_is_empty(const struct sketch_theta *s);
uint64_t sketch_theta_theta64(const struct sketch_theta *s);
uint32_t sketch_theta_num_retained(const struct sketch_theta *s);
uint32_t sketch_theta_nominal_entries(const struct sketch_theta *s);

/* ---- compact sketch -------------------------------------------------------------- */

struct sketch_theta_compact;

/* The compact form of s (ordered: hashes ascending, as DataSketches' default). */
struct sketch_theta_compact *sketch_theta_compact(const struct sketch_theta *s, bool ordered,
                                                  struct lerr *err);
struct sketch_theta_compact *sketch_theta_compact_copy(const struct sketch_theta_compact *c,
                                                       struct lerr *err);
void sketch_theta_compact_free(struct sketch_theta_compact *c);

double sketch_theta_compact_estimate(const struct sketch_theta_compact *c);
double sketch_theta_compact_lower_bound(const struct sketch_theta_compact *c, int num_std_devs);
double sketch_theta_compact_upper_bound(const struct sketch_theta_compact *c, int num_std_devs);
bool sketch_theta_compact_is_empty(const struct sketch_theta_compact *c);
bool sketch_theta_compact_is_ordered(const struct sketch_theta_compact *c);
bool sketch_theta_compact_is_estimation_mode(const struct sketch_theta_compact *c);
uint64_t sketch_theta_compact_theta64(const struct sketch_theta_compact *c);
double sketch_theta_compact_theta(const struct sketch_theta_compact *c);
uint32_t sketch_theta_compact_num_retained(const struct sketch_theta_compact *c);
uint16_t sketch_theta_compact_seed_hash(const struct sketch_theta_compact *c);
/* The retained hashes (count: num_retained), ascending when ordered. */
const uint64_t *sketch_theta_compact_entries(const struct sketch_theta_compact *c);

/*
 * Serialization, byte for byte as DataSketches Java writes it: serial
 * version 3 (the 8-byte empty form, the 16-byte single-item form, 16 or 24
 * bytes of preamble then the hashes); compressed = true writes serial
 * version 4 (delta-encoded, bit-packed) when the sketch is ordered and has
 * entries, as DataSketches' compressed form does, else version 3.
 * _size gives the exact length; _serialize_to writes it into buf (cap at
 * least _size) and returns the length; _serialize allocates (free()).
 */
size_t sketch_theta_compact_serialized_size(const struct sketch_theta_compact *c, bool compressed);
size_t sketch_theta_compact_serialize_to(const struct sketch_theta_compact *c, bool compressed,
                                         uint8_t *buf, size_t cap);
int sketch_theta_compact_serialize(const struct sketch_theta_compact *c, bool compressed,
                                   uint8_t **out, size_t *len, struct lerr *err);

/*
 * Reads a serialized theta sketch as a compact sketch: compact sketches
 * (family 3) of serial versions 1, 2, 3 and 4 (compressed), and the update
 * sketch (family 2) and union (family 4) images DataSketches' toByteArray
 * writes (Druid ingests those too), compacted as DataSketches compacts them
 * (a union image as its result). A non-empty sketch's seed hash must be
 * sketch_theta_seed_hash(seed) (LERR_INVALID otherwise: the sketch was
 * built with another seed). Bytes that are not a valid sketch give
 * LERR_CORRUPT naming the field and its byte offset; nothing outside
 * [p, p + n) is read. Trailing bytes after the sketch are allowed (as in
 * DataSketches).
 */
struct sketch_theta_compact *sketch_theta_compact_deserialize(const void *p, size_t n,
                                                              uint64_t seed, struct lerr *err);

/*
 * A human-readable summary in the layout of DataSketches Java's
 * toString(): estimate, bounds at 2 standard deviations, theta, flags,
 * retained entries, seed hash. snprintf semantics: returns the full length.
 */
size_t sketch_theta_compact_to_string(const struct sketch_theta_compact *c, char *buf, size_t cap);

/* ---- set operations -------------------------------------------------------------- */

struct sketch_theta_union;

/* cfg NULL: the defaults (16384 entries). The union keeps at most its own
 * nominal entries in its result. */
struct sketch_theta_union *sketch_theta_union_new(const struct sketch_theta_config *cfg,
                                                  struct lerr *err);
void sketch_theta_union_free(struct sketch_theta_union *u);
void sketch_theta_union_reset(struct sketch_theta_union *u);
/* Adds a sketch: LERR_INVALID when its seed hash differs, LERR_NOMEM. */
int sketch_theta_union_add(struct sketch_theta_union *u, const struct sketch_theta_compact *c,
                           struct lerr *err);
/* Adds an update sketch without compacting it first. */
int sketch_theta_union_add_sketch(struct sketch_theta_union *u, const struct sketch_theta *s,
                                  struct lerr *err);
/* Values straight into the union (as DataSketches' Union.update). */
int sketch_theta_union_update_long(struct sketch_theta_union *u, int64_t v, struct lerr *err);
int sketch_theta_union_update_double(struct sketch_theta_union *u, double v, struct lerr *err);
int sketch_theta_union_update_bytes(struct sketch_theta_union *u, const void *p, size_t n,
                                    struct lerr *err);
/* The union so far (the union stays usable). */
struct sketch_theta_compact *sketch_theta_union_result(const struct sketch_theta_union *u,
                                                       bool ordered, struct lerr *err);

struct sketch_theta_intersection;

struct sketch_theta_intersection *sketch_theta_intersection_new(uint64_t seed, struct lerr *err);
void sketch_theta_intersection_free(struct sketch_theta_intersection *x);
int sketch_theta_intersection_add(struct sketch_theta_intersection *x,
                                  const struct sketch_theta_compact *c, struct lerr *err);
/* False until a sketch was added (the intersection of nothing is the
 * universe, which no sketch represents). */
bool sketch_theta_intersection_has_result(const struct sketch_theta_intersection *x);
/* LERR_INVALID when nothing was added. */
struct sketch_theta_compact *
sketch_theta_intersection_result(const struct sketch_theta_intersection *x, bool ordered,
                                 struct lerr *err);

/* The hashes of a that are not in b (DataSketches' stateless AnotB). */
struct sketch_theta_compact *sketch_theta_a_not_b(const struct sketch_theta_compact *a,
                                                  const struct sketch_theta_compact *b,
                                                  bool ordered, uint64_t seed, struct lerr *err);

#endif
