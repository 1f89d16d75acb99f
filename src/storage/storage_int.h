/*
 * storage_int.h — private to src/storage/: the pieces the files of the module
 * share. Nothing outside src/storage/ includes it (but its unit tests).
 * What the files share is named storage__<thing> (functions and types;
 * enum constants keep ST_), storage.h's interface storage_; the realtime
 * buffer keeps its short rt_ (one small library, as segstore.h's segstore_).
 *
 *   codec.c     CRC32C, bit packing, block codecs (LZ4, zstd, frame of
 *               reference, delta), byte hashing, little-endian helpers
 *   gran.c      granularities (time chunks, timeResolution)
 *   schema.c    the immutable, refcounted schema versions
 *   rt.c        realtime buffers: append with rollup, reads
 *   segstore.c  where segment files live (segstore.h): put, open, remove,
 *               list; the local directory store
 *   segwrite.c  a realtime buffer → an immutable segment file
 *   segread.c   segment files: mapping, validation, lazy part checks, decoding
 *   table.c     tables: deriving and publishing versions, persist,
 *               compaction, start-up, status (calls down to scan.c)
 *   scan.c      version references, snapshots, views and scans over
 *               buffers and segments
 *
 * Segment file layout (all integers little-endian):
 *
 *   header   16 bytes: "LODESEG\0", u32 version, u32 CRC32C of the first 12
 *   parts    each a byte range with its own CRC32C (listed in the footer)
 *   footer   segment fields, then per column: name, type, kind, encoding,
 *            aggregator, dictionary size, an ARRAY's element type (0: a
 *            multi-value string), and its parts {offset, length, crc}
 *   trailer  32 bytes: u64 footer offset, u64 footer length, u32 footer CRC,
 *            u32 version, "LSEGEND\0"
 *
 * Parts (ST_ENC_* and ST_P_* below):
 *   blocked   [block payloads][dir: {u64 off, u32 clen, u32 rawlen, u8 codec,
 *             7 pad} per block][u32 nblocks][u32 0]; STORAGE_BLOCK_ROWS rows
 *             per block; payload = n values (8 bytes, FLOAT 4) or, for JSON
 *             and measure states, [u32 len[n]][bytes]; codec per block
 *   nulls     a portable roaring bitmap of NULL rows (empty part: none)
 *   dict      (ARRAY, multi-value strings: the same parts, each entry a row's
 *             list as storage_mv_encode lays it, checked whole at open; typed
 *             arrays the same with storage_array_encode's entries)
 *             [u32 count][u32 0][u32 off[count + 1]][bytes], values sorted by
 *             UTF-8 bytes, id i + 1 = value i, id 0 = NULL; or the same
 *             front-coded and compressed: [u32 count][u32 1][u64 stream
 *             length][zstd frame] (see segwrite.c), decoded at open
 *   ids       [u8 width][7 pad][ids bit-packed at width, + 8 bytes slack]
 *   bitmaps   [portable roarings][u64 off[nid + 1]][u32 nid][u32 0], or
 *             Elias-Fano lists [lists][counts][samples][u64 lists bytes]
 *             [u64 counts bytes][u32 nid][u32 2], whichever is smaller (see
 *             segwrite.c); files of earlier builds may hold posting lists
 *             [packed starts (nid + 1)][packed rows][u32 nid][u32 1]
 */
#ifndef LODESTAR_STORAGE_INT_H
#define LODESTAR_STORAGE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "storage/segstore.h"
#include "storage/storage.h"
#include "util/num.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "storage: segment files are little-endian and this code reads them in place"
#endif

#define ST_BLOCK STORAGE_BLOCK_ROWS
#define ST_BLOCK_SHIFT 12
_Static_assert((1u << ST_BLOCK_SHIFT) == STORAGE_BLOCK_ROWS, "block shift");

#define ST_FORMAT_VERSION 1u
#define ST_HEADER_SIZE 16u
#define ST_TRAILER_SIZE 32u
#define ST_MAGIC "LODESEG"         /* + NUL: 8 bytes */
#define ST_TRAILER_MAGIC "LSEGEND" /* + NUL */
#define ST_FILE_SUFFIX ".lseg"
#define ST_TMP_PREFIX SEGSTORE_TMP_PREFIX

