/*
 * s3.c — the S3 client (s3.h): URLs, one signed request with retries, the
 * operations on top of it, and a minimal XML reader for the two documents
 * we read (ListObjectsV2 pages, error bodies) plus the two small ones of
 * multipart uploads.
 *
 * A request (struct req) is one HTTP exchange, attempted up to
 * max_attempts times: each attempt gets a fresh curl easy handle over the
 * client's shared connection cache (CURLSH), a body read from memory or a
 * range of a file (pread: an attempt can start over), and a response body
 * to memory (capped) or, for a successful GET, to the caller's file.
 *
 * The XML reader walks start/end tags, keeps the path of open element
 * names, decodes the five named entities, numeric references and CDATA,
 * and hands each element's own text to a callback at its end tag. Depth,
 * name length and text length are capped (far above what S3 sends), so
 * any input is read in linear time with fixed memory.
 */
#include "util/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "util/time.h"

#define DEF_THRESHOLD (64ull << 20)
#define DEF_PART (16ull << 20)
#define DEF_ATTEMPTS 6
#define DEF_BACKOFF_MS 200
#define MAX_BACKOFF_MS 10000
#define DEF_TIMEOUT_S 300
#define BODY_CAP (8u << 20) /* a response body read into memory (list pages are ~300 KB) */
#define MAX_PARTS 10000     /* S3's limit */

#define XML_DEPTH 16
#define XML_NAME 64
#define XML_TEXT 4096 /* S3 keys are at most 1024 bytes */

struct s3_client {
    char *endpoint; /* no trailing '/'; NULL: AWS */
    char *shown;    /* the endpoint named in messages */
    char *region, *userpwd, *sigv4, *token_hdr;
    char *owner; /* s3_config.owner, NULL: the server's settings */
    uint64_t threshold, part_size;
    int attempts, backoff_ms;
    long timeout_s;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static int nomem(struct lerr *err) { return lerr_set(err, LERR_NOMEM, "s3: out of memory"); }

/* ---- configuration -------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

void s3_config_from_env(struct s3_config *cfg)
{
    if (!cfg->access_key)
        cfg->access_key = env("AWS_ACCESS_KEY_ID");
    if (!cfg->secret_key)
        cfg->secret_key = env("AWS_SECRET_ACCESS_KEY");
    if (!cfg->session_token)
        cfg->session_token = env("AWS_SESSION_TOKEN");
    if (!cfg->region)
        cfg->region = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    if (!cfg->endpoint)
        cfg->endpoint = env("AWS_ENDPOINT_URL");
}

bool s3_bucket_name_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && (i == 0 || i == n - 1 || (ch != '-' && ch != '.')))
            return false;
    }
    return true;
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *ctx)
{
    (void)h;
    (void)a;
    pthread_mutex_lock(&((struct s3_client *)ctx)->locks[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *ctx)
{
    (void)h;
    pthread_mutex_unlock(&((struct s3_client *)ctx)->locks[d]);
}

int s3_client_new(const struct s3_config *cfg, struct s3_client **out, struct lerr *err)
{
    *out = NULL;
    if (!cfg->access_key || !cfg->access_key[0] || !cfg->secret_key || !cfg->secret_key[0])
        return lerr_set(err, LERR_INVALID,
                        "s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    if (strchr(cfg->access_key, ':'))
        return lerr_set(err, LERR_INVALID,
                        "s3: AWS_ACCESS_KEY_ID contains ':', which no access key id does");
    const char *ep = cfg->endpoint && cfg->endpoint[0] ? cfg->endpoint : NULL;
    if (ep && strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
        return lerr_set(err, LERR_INVALID,
                        "s3: endpoint '%s' is not an http:// or https:// URL (--s3-endpoint, "
                        "AWS_ENDPOINT_URL)",
                        ep);
    pthread_once(&curl_once, curl_init);
    struct s3_client *c = calloc(1, sizeof *c);
    if (!c)
        return nomem(err);
    const char *region = cfg->region && cfg->region[0] ? cfg->region : "us-east-1";
    bool ok = (c->region = strdup(region)) != NULL &&
              asprintf(&c->userpwd, "%s:%s", cfg->access_key, cfg->secret_key) >= 0 &&
              asprintf(&c->sigv4, "aws:amz:%s:s3", region) >= 0;
    if (ok && ep) {
        size_t n = strlen(ep);
        while (n > 0 && ep[n - 1] == '/')
            n--;
        ok = (c->endpoint = strndup(ep, n)) != NULL && (c->shown = strdup(c->endpoint)) != NULL;
    } else if (ok) {
        ok = asprintf(&c->shown, "https://s3.%s.amazonaws.com", region) >= 0;
    }
    if (ok && cfg->owner)
        ok = (c->owner = strdup(cfg->owner)) != NULL;
    if (ok && cfg->session_token && cfg->session_token[0])
        ok = asprintf(&c->token_hdr, "x-amz-security-token: %s", cfg->session_token) >= 0;
    if (!ok) {
        c->share = NULL;
        s3_client_free(c);
        return nomem(err);
    }
    c->threshold = cfg->multipart_threshold ? cfg->multipart_threshold : DEF_THRESHOLD;
    c->part_size = cfg->part_size ? cfg->part_size : DEF_PART;
    c->attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DEF_ATTEMPTS;
    c->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : DEF_BACKOFF_MS;
    c->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : DEF_TIMEOUT_S;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    c->share = curl_share_init();
    if (c->share) {
        curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    }
    *out = c;
    return 0;
}

void s3_client_free(struct s3_client *c)
{
    if (!c)
        return;
    if (c->share) {
        curl_share_cleanup(c->share);
        for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_destroy(&c->locks[i]);
    }
    free(c->endpoint);
    free(c->shown);
    free(c->region);
    free(c->userpwd);
    free(c->sigv4);
    free(c->token_hdr);
    free(c->owner);
    free(c);
}

const char *s3_client_endpoint(const struct s3_client *c) { return c->shown; }

/* ---- URLs ------------------------------------------------------------------- */

/* Percent-encodes s as SigV4 wants (unreserved bytes kept; '/' too when keep_slash). */
static bool encode(struct buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/'))
            buf_putc(b, (char)ch);
        else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            buf_append(b, e, 3);
        }
    }
    return !b->failed;
}

