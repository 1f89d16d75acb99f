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
 * and then, on bench_protobuf's PageView events (tests/e2e/protobuf_client/
 * event.proto; its descriptor from protoc, the case skipped without it):
 *   pb-json    the events as nd-json, with bench_protobuf's inputSchema and
 *              flattenSpec path ($.user.name)
 *   protobuf   the same events as Protobuf, the same schema and path
 * with protobuf as a multiple of pb-json: the Kafka benchmark's ratio
 * without Kafka, the server or the table.
 * The batch arena is reset every 4096 records, as the ingest pipeline does.
 * Prints records/s and MB/s, and each case as a multiple of jansson.
 */
#include "format/format.h"
#include "util/util.h"
#include "util/wikigen.h"

#include "sql/sql.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* ---- bench_protobuf's events ------------------------------------------------- */

static void pb_varint(struct buf *b, uint64_t v)
{
    char t[10];
    size_t n = 0;
    do {
        t[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_append(b, t, n);
}

static void pb_len(struct buf *b, int field, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    buf_append(b, p, n);
}

static void pb_str(struct buf *b, int field, const char *s) { pb_len(b, field, s, strlen(s)); }

static void pb_int(struct buf *b, int field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}

/* Event i of client.mjs's event(i, base_ms), as protobufjs encodes it (proto3:
 * zero scalars left out, map values always written, deltas packed), into pb,
 * and as its asJson() writes it into js. */
static void pageview(int64_t i, int64_t base_ms, struct buf *pb, struct buf *js)
{
    int64_t ms = base_ms + i % 1000;
    struct buf m;
    buf_init(&m, 0);
    pb_int(&m, 1, (uint64_t)(ms / 1000));
    if (ms % 1000)
        pb_int(&m, 2, (uint64_t)(ms % 1000 * 1000000));
    pb_len(pb, 1, m.data, m.len);
    char t[32];
    snprintf(t, sizeof t, "p%d", (int)(i % 13));
    pb_str(pb, 2, t);
    if (i)
        pb_int(pb, 3, (uint64_t)i);
    buf_reset(&m);
    snprintf(t, sizeof t, "u%d", (int)(i % 7));
    pb_str(&m, 1, t);
    pb_int(&m, 2, (uint64_t)(20 + i % 50));
    pb_len(pb, 4, m.data, m.len);
    if (i % 3) {
        pb_str(pb, 5, "a");
        snprintf(t, sizeof t, "t%d", (int)(i % 5));
        pb_str(pb, 5, t);
    }
    buf_reset(&m);
    pb_str(&m, 1, "clicks");
    pb_int(&m, 2, (uint64_t)(i % 4));
    pb_len(pb, 6, m.data, m.len);
    buf_reset(&m);
    pb_str(&m, 1, "views");
    pb_int(&m, 2, (uint64_t)(i % 9));
    pb_len(pb, 6, m.data, m.len);
    pb_str(pb, i % 2 ? 8 : 7, i % 2 ? "ios" : "chrome");
    if (i % 3)
        pb_int(pb, 9, (uint64_t)(i % 3));
    if (i) {
        double dur = (double)i / 4;
        uint64_t u;
        memcpy(&u, &dur, sizeof u);
        pb_varint(pb, 10 << 3 | 1);
        for (int k = 0; k < 8; k++)
            buf_putc(pb, (char)(u >> (8 * k)));
    }
    buf_reset(&m);
    pb_varint(&m, (uint64_t)(2 * i - 1 + (i == 0))); /* zigzag(-i) */
    pb_varint(&m, (uint64_t)(2 * i));                /* zigzag(i) */
    pb_len(pb, 11, m.data, m.len);
    buf_free(&m);

    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    static const char *const kinds[] = {"KIND_UNKNOWN", "VIEW", "CLICK"};
    static const char *const quarters[] = {"", ".25", ".5", ".75"};
    buf_printf(js,
               "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"page\":\"p%d\",\"n\":%lld,"
               "\"user\":{\"name\":\"u%d\",\"age\":%d},",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
               (int)(ms % 1000), (int)(i % 13), (long long)i, (int)(i % 7), (int)(20 + i % 50));
    if (i % 3)
        buf_printf(js, "\"tags\":[\"a\",\"t%d\"],", (int)(i % 5));
    else
        buf_printf(js, "\"tags\":[],");
    buf_printf(js,
               "\"counters\":{\"clicks\":%d,\"views\":%d},\"%s\":\"%s\",\"kind\":\"%s\","
               "\"dur\":%lld%s,\"deltas\":[%s%lld,%lld]}",
               (int)(i % 4), (int)(i % 9), i % 2 ? "app" : "web", i % 2 ? "ios" : "chrome",
               kinds[i % 3], (long long)(i / 4), quarters[i % 4], i ? "-" : "", (long long)i,
               (long long)i);
}

/* tests/e2e/protobuf_client/event.proto's FileDescriptorSet (protoc), as base64;
 * NULL without protoc. */
static char *pageview_descriptor(void)
{
    char path[] = "/tmp/bench_format_pbXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "protoc --include_imports --descriptor_set_out=%s -I tests/e2e/protobuf_client "
             "-I /usr/include tests/e2e/protobuf_client/event.proto 2>/dev/null",
             path);
    char *b64 = NULL;
    struct buf set, out;
    buf_init(&set, 0);
    buf_init(&out, 0);
    FILE *f = system(cmd) == 0 ? fopen(path, "rb") : NULL;
    if (f) {
        char t[4096];
        size_t n;
        while ((n = fread(t, 1, sizeof t, f)) > 0)
            buf_append(&set, t, n);
        fclose(f);
        if (set.len && sql_base64_encode(set.data, set.len, &out))
            b64 = strndup(out.data, out.len);
    }
    unlink(path);
    buf_free(&set);
    buf_free(&out);
    return b64;
}

/* bench_protobuf's job: its inputSchema and flattenSpec, as Protobuf (desc) or nd-json. */
static struct format_parser *pageview_parser(const char *desc)
{
    static struct sql_field f[] = {
        {.name = "ts", .name_len = 2, .type = SQL_STRING},
        {.name = "page", .name_len = 4, .type = SQL_STRING},
        {.name = "n", .name_len = 1, .type = SQL_LONG},
        {.name = "user_name", .name_len = 9, .type = SQL_STRING},
        {.name = "kind", .name_len = 4, .type = SQL_STRING},
        {.name = "dur", .name_len = 3, .type = SQL_DOUBLE},
        {.name = "tags", .name_len = 4, .type = SQL_JSON},
    };
    static const struct format_flatten_field flat = {
        .type = FORMAT_FLATTEN_PATH, .name = "user_name", .expr = "$.user.name"};
    struct format_settings fs = {.kind = desc ? FORMAT_PROTOBUF : FORMAT_NDJSON,
                                 .flatten = &flat,
                                 .nflatten = 1,
                                 .pb_descriptor = desc,
                                 .pb_message_type = "demo.PageView"};
    struct sql_schema sch = {f, sizeof f / sizeof *f};
    struct lerr err;
    lerr_init(&err);
    struct format_parser *p = format_parser_new(&fs, &sch, false, NULL, 0, &err);
    if (!p)
        fprintf(stderr, "bench_format: %s\n", err.msg);
    return p;
}

static double best_of_3(struct format_parser *p, const struct corpus *c, uint64_t *sum)
{
    double best = 1e30;
    for (int pass = 0; pass < 3; pass++) {
        long bad = 0;
        int64_t t0 = util_mono_ns();
        *sum = run_format(p, c, false, &bad);
        double s = (double)(util_mono_ns() - t0) / 1e9;
        if (s < best)
            best = s;
        if (bad) {
            fprintf(stderr, "bench_format: %ld PageView records failed\n", bad);
            return -1;
        }
    }
    return best;
}

/* The pb-json and protobuf cases. 0, or 1 on failure. */
static int run_pageviews(size_t n)
{
    char *desc = pageview_descriptor();
    if (!desc) {
        printf("protobuf   skipped: protoc did not write event.proto's descriptor\n");
        return 0;
    }
    struct buf pb, js;
    buf_init(&pb, 0);
    buf_init(&js, 0);
    struct corpus cp = {.off = malloc((n + 1) * sizeof(size_t)), .n = n};
    struct corpus cj = {.off = malloc((n + 1) * sizeof(size_t)), .n = n};
    if (!cp.off || !cj.off)
        return 1;
    for (size_t i = 0; i < n; i++) {
        cp.off[i] = pb.len;
        cj.off[i] = js.len;
        pageview((int64_t)i, 1765000000000LL, &pb, &js);
        buf_putc(&pb, '\n'); /* not part of the record (run_format) */
        buf_putc(&js, '\n');
    }
    cp.off[n] = pb.len;
    cj.off[n] = js.len;
    cp.data = pb.data;
    cj.data = js.data;
    struct format_parser *pp = pageview_parser(desc), *pj = pageview_parser(NULL);
    if (!pp || !pj)
        return 1;
    uint64_t sp, sj;
    double tj = best_of_3(pj, &cj, &sj), tp = best_of_3(pp, &cp, &sp);
    if (tj < 0 || tp < 0)
        return 1;
    printf("pb-json    %10.0f records/s  %7.1f MB/s  (%.0f bytes each; checksum %016llx)\n",
           (double)n / tj, (double)(js.len - n) / 1e6 / tj, (double)(js.len - n) / (double)n,
           (unsigned long long)sj);
    printf("protobuf   %10.0f records/s  %7.1f MB/s  (%.0f bytes each; checksum %016llx)  "
           "%.2fx pb-json\n",
           (double)n / tp, (double)(pb.len - n) / 1e6 / tp, (double)(pb.len - n) / (double)n,
           (unsigned long long)sp, tj / tp);
    format_parser_free(pp);
    format_parser_free(pj);
    free(desc);
    buf_free(&pb);
    buf_free(&js);
    free(cp.off);
    free(cj.off);
    return 0;
}

int main(void)
{
    const char *env = getenv("BENCH_FORMAT_EVENTS");
    size_t n = env ? strtoull(env, NULL, 10) : 500000;
    if (getenv("BENCH_FORMAT_PROTOBUF_ONLY")) /* the protobuf cases alone */
        return run_pageviews(n);
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
    return run_pageviews(n);
}
