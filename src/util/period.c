/*
 * period.c — ISO-8601 periods (P1D, PT15M, P1Y2M...) and the calendar
 * arithmetic over them in a time zone: TIME_SHIFT, TIME_FLOOR, TIME_CEIL
 * (with an origin), the units of TIME_EXTRACT and FLOOR(t TO unit), and
 * intervals ("start/end", "start/period", "period/end").
 *
 * Entry points: period_parse() / period_format() / period_is_zero() /
 * period_fixed_ms(), time_shift() / time_floor() / time_ceil(),
 * time_unit_parse() / time_extract() / time_floor_unit(), time_interval_parse().
 */
#include "util/time_int.h"

#include <stdio.h>
#include <string.h>

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
    // clang-format off
    switch (upper(d)) {
    case 'Y': if (!in_time) return PS_YEAR; break;
    case 'M': return in_time ? PS_MINUTE : PS_MONTH;
    case 'W': if (!in_time) return PS_WEEK; break;
    case 'D': if (!in_time) return PS_DAY; break;
    case 'H': if (in_time) return PS_HOUR; break;
    case 'S': if (in_time) return PS_SECOND; break;
    default: return -1;
    }
    // clang-format on
    *why = in_time ? "years, weeks and days must come before 'T'"
                   : "hours, minutes and seconds must come after 'T'";
    *example = in_time ? "P1DT12H" : "PT1H";
    return -1;
}

static void period_set(struct period *p, int slot, int32_t v)
{
    int32_t *f[] = {&p->years, &p->months,  &p->weeks,  &p->days,
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
            return period_fail(err, s, n, start, "a number is larger than 2147483647", "P30D");
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
    o->tod = util_floor_mod(local, LS_MS_PER_DAY);
    civil_ymd_from_days(util_floor_div(local, LS_MS_PER_DAY), &o->y, &o->m, &o->d);
}

/* o + months, clamping the day to the end of the month (Jan 31 + P1M = Feb 28/29). */
static int64_t local_ymd_add_months(const struct local_ymd *o, int64_t months)
{
    int64_t total = sat_add(o->y * 12 + (o->m - 1), months); /* |o->y| < 2^40: no overflow */
    if (total < -MONTHS_LIMIT || total > MONTHS_LIMIT)
        return months < 0 ? INT64_MIN : INT64_MAX;
    int64_t y = util_floor_div(total, 12);
    int m = (int)util_floor_mod(total, 12) + 1, dim = civil_days_in_month(y, m);
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
        tz = tz_utc();
    if (n == 0 || period_is_zero(p))
        return t;
    /* Calendar fields move the local wall clock; hours and smaller move the instant. */
    if (p->years || p->months || p->weeks || p->days) {
        int64_t off, local = util__tz_to_local(tz, t, &off);
        local = local_add_months(local, sat_mul((int64_t)p->years * 12, n));
        local = local_add_months(local, sat_mul(p->months, n));
        local =
            sat_add(local, sat_mul(sat_mul((int64_t)p->weeks * 7 + p->days, n), LS_MS_PER_DAY));
        t = util__tz_local_to_utc_hint(tz, local, off);
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
    int64_t k = util_floor_div(raw, months) * months;
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
    int64_t k = util_floor_div(sat_sub(local, origin), approx);
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
        int64_t k = util_floor_div(sat_sub(local, origin), fixed);
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
        tz = tz_utc();
    int64_t off, local = util__tz_to_local(tz, t, &off), unused;
    int64_t lorigin;
    if (origin != INT64_MIN)
        lorigin = util__tz_to_local(tz, origin, &unused);
    else /* 1970-01-01 local; weeks start on Monday 1970-01-05 */
        lorigin = (p->weeks && period_months(p) == 0) ? 4 * LS_MS_PER_DAY : 0;
    struct bucket b;
    bucket_of(local, p, lorigin, next_out != NULL, &b);
    int64_t r = util__tz_local_to_utc_hint(tz, b.start, off);
    if (r > t) {
        /* The bucket starts in a DST gap ending at or before t: take the gap's end. */
        struct tz_span sp;
        util__tz_lookup(tz, t, &sp);
        r = sp.start != INT64_MIN ? sp.start : t;
    }
    if (next_out)
        *next_out = util__tz_local_to_utc_hint(tz, b.next, off);
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

// clang-format off
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
// clang-format on

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

static int64_t ceil_div(int64_t a, int64_t b) { return -util_floor_div(-a, b); }

int64_t time_extract(int64_t t, enum time_unit u, const struct ls_tz *tz)
{
    if (u == TU_EPOCH)
        return t / 1000; /* Druid divides with Java's truncation */
    int64_t off, local = util__tz_to_local(tz, t, &off);
    int64_t days = util_floor_div(local, LS_MS_PER_DAY), week_year;
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
    case TU_DECADE: return c.year / 10; /* truncating, as Druid */
    case TU_CENTURY: return ceil_div(c.year, 100);
    case TU_MILLENNIUM: return ceil_div(c.year, 1000);
    case TU_WEEK:
    case TU_ISOYEAR:
        util__iso_week_of(days, &week_year, &week);
        return u == TU_WEEK ? week : week_year;
    case TU_EPOCH: break;
    }
    return 0;
}

/* Start of the ISO week-numbering year containing t, in tz. */
static int64_t floor_iso_year(int64_t t, const struct ls_tz *tz)
{
    int64_t off, local = util__tz_to_local(tz, t, &off), week_year;
    int week;
    util__iso_week_of(util_floor_div(local, LS_MS_PER_DAY), &week_year, &week);
    return util__tz_local_to_utc_hint(
        tz, sat_mul(util__iso_week1_monday(week_year), LS_MS_PER_DAY), off);
}

int64_t time_floor_unit(int64_t t, enum time_unit u, const struct ls_tz *tz)
{
    if (!tz)
        tz = tz_utc();
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

int time_interval_parse(const char *s, size_t n, int64_t *start, int64_t *end, struct lerr *err)
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
