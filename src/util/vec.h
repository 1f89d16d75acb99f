/*
 * vec.h — growable arrays: one place for the "double the capacity, check
 * the multiplication, keep the old block when realloc fails" loop that used
 * to be written out by hand wherever an array grows.
 *
 * Two levels, both element-size based (so any type works without a copy of
 * the code per type):
 *
 *   vec_next_cap()    the capacity to grow to (doubling from `first`), or 0
 *                     when elements * elem_size would overflow size_t. For
 *                     callers that must charge a memory budget first.
 *   vec_grow()        realloc to at least `need` elements (malloc'd array).
 *   vec_grow_arena()  the same in an arena: a new block, the first `len`
 *                     elements copied, the old block left to the arena.
 *
 * Both return the new array, or NULL with the array and *cap unchanged (the
 * caller still owns the old block): a failure is reported, never ignored.
 *
 * And a typed vector for new code (all macros, T is any type):
 *
 *   VEC(T) v = {0};                     // { T *v; size_t n, cap; }
 *   if (!VEC_PUSH(&v, x)) ...out of memory...
 *   VEC_FREE(&v);
 *
 * Thread-safety: none needed; a vector belongs to one owner.
 */
#ifndef LODESTAR_UTIL_VEC_H
#define LODESTAR_UTIL_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct arena;

/* The capacity for at least `need` elements of elem_size bytes, doubling
 * from cap (or from `first` when cap is 0); cap itself when it already
 * holds `need`. 0 when the bytes would not fit in a size_t. */
size_t vec_next_cap(size_t cap, size_t need, size_t elem_size, size_t first);

/* Grows the malloc'd array p of *cap elements to hold at least `need`:
 * returns the (possibly moved) array and sets *cap, or NULL — on overflow
 * or when realloc fails — leaving p and *cap as they were. */
void *vec_grow(void *p, size_t *cap, size_t need, size_t elem_size, size_t first);

/* As vec_grow, in arena a: the first `len` elements of p are copied into
 * the new block; the old block stays allocated until the arena is reset.
 * NULL (p, *cap unchanged) on overflow or when the arena refuses. */
void *vec_grow_arena(struct arena *a, void *p, size_t len, size_t *cap, size_t need,
                     size_t elem_size, size_t first);

/* ---- typed vectors ----------------------------------------------------------------- */

/* tmp_ holds realloc's answer until it is known not to be NULL, so the
 * macros stay expressions without type-punning the element pointer. */
#define VEC(T)         \
    struct {           \
        T *v;          \
        size_t n, cap; \
        void *tmp_;    \
    }

/* Room for `extra` more elements; false (vector unchanged) on overflow or OOM. */
#define VEC_RESERVE(vec, extra)                                                                   \
    ((vec)->cap - (vec)->n >= (size_t)(extra) ||                                                  \
     (((vec)->tmp_ = vec_grow_by_((vec)->v, &(vec)->cap, (vec)->n, (extra), sizeof *(vec)->v)) != \
          NULL &&                                                                                 \
      ((vec)->v = (vec)->tmp_, true)))
/* Appends x; false (vector unchanged) on overflow or OOM. */
#define VEC_PUSH(vec, x) (VEC_RESERVE(vec, 1) ? ((vec)->v[(vec)->n++] = (x), true) : false)
/* Frees the elements; the vector is empty and reusable. */
#define VEC_FREE(vec) (free((vec)->v), (vec)->v = NULL, (vec)->n = (vec)->cap = 0)

/* Helper of VEC_RESERVE: vec_grow to n + extra elements (first capacity 8),
 * NULL when n + extra overflows. */
void *vec_grow_by_(void *p, size_t *cap, size_t n, size_t extra, size_t elem_size);

#endif
