/*
 * query__ctx.c — the per-query context every file of query/ reports to, and the
 * server-wide limits it draws on: the memory budget behind
 * context.maxQueryBytes, drawing on the pool of all running queries
 * (LODESTAR_QUERY_TOTAL_BYTES, LODESTAR_QUERY_MAX_BYTES), the deadline
 * behind context.timeout, and the errors when either runs out. The bottom
 * of query/: it calls no other file of the module.
 *
 * Entry points: query_limits_get/set(), query_limits_from_env(),
 * query_memory_in_use(), query__ctx_begin(), query__ctx_end(), query__ctx_check(), query__ctx_charge(), query__ctx_uncharge(),
 * query__ctx_too_big(), query__ctx_nomem(), query__ctx_sql_error(), query__ctx_size_text().
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "query/query_int.h"

/* ---- a context's life ----------------------------------------------------------------- */

void query__ctx_begin(struct query__ctx *x, uint64_t max_bytes, int64_t deadline_ns,
                      struct lerr *err)
{
    memset(x, 0, sizeof *x);
    x->err = err;
    x->max_bytes = max_bytes;
    x->deadline_ns = deadline_ns;
    /* every arena and buffer of the query charges the budget before it grows */
    mem_budget_init(&x->budget, x->max_bytes, &query__pool);
    arena_init(&x->keep, 64 * 1024, 0);
    arena_init(&x->scratch, 256 * 1024, 0);
    arena_init(&x->leaf, 128 * 1024, 0);
    arena_set_budget(&x->keep, &x->budget);
    arena_set_budget(&x->scratch, &x->budget);
    arena_set_budget(&x->leaf, &x->budget);
    x->tz = tz_utc();
}

void query__ctx_end(struct query__ctx *x)
{
    arena_destroy(&x->keep);
    arena_destroy(&x->scratch);
    arena_destroy(&x->leaf);
    mem_budget_destroy(&x->budget);
}

/* ---- memory limits ------------------------------------------------------------------ */

struct mem_pool query__pool = {0, 0}; /* limit set at first use or by query_limits_set */
static _Atomic uint64_t max_query_limit;
static pthread_once_t limits_once = PTHREAD_ONCE_INIT;

/* 2 GiB, or half the machine's memory or half the address space the process
 * may use (RLIMIT_AS), whichever is least. */
static uint64_t default_total(void)
{
    uint64_t t = 2ull << 30;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0 && (uint64_t)pages * (uint64_t)psz / 2 < t)
        t = (uint64_t)pages * (uint64_t)psz / 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < t)
        t = rl.rlim_cur / 2;
    return t < (64u << 20) ? (64u << 20) : t;
}

static void limits_default(void)
{
    if (!mem_pool_limit(&query__pool)) {
        uint64_t t = default_total();
        mem_pool_init(&query__pool, t);
        atomic_store(&max_query_limit, t);
    }
}

void query_limits_get(struct query_limits *out)
{
    pthread_once(&limits_once, limits_default);
    out->total_bytes = mem_pool_limit(&query__pool);
    out->max_query_bytes = atomic_load(&max_query_limit);
}

void query_limits_set(const struct query_limits *l)
{
    pthread_once(&limits_once, limits_default);
    uint64_t t = l->total_bytes ? l->total_bytes : default_total();
    mem_pool_set_limit(&query__pool, t);
    atomic_store(&max_query_limit, l->max_query_bytes ? l->max_query_bytes : t);
}

uint64_t query_memory_in_use(void) { return mem_pool_used(&query__pool); }

/* "1073741824", "512M", "2g", "64KiB": bytes; 0 when unset. */
static int env_size(const char *name, uint64_t *out, struct lerr *err)
{
    *out = 0;
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    int shift = 0;
    if (end != v && *end) {
        shift = *end == 'k' || *end == 'K'   ? 10
                : *end == 'm' || *end == 'M' ? 20
                : *end == 'g' || *end == 'G' ? 30
                                             : -1;
        if (shift > 0) {
            end++;
            if (*end == 'i' || *end == 'I')
                end++;
            if (*end == 'b' || *end == 'B')
                end++;
        }
    }
    if (end == v || *end || shift < 0 || errno || x == 0 || x > (UINT64_MAX >> shift))
        return lerr_set(err, LERR_INVALID,
                        "%s='%s' is not a memory size: write a number of bytes greater than 0, "
                        "or one with a K, M or G suffix (powers of 1024), such as 2G",
                        name, v);
    *out = (uint64_t)x << shift;
    return 0;
}

