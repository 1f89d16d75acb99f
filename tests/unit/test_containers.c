/*
 * test_containers.c — util/vec.h and util/map.h, and the numbers of
 * util/num.h they and the SQL layer share.
 *
 * The maps run long random sequences of put / get / delete against a naive
 * oracle (an array searched front to back) and check every answer, the
 * count, and after each step now and then that iteration yields exactly the
 * oracle's entries. Key ranges are small so that keys repeat (replacements,
 * deletions of present keys); a custom map with a deliberately bad hash
 * makes every key collide, which is where linear probing and its deletion
 * (runs that wrap around the end of the table) go wrong if they can.
 */
#include <stdlib.h>

#include "check.h"
#include "util/budget.h"
#include "util/map.h"
#include "util/num.h"
#include "util/util.h"
#include "util/vec.h"

/* xorshift64*: the same sequence on every run, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* ---- the oracle --------------------------------------------------------------------- */

#define MAXK 4096

struct oracle {
    char key[MAXK][24];
    size_t klen[MAXK];
    uint64_t val[MAXK];
    size_t n;
};

static long oracle_find(const struct oracle *o, const void *k, size_t n)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->klen[i] == n && memcmp(o->key[i], k, n) == 0)
            return (long)i;
    return -1;
}

static void oracle_put(struct oracle *o, const void *k, size_t n, uint64_t v)
{
    long i = oracle_find(o, k, n);
    if (i < 0) {
        i = (long)o->n++;
        memcpy(o->key[i], k, n);
        o->klen[i] = n;
    }
    o->val[i] = v;
}

static bool oracle_del(struct oracle *o, const void *k, size_t n)
{
    long i = oracle_find(o, k, n);
    if (i < 0)
        return false;
    o->n--;
    memcpy(o->key[i], o->key[o->n], sizeof o->key[i]);
    o->klen[i] = o->klen[o->n];
    o->val[i] = o->val[o->n];
    return true;
}

/* ---- MAP_U64 ------------------------------------------------------------------------ */

static void check_u64_iteration(const struct map *m, const struct oracle *o)
{
    size_t pos = 0, seen = 0;
    struct map_entry *e;
    bool ok = true;
    while ((e = map_next(m, &pos))) {
        long i = oracle_find(o, &e->key, 8);
        if (i < 0 || o->val[i] != e->val)
            ok = false;
        seen++;
    }
    CHECK_MSG(ok, "u64 map iteration yields an entry the oracle does not hold");
    CHECK_EQ_INT(seen, o->n);
}

static void test_map_u64_random(uint64_t range, int steps)
{
    static struct oracle o;
    memset(&o, 0, sizeof o);
    struct map m;
    map_init(&m, MAP_U64, NULL, NULL);
    long bad_get = 0, bad_del = 0, bad_count = 0;
    for (int s = 0; s < steps; s++) {
        /* keys near 0, and some far apart, from a range small enough to repeat */
        uint64_t k = rnd() % range;
        if (k % 7 == 0)
            k = k * 0x100000001ull + (k << 40);
        unsigned op = (unsigned)(rnd() % 10);
        if (op < 5) {
            uint64_t v = rnd();
            if (map_put_u64(&m, k, v) != MAP_OK)
                bad_get++;
            oracle_put(&o, &k, 8, v);
        } else if (op < 8) {
            bool got = map_del_u64(&m, k);
            if (got != oracle_del(&o, &k, 8))
                bad_del++;
        } else {
            struct map_entry *e = map_get_u64(&m, k);
            long i = oracle_find(&o, &k, 8);
            if ((e != NULL) != (i >= 0) || (e && (e->val != o.val[i] || e->key != k)))
                bad_get++;
        }
        if (map_count(&m) != o.n)
            bad_count++;
        if (s % 997 == 0)
            check_u64_iteration(&m, &o);
    }
    CHECK_EQ_INT(bad_get, 0);
    CHECK_EQ_INT(bad_del, 0);
    CHECK_EQ_INT(bad_count, 0);
    /* every key the oracle holds is found with its value */
    long missing = 0;
    for (size_t i = 0; i < o.n; i++) {
        uint64_t k;
        memcpy(&k, o.key[i], 8);
        struct map_entry *e = map_get_u64(&m, k);
        if (!e || e->val != o.val[i])
            missing++;
    }
    CHECK_EQ_INT(missing, 0);
    check_u64_iteration(&m, &o);
    map_destroy(&m);
}

