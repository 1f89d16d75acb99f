/*
 * collect.c — result rows on their way out: copies each row into an arena,
 * keeps a bounded top-N when ORDER BY comes with LIMIT (buffer up to 2N rows,
 * then sort and keep N; from then on rows that sort after the N-th are
 * rejected before they are even built), and sorts at the end with a stable
 * merge sort, so that ties keep scan order and results are deterministic.
 *
 * Ordering is sql_value_compare's: NULL first ascending (and so last
 * descending), numbers by value, strings by UTF-8 bytes.
 *
 * Entry points: query__collect_init(), query__collect_destroy(), query__collect_rejects(),
 * query__collect_add(), query__collect_full(), query__collect_finish().
 */
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define MIN_BUFFER 1024

int query__collect_init(struct query__collect *c, size_t width, const int *order_idx,
                        const bool *desc, size_t norder, int64_t keep, struct query__ctx *x)
{
    memset(c, 0, sizeof *c);
    c->width = width;
    c->order_idx = order_idx;
    c->desc = desc;
    c->norder = norder;
    c->ordered = norder > 0;
    c->keep = keep;
    c->x = x;
    arena_init(&c->mem[0], 64 * 1024, 0);
    arena_init(&c->mem[1], 64 * 1024, 0);
    /* row copies, like everything else, are charged before they are made */
    arena_set_budget(&c->mem[0], &x->budget);
    arena_set_budget(&c->mem[1], &x->budget);
    return 0;
}

void query__collect_destroy(struct query__collect *c)
{
    arena_destroy(&c->mem[0]);
    arena_destroy(&c->mem[1]);
    free(c->rows);
    if (c->x)
        query__ctx_uncharge(c->x, c->cap * sizeof *c->rows);
    memset(c, 0, sizeof *c);
}

static int cmp_rows(const struct query__collect *c, const struct sql_value *a,
                    const struct sql_value *b)
{
    for (size_t i = 0; i < c->norder; i++) {
        int k = c->order_idx[i];
        int r = sql_value_compare(&a[k], &b[k]);
        if (r)
            return c->desc[i] ? -r : r;
    }
    return 0;
}

/* Stable merge sort of rows[0..n) using tmp[0..n). */
static void merge_sort(const struct query__collect *c, struct sql_value **rows,
                       struct sql_value **tmp, size_t n)
{
    if (n < 2)
        return;
    if (n <= 16) { /* insertion sort: stable */
        for (size_t i = 1; i < n; i++) {
            struct sql_value *r = rows[i];
            size_t j = i;
            while (j > 0 && cmp_rows(c, rows[j - 1], r) > 0) {
                rows[j] = rows[j - 1];
                j--;
            }
            rows[j] = r;
        }
        return;
    }
    size_t h = n / 2;
    merge_sort(c, rows, tmp, h);
    merge_sort(c, rows + h, tmp, n - h);
    if (cmp_rows(c, rows[h - 1], rows[h]) <= 0)
        return;
    memcpy(tmp, rows, n * sizeof *rows);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        rows[k++] = cmp_rows(c, tmp[j], tmp[i]) < 0 ? tmp[j++] : tmp[i++];
    while (i < h)
        rows[k++] = tmp[i++];
    while (j < n)
        rows[k++] = tmp[j++];
}

static int sort_rows(struct query__collect *c)
{
    if (c->n < 2)
        return 0;
    int rc = query__ctx_charge(c->x, c->n * sizeof(struct sql_value *), "sorting the result rows");
    if (rc)
        return rc;
    struct sql_value **tmp = malloc(c->n * sizeof *tmp);
    if (!tmp) {
        query__ctx_uncharge(c->x, c->n * sizeof *tmp);
        return lerr_set(c->x->err, LERR_NOMEM, "out of memory sorting results");
    }
    merge_sort(c, c->rows, tmp, c->n);
    free(tmp);
    query__ctx_uncharge(c->x, c->n * sizeof *tmp);
    return 0;
}

bool query__collect_rejects(const struct query__collect *c, const struct sql_value *row)
{
    if (c->keep == 0)
        return true;
    return c->threshold && cmp_rows(c, row, c->threshold) >= 0;
}

static int copy_row(struct query__collect *c, struct arena *mem, const struct sql_value *row,
                    struct sql_value **out)
{
    struct sql_value *r = arena_alloc(mem, c->width * sizeof *r);
    if (!r)
        return query__ctx_nomem(c->x, "result rows");
    for (size_t i = 0; i < c->width; i++)
        if (!query__value_copy(&r[i], &row[i], mem))
            return query__ctx_nomem(c->x, "result rows");
    *out = r;
    return 0;
}

/* Sorts, keeps `keep` rows in the other arena and remembers the worst. */
static int prune(struct query__collect *c)
{
    int rc = sort_rows(c);
    if (rc)
        return rc;
    size_t keep = (size_t)c->keep;
    if (c->n > keep)
        c->n = keep;
    struct arena *next = &c->mem[1 - c->cur];
    arena_reset(next);
    for (size_t i = 0; i < c->n; i++)
        if ((rc = copy_row(c, next, c->rows[i], &c->rows[i])))
            return rc;
    arena_reset(&c->mem[c->cur]);
    c->cur = 1 - c->cur;
    c->threshold = c->n == keep && keep ? c->rows[keep - 1] : NULL;
    return 0;
}

int query__collect_add(struct query__collect *c, const struct sql_value *row)
{
    if (query__collect_rejects(c, row))
        return 0;
    int rc;
    if (c->n == c->cap) {
        bool topn = c->ordered && c->keep >= 0;
        if (topn && c->n >= 2 * (size_t)c->keep && c->n >= MIN_BUFFER) {
            if ((rc = prune(c)))
                return rc;
            if (query__collect_rejects(c, row))
                return 0;
        }
        if (c->n == c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : MIN_BUFFER;
            size_t more = (ncap - c->cap) * sizeof *c->rows;
            if ((rc = query__ctx_charge(c->x, more, "result rows")))
                return rc;
            struct sql_value **nr = realloc(c->rows, ncap * sizeof *nr);
            if (!nr) {
                query__ctx_uncharge(c->x, more);
                return lerr_set(c->x->err, LERR_NOMEM, "out of memory collecting results");
            }
            c->rows = nr;
            c->cap = ncap;
        }
    }
    if ((rc = copy_row(c, &c->mem[c->cur], row, &c->rows[c->n])))
        return rc;
    c->n++;
    if ((c->n & 1023) == 0)
        return query__ctx_check(c->x);
    return 0;
}

bool query__collect_full(const struct query__collect *c)
{
    return !c->ordered && c->keep >= 0 && c->n >= (size_t)c->keep;
}

int query__collect_finish(struct query__collect *c)
{
    int rc = c->ordered ? sort_rows(c) : 0;
    if (!rc && c->keep >= 0 && c->n > (size_t)c->keep)
        c->n = (size_t)c->keep;
    return rc;
}
