/*
 * time.h — civil time, ISO-8601 timestamps, ISO periods, time zones (from the
 * system's tz database), calendar arithmetic and Joda-style patterns, with
 * Druid's semantics. All times are int64 milliseconds since the Unix epoch
 * (UTC). Used by the API (periods such as "P30D"), the SQL functions
 * (TIME_PARSE, TIME_FORMAT, TIME_FLOOR, TIME_CEIL, TIME_SHIFT, TIME_EXTRACT,
 * TIME_IN_INTERVAL) and storage (time chunks).
 *
 * Thread-safety: everything is thread-safe. Time zones are loaded once and
 * cached for the life of the process (never freed); compiled Joda patterns are
 * immutable after joda_compile() and may be shared between threads.
 *
 * The implementation, bottom up: civil.c (the calendar), tz.c (time zones),
 * time.c (ISO-8601 timestamps), period.c (periods, shift/floor/ceil, units,
 * intervals), joda.c (Joda patterns); time_int.h is what they share.
 */
#ifndef LODESTAR_UTIL_TIME_H
#define LODESTAR_UTIL_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

#define LS_MS_PER_SECOND 1000LL
#define LS_MS_PER_MINUTE 60000LL
#define LS_MS_PER_HOUR 3600000LL
#define LS_MS_PER_DAY 86400000LL

/* ---- civil calendar (proleptic Gregorian, UTC) ------------------------- */

struct civil {
    int32_t year;  /* e.g. 2023; may be negative or > 9999 */
    int32_t month; /* 1..12 */
    int32_t day;   /* 1..31 */
    int32_t hour, minute, second, millis;
};

int64_t civil_days_from_ymd(int64_t y, int m, int d); /* days since 1970-01-01 */
void civil_ymd_from_days(int64_t days, int64_t *y, int *m, int *d);
int64_t civil_to_ms(const struct civil *c); /* c taken as UTC */
void civil_from_ms(int64_t ms, struct civil *out);
bool civil_is_leap(int64_t y);
int civil_days_in_month(int64_t y, int m);
int civil_day_of_week(int64_t days); /* ISO: Monday = 1 .. Sunday = 7 */
/* Floor division helpers, correct for negative values (b == 0 gives 0). */
int64_t util_floor_div(int64_t a, int64_t b);
int64_t util_floor_mod(int64_t a, int64_t b);

/* ---- time zones -------------------------------------------------------- */

struct ls_tz; /* opaque */

const struct ls_tz *tz_utc(void);
/*
 * Looks up a zone by IANA name ("America/Los_Angeles", read from the system's
 * TZif files under /usr/share/zoneinfo or $TZDIR), "UTC"/"Z"/"GMT", or a fixed
 * offset ("+05:30", "-08:00", "+0530", "-08"; hours <= 23, no seconds). NULL
 * with err set (LERR_INVALID, message naming the zone) if unknown; names with
 * "..", empty or hidden components, or a leading '/' are unknown by rule.
 * LERR_CORRUPT if the zone's file is damaged, LERR_UNAVAILABLE if the cache
 * of 16384 names is full. The result is cached and lives forever; a repeated
 * name costs a hash and a lock-free probe.
 */
const struct ls_tz *tz_get(const char *name, size_t len, struct lerr *err);
const char *tz_name(const struct ls_tz *tz);
/* Offset from UTC in ms at the given instant. */
int64_t tz_offset_at(const struct ls_tz *tz, int64_t utc_ms);
/*
 * Converts a local wall-clock time (ms, as if UTC) to an instant, as Joda does:
 * in a DST gap the time moves forward by the gap; in an overlap the earlier
 * offset (the first occurrence) wins.
 */
int64_t tz_local_to_utc(const struct ls_tz *tz, int64_t local_ms);
static inline int64_t tz_utc_to_local(const struct ls_tz *tz, int64_t utc_ms)
{
    return utc_ms + tz_offset_at(tz, utc_ms);
}

/* ---- ISO-8601 timestamps ----------------------------------------------- */

/*
 * Parses what Druid's TIME_PARSE(s) accepts without a pattern (Joda's
 * dateTimeParser): "2000", "2000-01", "2000-01-02", "2000-01-02T03",
 * "2000-01-02T03:04", "2000-01-02T03:04:05", fractional seconds of any
 * length (truncated to ms), a space instead of 'T', and a zone suffix "Z",
 * "+05:30", "+0530", "+05", "-08:00". Text without a zone is read in `tz`
 * (NULL = UTC). Also, as Joda: 1-2 digit months/days ("2022-6-14"), signed
 * years of up to 9 digits, ordinal ("2000-032") and week ("2000-W01-1")
 * dates, fractional hours/minutes ("T10.5"). Leading/trailing spaces are not
 * allowed, nor a 'T' or space with nothing after it. Returns false on
 * anything it cannot parse or an out-of-range field (month 13, Feb 30,
 * hour 24 or 25, ...). Must be fast: ~50 ns for "2000-01-02T03:04:05Z".
 */
bool time_parse_iso(const char *s, size_t n, const struct ls_tz *tz, int64_t *out_ms);
/*
 * Formats as Druid prints timestamps: "2000-01-02T03:04:05.000Z" in UTC,
 * "2000-01-02T03:04:05.000-08:00" in another zone. Returns the length
 * written (out is NUL-terminated; 40 bytes is always enough).
 */
size_t time_format_iso(int64_t ms, const struct ls_tz *tz, char *out, size_t cap);

