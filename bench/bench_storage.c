/*
 * bench_storage.c — storage on a 10M-row wiki-like detail table (page with
 * Zipf skew, channel, user, added/deleted/delta, __time) built in memory,
 * persisted to segments every 2M rows, then measured beside a plain
 * reference run in the same process:
 *
 *   scan      full decode of a LONG column   vs  summing an uncompressed int64 array
 *   filter    COUNT WHERE channel = '#en.wikipedia' through string bitmaps
 *                                            vs  comparing an uncompressed id array
 *   group by  page, COUNT, top 10, on dictionary ids
 *                                            vs  hashing the page strings row by row
 *   size      segment bytes                  vs  gzip -6 of the same rows as nd-json,
 *             for a persisted segment and for two compacted into one
 *
 * Rows/s figures are per core (thread CPU time), best of several runs.
 * BENCH_ROWS overrides 10,000,000.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <roaring/roaring.h>

#include "storage/storage.h"

#include "bench_zipf.h"

#define SEG_ROWS 2000000
#define NPAGES 1000000
#define NUSERS 200000
#define NCHANNELS 48
#define T0 1442016000000LL /* 2015-09-12, the wikiticker day */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* CPU time of this thread: the machine may be shared, and the figures are
 * per core anyway. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the data ------------------------------------------------------------- */

struct data {
    uint64_t n;
    int64_t *time;
    uint32_t *page, *user, *channel; /* ranks */
    int64_t *added, *deleted, *delta;
    char **page_names, **user_names, **channel_names;
    uint32_t *page_len, *user_len, *channel_len;
};

static char *fmt(const char *f, uint32_t i)
{
    char tmp[96];
    int n = snprintf(tmp, sizeof tmp, f, i);
    char *s = malloc((size_t)n + 1);
    memcpy(s, tmp, (size_t)n + 1);
    return s;
}

static void gen(struct data *d, uint64_t n)
{
    static const char *const langs[] = {"en", "it", "vi", "de", "fr", "ru", "es", "ja",
                                        "zh", "pl", "sv", "uk", "pt", "nl", "ko", "ar"};
    d->n = n;
    d->time = malloc(n * 8);
    d->page = malloc(n * 4);
    d->user = malloc(n * 4);
    d->channel = malloc(n * 4);
    d->added = malloc(n * 8);
    d->deleted = malloc(n * 8);
    d->delta = malloc(n * 8);
    d->page_names = malloc(NPAGES * sizeof(char *));
    d->user_names = malloc(NUSERS * sizeof(char *));
    d->channel_names = malloc(NCHANNELS * sizeof(char *));
    d->page_len = malloc(NPAGES * 4);
    d->user_len = malloc(NUSERS * 4);
    d->channel_len = malloc(NCHANNELS * 4);
    for (uint32_t i = 0; i < NPAGES; i++) {
        d->page_names[i] = fmt(i % 7 == 0    ? "Talk:Article_%u"
                               : i % 11 == 0 ? "Café_Ωmega_%u"
                                             : "Article_%u",
                               i);
        d->page_len[i] = (uint32_t)strlen(d->page_names[i]);
    }
    for (uint32_t i = 0; i < NUSERS; i++) {
        d->user_names[i] = i % 5 == 0 ? fmt("%u.168.12.9", i) : fmt("User_%u", i);
        d->user_len[i] = (uint32_t)strlen(d->user_names[i]);
    }
    for (uint32_t i = 0; i < NCHANNELS; i++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "#%s.%s", langs[i % 16],
                 i < 16   ? "wikipedia"
                 : i < 32 ? "wiktionary"
                          : "wikinews");
        d->channel_names[i] = strdup(tmp);
        d->channel_len[i] = (uint32_t)strlen(tmp);
    }
    struct zipf zp, zu, zc;
    zipf_init(&zp, NPAGES, 1.05);
    zipf_init(&zu, NUSERS, 1.1);
    zipf_init(&zc, NCHANNELS, 1.6); /* #en.wikipedia about a third */
    for (uint64_t i = 0; i < n; i++) {
        /* a day of edits, roughly in arrival order */
        d->time[i] = T0 + (int64_t)((double)i * 86399000.0 / (double)n) + (int64_t)(rnd() % 200);
        d->page[i] = zipf_rank(&zp, unit());
        d->user[i] = zipf_rank(&zu, unit());
        d->channel[i] = zipf_rank(&zc, unit());
        d->added[i] = rnd() % 4 == 0 ? 0 : (int64_t)exp(unit() * 9);
        d->deleted[i] = rnd() % 3 == 0 ? (int64_t)exp(unit() * 7) : 0;
        d->delta[i] = d->added[i] - d->deleted[i];
    }
    free(zp.cdf);
    free(zu.cdf);
    free(zc.cdf);
}

