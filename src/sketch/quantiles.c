/*
 * quantiles.c — the classic quantiles sketch of doubles (quantiles.h), written
 * from Apache DataSketches' description of the algorithm and its byte layout.
 *
 * Layout in memory is DataSketches' "combined buffer", so that the updatable
 * serialized form is a copy of it: items [0, 2k) are the base buffer (bb of
 * them used, unsorted), then level i at [2k + i*k, 2k + (i+1)*k), valid when
 * bit i of n / 2k is set. A small sketch holds only a base buffer that grows
 * 4, 8, ... 2k items; levels are added as n needs them. Levels whose bit is
 * clear keep their stale items, as DataSketches' do (the updatable form
 * writes them).
 *
 * Sections: helpers and the generator; life and update (the carry of a full
 * base buffer up the levels); merging (same k, and downsampling a larger k);
 * the union; the sorted view and the queries; serialization; the summary.
 */
#include "sketch/quantiles.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sketch_quantiles {
    int k;
    uint32_t bb;   /* items in the base buffer */
    uint32_t cap;  /* items buf holds */
    uint64_t n;    /* items seen */
    uint64_t bits; /* n / 2k: which levels are valid */
    double min, max;
    double *buf;
    uint64_t rng;
};

struct sketch_quantiles_union {
    int max_k;
    struct sketch_quantiles *g; /* NULL until the first update */
    uint64_t rng;
};

/* ---- helpers ------------------------------------------------------------ */

#define FAMILY_QUANTILES 8
#define SER_VER 3
#define F_READ_ONLY 0x02
#define F_EMPTY 0x04
#define F_COMPACT 0x08
#define F_ORDERED 0x10
/* More items than any stream holds; keeps n + n and the level count far
 * from overflow (a sketch read from bytes may claim any n). */
#define MAX_N (1ull << 62)

static int valid_k(int k)
{
    return k >= SKETCH_QUANTILES_MIN_K && k <= SKETCH_QUANTILES_MAX_K && (k & (k - 1)) == 0;
}

static int hibit(uint64_t v) { return v ? 63 - __builtin_clzll(v) : -1; }

/* Levels the combined buffer needs for n items (1 + the highest valid level). */
static int levels_needed(int k, uint64_t n) { return 1 + hibit(n / (2ull * (uint64_t)k)); }

static uint32_t retained(int k, uint64_t n)
{
    uint64_t bits = n / (2ull * (uint64_t)k);
    return (uint32_t)(n % (2ull * (uint64_t)k)) +
           (uint32_t)__builtin_popcountll(bits) * (uint32_t)k;
}

