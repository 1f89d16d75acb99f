/*
 * codec.c — the byte-level pieces of segment files: CRC32C (SSE4.2 when the
 * CPU has it, else slicing-by-8 tables), bit packing of integers, and the
 * block codecs (LZ4, zstd, frame of reference, delta) with "pick the
 * smallest" encoders. Also a byte hash for the realtime dictionaries, and
 * the entries of multi-value string columns (storage_mv_encode/decode: a
 * row's list as one dictionary entry) and of typed ARRAY columns
 * (storage_array_encode/decode, the same layout with typed elements).
 *
 * Entry points: util_crc32c(), storage__bitpack*(), storage__bitunpack*(),
 * storage__encode_longs(), storage__encode_bytes(), storage__decode_block(), storage__hash_bytes(),
 * storage_mv_encode(), storage_mv_decode(), storage_mv_handling_name/parse(),
 * storage_array_encode(), storage_array_decode(), storage_array_type_name/sql_name/parse().
 * Everything is thread-safe: what is kept between calls (zstd contexts,
 * the encoders' candidate buffers) is kept per thread. (The CRC32C of
 * every part is util_crc32c.)
 *
 * Decoders treat their input as hostile: every length is checked against
 * the bytes present before anything is read.
 */
#include "storage/storage_int.h"

#include <strings.h>

#include <lz4.h>
#include <pthread.h>
#include <zstd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define ST_HAVE_SSE42_PATH 1
#endif

/* ---- hashing ------------------------------------------------------------ */

/*
 * The realtime dictionaries hash every string value they are given (rt.c),
 * so this is on the path of each ingested row. Never stored: it may change
 * between builds. With 128-bit products (their two halves folded), 16
 * bytes per two independent multiplies and the tail read as overlapping
 * words, not byte by byte, in the manner of wyhash; each word is
 * multiplied by a constant of its own rather than by another input word,
 * so no input makes a product zero for every value of the rest (which
 * would let crafted values share one slot), and util_mix64 at the end
 * spreads every bit into the top ones, which pick the slot and the tag.
 */
#if defined(__SIZEOF_INT128__)
__extension__ typedef unsigned __int128 storage__u128;