/* ---- build and persist --------------------------------------------------- */

static const struct storage_column cols[] = {
    {.name = "channel", .type = SQL_STRING}, {.name = "page", .type = SQL_STRING},
    {.name = "user", .type = SQL_STRING},    {.name = "added", .type = SQL_LONG},
    {.name = "deleted", .type = SQL_LONG},   {.name = "delta", .type = SQL_LONG},
};
enum { C_CHANNEL = 1, C_PAGE, C_USER, C_ADDED, C_DELETED, C_DELTA };

struct seglist {
    uint64_t bytes, nsegs, first_bytes;
    char *names[64]; /* persisted segments, in row order */
    /* the compacted segment: its bytes and the persisted ones it replaced */
    uint64_t merged_bytes, merged_rows;
    int merged_lo, merged_hi;
};

static int commit(void *ctx, const struct storage_segment_info *a, size_t na,
                  const struct storage_segment_info *r, size_t nr, struct lerr *err)
{
    (void)err;
    struct seglist *s = ctx;
    if (nr) { /* compaction: which persisted segments, so which rows */
        s->merged_lo = 64;
        s->merged_hi = -1;
        for (size_t i = 0; i < nr; i++)
            for (int k = 0; k < 64 && k < (int)s->nsegs; k++)
                if (s->names[k] && strcmp(s->names[k], r[i].name) == 0) {
                    s->merged_lo = k < s->merged_lo ? k : s->merged_lo;
                    s->merged_hi = k > s->merged_hi ? k : s->merged_hi;
                }
        s->merged_bytes = na ? a[0].bytes : 0;
        s->merged_rows = na ? a[0].rows : 0;
        return 0;
    }
    for (size_t i = 0; i < na; i++) {
        if (s->nsegs < 64)
            s->names[s->nsegs] = strdup(a[i].name);
        if (!s->nsegs)
            s->first_bytes = a[i].bytes;
        s->bytes += a[i].bytes;
        s->nsegs++;
    }
    return 0;
}

static double build(struct storage_table *t, const struct data *d, struct seglist *sl,
                    double *persist_s)
{
    enum { B = 10000 };
    struct sql_value *v[6];
    for (int c = 0; c < 6; c++)
        v[c] = malloc(B * sizeof *v[c]);
    struct storage_batch_col bc[6];
    for (int c = 0; c < 6; c++)
        bc[c] = (struct storage_batch_col){.col = (uint32_t)c + 1, .values = v[c]};
    double append_s = 0;
    *persist_s = 0;
    struct lerr err;
    lerr_init(&err);
    for (uint64_t i0 = 0; i0 < d->n; i0 += B) {
        uint32_t m = (uint32_t)(d->n - i0 < B ? d->n - i0 : B);
        for (uint32_t k = 0; k < m; k++) {
            uint64_t i = i0 + k;
            v[0][k] = sql_string(d->channel_names[d->channel[i]], d->channel_len[d->channel[i]]);
            v[1][k] = sql_string(d->page_names[d->page[i]], d->page_len[d->page[i]]);
            v[2][k] = sql_string(d->user_names[d->user[i]], d->user_len[d->user[i]]);
            v[3][k] = sql_long(d->added[i]);
            v[4][k] = sql_long(d->deleted[i]);
            v[5][k] = sql_long(d->delta[i]);
        }
        struct storage_batch b = {.nrows = m, .time = d->time + i0, .ncols = 6, .cols = bc};
        double t0 = now_s();
        if (storage_table_append(t, &b, &err)) {
            fprintf(stderr, "append: %s\n", err.msg);
            exit(1);
        }
        append_s += now_s() - t0;
        if ((i0 + m) % SEG_ROWS == 0 || i0 + m == d->n) {
            t0 = now_s();
            if (storage_table_persist(t, commit, sl, &err)) {
                fprintf(stderr, "persist: %s\n", err.msg);
                exit(1);
            }
            *persist_s += now_s() - t0;
        }
    }
    for (int c = 0; c < 6; c++)
        free(v[c]);
    return append_s;
}