static uint32_t ceil_pow2(uint32_t v)
{
    uint32_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* DataSketches' combined buffer capacity for a sketch read from bytes. */
static uint32_t comb_cap(int k, uint64_t n)
{
    int lv = levels_needed(k, n);
    if (lv == 0) {
        uint32_t c = ceil_pow2((uint32_t)(n % (2ull * (uint64_t)k)));
        return c < 4 ? 4 : c;
    }
    return (uint32_t)(2 + lv) * (uint32_t)k;
}

/* Capacity a sketch of n items must have before a carry (at least 2k). */
static uint32_t required_cap(int k, uint64_t n)
{
    int lv = levels_needed(k, n);
    return (uint32_t)(2 + lv) * (uint32_t)k;
}

static double *level(const struct sketch_quantiles *s, int i)
{
    return s->buf + 2 * (size_t)s->k + (size_t)i * (size_t)s->k;
}

static uint64_t next64(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fresh_seed(const void *obj)
{
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t st = (uint64_t)atomic_fetch_add(&counter, 1) ^ (uint64_t)(uintptr_t)obj ^
                  ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec;
    return next64(&st);
}

/* Grows buf to cap items, zero-filling the new part (DataSketches' copyOf). */
static int grow(struct sketch_quantiles *s, uint32_t cap, struct lerr *err)
{
    if (cap <= s->cap)
        return 0;
    double *nb = realloc(s->buf, (size_t)cap * sizeof(double));
    if (!nb)
        return lerr_set(err, LERR_NOMEM, "quantiles sketch: cannot grow to %u items", cap);
    memset(nb + s->cap, 0, (size_t)(cap - s->cap) * sizeof(double));
    s->buf = nb;
    s->cap = cap;
    return 0;
}

/*
 * Sorting doubles (never NaN here) in Java's Arrays.sort order, where -0.0
 * comes before 0.0, so that a sorted base buffer has the same bytes as
 * DataSketches' and sorting twice changes nothing. Sorting the base buffer
 * is most of an update's cost, so the doubles are sorted as unsigned keys
 * whose order is that order (the sign bit flipped, or every bit for a
 * negative), in place, with a quicksort whose partition has no branch on
 * the data (random items defeat branch prediction): median of three,
 * insertion sort for short runs, heapsort past a depth limit.
 */
typedef uint64_t __attribute__((may_alias)) dkey;

static inline uint64_t to_key(uint64_t b) { return b >> 63 ? ~b : b | (1ull << 63); }
static inline uint64_t from_key(uint64_t k) { return k >> 63 ? k & ~(1ull << 63) : ~k; }

static void isort(dkey *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        while (j > 0 && v < a[j - 1]) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

static void sift(dkey *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && a[c] < a[c + 1])
            c++;
        if (a[i] >= a[c])
            return;
        uint64_t t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

static void hsort(dkey *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t e = n; e-- > 1;) {
        uint64_t t = a[0];
        a[0] = a[e];
        a[e] = t;
        sift(a, 0, e);
    }
}

static void ksort(dkey *a, size_t n, int depth)
{
    while (n > 16) {
        if (depth-- == 0) {
            hsort(a, n);
            return;
        }
        /* the median of three goes to the end as the pivot */
        size_t m = n / 2;
        uint64_t t;
        if (a[m] < a[0])
            t = a[m], a[m] = a[0], a[0] = t;
        if (a[n - 1] < a[m])
            t = a[n - 1], a[n - 1] = a[m], a[m] = t;
        if (a[m] < a[0])
            t = a[m], a[m] = a[0], a[0] = t;
        t = a[m], a[m] = a[n - 1], a[n - 1] = t;
        uint64_t p = a[n - 1];
        size_t i = 0;
        for (size_t j = 0; j < n - 1; j++) {
            uint64_t x = a[j];
            size_t c = x < p;
            a[j] = a[i];
            a[i] = x;
            i += c;
        }
        a[n - 1] = a[i];
        a[i] = p;
        /* [0, i) < p <= (i, n): recurse on the smaller side */
        if (i < n - i - 1) {
            ksort(a, i, depth);
            a += i + 1;
            n -= i + 1;
        } else {
            ksort(a + i + 1, n - i - 1, depth);
            n = i;
        }
    }
    isort(a, n);
}

static void sort_doubles(double *d, size_t n)
{
    dkey *a = (dkey *)d;
    for (size_t i = 0; i < n; i++)
        a[i] = to_key(a[i]);
    ksort(a, n, 2 * (hibit(n | 1) + 1));
    for (size_t i = 0; i < n; i++)
        a[i] = from_key(a[i]);
}

/* ---- life and update ------------------------------------------------------ */

static struct sketch_quantiles *alloc_sketch(int k, uint32_t cap, struct lerr *err)
{
    struct sketch_quantiles *s = calloc(1, sizeof *s);
    double *buf = calloc(cap, sizeof(double));
    if (!s || !buf) {
        free(s);
        free(buf);
        lerr_set(err, LERR_NOMEM, "quantiles sketch: out of memory for k %d", k);
        return NULL;
    }
    s->k = k;
    s->cap = cap;
    s->buf = buf;
    s->min = s->max = NAN;
    return s;
}

struct sketch_quantiles *sketch_quantiles_new(int k, struct lerr *err)
{
    if (!valid_k(k)) {
        lerr_set(err, LERR_INVALID,
                 "quantiles sketch k %d is not allowed: k must be a power of 2 from %d to %d "
                 "(Druid's default is %d)",
                 k, SKETCH_QUANTILES_MIN_K, SKETCH_QUANTILES_MAX_K, SKETCH_QUANTILES_DEFAULT_K);
        return NULL;
    }
    struct sketch_quantiles *s = alloc_sketch(k, 4, err);
    if (s)
        s->rng = fresh_seed(s);
    return s;
}

void sketch_quantiles_free(struct sketch_quantiles *s)
{
    if (!s)
        return;
    free(s->buf);
    free(s);
}

struct sketch_quantiles *sketch_quantiles_copy(const struct sketch_quantiles *s, struct lerr *err)
{
    struct sketch_quantiles *c = alloc_sketch(s->k, s->cap, err);
    if (!c)
        return NULL;
    double *buf = c->buf;
    *c = *s;
    c->buf = buf;
    memcpy(buf, s->buf, (size_t)s->cap * sizeof(double));
    return c;
}

void sketch_quantiles_seed(struct sketch_quantiles *s, uint64_t seed) { s->rng = seed; }

void sketch_quantiles_reset(struct sketch_quantiles *s)
{
    s->n = 0;
    s->bb = 0;
    s->bits = 0;
    s->min = s->max = NAN;
    memset(s->buf, 0, (size_t)s->cap * sizeof(double));
}

/* The odd or even half of a sorted run of 2k, into out[0..k). */
static void zip2k(const double *in, double *out, int k, uint64_t *rng)
{
    int off = (int)(next64(rng) >> 63);
    for (int i = 0; i < k; i++)
        out[i] = in[off + 2 * i];
}

/* Merges two sorted runs of k into dst[0..2k); ties take a's first. */
static void merge_k(const double *a, const double *b, int k, double *dst)
{
    int i = 0, j = 0, d = 0;
    while (i < k && j < k)
        dst[d++] = b[j] < a[i] ? b[j++] : a[i++];
    while (i < k)
        dst[d++] = a[i++];
    while (j < k)
        dst[d++] = b[j++];
}

/*
 * Adds a run of weight 2^(start+1) to the levels like a carry in binary
 * addition: it lands in the lowest empty level at or above `start`, merged on
 * the way with each full level it passes (2k merged, halved to k). The run is
 * src_k (k sorted items) or, when src_k is NULL, scratch2k (2k sorted items,
 * halved first: the base buffer's carry). scratch2k is overwritten. Returns
 * the new bit pattern; the caller has made room for the ending level.
 */
static uint64_t carry(struct sketch_quantiles *s, int start, const double *src_k,
                      double *scratch2k, uint64_t bits)
{
    int k = s->k, end = start;
    while ((bits >> end) & 1)
        end++;
    double *tgt = level(s, end);
    if (src_k)
        memcpy(tgt, src_k, (size_t)k * sizeof(double));
    else
        zip2k(scratch2k, tgt, k, &s->rng);
    for (int lv = start; lv < end; lv++) {
        merge_k(level(s, lv), tgt, k, scratch2k);
        zip2k(scratch2k, tgt, k, &s->rng);
    }
    return bits + (1ull << start);
}

/* Adds v when the buffer already has room for it and for its carry. */
static void put(struct sketch_quantiles *s, double v)
{
    if (s->n == 0) {
        s->min = s->max = v;
    } else {
        if (v > s->max)
            s->max = v;
        if (v < s->min)
            s->min = v;
    }
    s->buf[s->bb] = v;
    uint32_t nbb = s->bb + 1;
    if (nbb == 2u * (uint32_t)s->k) {
        sort_doubles(s->buf, nbb);
        s->bits = carry(s, 0, NULL, s->buf, s->bits);
        s->bb = 0;
    } else {
        s->bb = nbb;
    }
    s->n++;
}

int sketch_quantiles_update(struct sketch_quantiles *s, double v, struct lerr *err)
{
    if (isnan(v))
        return 0;
    if (s->n >= MAX_N)
        return lerr_set(err, LERR_INVALID, "quantiles sketch: more than 2^62 items");
    uint32_t nbb = s->bb + 1, twok = 2u * (uint32_t)s->k;
    if (nbb > s->cap) {
        /* the base buffer alone grows by doubling up to 2k */
        uint32_t c = s->cap < (uint32_t)s->k ? s->cap : (uint32_t)s->k;
        if (grow(s, 2 * (c < 2 ? 2 : c), err))
            return LERR_NOMEM;
    }
    if (nbb == twok && grow(s, required_cap(s->k, s->n + 1), err))
        return LERR_NOMEM;
    put(s, v);
    return 0;
}

/* ---- state ---------------------------------------------------------------- */

int sketch_quantiles_k(const struct sketch_quantiles *s) { return s->k; }
uint64_t sketch_quantiles_n(const struct sketch_quantiles *s) { return s->n; }
int sketch_quantiles_is_empty(const struct sketch_quantiles *s) { return s->n == 0; }
int sketch_quantiles_is_estimation_mode(const struct sketch_quantiles *s)
{
    return s->n >= 2ull * (uint64_t)s->k;
}
uint32_t sketch_quantiles_num_retained(const struct sketch_quantiles *s)
{
    return retained(s->k, s->n);
}
double sketch_quantiles_min(const struct sketch_quantiles *s) { return s->n ? s->min : NAN; }
double sketch_quantiles_max(const struct sketch_quantiles *s) { return s->n ? s->max : NAN; }

size_t sketch_quantiles_memory_bytes(const struct sketch_quantiles *s)
{
    return sizeof *s + (size_t)s->cap * sizeof(double);
}

double sketch_quantiles_normalized_rank_error(int k, int pmf)
{
    /* DataSketches' fit to the 99th percentile of measured errors */
    return pmf ? 1.854 / pow(k, 0.9657) : 1.576 / pow(k, 0.9726);
}

int sketch_quantiles_k_from_epsilon(double epsilon, int pmf)
{
    double eps = epsilon > 6.395e-5 ? epsilon : 6.395e-5;
    double kd = pmf ? exp(log(1.854 / eps) / 0.9657) : exp(log(1.576 / eps) / 0.9726);
    double kr = round(kd);
    double k = fabs(kr - kd) < 1e-6 ? kr : ceil(kd);
    if (k < SKETCH_QUANTILES_MIN_K)
        return SKETCH_QUANTILES_MIN_K;
    if (k > SKETCH_QUANTILES_MAX_K)
        return SKETCH_QUANTILES_MAX_K;
    return (int)k;
}

void sketch_quantiles_foreach(const struct sketch_quantiles *s,
                              void (*fn)(double item, uint64_t weight, void *arg), void *arg)
{
    for (uint32_t i = 0; i < s->bb; i++)
        fn(s->buf[i], 1, arg);
    for (int lv = 0; lv < 64 && (s->bits >> lv); lv++) {
        if (!((s->bits >> lv) & 1))
            continue;
        const double *l = level(s, lv);
        for (int i = 0; i < s->k; i++)
            fn(l[i], 2ull << lv, arg);
    }
}

/* ---- merging -------------------------------------------------------------- */

static void merge_minmax(struct sketch_quantiles *tgt, const struct sketch_quantiles *src)
{
    if (src->n == 0)
        return;
    if (isnan(tgt->min) || src->min < tgt->min)
        tgt->min = src->min;
    if (isnan(tgt->max) || src->max > tgt->max)
        tgt->max = src->max;
}

/*
 * DataSketches' mergeInto and downSamplingMergeInto: src (k = tgt's k *
 * 2^j) into tgt. The base buffer's items are updated in; each valid level of
 * src, thinned to every 2^j-th item from a random offset when j > 0, is
 * carried into tgt at level + j. Everything is allocated before tgt changes.
 */
static int merge_into(struct sketch_quantiles *tgt, const struct sketch_quantiles *src,
                      struct lerr *err)
{
    if (src->n == 0)
        return 0;
    if (src->n > MAX_N - tgt->n)
        return lerr_set(err, LERR_INVALID, "quantiles merge: more than 2^62 items");
    int k = tgt->k, down = src->k / k, lg = hibit((uint64_t)down);
    uint64_t nfinal = tgt->n + src->n;
    double *scratch = malloc((size_t)(2 * k + k) * sizeof(double));
    if (!scratch)
        return lerr_set(err, LERR_NOMEM, "quantiles merge: out of memory for k %d", k);
    if (grow(tgt, required_cap(k, nfinal), err)) {
        free(scratch);
        return LERR_NOMEM;
    }
    for (uint32_t i = 0; i < src->bb; i++)
        put(tgt, src->buf[i]);
    double *kbuf = scratch + 2 * k;
    uint64_t bits = tgt->bits;
    for (int lv = 0; lv < 64 && (src->bits >> lv); lv++) {
        if (!((src->bits >> lv) & 1))
            continue;
        const double *l = level(src, lv);
        if (down == 1) {
            bits = carry(tgt, lv, l, scratch, bits);
        } else {
            int off = (int)(next64(&tgt->rng) & (uint64_t)(down - 1));
            for (int i = 0; i < k; i++)
                kbuf[i] = l[off + i * down];
            bits = carry(tgt, lv + lg, kbuf, scratch, bits);
        }
    }
    free(scratch);
    tgt->bits = bits;
    tgt->n = nfinal;
    merge_minmax(tgt, src);
    return 0;
}

/* Streams the base buffer of an exact sketch (n < 2k) into tgt. */
static int stream_into(struct sketch_quantiles *tgt, const struct sketch_quantiles *src,
                       struct lerr *err)
{
    if (src->n > MAX_N - tgt->n)
        return lerr_set(err, LERR_INVALID, "quantiles merge: more than 2^62 items");
    /* as many single updates would: the base buffer by powers of 2, or room to carry */
    uint32_t bb = tgt->bb + src->bb, need;
    if (bb < 2u * (uint32_t)tgt->k) {
        need = ceil_pow2(bb);
        need = need < 4 ? 4 : need;
    } else {
        need = required_cap(tgt->k, tgt->n + src->bb);
    }
    if (grow(tgt, need, err))
        return LERR_NOMEM;
    for (uint32_t i = 0; i < src->bb; i++)
        put(tgt, src->buf[i]);
    merge_minmax(tgt, src);
    return 0;
}

/* ---- union ---------------------------------------------------------------- */

struct sketch_quantiles_union *sketch_quantiles_union_new(int max_k, struct lerr *err)
{
    if (!valid_k(max_k)) {
        lerr_set(err, LERR_INVALID,
                 "quantiles union k %d is not allowed: k must be a power of 2 from %d to %d",
                 max_k, SKETCH_QUANTILES_MIN_K, SKETCH_QUANTILES_MAX_K);
        return NULL;
    }
    struct sketch_quantiles_union *u = calloc(1, sizeof *u);
    if (!u) {
        lerr_set(err, LERR_NOMEM, "quantiles union: out of memory");
        return NULL;
    }
    u->max_k = max_k;
    u->rng = fresh_seed(u);
    return u;
}

void sketch_quantiles_union_free(struct sketch_quantiles_union *u)
{
    if (!u)
        return;
    sketch_quantiles_free(u->g);
    free(u);
}

void sketch_quantiles_union_seed(struct sketch_quantiles_union *u, uint64_t seed)
{
    u->rng = seed;
    if (u->g)
        u->g->rng = next64(&u->rng);
}

static struct sketch_quantiles *union_new_gadget(struct sketch_quantiles_union *u, int k,
                                                 struct lerr *err)
{
    struct sketch_quantiles *g = sketch_quantiles_new(k, err);
    if (g)
        g->rng = next64(&u->rng);
    return g;
}

/* DataSketches' DoublesUnionImpl.updateLogic. */
int sketch_quantiles_union_update(struct sketch_quantiles_union *u,
                                  const struct sketch_quantiles *o, struct lerr *err)
{
    struct sketch_quantiles *ng = NULL;
    int rc = 0;
    if (o->n == 0) {
        if (u->g)
            return 0;
        ng = union_new_gadget(u, u->max_k, err);
    } else if (!u->g) {
        if (!sketch_quantiles_is_estimation_mode(o)) {
            ng = union_new_gadget(u, u->max_k, err);
            rc = ng ? stream_into(ng, o, err) : 0;
        } else if (u->max_k < o->k) {
            ng = union_new_gadget(u, u->max_k, err);
            rc = ng ? merge_into(ng, o, err) : 0;
        } else {
            ng = sketch_quantiles_copy(o, err);
            if (ng)
                ng->rng = next64(&u->rng);
        }
    } else if (!sketch_quantiles_is_estimation_mode(o)) {
        return stream_into(u->g, o, err);
    } else if (u->g->k <= o->k) {
        return merge_into(u->g, o, err);
    } else if (u->g->n == 0) {
        ng = sketch_quantiles_copy(o, err);
        if (ng)
            ng->rng = next64(&u->rng);
    } else {
        /* the union's k is larger: downsample what it holds to o's k */
        ng = union_new_gadget(u, o->k, err);
        rc = ng ? merge_into(ng, u->g, err) : 0;
        if (!rc && ng)
            rc = merge_into(ng, o, err);
    }
    if (!ng)
        return LERR_NOMEM;
    if (rc) {
        sketch_quantiles_free(ng);
        return rc;
    }
    sketch_quantiles_free(u->g);
    u->g = ng;
    return 0;
}

int sketch_quantiles_union_update_value(struct sketch_quantiles_union *u, double v,
                                        struct lerr *err)
{
    if (!u->g && !(u->g = union_new_gadget(u, u->max_k, err)))
        return LERR_NOMEM;
    return sketch_quantiles_update(u->g, v, err);
}

int sketch_quantiles_union_k(const struct sketch_quantiles_union *u)
{
    return u->g ? u->g->k : u->max_k;
}

struct sketch_quantiles *sketch_quantiles_union_result(const struct sketch_quantiles_union *u,
                                                       struct lerr *err)
{
    if (!u->g)
        return sketch_quantiles_new(u->max_k, err);
    return sketch_quantiles_copy(u->g, err);
}

/* ---- the sorted view and the queries -------------------------------------- */

/* Every retained item in order with its cumulative weight, min and max
 * included as items (DataSketches' DoublesSketchSortedView). */
struct view {
    uint32_t m;
    double *q;
    uint64_t *cw;
    uint64_t n;
};

static void view_free(struct view *v)
{
    free(v->q);
    free(v->cw);
}

static int view_build(const struct sketch_quantiles *s, struct view *v, struct lerr *err)
{
    uint32_t r = retained(s->k, s->n), nruns = 0;
    int k = s->k;
    memset(v, 0, sizeof *v);
    v->n = s->n;
    /* two of each: runs are merged from one into the other; +2 for min and max */
    double *q = malloc(((size_t)r + 2) * sizeof(double));
    double *tq = malloc(((size_t)r + 2) * sizeof(double));
    uint64_t *w = malloc(((size_t)r + 2) * sizeof(uint64_t));
    uint64_t *tw = malloc(((size_t)r + 2) * sizeof(uint64_t));
    uint32_t *runs = malloc(67 * sizeof(uint32_t)), *nr = malloc(67 * sizeof(uint32_t));
    if (!q || !tq || !w || !tw || !runs || !nr) {
        free(q), free(tq), free(w), free(tw), free(runs), free(nr);
        return lerr_set(err, LERR_NOMEM, "quantiles query: out of memory for %u items", r);
    }
    uint32_t m = 0;
    for (int lv = 0; lv < 64 && (s->bits >> lv); lv++) {
        if (!((s->bits >> lv) & 1))
            continue;
        runs[nruns++] = m;
        memcpy(q + m, level(s, lv), (size_t)k * sizeof(double));
        for (int i = 0; i < k; i++)
            w[m + (uint32_t)i] = 2ull << lv;
        m += (uint32_t)k;
    }
    if (s->bb) {
        runs[nruns++] = m;
        memcpy(q + m, s->buf, s->bb * sizeof(double));
        sort_doubles(q + m, s->bb);
        for (uint32_t i = 0; i < s->bb; i++)
            w[m + i] = 1;
        m += s->bb;
    }
    runs[nruns] = m;
    /* merge adjacent sorted runs pairwise until one is left */
    while (nruns > 1) {
        uint32_t nn = 0;
        for (uint32_t i = 0; i < nruns; i += 2) {
            uint32_t a = runs[i], ae = runs[i + 1], b = ae, be = i + 1 < nruns ? runs[i + 2] : ae,
                     d = a;
            nr[nn++] = a;
            while (a < ae && b < be) {
                if (q[b] < q[a]) {
                    tq[d] = q[b], tw[d++] = w[b++];
                } else {
                    tq[d] = q[a], tw[d++] = w[a++];
                }
            }
            for (; a < ae; a++)
                tq[d] = q[a], tw[d++] = w[a];
            for (; b < be; b++)
                tq[d] = q[b], tw[d++] = w[b];
        }
        nr[nn] = m;
        memcpy(runs, nr, (nn + 1) * sizeof(uint32_t));
        nruns = nn;
        double *t1 = q;
        q = tq, tq = t1;
        uint64_t *t2 = w;
        w = tw, tw = t2;
    }
    free(tq), free(tw), free(runs), free(nr);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m; i++)
        w[i] = sum += w[i];
    /* min and max as items (DataSketches' IncludeMinMax) */
    if (m > 0 && q[0] != s->min) {
        memmove(q + 1, q, m * sizeof(double));
        memmove(w + 1, w, m * sizeof(uint64_t));
        q[0] = s->min;
        w[0] = 1;
        m++;
    }
    if (m > 0 && q[m - 1] != s->max) {
        q[m] = s->max;
        w[m] = w[m - 1];
        w[m - 1] = w[m] - 1;
        m++;
    }
    v->m = m;
    v->q = q;
    v->cw = w;
    return 0;
}

static int check_rank(double r, size_t i, int many, struct lerr *err)
{
    if (r >= 0.0 && r <= 1.0)
        return 0;
    if (many)
        return lerr_set(
            err, LERR_INVALID,
            "rank %zu is %g: a normalized rank must be from 0 to 1 (0.5 is the median)", i, r);
    return lerr_set(err, LERR_INVALID,
                    "rank %g is not allowed: a normalized rank must be from 0 to 1 (0.5 is the "
                    "median)",
                    r);
}

static double view_quantile(const struct view *v, double rank, enum sketch_quantiles_search c)
{
    double nat = rank * (double)v->n;
    if ((double)v->n <= 1e7)
        nat = floor(nat * 1e7 + 0.5) / 1e7; /* DataSketches' tail rounding */
    uint64_t want = (uint64_t)(c == SKETCH_QUANTILES_INCLUSIVE ? ceil(nat) : floor(nat));
    /* first index with cw >= want (INCLUSIVE) or cw > want (EXCLUSIVE) */
    uint32_t lo = 0, hi = v->m;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int ok = c == SKETCH_QUANTILES_INCLUSIVE ? v->cw[mid] >= want : v->cw[mid] > want;
        if (ok)
            hi = mid;
        else
            lo = mid + 1;
    }
    return v->q[lo < v->m ? lo : v->m - 1];
}

