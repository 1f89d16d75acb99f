/*
 * registry.c — the Confluent Schema Registry client of registry.h: GET
 * {url}/schemas/ids/{id} (and, for Protobuf, ?format=serialized and
 * /subjects/{s}/versions/{v}?format=serialized for references) through
 * libcurl, the answer read with jansson, the schema kept in a cache of
 * immutable entries (a linked list under one lock: a job meets a handful of
 * schema ids). Compiled Protobuf schemas are cached there too: the schema's
 * reference graph is walked depth first (each file once, by its import
 * name), the base64 FileDescriptorProtos decoded and handed to
 * format_pb_schema_from_files().
 *
 * Entry points: format_registry_new(), format_registry_free(),
 * format_registry_schema(), format_registry_serialized(),
 * format_registry_version(), format_registry_protobuf(),
 * format_registry_frame().
 */
#include "format/registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/protobuf.h"

/* What an entry caches: a schema by id (its text, or its serialized form),
 * a subject's version (serialized), or a compiled Protobuf schema. */
enum kind { K_TEXT, K_SERIAL, K_VERSION, K_PB };

struct entry {
    struct entry *next;
    enum kind kind;
    char *subject; /* K_VERSION's key, with s.id... */
    int version;   /* ...and this; other kinds are keyed by s.id */
    struct format_registry_schema s;
    bool missing;       /* the registry said it has no such id */
    int64_t missing_ms; /* when it said so */
    char *type_own;
    struct format_registry_ref *refs_own;
    struct format_pb_schema *pb; /* K_PB: compiled, or NULL and pb_error */
    char *pb_error;
};

