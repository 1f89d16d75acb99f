/*
 * tz.c — time zones from the system's TZif files (RFC 8536) with their
 * POSIX footer rules, fixed offsets, and the process-wide zone cache; the
 * offset in force at an instant and local time to UTC, with Druid's (Joda's)
 * choices in gaps and overlaps.
 *
 * Entry points: tz_get(), tz_utc(), tz_name(), tz_offset_at(),
 * tz_local_to_utc(); for the other time files util__tz_lookup(),
 * util__tz_to_local(), util__tz_local_to_utc_hint(), util__tz_parse_offset()
 * (time_int.h).
 *
 * Why one file of ~850 lines: one concern, a zone read from untrusted bytes
 * and looked up on every timestamp; the reader, the POSIX rules and the
 * lookups share the representation and its bounds.
 */
#include "util/time_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct ls_tz tz_utc_zone = {
    .name = "UTC",
    .fixed = true,
    .fixed_off = 0,
    .fixed_abbr = "UTC",
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
        int wd0 = (int)util_floor_mod(first + 4, 7); /* weekday of the 1st, 0 = Sunday */
        int day = 1 + (int)util_floor_mod(r->d - wd0, 7) + (r->w - 1) * 7;
        while (day > civil_days_in_month(y, r->n))
            day -= 7; /* week 5 means "the last" */
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

void util__tz_lookup(const struct ls_tz *tz, int64_t u, struct tz_span *sp)
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
    util__tz_lookup(tz, utc_ms, &sp);
    return sp.off;
}

/* utc + offset without overflow (the inline tz_utc_to_local does not saturate). */
int64_t util__tz_to_local(const struct ls_tz *tz, int64_t utc_ms, int64_t *off)
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
    struct tz_span sp[3]; /* previous, guess, next */
    int64_t u;
    util__tz_lookup(tz, sat_sub(local_ms, tz_offset_at(tz, local_ms)), &sp[1]);
    if (span_has_local(&sp[1], local_ms, &u) && sat_sub(u, sp[1].start) >= TZ_MARGIN &&
        sat_sub(sp[1].end, u) > TZ_MARGIN)
        return u;
    bool have_prev = sp[1].start != INT64_MIN, have_next = sp[1].end != INT64_MAX;
    if (have_prev)
        util__tz_lookup(tz, sp[1].start - 1, &sp[0]);
    if (have_next)
        util__tz_lookup(tz, sp[1].end, &sp[2]);
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
int64_t util__tz_local_to_utc_hint(const struct ls_tz *tz, int64_t local, int64_t hint)
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
    return (int64_t)v; /* two's complement conversion, defined by gcc/clang */
}

/* Reads a 44-byte header at `at`; checks the magic and caps every count. */
static bool tzif_header(const uint8_t *p, size_t n, size_t at, struct tzif_counts *c)
{
    if (n < 44 || at > n - 44 || memcmp(p + at, "TZif", 4) != 0)
        return false;
    const uint8_t *h = p + at + 20;
    *c = (struct tzif_counts){be32(h),      be32(h + 4),  be32(h + 8),
                              be32(h + 12), be32(h + 16), be32(h + 20)};
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
        if (secs < -lim) { /* "big bang" sentinels: the type holds from the start */
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
    r->std_off = -secs * 1000; /* POSIX offsets count west of Greenwich */
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
    if (i == n) { /* no rule given: POSIX leaves it open; use the US rule */
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
        return true; /* nothing to do, or no room: lookups evaluate the rule instead */
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
        return true; /* transitions spread over too long a span: binary search it is */
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
            return false; /* no ".", "..", or hidden components */
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
bool util__tz_parse_offset(const char *s, size_t n, size_t *i, int64_t *off_ms)
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
    *off_ms = sign *
              ((int64_t)v[0] * LS_MS_PER_HOUR + v[1] * LS_MS_PER_MINUTE + v[2] * LS_MS_PER_SECOND);
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
static size_t tz_cache_used; /* guarded by tz_cache_mu */

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
        if (n > 6 || !util__tz_parse_offset(s, n, &i, &off) || i != n) {
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
