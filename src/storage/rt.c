/*
 * rt.c — realtime buffers: the rows of one time chunk that a running job has
 * ingested and not yet persisted, column by column, readable while the
 * writer appends.
 *
 * Entry points: rt_new(), rt_append(), rt_ref/unref(), rt_read_*(), rt_col_type(),
 * rt_gather_longs() (the segment writer's reads in sorted row order).
 *
 * Concurrency (one writer, many readers):
 *  - Columns are arrays of pages of ST_BLOCK rows. Page directories are sized
 *    for the buffer's capacity up front and pages never move, so a reader
 *    never follows a stale pointer.
 *  - The writer fills rows past the published count, then publishes the new
 *    count with a release store; readers load it with acquire and only read
 *    rows below it. Dictionary entries are published (release) before the
 *    rows that use them.
 *  - Aggregate tables update measures of published rows in place on rollup;
 *    the writer holds the buffer's rwlock (write) for the batch and readers
 *    of measure columns take it (read), so no reader sees a half-merged
 *    state. Dimensions of a stored row never change, so reading them needs
 *    no lock at all.
 *  - A multi-value string column (ARRAY) is a STRING column whose
 *    dictionary entries are whole lists (storage_mv_encode, in the order
 *    given): a row holds one id, and rollup compares lists by id. A typed
 *    ARRAY column (elem set) is the same with storage_array_encode's
 *    entries, the empty array the empty entry.
 *  - Per-row "present" bytes (not bits) mark non-NULL values of numeric and
 *    JSON columns: bytes are separate memory locations, so filling a new row
 *    never writes a word a reader of an older row reads.
 * All memory a buffer takes is counted for the persist trigger.
 */
#include "storage/storage_int.h"

#include "util/time.h"

struct rt_str {
    const char *p;
    uint32_t n;
};

/*
 * A dictionary entry. Most values are short and live in the entry itself,
 * so reading one (a lookup that hits, sorting the dictionary for a segment)
 * touches one cache line instead of two: entries are 32 bytes on 64-byte
 * aligned pages, so an entry never straddles lines.
 */
#define RT_DENT_INLINE 20
struct rt_dent {
    const char *p; /* inl, or bytes in the buffer's arena */
    uint32_t n;
    char inl[RT_DENT_INLINE];
};
_Static_assert(sizeof(struct rt_dent) == 32, "a dictionary entry is half a cache line");

struct rt_col {
    uint8_t type; /* table column type (measures: result type) */
    uint8_t kind;
    uint8_t elem;   /* ARRAY: SQL_NULL (multi-value string) or the element type */
    uint32_t width; /* bytes of one row's value */
    bool flags;     /* pages start with ST_BLOCK present bytes */
    size_t page_bytes;
    _Atomic(uint8_t *) *pages;
    /* STRING dictionary: id 0 is NULL, entries 1.. */
    _Atomic(struct rt_dent *) *dpages;
    atomic_uint dcount;
    uint64_t *dslots; /* writer only: open addressing, hash tag << 32 | id */
    uint32_t dcap;
    uint8_t dshift; /* a hash's home slot is hash >> dshift (its top bits) */
};

struct rt_colvec {
    uint32_t n;
    _Atomic(struct rt_col *) c[];
};

struct rt_buf {
    atomic_int refs;
    int64_t chunk_start, chunk_end;
    enum storage_table_type type;
    enum storage_gran res;
    uint64_t cap_rows;
    uint32_t npages;
    _Atomic uint64_t nrows;
    _Atomic int64_t min_time, max_time;
    _Atomic uint64_t bytes;
    _Atomic(int64_t *) *tpages;
    _Atomic(struct rt_colvec *) cols;
    pthread_rwlock_t lock;
    /* writer only */
    uint64_t nw; /* rows written (published at the end of a batch) */
    uint64_t wbytes;
    struct rt_colvec **retired; /* column vectors replaced by bigger ones */
    size_t nretired;
    struct arena mem; /* string bytes, measures' variable data */
    uint32_t *rslots; /* rollup: row + 1, 0 = empty */
    uint64_t rcap;
    uint64_t *rhash; /* per row */
    uint64_t rhash_cap;
};

static int nomem(struct lerr *err)
{
    return lerr_set(err, LERR_NOMEM,
                    "storage: out of memory in a realtime buffer; persist "
                    "more often (lower the row or byte limits)");
}

static void count_bytes(struct rt_buf *b, size_t n)
{
    b->wbytes += n;
    atomic_store_explicit(&b->bytes, b->wbytes + b->mem.total, memory_order_relaxed);
}

