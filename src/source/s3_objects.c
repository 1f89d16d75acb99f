/*
 * s3_objects.c — S3 objects as a batch job's files (source.h, "S3"): an s3
 * connection's settings and write-only keys into a client (util/s3.h), the
 * job's selection (objects, prefixes, a glob pattern, s3:// URIs) listed
 * into "s3://BUCKET/KEY" URIs, and the glob itself. source_open_files
 * (file.c) then downloads each object while it reads it, so an object is
 * read exactly as an uploaded file is (gzip or plain, every format).
 *
 * Entry points: source_aws_keys_from_json (Kinesis uses it too),
 * source_s3_config_from_json, source_s3_client, source_s3_uris,
 * source_s3_uris_free, source_s3_glob, source_s3_uri_split.
 */
#include "source/source_int.h"
#include "util/s3.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_MAX 1000 /* objects checked before the first is read */

int source_aws_keys_from_json(const json_t *secrets, const char **key_id, const char **secret,
                              struct lerr *err)
{
    *key_id = *secret = NULL;
    if (!secrets)
        return 0;
    if (!json_is_object(secrets))
        return lerr_set_at(err, LERR_INVALID, "secrets", "secrets must be an object");
    *key_id = json_string_value(json_object_get(secrets, "accessKeyId"));
    *secret = json_string_value(json_object_get(secrets, "secretAccessKey"));
    if (!*key_id || !*secret)
        return lerr_set_at(err, LERR_INVALID, "secrets",
                           "secrets needs accessKeyId and secretAccessKey");
    return 0;
}

int source_s3_config_from_json(const json_t *doc, const json_t *secrets,
                               struct source_s3_config *cfg, struct lerr *err)
{
    memset(cfg, 0, sizeof *cfg);
    json_t *d = (json_t *)doc;
    cfg->bucket = json_string_value(json_object_get(d, "bucket"));
    cfg->prefix = json_string_value(json_object_get(d, "prefix"));
    cfg->endpoint = json_string_value(json_object_get(d, "endpoint"));
    cfg->region = json_string_value(json_object_get(d, "region"));
    if (!cfg->prefix)
        cfg->prefix = "";
    if (!cfg->bucket || !cfg->bucket[0])
        return lerr_set_at(err, LERR_INVALID, "bucket",
                           "the s3 connection has no bucket; set \"bucket\" to the bucket's name");
    return source_aws_keys_from_json(secrets, &cfg->access_key_id, &cfg->secret_access_key, err);
}

int source_s3_client(const struct source_s3_config *cfg, struct s3_client **out, struct lerr *err)
{
    *out = NULL;
    char ep[1100];
    struct s3_config c = {.region = cfg->region, .owner = cfg->owner};
    if (cfg->owner) {
        /* a connection's endpoint is its own: without one, AWS (not AWS_ENDPOINT_URL) */
        const char *e = cfg->endpoint ? cfg->endpoint : "";
        snprintf(ep, sizeof ep, "%s%s", *e && !strstr(e, "://") ? "https://" : "", e);
        c.endpoint = ep;
    } else if (cfg->endpoint && cfg->endpoint[0]) {
        c.endpoint = cfg->endpoint;
    }
    if (cfg->access_key_id) {
        c.access_key = cfg->access_key_id;
        c.secret_key = cfg->secret_access_key;
        c.session_token = "";
    }
    s3_config_from_env(&c);
    if (!c.access_key || !c.access_key[0] || !c.secret_key || !c.secret_key[0])
        return lerr_set_at(err, LERR_INVALID, "secrets",
                           "%s: no AWS credentials — give the connection secrets {\"type\": "
                           "\"aws_access_key\", \"accessKeyId\", \"secretAccessKey\"}, or set "
                           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the server's "
                           "environment",
                           cfg->owner ? cfg->owner : "S3");
    return s3_client_new(&c, out, err);
}

bool source_s3_uri_split(const char *uri, char *bucket, size_t cap, const char **key)
{
    if (strncmp(uri, "s3://", 5) != 0)
        return false;
    const char *b = uri + 5, *slash = strchr(b, '/');
    size_t n = slash ? (size_t)(slash - b) : strlen(b);
    if (n == 0 || n >= cap)
        return false;
    memcpy(bucket, b, n);
    bucket[n] = '\0';
    *key = slash ? slash + 1 : "";
    return true;
}

