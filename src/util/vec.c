/*
 * vec.c — growth of arrays (util/vec.h): the capacity arithmetic with its
 * overflow check, realloc and the arena variant.
 *
 * Entry points: vec_next_cap(), vec_grow(), vec_grow_arena(), vec_grow_by_().
 */
#include "util/vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

size_t vec_next_cap(size_t cap, size_t need, size_t elem_size, size_t first)
{
    if (elem_size == 0)
        return 0;
    if (need <= cap)
        return cap;
    size_t max = SIZE_MAX / elem_size;
    if (need > max)
        return 0;
    size_t n = cap ? cap : (first ? first : 1);
    while (n < need)
        n = n > max / 2 ? max : n * 2;
    return n;
}

void *vec_grow(void *p, size_t *cap, size_t need, size_t elem_size, size_t first)
{
    if (need <= *cap && p)
        return p;
    size_t n = vec_next_cap(*cap, need, elem_size, first);
    if (!n)
        return NULL;
    void *q = realloc(p, n * elem_size);
    if (!q)
        return NULL;
    *cap = n;
    return q;
}

void *vec_grow_arena(struct arena *a, void *p, size_t len, size_t *cap, size_t need,
                     size_t elem_size, size_t first)
{
    if (need <= *cap && p)
        return p;
    size_t n = vec_next_cap(*cap, need, elem_size, first);
    if (!n)
        return NULL;
    void *q = arena_alloc(a, n * elem_size);
    if (!q)
        return NULL;
    if (len && p)
        memcpy(q, p, len * elem_size);
    *cap = n;
    return q;
}

void *vec_grow_by_(void *p, size_t *cap, size_t n, size_t extra, size_t elem_size)
{
    if (extra > SIZE_MAX - n)
        return NULL;
    return vec_grow(p, cap, n + extra, elem_size, 8);
}
