/*
 * segwrite.c — turns the rows of a realtime buffer into an immutable segment
 * file (layout in storage_int.h): rows sorted by __time (then by every
 * dimension for aggregate tables), strings as a sorted dictionary (front
 * coded and compressed where that is smaller) with bit-packed ids and a
 * roaring bitmap or an Elias-Fano list per value, numbers in compressed
 * blocks with a null bitmap, JSON and measure states in compressed blocks of
 * variable-length values. Each part carries a CRC32C.
 *
 * Entry points: storage__seg_write(), storage__seg_name(); storage__skey_sort() (the
 * dictionaries' sort, exposed for its test against qsort).
 *
 * Crash safety: the file is written into a temporary file of the segment
 * store (segstore.h) and published by segstore_put — locally: fsynced,
 * renamed, and the directory fsynced — so a segment name either does not
 * exist or names a complete file. The catalog commit happens after this;
 * a crash in between leaves a file the catalog does not know, which the
 * next open removes.
 *
 * A full disk (or any failed write, fsync, close, rename or directory
 * fsync) is an ordinary error: the first failure sticks (struct out), the
 * rest of the body is skipped — the footer is written only after every
 * column was — everything is freed, the temporary file is removed, and the
 * caller gets LERR_IO naming the file, the errno and the directory whose
 * disk to free. The rows being written are only read, never changed, so
 * the caller can retry with the same buffers (tests/unit/
 * test_storage_diskfull.c fails every step in turn).
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "storage/storage_int.h"

/* ---- file output with running CRC --------------------------------------- */

#define OUT_FLUSH (1u << 20)

struct out {
    int fd;
    const char *path; /* the temporary file being written */
    const char *dir;  /* its directory (named in errors: the disk to free) */
    struct buf b;
    uint64_t pos; /* file offset of the next byte */
    uint32_t crc; /* of the current part */
    struct lerr *err;
    bool failed;
};

/* The error of a failed system call on a segment file (segstore.h). */
#define io_error segstore_io_error

static int out_flush(struct out *o)
{
    size_t done = 0;
    while (!o->failed && done < o->b.len) {
        ssize_t w = write(o->fd, o->b.data + done, o->b.len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* a write that stores nothing without an error: the disk is full */
            io_error(o->err, "writing segment file", o->path, o->dir, w == 0 ? ENOSPC : errno);
            o->failed = true;
        }
        done += w > 0 ? (size_t)w : 0;
    }
    buf_reset(&o->b);
    return o->failed ? -1 : 0;
}

static void out_write(struct out *o, const void *p, size_t n)
{
    if (o->failed || !n)
        return;
    o->crc = util_crc32c(o->crc, p, n);
    o->pos += n;
    if (!buf_append(&o->b, p, n)) {
        o->failed = true;
        lerr_set(o->err, LERR_NOMEM, "storage: out of memory writing segment %s", o->path);
        return;
    }
    if (o->b.len >= OUT_FLUSH)
        out_flush(o);
}

static void out_u32(struct out *o, uint32_t v) { out_write(o, &v, 4); }

static void part_begin(struct out *o, struct storage__part *pt)
{
    pt->off = o->pos;
    o->crc = 0;
}

static void part_end(struct out *o, struct storage__part *pt)
{
    pt->len = o->pos - pt->off;
    pt->crc = o->crc;
}

static void oom(struct out *o)
{
    if (!o->failed)
        lerr_set(o->err, LERR_NOMEM, "storage: out of memory writing segment %s", o->path);
    o->failed = true;
}

/* ---- blocked parts: payloads, then the directory, then nblocks --------- */

struct blocked {
    struct buf dir;
    struct buf tmp;
    uint32_t nblocks;
    uint64_t part_off;
};

static void blocked_init(struct blocked *bl, struct out *o)
{
    buf_init(&bl->dir, 0);
    buf_init(&bl->tmp, 0);
    bl->nblocks = 0;
    bl->part_off = o->pos;
}

/* Writes the encoded block in bl->tmp with its codec. */
static void blocked_add(struct blocked *bl, struct out *o, int codec, size_t rawlen)
{
    if (codec < 0) {
        oom(o);
        return;
    }
    uint8_t e[24] = {0};
    storage__put_u64(e, o->pos - bl->part_off);
    storage__put_u32(e + 8, (uint32_t)bl->tmp.len);
    storage__put_u32(e + 12, (uint32_t)rawlen);
    e[16] = (uint8_t)codec;
    if (!buf_append(&bl->dir, e, sizeof e))
        oom(o);
    out_write(o, bl->tmp.data, bl->tmp.len);
    buf_reset(&bl->tmp);
    bl->nblocks++;
}

static void blocked_end(struct blocked *bl, struct out *o)
{
    out_write(o, bl->dir.data, bl->dir.len);
    out_u32(o, bl->nblocks);
    out_u32(o, 0);
    buf_free(&bl->dir);
    buf_free(&bl->tmp);
}

/* ---- sorting ------------------------------------------------------------- */

struct sortkey {
    int cls;              /* 0 ranks, 1 longs, 2 doubles, 3 text */
    const uint32_t *rank; /* per row, 0 = NULL */
    const int64_t *l;
    const double *d;
    const bool *nulls;
    const struct sql_value *s;
};

struct sortctx {
    const int64_t *t;
    size_t nkeys;
    const struct sortkey *keys;
};

