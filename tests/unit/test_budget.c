/*
 * test_budget.c — memory budgets (util/budget.h) and the arenas and buffers
 * that charge them: a charge past the budget's limit or its pool's is
 * refused before anything is allocated and says which limit refused it;
 * releases bring the counters back to zero; arena blocks, arena_mark /
 * arena_release and buffer growth are charged and released exactly; pools
 * shared by threads stay consistent.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/budget.h"
#include "util/util.h"

static void test_budget_alone(void)
{
    struct mem_budget b;
    mem_budget_init(&b, 1000, NULL);
    CHECK(mem_budget_charge(&b, 600));
    CHECK(mem_budget_charge(&b, 400));
    CHECK_EQ_INT(b.used, 1000);
    CHECK_EQ_INT(b.refused, MEM_REFUSED_NONE);
    CHECK(!mem_budget_charge(&b, 1)); /* one byte past the limit */
    CHECK_EQ_INT(b.used, 1000);       /* nothing charged */
    CHECK_EQ_INT(b.refused, MEM_REFUSED_BUDGET);
    CHECK_EQ_INT(b.refused_need, 1);
    CHECK_EQ_INT(b.refused_used, 1000);
    mem_budget_release(&b, 500);
    CHECK(mem_budget_charge(&b, 300));         /* a refusal does not poison */
    CHECK(!mem_budget_charge(&b, (size_t)-1)); /* no overflow past the limit */
    CHECK_EQ_INT(b.refused_need, 1);           /* the first refusal is kept */
    CHECK_EQ_INT(b.peak, 1000);
    mem_budget_release(&b, 800);
    CHECK_EQ_INT(b.used, 0);
    mem_budget_destroy(&b);
    CHECK(mem_budget_charge(NULL, 1u << 30)); /* no budget: no limit */
}

static void test_pool(void)
{
    struct mem_pool p;
    mem_pool_init(&p, 4 * MEM_POOL_CHUNK);
    struct mem_budget a, b;
    mem_budget_init(&a, 0, &p);
    mem_budget_init(&b, 0, &p);
    /* a takes whole chunks: 1 byte reserves one */
    CHECK(mem_budget_charge(&a, 1));
    CHECK_EQ_INT(mem_pool_used(&p), MEM_POOL_CHUNK);
    CHECK(mem_budget_charge(&a, MEM_POOL_CHUNK)); /* now 2 chunks */
    CHECK_EQ_INT(mem_pool_used(&p), 2 * MEM_POOL_CHUNK);
    CHECK(mem_budget_charge(&b, 2 * MEM_POOL_CHUNK - 10));
    CHECK_EQ_INT(mem_pool_used(&p), 4 * MEM_POOL_CHUNK);
    /* the pool is spent: b is refused by the pool, not by its own limit */
    CHECK(!mem_budget_charge(&b, 11));
    CHECK_EQ_INT(b.refused, MEM_REFUSED_POOL);
    CHECK_EQ_INT(b.refused_need, 11);
    /* what b has reserved but not used is still b's */
    CHECK(mem_budget_charge(&b, 10));
    /* a gives back: b can grow */
    mem_budget_release(&a, MEM_POOL_CHUNK + 1);
    CHECK_EQ_INT(a.used, 0);
    mem_budget_destroy(&a);
    CHECK_EQ_INT(mem_pool_used(&p), 2 * MEM_POOL_CHUNK);
    CHECK(mem_budget_charge(&b, MEM_POOL_CHUNK + 5));
    /* the budget's own limit comes first */
    struct mem_budget c;
    mem_budget_init(&c, 100, &p);
    CHECK(!mem_budget_charge(&c, 101));
    CHECK_EQ_INT(c.refused, MEM_REFUSED_BUDGET);
    CHECK_EQ_INT(mem_pool_used(&p), 4 * MEM_POOL_CHUNK); /* c took nothing */
    mem_budget_destroy(&c);
    /* releasing much gives chunks back beyond one spare */
    mem_budget_release(&b, b.used);
    CHECK(b.reserved <= 2 * MEM_POOL_CHUNK);
    mem_budget_destroy(&b);
    CHECK_EQ_INT(mem_pool_used(&p), 0);
    /* a limit lowered below what is held refuses new charges only */
    mem_pool_set_limit(&p, MEM_POOL_CHUNK / 2);
    mem_budget_init(&a, 0, &p);
    CHECK(!mem_budget_charge(&a, MEM_POOL_CHUNK));
    CHECK(mem_budget_charge(&a, MEM_POOL_CHUNK / 2)); /* an exact take fits */
    mem_budget_destroy(&a);
    CHECK_EQ_INT(mem_pool_used(&p), 0);
}

