/*
 * budget.c — memory budgets and the pool they share (budget.h). A budget's
 * own counters are plain (one owner); the pool's are atomics, touched only
 * when a budget takes or gives back a chunk.
 */
#include "util/budget.h"

#include <string.h>

void mem_pool_init(struct mem_pool *p, uint64_t limit)
{
    atomic_init(&p->limit, limit);
    atomic_init(&p->used, 0);
}

void mem_pool_set_limit(struct mem_pool *p, uint64_t limit)
{
    atomic_store(&p->limit, limit);
}

uint64_t mem_pool_limit(const struct mem_pool *p)
{
    return atomic_load(&((struct mem_pool *)p)->limit);
}

uint64_t mem_pool_used(const struct mem_pool *p)
{
    return atomic_load(&((struct mem_pool *)p)->used);
}

/* Takes n bytes from the pool unless that passes its limit. */
static bool pool_take(struct mem_pool *p, uint64_t n)
{
    uint64_t limit = atomic_load(&p->limit);
    uint64_t cur = atomic_load(&p->used);
    for (;;) {
        if (limit && (cur > limit || n > limit - cur))
            return false;
        if (atomic_compare_exchange_weak(&p->used, &cur, cur + n))
            return true;
    }
}

static void pool_give(struct mem_pool *p, uint64_t n)
{
    atomic_fetch_sub(&p->used, n);
}

void mem_budget_init(struct mem_budget *b, uint64_t limit, struct mem_pool *pool)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
    b->pool = pool;
}

static bool refuse(struct mem_budget *b, int why, size_t n)
{
    if (b->refused == MEM_REFUSED_NONE) {
        b->refused = why;
        b->refused_need = n;
        b->refused_used = b->used;
    }
    return false;
}

bool mem_budget_charge(struct mem_budget *b, size_t n)
{
    if (!b)
        return true;
    if (b->limit && (b->used > b->limit || n > b->limit - b->used))
        return refuse(b, MEM_REFUSED_BUDGET, n);
    uint64_t need = b->used + n;
    if (b->pool && need > b->reserved) {
        uint64_t want = need - b->reserved;
        uint64_t chunked = (want + MEM_POOL_CHUNK - 1) / MEM_POOL_CHUNK * MEM_POOL_CHUNK;
        /* a whole chunk when the pool has it, else just what this needs */
        if (pool_take(b->pool, chunked))
            b->reserved += chunked;
        else if (chunked != want && pool_take(b->pool, want))
            b->reserved += want;
        else
            return refuse(b, MEM_REFUSED_POOL, n);
    }
    b->used = need;
    if (need > b->peak)
        b->peak = need;
    return true;
}

void mem_budget_release(struct mem_budget *b, size_t n)
{
    if (!b)
        return;
    b->used = n > b->used ? 0 : b->used - n;
    if (b->pool && b->reserved - b->used > 2 * MEM_POOL_CHUNK) {
        uint64_t give = b->reserved - b->used - MEM_POOL_CHUNK;
        b->reserved -= give;
        pool_give(b->pool, give);
    }
}

void mem_budget_destroy(struct mem_budget *b)
{
    if (b->pool && b->reserved)
        pool_give(b->pool, b->reserved);
    b->reserved = 0;
    b->used = 0;
}