/* ---- the measurements ------------------------------------------------------ */

static volatile int64_t sink;

static double scan_long(const struct storage_snapshot *s, int64_t *sum)
{
    double t0 = now_s();
    int64_t acc = 0;
    int64_t vals[STORAGE_BLOCK_ROWS];
    bool nulls[STORAGE_BLOCK_ROWS];
    struct lerr err;
    lerr_init(&err);
    for (size_t v = 0; v < s->nviews; v++) {
        struct storage_scan *sc = storage_scan_new(s->views[v]);
        uint64_t n = storage_view_rows(s->views[v]);
        for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
            if (storage_scan_longs(sc, C_ADDED, r0, m, vals, nulls, &err)) {
                fprintf(stderr, "scan: %s\n", err.msg);
                exit(1);
            }
            for (uint32_t k = 0; k < m; k++)
                acc += nulls[k] ? 0 : vals[k];
        }
        storage_scan_free(sc);
    }
    *sum = acc;
    return now_s() - t0;
}

static double ref_scan(const int64_t *a, uint64_t n, int64_t *sum)
{
    double t0 = now_s();
    int64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += a[i];
    *sum = acc;
    sink = acc;
    return now_s() - t0;
}

static double count_eq(const struct storage_snapshot *s, const char *val, uint64_t *count)
{
    double t0 = now_s();
    uint64_t c = 0;
    struct lerr err;
    lerr_init(&err);
    for (size_t v = 0; v < s->nviews; v++) {
        int64_t id = storage_view_dict_find(s->views[v], C_CHANNEL, val, strlen(val));
        if (id < 0)
            continue;
        const roaring_bitmap_t *bm = (const roaring_bitmap_t *)storage_view_bitmap(
            s->views[v], C_CHANNEL, (uint32_t)id, &err);
        if (!bm) {
            fprintf(stderr, "bitmap: %s\n", err.msg);
            exit(1);
        }
        c += roaring_bitmap_get_cardinality(bm);
    }
    *count = c;
    return now_s() - t0;
}

static double ref_count(const uint32_t *ids, uint64_t n, uint32_t want, uint64_t *count)
{
    double t0 = now_s();
    uint64_t c = 0;
    for (uint64_t i = 0; i < n; i++)
        c += ids[i] == want;
    *count = c;
    sink = (int64_t)c;
    return now_s() - t0;
}

/* A string -> count hash table (open addressing) for merging groups. */
struct sc_ent {
    const char *p;
    uint32_t n;
    uint64_t count;
};
struct sc_map {
    struct sc_ent *e;
    uint64_t cap, used;
};