static inline uint64_t hash_mum(uint64_t a, uint64_t b)
{
    storage__u128 r = (storage__u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t hash_u32(const uint8_t *s) { return util_load_u32(s); }

uint64_t storage__hash_bytes(const void *p, size_t n)
{
    static const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL,
                          k2 = 0x8ebc6af09c88c6e3ULL;
    const uint8_t *s = p;
    uint64_t seed = 0x9E3779B97F4A7C15ULL, a, b;
    if (n <= 16) {
        if (n >= 4) {
            size_t m = (n >> 3) << 2; /* 0 below 8 bytes, else 4 */
            a = hash_u32(s) << 32 | hash_u32(s + m);
            b = hash_u32(s + n - 4) << 32 | hash_u32(s + n - 4 - m);
        } else if (n > 0) {
            a = (uint64_t)s[0] << 16 | (uint64_t)s[n >> 1] << 8 | s[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;
        for (; i > 16; i -= 16, s += 16)
            seed = hash_mum(util_load_u64(s) ^ seed ^ k1, k2) ^
                   hash_mum(util_load_u64(s + 8) ^ k0, k1);
        a = util_load_u64(s + i - 16);
        b = util_load_u64(s + i - 8);
    }
    return util_mix64(hash_mum(a ^ seed ^ k1, k2 ^ (uint64_t)n) + hash_mum(b ^ k0, k1));
}
#else
uint64_t storage__hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        h = (h ^ util_mix64(storage__get_u64(s))) * 0x100000001b3ULL;
        s += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < n; i++)
        tail |= (uint64_t)s[i] << (8 * i);
    return util_mix64(h ^ tail ^ (n << 56));
}
#endif

/* ---- bit packing -------------------------------------------------------- */

unsigned storage__bits_for(uint64_t max)
{
    return max ? 64u - (unsigned)__builtin_clzll(max) : 0u;
}

size_t storage__bitpack_size(uint64_t n, unsigned width)
{
    return (size_t)((n * width + 63) / 64) * 8 + 8;
}

/* Values are laid out LSB first: value i occupies bits [i*w, (i+1)*w). */
static inline void put_bits(uint8_t *out, uint64_t bit, uint64_t v, unsigned w)
{
    uint64_t byte = bit >> 3;
    unsigned sh = (unsigned)(bit & 7);
    /* Up to 64 + 7 bits: write as a 64-bit word then a spill byte. */
    uint64_t lo = storage__get_u64(out + byte) | (v << sh);
    storage__put_u64(out + byte, lo);
    if (sh && w + sh > 64)
        out[byte + 8] |= (uint8_t)(v >> (64 - sh));
}

void storage__bitpack(const uint64_t *in, size_t n, unsigned width, uint8_t *out)
{
    if (!width)
        return;
    for (size_t i = 0; i < n; i++)
        put_bits(out, (uint64_t)i * width, in[i], width);
}

void storage__bitpack32(const uint32_t *in, size_t n, unsigned width, uint8_t *out)
{
    if (!width)
        return;
    for (size_t i = 0; i < n; i++)
        put_bits(out, (uint64_t)i * width, in[i], width);
}

static inline uint64_t get_bits(const uint8_t *in, uint64_t bit, unsigned w, uint64_t mask)
{
    uint64_t byte = bit >> 3;
    unsigned sh = (unsigned)(bit & 7);
    uint64_t v = storage__get_u64(in + byte) >> sh;
    if (sh && w + sh > 64)
        v |= (uint64_t)in[byte + 8] << (64 - sh);
    return v & mask;
}

void storage__bitunpack64(const uint8_t *in, uint64_t start, size_t n, unsigned width,
                          uint64_t *out)
{
    if (!width) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    uint64_t mask = width == 64 ? ~0ULL : (1ULL << width) - 1;
    uint64_t bit = start * width;
    if (width <= 56) {
        /* one unaligned load per value: shift <= 7, 7 + 56 <= 64 */
        for (size_t i = 0; i < n; i++, bit += width)
            out[i] = (storage__get_u64(in + (bit >> 3)) >> (bit & 7)) & mask;
        return;
    }
    for (size_t i = 0; i < n; i++, bit += width)
        out[i] = get_bits(in, bit, width, mask);
}

/* The hot loop of GROUP BY over string ids: widths <= 32 fit one unaligned
 * 64-bit load per value (shift <= 7, 7 + 32 < 64). */
void storage__bitunpack32(const uint8_t *in, uint64_t start, size_t n, unsigned width,
                          uint32_t *out)
{
    if (!width) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    uint64_t mask = (1ULL << width) - 1;
    uint64_t bit = start * width;
    for (size_t i = 0; i < n; i++, bit += width)
        out[i] = (uint32_t)((storage__get_u64(in + (bit >> 3)) >> (bit & 7)) & mask);
}

/* ---- zstd with per-thread contexts -------------------------------------- */

/*
 * A zstd context costs hundreds of KB to create and zero, more than
 * compressing one 4096-row block: each thread keeps one of each kind, freed
 * when the thread exits.
 */
static pthread_key_t zkey_c, zkey_d, zkey_pick;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;
static bool zkeys_ok;

/* The two buffers "pick the smallest" (below) builds candidates in, kept
 * per thread too: built afresh for every block they grew by doubling from
 * 256 bytes each time, copying as they went. */
struct pick_bufs {
    struct buf a, b;
};

static void free_cctx(void *p) { ZSTD_freeCCtx(p); }
static void free_dctx(void *p) { ZSTD_freeDCtx(p); }
static void free_pick_bufs(void *p)
{
    struct pick_bufs *pb = p;
    buf_free(&pb->a);
    buf_free(&pb->b);
    free(pb);
}
static void zkeys_init(void)
{
    zkeys_ok = pthread_key_create(&zkey_c, free_cctx) == 0 &&
               pthread_key_create(&zkey_d, free_dctx) == 0 &&
               pthread_key_create(&zkey_pick, free_pick_bufs) == 0;
}

static void *new_cctx(void) { return ZSTD_createCCtx(); }
static void *new_dctx(void) { return ZSTD_createDCtx(); }
static void *new_pick_bufs(void)
{
    struct pick_bufs *pb = malloc(sizeof *pb);
    if (pb) {
        buf_init(&pb->a, 0);
        buf_init(&pb->b, 0);
    }
    return pb;
}

/* key is read after the once-init that creates it */
static void *thread_ctx(const pthread_key_t *key, void *(*create)(void), void (*destroy)(void *))
{
    pthread_once(&zonce, zkeys_init);
    if (!zkeys_ok)
        return NULL;
    void *c = pthread_getspecific(*key);
    if (!c && (c = create()) != NULL && pthread_setspecific(*key, c) != 0) {
        destroy(c);
        c = NULL;
    }
    return c;
}

bool storage__zstd_append(struct buf *out, const void *raw, size_t len, int level)
{
    ZSTD_CCtx *c = thread_ctx(&zkey_c, new_cctx, free_cctx);
    size_t bound = ZSTD_compressBound(len);
    char *tmp = c ? malloc(bound) : NULL;
    if (!tmp)
        return false;
    size_t r = ZSTD_compressCCtx(c, tmp, bound, raw, len, level);
    bool ok = !ZSTD_isError(r) && buf_append(out, tmp, r);
    free(tmp);
    return ok;
}

bool storage__zstd_decode(const void *src, size_t clen, void *dst, size_t rawlen)
{
    ZSTD_DCtx *d = thread_ctx(&zkey_d, new_dctx, free_dctx);
    if (!d)
        return false;
    size_t r = ZSTD_decompressDCtx(d, dst, rawlen, src, clen);
    return !ZSTD_isError(r) && r == rawlen;
}

/* ---- block codecs ------------------------------------------------------- */

/* FOR and DELTA payloads: [i64 base][u8 width][7 pad][packed]. */
#define PACK_HDR 16u

static uint64_t zigzag(uint64_t d) { return (d << 1) ^ (0ULL - (d >> 63)); }
static uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (0ULL - (z & 1)); }

static bool append_packed(struct buf *out, int64_t base, const uint64_t *vals, size_t n,
                          unsigned width)
{
    size_t sz = PACK_HDR + storage__bitpack_size(n, width);
    uint8_t *tmp = calloc(1, sz);
    if (!tmp)
        return false;
    storage__put_u64(tmp, (uint64_t)base);
    tmp[8] = (uint8_t)width;
    storage__bitpack(vals, n, width, tmp + PACK_HDR);
    bool ok = buf_append(out, tmp, sz);
    free(tmp);
    return ok;
}

static bool append_compressed(struct buf *out, int codec, const void *raw, size_t len)
{
    if (!len || len > INT32_MAX)
        return false;
    if (codec == ST_CODEC_ZSTD)
        return storage__zstd_append(out, raw, len, 3);
    int bound = LZ4_compressBound((int)len);
    char *tmp = malloc((size_t)bound);
    if (!tmp)
        return false;
    int r = LZ4_compress_default(raw, tmp, (int)len, bound);
    bool ok = r > 0 && buf_append(out, tmp, (size_t)r);
    free(tmp);
    return ok;
}

/*
 * FORZ and DELTAZ: the FOR or DELTA values at the next whole byte width
 * (1, 2, 4 or 8 bytes, little-endian), then zstd level 1, whose entropy
 * coder takes what fixed-width packing cannot: skewed values (mostly
 * zeros, or small numbers with a long tail) cost their entropy rather than
 * the width of the largest. Payload: [i64 base][u8 bytes][7 pad][zstd].
 */
static unsigned whole_bytes(unsigned width)
{
    return width <= 8 ? 1 : width <= 16 ? 2 : width <= 32 ? 4 : 8;
}

static bool append_narrow_zstd(struct buf *out, int64_t base, const uint64_t *vals, size_t n,
                               unsigned width)
{
    unsigned bpv = whole_bytes(width);
    uint8_t *tmp = malloc(n * bpv + 1);
    if (!tmp)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = vals[i];
        for (unsigned k = 0; k < bpv; k++)
            tmp[i * bpv + k] = (uint8_t)(v >> (8 * k));
    }
    uint8_t hdr[PACK_HDR] = {0};
    storage__put_u64(hdr, (uint64_t)base);
    hdr[8] = (uint8_t)bpv;
    bool ok = buf_append(out, hdr, sizeof hdr) &&
              (n == 0 || storage__zstd_append(out, tmp, n * bpv, 1));
    free(tmp);
    return ok;
}