/* The URL of bucket/key (key "" = the bucket) with an encoded query (or NULL). */
static char *make_url(const struct s3_client *c, const char *bucket, const char *key,
                      const char *query)
{
    struct buf b;
    buf_init(&b, 16384);
    if (c->endpoint) {
        buf_printf(&b, "%s/", c->endpoint);
        encode(&b, bucket, false);
        if (key[0])
            buf_putc(&b, '/');
    } else {
        buf_puts(&b, "https://");
        encode(&b, bucket, false);
        buf_printf(&b, ".s3.%s.amazonaws.com/", c->region);
    }
    encode(&b, key, true);
    if (query && query[0])
        buf_printf(&b, "?%s", query);
    if (b.failed) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* ---- the XML reader --------------------------------------------------------- */

/* Called at each end tag: the open elements' names (path[depth-1] is the
 * one ending) and its own text. Non-zero stops the walk (err set). */
typedef int (*xml_end_fn)(void *ctx, int depth, char path[][XML_NAME], const char *text,
                          size_t len, struct lerr *err);

static int xml_err(struct lerr *err, size_t at, const char *what)
{
    return lerr_set(err, LERR_INVALID, "s3: bad XML response at byte %zu: %s", at, what);
}

static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

static bool name_char(char ch)
{
    return !is_space(ch) && ch != '<' && ch != '>' && ch != '/' && ch != '=' && ch != '"' &&
           ch != '\'' && ch != '&' && ch != '\0';
}

/* Finds `pat` in x[i, n); its offset or n. */
static size_t find(const char *x, size_t n, size_t i, const char *pat)
{
    size_t m = strlen(pat);
    for (; i + m <= n; i++)
        if (memcmp(x + i, pat, m) == 0)
            return i;
    return n;
}

static bool text_add(char *text, size_t *len, const char *p, size_t n)
{
    if (*len + n > XML_TEXT)
        return false;
    memcpy(text + *len, p, n);
    *len += n;
    return true;
}

/* Decodes the entity at x[i] ('&'); advances *i past it. */
static int entity(const char *x, size_t n, size_t *i, char *text, size_t *len, struct lerr *err)
{
    size_t at = *i, semi = at + 1;
    while (semi < n && semi - at <= 12 && x[semi] != ';')
        semi++;
    if (semi >= n || x[semi] != ';')
        return xml_err(err, at, "'&' that starts no entity (write &amp;)");
    const char *e = x + at + 1;
    size_t el = semi - at - 1;
    static const struct {
        const char *name;
        char ch;
    } named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (el == strlen(named[k].name) && memcmp(e, named[k].name, el) == 0) {
            if (!text_add(text, len, &named[k].ch, 1))
                return xml_err(err, at, "text longer than 4096 bytes");
            *i = semi + 1;
            return 0;
        }
    if (el < 2 || e[0] != '#')
        return xml_err(err, at, "unknown entity");
    bool hexa = e[1] == 'x';
    size_t k = hexa ? 2 : 1;
    if (k == el)
        return xml_err(err, at, "empty character reference");
    uint32_t cp = 0;
    for (; k < el; k++) {
        char ch = e[k];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : !hexa                  ? -1
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            return xml_err(err, at, "bad digit in a character reference");
        cp = cp * (hexa ? 16 : 10) + (uint32_t)d;
        if (cp > 0x10FFFF)
            return xml_err(err, at, "character reference past U+10FFFF");
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
        return xml_err(err, at, "character reference to U+0000 or a surrogate");
    char u[4];
    size_t ul;
    if (cp < 0x80) {
        u[0] = (char)cp;
        ul = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        ul = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        ul = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        ul = 4;
    }
    if (!text_add(text, len, u, ul))
        return xml_err(err, at, "text longer than 4096 bytes");
    *i = semi + 1;
    return 0;
}

static int xml_walk(const char *x, size_t n, xml_end_fn fn, void *ctx, struct lerr *err)
{
    char path[XML_DEPTH][XML_NAME];
    char text[XML_TEXT + 1];
    size_t tlen = 0, i = 0;
    int depth = 0;
    bool root_done = false;
    while (i < n) {
        if (x[i] != '<') {
            if (x[i] == '\0')
                return xml_err(err, i, "NUL byte");
            if (depth == 0) {
                if (!is_space(x[i]))
                    return xml_err(err, i, "text outside the root element");
                i++;
            } else if (x[i] == '&') {
                if (entity(x, n, &i, text, &tlen, err))
                    return err->code;
            } else {
                if (!text_add(text, &tlen, x + i, 1))
                    return xml_err(err, i, "text longer than 4096 bytes");
                i++;
            }
            continue;
        }
        size_t at = i;
        if (n - i >= 2 && x[i + 1] == '?') {
            size_t e = find(x, n, i + 2, "?>");
            if (e == n)
                return xml_err(err, at, "unterminated <?");
            i = e + 2;
        } else if (n - i >= 4 && memcmp(x + i, "<!--", 4) == 0) {
            size_t e = find(x, n, i + 4, "-->");
            if (e == n)
                return xml_err(err, at, "unterminated comment");
            i = e + 3;
        } else if (n - i >= 9 && memcmp(x + i, "<![CDATA[", 9) == 0) {
            size_t e = find(x, n, i + 9, "]]>");
            if (e == n)
                return xml_err(err, at, "unterminated CDATA section");
            if (depth == 0)
                return xml_err(err, at, "CDATA outside the root element");
            if (memchr(x + i + 9, '\0', e - i - 9))
                return xml_err(err, at, "NUL byte");
            if (!text_add(text, &tlen, x + i + 9, e - i - 9))
                return xml_err(err, at, "text longer than 4096 bytes");
            i = e + 3;
        } else if (n - i >= 2 && x[i + 1] == '!') {
            if (depth > 0 || root_done)
                return xml_err(err, at, "declaration inside the document");
            size_t e = find(x, n, i + 2, ">");
            if (e == n)
                return xml_err(err, at, "unterminated declaration");
            i = e + 1;
        } else if (n - i >= 2 && x[i + 1] == '/') {
            size_t s = i + 2, e = s;
            while (e < n && name_char(x[e]))
                e++;
            size_t k = e;
            while (k < n && is_space(x[k]))
                k++;
            if (k >= n || x[k] != '>')
                return xml_err(err, at, "malformed end tag");
            if (depth == 0 || e - s != strlen(path[depth - 1]) ||
                memcmp(x + s, path[depth - 1], e - s) != 0)
                return xml_err(err, at, "end tag does not match the open element");
            text[tlen] = '\0';
            int frc = fn(ctx, depth, path, text, tlen, err);
            if (frc)
                return frc; /* an error (err set) or the caller's stop */
            depth--;
            tlen = 0;
            if (depth == 0)
                root_done = true;
            i = k + 1;
        } else {
            size_t s = i + 1, e = s;
            while (e < n && name_char(x[e]))
                e++;
            if (e == s)
                return xml_err(err, at, "malformed start tag");
            if (e - s >= XML_NAME)
                return xml_err(err, at, "element name longer than 63 bytes");
            if (root_done)
                return xml_err(err, at, "a second root element");
            if (depth == XML_DEPTH)
                return xml_err(err, at, "elements nested deeper than 16");
            /* attributes: skipped, quotes respected */
            size_t k = e;
            char q = 0;
            while (k < n && (q || x[k] != '>')) {
                if (q && x[k] == q)
                    q = 0;
                else if (!q && (x[k] == '"' || x[k] == '\''))
                    q = x[k];
                else if (!q && x[k] == '<')
                    return xml_err(err, k, "'<' inside a tag");
                k++;
            }
            if (k >= n)
                return xml_err(err, at, "unterminated start tag");
            memcpy(path[depth], x + s, e - s);
            path[depth][e - s] = '\0';
            depth++;
            tlen = 0;
            if (x[k - 1] == '/' && k - 1 >= e) { /* <name/> */
                text[0] = '\0';
                int frc = fn(ctx, depth, path, text, 0, err);
                if (frc)
                    return frc;
                depth--;
                if (depth == 0)
                    root_done = true;
            }
            i = k + 1;
        }
    }
    if (depth > 0)
        return xml_err(err, n, "document ends inside an element");
    if (!root_done)
        return xml_err(err, n, "no root element");
    return 0;
}

/* ---- ListObjectsV2 pages ----------------------------------------------------- */

struct list_parse {
    s3_list_fn fn;
    void *ctx;
    bool *truncated;
    char *token;
    size_t cap;
    char key[XML_TEXT + 1];
    bool has_key;
    uint64_t size;
    int64_t modified_ms;
};

static int list_end(void *ctx, int depth, char path[][XML_NAME], const char *text, size_t len,
                    struct lerr *err)
{
    struct list_parse *p = ctx;
    if (strcmp(path[0], "ListBucketResult") != 0)
        return lerr_set(err, LERR_INVALID,
                        "s3: the listing's root element is <%s>, not <ListBucketResult>", path[0]);
    if (depth == 2) {
        const char *name = path[1];
        if (strcmp(name, "Contents") == 0) {
            if (!p->has_key)
                return lerr_set(err, LERR_INVALID, "s3: a <Contents> of the listing has no <Key>");
            p->has_key = false;
            int rc = p->fn(p->ctx, p->key, p->size, p->modified_ms);
            p->size = 0;
            p->modified_ms = -1;
            if (rc)
                return rc; /* the caller's stop */
        } else if (strcmp(name, "IsTruncated") == 0) {
            *p->truncated = strcmp(text, "true") == 0;
        } else if (strcmp(name, "NextContinuationToken") == 0) {
            if (len >= p->cap)
                return lerr_set(err, LERR_INVALID,
                                "s3: the listing's continuation token is longer than %zu bytes",
                                p->cap - 1);
            memcpy(p->token, text, len + 1);
        }
    } else if (depth == 3 && strcmp(path[1], "Contents") == 0) {
        if (strcmp(path[2], "Key") == 0) {
            if (len == 0 || memchr(text, '\0', len))
                return lerr_set(err, LERR_INVALID, "s3: a <Key> of the listing is empty");
            memcpy(p->key, text, len + 1);
            p->has_key = true;
        } else if (strcmp(path[2], "Size") == 0) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(text, &end, 10);
            if (len == 0 || *end || errno || text[0] == '-')
                return lerr_set(err, LERR_INVALID, "s3: a <Size> of the listing is '%.40s'", text);
            p->size = v;
        } else if (strcmp(path[2], "LastModified") == 0) {
            if (!time_parse_iso(text, len, NULL, &p->modified_ms))
                return lerr_set(err, LERR_INVALID,
                                "s3: a <LastModified> of the listing is '%.40s', not an ISO-8601 "
                                "time",
                                text);
        }
    }
    return 0;
}

int s3_list_parse(const char *xml, size_t n, s3_list_fn fn, void *ctx, bool *truncated,
                  char *token, size_t cap, struct lerr *err)
{
    struct list_parse p = {.fn = fn,
                           .ctx = ctx,
                           .truncated = truncated,
                           .token = token,
                           .cap = cap,
                           .modified_ms = -1};
    *truncated = false;
    if (cap)
        token[0] = '\0';
    return xml_walk(xml, n, list_end, &p, err);
}

/* ---- error and small documents --------------------------------------------- */

struct fields {
    const char *names[3]; /* element names at depth 2 (root's children) */
    char *vals[3];
    size_t cap;
    char root[XML_NAME];
};

static int fields_end(void *ctx, int depth, char path[][XML_NAME], const char *text, size_t len,
                      struct lerr *err)
{
    (void)err;
    struct fields *f = ctx;
    snprintf(f->root, sizeof f->root, "%s", path[0]);
    for (int k = 0; depth == 2 && k < 3 && f->names[k]; k++)
        if (strcmp(path[1], f->names[k]) == 0)
            snprintf(f->vals[k], f->cap, "%.*s", (int)len, text);
    return 0;
}

/* The root's children named; false when the body is not XML. */
static bool xml_fields(const char *x, size_t n, struct fields *f)
{
    for (int k = 0; k < 3 && f->names[k]; k++)
        f->vals[k][0] = '\0';
    f->root[0] = '\0';
    struct lerr e;
    lerr_init(&e);
    return xml_walk(x, n, fields_end, f, &e) == 0;
}

/* <Code> and <Message> of an error body the XML reader refused (some
 * S3-compatible stores escape with HTML entities): the raw text between the
 * tags, for the message only. */
static void raw_fields(const char *body, char *code, char *msg, size_t cap)
{
    const char *tags[2][2] = {{"<Code>", "</Code>"}, {"<Message>", "</Message>"}};
    char *outs[2] = {code, msg};
    for (int k = 0; k < 2; k++) {
        const char *b = strstr(body, tags[k][0]);
        const char *e = b ? strstr(b, tags[k][1]) : NULL;
        if (b && e)
            b += strlen(tags[k][0]);
        snprintf(outs[k], cap, "%.*s", b && e ? (int)(e - b) : 0, b && e ? b : "");
    }
}

/* ---- one request ----------------------------------------------------------- */

struct req {
    const char *op; /* for messages: "PUT", "GET", "ListObjectsV2", ... */
    const char *method;
    const char *bucket, *key, *query;
    const char *shown_key; /* named in messages instead of key (a listing's prefix) */
    const char *mem;       /* a body from memory (POST), or */
    size_t mem_len;
    int in_fd; /* a body from a file range (PUT), -1: none */
    uint64_t in_off, in_len;
    int out_fd;         /* a successful GET's body, -1: to memory */
    const char *sha256; /* x-amz-meta-sha256 to send, or NULL */
};

struct resp {
    long status;
    struct buf body;
    char etag[256];
    struct s3_object_info info;
    /* per attempt */
    const struct req *rq;
    CURL *h;
    uint64_t sent;
    int werr; /* errno of a failed local write */
};

static size_t on_read(char *p, size_t size, size_t nitems, void *ctx)
{
    struct resp *r = ctx;
    const struct req *q = r->rq;
    uint64_t left = q->in_len - r->sent;
    size_t want = size * nitems < left ? size * nitems : (size_t)left;
    if (want == 0)
        return 0;
    ssize_t got = pread(q->in_fd, p, want, (off_t)(q->in_off + r->sent));
    if (got <= 0) {
        r->werr = got < 0 ? errno : EIO;
        return CURL_READFUNC_ABORT;
    }
    r->sent += (uint64_t)got;
    return (size_t)got;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ctx)
{
    struct resp *r = ctx;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    if (r->rq->out_fd >= 0 && status >= 200 && status < 300) {
        for (size_t off = 0; off < n;) {
            ssize_t w = write(r->rq->out_fd, p + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                r->werr = w < 0 ? errno : EIO;
                return 0;
            }
            off += (size_t)w;
        }
        return n;
    }
    if (!buf_append(&r->body, p, n))
        return 0;
    return n;
}

static void header_value(const char *p, size_t n, size_t name_len, char *out, size_t cap)
{
    const char *v = p + name_len;
    const char *e = p + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    snprintf(out, cap, "%.*s", (int)(e - v), v);
}

static size_t on_header(char *p, size_t size, size_t nitems, void *ctx)
{
    struct resp *r = ctx;
    size_t n = size * nitems;
    if (n >= 5 && strncasecmp(p, "etag:", 5) == 0)
        header_value(p, n, 5, r->etag, sizeof r->etag);
    else if (n >= 18 && strncasecmp(p, "x-amz-meta-sha256:", 18) == 0)
        header_value(p, n, 18, r->info.sha256, sizeof r->info.sha256);
    else if (n >= 15 && strncasecmp(p, "content-length:", 15) == 0) {
        char v[32];
        header_value(p, n, 15, v, sizeof v);
        r->info.size = strtoull(v, NULL, 10);
    }
    return n;
}

/* One attempt; the curl code (the HTTP status in r->status). */
static CURLcode attempt(struct s3_client *c, const struct req *q, const char *url, struct resp *r)
{
    CURL *h = curl_easy_init();
    if (!h)
        return CURLE_OUT_OF_MEMORY;
    r->h = h;
    r->rq = q;
    r->sent = 0;
    r->werr = 0;
    r->status = 0;
    r->etag[0] = '\0';
    r->info = (struct s3_object_info){0};
    buf_reset(&r->body);
    char sha_hdr[128];
    if (q->in_fd >= 0) {
        snprintf(sha_hdr, sizeof sha_hdr, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    } else {
        char hex[65];
        util_sha256_hex(q->mem ? q->mem : "", q->mem ? q->mem_len : 0, hex);
        snprintf(sha_hdr, sizeof sha_hdr, "x-amz-content-sha256: %s", hex);
    }
    struct curl_slist *hdrs = NULL, *t;
    char meta[128];
    /* no "Expect:" to turn 100-continue off: libcurl would sign the emptied header, and
     * a store that checks signatures would not see it */
    bool ok = (t = curl_slist_append(hdrs, sha_hdr)) != NULL && (hdrs = t);
    if (ok && c->token_hdr)
        ok = (t = curl_slist_append(hdrs, c->token_hdr)) != NULL && (hdrs = t);
    if (ok && q->sha256) {
        snprintf(meta, sizeof meta, "x-amz-meta-sha256: %s", q->sha256);
        ok = (t = curl_slist_append(hdrs, meta)) != NULL && (hdrs = t);
    }
    if (ok && q->mem)
        ok = (t = curl_slist_append(hdrs, "Content-Type: application/xml")) != NULL && (hdrs = t);
    if (!ok) {
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        return CURLE_OUT_OF_MEMORY;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (c->share)
        curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (strcmp(q->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(q->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->in_len);
    } else if (strcmp(q->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->mem ? q->mem : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(q->mem ? q->mem_len : 0));
    } else if (strcmp(q->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    r->h = NULL;
    return rc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* What the user should check for an S3 error code / HTTP status. */
static const char *hint(const struct s3_client *c, const char *code, long status, char *buf,
                        size_t cap)
{
    if (c->owner) { /* a connection's own bucket, endpoint and secrets */
        const char *what = NULL;
        if (strcmp(code, "NoSuchBucket") == 0)
            what = "the bucket does not exist at this endpoint: create it, or fix the bucket "
                   "or the endpoint of";
        else if (strcmp(code, "InvalidAccessKeyId") == 0 ||
                 strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "AccessDenied") == 0 ||
                 status == 401 || status == 403)
            what = "the credentials were refused: check the secrets (accessKeyId, "
                   "secretAccessKey; without them the server's AWS_ACCESS_KEY_ID and "
                   "AWS_SECRET_ACCESS_KEY), and that the key may read the bucket, of";
        else if (strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
                 strcmp(code, "PermanentRedirect") == 0 || status == 301)
            what = "the region must be the bucket's: check the region of";
        if (what) {
            snprintf(buf, cap, "%s %s", what, c->owner);
            return buf;
        }
    }
    if (strcmp(code, "NoSuchBucket") == 0)
        return "the bucket does not exist at this endpoint: create it, or fix the bucket name "
               "(--segments s3://BUCKET/PREFIX) or the endpoint (--s3-endpoint, AWS_ENDPOINT_URL)";
    if (strcmp(code, "InvalidAccessKeyId") == 0 || strcmp(code, "SignatureDoesNotMatch") == 0 ||
        strcmp(code, "AccessDenied") == 0 || strcmp(code, "ExpiredToken") == 0 ||
        strcmp(code, "InvalidToken") == 0 || strcmp(code, "TokenRefreshRequired") == 0 ||
        status == 401 || status == 403)
        return "check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and "
               "AWS_SESSION_TOKEN), and that the key may use this bucket";
    if (strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
        strcmp(code, "PermanentRedirect") == 0 || status == 301)
        return "check AWS_REGION: it must be the bucket's region";
    if (status >= 500 || status == 429)
        return "the store is failing or overloaded; the operation is retried later";
    return "check the endpoint (--s3-endpoint, AWS_ENDPOINT_URL) and the bucket";
}

/* s3_thread_deadline: when this thread's requests stop retrying (monotonic ns; 0 = never). */
static _Thread_local int64_t thread_deadline_ns;

void s3_thread_deadline(int64_t mono_ns) { thread_deadline_ns = mono_ns; }

static int request(struct s3_client *c, const struct req *q, struct resp *r, struct lerr *err)
{
    char *url = make_url(c, q->bucket, q->key, q->query);
    const char *key = q->shown_key ? q->shown_key : q->key;
    if (!url)
        return nomem(err);
    int delay = c->backoff_ms;
    int rc = 0;
    for (int n = 1;; n++) {
        if (q->out_fd >= 0 &&
            (ftruncate(q->out_fd, 0) != 0 || lseek(q->out_fd, 0, SEEK_SET) < 0)) {
            rc = lerr_set(err, LERR_IO, "s3: %s s3://%s/%s: cannot reset the local file: %s",
                          q->op, q->bucket, key, strerror(errno));
            break;
        }
        CURLcode cc = attempt(c, q, url, r);
        if (r->werr) {
            rc = lerr_set(err, LERR_IO, "s3: %s s3://%s/%s: local file: %s (check the disk)",
                          q->op, q->bucket, key, strerror(r->werr));
            break;
        }
        if (cc == CURLE_OUT_OF_MEMORY || (cc == CURLE_WRITE_ERROR && r->body.failed)) {
            rc = cc == CURLE_OUT_OF_MEMORY
                     ? nomem(err)
                     : lerr_set(err, LERR_IO,
                                "s3: %s s3://%s/%s: the response body is larger than %u bytes",
                                q->op, q->bucket, key, BODY_CAP);
            break;
        }
        bool retry = cc != CURLE_OK || r->status >= 500 || r->status == 429;
        if (!retry)
            break;
        char why[300];
        if (cc != CURLE_OK)
            snprintf(why, sizeof why, "cannot reach %s: %s", c->shown, curl_easy_strerror(cc));
        else
            snprintf(why, sizeof why, "HTTP %ld", r->status);
        bool late = thread_deadline_ns &&
                    util_mono_ns() + (int64_t)delay * 1000000 > thread_deadline_ns;
        if (n >= c->attempts || late) {
            if (cc != CURLE_OK) {
                /* the store is down or cut off, not the request wrong: a 503 where it shows */
                rc = lerr_set(err, LERR_UNAVAILABLE,
                              "s3: %s s3://%s/%s: %s, after %d attempt%s%s (check the endpoint: "
                              "--s3-endpoint or AWS_ENDPOINT_URL, and that the store is up)",
                              q->op, q->bucket, key, why, n, n == 1 ? "" : "s",
                              late && n < c->attempts ? ", when the caller's time ran out" : "");
                break;
            }
            /* a final 5xx: its code and message below */
            break;
        }
        int jitter = 0;
        unsigned char rb[2];
        if (util_random_bytes(rb, sizeof rb, &(struct lerr){0}) == 0)
            jitter = (int)((rb[0] << 8 | rb[1]) % (unsigned)(delay / 2 + 1));
        log_msg(LOG_WARN, "s3", "%s s3://%s/%s: %s; retrying in %d ms (attempt %d of %d)", q->op,
                q->bucket, key, why, delay + jitter, n + 1, c->attempts);
        sleep_ms(delay + jitter);
        delay = delay * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay * 2;
    }
    free(url);
    if (rc)
        return rc;
    if (r->status >= 200 && r->status < 300)
        return 0;
    char code[256], msg[256], hbuf[512];
    struct fields f = {{"Code", "Message", NULL}, {code, msg, NULL}, sizeof code, ""};
    if (!r->body.len || !xml_fields(r->body.data, r->body.len, &f))
        raw_fields(buf_cstr(&r->body), code, msg, sizeof code);
    if (!code[0]) {
        if (r->status == 404 && strcmp(q->method, "HEAD") == 0)
            snprintf(code, sizeof code, "NotFound");
        else
            snprintf(code, sizeof code, "HTTP%ld", r->status);
    }
    if (strcmp(code, "NoSuchKey") == 0 || (r->status == 404 && strcmp(code, "NotFound") == 0))
        return lerr_set(err, LERR_NOT_FOUND, "s3: %s s3://%s/%s: no such object", q->op, q->bucket,
                        key);
    return lerr_set(err, LERR_IO, "s3: %s s3://%s/%s at %s: HTTP %ld %s%s%s (%s)", q->op,
                    q->bucket, key, c->shown, r->status, code, msg[0] ? ": " : "", msg,
                    hint(c, code, r->status, hbuf, sizeof hbuf));
}

static void resp_init(struct resp *r)
{
    *r = (struct resp){0};
    buf_init(&r->body, BODY_CAP);
}

/* ---- operations ---------------------------------------------------------------- */

/* A bodiless request on one object (HEAD, or GET into out_fd); *info from its headers. */
static int object_request(struct s3_client *c, const char *method, const char *bucket,
                          const char *key, int out_fd, struct s3_object_info *info,
                          struct lerr *err)
{
    struct req q = {.op = method,
                    .method = method,
                    .bucket = bucket,
                    .key = key,
                    .in_fd = -1,
                    .out_fd = out_fd};
    struct resp r;
    resp_init(&r);
    int rc = request(c, &q, &r, err);
    if (rc == 0 && info)
        *info = r.info;
    buf_free(&r.body);
    return rc;
}

int s3_head(struct s3_client *c, const char *bucket, const char *key, struct s3_object_info *info,
            struct lerr *err)
{
    return object_request(c, "HEAD", bucket, key, -1, info, err);
}

int s3_get_file(struct s3_client *c, const char *bucket, const char *key, int fd,
                struct s3_object_info *info, struct lerr *err)
{
    return object_request(c, "GET", bucket, key, fd, info, err);
}

int s3_delete(struct s3_client *c, const char *bucket, const char *key, struct lerr *err)
{
    struct req q = {.op = "DELETE",
                    .method = "DELETE",
                    .bucket = bucket,
                    .key = key,
                    .in_fd = -1,
                    .out_fd = -1};
    struct resp r;
    resp_init(&r);
    int rc = request(c, &q, &r, err);
    buf_free(&r.body);
    if (rc == LERR_NOT_FOUND) { /* gone already: what DELETE wants */
        lerr_init(err);
        rc = 0;
    }
    return rc;
}

int s3_list(struct s3_client *c, const char *bucket, const char *prefix, s3_list_fn fn, void *ctx,
            struct lerr *err)
{
    char token[1024] = "";
    struct resp r;
    resp_init(&r);
    int rc = 0;
    for (;;) {
        /* the query in SigV4's canonical order (sorted by name) */
        struct buf qs;
        buf_init(&qs, 8192);
        if (token[0]) {
            buf_puts(&qs, "continuation-token=");
            encode(&qs, token, false);
            buf_putc(&qs, '&');
        }
        buf_puts(&qs, "list-type=2&prefix=");
        encode(&qs, prefix, false);
        if (qs.failed) {
            buf_free(&qs);
            rc = nomem(err);
            break;
        }
        struct req q = {.op = "ListObjectsV2",
                        .method = "GET",
                        .bucket = bucket,
                        .key = "",
                        .shown_key = prefix,
                        .query = buf_cstr(&qs),
                        .in_fd = -1,
                        .out_fd = -1};
        rc = request(c, &q, &r, err);
        buf_free(&qs);
        if (rc)
            break;
        bool more = false;
        struct lerr pe;
        lerr_init(&pe);
        rc = s3_list_parse(r.body.data ? r.body.data : "", r.body.len, fn, ctx, &more, token,
                           sizeof token, &pe);
        if (rc && pe.code) {
            rc = lerr_set(err, LERR_IO, "s3: ListObjectsV2 s3://%s/%s at %s: %s", bucket, prefix,
                          c->shown, pe.msg);
            break;
        }
        if (rc || !more)
            break;
        if (!token[0]) {
            rc = lerr_set(err, LERR_IO,
                          "s3: ListObjectsV2 s3://%s/%s at %s: a truncated page without "
                          "<NextContinuationToken>",
                          bucket, prefix, c->shown);
            break;
        }
    }
    buf_free(&r.body);
    return rc;
}

/* The XML-escaped form of s into b (for the multipart completion's ETags). */
static void xml_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        default: buf_putc(b, *s);
        }
    }
}

static int multipart(struct s3_client *c, const char *bucket, const char *key, int fd,
                     uint64_t size, const char *sha256, struct lerr *err)
{
    uint64_t part = c->part_size;
    if ((size + part - 1) / part > MAX_PARTS)
        part = (size + MAX_PARTS - 1) / MAX_PARTS;
    uint64_t nparts = (size + part - 1) / part;
    struct resp r;
    resp_init(&r);
    struct req q = {.op = "CreateMultipartUpload",
                    .method = "POST",
                    .bucket = bucket,
                    .key = key,
                    .query = "uploads=",
                    .mem = "",
                    .mem_len = 0,
                    .in_fd = -1,
                    .out_fd = -1,
                    .sha256 = sha256};
    int rc = request(c, &q, &r, err);
    char upload_id[1024];
    struct fields f = {{"UploadId", NULL, NULL}, {upload_id, NULL, NULL}, sizeof upload_id, ""};
    if (rc == 0 && (!xml_fields(r.body.data ? r.body.data : "", r.body.len, &f) ||
                    strcmp(f.root, "InitiateMultipartUploadResult") != 0 || !upload_id[0]))
        rc = lerr_set(err, LERR_IO,
                      "s3: CreateMultipartUpload s3://%s/%s at %s: the answer has no <UploadId>",
                      bucket, key, c->shown);
    if (rc) {
        buf_free(&r.body);
        return rc;
    }
    struct buf idq, done;
    buf_init(&idq, 4096);
    buf_init(&done, 0);
    encode(&idq, upload_id, false);
    buf_puts(&done, "<CompleteMultipartUpload>");
    for (uint64_t i = 0; rc == 0 && i < nparts; i++) {
        char query[4200];
        snprintf(query, sizeof query, "partNumber=%llu&uploadId=%s", (unsigned long long)(i + 1),
                 buf_cstr(&idq));
        uint64_t off = i * part, len = size - off < part ? size - off : part;
        struct req pq = {.op = "UploadPart",
                         .method = "PUT",
                         .bucket = bucket,
                         .key = key,
                         .query = query,
                         .in_fd = fd,
                         .in_off = off,
                         .in_len = len,
                         .out_fd = -1};
        rc = request(c, &pq, &r, err);
        if (rc == 0 && !r.etag[0])
            rc = lerr_set(err, LERR_IO, "s3: UploadPart %llu of s3://%s/%s at %s: no ETag",
                          (unsigned long long)(i + 1), bucket, key, c->shown);
        if (rc == 0) {
            buf_printf(&done, "<Part><PartNumber>%llu</PartNumber><ETag>",
                       (unsigned long long)(i + 1));
            xml_escape(&done, r.etag);
            buf_puts(&done, "</ETag></Part>");
        }
    }
    buf_puts(&done, "</CompleteMultipartUpload>");
    if (rc == 0 && done.failed)
        rc = nomem(err);
    char query[4200];
    snprintf(query, sizeof query, "uploadId=%s", buf_cstr(&idq));
    if (rc == 0) {
        struct req cq = {.op = "CompleteMultipartUpload",
                         .method = "POST",
                         .bucket = bucket,
                         .key = key,
                         .query = query,
                         .mem = buf_cstr(&done),
                         .mem_len = done.len,
                         .in_fd = -1,
                         .out_fd = -1};
        rc = request(c, &cq, &r, err);
        /* S3 may answer 200 and then an <Error> in the body */
        char code[256], msg[256];
        struct fields ef = {{"Code", "Message", NULL}, {code, msg, NULL}, sizeof code, ""};
        if (rc == 0 && r.body.len && xml_fields(r.body.data, r.body.len, &ef) &&
            strcmp(ef.root, "Error") == 0)
            rc = lerr_set(err, LERR_IO, "s3: CompleteMultipartUpload s3://%s/%s at %s: %s: %s",
                          bucket, key, c->shown, code, msg);
    }
    if (rc) {
        struct req aq = {.op = "AbortMultipartUpload",
                         .method = "DELETE",
                         .bucket = bucket,
                         .key = key,
                         .query = query,
                         .in_fd = -1,
                         .out_fd = -1};
        struct lerr ae;
        lerr_init(&ae);
        if (request(c, &aq, &r, &ae) != 0)
            log_msg(LOG_WARN, "s3", "%s (its parts stay until a lifecycle rule removes them)",
                    ae.msg);
    }
    buf_free(&idq);
    buf_free(&done);
    buf_free(&r.body);
    return rc;
}

int s3_put_file(struct s3_client *c, const char *bucket, const char *key, const char *path,
                const char *sha256, struct lerr *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return lerr_set(err, LERR_IO, "s3: PUT s3://%s/%s: cannot read %s: %s", bucket, key, path,
                        strerror(e));
    }
    uint64_t size = (uint64_t)st.st_size;
    int rc;
    if (size > c->threshold) {
        rc = multipart(c, bucket, key, fd, size, sha256, err);
    } else {
        struct req q = {.op = "PUT",
                        .method = "PUT",
                        .bucket = bucket,
                        .key = key,
                        .in_fd = fd,
                        .in_off = 0,
                        .in_len = size,
                        .out_fd = -1,
                        .sha256 = sha256};
        struct resp r;
        resp_init(&r);
        rc = request(c, &q, &r, err);
        buf_free(&r.body);
    }
    close(fd);
    return rc;
}