/* Sanity caps for lengths read from disk. */
#define ST_MAX_BLOCK_BYTES (1u << 30)

/* Rows in block blk of a view or segment of nrows rows. */
static inline uint32_t storage__block_rows(uint64_t nrows, uint64_t blk)
{
    uint64_t left = nrows - blk * ST_BLOCK;
    return (uint32_t)(left < ST_BLOCK ? left : ST_BLOCK);
}

/* ---- little-endian access (memcpy: files are read in place, unaligned) -- */

static inline uint32_t storage__get_u32(const void *p) { return util_load_u32(p); }
static inline uint64_t storage__get_u64(const void *p) { return util_load_u64(p); }
static inline void storage__put_u32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void storage__put_u64(void *p, uint64_t v) { memcpy(p, &v, 8); }

/* CRoaring 0.2's free does not take NULL. */
static inline void storage__bitmap_free(roaring_bitmap_t *bm)
{
    if (bm)
        roaring_bitmap_free(bm);
}

/* ---- codec.c ------------------------------------------------------------ */

uint64_t storage__hash_bytes(const void *p, size_t n);

/* Bits needed for values 0..max (0 for max 0). */
unsigned storage__bits_for(uint64_t max);
/* Bytes of n values of `width` bits, plus the 8 bytes of slack the unpacker
 * may touch past the last value. */
size_t storage__bitpack_size(uint64_t n, unsigned width);
/* Packs n values (each < 2^width) into out (storage__bitpack_size bytes, zeroed
 * by the caller). */
void storage__bitpack(const uint64_t *in, size_t n, unsigned width, uint8_t *out);
void storage__bitpack32(const uint32_t *in, size_t n, unsigned width, uint8_t *out);
/* Unpacks values start..start+n-1. The packed area must have its slack. */
void storage__bitunpack64(const uint8_t *in, uint64_t start, size_t n, unsigned width,
                          uint64_t *out);
void storage__bitunpack32(const uint8_t *in, uint64_t start, size_t n, unsigned width,
                          uint32_t *out);

/* Reads w <= 56 bits at bit offset `bit` (LSB first); 8 bytes of slack
 * must follow the last byte in use. */
static inline uint64_t storage__bits_at(const uint8_t *p, uint64_t bit, unsigned w)
{
    uint64_t v;
    memcpy(&v, p + (bit >> 3), 8);
    return w ? (v >> (bit & 7)) & ((1ULL << w) - 1) : 0;
}

/*
 * Elias-Fano lists (ST_BITMAPS_EF): the k ascending rows of one id below n
 * as k low parts of L = floor(log2(n / k)) bits, packed, then an upper bit
 * array of k + ((n - 1) >> L) bits where row i sets bit (row >> L) + i:
 * about k * (2 + log2(n / k)) bits, the entropy of where the rows fall.
 * A list's size follows from k and n alone, so the lists are laid end to
 * end; Elias-gamma coded counts (k + 1) and a sample of both bit offsets
 * every ST_EF_GROUP ids find the start of any id's list.
 */
static inline unsigned storage__ef_low_bits(uint64_t k, uint64_t n)
{
    return k == 0 || k >= n ? 0u : 63u - (unsigned)__builtin_clzll(n / k);
}

static inline uint64_t storage__ef_bits(uint64_t k, uint64_t n)
{
    return k ? k * storage__ef_low_bits(k, n) + k + ((n - 1) >> storage__ef_low_bits(k, n)) : 0;
}

static inline uint64_t storage__gamma_bits(uint64_t x)
{
    return 2u * (63u - (unsigned)__builtin_clzll(x)) + 1u;
}

enum storage__codec {
    ST_CODEC_RAW,
    ST_CODEC_LZ4,
    ST_CODEC_ZSTD,
    ST_CODEC_FOR,    /* int64: min + bit-packed (v - min) */
    ST_CODEC_DELTA,  /* int64: first + bit-packed zigzag(v[i] - v[i-1]) */
    ST_CODEC_FORZ,   /* int64: FOR at a whole byte width, then zstd */
    ST_CODEC_DELTAZ, /* int64: DELTA at a whole byte width, then zstd */
    ST_CODEC__COUNT
};

/* Encodes n int64 with the smallest of the codecs that fit (FOR, DELTA,
 * LZ4, zstd when try_zstd, RAW); appends to out, returns the codec or -1
 * (out failed). */