static int cmp_bytes(const char *a, uint32_t an, const char *b, uint32_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int row_cmp(const void *pa, const void *pb, void *arg)
{
    const struct sortctx *sc = arg;
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    if (sc->t[a] != sc->t[b])
        return sc->t[a] < sc->t[b] ? -1 : 1;
    for (size_t i = 0; i < sc->nkeys; i++) {
        const struct sortkey *k = &sc->keys[i];
        int c = 0;
        if (k->cls == 0) {
            c = (k->rank[a] > k->rank[b]) - (k->rank[a] < k->rank[b]);
        } else if (k->nulls[a] || k->nulls[b]) {
            c = (int)k->nulls[b] - (int)k->nulls[a]; /* NULL first */
        } else if (k->cls == 1) {
            c = (k->l[a] > k->l[b]) - (k->l[a] < k->l[b]);
        } else if (k->cls == 2) {
            c = (k->d[a] > k->d[b]) - (k->d[a] < k->d[b]);
        } else {
            c = cmp_bytes(k->s[a].v.s.p, k->s[a].v.s.n, k->s[b].v.s.p, k->s[b].v.s.n);
        }
        if (c)
            return c;
    }
    return (a > b) - (a < b);
}

/* A string column's dictionary, sorted, restricted to the ids rows use. */
struct sdict {
    uint32_t count;               /* values (without NULL) */
    struct storage__skey *sorted; /* the values in byte order, count of them */
    uint32_t *newid;              /* old id -> new id (0 = NULL / unused) */
};

int storage__skey_cmp(const void *pa, const void *pb)
{
    const struct storage__skey *a = pa, *b = pb;
    if (a->pfx[0] != b->pfx[0])
        return a->pfx[0] < b->pfx[0] ? -1 : 1;
    if (a->pfx[1] != b->pfx[1])
        return a->pfx[1] < b->pfx[1] ? -1 : 1;
    return cmp_bytes(a->p, a->n, b->p, b->n);
}

void storage__skey_set(struct storage__skey *k, const char *p, uint32_t n, uint32_t id)
{
    uint8_t first[16] = {0};
    memcpy(first, p, n < 16 ? n : 16);
    k->pfx[0] = __builtin_bswap64(storage__get_u64(first));
    k->pfx[1] = __builtin_bswap64(storage__get_u64(first + 8));
    k->p = p;
    k->n = n;
    k->id = id;
}

/* Sorts a run of keys whose prefixes decided nothing yet: by insertion when
 * short, else by qsort. */
static void skey_sort_cmp(struct storage__skey *k, size_t n)
{
    if (n > 24) {
        qsort(k, n, sizeof *k, storage__skey_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct storage__skey x = k[i];
        size_t j = i;
        for (; j > 0 && storage__skey_cmp(&k[j - 1], &x) > 0; j--)
            k[j] = k[j - 1];
        k[j] = x;
    }
}

/*
 * A stable LSD radix sort of k[0..n) on pfx[w], a byte a pass, through tmp
 * (n keys); the histograms of all 8 bytes come from one read, and a byte
 * that every key shares (a common first letter, "Article_") costs no pass.
 */
static void skey_radix(struct storage__skey *k, size_t n, struct storage__skey *tmp, unsigned w)
{
    size_t(*cnt)[256] = calloc(8, sizeof *cnt);
    if (!cnt) {
        skey_sort_cmp(k, n); /* no memory for counts: the comparison sort needs none */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v = k[i].pfx[w];
        for (unsigned d = 0; d < 8; d++)
            cnt[d][(v >> (8 * d)) & 255]++;
    }
    struct storage__skey *src = k, *dst = tmp;
    for (unsigned d = 0; d < 8; d++) {
        size_t pos = 0;
        bool one = false;
        for (unsigned x = 0; x < 256; x++) {
            size_t c = cnt[d][x];
            if (c == n) {
                one = true;
                break;
            }
            cnt[d][x] = pos;
            pos += c;
        }
        if (one)
            continue;
        unsigned sh = 8 * d;
        for (size_t i = 0; i < n; i++)
            dst[cnt[d][(src[i].pfx[w] >> sh) & 255]++] = src[i];
        struct storage__skey *x = src;
        src = dst;
        dst = x;
    }
    if (src != k)
        memcpy(k, src, n * sizeof *k);
    free(cnt);
}

/*
 * Sorts k[0..n) by storage__skey_cmp, whose order is byte order on the values:
 * radix on the first 8 bytes, then each run sharing them radix on the next
 * 8 (runs of 64 or more: URLs, "Category:..."), then the runs that share
 * all 16 by comparison. tmp holds n keys. For distinct values (a
 * dictionary) the result is the one order qsort with storage__skey_cmp gives.
 */
void storage__skey_sort(struct storage__skey *k, size_t n, struct storage__skey *tmp)
{
    if (n < 64) {
        skey_sort_cmp(k, n);
        return;
    }
    skey_radix(k, n, tmp, 0);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i + 1; j < n && k[j].pfx[0] == k[i].pfx[0]; j++)
            ;
        if (j - i < 2)
            continue;
        if (j - i >= 64)
            skey_radix(k + i, j - i, tmp, 1);
        for (size_t a = i, e; a < j; a = e) {
            for (e = a + 1; e < j && k[e].pfx[1] == k[a].pfx[1]; e++)
                ;
            if (j - i < 64)
                e = j; /* the whole run, by comparison */
            if (e - a > 1)
                skey_sort_cmp(k + a, e - a);
        }
    }
}

static bool sdict_build(const struct rt_buf *b, size_t col, const uint32_t *ids, uint64_t n,
                        struct sdict *d)
{
    uint32_t dc = rt_dict_count(b, col);
    d->newid = calloc(dc, sizeof *d->newid);
    d->sorted = malloc((size_t)(dc ? dc : 1) * sizeof *d->sorted);
    struct storage__skey *tmp = malloc((size_t)(dc ? dc : 1) * sizeof *tmp);
    if (!d->newid || !d->sorted || !tmp) {
        free(tmp);
        return false;
    }
    for (uint64_t r = 0; r < n; r++)
        d->newid[ids[r]] = 1;
    d->newid[STORAGE_NULL_ID] = STORAGE_NULL_ID; /* NULL stays id 0 */
    d->count = 0;
    for (uint32_t id = 1; id < dc; id++) {
        if (!d->newid[id])
            continue;
        const char *p;
        uint32_t len;
        rt_dict_entry(b, col, id, &p, &len);
        storage__skey_set(&d->sorted[d->count++], p, len, id);
    }
    storage__skey_sort(d->sorted, d->count, tmp);
    for (uint32_t i = 0; i < d->count; i++)
        d->newid[d->sorted[i].id] = i + 1;
    free(tmp);
    return true;
}

