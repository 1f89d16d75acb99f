/*
 * test_wikigen.c — the wiki-edit event generator (src/util/wikigen.c):
 * determinism, every line valid JSON (jansson) with the 20 fields in order
 * and of the right types, size and null rates like the Druid quickstart data,
 * #en.wikipedia on top, delta = added - deleted, the time field, and a
 * capped buffer failing cleanly.
 */
#include "check.h"
#include "util/wikigen.h"

#include <jansson.h>
#include <stdlib.h>

#define N_EVENTS 10000
#define T0 1442018818771LL /* 2015-09-12T00:46:58.771Z */

static const char *const fields[20] = {
    "time",          "channel",     "cityName",  "comment", "countryIsoCode",
    "countryName",   "isAnonymous", "isMinor",   "isNew",   "isRobot",
    "isUnpatrolled", "metroCode",   "namespace", "page",    "regionIsoCode",
    "regionName",    "user",        "delta",     "added",   "deleted"};

static void test_determinism(void)
{
    struct wikigen *a = wikigen_new(123), *b = wikigen_new(123), *c = wikigen_new(124);
    struct buf ba, bb, bc;
    buf_init(&ba, 0);
    buf_init(&bb, 0);
    buf_init(&bc, 0);
    for (int i = 0; i < 2000; i++) {
        wikigen_next(a, T0 + i * 1000, &ba);
        buf_putc(&ba, '\n');
        wikigen_next(b, T0 + i * 1000, &bb);
        buf_putc(&bb, '\n');
        wikigen_next(c, T0 + i * 1000, &bc);
        buf_putc(&bc, '\n');
    }
    CHECK_EQ_INT(ba.len, bb.len);
    CHECK(ba.len == bb.len && memcmp(ba.data, bb.data, ba.len) == 0);
    CHECK(ba.len != bc.len || memcmp(ba.data, bc.data, ba.len) != 0);
    buf_free(&ba);
    buf_free(&bb);
    buf_free(&bc);
    wikigen_free(a);
    wikigen_free(b);
    wikigen_free(c);
}

