/*
 * segread.c — segment files for reading: mapped through the segment store
 * (segstore.h), the cheap checks at open
 * (header, trailer, footer checksum and every field of the footer, plus the
 * string dictionaries, which the read API uses without an error path), the
 * per-part checks on first use (checksum and structure), and decoding of
 * blocks, ids, dictionaries and bitmaps.
 *
 * Entry points: storage__seg_open(), storage__seg_open_mem(), storage__seg_verify_all(),
 * storage__seg_ref/unref(), storage__seg_part(), storage__seg_block_fixed/var(),
 * storage__seg_null_flags(), storage__seg_ids(), storage__seg_dict_entry/lower(),
 * storage__seg_bitmap(), storage__seg_null_bitmap(); storage_segment_verify(_mem)().
 *
 * Everything read from the file is hostile until checked: lengths are
 * compared with the bytes present before use, and a failed check yields
 * LERR_CORRUPT naming the file, column, part and offset, marks the segment
 * corrupt (the table stops showing it), and never crashes.
 * Thread-safety: a segment is shared by readers; lazily built pieces are
 * published with compare-and-swap, and a part checked twice at once is only
 * wasted work.
 *
 * Why one file of ~1,200 lines: it is the reader of one format (segwrite.c's),
 * opening, validating and decoding every part; the checks must match the layout exactly.
 */
#include <stdio.h>

#include "storage/storage_int.h"

#include <zstd.h>

static const char *const part_names[8][ST_MAX_PARTS] = {
    [ST_ENC_TIME] = {"time"},
    [ST_ENC_LONG] = {"data", "nulls"},
    [ST_ENC_DOUBLE] = {"data", "nulls"},
    [ST_ENC_FLOAT] = {"data", "nulls"},
    [ST_ENC_STRING] = {"dict", "ids", "bitmaps"},
    [ST_ENC_TEXT] = {"data", "nulls"},
    [ST_ENC_STATE] = {"states"},
};

static const uint8_t enc_nparts[8] = {
    [ST_ENC_TIME] = 1,   [ST_ENC_LONG] = 2, [ST_ENC_DOUBLE] = 2, [ST_ENC_FLOAT] = 2,
    [ST_ENC_STRING] = 3, [ST_ENC_TEXT] = 2, [ST_ENC_STATE] = 1,
};

#define HINT "the segment is skipped; restore the file or remove it from the table"

int storage__seg_corrupt(struct storage__seg *s, size_t col, unsigned part, uint64_t off,
                         struct lerr *err, const char *what)
{
    const struct storage__scol *c = &s->cols[col];
    const char *pn = c->enc < 8 && part < ST_MAX_PARTS && part_names[c->enc][part]
                         ? part_names[c->enc][part]
                         : "?";
    char msg[sizeof s->corrupt_msg];
    snprintf(msg, sizeof msg, "segment %s: column '%s', part '%s' at file offset %llu: %s; " HINT,
             s->name, c->def.name, pn, (unsigned long long)(c->parts[part].off + off), what);
    if (!atomic_exchange(&s->claimed, true)) {
        memcpy(s->corrupt_msg, msg, sizeof msg);
        atomic_store_explicit(&s->corrupt, true, memory_order_release);
        log_msg(LOG_ERROR, "storage", "%s", msg);
    }
    return lerr_set(err, LERR_CORRUPT, "%s", msg);
}

static int bad_file(const char *name, uint64_t off, struct lerr *err, const char *what)
{
    return lerr_set(err, LERR_CORRUPT, "segment %s: %s (file offset %llu); " HINT, name, what,
                    (unsigned long long)off);
}

/* ---- footer parsing ------------------------------------------------------ */