struct rt_buf *rt_new(const struct storage__schema *sc, int64_t chunk_start, int64_t chunk_end,
                      uint64_t max_rows, struct lerr *err)
{
    struct rt_buf *b = calloc(1, sizeof *b);
    if (!b) {
        nomem(err);
        return NULL;
    }
    if (max_rows < ST_BLOCK)
        max_rows = ST_BLOCK;
    if (max_rows > (1ULL << 31))
        max_rows = 1ULL << 31;
    b->npages = (uint32_t)((max_rows + ST_BLOCK - 1) / ST_BLOCK);
    b->cap_rows = (uint64_t)b->npages * ST_BLOCK;
    b->chunk_start = chunk_start;
    b->chunk_end = chunk_end;
    b->type = sc->type;
    b->res = sc->time_resolution;
    atomic_init(&b->refs, 1);
    atomic_init(&b->nrows, 0);
    atomic_init(&b->min_time, INT64_MAX);
    atomic_init(&b->max_time, INT64_MIN);
    atomic_init(&b->bytes, 0);
    b->tpages = calloc(b->npages, sizeof *b->tpages);
    struct rt_colvec *cv = calloc(1, sizeof *cv);
    if (!b->tpages || !cv || pthread_rwlock_init(&b->lock, NULL) != 0) {
        free(b->tpages);
        free(cv);
        free(b);
        nomem(err);
        return NULL;
    }
    atomic_init(&b->cols, cv);
    arena_init(&b->mem, 64 * 1024, 0);
    count_bytes(b, sizeof *b + b->npages * sizeof *b->tpages);
    return b;
}

void rt_no_rollup(struct rt_buf *b) { b->type = STORAGE_DETAIL; }