static void sdict_free(struct sdict *d)
{
    free(d->sorted);
    free(d->newid);
}

/* ---- column writers ------------------------------------------------------ */

struct wctx {
    struct out *o;
    const struct storage__schema *sc;
    const struct rt_buf *b;
    uint64_t n;
    const uint32_t *perm; /* sorted position -> buffer row */
    bool zstd;
    struct sdict *dicts; /* per column (STRING) */
    uint32_t **ids;      /* per column (STRING): ids by buffer row */
};

static void write_time(struct wctx *w, struct storage__scol *sc, const int64_t *t)
{
    int64_t vals[ST_BLOCK];
    struct blocked bl;
    part_begin(w->o, &sc->parts[ST_P_DATA]);
    blocked_init(&bl, w->o);
    for (uint64_t r0 = 0; r0 < w->n && !w->o->failed; r0 += ST_BLOCK) {
        uint32_t m = storage__block_rows(w->n, r0 / ST_BLOCK);
        for (uint32_t k = 0; k < m; k++)
            vals[k] = t[w->perm[r0 + k]];
        blocked_add(&bl, w->o, storage__encode_longs(vals, m, w->zstd, &bl.tmp), (size_t)m * 8);
    }
    blocked_end(&bl, w->o);
    part_end(w->o, &sc->parts[ST_P_DATA]);
    sc->nparts = 1;
}

static void write_roaring(struct out *o, const roaring_bitmap_t *bm)
{
    size_t sz = roaring_bitmap_portable_size_in_bytes(bm);
    char *tmp = malloc(sz ? sz : 1);
    if (!tmp) {
        oom(o);
        return;
    }
    roaring_bitmap_portable_serialize(bm, tmp);
    out_write(o, tmp, sz);
    free(tmp);
}

/* The nulls part: empty (length 0) when the column has no NULL. */
static void write_nulls(struct wctx *w, struct storage__scol *sc, const roaring_bitmap_t *nulls)
{
    part_begin(w->o, &sc->parts[ST_P_NULLS]);
    if (!roaring_bitmap_is_empty(nulls))
        write_roaring(w->o, nulls);
    part_end(w->o, &sc->parts[ST_P_NULLS]);
    sc->nparts = 2;
}

static void write_numeric(struct wctx *w, size_t col, struct storage__scol *sc)
{
    int type = w->sc->cols[col].type;
    bool dbl = storage__is_doubleish(type);
    int64_t vals[ST_BLOCK];
    bool nulls[ST_BLOCK];
    uint32_t nullrows[ST_BLOCK];
    roaring_bitmap_t *nb = roaring_bitmap_create();
    if (!nb) {
        oom(w->o);
        return;
    }
    struct blocked bl;
    part_begin(w->o, &sc->parts[ST_P_DATA]);
    blocked_init(&bl, w->o);
    for (uint64_t r0 = 0; r0 < w->n && !w->o->failed; r0 += ST_BLOCK) {
        uint32_t m = storage__block_rows(w->n, r0 / ST_BLOCK);
        uint32_t nn = 0;
        /* rows in sorted order: a gather, not a range */
        rt_gather_longs(w->b, col, w->perm + r0, m, vals, nulls);
        for (uint32_t k = 0; k < m; k++) {
            if (nulls[k]) {
                vals[k] = 0;
                nullrows[nn++] = (uint32_t)(r0 + k);
            }
        }
        if (nn)
            roaring_bitmap_add_many(nb, nn, nullrows);
        if (type == SQL_FLOAT) {
            float f[ST_BLOCK];
            for (uint32_t k = 0; k < m; k++) {
                double d;
                memcpy(&d, &vals[k], 8);
                f[k] = (float)storage__round_float(d);
            }
            blocked_add(&bl, w->o, storage__encode_bytes(f, (size_t)m * 4, w->zstd, &bl.tmp),
                        (size_t)m * 4);
        } else if (dbl) {
            blocked_add(&bl, w->o, storage__encode_bytes(vals, (size_t)m * 8, w->zstd, &bl.tmp),
                        (size_t)m * 8);
        } else {
            blocked_add(&bl, w->o, storage__encode_longs(vals, m, w->zstd, &bl.tmp),
                        (size_t)m * 8);
        }
    }
    blocked_end(&bl, w->o);
    part_end(w->o, &sc->parts[ST_P_DATA]);
    roaring_bitmap_run_optimize(nb);
    write_nulls(w, sc, nb);
    storage__bitmap_free(nb);
}

