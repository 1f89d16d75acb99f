/*
 * auth.c — API keys and permissions. A key is "pok_" + 40 base62
 * characters from getrandom(2); only its SHA-256 is stored. The
 * Authorization header may be "Basic base64(KEY:)" (curl --user KEY:),
 * "Basic KEY" (the raw key, as Polaris's Python samples send it) or
 * "Bearer KEY".
 *
 * A key's last use is recorded when it authenticates, to the minute (one
 * catalog write a minute at most).
 *
 * Entry points: api_apikey_create(), api__apikey_make(), api_auth(),
 * api_key_has().
 */
#include <openssl/evp.h>
#include <string.h>

#include "api/api_int.h"

static const char *const perm_names[] = {
#define API_PERM_NAME(p) #p,
    API_PERMISSIONS(API_PERM_NAME)
#undef API_PERM_NAME
        NULL,
};

const char *api_perm_name(enum api_perm p) { return p < API_PERM__COUNT ? perm_names[p] : "any"; }

/* Normalises "A, B" / "*" into the stored comma list; LERR_INVALID on an unknown name. */
static int parse_perms(const char *perms, char *out, size_t cap, struct lerr *err)
{
    out[0] = '\0';
    if (strcmp(perms, "*") == 0 || strcmp(perms, "all") == 0) {
        size_t used = 0;
        for (int i = 0; perm_names[i]; i++)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", perm_names[i]);
        return 0;
    }
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", perms);
    size_t used = 0;
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ')
            t[--n] = '\0';
        int found = -1;
        for (int i = 0; perm_names[i]; i++)
            if (strcmp(perm_names[i], t) == 0)
                found = i;
        if (found < 0) {
            const char *hint = util_closest(t, n, perm_names);
            return lerr_set(err, LERR_INVALID,
                            "unknown permission '%s'%s%s%s; known: ManageTables, ViewTables, "
                            "ManageConnections, ManageIngestionJobs, AccessQueries, "
                            "ManageApiKeys (or * for all)",
                            t, hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
        }
        used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "", t);
    }
    if (!out[0])
        return lerr_set(err, LERR_INVALID,
                        "no permissions given; e.g. --permissions "
                        "ManageTables,ManageIngestionJobs");
    return 0;
}

int api_apikey_create(struct catalog *cat, const char *name, const char *perms, char key_out[48],
                      struct lerr *err)
{
    struct catalog_apikey k;
    return api__apikey_make(cat, name, "", perms, key_out, &k, err);
}

int api__apikey_make(struct catalog *cat, const char *name, const char *description,
                     const char *perms, char key_out[48], struct catalog_apikey *out,
                     struct lerr *err)
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 100)
        return lerr_set(err, LERR_INVALID, "key name must be 1..100 characters");
    for (size_t i = 0; i < nlen; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return lerr_set(err, LERR_INVALID, "key name must not contain control characters");
    struct catalog_apikey k = {0};
    for (const char *p = description; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return lerr_set_at(err, LERR_INVALID, "description",
                               "the description must not contain control characters");
    snprintf(k.description, sizeof k.description, "%s", description);
    if (parse_perms(perms, k.permissions, sizeof k.permissions, err))
        return err->code;
    /* 40 characters, each by rejection sampling so every symbol is equally likely. */
    memcpy(key_out, "pok_", 4);
    int have = 0;
    while (have < 40) {
        unsigned char rnd[64];
        if (util_random_bytes(rnd, sizeof rnd, err))
            return err->code;
        for (size_t i = 0; i < sizeof rnd && have < 40; i++)
            if (rnd[i] < 248) /* 248 = 4 * 62 */
                key_out[4 + have++] = b62[rnd[i] % 62];
    }
    key_out[44] = '\0';
    if (util_uuid_v4(k.id, err))
        return err->code;
    snprintf(k.name, sizeof k.name, "%s", name);
    util_sha256_hex(key_out, 44, k.hash);
    k.created_ns = util_now_ns();
    if (catalog_apikey_insert(cat, &k, err))
        return err->code;
    *out = k;
    return 0;
}

static bool is_key_shaped(const char *s, size_t n)
{
    if (n != 44 || memcmp(s, "pok_", 4) != 0)
        return false;
    for (size_t i = 4; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

/* Extracts the key from the header value into out[64]; false if none. */
static bool key_from_header(const char *h, char out[64])
{
    while (*h == ' ')
        h++;
    const char *cred;
    bool basic = false;
    if (strncasecmp(h, "Basic ", 6) == 0) {
        basic = true;
        cred = h + 6;
    } else if (strncasecmp(h, "Bearer ", 7) == 0) {
        cred = h + 7;
    } else {
        return false;
    }
    while (*cred == ' ')
        cred++;
    size_t n = strcspn(cred, " \t\r\n");
    if (n == 0 || n > 200)
        return false;
    if (is_key_shaped(cred, n) || !basic) {
        if (n >= 64)
            return false;
        memcpy(out, cred, n);
        out[n] = '\0';
        return true;
    }
    /* Basic base64("KEY:") — the user name is the key, the password empty. */
    unsigned char dec[160];
    int len = EVP_DecodeBlock(dec, (const unsigned char *)cred, (int)n);
    if (len <= 0)
        return false;
    while (len > 0 && dec[len - 1] == '\0' && cred[n - 1] == '=')
        len--; /* EVP_DecodeBlock counts padding as zero bytes */
    const unsigned char *colon = memchr(dec, ':', (size_t)len);
    size_t klen = colon ? (size_t)(colon - dec) : (size_t)len;
    if (klen == 0 || klen >= 64)
        return false;
    memcpy(out, dec, klen);
    out[klen] = '\0';
    return true;
}

int api_auth(struct api_server *s, const char *authorization, struct catalog_apikey *out,
             struct lerr *err)
{
    char key[64];
    if (!authorization || !key_from_header(authorization, key))
        return lerr_set(err, LERR_UNAUTHORIZED,
                        "missing or malformed API key: send 'Authorization: Basic <base64 of "
                        "KEY:>' (curl --user KEY:), 'Basic KEY' or 'Bearer KEY'");
    char hash[65];
    util_sha256_hex(key, strlen(key), hash);
    struct lerr e2;
    lerr_init(&e2);
    if (catalog_apikey_by_hash(s->cat, hash, out, &e2)) {
        if (e2.code == LERR_NOT_FOUND)
            return lerr_set(err, LERR_UNAUTHORIZED,
                            "unknown API key; check the key (DIR/admin.key holds the admin key)");
        return lerr_set(err, e2.code, "%s", e2.msg);
    }
    /* lastUsedAt to the minute: at most one catalog write a minute a key */
    int64_t now = util_now_ns();
    if (now - out->last_used_ns >= 60 * (int64_t)1000000000) {
        lerr_init(&e2);
        if (catalog_apikey_touch(s->cat, out->id, now, &e2) == 0)
            out->last_used_ns = now;
    }
    return 0;
}

bool api_key_has(const struct catalog_apikey *k, enum api_perm p)
{
    if (p == API_PERM_ANY)
        return true;
    if (p >= API_PERM__COUNT)
        return false;
    return util_csv_has(k->permissions, perm_names[p], strlen(perm_names[p]));
}
