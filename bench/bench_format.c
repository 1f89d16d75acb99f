/*
 * bench_format.c — throughput of the format module turning nd-json records
 * into input rows (src/format/), on realistic wiki-edit events, beside
 * jansson parsing the same records into a DOM in the same run.
 *
 * Generates BENCH_FORMAT_EVENTS (default 500,000) events with wikigen, then
 * runs, best of three passes each:
 *   declared   the 20 wiki fields declared (strings, booleans as long,
 *              numbers as long), as a typical streaming job
 *   discovery  only "time" declared, the other 19 fields discovered
 *   kafka      the declared case wrapped in the kafka format (metadata too)
 *   jansson    json_loadb + reading every member (the reference)
 * The batch arena is reset every 4096 records, as the ingest pipeline does.
 * Prints records/s and MB/s, and each case as a multiple of jansson.
 */
#include "format/format.h"
#include "util/util.h"
#include "util/wikigen.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct corpus {
    char *data;
    size_t *off; /* record i is data[off[i] .. off[i+1]-1), a '\n' excluded */
    size_t n;
};

static uint64_t fold(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t touch(uint64_t h, const struct sql_value *v)
{
    if (v->is_null)
        return fold(h, 7);
    if (v->type == SQL_STRING || v->type == SQL_JSON)
        return fold(h, v->v.s.n ? (unsigned char)v->v.s.p[0] + v->v.s.n : 0);
    return fold(h, (uint64_t)v->v.l);
}

static uint64_t run_format(struct format_parser *p, const struct corpus *c, bool kafka, long *bad)
{
    struct arena mem;
    /* One block holds a whole batch (4096 rows of ~512 bytes), so a reset
     * keeps it: smaller blocks are freed and re-faulted every batch, which
     * costs a third of the throughput. */
    arena_init(&mem, 4 << 20, 0);
    uint64_t h = 0;
    struct record_header hdr = {"env", 3, "prod", 4};
    for (size_t i = 0; i < c->n; i++) {
        if ((i & 4095) == 0)
            arena_reset(&mem);
        struct record r = {.data = c->data + c->off[i], .len = c->off[i + 1] - c->off[i] - 1};
        if (kafka) {
            r.key = "user-1";
            r.key_len = 6;
            r.headers = &hdr;
            r.nheaders = 1;
            r.has_timestamp = true;
            r.timestamp_ms = 1442018818771;
            r.topic = "wikipedia";
            r.topic_len = 9;
        }
        struct format_row row;
        struct lerr err;
        lerr_init(&err);
        if (format_parse(p, &r, &mem, &row, &err) == FORMAT_ERROR) {
            (*bad)++;
            continue;
        }
        for (uint32_t k = 0; k < row.nvalues; k++)
            h = touch(h, &row.values[k]);
        for (uint32_t k = 0; k < row.nextra; k++)
            h = touch(h, &row.extra[k]);
    }
    arena_destroy(&mem);
    return h;
}

static uint64_t run_jansson(const struct corpus *c, long *bad)
{
    uint64_t h = 0;
    for (size_t i = 0; i < c->n; i++) {
        json_error_t je;
        json_t *o = json_loadb(c->data + c->off[i], c->off[i + 1] - c->off[i] - 1, 0, &je);
        if (!o) {
            (*bad)++;
            continue;
        }
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
            h = fold(h, (unsigned char)k[0]);
            if (json_is_string(v))
                h = fold(h, json_string_length(v));
            else if (json_is_integer(v))
                h = fold(h, (uint64_t)json_integer_value(v));
            else if (json_is_real(v))
                h = fold(h, (uint64_t)json_real_value(v));
            else
                h = fold(h, json_typeof(v));
        }
        json_decref(o);
    }
    return h;
}

enum { CASE_DECLARED, CASE_DISCOVERY, CASE_KAFKA, CASE_JANSSON, NCASES };
static const char *const case_names[] = {"declared", "discovery", "kafka", "jansson"};

static struct format_parser *make_parser(int which)
{
    static const char *const wiki =
        "time:string,channel:string,cityName:string,comment:string,countryIsoCode:string,"
        "countryName:string,isAnonymous:long,isMinor:long,isNew:long,isRobot:long,"
        "isUnpatrolled:long,metroCode:long,namespace:string,page:string,regionIsoCode:string,"
        "regionName:string,user:string,delta:long,added:long,deleted:long";
    struct sql_field f[32];
    size_t n = 0;
    char spec[1024];
    snprintf(spec, sizeof spec, "%s", which == CASE_DISCOVERY ? "time:string" : wiki);
    for (char *tok = strtok(spec, ","); tok && n < 32; tok = strtok(NULL, ",")) {
        char *colon = strchr(tok, ':');
        *colon = '\0';
        f[n].name = strdup(tok); /* leaked: a few bytes for the life of the benchmark */
        f[n].name_len = strlen(tok);
        f[n].type = strcmp(colon + 1, "long") == 0 ? SQL_LONG : SQL_STRING;
        n++;
    }
    struct format_settings value = {.kind = FORMAT_NDJSON};
    struct format_settings kafka = {.kind = FORMAT_KAFKA, .value_format = &value};
    struct sql_schema sch = {f, n};
    struct lerr err;
    lerr_init(&err);
    struct format_parser *p = format_parser_new(which == CASE_KAFKA ? &kafka : &value, &sch,
                                                which == CASE_DISCOVERY, NULL, 0, &err);
    if (!p)
        fprintf(stderr, "bench_format: %s\n", err.msg);
    return p;
}

int main(void)
{
    const char *env = getenv("BENCH_FORMAT_EVENTS");
    size_t n = env ? strtoull(env, NULL, 10) : 500000;
    struct wikigen *g = wikigen_new(42);
    struct buf b;
    buf_init(&b, 0);
    struct corpus c = {.off = malloc((n + 1) * sizeof(size_t)), .n = n};
    if (!g || !c.off)
        return 1;
    for (size_t i = 0; i < n; i++) {
        c.off[i] = b.len;
        wikigen_next(g, 1442018818771LL + (int64_t)i, &b);
        buf_putc(&b, '\n');
    }
    c.off[n] = b.len;
    c.data = b.data;
    wikigen_free(g);
    double mb = (double)b.len / 1e6;
    printf("%zu wiki events, %.1f MB (%.0f bytes each)\n", n, mb, (double)b.len / (double)n);

    double best[NCASES];
    uint64_t sums[NCASES];
    for (int k = 0; k < NCASES; k++) {
        struct format_parser *p = k == CASE_JANSSON ? NULL : make_parser(k);
        if (k != CASE_JANSSON && !p)
            return 1;
        best[k] = 1e30;
        for (int pass = 0; pass < 3; pass++) {
            long bad = 0;
            int64_t t0 = util_mono_ns();
            sums[k] = k == CASE_JANSSON ? run_jansson(&c, &bad)
                                        : run_format(p, &c, k == CASE_KAFKA, &bad);
            double s = (double)(util_mono_ns() - t0) / 1e9;
            if (s < best[k])
                best[k] = s;
            if (bad) {
                fprintf(stderr, "bench_format: %s: %ld records failed\n", case_names[k], bad);
                return 1;
            }
        }
        format_parser_free(p);
    }
    for (int k = 0; k < NCASES; k++)
        printf("%-10s %10.0f records/s  %7.1f MB/s  %5.2fx jansson  (checksum %016llx)\n",
               case_names[k], (double)n / best[k], mb / best[k], best[CASE_JANSSON] / best[k],
               (unsigned long long)sums[k]);
    buf_free(&b);
    free(c.off);
    return 0;
}
