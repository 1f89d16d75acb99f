/*
 * test_sketch_theta.c — the theta sketch family (sketch/theta.h) against
 * Apache DataSketches itself and against exact answers:
 *   - DataSketches' cross-language files (tests/data/datasketches/, see
 *     README-theta.md): every theta_n<N>_{java,cpp}.sk and compressed one
 *     reads, estimates N within 3 % (their tests' margin), holds ordered
 *     hashes below theta; rebuilding the sketch the way their generator did
 *     (default 4096 entries, update(i) for i < N) gives the same bytes, plain
 *     and compressed; serial versions 1 and 2 give the values DataSketches'
 *     C++ tests state (4342 retained, theta 0.531700444213199, estimate
 *     8166.25234614053, bounds at 2 standard deviations);
 *   - exact counts below nominal entries; Druid's theta tutorial (19 rows,
 *     rolled up by day) with the integers derived by hand; 1M distinct
 *     values within 3 relative standard errors; union and intersection in
 *     any order; round trips; every corrupt byte an error naming its place.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sketch/theta.h"
#include "util/util.h"

static const char *data_dir(void)
{
    static char dir[512];
    if (dir[0])
        return dir;
    FILE *f = fopen("tests/data/datasketches/theta_n0_java.sk", "rb");
    if (f) {
        fclose(f);
        snprintf(dir, sizeof dir, "tests/data/datasketches");
    } else {
        /* run from elsewhere: next to this source file */
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        strncat(dir, "/../data/datasketches", sizeof dir - strlen(dir) - 1);
    }
    return dir;
}

static uint8_t *read_file(const char *name, size_t *len)
{
    char path[768];
    snprintf(path, sizeof path, "%s/%s", data_dir(), name);
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    CHECK_EQ_INT(got, n);
    *len = got;
    return buf;
}

static struct sketch_theta_compact *load(const char *name)
{
    size_t n = 0;
    uint8_t *b = read_file(name, &n);
    if (!b)
        return NULL;
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_compact *c =
        sketch_theta_compact_deserialize(b, n, SKETCH_DEFAULT_SEED, &err);
    CHECK_MSG(c != NULL, "%s: %s", name, err.msg);
    free(b);
    return c;
}

/* The sketch DataSketches' generators build: default nominal entries of
 * the library (4096), update(i) for i < n. */
