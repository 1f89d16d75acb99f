/*
 * time_int.h — private to util/'s time files (civil.c, tz.c, time.c,
 * period.c, joda.c; the interface is time.h): saturating arithmetic,
 * character tests, the cursor the ISO and Joda parsers share, and the few
 * functions one time file offers the others (util__ names).
 */
#ifndef LODESTAR_UTIL_TIME_INT_H
#define LODESTAR_UTIL_TIME_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util/time.h"

/* ---- small helpers ---------------------------------------------------- */

/*
 * The largest |day number| a parsed timestamp may have: about ±290 million
 * years, so that day * LS_MS_PER_DAY plus a time of day and an offset stays
 * inside int64. Joda's own range is ±292 million years.
 */
#define DAYS_LIMIT 106000000000LL

static inline int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
    return r;
}

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline char upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c; }

/*
 * Copies untrusted text into out for an error message: at most 80 bytes,
 * control bytes and quotes replaced by '?', "..." when cut.
 */
static inline const char *show(const char *s, size_t n, char out[96])
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 80; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c < 0x20 || c == 0x7f || c == '\'') ? '?' : (char)c;
    }
    if (n > 80) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

/* ---- a cursor over text (ISO and Joda parsers) ------------------------- */

struct cur {
    const char *s;
    size_t n, i;
};

static inline bool cur_is(const struct cur *c, char ch) { return c->i < c->n && c->s[c->i] == ch; }

/* 1..maxd digits; false (cursor unchanged) if none. */
static inline bool cur_digits(struct cur *c, size_t maxd, int64_t *v, size_t *nd)
{
    size_t start = c->i;
    int64_t x = 0;
    while (c->i < c->n && c->i - start < maxd && is_digit(c->s[c->i])) {
        int d = c->s[c->i++] - '0';
        x = x < 100000000000000000LL ? x * 10 + d : x; /* saturates; callers range-check */
    }
    *v = x;
    if (nd)
        *nd = c->i - start;
    return c->i > start;
}

static inline size_t cur_digit_run(const struct cur *c)
{
    size_t k = c->i;
    while (k < c->n && is_digit(c->s[k]))
        k++;
    return k - c->i;
}

/*
 * A decimal fraction of `unit_ms` after '.' or ',': any number of digits,
 * the first nine count, the result truncated to ms.
 */
static inline bool cur_fraction(struct cur *c, int64_t unit_ms, int64_t *ms)
{
    if (!(cur_is(c, '.') || cur_is(c, ',')) || c->i + 1 >= c->n || !is_digit(c->s[c->i + 1]))
        return false;
    c->i++;
    int64_t num = 0, scale = 1;
    for (; c->i < c->n && is_digit(c->s[c->i]); c->i++) {
        if (scale < 1000000000) {
            num = num * 10 + (c->s[c->i] - '0');
            scale *= 10;
        }
    }
    *ms = num * unit_ms / scale;
    return true;
}

/* ---- time zones: representation ---------------------------------------- */

/* One local time type of a TZif file. */
struct tz_type {
    int32_t off;  /* ms east of UTC */
    char abbr[8]; /* "PST", "+0530", ... */
};

/* A date in a POSIX TZ rule: Jn (1..365, no Feb 29), n (0..365), Mm.w.d. */
struct tz_rdate {
    char kind;    /* 'J', 'D' or 'M' */
    int16_t n;    /* day for J/D, month for M */
    int16_t w, d; /* week 1..5 (5 = last), weekday 0 = Sunday */
    int32_t secs; /* local time of day of the change, may be < 0 or > 24h */
};

/* The POSIX TZ string of a TZif footer: the rule after the last transition. */
struct tz_rule {
    int32_t std_off, dst_off; /* ms east of UTC */
    bool has_dst;
    struct tz_rdate start, end; /* DST starts (in standard time), ends (in DST) */
    char std_abbr[8], dst_abbr[8];
};

