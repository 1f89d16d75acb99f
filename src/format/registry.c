/*
 * registry.c — the Confluent Schema Registry client of registry.h: GET
 * {url}/schemas/ids/{id} through libcurl, the answer read with jansson, the
 * schema kept in a cache of immutable entries (a linked list under one lock:
 * a job meets a handful of schema ids).
 *
 * Entry points: format_registry_new(), format_registry_free(),
 * format_registry_schema(), format_registry_frame().
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

struct entry {
    struct entry *next;
    struct format_registry_schema s;
    bool missing;       /* the registry said it has no such id */
    int64_t missing_ms; /* when it said so */
    char *type_own;
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

void format_registry_free(struct format_registry *r)
{
    if (!r)
        return;
    for (struct entry *e = r->cache, *next; e; e = next) {
        next = e->next;
        free((char *)e->s.text);
        free(e->type_own);
        free(e);
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

/* Asks the registry: 0 with a new entry, LERR_NOT_FOUND, LERR_UNAVAILABLE,
 * LERR_INVALID or LERR_NOMEM. */
static int fetch(struct format_registry *r, uint32_t id, struct entry **out, struct lerr *err)
{
    char reasons[400] = "";
    for (size_t i = 0; i < r->nurls; i++) {
        char url[2200], errbuf[CURL_ERROR_SIZE];
        snprintf(url, sizeof url, "%s/schemas/ids/%u", r->urls[i], id);
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
                            "schema id %u is not in the schema registry (%s answered 404); the "
                            "record was written with a schema this registry does not have",
                            id, r->urls[i]);
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
        if (!json_is_string(schema) || (type && !json_is_null(type) && !json_is_string(type))) {
            json_decref(doc);
            return lerr_set(err, LERR_INVALID,
                            "%s answered schema id %u with a document that has no \"schema\" "
                            "string; is it a schema registry?",
                            url, id);
        }
        struct entry *e = calloc(1, sizeof *e);
        char *text = e ? strndup(json_string_value(schema), json_string_length(schema)) : NULL;
        char *t = e ? strdup(json_is_string(type) ? json_string_value(type) : "AVRO") : NULL;
        if (!e || !text || !t) {
            free(e);
            free(text);
            free(t);
            json_decref(doc);
            return lerr_set(err, LERR_NOMEM, "out of memory reading schema id %u", id);
        }
        e->s.id = id;
        e->s.text = text;
        e->s.len = json_string_length(schema);
        e->s.type = e->type_own = t;
        json_decref(doc);
        *out = e;
        return 0;
    }
    return lerr_set(err, LERR_UNAVAILABLE,
                    "the schema registry is unreachable (schema id %u): %s; retrying", id,
                    reasons);
}

int format_registry_schema(struct format_registry *r, uint32_t id,
                           const struct format_registry_schema **out, struct lerr *err)
{
    int64_t now = util_now_ms();
    pthread_mutex_lock(&r->mu);
    struct entry *e = r->cache;
    while (e && e->s.id != id)
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
                        "schema id %u is not in the schema registry (asked %lld ms ago); the "
                        "record was written with a schema this registry does not have",
                        id, (long long)(now - asked));
    struct entry *got = NULL;
    int rc = fetch(r, id, &got, err);
    if (rc == LERR_NOT_FOUND) {
        pthread_mutex_lock(&r->mu);
        if (e) {
            e->missing_ms = now;
        } else if ((e = calloc(1, sizeof *e))) {
            e->s.id = id;
            e->missing = true;
            e->missing_ms = now;
            e->next = r->cache;
            r->cache = e;
        }
        pthread_mutex_unlock(&r->mu);
        return rc;
    }
    if (rc)
        return rc;
    pthread_mutex_lock(&r->mu);
    /* Another thread may have fetched it meanwhile: keep the first. A "missing"
     * entry stays in the list (its memory may be read by no one) and is shadowed. */
    struct entry *have = r->cache;
    while (have && (have->s.id != id || have->missing))
        have = have->next;
    if (have) {
        free((char *)got->s.text);
        free(got->type_own);
        free(got);
        got = have;
    } else {
        got->next = r->cache;
        r->cache = got;
    }
    pthread_mutex_unlock(&r->mu);
    *out = &got->s;
    return 0;
}