static double view_rank(const struct view *v, double x, enum sketch_quantiles_search c)
{
    if (isnan(x))
        return NAN;
    /* count of items <= x (INCLUSIVE) or < x (EXCLUSIVE) */
    uint32_t lo = 0, hi = v->m;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int in = c == SKETCH_QUANTILES_INCLUSIVE ? v->q[mid] <= x : v->q[mid] < x;
        if (in)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0.0 : (double)v->cw[lo - 1] / (double)v->n;
}

int sketch_quantiles_quantiles(const struct sketch_quantiles *s, const double *ranks, size_t n,
                               enum sketch_quantiles_search crit, double *out, struct lerr *err)
{
    for (size_t i = 0; i < n; i++)
        if (check_rank(ranks[i], i, n > 1, err))
            return LERR_INVALID;
    if (s->n == 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = NAN;
        return 0;
    }
    struct view v;
    if (view_build(s, &v, err))
        return LERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        out[i] = view_quantile(&v, ranks[i], crit);
    view_free(&v);
    return 0;
}

int sketch_quantiles_quantile(const struct sketch_quantiles *s, double rank,
                              enum sketch_quantiles_search crit, double *out, struct lerr *err)
{
    return sketch_quantiles_quantiles(s, &rank, 1, crit, out, err);
}

