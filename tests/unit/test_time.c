/*
 * test_time.c — unit tests for the time files of src/util/ (time.h): civil
 * calendar, ISO parsing and formatting, periods, zones (TZif files, POSIX footer rules, DST gaps and
 * overlaps), floor/ceil/shift, TIME_EXTRACT units, intervals and Joda
 * patterns. Expected values were checked against Python's datetime/zoneinfo
 * on the same tz database and against Joda/Druid documentation; they are
 * written out here so the test is self-contained.
 */
#include "check.h"
#include "util/time.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------- */

static const struct ls_tz *zone(const char *name)
{
    struct lerr e;
    lerr_init(&e);
    const struct ls_tz *tz = tz_get(name, strlen(name), &e);
    CHECK_MSG(tz != NULL, "tz_get(%s): %s", name, e.msg);
    return tz ? tz : tz_utc();
}

/* Parses a test's own ISO text (in UTC unless it has an offset); a bad one fails the test. */
static int64_t iso(const char *s)
{
    int64_t ms = 0;
    CHECK_MSG(time_parse_iso(s, strlen(s), NULL, &ms), "test timestamp '%s' does not parse", s);
    return ms;
}

static struct period per(const char *s)
{
    struct period p;
    struct lerr e;
    lerr_init(&e);
    CHECK_MSG(period_parse(s, strlen(s), &p, &e) == LERR_OK, "period %s: %s", s, e.msg);
    return p;
}

static const char *fmt_utc(int64_t ms)
{
    static char buf[48];
    time_format_iso(ms, NULL, buf, sizeof buf);
    return buf;
}

#define CHECK_TIME(got, want_iso, ctx)                                         \
    do {                                                                       \
        int64_t g__ = (got), w__ = iso(want_iso);                              \
        char gb__[48];                                                         \
        time_format_iso(g__, NULL, gb__, sizeof gb__);                         \
        CHECK_MSG(g__ == w__, "%s: got %s, want %s", ctx, gb__, fmt_utc(w__)); \
    } while (0)

/* ---- civil calendar --------------------------------------------------- */

static void test_civil(void)
{
    static const struct {
        int64_t y;
        int m, d;
        int64_t days;
        int dow;
    } cases[] = {
        {1970, 1, 1, 0, 4},       {1969, 12, 31, -1, 3},     {2000, 3, 1, 11017, 3},
        {2000, 2, 29, 11016, 2},  {2024, 5, 17, 19860, 5},   {2016, 1, 1, 16801, 5},
        {1965, 3, 15, -1753, 1},  {1, 1, 1, -719162, 1},     {0, 3, 1, -719468, 3},
        {-1, 12, 31, -719529, 5}, {1600, 2, 29, -135081, 2}, {9999, 12, 31, 2932896, 5},
        {1900, 3, 1, -25508, 4},  {2038, 1, 19, 24855, 2},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        CHECK_EQ_INT(civil_days_from_ymd(cases[i].y, cases[i].m, cases[i].d), cases[i].days);
        int64_t y;
        int m, d;
        civil_ymd_from_days(cases[i].days, &y, &m, &d);
        CHECK_MSG(y == cases[i].y && m == cases[i].m && d == cases[i].d,
                  "ymd_from_days(%lld) = %lld-%d-%d", (long long)cases[i].days, (long long)y, m,
                  d);
        CHECK_EQ_INT(civil_day_of_week(cases[i].days), cases[i].dow);
    }
    /* Round trip over ±2200 years, every 13th day. */
    int bad = 0;
    for (int64_t days = -800000; days <= 800000; days += 13) {
        int64_t y;
        int m, d;
        civil_ymd_from_days(days, &y, &m, &d);
        bad += civil_days_from_ymd(y, m, d) != days || d > civil_days_in_month(y, m);
    }
    CHECK_EQ_INT(bad, 0);

    static const struct {
        int64_t y;
        bool leap;
    } leaps[] = {{2000, true}, {1900, false}, {2024, true}, {2023, false}, {2100, false},
                 {2400, true}, {0, true},     {-4, true},   {-100, false}, {1600, true}};
    for (size_t i = 0; i < LS_ARRAY_LEN(leaps); i++)
        CHECK_MSG(civil_is_leap(leaps[i].y) == leaps[i].leap, "leap(%lld)", (long long)leaps[i].y);

    static const struct {
        int64_t y;
        int m, dim;
    } dims[] = {{2024, 2, 29}, {2023, 2, 28},  {1900, 2, 28}, {2000, 2, 29}, {2023, 1, 31},
                {2023, 4, 30}, {2023, 12, 31}, {2023, 6, 30}, {2023, 13, 0}, {2023, 0, 0}};
    for (size_t i = 0; i < LS_ARRAY_LEN(dims); i++)
        CHECK_EQ_INT(civil_days_in_month(dims[i].y, dims[i].m), dims[i].dim);

    // clang-format off
    static const struct {
        int64_t a, b, div, mod;
    } fl[] = {{7, 2, 3, 1},    {-7, 2, -4, 1},  {7, -2, -4, -1}, {-7, -2, 3, -1},
              {-1, 1000, -1, 999}, {0, 5, 0, 0}, {-86400000, 86400000, -1, 0},
              {INT64_MIN, -1, INT64_MAX, 0}};
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(fl); i++) {
        CHECK_EQ_INT(util_floor_div(fl[i].a, fl[i].b), fl[i].div);
        CHECK_EQ_INT(util_floor_mod(fl[i].a, fl[i].b), fl[i].mod);
    }

    struct civil c;
    civil_from_ms(-1, &c);
    CHECK(c.year == 1969 && c.month == 12 && c.day == 31 && c.hour == 23 && c.minute == 59 &&
          c.second == 59 && c.millis == 999);
    CHECK_EQ_INT(civil_to_ms(&c), -1);
    civil_from_ms(INT64_MIN, &c); /* must not trip UBSan */
    CHECK(c.year < -292000000);
    civil_from_ms(INT64_MAX, &c);
    CHECK(c.year > 292000000);
}

/* ---- ISO timestamps ---------------------------------------------------- */

static void test_iso_parse(void)
{
    static const struct {
        const char *in, *tz;
        int64_t want;
    } ok[] = {
        {"2000-01-02T03:04:05Z", NULL, 946782245000},
        {"2000-01-02T03:04:05.123Z", NULL, 946782245123},
        {"2000-01-02 03:04:05", NULL, 946782245000},
        {"2000-01-02T03:04:05", NULL, 946782245000},
        {"2000-01-02 03:04:05.123", NULL, 946782245123},
        {"2000-01-02", NULL, 946771200000},
        {"2000", NULL, 946684800000},
        {"2000-01", NULL, 946684800000},
        {"2000-02", NULL, 949363200000},
        {"2022-6-14", NULL, 1655164800000},
        {"2022-06-4", NULL, 1654300800000},
        {"2000-01-02T03", NULL, 946782000000},
        {"2000-01-02T03:04", NULL, 946782240000},
        {"2000-01-02T3:4:5", NULL, 946782245000},
        {"2000-01-02T03:04:05.1Z", NULL, 946782245100},
        {"2000-01-02T03:04:05.12Z", NULL, 946782245120},
        {"2000-01-02T03:04:05.1239Z", NULL, 946782245123},
        {"2000-01-02T03:04:05.123456789Z", NULL, 946782245123},
        {"2000-01-02T03:04:05.123456789123456Z", NULL, 946782245123},
        {"2000-01-02T03:04:05,5Z", NULL, 946782245500},
        {"2000-01-02T03:04:05.123+05:30", NULL, 946762445123},
        {"2000-01-02T03:04:05+0530", NULL, 946762445000},
        {"2000-01-02T03:04:05+05", NULL, 946764245000},
        {"2000-01-02T03:04:05-08:00", NULL, 946811045000},
        {"2000-01-02T03:04:05-00:00", NULL, 946782245000},
        {"2000-01-02T03:04:05+05:30:15", NULL, 946762430000},
        {"2000-01-02t03:04:05z", NULL, 946782245000},
        {"2000-01-02TZ", NULL, 946771200000},
        {"2000-01-02T+01:00", NULL, 946767600000},
        {"2000-01-02T10.5", NULL, 946809000000},
        {"2000-01-02T10:30.5", NULL, 946809030000},
        {"2000-032", NULL, 949363200000},
        {"2000-366", NULL, 978220800000},
        {"2000-W01-1", NULL, 946857600000},
        {"2009-W01-1", NULL, 1230508800000},
        {"2015-W53-5", NULL, 1451606400000},
        {"2015-W53", NULL, 1451260800000},
        {"1969-12-31T23:59:59.999Z", NULL, -1},
        {"1900-03-01", NULL, -2203891200000},
        {"1600-02-29", NULL, -11670998400000},
        {"0001-01-01", NULL, -62135596800000},
        {"9999-12-31T23:59:59.999Z", NULL, 253402300799999},
        {"-0001-01-01", NULL, -62198755200000},
        {"+2000-01-02", NULL, 946771200000},
        {"10000-01-01", NULL, 253402300800000},
        {"2024-02-29", NULL, 1709164800000},
        {"2000-02-29T12:00:00Z", NULL, 951825600000},
        {"2023-01-31", NULL, 1675123200000},
        {"2023-04-30", NULL, 1682812800000},
        /* Text without an offset is read in the given zone. */
        {"2000-01-02 03:04:05", "America/Los_Angeles", 946811045000},
        {"2000-01-02T03:04:05Z", "America/Los_Angeles", 946782245000},
        {"2000-01-02T03:04:05+01:00", "America/Los_Angeles", 946778645000},
        {"2024-07-01", "America/Los_Angeles", 1719817200000},
        {"2024-07-01 12:00", "Asia/Kolkata", 1719815400000},
        {"2024-03-10 02:30", "America/Los_Angeles", 1710066600000}, /* gap: 03:30 PDT */
        {"2024-11-03 01:30", "America/Los_Angeles", 1730622600000}, /* overlap: PDT */
        {"2000-01-02", "+05:30", 946751400000},
        {"2000-01-02", "UTC", 946771200000},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(ok); i++) {
        int64_t got = 0;
        const struct ls_tz *tz = ok[i].tz ? zone(ok[i].tz) : NULL;
        bool r = time_parse_iso(ok[i].in, strlen(ok[i].in), tz, &got);
        CHECK_MSG(r && got == ok[i].want, "parse '%s' (%s): ok=%d got %lld want %lld", ok[i].in,
                  ok[i].tz ? ok[i].tz : "UTC", r, (long long)got, (long long)ok[i].want);
    }

    // clang-format off
    static const char *const bad[] = {
        "", " ", "x", "2023-13-01", "2023-00-10", "2023-13-45", "2023-02-29", "2024-02-30",
        "1900-02-29", "2023-04-31", "2023-01-32", "2023-01-00", "2000-01-02T24:00",
        "2000-01-02T24:00:00Z", "2000-01-02T25:00", "2000-01-02T23:60", "2000-01-02T23:59:60",
        " 2000-01-02", "2000-01-02 ", "2000-01-02T", "2000-01-02T03:04:05Zjunk",
        "2000-01-02T03:04:05 Z", "2000-01-02T03:04:05+24:00", "2000-01-02T03:04:05+05:60",
        "2000-01-02T03:04:05+5", "2000-01-02T03:04:05.Z", "2000-01-02T03:04:05.",
        "2000-01-02X03:04:05", "2000-01-", "2000-", "2000-01-02-", "2000-1234",
        "2000-01-123", "2000/01/02", "01/02/2000", "2000-W54-1", "2015-W54", "2000-W01-8",
        "2000-W00-1", "2001-366", "2000-367", "2000-000", "1234567890-01-01", "abcd-ef-gh",
        "2000-01-02T03:04:05ZZ", "2000-01-02T03:04:05.123ZZ", "2000-01-02T03:04:05.123X",
        "2000-01-02T03:04:05+05:30x", "--2000", "2000-01-02T03:",
        "2000-01-02T03:04:", "2000-01-02T:04", "2000-01-02\0",
    };
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        int64_t got = 12345;
        size_t n = strlen(bad[i]);
        if (strcmp(bad[i], "2000-01-02") == 0)
            n = 11; /* the embedded NUL case: the slice includes it */
        CHECK_MSG(!time_parse_iso(bad[i], n, NULL, &got), "'%s' should not parse", bad[i]);
    }
    /* Slices are not NUL-terminated: only the first n bytes count. */
    int64_t got;
    CHECK(time_parse_iso("2000-01-02T03:04:05Zgarbage", 20, NULL, &got) && got == 946782245000);
    CHECK(time_parse_iso("2000-01-02garbage", 10, NULL, &got) && got == 946771200000);
    CHECK(!time_parse_iso("2000-01-02", 9, NULL, &got));
    CHECK(!time_parse_iso(NULL, 0, NULL, &got));
}