/*
 * "Pick the smallest": each candidate encoding is built into `cand`, and
 * offered; the best so far is kept in `best`. zstd must beat the best by 10%
 * to be chosen, as it decodes several times slower than LZ4 or unpacking.
 * The two buffers are the thread's (pick_bufs), kept between blocks unless
 * a block made them big; without them (no memory for the thread's), fresh.
 */
#define PICK_KEEP_BYTES (1u << 20)

struct pick {
    struct buf *best, *cand;
    int codec;
    struct pick_bufs *tl; /* the thread's buffers, or NULL: own */
    struct pick_bufs own;
};

static void pick_init(struct pick *pk)
{
    pk->tl = thread_ctx(&zkey_pick, new_pick_bufs, free_pick_bufs);
    struct pick_bufs *pb = pk->tl ? pk->tl : &pk->own;
    if (!pk->tl) {
        buf_init(&pb->a, 0);
        buf_init(&pb->b, 0);
    }
    buf_reset(&pb->a);
    buf_reset(&pb->b);
    pk->best = &pb->a;
    pk->cand = &pb->b;
    pk->codec = -1;
}

static void pick_offer(struct pick *pk, bool built, int codec)
{
    bool better = pk->codec < 0 || pk->cand->len < pk->best->len;
    bool slow = codec == ST_CODEC_ZSTD || codec == ST_CODEC_FORZ || codec == ST_CODEC_DELTAZ;
    if (slow && pk->codec >= 0)
        better = pk->cand->len * 10 <= pk->best->len * 9;
    if (built && !pk->cand->failed && better) {
        struct buf *t = pk->best;
        pk->best = pk->cand;
        pk->cand = t;
        pk->codec = codec;
    }
    buf_reset(pk->cand);
}

