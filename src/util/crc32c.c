/*
 * crc32c.c — CRC-32C (Castagnoli), the checksum of push-log frames and of
 * every part of a segment file.
 *
 * Entry points: util_crc32c(), util_crc32c_sw() (declared in util.h).
 *
 * Why not zlib's crc32: it runs at about 1 GB/s here, which made reading the
 * push log and verifying segments CRC-bound. CRC-32C has an
 * instruction on x86-64 (SSE4.2), several GB/s; other CPUs, or x86 without
 * it, use slicing-by-8 tables, still faster than a byte-wise loop. Both give
 * identical results, so files move between machines.
 *
 * Chaining works like zlib's: util_crc32c(util_crc32c(0, a), b) equals
 * the CRC of a followed by b, which lets callers checksum a frame in pieces.
 * Thread-safe: tables are built once (pthread_once).
 */
#include "util/util.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define CRC_HAVE_X86 1
#endif

#define POLY 0x82F63B78u /* Castagnoli, reflected */

static uint32_t tab[8][256];
static bool use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            tab[k][i] = (tab[k - 1][i] >> 8) ^ tab[0][tab[k - 1][i] & 0xff];
#ifdef CRC_HAVE_X86
    __builtin_cpu_init();
    use_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t n)
{
    while (n >= 8) {
        /* Bytes assembled explicitly: the same result on any endianness. */
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
            tab[4][lo >> 24] ^ tab[3][hi & 0xff] ^ tab[2][(hi >> 8) & 0xff] ^
            tab[1][(hi >> 16) & 0xff] ^ tab[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

#ifdef CRC_HAVE_X86
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const unsigned char *p,
                                                         size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* x86 is little-endian, as the instruction expects */
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t util_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&once, crc_init);
    uint32_t c = ~crc;
#ifdef CRC_HAVE_X86
    if (use_hw)
        return ~crc_hw(c, p, n);
#endif
    return ~crc_sw(c, p, n);
}

uint32_t util_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&once, crc_init);
    return ~crc_sw(~crc, p, n);
}