static struct sketch_theta *build_like_generator(int n, float p)
{
    struct sketch_theta_config cfg;
    sketch_theta_config_default(&cfg);
    cfg.nominal_entries = 4096;
    cfg.p = p;
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta *s = sketch_theta_new(&cfg, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT(sketch_theta_update_long(s, i, &err), 0);
    return s;
}

static bool same_bytes(const struct sketch_theta_compact *c, bool compressed, const char *file)
{
    size_t n = 0;
    uint8_t *want = read_file(file, &n);
    uint8_t *got = NULL;
    size_t got_len = 0;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(sketch_theta_compact_serialize(c, compressed, &got, &got_len, &err), 0);
    bool same = want && got && got_len == n && memcmp(got, want, n) == 0;
    if (!same && want && got) {
        size_t i = 0;
        while (i < n && i < got_len && got[i] == want[i])
            i++;
        fprintf(stderr, "  %s: %zu bytes vs %zu in the file, first difference at byte %zu\n", file,
                got_len, n, i);
    }
    free(want);
    free(got);
    return same;
}

static void check_hashes_ordered_below_theta(const struct sketch_theta_compact *c,
                                             const char *name)
{
    const uint64_t *e = sketch_theta_compact_entries(c);
    uint64_t theta = sketch_theta_compact_theta64(c), prev = 0;
    bool ok = true;
    for (uint32_t i = 0; i < sketch_theta_compact_num_retained(c); i++) {
        ok = ok && e[i] < theta && e[i] > prev;
        prev = e[i];
    }
    CHECK_MSG(ok, "%s: hashes not ascending below theta", name);
    CHECK_MSG(sketch_theta_compact_is_ordered(c), "%s: not ordered", name);
}

static const int ns[] = {0, 1, 10, 100, 1000, 10000, 100000, 1000000};

static void test_compat_files(void)
{
    for (size_t i = 0; i < LS_ARRAY_LEN(ns); i++) {
        int n = ns[i];
        struct sketch_theta *s = build_like_generator(n, 1.0f);
        struct lerr err;
        lerr_init(&err);
        struct sketch_theta_compact *mine = sketch_theta_compact(s, true, &err);
        for (int lang = 0; lang < 2; lang++) {
            char name[64];
            snprintf(name, sizeof name, "theta_n%d_%s.sk", n, lang ? "cpp" : "java");
            struct sketch_theta_compact *c = load(name);
            if (!c)
                continue;
            CHECK_MSG(sketch_theta_compact_is_empty(c) == (n == 0), "%s: empty flag", name);
            CHECK_MSG(sketch_theta_compact_is_estimation_mode(c) == (n > 1000),
                      "%s: estimation mode", name);
            CHECK_EQ_DBL(sketch_theta_compact_estimate(c), n, n * 0.03);
            check_hashes_ordered_below_theta(c, name);
            /* the same hashes and theta as our sketch of the same values */
            CHECK_EQ_INT(sketch_theta_compact_num_retained(c),
                         sketch_theta_compact_num_retained(mine));
            CHECK(sketch_theta_compact_theta64(c) == sketch_theta_compact_theta64(mine));
            CHECK(memcmp(sketch_theta_compact_entries(c), sketch_theta_compact_entries(mine),
                         8 * (size_t)sketch_theta_compact_num_retained(c)) == 0);
            CHECK_EQ_DBL(sketch_theta_compact_estimate(c), sketch_theta_estimate(s), 0);
            /* re-serialized as Java writes it (C++ differs only in the
             * empty form's seed hash and the single-item flag) */
            snprintf(name, sizeof name, "theta_n%d_java.sk", n);
            CHECK_MSG(same_bytes(c, false, name), "re-serialized %s_%s", name, lang ? "cpp" : "");
            sketch_theta_compact_free(c);
        }
        char name[64];
        snprintf(name, sizeof name, "theta_n%d_java.sk", n);
        CHECK_MSG(same_bytes(mine, false, name), "our sketch of %d values vs %s", n, name);
        if (n >= 10) {
            snprintf(name, sizeof name, "theta_compressed_n%d_java.sk", n);
            CHECK_MSG(same_bytes(mine, true, name), "our compressed sketch vs %s", name);
            for (int lang = 0; lang < 2; lang++) {
                snprintf(name, sizeof name, "theta_compressed_n%d_%s.sk", n,
                         lang ? "cpp" : "java");
                struct sketch_theta_compact *c = load(name);
                if (!c)
                    continue;
                CHECK_MSG(sketch_theta_compact_is_estimation_mode(c) == (n > 1000),
                          "%s: estimation mode", name);
                CHECK_EQ_DBL(sketch_theta_compact_estimate(c), n, n * 0.03);
                check_hashes_ordered_below_theta(c, name);
                CHECK_EQ_INT(sketch_theta_compact_num_retained(c),
                             sketch_theta_compact_num_retained(mine));
                CHECK(memcmp(sketch_theta_compact_entries(c), sketch_theta_compact_entries(mine),
                             8 * (size_t)sketch_theta_compact_num_retained(c)) == 0);
                CHECK_MSG(same_bytes(c, true, name), "re-serialized %s", name);
                sketch_theta_compact_free(c);
            }
        }
        sketch_theta_compact_free(mine);
        sketch_theta_free(s);
    }
}

static void test_non_empty_no_entries(void)
{
    for (int lang = 0; lang < 2; lang++) {
        const char *name = lang ? "theta_non_empty_no_entries_cpp.sk"
                                : "theta_non_empty_no_entries_java.sk";
        struct sketch_theta_compact *c = load(name);
        if (!c)
            continue;
        CHECK(!sketch_theta_compact_is_empty(c));
        CHECK_EQ_INT(sketch_theta_compact_num_retained(c), 0);
        CHECK(sketch_theta_compact_is_estimation_mode(c));
        CHECK_EQ_DBL(sketch_theta_compact_estimate(c), 0, 0);
        CHECK_MSG(same_bytes(c, false, "theta_non_empty_no_entries_java.sk"), "%s", name);
        sketch_theta_compact_free(c);
    }
    /* the generator: p = 0.01, one update, which theta rejects */
    struct sketch_theta *s = build_like_generator(0, 0.01f);
    struct lerr err;
    lerr_init(&err);
    sketch_theta_update_long(s, 1, &err);
    CHECK(!sketch_theta_is_empty(s));
    CHECK_EQ_INT(sketch_theta_num_retained(s), 0);
    struct sketch_theta_compact *c = sketch_theta_compact(s, true, &err);
    CHECK(same_bytes(c, false, "theta_non_empty_no_entries_java.sk"));
    sketch_theta_compact_free(c);
    sketch_theta_free(s);
}

static void test_old_versions(void)
{
    for (int v = 1; v <= 2; v++) {
        char name[64];
        snprintf(name, sizeof name, "theta_compact_empty_from_java_v%d.sk", v);
        struct sketch_theta_compact *c = load(name);
        if (c) {
            CHECK(sketch_theta_compact_is_empty(c));
            CHECK(!sketch_theta_compact_is_estimation_mode(c));
            CHECK_EQ_INT(sketch_theta_compact_num_retained(c), 0);
            CHECK_EQ_DBL(sketch_theta_compact_theta(c), 1.0, 0);
            CHECK_EQ_DBL(sketch_theta_compact_estimate(c), 0, 0);
            CHECK_EQ_DBL(sketch_theta_compact_lower_bound(c, 1), 0, 0);
            CHECK_EQ_DBL(sketch_theta_compact_upper_bound(c, 1), 0, 0);
            CHECK(same_bytes(c, false, "theta_n0_java.sk"));
            sketch_theta_compact_free(c);
        }
        snprintf(name, sizeof name, "theta_compact_estimation_from_java_v%d.sk", v);
        c = load(name);
        if (!c)
            continue;
        CHECK(!sketch_theta_compact_is_empty(c));
        CHECK(sketch_theta_compact_is_estimation_mode(c));
        CHECK(sketch_theta_compact_is_ordered(c));
        CHECK_EQ_INT(sketch_theta_compact_num_retained(c), 4342);
        CHECK_EQ_DBL(sketch_theta_compact_theta(c), 0.531700444213199, 1e-10);
        CHECK_EQ_DBL(sketch_theta_compact_estimate(c), 8166.25234614053, 1e-10);
        CHECK_EQ_DBL(sketch_theta_compact_lower_bound(c, 2), 7996.956955317471, 1e-10);
        CHECK_EQ_DBL(sketch_theta_compact_upper_bound(c, 2), 8339.090301078124, 1e-10);
        char txt[1024];
        sketch_theta_compact_to_string(c, txt, sizeof txt);
        CHECK_MSG(strstr(txt, "Estimate                : 8166.2523461405") &&
                      strstr(txt, "Retained Entries        : 4342") &&
                      strstr(txt, "Theta (double)          : 0.5317004442131"),
                  "%s", txt);
        /* the same construction here gives the same sketch */
        struct sketch_theta *s = build_like_generator(8192, 1.0f);
        CHECK_EQ_INT(sketch_theta_num_retained(s), 4342);
        CHECK(sketch_theta_theta64(s) == sketch_theta_compact_theta64(c));
        for (int sd = 1; sd <= 3; sd++) {
            CHECK_EQ_DBL(sketch_theta_lower_bound(s, sd), sketch_theta_compact_lower_bound(c, sd),
                         0);
            CHECK_EQ_DBL(sketch_theta_upper_bound(s, sd), sketch_theta_compact_upper_bound(c, sd),
                         0);
        }
        struct lerr err;
        lerr_init(&err);
        struct sketch_theta_compact *mine = sketch_theta_compact(s, true, &err);
        CHECK(memcmp(sketch_theta_compact_entries(mine), sketch_theta_compact_entries(c),
                     8 * 4342) == 0);
        sketch_theta_compact_free(mine);
        sketch_theta_free(s);
        sketch_theta_compact_free(c);
    }
}

/* Set operations over the files: n10 ⊂ n100 ⊂ ... (all are update(i) for i < n). */
static void test_setops_on_files(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_compact *a = load("theta_n1000_java.sk"), *b = load("theta_n100_cpp.sk"),
                                *big = load("theta_compressed_n100000_java.sk"),
                                *e = load("theta_n0_cpp.sk");
    if (!a || !b || !big || !e)
        return;
    struct sketch_theta_config cfg;
    sketch_theta_config_default(&cfg);
    struct sketch_theta_union *u = sketch_theta_union_new(&cfg, &err);
    CHECK_EQ_INT(sketch_theta_union_add(u, a, &err), 0);
    CHECK_EQ_INT(sketch_theta_union_add(u, b, &err), 0);
    CHECK_EQ_INT(sketch_theta_union_add(u, e, &err), 0);
    struct sketch_theta_compact *r = sketch_theta_union_result(u, true, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 1000, 0);
    sketch_theta_compact_free(r);
    sketch_theta_union_free(u);

    struct sketch_theta_intersection *x = sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &err);
    CHECK_EQ_INT(sketch_theta_intersection_add(x, a, &err), 0);
    CHECK_EQ_INT(sketch_theta_intersection_add(x, b, &err), 0);
    r = sketch_theta_intersection_result(x, true, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 100, 0);
    sketch_theta_compact_free(r);
    /* with the estimating 100000 sketch: theta drops to its theta */
    CHECK_EQ_INT(sketch_theta_intersection_add(x, big, &err), 0);
    r = sketch_theta_intersection_result(x, true, &err);
    CHECK(sketch_theta_compact_theta64(r) == sketch_theta_compact_theta64(big));
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 100, 100 * 0.5);
    sketch_theta_compact_free(r);
    sketch_theta_intersection_free(x);

    r = sketch_theta_a_not_b(a, b, true, SKETCH_DEFAULT_SEED, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 900, 0);
    sketch_theta_compact_free(r);
    r = sketch_theta_a_not_b(b, a, true, SKETCH_DEFAULT_SEED, &err);
    CHECK(sketch_theta_compact_is_empty(r));
    sketch_theta_compact_free(r);
    r = sketch_theta_a_not_b(big, a, true, SKETCH_DEFAULT_SEED, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 99000, 99000 * 0.03);
    sketch_theta_compact_free(r);
    sketch_theta_compact_free(a);
    sketch_theta_compact_free(b);
    sketch_theta_compact_free(big);
    sketch_theta_compact_free(e);
}