static void pick_release(struct pick *pk, struct buf *b)
{
    if (!pk->tl || b->alloc > PICK_KEEP_BYTES)
        buf_free(b);
    else
        buf_reset(b);
}

/* Appends the winner (RAW unless something beat the raw size) to out. */
static int pick_finish(struct pick *pk, const void *raw, size_t len, struct buf *out)
{
    int codec = pk->codec;
    bool ok;
    if (codec < 0 || pk->best->len >= len) {
        codec = ST_CODEC_RAW;
        ok = len == 0 || buf_append(out, raw, len);
    } else {
        ok = buf_append(out, pk->best->data, pk->best->len);
    }
    pick_release(pk, pk->best);
    pick_release(pk, pk->cand);
    return ok ? codec : -1;
}

int storage__encode_longs(const int64_t *v, uint32_t n, bool try_zstd, struct buf *out)
{
    struct pick pk;
    pick_init(&pk);
    size_t len = (size_t)n * 8;
    uint64_t *tmp = n ? malloc(n * sizeof *tmp) : NULL;
    if (n && tmp) {
        int64_t mn = v[0], mx = v[0];
        for (uint32_t i = 1; i < n; i++) {
            mn = v[i] < mn ? v[i] : mn;
            mx = v[i] > mx ? v[i] : mx;
        }
        for (uint32_t i = 0; i < n; i++)
            tmp[i] = (uint64_t)v[i] - (uint64_t)mn;
        unsigned wf = storage__bits_for((uint64_t)mx - (uint64_t)mn);
        pick_offer(&pk, append_packed(pk.cand, mn, tmp, n, wf), ST_CODEC_FOR);
        if (try_zstd && wf)
            pick_offer(&pk, append_narrow_zstd(pk.cand, mn, tmp, n, wf), ST_CODEC_FORZ);
        uint64_t dor = 0;
        for (uint32_t i = 1; i < n; i++) {
            tmp[i - 1] = zigzag((uint64_t)v[i] - (uint64_t)v[i - 1]);
            dor |= tmp[i - 1];
        }
        unsigned wd = storage__bits_for(dor);
        pick_offer(&pk, append_packed(pk.cand, v[0], tmp, n - 1, wd), ST_CODEC_DELTA);
        if (try_zstd && wd)
            pick_offer(&pk, append_narrow_zstd(pk.cand, v[0], tmp, n - 1, wd), ST_CODEC_DELTAZ);
    }
    free(tmp);
    /* LZ4 only when packing left much to gain (repeated values, patterns) */
    if (pk.codec < 0 || pk.best->len > len / 4)
        pick_offer(&pk, append_compressed(pk.cand, ST_CODEC_LZ4, v, len), ST_CODEC_LZ4);
    if (try_zstd)
        pick_offer(&pk, append_compressed(pk.cand, ST_CODEC_ZSTD, v, len), ST_CODEC_ZSTD);
    return pick_finish(&pk, v, len, out);
}