struct rt_buf *rt_ref(struct rt_buf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

static void col_free(struct rt_col *c, uint32_t npages)
{
    if (!c)
        return;
    for (uint32_t p = 0; p < npages; p++) {
        free(atomic_load_explicit(&c->pages[p], memory_order_relaxed));
        if (c->dpages)
            free(atomic_load_explicit(&c->dpages[p], memory_order_relaxed));
    }
    if (c->dpages)
        free(atomic_load_explicit(&c->dpages[npages], memory_order_relaxed));
    free(c->pages);
    free(c->dpages);
    free(c->dslots);
    free(c);
}

void rt_unref(struct rt_buf *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct rt_colvec *cv = atomic_load_explicit(&b->cols, memory_order_relaxed);
    for (uint32_t i = 0; i < cv->n; i++)
        col_free(atomic_load_explicit(&cv->c[i], memory_order_relaxed), b->npages);
    free(cv);
    for (size_t i = 0; i < b->nretired; i++)
        free(b->retired[i]);
    free(b->retired);
    for (uint32_t p = 0; p < b->npages; p++)
        free(atomic_load_explicit(&b->tpages[p], memory_order_relaxed));
    free(b->tpages);
    free(b->rslots);
    free(b->rhash);
    arena_destroy(&b->mem);
    pthread_rwlock_destroy(&b->lock);
    free(b);
}

/* ---- columns ------------------------------------------------------------- */

static struct rt_col *col_new(struct rt_buf *b, const struct storage__schema *sc, size_t i)
{
    const struct storage_column *def = &sc->cols[i];
    struct rt_col *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->type = def->type;
    c->kind = def->kind;
    c->elem = def->elem;
    if (def->kind == STORAGE_MEASURE) {
        c->width = sc->state_size[i];
    } else if (storage__is_dict(def->type)) {
        c->width = sizeof(uint32_t);
    } else if (def->type == SQL_JSON) {
        c->width = sizeof(struct rt_str);
        c->flags = true;
    } else {
        c->width = 8;
        c->flags = true;
    }
    /* states take 16-byte strides so that they stay aligned; values take their own size
     * (a string id 4 bytes, a number 8), which is what a page holds and counts */
    if (def->kind == STORAGE_MEASURE)
        c->width = (c->width + 15) & ~15u;
    c->page_bytes = (c->flags ? ST_BLOCK : 0) + (size_t)ST_BLOCK * c->width;
    c->pages = calloc(b->npages, sizeof *c->pages);
    if (!c->pages) {
        free(c);
        return NULL;
    }
    if (def->kind == STORAGE_DIMENSION && storage__is_dict(def->type)) {
        c->dpages = calloc(b->npages + 1, sizeof *c->dpages);
        if (!c->dpages) {
            free(c->pages);
            free(c);
            return NULL;
        }
        atomic_init(&c->dcount, 1);
    }
    count_bytes(b, sizeof *c + (b->npages * 2 + 1) * sizeof(void *));
    return c;
}

/* Makes sure the buffer has every column of sc. */
static int ensure_cols(struct rt_buf *b, const struct storage__schema *sc, struct lerr *err)
{
    struct rt_colvec *cv = atomic_load_explicit(&b->cols, memory_order_relaxed);
    if (cv->n >= sc->ncols)
        return 0;
    struct rt_colvec *nv = calloc(1, sizeof *nv + sc->ncols * sizeof nv->c[0]);
    void *r = realloc(b->retired, (b->nretired + 1) * sizeof *b->retired);
    if (!nv || !r) {
        free(nv);
        if (r)
            b->retired = r;
        return nomem(err);
    }
    b->retired = r;
    for (uint32_t i = 0; i < cv->n; i++)
        atomic_init(&nv->c[i], atomic_load_explicit(&cv->c[i], memory_order_relaxed));
    for (size_t i = cv->n; i < sc->ncols; i++) {
        struct rt_col *c = col_new(b, sc, i);
        if (!c) {
            for (size_t j = cv->n; j < i; j++)
                col_free(atomic_load_explicit(&nv->c[j], memory_order_relaxed), b->npages);
            free(nv);
            return nomem(err);
        }
        atomic_init(&nv->c[i], c);
    }
    nv->n = (uint32_t)sc->ncols;
    /* old readers may still hold cv: retire it until the buffer dies */
    b->retired[b->nretired++] = cv;
    atomic_store_explicit(&b->cols, nv, memory_order_release);
    return 0;
}

static inline struct rt_col *col_at(const struct rt_buf *b, size_t i)
{
    struct rt_colvec *cv = atomic_load_explicit(&((struct rt_buf *)b)->cols, memory_order_acquire);
    return i < cv->n ? atomic_load_explicit(&cv->c[i], memory_order_relaxed) : NULL;
}

/* The page holding `row`, allocated (zeroed) on first use. */
static uint8_t *page_for(struct rt_buf *b, struct rt_col *c, uint64_t row)
{
    uint64_t p = row >> ST_BLOCK_SHIFT;
    uint8_t *pg = atomic_load_explicit(&c->pages[p], memory_order_relaxed);
    if (!pg) {
        pg = calloc(1, c->page_bytes);
        if (!pg)
            return NULL;
        count_bytes(b, c->page_bytes);
        atomic_store_explicit(&c->pages[p], pg, memory_order_release);
    }
    return pg;
}

static inline uint8_t *val_ptr(const struct rt_col *c, uint8_t *pg, uint64_t row)
{
    return pg + (c->flags ? ST_BLOCK : 0) + (size_t)(row & (ST_BLOCK - 1)) * c->width;
}

static inline const uint8_t *page_get(const struct rt_col *c, uint64_t row)
{
    return atomic_load_explicit(&c->pages[row >> ST_BLOCK_SHIFT], memory_order_relaxed);
}

/* ---- dictionaries -------------------------------------------------------- */

static inline struct rt_dent *dict_slot(const struct rt_col *c, uint32_t id)
{
    struct rt_dent *pg =
        atomic_load_explicit(&c->dpages[id >> ST_BLOCK_SHIFT], memory_order_relaxed);
    return &pg[id & (ST_BLOCK - 1)];
}

/*
 * Doubles the slot table. Slots are placed by the top bits of the hash,
 * which the tag holds, so the old slots move without hashing a string again
 * and, taken in order, fill the new table in order too (no cache miss per
 * entry, as placing them by their ids would cost).
 */
static bool dict_grow(struct rt_buf *b, struct rt_col *c)
{
    uint32_t ncap = c->dcap ? c->dcap * 2 : 1024;
    uint8_t nshift = (uint8_t)(64 - __builtin_ctz(ncap));
    uint64_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (uint32_t k = 0; k < c->dcap; k++) {
        uint64_t slot = c->dslots[k];
        if (!slot)
            continue;
        uint32_t i = (uint32_t)((slot & 0xffffffff00000000ULL) >> nshift);
        while (ns[i])
            i = (i + 1) & (ncap - 1);
        ns[i] = slot;
    }
    free(c->dslots);
    count_bytes(b, (size_t)(ncap - c->dcap) * sizeof *ns);
    c->dslots = ns;
    c->dcap = ncap;
    c->dshift = nshift;
    return true;
}

/*
 * Appends look strings up in big tables, and a value seen before costs two
 * dependent cache misses: its slot and its entry (which mostly holds the
 * bytes too). The append loop hides them by touching each a few rows ahead
 * of use: the slot, then (once the slot is in cache) the entry its tag
 * points to. Only the home slot is looked at; a guess that turns out wrong
 * costs a useless prefetch. (Fetching long values' bytes a stage later did
 * not pay: it cost more than the misses it saved.)
 */
static inline void dict_prefetch(const struct rt_col *c, uint64_t h)
{
    if (c->dcap)
        __builtin_prefetch(&c->dslots[h >> c->dshift]);
}

/* The entry the home slot of h points to when its tag matches, else NULL. */
static inline const struct rt_dent *dict_guess(const struct rt_col *c, uint64_t h)
{
    if (!c->dcap)
        return NULL;
    uint64_t slot = c->dslots[h >> c->dshift];
    if (!slot || (slot ^ h) >> 32)
        return NULL;
    return dict_slot(c, (uint32_t)slot);
}

static inline void dict_prefetch_entry(const struct rt_col *c, uint64_t h)
{
    const struct rt_dent *e = dict_guess(c, h);
    if (e)
        __builtin_prefetch(e);
}

/*
 * The id of (p, n), whose storage__hash_bytes is h, adding it when new. 0 on OOM
 * (never a valid value id). The slot's tag (the hash's high half) saves
 * reading the entries of slots that cannot match.
 */
static uint32_t dict_id(struct rt_buf *b, struct rt_col *c, const char *p, uint32_t n, uint64_t h)
{
    uint32_t count = atomic_load_explicit(&c->dcount, memory_order_relaxed);
    if ((uint64_t)count * 2 >= c->dcap && !dict_grow(b, c))
        return 0;
    uint64_t tag = h & 0xffffffff00000000ULL;
    uint32_t i = (uint32_t)(h >> c->dshift);
    for (; c->dslots[i]; i = (i + 1) & (c->dcap - 1)) {
        if ((c->dslots[i] & 0xffffffff00000000ULL) != tag)
            continue;
        uint32_t id = (uint32_t)c->dslots[i];
        const struct rt_dent *e = dict_slot(c, id);
        if (e->n == n && (n == 0 || memcmp(e->p, p, n) == 0))
            return id;
    }
    if (count > b->cap_rows)
        return 0;
    uint32_t pgi = count >> ST_BLOCK_SHIFT;
    if (!atomic_load_explicit(&c->dpages[pgi], memory_order_relaxed)) {
        struct rt_dent *pg = aligned_alloc(64, ST_BLOCK * sizeof *pg);
        if (!pg)
            return 0;
        memset(pg, 0, ST_BLOCK * sizeof *pg);
        count_bytes(b, ST_BLOCK * sizeof *pg);
        atomic_store_explicit(&c->dpages[pgi], pg, memory_order_release);
    }
    struct rt_dent *e = dict_slot(c, count);
    char *copy = n <= RT_DENT_INLINE ? e->inl : arena_alloc(&b->mem, n);
    if (!copy)
        return 0;
    memcpy(copy, p, n);
    e->p = copy;
    e->n = n;
    c->dslots[i] = tag | count;
    atomic_store_explicit(&c->dcount, count + 1, memory_order_release);
    return count;
}

/* ---- values in ----------------------------------------------------------- */

/*
 * A dimension value as stored: key.u holds the string id or the number's
 * bits, key.p/n JSON text. `null` for NULL (and for values a cast turned
 * into NULL).
 */
struct key {
    bool null;
    uint64_t u;
    const char *p;
    uint32_t n;
};

/* Casts v to the column's type when it is of another class. */
static struct sql_value coerce(const struct sql_value *v, int type, struct arena *scratch)
{
    if (v->is_null || v->type == SQL_NULL)
        return sql_null(type);
    bool same;
    switch (type) {
    case SQL_STRING: same = v->type == SQL_STRING; break;
    case SQL_JSON: same = v->type == SQL_JSON; break;
    case SQL_LONG:
    case SQL_TIMESTAMP: same = storage__is_longish(v->type); break;
    default: same = storage__is_doubleish(v->type); break;
    }
    if (same)
        return *v;
    return sql_value_cast(v, type == SQL_TIMESTAMP ? SQL_LONG : type, scratch);
}

static inline uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* Fills k from v for column c; false on OOM (dictionary insert). `hash`
 * is the string's storage__hash_bytes when the caller computed it, else 0. */
static bool make_key(struct rt_buf *b, struct rt_col *c, const struct sql_value *v,
                     struct arena *scratch, uint64_t hash, struct key *k)
{
    memset(k, 0, sizeof *k);
    if (c->type == SQL_ARRAY && c->elem != SQL_NULL) {
        /* a typed array: the whole array is one entry, the empty array the
         * empty entry (distinct from NULL) */
        const char *p;
        uint32_t n;
        struct lerr e;
        lerr_init(&e);
        int rc = storage_array_encode(v, c->elem, scratch, &p, &n, &e);
        if (rc == LERR_NOMEM)
            return false;
        if (rc || !p)
            return (k->null = true);
        k->u = dict_id(b, c, p, n, storage__hash_bytes(p, n));
        return k->u != 0;
    }
    if (c->type == SQL_ARRAY) {
        /* a multi-value string: the whole list is one dictionary entry (a
         * list past the limits, which the row pipeline rejects before, is
         * stored as no values) */
        const char *p;
        uint32_t n;
        struct lerr e;
        lerr_init(&e);
        int rc = storage_mv_encode(v, STORAGE_MV_ARRAY, scratch, &p, &n, &e);
        if (rc == LERR_NOMEM)
            return false;
        if (rc || !p)
            return (k->null = true);
        k->u = dict_id(b, c, p, n, storage__hash_bytes(p, n));
        return k->u != 0;
    }
    struct sql_value x = coerce(v, c->type, scratch);
    if (x.is_null)
        return (k->null = true);
    switch (c->type) {
    case SQL_STRING: {
        const char *p = x.v.s.p ? x.v.s.p : "";
        k->u = dict_id(b, c, p, x.v.s.n, hash ? hash : storage__hash_bytes(p, x.v.s.n));
        return k->u != 0;
    }
    case SQL_JSON:
        k->p = x.v.s.p ? x.v.s.p : "";
        k->n = x.v.s.n;
        return true;
    case SQL_FLOAT: k->u = dbl_bits(storage__round_float(x.v.d)); return true;
    case SQL_DOUBLE: k->u = dbl_bits(x.v.d); return true;
    default: k->u = (uint64_t)x.v.l; return true;
    }
}

/* The key's part of a row hash; NULL contributes nothing, so a column added
 * later (NULL in older rows) leaves older rows' hashes unchanged. */
static uint64_t key_hash(const struct rt_col *c, size_t col, const struct key *k)
{
    if (k->null)
        return 0;
    uint64_t h;
    if (c->type == SQL_JSON) {
        h = storage__hash_bytes(k->p, k->n);
    } else if (storage__is_doubleish(c->type)) {
        double d;
        memcpy(&d, &k->u, 8);
        h = d == 0 ? 0 : d != d ? 0x7ff8000000000000ULL : k->u; /* -0 = 0; one NaN */
    } else {
        h = k->u;
    }
    return util_mix64(h ^ ((uint64_t)col * 0x9E3779B97F4A7C15ULL));
}

static bool key_equal_stored(const struct rt_col *c, uint64_t row, const struct key *k)
{
    const uint8_t *pg = page_get(c, row);
    if (storage__is_dict(c->type)) {
        uint32_t id = pg ? ((const uint32_t *)pg)[row & (ST_BLOCK - 1)] : 0;
        return k->null ? id == 0 : id == k->u;
    }
    bool present = pg && pg[row & (ST_BLOCK - 1)];
    if (!present || k->null)
        return !present && k->null;
    const uint8_t *vp = val_ptr(c, (uint8_t *)pg, row);
    if (c->type == SQL_JSON) {
        const struct rt_str *s = (const struct rt_str *)vp;
        return s->n == k->n && (k->n == 0 || memcmp(s->p, k->p, k->n) == 0);
    }
    uint64_t u = storage__get_u64(vp);
    if (storage__is_doubleish(c->type)) {
        double a, bb;
        memcpy(&a, &u, 8);
        memcpy(&bb, &k->u, 8);
        return a == bb || (a != a && bb != bb);
    }
    return u == k->u;
}

/* Stores a dimension value into a new row. */
static bool store_key(struct rt_buf *b, struct rt_col *c, uint64_t row, const struct key *k)
{
    if (k->null)
        return true; /* zeroed pages read as NULL */
    uint8_t *pg = page_for(b, c, row);
    if (!pg)
        return false;
    uint8_t *vp = val_ptr(c, pg, row);
    if (storage__is_dict(c->type)) {
        uint32_t id = (uint32_t)k->u;
        memcpy(vp, &id, 4);
        return true;
    }
    if (c->type == SQL_JSON) {
        struct rt_str s = {.p = "", .n = k->n};
        if (k->n) {
            char *copy = arena_alloc(&b->mem, k->n);
            if (!copy)
                return false;
            memcpy(copy, k->p, k->n);
            s.p = copy;
        }
        memcpy(vp, &s, sizeof s);
    } else {
        storage__put_u64(vp, k->u);
    }
    pg[row & (ST_BLOCK - 1)] = 1;
    return true;
}

/* ---- rollup index (writer only) ------------------------------------------ */

static bool rollup_grow(struct rt_buf *b)
{
    uint64_t ncap = b->rcap ? b->rcap * 2 : 4096;
    uint32_t *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return false;
    for (uint64_t r = 0; r < b->nw; r++) {
        uint64_t i = b->rhash[r] & (ncap - 1);
        while (ns[i])
            i = (i + 1) & (ncap - 1);
        ns[i] = (uint32_t)(r + 1);
    }
    count_bytes(b, (ncap - b->rcap) * sizeof *ns);
    free(b->rslots);
    b->rslots = ns;
    b->rcap = ncap;
    return true;
}

static bool rhash_reserve(struct rt_buf *b, uint64_t rows)
{
    if (rows <= b->rhash_cap)
        return true;
    uint64_t ncap = b->rhash_cap ? b->rhash_cap * 2 : 4096;
    while (ncap < rows)
        ncap *= 2;
    uint64_t *nh = realloc(b->rhash, ncap * sizeof *nh);
    if (!nh)
        return false;
    count_bytes(b, (ncap - b->rhash_cap) * sizeof *nh);
    b->rhash = nh;
    b->rhash_cap = ncap;
    return true;
}

/* ---- append -------------------------------------------------------------- */

int64_t rt_append(struct rt_buf *b, const struct storage__schema *sc,
                  const struct storage_batch *batch, const uint32_t *rows, uint32_t n,
                  struct arena *scratch, struct lerr *err)
{
    if (ensure_cols(b, sc, err))
        return -1;
    size_t ncols = sc->ncols;
    struct rt_col **cols = arena_alloc(scratch, ncols * sizeof *cols);
    const struct storage_batch_col **src = arena_zalloc(scratch, ncols * sizeof *src);
    struct key *keys = arena_alloc(scratch, ncols * sizeof *keys);
    if (!cols || !src || !keys) {
        nomem(err);
        return -1;
    }
    for (size_t i = 0; i < ncols; i++)
        cols[i] = col_at(b, i);
    for (uint32_t j = 0; j < batch->ncols; j++)
        src[batch->cols[j].col] = &batch->cols[j];
    /* string hashes up front, so that the loop below can prefetch slots */
    uint64_t **hashes = arena_zalloc(scratch, ncols * sizeof *hashes);
    if (!hashes) {
        nomem(err);
        return -1;
    }
    for (size_t c = 1; c < ncols; c++) {
        if (!src[c] || cols[c]->kind != STORAGE_DIMENSION || cols[c]->type != SQL_STRING)
            continue;
        hashes[c] = arena_alloc(scratch, (size_t)n * sizeof **hashes);
        if (!hashes[c]) {
            nomem(err);
            return -1;
        }
        for (uint32_t k = 0; k < n; k++) {
            /* each value's bytes are a cache miss of their own (another thread wrote them) */
            if (k + 8 < n) {
                const struct sql_value *a = &src[c]->values[rows[k + 8]];
                if (!a->is_null && a->type == SQL_STRING && a->v.s.p)
                    __builtin_prefetch(a->v.s.p);
            }
            const struct sql_value *v = &src[c]->values[rows[k]];
            hashes[c][k] = !v->is_null && v->type == SQL_STRING
                               ? storage__hash_bytes(v->v.s.p ? v->v.s.p : "", v->v.s.n)
                               : 0;
        }
    }

    bool agg = b->type == STORAGE_AGGREGATE;
    if (agg)
        pthread_rwlock_wrlock(&b->lock);
    int64_t mn = atomic_load_explicit(&b->min_time, memory_order_relaxed);
    int64_t mx = atomic_load_explicit(&b->max_time, memory_order_relaxed);
    uint32_t k = 0;
    int rc = 0;
    for (; k < n; k++) {
        uint32_t r = rows[k];
        int64_t t = batch->time[r];
        if (agg)
            t = storage_gran_floor(b->res, t);
        uint64_t h = agg ? util_mix64((uint64_t)t) : 0; /* the rollup key's hash */
        bool ok = true;
        for (size_t c = 1; c < ncols && ok; c++) {
            if (cols[c]->kind != STORAGE_DIMENSION)
                continue;
            /* the batch's values, too, were written by another thread */
            if (src[c] && k + 16 < n)
                __builtin_prefetch(&src[c]->values[rows[k + 16]]);
            if (hashes[c]) {
                if (k + 16 < n)
                    dict_prefetch(cols[c], hashes[c][k + 16]);
                if (k + 8 < n)
                    dict_prefetch_entry(cols[c], hashes[c][k + 8]);
            }
            if (src[c])
                ok = make_key(b, cols[c], &src[c]->values[r], scratch,
                              hashes[c] ? hashes[c][k] : 0, &keys[c]);
            else
                keys[c] = (struct key){.null = true};
            if (agg)
                h += key_hash(cols[c], c, &keys[c]);
        }
        if (!ok) {
            rc = nomem(err);
            break;
        }
        if (agg) {
            if (b->nw * 2 >= b->rcap && !rollup_grow(b)) {
                rc = nomem(err);
                break;
            }
            uint64_t i = h & (b->rcap - 1);
            uint64_t found = UINT64_MAX;
            for (; b->rslots[i]; i = (i + 1) & (b->rcap - 1)) {
                uint64_t row = b->rslots[i] - 1;
                if (b->rhash[row] != h)
                    continue;
                const int64_t *tp =
                    atomic_load_explicit(&b->tpages[row >> ST_BLOCK_SHIFT], memory_order_relaxed);
                if (tp[row & (ST_BLOCK - 1)] != t)
                    continue;
                bool eq = true;
                for (size_t c = 1; c < ncols && eq; c++)
                    if (cols[c]->kind == STORAGE_DIMENSION)
                        eq = key_equal_stored(cols[c], row, &keys[c]);
                if (eq) {
                    found = row;
                    break;
                }
            }
            if (found != UINT64_MAX) {
                for (size_t c = 1; c < ncols && ok; c++) {
                    if (cols[c]->kind != STORAGE_MEASURE || !src[c])
                        continue;
                    uint8_t *st = val_ptr(cols[c], (uint8_t *)page_get(cols[c], found), found);
                    ok = sql_agg_merge(
                        &sc->cols[c].agg, st,
                        (const uint8_t *)src[c]->states + (size_t)r * sc->state_size[c], &b->mem);
                }
                if (!ok) {
                    rc = nomem(err);
                    break;
                }
                continue;
            }
        }
        /* a new row */
        uint64_t row = b->nw;
        if (row >= b->cap_rows)
            break;
        if (agg && !rhash_reserve(b, row + 1)) {
            rc = nomem(err);
            break;
        }
        _Atomic(int64_t *) *tslot = &b->tpages[row >> ST_BLOCK_SHIFT];
        int64_t *tp = atomic_load_explicit(tslot, memory_order_relaxed);
        if (!tp) {
            tp = calloc(ST_BLOCK, sizeof *tp);
            if (!tp) {
                rc = nomem(err);
                break;
            }
            count_bytes(b, ST_BLOCK * sizeof *tp);
            atomic_store_explicit(tslot, tp, memory_order_release);
        }
        tp[row & (ST_BLOCK - 1)] = t;
        for (size_t c = 1; c < ncols && ok; c++) {
            if (cols[c]->kind == STORAGE_DIMENSION) {
                ok = store_key(b, cols[c], row, &keys[c]);
                continue;
            }
            uint8_t *pg = page_for(b, cols[c], row);
            if (!pg) {
                ok = false;
                break;
            }
            uint8_t *st = val_ptr(cols[c], pg, row);
            sql_agg_init(&sc->cols[c].agg, st);
            if (src[c])
                ok = sql_agg_merge(&sc->cols[c].agg, st,
                                   (const uint8_t *)src[c]->states + (size_t)r * sc->state_size[c],
                                   &b->mem);
        }
        if (!ok) {
            rc = nomem(err);
            break;
        }
        if (agg) {
            b->rhash[row] = h;
            uint64_t i = h & (b->rcap - 1);
            while (b->rslots[i])
                i = (i + 1) & (b->rcap - 1);
            b->rslots[i] = (uint32_t)(row + 1);
        }
        mn = t < mn ? t : mn;
        mx = t > mx ? t : mx;
        b->nw = row + 1;
    }
    atomic_store_explicit(&b->min_time, mn, memory_order_relaxed);
    atomic_store_explicit(&b->max_time, mx, memory_order_relaxed);
    count_bytes(b, 0);
    atomic_store_explicit(&b->nrows, b->nw, memory_order_release);
    if (agg)
        pthread_rwlock_unlock(&b->lock);
    return rc ? -1 : (int64_t)k;
}

/* ---- reads --------------------------------------------------------------- */

uint64_t rt_rows(const struct rt_buf *b)
{
    return atomic_load_explicit(&((struct rt_buf *)b)->nrows, memory_order_acquire);
}

uint64_t rt_bytes(const struct rt_buf *b)
{
    return atomic_load_explicit(&((struct rt_buf *)b)->bytes, memory_order_relaxed);
}

void rt_chunk(const struct rt_buf *b, int64_t *start, int64_t *end)
{
    *start = b->chunk_start;
    *end = b->chunk_end;
}

void rt_time_range(const struct rt_buf *b, int64_t *min_time, int64_t *max_time)
{
    *min_time = atomic_load_explicit(&((struct rt_buf *)b)->min_time, memory_order_relaxed);
    *max_time = atomic_load_explicit(&((struct rt_buf *)b)->max_time, memory_order_relaxed);
}

bool rt_full(const struct rt_buf *b) { return b->nw >= b->cap_rows; }

size_t rt_ncols(const struct rt_buf *b)
{
    return atomic_load_explicit(&((struct rt_buf *)b)->cols, memory_order_acquire)->n;
}

int rt_col_type(const struct rt_buf *b, size_t col)
{
    const struct rt_col *c = col_at(b, col);
    return c ? c->type : SQL_NULL;
}

uint32_t rt_dict_count(const struct rt_buf *b, size_t col)
{
    struct rt_col *c = col_at(b, col);
    if (!c || !c->dpages)
        return 1;
    return atomic_load_explicit(&c->dcount, memory_order_acquire);
}

void rt_dict_entry(const struct rt_buf *b, size_t col, uint32_t id, const char **p, uint32_t *n)
{
    const struct rt_dent *e = dict_slot(col_at(b, col), id);
    *p = e->p;
    *n = e->n;
}

/* Rows [row, row + left) split at page ends: the length of the first run. */
static inline uint32_t run_len(uint64_t row, uint32_t left)
{
    uint32_t in_page = ST_BLOCK - (uint32_t)(row & (ST_BLOCK - 1));
    return left < in_page ? left : in_page;
}

void rt_read_time(const struct rt_buf *b, uint64_t row0, uint32_t n, int64_t *out)
{
    for (uint32_t k = 0, m; k < n; k += m) {
        uint64_t row = row0 + k;
        m = run_len(row, n - k);
        const int64_t *tp =
            atomic_load_explicit(&b->tpages[row >> ST_BLOCK_SHIFT], memory_order_relaxed);
        memcpy(out + k, tp + (row & (ST_BLOCK - 1)), m * sizeof *out);
    }
}

void rt_read_ids(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n, uint32_t *out)
{
    const struct rt_col *c = col_at(b, col);
    for (uint32_t k = 0, m; k < n; k += m) {
        uint64_t row = row0 + k;
        m = run_len(row, n - k);
        const uint8_t *pg = c ? page_get(c, row) : NULL;
        if (pg)
            memcpy(out + k, (const uint32_t *)pg + (row & (ST_BLOCK - 1)), m * sizeof *out);
        else
            memset(out + k, 0, m * sizeof *out);
    }
}

static void read_fixed(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n, void *out,
                       bool *nulls)
{
    const struct rt_col *c = col_at(b, col);
    for (uint32_t k = 0, m; k < n; k += m) {
        uint64_t row = row0 + k;
        m = run_len(row, n - k);
        const uint8_t *pg = c ? page_get(c, row) : NULL;
        size_t at = (size_t)(row & (ST_BLOCK - 1));
        if (pg) {
            memcpy((uint8_t *)out + (size_t)k * 8, pg + ST_BLOCK + at * 8, (size_t)m * 8);
            if (nulls)
                for (uint32_t j = 0; j < m; j++)
                    nulls[k + j] = !pg[at + j];
        } else {
            memset((uint8_t *)out + (size_t)k * 8, 0, (size_t)m * 8);
            if (nulls)
                memset(nulls + k, 1, m);
        }
    }
}

void rt_read_longs(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n, int64_t *out,
                   bool *nulls)
{
    read_fixed(b, col, row0, n, out, nulls);
}

void rt_read_doubles(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n, double *out,
                     bool *nulls)
{
    read_fixed(b, col, row0, n, out, nulls);
}

void rt_gather_longs(const struct rt_buf *b, size_t col, const uint32_t *rows, uint32_t n,
                     int64_t *out, bool *nulls)
{
    const struct rt_col *c = col_at(b, col);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t row = rows[k];
        const uint8_t *pg = c ? page_get(c, row) : NULL;
        size_t at = (size_t)(row & (ST_BLOCK - 1));
        if (pg) {
            memcpy(&out[k], pg + ST_BLOCK + at * 8, 8);
            nulls[k] = !pg[at];
        } else {
            out[k] = 0;
            nulls[k] = true;
        }
    }
}

