/*
 * budget.h — memory budgets charged before the memory is allocated, in the
 * manner of PostgreSQL's memory contexts with a limit and curl's capped
 * dynbuf: whoever allocates on a budget's behalf asks it first, and a
 * refusal is an ordinary error (NULL from the arena, a failed buffer), never
 * an allocation the kernel cannot back.
 *
 *   struct mem_pool     shared by many budgets (all running queries); its
 *                       limit bounds them together. Thread-safe (atomics).
 *   struct mem_budget   one owner's budget (one query): its own limit, and
 *                       a pool it draws from in chunks of MEM_POOL_CHUNK, so
 *                       the shared counter is touched once per chunk, not
 *                       once per allocation. Single-owner, not thread-safe.
 *
 * Arenas and buffers (util.h) take a budget with arena_set_budget() /
 * buf_set_budget(): each new arena block, and each growth of a buffer, is
 * charged before malloc/realloc and released when freed. Code that mallocs
 * by itself calls mem_budget_charge() first and mem_budget_release() after
 * free.
 *
 * A refused charge records which limit refused it (the budget's own or the
 * pool's) and how much was asked; the first refusal is kept, so the caller
 * can say which limit to raise. A refusal does not poison the budget:
 * smaller charges may still succeed.
 *
 * Entry points: mem_pool_init(), mem_pool_used(), mem_budget_init(),
 * mem_budget_charge(), mem_budget_release(), mem_budget_destroy(); they are
 * implemented in util.c, beside the arenas that charge them.
 */
#ifndef LODESTAR_UTIL_BUDGET_H
#define LODESTAR_UTIL_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A budget takes memory from its pool this much at a time (and gives back
 * what it holds beyond twice this). */
#define MEM_POOL_CHUNK ((uint64_t)1 << 20)

struct mem_pool {
    _Atomic uint64_t limit; /* 0 = unlimited */
    _Atomic uint64_t used;  /* bytes the budgets hold (reserved chunks) */
};

enum mem_refusal {
    MEM_REFUSED_NONE,
    MEM_REFUSED_BUDGET, /* the budget's own limit */
    MEM_REFUSED_POOL    /* the pool's limit: other budgets hold the rest */
};

struct mem_budget {
    uint64_t limit;        /* 0 = unlimited */
    uint64_t used;         /* bytes charged and not released */
    uint64_t peak;         /* the most `used` has been */
    uint64_t reserved;     /* bytes taken from the pool (>= used) */
    struct mem_pool *pool; /* or NULL */
    int refused;           /* enum mem_refusal: the first refusal */
    uint64_t refused_need; /* bytes that first refused charge asked for */
    uint64_t refused_used; /* what the budget held then */
};

void mem_pool_init(struct mem_pool *p, uint64_t limit);
/* Changes the limit; budgets already holding more keep it until they give
 * it back. Thread-safe. */
void mem_pool_set_limit(struct mem_pool *p, uint64_t limit);
uint64_t mem_pool_limit(const struct mem_pool *p);
uint64_t mem_pool_used(const struct mem_pool *p);

/* A budget of `limit` bytes (0 = unlimited) drawing from `pool` (NULL =
 * none). Nothing is taken from the pool until something is charged. */
void mem_budget_init(struct mem_budget *b, uint64_t limit, struct mem_pool *pool);
/* Charges n bytes before they are allocated: true, or false (nothing
 * charged) when the budget's limit or the pool's would be passed; the first
 * refusal is recorded in b->refused. A NULL budget accepts everything. */
bool mem_budget_charge(struct mem_budget *b, size_t n);
/* Releases n bytes charged earlier (after they are freed). */
void mem_budget_release(struct mem_budget *b, size_t n);
/* Gives everything back to the pool. Every arena and buffer charging the
 * budget must have been destroyed, freed or detached first. */
void mem_budget_destroy(struct mem_budget *b);

#endif