int sketch_quantiles_rank(const struct sketch_quantiles *s, double x,
                          enum sketch_quantiles_search crit, double *out, struct lerr *err)
{
    if (s->n == 0 || isnan(x)) {
        *out = NAN;
        return 0;
    }
    struct view v;
    if (view_build(s, &v, err))
        return LERR_NOMEM;
    *out = view_rank(&v, x, crit);
    view_free(&v);
    return 0;
}

int sketch_quantiles_cdf(const struct sketch_quantiles *s, const double *splits, size_t m,
                         enum sketch_quantiles_search crit, double *out, struct lerr *err)
{
    for (size_t i = 0; i < m; i++) {
        if (isnan(splits[i]))
            return lerr_set(err, LERR_INVALID,
                            "split point %zu is NaN: split points must be unique, increasing "
                            "numbers",
                            i);
        if (i > 0 && !(splits[i - 1] < splits[i]))
            return lerr_set(err, LERR_INVALID,
                            "split point %zu (%g) is not greater than split point %zu (%g): "
                            "split points must be unique and increasing",
                            i, splits[i], i - 1, splits[i - 1]);
    }
    if (s->n == 0) {
        for (size_t i = 0; i <= m; i++)
            out[i] = NAN;
        return 0;
    }
    struct view v;
    if (view_build(s, &v, err))
        return LERR_NOMEM;
    for (size_t i = 0; i < m; i++)
        out[i] = view_rank(&v, splits[i], crit);
    out[m] = 1.0;
    view_free(&v);
    return 0;
}

