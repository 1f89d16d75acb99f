/*
 * civil.c — the proleptic Gregorian calendar on day numbers (days since
 * 1970-01-01): floor division, leap years, y-m-d to and from day numbers and
 * milliseconds, weekdays and ISO weeks. The bottom of the time files
 * (civil.c < tz.c < time.c < period.c < joda.c; time_int.h holds what they
 * share, time.h their interface).
 *
 * Entry points: util_floor_div() / util_floor_mod(), civil_*(); for the
 * other time files util__iso_week_of() and friends (time_int.h).
 */
#include "util/time_int.h"

/* ---- civil calendar --------------------------------------------------- */

int64_t util_floor_div(int64_t a, int64_t b)
{
    if (b == 0)
        return 0; /* documented as a precondition; never divide by zero */
    if (b == -1)
        return a == INT64_MIN ? INT64_MAX : -a;
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t util_floor_mod(int64_t a, int64_t b)
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
    int64_t days = util_floor_div(ms, LS_MS_PER_DAY);
    int64_t rem = util_floor_mod(ms, LS_MS_PER_DAY); /* days * DAY overflows at INT64_MIN */
    int64_t y;
    int m, d;
    civil_ymd_from_days(days, &y, &m, &d);
    out->year = (int32_t)y; /* |y| <= 292 million for any int64 ms */
    out->month = m;
    out->day = d;
    out->hour = (int32_t)(rem / LS_MS_PER_HOUR);
    out->minute = (int32_t)(rem / LS_MS_PER_MINUTE % 60);
    out->second = (int32_t)(rem / LS_MS_PER_SECOND % 60);
    out->millis = (int32_t)(rem % 1000);
}

/* 1970-01-01 was a Thursday (ISO day 4). */
int civil_day_of_week(int64_t days) { return (int)util_floor_mod(sat_add(days, 3), 7) + 1; }

/* The Monday that starts ISO week 1 of ISO year y (the week with Jan 4). */
int64_t util__iso_week1_monday(int64_t y)
{
    int64_t jan4 = civil_days_from_ymd(y, 1, 4);
    return jan4 - (civil_day_of_week(jan4) - 1);
}

/* ISO week-numbering year and week (1..53) of a day number. */
void util__iso_week_of(int64_t days, int64_t *week_year, int *week)
{
    int64_t thursday = days - (civil_day_of_week(days) - 1) + 3;
    int64_t y;
    int m, d;
    civil_ymd_from_days(thursday, &y, &m, &d);
    *week_year = y;
    *week = (int)((thursday - civil_days_from_ymd(y, 1, 1)) / 7 + 1);
}

int util__iso_weeks_in_year(int64_t y)
{
    return (int)((util__iso_week1_monday(y + 1) - util__iso_week1_monday(y)) / 7);
}

/* Day number of a checked y-m-d; false if the date does not exist or is out of range. */
bool util__ymd_to_days(int64_t y, int64_t m, int64_t d, int64_t *days)
{
    if (m < 1 || m > 12 || d < 1 || d > civil_days_in_month(y, (int)m))
        return false;
    *days = civil_days_from_ymd(y, (int)m, (int)d);
    return *days >= -DAYS_LIMIT && *days <= DAYS_LIMIT;
}