static void test_arena(void)
{
    struct mem_budget b;
    mem_budget_init(&b, 200 * 1024, NULL);
    struct arena a;
    arena_init(&a, 64 * 1024, 0);
    CHECK(arena_set_budget(&a, &b));
    CHECK(arena_alloc(&a, 100) != NULL);
    /* one block charged: its bytes and its header */
    CHECK(b.used >= 64 * 1024 && b.used < 65 * 1024);
    uint64_t one = b.used;
    CHECK(arena_alloc(&a, 100 * 1024) != NULL); /* a huge block, charged too */
    CHECK(b.used > one + 100 * 1024);
    /* refused before malloc: NULL, nothing charged, the refusal recorded */
    uint64_t before = b.used;
    CHECK(arena_alloc(&a, 150 * 1024) == NULL);
    CHECK_EQ_INT(b.used, before);
    CHECK_EQ_INT(b.refused, MEM_REFUSED_BUDGET);
    CHECK(arena_alloc(&a, 10) != NULL); /* small ones still fit the block */
    /* reset keeps the first ordinary block, releases the rest */
    arena_reset(&a);
    CHECK_EQ_INT(b.used, one);
    /* mark / release: a row's garbage, then the next row's, in the same memory */
    struct arena_mark m;
    arena_alloc(&a, 1000);
    uint64_t base = b.used;
    for (int row = 0; row < 100; row++) {
        arena_mark(&a, &m);
        char *p = arena_alloc(&a, 120 * 1024); /* past the block: a huge block */
        char *q = arena_alloc(&a, 40 * 1024);
        CHECK(p && q);
        if (p)
            memset(p, row, 120 * 1024);
        arena_release(&a, &m);
    }
    CHECK(b.used <= base + 65 * 1024); /* at most one spare block kept */
    size_t total = a.total;
    arena_mark(&a, &m);
    for (int i = 0; i < 3; i++)
        CHECK(arena_alloc(&a, 50 * 1024) != NULL); /* two new ordinary blocks */
    arena_release(&a, &m);
    CHECK_EQ_INT(a.total, total);
    CHECK(b.used <= base + 65 * 1024);
    /* moving to no budget and back */
    uint64_t held = b.used;
    CHECK(arena_set_budget(&a, NULL));
    CHECK_EQ_INT(b.used, 0);
    struct mem_budget tiny;
    mem_budget_init(&tiny, 10, NULL);
    CHECK(!arena_set_budget(&a, &tiny)); /* refused: stays unbudgeted */
    CHECK(a.budget == NULL);
    CHECK(arena_set_budget(&a, &b));
    CHECK_EQ_INT(b.used, held);
    arena_destroy(&a);
    CHECK_EQ_INT(b.used, 0);
    mem_budget_destroy(&b);
}

static void test_buf(void)
{
    struct mem_budget b;
    mem_budget_init(&b, 10000, NULL);
    struct buf x;
    buf_init(&x, 0);
    CHECK(buf_set_budget(&x, &b));
    char chunk[1000];
    memset(chunk, 'x', sizeof chunk);
    int n = 0;
    while (buf_append(&x, chunk, sizeof chunk))
        n++;
    CHECK(x.failed);
    CHECK(n >= 4 && n < 10);
    CHECK_EQ_INT(b.used, x.alloc); /* exactly the allocation */
    CHECK(b.used <= 10000);
    CHECK_EQ_INT(b.refused, MEM_REFUSED_BUDGET);
    size_t len;
    char *p = buf_steal(&x, &len); /* the bytes leave the budget */
    CHECK_EQ_INT(b.used, 0);
    CHECK_EQ_INT(len, (size_t)n * 1000);
    free(p);
    CHECK(x.budget == &b);
    buf_append(&x, "abc", 3);
    CHECK(b.used > 0);
    buf_free(&x);
    CHECK_EQ_INT(b.used, 0);
    /* a capped buffer allocates no more than its cap (+ the NUL) */
    struct buf c;
    buf_init(&c, 1000);
    CHECK(buf_set_budget(&c, &b));
    buf_append(&c, chunk, 600);
    buf_append(&c, chunk, 300);
    CHECK(c.alloc <= 1001);
    CHECK_EQ_INT(b.used, c.alloc);
    CHECK(buf_set_budget(&c, NULL));
    CHECK_EQ_INT(b.used, 0);
    buf_free(&c);
    mem_budget_destroy(&b);
}

struct worker {
    struct mem_pool *pool;
    long refused;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    struct mem_budget b;
    mem_budget_init(&b, 0, w->pool);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(i % 7 + 1) * (MEM_POOL_CHUNK / 3);
        if (mem_budget_charge(&b, n))
            mem_budget_release(&b, n);
        else
            w->refused++;
        if (i % 100 == 0) { /* a query ends, another starts */
            mem_budget_destroy(&b);
            mem_budget_init(&b, 0, w->pool);
        }
    }
    mem_budget_destroy(&b);
    return NULL;
}

static void test_pool_threads(void)
{
    struct mem_pool p;
    mem_pool_init(&p, 8 * MEM_POOL_CHUNK);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){&p, 0};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(mem_pool_used(&p), 0); /* every chunk came back */
}

int main(void)
{
    test_budget_alone();
    test_pool();
    test_arena();
    test_buf();
    test_pool_threads();
    return check_summary();
}