static uint64_t hash_bytes(const char *p, uint32_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static void sc_add(struct sc_map *m, const char *p, uint32_t n, uint64_t count)
{
    if ((m->used + 1) * 2 > m->cap) {
        struct sc_map g = {.cap = m->cap ? m->cap * 2 : 1024};
        g.e = calloc(g.cap, sizeof *g.e);
        for (uint64_t i = 0; i < m->cap; i++)
            if (m->e[i].p)
                sc_add(&g, m->e[i].p, m->e[i].n, m->e[i].count);
        free(m->e);
        *m = g;
    }
    uint64_t i = hash_bytes(p, n) & (m->cap - 1);
    while (m->e[i].p && !(m->e[i].n == n && memcmp(m->e[i].p, p, n) == 0))
        i = (i + 1) & (m->cap - 1);
    if (!m->e[i].p) {
        m->e[i].p = p;
        m->e[i].n = n;
        m->used++;
    }
    m->e[i].count += count;
}

static int ent_desc(const void *a, const void *b)
{
    const struct sc_ent *x = a, *y = b;
    return (x->count < y->count) - (x->count > y->count);
}

/* Top 10 of a map into top[] (sorted by count). */
static void top10(struct sc_map *m, struct sc_ent *top)
{
    memset(top, 0, 10 * sizeof *top);
    for (uint64_t i = 0; i < m->cap; i++) {
        if (!m->e[i].p || m->e[i].count <= top[9].count)
            continue;
        top[9] = m->e[i];
        qsort(top, 10, sizeof *top, ent_desc);
    }
}

/* Keeps the 10 largest counts, largest first. */
static void top_add(struct sc_ent *top, const char *p, uint32_t n, uint64_t count)
{
    if (count <= top[9].count)
        return;
    int i = 9;
    while (i > 0 && top[i - 1].count < count) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = (struct sc_ent){.p = p, .n = n, .count = count};
}

static int cmp_val(const struct sql_value *a, const struct sql_value *b)
{
    int c = memcmp(a->v.s.p, b->v.s.p, a->v.s.n < b->v.s.n ? a->v.s.n : b->v.s.n);
    return c ? c : (a->v.s.n > b->v.s.n) - (a->v.s.n < b->v.s.n);
}

/*
 * GROUP BY page: count rows per dictionary id in each segment, then merge
 * the segments' sorted dictionaries (no hashing of strings at all).
 */
static double group_by_ids(const struct storage_snapshot *s, struct sc_ent *top, double *count_s)
{
    double t0 = now_s();
    size_t nv = s->nviews;
    uint64_t **cnt = calloc(nv, sizeof *cnt);
    uint32_t *cur = calloc(nv, sizeof *cur), *size = calloc(nv, sizeof *size);
    struct sql_value *head = calloc(nv, sizeof *head);
    uint32_t ids[STORAGE_BLOCK_ROWS];
    struct lerr err;
    lerr_init(&err);
    for (size_t v = 0; v < nv; v++) {
        const struct storage_view *vw = s->views[v];
        size[v] = storage_view_dict_size(vw, C_PAGE);
        if (!storage_view_dict_sorted(vw, C_PAGE)) {
            fprintf(stderr, "group by: a realtime view needs a hash merge\n");
            exit(1);
        }
        cnt[v] = calloc(size[v], sizeof **cnt);
        struct storage_scan *sc = storage_scan_new(vw);
        uint64_t n = storage_view_rows(vw);
        for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t k = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
            if (storage_scan_ids(sc, C_PAGE, r0, k, ids, &err)) {
                fprintf(stderr, "ids: %s\n", err.msg);
                exit(1);
            }
            for (uint32_t j = 0; j < k; j++)
                cnt[v][ids[j]]++;
        }
        storage_scan_free(sc);
        cur[v] = 1; /* id 0 is NULL: its own group */
        if (cur[v] < size[v])
            head[v] = storage_view_dict_value(vw, C_PAGE, 1);
    }
    *count_s = now_s() - t0;
    memset(top, 0, 10 * sizeof *top);
    for (;;) {
        int min = -1;
        for (size_t v = 0; v < nv; v++)
            if (cur[v] < size[v] && (min < 0 || cmp_val(&head[v], &head[min]) < 0))
                min = (int)v;
        if (min < 0)
            break;
        struct sql_value key = head[min];
        uint64_t total = 0;
        for (size_t v = 0; v < nv; v++) {
            if (cur[v] >= size[v] || (v != (size_t)min && cmp_val(&head[v], &key) != 0))
                continue;
            total += cnt[v][cur[v]];
            if (++cur[v] < size[v])
                head[v] = storage_view_dict_value(s->views[v], C_PAGE, cur[v]);
        }
        top_add(top, key.v.s.p, key.v.s.n, total);
    }
    for (size_t v = 0; v < nv; v++)
        free(cnt[v]);
    free(cnt);
    free(cur);
    free(size);
    free(head);
    return now_s() - t0;
}