/* JSON text or measure states: blocks of [u32 len[n]][bytes]. */
static void write_var(struct wctx *w, size_t col, struct storage__scol *sc)
{
    const struct storage_column *def = &w->sc->cols[col];
    bool states = def->kind == STORAGE_MEASURE;
    roaring_bitmap_t *nb = roaring_bitmap_create();
    struct buf raw, one;
    buf_init(&raw, 0);
    buf_init(&one, 0);
    void *init_state = states ? calloc(1, w->sc->state_size[col] + 16) : NULL;
    if (!nb || (states && !init_state)) {
        oom(w->o);
        storage__bitmap_free(nb);
        free(init_state);
        return;
    }
    if (states)
        sql_agg_init(&def->agg, init_state);
    struct blocked bl;
    part_begin(w->o, &sc->parts[ST_P_DATA]);
    blocked_init(&bl, w->o);
    for (uint64_t r0 = 0; r0 < w->n && !w->o->failed; r0 += ST_BLOCK) {
        uint32_t m = storage__block_rows(w->n, r0 / ST_BLOCK);
        buf_reset(&raw);
        buf_reset(&one);
        uint32_t lens[ST_BLOCK];
        for (uint32_t k = 0; k < m; k++) {
            size_t before = one.len;
            uint64_t row = w->perm[r0 + k];
            if (states) {
                const void *st = rt_state_at(w->b, col, row);
                if (!sql_agg_serialize(&def->agg, st ? st : init_state, &one))
                    oom(w->o);
            } else {
                struct sql_value v;
                rt_read_text(w->b, col, row, 1, &v, def->type);
                if (v.is_null)
                    roaring_bitmap_add(nb, (uint32_t)(r0 + k));
                else
                    buf_append(&one, v.v.s.p, v.v.s.n);
            }
            lens[k] = (uint32_t)(one.len - before);
        }
        if (!buf_append(&raw, lens, (size_t)m * 4) || !buf_append(&raw, one.data, one.len) ||
            one.failed) {
            oom(w->o);
            break;
        }
        blocked_add(&bl, w->o, storage__encode_bytes(raw.data, raw.len, w->zstd, &bl.tmp),
                    raw.len);
    }
    blocked_end(&bl, w->o);
    part_end(w->o, &sc->parts[ST_P_DATA]);
    if (!states) {
        roaring_bitmap_run_optimize(nb);
        write_nulls(w, sc, nb);
    }
    storage__bitmap_free(nb);
    free(init_state);
    buf_free(&raw);
    buf_free(&one);
}

/*
 * The index of a string column comes in two layouts (ST_BITMAPS_*):
 * a portable roaring bitmap per id, compact for values that cover many rows
 * (1 bit per row at best), or an Elias-Fano list per id (storage_int.h),
 * compact for the long tail of a high-cardinality column, where a roaring
 * bitmap pays ~10 bytes per row for its container headers. The writer
 * estimates the first and computes the second. A list must be turned into
 * a roaring bitmap on first use (about 6 ns a row), which for the long
 * lists of a low-cardinality column costs a first query more than its
 * filter, so lists are kept only when they take less than half the bytes.
 */
static uint64_t roaring_bytes(const uint64_t *end, const uint32_t *rowsby, uint32_t nid)
{
    uint64_t roaring = 8 * ((uint64_t)nid + 1), start = 0;
    for (uint32_t id = 0; id < nid; id++) {
        roaring += 8; /* cookie and container count */
        for (uint64_t i = start; i < end[id];) {
            /* one container: the rows sharing the high 16 bits, as an
             * array, a bitset or runs, whichever is smallest (as
             * roaring_bitmap_run_optimize leaves it) */
            uint64_t j = i, runs = 1;
            for (j = i + 1; j < end[id] && rowsby[j] >> 16 == rowsby[i] >> 16; j++)
                runs += rowsby[j] != rowsby[j - 1] + 1;
            uint64_t c = j - i > 4096 ? 8192 : 2 * (j - i);
            roaring += 8 + (2 + 4 * runs < c ? 2 + 4 * runs : c);
            i = j;
        }
        start = end[id];
    }
    return roaring;
}

/* Byte sizes of the Elias-Fano lists and of the counts, slack included. */
static void ef_sizes(const uint64_t *end, uint32_t nid, uint64_t n, uint64_t *lists,
                     uint64_t *counts)
{
    uint64_t eb = 0, gb = 0, start = 0;
    for (uint32_t id = 0; id < nid; id++) {
        eb += storage__ef_bits(end[id] - start, n);
        gb += storage__gamma_bits(end[id] - start + 1);
        start = end[id];
    }
    *lists = (eb + 7) / 8 + 8;
    *counts = (gb + 7) / 8 + 8;
}

static void set_bit(uint8_t *p, uint64_t bit) { p[bit >> 3] |= (uint8_t)(1u << (bit & 7)); }

/* ORs v (< 2^32) in at bit offset `bit`; the 8 bytes from its byte exist. */
static void put_low(uint8_t *p, uint64_t bit, uint64_t v)
{
    storage__put_u64(p + (bit >> 3), storage__get_u64(p + (bit >> 3)) | v << (bit & 7));
}

/* [lists][counts][samples: u64 list bit, u64 count bit per ST_EF_GROUP ids]
 * [u64 lists bytes][u64 counts bytes][u32 nid][u32 ST_BITMAPS_EF] */
