/*
 * time.c — civil calendar, time zones from the system's TZif files, ISO-8601
 * timestamps and periods, calendar arithmetic (TIME_SHIFT / TIME_FLOOR /
 * TIME_CEIL / TIME_EXTRACT) and Joda-style patterns, with Druid's semantics.
 * The interface and its contracts are in time.h.
 *
 * Entry points: civil_*(), tz_get() / tz_offset_at() / tz_local_to_utc(),
 * time_parse_iso() / time_format_iso(), period_parse() / period_format(),
 * time_shift() / time_floor() / time_ceil(), time_extract() /
 * time_floor_unit(), interval_parse(), joda_compile() / joda_parse() /
 * joda_format().
 *
 * Layout of this file, in order: small helpers; the civil calendar; time
 * zones (TZif reader, POSIX footer rules, the zone cache); ISO timestamps;
 * periods; shift/floor/ceil; units; intervals; Joda patterns.
 *
 * Arithmetic on outside values (timestamps, period counts, years) saturates
 * instead of overflowing, so no input can cause undefined behaviour; results
 * for instants near the ends of the int64 range are clamped, not exact.
 */
#include "util/time.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

/*
 * The largest |day number| a parsed timestamp may have: about ±290 million
 * years, so that day * LS_MS_PER_DAY plus a time of day and an offset stays
 * inside int64. Joda's own range is ±292 million years.
 */
#define DAYS_LIMIT 106000000000LL

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
    return r;
}


static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static char upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c; }

/*
 * Copies untrusted text into out for an error message: at most 80 bytes,
 * control bytes and quotes replaced by '?', "..." when cut.
 */
static const char *show(const char *s, size_t n, char out[96])
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

/* ---- civil calendar --------------------------------------------------- */