/* ---- exact answers ------------------------------------------------------------------ */

static void test_exact_small(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta *s = sketch_theta_new(NULL, &err);
    CHECK(sketch_theta_is_empty(s));
    CHECK_EQ_DBL(sketch_theta_estimate(s), 0, 0);
    /* 10000 distinct values, each three times, as long, double and string */
    for (int rep = 0; rep < 3; rep++) {
        for (int i = 0; i < 5000; i++) {
            CHECK(sketch_theta_update_long(s, i, &err) == 0);
            char str[32];
            int len = snprintf(str, sizeof str, "user-%d", i);
            CHECK(sketch_theta_update_bytes(s, str, (size_t)len, &err) == 0);
        }
    }
    CHECK(sketch_theta_update_bytes(s, "", 0, &err) == 0); /* not an update */
    CHECK_EQ_DBL(sketch_theta_estimate(s), 10000, 0);
    CHECK_EQ_DBL(sketch_theta_lower_bound(s, 3), 10000, 0);
    CHECK_EQ_DBL(sketch_theta_upper_bound(s, 3), 10000, 0);
    /* doubles hash as the long of their bits: -0.0 is 0.0, whose bits are
     * the long 0 already counted; 1.0 is not the long 1 */
    sketch_theta_update_double(s, -0.0, &err);
    sketch_theta_update_double(s, 0.0, &err);
    CHECK_EQ_DBL(sketch_theta_estimate(s), 10000, 0);
    sketch_theta_update_double(s, 1.0, &err);
    CHECK_EQ_DBL(sketch_theta_estimate(s), 10001, 0);
    sketch_theta_reset(s);
    CHECK(sketch_theta_is_empty(s));
    CHECK_EQ_DBL(sketch_theta_estimate(s), 0, 0);
    sketch_theta_free(s);
}

static void test_config_errors(void)
{
    struct sketch_theta_config cfg;
    struct lerr err;
    uint32_t bad_k[] = {0, 8, 1000, 16383, 1u << 27};
    for (size_t i = 0; i < LS_ARRAY_LEN(bad_k); i++) {
        sketch_theta_config_default(&cfg);
        cfg.nominal_entries = bad_k[i];
        lerr_init(&err);
        CHECK(sketch_theta_new(&cfg, &err) == NULL);
        CHECK_EQ_INT(err.code, LERR_INVALID);
        CHECK_MSG(strstr(err.msg, "power of two") != NULL, "%s", err.msg);
    }
    sketch_theta_config_default(&cfg);
    cfg.p = 0;
    lerr_init(&err);
    CHECK(sketch_theta_new(&cfg, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "sampling probability") != NULL, "%s", err.msg);
    sketch_theta_config_default(&cfg);
    cfg.lg_resize_factor = 4;
    lerr_init(&err);
    CHECK(sketch_theta_union_new(&cfg, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "resize factor") != NULL, "%s", err.msg);
    /* the smallest and the resize factors all give exact counts below k */
    for (int rf = 0; rf <= 3; rf++) {
        sketch_theta_config_default(&cfg);
        cfg.nominal_entries = 16;
        cfg.lg_resize_factor = rf;
        lerr_init(&err);
        struct sketch_theta *s = sketch_theta_new(&cfg, &err);
        for (int i = 0; i < 16; i++)
            sketch_theta_update_long(s, i, &err);
        CHECK_EQ_DBL(sketch_theta_estimate(s), 16, 0);
        for (int i = 16; i < 1000; i++)
            sketch_theta_update_long(s, i, &err);
        CHECK(sketch_theta_theta64(s) < SKETCH_THETA_MAX_THETA);
        CHECK_EQ_DBL(sketch_theta_estimate(s), 1000, 1000 * 0.75);
        sketch_theta_free(s);
    }
}

/* Druid's theta tutorial: 19 rows of date,uid,show,episode, rolled up by
 * day into one theta sketch of uid per (day, show, episode). */