static void test_iso_format(void)
{
    static const struct {
        int64_t ms;
        const char *tz, *want;
    } cases[] = {
        {946782245000, NULL, "2000-01-02T03:04:05.000Z"},
        {946782245123, "UTC", "2000-01-02T03:04:05.123Z"},
        {0, NULL, "1970-01-01T00:00:00.000Z"},
        {-1, NULL, "1969-12-31T23:59:59.999Z"},
        {-62135596800000, NULL, "0001-01-01T00:00:00.000Z"},
        {-62198755200000, NULL, "-0001-01-01T00:00:00.000Z"},
        {253402300799999, NULL, "9999-12-31T23:59:59.999Z"},
        {253402300800000, NULL, "10000-01-01T00:00:00.000Z"},
        {946782245000, "America/Los_Angeles", "2000-01-01T19:04:05.000-08:00"},
        {1719817200000, "America/Los_Angeles", "2024-07-01T00:00:00.000-07:00"},
        {1719815400000, "Asia/Kolkata", "2024-07-01T12:00:00.000+05:30"},
        {946782245000, "Europe/London", "2000-01-02T03:04:05.000Z"},
        {1719817200000, "Europe/London", "2024-07-01T08:00:00.000+01:00"},
        {946782245000, "+05:30", "2000-01-02T08:34:05.000+05:30"},
        {946782245000, "-0800", "2000-01-01T19:04:05.000-08:00"},
        {1728142200000, "Australia/Lord_Howe", "2024-10-06T02:30:00.000+11:00"},
        /* Before 1883 Los Angeles kept local mean time, -07:52:58. */
        {-3000000000000, "America/Los_Angeles", "1874-12-07T10:47:02.000-07:52:58"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        char buf[48];
        size_t n =
            time_format_iso(cases[i].ms, cases[i].tz ? zone(cases[i].tz) : NULL, buf, sizeof buf);
        CHECK_EQ_STR(buf, cases[i].want);
        CHECK_EQ_INT(n, strlen(cases[i].want));
        int64_t back;
        CHECK_MSG(time_parse_iso(buf, n, NULL, &back) && back == cases[i].ms, "round trip of %s",
                  buf);
    }
    /* Extremes never overflow the 40-byte contract. */
    char buf[40];
    CHECK(time_format_iso(INT64_MIN, zone("America/Los_Angeles"), buf, sizeof buf) < 40);
    CHECK(time_format_iso(INT64_MAX, zone("Asia/Kolkata"), buf, sizeof buf) < 40);
    CHECK_EQ_INT(time_format_iso(0, NULL, buf, 5), 4);
    CHECK_EQ_STR(buf, "1970");
}

/* ---- periods ------------------------------------------------------------ */

static void test_periods(void)
{
    static const struct {
        const char *in;
        struct period want;
        const char *canon;
        int64_t fixed;
    } ok[] = {
        {"P30D", {.days = 30}, "P30D", 30 * LS_MS_PER_DAY},
        {"PT1H", {.hours = 1}, "PT1H", LS_MS_PER_HOUR},
        {"P1M", {.months = 1}, "P1M", -1},
        {"P20Y", {.years = 20}, "P20Y", -1},
        {"P1W", {.weeks = 1}, "P1W", 7 * LS_MS_PER_DAY},
        {"PT15M", {.minutes = 15}, "PT15M", 15 * LS_MS_PER_MINUTE},
        {"P1DT2H30M", {.days = 1, .hours = 2, .minutes = 30}, "P1DT2H30M", 95400000},
        {"PT0.5S", {.millis = 500}, "PT0.500S", 500},
        {"PT1.250S", {.seconds = 1, .millis = 250}, "PT1.250S", 1250},
        {"PT1.2345S", {.seconds = 1, .millis = 234}, "PT1.234S", 1234},
        {"PT0,5S", {.millis = 500}, "PT0.500S", 500},
        {"P1Y2M3W4DT5H6M7S",
         {.years = 1, .months = 2, .weeks = 3, .days = 4, .hours = 5, .minutes = 6, .seconds = 7},
         "P1Y2M3W4DT5H6M7S",
         -1},
        {"P3M", {.months = 3}, "P3M", -1},
        {"P0D", {0}, "PT0S", 0},
        {"PT0S", {0}, "PT0S", 0},
        {"p1d", {.days = 1}, "P1D", LS_MS_PER_DAY},
        {"pt1h", {.hours = 1}, "PT1H", LS_MS_PER_HOUR},
        {"P2147483647D", {.days = 2147483647}, "P2147483647D", 2147483647LL * LS_MS_PER_DAY},
        {"PT36H", {.hours = 36}, "PT36H", 36 * LS_MS_PER_HOUR},
        {"P1MT1M", {.months = 1, .minutes = 1}, "P1MT1M", -1},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(ok); i++) {
        struct period p;
        struct lerr e;
        lerr_init(&e);
        int rc = period_parse(ok[i].in, strlen(ok[i].in), &p, &e);
        CHECK_MSG(rc == LERR_OK && memcmp(&p, &ok[i].want, sizeof p) == 0, "period '%s': %s",
                  ok[i].in, e.msg);
        char buf[64];
        period_format(&p, buf, sizeof buf);
        CHECK_EQ_STR(buf, ok[i].canon);
        CHECK_EQ_INT(period_fixed_ms(&p), ok[i].fixed);
        CHECK_EQ_INT(period_is_zero(&p), ok[i].fixed == 0);
    }

    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "invalid period '': empty text"},
        {"P", "no fields after 'P'"},
        {"PT", "'T' must be followed by hours, minutes or seconds"},
        {"P1DT", "'T' must be followed by hours, minutes or seconds"},
        {"P1H", "hours, minutes and seconds must come after 'T'; example: PT1H"},
        {"P1S", "must come after 'T'"},
        {"PT1D", "years, weeks and days must come before 'T'"},
        {"PT1Y", "must come before 'T'"},
        {"30D", "a period must start with 'P'"},
        {"P-1D", "negative periods are not supported"},
        {"-P1D", "negative periods are not supported"},
        {"P1.5D", "only seconds may have a fraction"},
        {"PT1.5M", "only seconds may have a fraction"},
        {"PX", "unexpected 'X' at position 1"},
        {"P30", "invalid period 'P30': a number must be followed by a designator (Y, M, W, D, or "
                "after T: H, M, S); example: P30D"},
        {"PT30", "a number must be followed by a designator"},
        {"P1Q", "a number must be followed by a designator"},
        {"P99999999999D", "larger than 2147483647"},
        {"P2147483648D", "larger than 2147483647"},
        {"P1D1Y", "in the order Y, M, W, D, T, H, M, S"},
        {"P1D1D", "in the order"},
        {"PT1H1H", "in the order"},
        {"P1DTT1H", "'T' appears twice"},
        {"PT1.S", "a decimal point must be followed by digits"},
        {"P 1D", "unexpected '?' at position 1"},
        {"P1D ", "unexpected '?' at position 3"},
        {"P1DT1H30", "a number must be followed by a designator"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        struct period p;
        struct lerr e;
        lerr_init(&e);
        int rc = period_parse(bad[i].in, strlen(bad[i].in), &p, &e);
        CHECK_MSG(rc == LERR_INVALID && e.code == LERR_INVALID && strstr(e.msg, bad[i].msg),
                  "period '%s': rc=%d msg '%s' lacks '%s'", bad[i].in, rc, e.msg, bad[i].msg);
    }
    struct period p;
    struct lerr e;
    lerr_init(&e);
    period_parse("P1Y2M", 5, &p, &e);
    char tiny[4];
    CHECK_EQ_INT(period_format(&p, tiny, sizeof tiny), 3);
    CHECK_EQ_STR(tiny, "P1Y");
    lerr_init(&e);
    CHECK(period_parse("P1Dgarbage", 3, &p, &e) == LERR_OK && p.days == 1);
}

