/*
 * test_storage_write.c — helpers of the segment writer (segwrite.c). Its
 * dictionary sort (storage__skey_sort) against qsort with the same comparison as the oracle: random
 * values of every length around the 8- and 16-byte prefixes, values that
 * share their first 8 or 16 bytes (the radix passes decide nothing then),
 * values that are prefixes of one another or differ only in trailing zero
 * bytes (the zero padding of the prefixes ties them), bytes >= 0x80, runs
 * of every size around the thresholds, and duplicates (ties). The same
 * dictionary written as a segment twice gives the same bytes. Numbers read
 * from a realtime buffer in sorted order (rt_gather_longs) are what reading
 * row by row gives.
 */
#include "test_storage_common.h"
#include "storage/storage_int.h"

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

enum shape { RANDOM, SHARE8, SHARE16, PREFIXES, FEW_BYTES, HIGH_BYTES, NSHAPES };
static const char *const shape_name[] = {"random",   "share8",    "share16",
                                         "prefixes", "few-bytes", "high-bytes"};

/* Value i of a set: bytes into out (up to 48), returns the length. */
static uint32_t make_value(enum shape sh, uint8_t *out)
{
    uint32_t n = (uint32_t)(rnd() % 41);
    switch (sh) {
    case RANDOM:
        for (uint32_t i = 0; i < n; i++)
            out[i] = (uint8_t)rnd();
        return n;
    case SHARE8:
    case SHARE16: {
        const char *pre = sh == SHARE8 ? "Article_" : "https://example.";
        uint32_t pn = (uint32_t)strlen(pre), tail = (uint32_t)(rnd() % 12);
        memcpy(out, pre, pn);
        for (uint32_t i = 0; i < tail; i++)
            out[pn + i] = (uint8_t)('a' + rnd() % 3); /* few letters: shared 16 bytes too */
        return pn + tail;
    }
    case PREFIXES:
        /* "a", "a\0", "a\0\0", "ab", ...: ties in the zero-padded prefixes */
        n = (uint32_t)(rnd() % 20);
        for (uint32_t i = 0; i < n; i++)
            out[i] = rnd() % 3 ? 0 : (uint8_t)('a' + rnd() % 2);
        return n;
    case FEW_BYTES:
        for (uint32_t i = 0; i < n; i++)
            out[i] = (uint8_t)('x' + rnd() % 2);
        return n;
    default:
        for (uint32_t i = 0; i < n; i++)
            out[i] = (uint8_t)(0x7f + rnd() % 3); /* 0x7f, 0x80, 0x81: signedness */
        return n;
    }
}

/*
 * n values of one shape (with `dups` of them repeated) sorted both ways:
 * the byte sequences must match position by position.
 */
static void check_one(enum shape sh, size_t n, size_t dups)
{
    uint8_t *bytes = malloc(n * 48 + 1);
    struct storage__skey *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b),
                         *tmp = malloc((n + 1) * sizeof *tmp);
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = bytes + i * 48;
        uint32_t len;
        if (i >= n - dups && i > 0) { /* a copy of an earlier value */
            size_t j = rnd() % i;
            len = a[j].n;
            memcpy(p, bytes + j * 48, len);
        } else {
            len = make_value(sh, p);
        }
        storage__skey_set(&a[i], (const char *)p, len, (uint32_t)i + 1);
    }
    memcpy(b, a, n * sizeof *a);
    qsort(b, n, sizeof *b, storage__skey_cmp);
    storage__skey_sort(a, n, tmp);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (a[i].n != b[i].n || memcmp(a[i].p, b[i].p, a[i].n) != 0)
            first = bad++ ? first : i;
    CHECK_MSG(bad == 0, "%s n=%zu dups=%zu: %zu positions differ from qsort, first at %zu",
              shape_name[sh], n, dups, bad, first);
    /* every id once: a permutation, nothing lost or doubled */
    uint8_t *seen = calloc(n + 1, 1);
    size_t twice = 0;
    for (size_t i = 0; i < n; i++)
        twice += seen[a[i].id]++ != 0;
    CHECK_MSG(twice == 0, "%s n=%zu: %zu ids twice", shape_name[sh], n, twice);
    free(seen);
    free(bytes);
    free(a);
    free(b);
    free(tmp);
}