int storage__encode_bytes(const void *raw, size_t len, bool try_zstd, struct buf *out)
{
    struct pick pk;
    pick_init(&pk);
    pick_offer(&pk, append_compressed(pk.cand, ST_CODEC_LZ4, raw, len), ST_CODEC_LZ4);
    if (try_zstd)
        pick_offer(&pk, append_compressed(pk.cand, ST_CODEC_ZSTD, raw, len), ST_CODEC_ZSTD);
    return pick_finish(&pk, raw, len, out);
}

/* The last step of FOR (add the base) or DELTA (dst[1..n) hold zigzag
 * deltas: sum them up from the base). */
static void add_base(bool is_for, uint64_t base, int64_t *dst, size_t n)
{
    if (is_for) {
        for (size_t i = 0; i < n; i++)
            dst[i] = (int64_t)((uint64_t)dst[i] + base);
        return;
    }
    if (!n)
        return;
    uint64_t acc = base;
    dst[0] = (int64_t)acc;
    for (size_t i = 1; i < n; i++) {
        acc += unzigzag((uint64_t)dst[i]);
        dst[i] = (int64_t)acc;
    }
}

/* FORZ/DELTAZ: zstd into the front of the values' place, then widen in
 * place from the last value down (each value's bytes sit below its slot). */
static bool decode_narrow(int codec, const uint8_t *src, size_t clen, int64_t *dst, size_t n)
{
    if (clen < PACK_HDR)
        return false;
    uint64_t base = storage__get_u64(src);
    unsigned bpv = src[8];
    if (bpv != 1 && bpv != 2 && bpv != 4 && bpv != 8)
        return false;
    size_t npacked = codec == ST_CODEC_FORZ ? n : (n ? n - 1 : 0);
    uint64_t *vals = (uint64_t *)dst + (codec == ST_CODEC_FORZ ? 0 : 1);
    if (npacked && !storage__zstd_decode(src + PACK_HDR, clen - PACK_HDR, vals, npacked * bpv))
        return false;
    if (!npacked && clen != PACK_HDR)
        return false;
    const uint8_t *b = (const uint8_t *)vals;
    for (size_t i = npacked; i-- > 0;) {
        uint64_t v = 0;
        for (unsigned k = 0; k < bpv; k++)
            v |= (uint64_t)b[i * bpv + k] << (8 * k);
        vals[i] = v;
    }
    add_base(codec == ST_CODEC_FORZ, base, dst, n);
    return true;
}

