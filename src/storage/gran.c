/*
 * gran.c — granularities of tables: partitioningGranularity (the time chunk
 * a row's segment covers) and timeResolution (the floor aggregate tables
 * apply to __time before rollup). Tables are UTC, so every bucket is plain
 * calendar arithmetic on UTC milliseconds (the civil calendar of
 * util/time.h); weeks start on Monday as ISO weeks (and Druid's `week`) do.
 *
 * Entry points: storage_gran_parse(), storage_gran_name(),
 * storage_gran_floor(), storage_gran_next(). Thread-safe (pure functions).
 */
#include <strings.h>

#include "storage/storage_int.h"
#include "util/time.h"

static const char *const gran_names[] = {
    "millisecond", "second", "minute", "fifteen_minute", "hour",
    "day",         "week",   "month",  "year",           "all",
};

int storage_gran_parse(const char *s, size_t n)
{
    for (size_t i = 0; i < LS_ARRAY_LEN(gran_names); i++)
        if (strlen(gran_names[i]) == n && strncasecmp(gran_names[i], s, n) == 0)
            return (int)i;
    return -1;
}

const char *storage_gran_name(enum storage_gran g)
{
    return (unsigned)g < LS_ARRAY_LEN(gran_names) ? gran_names[g] : "?";
}

static int64_t fixed_ms(enum storage_gran g)
{
    switch (g) {
    case STORAGE_GRAN_MILLISECOND: return 1;
    case STORAGE_GRAN_SECOND: return LS_MS_PER_SECOND;
    case STORAGE_GRAN_MINUTE: return LS_MS_PER_MINUTE;
    case STORAGE_GRAN_FIFTEEN_MINUTE: return 15 * LS_MS_PER_MINUTE;
    case STORAGE_GRAN_HOUR: return LS_MS_PER_HOUR;
    case STORAGE_GRAN_DAY: return LS_MS_PER_DAY;
    case STORAGE_GRAN_WEEK: return 7 * LS_MS_PER_DAY;
    default: return 0;
    }
}

/* 1970-01-05 was a Monday. */
#define MONDAY_ORIGIN_MS (4 * LS_MS_PER_DAY)

int64_t storage_gran_floor(enum storage_gran g, int64_t t)
{
    int64_t f = fixed_ms(g);
    if (g == STORAGE_GRAN_WEEK && t < INT64_MIN + MONDAY_ORIGIN_MS)
        return INT64_MIN;
    if (g == STORAGE_GRAN_WEEK)
        return util_floor_div(t - MONDAY_ORIGIN_MS, f) * f + MONDAY_ORIGIN_MS;
    if (f)
        return util_floor_div(t, f) * f;
    if (g == STORAGE_GRAN_ALL)
        return INT64_MIN;
    int64_t y;
    int m, d;
    civil_ymd_from_days(util_floor_div(t, LS_MS_PER_DAY), &y, &m, &d);
    return civil_days_from_ymd(y, g == STORAGE_GRAN_YEAR ? 1 : m, 1) * LS_MS_PER_DAY;
}

int64_t storage_gran_next(enum storage_gran g, int64_t start)
{
    int64_t f = fixed_ms(g);
    if (g == STORAGE_GRAN_ALL)
        return INT64_MAX;
    if (f)
        return start > INT64_MAX - f ? INT64_MAX : start + f;
    int64_t y;
    int m, d;
    civil_ymd_from_days(util_floor_div(start, LS_MS_PER_DAY), &y, &m, &d);
    if (g == STORAGE_GRAN_YEAR)
        return civil_days_from_ymd(y + 1, 1, 1) * LS_MS_PER_DAY;
    return (m == 12 ? civil_days_from_ymd(y + 1, 1, 1) : civil_days_from_ymd(y, m + 1, 1)) *
           LS_MS_PER_DAY;
}

bool storage_gran_aligned(enum storage_gran g, int64_t start, int64_t end, int64_t *cover_start,
                          int64_t *cover_end)
{
    int64_t a = storage_gran_floor(g, start), b = storage_gran_floor(g, end);
    *cover_start = a;
    *cover_end = b == end ? end : storage_gran_next(g, b);
    return g != STORAGE_GRAN_ALL && a == start && b == end;
}
