/*
 * joda.c — Joda-style date patterns ("yyyy-MM-dd'T'HH:mm:ss.SSSZZ"), as
 * Druid's TIME_PARSE, TIME_FORMAT and timestampSpec formats use them:
 * compiled once, then used to parse and to format.
 *
 * Entry points: joda_compile() / joda_free(), joda_parse(), joda_format().
 */
#include "util/time_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Joda patterns: compiling ---------------------------------------------- */

// clang-format off
enum jkind {
    JK_LIT, JK_ERA, JK_YEAR, JK_YEAR_OF_ERA, JK_WEEKYEAR, JK_CENTURY, JK_DOW_NUM, JK_DOW_TEXT,
    JK_DOY, JK_MONTH, JK_MONTH_TEXT, JK_DAY, JK_HALFDAY, JK_HOUR0_11, JK_HOUR1_12, JK_HOUR0_23,
    JK_HOUR1_24, JK_MINUTE, JK_SECOND, JK_FRACTION, JK_WEEK, JK_ZONE_NAME, JK_ZONE_OFFSET,
    JK_ZONE_ID
};
// clang-format on

struct jop {
    uint8_t kind;
    uint8_t count;      /* letters in the run, capped at JODA_MAX_COUNT */
    uint8_t max_digits; /* parsing reads at most this many digits */
    bool exact;         /* ... and exactly that many */
    bool two_digit;     /* yy, YY, xx: two-digit year pivoting around 2000 */
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
// clang-format off
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
// clang-format on

static bool jop_numeric(const struct jop *o)
{
    // clang-format off
    switch (o->kind) {
    case JK_YEAR: case JK_YEAR_OF_ERA: case JK_WEEKYEAR: case JK_CENTURY: case JK_DOW_NUM:
    case JK_DOY: case JK_MONTH: case JK_DAY: case JK_HOUR0_11: case JK_HOUR1_12:
    case JK_HOUR0_23: case JK_HOUR1_24: case JK_MINUTE: case JK_SECOND: case JK_FRACTION:
    case JK_WEEK:
        return true;
    }
    // clang-format on
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

static const char *const month_names[12] = {"January",   "February", "March",    "April",
                                            "May",       "June",     "July",     "August",
                                            "September", "October",  "November", "December"};
static const char *const day_names[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};
static const char *const halfday_names[2] = {"AM", "PM"};
static const char *const era_names[2] = {"BC", "AD"};

/* The zone abbreviations Joda parses for 'z' (DateTimeUtils.getDefaultTimeZoneNames). */
// clang-format off
static const struct {
    const char *abbr, *zone;
} zone_abbrs[] = {
    {"UT", "UTC"},  {"UTC", "UTC"}, {"GMT", "UTC"},
    {"EST", "America/New_York"},    {"EDT", "America/New_York"},
    {"CST", "America/Chicago"},     {"CDT", "America/Chicago"},
    {"MST", "America/Denver"},      {"MDT", "America/Denver"},
    {"PST", "America/Los_Angeles"}, {"PDT", "America/Los_Angeles"},
};
// clang-format on

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
static bool jp_op(const struct joda_fmt *f, const struct jop *o, struct cur *c, struct jfields *jf)
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
    case JK_HOUR0_11:
    case JK_HOUR1_12:
    case JK_HOUR0_23:
    case JK_HOUR1_24: jf->hour_kind = o->kind; return jp_number(c, o, false, &jf->hour);
    case JK_MINUTE: return jp_number(c, o, false, &jf->minute) && jf->minute <= 59;
    case JK_SECOND: return jp_number(c, o, false, &jf->second) && jf->second <= 59;
    case JK_FRACTION: return jp_fraction(c, o, &jf->millis);
    case JK_WEEK: return jp_number(c, o, false, &jf->week) && jf->week >= 1;
    case JK_ZONE_NAME: return jp_zone_abbr(c, jf);
    case JK_ZONE_OFFSET: return (jf->has_off = util__tz_parse_offset(c->s, c->n, &c->i, &jf->off));
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
    default: h = 0;
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
        if (wy < -300000000 || wy > 300000000 || w > util__iso_weeks_in_year(wy))
            return false;
        *days = util__iso_week1_monday(wy) + (w - 1) * 7 + (jf->dow ? jf->dow - 1 : 0);
        return *days >= -DAYS_LIMIT && *days <= DAYS_LIMIT;
    }
    if (jf->doy && !jf->month && !jf->day) {
        if (jf->doy > 365 + civil_is_leap(year) || !util__ymd_to_days(year, 1, 1, days))
            return false;
        *days += jf->doy - 1;
    } else if (!util__ymd_to_days(year, jf->month ? jf->month : 1, jf->day ? jf->day : 1, days)) {
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
        util__tz_lookup(x->tz, x->t, &sp);
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
    struct jctx x = {.t = t, .tz = tz ? tz : tz_utc()};
    int64_t local = util__tz_to_local(x.tz, t, &x.off),
            days = util_floor_div(local, LS_MS_PER_DAY);
    civil_from_ms(local, &x.c);
    x.dow = civil_day_of_week(days);
    x.doy = (int)(days - civil_days_from_ymd(x.c.year, 1, 1) + 1);
    util__iso_week_of(days, &x.week_year, &x.week);
    for (size_t i = 0; i < f->nops; i++)
        jf_op(&w, f, &f->ops[i], &x);
    out[w.len] = '\0';
    return w.len;
}