static bool decode_packed(int codec, const uint8_t *src, size_t clen, int64_t *dst, size_t n)
{
    if (clen < PACK_HDR)
        return false;
    uint64_t base = storage__get_u64(src);
    unsigned w = src[8];
    size_t npacked = codec == ST_CODEC_FOR ? n : (n ? n - 1 : 0);
    if (w > 64 || clen < PACK_HDR + storage__bitpack_size(npacked, w))
        return false;
    /* FOR into dst[0..] with the base added on the way (the hot path of
     * numeric scans); delta into dst[1..], then a prefix sum from base */
    const uint8_t *p = src + PACK_HDR;
    if (codec == ST_CODEC_FOR && w && w <= 56) {
        uint64_t mask = (1ULL << w) - 1, bit = 0;
        for (size_t i = 0; i < n; i++, bit += w)
            dst[i] = (int64_t)(((storage__get_u64(p + (bit >> 3)) >> (bit & 7)) & mask) + base);
        return true;
    }
    bool is_for = codec == ST_CODEC_FOR;
    if (npacked)
        storage__bitunpack64(p, 0, npacked, w, (uint64_t *)dst + (is_for ? 0 : 1));
    add_base(is_for, base, dst, n);
    return true;
}

bool storage__decode_block(int codec, const uint8_t *src, size_t clen, void *dst, size_t rawlen)
{
    switch (codec) {
    case ST_CODEC_RAW:
        if (clen != rawlen)
            return false;
        if (rawlen)
            memcpy(dst, src, rawlen);
        return true;
    case ST_CODEC_LZ4: {
        if (clen > INT32_MAX || rawlen > INT32_MAX)
            return false;
        int r = LZ4_decompress_safe((const char *)src, dst, (int)clen, (int)rawlen);
        return r >= 0 && (size_t)r == rawlen;
    }
    case ST_CODEC_ZSTD: return storage__zstd_decode(src, clen, dst, rawlen);
    case ST_CODEC_FORZ:
    case ST_CODEC_DELTAZ:
        if (rawlen % 8)
            return false;
        return decode_narrow(codec, src, clen, dst, rawlen / 8);
    case ST_CODEC_FOR:
    case ST_CODEC_DELTA:
        if (rawlen % 8)
            return false;
        return decode_packed(codec, src, clen, dst, rawlen / 8);
    default: return false;
    }
}

/* ---- multi-value string entries ------------------------------------------ */

int64_t storage_mv_decode(const char *p, size_t n, struct sql_value *items, uint32_t cap)
{
    size_t pos = 0;
    int64_t k = 0;
    while (pos < n) {
        if (n - pos < 4 || k >= (int64_t)STORAGE_MV_MAX_ITEMS)
            return -1;
        uint32_t len = storage__get_u32(p + pos);
        pos += 4;
        if (len == STORAGE_MV_NULL_ELEM) {
            if (items && k < cap)
                items[k] = sql_null(SQL_STRING);
        } else {
            if (len > n - pos)
                return -1;
            if (items && k < cap)
                items[k] = sql_string(p + pos, len);
            pos += len;
        }
        k++;
    }
    return k;
}

/* Byte order, shorter first on a common prefix; NULL elements first. */
static int elem_cmp(const void *a, const void *b)
{
    const struct sql_value *x = a, *y = b;
    if (x->is_null || y->is_null)
        return x->is_null && y->is_null ? 0 : x->is_null ? -1 : 1;
    uint32_t m = x->v.s.n < y->v.s.n ? x->v.s.n : y->v.s.n;
    int c = m ? memcmp(x->v.s.p, y->v.s.p, m) : 0;
    if (c)
        return c;
    return x->v.s.n < y->v.s.n ? -1 : x->v.s.n > y->v.s.n;
}

