// SOURCES: src/util/civil.c src/util/tz.c src/util/time.c src/util/period.c src/util/joda.c src/util/util.c
/*
 * fuzz_time.c — libFuzzer target for the time files of src/util/ (time.h).
 * The whole input goes to time_parse_iso, period_parse, time_interval_parse and
 * tz_get; split at the first newline or NUL it is a Joda pattern and a text
 * for joda_compile / joda_parse / joda_format. Besides "no crash, no sanitizer report" it checks
 * cheap invariants: an ISO timestamp formats and parses back to the same
 * instant (in UTC and in a DST zone), floor <= t <= ceil, a period formats
 * back to the same fields, and every failure comes with a message.
 */
#include "util/time.h"

#include <stdlib.h>
#include <string.h>

static const struct ls_tz *zones[3];

static void init_zones(void)
{
    static const char *const names[] = {"UTC", "America/Los_Angeles", "Australia/Lord_Howe"};
    for (size_t i = 0; i < 3; i++) {
        zones[i] = tz_get(names[i], strlen(names[i]), NULL);
        if (!zones[i])
            zones[i] = tz_utc();
    }
}

static void check_iso(const char *s, size_t n)
{
    int64_t ms, back;
    char buf[48];
    for (size_t z = 0; z < 3; z++) {
        time_parse_iso(s, n, zones[z], &ms);
    }
    if (!time_parse_iso(s, n, NULL, &ms))
        return;
    for (size_t z = 0; z < 3; z++) {
        size_t len = time_format_iso(ms, zones[z], buf, sizeof buf);
        if (len >= 40 || !time_parse_iso(buf, len, NULL, &back) || back != ms)
            abort();
    }
    static const char *const periods[] = {"P1D", "PT1H", "P1M", "P1W", "PT15M", "P3M", "P1M15D"};
    bool interior = ms > -1000000000000000000LL && ms < 1000000000000000000LL;
    for (size_t k = 0; k < sizeof periods / sizeof *periods; k++) {
        struct period p;
        period_parse(periods[k], strlen(periods[k]), &p, NULL);
        for (size_t z = 0; z < 3; z++) {
            int64_t f = time_floor(ms, &p, INT64_MIN, zones[z]);
            int64_t c = time_ceil(ms, &p, INT64_MIN, zones[z]);
            if (interior && (f > ms || c < ms))
                abort();
            time_shift(ms, &p, -3, zones[z]);
        }
    }
    for (int u = TU_MILLISECOND; u <= TU_EPOCH; u++) {
        time_extract(ms, (enum time_unit)u, zones[1]);
        time_floor_unit(ms, (enum time_unit)u, zones[2]);
    }
}

static void check_period(const char *s, size_t n)
{
    struct period p, q;
    struct lerr e;
    lerr_init(&e);
    if (period_parse(s, n, &p, &e) != LERR_OK) {
        if (e.code == LERR_OK || e.msg[0] == '\0')
            abort();
        return;
    }
    char buf[128];
    size_t len = period_format(&p, buf, sizeof buf);
    if (period_parse(buf, len, &q, NULL) != LERR_OK || memcmp(&p, &q, sizeof p) != 0)
        abort();
    time_shift(951782400000, &p, 7, zones[1]);
    time_floor(951782400000, &p, 0, zones[2]);
    time_ceil(-951782400000, &p, INT64_MIN, zones[1]);
    period_fixed_ms(&p);
}

static void check_joda(const char *s, size_t n)
{
    size_t k = 0;
    while (k < n && s[k] != '\n' && s[k] != '\0')
        k++;
    if (k == n)
        return;
    struct lerr e;
    lerr_init(&e);
    struct joda_fmt *f = joda_compile(s, k, &e);
    if (!f) {
        if (e.msg[0] == '\0')
            abort();
        return;
    }
    int64_t ms = 0;
    char buf[256];
    for (size_t z = 0; z < 3; z++) {
        if (joda_parse(f, s + k + 1, n - k - 1, zones[z], &ms))
            joda_format(f, ms, zones[z], buf, sizeof buf);
        joda_format(f, -62198755200000 + (int64_t)z * 987654321987, zones[z], buf, sizeof buf);
    }
    joda_format(f, INT64_MIN, zones[1], buf, 7);
    joda_format(f, INT64_MAX, zones[2], buf, sizeof buf);
    joda_free(f);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!zones[0])
        init_zones();
    const char *s = (const char *)data;
    check_iso(s, size);
    check_period(s, size);
    int64_t a, b;
    struct lerr e;
    lerr_init(&e);
    if (time_interval_parse(s, size, &a, &b, &e) == LERR_OK ? a > b : e.msg[0] == '\0')
        abort();
    lerr_init(&e);
    if (!tz_get(s, size, &e) && e.msg[0] == '\0')
        abort();
    check_joda(s, size);
    return 0;
}