/* rows per thread before an aggregation runs on several cores (exec.c) */
uint64_t query__agg_par_min_rows = 262144;

int query_limits_from_env(struct lerr *err)
{
    struct query_limits l = {0, 0};
    if (env_size("LODESTAR_QUERY_TOTAL_BYTES", &l.total_bytes, err) ||
        env_size("LODESTAR_QUERY_MAX_BYTES", &l.max_query_bytes, err))
        return err->code;
    const char *v = getenv("LODESTAR_QUERY_PARALLEL_MIN_ROWS");
    if (v && *v) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (end == v || *end || errno || *v == '-')
            return lerr_set(err, LERR_INVALID,
                            "LODESTAR_QUERY_PARALLEL_MIN_ROWS='%s' is not a number of rows: write "
                            "a whole number such as 262144 (0: every aggregation of two blocks "
                            "or more runs on every core)",
                            v);
        query__agg_par_min_rows = n;
    }
    query_limits_set(&l);
    return 0;
}

/* ---- the per-query context -------------------------------------------------------- */

const char *query__ctx_size_text(uint64_t n, char buf[32])
{
    if (n >= (1ull << 30) && n % (1ull << 30) == 0)
        snprintf(buf, 32, "%llu GiB", (unsigned long long)(n >> 30));
    else if (n >= (1ull << 20) && n % (1ull << 20) == 0)
        snprintf(buf, 32, "%llu MiB", (unsigned long long)(n >> 20));
    else
        snprintf(buf, 32, "%llu bytes", (unsigned long long)n);
    return buf;
}

int query__ctx_too_big(struct query__ctx *x, const char *what)
{
    if (x->mem_error)
        return x->err->code;
    /* this error replaces a plain "out of memory" set on the way up */
    lerr_init(x->err);
    x->mem_error = true;
    char a[32], b[32], c[32];
    if (x->budget.refused == MEM_REFUSED_POOL) {
        return lerr_set(x->err, LERR_UNAVAILABLE,
                        "server query memory is in use by other queries: all running queries "
                        "together may hold %s (LODESTAR_QUERY_TOTAL_BYTES) and this one could "
                        "not get %s more for %s while it held %s; retry in a moment, or raise "
                        "LODESTAR_QUERY_TOTAL_BYTES where the server starts",
                        query__ctx_size_text(mem_pool_limit(&query__pool), a),
                        query__ctx_size_text(x->budget.refused_need, b), what,
                        query__ctx_size_text(x->budget.refused_used, c));
    }
    struct query_limits l;
    query_limits_get(&l);
    return lerr_set(x->err, LERR_INVALID,
                    "query memory limit exceeded: the query needs more than "
                    "context.maxQueryBytes = %llu bytes (for %s); narrow the __time range or the "
                    "WHERE, build fewer or shorter strings, group by fewer or lower-cardinality "
                    "columns, add a LIMIT, or raise context.maxQueryBytes (this server allows up "
                    "to %llu: LODESTAR_QUERY_MAX_BYTES)",
                    (unsigned long long)x->max_bytes, what, (unsigned long long)l.max_query_bytes);
}

int query__ctx_nomem(struct query__ctx *x, const char *what)
{
    if (x->budget.refused != MEM_REFUSED_NONE)
        return query__ctx_too_big(x, what);
    if (x->mem_error)
        return x->err->code;
    return lerr_set(x->err, LERR_NOMEM, "out of memory for %s", what);
}

int query__ctx_sql_error(struct query__ctx *x, int rc, const char *what)
{
    if (rc == LERR_NOMEM || (x->err->code == LERR_NOMEM && !x->mem_error))
        return query__ctx_nomem(x, what);
    return x->err->code ? x->err->code : rc;
}

int query__ctx_check(struct query__ctx *x)
{
    if (x->err->code)
        return x->err->code;
    if (x->deadline_ns != INT64_MAX && util_mono_ns() > x->deadline_ns)
        return lerr_set(x->err, LERR_TIMEOUT,
                        "query exceeded its timeout of %lld ms; narrow the __time range or "
                        "the WHERE, or raise context.timeout",
                        (long long)x->req->timeout_ms);
    return 0;
}

int query__ctx_charge(struct query__ctx *x, size_t n, const char *what)
{
    return mem_budget_charge(&x->budget, n) ? 0 : query__ctx_too_big(x, what);
}

void query__ctx_uncharge(struct query__ctx *x, size_t n) { mem_budget_release(&x->budget, n); }