struct ls_tz {
    const char *name;
    bool fixed;        /* one offset forever: UTC, "+05:30", Etc/GMT+5 */
    int32_t fixed_off; /* ms, when fixed */
    char fixed_abbr[8];
    size_t ntrans;
    int64_t *trans; /* ascending UTC ms at which each transition happens */
    uint8_t *tidx;  /* type in force after each transition */
    struct tz_type *types;
    size_t ntypes;
    uint8_t first_type; /* type in force before the first transition */
    bool has_rule;
    struct tz_rule rule;
    /* index[b]: transitions before index_base + b * 2^TZ_INDEX_SHIFT ms; NULL if none */
    uint32_t *index;
    size_t nindex;
    int64_t index_base;
};

/*
 * Index buckets of 2^35 ms (about 398 days) hold a couple of transitions
 * each, so finding the one in force is a table read and a short scan.
 */
#define TZ_INDEX_SHIFT 35
#define TZ_INDEX_MAX 2048

/* The local time type in force over [start, end). */
struct tz_span {
    int64_t start, end;
    int32_t off;
    const char *abbr;
};

/* ---- writing ISO-8601 text (time.c, period.c, joda.c) ------------------- */

/* Local wall-clock ms to an instant: an explicit offset wins, else the zone (NULL = UTC). */
static inline int64_t resolve_local(int64_t local, bool has_off, int64_t off,
                                    const struct ls_tz *tz)
{
    if (has_off)
        return local - off;
    return tz ? tz_local_to_utc(tz, local) : local;
}

static inline char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Decimal with at least `width` digits and a '-' for negatives. */
static inline char *put_int(char *p, int64_t v, int width)
{
    char tmp[72];
    int k = 0;
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[k++] = (char)('0' + a % 10);
        a /= 10;
    } while (a);
    while (k < width && k < (int)sizeof tmp)
        tmp[k++] = '0';
    if (v < 0)
        *p++ = '-';
    while (k)
        *p++ = tmp[--k];
    return p;
}

/* Offset as "+05:30" (seconds only when present); 'Z' when zero and z_for_zero. */
static inline char *put_offset(char *p, int64_t off, bool colon, bool z_for_zero)
{
    if (off == 0 && z_for_zero) {
        *p++ = 'Z';
        return p;
    }
    int64_t a = off < 0 ? -off : off;
    *p++ = off < 0 ? '-' : '+';
    p = put2(p, (int)(a / LS_MS_PER_HOUR));
    if (colon)
        *p++ = ':';
    p = put2(p, (int)(a / LS_MS_PER_MINUTE % 60));
    if (z_for_zero && a % LS_MS_PER_MINUTE >= LS_MS_PER_SECOND) {
        *p++ = ':';
        p = put2(p, (int)(a / LS_MS_PER_SECOND % 60));
    }
    return p;
}

/* Copies tmp[0..len) into out (cap bytes, NUL-terminated); returns what fit. */
static inline size_t emit(const char *tmp, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    if (len > cap - 1)
        len = cap - 1;
    memcpy(out, tmp, len);
    out[len] = '\0';
    return len;
}

/* ---- what one time file offers the others ---------------------------------- */

/* civil.c: the Monday that starts ISO week 1 of ISO year y (the week with Jan 4). */
int64_t util__iso_week1_monday(int64_t y);
/* civil.c: ISO week-numbering year and week (1..53) of a day number. */
void util__iso_week_of(int64_t days, int64_t *week_year, int *week);
int util__iso_weeks_in_year(int64_t y);
/* civil.c: day number of a checked y-m-d; false if the date does not exist or is out of range. */
bool util__ymd_to_days(int64_t y, int64_t m, int64_t d, int64_t *days);

/* tz.c: the local time type in force at UTC instant u. */
void util__tz_lookup(const struct ls_tz *tz, int64_t u, struct tz_span *sp);
/* tz.c: UTC ms to local wall-clock ms, saturating; *off is the offset in force. */
int64_t util__tz_to_local(const struct ls_tz *tz, int64_t utc_ms, int64_t *off);
/* tz.c: local wall-clock ms to UTC, preferring the offset `hint` (the one
 * of the instant we started from) when it is valid there, as Joda does. */
int64_t util__tz_local_to_utc_hint(const struct ls_tz *tz, int64_t local, int64_t hint);
/* tz.c: "Z" or [+-]hh[[:]mm[[:]ss]] at s[*i]: the offset in ms. */
bool util__tz_parse_offset(const char *s, size_t n, size_t *i, int64_t *off_ms);

#endif