int storage_mv_encode(const struct sql_value *v, int handling, struct arena *mem, const char **out,
                      uint32_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    if (v->is_null || v->type == SQL_NULL)
        return 0;
    uint32_t cnt = v->type == SQL_ARRAY ? v->v.a.n : 1;
    if (cnt == 0)
        return 0;
    if (cnt > STORAGE_MV_MAX_ITEMS)
        return lerr_set(err, LERR_INVALID,
                        "a multi-value string holds %u values; at most %u fit in one row", cnt,
                        STORAGE_MV_MAX_ITEMS);
    struct sql_value *el = arena_alloc(mem, cnt * sizeof *el);
    if (!el)
        return lerr_set(err, LERR_NOMEM, "out of memory encoding a multi-value string");
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        const struct sql_value *x = v->type == SQL_ARRAY ? &v->v.a.items[i] : v;
        el[i] = x->is_null || x->type == SQL_NULL ? sql_null(SQL_STRING)
                : x->type == SQL_STRING           ? *x
                                                  : sql_value_cast(x, SQL_STRING, mem);
        if (!el[i].is_null && el[i].type != SQL_STRING)
            el[i] = sql_null(SQL_STRING);
        bytes += 4 + (el[i].is_null ? 0 : el[i].v.s.n);
    }
    if (bytes > STORAGE_MV_MAX_BYTES)
        return lerr_set(err, LERR_INVALID,
                        "a multi-value string of %llu bytes; at most %u bytes fit in one row",
                        (unsigned long long)bytes, STORAGE_MV_MAX_BYTES);
    if (handling != STORAGE_MV_ARRAY && cnt > 1)
        qsort(el, cnt, sizeof *el, elem_cmp);
    char *b = arena_alloc(mem, bytes ? bytes : 1);
    if (!b)
        return lerr_set(err, LERR_NOMEM, "out of memory encoding a multi-value string");
    size_t pos = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        if (handling == STORAGE_MV_SORTED_SET && i && elem_cmp(&el[i], &el[i - 1]) == 0)
            continue;
        if (el[i].is_null) {
            storage__put_u32(b + pos, STORAGE_MV_NULL_ELEM);
            pos += 4;
            continue;
        }
        storage__put_u32(b + pos, el[i].v.s.n);
        pos += 4;
        if (el[i].v.s.n)
            memcpy(b + pos, el[i].v.s.p, el[i].v.s.n);
        pos += el[i].v.s.n;
    }
    *out = b;
    *n = (uint32_t)pos;
    return 0;
}

static const char *const mv_names[] = {"SORTED_ARRAY", "SORTED_SET", "ARRAY"};

const char *storage_mv_handling_name(int handling)
{
    return handling >= 0 && handling < 3 ? mv_names[handling] : "SORTED_ARRAY";
}

int storage_mv_handling_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, mv_names[i]) == 0)
            return i;
    return -1;
}

/* ---- typed ARRAY entries ------------------------------------------------- */

bool storage_array_elem_ok(int elem)
{
    return elem == SQL_STRING || elem == SQL_LONG || elem == SQL_DOUBLE;
}

int64_t storage_array_decode(int elem, const char *p, size_t n, struct sql_value *items,
                             uint32_t cap)
{
    if (!storage_array_elem_ok(elem))
        return -1;
    size_t pos = 0;
    int64_t k = 0;
    while (pos < n) {
        if (n - pos < 4 || k >= (int64_t)STORAGE_MV_MAX_ITEMS)
            return -1;
        uint32_t len = storage__get_u32(p + pos);
        pos += 4;
        struct sql_value x = sql_null(elem);
        if (len != STORAGE_MV_NULL_ELEM) {
            if (len > n - pos || (elem != SQL_STRING && len != 8))
                return -1;
            if (elem == SQL_STRING) {
                x = sql_string(p + pos, len);
            } else {
                uint64_t bits = storage__get_u64(p + pos);
                if (elem == SQL_LONG) {
                    x = sql_long((int64_t)bits);
                } else {
                    double d;
                    memcpy(&d, &bits, 8);
                    x = sql_double(d);
                }
            }
            pos += len;
        }
        if (items && k < cap)
            items[k] = x;
        k++;
    }
    return k;
}