int64_t ls_floor_div(int64_t a, int64_t b)
{
    if (b == 0)
        return 0;  /* documented as a precondition; never divide by zero */
    if (b == -1)
        return a == INT64_MIN ? INT64_MAX : -a;
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t ls_floor_mod(int64_t a, int64_t b)
{
    if (b == 0 || b == -1)
        return 0;
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

bool civil_is_leap(int64_t y) { return (y % 4 == 0) && (y % 100 != 0 || y % 400 == 0); }

int civil_days_in_month(int64_t y, int m)
{
    static const int8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return (m == 2 && civil_is_leap(y)) ? 29 : dim[m - 1];
}

/*
 * Howard Hinnant's days_from_civil. Years are clamped to ±2^40, far outside
 * anything a timestamp can hold, so the era arithmetic cannot overflow.
 */
int64_t civil_days_from_ymd(int64_t y, int m, int d)
{
    const int64_t ylim = (int64_t)1 << 40;
    y = y < -ylim ? -ylim : (y > ylim ? ylim : y);
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (int64_t)(m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Howard Hinnant's civil_from_days; days are clamped like years above. */
void civil_ymd_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    const int64_t dlim = (int64_t)1 << 48;
    int64_t z = (days < -dlim ? -dlim : (days > dlim ? dlim : days)) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = mm;
    *y = yoe + era * 400 + (mm <= 2);
}

int64_t civil_to_ms(const struct civil *c)
{
    int64_t days = civil_days_from_ymd(c->year, c->month, c->day);
    int64_t tod = (int64_t)c->hour * LS_MS_PER_HOUR + (int64_t)c->minute * LS_MS_PER_MINUTE +
                  (int64_t)c->second * LS_MS_PER_SECOND + c->millis;
    return sat_add(sat_mul(days, LS_MS_PER_DAY), tod);
}

void civil_from_ms(int64_t ms, struct civil *out)
{
    int64_t days = ls_floor_div(ms, LS_MS_PER_DAY);
    int64_t rem = ls_floor_mod(ms, LS_MS_PER_DAY);  /* days * DAY overflows at INT64_MIN */
    int64_t y;
    int m, d;
    civil_ymd_from_days(days, &y, &m, &d);
    out->year = (int32_t)y;  /* |y| <= 292 million for any int64 ms */
    out->month = m;
    out->day = d;
    out->hour = (int32_t)(rem / LS_MS_PER_HOUR);
    out->minute = (int32_t)(rem / LS_MS_PER_MINUTE % 60);
    out->second = (int32_t)(rem / LS_MS_PER_SECOND % 60);
    out->millis = (int32_t)(rem % 1000);
}

/* 1970-01-01 was a Thursday (ISO day 4). */
int civil_day_of_week(int64_t days) { return (int)ls_floor_mod(sat_add(days, 3), 7) + 1; }

/* The Monday that starts ISO week 1 of ISO year y (the week with Jan 4). */
static int64_t iso_week1_monday(int64_t y)
{
    int64_t jan4 = civil_days_from_ymd(y, 1, 4);
    return jan4 - (civil_day_of_week(jan4) - 1);
}

/* ISO week-numbering year and week (1..53) of a day number. */
static void iso_week_of(int64_t days, int64_t *week_year, int *week)
{
    int64_t thursday = days - (civil_day_of_week(days) - 1) + 3;
    int64_t y;
    int m, d;
    civil_ymd_from_days(thursday, &y, &m, &d);
    *week_year = y;
    *week = (int)((thursday - civil_days_from_ymd(y, 1, 1)) / 7 + 1);
}

static int iso_weeks_in_year(int64_t y)
{
    return (int)((iso_week1_monday(y + 1) - iso_week1_monday(y)) / 7);
}

/* Day number of a checked y-m-d; false if the date does not exist or is out of range. */
static bool ymd_to_days(int64_t y, int64_t m, int64_t d, int64_t *days)
{
    if (m < 1 || m > 12 || d < 1 || d > civil_days_in_month(y, (int)m))
        return false;
    *days = civil_days_from_ymd(y, (int)m, (int)d);
    return *days >= -DAYS_LIMIT && *days <= DAYS_LIMIT;
}

/* ---- time zones: representation ---------------------------------------- */

/* One local time type of a TZif file. */
struct tz_type {
    int32_t off;      /* ms east of UTC */
    char abbr[8];     /* "PST", "+0530", ... */
};

/* A date in a POSIX TZ rule: Jn (1..365, no Feb 29), n (0..365), Mm.w.d. */
struct tz_rdate {
    char kind;        /* 'J', 'D' or 'M' */
    int16_t n;        /* day for J/D, month for M */
    int16_t w, d;     /* week 1..5 (5 = last), weekday 0 = Sunday */
    int32_t secs;     /* local time of day of the change, may be < 0 or > 24h */
};

/* The POSIX TZ string of a TZif footer: the rule after the last transition. */
struct tz_rule {
    int32_t std_off, dst_off;   /* ms east of UTC */
    bool has_dst;
    struct tz_rdate start, end;  /* DST starts (in standard time), ends (in DST) */
    char std_abbr[8], dst_abbr[8];
};

struct ls_tz {
    const char *name;
    bool fixed;            /* one offset forever: UTC, "+05:30", Etc/GMT+5 */
    int32_t fixed_off;     /* ms, when fixed */
    char fixed_abbr[8];
    size_t ntrans;
    int64_t *trans;        /* ascending UTC ms at which each transition happens */
    uint8_t *tidx;         /* type in force after each transition */
    struct tz_type *types;
    size_t ntypes;
    uint8_t first_type;    /* type in force before the first transition */
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

static const struct ls_tz tz_utc_zone = {
    .name = "UTC", .fixed = true, .fixed_off = 0, .fixed_abbr = "UTC",
};

const struct ls_tz *tz_utc(void) { return &tz_utc_zone; }

const char *tz_name(const struct ls_tz *tz) { return tz ? tz->name : "UTC"; }

/* ---- time zones: lookup ------------------------------------------------ */

/* Number of entries of a[0..n) that are <= x. */
static size_t upper_bound(const int64_t *a, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Local wall-clock ms at which rule date r falls in year y. */
static int64_t rdate_local(const struct tz_rdate *r, int64_t y)
{
    int64_t days;
    if (r->kind == 'J') {
        days = civil_days_from_ymd(y, 1, 1) + r->n - 1 + (civil_is_leap(y) && r->n >= 60);
    } else if (r->kind == 'D') {
        days = civil_days_from_ymd(y, 1, 1) + r->n;
    } else {
        int64_t first = civil_days_from_ymd(y, r->n, 1);
        int wd0 = (int)ls_floor_mod(first + 4, 7);  /* weekday of the 1st, 0 = Sunday */
        int day = 1 + (int)ls_floor_mod(r->d - wd0, 7) + (r->w - 1) * 7;
        while (day > civil_days_in_month(y, r->n))
            day -= 7;  /* week 5 means "the last" */
        days = first + day - 1;
    }
    return sat_add(sat_mul(days, LS_MS_PER_DAY), (int64_t)r->secs * 1000);
}

/*
 * The span of a POSIX rule containing u: looks at the changes of the years
 * around u's year and keeps the latest one <= u and the first one after it,
 * which also handles southern-hemisphere rules whose DST spans New Year.
 */
static void rule_lookup(const struct tz_rule *r, int64_t u, struct tz_span *sp)
{
    sp->start = INT64_MIN;
    sp->end = INT64_MAX;
    sp->off = r->std_off;
    sp->abbr = r->std_abbr;
    if (!r->has_dst)
        return;
    struct civil c;
    civil_from_ms(sat_add(u, r->std_off), &c);
    bool in_dst = false;
    for (int64_t y = (int64_t)c.year - 1; y <= (int64_t)c.year + 1; y++) {
        int64_t change[2] = {sat_sub(rdate_local(&r->start, y), r->std_off),
                             sat_sub(rdate_local(&r->end, y), r->dst_off)};
        for (int k = 0; k < 2; k++) {
            if (change[k] <= u && change[k] >= sp->start) {
                sp->start = change[k];
                in_dst = k == 0;
            } else if (change[k] > u && change[k] < sp->end) {
                sp->end = change[k];
            }
        }
    }
    if (in_dst) {
        sp->off = r->dst_off;
        sp->abbr = r->dst_abbr;
    }
}

/* Number of transitions <= u: through the index when u is inside it. */
static size_t tz_count_le(const struct ls_tz *tz, int64_t u)
{
    size_t n = tz->ntrans;
    if (tz->index && u >= tz->index_base) {
        uint64_t b = ((uint64_t)u - (uint64_t)tz->index_base) >> TZ_INDEX_SHIFT;
        if (b < tz->nindex) {
            size_t i = tz->index[b];
            while (i < n && tz->trans[i] <= u)
                i++;
            return i;
        }
    }
    return upper_bound(tz->trans, n, u);
}

static void tz_lookup(const struct ls_tz *tz, int64_t u, struct tz_span *sp)
{
    if (tz->fixed) {
        sp->start = INT64_MIN;
        sp->end = INT64_MAX;
        sp->off = tz->fixed_off;
        sp->abbr = tz->fixed_abbr;
        return;
    }
    size_t n = tz->ntrans, i = tz_count_le(tz, u);
    if (i == n && tz->has_rule) {
        rule_lookup(&tz->rule, u, sp);
        if (n > 0 && sp->start < tz->trans[n - 1])
            sp->start = tz->trans[n - 1];
        return;
    }
    const struct tz_type *ty = &tz->types[i == 0 ? tz->first_type : tz->tidx[i - 1]];
    sp->start = i == 0 ? INT64_MIN : tz->trans[i - 1];
    sp->end = i == n ? INT64_MAX : tz->trans[i];
    sp->off = ty->off;
    sp->abbr = ty->abbr;
}

int64_t tz_offset_at(const struct ls_tz *tz, int64_t utc_ms)
{
    if (!tz || tz->fixed)
        return tz ? tz->fixed_off : 0;
    struct tz_span sp;
    tz_lookup(tz, utc_ms, &sp);
    return sp.off;
}

/* utc + offset without overflow (the inline tz_utc_to_local does not saturate). */
static int64_t to_local(const struct ls_tz *tz, int64_t utc_ms, int64_t *off)
{
    *off = tz_offset_at(tz, utc_ms);
    return sat_add(utc_ms, *off);
}

/* True if the instant local - sp->off lies inside sp, i.e. sp explains local. */
static bool span_has_local(const struct tz_span *sp, int64_t local, int64_t *u)
{
    *u = sat_sub(local, sp->off);
    return *u >= sp->start && *u < sp->end;
}

/*
 * Offsets differ by less than this, so a local time whose first guess lies
 * this far inside its span cannot also belong to a neighbouring span.
 */
#define TZ_MARGIN (3 * LS_MS_PER_DAY)

int64_t tz_local_to_utc(const struct ls_tz *tz, int64_t local_ms)
{
    if (!tz || tz->fixed)
        return sat_sub(local_ms, tz ? tz->fixed_off : 0);
    struct tz_span sp[3];  /* previous, guess, next */
    int64_t u;
    tz_lookup(tz, sat_sub(local_ms, tz_offset_at(tz, local_ms)), &sp[1]);
    if (span_has_local(&sp[1], local_ms, &u) && sat_sub(u, sp[1].start) >= TZ_MARGIN &&
        sat_sub(sp[1].end, u) > TZ_MARGIN)
        return u;
    bool have_prev = sp[1].start != INT64_MIN, have_next = sp[1].end != INT64_MAX;
    if (have_prev)
        tz_lookup(tz, sp[1].start - 1, &sp[0]);
    if (have_next)
        tz_lookup(tz, sp[1].end, &sp[2]);
    /* Every span that explains local_ms is a solution; the earliest wins (overlap). */
    bool found = false;
    int64_t best = 0;
    for (int k = have_prev ? 0 : 1; k <= (have_next ? 2 : 1); k++) {
        if (span_has_local(&sp[k], local_ms, &u) && (!found || u < best)) {
            best = u;
            found = true;
        }
    }
    if (found)
        return best;
    /* A gap: read the time with the offset before the change, which moves it forward. */
    for (int k = have_prev ? 0 : 1; k <= (have_next ? 1 : 0); k++) {
        int64_t t = sp[k].end;
        if (sp[k].off < sp[k + 1].off && local_ms >= sat_add(t, sp[k].off) &&
            local_ms < sat_add(t, sp[k + 1].off))
            return sat_sub(local_ms, sp[k].off);
    }
    return sat_sub(local_ms, sp[1].off);
}

/*
 * local -> UTC preferring the offset `hint` (the one of the instant we started
 * from) when it is valid there, as Joda's convertLocalToUTC(local, false,
 * original) does: flooring 01:30 PST in the repeated hour gives 01:00 PST.
 */
static int64_t local_to_utc_hint(const struct ls_tz *tz, int64_t local, int64_t hint)
{
    if (tz->fixed)
        return sat_sub(local, tz->fixed_off);
    int64_t u = sat_sub(local, hint);
    if (tz_offset_at(tz, u) == hint)
        return u;
    return tz_local_to_utc(tz, local);
}

/* ---- time zones: TZif files (RFC 8536) --------------------------------- */

#define TZIF_MAX_BYTES (1 << 20)
#define TZIF_MAX_TIMES 100000
#define TZIF_MAX_LEAPS 10000
#define TZIF_MAX_CHARS 4096

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be_signed(const uint8_t *p, size_t width)
{
    if (width == 4)
        return (int32_t)be32(p);
    uint64_t v = (uint64_t)be32(p) << 32 | be32(p + 4);
    return (int64_t)v;  /* two's complement conversion, defined by gcc/clang */
}

/* Reads a 44-byte header at `at`; checks the magic and caps every count. */
static bool tzif_header(const uint8_t *p, size_t n, size_t at, struct tzif_counts *c)
{
    if (n < 44 || at > n - 44 || memcmp(p + at, "TZif", 4) != 0)
        return false;
    const uint8_t *h = p + at + 20;
    *c = (struct tzif_counts){be32(h), be32(h + 4), be32(h + 8), be32(h + 12), be32(h + 16),
                              be32(h + 20)};
    return c->time <= TZIF_MAX_TIMES && c->type >= 1 && c->type <= 256 && c->chars >= 1 &&
           c->chars <= TZIF_MAX_CHARS && c->leap <= TZIF_MAX_LEAPS &&
           (c->isstd == 0 || c->isstd == c->type) && (c->isut == 0 || c->isut == c->type);
}

/* Size of the data block after a header; counts are capped so this cannot overflow. */
static size_t tzif_block_size(const struct tzif_counts *c, size_t tsize)
{
    return (size_t)c->time * (tsize + 1) + (size_t)c->type * 6 + c->chars +
           (size_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

/* Copies the data block into tz, validating every index and value. */
static bool tzif_block(const uint8_t *p, const struct tzif_counts *c, size_t tsize,
                       struct ls_tz *tz)
{
    const uint8_t *times = p, *idx = p + (size_t)c->time * tsize;
    const uint8_t *types = idx + c->time, *chars = types + (size_t)c->type * 6;
    tz->types = calloc(c->type, sizeof *tz->types);
    tz->trans = calloc(c->time + 1, sizeof *tz->trans);
    tz->tidx = calloc(c->time + 1, 1);
    if (!tz->types || !tz->trans || !tz->tidx)
        return false;
    tz->ntypes = c->type;
    for (uint32_t i = 0; i < c->type; i++) {
        int32_t utoff = (int32_t)be32(types + 6 * i);
        uint8_t desig = types[6 * i + 5];
        if (utoff < -89999 || utoff > 93599 || types[6 * i + 4] > 1 || desig >= c->chars)
            return false;
        tz->types[i].off = utoff * 1000;
        size_t k = 0;
        while (k < sizeof tz->types[i].abbr - 1 && desig + k < c->chars && chars[desig + k])
            k++;
        memcpy(tz->types[i].abbr, chars + desig, k);
    }
    tz->first_type = 0;
    const int64_t lim = INT64_MAX / 1000;
    for (uint32_t i = 0; i < c->time; i++) {
        int64_t secs = be_signed(times + (size_t)i * tsize, tsize);
        if (idx[i] >= c->type)
            return false;
        if (i > 0 && secs <= be_signed(times + (size_t)(i - 1) * tsize, tsize))
            return false;
        if (secs < -lim) {  /* "big bang" sentinels: the type holds from the start */
            tz->first_type = idx[i];
            continue;
        }
        if (secs > lim)
            break;
        tz->trans[tz->ntrans] = secs * 1000;
        tz->tidx[tz->ntrans++] = idx[i];
    }
    return true;
}

/* Parses a POSIX TZ abbreviation: <...> or 3+ letters. */
static bool posix_abbr(const char *s, size_t n, size_t *i, char out[8])
{
    size_t start = *i, len;
    if (*i < n && s[*i] == '<') {
        start = ++*i;
        while (*i < n && s[*i] != '>')
            ++*i;
        if (*i >= n)
            return false;
        len = *i - start;
        ++*i;
    } else {
        while (*i < n && is_alpha(s[*i]))
            ++*i;
        len = *i - start;
        if (len < 3)
            return false;
    }
    size_t k = len < 7 ? len : 7;
    memcpy(out, s + start, k);
    out[k] = '\0';
    return len > 0;
}

/* [+-]hh[:mm[:ss]] in seconds; hours up to max_h (24 for offsets, 167 for rule times). */
static bool posix_hms(const char *s, size_t n, size_t *i, int max_h, int32_t *out)
{
    int sign = 1;
    if (*i < n && (s[*i] == '+' || s[*i] == '-'))
        sign = s[(*i)++] == '-' ? -1 : 1;
    int32_t v[3] = {0, 0, 0};
    for (int f = 0; f < 3; f++) {
        if (f > 0) {
            if (*i >= n || s[*i] != ':')
                break;
            ++*i;
        }
        size_t start = *i;
        while (*i < n && is_digit(s[*i]) && *i - start < 3)
            v[f] = v[f] * 10 + (s[(*i)++] - '0');
        if (*i == start || (f > 0 && v[f] > 59))
            return false;
    }
    if (v[0] > max_h)
        return false;
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return true;
}

static bool posix_num(const char *s, size_t n, size_t *i, int lo, int hi, int16_t *out)
{
    size_t start = *i;
    int v = 0;
    while (*i < n && is_digit(s[*i]) && *i - start < 3)
        v = v * 10 + (s[(*i)++] - '0');
    *out = (int16_t)v;
    return *i > start && v >= lo && v <= hi;
}

/* ",date[/time]" of a POSIX rule. */
static bool posix_rdate(const char *s, size_t n, size_t *i, struct tz_rdate *r)
{
    if (*i >= n || s[*i] != ',')
        return false;
    ++*i;
    bool ok;
    if (*i < n && s[*i] == 'J') {
        ++*i;
        r->kind = 'J';
        ok = posix_num(s, n, i, 1, 365, &r->n);
    } else if (*i < n && s[*i] == 'M') {
        ++*i;
        r->kind = 'M';
        ok = posix_num(s, n, i, 1, 12, &r->n) && *i < n && s[(*i)++] == '.' &&
             posix_num(s, n, i, 1, 5, &r->w) && *i < n && s[(*i)++] == '.' &&
             posix_num(s, n, i, 0, 6, &r->d);
    } else {
        r->kind = 'D';
        ok = posix_num(s, n, i, 0, 365, &r->n);
    }
    r->secs = 7200;
    if (ok && *i < n && s[*i] == '/') {
        ++*i;
        ok = posix_hms(s, n, i, 167, &r->secs);
    }
    return ok;
}

/* A footer's TZ string, e.g. "PST8PDT,M3.2.0,M11.1.0" or "<+1030>-10:30<+11>-11,...". */
static bool posix_rule(const char *s, size_t n, struct tz_rule *r)
{
    size_t i = 0;
    int32_t secs;
    memset(r, 0, sizeof *r);
    if (!posix_abbr(s, n, &i, r->std_abbr) || !posix_hms(s, n, &i, 24, &secs))
        return false;
    r->std_off = -secs * 1000;  /* POSIX offsets count west of Greenwich */
    if (i == n)
        return true;
    if (!posix_abbr(s, n, &i, r->dst_abbr))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600 * 1000;
    if (i < n && s[i] != ',') {
        if (!posix_hms(s, n, &i, 24, &secs))
            return false;
        r->dst_off = -secs * 1000;
    }
    if (i == n) {  /* no rule given: POSIX leaves it open; use the US rule */
        r->start = (struct tz_rdate){'M', 3, 2, 0, 7200};
        r->end = (struct tz_rdate){'M', 11, 1, 0, 7200};
        return true;
    }
    return posix_rdate(s, n, &i, &r->start) && posix_rdate(s, n, &i, &r->end) && i == n;
}

/* The index of a type with this offset and abbreviation, adding one if needed; -1 if full. */
static int tz_type_for(struct ls_tz *tz, int32_t off, const char *abbr)
{
    for (size_t i = 0; i < tz->ntypes; i++)
        if (tz->types[i].off == off && strcmp(tz->types[i].abbr, abbr) == 0)
            return (int)i;
    if (tz->ntypes >= 256)
        return -1;
    struct tz_type *t = realloc(tz->types, (tz->ntypes + 1) * sizeof *t);
    if (!t)
        return -1;
    tz->types = t;
    t[tz->ntypes].off = off;
    memcpy(t[tz->ntypes].abbr, abbr, sizeof t->abbr);
    return (int)tz->ntypes++;
}

/* Appends a transition if it comes after the last one (the caller made room). */
static void tz_append(struct ls_tz *tz, int64_t at, int type)
{
    if (tz->ntrans > 0 && at <= tz->trans[tz->ntrans - 1])
        return;
    tz->trans[tz->ntrans] = at;
    tz->tidx[tz->ntrans++] = (uint8_t)type;
}

/* The footer rule is expanded into explicit transitions up to this year. */
#define TZ_RULE_EXPAND_TO 2200

/* Appends the footer rule's transitions from the year of the last one to TZ_RULE_EXPAND_TO. */
static bool tz_expand_rule(struct ls_tz *tz)
{
    const struct tz_rule *r = &tz->rule;
    int std = tz_type_for(tz, r->std_off, r->std_abbr);
    int dst = tz_type_for(tz, r->dst_off, r->dst_abbr);
    struct civil c;
    civil_from_ms(tz->trans[tz->ntrans - 1], &c);
    if (std < 0 || dst < 0 || c.year >= TZ_RULE_EXPAND_TO)
        return true;  /* nothing to do, or no room: lookups evaluate the rule instead */
    size_t extra = 2 * (size_t)(TZ_RULE_EXPAND_TO - c.year + 1);
    int64_t *trans = realloc(tz->trans, (tz->ntrans + extra) * sizeof *trans);
    if (trans)
        tz->trans = trans;
    uint8_t *tidx = trans ? realloc(tz->tidx, tz->ntrans + extra) : NULL;
    if (!tidx)
        return false;
    tz->tidx = tidx;
    for (int64_t y = c.year; y <= TZ_RULE_EXPAND_TO; y++) {
        int64_t on = rdate_local(&r->start, y) - r->std_off;
        int64_t off = rdate_local(&r->end, y) - r->dst_off;
        tz_append(tz, min_i64(on, off), on < off ? dst : std);
        tz_append(tz, on < off ? off : on, on < off ? std : dst);
    }
    return true;
}

static bool tz_build_index(struct ls_tz *tz)
{
    if (tz->ntrans < 2)
        return true;
    tz->index_base = tz->trans[0];
    uint64_t span = (uint64_t)tz->trans[tz->ntrans - 1] - (uint64_t)tz->index_base;
    if ((span >> TZ_INDEX_SHIFT) >= TZ_INDEX_MAX)
        return true;  /* transitions spread over too long a span: binary search it is */
    tz->nindex = (size_t)(span >> TZ_INDEX_SHIFT) + 1;
    tz->index = malloc(tz->nindex * sizeof *tz->index);
    if (!tz->index)
        return false;
    size_t i = 0;
    for (size_t b = 0; b < tz->nindex; b++) {
        int64_t start = tz->index_base + (int64_t)(b << TZ_INDEX_SHIFT);
        while (i < tz->ntrans && tz->trans[i] < start)
            i++;
        tz->index[b] = (uint32_t)i;
    }
    return true;
}

/* Parses a whole TZif file into tz (v1, or the 64-bit v2+ section and its footer). */
static bool tzif_parse(const uint8_t *p, size_t n, struct ls_tz *tz)
{
    struct tzif_counts c;
    if (!tzif_header(p, n, 0, &c))
        return false;
    size_t at = 44, size = tzif_block_size(&c, 4), tsize = 4;
    if (size > n - at)
        return false;
    if (p[4] >= '2') {
        at += size;
        if (!tzif_header(p, n, at, &c))
            return false;
        at += 44;
        tsize = 8;
        size = tzif_block_size(&c, 8);
        if (size > n - at)
            return false;
    }
    if (!tzif_block(p + at, &c, tsize, tz))
        return false;
    size_t f = at + size;
    if (tsize == 8 && f < n && p[f] == '\n') {
        const char *foot = (const char *)p + f + 1;
        const char *nl = memchr(foot, '\n', n - f - 1);
        if (nl && nl > foot)
            tz->has_rule = posix_rule(foot, (size_t)(nl - foot), &tz->rule);
    }
    if (tz->ntrans > 0 && tz->has_rule && tz->rule.has_dst && !tz_expand_rule(tz))
        return false;
    if (!tz_build_index(tz))
        return false;
    if (tz->ntrans == 0 && (!tz->has_rule || !tz->rule.has_dst)) {
        tz->fixed = true;
        tz->fixed_off = tz->has_rule ? tz->rule.std_off : tz->types[tz->first_type].off;
        memcpy(tz->fixed_abbr, tz->has_rule ? tz->rule.std_abbr : tz->types[tz->first_type].abbr,
               sizeof tz->fixed_abbr);
    }
    return true;
}

static void tz_free(struct ls_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->tidx);
    free(tz->index);
    free(tz->types);
    free((char *)tz->name);
    free(tz);
}

/* Reads a regular file of at most TZIF_MAX_BYTES; NULL if missing or not a regular file. */
static uint8_t *read_small_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    uint8_t *data = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        st.st_size <= TZIF_MAX_BYTES) {
        size_t want = (size_t)st.st_size, got = 0;
        data = malloc(want);
        while (data && got < want) {
            ssize_t r = read(fd, data + got, want - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (data && got != want) {
            free(data);
            data = NULL;
        }
        *len = got;
    }
    close(fd);
    return data;
}

/*
 * A zone name maps to one file under the tz directory: letters, digits and
 * "/_-+." only, no leading '/', no empty, "." or ".." components (so no path
 * traversal and no two names for one file), at most 255 bytes.
 */
static bool tz_name_is_safe(const char *s, size_t n)
{
    if (n == 0 || n > 255 || s[0] == '/' || s[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '/' && c != '_' && c != '-' && c != '+' &&
            c != '.')
            return false;
        if (c == '/' && s[i + 1] == '/')
            return false;
        if (c == '.' && (i == 0 || s[i - 1] == '/'))
            return false;  /* no ".", "..", or hidden components */
    }
    return true;
}

static const char *tz_dir(void)
{
    const char *d = getenv("TZDIR");
    return (d && d[0]) ? d : "/usr/share/zoneinfo";
}

static int tz_unknown(const char *name, size_t n, struct lerr *err)
{
    char b[96];
    return lerr_set(err, LERR_INVALID,
                    "unknown time zone '%s': not a tz database name under %s, 'UTC', or an "
                    "offset; use e.g. 'America/Los_Angeles', 'UTC' or '+05:30'",
                    show(name, n, b), tz_dir());
}

static struct ls_tz *tz_load_file(const char *name, size_t n, struct lerr *err)
{
    char path[PATH_MAX];
    if (!tz_name_is_safe(name, n) ||
        snprintf(path, sizeof path, "%s/%.*s", tz_dir(), (int)n, name) >= (int)sizeof path) {
        tz_unknown(name, n, err);
        return NULL;
    }
    size_t len = 0;
    uint8_t *data = read_small_file(path, &len);
    if (!data || len < 4 || memcmp(data, "TZif", 4) != 0) {
        free(data);
        tz_unknown(name, n, err);
        return NULL;
    }
    struct ls_tz *tz = calloc(1, sizeof *tz);
    char *nm = malloc(n + 1);
    if (!tz || !nm) {
        free(tz);
        free(nm);
        free(data);
        lerr_set(err, LERR_NOMEM, "out of memory loading time zone '%.*s'", (int)n, name);
        return NULL;
    }
    memcpy(nm, name, n);
    nm[n] = '\0';
    tz->name = nm;
    bool ok = tzif_parse(data, len, tz);
    free(data);
    if (!ok) {
        tz_free(tz);
        lerr_set(err, LERR_CORRUPT,
                 "time zone file %s is not a valid TZif file; reinstall the tzdata package", path);
        return NULL;
    }
    return tz;
}

/* ---- time zones: fixed offsets and the cache --------------------------- */

/*
 * "Z" or [+-]hh[[:]mm[[:]ss]] at s[*i]; hours <= 23, minutes and seconds
 * <= 59, as Joda's offset parser. Shared by ISO parsing, Joda 'Z' and tz_get.
 */
static bool parse_offset(const char *s, size_t n, size_t *i, int64_t *off_ms)
{
    if (*i < n && (s[*i] == 'Z' || s[*i] == 'z')) {
        ++*i;
        *off_ms = 0;
        return true;
    }
    if (*i >= n || (s[*i] != '+' && s[*i] != '-'))
        return false;
    int sign = s[*i] == '-' ? -1 : 1;
    size_t j = *i + 1;
    int v[3] = {0, 0, 0};
    for (int f = 0; f < 3; f++) {
        if (f > 0 && j < n && s[j] == ':' && j + 1 < n && is_digit(s[j + 1]))
            j++;
        if (j + 1 >= n || !is_digit(s[j]) || !is_digit(s[j + 1])) {
            if (f == 0)
                return false;
            break;
        }
        v[f] = (s[j] - '0') * 10 + (s[j + 1] - '0');
        j += 2;
    }
    if (v[0] > 23 || v[1] > 59 || v[2] > 59)
        return false;
    *i = j;
    *off_ms = sign * ((int64_t)v[0] * LS_MS_PER_HOUR + v[1] * LS_MS_PER_MINUTE +
                      v[2] * LS_MS_PER_SECOND);
    return true;
}

static struct ls_tz *tz_new_fixed(int64_t off_ms, struct lerr *err)
{
    struct ls_tz *tz = calloc(1, sizeof *tz);
    char *nm = malloc(16);
    if (!tz || !nm) {
        free(tz);
        free(nm);
        lerr_set(err, LERR_NOMEM, "out of memory creating a fixed-offset time zone");
        return NULL;
    }
    int64_t a = off_ms < 0 ? -off_ms : off_ms;
    int h = (int)(a / LS_MS_PER_HOUR), m = (int)(a / LS_MS_PER_MINUTE % 60);
    int s = (int)(a / LS_MS_PER_SECOND % 60);
    if (s)
        snprintf(nm, 16, "%c%02d:%02d:%02d", off_ms < 0 ? '-' : '+', h, m, s);
    else
        snprintf(nm, 16, "%c%02d:%02d", off_ms < 0 ? '-' : '+', h, m);
    tz->name = nm;
    tz->fixed = true;
    tz->fixed_off = (int32_t)off_ms;
    snprintf(tz->fixed_abbr, sizeof tz->fixed_abbr, "%.7s", nm);
    return tz;
}

/*
 * The cache: an open-addressing hash table of immutable entries. Readers
 * probe it without the lock (entries are published with release stores and
 * never removed); writers insert under the mutex. At most half the slots are
 * used, so probes stay short and always reach an empty slot.
 */
#define TZ_CACHE_SLOTS 32768
#define TZ_CACHE_MAX (TZ_CACHE_SLOTS / 2)

struct tz_entry {
    uint64_t hash;
    const struct ls_tz *tz;
    size_t len;
    char name[];
};

static _Atomic(struct tz_entry *) tz_cache[TZ_CACHE_SLOTS];
static pthread_mutex_t tz_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t tz_cache_used;  /* guarded by tz_cache_mu */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static const struct ls_tz *tz_cache_find(const char *s, size_t n, uint64_t h)
{
    for (size_t i = h & (TZ_CACHE_SLOTS - 1);; i = (i + 1) & (TZ_CACHE_SLOTS - 1)) {
        struct tz_entry *e = atomic_load_explicit(&tz_cache[i], memory_order_acquire);
        if (!e)
            return NULL;
        if (e->hash == h && e->len == n && memcmp(e->name, s, n) == 0)
            return e->tz;
    }
}

/* Caller holds tz_cache_mu and has checked the name is absent. */
static bool tz_cache_put(const char *s, size_t n, uint64_t h, const struct ls_tz *tz)
{
    if (tz_cache_used >= TZ_CACHE_MAX)
        return false;
    struct tz_entry *e = malloc(sizeof *e + n + 1);
    if (!e)
        return false;
    e->hash = h;
    e->tz = tz;
    e->len = n;
    memcpy(e->name, s, n);
    e->name[n] = '\0';
    size_t i = h & (TZ_CACHE_SLOTS - 1);
    while (atomic_load_explicit(&tz_cache[i], memory_order_relaxed))
        i = (i + 1) & (TZ_CACHE_SLOTS - 1);
    atomic_store_explicit(&tz_cache[i], e, memory_order_release);
    tz_cache_used++;
    return true;
}

static bool is_utc_name(const char *s, size_t n)
{
    static const char *const names[] = {"UTC", "Z", "GMT", "Etc/UTC"};
    for (size_t i = 0; i < LS_ARRAY_LEN(names); i++) {
        if (strlen(names[i]) == n && strncasecmp(names[i], s, n) == 0)
            return true;
    }
    return false;
}

/* Builds the zone for a name not in the cache. Caller holds tz_cache_mu. */
static const struct ls_tz *tz_build(const char *s, size_t n, struct lerr *err)
{
    size_t i = 0;
    int64_t off;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        /*
         * Minutes at most ("+hh:mm" is 6 bytes): about 5800 spellings in all,
         * so offsets alone can never fill the cache.
         */
        if (n > 6 || !parse_offset(s, n, &i, &off) || i != n) {
            char b[96];
            lerr_set(err, LERR_INVALID,
                     "invalid time zone offset '%s': use [+-]hh, [+-]hhmm or [+-]hh:mm with "
                     "hours up to 23, e.g. '+05:30' or '-08:00'",
                     show(s, n, b));
            return NULL;
        }
        if (off == 0)
            return &tz_utc_zone;
        /* All spellings of one offset share the zone named by its canonical form. */
        char canon[16];
        struct ls_tz *fixed = tz_new_fixed(off, err);
        if (!fixed)
            return NULL;
        snprintf(canon, sizeof canon, "%s", fixed->name);
        size_t cn = strlen(canon);
        const struct ls_tz *known = tz_cache_find(canon, cn, fnv1a(canon, cn));
        if (known) {
            tz_free(fixed);
            return known;
        }
        if (!(cn == n && memcmp(canon, s, n) == 0))
            tz_cache_put(canon, cn, fnv1a(canon, cn), fixed);
        return fixed;
    }
    return tz_load_file(s, n, err);
}

const struct ls_tz *tz_get(const char *name, size_t len, struct lerr *err)
{
    if (!name)
        len = 0;
    if (len > 0 && is_utc_name(name, len))
        return &tz_utc_zone;
    if (len == 0 || len > 255) {
        tz_unknown(name ? name : "", len, err);
        return NULL;
    }
    uint64_t h = fnv1a(name, len);
    const struct ls_tz *tz = tz_cache_find(name, len, h);
    if (tz)
        return tz;
    pthread_mutex_lock(&tz_cache_mu);
    tz = tz_cache_find(name, len, h);
    if (!tz) {
        tz = tz_build(name, len, err);
        if (tz && tz != &tz_utc_zone && !tz_cache_put(name, len, h, tz)) {
            /* Full (or out of memory): keep a zone cached under its canonical name, drop others. */
            size_t cn = strlen(tz->name);
            if (tz_cache_find(tz->name, cn, fnv1a(tz->name, cn)) != tz) {
                tz_free((struct ls_tz *)tz);
                tz = NULL;
                char shown[96];
                lerr_set(err, LERR_UNAVAILABLE,
                         "cannot load time zone '%s': the zone cache is full (%d names)",
                         show(name, len, shown), TZ_CACHE_MAX);
            }
        }
    }
    pthread_mutex_unlock(&tz_cache_mu);
    return tz;
}

/* ---- ISO-8601 timestamps: parsing ---------------------------------------- */

static unsigned dig(const char *s, size_t i) { return (unsigned)((unsigned char)s[i] - '0'); }

/* Local wall-clock ms to an instant: an explicit offset wins, else the zone (NULL = UTC). */
static int64_t resolve_local(int64_t local, bool has_off, int64_t off, const struct ls_tz *tz)
{
    if (has_off)
        return local - off;
    return tz ? tz_local_to_utc(tz, local) : local;
}

/*
 * The fixed-position fast path for "yyyy-MM-dd", "yyyy-MM-ddTHH:mm:ss" (or a
 * space), an optional ".SSS" and an optional "Z". Anything else, including
 * invalid values, returns false and goes to the general parser.
 */
static bool iso_fast(const char *s, size_t n, const struct ls_tz *tz, int64_t *out)
{
    if (n < 10 || s[4] != '-' || s[7] != '-')
        return false;
    unsigned y0 = dig(s, 0), y1 = dig(s, 1), y2 = dig(s, 2), y3 = dig(s, 3);
    unsigned m0 = dig(s, 5), m1 = dig(s, 6), d0 = dig(s, 8), d1 = dig(s, 9);
    if ((y0 > 9) | (y1 > 9) | (y2 > 9) | (y3 > 9) | (m0 > 9) | (m1 > 9) | (d0 > 9) | (d1 > 9))
        return false;
    int year = (int)(y0 * 1000 + y1 * 100 + y2 * 10 + y3);
    int month = (int)(m0 * 10 + m1), day = (int)(d0 * 10 + d1);
    int64_t tod = 0;
    bool utc = false;
    if (n > 10) {
        if (n < 19 || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
            return false;
        unsigned h0 = dig(s, 11), h1 = dig(s, 12), i0 = dig(s, 14), i1 = dig(s, 15);
        unsigned s0 = dig(s, 17), s1 = dig(s, 18);
        if ((h0 > 9) | (h1 > 9) | (i0 > 9) | (i1 > 9) | (s0 > 9) | (s1 > 9))
            return false;
        unsigned hh = h0 * 10 + h1, mi = i0 * 10 + i1, ss = s0 * 10 + s1, ms = 0;
        if ((hh > 23) | (mi > 59) | (ss > 59))
            return false;
        size_t i = 19;
        if (n >= 23 && s[19] == '.') {
            unsigned f0 = dig(s, 20), f1 = dig(s, 21), f2 = dig(s, 22);
            if ((f0 > 9) | (f1 > 9) | (f2 > 9))
                return false;
            ms = f0 * 100 + f1 * 10 + f2;
            i = 23;
        }
        if (i < n && s[i] == 'Z') {
            utc = true;
            i++;
        }
        if (i != n)
            return false;
        tod = (int64_t)hh * LS_MS_PER_HOUR + mi * LS_MS_PER_MINUTE + ss * LS_MS_PER_SECOND + ms;
    }
    if (month < 1 || month > 12 || day < 1 || day > civil_days_in_month(year, month))
        return false;
    int64_t local = civil_days_from_ymd(year, month, day) * LS_MS_PER_DAY + tod;
    *out = resolve_local(local, utc, 0, tz);
    return true;
}

/* A cursor over untrusted text. */
struct cur {
    const char *s;
    size_t n, i;
};

static bool cur_is(const struct cur *c, char ch) { return c->i < c->n && c->s[c->i] == ch; }

/* 1..maxd digits; false (cursor unchanged) if none. */
static bool cur_digits(struct cur *c, size_t maxd, int64_t *v, size_t *nd)
{
    size_t start = c->i;
    int64_t x = 0;
    while (c->i < c->n && c->i - start < maxd && is_digit(c->s[c->i])) {
        int d = c->s[c->i++] - '0';
        x = x < 100000000000000000LL ? x * 10 + d : x;  /* saturates; callers range-check */
    }
    *v = x;
    if (nd)
        *nd = c->i - start;
    return c->i > start;
}

static size_t cur_digit_run(const struct cur *c)
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
static bool cur_fraction(struct cur *c, int64_t unit_ms, int64_t *ms)
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

/* ISO week date after "yyyy-W": ww[-e]. */
static bool iso_week_date(struct cur *c, int64_t wyear, int64_t *days)
{
    int64_t w, dow = 1;
    if (!cur_digits(c, 2, &w, NULL))
        return false;
    if (cur_is(c, '-') && c->i + 1 < c->n && is_digit(c->s[c->i + 1])) {
        c->i++;
        cur_digits(c, 1, &dow, NULL);
    }
    if (wyear < -300000000 || wyear > 300000000 || w < 1 || w > iso_weeks_in_year(wyear) ||
        dow < 1 || dow > 7)
        return false;
    *days = iso_week1_monday(wyear) + (w - 1) * 7 + (dow - 1);
    return *days >= -DAYS_LIMIT && *days <= DAYS_LIMIT;
}

/*
 * Joda's ISO date element: [+-]y{1,9} then optionally -M{1,2}[-d{1,2}],
 * -Www[-e] or -DDD (an ordinal date; three digits after the dash pick it,
 * as Joda keeps the longest match).
 */
static bool iso_date(struct cur *c, int64_t *days)
{
    bool neg = cur_is(c, '-');
    if (neg || cur_is(c, '+'))
        c->i++;
    int64_t y, m = 1, d = 1;
    if (!cur_digits(c, 9, &y, NULL))
        return false;
    y = neg ? -y : y;
    if (!cur_is(c, '-'))
        return ymd_to_days(y, 1, 1, days);
    c->i++;
    if (cur_is(c, 'W') || cur_is(c, 'w')) {
        c->i++;
        return iso_week_date(c, y, days);
    }
    if (cur_digit_run(c) == 3) {
        int64_t doy;
        cur_digits(c, 3, &doy, NULL);
        if (doy < 1 || doy > 365 + civil_is_leap(y) || !ymd_to_days(y, 1, 1, days))
            return false;
        *days += doy - 1;
        return true;
    }
    if (!cur_digits(c, 2, &m, NULL))
        return false;
    if (cur_is(c, '-') && c->i + 1 < c->n && is_digit(c->s[c->i + 1])) {
        c->i++;
        cur_digits(c, 2, &d, NULL);
    }
    return ymd_to_days(y, m, d, days);
}

/* Joda's ISO time element: H{1,2}[:m{1,2}[:s{1,2}]] with a fraction on the last field. */
static bool iso_time(struct cur *c, int64_t *tod)
{
    int64_t h, mi = 0, se = 0, frac = 0;
    if (!cur_digits(c, 2, &h, NULL) || h > 23)
        return false;
    if (cur_is(c, ':')) {
        c->i++;
        if (!cur_digits(c, 2, &mi, NULL) || mi > 59)
            return false;
        if (cur_is(c, ':')) {
            c->i++;
            if (!cur_digits(c, 2, &se, NULL) || se > 59)
                return false;
            cur_fraction(c, LS_MS_PER_SECOND, &frac);
        } else {
            cur_fraction(c, LS_MS_PER_MINUTE, &frac);
        }
    } else {
        cur_fraction(c, LS_MS_PER_HOUR, &frac);
    }
    *tod = h * LS_MS_PER_HOUR + mi * LS_MS_PER_MINUTE + se * LS_MS_PER_SECOND + frac;
    return true;
}

/*
 * The general path: Druid's default TIME_PARSE parser. After the date, a 'T'
 * or a space must be followed by a time, an offset, or both (Joda would also
 * take a bare trailing 'T' or space; the contract in time.h rejects them).
 */
static bool iso_general(const char *s, size_t n, const struct ls_tz *tz, int64_t *out)
{
    struct cur c = {s, n, 0};
    int64_t days, tod = 0, off = 0;
    bool has_off = false;
    if (!iso_date(&c, &days))
        return false;
    if (c.i < n) {
        char sep = s[c.i];
        if (sep != 'T' && sep != 't' && sep != ' ')
            return false;
        c.i++;
        size_t after = c.i;
        if (c.i < n && is_digit(s[c.i]) && !iso_time(&c, &tod))
            return false;
        if (c.i < n) {
            if (!parse_offset(s, n, &c.i, &off))
                return false;
            has_off = true;
        }
        if (c.i == after || c.i != n)
            return false;
    }
    *out = resolve_local(days * LS_MS_PER_DAY + tod, has_off, off, tz);
    return true;
}

bool time_parse_iso(const char *s, size_t n, const struct ls_tz *tz, int64_t *out_ms)
{
    if (!s || n == 0)
        return false;
    if (tz && tz->fixed && tz->fixed_off == 0)
        tz = NULL;
    return iso_fast(s, n, tz, out_ms) || iso_general(s, n, tz, out_ms);
}

/* ---- ISO-8601 timestamps: formatting -------------------------------------- */

static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Decimal with at least `width` digits and a '-' for negatives. */
static char *put_int(char *p, int64_t v, int width)
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
static char *put_offset(char *p, int64_t off, bool colon, bool z_for_zero)
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
static size_t emit(const char *tmp, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    if (len > cap - 1)
        len = cap - 1;
    memcpy(out, tmp, len);
    out[len] = '\0';
    return len;
}

size_t time_format_iso(int64_t ms, const struct ls_tz *tz, char *out, size_t cap)
{
    int64_t off;
    struct civil c;
    civil_from_ms(to_local(tz, ms, &off), &c);
    char tmp[48], *p = tmp;
    /* Years print with at least four digits and a '-' when negative, as Joda does. */
    p = put_int(p, c.year, 4);
    *p++ = '-';
    p = put2(p, c.month);
    *p++ = '-';
    p = put2(p, c.day);
    *p++ = 'T';
    p = put2(p, c.hour);
    *p++ = ':';
    p = put2(p, c.minute);
    *p++ = ':';
    p = put2(p, c.second);
    *p++ = '.';
    p = put_int(p, c.millis, 3);
    p = put_offset(p, off, true, true);
    return emit(tmp, (size_t)(p - tmp), out, cap);
}

/* ---- ISO-8601 periods ---------------------------------------------------- */

/* Designators in the order they must appear; slots 4..6 come after 'T'. */
enum { PS_YEAR, PS_MONTH, PS_WEEK, PS_DAY, PS_HOUR, PS_MINUTE, PS_SECOND };

static int period_fail(struct lerr *err, const char *s, size_t n, size_t pos, const char *what,
                       const char *example)
{
    char b[96];
    lerr_set(err, LERR_INVALID, "invalid period '%s': %s; example: %s", show(s, n, b), what,
             example);
    if (err)
        err->pos = (int64_t)pos;
    return LERR_INVALID;
}

/*
 * Maps a designator to its slot; -1 with *why and *example saying what is
 * wrong (the defaults cover a missing or unknown designator).
 */
static int period_slot(char d, bool in_time, const char **why, const char **example)
{
    *why = "a number must be followed by a designator (Y, M, W, D, or after T: H, M, S)";
    *example = in_time ? "PT30M" : "P30D";
    switch (upper(d)) {
    case 'Y': if (!in_time) return PS_YEAR; break;
    case 'M': return in_time ? PS_MINUTE : PS_MONTH;
    case 'W': if (!in_time) return PS_WEEK; break;
    case 'D': if (!in_time) return PS_DAY; break;
    case 'H': if (in_time) return PS_HOUR; break;
    case 'S': if (in_time) return PS_SECOND; break;
    default: return -1;
    }
    *why = in_time ? "years, weeks and days must come before 'T'"
                   : "hours, minutes and seconds must come after 'T'";
    *example = in_time ? "P1DT12H" : "PT1H";
    return -1;
}

static void period_set(struct period *p, int slot, int32_t v)
{
    int32_t *f[] = {&p->years, &p->months, &p->weeks, &p->days,
                    &p->hours, &p->minutes, &p->seconds};
    *f[slot] = v;
}

/* One "<number>[.fraction]<designator>" at *i. */
static int period_field(const char *s, size_t n, size_t *i, bool in_time, int *last,
                        struct period *out, struct lerr *err)
{
    size_t start = *i;
    int64_t v = 0;
    while (*i < n && is_digit(s[*i])) {
        v = v * 10 + (s[(*i)++] - '0');
        if (v > INT32_MAX)
            return period_fail(err, s, n, start, "a number is larger than 2147483647",
                               "P30D");
    }
    int64_t ms = 0;
    bool frac = false;
    if (*i < n && (s[*i] == '.' || s[*i] == ',')) {
        struct cur c = {s, n, *i};
        if (!cur_fraction(&c, LS_MS_PER_SECOND, &ms))
            return period_fail(err, s, n, *i, "a decimal point must be followed by digits",
                               "PT1.5S");
        *i = c.i;
        frac = true;
    }
    const char *why, *example;
    int slot = period_slot(*i < n ? s[*i] : '\0', in_time, &why, &example);
    if (slot < 0)
        return period_fail(err, s, n, *i, why, example);
    if (frac && slot != PS_SECOND)
        return period_fail(err, s, n, start, "only seconds may have a fraction",
                           "PT1.5S or P1DT12H");
    if (slot <= *last)
        return period_fail(err, s, n, *i,
                           "fields must appear once each, in the order Y, M, W, D, T, H, M, S",
                           "P1Y2M3DT4H5M6S");
    period_set(out, slot, (int32_t)v);
    if (frac)
        out->millis = (int32_t)ms;
    *last = slot;
    (*i)++;
    return LERR_OK;
}

int period_parse(const char *s, size_t n, struct period *out, struct lerr *err)
{
    memset(out, 0, sizeof *out);
    if (!s || n == 0)
        return period_fail(err, "", 0, 0, "empty text", "P1D, PT1H or P1M");
    if (memchr(s, '-', n))
        return period_fail(err, s, n, (size_t)((const char *)memchr(s, '-', n) - s),
                           "negative periods are not supported", "P1D");
    if (upper(s[0]) != 'P')
        return period_fail(err, s, n, 0, "a period must start with 'P'", "P30D or PT1H");
    size_t i = 1;
    int last = -1;
    bool in_time = false, any = false, time_any = false;
    while (i < n) {
        if (upper(s[i]) == 'T') {
            if (in_time)
                return period_fail(err, s, n, i, "'T' appears twice", "P1DT12H");
            in_time = true;
            i++;
            continue;
        }
        if (!is_digit(s[i])) {
            char b[96];
            snprintf(b, sizeof b, "unexpected '%c' at position %zu; expected a number or 'T'",
                     (s[i] > 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?', i);
            return period_fail(err, s, n, i, b, "P1D or PT1H");
        }
        int rc = period_field(s, n, &i, in_time, &last, out, err);
        if (rc)
            return rc;
        any = true;
        time_any |= in_time;
    }
    if (in_time && !time_any)
        return period_fail(err, s, n, n, "'T' must be followed by hours, minutes or seconds",
                           "PT1H or P1DT12H");
    if (!any)
        return period_fail(err, s, n, n, "no fields after 'P'", "P1D or PT1H");
    return LERR_OK;
}

bool period_is_zero(const struct period *p)
{
    return !(p->years | p->months | p->weeks | p->days | p->hours | p->minutes | p->seconds |
             p->millis);
}

static int64_t period_months(const struct period *p) { return (int64_t)p->years * 12 + p->months; }

/* Weeks, days and time fields in ms; fields are non-negative int32, so no overflow. */
static int64_t period_fixed_part(const struct period *p)
{
    return ((int64_t)p->weeks * 7 + p->days) * LS_MS_PER_DAY + (int64_t)p->hours * LS_MS_PER_HOUR +
           (int64_t)p->minutes * LS_MS_PER_MINUTE + (int64_t)p->seconds * LS_MS_PER_SECOND +
           p->millis;
}

int64_t period_fixed_ms(const struct period *p)
{
    return period_months(p) != 0 ? -1 : period_fixed_part(p);
}

size_t period_format(const struct period *p, char *out, size_t cap)
{
    char tmp[128], *q = tmp;
    *q++ = 'P';
    const int32_t date[4] = {p->years, p->months, p->weeks, p->days};
    const char dname[4] = {'Y', 'M', 'W', 'D'};
    for (int k = 0; k < 4; k++) {
        if (date[k]) {
            q = put_int(q, date[k], 1);
            *q++ = dname[k];
        }
    }
    if (p->hours || p->minutes || p->seconds || p->millis || period_is_zero(p)) {
        *q++ = 'T';
        if (p->hours) {
            q = put_int(q, p->hours, 1);
            *q++ = 'H';
        }
        if (p->minutes) {
            q = put_int(q, p->minutes, 1);
            *q++ = 'M';
        }
        if (p->seconds || p->millis || period_is_zero(p)) {
            q = put_int(q, p->seconds, 1);
            if (p->millis) {
                *q++ = '.';
                q = put_int(q, p->millis, 3);
            }
            *q++ = 'S';
        }
    }
    return emit(tmp, (size_t)(q - tmp), out, cap);
}

/* ---- calendar arithmetic: shift, floor, ceil ----------------------------- */

/* The most months any arithmetic here produces: beyond ±300 million years results saturate. */
#define MONTHS_LIMIT (12LL * 300000000)

/* A local wall-clock time split into its date and time of day. */
struct local_ymd {
    int64_t y, tod;
    int m, d;
};

static void local_split(int64_t local, struct local_ymd *o)
{
    o->tod = ls_floor_mod(local, LS_MS_PER_DAY);
    civil_ymd_from_days(ls_floor_div(local, LS_MS_PER_DAY), &o->y, &o->m, &o->d);
}

/* o + months, clamping the day to the end of the month (Jan 31 + P1M = Feb 28/29). */
static int64_t local_ymd_add_months(const struct local_ymd *o, int64_t months)
{
    int64_t total = sat_add(o->y * 12 + (o->m - 1), months);  /* |o->y| < 2^40: no overflow */
    if (total < -MONTHS_LIMIT || total > MONTHS_LIMIT)
        return months < 0 ? INT64_MIN : INT64_MAX;
    int64_t y = ls_floor_div(total, 12);
    int m = (int)ls_floor_mod(total, 12) + 1, dim = civil_days_in_month(y, m);
    return sat_add(sat_mul(civil_days_from_ymd(y, m, o->d < dim ? o->d : dim), LS_MS_PER_DAY),
                   o->tod);
}

static int64_t local_add_months(int64_t local, int64_t months)
{
    if (months == 0)
        return local;
    struct local_ymd o;
    local_split(local, &o);
    return local_ymd_add_months(&o, months);
}

/* k * period added to a local time: years, then months (as Joda does), then fixed fields. */
static int64_t local_add_period(int64_t local, const struct period *p, int64_t k)
{
    local = local_add_months(local, sat_mul((int64_t)p->years * 12, k));
    local = local_add_months(local, sat_mul(p->months, k));
    return sat_add(local, sat_mul(period_fixed_part(p), k));
}

int64_t time_shift(int64_t t, const struct period *p, int64_t n, const struct ls_tz *tz)
{
    if (!tz)
        tz = &tz_utc_zone;
    if (n == 0 || period_is_zero(p))
        return t;
    /* Calendar fields move the local wall clock; hours and smaller move the instant. */
    if (p->years || p->months || p->weeks || p->days) {
        int64_t off, local = to_local(tz, t, &off);
        local = local_add_months(local, sat_mul((int64_t)p->years * 12, n));
        local = local_add_months(local, sat_mul(p->months, n));
        local = sat_add(local, sat_mul(sat_mul((int64_t)p->weeks * 7 + p->days, n), LS_MS_PER_DAY));
        t = local_to_utc_hint(tz, local, off);
    }
    int64_t time_ms = (int64_t)p->hours * LS_MS_PER_HOUR + (int64_t)p->minutes * LS_MS_PER_MINUTE +
                      (int64_t)p->seconds * LS_MS_PER_SECOND + p->millis;
    return sat_add(t, sat_mul(time_ms, n));
}

/* A bucket as local wall-clock times [start, next). */
struct bucket {
    int64_t start, next;
};

/* Average Gregorian month, for a first guess of the bucket index of compound periods. */
#define AVG_MONTH_MS 2629746000LL

/*
 * Calendar periods: whole months from the origin, day clamped as in
 * local_add_months. Boundaries come straight from the origin's date, so a
 * floor costs one date split of t (and of a non-default origin).
 */
static void bucket_months(int64_t local, int64_t months, int64_t origin, bool want_next,
                          struct bucket *b)
{
    struct local_ymd l, o = {1970, 0, 1, 1};
    local_split(local, &l);
    if (origin != 0)
        local_split(origin, &o);
    int64_t raw = (l.y - o.y) * 12 + (l.m - o.m);
    int64_t k = ls_floor_div(raw, months) * months;
    b->start = local_ymd_add_months(&o, k);
    if (b->start > local) {
        k -= months;
        b->start = local_ymd_add_months(&o, k);
    }
    b->next = want_next ? local_ymd_add_months(&o, k + months) : INT64_MAX;
}

/* Months plus fixed fields (e.g. P1M15D): bucket k starts at origin + k * period. */
static void bucket_compound(int64_t local, const struct period *p, int64_t origin,
                            struct bucket *b)
{
    int64_t approx = sat_add(sat_mul(period_months(p), AVG_MONTH_MS), period_fixed_part(p));
    int64_t k = ls_floor_div(sat_sub(local, origin), approx);
    for (int i = 0; i < 64 && local_add_period(origin, p, k) > local; i++)
        k--;
    for (int i = 0; i < 64 && local_add_period(origin, p, k + 1) <= local; i++)
        k++;
    b->start = local_add_period(origin, p, k);
    b->next = local_add_period(origin, p, k + 1);
}

/*
 * The bucket of `local` on the local wall-clock timeline, aligned to the local
 * origin. Fixed periods (weeks, days, time) are multiples of their length,
 * which keeps P1D at local midnight and PT1H at local hours across DST.
 */
static void bucket_of(int64_t local, const struct period *p, int64_t origin, bool want_next,
                      struct bucket *b)
{
    int64_t months = period_months(p), fixed = period_fixed_part(p);
    if (months == 0) {
        int64_t k = ls_floor_div(sat_sub(local, origin), fixed);
        b->start = sat_add(origin, sat_mul(k, fixed));
        b->next = sat_add(b->start, fixed);
    } else if (fixed == 0) {
        bucket_months(local, months, origin, want_next, b);
    } else {
        bucket_compound(local, p, origin, b);
    }
}

static bool period_bucketable(const struct period *p)
{
    return p->years >= 0 && p->months >= 0 && p->weeks >= 0 && p->days >= 0 && p->hours >= 0 &&
           p->minutes >= 0 && p->seconds >= 0 && p->millis >= 0 && !period_is_zero(p);
}

/* Floors t; also returns the next bucket start as an instant when next_out is set. */
static int64_t floor_impl(int64_t t, const struct period *p, int64_t origin,
                          const struct ls_tz *tz, int64_t *next_out)
{
    if (!tz)
        tz = &tz_utc_zone;
    int64_t off, local = to_local(tz, t, &off), unused;
    int64_t lorigin;
    if (origin != INT64_MIN)
        lorigin = to_local(tz, origin, &unused);
    else  /* 1970-01-01 local; weeks start on Monday 1970-01-05 */
        lorigin = (p->weeks && period_months(p) == 0) ? 4 * LS_MS_PER_DAY : 0;
    struct bucket b;
    bucket_of(local, p, lorigin, next_out != NULL, &b);
    int64_t r = local_to_utc_hint(tz, b.start, off);
    if (r > t) {
        /* The bucket starts in a DST gap ending at or before t: take the gap's end. */
        struct tz_span sp;
        tz_lookup(tz, t, &sp);
        r = sp.start != INT64_MIN ? sp.start : t;
    }
    if (next_out)
        *next_out = local_to_utc_hint(tz, b.next, off);
    return r;
}

int64_t time_floor(int64_t t, const struct period *p, int64_t origin, const struct ls_tz *tz)
{
    if (!period_bucketable(p))
        return t;
    return floor_impl(t, p, origin, tz, NULL);
}

int64_t time_ceil(int64_t t, const struct period *p, int64_t origin, const struct ls_tz *tz)
{
    if (!period_bucketable(p))
        return t;
    int64_t next;
    if (floor_impl(t, p, origin, tz, &next) == t || next <= t)
        return t;
    /*
     * In a repeated hour a bucket of the local timeline can hold two runs of
     * instants; the boundary just before `next` (if after t) is the ceiling.
     */
    int64_t before = floor_impl(next - 1, p, origin, tz, NULL);
    return before > t ? before : next;
}

/* ---- units: TIME_EXTRACT, FLOOR(t TO unit) ------------------------------ */

static const struct {
    const char *name;
    enum time_unit unit;
} unit_names[] = {
    {"MILLISECOND", TU_MILLISECOND}, {"SECOND", TU_SECOND},   {"MINUTE", TU_MINUTE},
    {"HOUR", TU_HOUR},               {"DAY", TU_DAY},         {"DOW", TU_DOW},
    {"ISODOW", TU_ISODOW},           {"DOY", TU_DOY},         {"WEEK", TU_WEEK},
    {"MONTH", TU_MONTH},             {"QUARTER", TU_QUARTER}, {"YEAR", TU_YEAR},
    {"ISOYEAR", TU_ISOYEAR},         {"DECADE", TU_DECADE},   {"CENTURY", TU_CENTURY},
    {"MILLENNIUM", TU_MILLENNIUM},   {"EPOCH", TU_EPOCH},
};

bool time_unit_parse(const char *s, size_t n, enum time_unit *out)
{
    for (size_t i = 0; s && i < LS_ARRAY_LEN(unit_names); i++) {
        if (strlen(unit_names[i].name) == n && strncasecmp(unit_names[i].name, s, n) == 0) {
            *out = unit_names[i].unit;
            return true;
        }
    }
    return false;
}

static int64_t ceil_div(int64_t a, int64_t b) { return -ls_floor_div(-a, b); }

int64_t time_extract(int64_t t, enum time_unit u, const struct ls_tz *tz)
{
    if (u == TU_EPOCH)
        return t / 1000;  /* Druid divides with Java's truncation */
    int64_t off, local = to_local(tz, t, &off);
    int64_t days = ls_floor_div(local, LS_MS_PER_DAY), week_year;
    int week;
    struct civil c;
    civil_from_ms(local, &c);
    switch (u) {
    case TU_MILLISECOND: return c.millis;
    case TU_SECOND: return c.second;
    case TU_MINUTE: return c.minute;
    case TU_HOUR: return c.hour;
    case TU_DAY: return c.day;
    case TU_DOW:
    case TU_ISODOW: return civil_day_of_week(days);
    case TU_DOY: return days - civil_days_from_ymd(c.year, 1, 1) + 1;
    case TU_MONTH: return c.month;
    case TU_QUARTER: return (c.month - 1) / 3 + 1;
    case TU_YEAR: return c.year;
    case TU_DECADE: return c.year / 10;  /* truncating, as Druid */
    case TU_CENTURY: return ceil_div(c.year, 100);
    case TU_MILLENNIUM: return ceil_div(c.year, 1000);
    case TU_WEEK:
    case TU_ISOYEAR:
        iso_week_of(days, &week_year, &week);
        return u == TU_WEEK ? week : week_year;
    case TU_EPOCH: break;
    }
    return 0;
}

/* Start of the ISO week-numbering year containing t, in tz. */
static int64_t floor_iso_year(int64_t t, const struct ls_tz *tz)
{
    int64_t off, local = to_local(tz, t, &off), week_year;
    int week;
    iso_week_of(ls_floor_div(local, LS_MS_PER_DAY), &week_year, &week);
    return local_to_utc_hint(tz, sat_mul(iso_week1_monday(week_year), LS_MS_PER_DAY), off);
}

int64_t time_floor_unit(int64_t t, enum time_unit u, const struct ls_tz *tz)
{
    if (!tz)
        tz = &tz_utc_zone;
    struct period p = {0};
    int64_t origin = INT64_MIN;
    switch (u) {
    case TU_SECOND: p.seconds = 1; break;
    case TU_MINUTE: p.minutes = 1; break;
    case TU_HOUR: p.hours = 1; break;
    case TU_DAY:
    case TU_DOW:
    case TU_ISODOW:
    case TU_DOY: p.days = 1; break;
    case TU_WEEK: p.weeks = 1; break;
    case TU_MONTH: p.months = 1; break;
    case TU_QUARTER: p.months = 3; break;
    case TU_YEAR: p.years = 1; break;
    case TU_DECADE: p.years = 10; break;
    case TU_ISOYEAR: return floor_iso_year(t, tz);
    case TU_CENTURY:
    case TU_MILLENNIUM:
        /* Centuries and millennia start in year 1 (2001-01-01), as in PostgreSQL. */
        p.years = u == TU_CENTURY ? 100 : 1000;
        origin = tz_local_to_utc(tz, civil_days_from_ymd(1, 1, 1) * LS_MS_PER_DAY);
        break;
    case TU_MILLISECOND:
    case TU_EPOCH: return t;
    }
    return time_floor(t, &p, origin, tz);
}

/* ---- intervals ------------------------------------------------------------ */

static int interval_fail(struct lerr *err, const char *s, size_t n, const char *what)
{
    char b[96];
    return lerr_set(err, LERR_INVALID,
                    "invalid interval '%s': %s; examples: 2000-01-01/2001-01-01, "
                    "2000-01-01T00:00Z/P1D, P1D/2001-01-01",
                    show(s, n, b), what);
}

static bool is_period_text(const char *s, size_t n) { return n > 0 && upper(s[0]) == 'P'; }

int interval_parse(const char *s, size_t n, int64_t *start, int64_t *end, struct lerr *err)
{
    const char *slash = s ? memchr(s, '/', n) : NULL;
    if (!slash)
        return interval_fail(err, s ? s : "", s ? n : 0,
                             "expected 'start/end', 'start/period' or 'period/end'");
    const char *ls = s, *rs = slash + 1;
    size_t ln = (size_t)(slash - s), rn = n - ln - 1;
    bool lp = is_period_text(ls, ln), rp = is_period_text(rs, rn);
    struct period p;
    if (lp && rp)
        return interval_fail(err, s, n, "only one side may be a period");
    if ((lp && period_parse(ls, ln, &p, err)) || (rp && period_parse(rs, rn, &p, err)))
        return err ? err->code : LERR_INVALID;
    if ((!lp && !time_parse_iso(ls, ln, NULL, start)) ||
        (!rp && !time_parse_iso(rs, rn, NULL, end)))
        return interval_fail(err, s, n, "the start or end is not an ISO-8601 time");
    if (lp)
        *start = time_shift(*end, &p, -1, NULL);
    if (rp)
        *end = time_shift(*start, &p, 1, NULL);
    if (*end < *start)
        return interval_fail(err, s, n, "the end is before the start");
    return LERR_OK;
}

/* ---- Joda patterns: compiling ---------------------------------------------- */

enum jkind {
    JK_LIT, JK_ERA, JK_YEAR, JK_YEAR_OF_ERA, JK_WEEKYEAR, JK_CENTURY, JK_DOW_NUM, JK_DOW_TEXT,
    JK_DOY, JK_MONTH, JK_MONTH_TEXT, JK_DAY, JK_HALFDAY, JK_HOUR0_11, JK_HOUR1_12, JK_HOUR0_23,
    JK_HOUR1_24, JK_MINUTE, JK_SECOND, JK_FRACTION, JK_WEEK, JK_ZONE_NAME, JK_ZONE_OFFSET,
    JK_ZONE_ID
};

struct jop {
    uint8_t kind;
    uint8_t count;       /* letters in the run, capped at JODA_MAX_COUNT */
    uint8_t max_digits;  /* parsing reads at most this many digits */
    bool exact;          /* ... and exactly that many */
    bool two_digit;      /* yy, YY, xx: two-digit year pivoting around 2000 */
    uint32_t lit_off, lit_len;
};

struct joda_fmt {
    size_t nops;
    struct jop *ops;
    char *lits;
    size_t nlits;
};

#define JODA_MAX_PATTERN 4096
#define JODA_MAX_COUNT 64

/* natural = the widest value of a numeric field; 0 for text fields. */
static const struct {
    char letter;
    uint8_t kind, natural;
} joda_letters[] = {
    {'G', JK_ERA, 0},        {'y', JK_YEAR, 9},        {'u', JK_YEAR, 9},
    {'Y', JK_YEAR_OF_ERA, 9}, {'x', JK_WEEKYEAR, 9},   {'C', JK_CENTURY, 0},
    {'e', JK_DOW_NUM, 1},    {'E', JK_DOW_TEXT, 0},    {'D', JK_DOY, 3},
    {'M', JK_MONTH, 2},      {'d', JK_DAY, 2},         {'a', JK_HALFDAY, 0},
    {'K', JK_HOUR0_11, 2},   {'h', JK_HOUR1_12, 2},    {'H', JK_HOUR0_23, 2},
    {'k', JK_HOUR1_24, 2},   {'m', JK_MINUTE, 2},      {'s', JK_SECOND, 2},
    {'S', JK_FRACTION, 9},   {'w', JK_WEEK, 2},        {'z', JK_ZONE_NAME, 0},
    {'Z', JK_ZONE_OFFSET, 0},
};

static bool jop_numeric(const struct jop *o)
{
    switch (o->kind) {
    case JK_YEAR: case JK_YEAR_OF_ERA: case JK_WEEKYEAR: case JK_CENTURY: case JK_DOW_NUM:
    case JK_DOY: case JK_MONTH: case JK_DAY: case JK_HOUR0_11: case JK_HOUR1_12:
    case JK_HOUR0_23: case JK_HOUR1_24: case JK_MINUTE: case JK_SECOND: case JK_FRACTION:
    case JK_WEEK:
        return true;
    }
    return false;
}

static bool jop_is_year(const struct jop *o)
{
    return o->kind == JK_YEAR || o->kind == JK_YEAR_OF_ERA || o->kind == JK_WEEKYEAR;
}

static void joda_add_literal(struct joda_fmt *f, char ch)
{
    struct jop *last = f->nops ? &f->ops[f->nops - 1] : NULL;
    if (!last || last->kind != JK_LIT || last->lit_off + last->lit_len != f->nlits) {
        last = &f->ops[f->nops++];
        *last = (struct jop){.kind = JK_LIT, .lit_off = (uint32_t)f->nlits};
    }
    f->lits[f->nlits++] = ch;
    last->lit_len++;
}

/*
 * Parse widths, as Joda's DateTimeFormat sets them: a field written with at
 * least its natural width (dd, HH, MM) takes exactly that many digits, a
 * shorter one (d, H, M) takes 1 or 2. Years take up to 9 digits unless the
 * next field is numeric too (yyyyMMdd), then exactly as many as written; yy
 * takes two digits, or a full year when nothing numeric follows.
 */
static void joda_set_widths(struct joda_fmt *f)
{
    for (size_t i = 0; i < f->nops; i++) {
        struct jop *o = &f->ops[i];
        bool next_numeric = i + 1 < f->nops && jop_numeric(&f->ops[i + 1]);
        if (jop_is_year(o)) {
            o->two_digit = o->count == 2;
            o->max_digits = next_numeric ? o->count : 9;
            o->exact = next_numeric;
        } else if (o->kind == JK_FRACTION) {
            o->max_digits = 9;
        } else if (o->kind == JK_CENTURY) {
            o->max_digits = o->count;
            o->exact = true;
        } else if (jop_numeric(o)) {
            uint8_t natural = 2;
            for (size_t k = 0; k < LS_ARRAY_LEN(joda_letters); k++)
                if (joda_letters[k].kind == o->kind)
                    natural = joda_letters[k].natural;
            o->max_digits = o->count > natural ? o->count : natural;
            o->exact = o->count >= natural;
        }
    }
}

static int joda_letter(char c)
{
    for (size_t k = 0; k < LS_ARRAY_LEN(joda_letters); k++)
        if (joda_letters[k].letter == c)
            return (int)k;
    return -1;
}

static struct joda_fmt *joda_fail(struct joda_fmt *f, struct lerr *err, const char *pat, size_t n,
                                  size_t pos, const char *what)
{
    char b[96];
    lerr_set(err, LERR_INVALID, "invalid time format pattern '%s': %s at position %zu",
             show(pat, n, b), what, pos);
    if (err)
        err->pos = (int64_t)pos;
    joda_free(f);
    return NULL;
}

/* A run of one pattern letter at pat[*i]. */
static bool joda_add_field(struct joda_fmt *f, const char *pat, size_t n, size_t *i)
{
    char c = pat[*i];
    size_t run = 1;
    while (*i + run < n && pat[*i + run] == c)
        run++;
    int li = joda_letter(c);
    if (li < 0)
        return false;
    struct jop *o = &f->ops[f->nops++];
    *o = (struct jop){.kind = joda_letters[li].kind,
                      .count = (uint8_t)(run < JODA_MAX_COUNT ? run : JODA_MAX_COUNT)};
    if (o->kind == JK_MONTH && run >= 3)
        o->kind = JK_MONTH_TEXT;
    if (o->kind == JK_ZONE_OFFSET && run >= 3)
        o->kind = JK_ZONE_ID;
    *i += run;
    return true;
}

/* 'quoted text' at pat[*i] ('' inside or alone is one quote); false if unterminated. */
static bool joda_add_quoted(struct joda_fmt *f, const char *pat, size_t n, size_t *i)
{
    ++*i;
    if (*i < n && pat[*i] == '\'') {
        joda_add_literal(f, '\'');
        ++*i;
        return true;
    }
    while (*i < n) {
        if (pat[*i] == '\'') {
            if (*i + 1 < n && pat[*i + 1] == '\'') {
                joda_add_literal(f, '\'');
                *i += 2;
                continue;
            }
            ++*i;
            return true;
        }
        joda_add_literal(f, pat[(*i)++]);
    }
    return false;
}

struct joda_fmt *joda_compile(const char *pat, size_t n, struct lerr *err)
{
    if (!pat || n == 0)
        return joda_fail(NULL, err, "", 0, 0, "the pattern is empty");
    if (n > JODA_MAX_PATTERN)
        return joda_fail(NULL, err, pat, n, JODA_MAX_PATTERN, "longer than 4096 bytes");
    struct joda_fmt *f = calloc(1, sizeof *f);
    if (f) {
        f->ops = calloc(n, sizeof *f->ops);
        f->lits = malloc(n);
    }
    if (!f || !f->ops || !f->lits) {
        joda_free(f);
        lerr_set(err, LERR_NOMEM, "out of memory compiling a time format pattern");
        return NULL;
    }
    size_t i = 0;
    while (i < n) {
        size_t at = i;
        if (is_alpha(pat[i])) {
            if (!joda_add_field(f, pat, n, &i)) {
                char what[160];
                snprintf(what, sizeof what,
                         "unknown pattern letter '%c' (letters: G y Y x C e E D M d a K h H k m "
                         "s S w z Z; quote literal text, e.g. 'T')",
                         pat[i]);
                return joda_fail(f, err, pat, n, at, what);
            }
        } else if (pat[i] == '\'') {
            if (!joda_add_quoted(f, pat, n, &i))
                return joda_fail(f, err, pat, n, at, "unterminated quote (close it with ')");
        } else {
            joda_add_literal(f, pat[i++]);
        }
    }
    joda_set_widths(f);
    return f;
}

void joda_free(struct joda_fmt *f)
{
    if (!f)
        return;
    free(f->ops);
    free(f->lits);
    free(f);
}

/* ---- Joda patterns: parsing ------------------------------------------------ */

static const char *const month_names[12] = {"January", "February", "March",     "April",
                                            "May",     "June",     "July",      "August",
                                            "September", "October", "November", "December"};
static const char *const day_names[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};
static const char *const halfday_names[2] = {"AM", "PM"};
static const char *const era_names[2] = {"BC", "AD"};

/* The zone abbreviations Joda parses for 'z' (DateTimeUtils.getDefaultTimeZoneNames). */
static const struct {
    const char *abbr, *zone;
} zone_abbrs[] = {
    {"UT", "UTC"},  {"UTC", "UTC"}, {"GMT", "UTC"},
    {"EST", "America/New_York"},    {"EDT", "America/New_York"},
    {"CST", "America/Chicago"},     {"CDT", "America/Chicago"},
    {"MST", "America/Denver"},      {"MDT", "America/Denver"},
    {"PST", "America/Los_Angeles"}, {"PDT", "America/Los_Angeles"},
};

/* What a pattern parse has read so far; 0 / -1 / false mean "not given". */
struct jfields {
    int64_t year, yoe, weekyear, century, month, day, doy, dow, week, hour;
    int64_t minute, second, millis, off;
    int era, halfday, hour_kind;
    bool has_year, has_yoe, has_weekyear, has_century, has_off;
    const struct ls_tz *zone;
};

/*
 * Longest case-insensitive match at the cursor among names, and their first
 * three letters when `abbrev`; the index, or -1.
 */
static int match_name(struct cur *c, const char *const *names, int count, bool abbrev)
{
    int best = -1;
    size_t best_len = 0;
    for (int k = 0; k < count; k++) {
        size_t full = strlen(names[k]);
        size_t lens[2] = {full, (abbrev && full > 3) ? 3 : full};
        for (int j = 0; j < 2; j++) {
            size_t len = lens[j];
            if (len > best_len && c->n - c->i >= len &&
                strncasecmp(c->s + c->i, names[k], len) == 0) {
                best = k;
                best_len = len;
            }
        }
    }
    c->i += best_len;
    return best;
}

static bool jp_number(struct cur *c, const struct jop *o, bool allow_sign, int64_t *v)
{
    bool neg = allow_sign && cur_is(c, '-');
    size_t start = c->i, nd;
    if (allow_sign && (cur_is(c, '-') || cur_is(c, '+')))
        c->i++;
    if (!cur_digits(c, o->max_digits, v, &nd) || (o->exact && nd != o->max_digits)) {
        c->i = start;
        return false;
    }
    *v = neg ? -*v : *v;
    return true;
}

/* A year field; two digits (and no sign) in a yy field pivot into 1950..2049. */
static bool jp_year(struct cur *c, const struct jop *o, bool allow_sign, int64_t *year)
{
    size_t start = c->i;
    if (!jp_number(c, o, allow_sign, year))
        return false;
    if (o->two_digit && c->i - start == 2 && is_digit(c->s[start]))
        *year += *year < 50 ? 2000 : 1900;
    return true;
}

static bool jp_literal(struct cur *c, const char *lit, size_t len)
{
    if (c->n - c->i < len)
        return false;
    for (size_t k = 0; k < len; k++)
        if (upper(c->s[c->i + k]) != upper(lit[k]))
            return false;
    c->i += len;
    return true;
}

static bool jp_zone_abbr(struct cur *c, struct jfields *jf)
{
    size_t best = 0;
    const char *zone = NULL;
    for (size_t k = 0; k < LS_ARRAY_LEN(zone_abbrs); k++) {
        size_t len = strlen(zone_abbrs[k].abbr);
        if (len > best && c->n - c->i >= len &&
            strncasecmp(c->s + c->i, zone_abbrs[k].abbr, len) == 0) {
            best = len;
            zone = zone_abbrs[k].zone;
        }
    }
    if (!zone || !(jf->zone = tz_get(zone, strlen(zone), NULL)))
        return false;
    c->i += best;
    return true;
}

static bool zone_id_char(char ch)
{
    return is_alpha(ch) || is_digit(ch) || ch == '/' || ch == '_' || ch == '-' || ch == '+';
}

/*
 * A zone id (ZZZ): the longest run of id characters that names a zone, trying
 * the whole run, then prefixes that end before a separator ('/', '_', '-', '+').
 */
static bool jp_zone_id(struct cur *c, struct jfields *jf)
{
    size_t span = 0;
    while (c->i + span < c->n && span < 64 && zone_id_char(c->s[c->i + span]))
        span++;
    for (size_t len = span; len > 0; len--) {
        if (len < span && zone_id_char(c->s[c->i + len]) &&
            (is_alpha(c->s[c->i + len]) || is_digit(c->s[c->i + len])))
            continue;
        const struct ls_tz *z = tz_get(c->s + c->i, len, NULL);
        if (z) {
            jf->zone = z;
            c->i += len;
            return true;
        }
    }
    return false;
}

static bool jp_fraction(struct cur *c, const struct jop *o, int64_t *millis)
{
    size_t start = c->i;
    int64_t v;
    if (!cur_digits(c, o->max_digits, &v, NULL))
        return false;
    int64_t scale = 1;
    for (size_t k = start; k < c->i; k++)
        scale *= 10;
    *millis = v * 1000 / scale;
    return true;
}

/* Reads one op's text; false if it does not match. */
static bool jp_op(const struct joda_fmt *f, const struct jop *o, struct cur *c,
                  struct jfields *jf)
{
    int k;
    switch (o->kind) {
    case JK_LIT: return jp_literal(c, f->lits + o->lit_off, o->lit_len);
    case JK_ERA: return (jf->era = match_name(c, era_names, 2, false)) >= 0;
    case JK_YEAR: return (jf->has_year = jp_year(c, o, true, &jf->year));
    case JK_YEAR_OF_ERA: return (jf->has_yoe = jp_year(c, o, false, &jf->yoe));
    case JK_WEEKYEAR: return (jf->has_weekyear = jp_year(c, o, true, &jf->weekyear));
    case JK_CENTURY: return (jf->has_century = jp_number(c, o, false, &jf->century));
    case JK_DOW_NUM: return jp_number(c, o, false, &jf->dow) && jf->dow >= 1 && jf->dow <= 7;
    case JK_DOW_TEXT:
        k = match_name(c, day_names, 7, true);
        jf->dow = k + 1;
        return k >= 0;
    case JK_DOY: return jp_number(c, o, false, &jf->doy) && jf->doy >= 1;
    case JK_MONTH: return jp_number(c, o, false, &jf->month) && jf->month >= 1;
    case JK_MONTH_TEXT:
        k = match_name(c, month_names, 12, true);
        jf->month = k + 1;
        return k >= 0;
    case JK_DAY: return jp_number(c, o, false, &jf->day) && jf->day >= 1;
    case JK_HALFDAY: return (jf->halfday = match_name(c, halfday_names, 2, false)) >= 0;
    case JK_HOUR0_11: case JK_HOUR1_12: case JK_HOUR0_23: case JK_HOUR1_24:
        jf->hour_kind = o->kind;
        return jp_number(c, o, false, &jf->hour);
    case JK_MINUTE: return jp_number(c, o, false, &jf->minute) && jf->minute <= 59;
    case JK_SECOND: return jp_number(c, o, false, &jf->second) && jf->second <= 59;
    case JK_FRACTION: return jp_fraction(c, o, &jf->millis);
    case JK_WEEK: return jp_number(c, o, false, &jf->week) && jf->week >= 1;
    case JK_ZONE_NAME: return jp_zone_abbr(c, jf);
    case JK_ZONE_OFFSET: return (jf->has_off = parse_offset(c->s, c->n, &c->i, &jf->off));
    case JK_ZONE_ID: return jp_zone_id(c, jf);
    }
    return false;
}

/* Hour of day from the hour field that was given, and AM/PM. -1 if out of range. */
static int64_t jp_hour(const struct jfields *jf)
{
    int64_t h = jf->hour;
    switch (jf->hour_kind) {
    case JK_HOUR0_11:
    case JK_HOUR1_12:
        if (jf->hour_kind == JK_HOUR1_12 ? (h < 1 || h > 12) : (h > 11))
            return -1;
        return h % 12 + (jf->halfday == 1 ? 12 : 0);
    case JK_HOUR1_24:
        if (h < 1 || h > 24)
            return -1;
        h %= 24;
        break;
    case JK_HOUR0_23:
        if (h > 23)
            return -1;
        break;
    default:
        h = 0;
    }
    /* AM/PM with a 24-hour field moves the hour into that half of the day, as Joda does. */
    if (jf->halfday == 1 && h < 12)
        h += 12;
    else if (jf->halfday == 0 && h >= 12)
        h -= 12;
    return h;
}

/*
 * The year: year-of-era with its era, else the year, else the century. With
 * none, Joda takes 2000 when a month or day was given (so "02-29" parses)
 * and 1970 otherwise.
 */
static int64_t jp_year_of(const struct jfields *jf)
{
    if (jf->has_yoe)
        return jf->era == 0 ? 1 - jf->yoe : jf->yoe;
    if (jf->has_year)
        return jf->era == 0 && jf->year > 0 ? 1 - jf->year : jf->year;
    if (jf->has_century)
        return jf->century * 100;
    return (jf->month || jf->day || jf->doy || jf->dow || jf->week) ? 2000 : 1970;
}

static bool jp_days(const struct jfields *jf, int64_t *days)
{
    int64_t year = jp_year_of(jf);
    if (year < -300000000 || year > 300000000)
        return false;
    if (jf->has_weekyear || jf->week) {
        int64_t wy = jf->has_weekyear ? jf->weekyear : year, w = jf->week ? jf->week : 1;
        if (wy < -300000000 || wy > 300000000 || w > iso_weeks_in_year(wy))
            return false;
        *days = iso_week1_monday(wy) + (w - 1) * 7 + (jf->dow ? jf->dow - 1 : 0);
        return *days >= -DAYS_LIMIT && *days <= DAYS_LIMIT;
    }
    if (jf->doy && !jf->month && !jf->day) {
        if (jf->doy > 365 + civil_is_leap(year) || !ymd_to_days(year, 1, 1, days))
            return false;
        *days += jf->doy - 1;
    } else if (!ymd_to_days(year, jf->month ? jf->month : 1, jf->day ? jf->day : 1, days)) {
        return false;
    }
    /* A day of week moves the date within its Monday-based week, as Joda sets fields. */
    if (jf->dow)
        *days += jf->dow - civil_day_of_week(*days);
    return true;
}

bool joda_parse(const struct joda_fmt *f, const char *s, size_t n, const struct ls_tz *tz,
                int64_t *out_ms)
{
    if (!f || (!s && n > 0))
        return false;
    struct cur c = {s, n, 0};
    struct jfields jf = {.era = -1, .halfday = -1};
    for (size_t i = 0; i < f->nops; i++)
        if (!jp_op(f, &f->ops[i], &c, &jf))
            return false;
    int64_t days, hour = jp_hour(&jf);
    if (c.i != n || hour < 0 || !jp_days(&jf, &days))
        return false;
    int64_t local = days * LS_MS_PER_DAY + hour * LS_MS_PER_HOUR + jf.minute * LS_MS_PER_MINUTE +
                    jf.second * LS_MS_PER_SECOND + jf.millis;
    *out_ms = resolve_local(local, jf.has_off, jf.off, jf.zone ? jf.zone : tz);
    return true;
}

/* ---- Joda patterns: formatting --------------------------------------------- */

/* The calendar fields of an instant in a zone, computed once per format call. */
struct jctx {
    struct civil c;
    int64_t t, off, week_year;
    int dow, doy, week;
    const struct ls_tz *tz;
};

struct wr {
    char *p;
    size_t cap, len;
};

static void wr_put(struct wr *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n && w->len + 1 < w->cap; i++)
        w->p[w->len++] = s[i];
}

static void wr_str(struct wr *w, const char *s) { wr_put(w, s, strlen(s)); }

static void wr_num(struct wr *w, int64_t v, int width)
{
    char tmp[80];
    wr_put(w, tmp, (size_t)(put_int(tmp, v, width) - tmp));
}

/* A year-like field: yy prints the last two digits, others at least `count` digits. */
static void wr_year(struct wr *w, const struct jop *o, int64_t y)
{
    if (o->two_digit)
        wr_num(w, (y < 0 ? -y : y) % 100, 2);
    else
        wr_num(w, y, o->count);
}

static void wr_name(struct wr *w, const char *name, int count)
{
    wr_put(w, name, count >= 4 ? strlen(name) : 3);
}

static void wr_fraction(struct wr *w, int millis, int count)
{
    char digits[3] = {(char)('0' + millis / 100), (char)('0' + millis / 10 % 10),
                      (char)('0' + millis % 10)};
    wr_put(w, digits, (size_t)(count < 3 ? count : 3));
    for (int k = 3; k < count; k++)
        wr_put(w, "0", 1);
}

static void jf_op(struct wr *w, const struct joda_fmt *f, const struct jop *o,
                  const struct jctx *x)
{
    int64_t y = x->c.year, yoe = y > 0 ? y : 1 - y;
    int h = x->c.hour;
    char tmp[16];
    struct tz_span sp;
    switch (o->kind) {
    case JK_LIT: wr_put(w, f->lits + o->lit_off, o->lit_len); break;
    case JK_ERA: wr_str(w, y > 0 ? "AD" : "BC"); break;
    case JK_YEAR: wr_year(w, o, y); break;
    case JK_YEAR_OF_ERA: wr_year(w, o, yoe); break;
    case JK_WEEKYEAR: wr_year(w, o, x->week_year); break;
    case JK_CENTURY: wr_num(w, yoe / 100, o->count); break;
    case JK_DOW_NUM: wr_num(w, x->dow, o->count); break;
    case JK_DOW_TEXT: wr_name(w, day_names[x->dow - 1], o->count); break;
    case JK_DOY: wr_num(w, x->doy, o->count); break;
    case JK_MONTH: wr_num(w, x->c.month, o->count); break;
    case JK_MONTH_TEXT: wr_name(w, month_names[x->c.month - 1], o->count); break;
    case JK_DAY: wr_num(w, x->c.day, o->count); break;
    case JK_HALFDAY: wr_str(w, h < 12 ? "AM" : "PM"); break;
    case JK_HOUR0_11: wr_num(w, h % 12, o->count); break;
    case JK_HOUR1_12: wr_num(w, h % 12 ? h % 12 : 12, o->count); break;
    case JK_HOUR0_23: wr_num(w, h, o->count); break;
    case JK_HOUR1_24: wr_num(w, h ? h : 24, o->count); break;
    case JK_MINUTE: wr_num(w, x->c.minute, o->count); break;
    case JK_SECOND: wr_num(w, x->c.second, o->count); break;
    case JK_FRACTION: wr_fraction(w, x->c.millis, o->count); break;
    case JK_WEEK: wr_num(w, x->week, o->count); break;
    case JK_ZONE_NAME:
        /* Short names come from the tz database; we have no long names, so zzzz is the id. */
        tz_lookup(x->tz, x->t, &sp);
        wr_str(w, o->count >= 4 || !sp.abbr[0] ? tz_name(x->tz) : sp.abbr);
        break;
    case JK_ZONE_OFFSET:
        wr_put(w, tmp, (size_t)(put_offset(tmp, x->off, o->count >= 2, false) - tmp));
        break;
    case JK_ZONE_ID: wr_str(w, tz_name(x->tz)); break;
    }
}

size_t joda_format(const struct joda_fmt *f, int64_t t, const struct ls_tz *tz, char *out,
                   size_t cap)
{
    struct wr w = {out, cap, 0};
    if (!f || cap == 0)
        return 0;
    struct jctx x = {.t = t, .tz = tz ? tz : &tz_utc_zone};
    int64_t local = to_local(x.tz, t, &x.off), days = ls_floor_div(local, LS_MS_PER_DAY);
    civil_from_ms(local, &x.c);
    x.dow = civil_day_of_week(days);
    x.doy = (int)(days - civil_days_from_ymd(x.c.year, 1, 1) + 1);
    iso_week_of(days, &x.week_year, &x.week);
    for (size_t i = 0; i < f->nops; i++)
        jf_op(&w, f, &f->ops[i], &x);
    out[w.len] = '\0';
    return w.len;
}