int sketch_quantiles_pmf(const struct sketch_quantiles *s, const double *splits, size_t m,
                         enum sketch_quantiles_search crit, double *out, struct lerr *err)
{
    int rc = sketch_quantiles_cdf(s, splits, m, crit, out, err);
    if (rc)
        return rc;
    for (size_t i = m; i > 0; i--)
        out[i] -= out[i - 1];
    return 0;
}

/* ---- serialization -------------------------------------------------------- */

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void putd(unsigned char *p, double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    put64(p, b);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static double getd(const unsigned char *p)
{
    uint64_t b = get64(p);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

size_t sketch_quantiles_serialized_size(const struct sketch_quantiles *s, int compact)
{
    if (s->n == 0)
        return 8;
    if (compact)
        return 32 + (size_t)retained(s->k, s->n) * 8;
    if (s->n <= (uint64_t)s->k) {
        uint32_t c = ceil_pow2((uint32_t)s->n);
        return 32 + (size_t)(c < 4 ? 4 : c) * 8;
    }
    return 32 + (size_t)required_cap(s->k, s->n) * 8;
}

size_t sketch_quantiles_serialize(const struct sketch_quantiles *s, int compact, void *out,
                                  size_t cap)
{
    size_t size = sketch_quantiles_serialized_size(s, compact);
    if (cap < size)
        return 0;
    unsigned char *p = out;
    memset(p, 0, size);
    int flags = compact ? F_READ_ONLY | F_COMPACT | F_ORDERED : 0;
    p[0] = s->n ? 2 : 1;
    p[1] = SER_VER;
    p[2] = FAMILY_QUANTILES;
    p[3] = (unsigned char)(flags | (s->n ? 0 : F_EMPTY));
    put16(p + 4, (uint16_t)s->k);
    if (s->n == 0)
        return size;
    put64(p + 8, s->n);
    putd(p + 16, s->min);
    putd(p + 24, s->max);
    unsigned char *d = p + 32;
    if (compact) {
        double *bb = malloc((s->bb ? s->bb : 1) * sizeof(double));
        if (bb) {
            memcpy(bb, s->buf, s->bb * sizeof(double));
            sort_doubles(bb, s->bb);
            for (uint32_t i = 0; i < s->bb; i++, d += 8)
                putd(d, bb[i]);
            free(bb);
        } else {
            /* no memory for a copy: insertion into the output keeps it sorted */
            for (uint32_t i = 0; i < s->bb; i++) {
                double v = s->buf[i];
                uint32_t j = i;
                while (j > 0 && getd(p + 32 + (j - 1) * 8) > v) {
                    memcpy(p + 32 + j * 8, p + 32 + (j - 1) * 8, 8);
                    j--;
                }
                putd(p + 32 + j * 8, v);
            }
            d += (size_t)s->bb * 8;
        }
        for (int lv = 0; lv < 64 && (s->bits >> lv); lv++) {
            if (!((s->bits >> lv) & 1))
                continue;
            const double *l = level(s, lv);
            for (int i = 0; i < s->k; i++, d += 8)
                putd(d, l[i]);
        }
    } else {
        for (uint32_t i = 0; i < s->bb; i++)
            putd(d + (size_t)i * 8, s->buf[i]);
        int total = levels_needed(s->k, s->n);
        d += (size_t)s->k * 16;
        for (int lv = 0; lv < total; lv++) {
            const double *l = level(s, lv);
            for (int i = 0; i < s->k; i++, d += 8)
                putd(d, l[i]);
        }
    }
    return size;
}

static const char *tf(int b) { return b ? "true" : "false"; }

/* Which combinations of preamble longs, serial version, empty and compact
 * DataSketches writes (its checkPreLongsFlagsSerVer). */
static int valid_preamble(int pre, int ser, int empty, int compact)
{
    switch (ser) {
    case 1: return !compact && ((empty && pre == 1) || (!empty && pre == 5));
    case 2: return !compact && ((empty && pre == 1) || (!empty && pre == 2));
    case 3: return pre == 2 || (pre == 1 && empty);
    default: return 0;
    }
}

static struct sketch_quantiles *corrupt(struct lerr *err, size_t pos, const char *fmt, ...)
    LS_PRINTF(3, 4);
static struct sketch_quantiles *corrupt(struct lerr *err, size_t pos, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err && err->code == LERR_OK) {
        lerr_set(err, LERR_INVALID, "quantiles sketch bytes: %s (at byte %zu)", msg, pos);
        err->pos = (int64_t)pos;
    }
    return NULL;
}

/* Checks the retained items of a sketch read from bytes: none NaN, all within
 * [min, max], each level sorted. */
static struct sketch_quantiles *check_items(struct sketch_quantiles *s, int compact,
                                            size_t data_off, struct lerr *err)
{
    size_t off = data_off;
    double mn = s->min, mx = s->max, lo = INFINITY, hi = -INFINITY;
    for (uint32_t i = 0; i < s->bb; i++, off += 8) {
        double v = s->buf[i];
        if (isnan(v) || v < mn || v > mx) {
            sketch_quantiles_free(s);
            return corrupt(err, off, "base buffer item %u is %g, outside min %g and max %g", i, v,
                           mn, mx);
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* below 2k nothing was compacted: min and max are among the items */
    if (s->bits == 0 && (lo != mn || hi != mx)) {
        int bad_min = lo != mn;
        unsigned cnt = (unsigned)s->n;
        sketch_quantiles_free(s);
        return corrupt(err, bad_min ? 16 : 24,
                       "%s %g is not among the %u items of an exact sketch (they span %g to %g)",
                       bad_min ? "min" : "max", bad_min ? mn : mx, cnt, lo, hi);
    }
    if (!compact)
        off = data_off + (size_t)s->k * 16;
    for (int lv = 0; lv < 64 && (s->bits >> lv); lv++) {
        if (!((s->bits >> lv) & 1)) {
            if (!compact)
                off += (size_t)s->k * 8;
            continue;
        }
        const double *l = level(s, lv);
        for (int i = 0; i < s->k; i++, off += 8) {
            double v = l[i];
            if (isnan(v) || v < mn || v > mx) {
                sketch_quantiles_free(s);
                return corrupt(err, off, "level %d item %d is %g, outside min %g and max %g", lv,
                               i, v, mn, mx);
            }
            if (i > 0 && v < l[i - 1]) {
                double prev = l[i - 1];
                sketch_quantiles_free(s);
                return corrupt(err, off,
                               "level %d is not sorted: item %d (%g) is less than item %d (%g)",
                               lv, i, v, i - 1, prev);
            }
        }
    }
    return s;
}

struct sketch_quantiles *sketch_quantiles_deserialize(const void *bytes, size_t len,
                                                      struct lerr *err)
{
    const unsigned char *p = bytes;
    if (len < 8)
        return corrupt(err, len,
                       "%zu bytes is too short: a quantiles sketch has an 8-byte preamble", len);
    int pre = p[0], ser = p[1], fam = p[2], flags = p[3], k = p[4] | p[5] << 8;
    if (ser < 1 || ser > 3)
        return corrupt(err, 1,
                       "serial version %d is not one DataSketches writes for a quantiles doubles "
                       "sketch (1, 2 or 3)",
                       ser);
    if (fam != FAMILY_QUANTILES)
        return corrupt(err, 2,
                       "family id %d is not the classic quantiles sketch's (%d): these bytes are "
                       "another kind of sketch",
                       fam, FAMILY_QUANTILES);
    if (flags & ~(F_READ_ONLY | F_EMPTY | F_COMPACT | F_ORDERED))
        return corrupt(
            err, 3,
            "flags 0x%02x have bits 0x%02x set that DataSketches never writes (allowed: "
            "READ_ONLY 0x02, EMPTY 0x04, COMPACT 0x08, ORDERED 0x10)",
            flags, flags & ~(F_READ_ONLY | F_EMPTY | F_COMPACT | F_ORDERED));
    int empty = (flags & F_EMPTY) != 0, cflag = (flags & F_COMPACT) != 0;
    if (!valid_preamble(pre, ser, empty, cflag))
        return corrupt(err, 0,
                       "preamble longs %d do not fit serial version %d with empty %s and compact "
                       "%s",
                       pre, ser, tf(empty), tf(cflag));
    if (!valid_k(k))
        return corrupt(err, 4, "k %d is not a power of 2 from %d to %d", k, SKETCH_QUANTILES_MIN_K,
                       SKETCH_QUANTILES_MAX_K);
    if (empty)
        return sketch_quantiles_new(k, err);
    if (len < 16)
        return corrupt(err, len, "the bytes end inside n (bytes 8 to 15): %zu bytes", len);
    uint64_t n = get64(p + 8);
    if (n >> 63)
        return corrupt(err, 8, "n %lld is negative", (long long)n);
    if (n > MAX_N)
        return corrupt(err, 8, "n %llu is more than 2^62 items", (unsigned long long)n);
    int compact = ser == 2 || cflag;
    size_t data_off = ser == 1 ? 40 : 32;
    int lv = levels_needed(k, n);
    uint64_t items = compact || lv == 0 ? retained(k, n) : (uint64_t)(2 + lv) * (uint64_t)k;
    uint64_t need = data_off + items * 8;
    if (len < need)
        return corrupt(err, len,
                       "the bytes end early: %s sketch of k %d and n %llu needs %llu bytes, "
                       "got %zu",
                       compact ? "a compact" : "an updatable", k, (unsigned long long)n,
                       (unsigned long long)need, len);
    if (n == 0)
        return sketch_quantiles_new(k, err);
    double mn = getd(p + 16), mx = getd(p + 24);
    if (isnan(mn))
        return corrupt(err, 16, "min is NaN in a sketch of %llu items", (unsigned long long)n);
    if (isnan(mx))
        return corrupt(err, 24, "max is NaN in a sketch of %llu items", (unsigned long long)n);
    if (mn > mx)
        return corrupt(err, 16, "min %g is greater than max %g", mn, mx);
    struct sketch_quantiles *s = alloc_sketch(k, comb_cap(k, n), err);
    if (!s)
        return NULL;
    s->rng = fresh_seed(s);
    s->n = n;
    s->bb = (uint32_t)(n % (2ull * (uint64_t)k));
    s->bits = n / (2ull * (uint64_t)k);
    s->min = mn;
    s->max = mx;
    const unsigned char *d = p + data_off;
    if (compact) {
        for (uint32_t i = 0; i < s->bb; i++, d += 8)
            s->buf[i] = getd(d);
        for (int l = 0; l < lv; l++) {
            if (!((s->bits >> l) & 1))
                continue;
            double *dst = level(s, l);
            for (int i = 0; i < k; i++, d += 8)
                dst[i] = getd(d);
        }
    } else {
        for (uint64_t i = 0; i < items; i++, d += 8)
            s->buf[i] = getd(d);
    }
    return check_items(s, compact, data_off, err);
}

/* ---- the summary ---------------------------------------------------------- */

/* Java's String.format("%,d"). */
static void commas(char *out, size_t cap, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
}

/* Java's String.format("%12.6e"): NaN as "NaN". */
static void sci(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "%12s", "NaN");
    else if (isinf(v))
        snprintf(out, cap, "%12s", v > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(out, cap, "%12.6e", v);
}

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) LS_PRINTF(2, 3);
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

char *sketch_quantiles_to_string(const struct sketch_quantiles *s, int with_levels, int with_items,
                                 struct lerr *err)
{
    struct sbuf b = {malloc(1024), 0, 1024, 0};
    if (!b.p) {
        lerr_set(err, LERR_NOMEM, "quantiles summary: out of memory");
        return NULL;
    }
    b.p[0] = 0;
    const char *name = "HeapUpdateDoublesSketch";
    char kstr[32], nstr[32], bbstr[32], capstr[32], retstr[32], cstr[32], ustr[32], mn[40], mx[40],
        bitstr[72];
    commas(kstr, sizeof kstr, (uint64_t)s->k);
    commas(nstr, sizeof nstr, s->n);
    commas(bbstr, sizeof bbstr, s->bb);
    commas(capstr, sizeof capstr, s->cap);
    commas(retstr, sizeof retstr, retained(s->k, s->n));
    commas(cstr, sizeof cstr, sketch_quantiles_serialized_size(s, 1));
    commas(ustr, sizeof ustr, sketch_quantiles_serialized_size(s, 0));
    sci(mn, sizeof mn, sketch_quantiles_min(s));
    sci(mx, sizeof mx, sketch_quantiles_max(s));
    int hb = hibit(s->bits), o = 0;
    if (hb < 0)
        bitstr[o++] = '0';
    for (int i = hb; i >= 0; i--)
        bitstr[o++] = (char)('0' + ((s->bits >> i) & 1));
    bitstr[o] = 0;
    int needed = levels_needed(s->k, s->n);
    sb_add(&b, "\n### Classic Quantiles %s SUMMARY: \n", name);
    sb_add(&b, "    Empty                        : %s\n", tf(s->n == 0));
    sb_add(&b, "    Segment, Capacity bytes      : false, \n");
    sb_add(&b, "    Segment, ReadOnly            : false\n");
    sb_add(&b, "    Estimation Mode              : %s\n",
           tf(sketch_quantiles_is_estimation_mode(s)));
    sb_add(&b, "    K                            : %s\n", kstr);
    sb_add(&b, "    N                            : %s\n", nstr);
    sb_add(&b, "    Levels (Needed, Total, Valid): %d, %d, %d\n", needed, hb + 1,
           __builtin_popcountll(s->bits));
    sb_add(&b, "    Level Bit Pattern            : %s\n", bitstr);
    sb_add(&b, "    Base Buffer Count            : %s\n", bbstr);
    sb_add(&b, "    Combined Buffer Capacity     : %s\n", capstr);
    sb_add(&b, "    Retained Items               : %s\n", retstr);
    sb_add(&b, "    Preamble Bytes               : %d\n", s->n ? 16 : 8);
    sb_add(&b, "    Compact Storage Bytes        : %s\n", cstr);
    sb_add(&b, "    Updatable Storage Bytes      : %s\n", ustr);
    sb_add(&b, "    Normalized Rank Error        : %.3f%%\n",
           sketch_quantiles_normalized_rank_error(s->k, 0) * 100.0);
    sb_add(&b, "    Normalized Rank Error (PMF)  : %.3f%%\n",
           sketch_quantiles_normalized_rank_error(s->k, 1) * 100.0);
    sb_add(&b, "    Min Item                     : %s\n", mn);
    sb_add(&b, "    Max Item                     : %s\n", mx);
    sb_add(&b, "### END SKETCH SUMMARY\n");
    if (with_levels) {
        sb_add(&b, "\n### %s LEVELS ABOVE BASE BUF:\n", name);
        if (needed == 0)
            sb_add(&b, "    <NONE>\n");
        else
            sb_add(&b, "    Level |  Valid |  Weight\n");
        for (int i = 0; i < needed; i++) {
            char wt[24];
            snprintf(wt, sizeof wt, "%llu", 2ull << i);
            sb_add(&b, "  %7d %8s %9s\n", i, (s->bits >> i) & 1 ? "T" : "F", wt);
        }
        sb_add(&b, "### END LEVELS ABOVE BASE BUF\n");
    }
    if (with_items) {
        sb_add(&b, "\n### %s DATA DETAIL: \n", name);
        if (s->n == 0)
            sb_add(&b, "    <NO DATA>\n");
        else
            sb_add(&b, "  Index | Level | Valid | Item\n");
        for (uint32_t i = 0; s->n && i < s->cap; i++) {
            int lv = i < 2u * (uint32_t)s->k ? -1
                                             : (int)((i - 2u * (uint32_t)s->k) / (uint32_t)s->k);
            int valid = lv == -1 ? i < s->bb : (int)((s->bits >> lv) & 1);
            char lvs[16];
            if (lv == -1)
                snprintf(lvs, sizeof lvs, "BB");
            else
                snprintf(lvs, sizeof lvs, "%d", lv);
            sb_add(&b, "%7u %7s %7s   %.17g\n", i, lvs, valid ? "T" : "F", s->buf[i]);
        }
        sb_add(&b, "### END DATA DETAIL\n");
    }
    if (b.oom) {
        free(b.p);
        lerr_set(err, LERR_NOMEM, "quantiles summary: out of memory");
        return NULL;
    }
    return b.p;
}