static double ref_group_by(const struct data *d, struct sc_ent *top)
{
    double t0 = now_s();
    struct sc_map m = {0};
    for (uint64_t i = 0; i < d->n; i++)
        sc_add(&m, d->page_names[d->page[i]], d->page_len[d->page[i]], 1);
    top10(&m, top);
    free(m.e);
    return now_s() - t0;
}

/* gzip -6 of rows [from, n) as nd-json, streamed. */
static uint64_t gzip_ndjson(const struct data *d, uint64_t from, uint64_t n, uint64_t *raw)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    static unsigned char out[1 << 16];
    char line[512];
    uint64_t total = 0;
    *raw = 0;
    for (uint64_t i = from; i < n; i++) {
        char ts[32];
        util_format_iso_ms(d->time[i], ts);
        int len = snprintf(line, sizeof line,
                           "{\"time\":\"%s\",\"channel\":\"%s\",\"page\":\"%s\",\"user\":\"%s\","
                           "\"added\":%lld,\"deleted\":%lld,\"delta\":%lld}\n",
                           ts, d->channel_names[d->channel[i]], d->page_names[d->page[i]],
                           d->user_names[d->user[i]], (long long)d->added[i],
                           (long long)d->deleted[i], (long long)d->delta[i]);
        *raw += (uint64_t)len;
        z.next_in = (unsigned char *)line;
        z.avail_in = (unsigned)len;
        do {
            z.next_out = out;
            z.avail_out = sizeof out;
            deflate(&z, Z_NO_FLUSH);
            total += sizeof out - z.avail_out;
        } while (z.avail_out == 0);
    }
    int rc;
    do {
        z.next_out = out;
        z.avail_out = sizeof out;
        rc = deflate(&z, Z_FINISH);
        total += sizeof out - z.avail_out;
    } while (rc != Z_STREAM_END);
    deflateEnd(&z);
    return total;
}

static double best(double a, double b) { return a < b ? a : b; }