struct row {
    const char *date, *uid, *show, *episode;
};
static const struct row tutorial[] = {
    {"2022-05-19", "alice", "Game of Thrones", "S1E1"},
    {"2022-05-19", "alice", "Game of Thrones", "S1E2"},
    {"2022-05-19", "alice", "Game of Thrones", "S1E1"},
    {"2022-05-19", "bob", "Bridgerton", "S1E1"},
    {"2022-05-20", "alice", "Game of Thrones", "S1E1"},
    {"2022-05-20", "carol", "Bridgerton", "S1E2"},
    {"2022-05-20", "dan", "Bridgerton", "S1E1"},
    {"2022-05-21", "alice", "Game of Thrones", "S1E1"},
    {"2022-05-21", "carol", "Bridgerton", "S1E1"},
    {"2022-05-21", "erin", "Game of Thrones", "S1E1"},
    {"2022-05-21", "alice", "Bridgerton", "S1E1"},
    {"2022-05-22", "bob", "Game of Thrones", "S1E1"},
    {"2022-05-22", "bob", "Bridgerton", "S1E1"},
    {"2022-05-22", "carol", "Bridgerton", "S1E2"},
    {"2022-05-22", "bob", "Bridgerton", "S1E1"},
    {"2022-05-22", "erin", "Game of Thrones", "S1E1"},
    {"2022-05-22", "erin", "Bridgerton", "S1E2"},
    {"2022-05-23", "erin", "Game of Thrones", "S1E1"},
    {"2022-05-23", "alice", "Game of Thrones", "S1E1"},
};

struct rolled {
    const char *date, *show, *episode;
    uint8_t *bytes; /* the stored (serialized) sketch */
    size_t len;
};

static size_t rollup(struct rolled *out)
{
    size_t n = 0;
    struct lerr err;
    lerr_init(&err);
    for (size_t i = 0; i < LS_ARRAY_LEN(tutorial); i++) {
        const struct row *r = &tutorial[i];
        size_t j = 0;
        while (j < n && !(strcmp(out[j].date, r->date) == 0 && strcmp(out[j].show, r->show) == 0 &&
                          strcmp(out[j].episode, r->episode) == 0))
            j++;
        if (j < n)
            continue;
        /* a new rolled-up row: its sketch is every uid of the same key */
        struct sketch_theta *s = sketch_theta_new(NULL, &err);
        for (size_t k = i; k < LS_ARRAY_LEN(tutorial); k++) {
            const struct row *q = &tutorial[k];
            if (strcmp(q->date, r->date) == 0 && strcmp(q->show, r->show) == 0 &&
                strcmp(q->episode, r->episode) == 0)
                sketch_theta_update_bytes(s, q->uid, strlen(q->uid), &err);
        }
        struct sketch_theta_compact *c = sketch_theta_compact(s, false, &err);
        out[n] = (struct rolled){r->date, r->show, r->episode, NULL, 0};
        CHECK_EQ_INT(sketch_theta_compact_serialize(c, false, &out[n].bytes, &out[n].len, &err),
                     0);
        sketch_theta_compact_free(c);
        sketch_theta_free(s);
        n++;
    }
    return n;
}

/* DS_THETA(theta_uid) FILTER (WHERE show = ? AND episode = ? AND date = ?): NULL matches all. */
static struct sketch_theta_compact *ds_theta(const struct rolled *rows, size_t n, const char *show,
                                             const char *episode, const char *date)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_union *u = sketch_theta_union_new(NULL, &err);
    for (size_t i = 0; i < n; i++) {
        if ((show && strcmp(rows[i].show, show)) ||
            (episode && strcmp(rows[i].episode, episode)) || (date && strcmp(rows[i].date, date)))
            continue;
        struct sketch_theta_compact *c = sketch_theta_compact_deserialize(
            rows[i].bytes, rows[i].len, SKETCH_DEFAULT_SEED, &err);
        CHECK_MSG(c != NULL, "%s", err.msg);
        CHECK_EQ_INT(sketch_theta_union_add(u, c, &err), 0);
        sketch_theta_compact_free(c);
    }
    struct sketch_theta_compact *r = sketch_theta_union_result(u, true, &err);
    sketch_theta_union_free(u);
    return r;
}

static double est_free(struct sketch_theta_compact *c)
{
    double e = sketch_theta_compact_estimate(c);
    sketch_theta_compact_free(c);
    return e;
}

static void test_druid_tutorial(void)
{
    struct rolled rows[32];
    size_t n = rollup(rows);
    CHECK_EQ_INT(n, 12); /* 19 rows, 12 distinct (day, show, episode) */
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_DBL(est_free(ds_theta(rows, n, NULL, NULL, NULL)), 5,
                 0); /* alice bob carol dan erin */
    CHECK_EQ_DBL(est_free(ds_theta(rows, n, "Bridgerton", NULL, NULL)), 5, 0);
    CHECK_EQ_DBL(est_free(ds_theta(rows, n, "Game of Thrones", NULL, NULL)), 3,
                 0); /* alice erin bob */
    CHECK_EQ_DBL(est_free(ds_theta(rows, n, NULL, NULL, "2022-05-19")), 2, 0);
    CHECK_EQ_DBL(est_free(ds_theta(rows, n, NULL, NULL, "2022-05-20")), 3, 0);
    CHECK_EQ_DBL(est_free(ds_theta(rows, n, NULL, NULL, "2022-05-22")), 3, 0);
    CHECK_EQ_DBL(est_free(ds_theta(rows, n, NULL, NULL, "2022-05-23")), 2, 0);

    struct sketch_theta_compact *e1 =
        ds_theta(rows, n, "Bridgerton", "S1E1", NULL); /* bob dan carol alice */
    struct sketch_theta_compact *e2 =
        ds_theta(rows, n, "Bridgerton", "S1E2", NULL); /* carol erin */
    CHECK_EQ_DBL(sketch_theta_compact_estimate(e1), 4, 0);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(e2), 2, 0);
    /* THETA_SKETCH_INTERSECT: watched both (carol) */
    struct sketch_theta_intersection *x = sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &err);
    sketch_theta_intersection_add(x, e1, &err);
    sketch_theta_intersection_add(x, e2, &err);
    CHECK_EQ_DBL(est_free(sketch_theta_intersection_result(x, false, &err)), 1, 0);
    sketch_theta_intersection_free(x);
    /* THETA_SKETCH_UNION: watched either */
    struct sketch_theta_union *u = sketch_theta_union_new(NULL, &err);
    sketch_theta_union_add(u, e1, &err);
    sketch_theta_union_add(u, e2, &err);
    CHECK_EQ_DBL(est_free(sketch_theta_union_result(u, true, &err)), 5, 0);
    sketch_theta_union_free(u);
    /* THETA_SKETCH_NOT: episode 1 but not episode 2 (bob dan alice) */
    CHECK_EQ_DBL(est_free(sketch_theta_a_not_b(e1, e2, true, SKETCH_DEFAULT_SEED, &err)), 3, 0);
    CHECK_EQ_DBL(est_free(sketch_theta_a_not_b(e2, e1, false, SKETCH_DEFAULT_SEED, &err)), 1, 0);
    sketch_theta_compact_free(e1);
    sketch_theta_compact_free(e2);
    for (size_t i = 0; i < n; i++)
        free(rows[i].bytes);
}