static void write_ef(struct out *o, const uint64_t *end, const uint32_t *rowsby, uint32_t nid,
                     uint64_t n)
{
    uint64_t lbytes, cbytes, ngroups = ((uint64_t)nid + ST_EF_GROUP - 1) / ST_EF_GROUP;
    ef_sizes(end, nid, n, &lbytes, &cbytes);
    uint8_t *lists = calloc(1, lbytes), *counts = calloc(1, cbytes);
    uint64_t *samples = malloc((ngroups ? ngroups : 1) * 16);
    if (!lists || !counts || !samples) {
        oom(o);
        goto done;
    }
    uint64_t eb = 0, gb = 0, start = 0;
    for (uint32_t id = 0; id < nid; id++) {
        if (id % ST_EF_GROUP == 0) {
            samples[2 * (id / ST_EF_GROUP)] = eb;
            samples[2 * (id / ST_EF_GROUP) + 1] = gb;
        }
        uint64_t k = end[id] - start;
        const uint32_t *rows = rowsby + start;
        start = end[id];
        /* gamma(k + 1): z zero bits, a one, the low z bits */
        uint64_t x = k + 1;
        unsigned z = 63u - (unsigned)__builtin_clzll(x);
        set_bit(counts, gb + z);
        put_low(counts, gb + z + 1, x & ((1ULL << z) - 1));
        gb += 2u * z + 1u;
        if (!k)
            continue;
        unsigned L = storage__ef_low_bits(k, n);
        uint64_t up = eb + k * L;
        for (uint64_t i = 0; i < k; i++) {
            if (L)
                put_low(lists, eb + i * L, rows[i] & ((1ULL << L) - 1));
            set_bit(lists, up + ((uint64_t)rows[i] >> L) + i);
        }
        eb += storage__ef_bits(k, n);
    }
    out_write(o, lists, lbytes);
    out_write(o, counts, cbytes);
    out_write(o, samples, ngroups * 16);
    out_write(o, &lbytes, 8);
    out_write(o, &cbytes, 8);
    out_u32(o, nid);
    out_u32(o, ST_BITMAPS_EF);
done:
    free(lists);
    free(counts);
    free(samples);
}

/* [portable roarings][u64 off[nid + 1]][u32 nid][u32 ST_BITMAPS_ROARING] */
static void write_roarings(struct out *o, const uint64_t *end, const uint32_t *rowsby,
                           uint32_t nid)
{
    uint64_t *boff = malloc(((size_t)nid + 1) * sizeof *boff);
    if (!boff) {
        oom(o);
        return;
    }
    uint64_t base = o->pos;
    boff[0] = 0;
    for (uint32_t id = 0; id < nid && !o->failed; id++) {
        uint64_t start = id ? end[id - 1] : 0;
        roaring_bitmap_t *bm = roaring_bitmap_of_ptr((size_t)(end[id] - start), rowsby + start);
        if (!bm) {
            oom(o);
            break;
        }
        roaring_bitmap_run_optimize(bm);
        write_roaring(o, bm);
        storage__bitmap_free(bm);
        boff[id + 1] = o->pos - base;
    }
    out_write(o, boff, ((size_t)nid + 1) * 8);
    out_u32(o, nid);
    out_u32(o, ST_BITMAPS_ROARING);
    free(boff);
}

/* Writes v as a varint at p; returns the bytes written (at most 5). */
static size_t put_varint(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/*
 * The dictionary part, in one of two layouts (ST_DICT_*): plain
 * [u32 count][u32 0][u32 off[count + 1]][bytes], or front-coded and
 * compressed [u32 count][u32 1][u64 stream length][zstd frame of the
 * stream], the stream holding each value as varint(bytes shared with the
 * previous value) varint(suffix length) suffix. Sorted values share long
 * prefixes (page titles, URLs, user names), so the second is usually a
 * fraction of the first; readers decode it to the plain layout once, when
 * the segment opens. The smaller is written. Both are built in arrays sized
 * once from the values' total length (no growth, no copies).
 */
static void write_dict(struct wctx *w, size_t col, const struct sdict *d)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < d->count; i++)
        total += d->sorted[i].n;
    if (total > UINT32_MAX) {
        if (!w->o->failed)
            lerr_set(w->o->err, LERR_INVALID,
                     "storage: column '%s' has more than 4 GB of distinct values in one "
                     "time chunk; use a finer partitioningGranularity",
                     w->sc->cols[col].name);
        w->o->failed = true;
        return;
    }
    /* plain: [u32 count][u32 0][u32 off[count + 1]][bytes]; front coded: at
     * most two 5-byte varints and the bytes per value */
    size_t plen = 8 + 4 * ((size_t)d->count + 1) + total;
    uint8_t *plain = malloc(plen);
    uint8_t *fc = malloc(10 * (size_t)d->count + total + 1);
    struct buf z;
    buf_init(&z, 0);
    if (!plain || !fc) {
        oom(w->o);
        goto done;
    }
    storage__put_u32(plain, d->count);
    storage__put_u32(plain + 4, ST_DICT_PLAIN);
    uint8_t *offs = plain + 8, *bytes = plain + 8 + 4 * ((size_t)d->count + 1);
    uint32_t off = 0;
    size_t fcl = 0;
    storage__put_u32(offs, 0);
    const char *prev = NULL;
    uint32_t prevn = 0;
    for (uint32_t i = 0; i < d->count; i++) {
        const char *p = d->sorted[i].p;
        uint32_t n = d->sorted[i].n;
        memcpy(bytes + off, p, n);
        off += n;
        storage__put_u32(offs + 4 * ((size_t)i + 1), off);
        uint32_t k = 0, lim = n < prevn ? n : prevn;
        while (k < lim && p[k] == prev[k])
            k++;
        fcl += put_varint(fc + fcl, k);
        fcl += put_varint(fc + fcl, n - k);
        memcpy(fc + fcl, p + k, n - k);
        fcl += n - k;
        prev = p;
        prevn = n;
    }
    uint32_t zh[2] = {d->count, ST_DICT_FRONT};
    uint64_t fclen = fcl;
    if (!buf_append(&z, zh, sizeof zh) || !buf_append(&z, &fclen, 8) ||
        (fcl && !storage__zstd_append(&z, fc, fcl, 3))) {
        oom(w->o);
        goto done;
    }
    if (z.len < plen)
        out_write(w->o, z.data, z.len);
    else
        out_write(w->o, plain, plen);
done:
    free(plain);
    free(fc);
    buf_free(&z);
}