int storage__encode_longs(const int64_t *v, uint32_t n, bool try_zstd, struct buf *out);
/* Codecs that only hold int64 values. */
static inline bool storage__codec_is_int(int codec)
{
    return codec == ST_CODEC_FOR || codec == ST_CODEC_DELTA || codec == ST_CODEC_FORZ ||
           codec == ST_CODEC_DELTAZ;
}

/* zstd through a context kept per thread: appends the frame of raw to out,
 * or decodes exactly rawlen bytes (false when the frame is not that). */
bool storage__zstd_append(struct buf *out, const void *raw, size_t len, int level);
bool storage__zstd_decode(const void *src, size_t clen, void *dst, size_t rawlen);
/* Encodes opaque bytes with LZ4 (and zstd when try_zstd), else RAW. */
int storage__encode_bytes(const void *raw, size_t len, bool try_zstd, struct buf *out);
/* Decodes a block into dst (exactly rawlen bytes; for FOR/DELTA rawlen =
 * 8 * n). false when the payload is not a valid encoding of that size. */
bool storage__decode_block(int codec, const uint8_t *src, size_t clen, void *dst, size_t rawlen);

/* ---- gran.c ------------------------------------------------------------- */

/* (declared in storage.h: storage_gran_parse/name/floor/next) */

/* ---- schema.c ----------------------------------------------------------- */

/* An immutable schema version (column 0 = __time). */
struct storage__schema {
    atomic_int refs;
    enum storage_table_type type;
    enum storage_gran partitioning;
    enum storage_gran time_resolution;
    size_t ncols;
    struct storage_column *cols; /* names owned */
    uint32_t *state_size;        /* per column: measures' state bytes, else 0 */
};

/* Validates and copies; NULL with err set. */
struct storage__schema *storage__schema_new(const struct storage_schema *s, struct lerr *err);
/* A copy with one more column (validated). */
struct storage__schema *storage__schema_add(const struct storage__schema *s,
                                            const struct storage_column *c, struct lerr *err);
/* A copy with dimension column col stored as `type` (a widening, or the
 * types a sealed realtime buffer holds). */
struct storage__schema *storage__schema_retype(const struct storage__schema *s, size_t col,
                                               int type, struct lerr *err);
struct storage__schema *storage__schema_ref(struct storage__schema *s);
void storage__schema_unref(struct storage__schema *s);
int storage__schema_find(const struct storage__schema *s, const char *name, size_t n);
/* Checks one column definition (name, type, kind, aggregator). */
int storage__column_check(enum storage_table_type tt, const struct storage_column *c, size_t index,
                          struct lerr *err);
/* Whether two columns store compatible bytes (same physical layout and, for
 * measures, states one can read as the other's: sql_agg_state_compatible). */
bool storage__column_compatible(const struct storage_column *a, const struct storage_column *b);

/* Physical classes of dimension types: dictionary columns (STRING, and
 * ARRAY: multi-value strings, one entry per distinct list) ... */
static inline bool storage__is_dict(int t) { return t == SQL_STRING || t == SQL_ARRAY; }
/* ... and numbers. */
static inline bool storage__is_longish(int t)
{
    return t == SQL_LONG || t == SQL_TIMESTAMP || t == SQL_BOOLEAN;
}
static inline bool storage__is_doubleish(int t) { return t == SQL_DOUBLE || t == SQL_FLOAT; }
/* A double rounded to float precision, without the undefined behaviour of
 * converting an out-of-range double (it becomes an infinity). */
static inline double storage__round_float(double d)
{
    if (d > 3.4028234663852886e38)
        return d < 3.4028235677973366e38 ? 3.4028234663852886e38 : __builtin_inf();
    if (d < -3.4028234663852886e38)
        return d > -3.4028235677973366e38 ? -3.4028234663852886e38 : -__builtin_inf();
    return (double)(float)d;
}

/* ---- rt.c: realtime buffers ------------------------------------------- */

struct rt_buf;

/* A buffer for chunk [start, end) able to hold up to max_rows rows. */
struct rt_buf *rt_new(const struct storage__schema *sc, int64_t chunk_start, int64_t chunk_end,
                      uint64_t max_rows, struct lerr *err);