struct format_registry {
    char **urls;
    size_t nurls;
    char *username, *password;
    long timeout_ms;
    pthread_mutex_t mu;
    struct entry *cache;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *dup_str(const char *s) { return s ? strdup(s) : NULL; }

struct format_registry *format_registry_new(const struct format_registry_config *cfg,
                                            struct lerr *err)
{
    if (!cfg->nurls) {
        lerr_set(err, LERR_INVALID,
                 "the schema registry connection has no urls; give at least one, e.g. "
                 "[\"https://psrc-xxxx.confluent.cloud\"]");
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    struct format_registry *r = calloc(1, sizeof *r);
    if (!r || !(r->urls = calloc(cfg->nurls, sizeof *r->urls)))
        goto nomem;
    r->nurls = cfg->nurls;
    for (size_t i = 0; i < cfg->nurls; i++) {
        /* without a trailing '/': paths are appended */
        size_t n = strlen(cfg->urls[i]);
        while (n && cfg->urls[i][n - 1] == '/')
            n--;
        if (!(r->urls[i] = strndup(cfg->urls[i], n)))
            goto nomem;
    }
    if ((cfg->username && !(r->username = dup_str(cfg->username))) ||
        (cfg->password && !(r->password = dup_str(cfg->password))))
        goto nomem;
    r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
    pthread_mutex_init(&r->mu, NULL);
    return r;
nomem:
    if (r) {
        for (size_t i = 0; r->urls && i < r->nurls; i++)
            free(r->urls[i]);
        free(r->urls);
        free(r->username);
        free(r);
    }
    lerr_set(err, LERR_NOMEM, "out of memory creating a schema registry client");
    return NULL;
}

static void entry_free(struct entry *e)
{
    free((char *)e->s.text);
    free(e->type_own);
    for (size_t i = 0; e->refs_own && i < e->s.nrefs; i++) {
        free((char *)e->refs_own[i].name);
        free((char *)e->refs_own[i].subject);
    }
    free(e->refs_own);
    free(e->subject);
    format_pb_schema_free(e->pb);
    free(e->pb_error);
    free(e);
}

void format_registry_free(struct format_registry *r)
{
    if (!r)
        return;
    for (struct entry *e = r->cache, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    for (size_t i = 0; i < r->nurls; i++)
        free(r->urls[i]);
    free(r->urls);
    if (r->password) /* a secret: not left in freed memory */
        memset(r->password, 0, strlen(r->password));
    free(r->username);
    free(r->password);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

int format_registry_frame(const char *data, size_t len, uint32_t *id, struct lerr *err)
{
    if (len < 5) {
        lerr_set(err, LERR_INVALID,
                 "the record has %zu bytes, fewer than the 5 of a schema registry header "
                 "(magic byte 0 and a 4-byte schema id); produce it with a schema registry "
                 "serializer",
                 len);
        err->pos = 0;
        return LERR_INVALID;
    }
    if (data[0] != 0) {
        lerr_set(err, LERR_INVALID,
                 "the record starts with byte 0x%02x, not the schema registry's magic byte 0; "
                 "it was not written by a schema registry serializer (use an inline schema "
                 "for plain Avro)",
                 (unsigned char)data[0]);
        err->pos = 0;
        return LERR_INVALID;
    }
    const unsigned char *u = (const unsigned char *)data;
    *id = (uint32_t)u[1] << 24 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 8 | u[4];
    return 0;
}

/* ---- one request ----------------------------------------------------------- */

struct body {
    char *p;
    size_t n, cap;
    bool over;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    if (b->n + n > FORMAT_REGISTRY_MAX_BODY) {
        b->over = true;
        return 0;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return 0;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, ptr, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* GET url; *status (0 when no answer), the body in *b. CURLcode. */
static CURLcode get(struct format_registry *r, const char *url, long *status, struct body *b,
                    char errbuf[CURL_ERROR_SIZE])
{
    *status = 0;
    CURL *h = curl_easy_init();
    if (!h)
        return CURLE_OUT_OF_MEMORY;
    struct curl_slist *hdrs =
        curl_slist_append(NULL, "Accept: application/vnd.schemaregistry.v1+json, "
                                "application/vnd.schemaregistry+json, application/json");
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms < 5000 ? r->timeout_ms : 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (r->username) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, r->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

/* Appends "; " + text to a message being built. */
static void add_reason(char *msg, size_t cap, const char *fmt, ...) LS_PRINTF(3, 4);
static void add_reason(char *msg, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(msg);
    if (n + 3 >= cap)
        return;
    if (n)
        n += (size_t)snprintf(msg + n, cap - n, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, cap - n, fmt, ap);
    va_end(ap);
}

/* The "references" of a schema document into e (absent: none). */
static int read_refs(struct entry *e, json_t *refs, const char *url, struct lerr *err)
{
    if (!refs || json_is_null(refs))
        return 0;
    size_t n = json_array_size(refs);
    if (!json_is_array(refs) || n > FORMAT_REGISTRY_MAX_REFS)
        return lerr_set(err, LERR_INVALID,
                        "%s answered with \"references\" that are not an array of at most %d "
                        "{\"name\", \"subject\", \"version\"}",
                        url, FORMAT_REGISTRY_MAX_REFS);
    if (n && !(e->refs_own = calloc(n, sizeof *e->refs_own)))
        return lerr_set(err, LERR_NOMEM, "out of memory reading a schema's references");
    for (size_t i = 0; i < n; i++) {
        json_t *ref = json_array_get(refs, i);
        json_t *name = json_object_get(ref, "name"), *subject = json_object_get(ref, "subject");
        json_t *version = json_object_get(ref, "version");
        if (!json_is_string(name) || !json_is_string(subject) || !json_is_integer(version) ||
            json_integer_value(version) < 1 || json_integer_value(version) > INT32_MAX)
            return lerr_set(err, LERR_INVALID,
                            "%s answered with references[%zu] that is not {\"name\": string, "
                            "\"subject\": string, \"version\": a positive number}",
                            url, i);
        struct format_registry_ref *o = &e->refs_own[i];
        o->name = strdup(json_string_value(name));
        o->subject = strdup(json_string_value(subject));
        o->version = (int)json_integer_value(version);
        e->s.nrefs = i + 1;
        if (!o->name || !o->subject)
            return lerr_set(err, LERR_NOMEM, "out of memory reading a schema's references");
    }
    e->s.refs = e->refs_own;
    return 0;
}

/* Asks the registry for `path` (appended to each URL in turn; `what` names
 * it in messages): 0 with a new entry of that kind, LERR_NOT_FOUND,
 * LERR_UNAVAILABLE, LERR_INVALID or LERR_NOMEM. */
static int fetch(struct format_registry *r, enum kind kind, const char *path, const char *what,
                 uint32_t id, struct entry **out, struct lerr *err)
{
    char reasons[400] = "";
    for (size_t i = 0; i < r->nurls; i++) {
        char url[2600], errbuf[CURL_ERROR_SIZE];
        snprintf(url, sizeof url, "%s%s", r->urls[i], path);
        struct body b = {0};
        long status;
        CURLcode cc = get(r, url, &status, &b, errbuf);
        if (cc != CURLE_OK) {
            add_reason(reasons, sizeof reasons, "%s: %s", r->urls[i],
                       b.over      ? "the answer is larger than 4 MB"
                       : errbuf[0] ? errbuf
                                   : curl_easy_strerror(cc));
            free(b.p);
            continue;
        }
        if (status == 404) {
            free(b.p);
            return lerr_set(err, LERR_NOT_FOUND,
                            "%s is not in the schema registry (%s answered 404); the "
                            "record was written with a schema this registry does not have",
                            what, r->urls[i]);
        }
        if (status != 200) {
            add_reason(reasons, sizeof reasons, "%s: HTTP %ld%s", r->urls[i], status,
                       status == 401 || status == 403
                           ? " (check the username and password in the connection's secrets)"
                           : "");
            free(b.p);
            continue;
        }
        json_error_t je;
        json_t *doc = json_loadb(b.p ? b.p : "", b.n, 0, &je);
        free(b.p);
        json_t *schema = json_object_get(doc, "schema");
        json_t *type = json_object_get(doc, "schemaType");
        json_t *jid = json_object_get(doc, "id");
        if (!json_is_string(schema) || (type && !json_is_null(type) && !json_is_string(type)) ||
            (kind == K_VERSION && (!json_is_integer(jid) || json_integer_value(jid) < 0 ||
                                   json_integer_value(jid) > UINT32_MAX))) {
            json_decref(doc);
            return lerr_set(err, LERR_INVALID,
                            "%s answered %s with a document that has no \"schema\" string%s; is "
                            "it a schema registry?",
                            url, what, kind == K_VERSION ? " and \"id\" number" : "");
        }
        struct entry *e = calloc(1, sizeof *e);
        char *text = e ? strndup(json_string_value(schema), json_string_length(schema)) : NULL;
        char *t = e ? strdup(json_is_string(type) ? json_string_value(type) : "AVRO") : NULL;
        if (!e || !text || !t) {
            free(e);
            free(text);
            free(t);
            json_decref(doc);
            return lerr_set(err, LERR_NOMEM, "out of memory reading %s", what);
        }
        e->kind = kind;
        e->s.id = kind == K_VERSION ? (uint32_t)json_integer_value(jid) : id;
        e->s.text = text;
        e->s.len = json_string_length(schema);
        e->s.type = e->type_own = t;
        /* references matter to the serialized (Protobuf) forms; the plain
         * form is read as it always was */
        int rc = kind == K_TEXT ? 0 : read_refs(e, json_object_get(doc, "references"), url, err);
        json_decref(doc);
        if (rc) {
            entry_free(e);
            return rc;
        }
        *out = e;
        return 0;
    }
    return lerr_set(err, LERR_UNAVAILABLE, "the schema registry is unreachable (%s): %s; retrying",
                    what, reasons);
}

static bool same_key(const struct entry *e, enum kind kind, uint32_t id, const char *subject,
                     int version)
{
    if (e->kind != kind)
        return false;
    if (kind == K_VERSION)
        return e->version == version && strcmp(e->subject, subject) == 0;
    return e->s.id == id;
}

/* A schema from the cache or the registry (format_registry_schema() for
 * every kind but K_PB). */
static int lookup(struct format_registry *r, enum kind kind, uint32_t id, const char *subject,
                  int version, const struct format_registry_schema **out, struct lerr *err)
{
    char what[300], path[2300];
    if (kind == K_VERSION) {
        snprintf(what, sizeof what, "subject '%s' version %d", subject, version);
        char *esc = curl_easy_escape(NULL, subject, 0);
        if (!esc)
            return lerr_set(err, LERR_NOMEM, "out of memory asking for %s", what);
        snprintf(path, sizeof path, "/subjects/%s/versions/%d?format=serialized", esc, version);
        curl_free(esc);
    } else {
        snprintf(what, sizeof what, "schema id %u", id);
        snprintf(path, sizeof path, "/schemas/ids/%u%s", id,
                 kind == K_SERIAL ? "?format=serialized" : "");
    }
    int64_t now = util_now_ms();
    pthread_mutex_lock(&r->mu);
    struct entry *e = r->cache;
    while (e && !same_key(e, kind, id, subject, version))
        e = e->next;
    bool missing = e && e->missing;
    int64_t asked = e ? e->missing_ms : 0;
    pthread_mutex_unlock(&r->mu);
    if (e && !missing) {
        *out = &e->s;
        return 0;
    }
    if (e && now - asked < FORMAT_REGISTRY_MISS_MS)
        return lerr_set(err, LERR_NOT_FOUND,
                        "%s is not in the schema registry (asked %lld ms ago); the "
                        "record was written with a schema this registry does not have",
                        what, (long long)(now - asked));
    struct entry *got = NULL;
    int rc = fetch(r, kind, path, what, id, &got, err);
    if (rc == LERR_NOT_FOUND) {
        pthread_mutex_lock(&r->mu);
        if (e) {
            e->missing_ms = now;
        } else if ((e = calloc(1, sizeof *e))) {
            e->kind = kind;
            e->s.id = id;
            e->version = version;
            e->subject = subject ? strdup(subject) : NULL;
            e->missing = true;
            e->missing_ms = now;
            if (subject && !e->subject) {
                free(e);
            } else {
                e->next = r->cache;
                r->cache = e;
            }
        }
        pthread_mutex_unlock(&r->mu);
        return rc;
    }
    if (rc)
        return rc;
    if (kind == K_VERSION && !(got->subject = strdup(subject))) {
        entry_free(got);
        return lerr_set(err, LERR_NOMEM, "out of memory reading %s", what);
    }
    got->version = version;
    pthread_mutex_lock(&r->mu);
    /* Another thread may have fetched it meanwhile: keep the first. A "missing"
     * entry stays in the list (its memory may be read by no one) and is shadowed. */
    struct entry *have = r->cache;
    while (have && (!same_key(have, kind, id, subject, version) || have->missing))
        have = have->next;
    if (have) {
        entry_free(got);
        got = have;
    } else {
        got->next = r->cache;
        r->cache = got;
    }
    pthread_mutex_unlock(&r->mu);
    *out = &got->s;
    return 0;
}

int format_registry_schema(struct format_registry *r, uint32_t id,
                           const struct format_registry_schema **out, struct lerr *err)
{
    return lookup(r, K_TEXT, id, NULL, 0, out, err);
}

int format_registry_serialized(struct format_registry *r, uint32_t id,
                               const struct format_registry_schema **out, struct lerr *err)
{
    return lookup(r, K_SERIAL, id, NULL, 0, out, err);
}

int format_registry_version(struct format_registry *r, const char *subject, int version,
                            const struct format_registry_schema **out, struct lerr *err)
{
    return lookup(r, K_VERSION, 0, subject, version, out, err);
}

/* ---- Protobuf: a schema and its references, compiled ------------------------------ */

/* Reading a schema's reference graph: the files found (each once, by the
 * import name a reference gives), depth first so that a file's imports come
 * before it, the schema's own file last. */
struct graph {
    struct format_registry *r;
    struct format_pb_file files[FORMAT_REGISTRY_MAX_FILES];
    char *own[FORMAT_REGISTRY_MAX_FILES]; /* decoded bytes */
    char *names[FORMAT_REGISTRY_MAX_FILES];
    char what[FORMAT_REGISTRY_MAX_FILES][160];
    size_t n;
    uint32_t root;
};

static int unbase64(const char *s, size_t len, char **out, size_t *n)
{
    static const char *const abc =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char *o = malloc(len / 4 * 3 + 4);
    if (!o)
        return -2;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0, i = 0;
    for (; i < len && s[i] != '='; i++) {
        const char *c = s[i] ? strchr(abc, s[i]) : NULL;
        if (!c) {
            free(o);
            return -1;
        }
        acc = acc << 6 | (uint32_t)(c - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    size_t pad = 0;
    for (; i < len && s[i] == '='; i++)
        pad++;
    if (i != len || bits >= 6 || pad > 2) {
        free(o);
        return -1;
    }
    *out = (char *)o;
    *n = k;
    return 0;
}

/* Adds a schema (its references first) to g; name: the import name a
 * reference gave it (NULL for the root). */
static int add_file(struct graph *g, const struct format_registry_schema *s, const char *name,
                    const char *what, int depth, struct lerr *err)
{
    if (strcmp(s->type, "PROTOBUF") != 0)
        return lerr_set(err, LERR_INVALID,
                        "%s is a%s %s schema in the registry, not a Protobuf one; use the "
                        "matching format",
                        what, s->type[0] == 'A' ? "n" : "", s->type);
    if (depth > FORMAT_REGISTRY_MAX_DEPTH)
        return lerr_set(err, LERR_INVALID,
                        "schema id %u: its references nest deeper than %d (a cycle?)", g->root,
                        FORMAT_REGISTRY_MAX_DEPTH);
    for (size_t i = 0; i < s->nrefs; i++) {
        const struct format_registry_ref *ref = &s->refs[i];
        bool seen = false;
        for (size_t k = 0; k < g->n && !seen; k++)
            seen = g->names[k] && strcmp(g->names[k], ref->name) == 0;
        if (seen)
            continue;
        const struct format_registry_schema *rs;
        struct lerr e;
        lerr_init(&e);
        int rc = format_registry_version(g->r, ref->subject, ref->version, &rs, &e);
        if (rc)
            return lerr_set(err, rc, "schema id %u: its reference '%s': %s", g->root, ref->name,
                            e.msg);
        char w[160];
        snprintf(w, sizeof w, "reference '%.60s' (subject '%.60s' version %d)", ref->name,
                 ref->subject, ref->version);
        if ((rc = add_file(g, rs, ref->name, w, depth + 1, err)))
            return rc;
    }
    if (name)
        for (size_t k = 0; k < g->n; k++)
            if (g->names[k] && strcmp(g->names[k], name) == 0)
                return 0; /* reached again through another reference */
    if (g->n == FORMAT_REGISTRY_MAX_FILES)
        return lerr_set(err, LERR_INVALID,
                        "schema id %u has more than %d files with its references", g->root,
                        FORMAT_REGISTRY_MAX_FILES);
    char *bytes;
    size_t n;
    int rc = unbase64(s->text, s->len, &bytes, &n);
    if (rc == -2)
        return lerr_set(err, LERR_NOMEM, "out of memory reading %s", what);
    if (rc)
        return lerr_set(err, LERR_INVALID,
                        "%s: the registry's serialized form is not base64; does it answer "
                        "?format=serialized (Confluent Schema Registry 6.2 or later)?",
                        what);
    size_t k = g->n++;
    g->own[k] = bytes;
    g->names[k] = name ? strdup(name) : NULL;
    snprintf(g->what[k], sizeof g->what[k], "%s", what);
    g->files[k] = (struct format_pb_file){.data = bytes, .len = n, .what = g->what[k]};
    if (name && !g->names[k])
        return lerr_set(err, LERR_NOMEM, "out of memory reading %s", what);
    return 0;
}

int format_registry_protobuf(struct format_registry *r, uint32_t id,
                             const struct format_pb_schema **out, struct lerr *err)
{
    pthread_mutex_lock(&r->mu);
    struct entry *e = r->cache;
    while (e && !same_key(e, K_PB, id, NULL, 0))
        e = e->next;
    pthread_mutex_unlock(&r->mu);
    if (e) {
        if (!e->pb)
            return lerr_set(err, LERR_INVALID, "%s", e->pb_error);
        *out = e->pb;
        return 0;
    }
    const struct format_registry_schema *s;
    int rc = format_registry_serialized(r, id, &s, err);
    if (rc)
        return rc;
    struct graph *g = calloc(1, sizeof *g);
    if (!g)
        return lerr_set(err, LERR_NOMEM, "out of memory reading schema id %u", id);
    g->r = r;
    g->root = id;
    char what[40];
    snprintf(what, sizeof what, "schema id %u", id);
    struct lerr e2;
    lerr_init(&e2);
    struct format_pb_schema *pb = NULL;
    rc = add_file(g, s, NULL, what, 0, &e2);
    if (!rc && !(pb = format_pb_schema_from_files(g->files, g->n, &e2)))
        rc = e2.code;
    for (size_t i = 0; i < g->n; i++) {
        free(g->own[i]);
        free(g->names[i]);
    }
    free(g);
    if (rc && rc != LERR_INVALID) /* not found, unreachable, no memory: asked again later */
        return lerr_set(err, rc, "%s", e2.msg);
    /* Compiled, or refused for good: a registered schema never changes. */
    struct entry *ne = calloc(1, sizeof *ne);
    char *msg = rc ? malloc(sizeof e2.msg + 32) : NULL;
    if (!ne || (rc && !msg)) {
        free(ne);
        free(msg);
        format_pb_schema_free(pb);
        return lerr_set(err, rc ? rc : LERR_NOMEM, "%s",
                        rc ? e2.msg : "out of memory keeping a compiled schema");
    }
    if (rc && strncmp(e2.msg, "schema id", 9) == 0)
        snprintf(msg, sizeof e2.msg + 32, "%s", e2.msg);
    else if (rc)
        snprintf(msg, sizeof e2.msg + 32, "schema id %u: %s", id, e2.msg);
    ne->kind = K_PB;
    ne->s.id = id;
    ne->s.type = "PROTOBUF";
    ne->pb = pb;
    ne->pb_error = msg;
    pthread_mutex_lock(&r->mu);
    struct entry *have = r->cache;
    while (have && !same_key(have, K_PB, id, NULL, 0))
        have = have->next;
    if (have) {
        entry_free(ne);
        ne = have;
    } else {
        ne->next = r->cache;
        r->cache = ne;
    }
    pthread_mutex_unlock(&r->mu);
    if (!ne->pb)
        return lerr_set(err, LERR_INVALID, "%s", ne->pb_error);
    *out = ne->pb;
    return 0;
}