static void write_string(struct wctx *w, size_t col, struct storage__scol *sc)
{
    const struct sdict *d = &w->dicts[col];
    const uint32_t *ids = w->ids[col];
    uint32_t nid = d->count + 1;
    sc->dict_count = d->count;
    sc->nparts = 3;

    part_begin(w->o, &sc->parts[ST_P_DICT]);
    write_dict(w, col, d);
    part_end(w->o, &sc->parts[ST_P_DICT]);
    if (w->o->failed)
        return;

    /* ids: [u8 width][7 pad][packed] in sorted row order */
    unsigned width = storage__bits_for(d->count);
    sc->id_width = width;
    uint32_t *sorted_ids = malloc((w->n ? w->n : 1) * sizeof *sorted_ids);
    uint8_t *packed = calloc(1, storage__bitpack_size(w->n, width));
    uint64_t *cnt = calloc(nid + 1, sizeof *cnt);
    uint32_t *rowsby = malloc((w->n ? w->n : 1) * sizeof *rowsby);
    if (!sorted_ids || !packed || !cnt || !rowsby) {
        oom(w->o);
        goto done;
    }
    for (uint64_t r = 0; r < w->n; r++) {
        sorted_ids[r] = d->newid[ids[w->perm[r]]];
        cnt[sorted_ids[r] + 1]++;
    }
    storage__bitpack32(sorted_ids, w->n, width, packed);
    part_begin(w->o, &sc->parts[ST_P_IDS]);
    uint8_t hdr[8] = {(uint8_t)width};
    out_write(w->o, hdr, 8);
    out_write(w->o, packed, storage__bitpack_size(w->n, width));
    part_end(w->o, &sc->parts[ST_P_IDS]);

    /* rows grouped by id (a counting sort keeps them ascending within an id);
     * afterwards cnt[id] is the end of id's run and cnt[id - 1] its start */
    for (uint32_t i = 1; i <= nid; i++)
        cnt[i] += cnt[i - 1];
    for (uint64_t r = 0; r < w->n; r++)
        rowsby[cnt[sorted_ids[r]]++] = (uint32_t)r;
    part_begin(w->o, &sc->parts[ST_P_BITMAPS]);
    uint64_t lbytes, cbytes;
    ef_sizes(cnt, nid, w->n, &lbytes, &cbytes);
    uint64_t ef = lbytes + cbytes + ((uint64_t)nid + ST_EF_GROUP - 1) / ST_EF_GROUP * 16 + 24;
    if (ef < roaring_bytes(cnt, rowsby, nid) / 2)
        write_ef(w->o, cnt, rowsby, nid, w->n);
    else
        write_roarings(w->o, cnt, rowsby, nid);
    part_end(w->o, &sc->parts[ST_P_BITMAPS]);
done:
    free(sorted_ids);
    free(packed);
    free(cnt);
    free(rowsby);
}

/* ---- footer -------------------------------------------------------------- */

static void put8(struct buf *f, uint8_t v) { buf_append(f, &v, 1); }
static void put16(struct buf *f, uint16_t v) { buf_append(f, &v, 2); }
static void put32(struct buf *f, uint32_t v) { buf_append(f, &v, 4); }
static void put64(struct buf *f, uint64_t v) { buf_append(f, &v, 8); }

static void write_footer(struct out *o, const struct storage__schema *sch,
                         const struct storage__scol *cols, uint64_t n, int64_t mn, int64_t mx,
                         int64_t cs, int64_t ce, bool zstd)
{
    struct buf f;
    buf_init(&f, 0);
    put64(&f, n);
    put64(&f, (uint64_t)mn);
    put64(&f, (uint64_t)mx);
    put64(&f, (uint64_t)cs);
    put64(&f, (uint64_t)ce);
    put8(&f, (uint8_t)sch->type);
    put8(&f, (uint8_t)sch->partitioning);
    put8(&f, (uint8_t)sch->time_resolution);
    put8(&f, zstd ? 1 : 0);
    put32(&f, (uint32_t)sch->ncols);
    for (size_t i = 0; i < sch->ncols; i++) {
        const struct storage__scol *c = &cols[i];
        size_t nl = strlen(c->def.name);
        put16(&f, (uint16_t)nl);
        buf_append(&f, c->def.name, nl);
        put8(&f, c->def.type);
        put8(&f, c->def.kind);
        put8(&f, c->enc);
        put8(&f, c->nparts);
        put8(&f, (uint8_t)c->def.agg.kind);
        put8(&f, c->def.agg.arg_type);
        put8(&f, c->def.agg.result_type);
        put8(&f, c->def.agg.nargs);
        put8(&f, c->def.agg.distinct);
        put8(&f, (uint8_t)c->id_width);
        put8(&f, c->def.elem); /* ARRAY: 0 multi-value string, else the element type */
        put8(&f, 0);
        put32(&f, c->def.agg.max_bytes);
        put32(&f, c->dict_count);
        put32(&f, c->state_size);
        for (unsigned p = 0; p < c->nparts; p++) {
            put64(&f, c->parts[p].off);
            put64(&f, c->parts[p].len);
            put32(&f, c->parts[p].crc);
        }
    }
    if (f.failed) {
        oom(o);
        buf_free(&f);
        return;
    }
    uint64_t foff = o->pos;
    out_write(o, f.data, f.len);
    uint8_t tr[ST_TRAILER_SIZE] = {0};
    storage__put_u64(tr, foff);
    storage__put_u64(tr + 8, f.len);
    storage__put_u32(tr + 16, util_crc32c(0, f.data, f.len));
    storage__put_u32(tr + 20, ST_FORMAT_VERSION);
    memcpy(tr + 24, ST_TRAILER_MAGIC, 8);
    out_write(o, tr, sizeof tr);
    buf_free(&f);
}

/* ---- the whole file ------------------------------------------------------ */