/* Rows appended from now on are kept as they come, not rolled up (an image
 * of rows another node reads: rolling them up again would change COUNT(*)). */
void rt_no_rollup(struct rt_buf *b);
struct rt_buf *rt_ref(struct rt_buf *b);
void rt_unref(struct rt_buf *b);

/*
 * Appends the batch rows listed in rows[0..n) (aggregate tables roll up).
 * `sc` must be the newest schema (columns >= the buffer's are added).
 * Returns how many of the listed rows were consumed (< n when the buffer is
 * full: the caller starts another buffer), or -1 with err set.
 */
int64_t rt_append(struct rt_buf *b, const struct storage__schema *sc,
                  const struct storage_batch *batch, const uint32_t *rows, uint32_t n,
                  struct arena *scratch, struct lerr *err);

uint64_t rt_rows(const struct rt_buf *b); /* published (acquire) */
uint64_t rt_bytes(const struct rt_buf *b);
void rt_chunk(const struct rt_buf *b, int64_t *start, int64_t *end);
void rt_time_range(const struct rt_buf *b, int64_t *min_time, int64_t *max_time);
bool rt_full(const struct rt_buf *b);
size_t rt_ncols(const struct rt_buf *b);
/* The type column col is stored as in this buffer (the table's type when the
 * buffer was made; a widening seals the buffer): SQL_NULL past rt_ncols. */
int rt_col_type(const struct rt_buf *b, size_t col);
/* A STRING column's published dictionary size (including the NULL id). */
uint32_t rt_dict_count(const struct rt_buf *b, size_t col);
/* The bytes of dictionary entry id (>= 1, < a published count). */
void rt_dict_entry(const struct rt_buf *b, size_t col, uint32_t id, const char **p, uint32_t *n);
/* Reads rows [row0, row0+n) (all published). Column col (< rt_ncols). */
void rt_read_time(const struct rt_buf *b, uint64_t row0, uint32_t n, int64_t *out);
void rt_read_ids(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n, uint32_t *out);
/* LONG-ish and DOUBLE-ish columns: values (NULL rows read 0) and null flags. */
void rt_read_longs(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n, int64_t *out,
                   bool *nulls);
void rt_read_doubles(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n, double *out,
                     bool *nulls);
/* The same for the rows listed in rows[0..n) (any order: the segment
 * writer's sorted order), the column looked up once. */
void rt_gather_longs(const struct rt_buf *b, size_t col, const uint32_t *rows, uint32_t n,
                     int64_t *out, bool *nulls);
/* JSON columns: text slices into the buffer (stable); NULL is p == NULL. */
void rt_read_text(const struct rt_buf *b, size_t col, uint64_t row0, uint32_t n,
                  struct sql_value *out, int type);
/*
 * Measures: deep copies (init + merge, variable data in mem) of the states
 * of rows [row0, row0+n) of every measure column c with dst[c] != NULL
 * (n * state_size bytes each), all under one read lock, so that the measures
 * of a row are read as of one moment even while the writer merges into it.
 * false on OOM.
 */
bool rt_copy_states(const struct rt_buf *b, const struct storage__schema *sc, uint64_t row0,
                    uint32_t n, uint8_t *const *dst, struct arena *mem);
/* Raw access for the segment writer (the buffer is not appended to
 * meanwhile): the state of one row (NULL if the column has no page). */
const void *rt_state_at(const struct rt_buf *b, size_t col, uint64_t row);

/* ---- segread.c: segment files ------------------------------------------ */

enum storage__enc {
    ST_ENC_TIME = 1,   /* parts: data (blocked longs) */
    ST_ENC_LONG = 2,   /* parts: data (blocked longs), nulls */
    ST_ENC_DOUBLE = 3, /* parts: data (blocked raw doubles), nulls */
    ST_ENC_FLOAT = 4,  /* parts: data (blocked raw floats), nulls */
    ST_ENC_STRING = 5, /* parts: dict, ids, bitmaps */
    ST_ENC_TEXT = 6,   /* JSON: data (blocked var), nulls */
    ST_ENC_STATE = 7   /* measures: data (blocked var: serialized states) */
};

#define ST_MAX_PARTS 3
/* Part indexes per encoding. */
#define ST_P_DATA 0
#define ST_P_NULLS 1
#define ST_P_DICT 0
#define ST_P_IDS 1
#define ST_P_BITMAPS 2

