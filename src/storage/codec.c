/*
 * codec.c — the byte-level pieces of segment files: CRC32C (SSE4.2 when the
 * CPU has it, else slicing-by-8 tables), bit packing of integers, and the
 * block codecs (LZ4, zstd, frame of reference, delta) with "pick the
 * smallest" encoders. Also a byte hash for the realtime dictionaries.
 *
 * Entry points: util_crc32c(), st_bitpack*(), st_bitunpack*(),
 * st_encode_longs(), st_encode_bytes(), st_decode_block(), st_hash_bytes().
 * Everything is thread-safe. (The CRC32C of every part is util_crc32c.)
 *
 * Decoders treat their input as hostile: every length is checked against
 * the bytes present before anything is read.
 */
#include "storage/storage_int.h"

#include <lz4.h>
#include <zstd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define ST_HAVE_SSE42_PATH 1
#endif

/* ---- hashing ------------------------------------------------------------ */

uint64_t st_hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        h = (h ^ st_mix64(st_get_u64(s))) * 0x100000001b3ULL;
        s += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < n; i++)
        tail |= (uint64_t)s[i] << (8 * i);
    return st_mix64(h ^ tail ^ (n << 56));
}

/* ---- bit packing -------------------------------------------------------- */

unsigned st_bits_for(uint64_t max)
{
    return max ? 64u - (unsigned)__builtin_clzll(max) : 0u;
}

size_t st_bitpack_size(uint64_t n, unsigned width)
{
    return (size_t)((n * width + 63) / 64) * 8 + 8;
}

/* Values are laid out LSB first: value i occupies bits [i*w, (i+1)*w). */
static inline void put_bits(uint8_t *out, uint64_t bit, uint64_t v, unsigned w)
{
    uint64_t byte = bit >> 3;
    unsigned sh = (unsigned)(bit & 7);
    /* Up to 64 + 7 bits: write as a 64-bit word then a spill byte. */
    uint64_t lo = st_get_u64(out + byte) | (v << sh);
    st_put_u64(out + byte, lo);
    if (sh && w + sh > 64)
        out[byte + 8] |= (uint8_t)(v >> (64 - sh));
}

void st_bitpack(const uint64_t *in, size_t n, unsigned width, uint8_t *out)
{
    if (!width)
        return;
    for (size_t i = 0; i < n; i++)
        put_bits(out, (uint64_t)i * width, in[i], width);
}

void st_bitpack32(const uint32_t *in, size_t n, unsigned width, uint8_t *out)
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
    uint64_t v = st_get_u64(in + byte) >> sh;
    if (sh && w + sh > 64)
        v |= (uint64_t)in[byte + 8] << (64 - sh);
    return v & mask;
}

void st_bitunpack64(const uint8_t *in, uint64_t start, size_t n, unsigned width, uint64_t *out)
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
            out[i] = (st_get_u64(in + (bit >> 3)) >> (bit & 7)) & mask;
        return;
    }
    for (size_t i = 0; i < n; i++, bit += width)
        out[i] = get_bits(in, bit, width, mask);
}

/* The hot loop of GROUP BY over string ids: widths <= 32 fit one unaligned
 * 64-bit load per value (shift <= 7, 7 + 32 < 64). */
void st_bitunpack32(const uint8_t *in, uint64_t start, size_t n, unsigned width, uint32_t *out)
{
    if (!width) {
        memset(out, 0, n * sizeof *out);
        return;
    }
    uint64_t mask = (1ULL << width) - 1;
    uint64_t bit = start * width;
    for (size_t i = 0; i < n; i++, bit += width)
        out[i] = (uint32_t)((st_get_u64(in + (bit >> 3)) >> (bit & 7)) & mask);
}

/* ---- block codecs ------------------------------------------------------- */

/* FOR and DELTA payloads: [i64 base][u8 width][7 pad][packed]. */
#define PACK_HDR 16u

static uint64_t zigzag(uint64_t d) { return (d << 1) ^ (0ULL - (d >> 63)); }
static uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (0ULL - (z & 1)); }

static bool append_packed(struct buf *out, int64_t base, const uint64_t *vals, size_t n,
                          unsigned width)
{
    size_t sz = PACK_HDR + st_bitpack_size(n, width);
    uint8_t *tmp = calloc(1, sz);
    if (!tmp)
        return false;
    st_put_u64(tmp, (uint64_t)base);
    tmp[8] = (uint8_t)width;
    st_bitpack(vals, n, width, tmp + PACK_HDR);
    bool ok = buf_append(out, tmp, sz);
    free(tmp);
    return ok;
}

static bool append_compressed(struct buf *out, int codec, const void *raw, size_t len)
{
    if (!len || len > INT32_MAX)
        return false;
    size_t bound = codec == ST_CODEC_LZ4 ? (size_t)LZ4_compressBound((int)len)
                                         : ZSTD_compressBound(len);
    char *tmp = malloc(bound);
    if (!tmp)
        return false;
    size_t got;
    if (codec == ST_CODEC_LZ4) {
        int r = LZ4_compress_default(raw, tmp, (int)len, (int)bound);
        got = r > 0 ? (size_t)r : 0;
    } else {
        size_t r = ZSTD_compress(tmp, bound, raw, len, 3);
        got = ZSTD_isError(r) ? 0 : r;
    }
    bool ok = got > 0 && buf_append(out, tmp, got);
    free(tmp);
    return ok;
}