static void test_sort_oracle(void)
{
    static const size_t sizes[] = {0, 1, 2, 3, 24, 25, 63, 64, 65, 200, 1000, 4096, 30000};
    for (int sh = 0; sh < NSHAPES; sh++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            check_one((enum shape)sh, sizes[i], 0);
            check_one((enum shape)sh, sizes[i], sizes[i] / 3); /* ties */
        }
    /* all equal */
    check_one(SHARE16, 500, 499);
}

/* Runs longer than the radix threshold sharing their first 8 bytes, inside a
 * set whose other values do not: the second-level pass on a sub-range. */
static void test_sort_mixed_runs(void)
{
    enum { N = 5000 };
    static uint8_t bytes[N][48];
    static struct storage__skey a[N], b[N], tmp[N];
    for (size_t i = 0; i < N; i++) {
        enum shape sh = i % 3 == 0 ? RANDOM : i % 3 == 1 ? SHARE8 : SHARE16;
        uint32_t n = make_value(sh, bytes[i]);
        storage__skey_set(&a[i], (const char *)bytes[i], n, (uint32_t)i + 1);
    }
    memcpy(b, a, sizeof a);
    qsort(b, N, sizeof *b, storage__skey_cmp);
    storage__skey_sort(a, N, tmp);
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += a[i].n != b[i].n || memcmp(a[i].p, b[i].p, a[i].n) != 0;
    CHECK_EQ_INT(bad, 0);
}

/* Reads a whole file into *out (malloc'd); its length, or -1. */
static long slurp(const char *path, uint8_t **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc(n > 0 ? (size_t)n : 1);
    if (fread(*out, 1, (size_t)n, f) != (size_t)n)
        n = -1;
    fclose(f);
    return n;
}

/*
 * One realtime buffer with a high-cardinality string column written as a
 * segment twice, the first time with fresh encoding buffers, the second
 * with the ones the thread kept (codec.c's pick_bufs) after other blocks
 * went through them: the same bytes (a sort that left ties, or scratch
 * reused, to chance would show here), and the dictionary reads back in
 * byte order.
 */
static void test_segment_repeatable(void)
{
    char *dir = tst_mkdtemp();
    struct lerr err;
    lerr_init(&err);
    struct segstore *store;
    CHECK(segstore_local_new(dir, &store, &err) == 0);
    static const struct storage_column cols[] = {{.name = "s", .type = SQL_STRING}};
    struct storage_schema def = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = cols, .ncols = 1};
    struct storage__schema *sc = storage__schema_new(&def, &err);
    CHECK(sc != NULL);
    enum { N = 9000 };
    static uint8_t vb[N][48];
    static int64_t tm[N];
    static struct sql_value vals[N];
    static uint32_t rows[N];
    for (uint32_t i = 0; i < N; i++) {
        uint32_t n = make_value((enum shape)(i % NSHAPES), vb[i]);
        vals[i] = sql_string((const char *)vb[i], n);
        tm[i] = 1700000000000LL + (int64_t)(rnd() % 100000);
        rows[i] = i;
    }
    struct storage_batch_col bc = {.col = 1, .values = vals};
    struct storage_batch batch = {.nrows = N, .time = tm, .ncols = 1, .cols = &bc};
    struct rt_buf *b = rt_new(sc, 1699920000000LL, 1700006400000LL, N, &err);
    struct arena scratch;
    arena_init(&scratch, 1 << 16, 0);
    CHECK(rt_append(b, sc, &batch, rows, N, &scratch, &err) == N);
    char names[2][96];
    uint8_t *bytes[2] = {NULL, NULL};
    long len[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        struct storage_segment_info info;
        snprintf(names[k], sizeof names[k], "seg%d%s", k, ST_FILE_SUFFIX);
        CHECK(storage__seg_write(store, names[k], sc, b, N, false, &info, &err) == 0);
        if (k == 0) {
            /* between the two: other blocks through the thread's encoding buffers,
             * one small (leaves its bytes there) and one big (they are let go) */
            enum { BIG = 3 << 20 };
            uint8_t *junk = malloc(BIG);
            for (size_t i = 0; i < BIG; i++)
                junk[i] = (uint8_t)(rnd() >> 60);
            struct buf o;
            buf_init(&o, 0);
            CHECK(storage__encode_longs((const int64_t *)junk, 4096, true, &o) >= 0);
            CHECK(storage__encode_bytes(junk, BIG, true, &o) >= 0);
            buf_free(&o);
            free(junk);
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        len[k] = slurp(path, &bytes[k]);
    }
    CHECK(len[0] > 0 && len[0] == len[1]);
    CHECK(len[0] > 0 && bytes[0] && bytes[1] && memcmp(bytes[0], bytes[1], (size_t)len[0]) == 0);
    /* the dictionary in byte order, every value once */
    struct storage__seg *seg = NULL;
    CHECK(storage__seg_open(store, names[0], &seg, &err) == 0);
    if (seg) {
        CHECK(storage__seg_verify_all(seg, &err) == 0);
        uint32_t count = seg->cols[1].dict_count;
        int bad = 0;
        const char *pp = NULL;
        uint32_t pn = 0;
        for (uint32_t id = 1; id <= count; id++) {
            const char *p;
            uint32_t n;
            storage__seg_dict_entry(seg, 1, id, &p, &n);
            if (id > 1) {
                int c = memcmp(pp, p, pn < n ? pn : n);
                bad += c > 0 || (c == 0 && pn >= n);
            }
            pp = p;
            pn = n;
        }
        CHECK_EQ_INT(bad, 0);
        storage__seg_unref(seg);
    }
    free(bytes[0]);
    free(bytes[1]);
    arena_destroy(&scratch);
    rt_unref(b);
    storage__schema_unref(sc);
    segstore_unref(store);
    tst_rmtree(dir);
    free(dir);
}