/* Layouts of a string column's bitmaps part (its last u32). */
#define ST_DICT_PLAIN 0u
#define ST_DICT_FRONT 1u
#define ST_BITMAPS_ROARING 0u
#define ST_BITMAPS_POSTINGS 1u /* read only: files of earlier builds */
#define ST_BITMAPS_EF 2u
#define ST_EF_GROUP 64u /* ids per sample of the Elias-Fano layout */

struct storage__part {
    uint64_t off, len;
    uint32_t crc;
    atomic_int checked; /* 0 not yet, 1 checksum and structure good */
};

struct storage__scol {
    struct storage_column def; /* name owned; agg with no expressions */
    uint8_t enc;
    uint8_t nparts;
    uint32_t dict_count; /* STRING: values, excluding the NULL id */
    uint32_t state_size;
    struct storage__part parts[ST_MAX_PARTS];
    /* lazily built, published with CAS */
    _Atomic(roaring_bitmap_t *) nulls;
    _Atomic(_Atomic(roaring_bitmap_t *) *) bitmaps; /* dict_count + 1 */
    unsigned id_width;
    /* STRING: the dictionary in the plain layout, set when the dict part is
     * checked: the mapped part itself, or `dict_heap` decoded from it */
    const uint8_t *dict;
    _Atomic(uint8_t *) dict_heap;
};

struct storage__seg {
    atomic_int refs;
    struct segstore *store;   /* holds the file; NULL for in-memory segments */
    struct segstore_map smap; /* the store's mapping (store != NULL) */
    void *owned;              /* in-memory bytes freed with the segment (or NULL) */
    char *name;
    const uint8_t *map;
    size_t size;
    uint64_t nrows;
    int64_t min_time, max_time, chunk_start, chunk_end;
    uint8_t table_type, partitioning, time_resolution, flags;
    size_t ncols; /* column 0 is __time */
    struct storage__scol *cols;
    atomic_bool obsolete;    /* remove it from the store at the last unref */
    atomic_bool corrupt;     /* a part failed its check at read time */
    atomic_bool claimed;     /* the first failure writes corrupt_msg */
    char corrupt_msg[512];   /* valid once `corrupt` reads true (acquire) */
    roaring_bitmap_t *empty; /* returned for "no nulls" */
    roaring_bitmap_t *all;   /* every row: NULLs of a column the segment lacks */
};

/* Opens segment `name` of a store (the segment holds a reference to it). */
int storage__seg_open(struct segstore *store, const char *name, struct storage__seg **out,
                      struct lerr *err);
/* Reads in place from p (which must outlive the segment). */
int storage__seg_open_mem(const void *p, size_t n, const char *name, struct storage__seg **out,
                          struct lerr *err);
int storage__seg_verify_all(struct storage__seg *s, struct lerr *err);
struct storage__seg *storage__seg_ref(struct storage__seg *s);
void storage__seg_unref(struct storage__seg *s);
uint64_t storage__seg_file_bytes(const struct storage__seg *s);

/* Verified part bytes (checksum on first use). */
int storage__seg_part(struct storage__seg *s, size_t col, unsigned part, const uint8_t **p,
                      uint64_t *len, struct lerr *err);
/* Decodes block `blk` of a blocked part: int64/double/float values (dst of
 * ST_BLOCK * 8 bytes) or var data (into `scratch`, then lens/bytes point into
 * it). Returns the row count of the block or -1 with err set. */
int64_t storage__seg_block_fixed(struct storage__seg *s, size_t col, uint64_t blk, void *dst,
                                 struct lerr *err);
int64_t storage__seg_block_var(struct storage__seg *s, size_t col, uint64_t blk,
                               struct buf *scratch, const uint32_t **lens, const uint8_t **bytes,
                               struct lerr *err);
/* Null flags of rows [row0, row0+n) (zeros when the column has no nulls). */
int storage__seg_null_flags(struct storage__seg *s, size_t col, uint64_t row0, uint32_t n,
                            bool *out, struct lerr *err);
int storage__seg_ids(struct storage__seg *s, size_t col, uint64_t row0, uint32_t n, uint32_t *out,
                     struct lerr *err);
