/*
 * test_storage.c — storage building blocks and segment files: CRC32C, bit
 * packing, block codecs, granularities, a round trip of every column type
 * (NULLs, empty strings, unicode, extreme numbers, many blocks, zero rows)
 * through realtime buffers and segments, dictionary and bitmap lookups, and
 * corrupt files (flipped bytes in every part, truncation, wrong magic and
 * version) failing cleanly with the file and part named.
 */
#include "test_storage_common.h"

#include "storage/storage_int.h"
#include "util/time.h"

/* ---- CRC32C, bit packing, codecs ------------------------------------------ */

static uint32_t crc_ref(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint64_t rng_state = 0x1234567;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_crc(void)
{
    CHECK_EQ_INT(util_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t buf[1031];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rnd();
    static const size_t lens[] = {0, 1, 7, 8, 9, 63, 64, 65, 1000, 1031};
    for (size_t i = 0; i < LS_ARRAY_LEN(lens); i++) {
        CHECK_EQ_INT(util_crc32c(0, buf + 1, lens[i] - (lens[i] == 1031)),
                     crc_ref(buf + 1, lens[i] - (lens[i] == 1031)));
    }
    /* incremental = one shot */
    uint32_t inc = util_crc32c(util_crc32c(0, buf, 500), buf + 500, 531);
    CHECK_EQ_INT(inc, util_crc32c(0, buf, 1031));
}

static void test_bitpack(void)
{
    static const unsigned widths[] = {0, 1, 3, 7, 8, 13, 31, 32, 33, 57, 63, 64};
    enum { N = 1000 };
    uint64_t in[N], out[N];
    uint32_t in32[N], out32[N];
    for (size_t w = 0; w < LS_ARRAY_LEN(widths); w++) {
        unsigned width = widths[w];
        uint64_t mask = width == 64 ? ~0ULL : (1ULL << width) - 1;
        for (int i = 0; i < N; i++) {
            in[i] = rnd() & mask;
            in32[i] = (uint32_t)in[i];
        }
        uint8_t *p = calloc(1, storage__bitpack_size(N, width));
        storage__bitpack(in, N, width, p);
        storage__bitunpack64(p, 0, N, width, out);
        CHECK_MSG(memcmp(in, out, sizeof in) == 0, "bitpack64 width %u", width);
        storage__bitunpack64(p, 377, 100, width, out);
        CHECK_MSG(memcmp(in + 377, out, 100 * 8) == 0, "bitpack64 width %u at 377", width);
        if (width <= 32) {
            memset(p, 0, storage__bitpack_size(N, width));
            storage__bitpack32(in32, N, width, p);
            storage__bitunpack32(p, 0, N, width, out32);
            CHECK_MSG(memcmp(in32, out32, sizeof in32) == 0, "bitpack32 width %u", width);
            storage__bitunpack32(p, 999, 1, width, out32);
            CHECK_EQ_INT(out32[0], in32[999]);
        }
        free(p);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/*
 * storage__hash_bytes (the realtime dictionaries' hash): it reads exactly its n
 * bytes (each value in a buffer of its own size: ASan sees an overread),
 * depends on every one of them and on the length, and spreads values that
 * differ in one bit over the top bits that pick a slot.
 */
static void test_hash(void)
{
    enum { MAXN = 70 };
    uint8_t base[MAXN];
    for (int i = 0; i < MAXN; i++)
        base[i] = (uint8_t)(i * 37 + 11);
    int same_len = 0, flips_same = 0, top_same = 0, trials = 0;
    for (size_t n = 0; n <= MAXN - 1; n++) {
        uint8_t *v = malloc(n ? n : 1);
        memcpy(v, base, n);
        uint64_t h = storage__hash_bytes(v, n);
        /* a prefix of another length hashes differently */
        uint8_t *w = malloc(n + 1);
        memcpy(w, base, n + 1);
        same_len += storage__hash_bytes(w, n + 1) == h;
        free(w);
        for (size_t i = 0; i < n; i++)
            for (int bit = 0; bit < 8; bit++) {
                v[i] ^= (uint8_t)(1u << bit);
                uint64_t g = storage__hash_bytes(v, n);
                v[i] ^= (uint8_t)(1u << bit);
                flips_same += g == h;
                top_same += (g >> 48) == (h >> 48);
                trials++;
            }
        CHECK(storage__hash_bytes(v, n) == h); /* deterministic */
        free(v);
    }
    CHECK_EQ_INT(same_len, 0);
    CHECK_EQ_INT(flips_same, 0);
    /* 16 top bits equal by chance about once in 65536 */
    CHECK_MSG(top_same <= trials / 1000 + 2, "%d of %d one-bit changes kept the top 16 bits",
              top_same, trials);
    /* no collisions of the top 40 bits among 200,000 numbered names */
    enum { M = 200000 };
    uint64_t *hs = malloc(M * sizeof *hs);
    char name[32];
    for (int i = 0; i < M; i++) {
        int len = snprintf(name, sizeof name, "Article_%d", i * 7919);
        hs[i] = storage__hash_bytes(name, (size_t)len) >> 24;
    }
    qsort(hs, M, sizeof *hs, cmp_u64);
    int dup = 0;
    for (int i = 1; i < M; i++)
        dup += hs[i] == hs[i - 1];
    CHECK_MSG(dup <= 1, "%d collisions of the top 40 bits", dup);
    free(hs);
}

static void test_codecs(void)
{
    enum { N = 4096 };
    static int64_t v[N], back[N];
    for (int kind = 0; kind < 7; kind++) {
        uint32_t n = kind == 5 ? 1 : N;
        for (uint32_t i = 0; i < n; i++) {
            switch (kind) {
            case 0: v[i] = 42; break;                                             /* constant */
            case 1: v[i] = 1700000000000LL + i * 3 + (int64_t)(rnd() % 3); break; /* time */
            case 2: v[i] = (int64_t)rnd(); break;                                 /* random */
            case 3: v[i] = i & 1 ? INT64_MIN : INT64_MAX; break;                  /* extremes */
            case 4: v[i] = (int64_t)(rnd() % 100) - 50; break;                    /* small */
            case 6: v[i] = rnd() % 8 ? 0 : (int64_t)(rnd() % 60000); break;       /* skewed */
            default: v[i] = INT64_MIN; break;
            }
        }
        for (int z = 0; z < 2; z++) {
            struct buf b;
            buf_init(&b, 0);
            int codec = storage__encode_longs(v, n, z, &b);
            CHECK_MSG(codec >= 0, "encode kind %d", kind);
            memset(back, 0x55, sizeof back);
            CHECK_MSG(storage__decode_block(codec, (const uint8_t *)b.data, b.len, back, n * 8u),
                      "decode kind %d codec %d", kind, codec);
            CHECK_MSG(memcmp(v, back, n * 8u) == 0, "round trip kind %d codec %d", kind, codec);
            if (kind == 0 || kind == 1)
                CHECK_MSG(b.len < n * 2u, "kind %d compresses: %zu bytes", kind, b.len);
            /* mostly zeros: packing pays 16 bits a value, zstd's entropy
             * coder about a quarter of that */
            if (kind == 6 && z)
                CHECK_MSG(codec == ST_CODEC_FORZ && b.len < n, "skewed: codec %d, %zu bytes",
                          codec, b.len);
            /* a payload one byte short never decodes */
            if (b.len > 0)
                CHECK(!storage__decode_block(codec, (const uint8_t *)b.data, b.len - 1, back,
                                             n * 8u) ||
                      codec == ST_CODEC_LZ4 || codec == ST_CODEC_ZSTD);
            buf_free(&b);
            buf_init(&b, 0);
            codec = storage__encode_bytes(v, n * 8u, z, &b);
            CHECK(codec >= 0 &&
                  storage__decode_block(codec, (const uint8_t *)b.data, b.len, back, n * 8u) &&
                  memcmp(v, back, n * 8u) == 0);
            buf_free(&b);
        }
    }
    /* garbage never decodes past its buffer (ASan watches) */
    uint8_t junk[64];
    for (int i = 0; i < 200; i++) {
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (uint8_t)rnd();
        for (int codec = 0; codec < ST_CODEC__COUNT; codec++)
            (void)storage__decode_block(codec, junk, (size_t)(rnd() % sizeof junk), back, 800);
    }
}

static int64_t iso(const char *s)
{
    int64_t ms = 0;
    CHECK_MSG(time_parse_iso(s, strlen(s), NULL, &ms), "parse %s", s);
    return ms;
}

static void test_gran(void)
{
    // clang-format off
    static const struct {
        enum storage_gran g;
        const char *t, *floor, *next;
    } cases[] = {
        {STORAGE_GRAN_SECOND, "2024-03-10T05:30:07.999Z", "2024-03-10T05:30:07Z", "2024-03-10T05:30:08Z"},
        {STORAGE_GRAN_MINUTE, "2024-03-10T05:30:07Z", "2024-03-10T05:30:00Z", "2024-03-10T05:31:00Z"},
        {STORAGE_GRAN_FIFTEEN_MINUTE, "2024-03-10T00:44:59.999Z", "2024-03-10T00:30:00Z", "2024-03-10T00:45:00Z"},
        {STORAGE_GRAN_HOUR, "2024-03-10T05:30:00Z", "2024-03-10T05:00:00Z", "2024-03-10T06:00:00Z"},
        {STORAGE_GRAN_DAY, "1969-12-31T12:00:00Z", "1969-12-31T00:00:00Z", "1970-01-01T00:00:00Z"},
        {STORAGE_GRAN_WEEK, "2024-01-03T10:00:00Z", "2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"},
        {STORAGE_GRAN_WEEK, "1970-01-01T00:00:00Z", "1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z"},
        {STORAGE_GRAN_MONTH, "2024-02-29T10:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
        {STORAGE_GRAN_MONTH, "2023-12-15T00:00:00Z", "2023-12-01T00:00:00Z", "2024-01-01T00:00:00Z"},
        {STORAGE_GRAN_YEAR, "2023-12-31T23:59:59.999Z", "2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"},
        {STORAGE_GRAN_YEAR, "1900-06-01T00:00:00Z", "1900-01-01T00:00:00Z", "1901-01-01T00:00:00Z"},
    };
    // clang-format on
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        int64_t f = storage_gran_floor(cases[i].g, iso(cases[i].t));
        CHECK_MSG(f == iso(cases[i].floor), "%s floor %s", storage_gran_name(cases[i].g),
                  cases[i].t);
        CHECK_MSG(storage_gran_next(cases[i].g, f) == iso(cases[i].next), "%s next of %s",
                  storage_gran_name(cases[i].g), cases[i].floor);
    }
    CHECK_EQ_INT(storage_gran_floor(STORAGE_GRAN_MILLISECOND, -5), -5);
    CHECK(storage_gran_floor(STORAGE_GRAN_ALL, 12345) == INT64_MIN);
    CHECK(storage_gran_next(STORAGE_GRAN_ALL, INT64_MIN) == INT64_MAX);
    CHECK(storage_gran_floor(STORAGE_GRAN_WEEK, INT64_MIN) == INT64_MIN);
    CHECK_EQ_INT(storage_gran_parse("FIFTEEN_minute", 14), STORAGE_GRAN_FIFTEEN_MINUTE);
    CHECK_EQ_INT(storage_gran_parse("fortnight", 9), -1);
    /* whole buckets, and the cover to suggest when not */
    int64_t cs, ce;
    CHECK(storage_gran_aligned(STORAGE_GRAN_MONTH, iso("2024-02-01T00:00:00Z"),
                               iso("2024-04-01T00:00:00Z"), &cs, &ce));
    CHECK(!storage_gran_aligned(STORAGE_GRAN_DAY, iso("2024-02-01T06:00:00Z"),
                                iso("2024-02-02T01:00:00Z"), &cs, &ce) &&
          cs == iso("2024-02-01T00:00:00Z") && ce == iso("2024-02-03T00:00:00Z"));
    CHECK(!storage_gran_aligned(STORAGE_GRAN_ALL, 0, 1000, &cs, &ce));
}

/* ---- a detail table with every column type --------------------------------- */

enum { C_S = 1, C_L, C_F, C_D, C_J, C_TS, NCOLS };

static const struct storage_column rt_cols[] = {
    {.name = "s", .type = SQL_STRING}, {.name = "l", .type = SQL_LONG},
    {.name = "f", .type = SQL_FLOAT},  {.name = "d", .type = SQL_DOUBLE},
    {.name = "j", .type = SQL_JSON},   {.name = "ts", .type = SQL_TIMESTAMP},
};

#define NROWS ((int)(2 * STORAGE_BLOCK_ROWS + 123))
#define T0 1700000000000LL /* 2023-11-14T22:13:20Z: rows stay within one day */

static char sbuf[NROWS][32];
static char jbuf[NROWS][32];

static int64_t gen_time(int i) { return T0 + (int64_t)((i * 7919) % NROWS) * 3; }

/* The value generation index i puts in column c (before storage). */
static struct sql_value gen(int i, int c)
{
    switch (c) {
    case C_S:
        if (i % 11 == 0)
            return sql_null(SQL_STRING);
        if (i % 11 == 1)
            return sql_string("", 0);
        if (i % 11 == 2)
            return sql_string("ünïcödé ✓ 日本 🚀", strlen("ünïcödé ✓ 日本 🚀"));
        snprintf(sbuf[i], sizeof sbuf[i], "v%d", i % 500);
        return sql_string(sbuf[i], strlen(sbuf[i]));
    case C_L:
        switch (i % 13) {
        case 0: return sql_null(SQL_LONG);
        case 1: return sql_long(INT64_MIN);
        case 2: return sql_long(INT64_MAX);
        case 3: return sql_long(0);
        default: return sql_long((int64_t)i * 1000003 - 5000000000LL);
        }
    case C_F: {
        static const double fv[] = {3.4028234663852886e38, 1.401298464324817e-45, -0.0, 0.1, -2.5};
        if (i % 17 == 0)
            return sql_null(SQL_FLOAT);
        struct sql_value v = sql_double(i % 17 < 6 ? fv[i % 17 - 1] : i * 0.25);
        v.type = SQL_FLOAT;
        return v;
    }
    case C_D: {
        static const double dv[] = {1e308, -1e-308, 5e-324, -0.0, 1.0 / 3};
        if (i % 19 == 0)
            return sql_null(SQL_DOUBLE);
        return sql_double(i % 19 < 6 ? dv[i % 19 - 1] : i * 0.5);
    }
    case C_J: {
        if (i % 7 == 0)
            return sql_null(SQL_JSON);
        int n = i % 7 == 1 ? snprintf(jbuf[i], sizeof jbuf[i], "[]")
                           : snprintf(jbuf[i], sizeof jbuf[i], "{\"a\":%d,\"é\":\"x\"}", i);
        struct sql_value v = sql_string(jbuf[i], (size_t)n);
        v.type = SQL_JSON;
        return v;
    }
    default:
        return i % 23 == 0 ? sql_null(SQL_TIMESTAMP) : sql_timestamp(gen_time(i) - 86400000LL);
    }
}

/* What reading gives back: FLOAT is rounded to float precision. */
static struct sql_value want(int i, int c)
{
    struct sql_value v = gen(i, c);
    if (c == C_F && !v.is_null)
        v.v.d = (double)(float)v.v.d;
    return v;
}

static bool same_value(const struct sql_value *a, const struct sql_value *b)
{
    if (a->is_null || b->is_null)
        return a->is_null && b->is_null && a->type == b->type;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SQL_STRING:
    case SQL_JSON: return a->v.s.n == b->v.s.n && memcmp(a->v.s.p, b->v.s.p, a->v.s.n) == 0;
    case SQL_DOUBLE:
    case SQL_FLOAT: return memcmp(&a->v.d, &b->v.d, 8) == 0; /* bit-exact: -0.0 stays -0.0 */
    default: return a->v.l == b->v.l;
    }
}

static int *inverse_map(void)
{
    int *inv = malloc(NROWS * sizeof *inv);
    for (int i = 0; i < NROWS; i++)
        inv[(i * 7919) % NROWS] = i;
    return inv;
}

/* Every row of the view carries exactly the generated values. */
static void check_view(const struct storage_view *v, const char *what)
{
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    CHECK_EQ_INT(storage_view_rows(v), NROWS);
    int *inv = inverse_map();
    struct sql_value *col[NCOLS];
    for (int c = 0; c < NCOLS; c++)
        col[c] = tst_read_col(v, (size_t)c, &mem);
    int bad = 0;
    for (uint64_t r = 0; r < storage_view_rows(v) && col[0]; r++) {
        int64_t t = col[0][r].v.l;
        int i = inv[(t - T0) / 3];
        CHECK(col[0][r].type == SQL_TIMESTAMP && !col[0][r].is_null);
        for (int c = 1; c < NCOLS && bad < 10; c++) {
            struct sql_value w = want(i, c);
            if (!col[c] || !same_value(&col[c][r], &w)) {
                bad++;
                CHECK_MSG(0, "%s: row %llu (gen %d) column %s differs", what,
                          (unsigned long long)r, i, rt_cols[c - 1].name);
            }
        }
    }
    for (int c = 0; c < NCOLS; c++)
        free(col[c]);
    free(inv);
    arena_destroy(&mem);
}

static int append_gen(struct storage_table *t, int from, int to)
{
    int n = to - from;
    int64_t *time = malloc(n * sizeof *time);
    struct sql_value *vals[NCOLS];
    struct storage_batch_col bc[NCOLS - 1];
    for (int c = 1; c < NCOLS; c++) {
        vals[c] = malloc(n * sizeof *vals[c]);
        bc[c - 1] = (struct storage_batch_col){.col = (uint32_t)c, .values = vals[c]};
    }
    for (int k = 0; k < n; k++) {
        time[k] = gen_time(from + k);
        for (int c = 1; c < NCOLS; c++)
            vals[c][k] = gen(from + k, c);
    }
    struct storage_batch b = {.nrows = (uint32_t)n, .time = time, .ncols = NCOLS - 1, .cols = bc};
    struct lerr err;
    lerr_init(&err);
    int rc = storage_table_append(t, &b, &err);
    CHECK_MSG(rc == 0, "append: %s", err.msg);
    free(time);
    for (int c = 1; c < NCOLS; c++)
        free(vals[c]);
    return rc;
}

static struct storage_schema detail_schema(void)
{
    return (struct storage_schema){.type = STORAGE_DETAIL,
                                   .partitioning = STORAGE_GRAN_DAY,
                                   .cols = rt_cols,
                                   .ncols = LS_ARRAY_LEN(rt_cols)};
}

static void check_indexes(const struct storage_view *v)
{
    struct lerr err;
    lerr_init(&err);
    CHECK(storage_view_dict_sorted(v, C_S));
    /* dictionary: NULL, "", unicode, v0..v499 (minus those never generated) */
    uint32_t size = storage_view_dict_size(v, C_S);
    CHECK(size > 400 && size <= 503);
    CHECK(storage_view_dict_value(v, C_S, STORAGE_NULL_ID).is_null);
    for (uint32_t id = 2; id < size; id++) {
        struct sql_value a = storage_view_dict_value(v, C_S, id - 1),
                         b = storage_view_dict_value(v, C_S, id);
        CHECK(id == 2 || sql_value_compare(&a, &b) < 0);
    }
    int nempty = 0, nnull = 0, nv1 = 0, nl_null = 0;
    for (int i = 0; i < NROWS; i++) {
        struct sql_value s = gen(i, C_S);
        nnull += s.is_null;
        nempty += !s.is_null && s.v.s.n == 0;
        nv1 += !s.is_null && s.v.s.n >= 2 && memcmp(s.v.s.p, "v1", 2) == 0;
        nl_null += gen(i, C_L).is_null;
    }
    int64_t eid = storage_view_dict_find(v, C_S, "", 0);
    CHECK_EQ_INT(eid, 1); /* "" sorts first */
    const roaring_bitmap_t *bm =
        (const roaring_bitmap_t *)storage_view_bitmap(v, C_S, (uint32_t)eid, &err);
    CHECK(bm && roaring_bitmap_get_cardinality(bm) == (uint64_t)nempty);
    bm = (const roaring_bitmap_t *)storage_view_null_bitmap(v, C_S, &err);
    CHECK(bm && roaring_bitmap_get_cardinality(bm) == (uint64_t)nnull);
    bm = (const roaring_bitmap_t *)storage_view_null_bitmap(v, C_L, &err);
    CHECK(bm && roaring_bitmap_get_cardinality(bm) == (uint64_t)nl_null);
    CHECK_EQ_INT(storage_view_dict_find(v, C_S, "nope", 4), -1);
    CHECK_EQ_INT(storage_view_dict_find(v, C_S, "v1", 2) > 0, 1);
    uint32_t lo, hi;
    CHECK(storage_view_dict_prefix(v, C_S, "v1", 2, &lo, &hi));
    uint64_t card = 0;
    for (uint32_t id = lo; id < hi; id++) {
        struct sql_value x = storage_view_dict_value(v, C_S, id);
        CHECK(x.v.s.n >= 2 && memcmp(x.v.s.p, "v1", 2) == 0);
        card += roaring_bitmap_get_cardinality(
            (const roaring_bitmap_t *)storage_view_bitmap(v, C_S, id, &err));
    }
    CHECK_EQ_INT(card, nv1);
    CHECK(storage_view_dict_prefix(v, C_S, "zzz", 3, &lo, &hi) && lo == hi);
    CHECK(storage_view_dict_prefix(v, C_S, "", 0, &lo, &hi) && lo == 1 && hi == size);
    /* ids agree with values; raw longs and doubles agree with values */
    struct storage_scan *s = storage_scan_new(v);
    uint32_t ids[STORAGE_BLOCK_ROWS];
    int64_t l[STORAGE_BLOCK_ROWS];
    double d[STORAGE_BLOCK_ROWS];
    bool nl[STORAGE_BLOCK_ROWS];
    struct sql_value vals[STORAGE_BLOCK_ROWS];
    CHECK(storage_scan_ids(s, C_S, 4096, 4096, ids, &err) == 0);
    CHECK(storage_scan_values(s, C_S, 4096, 4096, NULL, vals, &err) == 0);
    int bad = 0;
    for (int k = 0; k < 4096; k++) {
        struct sql_value x = storage_view_dict_value(v, C_S, ids[k]);
        bad += !same_value(&x, &vals[k]);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(storage_scan_longs(s, C_L, 100, 4000, l, nl, &err) == 0);
    CHECK(storage_scan_values(s, C_L, 100, 4000, NULL, vals, &err) == 0);
    for (int k = 0; k < 4000; k++)
        bad += nl[k] != vals[k].is_null || (!nl[k] && l[k] != vals[k].v.l);
    CHECK_EQ_INT(bad, 0);
    CHECK(storage_scan_doubles(s, C_D, 4000, 300, d, nl, &err) == 0); /* spans two blocks */
    CHECK(storage_scan_values(s, C_D, 4000, 300, NULL, vals, &err) == 0);
    for (int k = 0; k < 300; k++)
        bad += nl[k] != vals[k].is_null || (!nl[k] && memcmp(&d[k], &vals[k].v.d, 8) != 0);
    CHECK_EQ_INT(bad, 0);
    /* a selection vector picks rows */
    uint32_t sel[3] = {0, 5, 4095};
    struct sql_value three[3];
    CHECK(storage_scan_values(s, C_S, 4096, 3, sel, three, &err) == 0);
    struct sql_value all[STORAGE_BLOCK_ROWS];
    CHECK(storage_scan_values(s, C_S, 4096, 4096, NULL, all, &err) == 0);
    CHECK(same_value(&three[0], &all[0]) && same_value(&three[1], &all[5]) &&
          same_value(&three[2], &all[4095]));
    /* out of range and wrong class are errors, not crashes */
    lerr_init(&err);
    CHECK_EQ_INT(storage_scan_values(s, C_S, NROWS - 1, 2, NULL, vals, &err), LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(storage_scan_ids(s, C_L, 0, 10, ids, &err), LERR_INVALID);
    lerr_init(&err);
    CHECK_EQ_INT(storage_scan_values(s, NCOLS, 0, 1, NULL, vals, &err), LERR_INVALID);
    storage_scan_free(s);
}

static char seg_path[1024];
static char seg_name[128];

static void test_roundtrip(void)
{
    char *dir = tst_mkdtemp();
    struct tst_catalog cat = {0};
    struct storage_schema sch = detail_schema();
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK(storage_table_open(dir, "rt", &sch, NULL, &t, &err) == 0);
    append_gen(t, 0, 5000);
    append_gen(t, 5000, 5001);
    append_gen(t, 5001, NROWS);
    struct storage_snapshot *s = storage_table_snapshot(t);
    CHECK_EQ_INT(s->nviews, 1);
    CHECK_EQ_INT(s->ncols, NCOLS);
    CHECK_EQ_STR(s->cols[0].name, "__time");
    check_view(s->views[0], "realtime");
    CHECK_EQ_INT(storage_view_dict_size(s->views[0], C_S) > 400, 1);
    CHECK_EQ_INT(storage_view_dict_find(s->views[0], C_S, "v7", 2) > 0, 1);
    CHECK(storage_view_bitmap(s->views[0], C_S, 1, &err) == NULL && err.code == 0);
    storage_snapshot_free(s);

    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.n, 1);
    s = storage_table_snapshot(t);
    CHECK_EQ_INT(s->nviews, 1);
    CHECK(!storage_view_is_realtime(s->views[0]));
    check_view(s->views[0], "segment");
    check_indexes(s->views[0]);
    /* rows are sorted by time */
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct sql_value *tv = tst_read_col(s->views[0], 0, &mem);
    int unsorted = 0;
    for (int r = 1; tv && r < NROWS; r++)
        unsorted += tv[r].v.l < tv[r - 1].v.l;
    CHECK_EQ_INT(unsorted, 0);
    int64_t mn, mx;
    storage_view_time_range(s->views[0], &mn, &mx);
    CHECK(mn == T0 && mx == T0 + (NROWS - 1) * 3);
    free(tv);
    arena_destroy(&mem);
    storage_snapshot_free(s);

    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.row_count, NROWS);
    CHECK_EQ_INT(st.segment_count, 1);
    CHECK_EQ_INT(st.realtime_rows, 0);
    CHECK(st.total_bytes > 0);
    storage_table_free(t);

    /* reopened from disk (mmap path), with a full check */
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK(storage_table_open(dir, "rt", &sch, &oo, &t, &err) == 0);
    s = storage_table_snapshot(t);
    CHECK_EQ_INT(s->nviews, 1);
    check_view(s->views[0], "reopened");
    storage_snapshot_free(s);
    storage_table_free(t);
    snprintf(seg_path, sizeof seg_path, "%s/%s", dir, cat.names[0]);
    snprintf(seg_name, sizeof seg_name, "%s", cat.names[0]);
    uint64_t rows = 0;
    CHECK(storage_segment_verify(seg_path, &rows, &err) == 0 && rows == NROWS);
    /* keep the file for the corruption tests: copy its bytes */
    free(dir);
}

static void test_zero_rows(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct storage_schema sch = detail_schema();
    struct storage__schema *sc = storage__schema_new(&sch, &err);
    struct rt_buf *b = rt_new(sc, 0, 86400000, 10, &err);
    struct storage_segment_info info;
    struct segstore *store = NULL;
    CHECK(segstore_local_new(dir, &store, &err) == 0);
    CHECK(storage__seg_write(store, "empty.lseg", sc, b, 0, false, &info, &err) == 0);
    segstore_unref(store);
    char p[1024];
    snprintf(p, sizeof p, "%s/empty.lseg", dir);
    uint64_t rows = 99;
    CHECK(storage_segment_verify(p, &rows, &err) == 0);
    CHECK_EQ_INT(rows, 0);
    rt_unref(b);
    storage__schema_unref(sc);

    /* a table whose persist has nothing still commits (offsets may move) */
    struct tst_catalog cat = {0};
    struct storage_table *t;
    CHECK(storage_table_open(dir, "z", &sch, NULL, &t, &err) == 0); /* removes empty.lseg */
    CHECK(!tst_exists(dir, "empty.lseg"));
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    CHECK_EQ_INT(cat.calls, 1);
    CHECK_EQ_INT(cat.last_added, 0);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK(st.row_count == 0 && st.min_time == INT64_MAX && st.max_time == INT64_MIN);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- bitmap layouts --------------------------------------------------------- */

/* Low cardinality keeps roaring bitmaps, a unique-per-row column
 * Elias-Fano lists; either way each id's bitmap is exactly the rows with
 * that id. Values sharing prefixes get the front-coded dictionary, two
 * one-letter values the plain one. */
static void test_bitmap_layouts(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    static const struct storage_column two[] = {{.name = "lo", .type = SQL_STRING},
                                                {.name = "hi", .type = SQL_STRING}};
    struct storage_schema sch = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = two, .ncols = 2};
    struct storage_table *t;
    CHECK(storage_table_open(dir, "b", &sch, NULL, &t, &err) == 0);
    enum { N = 20000 };
    static char hb[N][12];
    static int64_t tm[N];
    static struct sql_value lo[N], hi[N];
    for (int i = 0; i < N; i++) {
        tm[i] = T0 + i;
        /* runs: NULL, then "a", then "b" */
        lo[i] = i < N / 3 ? sql_null(SQL_STRING) : sql_string(i < 2 * N / 3 ? "a" : "b", 1);
        snprintf(hb[i], sizeof hb[i], "h%07d", (i * 7) % N);
        hi[i] = sql_string(hb[i], strlen(hb[i]));
    }
    struct storage_batch_col bc[2] = {{.col = 1, .values = lo}, {.col = 2, .values = hi}};
    struct storage_batch b = {.nrows = N, .time = tm, .ncols = 2, .cols = bc};
    CHECK(storage_table_append(t, &b, &err) == 0);
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    struct storage_snapshot *s = storage_table_snapshot(t);
    const struct storage_view *v = s->views[0];
    CHECK(!v->realtime);
    static const uint32_t want_layout[3] = {0, ST_BITMAPS_ROARING, ST_BITMAPS_EF};
    static const uint32_t want_dict[3] = {0, ST_DICT_PLAIN, ST_DICT_FRONT};
    for (size_t col = 1; col <= 2; col++) {
        const uint8_t *p;
        uint64_t len;
        CHECK(storage__seg_part(v->seg, col, ST_P_BITMAPS, &p, &len, &err) == 0);
        CHECK_EQ_INT(storage__get_u32(p + len - 4), want_layout[col]);
        CHECK(storage__seg_part(v->seg, col, ST_P_DICT, &p, &len, &err) == 0);
        CHECK_EQ_INT(storage__get_u32(p + 4), want_dict[col]);
        if (col == 2) /* the front-coded dictionary is a fraction of the values' bytes */
            CHECK_MSG(len < N * 8 / 4, "dict part %llu bytes", (unsigned long long)len);
        static uint32_t ids[N];
        struct storage_scan *sc = storage_scan_new(v);
        for (uint32_t r0 = 0; r0 < N; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m = N - r0 < STORAGE_BLOCK_ROWS ? N - r0 : STORAGE_BLOCK_ROWS;
            CHECK(storage_scan_ids(sc, col, r0, m, ids + r0, &err) == 0);
        }
        storage_scan_free(sc);
        uint32_t size = storage_view_dict_size(v, col);
        CHECK_EQ_INT(size, col == 1 ? 3 : N + 1);
        int bad = 0;
        struct sql_value v1 = storage_view_dict_value(v, col, size - 1);
        CHECK(col == 1 ? v1.v.s.n == 1 && v1.v.s.p[0] == 'b'
                       : v1.v.s.n == 8 && memcmp(v1.v.s.p, "h0019999", 8) == 0);
        CHECK(col == 1 || storage_view_dict_find(v, col, "h0012345", 8) == 12346);
        for (uint32_t id = 0; id < size; id += col == 1 ? 1 : 97) {
            const roaring_bitmap_t *bm =
                (const roaring_bitmap_t *)storage_view_bitmap(v, col, id, &err);
            uint64_t want = 0;
            for (uint32_t r = 0; r < N; r++) {
                want += ids[r] == id;
                bad += bm && (ids[r] == id) != roaring_bitmap_contains(bm, r);
            }
            CHECK(bm && roaring_bitmap_get_cardinality(bm) == want);
        }
        CHECK_EQ_INT(bad, 0);
    }
    storage_snapshot_free(s);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* Detail rows sort by __time with ties in arrival order (the radix sort),
 * whatever order they came in. */
static void test_time_order(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    static const struct storage_column one[] = {{.name = "arrival", .type = SQL_LONG}};
    struct storage_schema sch = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = one, .ncols = 1};
    struct storage_table *t;
    CHECK(storage_table_open(dir, "o", &sch, NULL, &t, &err) == 0);
    enum { N = 50000 };
    static int64_t tm[N];
    static struct sql_value arr[N];
    for (int i = 0; i < N; i++) {
        tm[i] = T0 + (int64_t)(rnd() % 5000) * 17; /* many ties, out of order */
        arr[i] = sql_long(i);
    }
    struct storage_batch_col bc[1] = {{.col = 1, .values = arr}};
    struct storage_batch b = {.nrows = N, .time = tm, .ncols = 1, .cols = bc};
    CHECK(storage_table_append(t, &b, &err) == 0);
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    struct storage_snapshot *s = storage_table_snapshot(t);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct sql_value *tv = tst_read_col(s->views[0], 0, &mem);
    struct sql_value *av = tst_read_col(s->views[0], 1, &mem);
    int bad = 0;
    for (int r = 0; tv && av && r < N; r++) {
        bad += tv[r].v.l != tm[av[r].v.l];
        if (r)
            bad += tv[r].v.l < tv[r - 1].v.l ||
                   (tv[r].v.l == tv[r - 1].v.l && av[r].v.l <= av[r - 1].v.l);
    }
    CHECK(tv && av);
    CHECK_EQ_INT(bad, 0);
    free(tv);
    free(av);
    arena_destroy(&mem);
    storage_snapshot_free(s);
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* ---- corruption ------------------------------------------------------------ */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n);
    if (fread(p, 1, *n, f) != *n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

/* Verifying bytes must fail with LERR_CORRUPT, naming the file (and the
 * part when given). */
static void expect_corrupt(const uint8_t *p, size_t n, const char *part, const char *what)
{
    struct lerr err;
    lerr_init(&err);
    uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
    memcpy(copy, p, n);
    int rc = storage_segment_verify_mem(copy, n, seg_name, NULL, &err);
    CHECK_MSG(rc == LERR_CORRUPT, "%s: rc %d (%s)", what, rc, err.msg);
    CHECK_MSG(strstr(err.msg, seg_name) != NULL, "%s: message names the file: %s", what, err.msg);
    if (part) {
        char q[64];
        snprintf(q, sizeof q, "part '%s'", part);
        CHECK_MSG(strstr(err.msg, q) != NULL, "%s: message names %s: %s", what, q, err.msg);
    }
    free(copy);
}

static void test_corruption(void)
{
    size_t n;
    uint8_t *file = slurp(seg_path, &n);
    CHECK(file != NULL);
    if (!file)
        return;
    struct lerr err;
    lerr_init(&err);
    struct storage__seg *seg;
    CHECK(storage__seg_open_mem(file, n, seg_name, &seg, &err) == 0);
    uint8_t *bad = malloc(n);
    /* a flipped byte in every part of every column */
    int parts = 0;
    static const char *const names[8][3] = {[ST_ENC_TIME] = {"time"},
                                            [ST_ENC_LONG] = {"data", "nulls"},
                                            [ST_ENC_DOUBLE] = {"data", "nulls"},
                                            [ST_ENC_FLOAT] = {"data", "nulls"},
                                            [ST_ENC_STRING] = {"dict", "ids", "bitmaps"},
                                            [ST_ENC_TEXT] = {"data", "nulls"},
                                            [ST_ENC_STATE] = {"states"}};
    for (size_t c = 0; c < seg->ncols; c++) {
        for (unsigned p = 0; p < seg->cols[c].nparts; p++) {
            const struct storage__part *pt = &seg->cols[c].parts[p];
            if (!pt->len)
                continue;
            static const double where[] = {0.0, 0.5, 0.999};
            for (size_t w = 0; w < 3; w++) {
                memcpy(bad, file, n);
                bad[pt->off + (uint64_t)(where[w] * (double)(pt->len - 1))] ^= 0x10;
                char what[128];
                snprintf(what, sizeof what, "column %s part %s flip at %.0f%%",
                         seg->cols[c].def.name, names[seg->cols[c].enc][p], where[w] * 100);
                expect_corrupt(bad, n, names[seg->cols[c].enc][p], what);
            }
            parts++;
        }
    }
    CHECK(parts >= 14);
    storage__seg_unref(seg);
    /* header, footer and trailer bytes */
    static const struct {
        long off;
        const char *what;
    } flips[] = {
        {0, "magic"},        {9, "version byte"},    {13, "header crc"},   {-1, "trailer magic"},
        {-20, "footer crc"}, {-32, "footer offset"}, {-40, "footer body"}, {-200, "footer names"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(flips); i++) {
        memcpy(bad, file, n);
        bad[flips[i].off >= 0 ? (size_t)flips[i].off : n + (size_t)flips[i].off] ^= 0x01;
        expect_corrupt(bad, n, NULL, flips[i].what);
    }
    /* truncation at many offsets */
    for (size_t cut = 0; cut < n; cut += n / 61 + 1)
        expect_corrupt(file, cut, NULL, "truncated");
    expect_corrupt(file, n - 1, NULL, "truncated by one byte");
    expect_corrupt(file, 47, NULL, "header and trailer only");
    /* a newer format version, with a valid header checksum */
    memcpy(bad, file, n);
    storage__put_u32(bad + 8, ST_FORMAT_VERSION + 1);
    storage__put_u32(bad + 12, util_crc32c(0, bad, 12));
    lerr_init(&err);
    CHECK_EQ_INT(storage_segment_verify_mem(bad, n, seg_name, NULL, &err), LERR_CORRUPT);
    CHECK_MSG(strstr(err.msg, "format version 2") != NULL, "%s", err.msg);
    memcpy(bad, file, n);
    memcpy(bad, "NOTASEG", 7);
    lerr_init(&err);
    CHECK_EQ_INT(storage_segment_verify_mem(bad, n, seg_name, NULL, &err), LERR_CORRUPT);
    CHECK_MSG(strstr(err.msg, "wrong magic") != NULL, "%s", err.msg);

    /* at open: every part's checksum is checked when a table opens the
     * segment, so a damaged one is never shown; the snapshot says which rows
     * are missing (queries over them fail) and the table lists it as corrupt */
    char *dir = tst_mkdtemp();
    CHECK(storage__seg_open_mem(file, n, seg_name, &seg, &err) == 0);
    const struct storage__part *ids = &seg->cols[C_S].parts[ST_P_IDS];
    memcpy(bad, file, n);
    bad[ids->off + ids->len / 2] ^= 0x40;
    storage__seg_unref(seg);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, seg_name);
    FILE *f = fopen(p, "wb");
    fwrite(bad, 1, n, f);
    fclose(f);
    const char *known[] = {seg_name};
    struct storage_open_opts oo = {.known = known, .nknown = 1};
    struct storage_schema sch = detail_schema();
    struct storage_table *t;
    lerr_init(&err);
    CHECK(storage_table_open(dir, "c", &sch, &oo, &t, &err) == 0);
    struct storage_snapshot *s = storage_table_snapshot(t);
    CHECK_EQ_INT(s->nviews, 0);
    CHECK_EQ_INT(s->nmissing, 1);
    if (s->nmissing == 1) {
        CHECK_EQ_STR(s->missing[0].name, seg_name);
        CHECK_MSG(strstr(s->missing[0].msg, "part 'ids'") &&
                      strstr(s->missing[0].msg, "column 's'"),
                  "%s", s->missing[0].msg);
        CHECK(s->missing[0].chunk_start == INT64_MIN && s->missing[0].chunk_end == INT64_MAX);
    }
    storage_snapshot_free(s);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.corrupt_count, 1);
    CHECK_EQ_INT(st.segment_count, 0);
    char nm[128], msg[600];
    CHECK(storage_table_corrupt(t, 0, nm, sizeof nm, msg, sizeof msg));
    CHECK_EQ_STR(nm, seg_name);
    CHECK(!storage_table_corrupt(t, 1, nm, sizeof nm, msg, sizeof msg));
    s = storage_table_snapshot(t);
    CHECK_EQ_INT(s->nviews, 0);
    storage_snapshot_free(s);
    storage_table_free(t);
    /* with verify_all the open itself reports it */
    oo.verify_all = true;
    CHECK(storage_table_open(dir, "c", &sch, &oo, &t, &err) == 0);
    storage_table_status(t, &st);
    CHECK(st.corrupt_count == 1 && st.row_count == 0);
    storage_table_free(t);
    CHECK(tst_exists(dir, seg_name)); /* reported, never deleted */
    tst_rmtree(dir);
    free(dir);
    free(bad);
    free(file);
}

int main(void)
{
    /* corrupt files are logged as errors on purpose; keep the output short */
    log_set_level((enum log_level)(LOG_ERROR + 1));
    test_crc();
    test_bitpack();
    test_codecs();
    test_hash();
    test_gran();
    test_roundtrip();
    test_zero_rows();
    test_bitmap_layouts();
    test_time_order();
    test_corruption();
    /* the round trip's directory */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", seg_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        tst_rmtree(dir);
    }
    return check_summary();
}