int storage_array_encode(const struct sql_value *v, int elem, struct arena *mem, const char **out,
                         uint32_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    if (!storage_array_elem_ok(elem))
        return lerr_set(err, LERR_INVALID,
                        "an ARRAY column's element type must be STRING, LONG "
                        "or DOUBLE");
    if (v->is_null || v->type == SQL_NULL)
        return 0;
    uint32_t cnt = v->type == SQL_ARRAY ? v->v.a.n : 1;
    if (cnt > STORAGE_MV_MAX_ITEMS)
        return lerr_set(err, LERR_INVALID, "an array of %u elements; at most %u fit in one row",
                        cnt, STORAGE_MV_MAX_ITEMS);
    struct sql_value *el = arena_alloc(mem, (cnt ? cnt : 1) * sizeof *el);
    if (!el)
        return lerr_set(err, LERR_NOMEM, "out of memory encoding an array");
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        const struct sql_value *x = v->type == SQL_ARRAY ? &v->v.a.items[i] : v;
        if (x->is_null || x->type == SQL_NULL || x->type == SQL_ARRAY || x->type == SQL_JSON)
            el[i] = sql_null(elem);
        else if (x->type == elem)
            el[i] = *x;
        else
            el[i] = sql_value_cast(x, elem, mem);
        if (!el[i].is_null && el[i].type != elem)
            el[i] = sql_null(elem);
        bytes += 4 + (el[i].is_null ? 0 : elem == SQL_STRING ? el[i].v.s.n : 8);
    }
    if (bytes > STORAGE_MV_MAX_BYTES)
        return lerr_set(err, LERR_INVALID,
                        "an array of %llu bytes; at most %u bytes fit in one row",
                        (unsigned long long)bytes, STORAGE_MV_MAX_BYTES);
    char *b = arena_alloc(mem, bytes ? bytes : 1);
    if (!b)
        return lerr_set(err, LERR_NOMEM, "out of memory encoding an array");
    size_t pos = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        if (el[i].is_null) {
            storage__put_u32(b + pos, STORAGE_MV_NULL_ELEM);
            pos += 4;
        } else if (elem == SQL_STRING) {
            storage__put_u32(b + pos, el[i].v.s.n);
            pos += 4;
            if (el[i].v.s.n)
                memcpy(b + pos, el[i].v.s.p, el[i].v.s.n);
            pos += el[i].v.s.n;
        } else {
            storage__put_u32(b + pos, 8);
            pos += 4;
            uint64_t bits;
            if (elem == SQL_LONG)
                bits = (uint64_t)el[i].v.l;
            else
                memcpy(&bits, &el[i].v.d, 8);
            memcpy(b + pos, &bits, 8);
            pos += 8;
        }
    }
    *out = b;
    *n = (uint32_t)pos;
    return 0;
}

const char *storage_array_type_name(int elem)
{
    return elem == SQL_LONG     ? "ARRAY<LONG>"
           : elem == SQL_DOUBLE ? "ARRAY<DOUBLE>"
                                : "ARRAY<STRING>";
}

const char *storage_array_sql_name(int elem)
{
    return elem == SQL_LONG     ? "BIGINT ARRAY"
           : elem == SQL_DOUBLE ? "DOUBLE ARRAY"
                                : "VARCHAR ARRAY";
}

int storage_array_type_parse(const char *s, size_t n)
{
    /* "ARRAY" "<" element ">" with optional spaces inside the brackets */
    static const struct {
        const char *name;
        int elem;
    } els[] = {{"STRING", SQL_STRING}, {"LONG", SQL_LONG}, {"DOUBLE", SQL_DOUBLE}};
    if (!s || n < 7 || strncasecmp(s, "ARRAY<", 6) != 0 || s[n - 1] != '>')
        return -1;
    size_t a = 6, b = n - 1;
    while (a < b && s[a] == ' ')
        a++;
    while (b > a && s[b - 1] == ' ')
        b--;
    for (size_t i = 0; i < sizeof els / sizeof els[0]; i++)
        if (strlen(els[i].name) == b - a && strncasecmp(s + a, els[i].name, b - a) == 0)
            return els[i].elem;
    return -1;
}
