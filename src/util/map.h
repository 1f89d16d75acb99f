/*
 * map.h — a hash map for the modules' small and large tables, after Redis's
 * dict.h: one container, three kinds of key.
 *
 *   MAP_U64     64-bit integer keys, hashed with util_mix64().
 *   MAP_BYTES   byte strings {p, n}; the map keeps its own copy of each key
 *               (in its arena), hashed with util_hash_bytes().
 *   MAP_CUSTOM  the caller's keys: the caller hashes (map_*_h functions take
 *               the hash) and supplies equal(probe, entry, ctx); the stored
 *               key is what the caller puts in the entry's two words (an
 *               index into its own records, a pointer, a small value packed
 *               into key and val), so the map never copies or frees it.
 *
 * Every entry holds the full 64-bit hash, the key word and a 64-bit value
 * (a number, an index, or a pointer through uintptr_t).
 *
 * Layout: open addressing with linear probing, a power-of-two table at most
 * 3/4 full, doubled when an insertion would pass that. Chosen over chaining
 * because every user here looks up far more often than it inserts, and a
 * probe walks one contiguous array of 24-byte entries (no pointer chasing,
 * no allocation per entry). Deletion shifts the following entries of the
 * run back (no tombstones), so a table that sees many deletions never
 * fills with dead slots. The hash's top bit is set in every stored entry,
 * so 0 marks an empty slot; the probe start uses the low bits.
 *
 * Iteration order is slot order: the same insertions into a map of the same
 * hash function give the same order (aggregator states serialize it).
 *
 * Memory: the table comes from malloc (charged to a mem_budget first, if
 * one is set: map_set_budget) or from an arena (map_set_arena; replaced
 * tables are left to the arena, map_destroy frees nothing of it). Byte keys
 * are copied into the map's arena (its own one when none is set); deleted
 * keys' copies stay there until map_destroy.
 *
 * Errors: functions that can allocate return MAP_OK, MAP_NOMEM (malloc or
 * the arena failed, or a size would overflow) or MAP_REFUSED (the budget
 * refused; its record says which limit); the map is unchanged on failure.
 * The caller turns these into its own lerr message.
 *
 * Pointers to entries (map_get*, map_next) stay valid until the next
 * insertion or deletion. Single-owner, not thread-safe.
 *
 * Entry points: map_init(), map_set_arena(), map_set_budget(),
 * map_reserve(), map_destroy(), map_clear(); map_get_u64(), map_put_u64(),
 * map_del_u64(); map_get_bytes(), map_put_bytes(), map_del_bytes(),
 * map_key_bytes(); map_get_h(), map_add_h(), map_del_h(); map_next().
 */
#ifndef LODESTAR_UTIL_MAP_H
#define LODESTAR_UTIL_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

enum map_kind { MAP_U64, MAP_BYTES, MAP_CUSTOM };

enum { MAP_OK = 0, MAP_NOMEM = -1, MAP_REFUSED = -2 };

struct map_entry {
    uint64_t hash; /* 0: an empty slot */
    uint64_t key;  /* the u64 key, the copy's address (bytes), or the caller's word */
    uint64_t val;
};

/* MAP_CUSTOM: whether entry e holds the key `probe` points at. */
typedef bool (*map_equal_fn)(const void *probe, const struct map_entry *e, void *ctx);

struct mem_budget;

struct map {
    struct map_entry *e; /* NULL until the first insertion or map_reserve */
    size_t mask;         /* slots - 1 */
    size_t count;
    size_t first; /* the first table's slots (a power of two) */
    enum map_kind kind;
    map_equal_fn equal;
    void *ctx;
    struct arena *arena; /* the table and byte keys come from here, or NULL */
    struct arena own;    /* byte keys when arena is NULL */
    struct mem_budget *budget;
};

/* An empty map; equal and ctx only for MAP_CUSTOM (NULL otherwise).
 * Allocates nothing. */
void map_init(struct map *m, enum map_kind kind, map_equal_fn equal, void *ctx);
/* Take memory from arena a from now on (call before the first insertion). */
void map_set_arena(struct map *m, struct arena *a);
/* Charge budget b for each malloc'd table (call before the first insertion). */
void map_set_budget(struct map *m, struct mem_budget *b);
/* Room for n entries without growing (the first table when empty). */
int map_reserve(struct map *m, size_t n);
/* Frees the table (unless it came from an arena) and byte-key copies. */
void map_destroy(struct map *m);
/* Removes every entry, keeping the table. */
void map_clear(struct map *m);

static inline size_t map_count(const struct map *m) { return m->count; }
/* Slots in the table (0 before the first allocation). */
static inline size_t map_slots(const struct map *m) { return m->e ? m->mask + 1 : 0; }

/* ---- MAP_U64 ----------------------------------------------------------------------- */

struct map_entry *map_get_u64(const struct map *m, uint64_t key);
/* Inserts key → val, or replaces the value of an existing key. */
int map_put_u64(struct map *m, uint64_t key, uint64_t val);
bool map_del_u64(struct map *m, uint64_t key); /* false: not there */

/* ---- MAP_BYTES --------------------------------------------------------------------- */

struct map_entry *map_get_bytes(const struct map *m, const void *p, size_t n);
/* Inserts a copy of key {p, n} → val, or replaces the value of an existing key. */
int map_put_bytes(struct map *m, const void *p, size_t n, uint64_t val);
bool map_del_bytes(struct map *m, const void *p, size_t n);
/* The bytes of an entry's key (the map's copy, NUL-terminated) and their length. */
const char *map_key_bytes(const struct map_entry *e, size_t *n);

/* ---- MAP_CUSTOM -------------------------------------------------------------------- */

/* The entry whose key equals *probe (by the map's equal), hash its hash. */
struct map_entry *map_get_h(const struct map *m, uint64_t hash, const void *probe);
/* Inserts key word → val with this hash. The caller has checked that the key
 * is not there (map_get_h): add does not compare keys. */
int map_add_h(struct map *m, uint64_t hash, uint64_t key, uint64_t val);
bool map_del_h(struct map *m, uint64_t hash, const void *probe);

/* ---- all kinds --------------------------------------------------------------------- */

/* The next entry in slot order from *pos (start at 0), or NULL at the end. */
struct map_entry *map_next(const struct map *m, size_t *pos);

#endif