/* ---- accuracy and order independence ------------------------------------------------ */

static void test_million(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta *s = sketch_theta_new(NULL, &err);
    const int n = 1000000;
    for (int i = 0; i < n; i++) {
        char str[32];
        int len = snprintf(str, sizeof str, "visitor-%d", i);
        sketch_theta_update_bytes(s, str, (size_t)len, &err);
    }
    double rse = 1.0 / sqrt(16384.0 - 1); /* ≈ 0.78 % */
    double est = sketch_theta_estimate(s);
    CHECK_MSG(fabs(est - n) <= 3 * rse * n, "estimate %.0f for %d", est, n);
    CHECK(sketch_theta_lower_bound(s, 3) <= n && n <= sketch_theta_upper_bound(s, 3));
    CHECK(sketch_theta_lower_bound(s, 1) < est && est < sketch_theta_upper_bound(s, 1));
    CHECK(sketch_theta_lower_bound(s, 3) < sketch_theta_lower_bound(s, 1));
    /* the compact form estimates the same; the union of it alone keeps k hashes */
    struct sketch_theta_compact *c = sketch_theta_compact(s, true, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(c), est, 0);
    struct sketch_theta_union *u = sketch_theta_union_new(NULL, &err);
    sketch_theta_union_add(u, c, &err);
    struct sketch_theta_compact *r = sketch_theta_union_result(u, true, &err);
    CHECK_EQ_INT(sketch_theta_compact_num_retained(r), 16384);
    CHECK_MSG(fabs(sketch_theta_compact_estimate(r) - n) <= 3 * rse * n, "union estimate %.0f",
              sketch_theta_compact_estimate(r));
    /* a smaller union (4096) trims further */
    struct sketch_theta_config cfg;
    sketch_theta_config_default(&cfg);
    cfg.nominal_entries = 4096;
    struct sketch_theta_union *u2 = sketch_theta_union_new(&cfg, &err);
    sketch_theta_union_add(u2, c, &err);
    struct sketch_theta_compact *r2 = sketch_theta_union_result(u2, true, &err);
    CHECK_EQ_INT(sketch_theta_compact_num_retained(r2), 4096);
    CHECK(fabs(sketch_theta_compact_estimate(r2) - n) <= 3 * n / sqrt(4095.0));
    sketch_theta_compact_free(r2);
    sketch_theta_union_free(u2);
    sketch_theta_compact_free(r);
    sketch_theta_union_free(u);
    sketch_theta_compact_free(c);
    sketch_theta_free(s);
}

static struct sketch_theta_compact *range_sketch(int from, int to, uint32_t k, bool ordered)
{
    struct sketch_theta_config cfg;
    sketch_theta_config_default(&cfg);
    cfg.nominal_entries = k;
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta *s = sketch_theta_new(&cfg, &err);
    for (int i = from; i < to; i++)
        sketch_theta_update_long(s, i, &err);
    struct sketch_theta_compact *c = sketch_theta_compact(s, ordered, &err);
    sketch_theta_free(s);
    return c;
}

static bool same_sketch(const struct sketch_theta_compact *a, const struct sketch_theta_compact *b)
{
    uint8_t *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_compact *ao = sketch_theta_compact_copy(a, &err);
    sketch_theta_compact_serialize(ao, false, &x, &xl, &err);
    sketch_theta_compact_serialize(b, false, &y, &yl, &err);
    bool same = xl == yl && memcmp(x, y, xl) == 0;
    free(x);
    free(y);
    sketch_theta_compact_free(ao);
    return same;
}