/* Dictionary entry id (1..dict_count) of a verified dict part. */
void storage__seg_dict_entry(const struct storage__seg *s, size_t col, uint32_t id, const char **p,
                             uint32_t *n);
/* Lower bound: first id >= 1 whose value is >= (p, n) in byte order. */
uint32_t storage__seg_dict_lower(const struct storage__seg *s, size_t col, const char *p,
                                 size_t n);
const roaring_bitmap_t *storage__seg_bitmap(struct storage__seg *s, size_t col, uint32_t id,
                                            struct lerr *err);
const roaring_bitmap_t *storage__seg_null_bitmap(struct storage__seg *s, size_t col,
                                                 struct lerr *err);
/* Sets err to the standard "part is corrupt" message and marks the segment. */
int storage__seg_corrupt(struct storage__seg *s, size_t col, unsigned part, uint64_t off,
                         struct lerr *err, const char *what);

/* ---- table versions and views (table.c, scan.c) ------------------------ */

/* A segment as one schema version sees it: colmap[i] is the segment's
 * column for schema column i, or -1 (reads as NULL). Shared by versions with
 * the same schema. */
struct storage__vseg {
    atomic_int refs;
    struct storage__seg *seg;
    size_t ncols;
    int32_t colmap[];
};

/* What the table shows at one moment: immutable, refcounted. */
struct storage__version {
    atomic_int refs;
    struct storage__schema *schema;
    size_t nsegs;
    struct storage__vseg **segs;
    size_t nrts;
    struct rt_buf **rts;
};

struct storage__version *storage__version_ref(struct storage__version *v);
void storage__version_unref(struct storage__version *v);
void storage__vseg_unref(struct storage__vseg *vs);

struct storage_view {
    bool realtime;
    const struct storage__schema *schema;
    uint64_t rows;
    int64_t min_time, max_time, chunk_start, chunk_end;
    /* realtime */
    struct rt_buf *rt;
    const uint32_t *dict_counts; /* per schema column, at snapshot time */
    /* segment */
    struct storage__seg *seg;
    const int32_t *colmap;
    char name[96];
};

/* Views over a version (segments not known corrupt, realtime buffers with
 * rows); the snapshot holds a reference to the version. */
struct storage_snapshot *storage__snapshot_build(struct storage__version *v);
/* Adds a segment the snapshot cannot read (storage_snapshot.missing); false on OOM. */
bool storage__snapshot_add_missing(struct storage_snapshot *s, const char *name,
                                   int64_t chunk_start, int64_t chunk_end, const char *msg,
                                   int code);
/* A view of one segment for schema sc (compaction reads through it). */
void storage__view_init_seg(struct storage_view *vw, const struct storage__schema *sc,
                            struct storage__vseg *vs);

/* ---- segwrite.c --------------------------------------------------------- */

/*
 * Writes rows [0, nrows) of buffer b as segment `name` of the store (a
 * temporary file, then segstore_put) and fills info (info->name points to
 * `name`). `sc` is the schema to record (>= the buffer's columns). On error
 * nothing is left behind.
 */
int storage__seg_write(struct segstore *store, const char *name, const struct storage__schema *sc,
                       const struct rt_buf *b, uint64_t nrows, bool try_zstd,
                       struct storage_segment_info *info, struct lerr *err);
/* A fresh segment file name for a chunk (into out[96]). */
void storage__seg_name(int64_t chunk_start, char out[96]);

/*
 * A dictionary value to sort for a segment: its first 16 bytes big-endian
 * (zero padded) decide most comparisons without touching the bytes (values
 * often share a first 8: "Article_", "https://").
 */
struct storage__skey {
    uint64_t pfx[2];
    const char *p;
    uint32_t n, id;
};

/* Fills k for value (p, n) of dictionary id `id`. */
void storage__skey_set(struct storage__skey *k, const char *p, uint32_t n, uint32_t id);
/* Byte order of the values (shorter first on a common prefix), for qsort. */
int storage__skey_cmp(const void *a, const void *b);
/* Sorts k[0..n) into storage__skey_cmp order (a radix sort on the prefixes, then
 * comparisons where they tie); tmp is scratch for n keys. Equal keys may
 * come out in any order: a dictionary has none. */
void storage__skey_sort(struct storage__skey *k, size_t n, struct storage__skey *tmp);

#endif