/* ---- ISO-8601 periods -------------------------------------------------- */

struct period {
    int32_t years, months, weeks, days, hours, minutes, seconds, millis;
};

/*
 * Parses "P30D", "PT1H", "P1M", "P20Y", "P1W", "PT15M", "P1DT2H30M",
 * "PT0.5S", "PT1.250S" (fractions only on seconds). Negative or empty
 * periods ("P", "PT", "-P1D"), unknown designators, a missing 'T' before
 * hours/minutes/seconds, numbers past int32: LERR_INVALID with a message
 * saying what is wrong with the text and giving an example of a valid one.
 */
int period_parse(const char *s, size_t n, struct period *out, struct lerr *err);
bool period_is_zero(const struct period *p);
/* Length in ms if the period has no years/months (weeks and days count as
 * fixed 7/1 days only in UTC); -1 otherwise. */
int64_t period_fixed_ms(const struct period *p);
/* Formats back to canonical ISO text ("P1DT2H"); returns length. */
size_t period_format(const struct period *p, char *out, size_t cap);

/* t + n * period, calendar-aware in tz (month ends clamp: Jan 31 + P1M = Feb 28/29). */
int64_t time_shift(int64_t t, const struct period *p, int64_t n, const struct ls_tz *tz);
/*
 * Druid's TIME_FLOOR(t, period, origin, tz): the start of the period bucket
 * containing t. Buckets are aligned to `origin` (ms; pass INT64_MIN for the
 * default: 1970-01-01T00:00 local time in tz, and for weeks Monday
 * 1970-01-05). Calendar periods (months, years) count whole calendar units in
 * tz; fixed periods use local wall-clock time so that P1D floors to local
 * midnight across DST changes.
 */
int64_t time_floor(int64_t t, const struct period *p, int64_t origin, const struct ls_tz *tz);
/* TIME_CEIL: floor if t is on a boundary, else the next boundary. */
int64_t time_ceil(int64_t t, const struct period *p, int64_t origin, const struct ls_tz *tz);

/* ---- units for TIME_EXTRACT / EXTRACT / FLOOR(t TO unit) --------------- */

// clang-format off
enum time_unit {
    TU_MILLISECOND, TU_SECOND, TU_MINUTE, TU_HOUR, TU_DAY, TU_DOW, TU_ISODOW,
    TU_DOY, TU_WEEK, TU_MONTH, TU_QUARTER, TU_YEAR, TU_ISOYEAR, TU_DECADE,
    TU_CENTURY, TU_MILLENNIUM, TU_EPOCH
};
// clang-format on
/* Case-insensitive names as Druid spells them ("HOUR", "DOW", "EPOCH", ...). */
bool time_unit_parse(const char *s, size_t n, enum time_unit *out);
/* Druid's TIME_EXTRACT: DOW is 1 (Monday)..7, EPOCH in seconds, WEEK ISO week. */
int64_t time_extract(int64_t t, enum time_unit u, const struct ls_tz *tz);
/* FLOOR(t TO unit) for SECOND..YEAR units (a period of one unit). */
int64_t time_floor_unit(int64_t t, enum time_unit u, const struct ls_tz *tz);

/* "2000-01-01/2001-01-01" or "2000-01-01T00:00Z/P1D" or "P1D/2001-01-01": [start, end). */
int time_interval_parse(const char *s, size_t n, int64_t *start, int64_t *end, struct lerr *err);

/* ---- Joda-style patterns (TIME_PARSE / TIME_FORMAT with a pattern) ------ */

struct joda_fmt; /* opaque, immutable */

/*
 * Compiles a Joda DateTimeFormat pattern: G y Y u x C e E D M d a K h H k m s
 * S z Z (with repetition counts as Joda: "MMM" short month name, "MMMM" full,
 * "EEE"/"EEEE" day names, "SSS" millis, "Z" +0800, "ZZ" +08:00, "ZZZ" zone id,
 * "yy" two-digit year pivoting around 2000), quoted literals ('T', '' for a
 * quote) and any other non-letter literal; also w (ISO week). Unknown pattern
 * letters: LERR_INVALID with the position. English month/day names.
 *
 * Parsing follows Joda: "dd"/"HH"/"MM" need exactly two digits, "d"/"H"/"M"
 * one or two; text fields match full or short names, case-insensitively; a
 * year field followed by another number ("yyyyMMdd") takes exactly its width;
 * "yy" maps 00..49 to 2000s and 50..99 to 1900s, and takes a full year when
 * no number follows it; "z" accepts UT, UTC, GMT and EST/EDT, CST/CDT,
 * MST/MDT, PST/PDT (read in the matching US zone); missing fields default to
 * 1970-01-01T00:00, or to the year 2000 when a month or day is given without
 * a year (so "02-29" with "MM-dd" parses); a day-of-week moves the date
 * within its Monday-based week, as Joda's field setting does.
 */
struct joda_fmt *joda_compile(const char *pat, size_t n, struct lerr *err);
void joda_free(struct joda_fmt *f);
/* Parses s fully (no trailing text); a zone in the text overrides tz. */
bool joda_parse(const struct joda_fmt *f, const char *s, size_t n, const struct ls_tz *tz,
                int64_t *out_ms);
/* Formats t in tz; returns the length written (out NUL-terminated, truncated to cap). */
size_t joda_format(const struct joda_fmt *f, int64_t t, const struct ls_tz *tz, char *out,
                   size_t cap);

#endif