static void test_order_independence(void)
{
    struct lerr err;
    lerr_init(&err);
    /* overlapping ranges, estimating and exact, ordered and not */
    struct sketch_theta_compact *parts[4] = {
        range_sketch(0, 60000, 4096, true), range_sketch(30000, 90000, 16384, false),
        range_sketch(85000, 86000, 4096, true), range_sketch(0, 0, 4096, true)};
    static const int orders[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}};
    struct sketch_theta_compact *first_u = NULL, *first_x = NULL;
    for (size_t o = 0; o < LS_ARRAY_LEN(orders); o++) {
        struct sketch_theta_union *u = sketch_theta_union_new(NULL, &err);
        struct sketch_theta_intersection *x =
            sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &err);
        for (int i = 0; i < 3; i++) { /* the intersection without the empty sketch */
            sketch_theta_union_add(u, parts[orders[o][i]], &err);
        }
        sketch_theta_union_add(u, parts[orders[o][3]], &err);
        for (int i = 0; i < 4; i++)
            if (orders[o][i] != 3)
                sketch_theta_intersection_add(x, parts[orders[o][i]], &err);
        struct sketch_theta_compact *ru = sketch_theta_union_result(u, true, &err);
        struct sketch_theta_compact *rx = sketch_theta_intersection_result(x, true, &err);
        if (!first_u) {
            first_u = ru;
            first_x = rx;
            CHECK_EQ_DBL(sketch_theta_compact_estimate(ru), 90000, 90000 * 3 / sqrt(4095.0));
            /* 85000..86000 lies in the second range, not the first: the
             * intersection of all three is empty, but theta < 1 keeps it
             * an estimate of 0, not the empty sketch */
            CHECK_EQ_DBL(sketch_theta_compact_estimate(rx), 0, 0);
            CHECK(!sketch_theta_compact_is_empty(rx));
        } else {
            CHECK_MSG(same_sketch(ru, first_u), "union order %zu", o);
            CHECK_MSG(same_sketch(rx, first_x), "intersection order %zu", o);
            sketch_theta_compact_free(ru);
            sketch_theta_compact_free(rx);
        }
        sketch_theta_union_free(u);
        sketch_theta_intersection_free(x);
    }
    /* two of them: the overlap of 0..60000 and 30000..90000 is 30000 */
    struct sketch_theta_intersection *x = sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &err);
    sketch_theta_intersection_add(x, parts[1], &err);
    sketch_theta_intersection_add(x, parts[0], &err);
    struct sketch_theta_compact *r = sketch_theta_intersection_result(x, true, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 30000, 30000 * 0.1);
    sketch_theta_compact_free(r);
    /* an empty sketch empties the intersection */
    sketch_theta_intersection_add(x, parts[3], &err);
    r = sketch_theta_intersection_result(x, true, &err);
    CHECK(sketch_theta_compact_is_empty(r));
    sketch_theta_compact_free(r);
    sketch_theta_intersection_free(x);
    /* no input: an error */
    x = sketch_theta_intersection_new(SKETCH_DEFAULT_SEED, &err);
    CHECK(!sketch_theta_intersection_has_result(x));
    CHECK(sketch_theta_intersection_result(x, true, &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_INVALID);
    sketch_theta_intersection_free(x);
    /* A not B with an estimating B */
    lerr_init(&err);
    r = sketch_theta_a_not_b(parts[0], parts[1], true, SKETCH_DEFAULT_SEED, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 30000, 30000 * 0.1);
    CHECK(sketch_theta_compact_theta64(r) == sketch_theta_compact_theta64(parts[0]) ||
          sketch_theta_compact_theta64(r) == sketch_theta_compact_theta64(parts[1]));
    sketch_theta_compact_free(r);
    r = sketch_theta_a_not_b(parts[3], parts[0], true, SKETCH_DEFAULT_SEED, &err);
    CHECK(sketch_theta_compact_is_empty(r));
    sketch_theta_compact_free(r);
    r = sketch_theta_a_not_b(parts[2], parts[3], true, SKETCH_DEFAULT_SEED, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r), 1000, 0);
    sketch_theta_compact_free(r);
    sketch_theta_compact_free(first_u);
    sketch_theta_compact_free(first_x);
    for (int i = 0; i < 4; i++)
        sketch_theta_compact_free(parts[i]);
}

static void test_union_of_update_sketches(void)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta *a = sketch_theta_new(NULL, &err), *b = sketch_theta_new(NULL, &err);
    struct sketch_theta_union *u1 = sketch_theta_union_new(NULL, &err),
                              *u2 = sketch_theta_union_new(NULL, &err);
    for (int i = 0; i < 200000; i++) {
        sketch_theta_update_long(i % 2 ? a : b, i, &err);
        sketch_theta_union_update_long(u1, i, &err);
    }
    sketch_theta_union_add_sketch(u2, a, &err);
    sketch_theta_union_add_sketch(u2, b, &err);
    struct sketch_theta_compact *r1 = sketch_theta_union_result(u1, true, &err);
    struct sketch_theta_compact *r2 = sketch_theta_union_result(u2, true, &err);
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r1), 200000, 200000 * 3 / sqrt(16383.0));
    CHECK_EQ_DBL(sketch_theta_compact_estimate(r2), 200000, 200000 * 3 / sqrt(16383.0));
    sketch_theta_compact_free(r1);
    sketch_theta_compact_free(r2);
    sketch_theta_union_free(u1);
    sketch_theta_union_free(u2);
    sketch_theta_free(a);
    sketch_theta_free(b);
}

/* ---- serialization: round trips and corrupt bytes ------------------------------------ */

static void test_round_trips(void)
{
    struct lerr err;
    int sizes[] = {0, 1, 2, 7, 8, 9, 5000, 100000};
    for (size_t i = 0; i < LS_ARRAY_LEN(sizes); i++) {
        for (int ordered = 0; ordered < 2; ordered++) {
            struct sketch_theta_compact *c = range_sketch(1000, 1000 + sizes[i], 4096, ordered);
            for (int compressed = 0; compressed < 2; compressed++) {
                lerr_init(&err);
                uint8_t *b = NULL;
                size_t len = 0;
                CHECK_EQ_INT(sketch_theta_compact_serialize(c, compressed, &b, &len, &err), 0);
                CHECK_EQ_INT(len, sketch_theta_compact_serialized_size(c, compressed));
                struct sketch_theta_compact *d =
                    sketch_theta_compact_deserialize(b, len, SKETCH_DEFAULT_SEED, &err);
                CHECK_MSG(d != NULL, "n=%d ordered=%d compressed=%d: %s", sizes[i], ordered,
                          compressed, err.msg);
                if (d) {
                    CHECK_EQ_DBL(sketch_theta_compact_estimate(d),
                                 sketch_theta_compact_estimate(c), 0);
                    CHECK(same_sketch(d, c));
                    /* with another seed it is refused (unless empty) */
                    lerr_init(&err);
                    struct sketch_theta_compact *w =
                        sketch_theta_compact_deserialize(b, len, 42, &err);
                    CHECK(sizes[i] == 0 ? w != NULL : w == NULL);
                    if (sizes[i])
                        CHECK_MSG(strstr(err.msg, "seed hash") != NULL, "%s", err.msg);
                    sketch_theta_compact_free(w);
                }
                /* every truncation is an error, never a read past the end */
                for (size_t cut = 0; cut < len && cut < 64; cut++) {
                    lerr_init(&err);
                    struct sketch_theta_compact *t =
                        sketch_theta_compact_deserialize(b, cut, SKETCH_DEFAULT_SEED, &err);
                    CHECK_MSG(t == NULL && err.code == LERR_CORRUPT, "n=%d cut at %zu accepted",
                              sizes[i], cut);
                    sketch_theta_compact_free(t);
                }
                sketch_theta_compact_free(d);
                free(b);
            }
            sketch_theta_compact_free(c);
        }
    }
}

static void expect_corrupt(const uint8_t *b, size_t n, const char *what, int64_t at)
{
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta_compact *c =
        sketch_theta_compact_deserialize(b, n, SKETCH_DEFAULT_SEED, &err);
    CHECK_MSG(c == NULL, "accepted: %s", what);
    sketch_theta_compact_free(c);
    CHECK_MSG(
        err.code == LERR_CORRUPT && strstr(err.msg, what) != NULL && (at < 0 || err.pos == at),
        "want \"%s\" at %lld, got [%s] at %lld", what, (long long)at, err.msg, (long long)err.pos);
}

