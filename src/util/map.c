/*
 * map.c — the hash map of util/map.h: open addressing, linear probing,
 * backward-shift deletion, a power-of-two table at most 3/4 full.
 *
 * Entry points: see util/map.h.
 */
#include "util/map.h"

#include <stdlib.h>
#include <string.h>

#include "util/budget.h"
#include "util/num.h"

#define FILLED (1ull << 63) /* set in every stored hash: 0 is an empty slot */
#define FIRST_SLOTS 16

/* A copied byte key: its length, then the bytes and a NUL. */
struct map_bytes {
    size_t n;
    char p[];
};

void map_init(struct map *m, enum map_kind kind, map_equal_fn equal, void *ctx)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->equal = equal;
    m->ctx = ctx;
    m->first = FIRST_SLOTS;
    arena_init(&m->own, 4096, 0);
}

void map_set_arena(struct map *m, struct arena *a) { m->arena = a; }

void map_set_budget(struct map *m, struct mem_budget *b) { m->budget = b; }

static void free_table(struct map *m)
{
    if (m->e && !m->arena) {
        free(m->e);
        mem_budget_release(m->budget, (m->mask + 1) * sizeof *m->e);
    }
    m->e = NULL;
    m->mask = 0;
}

void map_destroy(struct map *m)
{
    free_table(m);
    arena_destroy(&m->own);
    m->count = 0;
}

void map_clear(struct map *m)
{
    if (m->e)
        memset(m->e, 0, (m->mask + 1) * sizeof *m->e);
    m->count = 0;
}

/* ---- the table ----------------------------------------------------------------------- */

static void place(struct map_entry *t, size_t mask, const struct map_entry *x)
{
    size_t i = x->hash & mask;
    while (t[i].hash)
        i = (i + 1) & mask;
    t[i] = *x;
}

/* A table of `slots` entries (a power of two) holding the current ones. */
static int resize(struct map *m, size_t slots)
{
    if (slots > SIZE_MAX / sizeof *m->e)
        return MAP_NOMEM;
    size_t bytes = slots * sizeof *m->e;
    struct map_entry *t;
    if (m->arena) {
        t = arena_zalloc(m->arena, bytes);
        if (!t)
            return MAP_NOMEM;
    } else {
        if (!mem_budget_charge(m->budget, bytes))
            return MAP_REFUSED;
        t = calloc(slots, sizeof *t);
        if (!t) {
            mem_budget_release(m->budget, bytes);
            return MAP_NOMEM;
        }
    }
    /* in slot order, so the same insertions always give the same layout */
    if (m->e)
        for (size_t i = 0; i <= m->mask; i++)
            if (m->e[i].hash)
                place(t, slots - 1, &m->e[i]);
    size_t count = m->count;
    free_table(m);
    m->e = t;
    m->mask = slots - 1;
    m->count = count;
    return MAP_OK;
}

/* The smallest power-of-two table (at least m->first) holding n entries at 3/4. */
static size_t slots_for(const struct map *m, size_t n)
{
    size_t s = m->e ? m->mask + 1 : m->first;
    if (n > SIZE_MAX / 4)
        return 0;
    while (n * 4 > s * 3) {
        if (s > SIZE_MAX / 8)
            return 0;
        s *= 2;
    }
    return s;
}

int map_reserve(struct map *m, size_t n)
{
    size_t s = slots_for(m, n);
    if (!s)
        return MAP_NOMEM;
    if (m->e && s == m->mask + 1)
        return MAP_OK;
    return resize(m, s);
}

/* Room for one more entry. */
static int room(struct map *m)
{
    if (!m->e)
        return resize(m, m->first);
    if ((m->count + 1) * 4 > (m->mask + 1) * 3) {
        if (m->mask + 1 > SIZE_MAX / 2)
            return MAP_NOMEM;
        return resize(m, (m->mask + 1) * 2);
    }
    return MAP_OK;
}

static bool key_matches(const struct map *m, const struct map_entry *e, const void *probe,
                        size_t n)
{
    switch (m->kind) {
    case MAP_U64: return e->key == *(const uint64_t *)probe;
    case MAP_BYTES: {
        const struct map_bytes *b = (const struct map_bytes *)(uintptr_t)e->key;
        return b->n == n && memcmp(b->p, probe, n) == 0;
    }
    default: return m->equal(probe, e, m->ctx);
    }
}