/* ---- MAP_BYTES ---------------------------------------------------------------------- */

/* One of 700 keys of 0..19 bytes (the empty key too), NULs and high bytes
 * among them: ordinary bytes to the map. Keys that differ only in length
 * share their first bytes. */
static size_t random_key(char *k)
{
    uint64_t id = rnd() % 700;
    size_t n = (size_t)(id % 20);
    uint64_t x = id / 20 + 1;
    for (size_t i = 0; i < n; i++) {
        k[i] = "abc\0\xff"[x % 5];
        x = x / 5 + i;
    }
    return n;
}

static void test_map_bytes_random(int steps, bool in_arena)
{
    static struct oracle o;
    memset(&o, 0, sizeof o);
    struct arena a;
    arena_init(&a, 1024, 0);
    struct map m;
    map_init(&m, MAP_BYTES, NULL, NULL);
    if (in_arena)
        map_set_arena(&m, &a);
    long bad = 0;
    for (int s = 0; s < steps; s++) {
        char k[24];
        size_t n = random_key(k);
        unsigned op = (unsigned)(rnd() % 10);
        if (op < 5) {
            uint64_t v = rnd();
            if (map_put_bytes(&m, k, n, v) != MAP_OK)
                bad++;
            oracle_put(&o, k, n, v);
        } else if (op < 7) {
            if (map_del_bytes(&m, k, n) != oracle_del(&o, k, n))
                bad++;
        } else {
            struct map_entry *e = map_get_bytes(&m, k, n);
            long i = oracle_find(&o, k, n);
            if ((e != NULL) != (i >= 0)) {
                bad++;
            } else if (e) {
                size_t kn;
                const char *kp = map_key_bytes(e, &kn);
                if (e->val != o.val[i] || kn != n || memcmp(kp, k, n) != 0 || kp[n] != '\0')
                    bad++;
            }
        }
        if (map_count(&m) != o.n)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    size_t pos = 0, seen = 0;
    struct map_entry *e;
    long wrong = 0;
    while ((e = map_next(&m, &pos))) {
        size_t kn;
        const char *kp = map_key_bytes(e, &kn);
        long i = oracle_find(&o, kp, kn);
        if (i < 0 || o.val[i] != e->val)
            wrong++;
        seen++;
    }
    CHECK_EQ_INT(wrong, 0);
    CHECK_EQ_INT(seen, o.n);
    map_destroy(&m);
    arena_destroy(&a);
}

/* ---- MAP_CUSTOM: the caller's records, a hash that collides on purpose ----------------- */

struct recs {
    uint32_t v[MAXK]; /* record i's key */
    size_t n;
};

static bool rec_equal(const void *probe, const struct map_entry *e, void *ctx)
{
    const struct recs *r = ctx;
    return r->v[e->key] == *(const uint32_t *)probe;
}

/* Only 3 distinct hashes, all with the same low bits: one long run of
 * collisions that wraps around the end of the table. */
static uint64_t bad_hash(uint32_t k)
{
    return 0xF0F0F0F0F0F0F0Full + (uint64_t)(k % 3) * 0x1000000;
}

static void test_map_custom_collisions(int steps)
{
    static struct oracle o;
    memset(&o, 0, sizeof o);
    static struct recs r;
    memset(&r, 0, sizeof r);
    struct map m;
    map_init(&m, MAP_CUSTOM, rec_equal, &r);
    long bad = 0;
    for (int s = 0; s < steps; s++) {
        uint32_t k = (uint32_t)(rnd() % 300);
        unsigned op = (unsigned)(rnd() % 10);
        struct map_entry *e = map_get_h(&m, bad_hash(k), &k);
        long i = oracle_find(&o, &k, 4);
        if ((e != NULL) != (i >= 0) || (e && (r.v[e->key] != k || e->val != o.val[i])))
            bad++;
        if (op < 5 && !e) {
            r.v[r.n] = k;
            uint64_t v = rnd();
            if (map_add_h(&m, bad_hash(k), r.n++, v) != MAP_OK)
                bad++;
            oracle_put(&o, &k, 4, v);
        } else if (op >= 5 && op < 9) {
            if (map_del_h(&m, bad_hash(k), &k) != oracle_del(&o, &k, 4))
                bad++;
        }
        if (map_count(&m) != o.n)
            bad++;
        if (r.n == MAXK)
            break;
    }
    CHECK_EQ_INT(bad, 0);
    long missing = 0;
    for (size_t i = 0; i < o.n; i++) {
        uint32_t k;
        memcpy(&k, o.key[i], 4);
        if (!map_get_h(&m, bad_hash(k), &k))
            missing++;
    }
    CHECK_EQ_INT(missing, 0);
    map_destroy(&m);
}

/* ---- edge cases ------------------------------------------------------------------------ */

static void test_map_edges(void)
{
    struct map m;
    /* empty: nothing found, nothing deleted, iteration ends at once, no table yet */
    map_init(&m, MAP_U64, NULL, NULL);
    CHECK(map_get_u64(&m, 0) == NULL);
    CHECK(!map_del_u64(&m, 0));
    size_t pos = 0;
    CHECK(map_next(&m, &pos) == NULL);
    CHECK_EQ_INT(map_slots(&m), 0);
    CHECK_EQ_INT(map_count(&m), 0);
    /* key 0 and UINT64_MAX are ordinary keys */
    CHECK_EQ_INT(map_put_u64(&m, 0, 10), MAP_OK);
    CHECK_EQ_INT(map_put_u64(&m, UINT64_MAX, 20), MAP_OK);
    CHECK(map_get_u64(&m, 0) && map_get_u64(&m, 0)->val == 10);
    CHECK(map_get_u64(&m, UINT64_MAX) && map_get_u64(&m, UINT64_MAX)->val == 20);
    /* a duplicate key replaces the value, the count stays */
    CHECK_EQ_INT(map_put_u64(&m, 0, 11), MAP_OK);
    CHECK_EQ_INT(map_count(&m), 2);
    CHECK_EQ_INT(map_get_u64(&m, 0)->val, 11);
    map_destroy(&m);

    /* growth across many resizes, then delete everything: the table is empty again */
    map_init(&m, MAP_U64, NULL, NULL);
    long bad = 0;
    size_t resizes = 0, slots = 0;
    for (uint64_t k = 0; k < 100000; k++) {
        if (map_put_u64(&m, k * 0x9E3779B9ull, k) != MAP_OK)
            bad++;
        if (map_slots(&m) != slots) {
            resizes++;
            slots = map_slots(&m);
        }
        if (map_count(&m) * 4 > map_slots(&m) * 3) /* never past 3/4 */
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(resizes >= 13); /* 16 → 262144 slots */
    for (uint64_t k = 0; k < 100000; k++)
        if (!map_get_u64(&m, k * 0x9E3779B9ull) || map_get_u64(&m, k * 0x9E3779B9ull)->val != k)
            bad++;
    CHECK_EQ_INT(bad, 0);
    for (uint64_t k = 0; k < 100000; k += 2)
        if (!map_del_u64(&m, k * 0x9E3779B9ull))
            bad++;
    for (uint64_t k = 0; k < 100000; k++)
        if ((map_get_u64(&m, k * 0x9E3779B9ull) != NULL) != (k % 2 == 1))
            bad++;
    for (uint64_t k = 1; k < 100000; k += 2)
        if (!map_del_u64(&m, k * 0x9E3779B9ull))
            bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(map_count(&m), 0);
    pos = 0;
    CHECK(map_next(&m, &pos) == NULL);
    /* a table emptied by deletions has no dead slots: a key not there is not found */
    CHECK(map_get_u64(&m, 12345) == NULL);
    map_clear(&m);
    CHECK_EQ_INT(map_count(&m), 0);
    map_destroy(&m);

    /* map_reserve: room for n without growing */
    map_init(&m, MAP_U64, NULL, NULL);
    CHECK_EQ_INT(map_reserve(&m, 1000), MAP_OK);
    slots = map_slots(&m);
    CHECK(slots >= 1334 && (slots & (slots - 1)) == 0);
    for (uint64_t k = 0; k < 1000; k++)
        map_put_u64(&m, k, k);
    CHECK_EQ_INT(map_slots(&m), slots);
    map_destroy(&m);

    /* a budget that refuses: MAP_REFUSED, the map unchanged and usable */
    struct mem_budget b;
    mem_budget_init(&b, 2000, NULL); /* room for the 16-slot table (384 B), not 1024 slots */
    map_init(&m, MAP_U64, NULL, NULL);
    map_set_budget(&m, &b);
    int rc = MAP_OK;
    uint64_t k;
    for (k = 0; k < 1000 && rc == MAP_OK; k++)
        rc = map_put_u64(&m, k, k);
    CHECK_EQ_INT(rc, MAP_REFUSED);
    CHECK_EQ_INT(map_count(&m), k - 1);
    for (uint64_t j = 0; j + 1 < k; j++)
        if (!map_get_u64(&m, j))
            bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK(map_get_u64(&m, k - 1) == NULL);
    CHECK(b.used > 0);
    map_destroy(&m);
    CHECK_EQ_INT(b.used, 0); /* every charge released */
    mem_budget_destroy(&b);

    /* bytes: the map keeps its own copy; the caller's buffer may change */
    map_init(&m, MAP_BYTES, NULL, NULL);
    char key[8] = "field";
    CHECK_EQ_INT(map_put_bytes(&m, key, 5, 1), MAP_OK);
    CHECK_EQ_INT(map_put_bytes(&m, "", 0, 2), MAP_OK);
    memcpy(key, "xxxxx", 5);
    CHECK(map_get_bytes(&m, "field", 5) && map_get_bytes(&m, "field", 5)->val == 1);
    CHECK(map_get_bytes(&m, "", 0) && map_get_bytes(&m, "", 0)->val == 2);
    CHECK(map_get_bytes(&m, "fiel", 4) == NULL);
    CHECK(map_get_bytes(&m, "field\0", 6) == NULL);
    map_destroy(&m);

    /* arena-backed: same order as an identical malloc-backed map */
    struct arena a;
    arena_init(&a, 4096, 0);
    struct map m2;
    map_init(&m, MAP_U64, NULL, NULL);
    map_init(&m2, MAP_U64, NULL, NULL);
    map_set_arena(&m2, &a);
    for (uint64_t j = 0; j < 500; j++) {
        map_put_u64(&m, j * 31, j);
        map_put_u64(&m2, j * 31, j);
    }
    size_t p1 = 0, p2 = 0;
    struct map_entry *e1, *e2;
    long diff = 0;
    while ((e1 = map_next(&m, &p1)) != NULL) {
        e2 = map_next(&m2, &p2);
        if (!e2 || e1->key != e2->key)
            diff++;
    }
    CHECK(map_next(&m2, &p2) == NULL);
    CHECK_EQ_INT(diff, 0);
    map_destroy(&m);
    map_destroy(&m2);
    arena_destroy(&a);

    /* an arena that refuses: MAP_NOMEM, the map unchanged */
    arena_init(&a, 256, 256);
    map_init(&m, MAP_BYTES, NULL, NULL);
    map_set_arena(&m, &a);
    rc = MAP_OK;
    for (k = 0; k < 100 && rc == MAP_OK; k++) {
        char kb[8];
        memcpy(kb, &k, 8);
        rc = map_put_bytes(&m, kb, 8, k);
    }
    CHECK_EQ_INT(rc, MAP_NOMEM);
    CHECK_EQ_INT(map_count(&m), k - 1);
    map_destroy(&m);
    arena_destroy(&a);
}

/* ---- vectors --------------------------------------------------------------------------- */

static void test_vec(void)
{
    /* capacities: doubling from `first`, overflow as 0 */
    CHECK_EQ_INT(vec_next_cap(0, 1, 4, 16), 16);
    CHECK_EQ_INT(vec_next_cap(16, 17, 4, 16), 32);
    CHECK_EQ_INT(vec_next_cap(16, 100, 4, 16), 128);
    CHECK_EQ_INT(vec_next_cap(32, 20, 4, 16), 32);
    CHECK_EQ_INT(vec_next_cap(0, SIZE_MAX / 8 + 1, 8, 16), 0);
    CHECK_EQ_INT(vec_next_cap(0, SIZE_MAX / 8, 8, 16), SIZE_MAX / 8); /* capped, not wrapped */
    /* doubling past the largest count stops at it */
    CHECK_EQ_INT(vec_next_cap(SIZE_MAX / 32 + 1, SIZE_MAX / 32 + 2, 16, 1), SIZE_MAX / 16);
    CHECK_EQ_INT(vec_next_cap(4, 5, 0, 1), 0); /* no element size */

    /* vec_grow: a failure leaves the array and its capacity as they were */
    size_t cap = 0;
    int *a = vec_grow(NULL, &cap, 10, sizeof *a, 4);
    CHECK(a != NULL);
    CHECK_EQ_INT(cap, 16);
    for (int i = 0; i < 10; i++)
        a[i] = i;
    int *b = vec_grow(a, &cap, SIZE_MAX / 2, sizeof *a, 4);
    CHECK(b == NULL);
    CHECK_EQ_INT(cap, 16);
    b = vec_grow(a, &cap, 1000, sizeof *a, 4);
    CHECK(b != NULL);
    CHECK_EQ_INT(cap, 1024);
    long bad = 0;
    for (int i = 0; i < 10; i++)
        if (b[i] != i)
            bad++;
    CHECK_EQ_INT(bad, 0);
    free(b);

    /* in an arena: contents copied, a refusal reported */
    struct arena ar;
    arena_init(&ar, 1024, 2048);
    cap = 0;
    int *v = NULL;
    size_t n = 0;
    for (int i = 0; i < 500; i++) {
        if (n == cap) {
            int *nv = vec_grow_arena(&ar, v, n, &cap, n + 1, sizeof *v, 8);
            if (!nv)
                break;
            v = nv;
        }
        v[n++] = i;
    }
    CHECK(n < 500); /* the arena's 2 KiB cap refused a growth */
    CHECK_EQ_INT(cap, n);
    for (size_t i = 0; i < n; i++)
        if (v[i] != (int)i)
            bad++;
    CHECK_EQ_INT(bad, 0);
    arena_destroy(&ar);

    /* the typed vector against an oracle of what was pushed */
    VEC(uint64_t) tv = {0};
    for (uint64_t i = 0; i < 100000; i++)
        if (!VEC_PUSH(&tv, i * 3))
            bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(tv.n, 100000);
    CHECK(tv.cap >= tv.n);
    for (size_t i = 0; i < tv.n; i++)
        if (tv.v[i] != i * 3)
            bad++;
    CHECK_EQ_INT(bad, 0);
    CHECK(!VEC_RESERVE(&tv, SIZE_MAX));     /* n + extra overflows */
    CHECK(!VEC_RESERVE(&tv, SIZE_MAX / 8)); /* bytes overflow */
    CHECK_EQ_INT(tv.n, 100000);
    CHECK(VEC_RESERVE(&tv, 10));
    VEC_FREE(&tv);
    CHECK(tv.v == NULL && tv.n == 0 && tv.cap == 0);
    VEC(char) empty = {0};
    VEC_FREE(&empty);
    CHECK(empty.n == 0);
}

/* ---- numbers ----------------------------------------------------------------------------- */

static void test_num(void)
{
    CHECK(util_mix64(0) == 0);
    CHECK(util_mix64(1) != util_mix64(2));
    CHECK_EQ_INT((int64_t)util_mix64(1), (int64_t)0xB456BCFC34C2CB2Cull);
    CHECK(util_hash_bytes("ab", 2) != util_hash_bytes("ba", 2));
    CHECK(util_hash_bytes("", 0) != util_hash_bytes("\0", 1));
    char d[24];
    int e;
    bool neg;
    int nd = util_shortest_digits(0.1, false, d, &e, &neg);
    CHECK(nd == 1 && d[0] == '1' && e == -1 && !neg);
    nd = util_shortest_digits(-2.675, false, d, &e, &neg);
    CHECK(nd == 4 && memcmp(d, "2675", 4) == 0 && e == 0 && neg);
    nd = util_shortest_digits(0.1f, true, d, &e, &neg);
    CHECK(nd == 1 && d[0] == '1');
    nd = util_shortest_digits(0.1f, false, d, &e, &neg); /* as a double: all its digits */
    CHECK_EQ_INT(nd, 17);
    nd = util_shortest_digits(1e300, false, d, &e, &neg);
    CHECK(nd == 1 && e == 300);
    nd = util_shortest_digits(0, false, d, &e, &neg);
    CHECK(nd == 1 && d[0] == '0');
}

int main(void)
{
    test_map_u64_random(64, 20000);   /* a small key set: mostly hits */
    test_map_u64_random(3000, 60000); /* grows to thousands of keys */
    test_map_bytes_random(40000, false);
    test_map_bytes_random(40000, true);
    test_map_custom_collisions(30000);
    test_map_edges();
    test_vec();
    test_num();
    return check_summary();
}