/* ---- time zones --------------------------------------------------------- */

static void test_tz_get(void)
{
    CHECK(tz_get("UTC", 3, NULL) == tz_utc());
    CHECK(tz_get("Z", 1, NULL) == tz_utc());
    CHECK(tz_get("GMT", 3, NULL) == tz_utc());
    CHECK(tz_get("Etc/UTC", 7, NULL) == tz_utc());
    CHECK(tz_get("+00:00", 6, NULL) == tz_utc());
    CHECK_EQ_STR(tz_name(tz_utc()), "UTC");
    CHECK_EQ_STR(tz_name(zone("America/Los_Angeles")), "America/Los_Angeles");
    /* Cached: the same pointer every time, and all spellings of an offset share a zone. */
    CHECK(zone("America/Los_Angeles") == zone("America/Los_Angeles"));
    CHECK(zone("+05:30") == zone("+0530"));
    CHECK_EQ_STR(tz_name(zone("+0530")), "+05:30");
    CHECK_EQ_STR(tz_name(zone("-08")), "-08:00");

    // clang-format off
    static const struct {
        const char *name;
        int64_t off_min;  /* at 2024-01-15T12:00Z */
    } offs[] = {
        {"+05:30", 330}, {"-08:00", -480}, {"+0530", 330},    {"-08", -480},
        {"+23:59", 1439}, {"Asia/Kolkata", 330}, {"America/Los_Angeles", -480},
        {"Europe/London", 0}, {"Australia/Lord_Howe", 660}, {"Asia/Kathmandu", 345},
        {"Etc/GMT+5", -300}, {"America/St_Johns", -210}, {"Pacific/Chatham", 825},
    };
    // clang-format on
    int64_t t = iso("2024-01-15T12:00:00Z");
    for (size_t i = 0; i < LS_ARRAY_LEN(offs); i++)
        CHECK_MSG(tz_offset_at(zone(offs[i].name), t) == offs[i].off_min * LS_MS_PER_MINUTE,
                  "offset of %s", offs[i].name);

    // clang-format off
    static const char *const bad[] = {
        "Mars/Base", "America/Nowhere", "../../etc/passwd", "/etc/localtime",
        "America/../Europe/London", "America//Los_Angeles", "./UTC", "America/",
        "+24:00", "+5", "+05:", "+05:3", "-0860", "+05:30:15", "+053000", "", "America/Los Angeles", "zone.tab",
        "America", "iso3166.tab", "Etc/.hidden", "a\nb",
    };
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        struct lerr e;
        lerr_init(&e);
        const struct ls_tz *tz = tz_get(bad[i], strlen(bad[i]), &e);
        CHECK_MSG(tz == NULL && e.code == LERR_INVALID, "tz_get('%s') should fail (code %d)",
                  bad[i], e.code);
        if (bad[i][0] && bad[i][0] != '+' && bad[i][0] != '-' && !strchr(bad[i], '\n'))
            CHECK_MSG(strstr(e.msg, bad[i]) != NULL, "message names the zone: %s", e.msg);
    }
    struct lerr e;
    lerr_init(&e);
    tz_get("Mars/Base", 9, &e);
    CHECK(strstr(e.msg, "unknown time zone 'Mars/Base'") != NULL);
    /* A slice: only the first len bytes are the name. */
    CHECK(tz_get("Asia/Kolkata/extra", 12, NULL) == zone("Asia/Kolkata"));
}

/* Offsets on both sides of transitions, including past 2037 (from the POSIX footer). */
static void test_tz_offsets(void)
{
    static const struct {
        const char *tz, *at;
        int64_t off_min;
    } cases[] = {
        {"America/Los_Angeles", "2024-03-10T09:59:59.999Z", -480},
        {"America/Los_Angeles", "2024-03-10T10:00:00Z", -420},
        {"America/Los_Angeles", "2024-11-03T08:59:59.999Z", -420},
        {"America/Los_Angeles", "2024-11-03T09:00:00Z", -480},
        {"America/Los_Angeles", "2050-03-13T09:59:00Z", -480},
        {"America/Los_Angeles", "2050-03-13T10:00:00Z", -420},
        {"America/Los_Angeles", "2050-11-06T08:59:00Z", -420},
        {"America/Los_Angeles", "2050-11-06T09:00:00Z", -480},
        {"America/Los_Angeles", "2400-07-01T00:00:00Z", -420},
        {"America/Los_Angeles", "1800-01-01T00:00:00Z", -473}, /* LMT -7:52:58, floor */
        {"Europe/London", "2024-03-31T00:59:00Z", 0},
        {"Europe/London", "2024-03-31T01:00:00Z", 60},
        {"Europe/London", "2024-10-27T00:59:00Z", 60},
        {"Europe/London", "2024-10-27T01:00:00Z", 0},
        {"Europe/London", "2060-03-28T01:00:00Z", 60},
        {"Europe/London", "2060-10-31T01:00:00Z", 0},
        {"Australia/Lord_Howe", "2024-04-06T14:59:00Z", 660},
        {"Australia/Lord_Howe", "2024-04-06T15:00:00Z", 630},
        {"Australia/Lord_Howe", "2024-10-05T15:29:00Z", 630},
        {"Australia/Lord_Howe", "2024-10-05T15:30:00Z", 660},
        {"Australia/Lord_Howe", "2050-04-02T14:59:00Z", 660},
        {"Australia/Lord_Howe", "2050-04-02T15:00:00Z", 630},
        {"Australia/Lord_Howe", "2050-10-01T15:29:00Z", 630},
        {"Australia/Lord_Howe", "2050-10-01T15:30:00Z", 660},
        {"Asia/Kolkata", "2050-06-01T00:00:00Z", 330},
        {"Asia/Kolkata", "1945-01-01T00:00:00Z", 390}, /* wartime +06:30 */
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        int64_t off = tz_offset_at(zone(cases[i].tz), iso(cases[i].at));
        CHECK_MSG(util_floor_div(off, LS_MS_PER_MINUTE) == cases[i].off_min,
                  "offset %s at %s: got %lld ms, want %lld min", cases[i].tz, cases[i].at,
                  (long long)off, (long long)cases[i].off_min);
    }
}