static struct map_entry *find(const struct map *m, uint64_t hash, const void *probe, size_t n)
{
    if (!m->e)
        return NULL;
    hash |= FILLED;
    for (size_t i = hash & m->mask;; i = (i + 1) & m->mask) {
        struct map_entry *e = &m->e[i];
        if (!e->hash)
            return NULL;
        if (e->hash == hash && key_matches(m, e, probe, n))
            return e;
    }
}

/* Adds an entry known to be absent; room() has been called. */
static void add(struct map *m, uint64_t hash, uint64_t key, uint64_t val)
{
    struct map_entry x = {.hash = hash | FILLED, .key = key, .val = val};
    place(m->e, m->mask, &x);
    m->count++;
}

/* Removes entry e, shifting the rest of its run back over the hole. */
static void remove_at(struct map *m, struct map_entry *e)
{
    size_t mask = m->mask;
    size_t hole = (size_t)(e - m->e);
    for (size_t j = (hole + 1) & mask; m->e[j].hash; j = (j + 1) & mask) {
        size_t home = m->e[j].hash & mask;
        /* entry j may move to the hole when its home is not in (hole, j] (cyclically) */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->e[hole] = m->e[j];
            hole = j;
        }
    }
    memset(&m->e[hole], 0, sizeof m->e[hole]);
    m->count--;
}

struct map_entry *map_next(const struct map *m, size_t *pos)
{
    if (!m->e)
        return NULL;
    for (size_t i = *pos; i <= m->mask; i++)
        if (m->e[i].hash) {
            *pos = i + 1;
            return &m->e[i];
        }
    *pos = m->mask + 1;
    return NULL;
}

/* ---- MAP_U64 --------------------------------------------------------------------------- */

struct map_entry *map_get_u64(const struct map *m, uint64_t key)
{
    return find(m, util_mix64(key), &key, 0);
}

int map_put_u64(struct map *m, uint64_t key, uint64_t val)
{
    struct map_entry *e = map_get_u64(m, key);
    if (e) {
        e->val = val;
        return MAP_OK;
    }
    int rc = room(m);
    if (rc)
        return rc;
    add(m, util_mix64(key), key, val);
    return MAP_OK;
}

bool map_del_u64(struct map *m, uint64_t key)
{
    struct map_entry *e = map_get_u64(m, key);
    if (e)
        remove_at(m, e);
    return e != NULL;
}

/* ---- MAP_BYTES ------------------------------------------------------------------------- */

struct map_entry *map_get_bytes(const struct map *m, const void *p, size_t n)
{
    return find(m, util_hash_bytes(p, n), p, n);
}

int map_put_bytes(struct map *m, const void *p, size_t n, uint64_t val)
{
    uint64_t h = util_hash_bytes(p, n);
    struct map_entry *e = find(m, h, p, n);
    if (e) {
        e->val = val;
        return MAP_OK;
    }
    if (n > SIZE_MAX - sizeof(struct map_bytes) - 1)
        return MAP_NOMEM;
    int rc = room(m);
    if (rc)
        return rc;
    struct map_bytes *b = arena_alloc(m->arena ? m->arena : &m->own, sizeof *b + n + 1);
    if (!b)
        return MAP_NOMEM;
    b->n = n;
    if (n)
        memcpy(b->p, p, n);
    b->p[n] = '\0';
    add(m, h, (uint64_t)(uintptr_t)b, val);
    return MAP_OK;
}

bool map_del_bytes(struct map *m, const void *p, size_t n)
{
    struct map_entry *e = map_get_bytes(m, p, n);
    if (e)
        remove_at(m, e);
    return e != NULL;
}

const char *map_key_bytes(const struct map_entry *e, size_t *n)
{
    const struct map_bytes *b = (const struct map_bytes *)(uintptr_t)e->key;
    if (n)
        *n = b->n;
    return b->p;
}

/* ---- MAP_CUSTOM ------------------------------------------------------------------------ */

struct map_entry *map_get_h(const struct map *m, uint64_t hash, const void *probe)
{
    return find(m, hash, probe, 0);
}

int map_add_h(struct map *m, uint64_t hash, uint64_t key, uint64_t val)
{
    int rc = room(m);
    if (rc)
        return rc;
    add(m, hash, key, val);
    return MAP_OK;
}

bool map_del_h(struct map *m, uint64_t hash, const void *probe)
{
    struct map_entry *e = map_get_h(m, hash, probe);
    if (e)
        remove_at(m, e);
    return e != NULL;
}