/* rt_gather_longs against rt_read_longs row by row: values, NULLs (rows
 * never given a value, and a column with no page at all), any order. */
static void test_gather(void)
{
    struct lerr err;
    lerr_init(&err);
    static const struct storage_column cols[] = {{.name = "l", .type = SQL_LONG},
                                                 {.name = "e", .type = SQL_DOUBLE}};
    struct storage_schema def = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = cols, .ncols = 2};
    struct storage__schema *sc = storage__schema_new(&def, &err);
    enum { N = 3 * STORAGE_BLOCK_ROWS + 77 };
    static int64_t tm[N];
    static struct sql_value lv[N], ev[N];
    static uint32_t rows[N], perm[N];
    for (uint32_t i = 0; i < N; i++) {
        tm[i] = 1700000000000LL + i;
        lv[i] = i % 5 == 0 ? sql_null(SQL_LONG) : sql_long((int64_t)(rnd() >> 1) - (1LL << 61));
        ev[i] = sql_null(SQL_DOUBLE); /* the column never gets a page */
        rows[i] = perm[i] = i;
    }
    for (uint32_t i = N - 1; i > 0; i--) { /* a shuffle */
        uint32_t j = (uint32_t)(rnd() % (i + 1)), x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    struct storage_batch_col bc[2] = {{.col = 1, .values = lv}, {.col = 2, .values = ev}};
    struct storage_batch batch = {.nrows = N, .time = tm, .ncols = 2, .cols = bc};
    struct rt_buf *b = rt_new(sc, 1699920000000LL, 1700006400000LL, N, &err);
    struct arena scratch;
    arena_init(&scratch, 1 << 16, 0);
    CHECK(rt_append(b, sc, &batch, rows, N, &scratch, &err) == N);
    static int64_t got[N], want[N];
    static bool gn[N], wn[N];
    for (size_t col = 1; col <= 2; col++) {
        rt_gather_longs(b, col, perm, N, got, gn);
        int bad = 0;
        for (uint32_t k = 0; k < N; k++) {
            rt_read_longs(b, col, perm[k], 1, &want[k], &wn[k]);
            bad += got[k] != want[k] || gn[k] != wn[k];
        }
        CHECK_MSG(bad == 0, "column %zu: %d rows differ", col, bad);
        CHECK(gn[0] == (perm[0] % 5 == 0 || col == 2));
    }
    arena_destroy(&scratch);
    rt_unref(b);
    storage__schema_unref(sc);
}

int main(void)
{
    log_set_level((enum log_level)(LOG_ERROR + 1));
    test_sort_oracle();
    test_sort_mixed_runs();
    test_segment_repeatable();
    test_gather();
    return check_summary();
}