void storage__seg_name(int64_t chunk_start, char out[96])
{
    static atomic_uint_fast64_t seq;
    char when[40];
    if (chunk_start == INT64_MIN) {
        snprintf(when, sizeof when, "all");
    } else {
        util_format_iso_ms(chunk_start, when);
        for (char *p = when; *p; p++)
            if (*p == ':')
                *p = '-';
    }
    uint8_t rnd[8];
    struct lerr e;
    lerr_init(&e);
    if (util_random_bytes(rnd, sizeof rnd, &e) != 0) {
        uint64_t x = util_mix64((uint64_t)util_now_ns() ^ atomic_fetch_add(&seq, 1));
        memcpy(rnd, &x, 8);
    }
    snprintf(out, 96, "%s_%02x%02x%02x%02x%02x%02x%02x%02x%s", when, rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], ST_FILE_SUFFIX);
}

/*
 * Detail tables sort by __time alone, ties in arrival order: keys
 * (time - min) << row bits | row, already in row order, take a stable LSD
 * radix sort on their time bits only, 11 bits a pass (3 passes for a day
 * in ms). False (nothing done) when the key does not fit 64 bits or memory
 * is short; the caller sorts by comparison then.
 */
static bool radix_sort_time(const int64_t *t, uint64_t n, uint32_t *perm)
{
    if (n < 2)
        return n == 1 ? (perm[0] = 0, true) : true;
    int64_t mn = t[0], mx = t[0];
    for (uint64_t r = 1; r < n; r++) {
        mn = t[r] < mn ? t[r] : mn;
        mx = t[r] > mx ? t[r] : mx;
    }
    unsigned rb = storage__bits_for((uint64_t)mx - (uint64_t)mn), wb = storage__bits_for(n - 1);
    if (rb + wb > 64)
        return false;
    uint64_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    uint64_t *cnt = malloc(2048 * sizeof *cnt);
    if (!a || !b || !cnt) {
        free(a);
        free(b);
        free(cnt);
        return false;
    }
    for (uint64_t r = 0; r < n; r++)
        a[r] = ((uint64_t)t[r] - (uint64_t)mn) << wb | r;
    for (unsigned sh = wb; sh < wb + rb; sh += 11) {
        memset(cnt, 0, 2048 * sizeof *cnt);
        for (uint64_t i = 0; i < n; i++)
            cnt[(a[i] >> sh) & 2047]++;
        uint64_t pos = 0;
        for (unsigned d = 0; d < 2048; d++) {
            uint64_t c = cnt[d];
            cnt[d] = pos;
            pos += c;
        }
        for (uint64_t i = 0; i < n; i++)
            b[cnt[(a[i] >> sh) & 2047]++] = a[i];
        uint64_t *x = a;
        a = b;
        b = x;
    }
    uint64_t mask = (1ULL << wb) - 1;
    for (uint64_t i = 0; i < n; i++)
        perm[i] = (uint32_t)(a[i] & mask);
    free(a);
    free(b);
    free(cnt);
    return true;
}

static bool is_sorted_time(const int64_t *t, uint64_t n)
{
    for (uint64_t i = 1; i < n; i++)
        if (t[i] < t[i - 1])
            return false;
    return true;
}

static int write_body(struct wctx *w, struct storage__scol *cols, const int64_t *t,
                      struct storage_segment_info *info)
{
    const struct storage__schema *sch = w->sc;
    uint8_t hdr[ST_HEADER_SIZE] = {0};
    memcpy(hdr, ST_MAGIC, 8);
    storage__put_u32(hdr + 8, ST_FORMAT_VERSION);
    storage__put_u32(hdr + 12, util_crc32c(0, hdr, 12));
    out_write(w->o, hdr, sizeof hdr);
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (uint64_t r = 0; r < w->n; r++) {
        mn = t[r] < mn ? t[r] : mn;
        mx = t[r] > mx ? t[r] : mx;
    }
    for (size_t c = 0; c < sch->ncols && !w->o->failed; c++) {
        struct storage__scol *sc = &cols[c];
        sc->def = sch->cols[c];
        sc->state_size = sch->state_size[c];
        int type = sch->cols[c].type;
        if (c == 0) {
            sc->enc = ST_ENC_TIME;
            write_time(w, sc, t);
        } else if (sch->cols[c].kind == STORAGE_MEASURE) {
            sc->enc = ST_ENC_STATE;
            write_var(w, c, sc);
            sc->nparts = 1;
        } else if (storage__is_dict(type)) {
            /* ARRAY (multi-value strings): the same parts, one entry per list */
            sc->enc = ST_ENC_STRING;
            write_string(w, c, sc);
        } else if (type == SQL_JSON) {
            sc->enc = ST_ENC_TEXT;
            write_var(w, c, sc);
        } else {
            sc->enc = type == SQL_FLOAT    ? ST_ENC_FLOAT
                      : type == SQL_DOUBLE ? ST_ENC_DOUBLE
                                           : ST_ENC_LONG;
            write_numeric(w, c, sc);
        }
    }
    /* after a failure the columns past it are not filled in: no footer then */
    if (w->o->failed)
        return -1;
    int64_t cs, ce;
    rt_chunk(w->b, &cs, &ce);
    write_footer(w->o, sch, cols, w->n, mn, mx, cs, ce, w->zstd);
    info->chunk_start = cs;
    info->chunk_end = ce;
    info->rows = w->n;
    info->min_time = mn;
    info->max_time = mx;
    return w->o->failed ? -1 : 0;
}