struct rd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t k)
{
    if (r->bad || k > r->n - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += k;
    return p;
}

static uint8_t rd8(struct rd *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? *p : 0;
}
static uint16_t rd16(struct rd *r)
{
    const uint8_t *p = rd_take(r, 2);
    uint16_t v = 0;
    if (p)
        memcpy(&v, p, 2);
    return v;
}
static uint32_t rd32(struct rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p ? storage__get_u32(p) : 0;
}
static uint64_t rd64(struct rd *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? storage__get_u64(p) : 0;
}

static bool enc_fits(int enc, const struct storage_column *d, size_t index)
{
    if (index == 0)
        return enc == ST_ENC_TIME && d->kind == STORAGE_DIMENSION && d->type == SQL_TIMESTAMP;
    if (d->kind == STORAGE_MEASURE)
        return enc == ST_ENC_STATE;
    if (d->kind != STORAGE_DIMENSION)
        return false;
    switch (enc) {
    case ST_ENC_LONG: return d->type == SQL_LONG || d->type == SQL_TIMESTAMP;
    case ST_ENC_DOUBLE: return d->type == SQL_DOUBLE;
    case ST_ENC_FLOAT: return d->type == SQL_FLOAT;
    case ST_ENC_STRING: return storage__is_dict(d->type);
    case ST_ENC_TEXT: return d->type == SQL_JSON;
    default: return false;
    }
}

static int parse_footer(struct storage__seg *s, const uint8_t *f, size_t flen, uint64_t foff,
                        struct lerr *err)
{
    struct rd r = {.p = f, .n = flen};
    s->nrows = rd64(&r);
    s->min_time = (int64_t)rd64(&r);
    s->max_time = (int64_t)rd64(&r);
    s->chunk_start = (int64_t)rd64(&r);
    s->chunk_end = (int64_t)rd64(&r);
    s->table_type = rd8(&r);
    s->partitioning = rd8(&r);
    s->time_resolution = rd8(&r);
    s->flags = rd8(&r);
    uint32_t ncols = rd32(&r);
    if (r.bad)
        return bad_file(s->name, foff, err, "footer too short");
    if (s->nrows > UINT32_MAX || ncols == 0 || ncols > STORAGE_MAX_COLUMNS ||
        s->table_type > STORAGE_AGGREGATE || s->partitioning > STORAGE_GRAN_ALL ||
        s->time_resolution > STORAGE_GRAN_DAY || (s->nrows && s->min_time > s->max_time) ||
        s->chunk_start > s->chunk_end)
        return bad_file(s->name, foff, err, "footer fields out of range");
    s->cols = calloc(ncols, sizeof *s->cols);
    if (!s->cols)
        return lerr_set(err, LERR_NOMEM, "storage: out of memory opening segment %s", s->name);
    s->ncols = 0;
    uint64_t data_end = foff;
    for (uint32_t i = 0; i < ncols; i++) {
        struct storage__scol *c = &s->cols[i];
        size_t at = r.off;
        uint16_t nl = rd16(&r);
        const uint8_t *name = rd_take(&r, nl);
        if (!name || nl == 0 || nl > STORAGE_MAX_NAME || memchr(name, 0, nl))
            return bad_file(s->name, foff + at, err, "bad column name in the footer");
        char *nm = malloc(nl + 1u);
        if (!nm)
            return lerr_set(err, LERR_NOMEM, "storage: out of memory opening segment %s", s->name);
        memcpy(nm, name, nl);
        nm[nl] = 0;
        c->def.name = nm;
        s->ncols = i + 1; /* owns the name from here */
        c->def.type = rd8(&r);
        c->def.kind = rd8(&r);
        c->enc = rd8(&r);
        c->nparts = rd8(&r);
        uint8_t ak = rd8(&r);
        c->def.agg.arg_type = rd8(&r);
        c->def.agg.result_type = rd8(&r);
        c->def.agg.nargs = rd8(&r);
        uint8_t distinct = rd8(&r);
        c->id_width = rd8(&r);
        c->def.elem = rd8(&r); /* files before typed arrays hold 0 here */
        (void)rd8(&r);
        c->def.agg.max_bytes = rd32(&r);
        c->dict_count = rd32(&r);
        c->state_size = rd32(&r);
        if (r.bad)
            return bad_file(s->name, foff + at, err, "footer too short");
        c->def.agg.kind = (enum sql_agg_kind)(ak < SQL__AGG_COUNT ? ak : 0);
        c->def.agg.distinct = distinct != 0;
        if (c->enc >= 8 || enc_nparts[c->enc] == 0 || c->nparts != enc_nparts[c->enc] ||
            c->def.type >= SQL__TYPE_COUNT || c->def.kind > STORAGE_MEASURE ||
            !enc_fits(c->enc, &c->def, i) || ak >= SQL__AGG_COUNT || distinct > 1 ||
            (c->def.elem != SQL_NULL &&
             (c->def.type != SQL_ARRAY || !storage_array_elem_ok(c->def.elem))))
            return bad_file(s->name, foff + at, err, "column description out of range");
        if (c->def.kind == STORAGE_MEASURE &&
            (c->def.agg.result_type != c->def.type || c->state_size == 0 ||
             c->state_size != sql_agg_state_size(&c->def.agg)))
            return bad_file(s->name, foff + at, err,
                            "measure's aggregator does not match this build's state size");
        if (c->enc == ST_ENC_STRING &&
            (c->dict_count > s->nrows || c->id_width != storage__bits_for(c->dict_count)))
            return bad_file(s->name, foff + at, err, "dictionary size out of range");
        for (unsigned p = 0; p < c->nparts; p++) {
            c->parts[p].off = rd64(&r);
            c->parts[p].len = rd64(&r);
            c->parts[p].crc = rd32(&r);
            atomic_init(&c->parts[p].checked, 0);
            if (r.bad || c->parts[p].off < ST_HEADER_SIZE || c->parts[p].off > data_end ||
                c->parts[p].len > data_end - c->parts[p].off)
                return bad_file(s->name, foff + at, err, "part outside the file's data area");
        }
        atomic_init(&c->nulls, NULL);
        atomic_init(&c->bitmaps, NULL);
        atomic_init(&c->dict_heap, NULL);
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(s->cols[j].def.name, nm) == 0)
                return bad_file(s->name, foff + at, err, "a column name appears twice");
    }
    if (r.off != r.n)
        return bad_file(s->name, foff + r.off, err, "trailing bytes in the footer");
    return 0;
}

/* ---- open ---------------------------------------------------------------- */

static int verify_dicts(struct storage__seg *s, struct lerr *err)
{
    for (size_t i = 0; i < s->ncols; i++) {
        if (s->cols[i].enc != ST_ENC_STRING)
            continue;
        const uint8_t *p;
        uint64_t n;
        if (storage__seg_part(s, i, ST_P_DICT, &p, &n, err))
            return -1;
    }
    return 0;
}

static int parse(struct storage__seg *s, struct lerr *err)
{
    const uint8_t *m = s->map;
    size_t n = s->size;
    if (n < ST_HEADER_SIZE + ST_TRAILER_SIZE)
        return bad_file(s->name, 0, err, "file too short to be a segment (truncated?)");
    if (memcmp(m, ST_MAGIC, 8) != 0)
        return bad_file(s->name, 0, err, "not a segment file (wrong magic)");
    if (storage__get_u32(m + 12) != util_crc32c(0, m, 12))
        return bad_file(s->name, 0, err, "header checksum mismatch");
    if (storage__get_u32(m + 8) != ST_FORMAT_VERSION)
        return lerr_set(err, LERR_CORRUPT,
                        "segment %s: format version %u, this build reads version %u; " HINT,
                        s->name, storage__get_u32(m + 8), ST_FORMAT_VERSION);
    const uint8_t *tr = m + n - ST_TRAILER_SIZE;
    if (memcmp(tr + 24, ST_TRAILER_MAGIC, 8) != 0)
        return bad_file(s->name, n - ST_TRAILER_SIZE, err,
                        "no segment trailer at the end (truncated or overwritten)");
    if (storage__get_u32(tr + 20) != ST_FORMAT_VERSION)
        return bad_file(s->name, n - ST_TRAILER_SIZE + 20, err, "trailer version mismatch");
    uint64_t foff = storage__get_u64(tr), flen = storage__get_u64(tr + 8);
    if (foff < ST_HEADER_SIZE || foff > n - ST_TRAILER_SIZE || flen != n - ST_TRAILER_SIZE - foff)
        return bad_file(s->name, n - ST_TRAILER_SIZE, err, "footer position out of range");
    if (util_crc32c(0, m + foff, flen) != storage__get_u32(tr + 16))
        return bad_file(s->name, foff, err, "footer checksum mismatch");
    if (parse_footer(s, m + foff, flen, foff, err))
        return -1;
    s->empty = roaring_bitmap_create();
    s->all = s->nrows ? roaring_bitmap_from_range(0, s->nrows, 1) : roaring_bitmap_create();
    if (!s->empty || !s->all)
        return lerr_set(err, LERR_NOMEM, "storage: out of memory opening segment %s", s->name);
    if (verify_dicts(s, err))
        return -1;
    /* Every part's checksum (and structure) now, not on its first read: a damaged
     * segment is known before any query counts on it. CRC-32C runs at memory speed. */
    for (size_t i = 0; i < s->ncols; i++) {
        for (unsigned p = 0; p < s->cols[i].nparts; p++) {
            const uint8_t *d;
            uint64_t len;
            if (storage__seg_part(s, i, p, &d, &len, err))
                return -1;
        }
    }
    return 0;
}

static struct storage__seg *seg_alloc(const char *name)
{
    struct storage__seg *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = strdup(name);
    if (!s->name) {
        free(s);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->obsolete, false);
    atomic_init(&s->corrupt, false);
    atomic_init(&s->claimed, false);
    return s;
}