static void test_corrupt_bytes(void)
{
    size_t n = 0;
    uint8_t *orig = read_file("theta_n100000_java.sk", &n);
    if (!orig)
        return;
    uint8_t *b = malloc(n);
#define FRESH() memcpy(b, orig, n)
    FRESH();
    b[2] = 2; /* a compact sketch's bytes labelled as an update sketch */
    expect_corrupt(b, n, "set the compact flag, which an update sketch image never has", 5);
    FRESH();
    b[2] = 7;
    expect_corrupt(b, n, "family 7", 2);
    FRESH();
    b[1] = 5;
    expect_corrupt(b, n, "serial version 5", 1);
    FRESH();
    b[0] = 4;
    expect_corrupt(b, n, "preamble longs 4", 0);
    FRESH();
    b[5] &= (uint8_t)~0x08;
    expect_corrupt(b, n, "compact flag", 5);
    FRESH();
    b[23] = 0x80; /* theta above 2^63-1 */
    expect_corrupt(b, n, "theta", 16);
    FRESH();
    b[11] = 0x10; /* count far beyond the bytes */
    expect_corrupt(b, n, "retained entries", 8);
    FRESH();
    b[8] = (uint8_t)(b[8] + 1); /* one more hash than the bytes hold */
    expect_corrupt(b, n, "the retained hashes needs", (int64_t)n);
    FRESH();
    memcpy(b + 24 + 8 * 5, b + 24 + 8 * 4, 8); /* a duplicate in an ordered sketch */
    expect_corrupt(b, n, "not above the one before", 24 + 8 * 5);
    FRESH();
    memset(b + 24 + 8 * 7, 0xff, 7); /* a hash above theta */
    b[24 + 8 * 7 + 7] = 0x7f;
    expect_corrupt(b, n, "not in 1 .. theta-1", 24 + 8 * 7);
    free(orig);

    orig = read_file("theta_compressed_n1000_java.sk", &n);
    if (!orig) {
        free(b);
        return;
    }
    b = realloc(b, n);
    FRESH();
    b[3] = 64;
    expect_corrupt(b, n, "entry bits 64", 3);
    FRESH();
    b[4] = 5;
    expect_corrupt(b, n, "entry count bytes 5", 4);
    FRESH();
    b[0] = 3;
    expect_corrupt(b, n, "preamble longs 3", 0);
    FRESH();
    expect_corrupt(b, n - 1, "the packed hashes needs", (int64_t)n - 1);
    FRESH();
    memset(b + 10, 0, 16); /* the first delta 0 (1000 entries: 2 count bytes) */
    expect_corrupt(b, n, "is 0", 10);
    free(orig);
    free(b);
#undef FRESH
    uint8_t tiny[3] = {1, 3, 3};
    expect_corrupt(tiny, 3, "3 bytes", 3);
}

/* Update sketch (family 2) and union (family 4) images as DataSketches lays
 * them out, built here from the 10 hashes of theta_n10_java.sk. */
static size_t table_image(uint8_t *b, int fam, const uint64_t *h, int n, uint32_t count,
                          uint64_t theta, uint64_t union_theta)
{
    int pre = fam == 4 ? 4 : 3;
    size_t len = (size_t)pre * 8 + 32 * 8;
    memset(b, 0, len);
    b[0] = (uint8_t)(pre | 3 << 6); /* resize factor X8 in the top bits */
    b[1] = 3;
    b[2] = (uint8_t)fam;
    b[3] = 4; /* lg nominal entries */
    b[4] = 5; /* lg table size */
    uint16_t sh = sketch_theta_seed_hash(SKETCH_DEFAULT_SEED);
    b[6] = (uint8_t)sh;
    b[7] = (uint8_t)(sh >> 8);
    for (int i = 0; i < 4; i++)
        b[8 + i] = (uint8_t)(count >> (8 * i));
    float one = 1.0f;
    memcpy(b + 12, &one, 4);
    for (int i = 0; i < 8; i++) {
        b[16 + i] = (uint8_t)(theta >> (8 * i));
        if (fam == 4)
            b[24 + i] = (uint8_t)(union_theta >> (8 * i));
    }
    for (int j = 0; j < n; j++) { /* any free slot is a valid place to read from */
        uint32_t slot = (uint32_t)h[j] & 31;
        while (memcmp(b + pre * 8 + slot * 8, "\0\0\0\0\0\0\0\0", 8) != 0)
            slot = (slot + 1) & 31;
        for (int i = 0; i < 8; i++)
            b[pre * 8 + slot * 8 + i] = (uint8_t)(h[j] >> (8 * i));
    }
    return len;
}