/* ---- the glob ----------------------------------------------------------------------- */

/* One '[...]' set at p (just past '['), against c: *end past its ']'; -1 if unclosed. */
static int glob_set(const char *p, char c, const char **end)
{
    bool neg = *p == '!' || *p == '^', in = false;
    if (neg)
        p++;
    const char *start = p;
    while (*p && (*p != ']' || p == start)) {
        char lo = *p, hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = p[2];
            p += 2;
        }
        if (c >= lo && c <= hi)
            in = true;
        p++;
    }
    if (*p != ']')
        return -1;
    *end = p + 1;
    return in != neg;
}

bool source_s3_glob(const char *p, const char *s)
{
    while (*p) {
        if (p[0] == '*' && p[1] == '*') {
            while (*p == '*')
                p++;
            for (const char *t = s;; t++) { /* any run, '/' included */
                if (source_s3_glob(p, t))
                    return true;
                if (!*t)
                    return false;
            }
        }
        if (*p == '*') {
            p++;
            for (const char *t = s;; t++) { /* any run without '/' */
                if (source_s3_glob(p, t))
                    return true;
                if (!*t || *t == '/')
                    return false;
            }
        }
        if (!*s)
            return false;
        if (*p == '?') {
            if (*s == '/')
                return false;
        } else if (*p == '[') {
            const char *end;
            int m = glob_set(p + 1, *s, &end);
            if (m < 0) { /* an unclosed '[' is itself */
                if (*s != '[')
                    return false;
            } else {
                if (!m || *s == '/')
                    return false;
                p = end;
                s++;
                continue;
            }
        } else {
            if (*p == '\\' && p[1])
                p++;
            if (*p != *s)
                return false;
        }
        p++;
        s++;
    }
    return !*s;
}

/* ---- listing ------------------------------------------------------------------------ */

struct uris {
    char **v;
    size_t n, cap;
    const char *bucket;
    size_t skip;         /* the connection's prefix's length: the pattern sees the rest */
    const char *pattern; /* NULL: every key */
    struct lerr *err;
};

static int add_uri(struct uris *u, const char *bucket, const char *key)
{
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 16;
        char **v = realloc(u->v, cap * sizeof *v);
        if (!v)
            return lerr_set(u->err, LERR_NOMEM, "S3: out of memory listing objects");
        u->v = v;
        u->cap = cap;
    }
    if (asprintf(&u->v[u->n], "s3://%s/%s", bucket, key) < 0)
        return lerr_set(u->err, LERR_NOMEM, "S3: out of memory listing objects");
    u->n++;
    return 0;
}

static int on_key(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    (void)size, (void)modified_ms;
    struct uris *u = ctx;
    size_t n = strlen(key);
    if (n && key[n - 1] == '/') /* a folder marker */
        return 0;
    if (u->pattern && !source_s3_glob(u->pattern, key + (n >= u->skip ? u->skip : n)))
        return 0;
    return add_uri(u, u->bucket, key) ? -1 : 0;
}

static int stop_at_first(void *ctx, const char *key, uint64_t size, int64_t modified_ms)
{
    (void)ctx, (void)key, (void)size, (void)modified_ms;
    return 1;
}

void source_s3_uris_free(char **uris, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(uris[i]);
    free(uris);
}

/* Every object under bucket/prefix (matching the pattern); none is LERR_NOT_FOUND. */
static int list(struct s3_client *c, struct uris *u, const char *bucket, const char *prefix,
                const char *what)
{
    size_t before = u->n;
    u->bucket = bucket;
    int rc = s3_list(c, bucket, prefix, on_key, u, u->err);
    if (rc)
        return u->err->code ? u->err->code : lerr_set(u->err, LERR_IO, "S3: listing failed");
    if (u->n == before)
        return lerr_set(u->err, LERR_NOT_FOUND,
                        "%s: no object under s3://%s/%s%s%s%s; fix it, or put the objects there",
                        what, bucket, prefix, u->pattern ? " matches the pattern '" : "",
                        u->pattern ? u->pattern : "", u->pattern ? "'" : "");
    return 0;
}