int storage__seg_write(struct segstore *store, const char *name, const struct storage__schema *sch,
                       const struct rt_buf *b, uint64_t n, bool try_zstd,
                       struct storage_segment_info *info, struct lerr *err)
{
    if (n > UINT32_MAX)
        return lerr_set(err, LERR_INVALID, "storage: a segment holds at most %u rows", UINT32_MAX);
    size_t nc = sch->ncols;
    struct segstore_temp tmp = {.fd = -1};
    int64_t *t = malloc((n ? n : 1) * sizeof *t);
    uint32_t *perm = malloc((n ? n : 1) * sizeof *perm);
    struct storage__scol *cols = calloc(nc, sizeof *cols);
    struct sdict *dicts = calloc(nc, sizeof *dicts);
    uint32_t **ids = calloc(nc, sizeof *ids);
    struct sortkey *keys = calloc(nc, sizeof *keys);
    void **owned = calloc(nc * 2, sizeof *owned);
    size_t nowned = 0;
    struct out o = {.fd = -1, .err = err};
    buf_init(&o.b, 0);
    int rc = -1;
    if (!t || !perm || !cols || !dicts || !ids || !keys || !owned) {
        lerr_set(err, LERR_NOMEM, "storage: out of memory writing a segment");
        goto out;
    }
    o.path = name;
    o.dir = store->where;
    for (uint64_t r0 = 0; r0 < n; r0 += ST_BLOCK) {
        uint32_t m = storage__block_rows(n, r0 / ST_BLOCK);
        rt_read_time(b, r0, m, t + r0);
    }
    for (uint64_t r = 0; r < n; r++)
        perm[r] = (uint32_t)r;

    /* string dictionaries (needed to write, and to sort aggregate rows) */
    size_t nbcols = rt_ncols(b);
    struct wctx w = {.o = &o,
                     .sc = sch,
                     .b = b,
                     .n = n,
                     .perm = perm,
                     .zstd = try_zstd,
                     .dicts = dicts,
                     .ids = ids};
    for (size_t c = 1; c < nc; c++) {
        if (sch->cols[c].kind != STORAGE_DIMENSION || !storage__is_dict(sch->cols[c].type))
            continue;
        ids[c] = calloc(n ? n : 1, sizeof *ids[c]);
        if (!ids[c]) {
            lerr_set(err, LERR_NOMEM, "storage: out of memory writing a segment");
            goto out;
        }
        for (uint64_t r0 = 0; c < nbcols && r0 < n; r0 += ST_BLOCK) {
            uint32_t m = storage__block_rows(n, r0 / ST_BLOCK);
            rt_read_ids(b, c, r0, m, ids[c] + r0);
        }
        if (!sdict_build(b, c, ids[c], c < nbcols ? n : 0, &dicts[c])) {
            lerr_set(err, LERR_NOMEM, "storage: out of memory writing a segment");
            goto out;
        }
    }

    /* order: __time, then (aggregate tables) every dimension */
    size_t nkeys = 0;
    if (sch->type == STORAGE_AGGREGATE) {
        for (size_t c = 1; c < nc && c < nbcols; c++) {
            const struct storage_column *def = &sch->cols[c];
            if (def->kind != STORAGE_DIMENSION)
                continue;
            struct sortkey *k = &keys[nkeys++];
            if (storage__is_dict(def->type)) {
                uint32_t *rank = malloc((n ? n : 1) * sizeof *rank);
                if (!rank)
                    goto nomem;
                owned[nowned++] = rank;
                for (uint64_t r = 0; r < n; r++)
                    rank[r] = dicts[c].newid[ids[c][r]];
                k->cls = 0;
                k->rank = rank;
                continue;
            }
            bool *nulls = malloc(n ? n : 1);
            owned[nowned++] = nulls;
            if (def->type == SQL_JSON) {
                struct sql_value *s = malloc((n ? n : 1) * sizeof *s);
                owned[nowned++] = s;
                if (!nulls || !s)
                    goto nomem;
                for (uint64_t r = 0; r < n; r++) {
                    rt_read_text(b, c, r, 1, &s[r], SQL_JSON);
                    nulls[r] = s[r].is_null;
                }
                k->cls = 3;
                k->s = s;
            } else {
                int64_t *l = malloc((n ? n : 1) * sizeof *l);
                owned[nowned++] = l;
                if (!nulls || !l)
                    goto nomem;
                for (uint64_t r0 = 0; r0 < n; r0 += ST_BLOCK) {
                    uint32_t m = storage__block_rows(n, r0 / ST_BLOCK);
                    rt_read_longs(b, c, r0, m, l + r0, nulls + r0);
                }
                k->cls = storage__is_doubleish(def->type) ? 2 : 1;
                k->l = l;
                k->d = (const double *)l;
            }
            k->nulls = nulls;
        }
    }
    if ((nkeys || !is_sorted_time(t, n)) && (nkeys || !radix_sort_time(t, n, perm))) {
        struct sortctx sctx = {.t = t, .nkeys = nkeys, .keys = keys};
        qsort_r(perm, n, sizeof *perm, row_cmp, &sctx);
    }

    /* the file I/O: a temporary file from the store, made durable by segstore_put */
    if (segstore_temp_create(store, name, &tmp, err))
        goto out;
    o.fd = tmp.fd;
    o.path = tmp.path;
    o.dir = tmp.where;
    info->name = name;
    if (write_body(&w, cols, t, info) != 0 || out_flush(&o) != 0)
        goto out;
    info->bytes = o.pos;
    o.fd = -1;
    if (segstore_put(store, &tmp, err) != 0) /* ends tmp either way */
        goto out;
    info->stored_ns = util_boot_ns();
    rc = 0;
    goto out;
nomem:
    lerr_set(err, LERR_NOMEM, "storage: out of memory writing a segment");
out:
    if (tmp.path) /* created, never put */
        segstore_temp_abort(store, &tmp);
    buf_free(&o.b);
    for (size_t c = 0; c < nc; c++) {
        if (dicts)
            sdict_free(&dicts[c]);
        if (ids)
            free(ids[c]);
    }
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(keys);
    free(ids);
    free(dicts);
    free(cols);
    free(perm);
    free(t);
    return rc;
}