/* tz_local_to_utc: gaps move forward, overlaps take the first occurrence. */
static void test_tz_local(void)
{
    static const struct {
        const char *tz, *local, *want;
    } cases[] = {
        {"America/Los_Angeles", "2024-03-10T01:59:00Z", "2024-03-10T09:59:00Z"},
        {"America/Los_Angeles", "2024-03-10T02:00:00Z", "2024-03-10T10:00:00Z"}, /* gap */
        {"America/Los_Angeles", "2024-03-10T02:30:00Z", "2024-03-10T10:30:00Z"}, /* gap */
        {"America/Los_Angeles", "2024-03-10T03:00:00Z", "2024-03-10T10:00:00Z"},
        {"America/Los_Angeles", "2024-11-03T00:59:00Z", "2024-11-03T07:59:00Z"},
        {"America/Los_Angeles", "2024-11-03T01:00:00Z", "2024-11-03T08:00:00Z"}, /* overlap */
        {"America/Los_Angeles", "2024-11-03T01:59:00Z", "2024-11-03T08:59:00Z"}, /* overlap */
        {"America/Los_Angeles", "2024-11-03T02:00:00Z", "2024-11-03T10:00:00Z"},
        {"America/Los_Angeles", "2050-03-13T02:30:00Z", "2050-03-13T10:30:00Z"}, /* gap */
        {"America/Los_Angeles", "2050-11-06T01:30:00Z", "2050-11-06T08:30:00Z"}, /* overlap */
        {"Europe/London", "2024-03-31T01:30:00Z", "2024-03-31T01:30:00Z"},       /* gap */
        {"Europe/London", "2024-03-31T02:00:00Z", "2024-03-31T01:00:00Z"},
        {"Europe/London", "2024-10-27T01:30:00Z", "2024-10-27T00:30:00Z"}, /* overlap */
        {"Europe/London", "2024-10-27T02:00:00Z", "2024-10-27T02:00:00Z"},
        {"Australia/Lord_Howe", "2024-10-06T02:15:00Z", "2024-10-05T15:45:00Z"}, /* gap */
        {"Australia/Lord_Howe", "2024-04-07T01:45:00Z", "2024-04-06T14:45:00Z"}, /* overlap */
        {"Australia/Lord_Howe", "2024-04-07T02:00:00Z", "2024-04-06T15:30:00Z"},
        {"Asia/Kolkata", "2024-05-17T00:00:00Z", "2024-05-16T18:30:00Z"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        char ctx[128];
        snprintf(ctx, sizeof ctx, "local_to_utc %s %s", cases[i].tz, cases[i].local);
        CHECK_TIME(tz_local_to_utc(zone(cases[i].tz), iso(cases[i].local)), cases[i].want, ctx);
    }
    CHECK_EQ_INT(tz_local_to_utc(zone("America/Los_Angeles"), INT64_MAX), INT64_MAX);
    CHECK(tz_local_to_utc(zone("Asia/Kolkata"), INT64_MIN) == INT64_MIN);
}

/* Zones from crafted TZif files: a footer-only (slim) file, and corrupt ones. */
static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static size_t tzif_header(unsigned char *p, char version, unsigned types, unsigned chars)
{
    memset(p, 0, 44);
    memcpy(p, "TZif", 4);
    p[4] = (unsigned char)version;
    p[20 + 4 * 4 + 3] = (unsigned char)types; /* typecnt */
    p[20 + 5 * 4 + 3] = (unsigned char)chars; /* charcnt */
    return 44;
}

static void test_tzif_files(void)
{
    char dir[] = "/tmp/lodestar_tz_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    unsigned char buf[256];
    size_t n = 0;
    /* v2, no transitions, one type (PST, -8h), footer with a US rule. */
    static const unsigned char type_pst[10] = {0xff, 0xff, 0x8f, 0x80, 0, 0, 'P', 'S', 'T', 0};
    n += tzif_header(buf + n, '2', 1, 4);
    memcpy(buf + n, type_pst, 10);
    n += 10;
    n += tzif_header(buf + n, '2', 1, 4);
    memcpy(buf + n, type_pst, 10);
    n += 10;
    const char *footer = "\nPST8PDT,M3.2.0,M11.1.0\n";
    memcpy(buf + n, footer, strlen(footer));
    n += strlen(footer);
    char path[300];
    snprintf(path, sizeof path, "%s/Slim", dir);
    write_file(path, buf, n);
    snprintf(path, sizeof path, "%s/Truncated", dir);
    write_file(path, buf, 60);
    unsigned char bad_idx[sizeof buf];
    memcpy(bad_idx, buf, n);
    bad_idx[44 + 10 + 44] = 0x7f; /* first utoff of the v2 block: far out of range */
    snprintf(path, sizeof path, "%s/BadOffset", dir);
    write_file(path, bad_idx, n);
    snprintf(path, sizeof path, "%s/NotTzif", dir);
    write_file(path, "hello world", 11);

    setenv("TZDIR", dir, 1);
    struct lerr e;
    lerr_init(&e);
    const struct ls_tz *slim = tz_get("Slim", 4, &e);
    CHECK_MSG(slim != NULL, "slim zone: %s", e.msg);
    if (slim) {
        CHECK_EQ_INT(tz_offset_at(slim, iso("2024-01-15T00:00:00Z")), -8 * LS_MS_PER_HOUR);
        CHECK_EQ_INT(tz_offset_at(slim, iso("2024-07-15T00:00:00Z")), -7 * LS_MS_PER_HOUR);
        CHECK_EQ_INT(tz_offset_at(slim, iso("1950-07-15T00:00:00Z")), -7 * LS_MS_PER_HOUR);
        CHECK_EQ_INT(tz_offset_at(slim, iso("2024-03-10T10:00:00Z")), -7 * LS_MS_PER_HOUR);
        CHECK_EQ_INT(tz_offset_at(slim, iso("2024-03-10T09:59:59.999Z")), -8 * LS_MS_PER_HOUR);
    }
    static const struct {
        const char *name;
        int code;
    } broken[] = {{"Truncated", LERR_CORRUPT},
                  {"BadOffset", LERR_CORRUPT},
                  {"NotTzif", LERR_INVALID},
                  {"Missing", LERR_INVALID}};
    for (size_t i = 0; i < LS_ARRAY_LEN(broken); i++) {
        lerr_init(&e);
        CHECK(tz_get(broken[i].name, strlen(broken[i].name), &e) == NULL);
        CHECK_MSG(e.code == broken[i].code, "%s: code %d msg %s", broken[i].name, e.code, e.msg);
    }
    unsetenv("TZDIR");
    const char *files[] = {"Slim", "Truncated", "BadOffset", "NotTzif"};
    for (size_t i = 0; i < LS_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        remove(path);
    }
    rmdir(dir);
}

static void *tz_thread(void *arg)
{
    static const char *const names[] = {"Europe/Paris", "Asia/Tokyo", "+03:00", "America/Chicago",
                                        "Europe/Paris"};
    const struct ls_tz **out = arg;
    for (int r = 0; r < 200; r++)
        for (size_t i = 0; i < LS_ARRAY_LEN(names); i++)
            out[i] = tz_get(names[i], strlen(names[i]), NULL);
    return NULL;
}

static void test_tz_threads(void)
{
    pthread_t th[4];
    const struct ls_tz *got[4][5];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, tz_thread, got[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int same = 1;
    for (int i = 1; i < 4; i++)
        same &= memcmp(got[i], got[0], sizeof got[0]) == 0;
    CHECK(same && got[0][0] != NULL && got[0][0] == got[0][4]);
}

/* ---- floor / ceil / shift ------------------------------------------------ */

static void test_floor_ceil(void)
{
    // clang-format off
    static const struct {
        const char *t, *period, *origin, *tz, *floor, *ceil;
    } cases[] = {
        /* UTC */
        {"2024-05-17T13:45:12.345Z", "P1D", NULL, "UTC", "2024-05-17T00:00Z", "2024-05-18T00:00Z"},
        {"2024-05-17T13:45:12.345Z", "PT1H", NULL, "UTC", "2024-05-17T13:00Z", "2024-05-17T14:00Z"},
        {"2024-05-17T13:45:12.345Z", "PT15M", NULL, "UTC", "2024-05-17T13:45Z", "2024-05-17T14:00Z"},
        {"2024-05-17T13:45:12.345Z", "PT1M", NULL, "UTC", "2024-05-17T13:45Z", "2024-05-17T13:46Z"},
        {"2024-05-17T13:45:12.345Z", "PT1S", NULL, "UTC", "2024-05-17T13:45:12Z", "2024-05-17T13:45:13Z"},
        {"2024-05-17T13:45:12.345Z", "PT0.1S", NULL, "UTC", "2024-05-17T13:45:12.300Z", "2024-05-17T13:45:12.400Z"},
        {"2024-05-17T13:45:12.345Z", "P1M", NULL, "UTC", "2024-05-01T00:00Z", "2024-06-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", "P3M", NULL, "UTC", "2024-04-01T00:00Z", "2024-07-01T00:00Z"},
        {"2024-12-31T23:59:59.999Z", "P3M", NULL, "UTC", "2024-10-01T00:00Z", "2025-01-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", "P1Y", NULL, "UTC", "2024-01-01T00:00Z", "2025-01-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", "P10Y", NULL, "UTC", "2020-01-01T00:00Z", "2030-01-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", "P1W", NULL, "UTC", "2024-05-13T00:00Z", "2024-05-20T00:00Z"},
        {"2024-05-19T23:00:00Z", "P1W", NULL, "UTC", "2024-05-13T00:00Z", "2024-05-20T00:00Z"},
        {"2024-05-17T13:45:12.345Z", "P2W", NULL, "UTC", "2024-05-13T00:00Z", "2024-05-27T00:00Z"},
        {"2024-05-17T13:45:12.345Z", "P1DT12H", NULL, "UTC", "2024-05-17T00:00Z", "2024-05-18T12:00Z"},
        {"2024-05-17T00:00:00Z", "P1D", NULL, "UTC", "2024-05-17T00:00Z", "2024-05-17T00:00Z"},
        {"2024-05-01T00:00:00Z", "P1M", NULL, "UTC", "2024-05-01T00:00Z", "2024-05-01T00:00Z"},
        /* before 1970 */
        {"1969-12-31T23:59:59.999Z", "P1D", NULL, "UTC", "1969-12-31T00:00Z", "1970-01-01T00:00Z"},
        {"1969-12-31T23:59:59.999Z", "PT1H", NULL, "UTC", "1969-12-31T23:00Z", "1970-01-01T00:00Z"},
        {"1969-12-31T23:59:59.999Z", "P1M", NULL, "UTC", "1969-12-01T00:00Z", "1970-01-01T00:00Z"},
        {"1969-12-31T23:59:59.999Z", "P1Y", NULL, "UTC", "1969-01-01T00:00Z", "1970-01-01T00:00Z"},
        {"1969-06-15T00:00:00Z", "P3M", NULL, "UTC", "1969-04-01T00:00Z", "1969-07-01T00:00Z"},
        {"1965-03-17T10:00:00Z", "P1W", NULL, "UTC", "1965-03-15T00:00Z", "1965-03-22T00:00Z"},
        {"1900-03-01T00:00:00.001Z", "P1D", NULL, "UTC", "1900-03-01T00:00Z", "1900-03-02T00:00Z"},
        {"1969-12-31T23:59:59.999Z", "PT7M", NULL, "UTC", "1969-12-31T23:53Z", "1970-01-01T00:00Z"},
        /* origins */
        {"2024-05-17T05:00:00Z", "P1D", "2000-01-01T06:00Z", "UTC", "2024-05-16T06:00Z", "2024-05-17T06:00Z"},
        {"2024-05-17T05:00:00Z", "PT2H", "1970-01-01T01:00Z", "UTC", "2024-05-17T05:00Z", "2024-05-17T05:00Z"},
        {"2024-05-17T06:30:00Z", "PT2H", "1970-01-01T01:00Z", "UTC", "2024-05-17T05:00Z", "2024-05-17T07:00Z"},
        {"2024-03-15T00:00:00Z", "P1M", "2000-01-31T00:00Z", "UTC", "2024-02-29T00:00Z", "2024-03-31T00:00Z"},
        {"1999-12-15T00:00:00Z", "P1M", "2000-01-31T00:00Z", "UTC", "1999-11-30T00:00Z", "1999-12-31T00:00Z"},
        {"2024-05-17T00:00:00Z", "P1Y", "2000-07-01T00:00Z", "UTC", "2023-07-01T00:00Z", "2024-07-01T00:00Z"},
        {"1970-03-20T00:00:00Z", "P1M15D", NULL, "UTC", "1970-02-16T00:00Z", "1970-03-31T00:00Z"},
        {"1969-12-20T00:00:00Z", "P1M15D", NULL, "UTC", "1969-11-16T00:00Z", "1970-01-01T00:00Z"},
        /* America/Los_Angeles: P1D keeps local midnight across DST */
        {"2024-03-10T12:00:00Z", "P1D", NULL, "America/Los_Angeles", "2024-03-10T08:00Z", "2024-03-11T07:00Z"},
        {"2024-11-03T12:00:00Z", "P1D", NULL, "America/Los_Angeles", "2024-11-03T07:00Z", "2024-11-04T08:00Z"},
        {"2024-11-03T08:30:00Z", "PT1H", NULL, "America/Los_Angeles", "2024-11-03T08:00Z", "2024-11-03T09:00Z"},
        {"2024-11-03T09:30:00Z", "PT1H", NULL, "America/Los_Angeles", "2024-11-03T09:00Z", "2024-11-03T10:00Z"},
        {"2024-03-10T09:59:00Z", "PT1H", NULL, "America/Los_Angeles", "2024-03-10T09:00Z", "2024-03-10T10:00Z"},
        {"2024-03-10T10:30:00Z", "PT1H", NULL, "America/Los_Angeles", "2024-03-10T10:00Z", "2024-03-10T11:00Z"},
        {"2024-03-10T10:30:00Z", "PT2H", NULL, "America/Los_Angeles", "2024-03-10T10:00Z", "2024-03-10T11:00Z"},
        {"2024-03-15T12:00:00Z", "P1M", NULL, "America/Los_Angeles", "2024-03-01T08:00Z", "2024-04-01T07:00Z"},
        {"2024-03-10T12:00:00Z", "P1W", NULL, "America/Los_Angeles", "2024-03-04T08:00Z", "2024-03-11T07:00Z"},
        {"2024-05-17T13:45:00Z", "P1Y", NULL, "America/Los_Angeles", "2024-01-01T08:00Z", "2025-01-01T08:00Z"},
        {"2050-07-04T12:00:00Z", "P1D", NULL, "America/Los_Angeles", "2050-07-04T07:00Z", "2050-07-05T07:00Z"},
        {"2050-11-06T09:30:00Z", "PT1H", NULL, "America/Los_Angeles", "2050-11-06T09:00Z", "2050-11-06T10:00Z"},
        {"1969-12-31T12:00:00Z", "P1D", NULL, "America/Los_Angeles", "1969-12-31T08:00Z", "1970-01-01T08:00Z"},
        /* Europe/London */
        {"2024-03-31T00:30:00Z", "P1D", NULL, "Europe/London", "2024-03-31T00:00Z", "2024-03-31T23:00Z"},
        {"2024-03-31T12:00:00Z", "P1D", NULL, "Europe/London", "2024-03-31T00:00Z", "2024-03-31T23:00Z"},
        {"2024-10-27T00:30:00Z", "PT1H", NULL, "Europe/London", "2024-10-27T00:00Z", "2024-10-27T01:00Z"},
        {"2024-10-27T01:30:00Z", "PT1H", NULL, "Europe/London", "2024-10-27T01:00Z", "2024-10-27T02:00Z"},
        {"2024-10-27T12:00:00Z", "P1D", NULL, "Europe/London", "2024-10-26T23:00Z", "2024-10-28T00:00Z"},
        /* Asia/Kolkata: half-hour offset */
        {"2024-05-17T13:45:00Z", "PT1H", NULL, "Asia/Kolkata", "2024-05-17T13:30Z", "2024-05-17T14:30Z"},
        {"2024-05-17T13:45:00Z", "P1D", NULL, "Asia/Kolkata", "2024-05-16T18:30Z", "2024-05-17T18:30Z"},
        {"2024-05-17T13:45:00Z", "PT30M", NULL, "Asia/Kolkata", "2024-05-17T13:30Z", "2024-05-17T14:00Z"},
        {"2024-05-17T13:45:00Z", "P1M", NULL, "Asia/Kolkata", "2024-04-30T18:30Z", "2024-05-31T18:30Z"},
        /* Australia/Lord_Howe: 30-minute DST */
        {"2024-10-05T15:45:00Z", "PT1H", NULL, "Australia/Lord_Howe", "2024-10-05T15:30Z", "2024-10-05T16:00Z"},
        {"2024-10-06T01:00:00Z", "P1D", NULL, "Australia/Lord_Howe", "2024-10-05T13:30Z", "2024-10-06T13:00Z"},
        {"2024-04-06T14:45:00Z", "PT30M", NULL, "Australia/Lord_Howe", "2024-04-06T14:30Z", "2024-04-06T15:00Z"},
        {"2024-04-06T15:15:00Z", "PT30M", NULL, "Australia/Lord_Howe", "2024-04-06T15:00Z", "2024-04-06T15:30Z"},
        {"2024-04-07T01:00:00Z", "P1D", NULL, "Australia/Lord_Howe", "2024-04-06T13:00Z", "2024-04-07T13:30Z"},
    };
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        struct period p = per(cases[i].period);
        const struct ls_tz *tz = zone(cases[i].tz);
        int64_t t = iso(cases[i].t), origin = cases[i].origin ? iso(cases[i].origin) : INT64_MIN;
        char ctx[160];
        snprintf(ctx, sizeof ctx, "floor(%s, %s, %s)", cases[i].t, cases[i].period, cases[i].tz);
        int64_t f = time_floor(t, &p, origin, tz);
        CHECK_TIME(f, cases[i].floor, ctx);
        snprintf(ctx, sizeof ctx, "ceil(%s, %s, %s)", cases[i].t, cases[i].period, cases[i].tz);
        CHECK_TIME(time_ceil(t, &p, origin, tz), cases[i].ceil, ctx);
        CHECK_MSG(time_floor(f, &p, origin, tz) == f, "floor is idempotent: %s", ctx);
    }

    /* Sweep: floor <= t < next boundary, and floor is monotonic, across DST in every zone. */
    static const char *const zones[] = {"UTC", "America/Los_Angeles", "Europe/London",
                                        "Asia/Kolkata", "Australia/Lord_Howe"};
    static const char *const periods[] = {"PT1H", "PT30M", "P1D", "P1W", "P1M", "PT2H", "P3M"};
    int bad = 0;
    for (size_t z = 0; z < LS_ARRAY_LEN(zones); z++) {
        for (size_t k = 0; k < LS_ARRAY_LEN(periods); k++) {
            struct period p = per(periods[k]);
            int64_t prev = INT64_MIN, end = iso("2024-11-15T00:00:00Z");
            const struct ls_tz *tz = zone(zones[z]);
            for (int64_t t = iso("2024-03-01T00:00:00Z"); t < end;
                 t += 7 * LS_MS_PER_MINUTE + 13000) {
                int64_t f = time_floor(t, &p, INT64_MIN, tz);
                int64_t c = time_ceil(t, &p, INT64_MIN, tz);
                if (f > t || c < t || f < prev || (c != t && f == t)) {
                    if (bad++ < 5)
                        fprintf(stderr, "sweep %s %s at %s: floor %lld ceil %lld\n", zones[z],
                                periods[k], fmt_utc(t), (long long)f, (long long)c);
                }
                prev = f;
            }
        }
    }
    CHECK_EQ_INT(bad, 0);

    /* Degenerate inputs return t and never trip the sanitizers. */
    struct period zero = {0};
    CHECK_EQ_INT(time_floor(123, &zero, INT64_MIN, NULL), 123);
    struct period day = per("P1D"), year = per("P1Y");
    CHECK(time_floor(INT64_MIN, &day, INT64_MIN, NULL) <= INT64_MIN + LS_MS_PER_DAY);
    CHECK(time_ceil(INT64_MAX, &day, INT64_MIN, zone("America/Los_Angeles")) >= 0);
    CHECK(time_floor(INT64_MAX, &year, INT64_MIN, zone("Asia/Kolkata")) > 0);
}

static void test_shift(void)
{
    static const struct {
        const char *t, *period;
        int64_t n;
        const char *tz, *want;
    } cases[] = {
        {"2024-01-31T00:00:00Z", "P1M", 1, "UTC", "2024-02-29T00:00Z"},
        {"2023-01-31T00:00:00Z", "P1M", 1, "UTC", "2023-02-28T00:00Z"},
        {"2024-01-31T00:00:00Z", "P1M", 2, "UTC", "2024-03-31T00:00Z"},
        {"2024-03-31T10:00:00Z", "P1M", -1, "UTC", "2024-02-29T10:00Z"},
        {"2024-02-29T00:00:00Z", "P1Y", 1, "UTC", "2025-02-28T00:00Z"},
        {"2024-02-29T00:00:00Z", "P1Y", -1, "UTC", "2023-02-28T00:00Z"},
        {"2024-02-29T00:00:00Z", "P4Y", 1, "UTC", "2028-02-29T00:00Z"},
        {"2024-02-29T00:00:00Z", "P1Y1M", 1, "UTC", "2025-03-28T00:00Z"},
        {"2024-05-17T13:45:00Z", "PT15M", 3, "UTC", "2024-05-17T14:30Z"},
        {"2024-05-17T13:45:00Z", "P1W", -2, "UTC", "2024-05-03T13:45Z"},
        {"2024-05-17T13:45:00Z", "P1DT2H30M", 1, "UTC", "2024-05-18T16:15Z"},
        {"2024-05-17T13:45:00Z", "PT0.5S", 4, "UTC", "2024-05-17T13:45:02Z"},
        {"1969-12-31T00:00:00Z", "P1D", 1, "UTC", "1970-01-01T00:00Z"},
        {"1970-01-01T00:00:00Z", "P1M", -1, "UTC", "1969-12-01T00:00Z"},
        {"2024-05-17T13:45:00Z", "P1D", 0, "UTC", "2024-05-17T13:45Z"},
        /* Calendar fields keep the local wall clock; hours move the instant. */
        {"2024-03-09T20:00:00Z", "P1D", 1, "America/Los_Angeles", "2024-03-10T19:00Z"},
        {"2024-03-09T20:00:00Z", "PT24H", 1, "America/Los_Angeles", "2024-03-10T20:00Z"},
        {"2024-03-11T07:00:00Z", "P1D", -1, "America/Los_Angeles", "2024-03-10T08:00Z"},
        {"2024-11-03T08:30:00Z", "PT1H", 1, "America/Los_Angeles", "2024-11-03T09:30Z"},
        {"2024-10-15T19:00:00Z", "P1M", 1, "America/Los_Angeles", "2024-11-15T20:00Z"},
        {"2024-03-09T10:30:00Z", "P1D", 1, "America/Los_Angeles",
         "2024-03-10T10:30Z"}, /* 02:30 gap */
        {"2024-10-05T14:00:00Z", "P1D", 1, "Australia/Lord_Howe", "2024-10-06T13:30Z"},
        {"2024-05-17T13:45:00Z", "P1D", 1, "Asia/Kolkata", "2024-05-18T13:45Z"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        struct period p = per(cases[i].period);
        char ctx[160];
        snprintf(ctx, sizeof ctx, "shift(%s, %s, %lld, %s)", cases[i].t, cases[i].period,
                 (long long)cases[i].n, cases[i].tz);
        CHECK_TIME(time_shift(iso(cases[i].t), &p, cases[i].n, zone(cases[i].tz)), cases[i].want,
                   ctx);
    }
    struct period y = per("P1Y"), h = per("PT1H");
    CHECK_EQ_INT(time_shift(0, &y, INT64_MAX, NULL), INT64_MAX);
    CHECK(time_shift(0, &y, INT64_MIN, zone("Europe/London")) < INT64_MIN / 2);
    CHECK_EQ_INT(time_shift(0, &h, INT64_MAX, NULL), INT64_MAX);
    CHECK_EQ_INT(time_shift(INT64_MAX, &h, 1, NULL), INT64_MAX);
}

/* ---- units ---------------------------------------------------------------- */

static void test_extract(void)
{
    static const struct {
        const char *t, *unit, *tz;
        int64_t want;
    } cases[] = {
        {"2016-01-01T00:00:00Z", "WEEK", "UTC", 53},
        {"2016-01-01T00:00:00Z", "ISOYEAR", "UTC", 2015},
        {"2016-01-01T00:00:00Z", "DOW", "UTC", 5},
        {"2016-01-01T00:00:00Z", "ISODOW", "UTC", 5},
        {"2016-01-01T00:00:00Z", "DOY", "UTC", 1},
        {"2016-01-01T00:00:00Z", "YEAR", "UTC", 2016},
        {"2024-05-17T13:45:12.345Z", "MILLISECOND", "UTC", 345},
        {"2024-05-17T13:45:12.345Z", "SECOND", "UTC", 12},
        {"2024-05-17T13:45:12.345Z", "MINUTE", "UTC", 45},
        {"2024-05-17T13:45:12.345Z", "HOUR", "UTC", 13},
        {"2024-05-17T13:45:12.345Z", "DAY", "UTC", 17},
        {"2024-05-17T13:45:12.345Z", "DOW", "UTC", 5},
        {"2024-05-17T13:45:12.345Z", "DOY", "UTC", 138},
        {"2024-05-17T13:45:12.345Z", "WEEK", "UTC", 20},
        {"2024-05-17T13:45:12.345Z", "MONTH", "UTC", 5},
        {"2024-05-17T13:45:12.345Z", "QUARTER", "UTC", 2},
        {"2024-05-17T13:45:12.345Z", "YEAR", "UTC", 2024},
        {"2024-05-17T13:45:12.345Z", "ISOYEAR", "UTC", 2024},
        {"2024-05-17T13:45:12.345Z", "DECADE", "UTC", 202},
        {"2024-05-17T13:45:12.345Z", "CENTURY", "UTC", 21},
        {"2024-05-17T13:45:12.345Z", "MILLENNIUM", "UTC", 3},
        {"2024-05-17T13:45:12.345Z", "EPOCH", "UTC", 1715953512},
        {"2000-12-31T12:00:00Z", "CENTURY", "UTC", 20},
        {"2000-12-31T12:00:00Z", "MILLENNIUM", "UTC", 2},
        {"2001-01-01T00:00:00Z", "CENTURY", "UTC", 21},
        {"2000-12-31T12:00:00Z", "DOY", "UTC", 366},
        {"2000-12-31T12:00:00Z", "DOW", "UTC", 7},
        {"2000-12-31T12:00:00Z", "WEEK", "UTC", 52},
        {"2008-12-29T00:00:00Z", "WEEK", "UTC", 1},
        {"2008-12-29T00:00:00Z", "ISOYEAR", "UTC", 2009},
        {"2010-01-03T00:00:00Z", "WEEK", "UTC", 53},
        {"2010-01-03T00:00:00Z", "ISOYEAR", "UTC", 2009},
        {"2024-10-01T00:00:00Z", "QUARTER", "UTC", 4},
        {"2024-03-31T00:00:00Z", "QUARTER", "UTC", 1},
        {"1969-12-31T23:59:58.500Z", "EPOCH", "UTC", -1},
        {"1969-12-31T23:59:58.500Z", "SECOND", "UTC", 58},
        {"1969-12-31T23:59:58.500Z", "MILLISECOND", "UTC", 500},
        {"1969-12-31T23:59:58.500Z", "DOW", "UTC", 3},
        {"1969-12-31T23:59:58.500Z", "WEEK", "UTC", 1},
        {"1969-12-31T23:59:58.500Z", "ISOYEAR", "UTC", 1970},
        {"1969-12-31T23:59:58.500Z", "DECADE", "UTC", 196},
        {"2024-05-17T20:00:00Z", "DAY", "Asia/Kolkata", 18},
        {"2024-05-17T20:00:00Z", "HOUR", "Asia/Kolkata", 1},
        {"2024-05-17T20:00:00Z", "MINUTE", "Asia/Kolkata", 30},
        {"2024-05-17T20:00:00Z", "HOUR", "America/Los_Angeles", 13},
        {"2024-01-01T05:00:00Z", "YEAR", "America/Los_Angeles", 2023},
        {"2024-01-01T05:00:00Z", "EPOCH", "America/Los_Angeles", 1704085200},
        {"2024-01-01T05:00:00Z", "DOW", "America/Los_Angeles", 7},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        enum time_unit u;
        CHECK_MSG(time_unit_parse(cases[i].unit, strlen(cases[i].unit), &u), "unit %s",
                  cases[i].unit);
        int64_t got = time_extract(iso(cases[i].t), u, zone(cases[i].tz));
        CHECK_MSG(got == cases[i].want, "extract %s of %s in %s: got %lld want %lld",
                  cases[i].unit, cases[i].t, cases[i].tz, (long long)got,
                  (long long)cases[i].want);
    }

    // clang-format off
    static const struct {
        const char *name;
        bool ok;
        enum time_unit u;
    } names[] = {
        {"hour", true, TU_HOUR},       {"Hour", true, TU_HOUR},     {"EPOCH", true, TU_EPOCH},
        {"dow", true, TU_DOW},         {"isodow", true, TU_ISODOW}, {"millennium", true, TU_MILLENNIUM},
        {"WEEK", true, TU_WEEK},       {"quarter", true, TU_QUARTER}, {"doy", true, TU_DOY},
        {"hours", false, TU_HOUR},     {"", false, TU_HOUR},        {"HOU", false, TU_HOUR},
        {"MICROSECOND", false, TU_HOUR},
    };
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(names); i++) {
        enum time_unit u = TU_EPOCH;
        bool ok = time_unit_parse(names[i].name, strlen(names[i].name), &u);
        CHECK_MSG(ok == names[i].ok && (!ok || u == names[i].u), "unit '%s'", names[i].name);
    }
}

static void test_floor_unit(void)
{
    static const struct {
        const char *t;
        enum time_unit u;
        const char *tz, *want;
    } cases[] = {
        {"2024-05-17T13:45:12.345Z", TU_MILLISECOND, "UTC", "2024-05-17T13:45:12.345Z"},
        {"2024-05-17T13:45:12.345Z", TU_SECOND, "UTC", "2024-05-17T13:45:12Z"},
        {"2024-05-17T13:45:12.345Z", TU_MINUTE, "UTC", "2024-05-17T13:45Z"},
        {"2024-05-17T13:45:12.345Z", TU_HOUR, "UTC", "2024-05-17T13:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_DAY, "UTC", "2024-05-17T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_WEEK, "UTC", "2024-05-13T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_MONTH, "UTC", "2024-05-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_QUARTER, "UTC", "2024-04-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_YEAR, "UTC", "2024-01-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_DECADE, "UTC", "2020-01-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_CENTURY, "UTC", "2001-01-01T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_MILLENNIUM, "UTC", "2001-01-01T00:00Z"},
        {"2016-01-01T12:00:00Z", TU_ISOYEAR, "UTC", "2014-12-29T00:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_DAY, "America/Los_Angeles", "2024-05-17T07:00Z"},
        {"2024-05-17T13:45:12.345Z", TU_MONTH, "Asia/Kolkata", "2024-04-30T18:30Z"},
        {"1969-07-20T20:17:00Z", TU_YEAR, "UTC", "1969-01-01T00:00Z"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        char ctx[128];
        snprintf(ctx, sizeof ctx, "floor_unit(%s, %d, %s)", cases[i].t, (int)cases[i].u,
                 cases[i].tz);
        CHECK_TIME(time_floor_unit(iso(cases[i].t), cases[i].u, zone(cases[i].tz)), cases[i].want,
                   ctx);
    }
}

/* ---- intervals -------------------------------------------------------------- */

static void test_intervals(void)
{
    static const struct {
        const char *in, *start, *end;
    } ok[] = {
        {"2000-01-01/2001-01-01", "2000-01-01", "2001-01-01"},
        {"2000-01-01T00:00Z/P1D", "2000-01-01", "2000-01-02"},
        {"P1D/2001-01-01", "2000-12-31", "2001-01-01"},
        {"2000-01-31/P1M", "2000-01-31", "2000-02-29"},
        {"2000-01-01T00:00:00.000Z/2000-01-01T00:00:00.000Z", "2000-01-01", "2000-01-01"},
        {"2015-09-12T00:00:00.000Z/2015-09-13T00:00:00.001Z", "2015-09-12",
         "2015-09-13T00:00:00.001Z"},
        {"2000-01-01T00:00+05:30/PT1H", "1999-12-31T18:30Z", "1999-12-31T19:30Z"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(ok); i++) {
        int64_t s = 0, e = 0;
        struct lerr err;
        lerr_init(&err);
        int rc = time_interval_parse(ok[i].in, strlen(ok[i].in), &s, &e, &err);
        CHECK_MSG(rc == LERR_OK && s == iso(ok[i].start) && e == iso(ok[i].end),
                  "interval '%s': rc %d %s", ok[i].in, rc, err.msg);
    }
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"2000-01-01", "expected 'start/end'"},
        {"", "expected 'start/end'"},
        {"P1D/P1D", "only one side may be a period"},
        {"2001-01-01/2000-01-01", "the end is before the start"},
        {"2000-01-01/garbage", "not an ISO-8601 time"},
        {"2000-13-01/2001-01-01", "not an ISO-8601 time"},
        {"2000-01-01/P1X", "invalid period 'P1X'"},
        {"/", "not an ISO-8601 time"},
        {"2000-01-01/2001-01-01/2002-01-01", "not an ISO-8601 time"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        int64_t s, e;
        struct lerr err;
        lerr_init(&err);
        int rc = time_interval_parse(bad[i].in, strlen(bad[i].in), &s, &e, &err);
        CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, bad[i].msg), "interval '%s': %s",
                  bad[i].in, err.msg);
    }
}

/* ---- Joda patterns ------------------------------------------------------------ */

static void test_joda_format(void)
{
    static const struct {
        const char *pat, *t, *tz, *want;
    } cases[] = {
        {"yyyy-MM-dd HH:mm:ss", "2000-01-02T03:04:05.123Z", "UTC", "2000-01-02 03:04:05"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSSZZ", "2000-01-02T03:04:05.123Z", "UTC",
         "2000-01-02T03:04:05.123+00:00"},
        {"dd/MMM/yyyy:HH:mm:ss Z", "2000-10-10T20:55:36Z", "America/Los_Angeles",
         "10/Oct/2000:13:55:36 -0700"},
        {"EEE, dd MMM yyyy HH:mm:ss z", "2024-01-15T20:00:00Z", "America/Los_Angeles",
         "Mon, 15 Jan 2024 12:00:00 PST"},
        {"EEEE, MMMM d, yyyy", "2024-07-04T12:00:00Z", "UTC", "Thursday, July 4, 2024"},
        {"MM/dd/yy hh:mm a", "2024-07-04T15:05:00Z", "UTC", "07/04/24 03:05 PM"},
        {"MM/dd/yy hh:mm a", "2024-07-04T00:05:00Z", "UTC", "07/04/24 12:05 AM"},
        {"K:mm a", "2024-07-04T12:05:00Z", "UTC", "0:05 PM"},
        {"k:mm", "2024-07-04T00:05:00Z", "UTC", "24:05"},
        {"H:m:s", "2024-07-04T01:02:03Z", "UTC", "1:2:3"},
        {"D DDD", "2024-02-01T00:00:00Z", "UTC", "32 032"},
        {"yyyy-'W'ww-e", "2016-01-01T00:00:00Z", "UTC", "2016-W53-5"},
        {"xxxx-'W'ww-e", "2016-01-01T00:00:00Z", "UTC", "2015-W53-5"},
        {"G yyyy C Y", "2024-01-01T00:00:00Z", "UTC", "AD 2024 20 2024"},
        {"G Y", "-0001-06-01T00:00:00Z", "UTC", "BC 2"},
        {"yy", "1999-06-01T00:00:00Z", "UTC", "99"},
        {"y", "0005-06-01T00:00:00Z", "UTC", "5"},
        {"S SS SSS SSSSSS", "2000-01-02T03:04:05.123Z", "UTC", "1 12 123 123000"},
        {"'o''clock' ''", "2000-01-02T03:04:05Z", "UTC", "o'clock '"},
        {"HH:mm ZZZ", "2024-01-15T20:00:00Z", "America/New_York", "15:00 America/New_York"},
        {"HH:mm Z", "2024-01-15T20:00:00Z", "Asia/Kolkata", "01:30 +0530"},
        {"HH:mm ZZ", "2024-01-15T20:00:00Z", "UTC", "20:00 +00:00"},
        {"HH:mm z", "2024-01-15T20:00:00Z", "+05:30", "01:30 +05:30"},
        {"HH:mm z", "2024-01-15T20:00:00Z", "UTC", "20:00 UTC"},
        {"HH:mm z", "2024-07-15T20:00:00Z", "America/Los_Angeles", "13:00 PDT"},
        {"yyyy-MM-dd", "1969-12-31T23:59:59.999Z", "UTC", "1969-12-31"},
        {"yyyy-MM-dd", "-0001-01-01T00:00:00Z", "UTC", "-0001-01-01"},
        {"yyyy/MM/dd HH:mm", "2024-03-10T10:30:00Z", "America/Los_Angeles", "2024/03/10 03:30"},
        {"éé yyyy", "2024-03-10T10:30:00Z", "UTC", "éé 2024"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        struct lerr e;
        lerr_init(&e);
        struct joda_fmt *f = joda_compile(cases[i].pat, strlen(cases[i].pat), &e);
        CHECK_MSG(f != NULL, "compile '%s': %s", cases[i].pat, e.msg);
        if (!f)
            continue;
        char buf[128];
        size_t n = joda_format(f, iso(cases[i].t), zone(cases[i].tz), buf, sizeof buf);
        CHECK_EQ_STR(buf, cases[i].want);
        CHECK_EQ_INT(n, strlen(cases[i].want));
        joda_free(f);
    }
    /* Truncation to cap. */
    struct joda_fmt *f = joda_compile("yyyy-MM-dd", 10, NULL);
    char small[5];
    CHECK_EQ_INT(joda_format(f, 0, NULL, small, sizeof small), 4);
    CHECK_EQ_STR(small, "1970");
    joda_free(f);
}

static void test_joda_parse(void)
{
    static const struct {
        const char *pat, *text, *tz, *want; /* want NULL: must not parse */
    } cases[] = {
        {"dd/MMM/yyyy:HH:mm:ss Z", "10/Oct/2000:13:55:36 -0700", "UTC", "2000-10-10T20:55:36Z"},
        {"dd/MMM/yyyy:HH:mm:ss Z", "10/oct/2000:13:55:36 +0000", "UTC", "2000-10-10T13:55:36Z"},
        {"dd/MMM/yyyy:HH:mm:ss Z", "10/October/2000:13:55:36 Z", "UTC", "2000-10-10T13:55:36Z"},
        {"dd/MMM/yyyy:HH:mm:ss Z", "10/Oct/2000:13:55:36", "UTC", NULL},
        {"yyyy-MM-dd HH:mm:ss", "2000-01-02 03:04:05", "UTC", "2000-01-02T03:04:05Z"},
        {"yyyy-MM-dd HH:mm:ss", "2000-01-02 03:04:05", "America/Los_Angeles",
         "2000-01-02T11:04:05Z"},
        {"yyyy-MM-dd HH:mm:ss", "2000-01-02 03:04:05 ", "UTC", NULL},
        {"yyyy-MM-dd HH:mm:ss", "2000-1-02 03:04:05", "UTC", NULL},
        {"yyyy-MM-dd HH:mm:ss", "2023-02-29 03:04:05", "UTC", NULL},
        {"yyyy-MM-dd HH:mm:ss", "2000-01-02 24:04:05", "UTC", NULL},
        {"d/M/yyyy H:mm:ss", "1/1/2024 1:02:00", "UTC", "2024-01-01T01:02:00Z"},
        {"d/M/yyyy H:mm:ss", "31/12/2024 23:02:00", "UTC", "2024-12-31T23:02:00Z"},
        {"EEE, dd MMM yyyy HH:mm:ss z", "Mon, 15 Jan 2024 12:00:00 PST", "UTC",
         "2024-01-15T20:00:00Z"},
        {"EEE, dd MMM yyyy HH:mm:ss z", "Mon, 15 Jan 2024 12:00:00 GMT", "America/Los_Angeles",
         "2024-01-15T12:00:00Z"},
        {"EEE, dd MMM yyyy HH:mm:ss z", "Mon, 15 Jan 2024 12:00:00 XYZ", "UTC", NULL},
        {"EEE, dd MMM yyyy HH:mm:ss Z", "Monday, 15 Jan 2024 12:00:00 +0100", "UTC",
         "2024-01-15T11:00:00Z"},
        /* A wrong day name moves the date within its week, as Joda does. */
        {"EEE, dd MMM yyyy", "Wed, 15 Jan 2024", "UTC", "2024-01-17T00:00:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/24 03:05 PM", "UTC", "2024-07-04T15:05:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/24 12:05 AM", "UTC", "2024-07-04T00:05:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/24 12:05 pm", "UTC", "2024-07-04T12:05:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/99 03:05 PM", "UTC", "1999-07-04T15:05:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/49 03:05 PM", "UTC", "2049-07-04T15:05:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/50 03:05 PM", "UTC", "1950-07-04T15:05:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/2024 03:05 PM", "UTC", "2024-07-04T15:05:00Z"},
        {"MM/dd/yy hh:mm a", "07/04/24 13:05 PM", "UTC", NULL},
        {"MM/dd/yy hh:mm a", "07/04/24 00:05 AM", "UTC", NULL},
        {"yyMMdd", "240704", "UTC", "2024-07-04T00:00:00Z"},
        {"yyMMdd", "20240704", "UTC", NULL},
        {"yyyyMMddHHmmss", "20240704150500", "UTC", "2024-07-04T15:05:00Z"},
        {"yyyyMMdd", "2024074", "UTC", NULL},
        {"yyyy-MM-dd'T'HH:mm:ss.SSSZZ", "2000-01-02T03:04:05.123+05:30", "UTC",
         "2000-01-01T21:34:05.123Z"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSS", "2000-01-02T03:04:05.1", "UTC", "2000-01-02T03:04:05.100Z"},
        {"yyyy-MM-dd'T'HH:mm:ss.SSS", "2000-01-02T03:04:05.123456", "UTC",
         "2000-01-02T03:04:05.123Z"},
        {"yyyy-MM-dd'T'HH:mm:ss.S", "2000-01-02T03:04:05.987654321", "UTC",
         "2000-01-02T03:04:05.987Z"},
        {"yyyy-MM-dd HH:mm ZZZ", "2024-01-15 15:00 America/New_York", "UTC",
         "2024-01-15T20:00:00Z"},
        {"yyyy-MM-dd HH:mm ZZZ", "2024-07-15 15:00 Europe/London", "UTC", "2024-07-15T14:00:00Z"},
        {"yyyy-MM-dd HH:mm ZZZ", "2024-07-15 15:00 UTC", "America/Los_Angeles",
         "2024-07-15T15:00:00Z"},
        {"yyyy-MM-dd HH:mm ZZZ", "2024-07-15 15:00 Mars/Base", "UTC", NULL},
        {"yyyy-MM-dd HH:mm ZZZ]", "2024-07-15 15:00 Asia/Kolkata]", "UTC", "2024-07-15T09:30:00Z"},
        {"HH:mm", "13:45", "UTC", "1970-01-01T13:45:00Z"},
        {"MM-dd", "02-29", "UTC", "2000-02-29T00:00:00Z"},
        {"yyyy", "2024", "UTC", "2024-01-01T00:00:00Z"},
        {"yyyy", "-44", "UTC", "-0044-01-01T00:00:00Z"},
        {"yyyy D", "2024 60", "UTC", "2024-02-29T00:00:00Z"},
        {"yyyy D", "2023 366", "UTC", NULL},
        {"xxxx-'W'ww-e", "2015-W53-5", "UTC", "2016-01-01T00:00:00Z"},
        {"xxxx-'W'ww-e", "2016-W53-5", "UTC", NULL},
        {"G yyyy", "BC 0044", "UTC", "-0043-01-01T00:00:00Z"},
        {"G Y", "BC 44", "UTC", "-0043-01-01T00:00:00Z"},
        {"G Y", "AD 44", "UTC", "0044-01-01T00:00:00Z"},
        {"k:mm", "24:05", "UTC", "1970-01-01T00:05:00Z"},
        {"K:mm a", "0:05 PM", "UTC", "1970-01-01T12:05:00Z"},
        {"K:mm a", "12:05 PM", "UTC", NULL},
        {"HH:mm a", "13:05 PM", "UTC", "1970-01-01T13:05:00Z"},
        {"HH:mm a", "01:05 PM", "UTC", "1970-01-01T13:05:00Z"},
        {"'at' HH 'o''clock'", "AT 07 o'clock", "UTC", "1970-01-01T07:00:00Z"},
        {"yyyy-MM-dd", "2024-03-10", "America/Los_Angeles", "2024-03-10T08:00:00Z"},
        {"yyyy-MM-dd HH:mm", "2024-03-10 02:30", "America/Los_Angeles", "2024-03-10T10:30:00Z"},
        {"yyyy-MM-dd", "", "UTC", NULL},
        {"yyyy-MM-dd", "2024-03-1x", "UTC", NULL},
        {"dd", "00", "UTC", NULL},
        {"MM", "13", "UTC", NULL},
        {"mm", "60", "UTC", NULL},
        {"ss", "60", "UTC", NULL},
        {"e", "8", "UTC", NULL},
        {"w", "54", "UTC", NULL},
        {"yyyyyyyyyyyyyyyyyyyyyyyyy", "9999999999999999999999999", "UTC", NULL},
        {"y", "999999999", "UTC", NULL},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        struct lerr e;
        lerr_init(&e);
        struct joda_fmt *f = joda_compile(cases[i].pat, strlen(cases[i].pat), &e);
        CHECK_MSG(f != NULL, "compile '%s': %s", cases[i].pat, e.msg);
        if (!f)
            continue;
        int64_t got = 0;
        bool ok = joda_parse(f, cases[i].text, strlen(cases[i].text), zone(cases[i].tz), &got);
        if (cases[i].want) {
            CHECK_MSG(ok && got == iso(cases[i].want), "joda_parse('%s', '%s') = %d %s, want %s",
                      cases[i].pat, cases[i].text, ok, fmt_utc(got), cases[i].want);
        } else {
            CHECK_MSG(!ok, "joda_parse('%s', '%s') should fail, got %s", cases[i].pat,
                      cases[i].text, fmt_utc(got));
        }
        joda_free(f);
    }
}

static void test_joda_roundtrip_and_errors(void)
{
    // clang-format off
    static const struct {
        const char *pat;
        int64_t unit;  /* the pattern keeps time to this many ms */
    } pats[] = {
        {"yyyy-MM-dd'T'HH:mm:ss.SSSZZ", 1},
        {"dd/MMM/yyyy:HH:mm:ss Z", 1000},
        {"yyyy-MM-dd HH:mm:ss.SSS ZZZ", 1},
        {"EEEE, MMMM dd, yyyy hh:mm:ss.SSS a Z", 1},
        {"yyyyMMddHHmmssSSS", 1},
        {"xxxx-'W'ww-e HH:mm:ss.SSS", 1},
        {"yyyy DDD HH:mm:ss.SSS", 1},
    };
    // clang-format on
    static const char *const zones[] = {"UTC", "America/Los_Angeles", "Asia/Kolkata",
                                        "Australia/Lord_Howe"};
    int bad = 0;
    for (size_t p = 0; p < LS_ARRAY_LEN(pats); p++) {
        struct joda_fmt *f = joda_compile(pats[p].pat, strlen(pats[p].pat), NULL);
        CHECK(f != NULL);
        for (size_t z = 0; f && z < LS_ARRAY_LEN(zones); z++) {
            const struct ls_tz *tz = zone(zones[z]);
            for (int64_t t = -2000000000000; t < 4000000000000; t += 97654321012) {
                char buf[128];
                int64_t back = 0, want = util_floor_div(t, pats[p].unit) * pats[p].unit;
                size_t n = joda_format(f, t, tz, buf, sizeof buf);
                if (!joda_parse(f, buf, n, tz, &back) || back != want) {
                    if (bad++ < 5)
                        fprintf(stderr, "round trip '%s' %s: %s -> %lld, want %lld\n", pats[p].pat,
                                zones[z], buf, (long long)back, (long long)want);
                }
            }
        }
        joda_free(f);
    }
    CHECK_EQ_INT(bad, 0);

    static const struct {
        const char *pat, *msg;
    } errs[] = {
        {"yyyy-MM-dd q", "unknown pattern letter 'q'"},
        {"yyyy-MM-dd q", "at position 11"},
        {"yyyy-MM-ddTHH", "unknown pattern letter 'T'"},
        {"yyyy 'unterminated", "unterminated quote"},
        {"", "the pattern is empty"},
        {"bbb", "unknown pattern letter 'b'"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(errs); i++) {
        struct lerr e;
        lerr_init(&e);
        CHECK(joda_compile(errs[i].pat, strlen(errs[i].pat), &e) == NULL);
        CHECK_MSG(e.code == LERR_INVALID && strstr(e.msg, errs[i].msg), "pattern '%s': %s",
                  errs[i].pat, e.msg);
    }
    struct lerr e;
    lerr_init(&e);
    static char huge[5000];
    memset(huge, 'y', sizeof huge);
    CHECK(joda_compile(huge, sizeof huge, &e) == NULL && strstr(e.msg, "4096"));
}

int main(void)
{
    test_civil();
    test_iso_parse();
    test_iso_format();
    test_periods();
    test_tz_get();
    test_tz_offsets();
    test_tz_local();
    test_tzif_files();
    test_tz_threads();
    test_floor_ceil();
    test_shift();
    test_extract();
    test_floor_unit();
    test_intervals();
    test_joda_format();
    test_joda_parse();
    test_joda_roundtrip_and_errors();
    return check_summary();
}