static void test_update_and_union_images(void)
{
    struct sketch_theta_compact *ref = load("theta_n10_java.sk");
    if (!ref)
        return;
    const uint64_t *h = sketch_theta_compact_entries(ref);
    uint8_t b[64 + 256];
    struct lerr err;
    /* an update sketch image reads as its compact form: the same sketch */
    size_t len = table_image(b, 2, h, 10, 10, SKETCH_THETA_MAX_THETA, 0);
    lerr_init(&err);
    struct sketch_theta_compact *c =
        sketch_theta_compact_deserialize(b, len, SKETCH_DEFAULT_SEED, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (c)
        CHECK(same_bytes(c, false, "theta_n10_java.sk"));
    sketch_theta_compact_free(c);
    /* a union image: theta is the smaller of gadget and union theta */
    len = table_image(b, 4, h, 10, 10, SKETCH_THETA_MAX_THETA, h[5]);
    lerr_init(&err);
    c = sketch_theta_compact_deserialize(b, len, SKETCH_DEFAULT_SEED, &err);
    CHECK_MSG(c != NULL, "%s", err.msg);
    if (c) {
        CHECK_EQ_INT(sketch_theta_compact_num_retained(c), 5);
        CHECK(sketch_theta_compact_theta64(c) == h[5]);
        CHECK(sketch_theta_compact_is_estimation_mode(c));
    }
    sketch_theta_compact_free(c);
    /* a stale hash above theta is skipped, as DataSketches does */
    len = table_image(b, 2, h, 10, 7, h[7], 0);
    lerr_init(&err);
    c = sketch_theta_compact_deserialize(b, len, SKETCH_DEFAULT_SEED, &err);
    CHECK_MSG(c != NULL && sketch_theta_compact_num_retained(c) == 7, "%s", err.msg);
    sketch_theta_compact_free(c);
    /* what is wrong, and where */
    len = table_image(b, 2, h, 10, 9, SKETCH_THETA_MAX_THETA, 0);
    expect_corrupt(b, len, "more hashes below theta than the count 9", -1); /* at its slot */
    len = table_image(b, 2, h, 10, 10, SKETCH_THETA_MAX_THETA, 0);
    b[5] = 0x08;
    expect_corrupt(b, len, "compact flag", 5);
    len = table_image(b, 2, h, 10, 10, SKETCH_THETA_MAX_THETA, 0);
    b[4] = 6;
    expect_corrupt(b, len, "lg hash table size 6", 4);
    len = table_image(b, 2, h, 10, 10, SKETCH_THETA_MAX_THETA, 0);
    expect_corrupt(b, len - 1, "the hash table needs", (int64_t)len - 1);
    len = table_image(b, 2, h, 10, 11, SKETCH_THETA_MAX_THETA, 0);
    expect_corrupt(b, len, "count 11, but the hash table holds 10", 8);
    uint64_t dup[2] = {h[3], h[3]};
    len = table_image(b, 2, dup, 2, 2, SKETCH_THETA_MAX_THETA, 0);
    expect_corrupt(b, len, "twice", 24);
    sketch_theta_compact_free(ref);
}

static void test_to_string(void)
{
    struct sketch_theta_compact *c = load("theta_n1000000_java.sk");
    if (!c)
        return;
    char buf[2048];
    size_t n = sketch_theta_compact_to_string(c, buf, sizeof buf);
    CHECK(n > 0 && n < sizeof buf);
    CHECK_MSG(strstr(buf, "Retained Entries        : ") &&
                  strstr(buf, "EstMode?                : true") &&
                  strstr(buf, "Seed Hash               : 93cc | 37836"),
              "%s", buf);
    char est[64];
    snprintf(est, sizeof est, "Estimate                : %.0f",
             floor(sketch_theta_compact_estimate(c)));
    CHECK_MSG(strstr(buf, est) != NULL, "%s in %s", est, buf);
    /* the numbers are Java's Double.toString digits: they read back exactly */
    const char *line = strstr(buf, "Estimate                : ");
    CHECK(line && strtod(line + 26, NULL) == sketch_theta_compact_estimate(c));
    line = strstr(buf, "Theta (double)          : ");
    CHECK(line && strtod(line + 26, NULL) == sketch_theta_compact_theta(c));
    line = strstr(buf, "Lower Bound, 95% conf   : ");
    CHECK(line && strtod(line + 26, NULL) == sketch_theta_compact_lower_bound(c, 2));
    char small[16];
    CHECK_EQ_INT(sketch_theta_compact_to_string(c, small, sizeof small), n); /* snprintf-like */
    sketch_theta_compact_free(c);
    c = load("theta_n0_java.sk");
    sketch_theta_compact_to_string(c, buf, sizeof buf);
    CHECK_MSG(strstr(buf, "Estimate                : 0.0") &&
                  strstr(buf, "Empty?                  : true"),
              "%s", buf);
    sketch_theta_compact_free(c);
}

/*
 * The upper bound where DataSketches uses its equivalence tables (1 to 120
 * samples, theta < samples / 360): the values DataSketches' formula gives
 * with its ub_equiv_table (common/include/binomial_bounds.hpp), computed
 * outside this code: cont_classic_ub(n, theta, table[3n + sd - 1]) + 0.5.
 * An ordered compact image with n of a real sketch's smallest hashes and
 * the chosen theta carries each case.
 */
static void test_equiv_table_bounds(void)
{
    struct sketch_theta_config cfg;
    sketch_theta_config_default(&cfg);
    struct lerr err;
    lerr_init(&err);
    struct sketch_theta *s = sketch_theta_new(&cfg, &err);
    for (int i = 0; s && i < 2000000; i++)
        sketch_theta_update_long(s, i, &err);
    struct sketch_theta_compact *c = s ? sketch_theta_compact(s, true, &err) : NULL;
    CHECK(c != NULL);
    static const struct {
        uint32_t n;
        double theta;
        int sd;
        double ub;
    } cases[] = {{1, 0.001, 1, 3298.7887528848096},
                 {2, 0.001, 2, 7345.304801438957},
                 {50, 0.01, 3, 7496.5580501674785},
                 {120, 0.1, 1, 1314.2013052757877}};
    for (size_t k = 0; c && k < LS_ARRAY_LEN(cases); k++) {
        uint64_t theta64 = (uint64_t)(cases[k].theta * 9223372036854775807.0);
        const uint64_t *h = sketch_theta_compact_entries(c);
        CHECK(sketch_theta_compact_num_retained(c) >= cases[k].n && h[cases[k].n - 1] < theta64);
        uint8_t img[24 + 8 * 120] = {3, 3, 3, 0, 0, 0x1a};
        uint16_t sh = sketch_theta_seed_hash(SKETCH_DEFAULT_SEED);
        memcpy(img + 6, &sh, 2);
        memcpy(img + 8, &cases[k].n, 4);
        float p = 1.0f;
        memcpy(img + 12, &p, 4);
        memcpy(img + 16, &theta64, 8);
        memcpy(img + 24, h, 8 * cases[k].n);
        struct sketch_theta_compact *t =
            sketch_theta_compact_deserialize(img, 24 + 8 * cases[k].n, SKETCH_DEFAULT_SEED, &err);
        CHECK_MSG(t != NULL, "case %zu: %s", k, err.msg);
        if (t)
            CHECK_EQ_DBL(sketch_theta_compact_upper_bound(t, cases[k].sd), cases[k].ub,
                         1e-9 * cases[k].ub);
        sketch_theta_compact_free(t);
    }
    sketch_theta_compact_free(c);
    sketch_theta_free(s);
}

int main(void)
{
    test_equiv_table_bounds();
    test_compat_files();
    test_non_empty_no_entries();
    test_old_versions();
    test_setops_on_files();
    test_exact_small();
    test_config_errors();
    test_druid_tutorial();
    test_million();
    test_order_independence();
    test_union_of_update_sketches();
    test_round_trips();
    test_corrupt_bytes();
    test_update_and_union_images();
    test_to_string();
    return check_summary();
}
