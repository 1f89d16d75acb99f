/* test_auth.c — API key generation, hashing, the three Authorization forms, permissions; and
 * the rendezvous hashing of segments over a cluster's nodes (api/cluster.c). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "check.h"

/* Whether any of the catalog's files (the database, its WAL) holds the bytes. */
static bool catalog_files_hold(const char *db, const char *needle)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < LS_ARRAY_LEN(suffix); i++) {
        char path[300];
        snprintf(path, sizeof path, "%s%s", db, suffix[i]);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static char buf[1 << 22];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        if (memmem(buf, n, needle, strlen(needle)))
            return true;
    }
    return false;
}

static bool base62(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
            return false;
    return true;
}

/*
 * Rendezvous hashing of segments over nodes (cluster.c, the parts of a
 * query): 3,000 segments over 3 live nodes fall about evenly; a node that
 * dies gives its segments to the others and no other segment moves; a node
 * that joins takes about a quarter, each from the node that held it; and a
 * node that is not live serves nothing.
 */
static void test_rendezvous(void)
{
    struct catalog_node nodes[4];
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < 4; i++)
        snprintf(nodes[i].id, sizeof nodes[i].id, "node-%c", 'a' + i);
    bool three[4] = {true, true, true, false}, two[4] = {true, false, true, false},
         four[4] = {true, true, true, true};
    enum { NSEG = 3000 };
    size_t count[4] = {0}, moved_kill = 0, moved_join = 0, bad = 0;
    for (int k = 0; k < NSEG; k++) {
        char seg[64];
        snprintf(seg, sizeof seg, "2026-12-07T%02d-00-00.000Z_%08x.lseg", k % 24, k * 2654435761u);
        size_t a = api__segment_server(nodes, three, 4, seg);
        size_t b = api__segment_server(nodes, two, 4, seg);
        size_t c = api__segment_server(nodes, four, 4, seg);
        count[a]++;
        bad += a == 3 || b == 1 || b == 3; /* never a node that is not live */
        moved_kill += a != b;              /* node-b died: only its segments move */
        bad += a != b && a != 1;
        moved_join += a != c; /* node-d joined: only what it wins moves */
        bad += a != c && c != 3;
    }
    CHECK_EQ_INT((int)bad, 0);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(count[i] > NSEG / 3 - 150 && count[i] < NSEG / 3 + 150,
                  "node %d serves %zu of %d segments", i, count[i], NSEG);
    CHECK_EQ_INT((int)moved_kill, (int)count[1]);
    CHECK_MSG(moved_join > NSEG / 4 - 150 && moved_join < NSEG / 4 + 150,
              "a fourth node took %zu of %d segments", moved_join, NSEG);
    bool none[4] = {false, false, false, false};
    CHECK_MSG(api__segment_server(nodes, none, 4, "x.lseg") == SIZE_MAX, "no live node");
}

int main(void)
{
    test_rendezvous();
    char dir[] = "/tmp/lodestar-auth-XXXXXX", path[256];
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    struct api_server s = {0};
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(catalog_open(path, &s.cat, &e), 0);

    char key[48], key2[48];
    CHECK_EQ_INT(api_apikey_create(s.cat, "admin", "*", key, &e), 0);
    CHECK_EQ_INT(strlen(key), 44);
    CHECK(strncmp(key, "pok_", 4) == 0);
    CHECK(base62(key + 4));
    CHECK_EQ_INT(api_apikey_create(s.cat, "viewer", "ViewTables, AccessQueries", key2, &e), 0);
    CHECK(strcmp(key, key2) != 0);
    CHECK_EQ_INT(api_apikey_create(s.cat, "viewer", "ViewTables", key2, &e), LERR_CONFLICT);
    lerr_init(&e);
    CHECK_EQ_INT(api_apikey_create(s.cat, "x", "ManageTabels", key2, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "did you mean ManageTables") != NULL, "message: %s", e.msg);
    lerr_init(&e);
    CHECK_EQ_INT(api_apikey_create(s.cat, "", "*", key2, &e), LERR_INVALID);
    lerr_init(&e);

    /* Only the hash is stored. */
    char hash[65];
    util_sha256_hex(key, strlen(key), hash);
    struct catalog_apikey k;
    CHECK_EQ_INT(catalog_apikey_by_hash(s.cat, hash, &k, &e), 0);
    CHECK_EQ_STR(k.name, "admin");
    /* The files hold the hash (so this looks in the right place) and never the key,
     * nor its random part. */
    CHECK_MSG(catalog_files_hold(path, hash), "the key's hash is not in %s*", path);
    CHECK_MSG(!catalog_files_hold(path, key), "the key itself is in %s*", path);
    CHECK_MSG(!catalog_files_hold(path, key + 4), "the key's random part is in %s*", path);

    /* The three header forms. */
    char colon[64], b64[128], h[160];
    snprintf(colon, sizeof colon, "%s:", key);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)colon, (int)strlen(colon));
    const char *forms[3][2] = {{"Basic ", b64}, {"Basic ", key}, {"Bearer ", key}};
    for (int i = 0; i < 3; i++) {
        snprintf(h, sizeof h, "%s%s", forms[i][0], forms[i][1]);
        memset(&k, 0, sizeof k);
        lerr_init(&e);
        CHECK_MSG(api_auth(&s, h, &k, &e) == 0, "form %d: %s", i, e.msg);
        CHECK_EQ_STR(k.name, "admin");
    }
    /* base64 of "KEY" without the colon also works (a user name, no password). */
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)key, (int)strlen(key));
    snprintf(h, sizeof h, "Basic %s", b64);
    lerr_init(&e);
    CHECK_EQ_INT(api_auth(&s, h, &k, &e), 0);
    const char *bad[] = {
        NULL, "", "Basic", "Basic !!!", "Token abc", "Bearer pok_nope", "Basic cG9rX25vcGU6"};
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&e);
        CHECK_EQ_INT(api_auth(&s, bad[i], &k, &e), LERR_UNAUTHORIZED);
    }

    /* Permissions. */
    struct catalog_apikey v = {.permissions = "ViewTables,AccessQueries"};
    CHECK(api_key_has(&v, API_PERM_ViewTables));
    CHECK(api_key_has(&v, API_PERM_AccessQueries));
    CHECK(!api_key_has(&v, API_PERM_ManageTables));
    CHECK(api_key_has(&v, API_PERM_ANY));
    struct catalog_apikey tricky = {.permissions = "ManageTablesX"};
    CHECK(!api_key_has(&tricky, API_PERM_ManageTables));
    CHECK_EQ_STR(api_perm_name(API_PERM_ManageIngestionJobs), "ManageIngestionJobs");

    catalog_close(s.cat);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