static void test_shape(void)
{
    struct wikigen *g = wikigen_new(42);
    struct buf b;
    buf_init(&b, 0);
    size_t total = 0, max_len = 0;
    long bad_json = 0, bad_fields = 0, bad_types = 0, bad_delta = 0, bad_time = 0;
    long nulls[20] = {0};
    long en = 0, vi = 0, other_top = 0, anon = 0, robot = 0, geo_without_anon = 0, non_ascii = 0;
    /* channel counts, to find the most common one */
    const char *chan[64];
    long chan_n[64];
    size_t nchan = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        buf_reset(&b);
        int64_t t = T0 + (int64_t)i * 2203;
        size_t n = wikigen_next(g, t, &b);
        CHECK_EQ_INT(n, b.len);
        total += n;
        if (n > max_len)
            max_len = n;
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)b.data[k] >= 0x80) {
                non_ascii++;
                break;
            }
        json_error_t je;
        json_t *j = json_loadb(b.data, n, 0, &je);
        if (!j || !json_is_object(j)) {
            if (bad_json++ < 3)
                fprintf(stderr, "bad JSON (%s): %s\n", je.text, b.data);
            json_decref(j);
            continue;
        }
        /* the 20 fields, in order */
        if (json_object_size(j) != 20)
            bad_fields++;
        const char *prev = b.data;
        for (int f = 0; f < 20; f++) {
            char quoted[40];
            snprintf(quoted, sizeof quoted, "\"%s\":", fields[f]);
            const char *at = strstr(prev, quoted);
            if (!at || !json_object_get(j, fields[f])) {
                bad_fields++;
                break;
            }
            prev = at;
            json_t *v = json_object_get(j, fields[f]);
            if (json_is_null(v))
                nulls[f]++;
            bool ok;
            if (f == 6 || (f >= 7 && f <= 10))
                ok = json_is_boolean(v);
            else if (f >= 17)
                ok = json_is_integer(v);
            else if (f == 11)
                ok = json_is_null(v) || json_is_integer(v);
            else if (f == 2 || f == 4 || f == 5 || f == 14 || f == 15)
                ok = json_is_null(v) || json_is_string(v);
            else
                ok = json_is_string(v) && json_string_length(v) > 0;
            if (!ok && bad_types++ < 3)
                fprintf(stderr, "bad type of %s: %s\n", fields[f], b.data);
        }
        json_t *d = json_object_get(j, "delta"), *ad = json_object_get(j, "added"),
               *de = json_object_get(j, "deleted");
        if (json_integer_value(d) != json_integer_value(ad) - json_integer_value(de) ||
            json_integer_value(ad) < 0 || json_integer_value(de) < 0)
            bad_delta++;
        char want[32];
        util_format_iso_ms(t, want);
        const char *got = json_string_value(json_object_get(j, "time"));
        if (!got || strcmp(got, want) != 0) {
            if (bad_time++ < 3)
                fprintf(stderr, "time %s, want %s\n", got ? got : "?", want);
        }
        bool is_anon = json_is_true(json_object_get(j, "isAnonymous"));
        anon += is_anon;
        robot += json_is_true(json_object_get(j, "isRobot"));
        if (!is_anon && !json_is_null(json_object_get(j, "countryName")))
            geo_without_anon++;
        const char *ch = json_string_value(json_object_get(j, "channel"));
        if (ch) {
            en += strcmp(ch, "#en.wikipedia") == 0;
            vi += strcmp(ch, "#vi.wikipedia") == 0;
            size_t c = 0;
            while (c < nchan && strcmp(chan[c], ch) != 0)
                c++;
            if (c == nchan && nchan < 64) {
                chan[nchan] = strdup(ch);
                chan_n[nchan++] = 0;
            }
            if (c < nchan)
                chan_n[c]++;
        }
        json_decref(j);
    }
    for (size_t c = 0; c < nchan; c++) {
        if (strcmp(chan[c], "#en.wikipedia") != 0 && chan_n[c] >= en)
            other_top++;
        free((void *)chan[c]);
    }
    double avg = (double)total / N_EVENTS;
    printf("wikigen: %d events, avg %.1f bytes (max %zu), %zu channels, en %.1f%%, vi %.1f%%, "
           "robot %.1f%%, anonymous %.1f%%, non-ASCII %.1f%%; null: city %.1f%% country %.1f%% "
           "region %.1f%% metro %.1f%%\n",
           N_EVENTS, avg, max_len, nchan, 100.0 * en / N_EVENTS, 100.0 * vi / N_EVENTS,
           100.0 * robot / N_EVENTS, 100.0 * anon / N_EVENTS, 100.0 * non_ascii / N_EVENTS,
           100.0 * nulls[2] / N_EVENTS, 100.0 * nulls[5] / N_EVENTS, 100.0 * nulls[15] / N_EVENTS,
           100.0 * nulls[11] / N_EVENTS);
    CHECK_EQ_INT(bad_json, 0);
    CHECK_EQ_INT(bad_fields, 0);
    CHECK_EQ_INT(bad_types, 0);
    CHECK_EQ_INT(bad_delta, 0);
    CHECK_EQ_INT(bad_time, 0);
    CHECK_MSG(avg >= 380 && avg <= 480, "average size %.1f", avg);
    CHECK(max_len <= WIKIGEN_MAX_EVENT);
    /* the quickstart data: en ~29%, vi ~25%, ~50 channels */
    CHECK_EQ_INT(other_top, 0);
    CHECK_MSG(en > N_EVENTS * 0.25 && en < N_EVENTS * 0.34, "en %ld", en);
    CHECK_MSG(vi > N_EVENTS * 0.20 && vi < N_EVENTS * 0.30, "vi %ld", vi);
    CHECK_MSG(nchan >= 40, "%zu channels", nchan);
    CHECK_MSG(robot > N_EVENTS * 0.33 && robot < N_EVENTS * 0.45, "robot %ld", robot);
    CHECK_MSG(anon > N_EVENTS * 0.07 && anon < N_EVENTS * 0.13, "anonymous %ld", anon);
    CHECK_EQ_INT(geo_without_anon, 0);
    /* null rates: city ~94.5%, country ~90%, region ~94.6%, metro ~98.9% */
    CHECK_MSG(nulls[2] > N_EVENTS * 0.91 && nulls[2] < N_EVENTS * 0.97, "city nulls %ld",
              nulls[2]);
    CHECK_MSG(nulls[5] > N_EVENTS * 0.87 && nulls[5] < N_EVENTS * 0.93, "country nulls %ld",
              nulls[5]);
    CHECK_EQ_INT(nulls[4], nulls[5]);
    CHECK_MSG(nulls[15] > N_EVENTS * 0.91 && nulls[15] < N_EVENTS * 0.97, "region nulls %ld",
              nulls[15]);
    CHECK_MSG(nulls[11] > N_EVENTS * 0.96 && nulls[11] < N_EVENTS * 0.995, "metro nulls %ld",
              nulls[11]);
    /* never null */
    CHECK_EQ_INT(nulls[0] + nulls[1] + nulls[3] + nulls[12] + nulls[13] + nulls[16], 0);
    CHECK_MSG(non_ascii > N_EVENTS * 0.3, "non-ASCII %ld", non_ascii);
    buf_free(&b);
    wikigen_free(g);
}

static void test_cap(void)
{
    struct wikigen *g = wikigen_new(1);
    struct buf b;
    buf_init(&b, 100);
    CHECK_EQ_INT(wikigen_next(g, T0, &b), 0);
    CHECK(b.failed);
    buf_free(&b);
    /* times before 1970 and far ahead still render */
    buf_init(&b, 0);
    CHECK(wikigen_next(g, -1, &b) > 0);
    CHECK(strstr(b.data, "\"time\":\"1969-12-31T23:59:59.999Z\"") != NULL);
    buf_reset(&b);
    CHECK(wikigen_next(g, 4102444800000LL, &b) > 0);
    CHECK(strstr(b.data, "\"time\":\"2100-01-01T00:00:00.000Z\"") != NULL);
    buf_free(&b);
    wikigen_free(g);
}

int main(void)
{
    test_determinism();
    test_shape();
    test_cap();
    return check_summary();
}