/*
 * "Pick the smallest": each candidate encoding is built into `cand`, and
 * offered; the best so far is kept in `best`. zstd must beat the best by 10%
 * to be chosen, as it decodes several times slower than LZ4 or unpacking.
 */
struct pick {
    struct buf best, cand;
    int codec;
};

static void pick_init(struct pick *pk)
{
    buf_init(&pk->best, 0);
    buf_init(&pk->cand, 0);
    pk->codec = -1;
}

static void pick_offer(struct pick *pk, bool built, int codec)
{
    bool better = pk->codec < 0 || pk->cand.len < pk->best.len;
    if (codec == ST_CODEC_ZSTD && pk->codec >= 0)
        better = pk->cand.len * 10 <= pk->best.len * 9;
    if (built && !pk->cand.failed && better) {
        struct buf t = pk->best;
        pk->best = pk->cand;
        pk->cand = t;
        pk->codec = codec;
    }
    buf_reset(&pk->cand);
}

/* Appends the winner (RAW unless something beat the raw size) to out. */
static int pick_finish(struct pick *pk, const void *raw, size_t len, struct buf *out)
{
    int codec = pk->codec;
    bool ok;
    if (codec < 0 || pk->best.len >= len) {
        codec = ST_CODEC_RAW;
        ok = len == 0 || buf_append(out, raw, len);
    } else {
        ok = buf_append(out, pk->best.data, pk->best.len);
    }
    buf_free(&pk->best);
    buf_free(&pk->cand);
    return ok ? codec : -1;
}

int st_encode_longs(const int64_t *v, uint32_t n, bool try_zstd, struct buf *out)
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
        pick_offer(&pk, append_packed(&pk.cand, mn, tmp, n, st_bits_for((uint64_t)mx - (uint64_t)mn)),
                   ST_CODEC_FOR);
        uint64_t dor = 0;
        for (uint32_t i = 1; i < n; i++) {
            tmp[i - 1] = zigzag((uint64_t)v[i] - (uint64_t)v[i - 1]);
            dor |= tmp[i - 1];
        }
        pick_offer(&pk, append_packed(&pk.cand, v[0], tmp, n - 1, st_bits_for(dor)),
                   ST_CODEC_DELTA);
    }
    free(tmp);
    /* LZ4 only when packing left much to gain (repeated values, patterns) */
    if (pk.codec < 0 || pk.best.len > len / 4)
        pick_offer(&pk, append_compressed(&pk.cand, ST_CODEC_LZ4, v, len), ST_CODEC_LZ4);
    if (try_zstd)
        pick_offer(&pk, append_compressed(&pk.cand, ST_CODEC_ZSTD, v, len), ST_CODEC_ZSTD);
    return pick_finish(&pk, v, len, out);
}

int st_encode_bytes(const void *raw, size_t len, bool try_zstd, struct buf *out)
{
    struct pick pk;
    pick_init(&pk);
    pick_offer(&pk, append_compressed(&pk.cand, ST_CODEC_LZ4, raw, len), ST_CODEC_LZ4);
    if (try_zstd)
        pick_offer(&pk, append_compressed(&pk.cand, ST_CODEC_ZSTD, raw, len), ST_CODEC_ZSTD);
    return pick_finish(&pk, raw, len, out);
}

static bool decode_packed(int codec, const uint8_t *src, size_t clen, int64_t *dst, size_t n)
{
    if (clen < PACK_HDR)
        return false;
    uint64_t base = st_get_u64(src);
    unsigned w = src[8];
    size_t npacked = codec == ST_CODEC_FOR ? n : (n ? n - 1 : 0);
    if (w > 64 || clen < PACK_HDR + st_bitpack_size(npacked, w))
        return false;
    const uint8_t *p = src + PACK_HDR;
    if (codec == ST_CODEC_FOR) {
        st_bitunpack64(p, 0, n, w, (uint64_t *)dst);
        for (size_t i = 0; i < n; i++)
            dst[i] = (int64_t)((uint64_t)dst[i] + base);
        return true;
    }
    if (!n)
        return true;
    /* delta: unpack into dst[1..], then prefix-sum from base */
    st_bitunpack64(p, 0, n - 1, w, (uint64_t *)dst + 1);
    uint64_t acc = base;
    dst[0] = (int64_t)acc;
    for (size_t i = 1; i < n; i++) {
        acc += unzigzag((uint64_t)dst[i]);
        dst[i] = (int64_t)acc;
    }
    return true;
}

bool st_decode_block(int codec, const uint8_t *src, size_t clen, void *dst, size_t rawlen)
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
    case ST_CODEC_ZSTD: {
        size_t r = ZSTD_decompress(dst, rawlen, src, clen);
        return !ZSTD_isError(r) && r == rawlen;
    }
    case ST_CODEC_FOR:
    case ST_CODEC_DELTA:
        if (rawlen % 8)
            return false;
        return decode_packed(codec, src, clen, dst, rawlen / 8);
    default:
        return false;
    }
}