int storage__seg_open_mem(const void *p, size_t n, const char *name, struct storage__seg **out,
                          struct lerr *err)
{
    *out = NULL;
    struct storage__seg *s = seg_alloc(name);
    if (!s)
        return lerr_set(err, LERR_NOMEM, "storage: out of memory opening segment %s", name);
    s->map = p;
    s->size = n;
    if (parse(s, err)) {
        storage__seg_unref(s);
        return err->code ? err->code : LERR_CORRUPT;
    }
    *out = s;
    return 0;
}

int storage__seg_open(struct segstore *store, const char *name, struct storage__seg **out,
                      struct lerr *err)
{
    *out = NULL;
    struct segstore_map m;
    if (segstore_open(store, name, &m, err))
        return err->code;
    struct storage__seg *s = seg_alloc(name);
    if (!s) {
        segstore_close(store, &m);
        return lerr_set(err, LERR_NOMEM, "storage: out of memory opening segment %s", name);
    }
    s->store = segstore_ref(store);
    s->smap = m;
    s->map = m.p;
    s->size = m.n;
    if (parse(s, err)) {
        int code = err->code ? err->code : LERR_CORRUPT;
        storage__seg_unref(s);
        return code;
    }
    *out = s;
    return 0;
}

struct storage__seg *storage__seg_ref(struct storage__seg *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void storage__seg_unref(struct storage__seg *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->ncols; i++) {
        struct storage__scol *c = &s->cols[i];
        free((char *)c->def.name);
        free(atomic_load(&c->dict_heap));
        storage__bitmap_free(atomic_load(&c->nulls));
        _Atomic(roaring_bitmap_t *) *bms = atomic_load(&c->bitmaps);
        if (bms) {
            for (uint64_t id = 0; id <= c->dict_count; id++)
                storage__bitmap_free(atomic_load(&bms[id]));
            free(bms);
        }
    }
    free(s->cols);
    storage__bitmap_free(s->empty);
    storage__bitmap_free(s->all);
    if (s->store) {
        segstore_close(s->store, &s->smap);
        if (atomic_load(&s->obsolete))
            segstore_remove(s->store, s->name, &(struct lerr){0});
        segstore_unref(s->store);
    }
    free(s->owned);
    free(s->name);
    free(s);
}

uint64_t storage__seg_file_bytes(const struct storage__seg *s) { return s->size; }

/* ---- part checks --------------------------------------------------------- */

static bool enc_is_blocked(int enc, unsigned part)
{
    return part == ST_P_DATA && enc != ST_ENC_STRING;
}

/* Bytes per row of a fixed-width blocked part; 0 for variable-width. */
static size_t fixed_width(int enc)
{
    switch (enc) {
    case ST_ENC_TIME:
    case ST_ENC_LONG:
    case ST_ENC_DOUBLE: return 8;
    case ST_ENC_FLOAT: return 4;
    default: return 0;
    }
}

static uint64_t nblocks_for(uint64_t rows) { return (rows + ST_BLOCK - 1) / ST_BLOCK; }

static int check_blocked(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                         struct lerr *err)
{
    const struct storage__scol *c = &s->cols[col];
    uint64_t nb = nblocks_for(s->nrows);
    if (len < 8 || storage__get_u32(p + len - 8) != nb || (len - 8) / 24 < nb)
        return storage__seg_corrupt(s, col, ST_P_DATA, len < 8 ? 0 : len - 8, err,
                                    "block count does not match the row count");
    uint64_t dir = len - 8 - nb * 24;
    size_t fw = fixed_width(c->enc);
    for (uint64_t b = 0; b < nb; b++) {
        const uint8_t *e = p + dir + b * 24;
        uint64_t off = storage__get_u64(e);
        uint32_t clen = storage__get_u32(e + 8), rawlen = storage__get_u32(e + 12);
        uint8_t codec = e[16];
        uint32_t m = storage__block_rows(s->nrows, b);
        bool ok = off <= dir && clen <= dir - off && codec < ST_CODEC__COUNT;
        if (fw)
            ok = ok && rawlen == (uint64_t)m * fw && (fw == 8 || !storage__codec_is_int(codec)) &&
                 (c->enc != ST_ENC_DOUBLE || !storage__codec_is_int(codec));
        else
            ok = ok && rawlen >= (uint64_t)m * 4 && rawlen <= ST_MAX_BLOCK_BYTES &&
                 !storage__codec_is_int(codec);
        if (!ok)
            return storage__seg_corrupt(s, col, ST_P_DATA, dir + b * 24, err,
                                        "bad block directory entry");
    }
    return 0;
}

/* Deserializes a portable roaring bitmap of exactly n bytes whose values
 * are all < nrows; NULL if it is not one. */
static roaring_bitmap_t *load_bitmap(const uint8_t *p, uint64_t n, uint64_t nrows)
{
    if (roaring_bitmap_portable_deserialize_size((const char *)p, n) != n)
        return NULL;
    roaring_bitmap_t *bm = roaring_bitmap_portable_deserialize_safe((const char *)p, n);
    if (bm && !roaring_bitmap_is_empty(bm) && roaring_bitmap_maximum(bm) >= nrows) {
        storage__bitmap_free(bm);
        bm = NULL;
    }
    return bm;
}

static int check_nulls(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                       struct lerr *err)
{
    struct storage__scol *c = &s->cols[col];
    if (len == 0)
        return 0;
    roaring_bitmap_t *bm = load_bitmap(p, len, s->nrows);
    if (!bm)
        return storage__seg_corrupt(s, col, ST_P_NULLS, 0, err, "not a valid null bitmap");
    roaring_bitmap_t *expect = NULL;
    if (!atomic_compare_exchange_strong(&c->nulls, &expect, bm))
        storage__bitmap_free(bm);
    return 0;
}

/* The plain layout: header, offsets in range and ascending, values strictly
 * ascending (binary search and ids rely on it). */
