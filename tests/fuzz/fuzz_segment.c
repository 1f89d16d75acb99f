// SOURCES: src/storage/segread.c src/storage/segstore.c src/storage/codec.c src/sql/*.c src/sketch/*.c src/util/util.c src/util/crc32c.c src/util/civil.c src/util/tz.c src/util/time.c src/util/period.c src/util/joda.c src/util/map.c src/util/num.c src/util/vec.c
/*
 * fuzz_segment.c — libFuzzer target: arbitrary bytes opened and fully
 * verified as a segment file (header, trailer, footer, every part, every
 * block decoded, every bitmap and state). Must never crash, hang or read
 * outside the input.
 *
 * Checksums would stop almost every mutation at the first check, so each
 * input is also tried a second time with its header, part and footer
 * checksums recomputed: that lets the fuzzer reach the structural checks of
 * the footer, the dictionaries, the id arrays, the bitmaps and the block
 * codecs behind them.
 *
 * Links -llz4 -lzstd -lroaring besides tests/fuzz/run.sh's libraries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage_int.h"

/* Walks the footer as segread.c lays it out and rewrites each part's CRC
 * with the CRC of the bytes it names. Returns false when the footer walk
 * leaves the buffer. */
static bool fix_part_crcs(uint8_t *p, size_t n, uint64_t foff, uint64_t flen)
{
    uint8_t *f = p + foff;
    size_t at = 44; /* 5 x u64, 4 x u8, u32 ncols */
    if (flen < at)
        return false;
    uint32_t ncols = storage__get_u32(f + 40);
    for (uint32_t c = 0; c < ncols && c < 64; c++) {
        if (at + 2 > flen)
            return false;
        uint16_t nl;
        memcpy(&nl, f + at, 2);
        at += 2 + (size_t)nl;
        if (at + 24 > flen)
            return false;
        uint8_t nparts = f[at + 3];
        at += 24;
        for (unsigned k = 0; k < nparts && k < 3; k++) {
            if (at + 20 > flen)
                return false;
            uint64_t off = storage__get_u64(f + at), len = storage__get_u64(f + at + 8);
            if (off <= n && len <= n - off)
                storage__put_u32(f + at + 16, util_crc32c(0, p + off, len));
            at += 20;
        }
    }
    return true;
}

static void fix_crcs(uint8_t *p, size_t n)
{
    if (n < ST_HEADER_SIZE + ST_TRAILER_SIZE)
        return;
    storage__put_u32(p + 12, util_crc32c(0, p, 12));
    const uint8_t *tr = p + n - ST_TRAILER_SIZE;
    uint64_t foff = storage__get_u64(tr), flen = storage__get_u64(tr + 8);
    if (foff > n - ST_TRAILER_SIZE || flen != n - ST_TRAILER_SIZE - foff)
        return;
    fix_part_crcs(p, n, foff, flen);
    storage__put_u32(p + n - ST_TRAILER_SIZE + 16, util_crc32c(0, p + foff, flen));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_set_level((enum log_level)(LOG_ERROR + 1));
        quiet = true;
    }
    /* exact-size copies: any overread is an ASan report */
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    struct lerr err;
    lerr_init(&err);
    uint64_t rows;
    (void)storage_segment_verify_mem(p, size, "fuzz.lseg", &rows, &err);
    fix_crcs(p, size);
    lerr_init(&err);
    (void)storage_segment_verify_mem(p, size, "fuzz.lseg", &rows, &err);
    free(p);
    return 0;
}