void rt_read_text(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n,
                  struct sql_value *out, int type)
{
    const struct rt_col *c = col_at(b, col);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t row = row0 + k;
        const uint8_t *pg = c ? page_get(c, row) : NULL;
        if (!pg || !pg[row & (ST_BLOCK - 1)]) {
            out[k] = sql_null(type);
            continue;
        }
        struct rt_str s;
        memcpy(&s, val_ptr(c, (uint8_t *)pg, row), sizeof s);
        out[k] = sql_string(s.p, s.n);
        out[k].type = (uint8_t)type;
    }
}

const void *rt_state_at(const struct rt_buf *b, size_t col, uint64_t row)
{
    const struct rt_col *c = col_at(b, col);
    const uint8_t *pg = c ? page_get(c, row) : NULL;
    return pg ? val_ptr(c, (uint8_t *)pg, row) : NULL;
}

bool rt_copy_states(const struct rt_buf *b, const struct storage__schema *sc, uint64_t row0,
                    uint32_t n, uint8_t *const *dst, struct arena *mem)
{
    bool ok = true;
    pthread_rwlock_rdlock(&((struct rt_buf *)b)->lock);
    for (size_t c = 1; c < sc->ncols && ok; c++) {
        if (!dst[c])
            continue;
        const struct storage_column *def = &sc->cols[c];
        uint32_t ss = sc->state_size[c];
        for (uint32_t k = 0; k < n && ok; k++) {
            void *d = dst[c] + (size_t)k * ss;
            sql_agg_init(&def->agg, d);
            const void *st = rt_state_at(b, c, row0 + k);
            if (st)
                ok = sql_agg_merge(&def->agg, d, st, mem);
        }
    }
    pthread_rwlock_unlock(&((struct rt_buf *)b)->lock);
    return ok;
}