static int check_plain_dict(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                            struct lerr *err)
{
    const struct storage__scol *c = &s->cols[col];
    uint64_t cnt = c->dict_count;
    if (len < 8 || storage__get_u32(p) != cnt || (len - 8) / 4 < cnt + 1)
        return storage__seg_corrupt(s, col, ST_P_DICT, 0, err, "dictionary header does not match");
    const uint8_t *offs = p + 8;
    const uint8_t *bytes = offs + (cnt + 1) * 4;
    uint64_t avail = len - 8 - (cnt + 1) * 4;
    uint64_t prev = storage__get_u32(offs);
    if (prev != 0)
        return storage__seg_corrupt(s, col, ST_P_DICT, 8, err,
                                    "dictionary offsets do not start at 0");
    const uint8_t *pv = NULL;
    uint64_t pvn = 0;
    for (uint64_t i = 1; i <= cnt; i++) {
        uint64_t o = storage__get_u32(offs + i * 4);
        if (o < prev || o > avail)
            return storage__seg_corrupt(s, col, ST_P_DICT, 8 + i * 4, err,
                                        "dictionary offset out of range");
        const uint8_t *v = bytes + prev;
        uint64_t vn = o - prev;
        /* a multi-value string's entry is a row's list, a typed array's an
         * array (the empty entry the empty array): it must be whole */
        if (c->def.type == SQL_ARRAY && c->def.elem != SQL_NULL &&
            storage_array_decode(c->def.elem, (const char *)v, vn, NULL, 0) < 0) {
            char what[200];
            snprintf(what, sizeof what,
                     "array %llu is not a whole array of %s (%llu bytes: each element is a "
                     "4-byte length and its bytes%s)",
                     (unsigned long long)i, sql_type_name(c->def.elem), (unsigned long long)vn,
                     c->def.elem == SQL_STRING ? "" : ", 8 for a number");
            return storage__seg_corrupt(s, col, ST_P_DICT, 8 + i * 4, err, what);
        }
        if (c->def.type == SQL_ARRAY && c->def.elem == SQL_NULL &&
            (vn == 0 || storage_mv_decode((const char *)v, vn, NULL, 0) < 0)) {
            char what[160];
            snprintf(what, sizeof what,
                     "multi-value list %llu is not a whole list of values (%llu bytes: each value "
                     "is a 4-byte length and its bytes)",
                     (unsigned long long)i, (unsigned long long)vn);
            return storage__seg_corrupt(s, col, ST_P_DICT, 8 + i * 4, err, what);
        }
        if (i > 1) {
            int cmpv = memcmp(pv, v, pvn < vn ? pvn : vn);
            if (cmpv > 0 || (cmpv == 0 && pvn >= vn))
                return storage__seg_corrupt(s, col, ST_P_DICT, 8 + i * 4, err,
                                            "dictionary values are not sorted");
        }
        pv = v;
        pvn = vn;
        prev = o;
    }
    return 0;
}