int main(void)
{
    const char *env = getenv("BENCH_ROWS");
    uint64_t n = env ? strtoull(env, NULL, 10) : 10000000ULL;
    if (n < SEG_ROWS)
        n = SEG_ROWS;
    log_set_level(LOG_WARN);
    struct data d;
    double t0 = now_s();
    gen(&d, n);
    printf("generated %llu wiki-like rows in %.1f s\n", (unsigned long long)n, now_s() - t0);

    char dir[] = "/tmp/lodestar-bench-storage-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct storage_schema sch = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = cols, .ncols = 6};
    struct storage_open_opts oo = {.limits = {.max_rows = SEG_ROWS, .max_bytes = 4ULL << 30}};
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    if (storage_table_open(dir, "wiki", &sch, &oo, &t, &err)) {
        fprintf(stderr, "open: %s\n", err.msg);
        return 1;
    }
    struct seglist sl = {0};
    double persist_s;
    double append_s = build(t, &d, &sl, &persist_s);
    printf("append      %8.2f M rows/s  (%.2f s); persist %.2f M rows/s (%.2f s) into %llu "
           "segments, %.1f MB\n",
           (double)n / append_s / 1e6, append_s, (double)n / persist_s / 1e6, persist_s,
           (unsigned long long)sl.nsegs, (double)sl.bytes / 1e6);

    if (getenv("BENCH_BUILD_ONLY"))
        return 0;
    struct storage_snapshot *s = storage_table_snapshot(t);
    double ts = 1e9, tr = 1e9;
    int64_t sum = 0, rsum = 0;
    for (int i = 0; i < 5; i++) {
        ts = best(ts, scan_long(s, &sum));
        tr = best(tr, ref_scan(d.added, n, &rsum));
    }
    printf("scan LONG   %8.1f M rows/s   reference (plain int64 array sum) %8.1f M rows/s   "
           "ratio %.2f%s\n",
           (double)n / ts / 1e6, (double)n / tr / 1e6, tr / ts, sum == rsum ? "" : "  MISMATCH");

    uint32_t en = 0;
    for (uint32_t i = 0; i < NCHANNELS; i++)
        if (strcmp(d.channel_names[i], "#en.wikipedia") == 0)
            en = i;
    uint64_t cnt = 0, rcnt = 0;
    double cold = count_eq(s, "#en.wikipedia", &cnt);
    double tc = 1e9;
    tr = 1e9;
    for (int i = 0; i < 20; i++) {
        tc = best(tc, count_eq(s, "#en.wikipedia", &cnt));
        if (i < 5)
            tr = best(tr, ref_count(d.channel, n, en, &rcnt));
    }
    /* the first query loads (and checks) the bitmaps; later ones find them
     * cached and only count: report the first, conservatively */
    printf("filter      %8.0f M rows/s   reference (plain id array compare) %8.1f M rows/s   "
           "ratio %.0f (first query %.0f us, cached bitmaps %.1f us; %llu rows match)%s\n",
           (double)n / cold / 1e6, (double)n / tr / 1e6, tr / cold, cold * 1e6, tc * 1e6,
           (unsigned long long)cnt, cnt == rcnt ? "" : "  MISMATCH");
    struct sc_ent top[10], rtop[10];
    double tg = 1e9, tcount = 1e9;
    tr = 1e9;
    for (int i = 0; i < 3; i++) {
        double c;
        tg = best(tg, group_by_ids(s, top, &c));
        tcount = best(tcount, c);
        tr = best(tr, ref_group_by(&d, rtop));
    }
    bool same = true;
    for (int i = 0; i < 10; i++)
        same = same && top[i].count == rtop[i].count;
    printf("group by    %8.1f M rows/s   reference (row-by-row string hash) %8.1f M rows/s   "
           "ratio %.2f (top: %.*s x %llu)%s\n",
           (double)n / tg / 1e6, (double)n / tr / 1e6, tr / tg, (int)top[0].n, top[0].p,
           (unsigned long long)top[0].count, same ? "" : "  MISMATCH");
    printf("  of which  %8.1f M rows/s   counting on dictionary ids; the rest merges %llu "
           "sorted segment dictionaries\n",
           (double)n / tcount / 1e6, (unsigned long long)sl.nsegs);

    uint64_t raw;
    uint64_t gz = gzip_ndjson(&d, 0, SEG_ROWS, &raw);
    printf("size        first segment %.1f MB for %d rows; gzip -6 nd-json of the same rows "
           "%.1f MB (raw %.1f MB); ratio %.2f\n",
           (double)sl.first_bytes / 1e6, SEG_ROWS, (double)gz / 1e6, (double)raw / 1e6,
           (double)sl.first_bytes / (double)gz);
    storage_snapshot_free(s);
    s = NULL;

    /* what stays on disk: two persisted segments compacted into one, with
     * zstd where it pays, as the server's compactor writes them */
    struct storage_compact_opts co = {.max_rows = 2 * SEG_ROWS, .zstd = true};
    bool did = false;
    if (n >= 2 * SEG_ROWS && storage_table_compact(t, &co, commit, &sl, &did, &err) == 0 && did &&
        sl.merged_hi >= sl.merged_lo) {
        uint64_t from = (uint64_t)sl.merged_lo * SEG_ROWS;
        uint64_t to = (uint64_t)(sl.merged_hi + 1) * SEG_ROWS;
        gz = gzip_ndjson(&d, from, to < n ? to : n, &raw);
        printf("            compacted segment %.1f MB for %llu rows; gzip -6 of the same rows "
               "%.1f MB; ratio %.2f\n",
               (double)sl.merged_bytes / 1e6, (unsigned long long)sl.merged_rows, (double)gz / 1e6,
               (double)sl.merged_bytes / (double)gz);
    } else {
        printf("            compaction: %s\n", err.code ? err.msg : "nothing merged");
    }

    for (uint64_t i = 0; i < sl.nsegs && i < 64; i++)
        free(sl.names[i]);
    if (getenv("BENCH_KEEP"))
        printf("segments kept in %s\n", dir);
    else
        storage_table_drop_data(t, &err);
    storage_table_free(t);
    rmdir(dir);
    return 0;
}
