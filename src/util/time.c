/*
 * time.c — ISO-8601 timestamps, read (a fixed-position fast path, then the
 * general forms: calendar, ordinal and week dates, basic and extended
 * times, fractions, offsets) and written, with Druid's semantics. The
 * interface of all the time files is time.h; what they share is in
 * time_int.h (civil.c < tz.c < time.c < period.c < joda.c).
 *
 * Entry points: time_parse_iso(), time_format_iso().
 *
 * Arithmetic on outside values (timestamps, period counts, years) saturates
 * instead of overflowing, in all the time files, so no input can cause
 * undefined behaviour; results for instants near the ends of the int64
 * range are clamped, not exact.
 */
#include "util/time_int.h"

/* ---- ISO-8601 timestamps: parsing ---------------------------------------- */

static unsigned dig(const char *s, size_t i) { return (unsigned)((unsigned char)s[i] - '0'); }

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
    if (wyear < -300000000 || wyear > 300000000 || w < 1 || w > util__iso_weeks_in_year(wyear) ||
        dow < 1 || dow > 7)
        return false;
    *days = util__iso_week1_monday(wyear) + (w - 1) * 7 + (dow - 1);
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
        return util__ymd_to_days(y, 1, 1, days);
    c->i++;
    if (cur_is(c, 'W') || cur_is(c, 'w')) {
        c->i++;
        return iso_week_date(c, y, days);
    }
    if (cur_digit_run(c) == 3) {
        int64_t doy;
        cur_digits(c, 3, &doy, NULL);
        if (doy < 1 || doy > 365 + civil_is_leap(y) || !util__ymd_to_days(y, 1, 1, days))
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
    return util__ymd_to_days(y, m, d, days);
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
            if (!util__tz_parse_offset(s, n, &c.i, &off))
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

size_t time_format_iso(int64_t ms, const struct ls_tz *tz, char *out, size_t cap)
{
    int64_t off;
    struct civil c;
    civil_from_ms(util__tz_to_local(tz, ms, &off), &c);
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
