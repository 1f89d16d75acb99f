/*
 * bench_time.c — speed of the time library on its hot paths, each beside a
 * glibc reference measured in the same run:
 *   1. time_parse_iso over 1M generated ISO strings (a mix of the shapes
 *      ingestion sees) vs strptime + timegm over the same strings;
 *   2. time_floor P1D / PT1H / P1M over 1M timestamps, in UTC and in
 *      America/Los_Angeles, vs gmtime_r/localtime_r + timegm/mktime.
 * Each figure is the best of 3 rounds (the machine is shared). The program
 * also counts disagreements with the reference, which must be 0.
 */
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 1000000
#define ROUNDS 3

static char strs[N][32];
static size_t lens[N];
static int64_t stamps[N];

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Timestamps 1971..2036 (inside time_t and glibc's tables) in four shapes. */
static void generate(void)
{
    static const char *const shapes[] = {"%04d-%02d-%02dT%02d:%02d:%02dZ",
                                         "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                         "%04d-%02d-%02d %02d:%02d:%02d", "%04d-%02d-%02d"};
    for (size_t i = 0; i < N; i++) {
        int64_t t = 31536000000LL + (int64_t)(rng() % 2050000000000ULL);
        struct civil c;
        civil_from_ms(t, &c);
        int shape = (int)(rng() % 4);
        int len = snprintf(strs[i], sizeof strs[i], shapes[shape], c.year, c.month, c.day, c.hour,
                           c.minute, c.second, c.millis);
        if (shape == 3)
            len = snprintf(strs[i], sizeof strs[i], shapes[3], c.year, c.month, c.day);
        lens[i] = (size_t)len;
        stamps[i] = t;
    }
}

static int64_t ref_parse(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *fmt = s[10] == 'T'   ? "%Y-%m-%dT%H:%M:%S"
                      : s[10] == ' ' ? "%Y-%m-%d %H:%M:%S"
                                     : "%Y-%m-%d";
    const char *p = strptime(s, fmt, &tm);
    if (!p)
        return INT64_MIN;
    int ms = 0;
    if (*p == '.') {
        ms = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
        p += 4;
    }
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void bench_parse(void)
{
    double best_ours = 1e9, best_ref = 1e9;
    int64_t sum_ours = 0, sum_ref = 0;
    long mismatches = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        sum_ours = 0;
        for (size_t i = 0; i < N; i++) {
            int64_t ms = 0;
            time_parse_iso(strs[i], lens[i], NULL, &ms);
            sum_ours += ms;
        }
        double t1 = now_s();
        sum_ref = 0;
        for (size_t i = 0; i < N; i++)
            sum_ref += ref_parse(strs[i]);
        double t2 = now_s();
        best_ours = t1 - t0 < best_ours ? t1 - t0 : best_ours;
        best_ref = t2 - t1 < best_ref ? t2 - t1 : best_ref;
    }
    for (size_t i = 0; i < N; i++) {
        int64_t ms = 0;
        if (!time_parse_iso(strs[i], lens[i], NULL, &ms) || ms != ref_parse(strs[i]))
            mismatches++;
    }
    printf("time_parse_iso       %7.1f ns/call %6.1f M calls/s | strptime+timegm %7.1f ns/call "
           "| ratio %.1fx faster | mismatches %ld%s\n",
           best_ours * 1e9 / N, N / best_ours / 1e6, best_ref * 1e9 / N, best_ref / best_ours,
           mismatches, sum_ours == sum_ref ? "" : " (checksums differ)");
}

/* The glibc reference floor: broken-down time, truncated, converted back. */
static int64_t ref_floor(int64_t ms, char unit, bool utc)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (utc)
        gmtime_r(&s, &tm);
    else
        localtime_r(&s, &tm);
    tm.tm_sec = 0;
    tm.tm_min = 0;
    if (unit != 'H')
        tm.tm_hour = 0;
    if (unit == 'M')
        tm.tm_mday = 1;
    tm.tm_isdst = -1;
    return (int64_t)(utc ? timegm(&tm) : mktime(&tm)) * 1000;
}

static void bench_floor(const char *period, char unit, const char *zone)
{
    struct period p;
    struct lerr e;
    lerr_init(&e);
    period_parse(period, strlen(period), &p, &e);
    const struct ls_tz *tz = tz_get(zone, strlen(zone), &e);
    bool utc = strcmp(zone, "UTC") == 0;
    if (!tz) {
        printf("time_floor %s %s: %s\n", period, zone, e.msg);
        return;
    }
    double best_ours = 1e9, best_ref = 1e9;
    volatile int64_t sink = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        int64_t acc = 0;
        for (size_t i = 0; i < N; i++)
            acc += time_floor(stamps[i], &p, INT64_MIN, tz);
        double t1 = now_s();
        for (size_t i = 0; i < N; i++)
            acc += ref_floor(stamps[i], unit, utc);
        double t2 = now_s();
        sink += acc;
        best_ours = t1 - t0 < best_ours ? t1 - t0 : best_ours;
        best_ref = t2 - t1 < best_ref ? t2 - t1 : best_ref;
    }
    /*
     * In the repeated hour after a fall-back, mktime(tm_isdst = -1) may pick
     * the other occurrence; those differences are counted apart, and only
     * when our floor is the right one (<= t, less than an hour before).
     */
    long mismatches = 0, repeated = 0;
    for (size_t i = 0; i < N; i++) {
        int64_t t = stamps[i], ours = time_floor(t, &p, INT64_MIN, tz);
        if (ours == ref_floor(t, unit, utc))
            continue;
        int64_t off = tz_offset_at(tz, t);
        bool in_repeat = tz_offset_at(tz, t - LS_MS_PER_HOUR) > off ||
                         tz_offset_at(tz, t + LS_MS_PER_HOUR) < off;
        if (unit == 'H' && in_repeat && ours <= t && t - ours < LS_MS_PER_HOUR)
            repeated++;
        else
            mismatches++;
    }
    printf("time_floor %-4s %-20s %6.1f ns/call | glibc tm+%-6s %7.1f ns/call | ratio %5.1fx "
           "faster | mismatches %ld (+%ld in repeated hours)\n",
           period, zone, best_ours * 1e9 / N, utc ? "timegm" : "mktime", best_ref * 1e9 / N,
           best_ref / best_ours, mismatches, repeated);
    (void)sink;
}

int main(void)
{
    setenv("TZ", "America/Los_Angeles", 1);
    tzset();
    generate();
    bench_parse();
    static const struct {
        const char *period;
        char unit;
    } periods[] = {{"P1D", 'D'}, {"PT1H", 'H'}, {"P1M", 'M'}};
    for (size_t z = 0; z < 2; z++)
        for (size_t k = 0; k < 3; k++)
            bench_floor(periods[k].period, periods[k].unit,
                        z == 0 ? "UTC" : "America/Los_Angeles");
    return 0;
}