static bool get_varint(const uint8_t *p, uint64_t n, uint64_t *at, uint32_t *v)
{
    uint32_t r = 0;
    for (unsigned sh = 0; sh < 35; sh += 7) {
        if (*at >= n)
            return false;
        uint8_t b = p[(*at)++];
        if (sh == 28 && b > 0x0f)
            return false;
        r |= (uint32_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* The front-coded layout (see segwrite.c): decompressed, then rebuilt in
 * the plain layout on the heap, every length checked on the way. */
static uint8_t *decode_front_dict(struct storage__seg *s, size_t col, const uint8_t *p,
                                  uint64_t len, uint64_t *plain_len, struct lerr *err)
{
    const struct storage__scol *c = &s->cols[col];
    uint64_t cnt = c->dict_count;
    if (len < 16 || storage__get_u32(p) != cnt) {
        storage__seg_corrupt(s, col, ST_P_DICT, 0, err, "dictionary header does not match");
        return NULL;
    }
    uint64_t fclen = storage__get_u64(p + 8);
    unsigned long long fsz = ZSTD_getFrameContentSize(p + 16, len - 16);
    /* each value costs at least two bytes of stream; a suffix at most its
     * own bytes plus ten of lengths */
    if (fclen < 2 * cnt || (cnt == 0 && fclen != 0) || (fclen && fsz != fclen) ||
        fclen > ((uint64_t)UINT32_MAX) + 10 * cnt) {
        storage__seg_corrupt(s, col, ST_P_DICT, 8, err, "dictionary stream length does not match");
        return NULL;
    }
    uint8_t *fc = malloc(fclen ? fclen : 1);
    if (!fc) {
        lerr_set(err, LERR_NOMEM, "storage: out of memory reading segment %s", s->name);
        return NULL;
    }
    uint8_t *out = NULL;
    if (fclen && !storage__zstd_decode(p + 16, len - 16, fc, fclen)) {
        storage__seg_corrupt(s, col, ST_P_DICT, 16, err, "dictionary stream does not decompress");
        goto fail;
    }
    /* first pass: lengths, to size the plain layout */
    uint64_t at = 0, total = 0;
    uint32_t prevn = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        uint32_t k, m;
        if (!get_varint(fc, fclen, &at, &k) || !get_varint(fc, fclen, &at, &m) || k > prevn ||
            m > fclen - at || (uint64_t)k + m > UINT32_MAX) {
            storage__seg_corrupt(s, col, ST_P_DICT, 16, err, "dictionary stream is malformed");
            goto fail;
        }
        at += m;
        prevn = k + m;
        total += prevn;
        if (total > UINT32_MAX) {
            storage__seg_corrupt(s, col, ST_P_DICT, 16, err, "dictionary larger than 4 GB");
            goto fail;
        }
    }
    if (at != fclen) {
        storage__seg_corrupt(s, col, ST_P_DICT, 16, err, "dictionary stream has trailing bytes");
        goto fail;
    }
    *plain_len = 8 + (cnt + 1) * 4 + total;
    out = malloc(*plain_len);
    if (!out) {
        lerr_set(err, LERR_NOMEM, "storage: out of memory reading segment %s", s->name);
        goto fail;
    }
    storage__put_u32(out, (uint32_t)cnt);
    storage__put_u32(out + 4, ST_DICT_PLAIN);
    storage__put_u32(out + 8, 0);
    uint8_t *bytes = out + 8 + (cnt + 1) * 4;
    const uint8_t *prev = bytes;
    uint64_t pos = 0;
    at = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        uint32_t k, m;
        get_varint(fc, fclen, &at, &k);
        get_varint(fc, fclen, &at, &m);
        memmove(bytes + pos, prev, k);
        memcpy(bytes + pos + k, fc + at, m);
        at += m;
        prev = bytes + pos;
        pos += (uint64_t)k + m;
        storage__put_u32(out + 8 + (i + 1) * 4, (uint32_t)pos);
    }
    free(fc);
    return out;
fail:
    free(fc);
    free(out);
    return NULL;
}

static int check_dict(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                      struct lerr *err)
{
    struct storage__scol *c = &s->cols[col];
    if (len >= 8 && storage__get_u32(p + 4) == ST_DICT_FRONT) {
        uint8_t *heap = atomic_load_explicit(&c->dict_heap, memory_order_acquire);
        uint64_t plain_len = 0;
        if (!heap) {
            uint8_t *fresh = decode_front_dict(s, col, p, len, &plain_len, err);
            if (!fresh)
                return -1;
            if (check_plain_dict(s, col, fresh, plain_len, err)) {
                free(fresh);
                return -1;
            }
            uint8_t *expect = NULL;
            if (atomic_compare_exchange_strong(&c->dict_heap, &expect, fresh))
                heap = fresh;
            else {
                free(fresh);
                heap = expect;
            }
        }
        c->dict = heap;
        return 0;
    }
    if (len >= 8 && storage__get_u32(p + 4) != ST_DICT_PLAIN)
        return storage__seg_corrupt(s, col, ST_P_DICT, 4, err, "unknown dictionary layout");
    if (check_plain_dict(s, col, p, len, err))
        return -1;
    c->dict = p;
    return 0;
}

static int check_ids(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                     struct lerr *err)
{
    const struct storage__scol *c = &s->cols[col];
    if (len < 8 || p[0] != c->id_width || c->id_width > 32 ||
        len - 8 < storage__bitpack_size(s->nrows, c->id_width))
        return storage__seg_corrupt(s, col, ST_P_IDS, 0, err, "id array too short or wrong width");
    uint32_t ids[ST_BLOCK];
    for (uint64_t r0 = 0; r0 < s->nrows; r0 += ST_BLOCK) {
        uint32_t m = storage__block_rows(s->nrows, r0 / ST_BLOCK);
        storage__bitunpack32(p + 8, r0, m, c->id_width, ids);
        uint32_t mx = 0;
        for (uint32_t k = 0; k < m; k++)
            mx = ids[k] > mx ? ids[k] : mx;
        if (mx > c->dict_count)
            return storage__seg_corrupt(s, col, ST_P_IDS, 8 + r0 * c->id_width / 8, err,
                                        "a row's id is past the dictionary");
    }
    return 0;
}

/* Sizes of the posting-list layout of a bitmaps part. */
static void postings_widths(uint64_t nrows, unsigned *ws, unsigned *wr)
{
    *ws = storage__bits_for(nrows);
    *wr = storage__bits_for(nrows ? nrows - 1 : 0);
}

static int check_postings(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                          struct lerr *err)
{
    const struct storage__scol *c = &s->cols[col];
    uint64_t nb = (uint64_t)c->dict_count + 1;
    unsigned ws, wr;
    postings_widths(s->nrows, &ws, &wr);
    uint64_t ssz = storage__bitpack_size(nb + 1, ws);
    if (len != ssz + storage__bitpack_size(s->nrows, wr) + 8)
        return storage__seg_corrupt(s, col, ST_P_BITMAPS, 0, err,
                                    "posting lists have the wrong size");
    uint64_t starts[2], prev = 0;
    uint32_t rows[256];
    for (uint64_t id = 0; id < nb; id++) {
        storage__bitunpack64(p, id, 2, ws, starts);
        if ((id == 0 && starts[0] != 0) || starts[0] < prev || starts[1] < starts[0] ||
            starts[1] > s->nrows || (id == nb - 1 && starts[1] != s->nrows))
            return storage__seg_corrupt(s, col, ST_P_BITMAPS, (id * ws) / 8, err,
                                        "posting list bounds out of order");
        prev = starts[0];
        /* rows of one id: strictly ascending and inside the segment */
        int64_t last = -1;
        for (uint64_t r0 = starts[0]; r0 < starts[1]; r0 += 256) {
            uint32_t m = (uint32_t)(starts[1] - r0 < 256 ? starts[1] - r0 : 256);
            storage__bitunpack32(p + ssz, r0, m, wr, rows);
            for (uint32_t k = 0; k < m; k++) {
                if ((int64_t)rows[k] <= last || rows[k] >= s->nrows)
                    return storage__seg_corrupt(s, col, ST_P_BITMAPS, ssz + (r0 + k) * wr / 8, err,
                                                "posting list rows out of order");
                last = rows[k];
            }
        }
    }
    return 0;
}

/* The Elias-Fano part's pieces (layout in storage_int.h). */
struct ef_part {
    const uint8_t *lists, *counts, *samples;
    uint64_t lbits, cbits; /* usable bits, slack excluded */
};

static bool ef_part(const uint8_t *p, uint64_t len, uint64_t nb, struct ef_part *e)
{
    if (len < 24)
        return false;
    uint64_t lbytes = storage__get_u64(p + len - 24), cbytes = storage__get_u64(p + len - 16);
    uint64_t sbytes = (nb + ST_EF_GROUP - 1) / ST_EF_GROUP * 16;
    if (lbytes < 8 || cbytes < 8 || lbytes > len || cbytes > len - lbytes ||
        sbytes > len - lbytes - cbytes || len - lbytes - cbytes - sbytes != 24)
        return false;
    e->lists = p;
    e->counts = p + lbytes;
    e->samples = p + lbytes + cbytes;
    e->lbits = (lbytes - 8) * 8;
    e->cbits = (cbytes - 8) * 8;
    return true;
}

/* One gamma-coded count at *bit; false past the counts or when malformed. */
static bool ef_count(const struct ef_part *e, uint64_t *bit, uint64_t *k)
{
    if (*bit >= e->cbits)
        return false;
    uint64_t w = storage__bits_at(e->counts, *bit, 56);
    if (!w)
        return false;
    unsigned z = (unsigned)__builtin_ctzll(w);
    if (z > 33 || *bit + 2u * z + 1u > e->cbits)
        return false;
    *k = ((1ULL << z) | storage__bits_at(e->counts, *bit + z + 1, z)) - 1;
    *bit += 2u * z + 1u;
    return true;
}

/* Decodes the k rows of a list at bit `eb` into rows; false unless they lie
 * inside the list's bits, strictly ascending and below n. */
static bool ef_decode(const struct ef_part *e, uint64_t eb, uint64_t k, uint64_t n, uint32_t *rows)
{
    unsigned L = storage__ef_low_bits(k, n);
    uint64_t up = eb + k * L, up_end = eb + storage__ef_bits(k, n);
    if (up_end > e->lbits || up_end < eb)
        return false;
    uint64_t i = 0, last = 0;
    for (uint64_t at = up; at < up_end && i < k; at += 56) {
        unsigned take = up_end - at < 56 ? (unsigned)(up_end - at) : 56u;
        uint64_t w = storage__bits_at(e->lists, at, take);
        while (w && i < k) {
            uint64_t high = at + (unsigned)__builtin_ctzll(w) - up - i;
            uint64_t r = high << L | storage__bits_at(e->lists, eb + i * L, L);
            if (r >= n || (i && r <= last))
                return false;
            rows[i++] = (uint32_t)r;
            last = r;
            w &= w - 1;
        }
    }
    return i == k;
}

/* Walks every count: samples where they belong, counts summing to the
 * rows, lists inside the part. Each list is checked when it is decoded
 * (ef_decode), so a first query does not pay for decoding them all. */
static int check_ef(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                    struct lerr *err)
{
    uint64_t nb = (uint64_t)s->cols[col].dict_count + 1, n = s->nrows;
    struct ef_part e;
    if (!ef_part(p, len, nb, &e))
        return storage__seg_corrupt(s, col, ST_P_BITMAPS, len < 24 ? 0 : len - 24, err,
                                    "Elias-Fano sizes do not add up");
    uint64_t eb = 0, cb = 0, total = 0;
    for (uint64_t id = 0; id < nb; id++) {
        uint64_t k;
        if (id % ST_EF_GROUP == 0 &&
            (storage__get_u64(e.samples + id / ST_EF_GROUP * 16) != eb ||
             storage__get_u64(e.samples + id / ST_EF_GROUP * 16 + 8) != cb))
            return storage__seg_corrupt(s, col, ST_P_BITMAPS, (uint64_t)(e.samples - p), err,
                                        "Elias-Fano sample does not match");
        if (!ef_count(&e, &cb, &k) || k > n - total)
            return storage__seg_corrupt(s, col, ST_P_BITMAPS, (uint64_t)(e.counts - p) + cb / 8,
                                        err, "Elias-Fano count out of range");
        total += k;
        eb += storage__ef_bits(k, n);
        if (eb > e.lbits)
            return storage__seg_corrupt(s, col, ST_P_BITMAPS, 0, err,
                                        "Elias-Fano lists overrun their part");
    }
    if (total != n)
        return storage__seg_corrupt(s, col, ST_P_BITMAPS, 0, err,
                                    "Elias-Fano lists do not hold every row");
    return 0;
}

static int check_bitmaps(struct storage__seg *s, size_t col, const uint8_t *p, uint64_t len,
                         struct lerr *err)
{
    const struct storage__scol *c = &s->cols[col];
    uint64_t nb = (uint64_t)c->dict_count + 1;
    if (len < 8 || storage__get_u32(p + len - 8) != nb)
        return storage__seg_corrupt(s, col, ST_P_BITMAPS, 0, err,
                                    "bitmap directory does not match");
    uint32_t layout = storage__get_u32(p + len - 4);
    if (layout == ST_BITMAPS_POSTINGS)
        return check_postings(s, col, p, len, err);
    if (layout == ST_BITMAPS_EF)
        return check_ef(s, col, p, len, err);
    if (layout != ST_BITMAPS_ROARING || (len - 8) / 8 < nb + 1)
        return storage__seg_corrupt(s, col, ST_P_BITMAPS, len - 4, err, "unknown bitmap layout");
    uint64_t dir = len - 8 - (nb + 1) * 8;
    uint64_t prev = 0;
    for (uint64_t i = 0; i <= nb; i++) {
        uint64_t o = storage__get_u64(p + dir + i * 8);
        if ((i == 0 && o != 0) || o < prev || o > dir)
            return storage__seg_corrupt(s, col, ST_P_BITMAPS, dir + i * 8, err,
                                        "bitmap offset out of range");
        prev = o;
    }
    return 0;
}

int storage__seg_part(struct storage__seg *s, size_t col, unsigned part, const uint8_t **p,
                      uint64_t *len, struct lerr *err)
{
    struct storage__scol *c = &s->cols[col];
    struct storage__part *pt = &c->parts[part];
    *p = s->map + pt->off;
    *len = pt->len;
    if (atomic_load_explicit(&pt->checked, memory_order_acquire))
        return 0;
    uint32_t crc = util_crc32c(0, *p, pt->len);
    if (crc != pt->crc) {
        char what[96];
        snprintf(what, sizeof what, "checksum mismatch (stored %08x, computed %08x)", pt->crc,
                 crc);
        return storage__seg_corrupt(s, col, part, 0, err, what);
    }
    int rc;
    if (enc_is_blocked(c->enc, part))
        rc = check_blocked(s, col, *p, *len, err);
    else if (c->enc == ST_ENC_STRING)
        rc = part == ST_P_DICT  ? check_dict(s, col, *p, *len, err)
             : part == ST_P_IDS ? check_ids(s, col, *p, *len, err)
                                : check_bitmaps(s, col, *p, *len, err);
    else
        rc = check_nulls(s, col, *p, *len, err);
    if (rc)
        return rc;
    atomic_store_explicit(&pt->checked, 1, memory_order_release);
    return 0;
}

/* Decodes every block of a blocked part (and deserializes every state of a
 * measure column): what no checksum can vouch for when the bytes were
 * forged, and what a bug in a writer would leave. */
static int verify_blocks(struct storage__seg *s, size_t col, struct lerr *err)
{
    const struct storage__scol *c = &s->cols[col];
    uint64_t nb = nblocks_for(s->nrows);
    int rc = 0;
    if (fixed_width(c->enc)) {
        int64_t *tmp = malloc((size_t)ST_BLOCK * 8);
        if (!tmp)
            return lerr_set(err, LERR_NOMEM, "storage: out of memory verifying %s", s->name);
        for (uint64_t b = 0; b < nb && rc == 0; b++)
            rc = storage__seg_block_fixed(s, col, b, tmp, err) < 0 ? -1 : 0;
        free(tmp);
        return rc;
    }
    struct buf scratch;
    buf_init(&scratch, 0);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    void *state = c->enc == ST_ENC_STATE ? calloc(1, c->state_size + 16) : NULL;
    if (c->enc == ST_ENC_STATE && !state)
        rc = lerr_set(err, LERR_NOMEM, "storage: out of memory verifying %s", s->name);
    for (uint64_t b = 0; b < nb && rc == 0; b++) {
        const uint32_t *lens;
        const uint8_t *bytes;
        int64_t m = storage__seg_block_var(s, col, b, &scratch, &lens, &bytes, err);
        if (m < 0) {
            rc = -1;
            break;
        }
        for (int64_t i = 0; state && i < m && rc == 0; i++) {
            arena_reset(&mem);
            if (sql_agg_deserialize(&c->def.agg, bytes, lens[i], state, &mem, err) != 0)
                rc = storage__seg_corrupt(s, col, ST_P_DATA, 0, err,
                                          "a state does not deserialize");
            bytes += lens[i];
        }
    }
    free(state);
    arena_destroy(&mem);
    buf_free(&scratch);
    return rc;
}

int storage__seg_verify_all(struct storage__seg *s, struct lerr *err)
{
    for (size_t i = 0; i < s->ncols; i++) {
        const struct storage__scol *c = &s->cols[i];
        for (unsigned p = 0; p < c->nparts; p++) {
            const uint8_t *d;
            uint64_t n;
            if (storage__seg_part(s, i, p, &d, &n, err))
                return -1;
        }
        for (uint32_t id = 0; c->enc == ST_ENC_STRING && id <= c->dict_count; id++)
            if (!storage__seg_bitmap(s, i, id, err))
                return -1;
        if (c->enc != ST_ENC_STRING && verify_blocks(s, i, err))
            return -1;
    }
    return 0;
}

/* ---- decoding ------------------------------------------------------------ */

/* The directory entry of a block of a checked blocked part. */
static const uint8_t *block_entry(const uint8_t *p, uint64_t len, uint64_t nb, uint64_t blk)
{
    return p + (len - 8 - nb * 24) + blk * 24;
}

static int64_t decode_block(struct storage__seg *s, size_t col, uint64_t blk, void *dst,
                            size_t cap, uint32_t *rawlen_out, struct lerr *err)
{
    const uint8_t *p;
    uint64_t len;
    if (storage__seg_part(s, col, ST_P_DATA, &p, &len, err))
        return -1;
    uint64_t nb = nblocks_for(s->nrows);
    if (blk >= nb)
        return lerr_set(err, LERR_INVALID, "segment %s: block %llu past the end", s->name,
                        (unsigned long long)blk);
    const uint8_t *e = block_entry(p, len, nb, blk);
    uint64_t off = storage__get_u64(e);
    uint32_t clen = storage__get_u32(e + 8), rawlen = storage__get_u32(e + 12);
    if (rawlen > cap)
        return storage__seg_corrupt(s, col, ST_P_DATA, off, err, "block larger than announced");
    if (!storage__decode_block(e[16], p + off, clen, dst, rawlen))
        return storage__seg_corrupt(s, col, ST_P_DATA, off, err, "block does not decode");
    if (rawlen_out)
        *rawlen_out = rawlen;
    return storage__block_rows(s->nrows, blk);
}

int64_t storage__seg_block_fixed(struct storage__seg *s, size_t col, uint64_t blk, void *dst,
                                 struct lerr *err)
{
    int64_t m = decode_block(s, col, blk, dst, (size_t)ST_BLOCK * 8, NULL, err);
    if (m > 0 && s->cols[col].enc == ST_ENC_FLOAT) {
        /* widen in place from the end: float i sits below double i */
        uint8_t *b = dst;
        for (int64_t i = m - 1; i >= 0; i--) {
            float f;
            memcpy(&f, b + i * 4, 4);
            double d = f;
            memcpy(b + i * 8, &d, 8);
        }
    }
    return m;
}

int64_t storage__seg_block_var(struct storage__seg *s, size_t col, uint64_t blk,
                               struct buf *scratch, const uint32_t **lens, const uint8_t **bytes,
                               struct lerr *err)
{
    const uint8_t *p;
    uint64_t len;
    if (storage__seg_part(s, col, ST_P_DATA, &p, &len, err))
        return -1;
    uint64_t nb = nblocks_for(s->nrows);
    if (blk >= nb)
        return lerr_set(err, LERR_INVALID, "segment %s: block past the end", s->name);
    uint32_t rawlen = storage__get_u32(block_entry(p, len, nb, blk) + 12);
    buf_reset(scratch);
    /* grow the scratch to rawlen (+16 to keep lens aligned and non-empty) */
    static const char zeros[4096];
    while (scratch->len < (size_t)rawlen + 16 && !scratch->failed) {
        size_t k = (size_t)rawlen + 16 - scratch->len;
        buf_append(scratch, zeros, k < sizeof zeros ? k : sizeof zeros);
    }
    if (scratch->failed)
        return lerr_set(err, LERR_NOMEM, "storage: out of memory decoding segment %s", s->name);
    int64_t m = decode_block(s, col, blk, scratch->data, rawlen, NULL, err);
    if (m < 0)
        return -1;
    const uint32_t *l = (const uint32_t *)(const void *)scratch->data;
    uint64_t total = 0;
    for (int64_t i = 0; i < m; i++)
        total += l[i];
    if (total > rawlen - (uint64_t)m * 4)
        return storage__seg_corrupt(s, col, ST_P_DATA, 0, err, "value lengths exceed the block");
    *lens = l;
    *bytes = (const uint8_t *)scratch->data + m * 4;
    return m;
}

const roaring_bitmap_t *storage__seg_null_bitmap(struct storage__seg *s, size_t col,
                                                 struct lerr *err)
{
    struct storage__scol *c = &s->cols[col];
    if (c->enc == ST_ENC_STRING)
        return storage__seg_bitmap(s, col, STORAGE_NULL_ID, err);
    if (c->enc == ST_ENC_TIME || c->enc == ST_ENC_STATE)
        return s->empty;
    const uint8_t *p;
    uint64_t len;
    if (storage__seg_part(s, col, ST_P_NULLS, &p, &len, err))
        return NULL;
    roaring_bitmap_t *bm = atomic_load_explicit(&c->nulls, memory_order_acquire);
    return bm ? bm : s->empty;
}

int storage__seg_null_flags(struct storage__seg *s, size_t col, uint64_t row0, uint32_t n,
                            bool *out, struct lerr *err)
{
    memset(out, 0, n);
    const roaring_bitmap_t *bm = storage__seg_null_bitmap(s, col, err);
    if (!bm)
        return -1;
    if (bm == s->empty || n == 0)
        return 0;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(bm, &it);
    if (!roaring_move_uint32_iterator_equalorlarger(&it, (uint32_t)row0))
        return 0;
    while (it.has_value && it.current_value < row0 + n) {
        out[it.current_value - row0] = true;
        roaring_advance_uint32_iterator(&it);
    }
    return 0;
}

int storage__seg_ids(struct storage__seg *s, size_t col, uint64_t row0, uint32_t n, uint32_t *out,
                     struct lerr *err)
{
    const uint8_t *p;
    uint64_t len;
    if (storage__seg_part(s, col, ST_P_IDS, &p, &len, err))
        return -1;
    storage__bitunpack32(p + 8, row0, n, s->cols[col].id_width, out);
    return 0;
}

void storage__seg_dict_entry(const struct storage__seg *s, size_t col, uint32_t id, const char **p,
                             uint32_t *n)
{
    const struct storage__scol *c = &s->cols[col];
    const uint8_t *offs = c->dict + 8;
    const uint8_t *bytes = offs + ((uint64_t)c->dict_count + 1) * 4;
    uint32_t a = storage__get_u32(offs + (uint64_t)(id - 1) * 4),
             b = storage__get_u32(offs + (uint64_t)id * 4);
    *p = (const char *)bytes + a;
    *n = (uint32_t)(b - a);
}

uint32_t storage__seg_dict_lower(const struct storage__seg *s, size_t col, const char *p, size_t n)
{
    uint32_t lo = 1, hi = s->cols[col].dict_count + 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *v;
        uint32_t vn;
        storage__seg_dict_entry(s, col, mid, &v, &vn);
        int c = memcmp(v, p, vn < n ? vn : n);
        if (c < 0 || (c == 0 && vn < n))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static roaring_bitmap_t *bitmap_from_roaring(struct storage__seg *s, size_t col, const uint8_t *p,
                                             uint64_t len, uint32_t id, struct lerr *err)
{
    uint64_t nb = (uint64_t)s->cols[col].dict_count + 1;
    uint64_t dir = len - 8 - (nb + 1) * 8;
    uint64_t a = storage__get_u64(p + dir + (uint64_t)id * 8),
             b = storage__get_u64(p + dir + (uint64_t)id * 8 + 8);
    roaring_bitmap_t *bm = load_bitmap(p + a, b - a, s->nrows);
    if (!bm)
        storage__seg_corrupt(s, col, ST_P_BITMAPS, a, err, "not a valid roaring bitmap");
    return bm;
}

static roaring_bitmap_t *bitmap_from_postings(struct storage__seg *s, size_t col, const uint8_t *p,
                                              uint32_t id, struct lerr *err)
{
    uint64_t nb = (uint64_t)s->cols[col].dict_count + 1;
    unsigned ws, wr;
    postings_widths(s->nrows, &ws, &wr);
    uint64_t starts[2];
    storage__bitunpack64(p, id, 2, ws, starts);
    uint64_t n = starts[1] - starts[0];
    uint32_t *rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows) {
        lerr_set(err, LERR_NOMEM, "storage: out of memory reading segment %s", s->name);
        return NULL;
    }
    storage__bitunpack32(p + storage__bitpack_size(nb + 1, ws), starts[0], n, wr, rows);
    roaring_bitmap_t *bm = roaring_bitmap_of_ptr(n, rows);
    free(rows);
    if (!bm)
        lerr_set(err, LERR_NOMEM, "storage: out of memory reading segment %s", s->name);
    else
        roaring_bitmap_run_optimize(bm);
    return bm;
}

/* The list of one id of a checked part: from the sample before it, skip
 * the lists between by their counts. */
static roaring_bitmap_t *bitmap_from_ef(struct storage__seg *s, size_t col, const uint8_t *p,
                                        uint64_t len, uint32_t id, struct lerr *err)
{
    uint64_t nb = (uint64_t)s->cols[col].dict_count + 1, n = s->nrows;
    struct ef_part e;
    ef_part(p, len, nb, &e);
    uint64_t eb = storage__get_u64(e.samples + id / ST_EF_GROUP * 16);
    uint64_t cb = storage__get_u64(e.samples + id / ST_EF_GROUP * 16 + 8);
    uint64_t k = 0;
    for (uint32_t j = id - id % ST_EF_GROUP; j <= id; j++) {
        if (!ef_count(&e, &cb, &k)) {
            storage__seg_corrupt(s, col, ST_P_BITMAPS, 0, err, "Elias-Fano count out of range");
            return NULL;
        }
        if (j < id)
            eb += storage__ef_bits(k, n);
    }
    uint32_t *rows = malloc((k ? k : 1) * sizeof *rows);
    if (!rows) {
        lerr_set(err, LERR_NOMEM, "storage: out of memory reading segment %s", s->name);
        return NULL;
    }
    roaring_bitmap_t *bm = NULL;
    if (!ef_decode(&e, eb, k, n, rows))
        storage__seg_corrupt(s, col, ST_P_BITMAPS, eb / 8, err, "Elias-Fano list malformed");
    else if (!(bm = roaring_bitmap_of_ptr(k, rows)))
        lerr_set(err, LERR_NOMEM, "storage: out of memory reading segment %s", s->name);
    else
        roaring_bitmap_run_optimize(bm);
    free(rows);
    return bm;
}

const roaring_bitmap_t *storage__seg_bitmap(struct storage__seg *s, size_t col, uint32_t id,
                                            struct lerr *err)
{
    struct storage__scol *c = &s->cols[col];
    if (c->enc != ST_ENC_STRING || id > c->dict_count) {
        lerr_set(err, LERR_INVALID, "segment %s: column '%s' has no bitmap for id %u", s->name,
                 c->def.name, id);
        return NULL;
    }
    _Atomic(roaring_bitmap_t *) *bms = atomic_load_explicit(&c->bitmaps, memory_order_acquire);
    if (bms) {
        roaring_bitmap_t *bm = atomic_load_explicit(&bms[id], memory_order_acquire);
        if (bm)
            return bm;
    }
    const uint8_t *p;
    uint64_t len;
    if (storage__seg_part(s, col, ST_P_BITMAPS, &p, &len, err))
        return NULL;
    if (!bms) {
        _Atomic(roaring_bitmap_t *) *fresh = calloc((size_t)c->dict_count + 1, sizeof *fresh);
        if (!fresh) {
            lerr_set(err, LERR_NOMEM, "storage: out of memory reading segment %s", s->name);
            return NULL;
        }
        _Atomic(roaring_bitmap_t *) *expect = NULL;
        if (atomic_compare_exchange_strong(&c->bitmaps, &expect, fresh))
            bms = fresh;
        else {
            free(fresh);
            bms = expect;
        }
    }
    uint32_t layout = storage__get_u32(p + len - 4);
    roaring_bitmap_t *bm = layout == ST_BITMAPS_EF ? bitmap_from_ef(s, col, p, len, id, err)
                           : layout == ST_BITMAPS_POSTINGS
                               ? bitmap_from_postings(s, col, p, id, err)
                               : bitmap_from_roaring(s, col, p, len, id, err);
    if (!bm)
        return NULL;
    roaring_bitmap_t *expect = NULL;
    if (!atomic_compare_exchange_strong(&bms[id], &expect, bm)) {
        storage__bitmap_free(bm);
        bm = expect;
    }
    return bm;
}

/* ---- standalone verification -------------------------------------------- */

static int verify_seg(struct storage__seg *s, uint64_t *rows, struct lerr *err)
{
    int rc = storage__seg_verify_all(s, err) ? (err->code ? err->code : LERR_CORRUPT) : 0;
    if (rc == 0 && rows)
        *rows = s->nrows;
    storage__seg_unref(s);
    return rc;
}

int storage_segment_verify(const char *path, uint64_t *rows, struct lerr *err)
{
    /* a local store over the file's directory ("" = the current one) */
    const char *slash = strrchr(path, '/');
    char *dir = strndup(path, slash ? (size_t)(slash - path) + (slash == path) : 0);
    struct segstore *store = NULL;
    if (!dir)
        return lerr_set(err, LERR_NOMEM, "storage: out of memory opening segment %s", path);
    int rc = segstore_local_new(dir, &store, err);
    free(dir);
    if (rc)
        return rc;
    struct storage__seg *s;
    rc = storage__seg_open(store, slash ? slash + 1 : path, &s, err);
    segstore_unref(store);
    return rc ? rc : verify_seg(s, rows, err);
}

int storage_segment_verify_mem(const void *p, size_t n, const char *name, uint64_t *rows,
                               struct lerr *err)
{
    struct storage__seg *s;
    int rc = storage__seg_open_mem(p, n, name, &s, err);
    return rc ? rc : verify_seg(s, rows, err);
}