int source_s3_uris(struct s3_client *c, const struct source_s3_config *cfg,
                   const struct source_s3_select *sel, char ***out, size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    struct uris u = {.err = err};
    const char *base = cfg->prefix ? cfg->prefix : "";
    char bucket[128], *p = NULL, what[200];
    const char *key;
    int rc = 0;
    for (size_t i = 0; !rc && i < sel->nobjects; i++) {
        if (!cfg->bucket)
            rc = lerr_set_at(err, LERR_INVALID, "source.objects",
                             "source.objects needs a connection (source.connectionName); "
                             "without one, give \"uris\": [\"s3://BUCKET/KEY\"]");
        else if (asprintf(&p, "%s%s", base, sel->objects[i]) < 0)
            rc = lerr_set(err, LERR_NOMEM, "S3: out of memory");
        else
            rc = add_uri(&u, cfg->bucket, p);
        free(p);
        p = NULL;
    }
    for (size_t i = 0; !rc && i < sel->nuris; i++) {
        if (!source_s3_uri_split(sel->uris[i], bucket, sizeof bucket, &key) || !*key)
            rc = lerr_set_at(err, LERR_INVALID, "source.uris",
                             "source.uris[%zu] '%.200s' is not s3://BUCKET/KEY", i, sel->uris[i]);
        else
            rc = add_uri(&u, bucket, key);
    }
    for (size_t i = 0; !rc && i < sel->nprefixes; i++) {
        snprintf(what, sizeof what, "source.prefixes[%zu]", i);
        if (strncmp(sel->prefixes[i], "s3://", 5) == 0) {
            if (!source_s3_uri_split(sel->prefixes[i], bucket, sizeof bucket, &key))
                rc = lerr_set_at(err, LERR_INVALID, "source.prefixes",
                                 "%s '%.200s' is not s3://BUCKET/PREFIX", what, sel->prefixes[i]);
            else
                rc = list(c, &u, bucket, key, what);
        } else if (!cfg->bucket) {
            rc = lerr_set_at(err, LERR_INVALID, "source.prefixes",
                             "%s '%.200s' needs a connection (source.connectionName), or write "
                             "it as s3://BUCKET/PREFIX",
                             what, sel->prefixes[i]);
        } else if (asprintf(&p, "%s%s", base, sel->prefixes[i]) < 0) {
            rc = lerr_set(err, LERR_NOMEM, "S3: out of memory");
        } else {
            rc = list(c, &u, cfg->bucket, p, what);
            free(p);
            p = NULL;
        }
    }
    if (!rc && sel->pattern) {
        if (!cfg->bucket)
            rc = lerr_set_at(err, LERR_INVALID, "source.pattern",
                             "source.pattern needs a connection (source.connectionName)");
        else {
            u.pattern = sel->pattern;
            u.skip = strlen(base);
            rc = list(c, &u, cfg->bucket, base, "source.pattern");
        }
    }
    /* the objects named one by one must exist: a missing one fails the job
     * before any row of the others is ingested (one HEAD each, so up to
     * HEAD_MAX of them; a missing one further on fails when its turn comes) */
    for (size_t i = 0; !rc && i < sel->nobjects + sel->nuris && i < HEAD_MAX; i++) {
        struct lerr e;
        lerr_init(&e);
        if (!source_s3_uri_split(u.v[i], bucket, sizeof bucket, &key))
            continue;
        /* a HEAD's error has no body, so no S3 code: a listing's tells a missing
         * bucket from a missing key, and names refused credentials */
        struct lerr le;
        lerr_init(&le);
        int hr = s3_head(c, bucket, key, NULL, &e);
        if (hr && s3_list(c, bucket, key, stop_at_first, NULL, &le) != 1 && le.code)
            rc = lerr_set(err, le.code, "object '%s' cannot be read: %s", u.v[i], le.msg);
        else if (hr == LERR_NOT_FOUND)
            rc = lerr_set(err, LERR_NOT_FOUND,
                          "object '%s' does not exist; fix the key (%s), or put the object "
                          "there",
                          u.v[i],
                          i < sel->nobjects ? "source.objects are under the connection's prefix"
                                            : "source.uris");
        else if (hr)
            rc = lerr_set(err, e.code, "object '%s' cannot be read: %s", u.v[i], e.msg);
    }
    if (!rc && u.n == 0)
        rc = lerr_set_at(err, LERR_INVALID, "source",
                         "the s3 source names no object: give objects, prefixes or a pattern");
    if (rc) {
        source_s3_uris_free(u.v, u.n);
        return rc;
    }
    *out = u.v;
    *n = u.n;
    return 0;
}
